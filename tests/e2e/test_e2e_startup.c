/*
 * What `memori serve` says and does at start-up, on both backends (each test
 * picks its own, whatever MEMORI_TEST_BACKEND says): the line that names
 * its store (the PostgreSQL password masked), DEBUG's lines, and exit code
 * 2 with the store's message when its database cannot be opened.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "http_client.h"
#include "pg_server.h"
#include "test.h"

#define CONV "7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"

static int db_n;

/* Whether the server log at path has needle. */
static bool file_has(const char *path, const char *needle)
{
    FILE *f = fopen(path, "r");
    char line[2048];
    bool found = false;
    while (f && !found && fgets(line, sizeof line, f))
        found = strstr(line, needle) != NULL;
    if (f)
        fclose(f);
    return found;
}

/* A fresh database file name under the temp directory. */
static const char *fresh_db(char *buf, size_t cap)
{
    char name[64];
    snprintf(name, sizeof name, "startup-%d.db", db_n++);
    return test_path(buf, cap, name);
}

TEST(test_startup_line_names_the_sqlite_store)
{
    setenv("MEMORI_TEST_BACKEND", "sqlite", 1);
    struct server s;
    char db[512], want[600];
    CHECK(server_start(&s, fresh_db(db, sizeof db), NULL) == 0);
    CHECK_INT(server_stop(&s, SIGTERM), 0);
    snprintf(want, sizeof want, "(store sqlite %s, model memori-wordnet-v2/128, ", db);
    CHECK(file_has(s.log, want));
}

TEST(test_startup_line_names_the_postgres_store_with_its_password_masked)
{
    if (!pg_server_shared())
        SKIP("no PostgreSQL server to start (scripts/install-test-deps.sh installs one)");
    setenv("MEMORI_TEST_BACKEND", "postgres", 1);
    char db[512], url[600], with_password[700];
    fresh_db(db, sizeof db);
    CHECK(test_database_url(db, url, sizeof url) == 0);
    /* The test cluster trusts user memori: a password in the URL is accepted and unused. */
    const char *user = strstr(url, "://memori@");
    CHECK(user != NULL);
    snprintf(with_password, sizeof with_password, "%.*s://memori:pw-s3cret%s", (int)(user - url),
             url, user + strlen("://memori"));
    char *env[] = {with_password, NULL};
    struct server s;
    int started = server_start(&s, db, env);
    setenv("MEMORI_TEST_BACKEND", "sqlite", 1);
    CHECK(started == 0);
    CHECK_INT(server_stop(&s, SIGTERM), 0);
    CHECK(file_has(s.log, "(store postgres postgresql://memori:***@127.0.0.1:"));
    CHECK(!file_has(s.log, "pw-s3cret"));
    CHECK(!file_has(s.log, "(null)"));
}

/* One memory and one search through s, as alice. */
static bool create_and_search(const struct server *s)
{
    struct resp r;
    bool ok = http(s, "POST", "/api/memories", "alice",
                   "{\"content\":\"revenue is booked monthly\",\"memory_type\":\"rule\","
                   "\"conversation_id\":\"" CONV "\"}",
                   SIZE_MAX, &r) == 0 &&
              r.status == 201;
    resp_free(&r);
    ok = ok &&
         http(s, "POST", "/api/memories/search", "alice", "{\"query\":\"revenue\"}", SIZE_MAX,
              &r) == 0 &&
         r.status == 200;
    resp_free(&r);
    return ok;
}

TEST(test_debug_logs_a_timing_line_per_operation)
{
    setenv("MEMORI_TEST_BACKEND", "sqlite", 1);
    struct server s;
    char db[512];
    CHECK(server_start(&s, fresh_db(db, sizeof db), NULL) == 0);
    CHECK(create_and_search(&s));
    CHECK_INT(server_stop(&s, SIGTERM), 0);
    CHECK(!file_has(s.log, "memori: debug:"));

    char *env[] = {"DEBUG=true", NULL};
    CHECK(server_start(&s, fresh_db(db, sizeof db), env) == 0);
    CHECK(create_and_search(&s));
    CHECK_INT(server_stop(&s, SIGTERM), 0);
    /* The effective configuration at start, then one line per operation. */
    CHECK(file_has(s.log, "memori: debug: MEMORI_EMBEDDING_MODEL=memori-wordnet-v2"));
    CHECK(file_has(s.log, "memori: debug: create alice@default: ok, memory "));
    CHECK(file_has(s.log, "memori: debug: search alice@default: ok, 1 results in "));
    CHECK(file_has(s.log, "(embed "));
}

TEST(test_a_database_that_cannot_be_opened_exits_2_saying_why)
{
    char url[600], err[4096];
    snprintf(url, sizeof url, "DATABASE_URL=sqlite:///%s/no-such-directory/memori.db",
             test_tmpdir());
    char *env[] = {url, "PORT=0", NULL};
    char *serve[] = {"serve", NULL}, *reembed[] = {"reembed", NULL};
    CHECK_INT(run_memori(serve, env, err, sizeof err), 2);
    CHECK(strstr(err, "no-such-directory") != NULL);
    CHECK_INT(run_memori(reembed, env, err, sizeof err), 2);
    CHECK(strstr(err, "no-such-directory") != NULL);
}

/* The body of the interrupted-reembed tests, on the backend MEMORI_TEST_BACKEND names. */
static void interrupted_reembed(void)
{
    struct server s;
    char db[512], url[600], err[4096];
    CHECK(server_start(&s, fresh_db(db, sizeof db), NULL) == 0);
    CHECK(create_and_search(&s));
    CHECK_INT(server_stop(&s, SIGTERM), 0);
    CHECK(test_database_url(db, url, sizeof url) == 0);
    /* A provider nobody answers: the re-embedding stops after recording its marker. */
    char *to_remote[] = {url,
                         "MEMORI_EMBEDDING_PROVIDER=openai",
                         "MEMORI_EMBEDDING_MODEL=remote-model",
                         "MEMORI_EMBEDDING_DIMENSIONS=16",
                         "OPENAI_BASE_URL=http://127.0.0.1:9/v1",
                         "MEMORI_EMBEDDING_MAX_RETRIES=0",
                         "PORT=0",
                         NULL};
    char *serve[] = {"serve", NULL}, *reembed[] = {"reembed", NULL};
    CHECK_INT(run_memori(reembed, to_remote, err, sizeof err), 1);
    CHECK(strstr(err, "run `memori reembed` again") != NULL);
    /* Neither the old model nor the new one starts on half-rewritten vectors. */
    CHECK_INT(run_memori(serve, to_remote, err, sizeof err), 1);
    CHECK(strstr(err, "a `memori reembed` to remote-model (dimension 16) was interrupted") != NULL);
    char *as_before[] = {url, "PORT=0", NULL};
    CHECK_INT(run_memori(serve, as_before, err, sizeof err), 1);
    CHECK(strstr(err, "MEMORI_EMBEDDING_MODEL=remote-model to finish it") != NULL);
    /* Finishing it (here back to the built-in model) makes the database servable again. */
    CHECK_INT(run_memori(reembed, as_before, err, sizeof err), 0);
    CHECK(strstr(err, "re-embedded 1 memories with memori-wordnet-v2") != NULL);
    CHECK(server_start(&s, db, NULL) == 0);
    CHECK_INT(server_stop(&s, SIGTERM), 0);
}

TEST(test_an_interrupted_reembed_is_refused_until_run_again)
{
    setenv("MEMORI_TEST_BACKEND", "sqlite", 1);
    interrupted_reembed();
}

/* PostgreSQL also re-types the vector column: 128 → 16 at the marker, back to 128 at the end. */
TEST(test_an_interrupted_reembed_on_postgres_is_refused_until_run_again)
{
    if (!pg_server_shared())
        SKIP("no PostgreSQL server to start (scripts/install-test-deps.sh installs one)");
    setenv("MEMORI_TEST_BACKEND", "postgres", 1);
    interrupted_reembed();
    setenv("MEMORI_TEST_BACKEND", "sqlite", 1);
}

TEST_MAIN("e2e_startup", T(test_startup_line_names_the_sqlite_store),
          T(test_startup_line_names_the_postgres_store_with_its_password_masked),
          T(test_debug_logs_a_timing_line_per_operation),
          T(test_a_database_that_cannot_be_opened_exits_2_saying_why),
          T(test_an_interrupted_reembed_is_refused_until_run_again),
          T(test_an_interrupted_reembed_on_postgres_is_refused_until_run_again))
