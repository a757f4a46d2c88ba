/*
 * test_context_fixture.h — hand-made schemas for the context module's tests: tables
 * with a few columns, joins by column name, all in static arrays.
 */
#ifndef MEMORI_TEST_CONTEXT_FIXTURE_H
#define MEMORI_TEST_CONTEXT_FIXTURE_H

#include <stdlib.h>
#include <string.h>

#include "memori/context.h"

#define FX_TABLES 64
#define FX_COLUMNS 32
#define FX_JOINS 128

struct fx {
    struct mr_ctx_table tables[FX_TABLES];
    struct mr_ctx_column cols[FX_TABLES][FX_COLUMNS];
    struct mr_ctx_join joins[FX_JOINS];
    size_t from_col[FX_JOINS][2], to_col[FX_JOINS][2];
    size_t nt, nj;
    struct mr_ctx_schema schema;
    struct mr_ctx_index *ix;
};

/*
 * Adds a table with columns given as "name type, name2 type2, ...": a name
 * ending in '*' is a primary key column; "#text" after a column is its
 * description (up to the next comma). Returns its index.
 */
static inline size_t fx_table(struct fx *f, const char *name, const char *desc, const char *columns)
{
    size_t t = f->nt++;
    f->tables[t].name = name;
    f->tables[t].description = desc;
    f->tables[t].columns = f->cols[t];
    char *spec = strdup(columns ? columns : "id*");
    size_t n = 0;
    char *save = NULL;
    for (char *p = strtok_r(spec, ",", &save); p && n < FX_COLUMNS;
         p = strtok_r(NULL, ",", &save)) {
        while (*p == ' ')
            p++;
        struct mr_ctx_column *c = &f->cols[t][n++];
        memset(c, 0, sizeof *c);
        char *hash = strchr(p, '#');
        if (hash) {
            *hash = '\0';
            c->description = strdup(hash + 1);
        }
        char *sp = strchr(p, ' ');
        if (sp) {
            *sp = '\0';
            char *ty = sp + 1;
            while (*ty == ' ')
                ty++;
            size_t tl = strlen(ty);
            while (tl && ty[tl - 1] == ' ')
                ty[--tl] = '\0';
            c->type = strdup(ty);
        } else
            c->type = "";
        size_t l = strlen(p);
        if (l && p[l - 1] == '*') {
            p[l - 1] = '\0';
            c->primary_key = true;
        }
        c->name = strdup(p);
    }
    f->tables[t].ncolumns = n;
    free(spec);
    return t;
}

static inline long fx_column(const struct fx *f, size_t t, const char *name)
{
    for (size_t c = 0; c < f->tables[t].ncolumns; c++)
        if (strcmp(f->cols[t][c].name, name) == 0)
            return (long)c;
    return -1;
}

/* a.ac = b.bc (columns by name; NULL: the first column of each). Returns the join's index. */
static inline size_t fx_join(struct fx *f, size_t a, const char *ac, size_t b, const char *bc,
                             enum mr_ctx_join_kind kind)
{
    size_t j = f->nj++;
    f->from_col[j][0] = ac ? (size_t)fx_column(f, a, ac) : 0;
    f->to_col[j][0] = bc ? (size_t)fx_column(f, b, bc) : 0;
    f->joins[j] = (struct mr_ctx_join){a, b, f->from_col[j], f->to_col[j], 1, kind, NULL};
    return j;
}

static inline int fx_build(struct fx *f)
{
    f->schema = (struct mr_ctx_schema){f->tables, f->nt, f->joins, f->nj};
    struct mr_err err;
    return mr_ctx_index_new(&f->schema, &f->ix, &err);
}

static inline void fx_free(struct fx *f)
{
    mr_ctx_index_free(f->ix);
    for (size_t t = 0; t < f->nt; t++)
        for (size_t c = 0; c < f->tables[t].ncolumns; c++) {
            free((char *)f->cols[t][c].name);
            if (f->cols[t][c].type && *f->cols[t][c].type)
                free((char *)f->cols[t][c].type);
            free((char *)f->cols[t][c].description);
        }
    memset(f, 0, sizeof *f);
}

/* Index of table name in f (the test's own lookup, not the index's). */
static inline size_t fx_t(const struct fx *f, const char *name)
{
    for (size_t t = 0; t < f->nt; t++)
        if (strcmp(f->tables[t].name, name) == 0)
            return t;
    return (size_t)-1;
}

#endif
