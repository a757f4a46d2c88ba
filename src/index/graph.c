/*
 * graph.c — a partition's HNSW graph: searched under the query's filters,
 * and built aside.
 *
 * A partition past the ANN threshold gets a graph, built by a thread from
 * copies taken under the read lock, caught up with the writes that came
 * meanwhile, and swapped in under the write lock for the few entries still
 * pending: searches go on during the build (exact scans, or the old graph),
 * writers wait only for one chunk's copy. The same happens when tombstones
 * outnumber live nodes. Once a partition has a graph the graph holds its
 * vectors, the only copy. A first build may start from a snapshot's graph
 * (a seed, snapshot.c): it then changes only the entries that differ from
 * the seed.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "index_int.h"

#define CATCH_UP_UNDER_LOCK 256 /* pending writes replayed under the write lock at the swap */
#define CHUNK 1024              /* entries copied per hold of the read lock */
#define GRAPH_M 16
#define GRAPH_EF_CONSTRUCTION 100
#define GRAPH_SEED 0x5eed

struct accept_ctx {
    const struct ix_part *p;
    const struct ix_filter *f;
};

/*
 * The filter of a round of the graph's results: each id's slot is an id
 * map's cell, then its metadata, two misses the one after the other at
 * 100 k entries; the round's cells are loaded first, then their metadata
 * (two lines: the id and expiry, the type and archived flag), then the
 * checks run, so the misses of a round (40 results for a hybrid search)
 * overlap.
 */
#define ACCEPT_CHUNK 64

static void accept_hits(void *arg, const int64_t *ids, size_t n, bool *ok)
{
    const struct accept_ctx *a = arg;
    long slot[ACCEPT_CHUNK];
    for (size_t at = 0; at < n; at += ACCEPT_CHUNK) {
        size_t m = n - at < ACCEPT_CHUNK ? n - at : ACCEPT_CHUNK;
        for (size_t i = 0; i < m; i++)
            ix_idmap_prefetch(&a->p->slots, ids[at + i]);
        for (size_t i = 0; i < m; i++) {
            slot[i] = ix_part_slot(a->p, ids[at + i]);
            if (slot[i] >= 0) {
                __builtin_prefetch(&a->p->meta[slot[i]]);
                __builtin_prefetch(&a->p->meta[slot[i]].memory_type);
            }
        }
        for (size_t i = 0; i < m; i++)
            ok[at + i] = slot[i] >= 0 && ix_matches(a->p, (size_t)slot[i], a->f);
    }
}

void ix_graph_search(const struct ix *ix, const struct ix_part *p, const struct ix_filter *f,
                     const struct mr_index_query *q, struct ix_heap *top)
{
    struct mr_index_hit *hits = mr_xmalloc(q->limit * sizeof *hits);
    struct accept_ctx a = {p, f};
    size_t ef = ix->ef_search > q->limit ? ix->ef_search : q->limit;
    size_t got = hnsw_search_batch(p->graph, q->vec, q->limit, ef, accept_hits, &a, hits);
    for (size_t i = 0; i < got; i++)
        if (hits[i].score >= q->min_score)
            ix_heap_keep(top, q->limit, hits[i]);
    free(hits);
}

/* A graph built aside; the ids written meanwhile are replayed into it. */
struct ix_build {
    struct ix *ix;
    struct ix_part *p;
    struct hnsw *seed; /* start from this graph (a snapshot's) rather than from nothing */
    int64_t *touched;  /* appended under the write lock */
    size_t n_touched, cap_touched, replayed;
};

/* Copies of entries (id, vector, still live?), taken under the lock, used after it. */
struct batch {
    int64_t *ids;
    float *vecs;
    bool *live;
    size_t n;
};

static void batch_init(struct batch *b, size_t cap, size_t d)
{
    b->ids = mr_xmalloc((cap + 1) * sizeof *b->ids);
    b->vecs = mr_xmalloc((cap + 1) * d * sizeof *b->vecs);
    b->live = mr_xmalloc((cap + 1) * sizeof *b->live);
    b->n = 0;
}

static void batch_free(struct batch *b)
{
    free(b->ids);
    free(b->vecs);
    free(b->live);
}

/* Appends id's current state in p to b. Lock held (read or write). */
static void batch_take(const struct ix *ix, const struct ix_part *p, struct batch *b, int64_t id)
{
    long slot = ix_part_slot(p, id);
    const float *v = slot >= 0 ? ix_part_vec(ix, p, (size_t)slot) : NULL;
    b->ids[b->n] = id;
    b->live[b->n] = v != NULL;
    if (v)
        memcpy(b->vecs + b->n * ix->dim, v, ix->dim * sizeof *b->vecs);
    b->n++;
}

/*
 * Puts b into fresh: each id dropped, then added again when it is live —
 * unless fresh holds that very vector for it already (a snapshot's graph, a
 * write that changed only metadata). No lock needed.
 */
static void batch_apply(struct hnsw *fresh, const struct batch *b, size_t d)
{
    for (size_t i = 0; i < b->n; i++) {
        const float *have = hnsw_vector(fresh, b->ids[i]);
        if (b->live[i] && have && memcmp(have, b->vecs + i * d, d * sizeof *have) == 0)
            continue;
        hnsw_delete(fresh, b->ids[i]);
        if (b->live[i])
            hnsw_add(fresh, b->ids[i], b->vecs + i * d);
    }
}

/*
 * Copies the state of up to max ids written since the build began (from
 * r->replayed on) into b. Lock held.
 */
static void take_touched(struct ix_build *r, struct batch *b, size_t max)
{
    b->n = 0;
    while (r->replayed < r->n_touched && b->n < max)
        batch_take(r->ix, r->p, b, r->touched[r->replayed++]);
}

static void build_started(struct ix *ix)
{
    pthread_mutex_lock(&ix->builds_lock);
    ix->builds_running++;
    pthread_mutex_unlock(&ix->builds_lock);
}

/* A build is over (swapped in, given up, or never started): ix_wait_builds may return. */
static void build_ended(struct ix *ix)
{
    pthread_mutex_lock(&ix->builds_lock);
    ix->builds_running--;
    pthread_cond_broadcast(&ix->builds_done);
    pthread_mutex_unlock(&ix->builds_lock);
}

/* The end of a builder, swapped in or given up. */
static void build_finished(struct ix *ix, struct ix_build *r)
{
    free(r->touched);
    free(r);
    build_ended(ix);
}

/*
 * Tombstones the nodes of a seeded graph whose ids p no longer holds,
 * checking CHUNK ids per hold of the read lock. An id dropped after its
 * check is in r->touched, replayed later.
 */
static void drop_strays(struct ix *ix, struct ix_part *p, struct hnsw *g)
{
    size_t n = hnsw_count(g);
    int64_t *ids = mr_xmalloc((n + 1) * sizeof *ids);
    n = hnsw_live_ids(g, ids);
    size_t strays = 0;
    for (size_t at = 0; at < n;) {
        pthread_rwlock_rdlock(&ix->lock);
        for (size_t stop = at + CHUNK < n ? at + CHUNK : n; at < stop; at++)
            if (ix_part_slot(p, ids[at]) < 0)
                ids[strays++] = ids[at]; /* strays <= at: overwrites only what was read */
        pthread_rwlock_unlock(&ix->lock);
    }
    for (size_t i = 0; i < strays; i++)
        hnsw_delete(g, ids[i]);
    free(ids);
}

/*
 * Swaps fresh in for p's graph after replaying the last writes under the
 * write lock (held on entry, released here). The old graph and the
 * partition's own vectors are freed after the lock.
 */
static void swap_in(struct ix_build *r, struct hnsw *fresh)
{
    struct ix *ix = r->ix;
    struct ix_part *p = r->p;
    struct batch b;
    batch_init(&b, r->n_touched - r->replayed, ix->dim);
    take_touched(r, &b, SIZE_MAX);
    batch_apply(fresh, &b, ix->dim);
    batch_free(&b);
    struct hnsw *old = p->graph;
    p->graph = fresh;
    p->graph_dead = hnsw_nodes(fresh) - hnsw_count(fresh);
    /* The graph holds the vectors from now on; unmapping them waits until after the lock. */
    float *flat_vecs = p->vecs, *q8_scale = p->q8_scale;
    int8_t *q8 = p->q8;
    p->vecs = NULL;
    p->q8 = NULL;
    p->q8_scale = NULL;
    p->building = NULL;
    pthread_rwlock_unlock(&ix->lock);
    free(flat_vecs);
    free(q8);
    free(q8_scale);
    hnsw_free(old);
}

/*
 * Builds p's graph aside. The entries are copied CHUNK at a time under the
 * read lock (a writer waits for one chunk, a reader for nothing) and added
 * without it; every write since the build began is in r->touched (a drop
 * also names the entry it moved into the hole, so none is missed), and is
 * replayed the same way in small rounds, then the last few under the write
 * lock with the swap.
 */
static void *build_main(void *arg)
{
    struct ix_build *r = arg;
    struct ix *ix = r->ix;
    struct ix_part *p = r->p;
    size_t d = ix->dim;
    /* A snapshot's graph needs only what changed since it was written. */
    struct hnsw *fresh =
        r->seed ? r->seed : hnsw_new(d, GRAPH_M, GRAPH_EF_CONSTRUCTION, GRAPH_SEED);
    if (r->seed)
        drop_strays(ix, p, fresh);
    struct batch b;
    batch_init(&b, CHUNK, d);
    pthread_rwlock_rdlock(&ix->lock);
    size_t end = p->n; /* entries added after this are in r->touched */
    pthread_rwlock_unlock(&ix->lock);
    bool stopping = false;
    for (size_t at = 0; !stopping;) {
        pthread_rwlock_rdlock(&ix->lock);
        b.n = 0;
        size_t stop = end < p->n ? end : p->n;
        for (; at < stop && b.n < CHUNK; at++)
            batch_take(ix, p, &b, p->meta[at].id);
        stopping = ix->stopping;
        pthread_rwlock_unlock(&ix->lock);
        if (b.n == 0)
            break;
        batch_apply(fresh, &b, d);
    }
    while (!stopping) {
        pthread_rwlock_rdlock(&ix->lock);
        bool few = r->n_touched - r->replayed <= CATCH_UP_UNDER_LOCK;
        if (!few)
            take_touched(r, &b, CHUNK);
        stopping = ix->stopping;
        pthread_rwlock_unlock(&ix->lock);
        if (few)
            break;
        batch_apply(fresh, &b, d);
    }
    batch_free(&b);
    pthread_rwlock_wrlock(&ix->lock);
    if (stopping) {
        p->building = NULL;
        pthread_rwlock_unlock(&ix->lock);
        hnsw_free(fresh);
    } else {
        swap_in(r, fresh);
    }
    build_finished(ix, r);
    return NULL;
}

void ix_build_maybe(struct ix *ix, struct ix_part *p)
{
    bool wanted = p->graph ? p->graph_dead > p->n : ix->ann_threshold && p->n >= ix->ann_threshold;
    if (!wanted || p->building)
        return;
    if (p->has_builder)
        pthread_join(p->builder, NULL); /* finished: it cleared p->building */
    struct ix_build *r = mr_xcalloc(1, sizeof *r);
    r->ix = ix;
    r->p = p;
    if (!p->graph) {
        /* A first build may start from a snapshot; a rebuild is for shedding tombstones. */
        r->seed = p->seed;
        p->seed = NULL;
    }
    build_started(ix);
    p->building = r;
    p->has_builder = pthread_create(&p->builder, NULL, build_main, r) == 0;
    if (!p->has_builder) {
        /* No thread to be had: searches stay exact (or on the old graph); a later write retries. */
        p->building = NULL;
        p->seed = r->seed;
        free(r);
        build_ended(ix);
    }
}

void ix_build_touch(struct ix_part *p, int64_t id)
{
    struct ix_build *r = p->building;
    if (!r)
        return;
    if (r->n_touched == r->cap_touched) {
        r->cap_touched = r->cap_touched ? r->cap_touched * 2 : 256;
        r->touched = mr_xrealloc(r->touched, r->cap_touched * sizeof *r->touched);
    }
    r->touched[r->n_touched++] = id;
}

void ix_wait_builds(struct mr_index *base)
{
    struct ix *ix = ix_of(base);
    pthread_mutex_lock(&ix->builds_lock);
    while (ix->builds_running)
        pthread_cond_wait(&ix->builds_done, &ix->builds_lock);
    pthread_mutex_unlock(&ix->builds_lock);
}
