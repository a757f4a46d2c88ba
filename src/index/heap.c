/*
 * heap.c — the heap of hits (see index_int.h), one for every search in the
 * index: the scans' bounded top-k, the int8 scan's candidates, the graph's
 * beam and frontier, its neighbour selection. Ordered by ix_hit_better, so
 * equal scores come out by lower id wherever they are ranked.
 *
 * The graph's inserts spend a fifth of their time here: each sift is
 * written once and instantiated for each orientation (always inlined with
 * a constant), so no comparison asks which way the heap points.
 */
#include <stdlib.h>

#include "index_int.h"

#define ALWAYS_INLINE inline __attribute__((always_inline))

/* Whether a belongs above b: the worse on top, or the better. */
static ALWAYS_INLINE bool above(bool worst_on_top, struct mr_index_hit a, struct mr_index_hit b)
{
    return worst_on_top ? ix_hit_better(b, a) : ix_hit_better(a, b);
}

static ALWAYS_INLINE void sift_up(struct mr_index_hit *v, size_t i, bool worst_on_top)
{
    struct mr_index_hit x = v[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!above(worst_on_top, x, v[parent]))
            break;
        v[i] = v[parent];
        i = parent;
    }
    v[i] = x;
}

/* Restores the order below i among the first n. */
static ALWAYS_INLINE void sift_down(struct mr_index_hit *v, size_t n, size_t i, bool worst_on_top)
{
    struct mr_index_hit x = v[i];
    for (;;) {
        size_t l = 2 * i + 1;
        if (l >= n)
            break;
        /* The child to compare with, chosen without a branch (see ix_hit_better). */
        size_t top = l + (size_t)(l + 1 < n && above(worst_on_top, v[l + 1], v[l]));
        if (!above(worst_on_top, v[top], x))
            break;
        v[i] = v[top];
        i = top;
    }
    v[i] = x;
}

static void sift_down_any(struct ix_heap *h, size_t n, size_t i)
{
    if (h->worst_on_top)
        sift_down(h->v, n, i, true);
    else
        sift_down(h->v, n, i, false);
}

void ix_heap_push(struct ix_heap *h, struct mr_index_hit x)
{
    if (h->n == h->cap) {
        h->cap = h->cap ? h->cap * 2 : 64;
        h->v = mr_xrealloc(h->v, h->cap * sizeof *h->v);
    }
    h->v[h->n] = x;
    if (h->worst_on_top)
        sift_up(h->v, h->n++, true);
    else
        sift_up(h->v, h->n++, false);
}

struct mr_index_hit ix_heap_pop(struct ix_heap *h)
{
    struct mr_index_hit top = h->v[0];
    h->v[0] = h->v[--h->n];
    if (h->n)
        sift_down_any(h, h->n, 0);
    return top;
}

void ix_heap_replace_top(struct ix_heap *h, struct mr_index_hit x)
{
    h->v[0] = x;
    sift_down_any(h, h->n, 0);
}

void ix_heap_flip(struct ix_heap *h)
{
    /* Floyd's construction: sift down every parent, last first. */
    h->worst_on_top = !h->worst_on_top;
    for (size_t i = h->n / 2; i-- > 0;)
        sift_down_any(h, h->n, i);
}

void ix_heap_sort(struct ix_heap *h)
{
    /* Repeatedly move the root (the worst) to the end: best first. */
    for (size_t k = h->n; k > 1; k--) {
        struct mr_index_hit t = h->v[0];
        h->v[0] = h->v[k - 1];
        h->v[k - 1] = t;
        sift_down_any(h, k - 1, 0);
    }
}
