/*
 * Group commit on SQLite (issue 15 item 2, docs/decisions.md): concurrent
 * write transactions share one transaction and one fsync, each in its own
 * savepoint. A failing statement of one fails that one only; every write a
 * commit acknowledged is in the file after a reopen, and in the index; a
 * rolled-back one is in neither. Run under TSan too (Makefile TSAN_TESTS).
 */
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "faulty_store.h"
#include "memori/clock.h"
#include "memori/embed.h"
#include "memori/index.h"
#include "memori/service.h"
#include "memori/store.h"
#include "test.h"

#define DIM 8      /* the store-level tests' vectors */
#define SVC_DIM 64 /* the service's lexical embedder's */
static const struct mr_identity alice = {"alice", "t1"};
static const char CONV[] = "11111111-1111-4111-8111-111111111111";

static void make_conv(struct mr_conversation *c, const char *id)
{
    memset(c, 0, sizeof *c);
    snprintf(c->conversation_id, sizeof c->conversation_id, "%s", id);
    c->user_id = mr_xstrdup(alice.user_id);
    c->tenant_id = mr_xstrdup(alice.tenant_id);
    c->metadata = mr_xstrdup("{}");
    c->is_active = true;
}

static void make_mem(struct mr_memory *m, const char *conv, const char *content)
{
    memset(m, 0, sizeof *m);
    mr_uuid_v4(m->memory_id);
    snprintf(m->conversation_id, sizeof m->conversation_id, "%s", conv);
    m->user_id = mr_xstrdup(alice.user_id);
    m->tenant_id = mr_xstrdup(alice.tenant_id);
    m->content = mr_xstrdup(content);
    m->memory_type = MR_RULE;
    m->dim = DIM;
    m->embedding = mr_xcalloc(DIM, sizeof(float));
    m->embedding[0] = 1;
    m->importance_score = 0.5;
    m->last_accessed_at = MR_NO_TIME;
    m->expires_at = MR_NO_TIME;
    m->metadata = mr_xstrdup("{}");
}

/* Rows of sql's first column equal to text in the file at path (a fresh connection). */
static int count_rows(const char *path, const char *sql, const char *text)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    int n = -1;
    if (sqlite3_open(path, &db) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
        if (text)
            sqlite3_bind_text(st, 1, text, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(st) == SQLITE_ROW)
            n = sqlite3_column_int(st, 0);
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
    return n;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Waits (up to 10 s) until n writers queue for the turn; false if they never do. */
static bool wait_queued(struct mr_store *s, int n)
{
    struct mr_store_group_stats g;
    for (int i = 0; i < 10000; i++) {
        if (mr_store_sqlite_group_stats(s, &g) == 0 && g.queued >= n)
            return true;
        sleep_ms(1);
    }
    return false;
}

/* A job of the batch test: what it writes and how its transaction ended. */
struct job {
    struct mr_store *s;
    const char *conv, *content;
    const char *dup_memory_id; /* non-NULL: the memory insert reuses it (a UNIQUE violation) */
    int insert_rc, end_rc;
};

static void *run_job(void *arg)
{
    struct job *j = arg;
    struct mr_store_tx *tx;
    struct mr_err err;
    struct mr_conversation c;
    struct mr_memory m;
    if ((j->end_rc = mr_store_begin(j->s, MR_TX_WRITE, &tx, &err)) != 0)
        return NULL;
    /* A first write that succeeds, so that a failing job has something of its own to undo. */
    make_conv(&c, j->conv);
    int rc = mr_store_conv_insert(tx, &c, &err);
    make_mem(&m, j->conv, j->content);
    if (j->dup_memory_id)
        memcpy(m.memory_id, j->dup_memory_id, MR_UUID_LEN);
    if (rc == 0)
        rc = mr_store_mem_insert(tx, &m, &err);
    j->insert_rc = rc;
    if (rc == 0) {
        j->end_rc = mr_store_commit(tx, &err);
    } else {
        mr_store_rollback(tx);
        j->end_rc = rc;
    }
    mr_conversation_clear(&c);
    mr_memory_clear(&m);
    return NULL;
}

/*
 * Three writers in one batch, the middle one's memory insert violating
 * memories.memory_id's uniqueness after its conversation insert succeeded:
 * the batch commits once, holding the other two's rows; the failing one's
 * conversation (its savepoint) is gone, in the file as reopened.
 */
TEST(test_group_failing_statement_fails_its_own_job_only)
{
    char path[512];
    test_path(path, sizeof path, "batch.db");
    struct mr_err err;
    struct mr_store *s = mr_store_sqlite_open(path, 2, &err);
    CHECK(s);
    /* A memory to collide with, committed beforehand. */
    struct mr_store_tx *tx;
    struct mr_conversation c;
    struct mr_memory m;
    CHECK(mr_store_begin(s, MR_TX_WRITE, &tx, &err) == 0);
    make_conv(&c, CONV);
    make_mem(&m, CONV, "already here");
    CHECK(mr_store_conv_insert(tx, &c, &err) == 0);
    CHECK(mr_store_mem_insert(tx, &m, &err) == 0);
    CHECK(mr_store_commit(tx, &err) == 0);
    struct mr_store_group_stats g0, g1;
    CHECK(mr_store_sqlite_group_stats(s, &g0) == 0);

    struct job a = {s, "aaaaaaaa-1111-4111-8111-111111111111", "job a", NULL, 0, 0};
    struct job b = {s, "bbbbbbbb-1111-4111-8111-111111111111", "job b", m.memory_id, 0, 0};
    struct job d = {s, "dddddddd-1111-4111-8111-111111111111", "job d", NULL, 0, 0};
    /* a holds the turn while b and d queue behind it, so all three share a's batch. */
    struct mr_store_tx *ta;
    struct mr_conversation ca;
    struct mr_memory ma;
    CHECK(mr_store_begin(s, MR_TX_WRITE, &ta, &err) == 0);
    make_conv(&ca, a.conv);
    make_mem(&ma, a.conv, a.content);
    a.insert_rc = mr_store_conv_insert(ta, &ca, &err);
    if (a.insert_rc == 0)
        a.insert_rc = mr_store_mem_insert(ta, &ma, &err);
    pthread_t tb, td;
    pthread_create(&tb, NULL, run_job, &b);
    pthread_create(&td, NULL, run_job, &d);
    bool queued = wait_queued(s, 2);
    a.end_rc = a.insert_rc == 0 ? mr_store_commit(ta, &err) : a.insert_rc;
    pthread_join(tb, NULL);
    pthread_join(td, NULL);
    CHECK(mr_store_sqlite_group_stats(s, &g1) == 0);
    mr_store_close(s);
    mr_conversation_clear(&c);
    mr_conversation_clear(&ca);
    mr_memory_clear(&ma);

    CHECK(queued);
    CHECK_INT(a.end_rc, 0);
    CHECK_INT(b.insert_rc, MR_ECONFLICT);
    CHECK_INT(d.end_rc, 0);
    /* One fsync for a and d: they were one batch, and b's failure was inside it. */
    CHECK_INT(g1.batches - g0.batches, 1);
    CHECK_INT(g1.jobs - g0.jobs, 2);
    const char *conv_sql = "SELECT count(*) FROM conversations WHERE conversation_id = ?";
    const char *mem_sql = "SELECT count(*) FROM memories WHERE content = ?";
    CHECK_INT(count_rows(path, conv_sql, a.conv), 1);
    CHECK_INT(count_rows(path, conv_sql, d.conv), 1);
    CHECK_INT(count_rows(path, conv_sql, b.conv), 0);
    CHECK_INT(count_rows(path, mem_sql, "job a"), 1);
    CHECK_INT(count_rows(path, mem_sql, "job d"), 1);
    CHECK_INT(count_rows(path, mem_sql, "job b"), 0);
    CHECK_INT(count_rows(path, mem_sql, "already here"), 1);
    mr_memory_clear(&m);
}

/* Writes a conversation in a transaction, then rolls it back (a request that gave up). */
static void *write_then_roll_back(void *arg)
{
    struct job *j = arg;
    struct mr_store_tx *tx;
    struct mr_err err;
    struct mr_conversation c;
    if ((j->end_rc = mr_store_begin(j->s, MR_TX_WRITE, &tx, &err)) != 0)
        return NULL;
    make_conv(&c, j->conv);
    j->insert_rc = mr_store_conv_insert(tx, &c, &err);
    mr_conversation_clear(&c);
    mr_store_rollback(tx);
    return NULL;
}

/*
 * A job that joined a batch and rolls back, the last one in it: it undoes
 * its own writes only and commits the batch for the one waiting in it.
 */
TEST(test_group_rollback_in_a_batch_commits_the_others)
{
    char path[512];
    test_path(path, sizeof path, "rollback.db");
    struct mr_err err;
    struct mr_store *s = mr_store_sqlite_open(path, 2, &err);
    CHECK(s);
    struct mr_store_group_stats g0, g1;
    CHECK(mr_store_sqlite_group_stats(s, &g0) == 0);
    struct mr_store_tx *ta;
    struct mr_conversation ca;
    CHECK(mr_store_begin(s, MR_TX_WRITE, &ta, &err) == 0);
    make_conv(&ca, "aaaaaaaa-2222-4222-8222-222222222222");
    int insert_rc = mr_store_conv_insert(ta, &ca, &err);
    mr_conversation_clear(&ca);
    struct job b = {s, "bbbbbbbb-2222-4222-8222-222222222222", NULL, NULL, 0, 0};
    pthread_t tb;
    pthread_create(&tb, NULL, write_then_roll_back, &b);
    bool queued = wait_queued(s, 1);
    /* b queues behind a, so a hands the batch on and waits: b's rollback must commit it. */
    int rc = insert_rc == 0 ? mr_store_commit(ta, &err) : insert_rc;
    pthread_join(tb, NULL);
    CHECK(mr_store_sqlite_group_stats(s, &g1) == 0);
    mr_store_close(s);
    CHECK(queued);
    CHECK_INT(rc, 0);
    CHECK_INT(b.end_rc, 0);
    CHECK_INT(b.insert_rc, 0);
    CHECK_INT(g1.batches - g0.batches, 1);
    CHECK_INT(g1.jobs - g0.jobs, 1);
    const char *conv_sql = "SELECT count(*) FROM conversations WHERE conversation_id = ?";
    CHECK_INT(count_rows(path, conv_sql, "aaaaaaaa-2222-4222-8222-222222222222"), 1);
    CHECK_INT(count_rows(path, conv_sql, b.conv), 0);
}

/*
 * A lone writer commits at once: nothing waits for company. Each of these
 * sequential commits is its own batch of one.
 */
TEST(test_group_lone_writer_commits_alone)
{
    char path[512];
    test_path(path, sizeof path, "lone.db");
    struct mr_err err;
    struct mr_store *s = mr_store_sqlite_open(path, 1, &err);
    CHECK(s);
    struct mr_store_group_stats g0, g1;
    CHECK(mr_store_sqlite_group_stats(s, &g0) == 0);
    for (int i = 0; i < 20; i++) {
        struct mr_store_tx *tx;
        struct mr_conversation c;
        char id[MR_UUID_LEN];
        mr_uuid_v4(id);
        CHECK(mr_store_begin(s, MR_TX_WRITE, &tx, &err) == 0);
        make_conv(&c, id);
        int rc = mr_store_conv_insert(tx, &c, &err);
        mr_conversation_clear(&c);
        CHECK_INT(rc, 0);
        CHECK(mr_store_commit(tx, &err) == 0);
    }
    CHECK(mr_store_sqlite_group_stats(s, &g1) == 0);
    mr_store_close(s);
    CHECK_INT(g1.batches - g0.batches, 20);
    CHECK_INT(g1.jobs - g0.jobs, 20);
    CHECK_INT(count_rows(path, "SELECT count(*) FROM conversations", NULL), 20);
}

/* ---- through the memory service: creates, concurrent, acknowledged or not ---- */

struct env {
    struct mr_clock clock;
    struct mr_store *sqlite, *store; /* store: faulty over sqlite */
    struct mr_embedder *embedder;
    struct mr_index *index;
    struct mr_service *svc;
};

static bool open_env(struct env *e, const char *path)
{
    struct mr_err err;
    mr_clock_fixed_init(&e->clock, INT64_C(1767225600000000));
    e->sqlite = mr_store_sqlite_open(path, 4, &err);
    if (!e->sqlite) {
        fprintf(stdout, "    cannot open the SQLite store: %s\n", err.msg);
        return false;
    }
    e->store = faulty_store_wrap(e->sqlite);
    e->embedder = mr_embed_lexical_new(SVC_DIM, &err);
    if (!e->embedder) {
        fprintf(stdout, "    cannot make the embedder: %s\n", err.msg);
        return false;
    }
    e->index = mr_index_new(SVC_DIM);
    e->svc = mr_service_new(
        &(struct mr_service_config){e->store, e->embedder, e->index, &e->clock, 7, 30, 10, 0.0});
    if (mr_service_load_index(e->svc, &err) != 0) {
        fprintf(stdout, "    cannot load the index: %s\n", err.msg);
        return false;
    }
    return true;
}

static void close_env(struct env *e)
{
    mr_service_free(e->svc);
    mr_index_destroy(e->index);
    mr_store_close(e->store);
    mr_embed_destroy(e->embedder);
}

enum { CLIENTS = 16, PER_CLIENT = 30 };

struct client {
    struct env *e;
    int id;
    pthread_barrier_t *start;
    int acked[PER_CLIENT]; /* 1: acknowledged, 0: failed */
    int unexpected;        /* failures other than the injected MR_EUNAVAIL */
};

static void content_of(char *buf, size_t cap, int client, int i)
{
    snprintf(buf, cap, "client %d wrote note %d about refunds", client, i);
}

/* Each create in its own new conversation, so a failed one must leave no conversation either. */
static void conv_of(char *buf, int client, int i)
{
    snprintf(buf, MR_UUID_LEN, "%08x-0000-4000-8000-%012x", (unsigned)client, (unsigned)i);
}

static void *client_main(void *arg)
{
    struct client *c = arg;
    pthread_barrier_wait(c->start);
    for (int i = 0; i < PER_CLIENT; i++) {
        char content[128];
        content_of(content, sizeof content, c->id, i);
        struct mr_memory_create in = {.content = content,
                                      .content_len = strlen(content),
                                      .memory_type = MR_RULE,
                                      .importance_score = 0.5,
                                      .expires_at = MR_NO_TIME};
        conv_of(in.conversation_id, c->id, i);
        struct mr_memory m;
        struct mr_err err;
        int rc = mr_memory_create(c->e->svc, &alice, &in, &m, &err);
        c->acked[i] = rc == 0;
        if (rc && rc != MR_EUNAVAIL)
            c->unexpected++;
        mr_memory_clear(&m);
    }
    return NULL;
}

/* Runs CLIENTS concurrent creators; with fault_every > 0 a thread re-arms the fault that often. */
struct fault_arm {
    struct mr_store *store;
    volatile int *stop;
    pthread_mutex_t *lock;
};

static void *arm_main(void *arg)
{
    struct fault_arm *f = arg;
    for (unsigned seed = 7;;) {
        pthread_mutex_lock(f->lock);
        int stop = *f->stop;
        pthread_mutex_unlock(f->lock);
        if (stop)
            break;
        /* Some call among the next few dozen fails: a begin, a read, an insert or a commit. */
        faulty_store_arm(f->store, 1 + rand_r(&seed) % 40);
        sleep_ms(2);
    }
    faulty_store_arm(f->store, 0);
    return NULL;
}

/*
 * CLIENTS threads create PER_CLIENT memories each through the service, each
 * in a new conversation; with faults, some store call fails now and then.
 * Then: what was acknowledged is in the index at once, and after a reopen in
 * the file and the reloaded index; what failed is in neither, conversation
 * included; and the writers shared commits (fewer batches than jobs).
 */
static void concurrent_creates(const char *name, bool faults)
{
    char path[512];
    test_path(path, sizeof path, name);
    struct env e;
    CHECK(open_env(&e, path));
    struct client *cs = mr_xcalloc(CLIENTS, sizeof *cs);
    pthread_t th[CLIENTS], armer;
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, CLIENTS);
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    volatile int stop = 0;
    struct fault_arm fa = {e.store, &stop, &lock};
    if (faults)
        pthread_create(&armer, NULL, arm_main, &fa);
    for (int i = 0; i < CLIENTS; i++) {
        cs[i] = (struct client){&e, i, &start, {0}, 0};
        pthread_create(&th[i], NULL, client_main, &cs[i]);
    }
    for (int i = 0; i < CLIENTS; i++)
        pthread_join(th[i], NULL);
    if (faults) {
        pthread_mutex_lock(&lock);
        stop = 1;
        pthread_mutex_unlock(&lock);
        pthread_join(armer, NULL);
    }
    pthread_barrier_destroy(&start);
    struct mr_store_group_stats g;
    mr_store_sqlite_group_stats(e.sqlite, &g);
    size_t indexed = mr_index_count(e.index);
    close_env(&e);

    int acked = 0, failed = 0, unexpected = 0;
    for (int i = 0; i < CLIENTS; i++) {
        unexpected += cs[i].unexpected;
        for (int k = 0; k < PER_CLIENT; k++)
            acked += cs[i].acked[k];
    }
    failed = CLIENTS * PER_CLIENT - acked;
    fprintf(stdout, "    %d acknowledged, %d failed; %llu batches for %llu commits\n", acked,
            failed, (unsigned long long)g.batches, (unsigned long long)g.jobs);
    CHECK_INT(unexpected, 0);
    CHECK_INT(indexed, acked);
    if (faults)
        CHECK(failed > 0);
    else
        CHECK_INT(failed, 0);
    CHECK(g.batches < g.jobs);
    /* The file, as a fresh connection reads it: every acknowledged create, no failed one. */
    for (int i = 0; i < CLIENTS; i++)
        for (int k = 0; k < PER_CLIENT; k++) {
            char content[128], conv[MR_UUID_LEN];
            content_of(content, sizeof content, i, k);
            conv_of(conv, i, k);
            int mems = count_rows(path, "SELECT count(*) FROM memories WHERE content = ?", content);
            int convs = count_rows(
                path, "SELECT count(*) FROM conversations WHERE conversation_id = ?", conv);
            if (mems != cs[i].acked[k] || convs != cs[i].acked[k]) {
                test_fail(__FILE__, __LINE__,
                          "create %d of client %d %s, but the file has %d "
                          "memories and %d conversations of it",
                          k, i, cs[i].acked[k] ? "was acknowledged" : "failed", mems, convs);
                free(cs);
                return;
            }
        }
    /* Reopened, the index loads exactly those. */
    struct env again;
    CHECK(open_env(&again, path));
    size_t reloaded = mr_index_count(again.index);
    close_env(&again);
    CHECK_INT(reloaded, acked);
    free(cs);
}

TEST(test_group_concurrent_creates_all_durable)
{
    concurrent_creates("creates.db", false);
}

TEST(test_group_concurrent_creates_with_faults_fail_alone)
{
    concurrent_creates("faults.db", true);
}

TEST_MAIN("group_commit", T(test_group_failing_statement_fails_its_own_job_only),
          T(test_group_rollback_in_a_batch_commits_the_others),
          T(test_group_lone_writer_commits_alone), T(test_group_concurrent_creates_all_durable),
          T(test_group_concurrent_creates_with_faults_fail_alone))
