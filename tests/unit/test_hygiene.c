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
#include "memori/json.h"
#include "memori/model_file.h"
#include "memori/service.h"
#include "memori/sql.h"
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

/* ---- the history of what no PATCH writes: promotions, cascades, schema imports ---- */

static const char CONV2[] = "66666666-6666-4666-8666-666666666666";

/* A service over store (wrapped in the faulty store) that flushes accesses only when asked. */
static bool open_history_env(struct env *e, struct mr_store *store, struct mr_embedder *emb,
                             bool with_index)
{
    struct mr_err err;
    memset(e, 0, sizeof *e);
    if (!store)
        return false;
    e->store = faulty_store_wrap(store);
    e->embedder = emb;
    e->index = with_index ? mr_index_new(mr_embed_dim(emb)) : NULL;
    e->svc = mr_service_new(&(struct mr_service_config){
        .store = e->store,
        .embedder = emb,
        .index = e->index,
        .short_term_expiry_days = 7,
        .archive_threshold_days = 30,
        .default_limit = 10,
        .access_flush_ms = -1,
    });
    return !with_index || mr_service_load_index(e->svc, &err) == 0;
}

static int create_with(struct env *e, const char *conv, const char *text, enum mr_memory_type type,
                       double importance, char out_id[MR_UUID_LEN])
{
    struct mr_err err;
    struct mr_memory m;
    struct mr_memory_create in = {.content = text,
                                  .content_len = strlen(text),
                                  .memory_type = type,
                                  .importance_score = importance,
                                  .expires_at = MR_NO_TIME};
    memcpy(in.conversation_id, conv, MR_UUID_LEN);
    int rc = mr_memory_create(e->svc, &alice, &in, &m, &err);
    if (rc) {
        fprintf(stdout, "    create failed: %s\n", err.msg);
        return rc;
    }
    memcpy(out_id, m.memory_id, MR_UUID_LEN);
    mr_memory_clear(&m);
    return 0;
}

static long search(struct env *e, const char *q)
{
    struct mr_search s = {.query = q, .query_len = strlen(q), .has_min_similarity = true};
    struct mr_search_results r;
    struct mr_err err;
    if (mr_memory_search(e->svc, &alice, &s, &r, &err) != 0) {
        fprintf(stdout, "    search: %s\n", err.msg);
        return -1;
    }
    long n = (long)r.n;
    mr_search_results_clear(&r);
    return n;
}

/* The row as the store holds it (accesses not flushed are not in it). */
static int stored(struct env *e, const char *id, struct mr_memory *out)
{
    struct mr_store_tx *tx;
    struct mr_err err;
    int rc = mr_store_begin(e->store, MR_TX_READ, &tx, &err);
    if (rc)
        return rc;
    rc = mr_store_mem_get(tx, id, out, &err);
    mr_store_rollback(tx);
    return rc;
}

/* id's events as the store holds them (whoever may read them): "kind/actor,..." into out. */
static size_t events(struct env *e, const char *id, struct mr_history_event **ev, char *out,
                     size_t cap)
{
    struct mr_store_tx *tx;
    struct mr_err err;
    size_t n = 0;
    int64_t total = 0;
    *ev = NULL;
    out[0] = '\0';
    if (mr_store_begin(e->store, MR_TX_READ, &tx, &err) != 0)
        return 0;
    mr_store_hist_list(tx, id, 100, 0, ev, &n, &total, &err);
    mr_store_rollback(tx);
    size_t o = 0;
    for (size_t i = 0; i < n && o < cap; i++)
        o += (size_t)snprintf(out + o, cap - o, "%s%s/%s", i ? "," : "", (*ev)[i].kind,
                              (*ev)[i].actor);
    return n;
}

static void events_free(struct mr_history_event *ev, size_t n)
{
    for (size_t i = 0; i < n; i++)
        mr_history_event_clear(&ev[i]);
    free(ev);
}

/* The change of field in event e: its old and new value (borrowed from *doc, json_free it). */
static const struct mr_json *change(const struct mr_history_event *e, const char *field,
                                    struct mr_json **doc)
{
    *doc = mr_json_parse(e->changes, strlen(e->changes), NULL);
    return mr_json_get(*doc, field);
}

/*
 * A search's automatic promotion, written by the access flusher, is a
 * promote event by memori in the flush's own transaction: a failing
 * history write fails the flush (the row stays short_term, the accesses
 * pending), then the next flush writes both. Settled into a PATCH instead,
 * it is the same event, before the PATCH's own.
 */
static void promotion_history(struct env *e)
{
    struct mr_err err;
    char a[MR_UUID_LEN], b[MR_UUID_LEN], kinds[512];
    struct mr_history_event *ev;
    struct mr_memory m;
    CHECK(create_with(e, CONV, "customer churn is computed monthly", MR_SHORT_TERM, 0.65, a) == 0);
    for (int i = 0; i < 5; i++)
        CHECK(search(e, "customer churn") >= 1);
    faulty_store_fail_op(e->store, "hist_insert");
    CHECK_INT(mr_service_flush_access(e->svc, &err), MR_EUNAVAIL);
    faulty_store_fail_op(e->store, NULL);
    CHECK(stored(e, a, &m) == 0);
    CHECK_STR(mr_memory_type_name(m.memory_type), "short_term");
    CHECK_INT(m.access_count, 0);
    mr_memory_clear(&m);
    size_t n = events(e, a, &ev, kinds, sizeof kinds);
    CHECK_STR(kinds, "create/alice");
    events_free(ev, n);

    CHECK(mr_service_flush_access(e->svc, &err) == 0);
    CHECK(stored(e, a, &m) == 0);
    CHECK_STR(mr_memory_type_name(m.memory_type), "long_term");
    CHECK_INT(m.access_count, 5);
    double importance = m.importance_score;
    mr_memory_clear(&m);
    n = events(e, a, &ev, kinds, sizeof kinds);
    CHECK_STR(kinds, "create/alice,promote/memori");
    if (n == 2) {
        struct mr_json *doc;
        const struct mr_json *c = change(&ev[1], "memory_type", &doc);
        CHECK_STR(mr_json_string_value(mr_json_get(c, "old")), "short_term");
        CHECK_STR(mr_json_string_value(mr_json_get(c, "new")), "long_term");
        c = mr_json_get(doc, "expires_at");
        CHECK(mr_json_is_string(mr_json_get(c, "old")));
        CHECK(mr_json_is_null(mr_json_get(c, "new")));
        c = mr_json_get(doc, "importance_score");
        CHECK_NEAR(mr_json_real_value(mr_json_get(c, "old")), 0.65, 1e-9);
        CHECK_NEAR(mr_json_real_value(mr_json_get(c, "new")), importance, 1e-9);
        CHECK_NEAR(importance, 0.80, 1e-9);
        /* Only the promotion's fields, as POST .../promote records them. */
        CHECK(!mr_json_get(doc, "content") && !mr_json_get(doc, "access_count") &&
              !mr_json_get(doc, "is_archived"));
        mr_json_free(doc);
    }
    events_free(ev, n);

    /* Promoted by pending accesses a PATCH settles: memori's promote, then alice's update. */
    CHECK(create_with(e, CONV, "refund totals exclude taxes", MR_SHORT_TERM, 0.65, b) == 0);
    for (int i = 0; i < 5; i++)
        CHECK(search(e, "refund totals") >= 1);
    struct mr_memory_patch p = {.content = "refund totals exclude taxes and fees",
                                .content_len = 36};
    CHECK(mr_memory_update(e->svc, &alice, b, &p, &m, &err) == 0);
    CHECK_STR(mr_memory_type_name(m.memory_type), "long_term");
    mr_memory_clear(&m);
    n = events(e, b, &ev, kinds, sizeof kinds);
    CHECK_STR(kinds, "create/alice,promote/memori,update/alice");
    events_free(ev, n);
    /* A long_term memory's later accesses promote nothing: no second event. */
    for (int i = 0; i < 5; i++)
        CHECK(search(e, "customer churn") >= 1);
    CHECK(mr_service_flush_access(e->svc, &err) == 0);
    n = events(e, a, &ev, kinds, sizeof kinds);
    CHECK_STR(kinds, "create/alice,promote/memori");
    events_free(ev, n);
}

/*
 * A conversation's delete records the delete event of each memory its
 * cascade removes, in its transaction: failing, nothing is deleted; the
 * events, as a DELETE of the memory records them, are an admin's to read.
 */
static void cascade_history(struct env *e)
{
    struct mr_err err;
    char a[MR_UUID_LEN], b[MR_UUID_LEN], kinds[512];
    struct mr_history_event *ev;
    struct mr_memory m;
    CHECK(create_with(e, CONV2, "invoices are issued on the first", MR_RULE, 0.5, a) == 0);
    CHECK(create_with(e, CONV2, "a quarter starts in April", MR_LONG_TERM, 0.5, b) == 0);
    faulty_store_fail_op(e->store, "hist_insert");
    CHECK_INT(mr_conversation_delete(e->svc, &alice, CONV2, &err), MR_EUNAVAIL);
    faulty_store_fail_op(e->store, NULL);
    CHECK(mr_memory_get(e->svc, &alice, a, &m, &err) == 0);
    mr_memory_clear(&m);
    CHECK(mr_conversation_delete(e->svc, &alice, CONV2, &err) == 0);
    CHECK_INT(mr_memory_get(e->svc, &alice, b, &m, &err), MR_ENOTFOUND);
    const char *ids[] = {a, b};
    const char *texts[] = {"invoices are issued on the first", "a quarter starts in April"};
    for (int i = 0; i < 2; i++) {
        size_t n = events(e, ids[i], &ev, kinds, sizeof kinds);
        CHECK_STR(kinds, "create/alice,delete/alice");
        if (n == 2) {
            struct mr_json *doc;
            const struct mr_json *c = change(&ev[1], "content", &doc);
            CHECK_STR(mr_json_string_value(mr_json_get(c, "old")), texts[i]);
            CHECK(mr_json_is_null(mr_json_get(c, "new")));
            /* Every field, as a DELETE's. */
            static const char *const fields[] = {
                "content",          "memory_type",     "importance_score", "context_tags",
                "related_entities", "metadata",        "expires_at",       "is_archived",
                "shared",           "conversation_id", "data_source_id"};
            for (size_t f = 0; f < sizeof fields / sizeof fields[0]; f++)
                CHECK(mr_json_get(doc, fields[f]) != NULL);
            mr_json_free(doc);
        }
        events_free(ev, n);
        /* As after a DELETE: an admin of the tenant reads them, the owner no longer. */
        size_t k = 0;
        int64_t total = 0;
        CHECK(mr_memory_history(e->svc, &alice, true, ids[i], (struct mr_page){100, 0}, &ev, &k,
                                &total, &err) == 0);
        CHECK_INT(k, 2);
        events_free(ev, k);
        CHECK_INT(mr_memory_history(e->svc, &alice, false, ids[i], (struct mr_page){100, 0}, &ev,
                                    &k, &total, &err),
                  MR_ENOTFOUND);
    }
}

static int put_schema(struct env *e, int64_t ds, const char *ddl)
{
    struct mr_sql_schema *schema = NULL;
    struct mr_sql_diag diag = {0};
    struct mr_err err;
    if (mr_sql_parse_ddl(MR_SQL_POSTGRESQL, ddl, strlen(ddl), &schema, &diag, &err) != 0) {
        fprintf(stdout, "    DDL: %s\n", err.msg);
        return -1;
    }
    struct mr_schema_summary sum;
    int rc = mr_schema_put(e->svc, &alice, ds, schema, &sum, &err);
    if (rc == 0)
        mr_schema_summary_clear(&sum);
    mr_sql_schema_free(schema);
    return rc;
}

/* The data source's memories: the table named table's (entity) or its join's into out. */
static bool schema_memory(struct env *e, int64_t ds, const char *needle, enum mr_memory_type t,
                          char out[MR_UUID_LEN])
{
    struct mr_store_tx *tx;
    struct mr_err err;
    int64_t *ids = NULL;
    size_t n = 0;
    bool found = false;
    if (mr_store_begin(e->store, MR_TX_READ, &tx, &err) != 0)
        return false;
    mr_store_mem_ids_by_data_source(tx, "default", ds, &ids, &n, &err);
    for (size_t i = 0; i < n && !found; i++) {
        struct mr_memory m;
        if (mr_store_mem_get_by_id(tx, ids[i], &m, &err) != 0)
            continue;
        if (m.memory_type == t && strstr(m.content, needle)) {
            memcpy(out, m.memory_id, MR_UUID_LEN);
            found = true;
        }
        mr_memory_clear(&m);
    }
    mr_store_rollback(tx);
    free(ids);
    return found;
}

/*
 * A schema import records each table and join memory it creates, updates
 * or archives, by the importer, in its transaction (failing, nothing is
 * stored); DELETE of the schema records their deletes. The tenant's admins
 * read a schema memory's history; no user owns it.
 */
static void schema_history(struct env *e)
{
    struct mr_err err;
    char orders[MR_UUID_LEN], customers[MR_UUID_LEN], join[MR_UUID_LEN], kinds[512];
    struct mr_history_event *ev;
    const char *v1 = "CREATE TABLE customers (id integer PRIMARY KEY, name text); "
                     "CREATE TABLE orders (id integer PRIMARY KEY, customer_id integer "
                     "REFERENCES customers(id), total numeric);";
    const char *v2 = "CREATE TABLE orders (id integer PRIMARY KEY, total numeric, "
                     "placed_at timestamp);";
    faulty_store_fail_op(e->store, "hist_insert");
    CHECK_INT(put_schema(e, 9, v1), MR_EUNAVAIL);
    faulty_store_fail_op(e->store, NULL);
    char *json = NULL;
    CHECK_INT(mr_schema_get(e->svc, &alice, 9, &json, &err), MR_ENOTFOUND);
    free(json);
    CHECK(!schema_memory(e, 9, "orders", MR_ENTITY, orders));

    CHECK(put_schema(e, 9, v1) == 0);
    CHECK(schema_memory(e, 9, "Table orders", MR_ENTITY, orders));
    CHECK(schema_memory(e, 9, "Table customers", MR_ENTITY, customers));
    CHECK(schema_memory(e, 9, "customers", MR_RELATIONSHIP, join));
    const char *ids[] = {orders, customers, join};
    for (int i = 0; i < 3; i++) {
        size_t n = events(e, ids[i], &ev, kinds, sizeof kinds);
        CHECK_STR(kinds, "create/alice");
        events_free(ev, n);
    }
    size_t k = 0;
    int64_t total = 0;
    CHECK(mr_memory_history(e->svc, &alice, true, orders, (struct mr_page){100, 0}, &ev, &k, &total,
                            &err) == 0);
    CHECK_INT(k, 1);
    events_free(ev, k);
    CHECK_INT(mr_memory_history(e->svc, &alice, false, orders, (struct mr_page){100, 0}, &ev, &k,
                                &total, &err),
              MR_ENOTFOUND);
    struct mr_identity other_tenant = {"carol", "other"};
    CHECK_INT(mr_memory_history(e->svc, &other_tenant, true, orders, (struct mr_page){100, 0}, &ev,
                                &k, &total, &err),
              MR_ENOTFOUND);

    /* orders changes, customers and the join leave: update, archive, archive. */
    CHECK(put_schema(e, 9, v2) == 0);
    size_t n = events(e, orders, &ev, kinds, sizeof kinds);
    CHECK_STR(kinds, "create/alice,update/alice");
    if (n == 2) {
        struct mr_json *doc;
        const struct mr_json *c = change(&ev[1], "content", &doc);
        CHECK(strstr(mr_json_string_value(mr_json_get(c, "new")), "placed_at") != NULL);
        CHECK(strstr(mr_json_string_value(mr_json_get(c, "old")), "placed_at") == NULL);
        mr_json_free(doc);
    }
    events_free(ev, n);
    n = events(e, customers, &ev, kinds, sizeof kinds);
    CHECK_STR(kinds, "create/alice,archive/alice");
    events_free(ev, n);
    n = events(e, join, &ev, kinds, sizeof kinds);
    CHECK_STR(kinds, "create/alice,archive/alice");
    events_free(ev, n);
    /* The same schema again changes nothing, and records nothing. */
    CHECK(put_schema(e, 9, v2) == 0);
    n = events(e, orders, &ev, kinds, sizeof kinds);
    CHECK_INT(n, 2);
    events_free(ev, n);

    CHECK(mr_schema_delete(e->svc, &alice, 9, &err) == 0);
    n = events(e, orders, &ev, kinds, sizeof kinds);
    CHECK_STR(kinds, "create/alice,update/alice,delete/alice");
    events_free(ev, n);
    n = events(e, customers, &ev, kinds, sizeof kinds);
    CHECK_STR(kinds, "create/alice,archive/alice,delete/alice");
    events_free(ev, n);
}

static void history_gaps(struct env *e)
{
    promotion_history(e);
    cascade_history(e);
    schema_history(e);
}

TEST(test_promotions_cascades_and_schema_imports_are_history_sqlite)
{
    struct mr_err err;
    struct mr_embedder *emb = mr_embed_lexical_new(64, &err);
    char path[512];
    struct env e;
    struct mr_store *s = mr_store_sqlite_open(test_path(path, sizeof path, "gaps.db"), 2, &err);
    CHECK(open_history_env(&e, s, emb, true));
    if (!test_failed())
        history_gaps(&e);
    close_env(&e);
    mr_embed_destroy(emb);
}

TEST(test_promotions_cascades_and_schema_imports_are_history_postgres)
{
    struct mr_err err;
    struct pg_server *pg = pg_server_shared();
    char url[256];
    CHECK(pg && pg_server_database(pg, "hygiene_gaps", url, sizeof url) == 0);
    struct mr_store *inner = mr_store_postgres_open(url, 2, 2, 40, &err);
    if (!inner)
        fprintf(stdout, "    %s\n", err.msg);
    CHECK(inner);
    struct mr_embedder *emb = mr_embed_lexical_new(64, &err);
    CHECK(mr_store_check_model(inner, mr_embed_name(emb), 64, &err) == 0);
    struct env e;
    CHECK(open_history_env(&e, inner, emb, false));
    history_gaps(&e);
    close_env(&e);
    mr_embed_destroy(emb);
}

TEST_MAIN("hygiene", T(test_normalise_collapses_unicode_space_and_folds_ascii_only),
          T(test_dedup_threshold_keeps_false_merges_under_one_percent),
          T(test_failing_history_write_fails_the_change_sqlite),
          T(test_failing_history_write_fails_the_change_postgres),
          T(test_promotions_cascades_and_schema_imports_are_history_sqlite),
          T(test_promotions_cascades_and_schema_imports_are_history_postgres))
