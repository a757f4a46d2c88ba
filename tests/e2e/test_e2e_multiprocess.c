/*
 * Two `memori serve` processes on different ports against one PostgreSQL
 * database (a throwaway cluster) and one Redis: a write through either is
 * seen by the other's next request — no process keeps a copy that could go
 * stale — and an embedding computed by one is found in Redis by the other.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "fake_openai.h"
#include "http_client.h"
#include "redis_server.h"
#include "test.h"

#define CONV "6f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"

static struct server a, b;
static struct redis_server rs;
static struct fake_openai *fake;

/* Both servers on one database (the same file name maps to one PostgreSQL database). */
static bool start_both(void)
{
    setenv("MEMORI_TEST_BACKEND", "postgres", 1);
    static char base[128], redis[128];
    if (redis_server_start(&rs, 0) != 0)
        return false;
    fake = fake_openai_start(16);
    snprintf(base, sizeof base, "OPENAI_BASE_URL=http://127.0.0.1:%d/v1", fake_openai_port(fake));
    snprintf(redis, sizeof redis, "REDIS_URL=%s", rs.url);
    char *env[] = {"MEMORI_EMBEDDING_PROVIDER=openai",
                   base,
                   "MEMORI_EMBEDDING_MODEL=test-model",
                   "MEMORI_EMBEDDING_DIMENSIONS=16",
                   "MEMORI_EMBEDDING_CACHE_BYTES=0", /* no in-process cache: Redis only */
                   "REDIS_ENABLED=true",
                   redis,
                   NULL};
    char db[512];
    test_path(db, sizeof db, "shared.db");
    return server_start(&a, db, env) == 0 && server_start(&b, db, env) == 0;
}

static void stop_both(void)
{
    int ea = a.pid ? server_stop(&a, SIGTERM) : 0, eb = b.pid ? server_stop(&b, SIGTERM) : 0;
    redis_server_stop(&rs);
    fake_openai_stop(fake);
    if (ea || eb)
        test_fail(__FILE__, __LINE__, "servers exited %d and %d", ea, eb);
}

/* Status of one request; the body parsed into *out when out is given. */
static long call(const struct server *s, const char *method, const char *path, const char *body,
                 struct resp *out)
{
    struct resp r;
    http(s, method, path, "alice", body, body ? SIZE_MAX : 0, &r);
    long status = r.status;
    if (out)
        *out = r;
    else
        resp_free(&r);
    return status;
}

static long long search_total(const struct server *s, const char *query)
{
    char body[256];
    /* The memory's own text: a cosine of 1 (semantic mode; hybrid adds a partial BM25 score). */
    snprintf(body, sizeof body, "{\"query\":\"%s\",\"min_similarity\":0.99,\"mode\":\"semantic\"}",
             query);
    struct resp r;
    long long total =
        call(s, "POST", "/api/memories/search", body, &r) == 200 ? jint(r.json, "total") : -1;
    resp_free(&r);
    return total;
}

TEST(test_two_servers_share_one_database_and_one_cache)
{
    bool up = start_both();
    if (!up) {
        stop_both();
        CHECK(up);
    }
    struct resp r;
    char id[37] = "", path[128];
    /* Written through a, found through b at once; b's query embedding came from Redis. */
    if (call(&a, "POST", "/api/memories",
             "{\"content\":\"the shared sentence\",\"memory_type\":\"rule\","
             "\"conversation_id\":\"" CONV "\"}",
             &r) == 201)
        snprintf(id, sizeof id, "%s", jstr(r.json, "memory_id"));
    resp_free(&r);
    int texts = fake_openai_texts(fake);
    long long found_b = search_total(&b, "the shared sentence");
    int texts_after = fake_openai_texts(fake);
    /* Updated through b, read and searched through a. */
    snprintf(path, sizeof path, "/api/memories/%s", id);
    long patched = call(&b, "PATCH", path, "{\"content\":\"a sentence moved elsewhere\"}", NULL);
    long got = call(&a, "GET", path, NULL, &r);
    char content[64] = "";
    if (got == 200)
        snprintf(content, sizeof content, "%s", jstr(r.json, "content"));
    resp_free(&r);
    long long old_a = search_total(&a, "the shared sentence");
    long long new_a = search_total(&a, "a sentence moved elsewhere");
    long long new_b = search_total(&b, "a sentence moved elsewhere");
    /*
     * Each search counted once, whichever process served it. A server serves
     * its own accesses at once and the other's once they are flushed (every
     * 100 ms: docs/decisions.md, "Access statistics are merged in batches"),
     * so b's count reaches a's search within a flush interval; 5 s of slack.
     */
    long long count = -1;
    for (int tries = 0; tries < 100 && count != 3; tries++) {
        if (tries)
            usleep(50000);
        count = -1;
        if (call(&b, "GET", path, NULL, &r) == 200)
            count = jint(r.json, "access_count");
        resp_free(&r);
    }
    /* Deleted through a: gone for b. */
    long deleted = call(&a, "DELETE", path, NULL, NULL);
    long gone = call(&b, "GET", path, NULL, NULL);
    long long after = search_total(&b, "a sentence moved elsewhere");
    stop_both();
    CHECK(id[0]);
    CHECK_INT(texts, 1);
    CHECK_INT(found_b, 1);
    CHECK_INT(texts_after, 1); /* b found the query's embedding in Redis */
    CHECK_INT(patched, 200);
    CHECK_INT(got, 200);
    CHECK_STR(content, "a sentence moved elsewhere");
    CHECK_INT(old_a, 0);
    CHECK_INT(new_a, 1);
    CHECK_INT(new_b, 1);
    CHECK_INT(count, 3); /* b once, then a and b once each */
    CHECK_INT(deleted, 204);
    CHECK_INT(gone, 404);
    CHECK_INT(after, 0);
}

TEST_MAIN("e2e_multiprocess", T(test_two_servers_share_one_database_and_one_cache))
