/*
 * contract_store.h — the behaviour every store backend must show. A test
 * binary defines contract_open() for its backend and includes this file;
 * test_store_sqlite.c and test_store_postgres.c run it unchanged.
 */
#ifndef MEMORI_CONTRACT_STORE_H
#define MEMORI_CONTRACT_STORE_H

#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "memori/clock.h"
#include "memori/rules.h"
#include "memori/store.h"
#include "test.h"

/*
 * Opens an empty store of the backend under test (a fresh database each
 * call), pooled as given; NULL (and the reason printed) when it cannot.
 */
static struct mr_store *contract_open_pool(const struct mr_store_pool_config *pool);

/* contract_open_pool with 4 connections and the default wait. */
static struct mr_store *contract_open(void)
{
    struct mr_store_pool_config pool = {4, 0, 0};
    return contract_open_pool(&pool);
}

#define CDIM 8
static const struct mr_identity c_alice = {"alice", "t1"}, c_bob = {"bob", "t1"},
                                c_alice_t2 = {"alice", "t2"};

static void c_conv(struct mr_conversation *c, const char *id, const struct mr_identity *who,
                   int64_t t)
{
    memset(c, 0, sizeof *c);
    snprintf(c->conversation_id, sizeof c->conversation_id, "%s", id);
    c->user_id = mr_xstrdup(who->user_id);
    c->tenant_id = mr_xstrdup(who->tenant_id);
    c->metadata = mr_xstrdup("{\"k\":1}");
    c->is_active = true;
    c->last_activity_at = c->created_at = c->updated_at = t;
}

static void c_mem(struct mr_memory *m, const char *conv, const struct mr_identity *who,
                  enum mr_memory_type t, double importance, int64_t created)
{
    memset(m, 0, sizeof *m);
    mr_uuid_v4(m->memory_id);
    snprintf(m->conversation_id, sizeof m->conversation_id, "%s", conv);
    m->user_id = mr_xstrdup(who->user_id);
    m->tenant_id = mr_xstrdup(who->tenant_id);
    m->content = mr_xstrdup("content ✓");
    m->memory_type = t;
    m->dim = CDIM;
    m->embedding = mr_xcalloc(CDIM, sizeof(float));
    m->embedding[0] = 1;
    m->embedding[CDIM - 1] = 0.5f;
    m->importance_score = importance;
    m->last_accessed_at = MR_NO_TIME;
    m->expires_at = MR_NO_TIME;
    mr_strv_push(&m->context_tags, "a", 1);
    mr_strv_push(&m->context_tags, "", 0);
    mr_strv_push(&m->related_entities, "orders", 6);
    m->metadata = mr_xstrdup("{}");
    m->created_at = m->updated_at = created;
}

static const char C1[] = "11111111-1111-4111-8111-111111111111";
static const char C2[] = "22222222-2222-4222-8222-222222222222";

/* Sends stderr (the server log) to a file until c_log_end, which returns what was written. */
struct c_log {
    int saved;
    char path[512];
};

static void c_log_begin(struct c_log *l)
{
    fflush(stderr);
    test_path(l->path, sizeof l->path, "stderr.log");
    int fd = open(l->path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    l->saved = dup(2);
    dup2(fd, 2);
    close(fd);
}

/* The text logged since c_log_begin; caller frees. */
static char *c_log_end(struct c_log *l)
{
    fflush(stderr);
    dup2(l->saved, 2);
    close(l->saved);
    FILE *f = fopen(l->path, "r");
    char *text = mr_xcalloc(1, 65536);
    if (f) {
        size_t n = fread(text, 1, 65535, f);
        text[n] = '\0';
        fclose(f);
    }
    return text;
}

#define C_BEGIN(store, tx)                                                                         \
    do {                                                                                           \
        struct mr_err e_;                                                                          \
        CHECK(mr_store_begin((store), true, &(tx), &e_) == 0);                                     \
    } while (0)

TEST(contract_conversation_round_trip)
{
    struct mr_store *s = contract_open();
    CHECK(s);
    struct mr_store_tx *tx;
    struct mr_err err;
    struct mr_conversation c, got;
    C_BEGIN(s, tx);
    c_conv(&c, C1, &c_alice, 100);
    c.title = mr_xstrdup("Sales questions");
    c.has_data_source_id = true;
    c.data_source_id = 42;
    CHECK(mr_store_conv_insert(tx, &c, &err) == 0);
    CHECK(c.id > 0);
    CHECK_INT(mr_store_conv_insert(tx, &c, &err), MR_ECONFLICT);
    CHECK(mr_store_commit(tx, &err) == 0);
    C_BEGIN(s, tx);
    CHECK(mr_store_conv_get(tx, C1, &got, &err) == 0);
    CHECK_STR(got.title, "Sales questions");
    CHECK_STR(got.user_id, "alice");
    CHECK_STR(got.tenant_id, "t1");
    CHECK_STR(got.metadata, "{\"k\":1}");
    CHECK(got.has_data_source_id && got.data_source_id == 42);
    CHECK_INT(got.created_at, 100);
    free(got.title);
    got.title = NULL;
    got.is_active = false;
    got.has_data_source_id = false;
    got.updated_at = 200;
    CHECK(mr_store_conv_update(tx, &got, &err) == 0);
    mr_conversation_clear(&got);
    CHECK(mr_store_conv_get(tx, C1, &got, &err) == 0);
    CHECK(got.title == NULL && !got.is_active && !got.has_data_source_id);
    CHECK_INT(got.updated_at, 200);
    mr_conversation_clear(&got);
    CHECK_INT(mr_store_conv_get(tx, C2, &got, &err), MR_ENOTFOUND);
    mr_store_rollback(tx);
    mr_conversation_clear(&c);
    mr_store_close(s);
}

TEST(contract_memory_round_trip)
{
    struct mr_store *s = contract_open();
    CHECK(s);
    struct mr_store_tx *tx;
    struct mr_err err;
    struct mr_conversation c;
    struct mr_memory m, got;
    C_BEGIN(s, tx);
    c_conv(&c, C1, &c_alice, 1);
    CHECK(mr_store_conv_insert(tx, &c, &err) == 0);
    c_mem(&m, C1, &c_alice, MR_SHORT_TERM, 0.25, 10);
    m.expires_at = 999;
    m.is_shared = true;
    CHECK(mr_store_mem_insert(tx, &m, &err) == 0);
    CHECK(m.id > 0);
    CHECK(mr_store_commit(tx, &err) == 0);
    C_BEGIN(s, tx);
    CHECK(mr_store_mem_get(tx, m.memory_id, &got, &err) == 0);
    CHECK_INT(got.id, m.id);
    CHECK_STR(got.content, "content ✓");
    CHECK_INT(got.memory_type, MR_SHORT_TERM);
    CHECK_INT(got.dim, CDIM);
    CHECK(memcmp(got.embedding, m.embedding, CDIM * sizeof(float)) == 0);
    CHECK_NEAR(got.importance_score, 0.25, 0);
    CHECK(got.last_accessed_at == MR_NO_TIME);
    CHECK_INT(got.expires_at, 999);
    CHECK(got.is_shared);
    CHECK_INT(got.context_tags.len, 2);
    CHECK_STR(got.context_tags.items[1], "");
    CHECK_INT(got.related_entities.len, 1);
    CHECK_STR(got.related_entities.items[0], "orders");
    mr_memory_clear(&got);
    /* Update every mutable column, including the embedding. */
    free(m.content);
    m.content = mr_xstrdup("new");
    m.memory_type = MR_LONG_TERM;
    m.importance_score = 0.75;
    m.access_count = 3;
    m.last_accessed_at = 50;
    m.expires_at = MR_NO_TIME;
    m.is_archived = true;
    mr_strv_clear(&m.context_tags);
    free(m.metadata);
    m.metadata = mr_xstrdup("{\"x\":true}");
    m.embedding[1] = 2;
    m.updated_at = 60;
    m.is_shared = false;
    CHECK(mr_store_mem_update(tx, &m, true, &err) == 0);
    CHECK(mr_store_mem_get_by_id(tx, m.id, &got, &err) == 0);
    CHECK_STR(got.content, "new");
    CHECK_INT(got.memory_type, MR_LONG_TERM);
    CHECK_INT(got.access_count, 3);
    CHECK_INT(got.last_accessed_at, 50);
    CHECK(got.expires_at == MR_NO_TIME && got.is_archived);
    CHECK_INT(got.context_tags.len, 0);
    CHECK_STR(got.metadata, "{\"x\":true}");
    CHECK_NEAR(got.embedding[1], 2, 0);
    CHECK_INT(got.updated_at, 60);
    CHECK(!got.is_shared);
    mr_memory_clear(&got);
    CHECK(mr_store_mem_delete(tx, m.memory_id, &err) == 0);
    CHECK_INT(mr_store_mem_get(tx, m.memory_id, &got, &err), MR_ENOTFOUND);
    CHECK_INT(mr_store_mem_delete(tx, m.memory_id, &err), MR_ENOTFOUND);
    CHECK(mr_store_commit(tx, &err) == 0);
    mr_memory_clear(&m);
    mr_conversation_clear(&c);
    mr_store_close(s);
}

TEST(contract_rollback_leaves_nothing)
{
    struct mr_store *s = contract_open();
    CHECK(s);
    struct mr_store_tx *tx;
    struct mr_err err;
    struct mr_conversation c, got;
    struct mr_memory m;
    C_BEGIN(s, tx);
    c_conv(&c, C1, &c_alice, 1);
    CHECK(mr_store_conv_insert(tx, &c, &err) == 0);
    c_mem(&m, C1, &c_alice, MR_RULE, 0.5, 1);
    CHECK(mr_store_mem_insert(tx, &m, &err) == 0);
    mr_store_rollback(tx);
    C_BEGIN(s, tx);
    CHECK_INT(mr_store_conv_get(tx, C1, &got, &err), MR_ENOTFOUND);
    struct mr_memory g;
    CHECK_INT(mr_store_mem_get(tx, m.memory_id, &g, &err), MR_ENOTFOUND);
    mr_store_rollback(tx);
    mr_memory_clear(&m);
    mr_conversation_clear(&c);
    mr_store_close(s);
}

TEST(contract_memory_needs_its_conversation)
{
    struct mr_store *s = contract_open();
    CHECK(s);
    struct mr_store_tx *tx;
    struct mr_err err;
    struct mr_memory m;
    C_BEGIN(s, tx);
    c_mem(&m, C2, &c_alice, MR_RULE, 0.5, 1);
    CHECK(mr_store_mem_insert(tx, &m, &err) != 0); /* foreign key */
    mr_store_rollback(tx);
    mr_memory_clear(&m);
    mr_store_close(s);
}

TEST(contract_delete_conversation_cascades)
{
    struct mr_store *s = contract_open();
    CHECK(s);
    struct mr_store_tx *tx;
    struct mr_err err;
    struct mr_conversation c;
    struct mr_memory m[3], got;
    C_BEGIN(s, tx);
    c_conv(&c, C1, &c_alice, 1);
    CHECK(mr_store_conv_insert(tx, &c, &err) == 0);
    for (int i = 0; i < 3; i++) {
        c_mem(&m[i], C1, &c_alice, MR_ENTITY, 0.5, i);
        CHECK(mr_store_mem_insert(tx, &m[i], &err) == 0);
    }
    struct mr_memory *page = NULL;
    size_t n = 0;
    int64_t total = 0;
    CHECK(mr_store_mem_list_by_conversation(tx, C1, 10, 0, &page, &n, &total, &err) == 0);
    CHECK_INT(n, 3);
    CHECK_INT(total, 3);
    for (size_t i = 0; i < n; i++)
        mr_memory_clear(&page[i]);
    free(page);
    CHECK(mr_store_conv_delete(tx, C1, &err) == 0);
    for (int i = 0; i < 3; i++)
        CHECK_INT(mr_store_mem_get(tx, m[i].memory_id, &got, &err), MR_ENOTFOUND);
    CHECK_INT(mr_store_conv_delete(tx, C1, &err), MR_ENOTFOUND);
    CHECK(mr_store_commit(tx, &err) == 0);
    for (int i = 0; i < 3; i++)
        mr_memory_clear(&m[i]);
    mr_conversation_clear(&c);
    mr_store_close(s);
}

TEST(contract_lists_are_paged_and_scoped)
{
    struct mr_store *s = contract_open();
    CHECK(s);
    struct mr_store_tx *tx;
    struct mr_err err;
    C_BEGIN(s, tx);
    /* alice: 5 conversations (activity 10..50), bob 1, alice in tenant t2 1. */
    for (int i = 0; i < 5; i++) {
        struct mr_conversation c;
        char id[MR_UUID_LEN];
        mr_uuid_v4(id);
        c_conv(&c, id, &c_alice, (i + 1) * 10);
        CHECK(mr_store_conv_insert(tx, &c, &err) == 0);
        mr_conversation_clear(&c);
    }
    struct mr_conversation cb, ct;
    c_conv(&cb, C1, &c_bob, 1000);
    CHECK(mr_store_conv_insert(tx, &cb, &err) == 0);
    c_conv(&ct, C2, &c_alice_t2, 1000);
    CHECK(mr_store_conv_insert(tx, &ct, &err) == 0);
    struct mr_conversation *v;
    size_t n;
    int64_t total;
    CHECK(mr_store_conv_list(tx, &c_alice, 2, 1, &v, &n, &total, &err) == 0);
    CHECK_INT(total, 5);
    CHECK_INT(n, 2);
    CHECK_INT(v[0].last_activity_at, 40); /* newest first, offset 1 */
    CHECK_INT(v[1].last_activity_at, 30);
    for (size_t i = 0; i < n; i++)
        mr_conversation_clear(&v[i]);
    free(v);
    /* Memories of a conversation: oldest first, paged, counted. */
    for (int i = 0; i < 4; i++) {
        struct mr_memory m;
        c_mem(&m, C1, &c_bob, MR_RULE, 0.5, 100 - i);
        CHECK(mr_store_mem_insert(tx, &m, &err) == 0);
        mr_memory_clear(&m);
    }
    struct mr_memory *mv;
    CHECK(mr_store_mem_list_by_conversation(tx, C1, 3, 0, &mv, &n, &total, &err) == 0);
    CHECK_INT(total, 4);
    CHECK_INT(n, 3);
    CHECK_INT(mv[0].created_at, 97);
    CHECK_INT(mv[2].created_at, 99);
    for (size_t i = 0; i < n; i++)
        mr_memory_clear(&mv[i]);
    free(mv);
    mr_store_rollback(tx);
    mr_conversation_clear(&cb);
    mr_conversation_clear(&ct);
    mr_store_close(s);
}

TEST(contract_memory_list_is_the_owners_newest_first_by_type)
{
    struct mr_store *s = contract_open();
    CHECK(s);
    struct mr_store_tx *tx;
    struct mr_err err;
    struct mr_conversation c, cb, ct;
    C_BEGIN(s, tx);
    c_conv(&c, C1, &c_alice, 1);
    c_conv(&cb, C2, &c_bob, 1);
    CHECK(mr_store_conv_insert(tx, &c, &err) == 0);
    CHECK(mr_store_conv_insert(tx, &cb, &err) == 0);
    char c3[MR_UUID_LEN];
    mr_uuid_v4(c3);
    c_conv(&ct, c3, &c_alice_t2, 1);
    CHECK(mr_store_conv_insert(tx, &ct, &err) == 0);
    /* alice: 5 memories created 10..50, rules at 20 and 40, one archived and one expired. */
    for (int i = 0; i < 5; i++) {
        struct mr_memory m;
        c_mem(&m, C1, &c_alice, i % 2 ? MR_RULE : MR_SHORT_TERM, 0.5, (i + 1) * 10);
        m.is_archived = i == 0;
        m.expires_at = i == 2 ? 5 : MR_NO_TIME;
        CHECK(mr_store_mem_insert(tx, &m, &err) == 0);
        mr_memory_clear(&m);
    }
    /* Same created_at: the later row first. */
    struct mr_memory tie;
    c_mem(&tie, C1, &c_alice, MR_ENTITY, 0.5, 50);
    CHECK(mr_store_mem_insert(tx, &tie, &err) == 0);
    int64_t tie_id = tie.id;
    mr_memory_clear(&tie);
    /* Nobody else's: bob's, and alice's in another tenant. */
    struct mr_memory other;
    c_mem(&other, C2, &c_bob, MR_RULE, 0.5, 99);
    CHECK(mr_store_mem_insert(tx, &other, &err) == 0);
    mr_memory_clear(&other);
    c_mem(&other, c3, &c_alice_t2, MR_RULE, 0.5, 99);
    CHECK(mr_store_mem_insert(tx, &other, &err) == 0);
    mr_memory_clear(&other);

    struct mr_memory *v;
    size_t n;
    int64_t total;
    CHECK(mr_store_mem_list(tx, &c_alice, -1, 3, 1, &v, &n, &total, &err) == 0);
    CHECK_INT(total, 6);
    CHECK_INT(n, 3);
    CHECK_INT(v[0].created_at, 50); /* offset 1 skips the tie's later row */
    CHECK(v[0].id != tie_id);
    CHECK_INT(v[1].created_at, 40);
    CHECK_INT(v[2].created_at, 30);
    CHECK_INT(v[2].expires_at, 5); /* expired rows are listed, with their expiry */
    CHECK_INT(v[0].dim, 0);
    CHECK(v[0].embedding == NULL);
    CHECK_STR(v[1].user_id, "alice");
    CHECK_INT(v[1].context_tags.len, 2);
    for (size_t i = 0; i < n; i++)
        mr_memory_clear(&v[i]);
    free(v);
    CHECK(mr_store_mem_list(tx, &c_alice, -1, 1, 0, &v, &n, &total, &err) == 0);
    CHECK_INT(n, 1);
    CHECK_INT(v[0].id, tie_id);
    mr_memory_clear(&v[0]);
    free(v);
    CHECK(mr_store_mem_list(tx, &c_alice, MR_RULE, 10, 0, &v, &n, &total, &err) == 0);
    CHECK_INT(total, 2);
    CHECK_INT(n, 2);
    CHECK_INT(v[0].created_at, 40);
    CHECK_INT(v[1].created_at, 20);
    CHECK(v[0].memory_type == MR_RULE && v[1].memory_type == MR_RULE);
    for (size_t i = 0; i < n; i++)
        mr_memory_clear(&v[i]);
    free(v);
    /* The archived one (created 10) is listed too, last. */
    CHECK(mr_store_mem_list(tx, &c_alice, MR_SHORT_TERM, 10, 0, &v, &n, &total, &err) == 0);
    CHECK_INT(total, 3);
    CHECK_INT(n, 3);
    CHECK(v[2].is_archived && v[2].created_at == 10);
    for (size_t i = 0; i < n; i++)
        mr_memory_clear(&v[i]);
    free(v);
    /* Past the end: nothing, still counted. */
    CHECK(mr_store_mem_list(tx, &c_alice, -1, 10, 100, &v, &n, &total, &err) == 0);
    CHECK_INT(n, 0);
    CHECK_INT(total, 6);
    free(v);
    CHECK(mr_store_mem_list(tx, &c_bob, MR_EXAMPLE, 10, 0, &v, &n, &total, &err) == 0);
    CHECK_INT(n, 0);
    CHECK_INT(total, 0);
    free(v);
    mr_store_rollback(tx);
    mr_conversation_clear(&c);
    mr_conversation_clear(&cb);
    mr_conversation_clear(&ct);
    mr_store_close(s);
}

TEST(contract_stats_count_all_six_types_per_user)
{
    struct mr_store *s = contract_open();
    CHECK(s);
    struct mr_store_tx *tx;
    struct mr_err err;
    struct mr_conversation c, cb;
    C_BEGIN(s, tx);
    c_conv(&c, C1, &c_alice, 1);
    c_conv(&cb, C2, &c_bob, 1);
    CHECK(mr_store_conv_insert(tx, &c, &err) == 0);
    CHECK(mr_store_conv_insert(tx, &cb, &err) == 0);
    for (int t = 0; t < MR_MEMORY_TYPE_COUNT; t++) {
        for (int k = 0; k <= t; k++) {
            struct mr_memory m;
            c_mem(&m, C1, &c_alice, (enum mr_memory_type)t, 0.2 * k, 1);
            m.is_archived = k == 1;
            CHECK(mr_store_mem_insert(tx, &m, &err) == 0);
            mr_memory_clear(&m);
        }
    }
    struct mr_memory mb;
    c_mem(&mb, C2, &c_bob, MR_RULE, 1.0, 1);
    CHECK(mr_store_mem_insert(tx, &mb, &err) == 0);
    mr_memory_clear(&mb);
    struct mr_stats st;
    CHECK(mr_store_mem_stats(tx, &c_alice, &st, &err) == 0);
    CHECK_INT(st.total, 21);
    for (int t = 0; t < MR_MEMORY_TYPE_COUNT; t++)
        CHECK_INT(st.by_type[t], t + 1);
    CHECK_INT(st.by_type[MR_EXAMPLE], 6);
    CHECK_INT(st.archived, 5);
    /* sum of 0.2k over k=0..t for t=0..5 = 0.2*(0+1+3+6+10+15) = 7.0 → 7/21 */
    CHECK_NEAR(st.average_importance, 7.0 / 21, 1e-9);
    struct mr_identity tenant = {NULL, "t1"};
    CHECK(mr_store_mem_stats(tx, &tenant, &st, &err) == 0);
    CHECK_INT(st.total, 22); /* alice's 21 and bob's 1 */
    CHECK(mr_store_mem_stats(tx, &c_alice_t2, &st, &err) == 0);
    CHECK_INT(st.total, 0);
    CHECK_NEAR(st.average_importance, 0, 0);
    mr_store_rollback(tx);
    mr_conversation_clear(&c);
    mr_conversation_clear(&cb);
    mr_store_close(s);
}

/*
 * Archival selects exactly what the rule (memori/rules.h) calls archivable:
 * memories on each side of every bound — type, archived, age, importance,
 * access count — and of another user, each expected archived iff
 * mr_rule_is_archivable says so. Change a constant in rules.h and this
 * test, and the stores, follow.
 */
TEST(contract_archive_applies_the_rule)
{
    struct mr_store *s = contract_open();
    CHECK(s);
    struct mr_store_tx *tx;
    struct mr_err err;
    struct mr_conversation c, cb;
    C_BEGIN(s, tx);
    c_conv(&c, C1, &c_alice, 1);
    c_conv(&cb, C2, &c_bob, 1);
    CHECK(mr_store_conv_insert(tx, &c, &err) == 0);
    CHECK(mr_store_conv_insert(tx, &cb, &err) == 0);
    const int days = 30;
    const int64_t now = 400 * MR_USEC_PER_DAY;
    const struct mr_archive_bounds b = mr_rule_archive_bounds(now, days);
    const double low = b.importance_below / 2, just_below = nextafter(b.importance_below, 0);
    const int64_t old = b.created_before - 1;
    struct row {
        enum mr_memory_type t;
        double imp;
        int64_t access, created;
        bool archived, bob;
    } rows[16];
    int n_rows = 0;
    rows[n_rows++] = (struct row){b.type, low, 0, old, false, false};
    rows[n_rows++] = (struct row){b.type, just_below, b.access_below - 1, old, false, false};
    rows[n_rows++] = (struct row){b.type, b.importance_below, 0, old, false, false};
    rows[n_rows++] = (struct row){b.type, low, b.access_below, old, false, false};
    rows[n_rows++] = (struct row){b.type, low, 0, b.created_before, false, false};
    rows[n_rows++] = (struct row){b.type, low, 0, now, false, false};
    rows[n_rows++] = (struct row){b.type, low, 0, old, true, false};
    for (int t = 0; t < MR_MEMORY_TYPE_COUNT; t++)
        if ((enum mr_memory_type)t != b.type)
            rows[n_rows++] = (struct row){(enum mr_memory_type)t, low, 0, old, false, false};
    rows[n_rows++] = (struct row){b.type, low, 0, old, false, true};
    int64_t ids[16];
    bool expect[16];
    int n_alice = 0, n_bob = 0;
    for (int i = 0; i < n_rows; i++) {
        struct mr_memory m;
        c_mem(&m, rows[i].bob ? C2 : C1, rows[i].bob ? &c_bob : &c_alice, rows[i].t, rows[i].imp,
              rows[i].created);
        m.access_count = rows[i].access;
        m.is_archived = rows[i].archived;
        expect[i] = mr_rule_is_archivable(&m, now, days);
        n_alice += expect[i] && !rows[i].bob;
        n_bob += expect[i] && rows[i].bob;
        CHECK(mr_store_mem_insert(tx, &m, &err) == 0);
        ids[i] = m.id;
        mr_memory_clear(&m);
    }
    /* Not vacuous: some are archivable, most are not. */
    CHECK(n_alice >= 2 && n_bob == 1 && n_alice + n_bob < n_rows);
    int64_t *out;
    char **users;
    size_t n;
    CHECK(mr_store_mem_archive(tx, &c_alice, &b, now, &out, &users, &n, &err) == 0);
    CHECK_INT(n, n_alice);
    for (size_t k = 0; k < n; k++) {
        bool wanted = false;
        for (int i = 0; i < n_rows; i++)
            wanted |= out[k] == ids[i] && expect[i] && !rows[i].bob;
        CHECK(wanted);
        CHECK_STR(users[k], "alice");
    }
    for (size_t i = 0; i < n; i++)
        free(users[i]);
    free(users);
    free(out);
    /* The whole tenant (an admin's request) takes bob's too. */
    struct mr_identity tenant = {NULL, "t1"};
    CHECK(mr_store_mem_archive(tx, &tenant, &b, now, &out, &users, &n, &err) == 0);
    CHECK_INT(n, n_bob);
    CHECK_INT(out[0], ids[n_rows - 1]);
    CHECK_STR(users[0], "bob");
    free(users[0]);
    free(users);
    free(out);
    for (int i = 0; i < n_rows; i++) {
        struct mr_memory m;
        CHECK(mr_store_mem_get_by_id(tx, ids[i], &m, &err) == 0);
        CHECK_INT(m.is_archived, expect[i] || rows[i].archived);
        if (expect[i])
            CHECK_INT(m.updated_at, now);
        mr_memory_clear(&m);
    }
    mr_store_rollback(tx);
    mr_conversation_clear(&c);
    mr_conversation_clear(&cb);
    mr_store_close(s);
}

/*
 * A database error reaches the client in our words (what failed), never the
 * database's (table, column, constraint names, values); the server log gets
 * the database's full text.
 */
TEST(contract_database_errors_name_no_schema_to_clients)
{
    struct mr_store *s = contract_open();
    CHECK(s);
    struct mr_store_tx *tx;
    struct mr_err err;
    struct mr_conversation c;
    struct mr_memory m;
    C_BEGIN(s, tx);
    c_conv(&c, C1, &c_alice, 1);
    CHECK(mr_store_conv_insert(tx, &c, &err) == 0);
    c_mem(&m, C1, &c_alice, MR_RULE, 0.5, 1);
    CHECK(mr_store_mem_insert(tx, &m, &err) == 0);
    struct c_log log;
    c_log_begin(&log);
    int rc = mr_store_mem_insert(tx, &m, &err); /* the same memory_id again */
    char *logged = c_log_end(&log);
    mr_store_rollback(tx);
    mr_memory_clear(&m);
    mr_conversation_clear(&c);
    mr_store_close(s);
    bool in_log = strstr(logged, "memory_id") != NULL;
    free(logged);
    CHECK_INT(rc, MR_ECONFLICT);
    CHECK(strstr(err.msg, "inserting a memory") != NULL);
    CHECK(strstr(err.msg, "memory_id") == NULL);
    CHECK(strstr(err.msg, "memories") == NULL);
    CHECK(strchr(err.msg, '\n') == NULL);
    CHECK(in_log);
}

struct delayed_rollback {
    struct mr_store_tx *tx;
    int delay_ms;
};

static void *rollback_later(void *arg)
{
    struct delayed_rollback *d = arg;
    struct timespec ts = {d->delay_ms / 1000, (long)(d->delay_ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    mr_store_rollback(d->tx);
    return NULL;
}

/*
 * Both stores pool alike (struct mr_store_pool_config): with every
 * connection, overflow included, in a transaction, a begin waits wait_ms,
 * then fails MR_EUNAVAIL saying so; a connection returned during the wait
 * is taken at once; the pool recovers when the transactions end.
 */
TEST(contract_pool_waits_then_fails_unavailable)
{
    enum { WAIT_MS = 300 };
    struct mr_store_pool_config pool = {1, 1, WAIT_MS};
    struct mr_store *s = contract_open_pool(&pool);
    CHECK(s);
    struct mr_store_tx *a, *b, *c;
    struct mr_err err;
    CHECK(mr_store_begin(s, MR_TX_READ, &a, &err) == 0);
    CHECK(mr_store_begin(s, MR_TX_READ, &b, &err) == 0); /* the overflow connection */
    int64_t t0 = mr_monotonic_us();
    int rc = mr_store_begin(s, MR_TX_READ, &c, &err);
    int64_t waited_ms = (mr_monotonic_us() - t0) / 1000;
    if (rc == 0)
        mr_store_rollback(c);
    CHECK_INT(rc, MR_EUNAVAIL);
    CHECK(waited_ms >= WAIT_MS && waited_ms < 10 * WAIT_MS);
    CHECK(strstr(err.msg, "no free connection") != NULL);
    /* b comes back a third of the way into the wait: the waiting begin takes it. */
    struct delayed_rollback d = {b, WAIT_MS / 3};
    pthread_t th;
    pthread_create(&th, NULL, rollback_later, &d);
    t0 = mr_monotonic_us();
    rc = mr_store_begin(s, MR_TX_READ, &c, &err);
    waited_ms = (mr_monotonic_us() - t0) / 1000;
    pthread_join(th, NULL);
    CHECK_INT(rc, 0);
    CHECK(waited_ms < WAIT_MS);
    mr_store_rollback(c);
    mr_store_rollback(a);
    CHECK(mr_store_health(s, &err) == 0);
    mr_store_close(s);
}

struct scan_count {
    int n;
    int64_t last_id;
    bool ordered;
};

static int count_scan(void *arg, const struct mr_memory *m)
{
    struct scan_count *sc = arg;
    sc->ordered &= m->id > sc->last_id && m->dim == CDIM;
    sc->last_id = m->id;
    sc->n++;
    return 0;
}

TEST(contract_scan_visits_every_memory)
{
    struct mr_store *s = contract_open();
    CHECK(s);
    struct mr_store_tx *tx;
    struct mr_err err;
    struct mr_conversation c, cb;
    C_BEGIN(s, tx);
    c_conv(&c, C1, &c_alice, 1);
    c_conv(&cb, C2, &c_bob, 1);
    CHECK(mr_store_conv_insert(tx, &c, &err) == 0);
    CHECK(mr_store_conv_insert(tx, &cb, &err) == 0);
    for (int i = 0; i < 7; i++) {
        struct mr_memory m;
        c_mem(&m, i % 2 ? C1 : C2, i % 2 ? &c_alice : &c_bob, MR_RULE, 0.5, i);
        CHECK(mr_store_mem_insert(tx, &m, &err) == 0);
        mr_memory_clear(&m);
    }
    CHECK(mr_store_commit(tx, &err) == 0);
    CHECK(mr_store_begin(s, false, &tx, &err) == 0);
    struct scan_count sc = {0, 0, true};
    CHECK(mr_store_mem_scan(tx, count_scan, &sc, &err) == 0);
    CHECK_INT(sc.n, 7);
    CHECK(sc.ordered);
    mr_store_rollback(tx);
    mr_conversation_clear(&c);
    mr_conversation_clear(&cb);
    mr_store_close(s);
}

TEST(contract_model_is_recorded_and_enforced)
{
    struct mr_store *s = contract_open();
    CHECK(s);
    struct mr_err err;
    CHECK(mr_store_check_model(s, "model-a", 384, &err) == 0);
    CHECK(mr_store_check_model(s, "model-a", 384, &err) == 0);
    CHECK_INT(mr_store_check_model(s, "model-b", 384, &err), MR_ECONFLICT);
    CHECK(strstr(err.msg, "model-a") && strstr(err.msg, "model-b"));
    CHECK(strstr(err.msg, "reembed") != NULL);
    CHECK_INT(mr_store_check_model(s, "model-a", 512, &err), MR_ECONFLICT);
    struct mr_store_tx *tx;
    CHECK(mr_store_begin(s, true, &tx, &err) == 0);
    CHECK(mr_store_set_model(tx, "model-b", 384, &err) == 0);
    CHECK(mr_store_commit(tx, &err) == 0);
    CHECK(mr_store_check_model(s, "model-b", 384, &err) == 0);
    CHECK(mr_store_health(s, &err) == 0);
    mr_store_close(s);
}

/*
 * The access flusher's batch (src/core/access.c): increments merged into
 * the live rows, the promotion decided on the merged values — what
 * mr_rule_record_accesses gives on the same rows — a deleted row skipped,
 * a count of 0 changing nothing.
 */
TEST(contract_record_access_merges_what_searches_changed)
{
    struct mr_store *s = contract_open();
    CHECK(s);
    struct mr_store_tx *tx;
    struct mr_err err;
    struct mr_conversation c;
    struct mr_memory m[4], got;
    C_BEGIN(s, tx);
    c_conv(&c, C1, &c_alice, 1);
    CHECK(mr_store_conv_insert(tx, &c, &err) == 0);
    /* 0: stays short of the bar; 1: the merge crosses it; 2: untouched; 3: deleted. */
    const double importance[4] = {0.61, 0.68, 0.5, 0.5};
    const int64_t count[4] = {3, 4, 0, 0};
    for (int i = 0; i < 4; i++) {
        c_mem(&m[i], C1, &c_alice, MR_SHORT_TERM, importance[i], i);
        m[i].access_count = count[i];
        m[i].expires_at = 1000;
        CHECK(mr_store_mem_insert(tx, &m[i], &err) == 0);
    }
    CHECK(mr_store_commit(tx, &err) == 0);
    C_BEGIN(s, tx);
    CHECK(mr_store_mem_delete(tx, m[3].memory_id, &err) == 0);
    CHECK(mr_store_commit(tx, &err) == 0);
    struct mr_access_delta d[4] = {
        {m[0].id, 2, 500}, {m[1].id, 2, 501}, {m[2].id, 0, MR_NO_TIME}, {m[3].id, 7, 502}};
    /* As the flusher writes them: a commit that does not wait for the disk. */
    size_t changed = 99;
    CHECK(mr_store_begin(s, MR_TX_WRITE_LAZY, &tx, &err) == 0);
    CHECK(mr_store_mem_record_access(tx, d, 4, &changed, &err) == 0);
    CHECK(mr_store_mem_record_access(tx, d, 0, NULL, &err) == 0);
    CHECK(mr_store_commit(tx, &err) == 0);
    CHECK_INT(changed, 2);
    CHECK(mr_store_begin(s, false, &tx, &err) == 0);
    for (int i = 0; i < 3; i++) {
        struct mr_memory want = m[i];
        bool promoted = mr_rule_record_accesses(&want, d[i].count, d[i].last_at);
        CHECK(promoted == (i == 1));
        CHECK(mr_store_mem_get(tx, m[i].memory_id, &got, &err) == 0);
        CHECK_INT(got.access_count, want.access_count);
        CHECK(got.last_accessed_at == want.last_accessed_at);
        CHECK_NEAR(got.importance_score, want.importance_score, 0);
        CHECK_INT(got.memory_type, want.memory_type);
        CHECK(got.expires_at == want.expires_at);
        CHECK_INT(got.updated_at, want.updated_at);
        CHECK_STR(got.content, "content ✓"); /* untouched columns stay */
        mr_memory_clear(&got);
    }
    CHECK(mr_store_mem_get(tx, m[3].memory_id, &got, &err) == MR_ENOTFOUND); /* not resurrected */
    mr_store_rollback(tx);
    /* The promoted row: long_term, no expiry, 0.70 + 0.1. */
    CHECK(mr_store_begin(s, false, &tx, &err) == 0);
    CHECK(mr_store_mem_get(tx, m[1].memory_id, &got, &err) == 0);
    CHECK_INT(got.memory_type, MR_LONG_TERM);
    CHECK(got.expires_at == MR_NO_TIME);
    CHECK_NEAR(got.importance_score, 0.8, 1e-12);
    CHECK_INT(got.access_count, 6);
    mr_memory_clear(&got);
    mr_store_rollback(tx);
    for (int i = 0; i < 4; i++)
        mr_memory_clear(&m[i]);
    mr_conversation_clear(&c);
    mr_store_close(s);
}

/*
 * Data sources (DESIGN.md §9): a memory keeps its data_source_id (or none)
 * through insert, update and read; the type example is stored; the ids of
 * a tenant's memories about a source come back in id order, every user's
 * and archived ones too, never another tenant's or source's.
 */
TEST(contract_memories_carry_their_data_source)
{
    struct mr_store *s = contract_open();
    CHECK(s);
    struct mr_err err;
    struct mr_store_tx *tx;
    struct mr_conversation c, cb, c2;
    c_conv(&c, C1, &c_alice, 1);
    c_conv(&cb, C2, &c_bob, 1);
    c_conv(&c2, "33333333-3333-4333-8333-333333333333", &c_alice_t2, 1);
    CHECK(mr_store_begin(s, true, &tx, &err) == 0);
    CHECK(mr_store_conv_insert(tx, &c, &err) == 0);
    CHECK(mr_store_conv_insert(tx, &cb, &err) == 0);
    CHECK(mr_store_conv_insert(tx, &c2, &err) == 0);
    struct mr_memory m[5];
    c_mem(&m[0], C1, &c_alice, MR_ENTITY, 0.5, 1);                    /* source 7 */
    c_mem(&m[1], C1, &c_alice, MR_SHORT_TERM, 0.5, 2);                /* none */
    c_mem(&m[2], C2, &c_bob, MR_EXAMPLE, 0.5, 3);                     /* source 7, archived */
    c_mem(&m[3], C1, &c_alice, MR_RELATIONSHIP, 0.5, 4);              /* source 8 */
    c_mem(&m[4], c2.conversation_id, &c_alice_t2, MR_ENTITY, 0.5, 5); /* t2's source 7 */
    int64_t ds[5] = {7, -1, 7, 8, 7};
    for (int i = 0; i < 5; i++) {
        m[i].has_data_source_id = ds[i] >= 0;
        m[i].data_source_id = ds[i] >= 0 ? ds[i] : 0;
        m[i].is_archived = i == 2;
        CHECK(mr_store_mem_insert(tx, &m[i], &err) == 0);
    }
    CHECK(mr_store_commit(tx, &err) == 0);

    struct mr_memory got;
    CHECK(mr_store_begin(s, true, &tx, &err) == 0);
    for (int i = 0; i < 5; i++) {
        CHECK(mr_store_mem_get(tx, m[i].memory_id, &got, &err) == 0);
        CHECK(got.has_data_source_id == (ds[i] >= 0));
        if (ds[i] >= 0)
            CHECK_INT(got.data_source_id, ds[i]);
        CHECK_INT(got.memory_type, m[i].memory_type);
        mr_memory_clear(&got);
    }
    int64_t *ids = NULL;
    size_t n = 0;
    CHECK(mr_store_mem_ids_by_data_source(tx, "t1", 7, &ids, &n, &err) == 0);
    CHECK_INT(n, 2);
    CHECK_INT(ids[0], m[0].id);
    CHECK_INT(ids[1], m[2].id);
    free(ids);
    CHECK(mr_store_mem_ids_by_data_source(tx, "t1", 9, &ids, &n, &err) == 0);
    CHECK_INT(n, 0);
    free(ids);
    /* An update moves a memory to another source, or to none. */
    m[0].data_source_id = 8;
    m[1].has_data_source_id = true;
    m[1].data_source_id = 7;
    CHECK(mr_store_mem_update(tx, &m[0], false, &err) == 0);
    CHECK(mr_store_mem_update(tx, &m[1], false, &err) == 0);
    CHECK(mr_store_mem_ids_by_data_source(tx, "t1", 8, &ids, &n, &err) == 0);
    CHECK_INT(n, 2);
    CHECK_INT(ids[0], m[0].id);
    CHECK_INT(ids[1], m[3].id);
    free(ids);
    m[3].has_data_source_id = false;
    CHECK(mr_store_mem_update(tx, &m[3], false, &err) == 0);
    CHECK(mr_store_mem_get(tx, m[3].memory_id, &got, &err) == 0);
    CHECK(!got.has_data_source_id);
    mr_memory_clear(&got);
    struct mr_stats st;
    CHECK(mr_store_mem_stats(tx, &c_bob, &st, &err) == 0);
    CHECK_INT(st.by_type[MR_EXAMPLE], 1);
    CHECK(mr_store_commit(tx, &err) == 0);
    for (int i = 0; i < 5; i++)
        mr_memory_clear(&m[i]);
    mr_conversation_clear(&c);
    mr_conversation_clear(&cb);
    mr_conversation_clear(&c2);
    mr_store_close(s);
}

/*
 * A data source's stored schema: absent (ENOTFOUND), put, replaced by a
 * second put, kept per tenant, rolled back with its transaction, deleted.
 */
TEST(contract_source_schema_round_trip)
{
    struct mr_store *s = contract_open();
    CHECK(s);
    struct mr_err err;
    struct mr_store_tx *tx;
    struct mr_source_schema sc = {0}, got;
    CHECK(mr_store_begin(s, true, &tx, &err) == 0);
    CHECK(mr_store_schema_get(tx, "t1", 5, &got, &err) == MR_ENOTFOUND);
    mr_source_schema_clear(&got);
    sc.tenant_id = "t1";
    sc.data_source_id = 5;
    sc.dialect = "postgresql";
    sc.schema_hash = "sha256:aa";
    sc.schema_json = "{\"tables\":[]}";
    snprintf(sc.conversation_id, sizeof sc.conversation_id, "%s", C1);
    sc.updated_at = 1234567;
    CHECK(mr_store_schema_put(tx, &sc, &err) == 0);
    sc.dialect = "sqlite";
    sc.schema_hash = "sha256:bb";
    sc.schema_json = "{\"tables\":[{\"name\":\"orders ✓\"}]}";
    sc.updated_at = 2234567;
    CHECK(mr_store_schema_put(tx, &sc, &err) == 0); /* replaces */
    sc.tenant_id = "t2";
    sc.schema_hash = "sha256:t2";
    CHECK(mr_store_schema_put(tx, &sc, &err) == 0);
    CHECK(mr_store_commit(tx, &err) == 0);

    CHECK(mr_store_begin(s, true, &tx, &err) == 0);
    CHECK(mr_store_schema_get(tx, "t1", 5, &got, &err) == 0);
    CHECK_STR(got.tenant_id, "t1");
    CHECK_INT(got.data_source_id, 5);
    CHECK_STR(got.dialect, "sqlite");
    CHECK_STR(got.schema_hash, "sha256:bb");
    CHECK_STR(got.schema_json, "{\"tables\":[{\"name\":\"orders ✓\"}]}");
    CHECK_STR(got.conversation_id, C1);
    CHECK_INT(got.updated_at, 2234567);
    mr_source_schema_clear(&got);
    CHECK(mr_store_schema_get(tx, "t1", 6, &got, &err) == MR_ENOTFOUND);
    CHECK(mr_store_schema_delete(tx, "t1", 5, &err) == 0);
    CHECK(mr_store_schema_delete(tx, "t1", 5, &err) == MR_ENOTFOUND);
    mr_store_rollback(tx); /* the delete is undone */
    CHECK(mr_store_begin(s, true, &tx, &err) == 0);
    CHECK(mr_store_schema_get(tx, "t1", 5, &got, &err) == 0);
    mr_source_schema_clear(&got);
    CHECK(mr_store_schema_delete(tx, "t1", 5, &err) == 0);
    CHECK(mr_store_commit(tx, &err) == 0);
    CHECK(mr_store_begin(s, false, &tx, &err) == 0);
    CHECK(mr_store_schema_get(tx, "t1", 5, &got, &err) == MR_ENOTFOUND);
    CHECK(mr_store_schema_get(tx, "t2", 5, &got, &err) == 0);
    CHECK_STR(got.schema_hash, "sha256:t2");
    mr_source_schema_clear(&got);
    mr_store_rollback(tx);
    mr_store_close(s);
}

/* export/migrate: pages walk every row once, in id order, within the identity asked for. */
TEST(contract_pages_walk_in_id_order_within_the_filter)
{
    struct mr_store *s = contract_open();
    CHECK(s);
    struct mr_store_tx *tx;
    struct mr_err err;
    char *model = (char *)"unset";
    size_t dim = 1;
    C_BEGIN(s, tx);
    /* A fresh database records no model, and reading it records none. */
    CHECK(mr_store_model_get(tx, &model, &dim, &err) == 0);
    CHECK(model == NULL);
    CHECK_INT(dim, 0);
    const char *ids[3] = {C1, C2, "33333333-3333-4333-8333-333333333333"};
    const struct mr_identity *whos[3] = {&c_alice, &c_bob, &c_alice_t2};
    for (int i = 0; i < 3; i++) {
        struct mr_conversation c;
        c_conv(&c, ids[i], whos[i], 1);
        CHECK(mr_store_conv_insert(tx, &c, &err) == 0);
        mr_conversation_clear(&c);
    }
    for (int i = 0; i < 7; i++) {
        struct mr_memory m;
        c_mem(&m, ids[i % 3], whos[i % 3], MR_RULE, 0.5, i);
        CHECK(mr_store_mem_insert(tx, &m, &err) == 0);
        mr_memory_clear(&m);
    }
    const char *tenants[3] = {"t1", "t1", "t2"};
    const int64_t sources[3] = {9, 5, 5};
    for (int i = 0; i < 3; i++) {
        struct mr_source_schema sc = {(char *)tenants[i],
                                      sources[i],
                                      (char *)"sqlite",
                                      (char *)"sha256:x",
                                      (char *)"{}",
                                      "",
                                      7};
        snprintf(sc.conversation_id, sizeof sc.conversation_id, "%s", C1);
        CHECK(mr_store_schema_put(tx, &sc, &err) == 0);
    }
    CHECK(mr_store_commit(tx, &err) == 0);
    CHECK(mr_store_check_model(s, "model-a", CDIM, &err) == 0);

    CHECK(mr_store_begin(s, false, &tx, &err) == 0);
    CHECK(mr_store_model_get(tx, &model, &dim, &err) == 0);
    CHECK_STR(model, "model-a");
    CHECK_INT(dim, CDIM);
    free(model);
    /* Every memory, two a page, ascending; with and without their vectors. */
    struct mr_identity t1 = {NULL, "t1"};
    const struct mr_identity *filters[3] = {NULL, &t1, &c_alice};
    const int expect[3] = {7, 5, 3};
    for (int f = 0; f < 3; f++) {
        int64_t after = 0;
        int seen = 0;
        for (;;) {
            struct mr_memory *ms;
            size_t n;
            CHECK(mr_store_mem_page(tx, filters[f], after, 2, f == 0, &ms, &n, &err) == 0);
            for (size_t i = 0; i < n; i++) {
                CHECK(ms[i].id > after);
                CHECK_INT(ms[i].dim, f == 0 ? CDIM : 0);
                if (filters[f])
                    CHECK_STR(ms[i].tenant_id, filters[f]->tenant_id);
                after = ms[i].id;
                mr_memory_clear(&ms[i]);
            }
            free(ms);
            seen += (int)n;
            if (n < 2)
                break;
        }
        CHECK_INT(seen, expect[f]);
    }
    struct mr_conversation *cs;
    size_t n;
    CHECK(mr_store_conv_page(tx, &t1, 0, 10, &cs, &n, &err) == 0);
    CHECK_INT(n, 2);
    CHECK(cs[0].id < cs[1].id);
    for (size_t i = 0; i < n; i++)
        mr_conversation_clear(&cs[i]);
    free(cs);
    /* Schemas in (tenant, data source) order, after a key. */
    struct mr_source_schema *ss;
    CHECK(mr_store_schema_page(tx, NULL, NULL, 0, 2, &ss, &n, &err) == 0);
    CHECK_INT(n, 2);
    CHECK(strcmp(ss[0].tenant_id, "t1") == 0 && ss[0].data_source_id == 5);
    CHECK(strcmp(ss[1].tenant_id, "t1") == 0 && ss[1].data_source_id == 9);
    CHECK_STR(ss[1].conversation_id, C1);
    CHECK_INT(ss[1].updated_at, 7);
    for (size_t i = 0; i < n; i++)
        mr_source_schema_clear(&ss[i]);
    free(ss);
    CHECK(mr_store_schema_page(tx, NULL, "t1", 9, 2, &ss, &n, &err) == 0);
    CHECK_INT(n, 1);
    CHECK(strcmp(ss[0].tenant_id, "t2") == 0 && ss[0].data_source_id == 5);
    mr_source_schema_clear(&ss[0]);
    free(ss);
    CHECK(mr_store_schema_page(tx, "t2", NULL, 0, 10, &ss, &n, &err) == 0);
    CHECK_INT(n, 1);
    mr_source_schema_clear(&ss[0]);
    free(ss);
    mr_store_rollback(tx);
    mr_store_close(s);
}

/* import/migrate: a restored row keeps its id when free; later inserts never collide with it. */
TEST(contract_restore_keeps_a_free_row_id)
{
    struct mr_store *s = contract_open();
    CHECK(s);
    struct mr_store_tx *tx;
    struct mr_err err;
    struct mr_conversation c, r, again;
    struct mr_memory m, kept, taken, next;
    C_BEGIN(s, tx);
    c_conv(&c, C1, &c_alice, 1);
    CHECK(mr_store_conv_insert(tx, &c, &err) == 0);
    c_conv(&r, C2, &c_alice, 1);
    r.id = 1000;
    CHECK(mr_store_conv_restore(tx, &r, &err) == 0);
    CHECK_INT(r.id, 1000);
    c_conv(&again, "33333333-3333-4333-8333-333333333333", &c_alice, 1);
    CHECK(mr_store_conv_insert(tx, &again, &err) == 0);
    CHECK(again.id > 1000);
    c_mem(&m, C1, &c_alice, MR_RULE, 0.5, 1);
    CHECK(mr_store_mem_insert(tx, &m, &err) == 0);
    c_mem(&kept, C2, &c_alice, MR_RULE, 0.5, 1);
    kept.id = 5000;
    CHECK(mr_store_mem_restore(tx, &kept, &err) == 0);
    CHECK_INT(kept.id, 5000);
    c_mem(&taken, C2, &c_alice, MR_RULE, 0.5, 1);
    taken.id = m.id; /* held: a fresh id instead */
    CHECK(mr_store_mem_restore(tx, &taken, &err) == 0);
    CHECK(taken.id != m.id && taken.id > 5000);
    c_mem(&next, C1, &c_alice, MR_RULE, 0.5, 1);
    CHECK(mr_store_mem_insert(tx, &next, &err) == 0);
    CHECK(next.id > taken.id);
    /* The same UUID again: a conflict that leaves the transaction usable. */
    CHECK_INT(mr_store_mem_restore(tx, &kept, &err), MR_ECONFLICT);
    CHECK_INT(mr_store_conv_restore(tx, &r, &err), MR_ECONFLICT);
    CHECK(mr_store_commit(tx, &err) == 0);
    struct mr_memory got;
    CHECK(mr_store_begin(s, false, &tx, &err) == 0);
    CHECK(mr_store_mem_get_by_id(tx, 5000, &got, &err) == 0);
    CHECK_STR(got.memory_id, kept.memory_id);
    CHECK_INT(got.dim, CDIM);
    mr_memory_clear(&got);
    mr_store_rollback(tx);
    mr_conversation_clear(&c);
    mr_conversation_clear(&r);
    mr_conversation_clear(&again);
    mr_memory_clear(&m);
    mr_memory_clear(&kept);
    mr_memory_clear(&taken);
    mr_memory_clear(&next);
    mr_store_close(s);
}

/*
 * The lookups of example ingestion: the example by (user, normalised
 * question, fingerprint), join memories by join_key, the source's
 * tenant-owned conversation. Each within tenant and data source, archived
 * rows included, deleted ones gone, the lowest row id first, a metadata
 * field matching only as a JSON string.
 */
static const struct mr_identity c_owner = {"", "t1"}, c_owner_t2 = {"", "t2"};

static void c_ds_mem(struct mr_store_tx *tx, struct mr_memory *m, const char *conv,
                     const struct mr_identity *who, enum mr_memory_type t, int64_t ds,
                     bool archived, const char *metadata)
{
    struct mr_err err;
    static int64_t created = 1;
    c_mem(m, conv, who, t, 0.5, created++);
    free(m->metadata);
    m->metadata = mr_xstrdup(metadata);
    m->has_data_source_id = true;
    m->data_source_id = ds;
    m->is_archived = archived;
    CHECK(mr_store_mem_insert(tx, m, &err) == 0);
}

TEST(contract_example_lookups_stay_within_tenant_and_source)
{
    static const char CO[] = "33333333-3333-4333-8333-333333333333";
    static const char CO2[] = "44444444-4444-4444-8444-444444444444";
    static const char CT2[] = "55555555-5555-4555-8555-555555555555";
    struct mr_store *s = contract_open();
    CHECK(s);
    struct mr_store_tx *tx;
    struct mr_err err;
    struct mr_conversation cv[4];
    C_BEGIN(s, tx);
    c_conv(&cv[0], C1, &c_alice, 1);
    c_conv(&cv[1], CO, &c_owner, 1);
    c_conv(&cv[2], CO2, &c_owner, 1);
    c_conv(&cv[3], CT2, &c_owner_t2, 1);
    for (int i = 0; i < 4; i++)
        CHECK(mr_store_conv_insert(tx, &cv[i], &err) == 0);
    struct mr_memory m[20];
    const char *J = "{\"kind\":\"join\",\"join_key\":\"a=b\"}";
    c_ds_mem(tx, &m[0], CO, &c_owner, MR_ENTITY, 7, false, "{\"kind\":\"table\"}");
    c_ds_mem(tx, &m[1], CO2, &c_owner, MR_RELATIONSHIP, 7, false, J);
    c_ds_mem(tx, &m[2], CO, &c_owner, MR_RELATIONSHIP, 7, false, J); /* a later twin */
    c_ds_mem(tx, &m[3], CO, &c_owner, MR_RELATIONSHIP, 7, true,      /* archived */
             "{\"kind\":\"join\",\"join_key\":\"c=d\"}");
    c_ds_mem(tx, &m[4], CO2, &c_owner, MR_RELATIONSHIP, 8, false, /* another source */
             "{\"kind\":\"join\",\"join_key\":\"e=f\"}");
    c_ds_mem(tx, &m[5], C1, &c_alice, MR_RELATIONSHIP, 7, false, /* a user's */
             "{\"kind\":\"join\",\"join_key\":\"g=h\"}");
    c_ds_mem(tx, &m[6], CO, &c_owner, MR_ENTITY, 7, false, /* not a relationship */
             "{\"kind\":\"join\",\"join_key\":\"i=j\"}");
    c_ds_mem(tx, &m[7], CO, &c_owner, MR_RELATIONSHIP, 7, false, /* not a join */
             "{\"kind\":\"foreign_key\",\"join_key\":\"k=l\"}");
    c_ds_mem(tx, &m[8], CO, &c_owner, MR_RELATIONSHIP, 7, false, /* a number, not a string */
             "{\"kind\":\"join\",\"join_key\":7}");
    c_ds_mem(tx, &m[9], CT2, &c_owner_t2, MR_RELATIONSHIP, 7, false, /* another tenant */
             "{\"kind\":\"join\",\"join_key\":\"m=n\"}");
    c_ds_mem(tx, &m[10], C1, &c_alice, MR_EXAMPLE, 7, false,
             "{\"question_normalized\":\"q\",\"fingerprint\":\"f1\",\"sql\":\"select 1\"}");
    c_ds_mem(tx, &m[11], C1, &c_alice, MR_EXAMPLE, 7, true, /* archived */
             "{\"question_normalized\":\"q2\",\"fingerprint\":\"f2\"}");
    c_ds_mem(tx, &m[12], CT2, &c_alice_t2, MR_EXAMPLE, 7, false, /* another tenant */
             "{\"question_normalized\":\"q\",\"fingerprint\":\"f1\"}");
    c_ds_mem(tx, &m[13], C1, &c_alice, MR_EXAMPLE, 8, false, /* another source */
             "{\"question_normalized\":\"q3\",\"fingerprint\":\"f3\"}");
    c_ds_mem(tx, &m[14], C1, &c_alice, MR_ENTITY, 7, false, /* not an example */
             "{\"question_normalized\":\"q4\",\"fingerprint\":\"f4\"}");
    c_ds_mem(tx, &m[15], C1, &c_alice, MR_EXAMPLE, 7, false, /* a later twin */
             "{\"question_normalized\":\"q\",\"fingerprint\":\"f1\"}");
    c_ds_mem(tx, &m[16], C1, &c_alice, MR_EXAMPLE, 7, false, /* a number, not a string */
             "{\"question_normalized\":\"q5\",\"fingerprint\":5}");
    c_ds_mem(tx, &m[17], C1, &c_alice, MR_EXAMPLE, 7, false, /* deleted below */
             "{\"question_normalized\":\"q6\",\"fingerprint\":\"f6\"}");
    c_ds_mem(tx, &m[18], CO, &c_owner, MR_RELATIONSHIP, 7, false, /* deleted below */
             "{\"kind\":\"join\",\"join_key\":\"o=p\"}");
    c_ds_mem(tx, &m[19], C1, &c_alice, MR_EXAMPLE, 7, false, /* question differs */
             "{\"question_normalized\":\"q7\",\"fingerprint\":\"f1\"}");
    CHECK(mr_store_mem_delete(tx, m[17].memory_id, &err) == 0);
    CHECK(mr_store_mem_delete(tx, m[18].memory_id, &err) == 0);
    CHECK(mr_store_commit(tx, &err) == 0);

    CHECK(mr_store_begin(s, false, &tx, &err) == 0);
    struct mr_memory got;
    bool found = true;
    CHECK(mr_store_mem_find_example(tx, "t1", "alice", 7, "q", "f1", &got, &found, &err) == 0);
    CHECK(found);
    CHECK_INT(got.id, m[10].id);
    CHECK_STR(got.memory_id, m[10].memory_id);
    CHECK(strstr(got.metadata, "select 1")); /* PostgreSQL's JSONB orders the keys its way */
    CHECK_STR(got.user_id, "alice");
    CHECK_INT(got.dim, CDIM);
    CHECK(got.embedding && got.embedding[0] == 1);
    mr_memory_clear(&got);
    CHECK(mr_store_mem_find_example(tx, "t1", "alice", 7, "q2", "f2", &got, &found, &err) == 0);
    CHECK(found && got.id == m[11].id && got.is_archived);
    mr_memory_clear(&got);
    CHECK(mr_store_mem_find_example(tx, "t2", "alice", 7, "q", "f1", &got, &found, &err) == 0);
    CHECK(found && got.id == m[12].id);
    mr_memory_clear(&got);
    struct {
        const char *tenant, *user;
        int64_t ds;
        const char *q, *fp;
    } none[] = {
        {"t1", "bob", 7, "q", "f1"},    {"t1", "", 7, "q", "f1"},
        {"t3", "alice", 7, "q", "f1"},  {"t1", "alice", 9, "q", "f1"},
        {"t1", "alice", 7, "q3", "f3"}, {"t1", "alice", 7, "q4", "f4"},
        {"t1", "alice", 7, "q5", "5"},  {"t1", "alice", 7, "q6", "f6"},
        {"t1", "alice", 7, "q", "f2"},  {"t1", "alice", 7, "Q", "f1"},
    };
    for (size_t i = 0; i < sizeof none / sizeof none[0]; i++) {
        found = true;
        got.id = 99;
        CHECK(mr_store_mem_find_example(tx, none[i].tenant, none[i].user, none[i].ds, none[i].q,
                                        none[i].fp, &got, &found, &err) == 0);
        CHECK(!found);
        CHECK_INT(got.id, 0);
        mr_memory_clear(&got);
    }

    const char *keys[] = {"a=b", "c=d", "e=f", "g=h", "i=j", "k=l", "7", "m=n", "o=p", "a=b", "zz"};
    int64_t want[] = {m[1].id, m[3].id, 0, 0, 0, 0, 0, 0, 0, m[1].id, 0};
    int64_t ids[11];
    CHECK(mr_store_mem_find_joins(tx, "t1", 7, keys, 11, ids, &err) == 0);
    for (int i = 0; i < 11; i++)
        CHECK_INT(ids[i], want[i]);
    CHECK(mr_store_mem_find_joins(tx, "t1", 8, keys + 2, 1, ids, &err) == 0);
    CHECK_INT(ids[0], m[4].id);
    CHECK(mr_store_mem_find_joins(tx, "t2", 7, keys, 8, ids, &err) == 0);
    for (int i = 0; i < 8; i++)
        CHECK_INT(ids[i], i == 7 ? m[9].id : 0);
    CHECK(mr_store_mem_find_joins(tx, "t1", 7, keys, 0, ids, &err) == 0);

    char conv[MR_UUID_LEN] = "x";
    CHECK(mr_store_ds_owner_conversation(tx, "t1", 7, conv, &err) == 0);
    CHECK_STR(conv, CO);
    CHECK(mr_store_ds_owner_conversation(tx, "t1", 8, conv, &err) == 0);
    CHECK_STR(conv, CO2);
    CHECK(mr_store_ds_owner_conversation(tx, "t2", 7, conv, &err) == 0);
    CHECK_STR(conv, CT2);
    CHECK(mr_store_ds_owner_conversation(tx, "t1", 9, conv, &err) == 0);
    CHECK_STR(conv, "");
    CHECK(mr_store_ds_owner_conversation(tx, "t3", 7, conv, &err) == 0);
    CHECK_STR(conv, "");
    mr_store_rollback(tx);
    for (int i = 0; i < 20; i++)
        mr_memory_clear(&m[i]);
    for (int i = 0; i < 4; i++)
        mr_conversation_clear(&cv[i]);
    mr_store_close(s);
}

/* A history event as the core appends it, of memory mem and who, at t. */
static void c_event(struct mr_history_event *e, const char *mem, const struct mr_identity *who,
                    const char *kind, int64_t t)
{
    memset(e, 0, sizeof *e);
    snprintf(e->memory_id, sizeof e->memory_id, "%s", mem);
    e->user_id = (char *)who->user_id;
    e->tenant_id = (char *)who->tenant_id;
    e->actor = (char *)who->user_id;
    e->kind = (char *)kind;
    e->changes = (char *)"{\"content\":{\"old\":null,\"new\":\"x\"}}";
    e->created_at = t;
}

static void c_events_free(struct mr_history_event *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        mr_history_event_clear(&v[i]);
    free(v);
}

/*
 * export/migrate: history is paged in id order across memories, within the
 * filter; a restored event keeps its time, and its id when free, and later
 * events still come after it.
 */
TEST(contract_history_pages_and_restores)
{
    static const char MA[] = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa";
    static const char MB[] = "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb";
    struct mr_store *s = contract_open();
    CHECK(s);
    struct mr_store_tx *tx;
    struct mr_err err;
    struct mr_history_event e[4], *v = NULL;
    size_t n = 0;
    C_BEGIN(s, tx);
    c_event(&e[0], MA, &c_alice, "create", 1000);
    c_event(&e[1], MB, &c_bob, "create", 2000);
    c_event(&e[2], MB, &c_alice_t2, "update", 3000);
    c_event(&e[3], MA, &c_alice, "update", 4000);
    for (int i = 0; i < 4; i++)
        CHECK(mr_store_hist_insert(tx, &e[i], &err) == 0);
    CHECK(mr_store_hist_page(tx, NULL, 0, 2, &v, &n, &err) == 0);
    CHECK_INT(n, 2);
    CHECK_INT(v[0].id, e[0].id);
    CHECK_INT(v[1].id, e[1].id);
    CHECK_STR(v[1].memory_id, MB);
    CHECK_STR(v[1].user_id, "bob");
    CHECK_STR(v[1].tenant_id, "t1");
    CHECK_STR(v[1].actor, "bob");
    CHECK_STR(v[1].kind, "create");
    CHECK(strstr(v[1].changes, "\"content\"") && strstr(v[1].changes, "\"x\""));
    CHECK_INT(v[1].created_at, 2000);
    c_events_free(v, n);
    CHECK(mr_store_hist_page(tx, NULL, e[1].id, 10, &v, &n, &err) == 0);
    CHECK_INT(n, 2);
    CHECK_INT(v[0].id, e[2].id);
    CHECK_INT(v[1].id, e[3].id);
    c_events_free(v, n);
    CHECK(mr_store_hist_page(tx, &c_alice, 0, 10, &v, &n, &err) == 0);
    CHECK_INT(n, 2);
    CHECK_INT(v[0].id, e[0].id);
    CHECK_INT(v[1].id, e[3].id);
    c_events_free(v, n);
    struct mr_identity tenant1 = {NULL, "t1"};
    CHECK(mr_store_hist_page(tx, &tenant1, e[0].id, 10, &v, &n, &err) == 0);
    CHECK_INT(n, 2);
    CHECK_INT(v[0].id, e[1].id);
    CHECK_INT(v[1].id, e[3].id);
    c_events_free(v, n);
    CHECK(mr_store_hist_page(tx, NULL, e[3].id, 10, &v, &n, &err) == 0);
    CHECK_INT(n, 0);
    c_events_free(v, n);

    struct mr_history_event kept, taken, next;
    c_event(&kept, MB, &c_bob, "delete", 5000);
    kept.id = 7000;
    CHECK(mr_store_hist_restore(tx, &kept, &err) == 0);
    CHECK_INT(kept.id, 7000);
    c_event(&taken, MB, &c_bob, "merge", 6000);
    taken.id = e[0].id; /* held: a fresh id instead */
    CHECK(mr_store_hist_restore(tx, &taken, &err) == 0);
    CHECK(taken.id > 7000);
    c_event(&next, MA, &c_alice, "archive", 8000);
    CHECK(mr_store_hist_insert(tx, &next, &err) == 0);
    CHECK(next.id > taken.id);
    CHECK(mr_store_commit(tx, &err) == 0);

    /* Read back in another transaction: kept as restored, in id order. */
    int64_t total = 0;
    CHECK(mr_store_begin(s, false, &tx, &err) == 0);
    CHECK(mr_store_hist_list(tx, MB, 10, 0, &v, &n, &total, &err) == 0);
    CHECK_INT(n, 4);
    CHECK_INT(v[2].id, 7000);
    CHECK_STR(v[2].kind, "delete");
    CHECK_INT(v[2].created_at, 5000);
    CHECK_INT(v[3].id, taken.id);
    CHECK_INT(v[3].created_at, 6000);
    c_events_free(v, n);
    mr_store_rollback(tx);
    mr_store_close(s);
}

#define CONTRACT_STORE_TESTS                                                                       \
    T(contract_conversation_round_trip), T(contract_memory_round_trip),                            \
        T(contract_rollback_leaves_nothing), T(contract_memory_needs_its_conversation),            \
        T(contract_delete_conversation_cascades), T(contract_lists_are_paged_and_scoped),          \
        T(contract_memory_list_is_the_owners_newest_first_by_type),                                \
        T(contract_stats_count_all_six_types_per_user), T(contract_archive_applies_the_rule),      \
        T(contract_scan_visits_every_memory), T(contract_model_is_recorded_and_enforced),          \
        T(contract_record_access_merges_what_searches_changed),                                    \
        T(contract_database_errors_name_no_schema_to_clients),                                     \
        T(contract_pool_waits_then_fails_unavailable),                                             \
        T(contract_memories_carry_their_data_source), T(contract_source_schema_round_trip),        \
        T(contract_pages_walk_in_id_order_within_the_filter),                                      \
        T(contract_restore_keeps_a_free_row_id),                                                   \
        T(contract_example_lookups_stay_within_tenant_and_source),                                 \
        T(contract_history_pages_and_restores)

#endif
