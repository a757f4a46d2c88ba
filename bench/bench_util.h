/*
 * bench_util.h — what several benchmarks share: a monotonic clock, a seeded
 * generator, clustered unit vectors (256 centres, as embeddings cluster by
 * topic) and the exact top-10 that recall is measured against.
 */
#ifndef MEMORI_BENCH_UTIL_H
#define MEMORI_BENCH_UTIL_H

#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "memori/index.h"

static inline double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t bench_rng = 11;

/* Uniform in [-1, 1), xorshift64. */
static inline float frand(void)
{
    bench_rng ^= bench_rng << 13;
    bench_rng ^= bench_rng >> 7;
    bench_rng ^= bench_rng << 17;
    return (float)((bench_rng >> 11) * (1.0 / 9007199254740992.0)) * 2 - 1;
}

static inline int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* n unit vectors of d floats around 256 random centres (caller frees). */
static inline float *clustered_vectors(size_t n, size_t d)
{
    float *data = malloc(n * d * sizeof *data), *centres = malloc(256 * d * sizeof *centres);
    for (size_t i = 0; i < 256 * d; i++)
        centres[i] = frand();
    for (size_t i = 0; i < n; i++) {
        double s = 0;
        for (size_t j = 0; j < d; j++) {
            data[i * d + j] = centres[(i % 256) * d + j] + 0.6f * frand();
            s += (double)data[i * d + j] * data[i * d + j];
        }
        for (size_t j = 0; j < d; j++)
            data[i * d + j] = (float)(data[i * d + j] / sqrt(s));
    }
    free(centres);
    return data;
}

/* The exact 10 best rows of data[0..n) for each of nq queries (row numbers); caller frees. */
static inline int64_t (*exact_top10(const float *data, size_t n, size_t d, const float *queries,
                                    int nq))[10]
{
    int64_t(*truth)[10] = malloc((size_t)nq * sizeof *truth);
    mr_dot_fn dot = mr_index_dot_fn();
    for (int q = 0; q < nq; q++) {
        const float *qv = queries + (size_t)q * d;
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
    return truth;
}

/* Hits of got[0..n) among truth's 10. */
static inline int recall_hits(const int64_t *got, size_t n, const int64_t truth[10])
{
    int hits = 0;
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < 10; k++)
            hits += got[i] == truth[k];
    return hits;
}

#endif
