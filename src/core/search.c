/*
 * search.c — semantic search (DESIGN.md §3, §4): embed the query, find the
 * caller's best live matches with every filter applied during the scan —
 * in the in-process index (SQLite) or in the store's own vector index
 * (PostgreSQL) — then record the access of each returned memory (+1 access,
 * +0.01 importance, promotion) in one transaction and one batched write,
 * committed without waiting for the disk (MR_TX_WRITE_LAZY): statistics may
 * lose their last fraction of a second on power loss, never a memory.
 */
#include <stdlib.h>
#include <string.h>

#include "core_int.h"
#include "memori/rules.h"

void mr_search_results_clear(struct mr_search_results *r)
{
    for (size_t i = 0; i < r->n; i++)
        mr_memory_clear(&r->memories[i]);
    free(r->memories);
    free(r->scores);
    memset(r, 0, sizeof *r);
}

/*
 * Whether m, as read back in the request's transaction, still passes every
 * filter of q for who. The index scan (or the store's search statement)
 * applied them to what it saw; a commit between that and the read may have
 * archived, deleted, moved, unshared or re-typed the memory, and the clock
 * may have passed its expiry.
 */
static bool search_admits(const struct mr_service *svc, const struct mr_identity *who,
                          const struct mr_index_query *q, const struct mr_memory *m)
{
    if (!core_owns(who, m->user_id, m->tenant_id) &&
        !(q->include_shared && core_shared_with(svc, who, m)))
        return false;
    if (q->type_mask && !(q->type_mask & (1u << m->memory_type)))
        return false;
    if (m->is_archived && !q->include_archived)
        return false;
    if (mr_rule_is_expired(m, q->now))
        return false;
    return !q->conversation_id || strcmp(q->conversation_id, m->conversation_id) == 0;
}

/*
 * The in-process index's best matches for q, read back from the store in tx
 * (opened here, after the scan, so the write lock is not held during it).
 */
static int search_index(struct mr_service *svc, const struct mr_identity *who,
                        const struct mr_index_query *q, struct core_trace *t,
                        struct mr_store_tx **out_tx, struct mr_search_results *out,
                        struct mr_err *err)
{
    struct mr_index_hit *hits = mr_xcalloc(q->limit, sizeof *hits);
    size_t n_hits = 0;
    int64_t t0 = core_clock(svc);
    int rc = mr_index_search(svc->index, who, q, hits, &n_hits, err);
    t->index_us += core_clock(svc) - t0;
    if (rc == 0)
        rc = mr_store_begin(svc->store, MR_TX_WRITE_LAZY, out_tx, err);
    if (rc) {
        free(hits);
        return rc;
    }
    out->memories = mr_xcalloc(n_hits + 1, sizeof *out->memories);
    out->scores = mr_xcalloc(n_hits + 1, sizeof *out->scores);
    for (size_t i = 0; i < n_hits; i++) {
        struct mr_memory *m = &out->memories[out->n];
        int r = mr_store_mem_get_by_id(*out_tx, hits[i].id, m, err);
        if (r == MR_ENOTFOUND)
            continue; /* deleted between the scan and now */
        if (r != 0) {
            rc = r;
            break;
        }
        out->scores[out->n++] = hits[i].score;
    }
    free(hits);
    return rc;
}

/* The store's own vector search (PostgreSQL), inside the request's transaction. */
static int search_store(struct mr_service *svc, const struct mr_identity *who,
                        const struct mr_index_query *q, struct mr_store_tx **out_tx,
                        struct mr_search_results *out, struct mr_err *err)
{
    int rc = mr_store_begin(svc->store, MR_TX_WRITE_LAZY, out_tx, err);
    if (rc)
        return rc;
    float *scores = NULL;
    rc = mr_store_mem_search(*out_tx, who, q, &out->memories, &scores, &out->n, err);
    if (rc == 0) {
        out->scores = mr_xcalloc(out->n + 1, sizeof *out->scores);
        for (size_t i = 0; i < out->n; i++)
            out->scores[i] = scores[i];
    }
    free(scores);
    return rc;
}

int mr_memory_search(struct mr_service *svc, const struct mr_identity *who,
                     const struct mr_search *q, struct mr_search_results *out, struct mr_err *err)
{
    struct core_trace t;
    core_trace_start(svc, &t);
    memset(out, 0, sizeof *out);
    float *qv = NULL;
    int rc = core_embed(svc, q->query, q->query_len, &t, &qv, err);
    if (rc)
        goto out;
    size_t limit = q->limit ? q->limit : (size_t)svc->default_limit;
    int64_t now = mr_clock_now(svc->clock);
    /* 0 is a valid threshold (DESIGN.md §4 fixes the reference's `or`). */
    double min_sim = q->has_min_similarity ? q->min_similarity : svc->default_min_similarity;
    struct mr_index_query iq = {
        .vec = qv,
        .dim = mr_embed_dim(svc->embedder),
        .conversation_id = q->conversation_id,
        .type_mask = q->type_mask,
        .include_archived = q->include_archived,
        .now = now,
        /* A hair below the threshold so float rounding never drops an exact match. */
        .min_score = (float)(min_sim - 1e-6),
        .limit = limit,
        .include_shared = svc->relaxed_sharing,
    };
    struct mr_store_tx *tx = NULL;
    rc = core_searches_in_store(svc) ? search_store(svc, who, &iq, &tx, out, err)
                                     : search_index(svc, who, &iq, &t, &tx, out, err);
    free(qv);
    if (!tx) {
        mr_search_results_clear(out);
        goto out;
    }

    /*
     * Only rows that still pass every filter are results. Of those, the
     * caller's own get their access recorded; others' shared ones stay
     * untouched.
     */
    struct mr_memory *owned = mr_xcalloc(out->n + 1, sizeof *owned);
    bool *promoted = mr_xcalloc(out->n + 1, sizeof *promoted);
    size_t n_owned = 0, kept = 0;
    for (size_t i = 0; rc == 0 && i < out->n; i++) {
        struct mr_memory *m = &out->memories[i];
        if (!search_admits(svc, who, &iq, m)) {
            mr_memory_clear(m);
            continue;
        }
        if (core_owns(who, m->user_id, m->tenant_id)) {
            promoted[kept] = mr_rule_record_access(m, now);
            owned[n_owned++] = *m; /* a shallow view for the batched write */
        }
        out->scores[kept] = out->scores[i];
        out->memories[kept++] = *m;
    }
    if (rc == 0)
        out->n = kept;
    if (rc == 0 && n_owned)
        rc = mr_store_mem_record_access(tx, owned, n_owned, err);
    free(owned);
    rc = core_finish(tx, rc, err);
    /*
     * Promotions changed type and expiry: the index must filter on the new
     * values. Only those: an index write takes its write lock, which every
     * concurrent search would wait for.
     */
    for (size_t i = 0; rc == 0 && svc->index && i < out->n; i++)
        if (promoted[i])
            rc = core_index_put(svc, &out->memories[i], &t, err);
    free(promoted);
    if (rc)
        mr_search_results_clear(out);
out:
    core_trace_end(svc, &t, "search", who, rc, "%zu results", out->n);
    return rc;
}
