/*
 * The memory service end to end below HTTP: real SQLite file, the lexical
 * embedder, the flat index, and a fixed clock the tests move.
 */
#include <stdlib.h>

#include "memori/rules.h"
#include "memori/service.h"
#include "test.h"

static const int64_t T0 = INT64_C(1767225600000000);
static const char CONV[] = "33333333-3333-4333-8333-333333333333";
static const struct mr_identity alice = {"alice", "default"}, bob = {"bob", "default"};

struct fixture {
    struct mr_clock clock;
    struct mr_store *store;
    struct mr_embedder *embedder;
    struct mr_index *index;
    struct mr_service svc;
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
    f->index = mr_index_flat_new(256);
    f->svc = (struct mr_service){f->store, f->embedder, f->index, &f->clock, 7, 30, 10, 0.1};
    mr_service_load_index(&f->svc, &err);
}

static void setup(struct fixture *f)
{
    char name[64], path[512];
    snprintf(name, sizeof name, "svc-%d.db", n_db++);
    setup_at(f, test_path(path, sizeof path, name));
}

static void teardown(struct fixture *f)
{
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
    return mr_memory_create(&f->svc, who, &in, out, &err);
}

static size_t search(struct fixture *f, const struct mr_identity *who, const char *q,
                     struct mr_search_results *out)
{
    struct mr_search s = {.query = q, .query_len = strlen(q), .has_min_similarity = true};
    struct mr_err err;
    if (mr_memory_search(&f->svc, who, &s, out, &err) != 0)
        return (size_t)-1;
    return out->n;
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
    CHECK(mr_memory_get(&f.svc, &alice, m.memory_id, &got, &err) == 0);
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
    CHECK(mr_memory_search(&f.svc, &alice, &q, &r, &err) == 0);
    CHECK_INT(r.n, 3); /* 0 is a valid threshold: everything */
    CHECK(r.scores[0] >= r.scores[1] && r.scores[1] >= r.scores[2]);
    mr_search_results_clear(&r);
    q.type_mask = 1u << MR_RELATIONSHIP;
    CHECK(mr_memory_search(&f.svc, &alice, &q, &r, &err) == 0);
    CHECK_INT(r.n, 1);
    CHECK_INT(r.memories[0].memory_type, MR_RELATIONSHIP);
    mr_search_results_clear(&r);
    q.type_mask = 0;
    q.min_similarity = 0.99;
    CHECK(mr_memory_search(&f.svc, &alice, &q, &r, &err) == 0);
    CHECK_INT(r.n, 0);
    mr_search_results_clear(&r);
    q.min_similarity = 0;
    q.limit = 2;
    CHECK(mr_memory_search(&f.svc, &alice, &q, &r, &err) == 0);
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
    CHECK_INT(mr_memory_get(&f.svc, &bob, m.memory_id, &got, &err), MR_ENOTFOUND);
    CHECK_INT(mr_memory_delete(&f.svc, &bob, m.memory_id, &err), MR_ENOTFOUND);
    CHECK_INT(mr_memory_promote(&f.svc, &bob, m.memory_id, &got, &err), MR_ENOTFOUND);
    struct mr_memory_patch p = {.has_importance = true, .importance_score = 0.1};
    CHECK_INT(mr_memory_update(&f.svc, &bob, m.memory_id, &p, &got, &err), MR_ENOTFOUND);
    struct mr_stats st;
    CHECK(mr_memory_stats(&f.svc, &bob, &st, &err) == 0);
    CHECK_INT(st.total, 0);
    /* bob cannot write into alice's conversation either. */
    CHECK_INT(create(&f, &bob, "bob note", MR_RULE, 0.5, &got), MR_ENOTFOUND);
    struct mr_conversation c;
    CHECK_INT(mr_conversation_get(&f.svc, &bob, CONV, &c, &err), MR_ENOTFOUND);
    CHECK_INT(mr_conversation_delete(&f.svc, &bob, CONV, &err), MR_ENOTFOUND);
    CHECK(mr_memory_get(&f.svc, &alice, m.memory_id, &got, &err) == 0);
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
    CHECK(mr_memory_create(&f.svc, &alice, &in, &m, &err) == 0);
    struct mr_strv tags2 = {0};
    mr_strv_push(&tags2, "b", 1);
    f.clock.fixed_us = T0 + 10;
    struct mr_memory_patch p = {.content = "amounts are kept in euro cents",
                                .content_len = 30,
                                .context_tags = &tags2,
                                .metadata = "{\"y\":3,\"z\":4}",
                                .has_importance = true,
                                .importance_score = 0.9};
    CHECK(mr_memory_update(&f.svc, &alice, m.memory_id, &p, &got, &err) == 0);
    CHECK_STR(got.metadata, "{\"x\":1,\"y\":3,\"z\":4}");
    CHECK_INT(got.context_tags.len, 1);
    CHECK_STR(got.context_tags.items[0], "b");
    CHECK_NEAR(got.importance_score, 0.9, 0);
    CHECK_INT(got.updated_at, T0 + 10);
    mr_memory_clear(&got);
    CHECK_INT(search(&f, &alice, "euro cents", &r), 1);
    mr_search_results_clear(&r);
    CHECK_INT(search(&f, &alice, "dates stored text", &r), 0);
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
    CHECK(mr_memory_promote(&f.svc, &alice, m.memory_id, &got, &err) == 0);
    CHECK_INT(got.memory_type, MR_LONG_TERM);
    CHECK_NEAR(got.importance_score, 0.6, 1e-9);
    mr_memory_clear(&got);
    CHECK_INT(mr_memory_promote(&f.svc, &alice, m.memory_id, &got, &err), MR_ECONFLICT);
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
    CHECK(mr_memory_archive(&f.svc, &alice, 40, &n, &err) == 0);
    CHECK_INT(n, 0);
    CHECK(mr_memory_archive(&f.svc, &alice, 0, &n, &err) == 0); /* default 30 */
    CHECK_INT(n, 1);
    struct mr_memory got;
    CHECK(mr_memory_get(&f.svc, &alice, a.memory_id, &got, &err) == 0);
    CHECK(got.is_archived);
    mr_memory_clear(&got);
    /* Archived (and expired) memories stay out of search; include_archived brings live + archived.
     */
    struct mr_search q = {
        .query = "refunds", .query_len = 7, .has_min_similarity = true, .include_archived = true};
    f.clock.fixed_us = T0 + 1; /* before expiry, to see the archive flag alone */
    CHECK(mr_memory_search(&f.svc, &alice, &q, &r, &err) == 0);
    CHECK_INT(r.n, 2);
    mr_search_results_clear(&r);
    q.include_archived = false;
    CHECK(mr_memory_search(&f.svc, &alice, &q, &r, &err) == 0);
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
    CHECK(mr_conversation_create(&f.svc, &alice, &in, &c, &err) == 0);
    CHECK(c.is_active);
    struct mr_memory m;
    struct mr_memory_create mc = {.content = "in conversation",
                                  .content_len = 15,
                                  .memory_type = MR_RULE,
                                  .importance_score = 0.5,
                                  .expires_at = MR_NO_TIME};
    memcpy(mc.conversation_id, c.conversation_id, MR_UUID_LEN);
    f.clock.fixed_us = T0 + 100;
    CHECK(mr_memory_create(&f.svc, &alice, &mc, &m, &err) == 0);
    CHECK(mr_conversation_get(&f.svc, &alice, c.conversation_id, &got, &err) == 0);
    CHECK_INT(got.last_activity_at, T0 + 100); /* a new memory is activity */
    mr_conversation_clear(&got);
    struct mr_conversation_patch p = {.has_title = true,
                                      .title = NULL,
                                      .metadata = "{\"x\":1}",
                                      .has_is_active = true,
                                      .is_active = false};
    CHECK(mr_conversation_update(&f.svc, &alice, c.conversation_id, &p, &got, &err) == 0);
    CHECK(got.title == NULL && !got.is_active);
    CHECK_STR(got.metadata, "{\"db\":\"sales\",\"x\":1}");
    mr_conversation_clear(&got);
    struct mr_memory *v;
    size_t n;
    int64_t total;
    CHECK(mr_conversation_memories(&f.svc, &alice, c.conversation_id, (struct mr_page){10, 0}, &v,
                                   &n, &total, &err) == 0);
    CHECK_INT(total, 1);
    mr_memory_clear(&v[0]);
    free(v);
    CHECK(mr_conversation_delete(&f.svc, &alice, c.conversation_id, &err) == 0);
    struct mr_memory gone;
    CHECK_INT(mr_memory_get(&f.svc, &alice, m.memory_id, &gone, &err), MR_ENOTFOUND);
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
    CHECK(mr_service_reembed(&f.svc, &n, &err) == 0);
    CHECK_INT(n, 2);
    CHECK(mr_store_check_model(f.store, "memori-lexical-v1", 256, &err) == 0);
    teardown(&f);
}

TEST(test_relaxed_sharing_is_read_only_and_within_the_tenant)
{
    struct fixture f;
    setup(&f);
    f.svc.relaxed_sharing = true;
    struct mr_err err;
    struct mr_memory shared, private_, got;
    struct mr_memory_create in = {.content = "fiscal year starts in april",
                                  .content_len = 27,
                                  .memory_type = MR_RULE,
                                  .importance_score = 0.5,
                                  .expires_at = MR_NO_TIME,
                                  .shared = true};
    memcpy(in.conversation_id, CONV, sizeof CONV);
    CHECK(mr_memory_create(&f.svc, &alice, &in, &shared, &err) == 0);
    in.shared = false;
    in.content = "fiscal year secrets of alice";
    in.content_len = strlen(in.content);
    CHECK(mr_memory_create(&f.svc, &alice, &in, &private_, &err) == 0);
    /* Only rule, entity and relationship can be shared. */
    in.memory_type = MR_SHORT_TERM;
    in.shared = true;
    CHECK_INT(mr_memory_create(&f.svc, &alice, &in, &got, &err), MR_EINVAL);
    struct mr_search_results r;
    CHECK_INT(search(&f, &bob, "fiscal year", &r), 1);
    CHECK_STR(r.memories[0].memory_id, shared.memory_id);
    CHECK_INT(r.memories[0].access_count, 0); /* read-only: alice's statistics untouched */
    mr_search_results_clear(&r);
    CHECK(mr_memory_get(&f.svc, &bob, shared.memory_id, &got, &err) == 0);
    mr_memory_clear(&got);
    CHECK_INT(mr_memory_get(&f.svc, &bob, private_.memory_id, &got, &err), MR_ENOTFOUND);
    struct mr_memory_patch p = {.has_importance = true, .importance_score = 0.1};
    CHECK_INT(mr_memory_update(&f.svc, &bob, shared.memory_id, &p, &got, &err), MR_ENOTFOUND);
    CHECK_INT(mr_memory_delete(&f.svc, &bob, shared.memory_id, &err), MR_ENOTFOUND);
    /* Never across tenants. */
    struct mr_identity other = {"bob", "other-tenant"};
    CHECK_INT(search(&f, &other, "fiscal year", &r), 0);
    mr_search_results_clear(&r);
    /* The owner still sees each once, and unsharing hides it again. */
    CHECK_INT(search(&f, &alice, "fiscal year", &r), 2);
    mr_search_results_clear(&r);
    struct mr_memory_patch unshare = {.has_shared = true, .shared = false};
    CHECK(mr_memory_update(&f.svc, &alice, shared.memory_id, &unshare, &got, &err) == 0);
    mr_memory_clear(&got);
    CHECK_INT(search(&f, &bob, "fiscal year", &r), 0);
    mr_search_results_clear(&r);
    /* Strict isolation: shared or not, nothing crosses users. */
    struct mr_memory_patch reshare = {.has_shared = true, .shared = true};
    CHECK(mr_memory_update(&f.svc, &alice, shared.memory_id, &reshare, &got, &err) == 0);
    mr_memory_clear(&got);
    f.svc.relaxed_sharing = false;
    CHECK_INT(search(&f, &bob, "fiscal year", &r), 0);
    mr_search_results_clear(&r);
    CHECK_INT(mr_memory_get(&f.svc, &bob, shared.memory_id, &got, &err), MR_ENOTFOUND);
    mr_memory_clear(&shared);
    mr_memory_clear(&private_);
    teardown(&f);
}

TEST_MAIN("service", T(test_create_sets_defaults_and_expiry), T(test_create_rejects_blank_content),
          T(test_search_skips_expired), T(test_search_records_access_and_promotes),
          T(test_search_filters_and_threshold), T(test_users_are_isolated),
          T(test_update_merges_metadata_replaces_tags_and_reembeds), T(test_promote_endpoint_rule),
          T(test_archive_old_unimportant_short_term), T(test_conversations_lifecycle),
          T(test_restart_rebuilds_index_from_store), T(test_reembed_rewrites_vectors_and_model),
          T(test_relaxed_sharing_is_read_only_and_within_the_tenant))
