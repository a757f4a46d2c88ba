/*
 * contract_embed.h — what every embedder must do (include/memori/embed.h):
 * report its name and dimension; give the same row for the same text, from
 * one instance or another; give rows of unit length, or all zeros for a
 * text with no features; embed a batch exactly as it embeds its texts one
 * by one; read texts by their lengths, not up to a NUL; answer empty, long,
 * non-ASCII and invalid UTF-8 texts with such a row or with an MR_E* code
 * and a message; fail only with MR_E* codes and messages, and recover;
 * and do all that from many threads at once.
 *
 * A test binary describes an embedder with a struct embed_fixture and
 * instantiates the suite for it under a prefix:
 *
 *     CONTRACT_EMBED_DEFINE(lexical, &lexical_fixture)
 *     TEST_MAIN("contract_embed", CONTRACT_EMBED_TESTS(lexical), ...)
 *
 * which names its cases lexical_<clause>. tests/unit/test_contract_embed.c
 * runs it against the four embedders.
 */
#ifndef MEMORI_CONTRACT_EMBED_H
#define MEMORI_CONTRACT_EMBED_H

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "memori/embed.h"
#include "test.h"

struct embed_fixture {
    const char *model; /* the name it must report */
    size_t dim;        /* the dimension it must report */
    /* A fresh instance of the same model, or NULL with the reason printed. Freed by the suite. */
    struct mr_embedder *(*open)(void);
    /*
     * Optional (NULL: the embedder cannot fail at run time): makes the next
     * embed call of any instance fail as its provider would.
     */
    void (*fail_next)(void);
    /*
     * Optional (NULL: its constructor cannot fail): calls the constructor
     * with options it must refuse and returns what it returned.
     */
    struct mr_embedder *(*open_bad)(struct mr_err *err);
};

/* A failure the interface allows: a known negative MR_E* code, recorded in err with a message. */
static bool ce_is_error(int rc, const struct mr_err *err)
{
    return rc < 0 && strcmp(mr_err_name(rc), "EUNKNOWN") != 0 && err->code == rc &&
           err->msg[0] != '\0';
}

/* Finite floats, and either unit length or all zeros. */
static bool ce_row_ok(const float *row, size_t dim, bool *out_zero)
{
    double n = 0;
    *out_zero = false;
    for (size_t i = 0; i < dim; i++) {
        if (!isfinite(row[i]))
            return false;
        n += (double)row[i] * row[i];
    }
    *out_zero = n == 0;
    return n == 0 || fabs(n - 1.0) < 1e-5;
}

/* n texts (NUL-terminated) into a fresh n*dim buffer; NULL (err filled) on failure. */
static float *ce_embed(struct mr_embedder *e, const char *const *texts, size_t n,
                       struct mr_err *err)
{
    size_t *lens = malloc((n ? n : 1) * sizeof *lens);
    float *out = malloc((n ? n : 1) * mr_embed_dim(e) * sizeof *out);
    for (size_t i = 0; i < n; i++)
        lens[i] = strlen(texts[i]);
    if (mr_embed_batch(e, texts, lens, n, out, err) != 0) {
        free(out);
        out = NULL;
    }
    free(lens);
    return out;
}

/* A text no earlier call has embedded: a cache in front of a provider cannot answer it. */
static const char *ce_fresh_text(char *buf, size_t cap)
{
    static int counter;
    snprintf(buf, cap, "a text never embedded before, number %d of process %d", ++counter,
             (int)getpid());
    return buf;
}

static const char *const ce_texts[] = {
    "The orders table holds one row per customer order",
    "join on customer_id",
    "Prices are stored in cents as integers",
    "which table holds the orders?",
};
#define CE_N_TEXTS (sizeof ce_texts / sizeof ce_texts[0])

static void ce_name_and_dim(const struct embed_fixture *f)
{
    struct mr_embedder *e = f->open();
    CHECK(e);
    CHECK_STR(mr_embed_name(e), f->model);
    CHECK_STR(mr_embed_name(e), mr_embed_name(e));
    CHECK_INT(mr_embed_dim(e), f->dim);
    struct mr_err err;
    CHECK(mr_embed_health(e, &err) == 0);
    mr_embed_destroy(e);
}

static void ce_deterministic(const struct embed_fixture *f)
{
    struct mr_embedder *a = f->open(), *b = f->open();
    CHECK(a && b);
    size_t bytes = CE_N_TEXTS * f->dim * sizeof(float);
    struct mr_err err;
    float *x = ce_embed(a, ce_texts, CE_N_TEXTS, &err),
          *y = ce_embed(a, ce_texts, CE_N_TEXTS, &err),
          *z = ce_embed(b, ce_texts, CE_N_TEXTS, &err);
    bool same_instance = x && y && memcmp(x, y, bytes) == 0,
         other_instance = x && z && memcmp(x, z, bytes) == 0;
    free(x);
    free(y);
    free(z);
    mr_embed_destroy(a);
    mr_embed_destroy(b);
    CHECK(same_instance);
    CHECK(other_instance);
}

static void ce_rows_are_unit_or_zero(const struct embed_fixture *f)
{
    struct mr_embedder *e = f->open();
    CHECK(e);
    struct mr_err err;
    float *rows = ce_embed(e, ce_texts, CE_N_TEXTS, &err);
    CHECK(rows);
    bool ok = true, zero = false, any_zero = false;
    for (size_t i = 0; i < CE_N_TEXTS; i++) {
        ok &= ce_row_ok(rows + i * f->dim, f->dim, &zero);
        any_zero |= zero;
    }
    free(rows);
    mr_embed_destroy(e);
    CHECK(ok);
    CHECK(!any_zero); /* texts of ordinary words have features for any model */
}

static void ce_batch_equals_one_by_one(const struct embed_fixture *f)
{
    /* Duplicates and an empty text inside the batch, more texts than a provider's batch. */
    static const char *const texts[] = {"first text",         "second one",    "",  "first text",
                                        "orders.customer_id", "Ünïcödé wörds", "x", "last"};
    size_t n = sizeof texts / sizeof *texts, dim = f->dim;
    /* Batch first on one instance, one by one first on another (a cache fills either way). */
    for (int order = 0; order < 2; order++) {
        struct mr_embedder *e = f->open();
        CHECK(e);
        struct mr_err err;
        float *single = malloc(n * dim * sizeof *single), *batch = NULL;
        bool ok = true;
        if (order == 0)
            batch = ce_embed(e, texts, n, &err);
        for (size_t i = 0; i < n; i++)
            ok &= mr_embed_one(e, texts[i], strlen(texts[i]), single + i * dim, &err) == 0;
        if (order == 1)
            batch = ce_embed(e, texts, n, &err);
        bool same = ok && batch && memcmp(single, batch, n * dim * sizeof *single) == 0;
        free(single);
        free(batch);
        /* Zero texts: success, and nothing written. */
        float sentinel[4] = {7, 7, 7, 7};
        int rc0 = mr_embed_batch(e, NULL, NULL, 0, sentinel, &err);
        mr_embed_destroy(e);
        CHECK(ok);
        CHECK(same);
        CHECK_INT(rc0, 0);
        CHECK(sentinel[0] == 7 && sentinel[3] == 7);
    }
}

static void ce_reads_texts_by_length(const struct embed_fixture *f)
{
    struct mr_embedder *e = f->open();
    CHECK(e);
    size_t dim = f->dim;
    float *a = malloc(dim * sizeof *a), *b = malloc(dim * sizeof *b), *c = malloc(dim * sizeof *c),
          *d = malloc(dim * sizeof *d);
    const char whole[] = "orders table holds rows EXTRA WORDS PAST THE LENGTH";
    const char prefix[] = "orders table holds rows";
    struct mr_err err;
    bool ok = mr_embed_one(e, whole, strlen(prefix), a, &err) == 0 &&
              mr_embed_one(e, prefix, strlen(prefix), b, &err) == 0 &&
              mr_embed_one(e, whole, 0, c, &err) == 0 && mr_embed_one(e, "", 0, d, &err) == 0;
    bool same_prefix = ok && memcmp(a, b, dim * sizeof *a) == 0,
         same_empty = ok && memcmp(c, d, dim * sizeof *c) == 0;
    free(a);
    free(b);
    free(c);
    free(d);
    mr_embed_destroy(e);
    CHECK(ok);
    CHECK(same_prefix);
    CHECK(same_empty);
}

static void ce_answers_awkward_texts(const struct embed_fixture *f)
{
    struct mr_embedder *e = f->open();
    CHECK(e);
    size_t dim = f->dim, long_len = 256 * 1024;
    char *long_text = malloc(long_len + 1);
    for (size_t i = 0; i < long_len; i++)
        long_text[i] = "customer orders and invoices "[i % 29];
    long_text[long_len] = '\0';
    const char *texts[] = {
        "",
        "   ,;!?  ",
        long_text,
        "Ünïcödé wörds, 中文的句子, العربية, emoji 😀 and e\xcc\x81 combining",
        "\xff\xfe invalid \xc3( UTF-8 \xed\xa0\x80",
    };
    const char *names[] = {"empty", "punctuation", "256 KiB", "non-ASCII", "invalid UTF-8"};
    float *row = malloc(dim * sizeof *row);
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
        struct mr_err err;
        mr_err_clear(&err);
        int rc = mr_embed_one(e, texts[i], strlen(texts[i]), row, &err);
        bool zero = false;
        if (rc == 0 && !ce_row_ok(row, dim, &zero))
            test_fail(__FILE__, __LINE__, "%s text: a row neither unit nor zero", names[i]);
        else if (rc != 0 && !ce_is_error(rc, &err))
            test_fail(__FILE__, __LINE__, "%s text: rc %d, err.code %d, message \"%s\"", names[i],
                      rc, err.code, err.msg);
        /* Whatever the answer, the embedder goes on working. */
        if (mr_embed_one(e, "orders", 6, row, &err) != 0)
            test_fail(__FILE__, __LINE__, "after the %s text: %s", names[i], err.msg);
    }
    free(row);
    free(long_text);
    mr_embed_destroy(e);
}

static void ce_errors_are_codes_with_messages(const struct embed_fixture *f)
{
    /* Every embedder shows at least one way it fails; none passes this vacuously. */
    CHECK(f->open_bad || f->fail_next);
    if (f->open_bad) {
        struct mr_err err;
        mr_err_clear(&err);
        struct mr_embedder *bad = f->open_bad(&err);
        mr_embed_destroy(bad);
        CHECK(bad == NULL);
        CHECK(ce_is_error(err.code, &err));
    }
    if (f->fail_next) {
        struct mr_embedder *e = f->open(), *fresh = f->open();
        CHECK(e && fresh);
        char buf[128];
        const char *text = ce_fresh_text(buf, sizeof buf);
        size_t dim = f->dim;
        float *row = malloc(dim * sizeof *row), *want = malloc(dim * sizeof *want);
        struct mr_err err;
        mr_err_clear(&err);
        f->fail_next();
        int rc = mr_embed_one(e, text, strlen(text), row, &err);
        bool failed_right = ce_is_error(rc, &err);
        /* It recovers, and what failed was not kept: the next answer is the model's own. */
        int rc2 = mr_embed_one(e, text, strlen(text), row, &err);
        int rc3 = mr_embed_one(fresh, text, strlen(text), want, &err);
        bool same = rc2 == 0 && rc3 == 0 && memcmp(row, want, dim * sizeof *row) == 0;
        int health = mr_embed_health(e, &err);
        free(row);
        free(want);
        mr_embed_destroy(e);
        mr_embed_destroy(fresh);
        CHECK(failed_right);
        CHECK_INT(rc2, 0);
        CHECK(same);
        CHECK_INT(health, 0);
    }
}

#define CE_THREADS 4
#define CE_ROUNDS 25

struct ce_worker {
    struct mr_embedder *e;
    const float *want;
    size_t dim;
    int wrong;
};

static void *ce_work(void *arg)
{
    struct ce_worker *w = arg;
    size_t bytes = CE_N_TEXTS * w->dim * sizeof(float);
    for (int r = 0; r < CE_ROUNDS; r++) {
        struct mr_err err;
        float *got = ce_embed(w->e, ce_texts, CE_N_TEXTS, &err);
        w->wrong += !got || memcmp(got, w->want, bytes) != 0;
        free(got);
    }
    return NULL;
}

static void ce_concurrent_calls(const struct embed_fixture *f)
{
    struct mr_embedder *e = f->open();
    CHECK(e);
    struct mr_err err;
    float *want = ce_embed(e, ce_texts, CE_N_TEXTS, &err);
    CHECK(want);
    struct ce_worker w[CE_THREADS];
    pthread_t th[CE_THREADS];
    for (int i = 0; i < CE_THREADS; i++) {
        w[i] = (struct ce_worker){e, want, f->dim, 0};
        pthread_create(&th[i], NULL, ce_work, &w[i]);
    }
    int wrong = 0;
    for (int i = 0; i < CE_THREADS; i++) {
        pthread_join(th[i], NULL);
        wrong += w[i].wrong;
    }
    free(want);
    mr_embed_destroy(e);
    CHECK_INT(wrong, 0);
}

#define CONTRACT_EMBED_DEFINE(p, fixture)                                                          \
    TEST(p##_name_and_dim)                                                                         \
    {                                                                                              \
        ce_name_and_dim(fixture);                                                                  \
    }                                                                                              \
    TEST(p##_deterministic)                                                                        \
    {                                                                                              \
        ce_deterministic(fixture);                                                                 \
    }                                                                                              \
    TEST(p##_rows_are_unit_or_zero)                                                                \
    {                                                                                              \
        ce_rows_are_unit_or_zero(fixture);                                                         \
    }                                                                                              \
    TEST(p##_batch_equals_one_by_one)                                                              \
    {                                                                                              \
        ce_batch_equals_one_by_one(fixture);                                                       \
    }                                                                                              \
    TEST(p##_reads_texts_by_length)                                                                \
    {                                                                                              \
        ce_reads_texts_by_length(fixture);                                                         \
    }                                                                                              \
    TEST(p##_answers_awkward_texts)                                                                \
    {                                                                                              \
        ce_answers_awkward_texts(fixture);                                                         \
    }                                                                                              \
    TEST(p##_errors_are_codes_with_messages)                                                       \
    {                                                                                              \
        ce_errors_are_codes_with_messages(fixture);                                                \
    }                                                                                              \
    TEST(p##_concurrent_calls)                                                                     \
    {                                                                                              \
        ce_concurrent_calls(fixture);                                                              \
    }

#define CONTRACT_EMBED_TESTS(p)                                                                    \
    T(p##_name_and_dim), T(p##_deterministic), T(p##_rows_are_unit_or_zero),                       \
        T(p##_batch_equals_one_by_one), T(p##_reads_texts_by_length),                              \
        T(p##_answers_awkward_texts), T(p##_errors_are_codes_with_messages),                       \
        T(p##_concurrent_calls)

#endif
