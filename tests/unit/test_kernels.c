/*
 * The scan kernels equal the scalar reference on every dimension 1..2048,
 * unaligned too. A SIMD kernel this CPU cannot run is skipped, not passed.
 */
#include <math.h>
#include <stdlib.h>

#include "../../src/index/index_int.h"
#include "test.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static float frand(void)
{
    return test_frand(&rng);
}

/* Unit-length random vector of dim at an odd offset (unaligned). */
static void unit(float *v, size_t dim)
{
    double n = 0;
    for (size_t i = 0; i < dim; i++) {
        v[i] = frand();
        n += (double)v[i] * v[i];
    }
    for (size_t i = 0; i < dim; i++)
        v[i] = (float)(v[i] / sqrt(n));
}

/* Whether this CPU has what kernel name needs, asked independently of the dispatch. */
static bool cpu_has(const char *name)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (strcmp(name, "avx2") == 0)
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (strcmp(name, "avx512") == 0)
        return __builtin_cpu_supports("avx512f");
#endif
    return strcmp(name, "scalar") == 0;
}

static void check_kernel(const char *name)
{
    mr_dot_fn k = ix_kernel(name);
    if (!k && cpu_has(name)) {
        /* Skipping here would hide a kernel that was lost from the build. */
        test_fail(__FILE__, __LINE__, "this CPU has %s but ix_kernel(\"%s\") is NULL", name, name);
        return;
    }
    if (!k)
        SKIP("no %s on this CPU", strcmp(name, "avx2") == 0 ? "AVX2+FMA" : "AVX-512F");
    float *abuf = malloc((2048 + 3) * sizeof(float)), *bbuf = malloc((2048 + 5) * sizeof(float));
    for (size_t dim = 1; dim <= 2048; dim++) {
        float *a = abuf + dim % 3, *b = bbuf + 1 + dim % 5; /* misaligned both ways */
        unit(a, dim);
        unit(b, dim);
        double ref = 0;
        for (size_t i = 0; i < dim; i++)
            ref += (double)a[i] * b[i];
        float got = k(a, b, dim), scalar = ix_dot_scalar(a, b, dim);
        if (fabs(got - scalar) > 1e-5 || fabs(got - ref) > 1e-5) {
            test_fail(__FILE__, __LINE__, "%s dim %zu: %.9g, scalar %.9g, exact %.9g", name, dim,
                      got, scalar, ref);
            break;
        }
    }
    free(abuf);
    free(bbuf);
}

TEST(test_scalar_kernel_matches_exact_sum)
{
    check_kernel("scalar");
}
TEST(test_avx2_kernel_matches_scalar)
{
    check_kernel("avx2");
}
TEST(test_avx512_kernel_matches_scalar)
{
    check_kernel("avx512");
}

TEST(test_dispatch_picks_a_real_kernel)
{
    const char *name = ix_kernel_name();
    CHECK(ix_kernel(name) != NULL);
    CHECK(mr_index_dot_fn() == ix_kernel(name));
    float a[3] = {1, 2, 3}, b[3] = {4, 5, 6};
    CHECK_NEAR(mr_index_dot(a, b, 3), 32, 1e-6);
    CHECK(ix_kernel("sse9") == NULL);
}

TEST_MAIN("kernels", T(test_scalar_kernel_matches_exact_sum), T(test_avx2_kernel_matches_scalar),
          T(test_avx512_kernel_matches_scalar), T(test_dispatch_picks_a_real_kernel))
