/*
 * The HTTP edge against hostile clients, byte by byte over raw sockets: the
 * probe's reproductions (issue 13). Each case writes the request bytes, reads
 * the answer, and checks its status, that it is {"detail": "..."} JSON, and
 * whether the server closed the connection. Most run against the real
 * `memori serve`; a few run the same server code in this process with a
 * trivial handler, to set its options below a second.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "http_client.h"
#include "memori/clock.h"
#include "memori/http.h"
#include "test.h"

#define CONV "6f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"

static struct server srv;

static bool start(char *const *env)
{
    return server_start_fresh(&srv, "edge", env) == 0;
}

static void stop(void)
{
    server_stop_checked(&srv);
}

/* What came back on one connection. */
struct raw {
    int status;  /* of the first answer; 0: none */
    int answers; /* complete answers read (a smuggled request would make two) */
    int answers_2xx;
    bool closed;     /* the server closed the connection (EOF or reset) */
    double ms;       /* until the first complete answer */
    char head[2048]; /* the first answer's status line and headers */
    char body[4096]; /* its body */
    size_t body_len;
    json_t *json;      /* its body parsed, or NULL */
    bool head_request; /* answers to HEAD have no body */
};

static void raw_free(struct raw *r)
{
    json_decref(r->json);
    r->json = NULL;
}

/* Length of the first complete answer in buf (0: not complete yet); fills r from it once. */
static size_t parse_answer(const char *buf, size_t len, struct raw *r, bool first)
{
    const char *end = memmem(buf, len, "\r\n\r\n", 4);
    if (!end)
        return 0;
    size_t head_len = (size_t)(end - buf) + 4, body_len = 0;
    const char *cl = memmem(buf, head_len, "Content-Length: ", 16);
    if (cl)
        body_len = strtoul(cl + 16, NULL, 10);
    bool interim = len > 12 && strncmp(buf + 9, "100", 3) == 0;
    if (interim || r->head_request)
        body_len = 0;
    if (len < head_len + body_len)
        return 0;
    if (first && !interim) {
        r->status = atoi(buf + 9);
        snprintf(r->head, sizeof r->head, "%.*s", (int)head_len, buf);
        r->body_len = body_len < sizeof r->body - 1 ? body_len : sizeof r->body - 1;
        memcpy(r->body, buf + head_len, r->body_len);
        r->body[r->body_len] = '\0';
        r->json = json_loadb(r->body, r->body_len, 0, NULL);
    }
    return head_len + body_len;
}

/*
 * Reads answers from fd until the server closes it or wait_ms pass with no
 * new byte. The first answer fills r.
 */
static void read_answers(int fd, int wait_ms, int64_t t0, struct raw *r, bool head_request)
{
    static char buf[1 << 20];
    size_t len = 0;
    r->head_request = head_request;
    for (;;) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, wait_ms) <= 0)
            break;
        ssize_t n = recv(fd, buf + len, sizeof buf - len, 0);
        if (n <= 0) {
            r->closed = true;
            break;
        }
        len += (size_t)n;
        size_t used;
        while ((used = parse_answer(buf, len, r, r->status == 0)) > 0) {
            bool interim = strncmp(buf + 9, "100", 3) == 0;
            if (!interim) {
                if (!r->answers)
                    r->ms = (mr_monotonic_us() - t0) / 1000.0;
                r->answers++;
                r->answers_2xx += buf[9] == '2';
            }
            memmove(buf, buf + used, len - used);
            len -= used;
        }
    }
}

/* Sends req (len bytes) on a new connection and reads for up to wait_ms of silence. */
static int exchange(const void *req, size_t len, int wait_ms, struct raw *r)
{
    memset(r, 0, sizeof *r);
    int fd = tcp_dial(srv.port);
    if (fd < 0)
        return -1;
    int64_t t0 = mr_monotonic_us();
    size_t off = 0;
    while (off < len) {
        ssize_t w = send(fd, (const char *)req + off, len - off, MSG_NOSIGNAL);
        if (w <= 0)
            break; /* the server may close early (413): what it answered still counts */
        off += (size_t)w;
    }
    read_answers(fd, wait_ms, t0, r, len > 5 && memcmp(req, "HEAD ", 5) == 0);
    close(fd);
    return 0;
}

#define SEND(lit, wait_ms, r) exchange(lit, sizeof lit - 1, wait_ms, r)

struct bytes {
    const char *p;
    size_t len;
};
#define B(lit)                                                                                     \
    {                                                                                              \
        lit, sizeof lit - 1                                                                        \
    }

/* A protocol error: this status, {"detail": "<string>"} as JSON, and the connection closed. */
#define CHECK_REFUSED(r, want)                                                                     \
    do {                                                                                           \
        if ((r).status != (want))                                                                  \
            fprintf(stdout, "    got: %s%s\n", (r).head, (r).body);                                \
        CHECK_INT((r).status, want);                                                               \
        CHECK(strstr((r).head, "Content-Type: application/json\r\n") != NULL);                     \
        CHECK(json_is_string(json_object_get((r).json, "detail")));                                \
        CHECK((r).closed);                                                                         \
        CHECK_INT((r).answers, 1);                                                                 \
    } while (0)

static long long memories_of(const char *user)
{
    struct resp r;
    http(&srv, "GET", "/api/memories/statistics/summary", user, NULL, 0, &r);
    long long n = r.status == 200 ? jint(r.json, "total_memories") : -1;
    resp_free(&r);
    return n;
}

/* A request that creates a memory for user in conversation conv, to hide after another. */
static int hidden_request(char *out, size_t cap, const char *user, const char *conv)
{
    char body[256];
    int n = snprintf(
        body, sizeof body,
        "{\"content\":\"smuggled\",\"memory_type\":\"rule\",\"conversation_id\":\"%s\"}", conv);
    return snprintf(out, cap,
                    "POST /api/memories HTTP/1.1\r\nHost: x\r\nX-User-Id: %s\r\n"
                    "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
                    user, n, body);
}

TEST(test_smuggled_request_after_chunked_body_never_runs)
{
    CHECK(start(NULL));
    char hidden[1024], req[2048];
    struct raw r;
    /* The control: the hidden request alone does create a memory. */
    int n =
        hidden_request(hidden, sizeof hidden, "control", "0c0c0c0c-4e5f-4a6b-8c7d-9e0f1a2b3c4d");
    CHECK(exchange(hidden, (size_t)n, 300, &r) == 0);
    CHECK_INT(r.status, 201);
    raw_free(&r);
    CHECK_INT(memories_of("control"), 1);
    /* A front reading Content-Length sees one request; chunked framing would see two. */
    struct raw r1, r2;
    int h = hidden_request(hidden, sizeof hidden, "smuggler", CONV);
    n = snprintf(req, sizeof req,
                 "POST /api/memories/search HTTP/1.1\r\nHost: x\r\n"
                 "Content-Type: application/json\r\nContent-Length: %d\r\n"
                 "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n%s",
                 h + 5, hidden);
    CHECK(exchange(req, (size_t)n, 500, &r1) == 0);
    /* Either order of the two headers; a front reading Content-Length: 5 sees two requests. */
    n = snprintf(req, sizeof req,
                 "POST /api/memories/search HTTP/1.1\r\nHost: x\r\n"
                 "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n%s",
                 hidden);
    CHECK(exchange(req, (size_t)n, 500, &r2) == 0);
    /* First what matters: the hidden request never ran. */
    CHECK_INT(memories_of("smuggler"), 0);
    CHECK_REFUSED(r1, 400);
    CHECK_REFUSED(r2, 400);
    raw_free(&r1);
    raw_free(&r2);
    stop();
}

TEST(test_repeated_or_conflicting_content_length_is_400)
{
    CHECK(start(NULL));
    struct raw r;
    CHECK(SEND("POST /api/memories/search HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
               "Content-Length: 20\r\n\r\n{}",
               500, &r) == 0);
    CHECK_REFUSED(r, 400);
    raw_free(&r);
    CHECK(SEND("POST /api/memories/search HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
               "Content-Length: 2\r\n\r\n{}",
               500, &r) == 0);
    CHECK_REFUSED(r, 400);
    raw_free(&r);
    CHECK(SEND("POST /api/memories/search HTTP/1.1\r\nHost: x\r\nContent-Length: 2, 2\r\n\r\n{}",
               500, &r) == 0);
    CHECK_REFUSED(r, 400);
    raw_free(&r);
    CHECK(SEND("POST /api/memories/search HTTP/1.1\r\nHost: x\r\nContent-Length: -2\r\n\r\n{}", 500,
               &r) == 0);
    CHECK_REFUSED(r, 400);
    raw_free(&r);
    stop();
}

TEST(test_unknown_transfer_codings_are_refused_at_once)
{
    CHECK(start(NULL));
    static const char *const codings[] = {"identity", "xchunked", "gzip, chunked", "chunked, gzip",
                                          "chunked;q=1"};
    for (size_t i = 0; i < sizeof codings / sizeof *codings; i++) {
        char req[256];
        int n = snprintf(req, sizeof req,
                         "POST /api/memories/search HTTP/1.1\r\nHost: x\r\n"
                         "Transfer-Encoding: %s\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
                         codings[i]);
        struct raw r;
        CHECK(exchange(req, (size_t)n, 2000, &r) == 0);
        CHECK_REFUSED(r, 501);
        CHECK(r.ms < 1000);
        raw_free(&r);
    }
    /* Two Transfer-Encoding headers, and Transfer-Encoding in HTTP/1.0. */
    struct raw r;
    CHECK(SEND("POST /api/memories/search HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
               "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
               500, &r) == 0);
    CHECK_REFUSED(r, 400);
    raw_free(&r);
    CHECK(SEND("POST /api/memories/search HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
               500, &r) == 0);
    CHECK_REFUSED(r, 400);
    raw_free(&r);
    stop();
}

TEST(test_garbage_request_lines_are_400_at_once)
{
    CHECK(start(NULL));
    static const struct {
        struct bytes b;
        int status;
    } cases[] = {
        {B("GARBAGE\r\n\r\n"), 400},
        {B("\x16\x03\x01\x00\xa5\x01\x00\x00"), 400}, /* a TLS ClientHello */
        {B("\x00\x00\x00"), 400},                     /* no line end at all */
        {B("GET /health\r\n\r\n"), 400},              /* HTTP/0.9 */
        {B("GET  /health HTTP/1.1\r\nHost: x\r\n\r\n"), 400},
        {B("GET /health HTTP/1.1 extra\r\nHost: x\r\n\r\n"), 400},
        {B("GET /health http/1.1\r\nHost: x\r\n\r\n"), 400},
        {B("G(T /health HTTP/1.1\r\nHost: x\r\n\r\n"), 400},
        {B("GET /health HTTP/2.0\r\nHost: x\r\n\r\n"), 505},
        {B("GET /health HTTP/0.9\r\nHost: x\r\n\r\n"), 505},
        {B("GET health HTTP/1.1\r\nHost: x\r\n\r\n"), 400},
        {B("GET /health#frag HTTP/1.1\r\nHost: x\r\n\r\n"), 400},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct raw r;
        CHECK(exchange(cases[i].b.p, cases[i].b.len, 2000, &r) == 0);
        if (r.status != cases[i].status)
            fprintf(stdout, "    case %zu\n", i);
        CHECK_REFUSED(r, cases[i].status);
        CHECK(r.ms < 1000);
        raw_free(&r);
    }
    stop();
}

TEST(test_oversized_chunked_body_is_413_at_the_limit)
{
    CHECK(start(NULL));
    struct raw r;
    /* A chunk announced past the limit: refused before any of its data is sent. */
    CHECK(SEND("POST /api/memories/search HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
               "\r\n200000\r\n",
               1500, &r) == 0);
    CHECK_REFUSED(r, 413);
    CHECK(r.ms < 1000);
    raw_free(&r);
    /* Small chunks that pass the limit, with no last chunk ever sent. */
    size_t cap = (1 << 20) + (1 << 17);
    char *req = malloc(cap + 4096);
    size_t n = (size_t)sprintf(req, "POST /api/memories/search HTTP/1.1\r\nHost: x\r\n"
                                    "Transfer-Encoding: chunked\r\n\r\n");
    while (n < cap) {
        n += (size_t)sprintf(req + n, "4000\r\n");
        memset(req + n, 'a', 0x4000);
        n += 0x4000;
        n += (size_t)sprintf(req + n, "\r\n");
    }
    CHECK(exchange(req, n, 1500, &r) == 0);
    free(req);
    CHECK_REFUSED(r, 413);
    raw_free(&r);
    /* Under the limit, chunked bodies are read (and decoded). */
    CHECK(SEND("POST /api/memories/search HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               "Transfer-Encoding: chunked\r\n\r\n5\r\n{\"que\r\n11;ext=1\r\nry\":\"chunked "
               "hi\"}\r\n0\r\nX-Trailer: t\r\n\r\n",
               300, &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK(!r.closed);
    raw_free(&r);
    stop();
}

TEST(test_host_missing_or_repeated_is_400)
{
    CHECK(start(NULL));
    struct raw r;
    CHECK(SEND("GET /health HTTP/1.1\r\n\r\n", 500, &r) == 0);
    CHECK_REFUSED(r, 400);
    raw_free(&r);
    CHECK(SEND("GET /health HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 500, &r) == 0);
    CHECK_REFUSED(r, 400);
    raw_free(&r);
    CHECK(SEND("GET /health HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n", 500, &r) == 0);
    CHECK_REFUSED(r, 400);
    raw_free(&r);
    /* HTTP/1.0 needs none; its connection closes after the answer. */
    CHECK(SEND("GET /health HTTP/1.0\r\n\r\n", 500, &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK(r.closed);
    raw_free(&r);
    stop();
}

TEST(test_control_bytes_in_headers_or_path_are_400)
{
    CHECK(start(NULL));
    static const struct bytes cases[] = {
        B("GET /health HTTP/1.1\r\nHost: x\r\nX-User-Id: ali\0ce\r\n\r\n"),
        B("GET /health HTTP/1.1\r\nHost: x\r\nX-User-Id: ali\x01"
          "ce\r\n\r\n"),
        B("GET /health HTTP/1.1\r\nHost: x\r\nX-User-Id: ali\x7f"
          "ce\r\n\r\n"),
        B("GET /health HTTP/1.1\r\nHost: x\r\nX-User-Id: ali\rce\r\n\r\n"),
        B("GET /hea\x01lth HTTP/1.1\r\nHost: x\r\n\r\n"),
        B("GET /hea\x1b[2Jlth HTTP/1.1\r\nHost: x\r\n\r\n"),
        B("GET /health HTTP/1.1\nHost: x\n\n"),                       /* bare LF */
        B("GET /health HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n"), /* obs-fold */
        B("GET /health HTTP/1.1\r\nHost: x\r\nX-A : a\r\n\r\n"),      /* space before ':' */
        B("GET /health HTTP/1.1\r\nHost: x\r\nX(A: a\r\n\r\n"),
        B("GET /health HTTP/1.1\r\nHost: x\r\nno colon\r\n\r\n"),
        B("GET /health?user_id=ali%00ce HTTP/1.1\r\nHost: x\r\n\r\n"),
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct raw r;
        CHECK(exchange(cases[i].p, cases[i].len, 2000, &r) == 0);
        if (r.status != 400)
            fprintf(stdout, "    case %zu\n", i);
        CHECK_REFUSED(r, 400);
        CHECK(r.ms < 1000);
        raw_free(&r);
    }
    stop();
}

TEST(test_encoded_nul_and_empty_segments_never_route)
{
    CHECK(start(NULL));
    static const char *const paths[] = {
        "POST /api/memories/maintenance/archive%00.css",
        "GET //api//memories/statistics/summary",
        "GET /api//memories/statistics/summary",
        "GET /api/memories/statistics//summary",
        "GET /api/memories/%2F",
        "GET //health",
        "GET /health%00",
    };
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++) {
        char req[256];
        int n = snprintf(req, sizeof req, "%s HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
                         paths[i]);
        struct raw r;
        CHECK(exchange(req, (size_t)n, 500, &r) == 0);
        if (r.status != 404)
            fprintf(stdout, "    %s\n", paths[i]);
        CHECK_REFUSED(r, 404);
        CHECK_STR(json_string_value(json_object_get(r.json, "detail")), "Not Found");
        raw_free(&r);
    }
    /* A trailing slash still routes, and the connection stays open. */
    struct raw r;
    CHECK(SEND("GET /api/memories/statistics/summary/ HTTP/1.1\r\nHost: x\r\n\r\n", 300, &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK(!r.closed);
    raw_free(&r);
    stop();
}

TEST(test_protocol_errors_answer_json_never_html)
{
    CHECK(start(NULL));
    struct raw r;
    /* 414: a request target past 8 KiB. */
    size_t n = 40000;
    char *req = malloc(n + 128);
    int o = sprintf(req, "GET /");
    memset(req + o, 'a', n);
    o += (int)n;
    o += sprintf(req + o, " HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECK(exchange(req, (size_t)o, 1000, &r) == 0);
    CHECK_REFUSED(r, 414);
    raw_free(&r);
    /* 431: headers past MEMORI_MAX_HEADER_BYTES. */
    o = sprintf(req, "GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ");
    memset(req + o, 'a', n);
    o += (int)n;
    o += sprintf(req + o, "\r\n\r\n");
    CHECK(exchange(req, (size_t)o, 1000, &r) == 0);
    CHECK_REFUSED(r, 431);
    raw_free(&r);
    free(req);
    /* 413 from Content-Length, before the body. */
    CHECK(SEND("POST /api/memories HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n{", 1000,
               &r) == 0);
    CHECK_REFUSED(r, 413);
    CHECK(r.ms < 1000);
    raw_free(&r);
    /* 417: an expectation we cannot meet. */
    CHECK(SEND("POST /api/memories HTTP/1.1\r\nHost: x\r\nExpect: 200-ok\r\nContent-Length: 2\r\n"
               "\r\n{}",
               1000, &r) == 0);
    CHECK_REFUSED(r, 417);
    raw_free(&r);
    /* An overlong method. */
    CHECK(SEND("ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFGHIJKLMNOPQRSTUVWXYZ /health HTTP/1.1\r\n"
               "Host: x\r\n\r\n",
               1000, &r) == 0);
    CHECK_REFUSED(r, 501);
    raw_free(&r);
    stop();
}

TEST(test_head_is_get_without_body)
{
    CHECK(start(NULL));
    static const char *const paths[] = {"/health", "/api/memories/statistics/summary",
                                        "/api/conversations",
                                        "/api/memories/00000000-0000-4000-8000-000000000000"};
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++) {
        char req[256];
        struct raw get, head;
        int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", paths[i]);
        CHECK(exchange(req, (size_t)n, 300, &get) == 0);
        n = snprintf(req, sizeof req, "HEAD %s HTTP/1.1\r\nHost: x\r\n\r\n", paths[i]);
        CHECK(exchange(req, (size_t)n, 300, &head) == 0);
        CHECK(get.status == 200 || get.status == 404);
        CHECK_INT(head.status, get.status);
        CHECK(strstr(head.head, "Content-Type: application/json\r\n"));
        char *cl = strstr(head.head, "Content-Length: ");
        CHECK(cl && strtoul(cl + 16, NULL, 10) > 0);
        CHECK_INT(head.body_len, 0);
        CHECK(!head.closed);
        raw_free(&get);
        raw_free(&head);
    }
    /* HEAD then GET on one connection: no body bytes in between to confuse the second. */
    int fd = tcp_dial(srv.port);
    CHECK(fd >= 0);
    const char two[] =
        "HEAD /health HTTP/1.1\r\nHost: x\r\n\r\nGET /health HTTP/1.1\r\nHost: x\r\n\r\n";
    CHECK(write(fd, two, sizeof two - 1) == (ssize_t)(sizeof two - 1));
    char buf[4096];
    size_t got = 0;
    for (int i = 0; i < 20 && got < sizeof buf - 1; i++) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 200) <= 0)
            break;
        ssize_t k = read(fd, buf + got, sizeof buf - 1 - got);
        if (k <= 0)
            break;
        got += (size_t)k;
    }
    close(fd);
    buf[got] = '\0';
    char *second = strstr(buf + 4, "HTTP/1.1 200");
    CHECK(strncmp(buf, "HTTP/1.1 200", 12) == 0);
    CHECK(second != NULL);
    CHECK(strstr(buf, "\r\n\r\nHTTP/1.1 200") == second - 4); /* the HEAD answer had no body */
    CHECK(strstr(second, "\"status\":\"ok\"") != NULL);
    stop();
}

TEST(test_access_log_cannot_be_forged)
{
    CHECK(start(NULL));
    struct raw r;
    CHECK(
        SEND("GET /health%0Aaccess%20GET%20/forged%20200%201us%1b[31m HTTP/1.1\r\nHost: x\r\n\r\n",
             300, &r) == 0);
    CHECK_INT(r.status, 404);
    raw_free(&r);
    CHECK(SEND("GET /api/memories/a%5Cx0a%0D%7F%E2%80%AE HTTP/1.1\r\nHost: x\r\n\r\n", 300, &r) ==
          0);
    raw_free(&r);
    stop();
    FILE *f = fopen(srv.log, "rb");
    CHECK(f);
    static char log[1 << 16];
    size_t n = fread(log, 1, sizeof log - 1, f);
    fclose(f);
    log[n] = '\0';
    CHECK(strstr(log, "\naccess GET /forged") == NULL);
    CHECK(strstr(log, "access GET /health\\x0aaccess\\x20GET\\x20/forged\\x20200\\x201us\\x1b[31m "
                      "404 ") != NULL);
    CHECK(strstr(log, "access GET /api/memories/a\\x5cx0a\\x0d\\x7f\\xe2\\x80\\xae ") != NULL);
    /* No access line holds a byte outside printable ASCII. */
    for (const char *l = strstr(log, "access "); l; l = strstr(l + 1, "\naccess "))
        for (const char *k = l + (*l == '\n'); *k && *k != '\n'; k++)
            CHECK(*k >= ' ' && *k < 0x7f);
}

TEST(test_keep_alive_pipelining_and_expect_continue)
{
    CHECK(start(NULL));
    struct raw r;
    /* Three pipelined requests: three answers, in order, the connection kept. */
    CHECK(SEND("GET /health HTTP/1.1\r\nHost: x\r\n\r\nPOST /api/memories/search HTTP/1.1\r\n"
               "Host: x\r\nContent-Type: application/json\r\nContent-Length: 15\r\n\r\n"
               "{\"query\":\"abc\"}GET /health HTTP/1.1\r\nHost: x\r\n\r\n",
               300, &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK_INT(r.answers, 3);
    CHECK_INT(r.answers_2xx, 3);
    CHECK(!r.closed);
    raw_free(&r);
    /* Connection: close is honoured. */
    CHECK(SEND("GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 1000, &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK(strstr(r.head, "Connection: close\r\n"));
    CHECK(r.closed);
    raw_free(&r);
    /* Expect: 100-continue gets its interim answer before the body is sent. */
    int fd = tcp_dial(srv.port);
    CHECK(fd >= 0);
    const char head[] = "POST /api/memories/search HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                        "Content-Type: application/json\r\nContent-Length: 15\r\n\r\n";
    CHECK(write(fd, head, sizeof head - 1) == (ssize_t)(sizeof head - 1));
    char buf[1024] = "";
    struct pollfd p = {fd, POLLIN, 0};
    ssize_t k = poll(&p, 1, 1000) > 0 ? read(fd, buf, sizeof buf - 1) : -1;
    CHECK(k > 0);
    CHECK(strncmp(buf, "HTTP/1.1 100 Continue\r\n\r\n", 25) == 0);
    CHECK(write(fd, "{\"query\":\"abc\"}", 15) == 15);
    k = poll(&p, 1, 1000) > 0 ? read(fd, buf, sizeof buf - 1) : -1;
    close(fd);
    CHECK(k > 12);
    CHECK(strncmp(buf, "HTTP/1.1 200", 12) == 0);
    stop();
}

/* The probe's slot exhaustion at reduced scale: 2 × the limit in hostile sockets. */
struct attack {
    int port, n;
    int trickle[100], idle[100];
    atomic_int stop;
};

static bool gone(int fd)
{
    char b[256];
    for (;;) {
        ssize_t n = recv(fd, b, sizeof b, MSG_DONTWAIT);
        if (n == 0)
            return true;
        if (n < 0)
            return errno != EAGAIN && errno != EWOULDBLOCK;
    }
}

static void *attacker(void *arg)
{
    struct attack *a = arg;
    while (!atomic_load(&a->stop)) {
        for (int i = 0; i < a->n; i++) {
            if (a->trickle[i] >= 0 && gone(a->trickle[i])) {
                close(a->trickle[i]);
                a->trickle[i] = -1;
            }
            if (a->trickle[i] < 0) {
                a->trickle[i] = tcp_dial(a->port);
                if (a->trickle[i] >= 0 &&
                    send(a->trickle[i], "GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ", 39,
                         MSG_NOSIGNAL) < 0) {
                    close(a->trickle[i]);
                    a->trickle[i] = -1;
                }
            } else if (send(a->trickle[i], "a", 1, MSG_NOSIGNAL) < 0) {
                close(a->trickle[i]);
                a->trickle[i] = -1;
            }
            if (a->idle[i] >= 0 && gone(a->idle[i])) {
                close(a->idle[i]);
                a->idle[i] = -1;
            }
            if (a->idle[i] < 0)
                a->idle[i] = tcp_dial(a->port);
        }
        usleep(200 * 1000);
    }
    return NULL;
}

TEST(test_slot_exhaustion_fresh_client_served_within_1s)
{
    char *env[] = {"MEMORI_MAX_CONNECTIONS=50", NULL};
    CHECK(start(env));
    struct attack *a = calloc(1, sizeof *a);
    a->port = srv.port;
    a->n = 100;
    for (int i = 0; i < a->n; i++)
        a->trickle[i] = a->idle[i] = -1;
    pthread_t th;
    pthread_create(&th, NULL, attacker, a);
    usleep(1500 * 1000); /* every hostile socket dialled, most several times */
    double worst = 0;
    int served = 0;
    enum { PROBES = 15 };
    for (int i = 0; i < PROBES; i++) {
        struct raw r;
        SEND("GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 1000, &r);
        if (r.status == 200 && r.ms < 1000)
            served++;
        if (r.status != 200)
            r.ms = 1000;
        worst = r.ms > worst ? r.ms : worst;
        raw_free(&r);
        usleep(100 * 1000);
    }
    struct resp s;
    int64_t t0 = mr_monotonic_us();
    http(&srv, "POST", "/api/memories/search", NULL, "{\"query\":\"still searching\"}", SIZE_MAX,
         &s);
    double search_ms = (mr_monotonic_us() - t0) / 1000.0;
    long search_status = s.status;
    resp_free(&s);
    atomic_store(&a->stop, 1);
    pthread_join(th, NULL);
    for (int i = 0; i < a->n; i++) {
        if (a->trickle[i] >= 0)
            close(a->trickle[i]);
        if (a->idle[i] >= 0)
            close(a->idle[i]);
    }
    free(a);
    fprintf(stdout, "    fresh /health: %d/%d within 1 s (worst %.1f ms); search %ld in %.1f ms\n",
            served, PROBES, worst, search_status, search_ms);
    CHECK_INT(served, PROBES);
    CHECK_INT(search_status, 200);
    CHECK(search_ms < 1000);
    stop();
}

TEST(test_trickled_headers_are_cut_at_the_header_deadline)
{
    /* One header byte a second, each well inside the 2 s inactivity timeout. */
    char *env[] = {"MEMORI_CONNECTION_TIMEOUT_S=2", NULL};
    CHECK(start(env));
    int fd = tcp_dial(srv.port);
    CHECK(fd >= 0);
    CHECK(write(fd, "GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ", 39) == 39);
    int64_t t0 = mr_monotonic_us();
    bool closed = false;
    while (!closed && mr_monotonic_us() - t0 < 14 * 1000000LL) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 1000) > 0) {
            char b[64];
            closed = read(fd, b, sizeof b) <= 0;
        } else if (send(fd, "a", 1, MSG_NOSIGNAL) < 0)
            closed = true;
    }
    double s = (mr_monotonic_us() - t0) / 1e6;
    close(fd);
    fprintf(stdout, "    closed after %.1f s of trickling\n", s);
    CHECK(closed);
    CHECK(s < 12); /* the 10 s header deadline, as a whole */
    stop();
}

/*
 * The deadlines and the per-peer limit from their variables (they reached
 * the server's options only from code before): a header trickle cut at the
 * 2 s header deadline, a body trickle at the 2 s body deadline, both well
 * inside the 30 s inactivity timeout; four connections from one address,
 * and the fifth is refused.
 */
static bool closed_within(int fd, int ms);

TEST(test_edge_variables_take_effect)
{
    char *env[] = {"MEMORI_HEADER_TIMEOUT_S=2", "MEMORI_BODY_TIMEOUT_S=2",
                   "MEMORI_MAX_CONNECTIONS_PER_PEER=4", "MEMORI_CONNECTION_TIMEOUT_S=30", NULL};
    CHECK(start(env));
    int head = tcp_dial(srv.port), body = tcp_dial(srv.port);
    CHECK(head >= 0 && body >= 0);
    CHECK(write(head, "GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ", 39) == 39);
    const char post[] = "POST /api/memories/search HTTP/1.1\r\nHost: x\r\n"
                        "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{";
    CHECK(write(body, post, sizeof post - 1) == (ssize_t)(sizeof post - 1));
    int64_t t0 = mr_monotonic_us();
    double head_s = 0, body_s = 0;
    while (mr_monotonic_us() - t0 < 6000000 && !(head_s && body_s)) {
        usleep(250 * 1000);
        double now = (mr_monotonic_us() - t0) / 1e6;
        if (!head_s && (send(head, "a", 1, MSG_NOSIGNAL) < 0 || closed_within(head, 1)))
            head_s = now;
        if (!body_s && (send(body, " ", 1, MSG_NOSIGNAL) < 0 || closed_within(body, 1)))
            body_s = now;
    }
    close(head);
    close(body);
    fprintf(stdout, "    header trickle cut after %.1f s, body trickle after %.1f s\n", head_s,
            body_s);
    CHECK(head_s >= 1.5 && head_s < 4);
    CHECK(body_s >= 1.5 && body_s < 4);
    usleep(200 * 1000);
    int fds[4];
    for (int i = 0; i < 4; i++)
        CHECK((fds[i] = tcp_dial(srv.port)) >= 0);
    usleep(100 * 1000);
    struct raw r;
    CHECK(SEND("GET /health HTTP/1.1\r\nHost: x\r\n\r\n", 1000, &r) == 0);
    CHECK_REFUSED(r, 503);
    raw_free(&r);
    close(fds[0]);
    usleep(200 * 1000);
    CHECK(SEND("GET /health HTTP/1.1\r\nHost: x\r\n\r\n", 300, &r) == 0);
    CHECK_INT(r.status, 200);
    raw_free(&r);
    for (int i = 1; i < 4; i++)
        close(fds[i]);
    stop();
}

/* A bad value of each new variable stops start-up with exit 2, naming the variable. */
TEST(test_edge_variables_are_checked_at_start)
{
    static const char *const bad[] = {"MEMORI_HEADER_TIMEOUT_S=0", "MEMORI_BODY_TIMEOUT_S=soon",
                                      "MEMORI_MAX_CONNECTIONS_PER_PEER=-3",
                                      "MEMORI_MAX_METADATA_BYTES=12",
                                      "MEMORI_MAX_RESPONSE_BYTES=1k"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char *args[] = {"serve", NULL}, *env[] = {(char *)bad[i], "PORT=0", NULL};
        char err[2048], name[64];
        int rc = run_memori(args, env, err, sizeof err);
        snprintf(name, sizeof name, "%.*s", (int)strcspn(bad[i], "="), bad[i]);
        if (rc != 2 || !strstr(err, name))
            test_fail(__FILE__, __LINE__, "%s: exit %d, said: %s", bad[i], rc, err);
    }
}

/* HEAD is answered wherever GET is, and a 405 says so in Allow. */
TEST(test_405_allow_names_head)
{
    CHECK(start(NULL));
    struct raw r;
    CHECK(SEND("DELETE /health HTTP/1.1\r\nHost: x\r\n\r\n", 300, &r) == 0);
    CHECK_INT(r.status, 405);
    CHECK(strstr(r.head, "\r\nAllow: GET, HEAD\r\n") != NULL);
    raw_free(&r);
    CHECK(SEND("PUT /api/conversations HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 300,
               &r) == 0);
    CHECK_INT(r.status, 405);
    CHECK(strstr(r.head, "\r\nAllow: POST, GET, HEAD\r\n") != NULL);
    raw_free(&r);
    stop();
}

/* The server code in this process, for options finer than a variable's whole seconds. */
static void echo_handler(void *ctx, const struct mr_http_request *req, struct mr_http_response *res)
{
    (void)ctx;
    char body[128];
    snprintf(body, sizeof body, "{\"method\":\"%s\",\"body_len\":%zu}", req->method, req->body_len);
    res->status = 200;
    res->body = strdup(body);
}

static struct mr_http_server *local_start(struct mr_http_options *o)
{
    o->host = "127.0.0.1";
    o->threads = 2;
    o->handler = echo_handler;
    struct mr_err err = {0};
    struct mr_http_server *s = mr_http_start(o, &err);
    if (s)
        srv.port = mr_http_port(s);
    return s;
}

/* Whether the server closed fd within ms. */
static bool closed_within(int fd, int ms)
{
    int64_t t0 = mr_monotonic_us();
    while (mr_monotonic_us() - t0 < ms * 1000LL) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 50) > 0) {
            char b[512];
            ssize_t n = read(fd, b, sizeof b);
            if (n <= 0)
                return true;
        }
    }
    return false;
}

TEST(test_header_and_body_deadlines_are_whole)
{
    struct mr_http_options o = {
        .header_timeout_s = 1, .body_timeout_s = 1, .connection_timeout_s = 30};
    struct mr_http_server *s = local_start(&o);
    CHECK(s);
    int head = tcp_dial(srv.port), body = tcp_dial(srv.port);
    CHECK(head >= 0 && body >= 0);
    CHECK(write(head, "GET / HTTP/1.1\r\n", 16) == 16);
    const char post[] = "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n";
    CHECK(write(body, post, sizeof post - 1) == (ssize_t)(sizeof post - 1));
    int64_t t0 = mr_monotonic_us();
    bool head_closed = false, body_closed = false;
    while (mr_monotonic_us() - t0 < 3000000 && !(head_closed && body_closed)) {
        usleep(150 * 1000);
        head_closed = head_closed || send(head, "X", 1, MSG_NOSIGNAL) < 0 || closed_within(head, 1);
        body_closed = body_closed || send(body, "x", 1, MSG_NOSIGNAL) < 0 || closed_within(body, 1);
    }
    double ms = (mr_monotonic_us() - t0) / 1000.0;
    /* A request that is quick is unaffected. */
    int fine = tcp_dial(srv.port);
    CHECK(fine >= 0);
    const char req[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    CHECK(write(fine, req, sizeof req - 1) == (ssize_t)(sizeof req - 1));
    char b[512] = "";
    struct pollfd p = {fine, POLLIN, 0};
    ssize_t n = poll(&p, 1, 1000) > 0 ? read(fine, b, sizeof b - 1) : -1;
    close(head);
    close(body);
    close(fine);
    mr_http_stop(s, 1000);
    CHECK(head_closed);
    CHECK(body_closed);
    CHECK(ms < 2500);
    CHECK(n > 12 && strncmp(b, "HTTP/1.1 200", 12) == 0);
}

TEST(test_limit_closes_idle_then_slowest_and_per_peer_limit)
{
    struct mr_http_options o = {.max_connections = 4};
    struct mr_http_server *s = local_start(&o);
    CHECK(s);
    /* Two idle keep-alive connections (answered), then two in their header phase. */
    int fds[7];
    const char req[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    for (int i = 0; i < 2; i++) {
        fds[i] = tcp_dial(srv.port);
        CHECK(write(fds[i], req, sizeof req - 1) == (ssize_t)(sizeof req - 1));
        char b[512];
        struct pollfd p = {fds[i], POLLIN, 0};
        CHECK(poll(&p, 1, 1000) > 0 && read(fds[i], b, sizeof b) > 0);
    }
    fds[2] = tcp_dial(srv.port);
    CHECK(write(fds[2], "GET", 3) == 3);
    usleep(50 * 1000);
    fds[3] = tcp_dial(srv.port);
    usleep(50 * 1000);
    /* Each new one closes the longest idle, then the next, then the slowest header phase. */
    fds[4] = tcp_dial(srv.port);
    CHECK(closed_within(fds[0], 500));
    CHECK(!closed_within(fds[1], 100));
    fds[5] = tcp_dial(srv.port);
    CHECK(closed_within(fds[1], 500));
    fds[6] = tcp_dial(srv.port);
    CHECK(closed_within(fds[2], 500));
    CHECK(!closed_within(fds[3], 100));
    /* The newest is served. */
    CHECK(write(fds[6], req, sizeof req - 1) == (ssize_t)(sizeof req - 1));
    char b[512] = "";
    struct pollfd p = {fds[6], POLLIN, 0};
    CHECK(poll(&p, 1, 1000) > 0 && read(fds[6], b, sizeof b - 1) > 12);
    CHECK(strncmp(b, "HTTP/1.1 200", 12) == 0);
    for (int i = 0; i < 7; i++)
        close(fds[i]);
    mr_http_stop(s, 1000);

    struct mr_http_options q = {.max_connections_per_peer = 3};
    s = local_start(&q);
    CHECK(s);
    for (int i = 0; i < 3; i++)
        fds[i] = tcp_dial(srv.port);
    struct raw r;
    CHECK(exchange(req, sizeof req - 1, 1000, &r) == 0);
    CHECK_REFUSED(r, 503);
    raw_free(&r);
    close(fds[0]);
    usleep(100 * 1000);
    CHECK(exchange(req, sizeof req - 1, 300, &r) == 0);
    CHECK_INT(r.status, 200);
    raw_free(&r);
    close(fds[1]);
    close(fds[2]);
    mr_http_stop(s, 1000);
}

/*
 * A child forked while the server holds a connection keeps that socket open,
 * so closing it does not take it out of the epoll set by itself: events for
 * the closed (and freed) connection must not reach it. Under ASan this was a
 * use-after-free when the tests started a Redis or PostgreSQL child.
 */
TEST(test_a_forked_child_holding_sockets_never_wakes_a_closed_connection)
{
    struct mr_http_options o = {.max_connections = 1};
    struct mr_http_server *s = local_start(&o);
    CHECK(s);
    int a = tcp_dial(srv.port);
    CHECK(a >= 0);
    CHECK(write(a, "GET", 3) == 3);
    usleep(100 * 1000); /* accepted, past its head's grace */
    pid_t child = fork();
    if (child == 0) {
        usleep(1500 * 1000); /* holds every descriptor the server had, then goes */
        _exit(0);
    }
    CHECK(child > 0);
    int b = tcp_dial(srv.port); /* at the limit: a is closed for b */
    CHECK(b >= 0);
    usleep(300 * 1000); /* a's connection freed at the end of that round */
    /* The server side of a still exists in the child: these bytes raise events on it. */
    const char more[] = " / HTTP/1.1\r\nHost: x\r\n\r\n";
    ssize_t w = send(a, more, sizeof more - 1, MSG_NOSIGNAL);
    (void)w;
    usleep(200 * 1000);
    /* The server still serves. */
    const char req[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    CHECK(write(b, req, sizeof req - 1) == (ssize_t)(sizeof req - 1));
    char buf[512] = "";
    struct pollfd p = {b, POLLIN, 0};
    CHECK(poll(&p, 1, 1000) > 0 && read(b, buf, sizeof buf - 1) > 12);
    CHECK(strncmp(buf, "HTTP/1.1 200", 12) == 0);
    int st = 0;
    waitpid(child, &st, 0);
    close(a);
    close(b);
    mr_http_stop(s, 1000);
}

TEST_MAIN("e2e_edge", T(test_smuggled_request_after_chunked_body_never_runs),
          T(test_repeated_or_conflicting_content_length_is_400),
          T(test_unknown_transfer_codings_are_refused_at_once),
          T(test_garbage_request_lines_are_400_at_once),
          T(test_oversized_chunked_body_is_413_at_the_limit),
          T(test_host_missing_or_repeated_is_400), T(test_control_bytes_in_headers_or_path_are_400),
          T(test_encoded_nul_and_empty_segments_never_route),
          T(test_protocol_errors_answer_json_never_html), T(test_head_is_get_without_body),
          T(test_access_log_cannot_be_forged), T(test_keep_alive_pipelining_and_expect_continue),
          T(test_slot_exhaustion_fresh_client_served_within_1s),
          T(test_trickled_headers_are_cut_at_the_header_deadline),
          T(test_header_and_body_deadlines_are_whole),
          T(test_limit_closes_idle_then_slowest_and_per_peer_limit),
          T(test_edge_variables_take_effect), T(test_edge_variables_are_checked_at_start),
          T(test_405_allow_names_head),
          T(test_a_forked_child_holding_sockets_never_wakes_a_closed_connection))
