/*
 * cache.h — embedding caches (src/embed/): an interface with two
 * implementations, the in-process LRU and the shared Redis cache, and the
 * caching embedder that puts them in front of a provider:
 *
 *   embed(texts) → L1 (LRU, this process) → L2 (Redis, shared) → provider
 *
 * Keys are a 128-bit hash of (model, dimension, text); values are the
 * float32 vectors. A cache never makes a request fail: a cache that errs is
 * skipped, logged once, and reported by health() until it recovers.
 */
#ifndef MEMORI_CACHE_H
#define MEMORI_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "memori/clock.h"
#include "memori/embed.h"
#include "memori/err.h"

struct mr_cache_key {
    uint64_t hi, lo;
};

/* The key of text under model/dim. */
struct mr_cache_key mr_cache_key_of(const char *model, size_t dim, const char *text, size_t len);

struct mr_cache_stats {
    uint64_t hits, misses, errors;
    uint64_t lookup_us; /* total time spent in lookups */
    size_t entries, bytes;
};

struct mr_cache;

struct mr_cache_ops {
    const char *name;
    /*
     * Looks up n keys; for each found one copies dim floats to out + i*dim
     * and sets found[i]. A failing cache returns an error and finds nothing.
     */
    int (*get_many)(struct mr_cache *c, const struct mr_cache_key *keys, size_t n, size_t dim,
                    float *out, bool *found, struct mr_err *err);
    /* Stores n vectors (errors are reported, not fatal to the caller). */
    int (*put_many)(struct mr_cache *c, const struct mr_cache_key *keys, size_t n, size_t dim,
                    const float *vecs, struct mr_err *err);
    int (*health)(struct mr_cache *c, struct mr_err *err);
    void (*stats)(struct mr_cache *c, struct mr_cache_stats *out);
    void (*destroy)(struct mr_cache *c);
};

struct mr_cache {
    const struct mr_cache_ops *ops;
};

/* In-process LRU bounded by max_bytes, entries live ttl_s seconds (0: no expiry); thread-safe. */
struct mr_cache *mr_cache_lru_new(size_t max_bytes, int ttl_s, const struct mr_clock *clock);

/*
 * Shared Redis cache (hiredis) at url ("redis://[:password@]host:port[/db]"),
 * keys prefixed "memori:emb:", values expire after ttl_s seconds. Commands
 * time out after timeout_ms; when Redis is down it is retried at most once a
 * second. Never NULL for a well-formed url (it may start disconnected);
 * NULL with err (MR_EINVAL naming REDIS_URL) for a malformed one.
 */
struct mr_cache *mr_cache_redis_new(const char *url, int ttl_s, int timeout_ms, struct mr_err *err);

static inline void mr_cache_destroy(struct mr_cache *c)
{
    if (c)
        c->ops->destroy(c);
}

/*
 * An embedder that asks l1, then l2, then inner, and fills the caches with
 * what it fetched. Takes ownership of inner, l1 and l2 (either cache may be
 * NULL). Its name and dimension are inner's.
 */
struct mr_embedder *mr_embed_cached_new(struct mr_embedder *inner, struct mr_cache *l1,
                                        struct mr_cache *l2);

/* The stats of the caching embedder's levels (zeros for an absent level). */
void mr_embed_cached_stats(struct mr_embedder *e, struct mr_cache_stats *l1,
                           struct mr_cache_stats *l2);

#endif
