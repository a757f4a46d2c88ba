/*
 * Access statistics off the request path (src/core/access.c, issue 15):
 * searches record their hits in memory, every read serves them merged, and
 * the flusher merges them into the store as increments. Real SQLite files
 * and a throwaway PostgreSQL (two services on one database: two servers),
 * the lexical embedder, a fixed clock. The store is read directly to tell
 * what is written from what is served.
 */
#include <pthread.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "memori/embed.h"
#include "memori/index.h"
#include "memori/rules.h"
#include "memori/service.h"
#include "memori/store.h"
#include "memori/util.h"
#include "pg_server.h"
#include "test.h"

static const int64_t T0 = INT64_C(1767225600000000);
static const char CONV[] = "44444444-4444-4444-8444-444444444444";
/* A second conversation, for memories a search must find alone (search_in). */
static const char CONV2[] = "55555555-5555-4555-8555-555555555555";
static const struct mr_identity alice = {"alice", "default"};

struct fixture {
    struct mr_clock clock;
    struct mr_store *store;
    struct mr_embedder *embedder;
    struct mr_index *index; /* NULL on PostgreSQL: the store searches */
    struct mr_service *svc;
};

static int n_db;

/* A service on SQLite; flush_ms as mr_service_config's access_flush_ms (< 0: no flusher). */
static bool setup_sqlite(struct fixture *f, int flush_ms, int flush_hits)
{
    struct mr_err err;
    char name[64], path[512];
    snprintf(name, sizeof name, "access-%d.db", n_db++);
    memset(f, 0, sizeof *f);
    mr_clock_fixed_init(&f->clock, T0);
    f->store = mr_store_sqlite_open(test_path(path, sizeof path, name), 8, &err);
    f->embedder = mr_embed_lexical_new(256, &err);
    f->index = mr_index_new(256);
    if (!f->store)
        return false;
    struct mr_service_config cfg = {f->store, f->embedder, f->index, &f->clock, 7, 30, 10, 0.1};
    cfg.access_flush_ms = flush_ms;
    cfg.access_flush_hits = flush_hits;
    f->svc = mr_service_new(&cfg);
    return mr_service_load_index(f->svc, &err) == 0;
}

/* A service on the PostgreSQL database at url (it searches in the store). */
static bool setup_pg(struct fixture *f, const char *url, int flush_ms)
{
    struct mr_err err;
    memset(f, 0, sizeof *f);
    mr_clock_fixed_init(&f->clock, T0);
    f->embedder = mr_embed_lexical_new(256, &err);
    f->store = mr_store_postgres_open(url, 8, 0, 40, &err);
    if (!f->store) {
        fprintf(stdout, "    cannot open the PostgreSQL store: %s\n", err.msg);
        return false;
    }
    if (mr_store_check_model(f->store, mr_embed_name(f->embedder), mr_embed_dim(f->embedder),
                             &err) != 0)
        return false;
    struct mr_service_config cfg = {f->store, f->embedder, NULL, &f->clock, 7, 30, 10, 0.1};
    cfg.access_flush_ms = flush_ms;
    f->svc = mr_service_new(&cfg);
    return true;
}

static void teardown(struct fixture *f)
{
    mr_service_free(f->svc);
    if (f->index)
        mr_index_destroy(f->index);
    mr_store_close(f->store);
    mr_embed_destroy(f->embedder);
}

static int create_in(struct fixture *f, const char *conv, const char *content,
                     enum mr_memory_type t, double importance, struct mr_memory *out)
{
    struct mr_memory_create in = {.content = content,
                                  .content_len = strlen(content),
                                  .memory_type = t,
                                  .importance_score = importance,
                                  .expires_at = MR_NO_TIME};
    memcpy(in.conversation_id, conv, sizeof CONV);
    struct mr_err err;
    return mr_memory_create(f->svc, &alice, &in, out, &err);
}

static int create(struct fixture *f, const char *content, enum mr_memory_type t, double importance,
                  struct mr_memory *out)
{
    return create_in(f, CONV, content, t, importance, out);
}

/* A hybrid search with min_similarity 0 (in conv, or everywhere): how many results, or -1. */
static long search_in(struct mr_service *svc, const char *q, const char *conv)
{
    struct mr_search s = {
        .query = q, .query_len = strlen(q), .has_min_similarity = true, .conversation_id = conv};
    struct mr_search_results r;
    struct mr_err err;
    if (mr_memory_search(svc, &alice, &s, &r, &err) != 0) {
        fprintf(stdout, "    search: %s\n", err.msg);
        return -1;
    }
    long n = (long)r.n;
    mr_search_results_clear(&r);
    return n;
}

static long search_n(struct mr_service *svc, const char *q)
{
    return search_in(svc, q, NULL);
}

/* The row as the store holds it (not as the service serves it). */
static int stored(struct mr_store *s, const char *memory_id, struct mr_memory *out)
{
    struct mr_store_tx *tx;
    struct mr_err err;
    int rc = mr_store_begin(s, MR_TX_READ, &tx, &err);
    if (rc)
        return rc;
    rc = mr_store_mem_get(tx, memory_id, out, &err);
    mr_store_rollback(tx);
    return rc;
}

static int64_t stored_count(struct mr_store *s, const char *memory_id)
{
    struct mr_memory m;
    if (stored(s, memory_id, &m) != 0)
        return -1;
    int64_t n = m.access_count;
    mr_memory_clear(&m);
    return n;
}

static int64_t served_count(struct mr_service *svc, const char *memory_id)
{
    struct mr_memory m;
    struct mr_err err;
    if (mr_memory_get(svc, &alice, memory_id, &m, &err) != 0)
        return -1;
    int64_t n = m.access_count;
    mr_memory_clear(&m);
    return n;
}

/*
 * Nothing is written by a search: the store keeps 0 while GET, search and
 * the conversation's list serve the pending count; a flush writes it.
 */
TEST(test_search_writes_nothing_and_reads_serve_the_pending_accesses)
{
    struct fixture f;
    CHECK(setup_sqlite(&f, -1, 0));
    struct mr_memory m;
    struct mr_err err;
    CHECK(create(&f, "monthly revenue by region", MR_RULE, 0.5, &m) == 0);
    for (int i = 0; i < 3; i++)
        CHECK_INT(search_n(f.svc, "monthly revenue"), 1);
    CHECK_INT(stored_count(f.store, m.memory_id), 0);
    CHECK_INT(served_count(f.svc, m.memory_id), 3);
    struct mr_memory *list = NULL;
    size_t n = 0;
    int64_t total = 0;
    struct mr_page page = {.limit = 10};
    CHECK(mr_conversation_memories(f.svc, &alice, CONV, page, &list, &n, &total, &err) == 0);
    CHECK_INT(n, 1);
    CHECK_INT(list[0].access_count, 3);
    CHECK_NEAR(list[0].importance_score, 0.53, 1e-12);
    for (size_t i = 0; i < n; i++)
        mr_memory_clear(&list[i]);
    free(list);
    CHECK(mr_service_flush_access(f.svc, &err) == 0);
    CHECK_INT(stored_count(f.store, m.memory_id), 3);
    CHECK_INT(served_count(f.svc, m.memory_id), 3); /* not counted twice */
    CHECK(mr_service_flush_access(f.svc, &err) == 0);
    CHECK_INT(stored_count(f.store, m.memory_id), 3);
    mr_memory_clear(&m);
    teardown(&f);
}

/*
 * The fifth access promotes, as before, though nothing is written yet: the
 * search that makes it returns it long_term, the index filters on it, and
 * the flush writes what the served row says (the merge decides the
 * promotion on the merged values: the same).
 */
TEST(test_promotion_on_the_fifth_access_is_served_then_written)
{
    struct fixture f;
    CHECK(setup_sqlite(&f, -1, 0));
    struct mr_memory m, got;
    struct mr_err err;
    CHECK(create(&f, "customer churn is computed monthly", MR_SHORT_TERM, 0.65, &m) == 0);
    for (int i = 1; i <= 5; i++) {
        f.clock.fixed_us = T0 + i;
        CHECK_INT(search_n(f.svc, "customer churn"), 1);
        CHECK(mr_memory_get(f.svc, &alice, m.memory_id, &got, &err) == 0);
        CHECK_INT(got.access_count, i);
        CHECK_INT(got.memory_type, i < 5 ? MR_SHORT_TERM : MR_LONG_TERM);
        mr_memory_clear(&got);
    }
    /* Only long_term results: the index already knows. */
    struct mr_search s = {.query = "customer churn",
                          .query_len = 14,
                          .has_min_similarity = true,
                          .type_mask = 1u << MR_LONG_TERM};
    struct mr_search_results r;
    CHECK(mr_memory_search(f.svc, &alice, &s, &r, &err) == 0);
    CHECK_INT(r.n, 1);
    mr_search_results_clear(&r);
    CHECK(stored(f.store, m.memory_id, &got) == 0);
    CHECK_INT(got.memory_type, MR_SHORT_TERM); /* nothing written yet */
    mr_memory_clear(&got);
    struct mr_memory served;
    CHECK(mr_memory_get(f.svc, &alice, m.memory_id, &served, &err) == 0);
    CHECK(mr_service_flush_access(f.svc, &err) == 0);
    CHECK(stored(f.store, m.memory_id, &got) == 0);
    CHECK_INT(got.access_count, 6);
    CHECK_INT(got.memory_type, MR_LONG_TERM);
    CHECK(got.expires_at == MR_NO_TIME);
    CHECK_NEAR(got.importance_score, served.importance_score, 0);
    CHECK_NEAR(got.importance_score, 0.81, 1e-9);
    CHECK_INT(got.last_accessed_at, served.last_accessed_at);
    CHECK_INT(got.updated_at, served.updated_at);
    mr_memory_clear(&got);
    mr_memory_clear(&served);
    mr_memory_clear(&m);
    teardown(&f);
}

/* A memory deleted with accesses pending stays deleted through the flush. */
TEST(test_delete_with_pending_accesses_is_not_resurrected)
{
    struct fixture f;
    CHECK(setup_sqlite(&f, -1, 0));
    struct mr_memory m, got;
    struct mr_err err;
    CHECK(create(&f, "deleted soon: invoices", MR_RULE, 0.5, &m) == 0);
    CHECK_INT(search_n(f.svc, "invoices"), 1);
    CHECK(mr_memory_delete(f.svc, &alice, m.memory_id, &err) == 0);
    CHECK(mr_service_flush_access(f.svc, &err) == 0);
    CHECK_INT(stored(f.store, m.memory_id, &got), MR_ENOTFOUND);
    CHECK_INT(mr_memory_get(f.svc, &alice, m.memory_id, &got, &err), MR_ENOTFOUND);
    mr_memory_clear(&m);
    teardown(&f);
}

/*
 * An update of a memory with pending accesses keeps both: the accesses
 * counted once, the importance the caller set (it is set after them).
 */
TEST(test_update_with_pending_accesses_keeps_both)
{
    struct fixture f;
    CHECK(setup_sqlite(&f, -1, 0));
    struct mr_memory m, got;
    struct mr_err err;
    CHECK(create(&f, "orders ship from the warehouse", MR_RULE, 0.5, &m) == 0);
    for (int i = 0; i < 3; i++)
        CHECK_INT(search_n(f.svc, "orders warehouse"), 1);
    struct mr_memory_patch p = {.has_importance = true, .importance_score = 0.2};
    CHECK(mr_memory_update(f.svc, &alice, m.memory_id, &p, &got, &err) == 0);
    CHECK_INT(got.access_count, 3);
    CHECK_NEAR(got.importance_score, 0.2, 0);
    mr_memory_clear(&got);
    CHECK(mr_service_flush_access(f.svc, &err) == 0);
    CHECK(stored(f.store, m.memory_id, &got) == 0);
    CHECK_INT(got.access_count, 3);
    CHECK_NEAR(got.importance_score, 0.2, 0);
    mr_memory_clear(&got);
    CHECK_INT(served_count(f.svc, m.memory_id), 3);
    /* The explicit promotion sees pending accesses too: they are in the row it writes. */
    CHECK(create_in(&f, CONV2, "short note about shipping", MR_SHORT_TERM, 0.5, &got) == 0);
    char id[MR_UUID_LEN];
    memcpy(id, got.memory_id, sizeof id);
    mr_memory_clear(&got);
    CHECK_INT(search_in(f.svc, "shipping note", CONV2), 1);
    CHECK(mr_memory_promote(f.svc, &alice, id, &got, &err) == 0);
    CHECK_INT(got.access_count, 1);
    mr_memory_clear(&got);
    CHECK(mr_service_flush_access(f.svc, &err) == 0);
    CHECK_INT(stored_count(f.store, id), 1);
    mr_memory_clear(&m);
    teardown(&f);
}

/* The flusher thread writes without being asked, within its interval (with slack for load). */
TEST(test_flusher_writes_within_its_interval)
{
    struct fixture f;
    CHECK(setup_sqlite(&f, 20, 0));
    struct mr_memory m;
    CHECK(create(&f, "flushed by the thread: quarterly targets", MR_RULE, 0.5, &m) == 0);
    CHECK_INT(search_n(f.svc, "quarterly targets"), 1);
    int64_t start = mr_monotonic_us();
    while (stored_count(f.store, m.memory_id) != 1 && mr_monotonic_us() - start < 5000000)
        usleep(2000);
    CHECK_INT(stored_count(f.store, m.memory_id), 1);
    /* And a clean stop flushes what is left. */
    CHECK_INT(search_n(f.svc, "quarterly targets"), 1);
    mr_service_free(f.svc);
    f.svc = NULL;
    CHECK_INT(stored_count(f.store, m.memory_id), 2);
    struct mr_service_config cfg = {f.store, f.embedder, f.index, &f.clock, 7, 30, 10, 0.1};
    f.svc = mr_service_new(&cfg);
    mr_memory_clear(&m);
    teardown(&f);
}

enum { ROWS = 6, THREADS = 4, ROUNDS = 60 };

struct searcher {
    struct mr_service *svc;
    const char *memory_id; /* also read by GET between searches (NULL: not) */
    int rounds;
    long results, errors;
};

static void *search_rounds(void *arg)
{
    struct searcher *s = arg;
    for (int i = 0; i < s->rounds; i++) {
        long n = search_n(s->svc, "warehouse stock level");
        if (n < 0) {
            s->errors++;
            continue;
        }
        s->results += n;
        if (s->memory_id && served_count(s->svc, s->memory_id) < 0)
            s->errors++;
    }
    return NULL;
}

/* Every row holds "warehouse stock level": each search returns all ROWS. */
static bool seed_rows(struct fixture *f, char ids[ROWS][MR_UUID_LEN])
{
    for (int i = 0; i < ROWS; i++) {
        char text[96];
        struct mr_memory m;
        snprintf(text, sizeof text, "warehouse stock level report number %d", i);
        if (create(f, text, MR_RULE, 0.5, &m) != 0)
            return false;
        memcpy(ids[i], m.memory_id, MR_UUID_LEN);
        mr_memory_clear(&m);
    }
    return true;
}

static void run_searchers(struct mr_service *const *svcs, size_t nsvc, const char *watch,
                          long *out_results, long *out_errors)
{
    pthread_t th[THREADS];
    struct searcher s[THREADS];
    for (int i = 0; i < THREADS; i++) {
        s[i] = (struct searcher){svcs[(size_t)i % nsvc], watch, ROUNDS, 0, 0};
        pthread_create(&th[i], NULL, search_rounds, &s[i]);
    }
    *out_results = *out_errors = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        *out_results += s[i].results;
        *out_errors += s[i].errors;
    }
}

/*
 * N concurrent searches (and GETs) while the flusher runs every
 * millisecond or every few hits — the reads keep overlapping its commits —
 * leave exactly N accesses on each returned memory once flushed. Run under
 * TSan (TSAN_TESTS).
 */
TEST(test_concurrent_searches_leave_one_access_each_sqlite)
{
    struct fixture f;
    CHECK(setup_sqlite(&f, 1, 7));
    char ids[ROWS][MR_UUID_LEN];
    CHECK(seed_rows(&f, ids));
    long results, errors;
    struct mr_service *svcs[1] = {f.svc};
    run_searchers(svcs, 1, ids[0], &results, &errors);
    CHECK_INT(errors, 0);
    CHECK_INT(results, (long)THREADS * ROUNDS * ROWS);
    struct mr_err err;
    CHECK(mr_service_flush_access(f.svc, &err) == 0);
    for (int i = 0; i < ROWS; i++) {
        CHECK_INT(stored_count(f.store, ids[i]), THREADS * ROUNDS);
        CHECK_INT(served_count(f.svc, ids[i]), THREADS * ROUNDS);
    }
    teardown(&f);
}

static bool pg_url(char *url, size_t cap, const char *name)
{
    struct pg_server *p = pg_server_shared();
    return p && pg_server_database(p, name, url, cap) == 0;
}

/*
 * Two servers (two services, each with its own pool and flusher) on one
 * PostgreSQL database, searching the same rows concurrently: the flushes
 * are increments, so the stored counts are every search of both.
 */
TEST(test_concurrent_searches_on_two_servers_add_up_postgres)
{
    char url[256];
    if (!pg_url(url, sizeof url, "access_two"))
        SKIP("no PostgreSQL server (scripts/install-deps.sh installs one)");
    struct fixture a, b;
    CHECK(setup_pg(&a, url, 1));
    CHECK(setup_pg(&b, url, 3));
    char ids[ROWS][MR_UUID_LEN];
    CHECK(seed_rows(&a, ids));
    long results, errors;
    struct mr_service *svcs[2] = {a.svc, b.svc};
    run_searchers(svcs, 2, ids[1], &results, &errors);
    CHECK_INT(errors, 0);
    CHECK_INT(results, (long)THREADS * ROUNDS * ROWS);
    struct mr_err err;
    CHECK(mr_service_flush_access(a.svc, &err) == 0);
    CHECK(mr_service_flush_access(b.svc, &err) == 0);
    for (int i = 0; i < ROWS; i++)
        CHECK_INT(stored_count(a.store, ids[i]), THREADS * ROUNDS);
    /* The promotion is decided on the merged count: short_term rows promote once. */
    struct mr_memory m, got;
    CHECK(create_in(&a, CONV2, "promoted by two servers: pallets", MR_SHORT_TERM, 0.66, &m) == 0);
    for (int i = 0; i < 2; i++) {
        CHECK_INT(search_in(a.svc, "pallets", CONV2), 1);
        CHECK_INT(search_in(b.svc, "pallets", CONV2), 1);
    }
    CHECK(mr_service_flush_access(a.svc, &err) == 0);
    CHECK(mr_service_flush_access(b.svc, &err) == 0);
    CHECK(stored(a.store, m.memory_id, &got) == 0);
    CHECK_INT(got.access_count, 4);
    CHECK_INT(got.memory_type, MR_SHORT_TERM); /* 4 accesses, 0.70: not yet */
    mr_memory_clear(&got);
    CHECK_INT(search_in(b.svc, "pallets", CONV2), 1);
    CHECK(mr_service_flush_access(b.svc, &err) == 0);
    CHECK(stored(a.store, m.memory_id, &got) == 0);
    CHECK_INT(got.access_count, 5);
    CHECK_INT(got.memory_type, MR_LONG_TERM);
    CHECK(got.expires_at == MR_NO_TIME);
    CHECK_NEAR(got.importance_score, 0.81, 1e-9);
    mr_memory_clear(&got);
    mr_memory_clear(&m);
    teardown(&a);
    teardown(&b);
}

TEST_MAIN("access", T(test_search_writes_nothing_and_reads_serve_the_pending_accesses),
          T(test_promotion_on_the_fifth_access_is_served_then_written),
          T(test_delete_with_pending_accesses_is_not_resurrected),
          T(test_update_with_pending_accesses_keeps_both),
          T(test_flusher_writes_within_its_interval),
          T(test_concurrent_searches_leave_one_access_each_sqlite),
          T(test_concurrent_searches_on_two_servers_add_up_postgres))
