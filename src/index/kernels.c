/*
 * kernels.c — the dot product every search runs once per stored vector:
 * AVX2+FMA, AVX-512 and a portable scalar loop, picked once at run time by
 * CPUID (MEMORI_KERNEL=scalar|avx2|avx512 overrides, for tests and
 * benchmarks). The scalar loop is the reference the others are tested against.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "index_int.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define MR_X86 1
#endif

float ix_dot_scalar(const float *a, const float *b, size_t dim)
{
    /* Four accumulators let the compiler keep several multiply-adds in flight. */
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    size_t i = 0;
    for (; i + 4 <= dim; i += 4) {
        s0 += a[i] * b[i];
        s1 += a[i + 1] * b[i + 1];
        s2 += a[i + 2] * b[i + 2];
        s3 += a[i + 3] * b[i + 3];
    }
    for (; i < dim; i++)
        s0 += a[i] * b[i];
    return (s0 + s1) + (s2 + s3);
}

#ifdef MR_X86
__attribute__((target("avx2,fma"))) static float dot_avx2(const float *a, const float *b,
                                                          size_t dim)
{
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    __m256 acc2 = _mm256_setzero_ps(), acc3 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 32 <= dim; i += 32) {
        acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), acc1);
        acc2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), acc2);
        acc3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), acc3);
    }
    for (; i + 8 <= dim; i += 8)
        acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
    __m256 acc = _mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3));
    __m128 lo = _mm256_castps256_ps128(acc), hi = _mm256_extractf128_ps(acc, 1);
    __m128 s = _mm_add_ps(lo, hi);
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    float sum = _mm_cvtss_f32(s);
    for (; i < dim; i++) /* the unaligned tail */
        sum += a[i] * b[i];
    return sum;
}

__attribute__((target("avx512f"))) static float dot_avx512(const float *a, const float *b,
                                                           size_t dim)
{
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    __m512 acc2 = _mm512_setzero_ps(), acc3 = _mm512_setzero_ps();
    size_t i = 0;
    /* Four independent sums hide the FMA latency. */
    for (; i + 64 <= dim; i += 64) {
        acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), acc0);
        acc1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), acc1);
        acc2 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 32), _mm512_loadu_ps(b + i + 32), acc2);
        acc3 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 48), _mm512_loadu_ps(b + i + 48), acc3);
    }
    acc0 = _mm512_add_ps(acc0, acc2);
    acc1 = _mm512_add_ps(acc1, acc3);
    for (; i + 16 <= dim; i += 16)
        acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), acc0);
    if (i < dim) {
        /* The tail under a mask: no scalar loop, no read past the end. */
        __mmask16 m = (__mmask16)((1u << (dim - i)) - 1);
        acc1 =
            _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), acc1);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}
#endif

static mr_dot_fn chosen = ix_dot_scalar;
static const char *chosen_name = "scalar";
static pthread_once_t once = PTHREAD_ONCE_INIT;

/*
 * AVX2 is the default even where AVX-512 exists. With rows unaligned,
 * AVX-512 scanned 35-40 % slower on the development machine (every 64-byte
 * load split a cache line); with partitions 64-byte aligned it is within
 * ±10 % of AVX2 — faster at d = 1536, slower at d = 384 (bench/bench_scan.c,
 * docs/perf.md) — both near the memory bandwidth, so the wider unit buys
 * nothing dependable. MEMORI_KERNEL=avx512 still selects it.
 */
static void choose(void)
{
    const char *want = getenv("MEMORI_KERNEL");
    if (want && strcmp(want, "scalar") == 0)
        return;
#ifdef MR_X86
    __builtin_cpu_init();
    bool has512 = __builtin_cpu_supports("avx512f");
    bool has2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (has512 && want && strcmp(want, "avx512") == 0) {
        chosen = dot_avx512;
        chosen_name = "avx512";
    } else if (has2) {
        chosen = dot_avx2;
        chosen_name = "avx2";
    }
#endif
}

float mr_index_dot(const float *a, const float *b, size_t dim)
{
    pthread_once(&once, choose);
    return chosen(a, b, dim);
}

const char *ix_kernel_name(void)
{
    pthread_once(&once, choose);
    return chosen_name;
}

mr_dot_fn mr_index_dot_fn(void)
{
    pthread_once(&once, choose);
    return chosen;
}

mr_dot_fn ix_kernel(const char *name)
{
    if (strcmp(name, "scalar") == 0)
        return ix_dot_scalar;
#ifdef MR_X86
    __builtin_cpu_init();
    if (strcmp(name, "avx2") == 0 && __builtin_cpu_supports("avx2") &&
        __builtin_cpu_supports("fma"))
        return dot_avx2;
    if (strcmp(name, "avx512") == 0 && __builtin_cpu_supports("avx512f"))
        return dot_avx512;
#endif
    return NULL;
}
