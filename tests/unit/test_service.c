/*
 * The memory service end to end below HTTP: real SQLite file, the lexical
 * embedder, the flat index, and a fixed clock the tests move.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "fake_openai.h"
#include "memori/embed.h"
#include "memori/index.h"
#include "memori/rules.h"
#include "memori/service.h"
#include "memori/store.h"
#include "memori/util.h"
#include "test.h"

static const int64_t T0 = INT64_C(1767225600000000);
static const char CONV[] = "33333333-3333-4333-8333-333333333333";
static const struct mr_identity alice = {"alice", "default"}, bob = {"bob", "default"};

struct fixture {
    struct mr_clock clock;
    struct mr_store *store;
    struct mr_embedder *embedder;
    struct mr_index *index;
    struct mr_service *svc;
    struct mr_service_config cfg;
    char path[512];
};

static int n_db;

static void setup_at(struct fixture *f, const char *path)
{
    struct mr_err err;
    mr_clock_fixed_init(&f->clock, T0);
    snprintf(f->path, sizeof f->path, "%s", path);
    f->store = mr_store_sqlite_open(f->path, 4, &err);
    f->embedder = mr_embed_lexical_new(256, &err);
    f->index = mr_index_new(256);
    f->cfg = (struct mr_service_config){f->store, f->embedder, f->index, &f->clock, 7, 30, 10, 0.1};
    f->svc = mr_service_new(&f->cfg);
    mr_service_load_index(f->svc, &err);
}

/* The same parts under a service built anew from f->cfg (after a test changed it). */
static void rebuild(struct fixture *f)
{
    mr_service_free(f->svc);
    f->svc = mr_service_new(&f->cfg);
}

static void setup(struct fixture *f)
{
    char name[64], path[512];
    snprintf(name, sizeof name, "svc-%d.db", n_db++);
    setup_at(f, test_path(path, sizeof path, name));
}

static void teardown(struct fixture *f)
{
    mr_service_free(f->svc);
    mr_index_destroy(f->index);
    mr_store_close(f->store);
    mr_embed_destroy(f->embedder);
}

static int create(struct fixture *f, const struct mr_identity *who, const char *content,
                  enum mr_memory_type t, double importance, struct mr_memory *out)
{
    struct mr_memory_create in = {.content = content,
                                  .content_len = strlen(content),
                                  .memory_type = t,
                                  .importance_score = importance,
                                  .expires_at = MR_NO_TIME};
    memcpy(in.conversation_id, CONV, sizeof CONV);
    struct mr_err err;
    return mr_memory_create(f->svc, who, &in, out, &err);
}

static size_t search_mode(struct fixture *f, const struct mr_identity *who, const char *q,
                          enum mr_search_mode mode, struct mr_search_results *out)
{
    struct mr_search s = {
        .query = q, .query_len = strlen(q), .has_min_similarity = true, .mode = mode};
    struct mr_err err;
    if (mr_memory_search(f->svc, who, &s, out, &err) != 0)
        return (size_t)-1;
    return out->n;
}

/* A search in the default mode (hybrid) with min_similarity 0. */
static size_t search(struct fixture *f, const struct mr_identity *who, const char *q,
                     struct mr_search_results *out)
{
    return search_mode(f, who, q, MR_SEARCH_HYBRID, out);
}

TEST(test_create_sets_defaults_and_expiry)
{
    struct fixture f;
    setup(&f);
    struct mr_memory m, r;
    CHECK(create(&f, &alice, "user asked about revenue", MR_SHORT_TERM, 0.5, &m) == 0);
    CHECK_INT(m.expires_at, T0 + 7 * MR_USEC_PER_DAY);
    CHECK_INT(m.created_at, T0);
    CHECK_INT(m.access_count, 0);
    CHECK(create(&f, &alice, "always use JOINs", MR_RULE, 0.8, &r) == 0);
    CHECK(r.expires_at == MR_NO_TIME);
    mr_memory_clear(&m);
    mr_memory_clear(&r);
    teardown(&f);
}

TEST(test_create_rejects_blank_content)
{
    struct fixture f;
    setup(&f);
    struct mr_memory m;
    CHECK_INT(create(&f, &alice, "  \n\t ", MR_RULE, 0.5, &m), MR_EINVAL);
    teardown(&f);
}

TEST(test_search_skips_expired)
{
    struct fixture f;
    setup(&f);
    struct mr_memory m;
    struct mr_search_results r;
    CHECK(create(&f, &alice, "temporary note about invoices", MR_SHORT_TERM, 0.5, &m) == 0);
    mr_memory_clear(&m);
    CHECK_INT(search(&f, &alice, "invoices", &r), 1);
    mr_search_results_clear(&r);
    f.clock.fixed_us = T0 + 7 * MR_USEC_PER_DAY; /* the instant it expires */
    CHECK_INT(search(&f, &alice, "invoices", &r), 0);
    mr_search_results_clear(&r);
    teardown(&f);
}

TEST(test_search_records_access_and_promotes)
{
    struct fixture f;
    setup(&f);
    struct mr_memory m, got;
    struct mr_search_results r;
    struct mr_err err;
    CHECK(create(&f, &alice, "customer churn is computed monthly", MR_SHORT_TERM, 0.65, &m) == 0);
    for (int i = 1; i <= 4; i++) {
        f.clock.fixed_us = T0 + i;
        CHECK_INT(search(&f, &alice, "customer churn", &r), 1);
        CHECK_INT(r.memories[0].access_count, i);
        CHECK_INT(r.memories[0].memory_type, MR_SHORT_TERM);
        CHECK_INT(r.memories[0].last_accessed_at, T0 + i);
        mr_search_results_clear(&r);
    }
    CHECK_INT(search(&f, &alice, "customer churn", &r), 1);
    CHECK_INT(r.memories[0].memory_type, MR_LONG_TERM); /* 5 accesses, importance 0.70 */
    CHECK(r.memories[0].expires_at == MR_NO_TIME);
    CHECK_NEAR(r.memories[0].importance_score, 0.80, 1e-9);
    mr_search_results_clear(&r);
    CHECK(mr_memory_get(f.svc, &alice, m.memory_id, &got, &err) == 0);
    CHECK_INT(got.memory_type, MR_LONG_TERM);
    CHECK_INT(got.access_count, 5);
    mr_memory_clear(&got);
    /* Long-term now: still found after the original expiry. */
    f.clock.fixed_us = T0 + 30 * MR_USEC_PER_DAY;
    CHECK_INT(search(&f, &alice, "customer churn", &r), 1);
    mr_search_results_clear(&r);
    mr_memory_clear(&m);
    teardown(&f);
}

TEST(test_search_filters_and_threshold)
{
    struct fixture f;
    setup(&f);
    struct mr_memory m;
    struct mr_err err;
    CHECK(create(&f, &alice, "orders table has customer_id", MR_ENTITY, 0.5, &m) == 0);
    mr_memory_clear(&m);
    CHECK(create(&f, &alice, "orders join customers on customer_id", MR_RELATIONSHIP, 0.5, &m) ==
          0);
    mr_memory_clear(&m);
    CHECK(create(&f, &alice, "prefer CTEs over subqueries", MR_RULE, 0.5, &m) == 0);
    mr_memory_clear(&m);
    struct mr_search_results r;
    struct mr_search q = {
        .query = "customer_id", .query_len = 11, .has_min_similarity = true, .min_similarity = 0.0};
    CHECK(mr_memory_search(f.svc, &alice, &q, &r, &err) == 0);
    CHECK_INT(r.n, 3); /* 0 is a valid threshold: everything */
    CHECK(r.scores[0] >= r.scores[1] && r.scores[1] >= r.scores[2]);
    mr_search_results_clear(&r);
    q.type_mask = 1u << MR_RELATIONSHIP;
    CHECK(mr_memory_search(f.svc, &alice, &q, &r, &err) == 0);
    CHECK_INT(r.n, 1);
    CHECK_INT(r.memories[0].memory_type, MR_RELATIONSHIP);
    mr_search_results_clear(&r);
    q.type_mask = 0;
    q.min_similarity = 0.99;
    CHECK(mr_memory_search(f.svc, &alice, &q, &r, &err) == 0);
    CHECK_INT(r.n, 0);
    mr_search_results_clear(&r);
    q.min_similarity = 0;
    q.limit = 2;
    CHECK(mr_memory_search(f.svc, &alice, &q, &r, &err) == 0);
    CHECK_INT(r.n, 2);
    mr_search_results_clear(&r);
    teardown(&f);
}

TEST(test_users_are_isolated)
{
    struct fixture f;
    setup(&f);
    struct mr_memory m, got;
    struct mr_err err;
    struct mr_search_results r;
    CHECK(create(&f, &alice, "alice secret rule about revenue", MR_RULE, 0.5, &m) == 0);
    CHECK_INT(search(&f, &bob, "revenue", &r), 0);
    mr_search_results_clear(&r);
    CHECK_INT(mr_memory_get(f.svc, &bob, m.memory_id, &got, &err), MR_ENOTFOUND);
    CHECK_INT(mr_memory_delete(f.svc, &bob, m.memory_id, &err), MR_ENOTFOUND);
    CHECK_INT(mr_memory_promote(f.svc, &bob, m.memory_id, &got, &err), MR_ENOTFOUND);
    struct mr_memory_patch p = {.has_importance = true, .importance_score = 0.1};
    CHECK_INT(mr_memory_update(f.svc, &bob, m.memory_id, &p, &got, &err), MR_ENOTFOUND);
    struct mr_stats st;
    CHECK(mr_memory_stats(f.svc, &bob, &st, &err) == 0);
    CHECK_INT(st.total, 0);
    /* bob cannot write into alice's conversation either. */
    CHECK_INT(create(&f, &bob, "bob note", MR_RULE, 0.5, &got), MR_ENOTFOUND);
    struct mr_conversation c;
    CHECK_INT(mr_conversation_get(f.svc, &bob, CONV, &c, &err), MR_ENOTFOUND);
    CHECK_INT(mr_conversation_delete(f.svc, &bob, CONV, &err), MR_ENOTFOUND);
    CHECK(mr_memory_get(f.svc, &alice, m.memory_id, &got, &err) == 0);
    CHECK_NEAR(got.importance_score, 0.5, 0);
    mr_memory_clear(&got);
    mr_memory_clear(&m);
    teardown(&f);
}

TEST(test_update_merges_metadata_replaces_tags_and_reembeds)
{
    struct fixture f;
    setup(&f);
    struct mr_memory m, got;
    struct mr_err err;
    struct mr_search_results r;
    struct mr_strv tags = {0};
    mr_strv_push(&tags, "a", 1);
    struct mr_memory_create in = {.content = "dates are stored as text",
                                  .content_len = 24,
                                  .memory_type = MR_RULE,
                                  .importance_score = 0.5,
                                  .context_tags = &tags,
                                  .metadata = "{\"x\":1,\"y\":2}",
                                  .expires_at = MR_NO_TIME};
    memcpy(in.conversation_id, CONV, sizeof CONV);
    CHECK(mr_memory_create(f.svc, &alice, &in, &m, &err) == 0);
    struct mr_strv tags2 = {0};
    mr_strv_push(&tags2, "b", 1);
    f.clock.fixed_us = T0 + 10;
    struct mr_memory_patch p = {.content = "amounts are kept in euro cents",
                                .content_len = 30,
                                .context_tags = &tags2,
                                .metadata = "{\"y\":3,\"z\":4}",
                                .has_importance = true,
                                .importance_score = 0.9};
    CHECK(mr_memory_update(f.svc, &alice, m.memory_id, &p, &got, &err) == 0);
    CHECK_STR(got.metadata, "{\"x\":1,\"y\":3,\"z\":4}");
    CHECK_INT(got.context_tags.len, 1);
    CHECK_STR(got.context_tags.items[0], "b");
    CHECK_NEAR(got.importance_score, 0.9, 0);
    CHECK_INT(got.updated_at, T0 + 10);
    mr_memory_clear(&got);
    CHECK_INT(search(&f, &alice, "euro cents", &r), 1);
    mr_search_results_clear(&r);
    /*
     * The old text is found by neither side: not by its vector (semantic
     * mode, min_similarity 0 keeps cosines >= 0) nor by its words (lexical
     * mode). Hybrid at min_similarity 0 returns every memory, so it is not
     * the mode that shows the re-embedding.
     */
    CHECK_INT(search_mode(&f, &alice, "dates stored text", MR_SEARCH_SEMANTIC, &r), 0);
    mr_search_results_clear(&r);
    CHECK_INT(search_mode(&f, &alice, "dates stored text", MR_SEARCH_LEXICAL, &r), 0);
    mr_search_results_clear(&r);
    mr_strv_clear(&tags);
    mr_strv_clear(&tags2);
    mr_memory_clear(&m);
    teardown(&f);
}

TEST(test_promote_endpoint_rule)
{
    struct fixture f;
    setup(&f);
    struct mr_memory m, got;
    struct mr_err err;
    CHECK(create(&f, &alice, "short note", MR_SHORT_TERM, 0.5, &m) == 0);
    CHECK(mr_memory_promote(f.svc, &alice, m.memory_id, &got, &err) == 0);
    CHECK_INT(got.memory_type, MR_LONG_TERM);
    CHECK_NEAR(got.importance_score, 0.6, 1e-9);
    mr_memory_clear(&got);
    CHECK_INT(mr_memory_promote(f.svc, &alice, m.memory_id, &got, &err), MR_ECONFLICT);
    mr_memory_clear(&m);
    teardown(&f);
}

TEST(test_archive_old_unimportant_short_term)
{
    struct fixture f;
    setup(&f);
    struct mr_memory a, b;
    struct mr_err err;
    struct mr_search_results r;
    CHECK(create(&f, &alice, "stale scratch note about refunds", MR_SHORT_TERM, 0.2, &a) == 0);
    CHECK(create(&f, &alice, "important note about refunds", MR_SHORT_TERM, 0.9, &b) == 0);
    int64_t n = -1;
    f.clock.fixed_us = T0 + 31 * MR_USEC_PER_DAY;
    /* Not yet: 40 days threshold. */
    CHECK(mr_memory_archive(f.svc, &alice, 40, &n, &err) == 0);
    CHECK_INT(n, 0);
    CHECK(mr_memory_archive(f.svc, &alice, 0, &n, &err) == 0); /* default 30 */
    CHECK_INT(n, 1);
    struct mr_memory got;
    CHECK(mr_memory_get(f.svc, &alice, a.memory_id, &got, &err) == 0);
    CHECK(got.is_archived);
    mr_memory_clear(&got);
    /* Archived (and expired) memories stay out of search; include_archived brings live + archived.
     */
    struct mr_search q = {
        .query = "refunds", .query_len = 7, .has_min_similarity = true, .include_archived = true};
    f.clock.fixed_us = T0 + 1; /* before expiry, to see the archive flag alone */
    CHECK(mr_memory_search(f.svc, &alice, &q, &r, &err) == 0);
    CHECK_INT(r.n, 2);
    mr_search_results_clear(&r);
    q.include_archived = false;
    CHECK(mr_memory_search(f.svc, &alice, &q, &r, &err) == 0);
    CHECK_INT(r.n, 1);
    CHECK_STR(r.memories[0].memory_id, b.memory_id);
    mr_search_results_clear(&r);
    mr_memory_clear(&a);
    mr_memory_clear(&b);
    teardown(&f);
}

TEST(test_conversations_lifecycle)
{
    struct fixture f;
    setup(&f);
    struct mr_err err;
    struct mr_conversation c, got;
    struct mr_conversation_create in = {.title = "Q4 revenue", .metadata = "{\"db\":\"sales\"}"};
    CHECK(mr_conversation_create(f.svc, &alice, &in, &c, &err) == 0);
    CHECK(c.is_active);
    struct mr_memory m;
    struct mr_memory_create mc = {.content = "in conversation",
                                  .content_len = 15,
                                  .memory_type = MR_RULE,
                                  .importance_score = 0.5,
                                  .expires_at = MR_NO_TIME};
    memcpy(mc.conversation_id, c.conversation_id, MR_UUID_LEN);
    f.clock.fixed_us = T0 + 100;
    CHECK(mr_memory_create(f.svc, &alice, &mc, &m, &err) == 0);
    CHECK(mr_conversation_get(f.svc, &alice, c.conversation_id, &got, &err) == 0);
    CHECK_INT(got.last_activity_at, T0 + 100); /* a new memory is activity */
    mr_conversation_clear(&got);
    struct mr_conversation_patch p = {.has_title = true,
                                      .title = NULL,
                                      .metadata = "{\"x\":1}",
                                      .has_is_active = true,
                                      .is_active = false};
    CHECK(mr_conversation_update(f.svc, &alice, c.conversation_id, &p, &got, &err) == 0);
    CHECK(got.title == NULL && !got.is_active);
    CHECK_STR(got.metadata, "{\"db\":\"sales\",\"x\":1}");
    mr_conversation_clear(&got);
    struct mr_memory *v;
    size_t n;
    int64_t total;
    CHECK(mr_conversation_memories(f.svc, &alice, c.conversation_id, (struct mr_page){10, 0}, &v,
                                   &n, &total, &err) == 0);
    CHECK_INT(total, 1);
    mr_memory_clear(&v[0]);
    free(v);
    CHECK(mr_conversation_delete(f.svc, &alice, c.conversation_id, &err) == 0);
    struct mr_memory gone;
    CHECK_INT(mr_memory_get(f.svc, &alice, m.memory_id, &gone, &err), MR_ENOTFOUND);
    mr_memory_clear(&m);
    struct mr_search_results r;
    CHECK_INT(search(&f, &alice, "in conversation", &r), 0); /* gone from the index too */
    mr_search_results_clear(&r);
    mr_conversation_clear(&c);
    teardown(&f);
}

TEST(test_restart_rebuilds_index_from_store)
{
    struct fixture f;
    setup(&f);
    struct mr_memory m;
    CHECK(create(&f, &alice, "persisted knowledge about warehouses", MR_ENTITY, 0.5, &m) == 0);
    mr_memory_clear(&m);
    char path[512];
    snprintf(path, sizeof path, "%s", f.path);
    teardown(&f);
    setup_at(&f, path);
    struct mr_search_results r;
    CHECK_INT(search(&f, &alice, "warehouses", &r), 1);
    mr_search_results_clear(&r);
    teardown(&f);
}

TEST(test_reembed_rewrites_vectors_and_model)
{
    struct fixture f;
    setup(&f);
    struct mr_memory m;
    struct mr_err err;
    CHECK(create(&f, &alice, "one", MR_RULE, 0.5, &m) == 0);
    mr_memory_clear(&m);
    CHECK(create(&f, &alice, "two", MR_RULE, 0.5, &m) == 0);
    mr_memory_clear(&m);
    int64_t n = 0;
    CHECK(mr_service_reembed(f.svc, &n, &err) == 0);
    CHECK_INT(n, 2);
    CHECK(mr_store_check_model(f.store, "memori-lexical-v1", 256, &err) == 0);
    teardown(&f);
}

TEST(test_relaxed_sharing_is_read_only_and_within_the_tenant)
{
    struct fixture f;
    setup(&f);
    f.cfg.relaxed_sharing = true;
    rebuild(&f);
    struct mr_err err;
    struct mr_memory shared, private_, got;
    struct mr_memory_create in = {.content = "fiscal year starts in april",
                                  .content_len = 27,
                                  .memory_type = MR_RULE,
                                  .importance_score = 0.5,
                                  .expires_at = MR_NO_TIME,
                                  .shared = true};
    memcpy(in.conversation_id, CONV, sizeof CONV);
    CHECK(mr_memory_create(f.svc, &alice, &in, &shared, &err) == 0);
    in.shared = false;
    in.content = "fiscal year secrets of alice";
    in.content_len = strlen(in.content);
    CHECK(mr_memory_create(f.svc, &alice, &in, &private_, &err) == 0);
    /* Only rule, entity and relationship can be shared. */
    in.memory_type = MR_SHORT_TERM;
    in.shared = true;
    CHECK_INT(mr_memory_create(f.svc, &alice, &in, &got, &err), MR_EINVAL);
    struct mr_search_results r;
    CHECK_INT(search(&f, &bob, "fiscal year", &r), 1);
    CHECK_STR(r.memories[0].memory_id, shared.memory_id);
    CHECK_INT(r.memories[0].access_count, 0); /* read-only: alice's statistics untouched */
    mr_search_results_clear(&r);
    CHECK(mr_memory_get(f.svc, &bob, shared.memory_id, &got, &err) == 0);
    mr_memory_clear(&got);
    CHECK_INT(mr_memory_get(f.svc, &bob, private_.memory_id, &got, &err), MR_ENOTFOUND);
    struct mr_memory_patch p = {.has_importance = true, .importance_score = 0.1};
    CHECK_INT(mr_memory_update(f.svc, &bob, shared.memory_id, &p, &got, &err), MR_ENOTFOUND);
    CHECK_INT(mr_memory_delete(f.svc, &bob, shared.memory_id, &err), MR_ENOTFOUND);
    /* Never across tenants. */
    struct mr_identity other = {"bob", "other-tenant"};
    CHECK_INT(search(&f, &other, "fiscal year", &r), 0);
    mr_search_results_clear(&r);
    /* The owner still sees each once, and unsharing hides it again. */
    CHECK_INT(search(&f, &alice, "fiscal year", &r), 2);
    mr_search_results_clear(&r);
    struct mr_memory_patch unshare = {.has_shared = true, .shared = false};
    CHECK(mr_memory_update(f.svc, &alice, shared.memory_id, &unshare, &got, &err) == 0);
    mr_memory_clear(&got);
    CHECK_INT(search(&f, &bob, "fiscal year", &r), 0);
    mr_search_results_clear(&r);
    /* Strict isolation: shared or not, nothing crosses users. */
    struct mr_memory_patch reshare = {.has_shared = true, .shared = true};
    CHECK(mr_memory_update(f.svc, &alice, shared.memory_id, &reshare, &got, &err) == 0);
    mr_memory_clear(&got);
    f.cfg.relaxed_sharing = false;
    rebuild(&f);
    CHECK_INT(search(&f, &bob, "fiscal year", &r), 0);
    mr_search_results_clear(&r);
    CHECK_INT(mr_memory_get(f.svc, &bob, shared.memory_id, &got, &err), MR_ENOTFOUND);
    mr_memory_clear(&shared);
    mr_memory_clear(&private_);
    teardown(&f);
}

/*
 * A commit the index has not seen yet: memory_id changed in the store only,
 * as a concurrent request's commit looks between a search's index scan and
 * its read-back (the index is updated after the commit).
 */
static int change_in_store_only(struct fixture *f, const char *memory_id,
                                void (*change)(struct mr_memory *m))
{
    struct mr_store_tx *tx;
    struct mr_err err;
    struct mr_memory m;
    int rc = mr_store_begin(f->store, MR_TX_WRITE, &tx, &err);
    if (rc)
        return rc;
    rc = mr_store_mem_get(tx, memory_id, &m, &err);
    if (rc == 0) {
        change(&m);
        rc = mr_store_mem_update(tx, &m, false, &err);
    }
    mr_memory_clear(&m);
    if (rc) {
        mr_store_rollback(tx);
        return rc;
    }
    return mr_store_commit(tx, &err);
}

static void archive_it(struct mr_memory *m)
{
    m->is_archived = true;
}

static void expire_it(struct mr_memory *m)
{
    m->expires_at = T0 - 1;
}

static void make_it_long_term(struct mr_memory *m)
{
    m->memory_type = MR_LONG_TERM;
    m->expires_at = MR_NO_TIME;
}

static void unshare_it(struct mr_memory *m)
{
    m->is_shared = false;
}

TEST(test_search_rechecks_filters_on_the_row_it_reads_back)
{
    struct fixture f;
    setup(&f);
    struct mr_memory a, b, c;
    struct mr_search_results r;
    struct mr_err err;
    CHECK(create(&f, &alice, "archived by another request: invoices", MR_SHORT_TERM, 0.5, &a) == 0);
    CHECK(create(&f, &alice, "expired by another request: invoices", MR_SHORT_TERM, 0.5, &b) == 0);
    CHECK(create(&f, &alice, "promoted by another request: invoices", MR_SHORT_TERM, 0.5, &c) == 0);
    CHECK_INT(search(&f, &alice, "invoices", &r), 3);
    mr_search_results_clear(&r);
    CHECK(change_in_store_only(&f, a.memory_id, archive_it) == 0);
    CHECK(change_in_store_only(&f, b.memory_id, expire_it) == 0);
    CHECK(change_in_store_only(&f, c.memory_id, make_it_long_term) == 0);
    /* The index still holds all three as live short_term memories. */
    struct mr_search q = {.query = "invoices",
                          .query_len = 8,
                          .has_min_similarity = true,
                          .type_mask = 1u << MR_SHORT_TERM};
    CHECK(mr_memory_search(f.svc, &alice, &q, &r, &err) == 0);
    CHECK_INT(r.n, 0);
    mr_search_results_clear(&r);
    /* Archived ones are results when asked for; expired ones never; the type filter holds. */
    q.include_archived = true;
    q.type_mask = 0;
    CHECK(mr_memory_search(f.svc, &alice, &q, &r, &err) == 0);
    CHECK_INT(r.n, 2);
    for (size_t i = 0; i < r.n; i++)
        CHECK(strcmp(r.memories[i].memory_id, b.memory_id) != 0);
    mr_search_results_clear(&r);
    /* Nothing it did not return had its access recorded. */
    struct mr_memory got;
    CHECK(mr_memory_get(f.svc, &alice, b.memory_id, &got, &err) == 0);
    CHECK_INT(got.access_count, 1);
    mr_memory_clear(&got);
    mr_memory_clear(&a);
    mr_memory_clear(&b);
    mr_memory_clear(&c);
    teardown(&f);
}

TEST(test_search_rechecks_sharing_on_the_row_it_reads_back)
{
    struct fixture f;
    setup(&f);
    f.cfg.relaxed_sharing = true;
    rebuild(&f);
    struct mr_err err;
    struct mr_memory m;
    struct mr_memory_create in = {.content = "fiscal year starts in april",
                                  .content_len = 27,
                                  .memory_type = MR_RULE,
                                  .importance_score = 0.5,
                                  .expires_at = MR_NO_TIME,
                                  .shared = true};
    memcpy(in.conversation_id, CONV, sizeof CONV);
    CHECK(mr_memory_create(f.svc, &alice, &in, &m, &err) == 0);
    struct mr_search_results r;
    CHECK_INT(search(&f, &bob, "fiscal year", &r), 1);
    mr_search_results_clear(&r);
    CHECK(change_in_store_only(&f, m.memory_id, unshare_it) == 0);
    CHECK_INT(search(&f, &bob, "fiscal year", &r), 0);
    mr_search_results_clear(&r);
    mr_memory_clear(&m);
    teardown(&f);
}

/* An index that refuses every entry (as one out of room would): fault injection for the load. */
static int refuse_upsert(struct mr_index *ix, const struct mr_index_entry *e, struct mr_err *err)
{
    (void)ix;
    return mr_err_set(err, MR_EUNAVAIL, "no room for entry %lld", (long long)e->id);
}
static void refuse_set_archived(struct mr_index *ix, const struct mr_identity *who, int64_t id,
                                bool is_archived)
{
    (void)ix, (void)who, (void)id, (void)is_archived;
}
static void refuse_remove(struct mr_index *ix, const struct mr_identity *who, int64_t id)
{
    (void)ix, (void)who, (void)id;
}
static int refuse_search(struct mr_index *ix, const struct mr_identity *who,
                         const struct mr_index_query *q, struct mr_index_hit *out, size_t *out_n,
                         struct mr_err *err)
{
    (void)ix, (void)who, (void)q, (void)out, (void)err;
    *out_n = 0;
    return 0;
}
static int refuse_candidates(struct mr_index *ix, const struct mr_identity *who,
                             const struct mr_index_query *q, struct mr_index_candidate *out,
                             size_t *out_n, struct mr_err *err)
{
    (void)ix, (void)who, (void)q, (void)out, (void)err;
    *out_n = 0;
    return 0;
}
static size_t refuse_count(struct mr_index *ix)
{
    (void)ix;
    return 0;
}
static void refuse_destroy(struct mr_index *ix)
{
    (void)ix;
}
static const struct mr_index_ops refusing_ops = {
    .name = "refusing",
    .upsert = refuse_upsert,
    .set_archived = refuse_set_archived,
    .remove = refuse_remove,
    .search = refuse_search,
    .candidates = refuse_candidates,
    .count = refuse_count,
    .building = refuse_count,
    .destroy = refuse_destroy,
};

TEST(test_load_index_failure_says_why)
{
    struct fixture f;
    setup(&f);
    struct mr_memory m;
    CHECK(create(&f, &alice, "a memory the index will refuse", MR_RULE, 0.5, &m) == 0);
    struct mr_index refusing = {&refusing_ops};
    struct mr_service_config cfg = f.cfg;
    cfg.index = &refusing;
    struct mr_service *svc = mr_service_new(&cfg);
    struct mr_err err;
    memset(&err, 'x', sizeof err); /* what an uninitialised message would print */
    err.msg[sizeof err.msg - 1] = '\0';
    CHECK_INT(mr_service_load_index(svc, &err), MR_EUNAVAIL);
    CHECK_INT(err.code, MR_EUNAVAIL);
    CHECK(strstr(err.msg, m.memory_id) != NULL);
    CHECK(strstr(err.msg, "no room for entry") != NULL);
    mr_service_free(svc);
    mr_memory_clear(&m);
    teardown(&f);
}

TEST(test_service_reports_health_and_capabilities)
{
    struct fixture f;
    setup(&f);
    CHECK_INT(mr_service_capabilities(f.svc) & MR_SERVICE_SEARCHES_IN_STORE, 0);
    CHECK_INT(mr_service_archive_threshold_days(f.svc), 30);
    struct mr_memory m;
    CHECK(create(&f, &alice, "one indexed memory", MR_RULE, 0.5, &m) == 0);
    mr_memory_clear(&m);
    struct mr_service_health h;
    mr_service_health(f.svc, &h);
    CHECK(h.store_ok && h.embedder_ok && h.has_index);
    CHECK_STR(h.store_name, "sqlite");
    CHECK_STR(h.store_detail, "ok");
    CHECK_STR(h.embedder_name, "memori-lexical-v1");
    CHECK_INT(h.dim, 256);
    CHECK_INT(h.indexed, 1);
    /* Without an in-process index the store answers searches. */
    struct mr_service_config cfg = f.cfg;
    cfg.index = NULL;
    struct mr_service *svc = mr_service_new(&cfg);
    CHECK_INT(mr_service_capabilities(svc) & MR_SERVICE_SEARCHES_IN_STORE,
              MR_SERVICE_SEARCHES_IN_STORE);
    mr_service_health(svc, &h);
    CHECK(!h.has_index);
    CHECK_INT(h.indexed, 0);
    mr_service_free(svc);
    teardown(&f);
}

/* Runs fn with stderr sent to a file; returns what it wrote (static storage). */
static const char *capture_stderr(void (*fn)(struct fixture *f), struct fixture *f)
{
    static char text[8192];
    char path[512];
    test_path(path, sizeof path, "stderr.txt");
    fflush(stderr);
    int saved = dup(2), fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(fd, 2);
    close(fd);
    fn(f);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    FILE *in = fopen(path, "r");
    size_t n = in ? fread(text, 1, sizeof text - 1, in) : 0;
    text[n] = '\0';
    if (in)
        fclose(in);
    return text;
}

static void create_and_search(struct fixture *f)
{
    /* Each call stores a new memory: the same text again would be its exact duplicate (issue 20).
     */
    static int calls;
    const char *texts[] = {"debug lines for revenue", "more debug lines for revenue"};
    struct mr_memory m;
    struct mr_search_results r;
    if (create(f, &alice, texts[calls++ % 2], MR_RULE, 0.5, &m) == 0)
        mr_memory_clear(&m);
    if (search(f, &alice, "revenue", &r) != (size_t)-1)
        mr_search_results_clear(&r);
}

TEST(test_debug_traces_each_operation)
{
    struct fixture f;
    setup(&f);
    const char *quiet = capture_stderr(create_and_search, &f);
    CHECK(strstr(quiet, "debug") == NULL);
    f.cfg.debug = true;
    rebuild(&f);
    const char *out = capture_stderr(create_and_search, &f);
    CHECK(strstr(out, "memori: debug: create alice@default: ok, memory ") != NULL);
    const char *line = strstr(out, "memori: debug: search alice@default: ok, 2 results in ");
    CHECK(line != NULL);
    CHECK(strstr(line, "(embed ") != NULL && strstr(line, ", index ") != NULL &&
          strstr(line, ", store ") != NULL);
    teardown(&f);
}

/* A service over the fake OpenAI server's model (dimension 16), on f's store. */
static struct mr_embedder *fake_embedder(struct fake_openai *fake, int batch, int retries)
{
    char base[128];
    snprintf(base, sizeof base, "http://127.0.0.1:%d/v1", fake_openai_port(fake));
    struct mr_embed_spec spec = {.provider = MR_PROVIDER_OPENAI,
                                 .model = "fake-model",
                                 .dim = 16,
                                 .base_url = base,
                                 .batch_size = batch,
                                 .timeout_ms = 5000,
                                 .max_retries = retries};
    struct mr_err err;
    return mr_embed_open(&spec, &err);
}

/* f with n memories embedded by the lexical model, then a service that re-embeds with e. */
static void setup_reembed(struct fixture *f, int n, struct mr_embedder *e, int batch)
{
    setup(f);
    struct mr_err err;
    mr_store_check_model(f->store, "memori-lexical-v1", 256, &err);
    for (int i = 0; i < n; i++) {
        char text[64];
        struct mr_memory m;
        snprintf(text, sizeof text, "memory number %d about sales", i);
        if (create(f, &alice, text, MR_RULE, 0.5, &m) == 0)
            mr_memory_clear(&m);
    }
    mr_service_free(f->svc);
    f->cfg.embedder = e;
    f->cfg.index = NULL; /* as `memori reembed` runs it */
    f->cfg.embed_batch_size = batch;
    f->svc = mr_service_new(&f->cfg);
}

/* Every memory holds e's embedding of its content. */
static bool all_vectors_from(struct fixture *f, struct mr_embedder *e)
{
    struct mr_store_tx *tx;
    struct mr_err err;
    bool ok = mr_store_begin(f->store, MR_TX_READ, &tx, &err) == 0;
    for (int64_t id = 1; ok; id++) {
        struct mr_memory m;
        int rc = mr_store_mem_get_by_id(tx, id, &m, &err);
        if (rc == MR_ENOTFOUND)
            break;
        float want[16];
        ok = rc == 0 && m.dim == 16 &&
             mr_embed_one(e, m.content, strlen(m.content), want, &err) == 0 &&
             memcmp(want, m.embedding, sizeof want) == 0;
        mr_memory_clear(&m);
    }
    mr_store_rollback(tx);
    return ok;
}

TEST(test_reembed_calls_the_provider_once_per_batch)
{
    struct fake_openai *fake = fake_openai_start(16);
    CHECK(fake);
    struct mr_embedder *e = fake_embedder(fake, 4, 0);
    CHECK(e);
    struct fixture f;
    setup_reembed(&f, 10, e, 4);
    int requests = fake_openai_requests(fake), texts = fake_openai_texts(fake);
    int64_t n = 0;
    struct mr_err err;
    CHECK(mr_service_reembed(f.svc, &n, &err) == 0);
    CHECK_INT(n, 10);
    CHECK_INT(fake_openai_requests(fake) - requests, 3); /* ceil(10 / 4) */
    CHECK_INT(fake_openai_texts(fake) - texts, 10);
    CHECK(mr_store_check_model(f.store, "fake-model", 16, &err) == 0);
    CHECK(all_vectors_from(&f, e));
    teardown(&f);
    mr_embed_destroy(e);
    fake_openai_stop(fake);
}

TEST(test_interrupted_reembed_claims_no_model_and_a_rerun_finishes)
{
    struct fake_openai *fake = fake_openai_start(16);
    CHECK(fake);
    struct mr_embedder *e = fake_embedder(fake, 3, 0);
    CHECK(e);
    struct fixture f;
    setup_reembed(&f, 7, e, 3);
    /* The first batch goes through, the second fails: a crash in the middle, as far as the
     * database can tell. */
    fake_openai_push(fake, FAKE_OK, 1);
    fake_openai_push(fake, FAKE_500, 1);
    int64_t n = 0;
    struct mr_err err;
    CHECK(mr_service_reembed(f.svc, &n, &err) != 0);
    /* Some vectors are new, some old: the database claims neither model. */
    CHECK_INT(mr_store_check_model(f.store, "memori-lexical-v1", 256, &err), MR_ECONFLICT);
    CHECK_INT(mr_store_check_model(f.store, "fake-model", 16, &err), MR_ECONFLICT);
    CHECK(strstr(err.msg, MR_REEMBED_MARKER "fake-model") != NULL);
    CHECK(!all_vectors_from(&f, e));
    /* Run again: it finishes the job. */
    CHECK(mr_service_reembed(f.svc, &n, &err) == 0);
    CHECK_INT(n, 7);
    CHECK(mr_store_check_model(f.store, "fake-model", 16, &err) == 0);
    CHECK(all_vectors_from(&f, e));
    teardown(&f);
    mr_embed_destroy(e);
    fake_openai_stop(fake);
}

/* ---- ranking (DESIGN.md §8): the lexical side through the service ---- */

/*
 * An embedder whose vectors say nothing of words, so what a search finds by
 * a word is the lexical index's doing: texts starting "filler" get F (cosine
 * 0.1 with Q), texts starting "q" (the queries) Q, every other text a vector
 * orthogonal to Q (cosine 0).
 */
#define STEER_DIM 8
static const char *steer_name(const struct mr_embedder *e)
{
    (void)e;
    return "test-steered";
}
static size_t steer_dim(const struct mr_embedder *e)
{
    (void)e;
    return STEER_DIM;
}
static int steer_embed(struct mr_embedder *e, const char *const *texts, const size_t *lens,
                       size_t n, float *out, struct mr_err *err)
{
    (void)e, (void)err;
    for (size_t i = 0; i < n; i++) {
        float *v = out + i * STEER_DIM;
        memset(v, 0, STEER_DIM * sizeof *v);
        if (lens[i] >= 6 && memcmp(texts[i], "filler", 6) == 0) {
            v[0] = 0.1f;
            v[1] = 0.99498744f; /* sqrt(1 - 0.01) */
        } else if (lens[i] > 0 && texts[i][0] == 'q') {
            v[0] = 1;
        } else {
            v[2] = 1;
        }
    }
    return 0;
}
static int steer_health(struct mr_embedder *e, struct mr_err *err)
{
    (void)e, (void)err;
    return 0;
}
static void steer_destroy(struct mr_embedder *e)
{
    free(e);
}
static const struct mr_embedder_ops steer_ops = {steer_name, steer_dim, steer_embed, steer_health,
                                                 steer_destroy};

/* The fixture with the steered embedder (and an index of its dimension). */
static void setup_steered(struct fixture *f)
{
    setup(f);
    mr_service_free(f->svc);
    mr_index_destroy(f->index);
    mr_embed_destroy(f->embedder);
    struct mr_embedder *e = mr_xcalloc(1, sizeof *e);
    e->ops = &steer_ops;
    f->embedder = e;
    f->index = mr_index_new(STEER_DIM);
    f->cfg.embedder = f->embedder;
    f->cfg.index = f->index;
    f->svc = mr_service_new(&f->cfg);
}

static void create_fillers(struct fixture *f, int n, enum mr_memory_type t)
{
    for (int i = 0; i < n; i++) {
        char text[96];
        snprintf(text, sizeof text, "filler note number %d about the weather", i);
        struct mr_memory m;
        if (create(f, &alice, text, t, 0.5, &m) != 0)
            test_fail(__FILE__, __LINE__, "filler %d not created", i);
        mr_memory_clear(&m);
    }
}

/* Whether id is among r's results. */
static bool has_result(const struct mr_search_results *r, const char *memory_id)
{
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->memories[i].memory_id, memory_id) == 0)
            return true;
    return false;
}

static int search_q(struct fixture *f, const struct mr_identity *who, struct mr_search *q,
                    struct mr_search_results *out)
{
    struct mr_err err;
    q->query_len = strlen(q->query);
    q->has_min_similarity = true;
    return mr_memory_search(f->svc, who, q, out, &err);
}

TEST(test_hybrid_finds_what_only_the_lexical_side_matches)
{
    struct fixture f;
    setup_steered(&f);
    /* 150 memories closer to the query's vector than the one holding its word. */
    create_fillers(&f, 150, MR_LONG_TERM);
    struct mr_memory target;
    CHECK(create(&f, &alice, "ledger code xq_7781 names the revenue cube", MR_ENTITY, 0.5,
                 &target) == 0);
    struct mr_search_results r;
    struct mr_search q = {.query = "quarterly xq_7781", .limit = 10};
    CHECK(search_q(&f, &alice, &q, &r) == 0);
    CHECK_INT(r.mode, MR_SEARCH_HYBRID);
    CHECK_INT(r.n, 10);
    CHECK_STR(r.memories[0].memory_id, target.memory_id);
    CHECK_NEAR(r.semantic[0], 0, 1e-6);
    CHECK(r.lexical[0] > 0.2);
    CHECK_NEAR(r.scores[0], 0.5 * r.semantic[0] + 0.5 * r.lexical[0], 1e-9);
    for (size_t i = 1; i < r.n; i++) {
        /*
         * The fillers, by their vectors: long-term turns of one conversation,
         * each 0.1 among turns of 0.1: hybrid's cosine context (half own,
         * half the window's mean) keeps a uniform run where it is, so turns
         * do not rise above the standalone memory beside them.
         */
        CHECK_NEAR(r.semantic[i], 0.1, 1e-6);
        CHECK_NEAR(r.lexical[i], 0, 0);
        CHECK(r.scores[i] <= r.scores[i - 1]);
    }
    mr_search_results_clear(&r);
    /* The service's lexical weight is the fused score's (the registry's per model in main.c). */
    f.cfg.lexical_weight = 0.7;
    rebuild(&f);
    CHECK(search_q(&f, &alice, &q, &r) == 0);
    CHECK_STR(r.memories[0].memory_id, target.memory_id);
    CHECK_NEAR(r.scores[0], 0.3 * r.semantic[0] + 0.7 * r.lexical[0], 1e-9);
    for (size_t i = 1; i < r.n; i++)
        CHECK_NEAR(r.scores[i], 0.3 * r.semantic[i] + 0.7 * r.lexical[i], 1e-9);
    mr_search_results_clear(&r);
    /* The vector alone does not find it; BM25 alone finds only it. */
    q.mode = MR_SEARCH_SEMANTIC;
    CHECK(search_q(&f, &alice, &q, &r) == 0);
    CHECK_INT(r.n, 10);
    CHECK(!has_result(&r, target.memory_id));
    mr_search_results_clear(&r);
    q.mode = MR_SEARCH_LEXICAL;
    CHECK(search_q(&f, &alice, &q, &r) == 0);
    CHECK_INT(r.n, 1);
    CHECK_STR(r.memories[0].memory_id, target.memory_id);
    CHECK_NEAR(r.scores[0], r.lexical[0], 0);
    mr_search_results_clear(&r);
    mr_memory_clear(&target);
    teardown(&f);
}

TEST(test_an_identifier_match_ranks_first)
{
    struct fixture f;
    setup(&f);
    const char *texts[] = {"cust_acct_id is the natural key of dim_customer_account",
                           "cust_acct_key is the surrogate key of dim_customer_account",
                           "each customer account has one row in dim_customer_account",
                           "the account key of a customer is never reused"};
    char ids[4][MR_UUID_LEN];
    for (int i = 0; i < 4; i++) {
        struct mr_memory m;
        CHECK(create(&f, &alice, texts[i], MR_ENTITY, 0.5, &m) == 0);
        memcpy(ids[i], m.memory_id, MR_UUID_LEN);
        mr_memory_clear(&m);
    }
    struct mr_search_results r;
    struct mr_search q = {.query = "what is cust_acct_key"};
    CHECK(search_q(&f, &alice, &q, &r) == 0);
    CHECK(r.n >= 2);
    CHECK_STR(r.memories[0].memory_id, ids[1]);
    CHECK(r.lexical[0] > r.lexical[1]);
    mr_search_results_clear(&r);
    q.query = "cust_acct_id";
    CHECK(search_q(&f, &alice, &q, &r) == 0);
    CHECK_STR(r.memories[0].memory_id, ids[0]);
    mr_search_results_clear(&r);
    teardown(&f);
}

TEST(test_filters_apply_to_lexical_candidates)
{
    static const char CONV2[] = "44444444-4444-4444-8444-444444444444";
    struct fixture f;
    setup_steered(&f);
    f.cfg.relaxed_sharing = true;
    rebuild(&f);
    struct mr_err err;
    create_fillers(&f, 120, MR_ENTITY);
    struct mr_memory keep, rule, other_conv, scratch, stale, bobs, bobs_shared;
    /* The entities' texts are the longest: BM25 ranks them below the others. */
    CHECK(create(&f, &alice, "xq_7781 is the ledger cube of the finance warehouse team", MR_ENTITY,
                 0.5, &keep) == 0);
    CHECK(create(&f, &alice, "xq_7781 must be read monthly", MR_RULE, 0.5, &rule) == 0);
    struct mr_conversation_create cc = {.has_conversation_id = true};
    memcpy(cc.conversation_id, CONV2, sizeof CONV2);
    struct mr_conversation conv;
    CHECK(mr_conversation_create(f.svc, &alice, &cc, &conv, &err) == 0);
    mr_conversation_clear(&conv);
    struct mr_memory_create in = {.content = "xq_7781 in another conversation of the finance team",
                                  .content_len = 51,
                                  .memory_type = MR_ENTITY,
                                  .importance_score = 0.5,
                                  .expires_at = MR_NO_TIME};
    memcpy(in.conversation_id, CONV2, sizeof CONV2);
    CHECK(mr_memory_create(f.svc, &alice, &in, &other_conv, &err) == 0);
    CHECK(create(&f, &alice, "xq_7781 scratch note", MR_SHORT_TERM, 0.5, &scratch) == 0);
    /* bob's conversation, bob's memories: one private, one shared (relaxed isolation). */
    struct mr_conversation_create bc = {0};
    CHECK(mr_conversation_create(f.svc, &bob, &bc, &conv, &err) == 0);
    in.content = "xq_7781 private to bob";
    in.content_len = strlen(in.content);
    memcpy(in.conversation_id, conv.conversation_id, MR_UUID_LEN);
    CHECK(mr_memory_create(f.svc, &bob, &in, &bobs, &err) == 0);
    in.content = "xq_7781 shared by bob";
    in.content_len = strlen(in.content);
    in.memory_type = MR_RULE;
    in.shared = true;
    CHECK(mr_memory_create(f.svc, &bob, &in, &bobs_shared, &err) == 0);
    mr_conversation_clear(&conv);

    struct mr_search_results r;
    /* Lexical: every match alice may see, bob's private one never. */
    struct mr_search q = {.query = "quick xq_7781", .limit = 50, .mode = MR_SEARCH_LEXICAL};
    CHECK(search_q(&f, &alice, &q, &r) == 0);
    CHECK_INT(r.n, 5);
    CHECK(!has_result(&r, bobs.memory_id));
    CHECK(has_result(&r, bobs_shared.memory_id));
    mr_search_results_clear(&r);
    /* The lexical side filters before it ranks: its best 2 entities are the 2 entities. */
    q.type_mask = 1u << MR_ENTITY;
    q.limit = 2;
    CHECK(search_q(&f, &alice, &q, &r) == 0);
    CHECK_INT(r.n, 2);
    CHECK(has_result(&r, keep.memory_id) && has_result(&r, other_conv.memory_id));
    mr_search_results_clear(&r);
    /* Type: the fillers fill the vector side; the lexical side is filtered too. */
    q.mode = MR_SEARCH_HYBRID;
    q.type_mask = 1u << MR_ENTITY;
    q.limit = 10;
    CHECK(search_q(&f, &alice, &q, &r) == 0);
    CHECK_INT(r.n, 10); /* `limit` results come back when they exist */
    CHECK(has_result(&r, keep.memory_id) && has_result(&r, other_conv.memory_id));
    CHECK(!has_result(&r, rule.memory_id) && !has_result(&r, bobs_shared.memory_id));
    for (size_t i = 0; i < r.n; i++)
        CHECK_INT(r.memories[i].memory_type, MR_ENTITY);
    mr_search_results_clear(&r);
    /* Conversation. */
    q.type_mask = 0;
    q.conversation_id = CONV;
    CHECK(search_q(&f, &alice, &q, &r) == 0);
    CHECK_INT(r.n, 10);
    CHECK(has_result(&r, keep.memory_id) && !has_result(&r, other_conv.memory_id));
    mr_search_results_clear(&r);
    q.conversation_id = CONV2;
    CHECK(search_q(&f, &alice, &q, &r) == 0);
    CHECK_INT(r.n, 1);
    CHECK_STR(r.memories[0].memory_id, other_conv.memory_id);
    mr_search_results_clear(&r);
    q.conversation_id = NULL;
    /* Archived: out unless asked for; expired: out. Never returned yet, so archivable. */
    CHECK(create(&f, &alice, "xq_7781 stale note", MR_SHORT_TERM, 0.2, &stale) == 0);
    int64_t n_archived = 0;
    f.clock.fixed_us = T0 + 31 * MR_USEC_PER_DAY;
    CHECK(mr_memory_archive(f.svc, &alice, 0, &n_archived, &err) == 0);
    CHECK_INT(n_archived, 1);
    f.clock.fixed_us = T0 + 1; /* before the short-term expiry, to see the archive flag alone */
    q.mode = MR_SEARCH_LEXICAL;
    CHECK(search_q(&f, &alice, &q, &r) == 0);
    CHECK(!has_result(&r, stale.memory_id) && has_result(&r, scratch.memory_id));
    mr_search_results_clear(&r);
    q.include_archived = true;
    CHECK(search_q(&f, &alice, &q, &r) == 0);
    CHECK(has_result(&r, stale.memory_id));
    mr_search_results_clear(&r);
    q.include_archived = false;
    f.clock.fixed_us = T0 + 8 * MR_USEC_PER_DAY;
    CHECK(search_q(&f, &alice, &q, &r) == 0);
    CHECK(!has_result(&r, scratch.memory_id) && has_result(&r, keep.memory_id));
    mr_search_results_clear(&r);
    struct mr_memory *all[] = {&keep, &rule, &other_conv, &scratch, &stale, &bobs, &bobs_shared};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        mr_memory_clear(all[i]);
    teardown(&f);
}

TEST(test_lexical_results_follow_updates_and_deletes_at_once)
{
    struct fixture f;
    setup(&f);
    struct mr_err err;
    struct mr_memory m, got;
    CHECK(create(&f, &alice, "the zorbly_cache table caches sessions", MR_ENTITY, 0.5, &m) == 0);
    struct mr_search_results r;
    CHECK_INT(search_mode(&f, &alice, "zorbly_cache", MR_SEARCH_LEXICAL, &r), 1);
    mr_search_results_clear(&r);
    struct mr_memory_patch p = {.content = "the session_store table keeps sessions",
                                .content_len = 38};
    CHECK(mr_memory_update(f.svc, &alice, m.memory_id, &p, &got, &err) == 0);
    mr_memory_clear(&got);
    CHECK_INT(search_mode(&f, &alice, "zorbly_cache", MR_SEARCH_LEXICAL, &r), 0);
    mr_search_results_clear(&r);
    CHECK_INT(search_mode(&f, &alice, "session_store", MR_SEARCH_LEXICAL, &r), 1);
    mr_search_results_clear(&r);
    /* A change that keeps the content (importance) keeps the terms. */
    struct mr_memory_patch imp = {.has_importance = true, .importance_score = 0.9};
    CHECK(mr_memory_update(f.svc, &alice, m.memory_id, &imp, &got, &err) == 0);
    mr_memory_clear(&got);
    CHECK_INT(search_mode(&f, &alice, "session_store", MR_SEARCH_LEXICAL, &r), 1);
    mr_search_results_clear(&r);
    CHECK(mr_memory_delete(f.svc, &alice, m.memory_id, &err) == 0);
    CHECK_INT(search_mode(&f, &alice, "session_store", MR_SEARCH_LEXICAL, &r), 0);
    mr_search_results_clear(&r);
    CHECK_INT(search_mode(&f, &alice, "session_store", MR_SEARCH_HYBRID, &r), 0);
    mr_search_results_clear(&r);
    /* A restart rebuilds the lexical side from the stored content. */
    CHECK(create(&f, &alice, "the orbit_log table records launches", MR_ENTITY, 0.5, &got) == 0);
    mr_memory_clear(&got);
    mr_service_free(f.svc);
    mr_index_destroy(f.index);
    f.index = mr_index_new(256);
    f.cfg.index = f.index;
    f.svc = mr_service_new(&f.cfg);
    CHECK(mr_service_load_index(f.svc, &err) == 0);
    CHECK_INT(search_mode(&f, &alice, "orbit_log", MR_SEARCH_LEXICAL, &r), 1);
    mr_search_results_clear(&r);
    mr_memory_clear(&m);
    teardown(&f);
}

TEST(test_queries_and_memories_without_a_lexical_term)
{
    struct fixture f;
    setup(&f);
    struct mr_memory quiet, m;
    CHECK(create(&f, &alice, "it is what it is", MR_LONG_TERM, 0.5, &quiet) == 0);
    CHECK(create(&f, &alice, "invoices are paid monthly", MR_RULE, 0.5, &m) == 0);
    mr_memory_clear(&m);
    struct mr_search_results r;
    /* No term in the query: ranked by the vector alone, never an error. */
    CHECK_INT(search(&f, &alice, "what it is", &r), 2);
    CHECK_INT(r.mode, MR_SEARCH_SEMANTIC);
    CHECK_STR(r.memories[0].memory_id, quiet.memory_id);
    CHECK_NEAR(r.scores[0], r.semantic[0], 0);
    CHECK_NEAR(r.lexical[0], 0, 0);
    mr_search_results_clear(&r);
    CHECK(search(&f, &alice, "?! -- ...", &r) != (size_t)-1);
    mr_search_results_clear(&r);
    /* Lexical mode has nothing to rank such a query by. */
    CHECK_INT(search_mode(&f, &alice, "what it is", MR_SEARCH_LEXICAL, &r), 0);
    mr_search_results_clear(&r);
    /* The memory without a term is a document of length 0: other searches are unaffected. */
    CHECK(search_mode(&f, &alice, "invoices", MR_SEARCH_LEXICAL, &r) == 1);
    mr_search_results_clear(&r);
    mr_memory_clear(&quiet);
    teardown(&f);
}

/* Each mode's default threshold applies to the score that mode returns. */
TEST(test_each_mode_has_its_default_threshold)
{
    struct fixture f;
    setup(&f);
    f.cfg.default_min_similarity = 0.9;  /* hybrid */
    f.cfg.semantic_min_similarity = 0.0; /* semantic */
    f.cfg.lexical_min_similarity = 0.95; /* lexical: above any BM25 score */
    rebuild(&f);
    struct mr_memory m;
    CHECK(create(&f, &alice, "refunds are booked as negative revenue", MR_RULE, 0.5, &m) == 0);
    mr_memory_clear(&m);
    struct mr_err err;
    struct mr_search_results r;
    struct mr_search q = {.query = "refunds revenue", .query_len = 15};
    CHECK(mr_memory_search(f.svc, &alice, &q, &r, &err) == 0);
    CHECK_INT(r.n, 0);
    mr_search_results_clear(&r);
    q.mode = MR_SEARCH_SEMANTIC;
    CHECK(mr_memory_search(f.svc, &alice, &q, &r, &err) == 0);
    CHECK_INT(r.n, 1);
    mr_search_results_clear(&r);
    q.mode = MR_SEARCH_LEXICAL;
    CHECK(mr_memory_search(f.svc, &alice, &q, &r, &err) == 0);
    CHECK_INT(r.n, 0);
    mr_search_results_clear(&r);
    /* A request's min_similarity wins in every mode. */
    q.has_min_similarity = true;
    q.min_similarity = 0.01;
    CHECK(mr_memory_search(f.svc, &alice, &q, &r, &err) == 0);
    CHECK_INT(r.n, 1);
    mr_search_results_clear(&r);
    teardown(&f);
}

TEST_MAIN("service", T(test_create_sets_defaults_and_expiry), T(test_create_rejects_blank_content),
          T(test_search_skips_expired), T(test_search_records_access_and_promotes),
          T(test_search_filters_and_threshold), T(test_users_are_isolated),
          T(test_update_merges_metadata_replaces_tags_and_reembeds), T(test_promote_endpoint_rule),
          T(test_archive_old_unimportant_short_term), T(test_conversations_lifecycle),
          T(test_restart_rebuilds_index_from_store), T(test_reembed_rewrites_vectors_and_model),
          T(test_relaxed_sharing_is_read_only_and_within_the_tenant),
          T(test_search_rechecks_filters_on_the_row_it_reads_back),
          T(test_search_rechecks_sharing_on_the_row_it_reads_back),
          T(test_load_index_failure_says_why), T(test_service_reports_health_and_capabilities),
          T(test_debug_traces_each_operation), T(test_reembed_calls_the_provider_once_per_batch),
          T(test_interrupted_reembed_claims_no_model_and_a_rerun_finishes),
          T(test_hybrid_finds_what_only_the_lexical_side_matches),
          T(test_an_identifier_match_ranks_first), T(test_filters_apply_to_lexical_candidates),
          T(test_lexical_results_follow_updates_and_deletes_at_once),
          T(test_queries_and_memories_without_a_lexical_term),
          T(test_each_mode_has_its_default_threshold))
