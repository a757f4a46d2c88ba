/*
 * Production identity end to end: JWTs over HTTP, 401s, roles, and the
 * isolation matrix — users × tenants × every endpoint on a memory and a
 * conversation owned by someone else.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "http_client.h"
#include "memori/auth.h"
#include "test.h"

#define SECRET "e2e-secret-0123456789abcdef0123456789"
#define CONV "7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"

static struct server srv;
static struct mr_auth auth = {true, true, SECRET, "HS256", "default", NULL};

static const char *isolation = "TENANT_ISOLATION_LEVEL=strict";

static bool start(void)
{
    char db[512];
    static int n;
    char name[32];
    snprintf(name, sizeof name, "auth-%d.db", n++);
    char *env[] = {"ENVIRONMENT=production", "SECRET_KEY=" SECRET, (char *)isolation, NULL};
    auth.clock = mr_clock_system();
    return server_start(&srv, test_path(db, sizeof db, name), env) == 0;
}

static char *token(const char *sub, const char *tenant, bool admin)
{
    struct mr_err err;
    return mr_auth_mint(&auth, sub, tenant, admin ? "admin" : NULL, 30, &err);
}

/* A request as the principal of token tok. */
static int as(const char *tok, const char *method, const char *path, const char *body,
              struct resp *r)
{
    return http_auth(&srv, method, path, tok, body, body ? SIZE_MAX : 0, r);
}

TEST(test_production_requires_tokens)
{
    CHECK(start());
    struct resp r;
    http(&srv, "GET", "/api/conversations", "alice", NULL, 0, &r);
    CHECK_INT(r.status, 401); /* X-User-Id is ignored in production */
    CHECK_STR(r.www_authenticate, "Bearer");
    resp_free(&r);
    as("garbage", "GET", "/api/conversations", NULL, &r);
    CHECK_INT(r.status, 401);
    CHECK_STR(r.www_authenticate, "Bearer");
    resp_free(&r);
    struct mr_auth other = auth;
    other.secret = "some-other-secret-of-enough-length-123";
    struct mr_err err;
    char *forged = mr_auth_mint(&other, "alice", NULL, "admin", 30, &err);
    as(forged, "GET", "/api/conversations", NULL, &r);
    CHECK_INT(r.status, 401);
    resp_free(&r);
    free(forged);
    as("eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSIsImV4cCI6NDEwMjQ0NDgwMH0.", "GET",
       "/api/conversations", NULL, &r);
    CHECK_INT(r.status, 401);
    resp_free(&r);
    http(&srv, "GET", "/health", NULL, NULL, 0, &r);
    CHECK_INT(r.status, 200); /* health needs no token */
    resp_free(&r);
    char *t = token("alice", "t1", false);
    as(t, "GET", "/api/conversations", NULL, &r);
    CHECK_INT(r.status, 200);
    resp_free(&r);
    free(t);
    CHECK_INT(server_stop(&srv, SIGTERM), 0);
}

TEST(test_isolation_matrix)
{
    CHECK(start());
    char *owner = token("alice", "t1", false);
    char *others[] = {token("bob", "t1", false), token("alice", "t2", false),
                      token("root", "t1", true), token("root", "t2", true)};
    const char *names[] = {"bob@t1", "alice@t2", "admin@t1", "admin@t2"};
    struct resp r;
    as(owner, "POST", "/api/memories",
       "{\"content\":\"alice's confidential revenue rule\",\"memory_type\":\"rule\","
       "\"conversation_id\":\"" CONV "\"}",
       &r);
    CHECK_INT(r.status, 201);
    char id[37];
    snprintf(id, sizeof id, "%s", jstr(r.json, "memory_id"));
    resp_free(&r);
    char mpath[96], ppath[128];
    snprintf(mpath, sizeof mpath, "/api/memories/%s", id);
    snprintf(ppath, sizeof ppath, "/api/memories/%s/promote", id);
    struct {
        const char *method, *path, *body;
    } foreign[] = {
        {"GET", mpath, NULL},
        {"PATCH", mpath, "{\"importance_score\":0.1}"},
        {"DELETE", mpath, NULL},
        {"POST", ppath, NULL},
        {"GET", "/api/conversations/" CONV, NULL},
        {"PATCH", "/api/conversations/" CONV, "{\"title\":\"mine now\"}"},
        {"DELETE", "/api/conversations/" CONV, NULL},
        {"GET", "/api/conversations/" CONV "/memories", NULL},
        {"POST", "/api/memories",
         "{\"content\":\"x\",\"memory_type\":\"rule\",\"conversation_id\":\"" CONV "\"}"},
    };
    for (size_t p = 0; p < 4; p++) {
        for (size_t e = 0; e < sizeof foreign / sizeof foreign[0]; e++) {
            as(others[p], foreign[e].method, foreign[e].path, foreign[e].body, &r);
            if (r.status != 404) {
                test_fail(__FILE__, __LINE__, "%s %s %s -> %ld, want 404", names[p],
                          foreign[e].method, foreign[e].path, r.status);
                resp_free(&r);
                return;
            }
            resp_free(&r);
        }
        as(others[p], "POST", "/api/memories/search",
           "{\"query\":\"confidential revenue rule\",\"min_similarity\":0}", &r);
        CHECK_INT(r.status, 200);
        CHECK_INT(jint(r.json, "total"), 0);
        resp_free(&r);
        as(others[p], "GET", "/api/memories/statistics/summary", NULL, &r);
        CHECK_INT(jint(r.json, "total_memories"), 0);
        resp_free(&r);
        as(others[p], "GET", "/api/conversations", NULL, &r);
        CHECK_INT(jint(r.json, "total"), 0);
        resp_free(&r);
    }
    /* Roles: tenant-wide statistics and maintenance are for admins, within their tenant. */
    as(owner, "GET", "/api/memories/statistics/summary?all_users=true", NULL, &r);
    CHECK_INT(r.status, 403);
    resp_free(&r);
    as(owner, "POST", "/api/memories/maintenance/archive?user_id=bob", NULL, &r);
    CHECK_INT(r.status, 403);
    resp_free(&r);
    as(others[2], "GET", "/api/memories/statistics/summary?all_users=true", NULL, &r);
    CHECK_INT(r.status, 200);
    CHECK_INT(jint(r.json, "total_memories"), 1); /* alice's, in t1 */
    resp_free(&r);
    as(others[3], "GET", "/api/memories/statistics/summary?all_users=true", NULL, &r);
    CHECK_INT(jint(r.json, "total_memories"), 0); /* t2's admin sees nothing of t1 */
    resp_free(&r);
    as(others[2], "GET", "/api/memories/statistics/summary?user_id=alice", NULL, &r);
    CHECK_INT(jint(r.json, "total_memories"), 1);
    resp_free(&r);
    as(others[2], "POST", "/api/memories/maintenance/archive?all_users=true&days_threshold=1", NULL,
       &r);
    CHECK_INT(r.status, 200);
    CHECK_INT(jint(r.json, "archived_count"), 0);
    resp_free(&r);
    /* Still alice's, untouched. */
    as(owner, "GET", mpath, NULL, &r);
    CHECK_INT(r.status, 200);
    CHECK_NEAR(jnum(r.json, "importance_score"), 0.5, 0);
    resp_free(&r);
    free(owner);
    for (int p = 0; p < 4; p++)
        free(others[p]);
    CHECK_INT(server_stop(&srv, SIGTERM), 0);
}

/* Relaxed isolation: shared rules reach the tenant's other users, read-only, and nothing else. */
TEST(test_isolation_matrix_relaxed)
{
    isolation = "TENANT_ISOLATION_LEVEL=relaxed";
    bool up = start();
    isolation = "TENANT_ISOLATION_LEVEL=strict";
    CHECK(up);
    char *owner = token("alice", "t1", false), *bob = token("bob", "t1", false),
         *other = token("alice", "t2", false);
    struct resp r;
    char shared[37], private_[37];
    as(owner, "POST", "/api/memories",
       "{\"content\":\"the fiscal year starts in april\",\"memory_type\":\"rule\","
       "\"conversation_id\":\"" CONV "\",\"shared\":true}",
       &r);
    CHECK_INT(r.status, 201);
    CHECK(json_is_true(json_object_get(r.json, "shared")));
    snprintf(shared, sizeof shared, "%s", jstr(r.json, "memory_id"));
    resp_free(&r);
    as(owner, "POST", "/api/memories",
       "{\"content\":\"the fiscal year bonus of alice\",\"memory_type\":\"rule\","
       "\"conversation_id\":\"" CONV "\"}",
       &r);
    snprintf(private_, sizeof private_, "%s", jstr(r.json, "memory_id"));
    resp_free(&r);
    as(owner, "POST", "/api/memories",
       "{\"content\":\"x\",\"memory_type\":\"short_term\",\"conversation_id\":\"" CONV
       "\",\"shared\":true}",
       &r);
    CHECK_INT(r.status, 400); /* only rule, entity, relationship */
    resp_free(&r);
    /* bob, same tenant: finds the shared one only, may read it, may not change it. */
    as(bob, "POST", "/api/memories/search", "{\"query\":\"fiscal year\",\"min_similarity\":0}", &r);
    CHECK_INT(jint(r.json, "total"), 1);
    CHECK_STR(jstr(json_array_get(json_object_get(r.json, "results"), 0), "memory_id"), shared);
    resp_free(&r);
    char path[128];
    snprintf(path, sizeof path, "/api/memories/%s", shared);
    as(bob, "GET", path, NULL, &r);
    CHECK_INT(r.status, 200);
    CHECK_INT(jint(r.json, "access_count"), 0); /* bob's search left alice's stats alone */
    resp_free(&r);
    as(bob, "PATCH", path, "{\"content\":\"hijacked\"}", &r);
    CHECK_INT(r.status, 404);
    resp_free(&r);
    as(bob, "DELETE", path, NULL, &r);
    CHECK_INT(r.status, 404);
    resp_free(&r);
    snprintf(path, sizeof path, "/api/memories/%s", private_);
    as(bob, "GET", path, NULL, &r);
    CHECK_INT(r.status, 404);
    resp_free(&r);
    /* Another tenant: nothing. */
    as(other, "POST", "/api/memories/search", "{\"query\":\"fiscal year\",\"min_similarity\":0}",
       &r);
    CHECK_INT(jint(r.json, "total"), 0);
    resp_free(&r);
    snprintf(path, sizeof path, "/api/memories/%s", shared);
    as(other, "GET", path, NULL, &r);
    CHECK_INT(r.status, 404);
    resp_free(&r);
    free(owner);
    free(bob);
    free(other);
    CHECK_INT(server_stop(&srv, SIGTERM), 0);
}

TEST(test_production_refuses_weak_secrets)
{
    static const char *const bad[] = {"SECRET_KEY=", "SECRET_KEY=changeme",
                                      "SECRET_KEY=short-random-3f9a"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char *env[] = {"ENVIRONMENT=production", (char *)bad[i], NULL};
        char *args[] = {"serve", NULL};
        char err[2048];
        int rc = run_memori(args, env, err, sizeof err);
        if (rc != 2 || !strstr(err, "SECRET_KEY")) {
            test_fail(__FILE__, __LINE__, "%s: exit %d: %s", bad[i], rc, err);
            return;
        }
    }
    char *env[] = {"SECRET_KEY=" SECRET, NULL};
    char *args[] = {"token", "--sub", "carol", "--role", "admin", "--ttl", "5", NULL};
    char out[2048];
    CHECK_INT(run_memori(args, env, out, sizeof out), 0);
    CHECK(strncmp(out, "eyJ", 3) == 0);
}

TEST_MAIN("e2e_auth", T(test_production_requires_tokens), T(test_isolation_matrix),
          T(test_isolation_matrix_relaxed), T(test_production_refuses_weak_secrets))
