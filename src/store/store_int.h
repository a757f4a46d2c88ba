/*
 * store_int.h — what the two stores share, private to src/store/: the
 * connection pool (pool.c), the migration runner (migrate.c), the model
 * check and the error report (common.c). No database library's header is
 * included here: each store's own private header (sqlite_int.h, pg_int.h)
 * is the only file that includes its library.
 */
#ifndef MEMORI_STORE_INT_H
#define MEMORI_STORE_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "memori/err.h"
#include "memori/store.h"

/* ---- pool.c: one pool, the same semantics on both stores ---- */

/* How a pool opens and closes its backend's connections. */
struct store_pool_ops {
    /* Opens a ready connection into *out_conn (called outside the pool's lock); 0 or an error. */
    int (*open)(void *owner, void **out_conn, struct mr_err *err);
    void (*close)(void *owner, void *conn);
};

/*
 * Connections handed out one transaction at a time: `size` of them stay
 * open once opened; under load up to `max_overflow` more are opened and
 * closed again when returned (SQLAlchemy's QueuePool). A checkout that finds
 * every connection busy waits up to wait_ms for one to be returned, then
 * fails MR_EUNAVAIL (503) saying so. Thread-safe.
 */
struct store_pool {
    const struct store_pool_ops *ops;
    void *owner;
    int size, n_slots, wait_ms;
    int n_open;   /* slots holding a connection (or one being opened) */
    void **conns; /* n_slots; NULL: the slot holds no connection */
    bool *in_use; /* n_slots */
    pthread_mutex_t lock;
    pthread_cond_t freed;
};

void store_pool_init(struct store_pool *p, const struct store_pool_ops *ops, void *owner,
                     const struct mr_store_pool_config *cfg);

/* Adds conn, already open (the connection that migrated the schema), as a free one. */
void store_pool_add(struct store_pool *p, void *conn);

/* A free connection into *out_conn, opening one when the pool allows; 0 or MR_EUNAVAIL. */
int store_pool_checkout(struct store_pool *p, void **out_conn, struct mr_err *err);

/*
 * Returns conn to the pool. discard (the connection is broken) closes it,
 * and so does a connection over `size` (an overflow one).
 */
void store_pool_checkin(struct store_pool *p, void *conn, bool discard);

/* Closes every connection; none may be checked out. */
void store_pool_destroy(struct store_pool *p);

/* ---- migrate.c: one migration runner, fed each store's steps ---- */

/*
 * One schema version: its statements, what they do (for messages), and
 * what SQL cannot do (run, may be NULL: e.g. tokenising existing rows with
 * memori's tokenizer), called on the same connection right after sql, in
 * the same transaction.
 */
struct store_migration {
    const char *sql;
    const char *what;
    int (*run)(void *db, struct mr_err *err);
};

/* What the runner asks of a backend, on one connection `db`. */
struct store_migrator {
    /* Starts one transaction that keeps every other process's migration out. */
    int (*begin)(void *db, struct mr_err *err);
    /* The number of migrations applied (0 on a new database). */
    int (*read_version)(void *db, int *out, struct mr_err *err);
    int (*apply)(void *db, const struct store_migration *m, struct mr_err *err);
    int (*write_version)(void *db, int version, struct mr_err *err);
    int (*commit)(void *db, struct mr_err *err);
    void (*rollback)(void *db);
};

/*
 * Applies steps[version..n) in one transaction, recording each version; a
 * database newer than n is refused (MR_ECONFLICT, naming `where`, the
 * database for messages). 0 or an error.
 */
int store_migrate(const struct store_migrator *mg, void *db, const char *where,
                  const struct store_migration *steps, int n, struct mr_err *err);

/* ---- common.c ---- */

/*
 * check_model's verdict on what the database `where` records (have_model,
 * have_dim as stored; have_dim may be NULL) against the configured model
 * and dim: 0 when they match, else MR_ECONFLICT with the message that says
 * how to start or re-embed.
 */
int store_model_matches(const char *where, const char *have_model, const char *have_dim,
                        const char *model, size_t dim, struct mr_err *err);

/*
 * Reports a failed database call. The database's own text (`detail`: it
 * may name tables, columns, constraints and values) goes to the server log,
 * stderr, tagged with the backend; err, which reaches clients verbatim, gets
 * ours: "database error while <what>: <reason>". Returns code.
 */
int store_db_error(struct mr_err *err, int code, const char *backend, const char *what,
                   const char *reason, const char *detail);

#endif
