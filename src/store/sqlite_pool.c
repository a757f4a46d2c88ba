/*
 * sqlite_pool.c — the SQLite store's connections and transactions (see
 * sqlite_int.h). Connections live in the shared pool (pool.c), each with
 * every statement prepared once.
 *
 * Why a pool: WAL lets readers run beside the one writer, so searches and
 * reads of many HTTP threads proceed in parallel. Write transactions do not
 * take a pooled connection: they run on the store's one writer connection,
 * grouped (sqlite_group.c), which takes the write lock at BEGIN (BEGIN
 * IMMEDIATE) so that no transaction ever deadlocks upgrading.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sqlite_int.h"

/* After each commit (in the committing thread): wakes the checkpointer when the WAL is large. */
static int wal_committed(void *arg, sqlite3 *db, const char *name, int pages)
{
    (void)db, (void)name;
    struct sqlite_store *s = arg;
    pthread_mutex_lock(&s->wal_lock);
    s->wal_pages = pages;
    if (pages >= SQLITE_CHECKPOINT_PAGES)
        pthread_cond_signal(&s->wal_grew);
    pthread_mutex_unlock(&s->wal_lock);
    return SQLITE_OK;
}

int sqlite_conn_prepare(struct sqlite_conn *c, struct mr_err *err)
{
    for (int i = 0; i < ST_COUNT; i++) {
        int rc = sqlite3_prepare_v3(c->db, sqlite_stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
                                    &c->stmts[i], NULL);
        if (rc != SQLITE_OK)
            return sqlite_db_error(err, c->db, rc, "preparing statements");
    }
    return 0;
}

int sqlite_conn_open(struct sqlite_store *s, bool with_statements, struct sqlite_conn **out,
                     struct mr_err *err)
{
    struct sqlite_conn *c = mr_xcalloc(1, sizeof *c);
    *out = NULL;
    int rc = sqlite3_open_v2(
        s->path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        mr_err_set(err, MR_EUNAVAIL, "cannot open database %s: %s", s->path,
                   c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
        sqlite_conn_close(c);
        return MR_EUNAVAIL;
    }
    sqlite3_extended_result_codes(c->db, 1);
    /* The checkpointer thread does it (sqlite_store.c); every commit reports the WAL size. */
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
        sqlite_db_error(err, c->db, rc, "configuring the connection");
        sqlite_conn_close(c);
        return MR_EUNAVAIL;
    }
    if (with_statements && (rc = sqlite_conn_prepare(c, err)) != 0) {
        sqlite_conn_close(c);
        return rc;
    }
    *out = c;
    return 0;
}

void sqlite_conn_close(struct sqlite_conn *c)
{
    if (!c)
        return;
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(c->stmts[i]);
    sqlite3_close(c->db);
    free(c);
}

/*
 * The pool's opener, for connections beyond the first: a request waits for
 * it, so the client reads what failed and the log reads the path and why.
 */
static int pool_open(void *owner, void **out_conn, struct mr_err *err)
{
    struct sqlite_conn *c;
    struct mr_err why = {0};
    int rc = sqlite_conn_open(owner, true, &c, &why);
    *out_conn = c;
    if (rc)
        return store_db_error(err, rc, "sqlite", "opening a connection", "cannot open the file",
                              why.msg);
    return 0;
}

static void pool_close(void *owner, void *conn)
{
    (void)owner;
    sqlite_conn_close(conn);
}

const struct store_pool_ops sqlite_pool_ops = {pool_open, pool_close};

/* Returns a read transaction's connection to the pool. */
static void release(struct mr_store_tx *tx)
{
    struct sqlite_store *s = (struct sqlite_store *)tx->store;
    struct sqlite_conn *c = sqlite_tx_conn(tx);
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_reset(c->stmts[i]);
    store_pool_checkin(&s->pool, c, false);
}

int sqlite_begin(struct mr_store *base, int mode, struct mr_store_tx **out_tx, struct mr_err *err)
{
    struct sqlite_store *s = (struct sqlite_store *)base;
    if (mode != MR_TX_READ)
        return sqlite_group_begin(s, mode, out_tx, err);
    void *conn;
    int rc = store_pool_checkout(&s->pool, &conn, err);
    if (rc)
        return rc;
    struct sqlite_conn *c = conn;
    c->tx.base.store = base;
    c->tx.conn = c;
    rc = sqlite3_exec(c->db, "BEGIN", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        sqlite_db_error(err, c->db, rc, "starting a transaction");
        release(&c->tx.base);
        return MR_EUNAVAIL;
    }
    *out_tx = &c->tx.base;
    return 0;
}

void sqlite_rollback(struct mr_store_tx *tx)
{
    if (((struct sqlite_tx *)tx)->job) {
        sqlite_group_rollback(tx);
        return;
    }
    struct sqlite_conn *c = sqlite_tx_conn(tx);
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_reset(c->stmts[i]);
    if (!sqlite3_get_autocommit(c->db))
        sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
    release(tx);
}

/* A read transaction has nothing to commit: it ends as a rollback does. */
int sqlite_commit(struct mr_store_tx *tx, struct mr_err *err)
{
    if (((struct sqlite_tx *)tx)->job)
        return sqlite_group_commit(tx, err);
    sqlite_rollback(tx);
    return 0;
}
