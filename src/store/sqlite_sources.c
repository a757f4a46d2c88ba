/*
 * sqlite_sources.c — the SQLite store's data-source operations (store.h):
 * the stored schema of each (tenant, data source) and the ids of the
 * memories about one. They run seldom (a schema import, an example), so
 * their statements are prepared per call rather than kept with the pooled
 * ones in sqlite_ops.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sqlite_int.h"

static int prepare(struct mr_store_tx *tx, const char *sql, sqlite3_stmt **out, const char *what,
                   struct mr_err *err)
{
    sqlite3 *db = sqlite_tx_conn(tx)->db;
    int rc = sqlite3_prepare_v2(db, sql, -1, out, NULL);
    return rc == SQLITE_OK ? 0 : sqlite_db_error(err, db, rc, what);
}

int sqlite_schema_get(struct mr_store_tx *tx, const char *tenant_id, int64_t data_source_id,
                      struct mr_source_schema *out, struct mr_err *err)
{
    static const char what[] = "reading a data source's schema";
    sqlite3_stmt *st = NULL;
    memset(out, 0, sizeof *out);
    int rc = prepare(tx,
                     "SELECT dialect, schema_hash, schema_json, conversation_id, updated_at "
                     "FROM data_source_schemas WHERE tenant_id = ?1 AND data_source_id = ?2",
                     &st, what, err);
    if (rc)
        return rc;
    sqlite_bind_text(st, 1, tenant_id);
    sqlite3_bind_int64(st, 2, data_source_id);
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW) {
        out->tenant_id = mr_xstrdup(tenant_id);
        out->data_source_id = data_source_id;
        out->dialect = sqlite_col_text(st, 0);
        out->schema_hash = sqlite_col_text(st, 1);
        out->schema_json = sqlite_col_text(st, 2);
        const unsigned char *c = sqlite3_column_text(st, 3);
        snprintf(out->conversation_id, sizeof out->conversation_id, "%s", c ? (const char *)c : "");
        out->updated_at = sqlite3_column_int64(st, 4);
        if (!out->dialect || !out->schema_hash || !out->schema_json) {
            mr_source_schema_clear(out);
            rc = mr_err_set(err, MR_EINTERNAL, "the stored schema of data source %lld is malformed",
                            (long long)data_source_id);
        }
    } else if (s == SQLITE_DONE) {
        rc = mr_err_set(err, MR_ENOTFOUND, "Data source %lld has no schema",
                        (long long)data_source_id);
    } else {
        rc = sqlite_db_error(err, sqlite_tx_conn(tx)->db, s, what);
    }
    sqlite3_finalize(st);
    return rc;
}

int sqlite_schema_put(struct mr_store_tx *tx, const struct mr_source_schema *sc, struct mr_err *err)
{
    static const char what[] = "storing a data source's schema";
    sqlite3_stmt *st = NULL;
    int rc = prepare(tx,
                     "INSERT INTO data_source_schemas(tenant_id, data_source_id, dialect, "
                     "schema_hash, schema_json, conversation_id, updated_at) "
                     "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) "
                     "ON CONFLICT(tenant_id, data_source_id) DO UPDATE SET "
                     "dialect = excluded.dialect, schema_hash = excluded.schema_hash, "
                     "schema_json = excluded.schema_json, "
                     "conversation_id = excluded.conversation_id, updated_at = excluded.updated_at",
                     &st, what, err);
    if (rc)
        return rc;
    sqlite_bind_text(st, 1, sc->tenant_id);
    sqlite3_bind_int64(st, 2, sc->data_source_id);
    sqlite_bind_text(st, 3, sc->dialect);
    sqlite_bind_text(st, 4, sc->schema_hash);
    sqlite_bind_text(st, 5, sc->schema_json);
    sqlite_bind_text(st, 6, sc->conversation_id);
    sqlite3_bind_int64(st, 7, sc->updated_at);
    int s = sqlite3_step(st);
    if (s != SQLITE_DONE)
        rc = sqlite_db_error(err, sqlite_tx_conn(tx)->db, s, what);
    sqlite3_finalize(st);
    return rc;
}

int sqlite_schema_delete(struct mr_store_tx *tx, const char *tenant_id, int64_t data_source_id,
                         struct mr_err *err)
{
    static const char what[] = "removing a data source's schema";
    sqlite3_stmt *st = NULL;
    int rc =
        prepare(tx, "DELETE FROM data_source_schemas WHERE tenant_id = ?1 AND data_source_id = ?2",
                &st, what, err);
    if (rc)
        return rc;
    sqlite_bind_text(st, 1, tenant_id);
    sqlite3_bind_int64(st, 2, data_source_id);
    int s = sqlite3_step(st);
    if (s != SQLITE_DONE)
        rc = sqlite_db_error(err, sqlite_tx_conn(tx)->db, s, what);
    else if (sqlite3_changes(sqlite_tx_conn(tx)->db) == 0)
        rc = mr_err_set(err, MR_ENOTFOUND, "Data source %lld has no schema",
                        (long long)data_source_id);
    sqlite3_finalize(st);
    return rc;
}

int sqlite_mem_ids_by_data_source(struct mr_store_tx *tx, const char *tenant_id,
                                  int64_t data_source_id, int64_t **out, size_t *out_n,
                                  struct mr_err *err)
{
    static const char what[] = "listing a data source's memories";
    sqlite3_stmt *st = NULL;
    *out = NULL;
    *out_n = 0;
    int rc = prepare(tx,
                     "SELECT id FROM memories WHERE tenant_id = ?1 AND data_source_id = ?2 "
                     "ORDER BY id",
                     &st, what, err);
    if (rc)
        return rc;
    sqlite_bind_text(st, 1, tenant_id);
    sqlite3_bind_int64(st, 2, data_source_id);
    size_t cap = 0;
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        if (*out_n == cap) {
            cap = cap ? cap * 2 : 64;
            *out = mr_xrealloc(*out, cap * sizeof **out);
        }
        (*out)[(*out_n)++] = sqlite3_column_int64(st, 0);
    }
    if (s != SQLITE_DONE) {
        rc = sqlite_db_error(err, sqlite_tx_conn(tx)->db, s, what);
        free(*out);
        *out = NULL;
        *out_n = 0;
    }
    sqlite3_finalize(st);
    return rc;
}
