/*
 * bench_hnsw.c — HNSW against the exact scan on the same data, same run:
 * build time, recall@10, queries/s, p50/p99 per query, memory. Then
 * memori's index as the server uses it: one user's partition past the
 * threshold, its graph built aside while a reader keeps searching (the
 * reader's latencies show it is never blocked for the build), and the RSS
 * per vector against the raw float32 bytes.
 *
 * Start-up is measured both ways in the same run: the graph built aside
 * from nothing, then written as a snapshot and the start repeated from it.
 *
 * usage: bench_hnsw [N] [DIM] [--startup|--recall] [--real]   (default 100000 ×
 *        384, clustered unit vectors; --startup: only the two start-ups;
 *        --recall: only the graph against the exact scan; --real:
 *        real embeddings of dictionary text by the built-in model, DIM ignored)
 */
#include "bench_util.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../src/index/index_int.h"
#include "real_text.h"

static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long k = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld", &k) == 1)
            break;
    if (f)
        fclose(f);
    return k;
}

struct reader {
    struct mr_index *ix;
    const float *queries;
    size_t d;
    int nq;
    atomic_bool stop;
    double *lat;
    size_t n, cap;
    double first; /* the thread's first search, apart: see read_loop */
};

/* Searches as one user without pause until told to stop, recording each latency. */
static void *read_loop(void *arg)
{
    struct reader *r = arg;
    struct mr_identity who = {"u", "t"};
    for (size_t i = 0; !atomic_load(&r->stop); i++) {
        struct mr_index_query iq = {
            .vec = r->queries + (i % (size_t)r->nq) * r->d, .now = 1, .min_score = -2, .limit = 10};
        struct mr_index_hit out[10];
        size_t got;
        struct mr_err err;
        double t0 = now_s();
        mr_index_search(r->ix, &who, &iq, out, &got, &err);
        /*
         * A new thread's first pass over the vectors is 20-40x slower on this
         * VM, builds or not (its first touch of each page; no guest page
         * fault counted): a server's worker threads pay it once, at their
         * first search. Reported apart so the rest shows the build's effect.
         */
        if (i == 0) {
            r->first = now_s() - t0;
            continue;
        }
        if (r->n == r->cap) {
            r->cap = r->cap ? r->cap * 2 : 4096;
            r->lat = realloc(r->lat, r->cap * sizeof *r->lat);
        }
        r->lat[r->n++] = now_s() - t0;
    }
    return NULL;
}

/*
 * memori's index as `memori serve` starts: loads n entries for one user
 * with graphs off, reads the snapshot file snap when given, then serves (a
 * reader searching without pause) while the graph is built aside — from
 * nothing, or from the snapshot's graph; prints the load time, the time
 * until the graph is ready, the reader's latencies meanwhile, and RSS per
 * vector. With save, writes the graph to save_to afterwards (timed), as a
 * clean stop does.
 */
static void index_as_served(const float *data, size_t n, size_t d, const float *queries, int nq,
                            const char *snap, const char *save_to)
{
    long rss0 = rss_kib();
    struct mr_index *ix = mr_index_new(d);
    mr_index_set_ann(ix, 0, 64); /* as `memori serve` loads: graphs after the load */
    double t0 = now_s();
    for (size_t i = 0; i < n; i++) {
        struct mr_index_entry e = {.id = (int64_t)i + 1,
                                   .user_id = "u",
                                   .tenant_id = "t",
                                   .conversation_id = "c",
                                   .memory_type = MR_ENTITY,
                                   .expires_at = MR_NO_TIME,
                                   .vec = data + i * d};
        struct mr_err err;
        mr_index_upsert(ix, &e, &err);
    }
    double loaded = now_s() - t0, read = 0;
    if (snap) {
        size_t graphs = 0;
        struct mr_err err;
        double r0 = now_s();
        if (mr_index_snapshot_load(ix, snap, "bench", d, &graphs, &err) != 0 || graphs != 1)
            fprintf(stderr, "bench_hnsw: snapshot not used: %s\n", graphs ? "" : err.msg);
        read = now_s() - r0;
    }
    /* Then it serves: searches run while the graph is built aside. */
    struct reader r = {.ix = ix, .queries = queries, .d = d, .nq = nq};
    pthread_t th;
    pthread_create(&th, NULL, read_loop, &r);
    mr_index_set_ann(ix, 20000, MR_INDEX_EF_DEFAULT);
    ix_wait_builds(ix);
    double ready = now_s() - t0;
    atomic_store(&r.stop, true);
    pthread_join(th, NULL);
    long rss1 = rss_kib();
    qsort(r.lat, r.n, sizeof *r.lat, cmp_d);
    if (snap)
        printf("  start-up with the snapshot: entries loaded in %.1f s, snapshot read in %.1f s, "
               "graph ready after %.1f s\n",
               loaded, read, ready);
    else
        printf("  start-up without a snapshot (threshold 20000, graph built aside): entries "
               "loaded in %.1f s, graph ready after %.1f s\n",
               loaded, ready);
    printf("  a reader meanwhile: %zu searches, p50 %.3f ms, p99 %.3f ms, max %.1f ms "
           "(exact scans until the graph is swapped in; the thread's first search, apart: "
           "%.1f ms)\n",
           r.n, r.lat[r.n / 2] * 1e3, r.lat[r.n * 99 / 100] * 1e3, r.lat[r.n - 1] * 1e3,
           r.first * 1e3);
    double raw = (double)n * d * sizeof(float) / 1024;
    printf("  RSS +%.0f MiB for %zu vectors: %.2f × the raw float32 bytes (%.0f MiB)\n",
           (rss1 - rss0) / 1024.0, n, (rss1 - rss0) / raw, raw / 1024);
    if (save_to) {
        size_t graphs = 0;
        struct mr_err err;
        double s0 = now_s();
        if (mr_index_snapshot_save(ix, save_to, "bench", d, &graphs, &err) != 0)
            fprintf(stderr, "bench_hnsw: %s\n", err.msg);
        struct stat st;
        printf("  snapshot written (as at a clean stop) in %.1f s: %.0f MiB\n", now_s() - s0,
               stat(save_to, &st) == 0 ? st.st_size / 1048576.0 : 0.0);
    }
    free(r.lat);
    mr_index_destroy(ix);
}

/* Start-up both ways, in the same run: building the graph, then reading it back. */
static void startup(const float *data, size_t n, size_t d, int nq)
{
    char snap[64];
    snprintf(snap, sizeof snap, "/tmp/bench_hnsw-%d.hnsw", (int)getpid());
    index_as_served(data, n, d, data + n * d, nq, NULL, snap);
    /* The file is read from the page cache, as a restart soon after the stop would. */
    index_as_served(data, n, d, data + n * d, nq, snap, NULL);
    unlink(snap);
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? (size_t)atol(argv[1]) : 100000,
           d = argc > 2 ? (size_t)atol(argv[2]) : 384;
    bool only_startup = false, only_recall = false, real = false;
    for (int i = 3; i < argc; i++) {
        only_startup |= strcmp(argv[i], "--startup") == 0;
        only_recall |= strcmp(argv[i], "--recall") == 0;
        real |= strcmp(argv[i], "--real") == 0;
    }
    int nq = 200;
    float *data;
    if (real) {
        size_t words = 0;
        double e0 = now_s();
        data = real_vectors(n + (size_t)nq, "models/" MR_SEMANTIC_FILE, &d, &words);
        if (!data)
            return 1;
        printf("bench_hnsw: real embeddings: %zu spans of %d words from %zu words of WordNet "
               "glosses and GCIDE, embedded by %s in %.1f s (d %zu)\n",
               n + (size_t)nq, WINDOW, words, MR_SEMANTIC_FILE, now_s() - e0, d);
    } else {
        data = clustered_vectors(n + (size_t)nq, d);
    }
    if (only_startup) {
        printf("bench_hnsw: N %zu, d %zu, start-up only; kernel %s\n", n, d, ix_kernel_name());
        startup(data, n, d, nq);
        free(data);
        return 0;
    }
    /* Exact answers (the baseline), timed. */
    double t0 = now_s();
    int64_t(*truth)[10] = exact_top10(data, n, d, data + n * d, nq);
    double exact_qps = nq / (now_s() - t0);
    long rss0 = rss_kib();
    t0 = now_s();
    struct hnsw *h = hnsw_new(d, 16, 100, 42);
    for (size_t i = 0; i < n; i++)
        hnsw_add(h, (int64_t)i, data + i * d);
    double build = now_s() - t0;
    long rss1 = rss_kib();
    printf("bench_hnsw: N %zu, d %zu, M 16, ef_construction 100; kernel %s\n", n, d,
           ix_kernel_name());
    printf("  build %.1f s (%.0f inserts/s); RSS +%ld MiB (vectors alone %.0f MiB)\n", build,
           n / build, (rss1 - rss0) / 1024, n * d * 4 / 1048576.0);
    printf("  exact scan (baseline): %.1f queries/s\n", exact_qps);
    printf(
        "| ef | recall@10 | queries/s | × exact | p50 ms | p99 ms |\n|---|---|---|---|---|---|\n");
    size_t efs[] = {32, 64, 128, 256, 512, 1024};
    for (int e = 0; e < 6; e++) {
        double *lat = malloc((size_t)nq * sizeof *lat), sum = 0;
        int hits = 0;
        for (int q = 0; q < nq; q++) {
            struct mr_index_hit out[10];
            double a = now_s();
            size_t got = hnsw_search(h, data + (n + (size_t)q) * d, 10, efs[e], NULL, NULL, out);
            lat[q] = now_s() - a;
            sum += lat[q];
            int64_t ids[10];
            for (size_t i = 0; i < got; i++)
                ids[i] = out[i].id;
            hits += recall_hits(ids, got, truth[q]);
        }
        qsort(lat, (size_t)nq, sizeof *lat, cmp_d);
        printf("| %zu | %.3f | %.0f | %.0f | %.3f | %.3f |\n", efs[e], hits / (10.0 * nq), nq / sum,
               nq / sum / exact_qps, lat[nq / 2] * 1e3, lat[nq * 99 / 100] * 1e3);
        free(lat);
    }
    hnsw_free(h);
    if (!only_recall)
        startup(data, n, d, nq);
    free(truth);
    free(data);
    return 0;
}
