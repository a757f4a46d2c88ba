/*
 * introspect.c — a live database's catalogue as a schema (DESIGN.md §9,
 * `memori schema import --from`): the same builder, checks and inference
 * as DDL and JSON, fed from what the database itself says.
 *
 * PostgreSQL: three catalogue queries (tables, columns, foreign keys) that
 * the store runs in one read-only snapshot (mr_store_pg_read: libpq stays
 * behind the store's header) and whose rows come back here one at a time
 * (mr_sql_catalog_row). SQLite: lite.c reads the file's sqlite_schema and
 * pragmas as it reads a scratch database's.
 */
#include <stdlib.h>
#include <string.h>

#include "memori/util.h"
#include "sql_int.h"

/*
 * The user's tables: ordinary and partitioned ones (not their partitions),
 * in every schema but the system's (pg_*, information_schema), not those an
 * extension owns (PostGIS' spatial_ref_sys and the like).
 */
#define USER_TABLE(c, n)                                                                           \
    c ".relkind IN ('r', 'p') AND NOT " c ".relispartition AND " n ".nspname !~ '^pg_' AND " n     \
      ".nspname <> 'information_schema' AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE "          \
      "d.classid "                                                                                 \
      "= 'pg_class'::regclass AND d.objid = " c ".oid AND d.deptype = 'e')"

const char *const mr_sql_pg_catalog[MR_SQL_PG_CATALOG_QUERIES] = {
    /* 0: schema, table, its comment */
    "SELECT n.nspname, c.relname, obj_description(c.oid, 'pg_class') "
    "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE " USER_TABLE(
        "c", "n") " ORDER BY 1, 2",
    /* 1: schema, table, column, type as PostgreSQL spells it, NOT NULL, in the primary key, comment
     */
    "SELECT n.nspname, c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, "
    "  EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary "
    "          AND a.attnum = ANY (i.indkey)), "
    "  col_description(c.oid, a.attnum) "
    "FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
    "JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE a.attnum > 0 AND NOT a.attisdropped AND " USER_TABLE("c",
                                                                "n") " ORDER BY 1, 2, a.attnum",
    /*
     * 2: one row per column pair of each foreign key, in key order: schema, table,
     * constraint, referenced schema and table, column, referenced column. Keys a
     * partitioned table's partitions inherit (conparentid) are their parent's.
     */
    "SELECT n.nspname, c.relname, k.conname, rn.nspname, rc.relname, a.attname, ra.attname "
    "FROM pg_constraint k "
    "JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
    "JOIN pg_class rc ON rc.oid = k.confrelid JOIN pg_namespace rn ON rn.oid = rc.relnamespace "
    "CROSS JOIN LATERAL unnest(k.conkey, k.confkey) WITH ORDINALITY AS u(attnum, refnum, ord) "
    "JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.attnum "
    "JOIN pg_attribute ra ON ra.attrelid = k.confrelid AND ra.attnum = u.refnum "
    "WHERE k.contype = 'f' AND k.conparentid = 0 AND " USER_TABLE("c", "n") " AND " USER_TABLE(
        "rc", "rn") " ORDER BY 1, 2, 3, u.ord",
};

/* A foreign key being collected, one column pair per row. */
struct pending {
    char *schema, *table, *name, *ref_schema, *ref_table;
    char **from, **to;
    size_t n, cap;
};

struct mr_sql_catalog {
    struct sqlb b;
    struct pending fk;
    struct mr_sql_diag diag;
};

struct mr_sql_catalog *mr_sql_catalog_new(void)
{
    struct mr_sql_catalog *c = mr_xcalloc(1, sizeof *c);
    sqlb_init(&c->b, MR_SQL_POSTGRESQL, NULL, 0);
    return c;
}

static void pending_clear(struct pending *p)
{
    for (size_t i = 0; i < p->n; i++) {
        free(p->from[i]);
        free(p->to[i]);
    }
    free(p->from);
    free(p->to);
    free(p->schema);
    free(p->table);
    free(p->name);
    free(p->ref_schema);
    free(p->ref_table);
    memset(p, 0, sizeof *p);
}

void mr_sql_catalog_free(struct mr_sql_catalog *c)
{
    if (!c)
        return;
    pending_clear(&c->fk);
    sqlb_free(&c->b);
    free(c);
}

static bool same(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

/* The collected key into the builder (its table and columns exist: query 1 ran). */
static int flush_key(struct mr_sql_catalog *c, struct mr_err *err)
{
    struct pending *p = &c->fk;
    int rc = 0;
    if (p->n) {
        long t = sqlb_find_table(&c->b, p->schema, p->table);
        if (t < 0)
            rc = mr_err_set(err, MR_EINTERNAL,
                            "foreign key %s of a table the catalogue did not list", p->name);
        else
            rc = sqlb_add_fkey(&c->b, (size_t)t, (const char *const *)p->from, p->n, p->ref_schema,
                               p->ref_table, (const char *const *)p->to, p->n, MR_SQL_JOIN_DECLARED,
                               -1, &c->diag, err);
    }
    pending_clear(p);
    return rc;
}

static int key_row(struct mr_sql_catalog *c, const char *const *v, struct mr_err *err)
{
    struct pending *p = &c->fk;
    int rc = 0;
    if (p->n && !(same(p->schema, v[0]) && same(p->table, v[1]) && same(p->name, v[2])))
        rc = flush_key(c, err);
    if (rc)
        return rc;
    if (!p->n) {
        p->schema = mr_xstrdup(v[0]);
        p->table = mr_xstrdup(v[1]);
        p->name = mr_xstrdup(v[2]);
        p->ref_schema = mr_xstrdup(v[3]);
        p->ref_table = mr_xstrdup(v[4]);
    }
    if (p->n == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 4;
        p->from = mr_xrealloc(p->from, p->cap * sizeof *p->from);
        p->to = mr_xrealloc(p->to, p->cap * sizeof *p->to);
    }
    p->from[p->n] = mr_xstrdup(v[5]);
    p->to[p->n] = mr_xstrdup(v[6]);
    p->n++;
    return 0;
}

int mr_sql_catalog_row(void *catalog, size_t query, size_t ncolumns, const char *const *v,
                       struct mr_err *err)
{
    static const size_t want[MR_SQL_PG_CATALOG_QUERIES] = {3, 7, 7};
    struct mr_sql_catalog *c = catalog;
    if (query >= MR_SQL_PG_CATALOG_QUERIES || ncolumns != want[query])
        return mr_err_set(err, MR_EINTERNAL, "catalogue query %zu answered %zu columns", query,
                          ncolumns);
    /* Names are never NULL in the catalogue; a NULL would be a query of ours gone wrong. */
    for (size_t i = 0; i < (query == 0 ? 2 : ncolumns); i++)
        if (!v[i] && !(query == 1 && (i == 3 || i == 6)))
            return mr_err_set(err, MR_EINTERNAL, "catalogue query %zu gave a NULL name", query);
    size_t t;
    switch (query) {
    case 0:
        return sqlb_add_table(&c->b, v[0], v[1], v[2], -1, &t, &c->diag, err);
    case 1: {
        long found = sqlb_find_table(&c->b, v[0], v[1]);
        if (found < 0)
            return mr_err_set(err, MR_EINTERNAL, "column %s of a table the catalogue did not list",
                              v[2]);
        return sqlb_add_column(&c->b, (size_t)found, v[2], v[3] ? v[3] : "", v[6], same(v[5], "t"),
                               !same(v[4], "t"), -1, &c->diag, err);
    }
    default:
        return key_row(c, v, err);
    }
}

int mr_sql_catalog_finish(struct mr_sql_catalog *c, struct mr_sql_schema **out_schema,
                          struct mr_sql_diag *diag, struct mr_err *err)
{
    *out_schema = NULL;
    int rc = flush_key(c, err);
    if (rc == 0)
        rc = sqlb_finish(&c->b, out_schema, &c->diag, err);
    if (diag)
        *diag = c->diag;
    mr_sql_catalog_free(c);
    return rc;
}

int mr_sql_introspect_sqlite(const char *path, struct mr_sql_schema **out_schema,
                             struct mr_sql_diag *diag, struct mr_err *err)
{
    *out_schema = NULL;
    if (diag)
        memset(diag, 0, sizeof *diag);
    struct sqlb b;
    sqlb_init(&b, MR_SQL_SQLITE, NULL, 0);
    int rc = sql_lite_introspect(&b, path, diag, err);
    if (rc == 0)
        rc = sqlb_finish(&b, out_schema, diag, err);
    sqlb_free(&b);
    return rc;
}
