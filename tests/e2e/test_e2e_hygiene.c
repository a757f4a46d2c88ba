/*
 * End-to-end tests of memory hygiene (issue 20, docs/hygiene.md) over HTTP,
 * on SQLite and (MEMORI_TEST_BACKEND=postgres) PostgreSQL: exact duplicates
 * under a storm of concurrent creates, near-duplicate merges, the history
 * of every change (replayed, it gives the current row), supersession, and
 * every bad input of the feature.
 */
#define _GNU_SOURCE
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "http_client.h"
#include "memori/auth.h"
#include "memori/clock.h"
#include "test.h"

#define SECRET "e2e-secret-0123456789abcdef0123456789"

static struct server srv;
static int db_n; /* servers started: part of the conversation ids, so tests never share one */

static bool start_with(char *const *env)
{
    db_n++;
    return server_start_fresh(&srv, "hygiene", env) == 0;
}

static bool start(void)
{
    return start_with(NULL);
}

static void stop(void)
{
    server_stop_checked(&srv);
}

/* A fresh conversation id per call, so tests do not share one. */
static const char *conv(void)
{
    static char ids[64][37];
    static int n;
    char *id = ids[n++ % 64];
    snprintf(id, 37, "7a1b2c3d-4e5f-4a6b-8c7d-%012x", (unsigned)(n + 1000 * db_n));
    return id;
}

/* POST /api/memories with body fields (JSON members without braces) for user; r is the answer. */
static int create(const char *user, const char *conv_id, const char *fields, struct resp *r)
{
    char body[4096];
    snprintf(body, sizeof body, "{\"conversation_id\":\"%s\",%s}", conv_id, fields);
    return http(&srv, "POST", "/api/memories", user, body, SIZE_MAX, r);
}

/* Creates and returns the memory_id (or "" after failing the test). */
static const char *create_id(const char *user, const char *conv_id, const char *fields, int want,
                             char id[37])
{
    struct resp r;
    id[0] = '\0';
    if (create(user, conv_id, fields, &r) != 0 || r.status != want) {
        test_fail(__FILE__, __LINE__, "create: status %ld, want %d: %s", r.status, want, r.body);
    } else {
        snprintf(id, 37, "%s", jstr(r.json, "memory_id"));
    }
    resp_free(&r);
    return id;
}

static json_t *get_json(const char *user, const char *path, long *status)
{
    struct resp r;
    http(&srv, "GET", path, user, NULL, 0, &r);
    *status = r.status;
    json_t *j = r.json ? json_incref(r.json) : NULL;
    resp_free(&r);
    return j;
}

static json_t *get_memory(const char *user, const char *id)
{
    char path[128];
    long status;
    snprintf(path, sizeof path, "/api/memories/%s", id);
    json_t *j = get_json(user, path, &status);
    if (status != 200) {
        json_decref(j);
        return NULL;
    }
    return j;
}

static json_t *get_history(const char *user, const char *id, long *status)
{
    char path[160];
    snprintf(path, sizeof path, "/api/memories/%s/history?limit=100", id);
    return get_json(user, path, status);
}

/* The memories of a conversation (total). */
static long long conversation_total(const char *user, const char *conv_id)
{
    char path[160];
    long status;
    snprintf(path, sizeof path, "/api/conversations/%s/memories", conv_id);
    json_t *j = get_json(user, path, &status);
    long long n = status == 200 ? jint(j, "total") : -1;
    json_decref(j);
    return n;
}

/* ---- exact duplicates ---- */

struct storm {
    const char *user, *conv, *fields;
    long status;
    char header[64];
    char id[37];
};

static void *storm_one(void *arg)
{
    struct storm *s = arg;
    struct resp r;
    if (create(s->user, s->conv, s->fields, &r) == 0) {
        s->status = r.status;
        snprintf(s->header, sizeof s->header, "%s", r.memori);
        snprintf(s->id, sizeof s->id, "%s",
                 jstr(r.json, "memory_id") ? jstr(r.json, "memory_id") : "");
    }
    resp_free(&r);
    return NULL;
}

/* n concurrent identical creates; counts the 201s and the 200s that said duplicate. */
static void run_storm(struct storm *s, int n, int *created, int *duplicates, bool *one_id)
{
    pthread_t th[100];
    for (int i = 0; i < n; i++)
        pthread_create(&th[i], NULL, storm_one, &s[i]);
    for (int i = 0; i < n; i++)
        pthread_join(th[i], NULL);
    *created = *duplicates = 0;
    *one_id = true;
    for (int i = 0; i < n; i++) {
        if (s[i].status == 201 && s[i].header[0] == '\0')
            (*created)++;
        if (s[i].status == 200 && strcmp(s[i].header, "X-Memori-Duplicate: true") == 0)
            (*duplicates)++;
        if (strcmp(s[i].id, s[0].id) != 0)
            *one_id = false;
    }
}

TEST(test_duplicate_storm_holds_one_memory_and_counts_every_access)
{
    CHECK(start());
    static struct storm s[100];
    const char *c = conv();
    const char *fields = "\"content\":\"Exclude test accounts from every customer count\","
                         "\"memory_type\":\"rule\"";
    for (int i = 0; i < 100; i++)
        s[i] = (struct storm){.user = "alice", .conv = c, .fields = fields};
    int created, dups;
    bool one_id;
    /* From nothing: one stores it, the 99 others get it back as duplicates. */
    run_storm(s, 100, &created, &dups, &one_id);
    CHECK_INT(created, 1);
    CHECK_INT(dups, 99);
    CHECK(one_id);
    CHECK_INT(conversation_total("alice", c), 1);
    json_t *m = get_memory("alice", s[0].id);
    CHECK(m);
    CHECK_INT(jint(m, "access_count"), 99);
    json_decref(m);
    /* Onto the stored one, spelled otherwise: 100 more accesses, still one memory. */
    const char *again = "\"content\":\"  exclude TEST accounts\\u00a0from every customer count \","
                        "\"memory_type\":\"rule\"";
    for (int i = 0; i < 100; i++)
        s[i] = (struct storm){.user = "alice", .conv = c, .fields = again};
    run_storm(s, 100, &created, &dups, &one_id);
    CHECK_INT(created, 0);
    CHECK_INT(dups, 100);
    CHECK(one_id);
    CHECK_INT(conversation_total("alice", c), 1);
    m = get_memory("alice", s[0].id);
    CHECK(m);
    CHECK_INT(jint(m, "access_count"), 199);
    CHECK_STR(jstr(m, "content"), "Exclude test accounts from every customer count");
    json_decref(m);
    /*
     * From 50 conversations at once: the creates no longer meet on their
     * conversation's row, and still no access is lost (on PostgreSQL the
     * duplicate's row is locked as a search's hit is).
     */
    static char convs[50][37];
    for (int i = 0; i < 50; i++) {
        snprintf(convs[i], 37, "%s", conv());
        s[i] = (struct storm){.user = "alice", .conv = convs[i], .fields = fields};
    }
    run_storm(s, 50, &created, &dups, &one_id);
    CHECK_INT(created, 0);
    CHECK_INT(dups, 50);
    CHECK(one_id);
    m = get_memory("alice", s[0].id);
    CHECK(m);
    CHECK_INT(jint(m, "access_count"), 249);
    json_decref(m);
    long status;
    json_t *h = get_history("alice", s[0].id, &status);
    CHECK_INT(status, 200);
    CHECK_INT(jint(h, "total"), 250); /* one create, 249 duplicates */
    json_decref(h);
    stop();
}

TEST(test_duplicates_are_per_user_type_and_live_memory)
{
    CHECK(start());
    const char *c1 = conv(), *c2 = conv();
    char a[37], b[37], x[37];
    const char *rule = "\"content\":\"Round monetary amounts to two decimals\","
                       "\"memory_type\":\"rule\"";
    create_id("alice", c1, rule, 201, a);
    /* Another user, another type, other words: new memories. */
    create_id("bob", c2, rule, 201, b);
    CHECK(strcmp(a, b) != 0);
    create_id(
        "alice", c1,
        "\"content\":\"Round monetary amounts to two decimals\",\"memory_type\":\"long_term\"", 201,
        x);
    create_id("alice", c1,
              "\"content\":\"Round monetary amounts to two decimals!\",\"memory_type\":\"rule\"",
              201, x);
    /* The same words in another conversation of the user: the same memory. */
    char d[37];
    create_id("alice", conv(), rule, 200, d);
    CHECK_STR(d, a);
    /* An archived (superseded) memory is no longer live: the fact is stored anew. */
    char e[37], body[256];
    create_id("alice", c1, "\"content\":\"Round every amount\",\"memory_type\":\"rule\"", 201, e);
    snprintf(body, sizeof body, "{\"supersedes\":[\"%s\"]}", a);
    char path[128];
    snprintf(path, sizeof path, "/api/memories/%s", e);
    struct resp r;
    http(&srv, "PATCH", path, "alice", body, SIZE_MAX, &r);
    CHECK_INT(r.status, 200);
    resp_free(&r);
    char f[37];
    create_id("alice", c1, rule, 201, f);
    CHECK(strcmp(f, a) != 0);
    stop();
}

/* ---- near duplicates ---- */

/* Four longer rules of other facts, so the user's partition has the statistics of real use. */
static void seed(const char *user, const char *c)
{
    static const char *const others[] = {
        "Revenue in the board report is always shown net of refunds and of the sales taxes",
        "Dashboards for the sales team must load within five seconds on the reporting replica",
        "Customer counts in every report exclude the internal test accounts of the QA team",
        "When a question mentions last quarter, use the calendar quarter before the current one",
    };
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
        char fields[256], id[37];
        snprintf(fields, sizeof fields, "\"content\":\"%s\",\"memory_type\":\"rule\"", others[i]);
        create_id(user, c, fields, 201, id);
    }
}

TEST(test_merge_folds_a_near_duplicate_into_the_stored_memory)
{
    CHECK(start());
    const char *c = conv();
    seed("alice", c);
    char a[37];
    create_id("alice", c,
              "\"content\":\"The fiscal year starts on the first of April\",\"memory_type\":"
              "\"rule\",\"importance_score\":0.4,\"context_tags\":[\"finance\"],"
              "\"related_entities\":[\"calendar\"],\"metadata\":{\"k\":\"old\",\"a\":1}",
              201, a);
    /* dedup off (the default): a near duplicate is stored as today. */
    char off[37];
    create_id(
        "bob", conv(),
        "\"content\":\"The fiscal year starts on the first of April\",\"memory_type\":\"rule\"",
        201, off);
    create_id("bob", conv(),
              "\"content\":\"The fiscal year starts on April first\",\"memory_type\":\"rule\","
              "\"dedup\":\"off\"",
              201, off);
    struct resp r;
    create("alice", c,
           "\"content\":\"The fiscal year starts on April first\",\"memory_type\":\"rule\","
           "\"dedup\":\"merge\",\"importance_score\":0.9,\"context_tags\":[\"finance\",\"fy\"],"
           "\"related_entities\":[\"fiscal_year\"],\"metadata\":{\"k\":\"new\",\"b\":2}",
           &r);
    CHECK_INT(r.status, 200);
    CHECK_STR(r.memori, "X-Memori-Merged: true");
    CHECK_STR(jstr(r.json, "memory_id"), a);
    /* keep: the stored content and, for a key both have, the stored value. */
    CHECK_STR(jstr(r.json, "content"), "The fiscal year starts on the first of April");
    CHECK_NEAR(jnum(r.json, "importance_score"), 0.9, 1e-9);
    json_t *tags = json_object_get(r.json, "context_tags");
    CHECK_INT((long long)json_array_size(tags), 2);
    CHECK_STR(json_string_value(json_array_get(tags, 0)), "finance");
    CHECK_STR(json_string_value(json_array_get(tags, 1)), "fy");
    json_t *ents = json_object_get(r.json, "related_entities");
    CHECK_INT((long long)json_array_size(ents), 2);
    json_t *md = json_object_get(r.json, "metadata");
    CHECK_STR(jstr(md, "k"), "old");
    CHECK_INT(jint(md, "a"), 1);
    CHECK_INT(jint(md, "b"), 2);
    resp_free(&r);
    /* replace: the new content (re-embedded: a search by it finds it), the new value of k. */
    create("alice", c,
           "\"content\":\"Our fiscal year starts on the first of April\",\"memory_type\":\"rule\","
           "\"dedup\":\"merge\",\"dedup_policy\":\"replace\",\"importance_score\":0.1,"
           "\"metadata\":{\"k\":\"newest\"}",
           &r);
    CHECK_INT(r.status, 200);
    CHECK_STR(r.memori, "X-Memori-Merged: true");
    CHECK_STR(jstr(r.json, "memory_id"), a);
    CHECK_STR(jstr(r.json, "content"), "Our fiscal year starts on the first of April");
    CHECK_NEAR(jnum(r.json, "importance_score"), 0.9, 1e-9);
    CHECK_STR(jstr(json_object_get(r.json, "metadata"), "k"), "newest");
    resp_free(&r);
    /* Its old content's key is gone with it; the new content is an exact duplicate now. */
    char d[37];
    create_id(
        "alice", c,
        "\"content\":\"our fiscal year starts on the first of april\",\"memory_type\":\"rule\"",
        200, d);
    CHECK_STR(d, a);
    /* Another fact, or another type, is not merged. */
    char n1[37], n2[37];
    create_id("alice", c,
              "\"content\":\"The fiscal year starts on the first of July\",\"memory_type\":"
              "\"rule\",\"dedup\":\"merge\"",
              201, n1);
    create_id("alice", c,
              "\"content\":\"The fiscal year starts on April first\",\"memory_type\":"
              "\"long_term\",\"dedup\":\"merge\"",
              201, n2);
    CHECK_INT(conversation_total("alice", c), 4 + 3);
    stop();
}

TEST(test_memori_dedup_merge_is_the_default_it_names)
{
    char *env[] = {"MEMORI_DEDUP=merge", NULL};
    CHECK(start_with(env));
    const char *c = conv();
    seed("alice", c);
    char a[37], b[37];
    create_id(
        "alice", c,
        "\"content\":\"The fiscal year starts on the first of April\",\"memory_type\":\"rule\"",
        201, a);
    create_id("alice", c,
              "\"content\":\"The fiscal year starts on April first\",\"memory_type\":\"rule\"", 200,
              b);
    CHECK_STR(b, a);
    create_id("alice", c,
              "\"content\":\"Our fiscal year starts on the first of April\",\"memory_type\":"
              "\"rule\",\"dedup\":\"off\"",
              201, b);
    stop();
    char *bad[] = {"MEMORI_DEDUP=sometimes", NULL};
    char err[512];
    char *args[] = {"serve", NULL};
    CHECK_INT(run_memori(args, bad, err, sizeof err), 2);
    CHECK(strstr(err, "MEMORI_DEDUP") != NULL);
}

/* ---- history ---- */

/* The row the history's events give, applied in order: each change's new value. */
static json_t *replay(json_t *history)
{
    json_t *row = json_object();
    json_t *events = json_object_get(history, "events");
    for (size_t i = 0; i < json_array_size(events); i++) {
        json_t *changes = json_object_get(json_array_get(events, i), "changes");
        const char *field;
        json_t *change;
        json_object_foreach(changes, field, change)
        {
            json_object_set(row, field, json_object_get(change, "new"));
        }
    }
    return row;
}

/* The replayed row against the memory as GET answers it: every field history keeps. */
static bool replay_matches(json_t *row, json_t *m)
{
    static const char *const fields[] = {"content",         "memory_type",      "importance_score",
                                         "context_tags",    "related_entities", "metadata",
                                         "expires_at",      "is_archived",      "shared",
                                         "conversation_id", "data_source_id"};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        json_t *a = json_object_get(row, fields[i]), *b = json_object_get(m, fields[i]);
        bool same = json_is_number(a) && json_is_number(b)
                        ? fabs(json_number_value(a) - json_number_value(b)) < 1e-9
                        : json_equal(a, b);
        if (!same) {
            char *x = a ? json_dumps(a, JSON_ENCODE_ANY) : NULL,
                 *y = json_dumps(b, JSON_ENCODE_ANY);
            fprintf(stdout, "    %s: history gives %s, the memory has %s\n", fields[i],
                    x ? x : "(none)", y ? y : "(none)");
            free(x);
            free(y);
            return false;
        }
    }
    return true;
}

static const char *kinds(json_t *history, char *out, size_t cap)
{
    json_t *events = json_object_get(history, "events");
    size_t o = 0;
    out[0] = '\0';
    for (size_t i = 0; i < json_array_size(events) && o < cap; i++)
        o += (size_t)snprintf(out + o, cap - o, "%s%s", i ? "," : "",
                              jstr(json_array_get(events, i), "kind"));
    return out;
}

TEST(test_history_replays_to_the_current_row_after_every_operation)
{
    CHECK(start());
    const char *c = conv();
    seed("alice", c);
    char id[37], other[37], path[160], buf[256];
    create_id("alice", c,
              "\"content\":\"Weeks start on Monday in weekly reports\",\"memory_type\":"
              "\"short_term\",\"context_tags\":[\"calendar\"],\"metadata\":{\"src\":\"chat\"}",
              201, id);
    create_id("alice", c, "\"content\":\"Weeks start on Sunday\",\"memory_type\":\"long_term\"",
              201, other);
    struct resp r;
    snprintf(path, sizeof path, "/api/memories/%s", id);
    http(&srv, "PATCH", path, "alice",
         "{\"importance_score\":0.8,\"context_tags\":[\"calendar\",\"reports\"],"
         "\"metadata\":{\"level\":2}}",
         SIZE_MAX, &r);
    CHECK_INT(r.status, 200);
    resp_free(&r);
    snprintf(path, sizeof path, "/api/memories/%s/promote", id);
    http(&srv, "POST", path, "alice", NULL, 0, &r);
    CHECK_INT(r.status, 200);
    resp_free(&r);
    /* Promoted, it is a long_term memory: a long_term restatement is its exact duplicate. */
    char d[37];
    create_id("alice", c,
              "\"content\":\"weeks start on monday in weekly reports\",\"memory_type\":"
              "\"long_term\"",
              200, d);
    CHECK_STR(d, id);
    create_id("alice", c,
              "\"content\":\"In weekly reports weeks start on Monday\",\"memory_type\":"
              "\"long_term\",\"dedup\":\"merge\",\"related_entities\":[\"weeks\"]",
              200, d);
    CHECK_STR(d, id);
    snprintf(path, sizeof path, "/api/memories/%s", id);
    snprintf(buf, sizeof buf,
             "{\"content\":\"Weekly reports start their weeks on Monday\","
             "\"supersedes\":[\"%s\"]}",
             other);
    http(&srv, "PATCH", path, "alice", buf, SIZE_MAX, &r);
    CHECK_INT(r.status, 200);
    resp_free(&r);

    long status;
    json_t *h = get_history("alice", id, &status);
    CHECK_INT(status, 200);
    CHECK_STR(kinds(h, buf, sizeof buf), "create,update,promote,duplicate,merge,supersede");
    json_t *first = json_array_get(json_object_get(h, "events"), 0);
    CHECK_STR(jstr(first, "actor"), "alice");
    CHECK(jstr(first, "created_at") != NULL);
    json_t *row = replay(h), *m = get_memory("alice", id);
    CHECK(m && replay_matches(row, m));
    json_decref(row);
    json_decref(m);
    json_decref(h);
    /* The superseded one: its own history replays to its archived, linked row. */
    h = get_history("alice", other, &status);
    CHECK_STR(kinds(h, buf, sizeof buf), "create,supersede");
    row = replay(h);
    m = get_memory("alice", other);
    CHECK(m && replay_matches(row, m));
    CHECK(json_is_true(json_object_get(m, "is_archived")));
    CHECK_STR(jstr(json_object_get(m, "metadata"), "superseded_by"), id);
    json_decref(row);
    json_decref(m);
    json_decref(h);
    /* Paged as other lists. */
    snprintf(path, sizeof path, "/api/memories/%s/history?limit=2&offset=1", id);
    h = get_json("alice", path, &status);
    CHECK_INT(status, 200);
    CHECK_INT(jint(h, "total"), 6);
    CHECK_INT(jint(h, "limit"), 2);
    CHECK_INT(jint(h, "offset"), 1);
    CHECK_STR(kinds(h, buf, sizeof buf), "update,promote");
    json_decref(h);
    /* Another user sees nothing; after a delete, the owner neither (admins only). */
    h = get_history("bob", id, &status);
    CHECK_INT(status, 404);
    json_decref(h);
    snprintf(path, sizeof path, "/api/memories/%s", id);
    http(&srv, "DELETE", path, "alice", NULL, 0, &r);
    CHECK_INT(r.status, 204);
    resp_free(&r);
    h = get_history("alice", id, &status);
    CHECK_INT(status, 404);
    json_decref(h);
    stop();
}

TEST(test_the_same_fact_five_ways_is_one_memory_with_five_events)
{
    CHECK(start());
    const char *c = conv();
    seed("alice", c);
    static const char *const ways[] = {
        "\"content\":\"The fiscal year starts on the first of April\"",
        "\"content\":\"the fiscal year starts on the first of april\"",
        "\"content\":\" The fiscal\\u00a0year starts on the first of April\\n\"",
        "\"content\":\"Our fiscal year starts on the first of April\",\"dedup\":\"merge\"",
        "\"content\":\"The fiscal year starts on April first\",\"dedup\":\"merge\"",
    };
    char first[37] = "", id[37], fields[256];
    for (int i = 0; i < 5; i++) {
        snprintf(fields, sizeof fields, "%s,\"memory_type\":\"rule\"", ways[i]);
        create_id("alice", c, fields, i == 0 ? 201 : 200, id);
        if (i == 0)
            snprintf(first, sizeof first, "%s", id);
        CHECK_STR(id, first);
    }
    CHECK_INT(conversation_total("alice", c), 4 + 1);
    long status;
    char buf[256];
    json_t *h = get_history("alice", first, &status);
    CHECK_INT(status, 200);
    CHECK_INT(jint(h, "total"), 5);
    CHECK_STR(kinds(h, buf, sizeof buf), "create,duplicate,duplicate,merge,merge");
    json_decref(h);
    stop();
}

/* After a delete, an admin of the memory's tenant reads its history; nobody else. */
TEST(test_history_after_delete_is_for_admins_of_the_tenant)
{
    char *env[] = {"ENVIRONMENT=production", "SECRET_KEY=" SECRET, NULL};
    CHECK(start_with(env));
    struct mr_auth auth = {true, true, SECRET, "HS256", "default", mr_clock_system()};
    struct mr_err err;
    char *alice = mr_auth_mint(&auth, "alice", "t1", NULL, 30, &err);
    char *root = mr_auth_mint(&auth, "root", "t1", "admin", 30, &err);
    char *other_root = mr_auth_mint(&auth, "root", "t2", "admin", 30, &err);
    CHECK(alice && root && other_root);
    struct resp r;
    char body[256], path[160];
    snprintf(body, sizeof body,
             "{\"content\":\"Deleted facts keep their history\",\"memory_type\":\"rule\","
             "\"conversation_id\":\"%s\"}",
             conv());
    http_auth(&srv, "POST", "/api/memories", alice, body, SIZE_MAX, &r);
    CHECK_INT(r.status, 201);
    char id[37];
    snprintf(id, sizeof id, "%s", jstr(r.json, "memory_id"));
    resp_free(&r);
    snprintf(path, sizeof path, "/api/memories/%s", id);
    http_auth(&srv, "DELETE", path, alice, NULL, 0, &r);
    CHECK_INT(r.status, 204);
    resp_free(&r);
    snprintf(path, sizeof path, "/api/memories/%s/history", id);
    http_auth(&srv, "GET", path, alice, NULL, 0, &r);
    CHECK_INT(r.status, 404);
    resp_free(&r);
    http_auth(&srv, "GET", path, other_root, NULL, 0, &r);
    CHECK_INT(r.status, 404);
    resp_free(&r);
    http_auth(&srv, "GET", path, root, NULL, 0, &r);
    CHECK_INT(r.status, 200);
    char buf[128];
    CHECK_STR(kinds(r.json, buf, sizeof buf), "create,delete");
    json_t *del = json_array_get(json_object_get(r.json, "events"), 1);
    json_t *content = json_object_get(json_object_get(del, "changes"), "content");
    CHECK(json_is_null(json_object_get(content, "new")));
    CHECK_STR(jstr(content, "old"), "Deleted facts keep their history");
    resp_free(&r);
    free(alice);
    free(root);
    free(other_root);
    stop();
}

/* ---- supersede ---- */

TEST(test_supersede_archives_links_and_leaves_search)
{
    CHECK(start());
    const char *c = conv();
    char old1[37], old2[37], now_id[37], path[160], body[512];
    create_id("alice", c, "\"content\":\"Revenue is reported in euros\",\"memory_type\":\"rule\"",
              201, old1);
    create_id("alice", c,
              "\"content\":\"Revenue reports use EUR amounts\",\"memory_type\":\"rule\"", 201,
              old2);
    create_id("alice", c,
              "\"content\":\"Revenue is reported in US dollars\",\"memory_type\":\"rule\"", 201,
              now_id);
    struct resp r;
    snprintf(path, sizeof path, "/api/memories/%s", now_id);
    snprintf(body, sizeof body, "{\"supersedes\":[\"%s\",\"%s\"]}", old1, old2);
    http(&srv, "PATCH", path, "alice", body, SIZE_MAX, &r);
    CHECK_INT(r.status, 200);
    json_t *list = json_object_get(json_object_get(r.json, "metadata"), "supersedes");
    CHECK_INT((long long)json_array_size(list), 2);
    resp_free(&r);
    /* Search: never the superseded ones, unless include_archived. */
    http(&srv, "POST", "/api/memories/search", "alice",
         "{\"query\":\"revenue reported euros EUR\",\"min_similarity\":0}", SIZE_MAX, &r);
    CHECK_INT(r.status, 200);
    json_t *res = json_object_get(r.json, "results");
    for (size_t i = 0; i < json_array_size(res); i++) {
        const char *got = jstr(json_array_get(res, i), "memory_id");
        CHECK(strcmp(got, old1) != 0 && strcmp(got, old2) != 0);
    }
    CHECK_INT((long long)json_array_size(res), 1);
    resp_free(&r);
    http(&srv, "POST", "/api/memories/search", "alice",
         "{\"query\":\"revenue reported euros EUR\",\"min_similarity\":0,"
         "\"include_archived\":true}",
         SIZE_MAX, &r);
    CHECK_INT((long long)json_array_size(json_object_get(r.json, "results")), 3);
    resp_free(&r);
    /* Itself: 409. A cycle (old1 superseding its superseder): 409. */
    snprintf(body, sizeof body, "{\"supersedes\":[\"%s\"]}", now_id);
    http(&srv, "PATCH", path, "alice", body, SIZE_MAX, &r);
    CHECK_INT(r.status, 409);
    resp_free(&r);
    char p1[160];
    snprintf(p1, sizeof p1, "/api/memories/%s", old1);
    http(&srv, "PATCH", p1, "alice", body, SIZE_MAX, &r);
    CHECK_INT(r.status, 409);
    CHECK(strstr(r.body, "cycle") != NULL);
    resp_free(&r);
    /* Another user's memory, or none: 404, and nothing changed. */
    char bobs[37];
    create_id("bob", conv(), "\"content\":\"Bob's own rule\",\"memory_type\":\"rule\"", 201, bobs);
    snprintf(body, sizeof body, "{\"supersedes\":[\"%s\"],\"content\":\"changed\"}", bobs);
    http(&srv, "PATCH", path, "alice", body, SIZE_MAX, &r);
    CHECK_INT(r.status, 404);
    resp_free(&r);
    http(&srv, "PATCH", path, "alice",
         "{\"supersedes\":[\"00000000-0000-4000-8000-000000000000\"]}", SIZE_MAX, &r);
    CHECK_INT(r.status, 404);
    resp_free(&r);
    json_t *m = get_memory("alice", now_id);
    CHECK_STR(jstr(m, "content"), "Revenue is reported in US dollars");
    json_decref(m);
    m = get_memory("bob", bobs);
    CHECK(json_is_false(json_object_get(m, "is_archived")));
    json_decref(m);
    stop();
}

/* ---- bad input ---- */

static void expect_422(const char *method, const char *path, const char *body, const char *type,
                       const char *loc)
{
    struct resp r;
    http(&srv, method, path, "alice", body, body ? SIZE_MAX : 0, &r);
    char t[64], l[128];
    if (r.status != 422 || !first_error(&r, t, sizeof t, l, sizeof l) || strcmp(t, type) != 0 ||
        strcmp(l, loc) != 0)
        test_fail(__FILE__, __LINE__, "%s %s %s: %ld %s (want 422 %s at %s)", method, path,
                  body ? body : "", r.status, r.body, type, loc);
    resp_free(&r);
}

TEST(test_bad_hygiene_input_is_refused)
{
    CHECK(start());
    char id[37], body[512], path[160];
    const char *c = conv();
    create_id("alice", c, "\"content\":\"A rule\",\"memory_type\":\"rule\"", 201, id);
    static const char *const bad_dedup[] = {"\"maybe\"", "\"MERGE\"", "null", "1", "[\"merge\"]"};
    for (size_t i = 0; i < sizeof bad_dedup / sizeof *bad_dedup; i++) {
        snprintf(body, sizeof body,
                 "{\"content\":\"x\",\"memory_type\":\"rule\",\"conversation_id\":\"%s\","
                 "\"dedup\":%s}",
                 c, bad_dedup[i]);
        expect_422("POST", "/api/memories", body, "enum", "body.dedup");
    }
    struct resp r;
    snprintf(body, sizeof body,
             "{\"content\":\"x\",\"memory_type\":\"rule\",\"conversation_id\":\"%s\","
             "\"dedup\":\"maybe\"}",
             c);
    http(&srv, "POST", "/api/memories", "alice", body, SIZE_MAX, &r);
    json_t *e = json_array_get(json_object_get(r.json, "detail"), 0);
    CHECK_STR(jstr(e, "msg"), "Input should be 'off' or 'merge'");
    CHECK_STR(jstr(e, "input"), "maybe");
    resp_free(&r);
    snprintf(body, sizeof body,
             "{\"content\":\"x\",\"memory_type\":\"rule\",\"conversation_id\":\"%s\","
             "\"dedup\":\"merge\",\"dedup_policy\":\"overwrite\"}",
             c);
    expect_422("POST", "/api/memories", body, "enum", "body.dedup_policy");
    snprintf(path, sizeof path, "/api/memories/%s", id);
    expect_422("PATCH", path, "{\"supersedes\":\"not-a-list\"}", "list_type", "body.supersedes");
    expect_422("PATCH", path, "{\"supersedes\":[\"nope\"]}", "uuid_parsing", "body.supersedes.0");
    expect_422("PATCH", path, "{\"supersedes\":[7]}", "uuid_type", "body.supersedes.0");
    expect_422("GET", "/api/memories/not-a-uuid/history", NULL, "uuid_parsing", "path.memory_id");
    snprintf(path, sizeof path, "/api/memories/%s/history?limit=0", id);
    expect_422("GET", path, NULL, "greater_than_equal", "query.limit");
    http(&srv, "GET", "/api/memories/00000000-0000-4000-8000-000000000000/history", "alice", NULL,
         0, &r);
    CHECK_INT(r.status, 404);
    resp_free(&r);
    /* Nothing of the refused requests was stored. */
    CHECK_INT(conversation_total("alice", c), 1);
    stop();
}

/* The document names the route and the fields (fields.c drives it). */
TEST(test_openapi_describes_history_and_dedup)
{
    CHECK(start());
    long status;
    json_t *doc = get_json(NULL, "/openapi.json", &status);
    CHECK_INT(status, 200);
    json_t *paths = json_object_get(doc, "paths");
    json_t *hist =
        json_object_get(json_object_get(paths, "/api/memories/{memory_id}/history"), "get");
    CHECK(hist != NULL);
    CHECK(json_object_get(json_object_get(hist, "responses"), "200") != NULL);
    json_t *schemas = json_object_get(json_object_get(doc, "components"), "schemas");
    json_t *mc = json_object_get(json_object_get(schemas, "MemoryCreate"), "properties");
    json_t *dedup = json_object_get(json_object_get(mc, "dedup"), "enum");
    CHECK_INT((long long)json_array_size(dedup), 2);
    CHECK_STR(json_string_value(json_array_get(dedup, 0)), "off");
    CHECK_STR(json_string_value(json_array_get(dedup, 1)), "merge");
    CHECK(json_object_get(mc, "dedup_policy") != NULL);
    json_t *mu = json_object_get(json_object_get(schemas, "MemoryUpdate"), "properties");
    CHECK(json_object_get(mu, "supersedes") != NULL);
    CHECK(json_object_get(schemas, "HistoryPage") != NULL);
    json_t *post = json_object_get(json_object_get(paths, "/api/memories"), "post");
    CHECK(json_object_get(json_object_get(post, "responses"), "200") != NULL);
    json_decref(doc);
    stop();
}

TEST_MAIN("e2e_hygiene", T(test_duplicate_storm_holds_one_memory_and_counts_every_access),
          T(test_duplicates_are_per_user_type_and_live_memory),
          T(test_merge_folds_a_near_duplicate_into_the_stored_memory),
          T(test_memori_dedup_merge_is_the_default_it_names),
          T(test_history_replays_to_the_current_row_after_every_operation),
          T(test_the_same_fact_five_ways_is_one_memory_with_five_events),
          T(test_history_after_delete_is_for_admins_of_the_tenant),
          T(test_supersede_archives_links_and_leaves_search), T(test_bad_hygiene_input_is_refused),
          T(test_openapi_describes_history_and_dedup))
