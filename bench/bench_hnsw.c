/*
 * bench_hnsw.c — HNSW against the exact scan on the same data, same run:
 * build time, recall@10, queries/s, p50/p99 per query, memory.
 *
 * usage: bench_hnsw [N] [DIM]   (default 100000 × 384, clustered unit vectors)
 */
#include "bench_util.h"
#include "memori/hnsw.h"

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

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? (size_t)atol(argv[1]) : 100000,
           d = argc > 2 ? (size_t)atol(argv[2]) : 384;
    int nq = 200;
    float *data = clustered_vectors(n + (size_t)nq, d);
    /* Exact answers (the baseline), timed. */
    double t0 = now_s();
    int64_t(*truth)[10] = exact_top10(data, n, d, data + n * d, nq);
    double exact_qps = nq / (now_s() - t0);
    long rss0 = rss_kib();
    t0 = now_s();
    struct mr_hnsw *h = mr_hnsw_new(d, 16, 100, 42);
    for (size_t i = 0; i < n; i++)
        mr_hnsw_add(h, (int64_t)i, data + i * d);
    double build = now_s() - t0;
    long rss1 = rss_kib();
    printf("bench_hnsw: N %zu, d %zu, M 16, ef_construction 100; kernel %s\n", n, d,
           mr_index_kernel_name());
    printf("  build %.1f s (%.0f inserts/s); RSS +%ld MiB (vectors alone %.0f MiB)\n", build,
           n / build, (rss1 - rss0) / 1024, n * d * 4 / 1048576.0);
    printf("  exact scan (baseline): %.1f queries/s\n", exact_qps);
    printf(
        "| ef | recall@10 | queries/s | × exact | p50 ms | p99 ms |\n|---|---|---|---|---|---|\n");
    size_t efs[] = {32, 64, 128, 256};
    for (int e = 0; e < 4; e++) {
        double *lat = malloc((size_t)nq * sizeof *lat), sum = 0;
        int hits = 0;
        for (int q = 0; q < nq; q++) {
            struct mr_index_hit out[10];
            double a = now_s();
            size_t got = mr_hnsw_search(h, data + (n + (size_t)q) * d, 10, efs[e], NULL, NULL, out);
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
    mr_hnsw_free(h);
    free(truth);
    free(data);
    return 0;
}
