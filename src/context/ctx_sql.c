/*
 * ctx_sql.c — the context module's schema from the SQL module's
 * (context.h, mr_ctx_schema_from_sql): the same tables, columns and joins,
 * by index, strings borrowed, so the service builds the index of a stored
 * schema without copying text.
 */
#include <stdlib.h>
#include <string.h>

#include "memori/context.h"
#include "memori/sql.h"
#include "memori/util.h"

static enum mr_ctx_join_kind kind_of(enum mr_sql_join_source s)
{
    switch (s) {
    case MR_SQL_JOIN_INFERRED:
        return MR_CTX_JOIN_INFERRED;
    case MR_SQL_JOIN_EXAMPLE:
        return MR_CTX_JOIN_EXAMPLE;
    case MR_SQL_JOIN_DECLARED:
        break;
    }
    return MR_CTX_JOIN_DECLARED;
}

int mr_ctx_schema_from_sql(const struct mr_sql_schema *s, const char *const *table_memory_ids,
                           const char *const *join_memory_ids, const struct mr_ctx_join *extra,
                           size_t nextra, struct mr_ctx_schema *out, struct mr_err *err)
{
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < nextra; i++)
        if (extra[i].from_table >= s->ntables || extra[i].to_table >= s->ntables)
            return mr_err_set(err, MR_EINVAL, "schema: extra join %zu: table out of range", i);
    struct mr_ctx_table *tables = mr_xcalloc(s->ntables ? s->ntables : 1, sizeof *tables);
    for (size_t t = 0; t < s->ntables; t++) {
        const struct mr_sql_table *st = &s->tables[t];
        struct mr_ctx_column *cols = mr_xcalloc(st->ncolumns ? st->ncolumns : 1, sizeof *cols);
        for (size_t c = 0; c < st->ncolumns; c++)
            cols[c] =
                (struct mr_ctx_column){st->columns[c].name, st->columns[c].type,
                                       st->columns[c].description, st->columns[c].primary_key};
        tables[t] =
            (struct mr_ctx_table){st->qualified, table_memory_ids ? table_memory_ids[t] : NULL,
                                  st->description, cols, st->ncolumns};
    }
    size_t nj = s->njoins + nextra;
    struct mr_ctx_join *joins = mr_xcalloc(nj ? nj : 1, sizeof *joins);
    for (size_t j = 0; j < s->njoins; j++) {
        const struct mr_sql_join *x = &s->joins[j];
        joins[j] = (struct mr_ctx_join){x->from_table,
                                        x->to_table,
                                        x->from_columns,
                                        x->to_columns,
                                        x->ncolumns,
                                        kind_of(x->source),
                                        join_memory_ids ? join_memory_ids[j] : NULL};
    }
    if (nextra) /* extra may be NULL then, and memcpy's pointers must not be */
        memcpy(joins + s->njoins, extra, nextra * sizeof *extra);
    *out = (struct mr_ctx_schema){tables, s->ntables, joins, nj};
    return 0;
}

void mr_ctx_schema_release(struct mr_ctx_schema *s)
{
    if (!s)
        return;
    for (size_t t = 0; t < s->ntables; t++)
        free((void *)s->tables[t].columns);
    free((void *)s->tables);
    free((void *)s->joins);
    memset(s, 0, sizeof *s);
}
