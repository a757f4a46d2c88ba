/*
 * ctx_pack.c — the prompt (context.h, docs/context.md "Prompt"): sections
 * rendered line by line, each item's token estimate known on its own (the
 * estimate is additive over lines), items cut in the documented order until
 * the sum fits the budget, then put back, most important first, where they
 * still fit; and the result §10's JSON is encoded from.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "context_int.h"
#include "memori/util.h"

#define NONE SIZE_MAX

/* ---- the token estimate -------------------------------------------------- */

static bool is_letter(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* An ASCII symbol: not a letter, digit, space, tab or line break. */
static bool is_symbol(unsigned char c)
{
    return c < 0x80 && !is_letter(c) && !is_digit(c) && c != ' ' && c != '\t' && c != '\n';
}

/*
 * Calibrated against cl100k and o200k on the development prompts and on
 * prose (docs/context.md): a BPE token is about a common word, however long,
 * two symbols ("_id", ");"), three digits.
 */
size_t mr_ctx_token_estimate(const char *text, size_t len)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t tokens = 0, i = 0;
    while (i < len) {
        unsigned char c = s[i];
        size_t j = i + 1;
        if (is_letter(c)) {
            while (j < len && is_letter(s[j]))
                j++;
            tokens += (j - i + 6) / 7;
        } else if (is_digit(c)) {
            while (j < len && is_digit(s[j]))
                j++;
            tokens += (j - i + 2) / 3;
        } else if (is_symbol(c)) {
            while (j < len && is_symbol(s[j]))
                j++;
            tokens += (j - i + 1) / 2;
        } else if (c == '\n' || c >= 0xC0 || (c >= 0x80 && c < 0xC0 && (i == 0 || s[i - 1] < 0x80)))
            tokens++; /* a line break; a character beyond ASCII (a stray continuation byte too) */
        i = j;
    }
    return tokens;
}

/* ---- strings ------------------------------------------------------------- */

struct sbuf {
    char *s;
    size_t n, cap;
};

static void sb_add(struct sbuf *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (b->n + n + 1 > cap)
            cap *= 2;
        b->s = mr_xrealloc(b->s, cap);
        b->cap = cap;
    }
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = '\0';
}

static void sb_str(struct sbuf *b, const char *s)
{
    sb_add(b, s, strlen(s));
}

/* s on one line: every run of whitespace or control bytes becomes one space, ends trimmed. */
static void sb_line(struct sbuf *b, const char *s)
{
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    bool any = false;
    while (*p) {
        while (*p && (*p <= ' ' || *p == 0x7F))
            p++;
        const unsigned char *q = p;
        while (*q && *q > ' ' && *q != 0x7F)
            q++;
        if (q == p)
            break;
        if (any)
            sb_add(b, " ", 1);
        sb_add(b, (const char *)p, (size_t)(q - p));
        any = true;
        p = q;
    }
}

/* A description inside a comment: on one line, and unable to close the comment. */
static void sb_comment(struct sbuf *b, const char *s)
{
    struct sbuf tmp = {0};
    sb_line(&tmp, s);
    for (size_t i = 0; i < tmp.n; i++) {
        sb_add(b, tmp.s + i, 1);
        if (tmp.s[i] == '*' && i + 1 < tmp.n && tmp.s[i + 1] == '/')
            sb_add(b, " ", 1);
    }
    free(tmp.s);
}

/* SQL as written, less carriage returns, trailing spaces of lines and blank lines. */
static void sb_sql(struct sbuf *b, const char *sql)
{
    const char *p = sql ? sql : "";
    bool first = true;
    while (*p) {
        const char *e = p;
        while (*e && *e != '\n')
            e++;
        const char *end = e;
        while (end > p && (unsigned char)end[-1] <= ' ')
            end--;
        const char *start = p;
        while (start < end && (*start == ' ' || *start == '\t'))
            start++;
        if (start < end) {
            if (!first)
                sb_add(b, "\n     ", 6); /* continuation lines under "SQL: " */
            sb_add(b, first ? start : p, (size_t)(end - (first ? start : p)));
            first = false;
        }
        p = *e ? e + 1 : e;
    }
}

struct mr_ctx_arena {
    char **p;
    size_t n, cap;
};

static const char *arena_dup(struct mr_ctx_arena *a, const char *s)
{
    if (!s)
        return NULL;
    if (a->n == a->cap) {
        a->cap = a->cap ? 2 * a->cap : 64;
        a->p = mr_xrealloc(a->p, a->cap * sizeof *a->p);
    }
    return a->p[a->n++] = mr_xstrdup(s);
}

static const char *arena_take(struct mr_ctx_arena *a, char *s)
{
    if (a->n == a->cap) {
        a->cap = a->cap ? 2 * a->cap : 64;
        a->p = mr_xrealloc(a->p, a->cap * sizeof *a->p);
    }
    return a->p[a->n++] = s;
}

/* ---- rendering ----------------------------------------------------------- */

enum { SEC_RULES, SEC_TABLES, SEC_EXAMPLES, SEC_RECENT, NSECTIONS };

static const char *const headings[NSECTIONS] = {
    "## Rules\n",
    "## Tables\n",
    "## Examples\n",
    "## Recent conversation (latest first)\n",
};

static void render_rule(struct sbuf *b, const struct mr_ctx_rule *r)
{
    sb_str(b, "- ");
    sb_line(b, r->content);
    sb_str(b, "\n");
}

static void render_example(struct sbuf *b, const struct mr_ctx_example *e)
{
    sb_str(b, "Q: ");
    sb_line(b, e->question);
    sb_str(b, "\nSQL: ");
    sb_sql(b, e->sql);
    sb_str(b, "\n");
}

static void render_recent(struct sbuf *b, const struct mr_ctx_recent *r)
{
    sb_str(b, "- ");
    sb_line(b, r->content);
    sb_str(b, "\n");
}

/* The CREATE TABLE-like line of table t showing the columns keep marks. */
static void render_table(struct sbuf *b, const struct mr_ctx_table *t, const bool *keep,
                         size_t omitted)
{
    sb_str(b, "CREATE TABLE ");
    sb_line(b, t->name);
    sb_str(b, " (");
    size_t npk = 0, shown = 0;
    for (size_t c = 0; c < t->ncolumns; c++)
        if (keep[c] && t->columns[c].primary_key)
            npk++;
    for (size_t c = 0; c < t->ncolumns; c++) {
        const struct mr_ctx_column *col = &t->columns[c];
        if (!keep[c])
            continue;
        if (shown++)
            sb_str(b, ", ");
        sb_line(b, col->name);
        if (col->type && *col->type) {
            sb_str(b, " ");
            sb_line(b, col->type);
        }
        if (col->primary_key && npk == 1)
            sb_str(b, " PRIMARY KEY");
        if (col->description && *col->description) {
            sb_str(b, " /* ");
            sb_comment(b, col->description);
            sb_str(b, " */");
        }
    }
    if (npk > 1) {
        sb_str(b, shown ? ", PRIMARY KEY (" : "PRIMARY KEY (");
        size_t k = 0;
        for (size_t c = 0; c < t->ncolumns; c++)
            if (keep[c] && t->columns[c].primary_key) {
                if (k++)
                    sb_str(b, ", ");
                sb_line(b, t->columns[c].name);
            }
        sb_str(b, ")");
        shown++;
    }
    if (omitted) {
        char note[64];
        snprintf(note, sizeof note, "%s/* %zu more column%s */", shown ? ", " : "", omitted,
                 omitted == 1 ? "" : "s");
        sb_str(b, note);
    }
    sb_str(b, ");");
    if (t->description && *t->description) {
        sb_str(b, " -- ");
        sb_line(b, t->description);
    }
    sb_str(b, "\n");
}

/* "t.a" or "t.a, t.b" for the columns of one side of a join. */
static void render_side(struct sbuf *b, const struct mr_ctx_table *t, const size_t *cols, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (i)
            sb_str(b, ", ");
        sb_line(b, t->name);
        sb_str(b, ".");
        sb_line(b, t->columns[cols[i]].name);
    }
}

static void render_join(struct sbuf *b, const struct mr_ctx_schema *s, const struct mr_ctx_join *j)
{
    const struct mr_ctx_table *from = &s->tables[j->from_table], *to = &s->tables[j->to_table];
    sb_str(b, "  -- join: ");
    for (size_t i = 0; i < j->ncolumns; i++) {
        if (i)
            sb_str(b, " AND ");
        render_side(b, from, &j->from_columns[i], 1);
        sb_str(b, " = ");
        render_side(b, to, &j->to_columns[i], 1);
    }
    if (j->kind == MR_CTX_JOIN_INFERRED)
        sb_str(b, " (inferred from names)");
    else if (j->kind == MR_CTX_JOIN_EXAMPLE)
        sb_str(b, " (learned from examples)");
    sb_str(b, "\n");
}

static size_t cost_of(const struct sbuf *b)
{
    return mr_ctx_token_estimate(b->s ? b->s : "", b->n);
}

/* ---- packing ------------------------------------------------------------- */

/* One item of the prompt: what it is, its score, its cost and whether it is in. */
struct unit {
    int section;
    size_t pos; /* its place in the section */
    double score;
    size_t cost;
    bool kept;
    bool pinned;  /* a pinned rule */
    bool in_tree; /* a table of the join forest */
};

struct pack {
    const struct mr_ctx_index *ix;
    const struct mr_ctx_selection *sel;
    const struct mr_ctx_rule **rules;
    const struct mr_ctx_example **examples;
    const struct mr_ctx_recent *recent;
    struct unit *units; /* rules, tables, examples, recent: in prompt order */
    size_t nunits;
    size_t first[NSECTIONS + 1]; /* the section's first unit */
    bool **keep;                 /* per table of the selection: columns shown */
    size_t *omitted;
    /* Joins of the selection whose two tables are in it: unit indices and cost. */
    size_t njoins;
    size_t *join_sel; /* index into sel->joins */
    size_t *join_a, *join_b;
    size_t *join_cost;
    size_t *join_under; /* the table unit the join line follows: the later of its two */
};

static size_t total(const struct pack *p)
{
    size_t sum = 0;
    for (int s = 0; s < NSECTIONS; s++) {
        bool any = false;
        for (size_t u = p->first[s]; u < p->first[s + 1]; u++)
            if (p->units[u].kept) {
                sum += p->units[u].cost;
                any = true;
            }
        if (any)
            sum += mr_ctx_token_estimate(headings[s], strlen(headings[s]));
    }
    for (size_t j = 0; j < p->njoins; j++)
        if (p->units[p->join_a[j]].kept && p->units[p->join_b[j]].kept)
            sum += p->join_cost[j];
    return sum;
}

static const struct mr_ctx_table *table_of(const struct pack *p, size_t i)
{
    return &p->ix->schema.tables[p->sel->tables[i].table];
}

static size_t table_cost(const struct pack *p, size_t i)
{
    struct sbuf b = {0};
    render_table(&b, table_of(p, i), p->keep[i], p->omitted[i]);
    size_t c = cost_of(&b);
    free(b.s);
    return c;
}

/* The order items are cut in: by score, ties the later in the prompt first. */
static int cmp_cut(const void *a, const void *b)
{
    const struct unit *x = *(const struct unit *const *)a, *y = *(const struct unit *const *)b;
    if (x->score != y->score)
        return x->score < y->score ? -1 : 1;
    if (x->section != y->section)
        return x->section > y->section ? -1 : 1;
    return x->pos > y->pos ? -1 : x->pos < y->pos;
}

static int cmp_rule(const void *a, const void *b)
{
    const struct mr_ctx_rule *x = *(const struct mr_ctx_rule *const *)a,
                             *y = *(const struct mr_ctx_rule *const *)b;
    if (x->pinned != y->pinned)
        return x->pinned ? -1 : 1;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return x < y ? -1 : x > y; /* the caller's order: pointers into one array */
}

static int cmp_example(const void *a, const void *b)
{
    const struct mr_ctx_example *x = *(const struct mr_ctx_example *const *)a,
                                *y = *(const struct mr_ctx_example *const *)b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    if (x->verified != y->verified)
        return x->verified ? -1 : 1;
    return x < y ? -1 : x > y;
}

/* A cut, for putting back: which unit, in which phase of the cutting order. */
struct cut {
    size_t unit;
    int phase;
};

struct cut_log {
    struct cut *v;
    size_t n, cap;
};

/* Cuts units (in the order given) while over budget; each cut is logged with its phase. */
static bool cut_while_over(struct pack *p, struct unit **order, size_t n, size_t budget,
                           size_t *sum, struct cut_log *log, int phase)
{
    bool cut = false;
    for (size_t k = 0; k < n && (*sum > budget); k++) {
        if (!order[k]->kept)
            continue;
        order[k]->kept = false;
        if (log->n == log->cap) {
            log->cap = log->cap ? 2 * log->cap : 32;
            log->v = mr_xrealloc(log->v, log->cap * sizeof *log->v);
        }
        log->v[log->n++] = (struct cut){(size_t)(order[k] - p->units), phase};
        *sum = total(p);
        cut = true;
    }
    return cut;
}

static bool column_kept_always(const struct pack *p, size_t i, size_t c)
{
    const struct mr_ctx_table *t = table_of(p, i);
    if (t->columns[c].primary_key || p->sel->tables[i].matched_columns[c])
        return true;
    size_t tab = p->sel->tables[i].table;
    for (size_t k = 0; k < p->sel->njoins; k++) {
        const struct mr_ctx_join *j = &p->ix->schema.joins[p->sel->joins[k]];
        for (size_t x = 0; x < j->ncolumns; x++)
            if ((j->from_table == tab && j->from_columns[x] == c) ||
                (j->to_table == tab && j->to_columns[x] == c))
                return true;
    }
    return false;
}

/* Trims the unmatched columns of wide tables, lowest-scored first, while over budget. */
static bool trim_wide(struct pack *p, size_t budget, size_t *sum)
{
    size_t nt = p->first[SEC_TABLES + 1] - p->first[SEC_TABLES];
    struct unit **order = mr_xmalloc((nt ? nt : 1) * sizeof *order);
    size_t n = 0;
    for (size_t i = 0; i < nt; i++) {
        struct unit *u = &p->units[p->first[SEC_TABLES] + i];
        if (u->kept && table_of(p, i)->ncolumns > MR_CTX_WIDE_COLUMNS)
            order[n++] = u;
    }
    qsort(order, n, sizeof *order, cmp_cut);
    bool cut = false;
    for (size_t k = 0; k < n && (*sum > budget); k++) {
        size_t i = order[k]->pos;
        const struct mr_ctx_table *t = table_of(p, i);
        size_t dropped = 0;
        for (size_t c = 0; c < t->ncolumns; c++)
            if (p->keep[i][c] && !column_kept_always(p, i, c)) {
                p->keep[i][c] = false;
                dropped++;
            }
        if (!dropped)
            continue;
        p->omitted[i] += dropped;
        order[k]->cost = table_cost(p, i);
        *sum = total(p);
        cut = true;
    }
    free(order);
    return cut;
}

static void pack_free(struct pack *p)
{
    size_t nt = p->sel ? p->sel->ntables : 0;
    for (size_t i = 0; i < nt; i++)
        free(p->keep[i]);
    free(p->keep);
    free(p->omitted);
    free(p->units);
    free(p->rules);
    free(p->examples);
    free(p->join_sel);
    free(p->join_a);
    free(p->join_b);
    free(p->join_cost);
    free(p->join_under);
}

/* The prompt of the kept units; joins follow the later of their two tables. */
static char *render_prompt(const struct pack *p, size_t *out_len)
{
    struct sbuf b = {0};
    sb_add(&b, "", 0);
    for (int s = 0; s < NSECTIONS; s++) {
        bool any = false;
        for (size_t u = p->first[s]; u < p->first[s + 1]; u++)
            any |= p->units[u].kept;
        if (!any)
            continue;
        sb_str(&b, headings[s]);
        for (size_t u = p->first[s]; u < p->first[s + 1]; u++) {
            if (!p->units[u].kept)
                continue;
            size_t i = p->units[u].pos;
            switch (s) {
            case SEC_RULES:
                render_rule(&b, p->rules[i]);
                break;
            case SEC_TABLES:
                render_table(&b, table_of(p, i), p->keep[i], p->omitted[i]);
                for (size_t j = 0; j < p->njoins; j++)
                    if (p->join_under[j] == u && p->units[p->join_a[j]].kept &&
                        p->units[p->join_b[j]].kept)
                        render_join(&b, &p->ix->schema, &p->ix->schema.joins[p->join_sel[j]]);
                break;
            case SEC_EXAMPLES:
                render_example(&b, p->examples[i]);
                break;
            default:
                render_recent(&b, &p->recent[i]);
                break;
            }
        }
    }
    *out_len = b.n;
    return b.s;
}

static char *join_side_text(const struct mr_ctx_table *t, const size_t *cols, size_t n)
{
    struct sbuf b = {0};
    sb_add(&b, "", 0);
    render_side(&b, t, cols, n);
    return b.s;
}

static void fill_result(const struct pack *p, struct mr_ctx_result *r)
{
    struct mr_ctx_arena *a = r->priv;
    size_t cap;

    cap = p->first[SEC_RULES + 1] - p->first[SEC_RULES];
    r->rules = mr_xcalloc(cap ? cap : 1, sizeof *r->rules);
    for (size_t u = p->first[SEC_RULES]; u < p->first[SEC_RULES + 1]; u++)
        if (p->units[u].kept) {
            const struct mr_ctx_rule *x = p->rules[p->units[u].pos];
            r->rules[r->nrules++] = (struct mr_ctx_rule){
                arena_dup(a, x->memory_id), arena_dup(a, x->content), x->score, x->pinned};
        }

    cap = p->first[SEC_TABLES + 1] - p->first[SEC_TABLES];
    r->tables = mr_xcalloc(cap ? cap : 1, sizeof *r->tables);
    for (size_t u = p->first[SEC_TABLES]; u < p->first[SEC_TABLES + 1]; u++) {
        if (!p->units[u].kept)
            continue;
        size_t i = p->units[u].pos;
        const struct mr_ctx_table *t = table_of(p, i);
        struct mr_ctx_table_out *o = &r->tables[r->ntables++];
        o->name = arena_dup(a, t->name);
        o->memory_id = arena_dup(a, t->memory_id);
        o->score = p->sel->tables[i].score;
        o->reason = p->sel->tables[i].reason;
        size_t nk = 0;
        for (size_t c = 0; c < t->ncolumns; c++)
            nk += p->keep[i][c];
        struct mr_ctx_column *cols = mr_xcalloc(nk ? nk : 1, sizeof *cols);
        nk = 0;
        for (size_t c = 0; c < t->ncolumns; c++)
            if (p->keep[i][c])
                cols[nk++] = (struct mr_ctx_column){
                    arena_dup(a, t->columns[c].name),
                    arena_dup(a, t->columns[c].type ? t->columns[c].type : ""),
                    arena_dup(a, t->columns[c].description), t->columns[c].primary_key};
        arena_take(a, (char *)cols);
        o->columns = cols;
        o->ncolumns = nk;
        o->columns_omitted = p->omitted[i];
    }

    r->joins = mr_xcalloc(p->njoins ? p->njoins : 1, sizeof *r->joins);
    for (size_t j = 0; j < p->njoins; j++) {
        if (!p->units[p->join_a[j]].kept || !p->units[p->join_b[j]].kept)
            continue;
        const struct mr_ctx_join *x = &p->ix->schema.joins[p->join_sel[j]];
        const struct mr_ctx_schema *s = &p->ix->schema;
        r->joins[r->njoins++] = (struct mr_ctx_join_out){
            arena_take(a, join_side_text(&s->tables[x->from_table], x->from_columns, x->ncolumns)),
            arena_take(a, join_side_text(&s->tables[x->to_table], x->to_columns, x->ncolumns)),
            arena_dup(a, x->memory_id), x->kind, x->kind == MR_CTX_JOIN_INFERRED};
    }

    cap = p->first[SEC_EXAMPLES + 1] - p->first[SEC_EXAMPLES];
    r->examples = mr_xcalloc(cap ? cap : 1, sizeof *r->examples);
    for (size_t u = p->first[SEC_EXAMPLES]; u < p->first[SEC_EXAMPLES + 1]; u++)
        if (p->units[u].kept) {
            const struct mr_ctx_example *x = p->examples[p->units[u].pos];
            r->examples[r->nexamples++] = (struct mr_ctx_example){arena_dup(a, x->memory_id),
                                                                  arena_dup(a, x->question),
                                                                  arena_dup(a, x->sql),
                                                                  x->score,
                                                                  x->verified,
                                                                  NULL,
                                                                  0};
        }

    cap = p->first[SEC_RECENT + 1] - p->first[SEC_RECENT];
    r->recent = mr_xcalloc(cap ? cap : 1, sizeof *r->recent);
    for (size_t u = p->first[SEC_RECENT]; u < p->first[SEC_RECENT + 1]; u++)
        if (p->units[u].kept) {
            const struct mr_ctx_recent *x = &p->recent[p->units[u].pos];
            r->recent[r->nrecent++] =
                (struct mr_ctx_recent){arena_dup(a, x->memory_id), arena_dup(a, x->content),
                                       arena_dup(a, x->memory_type), arena_dup(a, x->created_at)};
        }
}

void mr_ctx_pack(const struct mr_ctx_index *ix, const struct mr_ctx_selection *sel,
                 const struct mr_ctx_rule *rules, size_t nrules,
                 const struct mr_ctx_example *examples, size_t nexamples,
                 const struct mr_ctx_recent *recent, size_t nrecent, size_t token_budget,
                 struct mr_ctx_result **out_result)
{
    if (!ix)
        sel = NULL;
    size_t ntables = sel ? sel->ntables : 0;
    struct pack p = {.ix = ix, .sel = sel, .recent = recent};
    p.rules = mr_xmalloc((nrules ? nrules : 1) * sizeof *p.rules);
    for (size_t i = 0; i < nrules; i++)
        p.rules[i] = &rules[i];
    qsort(p.rules, nrules, sizeof *p.rules, cmp_rule);
    p.examples = mr_xmalloc((nexamples ? nexamples : 1) * sizeof *p.examples);
    for (size_t i = 0; i < nexamples; i++)
        p.examples[i] = &examples[i];
    qsort(p.examples, nexamples, sizeof *p.examples, cmp_example);

    size_t count[NSECTIONS] = {nrules, ntables, nexamples, nrecent};
    p.nunits = nrules + ntables + nexamples + nrecent;
    p.units = mr_xcalloc(p.nunits ? p.nunits : 1, sizeof *p.units);
    p.first[0] = 0;
    for (int s = 0; s < NSECTIONS; s++)
        p.first[s + 1] = p.first[s] + count[s];
    p.keep = mr_xcalloc(ntables ? ntables : 1, sizeof *p.keep);
    p.omitted = mr_xcalloc(ntables ? ntables : 1, sizeof *p.omitted);

    struct sbuf b = {0};
    for (int s = 0; s < NSECTIONS; s++)
        for (size_t i = 0; i < count[s]; i++) {
            struct unit *u = &p.units[p.first[s] + i];
            u->section = s;
            u->pos = i;
            u->kept = true;
            b.n = 0;
            switch (s) {
            case SEC_RULES:
                u->score = p.rules[i]->score;
                u->pinned = p.rules[i]->pinned;
                render_rule(&b, p.rules[i]);
                u->cost = cost_of(&b);
                break;
            case SEC_TABLES: {
                size_t nc = table_of(&p, i)->ncolumns;
                p.keep[i] = mr_xmalloc((nc ? nc : 1) * sizeof *p.keep[i]);
                for (size_t c = 0; c < nc; c++)
                    p.keep[i][c] = true;
                u->score = sel->tables[i].score;
                u->in_tree = sel->tables[i].in_tree;
                u->cost = table_cost(&p, i);
                break;
            }
            case SEC_EXAMPLES:
                u->score = p.examples[i]->score;
                render_example(&b, p.examples[i]);
                u->cost = cost_of(&b);
                break;
            default:
                u->score = MR_CTX_RECENT_SCORE / (double)(i + 1);
                render_recent(&b, &recent[i]);
                u->cost = cost_of(&b);
                break;
            }
        }

    /* Joins between two tables of the selection, and the table line each follows. */
    size_t nsj = sel ? sel->njoins : 0;
    p.join_sel = mr_xmalloc((nsj ? nsj : 1) * sizeof *p.join_sel);
    p.join_a = mr_xmalloc((nsj ? nsj : 1) * sizeof *p.join_a);
    p.join_b = mr_xmalloc((nsj ? nsj : 1) * sizeof *p.join_b);
    p.join_cost = mr_xmalloc((nsj ? nsj : 1) * sizeof *p.join_cost);
    p.join_under = mr_xmalloc((nsj ? nsj : 1) * sizeof *p.join_under);
    for (size_t k = 0; k < nsj; k++) {
        const struct mr_ctx_join *j = &ix->schema.joins[sel->joins[k]];
        size_t a = NONE, c = NONE;
        for (size_t i = 0; i < ntables; i++) {
            if (sel->tables[i].table == j->from_table)
                a = p.first[SEC_TABLES] + i;
            if (sel->tables[i].table == j->to_table)
                c = p.first[SEC_TABLES] + i;
        }
        if (a == NONE || c == NONE || a == c)
            continue;
        b.n = 0;
        render_join(&b, &ix->schema, j);
        p.join_sel[p.njoins] = sel->joins[k];
        p.join_a[p.njoins] = a;
        p.join_b[p.njoins] = c;
        p.join_cost[p.njoins] = cost_of(&b);
        p.join_under[p.njoins] = a > c ? a : c;
        p.njoins++;
    }
    free(b.s);

    /* Cut in the documented order while over budget, logging each cut. */
    size_t sum = total(&p);
    bool truncated = false;
    struct cut_log log = {0};
    struct unit **order = mr_xmalloc((p.nunits ? p.nunits : 1) * sizeof *order);
    size_t n = 0;
    for (size_t u = 0; u < p.nunits; u++)
        if (!p.units[u].pinned && !p.units[u].in_tree)
            order[n++] = &p.units[u];
    qsort(order, n, sizeof *order, cmp_cut);
    truncated |= cut_while_over(&p, order, n, token_budget, &sum, &log, 1);
    truncated |= trim_wide(&p, token_budget, &sum);
    n = 0;
    for (size_t i = ntables; i-- > 0;) /* the forest, the last attached first */
        if (p.units[p.first[SEC_TABLES] + i].in_tree)
            order[n++] = &p.units[p.first[SEC_TABLES] + i];
    truncated |= cut_while_over(&p, order, n, token_budget, &sum, &log, 3);
    n = 0;
    for (size_t u = 0; u < p.nunits; u++)
        if (p.units[u].pinned)
            order[n++] = &p.units[u];
    qsort(order, n, sizeof *order, cmp_cut);
    truncated |= cut_while_over(&p, order, n, token_budget, &sum, &log, 4);
    free(order);

    /*
     * Put back what still fits, the last cut (the most important) first. An item that does not
     * fit may be passed over for a smaller one of its own phase, never for one of an earlier
     * phase: a pinned rule left out keeps every other item out.
     */
    int blocked = 0; /* the phase of the first item that did not fit, 0 while none */
    for (size_t k = log.n; k-- > 0;) {
        if (blocked && log.v[k].phase < blocked)
            break;
        struct unit *u = &p.units[log.v[k].unit];
        u->kept = true;
        size_t with = total(&p);
        if (with <= token_budget)
            sum = with;
        else {
            u->kept = false;
            blocked = log.v[k].phase;
        }
    }
    free(log.v);

    struct mr_ctx_result *r = mr_xcalloc(1, sizeof *r);
    r->priv = mr_xcalloc(1, sizeof *r->priv);
    r->prompt = render_prompt(&p, &r->prompt_len);
    r->token_estimate = mr_ctx_token_estimate(r->prompt, r->prompt_len);
    r->truncated = truncated;
    if (r->token_estimate != sum || r->token_estimate > token_budget) {
        /* The estimate is additive by construction; were it not, an empty prompt keeps the
         * budget rather than a prompt over it. */
        for (size_t u = 0; u < p.nunits; u++)
            p.units[u].kept = false;
        free(r->prompt);
        r->prompt = render_prompt(&p, &r->prompt_len);
        r->token_estimate = 0;
        r->truncated = true;
    }
    fill_result(&p, r);
    pack_free(&p);
    *out_result = r;
}

void mr_ctx_result_free(struct mr_ctx_result *r)
{
    if (!r)
        return;
    if (r->priv) {
        for (size_t i = 0; i < r->priv->n; i++)
            free(r->priv->p[i]);
        free(r->priv->p);
        free(r->priv);
    }
    free(r->rules);
    free(r->tables);
    free(r->joins);
    free(r->examples);
    free(r->recent);
    free(r->prompt);
    free(r);
}

/* ---- one call ------------------------------------------------------------ */

int mr_ctx_assemble(const struct mr_ctx_index *ix, const struct mr_ctx_request *req,
                    struct mr_ctx_result **out_result, struct mr_err *err)
{
    *out_result = NULL;
    if (!req->question && req->question_len)
        return mr_err_set(err, MR_EINVAL, "context: question missing");
    if (req->max_tables == 0)
        return mr_err_set(err, MR_EINVAL, "context: max_tables must be at least 1");
    if (ix)
        for (size_t i = 0; i < req->ncandidates; i++)
            if (req->candidates[i].table >= ix->n)
                return mr_err_set(err, MR_EINVAL, "context: candidate %zu: no such table", i);
    struct mr_ctx_selection sel = {0};
    if (ix)
        mr_ctx_select(ix, req->question, req->question_len, req->candidates, req->ncandidates,
                      req->examples, req->nexamples, req->params, req->max_tables, &sel, NULL);
    mr_ctx_pack(ix, ix ? &sel : NULL, req->rules, req->nrules, req->examples, req->nexamples,
                req->recent, req->nrecent, req->token_budget, out_result);
    mr_ctx_selection_free(&sel);
    return 0;
}
