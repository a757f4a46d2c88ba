/*
 * The cache contract (contract_cache.h) against both caches: the
 * in-process LRU on a fixed clock, and Redis (a real redis-server, one for
 * the binary), whose TTL runs on the server's clock, so time passes by
 * sleeping.
 */
#include <time.h>

#include "contract_cache.h"
#include "redis_server.h"

static struct mr_clock clock_;
static bool clock_ready;

static struct mr_cache *lru_open(int ttl_s, size_t max_bytes)
{
    if (!clock_ready) {
        mr_clock_fixed_init(&clock_, 1000 * MR_USEC_PER_SEC);
        clock_ready = true;
    }
    return mr_cache_lru_new(max_bytes, ttl_s, &clock_);
}

static void lru_advance(int64_t ms)
{
    clock_.fixed_us += ms * 1000;
}

static const struct cache_fixture lru = {lru_open, lru_advance};

static struct redis_server redis;

static void stop_redis(void)
{
    redis_server_stop(&redis);
}

static struct mr_cache *redis_open(int ttl_s, size_t max_bytes)
{
    (void)max_bytes; /* Redis is bounded by the server's maxmemory, not by memori */
    if (!redis.pid) {
        if (redis_server_start(&redis, 0) != 0) {
            printf("    could not start redis-server (scripts/install-deps.sh installs it)\n");
            return NULL;
        }
        atexit(stop_redis);
    }
    struct mr_err err;
    struct mr_cache *c = mr_cache_redis_new(redis.url, ttl_s, 500, &err);
    if (!c)
        printf("    %s\n", err.msg);
    return c;
}

static void redis_advance(int64_t ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

static const struct cache_fixture redis_cache = {redis_open, redis_advance};

CONTRACT_CACHE_DEFINE(lru, &lru)
CONTRACT_CACHE_BOUNDED_DEFINE(lru, &lru)
CONTRACT_CACHE_DEFINE(redis, &redis_cache)

TEST_MAIN("contract_cache", CONTRACT_CACHE_TESTS(lru), CONTRACT_CACHE_BOUNDED_TESTS(lru),
          CONTRACT_CACHE_TESTS(redis))
