/*
 * `memori schema import` end to end (DESIGN.md §9, issue 16): the real
 * command reads a live database's catalogue — the test suite's PostgreSQL
 * (a schema this test creates: comments, composite and self-referencing
 * keys, a non-public schema) or a SQLite file — and sends it to the real
 * `memori serve` over HTTP (--url) or writes it to the store directly; then
 * search finds the tables and joins, for another user of the tenant too,
 * and a second import reports everything unchanged. The server's store is
 * SQLite, or PostgreSQL with MEMORI_TEST_BACKEND=postgres. Bad arguments
 * and unreachable sources exit 2 with a message.
 */
#define _GNU_SOURCE
#include <libpq-fe.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "http_client.h"
#include "memori/util.h"
#include "pg_server.h"
#include "test.h"

static struct server srv;

static const char PG_SOURCE[] =
    "DROP SCHEMA IF EXISTS sales CASCADE; DROP TABLE IF EXISTS customers CASCADE;"
    "CREATE SCHEMA sales;"
    "CREATE TABLE customers (id integer PRIMARY KEY, name text NOT NULL,"
    "  referred_by integer REFERENCES customers(id));"
    "COMMENT ON TABLE customers IS 'People who buy from us';"
    "COMMENT ON COLUMN customers.name IS 'Full legal name';"
    "CREATE TABLE sales.orders (order_no integer, region text, placed_at timestamptz,"
    "  customer_id integer NOT NULL REFERENCES customers(id), total numeric(10,2),"
    "  PRIMARY KEY (order_no, region));"
    "COMMENT ON TABLE sales.orders IS 'One row per order';"
    "CREATE TABLE sales.order_lines (order_no integer, region text, line integer, qty integer,"
    "  PRIMARY KEY (order_no, region, line),"
    "  FOREIGN KEY (order_no, region) REFERENCES sales.orders (order_no, region));"
    "CREATE VIEW sales.big_orders AS SELECT * FROM sales.orders WHERE total > 100;";

static void quiet(void *arg, const char *message)
{
    (void)arg, (void)message; /* DROP ... IF EXISTS notices */
}

/* Creates the source database in the suite's cluster; its URL into url. False: no PostgreSQL. */
static bool make_pg_source(char *url, size_t cap)
{
    struct pg_server *p = pg_server_shared();
    if (!p || pg_server_database(p, "introspect_source", url, cap) != 0)
        return false;
    PGconn *c = PQconnectdb(url);
    bool ok = PQstatus(c) == CONNECTION_OK;
    if (ok) {
        PQsetNoticeProcessor(c, quiet, NULL);
        PGresult *r = PQexec(c, PG_SOURCE);
        ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        if (!ok)
            fprintf(stderr, "    source DDL: %s", PQresultErrorMessage(r));
        PQclear(r);
    }
    PQfinish(c);
    return ok;
}

static bool start(const char *name)
{
    char path[512];
    return server_start(&srv, test_path(path, sizeof path, name), NULL) == 0;
}

static void stop(void)
{
    int rc = server_stop(&srv, SIGTERM);
    if (rc != 0)
        test_fail(__FILE__, __LINE__, "server exited %d; see %s", rc, srv.log);
}

/* Runs `memori schema import` with args (NULL-terminated, after "import"); output into out. */
static int import(char *const *args, char *const *env, char *out, size_t cap)
{
    char *argv[16] = {"schema", "import"};
    size_t n = 2;
    for (size_t i = 0; args[i] && n < 15; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    return run_memori(argv, env, out, cap);
}

/* The memory search finds for user whose metadata has kind and name (or from_table), or NULL. */
static json_t *find(const char *user, const char *query, const char *type, const char *key,
                    const char *value)
{
    char body[512];
    snprintf(body, sizeof body,
             "{\"query\":\"%s\",\"memory_types\":[\"%s\"],\"limit\":30,\"min_similarity\":0}",
             query, type);
    struct resp r;
    json_t *found = NULL;
    if (http(&srv, "POST", "/api/memories/search", user, body, SIZE_MAX, &r) == 0 &&
        r.status == 200) {
        json_t *results = json_object_get(r.json, "results");
        for (size_t i = 0; i < json_array_size(results) && !found; i++) {
            json_t *m = json_array_get(results, i);
            const char *v = jstr(json_object_get(m, "metadata"), key);
            if (v && strcmp(v, value) == 0)
                found = json_incref(m);
        }
    }
    resp_free(&r);
    return found;
}

/* The table called name in a GET schema answer, or NULL. */
static json_t *table_named(json_t *schema, const char *name)
{
    json_t *tables = json_object_get(schema, "tables");
    for (size_t i = 0; i < json_array_size(tables); i++)
        if (strcmp(jstr(json_array_get(tables, i), "name"), name) == 0)
            return json_array_get(tables, i);
    return NULL;
}

static json_t *column_named(json_t *table, const char *name)
{
    json_t *cols = json_object_get(table, "columns");
    for (size_t i = 0; i < json_array_size(cols); i++)
        if (strcmp(jstr(json_array_get(cols, i), "name"), name) == 0)
            return json_array_get(cols, i);
    return NULL;
}

/* The declared key of table whose first column is col, or NULL. */
static json_t *key_from(json_t *table, const char *col)
{
    json_t *fks = json_object_get(table, "foreign_keys");
    for (size_t i = 0; i < json_array_size(fks); i++) {
        json_t *k = json_array_get(fks, i);
        const char *c0 = json_string_value(json_array_get(json_object_get(k, "columns"), 0));
        const char *src = jstr(k, "source");
        if (c0 && strcmp(c0, col) == 0 && (!src || strcmp(src, "declared") == 0))
            return k;
    }
    return NULL;
}

TEST(test_import_postgresql_catalogue_over_http)
{
    char src[256];
    if (!make_pg_source(src, sizeof src))
        SKIP("no PostgreSQL server to start (scripts/install-test-deps.sh installs one)");
    CHECK(start("introspect-pg.db"));
    char url[64], out[8192];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", srv.port);
    char *args[] = {"--data-source", "4", "--from", src, "--url", url, "--user-id", "alice", NULL};
    int rc = import(args, NULL, out, sizeof out);
    if (rc != 0)
        fprintf(stderr, "    %s", out);
    CHECK_INT(rc, 0);
    CHECK(strstr(out, "data source 4: 3 tables, 3 relationships (postgresql, sha256:") != NULL);
    CHECK(strstr(out, "added 3, updated 0, removed 0, unchanged 0") != NULL);
    CHECK(strstr(out, "big_orders") == NULL); /* a view is not a table */

    /* What was stored: comments, the non-public schema, composite and self-referencing keys. */
    struct resp r;
    http(&srv, "GET", "/api/data-sources/4/schema", "bob", NULL, 0, &r);
    CHECK_INT(r.status, 200);
    CHECK_STR(jstr(r.json, "dialect"), "postgresql");
    CHECK_INT(json_array_size(json_object_get(r.json, "tables")), 3);
    json_t *cust = table_named(r.json, "customers");
    json_t *orders = table_named(r.json, "sales.orders");
    json_t *lines = table_named(r.json, "sales.order_lines");
    CHECK(cust && orders && lines);
    CHECK_STR(jstr(cust, "description"), "People who buy from us");
    CHECK_STR(jstr(column_named(cust, "name"), "description"), "Full legal name");
    CHECK(json_is_false(json_object_get(column_named(cust, "name"), "nullable")));
    CHECK(json_is_true(json_object_get(column_named(cust, "id"), "primary_key")));
    CHECK_STR(jstr(column_named(orders, "total"), "type"), "numeric(10,2)");
    CHECK_STR(jstr(column_named(orders, "placed_at"), "type"), "timestamp with time zone");
    CHECK(json_is_true(json_object_get(column_named(orders, "region"), "primary_key")));
    json_t *self = key_from(cust, "referred_by");
    CHECK(self != NULL);
    CHECK_STR(jstr(json_object_get(self, "references"), "table"), "customers");
    json_t *comp = key_from(lines, "order_no");
    CHECK(comp != NULL);
    CHECK_INT(json_array_size(json_object_get(comp, "columns")), 2);
    json_t *ref = json_object_get(comp, "references");
    CHECK_STR(jstr(ref, "table"), "sales.orders");
    CHECK_STR(json_string_value(json_array_get(json_object_get(ref, "columns"), 1)), "region");
    resp_free(&r);

    /* Search finds the tables and joins as schema import stores them, for another user too. */
    json_t *m = find("bob", "orders placed by customers total", "entity", "name", "sales.orders");
    CHECK(m != NULL);
    CHECK(strstr(jstr(m, "content"), "One row per order") != NULL);
    json_decref(m);
    m = find("carol", "order lines of an order", "relationship", "from_table", "sales.order_lines");
    CHECK(m != NULL);
    CHECK_STR(jstr(json_object_get(m, "metadata"), "kind"), "join");
    CHECK_STR(jstr(json_object_get(m, "metadata"), "to_table"), "sales.orders");
    json_decref(m);
    m = find("bob", "customer referred by another customer", "relationship", "from_table",
             "customers");
    CHECK(m != NULL);
    CHECK_STR(jstr(json_object_get(m, "metadata"), "to_table"), "customers");
    json_decref(m);

    /* Again: nothing changed. */
    rc = import(args, NULL, out, sizeof out);
    CHECK_INT(rc, 0);
    CHECK(strstr(out, "added 0, updated 0, removed 0, unchanged 3") != NULL);

    /* A migration on the source: one table changes, the next import says which. */
    PGconn *c = PQconnectdb(src);
    PGresult *res = PQexec(c, "ALTER TABLE sales.order_lines ADD COLUMN price numeric;");
    CHECK(PQresultStatus(res) == PGRES_COMMAND_OK);
    PQclear(res);
    PQfinish(c);
    rc = import(args, NULL, out, sizeof out);
    CHECK_INT(rc, 0);
    CHECK(strstr(out, "added 0, updated 1, removed 0, unchanged 2") != NULL);
    CHECK(strstr(out, "updated: sales.order_lines") != NULL);
    stop();
}

static bool make_sqlite_source(const char *path)
{
    sqlite3 *db = NULL;
    remove(path);
    bool ok = sqlite3_open(path, &db) == SQLITE_OK &&
              sqlite3_exec(db,
                           "CREATE TABLE artists ( -- who records albums\n"
                           "  id INTEGER PRIMARY KEY,\n"
                           "  name TEXT NOT NULL -- as credited\n"
                           ");\n"
                           "CREATE TABLE albums (id INTEGER PRIMARY KEY, title TEXT,\n"
                           "  artist_id INTEGER NOT NULL REFERENCES artists(id));\n"
                           "CREATE TABLE tracks (album_id INTEGER, no INTEGER, title TEXT,\n"
                           "  PRIMARY KEY (album_id, no), FOREIGN KEY (album_id) REFERENCES "
                           "albums(id));\n"
                           "CREATE TABLE plays (album_id INTEGER, track_no INTEGER, at TEXT,\n"
                           "  FOREIGN KEY (album_id, track_no) REFERENCES tracks(album_id, no));\n"
                           "CREATE VIEW long_titles AS SELECT * FROM albums;\n"
                           "INSERT INTO artists VALUES (1, 'Nina');\n",
                           NULL, NULL, NULL) == SQLITE_OK;
    sqlite3_close(db);
    return ok;
}

TEST(test_import_sqlite_file_directly_then_over_http)
{
    char src[512], from[600], db[512], dburl[700], out[8192];
    test_path(src, sizeof src, "introspect-source.sqlite");
    CHECK(make_sqlite_source(src));
    snprintf(from, sizeof from, "sqlite://%s", src);
    /* Without --url: straight into the configured store (no server running on it). */
    test_path(db, sizeof db, "introspect-lite.db");
    CHECK(test_database_url(db, dburl, sizeof dburl) == 0);
    char *env[] = {dburl, NULL};
    char *direct[] = {"--data-source", "9", "--from", from, NULL};
    int rc = import(direct, env, out, sizeof out);
    if (rc != 0)
        fprintf(stderr, "    %s", out);
    CHECK_INT(rc, 0);
    CHECK(strstr(out, "data source 9: 4 tables, 3 relationships (sqlite, sha256:") != NULL);
    CHECK(strstr(out, "added 4, updated 0, removed 0, unchanged 0") != NULL);

    CHECK(start("introspect-lite.db"));
    struct resp r;
    http(&srv, "GET", "/api/data-sources/9/schema", "bob", NULL, 0, &r);
    CHECK_INT(r.status, 200);
    CHECK_STR(jstr(r.json, "dialect"), "sqlite");
    json_t *artists = table_named(r.json, "artists");
    CHECK(artists != NULL);
    CHECK_STR(jstr(artists, "description"), "who records albums");
    CHECK_STR(jstr(column_named(artists, "name"), "description"), "as credited");
    json_t *plays = table_named(r.json, "plays");
    CHECK(plays != NULL);
    json_t *comp = key_from(plays, "album_id");
    CHECK(comp != NULL);
    CHECK_INT(json_array_size(json_object_get(comp, "columns")), 2);
    CHECK_STR(jstr(json_object_get(comp, "references"), "table"), "tracks");
    resp_free(&r);

    json_t *m = find("bob", "albums title artist", "entity", "name", "albums");
    CHECK(m != NULL);
    json_decref(m);
    m = find("bob", "albums artist_id artists id", "relationship", "from_table", "albums");
    CHECK(m != NULL);
    CHECK_STR(jstr(json_object_get(m, "metadata"), "to_table"), "artists");
    json_decref(m);

    /* The same file through the running server: unchanged (an empty MEMORI_TOKEN sends none). */
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", srv.port);
    char *http_args[] = {"--data-source", "9", "--from", from, "--url", url, NULL};
    char *tok_env[] = {"MEMORI_TOKEN=", NULL};
    rc = import(http_args, tok_env, out, sizeof out);
    if (rc != 0)
        fprintf(stderr, "    %s", out);
    CHECK_INT(rc, 0);
    CHECK(strstr(out, "added 0, updated 0, removed 0, unchanged 4") != NULL);
    stop();
}

/* Each a clear message and exit 2, never a crash or a hang. */
TEST(test_import_bad_arguments_and_unreachable_sources_exit_2)
{
    char missing[512], from[600], junk[512], junk_from[600], out[4096];
    test_path(missing, sizeof missing, "no-such-file.sqlite");
    snprintf(from, sizeof from, "sqlite://%s", missing);
    test_path(junk, sizeof junk, "not-a-database.sqlite");
    FILE *f = fopen(junk, "w");
    CHECK(f != NULL);
    fputs("this is not a database, just text that is long enough to be a header\n", f);
    fclose(f);
    snprintf(junk_from, sizeof junk_from, "sqlite://%s", junk);
    struct {
        char *args[10];
        const char *says;
    } cases[] = {
        {{NULL}, "which subcommand"},
        {{"--from", from, NULL}, "--data-source and --from are required"},
        {{"--data-source", "0", "--from", from, NULL}, "positive integer"},
        {{"--data-source", "abc", "--from", from, NULL}, "positive integer"},
        {{"--data-source", "1", "--from", "mysql://x/y", NULL}, "--from must be"},
        {{"--data-source", "1", "--from", from, "--bogus", "x", NULL}, "unknown option"},
        {{"--data-source", "1", "--from", NULL}, "needs a value"},
        {{"--data-source", "1", "--from", from, "--url", "ftp://x", NULL}, "--url must be"},
        {{"--data-source", "1", "--from", from, NULL}, "cannot open the SQLite database"},
        {{"--data-source", "1", "--from", junk_from, NULL}, "not a database"},
        {{"--data-source", "1", "--from", "postgresql://nobody@127.0.0.1:1/none", NULL},
         "unreachable"},
        {{"--data-source", "1", "--from", junk_from, "--url", "http://127.0.0.1:1", NULL},
         "not a database"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int rc = i == 0 ? run_memori((char *[]){"schema", NULL}, NULL, out, sizeof out)
                        : import(cases[i].args, NULL, out, sizeof out);
        if (rc != 2 || !strstr(out, cases[i].says))
            fprintf(stderr, "    case %zu: exit %d: %s", i, rc, out);
        CHECK_INT(rc, 2);
        CHECK(strstr(out, cases[i].says) != NULL);
    }
    /* A readable source and a server that is not there. */
    char ok_src[512], ok_from[600];
    test_path(ok_src, sizeof ok_src, "introspect-ok.sqlite");
    CHECK(make_sqlite_source(ok_src));
    snprintf(ok_from, sizeof ok_from, "sqlite://%s", ok_src);
    char *args[] = {"--data-source", "1", "--from", ok_from, "--url", "http://127.0.0.1:1", NULL};
    CHECK_INT(import(args, NULL, out, sizeof out), 2);
    CHECK(strstr(out, "cannot reach http://127.0.0.1:1/api/data-sources/1/schema") != NULL);
}

/* Production: the server's 403 for a non-admin token reaches the user, exit 2. */
TEST(test_import_over_http_needs_an_admin_in_production)
{
    char src[512], from[600], path[512], out[4096];
    test_path(src, sizeof src, "introspect-prod.sqlite");
    CHECK(make_sqlite_source(src));
    snprintf(from, sizeof from, "sqlite://%s", src);
    char *env[] = {"ENVIRONMENT=production", "SECRET_KEY=e2e-secret-0123456789abcdef0123456789",
                   NULL};
    CHECK(server_start(&srv, test_path(path, sizeof path, "introspect-prod.db"), env) == 0);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", srv.port);
    char *args[] = {"--data-source", "2", "--from", from, "--url", url, NULL};
    char *tok[2][3] = {
        {"ENVIRONMENT=production", "SECRET_KEY=e2e-secret-0123456789abcdef0123456789", NULL},
        {NULL}};
    char minted[2][1024];
    const char *role[2] = {NULL, "admin"};
    for (int i = 0; i < 2; i++) {
        char *targs[] = {"token",         "--sub", "ops",
                         "--tenant",      "t1",    role[i] ? "--role" : NULL,
                         (char *)role[i], NULL};
        CHECK_INT(run_memori(targs, tok[0], minted[i], sizeof minted[i]), 0);
        minted[i][strcspn(minted[i], "\n")] = '\0';
    }
    char user_tok[1100], admin_tok[1100];
    snprintf(user_tok, sizeof user_tok, "MEMORI_TOKEN=%s", minted[0]);
    snprintf(admin_tok, sizeof admin_tok, "MEMORI_TOKEN=%s", minted[1]);
    CHECK_INT(import(args, (char *[]){user_tok, NULL}, out, sizeof out), 2);
    CHECK(strstr(out, "answered 403") != NULL);
    CHECK_INT(import(args, (char *[]){admin_tok, NULL}, out, sizeof out), 0);
    CHECK(strstr(out, "added 4") != NULL);
    stop();
}

TEST_MAIN("e2e_introspect", T(test_import_postgresql_catalogue_over_http),
          T(test_import_sqlite_file_directly_then_over_http),
          T(test_import_bad_arguments_and_unreachable_sources_exit_2),
          T(test_import_over_http_needs_an_admin_in_production))
