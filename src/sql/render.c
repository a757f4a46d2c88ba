/*
 * render.c — what the schema's memories hold (DESIGN.md §9): a table's
 * readable content ("Table orders — one row per order. Columns: id integer
 * (primary key), customer_id integer → customers.id, …") and a join's
 * ("orders.customer_id → customers.id"), their metadata as JSON text, and
 * the schema as the JSON the GET returns. JSON is written by hand here
 * (sqlbuf_json_str escapes), so no JSON library is needed below the API.
 */
#include <stdlib.h>
#include <string.h>

#include "memori/util.h"
#include "sql_int.h"

/* A description longer than this is cut in the content (the metadata keeps it whole). */
#define MAX_DESC_CHARS 500
/* Room kept at the end of a table's content for "… and N more columns." */
#define TAIL_RESERVE 48

static const char *source_name(enum mr_sql_join_source s)
{
    return s == MR_SQL_JOIN_INFERRED  ? "inferred"
           : s == MR_SQL_JOIN_EXAMPLE ? "example"
                                      : "declared";
}

/* Appends s cut to max code points (with "…" when cut). */
static void add_cut(struct sqlbuf *b, const char *s, size_t max)
{
    size_t n = 0, i = 0;
    while (s[i] && n < max) {
        i++;
        while (((unsigned char)s[i] & 0xC0) == 0x80)
            i++;
        n++;
    }
    sqlbuf_add(b, s, i);
    if (s[i])
        sqlbuf_puts(b, "…");
}

/* "customers.id" or "orders(a, b)". */
static void add_end(struct sqlbuf *b, const struct mr_sql_table *t, const size_t *cols, size_t n)
{
    if (n == 1) {
        sqlbuf_printf(b, "%s.%s", t->qualified, t->columns[cols[0]].name);
        return;
    }
    sqlbuf_printf(b, "%s(", t->qualified);
    for (size_t i = 0; i < n; i++)
        sqlbuf_printf(b, "%s%s", i ? ", " : "", t->columns[cols[i]].name);
    sqlbuf_puts(b, ")");
}

static void render_column(const struct mr_sql_schema *s, size_t t, size_t c, struct sqlbuf *b)
{
    const struct mr_sql_table *tab = &s->tables[t];
    const struct mr_sql_column *col = &tab->columns[c];
    sqlbuf_puts(b, col->name);
    if (*col->type)
        sqlbuf_printf(b, " %s", col->type);
    for (size_t k = tab->first_join; k < tab->first_join + tab->njoins; k++) {
        const struct mr_sql_join *j = &s->joins[k];
        if (j->ncolumns != 1 || j->from_columns[0] != c)
            continue;
        sqlbuf_puts(b, " → ");
        add_end(b, &s->tables[j->to_table], j->to_columns, 1);
        if (j->source == MR_SQL_JOIN_INFERRED)
            sqlbuf_puts(b, "?"); /* a likely join, not a declared one */
    }
    bool flags = col->primary_key || !col->nullable;
    if (flags || col->description) {
        sqlbuf_puts(b, " (");
        if (col->primary_key)
            sqlbuf_puts(b, "primary key");
        else if (!col->nullable)
            sqlbuf_puts(b, "not null");
        if (col->description) {
            if (flags)
                sqlbuf_puts(b, "; ");
            add_cut(b, col->description, MAX_DESC_CHARS);
        }
        sqlbuf_puts(b, ")");
    }
}

static void json_columns(struct sqlbuf *b, const struct mr_sql_table *tab)
{
    sqlbuf_puts(b, "[");
    for (size_t c = 0; c < tab->ncolumns; c++) {
        const struct mr_sql_column *col = &tab->columns[c];
        sqlbuf_puts(b, c ? ",{\"name\":" : "{\"name\":");
        sqlbuf_json_str(b, col->name);
        sqlbuf_puts(b, ",\"type\":");
        sqlbuf_json_str(b, col->type);
        sqlbuf_puts(b, ",\"description\":");
        if (col->description)
            sqlbuf_json_str(b, col->description);
        else
            sqlbuf_puts(b, "null");
        sqlbuf_printf(b, ",\"primary_key\":%s,\"nullable\":%s}",
                      col->primary_key ? "true" : "false", col->nullable ? "true" : "false");
    }
    sqlbuf_puts(b, "]");
}

static void json_names(struct sqlbuf *b, const struct mr_sql_table *t, const size_t *cols, size_t n)
{
    sqlbuf_puts(b, "[");
    for (size_t i = 0; i < n; i++) {
        if (i)
            sqlbuf_puts(b, ",");
        sqlbuf_json_str(b, t->columns[cols[i]].name);
    }
    sqlbuf_puts(b, "]");
}

static void json_fkeys(struct sqlbuf *b, const struct mr_sql_schema *s, size_t t)
{
    const struct mr_sql_table *tab = &s->tables[t];
    sqlbuf_puts(b, "[");
    for (size_t k = tab->first_join; k < tab->first_join + tab->njoins; k++) {
        const struct mr_sql_join *j = &s->joins[k];
        const struct mr_sql_table *to = &s->tables[j->to_table];
        sqlbuf_puts(b, k > tab->first_join ? ",{\"columns\":" : "{\"columns\":");
        json_names(b, tab, j->from_columns, j->ncolumns);
        sqlbuf_puts(b, ",\"references\":{\"table\":");
        sqlbuf_json_str(b, to->qualified);
        sqlbuf_puts(b, ",\"columns\":");
        json_names(b, to, j->to_columns, j->ncolumns);
        sqlbuf_printf(b, "},\"source\":\"%s\",\"inferred\":%s}", source_name(j->source),
                      j->source == MR_SQL_JOIN_INFERRED ? "true" : "false");
    }
    sqlbuf_puts(b, "]");
}

static void json_table_body(struct sqlbuf *b, const struct mr_sql_schema *s, size_t t)
{
    const struct mr_sql_table *tab = &s->tables[t];
    sqlbuf_puts(b, "\"name\":");
    sqlbuf_json_str(b, tab->qualified);
    sqlbuf_puts(b, ",\"schema\":");
    if (tab->schema)
        sqlbuf_json_str(b, tab->schema);
    else
        sqlbuf_puts(b, "null");
    sqlbuf_puts(b, ",\"description\":");
    if (tab->description)
        sqlbuf_json_str(b, tab->description);
    else
        sqlbuf_puts(b, "null");
    sqlbuf_puts(b, ",\"columns\":");
    json_columns(b, tab);
    sqlbuf_puts(b, ",\"foreign_keys\":");
    json_fkeys(b, s, t);
}

void mr_sql_render_table(const struct mr_sql_schema *s, size_t t, struct mr_sql_rendered *out)
{
    const struct mr_sql_table *tab = &s->tables[t];
    struct sqlbuf b = {0}, col = {0};
    sqlbuf_printf(&b, "Table %s", tab->qualified);
    if (tab->description) {
        sqlbuf_puts(&b, " — ");
        add_cut(&b, tab->description, MAX_DESC_CHARS);
    }
    bool stop = b.len && strchr(".!?", b.s[b.len - 1]); /* the description's own full stop */
    sqlbuf_puts(&b, tab->ncolumns ? (stop ? " Columns: " : ". Columns: ")
                                  : (stop ? " No columns." : ". No columns."));
    size_t chars = mr_utf8_len(b.s, b.len);
    for (size_t c = 0; c < tab->ncolumns; c++) {
        col.len = 0;
        render_column(s, t, c, &col);
        size_t n = mr_utf8_len(col.s, col.len) + 2;
        /* A memory holds 10 000 characters: wide tables name their first columns only. */
        if (chars + n > MR_SQL_MAX_CONTENT - TAIL_RESERVE) {
            sqlbuf_printf(&b, "%s… and %zu more columns", c ? ", " : "", tab->ncolumns - c);
            break;
        }
        if (c)
            sqlbuf_puts(&b, ", ");
        sqlbuf_add(&b, col.s, col.len);
        chars += n;
    }
    if (tab->ncolumns)
        sqlbuf_puts(&b, ".");
    free(col.s);
    out->content = sqlbuf_take(&b);

    sqlbuf_puts(&b, "{\"kind\":\"table\",\"dialect\":");
    sqlbuf_json_str(&b, mr_sql_dialect_name(s->dialect));
    sqlbuf_puts(&b, ",\"table_hash\":");
    sqlbuf_json_str(&b, mr_sql_table_hash(s, t));
    sqlbuf_puts(&b, ",");
    json_table_body(&b, s, t);
    sqlbuf_puts(&b, "}");
    out->metadata_json = sqlbuf_take(&b);
    out->related = mr_xcalloc(1, sizeof *out->related);
    out->related[0] = mr_xstrdup(tab->qualified);
    out->nrelated = 1;
}

void mr_sql_render_join(const struct mr_sql_schema *s, size_t j, struct mr_sql_rendered *out)
{
    const struct mr_sql_join *jn = &s->joins[j];
    const struct mr_sql_table *from = &s->tables[jn->from_table], *to = &s->tables[jn->to_table];
    struct sqlbuf f = {0}, t = {0}, b = {0};
    add_end(&f, from, jn->from_columns, jn->ncolumns);
    add_end(&t, to, jn->to_columns, jn->ncolumns);
    sqlbuf_printf(&b, "%s → %s", f.s, t.s);
    out->content = sqlbuf_take(&b);

    char *key = mr_sql_join_key(s, jn);
    sqlbuf_puts(&b, "{\"kind\":\"join\",\"from\":");
    sqlbuf_json_str(&b, f.s);
    sqlbuf_puts(&b, ",\"to\":");
    sqlbuf_json_str(&b, t.s);
    sqlbuf_puts(&b, ",\"from_table\":");
    sqlbuf_json_str(&b, from->qualified);
    sqlbuf_puts(&b, ",\"from_columns\":");
    json_names(&b, from, jn->from_columns, jn->ncolumns);
    sqlbuf_puts(&b, ",\"to_table\":");
    sqlbuf_json_str(&b, to->qualified);
    sqlbuf_puts(&b, ",\"to_columns\":");
    json_names(&b, to, jn->to_columns, jn->ncolumns);
    sqlbuf_printf(&b, ",\"inferred\":%s,\"source\":\"%s\",\"join_key\":",
                  jn->source == MR_SQL_JOIN_INFERRED ? "true" : "false", source_name(jn->source));
    sqlbuf_json_str(&b, key);
    sqlbuf_puts(&b, "}");
    out->metadata_json = sqlbuf_take(&b);
    free(key);
    free(f.s);
    free(t.s);
    bool self = jn->from_table == jn->to_table;
    out->nrelated = self ? 1 : 2;
    out->related = mr_xcalloc(2, sizeof *out->related);
    out->related[0] = mr_xstrdup(from->qualified);
    if (!self)
        out->related[1] = mr_xstrdup(to->qualified);
}

void mr_sql_rendered_free(struct mr_sql_rendered *r)
{
    free(r->content);
    free(r->metadata_json);
    for (size_t i = 0; i < r->nrelated; i++)
        free(r->related[i]);
    free(r->related);
    memset(r, 0, sizeof *r);
}

char *mr_sql_schema_to_json(const struct mr_sql_schema *s)
{
    struct sqlbuf b = {0};
    sqlbuf_puts(&b, "{\"dialect\":");
    sqlbuf_json_str(&b, mr_sql_dialect_name(s->dialect));
    sqlbuf_puts(&b, ",\"schema_hash\":");
    sqlbuf_json_str(&b, s->hash);
    sqlbuf_printf(&b, ",\"relationships\":%zu,\"tables\":[", s->njoins);
    for (size_t t = 0; t < s->ntables; t++) {
        sqlbuf_puts(&b, t ? ",{" : "{");
        json_table_body(&b, s, t);
        sqlbuf_puts(&b, "}");
    }
    sqlbuf_puts(&b, "]}");
    return sqlbuf_take(&b);
}

void mr_sql_render_example_join(enum mr_sql_dialect d, const struct mr_sql_equijoin *j,
                                struct mr_sql_rendered *out)
{
    struct sqlbuf f = {0}, t = {0}, key = {0}, b = {0};
    sqlbuf_printf(&f, "%s.%s", j->from.table, j->from.column);
    sqlbuf_printf(&t, "%s.%s", j->to.table, j->to.column);
    sqlbuf_printf(&b, "%s → %s", f.s, t.s);
    out->content = sqlbuf_take(&b);
    sqlbuf_printf(&key, "%s(%s)->%s(%s)", j->from.table, j->from.column, j->to.table, j->to.column);
    if (d == MR_SQL_SQLITE) /* as mr_sql_join_key: SQLite's names have no case */
        for (char *p = key.s; *p; p++)
            if (*p >= 'A' && *p <= 'Z')
                *p = (char)(*p - 'A' + 'a');
    sqlbuf_puts(&b, "{\"kind\":\"join\",\"from\":");
    sqlbuf_json_str(&b, f.s);
    sqlbuf_puts(&b, ",\"to\":");
    sqlbuf_json_str(&b, t.s);
    sqlbuf_puts(&b, ",\"from_table\":");
    sqlbuf_json_str(&b, j->from.table);
    sqlbuf_puts(&b, ",\"from_columns\":[");
    sqlbuf_json_str(&b, j->from.column);
    sqlbuf_puts(&b, "],\"to_table\":");
    sqlbuf_json_str(&b, j->to.table);
    sqlbuf_puts(&b, ",\"to_columns\":[");
    sqlbuf_json_str(&b, j->to.column);
    sqlbuf_puts(&b, "],\"inferred\":false,\"source\":\"example\",\"join_key\":");
    sqlbuf_json_str(&b, key.s);
    sqlbuf_puts(&b, "}");
    out->metadata_json = sqlbuf_take(&b);
    bool self = strcmp(j->from.table, j->to.table) == 0;
    out->nrelated = self ? 1 : 2;
    out->related = mr_xcalloc(2, sizeof *out->related);
    out->related[0] = mr_xstrdup(j->from.table);
    if (!self)
        out->related[1] = mr_xstrdup(j->to.table);
    free(f.s);
    free(t.s);
    free(key.s);
}
