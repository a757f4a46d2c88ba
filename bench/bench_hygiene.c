/*
 * bench_hygiene — what memory hygiene (issue 20) costs a create: the same
 * N distinct memories created one after another into an empty user with
 * "dedup": "off" (the default: the exact-duplicate lookup and the history
 * event only) and with "dedup": "merge" (also the near-duplicate search
 * over the user's live memories of the type), then the N again as exact
 * duplicates; on SQLite (in-process index) and PostgreSQL (the store's
 * indexes), the built-in model. Ratios against dedup off in the same run.
 *
 *   build/bench/bench_hygiene [N]   (default 500; 3 rounds, medians)
 */
#include "bench_util.h"

#include <string.h>
#include <unistd.h>

#include "memori/embed.h"
#include "memori/index.h"
#include "memori/model_file.h"
#include "memori/service.h"
#include "memori/store.h"
#include "pg_server.h"

static const struct mr_identity who = {"bench", "default"};

static const char *const tables[] = {"orders",   "customers", "payments", "invoices", "products",
                                     "sessions", "events",    "refunds",  "regions",  "plans"};
/* The i-th memory: distinct text, topics varied as a user's are. */
static void text_of(size_t i, char *out, size_t cap)
{
    const char *t = tables[i % 10], *u = tables[(i / 10) % 10];
    int k = (int)i;
    switch ((i / 100) % 5) {
    case 0:
        snprintf(out, cap, "The %s table holds one row per %s record of batch %d", t, u, k);
        break;
    case 1:
        snprintf(out, cap, "The %s table is partitioned by month since release %d of %s", t, k, u);
        break;
    case 2:
        snprintf(out, cap, "Filter %s by tenant before joining %s in report %d", t, u, k);
        break;
    case 3:
        snprintf(out, cap, "Amounts in %s are cents; divide by 100 in dashboard %d about %s", t, k,
                 u);
        break;
    default:
        snprintf(out, cap, "The %s table links to %s through a key added in migration %d", t, u, k);
        break;
    }
}

struct run {
    double stored_s, dup_s;
    size_t stored, merged, dups;
};

static int run(struct mr_store *store, struct mr_embedder *emb, bool in_process,
               enum mr_dedup_mode mode, size_t n, struct run *out)
{
    struct mr_err err;
    struct mr_index *ix = in_process ? mr_index_new(mr_embed_dim(emb)) : NULL;
    struct mr_service *svc = mr_service_new(&(struct mr_service_config){
        .store = store,
        .embedder = emb,
        .index = ix,
        .short_term_expiry_days = 7,
        .archive_threshold_days = 30,
        .default_limit = 10,
    });
    memset(out, 0, sizeof *out);
    char text[256];
    int rc = 0;
    for (int pass = 0; pass < 2 && rc == 0; pass++) {
        double t0 = now_s();
        for (size_t i = 0; i < n && rc == 0; i++) {
            text_of(i, text, sizeof text);
            struct mr_memory_create in = {.content = text,
                                          .content_len = strlen(text),
                                          .memory_type = MR_RULE,
                                          .importance_score = 0.5,
                                          .expires_at = MR_NO_TIME,
                                          .dedup = mode};
            snprintf(in.conversation_id, sizeof in.conversation_id,
                     "8b1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d");
            struct mr_memory m;
            enum mr_create_outcome how;
            rc = mr_memory_create_outcome(svc, &who, &in, &m, &how, &err);
            if (rc) {
                fprintf(stderr, "bench_hygiene: create failed: %s\n", err.msg);
                break;
            }
            if (how == MR_CREATE_STORED)
                out->stored++;
            else if (how == MR_CREATE_MERGED)
                out->merged++;
            else
                out->dups++;
            mr_memory_clear(&m);
        }
        *(pass ? &out->dup_s : &out->stored_s) = now_s() - t0;
    }
    mr_service_free(svc);
    if (ix)
        mr_index_destroy(ix);
    return rc;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

#define ROUNDS 3

/* The median of ROUNDS values. */
static double median(double *v)
{
    qsort(v, ROUNDS, sizeof *v, cmp_double);
    return v[ROUNDS / 2];
}

/* Medians over the rounds (off and merge alternated, each in a fresh database). */
static void report(const char *store, size_t n, struct run off[ROUNDS], struct run merge[ROUNDS])
{
    double c_off[ROUNDS], c_merge[ROUNDS], d_off[ROUNDS], d_merge[ROUNDS], rc[ROUNDS], rd[ROUNDS];
    for (int r = 0; r < ROUNDS; r++) {
        c_off[r] = n / off[r].stored_s;
        c_merge[r] = n / merge[r].stored_s;
        d_off[r] = n / off[r].dup_s;
        d_merge[r] = n / merge[r].dup_s;
        rc[r] = off[r].stored_s / merge[r].stored_s;
        rd[r] = off[r].dup_s / merge[r].dup_s;
    }
    printf("  %-8s dedup off:   %6.0f creates/s, %6.0f exact duplicates/s (%zu stored)\n", store,
           median(c_off), median(d_off), off[0].stored);
    printf("  %-8s dedup merge: %6.0f creates/s, %6.0f exact duplicates/s (%zu stored, %zu "
           "merged)\n",
           store, median(c_merge), median(d_merge), merge[0].stored, merge[0].merged);
    printf("  %-8s merge / off (median of the %d rounds' ratios): creates %.2f (%.2f %.2f %.2f), "
           "duplicates %.2f\n",
           store, ROUNDS, median(rc), rc[0], rc[1], rc[2], median(rd));
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? (size_t)atol(argv[1]) : 500;
    struct mr_err err;
    const char *mp = getenv("MEMORI_MODEL_PATH");
    struct mr_embedder *emb =
        mr_embed_open(&(struct mr_embed_spec){.provider = MR_PROVIDER_BUILTIN,
                                              .model_path = mp ? mp : "models/" MR_SEMANTIC_FILE},
                      &err);
    if (!emb) {
        fprintf(stderr, "bench_hygiene: %s\n", err.msg);
        return 1;
    }
    printf("bench_hygiene: %zu distinct rule memories created into one user, then again "
           "(exact duplicates); model %s; %d rounds, off and merge alternated\n",
           n, mr_embed_name(emb), ROUNDS);
    char dir[] = "/tmp/memori-bench-hygiene-XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    struct run off[ROUNDS], merge[ROUNDS];
    /* The order alternates between rounds too, so neither mode always runs on a warmer machine. */
    for (int r = 0; r < ROUNDS; r++)
        for (int k = 0; k < 2; k++) {
            int m = (k + r) % 2;
            char path[600];
            snprintf(path, sizeof path, "%s/%d-%s.db", dir, r, m ? "merge" : "off");
            struct mr_store *s = mr_store_sqlite_open(path, 4, &err);
            if (!s || mr_store_check_model(s, mr_embed_name(emb), mr_embed_dim(emb), &err) != 0) {
                fprintf(stderr, "bench_hygiene: %s\n", err.msg);
                return 1;
            }
            if (run(s, emb, true, m ? MR_DEDUP_MERGE : MR_DEDUP_OFF, n, m ? &merge[r] : &off[r]))
                return 1;
            mr_store_close(s);
        }
    report("sqlite", n, off, merge);
    struct pg_server *pg = pg_server_shared();
    bool pg_ok = pg != NULL;
    for (int r = 0; pg_ok && r < ROUNDS; r++)
        for (int k = 0; pg_ok && k < 2; k++) {
            int m = (k + r) % 2;
            char url[256], name[64];
            snprintf(name, sizeof name, "hygiene_%d_%s", r, m ? "merge" : "off");
            if (pg_server_database(pg, name, url, sizeof url) != 0) {
                pg_ok = false;
                break;
            }
            struct mr_store *s = mr_store_postgres_open(url, 4, 2, 40, &err);
            if (!s || mr_store_check_model(s, mr_embed_name(emb), mr_embed_dim(emb), &err) != 0) {
                fprintf(stderr, "bench_hygiene: %s\n", err.msg);
                return 1;
            }
            if (run(s, emb, false, m ? MR_DEDUP_MERGE : MR_DEDUP_OFF, n, m ? &merge[r] : &off[r]))
                return 1;
            mr_store_close(s);
        }
    if (pg_ok)
        report("postgres", n, off, merge);
    else
        printf("  postgres: skipped (no PostgreSQL server)\n");
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench_hygiene: could not remove %s\n", dir);
    mr_embed_destroy(emb);
    return 0;
}
