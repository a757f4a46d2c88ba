/*
 * bench_cache.c — the embedding cache levels: latency per lookup and hit
 * ratio of L1 (in-process LRU) and L2 (Redis on loopback) in front of an
 * OpenAI-compatible provider on loopback (the test suite's wire-format
 * server), for a skewed workload (80 % of requests on 20 % of the texts).
 * Baseline: the provider alone, same texts, same run.
 *
 * Needs redis-server on PATH (Debian's redis-server package).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tests/support/fake_openai.h"
#include "../tests/support/redis_server.h"
#include "memori/cache.h"

#define DIM 384
#define TEXTS 2000
#define REQUESTS 20000

static char texts[TEXTS][48];

static int pick(unsigned *seed)
{
    /* 80 % of the requests go to the first 20 % of the texts. */
    return rand_r(seed) % 10 < 8 ? rand_r(seed) % (TEXTS / 5) : rand_r(seed) % TEXTS;
}

static double run(struct mr_embedder *e, int n, unsigned seed)
{
    float v[DIM];
    struct mr_err err;
    int64_t t0 = mr_monotonic_us();
    for (int i = 0; i < n; i++) {
        int k = pick(&seed);
        if (mr_embed_one(e, texts[k], strlen(texts[k]), v, &err) != 0) {
            fprintf(stderr, "bench_cache: %s\n", err.msg);
            exit(1);
        }
    }
    return (double)(mr_monotonic_us() - t0) / n;
}

static struct mr_embedder *provider(struct fake_openai *f)
{
    char url[96];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1", fake_openai_port(f));
    struct mr_openai_options o = {url, "sk-bench", "bench-model", DIM, false, 100, 5000, 0};
    struct mr_err err;
    return mr_embed_openai_new(&o, &err);
}

static void row(const char *name, double us, double base_us, const struct mr_cache_stats *s)
{
    double lookups = s ? (double)(s->hits + s->misses) : 0;
    printf("| %-34s | %9.1f | %6.1fx |", name, us, base_us / us);
    if (s && lookups > 0)
        printf(" %5.1f %% | %7.1f |\n", 100.0 * s->hits / lookups, s->lookup_us / lookups);
    else
        printf("     — |       — |\n");
}

int main(void)
{
    for (int i = 0; i < TEXTS; i++)
        snprintf(texts[i], sizeof texts[i], "memory number %d about table t%d", i, i % 97);
    struct fake_openai *f = fake_openai_start(DIM);
    struct redis_server rs;
    if (!f || redis_server_start(&rs, 0) != 0) {
        fprintf(stderr, "bench_cache: needs redis-server on PATH\n");
        return 1;
    }
    printf("bench_cache: %d requests over %d texts (80/20 skew), dimension %d, all on loopback\n",
           REQUESTS, TEXTS, DIM);
    printf("| %-34s | %9s | %7s | %7s | %7s |\n", "setup", "µs/embed", "speedup", "hits",
           "µs/look");
    printf("|------------------------------------|-----------|---------|---------|---------|\n");
    struct mr_embedder *p = provider(f);
    double base = run(p, 2000, 1);
    row("provider only (baseline)", base, base, NULL);
    mr_embed_destroy(p);

    struct mr_cache_stats s1, s2;
    struct mr_embedder *e1 =
        mr_embed_cached_new(provider(f), mr_cache_lru_new(64 << 20, 3600, mr_clock_system()), NULL);
    double us = run(e1, REQUESTS, 2);
    mr_embed_cached_stats(e1, &s1, &s2);
    row("L1 (LRU) → provider", us, base, &s1);
    mr_embed_destroy(e1);

    struct mr_err err;
    struct mr_embedder *e2 =
        mr_embed_cached_new(provider(f), NULL, mr_cache_redis_new(rs.url, 3600, 100, &err));
    us = run(e2, REQUESTS, 3);
    mr_embed_cached_stats(e2, &s1, &s2);
    row("L2 (Redis) → provider", us, base, &s2);
    mr_embed_destroy(e2);

    /* A second process's view: Redis already warm, L1 cold. */
    struct mr_embedder *e3 =
        mr_embed_cached_new(provider(f), mr_cache_lru_new(64 << 20, 3600, mr_clock_system()),
                            mr_cache_redis_new(rs.url, 3600, 100, &err));
    us = run(e3, REQUESTS, 4);
    mr_embed_cached_stats(e3, &s1, &s2);
    row("L1 → L2 (warm) → provider: L1", us, base, &s1);
    row("L1 → L2 (warm) → provider: L2", us, base, &s2);
    mr_embed_destroy(e3);
    redis_server_stop(&rs);
    fake_openai_stop(f);
    return 0;
}
