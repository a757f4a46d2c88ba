/*
 * pg_pool.c — the PostgreSQL store's connections and transactions (see
 * pg_int.h). Connections live in the shared pool (pool.c), each with its
 * settings made and every statement prepared once; one transaction per
 * request; a connection the server dropped is re-opened on its next use.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg_int.h"

/* Per-connection settings and prepared statements (again after a reconnect). */
static int conn_setup(struct pg_store *s, PGconn *pg, struct mr_err *err)
{
    char sql[160];
    /* strict_order: iterative scans return rows in exact distance order. */
    snprintf(sql, sizeof sql,
             "SET client_min_messages = warning; SET hnsw.iterative_scan = strict_order; "
             "SET hnsw.ef_search = %d",
             s->ef_search > 0 ? s->ef_search : 40);
    if (pg_exec_simple(pg, sql, "configuring the connection", err) != 0)
        return MR_EUNAVAIL;
    for (int i = 0; i < P_COUNT; i++) {
        char name[16];
        snprintf(name, sizeof name, "m%d", i);
        PGresult *res = PQprepare(pg, name, pg_stmt_sql[i], 0, NULL);
        int rc = PQresultStatus(res) == PGRES_COMMAND_OK
                     ? 0
                     : pg_result_error(err, pg, res, "preparing statements");
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

/* A bare connection (no settings yet), or NULL with err. */
static PGconn *connect_to(struct pg_store *s, const char *what, struct mr_err *err)
{
    /* expand_dbname: "dbname" holds the whole URI; the later keywords add defaults. */
    const char *const keys[] = {"dbname", "connect_timeout", "application_name", NULL};
    const char *const vals[] = {s->conninfo, "10", "memori", NULL};
    PGconn *pg = PQconnectdbParams(keys, vals, 1);
    if (!pg || PQstatus(pg) != CONNECTION_OK) {
        store_db_error(err, MR_EUNAVAIL, "postgresql", what,
                       "the database server is unreachable or refused the connection",
                       pg ? PQerrorMessage(pg) : "out of memory");
        PQfinish(pg);
        return NULL;
    }
    PQsetNoticeProcessor(pg, quiet, NULL);
    return pg;
}

struct pconn *pg_conn_open(struct pg_store *s, const char *what, bool migrate, struct mr_err *err)
{
    PGconn *pg = connect_to(s, what, err);
    if (!pg)
        return NULL;
    if ((migrate && pg_migrate(s, pg, err) != 0) || conn_setup(s, pg, err) != 0) {
        PQfinish(pg);
        return NULL;
    }
    struct pconn *c = mr_xcalloc(1, sizeof *c);
    c->pg = pg;
    return c;
}

void pg_conn_close(struct pconn *c)
{
    if (!c)
        return;
    PQfinish(c->pg);
    free(c);
}

/* The pool's opener, for connections beyond the first: the URL is the operator's, not a client's.
 */
static int pool_open(void *owner, void **out_conn, struct mr_err *err)
{
    struct pconn *c = pg_conn_open(owner, "opening a connection", false, err);
    *out_conn = c;
    return c ? 0 : MR_EUNAVAIL;
}

static void pool_close(void *owner, void *conn)
{
    (void)owner;
    pg_conn_close(conn);
}

const struct store_pool_ops pg_pool_ops = {pool_open, pool_close};

/*
 * Returns c to the pool; a broken connection is closed (the next checkout
 * opens a new one), and so is one still in pipeline mode (pg_run_pipeline
 * could not leave it), which every synchronous call would refuse.
 */
static void checkin(struct pg_store *s, struct pconn *c)
{
    store_pool_checkin(&s->pool, c,
                       PQstatus(c->pg) != CONNECTION_OK ||
                           PQpipelineStatus(c->pg) != PQ_PIPELINE_OFF);
}

int pg_begin(struct mr_store *base, int mode, struct mr_store_tx **out_tx, struct mr_err *err)
{
    struct pg_store *s = (struct pg_store *)base;
    void *conn;
    int rc = store_pool_checkout(&s->pool, &conn, err);
    if (rc)
        return rc;
    struct pconn *c = conn;
    /* One round trip: the lazy commit is set for this transaction only. */
    const char *sql = mode == MR_TX_WRITE_LAZY ? "BEGIN; SET LOCAL synchronous_commit = off"
                      : mode == MR_TX_WRITE    ? "BEGIN"
                                               : "BEGIN READ ONLY";
    rc = pg_exec_simple(c->pg, sql, "starting a transaction", err);
    if (rc && PQstatus(c->pg) != CONNECTION_OK) {
        /* The server restarted or dropped us since this connection was last used. */
        PQreset(c->pg);
        if (PQstatus(c->pg) != CONNECTION_OK)
            rc = store_db_error(err, MR_EUNAVAIL, "postgresql", "reconnecting",
                                "the database server is unreachable", PQerrorMessage(c->pg));
        else if ((rc = conn_setup(s, c->pg, err)) == 0)
            rc = pg_exec_simple(c->pg, sql, "starting a transaction", err);
    }
    if (rc) {
        checkin(s, c);
        return MR_EUNAVAIL;
    }
    c->tx.base.store = base;
    c->tx.conn = c;
    c->tx.read_only = mode == MR_TX_READ;
    c->tx.fresh = true;
    *out_tx = &c->tx.base;
    return 0;
}

void pg_rollback(struct mr_store_tx *tx)
{
    struct pconn *c = pg_tx_conn(tx);
    if (PQtransactionStatus(c->pg) != PQTRANS_IDLE)
        PQclear(PQexec(c->pg, "ROLLBACK"));
    checkin((struct pg_store *)tx->store, c);
}

int pg_commit(struct mr_store_tx *tx, struct mr_err *err)
{
    struct pconn *c = pg_tx_conn(tx);
    if (PQtransactionStatus(c->pg) == PQTRANS_INERROR) {
        /* COMMIT of a failed transaction "succeeds" as a ROLLBACK: say what happened. */
        pg_rollback(tx);
        return mr_err_set(err, MR_EUNAVAIL, "database error: the transaction failed earlier");
    }
    PGresult *res = PQexec(c->pg, "COMMIT");
    int rc = 0;
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        rc = pg_result_error(err, c->pg, res, "committing");
    else if (strcmp(PQcmdStatus(res), "COMMIT") != 0)
        rc = mr_err_set(err, MR_EUNAVAIL, "database error: the transaction was rolled back");
    PQclear(res);
    if (rc) {
        pg_rollback(tx);
        return MR_EUNAVAIL;
    }
    checkin((struct pg_store *)tx->store, c);
    return 0;
}
