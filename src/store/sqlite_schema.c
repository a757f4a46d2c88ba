/*
 * sqlite_schema.c — the SQLite store's schema: its migrations (run by the
 * shared runner, migrate.c, versioned through PRAGMA user_version), the
 * embedding model recorded in `meta`, and the health probe (see sqlite_int.h).
 */
#include <stdio.h>
#include <stdlib.h>

#include "sqlite_int.h"

/* Schema migrations, applied in order; user_version counts those applied. */
static const struct store_migration migrations[] = {
    {"CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
     "CREATE TABLE conversations ("
     "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
     "  conversation_id TEXT NOT NULL UNIQUE,"
     "  user_id TEXT NOT NULL,"
     "  tenant_id TEXT NOT NULL,"
     "  data_source_id INTEGER,"
     "  title TEXT,"
     "  metadata TEXT NOT NULL DEFAULT '{}',"
     "  is_active INTEGER NOT NULL DEFAULT 1,"
     "  last_activity_at INTEGER NOT NULL,"
     "  created_at INTEGER NOT NULL,"
     "  updated_at INTEGER NOT NULL);"
     "CREATE INDEX conversations_owner ON conversations(tenant_id, user_id, last_activity_at);"
     "CREATE TABLE memories ("
     "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
     "  memory_id TEXT NOT NULL UNIQUE,"
     "  conversation_id TEXT NOT NULL"
     "    REFERENCES conversations(conversation_id) ON DELETE CASCADE,"
     "  user_id TEXT NOT NULL,"
     "  tenant_id TEXT NOT NULL,"
     "  content TEXT NOT NULL,"
     "  memory_type TEXT NOT NULL CHECK (memory_type IN"
     "    ('short_term','long_term','rule','entity','relationship')),"
     "  embedding BLOB NOT NULL,"
     "  importance_score REAL NOT NULL CHECK (importance_score BETWEEN 0 AND 1),"
     "  access_count INTEGER NOT NULL DEFAULT 0,"
     "  last_accessed_at INTEGER,"
     "  context_tags BLOB NOT NULL,"
     "  related_entities BLOB NOT NULL,"
     "  metadata TEXT NOT NULL DEFAULT '{}',"
     "  expires_at INTEGER,"
     "  is_archived INTEGER NOT NULL DEFAULT 0,"
     "  created_at INTEGER NOT NULL,"
     "  updated_at INTEGER NOT NULL);"
     "CREATE INDEX memories_conversation ON memories(conversation_id, created_at);"
     "CREATE INDEX memories_owner ON memories(tenant_id, user_id, memory_type);",
     "creating the tables", NULL},
    {"ALTER TABLE memories ADD COLUMN is_shared INTEGER NOT NULL DEFAULT 0;",
     "adding memories an owner shares with the tenant (TENANT_ISOLATION_LEVEL=relaxed)", NULL},
    /*
     * SQLite cannot change a CHECK in place: the table is rebuilt (its
     * documented way, "making other kinds of table schema changes"). Nothing
     * references memories, so dropping the old table cascades nowhere.
     */
    {"CREATE TABLE memories_v3 ("
     "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
     "  memory_id TEXT NOT NULL UNIQUE,"
     "  conversation_id TEXT NOT NULL"
     "    REFERENCES conversations(conversation_id) ON DELETE CASCADE,"
     "  user_id TEXT NOT NULL,"
     "  tenant_id TEXT NOT NULL,"
     "  content TEXT NOT NULL,"
     "  memory_type TEXT NOT NULL CHECK (memory_type IN"
     "    ('short_term','long_term','rule','entity','relationship','example')),"
     "  embedding BLOB NOT NULL,"
     "  importance_score REAL NOT NULL CHECK (importance_score BETWEEN 0 AND 1),"
     "  access_count INTEGER NOT NULL DEFAULT 0,"
     "  last_accessed_at INTEGER,"
     "  context_tags BLOB NOT NULL,"
     "  related_entities BLOB NOT NULL,"
     "  metadata TEXT NOT NULL DEFAULT '{}',"
     "  expires_at INTEGER,"
     "  is_archived INTEGER NOT NULL DEFAULT 0,"
     "  created_at INTEGER NOT NULL,"
     "  updated_at INTEGER NOT NULL,"
     "  is_shared INTEGER NOT NULL DEFAULT 0,"
     "  data_source_id INTEGER);"
     "INSERT INTO memories_v3 (id, memory_id, conversation_id, user_id, tenant_id, content,"
     "  memory_type, embedding, importance_score, access_count, last_accessed_at, context_tags,"
     "  related_entities, metadata, expires_at, is_archived, created_at, updated_at, is_shared)"
     "  SELECT id, memory_id, conversation_id, user_id, tenant_id, content, memory_type,"
     "  embedding, importance_score, access_count, last_accessed_at, context_tags,"
     "  related_entities, metadata, expires_at, is_archived, created_at, updated_at, is_shared"
     "  FROM memories;"
     /* Row ids are never reused: the new table continues the old one's sequence. */
     "DELETE FROM sqlite_sequence WHERE name = 'memories_v3';"
     "INSERT INTO sqlite_sequence(name, seq)"
     "  SELECT 'memories_v3', seq FROM sqlite_sequence WHERE name = 'memories';"
     "DROP TABLE memories;"
     "ALTER TABLE memories_v3 RENAME TO memories;"
     "CREATE INDEX memories_conversation ON memories(conversation_id, created_at);"
     "CREATE INDEX memories_owner ON memories(tenant_id, user_id, memory_type);"
     "CREATE INDEX memories_data_source ON memories(tenant_id, data_source_id)"
     "  WHERE data_source_id IS NOT NULL;"
     /* A data source's schema as last imported: tenant knowledge, one row per source. */
     "CREATE TABLE data_source_schemas ("
     "  tenant_id TEXT NOT NULL,"
     "  data_source_id INTEGER NOT NULL,"
     "  dialect TEXT NOT NULL,"
     "  schema_hash TEXT NOT NULL,"
     "  schema_json TEXT NOT NULL,"
     "  conversation_id TEXT NOT NULL,"
     "  updated_at INTEGER NOT NULL,"
     "  PRIMARY KEY (tenant_id, data_source_id));",
     "adding data sources: memories' data_source_id, the type example, stored schemas", NULL},
    /*
     * Example ingestion looks up a source's join memories and a user's
     * examples by (tenant, source, type, user): without this, SQLite takes
     * memories_owner and reads every join of the tenant's other sources too.
     * The tenant's join memories also by join_key (sqlite_mem_find_joins
     * names the index), so a key costs the same against any schema size.
     */
    {"CREATE INDEX IF NOT EXISTS memories_data_source_type"
     "  ON memories(tenant_id, data_source_id, memory_type, user_id)"
     "  WHERE data_source_id IS NOT NULL;"
     "CREATE INDEX IF NOT EXISTS memories_join_key"
     "  ON memories(tenant_id, data_source_id, json_extract(metadata, '$.join_key'))"
     "  WHERE data_source_id IS NOT NULL AND memory_type = 'relationship' AND user_id = '';",
     "indexing a data source's memories by type and owner, its joins by key", NULL},
    /*
     * Memory hygiene (issue 20, docs/hygiene.md): each memory's dedup key,
     * unique among a user's live memories (the index, not the code, keeps
     * two racing creates of one fact from both storing it), and every
     * change's event, kept after the memory is deleted (no foreign key).
     * The table and indexes are created if absent: a database set back to
     * an older version (whose memories table is rebuilt) re-runs this.
     */
    {"ALTER TABLE memories ADD COLUMN dedup_key TEXT;"
     "CREATE UNIQUE INDEX IF NOT EXISTS memories_dedup ON memories(tenant_id, user_id, dedup_key)"
     "  WHERE dedup_key IS NOT NULL AND is_archived = 0;"
     "CREATE TABLE IF NOT EXISTS memory_history ("
     "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
     "  memory_id TEXT NOT NULL,"
     "  user_id TEXT NOT NULL,"
     "  tenant_id TEXT NOT NULL,"
     "  actor TEXT NOT NULL,"
     "  kind TEXT NOT NULL,"
     "  changes TEXT NOT NULL DEFAULT '{}',"
     "  created_at INTEGER NOT NULL);"
     "CREATE INDEX IF NOT EXISTS memory_history_memory ON memory_history(memory_id, id);",
     "adding memory hygiene: dedup keys and the history of every change", NULL},
};
#define N_MIGRATIONS ((int)(sizeof migrations / sizeof migrations[0]))

/* The runner's steps on one sqlite3 handle. */
static int exec(sqlite3 *db, const char *sql, const char *what, struct mr_err *err)
{
    int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : sqlite_db_error(err, db, rc, what);
}

/* BEGIN IMMEDIATE: the write lock from the start, so no other migration runs beside this one. */
static int mg_begin(void *db, struct mr_err *err)
{
    return exec(db, "BEGIN IMMEDIATE", "migrating the schema", err);
}

static int mg_read_version(void *db, int *out, struct mr_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        *out = sqlite3_column_int(st, 0);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_OK ? 0 : sqlite_db_error(err, db, rc, "reading the schema version");
}

static int mg_apply(void *db, const struct store_migration *m, struct mr_err *err)
{
    char what[160];
    snprintf(what, sizeof what, "migrating the schema (%s)", m->what);
    return exec(db, m->sql, what, err);
}

static int mg_write_version(void *db, int version, struct mr_err *err)
{
    char pragma[64];
    snprintf(pragma, sizeof pragma, "PRAGMA user_version=%d", version);
    return exec(db, pragma, "migrating the schema", err);
}

static int mg_commit(void *db, struct mr_err *err)
{
    return exec(db, "COMMIT", "migrating the schema", err);
}

static void mg_rollback(void *db)
{
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
}

static const struct store_migrator migrator = {mg_begin,         mg_read_version, mg_apply,
                                               mg_write_version, mg_commit,       mg_rollback};

int sqlite_migrate(struct sqlite_store *s, sqlite3 *db, struct mr_err *err)
{
    int rc = store_migrate(&migrator, db, s->path, migrations, N_MIGRATIONS, err);
    /* A database error here means the file is unusable now, not that it conflicts. */
    return rc == MR_ECONFLICT ? rc : rc ? MR_EUNAVAIL : 0;
}

static int meta_get(struct mr_store_tx *tx, const char *key, char **out, struct mr_err *err)
{
    sqlite3_stmt *st = sqlite_stmt(tx, ST_META_GET);
    sqlite_bind_text(st, 1, key);
    int rc = sqlite3_step(st);
    *out = NULL;
    if (rc == SQLITE_ROW)
        *out = sqlite_col_text(st, 0);
    else if (rc != SQLITE_DONE)
        return sqlite_db_error(err, sqlite_tx_conn(tx)->db, rc, "reading metadata");
    sqlite3_reset(st);
    return 0;
}

static int meta_put(struct mr_store_tx *tx, const char *key, const char *value, struct mr_err *err)
{
    sqlite3_stmt *st = sqlite_stmt(tx, ST_META_PUT);
    sqlite_bind_text(st, 1, key);
    sqlite_bind_text(st, 2, value);
    return sqlite_exec_done(tx, st, "writing metadata", err);
}

int sqlite_set_model(struct mr_store_tx *tx, const char *model, size_t dim, struct mr_err *err)
{
    char dims[32];
    snprintf(dims, sizeof dims, "%zu", dim);
    int rc = meta_put(tx, "embedding_model", model, err);
    return rc ? rc : meta_put(tx, "embedding_dimensions", dims, err);
}

int sqlite_check_model(struct mr_store *s, const char *model, size_t dim, struct mr_err *err)
{
    struct mr_store_tx *tx;
    char *have_model = NULL, *have_dim = NULL;
    int rc = sqlite_begin(s, true, &tx, err);
    if (rc)
        return rc;
    if ((rc = meta_get(tx, "embedding_model", &have_model, err)) != 0 ||
        (rc = meta_get(tx, "embedding_dimensions", &have_dim, err)) != 0)
        goto out;
    if (!have_model) {
        rc = sqlite_set_model(tx, model, dim, err);
        goto out;
    }
    rc = store_model_matches(((struct sqlite_store *)s)->path, have_model, have_dim, model, dim,
                             err);
out:
    free(have_model);
    free(have_dim);
    if (rc) {
        sqlite_rollback(tx);
        return rc;
    }
    return sqlite_commit(tx, err);
}

int sqlite_health(struct mr_store *s, struct mr_err *err)
{
    struct mr_store_tx *tx;
    int rc = sqlite_begin(s, false, &tx, err);
    if (rc)
        return rc;
    char *v = NULL;
    rc = meta_get(tx, "embedding_model", &v, err);
    free(v);
    sqlite_rollback(tx);
    return rc;
}
