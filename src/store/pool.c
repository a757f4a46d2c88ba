/*
 * pool.c — the connection pool both stores use (see store_int.h), so that
 * they behave the same under load: a bounded set of connections, a timed
 * wait for a free one, then a 503 that says what ran out.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "memori/util.h"
#include "store_int.h"

void store_pool_init(struct store_pool *p, const struct store_pool_ops *ops, void *owner,
                     const struct mr_store_pool_config *cfg)
{
    p->ops = ops;
    p->owner = owner;
    p->size = cfg->size > 0 ? cfg->size : 1;
    p->n_slots = p->size + (cfg->max_overflow > 0 ? cfg->max_overflow : 0);
    p->wait_ms = cfg->wait_ms > 0 ? cfg->wait_ms : MR_STORE_POOL_WAIT_MS;
    p->n_open = 0;
    p->conns = mr_xcalloc((size_t)p->n_slots, sizeof *p->conns);
    p->in_use = mr_xcalloc((size_t)p->n_slots, sizeof *p->in_use);
    pthread_mutex_init(&p->lock, NULL);
    /* The wait is measured on the monotonic clock: a clock step neither cuts it nor stretches it.
     */
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&p->freed, &attr);
    pthread_condattr_destroy(&attr);
}

void store_pool_add(struct store_pool *p, void *conn)
{
    pthread_mutex_lock(&p->lock);
    for (int i = 0; i < p->n_slots; i++)
        if (!p->conns[i] && !p->in_use[i]) {
            p->conns[i] = conn;
            p->n_open++;
            break;
        }
    pthread_cond_signal(&p->freed);
    pthread_mutex_unlock(&p->lock);
}

/* A free slot holding a connection, else an empty one the pool may still fill; -1: none. */
static int free_slot(const struct store_pool *p)
{
    for (int i = 0; i < p->n_slots; i++)
        if (p->conns[i] && !p->in_use[i])
            return i;
    if (p->n_open < p->n_slots)
        for (int i = 0; i < p->n_slots; i++)
            if (!p->conns[i] && !p->in_use[i])
                return i;
    return -1;
}

int store_pool_checkout(struct store_pool *p, void **out_conn, struct mr_err *err)
{
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += p->wait_ms / 1000;
    deadline.tv_nsec += (long)(p->wait_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    *out_conn = NULL;
    pthread_mutex_lock(&p->lock);
    int i;
    while ((i = free_slot(p)) < 0) {
        if (pthread_cond_timedwait(&p->freed, &p->lock, &deadline) == ETIMEDOUT &&
            (i = free_slot(p)) < 0) {
            int n = p->n_slots;
            pthread_mutex_unlock(&p->lock);
            return mr_err_set(err, MR_EUNAVAIL,
                              "database error: no free connection in %g s (all %d busy: "
                              "DATABASE_POOL_SIZE %d + DATABASE_MAX_OVERFLOW %d)",
                              p->wait_ms / 1000.0, n, p->size, n - p->size);
        }
    }
    p->in_use[i] = true;
    void *c = p->conns[i];
    if (!c)
        p->n_open++; /* counted now, so no other thread opens past n_slots meanwhile */
    pthread_mutex_unlock(&p->lock);
    if (!c) {
        /* Opened outside the lock: it takes a round trip, or a timeout. */
        int rc = p->ops->open(p->owner, &c, err);
        pthread_mutex_lock(&p->lock);
        if (rc == 0) {
            p->conns[i] = c;
        } else {
            p->in_use[i] = false;
            p->n_open--;
            pthread_cond_signal(&p->freed);
        }
        pthread_mutex_unlock(&p->lock);
        if (rc)
            return rc;
    }
    *out_conn = c;
    return 0;
}

void store_pool_checkin(struct store_pool *p, void *conn, bool discard)
{
    pthread_mutex_lock(&p->lock);
    int i = 0;
    while (i < p->n_slots && p->conns[i] != conn)
        i++;
    if (i == p->n_slots) { /* not ours: a bug; close it rather than keep it */
        pthread_mutex_unlock(&p->lock);
        p->ops->close(p->owner, conn);
        return;
    }
    bool close = discard || p->n_open > p->size;
    if (close) {
        p->conns[i] = NULL;
        p->n_open--;
    }
    p->in_use[i] = false;
    pthread_cond_signal(&p->freed);
    pthread_mutex_unlock(&p->lock);
    if (close)
        p->ops->close(p->owner, conn);
}

void store_pool_destroy(struct store_pool *p)
{
    if (!p->conns)
        return;
    for (int i = 0; i < p->n_slots; i++)
        if (p->conns[i])
            p->ops->close(p->owner, p->conns[i]);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->freed);
    free(p->conns);
    free(p->in_use);
    p->conns = NULL;
    p->in_use = NULL;
}
