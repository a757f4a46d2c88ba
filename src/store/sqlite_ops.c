/*
 * sqlite_ops.c — the SQLite store's statements and the operations of
 * store.h on them (see sqlite_int.h). No rule of the domain is written
 * here: archival binds the bounds memori/rules.h computes, and expiry is
 * the in-process index's to apply (it asks the rule).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sqlite_int.h"

#define MEM_COLS                                                                                   \
    "id, memory_id, conversation_id, user_id, tenant_id, content, memory_type, embedding, "        \
    "importance_score, access_count, last_accessed_at, context_tags, related_entities, "           \
    "metadata, expires_at, is_archived, created_at, updated_at, is_shared, data_source_id"
#define CONV_COLS                                                                                  \
    "id, conversation_id, user_id, tenant_id, data_source_id, title, metadata, is_active, "        \
    "last_activity_at, created_at, updated_at"

/* The merged importance and the promotion test of the access statements (their ?2..?8). */
#define SQ_IMP "min(1.0, round((importance_score + ?2 * ?4) * 1e9) / 1e9)"
#define SQ_PROMOTES "(memory_type = ?8 AND access_count + ?2 >= ?5 AND " SQ_IMP " >= ?6)"

const char *const sqlite_stmt_sql[ST_COUNT] = {
    [ST_META_GET] = "SELECT value FROM meta WHERE key = ?1",
    [ST_META_PUT] = "INSERT INTO meta(key, value) VALUES (?1, ?2) "
                    "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
    [ST_CONV_GET] = "SELECT " CONV_COLS " FROM conversations WHERE conversation_id = ?1",
    [ST_CONV_INSERT] = "INSERT INTO conversations(conversation_id, user_id, tenant_id, "
                       "data_source_id, title, metadata, is_active, last_activity_at, "
                       "created_at, updated_at) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10)",
    [ST_CONV_UPDATE] = "UPDATE conversations SET data_source_id=?2, title=?3, metadata=?4, "
                       "is_active=?5, last_activity_at=?6, updated_at=?7 "
                       "WHERE conversation_id=?1",
    [ST_CONV_DELETE] = "DELETE FROM conversations WHERE conversation_id = ?1",
    [ST_CONV_LIST] = "SELECT " CONV_COLS " FROM conversations WHERE tenant_id=?1 AND user_id=?2 "
                     "ORDER BY last_activity_at DESC, id DESC LIMIT ?3 OFFSET ?4",
    [ST_CONV_COUNT] = "SELECT count(*) FROM conversations WHERE tenant_id=?1 AND user_id=?2",
    [ST_MEM_INSERT] = "INSERT INTO memories(memory_id, conversation_id, user_id, tenant_id, "
                      "content, memory_type, embedding, importance_score, access_count, "
                      "last_accessed_at, context_tags, related_entities, metadata, expires_at, "
                      "is_archived, created_at, updated_at, is_shared, data_source_id) "
                      "VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,"
                      "?19)",
    [ST_MEM_GET] = "SELECT " MEM_COLS " FROM memories WHERE memory_id = ?1",
    [ST_MEM_GET_BY_ID] = "SELECT " MEM_COLS " FROM memories WHERE id = ?1",
    [ST_MEM_UPDATE] = "UPDATE memories SET content=?2, memory_type=?3, importance_score=?4, "
                      "access_count=?5, last_accessed_at=?6, context_tags=?7, "
                      "related_entities=?8, metadata=?9, expires_at=?10, is_archived=?11, "
                      "updated_at=?12, is_shared=?13, data_source_id=?14 WHERE id=?1",
    [ST_MEM_UPDATE_EMB] = "UPDATE memories SET embedding=?2 WHERE id=?1",
    /*
     * Batched accesses merged into the live row (mr_rule_record_accesses in
     * SQL): ?2 accesses, the latest at ?3, the access boost ?4; the promotion
     * bar is ?5 accesses and importance ?6 on the merged values, a type ?8.
     * Type and expiry are set only by ST_MEM_ACCESS_FULL, for a row that the
     * merge promotes: an UPDATE that names memory_type rewrites the row's
     * memories_owner entry too, doubling the pages a flush dirties.
     * round(x * 1e9) / 1e9 is mr_rule_add_importance's rounding, bit for bit.
     */
    [ST_MEM_ACCESS] = "UPDATE memories SET access_count = access_count + ?2, "
                      "last_accessed_at = max(coalesce(last_accessed_at, ?3), ?3), "
                      "updated_at = max(updated_at, ?3), importance_score = " SQ_IMP " "
                      "WHERE id = ?1 AND NOT (" SQ_PROMOTES ")",
    [ST_MEM_ACCESS_FULL] = "UPDATE memories SET access_count = access_count + ?2, "
                           "last_accessed_at = max(coalesce(last_accessed_at, ?3), ?3), "
                           "updated_at = max(updated_at, ?3), "
                           "importance_score = min(1.0, round((" SQ_IMP " + ?7) * 1e9) / 1e9), "
                           "memory_type = ?9, expires_at = NULL "
                           "WHERE id = ?1 AND " SQ_PROMOTES,
    /* What a promotion's event needs of the row, read around ST_MEM_ACCESS_FULL. */
    [ST_MEM_PROMOTED] = "SELECT memory_id, user_id, tenant_id, importance_score, expires_at "
                        "FROM memories WHERE id = ?1",
    [ST_MEM_DELETE] = "DELETE FROM memories WHERE memory_id = ?1",
    [ST_MEM_LIST_CONV] = "SELECT " MEM_COLS " FROM memories WHERE conversation_id=?1 "
                         "ORDER BY created_at, id LIMIT ?2 OFFSET ?3",
    [ST_MEM_COUNT_CONV] = "SELECT count(*) FROM memories WHERE conversation_id=?1",
    [ST_MEM_STATS] = "SELECT count(*), "
                     "sum(memory_type='short_term'), sum(memory_type='long_term'), "
                     "sum(memory_type='rule'), sum(memory_type='entity'), "
                     "sum(memory_type='relationship'), sum(memory_type='example'), "
                     "sum(is_archived), avg(importance_score) "
                     "FROM memories WHERE tenant_id=?1 AND (?2 IS NULL OR user_id=?2)",
    /* Archival, its bounds bound (mr_rule_archive_bounds): the rule's constants live in rules.c. */
    [ST_MEM_ARCHIVE] = "UPDATE memories SET is_archived=1, updated_at=?7 "
                       "WHERE tenant_id=?1 AND (?2 IS NULL OR user_id=?2) AND memory_type=?3 "
                       "AND is_archived=0 AND created_at < ?4 AND importance_score < ?5 "
                       "AND access_count < ?6 RETURNING id, user_id",
    [ST_MEM_SCAN] = "SELECT " MEM_COLS " FROM memories ORDER BY id",
    /* Cached: every write appends one, and a flush one a promotion (docs/hygiene.md). */
    [ST_HIST_INSERT] = "INSERT INTO memory_history(memory_id, user_id, tenant_id, actor, kind, "
                       "changes, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
};

static int s_conv_get(struct mr_store_tx *tx, const char *id, struct mr_conversation *out,
                      struct mr_err *err)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st = sqlite_stmt(tx, ST_CONV_GET);
    sqlite_bind_text(st, 1, id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        sqlite_read_conversation(st, out);
        sqlite3_reset(st);
        return 0;
    }
    sqlite3_reset(st);
    if (rc == SQLITE_DONE)
        return mr_err_set(err, MR_ENOTFOUND, "Conversation not found");
    return sqlite_db_error(err, sqlite_tx_conn(tx)->db, rc, "reading a conversation");
}

/* A conversation's stored fields as ?1..?10, in the table's column order (insert, restore). */
static void bind_conversation_row(sqlite3_stmt *st, const struct mr_conversation *c)
{
    sqlite_bind_text(st, 1, c->conversation_id);
    sqlite_bind_text(st, 2, c->user_id);
    sqlite_bind_text(st, 3, c->tenant_id);
    if (c->has_data_source_id)
        sqlite3_bind_int64(st, 4, c->data_source_id);
    sqlite_bind_text(st, 5, c->title);
    sqlite_bind_text(st, 6, c->metadata ? c->metadata : "{}");
    sqlite3_bind_int(st, 7, c->is_active);
    sqlite3_bind_int64(st, 8, c->last_activity_at);
    sqlite3_bind_int64(st, 9, c->created_at);
    sqlite3_bind_int64(st, 10, c->updated_at);
}

static int s_conv_insert(struct mr_store_tx *tx, struct mr_conversation *c, struct mr_err *err)
{
    sqlite3_stmt *st = sqlite_stmt(tx, ST_CONV_INSERT);
    bind_conversation_row(st, c);
    int rc = sqlite_exec_done(tx, st, "inserting a conversation", err);
    if (rc == MR_ECONFLICT)
        return mr_err_set(err, MR_ECONFLICT, "conversation %s already exists", c->conversation_id);
    if (rc == 0)
        c->id = sqlite3_last_insert_rowid(sqlite_tx_conn(tx)->db);
    return rc;
}

static int s_conv_update(struct mr_store_tx *tx, const struct mr_conversation *c,
                         struct mr_err *err)
{
    sqlite3_stmt *st = sqlite_stmt(tx, ST_CONV_UPDATE);
    sqlite_bind_text(st, 1, c->conversation_id);
    if (c->has_data_source_id)
        sqlite3_bind_int64(st, 2, c->data_source_id);
    sqlite_bind_text(st, 3, c->title);
    sqlite_bind_text(st, 4, c->metadata ? c->metadata : "{}");
    sqlite3_bind_int(st, 5, c->is_active);
    sqlite3_bind_int64(st, 6, c->last_activity_at);
    sqlite3_bind_int64(st, 7, c->updated_at);
    int rc = sqlite_exec_done(tx, st, "updating a conversation", err);
    if (rc == 0 && sqlite3_changes(sqlite_tx_conn(tx)->db) == 0)
        return mr_err_set(err, MR_ENOTFOUND, "Conversation not found");
    return rc;
}

static int s_conv_delete(struct mr_store_tx *tx, const char *id, struct mr_err *err)
{
    sqlite3_stmt *st = sqlite_stmt(tx, ST_CONV_DELETE);
    sqlite_bind_text(st, 1, id);
    int rc = sqlite_exec_done(tx, st, "deleting a conversation", err);
    if (rc == 0 && sqlite3_changes(sqlite_tx_conn(tx)->db) == 0)
        return mr_err_set(err, MR_ENOTFOUND, "Conversation not found");
    return rc;
}

/* Runs a one-row count statement already bound. */
static int count_rows(struct mr_store_tx *tx, sqlite3_stmt *st, int64_t *out, struct mr_err *err)
{
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sqlite3_reset(st);
        return sqlite_db_error(err, sqlite_tx_conn(tx)->db, rc, "counting rows");
    }
    *out = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return 0;
}

/* Reads one row into the array slot; 0 or an error. */
typedef int (*row_reader)(sqlite3_stmt *st, void *slot, struct mr_err *err);
typedef void (*slot_clear)(void *slot);

/*
 * Steps st to the end, reading every row into a growing array of elem-sized
 * slots. On failure frees what it read and returns the error.
 */
static int collect_rows(struct mr_store_tx *tx, sqlite3_stmt *st, size_t elem, row_reader read,
                        slot_clear clear, void **out, size_t *out_n, const char *what,
                        struct mr_err *err)
{
    char *v = NULL;
    size_t n = 0, cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            v = mr_xrealloc(v, cap * elem);
        }
        if ((rc = read(st, v + n * elem, err)) != 0)
            break;
        n++;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        for (size_t i = 0; i < n; i++)
            clear(v + i * elem);
        free(v);
        *out = NULL;
        *out_n = 0;
        return rc < 0 ? rc : sqlite_db_error(err, sqlite_tx_conn(tx)->db, rc, what);
    }
    *out = v;
    *out_n = n;
    return 0;
}

static int read_conversation_row(sqlite3_stmt *st, void *slot, struct mr_err *err)
{
    (void)err;
    sqlite_read_conversation(st, slot);
    return 0;
}

static int read_memory_row(sqlite3_stmt *st, void *slot, struct mr_err *err)
{
    return sqlite_read_memory(st, slot, err);
}

static void clear_conversation(void *slot)
{
    mr_conversation_clear(slot);
}
static void clear_memory(void *slot)
{
    mr_memory_clear(slot);
}

static int s_conv_list(struct mr_store_tx *tx, const struct mr_identity *who, int64_t limit,
                       int64_t offset, struct mr_conversation **out, size_t *out_n,
                       int64_t *out_total, struct mr_err *err)
{
    *out = NULL;
    *out_n = 0;
    sqlite3_stmt *st = sqlite_stmt(tx, ST_CONV_COUNT);
    sqlite_bind_text(st, 1, who->tenant_id);
    sqlite_bind_text(st, 2, who->user_id);
    int rc = count_rows(tx, st, out_total, err);
    if (rc)
        return rc;
    st = sqlite_stmt(tx, ST_CONV_LIST);
    sqlite_bind_text(st, 1, who->tenant_id);
    sqlite_bind_text(st, 2, who->user_id);
    sqlite3_bind_int64(st, 3, limit);
    sqlite3_bind_int64(st, 4, offset);
    return collect_rows(tx, st, sizeof **out, read_conversation_row, clear_conversation,
                        (void **)out, out_n, "listing conversations", err);
}

/* A memory's data_source_id, NULL when it has none. */
static void bind_data_source(sqlite3_stmt *st, int i, const struct mr_memory *m)
{
    if (m->has_data_source_id)
        sqlite3_bind_int64(st, i, m->data_source_id);
    else
        sqlite3_bind_null(st, i);
}

/* A memory's stored fields as ?1..?19, in the memories table's column order (insert, restore). */
static void bind_memory_row(sqlite3_stmt *st, const struct mr_memory *m)
{
    sqlite_bind_text(st, 1, m->memory_id);
    sqlite_bind_text(st, 2, m->conversation_id);
    sqlite_bind_text(st, 3, m->user_id);
    sqlite_bind_text(st, 4, m->tenant_id);
    sqlite_bind_text(st, 5, m->content);
    sqlite_bind_text(st, 6, mr_memory_type_name(m->memory_type));
    sqlite3_bind_blob(st, 7, m->embedding, (int)(m->dim * sizeof(float)), SQLITE_TRANSIENT);
    sqlite3_bind_double(st, 8, m->importance_score);
    sqlite3_bind_int64(st, 9, m->access_count);
    sqlite_bind_time(st, 10, m->last_accessed_at);
    sqlite_bind_strv(st, 11, &m->context_tags);
    sqlite_bind_strv(st, 12, &m->related_entities);
    sqlite_bind_text(st, 13, m->metadata ? m->metadata : "{}");
    sqlite_bind_time(st, 14, m->expires_at);
    sqlite3_bind_int(st, 15, m->is_archived);
    sqlite3_bind_int64(st, 16, m->created_at);
    sqlite3_bind_int64(st, 17, m->updated_at);
    sqlite3_bind_int(st, 18, m->is_shared);
    bind_data_source(st, 19, m);
}

static int s_mem_insert(struct mr_store_tx *tx, struct mr_memory *m, struct mr_err *err)
{
    sqlite3_stmt *st = sqlite_stmt(tx, ST_MEM_INSERT);
    bind_memory_row(st, m);
    int rc = sqlite_exec_done(tx, st, "inserting a memory", err);
    if (rc == 0)
        m->id = sqlite3_last_insert_rowid(sqlite_tx_conn(tx)->db);
    return rc;
}

static int get_one_memory(struct mr_store_tx *tx, sqlite3_stmt *st, struct mr_memory *out,
                          struct mr_err *err)
{
    memset(out, 0, sizeof *out); /* cleared even when absent, so callers may clear it */
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        rc = sqlite_read_memory(st, out, err);
        sqlite3_reset(st);
        return rc;
    }
    sqlite3_reset(st);
    if (rc == SQLITE_DONE)
        return mr_err_set(err, MR_ENOTFOUND, "Memory not found");
    return sqlite_db_error(err, sqlite_tx_conn(tx)->db, rc, "reading a memory");
}

static int s_mem_get(struct mr_store_tx *tx, const char *id, struct mr_memory *out,
                     struct mr_err *err)
{
    sqlite3_stmt *st = sqlite_stmt(tx, ST_MEM_GET);
    sqlite_bind_text(st, 1, id);
    return get_one_memory(tx, st, out, err);
}

static int s_mem_get_by_id(struct mr_store_tx *tx, int64_t id, struct mr_memory *out,
                           struct mr_err *err)
{
    sqlite3_stmt *st = sqlite_stmt(tx, ST_MEM_GET_BY_ID);
    sqlite3_bind_int64(st, 1, id);
    return get_one_memory(tx, st, out, err);
}

static int s_mem_update(struct mr_store_tx *tx, const struct mr_memory *m, bool with_embedding,
                        struct mr_err *err)
{
    sqlite3_stmt *st = sqlite_stmt(tx, ST_MEM_UPDATE);
    sqlite3_bind_int64(st, 1, m->id);
    sqlite_bind_text(st, 2, m->content);
    sqlite_bind_text(st, 3, mr_memory_type_name(m->memory_type));
    sqlite3_bind_double(st, 4, m->importance_score);
    sqlite3_bind_int64(st, 5, m->access_count);
    sqlite_bind_time(st, 6, m->last_accessed_at);
    sqlite_bind_strv(st, 7, &m->context_tags);
    sqlite_bind_strv(st, 8, &m->related_entities);
    sqlite_bind_text(st, 9, m->metadata ? m->metadata : "{}");
    sqlite_bind_time(st, 10, m->expires_at);
    sqlite3_bind_int(st, 11, m->is_archived);
    sqlite3_bind_int64(st, 12, m->updated_at);
    sqlite3_bind_int(st, 13, m->is_shared);
    bind_data_source(st, 14, m);
    int rc = sqlite_exec_done(tx, st, "updating a memory", err);
    if (rc == 0 && sqlite3_changes(sqlite_tx_conn(tx)->db) == 0)
        return mr_err_set(err, MR_ENOTFOUND, "Memory not found");
    if (rc == 0 && with_embedding) {
        st = sqlite_stmt(tx, ST_MEM_UPDATE_EMB);
        sqlite3_bind_int64(st, 1, m->id);
        sqlite3_bind_blob(st, 2, m->embedding, (int)(m->dim * sizeof(float)), SQLITE_TRANSIENT);
        rc = sqlite_exec_done(tx, st, "updating an embedding", err);
    }
    return rc;
}

static int s_mem_delete(struct mr_store_tx *tx, const char *id, struct mr_err *err)
{
    sqlite3_stmt *st = sqlite_stmt(tx, ST_MEM_DELETE);
    sqlite_bind_text(st, 1, id);
    int rc = sqlite_exec_done(tx, st, "deleting a memory", err);
    if (rc == 0 && sqlite3_changes(sqlite_tx_conn(tx)->db) == 0)
        return mr_err_set(err, MR_ENOTFOUND, "Memory not found");
    return rc;
}

static int s_mem_list_by_conversation(struct mr_store_tx *tx, const char *conv, int64_t limit,
                                      int64_t offset, struct mr_memory **out, size_t *out_n,
                                      int64_t *out_total, struct mr_err *err)
{
    *out = NULL;
    *out_n = 0;
    sqlite3_stmt *st = sqlite_stmt(tx, ST_MEM_COUNT_CONV);
    sqlite_bind_text(st, 1, conv);
    int rc = count_rows(tx, st, out_total, err);
    if (rc)
        return rc;
    st = sqlite_stmt(tx, ST_MEM_LIST_CONV);
    sqlite_bind_text(st, 1, conv);
    sqlite3_bind_int64(st, 2, limit);
    sqlite3_bind_int64(st, 3, offset);
    return collect_rows(tx, st, sizeof **out, read_memory_row, clear_memory, (void **)out, out_n,
                        "listing memories", err);
}

/*
 * GET /api/memories: prepared per call (a person paging the dashboard, not
 * a hot path), so the statement table keeps to what requests run often.
 */
#define MEM_LIST_WHERE                                                                             \
    " FROM memories WHERE tenant_id = ?1 AND user_id = ?2 AND (?3 IS NULL OR memory_type = ?3)"

static int s_mem_list(struct mr_store_tx *tx, const struct mr_identity *who, int memory_type,
                      int64_t limit, int64_t offset, struct mr_memory **out, size_t *out_n,
                      int64_t *out_total, struct mr_err *err)
{
    static const char what[] = "listing memories";
    sqlite3 *db = sqlite_tx_conn(tx)->db;
    const char *type =
        memory_type >= 0 ? mr_memory_type_name((enum mr_memory_type)memory_type) : NULL;
    sqlite3_stmt *count = NULL, *st = NULL;
    *out = NULL;
    *out_n = 0;
    *out_total = 0;
    int rc = sqlite3_prepare_v2(db, "SELECT count(*)" MEM_LIST_WHERE, -1, &count, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(db,
                                "SELECT " MEM_COLS MEM_LIST_WHERE
                                " ORDER BY created_at DESC, id DESC LIMIT ?4 OFFSET ?5",
                                -1, &st, NULL);
    if (rc != SQLITE_OK) {
        rc = sqlite_db_error(err, db, rc, what);
        goto out;
    }
    sqlite_bind_text(count, 1, who->tenant_id);
    sqlite_bind_text(count, 2, who->user_id);
    sqlite_bind_text(count, 3, type);
    if ((rc = count_rows(tx, count, out_total, err)))
        goto out;
    sqlite_bind_text(st, 1, who->tenant_id);
    sqlite_bind_text(st, 2, who->user_id);
    sqlite_bind_text(st, 3, type);
    sqlite3_bind_int64(st, 4, limit);
    sqlite3_bind_int64(st, 5, offset);
    rc = collect_rows(tx, st, sizeof **out, read_memory_row, clear_memory, (void **)out, out_n,
                      what, err);
    /* The row reader checks every embedding; the list drops them after (as mem_page). */
    for (size_t i = 0; rc == 0 && i < *out_n; i++) {
        free((*out)[i].embedding);
        (*out)[i].embedding = NULL;
        (*out)[i].dim = 0;
    }
out:
    sqlite3_finalize(count);
    sqlite3_finalize(st);
    return rc;
}

static int s_mem_stats(struct mr_store_tx *tx, const struct mr_identity *who, struct mr_stats *out,
                       struct mr_err *err)
{
    sqlite3_stmt *st = sqlite_stmt(tx, ST_MEM_STATS);
    sqlite_bind_text(st, 1, who->tenant_id);
    sqlite_bind_text(st, 2, who->user_id);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sqlite3_reset(st);
        return sqlite_db_error(err, sqlite_tx_conn(tx)->db, rc, "computing statistics");
    }
    memset(out, 0, sizeof *out);
    out->total = sqlite3_column_int64(st, 0);
    for (int t = 0; t < MR_MEMORY_TYPE_COUNT; t++)
        out->by_type[t] = sqlite3_column_int64(st, 1 + t);
    out->archived = sqlite3_column_int64(st, 1 + MR_MEMORY_TYPE_COUNT);
    out->average_importance = sqlite3_column_double(st, 2 + MR_MEMORY_TYPE_COUNT);
    sqlite3_reset(st);
    return 0;
}

static int s_mem_archive(struct mr_store_tx *tx, const struct mr_identity *who,
                         const struct mr_archive_bounds *b, int64_t now, int64_t **out_ids,
                         char ***out_users, size_t *out_n, struct mr_err *err)
{
    sqlite3_stmt *st = sqlite_stmt(tx, ST_MEM_ARCHIVE);
    sqlite_bind_text(st, 1, who->tenant_id);
    sqlite_bind_text(st, 2, who->user_id);
    sqlite_bind_text(st, 3, mr_memory_type_name(b->type));
    sqlite3_bind_int64(st, 4, b->created_before);
    sqlite3_bind_double(st, 5, b->importance_below);
    sqlite3_bind_int64(st, 6, b->access_below);
    sqlite3_bind_int64(st, 7, now);
    size_t cap = 0, n = 0;
    int64_t *ids = NULL;
    char **users = NULL;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            ids = mr_xrealloc(ids, cap * sizeof *ids);
            users = mr_xrealloc(users, cap * sizeof *users);
        }
        ids[n] = sqlite3_column_int64(st, 0);
        users[n++] = sqlite_col_text(st, 1);
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        for (size_t i = 0; i < n; i++)
            free(users[i]);
        free(users);
        free(ids);
        *out_ids = NULL;
        *out_users = NULL;
        *out_n = 0;
        return sqlite_db_error(err, sqlite_tx_conn(tx)->db, rc, "archiving memories");
    }
    *out_ids = ids;
    *out_users = users;
    *out_n = n;
    return 0;
}

static int s_mem_search(struct mr_store_tx *tx, const struct mr_identity *who,
                        const struct mr_index_query *q, struct mr_memory **out, float **out_scores,
                        size_t *out_n, struct mr_err *err)
{
    (void)tx, (void)who, (void)q;
    *out = NULL;
    *out_scores = NULL;
    *out_n = 0;
    return mr_err_set(err, MR_ENOTSUP,
                      "the SQLite store has no vector index: search the in-process index");
}

static int s_mem_vector_search(struct mr_store_tx *tx, const struct mr_identity *who,
                               const struct mr_index_query *q, struct mr_index_hit **out,
                               size_t *out_n, struct mr_err *err)
{
    (void)tx, (void)who, (void)q;
    *out = NULL;
    *out_n = 0;
    return mr_err_set(err, MR_ENOTSUP,
                      "the SQLite store has no vector index: search the in-process index");
}

static int s_mem_lock(struct mr_store_tx *tx, const int64_t *ids, size_t n, struct mr_memory **out,
                      size_t *out_n, struct mr_err *err)
{
    (void)tx, (void)ids, (void)n;
    *out = NULL;
    *out_n = 0;
    return mr_err_set(err, MR_ENOTSUP,
                      "the SQLite store has no vector index: search the in-process index");
}

static int s_mem_candidates(struct mr_store_tx *tx, const struct mr_identity *who,
                            const struct mr_lex_terms *terms, const int64_t *ids, size_t n,
                            size_t dim, float *out_vecs, bool *out_found, double *out_bm25,
                            double *out_max, struct mr_err *err)
{
    (void)tx, (void)who, (void)terms, (void)ids, (void)dim, (void)out_vecs, (void)out_bm25;
    for (size_t i = 0; i < n; i++)
        out_found[i] = false;
    *out_max = 0;
    return mr_err_set(err, MR_ENOTSUP,
                      "the SQLite store has no vector index: search the in-process index");
}

/* The service keeps SQLite's lexical index in process, beside its vector index. */
static int s_mem_lex_search(struct mr_store_tx *tx, const struct mr_identity *who,
                            const struct mr_index_query *q, const struct mr_lex_terms *terms,
                            size_t k, struct mr_lex_hit **out, size_t *out_n, double *out_max,
                            struct mr_err *err)
{
    (void)tx, (void)who, (void)q, (void)terms, (void)k;
    *out = NULL;
    *out_n = 0;
    if (out_max)
        *out_max = 0;
    return mr_err_set(err, MR_ENOTSUP,
                      "the SQLite store has no lexical index: search the in-process index");
}

static int s_mem_sides_search(struct mr_store_tx *tx, const struct mr_identity *who,
                              const struct mr_index_query *q, const struct mr_lex_terms *terms,
                              size_t k, struct mr_index_hit **out_vec, size_t *out_n_vec,
                              struct mr_lex_hit **out_lex, size_t *out_n_lex, double *out_max,
                              struct mr_lex_hit **out_all, size_t *out_n_all, struct mr_err *err)
{
    (void)tx, (void)who, (void)q, (void)terms, (void)k;
    *out_vec = NULL;
    *out_n_vec = 0;
    *out_lex = NULL;
    *out_n_lex = 0;
    *out_all = NULL;
    *out_n_all = 0;
    if (out_max)
        *out_max = 0;
    return mr_err_set(err, MR_ENOTSUP,
                      "the SQLite store has no lexical index: search the in-process index");
}

/* The in-process index keeps SQLite's conversations' turns in order (src/index/convs.c). */
static int s_mem_context(struct mr_store_tx *tx, const struct mr_identity *who, const int64_t *ids,
                         size_t n, const int64_t *wide, size_t n_wide, bool around_vecs, size_t dim,
                         int64_t *out_around, int64_t **out_vec_ids, float **out_vecs,
                         size_t *out_n_vecs, struct mr_err *err)
{
    (void)tx, (void)who, (void)ids, (void)wide, (void)n_wide, (void)around_vecs, (void)dim;
    for (size_t i = 0; i < MR_STORE_WINDOW * n; i++)
        out_around[i] = 0;
    *out_vec_ids = NULL;
    *out_vecs = NULL;
    *out_n_vecs = 0;
    return mr_err_set(err, MR_ENOTSUP,
                      "the SQLite store has no lexical index: search the in-process index");
}

static int s_mem_sides_context(struct mr_store_tx *tx, const struct mr_identity *who,
                               const struct mr_index_query *q, const struct mr_lex_terms *terms,
                               size_t k, bool around_vecs, size_t dim,
                               struct mr_index_hit **out_vec, size_t *out_n_vec,
                               struct mr_lex_hit **out_lex, size_t *out_n_lex, double *out_max,
                               struct mr_lex_hit **out_all, size_t *out_n_all, int64_t **out_ids,
                               int64_t **out_around, size_t *out_n_ids, int64_t **out_vec_ids,
                               float **out_vecs, size_t *out_n_vecs, struct mr_err *err)
{
    (void)tx, (void)who, (void)q, (void)terms, (void)k, (void)around_vecs, (void)dim;
    *out_vec = NULL;
    *out_lex = NULL;
    *out_all = NULL;
    *out_ids = *out_around = *out_vec_ids = NULL;
    *out_vecs = NULL;
    *out_n_vec = *out_n_lex = *out_n_all = *out_n_ids = *out_n_vecs = 0;
    if (out_max)
        *out_max = 0;
    return mr_err_set(err, MR_ENOTSUP,
                      "the SQLite store has no lexical index: search the in-process index");
}

static int s_mem_neighbours(struct mr_store_tx *tx, const struct mr_identity *who,
                            const struct mr_lex_terms *terms, const int64_t *ids, size_t n,
                            int64_t *out_around, double *out_bm25, struct mr_err *err)
{
    (void)tx, (void)who, (void)terms, (void)ids;
    for (size_t i = 0; i < MR_STORE_WINDOW * n; i++) {
        out_around[i] = 0;
        out_bm25[i] = 0;
    }
    return mr_err_set(err, MR_ENOTSUP,
                      "the SQLite store has no lexical index: search the in-process index");
}

static int s_mem_lex_score(struct mr_store_tx *tx, const struct mr_identity *who,
                           const struct mr_lex_terms *terms, const int64_t *ids, size_t n,
                           double *out_scores, double *out_max, struct mr_err *err)
{
    (void)tx, (void)who, (void)terms, (void)ids;
    for (size_t i = 0; i < n; i++)
        out_scores[i] = 0;
    if (out_max)
        *out_max = 0;
    return mr_err_set(err, MR_ENOTSUP,
                      "the SQLite store has no lexical index: score with the in-process index");
}

/* Runs one of the access statements for d; *changed says whether it matched the row. */
static int access_update(struct mr_store_tx *tx, enum sqlite_stmt id,
                         const struct mr_access_delta *d, bool *changed, struct mr_err *err)
{
    sqlite3_stmt *st = sqlite_stmt(tx, id);
    sqlite3_bind_int64(st, 1, d->id);
    sqlite3_bind_int64(st, 2, d->count);
    sqlite3_bind_int64(st, 3, d->last_at);
    sqlite3_bind_double(st, 4, MR_ACCESS_IMPORTANCE_BOOST);
    sqlite3_bind_int64(st, 5, MR_PROMOTION_MIN_ACCESS);
    sqlite3_bind_double(st, 6, MR_PROMOTION_MIN_IMPORTANCE);
    sqlite_bind_text(st, 8, mr_memory_type_name(MR_SHORT_TERM));
    if (id == ST_MEM_ACCESS_FULL) {
        sqlite3_bind_double(st, 7, MR_PROMOTION_IMPORTANCE_BOOST);
        sqlite_bind_text(st, 9, mr_memory_type_name(MR_LONG_TERM));
    }
    int rc = sqlite_exec_done(tx, st, "recording accesses", err);
    *changed = rc == 0 && sqlite3_changes(sqlite_tx_conn(tx)->db) > 0;
    return rc;
}

/*
 * Row id's columns of a promotion event into *p (ST_MEM_PROMOTED: ids,
 * importance as importance_after, expiry as expires_before); *found false
 * when the row is gone.
 */
static int promotion_row(struct mr_store_tx *tx, int64_t id, struct mr_access_promotion *p,
                         bool *found, struct mr_err *err)
{
    sqlite3_stmt *st = sqlite_stmt(tx, ST_MEM_PROMOTED);
    sqlite3_bind_int64(st, 1, id);
    int rc = sqlite3_step(st);
    *found = rc == SQLITE_ROW;
    if (*found) {
        const unsigned char *uuid = sqlite3_column_text(st, 0);
        const unsigned char *user = sqlite3_column_text(st, 1);
        const unsigned char *tenant = sqlite3_column_text(st, 2);
        snprintf(p->memory_id, sizeof p->memory_id, "%s", uuid ? (const char *)uuid : "");
        free(p->user_id);
        free(p->tenant_id);
        p->user_id = mr_xstrdup(user ? (const char *)user : "");
        p->tenant_id = mr_xstrdup(tenant ? (const char *)tenant : "");
        p->importance_after = sqlite3_column_double(st, 3);
        p->expires_before =
            sqlite3_column_type(st, 4) == SQLITE_NULL ? MR_NO_TIME : sqlite3_column_int64(st, 4);
    }
    sqlite3_reset(st);
    if (rc == SQLITE_ROW || rc == SQLITE_DONE)
        return 0;
    return sqlite_db_error(err, sqlite_tx_conn(tx)->db, rc, "reading a promoted memory");
}

/*
 * The promoting merge of d; when the caller wants the promotion (p not
 * NULL), the row's few columns are read before and after it into *p, kept
 * when it matched (*promoted).
 */
static int access_promote(struct mr_store_tx *tx, const struct mr_access_delta *d,
                          struct mr_access_promotion *p, bool *promoted, struct mr_err *err)
{
    *promoted = false;
    bool found = true;
    int rc = p ? promotion_row(tx, d->id, p, &found, err) : 0;
    if (rc || !found)
        return rc; /* gone: deleted since the accesses, nothing to merge */
    double importance = p ? p->importance_after : 0;
    int64_t expires = p ? p->expires_before : MR_NO_TIME;
    rc = access_update(tx, ST_MEM_ACCESS_FULL, d, promoted, err);
    if (rc == 0 && *promoted && p && (rc = promotion_row(tx, d->id, p, &found, err)) == 0) {
        p->id = d->id;
        p->at = d->last_at;
        p->importance_before = importance;
        p->expires_before = expires;
    }
    if (p && (rc || !*promoted)) {
        free(p->user_id);
        free(p->tenant_id);
        memset(p, 0, sizeof *p);
    }
    return rc;
}

/*
 * One cached UPDATE per memory (SQLite statements cost no round trip); the
 * promoting one only when the plain merge matched nothing, the row read
 * around it then for the promotion's event (a row promotes once). SQLite has
 * no row locks: the write transaction already excludes every other writer,
 * so a count of 0 runs nothing.
 */
static int s_mem_record_access(struct mr_store_tx *tx, const struct mr_access_delta *d, size_t n,
                               size_t *out_changed, struct mr_access_promotion **out_promoted,
                               size_t *out_n_promoted, struct mr_err *err)
{
    size_t merged = 0, np = 0;
    struct mr_access_promotion *p = NULL;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (d[i].count <= 0)
            continue;
        bool changed = false;
        rc = access_update(tx, ST_MEM_ACCESS, &d[i], &changed, err);
        if (rc == 0 && !changed) {
            if (out_promoted && !p)
                p = mr_xcalloc(n, sizeof *p);
            rc = access_promote(tx, &d[i], out_promoted ? &p[np] : NULL, &changed, err);
            np += changed && out_promoted;
        }
        merged += changed; /* neither matched: deleted since the accesses */
    }
    if (rc || !out_promoted || np == 0) {
        mr_access_promotions_free(p, np);
        p = NULL;
        np = 0;
    }
    if (out_changed)
        *out_changed = rc ? 0 : merged;
    if (out_promoted) {
        *out_promoted = p;
        *out_n_promoted = np;
    }
    return rc;
}

static int s_mem_scan(struct mr_store_tx *tx, mr_store_scan_fn fn, void *arg, struct mr_err *err)
{
    sqlite3_stmt *st = sqlite_stmt(tx, ST_MEM_SCAN);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct mr_memory m;
        if ((rc = sqlite_read_memory(st, &m, err)) != 0)
            break;
        rc = fn(arg, &m);
        mr_memory_clear(&m);
        if (rc != 0)
            break;
    }
    sqlite3_reset(st);
    if (rc == SQLITE_DONE)
        return 0;
    return rc < 0 ? rc : sqlite_db_error(err, sqlite_tx_conn(tx)->db, rc, "scanning memories");
}

const struct mr_store_ops sqlite_store_ops = {
    .name = "sqlite",
    .begin = sqlite_begin,
    .commit = sqlite_commit,
    .rollback = sqlite_rollback,
    .check_model = sqlite_check_model,
    .set_model = sqlite_set_model,
    .conv_get = s_conv_get,
    .conv_insert = s_conv_insert,
    .conv_update = s_conv_update,
    .conv_delete = s_conv_delete,
    .conv_list = s_conv_list,
    .mem_insert = s_mem_insert,
    .mem_get = s_mem_get,
    .mem_get_by_id = s_mem_get_by_id,
    .mem_update = s_mem_update,
    .mem_delete = s_mem_delete,
    .mem_list_by_conversation = s_mem_list_by_conversation,
    .mem_stats = s_mem_stats,
    .mem_archive = s_mem_archive,
    .mem_search = s_mem_search,
    .mem_record_access = s_mem_record_access,
    .mem_vector_search = s_mem_vector_search,
    .mem_lock = s_mem_lock,
    .mem_candidates = s_mem_candidates,
    .mem_lex_search = s_mem_lex_search,
    .mem_sides_search = s_mem_sides_search,
    .mem_lex_score = s_mem_lex_score,
    .mem_neighbours = s_mem_neighbours,
    .mem_context = s_mem_context,
    .mem_sides_context = s_mem_sides_context,
    .mem_scan = s_mem_scan,
    .schema_get = sqlite_schema_get,
    .schema_put = sqlite_schema_put,
    .schema_delete = sqlite_schema_delete,
    .mem_ids_by_data_source = sqlite_mem_ids_by_data_source,
    .health = sqlite_health,
    .close = sqlite_close,
    .conv_page = sqlite_conv_page,
    .mem_page = sqlite_mem_page,
    .schema_page = sqlite_schema_page,
    .model_get = sqlite_model_get,
    .conv_restore = sqlite_conv_restore,
    .mem_restore = sqlite_mem_restore,
    .mem_find_example = sqlite_mem_find_example,
    .mem_find_joins = sqlite_mem_find_joins,
    .ds_owner_conversation = sqlite_ds_owner_conversation,
    .mem_list = s_mem_list,
    .hist_insert = sqlite_hist_insert,
    .hist_list = sqlite_hist_list,
    .mem_find_dedup = sqlite_mem_find_dedup,
    .mem_set_dedup_key = sqlite_mem_set_dedup_key,
    .hist_page = sqlite_hist_page,
    .hist_restore = sqlite_hist_restore,
};

/* ---- export, import and migrate: prepared per call, as they run seldom ---- */

static int prepare_once(struct mr_store_tx *tx, const char *sql, sqlite3_stmt **out,
                        const char *what, struct mr_err *err)
{
    sqlite3 *db = sqlite_tx_conn(tx)->db;
    int rc = sqlite3_prepare_v2(db, sql, -1, out, NULL);
    return rc == SQLITE_OK ? 0 : sqlite_db_error(err, db, rc, what);
}

/* Binds the page's identity filter (?1 tenant, ?2 user; NULL: any), after_id ?3, limit ?4. */
static void bind_page(sqlite3_stmt *st, const struct mr_identity *who, int64_t after_id,
                      size_t limit)
{
    sqlite_bind_text(st, 1, who ? who->tenant_id : NULL);
    sqlite_bind_text(st, 2, who ? who->user_id : NULL);
    sqlite3_bind_int64(st, 3, after_id);
    sqlite3_bind_int64(st, 4, (sqlite3_int64)limit);
}

#define PAGE_WHERE                                                                                 \
    " WHERE id > ?3 AND (?1 IS NULL OR tenant_id = ?1) AND (?2 IS NULL OR user_id = ?2) "          \
    "ORDER BY id LIMIT ?4"

int sqlite_conv_page(struct mr_store_tx *tx, const struct mr_identity *who, int64_t after_id,
                     size_t limit, struct mr_conversation **out, size_t *out_n, struct mr_err *err)
{
    static const char what[] = "paging conversations";
    sqlite3_stmt *st = NULL;
    *out = NULL;
    *out_n = 0;
    int rc = prepare_once(tx, "SELECT " CONV_COLS " FROM conversations" PAGE_WHERE, &st, what, err);
    if (rc)
        return rc;
    bind_page(st, who, after_id, limit);
    rc = collect_rows(tx, st, sizeof **out, read_conversation_row, clear_conversation, (void **)out,
                      out_n, what, err);
    sqlite3_finalize(st);
    return rc;
}

int sqlite_mem_page(struct mr_store_tx *tx, const struct mr_identity *who, int64_t after_id,
                    size_t limit, bool with_embedding, struct mr_memory **out, size_t *out_n,
                    struct mr_err *err)
{
    static const char what[] = "paging memories";
    sqlite3_stmt *st = NULL;
    *out = NULL;
    *out_n = 0;
    int rc = prepare_once(tx, "SELECT " MEM_COLS " FROM memories" PAGE_WHERE, &st, what, err);
    if (rc)
        return rc;
    bind_page(st, who, after_id, limit);
    rc = collect_rows(tx, st, sizeof **out, read_memory_row, clear_memory, (void **)out, out_n,
                      what, err);
    sqlite3_finalize(st);
    /* The row reader checks every embedding; a page without them drops them after. */
    for (size_t i = 0; rc == 0 && !with_embedding && i < *out_n; i++) {
        free((*out)[i].embedding);
        (*out)[i].embedding = NULL;
        (*out)[i].dim = 0;
    }
    return rc;
}

int sqlite_schema_page(struct mr_store_tx *tx, const char *tenant_id, const char *after_tenant,
                       int64_t after_ds, size_t limit, struct mr_source_schema **out, size_t *out_n,
                       struct mr_err *err)
{
    static const char what[] = "paging data-source schemas";
    sqlite3_stmt *st = NULL;
    *out = NULL;
    *out_n = 0;
    int rc = prepare_once(tx,
                          "SELECT tenant_id, data_source_id, dialect, schema_hash, schema_json, "
                          "conversation_id, updated_at FROM data_source_schemas "
                          "WHERE (?1 IS NULL OR tenant_id = ?1) "
                          "AND (?2 IS NULL OR (tenant_id, data_source_id) > (?2, ?3)) "
                          "ORDER BY tenant_id, data_source_id LIMIT ?4",
                          &st, what, err);
    if (rc)
        return rc;
    sqlite_bind_text(st, 1, tenant_id);
    sqlite_bind_text(st, 2, after_tenant);
    sqlite3_bind_int64(st, 3, after_ds);
    sqlite3_bind_int64(st, 4, (sqlite3_int64)limit);
    size_t cap = 0;
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        if (*out_n == cap) {
            cap = cap ? cap * 2 : 16;
            *out = mr_xrealloc(*out, cap * sizeof **out);
        }
        struct mr_source_schema *sc = &(*out)[(*out_n)++];
        memset(sc, 0, sizeof *sc);
        sc->tenant_id = sqlite_col_text(st, 0);
        sc->data_source_id = sqlite3_column_int64(st, 1);
        sc->dialect = sqlite_col_text(st, 2);
        sc->schema_hash = sqlite_col_text(st, 3);
        sc->schema_json = sqlite_col_text(st, 4);
        const unsigned char *c = sqlite3_column_text(st, 5);
        snprintf(sc->conversation_id, sizeof sc->conversation_id, "%s", c ? (const char *)c : "");
        sc->updated_at = sqlite3_column_int64(st, 6);
    }
    if (s != SQLITE_DONE) {
        rc = sqlite_db_error(err, sqlite_tx_conn(tx)->db, s, what);
        for (size_t i = 0; i < *out_n; i++)
            mr_source_schema_clear(&(*out)[i]);
        free(*out);
        *out = NULL;
        *out_n = 0;
    }
    sqlite3_finalize(st);
    return rc;
}

int sqlite_model_get(struct mr_store_tx *tx, char **out_model, size_t *out_dim, struct mr_err *err)
{
    const char *keys[2] = {"embedding_model", "embedding_dimensions"};
    char *vals[2] = {NULL, NULL};
    int rc = 0;
    *out_model = NULL;
    *out_dim = 0;
    for (int k = 0; k < 2 && rc == 0; k++) {
        sqlite3_stmt *st = sqlite_stmt(tx, ST_META_GET);
        sqlite_bind_text(st, 1, keys[k]);
        int s = sqlite3_step(st);
        if (s == SQLITE_ROW)
            vals[k] = sqlite_col_text(st, 0);
        else if (s != SQLITE_DONE)
            rc = sqlite_db_error(err, sqlite_tx_conn(tx)->db, s, "reading the recorded model");
        sqlite3_reset(st);
    }
    if (rc == 0 && vals[0]) {
        *out_model = vals[0];
        vals[0] = NULL;
        *out_dim = vals[1] ? (size_t)strtoull(vals[1], NULL, 10) : 0;
    }
    free(vals[0]);
    free(vals[1]);
    return rc;
}

/* The row id to insert: keep (?n) when no row holds it, else NULL (SQLite picks the next). */
#define KEEP_ID(table, n)                                                                          \
    "(SELECT CASE WHEN ?" n " > 0 AND NOT EXISTS (SELECT 1 FROM " table " WHERE id = ?" n          \
    ") THEN ?" n " END)"

int sqlite_conv_restore(struct mr_store_tx *tx, struct mr_conversation *c, struct mr_err *err)
{
    static const char what[] = "restoring a conversation";
    sqlite3_stmt *st = NULL;
    int rc = prepare_once(tx,
                          "INSERT INTO conversations(id, conversation_id, user_id, tenant_id, "
                          "data_source_id, title, metadata, is_active, last_activity_at, "
                          "created_at, updated_at) VALUES (" KEEP_ID(
                              "conversations", "11") ",?1,?2,?3,?4,?5,?6,?7,?8,?9,?10)",
                          &st, what, err);
    if (rc)
        return rc;
    bind_conversation_row(st, c);
    sqlite3_bind_int64(st, 11, c->id);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc == SQLITE_CONSTRAINT || (rc & 0xff) == SQLITE_CONSTRAINT)
        return mr_err_set(err, MR_ECONFLICT, "conversation %s already exists", c->conversation_id);
    if (rc != SQLITE_DONE)
        return sqlite_db_error(err, sqlite_tx_conn(tx)->db, rc, what);
    c->id = sqlite3_last_insert_rowid(sqlite_tx_conn(tx)->db);
    return 0;
}

int sqlite_mem_restore(struct mr_store_tx *tx, struct mr_memory *m, struct mr_err *err)
{
    static const char what[] = "restoring a memory";
    sqlite3_stmt *st = NULL;
    int rc = prepare_once(tx,
                          "INSERT INTO memories(id, memory_id, conversation_id, user_id, "
                          "tenant_id, content, memory_type, embedding, importance_score, "
                          "access_count, last_accessed_at, context_tags, related_entities, "
                          "metadata, expires_at, is_archived, created_at, updated_at, is_shared, "
                          "data_source_id) VALUES (" KEEP_ID(
                              "memories", "20") ",?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,"
                                                "?14,?15,?16,?17,?18,?19)",
                          &st, what, err);
    if (rc)
        return rc;
    bind_memory_row(st, m);
    sqlite3_bind_int64(st, 20, m->id);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if ((rc & 0xff) == SQLITE_CONSTRAINT)
        return mr_err_set(err, MR_ECONFLICT,
                          "memory %s already exists, or its conversation "
                          "does not",
                          m->memory_id);
    if (rc != SQLITE_DONE)
        return sqlite_db_error(err, sqlite_tx_conn(tx)->db, rc, what);
    m->id = sqlite3_last_insert_rowid(sqlite_tx_conn(tx)->db);
    return 0;
}

/*
 * ---- the lookups of example ingestion ----
 *
 * Prepared per call (an example makes a handful of them). The index
 * memories_data_source_type (schema version 4) narrows to the source's rows
 * of one type and owner, memories_join_key to a join by its key (named:
 * without statistics the planner prefers the four-column one); json_type
 * guards that a field matches only as a JSON string, as the core's reading
 * did.
 */

/*
 * Steps st (prepared per call, bound) once: its row read into *out when there
 * is one (*out_found), then finalized. 0 or the error.
 */
static int first_memory(struct mr_store_tx *tx, sqlite3_stmt *st, const char *what,
                        struct mr_memory *out, bool *out_found, struct mr_err *err)
{
    int rc = 0, s = sqlite3_step(st);
    if (s == SQLITE_ROW) {
        rc = sqlite_read_memory(st, out, err);
        *out_found = rc == 0;
    } else if (s != SQLITE_DONE) {
        rc = sqlite_db_error(err, sqlite_tx_conn(tx)->db, s, what);
    }
    sqlite3_finalize(st);
    return rc;
}

int sqlite_mem_find_example(struct mr_store_tx *tx, const char *tenant_id, const char *user_id,
                            int64_t data_source_id, const char *question_normalized,
                            const char *fingerprint, struct mr_memory *out, bool *out_found,
                            struct mr_err *err)
{
    static const char what[] = "looking up an example";
    sqlite3_stmt *st = NULL;
    memset(out, 0, sizeof *out);
    *out_found = false;
    if (!question_normalized || !fingerprint)
        return 0;
    int rc = prepare_once(tx,
                          "SELECT " MEM_COLS " FROM memories WHERE tenant_id = ?1 "
                          "AND data_source_id = ?2 AND user_id = ?3 AND memory_type = 'example' "
                          "AND json_valid(metadata) "
                          "AND json_type(metadata, '$.question_normalized') = 'text' "
                          "AND json_extract(metadata, '$.question_normalized') = ?4 "
                          "AND json_type(metadata, '$.fingerprint') = 'text' "
                          "AND json_extract(metadata, '$.fingerprint') = ?5 ORDER BY id LIMIT 1",
                          &st, what, err);
    if (rc)
        return rc;
    sqlite_bind_text(st, 1, tenant_id);
    sqlite3_bind_int64(st, 2, data_source_id);
    sqlite_bind_text(st, 3, user_id);
    sqlite_bind_text(st, 4, question_normalized);
    sqlite_bind_text(st, 5, fingerprint);
    return first_memory(tx, st, what, out, out_found, err);
}

int sqlite_mem_find_joins(struct mr_store_tx *tx, const char *tenant_id, int64_t data_source_id,
                          const char *const *keys, size_t n, int64_t *out_ids, struct mr_err *err)
{
    static const char what[] = "looking up a join";
    sqlite3_stmt *st = NULL;
    for (size_t i = 0; i < n; i++)
        out_ids[i] = 0;
    if (n == 0)
        return 0;
    int rc = prepare_once(tx,
                          "SELECT id FROM memories INDEXED BY memories_join_key "
                          "WHERE tenant_id = ?1 AND data_source_id = ?2 "
                          "AND data_source_id IS NOT NULL AND memory_type = 'relationship' "
                          "AND user_id = '' AND json_extract(metadata, '$.join_key') = ?3 "
                          "AND json_type(metadata, '$.kind') = 'text' "
                          "AND json_extract(metadata, '$.kind') = 'join' "
                          "AND json_type(metadata, '$.join_key') = 'text' ORDER BY id LIMIT 1",
                          &st, what, err);
    if (rc)
        return rc;
    sqlite_bind_text(st, 1, tenant_id);
    sqlite3_bind_int64(st, 2, data_source_id);
    for (size_t i = 0; i < n && rc == 0; i++) {
        sqlite_bind_text(st, 3, keys[i]);
        int s = sqlite3_step(st);
        if (s == SQLITE_ROW)
            out_ids[i] = sqlite3_column_int64(st, 0);
        else if (s != SQLITE_DONE)
            rc = sqlite_db_error(err, sqlite_tx_conn(tx)->db, s, what);
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    return rc;
}

int sqlite_ds_owner_conversation(struct mr_store_tx *tx, const char *tenant_id,
                                 int64_t data_source_id, char out[MR_UUID_LEN], struct mr_err *err)
{
    static const char what[] = "finding a data source's conversation";
    sqlite3_stmt *st = NULL;
    out[0] = '\0';
    int rc = prepare_once(tx,
                          "SELECT conversation_id FROM memories WHERE tenant_id = ?1 "
                          "AND data_source_id = ?2 AND user_id = '' ORDER BY id LIMIT 1",
                          &st, what, err);
    if (rc)
        return rc;
    sqlite_bind_text(st, 1, tenant_id);
    sqlite3_bind_int64(st, 2, data_source_id);
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW) {
        const unsigned char *c = sqlite3_column_text(st, 0);
        snprintf(out, MR_UUID_LEN, "%s", c ? (const char *)c : "");
    } else if (s != SQLITE_DONE) {
        rc = sqlite_db_error(err, sqlite_tx_conn(tx)->db, s, what);
    }
    sqlite3_finalize(st);
    return rc;
}

/*
 * ---- memory hygiene (issue 20) ----
 *
 * Prepared per call, as the lookups of example ingestion are: a create
 * makes one lookup and one or two writes here.
 */

/*
 * Binds an event's seven columns (?1..?7, as insert and restore both name
 * them), runs st and finalizes it; e->id becomes the stored row's id.
 */
/* Binds e to st and runs it; st is then reset (cached) or finalized (prepared once). */
static int write_history(struct mr_store_tx *tx, sqlite3_stmt *st, bool cached,
                         struct mr_history_event *e, const char *what, struct mr_err *err)
{
    sqlite_bind_text(st, 1, e->memory_id);
    sqlite_bind_text(st, 2, e->user_id);
    sqlite_bind_text(st, 3, e->tenant_id);
    sqlite_bind_text(st, 4, e->actor);
    sqlite_bind_text(st, 5, e->kind);
    sqlite_bind_text(st, 6, e->changes ? e->changes : "{}");
    sqlite3_bind_int64(st, 7, e->created_at);
    int rc = 0;
    int s = sqlite3_step(st);
    if (s == SQLITE_DONE)
        e->id = sqlite3_last_insert_rowid(sqlite_tx_conn(tx)->db);
    else
        rc = sqlite_db_error(err, sqlite_tx_conn(tx)->db, s, what);
    if (cached)
        sqlite3_reset(st);
    else
        sqlite3_finalize(st);
    return rc;
}

int sqlite_hist_insert(struct mr_store_tx *tx, struct mr_history_event *e, struct mr_err *err)
{
    return write_history(tx, sqlite_stmt(tx, ST_HIST_INSERT), true, e,
                         "recording a memory's history", err);
}

static int read_history_row(sqlite3_stmt *st, void *slot, struct mr_err *err)
{
    (void)err;
    struct mr_history_event *e = slot;
    memset(e, 0, sizeof *e);
    e->id = sqlite3_column_int64(st, 0);
    const unsigned char *id = sqlite3_column_text(st, 1);
    snprintf(e->memory_id, sizeof e->memory_id, "%s", id ? (const char *)id : "");
    e->user_id = sqlite_col_text(st, 2);
    e->tenant_id = sqlite_col_text(st, 3);
    e->actor = sqlite_col_text(st, 4);
    e->kind = sqlite_col_text(st, 5);
    e->changes = sqlite_col_text(st, 6);
    e->created_at = sqlite3_column_int64(st, 7);
    return 0;
}

static void clear_history(void *slot)
{
    mr_history_event_clear(slot);
}

int sqlite_hist_list(struct mr_store_tx *tx, const char *memory_id, int64_t limit, int64_t offset,
                     struct mr_history_event **out, size_t *out_n, int64_t *out_total,
                     struct mr_err *err)
{
    static const char what[] = "reading a memory's history";
    sqlite3_stmt *st = NULL;
    *out = NULL;
    *out_n = 0;
    *out_total = 0;
    int rc = prepare_once(tx, "SELECT count(*) FROM memory_history WHERE memory_id = ?1", &st, what,
                          err);
    if (rc)
        return rc;
    sqlite_bind_text(st, 1, memory_id);
    rc = count_rows(tx, st, out_total, err);
    sqlite3_finalize(st);
    if (rc || *out_total == 0)
        return rc;
    rc = prepare_once(tx,
                      "SELECT id, memory_id, user_id, tenant_id, actor, kind, changes, created_at "
                      "FROM memory_history WHERE memory_id = ?1 ORDER BY id LIMIT ?2 OFFSET ?3",
                      &st, what, err);
    if (rc)
        return rc;
    sqlite_bind_text(st, 1, memory_id);
    sqlite3_bind_int64(st, 2, limit);
    sqlite3_bind_int64(st, 3, offset);
    rc = collect_rows(tx, st, sizeof **out, read_history_row, clear_history, (void **)out, out_n,
                      what, err);
    sqlite3_finalize(st);
    return rc;
}

int sqlite_mem_find_dedup(struct mr_store_tx *tx, const char *tenant_id, const char *user_id,
                          const char *key, struct mr_memory *out, bool *out_found,
                          struct mr_err *err)
{
    static const char what[] = "looking up a duplicate";
    sqlite3_stmt *st = NULL;
    memset(out, 0, sizeof *out);
    *out_found = false;
    int rc = prepare_once(tx,
                          "SELECT " MEM_COLS " FROM memories INDEXED BY memories_dedup "
                          "WHERE tenant_id = ?1 AND user_id = ?2 AND dedup_key = ?3 "
                          "AND dedup_key IS NOT NULL AND is_archived = 0 LIMIT 1",
                          &st, what, err);
    if (rc)
        return rc;
    sqlite_bind_text(st, 1, tenant_id);
    sqlite_bind_text(st, 2, user_id);
    sqlite_bind_text(st, 3, key);
    return first_memory(tx, st, what, out, out_found, err);
}

int sqlite_mem_set_dedup_key(struct mr_store_tx *tx, int64_t id, const char *key,
                             struct mr_err *err)
{
    static const char what[] = "recording a memory's dedup key";
    sqlite3_stmt *st = NULL;
    int rc = prepare_once(tx, "UPDATE memories SET dedup_key = ?2 WHERE id = ?1", &st, what, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, id);
    sqlite_bind_text(st, 2, key);
    int s = sqlite3_step(st);
    if (s != SQLITE_DONE)
        rc = sqlite_db_error(err, sqlite_tx_conn(tx)->db, s, what);
    else if (sqlite3_changes(sqlite_tx_conn(tx)->db) == 0)
        rc = mr_err_set(err, MR_ENOTFOUND, "Memory not found");
    sqlite3_finalize(st);
    if (rc == MR_ECONFLICT)
        return mr_err_set(err, MR_ECONFLICT, "another live memory of this user holds this content");
    return rc;
}

int sqlite_hist_page(struct mr_store_tx *tx, const struct mr_identity *who, int64_t after_id,
                     size_t limit, struct mr_history_event **out, size_t *out_n, struct mr_err *err)
{
    static const char what[] = "paging memory history";
    sqlite3_stmt *st = NULL;
    *out = NULL;
    *out_n = 0;
    int rc = prepare_once(tx,
                          "SELECT id, memory_id, user_id, tenant_id, actor, kind, changes, "
                          "created_at FROM memory_history" PAGE_WHERE,
                          &st, what, err);
    if (rc)
        return rc;
    bind_page(st, who, after_id, limit);
    rc = collect_rows(tx, st, sizeof **out, read_history_row, clear_history, (void **)out, out_n,
                      what, err);
    sqlite3_finalize(st);
    return rc;
}

int sqlite_hist_restore(struct mr_store_tx *tx, struct mr_history_event *e, struct mr_err *err)
{
    static const char what[] = "restoring a memory's history";
    sqlite3_stmt *st = NULL;
    /* AUTOINCREMENT's sequence follows a kept id, so later events still come after it. */
    int rc = prepare_once(tx,
                          "INSERT INTO memory_history(id, memory_id, user_id, tenant_id, actor, "
                          "kind, changes, created_at) VALUES (" KEEP_ID(
                              "memory_history", "8") ", ?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                          &st, what, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 8, e->id);
    return write_history(tx, st, false, e, what, err);
}
