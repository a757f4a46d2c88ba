/*
 * access.c — access statistics off the request path (issue 15; DESIGN.md §3;
 * docs/decisions.md, "Access statistics are merged in batches").
 *
 * A search or a context answer records each returned memory's access here,
 * in memory, and writes nothing: a table of pending deltas keyed by row id
 * (how many accesses, the latest's time) that every read of the service
 * merges into the rows it got from the store (mr_rule_record_accesses), so
 * the next GET, search or context sees them and the promotion happens on the
 * same access as before. A flusher thread hands the deltas to the store in
 * one batch (mem_record_access: an increment on the live row, never an
 * overwrite) every interval_ms after the first unflushed hit, or as soon as
 * max_hits have piled up; a clean stop flushes what is left. A promotion the
 * merge makes is recorded in the history by the same transaction.
 *
 * The one delicate moment is the flush's commit: a reader that read its rows
 * while a batch was being committed cannot tell whether they hold it (its
 * deltas are then no longer pending), so commit_seq is odd across the commit
 * and a reader whose read overlapped it (commit_seq not what it was before
 * the read) reads again once the commit is over. Flushes are a few per
 * second at most, so a reader almost never reads twice, and no reader ever
 * waits for a write that is not overlapping its own read.
 *
 * A write that reads a row, changes it and writes every column back (PATCH,
 * promote) first settles the row's pending deltas into its own transaction
 * (core_access_settle), so the row it writes holds them and nothing is
 * counted twice or lost.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core_int.h"
#include "memori/rules.h"

#define DEFAULT_INTERVAL_MS 100
#define DEFAULT_MAX_HITS 1024
#define MIN_SLOTS 64

struct pending {
    int64_t id;            /* 0: an empty slot (row ids start at 1) */
    int64_t k, last;       /* accesses no flush has taken yet, the latest's time */
    int64_t k_fl, last_fl; /* those the running flush is merging, not committed yet */
};

struct core_access {
    struct mr_store *store;
    int interval_ms; /* < 0: no flusher thread */
    size_t max_hits;
    pthread_mutex_t mu;     /* everything below */
    pthread_cond_t wake;    /* the flusher: the first hit, max_hits hits, or stop */
    pthread_cond_t settled; /* a flush's commit is over */
    struct pending *slots;  /* open addressing, linear probing, cap a power of two */
    size_t cap, used;
    size_t hits;         /* accesses recorded since the last flush took its batch */
    uint64_t commit_seq; /* odd while a flush commits */
    bool stop;
    bool failing; /* the last flush failed: the flusher waits a whole interval */
    uint64_t flushes, flushed_hits, failures;
    pthread_mutex_t flush_mu; /* one flush at a time (the thread, a caller, the stop) */
    pthread_t thread;
    bool has_thread;
};

static size_t slot_of(int64_t id, size_t cap)
{
    uint64_t h = (uint64_t)id * 0x9E3779B97F4A7C15ull;
    return (size_t)(h >> 17) & (cap - 1);
}

static struct pending *slot_find(struct core_access *a, int64_t id)
{
    if (a->used == 0)
        return NULL;
    for (size_t i = slot_of(id, a->cap);; i = (i + 1) & (a->cap - 1)) {
        if (a->slots[i].id == id)
            return &a->slots[i];
        if (a->slots[i].id == 0)
            return NULL;
    }
}

/* Rebuilds the table at cap slots, dropping the entries with nothing pending or in flight. */
static void slots_rebuild(struct core_access *a, size_t cap)
{
    struct pending *old = a->slots;
    size_t old_cap = a->cap;
    a->slots = mr_xcalloc(cap, sizeof *a->slots);
    a->cap = cap;
    a->used = 0;
    for (size_t j = 0; j < old_cap; j++) {
        struct pending *p = &old[j];
        if (p->id == 0 || (p->k == 0 && p->k_fl == 0))
            continue;
        size_t i = slot_of(p->id, cap);
        while (a->slots[i].id != 0)
            i = (i + 1) & (cap - 1);
        a->slots[i] = *p;
        a->used++;
    }
    free(old);
}

static struct pending *slot_get(struct core_access *a, int64_t id)
{
    struct pending *p = slot_find(a, id);
    if (p)
        return p;
    if (2 * (a->used + 1) > a->cap)
        slots_rebuild(a, a->cap * 2);
    size_t i = slot_of(id, a->cap);
    while (a->slots[i].id != 0)
        i = (i + 1) & (a->cap - 1);
    a->slots[i] = (struct pending){.id = id, .last = MR_NO_TIME, .last_fl = MR_NO_TIME};
    a->used++;
    return &a->slots[i];
}

static int64_t max64(int64_t x, int64_t y)
{
    return x > y ? x : y;
}

uint64_t core_access_epoch(struct core_access *a)
{
    pthread_mutex_lock(&a->mu);
    uint64_t seq = a->commit_seq;
    pthread_mutex_unlock(&a->mu);
    return seq;
}

bool core_access_apply(struct core_access *a, uint64_t seen, struct mr_memory *ms, size_t n,
                       const bool *record, bool *out_promoted, int64_t now)
{
    pthread_mutex_lock(&a->mu);
    if ((seen & 1) || a->commit_seq != seen) {
        /* The rows may or may not hold the batch being (or just) committed: read them again. */
        while (a->commit_seq & 1)
            pthread_cond_wait(&a->settled, &a->mu);
        pthread_mutex_unlock(&a->mu);
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        bool rec = record && record[i];
        struct pending *p = rec ? slot_get(a, ms[i].id) : slot_find(a, ms[i].id);
        if (p)
            mr_rule_record_accesses(&ms[i], p->k + p->k_fl, max64(p->last, p->last_fl));
        if (!rec)
            continue;
        /* This access, on the merged row: the rule decides its promotion exactly as before. */
        bool promoted = mr_rule_record_access(&ms[i], now);
        if (out_promoted)
            out_promoted[i] = promoted;
        p->k++;
        p->last = max64(p->last, now);
        if (++a->hits == 1 || a->hits == a->max_hits)
            pthread_cond_signal(&a->wake);
    }
    pthread_mutex_unlock(&a->mu);
    return true;
}

void core_access_peek(struct core_access *a, struct mr_memory *m)
{
    pthread_mutex_lock(&a->mu);
    struct pending *p = slot_find(a, m->id);
    if (p)
        mr_rule_record_accesses(m, p->k + p->k_fl, max64(p->last, p->last_fl));
    pthread_mutex_unlock(&a->mu);
}

/*
 * Merges d[0..n) inside tx, and records each promotion the merge made in
 * the history in tx too (docs/hygiene.md): the promotion and its event
 * commit together, from one statement's answer (no read per row).
 */
static int merge(struct mr_store_tx *tx, const struct mr_access_delta *d, size_t n,
                 struct mr_err *err)
{
    struct mr_access_promotion *p = NULL;
    size_t np = 0;
    int rc = mr_store_mem_record_access_promoted(tx, d, n, NULL, &p, &np, err);
    if (rc == 0)
        rc = core_history_promotions(tx, p, np, err);
    mr_access_promotions_free(p, np);
    return rc;
}

/* The columns the accesses change (mem_record_access's), from src into dst. */
static void copy_statistics(struct mr_memory *dst, const struct mr_memory *src)
{
    dst->access_count = src->access_count;
    dst->last_accessed_at = src->last_accessed_at;
    dst->importance_score = src->importance_score;
    dst->memory_type = src->memory_type;
    dst->expires_at = src->expires_at;
    dst->updated_at = src->updated_at;
}

int core_access_serve(struct mr_service *svc, uint64_t seen, struct mr_memory *ms, size_t n,
                      const bool *record, bool *out_promoted, int64_t now, struct mr_err *err)
{
    while (!core_access_apply(svc->access, seen, ms, n, record, out_promoted, now)) {
        /*
         * A flush committed while the rows were read: read their statistics
         * again (a flush changes nothing else), in a transaction begun after
         * the new epoch was taken.
         */
        seen = core_access_epoch(svc->access);
        struct mr_store_tx *tx;
        int rc = mr_store_begin(svc->store, MR_TX_READ, &tx, err);
        if (rc)
            return rc;
        for (size_t i = 0; rc == 0 && i < n; i++) {
            struct mr_memory fresh;
            int g = mr_store_mem_get_by_id(tx, ms[i].id, &fresh, err);
            if (g == 0)
                copy_statistics(&ms[i], &fresh);
            else if (g != MR_ENOTFOUND)
                rc = g; /* deleted since: served as read, its access merges into nothing */
            mr_memory_clear(&fresh);
        }
        mr_store_rollback(tx);
        if (rc)
            return rc;
    }
    return 0;
}

int core_access_settle(struct mr_service *svc, struct mr_store_tx *tx, struct mr_memory *m,
                       struct core_access_taken *out, struct mr_err *err)
{
    struct core_access *a = svc->access;
    *out = (struct core_access_taken){.id = m->id, .last = MR_NO_TIME};
    pthread_mutex_lock(&a->mu);
    struct pending *p = slot_find(a, m->id);
    if (p && p->k > 0) {
        out->k = p->k;
        out->last = p->last;
        a->hits -= (size_t)p->k < a->hits ? (size_t)p->k : a->hits;
        p->k = 0;
        p->last = MR_NO_TIME;
    }
    pthread_mutex_unlock(&a->mu);
    /*
     * Merged in this transaction, then read back: on PostgreSQL the merge
     * also locks the row (a count of 0 only locks it), so the row read after
     * it holds every access another server or our flusher committed.
     */
    struct mr_access_delta d = {m->id, out->k, out->last};
    int rc = merge(tx, &d, 1, err);
    struct mr_memory fresh;
    if (rc == 0 && (rc = mr_store_mem_get_by_id(tx, m->id, &fresh, err)) == 0) {
        mr_memory_clear(m);
        *m = fresh;
    }
    return rc;
}

void core_access_settled(struct mr_service *svc, const struct core_access_taken *t, int rc)
{
    if (rc == 0 || t->k == 0)
        return;
    /* The write rolled back, and the accesses it had taken with it: pending again. */
    struct core_access *a = svc->access;
    pthread_mutex_lock(&a->mu);
    struct pending *p = slot_get(a, t->id);
    p->k += t->k;
    p->last = max64(p->last, t->last);
    a->hits += (size_t)t->k;
    pthread_mutex_unlock(&a->mu);
}

/* Puts a failed batch back as pending; a->mu held. */
static void batch_restore(struct core_access *a, const struct mr_access_delta *d, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct pending *p = slot_find(a, d[i].id);
        p->k += p->k_fl;
        p->last = max64(p->last, p->last_fl);
        a->hits += (size_t)p->k_fl;
        p->k_fl = 0;
        p->last_fl = MR_NO_TIME;
    }
}

/*
 * One flush: the write transaction first (on SQLite it holds the write lock
 * from its begin, so no read-modify-write of a row runs between our taking
 * the batch and our commit), then the batch, merged and committed without
 * waiting for the disk: statistics may lose their last flush interval.
 */
static int flush_once(struct core_access *a, struct mr_err *err)
{
    pthread_mutex_lock(&a->flush_mu);
    pthread_mutex_lock(&a->mu);
    bool idle = a->hits == 0; /* hits is the sum of the pending counts */
    pthread_mutex_unlock(&a->mu);
    if (idle) {
        pthread_mutex_unlock(&a->flush_mu);
        return 0;
    }
    struct mr_store_tx *tx;
    int rc = mr_store_begin(a->store, MR_TX_WRITE_LAZY, &tx, err);
    if (rc) {
        pthread_mutex_lock(&a->mu);
        a->failures++;
        a->failing = true;
        pthread_mutex_unlock(&a->mu);
        pthread_mutex_unlock(&a->flush_mu);
        return rc;
    }
    pthread_mutex_lock(&a->mu);
    struct mr_access_delta *d = mr_xcalloc(a->used + 1, sizeof *d);
    size_t n = 0;
    int64_t total = 0;
    for (size_t i = 0; i < a->cap; i++) {
        struct pending *p = &a->slots[i];
        if (p->id == 0 || p->k == 0)
            continue;
        d[n++] = (struct mr_access_delta){p->id, p->k, p->last};
        total += p->k;
        p->k_fl = p->k;
        p->last_fl = p->last;
        p->k = 0;
        p->last = MR_NO_TIME;
    }
    a->hits = 0;
    pthread_mutex_unlock(&a->mu);
    if (n == 0) {
        mr_store_rollback(tx);
        free(d);
        pthread_mutex_unlock(&a->flush_mu);
        return 0;
    }
    rc = merge(tx, d, n, err);
    if (rc) {
        mr_store_rollback(tx);
    } else {
        pthread_mutex_lock(&a->mu);
        a->commit_seq++; /* odd: readers overlapping the commit read again */
        pthread_mutex_unlock(&a->mu);
        rc = mr_store_commit(tx, err);
    }
    pthread_mutex_lock(&a->mu);
    if (rc) {
        batch_restore(a, d, n);
        a->failures++;
    } else {
        for (size_t i = 0; i < n; i++) {
            struct pending *p = slot_find(a, d[i].id);
            p->k_fl = 0;
            p->last_fl = MR_NO_TIME;
        }
        a->flushes++;
        a->flushed_hits += (uint64_t)total;
    }
    if (a->commit_seq & 1) {
        a->commit_seq++;
        pthread_cond_broadcast(&a->settled);
    }
    /* Entries with nothing left go; the table keeps room for the next interval's hits. */
    size_t cap = a->cap;
    while (cap > MIN_SLOTS && 8 * a->used < cap)
        cap /= 2;
    slots_rebuild(a, cap);
    a->failing = rc != 0;
    pthread_mutex_unlock(&a->mu);
    free(d);
    pthread_mutex_unlock(&a->flush_mu);
    return rc;
}

static void deadline_after(struct timespec *ts, int ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

static void *flusher_main(void *arg)
{
    struct core_access *a = arg;
    bool reported = false;
    pthread_mutex_lock(&a->mu);
    while (!a->stop) {
        if (a->hits == 0) {
            pthread_cond_wait(&a->wake, &a->mu);
            continue;
        }
        /* interval_ms after the first unflushed hit, or at once past max_hits (not after a
         * failure: the store gets a whole interval to recover). */
        struct timespec until;
        deadline_after(&until, a->interval_ms);
        while (!a->stop && (a->failing || a->hits < a->max_hits))
            if (pthread_cond_timedwait(&a->wake, &a->mu, &until) == ETIMEDOUT)
                break;
        if (a->stop)
            break;
        pthread_mutex_unlock(&a->mu);
        struct mr_err err;
        int rc = flush_once(a, &err);
        if (rc && !reported)
            fprintf(stderr, "memori: access statistics not written yet (retrying): %s\n", err.msg);
        reported = rc != 0;
        pthread_mutex_lock(&a->mu);
    }
    pthread_mutex_unlock(&a->mu);
    return NULL;
}

struct core_access *core_access_new(struct mr_store *store, int interval_ms, int max_hits)
{
    struct core_access *a = mr_xcalloc(1, sizeof *a);
    a->store = store;
    a->interval_ms = interval_ms == 0 ? DEFAULT_INTERVAL_MS : interval_ms;
    a->max_hits = max_hits > 0 ? (size_t)max_hits : DEFAULT_MAX_HITS;
    a->cap = MIN_SLOTS;
    a->slots = mr_xcalloc(a->cap, sizeof *a->slots);
    pthread_mutex_init(&a->mu, NULL);
    pthread_mutex_init(&a->flush_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&a->wake, &ca);
    pthread_condattr_destroy(&ca);
    pthread_cond_init(&a->settled, NULL);
    if (a->interval_ms > 0) {
        if (pthread_create(&a->thread, NULL, flusher_main, a) != 0) {
            fprintf(stderr, "memori: cannot start the access flusher thread\n");
            abort();
        }
        a->has_thread = true;
    }
    return a;
}

int core_access_flush(struct core_access *a, struct mr_err *err)
{
    return flush_once(a, err);
}

void core_access_stats(struct core_access *a, struct core_access_stats *out)
{
    pthread_mutex_lock(&a->mu);
    out->pending = 0;
    for (size_t i = 0; i < a->cap; i++)
        out->pending += a->slots[i].k + a->slots[i].k_fl;
    out->flushes = a->flushes;
    out->flushed = a->flushed_hits;
    out->failures = a->failures;
    pthread_mutex_unlock(&a->mu);
}

void core_access_free(struct core_access *a)
{
    if (!a)
        return;
    pthread_mutex_lock(&a->mu);
    a->stop = true;
    pthread_cond_signal(&a->wake);
    pthread_mutex_unlock(&a->mu);
    if (a->has_thread)
        pthread_join(a->thread, NULL);
    /* A clean stop writes what is pending (the store outlives the service). */
    struct mr_err err;
    if (flush_once(a, &err) != 0)
        fprintf(stderr, "memori: access statistics of the last %d ms lost: %s\n",
                a->interval_ms > 0 ? a->interval_ms : 0, err.msg);
    pthread_cond_destroy(&a->wake);
    pthread_cond_destroy(&a->settled);
    pthread_mutex_destroy(&a->mu);
    pthread_mutex_destroy(&a->flush_mu);
    free(a->slots);
    free(a);
}
