/*
 * schema.c — the schema builder behind every source (DDL of both dialects,
 * the JSON body's tables), the checks DESIGN.md §9 asks for (limits,
 * duplicates, keys to tables and columns that exist), joins inferred from
 * names, the hashes and the diff of a re-import.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "memori/util.h"
#include "sql_int.h"

/* Longer names are a client's mistake, not a schema (PostgreSQL stops at 63 bytes). */
#define MAX_NAME 255

static char *dup_or_null(const char *s)
{
    return s ? mr_xstrdup(s) : NULL;
}

static char *qualify(enum mr_sql_dialect d, const char *schema, const char *name)
{
    if (sql_default_schema(d, schema))
        return mr_xstrdup(name);
    struct mr_strbuf b = {0};
    mr_strbuf_printf(&b, "%s.%s", schema, name);
    return mr_strbuf_take(&b);
}

/* ---- builder ---------------------------------------------------------------- */

void sqlb_init(struct sqlb *b, enum mr_sql_dialect d, const char *text, size_t text_len)
{
    memset(b, 0, sizeof *b);
    b->dialect = d;
    b->text = text;
    b->text_len = text_len;
}

static void free_columns(struct mr_sql_column *c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(c[i].name);
        free(c[i].type);
        free(c[i].description);
    }
    free(c);
}

static void free_strv(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

void sqlb_free(struct sqlb *b)
{
    for (size_t i = 0; i < b->ntables; i++) {
        struct sqlb_table *t = &b->tables[i];
        free(t->schema);
        free(t->name);
        free(t->description);
        free_columns(t->columns, t->ncolumns);
        sqlmap_free(&t->colmap);
    }
    free(b->tables);
    sqlmap_free(&b->tabmap);
    for (size_t i = 0; i < b->nfkeys; i++) {
        struct sqlb_fkey *f = &b->fkeys[i];
        free_strv(f->columns, f->ncolumns);
        free_strv(f->ref_columns, f->nref);
        free(f->ref_schema);
        free(f->ref_name);
    }
    free(b->fkeys);
    memset(b, 0, sizeof *b);
}

int sqlb_fail(struct sqlb *b, long loc, struct mr_sql_diag *diag, struct mr_err *err, int code,
              enum mr_sql_diag_kind kind, const char *name, const char *fmt, ...)
{
    char msg[sizeof err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int line = 0, col = 0;
    if (b->text && loc >= 0)
        sql_position(b->text, b->text_len, (size_t)loc, &line, &col);
    return sql_fail(diag, err, code, kind, name, line, col, "%s", msg);
}

struct tabkey {
    const struct sqlb *b;
    const char *schema, *name;
};

static bool tab_eq(const void *ctx, size_t v)
{
    const struct tabkey *k = ctx;
    const struct sqlb_table *t = &k->b->tables[v];
    enum mr_sql_dialect d = k->b->dialect;
    bool ds = sql_default_schema(d, k->schema), ts = sql_default_schema(d, t->schema);
    if (ds != ts || (!ds && !sql_name_eq(d, k->schema, t->schema)))
        return false;
    return sql_name_eq(d, k->name, t->name);
}

static uint64_t tab_hash(enum mr_sql_dialect d, const char *schema, const char *name)
{
    uint64_t h = sql_name_hash(d, name);
    if (!sql_default_schema(d, schema))
        h ^= sql_name_hash(d, schema) * UINT64_C(0x9E3779B97F4A7C15);
    return h;
}

long sqlb_find_table(const struct sqlb *b, const char *schema, const char *name)
{
    struct tabkey k = {b, schema, name};
    size_t slot = sqlmap_slot(&b->tabmap, tab_hash(b->dialect, schema, name), tab_eq, &k);
    return sqlmap_found(&b->tabmap, slot) ? (long)sqlmap_get(&b->tabmap, slot) : -1;
}

struct colkey {
    const struct sqlb *b;
    const struct sqlb_table *t;
    const char *name;
};

static bool col_eq(const void *ctx, size_t v)
{
    const struct colkey *k = ctx;
    return sql_name_eq(k->b->dialect, k->t->columns[v].name, k->name);
}

long sqlb_find_column(const struct sqlb *b, size_t t, const char *name)
{
    const struct sqlb_table *tab = &b->tables[t];
    struct colkey k = {b, tab, name};
    size_t slot = sqlmap_slot(&tab->colmap, sql_name_hash(b->dialect, name), col_eq, &k);
    return sqlmap_found(&tab->colmap, slot) ? (long)sqlmap_get(&tab->colmap, slot) : -1;
}

static int check_name(struct sqlb *b, const char *what, const char *name, long loc,
                      struct mr_sql_diag *diag, struct mr_err *err)
{
    if (!name || !*name)
        return sqlb_fail(b, loc, diag, err, MR_EVALIDATION, MR_SQL_DIAG_BAD_NAME, "",
                         "a %s needs a name", what);
    if (strlen(name) > MAX_NAME)
        return sqlb_fail(b, loc, diag, err, MR_EVALIDATION, MR_SQL_DIAG_BAD_NAME, "",
                         "%s name longer than %d bytes", what, MAX_NAME);
    return 0;
}

int sqlb_add_table(struct sqlb *b, const char *schema, const char *name, const char *description,
                   long loc, size_t *out_t, struct mr_sql_diag *diag, struct mr_err *err)
{
    int rc = check_name(b, "table", name, loc, diag, err);
    if (rc)
        return rc;
    if (schema && *schema && (rc = check_name(b, "schema", schema, loc, diag, err)))
        return rc;
    char *q = qualify(b->dialect, schema, name);
    if (b->ntables >= MR_SQL_MAX_TABLES) {
        rc = sqlb_fail(b, loc, diag, err, MR_ETOOLARGE, MR_SQL_DIAG_TOO_MANY_TABLES, q,
                       "more than %d tables (at table %s)", MR_SQL_MAX_TABLES, q);
        goto out;
    }
    struct tabkey k = {b, schema, name};
    uint64_t h = tab_hash(b->dialect, schema, name);
    size_t slot = sqlmap_slot(&b->tabmap, h, tab_eq, &k);
    if (sqlmap_found(&b->tabmap, slot)) {
        rc = sqlb_fail(b, loc, diag, err, MR_EVALIDATION, MR_SQL_DIAG_DUPLICATE_TABLE, q,
                       "table %s is defined twice", q);
        goto out;
    }
    if (b->ntables == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 16;
        b->tables = mr_xrealloc(b->tables, b->cap * sizeof *b->tables);
    }
    struct sqlb_table *t = &b->tables[b->ntables];
    memset(t, 0, sizeof *t);
    t->schema = sql_default_schema(b->dialect, schema) ? NULL : mr_xstrdup(schema);
    t->name = mr_xstrdup(name);
    t->description = dup_or_null(description);
    t->loc = loc < 0 ? 0 : (size_t)loc;
    sqlmap_put(&b->tabmap, slot, h, b->ntables);
    *out_t = b->ntables++;
out:
    free(q);
    return rc;
}

static char *table_label(const struct sqlb *b, size_t t)
{
    return qualify(b->dialect, b->tables[t].schema, b->tables[t].name);
}

int sqlb_add_column(struct sqlb *b, size_t t, const char *name, const char *type,
                    const char *description, bool primary_key, bool nullable, long loc,
                    struct mr_sql_diag *diag, struct mr_err *err)
{
    struct sqlb_table *tab = &b->tables[t];
    int rc = check_name(b, "column", name, loc, diag, err);
    if (rc)
        return rc;
    char *label = NULL;
    if (tab->ncolumns >= MR_SQL_MAX_COLUMNS) {
        label = table_label(b, t);
        rc = sqlb_fail(b, loc, diag, err, MR_ETOOLARGE, MR_SQL_DIAG_TOO_MANY_COLUMNS, label,
                       "table %s has more than %d columns", label, MR_SQL_MAX_COLUMNS);
        goto out;
    }
    struct colkey k = {b, tab, name};
    uint64_t h = sql_name_hash(b->dialect, name);
    size_t slot = sqlmap_slot(&tab->colmap, h, col_eq, &k);
    if (sqlmap_found(&tab->colmap, slot)) {
        label = table_label(b, t);
        char full[MAX_NAME * 2 + 2];
        snprintf(full, sizeof full, "%s.%s", label, name);
        rc = sqlb_fail(b, loc, diag, err, MR_EVALIDATION, MR_SQL_DIAG_DUPLICATE_COLUMN, full,
                       "column %s is defined twice", full);
        goto out;
    }
    if (tab->ncolumns == tab->cap) {
        tab->cap = tab->cap ? tab->cap * 2 : 8;
        tab->columns = mr_xrealloc(tab->columns, tab->cap * sizeof *tab->columns);
    }
    struct mr_sql_column *c = &tab->columns[tab->ncolumns];
    c->name = mr_xstrdup(name);
    c->type = mr_xstrdup(type ? type : "");
    c->description = dup_or_null(description);
    c->primary_key = primary_key;
    c->nullable = primary_key ? false : nullable;
    sqlmap_put(&tab->colmap, slot, h, tab->ncolumns++);
out:
    free(label);
    return rc;
}

static int unknown_column(struct sqlb *b, size_t t, const char *col, long loc,
                          struct mr_sql_diag *diag, struct mr_err *err)
{
    char *label = table_label(b, t);
    char full[MAX_NAME * 2 + 2];
    snprintf(full, sizeof full, "%s.%s", label, col);
    int rc = sqlb_fail(b, loc, diag, err, MR_EVALIDATION, MR_SQL_DIAG_UNKNOWN_COLUMN, full,
                       "table %s has no column %s", label, col);
    free(label);
    return rc;
}

int sqlb_set_primary_key(struct sqlb *b, size_t t, const char *const *columns, size_t n, long loc,
                         struct mr_sql_diag *diag, struct mr_err *err)
{
    for (size_t i = 0; i < n; i++) {
        long c = sqlb_find_column(b, t, columns[i]);
        if (c < 0)
            return unknown_column(b, t, columns[i], loc, diag, err);
        b->tables[t].columns[c].primary_key = true;
        b->tables[t].columns[c].nullable = false;
    }
    return 0;
}

static char **strv_dup(const char *const *v, size_t n)
{
    if (!n)
        return NULL;
    char **out = mr_xcalloc(n, sizeof *out);
    for (size_t i = 0; i < n; i++)
        out[i] = mr_xstrdup(v[i]);
    return out;
}

int sqlb_add_fkey(struct sqlb *b, size_t t, const char *const *columns, size_t n,
                  const char *ref_schema, const char *ref_name, const char *const *ref_columns,
                  size_t nref, enum mr_sql_join_source source, long loc, struct mr_sql_diag *diag,
                  struct mr_err *err)
{
    if (!n)
        return sqlb_fail(b, loc, diag, err, MR_EVALIDATION, MR_SQL_DIAG_BAD_KEY, "",
                         "a foreign key needs columns");
    for (size_t i = 0; i < n; i++) {
        if (!columns[i] || sqlb_find_column(b, t, columns[i]) < 0)
            return unknown_column(b, t, columns[i] ? columns[i] : "", loc, diag, err);
    }
    int rc = check_name(b, "referenced table", ref_name, loc, diag, err);
    if (rc)
        return rc;
    for (size_t i = 0; i < nref; i++)
        if ((rc = check_name(b, "referenced column", ref_columns[i], loc, diag, err)))
            return rc;
    if (b->nfkeys == b->fcap) {
        b->fcap = b->fcap ? b->fcap * 2 : 16;
        b->fkeys = mr_xrealloc(b->fkeys, b->fcap * sizeof *b->fkeys);
    }
    struct sqlb_fkey *f = &b->fkeys[b->nfkeys++];
    f->table = t;
    f->columns = strv_dup(columns, n);
    f->ncolumns = n;
    f->ref_schema = ref_schema && *ref_schema ? mr_xstrdup(ref_schema) : NULL;
    f->ref_name = mr_xstrdup(ref_name);
    f->ref_columns = strv_dup(ref_columns, nref);
    f->nref = nref;
    f->source = source;
    f->loc = loc;
    return 0;
}

int sqlb_table_for(struct sqlb *b, const char *schema, const char *name, long loc, size_t *out_t,
                   struct mr_sql_diag *diag, struct mr_err *err)
{
    long t = name ? sqlb_find_table(b, schema, name) : -1;
    if (t >= 0) {
        *out_t = (size_t)t;
        return 0;
    }
    char *q = qualify(b->dialect, schema, name ? name : "");
    int rc = sqlb_fail(b, loc, diag, err, MR_EVALIDATION, MR_SQL_DIAG_UNKNOWN_TABLE, q,
                       "table %s is not defined before this statement", q);
    free(q);
    return rc;
}

/* ---- finishing: keys, inference, order, hashes ---------------------------- */

/*
 * The order of tables, the same in both dialects so that it needs no state
 * (qsort has no context argument): ASCII case-insensitive, then exact.
 */
static int cmp_names(const char *a, const char *b)
{
    int c = strcasecmp(a, b);
    return c ? c : strcmp(a, b);
}

struct order {
    size_t old;
    char *qualified;
};

static int order_cmp(const void *x, const void *y)
{
    const struct order *a = x, *b = y;
    return cmp_names(a->qualified, b->qualified);
}

static int join_cmp(const void *x, const void *y)
{
    const struct mr_sql_join *a = x, *b = y;
    if (a->from_table != b->from_table)
        return a->from_table < b->from_table ? -1 : 1;
    for (size_t i = 0; i < a->ncolumns && i < b->ncolumns; i++)
        if (a->from_columns[i] != b->from_columns[i])
            return a->from_columns[i] < b->from_columns[i] ? -1 : 1;
    if (a->ncolumns != b->ncolumns)
        return a->ncolumns < b->ncolumns ? -1 : 1;
    if (a->to_table != b->to_table)
        return a->to_table < b->to_table ? -1 : 1;
    for (size_t i = 0; i < a->ncolumns; i++)
        if (a->to_columns[i] != b->to_columns[i])
            return a->to_columns[i] < b->to_columns[i] ? -1 : 1;
    return 0;
}

struct joins {
    struct mr_sql_join *v;
    size_t n, cap;
};

static struct mr_sql_join *join_push(struct joins *j)
{
    if (j->n == j->cap) {
        j->cap = j->cap ? j->cap * 2 : 16;
        j->v = mr_xrealloc(j->v, j->cap * sizeof *j->v);
    }
    struct mr_sql_join *x = &j->v[j->n++];
    memset(x, 0, sizeof *x);
    return x;
}

static void join_free(struct mr_sql_join *j)
{
    free(j->from_columns);
    free(j->to_columns);
}

/* Resolves key f of the builder (table indices of the builder) into out. */
static int resolve_fkey(struct sqlb *b, const struct sqlb_fkey *f, struct mr_sql_join *out,
                        struct mr_sql_diag *diag, struct mr_err *err)
{
    long to = sqlb_find_table(b, f->ref_schema, f->ref_name);
    if (to < 0) {
        char *q = qualify(b->dialect, f->ref_schema, f->ref_name);
        char *from = table_label(b, f->table);
        int rc = sqlb_fail(b, f->loc, diag, err, MR_EVALIDATION, MR_SQL_DIAG_UNKNOWN_TABLE, q,
                           "foreign key of %s(%s) references table %s, which is not in the import",
                           from, f->columns[0], q);
        free(q);
        free(from);
        return rc;
    }
    const struct sqlb_table *rt = &b->tables[to];
    out->from_table = f->table;
    out->to_table = (size_t)to;
    out->ncolumns = f->ncolumns;
    out->source = f->source;
    out->from_columns = mr_xcalloc(f->ncolumns, sizeof(size_t));
    out->to_columns = mr_xcalloc(f->ncolumns, sizeof(size_t));
    for (size_t i = 0; i < f->ncolumns; i++)
        out->from_columns[i] = (size_t)sqlb_find_column(b, f->table, f->columns[i]);
    size_t n = 0;
    if (f->nref) {
        for (size_t i = 0; i < f->nref; i++) {
            long c = sqlb_find_column(b, (size_t)to, f->ref_columns[i]);
            if (c < 0)
                return unknown_column(b, (size_t)to, f->ref_columns[i], f->loc, diag, err);
            if (i < f->ncolumns)
                out->to_columns[i] = (size_t)c;
        }
        n = f->nref;
    } else {
        /* REFERENCES t without columns: t's primary key, in column order (as PostgreSQL). */
        for (size_t c = 0; c < rt->ncolumns; c++)
            if (rt->columns[c].primary_key) {
                if (n < f->ncolumns)
                    out->to_columns[n] = c;
                n++;
            }
        if (!n) {
            char *q = table_label(b, (size_t)to);
            int rc = sqlb_fail(b, f->loc, diag, err, MR_EVALIDATION, MR_SQL_DIAG_BAD_KEY, q,
                               "foreign key references %s without columns, and %s has no "
                               "primary key",
                               q, q);
            free(q);
            return rc;
        }
    }
    if (n != f->ncolumns) {
        char *q = table_label(b, (size_t)to);
        int rc =
            sqlb_fail(b, f->loc, diag, err, MR_EVALIDATION, MR_SQL_DIAG_BAD_KEY, q,
                      "foreign key has %zu column(s) but references %zu of %s", f->ncolumns, n, q);
        free(q);
        return rc;
    }
    return 0;
}

static bool ends_with(const char *s, size_t n, const char *suffix)
{
    size_t k = strlen(suffix);
    return n >= k && strncasecmp(s + n - k, suffix, k) == 0;
}

/* The table a name prefix ("customer") refers to by convention, in schema, or -1. */
static long table_by_stem(struct sqlb *b, const char *schema, const char *stem, size_t n)
{
    char cand[4][MAX_NAME + 4];
    size_t nc = 0;
    if (n == 0 || n > MAX_NAME)
        return -1;
    snprintf(cand[nc++], sizeof cand[0], "%.*s", (int)n, stem);  /* person → person */
    snprintf(cand[nc++], sizeof cand[0], "%.*ss", (int)n, stem); /* customer → customers */
    if (n > 1 && (stem[n - 1] == 'y' || stem[n - 1] == 'Y') && !strchr("aeiouAEIOU", stem[n - 2]))
        snprintf(cand[nc++], sizeof cand[0], "%.*sies", (int)(n - 1), stem); /* category */
    else if (ends_with(stem, n, "s") || ends_with(stem, n, "x") || ends_with(stem, n, "ch") ||
             ends_with(stem, n, "sh"))
        snprintf(cand[nc++], sizeof cand[0], "%.*ses", (int)n, stem); /* address → addresses */
    /* Naming conventions ignore case (CustomerId → customers), whatever the dialect. */
    for (size_t i = 0; i < nc; i++)
        for (size_t t = 0; t < b->ntables; t++) {
            const struct sqlb_table *tab = &b->tables[t];
            bool same_schema = sql_default_schema(b->dialect, schema)
                                   ? sql_default_schema(b->dialect, tab->schema)
                                   : (tab->schema && strcasecmp(tab->schema, schema) == 0);
            if (same_schema && strcasecmp(tab->name, cand[i]) == 0)
                return (long)t;
        }
    return -1;
}

/* The column a key by convention points at: the single-column primary key, else "id". */
static long target_column(const struct sqlb_table *t)
{
    long pk = -1;
    size_t npk = 0;
    for (size_t c = 0; c < t->ncolumns; c++)
        if (t->columns[c].primary_key) {
            pk = (long)c;
            npk++;
        }
    if (npk == 1)
        return pk;
    if (npk > 1)
        return -1;
    for (size_t c = 0; c < t->ncolumns; c++)
        if (strcasecmp(t->columns[c].name, "id") == 0)
            return (long)c;
    return -1;
}

/*
 * Inference (DESIGN.md §9): a column with no declared key named <stem>_id or
 * <stem>id, where another table <stem>, <stem>s, <stem>es or <ste>ies exists in
 * the same schema, refers to that table's single-column primary key (or its
 * "id"). Names are compared without case.
 */
static void infer(struct sqlb *b, struct joins *j, const bool *declared, const size_t *colbase)
{
    for (size_t t = 0; t < b->ntables; t++) {
        struct sqlb_table *tab = &b->tables[t];
        for (size_t c = 0; c < tab->ncolumns; c++) {
            if (declared[colbase[t] + c])
                continue;
            const char *name = tab->columns[c].name;
            size_t n = strlen(name);
            size_t stem;
            if (ends_with(name, n, "_id") && n > 3)
                stem = n - 3;
            else if (ends_with(name, n, "id") && n > 3 &&
                     ((name[n - 2] == 'I' && name[n - 3] >= 'a' && name[n - 3] <= 'z') ||
                      (name[n - 2] == 'i' && name[n - 3] != '_')))
                stem = n - 2;
            else
                continue;
            long to = table_by_stem(b, tab->schema, name, stem);
            if (to < 0)
                continue;
            long tc = target_column(&b->tables[to]);
            /* things.thing_id is not a key to things itself: a self reference has its own
             * name (parent_id, manager_id) and is declared when it matters. */
            if (tc < 0 || (size_t)to == t)
                continue;
            struct mr_sql_join *x = join_push(j);
            x->from_table = t;
            x->to_table = (size_t)to;
            x->ncolumns = 1;
            x->from_columns = mr_xcalloc(1, sizeof(size_t));
            x->to_columns = mr_xcalloc(1, sizeof(size_t));
            x->from_columns[0] = c;
            x->to_columns[0] = (size_t)tc;
            x->source = MR_SQL_JOIN_INFERRED;
        }
    }
}

static void hash_str(struct sql_sha256 *h, const char *s)
{
    /* Each field ends with a NUL so "ab"+"c" and "a"+"bc" differ; NULL differs from "". */
    if (s)
        sql_sha256_add(h, s, strlen(s) + 1);
    else
        sql_sha256_add(h, "\xff", 1);
}

static void table_hash(const struct mr_sql_schema *s, size_t t, char out[72])
{
    const struct mr_sql_table *tab = &s->tables[t];
    struct sql_sha256 h;
    sql_sha256_init(&h);
    hash_str(&h, tab->qualified);
    hash_str(&h, tab->description);
    for (size_t c = 0; c < tab->ncolumns; c++) {
        const struct mr_sql_column *col = &tab->columns[c];
        hash_str(&h, col->name);
        hash_str(&h, col->type);
        hash_str(&h, col->description);
        char flags[3] = {col->primary_key ? 'P' : '-', col->nullable ? 'N' : '-', 0};
        hash_str(&h, flags);
    }
    for (size_t k = tab->first_join; k < tab->first_join + tab->njoins; k++) {
        const struct mr_sql_join *j = &s->joins[k];
        hash_str(&h, "->");
        for (size_t i = 0; i < j->ncolumns; i++)
            hash_str(&h, tab->columns[j->from_columns[i]].name);
        const struct mr_sql_table *to = &s->tables[j->to_table];
        hash_str(&h, to->qualified);
        for (size_t i = 0; i < j->ncolumns; i++)
            hash_str(&h, to->columns[j->to_columns[i]].name);
        char src[2] = {(char)('0' + j->source), 0};
        hash_str(&h, src);
    }
    sql_sha256_hex(&h, out);
}

static bool schema_tab_eq(const void *ctx, size_t v)
{
    const struct tabkey *k = ctx;
    const struct mr_sql_schema *s = (const struct mr_sql_schema *)k->b;
    const struct mr_sql_table *t = &s->tables[v];
    enum mr_sql_dialect d = s->dialect;
    bool ds = sql_default_schema(d, k->schema), ts = sql_default_schema(d, t->schema);
    if (ds != ts || (!ds && !sql_name_eq(d, k->schema, t->schema)))
        return false;
    return sql_name_eq(d, k->name, t->name);
}

int sqlb_finish(struct sqlb *b, struct mr_sql_schema **out_schema, struct mr_sql_diag *diag,
                struct mr_err *err)
{
    int rc = 0;
    struct joins j = {0};
    struct order *ord = NULL;
    size_t *newidx = NULL, *colbase = NULL;
    bool *declared = NULL;
    struct mr_sql_schema *s = NULL;
    *out_schema = NULL;

    /* Declared keys first, with their errors, before anything is inferred. */
    colbase = mr_xcalloc(b->ntables + 1, sizeof *colbase);
    for (size_t t = 0; t < b->ntables; t++)
        colbase[t + 1] = colbase[t] + b->tables[t].ncolumns;
    declared = mr_xcalloc(colbase[b->ntables] + 1, sizeof *declared);
    for (size_t i = 0; i < b->nfkeys; i++) {
        struct mr_sql_join *x = join_push(&j);
        if ((rc = resolve_fkey(b, &b->fkeys[i], x, diag, err)))
            goto out;
        /* A stored schema read back keeps its inferred keys; they do not block inference. */
        if (x->source != MR_SQL_JOIN_INFERRED)
            for (size_t c = 0; c < x->ncolumns; c++)
                declared[colbase[x->from_table] + x->from_columns[c]] = true;
    }
    /* Re-inferred below from the names: drop the given inferred ones, keep one truth. */
    size_t kept = 0;
    for (size_t i = 0; i < j.n; i++) {
        if (j.v[i].source == MR_SQL_JOIN_INFERRED)
            join_free(&j.v[i]);
        else
            j.v[kept++] = j.v[i];
    }
    j.n = kept;
    infer(b, &j, declared, colbase);

    /* Tables in name order: the hash and the diff do not depend on statement order. */
    ord = mr_xcalloc(b->ntables + 1, sizeof *ord);
    for (size_t t = 0; t < b->ntables; t++) {
        ord[t].old = t;
        ord[t].qualified = table_label(b, t);
    }
    if (b->ntables > 1)
        qsort(ord, b->ntables, sizeof *ord, order_cmp);
    newidx = mr_xcalloc(b->ntables + 1, sizeof *newidx);
    for (size_t i = 0; i < b->ntables; i++)
        newidx[ord[i].old] = i;

    s = mr_xcalloc(1, sizeof *s);
    s->priv = mr_xcalloc(1, sizeof *s->priv);
    s->dialect = b->dialect;
    s->ignored_statements = b->ignored;
    s->ntables = b->ntables;
    s->tables = mr_xcalloc(b->ntables + 1, sizeof *s->tables);
    for (size_t i = 0; i < b->ntables; i++) {
        struct sqlb_table *bt = &b->tables[ord[i].old];
        struct mr_sql_table *t = &s->tables[i];
        t->schema = bt->schema;
        t->name = bt->name;
        t->qualified = ord[i].qualified;
        ord[i].qualified = NULL;
        t->description = bt->description;
        t->columns = bt->columns;
        t->ncolumns = bt->ncolumns;
        bt->schema = bt->name = bt->description = NULL;
        bt->columns = NULL;
        bt->ncolumns = 0;
    }
    for (size_t i = 0; i < j.n; i++) {
        j.v[i].from_table = newidx[j.v[i].from_table];
        j.v[i].to_table = newidx[j.v[i].to_table];
    }
    if (j.n > 1)
        qsort(j.v, j.n, sizeof *j.v, join_cmp);
    /* The same key declared twice (column and table constraint) is one join. */
    kept = 0;
    for (size_t i = 0; i < j.n; i++) {
        if (kept && join_cmp(&j.v[kept - 1], &j.v[i]) == 0) {
            join_free(&j.v[i]);
            continue;
        }
        j.v[kept++] = j.v[i];
    }
    s->joins = j.v;
    s->njoins = kept;
    j.v = NULL;
    j.n = 0;
    for (size_t k = 0; k < s->njoins; k++) {
        struct mr_sql_table *t = &s->tables[s->joins[k].from_table];
        if (!t->njoins)
            t->first_join = k;
        t->njoins++;
    }

    s->priv->table_hash = mr_xcalloc(s->ntables + 1, sizeof *s->priv->table_hash);
    struct sql_sha256 h;
    sql_sha256_init(&h);
    hash_str(&h, mr_sql_dialect_name(s->dialect));
    for (size_t t = 0; t < s->ntables; t++) {
        table_hash(s, t, s->priv->table_hash[t]);
        hash_str(&h, s->priv->table_hash[t]);
        struct tabkey k = {(const struct sqlb *)s, s->tables[t].schema, s->tables[t].name};
        uint64_t th = tab_hash(s->dialect, s->tables[t].schema, s->tables[t].name);
        size_t slot = sqlmap_slot(&s->priv->tabmap, th, schema_tab_eq, &k);
        sqlmap_put(&s->priv->tabmap, slot, th, t);
    }
    sql_sha256_hex(&h, s->hash);
    *out_schema = s;
    s = NULL;
out:
    for (size_t i = 0; i < j.n; i++)
        join_free(&j.v[i]);
    free(j.v);
    for (size_t i = 0; ord && i < b->ntables; i++)
        free(ord[i].qualified);
    free(ord);
    free(newidx);
    free(colbase);
    free(declared);
    sqlb_free(b);
    return rc;
}

/* ---- the public side --------------------------------------------------------- */

int mr_sql_dialect_parse(const char *s, size_t len, enum mr_sql_dialect *out,
                         struct mr_sql_diag *diag, struct mr_err *err)
{
    if (s && len == 10 && memcmp(s, "postgresql", 10) == 0) {
        *out = MR_SQL_POSTGRESQL;
        return 0;
    }
    if (s && len == 6 && memcmp(s, "sqlite", 6) == 0) {
        *out = MR_SQL_SQLITE;
        return 0;
    }
    return sql_fail(diag, err, MR_EVALIDATION, MR_SQL_DIAG_DIALECT, "", 0, 0,
                    "unknown dialect: expected \"postgresql\" or \"sqlite\"");
}

const char *mr_sql_dialect_name(enum mr_sql_dialect d)
{
    return d == MR_SQL_SQLITE ? "sqlite" : "postgresql";
}

int mr_sql_parse_ddl(enum mr_sql_dialect dialect, const char *ddl, size_t len,
                     struct mr_sql_schema **out_schema, struct mr_sql_diag *diag,
                     struct mr_err *err)
{
    *out_schema = NULL;
    if (diag)
        memset(diag, 0, sizeof *diag);
    if (dialect != MR_SQL_POSTGRESQL && dialect != MR_SQL_SQLITE)
        return sql_fail(diag, err, MR_EVALIDATION, MR_SQL_DIAG_DIALECT, "", 0, 0,
                        "unknown dialect");
    if (len > MR_SQL_MAX_DDL_BYTES)
        return sql_fail(diag, err, MR_ETOOLARGE, MR_SQL_DIAG_TOO_LARGE, "", 0, 0,
                        "DDL of %zu bytes is over the limit of %u bytes", len,
                        MR_SQL_MAX_DDL_BYTES);
    if (memchr(ddl, '\0', len) || !mr_utf8_valid(ddl, len)) {
        /* Both parsers take C strings; a NUL would silently cut the schema short. */
        return sql_fail(diag, err, MR_EVALIDATION, MR_SQL_DIAG_SYNTAX, "", 0, 0,
                        "DDL must be UTF-8 text without NUL bytes");
    }
    char *text = mr_xstrndup(ddl, len);
    struct sqlb b;
    sqlb_init(&b, dialect, text, len);
    int rc = dialect == MR_SQL_POSTGRESQL ? sql_pg_parse_ddl(&b, text, diag, err)
                                          : sql_lite_parse_ddl(&b, text, len, diag, err);
    if (rc == 0)
        rc = sqlb_finish(&b, out_schema, diag, err);
    sqlb_free(&b);
    free(text);
    return rc;
}

int mr_sql_schema_from_specs(enum mr_sql_dialect dialect, const struct mr_sql_table_spec *tables,
                             size_t ntables, struct mr_sql_schema **out_schema,
                             struct mr_sql_diag *diag, struct mr_err *err)
{
    *out_schema = NULL;
    if (diag)
        memset(diag, 0, sizeof *diag);
    if (ntables > MR_SQL_MAX_TABLES)
        return sql_fail(diag, err, MR_ETOOLARGE, MR_SQL_DIAG_TOO_MANY_TABLES, "", 0, 0,
                        "%zu tables, over the limit of %d", ntables, MR_SQL_MAX_TABLES);
    struct sqlb b;
    sqlb_init(&b, dialect, NULL, 0);
    int rc = 0;
    size_t *idx = mr_xcalloc(ntables + 1, sizeof *idx);
    for (size_t i = 0; i < ntables; i++) {
        const struct mr_sql_table_spec *ts = &tables[i];
        char *schema = ts->schema ? mr_xstrdup(ts->schema) : NULL;
        const char *name = ts->name;
        const char *dot = !schema && name ? strchr(name, '.') : NULL;
        if (dot) {
            schema = mr_xstrndup(name, (size_t)(dot - name));
            name = dot + 1;
        } else if (schema && name) {
            /*
             * The GET form (mr_sql_schema_to_json) gives both the schema and the
             * qualified name: "sales.orders" in schema sales is table orders, or
             * the stored schema would not read back.
             */
            size_t n = strlen(schema);
            bool prefixed = dialect == MR_SQL_SQLITE ? strncasecmp(name, schema, n) == 0
                                                     : strncmp(name, schema, n) == 0;
            if (prefixed && name[n] == '.' && name[n + 1])
                name += n + 1;
        }
        if (ts->ncolumns > MR_SQL_MAX_COLUMNS) {
            rc = sql_fail(diag, err, MR_ETOOLARGE, MR_SQL_DIAG_TOO_MANY_COLUMNS,
                          ts->name ? ts->name : "", 0, 0, "table %s has more than %d columns",
                          ts->name ? ts->name : "", MR_SQL_MAX_COLUMNS);
            free(schema);
            goto out;
        }
        rc = sqlb_add_table(&b, schema, name, ts->description, -1, &idx[i], diag, err);
        free(schema);
        if (rc)
            goto out;
        for (size_t c = 0; c < ts->ncolumns; c++) {
            const struct mr_sql_column_spec *cs = &ts->columns[c];
            bool nullable = cs->nullable < 0 ? !cs->primary_key : cs->nullable != 0;
            rc = sqlb_add_column(&b, idx[i], cs->name, cs->type, cs->description, cs->primary_key,
                                 nullable, -1, diag, err);
            if (rc)
                goto out;
        }
    }
    for (size_t i = 0; i < ntables; i++) {
        for (size_t k = 0; k < tables[i].nforeign_keys; k++) {
            const struct mr_sql_fkey_spec *fs = &tables[i].foreign_keys[k];
            char *schema = NULL;
            const char *name = fs->ref_table;
            const char *dot = name ? strchr(name, '.') : NULL;
            if (dot && sqlb_find_table(&b, NULL, name) < 0) {
                schema = mr_xstrndup(name, (size_t)(dot - name));
                name = dot + 1;
            }
            rc = sqlb_add_fkey(&b, idx[i], fs->columns, fs->ncolumns, schema, name, fs->ref_columns,
                               fs->nref_columns, fs->source, -1, diag, err);
            free(schema);
            if (rc)
                goto out;
        }
    }
    rc = sqlb_finish(&b, out_schema, diag, err);
out:
    sqlb_free(&b);
    free(idx);
    return rc;
}

void mr_sql_schema_free(struct mr_sql_schema *s)
{
    if (!s)
        return;
    sql_lite_schema_free(s);
    for (size_t t = 0; t < s->ntables; t++) {
        struct mr_sql_table *tab = &s->tables[t];
        free(tab->schema);
        free(tab->name);
        free(tab->qualified);
        free(tab->description);
        free_columns(tab->columns, tab->ncolumns);
    }
    free(s->tables);
    for (size_t k = 0; k < s->njoins; k++)
        join_free(&s->joins[k]);
    free(s->joins);
    if (s->priv) {
        free(s->priv->table_hash);
        sqlmap_free(&s->priv->tabmap);
        free(s->priv);
    }
    free(s);
}

static long find_in(const struct mr_sql_schema *s, const char *schema, const char *name)
{
    struct tabkey k = {(const struct sqlb *)s, schema, name};
    size_t slot =
        sqlmap_slot(&s->priv->tabmap, tab_hash(s->dialect, schema, name), schema_tab_eq, &k);
    return sqlmap_found(&s->priv->tabmap, slot) ? (long)sqlmap_get(&s->priv->tabmap, slot) : -1;
}

long mr_sql_schema_find(const struct mr_sql_schema *s, const char *name)
{
    if (!s || !name)
        return -1;
    long t = find_in(s, NULL, name);
    const char *dot = strchr(name, '.');
    if (t >= 0 || !dot || dot - name > MAX_NAME)
        return t;
    char schema[MAX_NAME + 1];
    snprintf(schema, sizeof schema, "%.*s", (int)(dot - name), name);
    return find_in(s, schema, dot + 1);
}

long mr_sql_table_find_column(const struct mr_sql_schema *s, size_t t, const char *name)
{
    const struct mr_sql_table *tab = &s->tables[t];
    for (size_t c = 0; c < tab->ncolumns; c++)
        if (sql_name_eq(s->dialect, tab->columns[c].name, name))
            return (long)c;
    return -1;
}

const char *mr_sql_table_hash(const struct mr_sql_schema *s, size_t t)
{
    return s->priv->table_hash[t];
}

/* ---- diff ------------------------------------------------------------------------ */

char *mr_sql_join_key(const struct mr_sql_schema *s, const struct mr_sql_join *j)
{
    struct mr_strbuf b = {0};
    const struct mr_sql_table *f = &s->tables[j->from_table], *t = &s->tables[j->to_table];
    mr_strbuf_printf(&b, "%s(", f->qualified);
    for (size_t i = 0; i < j->ncolumns; i++)
        mr_strbuf_printf(&b, "%s%s", i ? "," : "", f->columns[j->from_columns[i]].name);
    mr_strbuf_printf(&b, ")->%s(", t->qualified);
    for (size_t i = 0; i < j->ncolumns; i++)
        mr_strbuf_printf(&b, "%s%s", i ? "," : "", t->columns[j->to_columns[i]].name);
    mr_strbuf_puts(&b, ")");
    if (s->dialect == MR_SQL_SQLITE)
        for (char *p = b.s; *p; p++)
            if (*p >= 'A' && *p <= 'Z')
                *p = (char)(*p - 'A' + 'a');
    return mr_strbuf_take(&b);
}

struct keyed {
    char *key;
    long index;
    int source;
};

static int keyed_cmp(const void *x, const void *y)
{
    return strcmp(((const struct keyed *)x)->key, ((const struct keyed *)y)->key);
}

static struct keyed *join_keys(const struct mr_sql_schema *s)
{
    size_t n = s ? s->njoins : 0;
    struct keyed *k = mr_xcalloc(n + 1, sizeof *k);
    for (size_t i = 0; i < n; i++) {
        k[i].key = mr_sql_join_key(s, &s->joins[i]);
        k[i].index = (long)i;
        k[i].source = s->joins[i].source;
    }
    if (n > 1)
        qsort(k, n, sizeof *k, keyed_cmp);
    return k;
}

void mr_sql_diff(const struct mr_sql_schema *old_schema, const struct mr_sql_schema *new_schema,
                 struct mr_sql_diff *out_diff)
{
    struct mr_sql_diff *d = out_diff;
    memset(d, 0, sizeof *d);
    size_t no = old_schema ? old_schema->ntables : 0, nn = new_schema ? new_schema->ntables : 0;
    enum mr_sql_dialect dialect = new_schema ? new_schema->dialect : MR_SQL_POSTGRESQL;
    d->tables = mr_xcalloc(no + nn + 1, sizeof *d->tables);
    size_t i = 0, k = 0;
    /* Both sides are sorted by name (sqlb_finish): one merge walk. */
    while (i < no || k < nn) {
        struct mr_sql_table_change *c = &d->tables[d->ntables++];
        int cmp = i >= no ? 1
                  : k >= nn
                      ? -1
                      : cmp_names(old_schema->tables[i].qualified, new_schema->tables[k].qualified);
        if (cmp != 0 && i < no && k < nn &&
            sql_name_eq(dialect, old_schema->tables[i].qualified, new_schema->tables[k].qualified))
            cmp = 0; /* SQLite: "Orders" and "orders" are one table */
        if (cmp < 0) {
            *c = (struct mr_sql_table_change){old_schema->tables[i].qualified, MR_SQL_REMOVED,
                                              (long)i, -1};
            i++;
            d->removed++;
        } else if (cmp > 0) {
            *c = (struct mr_sql_table_change){new_schema->tables[k].qualified, MR_SQL_ADDED, -1,
                                              (long)k};
            k++;
            d->added++;
        } else {
            bool same =
                strcmp(old_schema->priv->table_hash[i], new_schema->priv->table_hash[k]) == 0;
            *c = (struct mr_sql_table_change){new_schema->tables[k].qualified,
                                              same ? MR_SQL_UNCHANGED : MR_SQL_UPDATED, (long)i,
                                              (long)k};
            if (same)
                d->unchanged++;
            else
                d->updated++;
            i++;
            k++;
        }
    }
    struct keyed *ok = join_keys(old_schema), *nk = join_keys(new_schema);
    size_t jo = old_schema ? old_schema->njoins : 0, jn = new_schema ? new_schema->njoins : 0;
    d->joins = mr_xcalloc(jo + jn + 1, sizeof *d->joins);
    i = k = 0;
    while (i < jo || k < jn) {
        struct mr_sql_join_change *c = &d->joins[d->njoins++];
        int cmp = i >= jo ? 1 : k >= jn ? -1 : strcmp(ok[i].key, nk[k].key);
        if (cmp < 0) {
            *c = (struct mr_sql_join_change){ok[i].key, MR_SQL_REMOVED, ok[i].index, -1};
            ok[i++].key = NULL;
            d->joins_removed++;
        } else if (cmp > 0) {
            *c = (struct mr_sql_join_change){nk[k].key, MR_SQL_ADDED, -1, nk[k].index};
            nk[k++].key = NULL;
            d->joins_added++;
        } else {
            bool same = ok[i].source == nk[k].source;
            *c = (struct mr_sql_join_change){nk[k].key, same ? MR_SQL_UNCHANGED : MR_SQL_UPDATED,
                                             ok[i].index, nk[k].index};
            nk[k++].key = NULL;
            i++;
            if (same)
                d->joins_unchanged++;
            else
                d->joins_updated++;
        }
    }
    for (size_t x = 0; x < jo; x++)
        free(ok[x].key);
    for (size_t x = 0; x < jn; x++)
        free(nk[x].key);
    free(ok);
    free(nk);
}

void mr_sql_diff_free(struct mr_sql_diff *d)
{
    for (size_t i = 0; i < d->njoins; i++)
        free(d->joins[i].key);
    free(d->joins);
    free(d->tables);
    memset(d, 0, sizeof *d);
}
