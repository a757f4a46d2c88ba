/*
 * What is each cache's own beyond the cache contract (test_contract_cache.c
 * runs that against both): the key function, the LRU's TTL boundary and
 * stats, Redis shared between clients, stopped mid-test and its URL; and the
 * caching embedder's levels in front of a counting provider.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "memori/cache.h"
#include "redis_server.h"
#include "test.h"

#define DIM 8

static struct mr_cache_key key(int i)
{
    char t[32];
    snprintf(t, sizeof t, "text %d", i);
    return mr_cache_key_of("m", DIM, t, strlen(t));
}

static void vec(int i, float *v)
{
    for (int j = 0; j < DIM; j++)
        v[j] = (float)(i * 10 + j);
}

TEST(test_keys_differ_by_model_dim_and_text)
{
    struct mr_cache_key a = mr_cache_key_of("m", 8, "x", 1), b = mr_cache_key_of("n", 8, "x", 1),
                        c = mr_cache_key_of("m", 9, "x", 1), d = mr_cache_key_of("m", 8, "y", 1),
                        e = mr_cache_key_of("m", 8, "x", 1);
    CHECK(a.hi != b.hi && a.hi != c.hi && a.hi != d.hi);
    CHECK(a.hi == e.hi && a.lo == e.lo);
}

TEST(test_lru_hits_misses_and_ttl)
{
    struct mr_clock clock;
    mr_clock_fixed_init(&clock, 0);
    struct mr_cache *c = mr_cache_lru_new(1 << 20, 10, &clock);
    struct mr_cache_key k[2] = {key(1), key(2)};
    float v[2 * DIM], out[2 * DIM];
    bool found[2];
    struct mr_err err;
    vec(1, v);
    CHECK(c->ops->put_many(c, k, 1, DIM, v, &err) == 0);
    CHECK(c->ops->get_many(c, k, 2, DIM, out, found, &err) == 0);
    CHECK(found[0] && !found[1]);
    CHECK(memcmp(out, v, DIM * sizeof(float)) == 0);
    clock.fixed_us = 10 * MR_USEC_PER_SEC; /* the TTL has passed */
    CHECK(c->ops->get_many(c, k, 1, DIM, out, found, &err) == 0);
    CHECK(!found[0]);
    struct mr_cache_stats st;
    c->ops->stats(c, &st);
    CHECK_INT(st.hits, 1);
    CHECK_INT(st.misses, 2);
    CHECK_INT(st.entries, 0);
    mr_cache_destroy(c);
}

/* A provider that counts the texts it embeds (the lexical model's vectors, or their negation). */
struct counting {
    struct mr_embedder base;
    struct mr_embedder *lex;
    const char *name; /* NULL: the lexical model's */
    bool negate;
    int texts;
};

static const char *cn_name(const struct mr_embedder *e)
{
    const struct counting *c = (const struct counting *)e;
    return c->name ? c->name : mr_embed_name(c->lex);
}
static size_t cn_dim(const struct mr_embedder *e)
{
    return mr_embed_dim(((const struct counting *)e)->lex);
}
static int cn_embed(struct mr_embedder *e, const char *const *t, const size_t *l, size_t n,
                    float *out, struct mr_err *err)
{
    struct counting *c = (struct counting *)e;
    c->texts += (int)n;
    int rc = mr_embed_batch(c->lex, t, l, n, out, err);
    for (size_t i = 0; c->negate && rc == 0 && i < n * mr_embed_dim(c->lex); i++)
        out[i] = -out[i];
    return rc;
}
static int cn_health(struct mr_embedder *e, struct mr_err *err)
{
    (void)e;
    (void)err;
    return 0;
}
static void cn_destroy(struct mr_embedder *e)
{
    mr_embed_destroy(((struct counting *)e)->lex);
    free(e);
}
static const struct mr_embedder_ops counting_ops = {cn_name, cn_dim, cn_embed, cn_health,
                                                    cn_destroy};

static struct counting *counting_new(void)
{
    struct counting *c = calloc(1, sizeof *c);
    struct mr_err err;
    c->base.ops = &counting_ops;
    c->lex = mr_embed_lexical_new(DIM * 4, &err);
    return c;
}

TEST(test_cached_embedder_uses_l1_then_provider)
{
    struct counting *p = counting_new();
    struct mr_embedder *e =
        mr_embed_cached_new(&p->base, mr_cache_lru_new(1 << 20, 60, mr_clock_system()), NULL);
    const char *t[] = {"alpha", "beta", "alpha"};
    size_t l[] = {5, 4, 5};
    float a[3 * DIM * 4], b[3 * DIM * 4];
    struct mr_err err;
    CHECK(mr_embed_batch(e, t, l, 3, a, &err) == 0);
    CHECK_INT(p->texts, 3);
    CHECK(mr_embed_batch(e, t, l, 3, b, &err) == 0);
    CHECK_INT(p->texts, 3); /* all from L1 */
    CHECK(memcmp(a, b, sizeof a) == 0);
    struct mr_cache_stats s1, s2;
    mr_embed_cached_stats(e, &s1, &s2);
    CHECK_INT(s1.hits, 3);
    CHECK_STR(mr_embed_name(e), mr_embed_name(&p->base));
    mr_embed_destroy(e);
}

TEST(test_redis_cache_round_trip_and_shared)
{
    struct redis_server rs;
    CHECK(redis_server_start(&rs, 0) == 0);
    struct mr_err err;
    struct mr_cache *c1 = mr_cache_redis_new(rs.url, 60, 200, &err),
                    *c2 = mr_cache_redis_new(rs.url, 60, 200, &err);
    bool ok = c1 && c2;
    struct mr_cache_key k[3] = {key(1), key(2), key(3)};
    float v[3 * DIM], out[3 * DIM];
    bool found[3];
    vec(1, v);
    vec(2, v + DIM);
    ok = ok && c1->ops->put_many(c1, k, 2, DIM, v, &err) == 0;
    /* Another client (another memori process) sees what the first stored. */
    ok = ok && c2->ops->get_many(c2, k, 3, DIM, out, found, &err) == 0;
    bool right =
        ok && found[0] && found[1] && !found[2] && memcmp(out, v, 2 * DIM * sizeof(float)) == 0;
    bool healthy = ok && c2->ops->health(c2, &err) == 0;
    mr_cache_destroy(c1);
    mr_cache_destroy(c2);
    redis_server_stop(&rs);
    CHECK(ok);
    CHECK(right);
    CHECK(healthy);
}

TEST(test_cached_embedders_of_two_models_share_redis_apart)
{
    /* Two processes on one Redis with different models (same dimension, same texts). */
    struct redis_server rs;
    CHECK(redis_server_start(&rs, 0) == 0);
    struct mr_err err;
    struct counting *pa = counting_new(), *pb = counting_new();
    pb->name = "another-model";
    pb->negate = true;
    struct mr_embedder *a = mr_embed_cached_new(&pa->base, NULL,
                                                mr_cache_redis_new(rs.url, 60, 200, &err)),
                       *b = mr_embed_cached_new(&pb->base, NULL,
                                                mr_cache_redis_new(rs.url, 60, 200, &err));
    const char *t[] = {"the shared sentence"};
    size_t l[] = {strlen(t[0])};
    float va[DIM * 4], vb[DIM * 4], again[DIM * 4];
    bool ok =
        mr_embed_batch(a, t, l, 1, va, &err) == 0 && mr_embed_batch(b, t, l, 1, vb, &err) == 0;
    int b_texts = pb->texts; /* b's text was not taken from a's entry */
    for (int i = 0; i < DIM * 4; i++)
        ok &= vb[i] == -va[i];
    ok = ok && mr_embed_batch(a, t, l, 1, again, &err) == 0;
    bool a_kept = memcmp(again, va, sizeof va) == 0 && pa->texts == 1; /* from Redis, a's own */
    mr_embed_destroy(a);
    mr_embed_destroy(b);
    redis_server_stop(&rs);
    CHECK(ok);
    CHECK_INT(b_texts, 1);
    CHECK(a_kept);
}

TEST(test_redis_down_falls_back_to_provider_and_recovers)
{
    struct redis_server rs;
    CHECK(redis_server_start(&rs, 0) == 0);
    struct counting *p = counting_new();
    struct mr_err err;
    struct mr_cache *l2 = mr_cache_redis_new(rs.url, 60, 100, &err);
    CHECK(l2);
    struct mr_embedder *e = mr_embed_cached_new(&p->base, NULL, l2);
    const char *t[] = {"gamma"};
    size_t l[] = {5};
    float out[DIM * 4];
    CHECK(mr_embed_batch(e, t, l, 1, out, &err) == 0);
    CHECK(mr_embed_batch(e, t, l, 1, out, &err) == 0);
    CHECK_INT(p->texts, 1); /* second time from Redis */
    int port = rs.port;
    redis_server_stop(&rs);
    /* Redis is gone: requests still succeed, from the provider, and quickly. */
    int64_t t0 = mr_monotonic_us();
    for (int i = 0; i < 5; i++)
        CHECK(mr_embed_batch(e, t, l, 1, out, &err) == 0);
    CHECK(mr_monotonic_us() - t0 < 2 * MR_USEC_PER_SEC);
    CHECK_INT(p->texts, 6);
    CHECK(mr_embed_health(e, &err) != 0);
    CHECK(strstr(err.msg, "redis") != NULL);
    /* Back on the same port: after the reconnect interval it is used again. */
    CHECK(redis_server_start(&rs, port) == 0);
    sleep(1);
    bool recovered = false;
    for (int i = 0; i < 20 && !recovered; i++) {
        recovered = mr_embed_health(e, &err) == 0;
        if (!recovered)
            usleep(100000);
    }
    mr_embed_destroy(e);
    redis_server_stop(&rs);
    CHECK(recovered);
}

TEST(test_redis_url_is_checked)
{
    struct mr_err err;
    CHECK(mr_cache_redis_new("http://x", 60, 100, &err) == NULL);
    CHECK(strstr(err.msg, "REDIS_URL") != NULL);
    CHECK(mr_cache_redis_new("redis://", 60, 100, &err) == NULL);
    CHECK(mr_cache_redis_new("redis://h:99999", 60, 100, &err) == NULL);
    struct mr_cache *c = mr_cache_redis_new("redis://:pw@127.0.0.1:1/2", 60, 100, &err);
    CHECK(c); /* well formed, just not reachable */
    CHECK(c->ops->health(c, &err) != 0);
    mr_cache_destroy(c);
}

/*
 * A process that exits with its redis-server still running (a test that
 * returned early, before its redis_server_stop) leaves none behind: the
 * support layer stops it at exit (tests/support/redis_server.c).
 */
TEST(test_a_redis_server_left_running_is_stopped_at_exit)
{
    int fds[2];
    CHECK(pipe(fds) == 0);
    fflush(stdout);
    fflush(stderr);
    pid_t child = fork();
    if (child == 0) {
        struct redis_server rs;
        pid_t got = redis_server_start(&rs, 0) == 0 ? rs.pid : -1;
        ssize_t w = write(fds[1], &got, sizeof got);
        exit(w == sizeof got ? 0 : 1); /* without redis_server_stop */
    }
    close(fds[1]);
    pid_t redis = -1;
    ssize_t r = read(fds[0], &redis, sizeof redis);
    close(fds[0]);
    int status = 0;
    CHECK(waitpid(child, &status, 0) == child);
    CHECK(r == sizeof redis && redis > 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    /* Gone, not reparented and still serving. */
    bool gone = kill(redis, 0) != 0 && errno == ESRCH;
    if (!gone)
        kill(redis, SIGTERM);
    CHECK(gone);
}

TEST_MAIN("cache", T(test_keys_differ_by_model_dim_and_text), T(test_lru_hits_misses_and_ttl),
          T(test_cached_embedder_uses_l1_then_provider), T(test_redis_cache_round_trip_and_shared),
          T(test_cached_embedders_of_two_models_share_redis_apart),
          T(test_redis_down_falls_back_to_provider_and_recovers), T(test_redis_url_is_checked),
          T(test_a_redis_server_left_running_is_stopped_at_exit))
