/*
 * pg_read.c — reading another PostgreSQL database than memori's own: the
 * live catalogue `memori schema import --from postgresql://…` describes
 * (DESIGN.md §9). This file only runs the caller's read-only queries and
 * hands over their rows as text: what to ask the catalogue and how a row
 * becomes a table is the SQL module's (src/sql/introspect.c), so libpq
 * stays behind this store's one private header (pg_int.h) and the SQL
 * module needs no store header.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg_int.h"

static void quiet(void *arg, const char *message)
{
    (void)arg, (void)message;
}

/* Fills err from a failed result (the server's message: the operator's own database). */
static int result_error(struct mr_err *err, const char *what, PGconn *pg, PGresult *res)
{
    const char *msg = res ? PQresultErrorMessage(res) : PQerrorMessage(pg);
    return mr_err_set(err, MR_EUNAVAIL, "%s: %.*s", what, (int)strcspn(msg, "\n"), msg);
}

int mr_store_pg_read(const char *url, const char *const *queries, size_t nqueries,
                     mr_store_row_fn row, void *arg, struct mr_err *err)
{
    char *conninfo = pg_conninfo_from_url(url), *redacted = pg_url_redacted(url);
    const char *const keys[] = {"dbname", "connect_timeout", "application_name", NULL};
    const char *const vals[] = {conninfo, "10", "memori schema import", NULL};
    PGconn *pg = PQconnectdbParams(keys, vals, 1);
    PGresult *res = NULL;
    char what[600];
    int rc = 0;
    snprintf(what, sizeof what, "reading %s", redacted);
    if (!pg || PQstatus(pg) != CONNECTION_OK) {
        rc = store_db_error(err, MR_EUNAVAIL, "postgresql", what,
                            "the database server is unreachable or refused the connection",
                            pg ? PQerrorMessage(pg) : "out of memory");
        goto out;
    }
    PQsetNoticeProcessor(pg, quiet, NULL);
    /* One snapshot for every query, and nothing written: it is someone else's database. */
    res = PQexec(pg, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        rc = result_error(err, what, pg, res);
        goto out;
    }
    for (size_t q = 0; q < nqueries && rc == 0; q++) {
        PQclear(res);
        res = PQexecParams(pg, queries[q], 0, NULL, NULL, NULL, NULL, 0);
        if (PQresultStatus(res) != PGRES_TUPLES_OK) {
            rc = result_error(err, what, pg, res);
            break;
        }
        int nrows = PQntuples(res), ncols = PQnfields(res);
        const char **v = mr_xcalloc((size_t)ncols + 1, sizeof *v);
        for (int r = 0; r < nrows && rc == 0; r++) {
            for (int c = 0; c < ncols; c++)
                v[c] = PQgetisnull(res, r, c) ? NULL : PQgetvalue(res, r, c);
            rc = row(arg, q, (size_t)ncols, v, err);
        }
        free(v);
    }
out:
    PQclear(res);
    PQfinish(pg); /* ends the read-only transaction */
    free(conninfo);
    free(redacted);
    return rc;
}
