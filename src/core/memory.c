/*
 * memory.c — create, read, update, delete, promote, statistics and
 * archival of memories (DESIGN.md §3, §4). Each call embeds outside the
 * transaction (it may be slow), then runs one store transaction, then
 * updates the index only after the commit succeeded.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core_int.h"
#include "memori/json.h"
#include "memori/rules.h"

int core_finish(struct mr_store_tx *tx, int rc, struct mr_err *err)
{
    if (rc != 0) {
        mr_store_rollback(tx);
        return rc;
    }
    return mr_store_commit(tx, err);
}

int core_check_metadata(const struct mr_service *svc, const char *metadata, bool merged,
                        struct mr_err *err)
{
    size_t n = metadata ? strlen(metadata) : 0;
    if (n <= svc->max_metadata_bytes)
        return 0;
    return mr_err_set(err, MR_ETOOLARGE, "metadata is %zu bytes%s; the limit is %zu bytes", n,
                      merged ? " after the merge" : "", svc->max_metadata_bytes);
}

int core_index_put(struct mr_service *svc, const struct mr_memory *m, struct core_trace *t,
                   struct mr_err *err)
{
    if (!svc->index)
        return 0; /* the store searches its own rows */
    struct mr_index_entry e = {
        .id = m->id,
        .user_id = m->user_id,
        .tenant_id = m->tenant_id,
        .conversation_id = m->conversation_id,
        .memory_type = m->memory_type,
        .is_archived = m->is_archived,
        .expires_at = m->expires_at,
        .vec = m->embedding,
        .is_shared = m->is_shared && mr_memory_type_shareable(m->memory_type),
        .content = m->content,
        .content_len = m->content ? strlen(m->content) : 0,
    };
    int64_t t0 = core_clock(svc);
    int rc = mr_index_upsert(svc->index, &e, err);
    if (t)
        t->index_us += core_clock(svc) - t0;
    return rc;
}

void core_index_remove(struct mr_service *svc, const struct mr_identity *who, int64_t id,
                       struct core_trace *t)
{
    if (!svc->index)
        return;
    int64_t t0 = core_clock(svc);
    mr_index_remove(svc->index, who, id);
    if (t)
        t->index_us += core_clock(svc) - t0;
}

int core_get_owned_memory(struct mr_store_tx *tx, const struct mr_identity *who,
                          const char *memory_id, struct mr_memory *out, struct mr_err *err)
{
    int rc = mr_store_mem_get(tx, memory_id, out, err);
    if (rc)
        return rc;
    if (!core_owns(who, out->user_id, out->tenant_id)) {
        mr_memory_clear(out);
        return mr_err_set(err, MR_ENOTFOUND, "Memory not found");
    }
    return 0;
}

int core_embed(struct mr_service *svc, const char *text, size_t len, struct core_trace *t,
               float **out, struct mr_err *err)
{
    size_t dim = mr_embed_dim(svc->embedder);
    float *v = mr_xmalloc(dim * sizeof *v);
    int64_t t0 = core_clock(svc);
    int rc = mr_embed_one(svc->embedder, text, len, v, err);
    if (t)
        t->embed_us += core_clock(svc) - t0;
    if (rc) {
        free(v);
        return rc;
    }
    *out = v;
    return 0;
}

static bool is_blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r' && s[i] != '\f' &&
            s[i] != '\v')
            return false;
    return true;
}

/*
 * The conversation a new memory goes into: the caller's own is touched, an
 * unknown one is created for the caller, another user's is MR_ENOTFOUND.
 * When another request created it between our read and our insert (two
 * processes on PostgreSQL, or two requests of one), read it again: the
 * insert waited for that request to commit, so the row is there now.
 */
static int claim_conversation(struct mr_store_tx *tx, const struct mr_identity *who,
                              const char *conversation_id, int64_t now, struct mr_err *err)
{
    struct mr_conversation c = {0};
    int rc = MR_ENOTFOUND;
    for (int attempt = 0; attempt < 2; attempt++) {
        rc = mr_store_conv_get(tx, conversation_id, &c, err);
        if (rc != MR_ENOTFOUND)
            break;
        memset(&c, 0, sizeof c);
        snprintf(c.conversation_id, sizeof c.conversation_id, "%s", conversation_id);
        c.user_id = mr_xstrdup(who->user_id);
        c.tenant_id = mr_xstrdup(who->tenant_id);
        c.metadata = mr_xstrdup("{}");
        c.is_active = true;
        c.last_activity_at = c.created_at = c.updated_at = now;
        rc = mr_store_conv_insert(tx, &c, err);
        mr_conversation_clear(&c);
        if (rc != MR_ECONFLICT)
            return rc;
    }
    if (rc == 0) {
        if (!core_owns(who, c.user_id, c.tenant_id)) {
            rc = mr_err_set(err, MR_ENOTFOUND, "Conversation %s not found", conversation_id);
        } else {
            c.last_activity_at = c.updated_at = now;
            rc = mr_store_conv_update(tx, &c, err);
        }
    }
    mr_conversation_clear(&c);
    return rc;
}

int mr_memory_create(struct mr_service *svc, const struct mr_identity *who,
                     const struct mr_memory_create *in, struct mr_memory *out, struct mr_err *err)
{
    memset(out, 0, sizeof *out);
    if (is_blank(in->content, in->content_len))
        return mr_err_set(err, MR_EINVAL, "Memory content cannot be empty");
    if (in->importance_score < 0.0 || in->importance_score > 1.0)
        return mr_err_set(err, MR_EINVAL, "Importance score must be between 0.0 and 1.0");
    if (in->shared && !mr_memory_type_shareable(in->memory_type))
        return mr_err_set(err, MR_EINVAL,
                          "Only rule, entity and relationship memories can be shared");
    int rc = core_check_metadata(svc, in->metadata, false, err);
    if (rc)
        return rc;

    struct core_trace t;
    core_trace_start(svc, &t);
    struct mr_memory *m = out;
    rc = core_embed(svc, in->content, in->content_len, &t, &m->embedding, err);
    if (rc)
        goto fail;
    int64_t now = mr_clock_now(svc->clock);
    m->dim = mr_embed_dim(svc->embedder);
    mr_uuid_v4(m->memory_id);
    memcpy(m->conversation_id, in->conversation_id, MR_UUID_LEN);
    m->user_id = mr_xstrdup(who->user_id);
    m->tenant_id = mr_xstrdup(who->tenant_id);
    m->content = mr_xstrndup(in->content, in->content_len);
    m->memory_type = in->memory_type;
    m->importance_score = in->importance_score;
    m->last_accessed_at = MR_NO_TIME;
    if (in->context_tags)
        mr_strv_copy(&m->context_tags, in->context_tags);
    if (in->related_entities)
        mr_strv_copy(&m->related_entities, in->related_entities);
    m->metadata = mr_xstrdup(in->metadata ? in->metadata : "{}");
    m->expires_at = in->expires_at != MR_NO_TIME
                        ? in->expires_at
                        : mr_rule_default_expiry(in->memory_type, now, svc->short_term_expiry_days);
    m->created_at = m->updated_at = now;
    m->is_shared = in->shared;

    struct mr_store_tx *tx;
    if ((rc = mr_store_begin(svc->store, true, &tx, err)) != 0)
        goto fail;
    rc = claim_conversation(tx, who, m->conversation_id, now, err);
    if (rc == 0)
        rc = mr_store_mem_insert(tx, m, err);
    if ((rc = core_finish(tx, rc, err)) != 0)
        goto fail;
    if ((rc = core_index_put(svc, m, &t, err)) != 0)
        goto fail;
    core_trace_end(svc, &t, "create", who, 0, "memory %s", m->memory_id);
    return 0;
fail:
    core_trace_end(svc, &t, "create", who, rc, "no memory");
    mr_memory_clear(out);
    return rc;
}

int mr_memory_get(struct mr_service *svc, const struct mr_identity *who, const char *memory_id,
                  struct mr_memory *out, struct mr_err *err)
{
    memset(out, 0, sizeof *out);
    struct core_trace t;
    core_trace_start(svc, &t);
    struct mr_store_tx *tx;
    uint64_t seen = core_access_epoch(svc->access);
    int rc = mr_store_begin(svc->store, false, &tx, err);
    if (rc == 0) {
        rc = mr_store_mem_get(tx, memory_id, out, err);
        mr_store_rollback(tx);
    }
    /* As served: with the accesses not written yet (src/core/access.c). */
    if (rc == 0)
        rc = core_access_serve(svc, seen, out, 1, NULL, NULL, 0, err);
    if (rc == 0 && !core_owns(who, out->user_id, out->tenant_id) &&
        !core_shared_with(svc, who, out)) {
        mr_memory_clear(out);
        rc = mr_err_set(err, MR_ENOTFOUND, "Memory not found");
    }
    core_trace_end(svc, &t, "get", who, rc, "memory %.36s", memory_id);
    return rc;
}

int mr_memory_update(struct mr_service *svc, const struct mr_identity *who, const char *memory_id,
                     const struct mr_memory_patch *p, struct mr_memory *out, struct mr_err *err)
{
    float *vec = NULL;
    char *merged = NULL;
    int rc;
    memset(out, 0, sizeof *out);
    if (p->content && is_blank(p->content, p->content_len))
        return mr_err_set(err, MR_EINVAL, "Memory content cannot be empty");
    struct core_trace t;
    core_trace_start(svc, &t);
    /* Updating content re-embeds (DESIGN.md §3). */
    if (p->content && (rc = core_embed(svc, p->content, p->content_len, &t, &vec, err)) != 0)
        goto out;

    struct mr_store_tx *tx;
    struct core_access_taken taken = {0};
    if ((rc = mr_store_begin(svc->store, true, &tx, err)) != 0)
        goto out;
    rc = core_get_owned_memory(tx, who, memory_id, out, err);
    /* Its pending accesses into the row first: every column is written back. */
    if (rc == 0)
        rc = core_access_settle(svc, tx, out, &taken, err);
    if (rc == 0) {
        if (p->content) {
            free(out->content);
            out->content = mr_xstrndup(p->content, p->content_len);
            free(out->embedding);
            out->embedding = vec;
            vec = NULL;
        }
        if (p->has_importance)
            out->importance_score = p->importance_score < 0   ? 0
                                    : p->importance_score > 1 ? 1
                                                              : p->importance_score;
        if (p->context_tags)
            mr_strv_copy(&out->context_tags, p->context_tags);
        if (p->has_shared && p->shared && !mr_memory_type_shareable(out->memory_type))
            rc = mr_err_set(err, MR_EINVAL,
                            "Only rule, entity and relationship memories can be shared");
        else if (p->has_shared)
            out->is_shared = p->shared;
        if (p->metadata) {
            /* Merge keys, as the reference's {**old, **new} (DESIGN.md §3). */
            merged = mr_json_merge_objects(out->metadata, p->metadata);
            if (!merged)
                rc = mr_err_set(err, MR_EINVAL, "metadata must be a JSON object");
            else if (rc == 0) /* past the bound: nothing is written, the transaction rolls back */
                rc = core_check_metadata(svc, merged, true, err);
            if (merged && rc == 0) {
                free(out->metadata);
                out->metadata = merged;
                merged = NULL;
            }
        }
        out->updated_at = mr_clock_now(svc->clock);
        if (rc == 0)
            rc = mr_store_mem_update(tx, out, p->content != NULL, err);
    }
    rc = core_finish(tx, rc, err);
    core_access_settled(svc, &taken, rc);
    if (rc == 0)
        rc = core_index_put(svc, out, &t, err);
out:
    core_trace_end(svc, &t, "update", who, rc, "memory %.36s", memory_id);
    if (rc)
        mr_memory_clear(out);
    free(vec);
    free(merged);
    return rc;
}

int mr_memory_delete(struct mr_service *svc, const struct mr_identity *who, const char *memory_id,
                     struct mr_err *err)
{
    struct core_trace t;
    core_trace_start(svc, &t);
    struct mr_store_tx *tx;
    struct mr_memory m = {0};
    int rc = mr_store_begin(svc->store, true, &tx, err);
    if (rc)
        goto out;
    rc = core_get_owned_memory(tx, who, memory_id, &m, err);
    int64_t id = rc == 0 ? m.id : 0;
    if (rc == 0) {
        mr_memory_clear(&m);
        rc = mr_store_mem_delete(tx, memory_id, err);
    }
    rc = core_finish(tx, rc, err);
    if (rc == 0)
        core_index_remove(svc, who, id, &t);
out:
    core_trace_end(svc, &t, "delete", who, rc, "memory %.36s", memory_id);
    return rc;
}

int mr_memory_promote(struct mr_service *svc, const struct mr_identity *who, const char *memory_id,
                      struct mr_memory *out, struct mr_err *err)
{
    memset(out, 0, sizeof *out);
    struct core_trace t;
    core_trace_start(svc, &t);
    struct mr_store_tx *tx;
    struct core_access_taken taken = {0};
    int rc = mr_store_begin(svc->store, true, &tx, err);
    if (rc)
        goto out;
    rc = core_get_owned_memory(tx, who, memory_id, out, err);
    /* Pending accesses may have promoted it already (409): settled into the row first. */
    if (rc == 0)
        rc = core_access_settle(svc, tx, out, &taken, err);
    if (rc == 0) {
        enum mr_memory_type was = out->memory_type;
        if (mr_rule_promote(out, mr_clock_now(svc->clock)) != 0)
            rc = mr_err_set(err, MR_ECONFLICT,
                            "Memory %s is %s; only short_term memories can be promoted", memory_id,
                            mr_memory_type_name(was));
        else
            rc = mr_store_mem_update(tx, out, false, err);
    }
    rc = core_finish(tx, rc, err);
    core_access_settled(svc, &taken, rc);
    if (rc == 0)
        rc = core_index_put(svc, out, &t, err);
    if (rc)
        mr_memory_clear(out);
out:
    core_trace_end(svc, &t, "promote", who, rc, "memory %.36s", memory_id);
    return rc;
}

int mr_memory_stats(struct mr_service *svc, const struct mr_identity *who, struct mr_stats *out,
                    struct mr_err *err)
{
    struct core_trace t;
    core_trace_start(svc, &t);
    struct mr_store_tx *tx;
    /* Counted in SQL: the pending accesses (and their promotions) are written first. */
    int rc = core_access_flush(svc->access, err);
    if (rc == 0)
        rc = mr_store_begin(svc->store, false, &tx, err);
    if (rc == 0) {
        rc = mr_store_mem_stats(tx, who, out, err);
        mr_store_rollback(tx);
    }
    core_trace_end(svc, &t, "stats", who, rc, "%lld memories", rc ? 0LL : (long long)out->total);
    return rc;
}

int mr_memory_archive(struct mr_service *svc, const struct mr_identity *who, int days,
                      int64_t *out_count, struct mr_err *err)
{
    if (days <= 0)
        days = svc->archive_threshold_days;
    int64_t now = mr_clock_now(svc->clock), *ids = NULL;
    char **users = NULL;
    size_t n = 0;
    struct core_trace t;
    core_trace_start(svc, &t);
    struct mr_store_tx *tx;
    /* Selected in SQL on access count and importance: the pending accesses are written first. */
    int rc = core_access_flush(svc->access, err);
    if (rc == 0)
        rc = mr_store_begin(svc->store, true, &tx, err);
    if (rc)
        goto out;
    struct mr_archive_bounds bounds = mr_rule_archive_bounds(now, days);
    rc = mr_store_mem_archive(tx, who, &bounds, now, &ids, &users, &n, err);
    rc = core_finish(tx, rc, err);
    int64_t t0 = core_clock(svc);
    for (size_t i = 0; i < n; i++) {
        struct mr_identity owner = {users[i], who->tenant_id};
        if (rc == 0 && svc->index)
            mr_index_set_archived(svc->index, &owner, ids[i], true);
        free(users[i]);
    }
    t.index_us += core_clock(svc) - t0;
    if (rc == 0)
        *out_count = (int64_t)n;
    free(users);
    free(ids);
out:
    core_trace_end(svc, &t, "archive", who, rc, "%zu archived, %d days", n, days);
    return rc;
}
