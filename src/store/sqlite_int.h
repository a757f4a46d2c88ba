/*
 * sqlite_int.h — the embedded store's private header, shared by its files:
 *
 *   sqlite_store.c   open and close, the one-process file lock, the
 *                    checkpointer thread, the ops table
 *   sqlite_pool.c    connections (opened, configured, statements prepared)
 *                    in the shared pool; read transactions
 *   sqlite_group.c   write transactions: one writer connection, group commit
 *   sqlite_schema.c  the migrations, the recorded embedding model, health
 *   sqlite_codec.c   rows <-> structs, parameter binding, statement steps,
 *                    errors
 *   sqlite_ops.c     the statements and the operations on them
 *
 * The store's only header that reaches sqlite3.h (through
 * src/util/sqlite_lib.h, which the SQL module's scratch databases share;
 * tests aside): the rest of memori sees store.h and our types only.
 */
#ifndef MEMORI_STORE_SQLITE_INT_H
#define MEMORI_STORE_SQLITE_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "../util/sqlite_lib.h"
#include "memori/store.h"
#include "store_int.h"

/* The prepared statements every connection caches (SQL in sqlite_ops.c). */
enum sqlite_stmt {
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
    ST_MEM_PROMOTED,
    ST_MEM_DELETE,
    ST_MEM_LIST_CONV,
    ST_MEM_COUNT_CONV,
    ST_MEM_IDS_CONV,
    ST_MEM_STATS,
    ST_MEM_ARCHIVE,
    ST_MEM_SCAN,
    ST_HIST_INSERT,
    ST_COUNT
};
extern const char *const sqlite_stmt_sql[ST_COUNT];

struct sqlite_conn;
struct group_member;

struct sqlite_tx {
    struct mr_store_tx base;
    struct sqlite_conn *conn;
    bool job;       /* a write transaction (sqlite_group.c), malloc'd; else the conn's own */
    bool savepoint; /* a job that joined an open batch, inside SAVEPOINT mr_job */
};

/* One connection of the pool, with its statements; one transaction at a time. */
struct sqlite_conn {
    sqlite3 *db;
    sqlite3_stmt *stmts[ST_COUNT];
    bool lazy; /* synchronous=NORMAL set (MR_TX_WRITE_LAZY), else FULL */
    struct sqlite_tx tx;
};

struct sqlite_store {
    struct mr_store base;
    char *path;
    int lock_fd;            /* holds the flock on "<path>.lock"; -1 when none */
    struct store_pool pool; /* the readers' connections */
    /*
     * Group commit (sqlite_group.c): the one connection that writes, and
     * whose turn it is. Writers of this process queue on group_lock for
     * the turn rather than on SQLite's busy handler, which polls with
     * sleeps of 1, 2, 5 … 100 ms for a lock held for a fraction of one.
     * batch_* and members belong to the turn's holder; group_lock guards
     * the hand-over and what waiters read.
     */
    struct sqlite_conn *wconn;
    pthread_mutex_t group_lock;
    pthread_cond_t turn_free;  /* busy went false */
    pthread_cond_t batch_done; /* a batch was settled: its members' results are set */
    bool busy;                 /* a job holds the turn (wconn) */
    int queued;                /* writers waiting for the turn */
    bool batch_open, batch_lazy;
    int batch_jobs;                 /* jobs kept in the open batch */
    struct group_member *members;   /* those of them waiting for its commit */
    uint64_t batches, batched_jobs; /* committed so far (mr_store_sqlite_group_stats) */
    /*
     * Checkpoints run on their own thread and connection, not inside the
     * commit that happened to cross the threshold: a checkpoint fsyncs the
     * database file, and a request should not wait for that.
     */
    pthread_mutex_t wal_lock; /* guards wal_pages and stopping */
    pthread_cond_t wal_grew;
    pthread_t checkpointer;
    bool has_checkpointer, stopping;
    int wal_pages; /* the WAL's size after the last commit */
};

#define SQLITE_CHECKPOINT_PAGES 1000 /* SQLite's own auto-checkpoint threshold */

/* ---- sqlite_store.c, sqlite_ops.c ---- */

extern const struct mr_store_ops sqlite_store_ops;
void sqlite_close(struct mr_store *s);

/* ---- sqlite_pool.c ---- */

/* Opens and configures a connection to s->path; prepare: its statements too. */
int sqlite_conn_open(struct sqlite_store *s, bool prepare, struct sqlite_conn **out,
                     struct mr_err *err);
/* Prepares every statement of sqlite_stmt_sql on c (after the schema is migrated). */
int sqlite_conn_prepare(struct sqlite_conn *c, struct mr_err *err);
void sqlite_conn_close(struct sqlite_conn *c);
extern const struct store_pool_ops sqlite_pool_ops;

int sqlite_begin(struct mr_store *s, int mode, struct mr_store_tx **out_tx, struct mr_err *err);
int sqlite_commit(struct mr_store_tx *tx, struct mr_err *err);
void sqlite_rollback(struct mr_store_tx *tx);

/* ---- sqlite_group.c: write transactions ---- */

void sqlite_group_init(struct sqlite_store *s);
void sqlite_group_destroy(struct sqlite_store *s);
/* A write transaction (mode MR_TX_WRITE or MR_TX_WRITE_LAZY) on s->wconn, in a batch. */
int sqlite_group_begin(struct sqlite_store *s, int mode, struct mr_store_tx **out_tx,
                       struct mr_err *err);
/* Returns once the batch holding tx's writes is committed (0) or has failed; frees tx. */
int sqlite_group_commit(struct mr_store_tx *tx, struct mr_err *err);
/* Rolls tx's writes back, leaving its batch's others; frees tx. */
void sqlite_group_rollback(struct mr_store_tx *tx);

/* ---- sqlite_schema.c ---- */

/* Applies the pending migrations on db (the first connection). */
int sqlite_migrate(struct sqlite_store *s, sqlite3 *db, struct mr_err *err);
int sqlite_check_model(struct mr_store *s, const char *model, size_t dim, struct mr_err *err);
int sqlite_set_model(struct mr_store_tx *tx, const char *model, size_t dim, struct mr_err *err);
int sqlite_health(struct mr_store *s, struct mr_err *err);

/* ---- sqlite_sources.c: the data-source operations of store.h ---- */

int sqlite_schema_get(struct mr_store_tx *tx, const char *tenant_id, int64_t data_source_id,
                      struct mr_source_schema *out, struct mr_err *err);
int sqlite_schema_put(struct mr_store_tx *tx, const struct mr_source_schema *s, struct mr_err *err);
int sqlite_schema_delete(struct mr_store_tx *tx, const char *tenant_id, int64_t data_source_id,
                         struct mr_err *err);
int sqlite_mem_ids_by_data_source(struct mr_store_tx *tx, const char *tenant_id,
                                  int64_t data_source_id, int64_t **out, size_t *out_n,
                                  struct mr_err *err);

/* ---- sqlite_ops.c: export, import and migrate (store.h) ---- */

int sqlite_conv_page(struct mr_store_tx *tx, const struct mr_identity *who, int64_t after_id,
                     size_t limit, struct mr_conversation **out, size_t *out_n, struct mr_err *err);
int sqlite_mem_page(struct mr_store_tx *tx, const struct mr_identity *who, int64_t after_id,
                    size_t limit, bool with_embedding, struct mr_memory **out, size_t *out_n,
                    struct mr_err *err);
int sqlite_schema_page(struct mr_store_tx *tx, const char *tenant_id, const char *after_tenant,
                       int64_t after_ds, size_t limit, struct mr_source_schema **out, size_t *out_n,
                       struct mr_err *err);
int sqlite_model_get(struct mr_store_tx *tx, char **out_model, size_t *out_dim, struct mr_err *err);
int sqlite_conv_restore(struct mr_store_tx *tx, struct mr_conversation *c, struct mr_err *err);
int sqlite_mem_restore(struct mr_store_tx *tx, struct mr_memory *m, struct mr_err *err);

/* ---- sqlite_ops.c: the lookups of example ingestion (store.h) ---- */

int sqlite_mem_find_example(struct mr_store_tx *tx, const char *tenant_id, const char *user_id,
                            int64_t data_source_id, const char *question_normalized,
                            const char *fingerprint, struct mr_memory *out, bool *out_found,
                            struct mr_err *err);
int sqlite_mem_find_joins(struct mr_store_tx *tx, const char *tenant_id, int64_t data_source_id,
                          const char *const *keys, size_t n, int64_t *out_ids, struct mr_err *err);
int sqlite_ds_owner_conversation(struct mr_store_tx *tx, const char *tenant_id,
                                 int64_t data_source_id, char out[MR_UUID_LEN], struct mr_err *err);

/* ---- sqlite_ops.c: memory hygiene, history and dedup keys (store.h) ---- */

int sqlite_hist_insert(struct mr_store_tx *tx, struct mr_history_event *e, struct mr_err *err);
int sqlite_hist_list(struct mr_store_tx *tx, const char *memory_id, int64_t limit, int64_t offset,
                     struct mr_history_event **out, size_t *out_n, int64_t *out_total,
                     struct mr_err *err);
int sqlite_mem_find_dedup(struct mr_store_tx *tx, const char *tenant_id, const char *user_id,
                          const char *key, struct mr_memory *out, bool *out_found,
                          struct mr_err *err);
int sqlite_mem_set_dedup_key(struct mr_store_tx *tx, int64_t id, const char *key,
                             struct mr_err *err);
int sqlite_hist_page(struct mr_store_tx *tx, const struct mr_identity *who, int64_t after_id,
                     size_t limit, struct mr_history_event **out, size_t *out_n,
                     struct mr_err *err);
int sqlite_hist_restore(struct mr_store_tx *tx, struct mr_history_event *e, struct mr_err *err);

/* ---- sqlite_codec.c ---- */

/* Reports SQLite result rc of a call that was `what`, in store_db_error's two voices. */
int sqlite_db_error(struct mr_err *err, sqlite3 *db, int rc, const char *what);

static inline struct sqlite_conn *sqlite_tx_conn(struct mr_store_tx *tx)
{
    return ((struct sqlite_tx *)tx)->conn;
}

/* The cached statement id of tx's connection, reset and unbound. */
sqlite3_stmt *sqlite_stmt(struct mr_store_tx *tx, enum sqlite_stmt id);

/* Steps st, which returns no rows, and resets it; 0 or an error. */
int sqlite_exec_done(struct mr_store_tx *tx, sqlite3_stmt *st, const char *what,
                     struct mr_err *err);

void sqlite_bind_text(sqlite3_stmt *st, int i, const char *s);
void sqlite_bind_time(sqlite3_stmt *st, int i, int64_t t); /* MR_NO_TIME is NULL */
/* A string array as one BLOB: (u32 length, bytes)* — exact and JSON-free. */
void sqlite_bind_strv(sqlite3_stmt *st, int i, const struct mr_strv *v);

/* Column col as a new string (NULL for SQL NULL). */
char *sqlite_col_text(sqlite3_stmt *st, int col);

/* The current row of a MEM_COLS / CONV_COLS statement into a new struct. */
int sqlite_read_memory(sqlite3_stmt *st, struct mr_memory *m, struct mr_err *err);
void sqlite_read_conversation(sqlite3_stmt *st, struct mr_conversation *c);

#endif
