/*
 * bench_pgvector.c — the PostgreSQL store's vector search (pgvector HNSW,
 * iterative scan, through memori's own search statement with its filters
 * and row locks) beside the embedded default's in-process index, on the
 * same clustered data in the same run: load rate, index build, recall@10
 * against the exact answer, queries/s and p50/p99 per query.
 *
 * The PostgreSQL server is a throwaway cluster with its durable defaults
 * (fsync on), started here; it shares the machine's cores with this client.
 *
 * usage: bench_pgvector [N] [DIM]   (default 100000 × 384, one user's memories)
 */
#include "bench_util.h"

#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "../src/index/index_int.h" /* ix_wait_builds */
#include "memori/store.h"
#include "memori/util.h"
#include "pg_server.h"

#define NQ 200
#define BATCH 1000
static const struct mr_identity who = {"bench", "default"};
static const char CONV[] = "6f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";

struct figures {
    double recall, qps, p50_ms, p99_ms;
};

static void print_row(const char *name, struct figures f, double exact_qps)
{
    printf("| %-34s | %.3f | %8.0f | %7.1f | %7.3f | %7.3f |\n", name, f.recall, f.qps,
           f.qps / exact_qps, f.p50_ms, f.p99_ms);
}

/* Latencies (s) of nq queries into figures. */
static struct figures summarise(double *lat, int nq, int hits)
{
    double sum = 0;
    for (int q = 0; q < nq; q++)
        sum += lat[q];
    qsort(lat, (size_t)nq, sizeof *lat, cmp_d);
    return (struct figures){hits / (10.0 * nq), nq / sum, lat[nq / 2] * 1e3,
                            lat[nq * 99 / 100] * 1e3};
}

/* memori's search statement, one transaction per query as a request runs it. */
static struct figures pg_search(struct mr_store *s, const float *queries, size_t d,
                                int64_t (*truth)[10], int64_t first_id)
{
    double lat[NQ];
    int hits = 0;
    for (int q = 0; q < NQ; q++) {
        struct mr_index_query iq = {
            .vec = queries + (size_t)q * d, .dim = d, .now = 1, .min_score = -2, .limit = 10};
        struct mr_err err;
        struct mr_store_tx *tx;
        struct mr_memory *got = NULL;
        float *scores = NULL;
        size_t n = 0;
        double t0 = now_s();
        if (mr_store_begin(s, true, &tx, &err) != 0 ||
            mr_store_mem_search(tx, &who, &iq, &got, &scores, &n, &err) != 0) {
            fprintf(stderr, "bench_pgvector: search: %s\n", err.msg);
            exit(1);
        }
        mr_store_rollback(tx);
        lat[q] = now_s() - t0;
        int64_t ids[10];
        for (size_t i = 0; i < n && i < 10; i++)
            ids[i] = got[i].id - first_id;
        hits += recall_hits(ids, n < 10 ? n : 10, truth[q]);
        for (size_t i = 0; i < n; i++)
            mr_memory_clear(&got[i]);
        free(got);
        free(scores);
    }
    return summarise(lat, NQ, hits);
}

/* The embedded default's index: exact scan, or HNSW above threshold. */
static struct figures local_search(const float *data, size_t n, size_t d, const float *queries,
                                   int64_t (*truth)[10], size_t threshold, size_t ef,
                                   double *build_s)
{
    struct mr_index *ix = mr_index_new(d);
    mr_index_set_ann(ix, threshold, ef);
    double t0 = now_s();
    for (size_t i = 0; i < n; i++) {
        struct mr_index_entry e = {.id = (int64_t)i,
                                   .user_id = who.user_id,
                                   .tenant_id = who.tenant_id,
                                   .conversation_id = CONV,
                                   .memory_type = MR_ENTITY,
                                   .expires_at = MR_NO_TIME,
                                   .vec = data + i * d};
        struct mr_err err;
        mr_index_upsert(ix, &e, &err);
    }
    ix_wait_builds(ix); /* graphs are built aside: measure the finished one */
    *build_s = now_s() - t0;
    double lat[NQ];
    int hits = 0;
    for (int q = 0; q < NQ; q++) {
        struct mr_index_query iq = {
            .vec = queries + (size_t)q * d, .now = 1, .min_score = -2, .limit = 10};
        struct mr_index_hit out[10];
        size_t got = 0;
        struct mr_err err;
        double t1 = now_s();
        mr_index_search(ix, &who, &iq, out, &got, &err);
        lat[q] = now_s() - t1;
        int64_t ids[10];
        for (size_t i = 0; i < got; i++)
            ids[i] = out[i].id;
        hits += recall_hits(ids, got, truth[q]);
    }
    mr_index_destroy(ix);
    return summarise(lat, NQ, hits);
}

/* Inserts the n vectors as one user's memories, BATCH per transaction; returns the first id. */
static int64_t load(struct mr_store *s, const float *data, size_t n, size_t d)
{
    struct mr_err err;
    struct mr_store_tx *tx;
    struct mr_conversation c = {.user_id = mr_xstrdup(who.user_id),
                                .tenant_id = mr_xstrdup(who.tenant_id),
                                .metadata = mr_xstrdup("{}"),
                                .is_active = true};
    snprintf(c.conversation_id, sizeof c.conversation_id, "%s", CONV);
    int64_t first = 0;
    if (mr_store_begin(s, true, &tx, &err) != 0 || mr_store_conv_insert(tx, &c, &err) != 0)
        goto fail;
    for (size_t i = 0; i < n; i++) {
        struct mr_memory m = {0};
        mr_uuid_v4(m.memory_id);
        snprintf(m.conversation_id, sizeof m.conversation_id, "%s", CONV);
        m.user_id = (char *)who.user_id;
        m.tenant_id = (char *)who.tenant_id;
        m.content = "a memory";
        m.memory_type = MR_ENTITY;
        m.embedding = (float *)(data + i * d);
        m.dim = d;
        m.importance_score = 0.5;
        m.last_accessed_at = m.expires_at = MR_NO_TIME;
        m.metadata = "{}";
        if (mr_store_mem_insert(tx, &m, &err) != 0)
            goto fail;
        if (i == 0)
            first = m.id;
        if ((i + 1) % BATCH == 0 &&
            (mr_store_commit(tx, &err) != 0 || mr_store_begin(s, true, &tx, &err) != 0))
            goto fail;
    }
    if (mr_store_commit(tx, &err) != 0)
        goto fail;
    mr_conversation_clear(&c);
    return first;
fail:
    fprintf(stderr, "bench_pgvector: load: %s\n", err.msg);
    exit(1);
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? (size_t)atol(argv[1]) : 100000,
           d = argc > 2 ? (size_t)atol(argv[2]) : 384;
    float *data = clustered_vectors(n + NQ, d), *queries = data + n * d;
    double t0 = now_s();
    int64_t(*truth)[10] = exact_top10(data, n, d, queries, NQ);
    double exact_qps = NQ / (now_s() - t0);

    struct pg_server pg;
    char url[256];
    if (pg_server_start(&pg, true) != 0 || pg_server_database(&pg, "bench", url, sizeof url) != 0)
        return 1;
    struct mr_err err;
    struct mr_store *s = mr_store_postgres_open(url, 2, 0, 40, &err);
    if (!s) {
        fprintf(stderr, "bench_pgvector: %s\n", err.msg);
        pg_server_stop(&pg);
        return 1;
    }
    /* Rows first, then the HNSW index in one build (as after a bulk import). */
    t0 = now_s();
    int64_t first = load(s, data, n, d);
    double load_s = now_s() - t0;
    t0 = now_s();
    if (mr_store_check_model(s, "bench", d, &err) != 0) {
        fprintf(stderr, "bench_pgvector: index: %s\n", err.msg);
        return 1;
    }
    double index_s = now_s() - t0;
    mr_store_close(s);
    /* As autovacuum would soon after a bulk import: the planner needs row counts. */
    PGconn *admin = PQconnectdb(url);
    PQclear(PQexec(admin, "VACUUM ANALYZE memori_memories"));
    PQfinish(admin);

    double flat_s, hnsw_s;
    struct figures flat = local_search(data, n, d, queries, truth, 0, 0, &flat_s);
    struct figures local = local_search(data, n, d, queries, truth, 1, 64, &hnsw_s);
    printf("bench_pgvector: N %zu, d %zu, one user, %d queries, limit 10; PostgreSQL 15 + "
           "pgvector 0.8 (fsync on) on this machine's %ld cores, shared with this client\n",
           n, d, NQ, sysconf(_SC_NPROCESSORS_ONLN));
    printf("  PostgreSQL: load %.1f s (%.0f rows/s, %d per transaction); HNSW index build "
           "%.1f s (m 16, ef_construction 64)\n",
           load_s, n / load_s, BATCH, index_s);
    printf("  in-process: load %.2f s (exact), HNSW build %.1f s (M 16, ef_construction 100)\n",
           flat_s, hnsw_s);
    printf("| %-34s | recall@10 | queries/s | × exact | p50 ms | p99 ms |\n", "search");
    printf("|---|---|---|---|---|---|\n");
    print_row("exact scan in C (baseline)", (struct figures){1, exact_qps, 0, 0}, exact_qps);
    print_row("in-process exact (embedded)", flat, exact_qps);
    print_row("in-process HNSW ef 64 (embedded)", local, exact_qps);
    int efs[] = {40, 64, 100, 200};
    for (int e = 0; e < 4; e++) {
        s = mr_store_postgres_open(url, 1, 0, efs[e], &err);
        if (!s)
            break;
        pg_search(s, queries, d, truth, first); /* warm the buffer cache */
        char name[64];
        snprintf(name, sizeof name, "pgvector HNSW ef_search %d", efs[e]);
        print_row(name, pg_search(s, queries, d, truth, first), exact_qps);
        mr_store_close(s);
    }
    pg_server_stop(&pg);
    free(truth);
    free(data);
    return 0;
}
