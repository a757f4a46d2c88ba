/*
 * The store contract against PostgreSQL (a throwaway cluster started by the
 * test), plus what is PostgreSQL's own: vector search in SQL with filters,
 * row locks that keep two processes' access counts, reconnecting after the
 * server restarts, migrations, a change of embedding dimension.
 */
#include <libpq-fe.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>

#include "contract_store.h"
#include "pg_server.h"

static int db_counter;

/* A new database on the shared cluster; its URL into url. */
static bool new_database(char *url, size_t cap)
{
    struct pg_server *p = pg_server_shared();
    char name[64];
    snprintf(name, sizeof name, "store_%d", db_counter++);
    return p && pg_server_database(p, name, url, cap) == 0;
}

static struct mr_store *open_url(const char *url, int pool)
{
    struct mr_err err;
    struct mr_store *s = mr_store_postgres_open(url, pool, 2, 40, &err);
    if (!s)
        fprintf(stderr, "open failed: %s\n", err.msg);
    return s;
}

static struct mr_store *contract_open(void)
{
    char url[256];
    return new_database(url, sizeof url) ? open_url(url, 4) : NULL;
}

/* Runs one SQL statement on url outside memori; returns the first value (or "") into out. */
static bool sql_value(const char *url, const char *sql, char *out, size_t cap)
{
    PGconn *pg = PQconnectdb(url);
    PGresult *res = PQexec(pg, sql);
    ExecStatusType st = PQresultStatus(res);
    bool ok = st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK;
    if (out)
        snprintf(out, cap, "%s", ok && PQntuples(res) > 0 ? PQgetvalue(res, 0, 0) : "");
    if (!ok)
        fprintf(stderr, "sql: %s", PQresultErrorMessage(res));
    PQclear(res);
    PQfinish(pg);
    return ok;
}

/* A unit vector of CDIM floats from a seed. */
static void seeded_vec(float *v, unsigned seed)
{
    double norm = 0;
    for (int i = 0; i < CDIM; i++) {
        seed = seed * 1103515245u + 12345u;
        v[i] = (float)((seed >> 8) % 2001) / 1000.0f - 1.0f;
        norm += (double)v[i] * v[i];
    }
    for (int i = 0; i < CDIM; i++)
        v[i] = (float)(v[i] / sqrt(norm));
}

static float dot(const float *a, const float *b)
{
    float s = 0;
    for (int i = 0; i < CDIM; i++)
        s += a[i] * b[i];
    return s;
}

#define N_SEARCH 1500

TEST(test_pg_search_filters_in_sql_and_fills_the_limit)
{
    char url[256];
    CHECK(new_database(url, sizeof url));
    struct mr_store *s = open_url(url, 2);
    CHECK(s);
    struct mr_err err;
    CHECK(mr_store_check_model(s, "m", CDIM, &err) == 0); /* vector(8) + HNSW index */
    struct mr_store_tx *tx;
    struct mr_conversation c, cb;
    C_BEGIN(s, tx);
    c_conv(&c, C1, &c_alice, 1);
    c_conv(&cb, C2, &c_bob, 1);
    CHECK(mr_store_conv_insert(tx, &c, &err) == 0);
    CHECK(mr_store_conv_insert(tx, &cb, &err) == 0);
    static float vecs[N_SEARCH][CDIM];
    static enum mr_memory_type types[N_SEARCH];
    static bool hidden[N_SEARCH];
    for (int i = 0; i < N_SEARCH; i++) {
        struct mr_memory m;
        bool bob = i % 10 == 9;
        types[i] = i % 7 == 0 ? MR_RULE : MR_ENTITY;
        c_mem(&m, bob ? C2 : C1, bob ? &c_bob : &c_alice, types[i], 0.5, i);
        seeded_vec(m.embedding, (unsigned)i + 1);
        memcpy(vecs[i], m.embedding, sizeof vecs[i]);
        m.is_archived = i % 11 == 0;
        if (i % 13 == 0)
            m.expires_at = 50; /* expired at the query's now = 100 */
        hidden[i] = bob || m.is_archived || i % 13 == 0;
        CHECK(mr_store_mem_insert(tx, &m, &err) == 0);
        mr_memory_clear(&m);
    }
    CHECK(mr_store_commit(tx, &err) == 0);

    float q[CDIM];
    seeded_vec(q, 424242);
    struct mr_index_query iq = {.vec = q,
                                .dim = CDIM,
                                .type_mask = 1u << MR_RULE,
                                .now = 100,
                                .min_score = -1,
                                .limit = 10};
    C_BEGIN(s, tx);
    struct mr_memory *got;
    float *scores;
    size_t n;
    CHECK(mr_store_mem_search(tx, &c_alice, &iq, &got, &scores, &n, &err) == 0);
    CHECK_INT(n, 10);
    /* The exact answer, by brute force here. */
    float best[10];
    for (int k = 0; k < 10; k++)
        best[k] = -2;
    for (int i = 0; i < N_SEARCH; i++) {
        if (hidden[i] || types[i] != MR_RULE)
            continue;
        float sc = dot(q, vecs[i]);
        for (int k = 0; k < 10; k++)
            if (sc > best[k]) {
                memmove(best + k + 1, best + k, (size_t)(9 - k) * sizeof *best);
                best[k] = sc;
                break;
            }
    }
    int found = 0;
    for (size_t i = 0; i < n; i++) {
        CHECK_INT(got[i].memory_type, MR_RULE);
        CHECK_STR(got[i].user_id, "alice");
        CHECK(!got[i].is_archived && got[i].dim == 0);
        CHECK(i == 0 || scores[i] <= scores[i - 1] + 1e-6f);
        for (int k = 0; k < 10; k++)
            found += fabsf(scores[i] - best[k]) < 1e-5f;
    }
    CHECK(found >= 9); /* recall@10 against exact; HNSW may miss one */
    for (size_t i = 0; i < n; i++)
        mr_memory_clear(&got[i]);
    free(got);
    free(scores);
    /* A threshold drops what scores below it; a conversation filter scopes. */
    iq.min_score = best[2] - 1e-5f;
    CHECK(mr_store_mem_search(tx, &c_alice, &iq, &got, &scores, &n, &err) == 0);
    CHECK(n >= 2 && n <= 3);
    for (size_t i = 0; i < n; i++)
        mr_memory_clear(&got[i]);
    free(got);
    free(scores);
    iq.min_score = -1;
    iq.conversation_id = C2;
    CHECK(mr_store_mem_search(tx, &c_alice, &iq, &got, &scores, &n, &err) == 0);
    CHECK_INT(n, 0); /* bob's conversation holds none of alice's */
    free(got);
    free(scores);
    iq.conversation_id = "not-a-uuid";
    CHECK(mr_store_mem_search(tx, &c_alice, &iq, &got, &scores, &n, &err) == 0);
    CHECK_INT(n, 0);
    CHECK(mr_store_commit(tx, &err) == 0);
    mr_conversation_clear(&c);
    mr_conversation_clear(&cb);
    mr_store_close(s);
}

struct toucher {
    const char *url;
    int rounds;
    int errors;
    size_t limit;  /* hits per search (0: 1) */
    unsigned seed; /* non-zero: another query vector each round */
    long hits;     /* accesses recorded */
};

/* What a search does with its hit, as the service would, through its own pool. */
static void *touch_rounds(void *arg)
{
    struct toucher *t = arg;
    struct mr_store *s = open_url(t->url, 1);
    if (!s) {
        t->errors++;
        return NULL;
    }
    float q[CDIM] = {1, 0, 0, 0, 0, 0, 0, 0.5f};
    size_t limit = t->limit ? t->limit : 1;
    struct mr_index_query iq = {.vec = q, .dim = CDIM, .now = 1, .min_score = -1, .limit = limit};
    for (int r = 0; r < t->rounds; r++) {
        if (t->seed)
            seeded_vec(q, t->seed + (unsigned)r);
        struct mr_err err;
        struct mr_store_tx *tx;
        struct mr_memory *got = NULL;
        float *scores = NULL;
        size_t n = 0;
        if (mr_store_begin(s, true, &tx, &err) != 0) {
            t->errors++;
            continue;
        }
        int rc = mr_store_mem_search(tx, &c_alice, &iq, &got, &scores, &n, &err);
        if (rc == 0 && n == limit) {
            for (size_t i = 0; i < n; i++)
                got[i].access_count++;
            rc = mr_store_mem_record_access(tx, got, n, &err);
        }
        if (rc)
            fprintf(stderr, "    search/access: %s\n", err.msg);
        rc = rc || n != limit ? (mr_store_rollback(tx), -1) : mr_store_commit(tx, &err);
        t->errors += rc != 0;
        t->hits += rc == 0 ? (long)n : 0;
        for (size_t i = 0; i < n; i++)
            mr_memory_clear(&got[i]);
        free(got);
        free(scores);
    }
    mr_store_close(s);
    return NULL;
}

TEST(test_pg_two_processes_never_lose_an_access)
{
    char url[256];
    CHECK(new_database(url, sizeof url));
    struct mr_store *s = open_url(url, 1);
    CHECK(s);
    struct mr_err err;
    struct mr_store_tx *tx;
    struct mr_conversation c;
    struct mr_memory m;
    CHECK(mr_store_check_model(s, "m", CDIM, &err) == 0);
    C_BEGIN(s, tx);
    c_conv(&c, C1, &c_alice, 1);
    CHECK(mr_store_conv_insert(tx, &c, &err) == 0);
    c_mem(&m, C1, &c_alice, MR_RULE, 0.5, 1);
    CHECK(mr_store_mem_insert(tx, &m, &err) == 0);
    CHECK(mr_store_commit(tx, &err) == 0);
    pthread_t th[2];
    struct toucher t[2] = {{url, 25, 0, 1, 0, 0}, {url, 25, 0, 1, 0, 0}};
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, touch_rounds, &t[i]);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    CHECK_INT(t[0].errors + t[1].errors, 0);
    struct mr_memory got;
    CHECK(mr_store_begin(s, false, &tx, &err) == 0);
    if (mr_store_mem_get(tx, m.memory_id, &got, &err) != 0)
        fprintf(stderr, "get: %s\n", err.msg);
    CHECK_INT(got.access_count, 50);
    mr_memory_clear(&got);
    mr_store_rollback(tx);
    mr_memory_clear(&m);
    mr_conversation_clear(&c);
    mr_store_close(s);
}

/*
 * Concurrent searches of one user whose hits overlap in different orders
 * (each round another query vector, all rows returned): the rows are locked
 * in one order, so no deadlock, and no increment is lost.
 */
TEST(test_pg_concurrent_searches_never_deadlock)
{
    enum { ROWS = 8, THREADS = 4, ROUNDS = 40 };
    char url[256];
    CHECK(new_database(url, sizeof url));
    struct mr_store *s = open_url(url, 1);
    CHECK(s);
    struct mr_err err;
    struct mr_store_tx *tx;
    struct mr_conversation c;
    CHECK(mr_store_check_model(s, "m", CDIM, &err) == 0);
    C_BEGIN(s, tx);
    c_conv(&c, C1, &c_alice, 1);
    CHECK(mr_store_conv_insert(tx, &c, &err) == 0);
    for (int i = 0; i < ROWS; i++) {
        struct mr_memory m;
        c_mem(&m, C1, &c_alice, MR_RULE, 0.5, 1);
        seeded_vec(m.embedding, 100u + (unsigned)i);
        CHECK(mr_store_mem_insert(tx, &m, &err) == 0);
        mr_memory_clear(&m);
    }
    CHECK(mr_store_commit(tx, &err) == 0);
    pthread_t th[THREADS];
    struct toucher t[THREADS];
    for (int i = 0; i < THREADS; i++) {
        t[i] = (struct toucher){url, ROUNDS, 0, ROWS, 1000u * (unsigned)(i + 1), 0};
        pthread_create(&th[i], NULL, touch_rounds, &t[i]);
    }
    long hits = 0;
    int errors = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        hits += t[i].hits;
        errors += t[i].errors;
    }
    CHECK_INT(errors, 0);
    CHECK_INT(hits, THREADS * ROUNDS * ROWS);
    char total[32];
    CHECK(sql_value(url, "SELECT sum(access_count) FROM memori_memories", total, sizeof total));
    CHECK_INT(atol(total), hits);
    mr_conversation_clear(&c);
    mr_store_close(s);
}

TEST(test_pg_reconnects_after_the_server_restarts)
{
    char url[256];
    CHECK(new_database(url, sizeof url));
    struct mr_store *s = open_url(url, 2);
    CHECK(s);
    struct mr_err err;
    CHECK(mr_store_health(s, &err) == 0);
    CHECK(pg_server_restart(pg_server_shared()) == 0);
    /* The pooled connection died with the server; the next use re-opens it. */
    int rc = mr_store_health(s, &err);
    if (rc)
        fprintf(stderr, "health: %s\n", err.msg);
    CHECK_INT(rc, 0);
    struct mr_store_tx *tx;
    struct mr_conversation c;
    C_BEGIN(s, tx);
    c_conv(&c, C1, &c_alice, 1);
    CHECK(mr_store_conv_insert(tx, &c, &err) == 0);
    CHECK(mr_store_commit(tx, &err) == 0);
    mr_conversation_clear(&c);
    mr_store_close(s);
}

TEST(test_pg_unreachable_server_is_unavailable_with_the_password_masked)
{
    struct mr_err err;
    int port = test_free_port();
    char url[128];
    snprintf(url, sizeof url, "postgresql://memori:s3cret@127.0.0.1:%d/x", port);
    CHECK(mr_store_postgres_open(url, 1, 0, 0, &err) == NULL);
    CHECK_INT(err.code, MR_EUNAVAIL);
    CHECK(strstr(err.msg, "s3cret") == NULL);
    CHECK(strstr(err.msg, "***") != NULL);
}

TEST(test_pg_schema_is_versioned_and_a_newer_one_refused)
{
    char url[256], v[32];
    CHECK(new_database(url, sizeof url));
    struct mr_store *s = open_url(url, 1);
    CHECK(s);
    mr_store_close(s);
    s = open_url(url, 1); /* a second open migrates nothing */
    CHECK(s);
    mr_store_close(s);
    CHECK(sql_value(url, "SELECT max(version) FROM memori_schema", v, sizeof v));
    CHECK_STR(v, "1");
    CHECK(sql_value(url, "SELECT extversion FROM pg_extension WHERE extname = 'vector'", v,
                    sizeof v));
    CHECK(strncmp(v, "0.8", 3) == 0);
    CHECK(sql_value(url, "UPDATE memori_schema SET version = 99", NULL, 0));
    struct mr_err err;
    CHECK(mr_store_postgres_open(url, 1, 0, 0, &err) == NULL);
    CHECK(strstr(err.msg, "99") != NULL);
}

TEST(test_pg_model_change_retypes_the_vector_column)
{
    char url[256], v[64];
    CHECK(new_database(url, sizeof url));
    struct mr_store *s = open_url(url, 1);
    CHECK(s);
    struct mr_err err;
    struct mr_store_tx *tx;
    struct mr_conversation c;
    struct mr_memory m, got;
    CHECK(mr_store_check_model(s, "a", CDIM, &err) == 0);
    CHECK(sql_value(url, "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                         "WHERE attrelid = 'memori_memories'::regclass AND attname = 'embedding'",
                    v, sizeof v));
    CHECK_STR(v, "vector(8)");
    CHECK(sql_value(url, "SELECT indexdef FROM pg_indexes WHERE indexname = "
                         "'memori_memories_embedding_hnsw'",
                    v, sizeof v));
    CHECK(strstr(v, "hnsw") != NULL);
    C_BEGIN(s, tx);
    c_conv(&c, C1, &c_alice, 1);
    CHECK(mr_store_conv_insert(tx, &c, &err) == 0);
    c_mem(&m, C1, &c_alice, MR_RULE, 0.5, 1);
    CHECK(mr_store_mem_insert(tx, &m, &err) == 0);
    CHECK(mr_store_commit(tx, &err) == 0);
    /* As `memori reembed` does: the model first, then every row rewritten. */
    C_BEGIN(s, tx);
    CHECK(mr_store_set_model(tx, "b", 4, &err) == 0);
    m.dim = 4;
    CHECK(mr_store_mem_update(tx, &m, true, &err) == 0);
    CHECK(mr_store_commit(tx, &err) == 0);
    CHECK(mr_store_check_model(s, "b", 4, &err) == 0);
    /* Vectors stay out of line after the retype, so access updates stay small (HOT). */
    CHECK(sql_value(url, "SELECT attstorage FROM pg_attribute WHERE attrelid = "
                         "'memori_memories'::regclass AND attname = 'embedding'",
                    v, sizeof v));
    CHECK_STR(v, "e");
    CHECK(mr_store_begin(s, false, &tx, &err) == 0);
    CHECK(mr_store_mem_get(tx, m.memory_id, &got, &err) == 0);
    CHECK_INT(got.dim, 4);
    CHECK_NEAR(got.embedding[0], 1, 0);
    mr_memory_clear(&got);
    /* Ids that are no UUID name no row, and leave the transaction usable. */
    CHECK_INT(mr_store_mem_get(tx, "nope", &got, &err), MR_ENOTFOUND);
    CHECK(mr_store_mem_get(tx, m.memory_id, &got, &err) == 0);
    mr_memory_clear(&got);
    mr_store_rollback(tx);
    mr_memory_clear(&m);
    mr_conversation_clear(&c);
    mr_store_close(s);
}

TEST_MAIN("store_postgres", CONTRACT_STORE_TESTS,
          T(test_pg_search_filters_in_sql_and_fills_the_limit),
          T(test_pg_two_processes_never_lose_an_access), T(test_pg_concurrent_searches_never_deadlock),
          T(test_pg_reconnects_after_the_server_restarts),
          T(test_pg_unreachable_server_is_unavailable_with_the_password_masked),
          T(test_pg_schema_is_versioned_and_a_newer_one_refused),
          T(test_pg_model_change_retypes_the_vector_column))
