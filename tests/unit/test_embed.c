/* Unit tests of the lexical embedder: determinism, normalisation, tokenisation, ranking. */
#include <math.h>
#include <stdlib.h>

#include "memori/embed.h"
#include "memori/index.h"
#include "test.h"

static float *embed(struct mr_embedder *e, const char *text)
{
    float *v = malloc(mr_embed_dim(e) * sizeof *v);
    struct mr_err err;
    if (mr_embed_one(e, text, strlen(text), v, &err) != 0) {
        free(v);
        return NULL;
    }
    return v;
}

static double sim(struct mr_embedder *e, const char *a, const char *b)
{
    float *x = embed(e, a), *y = embed(e, b);
    double s = mr_index_dot(x, y, mr_embed_dim(e));
    free(x);
    free(y);
    return s;
}

TEST(test_lexical_is_deterministic)
{
    struct mr_err err;
    struct mr_embedder *a = mr_embed_lexical_new(0, &err), *b = mr_embed_lexical_new(0, &err);
    CHECK(a && b);
    CHECK_STR(mr_embed_name(a), "memori-lexical-v1");
    CHECK_INT(mr_embed_dim(a), MR_LEXICAL_DEFAULT_DIM);
    float *x = embed(a, "Prices are stored in cents as integers");
    float *y = embed(b, "Prices are stored in cents as integers");
    bool same = memcmp(x, y, mr_embed_dim(a) * sizeof(float)) == 0;
    free(x);
    free(y);
    mr_embed_destroy(a);
    mr_embed_destroy(b);
    CHECK(same);
}

TEST(test_lexical_vectors_are_unit_length)
{
    struct mr_err err;
    struct mr_embedder *e = mr_embed_lexical_new(384, &err);
    const char *texts[] = {"a", "customer_id joins orders to customers",
                           "Ünïcödé wörds and emoji 😀 too", "x x x x x x x x x x"};
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
        float *v = embed(e, texts[i]);
        double n = mr_index_dot(v, v, 384);
        free(v);
        CHECK_NEAR(n, 1.0, 1e-5);
    }
    mr_embed_destroy(e);
}

TEST(test_lexical_empty_text_is_zero_vector)
{
    struct mr_err err;
    struct mr_embedder *e = mr_embed_lexical_new(64, &err);
    float *v = embed(e, "  ,;!  ");
    double n = mr_index_dot(v, v, 64);
    free(v);
    mr_embed_destroy(e);
    CHECK_NEAR(n, 0.0, 0);
}

TEST(test_lexical_rejects_bad_dimension)
{
    struct mr_err err;
    CHECK(mr_embed_lexical_new(8, &err) == NULL);
    CHECK(strstr(err.msg, "16..4096") != NULL);
    CHECK(mr_embed_lexical_new(5000, &err) == NULL);
}

struct words {
    char buf[512];
};

static void on_word(void *arg, const char *w, size_t n, int is_part)
{
    struct words *ws = arg;
    size_t len = strlen(ws->buf);
    snprintf(ws->buf + len, sizeof ws->buf - len, "%s%.*s%s", len ? " " : "", (int)n, w,
             is_part < 0 ? "*" : "");
}

TEST(test_identifiers_split_into_words)
{
    struct words w = {""};
    const char *t = "customerId joins orders.customer_id via HTTPServer";
    mr_embed_tokenize(t, strlen(t), on_word, &w);
    CHECK_STR(w.buf, "customer id customerid* joins orders customer id customer_id* via http "
                     "server httpserver*");
}

TEST(test_lexical_ranks_shared_words_higher)
{
    struct mr_err err;
    struct mr_embedder *e = mr_embed_lexical_new(0, &err);
    double related = sim(e, "which table holds the orders?",
                         "The orders table holds one row per customer order");
    double unrelated =
        sim(e, "which table holds the orders?", "Always format dates as ISO 8601 strings");
    double ident = sim(e, "join on customer_id", "orders.customer_id references customers.id");
    double plural = sim(e, "customer", "customers");
    mr_embed_destroy(e);
    CHECK(related > unrelated + 0.2);
    CHECK(ident > 0.3);
    CHECK(plural > 0.99);
}

TEST(test_lexical_batch_equals_single)
{
    struct mr_err err;
    struct mr_embedder *e = mr_embed_lexical_new(128, &err);
    const char *texts[] = {"first text", "second one", ""};
    size_t lens[] = {10, 10, 0};
    float out[3 * 128];
    CHECK(mr_embed_batch(e, texts, lens, 3, out, &err) == 0);
    for (int i = 0; i < 3; i++) {
        float *v = embed(e, texts[i]);
        bool same = memcmp(v, out + i * 128, 128 * sizeof(float)) == 0;
        free(v);
        CHECK(same);
    }
    mr_embed_destroy(e);
}

/* The registry: each provider's default model and each model's threshold (docs/embeddings.md). */
TEST(test_registry_defaults_per_provider_and_model)
{
    CHECK_STR(mr_embed_default_model(MR_PROVIDER_BUILTIN), MR_SEMANTIC_V2_MODEL);
    CHECK_STR(mr_embed_default_model(MR_PROVIDER_OPENAI), "text-embedding-ada-002");
    CHECK(mr_embed_default_model("magic") == NULL);
    CHECK_NEAR(mr_embed_default_threshold(MR_PROVIDER_BUILTIN, MR_SEMANTIC_MODEL), 0.40, 0);
    CHECK_NEAR(mr_embed_default_threshold(MR_PROVIDER_BUILTIN, MR_LEXICAL_MODEL), 0.15, 0);
    CHECK_NEAR(mr_embed_default_threshold(MR_PROVIDER_OPENAI, "text-embedding-3-small"), 0.70, 0);
    /* Each search mode's default (docs/ranking.md); semantic is the cosine threshold above. */
    struct mr_embed_thresholds v2 = mr_embed_default_thresholds(MR_PROVIDER_BUILTIN, NULL);
    CHECK_NEAR(v2.hybrid, 0.175, 0);
    CHECK_NEAR(v2.semantic, 0.60, 0);
    CHECK_NEAR(v2.lexical, 0.025, 0);
    struct mr_embed_thresholds v1 =
        mr_embed_default_thresholds(MR_PROVIDER_BUILTIN, MR_SEMANTIC_MODEL);
    CHECK_NEAR(v1.hybrid, 0.10, 0);
    CHECK_NEAR(v1.semantic, 0.40, 0);
    CHECK_NEAR(v1.lexical, 0.025, 0);
    struct mr_embed_thresholds lex =
        mr_embed_default_thresholds(MR_PROVIDER_BUILTIN, MR_LEXICAL_MODEL);
    CHECK_NEAR(lex.hybrid, 0.05, 0);
    CHECK_NEAR(lex.semantic, 0.15, 0);
    CHECK_NEAR(lex.lexical, 0.025, 0);
    struct mr_embed_thresholds ada = mr_embed_default_thresholds(MR_PROVIDER_OPENAI, NULL);
    CHECK_NEAR(ada.hybrid, 0.35, 0);
    CHECK_NEAR(ada.semantic, 0.70, 0);
    CHECK_NEAR(ada.lexical, 0.025, 0);
    /*
     * The hybrid score's lexical weight: the WordNet models' own, 0.5 (the
     * weight the older thresholds were chosen at) for the others.
     */
    CHECK_NEAR(mr_embed_default_lexical_weight(MR_PROVIDER_BUILTIN, NULL), 0.7, 0);
    CHECK_NEAR(mr_embed_default_lexical_weight(MR_PROVIDER_BUILTIN, MR_SEMANTIC_MODEL), 0.7, 0);
    CHECK_NEAR(mr_embed_default_lexical_weight(MR_PROVIDER_BUILTIN, MR_LEXICAL_MODEL), 0.5, 0);
    CHECK_NEAR(mr_embed_default_lexical_weight(MR_PROVIDER_OPENAI, NULL), 0.5, 0);
    CHECK_NEAR(mr_embed_default_lexical_weight(MR_PROVIDER_OPENAI, "text-embedding-3-small"), 0.5,
               0);
    double threshold = 0;
    struct mr_err err;
    struct mr_embedder *e = mr_embed_builtin_open(MR_LEXICAL_MODEL, 64, NULL, &threshold, &err);
    CHECK(e);
    CHECK_NEAR(threshold, mr_embed_default_threshold(MR_PROVIDER_BUILTIN, MR_LEXICAL_MODEL), 0);
    mr_embed_destroy(e);
}

TEST(test_registry_opens_what_the_spec_names)
{
    struct mr_err err;
    struct mr_embed_spec spec = {
        .provider = MR_PROVIDER_BUILTIN, .model = MR_LEXICAL_MODEL, .dim = 128};
    struct mr_embedder *e = mr_embed_open(&spec, &err);
    CHECK(e);
    CHECK_STR(mr_embed_name(e), MR_LEXICAL_MODEL);
    CHECK_INT(mr_embed_dim(e), 128);
    mr_embed_destroy(e);
    spec.model = "text-embedding-ada-002"; /* a provider's model is no built-in one */
    CHECK(mr_embed_open(&spec, &err) == NULL);
    CHECK_INT(err.code, MR_EINVAL);
    CHECK(strstr(err.msg, "MEMORI_EMBEDDING_MODEL") != NULL);
    spec.provider = "magic";
    CHECK(mr_embed_open(&spec, &err) == NULL);
    CHECK(strstr(err.msg, "MEMORI_EMBEDDING_PROVIDER") != NULL);
    /* openai without a model: the registry's default, whose dimension the provider knows. */
    struct mr_embed_spec oa = {.provider = MR_PROVIDER_OPENAI,
                               .base_url = "http://127.0.0.1:9/v1",
                               .batch_size = 10,
                               .timeout_ms = 1000};
    e = mr_embed_open(&oa, &err);
    CHECK(e);
    CHECK_STR(mr_embed_name(e), "text-embedding-ada-002");
    CHECK_INT(mr_embed_dim(e), 1536);
    mr_embed_destroy(e);
}

TEST_MAIN("embed", T(test_registry_defaults_per_provider_and_model),
          T(test_registry_opens_what_the_spec_names), T(test_lexical_is_deterministic),
          T(test_lexical_vectors_are_unit_length), T(test_lexical_empty_text_is_zero_vector),
          T(test_lexical_rejects_bad_dimension), T(test_identifiers_split_into_words),
          T(test_lexical_ranks_shared_words_higher), T(test_lexical_batch_equals_single))
