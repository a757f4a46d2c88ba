/*
 * search.c — semantic search (DESIGN.md §3, §4): embed the query, ask the
 * index for the caller's best live matches with every filter applied during
 * the scan, then record the access of each returned memory (+1 access,
 * +0.01 importance, promotion) in one transaction.
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

int mr_memory_search(struct mr_service *svc, const struct mr_identity *who,
                     const struct mr_search *q, struct mr_search_results *out, struct mr_err *err)
{
    memset(out, 0, sizeof *out);
    float *qv = NULL;
    int rc = core_embed(svc, q->query, q->query_len, &qv, err);
    if (rc)
        return rc;
    size_t limit = q->limit ? q->limit : (size_t)svc->default_limit;
    int64_t now = mr_clock_now(svc->clock);
    /* 0 is a valid threshold (DESIGN.md §4 fixes the reference's `or`). */
    double min_sim = q->has_min_similarity ? q->min_similarity : svc->default_min_similarity;
    struct mr_index_query iq = {
        .vec = qv,
        .conversation_id = q->conversation_id,
        .type_mask = q->type_mask,
        .include_archived = q->include_archived,
        .now = now,
        /* A hair below the threshold so float rounding never drops an exact match. */
        .min_score = (float)(min_sim - 1e-6),
        .limit = limit,
        .include_shared = svc->relaxed_sharing,
    };
    struct mr_index_hit *hits = mr_xcalloc(limit, sizeof *hits);
    size_t n_hits = 0;
    rc = mr_index_search(svc->index, who, &iq, hits, &n_hits, err);
    free(qv);
    if (rc || n_hits == 0) {
        free(hits);
        return rc;
    }

    out->memories = mr_xcalloc(n_hits, sizeof *out->memories);
    out->scores = mr_xcalloc(n_hits, sizeof *out->scores);
    struct mr_store_tx *tx;
    if ((rc = mr_store_begin(svc->store, true, &tx, err)) != 0)
        goto out;
    for (size_t i = 0; i < n_hits; i++) {
        struct mr_memory *m = &out->memories[out->n];
        int r = mr_store_mem_get_by_id(tx, hits[i].id, m, err);
        if (r == MR_ENOTFOUND)
            continue; /* deleted between the scan and now */
        if (r != 0) {
            rc = r;
            break;
        }
        if (!core_owns(who, m->user_id, m->tenant_id)) {
            /* Another user's shared memory: returned read-only, its statistics untouched. */
            if (core_shared_with(svc, who, m))
                out->scores[out->n++] = hits[i].score;
            else
                mr_memory_clear(m);
            continue;
        }
        mr_rule_record_access(m, now);
        if ((rc = mr_store_mem_update(tx, m, false, err)) != 0) {
            mr_memory_clear(m);
            break;
        }
        out->scores[out->n++] = hits[i].score;
    }
    rc = core_finish(tx, rc, err);
    /* Promotions changed type and expiry: the index must filter on the new values. */
    for (size_t i = 0; rc == 0 && i < out->n; i++)
        if (core_owns(who, out->memories[i].user_id, out->memories[i].tenant_id))
            rc = core_index_put(svc, &out->memories[i], err);
out:
    free(hits);
    if (rc)
        mr_search_results_clear(out);
    return rc;
}
