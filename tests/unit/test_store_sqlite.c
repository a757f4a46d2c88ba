/* The store contract against SQLite, plus what is SQLite's own: files, WAL, migrations. */
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "contract_store.h"

static int db_counter;

static struct mr_store *contract_open_pool(const struct mr_store_pool_config *pool)
{
    char name[64], path[512];
    snprintf(name, sizeof name, "contract-%d.db", db_counter++);
    struct mr_err err;
    struct mr_store *s = mr_store_sqlite_open_with(test_path(path, sizeof path, name), pool, &err);
    if (!s)
        fprintf(stdout, "    cannot open the SQLite store: %s\n", err.msg);
    return s;
}

/* Creates the store at path holding one conversation c with one memory m, and closes it. */
static bool write_one_memory(const char *path, struct mr_conversation *c, struct mr_memory *m)
{
    struct mr_err err;
    struct mr_store_tx *tx;
    struct mr_store *s = mr_store_sqlite_open(path, 1, &err);
    c_conv(c, C1, &c_alice, 1);
    c_mem(m, C1, &c_alice, MR_RULE, 0.5, 1);
    bool ok = s && mr_store_begin(s, true, &tx, &err) == 0 &&
              mr_store_conv_insert(tx, c, &err) == 0 && mr_store_mem_insert(tx, m, &err) == 0 &&
              mr_store_commit(tx, &err) == 0;
    mr_store_close(s);
    return ok;
}

TEST(test_sqlite_data_survives_reopen)
{
    char path[512];
    test_path(path, sizeof path, "reopen.db");
    struct mr_err err;
    struct mr_store *s;
    struct mr_store_tx *tx;
    struct mr_conversation c;
    struct mr_memory m, got;
    CHECK(write_one_memory(path, &c, &m));
    s = mr_store_sqlite_open(path, 2, &err);
    CHECK(s);
    CHECK(mr_store_begin(s, false, &tx, &err) == 0);
    CHECK(mr_store_mem_get(tx, m.memory_id, &got, &err) == 0);
    CHECK_STR(got.content, m.content);
    mr_memory_clear(&got);
    mr_store_rollback(tx);
    mr_store_close(s);
    mr_memory_clear(&m);
    mr_conversation_clear(&c);
}

static int pragma_int(const char *path, const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    int v = -1;
    if (sqlite3_open(path, &db) != SQLITE_OK)
        return -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

TEST(test_sqlite_schema_versioned_and_wal)
{
    char path[512];
    test_path(path, sizeof path, "schema.db");
    struct mr_err err;
    struct mr_store *s = mr_store_sqlite_open(path, 1, &err);
    CHECK(s);
    mr_store_close(s);
    CHECK_INT(pragma_int(path, "PRAGMA user_version"), 5);
    sqlite3 *db;
    CHECK(sqlite3_open(path, &db) == SQLITE_OK);
    sqlite3_stmt *st;
    CHECK(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL) == SQLITE_OK);
    CHECK(sqlite3_step(st) == SQLITE_ROW);
    CHECK_STR((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);
    sqlite3_close(db);
}

TEST(test_sqlite_migrates_a_version_1_database)
{
    char path[512];
    test_path(path, sizeof path, "v1.db");
    struct mr_err err;
    struct mr_store *s;
    struct mr_store_tx *tx;
    struct mr_conversation c;
    struct mr_memory m, got;
    CHECK(write_one_memory(path, &c, &m));
    /* Turn it back into what version 1 wrote. */
    sqlite3 *db;
    CHECK(sqlite3_open(path, &db) == SQLITE_OK);
    CHECK(sqlite3_exec(db,
                       "DROP TABLE data_source_schemas; DROP INDEX memories_data_source;"
                       "DROP INDEX memories_data_source_type; DROP INDEX memories_join_key;"
                       "ALTER TABLE memories DROP COLUMN data_source_id;"
                       "ALTER TABLE memories DROP COLUMN is_shared; PRAGMA user_version=1",
                       NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);
    s = mr_store_sqlite_open(path, 1, &err);
    CHECK(s);
    CHECK_INT(pragma_int(path, "PRAGMA user_version"), 5);
    CHECK(mr_store_begin(s, false, &tx, &err) == 0);
    CHECK(mr_store_mem_get(tx, m.memory_id, &got, &err) == 0);
    CHECK_STR(got.content, m.content);
    CHECK(!got.is_shared);
    mr_memory_clear(&got);
    mr_store_rollback(tx);
    mr_store_close(s);
    mr_memory_clear(&m);
    mr_conversation_clear(&c);
}

TEST(test_sqlite_refuses_newer_schema)
{
    char path[512];
    test_path(path, sizeof path, "future.db");
    sqlite3 *db;
    CHECK(sqlite3_open(path, &db) == SQLITE_OK);
    CHECK(sqlite3_exec(db, "PRAGMA user_version=99", NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);
    struct mr_err err;
    CHECK(mr_store_sqlite_open(path, 1, &err) == NULL);
    CHECK(strstr(err.msg, "99") != NULL);
}

TEST(test_sqlite_unopenable_path_is_an_error)
{
    struct mr_err err;
    CHECK(mr_store_sqlite_open("/nonexistent-dir/x/y.db", 1, &err) == NULL);
    CHECK_INT(err.code, MR_EUNAVAIL);
}

struct writer_arg {
    struct mr_store *s;
    int id, ok;
};

static void *writer(void *p)
{
    struct writer_arg *a = p;
    for (int i = 0; i < 25; i++) {
        struct mr_store_tx *tx;
        struct mr_err err;
        struct mr_conversation c;
        char id[MR_UUID_LEN];
        mr_uuid_v4(id);
        if (mr_store_begin(a->s, true, &tx, &err) != 0)
            continue;
        c_conv(&c, id, &c_alice, i);
        int rc = mr_store_conv_insert(tx, &c, &err);
        mr_conversation_clear(&c);
        if (rc == 0 && mr_store_commit(tx, &err) == 0)
            a->ok++;
        else if (rc)
            mr_store_rollback(tx);
    }
    return NULL;
}

TEST(test_sqlite_concurrent_writers_all_commit)
{
    char path[512];
    test_path(path, sizeof path, "concurrent.db");
    struct mr_err err;
    struct mr_store *s = mr_store_sqlite_open(path, 3, &err);
    CHECK(s);
    pthread_t th[6];
    struct writer_arg args[6];
    for (int i = 0; i < 6; i++) {
        args[i] = (struct writer_arg){s, i, 0};
        pthread_create(&th[i], NULL, writer, &args[i]);
    }
    int ok = 0;
    for (int i = 0; i < 6; i++) {
        pthread_join(th[i], NULL);
        ok += args[i].ok;
    }
    CHECK_INT(ok, 150);
    struct mr_store_tx *tx;
    struct mr_conversation *v;
    size_t n;
    int64_t total;
    CHECK(mr_store_begin(s, false, &tx, &err) == 0);
    CHECK(mr_store_conv_list(tx, &c_alice, 1, 0, &v, &n, &total, &err) == 0);
    CHECK_INT(total, 150);
    for (size_t i = 0; i < n; i++)
        mr_conversation_clear(&v[i]);
    free(v);
    mr_store_rollback(tx);
    mr_store_close(s);
}

/* Commits leave the WAL to the checkpointer thread, which copies it into the database file. */
TEST(test_sqlite_checkpoints_off_the_request_path)
{
    char path[512];
    test_path(path, sizeof path, "checkpoint.db");
    struct mr_err err;
    struct mr_store *s = mr_store_sqlite_open(path, 2, &err);
    CHECK(s);
    struct stat st0, st;
    CHECK(stat(path, &st0) == 0);
    struct mr_conversation c;
    c_conv(&c, C1, &c_alice, 1);
    struct mr_store_tx *tx;
    C_BEGIN(s, tx);
    CHECK(mr_store_conv_insert(tx, &c, &err) == 0);
    CHECK(mr_store_commit(tx, &err) == 0);
    for (int i = 0; i < 600; i++) { /* > 1000 WAL pages: each commit writes a few */
        struct mr_memory m;
        c_mem(&m, C1, &c_alice, MR_RULE, 0.5, i);
        CHECK(mr_store_begin(s, MR_TX_WRITE_LAZY, &tx, &err) == 0);
        CHECK(mr_store_mem_insert(tx, &m, &err) == 0);
        CHECK(mr_store_commit(tx, &err) == 0);
        mr_memory_clear(&m);
    }
    bool grew = false;
    for (int tries = 0; tries < 100 && !grew; tries++) {
        grew = stat(path, &st) == 0 && st.st_size > st0.st_size + 100 * 1024;
        if (!grew)
            usleep(20000);
    }
    CHECK(grew);
    mr_conversation_clear(&c);
    mr_store_close(s);
}

/*
 * One SQLite file serves one memori process (its vectors live in that
 * process's index): a second open is refused, in this process too, saying
 * which process holds the file; closing the first lets the next one in.
 */
TEST(test_sqlite_second_open_of_one_file_is_refused)
{
    char path[512], pid[32];
    test_path(path, sizeof path, "locked.db");
    snprintf(pid, sizeof pid, "pid %ld", (long)getpid());
    struct mr_err err;
    struct mr_store *s = mr_store_sqlite_open(path, 1, &err);
    CHECK(s);
    struct mr_store *again = mr_store_sqlite_open(path, 1, &err);
    if (again)
        mr_store_close(again);
    CHECK(again == NULL);
    CHECK(strstr(err.msg, path) != NULL);
    CHECK(strstr(err.msg, "in use") != NULL);
    CHECK(strstr(err.msg, pid) != NULL);
    CHECK_INT(err.code, MR_EBUSY);
    mr_store_close(s);
    s = mr_store_sqlite_open(path, 1, &err);
    CHECK(s);
    mr_store_close(s);
}

/* The lock dies with its process: kill -9 leaves no stale lock behind. */
TEST(test_sqlite_lock_is_released_by_kill_9)
{
    char path[512], pid[32];
    test_path(path, sizeof path, "killed.db");
    int ready[2];
    CHECK(pipe(ready) == 0);
    pid_t child = fork();
    CHECK(child >= 0);
    if (child == 0) {
        struct mr_err e;
        struct mr_store *held = mr_store_sqlite_open(path, 1, &e);
        if (write(ready[1], held ? "y" : "n", 1) != 1)
            _exit(1);
        pause();
        _exit(0);
    }
    close(ready[1]);
    char c = 0;
    CHECK(read(ready[0], &c, 1) == 1);
    close(ready[0]);
    struct mr_err err;
    struct mr_store *s = c == 'y' ? mr_store_sqlite_open(path, 1, &err) : NULL;
    bool refused = s == NULL;
    mr_store_close(s);
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    CHECK(c == 'y');
    CHECK(refused);
    snprintf(pid, sizeof pid, "pid %ld", (long)child);
    CHECK(strstr(err.msg, pid) != NULL);
    CHECK(strstr(err.msg, "in use by another memori process") != NULL);
    CHECK_INT(err.code, MR_EBUSY);
    s = mr_store_sqlite_open(path, 1, &err);
    CHECK(s);
    mr_store_close(s);
}

TEST_MAIN("store_sqlite", CONTRACT_STORE_TESTS, T(test_sqlite_data_survives_reopen),
          T(test_sqlite_schema_versioned_and_wal), T(test_sqlite_migrates_a_version_1_database),
          T(test_sqlite_refuses_newer_schema), T(test_sqlite_unopenable_path_is_an_error),
          T(test_sqlite_concurrent_writers_all_commit),
          T(test_sqlite_checkpoints_off_the_request_path),
          T(test_sqlite_second_open_of_one_file_is_refused),
          T(test_sqlite_lock_is_released_by_kill_9))
