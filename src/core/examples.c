/*
 * examples.c — question → SQL examples (DESIGN.md §9): stored as `example`
 * memories of the user who posted them, deduplicated by (data source,
 * normalised question, SQL fingerprint); each join the SQL makes raises the
 * importance of that join's memory, and a join the schema lacks becomes a
 * relationship memory with source "example" (tenant knowledge, like the
 * schema's own: see schema.c).
 *
 * The SQL is analysed by the caller (it holds the schema and maps the SQL
 * module's diagnostics to 422s); this file stores what the analysis found.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core_int.h"
#include "memori/json.h"
#include "memori/sql.h"

#define TENANT_OWNER ""
/* What one example using a join adds to the join memory's importance. */
#define JOIN_IMPORTANCE_STEP 0.05

/* Lower case (ASCII), runs of white space as one space, trimmed, trailing ?.! dropped. */
static char *normalise_question(const char *q, size_t n)
{
    char *out = mr_xmalloc(n + 1);
    size_t k = 0;
    bool space = false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)q[i];
        if (isspace(c)) {
            space = k > 0;
            continue;
        }
        if (space)
            out[k++] = ' ';
        space = false;
        out[k++] = (char)(c < 128 ? tolower(c) : c);
    }
    while (k > 0 &&
           (out[k - 1] == '?' || out[k - 1] == '.' || out[k - 1] == '!' || out[k - 1] == ' '))
        k--;
    out[k] = '\0';
    return out;
}

static const char *json_str(const struct mr_json *o, const char *key)
{
    const struct mr_json *v = o ? mr_json_get(o, key) : NULL;
    return v && mr_json_is_string(v) ? mr_json_string_value(v) : NULL;
}

static bool str_eq(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

/*
 * Finds, among the tenant's memories about ds, who's example with the same
 * normalised question and fingerprint (into *out_ex, *found), and the
 * tenant's join memories by join_key (*out_joins: n_keys row ids, 0 where
 * none). The conversation of the tenant's schema memories into conv ("" when none).
 */
static int scan_source(struct mr_store_tx *tx, const struct mr_identity *who, int64_t ds,
                       const char *nq, const char *fp, struct mr_memory *out_ex, bool *found,
                       char **keys, size_t nkeys, int64_t *out_joins, char conv[MR_UUID_LEN],
                       struct mr_err *err)
{
    int64_t *ids = NULL;
    size_t n = 0;
    *found = false;
    conv[0] = '\0';
    for (size_t k = 0; k < nkeys; k++)
        out_joins[k] = 0;
    int rc = mr_store_mem_ids_by_data_source(tx, who->tenant_id, ds, &ids, &n, err);
    for (size_t i = 0; i < n && rc == 0; i++) {
        struct mr_memory m;
        if ((rc = mr_store_mem_get_by_id(tx, ids[i], &m, err)) != 0)
            break;
        struct mr_json *md = mr_json_parse(m.metadata, strlen(m.metadata), NULL);
        bool keep = false;
        if (m.memory_type == MR_EXAMPLE && core_owns(who, m.user_id, m.tenant_id) && !*found &&
            str_eq(json_str(md, "question_normalized"), nq) &&
            str_eq(json_str(md, "fingerprint"), fp)) {
            *found = keep = true;
        } else if (strcmp(m.user_id, TENANT_OWNER) == 0) {
            if (!conv[0])
                memcpy(conv, m.conversation_id, MR_UUID_LEN);
            const char *key = json_str(md, "join_key");
            if (m.memory_type == MR_RELATIONSHIP && str_eq(json_str(md, "kind"), "join") && key)
                for (size_t k = 0; k < nkeys; k++)
                    if (!out_joins[k] && strcmp(keys[k], key) == 0)
                        out_joins[k] = m.id;
        }
        mr_json_free(md);
        if (keep)
            *out_ex = m;
        else
            mr_memory_clear(&m);
    }
    free(ids);
    return rc;
}

/* The metadata of the example: the client's, then ours (kind, sql, the analysis). */
static char *example_metadata(const struct mr_example_create *in, const char *nq)
{
    char *analysis = mr_sql_analysis_to_json(in->analysis);
    struct mr_json *o = mr_json_parse(analysis, strlen(analysis), NULL);
    free(analysis);
    if (!o)
        o = mr_json_object();
    mr_json_set(o, "kind", mr_json_string("example"));
    mr_json_set(o, "sql", mr_json_stringn(in->sql, in->sql_len));
    mr_json_set(o, "question_normalized", mr_json_string(nq));
    mr_json_set(o, "verified", mr_json_bool(in->verified));
    char *ours = mr_json_print(o, 15);
    mr_json_free(o);
    char *merged = mr_json_merge_objects(in->metadata ? in->metadata : "{}", ours);
    free(ours);
    return merged;
}

/* The caller's conversation for the example: given (claimed, or 404 if another's) or per source. */
static int example_conversation(struct mr_store_tx *tx, const struct mr_identity *who,
                                const char *id, int64_t ds, int64_t now, struct mr_err *err)
{
    struct mr_conversation c;
    int rc = mr_store_conv_get(tx, id, &c, err);
    if (rc == 0) {
        if (!core_owns(who, c.user_id, c.tenant_id))
            rc = mr_err_set(err, MR_ENOTFOUND, "Conversation %s not found", id);
        mr_conversation_clear(&c);
        return rc;
    }
    if (rc != MR_ENOTFOUND)
        return rc;
    memset(&c, 0, sizeof c);
    snprintf(c.conversation_id, sizeof c.conversation_id, "%s", id);
    c.user_id = mr_xstrdup(who->user_id);
    c.tenant_id = mr_xstrdup(who->tenant_id);
    c.has_data_source_id = true;
    c.data_source_id = ds;
    c.metadata = mr_xstrdup("{}");
    c.is_active = true;
    c.last_activity_at = c.created_at = c.updated_at = now;
    rc = mr_store_conv_insert(tx, &c, err);
    mr_conversation_clear(&c);
    return rc;
}

/* FNV-1a 64 of the parts, seeded. */
static uint64_t fnv(uint64_t h, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

/*
 * The conversation examples go to when the body names none: one per (tenant,
 * user, data source), the same id every time (a v4-shaped UUID from a hash),
 * so a user's examples of one source stay together.
 */
static void default_conversation(const struct mr_identity *who, int64_t ds, char out[MR_UUID_LEN])
{
    char key[1200];
    int n = snprintf(key, sizeof key, "examples\n%s\n%s\n%lld", who->tenant_id, who->user_id,
                     (long long)ds);
    size_t len = n < 0 ? 0 : (size_t)n < sizeof key ? (size_t)n : sizeof key - 1;
    uint64_t a = fnv(0xcbf29ce484222325ull, key, len), b = fnv(0x84222325cbf29ce4ull, key, len);
    unsigned char u[16];
    for (int i = 0; i < 8; i++) {
        u[i] = (unsigned char)(a >> (8 * i));
        u[8 + i] = (unsigned char)(b >> (8 * i));
    }
    u[6] = (unsigned char)((u[6] & 0x0f) | 0x40);
    u[8] = (unsigned char)((u[8] & 0x3f) | 0x80);
    snprintf(out, MR_UUID_LEN,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0], u[1],
             u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14],
             u[15]);
}

int mr_example_create(struct mr_service *svc, const struct mr_identity *who,
                      const struct mr_example_create *in, struct mr_memory *out, bool *out_created,
                      struct mr_err *err)
{
    memset(out, 0, sizeof *out);
    *out_created = false;
    const struct mr_sql_analysis *an = in->analysis;
    struct core_trace t;
    core_trace_start(svc, &t);
    char *nq = normalise_question(in->question, in->question_len);
    size_t nj = an->njoins;
    char **keys = mr_xcalloc(nj + 1, sizeof *keys);
    struct mr_sql_rendered *made = mr_xcalloc(nj + 1, sizeof *made);
    int64_t *join_ids = mr_xcalloc(nj + 1, sizeof *join_ids);
    float **join_vecs = mr_xcalloc(nj + 1, sizeof *join_vecs);
    struct mr_memory *new_joins = mr_xcalloc(nj + 1, sizeof *new_joins);
    size_t n_new = 0;
    float *vec = NULL;
    char *metadata = NULL;
    char conv[MR_UUID_LEN];
    struct mr_store_tx *tx;
    bool found = false;
    int rc = 0;
    if (nq[0] == '\0') {
        rc = mr_err_set(err, MR_EINVAL, "Question cannot be empty");
        goto out;
    }
    for (size_t k = 0; k < nj; k++) {
        const struct mr_sql_equijoin *j = &an->joins[k];
        if (j->schema_join >= 0 && in->schema) {
            keys[k] = mr_sql_join_key(in->schema, &in->schema->joins[j->schema_join]);
        } else {
            mr_sql_render_example_join(an->dialect, j, &made[k]);
            struct mr_json *md =
                mr_json_parse(made[k].metadata_json, strlen(made[k].metadata_json), NULL);
            keys[k] = mr_xstrdup(json_str(md, "join_key") ? json_str(md, "join_key") : "");
            mr_json_free(md);
        }
    }

    /* Already stored? Then no embedding is needed. */
    if ((rc = mr_store_begin(svc->store, false, &tx, err)) != 0)
        goto out;
    rc = scan_source(tx, who, in->data_source_id, nq, an->fingerprint, out, &found, keys, nj,
                     join_ids, conv, err);
    mr_store_rollback(tx);
    if (rc || found)
        goto out;
    if ((rc = core_embed(svc, in->question, in->question_len, &t, &vec, err)) != 0)
        goto out;
    for (size_t k = 0; k < nj; k++)
        if (made[k].content && !join_ids[k] &&
            (rc = core_embed(svc, made[k].content, strlen(made[k].content), &t, &join_vecs[k],
                             err)) != 0)
            goto out;

    int64_t now = mr_clock_now(svc->clock);
    if ((rc = mr_store_begin(svc->store, true, &tx, err)) != 0)
        goto out;
    rc = scan_source(tx, who, in->data_source_id, nq, an->fingerprint, out, &found, keys, nj,
                     join_ids, conv, err);
    if (rc || found) {
        mr_store_rollback(tx);
        goto out;
    }
    struct mr_memory *m = out;
    char conv_id[MR_UUID_LEN];
    if (in->has_conversation_id)
        memcpy(conv_id, in->conversation_id, MR_UUID_LEN);
    else
        default_conversation(who, in->data_source_id, conv_id);
    rc = example_conversation(tx, who, conv_id, in->data_source_id, now, err);
    if (rc == 0) {
        metadata = example_metadata(in, nq);
        mr_uuid_v4(m->memory_id);
        memcpy(m->conversation_id, conv_id, MR_UUID_LEN);
        m->user_id = mr_xstrdup(who->user_id);
        m->tenant_id = mr_xstrdup(who->tenant_id);
        m->content = mr_xstrndup(in->question, in->question_len);
        m->memory_type = MR_EXAMPLE;
        m->embedding = vec;
        vec = NULL;
        m->dim = mr_embed_dim(svc->embedder);
        m->importance_score = in->verified ? 0.8 : 0.5;
        m->last_accessed_at = MR_NO_TIME;
        m->expires_at = MR_NO_TIME;
        for (size_t k = 0; k < an->ntables; k++)
            mr_strv_push(&m->related_entities, an->tables[k], strlen(an->tables[k]));
        m->metadata = metadata ? metadata : mr_xstrdup("{}");
        metadata = NULL;
        m->created_at = m->updated_at = now;
        m->has_data_source_id = true;
        m->data_source_id = in->data_source_id;
        rc = mr_store_mem_insert(tx, m, err);
    }
    /* Each join it makes: the join memory's importance up, or a new one from the example. */
    for (size_t k = 0; k < nj && rc == 0; k++) {
        if (join_ids[k]) {
            struct mr_memory jm;
            if ((rc = mr_store_mem_get_by_id(tx, join_ids[k], &jm, err)) != 0)
                break;
            jm.importance_score = jm.importance_score + JOIN_IMPORTANCE_STEP > 1
                                      ? 1
                                      : jm.importance_score + JOIN_IMPORTANCE_STEP;
            jm.updated_at = now;
            rc = mr_store_mem_update(tx, &jm, false, err);
            mr_memory_clear(&jm);
            continue;
        }
        if (!made[k].content)
            continue;     /* a schema join whose memory is missing: nothing to raise */
        bool dup = false; /* the same new join twice in one statement */
        for (size_t q = 0; q < k; q++)
            dup = dup || (made[q].content && strcmp(keys[q], keys[k]) == 0);
        if (dup)
            continue;
        if (!conv[0])
            rc = core_schema_conversation_new(tx, who->tenant_id, in->data_source_id, now, conv,
                                              err);
        if (rc)
            break;
        struct mr_memory *j = &new_joins[n_new++];
        mr_uuid_v4(j->memory_id);
        memcpy(j->conversation_id, conv, MR_UUID_LEN);
        j->user_id = mr_xstrdup(TENANT_OWNER);
        j->tenant_id = mr_xstrdup(who->tenant_id);
        j->content = mr_xstrdup(made[k].content);
        j->memory_type = MR_RELATIONSHIP;
        j->embedding = join_vecs[k];
        join_vecs[k] = NULL;
        if (!j->embedding &&
            (rc = core_embed(svc, j->content, strlen(j->content), &t, &j->embedding, err)) != 0)
            break;
        j->dim = mr_embed_dim(svc->embedder);
        j->importance_score = 0.5 + JOIN_IMPORTANCE_STEP;
        j->last_accessed_at = MR_NO_TIME;
        j->expires_at = MR_NO_TIME;
        for (size_t q = 0; q < made[k].nrelated; q++)
            mr_strv_push(&j->related_entities, made[k].related[q], strlen(made[k].related[q]));
        j->metadata = mr_xstrdup(made[k].metadata_json);
        j->is_shared = true;
        j->has_data_source_id = true;
        j->data_source_id = in->data_source_id;
        j->created_at = j->updated_at = now;
        rc = mr_store_mem_insert(tx, j, err);
    }
    if ((rc = core_finish(tx, rc, err)) != 0)
        goto out;
    *out_created = true;
    rc = core_index_put(svc, out, &t, err);
    for (size_t k = 0; k < n_new && rc == 0; k++)
        rc = core_index_put(svc, &new_joins[k], &t, err);
    if (n_new)
        core_ctx_invalidate(svc, who->tenant_id, in->data_source_id); /* a join it now draws */
out:
    if (rc)
        mr_memory_clear(out);
    for (size_t k = 0; k < nj; k++) {
        free(keys[k]);
        free(join_vecs[k]);
        mr_sql_rendered_free(&made[k]);
    }
    for (size_t k = 0; k < n_new; k++)
        mr_memory_clear(&new_joins[k]);
    free(new_joins);
    free(keys);
    free(made);
    free(join_ids);
    free(join_vecs);
    free(vec);
    free(metadata);
    free(nq);
    core_trace_end(svc, &t, "example", who, rc, "data source %lld", (long long)in->data_source_id);
    return rc;
}
