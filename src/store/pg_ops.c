/*
 * pg_ops.c — the PostgreSQL store's statements and the operations of
 * store.h on them (see pg_int.h). Embeddings live in a pgvector vector(d)
 * column with an HNSW index (vector_cosine_ops), so several stateless
 * memori processes can share one database. Search runs in SQL with its
 * filters and pgvector 0.8's iterative index scan, so a filtered query
 * still fills its limit; the rows it returns are then locked FOR UPDATE in
 * id order (no deadlock between searches, nor with archival), so two
 * processes recording accesses to one memory never lose an increment.
 *
 * No rule of the domain is written here but as bound values: archival binds
 * mr_rule_archive_bounds, and search's expiry filter is the one predicate
 * that mirrors mr_rule_expired_at (commented where it stands).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg_int.h"

#define SCAN_BATCH 500

/* µs since the epoch <-> timestamptz, exactly (an int8 times 1 µs). */
#define TS_IN(x) "(timestamptz 'epoch' + (" x ")::int8 * interval '1 microsecond')"
#define TS_OUT(c) "(extract(epoch from " c ") * 1000000)::int8"

/* The SQL reads best laid out by hand. */
/* clang-format off */
#define MEM_COLS_BUT_EMB                                                                           \
    "id, memory_id, conversation_id, user_id, tenant_id, content, memory_type, "                   \
    "importance_score, access_count, " TS_OUT("last_accessed_at") ", context_tags, "              \
    "related_entities, metadata, " TS_OUT("expires_at") ", is_archived, "                        \
    TS_OUT("created_at") ", " TS_OUT("updated_at") ", is_shared, data_source_id"
/*
 * Column 19 is the embedding (or NULL where the caller needs none), cast to
 * plain vector: a prepared statement must keep its result type when a model
 * change gives the column another dimension.
 */
#define MEM_COLS MEM_COLS_BUT_EMB ", embedding::vector"
#define CONV_COLS                                                                                  \
    "id, conversation_id, user_id, tenant_id, data_source_id, title, metadata, is_active, "        \
    TS_OUT("last_activity_at") ", " TS_OUT("created_at") ", " TS_OUT("updated_at")

const char *const pg_stmt_sql[P_COUNT] = {
    [P_META_GET] = "SELECT value FROM memori_meta WHERE key = $1",
    [P_META_PUT] =
        "INSERT INTO memori_meta(key, value) VALUES ($1, $2) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    [P_CONV_GET] = "SELECT " CONV_COLS " FROM memori_conversations WHERE conversation_id = $1",
    /* ON CONFLICT keeps the transaction usable: a duplicate is reported, not raised. */
    [P_CONV_INSERT] =
        "INSERT INTO memori_conversations(conversation_id, user_id, tenant_id, data_source_id, "
        "title, metadata, is_active, last_activity_at, created_at, updated_at) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, " TS_IN("$8") ", " TS_IN("$9") ", " TS_IN("$10") ") "
        "ON CONFLICT (conversation_id) DO NOTHING RETURNING id",
    [P_CONV_UPDATE] =
        "UPDATE memori_conversations SET data_source_id = $2, title = $3, metadata = $4, "
        "is_active = $5, last_activity_at = " TS_IN("$6") ", updated_at = " TS_IN("$7") " "
        "WHERE conversation_id = $1",
    [P_CONV_DELETE] = "DELETE FROM memori_conversations WHERE conversation_id = $1",
    [P_CONV_LIST] =
        "SELECT " CONV_COLS " FROM memori_conversations WHERE tenant_id = $1 AND user_id = $2 "
        "ORDER BY last_activity_at DESC, id DESC LIMIT $3 OFFSET $4",
    [P_CONV_COUNT] =
        "SELECT count(*) FROM memori_conversations WHERE tenant_id = $1 AND user_id = $2",
    [P_MEM_INSERT] =
        "INSERT INTO memori_memories(memory_id, conversation_id, user_id, tenant_id, content, "
        "memory_type, embedding, importance_score, access_count, last_accessed_at, "
        "context_tags, related_entities, metadata, expires_at, is_archived, created_at, "
        "updated_at, is_shared, data_source_id) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, " TS_IN("$10") ", $11, $12, $13, "
        TS_IN("$14") ", $15, " TS_IN("$16") ", " TS_IN("$17") ", $18, $19) RETURNING id",
    [P_MEM_GET] = "SELECT " MEM_COLS " FROM memori_memories WHERE memory_id = $1",
    [P_MEM_GET_BY_ID] = "SELECT " MEM_COLS " FROM memori_memories WHERE id = $1",
    [P_MEM_UPDATE] =
        "UPDATE memori_memories SET content = $2, memory_type = $3, importance_score = $4, "
        "access_count = $5, last_accessed_at = " TS_IN("$6") ", context_tags = $7, "
        "related_entities = $8, metadata = $9, expires_at = " TS_IN("$10") ", "
        "is_archived = $11, updated_at = " TS_IN("$12") ", is_shared = $13, "
        "data_source_id = $14 WHERE id = $1",
    [P_MEM_UPDATE_EMB] = "UPDATE memori_memories SET embedding = $2 WHERE id = $1",
    [P_MEM_DELETE] = "DELETE FROM memori_memories WHERE memory_id = $1",
    [P_MEM_LIST_CONV] =
        "SELECT " MEM_COLS " FROM memori_memories WHERE conversation_id = $1 "
        "ORDER BY created_at, id LIMIT $2 OFFSET $3",
    [P_MEM_COUNT_CONV] = "SELECT count(*) FROM memori_memories WHERE conversation_id = $1",
    [P_MEM_IDS_CONV] = "SELECT id FROM memori_memories WHERE conversation_id = $1",
    [P_MEM_STATS] =
        "SELECT count(*), "
        "count(*) FILTER (WHERE memory_type = 'short_term'), "
        "count(*) FILTER (WHERE memory_type = 'long_term'), "
        "count(*) FILTER (WHERE memory_type = 'rule'), "
        "count(*) FILTER (WHERE memory_type = 'entity'), "
        "count(*) FILTER (WHERE memory_type = 'relationship'), "
        "count(*) FILTER (WHERE memory_type = 'example'), "
        "count(*) FILTER (WHERE is_archived), coalesce(avg(importance_score), 0) "
        "FROM memori_memories WHERE tenant_id = $1 AND ($2::text IS NULL OR user_id = $2)",
    /*
     * Archival, with the rule's bounds bound (mr_rule_archive_bounds): its
     * constants live in rules.c alone. The rows are found without locks,
     * then locked in id order as search locks its hits (P_MEM_LOCK): an
     * UPDATE locking in scan order could deadlock with a search of the same
     * user. A row changed meanwhile is re-checked against the bounds when it
     * is locked (READ COMMITTED), and skipped if it no longer meets them.
     */
    [P_MEM_ARCHIVE] =
        "WITH due AS (SELECT id FROM memori_memories "
        "  WHERE tenant_id = $1 AND ($2::text IS NULL OR user_id = $2) AND memory_type = $3 "
        "  AND NOT is_archived AND created_at < " TS_IN("$4") " AND importance_score < $5 "
        "  AND access_count < $6 ORDER BY id FOR UPDATE) "
        "UPDATE memori_memories AS m SET is_archived = true, updated_at = " TS_IN("$7") " "
        "FROM due WHERE m.id = due.id RETURNING m.id, m.user_id",
    /*
     * ORDER BY the distance alone, so the HNSW index can serve it (with
     * hnsw.iterative_scan the scan goes on until the filters let `limit` rows
     * through); rows below min_similarity are dropped after, in C. The
     * expiry filter is the one place this store restates a rule: live at
     * now ($8) is the negation of mr_rule_expired_at (rules.c). Another
     * user's rows: shared ones under relaxed isolation ($4), and in both
     * levels the tenant's knowledge — schema memories, owned by no user
     * (user_id '', a data source: core_tenant_knowledge, DESIGN.md §9).
     */
    [P_MEM_SEARCH] =
        "SELECT id, 1 - (embedding <=> $1) FROM memori_memories "
        "WHERE tenant_id = $2 AND (user_id = $3 OR (is_shared AND "
        "  memory_type IN ('rule', 'entity', 'relationship', 'example') AND ($4::boolean OR "
        "  (user_id = '' AND data_source_id IS NOT NULL)))) "
        "AND ($5::uuid IS NULL OR conversation_id = $5::uuid) "
        "AND ($6::text[] IS NULL OR memory_type = ANY($6::text[])) "
        "AND ($7::boolean OR NOT is_archived) "
        "AND (expires_at IS NULL OR expires_at > " TS_IN("$8") ") "
        "ORDER BY embedding <=> $1 LIMIT $9",
    /*
     * The hits, locked in id order: two searches locking overlapping rows in
     * the order of their own distances would deadlock (seen with 50 clients
     * of 10 users). FOR UPDATE returns each row's latest committed version,
     * which the access update then increments.
     */
    [P_MEM_LOCK] =
        "SELECT " MEM_COLS_BUT_EMB ", NULL FROM memori_memories "
        "WHERE id = ANY($1::int8[]) ORDER BY id FOR UPDATE",
    [P_MEM_ACCESS] =
        "UPDATE memori_memories AS m SET access_count = v.ac, "
        "last_accessed_at = " TS_IN("v.la") ", importance_score = v.imp, memory_type = v.mt, "
        "expires_at = " TS_IN("v.ex") ", updated_at = " TS_IN("v.up") " "
        "FROM unnest($1::int8[], $2::int8[], $3::int8[], $4::float8[], $5::text[], $6::int8[], "
        "  $7::int8[]) AS v(id, ac, la, imp, mt, ex, up) "
        "WHERE m.id = v.id",
};
/* clang-format on */

static int s_conv_get(struct mr_store_tx *tx, const char *id, struct mr_conversation *out,
                      struct mr_err *err)
{
    memset(out, 0, sizeof *out);
    if (!pg_is_uuid(id))
        return mr_err_set(err, MR_ENOTFOUND, "Conversation not found");
    struct pg_params p = {0};
    pg_param_text(&p, id);
    PGresult *res = pg_run(tx, P_CONV_GET, &p, "reading a conversation", err);
    if (!res)
        return err->code;
    int rc = 0;
    if (PQntuples(res) == 1)
        pg_read_conversation(res, 0, out);
    else
        rc = mr_err_set(err, MR_ENOTFOUND, "Conversation not found");
    PQclear(res);
    return rc;
}

/* A memory's data_source_id, NULL when it has none. */
static void data_source_param(struct pg_params *p, const struct mr_memory *m)
{
    if (m->has_data_source_id)
        pg_param_int(p, m->data_source_id);
    else
        pg_param_text(p, NULL);
}

static void conv_params(struct pg_params *p, const struct mr_conversation *c)
{
    if (c->has_data_source_id)
        pg_param_int(p, c->data_source_id);
    else
        pg_param_text(p, NULL);
    pg_param_text(p, c->title);
    pg_param_text(p, c->metadata ? c->metadata : "{}");
    pg_param_bool(p, c->is_active);
}

static int s_conv_insert(struct mr_store_tx *tx, struct mr_conversation *c, struct mr_err *err)
{
    if (!pg_is_uuid(c->conversation_id))
        return mr_err_set(err, MR_EINVAL, "conversation id %s is not a UUID", c->conversation_id);
    struct pg_params p = {0};
    pg_param_text(&p, c->conversation_id);
    pg_param_text(&p, c->user_id);
    pg_param_text(&p, c->tenant_id);
    conv_params(&p, c);
    pg_param_int(&p, c->last_activity_at);
    pg_param_int(&p, c->created_at);
    pg_param_int(&p, c->updated_at);
    PGresult *res = pg_run(tx, P_CONV_INSERT, &p, "inserting a conversation", err);
    if (!res)
        return err->code;
    int rc = 0;
    if (PQntuples(res) == 1)
        c->id = pg_val_int(res, 0, 0);
    else
        rc = mr_err_set(err, MR_ECONFLICT, "conversation %s already exists", c->conversation_id);
    PQclear(res);
    return rc;
}

static int s_conv_update(struct mr_store_tx *tx, const struct mr_conversation *c,
                         struct mr_err *err)
{
    if (!pg_is_uuid(c->conversation_id))
        return mr_err_set(err, MR_ENOTFOUND, "Conversation not found");
    struct pg_params p = {0};
    int64_t changed = 0;
    pg_param_text(&p, c->conversation_id);
    conv_params(&p, c);
    pg_param_int(&p, c->last_activity_at);
    pg_param_int(&p, c->updated_at);
    int rc = pg_run_done(tx, P_CONV_UPDATE, &p, "updating a conversation", &changed, err);
    if (rc == 0 && changed == 0)
        return mr_err_set(err, MR_ENOTFOUND, "Conversation not found");
    return rc;
}

/* Deletes the row a UUID names with statement id; absent (or no UUID) is `absent`, 404. */
static int delete_by_uuid(struct mr_store_tx *tx, enum pg_stmt id, const char *uuid,
                          const char *what, const char *absent, struct mr_err *err)
{
    if (!pg_is_uuid(uuid))
        return mr_err_set(err, MR_ENOTFOUND, "%s", absent);
    struct pg_params p = {0};
    int64_t changed = 0;
    pg_param_text(&p, uuid);
    int rc = pg_run_done(tx, id, &p, what, &changed, err);
    if (rc == 0 && changed == 0)
        return mr_err_set(err, MR_ENOTFOUND, "%s", absent);
    return rc;
}

static int s_conv_delete(struct mr_store_tx *tx, const char *id, struct mr_err *err)
{
    return delete_by_uuid(tx, P_CONV_DELETE, id, "deleting a conversation",
                          "Conversation not found", err);
}

static int count_rows(struct mr_store_tx *tx, enum pg_stmt id, struct pg_params *p, int64_t *out,
                      struct mr_err *err)
{
    PGresult *res = pg_run(tx, id, p, "counting rows", err);
    if (!res)
        return err->code;
    *out = PQntuples(res) == 1 ? pg_val_int(res, 0, 0) : 0;
    PQclear(res);
    return 0;
}

static int s_conv_list(struct mr_store_tx *tx, const struct mr_identity *who, int64_t limit,
                       int64_t offset, struct mr_conversation **out, size_t *out_n,
                       int64_t *out_total, struct mr_err *err)
{
    *out = NULL;
    *out_n = 0;
    struct pg_params p = {0};
    pg_param_text(&p, who->tenant_id);
    pg_param_text(&p, who->user_id);
    int rc = count_rows(tx, P_CONV_COUNT, &p, out_total, err);
    if (rc)
        return rc;
    p = (struct pg_params){0};
    pg_param_text(&p, who->tenant_id);
    pg_param_text(&p, who->user_id);
    pg_param_int(&p, limit);
    pg_param_int(&p, offset);
    PGresult *res = pg_run(tx, P_CONV_LIST, &p, "listing conversations", err);
    if (!res)
        return err->code;
    int n = PQntuples(res);
    *out = mr_xcalloc((size_t)n + 1, sizeof **out);
    for (int i = 0; i < n; i++)
        pg_read_conversation(res, i, &(*out)[i]);
    *out_n = (size_t)n;
    PQclear(res);
    return 0;
}

static int s_mem_insert(struct mr_store_tx *tx, struct mr_memory *m, struct mr_err *err)
{
    if (!pg_is_uuid(m->memory_id) || !pg_is_uuid(m->conversation_id))
        return mr_err_set(err, MR_EINVAL, "memory or conversation id is not a UUID");
    struct pg_params p = {0};
    pg_param_text(&p, m->memory_id);
    pg_param_text(&p, m->conversation_id);
    pg_param_text(&p, m->user_id);
    pg_param_text(&p, m->tenant_id);
    pg_param_text(&p, m->content);
    pg_param_text(&p, mr_memory_type_name(m->memory_type));
    pg_param_vector(&p, m->embedding, m->dim);
    pg_param_double(&p, m->importance_score);
    pg_param_int(&p, m->access_count);
    pg_param_time(&p, m->last_accessed_at);
    pg_param_strv(&p, &m->context_tags);
    pg_param_strv(&p, &m->related_entities);
    pg_param_text(&p, m->metadata ? m->metadata : "{}");
    pg_param_time(&p, m->expires_at);
    pg_param_bool(&p, m->is_archived);
    pg_param_int(&p, m->created_at);
    pg_param_int(&p, m->updated_at);
    pg_param_bool(&p, m->is_shared);
    data_source_param(&p, m);
    PGresult *res = pg_run(tx, P_MEM_INSERT, &p, "inserting a memory", err);
    if (!res)
        return err->code;
    m->id = pg_val_int(res, 0, 0);
    PQclear(res);
    return 0;
}

static int get_one_memory(struct mr_store_tx *tx, enum pg_stmt id, struct pg_params *p,
                          struct mr_memory *out, struct mr_err *err)
{
    PGresult *res = pg_run(tx, id, p, "reading a memory", err);
    if (!res)
        return err->code;
    int rc = PQntuples(res) == 1 ? pg_read_memory(res, 0, out, err)
                                 : mr_err_set(err, MR_ENOTFOUND, "Memory not found");
    PQclear(res);
    return rc;
}

static int s_mem_get(struct mr_store_tx *tx, const char *id, struct mr_memory *out,
                     struct mr_err *err)
{
    memset(out, 0, sizeof *out); /* cleared even when absent, so callers may clear it */
    if (!pg_is_uuid(id))
        return mr_err_set(err, MR_ENOTFOUND, "Memory not found");
    struct pg_params p = {0};
    pg_param_text(&p, id);
    return get_one_memory(tx, P_MEM_GET, &p, out, err);
}

static int s_mem_get_by_id(struct mr_store_tx *tx, int64_t id, struct mr_memory *out,
                           struct mr_err *err)
{
    memset(out, 0, sizeof *out);
    struct pg_params p = {0};
    pg_param_int(&p, id);
    return get_one_memory(tx, P_MEM_GET_BY_ID, &p, out, err);
}

static int s_mem_update(struct mr_store_tx *tx, const struct mr_memory *m, bool with_embedding,
                        struct mr_err *err)
{
    struct pg_params p = {0};
    int64_t changed = 0;
    pg_param_int(&p, m->id);
    pg_param_text(&p, m->content);
    pg_param_text(&p, mr_memory_type_name(m->memory_type));
    pg_param_double(&p, m->importance_score);
    pg_param_int(&p, m->access_count);
    pg_param_time(&p, m->last_accessed_at);
    pg_param_strv(&p, &m->context_tags);
    pg_param_strv(&p, &m->related_entities);
    pg_param_text(&p, m->metadata ? m->metadata : "{}");
    pg_param_time(&p, m->expires_at);
    pg_param_bool(&p, m->is_archived);
    pg_param_int(&p, m->updated_at);
    pg_param_bool(&p, m->is_shared);
    data_source_param(&p, m);
    int rc = pg_run_done(tx, P_MEM_UPDATE, &p, "updating a memory", &changed, err);
    if (rc == 0 && changed == 0)
        return mr_err_set(err, MR_ENOTFOUND, "Memory not found");
    if (rc == 0 && with_embedding) {
        p = (struct pg_params){0};
        pg_param_int(&p, m->id);
        pg_param_vector(&p, m->embedding, m->dim);
        rc = pg_run_done(tx, P_MEM_UPDATE_EMB, &p, "updating an embedding", NULL, err);
    }
    return rc;
}

static int s_mem_delete(struct mr_store_tx *tx, const char *id, struct mr_err *err)
{
    return delete_by_uuid(tx, P_MEM_DELETE, id, "deleting a memory", "Memory not found", err);
}

/* Reads every row of res as a memory into a new array; frees res. */
static int read_memories(PGresult *res, struct mr_memory **out, size_t *out_n, struct mr_err *err)
{
    int n = PQntuples(res);
    struct mr_memory *v = mr_xcalloc((size_t)n + 1, sizeof *v);
    for (int i = 0; i < n; i++) {
        int rc = pg_read_memory(res, i, &v[i], err);
        if (rc) {
            for (int j = 0; j < i; j++)
                mr_memory_clear(&v[j]);
            free(v);
            PQclear(res);
            return rc;
        }
    }
    PQclear(res);
    *out = v;
    *out_n = (size_t)n;
    return 0;
}

static int s_mem_list_by_conversation(struct mr_store_tx *tx, const char *conv, int64_t limit,
                                      int64_t offset, struct mr_memory **out, size_t *out_n,
                                      int64_t *out_total, struct mr_err *err)
{
    *out = NULL;
    *out_n = 0;
    *out_total = 0;
    if (!pg_is_uuid(conv))
        return 0;
    struct pg_params p = {0};
    pg_param_text(&p, conv);
    int rc = count_rows(tx, P_MEM_COUNT_CONV, &p, out_total, err);
    if (rc)
        return rc;
    p = (struct pg_params){0};
    pg_param_text(&p, conv);
    pg_param_int(&p, limit);
    pg_param_int(&p, offset);
    PGresult *res = pg_run(tx, P_MEM_LIST_CONV, &p, "listing memories", err);
    return res ? read_memories(res, out, out_n, err) : err->code;
}

static int s_mem_ids_by_conversation(struct mr_store_tx *tx, const char *conv, int64_t **out,
                                     size_t *out_n, struct mr_err *err)
{
    *out = NULL;
    *out_n = 0;
    if (!pg_is_uuid(conv))
        return 0;
    struct pg_params p = {0};
    pg_param_text(&p, conv);
    PGresult *res = pg_run(tx, P_MEM_IDS_CONV, &p, "listing a conversation's memories", err);
    if (!res)
        return err->code;
    int n = PQntuples(res);
    *out = mr_xcalloc((size_t)n + 1, sizeof **out);
    for (int i = 0; i < n; i++)
        (*out)[i] = pg_val_int(res, i, 0);
    *out_n = (size_t)n;
    PQclear(res);
    return 0;
}

static int s_mem_stats(struct mr_store_tx *tx, const struct mr_identity *who, struct mr_stats *out,
                       struct mr_err *err)
{
    struct pg_params p = {0};
    pg_param_text(&p, who->tenant_id);
    pg_param_text(&p, who->user_id);
    PGresult *res = pg_run(tx, P_MEM_STATS, &p, "computing statistics", err);
    if (!res)
        return err->code;
    memset(out, 0, sizeof *out);
    out->total = pg_val_int(res, 0, 0);
    for (int t = 0; t < MR_MEMORY_TYPE_COUNT; t++)
        out->by_type[t] = pg_val_int(res, 0, 1 + t);
    out->archived = pg_val_int(res, 0, 1 + MR_MEMORY_TYPE_COUNT);
    out->average_importance = strtod(PQgetvalue(res, 0, 2 + MR_MEMORY_TYPE_COUNT), NULL);
    PQclear(res);
    return 0;
}

static int s_mem_archive(struct mr_store_tx *tx, const struct mr_identity *who,
                         const struct mr_archive_bounds *b, int64_t now, int64_t **out_ids,
                         char ***out_users, size_t *out_n, struct mr_err *err)
{
    *out_ids = NULL;
    *out_users = NULL;
    *out_n = 0;
    struct pg_params p = {0};
    pg_param_text(&p, who->tenant_id);
    pg_param_text(&p, who->user_id);
    pg_param_text(&p, mr_memory_type_name(b->type));
    pg_param_int(&p, b->created_before);
    pg_param_double(&p, b->importance_below);
    pg_param_int(&p, b->access_below);
    pg_param_int(&p, now);
    PGresult *res = pg_run(tx, P_MEM_ARCHIVE, &p, "archiving memories", err);
    if (!res)
        return err->code;
    int n = PQntuples(res);
    *out_ids = mr_xcalloc((size_t)n + 1, sizeof **out_ids);
    *out_users = mr_xcalloc((size_t)n + 1, sizeof **out_users);
    for (int i = 0; i < n; i++) {
        (*out_ids)[i] = pg_val_int(res, i, 0);
        (*out_users)[i] = pg_val_dup(res, i, 1);
    }
    *out_n = (size_t)n;
    PQclear(res);
    return 0;
}

static int s_mem_search(struct mr_store_tx *tx, const struct mr_identity *who,
                        const struct mr_index_query *q, struct mr_memory **out, float **out_scores,
                        size_t *out_n, struct mr_err *err)
{
    *out = NULL;
    *out_scores = NULL;
    *out_n = 0;
    struct pg_params p = {0};
    struct mr_strv types = {0};
    pg_param_vector(&p, q->vec, q->dim);
    pg_param_text(&p, who->tenant_id);
    pg_param_text(&p, who->user_id);
    pg_param_bool(&p, q->include_shared);
    if (q->conversation_id && !pg_is_uuid(q->conversation_id)) {
        pg_params_free(&p);
        return 0; /* no memory belongs to a conversation that cannot exist */
    }
    pg_param_text(&p, q->conversation_id);
    if (q->type_mask) {
        for (int t = 0; t < MR_MEMORY_TYPE_COUNT; t++)
            if (q->type_mask & (1u << t)) {
                const char *name = mr_memory_type_name((enum mr_memory_type)t);
                mr_strv_push(&types, name, strlen(name));
            }
        pg_param_strv(&p, &types);
        mr_strv_clear(&types);
    } else {
        pg_param_text(&p, NULL);
    }
    pg_param_bool(&p, q->include_archived);
    pg_param_int(&p, q->now);
    pg_param_int(&p, (int64_t)q->limit);
    PGresult *res = pg_run(tx, P_MEM_SEARCH, &p, "searching memories", err);
    if (!res)
        return err->code;
    /* The hits above the threshold, best first. */
    int n = PQntuples(res);
    int64_t *ids = mr_xcalloc((size_t)n + 1, sizeof *ids);
    float *scores = mr_xcalloc((size_t)n + 1, sizeof *scores);
    size_t n_hits = 0;
    struct pg_buf list = {0};
    pg_buf_add(&list, "{", 1);
    for (int i = 0; i < n; i++) {
        float score = strtof(PQgetvalue(res, i, 1), NULL);
        if (score < q->min_score)
            break; /* rows come best first: the rest score lower still */
        ids[n_hits] = pg_val_int(res, i, 0);
        scores[n_hits] = score;
        pg_buf_printf(&list, "%s%lld", n_hits ? "," : "", (long long)ids[n_hits]);
        n_hits++;
    }
    pg_buf_add(&list, "}", 1);
    PQclear(res);
    struct mr_memory *v = mr_xcalloc(n_hits + 1, sizeof *v);
    size_t kept = 0;
    int rc = 0;
    if (n_hits) {
        struct pg_params lp = {0};
        pg_param_text(&lp, list.s);
        res = pg_run(tx, P_MEM_LOCK, &lp, "searching memories", err);
        rc = res ? 0 : err->code;
        /* Back into distance order; a hit deleted since the scan is gone. */
        int rows = res ? PQntuples(res) : 0;
        for (size_t h = 0; rc == 0 && h < n_hits; h++) {
            for (int r = 0; r < rows; r++) {
                if (pg_val_int(res, r, 0) != ids[h])
                    continue;
                rc = pg_read_memory(res, r, &v[kept], err);
                if (rc == 0)
                    scores[kept++] = scores[h];
                break;
            }
        }
        PQclear(res);
    }
    pg_buf_free(&list);
    free(ids);
    if (rc) {
        for (size_t j = 0; j < kept; j++)
            mr_memory_clear(&v[j]);
        free(v);
        free(scores);
        return rc;
    }
    *out = v;
    *out_scores = scores;
    *out_n = kept;
    return 0;
}

/* Appends one element of an int8[] literal; MR_NO_TIME is NULL. */
static void array_int(struct pg_buf *b, size_t i, int64_t v)
{
    if (i)
        pg_buf_add(b, ",", 1);
    if (v == MR_NO_TIME)
        pg_buf_add(b, "NULL", 4);
    else
        pg_buf_printf(b, "%lld", (long long)v);
}

static int s_mem_record_access(struct mr_store_tx *tx, const struct mr_memory *ms, size_t n,
                               struct mr_err *err)
{
    if (n == 0)
        return 0;
    struct pg_params p = {0};
    struct pg_buf cols[7] = {{0}};
    for (int c = 0; c < 7; c++)
        pg_buf_add(&cols[c], "{", 1);
    for (size_t i = 0; i < n; i++) {
        array_int(&cols[0], i, ms[i].id);
        array_int(&cols[1], i, ms[i].access_count);
        array_int(&cols[2], i, ms[i].last_accessed_at);
        pg_buf_printf(&cols[3], "%s%.17g", i ? "," : "", ms[i].importance_score);
        pg_buf_printf(&cols[4], "%s%s", i ? "," : "", mr_memory_type_name(ms[i].memory_type));
        array_int(&cols[5], i, ms[i].expires_at);
        array_int(&cols[6], i, ms[i].updated_at);
    }
    for (int c = 0; c < 7; c++) {
        pg_buf_add(&cols[c], "}", 1);
        pg_param_text(&p, cols[c].s);
    }
    int64_t changed = 0;
    int rc = pg_run_done(tx, P_MEM_ACCESS, &p, "recording accesses", &changed, err);
    for (int c = 0; c < 7; c++)
        pg_buf_free(&cols[c]);
    if (rc == 0 && changed != (int64_t)n)
        return mr_err_set(err, MR_ENOTFOUND, "Memory not found");
    return rc;
}

/* Walks every memory through a cursor, SCAN_BATCH rows a round trip. */
static int s_mem_scan(struct mr_store_tx *tx, mr_store_scan_fn fn, void *arg, struct mr_err *err)
{
    PGconn *pg = pg_tx_conn(tx)->pg;
    int rc = pg_exec_simple(pg,
                            "DECLARE memori_scan NO SCROLL CURSOR FOR SELECT " MEM_COLS
                            " FROM memori_memories ORDER BY id",
                            "scanning memories", err);
    char fetch[64];
    snprintf(fetch, sizeof fetch, "FETCH %d FROM memori_scan", SCAN_BATCH);
    while (rc == 0) {
        PGresult *res = PQexec(pg, fetch);
        if (PQresultStatus(res) != PGRES_TUPLES_OK) {
            rc = pg_result_error(err, pg, res, "scanning memories");
            PQclear(res);
            break;
        }
        int n = PQntuples(res);
        for (int i = 0; i < n && rc == 0; i++) {
            struct mr_memory m;
            if ((rc = pg_read_memory(res, i, &m, err)) != 0)
                break;
            rc = fn(arg, &m);
            mr_memory_clear(&m);
        }
        PQclear(res);
        if (n < SCAN_BATCH)
            break;
    }
    if (PQtransactionStatus(pg) == PQTRANS_INTRANS)
        pg_exec_simple(pg, "CLOSE memori_scan", "scanning memories", rc ? NULL : err);
    return rc;
}

const struct mr_store_ops pg_store_ops = {
    .name = "postgres",
    .begin = pg_begin,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .check_model = pg_check_model,
    .set_model = pg_set_model,
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
    .mem_ids_by_conversation = s_mem_ids_by_conversation,
    .mem_stats = s_mem_stats,
    .mem_archive = s_mem_archive,
    .mem_search = s_mem_search,
    .mem_record_access = s_mem_record_access,
    .mem_scan = s_mem_scan,
    .schema_get = pg_schema_get,
    .schema_put = pg_schema_put,
    .schema_delete = pg_schema_delete,
    .mem_ids_by_data_source = pg_mem_ids_by_data_source,
    .health = pg_health,
    .close = pg_close,
};
