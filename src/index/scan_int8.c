/*
 * scan_int8.c — the compact scan, the default (MEMORI_INDEX_INT8): a first
 * pass over the int8 copies of a partition's vectors (a quarter of the
 * bytes read) keeps the best max(4 × results, limit, 32) candidates by
 * approximate score; each is then rescored in float32, so the scores
 * returned are the exact ones. On real embeddings (memori-wordnet-v2 and
 * v1, a dense 384-d case) recall@10 against the float32 scan is 1.000 at
 * 10 k–100 k (docs/perf.md, "Compact scans and the request path").
 *
 * `results` is what the caller ranks exactly (mr_index_query): a hybrid
 * search asks 40 vector candidates for 10 results, and rescoring 4 × 40
 * cost it a fifth of a semantic search (docs/perf.md, "Hybrid in process:
 * the rescoring and the context bound"); its deeper candidates widen the
 * fusion's union, where one swapped at the 40th place changes nothing.
 */
#include <stdlib.h>

#include "index_int.h"

void ix_scan_int8(const struct ix *ix, const struct ix_part *p, const struct ix_filter *f,
                  const struct mr_index_query *q, struct ix_heap *top)
{
    size_t dim = ix->dim, exact = q->results && q->results < q->limit ? q->results : q->limit;
    size_t want = exact * 4 > 32 ? exact * 4 : 32;
    if (want < q->limit)
        want = q->limit;
    /*
     * Candidates carry their entry's id, not its slot: equal estimates (the
     * same vector stored more than want times) are then kept by lower id,
     * as the float32 scan ranks the equal exact scores they get, and the
     * two return the same entries. The slot is looked up for the rescoring.
     */
    struct ix_heap cands = {mr_xmalloc(want * sizeof *cands.v), 0, want, true};
    int8_t *q8 = mr_xmalloc(dim);
    float qscale = ix_quantize_i8(q->vec, dim, q8);
    ix_dot_i8_fn dot8 = ix_dot_i8_kernel();
    for (size_t i = 0; i < p->n; i++) {
        if (!ix_matches(p, i, f))
            continue;
        float approx = (float)dot8(q8, p->q8 + i * dim, dim) * qscale * p->q8_scale[i];
        ix_heap_keep(&cands, want, (struct mr_index_hit){p->meta[i].id, approx});
    }
    mr_dot_fn dot = mr_index_dot_fn();
    for (size_t c = 0; c < cands.n; c++) {
        int64_t id = cands.v[c].id;
        size_t slot = (size_t)ix_part_slot(p, id);
        float s = dot(q->vec, p->vecs + slot * dim, dim);
        if (s >= q->min_score)
            ix_heap_keep(top, q->limit, (struct mr_index_hit){id, s});
    }
    free(q8);
    free(cands.v);
}
