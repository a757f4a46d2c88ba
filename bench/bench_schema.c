/*
 * bench_schema.c — schema import and example analysis (issue 16): a generated
 * schema of 1 000 tables and 20 000 columns (a declared key and a key by
 * name in most tables, comments on a tenth), as PostgreSQL DDL, SQLite DDL
 * and JSON specs; the time and memory to parse it, to diff a re-import with
 * one column changed, and to render every table and join memory; example
 * analyses per second in both dialects.
 * Baseline: building the same schema from specs (no parser), same run.
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "memori/sql.h"

#define TABLES 1000
#define COLS 20

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static size_t in_use(void)
{
    return mallinfo2().uordblks;
}

static long peak_kib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

static char *gen_ddl(enum mr_sql_dialect d, int changed)
{
    size_t cap = 8u << 20, n = 0;
    char *s = malloc(cap);
    for (int t = 0; t < TABLES; t++) {
        n += (size_t)snprintf(s + n, cap - n, "CREATE TABLE entity%04d (\n  id integer PRIMARY KEY",
                              t);
        if (t > 0)
            n += (size_t)snprintf(s + n, cap - n,
                                  ",\n  parent_ref integer REFERENCES entity%04d (id)", t / 2);
        if (t > 1)
            n += (size_t)snprintf(s + n, cap - n, ",\n  entity%04d_id integer", t - 1);
        for (int c = t > 1 ? 3 : t > 0 ? 2 : 1; c < COLS; c++)
            n += (size_t)snprintf(s + n, cap - n, ",\n  attribute_%02d %s%s", c,
                                  c % 3 == 0   ? "text"
                                  : c % 3 == 1 ? "numeric(12,2)"
                                               : "timestamp",
                                  t == 500 && c == 10 && changed ? " NOT NULL" : "");
        n += (size_t)snprintf(s + n, cap - n, "\n);\n");
        if (t % 10 == 0 && d == MR_SQL_POSTGRESQL)
            n += (size_t)snprintf(s + n, cap - n,
                                  "COMMENT ON TABLE entity%04d IS 'Entity number %d of the "
                                  "generated schema.';\n",
                                  t, t);
    }
    return s;
}

int main(void)
{
    struct mr_err err = {0};
    char *pg = gen_ddl(MR_SQL_POSTGRESQL, 0), *pg2 = gen_ddl(MR_SQL_POSTGRESQL, 1);
    char *lite = gen_ddl(MR_SQL_SQLITE, 0);
    struct mr_sql_schema *s = NULL, *s2 = NULL, *sl = NULL, *sp = NULL;

    size_t m0 = in_use();
    double t0 = now_s();
    if (mr_sql_parse_ddl(MR_SQL_POSTGRESQL, pg, strlen(pg), &s, NULL, &err)) {
        fprintf(stderr, "bench_schema: %s\n", err.msg);
        return 1;
    }
    double t_pg = now_s() - t0;
    size_t kept = in_use() - m0;
    long peak_after_pg = peak_kib();

    t0 = now_s();
    if (mr_sql_parse_ddl(MR_SQL_SQLITE, lite, strlen(lite), &sl, NULL, &err)) {
        fprintf(stderr, "bench_schema: %s\n", err.msg);
        return 1;
    }
    double t_lite = now_s() - t0;

    /* Specs of the same schema: what the JSON body gives after the codec. */
    struct mr_sql_table_spec *ts = calloc(s->ntables, sizeof *ts);
    struct mr_sql_column_spec *cs = calloc(s->ntables * COLS, sizeof *cs);
    struct mr_sql_fkey_spec *fs = calloc(s->njoins + 1, sizeof *fs);
    const char **names = calloc(s->njoins * 2 + 1, sizeof *names);
    size_t nc = 0, nf = 0;
    for (size_t t = 0; t < s->ntables; t++) {
        const struct mr_sql_table *tab = &s->tables[t];
        ts[t] = (struct mr_sql_table_spec){
            NULL, tab->name, tab->description, cs + nc, tab->ncolumns, fs + nf, 0};
        for (size_t c = 0; c < tab->ncolumns; c++)
            cs[nc++] = (struct mr_sql_column_spec){tab->columns[c].name, tab->columns[c].type, NULL,
                                                   tab->columns[c].primary_key, -1};
        for (size_t k = 0; k < tab->njoins; k++) {
            const struct mr_sql_join *j = &s->joins[tab->first_join + k];
            if (j->source != MR_SQL_JOIN_DECLARED)
                continue;
            names[2 * nf] = tab->columns[j->from_columns[0]].name;
            names[2 * nf + 1] = s->tables[j->to_table].columns[j->to_columns[0]].name;
            fs[nf] =
                (struct mr_sql_fkey_spec){&names[2 * nf],     1, s->tables[j->to_table].qualified,
                                          &names[2 * nf + 1], 1, MR_SQL_JOIN_DECLARED};
            nf++;
            ts[t].nforeign_keys++;
        }
    }
    t0 = now_s();
    if (mr_sql_schema_from_specs(MR_SQL_POSTGRESQL, ts, s->ntables, &sp, NULL, &err)) {
        fprintf(stderr, "bench_schema: specs: %s\n", err.msg);
        return 1;
    }
    double t_spec = now_s() - t0;

    if (mr_sql_parse_ddl(MR_SQL_POSTGRESQL, pg2, strlen(pg2), &s2, NULL, &err))
        return 1;
    t0 = now_s();
    struct mr_sql_diff d;
    mr_sql_diff(s, s2, &d);
    double t_diff = now_s() - t0;

    t0 = now_s();
    size_t bytes = 0;
    for (size_t t = 0; t < s->ntables; t++) {
        struct mr_sql_rendered r;
        mr_sql_render_table(s, t, &r);
        bytes += strlen(r.content) + strlen(r.metadata_json);
        mr_sql_rendered_free(&r);
    }
    for (size_t j = 0; j < s->njoins; j++) {
        struct mr_sql_rendered r;
        mr_sql_render_join(s, j, &r);
        bytes += strlen(r.content) + strlen(r.metadata_json);
        mr_sql_rendered_free(&r);
    }
    double t_render = now_s() - t0;

    size_t columns = 0;
    for (size_t t = 0; t < s->ntables; t++)
        columns += s->tables[t].ncolumns;
    printf("bench_schema: %zu tables, %zu columns, %zu joins (%zu KiB of PostgreSQL DDL)\n",
           s->ntables, columns, s->njoins, strlen(pg) / 1024);
    printf("| %-40s | %9s | %9s |\n", "step", "ms", "vs specs");
    printf("|------------------------------------------|-----------|-----------|\n");
    printf("| %-40s | %9.1f | %8.2fx |\n", "build from specs (baseline)", t_spec * 1e3, 1.0);
    printf("| %-40s | %9.1f | %8.2fx |\n", "parse PostgreSQL DDL (libpg_query)", t_pg * 1e3,
           t_pg / t_spec);
    printf("| %-40s | %9.1f | %8.2fx |\n", "parse SQLite DDL (scratch database)", t_lite * 1e3,
           t_lite / t_spec);
    printf("| %-40s | %9.1f | %8.2fx |\n", "diff re-import (1 column changed)", t_diff * 1e3,
           t_diff / t_spec);
    printf("| %-40s | %9.1f | %8.2fx |\n", "render every table and join memory", t_render * 1e3,
           t_render / t_spec);
    printf("diff: %zu updated, %zu unchanged; rendered %zu KiB; schema kept in memory: %zu KiB; "
           "peak RSS after the PostgreSQL parse: %ld KiB\n",
           d.updated, d.unchanged, bytes / 1024, kept / 1024, peak_after_pg);
    mr_sql_diff_free(&d);

    /* Examples: a three-table join with a CTE, against the big schema. */
    const char *sql = "WITH recent AS (SELECT e.id, e.parent_ref FROM entity0500 e WHERE "
                      "e.attribute_05 > 10) SELECT p.attribute_03, count(*) FROM recent r JOIN "
                      "entity0250 p ON p.id = r.parent_ref JOIN entity0499 q ON q.id = "
                      "p.parent_ref GROUP BY p.attribute_03";
    struct {
        const char *name;
        enum mr_sql_dialect d;
        const struct mr_sql_schema *s;
    } runs[] = {{"PostgreSQL, no schema (baseline)", MR_SQL_POSTGRESQL, NULL},
                {"PostgreSQL, checked against the schema", MR_SQL_POSTGRESQL, s},
                {"SQLite, checked against the schema", MR_SQL_SQLITE, sl}};
    /* The machine is shared: three interleaved rounds, the best of each kept. */
    double best[3] = {0};
    for (int round = 0; round < 3; round++)
        for (size_t r = 0; r < 3; r++) {
            /* The first SQLite analysis builds the scratch database: outside the timing. */
            struct mr_sql_analysis *a = NULL;
            if (mr_sql_analyze(runs[r].d, runs[r].s, sql, strlen(sql), &a, NULL, &err)) {
                fprintf(stderr, "bench_schema: %s\n", err.msg);
                return 1;
            }
            mr_sql_analysis_free(a);
            int n = 0;
            t0 = now_s();
            while (now_s() - t0 < 0.5) {
                for (int i = 0; i < 50; i++, n++) {
                    mr_sql_analyze(runs[r].d, runs[r].s, sql, strlen(sql), &a, NULL, &err);
                    mr_sql_analysis_free(a);
                }
            }
            double per_s = n / (now_s() - t0);
            if (per_s > best[r])
                best[r] = per_s;
        }
    printf("| %-40s | %9s | %9s |\n", "example analysis", "per s", "vs base");
    printf("|------------------------------------------|-----------|-----------|\n");
    for (size_t r = 0; r < 3; r++)
        printf("| %-40s | %9.0f | %8.2fx |\n", runs[r].name, best[r], best[r] / best[0]);

    mr_sql_schema_free(s);
    mr_sql_schema_free(s2);
    mr_sql_schema_free(sl);
    mr_sql_schema_free(sp);
    free(ts);
    free(cs);
    free(fs);
    free(names);
    free(pg);
    free(pg2);
    free(lite);
    return 0;
}
