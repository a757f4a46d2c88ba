/*
 * history.c — every change of a memory as an event (issue 20,
 * docs/hygiene.md): the fields that changed, each with its old and new
 * value as the API writes them, appended by the store in the transaction
 * of the change itself, so a change without its event (or the reverse)
 * never commits. Replaying a memory's events from its "create" gives its
 * current content fields (access statistics are not history: search
 * changes them on every read).
 */
#include <stdlib.h>
#include <string.h>

#include "core_int.h"
#include "memori/json.h"

/* Equal as JSON texts: both stores' spellings of one object (JSONB adds spaces) compare equal. */
static bool json_text_equal(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    if (strcmp(a, b) == 0)
        return true;
    char *x = mr_json_compact(a), *y = mr_json_compact(b);
    bool eq = x && y && strcmp(x, y) == 0;
    free(x);
    free(y);
    return eq;
}

/* One changed field: {"old": old, "new": new} (each may be NULL: JSON null). */
static void put(struct mr_json *changes, const char *field, struct mr_json *old,
                struct mr_json *new)
{
    struct mr_json *c = mr_json_object();
    mr_json_set(c, "old", old ? old : mr_json_null());
    mr_json_set(c, "new", new ? new : mr_json_null());
    mr_json_set(changes, field, c);
}

/* The tracked fields, each as a JSON value of m (NULL m: null). */
enum field {
    F_CONTENT,
    F_TYPE,
    F_IMPORTANCE,
    F_TAGS,
    F_ENTITIES,
    F_METADATA,
    F_EXPIRES,
    F_ARCHIVED,
    F_SHARED,
    F_CONVERSATION,
    F_DATA_SOURCE,
    F_N
};
static const char *const field_names[F_N] = {
    "content",          "memory_type",     "importance_score", "context_tags",
    "related_entities", "metadata",        "expires_at",       "is_archived",
    "shared",           "conversation_id", "data_source_id",
};

static struct mr_json *value(const struct mr_memory *m, enum field f)
{
    if (!m)
        return NULL;
    switch (f) {
    case F_CONTENT:
        return mr_json_string(m->content ? m->content : "");
    case F_TYPE:
        return mr_json_string(mr_memory_type_name(m->memory_type));
    case F_IMPORTANCE:
        return mr_json_real(m->importance_score);
    case F_TAGS:
        return mr_json_strv(&m->context_tags);
    case F_ENTITIES:
        return mr_json_strv(&m->related_entities);
    case F_METADATA:
        return mr_json_object_or_empty(m->metadata);
    case F_EXPIRES:
        return mr_json_time_or_null(m->expires_at);
    case F_ARCHIVED:
        return mr_json_bool(m->is_archived);
    case F_SHARED:
        return mr_json_bool(m->is_shared);
    case F_CONVERSATION:
        return mr_json_string(m->conversation_id);
    case F_DATA_SOURCE:
        return m->has_data_source_id ? mr_json_integer(m->data_source_id) : mr_json_null();
    case F_N:
        break;
    }
    return NULL;
}

static bool same(const struct mr_memory *a, const struct mr_memory *b, enum field f)
{
    switch (f) {
    case F_CONTENT:
        return strcmp(a->content ? a->content : "", b->content ? b->content : "") == 0;
    case F_TYPE:
        return a->memory_type == b->memory_type;
    case F_IMPORTANCE:
        return a->importance_score == b->importance_score;
    case F_TAGS:
        return mr_strv_equal(&a->context_tags, &b->context_tags);
    case F_ENTITIES:
        return mr_strv_equal(&a->related_entities, &b->related_entities);
    case F_METADATA:
        return json_text_equal(a->metadata, b->metadata);
    case F_EXPIRES:
        return a->expires_at == b->expires_at;
    case F_ARCHIVED:
        return a->is_archived == b->is_archived;
    case F_SHARED:
        return a->is_shared == b->is_shared;
    case F_CONVERSATION:
        return strcmp(a->conversation_id, b->conversation_id) == 0;
    case F_DATA_SOURCE:
        return a->has_data_source_id == b->has_data_source_id &&
               (!a->has_data_source_id || a->data_source_id == b->data_source_id);
    case F_N:
        break;
    }
    return true;
}

struct mr_json *core_history_changes(const struct mr_memory *before, const struct mr_memory *after)
{
    struct mr_json *changes = mr_json_object();
    for (int f = 0; f < F_N; f++) {
        if (before && after && same(before, after, (enum field)f))
            continue;
        put(changes, field_names[f], value(before, (enum field)f), value(after, (enum field)f));
    }
    return changes;
}

void core_history_note(struct mr_json *changes, const char *field, struct mr_json *old,
                       struct mr_json *new)
{
    put(changes, field, old, new);
}

int core_history_append(struct mr_store_tx *tx, const struct mr_identity *who, const char *kind,
                        const struct mr_memory *m, struct mr_json *changes, int64_t now,
                        struct mr_err *err)
{
    char *text = mr_json_print(changes, 17);
    mr_json_free(changes);
    struct mr_history_event e = {
        .user_id = m->user_id,
        .tenant_id = m->tenant_id,
        .actor = (char *)(who->user_id ? who->user_id : "admin"),
        .kind = (char *)kind,
        .changes = text,
        .created_at = now,
    };
    memcpy(e.memory_id, m->memory_id, MR_UUID_LEN);
    int rc = mr_store_hist_insert(tx, &e, err);
    free(text);
    return rc;
}

int core_history_promotions(struct mr_store_tx *tx, const struct mr_access_promotion *p, size_t n,
                            struct mr_err *err)
{
    static const struct mr_identity automatic = {CORE_HISTORY_AUTO_ACTOR, NULL};
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        struct mr_memory m = {.user_id = p[i].user_id, .tenant_id = p[i].tenant_id};
        memcpy(m.memory_id, p[i].memory_id, MR_UUID_LEN);
        /* What POST .../promote records (the rule's fields), the accesses' boosts included. */
        struct mr_json *changes = mr_json_object();
        put(changes, "memory_type", mr_json_string(mr_memory_type_name(MR_SHORT_TERM)),
            mr_json_string(mr_memory_type_name(MR_LONG_TERM)));
        put(changes, "importance_score", mr_json_real(p[i].importance_before),
            mr_json_real(p[i].importance_after));
        put(changes, "expires_at", mr_json_time_or_null(p[i].expires_before), NULL);
        rc = core_history_append(tx, &automatic, "promote", &m, changes, p[i].at, err);
    }
    return rc;
}

/* Conversations' memories are read for their events a page at a time. */
#define CASCADE_PAGE 256

int core_history_conversation_deletes(struct mr_store_tx *tx, const struct mr_identity *who,
                                      const char *conv, int64_t now, int64_t **out, size_t *out_n,
                                      struct mr_err *err)
{
    *out = NULL;
    *out_n = 0;
    size_t n = 0, cap = 0;
    int64_t *ids = NULL, offset = 0, total = 0;
    int rc = 0;
    do {
        struct mr_memory *page = NULL;
        size_t k = 0;
        rc = mr_store_mem_list_by_conversation(tx, conv, CASCADE_PAGE, offset, &page, &k, &total,
                                               err);
        for (size_t i = 0; i < k; i++) {
            /* As DELETE /api/memories/{id} records it: every field, new null. */
            if (rc == 0)
                rc = core_history_append(tx, who, "delete", &page[i],
                                         core_history_changes(&page[i], NULL), now, err);
            if (n == cap)
                ids = mr_xrealloc(ids, (cap = cap ? 2 * cap : 64) * sizeof *ids);
            ids[n++] = page[i].id;
            mr_memory_clear(&page[i]);
        }
        free(page);
        offset += (int64_t)k;
        if (k == 0)
            break;
    } while (rc == 0 && offset < total);
    if (rc) {
        free(ids);
        return rc;
    }
    *out = ids;
    *out_n = n;
    return 0;
}

int mr_memory_history(struct mr_service *svc, const struct mr_identity *who, bool admin,
                      const char *memory_id, struct mr_page page, struct mr_history_event **out,
                      size_t *out_n, int64_t *out_total, struct mr_err *err)
{
    *out = NULL;
    *out_n = 0;
    *out_total = 0;
    struct core_trace t;
    core_trace_start(svc, &t);
    struct mr_store_tx *tx;
    struct mr_memory m = {0};
    int rc = mr_store_begin(svc->store, MR_TX_READ, &tx, err);
    if (rc)
        goto out;
    rc = mr_store_mem_get(tx, memory_id, &m, err);
    /* A schema memory is the tenant's, no user's (schema.c): its admins read its history. */
    bool tenants = admin && m.user_id && !m.user_id[0] && m.tenant_id &&
                   strcmp(m.tenant_id, who->tenant_id) == 0;
    if (rc == 0 && !core_owns(who, m.user_id, m.tenant_id) && !tenants)
        rc = mr_err_set(err, MR_ENOTFOUND, "Memory not found");
    else if (rc == MR_ENOTFOUND && admin) {
        /* Deleted: its events name the owner's tenant, which must be the admin's. */
        struct mr_history_event *first = NULL;
        size_t n = 0;
        int64_t total = 0;
        rc = mr_store_hist_list(tx, memory_id, 1, 0, &first, &n, &total, err);
        if (rc == 0 && (n == 0 || strcmp(first[0].tenant_id, who->tenant_id) != 0))
            rc = mr_err_set(err, MR_ENOTFOUND, "Memory not found");
        for (size_t i = 0; i < n; i++)
            mr_history_event_clear(&first[i]);
        free(first);
    }
    if (rc == 0)
        rc = mr_store_hist_list(tx, memory_id, page.limit, page.offset, out, out_n, out_total, err);
    mr_store_rollback(tx);
    mr_memory_clear(&m);
out:
    core_trace_end(svc, &t, "history", who, rc, "memory %.36s, %zu events", memory_id, *out_n);
    return rc;
}
