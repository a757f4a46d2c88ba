/*
 * lru.c — the in-process embedding cache: a hash table of entries threaded
 * on a recency list, bounded in bytes (the least recently used go first)
 * and in age (entries older than the TTL are misses and are dropped).
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "memori/cache.h"
#include "memori/types.h"
#include "memori/util.h"

struct node {
    struct mr_cache_key key;
    int64_t expires_at; /* MR_NO_TIME: never */
    size_t dim;
    struct node *chain;       /* next in the bucket */
    struct node *prev, *next; /* recency: head is the newest */
    float vec[];
};

struct lru {
    struct mr_cache base;
    pthread_mutex_t lock;
    const struct mr_clock *clock;
    size_t max_bytes, bytes, entries;
    int ttl_s;
    struct node **buckets;
    size_t n_buckets;
    struct node *head, *tail;
    struct mr_cache_stats st;
};

static size_t node_bytes(size_t dim)
{
    return sizeof(struct node) + dim * sizeof(float);
}

static struct node **bucket_of(struct lru *l, struct mr_cache_key k)
{
    return &l->buckets[(k.lo ^ (k.hi >> 7)) & (l->n_buckets - 1)];
}

static void unlink_recency(struct lru *l, struct node *n)
{
    if (n->prev)
        n->prev->next = n->next;
    else
        l->head = n->next;
    if (n->next)
        n->next->prev = n->prev;
    else
        l->tail = n->prev;
    n->prev = n->next = NULL;
}

static void push_front(struct lru *l, struct node *n)
{
    n->next = l->head;
    n->prev = NULL;
    if (l->head)
        l->head->prev = n;
    l->head = n;
    if (!l->tail)
        l->tail = n;
}

static void drop(struct lru *l, struct node *n)
{
    struct node **p = bucket_of(l, n->key);
    while (*p != n)
        p = &(*p)->chain;
    *p = n->chain;
    unlink_recency(l, n);
    l->bytes -= node_bytes(n->dim);
    l->entries--;
    free(n);
}

static struct node *find(struct lru *l, struct mr_cache_key k)
{
    for (struct node *n = *bucket_of(l, k); n; n = n->chain)
        if (n->key.hi == k.hi && n->key.lo == k.lo)
            return n;
    return NULL;
}

static int lru_get(struct mr_cache *c, const struct mr_cache_key *keys, size_t n, size_t dim,
                   float *out, bool *found, struct mr_err *err)
{
    (void)err;
    struct lru *l = (struct lru *)c;
    int64_t t0 = mr_monotonic_us(), now = mr_clock_now(l->clock);
    pthread_mutex_lock(&l->lock);
    for (size_t i = 0; i < n; i++) {
        struct node *x = find(l, keys[i]);
        if (x && x->expires_at != MR_NO_TIME && x->expires_at <= now) {
            drop(l, x);
            x = NULL;
        }
        found[i] = x && x->dim == dim;
        if (found[i]) {
            memcpy(out + i * dim, x->vec, dim * sizeof(float));
            unlink_recency(l, x);
            push_front(l, x);
            l->st.hits++;
        } else {
            l->st.misses++;
        }
    }
    l->st.lookup_us += (uint64_t)(mr_monotonic_us() - t0);
    pthread_mutex_unlock(&l->lock);
    return 0;
}

static int lru_put(struct mr_cache *c, const struct mr_cache_key *keys, size_t n, size_t dim,
                   const float *vecs, struct mr_err *err)
{
    (void)err;
    struct lru *l = (struct lru *)c;
    if (node_bytes(dim) > l->max_bytes)
        return 0;
    int64_t now = mr_clock_now(l->clock);
    pthread_mutex_lock(&l->lock);
    for (size_t i = 0; i < n; i++) {
        struct node *x = find(l, keys[i]);
        if (x)
            drop(l, x);
        while (l->tail && l->bytes + node_bytes(dim) > l->max_bytes)
            drop(l, l->tail);
        x = mr_xmalloc(node_bytes(dim));
        x->key = keys[i];
        x->dim = dim;
        x->expires_at = l->ttl_s > 0 ? now + (int64_t)l->ttl_s * MR_USEC_PER_SEC : MR_NO_TIME;
        memcpy(x->vec, vecs + i * dim, dim * sizeof(float));
        struct node **b = bucket_of(l, x->key);
        x->chain = *b;
        *b = x;
        push_front(l, x);
        l->bytes += node_bytes(dim);
        l->entries++;
    }
    pthread_mutex_unlock(&l->lock);
    return 0;
}

static int lru_health(struct mr_cache *c, struct mr_err *err)
{
    (void)c;
    (void)err;
    return 0;
}

static void lru_stats(struct mr_cache *c, struct mr_cache_stats *out)
{
    struct lru *l = (struct lru *)c;
    pthread_mutex_lock(&l->lock);
    *out = l->st;
    out->entries = l->entries;
    out->bytes = l->bytes;
    pthread_mutex_unlock(&l->lock);
}

static void lru_destroy(struct mr_cache *c)
{
    struct lru *l = (struct lru *)c;
    while (l->head)
        drop(l, l->head);
    free(l->buckets);
    pthread_mutex_destroy(&l->lock);
    free(l);
}

static const struct mr_cache_ops lru_ops = {
    .name = "lru",
    .get_many = lru_get,
    .put_many = lru_put,
    .health = lru_health,
    .stats = lru_stats,
    .destroy = lru_destroy,
};

struct mr_cache *mr_cache_lru_new(size_t max_bytes, int ttl_s, const struct mr_clock *clock)
{
    struct lru *l = mr_xcalloc(1, sizeof *l);
    l->base.ops = &lru_ops;
    l->clock = clock;
    l->max_bytes = max_bytes;
    l->ttl_s = ttl_s;
    /* Sized for entries of ~1.5 KB (384 floats): chains stay short at the byte bound. */
    l->n_buckets = 1024;
    while (l->n_buckets < max_bytes / 1536 && l->n_buckets < (1u << 24))
        l->n_buckets <<= 1;
    l->buckets = mr_xcalloc(l->n_buckets, sizeof *l->buckets);
    pthread_mutex_init(&l->lock, NULL);
    return &l->base;
}
