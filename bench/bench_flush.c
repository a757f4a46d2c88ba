/*
 * bench_flush — what one flush of the access statistics costs (issue 15's
 * flusher, src/core/access.c; docs/hygiene.md: its promotions are history):
 * G groups of 100 memories, each group's searches (min_similarity 0,
 * limit 100) leaving one pending access on each of its rows, then
 * mr_service_flush_access merging the whole batch, timed alone. Two cases:
 * "steady", long_term memories whose accesses promote nothing (what nearly
 * every flush is), and "promoting", short_term memories searched five
 * times at importance 0.7, so the flush promotes every row of the batch
 * (the worst case: each promotion is a history event). SQLite and
 * PostgreSQL, the lexical embedder (no model file needed), the public
 * service API only, so the same source builds against an older library
 * and the two binaries can run back to back for a ratio.
 *
 *   build/bench/bench_flush [G]   (default 10 groups: 1000 rows a batch; 7 rounds, medians)
 */
#include "bench_util.h"

#include <string.h>
#include <unistd.h>

#include "memori/embed.h"
#include "memori/service.h"
#include "memori/store.h"
#include "pg_server.h"

#define GROUP 100
#define ROUNDS 7

static const struct mr_identity who = {"bench", "default"};

static int fill(struct mr_service *svc, size_t groups, enum mr_memory_type type, double imp)
{
    struct mr_err err;
    char text[160];
    for (size_t i = 0; i < groups * GROUP; i++) {
        /* g<N>: the group's own word, which its search matches and no other group has. */
        snprintf(text, sizeof text, "fact %zu about the g%zu tables and their weekly totals", i,
                 i / GROUP);
        struct mr_memory_create in = {.content = text,
                                      .content_len = strlen(text),
                                      .memory_type = type,
                                      .importance_score = imp,
                                      .expires_at = MR_NO_TIME};
        snprintf(in.conversation_id, sizeof in.conversation_id,
                 "9c1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d");
        struct mr_memory m;
        if (mr_memory_create(svc, &who, &in, &m, &err) != 0) {
            fprintf(stderr, "bench_flush: create failed: %s\n", err.msg);
            return -1;
        }
        mr_memory_clear(&m);
    }
    return 0;
}

/* times searches of every group, then one flush: its seconds, or < 0. */
static double one_flush(struct mr_service *svc, size_t groups, int times)
{
    struct mr_err err;
    char q[32];
    for (int t = 0; t < times; t++)
        for (size_t g = 0; g < groups; g++) {
            snprintf(q, sizeof q, "g%zu", g);
            struct mr_search s = {.query = q,
                                  .query_len = strlen(q),
                                  .has_min_similarity = true,
                                  .limit = GROUP,
                                  .mode = MR_SEARCH_LEXICAL};
            struct mr_search_results r;
            if (mr_memory_search(svc, &who, &s, &r, &err) != 0) {
                fprintf(stderr, "bench_flush: search failed: %s\n", err.msg);
                return -1;
            }
            mr_search_results_clear(&r);
        }
    double t0 = now_s();
    if (mr_service_flush_access(svc, &err) != 0) {
        fprintf(stderr, "bench_flush: flush failed: %s\n", err.msg);
        return -1;
    }
    return now_s() - t0;
}

/* Median milliseconds of a flush in each case, on store (a fresh database per case). */
static int run(const char *name, struct mr_store *(*open)(int, void *), void *arg, size_t groups)
{
    struct mr_err err;
    const char *cases[] = {"steady", "promoting"};
    for (int c = 0; c < 2; c++) {
        double ms[ROUNDS];
        for (int r = 0; r < ROUNDS; r++) {
            struct mr_store *store = open(c * ROUNDS + r, arg);
            struct mr_embedder *emb = mr_embed_lexical_new(256, &err);
            if (!store ||
                mr_store_check_model(store, mr_embed_name(emb), mr_embed_dim(emb), &err) != 0) {
                fprintf(stderr, "bench_flush: %s\n", store ? err.msg : "no store");
                return -1;
            }
            struct mr_index *ix = strcmp(name, "sqlite") == 0 ? mr_index_new(256) : NULL;
            struct mr_service *svc = mr_service_new(&(struct mr_service_config){
                .store = store,
                .embedder = emb,
                .index = ix,
                .short_term_expiry_days = 7,
                .archive_threshold_days = 30,
                .default_limit = 10,
                .access_flush_ms = -1,
            });
            double s = -1;
            if (fill(svc, groups, c ? MR_SHORT_TERM : MR_LONG_TERM, c ? 0.7 : 0.5) == 0)
                s = one_flush(svc, groups, c ? 5 : 1);
            mr_service_free(svc);
            if (ix)
                mr_index_destroy(ix);
            mr_store_close(store);
            mr_embed_destroy(emb);
            if (s < 0)
                return -1;
            ms[r] = s * 1e3;
        }
        qsort(ms, ROUNDS, sizeof ms[0], cmp_d);
        printf("  %-8s %-9s flush of %zu rows: median %.2f ms (min %.2f, max %.2f)\n", name,
               cases[c], groups * GROUP, ms[ROUNDS / 2], ms[0], ms[ROUNDS - 1]);
    }
    return 0;
}

static char dir[] = "/tmp/memori-bench-flush-XXXXXX";

static struct mr_store *open_sqlite(int i, void *arg)
{
    (void)arg;
    char path[600];
    struct mr_err err;
    snprintf(path, sizeof path, "%s/%d.db", dir, i);
    return mr_store_sqlite_open(path, 4, &err);
}

static struct mr_store *open_pg(int i, void *arg)
{
    char url[256], name[64];
    struct mr_err err;
    snprintf(name, sizeof name, "flush_%d_%d", (int)getpid(), i);
    if (pg_server_database(arg, name, url, sizeof url) != 0)
        return NULL;
    return mr_store_postgres_open(url, 4, 2, 40, &err);
}

int main(int argc, char **argv)
{
    size_t groups = argc > 1 ? (size_t)atol(argv[1]) : 10;
    if (!mkdtemp(dir))
        return 1;
    printf("bench_flush: one flush of %zu pending accesses (distinct rows), %d rounds\n",
           groups * GROUP, ROUNDS);
    if (run("sqlite", open_sqlite, NULL, groups) != 0)
        return 1;
    struct pg_server *pg = pg_server_shared();
    if (!pg) {
        printf("  postgres: skipped (no PostgreSQL server)\n");
        return 0;
    }
    return run("postgres", open_pg, pg, groups) != 0;
}
