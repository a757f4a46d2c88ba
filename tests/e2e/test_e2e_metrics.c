/*
 * GET /metrics and the request log against the real `memori serve`
 * (issue 18, items 3 and 4): counters that move by exactly the requests
 * sent, per route template and status; `promtool check metrics` on the live
 * output; JSON log lines that parse and carry the request id; X-Request-Id
 * echoed or generated; the user id never in the log in clear; a bad
 * LOG_FORMAT refused at start-up.
 */
#define _GNU_SOURCE
#include <openssl/sha.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "http_client.h"
#include "memori/clock.h"
#include "test.h"

#define CONV "6f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"

static struct server srv;

static bool start(char *const *env)
{
    return server_start_fresh(&srv, "metrics", env) == 0;
}

static bool stop(void)
{
    return server_stop_checked(&srv);
}

/* The body of GET /metrics (malloc'd) or NULL. */
static char *scrape(void)
{
    struct resp r;
    if (http(&srv, "GET", "/metrics", NULL, NULL, 0, &r) != 0 || r.status != 200) {
        resp_free(&r);
        return NULL;
    }
    char *text = r.body;
    r.body = NULL;
    if (strncmp(r.content_type, "text/plain; version=0.0.4", 25) != 0) {
        fprintf(stdout, "    Content-Type: %s\n", r.content_type);
        free(text);
        text = NULL;
    }
    resp_free(&r);
    return text;
}

/* The value of the sample named exactly `series` (name and labels) in text; 0 when absent. */
static double sample(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *l = text; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL)
        if (strncmp(l, series, n) == 0 && l[n] == ' ')
            return strtod(l + n + 1, NULL);
    return 0;
}

static double requests(const char *text, const char *route, const char *method, int status)
{
    char s[256];
    snprintf(s, sizeof s, "memori_http_requests_total{route=\"%s\",method=\"%s\",status=\"%d\"}",
             route, method, status);
    return sample(text, s);
}

static double duration_count(const char *text, const char *route, const char *method)
{
    char s[256];
    snprintf(s, sizeof s, "memori_http_request_duration_seconds_count{route=\"%s\",method=\"%s\"}",
             route, method);
    return sample(text, s);
}

struct expect {
    const char *route, *method;
    int status;
    int n;
};

/*
 * Scrapes until every expected counter moved by at least its n over base
 * (a request is counted as its log line is written, just after its answer
 * is sent), at most 3 s; the caller then checks they moved by exactly n.
 */
static char *scrape_after(const char *base, const struct expect *e, size_t n_e)
{
    int64_t until = mr_monotonic_us() + 3000000;
    for (;;) {
        char *text = scrape();
        bool all = text != NULL;
        for (size_t i = 0; all && i < n_e; i++)
            all = requests(text, e[i].route, e[i].method, e[i].status) -
                      requests(base, e[i].route, e[i].method, e[i].status) >=
                  e[i].n;
        if (all || mr_monotonic_us() > until)
            return text;
        free(text);
        usleep(20000);
    }
}

static bool create_memory(const char *user, const char *content, char *id)
{
    char body[1024];
    snprintf(body, sizeof body,
             "{\"content\":\"%s\",\"memory_type\":\"long_term\",\"conversation_id\":\"" CONV "\"}",
             content);
    struct resp r;
    bool ok = http(&srv, "POST", "/api/memories", user, body, SIZE_MAX, &r) == 0 && r.status == 201;
    if (ok && id)
        snprintf(id, 37, "%s", jstr(r.json, "memory_id"));
    if (!ok)
        fprintf(stdout, "    create failed: %ld %s\n", r.status, r.body);
    resp_free(&r);
    return ok;
}

static int status_of(const char *method, const char *path, const char *user)
{
    struct resp r;
    int st = http(&srv, method, path, user, NULL, 0, &r) == 0 ? (int)r.status : -1;
    resp_free(&r);
    return st;
}

TEST(test_counters_move_by_exactly_the_requests_sent)
{
    CHECK(start(NULL));
    char *base = scrape();
    CHECK(base);
    char ids[3][37], path[128];
    /* Three different facts: the same one again would be answered as its duplicate (200). */
    static const char *const facts[] = {"orders join customers on customer_id",
                                        "orders join products on product_id",
                                        "orders join regions on region_id"};
    for (int i = 0; i < 3; i++)
        CHECK(create_memory("alice", facts[i], ids[i]));
    for (int i = 0; i < 5; i++)
        CHECK_INT(status_of("GET", "/health", NULL), 200);
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "/api/memories/%s", ids[i]);
        CHECK_INT(status_of("GET", path, "alice"), 200);
    }
    /* Another user's memory is a 404 on the same route; a bad id a 422. */
    snprintf(path, sizeof path, "/api/memories/%s", ids[2]);
    CHECK_INT(status_of("GET", path, "bob"), 404);
    CHECK_INT(status_of("GET", "/api/memories/not-a-uuid", "alice"), 422);
    CHECK_INT(status_of("GET", "/api/memories/not-a-uuid-either", "alice"), 422);
    /* Paths no route has: one label, whatever was asked. */
    CHECK_INT(status_of("GET", "/no/such/path", NULL), 404);
    CHECK_INT(status_of("GET", "/another-one", NULL), 404);
    CHECK_INT(status_of("DELETE", "/health", NULL), 405);
    const struct expect e[] = {
        {"/api/memories", "POST", 201, 3},
        {"/health", "GET", 200, 5},
        {"/api/memories/{memory_id}", "GET", 200, 2},
        {"/api/memories/{memory_id}", "GET", 404, 1},
        {"/api/memories/{memory_id}", "GET", 422, 2},
        {"unmatched", "GET", 404, 2},
        {"unmatched", "DELETE", 405, 1},
    };
    char *text = scrape_after(base, e, sizeof e / sizeof e[0]);
    CHECK(text);
    for (size_t i = 0; i < sizeof e / sizeof e[0]; i++) {
        double moved = requests(text, e[i].route, e[i].method, e[i].status) -
                       requests(base, e[i].route, e[i].method, e[i].status);
        if (moved != e[i].n)
            fprintf(stdout, "    %s %s %d moved by %g\n", e[i].method, e[i].route, e[i].status,
                    moved);
        CHECK(moved == e[i].n);
    }
    /* The histogram counts the same requests: _count and the +Inf bucket. */
    CHECK(duration_count(text, "/health", "GET") - duration_count(base, "/health", "GET") == 5);
    CHECK(duration_count(text, "/api/memories/{memory_id}", "GET") -
              duration_count(base, "/api/memories/{memory_id}", "GET") ==
          5);
    CHECK(sample(text, "memori_http_request_duration_seconds_bucket{route=\"/health\",method="
                       "\"GET\",le=\"+Inf\"}") == duration_count(text, "/health", "GET"));
    /* Bounded labels: no id or raw path reaches a label. */
    CHECK(strstr(text, ids[0]) == NULL);
    CHECK(strstr(text, "not-a-uuid") == NULL);
    CHECK(strstr(text, "/no/such/path") == NULL);
    /* Gauges and build info. */
    CHECK(strstr(text, "# TYPE memori_build_info gauge\n"));
    char info[256];
    snprintf(info, sizeof info, "memori_build_info{version=\"%s\",store=\"%s\",", "0.1.0",
             strcmp(test_backend(), "postgres") == 0 ? "postgres" : "sqlite");
    CHECK(strstr(text, info));
    if (strcmp(test_backend(), "sqlite") == 0) {
        CHECK(sample(text, "memori_memories") == 3);
        CHECK(sample(text, "memori_index_partitions") == 1);
        CHECK(sample(text, "memori_lexical_index_documents") == 3);
        CHECK(sample(text, "memori_lexical_index_bytes") > 0);
        CHECK(strstr(text, "memori_hnsw_graphs{state=\"building\"} 0\n"));
    }
    CHECK(strstr(text, "# TYPE memori_embedding_provider_duration_seconds histogram\n"));
    /* Three creates, each one provider call (the search-free GETs embed nothing). */
    CHECK(sample(text, "memori_embedding_provider_calls_total") -
              sample(base, "memori_embedding_provider_calls_total") ==
          3);
    free(base);
    free(text);
    stop();
}

TEST(test_promtool_accepts_the_live_output)
{
    /* CI installs it (scripts/install-test-deps.sh): absent is a failure, not a skip. */
    if (system("command -v promtool >/dev/null 2>&1") != 0) {
        test_fail(__FILE__, __LINE__, "promtool not found: run scripts/install-test-deps.sh");
        return;
    }
    CHECK(start(NULL));
    CHECK(create_memory("alice", "revenue by region", NULL));
    CHECK_INT(status_of("GET", "/health", NULL), 200);
    CHECK_INT(status_of("GET", "/nowhere", NULL), 404);
    CHECK_INT(status_of("HEAD", "/health", NULL), 200);
    struct resp r;
    CHECK(http(&srv, "POST", "/api/memories/search", "alice", "{\"query\":\"revenue\"}", SIZE_MAX,
               &r) == 0);
    CHECK_INT(r.status, 200);
    resp_free(&r);
    char *text = scrape();
    CHECK(text);
    CHECK(strstr(text, "route=\"/health\",method=\"HEAD\""));
    char file[512], out[512], cmd[1200];
    test_path(file, sizeof file, "metrics.txt");
    test_path(out, sizeof out, "promtool.txt");
    FILE *f = fopen(file, "w");
    CHECK(f);
    fputs(text, f);
    fclose(f);
    free(text);
    snprintf(cmd, sizeof cmd, "promtool check metrics < '%s' > '%s' 2>&1", file, out);
    int rc = system(cmd);
    char said[4096] = "";
    f = fopen(out, "r");
    if (f) {
        size_t n = fread(said, 1, sizeof said - 1, f);
        said[n] = '\0';
        fclose(f);
    }
    if (rc != 0 || said[0])
        fprintf(stdout, "    promtool (exit %d): %s\n", rc, said);
    CHECK(rc == 0);
    CHECK(said[0] == '\0'); /* not even a lint remark */
    stop();
}

/* Sends one raw request with extra header lines (each ending in \r\n); the answer into buf. */
static bool raw_request(const char *method, const char *path, const char *headers, const char *body,
                        char *buf, size_t cap)
{
    int fd = tcp_dial(srv.port);
    if (fd < 0)
        return false;
    char req[4096];
    int n = snprintf(req, sizeof req,
                     "%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n%s"
                     "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                     method, path, headers, body ? strlen(body) : 0, body ? body : "");
    bool ok = write(fd, req, (size_t)n) == n;
    size_t len = 0;
    while (ok && len + 1 < cap) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 5000) <= 0)
            break;
        ssize_t k = read(fd, buf + len, cap - 1 - len);
        if (k <= 0)
            break;
        len += (size_t)k;
    }
    buf[len] = '\0';
    close(fd);
    return ok && len > 12;
}

/* The X-Request-Id header's value in an answer, into out (cap bytes); "" when absent. */
static const char *request_id_of(const char *answer, char *out, size_t cap)
{
    out[0] = '\0';
    const char *h = strstr(answer, "\r\nX-Request-Id: ");
    const char *end = h ? strstr(h + 2, "\r\n") : NULL;
    if (h && end)
        snprintf(out, cap, "%.*s", (int)(end - h - 16), h + 16);
    return out;
}

static bool is_uuid_v4(const char *s)
{
    if (strlen(s) != 36 || s[14] != '4' || !strchr("89ab", s[19]))
        return false;
    for (int i = 0; i < 36; i++)
        if (i == 8 || i == 13 || i == 18 || i == 23 ? s[i] != '-'
                                                    : !strchr("0123456789abcdef", s[i]))
            return false;
    return true;
}

/* The server's log (after stop) into a static buffer. */
static const char *read_log(void)
{
    static char log[1 << 18];
    FILE *f = fopen(srv.log, "rb");
    size_t n = f ? fread(log, 1, sizeof log - 1, f) : 0;
    if (f)
        fclose(f);
    log[n] = '\0';
    return log;
}

static void expected_tag(const char *tenant, const char *user, char out[13])
{
    char text[512];
    int n = snprintf(text, sizeof text, "%s:%s", tenant, user);
    unsigned char d[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)text, (size_t)n, d);
    for (int i = 0; i < 6; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

TEST(test_request_id_is_echoed_or_generated)
{
    CHECK(start(NULL));
    char answer[8192], id[256], gen1[256], gen2[256], gen3[256];
    CHECK(raw_request("GET", "/health", "X-Request-Id: trace-7f3a.b_c:d\r\n", NULL, answer,
                      sizeof answer));
    CHECK_STR(request_id_of(answer, id, sizeof id), "trace-7f3a.b_c:d");
    /* None sent: a fresh UUID v4 each time. */
    CHECK(raw_request("GET", "/health", "", NULL, answer, sizeof answer));
    CHECK(is_uuid_v4(request_id_of(answer, gen1, sizeof gen1)));
    CHECK(raw_request("GET", "/nowhere", "", NULL, answer, sizeof answer));
    CHECK(is_uuid_v4(request_id_of(answer, gen2, sizeof gen2)));
    CHECK(strcmp(gen1, gen2) != 0);
    /* Not acceptable (a space; longer than 128 bytes): replaced, never echoed. */
    CHECK(
        raw_request("GET", "/health", "X-Request-Id: two words\r\n", NULL, answer, sizeof answer));
    CHECK(is_uuid_v4(request_id_of(answer, gen3, sizeof gen3)));
    char longer[200], hdr[300];
    memset(longer, 'a', 129);
    longer[129] = '\0';
    snprintf(hdr, sizeof hdr, "X-Request-Id: %s\r\n", longer);
    CHECK(raw_request("GET", "/health", hdr, NULL, answer, sizeof answer));
    CHECK(is_uuid_v4(request_id_of(answer, id, sizeof id)));
    /* Exactly 128 is kept. */
    longer[128] = '\0';
    snprintf(hdr, sizeof hdr, "X-Request-Id: %s\r\n", longer);
    CHECK(raw_request("GET", "/health", hdr, NULL, answer, sizeof answer));
    CHECK_STR(request_id_of(answer, id, sizeof id), longer);
    /* The server's own answers (a bad request) carry one too. */
    CHECK(
        raw_request("GET", "/a%00b", "X-Request-Id: bad-path-1\r\n", NULL, answer, sizeof answer));
    CHECK(strncmp(answer, "HTTP/1.1 404", 12) == 0);
    CHECK_STR(request_id_of(answer, id, sizeof id), "bad-path-1");
    CHECK(stop());
    /* Each answer's id is the one its log line names. */
    const char *log = read_log();
    CHECK(strstr(log, "access GET /health 200 "));
    CHECK(strstr(log, " route=/health user=- request_id=trace-7f3a.b_c:d\n"));
    char want[300];
    snprintf(want, sizeof want, "request_id=%s\n", gen1);
    CHECK(strstr(log, want));
    snprintf(want, sizeof want, "route=unmatched user=- request_id=%s\n", gen2);
    CHECK(strstr(log, want));
    snprintf(want, sizeof want, "request_id=%s\n", gen3);
    CHECK(strstr(log, want));
    CHECK(strstr(log, "request_id=bad-path-1\n"));
}

TEST(test_json_log_lines_parse_and_carry_the_request_id)
{
    char *env[] = {"LOG_FORMAT=json", NULL};
    CHECK(start(env));
    char answer[8192], id[256];
    const char *body = "{\"content\":\"the marmalade-secret column\",\"memory_type\":\"long_term\","
                       "\"conversation_id\":\"" CONV "\"}";
    CHECK(raw_request("POST", "/api/memories",
                      "X-Request-Id: json-rid-1\r\nX-User-Id: carol-in-clear\r\n", body, answer,
                      sizeof answer));
    CHECK(strncmp(answer, "HTTP/1.1 201", 12) == 0);
    CHECK_STR(request_id_of(answer, id, sizeof id), "json-rid-1");
    /* A path with every byte a JSON string must escape. */
    CHECK(raw_request("GET", "/q%22uote%5Cback%0Aline%01", "X-Request-Id: json-rid-2\r\n", NULL,
                      answer, sizeof answer));
    CHECK(
        raw_request("GET", "/health", "X-Request-Id: json\"rid\r\n", NULL, answer, sizeof answer));
    CHECK_STR(request_id_of(answer, id, sizeof id), "json\"rid");
    CHECK(stop());
    const char *log = read_log();
    char tag[13];
    expected_tag("default", "carol-in-clear", tag);
    int access = 0;
    bool seen1 = false, seen2 = false, seen3 = false;
    for (const char *l = log; *l;) {
        const char *end = strchr(l, '\n');
        size_t n = end ? (size_t)(end - l) : strlen(l);
        if (n && l[0] == '{') {
            json_error_t e;
            json_t *o = json_loadb(l, n, 0, &e);
            if (!o)
                fprintf(stdout, "    not JSON (%s): %.*s\n", e.text, (int)n, l);
            CHECK(o);
            CHECK_STR(jstr(o, "type"), "access");
            access++;
            const char *rid = jstr(o, "request_id");
            CHECK(rid && jstr(o, "route") && jstr(o, "method") && jstr(o, "time"));
            CHECK(json_is_integer(json_object_get(o, "status")));
            CHECK(json_is_number(json_object_get(o, "duration_ms")));
            if (strcmp(rid, "json-rid-1") == 0) {
                seen1 = true;
                CHECK_STR(jstr(o, "route"), "/api/memories");
                CHECK_STR(jstr(o, "method"), "POST");
                CHECK_INT(jint(o, "status"), 201);
                CHECK_STR(jstr(o, "user"), tag);
            } else if (strcmp(rid, "json-rid-2") == 0) {
                seen2 = true;
                /* Decodes to what the text line shows: the client's bytes escaped. */
                CHECK_STR(jstr(o, "path"), "/q\"uote\\x5cback\\x0aline\\x01");
                CHECK_STR(jstr(o, "route"), "unmatched");
            } else if (strcmp(rid, "json\"rid") == 0) {
                seen3 = true;
                CHECK_STR(jstr(o, "user"), "-");
            }
            json_decref(o);
        }
        l += n + (end != NULL);
    }
    CHECK(seen1 && seen2 && seen3);
    CHECK_INT(access, 3);
    /* Neither the user id nor the memory's content is in the log. */
    CHECK(strstr(log, "carol-in-clear") == NULL);
    CHECK(strstr(log, "marmalade") == NULL);
}

TEST(test_user_id_is_logged_as_a_tag_never_in_clear)
{
    CHECK(start(NULL));
    CHECK(create_memory("dave-plain-id", "churn by cohort", NULL));
    CHECK_INT(status_of("GET", "/api/conversations", "dave-plain-id"), 200);
    CHECK_INT(status_of("GET", "/api/conversations", "erin"), 200);
    CHECK(stop());
    const char *log = read_log();
    char dave[13], erin[13], want[64];
    expected_tag("default", "dave-plain-id", dave);
    expected_tag("default", "erin", erin);
    snprintf(want, sizeof want, "route=/api/memories user=%s ", dave);
    CHECK(strstr(log, want));
    snprintf(want, sizeof want, "route=/api/conversations user=%s ", dave);
    CHECK(strstr(log, want));
    snprintf(want, sizeof want, "route=/api/conversations user=%s ", erin);
    CHECK(strstr(log, want));
    CHECK(strcmp(dave, erin) != 0);
    CHECK(strstr(log, "dave-plain-id") == NULL);
    CHECK(strstr(log, "churn") == NULL);
}

TEST(test_bad_log_format_exits_2_naming_it)
{
    char err[4096], db[512], url[700];
    test_path(db, sizeof db, "metrics-badlog.db");
    CHECK(test_database_url(db, url, sizeof url) == 0);
    char *env[] = {url, "PORT=0", "LOG_FORMAT=xml", NULL};
    char *serve[] = {"serve", NULL};
    CHECK_INT(run_memori(serve, env, err, sizeof err), 2);
    CHECK(strstr(err, "LOG_FORMAT") != NULL);
    CHECK(strstr(err, "text|json") != NULL);
}

TEST_MAIN("e2e_metrics", T(test_counters_move_by_exactly_the_requests_sent),
          T(test_promtool_accepts_the_live_output), T(test_request_id_is_echoed_or_generated),
          T(test_json_log_lines_parse_and_carry_the_request_id),
          T(test_user_id_is_logged_as_a_tag_never_in_clear),
          T(test_bad_log_format_exits_2_naming_it))
