/*
 * The store contract against PostgreSQL (a throwaway cluster started by the
 * test), plus what is PostgreSQL's own: vector search in SQL with filters,
 * row locks that keep two processes' access counts, reconnecting after the
 * server restarts, migrations, a change of embedding dimension.
 */
#include <fcntl.h>
#include <libpq-fe.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../src/store/pg_int.h"
#include "contract_store.h"
#include "memori/clock.h"
#include "memori/rules.h"
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

static struct mr_store *open_pool(const char *url, const struct mr_store_pool_config *pool)
{
    struct mr_err err;
    struct mr_store *s = mr_store_postgres_open_with(url, pool, 40, &err);
    if (!s)
        fprintf(stdout, "    cannot open the PostgreSQL store: %s\n", err.msg);
    return s;
}

static struct mr_store *open_url(const char *url, int pool)
{
    struct mr_store_pool_config cfg = {pool, 2, 0};
    return open_pool(url, &cfg);
}

static struct mr_store *contract_open_pool(const struct mr_store_pool_config *pool)
{
    char url[256];
    if (!new_database(url, sizeof url)) {
        fprintf(stdout, "    cannot create a database: no PostgreSQL server (see above)\n");
        return NULL;
    }
    return open_pool(url, pool);
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
            struct mr_access_delta d[64];
            for (size_t i = 0; i < n && i < 64; i++)
                d[i] = (struct mr_access_delta){got[i].id, 1, 1};
            rc = mr_store_mem_record_access(tx, d, n < 64 ? n : 64, NULL, &err);
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
    /* 3: the lexical index; 4: a data source's memories by type; 5: hygiene; 6: neighbours;
       7: the lexical postings; 8: the conversation index's INCLUDE columns */
    CHECK_STR(v, "8");
    CHECK(sql_value(url,
                    "SELECT count(*) FROM pg_indexes WHERE indexname = "
                    "'memori_memories_conversation_id'",
                    v, sizeof v));
    CHECK_STR(v, "1");
    CHECK(sql_value(url, "SELECT count(*) FROM pg_tables WHERE tablename = 'memori_lex_postings'",
                    v, sizeof v));
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
    CHECK(sql_value(url,
                    "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                    "WHERE attrelid = 'memori_memories'::regclass AND attname = 'embedding'",
                    v, sizeof v));
    CHECK_STR(v, "vector(8)");
    CHECK(sql_value(url,
                    "SELECT indexdef FROM pg_indexes WHERE indexname = "
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
    CHECK(sql_value(url,
                    "SELECT attstorage FROM pg_attribute WHERE attrelid = "
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

/*
 * PostgreSQL's own text — its DETAIL line names the constraint, the table
 * and the value — goes to the server log; the client reads what failed.
 */
TEST(test_pg_error_details_go_to_the_log_not_the_client)
{
    struct mr_store *s = contract_open();
    CHECK(s);
    struct mr_store_tx *tx;
    struct mr_err err;
    struct mr_memory m;
    C_BEGIN(s, tx);
    c_mem(&m, C2, &c_alice, MR_RULE, 0.5, 1); /* C2 does not exist: a foreign key violation */
    struct c_log log;
    c_log_begin(&log);
    int rc = mr_store_mem_insert(tx, &m, &err);
    char *logged = c_log_end(&log);
    mr_store_rollback(tx);
    mr_memory_clear(&m);
    mr_store_close(s);
    bool detail_logged = strstr(logged, "DETAIL") && strstr(logged, "memori_conversations") &&
                         strstr(logged, "fkey");
    if (!detail_logged)
        fprintf(stdout, "    logged: %s\n", logged);
    free(logged);
    CHECK_INT(rc, MR_ECONFLICT);
    CHECK(strstr(err.msg, "inserting a memory") != NULL);
    CHECK(strstr(err.msg, "DETAIL") == NULL);
    CHECK(strstr(err.msg, "memori_") == NULL);
    CHECK(strstr(err.msg, "fkey") == NULL);
    CHECK(strstr(err.msg, C2) == NULL);
    CHECK(detail_logged);
}

/*
 * A store that cannot open (here: a database user who may not create the
 * pgvector extension) fails with our message — what it was doing, why in
 * our words — and the suite goes on; PostgreSQL's words go to the log.
 */
TEST(test_pg_open_without_pgvector_fails_with_a_message)
{
    char url[256], limited[300], sql[160];
    CHECK(new_database(url, sizeof url));
    snprintf(sql, sizeof sql,
             "DO $$BEGIN CREATE ROLE memori_limited LOGIN; EXCEPTION WHEN duplicate_object "
             "THEN NULL; END$$");
    CHECK(sql_value(url, sql, NULL, 0));
    /* It may create tables, so the migration gets as far as the extension. */
    CHECK(sql_value(url, "GRANT CREATE ON SCHEMA public TO memori_limited", NULL, 0));
    const char *at = strchr(url, '@');
    CHECK(at != NULL);
    snprintf(limited, sizeof limited, "postgresql://memori_limited%s", at);
    struct mr_err err;
    struct c_log log;
    c_log_begin(&log);
    struct mr_store *s = mr_store_postgres_open(limited, 1, 0, 0, &err);
    char *logged = c_log_end(&log);
    bool pg_words_logged = strstr(logged, "vector") != NULL;
    free(logged);
    mr_store_close(s);
    CHECK(s == NULL);
    CHECK(strstr(err.msg, "migrating the schema") != NULL);
    CHECK(strstr(err.msg, "pgvector") != NULL);
    CHECK(strstr(err.msg, "SQLSTATE 42501") != NULL);
    CHECK(strstr(err.msg, "permission denied") == NULL);
    CHECK(pg_words_logged);
}

/* Polls url until a backend of its database waits for a row lock; false after 5 s. */
static bool wait_for_lock_waiter(const char *url)
{
    for (int i = 0; i < 500; i++) {
        char n[16];
        if (sql_value(url,
                      "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                      "AND wait_event_type = 'Lock'",
                      n, sizeof n) &&
            atoi(n) > 0)
            return true;
        usleep(10000);
    }
    return false;
}

struct archiver {
    struct mr_store *s;
    int64_t now;
    int rc;
    size_t n;
    char msg[512];
};

static void *archive_once(void *arg)
{
    struct archiver *a = arg;
    struct mr_err err = {0};
    struct mr_store_tx *tx;
    int64_t *ids = NULL;
    char **users = NULL;
    a->rc = mr_store_begin(a->s, true, &tx, &err);
    if (a->rc == 0) {
        struct mr_archive_bounds b = mr_rule_archive_bounds(a->now, 30);
        a->rc = mr_store_mem_archive(tx, &c_alice, &b, a->now, &ids, &users, &a->n, &err);
        if (a->rc == 0)
            a->rc = mr_store_commit(tx, &err);
        else
            mr_store_rollback(tx);
    }
    for (size_t i = 0; users && i < a->n; i++)
        free(users[i]);
    free(users);
    free(ids);
    snprintf(a->msg, sizeof a->msg, "%s", err.msg);
    return NULL;
}

/*
 * The archival UPDATE and a search of the same user lock rows in one order
 * (by id). Here a search-like transaction holds the lowest id, the archive
 * starts, and the search then locks a higher id, as its `ORDER BY id FOR
 * UPDATE` does: locking in scan order (the lowest id made last in the heap)
 * the archive would already hold that row and PostgreSQL would abort one of
 * the two as a deadlock.
 */
TEST(test_pg_archive_and_search_never_deadlock)
{
    enum { ROWS = 4 };
    char url[256], sql[256];
    CHECK(new_database(url, sizeof url));
    struct mr_store *s = open_url(url, 2);
    CHECK(s);
    struct mr_err err;
    struct mr_store_tx *tx;
    struct mr_conversation c;
    int64_t ids[ROWS];
    int64_t now = 400 * MR_USEC_PER_DAY;
    CHECK(mr_store_check_model(s, "m", CDIM, &err) == 0);
    C_BEGIN(s, tx);
    c_conv(&c, C1, &c_alice, 1);
    CHECK(mr_store_conv_insert(tx, &c, &err) == 0);
    for (int i = 0; i < ROWS; i++) {
        struct mr_memory m;
        c_mem(&m, C1, &c_alice, MR_SHORT_TERM, 0.1, 10 + i); /* archivable */
        CHECK(mr_store_mem_insert(tx, &m, &err) == 0);
        ids[i] = m.id;
        mr_memory_clear(&m);
    }
    CHECK(mr_store_commit(tx, &err) == 0);
    /* A non-HOT update (an indexed column) moves the lowest id to the end of every scan. */
    snprintf(sql, sizeof sql,
             "UPDATE memori_memories SET created_at = created_at - interval '1 microsecond' "
             "WHERE id = %lld",
             (long long)ids[0]);
    CHECK(sql_value(url, sql, NULL, 0));

    PGconn *search = PQconnectdb(url);
    CHECK(PQstatus(search) == CONNECTION_OK);
    snprintf(sql, sizeof sql, "BEGIN; SELECT id FROM memori_memories WHERE id = %lld FOR UPDATE",
             (long long)ids[0]);
    PGresult *res = PQexec(search, sql);
    bool locked_low = PQresultStatus(res) == PGRES_TUPLES_OK;
    PQclear(res);
    struct archiver a = {s, now, -1, 0, ""};
    pthread_t th;
    pthread_create(&th, NULL, archive_once, &a);
    bool archive_waits = wait_for_lock_waiter(url);
    snprintf(sql, sizeof sql, "SELECT id FROM memori_memories WHERE id = %lld FOR UPDATE",
             (long long)ids[ROWS - 1]);
    res = PQexec(search, sql);
    bool locked_high = PQresultStatus(res) == PGRES_TUPLES_OK;
    if (!locked_high)
        fprintf(stdout, "    search: %s", PQresultErrorMessage(res));
    PQclear(res);
    PQclear(PQexec(search, "COMMIT"));
    PQfinish(search);
    pthread_join(th, NULL);
    if (a.rc)
        fprintf(stdout, "    archive: %s\n", a.msg);
    mr_conversation_clear(&c);
    mr_store_close(s);
    CHECK(locked_low);
    CHECK(archive_waits);
    CHECK(locked_high);
    CHECK_INT(a.rc, 0);
    CHECK_INT(a.n, ROWS);
}

/*
 * A statement's parameters are bounded (struct pg_params): one past a bound
 * is this store's bug, and aborts with a message naming the bound instead
 * of writing past the arrays. Up to the bound is fine.
 */
TEST(test_pg_params_past_their_bound_abort)
{
    static const char *const named[] = {"PG_MAX_PARAMS", "PG_MAX_OWNED", NULL};
    for (int kind = 0; kind < 3; kind++) {
        char log[512];
        test_path(log, sizeof log, "params.log");
        fflush(stdout);
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) {
            int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
            dup2(fd, 2);
            signal(SIGABRT, SIG_DFL); /* the expected abort is no crash of the suite's */
            struct pg_params p = {0};
            struct mr_strv none = {0};
            if (kind == 0)
                for (int i = 0; i <= PG_MAX_PARAMS; i++)
                    pg_param_int(&p, i);
            else if (kind == 1)
                for (int i = 0; i <= PG_MAX_OWNED; i++)
                    pg_param_strv(&p, &none);
            else
                for (int i = 0; i < PG_MAX_PARAMS; i++)
                    pg_param_int(&p, i);
            pg_params_free(&p);
            _exit(0);
        }
        int status = 0;
        CHECK(waitpid(pid, &status, 0) == pid);
        FILE *f = fopen(log, "r");
        char text[512] = "";
        size_t n = f ? fread(text, 1, sizeof text - 1, f) : 0;
        text[n] = '\0';
        if (f)
            fclose(f);
        if (named[kind]) {
            CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
            CHECK(strstr(text, named[kind]) != NULL);
        } else {
            CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        }
    }
}

static const char *const lex_texts[] = {
    "Orders are stored in fct_order_line with one row per order line",
    "The customer_id column joins orders to customers",
    "Revenue is reported per month in the finance schema",
    "Customers who cancel an order get a refund within 30 days",
    "the and of",
    "Monthly revenue per customer: sum of order lines",
    "Refunds are never issued after 90 days",
    "Order lines carry a quantity and a unit price",
};
#define N_LEX ((int)(sizeof lex_texts / sizeof *lex_texts))

static bool lex_accept_all(void *arg, int64_t id)
{
    (void)arg, (void)id;
    return true;
}

/* The store's BM25 against an in-process index over the same contents, bit for bit. */
static void lex_compare(struct mr_store *s, struct mr_lex_index *ix, const char *query)
{
    struct mr_lex_terms *t = mr_lex_terms_new(query, strlen(query));
    struct mr_store_tx *tx;
    struct mr_err err;
    struct mr_index_query iq = {.now = 100, .limit = 10};
    struct mr_lex_hit want[16], *got = NULL;
    double want_max = -1, got_max = -1;
    size_t nw = mr_lex_index_search(ix, t, lex_accept_all, NULL, 16, want, &want_max), ng = 0;
    C_BEGIN(s, tx);
    CHECK(mr_store_mem_lex_search(tx, &c_alice, &iq, t, 16, &got, &ng, &got_max, &err) == 0);
    if (ng != nw)
        for (size_t i = 0; i < nw || i < ng; i++)
            fprintf(stdout, "    %s: want %lld got %lld\n", query,
                    i < nw ? (long long)want[i].id : -1LL, i < ng ? (long long)got[i].id : -1LL);
    CHECK_INT(ng, nw);
    CHECK(got_max == want_max);
    for (size_t i = 0; i < ng && i < nw; i++) {
        CHECK_INT(got[i].id, want[i].id);
        CHECK(got[i].bm25 == want[i].bm25);
        CHECK(got[i].lexical == want[i].lexical);
    }
    for (size_t i = 0; i < nw; i++) {
        double sc = -1;
        CHECK(mr_store_mem_lex_score(tx, &c_alice, t, &want[i].id, 1, &sc, NULL, &err) == 0);
        CHECK(sc == mr_lex_index_score(ix, t, want[i].id));
    }
    mr_store_rollback(tx);
    free(got);
    mr_lex_terms_free(t);
}

TEST(test_pg_lexical_scores_are_the_in_process_index_bits)
{
    char url[256];
    CHECK(new_database(url, sizeof url));
    struct mr_store *s = open_url(url, 2);
    CHECK(s);
    struct mr_err err;
    struct mr_store_tx *tx;
    struct mr_conversation c;
    struct mr_lex_index *ix = mr_lex_index_new();
    int64_t ids[N_LEX];
    C_BEGIN(s, tx);
    c_conv(&c, C1, &c_alice, 1);
    CHECK(mr_store_conv_insert(tx, &c, &err) == 0);
    for (int i = 0; i < N_LEX; i++) {
        struct mr_memory m;
        c_mem(&m, C1, &c_alice, MR_LONG_TERM, 0.5, i);
        free(m.content);
        m.content = mr_xstrdup(lex_texts[i]);
        CHECK(mr_store_mem_insert(tx, &m, &err) == 0);
        ids[i] = m.id;
        mr_lex_index_put(ix, m.id, m.content, strlen(m.content));
        mr_memory_clear(&m);
    }
    CHECK(mr_store_commit(tx, &err) == 0);
    static const char *const queries[] = {"order lines",    "customer refund",
                                          "fct_order_line", "revenue per month",
                                          "the and of",     "nothing matches"};
    for (size_t q = 0; q < sizeof queries / sizeof *queries; q++)
        lex_compare(s, ix, queries[q]);
    /* An update and a delete are reflected at once, statistics included. */
    C_BEGIN(s, tx);
    struct mr_memory m;
    CHECK(mr_store_mem_get_by_id(tx, ids[2], &m, &err) == 0);
    free(m.content);
    m.content = mr_xstrdup("Order revenue per customer and per order line");
    CHECK(mr_store_mem_update(tx, &m, false, &err) == 0);
    mr_lex_index_put(ix, m.id, m.content, strlen(m.content));
    mr_memory_clear(&m);
    CHECK(mr_store_mem_get_by_id(tx, ids[0], &m, &err) == 0);
    CHECK(mr_store_mem_delete(tx, m.memory_id, &err) == 0);
    mr_lex_index_remove(ix, ids[0]);
    mr_memory_clear(&m);
    CHECK(mr_store_commit(tx, &err) == 0);
    for (size_t q = 0; q < sizeof queries / sizeof *queries; q++)
        lex_compare(s, ix, queries[q]);
    /* A failing transaction leaves the statistics as they were. */
    char before[256], after[256];
    CHECK(sql_value(url,
                    "SELECT n_docs || '/' || total_len || '/' || (SELECT sum(df) FROM "
                    "memori_lex_df) FROM memori_lex_partitions",
                    before, sizeof before));
    C_BEGIN(s, tx);
    struct mr_memory bad;
    c_mem(&bad, C1, &c_alice, MR_LONG_TERM, 0.5, 9);
    free(bad.content);
    bad.content = mr_xstrdup("brand new words here");
    CHECK(mr_store_mem_insert(tx, &bad, &err) == 0);
    mr_memory_clear(&bad);
    c_mem(&bad, C1, &c_alice, MR_LONG_TERM, 2.0, 9); /* importance out of range: refused */
    CHECK(mr_store_mem_insert(tx, &bad, &err) != 0);
    mr_memory_clear(&bad);
    mr_store_rollback(tx);
    CHECK(sql_value(url,
                    "SELECT n_docs || '/' || total_len || '/' || (SELECT sum(df) FROM "
                    "memori_lex_df) FROM memori_lex_partitions",
                    after, sizeof after));
    CHECK_STR(after, before);
    mr_lex_index_destroy(ix);
    mr_conversation_clear(&c);
    mr_store_close(s);
}

/* The lexical statistics recomputed from the rows differ from the kept ones nowhere. */
#define LEX_STATS_DRIFT                                                                            \
    "SELECT (SELECT count(*) FROM (SELECT tenant_id, user_id, count(*) AS n_docs, "                \
    "  sum(lex_len) AS total_len FROM memori_memories WHERE lex_len IS NOT NULL "                  \
    "  GROUP BY 1, 2) r FULL JOIN memori_lex_partitions p USING (tenant_id, user_id) "             \
    "  WHERE coalesce(r.n_docs, 0) <> coalesce(p.n_docs, 0) "                                      \
    "  OR coalesce(r.total_len, 0) <> coalesce(p.total_len, 0)) + "                                \
    "(SELECT count(*) FROM (SELECT tenant_id, user_id, t.term, count(*) AS df "                    \
    "  FROM memori_memories, unnest(lex_terms) AS t(term) WHERE lex_len IS NOT NULL "              \
    "  GROUP BY 1, 2, 3) r FULL JOIN memori_lex_df d USING (tenant_id, user_id, term) "            \
    "  WHERE r.df IS DISTINCT FROM d.df)"

/*
 * Memories written before migration 3 (the database set back to version 2,
 * its lexical columns, tables and triggers gone) are tokenised by the
 * migration's back-fill in batches, counted into the statistics, and found
 * lexically as the in-process index finds them.
 */
TEST(test_pg_backfill_makes_older_memories_lexical)
{
    enum { ROWS = 1100 }; /* three back-fill batches */
    char url[256];
    CHECK(new_database(url, sizeof url));
    struct mr_store *s = open_url(url, 2);
    CHECK(s);
    struct mr_err err;
    struct mr_store_tx *tx;
    struct mr_conversation c;
    struct mr_lex_index *ix = mr_lex_index_new();
    C_BEGIN(s, tx);
    c_conv(&c, C1, &c_alice, 1);
    CHECK(mr_store_conv_insert(tx, &c, &err) == 0);
    for (int i = 0; i < ROWS; i++) {
        struct mr_memory m;
        c_mem(&m, C1, &c_alice, MR_LONG_TERM, 0.5, i);
        free(m.content);
        char text[256];
        snprintf(text, sizeof text, "%s n%d", lex_texts[i % N_LEX], i % 37);
        m.content = mr_xstrdup(text);
        CHECK(mr_store_mem_insert(tx, &m, &err) == 0);
        mr_lex_index_put(ix, m.id, m.content, strlen(m.content));
        mr_memory_clear(&m);
    }
    CHECK(mr_store_commit(tx, &err) == 0);
    mr_store_close(s);
    CHECK(sql_value(url,
                    "DROP TRIGGER memori_lex_write ON memori_memories;"
                    "DROP TRIGGER memori_lex_change ON memori_memories;"
                    "DROP TRIGGER memori_lex_post_write ON memori_memories;"
                    "DROP TRIGGER memori_lex_post_change ON memori_memories;"
                    "DROP FUNCTION memori_lex_stats(), memori_lex_postings();"
                    "DROP TABLE memori_lex_postings;"
                    "DROP TABLE memori_lex_df, memori_lex_partitions;"
                    "ALTER TABLE memori_memories DROP COLUMN lex_terms, DROP COLUMN lex_tfs,"
                    "  DROP COLUMN lex_len;"
                    "UPDATE memori_schema SET version = 2",
                    NULL, 0));
    char v[64];
    CHECK(
        sql_value(url, "SELECT count(*) FROM pg_attribute WHERE attname = 'lex_len'", v, sizeof v));
    CHECK_STR(v, "0");
    s = open_url(url, 2); /* migrates to 3: the columns, then the back-fill; then 4 to 8 */
    CHECK(s);
    CHECK(sql_value(url, "SELECT max(version) FROM memori_schema", v, sizeof v));
    CHECK_STR(v, "8");
    CHECK(
        sql_value(url, "SELECT count(*) FROM memori_memories WHERE lex_len IS NULL", v, sizeof v));
    CHECK_STR(v, "0");
    CHECK(sql_value(url, "SELECT n_docs FROM memori_lex_partitions", v, sizeof v));
    CHECK_INT(atol(v), ROWS);
    CHECK(sql_value(url, LEX_STATS_DRIFT, v, sizeof v));
    CHECK_STR(v, "0");
    static const char *const queries[] = {"order lines", "customer refund", "fct_order_line",
                                          "revenue n12", "n36"};
    for (size_t q = 0; q < sizeof queries / sizeof *queries; q++)
        lex_compare(s, ix, queries[q]);
    mr_lex_index_destroy(ix);
    mr_conversation_clear(&c);
    mr_store_close(s);
}

struct lex_writer {
    const char *url;
    int id; /* 0..: which writer */
    int rounds;
    int errors;
    long kept; /* memories it left */
};

/*
 * Creates memories (in batches of three, one transaction each) and deletes
 * every other batch's first, with lexical searches between; alice's and
 * bob's partitions both, so writers share df rows in each.
 */
static void *lex_write_rounds(void *arg)
{
    struct lex_writer *w = arg;
    struct mr_store *s = open_url(w->url, 1);
    if (!s) {
        w->errors++;
        return NULL;
    }
    struct mr_lex_terms *t = mr_lex_terms_new("order customer revenue", 22);
    struct mr_index_query iq = {.now = 100, .limit = 10};
    for (int r = 0; r < w->rounds; r++) {
        struct mr_err err;
        struct mr_store_tx *tx;
        const struct mr_identity *who = (r + w->id) % 2 ? &c_bob : &c_alice;
        if (mr_store_begin(s, true, &tx, &err) != 0) {
            w->errors++;
            continue;
        }
        int rc = 0;
        char first[MR_UUID_LEN] = "";
        for (int k = 0; rc == 0 && k < 3; k++) {
            struct mr_memory m;
            c_mem(&m, who == &c_bob ? C2 : C1, who, MR_LONG_TERM, 0.5, r);
            free(m.content);
            char text[256];
            snprintf(text, sizeof text, "%s w%d r%d", lex_texts[(r + k + w->id) % N_LEX], w->id, r);
            m.content = mr_xstrdup(text);
            rc = mr_store_mem_insert(tx, &m, &err);
            if (k == 0)
                snprintf(first, sizeof first, "%s", m.memory_id);
            mr_memory_clear(&m);
        }
        if (rc == 0 && r % 2)
            rc = mr_store_mem_delete(tx, first, &err);
        struct mr_lex_hit *hits = NULL;
        size_t n = 0;
        if (rc == 0)
            rc = mr_store_mem_lex_search(tx, who, &iq, t, 10, &hits, &n, NULL, &err);
        free(hits);
        if (rc)
            fprintf(stderr, "    writer %d: %s\n", w->id, err.msg);
        rc = rc ? (mr_store_rollback(tx), -1) : mr_store_commit(tx, &err);
        w->errors += rc != 0;
        w->kept += rc == 0 ? 3 - r % 2 : 0;
    }
    mr_lex_terms_free(t);
    mr_store_close(s);
    return NULL;
}

/*
 * Parallel writers (creates, deletes, lexical searches, two partitions)
 * keep the statistics exact: no lost increment, no deadlock on df rows,
 * and the kept counts equal the ones recomputed from the rows.
 */
TEST(test_pg_concurrent_writers_keep_the_lexical_statistics)
{
    enum { WRITERS = 4, ROUNDS = 30 };
    char url[256];
    CHECK(new_database(url, sizeof url));
    struct mr_store *s = open_url(url, 1);
    CHECK(s);
    struct mr_err err;
    struct mr_store_tx *tx;
    struct mr_conversation c, cb;
    C_BEGIN(s, tx);
    c_conv(&c, C1, &c_alice, 1);
    c_conv(&cb, C2, &c_bob, 1);
    CHECK(mr_store_conv_insert(tx, &c, &err) == 0);
    CHECK(mr_store_conv_insert(tx, &cb, &err) == 0);
    CHECK(mr_store_commit(tx, &err) == 0);
    pthread_t th[WRITERS];
    struct lex_writer w[WRITERS];
    for (int i = 0; i < WRITERS; i++) {
        w[i] = (struct lex_writer){url, i, ROUNDS, 0, 0};
        pthread_create(&th[i], NULL, lex_write_rounds, &w[i]);
    }
    long kept = 0;
    int errors = 0;
    for (int i = 0; i < WRITERS; i++) {
        pthread_join(th[i], NULL);
        kept += w[i].kept;
        errors += w[i].errors;
    }
    CHECK_INT(errors, 0);
    CHECK_INT(kept, WRITERS * (ROUNDS / 2 * 3 + ROUNDS / 2 * 2));
    char v[64];
    CHECK(sql_value(url, "SELECT sum(n_docs) FROM memori_lex_partitions", v, sizeof v));
    CHECK_INT(atol(v), kept);
    CHECK(sql_value(url, "SELECT count(*) FROM memori_lex_partitions", v, sizeof v));
    CHECK_STR(v, "2");
    CHECK(sql_value(url, LEX_STATS_DRIFT, v, sizeof v));
    CHECK_STR(v, "0");
    mr_conversation_clear(&c);
    mr_conversation_clear(&cb);
    mr_store_close(s);
}

/* The postings recomputed from the rows' lexical columns differ from the kept ones nowhere. */
#define LEX_POSTINGS_DRIFT                                                                         \
    "SELECT count(*) FROM (SELECT m.tenant_id, m.user_id, t.term, m.id AS memory_id, t.tf, "       \
    "  m.lex_len AS len, m.is_shared AS shared FROM memori_memories m, "                           \
    "  unnest(m.lex_terms, m.lex_tfs) AS t(term, tf) WHERE m.lex_len IS NOT NULL) r "              \
    "FULL JOIN memori_lex_postings p USING (tenant_id, user_id, term, memory_id) "                 \
    "WHERE r.tf IS DISTINCT FROM p.tf OR r.len IS DISTINCT FROM p.len "                            \
    "OR r.shared IS DISTINCT FROM p.shared"

/* Postings drift ("0" when exact) and count into drift and count. */
static bool postings_state(const char *url, char *drift, char *count)
{
    return sql_value(url, LEX_POSTINGS_DRIFT, drift, 32) &&
           sql_value(url, "SELECT count(*) FROM memori_lex_postings", count, 32);
}

/* Inserts text as who's memory of type t in conv; its row id into *out_id. */
static bool lex_insert(struct mr_store_tx *tx, const char *conv, const struct mr_identity *who,
                       enum mr_memory_type t, const char *text, bool shared, bool archived,
                       int64_t *out_id)
{
    struct mr_err err;
    struct mr_memory m;
    c_mem(&m, conv, who, t, 0.5, 1);
    free(m.content);
    m.content = mr_xstrdup(text);
    m.is_shared = shared;
    m.is_archived = archived;
    bool ok = mr_store_mem_insert(tx, &m, &err) == 0;
    if (!ok)
        fprintf(stdout, "    insert: %s\n", err.msg);
    if (out_id)
        *out_id = m.id;
    mr_memory_clear(&m);
    return ok;
}

/*
 * The postings follow every write: a create, a content update, an update
 * of is_shared alone, an owner change, a delete, a conversation's cascade,
 * and a rolled-back transaction leaves them as they were. After each step
 * they equal the ones recomputed from the rows, and an update that keeps
 * the content (an access, archival) leaves them untouched.
 */
TEST(test_pg_postings_stay_exact_through_every_write)
{
    char url[256], drift[32], count[32], before[64];
    CHECK(new_database(url, sizeof url));
    struct mr_store *s = open_url(url, 2);
    CHECK(s);
    struct mr_err err;
    struct mr_store_tx *tx;
    struct mr_conversation c, cb;
    int64_t ids[N_LEX];
    C_BEGIN(s, tx);
    c_conv(&c, C1, &c_alice, 1);
    c_conv(&cb, C2, &c_bob, 1);
    CHECK(mr_store_conv_insert(tx, &c, &err) == 0);
    CHECK(mr_store_conv_insert(tx, &cb, &err) == 0);
    for (int i = 0; i < N_LEX; i++)
        CHECK(lex_insert(tx, i % 2 ? C2 : C1, i % 2 ? &c_bob : &c_alice, MR_RULE, lex_texts[i],
                         false, false, &ids[i]));
    CHECK(mr_store_commit(tx, &err) == 0);
    CHECK(postings_state(url, drift, count));
    CHECK_STR(drift, "0");
    CHECK(atol(count) > 20); /* "the and of" holds none: stop words only */

    /* A content update replaces the row's postings; is_shared alone flips its flag. */
    C_BEGIN(s, tx);
    struct mr_memory m;
    CHECK(mr_store_mem_get_by_id(tx, ids[2], &m, &err) == 0);
    free(m.content);
    m.content = mr_xstrdup("Quarterly revenue by region and by product line");
    CHECK(mr_store_mem_update(tx, &m, false, &err) == 0);
    mr_memory_clear(&m);
    CHECK(mr_store_mem_get_by_id(tx, ids[3], &m, &err) == 0);
    m.is_shared = true;
    CHECK(mr_store_mem_update(tx, &m, false, &err) == 0);
    mr_memory_clear(&m);
    CHECK(mr_store_commit(tx, &err) == 0);
    CHECK(postings_state(url, drift, count));
    CHECK_STR(drift, "0");
    CHECK(sql_value(url, "SELECT count(*) FROM memori_lex_postings WHERE shared", count,
                    sizeof count));
    CHECK(atol(count) > 0);
    CHECK(sql_value(url, "SELECT count(*) FROM memori_lex_postings WHERE term = 'quarter'", count,
                    sizeof count));
    CHECK_STR(count, "1");

    /* An archival changes no posting (nor fires the trigger: same xmin). */
    CHECK(sql_value(url,
                    "SELECT md5(string_agg(xmin::text, ',' ORDER BY memory_id, term)) FROM "
                    "memori_lex_postings",
                    before, sizeof before));
    CHECK(
        sql_value(url, "UPDATE memori_memories SET is_archived = true, access_count = 3", NULL, 0));
    char xmins[64];
    CHECK(sql_value(url,
                    "SELECT md5(string_agg(xmin::text, ',' ORDER BY memory_id, term)) FROM "
                    "memori_lex_postings",
                    xmins, sizeof xmins));
    CHECK_STR(xmins, before);
    CHECK(sql_value(url, "UPDATE memori_memories SET is_archived = false", NULL, 0));

    /* An owner change moves the row's postings to the new partition. */
    char sql[256];
    snprintf(sql, sizeof sql, "UPDATE memori_memories SET user_id = 'carol' WHERE id = %lld",
             (long long)ids[1]);
    CHECK(sql_value(url, sql, NULL, 0));
    CHECK(postings_state(url, drift, count));
    CHECK_STR(drift, "0");
    CHECK(sql_value(url, "SELECT count(*) FROM memori_lex_postings WHERE user_id = 'carol'", count,
                    sizeof count));
    CHECK(atol(count) > 0);

    /* A rolled-back create, update and delete leave the postings as they were. */
    CHECK(postings_state(url, drift, before));
    C_BEGIN(s, tx);
    CHECK(lex_insert(tx, C1, &c_alice, MR_RULE, "brand new words here", false, false, NULL));
    CHECK(mr_store_mem_get_by_id(tx, ids[0], &m, &err) == 0);
    free(m.content);
    m.content = mr_xstrdup("something else entirely");
    CHECK(mr_store_mem_update(tx, &m, false, &err) == 0);
    CHECK(mr_store_mem_delete(tx, m.memory_id, &err) == 0);
    mr_memory_clear(&m);
    mr_store_rollback(tx);
    CHECK(postings_state(url, drift, count));
    CHECK_STR(drift, "0");
    CHECK_STR(count, before);

    /* A delete, then a conversation's cascade, take their postings with them. */
    C_BEGIN(s, tx);
    CHECK(mr_store_mem_get_by_id(tx, ids[0], &m, &err) == 0);
    CHECK(mr_store_mem_delete(tx, m.memory_id, &err) == 0);
    mr_memory_clear(&m);
    CHECK(mr_store_commit(tx, &err) == 0);
    CHECK(postings_state(url, drift, count));
    CHECK_STR(drift, "0");
    CHECK(atol(count) < atol(before));
    C_BEGIN(s, tx);
    CHECK(mr_store_conv_delete(tx, C2, &err) == 0);
    CHECK(mr_store_commit(tx, &err) == 0);
    CHECK(postings_state(url, drift, count));
    CHECK_STR(drift, "0");
    CHECK(sql_value(url,
                    "SELECT count(*) FROM memori_lex_postings p WHERE NOT EXISTS (SELECT 1 "
                    "FROM memori_memories m WHERE m.id = p.memory_id)",
                    count, sizeof count));
    CHECK_STR(count, "0");
    CHECK(sql_value(url, LEX_STATS_DRIFT, drift, sizeof drift));
    CHECK_STR(drift, "0");
    mr_conversation_clear(&c);
    mr_conversation_clear(&cb);
    mr_store_close(s);
}

/*
 * A database at version 5 (no postings: the table, function and triggers
 * gone) gets them from migration 6's back-fill, exact, and its searches
 * rank as the in-process index does.
 */
TEST(test_pg_postings_backfill_covers_older_memories)
{
    enum { ROWS = 700 };
    char url[256], v[64];
    CHECK(new_database(url, sizeof url));
    struct mr_store *s = open_url(url, 2);
    CHECK(s);
    struct mr_err err;
    struct mr_store_tx *tx;
    struct mr_conversation c;
    struct mr_lex_index *ix = mr_lex_index_new();
    C_BEGIN(s, tx);
    c_conv(&c, C1, &c_alice, 1);
    CHECK(mr_store_conv_insert(tx, &c, &err) == 0);
    for (int i = 0; i < ROWS; i++) {
        char text[256];
        snprintf(text, sizeof text, "%s n%d", lex_texts[i % N_LEX], i % 37);
        int64_t id;
        CHECK(lex_insert(tx, C1, &c_alice, MR_LONG_TERM, text, false, false, &id));
        mr_lex_index_put(ix, id, text, strlen(text));
    }
    CHECK(mr_store_commit(tx, &err) == 0);
    mr_store_close(s);
    CHECK(sql_value(url,
                    "DROP TRIGGER memori_lex_post_write ON memori_memories;"
                    "DROP TRIGGER memori_lex_post_change ON memori_memories;"
                    "DROP FUNCTION memori_lex_postings(); DROP TABLE memori_lex_postings;"
                    "UPDATE memori_schema SET version = 6",
                    NULL, 0));
    s = open_url(url, 2);
    CHECK(s);
    CHECK(sql_value(url, "SELECT max(version) FROM memori_schema", v, sizeof v));
    CHECK_STR(v, "8");
    char drift[32], count[32];
    CHECK(postings_state(url, drift, count));
    CHECK_STR(drift, "0");
    CHECK(sql_value(url, "SELECT sum(cardinality(lex_terms)) FROM memori_memories", v, sizeof v));
    CHECK_STR(count, v);
    CHECK(atol(count) > ROWS);
    static const char *const queries[] = {"order lines", "customer refund", "revenue n12", "n36"};
    for (size_t q = 0; q < sizeof queries / sizeof *queries; q++)
        lex_compare(s, ix, queries[q]);
    /* Written after the migration: kept by the triggers again. */
    C_BEGIN(s, tx);
    CHECK(lex_insert(tx, C1, &c_alice, MR_LONG_TERM, "one more order line", false, false, NULL));
    CHECK(mr_store_commit(tx, &err) == 0);
    CHECK(postings_state(url, drift, count));
    CHECK_STR(drift, "0");
    mr_lex_index_destroy(ix);
    mr_conversation_clear(&c);
    mr_store_close(s);
}

struct lex_want {
    const bool *ok; /* by row id - base */
    int64_t base;
};

static bool lex_accept_wanted(void *arg, int64_t id)
{
    const struct lex_want *w = arg;
    return w->ok[id - w->base];
}

/*
 * When the filters remove most of the best BM25 rows (archived ones, and
 * ones of another type), the lexical side still returns `limit` results
 * where they exist: the in-process index's, in its order with its scores.
 */
TEST(test_pg_lexical_search_fills_the_limit_past_filtered_rows)
{
    enum { ROWS = 300 };
    char url[256];
    CHECK(new_database(url, sizeof url));
    struct mr_store *s = open_url(url, 2);
    CHECK(s);
    struct mr_err err;
    struct mr_store_tx *tx;
    struct mr_conversation c;
    struct mr_lex_index *ix = mr_lex_index_new();
    static bool live[ROWS + 1], live_rule[ROWS + 1];
    int64_t base = 0;
    C_BEGIN(s, tx);
    c_conv(&c, C1, &c_alice, 1);
    CHECK(mr_store_conv_insert(tx, &c, &err) == 0);
    for (int i = 0; i < ROWS; i++) {
        /* The first 250 say "refund" three times: they outrank the rest, and are filtered. */
        bool strong = i < 250;
        char text[256];
        snprintf(text, sizeof text, "%s r%d",
                 strong ? "refund refund refund policy"
                        : "a refund is issued once the order is back",
                 i);
        enum mr_memory_type t = strong && i % 2 ? MR_ENTITY : MR_RULE;
        bool archived = strong && i % 2 == 0;
        int64_t id;
        CHECK(lex_insert(tx, C1, &c_alice, t, text, false, archived, &id));
        if (i == 0)
            base = id;
        CHECK(id - base < ROWS); /* ids are dense here */
        live[id - base] = !archived;
        live_rule[id - base] = !archived && t == MR_RULE;
        mr_lex_index_put(ix, id, text, strlen(text));
    }
    CHECK(mr_store_commit(tx, &err) == 0);
    struct mr_lex_terms *t = mr_lex_terms_new("refund", 6);
    for (int pass = 0; pass < 2; pass++) {
        /* pass 0: live rows (125 strong ones pass); pass 1: live rules (none of the strong). */
        struct mr_index_query iq = {.now = 100, .limit = 10};
        if (pass == 1)
            iq.type_mask = 1u << MR_RULE;
        struct lex_want w = {pass ? live_rule : live, base};
        struct mr_lex_hit want[10], *got = NULL;
        double want_max = 0, got_max = 0;
        size_t nw = mr_lex_index_search(ix, t, lex_accept_wanted, &w, 10, want, &want_max), ng = 0;
        CHECK_INT(nw, 10);
        C_BEGIN(s, tx);
        CHECK(mr_store_mem_lex_search(tx, &c_alice, &iq, t, 10, &got, &ng, &got_max, &err) == 0);
        mr_store_rollback(tx);
        CHECK_INT(ng, 10);
        CHECK(got_max == want_max);
        for (size_t i = 0; i < ng && i < nw; i++) {
            CHECK_INT(got[i].id, want[i].id);
            CHECK(got[i].bm25 == want[i].bm25);
            CHECK(w.ok[got[i].id - base]);
        }
        free(got);
    }
    mr_lex_terms_free(t);
    mr_lex_index_destroy(ix);
    mr_conversation_clear(&c);
    mr_store_close(s);
}

/* Whether hits[0..n) hold id. */
static bool hits_hold(const struct mr_lex_hit *hits, size_t n, int64_t id)
{
    for (size_t i = 0; i < n; i++)
        if (hits[i].id == id)
            return true;
    return false;
}

/*
 * Other users' memories reach the lexical side through the shared postings:
 * bob's shared rule under relaxed isolation (include_shared) and the
 * tenant's knowledge (user '', a data source) in both levels; not bob's
 * unshared rule, nor his shared short-term memory (not a shareable type),
 * nor his rule once it is unshared again.
 */
TEST(test_pg_lexical_search_finds_shared_memories)
{
    char url[256];
    CHECK(new_database(url, sizeof url));
    struct mr_store *s = open_url(url, 2);
    CHECK(s);
    struct mr_err err;
    struct mr_store_tx *tx;
    struct mr_conversation c, cb, ck;
    static const struct mr_identity tenant = {"", "t1"};
    static const char CK[] = "33333333-3333-4333-8333-333333333333";
    int64_t own, shared, unshared, shared_short, knowledge;
    C_BEGIN(s, tx);
    c_conv(&c, C1, &c_alice, 1);
    c_conv(&cb, C2, &c_bob, 1);
    c_conv(&ck, CK, &tenant, 1);
    CHECK(mr_store_conv_insert(tx, &c, &err) == 0);
    CHECK(mr_store_conv_insert(tx, &cb, &err) == 0);
    CHECK(mr_store_conv_insert(tx, &ck, &err) == 0);
    CHECK(lex_insert(tx, C1, &c_alice, MR_RULE, "invoices are paid monthly", false, false, &own));
    CHECK(lex_insert(tx, C2, &c_bob, MR_RULE, "invoices carry a tax code", true, false, &shared));
    CHECK(lex_insert(tx, C2, &c_bob, MR_RULE, "invoices older than a year are archived", false,
                     false, &unshared));
    CHECK(lex_insert(tx, C2, &c_bob, MR_SHORT_TERM, "invoices were discussed today", true, false,
                     &shared_short));
    struct mr_memory m;
    c_mem(&m, CK, &tenant, MR_ENTITY, 0.5, 1);
    free(m.content);
    m.content = mr_xstrdup("Table invoices: one row per invoice");
    m.is_shared = true;
    m.has_data_source_id = true;
    m.data_source_id = 7;
    CHECK(mr_store_mem_insert(tx, &m, &err) == 0);
    knowledge = m.id;
    mr_memory_clear(&m);
    CHECK(mr_store_commit(tx, &err) == 0);
    struct mr_lex_terms *t = mr_lex_terms_new("invoices", 8);
    for (int relaxed = 0; relaxed < 2; relaxed++) {
        struct mr_index_query iq = {.now = 100, .limit = 10, .include_shared = relaxed};
        struct mr_lex_hit *got = NULL;
        size_t n = 0;
        C_BEGIN(s, tx);
        CHECK(mr_store_mem_lex_search(tx, &c_alice, &iq, t, 10, &got, &n, NULL, &err) == 0);
        mr_store_rollback(tx);
        CHECK(hits_hold(got, n, own));
        CHECK(hits_hold(got, n, knowledge));
        CHECK(hits_hold(got, n, shared) == (bool)relaxed);
        CHECK(!hits_hold(got, n, unshared));
        CHECK(!hits_hold(got, n, shared_short));
        CHECK_INT(n, relaxed ? 3 : 2);
        free(got);
    }
    /* Unshared again: no longer found by alice. */
    C_BEGIN(s, tx);
    CHECK(mr_store_mem_get_by_id(tx, shared, &m, &err) == 0);
    m.is_shared = false;
    CHECK(mr_store_mem_update(tx, &m, false, &err) == 0);
    mr_memory_clear(&m);
    CHECK(mr_store_commit(tx, &err) == 0);
    struct mr_index_query iq = {.now = 100, .limit = 10, .include_shared = true};
    struct mr_lex_hit *got = NULL;
    size_t n = 0;
    C_BEGIN(s, tx);
    CHECK(mr_store_mem_lex_search(tx, &c_alice, &iq, t, 10, &got, &n, NULL, &err) == 0);
    mr_store_rollback(tx);
    CHECK(!hits_hold(got, n, shared));
    CHECK_INT(n, 2);
    free(got);
    mr_lex_terms_free(t);
    mr_conversation_clear(&c);
    mr_conversation_clear(&cb);
    mr_conversation_clear(&ck);
    mr_store_close(s);
}

/* A read transaction, as a search opens one. */
#define R_BEGIN(store, tx)                                                                         \
    do {                                                                                           \
        struct mr_err e_;                                                                          \
        CHECK(mr_store_begin((store), MR_TX_READ, &(tx), &e_) == 0);                               \
    } while (0)

/* A hybrid search's two sides as one test sees them: their hits and the normaliser. */
struct sides {
    struct mr_index_hit *vec;
    size_t n_vec;
    struct mr_lex_hit *lex;
    size_t n_lex;
    double max;
    struct mr_lex_hit *all; /* pipelined only: every scored memory, by id */
    size_t n_all;
};

static void sides_free(struct sides *x)
{
    free(x->vec);
    free(x->lex);
    free(x->all);
    memset(x, 0, sizeof *x);
}

/* Both sides in tx: pipelined (mem_sides_search) or one op after the other. */
static int sides_run(struct mr_store_tx *tx, bool pipelined, const struct mr_index_query *q,
                     const struct mr_lex_terms *t, struct sides *out, struct mr_err *err)
{
    memset(out, 0, sizeof *out);
    if (pipelined)
        return mr_store_mem_sides_search(tx, &c_alice, q, t, 10, &out->vec, &out->n_vec, &out->lex,
                                         &out->n_lex, &out->max, &out->all, &out->n_all, err);
    int rc = mr_store_mem_vector_search(tx, &c_alice, q, &out->vec, &out->n_vec, err);
    if (rc == 0)
        rc =
            mr_store_mem_lex_search(tx, &c_alice, q, t, 10, &out->lex, &out->n_lex, &out->max, err);
    return rc;
}

/* The first memories of the pipeline tests: alice's, words and vectors both matching. */
static void sides_fill(struct mr_store *s, int n)
{
    struct mr_err err;
    struct mr_store_tx *tx;
    struct mr_conversation c;
    C_BEGIN(s, tx);
    c_conv(&c, C1, &c_alice, 1);
    CHECK(mr_store_conv_insert(tx, &c, &err) == 0);
    for (int i = 0; i < n; i++) {
        char text[96];
        snprintf(text, sizeof text, "%s refund policy number %d",
                 i % 3 ? "the orders" : "customers ask about the", i);
        CHECK(lex_insert(tx, C1, &c_alice, i % 2 ? MR_RULE : MR_LONG_TERM, text, false, i % 7 == 0,
                         NULL));
    }
    CHECK(mr_store_commit(tx, &err) == 0);
    mr_conversation_clear(&c);
}

/*
 * mem_sides_search gives exactly the two ops' answers, and it makes the
 * read transaction it opens REPEATABLE READ: a memory committed after it
 * ran is not seen by the transaction's later statements.
 */
TEST(test_pg_sides_search_is_both_ops_in_one_snapshot)
{
    char url[256];
    CHECK(new_database(url, sizeof url));
    struct mr_store *s = open_url(url, 2);
    CHECK(s);
    sides_fill(s, 40);
    struct mr_err err;
    struct mr_store_tx *tx;
    float qv[CDIM];
    seeded_vec(qv, 3);
    struct mr_lex_terms *t = mr_lex_terms_new("refund for customers", 20);
    struct mr_index_query q = {
        .vec = qv, .dim = CDIM, .now = 100, .limit = 12, .min_score = -INFINITY};
    struct sides a, b;
    R_BEGIN(s, tx);
    CHECK(sides_run(tx, false, &q, t, &a, &err) == 0);
    mr_store_rollback(tx);
    R_BEGIN(s, tx);
    CHECK(sides_run(tx, true, &q, t, &b, &err) == 0);
    CHECK_INT(b.n_vec, a.n_vec);
    CHECK_INT(b.n_lex, a.n_lex);
    CHECK(a.n_vec == 12 && a.n_lex == 10);
    CHECK(b.max == a.max);
    for (size_t i = 0; i < a.n_vec && i < b.n_vec; i++)
        CHECK(b.vec[i].id == a.vec[i].id && b.vec[i].score == a.vec[i].score);
    for (size_t i = 0; i < a.n_lex && i < b.n_lex; i++)
        CHECK(b.lex[i].id == a.lex[i].id && b.lex[i].bm25 == a.lex[i].bm25 &&
              b.lex[i].lexical == a.lex[i].lexical);
    /* out_all: mem_lex_score's BM25 of each memory, 0 for one it does not hold. */
    CHECK(b.n_all >= b.n_lex);
    for (size_t i = 0; i + 1 < b.n_all; i++)
        CHECK(b.all[i].id < b.all[i + 1].id);
    for (int64_t id = 1; id <= 40; id++) {
        double want = -1, got_bm25 = 0;
        CHECK(mr_store_mem_lex_score(tx, &c_alice, t, &id, 1, &want, NULL, &err) == 0);
        for (size_t i = 0; i < b.n_all; i++)
            if (b.all[i].id == id)
                got_bm25 = b.all[i].bm25;
        CHECK(got_bm25 == want);
    }
    char iso[32];
    PGresult *res = PQexec(pg_tx_conn(tx)->pg, "SHOW transaction_isolation");
    snprintf(iso, sizeof iso, "%s", PQntuples(res) ? PQgetvalue(res, 0, 0) : "");
    PQclear(res);
    CHECK(strcmp(iso, "repeatable read") == 0);
    /* A memory committed meanwhile: the transaction's snapshot holds neither it nor its statistics.
     */
    CHECK(sql_value(url,
                    "INSERT INTO memori_memories(memory_id, conversation_id, user_id, tenant_id, "
                    "content, memory_type, embedding, importance_score, access_count, metadata, "
                    "context_tags, related_entities, is_archived, is_shared, created_at, "
                    "updated_at, lex_terms, lex_tfs, lex_len) SELECT gen_random_uuid(), "
                    "conversation_id, user_id, tenant_id, 'refund', memory_type, embedding, "
                    "importance_score, access_count, metadata, context_tags, related_entities, "
                    "false, false, created_at, updated_at, ARRAY['refund'], ARRAY[9], 9 "
                    "FROM memori_memories WHERE NOT is_archived LIMIT 1",
                    NULL, 0));
    struct mr_lex_hit *later = NULL;
    size_t n_later = 0;
    double later_max = 0;
    CHECK(mr_store_mem_lex_search(tx, &c_alice, &q, t, 10, &later, &n_later, &later_max, &err) ==
          0);
    CHECK_INT(n_later, a.n_lex);
    CHECK(n_later > 0 && later[0].id == a.lex[0].id && later_max == a.max);
    free(later);
    mr_store_rollback(tx);
    /* A new transaction sees it first. */
    R_BEGIN(s, tx);
    CHECK(mr_store_mem_lex_search(tx, &c_alice, &q, t, 10, &later, &n_later, &later_max, &err) ==
          0);
    CHECK(n_later > 0 && later_max != a.max); /* one more document: other idfs */
    free(later);
    mr_store_rollback(tx);
    sides_free(&a);
    sides_free(&b);
    mr_lex_terms_free(t);
    mr_store_close(s);
}

/*
 * Migration 8 rebuilds migration 6's conversation index with the walks'
 * columns INCLUDEd, under the same name, and a database set back to 7 (the
 * index already rebuilt) or to 6 with the old index back re-runs it into
 * the same index; the walks are then index-only scans.
 */
TEST(test_pg_conversation_index_includes_what_the_walks_read)
{
    char url[256], v[256];
    CHECK(new_database(url, sizeof url));
    struct mr_store *s = open_url(url, 1);
    CHECK(s);
    mr_store_close(s);
    static const char def[] = "SELECT indexdef FROM pg_indexes "
                              "WHERE indexname = 'memori_memories_conversation_id'";
    static const char want[] = "CREATE INDEX memori_memories_conversation_id ON "
                               "public.memori_memories USING btree (conversation_id, id) "
                               "INCLUDE (tenant_id, user_id, memory_type)";
    CHECK(sql_value(url, def, v, sizeof v));
    CHECK_STR(v, want);
    CHECK(sql_value(url, "UPDATE memori_schema SET version = 7", NULL, 0));
    s = open_url(url, 1);
    CHECK(s);
    mr_store_close(s);
    CHECK(sql_value(url, def, v, sizeof v));
    CHECK_STR(v, want);
    CHECK(sql_value(url,
                    "DROP INDEX memori_memories_conversation_id;"
                    "CREATE INDEX memori_memories_conversation_id "
                    "  ON memori_memories(conversation_id, id);"
                    "UPDATE memori_schema SET version = 6",
                    NULL, 0));
    s = open_url(url, 1);
    CHECK(s);
    mr_store_close(s);
    CHECK(sql_value(url, def, v, sizeof v));
    CHECK_STR(v, want);
    CHECK(sql_value(url, "SELECT max(version) FROM memori_schema", v, sizeof v));
    CHECK_STR(v, "8");
    CHECK(sql_value(url,
                    "SELECT count(*) FROM pg_indexes WHERE tablename = 'memori_memories' "
                    "AND indexdef LIKE '%(conversation_id, id)%'",
                    v, sizeof v));
    CHECK_STR(v, "1");
}

/*
 * The walks, their start and the lexical filter check find their rows by
 * the index meant for them (primary key, conversation index), never by the
 * owner index filtering the owner's partition, whatever the statistics: on
 * a table never analysed (a new database, as the benchmarks' first
 * minute) the planner's guesses made the owner index look cheapest, or a
 * bitmap of the conversation's whole past then a sort, and its generic
 * plan kept reading every row of the partition per walk
 * (docs/perf.md, "Plans that do not depend on the statistics").
 */
TEST(test_pg_walks_do_not_depend_on_the_statistics)
{
    char url[256];
    CHECK(new_database(url, sizeof url));
    struct mr_store *s = open_url(url, 1);
    CHECK(s);
    mr_store_close(s);
    static const struct {
        enum pg_stmt id;
        const char *args;
    } stmts[] = {
        {P_MEM_CONTEXT, "('{1,2,3}', 't', 'u', '{short_term,long_term}', '{1}', true)"},
        {P_MEM_NEIGHBOURS, "('{1,2,3}', 't', 'u', '{short_term,long_term}', '{a,b}')"},
        {P_MEM_LEX_FILTER, "('t', 'u', false, NULL, NULL, false, 0, '{1,2,3}')"},
        {P_MEM_SIDES_CONTEXT, "('{1,2,3}', 't', 'u', '{short_term,long_term}', '{4,5,6}', true, "
                              "false, NULL, NULL, false, 0, 2)"},
    };
    PGconn *pg = PQconnectdb(url);
    CHECK(PQstatus(pg) == CONNECTION_OK);
    /* The plan a pooled connection keeps, on the table as the migrations left it: not analysed. */
    PQclear(PQexec(pg, "SET plan_cache_mode = force_generic_plan"));
    for (size_t i = 0; i < sizeof stmts / sizeof stmts[0]; i++) {
        struct mr_strbuf sql = {0};
        mr_strbuf_printf(&sql, "PREPARE s%zu AS %s", i, pg_stmt_sql[stmts[i].id]);
        PGresult *res = PQexec(pg, sql.s);
        CHECK(PQresultStatus(res) == PGRES_COMMAND_OK);
        PQclear(res);
        mr_strbuf_free(&sql);
        mr_strbuf_printf(&sql, "EXPLAIN EXECUTE s%zu%s", i, stmts[i].args);
        res = PQexec(pg, sql.s);
        CHECK(PQresultStatus(res) == PGRES_TUPLES_OK);
        struct mr_strbuf plan = {0};
        for (int r = 0; r < PQntuples(res); r++)
            mr_strbuf_printf(&plan, "%s\n", PQgetvalue(res, r, 0));
        PQclear(res);
        mr_strbuf_free(&sql);
        if (strstr(plan.s, "memori_memories_owner"))
            fprintf(stderr, "statement %d's plan:\n%s", (int)stmts[i].id, plan.s);
        CHECK(!strstr(plan.s, "memori_memories_owner"));
        /* A walk reads its conversation in order to its third turn, not all of it then a sort. */
        CHECK(!strstr(plan.s, "Bitmap Index Scan on memori_memories_conversation_id"));
        if (stmts[i].id != P_MEM_LEX_FILTER)
            CHECK(strstr(plan.s, "memori_memories_conversation_id"));
        mr_strbuf_free(&plan);
    }
    PQfinish(pg);
}

/* Whether id is one of v[0..n). */
static bool among(const int64_t *v, size_t n, int64_t id)
{
    for (size_t i = 0; i < n; i++)
        if (v[i] == id)
            return true;
    return false;
}

/*
 * mem_context is mem_neighbours' windows and mem_candidates' embeddings in
 * one statement: the same windows (the owner's turns only, by id, whatever
 * lies between, three each side), and exactly the embeddings of the ids, of
 * the first turns around the wide ones and, with around_vecs, of every id's
 * first and second turns and the wide ones' third turns: each once,
 * ascending, the stored bits; an absent id is absent.
 */
TEST(test_pg_context_is_the_neighbours_and_their_embeddings_in_one_statement)
{
    char url[256];
    CHECK(new_database(url, sizeof url));
    struct mr_store *s = open_url(url, 2);
    CHECK(s);
    struct mr_err err;
    struct mr_store_tx *tx;
    struct mr_conversation c;
    /* C1's memories in id order: turns (s, l), other types (r, e), bob's turn (b), C2's (x). */
    const char kinds[] = "slrssblexsslsr";
    int64_t id[sizeof kinds - 1];
    C_BEGIN(s, tx);
    c_conv(&c, C1, &c_alice, 1);
    CHECK(mr_store_conv_insert(tx, &c, &err) == 0);
    mr_conversation_clear(&c);
    c_conv(&c, C2, &c_alice, 1);
    CHECK(mr_store_conv_insert(tx, &c, &err) == 0);
    mr_conversation_clear(&c);
    for (size_t i = 0; i < sizeof kinds - 1; i++) {
        struct mr_memory m;
        char k = kinds[i];
        c_mem(&m, k == 'x' ? C2 : C1, k == 'b' ? &c_bob : &c_alice,
              k == 's' || k == 'b' || k == 'x' ? MR_SHORT_TERM
              : k == 'l'                       ? MR_LONG_TERM
              : k == 'r'                       ? MR_RULE
                                               : MR_ENTITY,
              0.5, (int64_t)i + 1);
        seeded_vec(m.embedding, 40 + (unsigned)i);
        CHECK(mr_store_mem_insert(tx, &m, &err) == 0);
        id[i] = m.id;
        mr_memory_clear(&m);
    }
    CHECK(mr_store_commit(tx, &err) == 0);
    /* Turns at both ends, in the middle, a rule, bob's turn, C2's, and an id that does not exist.
     */
    const int64_t ids[] = {id[0], id[7], id[2], id[5], id[8], id[11], id[13], 999999};
    const size_t n = sizeof ids / sizeof ids[0];
    /* id[0]'s third turn after (id[4]) is no one's second: read only if id[0] were wide. */
    const int64_t wide[] = {id[11], id[2]};
    const size_t n_wide = sizeof wide / sizeof wide[0];
    R_BEGIN(s, tx);
    enum { W = MR_STORE_WINDOW, B3 = 0, B2, B1, A1, A2, A3 };
    int64_t want_around[W * 8];
    double bm25[W * 8];
    CHECK(mr_store_mem_neighbours(tx, &c_alice, NULL, ids, n, want_around, bm25, &err) == 0);
    /* The windows mem_neighbours gives: alice's turns of C1 only, skipping r, e and bob's. */
    CHECK(!want_around[B3] && !want_around[B2] && !want_around[B1]);
    CHECK(want_around[A1] == id[1] && want_around[A2] == id[3] && want_around[A3] == id[4]);
    CHECK(want_around[W * 5 + B3] == id[6] && want_around[W * 5 + B2] == id[9]);
    CHECK(want_around[W * 5 + B1] == id[10] && want_around[W * 5 + A1] == id[12]);
    CHECK(!want_around[W * 5 + A2] && !want_around[W * 5 + A3]);
    for (size_t i = W; i < W * 5; i++)
        CHECK(!want_around[i]); /* an entity, a rule, bob's turn, C2's only turn */
    for (int around_vecs = 0; around_vecs < 2; around_vecs++) {
        int64_t around[W * 8];
        int64_t *vid = NULL;
        float *vv = NULL;
        size_t nv = 0;
        CHECK(mr_store_mem_context(tx, &c_alice, ids, n, wide, n_wide, around_vecs, CDIM, around,
                                   &vid, &vv, &nv, &err) == 0);
        CHECK(memcmp(around, want_around, sizeof around) == 0);
        /*
         * The rows it must read, each once: the ids; the first turns of the
         * wide ones, or of all with around_vecs; then the second turns of
         * all and the wide ones' third.
         */
        int64_t want[64];
        size_t nw = 0;
        for (size_t i = 0; i < n; i++) {
            bool is_wide = among(wide, n_wide, ids[i]);
            const int64_t *w = want_around + W * i;
            int64_t add[7] = {ids[i], 0, 0, 0, 0, 0, 0};
            if (is_wide || around_vecs) {
                add[1] = w[B1];
                add[2] = w[A1];
            }
            if (around_vecs) {
                add[3] = w[B2];
                add[4] = w[A2];
            }
            if (is_wide && around_vecs) {
                add[5] = w[B3];
                add[6] = w[A3];
            }
            for (int k = 0; k < 7; k++)
                if (add[k] && !among(want, nw, add[k]))
                    want[nw++] = add[k];
        }
        float *wv = mr_xcalloc(nw * CDIM, sizeof *wv);
        bool found[64];
        double wb[64], wmax;
        CHECK(mr_store_mem_candidates(tx, &c_alice, NULL, want, nw, CDIM, wv, found, wb, &wmax,
                                      &err) == 0);
        size_t n_found = 0;
        for (size_t i = 0; i < nw; i++) {
            if (!found[i])
                continue;
            n_found++;
            size_t j = 0;
            while (j < nv && vid[j] != want[i])
                j++;
            CHECK(j < nv);
            if (j < nv)
                CHECK(memcmp(vv + j * CDIM, wv + i * CDIM, CDIM * sizeof *vv) == 0);
        }
        CHECK_INT(n_found, nw - 1); /* all but 999999 */
        CHECK(!among(vid, nv, 999999));
        /*
         * Any other row it read is a turn of a window whose turns the scores
         * may read: every id's with around_vecs, else the wide ones'.
         */
        for (size_t j = 0; j < nv; j++) {
            bool known = among(want, nw, vid[j]);
            for (size_t i = 0; !known && i < n; i++)
                if (around_vecs || among(wide, n_wide, ids[i]))
                    known = among(want_around + W * i, W, vid[j]);
            CHECK(known);
        }
        for (size_t j = 0; j + 1 < nv; j++)
            CHECK(vid[j] < vid[j + 1]);
        /* With around_vecs, more rows: the windows' turns of every id. */
        CHECK(around_vecs ? nv > n : nv <= n + W * n_wide);
        free(wv);
        free(vid);
        free(vv);
    }
    mr_store_rollback(tx);
    mr_store_close(s);
}

static int cmp_int64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/*
 * mem_sides_context is mem_sides_search then mem_context on its hits, to
 * the bit: the same hits, normaliser and BM25s, the windows of the hits by
 * id, the same embeddings; with no filter, with filters that keep some of
 * the lexical side's best 2·k candidates, with one (rules only: their
 * best 2·k are the long-term turns) that keeps none of them so the check
 * goes deeper, with one no memory passes, and with a conversation that
 * cannot exist.
 */
TEST(test_pg_sides_context_is_sides_search_then_context)
{
    char url[256];
    CHECK(new_database(url, sizeof url));
    struct mr_store *s = open_url(url, 2);
    CHECK(s);
    struct mr_err err;
    struct mr_store_tx *tx;
    struct mr_conversation c;
    C_BEGIN(s, tx);
    c_conv(&c, C1, &c_alice, 1);
    CHECK(mr_store_conv_insert(tx, &c, &err) == 0);
    mr_conversation_clear(&c);
    for (int i = 0; i < 60; i++) {
        char text[96];
        /* The long-term turns say "refund" twice: they outrank the rules. */
        snprintf(text, sizeof text, "%s customers number %d",
                 i < 40 ? "refund refund for the" : "a refund rule for", i);
        CHECK(lex_insert(tx, C1, &c_alice, i < 40 ? MR_LONG_TERM : MR_RULE, text, false, i % 9 == 4,
                         NULL));
    }
    CHECK(mr_store_commit(tx, &err) == 0);
    float qv[CDIM];
    seeded_vec(qv, 5);
    struct mr_lex_terms *t = mr_lex_terms_new("refund customers", 16);
    static const struct {
        unsigned types;
        const char *conv;
        bool archived;
    } cases[] = {
        {0, NULL, true},
        {0, C1, false},
        {1u << MR_LONG_TERM, NULL, false},
        {1u << MR_RULE, NULL, false},
        {1u << MR_EXAMPLE, NULL, false},
        {0, "not-a-uuid", false},
    };
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        struct mr_index_query q = {.vec = qv,
                                   .dim = CDIM,
                                   .now = 100,
                                   .limit = 12,
                                   .min_score = -INFINITY,
                                   .type_mask = cases[ci].types,
                                   .conversation_id = cases[ci].conv,
                                   .include_archived = cases[ci].archived};
        for (int around_vecs = 0; around_vecs < 2; around_vecs++) {
            struct sides a;
            R_BEGIN(s, tx);
            CHECK(sides_run(tx, true, &q, t, &a, &err) == 0);
            int64_t want_ids[64];
            size_t n_want = 0;
            for (size_t i = 0; i < a.n_vec + a.n_lex; i++) {
                int64_t id = i < a.n_vec ? a.vec[i].id : a.lex[i - a.n_vec].id;
                if (!among(want_ids, n_want, id))
                    want_ids[n_want++] = id;
            }
            qsort(want_ids, n_want, sizeof *want_ids, cmp_int64);
            int64_t wide[16], want_around[MR_STORE_WINDOW * 64];
            for (size_t i = 0; i < a.n_lex; i++)
                wide[i] = a.lex[i].id;
            int64_t *wv_ids = NULL;
            float *wv = NULL;
            size_t n_wv = 0;
            CHECK(mr_store_mem_context(tx, &c_alice, want_ids, n_want, wide, a.n_lex, around_vecs,
                                       CDIM, want_around, &wv_ids, &wv, &n_wv, &err) == 0);
            mr_store_rollback(tx);
            struct sides b = {0};
            int64_t *ids = NULL, *around = NULL, *v_ids = NULL;
            float *vv = NULL;
            size_t n_ids = 0, n_v = 0;
            R_BEGIN(s, tx);
            CHECK(mr_store_mem_sides_context(tx, &c_alice, &q, t, 10, around_vecs, CDIM, &b.vec,
                                             &b.n_vec, &b.lex, &b.n_lex, &b.max, &b.all, &b.n_all,
                                             &ids, &around, &n_ids, &v_ids, &vv, &n_v, &err) == 0);
            mr_store_rollback(tx);
            CHECK_INT(b.n_vec, a.n_vec);
            CHECK_INT(b.n_lex, a.n_lex);
            CHECK_INT(b.n_all, a.n_all);
            CHECK(b.max == a.max);
            for (size_t i = 0; i < a.n_vec && i < b.n_vec; i++)
                CHECK(b.vec[i].id == a.vec[i].id && b.vec[i].score == a.vec[i].score);
            for (size_t i = 0; i < a.n_lex && i < b.n_lex; i++)
                CHECK(b.lex[i].id == a.lex[i].id && b.lex[i].bm25 == a.lex[i].bm25 &&
                      b.lex[i].lexical == a.lex[i].lexical);
            for (size_t i = 0; i < a.n_all && i < b.n_all; i++)
                CHECK(b.all[i].id == a.all[i].id && b.all[i].bm25 == a.all[i].bm25);
            CHECK_INT(n_ids, n_want);
            if (n_ids == n_want && n_ids) {
                CHECK(memcmp(ids, want_ids, n_ids * sizeof *ids) == 0);
                CHECK(memcmp(around, want_around, MR_STORE_WINDOW * n_ids * sizeof *around) == 0);
            }
            CHECK_INT(n_v, n_wv);
            if (n_v == n_wv && n_v) {
                CHECK(memcmp(v_ids, wv_ids, n_v * sizeof *v_ids) == 0);
                CHECK(memcmp(vv, wv, n_v * CDIM * sizeof *vv) == 0);
            }
            /* What each case is there for. */
            if (ci < 3)
                CHECK_INT(a.n_lex, 10);
            if (cases[ci].types == 1u << MR_RULE) /* found past the first 2·k candidates */
                CHECK(a.n_lex == 10 && a.lex[0].id > 40);
            if (cases[ci].types == 1u << MR_EXAMPLE)
                CHECK_INT(a.n_lex, 0);
            if (cases[ci].conv && !pg_is_uuid(cases[ci].conv))
                CHECK(a.n_lex == 0 && a.n_vec == 0 && a.max > 0);
            sides_free(&a);
            sides_free(&b);
            free(wv_ids);
            free(wv);
            free(ids);
            free(around);
            free(v_ids);
            free(vv);
        }
    }
    mr_lex_terms_free(t);
    mr_store_close(s);
}

static int backend_pid(struct mr_store *s)
{
    struct mr_store_tx *tx;
    struct mr_err err;
    if (mr_store_begin(s, MR_TX_READ, &tx, &err) != 0)
        return -1;
    int pid = PQbackendPID(pg_tx_conn(tx)->pg);
    mr_store_rollback(tx);
    return pid;
}

/*
 * A statement that fails inside the pipeline (the postings replaced by a
 * view that divides by zero) comes back as the error the lexical op gives
 * when run alone; the connection is drained to the Sync and out of
 * pipeline mode, so the pool's one connection serves the next searches
 * (the same backend) once the table is back.
 */
TEST(test_pg_failed_pipeline_statement_leaves_the_connection_usable)
{
    char url[256];
    CHECK(new_database(url, sizeof url));
    struct mr_store *s = open_url(url, 1);
    CHECK(s);
    sides_fill(s, 20);
    struct mr_err err, seq_err;
    struct mr_store_tx *tx;
    float qv[CDIM];
    seeded_vec(qv, 5);
    struct mr_lex_terms *t = mr_lex_terms_new("refund orders", 13);
    struct mr_index_query q = {
        .vec = qv, .dim = CDIM, .now = 100, .limit = 8, .min_score = -INFINITY};
    struct sides got;
    int pid = backend_pid(s);
    CHECK(pid > 0);
    CHECK(sql_value(url,
                    "ALTER TABLE memori_lex_postings RENAME TO memori_lex_postings_away; "
                    "CREATE VIEW memori_lex_postings AS SELECT tenant_id, user_id, term, "
                    "memory_id, tf / 0 AS tf, len, shared FROM memori_lex_postings_away",
                    NULL, 0));
    R_BEGIN(s, tx);
    int seq = sides_run(tx, false, &q, t, &got, &seq_err);
    sides_free(&got);
    mr_store_rollback(tx);
    CHECK_INT(seq, MR_EINVAL); /* division by zero: SQLSTATE class 22 */
    for (int round = 0; round < 3; round++) {
        R_BEGIN(s, tx);
        int rc = sides_run(tx, true, &q, t, &got, &err);
        CHECK_INT(rc, seq);
        CHECK(strcmp(err.msg, seq_err.msg) == 0);
        CHECK(got.vec == NULL && got.lex == NULL && got.n_vec == 0 && got.n_lex == 0);
        CHECK(PQpipelineStatus(pg_tx_conn(tx)->pg) == PQ_PIPELINE_OFF);
        mr_store_rollback(tx);
    }
    CHECK(sql_value(url,
                    "DROP VIEW memori_lex_postings; "
                    "ALTER TABLE memori_lex_postings_away RENAME TO memori_lex_postings",
                    NULL, 0));
    CHECK_INT(backend_pid(s), pid);
    R_BEGIN(s, tx);
    CHECK(sides_run(tx, true, &q, t, &got, &err) == 0);
    CHECK_INT(got.n_vec, 8);
    CHECK(got.n_lex > 0);
    mr_store_rollback(tx);
    sides_free(&got);
    CHECK_INT(backend_pid(s), pid);
    mr_lex_terms_free(t);
    mr_store_close(s);
}

/*
 * The server gone between a search's BEGIN and its pipeline: the search
 * fails as the sequential statements fail (unavailable), the dead
 * connection is not pooled again, and the next search, once the server is
 * back, runs on a new one.
 */
TEST(test_pg_pipeline_with_the_server_gone_is_unavailable_then_recovers)
{
    char url[256];
    CHECK(new_database(url, sizeof url));
    struct mr_store *s = open_url(url, 1);
    CHECK(s);
    sides_fill(s, 20);
    struct mr_err err, seq_err;
    struct mr_store_tx *tx;
    float qv[CDIM];
    seeded_vec(qv, 7);
    struct mr_lex_terms *t = mr_lex_terms_new("refund orders", 13);
    struct mr_index_query q = {
        .vec = qv, .dim = CDIM, .now = 100, .limit = 8, .min_score = -INFINITY};
    struct sides got;
    int seq = 0, rc = 0;
    for (int pipelined = 0; pipelined < 2; pipelined++) {
        R_BEGIN(s, tx);
        CHECK(pg_server_restart(pg_server_shared()) == 0);
        struct mr_err *e = pipelined ? &err : &seq_err;
        int r = sides_run(tx, pipelined, &q, t, &got, e);
        sides_free(&got);
        mr_store_rollback(tx);
        if (pipelined)
            rc = r;
        else
            seq = r;
    }
    CHECK_INT(seq, MR_EUNAVAIL);
    CHECK_INT(rc, seq);
    CHECK(strcmp(err.msg, seq_err.msg) == 0);
    R_BEGIN(s, tx);
    CHECK(sides_run(tx, true, &q, t, &got, &err) == 0);
    CHECK_INT(got.n_vec, 8);
    CHECK(got.n_lex > 0);
    mr_store_rollback(tx);
    sides_free(&got);
    mr_lex_terms_free(t);
    mr_store_close(s);
}

TEST_MAIN("store_postgres", CONTRACT_STORE_TESTS,
          T(test_pg_search_filters_in_sql_and_fills_the_limit),
          T(test_pg_lexical_scores_are_the_in_process_index_bits),
          T(test_pg_backfill_makes_older_memories_lexical),
          T(test_pg_concurrent_writers_keep_the_lexical_statistics),
          T(test_pg_postings_stay_exact_through_every_write),
          T(test_pg_postings_backfill_covers_older_memories),
          T(test_pg_lexical_search_fills_the_limit_past_filtered_rows),
          T(test_pg_lexical_search_finds_shared_memories),
          T(test_pg_sides_search_is_both_ops_in_one_snapshot),
          T(test_pg_context_is_the_neighbours_and_their_embeddings_in_one_statement),
          T(test_pg_conversation_index_includes_what_the_walks_read),
          T(test_pg_walks_do_not_depend_on_the_statistics),
          T(test_pg_sides_context_is_sides_search_then_context),
          T(test_pg_failed_pipeline_statement_leaves_the_connection_usable),
          T(test_pg_pipeline_with_the_server_gone_is_unavailable_then_recovers),
          T(test_pg_two_processes_never_lose_an_access),
          T(test_pg_concurrent_searches_never_deadlock),
          T(test_pg_reconnects_after_the_server_restarts),
          T(test_pg_unreachable_server_is_unavailable_with_the_password_masked),
          T(test_pg_schema_is_versioned_and_a_newer_one_refused),
          T(test_pg_model_change_retypes_the_vector_column),
          T(test_pg_error_details_go_to_the_log_not_the_client),
          T(test_pg_archive_and_search_never_deadlock), T(test_pg_params_past_their_bound_abort),
          T(test_pg_open_without_pgvector_fails_with_a_message))
