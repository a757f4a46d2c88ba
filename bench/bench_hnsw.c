/*
 * bench_hnsw.c — HNSW against the exact scan on the same data, same run:
 * build time, recall@10, queries/s, p50/p99 per query, memory.
 *
 * usage: bench_hnsw [N] [DIM]   (default 100000 × 384, clustered unit vectors)
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "memori/hnsw.h"
#include "memori/index.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t rng = 11;
static float frand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((rng >> 11) * (1.0 / 9007199254740992.0)) * 2 - 1;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

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
    float *data = malloc((n + (size_t)nq) * d * sizeof *data), *centres = malloc(256 * d * 4);
    for (size_t i = 0; i < 256 * d; i++)
        centres[i] = frand();
    for (size_t i = 0; i < n + (size_t)nq; i++) {
        double s = 0;
        for (size_t j = 0; j < d; j++) {
            data[i * d + j] = centres[(i % 256) * d + j] + 0.6f * frand();
            s += (double)data[i * d + j] * data[i * d + j];
        }
        for (size_t j = 0; j < d; j++)
            data[i * d + j] = (float)(data[i * d + j] / sqrt(s));
    }
    /* Exact answers (the baseline), timed. */
    int64_t(*truth)[10] = malloc((size_t)nq * sizeof *truth);
    mr_dot_fn dot = mr_index_dot_fn();
    double t0 = now_s();
    for (int q = 0; q < nq; q++) {
        const float *qv = data + (n + (size_t)q) * d;
        float best[10];
        for (int k = 0; k < 10; k++)
            best[k] = -9, truth[q][k] = -1;
        for (size_t i = 0; i < n; i++) {
            float s = dot(qv, data + i * d, d);
            if (s <= best[9])
                continue;
            int k = 9;
            while (k > 0 && best[k - 1] < s) {
                best[k] = best[k - 1];
                truth[q][k] = truth[q][k - 1];
                k--;
            }
            best[k] = s;
            truth[q][k] = (int64_t)i;
        }
    }
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
            for (size_t i = 0; i < got; i++)
                for (int k = 0; k < 10; k++)
                    hits += out[i].id == truth[q][k];
        }
        qsort(lat, (size_t)nq, sizeof *lat, cmp_d);
        printf("| %zu | %.3f | %.0f | %.0f | %.3f | %.3f |\n", efs[e], hits / (10.0 * nq), nq / sum,
               nq / sum / exact_qps, lat[nq / 2] * 1e3, lat[nq * 99 / 100] * 1e3);
        free(lat);
    }
    mr_hnsw_free(h);
    free(truth);
    free(data);
    free(centres);
    return 0;
}
