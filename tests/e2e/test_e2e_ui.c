/*
 * GET /api/memories against the real `memori serve` (issue 19, item 2), on
 * SQLite and (make test's second run) PostgreSQL: the caller's own
 * memories, newest first, filtered by type, paged, its query validated as
 * FastAPI does.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "http_client.h"
#include "test.h"

#define CONV_A "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"
#define CONV_B "2b3c4d5e-6f70-4b8c-9d0e-1f2a3b4c5d6e"

static struct server srv;
static int db_n;

static bool start(char *const *env)
{
    char name[64], path[512];
    snprintf(name, sizeof name, "ui-%d.db", db_n++);
    return server_start(&srv, test_path(path, sizeof path, name), env) == 0;
}

static bool stop(void)
{
    int rc = server_stop(&srv, SIGTERM);
    if (rc != 0)
        test_fail(__FILE__, __LINE__, "server exited %d; see %s", rc, srv.log);
    return rc == 0;
}

static long create(const char *user, const char *conv, const char *type, const char *content)
{
    char body[512];
    snprintf(body, sizeof body,
             "{\"content\":\"%s\",\"memory_type\":\"%s\",\"conversation_id\":\"%s\"}", content,
             type, conv);
    struct resp r;
    if (http(&srv, "POST", "/api/memories", user, body, SIZE_MAX, &r) != 0)
        return -1;
    long status = r.status;
    resp_free(&r);
    return status;
}

/* GET path as user: its status, and (when 200) the page's memories' contents joined by '|'. */
static long list(const char *user, const char *path, char *out, size_t cap, long long *out_total)
{
    struct resp r;
    out[0] = '\0';
    *out_total = -1;
    if (http(&srv, "GET", path, user, NULL, 0, &r) != 0)
        return -1;
    long status = r.status;
    json_t *mems = r.json ? json_object_get(r.json, "memories") : NULL;
    size_t i, o = 0;
    json_t *m;
    json_array_foreach(mems, i, m)
    {
        o += (size_t)snprintf(out + o, cap - o, "%s%s", i ? "|" : "", jstr(m, "content"));
        if (o >= cap)
            o = cap - 1;
    }
    if (r.json && status == 200)
        *out_total = jint(r.json, "total");
    resp_free(&r);
    return status;
}

TEST(test_memory_list_is_the_callers_own_newest_first)
{
    CHECK(start(NULL));
    const char *types[] = {"rule", "short_term", "entity", "rule"};
    char content[32];
    for (int i = 0; i < 4; i++) {
        snprintf(content, sizeof content, "alice %d", i);
        CHECK_INT(create("alice", CONV_A, types[i], content), 201);
        usleep(2000); /* distinct created_at on every store */
    }
    CHECK_INT(create("bob", CONV_B, "rule", "bob 0"), 201);
    char got[1024];
    long long total;
    CHECK_INT(list("alice", "/api/memories", got, sizeof got, &total), 200);
    CHECK_STR(got, "alice 3|alice 2|alice 1|alice 0");
    CHECK_INT(total, 4);
    CHECK_INT(list("alice", "/api/memories/", got, sizeof got, &total), 200); /* trailing slash */
    CHECK_STR(got, "alice 3|alice 2|alice 1|alice 0");
    CHECK_INT(list("alice", "/api/memories?limit=2&offset=1", got, sizeof got, &total), 200);
    CHECK_STR(got, "alice 2|alice 1");
    CHECK_INT(total, 4);
    CHECK_INT(list("alice", "/api/memories?memory_type=rule", got, sizeof got, &total), 200);
    CHECK_STR(got, "alice 3|alice 0");
    CHECK_INT(total, 2);
    CHECK_INT(list("alice", "/api/memories?memory_type=example", got, sizeof got, &total), 200);
    CHECK_STR(got, "");
    CHECK_INT(total, 0);
    CHECK_INT(list("alice", "/api/memories?offset=10", got, sizeof got, &total), 200);
    CHECK_STR(got, "");
    CHECK_INT(total, 4);
    CHECK_INT(list("bob", "/api/memories", got, sizeof got, &total), 200);
    CHECK_STR(got, "bob 0");
    CHECK_INT(list("carol", "/api/memories", got, sizeof got, &total), 200);
    CHECK_STR(got, "");
    CHECK_INT(total, 0);
    /* The page's shape: as a conversation's memories. */
    struct resp r;
    CHECK(http(&srv, "GET", "/api/memories?limit=1", "alice", NULL, 0, &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK(r.json);
    json_t *first = json_array_get(json_object_get(r.json, "memories"), 0);
    bool shape = jint(r.json, "limit") == 1 && jint(r.json, "offset") == 0 &&
                 json_is_false(json_object_get(r.json, "truncated")) && first &&
                 jstr(first, "memory_id") &&
                 json_is_integer(json_object_get(first, "access_count")) &&
                 json_object_get(first, "expires_at") && !json_object_get(first, "embedding");
    resp_free(&r);
    CHECK(shape);
    /* A short-term memory's expiry is listed. */
    CHECK(http(&srv, "GET", "/api/memories?memory_type=short_term", "alice", NULL, 0, &r) == 0);
    first = json_array_get(json_object_get(r.json, "memories"), 0);
    bool expires = first && json_is_string(json_object_get(first, "expires_at"));
    resp_free(&r);
    CHECK(expires);
    CHECK(stop());
}

/* The first 422 error of GET path: its type and loc ("query.limit"); the status. */
static long bad_query(const char *path, char *type, char *loc)
{
    struct resp r;
    type[0] = loc[0] = '\0';
    if (http(&srv, "GET", path, "alice", NULL, 0, &r) != 0)
        return -1;
    long status = r.status;
    first_error(&r, type, 64, loc, 64);
    resp_free(&r);
    return status;
}

TEST(test_memory_list_validates_its_query_as_fastapi)
{
    CHECK(start(NULL));
    char type[64], loc[64];
    CHECK_INT(bad_query("/api/memories?limit=0", type, loc), 422);
    CHECK_STR(type, "greater_than_equal");
    CHECK_STR(loc, "query.limit");
    CHECK_INT(bad_query("/api/memories?limit=101", type, loc), 422);
    CHECK_STR(type, "less_than_equal");
    CHECK_INT(bad_query("/api/memories?limit=abc", type, loc), 422);
    CHECK_STR(type, "int_parsing");
    CHECK_INT(bad_query("/api/memories?offset=-1", type, loc), 422);
    CHECK_STR(loc, "query.offset");
    CHECK_INT(bad_query("/api/memories?memory_type=bogus", type, loc), 422);
    CHECK_STR(type, "enum");
    CHECK_STR(loc, "query.memory_type");
    CHECK_INT(bad_query("/api/memories?memory_type=", type, loc), 422);
    CHECK_STR(type, "enum");
    CHECK_INT(bad_query("/api/memories?memory_type=Rule", type, loc), 422);
    /* Every type the document lists is accepted. */
    struct resp r;
    CHECK(http(&srv, "GET", "/openapi.json", NULL, NULL, 0, &r) == 0);
    json_t *op =
        json_object_get(json_object_get(json_object_get(r.json, "paths"), "/api/memories"), "get");
    size_t i, n_params = 0;
    json_t *p;
    bool has_type = false;
    json_array_foreach(json_object_get(op, "parameters"), i, p)
    {
        n_params++;
        if (strcmp(jstr(p, "name"), "memory_type") == 0 && strcmp(jstr(p, "in"), "query") == 0)
            has_type = true;
    }
    json_t *types = json_object_get(
        json_object_get(json_object_get(json_object_get(r.json, "components"), "schemas"),
                        "MemoryType"),
        "enum");
    json_t *t;
    size_t accepted = 0;
    json_array_foreach(types, i, t)
    {
        char path[128];
        snprintf(path, sizeof path, "/api/memories?memory_type=%s", json_string_value(t));
        accepted += bad_query(path, type, loc) == 200;
    }
    size_t n_types = json_array_size(types);
    resp_free(&r);
    CHECK(op);
    CHECK(has_type);
    CHECK(n_params >= 4); /* limit, offset, memory_type, X-User-Id */
    CHECK(n_types >= 6);
    CHECK_INT(accepted, n_types);
    CHECK(stop());
}

TEST_MAIN("e2e_ui", T(test_memory_list_is_the_callers_own_newest_first),
          T(test_memory_list_validates_its_query_as_fastapi))
