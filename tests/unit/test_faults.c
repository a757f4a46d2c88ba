/*
 * Fault injection: for every write operation and every N, failing the N-th
 * store call gives MR_EUNAVAIL (503 over HTTP) and leaves the database and
 * the index exactly as they were.
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>

#include "faulty_store.h"
#include "memori/embed.h"
#include "memori/index.h"
#include "memori/rules.h"
#include "memori/service.h"
#include "memori/store.h"
#include "test.h"

static const int64_t T0 = INT64_C(1767225600000000);
static const char CONV[] = "44444444-4444-4444-8444-444444444444";
static const struct mr_identity alice = {"alice", "default"};
static char short_id[MR_UUID_LEN], rule_id[MR_UUID_LEN];

struct env {
    struct mr_clock clock;
    struct mr_store *store; /* faulty over sqlite */
    struct mr_embedder *embedder;
    struct mr_index *index;
    struct mr_service *svc;
};

/* False (and why, printed) when the store cannot open: the test then fails, never crashes. */
static bool open_env(struct env *e, const char *path)
{
    struct mr_err err;
    mr_clock_fixed_init(&e->clock, T0);
    e->store = faulty_store_wrap(mr_store_sqlite_open(path, 2, &err));
    if (!e->store) {
        fprintf(stdout, "    cannot open the SQLite store: %s\n", err.msg);
        return false;
    }
    e->embedder = mr_embed_lexical_new(64, &err);
    e->index = mr_index_new(64);
    e->svc = mr_service_new(
        &(struct mr_service_config){e->store, e->embedder, e->index, &e->clock, 7, 30, 10, 0.0});
    mr_service_load_index(e->svc, &err);
    return true;
}

static void close_env(struct env *e)
{
    mr_service_free(e->svc);
    mr_index_destroy(e->index);
    mr_store_close(e->store);
    mr_embed_destroy(e->embedder);
}

/* Every row of both tables, as text. Caller frees. */
static char *dump(const char *path)
{
    sqlite3 *db;
    sqlite3_open(path, &db);
    size_t cap = 1 << 16, n = 0;
    char *out = calloc(cap, 1);
    const char *queries[] = {"SELECT * FROM conversations ORDER BY id",
                             "SELECT id, memory_id, conversation_id, user_id, content, "
                             "memory_type, hex(embedding), importance_score, access_count, "
                             "last_accessed_at, hex(context_tags), hex(related_entities), "
                             "metadata, expires_at, is_archived, created_at, updated_at "
                             "FROM memories ORDER BY id"};
    for (int q = 0; q < 2; q++) {
        sqlite3_stmt *st;
        sqlite3_prepare_v2(db, queries[q], -1, &st, NULL);
        while (sqlite3_step(st) == SQLITE_ROW) {
            for (int c = 0; c < sqlite3_column_count(st); c++) {
                const unsigned char *t = sqlite3_column_text(st, c);
                size_t len = t ? strlen((const char *)t) : 4;
                if (n + len + 2 >= cap) {
                    cap = (cap + len) * 2;
                    out = realloc(out, cap);
                }
                memcpy(out + n, t ? (const char *)t : "NULL", len);
                n += len;
                out[n++] = '|';
            }
            out[n++] = '\n';
        }
        sqlite3_finalize(st);
    }
    out[n] = '\0';
    sqlite3_close(db);
    return out;
}

static void copy_file(const char *from, const char *to)
{
    FILE *a = fopen(from, "rb"), *b = fopen(to, "wb");
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, a)) > 0)
        fwrite(buf, 1, n, b);
    fclose(a);
    fclose(b);
    char wal[600];
    snprintf(wal, sizeof wal, "%s-wal", to);
    remove(wal);
    snprintf(wal, sizeof wal, "%s-shm", to);
    remove(wal);
}

/* The base database: a conversation with an old short-term memory and a rule. */
static bool make_base(const char *path)
{
    struct env e;
    struct mr_err err;
    if (!open_env(&e, path))
        return false;
    struct mr_memory m;
    struct mr_memory_create in = {.content = "old scratch note about refunds",
                                  .content_len = 30,
                                  .memory_type = MR_SHORT_TERM,
                                  .importance_score = 0.2,
                                  .expires_at = T0 + 400 * MR_USEC_PER_DAY};
    memcpy(in.conversation_id, CONV, sizeof CONV);
    mr_memory_create(e.svc, &alice, &in, &m, &err);
    memcpy(short_id, m.memory_id, MR_UUID_LEN);
    mr_memory_clear(&m);
    in.content = "refunds are negative payments";
    in.content_len = strlen(in.content);
    in.memory_type = MR_RULE;
    in.importance_score = 0.5;
    mr_memory_create(e.svc, &alice, &in, &m, &err);
    memcpy(rule_id, m.memory_id, MR_UUID_LEN);
    mr_memory_clear(&m);
    close_env(&e);
    return true;
}

enum op {
    CREATE,
    CREATE_NEW_CONV,
    UPDATE,
    DELETE,
    PROMOTE,
    SEARCH,
    ARCHIVE,
    CONV_CREATE,
    CONV_UPDATE,
    CONV_DELETE,
    N_OPS
};
static const char *const op_names[] = {"create",
                                       "create_new_conversation",
                                       "update",
                                       "delete",
                                       "promote",
                                       "search",
                                       "archive",
                                       "conversation_create",
                                       "conversation_update",
                                       "conversation_delete"};

static int run_op(struct env *e, enum op op)
{
    struct mr_err err;
    struct mr_memory m = {0};
    struct mr_conversation c = {0};
    int rc = 0;
    struct mr_memory_create in = {.content = "a new memory about refunds",
                                  .content_len = 26,
                                  .memory_type = MR_ENTITY,
                                  .importance_score = 0.5,
                                  .expires_at = MR_NO_TIME};
    memcpy(in.conversation_id, CONV, sizeof CONV);
    switch (op) {
    case CREATE:
        rc = mr_memory_create(e->svc, &alice, &in, &m, &err);
        break;
    case CREATE_NEW_CONV:
        memcpy(in.conversation_id, "55555555-5555-4555-8555-555555555555", MR_UUID_LEN);
        rc = mr_memory_create(e->svc, &alice, &in, &m, &err);
        break;
    case UPDATE: {
        struct mr_memory_patch p = {
            .content = "changed text", .content_len = 12, .metadata = "{\"k\":1}"};
        rc = mr_memory_update(e->svc, &alice, rule_id, &p, &m, &err);
        break;
    }
    case DELETE:
        rc = mr_memory_delete(e->svc, &alice, rule_id, &err);
        break;
    case PROMOTE:
        rc = mr_memory_promote(e->svc, &alice, short_id, &m, &err);
        break;
    case SEARCH: {
        struct mr_search_results r;
        struct mr_search q = {.query = "refunds", .query_len = 7, .has_min_similarity = true};
        rc = mr_memory_search(e->svc, &alice, &q, &r, &err);
        if (rc == 0)
            mr_search_results_clear(&r);
        break;
    }
    case ARCHIVE: {
        int64_t n;
        e->clock.fixed_us = T0 + 31 * MR_USEC_PER_DAY;
        rc = mr_memory_archive(e->svc, &alice, 30, &n, &err);
        break;
    }
    case CONV_CREATE: {
        struct mr_conversation_create cc = {.title = "t"};
        rc = mr_conversation_create(e->svc, &alice, &cc, &c, &err);
        break;
    }
    case CONV_UPDATE: {
        struct mr_conversation_patch p = {
            .has_title = true, .title = "renamed", .metadata = "{\"a\":2}"};
        rc = mr_conversation_update(e->svc, &alice, CONV, &p, &c, &err);
        break;
    }
    case CONV_DELETE:
        rc = mr_conversation_delete(e->svc, &alice, CONV, &err);
        break;
    default:
        break;
    }
    mr_memory_clear(&m);
    mr_conversation_clear(&c);
    if (rc && rc != MR_EUNAVAIL)
        fprintf(stdout, "    %s: unexpected %s: %s\n", op_names[op], mr_err_name(rc), err.msg);
    return rc;
}

TEST(test_every_write_fails_cleanly_at_every_call)
{
    char base[512], work[512];
    test_path(base, sizeof base, "fault-base.db");
    test_path(work, sizeof work, "fault-work.db");
    CHECK(make_base(base));
    char *before = dump(base);
    int checked = 0;
    for (int op = 0; op < N_OPS; op++) {
        for (long n = 1;; n++) {
            copy_file(base, work);
            struct env e;
            if (!open_env(&e, work)) {
                free(before);
                CHECK(false);
            }
            size_t indexed = mr_index_count(e.index);
            faulty_store_arm(e.store, n);
            int rc = run_op(&e, (enum op)op);
            long calls = faulty_store_calls(e.store);
            size_t indexed_after = mr_index_count(e.index);
            close_env(&e);
            if (rc == 0) {
                if (calls >= n) {
                    test_fail(__FILE__, __LINE__, "%s succeeded although call %ld failed",
                              op_names[op], n);
                    free(before);
                    return;
                }
                break; /* n is past the operation's last store call */
            }
            char *after = dump(work);
            bool same = strcmp(before, after) == 0;
            free(after);
            if (rc != MR_EUNAVAIL || !same || indexed != indexed_after) {
                test_fail(__FILE__, __LINE__, "%s with call %ld failing: %s, database %s, index %s",
                          op_names[op], n, mr_err_name(rc), same ? "unchanged" : "CHANGED",
                          indexed == indexed_after ? "unchanged" : "CHANGED");
                free(before);
                return;
            }
            checked++;
        }
    }
    free(before);
    fprintf(stdout, "    %d (operation, failing call) cases checked\n", checked);
    CHECK(checked > 30);
}

TEST_MAIN("faults", T(test_every_write_fails_cleanly_at_every_call))
