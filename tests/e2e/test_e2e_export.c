/*
 * memori export / import / migrate end to end (issue 18, items 5 and 6),
 * through the real `memori` binary as a subprocess and the real server
 * over HTTP: export -> import into a fresh database answers every GET with
 * the same bytes (with and without vectors); a re-import changes nothing;
 * malformed lines stop the import or, with --keep-going, are skipped, and
 * nothing of theirs is stored; vectors of another model are refused;
 * migrate SQLite -> the suite's PostgreSQL answers searches with the same
 * ids and scores; a migrate killed with SIGKILL mid-way completes when run
 * again, verified; a target holding another database's rows is refused
 * unless --merge; a memory's history and its dedup key are carried by
 * export/import and by migrate.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "http_client.h"
#include "memori/store.h"
#include "pg_server.h"
#include "test.h"

static struct server srv;
static char out[1 << 16]; /* the last run's stdout and stderr */

static const char *path_of(const char *name)
{
    static char bufs[8][512];
    static int next;
    char *b = bufs[next++ % 8];
    return test_path(b, 512, name);
}

/* DATABASE_URL=sqlite:///<tmp>/<name> (an absolute path: sqlite:////abs). */
static const char *sqlite_env(const char *name, char *buf, size_t cap)
{
    snprintf(buf, cap, "DATABASE_URL=sqlite:///%s", path_of(name));
    return buf;
}

/* Runs `memori <args>` with DATABASE_URL=url_env; its exit code, its output in `out`. */
static int memori(const char *url_env, char *const *args)
{
    char *env[] = {(char *)url_env, NULL};
    return run_memori(args, env, out, sizeof out);
}

static bool post(const char *path, const char *user, const char *body, struct resp *r)
{
    return http(&srv, "POST", path, user, body, SIZE_MAX, r) == 0 &&
           (r->status == 200 || r->status == 201);
}

/* Conversation of user with a title and metadata; its UUID into id. */
static bool make_conversation(const char *user, const char *title, char id[37])
{
    char body[256];
    struct resp r;
    snprintf(body, sizeof body, "{\"title\":\"%s\",\"metadata\":{\"team\":\"%s\",\"n\":[1,2.5]}}",
             title, user);
    bool ok = post("/api/conversations", user, body, &r);
    if (ok)
        snprintf(id, 37, "%s", jstr(r.json, "conversation_id"));
    resp_free(&r);
    return ok;
}

/* POSTs a memory of user; the response (status 200/201) into *r, freed by the caller. */
static bool create_memory(const char *user, const char *conv, const char *content, const char *type,
                          double importance, struct resp *r)
{
    char body[1024];
    snprintf(body, sizeof body,
             "{\"conversation_id\":\"%s\",\"content\":\"%s\",\"memory_type\":\"%s\","
             "\"importance_score\":%g,\"context_tags\":[\"sales\",\"q3\"],"
             "\"related_entities\":[\"orders\"],\"metadata\":{\"src\":\"e2e\",\"deep\":{\"x\":1}},"
             "\"expires_at\":\"2099-01-02T03:04:05.123456Z\"}",
             conv, content, type, importance);
    return post("/api/memories", user, body, r);
}

static bool make_memory(const char *user, const char *conv, const char *content, const char *type,
                        double importance, char id[37])
{
    struct resp r;
    bool ok = create_memory(user, conv, content, type, importance, &r);
    if (ok && id)
        snprintf(id, 37, "%s", jstr(r.json, "memory_id"));
    resp_free(&r);
    return ok;
}

static const char *const CONTENTS[] = {
    "The orders table holds one row per purchase with its customer id",
    "Revenue is reported in euros excluding VAT",
    "Always filter test accounts out of the customers table",
    "Alice prefers weekly summaries on Monday mornings",
    "The warehouse codes map to cities in the regions table",
    "Refunds are stored as negative totals in orders",
};

/* A store with two users, shared and archived rows, a gap in the ids, a schema and an example. */
static bool populate(void)
{
    char ca[37], cb[37], id[37];
    if (!make_conversation("alice", "Sales questions", ca) ||
        !make_conversation("bob", "Warehouse", cb))
        return false;
    for (size_t i = 0; i < sizeof CONTENTS / sizeof *CONTENTS; i++)
        if (!make_memory(i % 2 ? "bob" : "alice", i % 2 ? cb : ca, CONTENTS[i],
                         i % 3 == 0   ? "long_term"
                         : i % 3 == 1 ? "rule"
                                      : "entity",
                         0.3 + 0.1 * (double)i, id))
            return false;
    /* A deleted memory leaves a gap in the row ids, which a restore must keep. */
    struct resp r;
    if (!make_memory("alice", ca, "a memory deleted before the export", "short_term", 0.5, id))
        return false;
    char path[96];
    snprintf(path, sizeof path, "/api/memories/%s", id);
    bool ok = http(&srv, "DELETE", path, "alice", NULL, 0, &r) == 0 && r.status == 204;
    resp_free(&r);
    /* A search bumps access counts and last_accessed_at. */
    ok = ok && post("/api/memories/search", "alice",
                    "{\"query\":\"orders customers\",\"limit\":3,\"min_similarity\":0}", &r);
    resp_free(&r);
    ok = ok &&
         http(&srv, "PUT", "/api/data-sources/7/schema", "alice",
              "{\"dialect\":\"postgresql\",\"ddl\":\"CREATE TABLE customers (id integer "
              "PRIMARY KEY, name text); CREATE TABLE orders (id integer PRIMARY KEY, "
              "customer_id integer REFERENCES customers(id), total numeric);\"}",
              SIZE_MAX, &r) == 0 &&
         r.status == 200;
    resp_free(&r);
    ok = ok && post("/api/examples", "alice",
                    "{\"question\":\"How many orders per customer?\",\"sql\":\"SELECT "
                    "customer_id, count(*) FROM orders GROUP BY customer_id\","
                    "\"data_source_id\":7}",
                    &r);
    resp_free(&r);
    return ok;
}

/* The ids and owners of an export file's conversations and memories. */
struct item {
    bool memory;
    char id[37];
    char user[64];
};

static size_t read_export(const char *file, struct item *items, size_t cap, long long *schemas)
{
    FILE *f = fopen(file, "r");
    char line[1 << 16];
    size_t n = 0;
    *schemas = 0;
    while (f && fgets(line, sizeof line, f)) {
        json_t *o = json_loads(line, 0, NULL);
        const char *kind = jstr(o, "kind");
        if (kind && strcmp(kind, "schema") == 0)
            (*schemas)++;
        if (kind && n < cap && (strcmp(kind, "memory") == 0 || strcmp(kind, "conversation") == 0)) {
            items[n].memory = strcmp(kind, "memory") == 0;
            snprintf(items[n].id, 37, "%s",
                     jstr(o, items[n].memory ? "memory_id" : "conversation_id"));
            /* Tenant knowledge (user ""): any user of the tenant reads it. */
            const char *u = jstr(o, "user_id");
            snprintf(items[n].user, 64, "%s", u && *u ? u : "alice");
            n++;
        }
        json_decref(o);
    }
    if (f)
        fclose(f);
    return n;
}

/* GET every item from the running server: "status body\n" per item, concatenated. */
static char *get_all(const struct item *items, size_t n)
{
    size_t len = 0;
    char *all = calloc(1, 1);
    for (size_t i = 0; i < n; i++) {
        char path[128];
        struct resp r;
        snprintf(path, sizeof path, "/api/%s/%s", items[i].memory ? "memories" : "conversations",
                 items[i].id);
        if (http(&srv, "GET", path, items[i].user, NULL, 0, &r) != 0)
            r.status = 0;
        size_t add = strlen(r.body ? r.body : "") + 32;
        all = realloc(all, len + add);
        len += (size_t)snprintf(all + len, add, "%ld %s\n", r.status, r.body ? r.body : "");
        resp_free(&r);
    }
    return all;
}

/* "memories: added A, updated U, unchanged C, failed F" of the last import's output. */
static bool counts(const char *what, long long *added, long long *updated, long long *unchanged,
                   long long *failed)
{
    char key[64];
    snprintf(key, sizeof key, "%s: added ", what);
    const char *p = strstr(out, key);
    return p && sscanf(p + strlen(key) - strlen("added "),
                       "added %lld, updated %lld, unchanged %lld, failed %lld", added, updated,
                       unchanged, failed) == 4;
}

static char a_url[600], b_url[600], c_url[600];

TEST(test_export_import_gives_byte_equal_answers)
{
    sqlite_env("a.db", a_url, sizeof a_url);
    sqlite_env("b.db", b_url, sizeof b_url);
    sqlite_env("c.db", c_url, sizeof c_url);
    CHECK(server_start(&srv, path_of("a.db"), NULL) == 0);
    bool ok = populate();
    CHECK_INT(server_stop(&srv, SIGTERM), 0);
    CHECK(ok);

    char *plain[] = {"export", "--out", (char *)path_of("a.jsonl"), NULL};
    CHECK_INT(memori(a_url, plain), 0);
    char *vec[] = {"export", "--with-vectors", "--out", (char *)path_of("a-vec.jsonl"), NULL};
    CHECK_INT(memori(a_url, vec), 0);
    static struct item items[64];
    long long schemas = 0;
    size_t n = read_export(path_of("a.jsonl"), items, 64, &schemas);
    CHECK(n >= 10); /* 2 conversations, 6 memories, the schema's and the example's */
    CHECK(schemas == 1);

    /* Without vectors (re-embedded on import), and with them (stored as they are). */
    char *imp_plain[] = {"import", "--in", (char *)path_of("a.jsonl"), NULL};
    CHECK_INT(memori(b_url, imp_plain), 0);
    long long ad, up, un, fa;
    CHECK(counts("memories", &ad, &up, &un, &fa));
    CHECK(ad > 0 && up == 0 && un == 0 && fa == 0);
    char *imp_vec[] = {"import", "--in", (char *)path_of("a-vec.jsonl"), NULL};
    CHECK_INT(memori(c_url, imp_vec), 0);

    /* Idempotent: a second import finds every record as it is. */
    CHECK_INT(memori(b_url, imp_plain), 0);
    long long mem_ad = ad;
    CHECK(counts("memories", &ad, &up, &un, &fa));
    CHECK(ad == 0 && up == 0 && fa == 0 && un == mem_ad);
    CHECK(counts("conversations", &ad, &up, &un, &fa));
    CHECK(ad == 0 && up == 0 && fa == 0 && un >= 2); /* with the schema's conversation */
    CHECK(counts("schemas", &ad, &up, &un, &fa));
    CHECK(ad == 0 && un == 1);

    /* The exports of the copies are the original's, byte for byte. */
    char *re_vec[] = {"export", "--with-vectors", "--out", (char *)path_of("c-vec.jsonl"), NULL};
    CHECK_INT(memori(c_url, re_vec), 0);
    char cmp[2048];
    snprintf(cmp, sizeof cmp, "cmp -s %s %s", path_of("a-vec.jsonl"), path_of("c-vec.jsonl"));
    CHECK_INT(system(cmp), 0);

    const char *dbs[] = {"a.db", "b.db", "c.db"};
    char *answers[3] = {NULL, NULL, NULL};
    for (int d = 0; d < 3; d++) {
        CHECK(server_start(&srv, path_of(dbs[d]), NULL) == 0);
        answers[d] = get_all(items, n);
        CHECK_INT(server_stop(&srv, SIGTERM), 0);
    }
    CHECK(strstr(answers[0], "200 {") == answers[0]);
    /* Every user's rows answer 200 (the schema's conversation, owned by no user, 404s alike). */
    int ok200 = 0;
    for (const char *p = answers[0]; (p = strstr(p, "200 {")) != NULL; p++)
        ok200++;
    CHECK(ok200 >= 10);
    CHECK_STR(answers[1], answers[0]);
    CHECK_STR(answers[2], answers[0]);
    for (int d = 0; d < 3; d++)
        free(answers[d]);
}

/* A file: the header, a conversation, the line `bad`, then a memory of that conversation. */
static const char *write_with_bad_line(const char *name, const char *bad)
{
    const char *file = path_of(name);
    FILE *f = fopen(file, "w");
    fprintf(f, "{\"kind\":\"memori-export\",\"version\":1,\"embedding_model\":null,\"dim\":0,"
               "\"vectors\":false}\n");
    fprintf(f, "{\"kind\":\"conversation\",\"conversation_id\":"
               "\"11111111-2222-4333-8444-555555555555\",\"user_id\":\"carol\",\"tenant_id\":"
               "\"default\",\"title\":null,\"metadata\":{},\"is_active\":true,"
               "\"last_activity_at\":\"2026-01-01T00:00:00Z\",\"created_at\":"
               "\"2026-01-01T00:00:00Z\",\"updated_at\":\"2026-01-01T00:00:00Z\"}\n");
    fprintf(f, "%s\n", bad);
    fprintf(f, "{\"kind\":\"memory\",\"memory_id\":\"aaaaaaaa-2222-4333-8444-555555555555\","
               "\"conversation_id\":\"11111111-2222-4333-8444-555555555555\",\"user_id\":"
               "\"carol\",\"tenant_id\":\"default\",\"content\":\"Carol reads the churn "
               "report\",\"memory_type\":\"long_term\",\"created_at\":\"2026-01-01T00:00:00Z\","
               "\"updated_at\":\"2026-01-01T00:00:00Z\"}\n");
    fclose(f);
    return file;
}

/* The number of "kind":"<kind>" lines a fresh export of url_env holds. */
static int exported(const char *url_env, const char *kind)
{
    char *args[] = {"export", "--out", (char *)path_of("count.jsonl"), NULL};
    if (memori(url_env, args) != 0)
        return -1;
    char key[64];
    snprintf(key, sizeof key, "{\"kind\":\"%s\"", kind);
    FILE *f = fopen(path_of("count.jsonl"), "r");
    char line[1 << 16];
    int n = 0;
    while (f && fgets(line, sizeof line, f))
        n += strncmp(line, key, strlen(key)) == 0;
    if (f)
        fclose(f);
    return n;
}

TEST(test_import_malformed_line_stops_or_is_skipped)
{
    char url[600];
    /* A memory line with an importance out of range: nothing of it is stored. */
    const char *bad_memory =
        "{\"kind\":\"memory\",\"memory_id\":\"bbbbbbbb-2222-4333-8444-555555555555\","
        "\"conversation_id\":\"11111111-2222-4333-8444-555555555555\",\"user_id\":\"carol\","
        "\"tenant_id\":\"default\",\"content\":\"never stored\",\"memory_type\":\"long_term\","
        "\"importance_score\":7,\"created_at\":\"2026-01-01T00:00:00Z\",\"updated_at\":"
        "\"2026-01-01T00:00:00Z\"}";
    /* A history line whose memory_id is no UUID: the same rules as any bad line. */
    const char *bad_history =
        "{\"kind\":\"history\",\"id\":5,\"memory_id\":\"not-a-uuid\",\"user_id\":\"carol\","
        "\"tenant_id\":\"default\",\"actor\":\"carol\",\"event\":\"create\","
        "\"created_at\":\"2026-01-01T00:00:00Z\",\"changes\":{}}";
    char files[3][512]; /* copied: path_of's buffers are reused */
    snprintf(files[0], sizeof files[0], "%s",
             write_with_bad_line("bad-json.jsonl", "{\"kind\":\"memory\", oops"));
    snprintf(files[1], sizeof files[1], "%s", write_with_bad_line("bad-field.jsonl", bad_memory));
    snprintf(files[2], sizeof files[2], "%s",
             write_with_bad_line("bad-history.jsonl", bad_history));
    for (int k = 0; k < 3; k++) {
        char db[32];
        snprintf(db, sizeof db, "stop-%d.db", k);
        sqlite_env(db, url, sizeof url);
        char *args[] = {"import", "--in", files[k], NULL};
        CHECK_INT(memori(url, args), 2);
        CHECK(strstr(out, "line 3: ") != NULL);
        if (k == 2) /* refused for its field, as a history line: not as an unknown kind */
            CHECK(strstr(out, "line 3: \"memory_id\" must be a UUID") != NULL);
        /* The line before is in; the bad one and everything after are not. */
        CHECK_INT(exported(url, "conversation"), 1);
        CHECK_INT(exported(url, "memory"), 0);

        snprintf(db, sizeof db, "keep-%d.db", k);
        sqlite_env(db, url, sizeof url);
        char *keep[] = {"import", "--keep-going", "--in", files[k], NULL};
        CHECK_INT(memori(url, keep), 1); /* done, but a line is not in */
        CHECK(strstr(out, "line 3: ") != NULL);
        CHECK(strstr(out, "(skipped)") != NULL);
        CHECK_INT(exported(url, "conversation"), 1);
        CHECK_INT(exported(url, "memory"), 1); /* line 4's; line 3's never */
        CHECK(strstr(out, "never stored") == NULL);
        CHECK_INT(exported(url, "history"), 0);
    }
}

TEST(test_import_refuses_vectors_of_another_model)
{
    char url[600], cmd[2048];
    if (!a_url[0])
        SKIP("needs the export of test_export_import_gives_byte_equal_answers");
    snprintf(cmd, sizeof cmd,
             "sed 's/\"embedding_model\":\"[^\"]*\"/\"embedding_model\":\"other-model\"/' %s > %s",
             path_of("a-vec.jsonl"), path_of("other.jsonl"));
    CHECK_INT(system(cmd), 0);
    sqlite_env("other.db", url, sizeof url);
    char *args[] = {"import", "--in", (char *)path_of("other.jsonl"), NULL};
    CHECK_INT(memori(url, args), 2);
    CHECK(strstr(out, "other-model") != NULL);
    CHECK(strstr(out, "--reembed") != NULL);
    CHECK_INT(exported(url, "memory"), 0);
    char *re[] = {"import", "--reembed", "--in", (char *)path_of("other.jsonl"), NULL};
    CHECK_INT(memori(url, re), 0);
    CHECK(exported(url, "memory") >= 8);
}

/* A fresh database of the suite's PostgreSQL cluster: its URL into url, "DATABASE_URL=…" into env.
 */
static bool pg_database(const char *name, char *url, size_t cap, char *env, size_t env_cap)
{
    struct pg_server *p = pg_server_shared();
    if (!p || pg_server_database(p, name, url, cap) != 0)
        return false;
    snprintf(env, env_cap, "DATABASE_URL=%s", url);
    return true;
}

/*
 * The ids and scores of a search in each mode, as text: the vectors and the
 * words a migration carries (PostgreSQL ranks with the same BM25 as the
 * embedded index, so a migrated memory must be found by both sides alike).
 */
static char *search_mode_text(const char *user, const char *query, const char *mode);

static char *search_text(const char *user, const char *query)
{
    static const char *const modes[] = {"semantic", "lexical", "hybrid"};
    char *s = calloc(1, 3 * 4096);
    size_t len = 0;
    for (int k = 0; k < 3; k++) {
        char *one = search_mode_text(user, query, modes[k]);
        len += (size_t)snprintf(s + len, 3 * 4096 - len, "%s:\n%s", modes[k], one);
        free(one);
    }
    return s;
}

static char *search_mode_text(const char *user, const char *query, const char *mode)
{
    char body[512];
    struct resp r;
    snprintf(body, sizeof body,
             "{\"query\":\"%s\",\"limit\":10,\"min_similarity\":0,"
             "\"mode\":\"%s\"}",
             query, mode);
    if (http(&srv, "POST", "/api/memories/search", user, body, SIZE_MAX, &r) != 0 ||
        r.status != 200) {
        resp_free(&r);
        return strdup("search failed");
    }
    char *s = calloc(1, 4096);
    size_t len = 0;
    json_t *res = json_object_get(r.json, "results");
    for (size_t i = 0; i < json_array_size(res) && len < 3900; i++) {
        json_t *m = json_array_get(res, i);
        len += (size_t)snprintf(s + len, 4096 - len, "%s %.4f\n", jstr(m, "memory_id"),
                                jnum(m, "similarity_score"));
    }
    resp_free(&r);
    return s;
}

TEST(test_migrate_sqlite_to_postgres_searches_alike)
{
    char url[256], env[300], to[300];
    if (!a_url[0])
        SKIP("needs the database of test_export_import_gives_byte_equal_answers");
    CHECK(pg_database("export_migrate", url, sizeof url, env, sizeof env));
    snprintf(to, sizeof to, "%s", url);
    /* b.db: the imported copy; a.db stays as the source of truth of the searches. */
    char *args[] = {"migrate", "--to", to, NULL};
    CHECK_INT(memori(b_url, args), 0);
    CHECK(strstr(out, "migration verified") != NULL);
    CHECK(strstr(out, "MISMATCH") == NULL);
    /* Run again: everything is there already, nothing is copied twice. */
    CHECK_INT(memori(b_url, args), 0);
    CHECK(strstr(out, "memories: copied 0,") != NULL);

    const char *queries[][2] = {
        {"alice", "orders customers"}, {"bob", "revenue euros"}, {"alice", "warehouse regions"}};
    char *lite[3], *pg[3];
    CHECK(server_start(&srv, path_of("b.db"), NULL) == 0);
    for (int q = 0; q < 3; q++)
        lite[q] = search_text(queries[q][0], queries[q][1]);
    CHECK_INT(server_stop(&srv, SIGTERM), 0);
    CHECK(server_start(&srv, url, NULL) == 0);
    for (int q = 0; q < 3; q++)
        pg[q] = search_text(queries[q][0], queries[q][1]);
    CHECK_INT(server_stop(&srv, SIGTERM), 0);
    for (int q = 0; q < 3; q++) {
        CHECK(strlen(lite[q]) > 120);
        CHECK_STR(pg[q], lite[q]);
        free(pg[q]);
    }

    /* And back: PostgreSQL -> a new SQLite file searches alike too. */
    char back[600];
    snprintf(back, sizeof back, "sqlite:///%s", path_of("back.db"));
    char *args_back[] = {"migrate", "--to", back, NULL};
    CHECK_INT(memori(env, args_back), 0);
    CHECK(strstr(out, "migration verified") != NULL);
    CHECK(server_start(&srv, path_of("back.db"), NULL) == 0);
    for (int q = 0; q < 3; q++)
        pg[q] = search_text(queries[q][0], queries[q][1]);
    CHECK_INT(server_stop(&srv, SIGTERM), 0);
    for (int q = 0; q < 3; q++) {
        CHECK_STR(pg[q], lite[q]);
        free(lite[q]);
        free(pg[q]);
    }
}

/* The "events" of GET /api/memories/{id}/history as user (a new reference; NULL on failure). */
static json_t *history_of(const char *user, const char *id)
{
    char path[128];
    struct resp r;
    snprintf(path, sizeof path, "/api/memories/%s/history", id);
    json_t *events = NULL;
    if (http(&srv, "GET", path, user, NULL, 0, &r) == 0 && r.status == 200)
        events = json_incref(json_object_get(r.json, "events"));
    resp_free(&r);
    return events;
}

/* Whether an identical create of content is answered as the stored duplicate (200 and header). */
static bool is_duplicate(const char *user, const char *conv, const char *content, const char *id)
{
    struct resp r;
    bool ok = create_memory(user, conv, content, "long_term", 0.5, &r) && r.status == 200 &&
              strcmp(r.memori, "X-Memori-Duplicate: true") == 0 &&
              strcmp(jstr(r.json, "memory_id"), id) == 0;
    resp_free(&r);
    return ok;
}

/*
 * Issue 20 follow-up: a memory's history and its dedup key survive export ->
 * import and migrate SQLite -> PostgreSQL: its events answer the same on the
 * copy (compared as JSON: JSONB orders an object's keys its own way), and an
 * identical create there is its duplicate.
 */
TEST(test_history_and_dedup_keys_are_carried)
{
    static const char CONTENT[] = "Quarters follow the fiscal calendar starting in February";
    char url[600], fresh[600], pg_url[256], pg_env[300], conv[37], id[37], deleted[37];
    sqlite_env("hist.db", url, sizeof url);
    sqlite_env("hist-copy.db", fresh, sizeof fresh);
    CHECK(server_start(&srv, path_of("hist.db"), NULL) == 0);
    struct resp r;
    bool ok =
        make_conversation("gina", "Fiscal", conv) &&
        make_memory("gina", conv, CONTENT, "long_term", 0.5, id) &&
        make_memory("gina", conv, "a memory whose history outlives it", "long_term", 0.5, deleted);
    char path[128];
    snprintf(path, sizeof path, "/api/memories/%s", id);
    ok = ok &&
         http(&srv, "PATCH", path, "gina", "{\"importance_score\":0.9,\"context_tags\":[\"fy\"]}",
              SIZE_MAX, &r) == 0 &&
         r.status == 200;
    resp_free(&r);
    snprintf(path, sizeof path, "/api/memories/%s", deleted);
    ok = ok && http(&srv, "DELETE", path, "gina", NULL, 0, &r) == 0 && r.status == 204;
    resp_free(&r);
    ok = ok && is_duplicate("gina", conv, CONTENT, id);
    json_t *want = ok ? history_of("gina", id) : NULL;
    CHECK_INT(server_stop(&srv, SIGTERM), 0);
    CHECK(ok);
    CHECK(want && json_array_size(want) >= 2); /* create, update */

    char *exp[] = {"export", "--out", (char *)path_of("hist.jsonl"), NULL};
    CHECK_INT(memori(url, exp), 0);
    CHECK(strstr(out, "history events") != NULL);
    char *imp[] = {"import", "--in", (char *)path_of("hist.jsonl"), NULL};
    CHECK_INT(memori(fresh, imp), 0);
    long long ad, up, un, fa;
    CHECK(counts("history", &ad, &up, &un, &fa));
    CHECK(ad >= 4 && up == 0 && un == 0 && fa == 0); /* both memories' events, the deleted one's */
    CHECK_INT(memori(fresh, imp), 0);                /* a re-import adds no event twice */
    long long added = ad;
    CHECK(counts("history", &ad, &up, &un, &fa));
    CHECK(ad == 0 && un == added);

    CHECK(pg_database("export_history", pg_url, sizeof pg_url, pg_env, sizeof pg_env));
    char *mig[] = {"migrate", "--to", pg_url, NULL};
    CHECK_INT(memori(url, mig), 0);
    CHECK(strstr(out, "migration verified") != NULL);
    CHECK(strstr(out, "history: copied ") != NULL);
    CHECK(strstr(out, "history: copied 0,") == NULL);

    const char *targets[] = {path_of("hist-copy.db"), pg_url};
    for (int t = 0; t < 2; t++) {
        CHECK(server_start(&srv, targets[t], NULL) == 0);
        json_t *got = history_of("gina", id);
        bool same = got && json_equal(got, want);
        if (!same) {
            char *a = json_dumps(want, JSON_SORT_KEYS), *b = got ? json_dumps(got, 0) : NULL;
            fprintf(stderr, "history on %s:\n  want %s\n  got  %s\n", targets[t], a, b ? b : "-");
            free(a);
            free(b);
        }
        json_decref(got);
        bool dup = is_duplicate("gina", conv, CONTENT, id);
        CHECK_INT(server_stop(&srv, SIGTERM), 0);
        CHECK(same);
        CHECK(dup);
    }
    json_decref(want);

    /* Two restored memories saying the same: both are stored, the first one holds the key. */
    const char *twin =
        "{\"kind\":\"memory\",\"memory_id\":\"bbbbbbbb-2222-4333-8444-555555555555\","
        "\"conversation_id\":\"11111111-2222-4333-8444-555555555555\",\"user_id\":\"carol\","
        "\"tenant_id\":\"default\",\"content\":\"Carol  reads the CHURN report\","
        "\"memory_type\":\"long_term\",\"created_at\":\"2026-01-01T00:00:00Z\","
        "\"updated_at\":\"2026-01-01T00:00:00Z\"}";
    char twins[600];
    sqlite_env("twins.db", twins, sizeof twins);
    char *imp_twins[] = {"import", "--in", (char *)write_with_bad_line("twins.jsonl", twin), NULL};
    CHECK_INT(memori(twins, imp_twins), 0);
    CHECK(counts("memories", &ad, &up, &un, &fa));
    CHECK(ad == 2 && fa == 0);
    CHECK(server_start(&srv, path_of("twins.db"), NULL) == 0);
    bool twin_dup =
        is_duplicate("carol", "11111111-2222-4333-8444-555555555555",
                     "Carol reads the churn report", "bbbbbbbb-2222-4333-8444-555555555555");
    CHECK_INT(server_stop(&srv, SIGTERM), 0);
    CHECK(twin_dup);
}

/* Total memories of tenant "default" in the open store s (-1 on failure). */
static long long count_memories(struct mr_store *s)
{
    struct mr_err err;
    struct mr_store_tx *tx;
    long long n = -1;
    if (s && mr_store_begin(s, MR_TX_READ, &tx, &err) == 0) {
        struct mr_identity who = {NULL, "default"};
        struct mr_stats st;
        if (mr_store_mem_stats(tx, &who, &st, &err) == 0)
            n = st.total;
        mr_store_rollback(tx);
    }
    return n;
}

/* count_memories of the PostgreSQL database at url. */
static long long pg_memories(const char *url)
{
    struct mr_err err;
    struct mr_store *s = mr_store_postgres_open(url, 1, 0, 0, &err);
    long long n = count_memories(s);
    mr_store_close(s);
    return n;
}

#define KILL_ROWS 5000

TEST(test_migrate_killed_midway_resumes_verified)
{
    char url[256], env[300], src[600];
    CHECK(pg_database("export_kill", url, sizeof url, env, sizeof env));
    /* KILL_ROWS memories into a SQLite store, through import (re-embedded in batches). */
    const char *file = path_of("many.jsonl");
    FILE *f = fopen(file, "w");
    CHECK(f != NULL);
    fprintf(f, "{\"kind\":\"memori-export\",\"version\":1,\"embedding_model\":null,\"dim\":0,"
               "\"vectors\":false}\n");
    fprintf(f, "{\"kind\":\"conversation\",\"conversation_id\":"
               "\"22222222-2222-4333-8444-555555555555\",\"user_id\":\"dave\",\"tenant_id\":"
               "\"default\",\"last_activity_at\":\"2026-01-01T00:00:00Z\",\"created_at\":"
               "\"2026-01-01T00:00:00Z\",\"updated_at\":\"2026-01-01T00:00:00Z\"}\n");
    for (int i = 0; i < KILL_ROWS; i++)
        fprintf(f,
                "{\"kind\":\"memory\",\"memory_id\":\"%08x-2222-4333-8444-555555555555\","
                "\"conversation_id\":\"22222222-2222-4333-8444-555555555555\",\"user_id\":"
                "\"dave\",\"tenant_id\":\"default\",\"content\":\"note %d about table t%d "
                "and column c%d\",\"memory_type\":\"long_term\",\"created_at\":"
                "\"2026-01-01T00:00:00Z\",\"updated_at\":\"2026-01-01T00:00:00Z\"}\n",
                i, i, i % 97, i % 13);
    fclose(f);
    sqlite_env("many.db", src, sizeof src);
    char *imp[] = {"import", "--in", (char *)file, NULL};
    CHECK_INT(memori(src, imp), 0);

    char *env_src[] = {src, NULL};
    char *args[] = {"migrate", "--to", url, NULL};
    /* Watched on one connection opened before, so a poll costs a query, not a connect. */
    struct mr_err err;
    struct mr_store *watch = mr_store_postgres_open(url, 1, 0, 0, &err);
    CHECK(watch != NULL);
    pid_t pid = memori_spawn(args, env_src, path_of("migrate-killed.log"));
    CHECK(pid > 0);
    for (int tries = 0; tries < 20000; tries++) {
        if (count_memories(watch) >= 500) /* at least one batch committed */
            break;
        struct timespec ts = {0, 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    kill(pid, SIGKILL);
    mr_store_close(watch);
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    long long left = pg_memories(url);
    CHECK(left >= 500);
    CHECK(left < KILL_ROWS); /* killed mid-way, not after the end */
    CHECK(left % 500 == 0);  /* whole batches only: each is one transaction */

    CHECK_INT(memori(src, args), 0);
    CHECK(strstr(out, "migration verified") != NULL);
    char expect[128];
    snprintf(expect, sizeof expect,
             "memories: copied %lld, already there %lld; source %d, target %d", KILL_ROWS - left,
             left, KILL_ROWS, KILL_ROWS);
    CHECK(strstr(out, expect) != NULL);
    CHECK_INT(pg_memories(url), KILL_ROWS);
}

TEST(test_migrate_refuses_other_data_unless_merge)
{
    char url[256], env[300], one[600], two[600];
    CHECK(pg_database("export_merge", url, sizeof url, env, sizeof env));
    sqlite_env("one.db", one, sizeof one);
    sqlite_env("two.db", two, sizeof two);
    char *imp1[] = {"import", "--in", (char *)write_with_bad_line("one.jsonl", ""), NULL};
    CHECK_INT(memori(one, imp1), 0);
    CHECK(server_start(&srv, path_of("two.db"), NULL) == 0);
    char conv[37];
    bool ok = make_conversation("erin", "Another database", conv) &&
              make_memory("erin", conv, "Erin's own memory", "long_term", 0.5, NULL);
    CHECK_INT(server_stop(&srv, SIGTERM), 0);
    CHECK(ok);
    char *args[] = {"migrate", "--to", url, NULL};
    CHECK_INT(memori(one, args), 0);
    /* two.db's rows are not one.db's: the target now holds another database's data. */
    CHECK_INT(memori(two, args), 2);
    CHECK(strstr(out, "--merge") != NULL);
    CHECK_INT(pg_memories(url), 1);
    char *merge[] = {"migrate", "--merge", "--to", url, NULL};
    CHECK_INT(memori(two, merge), 0);
    CHECK(strstr(out, "migration verified") != NULL);
    CHECK_INT(pg_memories(url), 2);
    /* The source was only read: one.db still holds its one memory, unchanged. */
    CHECK_INT(exported(one, "memory"), 1);
}

TEST_MAIN("e2e_export", T(test_export_import_gives_byte_equal_answers),
          T(test_import_malformed_line_stops_or_is_skipped),
          T(test_import_refuses_vectors_of_another_model),
          T(test_migrate_sqlite_to_postgres_searches_alike),
          T(test_migrate_killed_midway_resumes_verified),
          T(test_migrate_refuses_other_data_unless_merge),
          T(test_history_and_dedup_keys_are_carried))
