/*
 * postgres.c — the server store: PostgreSQL through libpq, embeddings in a
 * pgvector vector(d) column with an HNSW index (vector_cosine_ops), so
 * several stateless memori processes can share one database.
 *
 * A pool of connections, each with every statement prepared once; one
 * transaction per request; schema versions in memori_schema, migrated under
 * an advisory lock so two processes starting together do not race. Values
 * travel as text except vectors, which go in pgvector's binary form (no
 * float formatting on the hot path). Search runs in SQL with its filters and
 * pgvector 0.8's iterative index scan, so a filtered query still fills
 * its limit; the rows it returns are then locked FOR UPDATE in id order
 * (no deadlock between searches), so two processes recording accesses to
 * one memory never lose an increment.
 */
#define _POSIX_C_SOURCE 200809L
#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "memori/json.h"
#include "memori/store.h"
#include "pg_codec.h"
#include "store_int.h"

/* An arbitrary constant naming memori's advisory lock (migrations, model changes). */
#define SCHEMA_LOCK "SELECT pg_advisory_xact_lock(7262024)"
#define POOL_WAIT_S 30 /* as SQLAlchemy's pool_timeout */
#define SCAN_BATCH 500

/* µs since the epoch <-> timestamptz, exactly (an int8 times 1 µs). */
#define TS_IN(x) "(timestamptz 'epoch' + (" x ")::int8 * interval '1 microsecond')"
#define TS_OUT(c) "(extract(epoch from " c ") * 1000000)::int8"

#define MEM_COLS_BUT_EMB                                                                           \
    "id, memory_id, conversation_id, user_id, tenant_id, content, memory_type, "                   \
    "importance_score, access_count, " TS_OUT("last_accessed_at") ", context_tags, "              \
    "related_entities, metadata, " TS_OUT("expires_at") ", is_archived, " TS_OUT(                  \
        "created_at") ", " TS_OUT("updated_at") ", is_shared"
/*
 * Column 18 is the embedding (or NULL where the caller needs none), cast to
 * plain vector: a prepared statement must keep its result type when a model
 * change gives the column another dimension.
 */
#define MEM_COLS MEM_COLS_BUT_EMB ", embedding::vector"
#define CONV_COLS                                                                                  \
    "id, conversation_id, user_id, tenant_id, data_source_id, title, metadata, is_active, " TS_OUT( \
        "last_activity_at") ", " TS_OUT("created_at") ", " TS_OUT("updated_at")

enum stmt_id {
    P_META_GET,
    P_META_PUT,
    P_CONV_GET,
    P_CONV_INSERT,
    P_CONV_UPDATE,
    P_CONV_DELETE,
    P_CONV_LIST,
    P_CONV_COUNT,
    P_MEM_INSERT,
    P_MEM_GET,
    P_MEM_GET_BY_ID,
    P_MEM_UPDATE,
    P_MEM_UPDATE_EMB,
    P_MEM_DELETE,
    P_MEM_LIST_CONV,
    P_MEM_COUNT_CONV,
    P_MEM_IDS_CONV,
    P_MEM_STATS,
    P_MEM_ARCHIVE,
    P_MEM_SEARCH,
    P_MEM_LOCK,
    P_MEM_ACCESS,
    P_COUNT
};

static const char *const stmt_sql[P_COUNT] = {
    [P_META_GET] = "SELECT value FROM memori_meta WHERE key = $1",
    [P_META_PUT] = "INSERT INTO memori_meta(key, value) VALUES ($1, $2) "
                   "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    [P_CONV_GET] = "SELECT " CONV_COLS " FROM memori_conversations WHERE conversation_id = $1",
    /* ON CONFLICT keeps the transaction usable: a duplicate is reported, not raised. */
    [P_CONV_INSERT] = "INSERT INTO memori_conversations(conversation_id, user_id, tenant_id, "
                      "data_source_id, title, metadata, is_active, last_activity_at, created_at, "
                      "updated_at) VALUES ($1,$2,$3,$4,$5,$6,$7," TS_IN("$8") "," TS_IN(
                          "$9") "," TS_IN("$10") ") "
                                                 "ON CONFLICT (conversation_id) DO NOTHING "
                                                 "RETURNING id",
    [P_CONV_UPDATE] = "UPDATE memori_conversations SET data_source_id=$2, title=$3, metadata=$4, "
                      "is_active=$5, last_activity_at=" TS_IN("$6") ", updated_at=" TS_IN(
                          "$7") " WHERE conversation_id=$1",
    [P_CONV_DELETE] = "DELETE FROM memori_conversations WHERE conversation_id = $1",
    [P_CONV_LIST] = "SELECT " CONV_COLS " FROM memori_conversations "
                    "WHERE tenant_id=$1 AND user_id=$2 "
                    "ORDER BY last_activity_at DESC, id DESC LIMIT $3 OFFSET $4",
    [P_CONV_COUNT] = "SELECT count(*) FROM memori_conversations WHERE tenant_id=$1 AND user_id=$2",
    [P_MEM_INSERT] = "INSERT INTO memori_memories(memory_id, conversation_id, user_id, tenant_id, "
                     "content, memory_type, embedding, importance_score, access_count, "
                     "last_accessed_at, context_tags, related_entities, metadata, expires_at, "
                     "is_archived, created_at, updated_at, is_shared) "
                     "VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9," TS_IN("$10") ",$11,$12,$13," TS_IN(
                         "$14") ",$15," TS_IN("$16") "," TS_IN("$17") ",$18) RETURNING id",
    [P_MEM_GET] = "SELECT " MEM_COLS " FROM memori_memories WHERE memory_id = $1",
    [P_MEM_GET_BY_ID] = "SELECT " MEM_COLS " FROM memori_memories WHERE id = $1",
    [P_MEM_UPDATE] = "UPDATE memori_memories SET content=$2, memory_type=$3, importance_score=$4, "
                     "access_count=$5, last_accessed_at=" TS_IN(
                         "$6") ", context_tags=$7, related_entities=$8, metadata=$9, "
                               "expires_at=" TS_IN("$10") ", is_archived=$11, updated_at=" TS_IN(
                                   "$12") ", is_shared=$13 WHERE id=$1",
    [P_MEM_UPDATE_EMB] = "UPDATE memori_memories SET embedding=$2 WHERE id=$1",
    [P_MEM_DELETE] = "DELETE FROM memori_memories WHERE memory_id = $1",
    [P_MEM_LIST_CONV] = "SELECT " MEM_COLS " FROM memori_memories WHERE conversation_id=$1 "
                        "ORDER BY created_at, id LIMIT $2 OFFSET $3",
    [P_MEM_COUNT_CONV] = "SELECT count(*) FROM memori_memories WHERE conversation_id=$1",
    [P_MEM_IDS_CONV] = "SELECT id FROM memori_memories WHERE conversation_id=$1",
    [P_MEM_STATS] = "SELECT count(*), "
                    "count(*) FILTER (WHERE memory_type='short_term'), "
                    "count(*) FILTER (WHERE memory_type='long_term'), "
                    "count(*) FILTER (WHERE memory_type='rule'), "
                    "count(*) FILTER (WHERE memory_type='entity'), "
                    "count(*) FILTER (WHERE memory_type='relationship'), "
                    "count(*) FILTER (WHERE is_archived), coalesce(avg(importance_score), 0) "
                    "FROM memori_memories WHERE tenant_id=$1 AND ($2::text IS NULL OR user_id=$2)",
    [P_MEM_ARCHIVE] = "UPDATE memori_memories SET is_archived=true, updated_at=" TS_IN(
        "$4") " WHERE tenant_id=$1 AND ($2::text IS NULL OR user_id=$2) "
              "AND memory_type='short_term' AND NOT is_archived AND created_at < " TS_IN(
                  "$3") " AND importance_score < 0.3 AND access_count < 2 RETURNING id, user_id",
    /*
     * ORDER BY the distance alone, so the HNSW index can serve it (with
     * hnsw.iterative_scan the scan goes on until the filters let `limit` rows
     * through); rows below min_similarity are dropped after, in C.
     */
    [P_MEM_SEARCH] =
        "SELECT id, 1 - (embedding <=> $1) FROM memori_memories "
        "WHERE tenant_id = $2 AND (user_id = $3 OR ($4::boolean AND is_shared AND "
        "memory_type IN ('rule', 'entity', 'relationship'))) "
        "AND ($5::uuid IS NULL OR conversation_id = $5::uuid) "
        "AND ($6::text[] IS NULL OR memory_type = ANY($6::text[])) "
        "AND ($7::boolean OR NOT is_archived) "
        "AND (expires_at IS NULL OR expires_at > " TS_IN("$8") ") "
        "ORDER BY embedding <=> $1 LIMIT $9",
    /*
     * The hits, locked in id order: two searches locking overlapping rows in
     * the order of their own distances would deadlock (seen with 50 clients
     * of 10 users). FOR UPDATE returns each row's latest committed version,
     * which the access update then increments.
     */
    [P_MEM_LOCK] = "SELECT " MEM_COLS_BUT_EMB ", NULL FROM memori_memories "
                   "WHERE id = ANY($1::int8[]) ORDER BY id FOR UPDATE",
    [P_MEM_ACCESS] =
        "UPDATE memori_memories AS m SET access_count = v.ac, last_accessed_at = " TS_IN(
            "v.la") ", importance_score = v.imp, memory_type = v.mt, expires_at = " TS_IN(
            "v.ex") ", updated_at = " TS_IN("v.up") " FROM unnest($1::int8[], $2::int8[], "
                                                    "$3::int8[], $4::float8[], $5::text[], "
                                                    "$6::int8[], $7::int8[]) "
                                                    "AS v(id, ac, la, imp, mt, ex, up) "
                                                    "WHERE m.id = v.id",
};

/* Schema migrations, applied in order; memori_schema.version counts those applied. */
static const char *const migrations[] = {
    "CREATE EXTENSION IF NOT EXISTS vector;"
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
};
#define N_MIGRATIONS ((int)(sizeof migrations / sizeof migrations[0]))

struct pconn;

struct pg_tx {
    struct mr_store_tx base;
    struct pconn *conn;
};

struct pconn {
    PGconn *pg; /* NULL: this slot holds no connection */
    bool in_use;
    struct pg_tx tx;
};

struct pg_store {
    struct mr_store base;
    char *conninfo;
    char *redacted; /* the URL with its password masked, for messages */
    int ef_search;
    pthread_mutex_t lock;
    pthread_cond_t freed;
    struct pconn *conns;
    int n_slots, pool_size, n_open;
};

static struct pconn *tx_conn(struct mr_store_tx *tx)
{
    return ((struct pg_tx *)tx)->conn;
}

/* The message libpq gave, without its trailing newline. */
static void set_pq_error(struct mr_err *err, int code, const char *what, const char *msg)
{
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
        n--;
    mr_err_set(err, code, "database error while %s: %.*s", what, (int)n, msg);
}

/* Maps a failed result to memori's codes by SQLSTATE class. */
static int pq_error(struct mr_err *err, PGconn *pg, const PGresult *res, const char *what)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = res ? PQresultErrorMessage(res) : "";
    if (!msg[0])
        msg = PQerrorMessage(pg);
    int code = MR_EUNAVAIL; /* connection, resources, shutdown, serialization: retry */
    if (state && strncmp(state, "23", 2) == 0)
        code = MR_ECONFLICT; /* integrity: unique, foreign key, check */
    else if (state && strncmp(state, "22", 2) == 0)
        code = MR_EINVAL; /* data: a value PostgreSQL refuses */
    else if (state && strncmp(state, "42", 2) == 0)
        code = MR_EINTERNAL; /* syntax or access rule: a bug or a broken schema */
    set_pq_error(err, code, what, msg);
    return code;
}

/* Runs sql with no parameters; 0 when it succeeded. */
static int exec_simple(PGconn *pg, const char *sql, const char *what, struct mr_err *err)
{
    PGresult *res = PQexec(pg, sql);
    ExecStatusType st = PQresultStatus(res);
    int rc = 0;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        rc = pq_error(err, pg, res, what);
    PQclear(res);
    return rc;
}

/* Per-connection settings and prepared statements (again after a reconnect). */
static int conn_setup(struct pg_store *s, PGconn *pg, struct mr_err *err)
{
    char sql[160];
    /* strict_order: iterative scans return rows in exact distance order. */
    snprintf(sql, sizeof sql,
             "SET client_min_messages = warning; SET hnsw.iterative_scan = strict_order; "
             "SET hnsw.ef_search = %d",
             s->ef_search > 0 ? s->ef_search : 40);
    if (exec_simple(pg, sql, "configuring the connection", err) != 0)
        return MR_EUNAVAIL;
    for (int i = 0; i < P_COUNT; i++) {
        char name[16];
        snprintf(name, sizeof name, "m%d", i);
        PGresult *res = PQprepare(pg, name, stmt_sql[i], 0, NULL);
        int rc = PQresultStatus(res) == PGRES_COMMAND_OK
                     ? 0
                     : pq_error(err, pg, res, "preparing statements");
        PQclear(res);
        if (rc)
            return rc;
    }
    return 0;
}

/* The server's notices and warnings reach callers as errors where they matter; not on stderr. */
static void quiet(void *arg, const char *message)
{
    (void)arg, (void)message;
}

static PGconn *conn_open(struct pg_store *s, struct mr_err *err)
{
    /* expand_dbname: "dbname" holds the whole URI; the later keywords add defaults. */
    const char *const keys[] = {"dbname", "connect_timeout", "application_name", NULL};
    const char *const vals[] = {s->conninfo, "10", "memori", NULL};
    PGconn *pg = PQconnectdbParams(keys, vals, 1);
    if (!pg || PQstatus(pg) != CONNECTION_OK) {
        char what[600];
        snprintf(what, sizeof what, "connecting to %s", s->redacted);
        set_pq_error(err, MR_EUNAVAIL, what, pg ? PQerrorMessage(pg) : "out of memory");
        PQfinish(pg);
        return NULL;
    }
    PQsetNoticeProcessor(pg, quiet, NULL);
    return pg;
}

/* Takes a free connection (opening one when the pool allows), waiting up to POOL_WAIT_S. */
static struct pconn *checkout(struct pg_store *s, struct mr_err *err)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += POOL_WAIT_S;
    struct pconn *c = NULL;
    pthread_mutex_lock(&s->lock);
    for (;;) {
        for (int i = 0; i < s->n_slots && !c; i++)
            if (s->conns[i].pg && !s->conns[i].in_use)
                c = &s->conns[i];
        if (!c && s->n_open < s->n_slots)
            for (int i = 0; i < s->n_slots && !c; i++)
                if (!s->conns[i].pg && !s->conns[i].in_use)
                    c = &s->conns[i];
        if (c)
            break;
        if (pthread_cond_timedwait(&s->freed, &s->lock, &deadline) != 0) {
            pthread_mutex_unlock(&s->lock);
            mr_err_set(err, MR_EUNAVAIL,
                       "database error: no free connection in %d s (DATABASE_POOL_SIZE %d + "
                       "DATABASE_MAX_OVERFLOW %d all busy)",
                       POOL_WAIT_S, s->pool_size, s->n_slots - s->pool_size);
            return NULL;
        }
    }
    c->in_use = true;
    bool fresh = !c->pg;
    if (fresh)
        s->n_open++;
    pthread_mutex_unlock(&s->lock);
    if (fresh) {
        /* Connect outside the lock: it takes a round trip or a timeout. */
        c->pg = conn_open(s, err);
        if (!c->pg || conn_setup(s, c->pg, err) != 0) {
            PQfinish(c->pg);
            pthread_mutex_lock(&s->lock);
            c->pg = NULL;
            c->in_use = false;
            s->n_open--;
            pthread_cond_signal(&s->freed);
            pthread_mutex_unlock(&s->lock);
            return NULL;
        }
    }
    return c;
}

/*
 * Returns c to the pool. A broken connection is closed (the next checkout
 * opens a new one), and so is one above pool_size: overflow connections
 * live for one transaction, as in SQLAlchemy's pool.
 */
static void checkin(struct pg_store *s, struct pconn *c)
{
    pthread_mutex_lock(&s->lock);
    bool close = PQstatus(c->pg) != CONNECTION_OK || s->n_open > s->pool_size;
    PGconn *pg = c->pg;
    if (close) {
        c->pg = NULL;
        s->n_open--;
    }
    c->in_use = false;
    pthread_cond_signal(&s->freed);
    pthread_mutex_unlock(&s->lock);
    if (close)
        PQfinish(pg);
}

static int s_begin(struct mr_store *base, int mode, struct mr_store_tx **out_tx,
                   struct mr_err *err)
{
    struct pg_store *s = (struct pg_store *)base;
    struct pconn *c = checkout(s, err);
    if (!c)
        return MR_EUNAVAIL;
    /* One round trip: the lazy commit is set for this transaction only. */
    const char *sql = mode == MR_TX_WRITE_LAZY ? "BEGIN; SET LOCAL synchronous_commit = off"
                      : mode == MR_TX_WRITE    ? "BEGIN"
                                               : "BEGIN READ ONLY";
    int rc = exec_simple(c->pg, sql, "starting a transaction", err);
    if (rc && PQstatus(c->pg) != CONNECTION_OK) {
        /* The server restarted or dropped us since this connection was last used. */
        PQreset(c->pg);
        rc = PQstatus(c->pg) == CONNECTION_OK ? conn_setup(s, c->pg, err) : MR_EUNAVAIL;
        if (rc == 0)
            rc = exec_simple(c->pg, sql, "starting a transaction", err);
        else if (PQstatus(c->pg) != CONNECTION_OK)
            set_pq_error(err, MR_EUNAVAIL, "reconnecting", PQerrorMessage(c->pg));
    }
    if (rc) {
        checkin(s, c);
        return MR_EUNAVAIL;
    }
    c->tx.base.store = base;
    c->tx.conn = c;
    *out_tx = &c->tx.base;
    return 0;
}

static void s_rollback(struct mr_store_tx *tx)
{
    struct pconn *c = tx_conn(tx);
    if (PQtransactionStatus(c->pg) != PQTRANS_IDLE)
        PQclear(PQexec(c->pg, "ROLLBACK"));
    checkin((struct pg_store *)tx->store, c);
}

static int s_commit(struct mr_store_tx *tx, struct mr_err *err)
{
    struct pconn *c = tx_conn(tx);
    if (PQtransactionStatus(c->pg) == PQTRANS_INERROR) {
        /* COMMIT of a failed transaction "succeeds" as a ROLLBACK: say what happened. */
        s_rollback(tx);
        return mr_err_set(err, MR_EUNAVAIL, "database error: the transaction failed earlier");
    }
    PGresult *res = PQexec(c->pg, "COMMIT");
    int rc = 0;
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        rc = pq_error(err, c->pg, res, "committing");
    else if (strcmp(PQcmdStatus(res), "COMMIT") != 0)
        rc = mr_err_set(err, MR_EUNAVAIL, "database error: the transaction was rolled back");
    PQclear(res);
    if (rc) {
        s_rollback(tx);
        return MR_EUNAVAIL;
    }
    checkin((struct pg_store *)tx->store, c);
    return 0;
}

/* Parameters of one statement: text values, and binary ones for vectors. */
struct params {
    int n;
    const char *vals[20];
    int lens[20];
    int fmts[20];
    char num[20][32]; /* storage for numbers formatted here */
    struct pg_buf owned[4];
    int n_owned;
    unsigned char *bin;
};

static void p_text(struct params *p, const char *v)
{
    p->vals[p->n] = v; /* NULL is SQL NULL */
    p->fmts[p->n] = 0;
    p->lens[p->n++] = 0;
}

static void p_int(struct params *p, int64_t v)
{
    snprintf(p->num[p->n], sizeof p->num[0], "%lld", (long long)v);
    p_text(p, p->num[p->n]);
}

static void p_time(struct params *p, int64_t t)
{
    if (t == MR_NO_TIME)
        p_text(p, NULL);
    else
        p_int(p, t);
}

static void p_double(struct params *p, double v)
{
    snprintf(p->num[p->n], sizeof p->num[0], "%.17g", v);
    p_text(p, p->num[p->n]);
}

static void p_bool(struct params *p, bool v)
{
    p_text(p, v ? "t" : "f");
}

static void p_strv(struct params *p, const struct mr_strv *v)
{
    struct pg_buf *b = &p->owned[p->n_owned++];
    pg_text_array(b, v);
    p_text(p, b->s);
}

static void p_vector(struct params *p, const float *v, size_t dim)
{
    free(p->bin);
    p->bin = mr_xmalloc(pg_vector_bin_size(dim));
    pg_vector_bin(v, dim, p->bin);
    p->vals[p->n] = (const char *)p->bin;
    p->lens[p->n] = (int)pg_vector_bin_size(dim);
    p->fmts[p->n++] = 1;
}

static void p_free(struct params *p)
{
    for (int i = 0; i < p->n_owned; i++)
        pg_buf_free(&p->owned[i]);
    free(p->bin);
}

/*
 * Runs prepared statement id with p (freed here). Returns the result, or
 * NULL with err set when it failed.
 */
static PGresult *run(struct mr_store_tx *tx, enum stmt_id id, struct params *p, const char *what,
                     struct mr_err *err)
{
    PGconn *pg = tx_conn(tx)->pg;
    char name[16];
    snprintf(name, sizeof name, "m%d", (int)id);
    PGresult *res = PQexecPrepared(pg, name, p->n, p->vals, p->lens, p->fmts, 0);
    p_free(p);
    ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
        return res;
    pq_error(err, pg, res, what);
    PQclear(res);
    return NULL;
}

/* Runs a statement whose rows are not needed; *out_changed = rows it affected. */
static int run_done(struct mr_store_tx *tx, enum stmt_id id, struct params *p, const char *what,
                    int64_t *out_changed, struct mr_err *err)
{
    PGresult *res = run(tx, id, p, what, err);
    if (!res)
        return err->code;
    if (out_changed)
        *out_changed = strtoll(PQcmdTuples(res), NULL, 10);
    PQclear(res);
    return 0;
}

static char *val_dup(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? NULL : mr_xstrdup(PQgetvalue(res, row, col));
}

static int64_t val_int(const PGresult *res, int row, int col)
{
    return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

static int64_t val_time(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? MR_NO_TIME : val_int(res, row, col);
}

static bool val_bool(const PGresult *res, int row, int col)
{
    return PQgetvalue(res, row, col)[0] == 't';
}

/* JSONB prints "{\"k\": 1}"; memori returns compact JSON from every store. */
static char *val_json(const PGresult *res, int row, int col)
{
    if (PQgetisnull(res, row, col))
        return mr_xstrdup("{}");
    char *compact = mr_json_compact(PQgetvalue(res, row, col));
    return compact ? compact : mr_xstrdup(PQgetvalue(res, row, col));
}

static void val_uuid(const PGresult *res, int row, int col, char out[MR_UUID_LEN])
{
    snprintf(out, MR_UUID_LEN, "%s", PQgetvalue(res, row, col));
}

/* Reads row into m (MEM_COLS order); a NULL embedding leaves dim 0. */
static int read_memory(const PGresult *res, int row, struct mr_memory *m, struct mr_err *err)
{
    memset(m, 0, sizeof *m);
    m->id = val_int(res, row, 0);
    val_uuid(res, row, 1, m->memory_id);
    val_uuid(res, row, 2, m->conversation_id);
    m->user_id = val_dup(res, row, 3);
    m->tenant_id = val_dup(res, row, 4);
    m->content = val_dup(res, row, 5);
    const char *type = PQgetvalue(res, row, 6);
    if (mr_memory_type_parse(type, strlen(type), &m->memory_type) != 0)
        goto corrupt;
    m->importance_score = strtod(PQgetvalue(res, row, 7), NULL);
    m->access_count = val_int(res, row, 8);
    m->last_accessed_at = val_time(res, row, 9);
    if (pg_parse_text_array(PQgetvalue(res, row, 10), &m->context_tags) != 0 ||
        pg_parse_text_array(PQgetvalue(res, row, 11), &m->related_entities) != 0)
        goto corrupt;
    m->metadata = val_json(res, row, 12);
    m->expires_at = val_time(res, row, 13);
    m->is_archived = val_bool(res, row, 14);
    m->created_at = val_int(res, row, 15);
    m->updated_at = val_int(res, row, 16);
    m->is_shared = val_bool(res, row, 17);
    if (!PQgetisnull(res, row, 18) &&
        !(m->embedding = pg_parse_vector(PQgetvalue(res, row, 18), &m->dim)))
        goto corrupt;
    if (!m->user_id || !m->tenant_id || !m->content)
        goto corrupt;
    return 0;
corrupt:
    mr_memory_clear(m);
    return mr_err_set(err, MR_EINTERNAL, "database row of memory %s is malformed",
                      PQgetvalue(res, row, 0));
}

static void read_conversation(const PGresult *res, int row, struct mr_conversation *c)
{
    memset(c, 0, sizeof *c);
    c->id = val_int(res, row, 0);
    val_uuid(res, row, 1, c->conversation_id);
    c->user_id = val_dup(res, row, 2);
    c->tenant_id = val_dup(res, row, 3);
    c->has_data_source_id = !PQgetisnull(res, row, 4);
    c->data_source_id = c->has_data_source_id ? val_int(res, row, 4) : 0;
    c->title = val_dup(res, row, 5);
    c->metadata = val_json(res, row, 6);
    c->is_active = val_bool(res, row, 7);
    c->last_activity_at = val_int(res, row, 8);
    c->created_at = val_int(res, row, 9);
    c->updated_at = val_int(res, row, 10);
    if (!c->user_id)
        c->user_id = mr_xstrdup("");
    if (!c->tenant_id)
        c->tenant_id = mr_xstrdup("");
}

/*
 * A UUID column refuses other text with an error that would abort the
 * transaction; an id that is no UUID names no row, so say so before asking.
 */
static bool is_uuid(const char *s)
{
    char canon[MR_UUID_LEN];
    return s && mr_uuid_parse(s, strlen(s), canon) == 0;
}

static int meta_get(struct mr_store_tx *tx, const char *key, char **out, struct mr_err *err)
{
    struct params p = {0};
    p_text(&p, key);
    *out = NULL;
    PGresult *res = run(tx, P_META_GET, &p, "reading metadata", err);
    if (!res)
        return err->code;
    if (PQntuples(res) == 1)
        *out = val_dup(res, 0, 0);
    PQclear(res);
    return 0;
}

static int meta_put(struct mr_store_tx *tx, const char *key, const char *value, struct mr_err *err)
{
    struct params p = {0};
    p_text(&p, key);
    p_text(&p, value);
    return run_done(tx, P_META_PUT, &p, "writing metadata", NULL, err);
}

/* The dimension declared on the embedding column; 0 while it has none. */
static int column_dim(PGconn *pg, int *out, struct mr_err *err)
{
    PGresult *res = PQexec(pg, "SELECT atttypmod FROM pg_attribute "
                               "WHERE attrelid = 'memori_memories'::regclass "
                               "AND attname = 'embedding'");
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        int rc = pq_error(err, pg, res, "reading the embedding column");
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
        if ((rc = exec_simple(pg, sql, "setting the embedding dimension", err)) != 0)
            return rc;
    }
    return exec_simple(pg,
                       "CREATE INDEX IF NOT EXISTS memori_memories_embedding_hnsw "
                       "ON memori_memories USING hnsw (embedding vector_cosine_ops)",
                       "creating the vector index", err);
}

static int s_set_model(struct mr_store_tx *tx, const char *model, size_t dim, struct mr_err *err)
{
    char dims[32];
    snprintf(dims, sizeof dims, "%zu", dim);
    int rc = exec_simple(tx_conn(tx)->pg, SCHEMA_LOCK, "locking the schema", err);
    if (rc == 0)
        rc = meta_put(tx, "embedding_model", model, err);
    if (rc == 0)
        rc = meta_put(tx, "embedding_dimensions", dims, err);
    if (rc == 0)
        rc = shape_embedding_column(tx_conn(tx)->pg, dim, err);
    return rc;
}

static int s_check_model(struct mr_store *base, const char *model, size_t dim,
                         struct mr_err *err)
{
    struct pg_store *s = (struct pg_store *)base;
    struct mr_store_tx *tx;
    char *have_model = NULL, *have_dim = NULL;
    int rc = s_begin(base, true, &tx, err);
    if (rc)
        return rc;
    /* Serialises with another process recording the model at the same moment. */
    if ((rc = exec_simple(tx_conn(tx)->pg, SCHEMA_LOCK, "locking the schema", err)) != 0 ||
        (rc = meta_get(tx, "embedding_model", &have_model, err)) != 0 ||
        (rc = meta_get(tx, "embedding_dimensions", &have_dim, err)) != 0)
        goto out;
    if (!have_model) {
        rc = s_set_model(tx, model, dim, err);
        goto out;
    }
    if ((rc = store_model_matches(s->redacted, have_model, have_dim, model, dim, err)) != 0)
        goto out;
    rc = shape_embedding_column(tx_conn(tx)->pg, dim, err);
out:
    free(have_model);
    free(have_dim);
    if (rc) {
        s_rollback(tx);
        return rc;
    }
    return s_commit(tx, err);
}

static int s_conv_get(struct mr_store_tx *tx, const char *id, struct mr_conversation *out,
                      struct mr_err *err)
{
    memset(out, 0, sizeof *out);
    if (!is_uuid(id))
        return mr_err_set(err, MR_ENOTFOUND, "Conversation not found");
    struct params p = {0};
    p_text(&p, id);
    PGresult *res = run(tx, P_CONV_GET, &p, "reading a conversation", err);
    if (!res)
        return err->code;
    int rc = 0;
    if (PQntuples(res) == 1)
        read_conversation(res, 0, out);
    else
        rc = mr_err_set(err, MR_ENOTFOUND, "Conversation not found");
    PQclear(res);
    return rc;
}

static void conv_params(struct params *p, const struct mr_conversation *c)
{
    if (c->has_data_source_id)
        p_int(p, c->data_source_id);
    else
        p_text(p, NULL);
    p_text(p, c->title);
    p_text(p, c->metadata ? c->metadata : "{}");
    p_bool(p, c->is_active);
}

static int s_conv_insert(struct mr_store_tx *tx, struct mr_conversation *c, struct mr_err *err)
{
    if (!is_uuid(c->conversation_id))
        return mr_err_set(err, MR_EINVAL, "conversation id %s is not a UUID", c->conversation_id);
    struct params p = {0};
    p_text(&p, c->conversation_id);
    p_text(&p, c->user_id);
    p_text(&p, c->tenant_id);
    conv_params(&p, c);
    p_int(&p, c->last_activity_at);
    p_int(&p, c->created_at);
    p_int(&p, c->updated_at);
    PGresult *res = run(tx, P_CONV_INSERT, &p, "inserting a conversation", err);
    if (!res)
        return err->code;
    int rc = 0;
    if (PQntuples(res) == 1)
        c->id = val_int(res, 0, 0);
    else
        rc = mr_err_set(err, MR_ECONFLICT, "conversation %s already exists", c->conversation_id);
    PQclear(res);
    return rc;
}

static int s_conv_update(struct mr_store_tx *tx, const struct mr_conversation *c,
                         struct mr_err *err)
{
    if (!is_uuid(c->conversation_id))
        return mr_err_set(err, MR_ENOTFOUND, "Conversation not found");
    struct params p = {0};
    int64_t changed = 0;
    p_text(&p, c->conversation_id);
    conv_params(&p, c);
    p_int(&p, c->last_activity_at);
    p_int(&p, c->updated_at);
    int rc = run_done(tx, P_CONV_UPDATE, &p, "updating a conversation", &changed, err);
    if (rc == 0 && changed == 0)
        return mr_err_set(err, MR_ENOTFOUND, "Conversation not found");
    return rc;
}

/* Deletes the row a UUID names with statement id; absent (or no UUID) is `absent`, 404. */
static int delete_by_uuid(struct mr_store_tx *tx, enum stmt_id id, const char *uuid,
                          const char *what, const char *absent, struct mr_err *err)
{
    if (!is_uuid(uuid))
        return mr_err_set(err, MR_ENOTFOUND, "%s", absent);
    struct params p = {0};
    int64_t changed = 0;
    p_text(&p, uuid);
    int rc = run_done(tx, id, &p, what, &changed, err);
    if (rc == 0 && changed == 0)
        return mr_err_set(err, MR_ENOTFOUND, "%s", absent);
    return rc;
}

static int s_conv_delete(struct mr_store_tx *tx, const char *id, struct mr_err *err)
{
    return delete_by_uuid(tx, P_CONV_DELETE, id, "deleting a conversation",
                          "Conversation not found", err);
}

static int count_rows(struct mr_store_tx *tx, enum stmt_id id, struct params *p, int64_t *out,
                      struct mr_err *err)
{
    PGresult *res = run(tx, id, p, "counting rows", err);
    if (!res)
        return err->code;
    *out = PQntuples(res) == 1 ? val_int(res, 0, 0) : 0;
    PQclear(res);
    return 0;
}

static int s_conv_list(struct mr_store_tx *tx, const struct mr_identity *who, int64_t limit,
                       int64_t offset, struct mr_conversation **out, size_t *out_n,
                       int64_t *out_total, struct mr_err *err)
{
    *out = NULL;
    *out_n = 0;
    struct params p = {0};
    p_text(&p, who->tenant_id);
    p_text(&p, who->user_id);
    int rc = count_rows(tx, P_CONV_COUNT, &p, out_total, err);
    if (rc)
        return rc;
    p = (struct params){0};
    p_text(&p, who->tenant_id);
    p_text(&p, who->user_id);
    p_int(&p, limit);
    p_int(&p, offset);
    PGresult *res = run(tx, P_CONV_LIST, &p, "listing conversations", err);
    if (!res)
        return err->code;
    int n = PQntuples(res);
    *out = mr_xcalloc((size_t)n + 1, sizeof **out);
    for (int i = 0; i < n; i++)
        read_conversation(res, i, &(*out)[i]);
    *out_n = (size_t)n;
    PQclear(res);
    return 0;
}

static int s_mem_insert(struct mr_store_tx *tx, struct mr_memory *m, struct mr_err *err)
{
    if (!is_uuid(m->memory_id) || !is_uuid(m->conversation_id))
        return mr_err_set(err, MR_EINVAL, "memory or conversation id is not a UUID");
    struct params p = {0};
    p_text(&p, m->memory_id);
    p_text(&p, m->conversation_id);
    p_text(&p, m->user_id);
    p_text(&p, m->tenant_id);
    p_text(&p, m->content);
    p_text(&p, mr_memory_type_name(m->memory_type));
    p_vector(&p, m->embedding, m->dim);
    p_double(&p, m->importance_score);
    p_int(&p, m->access_count);
    p_time(&p, m->last_accessed_at);
    p_strv(&p, &m->context_tags);
    p_strv(&p, &m->related_entities);
    p_text(&p, m->metadata ? m->metadata : "{}");
    p_time(&p, m->expires_at);
    p_bool(&p, m->is_archived);
    p_int(&p, m->created_at);
    p_int(&p, m->updated_at);
    p_bool(&p, m->is_shared);
    PGresult *res = run(tx, P_MEM_INSERT, &p, "inserting a memory", err);
    if (!res)
        return err->code;
    m->id = val_int(res, 0, 0);
    PQclear(res);
    return 0;
}

static int get_one_memory(struct mr_store_tx *tx, enum stmt_id id, struct params *p,
                          struct mr_memory *out, struct mr_err *err)
{
    PGresult *res = run(tx, id, p, "reading a memory", err);
    if (!res)
        return err->code;
    int rc = PQntuples(res) == 1 ? read_memory(res, 0, out, err)
                                 : mr_err_set(err, MR_ENOTFOUND, "Memory not found");
    PQclear(res);
    return rc;
}

static int s_mem_get(struct mr_store_tx *tx, const char *id, struct mr_memory *out,
                     struct mr_err *err)
{
    memset(out, 0, sizeof *out); /* cleared even when absent, so callers may clear it */
    if (!is_uuid(id))
        return mr_err_set(err, MR_ENOTFOUND, "Memory not found");
    struct params p = {0};
    p_text(&p, id);
    return get_one_memory(tx, P_MEM_GET, &p, out, err);
}

static int s_mem_get_by_id(struct mr_store_tx *tx, int64_t id, struct mr_memory *out,
                           struct mr_err *err)
{
    memset(out, 0, sizeof *out);
    struct params p = {0};
    p_int(&p, id);
    return get_one_memory(tx, P_MEM_GET_BY_ID, &p, out, err);
}

static int s_mem_update(struct mr_store_tx *tx, const struct mr_memory *m, bool with_embedding,
                        struct mr_err *err)
{
    struct params p = {0};
    int64_t changed = 0;
    p_int(&p, m->id);
    p_text(&p, m->content);
    p_text(&p, mr_memory_type_name(m->memory_type));
    p_double(&p, m->importance_score);
    p_int(&p, m->access_count);
    p_time(&p, m->last_accessed_at);
    p_strv(&p, &m->context_tags);
    p_strv(&p, &m->related_entities);
    p_text(&p, m->metadata ? m->metadata : "{}");
    p_time(&p, m->expires_at);
    p_bool(&p, m->is_archived);
    p_int(&p, m->updated_at);
    p_bool(&p, m->is_shared);
    int rc = run_done(tx, P_MEM_UPDATE, &p, "updating a memory", &changed, err);
    if (rc == 0 && changed == 0)
        return mr_err_set(err, MR_ENOTFOUND, "Memory not found");
    if (rc == 0 && with_embedding) {
        p = (struct params){0};
        p_int(&p, m->id);
        p_vector(&p, m->embedding, m->dim);
        rc = run_done(tx, P_MEM_UPDATE_EMB, &p, "updating an embedding", NULL, err);
    }
    return rc;
}

static int s_mem_delete(struct mr_store_tx *tx, const char *id, struct mr_err *err)
{
    return delete_by_uuid(tx, P_MEM_DELETE, id, "deleting a memory", "Memory not found", err);
}

/* Reads every row of res as a memory into a new array; frees res. */
static int read_memories(PGresult *res, struct mr_memory **out, size_t *out_n, struct mr_err *err)
{
    int n = PQntuples(res);
    struct mr_memory *v = mr_xcalloc((size_t)n + 1, sizeof *v);
    for (int i = 0; i < n; i++) {
        int rc = read_memory(res, i, &v[i], err);
        if (rc) {
            for (int j = 0; j < i; j++)
                mr_memory_clear(&v[j]);
            free(v);
            PQclear(res);
            return rc;
        }
    }
    PQclear(res);
    *out = v;
    *out_n = (size_t)n;
    return 0;
}

static int s_mem_list_by_conversation(struct mr_store_tx *tx, const char *conv, int64_t limit,
                                      int64_t offset, struct mr_memory **out, size_t *out_n,
                                      int64_t *out_total, struct mr_err *err)
{
    *out = NULL;
    *out_n = 0;
    *out_total = 0;
    if (!is_uuid(conv))
        return 0;
    struct params p = {0};
    p_text(&p, conv);
    int rc = count_rows(tx, P_MEM_COUNT_CONV, &p, out_total, err);
    if (rc)
        return rc;
    p = (struct params){0};
    p_text(&p, conv);
    p_int(&p, limit);
    p_int(&p, offset);
    PGresult *res = run(tx, P_MEM_LIST_CONV, &p, "listing memories", err);
    return res ? read_memories(res, out, out_n, err) : err->code;
}

static int s_mem_ids_by_conversation(struct mr_store_tx *tx, const char *conv, int64_t **out,
                                     size_t *out_n, struct mr_err *err)
{
    *out = NULL;
    *out_n = 0;
    if (!is_uuid(conv))
        return 0;
    struct params p = {0};
    p_text(&p, conv);
    PGresult *res = run(tx, P_MEM_IDS_CONV, &p, "listing a conversation's memories", err);
    if (!res)
        return err->code;
    int n = PQntuples(res);
    *out = mr_xcalloc((size_t)n + 1, sizeof **out);
    for (int i = 0; i < n; i++)
        (*out)[i] = val_int(res, i, 0);
    *out_n = (size_t)n;
    PQclear(res);
    return 0;
}

static int s_mem_stats(struct mr_store_tx *tx, const struct mr_identity *who, struct mr_stats *out,
                       struct mr_err *err)
{
    struct params p = {0};
    p_text(&p, who->tenant_id);
    p_text(&p, who->user_id);
    PGresult *res = run(tx, P_MEM_STATS, &p, "computing statistics", err);
    if (!res)
        return err->code;
    memset(out, 0, sizeof *out);
    out->total = val_int(res, 0, 0);
    for (int t = 0; t < MR_MEMORY_TYPE_COUNT; t++)
        out->by_type[t] = val_int(res, 0, 1 + t);
    out->archived = val_int(res, 0, 6);
    out->average_importance = strtod(PQgetvalue(res, 0, 7), NULL);
    PQclear(res);
    return 0;
}

static int s_mem_archive(struct mr_store_tx *tx, const struct mr_identity *who, int64_t cutoff,
                         int64_t now, int64_t **out_ids, char ***out_users, size_t *out_n,
                         struct mr_err *err)
{
    *out_ids = NULL;
    *out_users = NULL;
    *out_n = 0;
    struct params p = {0};
    p_text(&p, who->tenant_id);
    p_text(&p, who->user_id);
    p_int(&p, cutoff);
    p_int(&p, now);
    PGresult *res = run(tx, P_MEM_ARCHIVE, &p, "archiving memories", err);
    if (!res)
        return err->code;
    int n = PQntuples(res);
    *out_ids = mr_xcalloc((size_t)n + 1, sizeof **out_ids);
    *out_users = mr_xcalloc((size_t)n + 1, sizeof **out_users);
    for (int i = 0; i < n; i++) {
        (*out_ids)[i] = val_int(res, i, 0);
        (*out_users)[i] = val_dup(res, i, 1);
    }
    *out_n = (size_t)n;
    PQclear(res);
    return 0;
}

static int s_mem_search(struct mr_store_tx *tx, const struct mr_identity *who,
                        const struct mr_index_query *q, struct mr_memory **out, float **out_scores,
                        size_t *out_n, struct mr_err *err)
{
    *out = NULL;
    *out_scores = NULL;
    *out_n = 0;
    struct params p = {0};
    struct mr_strv types = {0};
    p_vector(&p, q->vec, q->dim);
    p_text(&p, who->tenant_id);
    p_text(&p, who->user_id);
    p_bool(&p, q->include_shared);
    if (q->conversation_id && !is_uuid(q->conversation_id)) {
        p_free(&p);
        return 0; /* no memory belongs to a conversation that cannot exist */
    }
    p_text(&p, q->conversation_id);
    if (q->type_mask) {
        for (int t = 0; t < MR_MEMORY_TYPE_COUNT; t++)
            if (q->type_mask & (1u << t)) {
                const char *name = mr_memory_type_name((enum mr_memory_type)t);
                mr_strv_push(&types, name, strlen(name));
            }
        p_strv(&p, &types);
        mr_strv_clear(&types);
    } else {
        p_text(&p, NULL);
    }
    p_bool(&p, q->include_archived);
    p_int(&p, q->now);
    p_int(&p, (int64_t)q->limit);
    PGresult *res = run(tx, P_MEM_SEARCH, &p, "searching memories", err);
    if (!res)
        return err->code;
    /* The hits above the threshold, best first. */
    int n = PQntuples(res);
    int64_t *ids = mr_xcalloc((size_t)n + 1, sizeof *ids);
    float *scores = mr_xcalloc((size_t)n + 1, sizeof *scores);
    size_t n_hits = 0;
    struct pg_buf list = {0};
    pg_buf_add(&list, "{", 1);
    for (int i = 0; i < n; i++) {
        float score = strtof(PQgetvalue(res, i, 1), NULL);
        if (score < q->min_score)
            break; /* rows come best first: the rest score lower still */
        ids[n_hits] = val_int(res, i, 0);
        scores[n_hits] = score;
        pg_buf_printf(&list, "%s%lld", n_hits ? "," : "", (long long)ids[n_hits]);
        n_hits++;
    }
    pg_buf_add(&list, "}", 1);
    PQclear(res);
    struct mr_memory *v = mr_xcalloc(n_hits + 1, sizeof *v);
    size_t kept = 0;
    int rc = 0;
    if (n_hits) {
        struct params lp = {0};
        p_text(&lp, list.s);
        res = run(tx, P_MEM_LOCK, &lp, "searching memories", err);
        rc = res ? 0 : err->code;
        /* Back into distance order; a hit deleted since the scan is gone. */
        int rows = res ? PQntuples(res) : 0;
        for (size_t h = 0; rc == 0 && h < n_hits; h++) {
            for (int r = 0; r < rows; r++) {
                if (val_int(res, r, 0) != ids[h])
                    continue;
                rc = read_memory(res, r, &v[kept], err);
                if (rc == 0)
                    scores[kept++] = scores[h];
                break;
            }
        }
        PQclear(res);
    }
    pg_buf_free(&list);
    free(ids);
    if (rc) {
        for (size_t j = 0; j < kept; j++)
            mr_memory_clear(&v[j]);
        free(v);
        free(scores);
        return rc;
    }
    *out = v;
    *out_scores = scores;
    *out_n = kept;
    return 0;
}

/* Appends one element of an int8[] literal; MR_NO_TIME is NULL. */
static void array_int(struct pg_buf *b, size_t i, int64_t v)
{
    if (i)
        pg_buf_add(b, ",", 1);
    if (v == MR_NO_TIME)
        pg_buf_add(b, "NULL", 4);
    else
        pg_buf_printf(b, "%lld", (long long)v);
}

static int s_mem_record_access(struct mr_store_tx *tx, const struct mr_memory *ms, size_t n,
                               struct mr_err *err)
{
    if (n == 0)
        return 0;
    struct params p = {0};
    struct pg_buf cols[7] = {{0}};
    for (int c = 0; c < 7; c++)
        pg_buf_add(&cols[c], "{", 1);
    for (size_t i = 0; i < n; i++) {
        array_int(&cols[0], i, ms[i].id);
        array_int(&cols[1], i, ms[i].access_count);
        array_int(&cols[2], i, ms[i].last_accessed_at);
        pg_buf_printf(&cols[3], "%s%.17g", i ? "," : "", ms[i].importance_score);
        pg_buf_printf(&cols[4], "%s%s", i ? "," : "", mr_memory_type_name(ms[i].memory_type));
        array_int(&cols[5], i, ms[i].expires_at);
        array_int(&cols[6], i, ms[i].updated_at);
    }
    for (int c = 0; c < 7; c++) {
        pg_buf_add(&cols[c], "}", 1);
        p_text(&p, cols[c].s);
    }
    int64_t changed = 0;
    int rc = run_done(tx, P_MEM_ACCESS, &p, "recording accesses", &changed, err);
    for (int c = 0; c < 7; c++)
        pg_buf_free(&cols[c]);
    if (rc == 0 && changed != (int64_t)n)
        return mr_err_set(err, MR_ENOTFOUND, "Memory not found");
    return rc;
}

/* Walks every memory through a cursor, SCAN_BATCH rows a round trip. */
static int s_mem_scan(struct mr_store_tx *tx, mr_store_scan_fn fn, void *arg, struct mr_err *err)
{
    PGconn *pg = tx_conn(tx)->pg;
    int rc = exec_simple(pg,
                         "DECLARE memori_scan NO SCROLL CURSOR FOR SELECT " MEM_COLS
                         " FROM memori_memories ORDER BY id",
                         "scanning memories", err);
    char fetch[64];
    snprintf(fetch, sizeof fetch, "FETCH %d FROM memori_scan", SCAN_BATCH);
    while (rc == 0) {
        PGresult *res = PQexec(pg, fetch);
        if (PQresultStatus(res) != PGRES_TUPLES_OK) {
            rc = pq_error(err, pg, res, "scanning memories");
            PQclear(res);
            break;
        }
        int n = PQntuples(res);
        for (int i = 0; i < n && rc == 0; i++) {
            struct mr_memory m;
            if ((rc = read_memory(res, i, &m, err)) != 0)
                break;
            rc = fn(arg, &m);
            mr_memory_clear(&m);
        }
        PQclear(res);
        if (n < SCAN_BATCH)
            break;
    }
    if (PQtransactionStatus(pg) == PQTRANS_INTRANS)
        exec_simple(pg, "CLOSE memori_scan", "scanning memories", rc ? NULL : err);
    return rc;
}

static int s_health(struct mr_store *base, struct mr_err *err)
{
    struct mr_store_tx *tx;
    int rc = s_begin(base, false, &tx, err);
    if (rc)
        return rc;
    char *v = NULL;
    rc = meta_get(tx, "embedding_model", &v, err);
    free(v);
    s_rollback(tx);
    return rc;
}

static void s_close(struct mr_store *base)
{
    struct pg_store *s = (struct pg_store *)base;
    for (int i = 0; i < s->n_slots; i++)
        PQfinish(s->conns[i].pg);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->freed);
    free(s->conns);
    free(s->conninfo);
    free(s->redacted);
    free(s);
}

static const struct mr_store_ops postgres_ops = {
    .name = "postgres",
    .begin = s_begin,
    .commit = s_commit,
    .rollback = s_rollback,
    .check_model = s_check_model,
    .set_model = s_set_model,
    .conv_get = s_conv_get,
    .conv_insert = s_conv_insert,
    .conv_update = s_conv_update,
    .conv_delete = s_conv_delete,
    .conv_list = s_conv_list,
    .mem_insert = s_mem_insert,
    .mem_get = s_mem_get,
    .mem_get_by_id = s_mem_get_by_id,
    .mem_update = s_mem_update,
    .mem_delete = s_mem_delete,
    .mem_list_by_conversation = s_mem_list_by_conversation,
    .mem_ids_by_conversation = s_mem_ids_by_conversation,
    .mem_stats = s_mem_stats,
    .mem_archive = s_mem_archive,
    .mem_search = s_mem_search,
    .mem_record_access = s_mem_record_access,
    .mem_scan = s_mem_scan,
    .health = s_health,
    .close = s_close,
};

/* Applies the migrations not yet applied, in one transaction under the schema lock. */
static int migrate(struct pg_store *s, PGconn *pg, struct mr_err *err)
{
    int rc = exec_simple(pg, "BEGIN", "migrating the schema", err);
    if (rc == 0)
        rc = exec_simple(pg, SCHEMA_LOCK, "locking the schema", err);
    if (rc == 0)
        rc = exec_simple(pg, "CREATE TABLE IF NOT EXISTS memori_schema (version INTEGER NOT NULL)",
                         "migrating the schema", err);
    int version = 0;
    if (rc == 0) {
        PGresult *res = PQexec(pg, "SELECT max(version) FROM memori_schema");
        if (PQresultStatus(res) != PGRES_TUPLES_OK)
            rc = pq_error(err, pg, res, "reading the schema version");
        else if (!PQgetisnull(res, 0, 0))
            version = atoi(PQgetvalue(res, 0, 0));
        PQclear(res);
    }
    if (rc == 0 && version > N_MIGRATIONS)
        rc = mr_err_set(err, MR_ECONFLICT,
                        "database %s has schema version %d, newer than this memori "
                        "(knows up to %d); upgrade memori",
                        s->redacted, version, N_MIGRATIONS);
    for (int v = version; rc == 0 && v < N_MIGRATIONS; v++) {
        char sql[96];
        rc = exec_simple(pg, migrations[v], "migrating the schema", err);
        snprintf(sql, sizeof sql, "DELETE FROM memori_schema; INSERT INTO memori_schema VALUES (%d)",
                 v + 1);
        if (rc == 0)
            rc = exec_simple(pg, sql, "migrating the schema", err);
    }
    if (rc == 0)
        return exec_simple(pg, "COMMIT", "migrating the schema", err);
    PQclear(PQexec(pg, "ROLLBACK"));
    return rc;
}

struct mr_store *mr_store_postgres_open(const char *url, int pool_size, int max_overflow,
                                        int ef_search, struct mr_err *err)
{
    if (pool_size < 1)
        pool_size = 1;
    if (max_overflow < 0)
        max_overflow = 0;
    struct pg_store *s = mr_xcalloc(1, sizeof *s);
    s->base.ops = &postgres_ops;
    s->conninfo = pg_conninfo_from_url(url);
    s->redacted = pg_url_redacted(url);
    s->ef_search = ef_search;
    s->pool_size = pool_size;
    s->n_slots = pool_size + max_overflow;
    s->conns = mr_xcalloc((size_t)s->n_slots, sizeof *s->conns);
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->freed, NULL);

    /* The first connection migrates the schema, then prepares and joins the pool. */
    PGconn *pg = conn_open(s, err);
    if (!pg)
        goto fail;
    if (migrate(s, pg, err) != 0 || conn_setup(s, pg, err) != 0) {
        PQfinish(pg);
        goto fail;
    }
    s->conns[0].pg = pg;
    s->n_open = 1;
    return &s->base;
fail:
    s_close(&s->base);
    return NULL;
}
