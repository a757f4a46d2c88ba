/*
 * bench_rank.c — what hybrid ranking costs (issue 14; DESIGN.md §8,
 * docs/perf.md "Hybrid ranking: cost"), through the memory service in
 * process: the SQLite store, the in-process index with its lexical side, the
 * built-in default model (memori-wordnet-v2), exactly what a search request
 * runs below HTTP (embedding, candidates, fusion, reading the results back,
 * recording their access).
 *
 * Memories are real English text: two consecutive WordNet glosses each
 * (~15 terms after stop words, as the development sets' turns), one user.
 * Queries are of two kinds, each asked in every mode:
 *   - "questions": the development sets' questions (conversations and
 *     text2sql), worded as users ask, stop words and all;
 *   - "gloss words": four consecutive words of a memory in the pool, so
 *     the lexical side always has postings to walk, long ones for common
 *     words.
 *
 * Figures:
 *   1. search p50/p99 per mode at each size, wall clock and this thread's
 *      CPU time, as ratios to the semantic mode measured in the same run
 *      (modes interleaved per query, so a slow spell of the shared machine
 *      hits all three);
 *   2. the lexical index's bytes per memory (mr_index_lexical_bytes, the
 *      arrays at capacity) and the process's RSS growth while loading;
 *   3. with BENCH_RANK_DEPTHS set, what each side's candidate depth costs
 *      in the index alone (depth_cost), the depths compared in the same run
 *      (and with BENCH_RANK_DUMP=file, every query's fused candidates with
 *      their scores' bits, to compare two builds' rankings);
 *   4. creates/s through mr_memory_create with the lexical index and
 *      without it (an index wrapper that forwards every entry without its
 *      content, so the lexical side indexes nothing), the same texts, in
 *      alternating blocks in one scratch database.
 *
 * usage: bench_rank [sizes...]   (default: 10000 100000)
 * min_similarity is 0, so every mode returns `limit` (10) results and reads
 * and writes the same number of rows; the partition gets its HNSW graph at
 * the server's default threshold (20 000), as `memori serve` builds it.
 */
#define _GNU_SOURCE
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "memori/clock.h"
#include "memori/embed.h"
#include "memori/fusion.h"
#include "memori/index.h"
#include "memori/lexical.h"
#include "memori/service.h"
#include "memori/store.h"
#include "memori/types.h"
#include "memori/util.h"

#define CONV "6f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
#define HNSW_THRESHOLD 20000 /* MEMORI_HNSW_THRESHOLD's default (src/config/config.c) */
#define LOAD_BATCH 1000
#define LIMIT 10

static const struct mr_identity who = {"bench", "default"};

static double wall_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* This thread's CPU time: latency without the waits for one of the shared cores. */
static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void die(const char *what, const struct mr_err *err)
{
    fprintf(stderr, "bench_rank: %s: %s\n", what, err ? err->msg : "");
    exit(1);
}

/* Resident set size in KiB (/proc/self/status VmRSS). */
static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = 0;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0)
            kib = atol(line + 6);
    if (f)
        fclose(f);
    return kib;
}

/* ------------------------------------------------------------------ texts */

struct strs {
    char **s;
    size_t n, cap;
};

static void strs_add(struct strs *v, const char *s, size_t n)
{
    if (v->n == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 1024;
        v->s = realloc(v->s, v->cap * sizeof *v->s);
        if (!v->s)
            die("out of memory", NULL);
    }
    v->s[v->n++] = strndup(s, n);
}

static void strs_free(struct strs *v)
{
    for (size_t i = 0; i < v->n; i++)
        free(v->s[i]);
    free(v->s);
}

/* WordNet's glosses, one a synset (~117 k; Debian's wordnet-base). */
static struct strs glosses(void)
{
    static const char *const files[] = {"data.noun", "data.verb", "data.adj", "data.adv"};
    struct strs g = {0};
    char line[8192], path[256];
    for (int i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "/usr/share/wordnet/%s", files[i]);
        FILE *f = fopen(path, "r");
        while (f && fgets(line, sizeof line, f)) {
            const char *s = strstr(line, " | ");
            if (line[0] == ' ' || !s)
                continue;
            s += 3;
            strs_add(&g, s, strcspn(s, "\r\n"));
        }
        if (f)
            fclose(f);
    }
    return g;
}

/* The Q lines' questions of a development set (tests/data/<set>_dev.tsv: Q, evidence, question). */
static void questions_of(struct strs *out, const char *path)
{
    FILE *f = fopen(path, "r");
    char line[8192];
    while (f && fgets(line, sizeof line, f)) {
        if (line[0] != 'Q' || line[1] != '\t')
            continue;
        const char *q = strchr(line + 2, '\t');
        if (q)
            strs_add(out, q + 1, strcspn(q + 1, "\r\n"));
    }
    if (f)
        fclose(f);
}

/* Memory i of the pool: glosses i and i + 1. */
static char *memory_text(const struct strs *g, size_t i)
{
    const char *a = g->s[i % g->n], *b = g->s[(i + 1) % g->n];
    size_t na = strlen(a), nb = strlen(b);
    char *t = malloc(na + nb + 2);
    memcpy(t, a, na);
    t[na] = ' ';
    memcpy(t + na + 1, b, nb + 1);
    return t;
}

/* Four consecutive words of src from its second word (or fewer when it is short). */
static char *four_words(const char *src)
{
    const char *p = strchr(src, ' ');
    p = p ? p + 1 : src;
    const char *e = p;
    for (int w = 0; w < 4 && *e; w++) {
        e = strchr(e, ' ');
        if (!e) {
            e = p + strlen(p);
            break;
        }
        if (w < 3)
            e++;
    }
    return strndup(p, (size_t)(e - p));
}

/* -------------------------------------------- an index without its lexical side */

/*
 * Forwards every call to the real index, but upserts without the content:
 * the partition's lexical index then indexes nothing (a document of no
 * term), which is what a create cost before issue 14. Only for the write
 * comparison; strip is switched between blocks of creates.
 */
struct strip_index {
    struct mr_index base;
    struct mr_index *inner;
    bool strip;
};

static struct strip_index *strip_of(struct mr_index *ix)
{
    return (struct strip_index *)ix;
}

static int strip_upsert(struct mr_index *ix, const struct mr_index_entry *e, struct mr_err *err)
{
    struct mr_index_entry copy = *e;
    if (strip_of(ix)->strip) {
        copy.content = NULL;
        copy.content_len = 0;
    }
    return mr_index_upsert(strip_of(ix)->inner, &copy, err);
}

static void strip_set_archived(struct mr_index *ix, const struct mr_identity *w, int64_t id,
                               bool is_archived)
{
    mr_index_set_archived(strip_of(ix)->inner, w, id, is_archived);
}

static void strip_remove(struct mr_index *ix, const struct mr_identity *w, int64_t id)
{
    mr_index_remove(strip_of(ix)->inner, w, id);
}

static int strip_search(struct mr_index *ix, const struct mr_identity *w,
                        const struct mr_index_query *q, struct mr_index_hit *out, size_t *out_n,
                        struct mr_err *err)
{
    return mr_index_search(strip_of(ix)->inner, w, q, out, out_n, err);
}

static int strip_candidates(struct mr_index *ix, const struct mr_identity *w,
                            const struct mr_index_query *q, struct mr_index_candidate *out,
                            size_t *out_n, struct mr_err *err)
{
    return mr_index_candidates(strip_of(ix)->inner, w, q, out, out_n, err);
}

static size_t strip_count(struct mr_index *ix)
{
    return mr_index_count(strip_of(ix)->inner);
}

static size_t strip_building(struct mr_index *ix)
{
    return mr_index_building(strip_of(ix)->inner);
}

static void strip_destroy(struct mr_index *ix)
{
    mr_index_destroy(strip_of(ix)->inner);
    free(ix);
}

static const struct mr_index_ops strip_ops = {
    .name = "bench-strip",
    .upsert = strip_upsert,
    .set_archived = strip_set_archived,
    .remove = strip_remove,
    .search = strip_search,
    .candidates = strip_candidates,
    .count = strip_count,
    .building = strip_building,
    .destroy = strip_destroy,
};

/* ------------------------------------------------------------ the service */

struct bench_svc {
    char path[600];
    struct mr_store *store;
    struct mr_index *index;
    struct mr_service *svc;
};

static void svc_open(struct bench_svc *b, const char *path, struct mr_embedder *e,
                     struct mr_index *index)
{
    struct mr_err err;
    snprintf(b->path, sizeof b->path, "%s", path);
    b->store = mr_store_sqlite_open(path, 2, &err);
    if (!b->store)
        die("store", &err);
    b->index = index;
    b->svc = mr_service_new(&(struct mr_service_config){
        .store = b->store,
        .embedder = e,
        .index = index,
        .clock = mr_clock_system(),
        .short_term_expiry_days = 7,
        .archive_threshold_days = 30,
        .default_limit = LIMIT,
    });
}

static void svc_close(struct bench_svc *b)
{
    mr_service_free(b->svc);
    mr_index_destroy(b->index);
    mr_store_close(b->store);
}

static void unlink_db(const char *path)
{
    char side[700];
    unlink(path);
    snprintf(side, sizeof side, "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", path);
    unlink(side);
    snprintf(side, sizeof side, "%s.lock", path);
    unlink(side);
}

/* One create through the service; returns its wall-clock and CPU seconds in *wall, *cpu. */
static void create_one(struct mr_service *svc, const char *text, double *wall, double *cpu)
{
    struct mr_memory_create in = {.content = text,
                                  .content_len = strlen(text),
                                  .memory_type = MR_LONG_TERM,
                                  .importance_score = 0.5,
                                  .expires_at = MR_NO_TIME};
    memcpy(in.conversation_id, CONV, MR_UUID_LEN);
    struct mr_memory m;
    struct mr_err err;
    double w0 = wall_s(), c0 = cpu_s();
    if (mr_memory_create(svc, &who, &in, &m, &err) != 0)
        die("create", &err);
    *cpu += cpu_s() - c0;
    *wall += wall_s() - w0;
    mr_memory_clear(&m);
}

/*
 * Creates/s with and without the lexical side: after a warm-up block,
 * BLOCKS blocks of PER creates each way in the order with, without,
 * without, with, ... (so neither way always goes first), the same texts in
 * the same order for both, in a scratch database of its own.
 */
static void write_throughput(struct mr_embedder *e, const struct strs *g, const char *dir)
{
    enum { BLOCKS = 20, PER = 50 };
    char path[600];
    snprintf(path, sizeof path, "%s/bench-rank-writes.db", dir);
    struct strip_index *si = mr_xcalloc(1, sizeof *si);
    si->base.ops = &strip_ops;
    si->inner = mr_index_new(mr_embed_dim(e));
    struct bench_svc b;
    svc_open(&b, path, e, &si->base);
    double wall[2] = {0, 0}, cpu[2] = {0, 0}, ignored[2];
    size_t n[2] = {0, 0};
    for (int i = 0; i < PER; i++) {
        char *t = memory_text(g, (size_t)i * 13 + 5);
        create_one(b.svc, t, &ignored[0], &ignored[1]);
        free(t);
    }
    for (int block = 0; block < 2 * BLOCKS; block++) {
        int with = ((block + 1) / 2) % 2 == 0; /* with, without, without, with, with, ... */
        si->strip = !with;
        for (int i = 0; i < PER; i++) {
            char *t = memory_text(g, (size_t)((block / 2) * PER + i) * 7);
            create_one(b.svc, t, &wall[with], &cpu[with]);
            n[with]++;
            free(t);
        }
    }
    printf("\n### Writes: mr_memory_create with the lexical index and without it\n\n");
    printf("%zu creates each way in blocks of %d (with, without, without, with, ...) after %d "
           "for warm-up, the same texts, one scratch SQLite file (synchronous=FULL: each create "
           "waits for an fsync, so the wall clock is mostly the disk's; the CPU time is the "
           "thread's own).\n\n",
           n[0], PER, PER);
    printf("| index | creates/s | ms per create (wall) | CPU µs per create | creates/s × without "
           "| CPU × without |\n");
    printf("|---|---|---|---|---|---|\n");
    for (int with = 0; with < 2; with++)
        printf("| %s | %.0f | %.3f | %.1f | %.3f | %.3f |\n",
               with ? "with the lexical side" : "without (content not indexed)",
               n[with] / wall[with], wall[with] / n[with] * 1e3, cpu[with] / n[with] * 1e6,
               (n[with] / wall[with]) / (n[0] / wall[0]), (cpu[with] / n[with]) / (cpu[0] / n[0]));
    svc_close(&b);
    unlink_db(path);
}

/* ---------------------------------------------------------- the search pool */

/* Appends memories [from, to) of the pool to the store, LOAD_BATCH per transaction. */
static void store_load(struct mr_store *s, struct mr_embedder *e, const struct strs *g, size_t from,
                       size_t to)
{
    struct mr_err err;
    struct mr_store_tx *tx;
    size_t dim = mr_embed_dim(e);
    float *vec = malloc(dim * sizeof *vec);
    if (mr_store_begin(s, MR_TX_WRITE, &tx, &err) != 0)
        die("begin", &err);
    if (from == 0) {
        struct mr_conversation c = {.user_id = mr_xstrdup(who.user_id),
                                    .tenant_id = mr_xstrdup(who.tenant_id),
                                    .metadata = mr_xstrdup("{}"),
                                    .is_active = true};
        snprintf(c.conversation_id, sizeof c.conversation_id, "%s", CONV);
        if (mr_store_conv_insert(tx, &c, &err) != 0)
            die("conversation", &err);
        mr_conversation_clear(&c);
    }
    for (size_t i = from; i < to; i++) {
        char *text = memory_text(g, i);
        if (mr_embed_one(e, text, strlen(text), vec, &err) != 0)
            die("embed", &err);
        struct mr_memory m = {0};
        mr_uuid_v4(m.memory_id);
        snprintf(m.conversation_id, sizeof m.conversation_id, "%s", CONV);
        m.user_id = (char *)who.user_id;
        m.tenant_id = (char *)who.tenant_id;
        m.content = text;
        m.memory_type = MR_LONG_TERM;
        m.embedding = vec;
        m.dim = dim;
        m.importance_score = 0.5;
        m.last_accessed_at = m.expires_at = MR_NO_TIME;
        m.metadata = "{}";
        if (mr_store_mem_insert(tx, &m, &err) != 0)
            die("insert", &err);
        free(text);
        if ((i + 1) % LOAD_BATCH == 0 &&
            (mr_store_commit(tx, &err) != 0 || mr_store_begin(s, MR_TX_WRITE, &tx, &err) != 0))
            die("commit", &err);
    }
    if (mr_store_commit(tx, &err) != 0)
        die("commit", &err);
    free(vec);
}

static const char *const mode_names[MR_SEARCH_MODES] = {"hybrid", "semantic", "lexical"};

struct lat {
    double *wall[MR_SEARCH_MODES], *cpu[MR_SEARCH_MODES];
    size_t n;
};

static double pct(double *v, size_t n, double p)
{
    qsort(v, n, sizeof *v, cmp_d);
    size_t i = (size_t)(n * p);
    return v[i < n ? i : n - 1];
}

/*
 * Every query of qs in each mode, mode after mode, ROUNDS times with the
 * modes' order rotated: a mode's pass asks distinct queries one after the
 * other, as a server sees them (asking one query in the three modes back to
 * back would hand the second and third the graph's nodes the first left in
 * the cache), and the rotation spreads slow spells of the shared machine.
 */
static void search_all(struct mr_service *svc, const struct strs *qs, int rounds, struct lat *out)
{
    size_t total = qs->n * (size_t)rounds;
    for (int m = 0; m < MR_SEARCH_MODES; m++) {
        out->wall[m] = malloc(total * sizeof(double));
        out->cpu[m] = malloc(total * sizeof(double));
    }
    out->n = total;
    struct mr_err err;
    for (int r = 0; r < rounds; r++)
        for (int k = 0; k < MR_SEARCH_MODES; k++) {
            int m = (k + r) % MR_SEARCH_MODES;
            for (size_t q = 0; q < qs->n; q++) {
                struct mr_search sq = {.query = qs->s[q],
                                       .query_len = strlen(qs->s[q]),
                                       .limit = LIMIT,
                                       .has_min_similarity = true,
                                       .min_similarity = 0,
                                       .mode = (enum mr_search_mode)m};
                struct mr_search_results res;
                double w0 = wall_s(), c0 = cpu_s();
                if (mr_memory_search(svc, &who, &sq, &res, &err) != 0)
                    die("search", &err);
                size_t i = (size_t)r * qs->n + q;
                out->cpu[m][i] = cpu_s() - c0;
                out->wall[m][i] = wall_s() - w0;
                mr_search_results_clear(&res);
            }
        }
}

static void lat_free(struct lat *l)
{
    for (int m = 0; m < MR_SEARCH_MODES; m++) {
        free(l->wall[m]);
        free(l->cpu[m]);
    }
}

static void print_latency(size_t size, const char *kind, struct lat *l)
{
    double w50[3], w99[3], c50[3], c99[3];
    for (int m = 0; m < MR_SEARCH_MODES; m++) {
        w50[m] = pct(l->wall[m], l->n, 0.50) * 1e3;
        w99[m] = pct(l->wall[m], l->n, 0.99) * 1e3;
        c50[m] = pct(l->cpu[m], l->n, 0.50) * 1e3;
        c99[m] = pct(l->cpu[m], l->n, 0.99) * 1e3;
    }
    static const int order[] = {MR_SEARCH_SEMANTIC, MR_SEARCH_HYBRID, MR_SEARCH_LEXICAL};
    for (int k = 0; k < 3; k++) {
        int m = order[k];
        printf("| %zuk | %s | %s | %zu | %.3f | %.3f | %.2f | %.2f | %.3f | %.3f | %.2f | %.2f |\n",
               size / 1000, kind, mode_names[m], l->n, w50[m], w99[m],
               w50[m] / w50[MR_SEARCH_SEMANTIC], w99[m] / w99[MR_SEARCH_SEMANTIC], c50[m], c99[m],
               c50[m] / c50[MR_SEARCH_SEMANTIC], c99[m] / c99[MR_SEARCH_SEMANTIC]);
    }
}

/*
 * What each side's depth costs in the index alone (mr_index_candidates and
 * the fusion's ranking, as search_index runs them; no embedding, no store):
 * the vector side's and the lexical side's k' varied on their own, against
 * the semantic mode's vector side at `limit`. Every query's vector is
 * embedded first; the depths take turns as the modes do in search_all.
 */
struct depth_cfg {
    size_t kv, kl; /* 0: that side not asked */
    /*
     * Bits: 1 neighbour context, as the service's hybrid and lexical
     * searches; 2 the service's results (mr_index_query.results = 10: the
     * int8 scan rescores 4 × 10, not 4 × the vector depth); 4 the cosine's
     * neighbour context (mr_index_query.cosine_context, hybrid's).
     */
    size_t ctx;
};

static void depth_cost(struct mr_index *ix, struct mr_embedder *e, const struct strs *qs,
                       size_t size, const char *kind)
{
    static const struct depth_cfg cfgs[] = {
        {LIMIT, 0, 0}, {100, 100, 0}, {100, 20, 0},  {20, 100, 0},  {50, 50, 0},
        {50, 20, 0},   {40, 20, 0},   {40, 20, 1},   {40, 20, 3},   {30, 30, 0},
        {30, 20, 0},   {20, 20, 0},   {0, LIMIT, 0}, {0, LIMIT, 1}, {0, LIMIT, 3}};
    enum { ROUNDS = 5 };
    size_t n_cfg = sizeof cfgs / sizeof cfgs[0];
    /*
     * BENCH_RANK_DEPTHS="10,0 20,20 40,20,1 ...": these depths instead (the first is the
     * baseline; a third number adds depth_cfg.ctx's bits: 1 neighbour context, 2 the
     * service's results, 4 the cosine's context; 7 is hybrid as served).
     */
    struct depth_cfg mine[32];
    const char *env = getenv("BENCH_RANK_DEPTHS");
    const struct depth_cfg *use = cfgs;
    if (env && strchr(env, ',')) {
        size_t m = 0;
        for (const char *p = env;
             p && m < 32 && sscanf(p, "%zu,%zu", &mine[m].kv, &mine[m].kl) == 2; m++) {
            mine[m].ctx = 0;
            const char *end = strchr(p, ' ');
            const char *third = strchr(strchr(p, ',') + 1, ',');
            if (third && (!end || third < end))
                mine[m].ctx = (size_t)atol(third + 1);
            if (mine[m].kv + mine[m].kl > 512 || mine[m].kv + mine[m].kl == 0)
                die("BENCH_RANK_DEPTHS: each pair's sum must be in 1..512", NULL);
            p = strchr(p, ' ') ? strchr(p, ' ') + 1 : NULL;
        }
        use = mine;
        n_cfg = m;
    }
    /*
     * BENCH_RANK_DUMP=file: every candidate of each query's first round, fused order, with
     * its cosine, lexical score and fused score in hex (%a), appended: two builds' files
     * differ where their rankings' bits do.
     */
    const char *dump_path = getenv("BENCH_RANK_DUMP");
    FILE *dump = dump_path ? fopen(dump_path, "a") : NULL;
    if (dump_path && !dump)
        die("BENCH_RANK_DUMP: cannot open the file", NULL);
    size_t dim = mr_embed_dim(e), total = qs->n * ROUNDS;
    struct mr_err err;
    float *vecs = malloc(qs->n * dim * sizeof *vecs);
    for (size_t q = 0; q < qs->n; q++)
        if (mr_embed_one(e, qs->s[q], strlen(qs->s[q]), vecs + q * dim, &err) != 0)
            die("embed", &err);
    double *cpu[32];
    for (size_t c = 0; c < n_cfg; c++)
        cpu[c] = malloc(total * sizeof **cpu);
    struct mr_index_candidate *got = malloc(512 * sizeof *got);
    struct mr_fusion_candidate *fc = malloc(512 * sizeof *fc);
    /* Each query's fused top LIMIT per depth (the first round's), to compare the orders. */
    int64_t *top[32];
    for (size_t c = 0; c < n_cfg; c++)
        top[c] = calloc(qs->n * LIMIT, sizeof **top);
    for (int r = 0; r < ROUNDS; r++)
        for (size_t k = 0; k < n_cfg; k++) {
            size_t c = (k + (size_t)r) % n_cfg;
            for (size_t q = 0; q < qs->n; q++) {
                double c0 = cpu_s();
                struct mr_lex_terms *t = mr_lex_terms_new(qs->s[q], strlen(qs->s[q]));
                struct mr_fusion fu = MR_FUSION_DEFAULTS;
                if (!use[c].kv)
                    fu.mode = MR_SEARCH_LEXICAL;
                else if (!use[c].kl)
                    fu.mode = MR_SEARCH_SEMANTIC;
                struct mr_index_query iq = {.vec = vecs + q * dim,
                                            .now = 1,
                                            .min_score = -INFINITY,
                                            .limit = use[c].kv ? use[c].kv : use[c].kl,
                                            .lex_limit = use[c].kl,
                                            .terms = t,
                                            .sides = (use[c].kv ? MR_INDEX_SIDE_VECTOR : 0) |
                                                     (use[c].kl ? MR_INDEX_SIDE_LEXICAL : 0),
                                            .neighbour_context = (use[c].ctx & 1) != 0,
                                            .cosine_context = (use[c].ctx & 4) != 0,
                                            .results = (use[c].ctx & 2) ? LIMIT : 0};
                size_t n = 0;
                if (mr_index_candidates(ix, &who, &iq, got, &n, &err) != 0)
                    die("candidates", &err);
                for (size_t i = 0; i < n; i++)
                    fc[i] = (struct mr_fusion_candidate){
                        .id = got[i].id, .cosine = got[i].cosine, .lexical = got[i].lexical};
                mr_fusion_rank(&fu, fc, n);
                mr_lex_terms_free(t);
                cpu[c][(size_t)r * qs->n + q] = cpu_s() - c0;
                for (size_t i = 0; r == 0 && i < n && i < LIMIT; i++)
                    top[c][q * LIMIT + i] = fc[i].id;
                if (dump && r == 0) {
                    fprintf(dump, "%zuk %s %zu,%zu,%zu q%zu:", size / 1000, kind, use[c].kv,
                            use[c].kl, use[c].ctx, q);
                    for (size_t i = 0; i < n; i++)
                        fprintf(dump, " %lld/%a/%a/%a", (long long)fc[i].id, fc[i].cosine,
                                fc[i].lexical, fc[i].score);
                    fprintf(dump, "\n");
                }
            }
        }
    double base50 = pct(cpu[0], total, 0.50), base99 = pct(cpu[0], total, 0.99);
    for (size_t c = 0; c < n_cfg; c++) {
        char name[96];
        if (!use[c].kl)
            snprintf(name, sizeof name, "semantic: vector %zu", use[c].kv);
        else if (!use[c].kv)
            snprintf(name, sizeof name, "lexical: lexical %zu", use[c].kl);
        else
            snprintf(name, sizeof name, "hybrid: vector %zu, lexical %zu", use[c].kv, use[c].kl);
        if (use[c].ctx & 1)
            snprintf(name + strlen(name), sizeof name - strlen(name), ", neighbour context");
        if (use[c].ctx & 2)
            snprintf(name + strlen(name), sizeof name - strlen(name), ", results 10");
        if (use[c].ctx & 4)
            snprintf(name + strlen(name), sizeof name - strlen(name), ", cosine context");
        double p50 = pct(cpu[c], total, 0.50), p99 = pct(cpu[c], total, 0.99);
        printf("| %zuk | %s | %s | %.1f | %.1f | %.2f | %.2f |\n", size / 1000, kind, name,
               p50 * 1e6, p99 * 1e6, p50 / base50, p99 / base99);
        free(cpu[c]);
    }
    /* What `results` changes: the fused top 10 against the same depths without it. */
    for (size_t c = 0; c < n_cfg; c++) {
        size_t b = n_cfg;
        for (size_t o = 0; o < n_cfg && (use[c].ctx & 2); o++)
            if (use[o].kv == use[c].kv && use[o].kl == use[c].kl &&
                use[o].ctx == (use[c].ctx & ~(size_t)2))
                b = o;
        if (b == n_cfg)
            continue;
        size_t same = 0;
        for (size_t q = 0; q < qs->n; q++)
            same += memcmp(top[c] + q * LIMIT, top[b] + q * LIMIT, LIMIT * sizeof **top) == 0;
        printf("| %zuk | %s | vector %zu, lexical %zu%s: fused top 10 with results 10 equal to "
               "without | %zu / %zu |\n",
               size / 1000, kind, use[c].kv, use[c].kl,
               (use[c].ctx & 1) ? ", neighbour context" : "", same, qs->n);
    }
    for (size_t c = 0; c < n_cfg; c++)
        free(top[c]);
    if (dump)
        fclose(dump);
    free(got);
    free(fc);
    free(vecs);
}

int main(int argc, char **argv)
{
    size_t sizes[8] = {10000, 100000}, n_sizes = 2;
    if (argc > 1) {
        n_sizes = 0;
        for (int i = 1; i < argc && n_sizes < 8; i++)
            sizes[n_sizes++] = (size_t)atol(argv[i]);
    }
    struct mr_err err;
    double threshold;
    struct mr_embedder *e = mr_embed_builtin_open(MR_SEMANTIC_V2_MODEL, 0,
                                                  "models/" MR_SEMANTIC_FILE, &threshold, &err);
    if (!e)
        die("model (run from the repository root after `make`)", &err);
    struct strs g = glosses();
    size_t max_size = 0;
    for (size_t i = 0; i < n_sizes; i++)
        max_size = sizes[i] > max_size ? sizes[i] : max_size;
    if (g.n < 1000 || g.n < max_size / 2) {
        fprintf(stderr, "bench_rank: only %zu WordNet glosses (wordnet-base installed?)\n", g.n);
        return 1;
    }
    struct strs questions = {0};
    questions_of(&questions, "tests/data/conversations_dev.tsv");
    questions_of(&questions, "tests/data/text2sql_dev.tsv");
    if (questions.n == 0) {
        fprintf(stderr, "bench_rank: no questions in tests/data (run from the repository root)\n");
        return 1;
    }
    char dir[] = "/tmp/bench-rank-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    printf("bench_rank: %s (dim %zu), SQLite store + in-process index, %ld cores shared with "
           "whatever else runs; limit %d, min_similarity 0\n",
           mr_embed_name(e), mr_embed_dim(e), sysconf(_SC_NPROCESSORS_ONLN), LIMIT);

    write_throughput(e, &g, dir);

    char path[600];
    snprintf(path, sizeof path, "%s/bench-rank.db", dir);
    struct bench_svc b;
    struct mr_store *s = mr_store_sqlite_open(path, 2, &err);
    if (!s)
        die("store", &err);
    size_t loaded = 0;
    printf("\n### Search per mode, through mr_memory_search\n\n");
    printf("| memories | queries | mode | n | p50 ms | p99 ms | p50 / semantic | p99 / semantic "
           "| CPU p50 ms | CPU p99 ms | CPU p50 / semantic | CPU p99 / semantic |\n");
    printf("|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    char mem_rows[8][256];
    for (size_t si = 0; si < n_sizes; si++) {
        size_t n = sizes[si];
        if (n > loaded) {
            store_load(s, e, &g, loaded, n);
            loaded = n;
        }
        /* Loaded as `memori serve` loads it: every entry, then the graph built aside. */
        mr_store_close(s);
        long rss0 = rss_kib();
        svc_open(&b, path, e, mr_index_new(mr_embed_dim(e)));
        double t0 = wall_s();
        if (mr_service_load_index(b.svc, &err) != 0)
            die("load", &err);
        double load_s = wall_s() - t0;
        long rss1 = rss_kib();
        size_t lex_bytes = mr_index_lexical_bytes(b.index);
        mr_index_set_ann(b.index, HNSW_THRESHOLD, 0);
        while (mr_index_building(b.index) > 0)
            usleep(100000);
        snprintf(mem_rows[si], sizeof mem_rows[si], "| %zuk | %.0f | %.1f | %.2f s |", n / 1000,
                 (double)lex_bytes / (double)n, (double)(rss1 - rss0) * 1024 / (double)n, load_s);
        /* The question set and as many gloss-word queries; a warm-up pass first. */
        struct strs words = {0};
        for (size_t q = 0; q < questions.n; q++) {
            char *w = four_words(g.s[(q * 7919) % n]);
            strs_add(&words, w, strlen(w));
            free(w);
        }
        struct lat warm;
        search_all(b.svc, &questions, 1, &warm);
        lat_free(&warm);
        int rounds = 5;
        struct lat lq, lw;
        search_all(b.svc, &questions, rounds, &lq);
        search_all(b.svc, &words, rounds, &lw);
        print_latency(n, "questions", &lq);
        print_latency(n, "gloss words", &lw);
        if (getenv("BENCH_RANK_DEPTHS")) { /* "1", or the depths to compare (depth_cost) */
            printf("\n| memories | queries | depths | CPU p50 µs | CPU p99 µs | p50 / semantic | "
                   "p99 / semantic |\n|---|---|---|---|---|---|---|\n");
            depth_cost(b.index, e, &questions, n, "questions");
            depth_cost(b.index, e, &words, n, "gloss words");
            printf("\n");
        }
        lat_free(&lq);
        lat_free(&lw);
        strs_free(&words);
        svc_close(&b);
        s = mr_store_sqlite_open(path, 2, &err);
        if (!s)
            die("store", &err);
    }
    mr_store_close(s);
    printf("\n### The lexical side's memory\n\n");
    printf("| memories | lexical index bytes/memory (mr_index_lexical_bytes) | RSS growth of the "
           "whole load, bytes/memory (vectors, metadata, lexical) | load time |\n");
    printf("|---|---|---|---|\n");
    for (size_t si = 0; si < n_sizes; si++)
        printf("%s\n", mem_rows[si]);
    unlink_db(path);
    rmdir(dir);
    strs_free(&g);
    strs_free(&questions);
    mr_embed_destroy(e);
    return 0;
}
