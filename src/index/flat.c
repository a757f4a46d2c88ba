/*
 * flat.c — the exact index: per-(tenant, user) partitions holding vectors
 * contiguously with their filter metadata, scanned in full for each query,
 * keeping the best `limit` in a bounded min-heap.
 *
 * Exact and simple on purpose: it is the reference every faster index
 * (SIMD kernels, HNSW) is checked against.
 *
 * A partition past the ANN threshold gets an HNSW graph, built aside by a
 * thread (from a copy taken under the read lock), caught up with the writes
 * that came meanwhile, and swapped in under the write lock for the few
 * entries still pending: searches go on during the build (exact scans, or
 * the old graph), writers wait only for the copy. The same happens when
 * tombstones outnumber live nodes. Once a partition has a graph the graph
 * holds its vectors, the only copy. A first build may start from a
 * snapshot's graph (a seed, snapshot.c): it then changes only the entries
 * that differ from the seed.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdlib.h>
#include <string.h>

#include "memori/hnsw.h"
#include "memori/index.h"
#include "memori/util.h"

struct meta {
    int64_t id;
    int64_t expires_at;
    char conversation_id[MR_UUID_LEN];
    uint8_t memory_type;
    bool is_archived;
};

struct rebuild;

struct partition {
    char *key; /* tenant "\x1f" user */
    struct meta *meta;
    float *vecs; /* n × dim until the partition has a graph, then NULL (the graph's) */
    int8_t *q8;  /* int8 copies, n × dim, and their scales (only with int8 scans, no graph) */
    float *q8_scale;
    size_t n, cap;
    /* id → slot, open addressing with linear probing; slot+1 stored, 0 = empty. */
    int64_t *map_ids;
    uint32_t *map_slots;
    size_t map_cap, map_used;
    /* Above the ANN threshold: an HNSW graph over the same entries. */
    struct mr_hnsw *graph;
    size_t graph_dead;        /* tombstones; the graph is rebuilt when they outnumber the live */
    struct rebuild *building; /* a graph being built aside, or NULL */
    struct mr_hnsw *seed;     /* a graph from a snapshot, the next build's starting point */
    pthread_t builder;        /* the last builder thread, joined before the next starts */
    bool has_builder;
};

/* A graph built aside; the ids written meanwhile are replayed into it. */
struct rebuild {
    struct flat *f;
    struct partition *p;
    struct mr_hnsw *seed; /* start from this graph (a snapshot's) rather than from nothing */
    int64_t *touched; /* appended under the write lock */
    size_t n_touched, cap_touched, replayed;
};

struct flat {
    struct mr_index base;
    size_t dim;
    pthread_rwlock_t lock;
    struct partition **parts; /* open addressing by key hash */
    size_t parts_cap, parts_used, total;
    size_t ann_threshold; /* partitions this large get a graph; 0 = never */
    size_t ef_search;
    bool int8;     /* scan int8 copies, rescore in float32 */
    bool stopping; /* destroying: builds give up (written under the write lock) */
    pthread_mutex_t builds_lock; /* guards builds_running */
    pthread_cond_t builds_done;
    size_t builds_running;
};

static uint64_t hash_bytes(const char *s, size_t n)
{
    return mr_fnv1a64(MR_FNV64_BASIS, s, n);
}

static uint64_t hash_id(int64_t id)
{
    uint64_t x = (uint64_t)id * UINT64_C(0x9e3779b97f4a7c15);
    return x ^ (x >> 29);
}

/*
 * Partition keys: "<tenant length>:<tenant>|<user>" for a user's memories,
 * "<tenant length>:<tenant>#" for what the tenant's users shared. The length
 * makes them unambiguous whatever bytes ids contain.
 */
static char *make_key(const struct mr_identity *who, bool shared, size_t *out_len)
{
    size_t t = strlen(who->tenant_id), u = shared ? 0 : strlen(who->user_id);
    char *k = mr_xmalloc(t + u + 32);
    int n = snprintf(k, 24, "%zu:", t);
    memcpy(k + n, who->tenant_id, t);
    k[n + t] = shared ? '#' : '|';
    if (!shared)
        memcpy(k + n + t + 1, who->user_id, u);
    k[n + t + 1 + u] = '\0';
    *out_len = (size_t)n + t + 1 + u;
    return k;
}

/* The partition named key (klen bytes), or NULL. */
static struct partition *lookup(const struct flat *f, const char *key, size_t klen)
{
    if (!f->parts_cap)
        return NULL;
    for (size_t i = hash_bytes(key, klen) & (f->parts_cap - 1); f->parts[i];
         i = (i + 1) & (f->parts_cap - 1))
        if (strcmp(f->parts[i]->key, key) == 0)
            return f->parts[i];
    return NULL;
}

static struct partition *find_part(struct flat *f, const struct mr_identity *who, bool shared,
                                   bool create)
{
    size_t klen;
    char *key = make_key(who, shared, &klen);
    struct partition *found = lookup(f, key, klen);
    if (found || !create) {
        free(key);
        return found;
    }
    if ((f->parts_used + 1) * 2 > f->parts_cap) {
        size_t ncap = f->parts_cap ? f->parts_cap * 2 : 16;
        struct partition **np = mr_xcalloc(ncap, sizeof *np);
        for (size_t i = 0; i < f->parts_cap; i++) {
            struct partition *p = f->parts[i];
            if (!p)
                continue;
            size_t j = hash_bytes(p->key, strlen(p->key)) & (ncap - 1);
            while (np[j])
                j = (j + 1) & (ncap - 1);
            np[j] = p;
        }
        free(f->parts);
        f->parts = np;
        f->parts_cap = ncap;
    }
    struct partition *p = mr_xcalloc(1, sizeof *p);
    p->key = key;
    size_t i = hash_bytes(key, klen) & (f->parts_cap - 1);
    while (f->parts[i])
        i = (i + 1) & (f->parts_cap - 1);
    f->parts[i] = p;
    f->parts_used++;
    return p;
}

/* Slot of id in p, or -1. */
static long map_get(const struct partition *p, int64_t id)
{
    if (!p->map_cap)
        return -1;
    for (size_t i = hash_id(id) & (p->map_cap - 1); p->map_slots[i]; i = (i + 1) & (p->map_cap - 1))
        if (p->map_ids[i] == id)
            return (long)p->map_slots[i] - 1;
    return -1;
}

static void map_put_raw(int64_t *ids, uint32_t *slots, size_t cap, int64_t id, uint32_t slot)
{
    size_t i = hash_id(id) & (cap - 1);
    while (slots[i] && ids[i] != id)
        i = (i + 1) & (cap - 1);
    ids[i] = id;
    slots[i] = slot + 1;
}

static void map_put(struct partition *p, int64_t id, uint32_t slot)
{
    if ((p->map_used + 1) * 2 > p->map_cap) {
        size_t ncap = p->map_cap ? p->map_cap * 2 : 64;
        int64_t *ids = mr_xcalloc(ncap, sizeof *ids);
        uint32_t *slots = mr_xcalloc(ncap, sizeof *slots);
        for (size_t i = 0; i < p->map_cap; i++)
            if (p->map_slots[i])
                map_put_raw(ids, slots, ncap, p->map_ids[i], p->map_slots[i] - 1);
        free(p->map_ids);
        free(p->map_slots);
        p->map_ids = ids;
        p->map_slots = slots;
        p->map_cap = ncap;
    }
    if (map_get(p, id) < 0)
        p->map_used++;
    map_put_raw(p->map_ids, p->map_slots, p->map_cap, id, slot);
}

/* Deletes id from the map, re-inserting the rest of its probe cluster. */
static void map_del(struct partition *p, int64_t id)
{
    size_t mask = p->map_cap - 1, i = hash_id(id) & mask;
    while (p->map_slots[i] && p->map_ids[i] != id)
        i = (i + 1) & mask;
    if (!p->map_slots[i])
        return;
    p->map_slots[i] = 0;
    p->map_used--;
    for (size_t j = (i + 1) & mask; p->map_slots[j]; j = (j + 1) & mask) {
        int64_t rid = p->map_ids[j];
        uint32_t rslot = p->map_slots[j] - 1;
        p->map_slots[j] = 0;
        map_put_raw(p->map_ids, p->map_slots, p->map_cap, rid, rslot);
    }
}

/* The vector of the entry at slot: the partition's own, or its graph's. */
static const float *entry_vec(const struct flat *f, const struct partition *p, size_t slot)
{
    return p->graph ? mr_hnsw_vector(p->graph, p->meta[slot].id) : p->vecs + slot * f->dim;
}

#define CATCH_UP_UNDER_LOCK 256 /* pending writes replayed under the write lock at the swap */
#define CHUNK 1024               /* entries copied per hold of the read lock */

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
static void batch_take(const struct flat *f, const struct partition *p, struct batch *b,
                       int64_t id)
{
    long slot = map_get(p, id);
    const float *v = slot >= 0 ? entry_vec(f, p, (size_t)slot) : NULL;
    b->ids[b->n] = id;
    b->live[b->n] = v != NULL;
    if (v)
        memcpy(b->vecs + b->n * f->dim, v, f->dim * sizeof *b->vecs);
    b->n++;
}

/*
 * Puts b into fresh: each id dropped, then added again when it is live —
 * unless fresh holds that very vector for it already (a snapshot's graph, a
 * write that changed only metadata). No lock needed.
 */
static void batch_apply(struct mr_hnsw *fresh, const struct batch *b, size_t d)
{
    for (size_t i = 0; i < b->n; i++) {
        const float *have = mr_hnsw_vector(fresh, b->ids[i]);
        if (b->live[i] && have && memcmp(have, b->vecs + i * d, d * sizeof *have) == 0)
            continue;
        mr_hnsw_delete(fresh, b->ids[i]);
        if (b->live[i])
            mr_hnsw_add(fresh, b->ids[i], b->vecs + i * d);
    }
}

/*
 * Copies the state of up to max ids written since the build began (from
 * r->replayed on) into b. Lock held.
 */
static void take_touched(struct rebuild *r, struct batch *b, size_t max)
{
    b->n = 0;
    while (r->replayed < r->n_touched && b->n < max)
        batch_take(r->f, r->p, b, r->touched[r->replayed++]);
}

/* The end of a builder, swapped in or given up. */
static void build_finished(struct flat *f, struct rebuild *r)
{
    free(r->touched);
    free(r);
    pthread_mutex_lock(&f->builds_lock);
    f->builds_running--;
    pthread_cond_broadcast(&f->builds_done);
    pthread_mutex_unlock(&f->builds_lock);
}

/*
 * Tombstones the nodes of a seeded graph whose ids p no longer holds,
 * checking CHUNK ids per hold of the read lock. An id dropped after its
 * check is in r->touched, replayed later.
 */
static void drop_strays(struct flat *f, struct partition *p, struct mr_hnsw *g)
{
    size_t n = mr_hnsw_count(g);
    int64_t *ids = mr_xmalloc((n + 1) * sizeof *ids);
    n = mr_hnsw_live_ids(g, ids);
    size_t strays = 0;
    for (size_t at = 0; at < n;) {
        pthread_rwlock_rdlock(&f->lock);
        for (size_t stop = at + CHUNK < n ? at + CHUNK : n; at < stop; at++)
            if (map_get(p, ids[at]) < 0)
                ids[strays++] = ids[at]; /* strays <= at: overwrites only what was read */
        pthread_rwlock_unlock(&f->lock);
    }
    for (size_t i = 0; i < strays; i++)
        mr_hnsw_delete(g, ids[i]);
    free(ids);
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
    struct rebuild *r = arg;
    struct flat *f = r->f;
    struct partition *p = r->p;
    size_t d = f->dim;
    /* A snapshot's graph needs only what changed since it was written. */
    struct mr_hnsw *fresh = r->seed ? r->seed : mr_hnsw_new(d, 16, 100, 0x5eed);
    if (r->seed)
        drop_strays(f, p, fresh);
    struct batch b;
    batch_init(&b, CHUNK, d);
    pthread_rwlock_rdlock(&f->lock);
    size_t end = p->n; /* entries added after this are in r->touched */
    pthread_rwlock_unlock(&f->lock);
    bool stopping = false;
    for (size_t at = 0; !stopping;) {
        pthread_rwlock_rdlock(&f->lock);
        b.n = 0;
        size_t stop = end < p->n ? end : p->n;
        for (; at < stop && b.n < CHUNK; at++)
            batch_take(f, p, &b, p->meta[at].id);
        stopping = f->stopping;
        pthread_rwlock_unlock(&f->lock);
        if (b.n == 0)
            break;
        batch_apply(fresh, &b, d);
    }
    while (!stopping) {
        pthread_rwlock_rdlock(&f->lock);
        bool few = r->n_touched - r->replayed <= CATCH_UP_UNDER_LOCK;
        if (!few)
            take_touched(r, &b, CHUNK);
        stopping = f->stopping;
        pthread_rwlock_unlock(&f->lock);
        if (few)
            break;
        batch_apply(fresh, &b, d);
    }
    batch_free(&b);
    pthread_rwlock_wrlock(&f->lock);
    if (stopping) {
        p->building = NULL;
        pthread_rwlock_unlock(&f->lock);
        mr_hnsw_free(fresh);
        build_finished(f, r);
        return NULL;
    }
    batch_init(&b, r->n_touched - r->replayed, d);
    take_touched(r, &b, SIZE_MAX);
    batch_apply(fresh, &b, d);
    batch_free(&b);
    struct mr_hnsw *old = p->graph;
    p->graph = fresh;
    p->graph_dead = mr_hnsw_nodes(fresh) - mr_hnsw_count(fresh);
    /* The graph holds the vectors from now on; unmapping them waits until after the lock. */
    float *flat_vecs = p->vecs, *q8_scale = p->q8_scale;
    int8_t *q8 = p->q8;
    p->vecs = NULL;
    p->q8 = NULL;
    p->q8_scale = NULL;
    p->building = NULL;
    pthread_rwlock_unlock(&f->lock);
    free(flat_vecs);
    free(q8);
    free(q8_scale);
    mr_hnsw_free(old);
    build_finished(f, r);
    return NULL;
}

/*
 * Starts building p's graph aside when p crossed the threshold or its
 * tombstones outnumber its live entries. Write lock held.
 */
static void maybe_build(struct flat *f, struct partition *p)
{
    bool wanted = p->graph ? p->graph_dead > p->n
                           : f->ann_threshold && p->n >= f->ann_threshold;
    if (!wanted || p->building)
        return;
    if (p->has_builder)
        pthread_join(p->builder, NULL); /* finished: it cleared p->building */
    struct rebuild *r = mr_xcalloc(1, sizeof *r);
    r->f = f;
    r->p = p;
    if (!p->graph) {
        /* A first build may start from a snapshot; a rebuild is for shedding tombstones. */
        r->seed = p->seed;
        p->seed = NULL;
    }
    pthread_mutex_lock(&f->builds_lock);
    f->builds_running++;
    pthread_mutex_unlock(&f->builds_lock);
    p->building = r;
    p->has_builder = pthread_create(&p->builder, NULL, build_main, r) == 0;
    if (!p->has_builder) {
        /* No thread to be had now: searches stay exact (or on the old graph); a later write retries. */
        p->building = NULL;
        p->seed = r->seed;
        free(r);
        pthread_mutex_lock(&f->builds_lock);
        f->builds_running--;
        pthread_mutex_unlock(&f->builds_lock);
    }
}

/* Notes that id changed, for a graph being built aside. Write lock held. */
static void touch(struct partition *p, int64_t id)
{
    struct rebuild *r = p->building;
    if (!r)
        return;
    if (r->n_touched == r->cap_touched) {
        r->cap_touched = r->cap_touched ? r->cap_touched * 2 : 256;
        r->touched = mr_xrealloc(r->touched, r->cap_touched * sizeof *r->touched);
    }
    r->touched[r->n_touched++] = id;
}

/* Writes e into p (adding or replacing). Lock held. */
static void put_entry(struct flat *f, struct partition *p, const struct mr_index_entry *e)
{
    long slot = map_get(p, e->id);
    bool existed = slot >= 0;
    if (slot < 0) {
        if (p->n == p->cap) {
            size_t row = f->dim * sizeof *p->vecs;
            size_t ncap = p->cap ? p->cap * 2 : 16;
            if (!p->graph)
                p->vecs = mr_xrealloc_aligned(p->vecs, p->n * row, ncap * row);
            /* int8 copies for partitions begun with int8 on (set before loading). */
            if (!p->graph && f->int8 && (p->q8 || p->cap == 0)) {
                p->q8 = mr_xrealloc_aligned(p->q8, p->n * f->dim, ncap * f->dim);
                p->q8_scale = mr_xrealloc(p->q8_scale, ncap * sizeof *p->q8_scale);
            }
            p->cap = ncap;
            p->meta = mr_xrealloc(p->meta, p->cap * sizeof *p->meta);
        }
        slot = (long)p->n++;
        map_put(p, e->id, (uint32_t)slot);
    }
    struct meta *m = &p->meta[slot];
    m->id = e->id;
    m->expires_at = e->expires_at;
    snprintf(m->conversation_id, sizeof m->conversation_id, "%s",
             e->conversation_id ? e->conversation_id : "");
    m->memory_type = (uint8_t)e->memory_type;
    m->is_archived = e->is_archived;
    if (!p->graph) {
        memcpy(p->vecs + (size_t)slot * f->dim, e->vec, f->dim * sizeof(float));
        if (p->q8)
            p->q8_scale[slot] = mr_index_quantize_i8(e->vec, f->dim, p->q8 + (size_t)slot * f->dim);
        touch(p, e->id);
    } else {
        const float *old = existed ? mr_hnsw_vector(p->graph, e->id) : NULL;
        /* Access statistics rewrite entries on every search hit: only a new vector moves. */
        if (old && memcmp(old, e->vec, f->dim * sizeof(float)) == 0) {
            maybe_build(f, p);
            return;
        }
        if (old) {
            mr_hnsw_delete(p->graph, e->id);
            p->graph_dead++;
        }
        mr_hnsw_add(p->graph, e->id, e->vec);
        touch(p, e->id);
    }
    maybe_build(f, p);
}

/* Removes id from p if there; true when it was. Lock held. */
static bool drop_entry(struct flat *f, struct partition *p, int64_t id)
{
    long slot = p ? map_get(p, id) : -1;
    if (slot < 0)
        return false;
    /* Move the last entry into the hole so vectors stay contiguous. */
    size_t last = p->n - 1;
    map_del(p, id);
    if ((size_t)slot != last) {
        p->meta[slot] = p->meta[last];
        if (!p->graph)
            memcpy(p->vecs + (size_t)slot * f->dim, p->vecs + last * f->dim,
                   f->dim * sizeof(float));
        if (p->q8) {
            memcpy(p->q8 + (size_t)slot * f->dim, p->q8 + last * f->dim, f->dim);
            p->q8_scale[slot] = p->q8_scale[last];
        }
        map_put(p, p->meta[slot].id, (uint32_t)slot);
        touch(p, p->meta[slot].id); /* moved: a build copying by slot may have passed it */
    }
    p->n--;
    touch(p, id);
    if (p->graph) {
        mr_hnsw_delete(p->graph, id);
        p->graph_dead++;
        maybe_build(f, p);
    }
    return true;
}

static int f_upsert(struct mr_index *ix, const struct mr_index_entry *e, struct mr_err *err)
{
    struct flat *f = (struct flat *)ix;
    if (!e->vec)
        return mr_err_set(err, MR_EINVAL, "index entry %lld has no vector", (long long)e->id);
    struct mr_identity who = {e->user_id, e->tenant_id};
    pthread_rwlock_wrlock(&f->lock);
    struct partition *p = find_part(f, &who, false, true);
    if (map_get(p, e->id) < 0)
        f->total++;
    put_entry(f, p, e);
    /* The tenant's shared partition holds a copy of what is shared, nothing else. */
    if (e->is_shared)
        put_entry(f, find_part(f, &who, true, true), e);
    else
        drop_entry(f, find_part(f, &who, true, false), e->id);
    pthread_rwlock_unlock(&f->lock);
    return 0;
}

static void f_set_archived(struct mr_index *ix, const struct mr_identity *who, int64_t id,
                           bool is_archived)
{
    struct flat *f = (struct flat *)ix;
    pthread_rwlock_wrlock(&f->lock);
    for (int shared = 0; shared < 2; shared++) {
        struct partition *p = find_part(f, who, shared, false);
        long slot = p ? map_get(p, id) : -1;
        if (slot >= 0)
            p->meta[slot].is_archived = is_archived;
    }
    pthread_rwlock_unlock(&f->lock);
}

static void f_remove(struct mr_index *ix, const struct mr_identity *who, int64_t id)
{
    struct flat *f = (struct flat *)ix;
    pthread_rwlock_wrlock(&f->lock);
    if (drop_entry(f, find_part(f, who, false, false), id))
        f->total--;
    drop_entry(f, find_part(f, who, true, false), id);
    pthread_rwlock_unlock(&f->lock);
}

/* Min-heap on (score, -id): the root is the worst of the kept hits. */
static bool worse(const struct mr_index_hit *a, const struct mr_index_hit *b)
{
    return a->score < b->score || (a->score == b->score && a->id > b->id);
}

static void sift_down(struct mr_index_hit *h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && worse(&h[l], &h[m]))
            m = l;
        if (r < n && worse(&h[r], &h[m]))
            m = r;
        if (m == i)
            return;
        struct mr_index_hit t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

static void sift_up(struct mr_index_hit *h, size_t i)
{
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!worse(&h[i], &h[parent]))
            return;
        struct mr_index_hit t = h[i];
        h[i] = h[parent];
        h[parent] = t;
        i = parent;
    }
}

/* Whether the entry at slot passes q's filters (and is not in skip). */
static bool passes(const struct partition *p, const struct partition *skip,
                   const struct mr_index_query *q, size_t slot)
{
    const struct meta *m = &p->meta[slot];
    if (q->type_mask && !(q->type_mask & (1u << m->memory_type)))
        return false;
    if (m->is_archived && !q->include_archived)
        return false;
    if (m->expires_at != MR_NO_TIME && m->expires_at <= q->now)
        return false;
    if (q->conversation_id && strcmp(q->conversation_id, m->conversation_id) != 0)
        return false;
    return !(skip && map_get(skip, m->id) >= 0);
}

/* Adds a hit to the bounded min-heap out holding n. */
static size_t keep_hit(struct mr_index_hit *out, size_t n, size_t limit, struct mr_index_hit hit)
{
    if (n < limit) {
        out[n] = hit;
        sift_up(out, n++);
    } else if (worse(&out[0], &hit)) {
        out[0] = hit;
        sift_down(out, n, 0);
    }
    return n;
}

struct accept_ctx {
    const struct partition *p, *skip;
    const struct mr_index_query *q;
};

static bool accept_hit(void *arg, int64_t id)
{
    const struct accept_ctx *a = arg;
    long slot = map_get(a->p, id);
    return slot >= 0 && passes(a->p, a->skip, a->q, (size_t)slot);
}

/* The graph's answer for a large partition, merged into out. */
static size_t search_graph(const struct flat *f, const struct partition *p,
                           const struct partition *skip, const struct mr_index_query *q,
                           struct mr_index_hit *out, size_t n)
{
    struct mr_index_hit *hits = mr_xmalloc(q->limit * sizeof *hits);
    struct accept_ctx a = {p, skip, q};
    size_t ef = f->ef_search > q->limit ? f->ef_search : q->limit;
    size_t got = mr_hnsw_search(p->graph, q->vec, q->limit, ef, accept_hit, &a, hits);
    for (size_t i = 0; i < got; i++)
        if (hits[i].score >= q->min_score)
            n = keep_hit(out, n, q->limit, hits[i]);
    free(hits);
    return n;
}

/*
 * The int8 pass: the best candidates by approximate score (slot numbers in
 * id), then each rescored in float32 into out.
 */
static size_t scan_int8(const struct flat *f, const struct partition *p,
                        const struct partition *skip, const struct mr_index_query *q,
                        struct mr_index_hit *out, size_t n)
{
    size_t want = q->limit * 4 > 32 ? q->limit * 4 : 32;
    struct mr_index_hit *cands = mr_xmalloc(want * sizeof *cands);
    int8_t *q8 = mr_xmalloc(f->dim);
    float qscale = mr_index_quantize_i8(q->vec, f->dim, q8);
    mr_dot_i8_fn dot8 = mr_index_dot_i8_fn();
    size_t nc = 0;
    for (size_t i = 0; i < p->n; i++) {
        if (!passes(p, skip, q, i))
            continue;
        float approx = (float)dot8(q8, p->q8 + i * f->dim, f->dim) * qscale * p->q8_scale[i];
        nc = keep_hit(cands, nc, want, (struct mr_index_hit){(int64_t)i, approx});
    }
    mr_dot_fn dot = mr_index_dot_fn();
    for (size_t c = 0; c < nc; c++) {
        size_t slot = (size_t)cands[c].id;
        float s = dot(q->vec, p->vecs + slot * f->dim, f->dim);
        if (s >= q->min_score)
            n = keep_hit(out, n, q->limit, (struct mr_index_hit){p->meta[slot].id, s});
    }
    free(q8);
    free(cands);
    return n;
}

/* Scans p into the heap out (n kept so far); skip: a partition whose ids are not wanted. */
static size_t scan(const struct flat *f, const struct partition *p, const struct partition *skip,
                   const struct mr_index_query *q, struct mr_index_hit *out, size_t n)
{
    if (p && p->graph)
        return search_graph(f, p, skip, q, out, n);
    if (p && p->q8)
        return scan_int8(f, p, skip, q, out, n);
    mr_dot_fn dot = mr_index_dot_fn();
    for (size_t i = 0; p && i < p->n; i++) {
        if (!passes(p, skip, q, i))
            continue;
        float s = dot(q->vec, p->vecs + i * f->dim, f->dim);
        if (s >= q->min_score)
            n = keep_hit(out, n, q->limit, (struct mr_index_hit){p->meta[i].id, s});
    }
    return n;
}

static int f_search(struct mr_index *ix, const struct mr_identity *who,
                    const struct mr_index_query *q, struct mr_index_hit *out, size_t *out_n,
                    struct mr_err *err)
{
    (void)err;
    struct flat *f = (struct flat *)ix;
    *out_n = 0;
    if (q->limit == 0)
        return 0;
    pthread_rwlock_rdlock(&f->lock);
    struct partition *own = find_part(f, who, false, false);
    size_t n = scan(f, own, NULL, q, out, 0);
    if (q->include_shared)
        n = scan(f, find_part(f, who, true, false), own, q, out, n);
    pthread_rwlock_unlock(&f->lock);
    /* Heap-sort in place: repeatedly move the worst to the end → best first. */
    for (size_t k = n; k > 1; k--) {
        struct mr_index_hit t = out[0];
        out[0] = out[k - 1];
        out[k - 1] = t;
        sift_down(out, k - 1, 0);
    }
    *out_n = n;
    return 0;
}

static size_t f_count(struct mr_index *ix)
{
    struct flat *f = (struct flat *)ix;
    pthread_rwlock_rdlock(&f->lock);
    size_t n = f->total;
    pthread_rwlock_unlock(&f->lock);
    return n;
}

static size_t f_building(struct mr_index *ix)
{
    struct flat *f = (struct flat *)ix;
    pthread_mutex_lock(&f->builds_lock);
    size_t n = f->builds_running;
    pthread_mutex_unlock(&f->builds_lock);
    return n;
}

void mr_index_flat_wait_builds(struct mr_index *ix)
{
    struct flat *f = (struct flat *)ix;
    pthread_mutex_lock(&f->builds_lock);
    while (f->builds_running)
        pthread_cond_wait(&f->builds_done, &f->builds_lock);
    pthread_mutex_unlock(&f->builds_lock);
}

static void f_destroy(struct mr_index *ix)
{
    struct flat *f = (struct flat *)ix;
    /* Builds in flight give up at their next chunk: a stop must not wait for a graph. */
    pthread_rwlock_wrlock(&f->lock);
    f->stopping = true;
    pthread_rwlock_unlock(&f->lock);
    mr_index_flat_wait_builds(ix);
    for (size_t i = 0; i < f->parts_cap; i++) {
        struct partition *p = f->parts[i];
        if (!p)
            continue;
        if (p->has_builder)
            pthread_join(p->builder, NULL);
        free(p->key);
        free(p->meta);
        free(p->vecs);
        free(p->q8);
        free(p->q8_scale);
        free(p->map_ids);
        free(p->map_slots);
        mr_hnsw_free(p->graph);
        mr_hnsw_free(p->seed);
        free(p);
    }
    free(f->parts);
    pthread_rwlock_destroy(&f->lock);
    pthread_mutex_destroy(&f->builds_lock);
    pthread_cond_destroy(&f->builds_done);
    free(f);
}

static const struct mr_index_ops flat_ops = {
    .name = "flat",
    .upsert = f_upsert,
    .set_archived = f_set_archived,
    .remove = f_remove,
    .search = f_search,
    .count = f_count,
    .building = f_building,
    .destroy = f_destroy,
};

void mr_index_flat_set_ann(struct mr_index *ix, size_t threshold, size_t ef_search)
{
    struct flat *f = (struct flat *)ix;
    pthread_rwlock_wrlock(&f->lock);
    f->ann_threshold = threshold;
    f->ef_search = ef_search ? ef_search : MR_HNSW_EF_DEFAULT;
    /* Partitions already past the threshold (a load made with it off) get their graphs now. */
    for (size_t i = 0; i < f->parts_cap; i++) {
        struct partition *p = f->parts[i];
        if (!p)
            continue;
        maybe_build(f, p);
        if (p->seed && !p->building) {
            /* Too small for a graph now: the snapshot's is of no use. */
            mr_hnsw_free(p->seed);
            p->seed = NULL;
        }
    }
    pthread_rwlock_unlock(&f->lock);
}

void mr_index_flat_each_graph(struct mr_index *ix, mr_index_graph_fn fn, void *arg)
{
    struct flat *f = (struct flat *)ix;
    pthread_rwlock_rdlock(&f->lock);
    for (size_t i = 0; i < f->parts_cap; i++) {
        struct partition *p = f->parts[i];
        if (p && p->graph && fn(arg, p->key, p->graph) != 0)
            break;
    }
    pthread_rwlock_unlock(&f->lock);
}

bool mr_index_flat_seed(struct mr_index *ix, const char *key, struct mr_hnsw *g)
{
    struct flat *f = (struct flat *)ix;
    pthread_rwlock_wrlock(&f->lock);
    struct partition *p = lookup(f, key, strlen(key));
    bool taken = p && !p->graph && !p->building && !p->seed;
    if (taken)
        p->seed = g;
    pthread_rwlock_unlock(&f->lock);
    if (!taken)
        mr_hnsw_free(g);
    return taken;
}

void mr_index_flat_set_int8(struct mr_index *ix, bool on)
{
    struct flat *f = (struct flat *)ix;
    pthread_rwlock_wrlock(&f->lock);
    f->int8 = on;
    pthread_rwlock_unlock(&f->lock);
}

struct mr_index *mr_index_flat_new(size_t dim)
{
    struct flat *f = mr_xcalloc(1, sizeof *f);
    f->base.ops = &flat_ops;
    f->dim = dim;
    f->ef_search = MR_HNSW_EF_DEFAULT;
    /*
     * Writers first: with glibc's default (readers first) a stream of
     * searches can starve a writer indefinitely. Every hold is short, the
     * builders' included (one chunk), so readers wait little for writers.
     */
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
#ifdef __GLIBC__
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
#endif
    pthread_rwlock_init(&f->lock, &attr);
    pthread_rwlockattr_destroy(&attr);
    pthread_mutex_init(&f->builds_lock, NULL);
    pthread_cond_init(&f->builds_done, NULL);
    return &f->base;
}
