/*
 * bench_schema.c — schema import and example analysis (issue 16): a generated
 * schema of 1 000 tables and 20 000 columns (a declared key and a key by
 * name in most tables, comments on a tenth), as PostgreSQL DDL, SQLite DDL
 * and JSON specs; the time and memory to parse it, to diff a re-import with
 * one column changed, and to render every table and join memory; example
 * analyses per second in both dialects.
 * Baseline: building the same schema from specs (no parser), same run.
 *
 * Then the whole import through the service (what PUT /api/data-sources/{id}/schema
 * and `memori schema import` do) on a SQLite store in a temp directory with the
 * built-in embedder: the first import from DDL and from JSON specs, a re-import
 * unchanged, one with a column changed, the peak memory of each, and examples
 * ingested per second (analysis + POST /api/examples' service call).
 * Baseline there: embedding the same texts alone, the import's unavoidable part.
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "memori/embed.h"
#include "memori/index.h"
#include "memori/service.h"
#include "memori/sql.h"
#include "memori/store.h"

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

static char *gen_ddl(enum mr_sql_dialect d, int changed, int tables)
{
    size_t cap = 8u << 20, n = 0;
    char *s = malloc(cap);
    for (int t = 0; t < tables; t++) {
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

/* One service over a fresh SQLite store in dir; false (and why) when a part cannot open. */
struct svc_env {
    struct mr_store *store;
    struct mr_embedder *embedder;
    struct mr_index *index;
    struct mr_service *svc;
};

static bool env_open(struct svc_env *e, const char *dir)
{
    struct mr_err err;
    char path[600];
    snprintf(path, sizeof path, "%s/memori.db", dir);
    struct mr_embed_spec spec = {.provider = MR_PROVIDER_BUILTIN,
                                 .model_path = "models/memori-wordnet-v1.bin"};
    e->embedder = mr_embed_open(&spec, &err);
    if (!e->embedder) {
        fprintf(stderr, "bench_schema: embedder: %s\n", err.msg);
        return false;
    }
    e->store = mr_store_sqlite_open(path, 4, &err);
    if (!e->store) {
        fprintf(stderr, "bench_schema: store: %s\n", err.msg);
        return false;
    }
    e->index = mr_index_new(mr_embed_dim(e->embedder));
    e->svc = mr_service_new(
        &(struct mr_service_config){e->store, e->embedder, e->index, NULL, 7, 30, 10, 0.0});
    return true;
}

static void env_close(struct svc_env *e)
{
    if (e->svc)
        mr_service_free(e->svc);
    mr_index_destroy(e->index);
    mr_store_close(e->store);
    mr_embed_destroy(e->embedder);
}

/* mr_schema_put of schema as data source ds; its time, the summary's counts into line. */
static double timed_put(struct svc_env *e, int64_t ds, const struct mr_sql_schema *schema,
                        char *line, size_t cap)
{
    static const struct mr_identity admin = {"admin", "default"};
    struct mr_schema_summary sum;
    struct mr_err err;
    double t0 = now_s();
    if (mr_schema_put(e->svc, &admin, ds, schema, &sum, &err) != 0) {
        fprintf(stderr, "bench_schema: import: %s\n", err.msg);
        exit(1);
    }
    double t = now_s() - t0;
    snprintf(line, cap, "added %zu, updated %zu, removed %zu, unchanged %zu", sum.added.len,
             sum.updated.len, sum.removed.len, sum.unchanged);
    mr_schema_summary_clear(&sum);
    return t;
}

/*
 * Examples posted to data source ds (schema s, tables entity0002.. entity<span+1>) for
 * about 3 s: distinct questions (no dedup), each analysed against the schema, then stored.
 */
static double ingest(struct svc_env *e, int64_t ds, const struct mr_sql_schema *s, int span)
{
    static const struct mr_identity alice = {"alice", "default"};
    struct mr_err err;
    int examples = 0;
    double t0 = now_s();
    while (now_s() - t0 < 3.0 && examples < 2000) {
        char q[160], sql[400];
        int a = examples % span + 2, b = a / 2;
        snprintf(q, sizeof q, "Rows of entity%04d with their parent, question %d", a, examples);
        snprintf(sql, sizeof sql,
                 "SELECT c.attribute_03, p.attribute_04 FROM entity%04d c JOIN entity%04d p ON "
                 "p.id = c.parent_ref WHERE c.attribute_05 > %d",
                 a, b, examples);
        struct mr_sql_analysis *an = NULL;
        if (mr_sql_analyze(MR_SQL_POSTGRESQL, s, sql, strlen(sql), &an, NULL, &err)) {
            fprintf(stderr, "bench_schema: example: %s\n", err.msg);
            exit(1);
        }
        struct mr_example_create in = {.question = q,
                                       .question_len = strlen(q),
                                       .sql = sql,
                                       .sql_len = strlen(sql),
                                       .data_source_id = ds,
                                       .schema = s,
                                       .analysis = an};
        struct mr_memory m;
        bool created;
        if (mr_example_create(e->svc, &alice, &in, &m, &created, &err) != 0) {
            fprintf(stderr, "bench_schema: example: %s\n", err.msg);
            exit(1);
        }
        mr_memory_clear(&m);
        mr_sql_analysis_free(an);
        examples++;
    }
    return examples / (now_s() - t0);
}

/* The service part (see the top comment); 0, or 1 when it cannot run. */
static int bench_service(const char *pg_ddl, const struct mr_sql_schema *specs_schema,
                         const struct mr_sql_schema *changed)
{
    char dir[] = "/tmp/bench_schema_XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    struct svc_env e = {0};
    if (!env_open(&e, dir)) {
        env_close(&e);
        return 1;
    }
    struct mr_err err;
    char line[4][160];

    /* Baseline: every table and join text embedded, in batches of 64, nothing stored. */
    size_t dim = mr_embed_dim(e.embedder), n = specs_schema->ntables + specs_schema->njoins;
    char **texts = calloc(n, sizeof *texts);
    size_t *lens = calloc(n, sizeof *lens);
    for (size_t i = 0; i < n; i++) {
        struct mr_sql_rendered r;
        if (i < specs_schema->ntables)
            mr_sql_render_table(specs_schema, i, &r);
        else
            mr_sql_render_join(specs_schema, i - specs_schema->ntables, &r);
        texts[i] = r.content;
        lens[i] = strlen(r.content);
        r.content = NULL;
        mr_sql_rendered_free(&r);
    }
    float *vecs = malloc(64 * dim * sizeof *vecs);
    double t0 = now_s();
    for (size_t i = 0; i < n; i += 64)
        mr_embed_batch(e.embedder, (const char *const *)texts + i, lens + i,
                       n - i < 64 ? n - i : 64, vecs, &err);
    double t_embed = now_s() - t0;
    free(vecs);

    /* From DDL: the parse and the import, as a PUT with DDL does both. */
    long peak0 = peak_kib();
    t0 = now_s();
    struct mr_sql_schema *s = NULL;
    if (mr_sql_parse_ddl(MR_SQL_POSTGRESQL, pg_ddl, strlen(pg_ddl), &s, NULL, &err)) {
        fprintf(stderr, "bench_schema: %s\n", err.msg);
        return 1;
    }
    double t_parse = now_s() - t0;
    double t_ddl = t_parse + timed_put(&e, 1, s, line[0], sizeof line[0]);
    long peak_ddl = peak_kib();
    double t_same = timed_put(&e, 1, s, line[1], sizeof line[1]);
    double t_changed = timed_put(&e, 1, changed, line[2], sizeof line[2]);
    double t_json = timed_put(&e, 2, specs_schema, line[3], sizeof line[3]);
    long peak_json = peak_kib();

    /* The same examples against a 20-table source: how ingestion scales with the schema. */
    char *small_ddl = gen_ddl(MR_SQL_POSTGRESQL, 0, 20);
    struct mr_sql_schema *small = NULL;
    if (mr_sql_parse_ddl(MR_SQL_POSTGRESQL, small_ddl, strlen(small_ddl), &small, NULL, &err)) {
        fprintf(stderr, "bench_schema: %s\n", err.msg);
        return 1;
    }
    free(small_ddl);
    char small_line[160];
    timed_put(&e, 3, small, small_line, sizeof small_line);
    double small_per_s = ingest(&e, 3, small, 18);
    double ex_per_s = ingest(&e, 1, s, 998);
    mr_sql_schema_free(small);

    printf("\nthrough the service (SQLite store, %s, %zu memories per import):\n",
           mr_embed_name(e.embedder), n);
    printf("| %-44s | %9s | %9s | %12s |\n", "step", "ms", "vs embed", "peak RSS KiB");
    printf("|----------------------------------------------|-----------|-----------|--------------|"
           "\n");
    printf("| %-44s | %9.0f | %8.2fx | %12s |\n", "embed every text alone (baseline)",
           t_embed * 1e3, 1.0, "");
    printf("| %-44s | %9.0f | %8.2fx | %12ld |\n", "first import from DDL (parse + import)",
           t_ddl * 1e3, t_ddl / t_embed, peak_ddl);
    printf("| %-44s | %9.0f | %8.2fx | %12s |\n", "re-import unchanged", t_same * 1e3,
           t_same / t_embed, "");
    printf("| %-44s | %9.0f | %8.2fx | %12s |\n", "re-import, one column changed", t_changed * 1e3,
           t_changed / t_embed, "");
    printf("| %-44s | %9.0f | %8.2fx | %12ld |\n", "first import from JSON specs (another source)",
           t_json * 1e3, t_json / t_embed, peak_json);
    printf("peak RSS before the imports: %ld KiB; DDL: %s; unchanged: %s; changed: %s; JSON: %s\n",
           peak0, line[0], line[1], line[2], line[3]);
    printf("examples ingested (analysis + store + index) per s: %.1f against the 1000-table "
           "source, %.1f against a 20-table one (baseline) = %.3fx\n",
           ex_per_s, small_per_s, ex_per_s / small_per_s);

    for (size_t i = 0; i < n; i++)
        free(texts[i]);
    free(texts);
    free(lens);
    mr_sql_schema_free(s);
    env_close(&e);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench_schema: could not remove %s\n", dir);
    return 0;
}

int main(void)
{
    struct mr_err err = {0};
    char *pg = gen_ddl(MR_SQL_POSTGRESQL, 0, TABLES), *pg2 = gen_ddl(MR_SQL_POSTGRESQL, 1, TABLES);
    char *lite = gen_ddl(MR_SQL_SQLITE, 0, TABLES);
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

    int rc = bench_service(pg, sp, s2);

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
    return rc;
}
