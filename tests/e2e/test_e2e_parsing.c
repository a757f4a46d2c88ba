/*
 * Requests read as the reference (FastAPI + pydantic v2) reads them, and
 * answers bounded, against the real server (issue 13, items 3, 4, 5, 7):
 * the Content-Type rule for JSON bodies, exact 64-bit integers, big
 * integers in metadata, strict numbers, repeated query parameters,
 * booleans, trimmed identity headers, JWT claim types and alg, the
 * conversation-id existence oracle, and the metadata and response bounds.
 */
#define _GNU_SOURCE
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "http_client.h"
#include "test.h"

#define SECRET "e2e-parsing-secret-0123456789abcdef-xyz"
#define CONV "6f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
#define CONV2 "7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"

static struct server srv;

static bool start(char *const *env)
{
    return server_start_fresh(&srv, "parsing", env) == 0;
}

static void stop(void)
{
    server_stop_checked(&srv);
}

/* One answer read off a raw socket. */
struct raw {
    int status;
    char *body; /* malloc'd, NUL-terminated */
    json_t *json;
};

static void raw_free(struct raw *r)
{
    free(r->body);
    json_decref(r->json);
    memset(r, 0, sizeof *r);
}

/*
 * Sends method path with the extra header lines (each ending in \r\n; may be
 * NULL) and body, on a new connection, and reads the answer.
 */
static int raw(const char *method, const char *path, const char *headers, const char *body,
               struct raw *out)
{
    memset(out, 0, sizeof *out);
    size_t blen = body ? strlen(body) : 0;
    size_t cap = blen + strlen(path) + (headers ? strlen(headers) : 0) + 256;
    char *req = malloc(cap);
    int n = snprintf(req, cap, "%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n%s", method, path,
                     headers ? headers : "");
    if (body)
        n += snprintf(req + n, cap - (size_t)n, "Content-Length: %zu\r\n", blen);
    n += snprintf(req + n, cap - (size_t)n, "\r\n%s", body ? body : "");
    int fd = tcp_dial(srv.port);
    if (fd < 0) {
        free(req);
        return -1;
    }
    for (int off = 0; off < n;) {
        ssize_t w = send(fd, req + off, (size_t)(n - off), MSG_NOSIGNAL);
        if (w <= 0)
            break;
        off += (int)w;
    }
    free(req);
    size_t len = 0, rcap = 1 << 16;
    char *buf = malloc(rcap);
    for (;;) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 5000) <= 0)
            break;
        if (len + 4096 > rcap)
            buf = realloc(buf, rcap *= 2);
        ssize_t k = recv(fd, buf + len, rcap - len - 1, 0);
        if (k <= 0)
            break;
        len += (size_t)k;
    }
    close(fd);
    buf[len] = '\0';
    char *sep = strstr(buf, "\r\n\r\n");
    if (len < 12 || !sep) {
        free(buf);
        return -1;
    }
    out->status = atoi(buf + 9);
    out->body = strdup(sep + 4);
    out->json = json_loads(out->body, 0, NULL);
    free(buf);
    return 0;
}

/* A JSON request as user (X-User-Id) with this Content-Type line (NULL: none). */
static int send_as(const char *method, const char *path, const char *user, const char *content_type,
                   const char *body, struct raw *out)
{
    char headers[512] = "";
    int n = 0;
    if (user)
        n += snprintf(headers + n, sizeof headers - (size_t)n, "X-User-Id: %s\r\n", user);
    if (content_type)
        snprintf(headers + n, sizeof headers - (size_t)n, "Content-Type: %s\r\n", content_type);
    return raw(method, path, headers, body, out);
}

/*
 * r's body parsed with integers past int64 read as reals (this client's
 * jansson refuses them; the server keeps them), into r->json.
 */
static void reparse(struct resp *r)
{
    json_decref(r->json);
    r->json = json_loads(r->body, JSON_DECODE_INT_AS_REAL, NULL);
}

static long long total_of(const char *user)
{
    struct resp r;
    http(&srv, "GET", "/api/memories/statistics/summary", user, NULL, 0, &r);
    long long n = r.status == 200 ? jint(r.json, "total_memories") : -1;
    resp_free(&r);
    return n;
}

/* The first error of a 422 detail list: its type and loc joined by '.'. */
static void first_err(const json_t *doc, char *type, size_t tcap, char *loc, size_t lcap)
{
    json_t *e = json_array_get(json_object_get(doc, "detail"), 0);
    snprintf(type, tcap, "%s", json_string_value(json_object_get(e, "type")) ?: "");
    loc[0] = '\0';
    json_t *l = json_object_get(e, "loc"), *item;
    size_t i;
    json_array_foreach(l, i, item)
    {
        size_t used = strlen(loc);
        if (json_is_string(item))
            snprintf(loc + used, lcap - used, "%s%s", i ? "." : "", json_string_value(item));
        else
            snprintf(loc + used, lcap - used, "%s%lld", i ? "." : "",
                     (long long)json_integer_value(item));
    }
}

#define CHECK_422(r, want_type, want_loc)                                                          \
    do {                                                                                           \
        char t_[64], l_[128];                                                                      \
        first_err((r).json, t_, sizeof t_, l_, sizeof l_);                                         \
        if ((r).status != 422 || strcmp(t_, want_type) != 0 || strcmp(l_, want_loc) != 0)          \
            fprintf(stdout, "    got %d %s\n", (r).status, (r).body ? (r).body : "");              \
        CHECK_INT((r).status, 422);                                                                \
        CHECK_STR(t_, want_type);                                                                  \
        CHECK_STR(l_, want_loc);                                                                   \
    } while (0)

static const char MEMORY[] =
    "{\"content\":\"orders join customers on customer_id\",\"memory_type\":\"rule\","
    "\"conversation_id\":\"" CONV "\"}";

/* Item 4: a JSON body needs a JSON Content-Type, as FastAPI ≥ 0.132 answers. */
TEST(test_json_bodies_need_a_json_content_type)
{
    CHECK(start(NULL));
    static const char *const refused[] = {"text/plain", "text/plain;charset=UTF-8", NULL,
                                          "application/x-www-form-urlencoded",
                                          "application/geo+json-seq"};
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
        struct raw r;
        CHECK(send_as("POST", "/api/memories", "csrf", refused[i], MEMORY, &r) == 0);
        CHECK_422(r, "model_attributes_type", "body");
        json_t *e = json_array_get(json_object_get(r.json, "detail"), 0);
        CHECK_STR(json_string_value(json_object_get(e, "msg")),
                  "Input should be a valid dictionary or object to extract fields from");
        CHECK_STR(json_string_value(json_object_get(e, "input")), MEMORY);
        raw_free(&r);
    }
    CHECK_INT(total_of("csrf"), 0); /* nothing was stored */
    /* Every route with a JSON body, the same. */
    static const struct {
        const char *method, *path, *body;
    } routes[] = {
        {"POST", "/api/memories/search", "{\"query\":\"orders\"}"},
        {"POST", "/api/conversations", "{\"title\":\"t\"}"},
        {"PATCH", "/api/memories/00000000-0000-4000-8000-000000000000", "{\"content\":\"x\"}"},
        {"PATCH", "/api/conversations/" CONV, "{\"title\":\"t\"}"},
        {"PUT", "/api/data-sources/1/schema",
         "{\"dialect\":\"sqlite\",\"ddl\":\"CREATE TABLE t(a)\"}"},
        {"POST", "/api/examples", "{\"question\":\"q\",\"sql\":\"SELECT 1\",\"data_source_id\":1}"},
    };
    for (size_t i = 0; i < sizeof routes / sizeof *routes; i++) {
        struct raw r;
        CHECK(send_as(routes[i].method, routes[i].path, "csrf", "text/plain", routes[i].body, &r) ==
              0);
        CHECK_422(r, "model_attributes_type", "body");
        raw_free(&r);
    }
    /* JSON types are read, parameters and case as email.message reads them. */
    static const char *const accepted[] = {"application/json; charset=utf-8",
                                           "application/vnd.api+json", "APPLICATION/JSON"};
    for (size_t i = 0; i < sizeof accepted / sizeof *accepted; i++) {
        /* A fact of its own each: the same one again would be answered as its duplicate (200). */
        char body[256];
        snprintf(body, sizeof body,
                 "{\"content\":\"orders join customers on customer_id, case %zu\","
                 "\"memory_type\":\"rule\",\"conversation_id\":\"" CONV "\"}",
                 i);
        struct raw r;
        CHECK(send_as("POST", "/api/memories", "csrf", accepted[i], body, &r) == 0);
        CHECK_INT(r.status, 201);
        raw_free(&r);
    }
    CHECK_INT(total_of("csrf"), 3);
    /* A create without a body needs no type (every field of a conversation has a default). */
    struct raw r;
    CHECK(send_as("POST", "/api/conversations", "csrf", NULL, NULL, &r) == 0);
    CHECK_INT(r.status, 201);
    raw_free(&r);
    stop();
}

/* Item 5: 64-bit integers exact, with int64's own bounds. */
TEST(test_data_source_id_is_exact)
{
    CHECK(start(NULL));
    struct resp r;
    CHECK(http(&srv, "POST", "/api/conversations", "ds",
               "{\"conversation_id\":\"" CONV "\",\"data_source_id\":9007199254740993}", SIZE_MAX,
               &r) == 0);
    CHECK_INT(r.status, 201);
    CHECK(strstr(r.body, "\"data_source_id\":9007199254740993,") != NULL);
    resp_free(&r);
    CHECK(http(&srv, "GET", "/api/conversations/" CONV, "ds", NULL, 0, &r) == 0);
    CHECK(json_integer_value(json_object_get(r.json, "data_source_id")) ==
          INT64_C(9007199254740993));
    resp_free(&r);
    CHECK(http(&srv, "PATCH", "/api/conversations/" CONV, "ds",
               "{\"data_source_id\":\"9223372036854775807\"}", SIZE_MAX, &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK(strstr(r.body, "\"data_source_id\":9223372036854775807,") != NULL);
    resp_free(&r);
    static const struct {
        const char *body, *type;
    } bad[] = {{"{\"data_source_id\":9223372036854775808}", "less_than_equal"},
               {"{\"data_source_id\":-9223372036854775809}", "greater_than_equal"},
               {"{\"data_source_id\":\"0x10\"}", "int_parsing"}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        CHECK(http(&srv, "PATCH", "/api/conversations/" CONV, "ds", bad[i].body, SIZE_MAX, &r) ==
              0);
        reparse(&r); /* the 422 echoes the input */
        char type[64], loc[128];
        CHECK_INT(r.status, 422);
        CHECK(first_error(&r, type, sizeof type, loc, sizeof loc));
        CHECK_STR(type, bad[i].type);
        CHECK_STR(loc, "body.data_source_id");
        resp_free(&r);
    }
    stop();
}

/* Item 5: integers past int64 inside metadata are kept, digit for digit. */
TEST(test_big_integers_in_metadata_are_kept)
{
    CHECK(start(NULL));
    struct resp r;
    CHECK(http(&srv, "POST", "/api/memories", "big",
               "{\"content\":\"big numbers in metadata\",\"memory_type\":\"entity\","
               "\"conversation_id\":\"" CONV
               "\",\"metadata\":{\"n\":123456789012345678901234567890,"
               "\"neg\":-9223372036854775809,\"l\":[18446744073709551616]}}",
               SIZE_MAX, &r) == 0);
    CHECK_INT(r.status, 201);
    CHECK(strstr(r.body, "\"metadata\":{\"n\":123456789012345678901234567890,\"neg\":"
                         "-9223372036854775809,\"l\":[18446744073709551616]}") != NULL);
    reparse(&r);
    char path[128];
    snprintf(path, sizeof path, "/api/memories/%s", jstr(r.json, "memory_id"));
    resp_free(&r);
    CHECK(http(&srv, "PATCH", path, "big", "{\"metadata\":{\"k\":99999999999999999999}}", SIZE_MAX,
               &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK(strstr(r.body, "\"l\":[18446744073709551616],\"k\":99999999999999999999}") != NULL);
    resp_free(&r);
    CHECK(http(&srv, "POST", "/api/memories/search", "big",
               "{\"query\":\"big numbers in metadata\",\"min_similarity\":0}", SIZE_MAX, &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK(strstr(r.body, "\"n\":123456789012345678901234567890") != NULL);
    resp_free(&r);
    /* Conversations' metadata too. */
    CHECK(http(&srv, "POST", "/api/conversations", "big",
               "{\"metadata\":{\"n\":-123456789012345678901234567890}}", SIZE_MAX, &r) == 0);
    CHECK_INT(r.status, 201);
    CHECK(strstr(r.body, "\"metadata\":{\"n\":-123456789012345678901234567890}") != NULL);
    resp_free(&r);
    stop();
}

/* Item 5: numbers in strings as pydantic reads them; no hexadecimal. */
TEST(test_numbers_are_parsed_strictly)
{
    CHECK(start(NULL));
    struct resp r;
    char type[64], loc[128];
    CHECK(http(&srv, "POST", "/api/memories", "num",
               "{\"content\":\"c\",\"memory_type\":\"rule\",\"conversation_id\":\"" CONV
               "\",\"importance_score\":\"0x1\"}",
               SIZE_MAX, &r) == 0);
    CHECK_INT(r.status, 422);
    CHECK(first_error(&r, type, sizeof type, loc, sizeof loc));
    CHECK_STR(type, "float_parsing");
    CHECK_STR(loc, "body.importance_score");
    resp_free(&r);
    CHECK_INT(total_of("num"), 0);
    CHECK(http(&srv, "POST", "/api/memories", "num",
               "{\"content\":\"c\",\"memory_type\":\"rule\",\"conversation_id\":\"" CONV
               "\",\"importance_score\":\" 0.75 \"}",
               SIZE_MAX, &r) == 0);
    CHECK_INT(r.status, 201);
    CHECK_NEAR(jnum(r.json, "importance_score"), 0.75, 1e-12);
    resp_free(&r);
    CHECK(http(&srv, "POST", "/api/memories/search", "num", "{\"query\":\"c\",\"limit\":\"0x5\"}",
               SIZE_MAX, &r) == 0);
    CHECK_INT(r.status, 422);
    CHECK(first_error(&r, type, sizeof type, loc, sizeof loc));
    CHECK_STR(type, "int_parsing");
    resp_free(&r);
    CHECK(http(&srv, "GET", "/api/conversations?limit=0x5", "num", NULL, 0, &r) == 0);
    CHECK_INT(r.status, 422);
    resp_free(&r);
    stop();
}

/* Item 5: a repeated query parameter takes its last value; booleans as pydantic reads them. */
TEST(test_query_parameters_as_fastapi_reads_them)
{
    CHECK(start(NULL));
    struct resp r;
    CHECK(http(&srv, "GET", "/api/conversations?limit=1&limit=3", "q", NULL, 0, &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK_INT(jint(r.json, "limit"), 3);
    resp_free(&r);
    CHECK(http(&srv, "POST", "/api/memories/maintenance/archive?days_threshold=0&days_threshold=30",
               "q", NULL, 0, &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK_INT(jint(r.json, "threshold_days"), 30);
    resp_free(&r);
    /* all_users read as true (no developer is an admin: 403), false (200), or 422. */
    static const char *const yes[] = {"TRUE", "True", "yes", "On", "t", "Y", "1"};
    static const char *const no[] = {"FALSE", "no", "Off", "f", "N", "0"};
    char path[128];
    for (size_t i = 0; i < sizeof yes / sizeof *yes; i++) {
        snprintf(path, sizeof path, "/api/memories/statistics/summary?all_users=%s", yes[i]);
        CHECK(http(&srv, "GET", path, "q", NULL, 0, &r) == 0);
        if (r.status != 403)
            fprintf(stdout, "    all_users=%s: %ld\n", yes[i], r.status);
        CHECK_INT(r.status, 403);
        resp_free(&r);
    }
    for (size_t i = 0; i < sizeof no / sizeof *no; i++) {
        snprintf(path, sizeof path, "/api/memories/statistics/summary?all_users=%s", no[i]);
        CHECK(http(&srv, "GET", path, "q", NULL, 0, &r) == 0);
        CHECK_INT(r.status, 200);
        resp_free(&r);
    }
    CHECK(http(&srv, "GET", "/api/memories/statistics/summary?all_users=maybe", "q", NULL, 0, &r) ==
          0);
    CHECK_INT(r.status, 422);
    resp_free(&r);
    stop();
}

/* Item 5: X-User-Id is read without the spaces around it. */
TEST(test_identity_header_is_trimmed)
{
    CHECK(start(NULL));
    struct raw r;
    CHECK(raw("POST", "/api/memories", "X-User-Id: alice \t\r\nContent-Type: application/json\r\n",
              MEMORY, &r) == 0);
    CHECK_INT(r.status, 201);
    CHECK_STR(json_string_value(json_object_get(r.json, "user_id")), "alice");
    raw_free(&r);
    CHECK_INT(total_of("alice"), 1);
    stop();
}

/* Item 7: another user's conversation id looks like a conversation that is not there. */
TEST(test_foreign_conversation_id_is_not_told)
{
    CHECK(start(NULL));
    struct resp r;
    CHECK(http(&srv, "POST", "/api/conversations", "alice", "{\"conversation_id\":\"" CONV "\"}",
               SIZE_MAX, &r) == 0);
    CHECK_INT(r.status, 201);
    resp_free(&r);
    CHECK(http(&srv, "POST", "/api/conversations", "bob", "{\"conversation_id\":\"" CONV "\"}",
               SIZE_MAX, &r) == 0);
    CHECK_INT(r.status, 404);
    char conv_body[512];
    snprintf(conv_body, sizeof conv_body, "%s", r.body);
    CHECK(strstr(r.body, "already") == NULL);
    resp_free(&r);
    /* The same answer as for writing a memory into it. */
    CHECK(http(&srv, "POST", "/api/memories", "bob", MEMORY, SIZE_MAX, &r) == 0);
    CHECK_INT(r.status, 404);
    CHECK_STR(r.body, conv_body);
    resp_free(&r);
    CHECK_INT(total_of("bob"), 0);
    /* The owner's own id is still a conflict. */
    CHECK(http(&srv, "POST", "/api/conversations", "alice", "{\"conversation_id\":\"" CONV "\"}",
               SIZE_MAX, &r) == 0);
    CHECK_INT(r.status, 409);
    resp_free(&r);
    stop();
}

/* Item 3: metadata is bounded on create and after a merge; nothing is stored past it. */
TEST(test_metadata_is_bounded)
{
    CHECK(start(NULL));
    size_t big = 70 * 1024, fits = 60 * 1024;
    char *body = malloc(big + 512);
    int n = sprintf(body, "{\"content\":\"c\",\"memory_type\":\"rule\",\"conversation_id\":\"" CONV
                          "\",\"metadata\":{\"blob\":\"");
    memset(body + n, 'x', big);
    strcpy(body + n + big, "\"}}");
    struct resp r;
    CHECK(http(&srv, "POST", "/api/memories", "meta", body, SIZE_MAX, &r) == 0);
    CHECK_INT(r.status, 413);
    CHECK(jstr(r.json, "detail") && strstr(jstr(r.json, "detail"), "metadata") &&
          strstr(jstr(r.json, "detail"), "65536"));
    resp_free(&r);
    CHECK_INT(total_of("meta"), 0);
    strcpy(body + n + fits, "\"}}");
    CHECK(http(&srv, "POST", "/api/memories", "meta", body, SIZE_MAX, &r) == 0);
    CHECK_INT(r.status, 201);
    char path[128];
    snprintf(path, sizeof path, "/api/memories/%s", jstr(r.json, "memory_id"));
    resp_free(&r);
    /* 60 KiB + 10 KiB more by a merge: refused, the stored one unchanged. */
    n = sprintf(body, "{\"content\":\"changed\",\"metadata\":{\"more\":\"");
    memset(body + n, 'y', 10 * 1024);
    strcpy(body + n + 10 * 1024, "\"}}");
    CHECK(http(&srv, "PATCH", path, "meta", body, SIZE_MAX, &r) == 0);
    CHECK_INT(r.status, 413);
    CHECK(strstr(jstr(r.json, "detail"), "metadata") && strstr(jstr(r.json, "detail"), "merge"));
    resp_free(&r);
    CHECK(http(&srv, "GET", path, "meta", NULL, 0, &r) == 0);
    CHECK_STR(jstr(r.json, "content"), "c");
    CHECK(json_object_get(json_object_get(r.json, "metadata"), "more") == NULL);
    resp_free(&r);
    /* Conversations: the same bound. */
    n = sprintf(body, "{\"conversation_id\":\"" CONV2 "\",\"metadata\":{\"blob\":\"");
    memset(body + n, 'x', big);
    strcpy(body + n + big, "\"}}");
    CHECK(http(&srv, "POST", "/api/conversations", "meta", body, SIZE_MAX, &r) == 0);
    CHECK_INT(r.status, 413);
    resp_free(&r);
    CHECK(http(&srv, "GET", "/api/conversations/" CONV2, "meta", NULL, 0, &r) == 0);
    CHECK_INT(r.status, 404);
    resp_free(&r);
    free(body);
    stop();
}

/* Item 3: a search or a page past MEMORI_MAX_RESPONSE_BYTES answers fewer, and says so. */
TEST(test_responses_are_bounded)
{
    char *env[] = {"MEMORI_MAX_RESPONSE_BYTES=65536", NULL};
    CHECK(start(env));
    enum { N = 12 };
    size_t meta = 10 * 1024;
    char *body = malloc(meta + 512);
    for (int i = 0; i < N; i++) {
        int n = sprintf(body,
                        "{\"content\":\"revenue per region, variant %d\",\"memory_type\":\"rule\","
                        "\"conversation_id\":\"" CONV "\",\"metadata\":{\"blob\":\"",
                        i);
        memset(body + n, 'a' + i % 26, meta);
        strcpy(body + n + meta, "\"}}");
        struct resp r;
        CHECK(http(&srv, "POST", "/api/memories", "resp", body, SIZE_MAX, &r) == 0);
        CHECK_INT(r.status, 201);
        resp_free(&r);
    }
    free(body);
    struct resp r;
    CHECK(http(&srv, "POST", "/api/memories/search", "resp",
               "{\"query\":\"revenue per region\",\"limit\":12,\"min_similarity\":0}", SIZE_MAX,
               &r) == 0);
    CHECK_INT(r.status, 200);
    size_t got = json_array_size(json_object_get(r.json, "results"));
    fprintf(stdout, "    search: %zu of %d results in %zu bytes\n", got, N, strlen(r.body));
    CHECK(strlen(r.body) <= 65536);
    CHECK(got >= 1 && got < N);
    CHECK_INT(jint(r.json, "total"), (long long)got);
    CHECK(json_is_true(json_object_get(r.json, "truncated")));
    resp_free(&r);
    CHECK(http(&srv, "GET", "/api/conversations/" CONV "/memories?limit=12", "resp", NULL, 0, &r) ==
          0);
    CHECK_INT(r.status, 200);
    got = json_array_size(json_object_get(r.json, "memories"));
    CHECK(strlen(r.body) <= 65536);
    CHECK(got >= 1 && got < N);
    CHECK_INT(jint(r.json, "total"), N);
    CHECK(json_is_true(json_object_get(r.json, "truncated")));
    resp_free(&r);
    /* A small answer is whole, and says so. */
    CHECK(http(&srv, "POST", "/api/memories/search", "resp",
               "{\"query\":\"revenue per region\",\"limit\":2,\"min_similarity\":0}", SIZE_MAX,
               &r) == 0);
    CHECK_INT(json_array_size(json_object_get(r.json, "results")), 2);
    CHECK(json_is_false(json_object_get(r.json, "truncated")));
    resp_free(&r);
    stop();
}

/* ---------- tokens, signed here so their header can say anything ---------- */

static void b64url(const unsigned char *in, size_t n, char *out)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0) |
                     (i + 2 < n ? in[i + 2] : 0);
        out[o++] = tab[v >> 18 & 63];
        out[o++] = tab[v >> 12 & 63];
        if (i + 1 < n)
            out[o++] = tab[v >> 6 & 63];
        if (i + 2 < n)
            out[o++] = tab[v & 63];
    }
    out[o] = '\0';
}

/* header.claims signed by HMAC-SHA256 with SECRET (static storage). */
static const char *token(const char *header, const char *claims)
{
    static char tok[4096];
    char h[1024], c[2048];
    b64url((const unsigned char *)header, strlen(header), h);
    b64url((const unsigned char *)claims, strlen(claims), c);
    int n = snprintf(tok, sizeof tok, "%s.%s", h, c);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    HMAC(EVP_sha256(), SECRET, (int)strlen(SECRET), (const unsigned char *)tok, (size_t)n, mac,
         &mac_len);
    tok[n++] = '.';
    b64url(mac, mac_len, tok + n);
    return tok;
}

static long status_with(const char *tok, const char *path, struct resp *out)
{
    http_auth(&srv, "GET", path, tok, NULL, 0, out);
    return out->status;
}

/* Item 5: claims have their JSON types; alg is compared exactly. */
TEST(test_token_claims_and_alg_are_strict)
{
    char *env[] = {"ENVIRONMENT=production", "SECRET_KEY=" SECRET, NULL};
    CHECK(start(env));
    char claims[512];
    long long now = (long long)time(NULL), later = now + 3600;
    const char *hs256 = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    struct resp r;
    /* The control: a well-typed token is served, its tenant is its own. */
    snprintf(claims, sizeof claims,
             "{\"sub\":\"alice\",\"tenant\":\"t1\",\"exp\":%lld,\"iat\":%lld,\"nbf\":%lld}", later,
             now, now - 10);
    CHECK_INT(status_with(token(hs256, claims), "/api/conversations", &r), 200);
    resp_free(&r);
    CHECK(http_auth(&srv, "POST", "/api/conversations", token(hs256, claims), "{}", SIZE_MAX, &r) ==
          0);
    CHECK_STR(jstr(r.json, "tenant_id"), "t1");
    resp_free(&r);
    static const char *const bad_claims[] = {
        "{\"sub\":\"alice\",\"exp\":%lld,\"nbf\":%lld.5}",   /* a future nbf as a float */
        "{\"sub\":\"alice\",\"exp\":%lld,\"nbf\":\"%lld\"}", /* ... and as a string */
        "{\"sub\":\"alice\",\"exp\":%lld.0,\"iat\":%lld}",   /* exp as a float */
        "{\"sub\":\"alice\",\"exp\":%lld,\"iat\":\"%lld\"}", /* iat as a string */
        "{\"sub\":\"alice\",\"exp\":%lld,\"tenant\":%lld}",  /* tenant as a number */
        "{\"sub\":\"alice\",\"exp\":%lld,\"role\":[%lld]}",  /* role not a string */
    };
    for (size_t i = 0; i < sizeof bad_claims / sizeof *bad_claims; i++) {
        snprintf(claims, sizeof claims, bad_claims[i], later, later);
        long st = status_with(token(hs256, claims), "/api/conversations", &r);
        if (st != 401)
            fprintf(stdout, "    %s: %ld %s\n", claims, st, r.body ? r.body : "");
        CHECK_INT(st, 401);
        CHECK(strstr(r.www_authenticate, "Bearer") != NULL);
        resp_free(&r);
    }
    /* "hs256" names no algorithm: JOSE names are case-sensitive. */
    snprintf(claims, sizeof claims, "{\"sub\":\"alice\",\"exp\":%lld}", later);
    CHECK_INT(
        status_with(token("{\"alg\":\"hs256\",\"typ\":\"JWT\"}", claims), "/api/conversations", &r),
        401);
    resp_free(&r);
    CHECK_INT(status_with(token(hs256, claims), "/api/conversations", &r), 200);
    resp_free(&r);
    /* Item 7 across tenants: alice@t2 creating alice@t1's conversation id is told nothing. */
    snprintf(claims, sizeof claims, "{\"sub\":\"alice\",\"tenant\":\"t1\",\"exp\":%lld}", later);
    CHECK(http_auth(&srv, "POST", "/api/conversations", token(hs256, claims),
                    "{\"conversation_id\":\"" CONV2 "\"}", SIZE_MAX, &r) == 0);
    CHECK_INT(r.status, 201);
    resp_free(&r);
    snprintf(claims, sizeof claims, "{\"sub\":\"alice\",\"tenant\":\"t2\",\"exp\":%lld}", later);
    CHECK(http_auth(&srv, "POST", "/api/conversations", token(hs256, claims),
                    "{\"conversation_id\":\"" CONV2 "\"}", SIZE_MAX, &r) == 0);
    CHECK_INT(r.status, 404);
    resp_free(&r);
    /* An admin's all_users=TRUE reads the whole tenant (pydantic's booleans). */
    snprintf(claims, sizeof claims,
             "{\"sub\":\"root\",\"tenant\":\"t1\",\"role\":\"admin\",\"exp\":%lld}", later);
    CHECK_INT(
        status_with(token(hs256, claims), "/api/memories/statistics/summary?all_users=TRUE", &r),
        200);
    resp_free(&r);
    stop();
}

TEST_MAIN("e2e_parsing", T(test_json_bodies_need_a_json_content_type),
          T(test_data_source_id_is_exact), T(test_big_integers_in_metadata_are_kept),
          T(test_numbers_are_parsed_strictly), T(test_query_parameters_as_fastapi_reads_them),
          T(test_identity_header_is_trimmed), T(test_foreign_conversation_id_is_not_told),
          T(test_metadata_is_bounded), T(test_responses_are_bounded),
          T(test_token_claims_and_alg_are_strict))
