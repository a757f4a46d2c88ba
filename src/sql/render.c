/*
 * render.c — what the schema's memories hold (DESIGN.md §9): a table's
 * readable content ("Table orders — one row per order. Columns: id integer
 * (primary key), customer_id integer → customers.id, …") and a join's
 * ("orders.customer_id → customers.id"), their metadata as JSON text, and
 * the schema as the JSON the GET returns. JSON is written by hand here
 * (sql_json_str escapes), so no JSON library is needed below the API.
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
static void add_cut(struct mr_strbuf *b, const char *s, size_t max)
{
    size_t n = 0, i = 0;
    while (s[i] && n < max) {
        i++;
        while (((unsigned char)s[i] & 0xC0) == 0x80)
            i++;
        n++;
    }
    mr_strbuf_add(b, s, i);
    if (s[i])
        mr_strbuf_puts(b, "…");
}

/* "customers.id" or "orders(a, b)". */
static void add_end(struct mr_strbuf *b, const struct mr_sql_table *t, const size_t *cols, size_t n)
{
    if (n == 1) {
        mr_strbuf_printf(b, "%s.%s", t->qualified, t->columns[cols[0]].name);
        return;
    }
    mr_strbuf_printf(b, "%s(", t->qualified);
    for (size_t i = 0; i < n; i++)
        mr_strbuf_printf(b, "%s%s", i ? ", " : "", t->columns[cols[i]].name);
    mr_strbuf_puts(b, ")");
}

static void render_column(const struct mr_sql_schema *s, size_t t, size_t c, struct mr_strbuf *b)
{
    const struct mr_sql_table *tab = &s->tables[t];
    const struct mr_sql_column *col = &tab->columns[c];
    mr_strbuf_puts(b, col->name);
    if (*col->type)
        mr_strbuf_printf(b, " %s", col->type);
    for (size_t k = tab->first_join; k < tab->first_join + tab->njoins; k++) {
        const struct mr_sql_join *j = &s->joins[k];
        if (j->ncolumns != 1 || j->from_columns[0] != c)
            continue;
        mr_strbuf_puts(b, " → ");
        add_end(b, &s->tables[j->to_table], j->to_columns, 1);
        if (j->source == MR_SQL_JOIN_INFERRED)
            mr_strbuf_puts(b, "?"); /* a likely join, not a declared one */
    }
    bool flags = col->primary_key || !col->nullable;
    if (flags || col->description) {
        mr_strbuf_puts(b, " (");
        if (col->primary_key)
            mr_strbuf_puts(b, "primary key");
        else if (!col->nullable)
            mr_strbuf_puts(b, "not null");
        if (col->description) {
            if (flags)
                mr_strbuf_puts(b, "; ");
            add_cut(b, col->description, MAX_DESC_CHARS);
        }
        mr_strbuf_puts(b, ")");
    }
}

static void json_columns(struct mr_strbuf *b, const struct mr_sql_table *tab)
{
    mr_strbuf_puts(b, "[");
    for (size_t c = 0; c < tab->ncolumns; c++) {
        const struct mr_sql_column *col = &tab->columns[c];
        mr_strbuf_puts(b, c ? ",{\"name\":" : "{\"name\":");
        sql_json_str(b, col->name);
        mr_strbuf_puts(b, ",\"type\":");
        sql_json_str(b, col->type);
        mr_strbuf_puts(b, ",\"description\":");
        if (col->description)
            sql_json_str(b, col->description);
        else
            mr_strbuf_puts(b, "null");
        mr_strbuf_printf(b, ",\"primary_key\":%s,\"nullable\":%s}",
                         col->primary_key ? "true" : "false", col->nullable ? "true" : "false");
    }
    mr_strbuf_puts(b, "]");
}

static void json_names(struct mr_strbuf *b, const struct mr_sql_table *t, const size_t *cols,
                       size_t n)
{
    mr_strbuf_puts(b, "[");
    for (size_t i = 0; i < n; i++) {
        if (i)
            mr_strbuf_puts(b, ",");
        sql_json_str(b, t->columns[cols[i]].name);
    }
    mr_strbuf_puts(b, "]");
}

static void json_fkeys(struct mr_strbuf *b, const struct mr_sql_schema *s, size_t t)
{
    const struct mr_sql_table *tab = &s->tables[t];
    mr_strbuf_puts(b, "[");
    for (size_t k = tab->first_join; k < tab->first_join + tab->njoins; k++) {
        const struct mr_sql_join *j = &s->joins[k];
        const struct mr_sql_table *to = &s->tables[j->to_table];
        mr_strbuf_puts(b, k > tab->first_join ? ",{\"columns\":" : "{\"columns\":");
        json_names(b, tab, j->from_columns, j->ncolumns);
        mr_strbuf_puts(b, ",\"references\":{\"table\":");
        sql_json_str(b, to->qualified);
        mr_strbuf_puts(b, ",\"columns\":");
        json_names(b, to, j->to_columns, j->ncolumns);
        mr_strbuf_printf(b, "},\"source\":\"%s\",\"inferred\":%s}", source_name(j->source),
                         j->source == MR_SQL_JOIN_INFERRED ? "true" : "false");
    }
    mr_strbuf_puts(b, "]");
}

static void json_table_body(struct mr_strbuf *b, const struct mr_sql_schema *s, size_t t)
{
    const struct mr_sql_table *tab = &s->tables[t];
    mr_strbuf_puts(b, "\"name\":");
    sql_json_str(b, tab->qualified);
    mr_strbuf_puts(b, ",\"schema\":");
    if (tab->schema)
        sql_json_str(b, tab->schema);
    else
        mr_strbuf_puts(b, "null");
    mr_strbuf_puts(b, ",\"description\":");
    if (tab->description)
        sql_json_str(b, tab->description);
    else
        mr_strbuf_puts(b, "null");
    mr_strbuf_puts(b, ",\"columns\":");
    json_columns(b, tab);
    mr_strbuf_puts(b, ",\"foreign_keys\":");
    json_fkeys(b, s, t);
}

void mr_sql_render_table(const struct mr_sql_schema *s, size_t t, struct mr_sql_rendered *out)
{
    const struct mr_sql_table *tab = &s->tables[t];
    struct mr_strbuf b = {0}, col = {0};
    mr_strbuf_printf(&b, "Table %s", tab->qualified);
    if (tab->description) {
        mr_strbuf_puts(&b, " — ");
        add_cut(&b, tab->description, MAX_DESC_CHARS);
    }
    bool stop = b.len && strchr(".!?", b.s[b.len - 1]); /* the description's own full stop */
    mr_strbuf_puts(&b, tab->ncolumns ? (stop ? " Columns: " : ". Columns: ")
                                     : (stop ? " No columns." : ". No columns."));
    size_t chars = mr_utf8_len(b.s, b.len);
    for (size_t c = 0; c < tab->ncolumns; c++) {
        col.len = 0;
        render_column(s, t, c, &col);
        size_t n = mr_utf8_len(col.s, col.len) + 2;
        /* A memory holds 10 000 characters: wide tables name their first columns only. */
        if (chars + n > MR_SQL_MAX_CONTENT - TAIL_RESERVE) {
            mr_strbuf_printf(&b, "%s… and %zu more columns", c ? ", " : "", tab->ncolumns - c);
            break;
        }
        if (c)
            mr_strbuf_puts(&b, ", ");
        mr_strbuf_add(&b, col.s, col.len);
        chars += n;
    }
    if (tab->ncolumns)
        mr_strbuf_puts(&b, ".");
    free(col.s);
    out->content = mr_strbuf_take(&b);

    mr_strbuf_puts(&b, "{\"kind\":\"table\",\"dialect\":");
    sql_json_str(&b, mr_sql_dialect_name(s->dialect));
    mr_strbuf_puts(&b, ",\"table_hash\":");
    sql_json_str(&b, mr_sql_table_hash(s, t));
    mr_strbuf_puts(&b, ",");
    json_table_body(&b, s, t);
    mr_strbuf_puts(&b, "}");
    out->metadata_json = mr_strbuf_take(&b);
    out->related = mr_xcalloc(1, sizeof *out->related);
    out->related[0] = mr_xstrdup(tab->qualified);
    out->nrelated = 1;
}

void mr_sql_render_join(const struct mr_sql_schema *s, size_t j, struct mr_sql_rendered *out)
{
    const struct mr_sql_join *jn = &s->joins[j];
    const struct mr_sql_table *from = &s->tables[jn->from_table], *to = &s->tables[jn->to_table];
    struct mr_strbuf f = {0}, t = {0}, b = {0};
    add_end(&f, from, jn->from_columns, jn->ncolumns);
    add_end(&t, to, jn->to_columns, jn->ncolumns);
    mr_strbuf_printf(&b, "%s → %s", f.s, t.s);
    out->content = mr_strbuf_take(&b);

    char *key = mr_sql_join_key(s, jn);
    mr_strbuf_puts(&b, "{\"kind\":\"join\",\"from\":");
    sql_json_str(&b, f.s);
    mr_strbuf_puts(&b, ",\"to\":");
    sql_json_str(&b, t.s);
    mr_strbuf_puts(&b, ",\"from_table\":");
    sql_json_str(&b, from->qualified);
    mr_strbuf_puts(&b, ",\"from_columns\":");
    json_names(&b, from, jn->from_columns, jn->ncolumns);
    mr_strbuf_puts(&b, ",\"to_table\":");
    sql_json_str(&b, to->qualified);
    mr_strbuf_puts(&b, ",\"to_columns\":");
    json_names(&b, to, jn->to_columns, jn->ncolumns);
    mr_strbuf_printf(&b, ",\"inferred\":%s,\"source\":\"%s\",\"join_key\":",
                     jn->source == MR_SQL_JOIN_INFERRED ? "true" : "false",
                     source_name(jn->source));
    sql_json_str(&b, key);
    mr_strbuf_puts(&b, "}");
    out->metadata_json = mr_strbuf_take(&b);
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
    struct mr_strbuf b = {0};
    mr_strbuf_puts(&b, "{\"dialect\":");
    sql_json_str(&b, mr_sql_dialect_name(s->dialect));
    mr_strbuf_puts(&b, ",\"schema_hash\":");
    sql_json_str(&b, s->hash);
    mr_strbuf_printf(&b, ",\"relationships\":%zu,\"tables\":[", s->njoins);
    for (size_t t = 0; t < s->ntables; t++) {
        mr_strbuf_puts(&b, t ? ",{" : "{");
        json_table_body(&b, s, t);
        mr_strbuf_puts(&b, "}");
    }
    mr_strbuf_puts(&b, "]}");
    return mr_strbuf_take(&b);
}

void mr_sql_render_example_join(enum mr_sql_dialect d, const struct mr_sql_equijoin *j,
                                struct mr_sql_rendered *out)
{
    struct mr_strbuf f = {0}, t = {0}, key = {0}, b = {0};
    mr_strbuf_printf(&f, "%s.%s", j->from.table, j->from.column);
    mr_strbuf_printf(&t, "%s.%s", j->to.table, j->to.column);
    mr_strbuf_printf(&b, "%s → %s", f.s, t.s);
    out->content = mr_strbuf_take(&b);
    mr_strbuf_printf(&key, "%s(%s)->%s(%s)", j->from.table, j->from.column, j->to.table,
                     j->to.column);
    if (d == MR_SQL_SQLITE) /* as mr_sql_join_key: SQLite's names have no case */
        for (char *p = key.s; *p; p++)
            if (*p >= 'A' && *p <= 'Z')
                *p = (char)(*p - 'A' + 'a');
    mr_strbuf_puts(&b, "{\"kind\":\"join\",\"from\":");
    sql_json_str(&b, f.s);
    mr_strbuf_puts(&b, ",\"to\":");
    sql_json_str(&b, t.s);
    mr_strbuf_puts(&b, ",\"from_table\":");
    sql_json_str(&b, j->from.table);
    mr_strbuf_puts(&b, ",\"from_columns\":[");
    sql_json_str(&b, j->from.column);
    mr_strbuf_puts(&b, "],\"to_table\":");
    sql_json_str(&b, j->to.table);
    mr_strbuf_puts(&b, ",\"to_columns\":[");
    sql_json_str(&b, j->to.column);
    mr_strbuf_puts(&b, "],\"inferred\":false,\"source\":\"example\",\"join_key\":");
    sql_json_str(&b, key.s);
    mr_strbuf_puts(&b, "}");
    out->metadata_json = mr_strbuf_take(&b);
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
