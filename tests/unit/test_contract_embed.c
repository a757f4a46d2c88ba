/*
 * The embedder contract (contract_embed.h) against the four embedders:
 * the built-in semantic model and the built-in lexical model (through the
 * registry, as the service opens them), the OpenAI-compatible provider
 * against the loopback fake, and the caching embedder (in-process LRU, then
 * a real Redis) in front of that provider.
 */
#include <stdlib.h>

#include "contract_embed.h"
#include "fake_openai.h"
#include "memori/cache.h"
#include "redis_server.h"

static const char *model_path(void)
{
    const char *p = getenv("MEMORI_MODEL_PATH");
    return p ? p : "models/" MR_SEMANTIC_FILE;
}

static struct mr_embedder *open_builtin(const char *model, size_t dims, const char *path,
                                        struct mr_err *err)
{
    double threshold;
    return mr_embed_builtin_open(model, dims, path, &threshold, err);
}

static struct mr_embedder *print_failure(struct mr_embedder *e, const struct mr_err *err)
{
    if (!e)
        printf("    could not open the embedder: %s\n", err->msg);
    return e;
}

/* The built-in semantic model (models/, built by `make`). */
static struct mr_embedder *semantic_open(void)
{
    struct mr_err err;
    return print_failure(open_builtin(MR_SEMANTIC_MODEL, 0, model_path(), &err), &err);
}

static struct mr_embedder *semantic_open_bad(struct mr_err *err)
{
    return open_builtin(MR_SEMANTIC_MODEL, 0, "/nonexistent/" MR_SEMANTIC_FILE, err);
}

static const struct embed_fixture semantic = {MR_SEMANTIC_MODEL, MR_MODEL_DIM_TOTAL, semantic_open,
                                              NULL, semantic_open_bad};

/* The built-in lexical model at its default dimension. */
static struct mr_embedder *lexical_open(void)
{
    struct mr_err err;
    return print_failure(open_builtin(MR_LEXICAL_MODEL, 0, NULL, &err), &err);
}

static struct mr_embedder *lexical_open_bad(struct mr_err *err)
{
    return open_builtin(MR_LEXICAL_MODEL, 8, NULL, err); /* below 16..4096 */
}

static const struct embed_fixture lexical = {MR_LEXICAL_MODEL, MR_LEXICAL_DEFAULT_DIM, lexical_open,
                                             NULL, lexical_open_bad};

/* The OpenAI-compatible provider, against the fake started on first use. */
#define OPENAI_DIM 32
#define OPENAI_MODEL "text-embedding-contract"

static struct fake_openai *fake;

static void stop_fake(void)
{
    fake_openai_stop(fake);
}

static struct mr_embedder *openai_new(const char *base_url, struct mr_err *err)
{
    if (!fake) {
        fake = fake_openai_start(OPENAI_DIM);
        if (!fake) {
            mr_err_set(err, MR_EUNAVAIL, "the fake OpenAI server did not start");
            return NULL;
        }
        atexit(stop_fake);
    }
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1", fake_openai_port(fake));
    /* Batches of 3, so the contract's batches span several requests; no retries. */
    struct mr_openai_options o = {
        base_url ? base_url : url, "sk-contract", OPENAI_MODEL, OPENAI_DIM, false, 3, 5000, 0};
    return mr_embed_openai_new(&o, err);
}

static struct mr_embedder *openai_open(void)
{
    struct mr_err err;
    return print_failure(openai_new(NULL, &err), &err);
}

static struct mr_embedder *openai_open_bad(struct mr_err *err)
{
    return openai_new("ftp://127.0.0.1/v1", err);
}

static void openai_fail_next(void)
{
    fake_openai_push(fake, FAKE_500, 1);
}

static const struct embed_fixture openai = {OPENAI_MODEL, OPENAI_DIM, openai_open, openai_fail_next,
                                            openai_open_bad};

/*
 * The caching embedder in front of the provider: a fresh LRU per instance,
 * one Redis (started on first use) shared by all, as by several processes.
 */
static struct redis_server redis;

static void stop_redis(void)
{
    redis_server_stop(&redis);
}

static struct mr_embedder *cached_open(void)
{
    struct mr_err err;
    if (!redis.pid) {
        if (redis_server_start(&redis, 0) != 0) {
            printf("    could not start redis-server\n");
            return NULL;
        }
        atexit(stop_redis);
    }
    struct mr_embedder *inner = openai_open();
    struct mr_cache *l2 = mr_cache_redis_new(redis.url, 60, 500, &err);
    if (!inner || !l2) {
        mr_embed_destroy(inner);
        mr_cache_destroy(l2);
        return print_failure(NULL, &err);
    }
    return mr_embed_cached_new(inner, mr_cache_lru_new(1 << 20, 0, mr_clock_system()), l2);
}

static const struct embed_fixture cached = {OPENAI_MODEL, OPENAI_DIM, cached_open, openai_fail_next,
                                            NULL};

CONTRACT_EMBED_DEFINE(semantic, &semantic)
CONTRACT_EMBED_DEFINE(lexical, &lexical)
CONTRACT_EMBED_DEFINE(openai, &openai)
CONTRACT_EMBED_DEFINE(cached, &cached)

TEST_MAIN("contract_embed", CONTRACT_EMBED_TESTS(semantic), CONTRACT_EMBED_TESTS(lexical),
          CONTRACT_EMBED_TESTS(openai), CONTRACT_EMBED_TESTS(cached))
