/*
 * Data-source schemas end to end (DESIGN.md §9, issue 16): the real
 * `memori serve` over HTTP on SQLite, or PostgreSQL with
 * MEMORI_TEST_BACKEND=postgres — import, re-import unchanged, one column
 * changed, a table dropped and brought back (same memory), GET and DELETE,
 * bad input that leaves the stored schema as it was, tenant isolation and
 * admin-only changes in production; schema memories found by every user of
 * the tenant in strict isolation too.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "http_client.h"
#include "memori/auth.h"
#include "memori/util.h"
#include "test.h"

#define SECRET "e2e-secret-0123456789abcdef0123456789"

static struct server srv;
static struct mr_auth auth = {true, true, SECRET, "HS256", "default", NULL};

static bool start_with(char *const *env)
{
    return server_start_fresh(&srv, "schema", env) == 0;
}

static void stop(void)
{
    server_stop_checked(&srv);
}

static const char DDL_V1[] =
    "CREATE TABLE customers (id integer PRIMARY KEY, name text NOT NULL);\n"
    "COMMENT ON TABLE customers IS 'People who buy from us';\n"
    "CREATE TABLE orders (id integer PRIMARY KEY,\n"
    "  customer_id integer NOT NULL REFERENCES customers(id), total numeric(10,2));\n"
    "CREATE TABLE products (id integer PRIMARY KEY, title text, warehouse_code text);\n";

/* orders.total changes type. */
static const char DDL_V2[] =
    "CREATE TABLE customers (id integer PRIMARY KEY, name text NOT NULL);\n"
    "COMMENT ON TABLE customers IS 'People who buy from us';\n"
    "CREATE TABLE orders (id integer PRIMARY KEY,\n"
    "  customer_id integer NOT NULL REFERENCES customers(id), total numeric(12,2));\n"
    "CREATE TABLE products (id integer PRIMARY KEY, title text, warehouse_code text);\n";

/* products dropped. */
static const char DDL_V3[] =
    "CREATE TABLE customers (id integer PRIMARY KEY, name text NOT NULL);\n"
    "COMMENT ON TABLE customers IS 'People who buy from us';\n"
    "CREATE TABLE orders (id integer PRIMARY KEY,\n"
    "  customer_id integer NOT NULL REFERENCES customers(id), total numeric(12,2));\n";

static char *ddl_body(const char *dialect, const char *ddl)
{
    json_t *o = json_pack("{s:s,s:s}", "dialect", dialect, "ddl", ddl);
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

/* PUT the DDL as user (X-User-Id) or token (when tok): the response in r. */
static void put_ddl(const char *who, const char *tok, long ds, const char *dialect, const char *ddl,
                    struct resp *r)
{
    char path[96], *body = ddl_body(dialect, ddl);
    snprintf(path, sizeof path, "/api/data-sources/%ld/schema", ds);
    if (tok)
        http_auth(&srv, "PUT", path, tok, body, SIZE_MAX, r);
    else
        http(&srv, "PUT", path, who, body, SIZE_MAX, r);
    free(body);
}

static size_t arr_len(const json_t *o, const char *key)
{
    return json_array_size(json_object_get(o, key));
}

static const char *arr_str(const json_t *o, const char *key, size_t i)
{
    return json_string_value(json_array_get(json_object_get(o, key), i));
}

/*
 * The memory_id of the table memory called name that search finds for
 * user, or "" when search does not find it.
 */
static void find_table(const char *user, const char *query, const char *name, char out[37])
{
    char body[512];
    snprintf(body, sizeof body,
             "{\"query\":\"%s\",\"memory_types\":[\"entity\"],\"limit\":20,"
             "\"min_similarity\":0}",
             query);
    struct resp r;
    out[0] = '\0';
    if (http(&srv, "POST", "/api/memories/search", user, body, SIZE_MAX, &r) == 0 &&
        r.status == 200) {
        json_t *results = json_object_get(r.json, "results");
        for (size_t i = 0; i < json_array_size(results); i++) {
            json_t *m = json_array_get(results, i);
            json_t *md = json_object_get(m, "metadata");
            if (jstr(md, "kind") && strcmp(jstr(md, "kind"), "table") == 0 && jstr(md, "name") &&
                strcmp(jstr(md, "name"), name) == 0)
                snprintf(out, 37, "%s", jstr(m, "memory_id"));
        }
    }
    resp_free(&r);
}

static void post_example(const char *user, const char *question, const char *sql, long ds,
                         struct resp *r);

TEST(test_schema_import_reimport_change_drop_delete)
{
    char *env[] = {"TENANT_ISOLATION_LEVEL=relaxed", NULL};
    CHECK(start_with(env));
    struct resp r;
    http(&srv, "GET", "/api/data-sources/7/schema", "alice", NULL, 0, &r);
    CHECK_INT(r.status, 404);
    resp_free(&r);

    put_ddl("alice", NULL, 7, "postgresql", DDL_V1, &r);
    CHECK_INT(r.status, 200);
    CHECK_INT(jint(r.json, "data_source_id"), 7);
    CHECK_STR(jstr(r.json, "dialect"), "postgresql");
    CHECK_INT(jint(r.json, "tables"), 3);
    CHECK_INT(jint(r.json, "relationships"), 1);
    CHECK_INT(arr_len(r.json, "added"), 3);
    CHECK_INT(jint(r.json, "unchanged"), 0);
    char hash1[80];
    snprintf(hash1, sizeof hash1, "%s", jstr(r.json, "schema_hash"));
    CHECK(strncmp(hash1, "sha256:", 7) == 0);
    resp_free(&r);

    http(&srv, "GET", "/api/data-sources/7/schema", "bob", NULL, 0, &r);
    CHECK_INT(r.status, 200);
    CHECK_STR(jstr(r.json, "schema_hash"), hash1);
    CHECK_INT(json_array_size(json_object_get(r.json, "tables")), 3);
    resp_free(&r);

    /* Tenant knowledge: another user of the tenant finds the tables. */
    char orders_id[37], products_id[37], got[37];
    find_table("bob", "orders customer_id total", "orders", orders_id);
    CHECK(orders_id[0] != '\0');
    find_table("bob", "products title warehouse", "products", products_id);
    CHECK(products_id[0] != '\0');
    /* ... and reads them, but cannot change or delete them. */
    char path[96];
    snprintf(path, sizeof path, "/api/memories/%s", orders_id);
    http(&srv, "GET", path, "bob", NULL, 0, &r);
    CHECK_INT(r.status, 200);
    CHECK_STR(jstr(r.json, "memory_type"), "entity");
    CHECK_INT(jint(r.json, "data_source_id"), 7);
    CHECK(strstr(jstr(r.json, "content"), "numeric(10,2)") != NULL);
    resp_free(&r);
    http(&srv, "DELETE", path, "bob", NULL, 0, &r);
    CHECK_INT(r.status, 404);
    resp_free(&r);
    http(&srv, "PATCH", path, "alice", "{\"content\":\"x\"}", SIZE_MAX, &r);
    CHECK_INT(r.status, 404);
    resp_free(&r);

    /* Re-import unchanged: nothing written. */
    put_ddl("alice", NULL, 7, "postgresql", DDL_V1, &r);
    CHECK_INT(r.status, 200);
    CHECK_INT(jint(r.json, "unchanged"), 3);
    CHECK_INT(arr_len(r.json, "added") + arr_len(r.json, "updated") + arr_len(r.json, "removed"),
              0);
    CHECK_STR(jstr(r.json, "schema_hash"), hash1);
    resp_free(&r);

    /* One column changed: one table updated, in place. */
    put_ddl("alice", NULL, 7, "postgresql", DDL_V2, &r);
    CHECK_INT(r.status, 200);
    CHECK_INT(arr_len(r.json, "updated"), 1);
    CHECK_STR(arr_str(r.json, "updated", 0), "orders");
    CHECK_INT(jint(r.json, "unchanged"), 2);
    CHECK(strcmp(jstr(r.json, "schema_hash"), hash1) != 0);
    resp_free(&r);
    http(&srv, "GET", path, "bob", NULL, 0, &r);
    CHECK_INT(r.status, 200); /* the same memory id */
    CHECK(strstr(jstr(r.json, "content"), "numeric(12,2)") != NULL);
    resp_free(&r);

    /* A table dropped: removed, gone from search. */
    put_ddl("alice", NULL, 7, "postgresql", DDL_V3, &r);
    CHECK_INT(r.status, 200);
    CHECK_INT(arr_len(r.json, "removed"), 1);
    CHECK_STR(arr_str(r.json, "removed", 0), "products");
    CHECK_INT(jint(r.json, "tables"), 2);
    CHECK_INT(jint(r.json, "unchanged"), 2);
    resp_free(&r);
    find_table("bob", "products title warehouse", "products", got);
    CHECK_STR(got, "");
    /* It comes back: the same memory, revived. */
    put_ddl("alice", NULL, 7, "postgresql", DDL_V2, &r);
    CHECK_INT(r.status, 200);
    CHECK_INT(arr_len(r.json, "added"), 1);
    CHECK_STR(arr_str(r.json, "added", 0), "products");
    resp_free(&r);
    find_table("bob", "products title warehouse", "products", got);
    CHECK_STR(got, products_id);

    /* Bad input: each a 4xx that says where, the stored schema untouched. */
    put_ddl("alice", NULL, 7, "postgresql", "CREATE TABLE t (\n  id integer,\n  name tex t);", &r);
    CHECK_INT(r.status, 422);
    json_t *e = json_array_get(json_object_get(r.json, "detail"), 0);
    CHECK_STR(jstr(e, "type"), "sql_syntax");
    CHECK_INT(jint(e, "line"), 3);
    CHECK(jint(e, "column") > 0);
    resp_free(&r);
    put_ddl("alice", NULL, 7, "postgresql",
            "CREATE TABLE orders (id integer PRIMARY KEY, customer_id integer REFERENCES "
            "customers(id));",
            &r);
    CHECK_INT(r.status, 422);
    e = json_array_get(json_object_get(r.json, "detail"), 0);
    CHECK_STR(jstr(e, "type"), "sql_unknown_table");
    CHECK(strstr(jstr(e, "msg"), "customers") != NULL);
    resp_free(&r);
    put_ddl("alice", NULL, 7, "oracle", "CREATE TABLE t (id int);", &r);
    CHECK_INT(r.status, 422);
    e = json_array_get(json_object_get(r.json, "detail"), 0);
    CHECK_STR(jstr(e, "type"), "sql_dialect");
    resp_free(&r);
    put_ddl("alice", NULL, 7, "postgresql",
            "CREATE TABLE a (id int PRIMARY KEY); CREATE TABLE a (id int PRIMARY KEY);", &r);
    CHECK_INT(r.status, 422);
    resp_free(&r);
    const char *bad_ids[] = {"0", "-3", "abc", "1.5"};
    for (size_t i = 0; i < sizeof bad_ids / sizeof *bad_ids; i++) {
        char p[96], *body = ddl_body("postgresql", "CREATE TABLE t (id int);");
        snprintf(p, sizeof p, "/api/data-sources/%s/schema", bad_ids[i]);
        http(&srv, "PUT", p, "alice", body, SIZE_MAX, &r);
        free(body);
        CHECK_INT(r.status, 422);
        resp_free(&r);
        http(&srv, "GET", p, "alice", NULL, 0, &r);
        CHECK_INT(r.status, 422);
        resp_free(&r);
    }
    /* Over a limit: 413, in either form. */
    size_t cap = 64 * 2100 + 256, n = 0;
    char *wide = malloc(cap);
    n += (size_t)snprintf(wide + n, cap - n, "CREATE TABLE wide (");
    for (int i = 0; i <= 2000; i++)
        n += (size_t)snprintf(wide + n, cap - n, "%sc%d integer", i ? ", " : "", i);
    snprintf(wide + n, cap - n, ");");
    put_ddl("alice", NULL, 7, "postgresql", wide, &r);
    CHECK_INT(r.status, 413);
    resp_free(&r);
    n = (size_t)snprintf(wide, cap, "{\"tables\":[{\"name\":\"wide\",\"columns\":[");
    for (int i = 0; i <= 2000; i++)
        n += (size_t)snprintf(wide + n, cap - n, "%s{\"name\":\"c%d\"}", i ? "," : "", i);
    snprintf(wide + n, cap - n, "]}]}");
    http(&srv, "PUT", "/api/data-sources/7/schema", "alice", wide, SIZE_MAX, &r);
    CHECK_INT(r.status, 413);
    CHECK(strstr(jstr(r.json, "detail"), "wide") != NULL);
    resp_free(&r);
    free(wide);
    http(&srv, "PUT", "/api/data-sources/7/schema", "alice", "{\"nothing\":1}", SIZE_MAX, &r);
    CHECK_INT(r.status, 422);
    resp_free(&r);
    http(&srv, "GET", "/api/data-sources/7/schema", "alice", NULL, 0, &r);
    CHECK_INT(r.status, 200);
    CHECK_INT(json_array_size(json_object_get(r.json, "tables")), 3); /* V2, as it was */
    resp_free(&r);

    /* The JSON form, for another source; SQLite DDL for a third. */
    const char *tables = "{\"tables\":[{\"name\":\"sales.regions\",\"description\":\"Sales "
                         "regions\",\"columns\":[{\"name\":\"id\",\"type\":\"integer\","
                         "\"primary_key\":true},{\"name\":\"label\",\"type\":\"text\"}]},"
                         "{\"name\":\"sales.reps\",\"columns\":[{\"name\":\"id\","
                         "\"primary_key\":true},{\"name\":\"region_id\"}],\"foreign_keys\":[{"
                         "\"columns\":[\"region_id\"],\"references\":{\"table\":"
                         "\"sales.regions\",\"columns\":[\"id\"]}}]}]}";
    http(&srv, "PUT", "/api/data-sources/8/schema", "alice", tables, SIZE_MAX, &r);
    CHECK_INT(r.status, 200);
    CHECK_INT(jint(r.json, "tables"), 2);
    CHECK_INT(jint(r.json, "relationships"), 1);
    resp_free(&r);
    /* Its stored form reads back (an example is checked against it), schema-qualified names too. */
    post_example("alice", "Reps per region",
                 "SELECT g.label, count(*) FROM sales.reps p JOIN sales.regions g "
                 "ON p.region_id = g.id GROUP BY g.label",
                 8, &r);
    CHECK_INT(r.status, 201);
    resp_free(&r);
    put_ddl("alice", NULL, 9, "sqlite",
            "CREATE TABLE Artist (ArtistId INTEGER PRIMARY KEY, Name TEXT); -- who records\n"
            "CREATE TABLE Album (AlbumId INTEGER PRIMARY KEY, ArtistId INTEGER REFERENCES "
            "Artist(ArtistId));",
            &r);
    CHECK_INT(r.status, 200);
    CHECK_STR(jstr(r.json, "dialect"), "sqlite");
    CHECK_INT(jint(r.json, "tables"), 2);
    resp_free(&r);

    /* DELETE: 204, then 404, and its memories are gone. */
    http(&srv, "DELETE", "/api/data-sources/7/schema", "alice", NULL, 0, &r);
    CHECK_INT(r.status, 204);
    resp_free(&r);
    http(&srv, "GET", "/api/data-sources/7/schema", "alice", NULL, 0, &r);
    CHECK_INT(r.status, 404);
    resp_free(&r);
    http(&srv, "DELETE", "/api/data-sources/7/schema", "alice", NULL, 0, &r);
    CHECK_INT(r.status, 404);
    resp_free(&r);
    http(&srv, "GET", path, "bob", NULL, 0, &r);
    CHECK_INT(r.status, 404);
    resp_free(&r);
    find_table("bob", "orders customer_id total", "orders", got);
    CHECK_STR(got, "");
    /* Source 8 is untouched. */
    http(&srv, "GET", "/api/data-sources/8/schema", "bob", NULL, 0, &r);
    CHECK_INT(r.status, 200);
    resp_free(&r);
    stop();
}

static void post_example(const char *user, const char *question, const char *sql, long ds,
                         struct resp *r)
{
    json_t *o = json_pack("{s:s,s:s,s:I}", "question", question, "sql", sql, "data_source_id",
                          (json_int_t)ds);
    char *body = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    http(&srv, "POST", "/api/examples", user, body, SIZE_MAX, r);
    free(body);
}

/* The join memory search finds for user whose metadata says source (and from_table), or NULL. */
static json_t *find_join(const char *user, const char *query, const char *source,
                         const char *from_table)
{
    char body[512];
    snprintf(body, sizeof body,
             "{\"query\":\"%s\",\"memory_types\":[\"relationship\"],\"limit\":20,"
             "\"min_similarity\":0}",
             query);
    struct resp r;
    json_t *found = NULL;
    if (http(&srv, "POST", "/api/memories/search", user, body, SIZE_MAX, &r) == 0 &&
        r.status == 200) {
        json_t *results = json_object_get(r.json, "results");
        for (size_t i = 0; i < json_array_size(results) && !found; i++) {
            json_t *m = json_array_get(results, i);
            json_t *md = json_object_get(m, "metadata");
            if (jstr(md, "source") && strcmp(jstr(md, "source"), source) == 0 &&
                jstr(md, "from_table") && strcmp(jstr(md, "from_table"), from_table) == 0)
                found = json_incref(m);
        }
    }
    resp_free(&r);
    return found;
}

TEST(test_examples_dedup_joins_and_bad_sql)
{
    char *env[] = {"TENANT_ISOLATION_LEVEL=relaxed", NULL};
    CHECK(start_with(env));
    struct resp r;
    put_ddl("alice", NULL, 7, "postgresql", DDL_V1, &r);
    CHECK_INT(r.status, 200);
    resp_free(&r);
    json_t *join = find_join("alice", "orders customer_id customers id", "declared", "orders");
    CHECK(join != NULL);
    CHECK_NEAR(jnum(join, "importance_score"), 0.5, 1e-9);
    json_decref(join);

    post_example("alice", "How many orders per customer?",
                 "SELECT c.name, count(*) FROM orders o JOIN customers c ON o.customer_id = c.id "
                 "WHERE o.total > 10 GROUP BY c.name",
                 7, &r);
    CHECK_INT(r.status, 201);
    CHECK_STR(jstr(r.json, "memory_type"), "example");
    CHECK_STR(jstr(r.json, "content"), "How many orders per customer?");
    CHECK_INT(jint(r.json, "data_source_id"), 7);
    char id[37];
    snprintf(id, sizeof id, "%s", jstr(r.json, "memory_id"));
    json_t *md = json_object_get(r.json, "metadata");
    CHECK_STR(jstr(md, "kind"), "example");
    CHECK_STR(jstr(md, "dialect"), "postgresql");
    CHECK(strlen(jstr(md, "fingerprint")) == 16);
    CHECK(strstr(jstr(md, "sql"), "JOIN customers") != NULL);
    CHECK_INT(json_array_size(json_object_get(md, "tables")), 2);
    json_t *j0 = json_array_get(json_object_get(md, "joins"), 0);
    CHECK_STR(jstr(j0, "from"), "orders.customer_id");
    CHECK_STR(jstr(j0, "to"), "customers.id");
    CHECK(json_is_true(json_object_get(j0, "in_schema")));
    resp_free(&r);

    /* The join's memory got more important. */
    join = find_join("alice", "orders customer_id customers id", "declared", "orders");
    CHECK(join != NULL);
    CHECK_NEAR(jnum(join, "importance_score"), 0.55, 1e-9);
    json_decref(join);

    /* The same question (other case and spacing) and SQL (another literal): the stored one. */
    post_example("alice", "  how many ORDERS per   customer ",
                 "select c.name, count(*) from orders o join customers c on o.customer_id = c.id "
                 "where o.total > 99 group by c.name",
                 7, &r);
    CHECK_INT(r.status, 200);
    CHECK_STR(jstr(r.json, "memory_id"), id);
    resp_free(&r);
    /* Another user's same example is their own. */
    post_example("bob", "How many orders per customer?",
                 "SELECT c.name, count(*) FROM orders o JOIN customers c ON o.customer_id = c.id "
                 "WHERE o.total > 10 GROUP BY c.name",
                 7, &r);
    CHECK_INT(r.status, 201);
    CHECK(strcmp(jstr(r.json, "memory_id"), id) != 0);
    resp_free(&r);

    /* A join the schema does not declare becomes a relationship memory from the example. */
    post_example("alice", "Products stored under an order's number",
                 "SELECT p.title FROM products p JOIN orders o ON o.id = p.id", 7, &r);
    CHECK_INT(r.status, 201);
    j0 = json_array_get(json_object_get(json_object_get(r.json, "metadata"), "joins"), 0);
    CHECK(j0 != NULL);
    CHECK(json_is_false(json_object_get(j0, "in_schema")));
    resp_free(&r);
    join = find_join("bob", "orders id products id", "example", "orders");
    if (!join)
        join = find_join("bob", "orders id products id", "example", "products");
    CHECK(join != NULL);
    json_decref(join);

    /* Bad SQL: 422 naming what is wrong; nothing stored. */
    post_example("alice", "q1", "SELECT * FROM nope", 7, &r);
    CHECK_INT(r.status, 422);
    json_t *e = json_array_get(json_object_get(r.json, "detail"), 0);
    CHECK_STR(jstr(e, "type"), "sql_unknown_table");
    CHECK(strstr(jstr(e, "msg"), "nope") != NULL);
    resp_free(&r);
    post_example("alice", "q2", "SELECT o.nope FROM orders o", 7, &r);
    CHECK_INT(r.status, 422);
    e = json_array_get(json_object_get(r.json, "detail"), 0);
    CHECK_STR(jstr(e, "type"), "sql_unknown_column");
    CHECK(strstr(jstr(e, "msg"), "nope") != NULL);
    resp_free(&r);
    post_example("alice", "q3", "SELECT FROM WHERE", 7, &r);
    CHECK_INT(r.status, 422);
    e = json_array_get(json_object_get(r.json, "detail"), 0);
    CHECK_STR(jstr(e, "type"), "sql_syntax");
    resp_free(&r);
    post_example("alice", "q4", "SELECT 1", 0, &r);
    CHECK_INT(r.status, 422);
    resp_free(&r);
    http(&srv, "POST", "/api/examples", "alice", "{\"sql\":\"SELECT 1\",\"data_source_id\":1}",
         SIZE_MAX, &r);
    CHECK_INT(r.status, 422);
    resp_free(&r);
    /* A source without a schema: PostgreSQL syntax, names as written. */
    post_example("alice", "One", "SELECT 1", 42, &r);
    CHECK_INT(r.status, 201);
    resp_free(&r);

    /* Statistics and the search filter know the type. */
    http(&srv, "GET", "/api/memories/statistics/summary", "alice", NULL, 0, &r);
    CHECK_INT(r.status, 200);
    CHECK_INT(jint(json_object_get(r.json, "by_type"), "examples"), 3);
    resp_free(&r);
    http(&srv, "POST", "/api/memories/search", "alice",
         "{\"query\":\"orders per customer\",\"memory_types\":[\"example\"],"
         "\"min_similarity\":0}",
         SIZE_MAX, &r);
    CHECK_INT(r.status, 200);
    json_t *res = json_object_get(r.json, "results");
    CHECK(json_array_size(res) >= 1);
    for (size_t i = 0; i < json_array_size(res); i++)
        CHECK_STR(jstr(json_array_get(res, i), "memory_type"), "example");
    resp_free(&r);
    stop();
}

/* The number of results search gives user (or tok) for body whose content has needle, or -1. */
static long search_count_with(const char *user, const char *tok, const char *body,
                              const char *needle)
{
    struct resp r;
    long n = -1;
    int got = tok ? http_auth(&srv, "POST", "/api/memories/search", tok, body, SIZE_MAX, &r)
                  : http(&srv, "POST", "/api/memories/search", user, body, SIZE_MAX, &r);
    if (got == 0 && r.status == 200) {
        json_t *res = json_object_get(r.json, "results");
        n = 0;
        for (size_t i = 0; i < json_array_size(res); i++) {
            const char *c = jstr(json_array_get(res, i), "content");
            n += c && strstr(c, needle) != NULL;
        }
    }
    resp_free(&r);
    return n;
}

static long search_count(const char *user, const char *tok, const char *body)
{
    return search_count_with(user, tok, body, "");
}

/*
 * Strict isolation (DESIGN.md §9): schema memories are tenant knowledge, found by every
 * user of the tenant; a user's own memories, shared-marked or about a data source, are not.
 */
TEST(test_schema_is_tenant_knowledge_in_strict_isolation)
{
    char *env[] = {"TENANT_ISOLATION_LEVEL=strict", NULL};
    CHECK(start_with(env));
    struct resp r;
    put_ddl("alice", NULL, 5, "postgresql", DDL_V1, &r);
    CHECK_INT(r.status, 200);
    resp_free(&r);
    char got[37];
    find_table("bob", "orders customer_id total", "orders", got);
    CHECK(got[0] != '\0');
    char path[96];
    snprintf(path, sizeof path, "/api/memories/%s", got);
    http(&srv, "GET", path, "carol", NULL, 0, &r); /* and read by id */
    CHECK_INT(r.status, 200);
    CHECK_STR(jstr(r.json, "memory_type"), "entity");
    resp_free(&r);
    find_table("alice", "customers people who buy", "customers", got);
    CHECK(got[0] != '\0');
    json_t *join = find_join("bob", "orders customer_id customers id", "declared", "orders");
    CHECK(join != NULL);
    json_decref(join);
    /* The lexical and semantic modes reach them too. */
    CHECK(search_count("bob", NULL,
                       "{\"query\":\"orders customer_id\",\"mode\":\"lexical\","
                       "\"memory_types\":[\"entity\"],\"min_similarity\":0}") >= 1);
    CHECK(search_count("bob", NULL,
                       "{\"query\":\"orders customer_id\",\"mode\":\"semantic\","
                       "\"memory_types\":[\"entity\"],\"min_similarity\":0}") >= 1);

    /* bob's own memories stay his: a shared-marked entity and an example about the source. */
    http(&srv, "POST", "/api/memories", "bob",
         "{\"content\":\"zebra warehouse codes of bob\",\"memory_type\":\"entity\","
         "\"conversation_id\":\"7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d\",\"shared\":true}",
         SIZE_MAX, &r);
    CHECK_INT(r.status, 201);
    resp_free(&r);
    post_example("bob", "Zebra orders per customer",
                 "SELECT c.name FROM orders o JOIN customers c ON o.customer_id = c.id", 5, &r);
    CHECK_INT(r.status, 201);
    resp_free(&r);
    const char *zebra = "{\"query\":\"zebra warehouse codes orders\",\"limit\":50,"
                        "\"memory_types\":[\"entity\",\"example\"],\"min_similarity\":0}";
    CHECK_INT(search_count_with("bob", NULL, zebra, "Zebra"), 1);
    CHECK_INT(search_count_with("bob", NULL, zebra, "zebra"), 1);
    CHECK_INT(search_count_with("carol", NULL, zebra, "Zebra"), 0);
    CHECK_INT(search_count_with("carol", NULL, zebra, "zebra"), 0);
    CHECK(search_count_with("carol", NULL, zebra, "Table orders") == 1);
    stop();
}

static char *token(const char *sub, const char *tenant, bool admin)
{
    struct mr_err err;
    return mr_auth_mint(&auth, sub, tenant, admin ? "admin" : NULL, 30, &err);
}

/* Production: admins change a schema, every user of the tenant reads it, no other tenant. */
static void roles_and_tenants(const char *isolation)
{
    char *env[] = {"ENVIRONMENT=production", "SECRET_KEY=" SECRET, (char *)isolation, NULL};
    auth.clock = mr_clock_system();
    CHECK(start_with(env));
    char *admin = token("root", "t1", true), *alice = token("alice", "t1", false);
    char *other = token("root", "t2", true);
    struct resp r;
    put_ddl(NULL, alice, 3, "postgresql", DDL_V1, &r);
    CHECK_INT(r.status, 403);
    resp_free(&r);
    put_ddl(NULL, admin, 3, "postgresql", DDL_V1, &r);
    CHECK_INT(r.status, 200);
    CHECK_INT(jint(r.json, "tables"), 3);
    resp_free(&r);
    http_auth(&srv, "GET", "/api/data-sources/3/schema", alice, NULL, 0, &r);
    CHECK_INT(r.status, 200);
    CHECK_INT(json_array_size(json_object_get(r.json, "tables")), 3);
    resp_free(&r);
    http_auth(&srv, "DELETE", "/api/data-sources/3/schema", alice, NULL, 0, &r);
    CHECK_INT(r.status, 403);
    resp_free(&r);
    /* A user of the tenant finds the admin's import in either isolation level (§9). */
    CHECK(search_count(NULL, alice,
                       "{\"query\":\"orders customer_id total\",\"memory_types\":[\"entity\"],"
                       "\"min_similarity\":0}") >= 1);
    /* Another tenant: nothing to see, its own schema for the same id is its own. */
    http_auth(&srv, "GET", "/api/data-sources/3/schema", other, NULL, 0, &r);
    CHECK_INT(r.status, 404);
    resp_free(&r);
    http_auth(&srv, "POST", "/api/memories/search", other,
              "{\"query\":\"orders customers\",\"min_similarity\":0}", SIZE_MAX, &r);
    CHECK_INT(r.status, 200);
    CHECK_INT(json_array_size(json_object_get(r.json, "results")), 0);
    resp_free(&r);
    http_auth(&srv, "DELETE", "/api/data-sources/3/schema", other, NULL, 0, &r);
    CHECK_INT(r.status, 404);
    resp_free(&r);
    put_ddl(NULL, other, 3, "postgresql", DDL_V3, &r);
    CHECK_INT(r.status, 200);
    CHECK_INT(jint(r.json, "tables"), 2);
    CHECK_INT(arr_len(r.json, "added"), 2);
    resp_free(&r);
    http_auth(&srv, "GET", "/api/data-sources/3/schema", alice, NULL, 0, &r);
    CHECK_INT(json_array_size(json_object_get(r.json, "tables")), 3); /* t1's, unchanged */
    resp_free(&r);
    http_auth(&srv, "DELETE", "/api/data-sources/3/schema", admin, NULL, 0, &r);
    CHECK_INT(r.status, 204);
    resp_free(&r);
    http_auth(&srv, "GET", "/api/data-sources/3/schema", other, NULL, 0, &r);
    CHECK_INT(r.status, 200); /* t2's stays */
    resp_free(&r);
    free(admin);
    free(alice);
    free(other);
    stop();
}

/* The data_source_id of item i of a GET /api/data-sources answer (-1 when absent). */
static long listed_id(const json_t *page, size_t i)
{
    json_t *d = json_array_get(json_object_get(page, "data_sources"), i);
    return d ? (long)json_integer_value(json_object_get(d, "data_source_id")) : -1;
}

/* GET path as tok answers 200 with total sources and exactly ids[0..n) on the page, in order. */
static void check_listed(const char *tok, const char *path, long total, const long *ids, size_t n)
{
    struct resp r;
    http_auth(&srv, "GET", path, tok, NULL, 0, &r);
    CHECK_INT(r.status, 200);
    CHECK_INT(jint(r.json, "total"), total);
    CHECK_INT(arr_len(r.json, "data_sources"), n);
    for (size_t i = 0; i < n; i++)
        CHECK_INT(listed_id(r.json, i), ids[i]);
    resp_free(&r);
}

/* GET /api/data-sources: the tenant's stored schemas by id, paged, no other tenant's. */
TEST(test_data_sources_are_listed_per_tenant)
{
    char *env[] = {"ENVIRONMENT=production", "SECRET_KEY=" SECRET, NULL};
    auth.clock = mr_clock_system();
    CHECK(start_with(env));
    char *admin = token("root", "t1", true), *alice = token("alice", "t1", false);
    char *other = token("root", "t2", true);
    struct resp r;
    check_listed(alice, "/api/data-sources", 0, NULL, 0);
    /* Written out of order: listed by id. */
    put_ddl(NULL, admin, 9, "sqlite",
            "CREATE TABLE shops (id INTEGER PRIMARY KEY, city TEXT);\n"
            "CREATE TABLE staff (id INTEGER PRIMARY KEY, name TEXT);\n",
            &r);
    CHECK_INT(r.status, 200);
    resp_free(&r);
    put_ddl(NULL, admin, 4, "postgresql", DDL_V1, &r);
    CHECK_INT(r.status, 200);
    resp_free(&r);
    put_ddl(NULL, other, 5, "postgresql", DDL_V1, &r);
    CHECK_INT(r.status, 200);
    resp_free(&r);
    check_listed(alice, "/api/data-sources", 2, (long[]){4, 9}, 2);
    http_auth(&srv, "GET", "/api/data-sources", alice, NULL, 0, &r);
    json_t *first = json_array_get(json_object_get(r.json, "data_sources"), 0);
    CHECK_STR(json_string_value(json_object_get(first, "dialect")), "postgresql");
    CHECK_INT(jint(first, "tables"), 3);
    CHECK_INT(jint(first, "relationships"), 1);
    CHECK(json_string_length(json_object_get(first, "schema_hash")) > 8);
    CHECK(json_is_string(json_object_get(first, "updated_at")));
    json_t *second = json_array_get(json_object_get(r.json, "data_sources"), 1);
    CHECK_STR(json_string_value(json_object_get(second, "dialect")), "sqlite");
    CHECK_INT(jint(second, "tables"), 2);
    CHECK_INT(jint(second, "relationships"), 0);
    resp_free(&r);
    /* Paged: the second one alone. */
    check_listed(alice, "/api/data-sources?limit=1&offset=1", 2, (long[]){9}, 1);
    http_auth(&srv, "GET", "/api/data-sources?limit=0", alice, NULL, 0, &r);
    CHECK_INT(r.status, 422);
    resp_free(&r);
    /* The other tenant sees its own only. */
    check_listed(other, "/api/data-sources", 1, (long[]){5}, 1);
    /* A deleted schema leaves the list at once. */
    http_auth(&srv, "DELETE", "/api/data-sources/4/schema", admin, NULL, 0, &r);
    CHECK_INT(r.status, 204);
    resp_free(&r);
    check_listed(alice, "/api/data-sources", 1, (long[]){9}, 1);
    http_auth(&srv, "GET", "/api/data-sources", NULL, NULL, 0, &r);
    CHECK_INT(r.status, 401);
    resp_free(&r);
    free(admin);
    free(alice);
    free(other);
    stop();
}

TEST(test_schema_roles_and_tenants_strict)
{
    roles_and_tenants("TENANT_ISOLATION_LEVEL=strict");
}

TEST(test_schema_roles_and_tenants_relaxed)
{
    roles_and_tenants("TENANT_ISOLATION_LEVEL=relaxed");
}

TEST_MAIN("e2e_schema", T(test_schema_import_reimport_change_drop_delete),
          T(test_examples_dedup_joins_and_bad_sql),
          T(test_schema_is_tenant_knowledge_in_strict_isolation),
          T(test_schema_roles_and_tenants_strict), T(test_schema_roles_and_tenants_relaxed),
          T(test_data_sources_are_listed_per_tenant))
