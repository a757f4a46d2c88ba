/* conversation.c — conversations of DESIGN.md §4: create, list, get, update, delete. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core_int.h"
#include "memori/json.h"

/* Reads the caller's conversation id inside tx; MR_ENOTFOUND if absent or foreign. */
static int get_owned(struct mr_store_tx *tx, const struct mr_identity *who, const char *id,
                     struct mr_conversation *out, struct mr_err *err)
{
    int rc = mr_store_conv_get(tx, id, out, err);
    if (rc)
        return rc;
    if (!core_owns(who, out->user_id, out->tenant_id)) {
        mr_conversation_clear(out);
        return mr_err_set(err, MR_ENOTFOUND, "Conversation not found");
    }
    return 0;
}

/*
 * A create whose id is taken (rc, MR_ECONFLICT): the caller's own is a
 * conflict; another user's or tenant's answers as an unknown conversation
 * does everywhere else (404, the message of a memory created into it), so
 * the create tells nothing about who holds the id.
 */
static int taken_id(struct mr_store_tx *tx, const struct mr_identity *who, const char *id, int rc,
                    struct mr_err *err)
{
    struct mr_conversation c = {0};
    struct mr_err ignored;
    if (mr_store_conv_get(tx, id, &c, &ignored) == 0 && !core_owns(who, c.user_id, c.tenant_id))
        rc = mr_err_set(err, MR_ENOTFOUND, "Conversation %s not found", id);
    mr_conversation_clear(&c);
    return rc;
}

int mr_conversation_create(struct mr_service *svc, const struct mr_identity *who,
                           const struct mr_conversation_create *in, struct mr_conversation *out,
                           struct mr_err *err)
{
    memset(out, 0, sizeof *out);
    int rc = core_check_metadata(svc, in->metadata, false, err);
    if (rc)
        return rc;
    struct core_trace t;
    core_trace_start(svc, &t);
    int64_t now = mr_clock_now(svc->clock);
    if (in->has_conversation_id)
        memcpy(out->conversation_id, in->conversation_id, MR_UUID_LEN);
    else
        mr_uuid_v4(out->conversation_id);
    out->user_id = mr_xstrdup(who->user_id);
    out->tenant_id = mr_xstrdup(who->tenant_id);
    out->title = in->title ? mr_xstrdup(in->title) : NULL;
    out->has_data_source_id = in->has_data_source_id;
    out->data_source_id = in->data_source_id;
    out->metadata = mr_xstrdup(in->metadata ? in->metadata : "{}");
    out->is_active = in->has_is_active ? in->is_active : true;
    out->last_activity_at = out->created_at = out->updated_at = now;

    struct mr_store_tx *tx;
    rc = mr_store_begin(svc->store, true, &tx, err);
    if (rc == 0) {
        rc = mr_store_conv_insert(tx, out, err);
        if (rc == MR_ECONFLICT)
            rc = taken_id(tx, who, out->conversation_id, rc, err);
        rc = core_finish(tx, rc, err);
    }
    core_trace_end(svc, &t, "conversation_create", who, rc, "conversation %s",
                   out->conversation_id);
    if (rc)
        mr_conversation_clear(out);
    return rc;
}

int mr_conversation_get(struct mr_service *svc, const struct mr_identity *who, const char *id,
                        struct mr_conversation *out, struct mr_err *err)
{
    memset(out, 0, sizeof *out);
    struct core_trace t;
    core_trace_start(svc, &t);
    struct mr_store_tx *tx;
    int rc = mr_store_begin(svc->store, false, &tx, err);
    if (rc == 0) {
        rc = get_owned(tx, who, id, out, err);
        mr_store_rollback(tx);
    }
    core_trace_end(svc, &t, "conversation_get", who, rc, "conversation %.36s", id);
    return rc;
}

int mr_conversation_list(struct mr_service *svc, const struct mr_identity *who, struct mr_page page,
                         struct mr_conversation **out, size_t *out_n, int64_t *out_total,
                         struct mr_err *err)
{
    struct core_trace t;
    core_trace_start(svc, &t);
    struct mr_store_tx *tx;
    int rc = mr_store_begin(svc->store, false, &tx, err);
    if (rc == 0) {
        rc = mr_store_conv_list(tx, who, page.limit, page.offset, out, out_n, out_total, err);
        mr_store_rollback(tx);
    }
    core_trace_end(svc, &t, "conversation_list", who, rc, "%zu conversations", rc ? 0 : *out_n);
    return rc;
}

int mr_conversation_update(struct mr_service *svc, const struct mr_identity *who, const char *id,
                           const struct mr_conversation_patch *p, struct mr_conversation *out,
                           struct mr_err *err)
{
    memset(out, 0, sizeof *out);
    struct core_trace t;
    core_trace_start(svc, &t);
    struct mr_store_tx *tx;
    int rc = mr_store_begin(svc->store, true, &tx, err);
    if (rc)
        goto out;
    rc = get_owned(tx, who, id, out, err);
    if (rc == 0) {
        if (p->has_title) {
            free(out->title);
            out->title = p->title ? mr_xstrdup(p->title) : NULL;
        }
        if (p->metadata) {
            char *merged = mr_json_merge_objects(out->metadata, p->metadata);
            if (!merged) {
                rc = mr_err_set(err, MR_EINVAL, "metadata must be a JSON object");
            } else if ((rc = core_check_metadata(svc, merged, true, err)) != 0) {
                free(merged); /* nothing is written: the transaction rolls back */
            } else {
                free(out->metadata);
                out->metadata = merged;
            }
        }
        if (p->has_is_active)
            out->is_active = p->is_active;
        if (p->has_data_source_id) {
            out->has_data_source_id = !p->data_source_id_null;
            out->data_source_id = p->data_source_id;
        }
        out->updated_at = mr_clock_now(svc->clock);
        if (rc == 0)
            rc = mr_store_conv_update(tx, out, err);
    }
    rc = core_finish(tx, rc, err);
    if (rc)
        mr_conversation_clear(out);
out:
    core_trace_end(svc, &t, "conversation_update", who, rc, "conversation %.36s", id);
    return rc;
}

int mr_conversation_delete(struct mr_service *svc, const struct mr_identity *who, const char *id,
                           struct mr_err *err)
{
    struct core_trace t;
    core_trace_start(svc, &t);
    struct mr_store_tx *tx;
    struct mr_conversation c = {0};
    int64_t *ids = NULL;
    size_t n = 0;
    int rc = mr_store_begin(svc->store, true, &tx, err);
    if (rc)
        goto out;
    rc = get_owned(tx, who, id, &c, err);
    if (rc == 0) {
        mr_conversation_clear(&c);
        /* Each memory the cascade removes gets its delete event, as a DELETE of it would. */
        rc =
            core_history_conversation_deletes(tx, who, id, mr_clock_now(svc->clock), &ids, &n, err);
    }
    if (rc == 0)
        rc = mr_store_conv_delete(tx, id, err); /* cascades to its memories */
    rc = core_finish(tx, rc, err);
    if (rc == 0)
        for (size_t i = 0; i < n; i++)
            core_index_remove(svc, who, ids[i], &t);
    free(ids);
out:
    core_trace_end(svc, &t, "conversation_delete", who, rc, "conversation %.36s, %zu memories", id,
                   n);
    return rc;
}

int mr_conversation_memories(struct mr_service *svc, const struct mr_identity *who, const char *id,
                             struct mr_page page, struct mr_memory **out, size_t *out_n,
                             int64_t *out_total, struct mr_err *err)
{
    struct core_trace t;
    core_trace_start(svc, &t);
    struct mr_store_tx *tx;
    struct mr_conversation c = {0};
    uint64_t seen = core_access_epoch(svc->access);
    bool listed = false;
    int rc = mr_store_begin(svc->store, false, &tx, err);
    if (rc == 0) {
        rc = get_owned(tx, who, id, &c, err);
        if (rc == 0) {
            mr_conversation_clear(&c);
            rc = mr_store_mem_list_by_conversation(tx, id, page.limit, page.offset, out, out_n,
                                                   out_total, err);
            listed = rc == 0;
        }
        mr_store_rollback(tx);
    }
    /* As served: with the accesses not written yet (src/core/access.c). */
    if (listed && (rc = core_access_serve(svc, seen, *out, *out_n, NULL, NULL, 0, err)) != 0) {
        for (size_t i = 0; i < *out_n; i++)
            mr_memory_clear(&(*out)[i]);
        free(*out);
        *out = NULL;
        *out_n = 0;
    }
    core_trace_end(svc, &t, "conversation_memories", who, rc, "conversation %.36s, %zu memories",
                   id, rc ? 0 : *out_n);
    return rc;
}
