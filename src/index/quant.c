/*
 * quant.c — int8 compact vectors for the exact scan (MEMORI_INDEX_INT8):
 * each vector scaled by its largest magnitude into [-127, 127], and the
 * integer dot product, AVX2 where the CPU has it (CPUID, once) and a scalar
 * reference otherwise. A scan over int8 reads a quarter of the bytes; its
 * best candidates are rescored in float32 (scan_int8.c).
 */
#define _GNU_SOURCE
#include <math.h>
#include <pthread.h>

#include "index_int.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define MR_X86 1
#endif

float ix_quantize_i8(const float *v, size_t dim, int8_t *out)
{
    float max = 0;
    for (size_t i = 0; i < dim; i++)
        max = fmaxf(max, fabsf(v[i]));
    float scale = max > 0 ? max / 127.0f : 1.0f;
    for (size_t i = 0; i < dim; i++)
        out[i] = (int8_t)lrintf(v[i] / scale);
    return scale;
}

int32_t ix_dot_i8_scalar(const int8_t *a, const int8_t *b, size_t dim)
{
    int32_t s = 0;
    for (size_t i = 0; i < dim; i++)
        s += (int32_t)a[i] * b[i];
    return s;
}

#ifdef MR_X86
/* 32 bytes a step: sign-extend to 16 bits, multiply-add pairs into 32-bit lanes. */
__attribute__((target("avx2"))) static int32_t dot_i8_avx2(const int8_t *a, const int8_t *b,
                                                           size_t dim)
{
    __m256i acc = _mm256_setzero_si256();
    size_t i = 0;
    for (; i + 32 <= dim; i += 32) {
        __m256i va = _mm256_loadu_si256((const __m256i *)(a + i));
        __m256i vb = _mm256_loadu_si256((const __m256i *)(b + i));
        __m256i alo = _mm256_cvtepi8_epi16(_mm256_castsi256_si128(va));
        __m256i ahi = _mm256_cvtepi8_epi16(_mm256_extracti128_si256(va, 1));
        __m256i blo = _mm256_cvtepi8_epi16(_mm256_castsi256_si128(vb));
        __m256i bhi = _mm256_cvtepi8_epi16(_mm256_extracti128_si256(vb, 1));
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(alo, blo));
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(ahi, bhi));
    }
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
    int32_t sum = _mm_cvtsi128_si32(s);
    for (; i < dim; i++)
        sum += (int32_t)a[i] * b[i];
    return sum;
}
#endif

static ix_dot_i8_fn chosen = ix_dot_i8_scalar;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void choose(void)
{
#ifdef MR_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2"))
        chosen = dot_i8_avx2;
#endif
}

ix_dot_i8_fn ix_dot_i8_kernel(void)
{
    pthread_once(&once, choose);
    return chosen;
}
