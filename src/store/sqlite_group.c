/*
 * sqlite_group.c — group commit: the write transactions of one process
 * share SQLite transactions, and so share their fsyncs (issue 15; the
 * decision is in docs/decisions.md).
 *
 * One connection writes (s->wconn; readers use the pool). A write
 * transaction — a "job", what mr_store_begin starts in a write mode — takes
 * the writer's turn, runs its statements on that connection in its own
 * thread, and at its end either commits the batch it is in, when no other
 * writer waits for the turn, or hands the turn on and sleeps until the
 * writer that does commit wakes it with the batch's result:
 *
 *   job 1: BEGIN IMMEDIATE … (others queue)   -> hands on, waits
 *   job 2: SAVEPOINT … RELEASE                -> hands on, waits
 *   job 3: SAVEPOINT … RELEASE, nobody queued -> COMMIT (one fsync), wakes 1 and 2
 *
 * The first job of a batch opens it; each later one runs inside a
 * SAVEPOINT, so a job that fails rolls back to it and leaves the batch's
 * other jobs in: one request's failure fails that request only. A commit
 * returns 0 only after the COMMIT of its batch has returned under
 * synchronous=FULL, so what a caller acknowledges (and puts in its index,
 * which callers update after the commit returns) is on the disk; a job
 * rolled back never reaches the caller's index.
 *
 * A lone writer finds nobody queued and commits at once — BEGIN IMMEDIATE …
 * COMMIT, as without grouping; nothing sleeps to collect more writers.
 * Batches form by themselves under load: while one COMMIT waits on the
 * disk, the next writers queue for the turn, then run one after the other
 * in the next batch. A batch takes at most GROUP_MAX_JOBS, so a steady
 * stream of writers cannot keep the first one waiting.
 *
 * Durability is the batch's: a lazy job (MR_TX_WRITE_LAZY) joins a durable
 * batch (it gets more than it asked for); a durable job finding a lazy batch
 * open commits that one first (no fsync) and opens a durable one, since the
 * synchronous setting cannot change inside a transaction.
 *
 * What cannot be confined to one job: an error after which SQLite itself
 * rolls the whole transaction back (I/O error, disk full, out of memory),
 * and a failing COMMIT. Every job of the batch then fails with it, as every
 * one would have failed alone on such a disk; none is acknowledged.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "memori/util.h"
#include "sqlite_int.h"

/* A batch's cap: a job waits for at most this many others' statements and one fsync. */
#define GROUP_MAX_JOBS 64

/* A job whose writes are in the open batch, waiting (on its stack) for the batch's commit. */
struct group_member {
    struct group_member *next;
    bool done;
    int rc;
    struct mr_err err;
};

void sqlite_group_init(struct sqlite_store *s)
{
    pthread_mutex_init(&s->group_lock, NULL);
    /* Timed waits for the turn are measured on the monotonic clock, as the pool's. */
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&s->turn_free, &attr);
    pthread_condattr_destroy(&attr);
    pthread_cond_init(&s->batch_done, NULL);
}

void sqlite_group_destroy(struct sqlite_store *s)
{
    pthread_mutex_destroy(&s->group_lock);
    pthread_cond_destroy(&s->turn_free);
    pthread_cond_destroy(&s->batch_done);
}

int mr_store_sqlite_group_stats(struct mr_store *base, struct mr_store_group_stats *out)
{
    *out = (struct mr_store_group_stats){0};
    if (!base || base->ops != &sqlite_store_ops)
        return MR_ENOTSUP;
    struct sqlite_store *s = (struct sqlite_store *)base;
    pthread_mutex_lock(&s->group_lock);
    out->batches = s->batches;
    out->jobs = s->batched_jobs;
    out->queued = s->queued;
    pthread_mutex_unlock(&s->group_lock);
    return 0;
}

/*
 * Takes the writer's turn (group_lock held), waiting up to the pool's wait
 * for it, as a begin waits for a connection; MR_EUNAVAIL past it. A waiter
 * gives up only while another holds the turn, so a turn handed on to a
 * queued writer is always taken.
 */
static int take_turn(struct sqlite_store *s, struct mr_err *err)
{
    if (!s->busy) {
        s->busy = true;
        return 0;
    }
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += s->pool.wait_ms / 1000;
    deadline.tv_nsec += (long)(s->pool.wait_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    s->queued++;
    while (s->busy) {
        if (pthread_cond_timedwait(&s->turn_free, &s->group_lock, &deadline) == ETIMEDOUT &&
            s->busy) {
            s->queued--;
            return mr_err_set(err, MR_EUNAVAIL,
                              "database error: no turn to write in %g s (other writers hold the "
                              "database)",
                              s->pool.wait_ms / 1000.0);
        }
    }
    s->queued--;
    s->busy = true;
    return 0;
}

/* Gives the turn up (group_lock held) to the next queued writer, if any. */
static void give_turn(struct sqlite_store *s)
{
    s->busy = false;
    pthread_cond_signal(&s->turn_free);
}

/*
 * Ends the open batch with rc (0: committed; else err says why) for each
 * member, and wakes them. The turn holder calls it, without group_lock.
 */
static void settle_batch(struct sqlite_store *s, int rc, const struct mr_err *err)
{
    pthread_mutex_lock(&s->group_lock);
    for (struct group_member *m = s->members; m; m = m->next) {
        m->rc = rc;
        if (rc)
            m->err = *err;
        m->done = true;
    }
    if (rc == 0 && s->batch_jobs > 0) {
        s->batches++;
        s->batched_jobs += (uint64_t)s->batch_jobs;
    }
    s->members = NULL;
    s->batch_open = false;
    s->batch_jobs = 0;
    pthread_cond_broadcast(&s->batch_done);
    pthread_mutex_unlock(&s->group_lock);
}

/* COMMITs the open batch (the turn holder, without group_lock) and settles it; 0 or an error. */
static int commit_batch(struct sqlite_store *s, struct mr_err *err)
{
    sqlite3 *db = s->wconn->db;
    int rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        rc = sqlite_db_error(err, db, rc, "committing");
        if (!sqlite3_get_autocommit(db))
            sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    }
    settle_batch(s, rc, err);
    return rc;
}

/* Resets the writer's statements, so that none holds the transaction open past its job. */
static void reset_statements(struct sqlite_conn *c)
{
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_reset(c->stmts[i]);
}

int sqlite_group_begin(struct sqlite_store *s, int mode, struct mr_store_tx **out_tx,
                       struct mr_err *err)
{
    bool lazy = mode == MR_TX_WRITE_LAZY;
    pthread_mutex_lock(&s->group_lock);
    int rc = take_turn(s, err);
    pthread_mutex_unlock(&s->group_lock);
    if (rc)
        return rc;
    /* The turn is ours: the batch state and the connection are this thread's until we give it. */
    struct sqlite_conn *c = s->wconn;
    if (s->batch_open && s->batch_lazy && !lazy) {
        struct mr_err why;
        commit_batch(s, &why); /* its members learn how it went; we start afresh either way */
    }
    bool join = s->batch_open;
    rc = SQLITE_OK;
    if (join) {
        rc = sqlite3_exec(c->db, "SAVEPOINT mr_job", NULL, NULL, NULL);
    } else {
        /* The durability of the batch's commit; settable only between transactions. */
        if (lazy != c->lazy) {
            rc = sqlite3_exec(c->db, lazy ? "PRAGMA synchronous=NORMAL" : "PRAGMA synchronous=FULL",
                              NULL, NULL, NULL);
            if (rc == SQLITE_OK)
                c->lazy = lazy;
        }
        if (rc == SQLITE_OK)
            rc = sqlite3_exec(c->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
        if (rc == SQLITE_OK) {
            s->batch_open = true;
            s->batch_lazy = lazy;
        }
    }
    if (rc != SQLITE_OK) {
        sqlite_db_error(err, c->db, rc, "starting a transaction");
        /* Nothing of ours to undo; an open batch is left to the next writer or committed now. */
        pthread_mutex_lock(&s->group_lock);
        bool commit = s->batch_open && s->queued == 0;
        if (!commit)
            give_turn(s);
        pthread_mutex_unlock(&s->group_lock);
        if (commit) {
            struct mr_err why;
            commit_batch(s, &why);
            pthread_mutex_lock(&s->group_lock);
            give_turn(s);
            pthread_mutex_unlock(&s->group_lock);
        }
        return MR_EUNAVAIL;
    }
    struct sqlite_tx *t = mr_xcalloc(1, sizeof *t);
    t->base.store = &s->base;
    t->conn = c;
    t->job = true;
    t->savepoint = join;
    *out_tx = &t->base;
    return 0;
}

/*
 * Ends job tx: keep, its writes stay in the batch (a commit), else they are
 * rolled back. Then either hands the turn on (and, keeping, waits for the
 * batch's commit) or commits the batch itself. Returns the job's outcome:
 * 0 once its writes are durable, else an error in err. Frees tx.
 */
static int end_job(struct mr_store_tx *tx, bool keep, struct mr_err *err)
{
    struct sqlite_store *s = (struct sqlite_store *)tx->store;
    struct sqlite_tx *t = (struct sqlite_tx *)tx;
    struct sqlite_conn *c = t->conn;
    bool savepoint = t->savepoint;
    free(t);
    reset_statements(c);
    struct mr_err why = {0};
    int rc = 0;

    if (sqlite3_get_autocommit(c->db)) {
        /* SQLite rolled the whole transaction back (I/O error, disk full …): the batch is lost. */
        mr_err_set(&why, MR_EUNAVAIL,
                   "database error while writing: the database rolled the transaction back");
        settle_batch(s, MR_EUNAVAIL, &why);
        rc = keep ? mr_err_set(err, MR_EUNAVAIL, "%s", why.msg) : 0;
        pthread_mutex_lock(&s->group_lock);
        give_turn(s);
        pthread_mutex_unlock(&s->group_lock);
        return rc;
    }
    if (savepoint) {
        int src = keep ? SQLITE_OK : sqlite3_exec(c->db, "ROLLBACK TO mr_job", NULL, NULL, NULL);
        if (src == SQLITE_OK)
            src = sqlite3_exec(c->db, "RELEASE mr_job", NULL, NULL, NULL);
        if (src != SQLITE_OK) {
            /* The batch cannot be told apart from this job's half any more: none of it stays. */
            sqlite_db_error(&why, c->db, src, "ending a write");
            sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
            settle_batch(s, why.code, &why);
            pthread_mutex_lock(&s->group_lock);
            give_turn(s);
            pthread_mutex_unlock(&s->group_lock);
            if (keep && err)
                *err = why;
            return keep ? why.code : 0;
        }
    } else if (!keep) {
        /* The batch's first job: its writes are the batch's only ones. */
        sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
        settle_batch(s, 0, &why);
    }

    struct group_member me = {0};
    pthread_mutex_lock(&s->group_lock);
    if (keep)
        s->batch_jobs++;
    bool hand_on = s->batch_open && s->queued > 0 && s->batch_jobs < GROUP_MAX_JOBS;
    if (!s->batch_open || hand_on) {
        if (keep && hand_on) {
            me.next = s->members;
            s->members = &me;
        }
        give_turn(s);
        while (keep && hand_on && !me.done)
            pthread_cond_wait(&s->batch_done, &s->group_lock);
        pthread_mutex_unlock(&s->group_lock);
        if (me.rc && err)
            *err = me.err;
        return me.rc;
    }
    pthread_mutex_unlock(&s->group_lock);
    rc = commit_batch(s, &why);
    pthread_mutex_lock(&s->group_lock);
    give_turn(s);
    pthread_mutex_unlock(&s->group_lock);
    if (keep && rc && err)
        *err = why;
    return keep ? rc : 0;
}

int sqlite_group_commit(struct mr_store_tx *tx, struct mr_err *err)
{
    return end_job(tx, true, err);
}

void sqlite_group_rollback(struct mr_store_tx *tx)
{
    end_job(tx, false, NULL);
}
