/* test.c — the runner behind test.h. */
#define _GNU_SOURCE
#include "test.h"

#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static bool failed, skipped;
static char skip_reason[256];
static char tmpdir[256];

/* test_after_each's functions, run in registration order. */
static void (*after_each[8])(void);
static size_t n_after_each;

static void run_after_each(void)
{
    for (size_t i = 0; i < n_after_each; i++)
        after_each[i]();
}

void test_after_each(void (*fn)(void))
{
    for (size_t i = 0; i < n_after_each; i++)
        if (after_each[i] == fn)
            return;
    if (n_after_each == sizeof after_each / sizeof after_each[0]) {
        fprintf(stderr, "test_after_each: more than %zu functions\n", n_after_each);
        exit(2);
    }
    /* At exit too: a SIGTERM (the runner's time limit) exits from inside a case. */
    if (n_after_each == 0 && atexit(run_after_each) != 0) {
        fprintf(stderr, "test_after_each: atexit failed\n");
        exit(2);
    }
    after_each[n_after_each++] = fn;
}

/* The case running now, for the signal handler (NULL between cases). */
static const char *volatile cur_suite, *volatile cur_name;

void test_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    failed = true;
    fprintf(stdout, "    %s:%d: check failed: ", file, line);
    va_start(ap, fmt);
    vfprintf(stdout, fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
}

bool test_failed(void)
{
    return failed;
}

void test_skip(const char *fmt, ...)
{
    va_list ap;
    skipped = true;
    va_start(ap, fmt);
    vsnprintf(skip_reason, sizeof skip_reason, fmt, ap);
    va_end(ap);
}

/* Only async-signal-safe calls from here to on_signal's end: write(), no stdio. */
static void say(const char *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    while (n) {
        ssize_t w = write(STDOUT_FILENO, s, n);
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

static void say_uint(unsigned u)
{
    char buf[16], *p = buf + sizeof buf;
    *--p = '\0';
    do
        *--p = (char)('0' + u % 10);
    while (u /= 10);
    say(p);
}

static const struct {
    int sig;
    const char *name;
} watched[] = {{SIGSEGV, "SIGSEGV"}, {SIGBUS, "SIGBUS"},   {SIGFPE, "SIGFPE"}, {SIGILL, "SIGILL"},
               {SIGABRT, "SIGABRT"}, {SIGTERM, "SIGTERM"}, {SIGINT, "SIGINT"}};
#define N_WATCHED (sizeof watched / sizeof watched[0])
static struct sigaction previous[N_WATCHED];

static void on_signal(int sig, siginfo_t *si, void *ctx)
{
    (void)ctx;
    size_t w = 0;
    while (w < N_WATCHED && watched[w].sig != sig)
        w++;
    bool stop = sig == SIGTERM || sig == SIGINT;
    say(stop ? "KILLED " : "CRASH ");
    say(cur_suite ? cur_suite : "?");
    if (cur_name) {
        say(".");
        say(cur_name);
    } else {
        say(" (between tests)");
    }
    say(": signal ");
    say_uint((unsigned)sig);
    say(" (");
    say(w < N_WATCHED ? watched[w].name : "?");
    say(stop ? ") while it ran\n" : ")\n");
    if (stop) {
        /*
         * Asked to stop (the runner's time limit, or ^C): exit through the
         * atexit handlers, which stop the servers this binary started
         * outside its process group (PostgreSQL) and remove its temporary
         * directory. Not async-signal-safe if the signal landed inside
         * stdio or malloc; the runner's SIGKILL after a grace period is the
         * backstop for that.
         */
        exit(128 + sig);
    }
    /*
     * A crash: hand the signal to whoever had it before (the default action,
     * or a sanitizer's reporter). A fault re-runs the faulting instruction on
     * return and meets that handler; a sent signal (abort(), kill) is raised
     * again, pending until this handler returns.
     */
    if (w < N_WATCHED)
        sigaction(sig, &previous[w], NULL);
    else
        signal(sig, SIG_DFL);
    if (si->si_code <= 0)
        raise(sig);
}

static void watch_signals(void)
{
    for (size_t w = 0; w < N_WATCHED; w++) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = on_signal;
        sa.sa_flags = SA_SIGINFO | SA_RESETHAND;
        sigemptyset(&sa.sa_mask);
        sigaction(watched[w].sig, &sa, &previous[w]);
    }
}

static void remove_tmpdir(void)
{
    if (!tmpdir[0] || getenv("KEEP_TEST_TMP"))
        return;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
}

const char *test_tmpdir(void)
{
    if (!tmpdir[0]) {
        const char *base = getenv("TMPDIR");
        snprintf(tmpdir, sizeof tmpdir, "%s/memori-test-XXXXXX", base ? base : "/tmp");
        if (!mkdtemp(tmpdir)) {
            perror("mkdtemp");
            exit(2);
        }
        atexit(remove_tmpdir);
    }
    return tmpdir;
}

int test_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    int port = -1;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

const char *test_path(char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "%s/%s", test_tmpdir(), name);
    return buf;
}

static bool wanted(const char *name, int argc, char **argv)
{
    if (argc <= 1)
        return true;
    for (int a = 1; a < argc; a++)
        if (strcmp(argv[a], name) == 0)
            return true;
    return false;
}

int test_run(const char *suite, const struct test_case *cases, size_t n, int argc, char **argv)
{
    int passed = 0, nfailed = 0, nskipped = 0;
    setvbuf(stdout, NULL, _IOLBF, 0);
    cur_suite = suite;
    watch_signals();
    /* A name on the command line that is no test here fails, rather than running nothing. */
    for (int a = 1; a < argc; a++) {
        bool known = false;
        for (size_t i = 0; i < n && !known; i++)
            known = strcmp(argv[a], cases[i].name) == 0;
        if (!known) {
            printf("FAIL %s.%s: no such test\n", suite, argv[a]);
            nfailed++;
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (!wanted(cases[i].name, argc, argv))
            continue;
        failed = skipped = false;
        skip_reason[0] = '\0';
        struct timeval t0, t1;
        gettimeofday(&t0, NULL);
        cur_name = cases[i].name;
        cases[i].fn();
        run_after_each();
        cur_name = NULL;
        gettimeofday(&t1, NULL);
        long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_usec - t0.tv_usec) / 1000;
        if (failed) {
            printf("FAIL %s.%s (%ld ms)\n", suite, cases[i].name, ms);
            nfailed++;
        } else if (skipped) {
            printf("skip %s.%s (%ld ms): %s\n", suite, cases[i].name, ms, skip_reason);
            nskipped++;
        } else {
            printf("ok   %s.%s (%ld ms)\n", suite, cases[i].name, ms);
            passed++;
        }
    }
    printf("%s: %d passed, %d failed, %d skipped\n", suite, passed, nfailed, nskipped);
    return nfailed ? 1 : 0;
}

float test_frand(uint64_t *state)
{
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    return (float)((*state >> 11) * (1.0 / 9007199254740992.0)) * 2 - 1;
}

void test_random_unit(float *v, size_t dim, uint64_t *state)
{
    double n = 0;
    for (size_t i = 0; i < dim; i++) {
        v[i] = test_frand(state);
        n += v[i] * v[i];
    }
    for (size_t i = 0; i < dim; i++)
        v[i] = (float)(v[i] / sqrt(n));
}
