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
#include "memori/fusion.h"
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

void core_memory_copy(struct mr_memory *dst, const struct mr_memory *src)
{
    *dst = *src;
    dst->user_id = src->user_id ? mr_xstrdup(src->user_id) : NULL;
    dst->tenant_id = src->tenant_id ? mr_xstrdup(src->tenant_id) : NULL;
    dst->content = src->content ? mr_xstrdup(src->content) : NULL;
    dst->metadata = src->metadata ? mr_xstrdup(src->metadata) : NULL;
    dst->embedding = NULL;
    dst->dim = 0;
    dst->context_tags = (struct mr_strv){0};
    dst->related_entities = (struct mr_strv){0};
    mr_strv_copy(&dst->context_tags, &src->context_tags);
    mr_strv_copy(&dst->related_entities, &src->related_entities);
}

/* Appends b's strings that a lacks to a (the union of two lists, a's order first). */
static void strv_union(struct mr_strv *a, const struct mr_strv *b)
{
    for (size_t i = 0; i < b->len; i++) {
        bool have = false;
        for (size_t j = 0; j < a->len && !have; j++)
            have = strcmp(a->items[j], b->items[i]) == 0;
        if (!have)
            mr_strv_push(a, b->items[i], strlen(b->items[i]));
    }
}

/*
 * A near duplicate folded into target (docs/hygiene.md): content kept, or
 * replaced by the new one with its vector (policy); importance the higher;
 * tags and entities the union; metadata merged, the new memory's keys
 * winning under "replace" and the stored ones under "keep"; expiry the
 * later. *out_reembed when the vector changed.
 */
static int merge_into(struct mr_service *svc, struct mr_memory *target, const struct mr_memory *m,
                      enum mr_dedup_policy policy, int64_t now, bool *out_reembed,
                      struct mr_err *err)
{
    *out_reembed = false;
    char *merged = policy == MR_DEDUP_REPLACE
                       ? mr_json_merge_objects(target->metadata, m->metadata)
                       : mr_json_merge_objects(m->metadata, target->metadata);
    if (!merged)
        return mr_err_set(err, MR_EINVAL, "metadata must be a JSON object");
    int rc = core_check_metadata(svc, merged, true, err);
    if (rc) {
        free(merged);
        return rc;
    }
    free(target->metadata);
    target->metadata = merged;
    if (policy == MR_DEDUP_REPLACE && strcmp(target->content, m->content) != 0) {
        free(target->content);
        target->content = mr_xstrdup(m->content);
        /* A copy: m stays whole for another attempt should this transaction have to retry. */
        free(target->embedding);
        target->embedding = mr_xmalloc(m->dim * sizeof *target->embedding);
        memcpy(target->embedding, m->embedding, m->dim * sizeof *target->embedding);
        target->dim = m->dim;
        *out_reembed = true;
    }
    if (m->importance_score > target->importance_score)
        target->importance_score = m->importance_score;
    strv_union(&target->context_tags, &m->context_tags);
    strv_union(&target->related_entities, &m->related_entities);
    if (target->expires_at != MR_NO_TIME &&
        (m->expires_at == MR_NO_TIME || m->expires_at > target->expires_at))
        target->expires_at = m->expires_at;
    target->updated_at = now;
    return 0;
}

/*
 * An exact duplicate dup of the new memory, in tx: its access counted (as
 * a search's hit), and its event. *out_promoted when that promoted it.
 */
static int answer_duplicate(struct mr_service *svc, struct mr_store_tx *tx,
                            const struct mr_identity *who, struct mr_memory *dup, int64_t now,
                            bool *out_promoted, struct mr_err *err)
{
    struct mr_memory before = *dup;
    int rc = core_record_access(svc, tx, dup, now, out_promoted, err);
    if (rc)
        return rc;
    struct mr_json *changes = mr_json_object();
    core_history_note(changes, "access_count", mr_json_integer(before.access_count),
                      mr_json_integer(dup->access_count));
    if (before.importance_score != dup->importance_score)
        core_history_note(changes, "importance_score", mr_json_real(before.importance_score),
                          mr_json_real(dup->importance_score));
    if (*out_promoted) {
        /* The promotion this access caused is part of the same event. */
        core_history_note(changes, "memory_type",
                          mr_json_string(mr_memory_type_name(before.memory_type)),
                          mr_json_string(mr_memory_type_name(dup->memory_type)));
        core_history_note(changes, "expires_at", mr_json_time_or_null(before.expires_at),
                          mr_json_time_or_null(dup->expires_at));
    }
    return core_history_append(tx, who, "duplicate", dup, changes, now, err);
}

/*
 * Memory id read in tx for a write of its statistics or fields: on a store
 * that several processes share (PostgreSQL), locked until tx ends, as
 * search locks its hits, so two concurrent duplicates or merges never lose
 * one another's change (its embedding is then not read: dim 0).
 */
static int read_for_write(struct mr_service *svc, struct mr_store_tx *tx, int64_t id,
                          struct mr_memory *out, struct mr_err *err)
{
    if (!core_searches_in_store(svc))
        return mr_store_mem_get_by_id(tx, id, out, err);
    memset(out, 0, sizeof *out);
    struct mr_memory *rows = NULL;
    size_t n = 0;
    int rc = mr_store_mem_lock(tx, &id, 1, &rows, &n, err);
    if (rc == 0 && n == 1)
        *out = rows[0];
    else if (rc == 0)
        rc = mr_err_set(err, MR_ENOTFOUND, "Memory not found");
    free(rows);
    return rc;
}

/*
 * The first of the near duplicates c[0..n) that is still the caller's live
 * memory of m's type and data source, read into *out (found: *out_found).
 */
static int pick_near(struct mr_service *svc, struct mr_store_tx *tx, const struct mr_identity *who,
                     const struct mr_memory *m, const struct mr_fusion_candidate *c, size_t n,
                     int64_t now, struct mr_memory *out, bool *out_found, struct mr_err *err)
{
    *out_found = false;
    for (size_t i = 0; i < n; i++) {
        int rc = read_for_write(svc, tx, c[i].id, out, err);
        if (rc == MR_ENOTFOUND)
            continue;
        if (rc)
            return rc;
        if (core_owns(who, out->user_id, out->tenant_id) && !out->is_archived &&
            !mr_rule_is_expired(out, now) && out->memory_type == m->memory_type &&
            out->has_data_source_id == m->has_data_source_id &&
            (!m->has_data_source_id || out->data_source_id == m->data_source_id)) {
            *out_found = true;
            return 0;
        }
        mr_memory_clear(out);
    }
    return 0;
}

/* A merge, an exact duplicate or a store may race another writer's on PostgreSQL: retried. */
#define CREATE_ATTEMPTS 4

int mr_memory_create_outcome(struct mr_service *svc, const struct mr_identity *who,
                             const struct mr_memory_create *in, struct mr_memory *out,
                             enum mr_create_outcome *out_outcome, struct mr_err *err)
{
    memset(out, 0, sizeof *out);
    if (out_outcome)
        *out_outcome = MR_CREATE_STORED;
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
    enum mr_dedup_mode mode = in->dedup ? in->dedup : svc->dedup_default;

    struct core_trace t;
    core_trace_start(svc, &t);
    struct mr_memory m = {0};
    rc = core_embed(svc, in->content, in->content_len, &t, &m.embedding, err);
    if (rc)
        goto fail;
    int64_t now = mr_clock_now(svc->clock);
    m.dim = mr_embed_dim(svc->embedder);
    mr_uuid_v4(m.memory_id);
    memcpy(m.conversation_id, in->conversation_id, MR_UUID_LEN);
    m.user_id = mr_xstrdup(who->user_id);
    m.tenant_id = mr_xstrdup(who->tenant_id);
    m.content = mr_xstrndup(in->content, in->content_len);
    m.memory_type = in->memory_type;
    m.importance_score = in->importance_score;
    m.last_accessed_at = MR_NO_TIME;
    if (in->context_tags)
        mr_strv_copy(&m.context_tags, in->context_tags);
    if (in->related_entities)
        mr_strv_copy(&m.related_entities, in->related_entities);
    m.metadata = mr_xstrdup(in->metadata ? in->metadata : "{}");
    m.expires_at = in->expires_at != MR_NO_TIME
                       ? in->expires_at
                       : mr_rule_default_expiry(in->memory_type, now, svc->short_term_expiry_days);
    m.created_at = m.updated_at = now;
    m.is_shared = in->shared;
    char key[72];
    core_dedup_key(&m, key);

    enum mr_create_outcome how = MR_CREATE_STORED;
    bool reindex = false, reembed = false;
    for (int attempt = 0; attempt < CREATE_ATTEMPTS; attempt++) {
        bool key_race = false;
        struct mr_store_tx *tx;
        if ((rc = mr_store_begin(svc->store, MR_TX_WRITE, &tx, err)) != 0)
            goto fail;
        rc = claim_conversation(tx, who, m.conversation_id, now, err);
        /* Exact: the live memory holding the key is the answer (unless it expired). */
        struct mr_memory found = {0};
        bool has = false;
        if (rc == 0)
            rc = mr_store_mem_find_dedup(tx, who->tenant_id, who->user_id, key, &found, &has, err);
        if (rc == 0 && has && mr_rule_is_expired(&found, now)) {
            /* Search no longer returns it: it gives up the key, and the fact is stored anew. */
            rc = mr_store_mem_set_dedup_key(tx, found.id, NULL, err);
            mr_memory_clear(&found);
            has = false;
        } else if (rc == 0 && has && found.memory_type != m.memory_type) {
            /*
             * A search's automatic promotion changed its type after its key was
             * written: the key is made right, and this is no duplicate of it.
             */
            char its[72];
            core_dedup_key(&found, its);
            rc = core_dedup_claim_key(tx, &found, its, err);
            mr_memory_clear(&found);
            has = false;
        }
        if (rc == 0 && has) {
            how = MR_CREATE_DUPLICATE;
            int64_t id = found.id;
            mr_memory_clear(&found);
            rc = read_for_write(svc, tx, id, &found, err);
            if (rc == 0)
                rc = answer_duplicate(svc, tx, who, &found, now, &reindex, err);
        }
        /* Near: merged into the best live match above the threshold. */
        if (rc == 0 && !has && mode == MR_DEDUP_MERGE) {
            struct mr_fusion_candidate *c = NULL;
            size_t n = 0;
            rc = core_dedup_near(svc, tx, who, &m, svc->dedup_threshold, now, &c, &n, err);
            if (rc == 0 && n)
                rc = pick_near(svc, tx, who, &m, c, n, now, &found, &has, err);
            free(c);
            if (rc == 0 && has) {
                how = MR_CREATE_MERGED;
                struct mr_memory before;
                core_memory_copy(&before, &found);
                rc = merge_into(svc, &found, &m, in->policy, now, &reembed, err);
                if (rc == 0)
                    rc = mr_store_mem_update(tx, &found, reembed, err);
                if (rc == 0 && reembed)
                    rc = core_dedup_claim_key(tx, &found, key, err);
                if (rc == 0) {
                    struct mr_json *changes = core_history_changes(&before, &found);
                    core_history_note(changes, "merged_content", NULL, mr_json_string(m.content));
                    rc = core_history_append(tx, who, "merge", &found, changes, now, err);
                }
                mr_memory_clear(&before);
                reindex = true;
            }
        }
        if (rc == 0 && !has) {
            how = MR_CREATE_STORED;
            rc = mr_store_mem_insert(tx, &m, err);
            if (rc == 0) {
                rc = mr_store_mem_set_dedup_key(tx, m.id, key, err);
                /* Another writer stored the same fact a moment ago: try again, into it. */
                key_race = rc == MR_ECONFLICT;
            }
            if (rc == 0)
                rc = core_history_append(tx, who, "create", &m, core_history_changes(NULL, &m), now,
                                         err);
        }
        if (rc == MR_ECONFLICT && !key_race && how == MR_CREATE_MERGED)
            key_race = true; /* the merge's key write met a racing create: redo it */
        rc = core_finish(tx, rc, err);
        if (rc == 0) {
            if (how == MR_CREATE_STORED) {
                *out = m;
                memset(&m, 0, sizeof m);
            } else {
                *out = found;
            }
            break;
        }
        mr_memory_clear(&found);
        if (!key_race || attempt + 1 == CREATE_ATTEMPTS)
            goto fail;
        m.id = 0;
        reindex = reembed = false;
    }
    if (svc->index && (how == MR_CREATE_STORED || reindex)) {
        /* The index needs the vector (every read of this store loads it; kept as a guard). */
        if (!out->embedding || out->dim == 0) {
            struct mr_store_tx *tx;
            if ((rc = mr_store_begin(svc->store, MR_TX_READ, &tx, err)) == 0) {
                struct mr_memory fresh;
                rc = mr_store_mem_get_by_id(tx, out->id, &fresh, err);
                mr_store_rollback(tx);
                if (rc == 0) {
                    mr_memory_clear(out);
                    *out = fresh;
                }
            }
            if (rc)
                goto fail;
        }
        if ((rc = core_index_put(svc, out, &t, err)) != 0)
            goto fail;
    }
    if (out_outcome)
        *out_outcome = how;
    mr_memory_clear(&m);
    core_trace_end(svc, &t, "create", who, 0, "memory %s (%s)", out->memory_id,
                   how == MR_CREATE_STORED      ? "stored"
                   : how == MR_CREATE_DUPLICATE ? "duplicate"
                                                : "merged");
    return 0;
fail:
    core_trace_end(svc, &t, "create", who, rc, "no memory");
    mr_memory_clear(&m);
    mr_memory_clear(out);
    return rc;
}

int mr_memory_create(struct mr_service *svc, const struct mr_identity *who,
                     const struct mr_memory_create *in, struct mr_memory *out, struct mr_err *err)
{
    return mr_memory_create_outcome(svc, who, in, out, NULL, err);
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

/* A memory's metadata "superseded_by" (a borrowed UUID text in buf), or "" when none. */
static const char *superseded_by(const struct mr_memory *m, char buf[MR_UUID_LEN])
{
    buf[0] = '\0';
    struct mr_json *o = m->metadata ? mr_json_parse(m->metadata, strlen(m->metadata), NULL) : NULL;
    const struct mr_json *v = o ? mr_json_get(o, "superseded_by") : NULL;
    if (v && mr_json_is_string(v))
        mr_uuid_parse(mr_json_string_value(v), mr_json_string_length(v), buf);
    mr_json_free(o);
    return buf;
}

/* Longest chain of supersessions followed when looking for a cycle. */
#define SUPERSEDE_CHAIN_MAX 1000

/*
 * True (*out_cycle) when target is, through "superseded_by" links,
 * superseded by old (then old superseding... target would close a cycle).
 */
static int supersede_cycle(struct mr_store_tx *tx, const struct mr_memory *target, const char *old,
                           bool *out_cycle, struct mr_err *err)
{
    char next[MR_UUID_LEN];
    *out_cycle = false;
    superseded_by(target, next);
    for (int i = 0; next[0] && i < SUPERSEDE_CHAIN_MAX; i++) {
        if (strcmp(next, old) == 0) {
            *out_cycle = true;
            return 0;
        }
        struct mr_memory m;
        int rc = mr_store_mem_get(tx, next, &m, err);
        if (rc == MR_ENOTFOUND)
            return 0;
        if (rc)
            return rc;
        superseded_by(&m, next);
        mr_memory_clear(&m);
    }
    return 0;
}

/*
 * Supersession (docs/hygiene.md): each of p's memories is archived and
 * linked to target (its metadata's "superseded_by"), with its event;
 * target's metadata "supersedes" gains them. Their row ids into
 * archived[0..*out_n) (room for p->n_supersedes), for the index.
 */
static int supersede(struct mr_service *svc, struct mr_store_tx *tx, const struct mr_identity *who,
                     struct mr_memory *target, const struct mr_memory_patch *p, int64_t now,
                     int64_t *archived, size_t *out_n, struct mr_err *err)
{
    *out_n = 0;
    struct mr_json *meta = mr_json_object_or_empty(target->metadata);
    struct mr_json *list = mr_json_array();
    const struct mr_json *had = mr_json_get(meta, "supersedes");
    for (size_t i = 0; had && mr_json_is_array(had) && i < mr_json_size(had); i++)
        mr_json_append(list, mr_json_ref(mr_json_at(had, i)));
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < p->n_supersedes; i++) {
        const char *old = p->supersedes[i];
        if (strcmp(old, target->memory_id) == 0) {
            rc = mr_err_set(err, MR_ECONFLICT, "Memory %s cannot supersede itself", old);
            break;
        }
        struct mr_memory m;
        if ((rc = core_get_owned_memory(tx, who, old, &m, err)) != 0) {
            if (rc == MR_ENOTFOUND)
                rc = mr_err_set(err, MR_ENOTFOUND, "Memory %s not found", old);
            break;
        }
        bool cycle = false;
        char link[MR_UUID_LEN];
        rc = supersede_cycle(tx, target, old, &cycle, err);
        if (rc == 0 && cycle)
            rc = mr_err_set(err, MR_ECONFLICT,
                            "Memory %s is superseded by %s already: superseding it back would "
                            "make a cycle",
                            target->memory_id, old);
        if (rc == 0 && strcmp(superseded_by(&m, link), target->memory_id) != 0) {
            struct mr_memory before;
            core_memory_copy(&before, &m);
            char patch[96];
            snprintf(patch, sizeof patch, "{\"superseded_by\":\"%s\"}", target->memory_id);
            char *merged = mr_json_merge_objects(m.metadata, patch);
            if (!merged)
                rc = mr_err_set(err, MR_EINVAL, "metadata must be a JSON object");
            else
                rc = core_check_metadata(svc, merged, true, err);
            if (rc == 0) {
                free(m.metadata);
                m.metadata = merged;
                merged = NULL;
                m.is_archived = true;
                m.updated_at = now;
                rc = mr_store_mem_update(tx, &m, false, err);
            }
            free(merged);
            if (rc == 0)
                rc = core_history_append(tx, who, "supersede", &m,
                                         core_history_changes(&before, &m), now, err);
            mr_memory_clear(&before);
            if (rc == 0)
                archived[(*out_n)++] = m.id;
        }
        bool listed = false;
        for (size_t k = 0; k < mr_json_size(list) && !listed; k++) {
            const struct mr_json *v = mr_json_at(list, k);
            listed = mr_json_is_string(v) && strcmp(mr_json_string_value(v), old) == 0;
        }
        if (rc == 0 && !listed)
            mr_json_append(list, mr_json_string(old));
        mr_memory_clear(&m);
    }
    if (rc == 0) {
        mr_json_set(meta, "supersedes", list);
        list = NULL;
        char *text = mr_json_print(meta, 17);
        if ((rc = core_check_metadata(svc, text, true, err)) == 0) {
            free(target->metadata);
            target->metadata = text;
            text = NULL;
        }
        free(text);
    }
    mr_json_free(list);
    mr_json_free(meta);
    return rc;
}

int mr_memory_update(struct mr_service *svc, const struct mr_identity *who, const char *memory_id,
                     const struct mr_memory_patch *p, struct mr_memory *out, struct mr_err *err)
{
    float *vec = NULL;
    char *merged = NULL;
    int64_t *archived = NULL;
    size_t n_archived = 0;
    int rc;
    memset(out, 0, sizeof *out);
    if (p->content && is_blank(p->content, p->content_len))
        return mr_err_set(err, MR_EINVAL, "Memory content cannot be empty");
    struct core_trace t;
    core_trace_start(svc, &t);
    struct mr_memory before = {0};
    /* Updating content re-embeds (DESIGN.md §3). */
    if (p->content && (rc = core_embed(svc, p->content, p->content_len, &t, &vec, err)) != 0)
        goto out;
    archived = mr_xcalloc(p->n_supersedes + 1, sizeof *archived);

    struct mr_store_tx *tx;
    struct core_access_taken taken = {0};
    if ((rc = mr_store_begin(svc->store, true, &tx, err)) != 0)
        goto out;
    rc = core_get_owned_memory(tx, who, memory_id, out, err);
    /* Its pending accesses into the row first: every column is written back. */
    if (rc == 0)
        rc = core_access_settle(svc, tx, out, &taken, err);
    if (rc == 0) {
        core_memory_copy(&before, out);
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
        int64_t now = mr_clock_now(svc->clock);
        out->updated_at = now;
        if (rc == 0 && p->n_supersedes)
            rc = supersede(svc, tx, who, out, p, now, archived, &n_archived, err);
        if (rc == 0)
            rc = mr_store_mem_update(tx, out, p->content != NULL, err);
        if (rc == 0 && p->content && strcmp(before.content, out->content) != 0) {
            char key[72];
            core_dedup_key(out, key);
            rc = core_dedup_claim_key(tx, out, key, err);
        }
        if (rc == 0)
            rc = core_history_append(tx, who, p->n_supersedes ? "supersede" : "update", out,
                                     core_history_changes(&before, out), now, err);
    }
    rc = core_finish(tx, rc, err);
    core_access_settled(svc, &taken, rc);
    if (rc == 0)
        rc = core_index_put(svc, out, &t, err);
    for (size_t i = 0; rc == 0 && svc->index && i < n_archived; i++)
        mr_index_set_archived(svc->index, who, archived[i], true);
out:
    core_trace_end(svc, &t, "update", who, rc, "memory %.36s", memory_id);
    if (rc)
        mr_memory_clear(out);
    mr_memory_clear(&before);
    free(archived);
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
    if (rc == 0)
        rc = mr_store_mem_delete(tx, memory_id, err);
    /* The event outlives the row: it is how an admin learns what was deleted. */
    if (rc == 0)
        rc = core_history_append(tx, who, "delete", &m, core_history_changes(&m, NULL),
                                 mr_clock_now(svc->clock), err);
    mr_memory_clear(&m);
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
        struct mr_memory before;
        core_memory_copy(&before, out);
        int64_t now = mr_clock_now(svc->clock);
        if (mr_rule_promote(out, now) != 0)
            rc = mr_err_set(err, MR_ECONFLICT,
                            "Memory %s is %s; only short_term memories can be promoted", memory_id,
                            mr_memory_type_name(was));
        else
            rc = mr_store_mem_update(tx, out, false, err);
        if (rc == 0 && out->user_id && out->user_id[0]) {
            /* The key names the type: a promoted memory is a long_term one's duplicate now. */
            char key[72];
            core_dedup_key(out, key);
            rc = core_dedup_claim_key(tx, out, key, err);
        }
        if (rc == 0)
            rc = core_history_append(tx, who, "promote", out, core_history_changes(&before, out),
                                     now, err);
        mr_memory_clear(&before);
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
    /* Each archived memory's event, in the archival's transaction. */
    for (size_t i = 0; rc == 0 && i < n; i++) {
        struct mr_memory m;
        if ((rc = mr_store_mem_get_by_id(tx, ids[i], &m, err)) != 0)
            break;
        struct mr_json *changes = mr_json_object();
        core_history_note(changes, "is_archived", mr_json_bool(false), mr_json_bool(true));
        rc = core_history_append(tx, who, "archive", &m, changes, now, err);
        mr_memory_clear(&m);
    }
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
