/*
 * schema.c — data-source schemas as memories (DESIGN.md §9): the import
 * (PUT), its stored form (GET) and its removal (DELETE).
 *
 * A schema is tenant knowledge, not a user's memory: its table (entity) and
 * join (relationship) memories belong to no user (user_id "", which no
 * caller's id can equal, so no user owns, changes or deletes them), are
 * shared with the tenant, and live in one conversation per (tenant, data
 * source) whose id the schema record keeps.
 *
 * The diff is made against the memories themselves, not the stored JSON:
 * a table memory's metadata carries its name and table_hash, a join's its
 * join_key, content and source. So an unchanged table keeps its memory
 * (id, access statistics) untouched; a changed one is rewritten in place
 * and re-embedded; a dropped one is archived (it leaves search) and, if it
 * comes back, is revived with its statistics. Joins an example added
 * (source "example") are never removed by an import.
 *
 * Embedding happens outside the write transaction: a read transaction
 * plans, the texts that need vectors are embedded, and the write
 * transaction plans again and applies (embedding inline only what a
 * concurrent import made necessary meanwhile).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core_int.h"
#include "memori/json.h"
#include "memori/rules.h"
#include "memori/sql.h"

/* Schema memories belong to no user: "" is never a caller's id (1..255 characters). */
#define TENANT_OWNER ""

enum kind { K_TABLE = 0, K_JOIN = 1 };

/* A stored schema memory, with what its metadata says about it. */
struct existing {
    struct mr_memory m;
    enum kind kind;
    char *key;    /* the table's qualified name, or the join's join_key */
    char *hash;   /* table_hash (tables) */
    char *source; /* declared | inferred | example (joins) */
    long matched; /* index of the new item it matches, or -1 */
};

enum action { A_KEEP = 0, A_INSERT, A_UPDATE, A_REVIVE };

/* One table or join memory the new schema wants. */
struct item {
    enum kind kind;
    size_t index; /* into schema->tables or schema->joins */
    char *key;
    const char *hash;   /* tables: mr_sql_table_hash */
    const char *source; /* joins */
    struct mr_sql_rendered r;
    float *vec;
    long existing; /* index into the existing memories, or -1 */
    enum action action;
};

struct import {
    struct mr_service *svc;
    const struct mr_identity *who;
    int64_t ds;
    const struct mr_sql_schema *schema;
    struct item *items;
    size_t nitems;
    struct existing *ex;
    size_t nex;
    struct existing **order; /* ex sorted by (kind, key) */
};

void mr_schema_summary_clear(struct mr_schema_summary *s)
{
    mr_strv_clear(&s->added);
    mr_strv_clear(&s->updated);
    mr_strv_clear(&s->removed);
    memset(s, 0, sizeof *s);
}

static const char *join_source_name(enum mr_sql_join_source s)
{
    return s == MR_SQL_JOIN_INFERRED  ? "inferred"
           : s == MR_SQL_JOIN_EXAMPLE ? "example"
                                      : "declared";
}

static char *json_str_dup(const struct mr_json *o, const char *key)
{
    const struct mr_json *v = mr_json_get(o, key);
    return v && mr_json_is_string(v) ? mr_xstrdup(mr_json_string_value(v)) : NULL;
}

/* Reads what a schema memory's metadata says; false for a memory that is not one. */
static bool read_existing(struct existing *e)
{
    struct mr_json *o = mr_json_parse(e->m.metadata, strlen(e->m.metadata), NULL);
    bool ok = false;
    if (o && mr_json_is_object(o)) {
        char *kind = json_str_dup(o, "kind");
        if (kind && strcmp(kind, "table") == 0 && e->m.memory_type == MR_ENTITY) {
            e->kind = K_TABLE;
            e->key = json_str_dup(o, "name");
            e->hash = json_str_dup(o, "table_hash");
            ok = e->key != NULL;
        } else if (kind && strcmp(kind, "join") == 0 && e->m.memory_type == MR_RELATIONSHIP) {
            e->kind = K_JOIN;
            e->key = json_str_dup(o, "join_key");
            e->source = json_str_dup(o, "source");
            ok = e->key != NULL;
        }
        free(kind);
    }
    mr_json_free(o);
    return ok;
}

static void existing_free(struct import *im)
{
    for (size_t i = 0; i < im->nex; i++) {
        mr_memory_clear(&im->ex[i].m);
        free(im->ex[i].key);
        free(im->ex[i].hash);
        free(im->ex[i].source);
    }
    free(im->ex);
    free(im->order);
    im->ex = NULL;
    im->order = NULL;
    im->nex = 0;
}

static int cmp_kind_key(enum kind ka, const char *a, enum kind kb, const char *b)
{
    if (ka != kb)
        return ka < kb ? -1 : 1;
    return strcmp(a, b);
}

static int cmp_order(const void *pa, const void *pb)
{
    const struct existing *a = *(struct existing *const *)pa;
    const struct existing *b = *(struct existing *const *)pb;
    int c = cmp_kind_key(a->kind, a->key, b->kind, b->key);
    /* Duplicates (a race of two first imports): the oldest is the one kept. */
    return c ? c : (a->m.id < b->m.id ? -1 : a->m.id > b->m.id);
}

/* The first existing memory of (kind, key), or -1. */
static long find_existing(const struct import *im, enum kind kind, const char *key)
{
    size_t lo = 0, hi = im->nex;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct existing *e = im->order[mid];
        if (cmp_kind_key(e->kind, e->key, kind, key) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < im->nex) {
        const struct existing *e = im->order[lo];
        if (cmp_kind_key(e->kind, e->key, kind, key) == 0)
            return (long)(e - im->ex);
    }
    return -1;
}

/* Loads the tenant's schema memories of the data source (archived ones too), sorted. */
static int load_existing(struct import *im, struct mr_store_tx *tx, struct mr_err *err)
{
    int64_t *ids = NULL;
    size_t n = 0;
    int rc = mr_store_mem_ids_by_data_source(tx, im->who->tenant_id, im->ds, &ids, &n, err);
    if (rc)
        return rc;
    im->ex = mr_xcalloc(n ? n : 1, sizeof *im->ex);
    for (size_t i = 0; i < n && rc == 0; i++) {
        struct existing *e = &im->ex[im->nex];
        if ((rc = mr_store_mem_get_by_id(tx, ids[i], &e->m, err)) != 0)
            break;
        if (strcmp(e->m.user_id, TENANT_OWNER) != 0 || !read_existing(e)) {
            mr_memory_clear(&e->m);
            free(e->key);
            free(e->hash);
            free(e->source);
            memset(e, 0, sizeof *e);
            continue; /* a user's memory about the source (an example), not the schema's */
        }
        e->matched = -1;
        im->nex++;
    }
    free(ids);
    im->order = mr_xmalloc((im->nex ? im->nex : 1) * sizeof *im->order);
    for (size_t i = 0; i < im->nex; i++)
        im->order[i] = &im->ex[i];
    qsort(im->order, im->nex, sizeof *im->order, cmp_order);
    return rc;
}

/* Decides each item's action against the loaded memories. */
static void plan(struct import *im)
{
    for (size_t i = 0; i < im->nitems; i++) {
        struct item *it = &im->items[i];
        it->existing = find_existing(im, it->kind, it->key);
        if (it->existing >= 0 && im->ex[it->existing].matched >= 0)
            it->existing = -1; /* cannot happen: keys are unique in a schema */
        if (it->existing < 0) {
            it->action = A_INSERT;
            continue;
        }
        struct existing *e = &im->ex[it->existing];
        e->matched = (long)i;
        bool same = it->kind == K_TABLE ? e->hash && strcmp(e->hash, it->hash) == 0
                                        : strcmp(e->m.content, it->r.content) == 0 && e->source &&
                                              strcmp(e->source, it->source) == 0;
        it->action = e->m.is_archived ? A_REVIVE : same ? A_KEEP : A_UPDATE;
    }
}

static void build_items(struct import *im)
{
    const struct mr_sql_schema *s = im->schema;
    im->nitems = s->ntables + s->njoins;
    im->items = mr_xcalloc(im->nitems ? im->nitems : 1, sizeof *im->items);
    for (size_t t = 0; t < s->ntables; t++) {
        struct item *it = &im->items[t];
        it->kind = K_TABLE;
        it->index = t;
        it->key = mr_xstrdup(s->tables[t].qualified);
        it->hash = mr_sql_table_hash(s, t);
        mr_sql_render_table(s, t, &it->r);
    }
    for (size_t j = 0; j < s->njoins; j++) {
        struct item *it = &im->items[s->ntables + j];
        it->kind = K_JOIN;
        it->index = j;
        it->key = mr_sql_join_key(s, &s->joins[j]);
        it->source = join_source_name(s->joins[j].source);
        mr_sql_render_join(s, j, &it->r);
    }
}

static void items_free(struct import *im)
{
    for (size_t i = 0; i < im->nitems; i++) {
        free(im->items[i].key);
        free(im->items[i].vec);
        mr_sql_rendered_free(&im->items[i].r);
    }
    free(im->items);
    im->items = NULL;
    im->nitems = 0;
}

/* Embeds every item the plan writes that has no vector yet. */
static int embed_needed(struct import *im, struct core_trace *t, struct mr_err *err)
{
    for (size_t i = 0; i < im->nitems; i++) {
        struct item *it = &im->items[i];
        if (it->action == A_KEEP || it->vec)
            continue;
        int rc = core_embed(im->svc, it->r.content, strlen(it->r.content), t, &it->vec, err);
        if (rc)
            return rc;
    }
    return 0;
}

/* Writes the item's rendering into m (a new or an existing memory). */
static void fill_memory(struct import *im, struct item *it, struct mr_memory *m, int64_t now)
{
    free(m->content);
    m->content = mr_xstrdup(it->r.content);
    free(m->metadata);
    m->metadata = mr_xstrdup(it->r.metadata_json);
    mr_strv_clear(&m->related_entities);
    for (size_t k = 0; k < it->r.nrelated; k++)
        mr_strv_push(&m->related_entities, it->r.related[k], strlen(it->r.related[k]));
    free(m->embedding);
    m->embedding = it->vec;
    it->vec = NULL;
    m->dim = mr_embed_dim(im->svc->embedder);
    m->memory_type = it->kind == K_TABLE ? MR_ENTITY : MR_RELATIONSHIP;
    m->is_archived = false;
    m->is_shared = true;
    m->has_data_source_id = true;
    m->data_source_id = im->ds;
    m->updated_at = now;
}

/* The conversation that holds the source's schema memories: the record's, an old one's, or new. */
static int schema_conversation(struct import *im, struct mr_store_tx *tx, int64_t now,
                               char out[MR_UUID_LEN], struct mr_err *err)
{
    struct mr_source_schema rec;
    int rc = mr_store_schema_get(tx, im->who->tenant_id, im->ds, &rec, err);
    if (rc == 0) {
        memcpy(out, rec.conversation_id, MR_UUID_LEN);
        mr_source_schema_clear(&rec);
        return 0;
    }
    if (rc != MR_ENOTFOUND)
        return rc;
    if (im->nex > 0) {
        memcpy(out, im->ex[0].m.conversation_id, MR_UUID_LEN);
        return 0;
    }
    return core_schema_conversation_new(tx, im->who->tenant_id, im->ds, now, out, err);
}

int core_schema_conversation_new(struct mr_store_tx *tx, const char *tenant_id, int64_t ds,
                                 int64_t now, char out[MR_UUID_LEN], struct mr_err *err)
{
    struct mr_conversation c = {0};
    char title[96];
    mr_uuid_v4(c.conversation_id);
    c.user_id = mr_xstrdup(TENANT_OWNER);
    c.tenant_id = mr_xstrdup(tenant_id);
    c.has_data_source_id = true;
    c.data_source_id = ds;
    snprintf(title, sizeof title, "Schema of data source %lld", (long long)ds);
    c.title = mr_xstrdup(title);
    c.metadata = mr_xstrdup("{\"kind\":\"schema\"}");
    c.is_active = true;
    c.last_activity_at = c.created_at = c.updated_at = now;
    int rc = mr_store_conv_insert(tx, &c, err);
    if (rc == 0)
        memcpy(out, c.conversation_id, MR_UUID_LEN);
    mr_conversation_clear(&c);
    return rc;
}

/* Applies the plan inside tx; the memories to index (or archive there) after the commit. */
static int apply(struct import *im, struct mr_store_tx *tx, const char *conv, int64_t now,
                 struct mr_schema_summary *sum, struct mr_memory **out_put, size_t *out_nput,
                 int64_t **out_archived, size_t *out_narchived, struct core_trace *t,
                 struct mr_err *err)
{
    struct mr_memory *put = mr_xcalloc(im->nitems + 1, sizeof *put);
    int64_t *archived = mr_xcalloc(im->nex + 1, sizeof *archived);
    size_t nput = 0, narch = 0;
    int rc = 0;
    for (size_t i = 0; i < im->nitems && rc == 0; i++) {
        struct item *it = &im->items[i];
        const char *name = it->kind == K_TABLE ? it->key : NULL;
        if (it->action == A_KEEP) {
            if (name)
                sum->unchanged++;
            continue;
        }
        if (!it->vec &&
            (rc = core_embed(im->svc, it->r.content, strlen(it->r.content), t, &it->vec, err)) != 0)
            break;
        struct mr_memory *m = &put[nput];
        if (it->action == A_INSERT) {
            mr_uuid_v4(m->memory_id);
            memcpy(m->conversation_id, conv, MR_UUID_LEN);
            m->user_id = mr_xstrdup(TENANT_OWNER);
            m->tenant_id = mr_xstrdup(im->who->tenant_id);
            m->importance_score = 0.5;
            m->last_accessed_at = MR_NO_TIME;
            m->expires_at = MR_NO_TIME;
            m->created_at = now;
            fill_memory(im, it, m, now);
            rc = mr_store_mem_insert(tx, m, err);
            /* Each schema memory's changes are history too (docs/hygiene.md), by the importer. */
            if (rc == 0)
                rc = core_history_append(tx, im->who, "create", m, core_history_changes(NULL, m),
                                         now, err);
        } else {
            /* The stored row, statistics and all, with the new rendering. */
            *m = im->ex[it->existing].m;
            memset(&im->ex[it->existing].m, 0, sizeof im->ex[it->existing].m);
            struct mr_memory before;
            core_memory_copy(&before, m);
            fill_memory(im, it, m, now);
            rc = mr_store_mem_update(tx, m, true, err);
            if (rc == 0)
                rc = core_history_append(tx, im->who, "update", m, core_history_changes(&before, m),
                                         now, err);
            mr_memory_clear(&before);
        }
        nput++;
        if (name)
            mr_strv_push(it->action == A_UPDATE ? &sum->updated : &sum->added, name, strlen(name));
    }
    /* What the new schema no longer has leaves search; an example's joins stay. */
    for (size_t i = 0; i < im->nex && rc == 0; i++) {
        struct existing *e = &im->ex[i];
        if (e->matched >= 0 || e->m.is_archived ||
            (e->kind == K_JOIN && e->source && strcmp(e->source, "example") == 0))
            continue;
        e->m.is_archived = true;
        e->m.updated_at = now;
        if ((rc = mr_store_mem_update(tx, &e->m, false, err)) != 0)
            break;
        struct mr_json *changes = mr_json_object();
        core_history_note(changes, "is_archived", mr_json_bool(false), mr_json_bool(true));
        if ((rc = core_history_append(tx, im->who, "archive", &e->m, changes, now, err)) != 0)
            break;
        archived[narch++] = e->m.id;
        if (e->kind == K_TABLE)
            mr_strv_push(&sum->removed, e->key, strlen(e->key));
    }
    *out_put = put;
    *out_nput = nput;
    *out_archived = archived;
    *out_narchived = narch;
    return rc;
}

int mr_schema_put(struct mr_service *svc, const struct mr_identity *who, int64_t data_source_id,
                  const struct mr_sql_schema *schema, struct mr_schema_summary *out,
                  struct mr_err *err)
{
    memset(out, 0, sizeof *out);
    struct core_trace t;
    core_trace_start(svc, &t);
    struct import im = {.svc = svc, .who = who, .ds = data_source_id, .schema = schema};
    struct mr_memory *put = NULL;
    int64_t *archived = NULL;
    size_t nput = 0, narch = 0;
    char *json = NULL;

    /* Plan in a read transaction, embed outside any. */
    struct mr_store_tx *tx;
    int rc = mr_store_begin(svc->store, false, &tx, err);
    if (rc)
        goto out;
    /*
     * The schema the source already has (same hash, same dialect): every
     * table and join memory is already what this import would write, since
     * imports are whole transactions and no user owns them. Answered from
     * the record alone — a nightly `memori schema import` of an unchanged
     * database then costs one read, not a pass over every memory
     * (docs/perf.md, "Schema import").
     */
    struct mr_source_schema stored;
    if (mr_store_schema_get(tx, who->tenant_id, data_source_id, &stored, err) == 0) {
        bool same = stored.schema_hash && strcmp(stored.schema_hash, schema->hash) == 0 &&
                    stored.dialect &&
                    strcmp(stored.dialect, mr_sql_dialect_name(schema->dialect)) == 0;
        mr_source_schema_clear(&stored);
        if (same) {
            mr_store_rollback(tx);
            out->unchanged = schema->ntables;
            goto summary;
        }
    }
    build_items(&im);
    rc = load_existing(&im, tx, err);
    mr_store_rollback(tx);
    if (rc)
        goto out;
    plan(&im);
    existing_free(&im);
    if ((rc = embed_needed(&im, &t, err)) != 0)
        goto out;

    int64_t now = mr_clock_now(svc->clock);
    if ((rc = mr_store_begin(svc->store, true, &tx, err)) != 0)
        goto out;
    char conv[MR_UUID_LEN];
    rc = load_existing(&im, tx, err);
    if (rc == 0) {
        plan(&im);
        rc = schema_conversation(&im, tx, now, conv, err);
    }
    if (rc == 0)
        rc = apply(&im, tx, conv, now, out, &put, &nput, &archived, &narch, &t, err);
    if (rc == 0) {
        json = mr_sql_schema_to_json(schema);
        struct mr_source_schema rec = {
            .tenant_id = (char *)who->tenant_id,
            .data_source_id = data_source_id,
            .dialect = (char *)mr_sql_dialect_name(schema->dialect),
            .schema_hash = (char *)schema->hash,
            .schema_json = json,
            .updated_at = now,
        };
        memcpy(rec.conversation_id, conv, MR_UUID_LEN);
        rc = mr_store_schema_put(tx, &rec, err);
    }
    if ((rc = core_finish(tx, rc, err)) != 0)
        goto out;

    /* Committed: the index and the context cache follow. */
    core_ctx_invalidate(svc, who->tenant_id, data_source_id);
    for (size_t i = 0; i < nput && rc == 0; i++)
        rc = core_index_put(svc, &put[i], &t, err);
    struct mr_identity owner = {TENANT_OWNER, who->tenant_id};
    for (size_t i = 0; i < narch && svc->index; i++)
        mr_index_set_archived(svc->index, &owner, archived[i], true);
summary:
    out->data_source_id = data_source_id;
    out->dialect = mr_sql_dialect_name(schema->dialect);
    snprintf(out->schema_hash, sizeof out->schema_hash, "%s", schema->hash);
    out->tables = schema->ntables;
    out->relationships = schema->njoins;
out:
    for (size_t i = 0; i < nput; i++)
        mr_memory_clear(&put[i]);
    free(put);
    free(archived);
    free(json);
    existing_free(&im);
    items_free(&im);
    if (rc)
        mr_schema_summary_clear(out);
    core_trace_end(svc, &t, "schema_put", who, rc, "data source %lld", (long long)data_source_id);
    return rc;
}

int mr_schema_get(struct mr_service *svc, const struct mr_identity *who, int64_t data_source_id,
                  char **out_json, struct mr_err *err)
{
    *out_json = NULL;
    struct mr_store_tx *tx;
    struct mr_source_schema rec;
    int rc = mr_store_begin(svc->store, false, &tx, err);
    if (rc)
        return rc;
    rc = mr_store_schema_get(tx, who->tenant_id, data_source_id, &rec, err);
    mr_store_rollback(tx);
    if (rc == 0) {
        *out_json = rec.schema_json;
        rec.schema_json = NULL;
        mr_source_schema_clear(&rec);
    }
    return rc;
}

void mr_data_source_clear(struct mr_data_source *d)
{
    free(d->dialect);
    free(d->schema_hash);
    memset(d, 0, sizeof *d);
}

/* d from a stored schema: its counts read from the JSON it was stored as (mr_sql_schema_to_json).
 */
static void data_source_from(struct mr_data_source *d, struct mr_source_schema *rec)
{
    d->data_source_id = rec->data_source_id;
    d->dialect = rec->dialect;
    d->schema_hash = rec->schema_hash;
    rec->dialect = rec->schema_hash = NULL;
    d->updated_at = rec->updated_at;
    struct mr_json *j = mr_json_parse(rec->schema_json, strlen(rec->schema_json), NULL);
    const struct mr_json *tables = j ? mr_json_get(j, "tables") : NULL;
    const struct mr_json *joins = j ? mr_json_get(j, "relationships") : NULL;
    d->tables = tables && mr_json_is_array(tables) ? mr_json_size(tables) : 0;
    d->relationships =
        joins && mr_json_is_integer(joins) ? (size_t)mr_json_integer_value(joins) : 0;
    mr_json_free(j);
}

/* Schemas read a page at a time: a tenant has a handful of data sources, never a table's worth. */
#define SCHEMA_LIST_PAGE 100

int mr_schema_list(struct mr_service *svc, const struct mr_identity *who, struct mr_page page,
                   struct mr_data_source **out, size_t *out_n, int64_t *out_total,
                   struct mr_err *err)
{
    *out = NULL;
    *out_n = 0;
    *out_total = 0;
    struct mr_store_tx *tx;
    int rc = mr_store_begin(svc->store, false, &tx, err);
    if (rc)
        return rc;
    struct mr_data_source *v = NULL;
    size_t n = 0, cap = 0;
    int64_t seen = 0, after_ds = 0;
    const char *after_tenant = NULL; /* from the first, then after the last one read */
    for (;;) {
        struct mr_source_schema *ss = NULL;
        size_t k = 0;
        rc = mr_store_schema_page(tx, who->tenant_id, after_tenant, after_ds, SCHEMA_LIST_PAGE, &ss,
                                  &k, err);
        for (size_t i = 0; i < k; i++, seen++) {
            after_ds = ss[i].data_source_id;
            if (rc == 0 && seen >= page.offset && (int64_t)n < page.limit) {
                if (n == cap) {
                    cap = cap ? cap * 2 : 8;
                    v = mr_xrealloc(v, cap * sizeof *v);
                }
                data_source_from(&v[n++], &ss[i]);
            }
            mr_source_schema_clear(&ss[i]);
        }
        free(ss);
        after_tenant = who->tenant_id;
        if (rc || k < SCHEMA_LIST_PAGE)
            break;
    }
    mr_store_rollback(tx);
    if (rc) {
        for (size_t i = 0; i < n; i++)
            mr_data_source_clear(&v[i]);
        free(v);
        return rc;
    }
    *out = v;
    *out_n = n;
    *out_total = seen;
    return 0;
}

int mr_schema_delete(struct mr_service *svc, const struct mr_identity *who, int64_t data_source_id,
                     struct mr_err *err)
{
    struct core_trace t;
    core_trace_start(svc, &t);
    struct mr_store_tx *tx;
    struct mr_source_schema rec = {0};
    int64_t *ids = NULL;
    size_t n = 0;
    int rc = mr_store_begin(svc->store, true, &tx, err);
    if (rc)
        goto out;
    rc = mr_store_schema_get(tx, who->tenant_id, data_source_id, &rec, err);
    /* The schema's conversation goes, and its memories with it (cascade), each with its event. */
    if (rc == 0)
        rc = core_history_conversation_deletes(tx, who, rec.conversation_id,
                                               mr_clock_now(svc->clock), &ids, &n, err);
    if (rc == 0 && (rc = mr_store_conv_delete(tx, rec.conversation_id, err)) == MR_ENOTFOUND)
        rc = 0; /* the conversation was already gone */
    if (rc == 0)
        rc = mr_store_schema_delete(tx, who->tenant_id, data_source_id, err);
    if ((rc = core_finish(tx, rc, err)) != 0)
        goto out;
    core_ctx_invalidate(svc, who->tenant_id, data_source_id);
    struct mr_identity owner = {TENANT_OWNER, who->tenant_id};
    for (size_t i = 0; i < n; i++)
        core_index_remove(svc, &owner, ids[i], &t);
out:
    free(ids);
    mr_source_schema_clear(&rec);
    core_trace_end(svc, &t, "schema_delete", who, rc, "data source %lld",
                   (long long)data_source_id);
    return rc;
}
