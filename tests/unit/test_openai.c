/* The OpenAI-compatible provider against a loopback server speaking the same wire format. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "fake_openai.h"
#include "memori/embed.h"
#include "memori/index.h"
#include "test.h"

#define DIM 16
#define KEY "sk-test-0123456789abcdef"

static struct fake_openai *fake;

static struct mr_embedder *provider(int batch, long timeout_ms, int retries)
{
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/", fake_openai_port(fake));
    struct mr_openai_options o = {url,        KEY,    "text-embedding-test", DIM, false, batch,
                                  timeout_ms, retries};
    struct mr_err err;
    return mr_embed_openai_new(&o, &err);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static bool setup(void)
{
    if (!fake)
        fake = fake_openai_start(DIM);
    return fake != NULL;
}

TEST(test_openai_embeds_in_batches_with_the_key)
{
    CHECK(setup());
    struct mr_embedder *e = provider(2, 5000, 0);
    CHECK(e);
    CHECK_STR(mr_embed_name(e), "text-embedding-test");
    CHECK_INT(mr_embed_dim(e), DIM);
    const char *texts[] = {"a", "b", "c", "d", "e"};
    size_t lens[] = {1, 1, 1, 1, 1};
    float out[5 * DIM];
    struct mr_err err;
    int before = fake_openai_requests(fake);
    CHECK(mr_embed_batch(e, texts, lens, 5, out, &err) == 0);
    CHECK_INT(fake_openai_requests(fake) - before, 3); /* 2 + 2 + 1 */
    CHECK_STR(fake_openai_last_auth(fake), "Bearer " KEY);
    CHECK_STR(fake_openai_last_model(fake), "text-embedding-test");
    for (int i = 0; i < 5; i++)
        CHECK_NEAR(mr_index_dot(out + i * DIM, out + i * DIM, DIM), 1.0, 1e-5); /* normalised */
    float again[DIM];
    CHECK(mr_embed_one(e, "c", 1, again, &err) == 0);
    CHECK(memcmp(again, out + 2 * DIM, sizeof again) == 0); /* row order kept */
    CHECK(mr_embed_health(e, &err) == 0);
    mr_embed_destroy(e);
}

TEST(test_openai_retries_429_honouring_retry_after)
{
    CHECK(setup());
    struct mr_embedder *e = provider(10, 5000, 3);
    float out[DIM];
    struct mr_err err;
    fake_openai_push(fake, FAKE_429, 1);
    int before = fake_openai_requests(fake);
    double t0 = now_s();
    CHECK(mr_embed_one(e, "x", 1, out, &err) == 0);
    CHECK(now_s() - t0 >= 0.95); /* Retry-After: 1 */
    CHECK_INT(fake_openai_requests(fake) - before, 2);
    mr_embed_destroy(e);
}

TEST(test_openai_gives_up_after_retries_with_503)
{
    CHECK(setup());
    struct mr_embedder *e = provider(10, 5000, 2);
    float out[DIM];
    struct mr_err err;
    fake_openai_push(fake, FAKE_500, 3);
    int before = fake_openai_requests(fake);
    CHECK_INT(mr_embed_one(e, "x", 1, out, &err), MR_EUNAVAIL);
    CHECK_INT(fake_openai_requests(fake) - before, 3);
    CHECK(strstr(err.msg, "HTTP 500") != NULL);
    CHECK(strstr(err.msg, KEY) == NULL);
    CHECK(mr_embed_health(e, &err) != 0); /* degraded until a request succeeds */
    CHECK(mr_embed_one(e, "x", 1, out, &err) == 0);
    CHECK(mr_embed_health(e, &err) == 0);
    mr_embed_destroy(e);
}

TEST(test_openai_rejected_key_is_502_without_retry_or_key)
{
    CHECK(setup());
    struct mr_embedder *e = provider(10, 5000, 3);
    float out[DIM];
    struct mr_err err;
    fake_openai_push(fake, FAKE_401, 1);
    int before = fake_openai_requests(fake);
    CHECK_INT(mr_embed_one(e, "x", 1, out, &err), MR_EUPSTREAM);
    CHECK_INT(fake_openai_requests(fake) - before, 1);
    CHECK(strstr(err.msg, "401") != NULL);
    CHECK(strstr(err.msg, "Incorrect API key") != NULL);
    CHECK(strstr(err.msg, KEY) == NULL); /* the echoed key is masked */
    mr_embed_destroy(e);
}

TEST(test_openai_checks_every_response)
{
    CHECK(setup());
    struct mr_embedder *e = provider(10, 5000, 0);
    float out[DIM];
    struct mr_err err;
    fake_openai_push(fake, FAKE_WRONG_DIM, 1);
    CHECK_INT(mr_embed_one(e, "x", 1, out, &err), MR_EUPSTREAM);
    CHECK(strstr(err.msg, "dimension 15, expected 16") != NULL);
    fake_openai_push(fake, FAKE_MALFORMED, 1);
    CHECK_INT(mr_embed_one(e, "x", 1, out, &err), MR_EUPSTREAM);
    mr_embed_destroy(e);
}

TEST(test_openai_times_out_slow_provider)
{
    CHECK(setup());
    struct mr_embedder *e = provider(10, 500, 0);
    float out[DIM];
    struct mr_err err;
    fake_openai_push(fake, FAKE_SLOW, 1);
    double t0 = now_s();
    CHECK_INT(mr_embed_one(e, "x", 1, out, &err), MR_EUNAVAIL);
    CHECK(now_s() - t0 < 2.5);
    mr_embed_destroy(e);
}

TEST(test_openai_unreachable_is_503)
{
    struct mr_openai_options o = {"http://127.0.0.1:1/v1", KEY, "m", DIM, false, 10, 1000, 1};
    struct mr_err err;
    struct mr_embedder *e = mr_embed_openai_new(&o, &err);
    CHECK(e);
    float out[DIM];
    CHECK_INT(mr_embed_one(e, "x", 1, out, &err), MR_EUNAVAIL);
    CHECK(strstr(err.msg, KEY) == NULL);
    mr_embed_destroy(e);
}

TEST(test_openai_options_are_checked)
{
    struct mr_err err;
    struct mr_openai_options o = {"http://x/v1", "", "my-local-model", 0, false, 10, 1000, 1};
    CHECK(mr_embed_openai_new(&o, &err) == NULL);
    CHECK(strstr(err.msg, "MEMORI_EMBEDDING_DIMENSIONS") != NULL);
    o.model = "text-embedding-ada-002";
    struct mr_embedder *e = mr_embed_openai_new(&o, &err);
    CHECK(e && mr_embed_dim(e) == 1536);
    mr_embed_destroy(e);
    o.base_url = "ftp://x";
    CHECK(mr_embed_openai_new(&o, &err) == NULL);
    CHECK(strstr(err.msg, "OPENAI_BASE_URL") != NULL);
}

static void cleanup(void)
{
    if (fake)
        fake_openai_stop(fake);
}

int main(int argc, char **argv)
{
    static const struct test_case cases[] = {
        T(test_openai_embeds_in_batches_with_the_key),
        T(test_openai_retries_429_honouring_retry_after),
        T(test_openai_gives_up_after_retries_with_503),
        T(test_openai_rejected_key_is_502_without_retry_or_key),
        T(test_openai_checks_every_response),
        T(test_openai_times_out_slow_provider),
        T(test_openai_unreachable_is_503),
        T(test_openai_options_are_checked)};
    int rc = test_run("openai", cases, sizeof cases / sizeof cases[0], argc, argv);
    cleanup();
    return rc;
}
