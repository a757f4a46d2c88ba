/*
 * Memory hygiene (issue 20) in the service, on the SQLite store: the
 * exact-duplicate normalisation, the near-duplicate threshold measured on
 * tests/data/dedup_dev.tsv with the built-in model (false merges <= 1 %,
 * docs/perf.md "Hygiene (issue 20)"), and fault injection: a failing
 * history write fails the change it records.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/core/core_int.h"
#include "faulty_store.h"
#include "pg_server.h"
#include "memori/embed.h"
#include "memori/fusion.h"
#include "memori/index.h"
#include "memori/model_file.h"
#include "memori/service.h"
#include "memori/store.h"
#include "test.h"

static const char CONV[] = "55555555-5555-4555-8555-555555555555";
static const struct mr_identity alice = {"alice", "default"};

static const char *model_path(void)
{
    const char *p = getenv("MEMORI_MODEL_PATH");
    return p ? p : "models/" MR_SEMANTIC_FILE;
}

/* ---- normalisation ---- */

static bool same_key(const char *a, const char *b)
{
    struct mr_memory x = {.content = (char *)a, .memory_type = MR_RULE};
    struct mr_memory y = {.content = (char *)b, .memory_type = MR_RULE};
    char kx[72], ky[72];
    core_dedup_key(&x, kx);
    core_dedup_key(&y, ky);
    return strcmp(kx, ky) == 0;
}

TEST(test_normalise_collapses_unicode_space_and_folds_ascii_only)
{
    size_t n;
    /* U+00A0, U+3000, U+2009 and tabs are white space; É and ß stay as they are. */
    char *s = core_dedup_normalise("  Use\xc2\xa0JOINs\t\t\xe3\x80\x80on \xc3\x89t\xc3\xa9 "
                                   "Stra\xc3\x9f\x65\xe2\x80\x89 ",
                                   strlen("  Use\xc2\xa0JOINs\t\t\xe3\x80\x80on \xc3\x89t\xc3\xa9 "
                                          "Stra\xc3\x9f\x65\xe2\x80\x89 "),
                                   &n);
    CHECK_STR(s, "use joins on \xc3\x89t\xc3\xa9 stra\xc3\x9f\x65");
    CHECK_INT((long long)n, (long long)strlen(s));
    free(s);
    CHECK(same_key("Always use JOINs", "  always   USE joins\n"));
    CHECK(!same_key("Always use JOINs", "Always use JOINs."));
    /* Non-ASCII letters are not folded: É and é differ. */
    CHECK(!same_key("\xc3\x89t\xc3\xa9", "\xc3\xa9t\xc3\xa9"));
    /* Type and data source are part of the key. */
    struct mr_memory a = {.content = "x", .memory_type = MR_RULE};
    struct mr_memory b = {.content = "x", .memory_type = MR_LONG_TERM};
    struct mr_memory c = {.content = "x", .memory_type = MR_RULE, .has_data_source_id = true};
    char ka[72], kb[72], kc[72];
    core_dedup_key(&a, ka);
    core_dedup_key(&b, kb);
    core_dedup_key(&c, kc);
    CHECK(strcmp(ka, kb) != 0 && strcmp(ka, kc) != 0);
}

/* ---- the calibration ---- */

struct env {
    struct mr_store *store;
    struct mr_embedder *embedder;
    struct mr_index *index;
    struct mr_service *svc;
};

static bool open_env(struct env *e, const char *path, bool faulty, struct mr_embedder *embedder)
{
    struct mr_err err;
    memset(e, 0, sizeof *e);
    struct mr_store *s = mr_store_sqlite_open(path, 2, &err);
    e->store = faulty ? faulty_store_wrap(s) : s;
    if (!e->store) {
        fprintf(stdout, "    cannot open the SQLite store: %s\n", err.msg);
        return false;
    }
    e->embedder = embedder;
    e->index = mr_index_new(mr_embed_dim(embedder));
    e->svc = mr_service_new(&(struct mr_service_config){
        .store = e->store,
        .embedder = e->embedder,
        .index = e->index,
        .short_term_expiry_days = 7,
        .archive_threshold_days = 30,
        .default_limit = 10,
    });
    return mr_service_load_index(e->svc, &err) == 0;
}

static void close_env(struct env *e)
{
    mr_service_free(e->svc);
    if (e->index)
        mr_index_destroy(e->index);
    mr_store_close(e->store);
}

static int create(struct env *e, const char *text, enum mr_memory_type type,
                  enum mr_dedup_mode mode, struct mr_memory *out, enum mr_create_outcome *how)
{
    struct mr_err err;
    struct mr_memory_create in = {.content = text,
                                  .content_len = strlen(text),
                                  .memory_type = type,
                                  .importance_score = 0.5,
                                  .expires_at = MR_NO_TIME,
                                  .dedup = mode};
    memcpy(in.conversation_id, CONV, sizeof CONV);
    int rc = mr_memory_create_outcome(e->svc, &alice, &in, out, how, &err);
    if (rc)
        fprintf(stdout, "    create failed: %s\n", err.msg);
    return rc;
}

#define MAX_ROWS 512
#define STEPS 50 /* thresholds 0.50, 0.51, ..., 0.99 */

struct row {
    char kind;
    char id[16];
    enum mr_memory_type type;
    char text[512];
};

static size_t load_rows(struct row *rows)
{
    FILE *f = fopen("tests/data/dedup_dev.tsv", "r");
    char line[1024];
    size_t n = 0;
    while (f && n < MAX_ROWS && fgets(line, sizeof line, f)) {
        if (line[0] == '#' || line[0] == '\n')
            continue;
        line[strcspn(line, "\n")] = '\0';
        char *kind = strtok(line, "\t"), *id = strtok(NULL, "\t"), *type = strtok(NULL, "\t"),
             *text = strtok(NULL, "\t");
        if (!kind || !id || !type || !text)
            continue;
        struct row *r = &rows[n];
        r->kind = kind[0];
        snprintf(r->id, sizeof r->id, "%s", id);
        snprintf(r->text, sizeof r->text, "%s", text);
        if (mr_memory_type_parse(type, strlen(type), &r->type) == 0)
            n++;
    }
    if (f)
        fclose(f);
    return n;
}

/*
 * For each new memory (N row), what the near-duplicate rule sees: the best
 * live memory of its type by the fused score against the pool (the D rows,
 * one user), through core_dedup_near itself. Then, per threshold, the
 * false merges (a "-" row merged, or a restatement merged into another
 * memory) over the new memories that are no restatement, and the recall
 * over the restatements.
 */
TEST(test_dedup_threshold_keeps_false_merges_under_one_percent)
{
    static struct row rows[MAX_ROWS];
    size_t n = load_rows(rows);
    CHECK(n > 100);
    struct mr_err err;
    struct mr_embedder *emb = mr_embed_open(
        &(struct mr_embed_spec){.provider = MR_PROVIDER_BUILTIN, .model_path = model_path()}, &err);
    if (!emb) {
        test_skip("the built-in model is not built (%s)", err.msg);
        return;
    }
    char path[512];
    struct env e;
    CHECK(open_env(&e, test_path(path, sizeof path, "calibrate.db"), false, emb));
    /* The pool: each D row's memory, by its id. */
    static int64_t pool_ids[MAX_ROWS];
    static char pool_names[MAX_ROWS][16];
    size_t n_pool = 0;
    for (size_t i = 0; i < n; i++) {
        if (rows[i].kind != 'D')
            continue;
        struct mr_memory m;
        enum mr_create_outcome how;
        CHECK(create(&e, rows[i].text, rows[i].type, MR_DEDUP_OFF, &m, &how) == 0);
        CHECK(how == MR_CREATE_STORED);
        pool_ids[n_pool] = m.id;
        snprintf(pool_names[n_pool++], 16, "%s", rows[i].id);
        mr_memory_clear(&m);
    }
    long false_merge[STEPS] = {0}, true_merge[STEPS] = {0};
    long restatements = 0, others = 0;
    int64_t now = mr_clock_now(e.svc->clock);
    for (size_t i = 0; i < n; i++) {
        if (rows[i].kind != 'N')
            continue;
        bool restates = strcmp(rows[i].id, "-") != 0;
        restates ? restatements++ : others++;
        struct mr_memory q = {.content = rows[i].text, .memory_type = rows[i].type};
        CHECK(core_embed(e.svc, q.content, strlen(q.content), NULL, &q.embedding, &err) == 0);
        struct mr_fusion_candidate *c = NULL;
        size_t k = 0;
        CHECK(core_dedup_near(e.svc, NULL, &alice, &q, 0.0, now, &c, &k, &err) == 0);
        free(q.embedding);
        if (k == 0) {
            free(c);
            continue;
        }
        const char *best = "?";
        for (size_t p = 0; p < n_pool; p++)
            if (pool_ids[p] == c[0].id)
                best = pool_names[p];
        bool right = restates && strcmp(best, rows[i].id) == 0;
        for (int s = 0; s < STEPS; s++) {
            double th = 0.50 + 0.01 * s;
            if (c[0].score >= th - 1e-12)
                right ? true_merge[s]++ : false_merge[s]++;
        }
        if (getenv("MEMORI_DEDUP_VERBOSE"))
            fprintf(stdout, "    %.4f %-4s -> %-4s %s\n", c[0].score, rows[i].id, best,
                    rows[i].text);
        free(c);
    }
    fprintf(stdout, "    %ld restatements, %ld other facts; threshold: false merges / recall\n",
            restatements, others);
    int chosen = -1;
    for (int s = 0; s < STEPS; s++) {
        double th = 0.50 + 0.01 * s;
        if (s % 10 == 0 || (th > 0.645 && th < 0.805))
            fprintf(stdout, "    %.2f: %ld (%.1f %%) / %.1f %%\n", th, false_merge[s],
                    100.0 * false_merge[s] / (double)others,
                    100.0 * true_merge[s] / (double)restatements);
        if (th > MR_DEDUP_THRESHOLD - 0.005 && th < MR_DEDUP_THRESHOLD + 0.005)
            chosen = s;
    }
    CHECK(chosen >= 0);
    /*
     * The contract: at the threshold, at most 1 % false merges; and merging
     * still catches some restatements (at least 15 %), or it is no feature.
     */
    CHECK(false_merge[chosen] * 100 <= others);
    CHECK(true_merge[chosen] * 100 >= 15 * restatements);
    close_env(&e);
    mr_embed_destroy(emb);
}

/* ---- fault injection ---- */

/* What the memory id looks like to its owner: content, type, archived, accesses, events. */
static void state(struct env *e, const char *id, char *out, size_t cap)
{
    struct mr_err err;
    struct mr_memory m;
    struct mr_history_event *ev = NULL;
    size_t n = 0;
    int64_t total = -1;
    struct mr_stats st = {0};
    int rc = mr_memory_get(e->svc, &alice, id, &m, &err);
    mr_memory_history(e->svc, &alice, false, id, (struct mr_page){100, 0}, &ev, &n, &total, &err);
    mr_memory_stats(e->svc, &alice, &st, &err);
    snprintf(out, cap, "%s|%s|%d|%lld|%.3f|%lld events|%lld memories, %lld archived",
             rc ? "absent" : m.content, rc ? "" : mr_memory_type_name(m.memory_type),
             rc ? -1 : m.is_archived, rc ? -1LL : (long long)m.access_count,
             rc ? -1.0 : m.importance_score, (long long)total, (long long)st.total,
             (long long)st.archived);
    for (size_t i = 0; i < n; i++)
        mr_history_event_clear(&ev[i]);
    free(ev);
    if (rc == 0)
        mr_memory_clear(&m);
}

/*
 * Each write path with its history write failing: the call fails with the
 * store's error and leaves the memory, its statistics and its history as
 * they were; without the fault the same call goes through.
 */
static void history_faults(struct env *e)
{
    struct mr_err err;
    struct mr_memory m, got;
    enum mr_create_outcome how;
    if (create(e, "refunds are negative payments", MR_SHORT_TERM, MR_DEDUP_OFF, &m, &how) != 0) {
        CHECK(false);
        return;
    }
    char id[MR_UUID_LEN], before[1024], after[1024];
    memcpy(id, m.memory_id, MR_UUID_LEN);
    mr_memory_clear(&m);
    state(e, id, before, sizeof before);
    CHECK(strstr(before, "|1 events|1 memories, 0 archived") != NULL);

    faulty_store_fail_op(e->store, "hist_insert");
    CHECK(create(e, "a new fact about invoices", MR_RULE, MR_DEDUP_OFF, &m, &how) == MR_EUNAVAIL);
    CHECK(create(e, "Refunds are  negative payments", MR_SHORT_TERM, MR_DEDUP_OFF, &m, &how) ==
          MR_EUNAVAIL);
    CHECK(create(e, "Refunds are negative payments.", MR_SHORT_TERM, MR_DEDUP_MERGE, &m, &how) ==
          MR_EUNAVAIL);
    struct mr_memory_patch p = {.content = "refunds are payments below zero", .content_len = 31};
    CHECK(mr_memory_update(e->svc, &alice, id, &p, &got, &err) == MR_EUNAVAIL);
    CHECK(mr_memory_promote(e->svc, &alice, id, &got, &err) == MR_EUNAVAIL);
    CHECK(mr_memory_delete(e->svc, &alice, id, &err) == MR_EUNAVAIL);
    faulty_store_fail_op(e->store, NULL);
    state(e, id, after, sizeof after);
    CHECK_STR(after, before);

    /* Supersede, failing then not. */
    CHECK(create(e, "refunds are stored as negative amounts", MR_SHORT_TERM, MR_DEDUP_OFF, &m,
                 &how) == 0);
    char(*olds)[MR_UUID_LEN] = mr_xcalloc(1, sizeof *olds);
    memcpy(olds[0], id, MR_UUID_LEN);
    struct mr_memory_patch sp = {.supersedes = (const char(*)[MR_UUID_LEN])olds, .n_supersedes = 1};
    state(e, id, before, sizeof before);
    faulty_store_fail_op(e->store, "hist_insert");
    CHECK(mr_memory_update(e->svc, &alice, m.memory_id, &sp, &got, &err) == MR_EUNAVAIL);
    faulty_store_fail_op(e->store, NULL);
    state(e, id, after, sizeof after);
    CHECK_STR(after, before);
    CHECK(mr_memory_update(e->svc, &alice, m.memory_id, &sp, &got, &err) == 0);
    mr_memory_clear(&got);
    state(e, id, after, sizeof after);
    CHECK(strstr(after, "|short_term|1|") != NULL && strstr(after, "|2 events|") != NULL);
    /* And the calls that failed above go through without the fault. */
    CHECK(mr_memory_promote(e->svc, &alice, m.memory_id, &got, &err) == 0);
    mr_memory_clear(&got);
    CHECK(mr_memory_delete(e->svc, &alice, m.memory_id, &err) == 0);
    free(olds);
    mr_memory_clear(&m);
}

TEST(test_failing_history_write_fails_the_change_sqlite)
{
    struct mr_err err;
    struct mr_embedder *emb = mr_embed_lexical_new(64, &err);
    char path[512];
    struct env e;
    if (open_env(&e, test_path(path, sizeof path, "faulty-history.db"), true, emb)) {
        history_faults(&e);
        close_env(&e);
    } else {
        CHECK(false);
    }
    mr_embed_destroy(emb);
}

TEST(test_failing_history_write_fails_the_change_postgres)
{
    struct mr_err err;
    struct pg_server *pg = pg_server_shared();
    char url[256];
    CHECK(pg && pg_server_database(pg, "hygiene_faults", url, sizeof url) == 0);
    struct mr_store *inner = mr_store_postgres_open(url, 2, 2, 40, &err);
    if (!inner)
        fprintf(stdout, "    %s\n", err.msg);
    CHECK(inner);
    struct mr_embedder *emb = mr_embed_lexical_new(64, &err);
    CHECK(mr_store_check_model(inner, mr_embed_name(emb), 64, &err) == 0);
    struct env e = {.store = faulty_store_wrap(inner), .embedder = emb};
    /* No in-process index: PostgreSQL searches its own rows, near duplicates included. */
    e.svc = mr_service_new(&(struct mr_service_config){
        .store = e.store,
        .embedder = emb,
        .short_term_expiry_days = 7,
        .archive_threshold_days = 30,
        .default_limit = 10,
    });
    history_faults(&e);
    close_env(&e);
    mr_embed_destroy(emb);
}

TEST_MAIN("hygiene", T(test_normalise_collapses_unicode_space_and_folds_ascii_only),
          T(test_dedup_threshold_keeps_false_merges_under_one_percent),
          T(test_failing_history_write_fails_the_change_sqlite),
          T(test_failing_history_write_fails_the_change_postgres))
