/*
 * test_sql.c — the SQL module (include/memori/sql.h): DDL of both dialects
 * on our corpus (tests/data/ddl/), the checks and limits, the JSON specs,
 * hashes, the diff, inferred joins and the memories' content.
 * The example analyser has its own file (test_sql_examples.c).
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "memori/sql.h"
#include "test.h"

static char *slurp(const char *path, size_t *out_len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    size_t got = fread(s, 1, (size_t)n, f);
    fclose(f);
    s[got] = '\0';
    *out_len = got;
    return s;
}

static int parse_file(enum mr_sql_dialect d, const char *name, struct mr_sql_schema **out,
                      struct mr_sql_diag *diag, struct mr_err *err)
{
    char path[256];
    snprintf(path, sizeof path, "tests/data/ddl/%s", name);
    size_t n = 0;
    char *text = slurp(path, &n);
    if (!text) {
        fprintf(stderr, "cannot read %s (run from the repository root)\n", path);
        *out = NULL;
        return -100;
    }
    int rc = mr_sql_parse_ddl(d, text, n, out, diag, err);
    free(text);
    return rc;
}

static int parse_str(enum mr_sql_dialect d, const char *ddl, struct mr_sql_schema **out,
                     struct mr_sql_diag *diag, struct mr_err *err)
{
    return mr_sql_parse_ddl(d, ddl, strlen(ddl), out, diag, err);
}

static const struct mr_sql_table *table(const struct mr_sql_schema *s, const char *name)
{
    long t = mr_sql_schema_find(s, name);
    return t >= 0 ? &s->tables[t] : NULL;
}

static const struct mr_sql_column *column(const struct mr_sql_schema *s, const char *t,
                                          const char *c)
{
    long ti = mr_sql_schema_find(s, t);
    long ci = ti >= 0 ? mr_sql_table_find_column(s, (size_t)ti, c) : -1;
    return ci >= 0 ? &s->tables[ti].columns[ci] : NULL;
}

/* The joins as "from.col->to.col[:i]" lines, for comparing in one string. */
static char *joins_text(const struct mr_sql_schema *s)
{
    static char buf[4096];
    size_t n = 0;
    buf[0] = '\0';
    for (size_t k = 0; k < s->njoins; k++) {
        struct mr_sql_rendered r;
        mr_sql_render_join(s, k, &r);
        n += (size_t)snprintf(buf + n, sizeof buf - n, "%s%s\n", r.content,
                              s->joins[k].source == MR_SQL_JOIN_INFERRED ? " (inferred)" : "");
        mr_sql_rendered_free(&r);
    }
    return buf;
}

TEST(test_pg_corpus_tables_columns_and_types)
{
    struct mr_sql_schema *s;
    struct mr_err err = {0};
    struct mr_sql_diag diag;
    CHECK_INT(parse_file(MR_SQL_POSTGRESQL, "pg_shop.sql", &s, &diag, &err), 0);
    CHECK_INT(s->ntables, 7);
    /* CREATE SCHEMA, SET, CREATE INDEX, CREATE VIEW, INSERT. */
    CHECK_INT(s->ignored_statements, 5);
    const char *order[] = {"customers",         "Employees",    "products",       "reviews",
                           "sales.order_lines", "sales.orders", "sales.shipments"};
    for (size_t i = 0; i < 7; i++)
        CHECK_STR(s->tables[i].qualified, order[i]);
    CHECK_STR(s->tables[5].schema, "sales");
    CHECK_STR(s->tables[5].name, "orders");
    CHECK(s->tables[0].schema == NULL);
    CHECK_STR(column(s, "customers", "id")->type, "serial");
    CHECK_STR(column(s, "customers", "email")->type, "varchar(255)");
    CHECK_STR(column(s, "customers", "created_at")->type, "timestamptz");
    CHECK_STR(column(s, "products", "SKU")->type, "varchar(32)");
    CHECK_STR(column(s, "products", "price")->type, "numeric(10,2)");
    CHECK_STR(column(s, "products", "tags")->type, "text[]");
    CHECK_STR(column(s, "sales.orders", "placed_at")->type, "timestamp");
    CHECK_STR(column(s, "sales.order_lines", "line_no")->type, "smallint");
    CHECK_STR(column(s, "reviews", "id")->type, "bigserial");
    /* Keys and nullability, from column and table constraints and ALTER TABLE. */
    CHECK(column(s, "customers", "id")->primary_key);
    CHECK(!column(s, "customers", "id")->nullable);
    CHECK(!column(s, "customers", "email")->nullable);
    CHECK(column(s, "customers", "full_name")->nullable);
    CHECK(column(s, "products", "product_id")->primary_key);
    CHECK(column(s, "sales.orders", "id")->primary_key);
    CHECK(column(s, "sales.order_lines", "order_id")->primary_key);
    CHECK(column(s, "sales.order_lines", "line_no")->primary_key);
    CHECK(!column(s, "sales.order_lines", "product_id")->primary_key);
    mr_sql_schema_free(s);
}

TEST(test_pg_corpus_names_are_folded_unless_quoted)
{
    struct mr_sql_schema *s;
    struct mr_err err = {0};
    CHECK_INT(parse_file(MR_SQL_POSTGRESQL, "pg_shop.sql", &s, NULL, &err), 0);
    CHECK(table(s, "Employees") != NULL);
    CHECK(table(s, "employees") == NULL);
    CHECK(column(s, "Employees", "EmployeeID") != NULL);
    CHECK(column(s, "Employees", "employeeid") == NULL);
    CHECK(column(s, "products", "SKU") != NULL);
    CHECK(column(s, "products", "sku") == NULL);
    /* CREATE TABLE Reviews (ID …, Product_ID …): folded as PostgreSQL does. */
    CHECK(table(s, "reviews") != NULL);
    CHECK(table(s, "Reviews") == NULL);
    CHECK(column(s, "reviews", "product_id") != NULL);
    /* public. is the default schema: the same table. */
    CHECK(table(s, "public.customers") == table(s, "customers"));
    CHECK(table(s, "orders") == NULL);
    mr_sql_schema_free(s);
}

TEST(test_pg_corpus_keys_declared_and_inferred)
{
    struct mr_sql_schema *s;
    struct mr_err err = {0};
    CHECK_INT(parse_file(MR_SQL_POSTGRESQL, "pg_shop.sql", &s, NULL, &err), 0);
    CHECK_STR(joins_text(s), "customers.referred_by → customers.id\n"
                             "Employees.ManagerID → Employees.EmployeeID\n"
                             "reviews.product_id → products.product_id (inferred)\n"
                             "reviews.customer_id → customers.id (inferred)\n"
                             "sales.order_lines.order_id → sales.orders.id\n"
                             "sales.order_lines.product_id → products.product_id\n"
                             "sales.orders.customer_id → customers.id\n"
                             "sales.shipments(order_id, line_no) → "
                             "sales.order_lines(order_id, line_no)\n");
    mr_sql_schema_free(s);
}

TEST(test_pg_corpus_comments_become_descriptions)
{
    struct mr_sql_schema *s;
    struct mr_err err = {0};
    CHECK_INT(parse_file(MR_SQL_POSTGRESQL, "pg_shop.sql", &s, NULL, &err), 0);
    CHECK_STR(table(s, "customers")->description, "One row per customer account.");
    CHECK_STR(table(s, "sales.orders")->description, "One row per customer order.");
    CHECK(table(s, "products")->description == NULL);
    CHECK_STR(column(s, "customers", "referred_by")->description,
              "The customer who referred this one.");
    CHECK_STR(column(s, "sales.orders", "status")->description, "open, paid, shipped or cancelled");
    CHECK_STR(column(s, "products", "SKU")->description, "Stock keeping unit");
    CHECK(column(s, "customers", "email")->description == NULL);
    mr_sql_schema_free(s);

    /* COMMENT … IS NULL takes a description away again. */
    CHECK_INT(parse_str(MR_SQL_POSTGRESQL,
                        "CREATE TABLE t (a int); COMMENT ON TABLE t IS 'x'; "
                        "COMMENT ON TABLE t IS NULL;",
                        &s, NULL, &err),
              0);
    CHECK(s->tables[0].description == NULL);
    mr_sql_schema_free(s);
}

TEST(test_pg_syntax_error_has_line_and_column)
{
    struct mr_sql_schema *s = (void *)1;
    struct mr_err err = {0};
    struct mr_sql_diag diag;
    CHECK_INT(parse_file(MR_SQL_POSTGRESQL, "pg_syntax_error.sql", &s, &diag, &err),
              MR_EVALIDATION);
    CHECK(s == NULL);
    CHECK_INT(diag.kind, MR_SQL_DIAG_SYNTAX);
    /* Line 4 is "    customer_id integer REFERENCES customers (id),,": the second comma. */
    CHECK_INT(diag.line, 4);
    CHECK_INT(diag.column, 51);
    CHECK(strstr(err.msg, "syntax error") != NULL);
    CHECK(strstr(err.msg, "line 4, column 51") != NULL);

    /* Columns count characters, not bytes. */
    CHECK_INT(
        parse_str(MR_SQL_POSTGRESQL, "-- é\nCREATE TABLE ü (a int,, b int);", &s, &diag, &err),
        MR_EVALIDATION);
    CHECK_INT(diag.line, 2);
    CHECK_INT(diag.column, 23);
}

TEST(test_pg_key_to_a_table_not_in_the_import_is_named)
{
    struct mr_sql_schema *s = (void *)1;
    struct mr_err err = {0};
    struct mr_sql_diag diag;
    CHECK_INT(parse_file(MR_SQL_POSTGRESQL, "pg_unknown_fk.sql", &s, &diag, &err), MR_EVALIDATION);
    CHECK(s == NULL);
    CHECK_INT(diag.kind, MR_SQL_DIAG_UNKNOWN_TABLE);
    CHECK_STR(diag.name, "customers");
    CHECK(strstr(err.msg, "customers") != NULL);
    CHECK_INT(diag.line, 3);

    /* A referenced column that is not there, a key with no primary key to point at. */
    CHECK_INT(parse_str(MR_SQL_POSTGRESQL,
                        "CREATE TABLE c (id int PRIMARY KEY); "
                        "CREATE TABLE o (c_ref int REFERENCES c (nope));",
                        &s, &diag, &err),
              MR_EVALIDATION);
    CHECK_INT(diag.kind, MR_SQL_DIAG_UNKNOWN_COLUMN);
    CHECK_STR(diag.name, "c.nope");
    CHECK_INT(parse_str(MR_SQL_POSTGRESQL,
                        "CREATE TABLE c (id int); CREATE TABLE o (c_ref int REFERENCES c);", &s,
                        &diag, &err),
              MR_EVALIDATION);
    CHECK_INT(diag.kind, MR_SQL_DIAG_BAD_KEY);
    CHECK_INT(parse_str(MR_SQL_POSTGRESQL,
                        "CREATE TABLE c (a int, b int, PRIMARY KEY (a, b)); "
                        "CREATE TABLE o (x int REFERENCES c);",
                        &s, &diag, &err),
              MR_EVALIDATION);
    CHECK_INT(diag.kind, MR_SQL_DIAG_BAD_KEY);
    /* The key's own column must exist. */
    CHECK_INT(parse_str(MR_SQL_POSTGRESQL,
                        "CREATE TABLE c (id int PRIMARY KEY); CREATE TABLE o (x int, "
                        "FOREIGN KEY (y) REFERENCES c);",
                        &s, &diag, &err),
              MR_EVALIDATION);
    CHECK_INT(diag.kind, MR_SQL_DIAG_UNKNOWN_COLUMN);
    CHECK_STR(diag.name, "o.y");
}

TEST(test_pg_duplicates_and_unknown_targets_are_errors)
{
    struct mr_sql_schema *s;
    struct mr_err err = {0};
    struct mr_sql_diag diag;
    CHECK_INT(parse_str(MR_SQL_POSTGRESQL, "CREATE TABLE a (x int);\nCREATE TABLE A (y int);", &s,
                        &diag, &err),
              MR_EVALIDATION);
    CHECK_INT(diag.kind, MR_SQL_DIAG_DUPLICATE_TABLE);
    CHECK_STR(diag.name, "a");
    CHECK_INT(diag.line, 2);
    /* Quoted "A" is another table in PostgreSQL. */
    CHECK_INT(parse_str(MR_SQL_POSTGRESQL, "CREATE TABLE a (x int); CREATE TABLE \"A\" (y int);",
                        &s, &diag, &err),
              0);
    CHECK_INT(s->ntables, 2);
    mr_sql_schema_free(s);
    /* A schema makes another table. */
    CHECK_INT(parse_str(MR_SQL_POSTGRESQL, "CREATE TABLE a (x int); CREATE TABLE s.a (y int);", &s,
                        &diag, &err),
              0);
    mr_sql_schema_free(s);
    CHECK_INT(
        parse_str(MR_SQL_POSTGRESQL, "CREATE TABLE a (x int, y int, X text);", &s, &diag, &err),
        MR_EVALIDATION);
    CHECK_INT(diag.kind, MR_SQL_DIAG_DUPLICATE_COLUMN);
    CHECK_STR(diag.name, "a.x");
    CHECK_INT(
        parse_str(MR_SQL_POSTGRESQL, "ALTER TABLE nope ADD PRIMARY KEY (id);", &s, &diag, &err),
        MR_EVALIDATION);
    CHECK_INT(diag.kind, MR_SQL_DIAG_UNKNOWN_TABLE);
    CHECK_STR(diag.name, "nope");
    CHECK_INT(parse_str(MR_SQL_POSTGRESQL, "CREATE TABLE a (x int); COMMENT ON COLUMN a.y IS 'z';",
                        &s, &diag, &err),
              MR_EVALIDATION);
    CHECK_INT(diag.kind, MR_SQL_DIAG_UNKNOWN_COLUMN);
    CHECK_STR(diag.name, "a.y");
    CHECK_INT(parse_str(MR_SQL_POSTGRESQL, "COMMENT ON TABLE ghost IS 'z';", &s, &diag, &err),
              MR_EVALIDATION);
    CHECK_INT(diag.kind, MR_SQL_DIAG_UNKNOWN_TABLE);
    /* ALTER TABLE … ADD COLUMN adds a column; other ALTERs are ignored statements. */
    CHECK_INT(parse_str(MR_SQL_POSTGRESQL,
                        "CREATE TABLE a (x int); ALTER TABLE a ADD COLUMN y text NOT NULL; "
                        "ALTER TABLE a OWNER TO bob;",
                        &s, &diag, &err),
              0);
    CHECK_INT(s->tables[0].ncolumns, 2);
    CHECK(!s->tables[0].columns[1].nullable);
    CHECK_INT(s->ignored_statements, 1);
    mr_sql_schema_free(s);
    /* CREATE TABLE IF NOT EXISTS of a table already made is skipped, as PostgreSQL does. */
    CHECK_INT(parse_str(MR_SQL_POSTGRESQL,
                        "CREATE TABLE a (x int); CREATE TABLE IF NOT EXISTS a (y int);", &s, &diag,
                        &err),
              0);
    CHECK_STR(s->tables[0].columns[0].name, "x");
    CHECK_INT(s->ignored_statements, 1);
    mr_sql_schema_free(s);
}

TEST(test_sqlite_corpus)
{
    struct mr_sql_schema *s;
    struct mr_err err = {0};
    struct mr_sql_diag diag;
    int rc = parse_file(MR_SQL_SQLITE, "sqlite_shop.sql", &s, &diag, &err);
    if (rc)
        fprintf(stderr, "%s\n", err.msg);
    CHECK_INT(rc, 0);
    CHECK_INT(s->ntables, 5);
    /* PRAGMA, BEGIN, INSERT, CREATE INDEX, CREATE VIEW, COMMIT: never run, counted. */
    CHECK_INT(s->ignored_statements, 6);
    const char *order[] = {"customers", "Order Items", "orders", "returns", "tags"};
    for (size_t i = 0; i < 5; i++)
        CHECK_STR(s->tables[i].qualified, order[i]);
    CHECK_STR(column(s, "customers", "id")->type, "INTEGER");
    CHECK(column(s, "customers", "id")->primary_key);
    CHECK(!column(s, "customers", "email")->nullable);
    CHECK(column(s, "Order Items", "order_id")->primary_key);
    CHECK(column(s, "Order Items", "line_no")->primary_key);
    CHECK(column(s, "returns", "Reason") != NULL);
    /* SQLite compares names without case. */
    CHECK(column(s, "RETURNS", "reason") != NULL);
    CHECK(column(s, "orders", "note") != NULL); /* ALTER TABLE … ADD COLUMN */
    CHECK_STR(joins_text(s), "customers.referred_by → customers.id\n"
                             "Order Items.order_id → orders.id\n"
                             "orders.customer_id → customers.id\n"
                             "returns(order_id, line_no) → Order Items(order_id, line_no)\n"
                             "tags.customer_id → customers.id (inferred)\n");
    /* `--` comments are SQLite's descriptions. */
    CHECK_STR(table(s, "customers")->description, "Customer accounts.");
    CHECK_STR(table(s, "orders")->description, "One row per order.");
    CHECK_STR(column(s, "customers", "id")->description, "rowid alias");
    CHECK_STR(column(s, "customers", "referred_by")->description, "who referred them");
    CHECK(column(s, "customers", "email")->description == NULL);
    mr_sql_schema_free(s);
}

TEST(test_sqlite_errors_have_positions)
{
    struct mr_sql_schema *s = (void *)1;
    struct mr_err err = {0};
    struct mr_sql_diag diag;
    CHECK_INT(parse_file(MR_SQL_SQLITE, "sqlite_syntax_error.sql", &s, &diag, &err),
              MR_EVALIDATION);
    CHECK(s == NULL);
    CHECK_INT(diag.kind, MR_SQL_DIAG_SYNTAX);
    CHECK_INT(diag.line, 2);
    CHECK_INT(diag.column, 87); /* "id" after "REFERENCES customers " */
    CHECK(strstr(err.msg, "near \"id\"") != NULL);
    CHECK_STR(diag.name, "");
    /* err may be NULL: the code and the diag still say what went wrong. */
    CHECK_INT(parse_str(MR_SQL_SQLITE, "CREATE TABLE (", &s, &diag, NULL), MR_EVALIDATION);
    CHECK_INT(parse_str(MR_SQL_POSTGRESQL, "CREATE TABLE (", &s, &diag, NULL), MR_EVALIDATION);
    CHECK_INT(diag.kind, MR_SQL_DIAG_SYNTAX);
    CHECK_INT(parse_str(MR_SQL_SQLITE, "CREATE TABLE a (x);\nCREATE TABLE A (y);", &s, &diag, &err),
              MR_EVALIDATION);
    CHECK_INT(diag.kind, MR_SQL_DIAG_DUPLICATE_TABLE);
    CHECK_INT(diag.line, 2);
    CHECK_INT(parse_str(MR_SQL_SQLITE, "CREATE TABLE a (x, y, X);", &s, &diag, &err),
              MR_EVALIDATION);
    CHECK_INT(diag.kind, MR_SQL_DIAG_DUPLICATE_COLUMN);
    CHECK_INT(parse_str(MR_SQL_SQLITE, "CREATE TABLE o (c INTEGER REFERENCES ghost(id));", &s,
                        &diag, &err),
              MR_EVALIDATION);
    CHECK_INT(diag.kind, MR_SQL_DIAG_UNKNOWN_TABLE);
    CHECK_STR(diag.name, "ghost");
}

TEST(test_sqlite_authorizer_runs_schema_statements_only)
{
    char path[512], ddl[1400];
    test_path(path, sizeof path, "attached.db");
    /* ATTACH would create the file; denied, it never runs (and the CREATE in it fails). */
    snprintf(ddl, sizeof ddl,
             "ATTACH DATABASE '%s' AS evil;\nCREATE TABLE t (x);\n"
             "PRAGMA writable_schema = 1;\nINSERT INTO t VALUES (1);\n"
             "SELECT load_extension('x');\nCREATE TABLE u (y);",
             path);
    struct mr_sql_schema *s;
    struct mr_err err = {0};
    CHECK_INT(parse_str(MR_SQL_SQLITE, ddl, &s, NULL, &err), 0);
    CHECK(access(path, F_OK) != 0);
    CHECK_INT(s->ntables, 2);
    CHECK_INT(s->ignored_statements, 4);
    mr_sql_schema_free(s);
    snprintf(ddl, sizeof ddl, "ATTACH DATABASE '%s' AS evil; CREATE TABLE evil.t (x);", path);
    CHECK_INT(parse_str(MR_SQL_SQLITE, ddl, &s, NULL, &err), MR_EVALIDATION);
    CHECK(access(path, F_OK) != 0);
}

TEST(test_limits_have_their_own_errors)
{
    struct mr_sql_schema *s;
    struct mr_err err = {0};
    struct mr_sql_diag diag;
    /* DDL over 4 MiB: 413, before any parsing. */
    size_t big = MR_SQL_MAX_DDL_BYTES + 1;
    char *text = malloc(big);
    memset(text, ' ', big);
    CHECK_INT(mr_sql_parse_ddl(MR_SQL_POSTGRESQL, text, big, &s, &diag, &err), MR_ETOOLARGE);
    CHECK_INT(diag.kind, MR_SQL_DIAG_TOO_LARGE);
    CHECK_INT(mr_sql_parse_ddl(MR_SQL_SQLITE, text, big, &s, &diag, &err), MR_ETOOLARGE);
    free(text);

    /* 2 001 columns: 413 naming the table, in both dialects and in specs. */
    struct mr_strbuf_ {
        char *s;
        size_t n;
    } b = {malloc(64 * 2100), 0};
    b.n += (size_t)sprintf(b.s, "CREATE TABLE wide (");
    for (int i = 0; i <= MR_SQL_MAX_COLUMNS; i++)
        b.n += (size_t)sprintf(b.s + b.n, "%sc%d int", i ? ", " : "", i);
    b.n += (size_t)sprintf(b.s + b.n, ");");
    CHECK_INT(mr_sql_parse_ddl(MR_SQL_POSTGRESQL, b.s, b.n, &s, &diag, &err), MR_ETOOLARGE);
    CHECK_INT(diag.kind, MR_SQL_DIAG_TOO_MANY_COLUMNS);
    CHECK_STR(diag.name, "wide");
    CHECK_INT(mr_sql_parse_ddl(MR_SQL_SQLITE, b.s, b.n, &s, &diag, &err), MR_ETOOLARGE);
    CHECK_INT(diag.kind, MR_SQL_DIAG_TOO_MANY_COLUMNS);
    free(b.s);

    struct mr_sql_column_spec *cols = calloc(MR_SQL_MAX_COLUMNS + 1, sizeof *cols);
    char(*names)[16] = calloc(MR_SQL_MAX_COLUMNS + 1, 16);
    for (int i = 0; i <= MR_SQL_MAX_COLUMNS; i++) {
        snprintf(names[i], 16, "c%d", i);
        cols[i] = (struct mr_sql_column_spec){names[i], "int", NULL, false, -1};
    }
    struct mr_sql_table_spec t = {NULL, "wide", NULL, cols, MR_SQL_MAX_COLUMNS + 1, NULL, 0};
    CHECK_INT(mr_sql_schema_from_specs(MR_SQL_POSTGRESQL, &t, 1, &s, &diag, &err), MR_ETOOLARGE);
    CHECK_INT(diag.kind, MR_SQL_DIAG_TOO_MANY_COLUMNS);
    /* Exactly at the limit is fine. */
    t.ncolumns = MR_SQL_MAX_COLUMNS;
    CHECK_INT(mr_sql_schema_from_specs(MR_SQL_POSTGRESQL, &t, 1, &s, &diag, &err), 0);
    mr_sql_schema_free(s);

    /* 10 001 tables. */
    struct mr_sql_table_spec *ts = calloc(MR_SQL_MAX_TABLES + 1, sizeof *ts);
    char(*tn)[16] = calloc(MR_SQL_MAX_TABLES + 1, 16);
    for (int i = 0; i <= MR_SQL_MAX_TABLES; i++) {
        snprintf(tn[i], 16, "t%d", i);
        ts[i] = (struct mr_sql_table_spec){NULL, tn[i], NULL, cols, 1, NULL, 0};
    }
    CHECK_INT(
        mr_sql_schema_from_specs(MR_SQL_POSTGRESQL, ts, MR_SQL_MAX_TABLES + 1, &s, &diag, &err),
        MR_ETOOLARGE);
    CHECK_INT(diag.kind, MR_SQL_DIAG_TOO_MANY_TABLES);
    CHECK_INT(mr_sql_schema_from_specs(MR_SQL_POSTGRESQL, ts, MR_SQL_MAX_TABLES, &s, &diag, &err),
              0);
    CHECK_INT(s->ntables, MR_SQL_MAX_TABLES);
    mr_sql_schema_free(s);
    /* In DDL too: 10 001 tiny tables fit in 4 MiB. */
    char *ddl = malloc(40 * (MR_SQL_MAX_TABLES + 1));
    size_t n = 0;
    for (int i = 0; i <= MR_SQL_MAX_TABLES; i++)
        n += (size_t)sprintf(ddl + n, "CREATE TABLE t%d (c int);", i);
    CHECK_INT(mr_sql_parse_ddl(MR_SQL_POSTGRESQL, ddl, n, &s, &diag, &err), MR_ETOOLARGE);
    CHECK_INT(diag.kind, MR_SQL_DIAG_TOO_MANY_TABLES);
    free(ddl);
    free(ts);
    free(tn);
    free(cols);
    free(names);
}

TEST(test_bad_input_text_and_dialect)
{
    struct mr_sql_schema *s;
    struct mr_err err = {0};
    struct mr_sql_diag diag;
    enum mr_sql_dialect d;
    CHECK_INT(mr_sql_dialect_parse("postgresql", 10, &d, &diag, &err), 0);
    CHECK_INT(d, MR_SQL_POSTGRESQL);
    CHECK_INT(mr_sql_dialect_parse("sqlite", 6, &d, &diag, &err), 0);
    CHECK_INT(d, MR_SQL_SQLITE);
    CHECK_INT(mr_sql_dialect_parse("mysql", 5, &d, &diag, &err), MR_EVALIDATION);
    CHECK_INT(diag.kind, MR_SQL_DIAG_DIALECT);
    CHECK_INT(mr_sql_dialect_parse("sqlite3", 6, &d, &diag, &err), 0); /* length is the caller's */
    CHECK_INT(
        mr_sql_parse_ddl(MR_SQL_POSTGRESQL, "CREATE TABLE a (x int);\0 DROP", 29, &s, &diag, &err),
        MR_EVALIDATION);
    CHECK_INT(mr_sql_parse_ddl(MR_SQL_SQLITE, "CREATE TABLE \xff (x);", 19, &s, &diag, &err),
              MR_EVALIDATION);
    /* An empty DDL is an empty schema (DELETE is the way to remove one; PUT of nothing is allowed).
     */
    CHECK_INT(mr_sql_parse_ddl(MR_SQL_POSTGRESQL, "", 0, &s, &diag, &err), 0);
    CHECK_INT(s->ntables, 0);
    mr_sql_schema_free(s);
}

/*
 * A stored schema read back (the codec's job) is the same schema: same hash.
 * qualified: each table named as the GET form names it, "sales.orders" beside
 * its schema "sales".
 */
static int respec(const struct mr_sql_schema *src, bool qualified, struct mr_sql_schema **out)
{
    struct mr_sql_table_spec *ts = calloc(src->ntables + 1, sizeof *ts);
    struct mr_sql_column_spec **cs = calloc(src->ntables + 1, sizeof *cs);
    struct mr_sql_fkey_spec **fs = calloc(src->ntables + 1, sizeof *fs);
    const char ***names = calloc(src->njoins * 2 + 1, sizeof *names);
    size_t nn = 0;
    for (size_t t = 0; t < src->ntables; t++) {
        const struct mr_sql_table *tab = &src->tables[t];
        cs[t] = calloc(tab->ncolumns + 1, sizeof **cs);
        for (size_t c = 0; c < tab->ncolumns; c++)
            cs[t][c] = (struct mr_sql_column_spec){
                tab->columns[c].name, tab->columns[c].type, tab->columns[c].description,
                tab->columns[c].primary_key, tab->columns[c].nullable};
        fs[t] = calloc(tab->njoins + 1, sizeof **fs);
        for (size_t k = 0; k < tab->njoins; k++) {
            const struct mr_sql_join *j = &src->joins[tab->first_join + k];
            const char **from = names[nn++] = calloc(j->ncolumns, sizeof *from);
            const char **to = names[nn++] = calloc(j->ncolumns, sizeof *to);
            for (size_t i = 0; i < j->ncolumns; i++) {
                from[i] = tab->columns[j->from_columns[i]].name;
                to[i] = src->tables[j->to_table].columns[j->to_columns[i]].name;
            }
            fs[t][k] = (struct mr_sql_fkey_spec){
                from, j->ncolumns, src->tables[j->to_table].qualified, to, j->ncolumns, j->source};
        }
        ts[t] = (struct mr_sql_table_spec){tab->schema,      qualified ? tab->qualified : tab->name,
                                           tab->description, cs[t],
                                           tab->ncolumns,    fs[t],
                                           tab->njoins};
    }
    struct mr_err err = {0};
    int rc = mr_sql_schema_from_specs(src->dialect, ts, src->ntables, out, NULL, &err);
    if (rc)
        fprintf(stderr, "respec: %s\n", err.msg);
    for (size_t t = 0; t < src->ntables; t++) {
        free(cs[t]);
        free(fs[t]);
    }
    for (size_t i = 0; i < nn; i++)
        free(names[i]);
    free(names);
    free(ts);
    free(cs);
    free(fs);
    return rc;
}

TEST(test_specs_read_back_give_the_same_schema)
{
    const char *files[] = {"pg_shop.sql", "sqlite_shop.sql"};
    enum mr_sql_dialect ds[] = {MR_SQL_POSTGRESQL, MR_SQL_SQLITE};
    for (int f = 0; f < 4; f++) {
        struct mr_sql_schema *s, *back;
        struct mr_err err = {0};
        CHECK_INT(parse_file(ds[f % 2], files[f % 2], &s, NULL, &err), 0);
        CHECK_INT(respec(s, f >= 2, &back), 0);
        CHECK_STR(back->hash, s->hash);
        CHECK_INT(back->njoins, s->njoins);
        struct mr_sql_diff d;
        mr_sql_diff(s, back, &d);
        CHECK_INT(d.unchanged, s->ntables);
        CHECK_INT(d.joins_unchanged, s->njoins);
        mr_sql_diff_free(&d);
        mr_sql_schema_free(s);
        mr_sql_schema_free(back);
    }
}

TEST(test_specs_names_defaults_and_checks)
{
    struct mr_sql_column_spec oc[] = {{"id", "integer", NULL, true, -1},
                                      {"customer_id", "integer", "who ordered", false, -1},
                                      {"note", NULL, NULL, false, 0}};
    struct mr_sql_column_spec cc[] = {{"id", "integer", NULL, true, -1}};
    const char *from[] = {"customer_id"};
    struct mr_sql_fkey_spec fk = {from, 1, "crm.customers", NULL, 0, MR_SQL_JOIN_DECLARED};
    struct mr_sql_table_spec ts[] = {{NULL, "sales.orders", "orders", oc, 3, &fk, 1},
                                     {"crm", "customers", NULL, cc, 1, NULL, 0}};
    struct mr_sql_schema *s;
    struct mr_err err = {0};
    struct mr_sql_diag diag;
    CHECK_INT(mr_sql_schema_from_specs(MR_SQL_POSTGRESQL, ts, 2, &s, &diag, &err), 0);
    CHECK_STR(s->tables[1].qualified, "sales.orders");
    CHECK_STR(s->tables[1].schema, "sales");
    CHECK(!column(s, "sales.orders", "id")->nullable);
    CHECK(column(s, "sales.orders", "customer_id")->nullable);
    CHECK(!column(s, "sales.orders", "note")->nullable);
    CHECK_STR(column(s, "sales.orders", "note")->type, "");
    CHECK_STR(joins_text(s), "sales.orders.customer_id → crm.customers.id\n");
    mr_sql_schema_free(s);
    fk.ref_table = "customers"; /* not in the default schema */
    CHECK_INT(mr_sql_schema_from_specs(MR_SQL_POSTGRESQL, ts, 2, &s, &diag, &err), MR_EVALIDATION);
    CHECK_INT(diag.kind, MR_SQL_DIAG_UNKNOWN_TABLE);
    CHECK_STR(diag.name, "customers");
    CHECK_INT(diag.line, 0);
    ts[1].name = "";
    CHECK_INT(mr_sql_schema_from_specs(MR_SQL_POSTGRESQL, ts, 2, &s, &diag, &err), MR_EVALIDATION);
    CHECK_INT(diag.kind, MR_SQL_DIAG_BAD_NAME);
}

TEST(test_hash_ignores_statement_order_and_sees_every_change)
{
    const char *a = "CREATE TABLE c (id int PRIMARY KEY); CREATE TABLE o (id int, c_id int);"
                    "ALTER TABLE o ADD FOREIGN KEY (c_id) REFERENCES c; COMMENT ON TABLE c IS 'x';";
    const char *b = "CREATE TABLE o (id int, c_id int); CREATE TABLE c (id int PRIMARY KEY);"
                    "COMMENT ON TABLE c IS 'x'; ALTER TABLE o ADD FOREIGN KEY (c_id) REFERENCES c;";
    const char *changed[] = {
        "CREATE TABLE c (id bigint PRIMARY KEY); CREATE TABLE o (id int, c_id int);"
        "ALTER TABLE o ADD FOREIGN KEY (c_id) REFERENCES c; COMMENT ON TABLE c IS 'x';",
        "CREATE TABLE c (id int PRIMARY KEY); CREATE TABLE o (id int, c_id int);"
        "COMMENT ON TABLE c IS 'x';",
        "CREATE TABLE c (id int PRIMARY KEY); CREATE TABLE o (id int, c_id int NOT NULL);"
        "ALTER TABLE o ADD FOREIGN KEY (c_id) REFERENCES c; COMMENT ON TABLE c IS 'x';",
        "CREATE TABLE c (id int PRIMARY KEY); CREATE TABLE o (id int, c_id int);"
        "ALTER TABLE o ADD FOREIGN KEY (c_id) REFERENCES c; COMMENT ON TABLE c IS 'y';",
        "CREATE TABLE c (id int PRIMARY KEY); CREATE TABLE o (id int, c_id int);"
        "ALTER TABLE o ADD FOREIGN KEY (c_id) REFERENCES c; COMMENT ON COLUMN c.id IS 'x';",
    };
    struct mr_sql_schema *sa, *sb, *sc;
    struct mr_err err = {0};
    CHECK_INT(parse_str(MR_SQL_POSTGRESQL, a, &sa, NULL, &err), 0);
    CHECK_INT(parse_str(MR_SQL_POSTGRESQL, b, &sb, NULL, &err), 0);
    CHECK_STR(sa->hash, sb->hash);
    CHECK(strncmp(sa->hash, "sha256:", 7) == 0 && strlen(sa->hash) == 71);
    for (size_t i = 0; i < sizeof changed / sizeof changed[0]; i++) {
        CHECK_INT(parse_str(MR_SQL_POSTGRESQL, changed[i], &sc, NULL, &err), 0);
        if (strcmp(sa->hash, sc->hash) == 0)
            test_fail(__FILE__, __LINE__, "change %zu keeps the hash", i);
        mr_sql_schema_free(sc);
    }
    /* The same tables in SQLite are another schema. */
    CHECK_INT(parse_str(MR_SQL_SQLITE,
                        "CREATE TABLE c (id int PRIMARY KEY); CREATE TABLE o (id int, c_id int "
                        "REFERENCES c);",
                        &sc, NULL, &err),
              0);
    CHECK(strcmp(sa->hash, sc->hash) != 0);
    mr_sql_schema_free(sc);
    mr_sql_schema_free(sa);
    mr_sql_schema_free(sb);
}

TEST(test_diff_added_updated_removed_unchanged)
{
    const char *v1 = "CREATE TABLE customers (id int PRIMARY KEY, name text);"
                     "CREATE TABLE orders (id int PRIMARY KEY, customer_id int REFERENCES "
                     "customers);"
                     "CREATE TABLE legacy (x int); CREATE TABLE notes (body text);";
    const char *v2 = "CREATE TABLE notes (body text);"
                     "CREATE TABLE customers (id int PRIMARY KEY, name varchar(80));"
                     "CREATE TABLE orders (id int PRIMARY KEY, customer_id int REFERENCES "
                     "customers);"
                     "CREATE TABLE products (id int PRIMARY KEY);"
                     "CREATE TABLE order_items (order_id int, product_id int);";
    struct mr_sql_schema *a, *b;
    struct mr_err err = {0};
    CHECK_INT(parse_str(MR_SQL_POSTGRESQL, v1, &a, NULL, &err), 0);
    CHECK_INT(parse_str(MR_SQL_POSTGRESQL, v2, &b, NULL, &err), 0);
    struct mr_sql_diff d;
    mr_sql_diff(a, b, &d);
    CHECK_INT(d.added, 2);
    CHECK_INT(d.updated, 1);
    CHECK_INT(d.removed, 1);
    CHECK_INT(d.unchanged, 2);
    CHECK_INT(d.ntables, 6);
    const char *want[][2] = {{"customers", "u"},   {"legacy", "r"}, {"notes", "="},
                             {"order_items", "a"}, {"orders", "="}, {"products", "a"}};
    const char code[] = {'=', 'a', 'u', 'r'};
    for (size_t i = 0; i < 6; i++) {
        CHECK_STR(d.tables[i].name, want[i][0]);
        CHECK_INT(code[d.tables[i].change], want[i][1][0]);
    }
    CHECK_INT(d.tables[1].new_index, -1);
    CHECK_INT(d.tables[3].old_index, -1);
    /* orders→customers stays; order_items gains two inferred joins. */
    CHECK_INT(d.joins_unchanged, 1);
    CHECK_INT(d.joins_added, 2);
    CHECK_INT(d.joins_removed, 0);
    mr_sql_diff_free(&d);

    /* A first import: everything added. */
    mr_sql_diff(NULL, b, &d);
    CHECK_INT(d.added, b->ntables);
    CHECK_INT(d.joins_added, b->njoins);
    mr_sql_diff_free(&d);
    /* A re-import of the same: everything unchanged. */
    mr_sql_diff(b, b, &d);
    CHECK_INT(d.unchanged, b->ntables);
    CHECK_INT(d.added + d.updated + d.removed, 0);
    mr_sql_diff_free(&d);
    mr_sql_schema_free(a);
    mr_sql_schema_free(b);
}

TEST(test_diff_sees_a_join_declared_where_it_was_inferred)
{
    struct mr_sql_schema *a, *b;
    struct mr_err err = {0};
    CHECK_INT(parse_str(MR_SQL_POSTGRESQL,
                        "CREATE TABLE customers (id int PRIMARY KEY); CREATE TABLE orders "
                        "(customer_id int);",
                        &a, NULL, &err),
              0);
    CHECK_INT(parse_str(MR_SQL_POSTGRESQL,
                        "CREATE TABLE customers (id int PRIMARY KEY); CREATE TABLE orders "
                        "(customer_id int REFERENCES customers);",
                        &b, NULL, &err),
              0);
    struct mr_sql_diff d;
    mr_sql_diff(a, b, &d);
    CHECK_INT(d.joins_updated, 1);
    CHECK_STR(d.joins[0].key, "orders(customer_id)->customers(id)");
    CHECK_INT(d.updated, 1); /* orders' content says the join is no longer a guess */
    CHECK_INT(d.unchanged, 1);
    mr_sql_diff_free(&d);
    mr_sql_schema_free(a);
    mr_sql_schema_free(b);
}

TEST(test_inference_by_naming_convention)
{
    const char *ddl = "CREATE TABLE customers (id int PRIMARY KEY);"
                      "CREATE TABLE categories (category_id int PRIMARY KEY);"
                      "CREATE TABLE addresses (id int);"
                      "CREATE TABLE person (person_key int PRIMARY KEY);"
                      "CREATE TABLE pairs (a int, b int, PRIMARY KEY (a, b));"
                      "CREATE TABLE sales.regions (id int PRIMARY KEY);"
                      "CREATE TABLE things (id int PRIMARY KEY, customer_id int, category_id "
                      "int, address_id int, personid int, CustomerId int, pair_id int, "
                      "region_id int, ghost_id int, thing_id int, paid int);"
                      "CREATE TABLE sales.deals (region_id int, customer_id int REFERENCES "
                      "customers);";
    struct mr_sql_schema *s;
    struct mr_err err = {0};
    CHECK_INT(parse_str(MR_SQL_POSTGRESQL, ddl, &s, NULL, &err), 0);
    /* Plurals (s, ies, es), <table>id, CamelCase; not a composite key's table, not another
     * schema's, not a table that is not there, not the table itself by its own key. */
    CHECK_STR(joins_text(s), "sales.deals.region_id → sales.regions.id (inferred)\n"
                             "sales.deals.customer_id → customers.id\n"
                             "things.customer_id → customers.id (inferred)\n"
                             "things.category_id → categories.category_id (inferred)\n"
                             "things.address_id → addresses.id (inferred)\n"
                             "things.personid → person.person_key (inferred)\n"
                             "things.customerid → customers.id (inferred)\n");
    mr_sql_schema_free(s);
    /* A quoted CamelCase name in SQLite. */
    CHECK_INT(parse_str(MR_SQL_SQLITE,
                        "CREATE TABLE Customers (Id INTEGER PRIMARY KEY);"
                        "CREATE TABLE Orders (OrderId INTEGER PRIMARY KEY, CustomerId INTEGER);",
                        &s, NULL, &err),
              0);
    CHECK_STR(joins_text(s), "Orders.CustomerId → Customers.Id (inferred)\n");
    mr_sql_schema_free(s);
}

TEST(test_render_table_and_join)
{
    struct mr_sql_schema *s;
    struct mr_err err = {0};
    CHECK_INT(parse_file(MR_SQL_POSTGRESQL, "pg_shop.sql", &s, NULL, &err), 0);
    struct mr_sql_rendered r;
    mr_sql_render_table(s, (size_t)mr_sql_schema_find(s, "sales.orders"), &r);
    CHECK_STR(r.content, "Table sales.orders — One row per customer order. Columns: id integer "
                         "(primary key), customer_id integer → customers.id (not null), "
                         "placed_at timestamp (not null), status text (open, paid, shipped or "
                         "cancelled).");
    CHECK_INT(r.nrelated, 1);
    CHECK_STR(r.related[0], "sales.orders");
    CHECK(strncmp(r.metadata_json, "{\"kind\":\"table\",\"dialect\":\"postgresql\",", 39) == 0);
    CHECK(strstr(r.metadata_json, "\"name\":\"sales.orders\",\"schema\":\"sales\"") != NULL);
    CHECK(strstr(r.metadata_json, "{\"name\":\"id\",\"type\":\"integer\",\"description\":null,"
                                  "\"primary_key\":true,\"nullable\":false}") != NULL);
    CHECK(strstr(r.metadata_json,
                 "\"foreign_keys\":[{\"columns\":[\"customer_id\"],\"references\":{\"table\":"
                 "\"customers\",\"columns\":[\"id\"]},\"source\":\"declared\",\"inferred\":"
                 "false}]") != NULL);
    CHECK(strstr(r.metadata_json, mr_sql_table_hash(s, 5)) != NULL);
    mr_sql_rendered_free(&r);

    mr_sql_render_table(s, (size_t)mr_sql_schema_find(s, "reviews"), &r);
    CHECK(strstr(r.content, "product_id bigint → products.product_id?, ") != NULL);
    mr_sql_rendered_free(&r);

    long k = -1;
    for (size_t j = 0; j < s->njoins; j++)
        if (s->joins[j].ncolumns == 2)
            k = (long)j;
    CHECK(k >= 0);
    mr_sql_render_join(s, (size_t)k, &r);
    CHECK_STR(r.content, "sales.shipments(order_id, line_no) → sales.order_lines(order_id, "
                         "line_no)");
    CHECK_STR(r.metadata_json,
              "{\"kind\":\"join\",\"from\":\"sales.shipments(order_id, line_no)\",\"to\":"
              "\"sales.order_lines(order_id, line_no)\",\"from_table\":\"sales.shipments\","
              "\"from_columns\":[\"order_id\",\"line_no\"],\"to_table\":\"sales.order_lines\","
              "\"to_columns\":[\"order_id\",\"line_no\"],\"inferred\":false,\"source\":"
              "\"declared\",\"join_key\":\"sales.shipments(order_id,line_no)->"
              "sales.order_lines(order_id,line_no)\"}");
    CHECK_INT(r.nrelated, 2);
    mr_sql_rendered_free(&r);

    char *json = mr_sql_schema_to_json(s);
    CHECK(strncmp(json, "{\"dialect\":\"postgresql\",\"schema_hash\":\"sha256:", 46) == 0);
    CHECK(strstr(json, "\"relationships\":8,\"tables\":[{\"name\":\"customers\"") != NULL);
    CHECK(strstr(json, "\"description\":\"Stock keeping unit\"") != NULL);
    free(json);
    mr_sql_schema_free(s);
}

TEST(test_render_escapes_and_stays_within_a_memory)
{
    struct mr_sql_schema *s;
    struct mr_err err = {0};
    CHECK_INT(parse_str(MR_SQL_POSTGRESQL,
                        "CREATE TABLE \"q\"\"t\" (a int); COMMENT ON TABLE \"q\"\"t\" IS "
                        "E'line\\none \"quoted\" \\\\ tab\\t\\x01';",
                        &s, NULL, &err),
              0);
    struct mr_sql_rendered r;
    mr_sql_render_table(s, 0, &r);
    CHECK(strstr(r.metadata_json, "\"name\":\"q\\\"t\"") != NULL);
    CHECK(strstr(r.metadata_json,
                 "\"description\":\"line\\none \\\"quoted\\\" \\\\ tab\\t\\u0001\"") != NULL);
    mr_sql_rendered_free(&r);
    mr_sql_schema_free(s);

    /* 2 000 columns with long names: the content is cut, saying how many are left out. */
    char *ddl = malloc(2000 * 80);
    size_t n = (size_t)sprintf(ddl, "CREATE TABLE wide (");
    for (int i = 0; i < MR_SQL_MAX_COLUMNS; i++)
        n += (size_t)sprintf(ddl + n, "%sa_rather_long_column_name_number_%d integer NOT NULL",
                             i ? ", " : "", i);
    sprintf(ddl + n, ");");
    CHECK_INT(parse_str(MR_SQL_POSTGRESQL, ddl, &s, NULL, &err), 0);
    free(ddl);
    mr_sql_render_table(s, 0, &r);
    size_t chars = 0;
    for (const char *p = r.content; *p; p++)
        chars += ((unsigned char)*p & 0xC0) != 0x80;
    CHECK(chars <= MR_SQL_MAX_CONTENT);
    CHECK(chars > MR_SQL_MAX_CONTENT - 200);
    CHECK(strstr(r.content, " more columns.") != NULL);
    /* The metadata keeps every column. */
    CHECK(strstr(r.metadata_json, "a_rather_long_column_name_number_1999") != NULL);
    mr_sql_rendered_free(&r);
    mr_sql_schema_free(s);
}

TEST_MAIN(
    "sql", T(test_pg_corpus_tables_columns_and_types),
    T(test_pg_corpus_names_are_folded_unless_quoted), T(test_pg_corpus_keys_declared_and_inferred),
    T(test_pg_corpus_comments_become_descriptions), T(test_pg_syntax_error_has_line_and_column),
    T(test_pg_key_to_a_table_not_in_the_import_is_named),
    T(test_pg_duplicates_and_unknown_targets_are_errors), T(test_sqlite_corpus),
    T(test_sqlite_errors_have_positions), T(test_sqlite_authorizer_runs_schema_statements_only),
    T(test_limits_have_their_own_errors), T(test_bad_input_text_and_dialect),
    T(test_specs_read_back_give_the_same_schema), T(test_specs_names_defaults_and_checks),
    T(test_hash_ignores_statement_order_and_sees_every_change),
    T(test_diff_added_updated_removed_unchanged),
    T(test_diff_sees_a_join_declared_where_it_was_inferred), T(test_inference_by_naming_convention),
    T(test_render_table_and_join), T(test_render_escapes_and_stays_within_a_memory))
