/*
 * pg_store.c — the server store: PostgreSQL through libpq, opened and
 * closed here (see pg_int.h for the files that do the rest).
 */
#include <stdio.h>
#include <stdlib.h>

#include "pg_int.h"

void pg_close(struct mr_store *base)
{
    struct pg_store *s = (struct pg_store *)base;
    store_pool_destroy(&s->pool);
    free(s->conninfo);
    free(s->redacted);
    free(s);
}

struct mr_store *mr_store_postgres_open_with(const char *url,
                                             const struct mr_store_pool_config *pool, int ef_search,
                                             struct mr_err *err)
{
    struct pg_store *s = mr_xcalloc(1, sizeof *s);
    s->base.ops = &pg_store_ops;
    s->conninfo = pg_conninfo_from_url(url);
    s->redacted = pg_url_redacted(url);
    s->ef_search = ef_search;
    store_pool_init(&s->pool, &pg_pool_ops, s, pool);

    /*
     * The first connection migrates the schema, then prepares and joins the
     * pool. Its messages name the database (password masked): they are the
     * operator's, at start-up, where a client's never name it.
     */
    char what[600];
    snprintf(what, sizeof what, "connecting to %s", s->redacted);
    struct pconn *c = pg_conn_open(s, what, true, err);
    if (!c) {
        pg_close(&s->base);
        return NULL;
    }
    store_pool_add(&s->pool, c);
    return &s->base;
}
