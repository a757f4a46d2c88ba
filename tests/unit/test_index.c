/* Unit tests of the in-process index: top-k against brute force, filters, removal, graphs, int8. */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>

#include "../../src/index/index_int.h"
#include "memori/config.h"
#include "memori/rules.h"
#include "test.h"

#define DIM 24

static uint64_t rng = 88172645463325252ull;
static float frand(void)
{
    return test_frand(&rng);
}

static void random_unit(float *v)
{
    test_random_unit(v, DIM, &rng);
}

static const struct mr_identity alice = {"alice", "t1"}, bob = {"bob", "t1"};

static void put(struct mr_index *ix, const struct mr_identity *who, int64_t id,
                enum mr_memory_type t, const char *conv, bool archived, int64_t expires,
                const float *v)
{
    struct mr_index_entry e = {id, who->user_id, who->tenant_id, conv, t, archived, expires,
                               v,  false};
    struct mr_err err;
    mr_index_upsert(ix, &e, &err);
}

static struct mr_index_query query(const float *q, size_t limit)
{
    return (struct mr_index_query){q, NULL, 0, false, 1000, -1.0f, limit, false};
}

TEST(test_topk_matches_brute_force)
{
    enum { N = 500, K = 10 };
    struct mr_index *ix = mr_index_new(DIM);
    static float vecs[N][DIM];
    for (int i = 0; i < N; i++) {
        random_unit(vecs[i]);
        put(ix, &alice, i + 1, MR_RULE, "c", false, MR_NO_TIME, vecs[i]);
    }
    float q[DIM];
    random_unit(q);
    struct mr_index_query iq = query(q, K);
    struct mr_index_hit hits[K];
    size_t n;
    struct mr_err err;
    CHECK(mr_index_search(ix, &alice, &iq, hits, &n, &err) == 0);
    CHECK_INT(n, K);
    /* Brute force: the K-th best score; every hit must be >= it and sorted. */
    float scores[N];
    for (int i = 0; i < N; i++)
        scores[i] = mr_index_dot(q, vecs[i], DIM);
    for (size_t k = 0; k < K; k++) {
        int better = 0;
        for (int i = 0; i < N; i++)
            better += scores[i] > hits[k].score;
        CHECK_INT(better, k);
        CHECK_NEAR(hits[k].score, scores[hits[k].id - 1], 1e-6);
    }
    mr_index_destroy(ix);
}

TEST(test_filters_apply_during_scan)
{
    struct mr_index *ix = mr_index_new(DIM);
    float v[DIM];
    random_unit(v);
    put(ix, &alice, 1, MR_RULE, "c1", false, MR_NO_TIME, v);
    put(ix, &alice, 2, MR_ENTITY, "c1", false, MR_NO_TIME, v);
    put(ix, &alice, 3, MR_SHORT_TERM, "c2", false, 500, v); /* expired at now=1000 */
    put(ix, &alice, 4, MR_SHORT_TERM, "c2", true, MR_NO_TIME, v);
    put(ix, &alice, 5, MR_SHORT_TERM, "c2", false, 5000, v);
    put(ix, &bob, 6, MR_RULE, "c9", false, MR_NO_TIME, v);
    struct mr_index_hit hits[10];
    size_t n;
    struct mr_err err;
    struct mr_index_query q = query(v, 10);
    mr_index_search(ix, &alice, &q, hits, &n, &err);
    CHECK_INT(n, 3); /* 1, 2, 5: not expired 3, not archived 4, not bob's 6 */
    q.include_archived = true;
    mr_index_search(ix, &alice, &q, hits, &n, &err);
    CHECK_INT(n, 4);
    q.type_mask = 1u << MR_ENTITY;
    mr_index_search(ix, &alice, &q, hits, &n, &err);
    CHECK_INT(n, 1);
    CHECK_INT(hits[0].id, 2);
    q.type_mask = 0;
    q.conversation_id = "c2";
    mr_index_search(ix, &alice, &q, hits, &n, &err);
    CHECK_INT(n, 2);
    q.conversation_id = NULL;
    q.limit = 2; /* limit still filled after filtering */
    q.include_archived = false;
    mr_index_search(ix, &alice, &q, hits, &n, &err);
    CHECK_INT(n, 2);
    CHECK(hits[0].id < hits[1].id); /* equal scores: lower id first */
    mr_index_destroy(ix);
}

/*
 * Expiry is the rule's (rules.h), not the index's: around the boundary an
 * entry is returned exactly when mr_rule_expired_at says it is not expired,
 * whichever way the search reaches it (exact, int8, graph).
 */
TEST(test_expiry_follows_the_rule)
{
    enum { NOW = 1000, N = 600 };
    const int64_t expiries[] = {MR_NO_TIME, NOW - 1, NOW, NOW + 1, 0, INT64_MAX};
    enum { NE = sizeof expiries / sizeof *expiries };
    static float vecs[N][DIM];
    uint64_t own_rng = 7; /* its own stream: the other tests' vectors stay as they were */
    for (int mode = 0; mode < 3; mode++) {
        struct mr_index *ix = mr_index_new(DIM);
        mr_index_set_int8(ix, mode == 1);
        if (mode == 2)
            mr_index_set_ann(ix, 100, 64);
        for (int i = 0; i < N; i++) {
            test_random_unit(vecs[i], DIM, &own_rng);
            put(ix, &alice, i + 1, MR_SHORT_TERM, "c", false, expiries[i % NE], vecs[i]);
        }
        ix_wait_builds(ix);
        size_t live = 0;
        for (int i = 0; i < N; i++)
            live += !mr_rule_expired_at(expiries[i % NE], NOW);
        struct mr_index_query q = query(vecs[0], N);
        q.now = NOW;
        struct mr_index_hit hits[N];
        size_t n;
        struct mr_err err;
        CHECK(mr_index_search(ix, &alice, &q, hits, &n, &err) == 0);
        if (mode < 2)
            CHECK_INT(n, live); /* exact scans: every live one */
        else
            CHECK(n >= live * 9 / 10); /* the graph: most of them */
        for (size_t k = 0; k < n; k++)
            CHECK(!mr_rule_expired_at(expiries[(hits[k].id - 1) % NE], NOW));
        /* Searched one by one, at the boundary itself. */
        for (int i = 0; i < NE; i++) {
            struct mr_index_query one = query(vecs[i], 1);
            one.now = NOW;
            CHECK(mr_index_search(ix, &alice, &one, hits, &n, &err) == 0);
            bool found = n == 1 && hits[0].id == i + 1;
            CHECK(found == !mr_rule_expired_at(expiries[i], NOW));
        }
        mr_index_destroy(ix);
    }
}

TEST(test_min_score_threshold)
{
    struct mr_index *ix = mr_index_new(DIM);
    float a[DIM] = {1}, b[DIM] = {0, 1}, q[DIM] = {1};
    put(ix, &alice, 1, MR_RULE, "c", false, MR_NO_TIME, a);
    put(ix, &alice, 2, MR_RULE, "c", false, MR_NO_TIME, b);
    struct mr_index_query iq = query(q, 10);
    iq.min_score = 0.5f;
    struct mr_index_hit hits[10];
    size_t n;
    struct mr_err err;
    mr_index_search(ix, &alice, &iq, hits, &n, &err);
    CHECK_INT(n, 1);
    iq.min_score = 0.0f; /* orthogonal (score 0) still counts at threshold 0 */
    mr_index_search(ix, &alice, &iq, hits, &n, &err);
    CHECK_INT(n, 2);
    mr_index_destroy(ix);
}

TEST(test_remove_and_update_are_reflected)
{
    struct mr_index *ix = mr_index_new(DIM);
    float v[DIM];
    for (int i = 1; i <= 100; i++) {
        random_unit(v);
        put(ix, &alice, i, MR_RULE, "c", false, MR_NO_TIME, v);
    }
    CHECK_INT(mr_index_count(ix), 100);
    for (int i = 1; i <= 100; i += 2)
        mr_index_remove(ix, &alice, i);
    mr_index_remove(ix, &alice, 9999);
    mr_index_remove(ix, &bob, 2); /* bob has no id 2: alice's stays */
    CHECK_INT(mr_index_count(ix), 50);
    struct mr_index_query q = query(v, 100);
    struct mr_index_hit hits[100];
    size_t n;
    struct mr_err err;
    mr_index_search(ix, &alice, &q, hits, &n, &err);
    CHECK_INT(n, 50);
    for (size_t k = 0; k < n; k++)
        CHECK(hits[k].id % 2 == 0);
    mr_index_set_archived(ix, &alice, 2, true);
    mr_index_search(ix, &alice, &q, hits, &n, &err);
    CHECK_INT(n, 49);
    /* Upsert replaces: same id, new vector, no duplicate. */
    float w[DIM];
    random_unit(w);
    put(ix, &alice, 4, MR_RULE, "c", false, MR_NO_TIME, w);
    CHECK_INT(mr_index_count(ix), 50);
    q.vec = w;
    q.limit = 1;
    mr_index_search(ix, &alice, &q, hits, &n, &err);
    CHECK_INT(hits[0].id, 4);
    CHECK_NEAR(hits[0].score, 1.0, 1e-5);
    mr_index_destroy(ix);
}

TEST(test_shared_entries_reach_the_tenant_once)
{
    struct mr_index *ix = mr_index_new(DIM);
    float v[DIM];
    random_unit(v);
    struct mr_index_entry e = {1, "alice", "t1", "c", MR_RULE, false, MR_NO_TIME, v, true};
    struct mr_err err;
    CHECK(mr_index_upsert(ix, &e, &err) == 0);
    const struct mr_identity other_tenant = {"bob", "t2"};
    struct mr_index_query q = query(v, 10);
    struct mr_index_hit hits[10];
    size_t n;
    mr_index_search(ix, &bob, &q, hits, &n, &err);
    CHECK_INT(n, 0); /* not asked for shared ones */
    q.include_shared = true;
    mr_index_search(ix, &bob, &q, hits, &n, &err);
    CHECK_INT(n, 1);
    mr_index_search(ix, &alice, &q, hits, &n, &err);
    CHECK_INT(n, 1); /* the owner's own, once */
    mr_index_search(ix, &other_tenant, &q, hits, &n, &err);
    CHECK_INT(n, 0);
    mr_index_set_archived(ix, &alice, 1, true);
    mr_index_search(ix, &bob, &q, hits, &n, &err);
    CHECK_INT(n, 0);
    mr_index_set_archived(ix, &alice, 1, false);
    e.is_shared = false;
    mr_index_upsert(ix, &e, &err);
    mr_index_search(ix, &bob, &q, hits, &n, &err);
    CHECK_INT(n, 0);
    e.is_shared = true;
    mr_index_upsert(ix, &e, &err);
    mr_index_remove(ix, &alice, 1);
    mr_index_search(ix, &bob, &q, hits, &n, &err);
    CHECK_INT(n, 0);
    CHECK_INT(mr_index_count(ix), 0);
    mr_index_destroy(ix);
}

/* Above the ANN threshold the graph answers; results must match the exact index closely. */
TEST(test_ann_partition_matches_exact)
{
    enum { NV = 3000, NQ = 100 };
    struct mr_index *ann = mr_index_new(DIM), *exact = mr_index_new(DIM);
    mr_index_set_int8(exact, false);
    mr_index_set_ann(ann, 500, 64);
    static float vecs[NV][DIM];
    for (int i = 0; i < NV; i++) {
        random_unit(vecs[i]);
        enum mr_memory_type t = (enum mr_memory_type)(i % 3 + MR_RULE);
        put(ann, &alice, i + 1, t, "c", false, MR_NO_TIME, vecs[i]);
        put(exact, &alice, i + 1, t, "c", false, MR_NO_TIME, vecs[i]);
    }
    /* The graph was built aside (searches meanwhile scan); measure the graph itself. */
    ix_wait_builds(ann);
    /* Remove a third, move another vector: both must show at once. */
    for (int i = 0; i < NV; i += 3) {
        mr_index_remove(ann, &alice, i + 1);
        mr_index_remove(exact, &alice, i + 1);
    }
    float moved[DIM];
    random_unit(moved);
    put(ann, &alice, 2, MR_ENTITY, "c", false, MR_NO_TIME, moved);
    put(exact, &alice, 2, MR_ENTITY, "c", false, MR_NO_TIME, moved);
    int found = 0, total = 0;
    struct mr_err err;
    for (int qi = 0; qi < NQ; qi++) {
        float q[DIM];
        random_unit(q);
        struct mr_index_query iq = query(q, 10);
        if (qi % 2)
            iq.type_mask = 1u << MR_ENTITY;
        struct mr_index_hit a[10], b[10];
        size_t na, nb;
        mr_index_search(ann, &alice, &iq, a, &na, &err);
        mr_index_search(exact, &alice, &iq, b, &nb, &err);
        CHECK_INT(na, nb);
        for (size_t i = 0; i < na; i++) {
            CHECK(a[i].id % 3 != 1); /* removed ids (i + 1 with i % 3 == 0) never come back */
            if (qi % 2)
                CHECK((a[i].id - 1) % 3 == 1 || a[i].id == 2); /* entities only */
            for (size_t j = 0; j < nb; j++)
                found += a[i].id == b[j].id;
        }
        total += (int)nb;
    }
    struct mr_index_query iq = query(moved, 1);
    struct mr_index_hit h;
    size_t n;
    mr_index_search(ann, &alice, &iq, &h, &n, &err);
    CHECK(n == 1 && h.id == 2);
    double recall = (double)found / total;
    fprintf(stdout, "    ANN recall@10 against exact: %.3f\n", recall);
    CHECK(recall >= 0.95);
    /*
     * Remove enough that tombstones outnumber the live: the graph is rebuilt
     * aside while the removals go on; afterwards only the survivors remain.
     */
    for (int i = 1; i < NV; i += 3) {
        if (i == 1)
            continue; /* keep the moved one */
        mr_index_remove(ann, &alice, i + 1);
        mr_index_remove(exact, &alice, i + 1);
    }
    ix_wait_builds(ann);
    for (int qi = 0; qi < 20; qi++) {
        float q[DIM];
        random_unit(q);
        struct mr_index_query rq = query(q, 10);
        struct mr_index_hit a[10], b[10];
        size_t na, nb;
        mr_index_search(ann, &alice, &rq, a, &na, &err);
        mr_index_search(exact, &alice, &rq, b, &nb, &err);
        CHECK_INT(na, nb);
        for (size_t i = 0; i < na; i++)
            CHECK((a[i].id - 1) % 3 == 2 || a[i].id == 2);
    }
    mr_index_search(ann, &alice, &iq, &h, &n, &err);
    CHECK(n == 1 && h.id == 2);
    mr_index_destroy(ann);
    mr_index_destroy(exact);
}

struct rw {
    struct mr_index *ix;
    int errors;
};

static void *reader(void *arg)
{
    struct rw *r = arg;
    float q[DIM] = {1};
    struct mr_index_hit hits[5];
    struct mr_err err;
    for (int i = 0; i < 3000; i++) {
        struct mr_index_query iq = query(q, 5);
        iq.include_shared = i % 2;
        size_t n;
        if (mr_index_search(r->ix, &alice, &iq, hits, &n, &err) != 0 || n > 5)
            r->errors++;
        for (size_t k = 1; k < n; k++)
            if (hits[k].score > hits[k - 1].score)
                r->errors++;
    }
    return NULL;
}

static void *writer(void *arg)
{
    struct rw *r = arg;
    float v[DIM];
    struct mr_err err;
    for (int i = 0; i < 3000; i++) {
        for (int j = 0; j < DIM; j++)
            v[j] = (float)((i * 31 + j) % 17) / 17.0f;
        struct mr_index_entry e = {i % 200 + 1, "alice",    "t1", "c",       MR_RULE,
                                   false,       MR_NO_TIME, v,    i % 3 == 0};
        mr_index_upsert(r->ix, &e, &err);
        if (i % 7 == 0)
            mr_index_remove(r->ix, &alice, i % 200 + 1);
        if (i % 11 == 0)
            mr_index_set_archived(r->ix, &alice, i % 200 + 1, i % 2);
    }
    return NULL;
}

/* Searches in parallel with writes (run under ThreadSanitizer by make test TSAN=1). */
TEST(test_concurrent_writer_and_readers)
{
    struct rw r = {mr_index_new(DIM), 0};
    mr_index_set_ann(r.ix, 100, 32); /* graph inserts and rebuilds under readers too */
    pthread_t w, rd[3];
    pthread_create(&w, NULL, writer, &r);
    for (int i = 0; i < 3; i++)
        pthread_create(&rd[i], NULL, reader, &r);
    pthread_join(w, NULL);
    for (int i = 0; i < 3; i++)
        pthread_join(rd[i], NULL);
    CHECK_INT(r.errors, 0);
    mr_index_destroy(r.ix);
}

/* The id map shared by partitions and graphs: removals inside probe runs lose nothing. */
TEST(test_idmap_keeps_every_id_through_removals)
{
    enum { N = 5000 };
    struct ix_idmap m = {0};
    CHECK_INT(ix_idmap_get(&m, 1), -1);
    CHECK_INT(ix_idmap_take(&m, 1), -1);
    for (int64_t i = 0; i < N; i++)
        ix_idmap_put(&m, i * 64, (uint32_t)i); /* ids of one stride: long probe runs */
    for (int64_t i = 0; i < N; i += 3)
        CHECK_INT(ix_idmap_take(&m, i * 64), i);
    ix_idmap_put(&m, 64, 7); /* replaces */
    for (int64_t i = 0; i < N; i++) {
        long want = i % 3 == 0 ? -1 : i == 1 ? 7 : i;
        CHECK_INT(ix_idmap_get(&m, i * 64), want);
    }
    CHECK_INT(m.used, N - (N + 2) / 3);
    ix_idmap_free(&m);
    CHECK_INT(ix_idmap_get(&m, 64), -1);
}

/* The heap shared by scans and graphs: the best k, best first, equal scores by lower id. */
TEST(test_heap_keeps_the_best_k_ties_by_lower_id)
{
    enum { N = 1000, K = 25 };
    struct mr_index_hit buf[K];
    struct ix_heap top = {buf, 0, K, true};
    for (int i = 0; i < N; i++) {
        int64_t id = (i * 7919) % N; /* every id once, out of order */
        ix_heap_keep(&top, K, (struct mr_index_hit){id, (float)(id / 10)});
    }
    CHECK_INT(top.n, K);
    CHECK(top.v == buf); /* a caller's buffer is never grown */
    struct ix_heap flipped = {NULL, 0, 0, true};
    for (size_t i = 0; i < top.n; i++)
        ix_heap_push(&flipped, top.v[i]);
    ix_heap_flip(&flipped); /* now best on top */
    ix_heap_sort(&top);
    /* Scores 99 (ids 990..999), 98 (980..989), then of 97 the lower ids (970..974). */
    for (int k = 0; k < K; k++) {
        int64_t want = k < 10 ? 990 + k : k < 20 ? 980 + (k - 10) : 970 + (k - 20);
        CHECK_INT(top.v[k].id, want);
        CHECK_INT(ix_heap_pop(&flipped).id, want);
    }
    CHECK_INT(flipped.n, 0);
    free(flipped.v);
}

TEST(test_dot_matches_naive_for_odd_sizes)
{
    float a[67], b[67];
    for (int d = 1; d <= 67; d++) {
        double naive = 0;
        for (int i = 0; i < d; i++) {
            a[i] = frand();
            b[i] = frand();
            naive += (double)a[i] * b[i];
        }
        CHECK_NEAR(mr_index_dot(a, b, (size_t)d), naive, 1e-5);
    }
}

TEST(test_int8_kernel_matches_scalar_exactly)
{
    static int8_t a[2100], b[2100];
    for (int i = 0; i < 2100; i++) {
        a[i] = (int8_t)(frand() * 127);
        b[i] = (int8_t)(frand() * 127);
    }
    a[5] = b[5] = -127;
    ix_dot_i8_fn dot = ix_dot_i8_kernel();
    for (size_t dim = 1; dim <= 2048; dim++) {
        size_t off = dim % 7; /* unaligned starts */
        CHECK_INT(dot(a + off, b + off, dim), ix_dot_i8_scalar(a + off, b + off, dim));
    }
    float v[DIM];
    int8_t q[DIM];
    random_unit(v);
    float scale = ix_quantize_i8(v, DIM, q);
    for (int i = 0; i < DIM; i++)
        CHECK_NEAR(q[i] * scale, v[i], scale / 2 + 1e-7);
}

TEST(test_int8_scan_rescores_in_float32)
{
    enum { N = 3000, NQ = 60 };
    struct mr_index *ix8 = mr_index_new(DIM), *exact = mr_index_new(DIM);
    mr_index_set_int8(ix8, true);
    mr_index_set_int8(exact, false);
    static float vecs[N][DIM];
    for (int i = 0; i < N; i++) {
        random_unit(vecs[i]);
        enum mr_memory_type t = i % 2 ? MR_RULE : MR_ENTITY;
        put(ix8, &alice, i + 1, t, "c", false, MR_NO_TIME, vecs[i]);
        put(exact, &alice, i + 1, t, "c", false, MR_NO_TIME, vecs[i]);
    }
    for (int i = 0; i < N; i += 5) { /* removals move the int8 copies too */
        mr_index_remove(ix8, &alice, i + 1);
        mr_index_remove(exact, &alice, i + 1);
    }
    int found = 0, total = 0;
    struct mr_err err;
    for (int qi = 0; qi < NQ; qi++) {
        float q[DIM];
        random_unit(q);
        struct mr_index_query iq = query(q, 10);
        if (qi % 2)
            iq.type_mask = 1u << MR_RULE;
        struct mr_index_hit a[10], b[10];
        size_t na, nb;
        mr_index_search(ix8, &alice, &iq, a, &na, &err);
        mr_index_search(exact, &alice, &iq, b, &nb, &err);
        CHECK_INT(na, nb);
        for (size_t i = 0; i < na; i++) {
            /* Scores are the float32 ones, not the int8 estimate. */
            CHECK_NEAR(a[i].score, mr_index_dot(q, vecs[a[i].id - 1], DIM), 1e-6);
            CHECK(a[i].id % 5 != 1);
            if (qi % 2)
                CHECK(a[i].id % 2 == 0); /* rules: odd i, even id */
            for (size_t j = 0; j < nb; j++)
                found += a[i].id == b[j].id;
        }
        total += (int)nb;
    }
    double recall = (double)found / total;
    fprintf(stdout, "    int8 scan + float32 rescoring, recall@10 against float32: %.3f\n", recall);
    CHECK(recall >= 0.95);
    mr_index_destroy(ix8);
    mr_index_destroy(exact);
}

/*
 * A search deeper than what its caller ranks (hybrid: 40 vector candidates
 * for 10 results, mr_index_query.results) rescores 4 x its results, not
 * 4 x its depth: still the depth's hits, each with its float32 score, and
 * the best `results` of them those of the float32 scan.
 */
TEST(test_int8_scan_ranks_the_results_exactly_at_a_deeper_depth)
{
    enum { N = 3000, NQ = 40, DEPTH = 40, RESULTS = 10 };
    struct mr_index *ix8 = mr_index_new(DIM), *exact = mr_index_new(DIM);
    mr_index_set_int8(ix8, true);
    mr_index_set_int8(exact, false);
    static float vecs[N][DIM];
    for (int i = 0; i < N; i++) {
        random_unit(vecs[i]);
        put(ix8, &alice, i + 1, MR_RULE, "c", false, MR_NO_TIME, vecs[i]);
        put(exact, &alice, i + 1, MR_RULE, "c", false, MR_NO_TIME, vecs[i]);
    }
    int top_found = 0, deep_found = 0;
    struct mr_err err;
    for (int qi = 0; qi < NQ; qi++) {
        float q[DIM];
        random_unit(q);
        struct mr_index_query iq = query(q, DEPTH);
        iq.results = RESULTS;
        struct mr_index_hit a[DEPTH], b[DEPTH];
        size_t na, nb;
        mr_index_search(ix8, &alice, &iq, a, &na, &err);
        mr_index_search(exact, &alice, &iq, b, &nb, &err);
        CHECK_INT(na, DEPTH);
        CHECK_INT(nb, DEPTH);
        for (size_t i = 0; i < na; i++) {
            CHECK_NEAR(a[i].score, mr_index_dot(q, vecs[a[i].id - 1], DIM), 1e-6);
            if (i > 0)
                CHECK(a[i - 1].score >= a[i].score);
            for (size_t j = 0; j < nb; j++) {
                deep_found += a[i].id == b[j].id;
                top_found += i < RESULTS && j < RESULTS && a[i].id == b[j].id;
            }
        }
    }
    double top = (double)top_found / (NQ * RESULTS), deep = (double)deep_found / (NQ * DEPTH);
    fprintf(stdout, "    int8, depth 40 for 10 results: recall@10 %.3f, recall@40 %.3f\n", top,
            deep);
    CHECK(top >= 0.95);
    CHECK(deep >= 0.80);
    mr_index_destroy(ix8);
    mr_index_destroy(exact);
}

/*
 * The compact scan is the default (MEMORI_INDEX_INT8 defaults to true, and a
 * new index scans int8 copies), and where the float32 top-k is unambiguous —
 * each query's 10 best stand well above the rest, by more than int8 can
 * blur — it returns exactly the float32 scan's entries, scores and order;
 * so it does for a vector stored more often than its candidates' depth,
 * whose equal scores rank by lower id (ids given in shuffled order, so the
 * partition's slots do not follow them).
 */
TEST(test_int8_is_the_default_and_equals_float32_where_it_must)
{
    struct mr_config cfg;
    struct mr_err err;
    char *env[] = {NULL};
    CHECK(mr_config_load(&cfg, env, NULL, &err) == 0);
    CHECK(cfg.index_int8);
    mr_config_free(&cfg);

    enum { N = 4000, NQ = 20, PLANT = 10, DUP = 100 };
    struct mr_index *def = mr_index_new(DIM), *exact = mr_index_new(DIM);
    mr_index_set_int8(exact, false);
    static float vecs[N][DIM], qs[NQ][DIM];
    uint64_t own_rng = 31;
    for (int qi = 0; qi < NQ; qi++)
        test_random_unit(qs[qi], DIM, &own_rng);
    /* Ids 1..N in a shuffled order of insertion. */
    static int64_t order[N];
    for (int i = 0; i < N; i++)
        order[i] = i + 1;
    for (int i = N - 1; i > 0; i--) {
        int j = (int)((test_frand(&own_rng) + 1) * 0.5f * (float)(i + 1)) % (i + 1);
        int64_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    for (int i = 0; i < N; i++) {
        int64_t id = order[i];
        float *v = vecs[id - 1];
        if (id <= NQ * PLANT) {
            /* Near its query (cosine > 0.98); random unit vectors are below 0.8 in d 24. */
            const float *q = qs[(id - 1) / PLANT];
            float noise[DIM], norm = 0;
            test_random_unit(noise, DIM, &own_rng);
            for (int k = 0; k < DIM; k++) {
                v[k] = q[k] + 0.1f * noise[k];
                norm += v[k] * v[k];
            }
            for (int k = 0; k < DIM; k++)
                v[k] /= sqrtf(norm);
        } else if (id <= NQ * PLANT + DUP) {
            memcpy(v, qs[NQ - 1], sizeof vecs[0]); /* DUP copies of the last query */
        } else {
            test_random_unit(v, DIM, &own_rng);
        }
        put(def, &alice, id, MR_RULE, "c", false, MR_NO_TIME, v);
        put(exact, &alice, id, MR_RULE, "c", false, MR_NO_TIME, v);
    }
    pthread_rwlock_rdlock(&ix_of(def)->lock);
    const struct ix_part *p = ix_part_find(ix_of(def), &alice, false, false);
    CHECK(p && p->q8); /* the default index keeps int8 copies and scans them */
    pthread_rwlock_unlock(&ix_of(def)->lock);
    for (int qi = 0; qi < NQ; qi++) {
        struct mr_index_query iq = query(qs[qi], PLANT);
        struct mr_index_hit a[PLANT], b[PLANT];
        size_t na, nb;
        CHECK(mr_index_search(def, &alice, &iq, a, &na, &err) == 0);
        CHECK(mr_index_search(exact, &alice, &iq, b, &nb, &err) == 0);
        CHECK_INT(na, PLANT);
        CHECK_INT(nb, PLANT);
        for (size_t i = 0; i < nb; i++) {
            CHECK_INT(a[i].id, b[i].id);
            CHECK(a[i].score == b[i].score);
        }
        if (qi == NQ - 1) /* the duplicated vector: the copies' 10 lowest ids */
            CHECK_INT(b[0].id, NQ * PLANT + 1);
    }
    mr_index_destroy(def);
    mr_index_destroy(exact);
}

/* ---- a ranked search's candidates (candidates.c) ---- */

static void put_text(struct mr_index *ix, const struct mr_identity *who, int64_t id,
                     enum mr_memory_type t, bool shared, const float *v, const char *text)
{
    struct mr_index_entry e = {id, who->user_id, who->tenant_id, "c",         t, false, MR_NO_TIME,
                               v,  shared,       text,           strlen(text)};
    struct mr_err err;
    mr_index_upsert(ix, &e, &err);
}

static const struct mr_index_candidate *find_candidate(const struct mr_index_candidate *c, size_t n,
                                                       int64_t id)
{
    for (size_t i = 0; i < n; i++)
        if (c[i].id == id)
            return &c[i];
    return NULL;
}

/*
 * The candidates are the union of each side's exact top k under the
 * filters, once each, with both scores those the sides give: the cosine of
 * the entry's vector (a graph's too) and BM25 over the partition's content.
 */
TEST(test_candidates_are_both_sides_with_exact_scores)
{
    enum { N = 400, K = 20 };
    static const char *words[] = {"orders",   "refunds", "invoice", "ledger", "customer",
                                  "shipment", "cohort",  "churn",   "margin", "region"};
    struct mr_index *ix = mr_index_new(DIM);
    struct mr_lex_index *ref = mr_lex_index_new(); /* alice's partition's content, apart */
    static float vecs[N + 1][DIM];
    char text[128];
    for (int i = 1; i <= N; i++) {
        random_unit(vecs[i]);
        snprintf(text, sizeof text, "%s %s note %d", words[i % 10], words[(i / 10) % 10], i);
        /* Every third is a rule, the rest entities: the filter below keeps the entities. */
        put_text(ix, &alice, i, i % 3 ? MR_ENTITY : MR_RULE, false, vecs[i], text);
        mr_lex_index_put(ref, i, text, strlen(text));
    }
    float q[DIM];
    random_unit(q);
    struct mr_lex_terms *terms = mr_lex_terms_new("refunds ledger", 14);
    struct mr_index_query iq = query(q, K);
    iq.min_score = -2;
    iq.terms = terms;
    iq.sides = MR_INDEX_SIDE_VECTOR | MR_INDEX_SIDE_LEXICAL;
    iq.type_mask = 1u << MR_ENTITY;
    struct mr_index_candidate c[2 * K];
    size_t n = 0;
    struct mr_err err;
    for (int pass = 0; pass < 2; pass++) {
        CHECK(mr_index_candidates(ix, &alice, &iq, c, &n, &err) == 0);
        CHECK(n >= K && n <= 2 * K);
        double max = mr_lex_index_max(ref, terms);
        for (size_t i = 0; i < n; i++) {
            CHECK(c[i].id >= 1 && c[i].id <= N && c[i].id % 3 != 0);
            CHECK(find_candidate(c, i, c[i].id) == NULL); /* once each */
            CHECK_NEAR(c[i].cosine, mr_index_dot(q, vecs[c[i].id], DIM), 1e-6);
            CHECK_NEAR(c[i].lexical, mr_lex_normalise(mr_lex_index_score(ref, terms, c[i].id), max),
                       1e-12);
        }
        /* Each side's exact top K among the entities is there. */
        int better_missing = 0;
        struct mr_index_hit vec_top[K];
        size_t nv = 0;
        struct mr_index_query vq = iq;
        CHECK(mr_index_search(ix, &alice, &vq, vec_top, &nv, &err) == 0);
        for (size_t i = 0; i < nv; i++)
            better_missing += find_candidate(c, n, vec_top[i].id) == NULL;
        CHECK_INT(better_missing, 0);
        struct mr_lex_hit lex_top[K];
        size_t nl = 0;
        /* The reference's top K among entities: search it all, keep the entities. */
        struct mr_lex_hit all[N];
        size_t na = mr_lex_index_search(ref, terms, NULL, NULL, N, all, NULL);
        for (size_t i = 0; i < na && nl < K; i++)
            if (all[i].id % 3 != 0)
                lex_top[nl++] = all[i];
        CHECK(nl == K);
        for (size_t i = 0; i < nl; i++)
            CHECK(find_candidate(c, n, lex_top[i].id) != NULL);
        /* The second pass reads the vectors from a graph. */
        mr_index_set_ann(ix, 100, 0);
        ix_wait_builds(ix);
    }
    /* One side only. */
    iq.sides = MR_INDEX_SIDE_LEXICAL;
    CHECK(mr_index_candidates(ix, &alice, &iq, c, &n, &err) == 0);
    CHECK_INT(n, K);
    iq.sides = MR_INDEX_SIDE_VECTOR;
    iq.terms = NULL;
    CHECK(mr_index_candidates(ix, &alice, &iq, c, &n, &err) == 0);
    CHECK_INT(n, K);
    for (size_t i = 0; i < n; i++)
        CHECK_NEAR(c[i].lexical, 0, 0);
    mr_lex_terms_free(terms);
    mr_lex_index_destroy(ref);
    mr_index_destroy(ix);
}

/*
 * Each side takes its own depth (q->limit for the vector side, q->lex_limit
 * for the lexical one): hybrid's k' differ per side (mr_fusion_depth_*).
 */
TEST(test_candidates_take_each_sides_own_depth)
{
    enum { N = 300, KV = 5, KL = 15 };
    static const char *words[] = {"orders", "refunds", "invoice", "ledger", "customer"};
    struct mr_index *ix = mr_index_new(DIM);
    struct mr_lex_index *ref = mr_lex_index_new();
    static float vecs[N + 1][DIM];
    char text[128];
    for (int i = 1; i <= N; i++) {
        random_unit(vecs[i]);
        snprintf(text, sizeof text, "%s %s note %d", words[i % 5], words[(i / 5) % 5], i);
        put_text(ix, &alice, i, MR_ENTITY, false, vecs[i], text);
        mr_lex_index_put(ref, i, text, strlen(text));
    }
    float q[DIM];
    random_unit(q);
    struct mr_lex_terms *terms = mr_lex_terms_new("refunds ledger", 14);
    struct mr_index_query iq = query(q, KV);
    iq.min_score = -2;
    iq.terms = terms;
    iq.lex_limit = KL;
    iq.sides = MR_INDEX_SIDE_VECTOR | MR_INDEX_SIDE_LEXICAL;
    struct mr_index_candidate c[KV + KL];
    size_t n = 0;
    struct mr_err err;
    CHECK(mr_index_candidates(ix, &alice, &iq, c, &n, &err) == 0);
    CHECK(n >= KL && n <= KV + KL);
    struct mr_index_hit vec_top[KV];
    size_t nv = 0;
    CHECK(mr_index_search(ix, &alice, &iq, vec_top, &nv, &err) == 0);
    CHECK_INT(nv, KV);
    for (size_t i = 0; i < nv; i++)
        CHECK(find_candidate(c, n, vec_top[i].id) != NULL);
    struct mr_lex_hit lex_top[KL + 1];
    size_t nl = mr_lex_index_search(ref, terms, NULL, NULL, KL + 1, lex_top, NULL);
    CHECK_INT(nl, KL + 1);
    for (size_t i = 0; i < KL; i++)
        CHECK(find_candidate(c, n, lex_top[i].id) != NULL);
    /* The lexical side stops at its depth: candidates beyond it come only from the vector side. */
    size_t lexical_only = 0;
    for (size_t i = 0; i < n; i++) {
        bool in_vec = false;
        for (size_t k = 0; k < nv; k++)
            in_vec = in_vec || vec_top[k].id == c[i].id;
        lexical_only += !in_vec;
    }
    CHECK(lexical_only <= KL);
    iq.sides = MR_INDEX_SIDE_LEXICAL;
    CHECK(mr_index_candidates(ix, &alice, &iq, c, &n, &err) == 0);
    CHECK_INT(n, KL);
    iq.sides = MR_INDEX_SIDE_VECTOR;
    CHECK(mr_index_candidates(ix, &alice, &iq, c, &n, &err) == 0);
    CHECK_INT(n, KV);
    mr_lex_terms_free(terms);
    mr_lex_index_destroy(ref);
    mr_index_destroy(ix);
}

/*
 * A shared memory of another user is scored with the searcher's own
 * partition's statistics (one normaliser per query); a removal or a new
 * text takes effect at once.
 */
TEST(test_candidates_score_shared_memories_with_the_callers_statistics)
{
    struct mr_index *ix = mr_index_new(DIM);
    struct mr_lex_index *own = mr_lex_index_new(), *bobs = mr_lex_index_new();
    float v[DIM];
    random_unit(v);
    const char *mine[] = {"refunds are booked monthly", "refunds need a ticket",
                          "orders ship daily"};
    for (int i = 0; i < 3; i++) {
        put_text(ix, &alice, i + 1, MR_RULE, false, v, mine[i]);
        mr_lex_index_put(own, i + 1, mine[i], strlen(mine[i]));
    }
    const char *shared = "refunds above a limit need approval";
    put_text(ix, &bob, 10, MR_RULE, true, v, shared);
    mr_lex_index_put(bobs, 10, shared, strlen(shared));
    struct mr_lex_terms *terms = mr_lex_terms_new("refunds approval", 16);
    struct mr_index_query iq = query(v, 10);
    iq.min_score = -2;
    iq.terms = terms;
    iq.sides = MR_INDEX_SIDE_LEXICAL;
    iq.include_shared = true;
    struct mr_index_candidate c[20];
    size_t n = 0;
    struct mr_err err;
    CHECK(mr_index_candidates(ix, &alice, &iq, c, &n, &err) == 0);
    CHECK_INT(n, 3);
    const struct mr_index_candidate *b = find_candidate(c, n, 10);
    CHECK(b != NULL);
    double bm25;
    mr_lex_index_score_with(bobs, own, terms, &b->id, 1, &bm25);
    CHECK_NEAR(b->lexical, mr_lex_normalise(bm25, mr_lex_index_max(own, terms)), 1e-12);
    /* Not bob's own statistics (a partition of one document scores differently). */
    CHECK(fabs(b->lexical - mr_lex_normalise(mr_lex_index_score(bobs, terms, 10),
                                             mr_lex_index_max(bobs, terms))) > 1e-6);
    /* Removal and replacement are seen by the next search. */
    mr_index_remove(ix, &alice, 1);
    put_text(ix, &alice, 2, MR_RULE, false, v, "orders need a ticket");
    CHECK(mr_index_candidates(ix, &alice, &iq, c, &n, &err) == 0);
    CHECK_INT(n, 1);
    CHECK_INT(c[0].id, 10);
    mr_lex_terms_free(terms);
    mr_lex_index_destroy(own);
    mr_lex_index_destroy(bobs);
    mr_index_destroy(ix);
}

static void put_turn(struct mr_index *ix, int64_t id, enum mr_memory_type t, const char *conv,
                     bool archived, const float *v, const char *text)
{
    struct mr_index_entry e = {id,         "alice", "t1",  conv, t,           archived,
                               MR_NO_TIME, v,       false, text, strlen(text)};
    struct mr_err err;
    mr_index_upsert(ix, &e, &err);
}

/*
 * Neighbour context (mr_index_query.neighbour_context): a turn's lexical
 * score is mr_lex_context of its own and its conversation's two previous
 * and two next turns' (id order, turns only, whatever their archive
 * state); a turn
 * that holds no query word between turns that do is a candidate; a rule's
 * score is its own; a deleted turn stops lending at once, a re-typed one
 * too, a moved one lends in its new conversation; without the flag (dedup,
 * context) nothing changes.
 */
TEST(test_candidates_mix_in_the_neighbouring_turns)
{
    struct mr_index *ix = mr_index_new(DIM);
    struct mr_lex_index *ref = mr_lex_index_new(); /* the same contents, apart */
    static float v[16][DIM];
    static const char *const text[16] = {
        NULL,
        "we talked about the weather",                 /* 1: c1 turn */
        "the refund ledger for march is closed",       /* 2: c1 turn, holds the words */
        "a rule about refund ledger rows",             /* 3: c1 rule, holds the words */
        "the number was forty two",                    /* 4: c1 turn, answer without the words */
        "refund ledger totals are reconciled nightly", /* 5: c1 turn (archived), holds them */
        "lunch plans",                                 /* 6: c1 turn */
        "refund ledger in another conversation",       /* 7: c2 turn */
        "unrelated words entirely",                    /* 8: c2 turn */
    };
    static const enum mr_memory_type type[16] = {0,
                                                 MR_SHORT_TERM,
                                                 MR_LONG_TERM,
                                                 MR_RULE,
                                                 MR_SHORT_TERM,
                                                 MR_LONG_TERM,
                                                 MR_LONG_TERM,
                                                 MR_SHORT_TERM,
                                                 MR_LONG_TERM};
    for (int i = 1; i <= 8; i++) {
        random_unit(v[i]);
        put_turn(ix, i, type[i], i <= 6 ? "c1" : "c2", i == 5, v[i], text[i]);
        mr_lex_index_put(ref, i, text[i], strlen(text[i]));
    }
    float q[DIM];
    random_unit(q);
    struct mr_lex_terms *terms = mr_lex_terms_new("refund ledger", 13);
    struct mr_index_query iq = query(q, 10);
    iq.min_score = -2;
    iq.terms = terms;
    iq.sides = MR_INDEX_SIDE_LEXICAL;
    iq.neighbour_context = true;
    struct mr_index_candidate c[40];
    size_t n = 0;
    struct mr_err err;
    double max = mr_lex_index_max(ref, terms);
#define OWN(id) mr_lex_normalise(mr_lex_index_score(ref, terms, (id)), max)
    CHECK(mr_index_candidates(ix, &alice, &iq, c, &n, &err) == 0);
    /*
     * Turn 4 holds no query word; its neighbours 2 and 5 (archived: still
     * lends) do; 1 and 6, two away, lend what they hold (nothing).
     */
    const struct mr_index_candidate *four = find_candidate(c, n, 4);
    CHECK(four != NULL);
    CHECK(four && four->lexical > 0);
    CHECK(four && four->lexical == mr_lex_context(0, OWN(2), OWN(5), OWN(1), OWN(6)));
    /*
     * Turn 2's neighbours are 1 and 4 (the rule between 2 and 4 is no turn),
     * and 5 two turns on: its words lend 2 a quarter of their score.
     */
    const struct mr_index_candidate *two = find_candidate(c, n, 2);
    CHECK(two && two->lexical == mr_lex_context(OWN(2), OWN(1), OWN(4), 0, OWN(5)));
    CHECK(two && two->lexical > OWN(2));
    CHECK(two && two->lexical == mr_lex_context(OWN(2), 0, 0, 0, OWN(5))); /* 1, 4: no word */
    /* The rule: its own score, to the bit. */
    const struct mr_index_candidate *rule = find_candidate(c, n, 3);
    CHECK(rule && rule->lexical == OWN(3));
    /* The archived turn is no result (the filter), and 7 has no neighbour with the words. */
    CHECK(find_candidate(c, n, 5) == NULL);
    const struct mr_index_candidate *seven = find_candidate(c, n, 7);
    CHECK(seven && seven->lexical == OWN(7));
    CHECK(seven && seven->lexical == mr_lex_context(OWN(7), 0, OWN(8), 0, 0));
    /* 8 sits next to 7 in c2: a candidate, lent 7's words. */
    const struct mr_index_candidate *eight = find_candidate(c, n, 8);
    CHECK(eight && eight->lexical == mr_lex_context(0, OWN(7), 0, 0, 0));

    /* Without the flag, nothing moves: 4 and 8 are no candidates. */
    iq.neighbour_context = false;
    CHECK(mr_index_candidates(ix, &alice, &iq, c, &n, &err) == 0);
    CHECK(find_candidate(c, n, 4) == NULL);
    CHECK(find_candidate(c, n, 8) == NULL);
    iq.neighbour_context = true;

    /*
     * Deleting 5 makes 6 the next turn of 4 (and none the second): the boost
     * from 5 is gone at once, from 4 and from 2 two turns before it.
     */
    mr_index_remove(ix, &alice, 5);
    mr_lex_index_remove(ref, 5);
    max = mr_lex_index_max(ref, terms);
    CHECK(mr_index_candidates(ix, &alice, &iq, c, &n, &err) == 0);
    four = find_candidate(c, n, 4);
    CHECK(four && four->lexical == mr_lex_context(0, OWN(2), OWN(6), OWN(1), 0));
    two = find_candidate(c, n, 2);
    CHECK(two && two->lexical == mr_lex_context(OWN(2), OWN(1), OWN(4), 0, OWN(6)));
    CHECK(two && two->lexical == OWN(2));
    /* 2 re-typed as a rule: no longer a turn, no longer 4's neighbour (1 is). */
    put_turn(ix, 2, MR_RULE, "c1", false, v[2], text[2]);
    CHECK(mr_index_candidates(ix, &alice, &iq, c, &n, &err) == 0);
    CHECK(find_candidate(c, n, 4) == NULL); /* 4's neighbours 1 and 6 hold no word */
    two = find_candidate(c, n, 2);
    CHECK(two && two->lexical == OWN(2));
    /* 7 moved into c1: it follows 6 there, and 8 (alone in c2 now) is no one's neighbour. */
    put_turn(ix, 7, MR_SHORT_TERM, "c1", false, v[7], text[7]);
    CHECK(mr_index_candidates(ix, &alice, &iq, c, &n, &err) == 0);
    const struct mr_index_candidate *six = find_candidate(c, n, 6);
    CHECK(six && six->lexical == mr_lex_context(OWN(6), OWN(4), OWN(7), OWN(1), 0));
    CHECK(find_candidate(c, n, 8) == NULL);
    /* An access-only re-put keeps the turn in place. */
    put_turn(ix, 7, MR_LONG_TERM, "c1", false, v[7], text[7]);
    CHECK(mr_index_candidates(ix, &alice, &iq, c, &n, &err) == 0);
    six = find_candidate(c, n, 6);
    CHECK(six && six->lexical == mr_lex_context(OWN(6), OWN(4), OWN(7), OWN(1), 0));
#undef OWN
    mr_lex_terms_free(terms);
    mr_lex_index_destroy(ref);
    mr_index_destroy(ix);
}

/*
 * The semantic side's neighbour context (mr_index_cosine_context): with
 * cosine_context, a candidate turn's cosine is half its own, half the mean
 * of the own cosines of the two turns before and after it that exist — also
 * of turns that are no candidate, and of one the filters drop (archived);
 * a standalone memory keeps its own bits; without the flag every cosine is
 * its own.
 */
/* mr_index_cosine_context of own and the window's turns that exist, in the index's order. */
#define COSCTX(own, ...)                                                                           \
    mr_index_cosine_context((own), (const float[]){__VA_ARGS__},                                   \
                            sizeof((const float[]){__VA_ARGS__}) / sizeof(float))

TEST(test_candidates_mix_in_the_neighbouring_turns_cosines)
{
    struct mr_index *ix = mr_index_new(DIM);
    static float v[8][DIM];
    static const char *const text[8] = {
        NULL,
        "we talked about the weather",           /* 1: c1 turn */
        "the refund ledger for march is closed", /* 2: c1 turn, holds the words */
        "the number was forty two",              /* 3: c1 turn, archived */
        "a rule about refund ledger rows",       /* 4: a rule (no turn) */
        "nothing of the kind",                   /* 5: c1 turn, after the rule */
    };
    float q[DIM];
    random_unit(q);
    for (int i = 1; i <= 5; i++) {
        random_unit(v[i]);
        if (i == 1) /* 1 means what the query means: it lends 2 a cosine of 1 */
            memcpy(v[i], q, sizeof q);
        if (i == 2) { /* 2 is close to it (cosine about 0.7): it lends 5, two turns on */
            float norm = 0;
            for (int d = 0; d < DIM; d++) {
                v[i][d] += q[d];
                norm += v[i][d] * v[i][d];
            }
            for (int d = 0; d < DIM; d++)
                v[i][d] /= sqrtf(norm);
        }
        if (i == 4)
            put_turn(ix, i, MR_RULE, "c1", false, v[i], text[i]);
        else
            put_turn(ix, i, MR_SHORT_TERM, "c1", i == 3, v[i], text[i]);
    }
    float own[8];
    for (int i = 1; i <= 5; i++)
        own[i] = mr_index_dot(q, v[i], DIM);
    struct mr_lex_terms *terms = mr_lex_terms_new("refund ledger", 13);
    struct mr_index_query iq = query(q, 10);
    iq.min_score = -2;
    iq.terms = terms;
    iq.sides = MR_INDEX_SIDE_LEXICAL | MR_INDEX_SIDE_VECTOR;
    iq.neighbour_context = true;
    struct mr_index_candidate c[40];
    size_t n = 0;
    struct mr_err err;
    CHECK(mr_index_candidates(ix, &alice, &iq, c, &n, &err) == 0);
    const struct mr_index_candidate *two = find_candidate(c, n, 2);
    CHECK(two && two->cosine == own[2]); /* the flag off: its own */
    iq.cosine_context = true;
    CHECK(mr_index_candidates(ix, &alice, &iq, c, &n, &err) == 0);
    /*
     * 2 sits between 1 and the archived 3 (no result, still lends its
     * meaning), and 5 is two turns on (past the rule).
     */
    two = find_candidate(c, n, 2);
    CHECK(two && two->cosine == COSCTX(own[2], own[1], own[3], own[5]));
    CHECK(two && two->cosine >= 0.5f && two->cosine != own[2]);
    CHECK(find_candidate(c, n, 3) == NULL);
    const struct mr_index_candidate *one = find_candidate(c, n, 1);
    /* 1's window: 2 next, and the archived 3 two turns on. */
    CHECK(one && one->cosine == COSCTX(own[1], own[2], own[3]));
    /* 5's: the archived 3 before it, and 2 two turns back (past the rule, no turn). */
    const struct mr_index_candidate *five = find_candidate(c, n, 5);
    CHECK(own[2] > 0.5f);
    CHECK(five && five->cosine == COSCTX(own[5], own[3], own[2]));
    CHECK(five && five->cosine != COSCTX(own[5], own[3]));
    const struct mr_index_candidate *rule = find_candidate(c, n, 4);
    CHECK(rule && rule->cosine == own[4]);
    /*
     * The same windows, to the bit, once the vectors are the graph's only
     * (the context step then reads each by its id, ix_part_vecs).
     */
    mr_index_set_ann(ix, 4, 0);
    ix_wait_builds(ix);
    const struct ix_part *part = ix_part_find(ix_of(ix), &alice, false, false);
    CHECK(part && part->graph && !part->vecs);
    struct mr_index_candidate g[40];
    size_t ng = 0;
    CHECK(mr_index_candidates(ix, &alice, &iq, g, &ng, &err) == 0);
    CHECK_INT(ng, n);
    for (size_t i = 0; i < n; i++) {
        const struct mr_index_candidate *gi = find_candidate(g, ng, c[i].id);
        CHECK(gi && gi->cosine == c[i].cosine && gi->lexical == c[i].lexical);
    }
    mr_lex_terms_free(terms);
    mr_index_destroy(ix);
}

/*
 * The form: half own, half the mean of the window's turns that exist (each
 * clamped to [0, 1]); own exactly with none; a run of turns at one cosine
 * keeps it (no lift above a standalone memory at the same cosine); in
 * [0, 1] and monotone in every input.
 */
TEST(test_cosine_context_bounds_and_monotone)
{
    CHECK(mr_index_cosine_context(0.25f, NULL, 0) == 0.25f); /* none: own, to the bit */
    CHECK(mr_index_cosine_context(-0.5f, NULL, 0) == -0.5f);
    CHECK(COSCTX(0.6f, 0.6f, 0.6f, 0.6f, 0.6f) == 0.6f); /* a uniform run stays */
    CHECK(COSCTX(0.1f, 0.1f, 0.1f) == 0.1f);
    CHECK(COSCTX(1, 1, 1, 1, 1) == 1);
    CHECK(COSCTX(0, 1) == 0.5f);
    CHECK(COSCTX(0, 1, 0) == 0.25f);
    CHECK(COSCTX(0, 1, 0, 0, 0) == 0.125f);  /* the second turns count as the first */
    CHECK(COSCTX(0.8f, 0.2f, 0.2f) == 0.5f); /* a turn in a less related stretch is lowered */
    CHECK(COSCTX(0.5f, -1, -1) == 0.25f);    /* negatives lend 0 */
    CHECK(COSCTX(-1, 0.5f) == 0.25f);
    CHECK(COSCTX(2, 2) == 1);
    float prev = 0, prev2 = 0, prev3 = 0;
    for (int i = 0; i <= 20; i++) {
        float x = COSCTX(0.3f, i / 20.0f, 0.1f);
        float y = COSCTX(0.3f, 0.1f, 0.1f, i / 20.0f, 0.05f);
        float z = COSCTX(i / 20.0f, 0.1f, 0.7f, 0.2f);
        CHECK(x >= 0 && x <= 1 && x >= prev);
        CHECK(y >= 0 && y <= 1 && y >= prev2);
        CHECK(z >= 0 && z <= 1 && z >= prev3);
        prev = x;
        prev2 = y;
        prev3 = z;
    }
}

TEST_MAIN("index", T(test_topk_matches_brute_force), T(test_filters_apply_during_scan),
          T(test_expiry_follows_the_rule), T(test_min_score_threshold),
          T(test_remove_and_update_are_reflected), T(test_shared_entries_reach_the_tenant_once),
          T(test_ann_partition_matches_exact), T(test_concurrent_writer_and_readers),
          T(test_idmap_keeps_every_id_through_removals),
          T(test_heap_keeps_the_best_k_ties_by_lower_id), T(test_dot_matches_naive_for_odd_sizes),
          T(test_int8_kernel_matches_scalar_exactly), T(test_int8_scan_rescores_in_float32),
          T(test_int8_scan_ranks_the_results_exactly_at_a_deeper_depth),
          T(test_int8_is_the_default_and_equals_float32_where_it_must),
          T(test_candidates_are_both_sides_with_exact_scores),
          T(test_candidates_score_shared_memories_with_the_callers_statistics),
          T(test_candidates_take_each_sides_own_depth),
          T(test_candidates_mix_in_the_neighbouring_turns),
          T(test_candidates_mix_in_the_neighbouring_turns_cosines),
          T(test_cosine_context_bounds_and_monotone))
