/*
 * test.h — a small test runner (in the spirit of libuv's): each test is a
 * function; CHECK fails it and returns, SKIP skips it with a reason and
 * returns. The binary prints one line per test ("ok  ", "FAIL" or "skip")
 * and "<suite>: N passed, M failed, K skipped", exiting 1 when any failed.
 * A crash (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT) or a SIGTERM/SIGINT
 * (scripts/run-tests.sh's time limit) prints which test was running first.
 */
#ifndef MEMORI_TEST_H
#define MEMORI_TEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

struct test_case {
    const char *name;
    void (*fn)(void);
};

#define TEST(name) static void name(void)
#define T(name)                                                                                    \
    {                                                                                              \
#name, name                                                                                \
    }

void test_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
bool test_failed(void);

/*
 * Marks the running test skipped, with a printf-style reason printed beside
 * it: for a CPU feature or optional tool this machine lacks, never for a
 * server or file the suite needs (that is a failure). A failure recorded
 * earlier in the test wins over the skip.
 */
void test_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define SKIP(...)                                                                                  \
    do {                                                                                           \
        test_skip(__VA_ARGS__);                                                                    \
        return;                                                                                    \
    } while (0)

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            test_fail(__FILE__, __LINE__, "%s", #cond);                                            \
            return;                                                                                \
        }                                                                                          \
    } while (0)

#define CHECK_INT(a, b)                                                                            \
    do {                                                                                           \
        long long a_ = (long long)(a), b_ = (long long)(b);                                        \
        if (a_ != b_) {                                                                            \
            test_fail(__FILE__, __LINE__, "%s == %s (%lld != %lld)", #a, #b, a_, b_);              \
            return;                                                                                \
        }                                                                                          \
    } while (0)

#define CHECK_STR(a, b)                                                                            \
    do {                                                                                           \
        const char *a_ = (a), *b_ = (b);                                                           \
        if (!a_ || !b_ || strcmp(a_, b_) != 0) {                                                   \
            test_fail(__FILE__, __LINE__, "%s == %s (\"%s\" != \"%s\")", #a, #b,                   \
                      a_ ? a_ : "(null)", b_ ? b_ : "(null)");                                     \
            return;                                                                                \
        }                                                                                          \
    } while (0)

#define CHECK_NEAR(a, b, eps)                                                                      \
    do {                                                                                           \
        double a_ = (a), b_ = (b);                                                                 \
        if (!(a_ - b_ <= (eps) && b_ - a_ <= (eps))) {                                             \
            test_fail(__FILE__, __LINE__, "%s ~= %s (%.9g vs %.9g)", #a, #b, a_, b_);              \
            return;                                                                                \
        }                                                                                          \
    } while (0)

/*
 * Registers fn to run after every test case, however the case returned (a
 * failed CHECK returns early, past the test's own clean-up), before its
 * result is printed, and once more at exit (also after the runner's SIGTERM).
 * For support code that must not leave things behind (http_client.c's
 * servers). Up to 8 functions; registering one twice runs it once.
 */
void test_after_each(void (*fn)(void));

/* Runs the cases (or those named in argv) and returns the exit code. */
int test_run(const char *suite, const struct test_case *cases, size_t n, int argc, char **argv);

#define TEST_MAIN(suite, ...)                                                                      \
    int main(int argc, char **argv)                                                                \
    {                                                                                              \
        static const struct test_case cases_[] = {__VA_ARGS__};                                    \
        return test_run(suite, cases_, sizeof cases_ / sizeof cases_[0], argc, argv);              \
    }

/* A fresh directory under $TMPDIR removed when the binary exits. Static storage. */
const char *test_tmpdir(void);

/* A TCP port free on 127.0.0.1 right now (for a server a test starts), or -1. */
int test_free_port(void);

/* path = tmpdir/name, into buf. */
const char *test_path(char *buf, size_t cap, const char *name);

/* xorshift64 on *state: a seeded, repeatable stream of floats in [-1, 1). */
float test_frand(uint64_t *state);

/* dim floats from test_frand, scaled to unit length. */
void test_random_unit(float *v, size_t dim, uint64_t *state);

#endif
