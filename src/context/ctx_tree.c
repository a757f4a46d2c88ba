/*
 * ctx_tree.c — the join forest (context.h, docs/context.md "Join tree"): a
 * Steiner-tree approximation over the join graph that attaches the nearest
 * seed (or another tree) to the current tree by its shortest path, one
 * bounded Dijkstra search per attached path.
 */
#include <stdlib.h>
#include <string.h>

#include "context_int.h"
#include "memori/util.h"

#define NONE SIZE_MAX

/* A search frontier entry: ordered by cost, then by the table's name rank. */
struct item {
    uint32_t cost;
    uint32_t rank;
    size_t node;
};

struct heap {
    struct item *v;
    size_t n, cap;
};

static bool item_less(const struct item *a, const struct item *b)
{
    return a->cost != b->cost ? a->cost < b->cost : a->rank < b->rank;
}

static void heap_push(struct heap *h, struct item it)
{
    if (h->n == h->cap) {
        h->cap = h->cap ? 2 * h->cap : 64;
        h->v = mr_xrealloc(h->v, h->cap * sizeof *h->v);
    }
    size_t i = h->n++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!item_less(&it, &h->v[p]))
            break;
        h->v[i] = h->v[p];
        i = p;
    }
    h->v[i] = it;
}

static struct item heap_pop(struct heap *h)
{
    struct item top = h->v[0], last = h->v[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n)
            break;
        if (c + 1 < h->n && item_less(&h->v[c + 1], &h->v[c]))
            c++;
        if (!item_less(&h->v[c], &last))
            break;
        h->v[i] = h->v[c];
        i = c;
    }
    if (h->n)
        h->v[i] = last;
    return top;
}

/* The forest while it grows, and the scratch of its searches (stamped, never cleared). */
struct grow {
    const struct mr_ctx_index *ix;
    uint32_t *enter; /* per table: the relevance part of the cost of entering it */
    size_t *comp;    /* per table: its tree while it is in the forest, else NONE */
    bool *pending;   /* a seed not yet in the forest */
    uint32_t *dist;  /* valid where seen == gen */
    size_t *parent;  /* the table a path came from */
    size_t *via;     /* the join it came by */
    uint32_t *seen;  /* gen: reached in this search */
    uint32_t *done;  /* gen: settled in this search */
    uint32_t gen;
    struct heap heap;
    struct ctx_vec tables, tree, seed, joins;
};

static void add_table(struct grow *g, size_t t, size_t tree)
{
    g->comp[t] = tree;
    ctx_vec_push(&g->tables, t);
    ctx_vec_push(&g->tree, tree);
    ctx_vec_push(&g->seed, g->pending[t]);
    g->pending[t] = false;
}

/* Tables of path's end not yet in the forest (the end itself included). */
static size_t new_tables(const struct grow *g, size_t end)
{
    size_t k = 0;
    for (size_t x = end; g->comp[x] == NONE; x = g->parent[x])
        k++;
    return k;
}

/*
 * The nearest target from tree cur that fits in room more tables: a pending
 * seed or a table of another tree, over paths of at most max_hops joins.
 * NONE when there is none.
 */
static size_t search(struct grow *g, size_t cur, size_t room, size_t max_hops)
{
    const struct mr_ctx_index *ix = g->ix;
    if (++g->gen == 0) { /* wrapped: forget every stamp */
        memset(g->seen, 0, ix->n * sizeof *g->seen);
        memset(g->done, 0, ix->n * sizeof *g->done);
        g->gen = 1;
    }
    uint32_t gen = g->gen;
    g->heap.n = 0;
    for (size_t i = 0; i < g->tables.n; i++) {
        size_t t = g->tables.v[i];
        if (g->comp[t] != cur)
            continue;
        g->seen[t] = gen;
        g->dist[t] = 0;
        g->parent[t] = NONE;
        heap_push(&g->heap, (struct item){0, (uint32_t)ix->rank[t], t});
    }
    while (g->heap.n) {
        struct item it = heap_pop(&g->heap);
        size_t v = it.node;
        if (g->done[v] == gen || it.cost != g->dist[v])
            continue;
        g->done[v] = gen;
        if (it.cost > 0) {
            bool other_tree = g->comp[v] != NONE && g->comp[v] != cur;
            if (g->pending[v] || other_tree) {
                /* Another tree's table is in the forest already: only the bridges count. */
                size_t k = new_tables(g, other_tree ? g->parent[v] : v);
                if (k <= room)
                    return v;
            }
            /* Paths run through bridges and seeds, never through another tree. */
            if (other_tree)
                continue;
        }
        if (it.cost / MR_CTX_HOP_COST >= max_hops)
            continue;
        for (size_t k = ix->arc_start[v]; k < ix->arc_start[v + 1]; k++) {
            const struct ctx_arc *a = &ix->arcs[k];
            size_t u = a->to;
            if (g->comp[u] == cur || g->done[u] == gen)
                continue;
            uint32_t d = it.cost + a->cost + g->enter[u];
            bool better = g->seen[u] != gen || d < g->dist[u] ||
                          (d == g->dist[u] && ix->rank[v] < ix->rank[g->parent[u]]);
            if (!better)
                continue;
            g->seen[u] = gen;
            g->dist[u] = d;
            g->parent[u] = v;
            g->via[u] = a->join;
            heap_push(&g->heap, (struct item){d, (uint32_t)ix->rank[u], u});
        }
    }
    return NONE;
}

/* Adds target's path to tree cur: its new tables from the tree outwards, its joins, a merge. */
static void attach(struct grow *g, size_t cur, size_t target)
{
    size_t other = g->comp[target];
    struct ctx_vec path = {0};
    for (size_t x = target; x != NONE && g->comp[x] != cur; x = g->parent[x])
        ctx_vec_push(&path, x);
    for (size_t i = path.n; i-- > 0;) {
        ctx_vec_push(&g->joins, g->via[path.v[i]]);
        if (g->comp[path.v[i]] == NONE)
            add_table(g, path.v[i], cur);
    }
    free(path.v);
    if (other != NONE)
        for (size_t i = 0; i < g->tables.n; i++)
            if (g->tree.v[i] == other) {
                g->tree.v[i] = cur;
                g->comp[g->tables.v[i]] = cur;
            }
}

void mr_ctx_join_forest(const struct mr_ctx_index *ix, const size_t *seeds, size_t nseeds,
                        const double *scores, size_t max_tables, size_t max_hops,
                        struct mr_ctx_forest *out)
{
    memset(out, 0, sizeof *out);
    size_t n = ix->n;
    if (max_hops < 1)
        max_hops = 1;
    if (max_hops > MR_CTX_MAX_HOPS_LIMIT)
        max_hops = MR_CTX_MAX_HOPS_LIMIT;
    struct grow g = {.ix = ix};
    size_t alloc = n ? n : 1;
    g.comp = mr_xmalloc(alloc * sizeof *g.comp);
    g.pending = mr_xcalloc(alloc, sizeof *g.pending);
    g.dist = mr_xmalloc(alloc * sizeof *g.dist);
    g.parent = mr_xmalloc(alloc * sizeof *g.parent);
    g.via = mr_xmalloc(alloc * sizeof *g.via);
    g.seen = mr_xcalloc(alloc, sizeof *g.seen);
    g.done = mr_xcalloc(alloc, sizeof *g.done);
    g.enter = mr_xmalloc(alloc * sizeof *g.enter);
    for (size_t t = 0; t < n; t++) {
        g.comp[t] = NONE;
        double sc = scores ? scores[t] : 0;
        sc = sc > 0 ? (sc < 1 ? sc : 1) : 0; /* NaN → 0 */
        g.enter[t] = (uint32_t)(MR_CTX_RELEVANCE_COST * (1 - sc) + 0.5);
    }
    struct ctx_vec order = {0}; /* the seeds, strongest first, once each */
    for (size_t i = 0; i < nseeds; i++)
        if (seeds[i] < n && !g.pending[seeds[i]]) {
            g.pending[seeds[i]] = true;
            ctx_vec_push(&order, seeds[i]);
        }

    size_t cur = NONE, ntrees = 0, next = 0;
    while (g.tables.n < max_tables) {
        if (cur == NONE) {
            while (next < order.n && !g.pending[order.v[next]])
                next++;
            if (next == order.n)
                break;
            cur = ntrees++;
            add_table(&g, order.v[next], cur);
            continue;
        }
        size_t target = search(&g, cur, max_tables - g.tables.n, max_hops);
        if (target == NONE)
            cur = NONE;
        else
            attach(&g, cur, target);
    }

    /* Trees numbered 0, 1, ... in the order of their first table (merges leave gaps). */
    size_t *renum = mr_xmalloc((ntrees ? ntrees : 1) * sizeof *renum);
    for (size_t i = 0; i < ntrees; i++)
        renum[i] = NONE;
    size_t m = 0;
    for (size_t i = 0; i < g.tables.n; i++) {
        if (renum[g.tree.v[i]] == NONE)
            renum[g.tree.v[i]] = m++;
        g.tree.v[i] = renum[g.tree.v[i]];
    }
    free(renum);

    out->ntables = g.tables.n;
    out->tables = g.tables.v ? g.tables.v : mr_xcalloc(1, sizeof *out->tables);
    out->tree = g.tree.v ? g.tree.v : mr_xcalloc(1, sizeof *out->tree);
    out->is_seed = mr_xmalloc((g.seed.n ? g.seed.n : 1) * sizeof *out->is_seed);
    for (size_t i = 0; i < g.seed.n; i++)
        out->is_seed[i] = g.seed.v[i] != 0;
    free(g.seed.v);
    out->ntrees = m;
    out->joins = g.joins.v ? g.joins.v : mr_xcalloc(1, sizeof *out->joins);
    out->njoins = g.joins.n;

    free(order.v);
    free(g.comp);
    free(g.enter);
    free(g.pending);
    free(g.dist);
    free(g.parent);
    free(g.via);
    free(g.seen);
    free(g.done);
    free(g.heap.v);
}

void mr_ctx_forest_free(struct mr_ctx_forest *f)
{
    if (!f)
        return;
    free(f->tables);
    free(f->tree);
    free(f->is_seed);
    free(f->joins);
    memset(f, 0, sizeof *f);
}
