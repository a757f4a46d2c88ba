/*
 * pg_sources.c — the PostgreSQL store's data-source operations (store.h):
 * the stored schema of each (tenant, data source) and the ids of the
 * memories about one. They run seldom (a schema import, an example), so
 * they are not among the statements every connection prepares (pg_ops.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg_int.h"

#define TS_IN(x) "(timestamptz 'epoch' + (" x ")::int8 * interval '1 microsecond')"
#define TS_OUT(c) "(extract(epoch from " c ") * 1000000)::int8"

/* sql with p (freed here): the result, or NULL with err set. */
static PGresult *run(struct mr_store_tx *tx, const char *sql, struct pg_params *p, const char *what,
                     struct mr_err *err)
{
    PGconn *pg = pg_tx_conn(tx)->pg;
    PGresult *res = PQexecParams(pg, sql, p->n, NULL, p->vals, p->lens, p->fmts, 0);
    pg_params_free(p);
    ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
        return res;
    pg_result_error(err, pg, res, what);
    PQclear(res);
    return NULL;
}

int pg_schema_get(struct mr_store_tx *tx, const char *tenant_id, int64_t data_source_id,
                  struct mr_source_schema *out, struct mr_err *err)
{
    struct pg_params p = {0};
    memset(out, 0, sizeof *out);
    pg_param_text(&p, tenant_id);
    pg_param_int(&p, data_source_id);
    PGresult *res = run(tx,
                        "SELECT dialect, schema_hash, schema_json, conversation_id, " TS_OUT(
                            "updated_at") " FROM memori_data_source_schemas "
                                          "WHERE tenant_id = $1 AND data_source_id = $2",
                        &p, "reading a data source's schema", err);
    if (!res)
        return err->code;
    int rc = 0;
    if (PQntuples(res) == 1) {
        out->tenant_id = mr_xstrdup(tenant_id);
        out->data_source_id = data_source_id;
        out->dialect = pg_val_dup(res, 0, 0);
        out->schema_hash = pg_val_dup(res, 0, 1);
        out->schema_json = pg_val_dup(res, 0, 2);
        snprintf(out->conversation_id, sizeof out->conversation_id, "%s", PQgetvalue(res, 0, 3));
        out->updated_at = pg_val_int(res, 0, 4);
    } else {
        rc = mr_err_set(err, MR_ENOTFOUND, "Data source %lld has no schema",
                        (long long)data_source_id);
    }
    PQclear(res);
    return rc;
}

int pg_schema_put(struct mr_store_tx *tx, const struct mr_source_schema *sc, struct mr_err *err)
{
    if (!pg_is_uuid(sc->conversation_id))
        return mr_err_set(err, MR_EINVAL, "conversation id is not a UUID");
    struct pg_params p = {0};
    pg_param_text(&p, sc->tenant_id);
    pg_param_int(&p, sc->data_source_id);
    pg_param_text(&p, sc->dialect);
    pg_param_text(&p, sc->schema_hash);
    pg_param_text(&p, sc->schema_json);
    pg_param_text(&p, sc->conversation_id);
    pg_param_int(&p, sc->updated_at);
    PGresult *res = run(tx,
                        "INSERT INTO memori_data_source_schemas(tenant_id, data_source_id, "
                        "dialect, schema_hash, schema_json, conversation_id, updated_at) "
                        "VALUES ($1, $2, $3, $4, $5, $6, " TS_IN(
                            "$7") ") "
                                  "ON CONFLICT (tenant_id, data_source_id) DO UPDATE SET "
                                  "dialect = excluded.dialect, schema_hash = excluded.schema_hash, "
                                  "schema_json = excluded.schema_json, "
                                  "conversation_id = excluded.conversation_id, "
                                  "updated_at = excluded.updated_at",
                        &p, "storing a data source's schema", err);
    if (!res)
        return err->code;
    PQclear(res);
    return 0;
}

int pg_schema_delete(struct mr_store_tx *tx, const char *tenant_id, int64_t data_source_id,
                     struct mr_err *err)
{
    struct pg_params p = {0};
    pg_param_text(&p, tenant_id);
    pg_param_int(&p, data_source_id);
    PGresult *res = run(tx,
                        "DELETE FROM memori_data_source_schemas "
                        "WHERE tenant_id = $1 AND data_source_id = $2",
                        &p, "removing a data source's schema", err);
    if (!res)
        return err->code;
    int rc = strtoll(PQcmdTuples(res), NULL, 10) == 0
                 ? mr_err_set(err, MR_ENOTFOUND, "Data source %lld has no schema",
                              (long long)data_source_id)
                 : 0;
    PQclear(res);
    return rc;
}

int pg_mem_ids_by_data_source(struct mr_store_tx *tx, const char *tenant_id, int64_t data_source_id,
                              int64_t **out, size_t *out_n, struct mr_err *err)
{
    struct pg_params p = {0};
    *out = NULL;
    *out_n = 0;
    pg_param_text(&p, tenant_id);
    pg_param_int(&p, data_source_id);
    PGresult *res = run(tx,
                        "SELECT id FROM memori_memories WHERE tenant_id = $1 "
                        "AND data_source_id = $2 ORDER BY id",
                        &p, "listing a data source's memories", err);
    if (!res)
        return err->code;
    int n = PQntuples(res);
    if (n > 0) {
        *out = mr_xmalloc((size_t)n * sizeof **out);
        for (int i = 0; i < n; i++)
            (*out)[i] = pg_val_int(res, i, 0);
    }
    *out_n = (size_t)n;
    PQclear(res);
    return 0;
}
