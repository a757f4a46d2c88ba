/*
 * context.c — POST /api/context (DESIGN.md §10, docs/context.md): the
 * service's half. It gathers what the context module (src/context/) needs
 * for one question — the data source's schema index, the retrieval scores of
 * its table memories, the closest examples, the rules, the conversation's
 * latest turns — calls mr_ctx_assemble, and records the access of what the
 * answer holds.
 *
 * The schema index costs tens of milliseconds at 1 000 tables, so it is
 * cached per (tenant, data source). An entry is valid for one stored schema
 * record: its schema_hash, its conversation (a delete and re-import makes a
 * new one, with new memory ids) and its updated_at (every PUT). Each request
 * reads the record, so a re-import or a delete is never served stale, by
 * this process or by another one sharing the store. Joins learned from
 * examples (relationship memories with source "example") do not change the
 * record; an entry older than JOIN_RECHECK_US looks for new memories about
 * the data source and is rebuilt when one of them is such a join.
 *
 * Retrieval is search's (DESIGN.md §8): the query's vector and terms, both
 * sides' candidates with exact scores, fused (src/core/fusion.c), through
 * the in-process index (SQLite) or the store's candidates (PostgreSQL,
 * core_store_candidates, as search takes them). Tables are looked up in the schema's owner
 * partition (tenant knowledge, user ""), rules and examples in the caller's (and the tenant's
 * shared one under relaxed isolation).
 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core_int.h"
#include "memori/context.h"
#include "memori/fusion.h"
#include "memori/json.h"
#include "memori/lexical.h"
#include "memori/rules.h"
#include "memori/sql.h"

/* Schema memories belong to no user (schema.c). */
#define TENANT_OWNER ""

/*
 * How many candidates each retrieval asks for. Tables: the owner partition
 * holds every data source's tables, so more than the ~50 linking uses.
 * Rules: all of a caller's rules up to this many are read, so the pinned ones
 * are found wherever they rank. Examples: before the data source filter.
 */
#define TABLE_CANDIDATES 100
#define RULE_SCAN 256
#define EXAMPLE_SCAN 64
/* The conversation's latest short-term memories shown, and how many latest memories are read. */
#define RECENT_TURNS 5
#define RECENT_SCAN 32
#define CACHE_ENTRIES 16
#define JOIN_RECHECK_US (5 * 1000000LL)
#define RECORD_RECHECK_US 1000000LL

/* ------------------------------------------------------------ schema cache */

/* A table memory's row id and the table it describes. */
struct row_table {
    int64_t id;
    size_t table;
};

struct ctx_entry {
    char *tenant;
    int64_t ds;
    char hash[72];
    char conv[MR_UUID_LEN];
    int64_t updated_at;
    struct mr_sql_schema *sql;
    char **table_ids; /* memory_id per table (NULL: none) */
    char **join_ids;  /* memory_id per schema join */
    struct mr_ctx_join *extra;
    size_t nextra;
    size_t *extra_cols; /* 2 per extra join: from column, to column */
    char **extra_ids;
    struct mr_ctx_schema cs;
    struct mr_ctx_index *ix;
    struct row_table *rows; /* by id */
    size_t nrows;
    /* Read and moved on by concurrent requests, hence atomic. */
    _Atomic int64_t max_id;     /* the highest memory id about the data source when last looked */
    _Atomic int64_t checked_us; /* when (monotonic) */
    _Atomic int64_t record_us; /* when the stored record was last read and found to be this one's */
    int refs;                  /* the cache's own reference counts one */
    uint64_t used;
};

struct core_ctx_cache {
    pthread_mutex_t mu;
    struct ctx_entry *e[CACHE_ENTRIES];
    uint64_t tick;
};

struct core_ctx_cache *core_ctx_cache_new(void)
{
    struct core_ctx_cache *c = mr_xcalloc(1, sizeof *c);
    pthread_mutex_init(&c->mu, NULL);
    return c;
}

static void entry_free(struct ctx_entry *e)
{
    if (!e)
        return;
    mr_ctx_index_free(e->ix);
    mr_ctx_schema_release(&e->cs);
    size_t nt = e->sql ? e->sql->ntables : 0, nj = e->sql ? e->sql->njoins : 0;
    for (size_t i = 0; e->table_ids && i < nt; i++)
        free(e->table_ids[i]);
    for (size_t i = 0; e->join_ids && i < nj; i++)
        free(e->join_ids[i]);
    for (size_t i = 0; i < e->nextra; i++)
        free(e->extra_ids[i]);
    free(e->table_ids);
    free(e->join_ids);
    free(e->extra);
    free(e->extra_cols);
    free(e->extra_ids);
    free(e->rows);
    mr_sql_schema_free(e->sql);
    free(e->tenant);
    free(e);
}

void core_ctx_cache_free(struct core_ctx_cache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < CACHE_ENTRIES; i++)
        entry_free(c->e[i]);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

static void entry_release(struct core_ctx_cache *c, struct ctx_entry *e)
{
    if (!e)
        return;
    pthread_mutex_lock(&c->mu);
    bool last = --e->refs == 0;
    pthread_mutex_unlock(&c->mu);
    if (last)
        entry_free(e);
}

static bool entry_matches(const struct ctx_entry *e, const char *tenant, int64_t ds,
                          const struct mr_source_schema *rec)
{
    return e->ds == ds && strcmp(e->tenant, tenant) == 0 &&
           strcmp(e->hash, rec->schema_hash) == 0 && strcmp(e->conv, rec->conversation_id) == 0 &&
           e->updated_at == rec->updated_at;
}

/* Drops the cache's reference of slot i (under the lock); the entry is freed when unused. */
static struct ctx_entry *slot_take(struct core_ctx_cache *c, size_t i)
{
    struct ctx_entry *e = c->e[i];
    c->e[i] = NULL;
    if (e && --e->refs == 0)
        return e;
    return NULL;
}

static const char *json_str(const struct mr_json *o, const char *key)
{
    const struct mr_json *v = o ? mr_json_get(o, key) : NULL;
    return v && mr_json_is_string(v) ? mr_json_string_value(v) : NULL;
}

static const char *json_first(const struct mr_json *o, const char *key)
{
    const struct mr_json *a = o ? mr_json_get(o, key) : NULL;
    if (!a || !mr_json_is_array(a) || mr_json_size(a) != 1)
        return NULL;
    const struct mr_json *v = mr_json_at(a, 0);
    return mr_json_is_string(v) ? mr_json_string_value(v) : NULL;
}

struct join_key {
    char *key;
    size_t join;
};

static int cmp_join_key(const void *a, const void *b)
{
    return strcmp(((const struct join_key *)a)->key, ((const struct join_key *)b)->key);
}

static int cmp_row(const void *a, const void *b)
{
    int64_t x = ((const struct row_table *)a)->id, y = ((const struct row_table *)b)->id;
    return x < y ? -1 : x > y;
}

/* A join an example taught (metadata from mr_sql_render_example_join), as an extra join. */
static void add_example_join(struct ctx_entry *e, const struct mr_json *md, const char *memory_id)
{
    long ft =
        mr_sql_schema_find(e->sql, json_str(md, "from_table") ? json_str(md, "from_table") : "");
    long tt = mr_sql_schema_find(e->sql, json_str(md, "to_table") ? json_str(md, "to_table") : "");
    const char *fc = json_first(md, "from_columns"), *tc = json_first(md, "to_columns");
    if (ft < 0 || tt < 0 || !fc || !tc)
        return; /* a join to a table the schema lost: nothing to draw */
    long fci = mr_sql_table_find_column(e->sql, (size_t)ft, fc);
    long tci = mr_sql_table_find_column(e->sql, (size_t)tt, tc);
    if (fci < 0 || tci < 0)
        return;
    size_t k = e->nextra++;
    e->extra = mr_xrealloc(e->extra, e->nextra * sizeof *e->extra);
    e->extra_cols = mr_xrealloc(e->extra_cols, 2 * e->nextra * sizeof *e->extra_cols);
    e->extra_ids = mr_xrealloc(e->extra_ids, e->nextra * sizeof *e->extra_ids);
    e->extra_cols[2 * k] = (size_t)fci;
    e->extra_cols[2 * k + 1] = (size_t)tci;
    e->extra_ids[k] = mr_xstrdup(memory_id);
    e->extra[k] = (struct mr_ctx_join){.from_table = (size_t)ft,
                                       .to_table = (size_t)tt,
                                       .ncolumns = 1,
                                       .kind = MR_CTX_JOIN_EXAMPLE};
}

/* A schema memory about ds (owned by no user) that is a join an example taught. */
static bool is_example_join(const struct mr_memory *m, const struct mr_json *md)
{
    const char *kind = json_str(md, "kind"), *source = json_str(md, "source");
    return m->memory_type == MR_RELATIONSHIP && !m->is_archived && kind &&
           strcmp(kind, "join") == 0 && source && strcmp(source, "example") == 0;
}

/*
 * Builds the entry of a stored schema: the schema read back, its table and
 * join memories' ids (matched by name and join_key, as the import wrote
 * them), the joins examples taught, the context schema and its index.
 */
static int entry_build(struct mr_service *svc, const char *tenant, int64_t ds,
                       const struct mr_source_schema *rec, mr_schema_reader read_schema,
                       struct ctx_entry **out, struct mr_err *err)
{
    *out = NULL;
    struct ctx_entry *e = mr_xcalloc(1, sizeof *e);
    e->tenant = mr_xstrdup(tenant);
    e->ds = ds;
    snprintf(e->hash, sizeof e->hash, "%s", rec->schema_hash);
    memcpy(e->conv, rec->conversation_id, MR_UUID_LEN);
    e->updated_at = rec->updated_at;
    e->refs = 1;
    struct join_key *keys = NULL;
    int64_t *ids = NULL;
    size_t n = 0;
    struct mr_store_tx *tx = NULL;
    int rc = read_schema(rec->schema_json, strlen(rec->schema_json), &e->sql, err);
    if (rc)
        goto out;
    const struct mr_sql_schema *s = e->sql;
    e->table_ids = mr_xcalloc(s->ntables + 1, sizeof *e->table_ids);
    e->join_ids = mr_xcalloc(s->njoins + 1, sizeof *e->join_ids);
    keys = mr_xcalloc(s->njoins + 1, sizeof *keys);
    for (size_t j = 0; j < s->njoins; j++)
        keys[j] = (struct join_key){mr_sql_join_key(s, &s->joins[j]), j};
    qsort(keys, s->njoins, sizeof *keys, cmp_join_key);
    e->rows = mr_xcalloc(s->ntables + 1, sizeof *e->rows);

    if ((rc = mr_store_begin(svc->store, false, &tx, err)) != 0)
        goto out;
    rc = mr_store_mem_ids_by_data_source(tx, tenant, ds, &ids, &n, err);
    for (size_t i = 0; i < n && rc == 0; i++) {
        struct mr_memory m;
        if (ids[i] > e->max_id)
            e->max_id = ids[i];
        if ((rc = mr_store_mem_get_by_id(tx, ids[i], &m, err)) != 0)
            break;
        struct mr_json *md = NULL;
        if (strcmp(m.user_id, TENANT_OWNER) == 0 && !m.is_archived &&
            strcmp(m.conversation_id, e->conv) == 0)
            md = mr_json_parse(m.metadata, strlen(m.metadata), NULL);
        const char *kind = json_str(md, "kind");
        if (kind && strcmp(kind, "table") == 0 && m.memory_type == MR_ENTITY) {
            long t = mr_sql_schema_find(s, json_str(md, "name") ? json_str(md, "name") : "");
            if (t >= 0 && !e->table_ids[t]) {
                e->table_ids[t] = mr_xstrdup(m.memory_id);
                e->rows[e->nrows++] = (struct row_table){m.id, (size_t)t};
            }
        } else if (md && is_example_join(&m, md)) {
            add_example_join(e, md, m.memory_id);
        } else if (kind && strcmp(kind, "join") == 0 && json_str(md, "join_key")) {
            struct join_key probe = {(char *)json_str(md, "join_key"), 0};
            struct join_key *k = bsearch(&probe, keys, s->njoins, sizeof *keys, cmp_join_key);
            if (k && !e->join_ids[k->join])
                e->join_ids[k->join] = mr_xstrdup(m.memory_id);
        }
        mr_json_free(md);
        mr_memory_clear(&m);
    }
    mr_store_rollback(tx);
    if (rc)
        goto out;
    qsort(e->rows, e->nrows, sizeof *e->rows, cmp_row);
    /* The extra joins' column arrays are final now (no more realloc). */
    for (size_t k = 0; k < e->nextra; k++) {
        e->extra[k].from_columns = &e->extra_cols[2 * k];
        e->extra[k].to_columns = &e->extra_cols[2 * k + 1];
        e->extra[k].memory_id = e->extra_ids[k];
    }
    rc = mr_ctx_schema_from_sql(s, (const char *const *)e->table_ids,
                                (const char *const *)e->join_ids, e->extra, e->nextra, &e->cs, err);
    if (rc == 0)
        rc = mr_ctx_index_new(&e->cs, &e->ix, err);
    e->checked_us = mr_monotonic_us();
out:
    for (size_t j = 0; keys && j < e->sql->njoins; j++)
        free(keys[j].key);
    free(keys);
    free(ids);
    if (rc) {
        entry_free(e);
        return rc;
    }
    *out = e;
    return 0;
}

/*
 * True when the data source has gained a join taught by an example since e
 * was built (its memories newer than e->max_id; e->max_id moves on when
 * none is). Read in its own short transaction.
 */
static int entry_stale(struct mr_service *svc, struct ctx_entry *e, bool *out_stale,
                       struct mr_err *err)
{
    *out_stale = false;
    struct mr_store_tx *tx;
    int64_t *ids = NULL, seen = e->max_id, max_id = seen;
    size_t n = 0;
    int rc = mr_store_begin(svc->store, false, &tx, err);
    if (rc)
        return rc;
    rc = mr_store_mem_ids_by_data_source(tx, e->tenant, e->ds, &ids, &n, err);
    for (size_t i = 0; i < n && rc == 0 && !*out_stale; i++) {
        if (ids[i] <= seen)
            continue;
        if (ids[i] > max_id)
            max_id = ids[i];
        struct mr_memory m;
        if ((rc = mr_store_mem_get_by_id(tx, ids[i], &m, err)) != 0)
            break;
        if (strcmp(m.user_id, TENANT_OWNER) == 0) {
            struct mr_json *md = mr_json_parse(m.metadata, strlen(m.metadata), NULL);
            *out_stale = is_example_join(&m, md);
            mr_json_free(md);
        }
        mr_memory_clear(&m);
    }
    mr_store_rollback(tx);
    free(ids);
    if (rc == 0 && !*out_stale) {
        e->max_id = max_id; /* a benign race: another request may have moved it the same way */
        e->checked_us = mr_monotonic_us();
    }
    return rc;
}

/* The cache's entry of (tenant, ds) with a reference taken, or NULL. */
static struct ctx_entry *cache_find(struct core_ctx_cache *c, const char *tenant, int64_t ds)
{
    struct ctx_entry *hit = NULL;
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < CACHE_ENTRIES && !hit; i++)
        if (c->e[i] && c->e[i]->ds == ds && strcmp(c->e[i]->tenant, tenant) == 0) {
            hit = c->e[i];
            hit->refs++;
            hit->used = ++c->tick;
        }
    pthread_mutex_unlock(&c->mu);
    return hit;
}

/* Puts e in the cache (taking the caller's reference as the cache's), instead of the source's
 * older entry or the least recently used one. */
static void cache_put(struct core_ctx_cache *c, struct ctx_entry *e)
{
    pthread_mutex_lock(&c->mu);
    size_t slot = 0;
    bool found = false;
    for (size_t i = 0; i < CACHE_ENTRIES && !found; i++)
        if (c->e[i] && c->e[i]->ds == e->ds && strcmp(c->e[i]->tenant, e->tenant) == 0) {
            slot = i;
            found = true;
        }
    for (size_t i = 0; i < CACHE_ENTRIES && !found; i++)
        if (!c->e[i] || c->e[i]->used < c->e[slot]->used) {
            slot = i;
            if (!c->e[i])
                break;
        }
    struct ctx_entry *dead = slot_take(c, slot);
    e->refs++;
    e->used = ++c->tick;
    c->e[slot] = e;
    pthread_mutex_unlock(&c->mu);
    entry_free(dead);
}

void core_ctx_invalidate(struct mr_service *svc, const char *tenant, int64_t ds)
{
    struct core_ctx_cache *c = svc->ctx_cache;
    struct ctx_entry *dead = NULL;
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < CACHE_ENTRIES; i++)
        if (c->e[i] && c->e[i]->ds == ds && strcmp(c->e[i]->tenant, tenant) == 0)
            dead = slot_take(c, i);
    pthread_mutex_unlock(&c->mu);
    entry_free(dead);
}

/*
 * The schema index of (tenant, ds) into *out (NULL: the source has no
 * schema); release it with entry_release. A cached entry is used as it is
 * for RECORD_RECHECK_US after its record was last read: this process's
 * imports and deletes invalidate it at once (core_ctx_invalidate), another
 * process's are seen within that bound. Past it, the record is read again
 * and the entry kept only if it is still the record's.
 */
static int schema_index(struct mr_service *svc, const char *tenant, int64_t ds,
                        mr_schema_reader read_schema, struct ctx_entry **out, struct mr_err *err)
{
    struct core_ctx_cache *c = svc->ctx_cache;
    *out = NULL;
    struct ctx_entry *e = cache_find(c, tenant, ds);
    int64_t now = mr_monotonic_us();
    int rc = 0;
    if (!e || now - e->record_us >= RECORD_RECHECK_US) {
        struct mr_source_schema rec;
        struct mr_store_tx *tx;
        if ((rc = mr_store_begin(svc->store, false, &tx, err)) != 0)
            goto fail;
        rc = mr_store_schema_get(tx, tenant, ds, &rec, err);
        mr_store_rollback(tx);
        if (rc == MR_ENOTFOUND) {
            entry_release(c, e);
            core_ctx_invalidate(svc, tenant, ds);
            return 0;
        }
        if (rc)
            goto fail;
        if (e && !entry_matches(e, tenant, ds, &rec)) {
            entry_release(c, e);
            e = NULL;
        }
        if (!e) {
            rc = entry_build(svc, tenant, ds, &rec, read_schema, &e, err);
            if (rc == 0)
                cache_put(c, e);
        }
        mr_source_schema_clear(&rec);
        if (rc)
            goto fail;
        e->record_us = now; /* benign race: concurrent requests store about the same time */
    }
    if (now - e->checked_us > JOIN_RECHECK_US) {
        bool stale;
        if ((rc = entry_stale(svc, e, &stale, err)) != 0)
            goto fail;
        if (stale) {
            /* A join an example taught: rebuilt at once, from a fresh read of the record. */
            entry_release(c, e);
            core_ctx_invalidate(svc, tenant, ds);
            return schema_index(svc, tenant, ds, read_schema, out, err);
        }
    }
    *out = e;
    return 0;
fail:
    entry_release(c, e);
    return rc;
}

/* ------------------------------------------------------------- retrieval */

/* A candidate memory with its fused score (the memory read back, or id only for tables). */
struct cand {
    int64_t id; /* the memory's row id (index), or its row's position (store) */
    double score;
    int64_t tie; /* the row id: equal scores go to the older memory */
};

/* The question's query for the index: its sides as the fusion's mode asks. */
static struct mr_index_query base_query(const struct mr_fusion *f, const float *qv, size_t dim,
                                        const struct mr_lex_terms *terms, int64_t now)
{
    struct mr_index_query q = {
        .vec = qv, .dim = dim, .now = now, .terms = terms, .min_score = -INFINITY};
    q.sides = f->mode == MR_SEARCH_SEMANTIC  ? MR_INDEX_SIDE_VECTOR
              : f->mode == MR_SEARCH_LEXICAL ? MR_INDEX_SIDE_LEXICAL
                                             : MR_INDEX_SIDE_VECTOR | MR_INDEX_SIDE_LEXICAL;
    return q;
}

static int cmp_cand(const void *a, const void *b)
{
    const struct cand *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return x->tie < y->tie ? -1 : x->tie > y->tie;
}

/* Index candidates of q in who's partitions, fused and ranked, into *out (the caller frees). */
static int index_ranked(struct mr_service *svc, const struct mr_identity *who,
                        const struct mr_index_query *q, const struct mr_fusion *f,
                        struct cand **out, size_t *out_n, struct mr_err *err)
{
    struct mr_index_candidate *got = mr_xcalloc(2 * q->limit + 1, sizeof *got);
    size_t n = 0;
    int rc = mr_index_candidates(svc->index, who, q, got, &n, err);
    struct cand *c = mr_xcalloc(n + 1, sizeof *c);
    for (size_t i = 0; rc == 0 && i < n; i++)
        c[i] =
            (struct cand){got[i].id, mr_fusion_score(f, got[i].cosine, got[i].lexical), got[i].id};
    free(got);
    if (rc) {
        free(c);
        return rc;
    }
    qsort(c, n, sizeof *c, cmp_cand);
    *out = c;
    *out_n = n;
    return 0;
}

/*
 * The store's candidates (PostgreSQL) for q, inside tx, fused and ranked as
 * index_ranked ranks the in-process index's: the same candidates, scores
 * and order as search's store path (core_store_candidates); nothing locked,
 * rows read back by id as on SQLite.
 */
static int store_ranked(struct mr_store_tx *tx, const struct mr_identity *who,
                        const struct mr_index_query *q, const struct mr_fusion *f,
                        struct cand **out, size_t *out_n, struct mr_err *err)
{
    struct mr_fusion_candidate *got = NULL;
    size_t n = 0;
    int rc = core_store_candidates(tx, who, q, &got, &n, err);
    if (rc)
        return rc;
    struct cand *c = mr_xcalloc(n + 1, sizeof *c);
    for (size_t i = 0; i < n; i++)
        c[i] =
            (struct cand){got[i].id, mr_fusion_score(f, got[i].cosine, got[i].lexical), got[i].id};
    free(got);
    qsort(c, n, sizeof *c, cmp_cand);
    *out = c;
    *out_n = n;
    return 0;
}

/* ------------------------------------------------------------ the request */

/* Everything one request holds until its answer is assembled. */
struct gather {
    struct mr_memory *mems; /* rules, examples and recent turns read back (owned) */
    size_t nmems, cap;
    struct mr_json **docs; /* parsed metadata the examples' strings point into */
    size_t ndocs;
    struct mr_ctx_candidate *cands;
    size_t ncands;
    struct mr_ctx_rule *rules;
    size_t nrules;
    size_t *rule_mem; /* rules[i]'s memory in mems */
    struct mr_ctx_example *examples;
    size_t nexamples;
    size_t *example_mem;
    const char ***example_tables;
    struct mr_ctx_recent *recent;
    size_t nrecent;
    size_t *recent_mem;
    char (*recent_times)[32];
};

static size_t keep_memory(struct gather *g, struct mr_memory *m)
{
    if (g->nmems == g->cap) {
        g->cap = g->cap ? 2 * g->cap : 16;
        g->mems = mr_xrealloc(g->mems, g->cap * sizeof *g->mems);
    }
    g->mems[g->nmems] = *m;
    memset(m, 0, sizeof *m);
    return g->nmems++;
}

static void gather_free(struct gather *g)
{
    for (size_t i = 0; i < g->nmems; i++)
        mr_memory_clear(&g->mems[i]);
    for (size_t i = 0; i < g->ndocs; i++)
        mr_json_free(g->docs[i]);
    for (size_t i = 0; i < g->nexamples; i++)
        free(g->example_tables[i]);
    free(g->mems);
    free(g->docs);
    free(g->cands);
    free(g->rules);
    free(g->rule_mem);
    free(g->examples);
    free(g->example_mem);
    free(g->example_tables);
    free(g->recent);
    free(g->recent_mem);
    free(g->recent_times);
    memset(g, 0, sizeof *g);
}

/* Whether who may see m as a rule or example of the context (search's rule of ownership). */
static bool admits(const struct mr_service *svc, const struct mr_identity *who,
                   const struct mr_memory *m, enum mr_memory_type type, int64_t now)
{
    if (!core_owns(who, m->user_id, m->tenant_id) &&
        !(svc->relaxed_sharing && core_shared_with(svc, who, m)))
        return false;
    return m->memory_type == type && !m->is_archived && !mr_rule_is_expired(m, now);
}

/*
 * One candidate of the rules or the examples read back (m, taken when
 * kept): rules apply unless they name another data source; examples must be
 * about ds. Every pinned rule and the best max_rules unpinned ones
 * (trim_rules cuts them to the room left), and max_examples examples over
 * the threshold, by score.
 */
static void consider(struct gather *g, const struct mr_context_request *req, int64_t ds,
                     bool has_ds, double example_floor, struct mr_memory *m, double score,
                     size_t *unpinned_room)
{
    struct mr_json *md = mr_json_parse(m->metadata, strlen(m->metadata), NULL);
    if (m->memory_type == MR_RULE) {
        if (m->has_data_source_id && (!has_ds || m->data_source_id != ds))
            goto drop;
        const struct mr_json *p = md ? mr_json_get(md, "pinned") : NULL;
        bool pinned = p && mr_json_is_true(p);
        if (!pinned && *unpinned_room == 0)
            goto drop;
        if (!pinned)
            (*unpinned_room)--;
        size_t k = keep_memory(g, m);
        g->rule_mem[g->nrules] = k;
        g->rules[g->nrules++] =
            (struct mr_ctx_rule){g->mems[k].memory_id, g->mems[k].content, score, pinned};
        goto drop;
    }
    /* An example of this data source. */
    if (!has_ds || !m->has_data_source_id || m->data_source_id != ds ||
        g->nexamples >= req->max_examples || score < example_floor - 1e-6 || !md)
        goto drop;
    const char *sql = json_str(md, "sql");
    if (!sql)
        goto drop;
    const struct mr_json *v = mr_json_get(md, "verified");
    const struct mr_json *tables = mr_json_get(md, "tables");
    size_t nt = tables && mr_json_is_array(tables) ? mr_json_size(tables) : 0;
    const char **names = mr_xcalloc(nt + 1, sizeof *names);
    size_t k2 = 0;
    for (size_t i = 0; i < nt; i++)
        if (mr_json_is_string(mr_json_at(tables, i)))
            names[k2++] = mr_json_string_value(mr_json_at(tables, i));
    size_t k = keep_memory(g, m);
    size_t x = g->nexamples++;
    g->example_mem[x] = k;
    g->example_tables[x] = names;
    g->examples[x] = (struct mr_ctx_example){
        g->mems[k].memory_id, g->mems[k].content, sql, score, v && mr_json_is_true(v), names, k2};
    g->docs[g->ndocs++] = md; /* sql and the names point into it */
    return;
drop:
    mr_json_free(md);
    mr_memory_clear(m);
}

/*
 * Pinned rules count towards max_rules but are never left out for it: the
 * unpinned ones keep the room the pinned leave, best first.
 */
static void trim_rules(struct gather *g, size_t max_rules)
{
    size_t pinned = 0, k = 0;
    for (size_t i = 0; i < g->nrules; i++)
        pinned += g->rules[i].pinned;
    size_t room = max_rules > pinned ? max_rules - pinned : 0;
    for (size_t i = 0; i < g->nrules; i++) {
        if (!g->rules[i].pinned) {
            if (room == 0)
                continue; /* its memory stays in g->mems, unanswered: no access recorded */
            room--;
        }
        g->rule_mem[k] = g->rule_mem[i];
        g->rules[k++] = g->rules[i];
    }
    g->nrules = k;
}

/* The conversation's latest short-term memories, latest first, inside tx. */
static int gather_recent(struct gather *g, struct mr_store_tx *tx, const char *conv, int64_t now,
                         struct mr_err *err)
{
    struct mr_memory *v = NULL;
    size_t n = 0;
    int64_t total = 0;
    int rc = mr_store_mem_list_by_conversation(tx, conv, 1, 0, &v, &n, &total, err);
    for (size_t i = 0; i < n; i++)
        mr_memory_clear(&v[i]);
    free(v);
    v = NULL;
    n = 0;
    if (rc)
        return rc;
    int64_t off = total > RECENT_SCAN ? total - RECENT_SCAN : 0;
    if ((rc = mr_store_mem_list_by_conversation(tx, conv, RECENT_SCAN, off, &v, &n, &total, err)))
        return rc;
    g->recent = mr_xcalloc(RECENT_TURNS + 1, sizeof *g->recent);
    g->recent_mem = mr_xcalloc(RECENT_TURNS + 1, sizeof *g->recent_mem);
    g->recent_times = mr_xcalloc(RECENT_TURNS + 1, sizeof *g->recent_times);
    for (size_t i = n; i-- > 0;) {
        struct mr_memory *m = &v[i];
        if (g->nrecent < RECENT_TURNS && m->memory_type == MR_SHORT_TERM && !m->is_archived &&
            !mr_rule_is_expired(m, now)) {
            size_t k = keep_memory(g, m), r = g->nrecent++;
            g->recent_mem[r] = k;
            mr_time_format(g->mems[k].created_at, g->recent_times[r], sizeof g->recent_times[r]);
            g->recent[r] = (struct mr_ctx_recent){g->mems[k].memory_id, g->mems[k].content,
                                                  mr_memory_type_name(g->mems[k].memory_type),
                                                  g->recent_times[r]};
        } else {
            mr_memory_clear(m);
        }
    }
    free(v);
    return 0;
}

/* The candidates' table memories as linking's candidates (ids through the entry's map). */
static void map_tables(struct gather *g, const struct ctx_entry *e, const int64_t *ids,
                       const double *scores, size_t n)
{
    g->cands = mr_xcalloc(n + 1, sizeof *g->cands);
    for (size_t i = 0; i < n; i++) {
        struct row_table probe = {ids[i], 0};
        const struct row_table *r = bsearch(&probe, e->rows, e->nrows, sizeof *e->rows, cmp_row);
        if (r)
            g->cands[g->ncands++] = (struct mr_ctx_candidate){r->table, scores[i]};
    }
}

/* Whether the answer holds memory_id among its rules, examples or recent turns. */
static bool answered(const struct mr_ctx_result *r, const char *memory_id)
{
    for (size_t i = 0; i < r->nrules; i++)
        if (strcmp(r->rules[i].memory_id, memory_id) == 0)
            return true;
    for (size_t i = 0; i < r->nexamples; i++)
        if (strcmp(r->examples[i].memory_id, memory_id) == 0)
            return true;
    for (size_t i = 0; i < r->nrecent; i++)
        if (strcmp(r->recent[i].memory_id, memory_id) == 0)
            return true;
    return false;
}

void mr_context_clear(struct mr_context *c)
{
    mr_ctx_result_free(c->result);
    memset(c, 0, sizeof *c);
}

/* The conversation (the caller's, or MR_ENOTFOUND) and the data source it gives. */
static int read_conversation(struct mr_service *svc, const struct mr_identity *who,
                             const struct mr_context_request *req, struct mr_context *out,
                             struct mr_err *err)
{
    out->has_data_source_id = req->has_data_source_id;
    out->data_source_id = req->data_source_id;
    if (!req->conversation_id)
        return 0;
    struct mr_store_tx *tx;
    int rc = mr_store_begin(svc->store, false, &tx, err);
    if (rc)
        return rc;
    struct mr_conversation c;
    rc = mr_store_conv_get(tx, req->conversation_id, &c, err);
    mr_store_rollback(tx);
    if (rc == 0 && !core_owns(who, c.user_id, c.tenant_id)) {
        mr_conversation_clear(&c);
        rc = MR_ENOTFOUND;
    }
    if (rc == MR_ENOTFOUND)
        return mr_err_set(err, MR_ENOTFOUND, "Conversation %s not found", req->conversation_id);
    if (rc == 0) {
        if (!req->has_data_source_id && c.has_data_source_id) {
            out->has_data_source_id = true;
            out->data_source_id = c.data_source_id;
        }
        mr_conversation_clear(&c);
    }
    return rc;
}

int mr_context_build(struct mr_service *svc, const struct mr_identity *who,
                     const struct mr_context_request *req, struct mr_context *out,
                     struct mr_err *err)
{
    memset(out, 0, sizeof *out);
    struct core_trace t;
    core_trace_start(svc, &t);
    struct ctx_entry *e = NULL;
    struct gather g = {0};
    float *qv = NULL;
    struct mr_lex_terms *terms = NULL;
    struct mr_store_tx *tx = NULL;
    struct cand *tc = NULL, *rc_ = NULL, *ec = NULL;
    size_t ntc = 0, nrc = 0, nec = 0;
    bool *promoted = NULL;
    int rc = read_conversation(svc, who, req, out, err);
    if (rc == 0 && out->has_data_source_id)
        rc = schema_index(svc, who->tenant_id, out->data_source_id, req->read_schema, &e, err);
    if (rc)
        goto out;
    if (!out->has_data_source_id)
        out->detail = "No data source: give data_source_id or a conversation that has one; the "
                      "context has no tables";
    else if (!e)
        out->detail = "The data source has no schema (PUT /api/data-sources/{id}/schema); the "
                      "context has no tables";
    if ((rc = core_embed(svc, req->question, req->question_len, &t, &qv, err)) != 0)
        goto out;
    size_t dim = mr_embed_dim(svc->embedder);
    terms = mr_lex_terms_new(req->question, req->question_len);
    struct mr_fusion f0 = MR_FUSION_DEFAULTS;
    f0.lexical_weight = svc->lexical_weight; /* a search's: example_floor is its threshold */
    struct mr_fusion f =
        mr_fusion_for_query(&f0, core_vec_nonzero(qv, dim), mr_lex_terms_count(terms) > 0);
    unsigned mode = (unsigned)f.mode < MR_SEARCH_MODES ? (unsigned)f.mode : 0;
    double example_floor = svc->min_similarity[mode];
    int64_t now = mr_clock_now(svc->clock);
    struct mr_identity owner = {TENANT_OWNER, who->tenant_id};

    struct mr_index_query tq = base_query(&f, qv, dim, terms, now);
    tq.type_mask = 1u << MR_ENTITY;
    tq.limit = TABLE_CANDIDATES;
    struct mr_index_query rq = base_query(&f, qv, dim, terms, now);
    rq.type_mask = 1u << MR_RULE;
    rq.limit = RULE_SCAN;
    rq.include_shared = svc->relaxed_sharing;
    struct mr_index_query eq = base_query(&f, qv, dim, terms, now);
    eq.type_mask = 1u << MR_EXAMPLE;
    eq.limit = EXAMPLE_SCAN;
    eq.include_shared = svc->relaxed_sharing;

    int64_t t0 = core_clock(svc);
    if (!core_searches_in_store(svc)) {
        if (e)
            rc = index_ranked(svc, &owner, &tq, &f, &tc, &ntc, err);
        if (rc == 0 && req->max_examples > 0 && out->has_data_source_id)
            rc = index_ranked(svc, who, &eq, &f, &ec, &nec, err);
        if (rc == 0)
            rc = index_ranked(svc, who, &rq, &f, &rc_, &nrc, err);
        t.index_us += core_clock(svc) - t0;
        if (rc)
            goto out;
    }
    /* A read transaction: the accesses go to the pending table (access.c), after it. */
    uint64_t seen = core_access_epoch(svc->access);
    if ((rc = mr_store_begin(svc->store, MR_TX_READ, &tx, err)) != 0)
        goto out;
    if (core_searches_in_store(svc)) {
        if (e)
            rc = store_ranked(tx, &owner, &tq, &f, &tc, &ntc, err);
        if (rc == 0 && req->max_examples > 0 && out->has_data_source_id)
            rc = store_ranked(tx, who, &eq, &f, &ec, &nec, err);
        if (rc == 0)
            rc = store_ranked(tx, who, &rq, &f, &rc_, &nrc, err);
    }
    if (rc)
        goto out;

    /* Tables: the candidates' ids, through the entry's map of table memories. */
    if (e) {
        int64_t *ids = mr_xcalloc(ntc + 1, sizeof *ids);
        double *scores = mr_xcalloc(ntc + 1, sizeof *scores);
        for (size_t i = 0; i < ntc; i++) {
            ids[i] = tc[i].id;
            scores[i] = tc[i].score;
        }
        map_tables(&g, e, ids, scores, ntc);
        free(ids);
        free(scores);
    }
    /* Rules and examples, read back in rank order. */
    g.rules = mr_xcalloc(nrc + 1, sizeof *g.rules);
    g.rule_mem = mr_xcalloc(nrc + 1, sizeof *g.rule_mem);
    g.examples = mr_xcalloc(req->max_examples + 1, sizeof *g.examples);
    g.example_mem = mr_xcalloc(req->max_examples + 1, sizeof *g.example_mem);
    g.example_tables = mr_xcalloc(req->max_examples + 1, sizeof *g.example_tables);
    g.docs = mr_xcalloc(req->max_examples + 1, sizeof *g.docs);
    size_t room = req->max_rules;
    for (int pass = 0; pass < 2 && rc == 0; pass++) {
        const struct cand *c = pass ? ec : rc_;
        size_t n = pass ? nec : nrc;
        enum mr_memory_type type = pass ? MR_EXAMPLE : MR_RULE;
        /* Examples stop at max_examples; every rule is read, for the pinned ones. */
        for (size_t i = 0; i < n && rc == 0 && !(pass && g.nexamples >= req->max_examples); i++) {
            struct mr_memory m;
            int r = mr_store_mem_get_by_id(tx, c[i].id, &m, err);
            if (r == MR_ENOTFOUND)
                continue; /* deleted since the candidates were chosen */
            if ((rc = r) != 0)
                break;
            if (admits(svc, who, &m, type, now))
                consider(&g, req, out->data_source_id, out->has_data_source_id, example_floor, &m,
                         c[i].score, &room);
            else
                mr_memory_clear(&m);
        }
    }
    trim_rules(&g, req->max_rules);
    if (rc == 0 && req->conversation_id)
        rc = gather_recent(&g, tx, req->conversation_id, now, err);
    if (rc)
        goto out;

    struct mr_ctx_request cr = {
        .question = req->question,
        .question_len = req->question_len,
        .candidates = g.cands,
        .ncandidates = g.ncands,
        .examples = g.examples,
        .nexamples = g.nexamples,
        .rules = g.rules,
        .nrules = g.nrules,
        .recent = g.recent,
        .nrecent = g.nrecent,
        .token_budget = req->token_budget,
        .max_tables = req->max_tables,
    };
    if ((rc = mr_ctx_assemble(e ? e->ix : NULL, &cr, &out->result, err)) != 0)
        goto out;

    mr_store_rollback(tx);
    tx = NULL;
    /* The caller's own items the answer holds count as accessed; shared ones stay untouched. */
    const struct mr_ctx_result *res = out->result;
    bool *record = mr_xcalloc(g.nmems + 1, sizeof *record);
    promoted = mr_xcalloc(g.nmems + 1, sizeof *promoted);
    for (size_t i = 0; i < g.nmems; i++) {
        struct mr_memory *m = &g.mems[i];
        record[i] = answered(res, m->memory_id) && core_owns(who, m->user_id, m->tenant_id);
    }
    rc = core_access_serve(svc, seen, g.mems, g.nmems, record, promoted, now, err);
    free(record);
    for (size_t i = 0; rc == 0 && svc->index && i < g.nmems; i++)
        if (promoted[i])
            rc = core_index_put(svc, &g.mems[i], &t, err);
out:
    if (tx)
        mr_store_rollback(tx);
    free(tc);
    free(rc_);
    free(ec);
    free(promoted);
    free(qv);
    mr_lex_terms_free(terms);
    gather_free(&g);
    entry_release(svc->ctx_cache, e);
    if (rc)
        mr_context_clear(out);
    core_trace_end(svc, &t, "context", who, rc, "%zu tables",
                   out->result ? out->result->ntables : 0);
    return rc;
}
