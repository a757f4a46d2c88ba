/*
 * bench_context.c — schema linking for POST /api/context (issue 17,
 * docs/context.md): recall of the tables a gold query uses, on the
 * development schema and questions of tests/data/context/, for
 *   (a) BM25 top-k over table documents (name, description, columns and
 *       their descriptions; memori's tokenizer and lexical index),
 *   (b) memori's linking without the join tree (scores, seeds, fill),
 *   (c) linking with the join tree (seeds connected through bridges),
 *   (c+) (c) and the tables matched key columns refer to (the default),
 *   (d) (c+) without the examples' evidence,
 * in the same run, at max_tables 4, 6, 8 (the API's default) and 10; then
 * the time of one context assembly at a generated 1 000-table schema; then
 * the whole service call (mr_context_build, what POST /api/context does
 * below HTTP) at that schema imported into a SQLite store with 10 000
 * memories for the user, beside a search's (mr_memory_search) in the same
 * run: issue 17's target is context p99 <= 3 x search p99.
 *
 * The schema goes through the SQL module as an import would
 * (mr_sql_schema_from_specs: its foreign keys and the joins it infers from
 * names), then mr_ctx_schema_from_sql; the table documents are the table
 * memories' content (mr_sql_render_table); each example's tables and the
 * joins it makes that the schema does not declare (kind "example") come
 * from mr_sql_analyze of its SQL. The retrieval score (b)-(d) get is (a)'s
 * normalised BM25, standing in for the hybrid search the endpoint uses (so
 * the recall needs no embedder).
 *
 * usage: bench_context [DATA_DIR] [-v] [--sweep] [--no-service] [--model FILE]
 *   DATA_DIR: tests/data/context; -v lists the misses of (a), (b), (c+) at max_tables 8;
 *   --sweep: (c)'s recall over a grid of the linking constants, to show how
 *   flat the optimum around MR_CTX_LINK_DEFAULTS is (docs/context.md);
 *   --dump DIR: writes each question's whole prompt (no budget cut) to
 *   DIR/NN.txt with its token estimate in DIR/estimates.tsv, to check the
 *   estimate against a real tokenizer (docs/context.md, "Token estimate");
 *   --no-service skips the service measurement; --model FILE is the built-in
 *   model's file (models/memori-wordnet-v1.bin).
 */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "../src/api/api_int.h" /* api_decode_schema: the stored schema's reader the API hands over */
#include "memori/clock.h"
#include "memori/context.h"
#include "memori/embed.h"
#include "memori/index.h"
#include "memori/json.h"
#include "memori/lexical.h"
#include "memori/service.h"
#include "memori/sql.h"
#include "memori/store.h"
#include "memori/util.h"

#define MAX_Q 256
#define MAX_EX 256
#define EX_TOP 3    /* examples a context call takes (max_examples' default) */
#define CAND_TOP 50 /* table memories retrieval hands to linking */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* This thread's CPU time: what a call costs without the slices other processes take. */
static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *xmalloc(size_t n)
{
    void *p = calloc(1, n ? n : 1);
    if (!p) {
        fprintf(stderr, "bench_context: out of memory\n");
        exit(1);
    }
    return p;
}

static char *xstrdup(const char *s)
{
    char *p = strdup(s);
    if (!p)
        exit(1);
    return p;
}

static char *read_file(const char *path, size_t *out_len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        exit(1);
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = xmalloc((size_t)n + 1);
    if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
        perror(path);
        exit(1);
    }
    fclose(f);
    *out_len = (size_t)n;
    return buf;
}

/* ---- a schema the bench builds ----------------------------------------- */

struct schema {
    struct mr_ctx_table *tables;
    size_t nt, cap_t;
    struct mr_ctx_join *joins;
    size_t nj, cap_j;
    size_t ninferred, nexample;
    char **docs; /* per table: its document for BM25 */
};

static struct mr_ctx_join *add_join(struct schema *s)
{
    if (s->nj == s->cap_j) {
        s->cap_j = s->cap_j ? 2 * s->cap_j : 256;
        s->joins = realloc(s->joins, s->cap_j * sizeof *s->joins);
    }
    struct mr_ctx_join *j = &s->joins[s->nj++];
    memset(j, 0, sizeof *j);
    return j;
}

static void join_columns(struct mr_ctx_join *j, size_t n)
{
    j->ncolumns = n;
    j->from_columns = xmalloc(n * sizeof(size_t));
    j->to_columns = xmalloc(n * sizeof(size_t));
}

/* Each table's document, as a table memory's content reads (DESIGN.md §9). */
static void make_docs(struct schema *s)
{
    s->docs = xmalloc(s->nt * sizeof *s->docs);
    for (size_t t = 0; t < s->nt; t++) {
        const struct mr_ctx_table *tab = &s->tables[t];
        size_t cap = 256 + strlen(tab->name) + (tab->description ? strlen(tab->description) : 0);
        for (size_t c = 0; c < tab->ncolumns; c++)
            cap += 64 + strlen(tab->columns[c].name) + strlen(tab->columns[c].type) +
                   (tab->columns[c].description ? strlen(tab->columns[c].description) : 0);
        char *d = xmalloc(cap);
        size_t n = (size_t)snprintf(d, cap, "Table %s%s%s. Columns:", tab->name,
                                    tab->description ? " — " : "",
                                    tab->description ? tab->description : "");
        for (size_t c = 0; c < tab->ncolumns; c++) {
            const struct mr_ctx_column *col = &tab->columns[c];
            n += (size_t)snprintf(d + n, cap - n, "%s %s %s%s%s%s", c ? "," : "", col->name,
                                  col->type, col->primary_key ? " (primary key)" : "",
                                  col->description ? " — " : "",
                                  col->description ? col->description : "");
        }
        s->docs[t] = d;
    }
}

static const char *jstr(const struct mr_json *o, const char *key)
{
    return mr_json_string_value(mr_json_get(o, key));
}

/* The development schema: the SQL module's, and the context module's view of it. */
struct dev {
    struct mr_json *json;         /* the strings the specs borrow */
    struct mr_sql_schema *sql;    /* the strings the context schema borrows */
    struct mr_ctx_join extra[64]; /* joins learned from examples */
    size_t extra_cols[64][2];
    size_t nextra;
    struct mr_ctx_schema ctx;
    char **docs; /* per table: its memory's content */
};

static const char *const *json_names(const struct mr_json *a, size_t *out_n)
{
    *out_n = mr_json_size(a);
    const char **v = xmalloc(*out_n * sizeof *v);
    for (size_t i = 0; i < *out_n; i++)
        v[i] = mr_json_string_value(mr_json_at(a, i));
    return v;
}

/* tests/data/context/schema.json (DESIGN.md §9's tables form), imported as the endpoint would. */
static void load_schema(const char *path, struct dev *d)
{
    size_t len;
    char *text = read_file(path, &len);
    struct mr_json_error je;
    d->json = mr_json_parse(text, len, &je);
    free(text);
    if (!d->json) {
        fprintf(stderr, "%s: %s at %zu\n", path, je.text, je.position);
        exit(1);
    }
    struct mr_json *tables = mr_json_get(d->json, "tables");
    size_t nt = mr_json_size(tables);
    struct mr_sql_table_spec *specs = xmalloc(nt * sizeof *specs);
    for (size_t t = 0; t < nt; t++) {
        struct mr_json *jt = mr_json_at(tables, t), *cols = mr_json_get(jt, "columns");
        struct mr_json *fks = mr_json_get(jt, "foreign_keys");
        struct mr_sql_column_spec *c = xmalloc(mr_json_size(cols) * sizeof *c);
        for (size_t k = 0; k < mr_json_size(cols); k++) {
            struct mr_json *jc = mr_json_at(cols, k);
            c[k] = (struct mr_sql_column_spec){jstr(jc, "name"), jstr(jc, "type"),
                                               jstr(jc, "description"),
                                               mr_json_is_true(mr_json_get(jc, "primary_key")), -1};
        }
        struct mr_sql_fkey_spec *f = xmalloc(mr_json_size(fks) * sizeof *f);
        for (size_t k = 0; k < mr_json_size(fks); k++) {
            struct mr_json *fk = mr_json_at(fks, k), *ref = mr_json_get(fk, "references");
            f[k].columns = json_names(mr_json_get(fk, "columns"), &f[k].ncolumns);
            f[k].ref_table = jstr(ref, "table");
            f[k].ref_columns = json_names(mr_json_get(ref, "columns"), &f[k].nref_columns);
            f[k].source = MR_SQL_JOIN_DECLARED;
        }
        specs[t] = (struct mr_sql_table_spec){
            NULL, jstr(jt, "name"), jstr(jt, "description"), c, mr_json_size(cols),
            f,    mr_json_size(fks)};
    }
    struct mr_sql_diag diag;
    struct mr_err err;
    if (mr_sql_schema_from_specs(MR_SQL_POSTGRESQL, specs, nt, &d->sql, &diag, &err)) {
        fprintf(stderr, "%s: %s\n", path, err.msg);
        exit(1);
    }
    for (size_t t = 0; t < nt; t++) {
        for (size_t k = 0; k < specs[t].nforeign_keys; k++) {
            free((void *)specs[t].foreign_keys[k].columns);
            free((void *)specs[t].foreign_keys[k].ref_columns);
        }
        free((void *)specs[t].columns);
        free((void *)specs[t].foreign_keys);
    }
    free(specs);
    d->docs = xmalloc(d->sql->ntables * sizeof *d->docs);
    for (size_t t = 0; t < d->sql->ntables; t++) {
        struct mr_sql_rendered r;
        mr_sql_render_table(d->sql, t, &r);
        d->docs[t] = xstrdup(r.content);
        mr_sql_rendered_free(&r);
    }
}

/* Builds the context schema once the examples' joins are known. */
static void dev_context_schema(struct dev *d)
{
    struct mr_err err;
    if (mr_ctx_schema_from_sql(d->sql, NULL, NULL, d->extra, d->nextra, &d->ctx, &err)) {
        fprintf(stderr, "bench_context: %s\n", err.msg);
        exit(1);
    }
}

/* ---- questions and examples ---------------------------------------------- */

struct question {
    char *text;
    long gold[16];
    size_t ngold;
};

struct example {
    char *question, *sql;
    char *tables[16];
    size_t ntables;
};

/* Splits line at tabs into at most n fields (in place); returns the count. */
static size_t split_tabs(char *line, char **out, size_t n)
{
    size_t k = 0;
    char *p = line;
    while (k < n) {
        out[k++] = p;
        char *tab = strchr(p, '\t');
        if (!tab)
            break;
        *tab = '\0';
        p = tab + 1;
    }
    return k;
}

static size_t load_questions(const char *path, const struct dev *d, struct question *q)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        perror(path);
        exit(1);
    }
    char *line = NULL;
    size_t cap = 0, n = 0;
    while (getline(&line, &cap, f) > 0 && n < MAX_Q) {
        if (line[0] == '#' || line[0] == '\n')
            continue;
        line[strcspn(line, "\r\n")] = '\0';
        char *field[2];
        if (split_tabs(line, field, 2) != 2)
            continue;
        q[n].text = xstrdup(field[0]);
        q[n].ngold = 0;
        char *save = NULL;
        for (char *t = strtok_r(field[1], " ", &save); t && q[n].ngold < 16;
             t = strtok_r(NULL, " ", &save)) {
            long x = mr_sql_schema_find(d->sql, t);
            if (x < 0) {
                fprintf(stderr, "%s: unknown table %s\n", path, t);
                exit(1);
            }
            q[n].gold[q[n].ngold++] = x;
        }
        n++;
    }
    free(line);
    fclose(f);
    return n;
}

/*
 * Examples (question <TAB> SQL): their tables, and the joins they make that
 * the schema lacks (added to d as kind "example"), from mr_sql_analyze.
 */
static size_t load_examples(const char *path, struct dev *d, struct example *e)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        perror(path);
        exit(1);
    }
    char *line = NULL;
    size_t cap = 0, n = 0;
    while (getline(&line, &cap, f) > 0 && n < MAX_EX) {
        if (line[0] == '#' || line[0] == '\n')
            continue;
        line[strcspn(line, "\r\n")] = '\0';
        char *field[2] = {0};
        if (split_tabs(line, field, 2) < 2)
            continue;
        e[n].question = xstrdup(field[0]);
        e[n].sql = xstrdup(field[1]);
        struct mr_sql_analysis *a;
        struct mr_sql_diag diag;
        struct mr_err err;
        if (mr_sql_analyze(MR_SQL_POSTGRESQL, d->sql, e[n].sql, strlen(e[n].sql), &a, &diag,
                           &err)) {
            fprintf(stderr, "%s: example %zu: %s\n", path, n + 1, err.msg);
            exit(1);
        }
        e[n].ntables = 0;
        for (size_t k = 0; k < a->ntables && k < 16; k++)
            e[n].tables[e[n].ntables++] = xstrdup(a->tables[k]);
        for (size_t k = 0; k < a->njoins; k++) {
            const struct mr_sql_equijoin *j = &a->joins[k];
            if (j->schema_join >= 0 || d->nextra == 64)
                continue;
            long ta = mr_sql_schema_find(d->sql, j->from.table);
            long tb = mr_sql_schema_find(d->sql, j->to.table);
            long ca = ta >= 0 ? mr_sql_table_find_column(d->sql, (size_t)ta, j->from.column) : -1;
            long cb = tb >= 0 ? mr_sql_table_find_column(d->sql, (size_t)tb, j->to.column) : -1;
            if (ca < 0 || cb < 0)
                continue;
            bool seen = false; /* two examples may make the same join */
            for (size_t x = 0; x < d->nextra; x++)
                seen |= d->extra[x].from_table == (size_t)ta &&
                        d->extra[x].to_table == (size_t)tb && d->extra_cols[x][0] == (size_t)ca &&
                        d->extra_cols[x][1] == (size_t)cb;
            if (seen)
                continue;
            size_t x = d->nextra++;
            d->extra_cols[x][0] = (size_t)ca;
            d->extra_cols[x][1] = (size_t)cb;
            d->extra[x] = (struct mr_ctx_join){
                (size_t)ta,          (size_t)tb, &d->extra_cols[x][0], &d->extra_cols[x][1], 1,
                MR_CTX_JOIN_EXAMPLE, NULL};
        }
        mr_sql_analysis_free(a);
        n++;
    }
    free(line);
    fclose(f);
    return n;
}

/* ---- recall ---------------------------------------------------------------- */

struct tally {
    size_t all;
    double recall;
    double tables; /* tables returned, on average */
};

static void count(struct tally *t, const struct question *q, const size_t *got, size_t n)
{
    size_t hit = 0;
    for (size_t g = 0; g < q->ngold; g++)
        for (size_t i = 0; i < n; i++)
            if ((long)got[i] == q->gold[g]) {
                hit++;
                break;
            }
    t->all += hit == q->ngold;
    t->recall += (double)hit / (double)q->ngold;
    t->tables += (double)n;
}

static void print_misses(const struct mr_ctx_schema *s, const struct question *q, const size_t *got,
                         size_t n, const char *variant)
{
    bool first = true;
    for (size_t g = 0; g < q->ngold; g++) {
        bool found = false;
        for (size_t i = 0; i < n; i++)
            found |= (long)got[i] == q->gold[g];
        if (!found) {
            if (first)
                printf("  %s miss [%s]:", variant, q->text);
            first = false;
            printf(" %s", s->tables[q->gold[g]].name);
        }
    }
    if (!first) {
        printf("   got:");
        for (size_t i = 0; i < n; i++)
            printf(" %s", s->tables[got[i]].name);
        printf("\n");
    }
}

enum { V_BM25, V_LINK, V_BRIDGES, V_TREE, V_TREE_NOEX, NVARIANTS };
static const char *const variant_names[NVARIANTS] = {
    "(a) BM25 top-k over table documents",
    "(b) linking, no join tree",
    "(c) linking + join tree, bridges only",
    "(c+) linking + join tree + tables matched keys name (default)",
    "(d) = (c+) without the examples",
};

/* The variant's parameters: the defaults less what it leaves out. */
static struct mr_ctx_link_params variant_params(int v)
{
    struct mr_ctx_link_params p = MR_CTX_LINK_DEFAULTS;
    p.join_tree = v != V_LINK;
    p.key_tables = v == V_TREE || v == V_TREE_NOEX;
    return p;
}

/* The examples closest to the question, by BM25 over their questions. */
static size_t closest_examples(const struct mr_lex_index *ex_ix, const struct mr_lex_terms *terms,
                               const struct example *ex, struct mr_ctx_example *out)
{
    struct mr_lex_hit hits[EX_TOP];
    size_t n = mr_lex_index_search(ex_ix, terms, NULL, NULL, EX_TOP, hits, NULL);
    for (size_t i = 0; i < n; i++) {
        const struct example *e = &ex[hits[i].id];
        out[i] = (struct mr_ctx_example){
            NULL,      e->question, e->sql, hits[i].lexical, false, (const char *const *)e->tables,
            e->ntables};
    }
    return n;
}

static void recall_table(const struct mr_ctx_schema *s, const struct mr_ctx_index *ix,
                         const struct mr_lex_index *tab_ix, const struct mr_lex_index *ex_ix,
                         const struct question *q, size_t nq, const struct example *ex,
                         bool verbose)
{
    static const size_t budgets[] = {4, 6, 8, 10};
    enum { NB = sizeof budgets / sizeof budgets[0] };
    struct tally tally[NB][NVARIANTS];
    memset(tally, 0, sizeof tally);
    for (size_t b = 0; b < NB; b++) {
        size_t max_tables = budgets[b];
        bool show = verbose && max_tables == 8;
        for (size_t i = 0; i < nq; i++) {
            struct mr_lex_terms *terms = mr_lex_terms_new(q[i].text, strlen(q[i].text));
            struct mr_lex_hit hits[CAND_TOP];
            size_t nh = mr_lex_index_search(tab_ix, terms, NULL, NULL, CAND_TOP, hits, NULL);
            size_t got[64], n;

            n = nh < max_tables ? nh : max_tables;
            for (size_t k = 0; k < n; k++)
                got[k] = (size_t)hits[k].id;
            count(&tally[b][V_BM25], &q[i], got, n);
            if (show)
                print_misses(s, &q[i], got, n, "a");

            struct mr_ctx_candidate cand[CAND_TOP];
            for (size_t k = 0; k < nh; k++)
                cand[k] = (struct mr_ctx_candidate){(size_t)hits[k].id, hits[k].lexical};
            struct mr_ctx_example exs[EX_TOP];
            size_t nex = closest_examples(ex_ix, terms, ex, exs);
            for (int v = V_LINK; v < NVARIANTS; v++) {
                struct mr_ctx_link_params p = variant_params(v);
                struct mr_ctx_selection sel;
                mr_ctx_select(ix, q[i].text, strlen(q[i].text), cand, nh, exs,
                              v == V_TREE_NOEX ? 0 : nex, &p, max_tables, &sel, NULL);
                for (size_t k = 0; k < sel.ntables; k++)
                    got[k] = sel.tables[k].table;
                count(&tally[b][v], &q[i], got, sel.ntables);
                if (show && (v == V_LINK || v == V_TREE))
                    print_misses(s, &q[i], got, sel.ntables, v == V_LINK ? "b" : "c+");
                mr_ctx_selection_free(&sel);
            }
            mr_lex_terms_free(terms);
        }
    }
    printf("all gold tables within max_tables, of %zu questions (mean table recall):\n\n", nq);
    printf("| variant |");
    for (size_t b = 0; b < NB; b++)
        printf(" max_tables %zu |", budgets[b]);
    printf("\n|---|");
    for (size_t b = 0; b < NB; b++)
        printf("---|");
    printf("\n");
    for (int v = 0; v < NVARIANTS; v++) {
        printf("| %s |", variant_names[v]);
        for (size_t b = 0; b < NB; b++)
            printf(" %zu (%.0f %%), %.3f |", tally[b][v].all,
                   100.0 * (double)tally[b][v].all / (double)nq, tally[b][v].recall / (double)nq);
        printf("\n");
    }
}

/* (c)'s all-of-them counts at 8 and 10 tables, and mean recall at 8, for params p. */
static void score_params(const struct mr_ctx_index *ix, const struct mr_lex_index *tab_ix,
                         const struct mr_lex_index *ex_ix, const struct question *q, size_t nq,
                         const struct example *ex, const struct mr_ctx_link_params *p,
                         size_t out_all[2], double *out_recall8)
{
    static const size_t budgets[] = {8, 10};
    for (size_t b = 0; b < 2; b++) {
        struct tally t = {0};
        for (size_t i = 0; i < nq; i++) {
            struct mr_lex_terms *terms = mr_lex_terms_new(q[i].text, strlen(q[i].text));
            struct mr_lex_hit hits[CAND_TOP];
            size_t nh = mr_lex_index_search(tab_ix, terms, NULL, NULL, CAND_TOP, hits, NULL);
            struct mr_ctx_candidate cand[CAND_TOP];
            for (size_t k = 0; k < nh; k++)
                cand[k] = (struct mr_ctx_candidate){(size_t)hits[k].id, hits[k].lexical};
            struct mr_ctx_example exs[EX_TOP];
            size_t nex = closest_examples(ex_ix, terms, ex, exs);
            struct mr_ctx_selection sel;
            mr_ctx_select(ix, q[i].text, strlen(q[i].text), cand, nh, exs, nex, p, budgets[b], &sel,
                          NULL);
            size_t got[64];
            for (size_t k = 0; k < sel.ntables; k++)
                got[k] = sel.tables[k].table;
            count(&t, &q[i], got, sel.ntables);
            mr_ctx_selection_free(&sel);
            mr_lex_terms_free(terms);
        }
        out_all[b] = t.all;
        if (b == 0)
            *out_recall8 = t.recall / (double)nq;
    }
}

static void sweep(const struct mr_ctx_index *ix, const struct mr_lex_index *tab_ix,
                  const struct mr_lex_index *ex_ix, const struct question *q, size_t nq,
                  const struct example *ex)
{
    static const double w[][3] = {{0.4, 0.4, 0.2}, {0.3, 0.5, 0.2}, {0.5, 0.3, 0.2},
                                  {0.3, 0.4, 0.3}, {0.2, 0.6, 0.2}, {0.4, 0.5, 0.1}};
    static const size_t seeds[] = {2, 3, 4, 5, 6};
    static const double ratio[] = {0.3, 0.4, 0.5, 0.6, 0.7};
    static const double overlap[] = {0, 0.5, 0.7, 0.9};
    static const double abbr[] = {0, 0.3, 0.5, 0.7};
    size_t hist[64] = {0}, total = 0, best = 0, def_all[2];
    double def_recall;
    struct mr_ctx_link_params d = MR_CTX_LINK_DEFAULTS;
    score_params(ix, tab_ix, ex_ix, q, nq, ex, &d, def_all, &def_recall);
    printf("\nsweep of (c) around the defaults (all gold tables @8 / @10, mean recall @8):\n");
    printf("defaults: %zu / %zu, %.3f\n", def_all[0], def_all[1], def_recall);
    for (size_t a = 0; a < sizeof w / sizeof w[0]; a++)
        for (size_t b = 0; b < sizeof seeds / sizeof seeds[0]; b++)
            for (size_t c = 0; c < sizeof ratio / sizeof ratio[0]; c++)
                for (size_t e = 0; e < sizeof overlap / sizeof overlap[0]; e++)
                    for (size_t f = 0; f < sizeof abbr / sizeof abbr[0]; f++) {
                        struct mr_ctx_link_params p = MR_CTX_LINK_DEFAULTS;
                        p.w_retrieval = w[a][0];
                        p.w_evidence = w[a][1];
                        p.w_example = w[a][2];
                        p.max_seeds = seeds[b];
                        p.seed_ratio = ratio[c];
                        p.overlap = overlap[e];
                        p.abbreviation_weight = abbr[f];
                        size_t all[2];
                        double rec;
                        score_params(ix, tab_ix, ex_ix, q, nq, ex, &p, all, &rec);
                        hist[all[0]]++;
                        total++;
                        if (all[0] > best)
                            best = all[0];
                    }
    printf("%zu settings; all gold tables @8 reached by how many:", total);
    for (size_t k = 0; k <= best; k++)
        if (hist[k])
            printf(" %zu: %zu", k, hist[k]);
    printf("\n");
    /* One constant at a time, the others at their defaults. */
    printf("one at a time (@8 / @10):\n  max_seeds");
    for (size_t b = 0; b < sizeof seeds / sizeof seeds[0]; b++) {
        struct mr_ctx_link_params p = MR_CTX_LINK_DEFAULTS;
        p.max_seeds = seeds[b];
        size_t all[2];
        double rec;
        score_params(ix, tab_ix, ex_ix, q, nq, ex, &p, all, &rec);
        printf("  %zu: %zu/%zu", seeds[b], all[0], all[1]);
    }
    printf("\n  seed_ratio");
    for (size_t c = 0; c < sizeof ratio / sizeof ratio[0]; c++) {
        struct mr_ctx_link_params p = MR_CTX_LINK_DEFAULTS;
        p.seed_ratio = ratio[c];
        size_t all[2];
        double rec;
        score_params(ix, tab_ix, ex_ix, q, nq, ex, &p, all, &rec);
        printf("  %.1f: %zu/%zu", ratio[c], all[0], all[1]);
    }
    printf("\n  overlap");
    for (size_t e = 0; e < sizeof overlap / sizeof overlap[0]; e++) {
        struct mr_ctx_link_params p = MR_CTX_LINK_DEFAULTS;
        p.overlap = overlap[e];
        size_t all[2];
        double rec;
        score_params(ix, tab_ix, ex_ix, q, nq, ex, &p, all, &rec);
        printf("  %.1f: %zu/%zu", overlap[e], all[0], all[1]);
    }
    printf("\n  abbreviation_weight");
    for (size_t f = 0; f < sizeof abbr / sizeof abbr[0]; f++) {
        struct mr_ctx_link_params p = MR_CTX_LINK_DEFAULTS;
        p.abbreviation_weight = abbr[f];
        size_t all[2];
        double rec;
        score_params(ix, tab_ix, ex_ix, q, nq, ex, &p, all, &rec);
        printf("  %.1f: %zu/%zu", abbr[f], all[0], all[1]);
    }
    printf("\n  weights (retrieval, evidence, example)");
    for (size_t a = 0; a < sizeof w / sizeof w[0]; a++) {
        struct mr_ctx_link_params p = MR_CTX_LINK_DEFAULTS;
        p.w_retrieval = w[a][0];
        p.w_evidence = w[a][1];
        p.w_example = w[a][2];
        size_t all[2];
        double rec;
        score_params(ix, tab_ix, ex_ix, q, nq, ex, &p, all, &rec);
        printf("  (%.1f %.1f %.1f): %zu/%zu", w[a][0], w[a][1], w[a][2], all[0], all[1]);
    }
    struct mr_ctx_link_params p = MR_CTX_LINK_DEFAULTS;
    p.key_tables = false;
    size_t all[2];
    double rec;
    score_params(ix, tab_ix, ex_ix, q, nq, ex, &p, all, &rec);
    printf("\n  key_tables off: %zu/%zu", all[0], all[1]);
    p = (struct mr_ctx_link_params)MR_CTX_LINK_DEFAULTS;
    for (size_t h = 2; h <= 6; h++) {
        p.max_hops = h;
        score_params(ix, tab_ix, ex_ix, q, nq, ex, &p, all, &rec);
        printf("  max_hops %zu: %zu/%zu", h, all[0], all[1]);
    }
    printf("\n");
}

/* Every question's prompt, uncut, with rules and a recent turn of ordinary prose. */
static void dump(const struct mr_ctx_index *ix, const struct mr_lex_index *tab_ix,
                 const struct mr_lex_index *ex_ix, const struct question *q, size_t nq,
                 const struct example *ex, const char *dir)
{
    static const struct mr_ctx_rule rules[] = {
        {NULL, "Always use explicit JOIN ... ON syntax, never comma joins or subqueries in FROM.",
         0.9, true},
        {NULL, "Amounts are in euros unless the column says otherwise; round money to 2 decimals.",
         0.6, false},
        {NULL, "The fiscal year starts on 1 April.", 0.5, false},
    };
    static const struct mr_ctx_recent recent[] = {
        {NULL, "The user wanted the same report for the previous quarter, split by month.",
         "short_term", "2026-11-30T10:00:00Z"},
    };
    char path[1024];
    snprintf(path, sizeof path, "%s/estimates.tsv", dir);
    FILE *est = fopen(path, "w");
    if (!est) {
        perror(path);
        exit(1);
    }
    for (size_t i = 0; i < nq; i++) {
        struct mr_lex_terms *terms = mr_lex_terms_new(q[i].text, strlen(q[i].text));
        struct mr_lex_hit hits[CAND_TOP];
        size_t nh = mr_lex_index_search(tab_ix, terms, NULL, NULL, CAND_TOP, hits, NULL);
        struct mr_ctx_candidate cand[CAND_TOP];
        for (size_t k = 0; k < nh; k++)
            cand[k] = (struct mr_ctx_candidate){(size_t)hits[k].id, hits[k].lexical};
        struct mr_ctx_example exs[EX_TOP];
        size_t nex = closest_examples(ex_ix, terms, ex, exs);
        mr_lex_terms_free(terms);
        struct mr_ctx_request req = {
            q[i].text, strlen(q[i].text), cand, nh, exs, nex, rules, 3, recent, 1, 100000, 8, NULL};
        struct mr_ctx_result *r;
        struct mr_err err;
        if (mr_ctx_assemble(ix, &req, &r, &err)) {
            fprintf(stderr, "bench_context: %s\n", err.msg);
            exit(1);
        }
        snprintf(path, sizeof path, "%s/%02zu.txt", dir, i);
        FILE *f = fopen(path, "w");
        if (!f || fwrite(r->prompt, 1, r->prompt_len, f) != r->prompt_len) {
            perror(path);
            exit(1);
        }
        fclose(f);
        fprintf(est, "%02zu.txt\t%zu\t%zu\n", i, r->prompt_len, r->token_estimate);
        mr_ctx_result_free(r);
    }
    fclose(est);
    printf("\nprompts of %zu questions written to %s\n", nq, dir);
}

/* ---- a generated 1 000-table schema, for latency -------------------------- */

static const char *const syll[] = {"ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "ze", "pa",
                                   "do", "fe", "gu", "hi", "ja", "be", "co", "xi", "yu", "wa"};

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* Word w of a vocabulary of 8 000 pseudo-words of 2-3 syllables. */
static void word(size_t w, char *out, size_t cap)
{
    size_t a = w % 20, b = (w / 20) % 20, c = w / 400;
    if (c == 0)
        snprintf(out, cap, "%s%s", syll[a], syll[b]);
    else
        snprintf(out, cap, "%s%s%s", syll[a], syll[b], syll[c % 20]);
}

static void generated_schema(struct schema *s, size_t ntables, size_t ncols)
{
    s->nt = ntables;
    s->tables = xmalloc(ntables * sizeof *s->tables);
    char w1[32], w2[32], buf[256];
    for (size_t t = 0; t < ntables; t++) {
        struct mr_ctx_table *tab = &s->tables[t];
        word(next_rand() % 8000, w1, sizeof w1);
        word(next_rand() % 8000, w2, sizeof w2);
        snprintf(buf, sizeof buf, "%s_%s_%zu", t % 5 ? "dim" : "fct", w1, t);
        tab->name = xstrdup(buf);
        snprintf(buf, sizeof buf, "%s of %s and %s", w1, w2, t % 2 ? "stock" : "orders");
        tab->description = xstrdup(buf);
        tab->ncolumns = ncols;
        struct mr_ctx_column *c = xmalloc(ncols * sizeof *c);
        for (size_t k = 0; k < ncols; k++) {
            word(next_rand() % 8000, w1, sizeof w1);
            word(next_rand() % 8000, w2, sizeof w2);
            snprintf(buf, sizeof buf, k == 0 ? "%s_key" : "%s_%s", w1, w2);
            c[k].name = xstrdup(buf);
            c[k].type = k % 3 ? "text" : "integer";
            c[k].primary_key = k == 0;
            if (k % 4 == 1) {
                snprintf(buf, sizeof buf, "the %s %s", w2, w1);
                c[k].description = xstrdup(buf);
            }
        }
        tab->columns = c;
    }
    /* Areas of 20 tables: each table refers to 2-6 others of its area, one in ten elsewhere. */
    for (size_t t = 0; t < ntables; t++) {
        size_t nk = 2 + next_rand() % 5;
        for (size_t k = 0; k < nk; k++) {
            size_t area = t / 20 * 20, to;
            if (next_rand() % 10 == 0)
                to = next_rand() % ntables;
            else
                to = area + next_rand() % 20;
            if (to >= ntables || to == t)
                continue;
            struct mr_ctx_join *j = add_join(s);
            j->from_table = t;
            j->to_table = to;
            join_columns(j, 1);
            ((size_t *)j->from_columns)[0] = 1 + k;
            ((size_t *)j->to_columns)[0] = 0;
            j->kind = next_rand() % 3 ? MR_CTX_JOIN_DECLARED : MR_CTX_JOIN_INFERRED;
        }
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void latency(size_t ntables)
{
    struct schema s = {0};
    generated_schema(&s, ntables, 16);
    make_docs(&s);
    struct mr_ctx_schema cs = {s.tables, s.nt, s.joins, s.nj};
    struct mr_ctx_index *ix;
    struct mr_err err;
    double t0 = now_s();
    if (mr_ctx_index_new(&cs, &ix, &err)) {
        fprintf(stderr, "bench_context: %s\n", err.msg);
        exit(1);
    }
    double build = now_s() - t0;
    struct mr_lex_index *tab_ix = mr_lex_index_new();
    for (size_t t = 0; t < s.nt; t++)
        mr_lex_index_put(tab_ix, (int64_t)t, s.docs[t], strlen(s.docs[t]));

    /* Rules, examples and recent turns of realistic sizes around the tables. */
    struct mr_ctx_rule rules[10];
    for (size_t i = 0; i < 10; i++)
        rules[i] = (struct mr_ctx_rule){"00000000-0000-4000-8000-000000000000",
                                        "Always qualify columns with their table alias and never "
                                        "use SELECT * in production queries.",
                                        1.0 - 0.05 * (double)i, i < 2};
    struct mr_ctx_recent recent[5];
    for (size_t i = 0; i < 5; i++)
        recent[i] = (struct mr_ctx_recent){NULL, "The user asked for the same figures by month.",
                                           "short_term", "2026-11-30T10:00:00Z"};

    enum { RUNS = 300 };
    double *ta = xmalloc(RUNS * sizeof *ta), *tc = xmalloc(RUNS * sizeof *tc);
    double *tu = xmalloc(RUNS * sizeof *tu);
    size_t tokens = 0, tables = 0;
    char q[512], w1[32];
    for (int r = 0; r < RUNS; r++) {
        /* A question of words from three tables' names and columns. */
        size_t n = 0;
        for (int k = 0; k < 3; k++) {
            const struct mr_ctx_table *t = &s.tables[next_rand() % s.nt];
            const char *nm = t->columns[1 + next_rand() % (t->ncolumns - 1)].name;
            n += (size_t)snprintf(q + n, sizeof q - n, "%s%s", k ? " and " : "total ", nm);
        }
        word(next_rand() % 8000, w1, sizeof w1);
        snprintf(q + n, sizeof q - n, " per %s", w1);

        double c0 = now_s();
        struct mr_lex_terms *terms = mr_lex_terms_new(q, strlen(q));
        struct mr_lex_hit hits[CAND_TOP];
        size_t nh = mr_lex_index_search(tab_ix, terms, NULL, NULL, CAND_TOP, hits, NULL);
        mr_lex_terms_free(terms);
        tc[r] = now_s() - c0;
        struct mr_ctx_candidate cand[CAND_TOP];
        for (size_t k = 0; k < nh; k++)
            cand[k] = (struct mr_ctx_candidate){(size_t)hits[k].id, hits[k].lexical};
        const char *tabs[] = {s.tables[hits[0].id].name, s.tables[hits[nh > 1].id].name};
        struct mr_ctx_example exs[3];
        for (size_t k = 0; k < 3; k++)
            exs[k] = (struct mr_ctx_example){NULL,
                                             "total per month",
                                             "SELECT a.x, sum(b.y) FROM a JOIN b ON b.k = a.k "
                                             "GROUP BY a.x",
                                             0.5 - 0.1 * (double)k,
                                             k == 0,
                                             tabs,
                                             2};
        struct mr_ctx_request req = {q,  strlen(q), cand, nh,   exs, 3,   rules,
                                     10, recent,    5,    2000, 8,   NULL};
        struct mr_ctx_result *res;
        double a0 = now_s(), u0 = cpu_s();
        if (mr_ctx_assemble(ix, &req, &res, &err)) {
            fprintf(stderr, "bench_context: %s\n", err.msg);
            exit(1);
        }
        tu[r] = cpu_s() - u0;
        ta[r] = now_s() - a0;
        tokens += res->token_estimate;
        tables += res->ntables;
        mr_ctx_result_free(res);
    }
    qsort(ta, RUNS, sizeof *ta, cmp_double);
    qsort(tc, RUNS, sizeof *tc, cmp_double);
    qsort(tu, RUNS, sizeof *tu, cmp_double);
    printf("\n| generated schema | joins | index build | BM25 candidates p50 / p99 | context "
           "assembly p50 / p99 (wall) | p50 / p99 (CPU) | tables, tokens (mean) |\n"
           "|---|---|---|---|---|---|---|\n");
    printf("| %zu tables x 16 columns | %zu | %.1f ms | %.3f / %.3f ms | %.3f / %.3f ms | %.3f / "
           "%.3f ms | %.1f, %.0f |\n",
           s.nt, s.nj, build * 1e3, tc[RUNS / 2] * 1e3, tc[RUNS * 99 / 100] * 1e3,
           ta[RUNS / 2] * 1e3, ta[RUNS * 99 / 100] * 1e3, tu[RUNS / 2] * 1e3,
           tu[RUNS * 99 / 100] * 1e3, (double)tables / RUNS, (double)tokens / RUNS);
    free(ta);
    free(tc);
    free(tu);
    mr_lex_index_destroy(tab_ix);
    mr_ctx_index_free(ix);
}

/* ---- the service call at 1 000 tables and 10 000 memories ------------------ */

static int read_schema(const char *json, size_t len, struct mr_sql_schema **out, struct mr_err *err)
{
    int status;
    char *body = NULL;
    if (api_decode_schema(json, len, out, &status, &body) == 0)
        return 0;
    free(body);
    return mr_err_set(err, MR_EINTERNAL, "the stored schema does not read back");
}

static void die(const char *what, const struct mr_err *err)
{
    fprintf(stderr, "bench_context: %s: %s\n", what, err->msg);
    exit(1);
}

/* The generated schema as the SQL module's (its joins as foreign keys). */
static struct mr_sql_schema *sql_of(const struct schema *s)
{
    struct mr_sql_table_spec *specs = xmalloc(s->nt * sizeof *specs);
    for (size_t t = 0; t < s->nt; t++) {
        const struct mr_ctx_table *tab = &s->tables[t];
        struct mr_sql_column_spec *cols = xmalloc(tab->ncolumns * sizeof *cols);
        for (size_t c = 0; c < tab->ncolumns; c++)
            cols[c] = (struct mr_sql_column_spec){tab->columns[c].name, tab->columns[c].type,
                                                  tab->columns[c].description,
                                                  tab->columns[c].primary_key, -1};
        size_t nfk = 0;
        for (size_t j = 0; j < s->nj; j++)
            nfk += s->joins[j].from_table == t;
        struct mr_sql_fkey_spec *fks = xmalloc((nfk + 1) * sizeof *fks);
        size_t k = 0;
        for (size_t j = 0; j < s->nj; j++) {
            const struct mr_ctx_join *jn = &s->joins[j];
            if (jn->from_table != t)
                continue;
            const char **fc = xmalloc(sizeof *fc), **tc = xmalloc(sizeof *tc);
            fc[0] = tab->columns[jn->from_columns[0]].name;
            tc[0] = s->tables[jn->to_table].columns[jn->to_columns[0]].name;
            fks[k++] = (struct mr_sql_fkey_spec){fc, 1, s->tables[jn->to_table].name,
                                                 tc, 1, MR_SQL_JOIN_DECLARED};
        }
        specs[t] = (struct mr_sql_table_spec){
            NULL, tab->name, tab->description, cols, tab->ncolumns, fks, k};
    }
    struct mr_sql_schema *out;
    struct mr_sql_diag diag = {0};
    struct mr_err err;
    if (mr_sql_schema_from_specs(MR_SQL_POSTGRESQL, specs, s->nt, &out, &diag, &err))
        die("generated schema", &err);
    for (size_t t = 0; t < s->nt; t++) {
        for (size_t k = 0; k < specs[t].nforeign_keys; k++) {
            free((void *)specs[t].foreign_keys[k].columns);
            free((void *)specs[t].foreign_keys[k].ref_columns);
        }
        free((void *)specs[t].columns);
        free((void *)specs[t].foreign_keys);
    }
    free(specs);
    return out;
}

/* A question of words from three tables' columns, as latency() asks. */
static void question(const struct schema *s, char *q, size_t cap)
{
    char w1[32];
    size_t n = 0;
    for (int k = 0; k < 3; k++) {
        const struct mr_ctx_table *t = &s->tables[next_rand() % s->nt];
        const char *nm = t->columns[1 + next_rand() % (t->ncolumns - 1)].name;
        n += (size_t)snprintf(q + n, cap - n, "%s%s", k ? " and " : "total ", nm);
    }
    word(next_rand() % 8000, w1, sizeof w1);
    snprintf(q + n, cap - n, " per %s", w1);
}

static void service_latency(const char *model_path)
{
    enum {
        MEMORIES = 10000,
        RULES = 20,
        PINNED = 2,
        TURNS = 50,
        EXAMPLES = 30,
        OTHER_CONVERSATIONS = 99,
        RUNS = 300
    };
    struct mr_err err;
    char dir[] = "/tmp/bench-context-XXXXXX", path[256];
    if (!mkdtemp(dir)) {
        perror("bench_context: mkdtemp");
        exit(1);
    }
    snprintf(path, sizeof path, "%s/memori.db", dir);
    struct mr_embed_spec spec = {.provider = MR_PROVIDER_BUILTIN, .model_path = model_path};
    struct mr_embedder *e = mr_embed_open(&spec, &err);
    if (!e)
        die("embedder", &err);
    struct mr_store *st = mr_store_sqlite_open(path, 2, &err);
    if (!st)
        die("store", &err);
    struct mr_embed_thresholds th =
        mr_embed_default_thresholds(MR_PROVIDER_BUILTIN, mr_embed_name(e));
    struct mr_index *ix = mr_index_new(mr_embed_dim(e));
    struct mr_service *svc = mr_service_new(&(struct mr_service_config){
        .store = st,
        .embedder = e,
        .index = ix,
        .short_term_expiry_days = 7,
        .archive_threshold_days = 30,
        .default_limit = 10,
        .default_min_similarity = th.hybrid,
        .lexical_weight = mr_embed_default_lexical_weight(MR_PROVIDER_BUILTIN, mr_embed_name(e)),
        .semantic_min_similarity = th.semantic,
        .lexical_min_similarity = th.lexical,
    });
    const struct mr_identity who = {"bench", "default"};

    struct schema s = {0};
    rng = 0x2545F4914F6CDD1Dull;
    generated_schema(&s, 1000, 16);
    struct mr_sql_schema *sql = sql_of(&s);
    struct mr_schema_summary sum;
    double t0 = now_s();
    if (mr_schema_put(svc, &who, 1, sql, &sum, &err))
        die("schema import", &err);
    double import_s = now_s() - t0;
    mr_schema_summary_clear(&sum);

    struct mr_conversation_create cc = {.has_data_source_id = true, .data_source_id = 1};
    struct mr_conversation conv;
    if (mr_conversation_create(svc, &who, &cc, &conv, &err))
        die("conversation", &err);
    char text[512], w1[32], w2[32], w3[32];
    static char others[OTHER_CONVERSATIONS][MR_UUID_LEN];
    for (int i = 0; i < OTHER_CONVERSATIONS; i++)
        mr_uuid_v4(others[i]);
    t0 = now_s();
    for (int i = 0; i < MEMORIES - EXAMPLES; i++) {
        word(next_rand() % 8000, w1, sizeof w1);
        word(next_rand() % 8000, w2, sizeof w2);
        word(next_rand() % 8000, w3, sizeof w3);
        enum mr_memory_type type = i < RULES           ? MR_RULE
                                   : i < RULES + TURNS ? MR_SHORT_TERM
                                   : i % 2             ? MR_LONG_TERM
                                                       : MR_ENTITY;
        if (type == MR_RULE)
            snprintf(text, sizeof text,
                     "Always filter %s by %s and report %s in EUR, never with SELECT *.", w1, w2,
                     w3);
        else if (type == MR_SHORT_TERM)
            snprintf(text, sizeof text, "The user asked for %s per %s, then about %s.", w1, w2, w3);
        else
            snprintf(text, sizeof text, "The team calls %s the %s of %s; see the wiki.", w1, w2,
                     w3);
        struct mr_memory_create in = {.content = text,
                                      .content_len = strlen(text),
                                      .memory_type = type,
                                      .importance_score = 0.5,
                                      .metadata = i < PINNED ? "{\"pinned\":true}" : NULL,
                                      .expires_at = MR_NO_TIME};
        /* The context's conversation holds the rules and the turns; the rest are spread over
         * the user's other conversations (a realistic conversation is short). */
        if (i < RULES + TURNS)
            memcpy(in.conversation_id, conv.conversation_id, MR_UUID_LEN);
        else
            memcpy(in.conversation_id, others[i % OTHER_CONVERSATIONS], MR_UUID_LEN);
        struct mr_memory m;
        if (mr_memory_create(svc, &who, &in, &m, &err))
            die("memory", &err);
        mr_memory_clear(&m);
    }
    /* Examples: each a join of the schema, as an assistant would store them. */
    for (int i = 0; i < EXAMPLES; i++) {
        const struct mr_sql_join *j = &sql->joins[next_rand() % sql->njoins];
        const struct mr_sql_table *f = &sql->tables[j->from_table], *t = &sql->tables[j->to_table];
        char q[256], x[512];
        snprintf(q, sizeof q, "count of %s per %s", f->columns[2].name, t->columns[1].name);
        snprintf(x, sizeof x, "SELECT t.%s, count(*) FROM %s f JOIN %s t ON t.%s = f.%s GROUP BY 1",
                 t->columns[1].name, f->qualified, t->qualified, t->columns[j->to_columns[0]].name,
                 f->columns[j->from_columns[0]].name);
        struct mr_sql_analysis *an;
        struct mr_sql_diag diag = {0};
        if (mr_sql_analyze(MR_SQL_POSTGRESQL, sql, x, strlen(x), &an, &diag, &err))
            die("example SQL", &err);
        struct mr_example_create in = {.question = q,
                                       .question_len = strlen(q),
                                       .sql = x,
                                       .sql_len = strlen(x),
                                       .data_source_id = 1,
                                       .has_conversation_id = true,
                                       .verified = i % 3 == 0,
                                       .schema = sql,
                                       .analysis = an};
        memcpy(in.conversation_id, conv.conversation_id, MR_UUID_LEN);
        struct mr_memory m;
        bool created;
        if (mr_example_create(svc, &who, &in, &m, &created, &err))
            die("example", &err);
        mr_memory_clear(&m);
        mr_sql_analysis_free(an);
    }
    double fill_s = now_s() - t0;

    struct mr_context_request cr = {.conversation_id = conv.conversation_id,
                                    .token_budget = 2000,
                                    .max_tables = 8,
                                    .max_examples = 3,
                                    .max_rules = 10,
                                    .read_schema = read_schema};
    struct mr_context out;
    char q[512];
    question(&s, q, sizeof q);
    cr.question = q;
    cr.question_len = strlen(q);
    t0 = now_s();
    if (mr_context_build(svc, &who, &cr, &out, &err))
        die("context", &err);
    double cold = now_s() - t0;
    mr_context_clear(&out);

    double *ts = xmalloc(RUNS * sizeof *ts), *tx = xmalloc(RUNS * sizeof *tx);
    size_t tokens = 0, tables = 0, rules = 0;
    for (int r = 0; r < RUNS; r++) {
        question(&s, q, sizeof q);
        struct mr_search sq = {.query = q, .query_len = strlen(q), .limit = 10};
        struct mr_search_results res;
        double a = now_s();
        if (mr_memory_search(svc, &who, &sq, &res, &err))
            die("search", &err);
        ts[r] = now_s() - a;
        mr_search_results_clear(&res);
        cr.question = q;
        cr.question_len = strlen(q);
        a = now_s();
        if (mr_context_build(svc, &who, &cr, &out, &err))
            die("context", &err);
        tx[r] = now_s() - a;
        tokens += out.result->token_estimate;
        tables += out.result->ntables;
        rules += out.result->nrules;
        mr_context_clear(&out);
    }
    qsort(ts, RUNS, sizeof *ts, cmp_double);
    qsort(tx, RUNS, sizeof *tx, cmp_double);
    double sp99 = ts[RUNS * 99 / 100], cp99 = tx[RUNS * 99 / 100];
    printf("\nservice call (SQLite, in-process index, %s): 1 000 tables (%zu joins), %d memories "
           "for the user in %d conversations (the context's: %d rules, %d pinned, %d turns; %d "
           "examples); import %.1f s, memories %.1f s\n",
           mr_embed_name(e), sql->njoins, MEMORIES, OTHER_CONVERSATIONS + 1, RULES, PINNED, TURNS,
           EXAMPLES, import_s, fill_s);
    printf("\n| call | p50 | p99 | first call (index built) | tables, rules, tokens (mean) |\n"
           "|---|---|---|---|---|\n");
    printf("| search (limit 10) | %.2f ms | %.2f ms | | |\n", ts[RUNS / 2] * 1e3, sp99 * 1e3);
    printf("| context (8 tables, 2 000 tokens) | %.2f ms | %.2f ms | %.1f ms | %.1f, %.1f, %.0f "
           "|\n",
           tx[RUNS / 2] * 1e3, cp99 * 1e3, cold * 1e3, (double)tables / RUNS, (double)rules / RUNS,
           (double)tokens / RUNS);
    printf("\ncontext p99 / search p99 = %.2f (target <= 3); p50 / p50 = %.2f\n", cp99 / sp99,
           tx[RUNS / 2] / ts[RUNS / 2]);
    free(ts);
    free(tx);
    mr_conversation_clear(&conv);
    mr_sql_schema_free(sql);
    mr_service_free(svc);
    mr_index_destroy(ix);
    mr_store_close(st);
    mr_embed_destroy(e);
    unlink(path);
    snprintf(path, sizeof path, "%s/memori.db-wal", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/memori.db-shm", dir);
    unlink(path);
    rmdir(dir);
}

int main(int argc, char **argv)
{
    const char *dir = "tests/data/context";
    bool verbose = false, do_sweep = false, service = true;
    const char *dump_dir = NULL, *model = "models/memori-wordnet-v1.bin";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-v") == 0)
            verbose = true;
        else if (strcmp(argv[i], "--sweep") == 0)
            do_sweep = true;
        else if (strcmp(argv[i], "--dump") == 0 && i + 1 < argc)
            dump_dir = argv[++i];
        else if (strcmp(argv[i], "--no-service") == 0)
            service = false;
        else if (strcmp(argv[i], "--model") == 0 && i + 1 < argc)
            model = argv[++i];
        else
            dir = argv[i];
    }
    char path[1024];
    static struct dev d;
    snprintf(path, sizeof path, "%s/schema.json", dir);
    load_schema(path, &d);
    static struct question q[MAX_Q];
    static struct example ex[MAX_EX];
    snprintf(path, sizeof path, "%s/examples.tsv", dir);
    size_t nex = load_examples(path, &d, ex);
    snprintf(path, sizeof path, "%s/questions.tsv", dir);
    size_t nq = load_questions(path, &d, q);
    dev_context_schema(&d);

    struct mr_ctx_index *ix;
    struct mr_err err;
    if (mr_ctx_index_new(&d.ctx, &ix, &err)) {
        fprintf(stderr, "bench_context: %s\n", err.msg);
        return 1;
    }
    struct mr_lex_index *tab_ix = mr_lex_index_new(), *ex_ix = mr_lex_index_new();
    for (size_t t = 0; t < d.ctx.ntables; t++)
        mr_lex_index_put(tab_ix, (int64_t)t, d.docs[t], strlen(d.docs[t]));
    for (size_t i = 0; i < nex; i++)
        mr_lex_index_put(ex_ix, (int64_t)i, ex[i].question, strlen(ex[i].question));
    double gold = 0;
    for (size_t i = 0; i < nq; i++)
        gold += (double)q[i].ngold;
    size_t declared = 0, inferred = 0;
    for (size_t j = 0; j < d.sql->njoins; j++)
        *(d.sql->joins[j].source == MR_SQL_JOIN_INFERRED ? &inferred : &declared) += 1;
    printf("development schema: %zu tables, %zu joins (%zu declared, %zu inferred from names by "
           "the SQL module, %zu from examples' SQL); %zu questions, %.1f gold tables each; %zu "
           "examples\n\n",
           d.ctx.ntables, d.ctx.njoins, declared, inferred, d.nextra, nq, gold / (double)nq, nex);
    recall_table(&d.ctx, ix, tab_ix, ex_ix, q, nq, ex, verbose);
    if (do_sweep)
        sweep(ix, tab_ix, ex_ix, q, nq, ex);
    if (dump_dir)
        dump(ix, tab_ix, ex_ix, q, nq, ex, dump_dir);
    mr_lex_index_destroy(tab_ix);
    mr_lex_index_destroy(ex_ix);
    mr_ctx_index_free(ix);
    mr_ctx_schema_release(&d.ctx);
    mr_sql_schema_free(d.sql);
    mr_json_free(d.json);

    latency(1000);
    if (service)
        service_latency(model);
    return 0;
}
