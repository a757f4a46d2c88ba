/*
 * bench_pghybrid.c — hybrid ranking on PostgreSQL (issue 14), through the
 * service as a request runs it (embed the query, both sides' candidates
 * from the store, the exact scores, fusion, the access write and commit):
 *
 *   - search p50/p99 per mode (semantic, lexical, hybrid) over the same
 *     queries in the same run, the modes taking turns query by query, as
 *     ratios to semantic;
 *   - write throughput (creates/s, one transaction each, fsync on) into
 *     three databases of the same cluster, in turns of CHUNK creates so
 *     the machine's load drifts alike over all three: "postings" (the
 *     schema as shipped: the lexical columns, the statistics' and the
 *     postings' triggers), "no postings" (the
 *     postings' triggers disabled: migration 5's writes without its GIN
 *     index, which migration 6 drops) and "no lexical triggers" (every
 *     lexical trigger disabled; the columns are still computed in C and
 *     written).
 *
 * Memories are 12-word spans of English text (WordNet glosses and GCIDE,
 * real_text.h), embedded by the built-in model (memori-wordnet-v2);
 * queries are 5-word spans of other text. The PostgreSQL server is a
 * throwaway cluster with its durable defaults, started here, sharing the
 * machine's cores with this client.
 *
 * usage: bench_pghybrid [N] [NQ]   (default 10000 memories, 300 queries)
 *
 * PGHYBRID_SEARCH_ONLY=1 writes only the "lexical" database (no write
 * comparison): a third of the writes, for measuring searches alone; with
 * PGHYBRID_BULK=1 too, that database is loaded through the store in
 * batches (bulk_load), for 100 000 memories. PGHYBRID_DUMP=path writes
 * every measured search's results (ids, and the fused, semantic and
 * lexical scores in %a, to the bit) there, one line each, so two builds'
 * rankings can be compared with diff; with PGHYBRID_EXACT=1 the HNSW
 * index is dropped before the searches, so the vector side is pgvector's
 * exact scan and the rankings do not depend on the graph (whose levels
 * pgvector draws at random: two loads of the same memories differ).
 */
#include "real_text.h"

#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "memori/embed.h"
#include "memori/fusion.h"
#include "memori/service.h"
#include "memori/store.h"
#include "memori/types.h"
#include "memori/util.h"
#include "pg_server.h"

#define CHUNK 250
#define SPAN 12
#define QSPAN 5
#define N_DB 3

static const struct mr_identity who = {"bench", "default"};
static const char CONV[] = "6f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
static const char *const DB_NAME[N_DB] = {"postings", "no postings", "no lexical triggers"};
static const char *const DB_SQL[N_DB] = {
    NULL,
    "ALTER TABLE memori_memories DISABLE TRIGGER memori_lex_post_write, "
    "  DISABLE TRIGGER memori_lex_post_change",
    "ALTER TABLE memori_memories DISABLE TRIGGER memori_lex_write, "
    "  DISABLE TRIGGER memori_lex_change, DISABLE TRIGGER memori_lex_post_write, "
    "  DISABLE TRIGGER memori_lex_post_change"};

static void die(const char *what, const char *msg)
{
    fprintf(stderr, "bench_pghybrid: %s: %s\n", what, msg);
    exit(1);
}

static void run_sql(const char *url, const char *sql)
{
    PGconn *pg = PQconnectdb(url);
    PGresult *res = PQexec(pg, sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK)
        die(sql, PQresultErrorMessage(res));
    PQclear(res);
    PQfinish(pg);
}

/* Span i of len words (spans at an even stride over the text), NUL-terminated into out. */
static void span(const struct words *w, size_t i, size_t count, size_t len, char *out, size_t cap)
{
    size_t start = (size_t)((double)i * (double)(w->n - len - 1) / (double)count);
    size_t a = w->starts[start], b = w->starts[start + len];
    size_t n = b - a - 1 < cap - 1 ? b - a - 1 : cap - 1;
    memcpy(out, w->text + a, n);
    out[n] = '\0';
}

struct db {
    char url[256];
    struct mr_store *store;
    struct mr_service *svc;
    struct mr_service_config cfg;
    double write_s;
};

/*
 * PGHYBRID_BULK: the same memories as the creates write (texts, types, the
 * conversation), inserted through the store LOAD_BATCH per transaction, so
 * 100 000 load in minutes rather than one fsync'd create each; the searched
 * rows are the same, with their lexical columns (pg_param_lex) and the
 * statistics' triggers.
 */
#define LOAD_BATCH 1000

static void bulk_load(struct mr_store *s, struct mr_embedder *e, const struct words *w, size_t n,
                      size_t nq)
{
    struct mr_err err;
    struct mr_store_tx *tx;
    size_t dim = mr_embed_dim(e);
    float *vec = mr_xmalloc(dim * sizeof *vec);
    char text[512];
    if (mr_store_begin(s, MR_TX_WRITE, &tx, &err) != 0)
        die("begin", err.msg);
    struct mr_conversation c = {.user_id = mr_xstrdup(who.user_id),
                                .tenant_id = mr_xstrdup(who.tenant_id),
                                .metadata = mr_xstrdup("{}"),
                                .is_active = true};
    snprintf(c.conversation_id, sizeof c.conversation_id, "%s", CONV);
    if (mr_store_conv_insert(tx, &c, &err) != 0)
        die("conversation", err.msg);
    mr_conversation_clear(&c);
    for (size_t i = 0; i < n; i++) {
        span(w, 2 * i, 2 * (n + nq), SPAN, text, sizeof text);
        if (mr_embed_one(e, text, strlen(text), vec, &err) != 0)
            die("embed", err.msg);
        struct mr_memory m = {0};
        mr_uuid_v4(m.memory_id);
        snprintf(m.conversation_id, sizeof m.conversation_id, "%s", CONV);
        m.user_id = (char *)who.user_id;
        m.tenant_id = (char *)who.tenant_id;
        m.content = text;
        m.memory_type = i % 4 ? MR_LONG_TERM : MR_ENTITY;
        m.embedding = vec;
        m.dim = dim;
        m.importance_score = 0.5;
        m.last_accessed_at = m.expires_at = MR_NO_TIME;
        m.metadata = "{}";
        if (mr_store_mem_insert(tx, &m, &err) != 0)
            die("insert", err.msg);
        if ((i + 1) % LOAD_BATCH == 0 &&
            (mr_store_commit(tx, &err) != 0 || mr_store_begin(s, MR_TX_WRITE, &tx, &err) != 0))
            die("commit", err.msg);
    }
    if (mr_store_commit(tx, &err) != 0)
        die("commit", err.msg);
    free(vec);
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? (size_t)atol(argv[1]) : 10000;
    size_t nq = argc > 2 ? (size_t)atol(argv[2]) : 300;
    struct words w = {0};
    static const char *const wn[] = {"data.noun", "data.verb", "data.adj", "data.adv"};
    char path[256];
    for (int i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "/usr/share/wordnet/%s", wn[i]);
        read_wordnet(&w, path);
    }
    read_gzip_text(&w, "/usr/share/dictd/gcide.dict.dz");
    if (w.n < (n + nq) * 2)
        die("text", "too few words (wordnet-base, dict-gcide installed?)");
    struct mr_err err;
    double threshold;
    struct mr_embedder *e = mr_embed_builtin_open(MR_SEMANTIC_V2_MODEL, 0,
                                                  "models/" MR_SEMANTIC_FILE, &threshold, &err);
    if (!e)
        die("the built-in model", err.msg);
    struct pg_server pg;
    if (pg_server_start(&pg, true) != 0)
        die("postgres", "cannot start a cluster");
    struct db db[N_DB];
    int n_db = getenv("PGHYBRID_SEARCH_ONLY") ? 1 : N_DB;
    for (int k = 0; k < n_db; k++) {
        char name[32];
        snprintf(name, sizeof name, "bench_%d", k);
        if (pg_server_database(&pg, name, db[k].url, sizeof db[k].url) != 0)
            die("postgres", "cannot create a database");
        db[k].store = mr_store_postgres_open(db[k].url, 2, 0, 0, &err);
        if (!db[k].store ||
            mr_store_check_model(db[k].store, MR_SEMANTIC_V2_MODEL, mr_embed_dim(e), &err) != 0)
            die("open", err.msg);
        if (DB_SQL[k])
            run_sql(db[k].url, DB_SQL[k]);
        db[k].cfg = (struct mr_service_config){db[k].store, e, NULL, NULL, 7, 30, 10, threshold};
        db[k].svc = mr_service_new(&db[k].cfg);
        db[k].write_s = 0;
    }

    /* Writes: the three databases in turns of CHUNK creates each. */
    char text[512];
    if (getenv("PGHYBRID_BULK")) {
        bulk_load(db[0].store, e, &w, n, nq);
        run_sql(db[0].url, "ANALYZE");
        n_db = 0; /* no write figures */
    }
    if (getenv("PGHYBRID_EXACT"))
        run_sql(db[0].url, "DROP INDEX memori_memories_embedding_hnsw");
    for (size_t base = 0; n_db && base < n; base += CHUNK)
        for (int k = 0; k < n_db; k++) {
            double t0 = now_s();
            for (size_t i = base; i < base + CHUNK && i < n; i++) {
                span(&w, 2 * i, 2 * (n + nq), SPAN, text, sizeof text);
                struct mr_memory_create in = {.content = text,
                                              .content_len = strlen(text),
                                              .memory_type = i % 4 ? MR_LONG_TERM : MR_ENTITY,
                                              .importance_score = 0.5,
                                              .expires_at = MR_NO_TIME};
                memcpy(in.conversation_id, CONV, sizeof CONV);
                struct mr_memory m;
                if (mr_memory_create(db[k].svc, &who, &in, &m, &err) != 0)
                    die("create", err.msg);
                mr_memory_clear(&m);
            }
            db[k].write_s += now_s() - t0;
        }
    if (n_db)
        printf(
            "## writes: %zu creates per database through mr_memory_create, one transaction "
            "each, in turns of %d\n\n| database | creates/s | ratio to postings |\n|---|---|---|\n",
            n, CHUNK);
    for (int k = 0; k < n_db; k++)
        printf("| %s | %.0f | %.3f |\n", DB_NAME[k], (double)n / db[k].write_s,
               db[0].write_s / db[k].write_s);

    /* Searches on the full database: every query in every mode, the modes taking turns. */
    static const enum mr_search_mode modes[3] = {MR_SEARCH_SEMANTIC, MR_SEARCH_LEXICAL,
                                                 MR_SEARCH_HYBRID};
    double *lat[3];
    size_t results[3] = {0};
    for (int m = 0; m < 3; m++)
        lat[m] = calloc(nq, sizeof *lat[m]);
    size_t warm = nq / 10;
    const char *dump_path = getenv("PGHYBRID_DUMP");
    FILE *dump = dump_path ? fopen(dump_path, "w") : NULL;
    if (dump_path && !dump)
        die(dump_path, "cannot write");
    for (size_t q = 0; q < nq + warm; q++) {
        /* Other text than the memories' (the odd spans), shorter, like a question. */
        span(&w, 2 * (q % nq) + 1, 2 * (n + nq), QSPAN, text, sizeof text);
        for (int j = 0; j < 3; j++) {
            int m = (int)((q + (size_t)j) % 3);
            struct mr_search s = {.query = text,
                                  .query_len = strlen(text),
                                  .limit = 10,
                                  .has_min_similarity = true,
                                  .min_similarity = 0,
                                  .mode = modes[m]};
            struct mr_search_results r;
            double t0 = now_s();
            if (mr_memory_search(db[0].svc, &who, &s, &r, &err) != 0)
                die("search", err.msg);
            double t = now_s() - t0;
            if (q >= warm) {
                lat[m][q - warm] = t;
                results[m] += r.n;
            }
            if (dump) {
                fprintf(dump, "%s %zu", mr_search_mode_name(modes[m]), q);
                for (size_t i = 0; i < r.n; i++)
                    fprintf(dump, " %lld:%a,%a,%a", (long long)r.memories[i].id, r.scores[i],
                            r.semantic[i], r.lexical[i]);
                fprintf(dump, "\n");
            }
            mr_search_results_clear(&r);
        }
    }
    double p50[3], p99[3];
    for (int m = 0; m < 3; m++) {
        qsort(lat[m], nq, sizeof *lat[m], cmp_d);
        p50[m] = lat[m][nq / 2] * 1e3;
        p99[m] = lat[m][nq * 99 / 100] * 1e3;
    }
    printf("\n## searches: %zu memories, %zu queries per mode (after %zu warm-up), limit 10, "
           "min_similarity 0\n\n",
           n, nq, warm);
    printf("| mode | p50 ms | p99 ms | p50 / semantic | p99 / semantic | results/query |\n"
           "|---|---|---|---|---|---|\n");
    for (int m = 0; m < 3; m++)
        printf("| %s | %.2f | %.2f | %.2f | %.2f | %.1f |\n", mr_search_mode_name(modes[m]), p50[m],
               p99[m], p50[m] / p50[0], p99[m] / p99[0], (double)results[m] / (double)nq);

    if (getenv("PGLEX_PAUSE")) {
        fflush(stdout); /* the tables are read while the cluster waits */
        fprintf(stderr, "PAUSE %s\n", db[0].url);
        sleep(600);
    }
    if (dump)
        fclose(dump);
    for (int m = 0; m < 3; m++)
        free(lat[m]);
    for (int k = 0; k < n_db; k++) {
        mr_service_free(db[k].svc);
        mr_store_close(db[k].store);
    }
    pg_server_stop(&pg);
    mr_embed_destroy(e);
    free(w.text);
    free(w.starts);
    return 0;
}
