/*
 * index.c — the index's operations (the mr_index_ops table of index.h):
 * the lock, the writes (each entry into its owner's partition, and a copy
 * into the tenant's shared partition while it is shared), the search
 * (each partition in reach searched by its graph, its int8 copies or in
 * full, into one heap of hits), the settings and destruction.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdlib.h>

#include "index_int.h"

static int op_upsert(struct mr_index *base, const struct mr_index_entry *e, struct mr_err *err)
{
    struct ix *ix = ix_of(base);
    if (!e->vec)
        return mr_err_set(err, MR_EINVAL, "index entry %lld has no vector", (long long)e->id);
    struct mr_identity who = {e->user_id, e->tenant_id};
    pthread_rwlock_wrlock(&ix->lock);
    struct ix_part *p = ix_part_find(ix, &who, false, true);
    if (ix_part_slot(p, e->id) < 0)
        ix->total++;
    ix_part_put(ix, p, e);
    /* The tenant's shared partition holds a copy of what is shared, nothing else. */
    if (e->is_shared)
        ix_part_put(ix, ix_part_find(ix, &who, true, true), e);
    else
        ix_part_drop(ix, ix_part_find(ix, &who, true, false), e->id);
    pthread_rwlock_unlock(&ix->lock);
    return 0;
}

static void op_set_archived(struct mr_index *base, const struct mr_identity *who, int64_t id,
                            bool is_archived)
{
    struct ix *ix = ix_of(base);
    pthread_rwlock_wrlock(&ix->lock);
    for (int shared = 0; shared < 2; shared++) {
        struct ix_part *p = ix_part_find(ix, who, shared, false);
        long slot = p ? ix_part_slot(p, id) : -1;
        if (slot >= 0)
            p->meta[slot].is_archived = is_archived;
    }
    pthread_rwlock_unlock(&ix->lock);
}

static void op_remove(struct mr_index *base, const struct mr_identity *who, int64_t id)
{
    struct ix *ix = ix_of(base);
    pthread_rwlock_wrlock(&ix->lock);
    if (ix_part_drop(ix, ix_part_find(ix, who, false, false), id))
        ix->total--;
    ix_part_drop(ix, ix_part_find(ix, who, true, false), id);
    pthread_rwlock_unlock(&ix->lock);
}

void ix_search_part(const struct ix *ix, const struct ix_part *p, const struct ix_filter *f,
                    const struct mr_index_query *q, struct ix_heap *top)
{
    if (p->graph)
        ix_graph_search(ix, p, f, q, top);
    else if (p->q8)
        ix_scan_int8(ix, p, f, q, top);
    else
        ix_scan_f32(ix, p, f, q, top);
}

static int op_search(struct mr_index *base, const struct mr_identity *who,
                     const struct mr_index_query *q, struct mr_index_hit *out, size_t *out_n,
                     struct mr_err *err)
{
    (void)err;
    struct ix *ix = ix_of(base);
    *out_n = 0;
    if (q->limit == 0)
        return 0;
    struct ix_heap top = {out, 0, q->limit, true};
    const struct ix_part *parts[2];
    struct ix_filter filters[2];
    pthread_rwlock_rdlock(&ix->lock);
    size_t n_parts = ix_search_scope(ix, who, q, parts, filters);
    for (size_t i = 0; i < n_parts; i++)
        ix_search_part(ix, parts[i], &filters[i], q, &top);
    pthread_rwlock_unlock(&ix->lock);
    ix_heap_sort(&top);
    *out_n = top.n;
    return 0;
}

static int op_candidates(struct mr_index *base, const struct mr_identity *who,
                         const struct mr_index_query *q, struct mr_index_candidate *out,
                         size_t *out_n, struct mr_err *err)
{
    (void)err;
    return ix_candidates(ix_of(base), who, q, out, out_n);
}

size_t mr_index_lexical_bytes(struct mr_index *base)
{
    struct ix *ix = ix_of(base);
    size_t b = 0;
    pthread_rwlock_rdlock(&ix->lock);
    for (size_t i = 0; i < ix->parts_cap; i++)
        if (ix->parts[i])
            b += mr_lex_index_bytes(ix->parts[i]->lex);
    pthread_rwlock_unlock(&ix->lock);
    return b;
}

void mr_index_shape(struct mr_index *base, struct mr_index_shape *out)
{
    struct ix *ix = ix_of(base);
    *out = (struct mr_index_shape){0};
    pthread_rwlock_rdlock(&ix->lock);
    for (size_t i = 0; i < ix->parts_cap; i++) {
        const struct ix_part *p = ix->parts[i];
        if (!p)
            continue;
        uint64_t docs = 0, total_len = 0;
        mr_lex_index_stats(p->lex, &docs, &total_len);
        out->partitions++;
        out->graphs += p->graph != NULL;
        out->lexical_documents += (size_t)docs;
        out->lexical_bytes += mr_lex_index_bytes(p->lex);
    }
    pthread_rwlock_unlock(&ix->lock);
}

static size_t op_count(struct mr_index *base)
{
    struct ix *ix = ix_of(base);
    pthread_rwlock_rdlock(&ix->lock);
    size_t n = ix->total;
    pthread_rwlock_unlock(&ix->lock);
    return n;
}

static size_t op_building(struct mr_index *base)
{
    struct ix *ix = ix_of(base);
    pthread_mutex_lock(&ix->builds_lock);
    size_t n = ix->builds_running;
    pthread_mutex_unlock(&ix->builds_lock);
    return n;
}

static void op_destroy(struct mr_index *base)
{
    struct ix *ix = ix_of(base);
    /* Builds in flight give up at their next chunk: a stop must not wait for a graph. */
    pthread_rwlock_wrlock(&ix->lock);
    ix->stopping = true;
    pthread_rwlock_unlock(&ix->lock);
    ix_wait_builds(base);
    for (size_t i = 0; i < ix->parts_cap; i++) {
        struct ix_part *p = ix->parts[i];
        if (!p)
            continue;
        if (p->has_builder)
            pthread_join(p->builder, NULL);
        ix_part_free(p);
    }
    free(ix->parts);
    pthread_rwlock_destroy(&ix->lock);
    pthread_mutex_destroy(&ix->builds_lock);
    pthread_cond_destroy(&ix->builds_done);
    free(ix);
}

static const struct mr_index_ops index_ops = {
    .name = "in-process",
    .upsert = op_upsert,
    .set_archived = op_set_archived,
    .remove = op_remove,
    .search = op_search,
    .candidates = op_candidates,
    .count = op_count,
    .building = op_building,
    .destroy = op_destroy,
};

void mr_index_set_ann(struct mr_index *base, size_t threshold, size_t ef_search)
{
    struct ix *ix = ix_of(base);
    pthread_rwlock_wrlock(&ix->lock);
    ix->ann_threshold = threshold;
    ix->ef_search = ef_search ? ef_search : MR_INDEX_EF_DEFAULT;
    /* Partitions already past the threshold (a load made with it off) get their graphs now. */
    for (size_t i = 0; i < ix->parts_cap; i++) {
        struct ix_part *p = ix->parts[i];
        if (!p)
            continue;
        ix_build_maybe(ix, p);
        if (p->seed && !p->building) {
            /* Too small for a graph now: the snapshot's is of no use. */
            hnsw_free(p->seed);
            p->seed = NULL;
        }
    }
    pthread_rwlock_unlock(&ix->lock);
}

void mr_index_set_int8(struct mr_index *base, bool on)
{
    struct ix *ix = ix_of(base);
    pthread_rwlock_wrlock(&ix->lock);
    ix->int8 = on;
    pthread_rwlock_unlock(&ix->lock);
}

struct mr_index *mr_index_new(size_t dim)
{
    struct ix *ix = mr_xcalloc(1, sizeof *ix);
    ix->base.ops = &index_ops;
    ix->dim = dim;
    ix->ef_search = MR_INDEX_EF_DEFAULT;
    /*
     * Compact scans by default: a quarter of the bytes read, recall@10 1.000
     * against float32 on real embeddings (docs/perf.md, issue 15).
     */
    ix->int8 = true;
    /*
     * Writers first: with glibc's default (readers first) a stream of
     * searches can starve a writer indefinitely. Every hold is short, the
     * builders' included (one chunk), so readers wait little for writers.
     */
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
#ifdef __GLIBC__
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
#endif
    pthread_rwlock_init(&ix->lock, &attr);
    pthread_rwlockattr_destroy(&attr);
    pthread_mutex_init(&ix->builds_lock, NULL);
    pthread_cond_init(&ix->builds_done, NULL);
    return &ix->base;
}
