/*
 * The ranking contract between the stores (DESIGN.md §8, issue 14): the same
 * memories written through the service, in the same order, to SQLite (the
 * in-process index ranks) and to PostgreSQL (the store's own indexes rank,
 * search_store) give the same top 10 — the same memories in the same order,
 * fused, semantic and lexical scores within 1e-9 — for every mode, with
 * filters (types, conversation, archived, shared memories of another user),
 * and still after an update, a delete, an archival and an expiry; and with
 * neighbour context, conversations of turns among standalone memories.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memori/clock.h"
#include "memori/embed.h"
#include "memori/fusion.h"
#include "memori/index.h"
#include "memori/service.h"
#include "memori/store.h"
#include "memori/util.h"
#include "pg_server.h"
#include "test.h"

#define DIM 256

static const int64_t T0 = INT64_C(1767225600000000);
static const char CONV_A[] = "44444444-4444-4444-8444-444444444444";
static const char CONV_B[] = "55555555-5555-4555-8555-555555555555";
static const struct mr_identity alice = {"alice", "t1"}, bob = {"bob", "t1"};

/* One service over one store; both sides of the contract are built alike. */
struct side {
    struct mr_clock clock;
    struct mr_store *store;
    struct mr_embedder *embedder;
    struct mr_index *index; /* SQLite's; NULL on PostgreSQL (the store searches) */
    struct mr_service *svc;
    struct mr_service_config cfg;
};

static int n_db;

static bool side_open(struct side *s, bool postgres)
{
    struct mr_err err;
    memset(s, 0, sizeof *s);
    mr_clock_fixed_init(&s->clock, T0);
    char name[64], path[512];
    snprintf(name, sizeof name, "ranking_%d", n_db++);
    if (postgres) {
        struct pg_server *p = pg_server_shared();
        if (!p || pg_server_database(p, name, path, sizeof path) != 0)
            return false;
        s->store = mr_store_postgres_open(path, 2, 0, 0, &err);
    } else {
        snprintf(name + strlen(name), sizeof name - strlen(name), ".db");
        s->store = mr_store_sqlite_open(test_path(path, sizeof path, name), 2, &err);
    }
    if (!s->store) {
        fprintf(stdout, "    cannot open the store: %s\n", err.msg);
        return false;
    }
    s->embedder = mr_embed_lexical_new(DIM, &err);
    if (!s->embedder || mr_store_check_model(s->store, "memori-lexical-v1", DIM, &err) != 0)
        return false;
    s->index = postgres ? NULL : mr_index_new(DIM);
    s->cfg = (struct mr_service_config){s->store, s->embedder, s->index, &s->clock, 7, 30, 10, 0.1};
    s->cfg.relaxed_sharing = true;
    s->svc = mr_service_new(&s->cfg);
    return s->svc && mr_service_load_index(s->svc, &err) == 0;
}

static void side_close(struct side *s)
{
    if (s->svc)
        mr_service_free(s->svc);
    if (s->index)
        mr_index_destroy(s->index);
    if (s->store)
        mr_store_close(s->store);
    if (s->embedder)
        mr_embed_destroy(s->embedder);
}

/* Words the memories are made of: identifiers, rare and common words, stop words. */
static const char *const WORDS[] = {
    "customer_id",  "orders",     "fct_order_line", "invoice",  "revenue",
    "paid",         "manager_id", "employee",       "report",   "the",
    "of",           "table",      "joins",          "through",  "every",
    "line",         "history",    "change",         "dates",    "format",
    "ISO",          "8601",       "refund",         "shipment", "warehouse",
    "stock",        "sku",        "dim_date",       "calendar", "fiscal",
    "quarter",      "region",     "sales",          "forecast", "churn",
    "subscription",
};
#define N_WORDS (sizeof WORDS / sizeof WORDS[0])

/* A deterministic text of 4..15 words (memory i). */
static void text_of(unsigned i, char *out, size_t cap)
{
    uint32_t x = 2654435761u * (i + 1);
    size_t len = 0;
    unsigned n = 4 + i % 12;
    len += (size_t)snprintf(out + len, cap - len, "m%u", i);
    for (unsigned w = 0; w < n && len + 32 < cap; w++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        len += (size_t)snprintf(out + len, cap - len, " %s", WORDS[x % N_WORDS]);
    }
}

#define N_MEM 120

static const enum mr_memory_type TYPES[] = {MR_LONG_TERM, MR_RULE, MR_ENTITY, MR_RELATIONSHIP,
                                            MR_SHORT_TERM};

/* Memory i, the same on both sides: alice's, or bob's (some shared) every fifth. */
static bool create(struct side *s, unsigned i, char *memory_id)
{
    char text[512];
    text_of(i, text, sizeof text);
    struct mr_memory_create in = {.content = text,
                                  .content_len = strlen(text),
                                  .memory_type = TYPES[i % 5],
                                  .importance_score = (i % 10) / 10.0,
                                  .expires_at = MR_NO_TIME};
    /* Some expire an hour in: the expiry step below moves the clock past them. */
    if (i % 7 == 3)
        in.expires_at = T0 + 3600 * INT64_C(1000000);
    const struct mr_identity *who = i % 5 == 4 && i % 3 ? &bob : &alice;
    in.shared = who == &bob && in.memory_type != MR_SHORT_TERM && in.memory_type != MR_LONG_TERM;
    if (who == &bob && i % 2)
        in.memory_type = MR_RULE, in.shared = true;
    memcpy(in.conversation_id, who == &bob ? CONV_B : (i % 3 ? CONV_A : CONV_B), MR_UUID_LEN);
    if (who == &bob)
        memcpy(in.conversation_id, "66666666-6666-4666-8666-666666666666", MR_UUID_LEN);
    struct mr_memory m;
    struct mr_err err;
    int rc = mr_memory_create(s->svc, who, &in, &m, &err);
    if (rc) {
        fprintf(stdout, "    create %u: %s\n", i, err.msg);
        return false;
    }
    snprintf(memory_id, MR_UUID_LEN, "%s", m.memory_id);
    mr_memory_clear(&m);
    return true;
}

static const char *const QUERIES[] = {
    "customer_id",
    "which table holds the order lines",
    "fct_order_line history",
    "when is revenue recognised on a paid invoice",
    "manager of an employee",
    "fiscal quarter calendar dim_date",
    "sku stock in the warehouse",
    "the of and",
    "churn forecast by region sales subscription",
};
#define N_QUERIES (sizeof QUERIES / sizeof QUERIES[0])

struct filter {
    const char *name;
    const char *conversation_id;
    unsigned type_mask;
    bool include_archived;
};

static const struct filter FILTERS[] = {
    {"none", NULL, 0, false},
    {"types rule|entity", NULL, 1u << MR_RULE | 1u << MR_ENTITY, false},
    {"conversation", CONV_A, 0, false},
    {"archived too", NULL, 0, true},
    {"short_term", NULL, 1u << MR_SHORT_TERM, true},
};
#define N_FILTERS (sizeof FILTERS / sizeof FILTERS[0])

static int64_t n_lexical_seen, n_compared;

/*
 * Searches both sides with the same request and compares: the mode used,
 * the count, each result's content (unique per memory: "m<i> ...") and its
 * three scores. Searching records accesses (and may promote) alike on both.
 */
static bool same_answer(struct side *lite, struct side *pg, const struct mr_identity *who,
                        const char *query, enum mr_search_mode mode, const struct filter *f,
                        const char *when)
{
    struct mr_search q = {.query = query,
                          .query_len = strlen(query),
                          .conversation_id = f->conversation_id,
                          .limit = 10,
                          .has_min_similarity = true,
                          .min_similarity = 0,
                          .type_mask = f->type_mask,
                          .include_archived = f->include_archived,
                          .mode = mode};
    struct mr_search_results a, b;
    struct mr_err err;
    /*
     * The searches' pending promotions written first: PostgreSQL's lexical
     * statement filters on the stored type, the in-process index on the
     * served one, and with neighbour context a hit's neighbours become
     * candidates, so both must choose their hits from the same types
     * (docs/ranking.md, "Neighbour context").
     */
    if (mr_service_flush_access(lite->svc, &err) != 0 ||
        mr_service_flush_access(pg->svc, &err) != 0) {
        fprintf(stdout, "    flushing the accesses failed: %s\n", err.msg);
        return false;
    }
    if (mr_memory_search(lite->svc, who, &q, &a, &err) != 0) {
        fprintf(stdout, "    sqlite search failed: %s\n", err.msg);
        return false;
    }
    if (mr_memory_search(pg->svc, who, &q, &b, &err) != 0) {
        fprintf(stdout, "    postgres search failed: %s\n", err.msg);
        mr_search_results_clear(&a);
        return false;
    }
    bool ok = a.mode == b.mode && a.n == b.n;
    if (!ok)
        fprintf(stdout, "    %s, %s, \"%s\", %s: mode %s/%s, %zu/%zu results\n", when,
                mr_search_mode_name(mode), query, f->name, mr_search_mode_name(a.mode),
                mr_search_mode_name(b.mode), a.n, b.n);
    for (size_t i = 0; ok && i < a.n; i++) {
        if (strcmp(a.memories[i].content, b.memories[i].content) != 0 ||
            fabs(a.scores[i] - b.scores[i]) > 1e-9 || fabs(a.semantic[i] - b.semantic[i]) > 1e-9 ||
            fabs(a.lexical[i] - b.lexical[i]) > 1e-9) {
            fprintf(stdout,
                    "    %s, %s, \"%s\", %s: #%zu sqlite \"%.24s\" %.12f (%.12f, %.12f), "
                    "postgres \"%.24s\" %.12f (%.12f, %.12f)\n",
                    when, mr_search_mode_name(mode), query, f->name, i, a.memories[i].content,
                    a.scores[i], a.semantic[i], a.lexical[i], b.memories[i].content, b.scores[i],
                    b.semantic[i], b.lexical[i]);
            ok = false;
        }
        n_lexical_seen += a.lexical[i] > 0;
    }
    n_compared += (int64_t)a.n;
    mr_search_results_clear(&a);
    mr_search_results_clear(&b);
    return ok;
}

static bool all_same(struct side *lite, struct side *pg, const char *when)
{
    static const enum mr_search_mode modes[] = {MR_SEARCH_HYBRID, MR_SEARCH_SEMANTIC,
                                                MR_SEARCH_LEXICAL};
    bool ok = true;
    for (size_t m = 0; m < 3; m++)
        for (size_t f = 0; f < N_FILTERS; f++)
            for (size_t q = 0; q < N_QUERIES; q++) {
                ok &= same_answer(lite, pg, &alice, QUERIES[q], modes[m], &FILTERS[f], when);
                if (f == 0)
                    ok &= same_answer(lite, pg, &bob, QUERIES[q], modes[m], &FILTERS[f], when);
            }
    return ok;
}

/* Memory i's ids on each side (the service draws them): [0] SQLite's, [1] PostgreSQL's. */
static char ids[N_MEM][2][MR_UUID_LEN];

static bool is_bobs(unsigned i)
{
    return i % 5 == 4 && i % 3;
}

TEST(test_both_stores_rank_alike_through_writes)
{
    struct side lite, pg;
    CHECK(side_open(&lite, false));
    CHECK(side_open(&pg, true));
    struct side *both[2] = {&lite, &pg};
    for (unsigned i = 0; i < N_MEM; i++)
        for (int k = 0; k < 2; k++)
            CHECK(create(both[k], i, ids[i][k]));
    n_lexical_seen = n_compared = 0;
    CHECK(all_same(&lite, &pg, "as written"));
    /* The lexical side took part: many results carry a lexical score. */
    CHECK(n_compared > 500);
    CHECK(n_lexical_seen > 100);

    /* Updates re-embed and re-tokenise: the old words leave, the new ones count. */
    struct mr_err err;
    for (unsigned i = 0; i < N_MEM; i += 9) {
        if (is_bobs(i))
            continue;
        char text[128];
        snprintf(text, sizeof text, "m%u rewritten: customer_id refund shipment quarter", i);
        struct mr_memory_patch p = {.content = text, .content_len = strlen(text)};
        for (int k = 0; k < 2; k++) {
            struct mr_memory out;
            CHECK(mr_memory_update(both[k]->svc, &alice, ids[i][k], &p, &out, &err) == 0);
            mr_memory_clear(&out);
        }
    }
    CHECK(all_same(&lite, &pg, "after updates"));

    /* Deletes leave both sides and the statistics (bob's shared ones too). */
    for (unsigned i = 1; i < N_MEM; i += 8)
        for (int k = 0; k < 2; k++)
            CHECK(mr_memory_delete(both[k]->svc, is_bobs(i) ? &bob : &alice, ids[i][k], &err) == 0);
    CHECK(all_same(&lite, &pg, "after deletes"));

    /*
     * Archival two days on: of short-term, unimportant, unread memories
     * (new ones: the searches above read the others), alike on both; and
     * the hour-long expiries have passed.
     */
    static const char *const stale[] = {
        "m900 stock churn sku warehouse shipment", "m901 the refund of every invoice",
        "m902 fiscal calendar region sales", "m903 customer_id joins orders through the table"};
    for (size_t j = 0; j < sizeof stale / sizeof *stale; j++)
        for (int k = 0; k < 2; k++) {
            struct mr_memory_create in = {.content = stale[j],
                                          .content_len = strlen(stale[j]),
                                          .memory_type = MR_SHORT_TERM,
                                          .importance_score = 0.1,
                                          .expires_at = MR_NO_TIME};
            memcpy(in.conversation_id, CONV_A, MR_UUID_LEN);
            struct mr_memory m;
            CHECK(mr_memory_create(both[k]->svc, &alice, &in, &m, &err) == 0);
            mr_memory_clear(&m);
        }
    int64_t archived[2];
    for (int k = 0; k < 2; k++) {
        both[k]->clock.fixed_us = T0 + 2 * MR_USEC_PER_DAY;
        CHECK(mr_memory_archive(both[k]->svc, &alice, 1, &archived[k], &err) == 0);
    }
    CHECK_INT(archived[0], archived[1]);
    CHECK(archived[0] > 0);
    CHECK(all_same(&lite, &pg, "after an archival"));
    side_close(&lite);
    side_close(&pg);
}

/* Creates text as who's memory of type t in conversation conv on side s; its id into out_id. */
static bool create_turn(struct side *s, const struct mr_identity *who, const char *conv,
                        enum mr_memory_type t, const char *text, char *out_id)
{
    struct mr_memory_create in = {.content = text,
                                  .content_len = strlen(text),
                                  .memory_type = t,
                                  .importance_score = 0.5,
                                  .expires_at = MR_NO_TIME};
    memcpy(in.conversation_id, conv, MR_UUID_LEN);
    struct mr_memory m;
    struct mr_err err;
    if (mr_memory_create(s->svc, who, &in, &m, &err) != 0) {
        fprintf(stdout, "    create \"%s\": %s\n", text, err.msg);
        return false;
    }
    snprintf(out_id, MR_UUID_LEN, "%s", m.memory_id);
    mr_memory_clear(&m);
    return true;
}

/* The lexical score side s gives the memory whose content begins with prefix (-1: not returned). */
static double lexical_of(struct side *s, const char *query, enum mr_search_mode mode,
                         const char *prefix)
{
    struct mr_search q = {.query = query,
                          .query_len = strlen(query),
                          .limit = 10,
                          .has_min_similarity = true,
                          .mode = mode};
    struct mr_search_results r;
    struct mr_err err;
    if (mr_memory_search(s->svc, &alice, &q, &r, &err) != 0)
        return -2;
    double found = -1;
    for (size_t i = 0; i < r.n; i++)
        if (strncmp(r.memories[i].content, prefix, strlen(prefix)) == 0)
            found = r.lexical[i];
    mr_search_results_clear(&r);
    return found;
}

/*
 * Neighbour context on both stores (docs/ranking.md): conversations of
 * turns with standalone memories among them rank alike in every mode and
 * filter; a turn that holds no query word between turns that do is found
 * with a lexical score on both, and loses it on both once those turns are
 * deleted.
 */
TEST(test_both_stores_rank_turns_with_their_neighbours)
{
    struct side lite, pg;
    CHECK(side_open(&lite, false));
    CHECK(side_open(&pg, true));
    struct side *both[2] = {&lite, &pg};
    static const char *const convs[3] = {CONV_A, CONV_B, "77777777-7777-4777-8777-777777777777"};
    static const enum mr_memory_type kinds[] = {MR_SHORT_TERM, MR_LONG_TERM, MR_SHORT_TERM,
                                                MR_RULE,       MR_LONG_TERM, MR_ENTITY};
    static char gen[90][2][MR_UUID_LEN];
    /* Three conversations written interleaved: ids alternate between them. */
    for (unsigned i = 0; i < 90; i++) {
        char text[512];
        text_of(500 + i, text, sizeof text);
        for (int k = 0; k < 2; k++)
            CHECK(create_turn(both[k], &alice, convs[i % 3], kinds[i % 6], text, gen[i][k]));
    }
    /* The crafted case: only the turns around "n3" hold the words. */
    static const char *const story[] = {
        "n1 we talked about the weather today", "n2 the tamarind ledger for march is closed",
        "n3 the number you asked for was forty two", "n4 tamarind ledger totals reconcile nightly",
        "n5 lunch plans for friday"};
    char sid[5][2][MR_UUID_LEN];
    for (int j = 0; j < 5; j++)
        for (int k = 0; k < 2; k++)
            CHECK(create_turn(both[k], &alice, CONV_A, MR_LONG_TERM, story[j], sid[j][k]));
    n_lexical_seen = n_compared = 0;
    CHECK(all_same(&lite, &pg, "turns as written"));
    CHECK(n_compared > 500);
    for (int k = 0; k < 2; k++) {
        CHECK(lexical_of(both[k], "tamarind ledger", MR_SEARCH_LEXICAL, "n3") > 0);
        CHECK(lexical_of(both[k], "tamarind ledger", MR_SEARCH_HYBRID, "n3") > 0);
    }
    CHECK_NEAR(lexical_of(&lite, "tamarind ledger", MR_SEARCH_HYBRID, "n3"),
               lexical_of(&pg, "tamarind ledger", MR_SEARCH_HYBRID, "n3"), 1e-9);
    /* Semantic mode's lexical number is the turn's own: n3 holds no query word. */
    for (int k = 0; k < 2; k++) {
        double sem = lexical_of(both[k], "tamarind ledger", MR_SEARCH_SEMANTIC, "n3");
        CHECK(sem == -1 || sem == 0);
    }
    /* Deleting the turns that lent the words: the boost is gone at once, on both. */
    struct mr_err err;
    for (int k = 0; k < 2; k++) {
        CHECK(mr_memory_delete(both[k]->svc, &alice, sid[1][k], &err) == 0);
        CHECK(mr_memory_delete(both[k]->svc, &alice, sid[3][k], &err) == 0);
    }
    for (int k = 0; k < 2; k++) {
        double l = lexical_of(both[k], "tamarind ledger", MR_SEARCH_HYBRID, "n3");
        CHECK(l == -1 || l == 0);
        CHECK(lexical_of(both[k], "tamarind ledger", MR_SEARCH_LEXICAL, "n3") == -1);
    }
    /* And the generated conversations after deletes and a re-typing update. */
    for (unsigned i = 0; i < 90; i += 7)
        for (int k = 0; k < 2; k++)
            CHECK(mr_memory_delete(both[k]->svc, &alice, gen[i][k], &err) == 0);
    CHECK(all_same(&lite, &pg, "turns after deletes"));
    side_close(&lite);
    side_close(&pg);
}

TEST_MAIN("store_ranking", T(test_both_stores_rank_alike_through_writes),
          T(test_both_stores_rank_turns_with_their_neighbours))
