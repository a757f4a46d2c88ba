/*
 * heap.c — the heap of hits (see index_int.h), one for every search in the
 * index: the scans' bounded top-k, the int8 scan's candidates, the graph's
 * beam and frontier, its neighbour selection. Ordered by ix_hit_better, so
 * equal scores come out by lower id wherever they are ranked.
 */
#include <stdlib.h>

#include "index_int.h"

/* Whether a belongs above b in h. */
static bool above(const struct ix_heap *h, struct mr_index_hit a, struct mr_index_hit b)
{
    return h->worst_on_top ? ix_hit_better(b, a) : ix_hit_better(a, b);
}

static void sift_up(struct ix_heap *h, size_t i)
{
    struct mr_index_hit x = h->v[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!above(h, x, h->v[parent]))
            break;
        h->v[i] = h->v[parent];
        i = parent;
    }
    h->v[i] = x;
}

/* Restores the order below i among the first n. */
static void sift_down(struct ix_heap *h, size_t n, size_t i)
{
    struct mr_index_hit x = h->v[i];
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, top = i;
        struct mr_index_hit t = x;
        if (l < n && above(h, h->v[l], t)) {
            top = l;
            t = h->v[l];
        }
        if (r < n && above(h, h->v[r], t))
            top = r;
        if (top == i)
            break;
        h->v[i] = h->v[top];
        i = top;
    }
    h->v[i] = x;
}

void ix_heap_push(struct ix_heap *h, struct mr_index_hit x)
{
    if (h->n == h->cap) {
        h->cap = h->cap ? h->cap * 2 : 64;
        h->v = mr_xrealloc(h->v, h->cap * sizeof *h->v);
    }
    h->v[h->n] = x;
    sift_up(h, h->n++);
}

struct mr_index_hit ix_heap_pop(struct ix_heap *h)
{
    struct mr_index_hit top = h->v[0];
    h->v[0] = h->v[--h->n];
    if (h->n)
        sift_down(h, h->n, 0);
    return top;
}

void ix_heap_replace_top(struct ix_heap *h, struct mr_index_hit x)
{
    h->v[0] = x;
    sift_down(h, h->n, 0);
}

void ix_heap_sort(struct ix_heap *h)
{
    /* Repeatedly move the root (the worst) to the end: best first. */
    for (size_t k = h->n; k > 1; k--) {
        struct mr_index_hit t = h->v[0];
        h->v[0] = h->v[k - 1];
        h->v[k - 1] = t;
        sift_down(h, k - 1, 0);
    }
}
