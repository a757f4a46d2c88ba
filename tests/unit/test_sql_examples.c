/*
 * test_sql_examples.c — an example's SQL analysed against its data source's
 * schema (mr_sql_analyze): tables, columns and joins through aliases, CTEs,
 * subqueries, set operations and self joins; unknown names; positions;
 * fingerprints; both dialects.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memori/sql.h"
#include "test.h"

static const char *PG_SCHEMA =
    "CREATE TABLE customers (id int PRIMARY KEY, name text, region_id int);"
    "CREATE TABLE regions (id int PRIMARY KEY, name text);"
    "CREATE TABLE orders (id int PRIMARY KEY, customer_id int REFERENCES customers, total "
    "numeric, placed_at date);"
    "CREATE TABLE order_items (order_id int REFERENCES orders, product_id int, qty int);"
    "CREATE TABLE products (id int PRIMARY KEY, name text, price numeric);"
    "CREATE TABLE employees (id int PRIMARY KEY, manager_id int REFERENCES employees, name text);"
    "CREATE TABLE sales.targets (region_id int, amount numeric);";

static const char *LITE_SCHEMA =
    "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT, region_id INTEGER);"
    "CREATE TABLE regions (id INTEGER PRIMARY KEY, name TEXT);"
    "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER REFERENCES customers, "
    "total REAL, placed_at TEXT);"
    "CREATE TABLE \"Order Items\" (order_id INTEGER REFERENCES orders, product_id INTEGER, qty);"
    "CREATE TABLE products (id INTEGER PRIMARY KEY, name TEXT, price REAL);"
    "CREATE TABLE employees (id INTEGER PRIMARY KEY, manager_id INTEGER REFERENCES employees, "
    "name TEXT);";

static struct mr_sql_schema *schema(enum mr_sql_dialect d)
{
    static struct mr_sql_schema *cache[3];
    if (!cache[d]) {
        struct mr_err err = {0};
        const char *ddl = d == MR_SQL_POSTGRESQL ? PG_SCHEMA : LITE_SCHEMA;
        if (mr_sql_parse_ddl(d, ddl, strlen(ddl), &cache[d], NULL, &err) != 0) {
            fprintf(stderr, "schema: %s\n", err.msg);
            abort();
        }
    }
    return cache[d];
}

/* "t.c,t.c" and "from>to[*],..." (* when the schema has the join), for one-line comparisons. */
static char tables_s[1024], columns_s[2048], joins_s[2048];

static int analyze(enum mr_sql_dialect d, const char *sql, struct mr_sql_diag *diag,
                   struct mr_err *err)
{
    struct mr_sql_analysis *a = NULL;
    int rc = mr_sql_analyze(d, schema(d), sql, strlen(sql), &a, diag, err);
    tables_s[0] = columns_s[0] = joins_s[0] = '\0';
    if (rc)
        return rc;
    size_t n = 0;
    for (size_t i = 0; i < a->ntables; i++)
        n +=
            (size_t)snprintf(tables_s + n, sizeof tables_s - n, "%s%s", i ? "," : "", a->tables[i]);
    n = 0;
    for (size_t i = 0; i < a->ncolumns; i++)
        n += (size_t)snprintf(columns_s + n, sizeof columns_s - n, "%s%s.%s", i ? "," : "",
                              a->columns[i].table, a->columns[i].column);
    n = 0;
    for (size_t i = 0; i < a->njoins; i++) {
        const struct mr_sql_equijoin *j = &a->joins[i];
        n += (size_t)snprintf(joins_s + n, sizeof joins_s - n, "%s%s.%s>%s.%s%s", i ? "," : "",
                              j->from.table, j->from.column, j->to.table, j->to.column,
                              j->schema_join >= 0 ? "*" : "");
    }
    mr_sql_analysis_free(a);
    return 0;
}

static int pg(const char *sql)
{
    struct mr_err err = {0};
    int rc = analyze(MR_SQL_POSTGRESQL, sql, NULL, &err);
    if (rc)
        fprintf(stderr, "    %s\n", err.msg);
    return rc;
}

static int lite(const char *sql)
{
    struct mr_err err = {0};
    int rc = analyze(MR_SQL_SQLITE, sql, NULL, &err);
    if (rc)
        fprintf(stderr, "    %s\n", err.msg);
    return rc;
}

TEST(test_pg_aliases_and_on_join)
{
    CHECK_INT(pg("SELECT c.name, sum(o.total) FROM customers AS c JOIN orders o "
                 "ON o.customer_id = c.id GROUP BY c.name"),
              0);
    CHECK_STR(tables_s, "customers,orders");
    CHECK_STR(columns_s, "customers.id,customers.name,orders.customer_id,orders.total");
    CHECK_STR(joins_s, "orders.customer_id>customers.id*");
    /* Written the other way round, it is the same join. */
    CHECK_INT(pg("SELECT 1 FROM orders JOIN customers ON customers.id = orders.customer_id"), 0);
    CHECK_STR(joins_s, "orders.customer_id>customers.id*");
    /* Names fold as PostgreSQL folds them. */
    CHECK_INT(pg("SELECT C.NAME FROM Customers C"), 0);
    CHECK_STR(columns_s, "customers.name");
}

TEST(test_pg_where_joins_and_inferred_keys)
{
    CHECK_INT(pg("SELECT p.name FROM orders o, order_items i, products p "
                 "WHERE i.order_id = o.id AND p.id = i.product_id AND p.price > 10"),
              0);
    CHECK_STR(tables_s, "order_items,orders,products");
    /* order_items.product_id → products.id is inferred by the schema: still the schema's. */
    CHECK_STR(joins_s, "order_items.order_id>orders.id*,order_items.product_id>products.id*");
    /* A cast around a column is still the column. */
    CHECK_INT(pg("SELECT 1 FROM orders o JOIN customers c ON o.customer_id::bigint = c.id"), 0);
    CHECK_STR(joins_s, "orders.customer_id>customers.id*");
}

TEST(test_pg_self_join)
{
    CHECK_INT(pg("SELECT e.name, m.name AS manager FROM employees e "
                 "LEFT JOIN employees m ON m.id = e.manager_id"),
              0);
    CHECK_STR(tables_s, "employees");
    CHECK_STR(joins_s, "employees.manager_id>employees.id*");
    /* One instance compared with itself is a filter, not a join. */
    CHECK_INT(pg("SELECT 1 FROM employees e WHERE e.id = e.manager_id"), 0);
    CHECK_STR(joins_s, "");
}

TEST(test_pg_cte_columns_lead_back_to_their_tables)
{
    CHECK_INT(pg("WITH big AS (SELECT customer_id, total AS amount FROM orders WHERE total > 100)"
                 " SELECT c.name, b.amount FROM big b JOIN customers c ON c.id = b.customer_id"),
              0);
    CHECK_STR(tables_s, "customers,orders");
    CHECK_STR(columns_s, "customers.id,customers.name,orders.customer_id,orders.total");
    CHECK_STR(joins_s, "orders.customer_id>customers.id*");
    /* Renamed by the CTE's column list, chained through a second CTE, and SELECT *. */
    CHECK_INT(pg("WITH o(cid, t) AS (SELECT customer_id, total FROM orders), "
                 "o2 AS (SELECT * FROM o) SELECT r.name FROM o2 JOIN customers c ON c.id = o2.cid "
                 "JOIN regions r ON r.id = c.region_id"),
              0);
    CHECK_STR(joins_s, "customers.region_id>regions.id*,orders.customer_id>customers.id*");
    /* A recursive CTE sees itself. */
    CHECK_INT(pg("WITH RECURSIVE chain AS (SELECT id, manager_id FROM employees WHERE id = 1 "
                 "UNION ALL SELECT e.id, e.manager_id FROM employees e JOIN chain ON e.id = "
                 "chain.manager_id) SELECT * FROM chain"),
              0);
    CHECK_STR(tables_s, "employees");
    CHECK_STR(joins_s, "employees.manager_id>employees.id*");
}

TEST(test_pg_subqueries)
{
    /* A derived table's columns lead back too. */
    CHECK_INT(pg("SELECT r.name, x.n FROM regions r JOIN (SELECT region_id, count(*) AS n "
                 "FROM customers GROUP BY region_id) x ON x.region_id = r.id"),
              0);
    CHECK_STR(joins_s, "customers.region_id>regions.id*");
    /* IN (SELECT …) is a semi-join. */
    CHECK_INT(pg("SELECT name FROM customers WHERE id IN (SELECT customer_id FROM orders)"), 0);
    CHECK_STR(joins_s, "orders.customer_id>customers.id*");
    /* A correlated subquery sees the outer query's tables. */
    CHECK_INT(pg("SELECT name FROM customers c WHERE EXISTS "
                 "(SELECT 1 FROM orders o WHERE o.customer_id = c.id AND o.total > 5)"),
              0);
    CHECK_STR(tables_s, "customers,orders");
    CHECK_STR(joins_s, "orders.customer_id>customers.id*");
    /* A scalar subquery in the select list, unqualified columns found in the inner FROM. */
    CHECK_INT(pg("SELECT c.name, (SELECT max(total) FROM orders WHERE customer_id = c.id) "
                 "FROM customers c"),
              0);
    CHECK_STR(joins_s, "orders.customer_id>customers.id*");
    CHECK_STR(columns_s, "customers.id,customers.name,orders.customer_id,orders.total");
}

TEST(test_pg_set_operations)
{
    CHECK_INT(pg("SELECT name FROM customers UNION SELECT name FROM products"), 0);
    CHECK_STR(tables_s, "customers,products");
    CHECK_STR(columns_s, "customers.name,products.name");
    CHECK_STR(joins_s, "");
    CHECK_INT(pg("SELECT c.id FROM customers c JOIN orders o ON o.customer_id = c.id "
                 "EXCEPT SELECT customer_id FROM orders WHERE total < 0 "
                 "INTERSECT SELECT e.id FROM employees e JOIN employees m ON m.id = e.manager_id"),
              0);
    CHECK_STR(tables_s, "customers,employees,orders");
    CHECK_STR(joins_s, "employees.manager_id>employees.id*,orders.customer_id>customers.id*");
    /* A set operation inside a derived table. */
    CHECK_INT(pg("SELECT r.name FROM regions r JOIN (SELECT region_id FROM customers UNION "
                 "SELECT region_id FROM sales.targets) u ON u.region_id = r.id"),
              0);
    CHECK_STR(tables_s, "customers,regions,sales.targets");
    CHECK_STR(joins_s, "customers.region_id>regions.id*");
}

TEST(test_pg_using_natural_and_undeclared_joins)
{
    CHECK_INT(pg("SELECT * FROM sales.targets t JOIN customers c USING (region_id)"), 0);
    CHECK_STR(tables_s, "customers,sales.targets");
    /* Not in the schema (no *): pointed in name order, as neither side is a key. */
    CHECK_STR(joins_s, "customers.region_id>sales.targets.region_id");
    CHECK_INT(pg("SELECT * FROM sales.targets NATURAL JOIN customers"), 0);
    CHECK_STR(joins_s, "customers.region_id>sales.targets.region_id");
    /* Not in the schema, one side a primary key: it points at the key. */
    CHECK_INT(pg("SELECT 1 FROM sales.targets t JOIN regions r ON r.id = t.region_id"), 0);
    CHECK_STR(joins_s, "sales.targets.region_id>regions.id");
}

TEST(test_pg_unknown_names_are_errors_naming_them)
{
    struct mr_err err = {0};
    struct mr_sql_diag diag;
    CHECK_INT(analyze(MR_SQL_POSTGRESQL, "SELECT *\nFROM nope", &diag, &err), MR_EVALIDATION);
    CHECK_INT(diag.kind, MR_SQL_DIAG_UNKNOWN_TABLE);
    CHECK_STR(diag.name, "nope");
    CHECK_INT(diag.line, 2);
    CHECK_INT(diag.column, 6);
    CHECK(strstr(err.msg, "nope") != NULL);
    CHECK_INT(analyze(MR_SQL_POSTGRESQL, "SELECT o.nope FROM orders o", &diag, &err),
              MR_EVALIDATION);
    CHECK_INT(diag.kind, MR_SQL_DIAG_UNKNOWN_COLUMN);
    CHECK_STR(diag.name, "orders.nope");
    CHECK_INT(diag.column, 8);
    CHECK_INT(analyze(MR_SQL_POSTGRESQL, "SELECT nope FROM orders", &diag, &err), MR_EVALIDATION);
    CHECK_INT(diag.kind, MR_SQL_DIAG_UNKNOWN_COLUMN);
    CHECK_STR(diag.name, "nope");
    CHECK_INT(analyze(MR_SQL_POSTGRESQL, "SELECT x.id FROM orders o", &diag, &err), MR_EVALIDATION);
    CHECK_INT(diag.kind, MR_SQL_DIAG_UNKNOWN_TABLE);
    CHECK_STR(diag.name, "x");
    /* An aliased table is known by its alias only, as in PostgreSQL. */
    CHECK_INT(analyze(MR_SQL_POSTGRESQL, "SELECT orders.id FROM orders o", &diag, &err),
              MR_EVALIDATION);
    /* The schema is part of the name. */
    CHECK_INT(analyze(MR_SQL_POSTGRESQL, "SELECT * FROM targets", &diag, &err), MR_EVALIDATION);
    CHECK_INT(analyze(MR_SQL_POSTGRESQL, "SELECT * FROM \"Customers\"", &diag, &err),
              MR_EVALIDATION);
    CHECK_INT(analyze(MR_SQL_POSTGRESQL, "SELECT * FROM sales.orders", &diag, &err),
              MR_EVALIDATION);
    CHECK_INT(analyze(MR_SQL_POSTGRESQL, "WITH x AS (SELECT id FROM orders) SELECT x.total FROM x",
                      &diag, &err),
              MR_EVALIDATION);
    CHECK_STR(diag.name, "x.total");
    CHECK_INT(
        analyze(MR_SQL_POSTGRESQL, "INSERT INTO orders (id, nope) VALUES (1, 2)", &diag, &err),
        MR_EVALIDATION);
    CHECK_INT(diag.kind, MR_SQL_DIAG_UNKNOWN_COLUMN);
    CHECK_INT(analyze(MR_SQL_POSTGRESQL, "UPDATE orders SET nope = 1", &diag, &err),
              MR_EVALIDATION);
    CHECK_INT(
        analyze(MR_SQL_POSTGRESQL, "SELECT 1 FROM orders JOIN customers USING (nope)", &diag, &err),
        MR_EVALIDATION);
}

TEST(test_pg_names_that_are_not_columns)
{
    /* Output names in ORDER BY, functions in FROM, CTE names, schema-qualified tables. */
    CHECK_INT(pg("SELECT total AS t FROM orders ORDER BY t DESC LIMIT 3"), 0);
    CHECK_INT(pg("SELECT amount FROM sales.targets WHERE region_id > 0"), 0);
    CHECK_STR(columns_s, "sales.targets.amount,sales.targets.region_id");
    CHECK_INT(pg("SELECT g FROM generate_series(1, 3) g"), 0);
    CHECK_INT(pg("SELECT o.id, g.x FROM orders o CROSS JOIN LATERAL unnest(ARRAY[1]) AS g(x)"), 0);
    CHECK_INT(pg("SELECT count(*), now(), current_date FROM orders"), 0);
    CHECK_STR(tables_s, "orders");
    CHECK_STR(columns_s, "");
    CHECK_INT(pg("SELECT 1"), 0);
    CHECK_STR(tables_s, "");
    CHECK_INT(pg("SELECT v.x, v.column2 FROM (VALUES (1, 2)) AS v(x)"), 0);
    /* Three-part names, the default schema optional as in PostgreSQL. */
    CHECK_INT(pg("SELECT public.customers.name FROM customers"), 0);
    CHECK_STR(columns_s, "customers.name");
    CHECK_INT(pg("SELECT sales.targets.amount FROM sales.targets"), 0);
    CHECK_STR(columns_s, "sales.targets.amount");
    CHECK(pg("SELECT other.targets.amount FROM sales.targets") != 0);
}

TEST(test_pg_data_changes_are_examples_too)
{
    CHECK_INT(pg("UPDATE orders SET total = 0 WHERE customer_id IN "
                 "(SELECT id FROM customers WHERE name = 'x')"),
              0);
    CHECK_STR(tables_s, "customers,orders");
    CHECK_STR(joins_s, "orders.customer_id>customers.id*");
    CHECK_INT(
        pg("DELETE FROM order_items i USING orders o WHERE i.order_id = o.id AND o.total = 0"), 0);
    CHECK_STR(joins_s, "order_items.order_id>orders.id*");
    CHECK_INT(pg("INSERT INTO regions (id, name) SELECT region_id, 'x' FROM customers"), 0);
    CHECK_STR(columns_s, "customers.region_id,regions.id,regions.name");
}

TEST(test_pg_syntax_errors_and_statement_count)
{
    struct mr_err err = {0};
    struct mr_sql_diag diag;
    CHECK_INT(analyze(MR_SQL_POSTGRESQL, "SELECT *\n  FROM orders WHERE", &diag, &err),
              MR_EVALIDATION);
    CHECK_INT(diag.kind, MR_SQL_DIAG_SYNTAX);
    CHECK_INT(diag.line, 2);
    CHECK_INT(diag.column, 20);
    CHECK(strstr(err.msg, "syntax error at end of input") != NULL);
    CHECK_INT(analyze(MR_SQL_POSTGRESQL, "SELECT 1; SELECT 2", &diag, &err), MR_EVALIDATION);
    CHECK_INT(diag.kind, MR_SQL_DIAG_STATEMENT);
    CHECK_INT(analyze(MR_SQL_POSTGRESQL, "  ;  ", &diag, &err), MR_EVALIDATION);
    CHECK_INT(analyze(MR_SQL_POSTGRESQL, "", &diag, &err), MR_EVALIDATION);
    CHECK_INT(mr_sql_analyze(MR_SQL_POSTGRESQL, NULL, "SELECT 1\0", 9,
                             &(struct mr_sql_analysis *){0}, &diag, &err),
              MR_EVALIDATION);
    char *big = malloc(MR_SQL_MAX_EXAMPLE_BYTES + 2);
    memset(big, ' ', MR_SQL_MAX_EXAMPLE_BYTES + 1);
    big[MR_SQL_MAX_EXAMPLE_BYTES + 1] = '\0';
    CHECK_INT(analyze(MR_SQL_POSTGRESQL, big, &diag, &err), MR_ETOOLARGE);
    free(big);
}

static char fp[17];

static int fingerprint(enum mr_sql_dialect d, const char *sql)
{
    struct mr_sql_analysis *a = NULL;
    struct mr_err err = {0};
    int rc = mr_sql_analyze(d, schema(d), sql, strlen(sql), &a, NULL, &err);
    if (rc)
        fprintf(stderr, "    %s\n", err.msg);
    else
        memcpy(fp, a->fingerprint, 17);
    mr_sql_analysis_free(a);
    return rc;
}

TEST(test_fingerprints_ignore_literals_and_spacing)
{
    for (int d = MR_SQL_POSTGRESQL; d <= MR_SQL_SQLITE; d++) {
        char a[17], b[17];
        CHECK_INT(fingerprint(d, "SELECT * FROM orders WHERE total > 10 AND id IN (1, 2, 3)"), 0);
        memcpy(a, fp, 17);
        CHECK_INT(strlen(a), 16);
        CHECK_INT(fingerprint(d, "select *\n  from orders -- big ones\n where total > 99.5 "
                                 "and id in (7)"),
                  0);
        CHECK_STR(fp, a);
        CHECK_INT(fingerprint(d, "SELECT * FROM orders WHERE total > 10 AND customer_id IN (1)"),
                  0);
        memcpy(b, fp, 17);
        if (strcmp(a, b) == 0)
            test_fail(__FILE__, __LINE__, "dialect %d: another column, the same fingerprint", d);
        CHECK_INT(fingerprint(d, "SELECT * FROM customers WHERE id > 10"), 0);
        if (strcmp(a, fp) == 0)
            test_fail(__FILE__, __LINE__, "dialect %d: another table, the same fingerprint", d);
    }
    /* Ours: SQLite's quotes and case, parameters. */
    char a[17];
    CHECK_INT(fingerprint(MR_SQL_SQLITE, "SELECT `name` FROM [customers] WHERE id = ?1"), 0);
    memcpy(a, fp, 17);
    CHECK_INT(fingerprint(MR_SQL_SQLITE, "select NAME from \"Customers\" where ID = 'x'"), 0);
    CHECK_STR(fp, a);
    CHECK_INT(fingerprint(MR_SQL_SQLITE, "SELECT name, id FROM customers WHERE id = 1"), 0);
    CHECK(strcmp(fp, a) != 0);
}

TEST(test_sqlite_examples)
{
    CHECK_INT(lite("SELECT c.`name`, [o].total FROM customers AS c JOIN orders [o] "
                   "ON o.customer_id = c.id"),
              0);
    CHECK_STR(tables_s, "customers,orders");
    CHECK_STR(columns_s, "customers.id,customers.name,orders.customer_id,orders.total");
    CHECK_STR(joins_s, "orders.customer_id>customers.id*");
    /* SQLite's case-insensitive names map back to the schema's spelling. */
    CHECK_INT(lite("select O.TOTAL from ORDERS o join \"order items\" i on I.ORDER_ID = O.ID"), 0);
    CHECK_STR(tables_s, "Order Items,orders");
    CHECK_STR(joins_s, "Order Items.order_id>orders.id*");
    /* Self join, CTE, subquery. */
    CHECK_INT(lite("WITH m AS (SELECT id, name FROM employees) SELECT e.name, m.name FROM "
                   "employees e JOIN m ON m.id = e.manager_id"),
              0);
    CHECK_STR(joins_s, "employees.manager_id>employees.id*");
    CHECK_INT(lite("SELECT name FROM customers WHERE id IN (SELECT customer_id FROM orders) "
                   "UNION SELECT name FROM products"),
              0);
    CHECK_STR(tables_s, "customers,orders,products");
    CHECK_STR(joins_s, "orders.customer_id>customers.id*");
    /* SQLite-only syntax: SQLite checks it and names what it reads; libpg_query cannot
     * walk it, so its joins stay unknown rather than the example being refused. */
    CHECK_INT(lite("SELECT o.total FROM orders o JOIN customers c ON o.customer_id = c.id "
                   "LIMIT 5, 10"),
              0);
    CHECK_STR(tables_s, "customers,orders");
    CHECK_STR(columns_s, "customers.id,orders.customer_id,orders.total");
    CHECK_STR(joins_s, "");
    CHECK_INT(lite("UPDATE orders SET total = 0 WHERE id = 1"), 0);
    CHECK_STR(columns_s, "orders.id,orders.total");
}

TEST(test_sqlite_example_errors)
{
    struct mr_err err = {0};
    struct mr_sql_diag diag;
    CHECK_INT(analyze(MR_SQL_SQLITE, "SELECT * FROM nope", &diag, &err), MR_EVALIDATION);
    CHECK_INT(diag.kind, MR_SQL_DIAG_UNKNOWN_TABLE);
    CHECK_STR(diag.name, "nope");
    CHECK_INT(analyze(MR_SQL_SQLITE, "SELECT o.nope FROM orders o", &diag, &err), MR_EVALIDATION);
    CHECK_INT(diag.kind, MR_SQL_DIAG_UNKNOWN_COLUMN);
    CHECK_STR(diag.name, "o.nope");
    CHECK_INT(analyze(MR_SQL_SQLITE, "SELECT *\n FROM orders WHERE", &diag, &err), MR_EVALIDATION);
    CHECK_INT(diag.kind, MR_SQL_DIAG_SYNTAX);
    CHECK_INT(diag.line, 2);
    CHECK_INT(analyze(MR_SQL_SQLITE, "SELECT 1; SELECT 2", &diag, &err), MR_EVALIDATION);
    CHECK_INT(diag.kind, MR_SQL_DIAG_STATEMENT);
    CHECK_INT(analyze(MR_SQL_SQLITE, "SELECT 1; -- done", &diag, &err), 0);
    /* Prepared, never run, and even so no schema change, attach or pragma is accepted. */
    const char *refused[] = {"DROP TABLE orders", "ATTACH DATABASE 'x.db' AS x",
                             "PRAGMA writable_schema = 1", "CREATE TABLE t (x)"};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        CHECK_INT(analyze(MR_SQL_SQLITE, refused[i], &diag, &err), MR_EVALIDATION);
        CHECK_INT(diag.kind, MR_SQL_DIAG_STATEMENT);
    }
    /* The schema's scratch database is untouched by all that. */
    CHECK_INT(lite("SELECT id FROM orders"), 0);
}

TEST(test_no_schema_records_names_as_written)
{
    struct mr_sql_analysis *a = NULL;
    struct mr_err err = {0};
    const char *sql = "SELECT a.x, y FROM s.alpha a JOIN beta b ON a.k = b.k2 WHERE b.z = 1";
    CHECK_INT(mr_sql_analyze(MR_SQL_POSTGRESQL, NULL, sql, strlen(sql), &a, NULL, &err), 0);
    CHECK_INT(a->ntables, 2);
    CHECK_STR(a->tables[0], "beta");
    CHECK_STR(a->tables[1], "s.alpha");
    CHECK_INT(a->njoins, 1);
    CHECK_STR(a->joins[0].from.table, "beta");
    CHECK_STR(a->joins[0].to.table, "s.alpha");
    CHECK_INT(a->joins[0].schema_join, -1);
    mr_sql_analysis_free(a);
    CHECK_INT(mr_sql_analyze(MR_SQL_SQLITE, NULL, sql, strlen(sql), &a, NULL, &err), 0);
    CHECK_INT(a->njoins, 1);
    mr_sql_analysis_free(a);
    CHECK_INT(mr_sql_analyze(MR_SQL_SQLITE, NULL, "SELECT FROM WHERE", 17, &a, NULL, &err),
              MR_EVALIDATION);
}

TEST(test_analysis_metadata_json)
{
    struct mr_sql_analysis *a = NULL;
    struct mr_err err = {0};
    const char *sql = "SELECT c.name FROM customers c JOIN orders o ON o.customer_id = c.id";
    CHECK_INT(mr_sql_analyze(MR_SQL_POSTGRESQL, schema(MR_SQL_POSTGRESQL), sql, strlen(sql), &a,
                             NULL, &err),
              0);
    char *json = mr_sql_analysis_to_json(a);
    char want[512];
    snprintf(want, sizeof want,
             "{\"dialect\":\"postgresql\",\"fingerprint\":\"%s\",\"tables\":[\"customers\","
             "\"orders\"],\"columns\":[\"customers.id\",\"customers.name\",\"orders.customer_id\"]"
             ",\"joins\":[{\"from\":\"orders.customer_id\",\"to\":\"customers.id\",\"in_schema\":"
             "true}]}",
             a->fingerprint);
    CHECK_STR(json, want);
    free(json);
    mr_sql_analysis_free(a);
}

TEST(test_an_undeclared_join_renders_as_an_example_relationship)
{
    struct mr_sql_analysis *a = NULL;
    struct mr_err err = {0};
    const char *sql = "SELECT 1 FROM sales.targets t JOIN regions r ON r.id = t.region_id";
    const struct mr_sql_schema *s = schema(MR_SQL_POSTGRESQL);
    CHECK_INT(mr_sql_analyze(MR_SQL_POSTGRESQL, s, sql, strlen(sql), &a, NULL, &err), 0);
    CHECK_INT(a->njoins, 1);
    CHECK_INT(a->joins[0].schema_join, -1);
    struct mr_sql_rendered r;
    mr_sql_render_example_join(MR_SQL_POSTGRESQL, &a->joins[0], &r);
    CHECK_STR(r.content, "sales.targets.region_id → regions.id");
    CHECK_STR(r.metadata_json,
              "{\"kind\":\"join\",\"from\":\"sales.targets.region_id\",\"to\":\"regions.id\","
              "\"from_table\":\"sales.targets\",\"from_columns\":[\"region_id\"],\"to_table\":"
              "\"regions\",\"to_columns\":[\"id\"],\"inferred\":false,\"source\":\"example\","
              "\"join_key\":\"sales.targets(region_id)->regions(id)\"}");
    CHECK_INT(r.nrelated, 2);
    mr_sql_rendered_free(&r);
    mr_sql_analysis_free(a);

    /* Its key is the one a later import that declares the join gives it. */
    const char *ddl = "CREATE TABLE regions (id int PRIMARY KEY); CREATE TABLE sales.targets "
                      "(region_id int REFERENCES regions);";
    struct mr_sql_schema *declared;
    CHECK_INT(mr_sql_parse_ddl(MR_SQL_POSTGRESQL, ddl, strlen(ddl), &declared, NULL, &err), 0);
    char *key = mr_sql_join_key(declared, &declared->joins[0]);
    CHECK_STR(key, "sales.targets(region_id)->regions(id)");
    free(key);
    mr_sql_schema_free(declared);
}

static void *analyse_many(void *arg)
{
    const struct mr_sql_schema *s = arg;
    enum mr_sql_dialect d = s->dialect;
    const char *sql = "SELECT c.name FROM customers c JOIN orders o ON o.customer_id = c.id";
    for (int i = 0; i < 200; i++) {
        struct mr_sql_analysis *a = NULL;
        struct mr_err err = {0};
        if (mr_sql_analyze(d, s, sql, strlen(sql), &a, NULL, &err) != 0 || a->njoins != 1)
            return (void *)1;
        mr_sql_analysis_free(a);
    }
    return NULL;
}

TEST(test_one_schema_many_threads)
{
    /* A schema is read by every request of its data source at once. */
    struct mr_sql_schema *fresh;
    struct mr_err err = {0};
    /* A fresh SQLite schema, so its scratch database is made while the threads race. */
    CHECK_INT(mr_sql_parse_ddl(MR_SQL_SQLITE, LITE_SCHEMA, strlen(LITE_SCHEMA), &fresh, NULL, &err),
              0);
    const struct mr_sql_schema *ss[] = {fresh, fresh, fresh, schema(MR_SQL_POSTGRESQL)};
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, analyse_many, (void *)ss[i]);
    void *rv;
    int bad = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], &rv);
        bad += rv != NULL;
    }
    CHECK_INT(bad, 0);
    mr_sql_schema_free(fresh);
}

TEST_MAIN("sql_examples", T(test_pg_aliases_and_on_join), T(test_pg_where_joins_and_inferred_keys),
          T(test_pg_self_join), T(test_pg_cte_columns_lead_back_to_their_tables),
          T(test_pg_subqueries), T(test_pg_set_operations),
          T(test_pg_using_natural_and_undeclared_joins),
          T(test_pg_unknown_names_are_errors_naming_them), T(test_pg_names_that_are_not_columns),
          T(test_pg_data_changes_are_examples_too), T(test_pg_syntax_errors_and_statement_count),
          T(test_fingerprints_ignore_literals_and_spacing), T(test_sqlite_examples),
          T(test_sqlite_example_errors), T(test_no_schema_records_names_as_written),
          T(test_analysis_metadata_json),
          T(test_an_undeclared_join_renders_as_an_example_relationship),
          T(test_one_schema_many_threads))
