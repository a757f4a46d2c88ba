/*
 * bench_connections.c — the real server under a slot-exhaustion attack from
 * one address: N connections that trickle one header byte a second and N that
 * connect and send nothing, with MEMORI_MAX_CONNECTIONS=N (twice the limit
 * in hostile sockets; closed ones are dialled again each second). Meanwhile a
 * fresh client asks GET /health on a new connection, PROBES times; its
 * latency (p50, p99, worst) and the probes that got no answer within
 * PROBE_TIMEOUT_MS are printed against the same probe on the idle server (the
 * baseline), with one search request and the server's RSS.
 *
 * usage: bench_connections [N]   (default 1000; raises `ulimit -n` itself)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../tests/support/http_client.h"
#include "memori/clock.h"

enum { PROBES = 40, PROBE_TIMEOUT_MS = 3000 };

/* One GET /health on a new connection: milliseconds to the whole answer, or -1. */
static double probe_once(int port)
{
    int64_t t0 = mr_monotonic_us();
    int fd = tcp_dial(port);
    if (fd < 0)
        return -1;
    const char req[] = "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    double ms = -1;
    if (write(fd, req, sizeof req - 1) == (ssize_t)(sizeof req - 1)) {
        char buf[2048];
        size_t got = 0;
        for (;;) {
            int left = PROBE_TIMEOUT_MS - (int)((mr_monotonic_us() - t0) / 1000);
            struct pollfd p = {fd, POLLIN, 0};
            if (left <= 0 || poll(&p, 1, left) <= 0)
                break;
            ssize_t n = read(fd, buf + got, sizeof buf - 1 - got);
            if (n <= 0)
                break;
            got += (size_t)n;
            buf[got] = '\0';
            if (strstr(buf, "\r\n\r\n") && strchr(strstr(buf, "\r\n\r\n"), '}')) {
                if (strncmp(buf, "HTTP/1.1 200", 12) == 0)
                    ms = (mr_monotonic_us() - t0) / 1000.0;
                break;
            }
        }
    }
    close(fd);
    return ms;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

struct attack {
    int port, n;
    int *trickle, *idle;
    atomic_int stop;
    atomic_long redials;
};

static int dial_nonblocking(int port)
{
    int fd = tcp_dial(port);
    if (fd >= 0)
        fcntl(fd, F_SETFL, O_NONBLOCK);
    return fd;
}

/* True when the server closed fd (EOF or reset); drains what it sent. */
static int closed_by_server(int fd)
{
    char buf[512];
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n == 0)
            return 1;
        if (n < 0)
            return errno != EAGAIN && errno != EWOULDBLOCK;
    }
}

static void *attacker(void *arg)
{
    struct attack *a = arg;
    for (int round = 0; !atomic_load(&a->stop); round++) {
        for (int i = 0; i < a->n && !atomic_load(&a->stop); i++) {
            if (a->trickle[i] >= 0 && closed_by_server(a->trickle[i])) {
                close(a->trickle[i]);
                a->trickle[i] = -1;
            }
            if (a->trickle[i] < 0) {
                a->trickle[i] = dial_nonblocking(a->port);
                atomic_fetch_add(&a->redials, 1);
                if (a->trickle[i] >= 0 &&
                    write(a->trickle[i], "GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ", 39) < 0) {
                    close(a->trickle[i]);
                    a->trickle[i] = -1;
                }
            } else if (send(a->trickle[i], "a", 1, MSG_NOSIGNAL) < 0) {
                close(a->trickle[i]);
                a->trickle[i] = -1;
            }
            if (a->idle[i] >= 0 && closed_by_server(a->idle[i])) {
                close(a->idle[i]);
                a->idle[i] = -1;
            }
            if (a->idle[i] < 0) {
                a->idle[i] = dial_nonblocking(a->port);
                atomic_fetch_add(&a->redials, 1);
            }
        }
        for (int t = 0; t < 10 && !atomic_load(&a->stop); t++)
            usleep(100 * 1000);
    }
    return NULL;
}

static void probe_series(int port, double *out, int *out_failed)
{
    *out_failed = 0;
    for (int i = 0; i < PROBES; i++) {
        out[i] = probe_once(port);
        if (out[i] < 0) {
            out[i] = PROBE_TIMEOUT_MS;
            (*out_failed)++;
        }
        usleep(50 * 1000);
    }
    qsort(out, PROBES, sizeof *out, cmp_double);
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 1000;
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    signal(SIGPIPE, SIG_IGN);
    struct server s;
    char db[] = "/tmp/memori-bench-conn.db";
    remove(db);
    char limit[64];
    snprintf(limit, sizeof limit, "MEMORI_MAX_CONNECTIONS=%d", n);
    char *env[] = {limit, NULL};
    if (server_start(&s, db, env) != 0) {
        fprintf(stderr, "bench_connections: server did not start (run make first)\n");
        return 1;
    }
    double base[PROBES], hostile[PROBES];
    int base_failed, hostile_failed;
    probe_series(s.port, base, &base_failed);
    long rss0 = proc_rss_kib(s.pid);

    struct attack a = {.port = s.port, .n = n};
    a.trickle = malloc((size_t)n * sizeof *a.trickle);
    a.idle = malloc((size_t)n * sizeof *a.idle);
    for (int i = 0; i < n; i++)
        a.trickle[i] = a.idle[i] = -1;
    pthread_t th;
    pthread_create(&th, NULL, attacker, &a);
    sleep(3); /* every hostile socket dialled at least once, most twice */
    probe_series(s.port, hostile, &hostile_failed);
    struct resp r;
    int64_t t0 = mr_monotonic_us();
    http(&s, "POST", "/api/memories/search", NULL, "{\"query\":\"still searching\"}", SIZE_MAX, &r);
    double search_ms = (mr_monotonic_us() - t0) / 1000.0;
    long search_status = r.status;
    resp_free(&r);
    long rss1 = proc_rss_kib(s.pid);
    atomic_store(&a.stop, 1);
    pthread_join(th, NULL);
    long redials = atomic_load(&a.redials);
    for (int i = 0; i < n; i++) {
        if (a.trickle[i] >= 0)
            close(a.trickle[i]);
        if (a.idle[i] >= 0)
            close(a.idle[i]);
    }
    printf("bench_connections: MEMORI_MAX_CONNECTIONS=%d; %d trickling + %d idle sockets from one "
           "address (%ld dials in all)\n",
           n, n, n, redials);
    printf(
        "  fresh GET /health, idle server:  p50 %.3f ms, p99 %.3f ms, no answer in %d ms: %d/%d\n",
        base[PROBES / 2], base[PROBES * 99 / 100], PROBE_TIMEOUT_MS, base_failed, PROBES);
    printf("  fresh GET /health, under attack: p50 %.3f ms, p99 %.3f ms, worst %.3f ms, no answer "
           "in %d ms: %d/%d\n",
           hostile[PROBES / 2], hostile[PROBES * 99 / 100], hostile[PROBES - 1], PROBE_TIMEOUT_MS,
           hostile_failed, PROBES);
    printf("  search under attack: status %ld in %.1f ms; server RSS %ld -> %ld KiB\n",
           search_status, search_ms, rss0, rss1);
    free(a.trickle);
    free(a.idle);
    server_stop(&s, SIGTERM);
    remove(db);
    return 0;
}
