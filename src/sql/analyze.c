/*
 * analyze.c — an example's SQL (DESIGN.md §9): the dialect's parser checks
 * it and names what it reads (pg.c, lite.c); here the findings are
 * deduplicated, sorted, the joins oriented like keys and matched against the
 * schema's, and written as the example's metadata.
 */
#include <stdlib.h>
#include <string.h>

#include "memori/util.h"
#include "sql_int.h"

char *sqlacc_keep(struct sqlacc *a, char *s)
{
    if (a->nkeep == a->kcap) {
        a->kcap = a->kcap ? a->kcap * 2 : 8;
        a->keep = mr_xrealloc(a->keep, a->kcap * sizeof *a->keep);
    }
    a->keep[a->nkeep++] = s;
    return s;
}

void sqlacc_table(struct sqlacc *a, const char *table)
{
    if (a->ntables == a->tcap) {
        a->tcap = a->tcap ? a->tcap * 2 : 8;
        a->tables = mr_xrealloc(a->tables, a->tcap * sizeof *a->tables);
    }
    a->tables[a->ntables++] = mr_xstrdup(table);
}

void sqlacc_column(struct sqlacc *a, const char *table, const char *column)
{
    if (a->ncols == a->ccap) {
        a->ccap = a->ccap ? a->ccap * 2 : 8;
        a->cols = mr_xrealloc(a->cols, a->ccap * sizeof *a->cols);
    }
    a->cols[a->ncols++] = (struct mr_sql_colref){mr_xstrdup(table), mr_xstrdup(column)};
}

void sqlacc_join(struct sqlacc *a, const char *t1, const char *c1, const char *t2, const char *c2)
{
    if (a->njoins == a->jcap) {
        a->jcap = a->jcap ? a->jcap * 2 : 8;
        a->joins = mr_xrealloc(a->joins, a->jcap * sizeof *a->joins);
    }
    a->joins[a->njoins++] = (struct mr_sql_equijoin){
        {mr_xstrdup(t1), mr_xstrdup(c1)}, {mr_xstrdup(t2), mr_xstrdup(c2)}, -1};
}

static void colref_free(struct mr_sql_colref *c)
{
    free(c->table);
    free(c->column);
}

void sqlacc_free(struct sqlacc *a)
{
    for (size_t i = 0; i < a->ntables; i++)
        free(a->tables[i]);
    for (size_t i = 0; i < a->ncols; i++)
        colref_free(&a->cols[i]);
    for (size_t i = 0; i < a->njoins; i++) {
        colref_free(&a->joins[i].from);
        colref_free(&a->joins[i].to);
    }
    for (size_t i = 0; i < a->nkeep; i++)
        free(a->keep[i]);
    free(a->tables);
    free(a->cols);
    free(a->joins);
    free(a->keep);
    memset(a, 0, sizeof *a);
}

static int str_cmp(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

static int colref_cmp(const struct mr_sql_colref *a, const struct mr_sql_colref *b)
{
    int c = strcmp(a->table, b->table);
    return c ? c : strcmp(a->column, b->column);
}

static int colref_qcmp(const void *x, const void *y)
{
    return colref_cmp(x, y);
}

static int join_qcmp(const void *x, const void *y)
{
    const struct mr_sql_equijoin *a = x, *b = y;
    int c = colref_cmp(&a->from, &b->from);
    return c ? c : colref_cmp(&a->to, &b->to);
}

static bool colref_is(const struct mr_sql_schema *s, const struct mr_sql_colref *r, size_t t,
                      size_t c)
{
    return sql_name_eq(s->dialect, r->table, s->tables[t].qualified) &&
           sql_name_eq(s->dialect, r->column, s->tables[t].columns[c].name);
}

/* The schema join (declared or inferred) with the column pair from → to, or -1. */
static long schema_join(const struct mr_sql_schema *s, const struct mr_sql_colref *from,
                        const struct mr_sql_colref *to)
{
    long ft = mr_sql_schema_find(s, from->table);
    if (ft < 0)
        return -1;
    const struct mr_sql_table *t = &s->tables[ft];
    /* Only the from table's own joins: they are contiguous (sqlb_finish sorts them). */
    for (size_t k = t->first_join; k < t->first_join + t->njoins; k++) {
        const struct mr_sql_join *j = &s->joins[k];
        for (size_t i = 0; i < j->ncolumns; i++)
            if (colref_is(s, from, j->from_table, j->from_columns[i]) &&
                colref_is(s, to, j->to_table, j->to_columns[i]))
                return (long)k;
    }
    return -1;
}

static bool is_sole_pk(const struct mr_sql_schema *s, const struct mr_sql_colref *r)
{
    long t = mr_sql_schema_find(s, r->table);
    if (t < 0)
        return false;
    const struct mr_sql_table *tab = &s->tables[t];
    size_t npk = 0;
    bool mine = false;
    for (size_t c = 0; c < tab->ncolumns; c++)
        if (tab->columns[c].primary_key) {
            npk++;
            mine = mine || sql_name_eq(s->dialect, tab->columns[c].name, r->column);
        }
    return npk == 1 && mine;
}

static void swap(struct mr_sql_equijoin *j)
{
    struct mr_sql_colref t = j->from;
    j->from = j->to;
    j->to = t;
}

/*
 * A join points like a key: as the schema's when it has one; else at a
 * primary key (orders.customer_id → customers.id); else in name order.
 */
static void orient(const struct mr_sql_schema *s, struct mr_sql_equijoin *j)
{
    if (s) {
        long k = schema_join(s, &j->from, &j->to);
        if (k < 0 && (k = schema_join(s, &j->to, &j->from)) >= 0)
            swap(j);
        j->schema_join = k;
        if (k >= 0)
            return;
        bool fp = is_sole_pk(s, &j->from), tp = is_sole_pk(s, &j->to);
        if (fp != tp) {
            if (fp)
                swap(j);
            return;
        }
    }
    if (colref_cmp(&j->from, &j->to) > 0)
        swap(j);
}

struct mr_sql_analysis *sqlacc_finish(struct sqlacc *acc, const char *fingerprint)
{
    struct mr_sql_analysis *a = mr_xcalloc(1, sizeof *a);
    a->dialect = acc->dialect;
    memcpy(a->fingerprint, fingerprint, 16);

    if (acc->ntables > 1)
        qsort(acc->tables, acc->ntables, sizeof *acc->tables, str_cmp);
    a->tables = mr_xcalloc(acc->ntables + 1, sizeof *a->tables);
    for (size_t i = 0; i < acc->ntables; i++) {
        if (a->ntables && strcmp(a->tables[a->ntables - 1], acc->tables[i]) == 0)
            free(acc->tables[i]);
        else
            a->tables[a->ntables++] = acc->tables[i];
    }
    acc->ntables = 0;

    if (acc->ncols > 1)
        qsort(acc->cols, acc->ncols, sizeof *acc->cols, colref_qcmp);
    a->columns = mr_xcalloc(acc->ncols + 1, sizeof *a->columns);
    for (size_t i = 0; i < acc->ncols; i++) {
        if (a->ncolumns && colref_cmp(&a->columns[a->ncolumns - 1], &acc->cols[i]) == 0)
            colref_free(&acc->cols[i]);
        else
            a->columns[a->ncolumns++] = acc->cols[i];
    }
    acc->ncols = 0;

    for (size_t i = 0; i < acc->njoins; i++)
        orient(acc->schema, &acc->joins[i]);
    if (acc->njoins > 1)
        qsort(acc->joins, acc->njoins, sizeof *acc->joins, join_qcmp);
    a->joins = mr_xcalloc(acc->njoins + 1, sizeof *a->joins);
    for (size_t i = 0; i < acc->njoins; i++) {
        if (a->njoins && join_qcmp(&a->joins[a->njoins - 1], &acc->joins[i]) == 0) {
            colref_free(&acc->joins[i].from);
            colref_free(&acc->joins[i].to);
        } else {
            a->joins[a->njoins++] = acc->joins[i];
        }
    }
    acc->njoins = 0;
    sqlacc_free(acc);
    return a;
}

int mr_sql_analyze(enum mr_sql_dialect dialect, const struct mr_sql_schema *schema, const char *sql,
                   size_t len, struct mr_sql_analysis **out_analysis, struct mr_sql_diag *diag,
                   struct mr_err *err)
{
    *out_analysis = NULL;
    if (diag)
        memset(diag, 0, sizeof *diag);
    if (dialect != MR_SQL_POSTGRESQL && dialect != MR_SQL_SQLITE)
        return sql_fail(diag, err, MR_EVALIDATION, MR_SQL_DIAG_DIALECT, "", 0, 0,
                        "unknown dialect");
    if (len > MR_SQL_MAX_EXAMPLE_BYTES)
        return sql_fail(diag, err, MR_ETOOLARGE, MR_SQL_DIAG_TOO_LARGE, "", 0, 0,
                        "SQL of %zu bytes is over the limit of %u bytes", len,
                        MR_SQL_MAX_EXAMPLE_BYTES);
    if (!len || memchr(sql, '\0', len) || !mr_utf8_valid(sql, len))
        return sql_fail(diag, err, MR_EVALIDATION, MR_SQL_DIAG_SYNTAX, "", 0, 0,
                        "SQL must be non-empty UTF-8 text without NUL bytes");
    char *text = mr_xstrndup(sql, len);
    char fp[17] = {0};
    struct sqlacc acc = {.dialect = dialect, .schema = schema};
    int rc;
    if (dialect == MR_SQL_POSTGRESQL) {
        rc = sql_pg_analyze(&acc, text, len, fp, diag, err);
    } else {
        /* SQLite decides what is valid and what is read; libpg_query's walk adds the joins. */
        rc = sql_lite_analyze(&acc, text, len, diag, err);
        if (rc == 0) {
            sql_lite_fingerprint(text, len, fp);
            char *pgtext = sql_lite_to_pg_quotes(text, len);
            struct mr_err ignored = {0};
            acc.lenient = true;
            /* SQLite-only syntax libpg_query rejects leaves joins unknown, not the example. */
            sql_pg_analyze(&acc, pgtext, strlen(pgtext), NULL, NULL, &ignored);
            free(pgtext);
        }
    }
    free(text);
    if (rc) {
        sqlacc_free(&acc);
        return rc;
    }
    *out_analysis = sqlacc_finish(&acc, fp);
    return 0;
}

void mr_sql_analysis_free(struct mr_sql_analysis *a)
{
    if (!a)
        return;
    for (size_t i = 0; i < a->ntables; i++)
        free(a->tables[i]);
    for (size_t i = 0; i < a->ncolumns; i++)
        colref_free(&a->columns[i]);
    for (size_t i = 0; i < a->njoins; i++) {
        colref_free(&a->joins[i].from);
        colref_free(&a->joins[i].to);
    }
    free(a->tables);
    free(a->columns);
    free(a->joins);
    free(a);
}

char *mr_sql_analysis_to_json(const struct mr_sql_analysis *a)
{
    struct mr_strbuf b = {0};
    mr_strbuf_puts(&b, "{\"dialect\":");
    sql_json_str(&b, mr_sql_dialect_name(a->dialect));
    mr_strbuf_puts(&b, ",\"fingerprint\":");
    sql_json_str(&b, a->fingerprint);
    mr_strbuf_puts(&b, ",\"tables\":[");
    for (size_t i = 0; i < a->ntables; i++) {
        if (i)
            mr_strbuf_puts(&b, ",");
        sql_json_str(&b, a->tables[i]);
    }
    mr_strbuf_puts(&b, "],\"columns\":[");
    struct mr_strbuf t = {0};
    for (size_t i = 0; i < a->ncolumns; i++) {
        t.len = 0;
        mr_strbuf_printf(&t, "%s.%s", a->columns[i].table, a->columns[i].column);
        if (i)
            mr_strbuf_puts(&b, ",");
        sql_json_str(&b, t.s);
    }
    mr_strbuf_puts(&b, "],\"joins\":[");
    for (size_t i = 0; i < a->njoins; i++) {
        const struct mr_sql_equijoin *j = &a->joins[i];
        mr_strbuf_puts(&b, i ? ",{\"from\":" : "{\"from\":");
        t.len = 0;
        mr_strbuf_printf(&t, "%s.%s", j->from.table, j->from.column);
        sql_json_str(&b, t.s);
        mr_strbuf_puts(&b, ",\"to\":");
        t.len = 0;
        mr_strbuf_printf(&t, "%s.%s", j->to.table, j->to.column);
        sql_json_str(&b, t.s);
        mr_strbuf_printf(&b, ",\"in_schema\":%s}", j->schema_join >= 0 ? "true" : "false");
    }
    mr_strbuf_puts(&b, "]}");
    free(t.s);
    return mr_strbuf_take(&b);
}
