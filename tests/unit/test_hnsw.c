/* HNSW: recall@10 against the exact scan on seeded clustered data; deletes; filters. */
#include <math.h>
#include <stdlib.h>

#include "../../src/index/index_int.h"
#include "test.h"

#define DIM 48
#define N 20000
#define Q 200

static uint64_t rng = 7;
static float frand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((rng >> 11) * (1.0 / 9007199254740992.0)) * 2 - 1;
}

static float *data;

static void make_data(void)
{
    if (data)
        return;
    float centres[32][DIM];
    for (int c = 0; c < 32; c++)
        for (int j = 0; j < DIM; j++)
            centres[c][j] = frand();
    data = malloc((size_t)(N + Q) * DIM * sizeof *data);
    for (int i = 0; i < N + Q; i++) {
        double n = 0;
        for (int j = 0; j < DIM; j++) {
            data[i * DIM + j] = centres[i % 32][j] + 0.5f * frand();
            n += (double)data[i * DIM + j] * data[i * DIM + j];
        }
        for (int j = 0; j < DIM; j++)
            data[i * DIM + j] = (float)(data[i * DIM + j] / sqrt(n));
    }
}

/* Exact top-10 ids of query q among accepted ids (filter: NULL or even only). */
static void exact(const float *q, bool even_only, int64_t out[10])
{
    float best[10];
    for (int k = 0; k < 10; k++)
        best[k] = -9, out[k] = -1;
    for (int i = 0; i < N; i++) {
        if (even_only && i % 2)
            continue;
        float s = mr_index_dot(q, data + (size_t)i * DIM, DIM);
        if (s <= best[9])
            continue;
        int k = 9;
        while (k > 0 && best[k - 1] < s) {
            best[k] = best[k - 1];
            out[k] = out[k - 1];
            k--;
        }
        best[k] = s;
        out[k] = i;
    }
}

static bool even(void *arg, int64_t id)
{
    (void)arg;
    return id % 2 == 0;
}

static double recall(struct hnsw *h, size_t ef, bool even_only)
{
    int hits = 0;
    for (int qi = 0; qi < Q; qi++) {
        const float *q = data + (size_t)(N + qi) * DIM;
        int64_t want[10];
        exact(q, even_only, want);
        struct mr_index_hit got[10];
        size_t n = hnsw_search(h, q, 10, ef, even_only ? even : NULL, NULL, got);
        for (size_t a = 0; a < n; a++)
            for (int b = 0; b < 10; b++)
                hits += got[a].id == want[b];
    }
    return hits / (double)(Q * 10);
}

static struct hnsw *built;

static struct hnsw *build(void)
{
    make_data();
    if (!built) {
        built = hnsw_new(DIM, 16, 100, 42);
        for (int i = 0; i < N; i++)
            hnsw_add(built, i, data + (size_t)i * DIM);
    }
    return built;
}

TEST(test_hnsw_recall_at_10_above_0_95)
{
    struct hnsw *h = build();
    CHECK_INT(hnsw_count(h), N);
    double r = recall(h, 64, false);
    fprintf(stdout, "    recall@10 = %.3f at ef 64 (%d vectors, d %d)\n", r, N, DIM);
    CHECK(r >= 0.95);
}

TEST(test_hnsw_filtered_search_fills_k_with_accepted_only)
{
    struct hnsw *h = build();
    struct mr_index_hit got[10];
    size_t n = hnsw_search(h, data + (size_t)N * DIM, 10, 32, even, NULL, got);
    CHECK_INT(n, 10);
    for (size_t i = 0; i < n; i++)
        CHECK(got[i].id % 2 == 0);
    double r = recall(h, 64, true);
    fprintf(stdout, "    filtered recall@10 = %.3f\n", r);
    CHECK(r >= 0.95);
}

TEST(test_hnsw_deleted_are_never_returned)
{
    struct hnsw *h = hnsw_new(DIM, 16, 100, 1);
    make_data();
    for (int i = 0; i < 2000; i++)
        hnsw_add(h, i, data + (size_t)i * DIM);
    struct mr_index_hit got[10];
    const float *q = data; /* node 0 itself */
    size_t n = hnsw_search(h, q, 10, 50, NULL, NULL, got);
    CHECK(n == 10 && got[0].id == 0);
    for (size_t i = 0; i < n; i++)
        hnsw_delete(h, got[i].id);
    CHECK_INT(hnsw_count(h), 1990);
    int64_t gone[10];
    for (size_t i = 0; i < 10; i++)
        gone[i] = got[i].id;
    n = hnsw_search(h, q, 10, 50, NULL, NULL, got);
    CHECK_INT(n, 10);
    for (size_t i = 0; i < n; i++)
        for (int j = 0; j < 10; j++)
            CHECK(got[i].id != gone[j]);
    for (size_t i = 1; i < n; i++)
        CHECK(got[i].score <= got[i - 1].score);
    hnsw_free(h);
}

int main(int argc, char **argv)
{
    static const struct test_case cases[] = {
        T(test_hnsw_recall_at_10_above_0_95),
        T(test_hnsw_filtered_search_fills_k_with_accepted_only),
        T(test_hnsw_deleted_are_never_returned)};
    int rc = test_run("hnsw", cases, sizeof cases / sizeof cases[0], argc, argv);
    hnsw_free(built);
    free(data);
    return rc;
}
