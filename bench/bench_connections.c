/*
 * bench_connections.c — 1 000 concurrent keep-alive connections against the
 * real server: each sends a request and stays open; then a fresh client's
 * latency is measured while they are all held, against the same request on
 * an idle server (the baseline), and the server's RSS growth is printed.
 *
 * usage: bench_connections [N]   (default 1000; raise `ulimit -n` beyond ~1000)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../tests/support/http_client.h"
#include "memori/clock.h"

static double probe_ms(struct server *s, int n)
{
    int64_t t0 = mr_monotonic_us();
    for (int i = 0; i < n; i++) {
        struct resp r;
        http(s, "GET", "/health", NULL, NULL, 0, &r);
        resp_free(&r);
    }
    return (mr_monotonic_us() - t0) / 1000.0 / n;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 1000;
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    struct server s;
    char db[] = "/tmp/memori-bench-conn.db";
    remove(db);
    char *env[] = {"MEMORI_MAX_CONNECTIONS=2000", NULL};
    if (server_start(&s, db, env) != 0) {
        fprintf(stderr, "bench_connections: server did not start (run make first)\n");
        return 1;
    }
    double idle_ms = probe_ms(&s, 200);
    long rss0 = proc_rss_kib(s.pid);
    int *fds = calloc((size_t)n, sizeof *fds), opened = 0, answered = 0;
    for (int i = 0; i < n; i++) {
        fds[i] = tcp_dial(s.port);
        if (fds[i] < 0)
            break;
        const char req[] = "GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
        if (write(fds[i], req, sizeof req - 1) < 0)
            break;
        opened++;
    }
    for (int i = 0; i < opened; i++) {
        struct pollfd p = {fds[i], POLLIN, 0};
        char buf[1024];
        if (poll(&p, 1, 5000) > 0 && read(fds[i], buf, sizeof buf) > 12 &&
            strncmp(buf, "HTTP/1.1 200", 12) == 0)
            answered++;
    }
    double held_ms = probe_ms(&s, 200);
    long rss1 = proc_rss_kib(s.pid);
    printf("bench_connections: %d keep-alive connections opened, %d answered and held open\n",
           opened, answered);
    printf("  GET /health while idle: %.3f ms; with all held: %.3f ms (%.2fx)\n", idle_ms, held_ms,
           held_ms / idle_ms);
    printf("  server RSS: %ld KiB -> %ld KiB (%.1f KiB per connection)\n", rss0, rss1,
           opened ? (double)(rss1 - rss0) / opened : 0);
    for (int i = 0; i < opened; i++)
        close(fds[i]);
    server_stop(&s, SIGTERM);
    remove(db);
    return 0;
}
