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
 *
 * bench_hnsw N 0 --compact [--crossover]: the compact scan (int8 copies, the
 * best rescored in float32) against float32 on real text (the spans above)
 * embedded three ways: memori-wordnet-v2 (d 128, the default model),
 * memori-wordnet-v1 (d 384) and the same randomly rotated (dense, like a
 * provider's 384-d embeddings): recall@10, speed, RSS per vector at 10 k and
 * N, recall for rescoring depths; --crossover adds the partition size from
 * which a graph's p99 beats the compact scan's (the HNSW threshold), at
 * the sizes --at 10000,20000,... (--v2: memori-wordnet-v2's vectors only).
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

/* ---- --compact: the int8 scan on real embeddings, and where a graph pays ---- */

/* A memori index of data[0..n) for one user; int8 scans or float32, graphs at threshold. */
static struct mr_index *index_of(const float *data, size_t n, size_t d, bool int8, size_t threshold)
{
    struct mr_index *ix = mr_index_new(d);
    mr_index_set_int8(ix, int8);
    mr_index_set_ann(ix, 0, 0);
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
    if (threshold) {
        mr_index_set_ann(ix, threshold, 0);
        ix_wait_builds(ix);
    }
    return ix;
}

/*
 * What the index allocated per entry for its vectors and their lookup (not
 * the lexical index): float32 rows, int8 rows and scales, filter metadata,
 * the id map, over its capacity (arrays grow by doubling).
 */
static double bytes_per_vector(struct mr_index *base)
{
    struct ix *ix = ix_of(base);
    double b = 0;
    size_t n = 0;
    for (size_t i = 0; i < ix->parts_cap; i++) {
        const struct ix_part *p = ix->parts[i];
        if (!p)
            continue;
        n += p->n;
        b += (double)p->cap * (ix->dim * sizeof(float) + sizeof(struct ix_meta));
        if (p->q8)
            b += (double)p->cap * (ix->dim + sizeof(float));
        b += (double)p->slots.cap * (sizeof(int64_t) + sizeof(uint32_t));
    }
    return n ? b / (double)n : 0;
}

struct timed {
    double qps, p50_ms, p99_ms;    /* wall clock */
    double cpu_p50_ms, cpu_p99_ms; /* the searching thread's CPU time */
};

static double thread_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * nq queries, each asked reps times through mr_index_search (after one
 * untimed pass: a thread's first touch of the pages is apart, see
 * read_loop); the ids of the first pass into ids (nq × limit, -1 padded).
 */
static struct timed search_timed(struct mr_index *ix, const float *qs, int nq, size_t d,
                                 size_t limit, int reps, int64_t *ids)
{
    struct mr_identity who = {"u", "t"};
    struct mr_index_hit out[64];
    size_t got;
    struct mr_err err;
    for (int q = 0; q < nq; q++) {
        struct mr_index_query iq = {
            .vec = qs + (size_t)q * d, .now = 1, .min_score = -2, .limit = limit};
        mr_index_search(ix, &who, &iq, out, &got, &err);
        for (size_t i = 0; i < limit; i++)
            ids[(size_t)q * limit + i] = i < got ? out[i].id : -1;
    }
    size_t m = (size_t)nq * reps;
    double *lat = malloc(m * sizeof *lat), *cpu = malloc(m * sizeof *cpu), sum = 0;
    for (int r = 0; r < reps; r++)
        for (int q = 0; q < nq; q++) {
            struct mr_index_query iq = {
                .vec = qs + (size_t)q * d, .now = 1, .min_score = -2, .limit = limit};
            double t0 = now_s(), c0 = thread_cpu_s();
            mr_index_search(ix, &who, &iq, out, &got, &err);
            cpu[r * nq + q] = thread_cpu_s() - c0;
            lat[r * nq + q] = now_s() - t0;
            sum += lat[r * nq + q];
        }
    qsort(lat, m, sizeof *lat, cmp_d);
    qsort(cpu, m, sizeof *cpu, cmp_d);
    struct timed t = {m / sum, lat[m / 2] * 1e3, lat[m * 99 / 100] * 1e3, cpu[m / 2] * 1e3,
                      cpu[m * 99 / 100] * 1e3};
    free(lat);
    free(cpu);
    return t;
}

/* Share of truth's ids (nq × limit) found in got's rows. */
static double recall_of(const int64_t *got, const int64_t *truth, int nq, size_t limit)
{
    size_t hits = 0, total = 0;
    for (int q = 0; q < nq; q++)
        for (size_t i = 0; i < limit; i++) {
            int64_t t = truth[(size_t)q * limit + i];
            if (t < 0)
                continue;
            total++;
            for (size_t j = 0; j < limit; j++)
                hits += got[(size_t)q * limit + j] == t;
        }
    return total ? (double)hits / total : 1;
}

/*
 * The compact scan's first pass with a rescoring depth of its own (the
 * index's is max(4 × limit, 32), scan_int8.c): recall@limit of the int8
 * pass + float32 rescoring of the best depth, against the float32 top-limit.
 */
static double depth_recall(const float *data, const int8_t *q8, const float *scale, size_t n,
                           size_t d, const float *qs, int nq, size_t limit, size_t depth)
{
    ix_dot_i8_fn dot8 = ix_dot_i8_kernel();
    mr_dot_fn dot = mr_index_dot_fn();
    struct ix_heap cands = {malloc(depth * sizeof *cands.v), 0, depth, true};
    struct ix_heap top = {malloc(limit * sizeof *top.v), 0, limit, true},
                   exact = {malloc(limit * sizeof *exact.v), 0, limit, true};
    int8_t *qq = malloc(d);
    size_t hits = 0;
    for (int q = 0; q < nq; q++) {
        const float *qv = qs + (size_t)q * d;
        float qscale = ix_quantize_i8(qv, d, qq);
        cands.n = top.n = exact.n = 0;
        for (size_t i = 0; i < n; i++) {
            ix_heap_keep(&cands, depth,
                         (struct mr_index_hit){(int64_t)i,
                                               (float)dot8(qq, q8 + i * d, d) * qscale * scale[i]});
            ix_heap_keep(&exact, limit,
                         (struct mr_index_hit){(int64_t)i, dot(qv, data + i * d, d)});
        }
        for (size_t c = 0; c < cands.n; c++) {
            size_t i = (size_t)cands.v[c].id;
            ix_heap_keep(&top, limit, (struct mr_index_hit){(int64_t)i, dot(qv, data + i * d, d)});
        }
        for (size_t a = 0; a < top.n; a++)
            for (size_t b = 0; b < exact.n; b++)
                hits += top.v[a].id == exact.v[b].id;
    }
    free(qq);
    free(cands.v);
    free(top.v);
    free(exact.v);
    return (double)hits / ((double)nq * limit);
}

/* v's rows turned by a random rotation (Gram-Schmidt on Gaussian rows): same dots, dense
 * coordinates. */
static void rotate(float *v, size_t rows, size_t d)
{
    double *m = malloc(d * d * sizeof *m);
    for (size_t i = 0; i < d * d; i++) {
        double u1 = (frand() + 1) / 2 + 1e-12, u2 = (frand() + 1) / 2;
        m[i] = sqrt(-2 * log(u1)) * cos(2 * M_PI * u2);
    }
    for (size_t i = 0; i < d; i++) {
        for (size_t j = 0; j < i; j++) {
            double p = 0;
            for (size_t k = 0; k < d; k++)
                p += m[i * d + k] * m[j * d + k];
            for (size_t k = 0; k < d; k++)
                m[i * d + k] -= p * m[j * d + k];
        }
        double s = 0;
        for (size_t k = 0; k < d; k++)
            s += m[i * d + k] * m[i * d + k];
        for (size_t k = 0; k < d; k++)
            m[i * d + k] /= sqrt(s);
    }
    float *mf = malloc(d * d * sizeof *mf), *row = malloc(d * sizeof *row);
    for (size_t i = 0; i < d * d; i++)
        mf[i] = (float)m[i];
    mr_dot_fn dot = mr_index_dot_fn();
    for (size_t r = 0; r < rows; r++) {
        for (size_t i = 0; i < d; i++)
            row[i] = dot(mf + i * d, v + r * d, d);
        memcpy(v + r * d, row, d * sizeof *row);
    }
    free(row);
    free(mf);
    free(m);
}

/* The partition sizes the crossover is measured at (--at N,N,...). */
static size_t crossover_at[16] = {2000, 5000, 10000, 20000, 50000, 100000, 200000};
static int n_crossover_at = 7;

/*
 * One data set: the int8 scan against float32 (recall, speed, memory) at
 * 10 k and max_n, the rescoring depth's effect, and the crossover where a
 * graph beats the compact scan at p99 (crossover: also build graphs).
 */
static void compact_case(const char *name, const float *data, size_t max_n, size_t d,
                         const float *qs, int nq, bool crossover)
{
    printf("\n### %s (d %zu)\n\n", name, d);
    printf("| N | scan | queries/s | p50 ms | p99 ms | CPU p50 ms | CPU p99 ms | recall@10 vs "
           "float32 | bytes/vector |\n|---|---|---|---|---|---|---|---|---|\n");
    int64_t *truth = malloc((size_t)nq * 20 * sizeof *truth),
            *got = malloc((size_t)nq * 20 * sizeof *got);
    const size_t sizes[] = {10000, 100000, 1000000};
    for (int si = 0; si < 3; si++) {
        size_t n = sizes[si] < max_n ? sizes[si] : max_n;
        if (si > 0 && n <= sizes[si - 1])
            break;
        for (int int8 = 0; int8 < 2; int8++) {
            struct mr_index *ix = index_of(data, n, d, int8, 0);
            struct timed t =
                search_timed(ix, qs, nq, d, 10, n >= 100000 ? 2 : 5, int8 ? got : truth);
            printf("| %zu | %s | %.0f | %.3f | %.3f | %.3f | %.3f | %.4f | %.0f |\n", n,
                   int8 ? "int8 + rescoring" : "float32", t.qps, t.p50_ms, t.p99_ms, t.cpu_p50_ms,
                   t.cpu_p99_ms, int8 ? recall_of(got, truth, nq, 10) : 1.0, bytes_per_vector(ix));
            mr_index_destroy(ix);
        }
    }
    /* The rescoring depth: recall@limit for depths around the index's. */
    size_t n = max_n < 100000 ? max_n : 100000;
    int8_t *q8 = malloc(n * d);
    float *scale = malloc(n * sizeof *scale);
    for (size_t i = 0; i < n; i++)
        scale[i] = ix_quantize_i8(data + i * d, d, q8 + i * d);
    printf(
        "\nRescoring depth at N %zu: recall@limit of int8 + float32 rescoring of the best depth\n\n"
        "| limit | depth limit | 2 × limit | 4 × limit | the index's max(4 × limit, 32) |\n"
        "|---|---|---|---|---|\n",
        n);
    const size_t limits[] = {1, 5, 10, 20};
    for (int li = 0; li < 4; li++) {
        size_t l = limits[li], idx = l * 4 > 32 ? l * 4 : 32;
        printf("| %zu | %.4f | %.4f | %.4f | %.4f |\n", l,
               depth_recall(data, q8, scale, n, d, qs, nq, l, l),
               depth_recall(data, q8, scale, n, d, qs, nq, l, 2 * l),
               depth_recall(data, q8, scale, n, d, qs, nq, l, 4 * l),
               depth_recall(data, q8, scale, n, d, qs, nq, l, idx));
    }
    free(q8);
    free(scale);
    if (crossover) {
        printf("\nCrossover: one user's partition scanned (int8 + rescoring) or searched through "
               "its graph (ef %d, built by the index as the server does), limit 10\n\n"
               "(CPU: the searching thread's CPU time, free of preemption on a shared machine)\n\n"
               "| N | scan p50 ms | scan CPU p50 | scan CPU p99 | graph p50 ms | graph CPU p50 | "
               "graph CPU p99 | graph recall@10 | graph build s |\n"
               "|---|---|---|---|---|---|---|---|---|\n",
               MR_INDEX_EF_DEFAULT);
        for (int ci = 0; ci < n_crossover_at && crossover_at[ci] <= max_n; ci++) {
            size_t m = crossover_at[ci];
            struct mr_index *ix = index_of(data, m, d, true, 0);
            struct timed ts = search_timed(ix, qs, nq, d, 10, 3, truth);
            mr_index_destroy(ix);
            double b0 = now_s();
            ix = index_of(data, m, d, true, m);
            double built = now_s() - b0;
            struct timed tg = search_timed(ix, qs, nq, d, 10, 3, got);
            mr_index_destroy(ix);
            printf("| %zu | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f | %.1f |\n", m,
                   ts.p50_ms, ts.cpu_p50_ms, ts.cpu_p99_ms, tg.p50_ms, tg.cpu_p50_ms, tg.cpu_p99_ms,
                   recall_of(got, truth, nq, 10), built);
            fflush(stdout);
        }
    }
    free(truth);
    free(got);
    fflush(stdout);
}

/* --compact: three data sets of real text (see usage); max_n spans each, nq queries apart. */
static int compact(size_t max_n, int nq, bool crossover, bool only_v2)
{
    size_t d, words;
    float *v2 = real_vectors_share(max_n + (size_t)nq, "models/" MR_SEMANTIC_FILE, 0, &d, &words);
    if (!v2)
        return 1;
    printf("bench_hnsw --compact: %zu spans of %d words from %zu words of WordNet glosses and "
           "GCIDE; kernel %s, int8 kernel %s\n",
           max_n + (size_t)nq, WINDOW, words, ix_kernel_name(),
           ix_dot_i8_kernel() == ix_dot_i8_scalar ? "scalar" : "avx2");
    compact_case(MR_SEMANTIC_V2_MODEL " (the default model)", v2, max_n, d, v2 + max_n * d, nq,
                 crossover);
    free(v2);
    if (only_v2)
        return 0;
    float *v1 = real_vectors(max_n + (size_t)nq, "models/" MR_SEMANTIC_FILE, &d, &words);
    if (!v1)
        return 1;
    compact_case(MR_SEMANTIC_MODEL " (semantic + hashed lexical part)", v1, max_n, d,
                 v1 + max_n * d, nq, crossover);
    /* A provider's embeddings are dense: no hashed coordinates standing out. */
    rotate(v1, max_n + (size_t)nq, d);
    compact_case(MR_SEMANTIC_MODEL " randomly rotated (dense, provider-like)", v1, max_n, d,
                 v1 + max_n * d, nq, false);
    free(v1);
    return 0;
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? (size_t)atol(argv[1]) : 100000,
           d = argc > 2 ? (size_t)atol(argv[2]) : 384;
    bool only_startup = false, only_recall = false, real = false, compact_scan = false,
         crossover = false, only_v2 = false;
    for (int i = 3; i < argc; i++) {
        compact_scan |= strcmp(argv[i], "--compact") == 0;
        crossover |= strcmp(argv[i], "--crossover") == 0;
        only_v2 |= strcmp(argv[i], "--v2") == 0;
        if (strcmp(argv[i], "--at") == 0 && i + 1 < argc) {
            n_crossover_at = 0;
            for (char *t = strtok(argv[++i], ","); t && n_crossover_at < 16; t = strtok(NULL, ","))
                crossover_at[n_crossover_at++] = (size_t)atol(t);
        }
        only_startup |= strcmp(argv[i], "--startup") == 0;
        only_recall |= strcmp(argv[i], "--recall") == 0;
        real |= strcmp(argv[i], "--real") == 0;
    }
    int nq = 200;
    if (compact_scan || crossover)
        return compact(n, nq, crossover, only_v2);
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
