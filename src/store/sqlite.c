/*
 * sqlite.c — the embedded store: SQLite in WAL mode with a small pool of
 * connections, prepared statements cached per connection, one transaction
 * per request and a schema versioned through PRAGMA user_version.
 *
 * Why a pool: WAL lets readers run beside the one writer, so searches and
 * reads of many HTTP threads proceed in parallel; writers take the write
 * lock at BEGIN (BEGIN IMMEDIATE) so two writers never deadlock upgrading.
 *
 * Why a writer mutex in front of BEGIN IMMEDIATE: SQLite's busy handler
 * polls with sleeps of 1, 2, 5, 10 … 100 ms, so writers of one process
 * queueing on the database lock wait tens of milliseconds for a lock held
 * for a fraction of one. Writers of this process queue on a mutex instead
 * and get the lock the moment it is released; the busy handler is left for
 * another process (`memori reembed`, a checkpoint) holding the file.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memori/store.h"
#include "store_int.h"

enum stmt_id {
    ST_META_GET,
    ST_META_PUT,
    ST_CONV_GET,
    ST_CONV_INSERT,
    ST_CONV_UPDATE,
    ST_CONV_DELETE,
    ST_CONV_LIST,
    ST_CONV_COUNT,
    ST_MEM_INSERT,
    ST_MEM_GET,
    ST_MEM_GET_BY_ID,
    ST_MEM_UPDATE,
    ST_MEM_UPDATE_EMB,
    ST_MEM_ACCESS,
    ST_MEM_ACCESS_FULL,
    ST_MEM_DELETE,
    ST_MEM_LIST_CONV,
    ST_MEM_COUNT_CONV,
    ST_MEM_IDS_CONV,
    ST_MEM_STATS,
    ST_MEM_ARCHIVE,
    ST_MEM_SCAN,
    ST_COUNT
};

#define MEM_COLS                                                                                   \
    "id, memory_id, conversation_id, user_id, tenant_id, content, memory_type, embedding, "        \
    "importance_score, access_count, last_accessed_at, context_tags, related_entities, "           \
    "metadata, expires_at, is_archived, created_at, updated_at, is_shared"
#define CONV_COLS                                                                                  \
    "id, conversation_id, user_id, tenant_id, data_source_id, title, metadata, is_active, "        \
    "last_activity_at, created_at, updated_at"

static const char *const stmt_sql[ST_COUNT] = {
    [ST_META_GET] = "SELECT value FROM meta WHERE key = ?1",
    [ST_META_PUT] = "INSERT INTO meta(key, value) VALUES (?1, ?2) "
                    "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
    [ST_CONV_GET] = "SELECT " CONV_COLS " FROM conversations WHERE conversation_id = ?1",
    [ST_CONV_INSERT] = "INSERT INTO conversations(conversation_id, user_id, tenant_id, "
                       "data_source_id, title, metadata, is_active, last_activity_at, "
                       "created_at, updated_at) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10)",
    [ST_CONV_UPDATE] = "UPDATE conversations SET data_source_id=?2, title=?3, metadata=?4, "
                       "is_active=?5, last_activity_at=?6, updated_at=?7 "
                       "WHERE conversation_id=?1",
    [ST_CONV_DELETE] = "DELETE FROM conversations WHERE conversation_id = ?1",
    [ST_CONV_LIST] = "SELECT " CONV_COLS " FROM conversations WHERE tenant_id=?1 AND user_id=?2 "
                     "ORDER BY last_activity_at DESC, id DESC LIMIT ?3 OFFSET ?4",
    [ST_CONV_COUNT] = "SELECT count(*) FROM conversations WHERE tenant_id=?1 AND user_id=?2",
    [ST_MEM_INSERT] = "INSERT INTO memories(memory_id, conversation_id, user_id, tenant_id, "
                      "content, memory_type, embedding, importance_score, access_count, "
                      "last_accessed_at, context_tags, related_entities, metadata, expires_at, "
                      "is_archived, created_at, updated_at, is_shared) "
                      "VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18)",
    [ST_MEM_GET] = "SELECT " MEM_COLS " FROM memories WHERE memory_id = ?1",
    [ST_MEM_GET_BY_ID] = "SELECT " MEM_COLS " FROM memories WHERE id = ?1",
    [ST_MEM_UPDATE] = "UPDATE memories SET content=?2, memory_type=?3, importance_score=?4, "
                      "access_count=?5, last_accessed_at=?6, context_tags=?7, "
                      "related_entities=?8, metadata=?9, expires_at=?10, is_archived=?11, "
                      "updated_at=?12, is_shared=?13 WHERE id=?1",
    [ST_MEM_UPDATE_EMB] = "UPDATE memories SET embedding=?2 WHERE id=?1",
    /*
     * A search hit's statistics. Type and expiry are matched, not set: an
     * UPDATE that names memory_type rewrites the row's memories_owner entry
     * too, doubling the pages each search dirties. A row whose type or expiry
     * did change (a promotion) matches nothing here and takes ST_MEM_ACCESS_FULL.
     */
    [ST_MEM_ACCESS] = "UPDATE memories SET importance_score=?2, access_count=?3, "
                      "last_accessed_at=?4, updated_at=?5 "
                      "WHERE id=?1 AND memory_type=?6 AND expires_at IS ?7",
    [ST_MEM_ACCESS_FULL] = "UPDATE memories SET importance_score=?2, access_count=?3, "
                           "last_accessed_at=?4, updated_at=?5, memory_type=?6, expires_at=?7 "
                           "WHERE id=?1",
    [ST_MEM_DELETE] = "DELETE FROM memories WHERE memory_id = ?1",
    [ST_MEM_LIST_CONV] = "SELECT " MEM_COLS " FROM memories WHERE conversation_id=?1 "
                         "ORDER BY created_at, id LIMIT ?2 OFFSET ?3",
    [ST_MEM_COUNT_CONV] = "SELECT count(*) FROM memories WHERE conversation_id=?1",
    [ST_MEM_IDS_CONV] = "SELECT id FROM memories WHERE conversation_id=?1",
    [ST_MEM_STATS] = "SELECT count(*), "
                     "sum(memory_type='short_term'), sum(memory_type='long_term'), "
                     "sum(memory_type='rule'), sum(memory_type='entity'), "
                     "sum(memory_type='relationship'), sum(is_archived), avg(importance_score) "
                     "FROM memories WHERE tenant_id=?1 AND (?2 IS NULL OR user_id=?2)",
    [ST_MEM_ARCHIVE] = "UPDATE memories SET is_archived=1, updated_at=?4 "
                       "WHERE tenant_id=?1 AND (?2 IS NULL OR user_id=?2) "
                       "AND memory_type='short_term' "
                       "AND is_archived=0 AND created_at < ?3 AND importance_score < 0.3 "
                       "AND access_count < 2 RETURNING id, user_id",
    [ST_MEM_SCAN] = "SELECT " MEM_COLS " FROM memories ORDER BY id",
};

/* Schema migrations, applied in order; user_version counts those applied. */
static const char *const migrations[] = {
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
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
    /* 2: memories an owner shares with the tenant (TENANT_ISOLATION_LEVEL=relaxed). */
    "ALTER TABLE memories ADD COLUMN is_shared INTEGER NOT NULL DEFAULT 0;",
};
#define N_MIGRATIONS ((int)(sizeof migrations / sizeof migrations[0]))

struct conn;

struct sqlite_tx {
    struct mr_store_tx base;
    struct conn *conn;
};

struct conn {
    sqlite3 *db;
    sqlite3_stmt *stmts[ST_COUNT];
    bool in_use;
    bool lazy;    /* synchronous=NORMAL set (MR_TX_WRITE_LAZY), else FULL */
    bool writing; /* holds the store's writer mutex */
    struct sqlite_tx tx;
};

struct sqlite_store {
    struct mr_store base;
    char *path;
    pthread_mutex_t lock;
    pthread_mutex_t writer; /* one write transaction of this process at a time */
    pthread_cond_t freed;
    struct conn *conns;
    int n_open, max_conns;
    /*
     * Checkpoints run on their own thread and connection, not inside the
     * commit that happened to cross the threshold: a checkpoint fsyncs the
     * database file, and a request should not wait for that.
     */
    pthread_t checkpointer;
    bool has_checkpointer, stopping;
    int wal_pages; /* the WAL's size after the last commit (under lock) */
    pthread_cond_t wal_grew;
};

#define CHECKPOINT_PAGES 1000 /* SQLite's own auto-checkpoint threshold */

static int db_error(struct mr_err *err, sqlite3 *db, int rc, const char *what)
{
    int prim = rc & 0xff;
    int code = MR_EUNAVAIL;
    if (prim == SQLITE_CONSTRAINT)
        code = MR_ECONFLICT;
    else if (prim == SQLITE_MISUSE || prim == SQLITE_RANGE)
        code = MR_EINTERNAL;
    return mr_err_set(err, code, "database error while %s: %s", what,
                      db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
}

/* Encodes a string array as (u32 length, bytes)* — simple, exact and JSON-free. */
static void *strv_encode(const struct mr_strv *v, size_t *out_len)
{
    size_t total = 0;
    for (size_t i = 0; i < v->len; i++)
        total += 4 + strlen(v->items[i]);
    unsigned char *buf = mr_xmalloc(total), *p = buf;
    for (size_t i = 0; i < v->len; i++) {
        uint32_t n = (uint32_t)strlen(v->items[i]);
        p[0] = (unsigned char)n;
        p[1] = (unsigned char)(n >> 8);
        p[2] = (unsigned char)(n >> 16);
        p[3] = (unsigned char)(n >> 24);
        memcpy(p + 4, v->items[i], n);
        p += 4 + n;
    }
    *out_len = total;
    return buf;
}

static int strv_decode(const unsigned char *p, size_t len, struct mr_strv *out)
{
    size_t i = 0;
    while (i < len) {
        if (len - i < 4)
            return -1;
        uint32_t n = (uint32_t)p[i] | (uint32_t)p[i + 1] << 8 | (uint32_t)p[i + 2] << 16 |
                     (uint32_t)p[i + 3] << 24;
        i += 4;
        if (n > len - i)
            return -1;
        mr_strv_push(out, (const char *)p + i, n);
        i += n;
    }
    return 0;
}

static char *col_text(sqlite3_stmt *st, int col)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    return t ? mr_xstrndup((const char *)t, (size_t)sqlite3_column_bytes(st, col)) : NULL;
}

static void col_uuid(sqlite3_stmt *st, int col, char out[MR_UUID_LEN])
{
    const unsigned char *t = sqlite3_column_text(st, col);
    snprintf(out, MR_UUID_LEN, "%s", t ? (const char *)t : "");
}

static int64_t col_time_or_null(sqlite3_stmt *st, int col)
{
    return sqlite3_column_type(st, col) == SQLITE_NULL ? MR_NO_TIME : sqlite3_column_int64(st, col);
}

static int read_memory(sqlite3_stmt *st, struct mr_memory *m, struct mr_err *err)
{
    memset(m, 0, sizeof *m);
    m->id = sqlite3_column_int64(st, 0);
    col_uuid(st, 1, m->memory_id);
    col_uuid(st, 2, m->conversation_id);
    m->user_id = col_text(st, 3);
    m->tenant_id = col_text(st, 4);
    m->content = col_text(st, 5);
    const char *type = (const char *)sqlite3_column_text(st, 6);
    if (!type || mr_memory_type_parse(type, strlen(type), &m->memory_type) != 0)
        goto corrupt;
    int eb = sqlite3_column_bytes(st, 7);
    if (eb <= 0 || eb % (int)sizeof(float) != 0)
        goto corrupt;
    m->dim = (size_t)eb / sizeof(float);
    m->embedding = mr_xmalloc((size_t)eb);
    memcpy(m->embedding, sqlite3_column_blob(st, 7), (size_t)eb);
    m->importance_score = sqlite3_column_double(st, 8);
    m->access_count = sqlite3_column_int64(st, 9);
    m->last_accessed_at = col_time_or_null(st, 10);
    if (strv_decode(sqlite3_column_blob(st, 11), (size_t)sqlite3_column_bytes(st, 11),
                    &m->context_tags) != 0 ||
        strv_decode(sqlite3_column_blob(st, 12), (size_t)sqlite3_column_bytes(st, 12),
                    &m->related_entities) != 0)
        goto corrupt;
    m->metadata = col_text(st, 13);
    if (!m->metadata)
        m->metadata = mr_xstrdup("{}");
    m->expires_at = col_time_or_null(st, 14);
    m->is_archived = sqlite3_column_int(st, 15) != 0;
    m->is_shared = sqlite3_column_int(st, 18) != 0;
    m->created_at = sqlite3_column_int64(st, 16);
    m->updated_at = sqlite3_column_int64(st, 17);
    if (!m->user_id || !m->tenant_id || !m->content)
        goto corrupt;
    return 0;
corrupt:
    mr_memory_clear(m);
    return mr_err_set(err, MR_EINTERNAL, "database row of memory %lld is malformed",
                      (long long)sqlite3_column_int64(st, 0));
}

static void read_conversation(sqlite3_stmt *st, struct mr_conversation *c)
{
    memset(c, 0, sizeof *c);
    c->id = sqlite3_column_int64(st, 0);
    col_uuid(st, 1, c->conversation_id);
    c->user_id = col_text(st, 2);
    c->tenant_id = col_text(st, 3);
    c->has_data_source_id = sqlite3_column_type(st, 4) != SQLITE_NULL;
    c->data_source_id = sqlite3_column_int64(st, 4);
    c->title = col_text(st, 5);
    c->metadata = col_text(st, 6);
    if (!c->metadata)
        c->metadata = mr_xstrdup("{}");
    c->is_active = sqlite3_column_int(st, 7) != 0;
    c->last_activity_at = sqlite3_column_int64(st, 8);
    c->created_at = sqlite3_column_int64(st, 9);
    c->updated_at = sqlite3_column_int64(st, 10);
    if (!c->user_id)
        c->user_id = mr_xstrdup("");
    if (!c->tenant_id)
        c->tenant_id = mr_xstrdup("");
}

static struct conn *tx_conn(struct mr_store_tx *tx)
{
    return ((struct sqlite_tx *)tx)->conn;
}

/* The cached statement id of tx's connection, reset and unbound. */
static sqlite3_stmt *stmt(struct mr_store_tx *tx, enum stmt_id id)
{
    sqlite3_stmt *st = tx_conn(tx)->stmts[id];
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return st;
}

static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
    if (s)
        sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, i);
}

static void bind_time(sqlite3_stmt *st, int i, int64_t t)
{
    if (t == MR_NO_TIME)
        sqlite3_bind_null(st, i);
    else
        sqlite3_bind_int64(st, i, t);
}

/* Runs a statement that returns no rows; returns 0 or an error. */
static int exec_done(struct mr_store_tx *tx, sqlite3_stmt *st, const char *what, struct mr_err *err)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return db_error(err, tx_conn(tx)->db, rc, what);
    return 0;
}

/* After each commit (in the committing thread): wakes the checkpointer when the WAL is large. */
static int wal_committed(void *arg, sqlite3 *db, const char *name, int pages)
{
    (void)db, (void)name;
    struct sqlite_store *s = arg;
    pthread_mutex_lock(&s->lock);
    s->wal_pages = pages;
    if (pages >= CHECKPOINT_PAGES)
        pthread_cond_signal(&s->wal_grew);
    pthread_mutex_unlock(&s->lock);
    return SQLITE_OK;
}

static int conn_open(struct sqlite_store *s, struct conn *c, struct mr_err *err)
{
    memset(c, 0, sizeof *c);
    int rc = sqlite3_open_v2(
        s->path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        mr_err_set(err, MR_EUNAVAIL, "cannot open database %s: %s", s->path,
                   c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
        sqlite3_close(c->db);
        c->db = NULL;
        return err ? err->code : MR_EUNAVAIL;
    }
    sqlite3_extended_result_codes(c->db, 1);
    /* The checkpointer thread does it (sqlite_store); every commit reports the WAL size. */
    sqlite3_wal_autocheckpoint(c->db, 0);
    sqlite3_wal_hook(c->db, wal_committed, s);
    /* Writers wait for each other rather than failing at once. */
    sqlite3_busy_timeout(c->db, 10000);
    /*
     * WAL with synchronous=FULL: a transaction acknowledged to a client has
     * reached the disk (NORMAL could lose the last ones on power loss).
     */
    rc = sqlite3_exec(c->db,
                      "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; "
                      "PRAGMA foreign_keys=ON; PRAGMA temp_store=MEMORY;",
                      NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        db_error(err, c->db, rc, "configuring the connection");
        sqlite3_close(c->db);
        c->db = NULL;
        return MR_EUNAVAIL;
    }
    return 0;
}

static int conn_prepare(struct conn *c, struct mr_err *err)
{
    for (int i = 0; i < ST_COUNT; i++) {
        int rc = sqlite3_prepare_v3(c->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &c->stmts[i],
                                    NULL);
        if (rc != SQLITE_OK)
            return db_error(err, c->db, rc, "preparing statements");
    }
    return 0;
}

static void conn_close(struct conn *c)
{
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(c->stmts[i]);
    sqlite3_close(c->db);
    memset(c, 0, sizeof *c);
}

static int migrate(struct sqlite_store *s, sqlite3 *db, struct mr_err *err)
{
    sqlite3_stmt *st = NULL;
    int version = 0;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    if (version > N_MIGRATIONS)
        return mr_err_set(err, MR_ECONFLICT,
                          "database %s has schema version %d, newer than this memori "
                          "(knows up to %d); upgrade memori",
                          s->path, version, N_MIGRATIONS);
    for (int v = version; v < N_MIGRATIONS; v++) {
        char pragma[64];
        snprintf(pragma, sizeof pragma, "PRAGMA user_version=%d;", v + 1);
        int rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
        if (rc == SQLITE_OK)
            rc = sqlite3_exec(db, migrations[v], NULL, NULL, NULL);
        if (rc == SQLITE_OK)
            rc = sqlite3_exec(db, pragma, NULL, NULL, NULL);
        if (rc == SQLITE_OK)
            rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
        if (rc != SQLITE_OK) {
            db_error(err, db, rc, "migrating the schema");
            sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
            return MR_EUNAVAIL;
        }
    }
    return 0;
}

static int s_begin(struct mr_store *base, int mode, struct mr_store_tx **out_tx,
                   struct mr_err *err)
{
    struct sqlite_store *s = (struct sqlite_store *)base;
    struct conn *c = NULL;
    pthread_mutex_lock(&s->lock);
    for (;;) {
        for (int i = 0; i < s->n_open && !c; i++)
            if (!s->conns[i].in_use)
                c = &s->conns[i];
        if (c || s->n_open < s->max_conns)
            break;
        pthread_cond_wait(&s->freed, &s->lock);
    }
    if (!c) {
        c = &s->conns[s->n_open];
        if (conn_open(s, c, err) != 0 || conn_prepare(c, err) != 0) {
            if (c->db)
                conn_close(c);
            pthread_mutex_unlock(&s->lock);
            return err ? err->code : MR_EUNAVAIL;
        }
        s->n_open++;
    }
    c->in_use = true;
    pthread_mutex_unlock(&s->lock);

    /* The durability of this commit; settable only between transactions. */
    bool lazy = mode == MR_TX_WRITE_LAZY;
    int rc = SQLITE_OK;
    if (lazy != c->lazy) {
        rc = sqlite3_exec(c->db, lazy ? "PRAGMA synchronous=NORMAL" : "PRAGMA synchronous=FULL",
                          NULL, NULL, NULL);
        if (rc == SQLITE_OK)
            c->lazy = lazy;
    }
    if (rc == SQLITE_OK && mode != MR_TX_READ) {
        pthread_mutex_lock(&s->writer);
        c->writing = true;
    }
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(c->db, mode != MR_TX_READ ? "BEGIN IMMEDIATE" : "BEGIN", NULL, NULL,
                          NULL);
    if (rc != SQLITE_OK) {
        db_error(err, c->db, rc, "starting a transaction");
        if (c->writing) {
            c->writing = false;
            pthread_mutex_unlock(&s->writer);
        }
        pthread_mutex_lock(&s->lock);
        c->in_use = false;
        pthread_cond_signal(&s->freed);
        pthread_mutex_unlock(&s->lock);
        return MR_EUNAVAIL;
    }
    c->tx.base.store = base;
    c->tx.conn = c;
    *out_tx = &c->tx.base;
    return 0;
}

static void release(struct mr_store_tx *tx)
{
    struct sqlite_store *s = (struct sqlite_store *)tx->store;
    struct conn *c = tx_conn(tx);
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_reset(c->stmts[i]);
    if (c->writing) {
        c->writing = false;
        pthread_mutex_unlock(&s->writer);
    }
    pthread_mutex_lock(&s->lock);
    c->in_use = false;
    pthread_cond_signal(&s->freed);
    pthread_mutex_unlock(&s->lock);
}

static void s_rollback(struct mr_store_tx *tx)
{
    struct conn *c = tx_conn(tx);
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_reset(c->stmts[i]);
    if (!sqlite3_get_autocommit(c->db))
        sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
    release(tx);
}

static int s_commit(struct mr_store_tx *tx, struct mr_err *err)
{
    struct conn *c = tx_conn(tx);
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_reset(c->stmts[i]);
    int rc = sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        db_error(err, c->db, rc, "committing");
        s_rollback(tx);
        return MR_EUNAVAIL;
    }
    release(tx);
    return 0;
}

static int meta_get(struct mr_store_tx *tx, const char *key, char **out, struct mr_err *err)
{
    sqlite3_stmt *st = stmt(tx, ST_META_GET);
    bind_text(st, 1, key);
    int rc = sqlite3_step(st);
    *out = NULL;
    if (rc == SQLITE_ROW)
        *out = col_text(st, 0);
    else if (rc != SQLITE_DONE)
        return db_error(err, tx_conn(tx)->db, rc, "reading metadata");
    sqlite3_reset(st);
    return 0;
}

static int meta_put(struct mr_store_tx *tx, const char *key, const char *value, struct mr_err *err)
{
    sqlite3_stmt *st = stmt(tx, ST_META_PUT);
    bind_text(st, 1, key);
    bind_text(st, 2, value);
    return exec_done(tx, st, "writing metadata", err);
}

static int s_set_model(struct mr_store_tx *tx, const char *model, size_t dim, struct mr_err *err)
{
    char dims[32];
    snprintf(dims, sizeof dims, "%zu", dim);
    int rc = meta_put(tx, "embedding_model", model, err);
    return rc ? rc : meta_put(tx, "embedding_dimensions", dims, err);
}

static int s_check_model(struct mr_store *s, const char *model, size_t dim, struct mr_err *err)
{
    struct mr_store_tx *tx;
    char *have_model = NULL, *have_dim = NULL;
    int rc = s_begin(s, true, &tx, err);
    if (rc)
        return rc;
    if ((rc = meta_get(tx, "embedding_model", &have_model, err)) != 0 ||
        (rc = meta_get(tx, "embedding_dimensions", &have_dim, err)) != 0)
        goto out;
    if (!have_model) {
        rc = s_set_model(tx, model, dim, err);
        goto out;
    }
    rc = store_model_matches(((struct sqlite_store *)s)->path, have_model, have_dim, model, dim,
                             err);
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
    sqlite3_stmt *st = stmt(tx, ST_CONV_GET);
    bind_text(st, 1, id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        read_conversation(st, out);
        sqlite3_reset(st);
        return 0;
    }
    sqlite3_reset(st);
    if (rc == SQLITE_DONE)
        return mr_err_set(err, MR_ENOTFOUND, "Conversation not found");
    return db_error(err, tx_conn(tx)->db, rc, "reading a conversation");
}

static int s_conv_insert(struct mr_store_tx *tx, struct mr_conversation *c, struct mr_err *err)
{
    sqlite3_stmt *st = stmt(tx, ST_CONV_INSERT);
    bind_text(st, 1, c->conversation_id);
    bind_text(st, 2, c->user_id);
    bind_text(st, 3, c->tenant_id);
    if (c->has_data_source_id)
        sqlite3_bind_int64(st, 4, c->data_source_id);
    bind_text(st, 5, c->title);
    bind_text(st, 6, c->metadata ? c->metadata : "{}");
    sqlite3_bind_int(st, 7, c->is_active);
    sqlite3_bind_int64(st, 8, c->last_activity_at);
    sqlite3_bind_int64(st, 9, c->created_at);
    sqlite3_bind_int64(st, 10, c->updated_at);
    int rc = exec_done(tx, st, "inserting a conversation", err);
    if (rc == MR_ECONFLICT)
        return mr_err_set(err, MR_ECONFLICT, "conversation %s already exists", c->conversation_id);
    if (rc == 0)
        c->id = sqlite3_last_insert_rowid(tx_conn(tx)->db);
    return rc;
}

static int s_conv_update(struct mr_store_tx *tx, const struct mr_conversation *c,
                         struct mr_err *err)
{
    sqlite3_stmt *st = stmt(tx, ST_CONV_UPDATE);
    bind_text(st, 1, c->conversation_id);
    if (c->has_data_source_id)
        sqlite3_bind_int64(st, 2, c->data_source_id);
    bind_text(st, 3, c->title);
    bind_text(st, 4, c->metadata ? c->metadata : "{}");
    sqlite3_bind_int(st, 5, c->is_active);
    sqlite3_bind_int64(st, 6, c->last_activity_at);
    sqlite3_bind_int64(st, 7, c->updated_at);
    int rc = exec_done(tx, st, "updating a conversation", err);
    if (rc == 0 && sqlite3_changes(tx_conn(tx)->db) == 0)
        return mr_err_set(err, MR_ENOTFOUND, "Conversation not found");
    return rc;
}

static int s_conv_delete(struct mr_store_tx *tx, const char *id, struct mr_err *err)
{
    sqlite3_stmt *st = stmt(tx, ST_CONV_DELETE);
    bind_text(st, 1, id);
    int rc = exec_done(tx, st, "deleting a conversation", err);
    if (rc == 0 && sqlite3_changes(tx_conn(tx)->db) == 0)
        return mr_err_set(err, MR_ENOTFOUND, "Conversation not found");
    return rc;
}

/* Runs a one-row count statement already bound. */
static int count_rows(struct mr_store_tx *tx, sqlite3_stmt *st, int64_t *out, struct mr_err *err)
{
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sqlite3_reset(st);
        return db_error(err, tx_conn(tx)->db, rc, "counting rows");
    }
    *out = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return 0;
}

/* Reads one row into the array slot; 0 or an error. */
typedef int (*row_reader)(sqlite3_stmt *st, void *slot, struct mr_err *err);
typedef void (*slot_clear)(void *slot);

/*
 * Steps st to the end, reading every row into a growing array of elem-sized
 * slots. On failure frees what it read and returns the error.
 */
static int collect_rows(struct mr_store_tx *tx, sqlite3_stmt *st, size_t elem, row_reader read,
                        slot_clear clear, void **out, size_t *out_n, const char *what,
                        struct mr_err *err)
{
    char *v = NULL;
    size_t n = 0, cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            v = mr_xrealloc(v, cap * elem);
        }
        if ((rc = read(st, v + n * elem, err)) != 0)
            break;
        n++;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        for (size_t i = 0; i < n; i++)
            clear(v + i * elem);
        free(v);
        *out = NULL;
        *out_n = 0;
        return rc < 0 ? rc : db_error(err, tx_conn(tx)->db, rc, what);
    }
    *out = v;
    *out_n = n;
    return 0;
}

static int read_conversation_row(sqlite3_stmt *st, void *slot, struct mr_err *err)
{
    (void)err;
    read_conversation(st, slot);
    return 0;
}

static int read_memory_row(sqlite3_stmt *st, void *slot, struct mr_err *err)
{
    return read_memory(st, slot, err);
}

static void clear_conversation(void *slot)
{
    mr_conversation_clear(slot);
}
static void clear_memory(void *slot)
{
    mr_memory_clear(slot);
}

static int s_conv_list(struct mr_store_tx *tx, const struct mr_identity *who, int64_t limit,
                       int64_t offset, struct mr_conversation **out, size_t *out_n,
                       int64_t *out_total, struct mr_err *err)
{
    *out = NULL;
    *out_n = 0;
    sqlite3_stmt *st = stmt(tx, ST_CONV_COUNT);
    bind_text(st, 1, who->tenant_id);
    bind_text(st, 2, who->user_id);
    int rc = count_rows(tx, st, out_total, err);
    if (rc)
        return rc;
    st = stmt(tx, ST_CONV_LIST);
    bind_text(st, 1, who->tenant_id);
    bind_text(st, 2, who->user_id);
    sqlite3_bind_int64(st, 3, limit);
    sqlite3_bind_int64(st, 4, offset);
    return collect_rows(tx, st, sizeof **out, read_conversation_row, clear_conversation,
                        (void **)out, out_n, "listing conversations", err);
}

static int s_mem_insert(struct mr_store_tx *tx, struct mr_memory *m, struct mr_err *err)
{
    size_t tl, el;
    void *tags = strv_encode(&m->context_tags, &tl);
    void *ents = strv_encode(&m->related_entities, &el);
    sqlite3_stmt *st = stmt(tx, ST_MEM_INSERT);
    bind_text(st, 1, m->memory_id);
    bind_text(st, 2, m->conversation_id);
    bind_text(st, 3, m->user_id);
    bind_text(st, 4, m->tenant_id);
    bind_text(st, 5, m->content);
    bind_text(st, 6, mr_memory_type_name(m->memory_type));
    sqlite3_bind_blob(st, 7, m->embedding, (int)(m->dim * sizeof(float)), SQLITE_TRANSIENT);
    sqlite3_bind_double(st, 8, m->importance_score);
    sqlite3_bind_int64(st, 9, m->access_count);
    bind_time(st, 10, m->last_accessed_at);
    sqlite3_bind_blob(st, 11, tags, (int)tl, SQLITE_TRANSIENT);
    sqlite3_bind_blob(st, 12, ents, (int)el, SQLITE_TRANSIENT);
    bind_text(st, 13, m->metadata ? m->metadata : "{}");
    bind_time(st, 14, m->expires_at);
    sqlite3_bind_int(st, 15, m->is_archived);
    sqlite3_bind_int64(st, 16, m->created_at);
    sqlite3_bind_int64(st, 17, m->updated_at);
    sqlite3_bind_int(st, 18, m->is_shared);
    free(tags);
    free(ents);
    int rc = exec_done(tx, st, "inserting a memory", err);
    if (rc == 0)
        m->id = sqlite3_last_insert_rowid(tx_conn(tx)->db);
    return rc;
}

static int get_one_memory(struct mr_store_tx *tx, sqlite3_stmt *st, struct mr_memory *out,
                          struct mr_err *err)
{
    memset(out, 0, sizeof *out); /* cleared even when absent, so callers may clear it */
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        rc = read_memory(st, out, err);
        sqlite3_reset(st);
        return rc;
    }
    sqlite3_reset(st);
    if (rc == SQLITE_DONE)
        return mr_err_set(err, MR_ENOTFOUND, "Memory not found");
    return db_error(err, tx_conn(tx)->db, rc, "reading a memory");
}

static int s_mem_get(struct mr_store_tx *tx, const char *id, struct mr_memory *out,
                     struct mr_err *err)
{
    sqlite3_stmt *st = stmt(tx, ST_MEM_GET);
    bind_text(st, 1, id);
    return get_one_memory(tx, st, out, err);
}

static int s_mem_get_by_id(struct mr_store_tx *tx, int64_t id, struct mr_memory *out,
                           struct mr_err *err)
{
    sqlite3_stmt *st = stmt(tx, ST_MEM_GET_BY_ID);
    sqlite3_bind_int64(st, 1, id);
    return get_one_memory(tx, st, out, err);
}

static int s_mem_update(struct mr_store_tx *tx, const struct mr_memory *m, bool with_embedding,
                        struct mr_err *err)
{
    size_t tl, el;
    void *tags = strv_encode(&m->context_tags, &tl);
    void *ents = strv_encode(&m->related_entities, &el);
    sqlite3_stmt *st = stmt(tx, ST_MEM_UPDATE);
    sqlite3_bind_int64(st, 1, m->id);
    bind_text(st, 2, m->content);
    bind_text(st, 3, mr_memory_type_name(m->memory_type));
    sqlite3_bind_double(st, 4, m->importance_score);
    sqlite3_bind_int64(st, 5, m->access_count);
    bind_time(st, 6, m->last_accessed_at);
    sqlite3_bind_blob(st, 7, tags, (int)tl, SQLITE_TRANSIENT);
    sqlite3_bind_blob(st, 8, ents, (int)el, SQLITE_TRANSIENT);
    bind_text(st, 9, m->metadata ? m->metadata : "{}");
    bind_time(st, 10, m->expires_at);
    sqlite3_bind_int(st, 11, m->is_archived);
    sqlite3_bind_int64(st, 12, m->updated_at);
    sqlite3_bind_int(st, 13, m->is_shared);
    free(tags);
    free(ents);
    int rc = exec_done(tx, st, "updating a memory", err);
    if (rc == 0 && sqlite3_changes(tx_conn(tx)->db) == 0)
        return mr_err_set(err, MR_ENOTFOUND, "Memory not found");
    if (rc == 0 && with_embedding) {
        st = stmt(tx, ST_MEM_UPDATE_EMB);
        sqlite3_bind_int64(st, 1, m->id);
        sqlite3_bind_blob(st, 2, m->embedding, (int)(m->dim * sizeof(float)), SQLITE_TRANSIENT);
        rc = exec_done(tx, st, "updating an embedding", err);
    }
    return rc;
}

static int s_mem_delete(struct mr_store_tx *tx, const char *id, struct mr_err *err)
{
    sqlite3_stmt *st = stmt(tx, ST_MEM_DELETE);
    bind_text(st, 1, id);
    int rc = exec_done(tx, st, "deleting a memory", err);
    if (rc == 0 && sqlite3_changes(tx_conn(tx)->db) == 0)
        return mr_err_set(err, MR_ENOTFOUND, "Memory not found");
    return rc;
}

static int s_mem_list_by_conversation(struct mr_store_tx *tx, const char *conv, int64_t limit,
                                      int64_t offset, struct mr_memory **out, size_t *out_n,
                                      int64_t *out_total, struct mr_err *err)
{
    *out = NULL;
    *out_n = 0;
    sqlite3_stmt *st = stmt(tx, ST_MEM_COUNT_CONV);
    bind_text(st, 1, conv);
    int rc = count_rows(tx, st, out_total, err);
    if (rc)
        return rc;
    st = stmt(tx, ST_MEM_LIST_CONV);
    bind_text(st, 1, conv);
    sqlite3_bind_int64(st, 2, limit);
    sqlite3_bind_int64(st, 3, offset);
    return collect_rows(tx, st, sizeof **out, read_memory_row, clear_memory, (void **)out, out_n,
                        "listing memories", err);
}

/* Collects the first column of every row as int64 ids. */
static int collect_ids(struct mr_store_tx *tx, sqlite3_stmt *st, int64_t **out, size_t *out_n,
                       const char *what, struct mr_err *err)
{
    size_t cap = 0;
    int rc;
    *out = NULL;
    *out_n = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (*out_n == cap) {
            cap = cap ? cap * 2 : 16;
            *out = mr_xrealloc(*out, cap * sizeof **out);
        }
        (*out)[(*out_n)++] = sqlite3_column_int64(st, 0);
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        free(*out);
        *out = NULL;
        *out_n = 0;
        return db_error(err, tx_conn(tx)->db, rc, what);
    }
    return 0;
}

static int s_mem_ids_by_conversation(struct mr_store_tx *tx, const char *conv, int64_t **out,
                                     size_t *out_n, struct mr_err *err)
{
    sqlite3_stmt *st = stmt(tx, ST_MEM_IDS_CONV);
    bind_text(st, 1, conv);
    return collect_ids(tx, st, out, out_n, "listing a conversation's memories", err);
}

static int s_mem_stats(struct mr_store_tx *tx, const struct mr_identity *who, struct mr_stats *out,
                       struct mr_err *err)
{
    sqlite3_stmt *st = stmt(tx, ST_MEM_STATS);
    bind_text(st, 1, who->tenant_id);
    bind_text(st, 2, who->user_id);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sqlite3_reset(st);
        return db_error(err, tx_conn(tx)->db, rc, "computing statistics");
    }
    memset(out, 0, sizeof *out);
    out->total = sqlite3_column_int64(st, 0);
    for (int t = 0; t < MR_MEMORY_TYPE_COUNT; t++)
        out->by_type[t] = sqlite3_column_int64(st, 1 + t);
    out->archived = sqlite3_column_int64(st, 6);
    out->average_importance = sqlite3_column_double(st, 7);
    sqlite3_reset(st);
    return 0;
}

static int s_mem_archive(struct mr_store_tx *tx, const struct mr_identity *who, int64_t cutoff,
                         int64_t now, int64_t **out_ids, char ***out_users, size_t *out_n,
                         struct mr_err *err)
{
    sqlite3_stmt *st = stmt(tx, ST_MEM_ARCHIVE);
    bind_text(st, 1, who->tenant_id);
    bind_text(st, 2, who->user_id);
    sqlite3_bind_int64(st, 3, cutoff);
    sqlite3_bind_int64(st, 4, now);
    size_t cap = 0, n = 0;
    int64_t *ids = NULL;
    char **users = NULL;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            ids = mr_xrealloc(ids, cap * sizeof *ids);
            users = mr_xrealloc(users, cap * sizeof *users);
        }
        ids[n] = sqlite3_column_int64(st, 0);
        users[n++] = col_text(st, 1);
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        for (size_t i = 0; i < n; i++)
            free(users[i]);
        free(users);
        free(ids);
        *out_ids = NULL;
        *out_users = NULL;
        *out_n = 0;
        return db_error(err, tx_conn(tx)->db, rc, "archiving memories");
    }
    *out_ids = ids;
    *out_users = users;
    *out_n = n;
    return 0;
}

static int s_mem_search(struct mr_store_tx *tx, const struct mr_identity *who,
                        const struct mr_index_query *q, struct mr_memory **out, float **out_scores,
                        size_t *out_n, struct mr_err *err)
{
    (void)tx, (void)who, (void)q;
    *out = NULL;
    *out_scores = NULL;
    *out_n = 0;
    return mr_err_set(err, MR_ENOTSUP,
                      "the SQLite store has no vector index: search the in-process index");
}

/* Runs one of the access statements for m; *changed says whether it matched the row. */
static int access_update(struct mr_store_tx *tx, enum stmt_id id, const struct mr_memory *m,
                         bool *changed, struct mr_err *err)
{
    sqlite3_stmt *st = stmt(tx, id);
    sqlite3_bind_int64(st, 1, m->id);
    sqlite3_bind_double(st, 2, m->importance_score);
    sqlite3_bind_int64(st, 3, m->access_count);
    bind_time(st, 4, m->last_accessed_at);
    sqlite3_bind_int64(st, 5, m->updated_at);
    bind_text(st, 6, mr_memory_type_name(m->memory_type));
    bind_time(st, 7, m->expires_at);
    int rc = exec_done(tx, st, "recording an access", err);
    *changed = rc == 0 && sqlite3_changes(tx_conn(tx)->db) > 0;
    return rc;
}

/* One cached UPDATE per memory: SQLite statements cost no round trip. */
static int s_mem_record_access(struct mr_store_tx *tx, const struct mr_memory *ms, size_t n,
                               struct mr_err *err)
{
    for (size_t i = 0; i < n; i++) {
        bool changed = false;
        int rc = access_update(tx, ST_MEM_ACCESS, &ms[i], &changed, err);
        if (rc == 0 && !changed)
            rc = access_update(tx, ST_MEM_ACCESS_FULL, &ms[i], &changed, err);
        if (rc)
            return rc;
        if (!changed)
            return mr_err_set(err, MR_ENOTFOUND, "Memory not found");
    }
    return 0;
}

static int s_mem_scan(struct mr_store_tx *tx, mr_store_scan_fn fn, void *arg, struct mr_err *err)
{
    sqlite3_stmt *st = stmt(tx, ST_MEM_SCAN);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct mr_memory m;
        if ((rc = read_memory(st, &m, err)) != 0)
            break;
        rc = fn(arg, &m);
        mr_memory_clear(&m);
        if (rc != 0)
            break;
    }
    sqlite3_reset(st);
    if (rc == SQLITE_DONE)
        return 0;
    return rc < 0 ? rc : db_error(err, tx_conn(tx)->db, rc, "scanning memories");
}

static int s_health(struct mr_store *s, struct mr_err *err)
{
    struct mr_store_tx *tx;
    int rc = s_begin(s, false, &tx, err);
    if (rc)
        return rc;
    char *v = NULL;
    rc = meta_get(tx, "embedding_model", &v, err);
    free(v);
    s_rollback(tx);
    return rc;
}

/*
 * Copies the WAL back into the database (PASSIVE: never waits for readers
 * or writers) whenever a commit left it at CHECKPOINT_PAGES or more.
 */
static void *checkpoint_main(void *arg)
{
    struct sqlite_store *s = arg;
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(s->path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        sqlite3_close(db);
        return NULL; /* then nothing checkpoints until close: the WAL grows, nothing breaks */
    }
    sqlite3_busy_timeout(db, 1000);
    sqlite3_exec(db, "PRAGMA synchronous=FULL", NULL, NULL, NULL);
    pthread_mutex_lock(&s->lock);
    while (!s->stopping) {
        if (s->wal_pages < CHECKPOINT_PAGES) {
            pthread_cond_wait(&s->wal_grew, &s->lock);
            continue;
        }
        s->wal_pages = 0;
        pthread_mutex_unlock(&s->lock);
        sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        pthread_mutex_lock(&s->lock);
    }
    pthread_mutex_unlock(&s->lock);
    sqlite3_close(db);
    return NULL;
}

static void s_close(struct mr_store *base)
{
    struct sqlite_store *s = (struct sqlite_store *)base;
    if (s->has_checkpointer) {
        pthread_mutex_lock(&s->lock);
        s->stopping = true;
        pthread_cond_signal(&s->wal_grew);
        pthread_mutex_unlock(&s->lock);
        pthread_join(s->checkpointer, NULL);
    }
    for (int i = 0; i < s->n_open; i++)
        conn_close(&s->conns[i]);
    pthread_mutex_destroy(&s->lock);
    pthread_mutex_destroy(&s->writer);
    pthread_cond_destroy(&s->freed);
    pthread_cond_destroy(&s->wal_grew);
    free(s->conns);
    free(s->path);
    free(s);
}

static const struct mr_store_ops sqlite_ops = {
    .name = "sqlite",
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

struct mr_store *mr_store_sqlite_open(const char *path, int pool_size, struct mr_err *err)
{
    if (pool_size < 1)
        pool_size = 1;
    struct sqlite_store *s = mr_xcalloc(1, sizeof *s);
    s->base.ops = &sqlite_ops;
    s->path = mr_xstrdup(path);
    s->max_conns = pool_size;
    s->conns = mr_xcalloc((size_t)pool_size, sizeof *s->conns);
    pthread_mutex_init(&s->lock, NULL);
    pthread_mutex_init(&s->writer, NULL);
    pthread_cond_init(&s->freed, NULL);
    pthread_cond_init(&s->wal_grew, NULL);

    /* The first connection migrates the schema, then joins the pool. */
    struct conn *c = &s->conns[0];
    if (conn_open(s, c, err) != 0)
        goto fail;
    if (migrate(s, c->db, err) != 0 || conn_prepare(c, err) != 0) {
        conn_close(c);
        goto fail;
    }
    s->n_open = 1;
    s->has_checkpointer = pthread_create(&s->checkpointer, NULL, checkpoint_main, s) == 0;
    return &s->base;
fail:
    s_close(&s->base);
    return NULL;
}
