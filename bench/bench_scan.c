/*
 * bench_scan.c — the exact scan: queries/s, p50/p99, GB/s per kernel, the
 * ratio to this machine's memory bandwidth measured in the same run (a
 * STREAM-like triad) and to a naive C loop; plus the index's own search
 * (filters and top-10 heap included) with the dispatched kernel.
 *
 * usage: bench_scan [MAX_N [D [MIN_N]]]   (default 1000000; d = 384 and 1536,
 *        clustered data; 1 M × 1536 (6 GB) only when MAX_N >= 2000000; D and
 *        MIN_N pick one case, e.g. `bench_scan 2000000 1536 1000000`)
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../src/index/index_int.h"
#include "memori/util.h"
#ifdef MEMORI_BENCH_FAISS
#include "faiss_flat.h"
#endif

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t rng = 42;
static float frand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((rng >> 11) * (1.0 / 9007199254740992.0)) * 2 - 1;
}

/* STREAM triad a = b + s*c over arrays far larger than the caches; bytes moved / s. */
static double triad_gbs(void)
{
    size_t n = 32u << 20; /* 128 MiB per array */
    float *a = malloc(n * 4), *b = malloc(n * 4), *c = malloc(n * 4);
    for (size_t i = 0; i < n; i++)
        b[i] = 1, c[i] = 2, a[i] = 0;
    double best = 1e9;
    for (int rep = 0; rep < 5; rep++) {
        double t0 = now_s();
        for (size_t i = 0; i < n; i++)
            a[i] = b[i] + 3.0f * c[i];
        double t = now_s() - t0;
        best = t < best ? t : best;
    }
    volatile float sink = a[n / 2];
    (void)sink;
    free(a);
    free(b);
    free(c);
    return 3.0 * n * 4 / best / 1e9;
}

/* Clustered unit vectors: 64 centres, points near one of them. */
static float *make_data(size_t n, size_t d)
{
    float *centres = malloc(64 * d * sizeof(float));
    for (size_t i = 0; i < 64 * d; i++)
        centres[i] = frand();
    /* Aligned as the index aligns its partitions (MR_VEC_ALIGN). */
    float *v = mr_xrealloc_aligned(NULL, 0, n * d * sizeof(float));
    for (size_t i = 0; i < n; i++) {
        const float *c = centres + (i % 64) * d;
        double norm = 0;
        for (size_t j = 0; j < d; j++) {
            v[i * d + j] = c[j] + 0.3f * frand();
            norm += (double)v[i * d + j] * v[i * d + j];
        }
        for (size_t j = 0; j < d; j++)
            v[i * d + j] = (float)(v[i * d + j] / sqrt(norm));
    }
    free(centres);
    return v;
}

static float naive_dot(const float *a, const float *b, size_t d)
{
    float s = 0;
    for (size_t i = 0; i < d; i++)
        s += a[i] * b[i];
    return s;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Full scans of n vectors with kernel k keeping the best 10; prints a row. */
static void run(const char *name, mr_dot_fn k, const float *data, size_t n, size_t d, int queries,
                double bw, double *naive_qps)
{
    double *lat = malloc(queries * sizeof *lat);
    volatile float keep = 0;
    for (int q = 0; q < queries; q++) {
        const float *query = data + ((size_t)q * 7919 % n) * d;
        double t0 = now_s();
        float best[10] = {-9, -9, -9, -9, -9, -9, -9, -9, -9, -9};
        for (size_t i = 0; i < n; i++) {
            float s = k(query, data + i * d, d);
            if (s > best[9]) {
                int j = 9;
                while (j > 0 && best[j - 1] < s) {
                    best[j] = best[j - 1];
                    j--;
                }
                best[j] = s;
            }
        }
        lat[q] = now_s() - t0;
        keep += best[0];
    }
    qsort(lat, queries, sizeof *lat, cmp_d);
    double sum = 0;
    for (int q = 0; q < queries; q++)
        sum += lat[q];
    double qps = queries / sum, gbs = (double)n * d * 4 * qps / 1e9;
    if (!*naive_qps)
        *naive_qps = qps;
    printf("| %8zu | %4zu | %-14s | %9.1f | %8.3f | %8.3f | %6.1f | %5.0f %% | %6.2fx |\n", n, d,
           name, qps, lat[queries / 2] * 1e3, lat[queries * 99 / 100] * 1e3, gbs, 100 * gbs / bw,
           qps / *naive_qps);
    free(lat);
}

#ifdef MEMORI_BENCH_FAISS
/* FAISS IndexFlatIP on the same data and queries, one thread, k = 10. */
static void faiss_run(const float *data, size_t n, size_t d, int queries, double bw,
                      double naive_qps)
{
    struct faiss_flat *f = faiss_flat_new((int)d, (long)n, data);
    double *lat = malloc(queries * sizeof *lat), sum = 0;
    float scores[10];
    long rows[10];
    faiss_flat_search(f, data, 10, scores, rows); /* first touch outside the timing */
    for (int q = 0; q < queries; q++) {
        double t0 = now_s();
        faiss_flat_search(f, data + ((size_t)q * 7919 % n) * d, 10, scores, rows);
        lat[q] = now_s() - t0;
        sum += lat[q];
    }
    qsort(lat, queries, sizeof *lat, cmp_d);
    double qps = queries / sum, gbs = (double)n * d * 4 * qps / 1e9;
    printf("| %8zu | %4zu | %-14s | %9.1f | %8.3f | %8.3f | %6.1f | %5.0f %% | %6.2fx |\n", n, d,
           "FAISS FlatIP", qps, lat[queries / 2] * 1e3, lat[queries * 99 / 100] * 1e3, gbs,
           100 * gbs / bw, qps / naive_qps);
    free(lat);
    faiss_flat_free(f);
}
#endif

/*
 * memori's index over the same data: float32 scans, or (int8) scans of int8
 * copies with the best candidates rescored in float32. *truth holds the
 * float32 answers (filled by the first call) for the int8 run's recall.
 */
static void index_run(const float *data, size_t n, size_t d, int queries, double bw, bool int8,
                      int64_t (*truth)[10])
{
    struct mr_index *ix = mr_index_new(d);
    mr_index_set_int8(ix, int8);
    struct mr_err err;
    for (size_t i = 0; i < n; i++) {
        struct mr_index_entry e = {(int64_t)i + 1, "u",        "t",          "c",  MR_RULE,
                                   false,          MR_NO_TIME, data + i * d, false};
        mr_index_upsert(ix, &e, &err);
    }
    const struct mr_identity who = {"u", "t"};
    double *lat = malloc(queries * sizeof *lat), sum = 0;
    struct mr_index_hit hits[10];
    size_t warm;
    struct mr_index_query w = {data, NULL, 0, false, 0, -1, 10, false};
    mr_index_search(ix, &who, &w, hits, &warm, &err); /* first touch outside the timing */
    int found = 0;
    for (int q = 0; q < queries; q++) {
        struct mr_index_query iq = {
            data + ((size_t)q * 7919 % n) * d, NULL, 0, false, 0, -1, 10, false};
        size_t got;
        double t0 = now_s();
        mr_index_search(ix, &who, &iq, hits, &got, &err);
        lat[q] = now_s() - t0;
        sum += lat[q];
        for (size_t i = 0; i < got; i++) {
            if (!int8)
                truth[q][i] = hits[i].id;
            for (int k = 0; k < 10; k++)
                found += hits[i].id == truth[q][k];
        }
    }
    qsort(lat, queries, sizeof *lat, cmp_d);
    /* Bytes the scan reads: float32 rows, or int8 rows plus the rescored float32 ones. */
    double bytes = int8 ? (double)n * d + 40.0 * d * 4 : (double)n * d * 4;
    double qps = queries / sum, gbs = bytes * qps / 1e9;
    char name[32];
    snprintf(name, sizeof name, "index %s", int8 ? "int8" : "f32");
    printf("| %8zu | %4zu | %-14s | %9.1f | %8.3f | %8.3f | %6.1f | %5.0f %% |        |", n, d,
           name, qps, lat[queries / 2] * 1e3, lat[queries * 99 / 100] * 1e3, gbs, 100 * gbs / bw);
    if (int8)
        printf(" recall@10 %.3f", found / (10.0 * queries));
    printf("\n");
    free(lat);
    mr_index_destroy(ix);
}

int main(int argc, char **argv)
{
    size_t max_n = argc > 1 ? (size_t)atol(argv[1]) : 1000000;
    /* Optional: only one dimension, only N from min_n (one large case alone). */
    size_t only_d = argc > 2 ? (size_t)atol(argv[2]) : 0,
           min_n = argc > 3 ? (size_t)atol(argv[3]) : 0;
    double bw = triad_gbs();
    printf("bench_scan: memory bandwidth (triad, same run): %.1f GB/s; dispatched kernel: %s\n", bw,
           ix_kernel_name());
    printf("| %8s | %4s | %-14s | %9s | %8s | %8s | %6s | %7s | %7s |\n", "N", "d", "kernel",
           "queries/s", "p50 ms", "p99 ms", "GB/s", "of bw", "× naive");
    printf("|---|---|---|---|---|---|---|---|---|\n");
    const size_t dims[] = {384, 1536};
    const size_t ns[] = {10000, 100000, 1000000};
    for (size_t di = 0; di < 2; di++) {
        for (size_t ni = 0; ni < 3; ni++) {
            size_t n = ns[ni], d = dims[di];
            if (n > max_n || (d == 1536 && n > 100000 && max_n < 2000000) ||
                (only_d && d != only_d) || n < min_n)
                continue;
            float *data = make_data(n, d);
            int queries = n >= 1000000 ? 20 : n >= 100000 ? 100 : 400;
            double naive = 0;
            run("naive loop", naive_dot, data, n, d, queries, bw, &naive);
            const char *kernels[] = {"scalar", "avx2", "avx512"};
            for (int k = 0; k < 3; k++)
                if (ix_kernel(kernels[k]))
                    run(kernels[k], ix_kernel(kernels[k]), data, n, d, queries, bw, &naive);
#ifdef MEMORI_BENCH_FAISS
            faiss_run(data, n, d, queries, bw, naive);
#endif
            int64_t(*truth)[10] = calloc((size_t)queries, sizeof *truth);
            index_run(data, n, d, queries, bw, false, truth);
            index_run(data, n, d, queries, bw, true, truth);
            free(truth);
            free(data);
        }
    }
    return 0;
}
