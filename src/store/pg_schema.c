/*
 * pg_schema.c — the PostgreSQL store's schema (see pg_int.h): migrations,
 * versioned in memori_schema and run by the shared runner (migrate.c) under
 * an advisory lock so two processes starting together do not race; the
 * embedding model recorded in memori_meta, with the vector column given its
 * dimension and HNSW index; the health probe.
 */
#include <stdio.h>
#include <stdlib.h>

#include "pg_int.h"

#define BACKFILL_BATCH 500

/*
 * Tokenises the memories that have no lexical columns yet (written before
 * migration 3), BACKFILL_BATCH rows a round trip: their columns are set in
 * one UPDATE per batch (each row's arrays travel as one element of a TEXT[]
 * of array literals), and the triggers count them into the statistics.
 */
int pg_lex_backfill(void *db, struct mr_err *err)
{
    PGconn *pg = db;
    int64_t last = 0;
    for (;;) {
        char after[32];
        snprintf(after, sizeof after, "%lld", (long long)last);
        const char *vals[1] = {after};
        PGresult *res = PQexecParams(pg,
                                     "SELECT id, content FROM memori_memories WHERE lex_len IS "
                                     "NULL AND id > $1 ORDER BY id LIMIT 500", /* BACKFILL_BATCH */
                                     1, NULL, vals, NULL, NULL, 0);
        if (PQresultStatus(res) != PGRES_TUPLES_OK) {
            int rc = pg_result_error(err, pg, res, "tokenising the existing memories");
            PQclear(res);
            return rc;
        }
        int n = PQntuples(res);
        struct mr_strv terms = {0}, tfs = {0};
        struct mr_strbuf ids = {0}, lens = {0}, t = {0}, f = {0};
        mr_strbuf_add(&ids, "{", 1);
        mr_strbuf_add(&lens, "{", 1);
        for (int i = 0; i < n; i++) {
            t.len = f.len = 0;
            uint32_t len = pg_lex_arrays(PQgetvalue(res, i, 1), &t, &f);
            mr_strv_push(&terms, t.s, t.len);
            mr_strv_push(&tfs, f.s, f.len);
            mr_strbuf_printf(&ids, "%s%s", i ? "," : "", PQgetvalue(res, i, 0));
            mr_strbuf_printf(&lens, "%s%u", i ? "," : "", (unsigned)len);
            last = strtoll(PQgetvalue(res, i, 0), NULL, 10);
        }
        PQclear(res);
        mr_strbuf_add(&ids, "}", 1);
        mr_strbuf_add(&lens, "}", 1);
        struct mr_strbuf terms_lit = {0}, tfs_lit = {0};
        pg_text_array(&terms_lit, &terms);
        pg_text_array(&tfs_lit, &tfs);
        int rc = 0;
        if (n) {
            const char *uv[4] = {ids.s, terms_lit.s, tfs_lit.s, lens.s};
            res = PQexecParams(pg,
                               "UPDATE memori_memories AS m SET lex_terms = v.terms::text[], "
                               "lex_tfs = v.tfs::int4[], lex_len = v.len "
                               "FROM unnest($1::int8[], $2::text[], $3::text[], $4::int4[]) "
                               "AS v(id, terms, tfs, len) WHERE m.id = v.id",
                               4, NULL, uv, NULL, NULL, 0);
            if (PQresultStatus(res) != PGRES_COMMAND_OK)
                rc = pg_result_error(err, pg, res, "tokenising the existing memories");
            PQclear(res);
        }
        mr_strv_clear(&terms);
        mr_strv_clear(&tfs);
        mr_strbuf_free(&ids);
        mr_strbuf_free(&lens);
        mr_strbuf_free(&t);
        mr_strbuf_free(&f);
        mr_strbuf_free(&terms_lit);
        mr_strbuf_free(&tfs_lit);
        if (rc || n < BACKFILL_BATCH)
            return rc;
    }
}

/* Schema migrations, applied in order; memori_schema.version counts those applied. */
static const struct store_migration migrations[] = {
    {"CREATE EXTENSION IF NOT EXISTS vector;"
     "CREATE TABLE memori_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
     "CREATE TABLE memori_conversations ("
     "  id BIGSERIAL PRIMARY KEY,"
     "  conversation_id UUID NOT NULL UNIQUE,"
     "  user_id TEXT NOT NULL,"
     "  tenant_id TEXT NOT NULL,"
     "  data_source_id BIGINT,"
     "  title TEXT,"
     "  metadata JSONB NOT NULL DEFAULT '{}',"
     "  is_active BOOLEAN NOT NULL DEFAULT true,"
     "  last_activity_at TIMESTAMPTZ NOT NULL,"
     "  created_at TIMESTAMPTZ NOT NULL,"
     "  updated_at TIMESTAMPTZ NOT NULL);"
     "CREATE INDEX memori_conversations_owner"
     "  ON memori_conversations(tenant_id, user_id, last_activity_at DESC);"
     /* embedding gets its dimension (and the HNSW index) when the model is recorded. */
     "CREATE TABLE memori_memories ("
     "  id BIGSERIAL PRIMARY KEY,"
     "  memory_id UUID NOT NULL UNIQUE,"
     "  conversation_id UUID NOT NULL"
     "    REFERENCES memori_conversations(conversation_id) ON DELETE CASCADE,"
     "  user_id TEXT NOT NULL,"
     "  tenant_id TEXT NOT NULL,"
     "  content TEXT NOT NULL,"
     "  memory_type TEXT NOT NULL CHECK (memory_type IN"
     "    ('short_term','long_term','rule','entity','relationship')),"
     "  embedding vector NOT NULL,"
     "  importance_score DOUBLE PRECISION NOT NULL CHECK (importance_score BETWEEN 0 AND 1),"
     "  access_count BIGINT NOT NULL DEFAULT 0,"
     "  last_accessed_at TIMESTAMPTZ,"
     "  context_tags TEXT[] NOT NULL DEFAULT '{}',"
     "  related_entities TEXT[] NOT NULL DEFAULT '{}',"
     "  metadata JSONB NOT NULL DEFAULT '{}',"
     "  expires_at TIMESTAMPTZ,"
     "  is_archived BOOLEAN NOT NULL DEFAULT false,"
     "  is_shared BOOLEAN NOT NULL DEFAULT false,"
     "  created_at TIMESTAMPTZ NOT NULL,"
     "  updated_at TIMESTAMPTZ NOT NULL)"
     /*
      * Every search rewrites its rows' access statistics. With the vector out
      * of line (EXTERNAL, toast_tuple_target) a row is ~200 bytes, and with
      * room left on each page (fillfactor) the update stays on its page (a HOT
      * update): no new entry in any index, the HNSW one included, and the
      * vector is not copied.
      */
     "  WITH (fillfactor = 80, toast_tuple_target = 128);"
     "ALTER TABLE memori_memories ALTER COLUMN embedding SET STORAGE EXTERNAL;"
     "CREATE INDEX memori_memories_conversation ON memori_memories(conversation_id, created_at);"
     "CREATE INDEX memori_memories_owner ON memori_memories(tenant_id, user_id, memory_type);",
     "creating the tables and the pgvector extension", NULL},
    {"ALTER TABLE memori_memories ADD COLUMN data_source_id BIGINT;"
     "ALTER TABLE memori_memories DROP CONSTRAINT memori_memories_memory_type_check;"
     "ALTER TABLE memori_memories ADD CONSTRAINT memori_memories_memory_type_check CHECK"
     "  (memory_type IN ('short_term','long_term','rule','entity','relationship','example'));"
     "CREATE INDEX memori_memories_data_source"
     "  ON memori_memories(tenant_id, data_source_id) WHERE data_source_id IS NOT NULL;"
     /* A data source's schema as last imported: tenant knowledge, one row per source. */
     "CREATE TABLE memori_data_source_schemas ("
     "  tenant_id TEXT NOT NULL,"
     "  data_source_id BIGINT NOT NULL,"
     "  dialect TEXT NOT NULL,"
     "  schema_hash TEXT NOT NULL,"
     "  schema_json TEXT NOT NULL,"
     "  conversation_id UUID NOT NULL,"
     "  updated_at TIMESTAMPTZ NOT NULL,"
     "  PRIMARY KEY (tenant_id, data_source_id));",
     "adding data sources: memories' data_source_id, the type example, stored schemas", NULL},
    /*
     * The lexical index (DESIGN.md §8, docs/ranking.md): each memory's terms
     * as memori's tokenizer gives them (not to_tsvector: its parser and
     * stemmer differ), their counts and the BM25 length, computed in C on
     * every write (pg_param_lex); a GIN index finds candidates. Per
     * partition (tenant_id, user_id), as the in-process index partitions:
     * the document count, total length and df per term, kept by triggers in
     * the writing statement itself, so every path (a conversation's cascade
     * included) and every failure (the statement's, the transaction's)
     * keeps them exact. Archival and expiry are filters: they change no
     * statistic, as in the in-process index. A row whose lex_len is NULL
     * (written before this version, until the back-fill below) is no
     * document. Each write locks its partition's row first: the partition's
     * writers then take df rows one at a time, so two servers never lose an
     * increment nor deadlock on df rows. Idempotent, so a database set
     * back to version 2 re-runs it (the back-fill test does).
     */
    {"ALTER TABLE memori_memories ADD COLUMN IF NOT EXISTS lex_terms TEXT[],"
     "  ADD COLUMN IF NOT EXISTS lex_tfs INT4[], ADD COLUMN IF NOT EXISTS lex_len INT4;"
     "CREATE INDEX IF NOT EXISTS memori_memories_lex ON memori_memories USING gin (lex_terms);"
     "CREATE TABLE IF NOT EXISTS memori_lex_partitions ("
     "  tenant_id TEXT NOT NULL, user_id TEXT NOT NULL,"
     "  n_docs BIGINT NOT NULL, total_len BIGINT NOT NULL,"
     "  PRIMARY KEY (tenant_id, user_id));"
     "CREATE TABLE IF NOT EXISTS memori_lex_df ("
     "  tenant_id TEXT NOT NULL, user_id TEXT NOT NULL, term TEXT NOT NULL, df BIGINT NOT NULL,"
     "  PRIMARY KEY (tenant_id, user_id, term));"
     "CREATE OR REPLACE FUNCTION memori_lex_stats() RETURNS trigger LANGUAGE plpgsql AS $f$ "
     "BEGIN "
     "  IF TG_OP <> 'INSERT' AND OLD.lex_len IS NOT NULL THEN "
     "    UPDATE memori_lex_partitions SET n_docs = n_docs - 1, total_len = total_len - OLD.lex_len"
     "      WHERE tenant_id = OLD.tenant_id AND user_id = OLD.user_id;"
     "    UPDATE memori_lex_df AS d SET df = d.df - 1 FROM unnest(OLD.lex_terms) AS t(term)"
     "      WHERE d.tenant_id = OLD.tenant_id AND d.user_id = OLD.user_id AND d.term = t.term;"
     "    DELETE FROM memori_lex_df WHERE tenant_id = OLD.tenant_id AND user_id = OLD.user_id"
     "      AND term = ANY(OLD.lex_terms) AND df <= 0;"
     "  END IF;"
     "  IF TG_OP <> 'DELETE' AND NEW.lex_len IS NOT NULL THEN "
     "    INSERT INTO memori_lex_partitions AS p"
     "      VALUES (NEW.tenant_id, NEW.user_id, 1, NEW.lex_len)"
     "      ON CONFLICT (tenant_id, user_id) DO UPDATE"
     "      SET n_docs = p.n_docs + 1, total_len = p.total_len + excluded.total_len;"
     "    INSERT INTO memori_lex_df AS d"
     "      SELECT NEW.tenant_id, NEW.user_id, t.term, 1 FROM unnest(NEW.lex_terms) AS t(term)"
     "      ORDER BY t.term"
     "      ON CONFLICT (tenant_id, user_id, term) DO UPDATE SET df = d.df + 1;"
     "  END IF;"
     "  RETURN NULL;"
     "END $f$;"
     "DROP TRIGGER IF EXISTS memori_lex_write ON memori_memories;"
     "CREATE TRIGGER memori_lex_write AFTER INSERT OR DELETE ON memori_memories"
     "  FOR EACH ROW EXECUTE FUNCTION memori_lex_stats();"
     "DROP TRIGGER IF EXISTS memori_lex_change ON memori_memories;"
     /* An update that keeps the content (access statistics, archival) costs nothing here. */
     "CREATE TRIGGER memori_lex_change AFTER UPDATE OF lex_terms, lex_tfs, lex_len, tenant_id,"
     "  user_id ON memori_memories FOR EACH ROW WHEN ("
     "  OLD.lex_terms IS DISTINCT FROM NEW.lex_terms OR OLD.lex_tfs IS DISTINCT FROM NEW.lex_tfs"
     "  OR OLD.lex_len IS DISTINCT FROM NEW.lex_len OR OLD.tenant_id <> NEW.tenant_id"
     "  OR OLD.user_id <> NEW.user_id) EXECUTE FUNCTION memori_lex_stats();",
     "adding the lexical index", pg_lex_backfill},
    /*
     * Example ingestion looks up a source's join memories and a user's
     * examples by (tenant, source, type, user) (pg_mem_find_example,
     * pg_mem_find_joins): one index range instead of every memory of the
     * source or every join of the tenant; the tenant's join memories also by
     * join_key, so a key costs the same against any schema size.
     * Idempotent, as version 3 is.
     */
    {"CREATE INDEX IF NOT EXISTS memori_memories_data_source_type"
     "  ON memori_memories(tenant_id, data_source_id, memory_type, user_id)"
     "  WHERE data_source_id IS NOT NULL;"
     "CREATE INDEX IF NOT EXISTS memori_memories_join_key"
     "  ON memori_memories(tenant_id, data_source_id, (metadata ->> 'join_key'))"
     "  WHERE data_source_id IS NOT NULL AND memory_type = 'relationship' AND user_id = '';",
     "indexing a data source's memories by type and owner, its joins by key", NULL},
    /*
     * Memory hygiene (issue 20, docs/hygiene.md): each memory's dedup key,
     * unique among a user's live memories (the index, not the code, keeps
     * two racing creates of one fact from both storing it: the second
     * waits for the first and fails, and the service retries into the
     * duplicate), and every change's event, kept after the memory is
     * deleted (no foreign key). Idempotent, as versions 3 and 4 are.
     */
    {"ALTER TABLE memori_memories ADD COLUMN IF NOT EXISTS dedup_key TEXT;"
     "CREATE UNIQUE INDEX IF NOT EXISTS memori_memories_dedup"
     "  ON memori_memories(tenant_id, user_id, dedup_key)"
     "  WHERE dedup_key IS NOT NULL AND NOT is_archived;"
     "CREATE TABLE IF NOT EXISTS memori_memory_history ("
     "  id BIGSERIAL PRIMARY KEY,"
     "  memory_id UUID NOT NULL,"
     "  user_id TEXT NOT NULL,"
     "  tenant_id TEXT NOT NULL,"
     "  actor TEXT NOT NULL,"
     "  kind TEXT NOT NULL,"
     "  changes JSONB NOT NULL DEFAULT '{}',"
     "  created_at TIMESTAMPTZ NOT NULL);"
     "CREATE INDEX IF NOT EXISTS memori_memory_history_memory"
     "  ON memori_memory_history(memory_id, id);",
     "adding memory hygiene: dedup keys and the history of every change", NULL},
    /*
     * Neighbour context (docs/ranking.md): a search reads the turns just
     * before and after its candidates in their conversation by id
     * (P_MEM_NEIGHBOURS), a walk of this index that stops after two turns.
     * Idempotent, as versions 3 to 5 are.
     */
    {"CREATE INDEX IF NOT EXISTS memori_memories_conversation_id"
     "  ON memori_memories(conversation_id, id);",
     "indexing a conversation's memories by id, for neighbour context", NULL},
    /*
     * The lexical index's postings (docs/ranking.md, "PostgreSQL"): one row
     * per (memory, distinct term) with the term's tf and the memory's
     * length, so the lexical side ranks from an index-only scan of the
     * primary key (the key and its INCLUDE columns hold everything BM25
     * needs) instead of reading every heap row holding a query term; the
     * request's filters are then checked on the best rows only. shared is
     * the memory's is_shared: other users' memories are found through the
     * partial index on it (only shared ones can pass the search's filters),
     * not by probing every partition. Kept by row triggers in the writing
     * statement, as memori_lex_df is (migration 3), so every write path and
     * every rollback keeps them exact; an update of neither the lexical
     * columns, the owner nor is_shared (accesses, archival) fires nothing.
     * Postings are small and written once, so the table is vacuumed early
     * (the insert thresholds): index-only scans need its pages all-visible.
     * The back-fill copies what migration 3 keeps in the rows; idempotent,
     * so a database set back to an older version re-runs it.
     */
    {"CREATE TABLE IF NOT EXISTS memori_lex_postings ("
     "  tenant_id TEXT NOT NULL, user_id TEXT NOT NULL, term TEXT NOT NULL,"
     "  memory_id BIGINT NOT NULL, tf INT4 NOT NULL, len INT4 NOT NULL, shared BOOLEAN NOT NULL,"
     "  PRIMARY KEY (tenant_id, user_id, term, memory_id) INCLUDE (tf, len))"
     "  WITH (autovacuum_vacuum_insert_threshold = 1000,"
     "    autovacuum_vacuum_insert_scale_factor = 0.02, autovacuum_vacuum_scale_factor = 0.02);"
     "CREATE INDEX IF NOT EXISTS memori_lex_postings_shared"
     "  ON memori_lex_postings(tenant_id, term) INCLUDE (user_id, memory_id, tf, len)"
     "  WHERE shared;"
     "CREATE OR REPLACE FUNCTION memori_lex_postings() RETURNS trigger LANGUAGE plpgsql AS $f$ "
     "BEGIN "
     "  IF TG_OP = 'UPDATE' AND OLD.lex_len IS NOT NULL AND NEW.lex_len IS NOT NULL"
     "    AND OLD.lex_terms = NEW.lex_terms AND OLD.lex_tfs = NEW.lex_tfs"
     "    AND OLD.lex_len = NEW.lex_len AND OLD.tenant_id = NEW.tenant_id"
     "    AND OLD.user_id = NEW.user_id THEN "
     "    UPDATE memori_lex_postings SET shared = NEW.is_shared"
     "      WHERE tenant_id = OLD.tenant_id AND user_id = OLD.user_id"
     "      AND term = ANY(OLD.lex_terms) AND memory_id = OLD.id;"
     "    RETURN NULL;"
     "  END IF;"
     "  IF TG_OP <> 'INSERT' AND OLD.lex_len IS NOT NULL THEN "
     "    DELETE FROM memori_lex_postings WHERE tenant_id = OLD.tenant_id"
     "      AND user_id = OLD.user_id AND term = ANY(OLD.lex_terms) AND memory_id = OLD.id;"
     "  END IF;"
     "  IF TG_OP <> 'DELETE' AND NEW.lex_len IS NOT NULL THEN "
     "    INSERT INTO memori_lex_postings"
     "      SELECT NEW.tenant_id, NEW.user_id, t.term, NEW.id, t.tf, NEW.lex_len, NEW.is_shared"
     "      FROM unnest(NEW.lex_terms, NEW.lex_tfs) AS t(term, tf);"
     "  END IF;"
     "  RETURN NULL;"
     "END $f$;"
     "DROP TRIGGER IF EXISTS memori_lex_post_write ON memori_memories;"
     "CREATE TRIGGER memori_lex_post_write AFTER INSERT OR DELETE ON memori_memories"
     "  FOR EACH ROW EXECUTE FUNCTION memori_lex_postings();"
     "DROP TRIGGER IF EXISTS memori_lex_post_change ON memori_memories;"
     "CREATE TRIGGER memori_lex_post_change AFTER UPDATE OF lex_terms, lex_tfs, lex_len,"
     "  tenant_id, user_id, is_shared ON memori_memories FOR EACH ROW WHEN ("
     "  OLD.lex_terms IS DISTINCT FROM NEW.lex_terms OR OLD.lex_tfs IS DISTINCT FROM NEW.lex_tfs"
     "  OR OLD.lex_len IS DISTINCT FROM NEW.lex_len OR OLD.tenant_id <> NEW.tenant_id"
     "  OR OLD.user_id <> NEW.user_id OR OLD.is_shared <> NEW.is_shared)"
     "  EXECUTE FUNCTION memori_lex_postings();"
     "DELETE FROM memori_lex_postings;"
     "INSERT INTO memori_lex_postings"
     "  SELECT m.tenant_id, m.user_id, t.term, m.id, t.tf, m.lex_len, m.is_shared"
     "  FROM memori_memories m, unnest(m.lex_terms, m.lex_tfs) AS t(term, tf)"
     "  WHERE m.lex_len IS NOT NULL;"
     "ANALYZE memori_lex_postings;"
     /* Nothing searches lex_terms any more: the postings replace its GIN index. */
     "DROP INDEX IF EXISTS memori_memories_lex;",
     "adding the lexical postings", NULL},
    /*
     * A hybrid search's walks (P_MEM_CONTEXT) read of each row of a
     * conversation only its id, owner and type, to find the owner's turns:
     * with those in the index's INCLUDE columns a walk is an index-only
     * scan, no heap page read (where the visibility map marks the pages
     * all-visible; docs/perf.md, "The context step: one statement").
     * P_MEM_NEIGHBOURS' walks (lexical mode) also return the turns' terms, so
     * they still read the rows. The same key, so it serves whatever migration
     * 6's index served; the same name, built anew only where it has no
     * INCLUDE columns yet (idempotent).
     */
    {"DO $m$ BEGIN "
     "  IF EXISTS (SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
     "    WHERE c.relname = 'memori_memories_conversation_id' AND i.indnatts = i.indnkeyatts) THEN"
     "    DROP INDEX memori_memories_conversation_id;"
     "  END IF;"
     "END $m$;"
     "CREATE INDEX IF NOT EXISTS memori_memories_conversation_id"
     "  ON memori_memories(conversation_id, id) INCLUDE (tenant_id, user_id, memory_type);",
     "indexing a conversation's turns with their owner and type, for neighbour context", NULL},
};
#define N_MIGRATIONS ((int)(sizeof migrations / sizeof migrations[0]))

/* The runner's steps on one PGconn. */
static int mg_begin(void *pg, struct mr_err *err)
{
    int rc = pg_exec_simple(pg, "BEGIN", "migrating the schema", err);
    if (rc == 0)
        rc = pg_exec_simple(pg, PG_SCHEMA_LOCK, "locking the schema", err);
    if (rc == 0)
        rc = pg_exec_simple(pg,
                            "CREATE TABLE IF NOT EXISTS memori_schema (version INTEGER NOT NULL)",
                            "migrating the schema", err);
    if (rc)
        PQclear(PQexec(pg, "ROLLBACK"));
    return rc;
}

static int mg_read_version(void *pg, int *out, struct mr_err *err)
{
    PGresult *res = PQexec(pg, "SELECT max(version) FROM memori_schema");
    int rc = 0;
    *out = 0;
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        rc = pg_result_error(err, pg, res, "reading the schema version");
    else if (!PQgetisnull(res, 0, 0))
        *out = atoi(PQgetvalue(res, 0, 0));
    PQclear(res);
    return rc;
}

static int mg_apply(void *pg, const struct store_migration *m, struct mr_err *err)
{
    char what[160];
    snprintf(what, sizeof what, "migrating the schema (%s)", m->what);
    return pg_exec_simple(pg, m->sql, what, err);
}

static int mg_write_version(void *pg, int version, struct mr_err *err)
{
    char sql[96];
    snprintf(sql, sizeof sql, "DELETE FROM memori_schema; INSERT INTO memori_schema VALUES (%d)",
             version);
    return pg_exec_simple(pg, sql, "migrating the schema", err);
}

static int mg_commit(void *pg, struct mr_err *err)
{
    return pg_exec_simple(pg, "COMMIT", "migrating the schema", err);
}

static void mg_rollback(void *pg)
{
    PQclear(PQexec(pg, "ROLLBACK"));
}

static const struct store_migrator migrator = {mg_begin,         mg_read_version, mg_apply,
                                               mg_write_version, mg_commit,       mg_rollback};

int pg_migrate(struct pg_store *s, PGconn *pg, struct mr_err *err)
{
    return store_migrate(&migrator, pg, s->redacted, migrations, N_MIGRATIONS, err);
}

static int meta_get(struct mr_store_tx *tx, const char *key, char **out, struct mr_err *err)
{
    struct pg_params p = {0};
    pg_param_text(&p, key);
    *out = NULL;
    PGresult *res = pg_run(tx, P_META_GET, &p, "reading metadata", err);
    if (!res)
        return err->code;
    if (PQntuples(res) == 1)
        *out = pg_val_dup(res, 0, 0);
    PQclear(res);
    return 0;
}

static int meta_put(struct mr_store_tx *tx, const char *key, const char *value, struct mr_err *err)
{
    struct pg_params p = {0};
    pg_param_text(&p, key);
    pg_param_text(&p, value);
    return pg_run_done(tx, P_META_PUT, &p, "writing metadata", NULL, err);
}

/* The dimension declared on the embedding column; 0 while it has none. */
static int column_dim(PGconn *pg, int *out, struct mr_err *err)
{
    PGresult *res = PQexec(pg, "SELECT atttypmod FROM pg_attribute "
                               "WHERE attrelid = 'memori_memories'::regclass "
                               "AND attname = 'embedding'");
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        int rc = pg_result_error(err, pg, res, "reading the embedding column");
        PQclear(res);
        return rc ? rc : MR_EINTERNAL;
    }
    int mod = atoi(PQgetvalue(res, 0, 0));
    *out = mod > 0 ? mod : 0;
    PQclear(res);
    return 0;
}

/*
 * Gives the embedding column dimension dim and its HNSW index. Rows of
 * another dimension (only while `memori reembed` rewrites every row in the
 * same transaction) hold zero vectors until rewritten.
 */
static int shape_embedding_column(PGconn *pg, size_t dim, struct mr_err *err)
{
    int have = 0;
    int rc = column_dim(pg, &have, err);
    if (rc)
        return rc;
    char sql[640];
    if ((size_t)have != dim) {
        snprintf(sql, sizeof sql,
                 "DROP INDEX IF EXISTS memori_memories_embedding_hnsw;"
                 "ALTER TABLE memori_memories ALTER COLUMN embedding TYPE vector(%zu) USING "
                 "CASE WHEN vector_dims(embedding) = %zu THEN embedding::vector(%zu) "
                 "ELSE array_fill(0::real, ARRAY[%zu])::vector(%zu) END;"
                 "ALTER TABLE memori_memories ALTER COLUMN embedding SET STORAGE EXTERNAL",
                 dim, dim, dim, dim, dim);
        if ((rc = pg_exec_simple(pg, sql, "setting the embedding dimension", err)) != 0)
            return rc;
    }
    return pg_exec_simple(pg,
                          "CREATE INDEX IF NOT EXISTS memori_memories_embedding_hnsw "
                          "ON memori_memories USING hnsw (embedding vector_cosine_ops)",
                          "creating the vector index", err);
}

int pg_set_model(struct mr_store_tx *tx, const char *model, size_t dim, struct mr_err *err)
{
    char dims[32];
    snprintf(dims, sizeof dims, "%zu", dim);
    int rc = pg_exec_simple(pg_tx_conn(tx)->pg, PG_SCHEMA_LOCK, "locking the schema", err);
    if (rc == 0)
        rc = meta_put(tx, "embedding_model", model, err);
    if (rc == 0)
        rc = meta_put(tx, "embedding_dimensions", dims, err);
    if (rc == 0)
        rc = shape_embedding_column(pg_tx_conn(tx)->pg, dim, err);
    return rc;
}

int pg_check_model(struct mr_store *base, const char *model, size_t dim, struct mr_err *err)
{
    struct pg_store *s = (struct pg_store *)base;
    struct mr_store_tx *tx;
    char *have_model = NULL, *have_dim = NULL;
    int rc = pg_begin(base, true, &tx, err);
    if (rc)
        return rc;
    /* Serialises with another process recording the model at the same moment. */
    if ((rc = pg_exec_simple(pg_tx_conn(tx)->pg, PG_SCHEMA_LOCK, "locking the schema", err)) != 0 ||
        (rc = meta_get(tx, "embedding_model", &have_model, err)) != 0 ||
        (rc = meta_get(tx, "embedding_dimensions", &have_dim, err)) != 0)
        goto out;
    if (!have_model) {
        rc = pg_set_model(tx, model, dim, err);
        goto out;
    }
    if ((rc = store_model_matches(s->redacted, have_model, have_dim, model, dim, err)) != 0)
        goto out;
    rc = shape_embedding_column(pg_tx_conn(tx)->pg, dim, err);
out:
    free(have_model);
    free(have_dim);
    if (rc) {
        pg_rollback(tx);
        return rc;
    }
    return pg_commit(tx, err);
}

int pg_health(struct mr_store *base, struct mr_err *err)
{
    struct mr_store_tx *tx;
    int rc = pg_begin(base, false, &tx, err);
    if (rc)
        return rc;
    char *v = NULL;
    rc = meta_get(tx, "embedding_model", &v, err);
    free(v);
    pg_rollback(tx);
    return rc;
}
