/*
 * End-to-end tests: the real `memori serve` over loopback HTTP with a temp
 * SQLite file, or a PostgreSQL database with MEMORI_TEST_BACKEND=postgres
 * (`make test` runs both) — every endpoint, every error path, isolation, restarts,
 * concurrency and start-up failures.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "fake_openai.h"
#include "http_client.h"
#include "redis_server.h"
#include "memori/util.h"
#include "test.h"

#define CONV "6f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"

static struct server srv;

static bool start(void)
{
    return server_start_fresh(&srv, "e2e", NULL) == 0;
}

/* Stops the server; a non-zero exit (a crash, or a leak under ASan) fails the test. */
static void stop(void)
{
    server_stop_checked(&srv);
}

/* Creates a memory; returns its memory_id in id (37 bytes) or fails the test. */
static bool create_memory(const char *user, const char *content, const char *type, const char *conv,
                          char *id)
{
    char body[2048];
    snprintf(body, sizeof body,
             "{\"content\":\"%s\",\"memory_type\":\"%s\",\"conversation_id\":\"%s\"}", content,
             type, conv);
    struct resp r;
    bool ok = http(&srv, "POST", "/api/memories", user, body, SIZE_MAX, &r) == 0 && r.status == 201;
    if (ok && id)
        snprintf(id, 37, "%s", jstr(r.json, "memory_id"));
    if (!ok)
        fprintf(stdout, "    create failed: %ld %s\n", r.status, r.body);
    resp_free(&r);
    return ok;
}

#define CHECK_STATUS(r, want)                                                                      \
    do {                                                                                           \
        if ((r).status != (want)) {                                                                \
            test_fail(__FILE__, __LINE__, "status %ld != %d: %s", (r).status, (want), (r).body);   \
            resp_free(&(r));                                                                       \
            stop();                                                                                \
            return;                                                                                \
        }                                                                                          \
    } while (0)

TEST(test_memory_crud)
{
    CHECK(start());
    struct resp r;
    const char *body = "{\"content\":\"Always use JOINs instead of subqueries\",\"memory_type\":"
                       "\"rule\",\"conversation_id\":\"" CONV "\",\"importance_score\":0.8,"
                       "\"context_tags\":[\"sql\"],\"related_entities\":[\"orders\"],"
                       "\"metadata\":{\"category\":\"style\"}}";
    http(&srv, "POST", "/api/memories", "alice", body, SIZE_MAX, &r);
    CHECK_STATUS(r, 201);
    CHECK_STR(r.content_type, "application/json");
    char id[37];
    snprintf(id, sizeof id, "%s", jstr(r.json, "memory_id"));
    CHECK_STR(jstr(r.json, "user_id"), "alice");
    CHECK_STR(jstr(r.json, "memory_type"), "rule");
    CHECK_STR(jstr(r.json, "conversation_id"), CONV);
    CHECK(json_is_null(json_object_get(r.json, "expires_at")));
    CHECK_NEAR(jnum(r.json, "importance_score"), 0.8, 1e-9);
    resp_free(&r);

    char path[128];
    snprintf(path, sizeof path, "/api/memories/%s", id);
    http(&srv, "GET", path, "alice", NULL, 0, &r);
    CHECK_STATUS(r, 200);
    CHECK_STR(jstr(r.json, "content"), "Always use JOINs instead of subqueries");
    resp_free(&r);

    http(&srv, "PATCH", path, "alice",
         "{\"content\":\"Prefer CTEs\",\"metadata\":{\"level\":2},\"context_tags\":[\"cte\"]}",
         SIZE_MAX, &r);
    CHECK_STATUS(r, 200);
    CHECK_STR(jstr(r.json, "content"), "Prefer CTEs");
    json_t *md = json_object_get(r.json, "metadata");
    CHECK_STR(jstr(md, "category"), "style");
    CHECK_INT(jint(md, "level"), 2);
    CHECK_STR(json_string_value(json_array_get(json_object_get(r.json, "context_tags"), 0)), "cte");
    resp_free(&r);

    /* Trailing slashes are the same routes. */
    char slash[140];
    snprintf(slash, sizeof slash, "%s/", path);
    http(&srv, "GET", slash, "alice", NULL, 0, &r);
    CHECK_STATUS(r, 200);
    resp_free(&r);

    http(&srv, "DELETE", path, "alice", NULL, 0, &r);
    CHECK_STATUS(r, 204);
    CHECK_STR(r.body, "");
    resp_free(&r);
    http(&srv, "GET", path, "alice", NULL, 0, &r);
    CHECK_STATUS(r, 404);
    CHECK_STR(jstr(r.json, "detail"), "Memory not found");
    resp_free(&r);
    http(&srv, "DELETE", path, "alice", NULL, 0, &r);
    CHECK_STATUS(r, 404);
    resp_free(&r);
    stop();
}

TEST(test_create_with_trailing_slash_and_short_term_expiry)
{
    CHECK(start());
    struct resp r;
    http(&srv, "POST", "/api/memories/", NULL,
         "{\"content\":\"user looked at Q3\",\"memory_type\":\"short_term\",\"conversation_id\":"
         "\"" CONV "\"}",
         SIZE_MAX, &r);
    CHECK_STATUS(r, 201);
    CHECK_STR(jstr(r.json, "user_id"), "default_user");
    CHECK(jstr(r.json, "expires_at") != NULL);
    resp_free(&r);
    /* Explicit expires_at is honoured. */
    http(&srv, "POST", "/api/memories", NULL,
         "{\"content\":\"x\",\"memory_type\":\"short_term\",\"conversation_id\":\"" CONV
         "\",\"expires_at\":\"2030-01-02T03:04:05Z\"}",
         SIZE_MAX, &r);
    CHECK_STATUS(r, 201);
    CHECK_STR(jstr(r.json, "expires_at"), "2030-01-02T03:04:05Z");
    resp_free(&r);
    stop();
}

TEST(test_search_ranks_filters_and_counts_access)
{
    CHECK(start());
    char a[37], b[37], c[37];
    CHECK(create_memory("alice", "The orders table holds one row per customer order", "entity",
                        CONV, a));
    CHECK(create_memory("alice", "orders join customers on orders.customer_id", "relationship",
                        CONV, b));
    CHECK(create_memory("alice", "Format order dates as ISO 8601", "rule", CONV, c));
    struct resp r;
    http(&srv, "POST", "/api/memories/search", "alice",
         "{\"query\":\"which table holds orders?\",\"min_similarity\":0}", SIZE_MAX, &r);
    CHECK_STATUS(r, 200);
    json_t *res = json_object_get(r.json, "results");
    CHECK_INT(jint(r.json, "total"), 3);
    CHECK_STR(jstr(r.json, "query"), "which table holds orders?");
    CHECK_STR(jstr(json_array_get(res, 0), "memory_id"), a);
    CHECK(jnum(json_array_get(res, 0), "similarity_score") >=
          jnum(json_array_get(res, 1), "similarity_score"));
    CHECK_INT(jint(json_array_get(res, 0), "access_count"), 1);
    resp_free(&r);

    http(&srv, "POST", "/api/memories/search", "alice",
         "{\"query\":\"orders\",\"min_similarity\":0,\"memory_types\":[\"relationship\"]}",
         SIZE_MAX, &r);
    CHECK_STATUS(r, 200);
    CHECK_INT(jint(r.json, "total"), 1);
    CHECK_STR(jstr(json_array_get(json_object_get(r.json, "results"), 0), "memory_id"), b);
    resp_free(&r);

    http(&srv, "POST", "/api/memories/search", "alice",
         "{\"query\":\"orders\",\"min_similarity\":0,\"limit\":1}", SIZE_MAX, &r);
    CHECK_STATUS(r, 200);
    CHECK_INT(jint(r.json, "total"), 1);
    resp_free(&r);

    http(&srv, "POST", "/api/memories/search", "alice",
         "{\"query\":\"orders\",\"min_similarity\":0,\"conversation_id\":"
         "\"00000000-0000-4000-8000-000000000000\"}",
         SIZE_MAX, &r);
    CHECK_STATUS(r, 200);
    CHECK_INT(jint(r.json, "total"), 0);
    resp_free(&r);

    /* The default threshold keeps unrelated memories out. */
    http(&srv, "POST", "/api/memories/search", "alice", "{\"query\":\"ISO 8601 formatting\"}",
         SIZE_MAX, &r);
    CHECK_STATUS(r, 200);
    CHECK_INT(jint(r.json, "total"), 1);
    resp_free(&r);

    http(&srv, "POST", "/api/memories/search", "alice", "{\"query\":\"x\",\"limit\":101}", SIZE_MAX,
         &r);
    CHECK_STATUS(r, 422);
    char type[64], loc[128];
    CHECK(first_error(&r, type, sizeof type, loc, sizeof loc));
    CHECK_STR(type, "less_than_equal");
    CHECK_STR(loc, "body.limit");
    resp_free(&r);
    stop();
}

TEST(test_promote_and_archive_and_statistics)
{
    CHECK(start());
    char s[37], rule[37];
    CHECK(create_memory("alice", "short lived note", "short_term", CONV, s));
    CHECK(create_memory("alice", "a rule", "rule", CONV, rule));
    CHECK(create_memory("alice", "an entity", "entity", CONV, NULL));
    CHECK(create_memory("alice", "a relationship", "relationship", CONV, NULL));
    CHECK(create_memory("alice", "long one", "long_term", CONV, NULL));
    struct resp r;
    char path[128];
    snprintf(path, sizeof path, "/api/memories/%s/promote", s);
    http(&srv, "POST", path, "alice", NULL, 0, &r);
    CHECK_STATUS(r, 200);
    CHECK_STR(jstr(r.json, "memory_type"), "long_term");
    CHECK(json_is_null(json_object_get(r.json, "expires_at")));
    CHECK_NEAR(jnum(r.json, "importance_score"), 0.6, 1e-9);
    resp_free(&r);
    http(&srv, "POST", path, "alice", NULL, 0, &r);
    CHECK_STATUS(r, 409);
    CHECK(strstr(jstr(r.json, "detail"), "short_term") != NULL);
    resp_free(&r);
    http(&srv, "POST", "/api/memories/00000000-0000-4000-8000-000000000000/promote", "alice", NULL,
         0, &r);
    CHECK_STATUS(r, 404);
    resp_free(&r);
    http(&srv, "POST", "/api/memories/not-a-uuid/promote", "alice", NULL, 0, &r);
    CHECK_STATUS(r, 422);
    char type[64], loc[128];
    CHECK(first_error(&r, type, sizeof type, loc, sizeof loc));
    CHECK_STR(type, "uuid_parsing");
    CHECK_STR(loc, "path.memory_id");
    resp_free(&r);

    http(&srv, "GET", "/api/memories/statistics/summary", "alice", NULL, 0, &r);
    CHECK_STATUS(r, 200);
    CHECK_INT(jint(r.json, "total_memories"), 5);
    json_t *bt = json_object_get(r.json, "by_type");
    CHECK_INT(jint(bt, "short_term"), 0);
    CHECK_INT(jint(bt, "long_term"), 2);
    CHECK_INT(jint(bt, "rules"), 1);
    CHECK_INT(jint(bt, "entities"), 1);
    CHECK_INT(jint(bt, "relationships"), 1);
    CHECK_INT(jint(r.json, "archived"), 0);
    CHECK_NEAR(jnum(r.json, "average_importance"), 0.52, 1e-9);
    resp_free(&r);

    http(&srv, "POST", "/api/memories/maintenance/archive?days_threshold=10", "alice", NULL, 0, &r);
    CHECK_STATUS(r, 200);
    CHECK_STR(jstr(r.json, "status"), "success");
    CHECK_INT(jint(r.json, "archived_count"), 0); /* nothing is 10 days old */
    CHECK_INT(jint(r.json, "threshold_days"), 10);
    resp_free(&r);
    http(&srv, "POST", "/api/memories/maintenance/archive", "alice", NULL, 0, &r);
    CHECK_STATUS(r, 200);
    CHECK_INT(jint(r.json, "threshold_days"), 30);
    resp_free(&r);
    const char *bad[] = {"0", "366", "abc", "1.5", ""};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        snprintf(path, sizeof path, "/api/memories/maintenance/archive?days_threshold=%s", bad[i]);
        http(&srv, "POST", path, "alice", NULL, 0, &r);
        CHECK_STATUS(r, 422);
        CHECK(first_error(&r, type, sizeof type, loc, sizeof loc));
        CHECK_STR(loc, "query.days_threshold");
        resp_free(&r);
    }
    stop();
}

TEST(test_conversations_endpoints)
{
    CHECK(start());
    struct resp r;
    http(&srv, "POST", "/api/conversations", "alice",
         "{\"title\":\"Revenue\",\"metadata\":{\"db\":\"sales\"},\"data_source_id\":3}", SIZE_MAX,
         &r);
    CHECK_STATUS(r, 201);
    char id[37];
    snprintf(id, sizeof id, "%s", jstr(r.json, "conversation_id"));
    CHECK_STR(jstr(r.json, "title"), "Revenue");
    CHECK_INT(jint(r.json, "data_source_id"), 3);
    CHECK(json_is_true(json_object_get(r.json, "is_active")));
    resp_free(&r);
    http(&srv, "POST", "/api/conversations", "alice", "{\"conversation_id\":\"" CONV "\"}",
         SIZE_MAX, &r);
    CHECK_STATUS(r, 201);
    resp_free(&r);
    http(&srv, "POST", "/api/conversations", "alice", "{\"conversation_id\":\"" CONV "\"}",
         SIZE_MAX, &r);
    CHECK_STATUS(r, 409);
    resp_free(&r);
    CHECK(create_memory("alice", "m1", "rule", id, NULL));
    CHECK(create_memory("alice", "m2", "rule", id, NULL));
    CHECK(create_memory("alice", "m3", "rule", id, NULL));

    http(&srv, "GET", "/api/conversations?limit=1&offset=0", "alice", NULL, 0, &r);
    CHECK_STATUS(r, 200);
    CHECK_INT(jint(r.json, "total"), 2);
    CHECK_INT(json_array_size(json_object_get(r.json, "conversations")), 1);
    /* Newest activity first: the one that just got memories. */
    CHECK_STR(jstr(json_array_get(json_object_get(r.json, "conversations"), 0), "conversation_id"),
              id);
    resp_free(&r);
    http(&srv, "GET", "/api/conversations?limit=0", "alice", NULL, 0, &r);
    CHECK_STATUS(r, 422);
    resp_free(&r);
    http(&srv, "GET", "/api/conversations?offset=-1", "alice", NULL, 0, &r);
    CHECK_STATUS(r, 422);
    resp_free(&r);

    char path[160];
    snprintf(path, sizeof path, "/api/conversations/%s", id);
    http(&srv, "PATCH", path, "alice",
         "{\"title\":\"Renamed\",\"metadata\":{\"x\":1},\"is_active\":false}", SIZE_MAX, &r);
    CHECK_STATUS(r, 200);
    CHECK_STR(jstr(r.json, "title"), "Renamed");
    CHECK(json_is_false(json_object_get(r.json, "is_active")));
    CHECK_STR(jstr(json_object_get(r.json, "metadata"), "db"), "sales");
    resp_free(&r);
    http(&srv, "GET", path, "alice", NULL, 0, &r);
    CHECK_STATUS(r, 200);
    CHECK_STR(jstr(r.json, "title"), "Renamed");
    resp_free(&r);

    snprintf(path, sizeof path, "/api/conversations/%s/memories?limit=2&offset=1", id);
    http(&srv, "GET", path, "alice", NULL, 0, &r);
    CHECK_STATUS(r, 200);
    CHECK_INT(jint(r.json, "total"), 3);
    json_t *mems = json_object_get(r.json, "memories");
    CHECK_INT(json_array_size(mems), 2);
    CHECK_STR(jstr(json_array_get(mems, 0), "content"), "m2");
    resp_free(&r);

    snprintf(path, sizeof path, "/api/conversations/%s", id);
    http(&srv, "DELETE", path, "alice", NULL, 0, &r);
    CHECK_STATUS(r, 204);
    resp_free(&r);
    http(&srv, "GET", path, "alice", NULL, 0, &r);
    CHECK_STATUS(r, 404);
    resp_free(&r);
    http(&srv, "GET", "/api/memories/statistics/summary", "alice", NULL, 0, &r);
    CHECK_INT(jint(r.json, "total_memories"), 0); /* cascaded */
    resp_free(&r);
    http(&srv, "POST", "/api/memories/search", "alice", "{\"query\":\"m1\",\"min_similarity\":0}",
         SIZE_MAX, &r);
    CHECK_INT(jint(r.json, "total"), 0);
    resp_free(&r);
    stop();
}

TEST(test_two_users_are_isolated)
{
    CHECK(start());
    char id[37];
    CHECK(create_memory("alice", "alice private revenue rule", "rule", CONV, id));
    struct resp r;
    char path[160];
    snprintf(path, sizeof path, "/api/memories/%s", id);
    const char *methods[] = {"GET", "PATCH", "DELETE"};
    for (int i = 0; i < 3; i++) {
        http(&srv, methods[i], path, "bob", i == 1 ? "{\"importance_score\":0.1}" : NULL, SIZE_MAX,
             &r);
        CHECK_STATUS(r, 404);
        resp_free(&r);
    }
    snprintf(path, sizeof path, "/api/memories/%s/promote", id);
    http(&srv, "POST", path, "bob", NULL, 0, &r);
    CHECK_STATUS(r, 404);
    resp_free(&r);
    http(&srv, "POST", "/api/memories/search", "bob",
         "{\"query\":\"revenue rule\",\"min_similarity\":0}", SIZE_MAX, &r);
    CHECK_STATUS(r, 200);
    CHECK_INT(jint(r.json, "total"), 0);
    resp_free(&r);
    http(&srv, "GET", "/api/memories/statistics/summary", "bob", NULL, 0, &r);
    CHECK_INT(jint(r.json, "total_memories"), 0);
    resp_free(&r);
    http(&srv, "GET", "/api/conversations", "bob", NULL, 0, &r);
    CHECK_INT(jint(r.json, "total"), 0);
    resp_free(&r);
    http(&srv, "GET", "/api/conversations/" CONV, "bob", NULL, 0, &r);
    CHECK_STATUS(r, 404);
    resp_free(&r);
    http(&srv, "GET", "/api/conversations/" CONV "/memories", "bob", NULL, 0, &r);
    CHECK_STATUS(r, 404);
    resp_free(&r);
    http(&srv, "DELETE", "/api/conversations/" CONV, "bob", NULL, 0, &r);
    CHECK_STATUS(r, 404);
    resp_free(&r);
    /* Writing into alice's conversation is 404, never a foreign-key error. */
    http(&srv, "POST", "/api/memories", "bob",
         "{\"content\":\"x\",\"memory_type\":\"rule\",\"conversation_id\":\"" CONV "\"}", SIZE_MAX,
         &r);
    CHECK_STATUS(r, 404);
    resp_free(&r);
    http(&srv, "POST", "/api/memories/maintenance/archive?days_threshold=1", "bob", NULL, 0, &r);
    CHECK_INT(jint(r.json, "archived_count"), 0);
    resp_free(&r);
    /* alice still has it, untouched. */
    snprintf(path, sizeof path, "/api/memories/%s", id);
    http(&srv, "GET", path, "alice", NULL, 0, &r);
    CHECK_STATUS(r, 200);
    CHECK_NEAR(jnum(r.json, "importance_score"), 0.5, 0);
    resp_free(&r);
    stop();
}

TEST(test_bad_requests_get_clear_4xx)
{
    CHECK(start());
    struct resp r;
    char type[64], loc[128];
    http(&srv, "GET", "/api/nothing", NULL, NULL, 0, &r);
    CHECK_STATUS(r, 404);
    CHECK_STR(jstr(r.json, "detail"), "Not Found");
    resp_free(&r);
    http(&srv, "PUT", "/api/memories", NULL, "{}", SIZE_MAX, &r);
    CHECK_STATUS(r, 405);
    CHECK_STR(r.allow, "POST, GET, HEAD"); /* GET lists the caller's memories (issue 19) */
    resp_free(&r);
    http(&srv, "POST", "/api/conversations/" CONV, NULL, "{}", SIZE_MAX, &r);
    CHECK_STATUS(r, 405);
    CHECK_STR(r.allow, "GET, HEAD, PATCH, DELETE"); /* HEAD wherever GET is (issue 13) */
    resp_free(&r);
    /* As FastAPI: GET …/search is GET …/{memory_id} with a bad UUID; PUT has no route. */
    http(&srv, "GET", "/api/memories/search", "alice", NULL, 0, &r);
    CHECK_STATUS(r, 422);
    CHECK(first_error(&r, type, sizeof type, loc, sizeof loc));
    CHECK_STR(loc, "path.memory_id");
    resp_free(&r);
    http(&srv, "PUT", "/api/memories/search", "alice", "{}", SIZE_MAX, &r);
    CHECK_STATUS(r, 405);
    CHECK_STR(r.allow, "POST");
    resp_free(&r);
    http(&srv, "POST", "/api/memories/statistics/summary", "alice", "{}", SIZE_MAX, &r);
    CHECK_STATUS(r, 405);
    CHECK_STR(r.allow, "GET, HEAD");
    resp_free(&r);
    http(&srv, "POST", "/api/memories", NULL, "{\"content\": [", SIZE_MAX, &r);
    CHECK_STATUS(r, 422);
    CHECK(first_error(&r, type, sizeof type, loc, sizeof loc));
    CHECK_STR(type, "json_invalid");
    resp_free(&r);
    http(&srv, "POST", "/api/memories", NULL, NULL, 0, &r);
    CHECK_STATUS(r, 422);
    CHECK(first_error(&r, type, sizeof type, loc, sizeof loc));
    CHECK_STR(type, "missing");
    CHECK_STR(loc, "body");
    resp_free(&r);
    http(&srv, "POST", "/api/memories", NULL, "\"just a string\"", SIZE_MAX, &r);
    CHECK_STATUS(r, 422);
    resp_free(&r);
    http(&srv, "POST", "/api/memories", NULL,
         "{\"content\":\"\xc3\x28\",\"memory_type\":\"rule\",\"conversation_id\":\"" CONV "\"}",
         SIZE_MAX, &r);
    CHECK_STATUS(r, 422);
    resp_free(&r);
    http(&srv, "POST", "/api/memories", NULL,
         "{\"content\":\"   \",\"memory_type\":\"rule\",\"conversation_id\":\"" CONV "\"}",
         SIZE_MAX, &r);
    CHECK_STATUS(r, 400);
    CHECK_STR(jstr(r.json, "detail"), "Memory content cannot be empty");
    resp_free(&r);
    http(&srv, "POST", "/api/memories", NULL,
         "{\"content\":\"x\",\"memory_type\":\"memo\",\"conversation_id\":\"" CONV "\"}", SIZE_MAX,
         &r);
    CHECK_STATUS(r, 422);
    CHECK(first_error(&r, type, sizeof type, loc, sizeof loc));
    CHECK_STR(type, "enum");
    CHECK_STR(loc, "body.memory_type");
    resp_free(&r);
    http(&srv, "GET", "/api/memories/1234", NULL, NULL, 0, &r);
    CHECK_STATUS(r, 422);
    resp_free(&r);
    /* Deep nesting and odd bytes in paths never hurt. */
    char deep[40010];
    memset(deep, '[', 20000);
    memset(deep + 20000, ']', 20000);
    deep[40000] = '\0';
    http(&srv, "POST", "/api/memories/search", NULL, deep, SIZE_MAX, &r);
    CHECK_STATUS(r, 422);
    resp_free(&r);
    http(&srv, "GET", "/api/memories/%ff%00abc", NULL, NULL, 0, &r);
    CHECK(r.status == 422 || r.status == 404);
    resp_free(&r);
    http(&srv, "GET", "/health", NULL, NULL, 0, &r);
    CHECK_STATUS(r, 200); /* still alive */
    resp_free(&r);
    stop();
}

TEST(test_oversize_body_is_413)
{
    CHECK(start());
    size_t n = (1u << 20) + 100;
    char *big = malloc(n + 1);
    memset(big, 'a', n);
    memcpy(big, "{\"content\":\"", 12);
    big[n] = '\0';
    struct resp r;
    http(&srv, "POST", "/api/memories", NULL, big, n, &r);
    free(big);
    CHECK_STATUS(r, 413);
    CHECK(jstr(r.json, "detail") != NULL);
    resp_free(&r);
    /* A body just under the limit is parsed (and rejected for its content length). */
    n = (1u << 20) - 200;
    big = malloc(n + 200);
    char *p = big + sprintf(big, "{\"memory_type\":\"rule\",\"conversation_id\":\"" CONV
                                 "\",\"content\":\"");
    memset(p, 'b', n - (size_t)(p - big));
    strcpy(big + n, "\"}");
    http(&srv, "POST", "/api/memories", NULL, big, SIZE_MAX, &r);
    free(big);
    CHECK_STATUS(r, 422);
    char type[64], loc[128];
    CHECK(first_error(&r, type, sizeof type, loc, sizeof loc));
    CHECK_STR(type, "string_too_long");
    resp_free(&r);
    stop();
}

TEST(test_health_and_access_log)
{
    CHECK(start());
    struct resp r;
    http(&srv, "GET", "/health", NULL, NULL, 0, &r);
    CHECK_STATUS(r, 200);
    CHECK_STR(jstr(r.json, "status"), "ok");
    CHECK_STR(jstr(json_object_get(r.json, "store"), "status"), "ok");
    CHECK_STR(jstr(json_object_get(r.json, "store"), "backend"), test_backend());
    CHECK_STR(jstr(json_object_get(r.json, "embedder"), "model"), "memori-wordnet-v2");
    resp_free(&r);
    stop();
    FILE *f = fopen(srv.log, "r");
    CHECK(f);
    char line[512];
    bool found = false;
    while (fgets(line, sizeof line, f))
        found |= strncmp(line, "access GET /health 200 ", 23) == 0 && strstr(line, "us");
    fclose(f);
    CHECK(found);
}

TEST(test_data_survives_restart)
{
    CHECK(start());
    char id[37];
    CHECK(create_memory("alice", "warehouse stock is counted nightly", "entity", CONV, id));
    char db[512];
    snprintf(db, sizeof db, "%s", srv.db);
    CHECK_INT(server_stop(&srv, SIGTERM), 0);
    CHECK(server_start(&srv, db, NULL) == 0);
    struct resp r;
    http(&srv, "POST", "/api/memories/search", "alice",
         "{\"query\":\"warehouse stock\",\"min_similarity\":0}", SIZE_MAX, &r);
    CHECK_STATUS(r, 200);
    CHECK_INT(jint(r.json, "total"), 1);
    CHECK_STR(jstr(json_array_get(json_object_get(r.json, "results"), 0), "memory_id"), id);
    resp_free(&r);
    CHECK_INT(server_stop(&srv, SIGINT), 0);
}

/* Whether the server's log has line (a substring). */
static bool log_has(const char *line)
{
    FILE *f = fopen(srv.log, "r");
    char buf[1024];
    bool found = false;
    while (f && !found && fgets(buf, sizeof buf, f))
        found = strstr(buf, line) != NULL;
    if (f)
        fclose(f);
    return found;
}

/* Waits until /health says no graph is building (at most 60 s). */
static bool graphs_ready(void)
{
    for (int i = 0; i < 600; i++) {
        struct resp r;
        http(&srv, "GET", "/health", NULL, NULL, 0, &r);
        json_t *ix = r.json ? json_object_get(r.json, "index") : NULL;
        bool ready = ix && jint(ix, "graphs_building") == 0;
        resp_free(&r);
        if (ready)
            return true;
        usleep(100000);
    }
    return false;
}

/* The memory_ids of a search's results, joined by ','. */
static void search_ids(const char *query, char *out, size_t cap)
{
    char body[256];
    snprintf(body, sizeof body, "{\"query\":\"%s\",\"min_similarity\":0,\"limit\":5}", query);
    struct resp r;
    http(&srv, "POST", "/api/memories/search", "alice", body, SIZE_MAX, &r);
    out[0] = '\0';
    json_t *res = r.json ? json_object_get(r.json, "results") : NULL;
    for (size_t i = 0; i < json_array_size(res); i++) {
        const char *id = jstr(json_array_get(res, i), "memory_id");
        size_t n = strlen(out);
        snprintf(out + n, cap - n, "%s%s", n ? "," : "", id ? id : "?");
    }
    resp_free(&r);
}

/*
 * The HNSW graphs are written beside the database at a clean stop and
 * reused at the next start; a snapshot left stale by a crash (a memory
 * deleted after it was written) is reconciled with the store.
 */
TEST(test_graph_snapshot_is_reused_and_reconciled)
{
    if (strcmp(test_backend(), "sqlite") != 0)
        return; /* PostgreSQL searches with pgvector: no graphs in memori */
    char *env[] = {"MEMORI_HNSW_THRESHOLD=30", NULL};
    char db[512];
    test_path(db, sizeof db, "e2e-graphs.db"); /* named: the test restarts on it */
    CHECK(server_start(&srv, db, env) == 0);
    static const char *tables[] = {"orders", "customers", "invoices", "shipments", "products"};
    for (int i = 0; i < 40; i++) {
        char content[128];
        snprintf(content, sizeof content, "the %s table, column c%d, holds note %d", tables[i % 5],
                 i, i);
        CHECK(create_memory("alice", content, "entity", CONV, NULL));
    }
    CHECK(graphs_ready());
    char before[512], after[512];
    search_ids("which table holds the invoices", before, sizeof before);
    CHECK(before[0] != '\0');
    CHECK_INT(server_stop(&srv, SIGTERM), 0);
    CHECK(log_has("wrote 1 graphs"));

    CHECK(server_start(&srv, db, env) == 0);
    CHECK(log_has("read 1 graphs"));
    CHECK(graphs_ready());
    search_ids("which table holds the invoices", after, sizeof after);
    CHECK_STR(after, before);
    /* Delete the best hit, then crash: the snapshot on disk still has it. */
    char top[37], path[96];
    snprintf(top, sizeof top, "%.36s", before);
    snprintf(path, sizeof path, "/api/memories/%s", top);
    struct resp r;
    http(&srv, "DELETE", path, "alice", NULL, 0, &r);
    CHECK_STATUS(r, 204);
    resp_free(&r);
    server_stop(&srv, SIGKILL);

    CHECK(server_start(&srv, db, env) == 0);
    CHECK(log_has("read 1 graphs"));
    CHECK(graphs_ready());
    search_ids("which table holds the invoices", after, sizeof after);
    CHECK(after[0] != '\0');
    CHECK(strstr(after, top) == NULL);
    const char *rest = strchr(before, ',') + 1;
    CHECK(strncmp(after, rest, strlen(rest)) == 0); /* the rest, in order, and one more */
    stop();
}

struct worker {
    int n;
    int errors;
};

static void *client(void *arg)
{
    struct worker *w = arg;
    char user[32], body[256];
    snprintf(user, sizeof user, "user%d", w->n % 10);
    for (int i = 0; i < 4; i++) {
        struct resp r;
        char conv[37];
        mr_uuid_v4(conv);
        snprintf(body, sizeof body,
                 "{\"content\":\"client %d note %d about table t%d\",\"memory_type\":\"entity\","
                 "\"conversation_id\":\"%s\"}",
                 w->n, i, i, conv);
        if (http(&srv, "POST", "/api/memories", user, body, SIZE_MAX, &r) != 0 || r.status != 201) {
            fprintf(stdout, "    client %d create: %ld %s\n", w->n, r.status, r.body ? r.body : "");
            w->errors++;
        }
        resp_free(&r);
        snprintf(body, sizeof body, "{\"query\":\"table t%d\",\"min_similarity\":0}", i);
        if (http(&srv, "POST", "/api/memories/search", user, body, SIZE_MAX, &r) != 0 ||
            r.status != 200 || jint(r.json, "total") < 1) {
            fprintf(stdout, "    client %d search: %ld %s\n", w->n, r.status, r.body ? r.body : "");
            w->errors++;
        }
        resp_free(&r);
    }
    return NULL;
}

TEST(test_fifty_concurrent_clients)
{
    CHECK(start());
    pthread_t th[50];
    struct worker w[50];
    for (int i = 0; i < 50; i++) {
        w[i] = (struct worker){i, 0};
        pthread_create(&th[i], NULL, client, &w[i]);
    }
    int errors = 0;
    for (int i = 0; i < 50; i++) {
        pthread_join(th[i], NULL);
        errors += w[i].errors;
    }
    CHECK_INT(errors, 0);
    long long total = 0;
    for (int u = 0; u < 10; u++) {
        char user[32];
        snprintf(user, sizeof user, "user%d", u);
        struct resp r;
        http(&srv, "GET", "/api/memories/statistics/summary", user, NULL, 0, &r);
        CHECK_INT(jint(r.json, "total_memories"), 20); /* 5 clients × 4 */
        total += jint(r.json, "total_memories");
        resp_free(&r);
    }
    CHECK_INT(total, 200);
    stop();
}

TEST(test_bad_config_exits_2_naming_the_variable)
{
    static const char *const cases[][2] = {
        {"PORT=abc", "PORT"},
        {"MEMORY_MIN_SIMILARITY_THRESHOLD=2", "MEMORY_MIN_SIMILARITY_THRESHOLD"},
        {"DATABASE_URL=mongodb://x", "DATABASE_URL"},
        {"ENVIRONMENT=production", "ENVIRONMENT"},
        {"MEMORI_EMBEDDING_MODEL=text-embedding-ada-002", "MEMORI_EMBEDDING_MODEL"},
        {"MEMORI_EMBEDDING_DIMENSIONS=100", "MEMORI_EMBEDDING_DIMENSIONS"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *env[] = {(char *)cases[i][0], NULL};
        char *args[] = {"serve", NULL};
        char err[2048];
        int rc = run_memori(args, env, err, sizeof err);
        if (rc != 2 || !strstr(err, cases[i][1])) {
            test_fail(__FILE__, __LINE__, "%s: exit %d, stderr %s", cases[i][0], rc, err);
            return;
        }
    }
}

TEST(test_cli_help_version_and_unknown)
{
    char out[4096];
    char *help[] = {"--help", NULL}, *version[] = {"--version", NULL},
         *bad[] = {"frobnicate", NULL};
    CHECK_INT(run_memori(help, NULL, out, sizeof out), 0);
    CHECK(strstr(out, "serve") != NULL);
    CHECK_INT(run_memori(version, NULL, out, sizeof out), 0);
    CHECK(strncmp(out, "memori ", 7) == 0);
    CHECK_INT(run_memori(bad, NULL, out, sizeof out), 2);
}

TEST(test_model_change_is_refused_then_reembedded)
{
    CHECK(start());
    CHECK(create_memory("alice", "fiscal year starts in April", "rule", CONV, NULL));
    char db[512], url[600];
    snprintf(db, sizeof db, "%s", srv.db);
    stop();
    CHECK(test_database_url(db, url, sizeof url) == 0);
    char *env[] = {url, "MEMORI_EMBEDDING_MODEL=memori-lexical-v1", "PORT=0", NULL};
    char *serve[] = {"serve", NULL}, *reembed[] = {"reembed", NULL};
    char err[4096];
    CHECK_INT(run_memori(serve, env, err, sizeof err), 1);
    CHECK(strstr(err, "memori-wordnet-v2") !=
          NULL); /* the default model the memory was stored with */
    CHECK(strstr(err, "reembed") != NULL);
    CHECK_INT(run_memori(reembed, env, err, sizeof err), 0);
    CHECK(strstr(err, "re-embedded 1 memories") != NULL);
    char *extra[] = {"MEMORI_EMBEDDING_MODEL=memori-lexical-v1", NULL};
    CHECK(server_start(&srv, db, extra) == 0);
    struct resp r;
    http(&srv, "POST", "/api/memories/search", "alice",
         "{\"query\":\"fiscal year\",\"min_similarity\":0}", SIZE_MAX, &r);
    CHECK_STATUS(r, 200);
    CHECK_INT(jint(r.json, "total"), 1);
    resp_free(&r);
    stop();
}

/*
 * One SQLite file serves one process (its vectors live in that process's
 * index): a second `memori serve` on it refuses to start, exit code 2,
 * naming the file and the process that has it. PostgreSQL serves any number.
 */
TEST(test_second_serve_on_one_sqlite_file_exits_2)
{
    if (strcmp(test_backend(), "sqlite") != 0)
        SKIP("SQLite only: PostgreSQL serves any number of processes");
    CHECK(start());
    char url[600], pid[32], err[4096];
    CHECK(test_database_url(srv.db, url, sizeof url) == 0);
    snprintf(pid, sizeof pid, "(pid %ld)", (long)srv.pid);
    char *env[] = {url, "PORT=0", NULL};
    char *serve[] = {"serve", NULL};
    int rc = run_memori(serve, env, err, sizeof err);
    stop();
    CHECK_INT(rc, 2);
    CHECK(strstr(err, "in use by another memori process") != NULL);
    CHECK(strstr(err, srv.db) != NULL);
    CHECK(strstr(err, pid) != NULL);
}

TEST(test_search_finds_meaning)
{
    CHECK(start());
    char orders[37];
    CHECK(create_memory("alice", "The orders table holds one row per customer order", "entity",
                        CONV, orders));
    CHECK(create_memory("alice", "Always format dates as ISO 8601", "rule", CONV, NULL));
    CHECK(create_memory("alice", "Employees report to a manager through manager_id", "relationship",
                        CONV, NULL));
    struct resp r;
    http(&srv, "POST", "/api/memories/search", "alice",
         "{\"query\":\"which table holds purchases?\",\"limit\":1,\"min_similarity\":0}", SIZE_MAX,
         &r);
    CHECK_STATUS(r, 200);
    CHECK_INT(jint(r.json, "total"), 1);
    CHECK_STR(jstr(json_array_get(json_object_get(r.json, "results"), 0), "memory_id"), orders);
    resp_free(&r);
    stop();
}

TEST(test_openai_provider_end_to_end)
{
    struct fake_openai *fake = fake_openai_start(16);
    CHECK(fake);
    char url[128], db[512];
    snprintf(url, sizeof url, "OPENAI_BASE_URL=http://127.0.0.1:%d/v1", fake_openai_port(fake));
    char *env[] = {"MEMORI_EMBEDDING_PROVIDER=openai",
                   url,
                   "OPENAI_API_KEY=sk-e2e-secret-key-123456",
                   "MEMORI_EMBEDDING_MODEL=text-embedding-test",
                   "MEMORI_EMBEDDING_DIMENSIONS=16",
                   "MEMORI_EMBEDDING_MAX_RETRIES=0",
                   NULL};
    bool started = server_start(&srv, test_path(db, sizeof db, "openai.db"), env) == 0;
    if (!started)
        fake_openai_stop(fake);
    CHECK(started);
    char id[37];
    bool ok = create_memory("alice", "stored through the provider", "rule", CONV, id);
    struct resp r;
    http(&srv, "POST", "/api/memories/search", "alice",
         "{\"query\":\"stored through the provider\",\"min_similarity\":0.99,"
         "\"mode\":\"semantic\"}",
         SIZE_MAX, &r);
    bool found = r.status == 200 && jint(r.json, "total") == 1;
    resp_free(&r);
    /* The provider fails: a clear 503, and nothing stored. */
    fake_openai_push(fake, FAKE_500, 1);
    http(&srv, "POST", "/api/memories", "alice",
         "{\"content\":\"never stored\",\"memory_type\":\"rule\",\"conversation_id\":\"" CONV "\"}",
         SIZE_MAX, &r);
    long failed_status = r.status;
    bool has_detail = jstr(r.json, "detail") && strstr(jstr(r.json, "detail"), "provider");
    resp_free(&r);
    http(&srv, "GET", "/health", NULL, NULL, 0, &r);
    bool degraded = r.status == 200 && strcmp(jstr(r.json, "status"), "degraded") == 0;
    resp_free(&r);
    http(&srv, "GET", "/api/memories/statistics/summary", "alice", NULL, 0, &r);
    long long total = jint(r.json, "total_memories");
    resp_free(&r);
    int requests = fake_openai_requests(fake);
    stop();
    fake_openai_stop(fake);
    CHECK(ok);
    CHECK(found);
    CHECK_INT(failed_status, 503);
    CHECK(has_detail);
    CHECK(degraded);
    CHECK_INT(total, 1);
    CHECK_INT(requests, 2); /* the search text equals the content: served by the in-process cache */
    /* The key never reaches the log. */
    FILE *f = fopen(srv.log, "r");
    CHECK(f);
    char line[1024];
    bool leaked = false;
    while (fgets(line, sizeof line, f))
        leaked |= strstr(line, "sk-e2e-secret") != NULL;
    fclose(f);
    CHECK(!leaked);
}

/*
 * Two memori processes share one Redis embedding cache: what one embedded the
 * other does not ask the provider for. Redis stopped: still 2xx, health degraded.
 */
TEST(test_shared_redis_cache_across_processes)
{
    struct redis_server rs;
    CHECK(redis_server_start(&rs, 0) == 0);
    struct fake_openai *fake = fake_openai_start(16);
    char base[128], redis[128], db1[512], db2[512];
    snprintf(base, sizeof base, "OPENAI_BASE_URL=http://127.0.0.1:%d/v1", fake_openai_port(fake));
    snprintf(redis, sizeof redis, "REDIS_URL=%s", rs.url);
    char *env[] = {"MEMORI_EMBEDDING_PROVIDER=openai",
                   base,
                   "MEMORI_EMBEDDING_MODEL=test-model",
                   "MEMORI_EMBEDDING_DIMENSIONS=16",
                   "REDIS_ENABLED=true",
                   redis,
                   NULL};
    struct server a, b;
    bool up = server_start(&a, test_path(db1, sizeof db1, "shared-a.db"), env) == 0 &&
              server_start(&b, test_path(db2, sizeof db2, "shared-b.db"), env) == 0;
    struct resp r;
    const char *body = "{\"content\":\"the shared sentence\",\"memory_type\":\"rule\","
                       "\"conversation_id\":\"" CONV "\"}";
    long s1 = 0, s2 = 0, s3 = 0;
    int texts_after_a = 0, texts_after_b = 0;
    bool degraded = false;
    if (up) {
        http(&a, "POST", "/api/memories", "alice", body, SIZE_MAX, &r);
        s1 = r.status;
        resp_free(&r);
        texts_after_a = fake_openai_texts(fake);
        http(&b, "POST", "/api/memories", "alice", body, SIZE_MAX, &r);
        s2 = r.status;
        resp_free(&r);
        texts_after_b = fake_openai_texts(fake);
        redis_server_stop(&rs);
        http(&b, "POST", "/api/memories/search", "alice", "{\"query\":\"a new question\"}",
             SIZE_MAX, &r);
        s3 = r.status;
        resp_free(&r);
        http(&b, "GET", "/health", NULL, NULL, 0, &r);
        degraded = r.status == 200 && jstr(r.json, "status") &&
                   strcmp(jstr(r.json, "status"), "degraded") == 0;
        resp_free(&r);
    }
    int ea = a.pid ? server_stop(&a, SIGTERM) : -1, eb = b.pid ? server_stop(&b, SIGTERM) : -1;
    redis_server_stop(&rs);
    fake_openai_stop(fake);
    CHECK(up);
    CHECK_INT(s1, 201);
    CHECK_INT(s2, 201);
    CHECK_INT(texts_after_a, 1);
    CHECK_INT(texts_after_b, 1); /* b found it in Redis */
    CHECK_INT(s3, 200);          /* Redis down: the provider answers */
    CHECK(degraded);
    CHECK_INT(ea, 0);
    CHECK_INT(eb, 0);
}

/* Mutated bodies, paths and queries against every route: always an answer, never a 5xx. */
TEST(test_mutated_requests_never_get_5xx)
{
    CHECK(start());
    char id[37];
    CHECK(create_memory("alice", "seed memory", "short_term", CONV, id));
    static const char *const seeds[] = {
        "{\"content\":\"c\",\"memory_type\":\"rule\",\"conversation_id\":\"" CONV "\","
        "\"importance_score\":0.5,\"context_tags\":[\"a\"],\"metadata\":{\"k\":[1,{}]}}",
        "{\"query\":\"orders\",\"limit\":5,\"min_similarity\":0.1,\"memory_types\":[\"rule\"],"
        "\"include_archived\":true,\"conversation_id\":\"" CONV "\"}",
        "{\"title\":\"t\",\"metadata\":{},\"is_active\":false,\"data_source_id\":1}",
    };
    char paths[][128] = {"/api/memories",
                         "/api/memories/search",
                         "/api/conversations",
                         "",
                         "",
                         "/api/conversations/" CONV,
                         "/api/memories/maintenance/archive",
                         "/api/conversations/" CONV "/memories",
                         "/health"};
    snprintf(paths[3], sizeof paths[3], "/api/memories/%s", id);
    snprintf(paths[4], sizeof paths[4], "/api/memories/%s/promote", id);
    static const char *const methods[] = {"POST", "PATCH", "GET", "DELETE", "PUT"};
    static const char junk[] = "{}[]\",:0123456789.eE-+tfnul\\ \x80\xc3\xff\x00?&=%/";
    unsigned seed = 12345;
    int bad = 0;
    for (int i = 0; i < 600 && bad == 0; i++) {
        const char *base = seeds[rand_r(&seed) % 3];
        size_t n = strlen(base);
        char body[1024];
        memcpy(body, base, n + 1);
        int edits = 1 + rand_r(&seed) % 4;
        for (int e = 0; e < edits; e++) {
            size_t at = (size_t)rand_r(&seed) % n;
            int op = rand_r(&seed) % 3;
            char ch = junk[rand_r(&seed) % (sizeof junk - 1)];
            if (op == 0)
                body[at] = ch;
            else if (op == 1 && n + 1 < sizeof body) {
                memmove(body + at + 1, body + at, n - at + 1);
                body[at] = ch;
                n++;
            } else if (n > 1) {
                memmove(body + at, body + at + 1, n - at);
                n--;
            }
        }
        char path[256];
        const char *p = paths[rand_r(&seed) % 9];
        if (rand_r(&seed) % 4 == 0)
            snprintf(path, sizeof path, "%s?days_threshold=%c%d&limit=%d", p,
                     junk[rand_r(&seed) % 10], rand_r(&seed) % 400, rand_r(&seed) % 200 - 50);
        else
            snprintf(path, sizeof path, "%s", p);
        const char *method = methods[rand_r(&seed) % 5];
        struct resp r;
        if (http(&srv, method, path, rand_r(&seed) % 2 ? "alice" : "bob", body, n, &r) != 0 ||
            r.status < 200 || r.status >= 500 || (!r.json && r.status != 204)) {
            test_fail(__FILE__, __LINE__, "%s %s body %s -> %ld %s", method, path, body, r.status,
                      r.body);
            bad++;
        }
        resp_free(&r);
    }
    stop();
}

TEST_MAIN("e2e_api", T(test_mutated_requests_never_get_5xx), T(test_memory_crud),
          T(test_create_with_trailing_slash_and_short_term_expiry),
          T(test_search_ranks_filters_and_counts_access),
          T(test_promote_and_archive_and_statistics), T(test_conversations_endpoints),
          T(test_two_users_are_isolated), T(test_bad_requests_get_clear_4xx),
          T(test_oversize_body_is_413), T(test_health_and_access_log),
          T(test_data_survives_restart), T(test_graph_snapshot_is_reused_and_reconciled),
          T(test_fifty_concurrent_clients), T(test_bad_config_exits_2_naming_the_variable),
          T(test_cli_help_version_and_unknown), T(test_model_change_is_refused_then_reembedded),
          T(test_second_serve_on_one_sqlite_file_exits_2), T(test_search_finds_meaning),
          T(test_openai_provider_end_to_end), T(test_shared_redis_cache_across_processes))
