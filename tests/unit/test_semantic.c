/*
 * Unit tests of the built-in semantic model (models/memori-wordnet-v1.bin,
 * built by make): what it means, beyond the embedder contract that
 * test_contract_embed.c runs against it (determinism, norms, batches).
 */
#include <stdio.h>
#include <stdlib.h>

#include "memori/embed.h"
#include "memori/index.h"
#include "memori/model_file.h"
#include "test.h"

static const char *model_path(void)
{
    const char *p = getenv("MEMORI_MODEL_PATH");
    return p ? p : "models/" MR_SEMANTIC_FILE;
}

static struct mr_embedder *open_model(void)
{
    struct mr_err err;
    struct mr_embedder *e = mr_embed_semantic_open(model_path(), &err);
    if (!e)
        fprintf(stdout, "    %s\n", err.msg);
    return e;
}

static double sim(struct mr_embedder *e, const char *a, const char *b)
{
    size_t d = mr_embed_dim(e);
    float *x = malloc(d * sizeof *x), *y = malloc(d * sizeof *y);
    struct mr_err err;
    mr_embed_one(e, a, strlen(a), x, &err);
    mr_embed_one(e, b, strlen(b), y, &err);
    double s = mr_index_dot(x, y, d);
    free(x);
    free(y);
    return s;
}

TEST(test_semantic_identity_and_shape)
{
    struct mr_embedder *e = open_model();
    CHECK(e);
    CHECK_STR(mr_embed_name(e), MR_SEMANTIC_MODEL);
    CHECK_INT(mr_embed_dim(e), MR_MODEL_DIM_TOTAL);
    const char *texts[] = {"The orders table holds one row per customer order", "x",
                           "zzqx_unknownword qqq", "Ünïcödé 😀", ""};
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
        double n = sim(e, texts[i], texts[i]);
        if (texts[i][0] && strcmp(texts[i], "Ünïcödé 😀") != 0)
            CHECK_NEAR(n, 1.0, 1e-4);
        else
            CHECK(n < 1.0 + 1e-4);
    }
    mr_embed_destroy(e);
}

TEST(test_semantic_matches_meaning_not_only_words)
{
    struct mr_embedder *e = open_model();
    CHECK(e);
    /* No shared content words, yet related: the model must rank them above unrelated ones. */
    double related =
        sim(e, "which table holds purchases?", "The orders table holds one row per customer order");
    double unrelated = sim(e, "which table holds purchases?", "Always format dates as ISO 8601");
    double money = sim(e, "money amounts", "prices are stored in dollars");
    double money_unrelated = sim(e, "money amounts", "the employee reports to a manager");
    double car = sim(e, "a car drives down the road", "an automobile travels along the street");
    double car_unrelated = sim(e, "a car drives down the road", "the invoice was paid late");
    mr_embed_destroy(e);
    CHECK(related > unrelated + 0.1);
    CHECK(money > money_unrelated + 0.1);
    CHECK(car > car_unrelated + 0.2);
}

TEST(test_semantic_keeps_exact_identifiers_strong)
{
    struct mr_embedder *e = open_model();
    CHECK(e);
    double ident = sim(e, "customer_id", "orders.customer_id references customers.id");
    double other = sim(e, "customer_id", "products have a weight in grams");
    mr_embed_destroy(e);
    CHECK(ident > 0.3);
    CHECK(ident > other + 0.2);
}

static void write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    fwrite(data, 1, n, f);
    fclose(f);
}

TEST(test_semantic_rejects_bad_files)
{
    struct mr_err err;
    char path[512];
    CHECK(mr_embed_semantic_open("/nonexistent/model.bin", &err) == NULL);
    CHECK(strstr(err.msg, "make model") != NULL);
    test_path(path, sizeof path, "short.bin");
    write_file(path, "MEMORIWV", 8);
    CHECK(mr_embed_semantic_open(path, &err) == NULL);
    struct mr_model_header h = {0};
    memcpy(h.magic, MR_MODEL_MAGIC, 8);
    h.version = MR_MODEL_FORMAT;
    h.dim = MR_MODEL_DIM;
    h.n_words = 1000;
    h.hash_cap = 2048;
    h.off_vectors = 1u << 30; /* points past the end */
    h.file_size = sizeof h;
    test_path(path, sizeof path, "lying.bin");
    write_file(path, &h, sizeof h);
    CHECK(mr_embed_semantic_open(path, &err) == NULL);
    CHECK(strstr(err.msg, "not a memori model") != NULL);
}

TEST(test_builtin_registry)
{
    struct mr_err err;
    double threshold = -1;
    struct mr_embedder *e = mr_embed_builtin_open(MR_LEXICAL_MODEL, 0, NULL, &threshold, &err);
    CHECK(e && threshold > 0 && threshold < 1);
    mr_embed_destroy(e);
    CHECK(mr_embed_builtin_open("text-embedding-ada-002", 0, NULL, &threshold, &err) == NULL);
    CHECK_INT(err.code, MR_EINVAL);
    CHECK(strstr(err.msg, "MEMORI_EMBEDDING_MODEL") != NULL);
    CHECK(mr_embed_builtin_open(MR_SEMANTIC_MODEL, 100, model_path(), &threshold, &err) == NULL);
    CHECK(strstr(err.msg, "MEMORI_EMBEDDING_DIMENSIONS") != NULL);
    e = mr_embed_builtin_open(MR_SEMANTIC_MODEL, 0, model_path(), &threshold, &err);
    CHECK(e);
    mr_embed_destroy(e);
}

TEST_MAIN("semantic", T(test_semantic_identity_and_shape),
          T(test_semantic_matches_meaning_not_only_words),
          T(test_semantic_keeps_exact_identifiers_strong), T(test_semantic_rejects_bad_files),
          T(test_builtin_registry))
