/*
 * Unit tests of index snapshots: a graph saved and read back answers as it
 * did; a stale snapshot is reconciled with the entries (added, removed,
 * moved vectors); a damaged, truncated or foreign file is refused whole and
 * never crashes the reader (every byte of a small file flipped in turn).
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "../../src/index/index_int.h"
#include "test.h"

#define DIM 16
#define NV 1200
#define THRESHOLD 400

static uint64_t rng = 0x2545f4914f6cdd1dull;
static void random_unit(float *v)
{
    test_random_unit(v, DIM, &rng);
}

static const struct mr_identity alice = {"alice", "t1"}, bob = {"bob", "t1"};
static float vecs[NV][DIM];

static void put(struct mr_index *ix, const struct mr_identity *who, int64_t id, const float *v)
{
    struct mr_index_entry e = {id, who->user_id, who->tenant_id, "c", MR_RULE, false, MR_NO_TIME,
                               v,  false};
    struct mr_err err;
    mr_index_upsert(ix, &e, &err);
}

/* An index as `memori serve` loads one: entries first (no graphs), then the threshold. */
static struct mr_index *load_with(int n_alice, size_t threshold, const char *snap, size_t *seeded,
                                  int *rc)
{
    struct mr_index *ix = mr_index_new(DIM);
    for (int i = 0; i < n_alice; i++)
        put(ix, &alice, i + 1, vecs[i]);
    for (int i = 0; i < 50; i++)
        put(ix, &bob, 100000 + i, vecs[i]); /* too few for a graph */
    struct mr_err err;
    *seeded = 0;
    *rc = snap ? mr_index_snapshot_load(ix, snap, "test-model", DIM, seeded, &err) : 0;
    mr_index_set_ann(ix, threshold, 64);
    ix_wait_builds(ix);
    return ix;
}

static struct mr_index *load(int n_alice, const char *snap, size_t *seeded, int *rc)
{
    return load_with(n_alice, THRESHOLD, snap, seeded, rc);
}

static size_t search(struct mr_index *ix, const float *q, struct mr_index_hit *hits, size_t k)
{
    struct mr_index_query iq = {q, NULL, 0, false, 1000, -1.0f, k, false};
    size_t n = 0;
    struct mr_err err;
    mr_index_search(ix, &alice, &iq, hits, &n, &err);
    return n;
}

static char path[64];

static void make_vectors(void)
{
    for (int i = 0; i < NV; i++)
        random_unit(vecs[i]);
    snprintf(path, sizeof path, "/tmp/memori-snap-%d.hnsw", (int)getpid());
}

TEST(test_saved_graph_answers_as_before)
{
    make_vectors();
    size_t seeded, graphs;
    int rc;
    struct mr_index *a = load(NV, NULL, &seeded, &rc);
    struct mr_err err;
    CHECK_INT(mr_index_snapshot_save(a, path, "test-model", DIM, &graphs, &err), 0);
    CHECK_INT(graphs, 1); /* alice's; bob is under the threshold */
    struct mr_index *b = load(NV, path, &seeded, &rc);
    CHECK_INT(rc, 0);
    CHECK_INT(seeded, 1);
    for (int qi = 0; qi < 50; qi++) {
        float q[DIM];
        random_unit(q);
        struct mr_index_hit ha[10], hb[10];
        size_t na = search(a, q, ha, 10), nb = search(b, q, hb, 10);
        CHECK_INT(na, nb);
        for (size_t i = 0; i < na; i++) {
            CHECK_INT(ha[i].id, hb[i].id); /* the same graph: the same walk */
            CHECK(ha[i].score == hb[i].score);
        }
    }
    mr_index_destroy(a);
    mr_index_destroy(b);
    unlink(path);
}

TEST(test_stale_snapshot_is_reconciled_with_the_entries)
{
    make_vectors();
    size_t seeded, graphs;
    int rc;
    struct mr_err err;
    /* The snapshot knows the first 1000 entries only. */
    struct mr_index *old = load(1000, NULL, &seeded, &rc);
    CHECK_INT(mr_index_snapshot_save(old, path, "test-model", DIM, &graphs, &err), 0);
    mr_index_destroy(old);
    /* Since then: 200 added (1001..1200), ids 1..100 gone, 101..150 moved. */
    struct mr_index *ix = mr_index_new(DIM), *exact = mr_index_new(DIM);
    static float moved[50][DIM];
    for (int i = 100; i < NV; i++) {
        const float *v = vecs[i];
        if (i < 150) {
            random_unit(moved[i - 100]);
            v = moved[i - 100];
        }
        put(ix, &alice, i + 1, v);
        put(exact, &alice, i + 1, v);
    }
    CHECK_INT(mr_index_snapshot_load(ix, path, "test-model", DIM, &seeded, &err), 0);
    CHECK_INT(seeded, 1);
    mr_index_set_ann(ix, THRESHOLD, 64);
    ix_wait_builds(ix);
    CHECK_INT(mr_index_count(ix), NV - 100);
    struct mr_index_hit h[10], e[10];
    /* Every added and moved entry is found by its own vector; a removed one never. */
    for (int i = 0; i < NV; i++) {
        const float *v = i >= 100 && i < 150 ? moved[i - 100] : vecs[i];
        size_t n = search(ix, v, h, 1);
        CHECK(n == 1);
        if (i >= 100)
            CHECK_INT(h[0].id, i + 1);
        else
            CHECK(h[0].id > 100);
    }
    int found = 0, total = 0;
    for (int qi = 0; qi < 100; qi++) {
        float q[DIM];
        random_unit(q);
        size_t na = search(ix, q, h, 10), nb = search(exact, q, e, 10);
        for (size_t i = 0; i < na; i++)
            for (size_t j = 0; j < nb; j++)
                found += h[i].id == e[j].id;
        total += (int)nb;
    }
    fprintf(stdout, "    recall@10 after reconciling: %.3f\n", (double)found / total);
    CHECK((double)found / total >= 0.95);
    mr_index_destroy(ix);
    mr_index_destroy(exact);
    unlink(path);
}

#define SMALL 100 /* entries (and threshold) of the damaged-file tests: many loads, each quick */

/* Reads path into a fresh index; its result code, and how many graphs were taken. */
static int try_load(size_t *seeded)
{
    struct mr_index *ix = mr_index_new(DIM);
    for (int i = 0; i < SMALL; i++)
        put(ix, &alice, i + 1, vecs[i]);
    struct mr_err err;
    int rc = mr_index_snapshot_load(ix, path, "test-model", DIM, seeded, &err);
    mr_index_set_ann(ix, SMALL, 64);
    ix_wait_builds(ix);
    /* Whatever was taken, the index answers, and exactly (its graph is checked). */
    struct mr_index_hit h;
    struct mr_index_query iq = {vecs[7], NULL, 0, false, 1000, -1.0f, 1, false};
    size_t n = 0;
    mr_index_search(ix, &alice, &iq, &h, &n, &err);
    if (n != 1 || h.id != 8)
        rc = 1000;
    mr_index_destroy(ix);
    return rc;
}

static long file_size(void)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fclose(f);
    return n;
}

TEST(test_damaged_or_foreign_snapshots_are_refused)
{
    make_vectors();
    size_t seeded, graphs;
    int rc;
    struct mr_err err;
    /* No file: nothing to read, nothing wrong. */
    unlink(path);
    CHECK_INT(try_load(&seeded), 0);
    CHECK_INT(seeded, 0);
    struct mr_index *a = load_with(SMALL, SMALL, NULL, &seeded, &rc);
    CHECK_INT(mr_index_snapshot_save(a, path, "test-model", DIM, &graphs, &err), 0);
    CHECK_INT(graphs, 1);
    /* Another model or dimension. */
    CHECK(mr_index_snapshot_load(a, path, "other-model", DIM, &seeded, &err) == MR_EINVAL);
    CHECK(mr_index_snapshot_load(a, path, "test-model", DIM + 1, &seeded, &err) == MR_EINVAL);
    mr_index_destroy(a);
    long size = file_size();
    CHECK(size > 0);
    FILE *f = fopen(path, "rb");
    unsigned char *orig = malloc((size_t)size);
    CHECK(fread(orig, 1, (size_t)size, f) == (size_t)size);
    fclose(f);
    /* Cut short anywhere: refused. */
    for (long cut = 0; cut < size; cut += 1 + cut / 7) {
        f = fopen(path, "wb");
        fwrite(orig, 1, (size_t)cut, f);
        fclose(f);
        CHECK_INT(try_load(&seeded), MR_EINVAL);
    }
    /*
     * Each byte of the headers and link blocks flipped: refused or, where
     * the flip leaves a well-formed graph (a vector's bits, a link to
     * another valid node), taken and reconciled; never a crash, always the
     * right answer. Past the headers every 7th byte (vectors, links).
     */
    int refused = 0, taken = 0;
    for (long at = 0; at < size; at += at < 200 ? 1 : 7) {
        orig[at] ^= 0x5a;
        f = fopen(path, "wb");
        fwrite(orig, 1, (size_t)size, f);
        fclose(f);
        orig[at] ^= 0x5a;
        rc = try_load(&seeded);
        CHECK(rc == 0 || rc == MR_EINVAL);
        refused += rc != 0;
        taken += rc == 0;
    }
    fprintf(stdout, "    flipped bytes: %d refused, %d taken and reconciled\n", refused, taken);
    CHECK(refused > 0);
    free(orig);
    unlink(path);
}

TEST_MAIN("snapshot", T(test_saved_graph_answers_as_before),
          T(test_stale_snapshot_is_reconciled_with_the_entries),
          T(test_damaged_or_foreign_snapshots_are_refused))
