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

static bool not_third(void *arg, int64_t id)
{
    (void)arg;
    return id % 3 != 0;
}

struct batch_calls {
    size_t calls, max_n, k;
};

static void not_third_batch(void *arg, const int64_t *ids, size_t n, bool *ok)
{
    struct batch_calls *b = arg;
    b->calls++;
    b->max_n = n > b->max_n ? n : b->max_n;
    for (size_t i = 0; i < n; i++)
        ok[i] = not_third(NULL, ids[i]);
}

TEST(test_hnsw_batch_filter_returns_what_the_filter_by_id_does)
{
    /*
     * hnsw_search_batch asks the filter of each round's popped nodes at
     * once: the same hits in the same order as asking id by id, with
     * tombstones and a filter that drops a third, at depths up to past ef
     * (the beam widens); a round never holds more nodes than results are
     * still wanted.
     */
    struct hnsw *h = hnsw_new(DIM, 16, 100, 3);
    make_data();
    for (int i = 0; i < 4000; i++)
        hnsw_add(h, i, data + (size_t)i * DIM);
    for (int i = 0; i < 4000; i += 5)
        hnsw_delete(h, i);
    static const size_t ks[] = {1, 10, 40, 100};
    struct mr_index_hit want[100], got[100];
    size_t rounds_with_drops = 0;
    for (int qi = 0; qi < 50; qi++) {
        const float *q = data + (size_t)(N + qi) * DIM;
        for (size_t ki = 0; ki < 4; ki++) {
            size_t k = ks[ki], ef = qi % 2 ? 32 : 128;
            size_t nw = hnsw_search(h, q, k, ef, not_third, NULL, want);
            struct batch_calls b = {0, 0, k};
            size_t ng = hnsw_search_batch(h, q, k, ef, not_third_batch, &b, got);
            CHECK_INT(ng, nw);
            CHECK_INT(ng, k);
            for (size_t i = 0; i < ng && i < nw; i++) {
                CHECK_INT(got[i].id, want[i].id);
                CHECK(got[i].score == want[i].score);
            }
            CHECK(b.max_n <= k);
            rounds_with_drops += b.calls > 1;
        }
    }
    CHECK(rounds_with_drops > 0); /* the filter dropped some: later rounds were asked */
    hnsw_free(h);
}

int main(int argc, char **argv)
{
    static const struct test_case cases[] = {
        T(test_hnsw_recall_at_10_above_0_95),
        T(test_hnsw_filtered_search_fills_k_with_accepted_only),
        T(test_hnsw_deleted_are_never_returned),
        T(test_hnsw_batch_filter_returns_what_the_filter_by_id_does)};
    int rc = test_run("hnsw", cases, sizeof cases / sizeof cases[0], argc, argv);
    hnsw_free(built);
    free(data);
    return rc;
}
