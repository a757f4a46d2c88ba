/*
 * scan.c — the exact float32 scan: every entry of a partition that passes
 * the query's filters scored against the query with the dispatched SIMD
 * kernel, the best `limit` kept in the heap of hits. The reference the
 * compact scan and the graph are measured against (tests/unit/test_index.c).
 */
#include "index_int.h"

void ix_scan_f32(const struct ix *ix, const struct ix_part *p, const struct ix_filter *f,
                 const struct mr_index_query *q, struct ix_heap *top)
{
    mr_dot_fn dot = mr_index_dot_fn();
    for (size_t i = 0; i < p->n; i++) {
        if (!ix_matches(p, i, f))
            continue;
        float s = dot(q->vec, p->vecs + i * ix->dim, ix->dim);
        if (s >= q->min_score)
            ix_heap_keep(top, q->limit, (struct mr_index_hit){p->meta[i].id, s});
    }
}
