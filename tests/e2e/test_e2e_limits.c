/*
 * Limits: no client exhausts the server. A slowloris client is dropped
 * after the connection timeout while others are served; hundreds of
 * keep-alive connections are held with bounded memory; oversize headers and
 * lists are refused with a 4xx.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http_client.h"
#include "test.h"

static struct server srv;

static bool start(char *const *env)
{
    char db[512];
    static int n;
    char name[32];
    snprintf(name, sizeof name, "limits-%d.db", n++);
    return server_start(&srv, test_path(db, sizeof db, name), env) == 0;
}

TEST(test_slowloris_is_dropped_others_served)
{
    char *env[] = {"MEMORI_CONNECTION_TIMEOUT_S=2", NULL};
    CHECK(start(env));
    int slow = tcp_dial(srv.port);
    CHECK(slow >= 0);
    /* Half a request line, then silence. */
    CHECK(write(slow, "GET /health HTTP/1.1\r\nHost: x\r\n", 31) == 31);
    struct resp r;
    http(&srv, "GET", "/health", NULL, NULL, 0, &r);
    CHECK_INT(r.status, 200); /* others are served meanwhile */
    resp_free(&r);
    struct pollfd p = {slow, POLLIN, 0};
    int ready = poll(&p, 1, 6000);
    char buf[64];
    ssize_t got = ready > 0 ? read(slow, buf, sizeof buf) : -1;
    close(slow);
    CHECK(ready > 0);
    CHECK(got <= 0); /* closed by the server, not answered */
    CHECK_INT(server_stop(&srv, SIGTERM), 0);
}

TEST(test_many_keepalive_connections_held_with_bounded_memory)
{
    enum { N = 300 };
    CHECK(start(NULL));
    long before = proc_rss_kib(srv.pid);
    int fds[N];
    int opened = 0;
    for (int i = 0; i < N; i++) {
        fds[i] = tcp_dial(srv.port);
        if (fds[i] < 0)
            break;
        const char req[] = "GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
        if (write(fds[i], req, sizeof req - 1) != (ssize_t)(sizeof req - 1))
            break;
        opened++;
    }
    int answered = 0;
    for (int i = 0; i < opened; i++) {
        struct pollfd p = {fds[i], POLLIN, 0};
        char buf[1024];
        if (poll(&p, 1, 5000) > 0 && read(fds[i], buf, sizeof buf) > 12 &&
            strncmp(buf, "HTTP/1.1 200", 12) == 0)
            answered++;
    }
    /* With all of them still open, a new client is served. */
    struct resp r;
    http(&srv, "POST", "/api/memories/search", NULL, "{\"query\":\"still here\"}", SIZE_MAX, &r);
    long status = r.status;
    resp_free(&r);
    long after = proc_rss_kib(srv.pid);
    for (int i = 0; i < opened; i++)
        close(fds[i]);
    CHECK_INT(server_stop(&srv, SIGTERM), 0);
    fprintf(stdout, "    %d keep-alive connections held, RSS %ld -> %ld KiB\n", answered, before,
            after);
    CHECK_INT(opened, N);
    CHECK_INT(answered, N);
    CHECK_INT(status, 200);
    CHECK(after - before < 64 * 1024); /* well under 256 KiB a connection */
}

TEST(test_oversize_headers_and_lists_are_4xx)
{
    CHECK(start(NULL));
    int fd = tcp_dial(srv.port);
    CHECK(fd >= 0);
    size_t n = 100000;
    char *req = malloc(n + 128);
    int len = sprintf(req, "GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ");
    memset(req + len, 'a', n);
    strcpy(req + len + n, "\r\n\r\n");
    ssize_t w = write(fd, req, strlen(req));
    (void)w;
    free(req);
    char buf[256] = "";
    struct pollfd p = {fd, POLLIN, 0};
    ssize_t got = poll(&p, 1, 5000) > 0 ? read(fd, buf, sizeof buf - 1) : -1;
    close(fd);
    CHECK(got > 12);
    CHECK(strncmp(buf, "HTTP/1.1 4", 10) == 0); /* 431 or 413: refused, not crashed */
    /* A list of 1 001 tags. */
    size_t cap = 20000;
    char *body = malloc(cap);
    int o = sprintf(body, "{\"content\":\"x\",\"memory_type\":\"rule\",\"conversation_id\":"
                          "\"6f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d\",\"context_tags\":[");
    for (int i = 0; i < 1001; i++)
        o += sprintf(body + o, "%s\"t\"", i ? "," : "");
    strcpy(body + o, "]}");
    struct resp r;
    http(&srv, "POST", "/api/memories", NULL, body, SIZE_MAX, &r);
    free(body);
    CHECK_INT(r.status, 422);
    char type[64], loc[64];
    CHECK(first_error(&r, type, sizeof type, loc, sizeof loc));
    CHECK_STR(type, "too_long");
    resp_free(&r);
    /* Metadata nested 40 deep. */
    char deep[512];
    o = sprintf(deep, "{\"content\":\"x\",\"memory_type\":\"rule\",\"conversation_id\":"
                      "\"6f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d\",\"metadata\":");
    for (int i = 0; i < 40; i++)
        o += sprintf(deep + o, "{\"a\":");
    o += sprintf(deep + o, "1");
    for (int i = 0; i < 41; i++)
        deep[o++] = '}';
    deep[o] = '\0';
    http(&srv, "POST", "/api/memories", NULL, deep, SIZE_MAX, &r);
    CHECK_INT(r.status, 422);
    resp_free(&r);
    http(&srv, "GET", "/health", NULL, NULL, 0, &r);
    CHECK_INT(r.status, 200);
    resp_free(&r);
    CHECK_INT(server_stop(&srv, SIGTERM), 0);
}

TEST_MAIN("e2e_limits", T(test_slowloris_is_dropped_others_served),
          T(test_many_keepalive_connections_held_with_bounded_memory),
          T(test_oversize_headers_and_lists_are_4xx))
