/*
 * cached.c — the caching embedder: L1 (in-process) → L2 (shared) → the
 * provider, filling the levels it missed. A cache that fails is skipped and
 * logged once per outage; the request goes on to the next level. Without
 * a level it only counts the provider's calls (metrics.h).
 */
#define _POSIX_C_SOURCE 200809L
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memori/cache.h"
#include "memori/clock.h"
#include "memori/metrics.h"
#include "memori/util.h"

struct cached {
    struct mr_embedder base;
    struct mr_embedder *inner;
    struct mr_cache *l1, *l2;
    atomic_bool l2_down; /* logged once per outage */
};

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= UINT64_C(0xff51afd7ed558ccd);
    x ^= x >> 33;
    x *= UINT64_C(0xc4ceb9fe1a85ec53);
    x ^= x >> 33;
    return x;
}

struct mr_cache_key mr_cache_key_of(const char *model, size_t dim, const char *text, size_t len)
{
    /* Two independent 64-bit hashes: a false hit needs both to collide. */
    uint64_t a = mr_fnv1a64(MR_FNV64_BASIS, model, strlen(model));
    uint64_t b = mr_fnv1a64(UINT64_C(0x84222325cbf29ce4), model, strlen(model));
    uint64_t d = dim;
    a = mr_fnv1a64(a, &d, sizeof d);
    b = mr_fnv1a64(b, &d, sizeof d);
    a = mr_fnv1a64(a, text, len);
    b = mr_fnv1a64(b ^ UINT64_C(0x9e3779b97f4a7c15), text, len);
    return (struct mr_cache_key){mix(a), mix(b ^ (uint64_t)len)};
}

static const char *c_name(const struct mr_embedder *e)
{
    return mr_embed_name(((const struct cached *)e)->inner);
}

static size_t c_dim(const struct mr_embedder *e)
{
    return mr_embed_dim(((const struct cached *)e)->inner);
}

/* Looks up the still-missing rows in cache c; fills out and found. */
static void lookup(struct cached *ce, struct mr_cache *c, const struct mr_cache_key *keys, size_t n,
                   size_t dim, float *out, bool *found)
{
    size_t *idx = mr_xmalloc(n * sizeof *idx), m = 0;
    for (size_t i = 0; i < n; i++)
        if (!found[i])
            idx[m++] = i;
    if (m) {
        struct mr_cache_key *k = mr_xmalloc(m * sizeof *k);
        float *v = mr_xmalloc(m * dim * sizeof *v);
        bool *f = mr_xcalloc(m, sizeof *f);
        for (size_t j = 0; j < m; j++)
            k[j] = keys[idx[j]];
        struct mr_err err;
        if (c->ops->get_many(c, k, m, dim, v, f, &err) != 0) {
            if (c == ce->l2 && !atomic_exchange(&ce->l2_down, true))
                fprintf(stderr, "memori: embedding cache %s unavailable, using the provider: %s\n",
                        c->ops->name, err.msg);
        } else if (c == ce->l2 && atomic_exchange(&ce->l2_down, false)) {
            fprintf(stderr, "memori: embedding cache %s is back\n", c->ops->name);
        }
        for (size_t j = 0; j < m; j++) {
            if (f[j]) {
                found[idx[j]] = true;
                memcpy(out + idx[j] * dim, v + j * dim, dim * sizeof(float));
            }
        }
        free(k);
        free(v);
        free(f);
    }
    free(idx);
}

/* Stores rows i where fill[i] into cache c. */
static void store(struct mr_cache *c, const struct mr_cache_key *keys, size_t n, size_t dim,
                  const float *vecs, const bool *fill)
{
    struct mr_cache_key *k = mr_xmalloc(n * sizeof *k);
    float *v = mr_xmalloc(n * dim * sizeof *v);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (!fill[i])
            continue;
        k[m] = keys[i];
        memcpy(v + m * dim, vecs + i * dim, dim * sizeof(float));
        m++;
    }
    struct mr_err err;
    if (m)
        c->ops->put_many(c, k, m, dim, v, &err);
    free(k);
    free(v);
}

static int c_embed(struct mr_embedder *e, const char *const *texts, const size_t *lens, size_t n,
                   float *out, struct mr_err *err)
{
    struct cached *ce = (struct cached *)e;
    if (!ce->l1 && !ce->l2) {
        /* No level: only the provider's calls counted for the metrics (main.c always wraps). */
        int64_t t0 = mr_monotonic_us();
        int rc = mr_embed_batch(ce->inner, texts, lens, n, out, err);
        mr_metrics_embed_call(mr_monotonic_us() - t0, rc != 0);
        return rc;
    }
    size_t dim = mr_embed_dim(ce->inner);
    const char *model = mr_embed_name(ce->inner);
    struct mr_cache_key *keys = mr_xmalloc(n * sizeof *keys);
    bool *found = mr_xcalloc(n, sizeof *found), *in_l1 = mr_xcalloc(n, sizeof *in_l1),
         *in_l2 = mr_xcalloc(n, sizeof *in_l2);
    for (size_t i = 0; i < n; i++)
        keys[i] = mr_cache_key_of(model, dim, texts[i], lens[i]);
    size_t hits = 0;
    if (ce->l1) {
        lookup(ce, ce->l1, keys, n, dim, out, found);
        memcpy(in_l1, found, n * sizeof *found);
        for (size_t i = 0; i < n; i++)
            hits += in_l1[i];
        mr_metrics_add(MR_M_CACHE_HIT_MEMORY, hits);
        mr_metrics_add(MR_M_CACHE_MISS_MEMORY, n - hits);
    }
    if (ce->l2) {
        size_t asked = n - hits, l2_hits = 0;
        lookup(ce, ce->l2, keys, n, dim, out, found);
        for (size_t i = 0; i < n; i++) {
            in_l2[i] = found[i] && !in_l1[i];
            l2_hits += in_l2[i];
        }
        mr_metrics_add(MR_M_CACHE_HIT_REDIS, l2_hits);
        mr_metrics_add(MR_M_CACHE_MISS_REDIS, asked - l2_hits);
    }
    /* The provider embeds what no level had, in one batch call. */
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        m += !found[i];
    int rc = 0;
    if (m) {
        const char **t = mr_xmalloc(m * sizeof *t);
        size_t *l = mr_xmalloc(m * sizeof *l), *idx = mr_xmalloc(m * sizeof *idx), j = 0;
        for (size_t i = 0; i < n; i++)
            if (!found[i]) {
                t[j] = texts[i];
                l[j] = lens[i];
                idx[j++] = i;
            }
        float *v = mr_xmalloc(m * dim * sizeof *v);
        int64_t t0 = mr_monotonic_us();
        rc = mr_embed_batch(ce->inner, t, l, m, v, err);
        mr_metrics_embed_call(mr_monotonic_us() - t0, rc != 0);
        if (rc == 0)
            for (j = 0; j < m; j++)
                memcpy(out + idx[j] * dim, v + j * dim, dim * sizeof(float));
        free(t);
        free(l);
        free(idx);
        free(v);
    }
    if (rc == 0) {
        bool *fill = mr_xmalloc(n * sizeof *fill);
        if (ce->l2) {
            for (size_t i = 0; i < n; i++)
                fill[i] = !found[i]; /* from the provider */
            store(ce->l2, keys, n, dim, out, fill);
        }
        if (ce->l1) {
            for (size_t i = 0; i < n; i++)
                fill[i] = !in_l1[i];
            store(ce->l1, keys, n, dim, out, fill);
        }
        free(fill);
    }
    free(keys);
    free(found);
    free(in_l1);
    free(in_l2);
    return rc;
}

static int c_health(struct mr_embedder *e, struct mr_err *err)
{
    struct cached *ce = (struct cached *)e;
    int rc = mr_embed_health(ce->inner, err);
    if (rc == 0 && ce->l2)
        rc = ce->l2->ops->health(ce->l2, err);
    return rc;
}

static void c_destroy(struct mr_embedder *e)
{
    struct cached *ce = (struct cached *)e;
    mr_embed_destroy(ce->inner);
    mr_cache_destroy(ce->l1);
    mr_cache_destroy(ce->l2);
    free(ce);
}

static const struct mr_embedder_ops cached_ops = {
    .name = c_name,
    .dim = c_dim,
    .embed = c_embed,
    .health = c_health,
    .destroy = c_destroy,
};

struct mr_embedder *mr_embed_cached_new(struct mr_embedder *inner, struct mr_cache *l1,
                                        struct mr_cache *l2)
{
    struct cached *ce = mr_xcalloc(1, sizeof *ce);
    ce->base.ops = &cached_ops;
    ce->inner = inner;
    ce->l1 = l1;
    ce->l2 = l2;
    return &ce->base;
}

void mr_embed_cached_stats(struct mr_embedder *e, struct mr_cache_stats *l1,
                           struct mr_cache_stats *l2)
{
    struct cached *ce = (struct cached *)e;
    memset(l1, 0, sizeof *l1);
    memset(l2, 0, sizeof *l2);
    if (ce->l1)
        ce->l1->ops->stats(ce->l1, l1);
    if (ce->l2)
        ce->l2->ops->stats(ce->l2, l2);
}
