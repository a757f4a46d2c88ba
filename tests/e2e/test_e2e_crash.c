/*
 * Crash safety: writers drive the real server, which is killed with SIGKILL
 * at a random moment; after a restart every write that got a 2xx must be
 * there, intact, and the database must pass SQLite's integrity check.
 * MEMORI_CRASH_ROUNDS sets the rounds (20 in the suite, 100 in bench/).
 * A second test kills it during a burst of searches, whose access
 * statistics are written in batches (src/core/access.c): no acknowledged
 * create is lost, and of the statistics at most the last flush interval.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "http_client.h"
#include "test.h"

#define WRITERS 6
#define MAX_ACKS 20000

static struct server srv;
static atomic_bool stop_writing;
static pthread_mutex_t ack_lock = PTHREAD_MUTEX_INITIALIZER;
static char (*acked_ids)[37];
static char (*acked_content)[64];
static size_t n_acked;

static void *writer(void *arg)
{
    int w = (int)(intptr_t)arg;
    for (int i = 0; !atomic_load(&stop_writing); i++) {
        char body[512], content[64];
        snprintf(content, sizeof content, "writer %d entry %d %ld", w, i, random());
        snprintf(body, sizeof body,
                 "{\"content\":\"%s\",\"memory_type\":\"rule\",\"conversation_id\":"
                 "\"%08d-0000-4000-8000-000000000000\",\"metadata\":{\"i\":%d}}",
                 content, w, i);
        struct resp r;
        if (http(&srv, "POST", "/api/memories", "crash", body, SIZE_MAX, &r) == 0 &&
            r.status == 201 && jstr(r.json, "memory_id")) {
            pthread_mutex_lock(&ack_lock);
            if (n_acked < MAX_ACKS) {
                snprintf(acked_ids[n_acked], 37, "%s", jstr(r.json, "memory_id"));
                snprintf(acked_content[n_acked], 64, "%s", content);
                n_acked++;
            }
            pthread_mutex_unlock(&ack_lock);
        }
        resp_free(&r);
    }
    return NULL;
}

static bool integrity_ok(const char *path)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    bool ok = false;
    if (sqlite3_open(path, &db) == SQLITE_OK &&
        sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL) == SQLITE_OK) {
        ok = sqlite3_step(st) == SQLITE_ROW &&
             strcmp((const char *)sqlite3_column_text(st, 0), "ok") == 0;
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
    return ok;
}

TEST(test_acknowledged_writes_survive_kill_9)
{
    const char *env_rounds = getenv("MEMORI_CRASH_ROUNDS");
    int rounds = env_rounds ? atoi(env_rounds) : 20;
    acked_ids = calloc(MAX_ACKS, sizeof *acked_ids);
    acked_content = calloc(MAX_ACKS, sizeof *acked_content);
    char db[512];
    test_path(db, sizeof db, "crash.db");
    srandom((unsigned)time(NULL));
    size_t verified = 0, checked_upto = 0;
    for (int round = 0; round <= rounds; round++) {
        CHECK(server_start(&srv, db, NULL) == 0);
        /*
         * What the last round acknowledged must be there after the restart;
         * after the last round, everything ever acknowledged.
         */
        size_t from = round == rounds ? 0 : checked_upto;
        checked_upto = n_acked;
        for (size_t k = from; k < n_acked; k++) {
            char path[96];
            snprintf(path, sizeof path, "/api/memories/%s", acked_ids[k]);
            struct resp r;
            http(&srv, "GET", path, "crash", NULL, 0, &r);
            bool ok = r.status == 200 && jstr(r.json, "content") &&
                      strcmp(jstr(r.json, "content"), acked_content[k]) == 0;
            resp_free(&r);
            if (!ok) {
                test_fail(__FILE__, __LINE__, "round %d: acknowledged memory %s lost or changed",
                          round, acked_ids[k]);
                server_stop(&srv, SIGKILL);
                return;
            }
            verified++;
        }
        if (round == rounds) {
            CHECK_INT(server_stop(&srv, SIGTERM), 0);
            break;
        }
        atomic_store(&stop_writing, false);
        pthread_t th[WRITERS];
        for (int w = 0; w < WRITERS; w++)
            pthread_create(&th[w], NULL, writer, (void *)(intptr_t)w);
        struct timespec ts = {0, (50 + random() % 250) * 1000000L};
        nanosleep(&ts, NULL);
        server_stop(&srv, SIGKILL); /* mid-write, no warning */
        atomic_store(&stop_writing, true);
        for (int w = 0; w < WRITERS; w++)
            pthread_join(th[w], NULL);
        CHECK(integrity_ok(db));
    }
    fprintf(stdout, "    %d kill -9 rounds survived, %zu acknowledged writes, %zu re-checks\n",
            rounds, n_acked, verified);
    CHECK(n_acked > 0);
    free(acked_ids);
    free(acked_content);
}

#define SEARCHERS 4
#define BURST_MEMORIES 4
#define FLUSH_INTERVAL_US 100000 /* the server's default access flush interval */
/* Scheduling and commit time a loaded 2-core machine may add to the interval. */
#define FLUSH_SLACK_US 400000
#define MAX_SEARCHES 200000

static const char BURST_CONV[] = "99999999-0000-4000-8000-000000000000";
static int64_t *search_acked_at; /* monotonic us at each acknowledged search */
static int *search_hits;         /* how many results it returned */
static size_t n_searches;

static int64_t now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

static void *searcher(void *arg)
{
    (void)arg;
    char body[256];
    snprintf(body, sizeof body,
             "{\"query\":\"inventory turnover ratio\",\"conversation_id\":\"%s\","
             "\"min_similarity\":0,\"limit\":10}",
             BURST_CONV);
    while (!atomic_load(&stop_writing)) {
        struct resp r;
        if (http(&srv, "POST", "/api/memories/search", "crash", body, SIZE_MAX, &r) == 0 &&
            r.status == 200 && r.json) {
            int64_t at = now_us();
            size_t hits = json_array_size(json_object_get(r.json, "results"));
            pthread_mutex_lock(&ack_lock);
            if (n_searches < MAX_SEARCHES) {
                search_acked_at[n_searches] = at;
                search_hits[n_searches++] = (int)hits;
            }
            pthread_mutex_unlock(&ack_lock);
        }
        resp_free(&r);
    }
    return NULL;
}

/*
 * kill -9 during a search burst (with creates beside it): every create
 * acknowledged is there after the restart, and the stored access counts of
 * the searched memories hold at least every hit acknowledged one flush
 * interval (plus scheduling slack) before the kill, and no more than were
 * served (plus those in flight).
 */
TEST(test_search_burst_kill_9_loses_at_most_one_flush_interval)
{
    acked_ids = calloc(MAX_ACKS, sizeof *acked_ids);
    acked_content = calloc(MAX_ACKS, sizeof *acked_content);
    search_acked_at = calloc(MAX_SEARCHES, sizeof *search_acked_at);
    search_hits = calloc(MAX_SEARCHES, sizeof *search_hits);
    n_acked = n_searches = 0;
    char db[512], ids[BURST_MEMORIES][37];
    test_path(db, sizeof db, "crash-search.db");
    srandom((unsigned)time(NULL));
    CHECK(server_start(&srv, db, NULL) == 0);
    for (int i = 0; i < BURST_MEMORIES; i++) {
        char body[256];
        snprintf(body, sizeof body,
                 "{\"content\":\"inventory turnover ratio, variant %d\",\"memory_type\":"
                 "\"rule\",\"conversation_id\":\"%s\"}",
                 i, BURST_CONV);
        struct resp r;
        CHECK(http(&srv, "POST", "/api/memories", "crash", body, SIZE_MAX, &r) == 0);
        CHECK_INT(r.status, 201);
        snprintf(ids[i], sizeof ids[i], "%s", jstr(r.json, "memory_id"));
        resp_free(&r);
    }
    atomic_store(&stop_writing, false);
    pthread_t th[SEARCHERS + 1];
    for (int i = 0; i < SEARCHERS; i++)
        pthread_create(&th[i], NULL, searcher, NULL);
    pthread_create(&th[SEARCHERS], NULL, writer, (void *)(intptr_t)0);
    struct timespec ts = {1, (long)(random() % 500) * 1000000L};
    nanosleep(&ts, NULL);
    int64_t killed_at = now_us();
    server_stop(&srv, SIGKILL); /* mid-burst, no warning */
    atomic_store(&stop_writing, true);
    for (int i = 0; i <= SEARCHERS; i++)
        pthread_join(th[i], NULL);
    CHECK(integrity_ok(db));

    long served = 0, due = 0;
    for (size_t i = 0; i < n_searches; i++) {
        served += search_hits[i];
        if (search_acked_at[i] < killed_at - FLUSH_INTERVAL_US - FLUSH_SLACK_US)
            due += search_hits[i];
    }
    CHECK(server_start(&srv, db, NULL) == 0);
    long stored = 0;
    for (int i = 0; i < BURST_MEMORIES; i++) {
        char path[192];
        snprintf(path, sizeof path, "/api/memories/%s", ids[i]);
        struct resp r;
        CHECK(http(&srv, "GET", path, "crash", NULL, 0, &r) == 0);
        CHECK_INT(r.status, 200);
        stored += (long)jint(r.json, "access_count");
        resp_free(&r);
    }
    size_t lost_creates = 0;
    for (size_t k = 0; k < n_acked; k++) {
        char path[96];
        snprintf(path, sizeof path, "/api/memories/%s", acked_ids[k]);
        struct resp r;
        http(&srv, "GET", path, "crash", NULL, 0, &r);
        lost_creates += !(r.status == 200 && jstr(r.json, "content") &&
                          strcmp(jstr(r.json, "content"), acked_content[k]) == 0);
        resp_free(&r);
    }
    CHECK_INT(server_stop(&srv, SIGTERM), 0);
    fprintf(stdout,
            "    %zu searches served %ld hits, %ld due before the last interval, %ld stored; "
            "%zu creates, %zu lost\n",
            n_searches, served, due, stored, n_acked, lost_creates);
    CHECK_INT(lost_creates, 0);
    CHECK(n_searches > 0);
    CHECK(stored >= due);
    CHECK(stored <= served + SEARCHERS * BURST_MEMORIES);
    free(acked_ids);
    free(acked_content);
    free(search_acked_at);
    free(search_hits);
}

TEST_MAIN("e2e_crash", T(test_acknowledged_writes_survive_kill_9),
          T(test_search_burst_kill_9_loses_at_most_one_flush_interval))
