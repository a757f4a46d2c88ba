/*
 * contract_cache.h — what every embedding cache must do (include/memori/
 * cache.h): return what was put and miss what was not, in batches; keep the
 * last value put under a key; never return a vector at another dimension;
 * forget entries after their TTL and keep them without one; keep the keys
 * of one model apart from another's; count its hits and misses; answer from
 * many threads at once. Caches bounded in bytes (the LRU) also stay within
 * the bound, evicting the least recently used first.
 *
 * A test binary describes a cache with a struct cache_fixture and
 * instantiates the suite for it under a prefix:
 *
 *     CONTRACT_CACHE_DEFINE(lru, &lru_fixture)
 *     CONTRACT_CACHE_BOUNDED_DEFINE(lru, &lru_fixture)
 *     TEST_MAIN("contract_cache", CONTRACT_CACHE_TESTS(lru), CONTRACT_CACHE_BOUNDED_TESTS(lru))
 *
 * tests/unit/test_contract_cache.c runs it against the LRU and Redis.
 */
#ifndef MEMORI_CONTRACT_CACHE_H
#define MEMORI_CONTRACT_CACHE_H

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "memori/cache.h"
#include "test.h"

struct cache_fixture {
    /*
     * A cache whose entries live ttl_s seconds (0: no expiry), within
     * max_bytes where the cache takes a bound; NULL with the reason printed.
     * Freed by the suite. Caches of one fixture may share a store (Redis):
     * the suite keeps each case's keys apart.
     */
    struct mr_cache *(*open)(int ttl_s, size_t max_bytes);
    /* Lets ms milliseconds pass for the cache: its fixed clock moved, or a sleep. */
    void (*advance_ms)(int64_t ms);
};

#define CC_DIM 8
#define CC_BYTES (1u << 20)

/* The namespace of the running case: keys of one case never meet another's in a shared store. */
static int cc_ns;

static struct mr_cache *cc_open(const struct cache_fixture *f, int ttl_s, size_t max_bytes)
{
    static int opened;
    cc_ns = ++opened;
    return f->open(ttl_s, max_bytes);
}

/* The key of text i under model, in this case's namespace. */
static struct mr_cache_key cc_key_of(const char *model, size_t dim, int i)
{
    char m[64], t[32];
    snprintf(m, sizeof m, "contract-%d-%s", cc_ns, model);
    snprintf(t, sizeof t, "text %d", i);
    return mr_cache_key_of(m, dim, t, strlen(t));
}

static struct mr_cache_key cc_key(int i)
{
    return cc_key_of("m", CC_DIM, i);
}

static void cc_vec(int i, float *v)
{
    for (int j = 0; j < CC_DIM; j++)
        v[j] = (float)(i * 10 + j);
}

static int cc_put1(struct mr_cache *c, struct mr_cache_key k, const float *v)
{
    struct mr_err err;
    return c->ops->put_many(c, &k, 1, CC_DIM, v, &err);
}

/* Whether k is found; its vector into out. */
static bool cc_get1(struct mr_cache *c, struct mr_cache_key k, float *out)
{
    struct mr_err err;
    bool found = false;
    return c->ops->get_many(c, &k, 1, CC_DIM, out, &found, &err) == 0 && found;
}

static void cc_get_put_miss(const struct cache_fixture *f)
{
    struct mr_cache *c = cc_open(f, 60, CC_BYTES);
    CHECK(c);
    struct mr_cache_key k[3] = {cc_key(1), cc_key(2), cc_key(3)};
    float v[3 * CC_DIM], out[3 * CC_DIM];
    bool found[3] = {true, true, true};
    struct mr_err err;
    CHECK(c->ops->get_many(c, k, 3, CC_DIM, out, found, &err) == 0);
    CHECK(!found[0] && !found[1] && !found[2]); /* empty */
    cc_vec(1, v);
    cc_vec(2, v + CC_DIM);
    CHECK(c->ops->put_many(c, k, 2, CC_DIM, v, &err) == 0);
    CHECK(c->ops->get_many(c, k, 3, CC_DIM, out, found, &err) == 0);
    CHECK(found[0] && found[1] && !found[2]);
    CHECK(memcmp(out, v, 2 * CC_DIM * sizeof(float)) == 0);
    /* Out of order, repeated: each row is its own key's. */
    struct mr_cache_key k2[3] = {k[1], k[2], k[1]};
    CHECK(c->ops->get_many(c, k2, 3, CC_DIM, out, found, &err) == 0);
    CHECK(found[0] && !found[1] && found[2]);
    CHECK(memcmp(out, v + CC_DIM, CC_DIM * sizeof(float)) == 0);
    CHECK(memcmp(out + 2 * CC_DIM, v + CC_DIM, CC_DIM * sizeof(float)) == 0);
    CHECK(c->ops->health(c, &err) == 0);
    mr_cache_destroy(c);
}

static void cc_put_replaces(const struct cache_fixture *f)
{
    struct mr_cache *c = cc_open(f, 60, CC_BYTES);
    CHECK(c);
    float a[CC_DIM], b[CC_DIM], out[CC_DIM];
    cc_vec(1, a);
    cc_vec(2, b);
    CHECK(cc_put1(c, cc_key(1), a) == 0);
    CHECK(cc_put1(c, cc_key(1), b) == 0);
    CHECK(cc_get1(c, cc_key(1), out));
    CHECK(memcmp(out, b, sizeof b) == 0);
    mr_cache_destroy(c);
}

static void cc_other_dimension_misses(const struct cache_fixture *f)
{
    struct mr_cache *c = cc_open(f, 60, CC_BYTES);
    CHECK(c);
    float v[CC_DIM], out[4 * CC_DIM];
    cc_vec(1, v);
    struct mr_cache_key k = cc_key(1);
    CHECK(cc_put1(c, k, v) == 0);
    /* The same key asked at another dimension: a miss, never a short or long row. */
    struct mr_err err;
    bool found = true;
    CHECK(c->ops->get_many(c, &k, 1, 4 * CC_DIM, out, &found, &err) == 0);
    CHECK(!found);
    CHECK(c->ops->get_many(c, &k, 1, CC_DIM / 2, out, &found, &err) == 0);
    CHECK(!found);
    CHECK(cc_get1(c, k, out)); /* still there at its own */
    mr_cache_destroy(c);
}

static void cc_ttl_expiry(const struct cache_fixture *f)
{
    struct mr_cache *c = cc_open(f, 1, CC_BYTES), *forever = cc_open(f, 0, CC_BYTES);
    CHECK(c && forever);
    float v[CC_DIM], out[CC_DIM];
    cc_vec(1, v);
    CHECK(cc_put1(c, cc_key(1), v) == 0);
    CHECK(cc_put1(forever, cc_key(2), v) == 0);
    CHECK(cc_get1(c, cc_key(1), out));
    f->advance_ms(400);
    CHECK(cc_get1(c, cc_key(1), out)); /* within its second */
    f->advance_ms(700);
    CHECK(!cc_get1(c, cc_key(1), out)); /* past it */
    CHECK(cc_get1(forever, cc_key(2), out));
    CHECK(memcmp(out, v, sizeof v) == 0);
    mr_cache_destroy(c);
    mr_cache_destroy(forever);
}

static void cc_keys_isolated_by_model(const struct cache_fixture *f)
{
    struct mr_cache *c = cc_open(f, 60, CC_BYTES);
    CHECK(c);
    float a[CC_DIM], b[CC_DIM], out[CC_DIM];
    cc_vec(1, a);
    cc_vec(2, b);
    /* The same text under two model names is two entries. */
    CHECK(cc_put1(c, cc_key_of("model-a", CC_DIM, 1), a) == 0);
    CHECK(!cc_get1(c, cc_key_of("model-b", CC_DIM, 1), out));
    CHECK(cc_put1(c, cc_key_of("model-b", CC_DIM, 1), b) == 0);
    CHECK(cc_get1(c, cc_key_of("model-a", CC_DIM, 1), out));
    CHECK(memcmp(out, a, sizeof a) == 0);
    CHECK(cc_get1(c, cc_key_of("model-b", CC_DIM, 1), out));
    CHECK(memcmp(out, b, sizeof b) == 0);
    mr_cache_destroy(c);
}

static void cc_stats_count_lookups(const struct cache_fixture *f)
{
    struct mr_cache *c = cc_open(f, 60, CC_BYTES);
    CHECK(c);
    struct mr_cache_key k[3] = {cc_key(1), cc_key(2), cc_key(3)};
    float v[3 * CC_DIM], out[3 * CC_DIM];
    bool found[3];
    struct mr_err err;
    cc_vec(1, v);
    cc_vec(2, v + CC_DIM);
    CHECK(c->ops->put_many(c, k, 2, CC_DIM, v, &err) == 0);
    struct mr_cache_stats before, after;
    c->ops->stats(c, &before);
    CHECK(c->ops->get_many(c, k, 3, CC_DIM, out, found, &err) == 0);
    c->ops->stats(c, &after);
    CHECK_INT(after.hits - before.hits, 2);
    CHECK_INT(after.misses - before.misses, 1);
    CHECK_INT(after.errors, before.errors);
    mr_cache_destroy(c);
}

static void cc_batch_of_many(const struct cache_fixture *f)
{
    enum { N = 500 };
    struct mr_cache *c = cc_open(f, 60, CC_BYTES);
    CHECK(c);
    struct mr_cache_key *k = malloc(N * sizeof *k);
    float *v = malloc(N * CC_DIM * sizeof *v), *out = malloc(N * CC_DIM * sizeof *out);
    bool *found = malloc(N * sizeof *found);
    for (int i = 0; i < N; i++) {
        k[i] = cc_key(i);
        cc_vec(i, v + i * CC_DIM);
    }
    struct mr_err err;
    int put = c->ops->put_many(c, k, N, CC_DIM, v, &err);
    int got = c->ops->get_many(c, k, N, CC_DIM, out, found, &err);
    int n_found = 0;
    for (int i = 0; i < N; i++)
        n_found += found[i];
    bool same = memcmp(out, v, N * CC_DIM * sizeof *v) == 0;
    free(k);
    free(v);
    free(out);
    free(found);
    mr_cache_destroy(c);
    CHECK_INT(put, 0);
    CHECK_INT(got, 0);
    CHECK_INT(n_found, N);
    CHECK(same);
}

#define CC_THREADS 4
#define CC_ROUNDS 2000

/* Looks up and fills 300 keys in turn; a found vector must be its key's. */
static void *cc_hammer(void *arg)
{
    struct mr_cache *c = arg;
    float v[CC_DIM], out[CC_DIM];
    for (int i = 0; i < CC_ROUNDS; i++) {
        struct mr_cache_key k = cc_key(i % 300);
        cc_vec(i % 300, v);
        if (cc_get1(c, k, out)) {
            if (memcmp(v, out, sizeof v) != 0)
                return (void *)1;
        } else {
            cc_put1(c, k, v);
        }
    }
    return NULL;
}

static void cc_concurrent_clients(const struct cache_fixture *f)
{
    /* Bounded (where the cache takes a bound) below the 300 keys: evictions race lookups too. */
    struct mr_cache *c = cc_open(f, 0, 8192);
    CHECK(c);
    pthread_t th[CC_THREADS];
    for (int i = 0; i < CC_THREADS; i++)
        pthread_create(&th[i], NULL, cc_hammer, c);
    bool bad = false;
    for (int i = 0; i < CC_THREADS; i++) {
        void *r;
        pthread_join(th[i], &r);
        bad |= r != NULL;
    }
    mr_cache_destroy(c);
    CHECK(!bad);
}

static void cc_evicts_least_recent_by_bytes(const struct cache_fixture *f)
{
    struct mr_cache *c = cc_open(f, 0, 4096);
    CHECK(c);
    float v[CC_DIM], out[CC_DIM];
    for (int i = 0; i < 200; i++) {
        cc_vec(i, v);
        cc_put1(c, cc_key(i), v);
        cc_get1(c, cc_key(0), out); /* keep 0 recent */
    }
    struct mr_cache_stats st;
    c->ops->stats(c, &st);
    CHECK(st.bytes <= 4096);
    CHECK(st.entries > 10 && st.entries < 100);
    CHECK(cc_get1(c, cc_key(0), out));   /* used all along */
    CHECK(cc_get1(c, cc_key(199), out)); /* newest */
    CHECK(!cc_get1(c, cc_key(1), out));  /* oldest unused: evicted */
    mr_cache_destroy(c);
}

#define CONTRACT_CACHE_DEFINE(p, fixture)                                                          \
    TEST(p##_get_put_miss)                                                                         \
    {                                                                                              \
        cc_get_put_miss(fixture);                                                                  \
    }                                                                                              \
    TEST(p##_put_replaces)                                                                         \
    {                                                                                              \
        cc_put_replaces(fixture);                                                                  \
    }                                                                                              \
    TEST(p##_other_dimension_misses)                                                               \
    {                                                                                              \
        cc_other_dimension_misses(fixture);                                                        \
    }                                                                                              \
    TEST(p##_ttl_expiry)                                                                           \
    {                                                                                              \
        cc_ttl_expiry(fixture);                                                                    \
    }                                                                                              \
    TEST(p##_keys_isolated_by_model)                                                               \
    {                                                                                              \
        cc_keys_isolated_by_model(fixture);                                                        \
    }                                                                                              \
    TEST(p##_stats_count_lookups)                                                                  \
    {                                                                                              \
        cc_stats_count_lookups(fixture);                                                           \
    }                                                                                              \
    TEST(p##_batch_of_many)                                                                        \
    {                                                                                              \
        cc_batch_of_many(fixture);                                                                 \
    }                                                                                              \
    TEST(p##_concurrent_clients)                                                                   \
    {                                                                                              \
        cc_concurrent_clients(fixture);                                                            \
    }

#define CONTRACT_CACHE_TESTS(p)                                                                    \
    T(p##_get_put_miss), T(p##_put_replaces), T(p##_other_dimension_misses), T(p##_ttl_expiry),    \
        T(p##_keys_isolated_by_model), T(p##_stats_count_lookups), T(p##_batch_of_many),           \
        T(p##_concurrent_clients)

/* The clauses of a cache bounded in bytes. */
#define CONTRACT_CACHE_BOUNDED_DEFINE(p, fixture)                                                  \
    TEST(p##_evicts_least_recent_by_bytes)                                                         \
    {                                                                                              \
        cc_evicts_least_recent_by_bytes(fixture);                                                  \
    }

#define CONTRACT_CACHE_BOUNDED_TESTS(p) T(p##_evicts_least_recent_by_bytes)

#endif
