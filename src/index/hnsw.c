/*
 * hnsw.c — the HNSW graph (see index_int.h). Similarity is the dot product
 * (higher is closer). Nodes live in arrays indexed by insertion order; each
 * level of a node has its own link block [count, neighbours...]. The beam,
 * the frontier and the neighbour selection use the index's heap of hits,
 * with the node number in a hit's id.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "index_int.h"

struct hnsw {
    size_t dim;
    int m, m0, ef_construction;
    double level_mult;
    uint64_t rng;
    float *vecs;
    int64_t *ids;
    uint8_t *level;
    bool *deleted;
    uint32_t **links; /* per node: (level + 1) blocks */
    size_t n, cap, live;
    int64_t entry; /* -1: empty */
    int max_level;
    mr_dot_fn dot;
    struct ix_idmap nodes; /* id → live node, so deletes are O(1) */
};

/* A candidate: node and its similarity to the query, in the heap's terms. */
static struct mr_index_hit cand(float s, size_t node)
{
    return (struct mr_index_hit){(int64_t)node, s};
}

static uint32_t node_of(struct mr_index_hit c)
{
    return (uint32_t)c.id;
}

static uint32_t *block(const struct hnsw *h, size_t node, int lvl)
{
    /* Level 0 has 1 + m0 slots, each upper level 1 + m. */
    uint32_t *b = h->links[node];
    return lvl == 0 ? b : b + 1 + h->m0 + (size_t)(lvl - 1) * (1 + h->m);
}

static float sim(const struct hnsw *h, const float *q, size_t node)
{
    return h->dot(q, h->vecs + node * h->dim, h->dim);
}

struct hnsw *hnsw_new(size_t dim, int m, int ef_construction, uint64_t seed)
{
    struct hnsw *h = mr_xcalloc(1, sizeof *h);
    h->dim = dim;
    h->m = m < 4 ? 4 : m;
    h->m0 = 2 * h->m;
    h->ef_construction = ef_construction < h->m ? h->m : ef_construction;
    h->level_mult = 1.0 / log((double)h->m);
    h->rng = seed ? seed : 0x9e3779b97f4a7c15ull;
    h->entry = -1;
    h->dot = mr_index_dot_fn();
    return h;
}

void hnsw_free(struct hnsw *h)
{
    if (!h)
        return;
    for (size_t i = 0; i < h->n; i++)
        free(h->links[i]);
    free(h->links);
    free(h->vecs);
    free(h->ids);
    free(h->level);
    free(h->deleted);
    ix_idmap_free(&h->nodes);
    free(h);
}

size_t hnsw_count(const struct hnsw *h)
{
    return h->live;
}

size_t hnsw_nodes(const struct hnsw *h)
{
    return h->n;
}

const float *hnsw_vector(const struct hnsw *h, int64_t id)
{
    long node = ix_idmap_get(&h->nodes, id);
    return node >= 0 ? h->vecs + (size_t)node * h->dim : NULL;
}

void hnsw_prefetch(const struct hnsw *h, int64_t id)
{
    ix_idmap_prefetch(&h->nodes, id);
}

/*
 * Beam search on one level from the n_from entry points in from (any
 * order: the heaps' total order makes the walk depend on the set alone):
 * leaves the up to ef closest nodes in results (worst on top). visited is
 * n bytes, cleared.
 */
static void search_layer(const struct hnsw *h, const float *q, const struct mr_index_hit *from,
                         size_t n_from, size_t ef, int lvl, uint8_t *visited,
                         struct ix_heap *results)
{
    struct ix_heap frontier = {NULL, 0, 0, false}; /* best on top: explored next */
    results->n = 0;
    results->worst_on_top = true;
    for (size_t i = 0; i < n_from; i++) {
        visited[node_of(from[i])] = 1;
        ix_heap_push(&frontier, from[i]);
        ix_heap_push(results, from[i]);
    }
    while (results->n > ef)
        ix_heap_pop(results);
    while (frontier.n) {
        struct mr_index_hit c = ix_heap_pop(&frontier);
        if (results->n >= ef && c.score < results->v[0].score)
            break; /* the best unexplored is worse than the worst kept */
        const uint32_t *b = block(h, node_of(c), lvl);
        for (uint32_t k = 0; k < b[0]; k++) {
            uint32_t nb = b[1 + k];
            if (visited[nb])
                continue;
            visited[nb] = 1;
            float s = sim(h, q, nb);
            if (results->n < ef) {
                ix_heap_push(&frontier, cand(s, nb));
                ix_heap_push(results, cand(s, nb));
            } else if (s > results->v[0].score) {
                ix_heap_push(&frontier, cand(s, nb));
                ix_heap_replace_top(results, cand(s, nb));
            }
        }
    }
    free(frontier.v);
}

/*
 * The neighbour-selection heuristic of the paper (algorithm 4): take
 * candidates best first, keeping one only if it is closer to the base than
 * to every one already kept — links then point in diverse directions and
 * clusters stay connected. Slots left over are filled with the best pruned
 * ones. cands: (node, similarity to base), any order; writes up to max into out.
 */
static size_t select_neighbours(const struct hnsw *h, const struct mr_index_hit *cands, size_t n,
                                int max, uint32_t *out)
{
    struct ix_heap order = {NULL, 0, 0, false};
    for (size_t i = 0; i < n; i++)
        ix_heap_push(&order, cands[i]);
    size_t kept = 0, n_pruned = 0;
    uint32_t *pruned = mr_xmalloc((n ? n : 1) * sizeof *pruned);
    while (order.n && (int)kept < max) {
        struct mr_index_hit c = ix_heap_pop(&order);
        const float *v = h->vecs + (size_t)node_of(c) * h->dim;
        bool diverse = true;
        for (size_t k = 0; k < kept && diverse; k++)
            diverse = sim(h, v, out[k]) < c.score;
        if (diverse)
            out[kept++] = node_of(c);
        else
            pruned[n_pruned++] = node_of(c);
    }
    for (size_t k = 0; k < n_pruned && (int)kept < max; k++)
        out[kept++] = pruned[k];
    free(pruned);
    free(order.v);
    return kept;
}

/* Adds b to a's links at lvl; when full, re-selects among old links and b. */
static void link(struct hnsw *h, size_t a, size_t b, int lvl)
{
    int max = lvl == 0 ? h->m0 : h->m;
    uint32_t *blk = block(h, a, lvl);
    if ((int)blk[0] < max) {
        blk[1 + blk[0]++] = (uint32_t)b;
        return;
    }
    const float *v = h->vecs + a * h->dim;
    struct mr_index_hit *c = mr_xmalloc(((size_t)max + 1) * sizeof *c);
    for (uint32_t k = 0; k < blk[0]; k++)
        c[k] = cand(sim(h, v, blk[1 + k]), blk[1 + k]);
    c[blk[0]] = cand(sim(h, v, b), b);
    blk[0] = (uint32_t)select_neighbours(h, c, (size_t)max + 1, max, blk + 1);
    free(c);
}

/* Greedy walk on levels from..to+1: moves *cur (similarity *cs) to the closest node met. */
static void descend(const struct hnsw *h, const float *q, int from, int to, size_t *cur, float *cs)
{
    for (int l = from; l > to; l--) {
        for (bool moved = true; moved;) {
            moved = false;
            const uint32_t *b = block(h, *cur, l);
            for (uint32_t k = 0; k < b[0]; k++) {
                float s = sim(h, q, b[1 + k]);
                if (s > *cs) {
                    *cs = s;
                    *cur = b[1 + k];
                    moved = true;
                }
            }
        }
    }
}

void hnsw_add(struct hnsw *h, int64_t id, const float *vec)
{
    if (h->n == h->cap) {
        size_t row = h->dim * sizeof *h->vecs;
        h->vecs = mr_xrealloc_aligned(h->vecs, h->n * row, (h->cap ? h->cap * 2 : 1024) * row);
        h->cap = h->cap ? h->cap * 2 : 1024;
        h->ids = mr_xrealloc(h->ids, h->cap * sizeof *h->ids);
        h->level = mr_xrealloc(h->level, h->cap * sizeof *h->level);
        h->deleted = mr_xrealloc(h->deleted, h->cap * sizeof *h->deleted);
        h->links = mr_xrealloc(h->links, h->cap * sizeof *h->links);
    }
    size_t node = h->n++;
    memcpy(h->vecs + node * h->dim, vec, h->dim * sizeof(float));
    h->ids[node] = id;
    h->deleted[node] = false;
    ix_idmap_put(&h->nodes, id, (uint32_t)node);
    h->rng ^= h->rng << 13;
    h->rng ^= h->rng >> 7;
    h->rng ^= h->rng << 17;
    double u = ((h->rng >> 11) + 1) * (1.0 / 9007199254740993.0);
    int lvl = (int)(-log(u) * h->level_mult);
    if (lvl > 15)
        lvl = 15;
    h->level[node] = (uint8_t)lvl;
    h->links[node] = mr_xcalloc(1 + (size_t)h->m0 + (size_t)lvl * (1 + h->m), sizeof(uint32_t));
    h->live++;
    if (h->entry < 0) {
        h->entry = (int64_t)node;
        h->max_level = lvl;
        return;
    }
    uint8_t *visited = mr_xcalloc(h->n, 1);
    struct ix_heap res = {NULL, 0, 0, true};
    /* The entry points of each level: what the level above found (at most ef_construction). */
    struct mr_index_hit *ep = mr_xmalloc(((size_t)h->ef_construction + 1) * sizeof *ep);
    size_t n_ep = 1;
    size_t cur = (size_t)h->entry;
    float cs = sim(h, vec, cur);
    /* Greedy descent through the levels above the new node's. */
    descend(h, vec, h->max_level, lvl, &cur, &cs);
    ep[0] = cand(cs, cur);
    for (int l = lvl < h->max_level ? lvl : h->max_level; l >= 0; l--) {
        memset(visited, 0, h->n);
        search_layer(h, vec, ep, n_ep, (size_t)h->ef_construction, l, visited, &res);
        /* Connect to M diverse neighbours among those found, both ways. */
        struct mr_index_hit *found = mr_xmalloc((res.n ? res.n : 1) * sizeof *found);
        size_t nf = 0;
        for (size_t k = 0; k < res.n; k++)
            if (node_of(res.v[k]) != node)
                found[nf++] = res.v[k];
        uint32_t *mine = block(h, node, l);
        mine[0] = (uint32_t)select_neighbours(h, found, nf, h->m, mine + 1);
        for (uint32_t k = 0; k < mine[0]; k++)
            link(h, mine[1 + k], node, l);
        free(found);
        /* The found set seeds the next level down. */
        memcpy(ep, res.v, res.n * sizeof *ep);
        n_ep = res.n;
    }
    if (lvl > h->max_level) {
        h->max_level = lvl;
        h->entry = (int64_t)node;
    }
    free(ep);
    free(res.v);
    free(visited);
}

void hnsw_delete(struct hnsw *h, int64_t id)
{
    long node = ix_idmap_take(&h->nodes, id);
    if (node >= 0 && !h->deleted[node]) {
        h->deleted[node] = true;
        h->live--;
    }
}

/*
 * hnsw_search and hnsw_search_batch: one of accept (asked id by id) and
 * batch (asked of every id a round pops) may be set, or neither.
 */
static size_t search(const struct hnsw *h, const float *q, size_t k, size_t ef, hnsw_accept accept,
                     hnsw_accept_batch batch, void *arg, struct mr_index_hit *out)
{
    if (h->entry < 0 || k == 0)
        return 0;
    if (ef < k)
        ef = k;
    uint8_t *visited = mr_xmalloc(h->n);
    struct ix_heap res = {NULL, 0, 0, true};
    size_t cur = (size_t)h->entry;
    float cs = sim(h, q, cur);
    descend(h, q, h->max_level, 0, &cur, &cs);
    const struct mr_index_hit start = cand(cs, cur);
    size_t found = 0;
    struct mr_index_hit *popped = mr_xmalloc(k * sizeof *popped);
    int64_t *ids = mr_xmalloc(k * sizeof *ids);
    bool *ok = mr_xmalloc(k * sizeof *ok);
    /* Widen the beam until k accepted, live results are in it (filters, tombstones). */
    for (;;) {
        memset(visited, 0, h->n);
        search_layer(h, q, &start, 1, ef, 0, visited, &res);
        ix_heap_flip(&res); /* popped best first, only as far as needed */
        found = 0;
        /*
         * In rounds: as many live nodes popped as results are still
         * wanted, the filter asked of them all, the accepted kept in pop
         * order; the same results as asking node by node, and a batch
         * filter can overlap its lookups' cache misses.
         */
        while (res.n && found < k) {
            size_t n = 0;
            while (res.n && n < k - found) {
                struct mr_index_hit c = ix_heap_pop(&res);
                if (h->deleted[node_of(c)])
                    continue;
                ids[n] = h->ids[node_of(c)];
                popped[n++] = c;
            }
            if (batch)
                batch(arg, ids, n, ok);
            for (size_t i = 0; i < n; i++)
                if (batch ? ok[i] : !accept || accept(arg, ids[i]))
                    out[found++] = (struct mr_index_hit){ids[i], popped[i].score};
        }
        if (found >= k || ef >= h->n)
            break;
        ef *= 4;
    }
    free(ok);
    free(ids);
    free(popped);
    free(res.v);
    free(visited);
    return found;
}

size_t hnsw_search(const struct hnsw *h, const float *q, size_t k, size_t ef, hnsw_accept accept,
                   void *arg, struct mr_index_hit *out)
{
    return search(h, q, k, ef, accept, NULL, arg, out);
}

size_t hnsw_search_batch(const struct hnsw *h, const float *q, size_t k, size_t ef,
                         hnsw_accept_batch accept, void *arg, struct mr_index_hit *out)
{
    return search(h, q, k, ef, NULL, accept, arg, out);
}

/*
 * Snapshot format of one graph (native byte order; the snapshot file's
 * header says which): the parameters, then ids, levels, tombstones,
 * vectors and every node's link blocks, each array in one piece.
 */
struct graph_header {
    uint32_t dim, m, m0, ef_construction;
    uint64_t rng, n;
    int64_t entry;
    int32_t max_level, pad;
};

static size_t links_len(const struct hnsw *h, size_t node)
{
    return 1 + (size_t)h->m0 + (size_t)h->level[node] * (1 + (size_t)h->m);
}

int hnsw_save(const struct hnsw *h, FILE *out)
{
    struct graph_header gh = {(uint32_t)h->dim,
                              (uint32_t)h->m,
                              (uint32_t)h->m0,
                              (uint32_t)h->ef_construction,
                              h->rng,
                              h->n,
                              h->entry,
                              h->max_level,
                              0};
    bool ok = fwrite(&gh, sizeof gh, 1, out) == 1;
    uint8_t *dead = mr_xmalloc(h->n + 1);
    for (size_t i = 0; i < h->n; i++)
        dead[i] = h->deleted[i];
    if (h->n)
        ok = ok && fwrite(h->ids, sizeof *h->ids, h->n, out) == h->n &&
             fwrite(h->level, 1, h->n, out) == h->n && fwrite(dead, 1, h->n, out) == h->n &&
             fwrite(h->vecs, sizeof *h->vecs * h->dim, h->n, out) == h->n;
    for (size_t i = 0; ok && i < h->n; i++)
        ok = fwrite(h->links[i], sizeof(uint32_t), links_len(h, i), out) == links_len(h, i);
    free(dead);
    return ok ? 0 : -1;
}

/* Whether every link of h points at a node that has the level it is linked on. */
static bool links_valid(const struct hnsw *h)
{
    for (size_t i = 0; i < h->n; i++) {
        for (int l = 0; l <= h->level[i]; l++) {
            const uint32_t *b = block(h, i, l);
            if (b[0] > (uint32_t)(l == 0 ? h->m0 : h->m))
                return false;
            for (uint32_t k = 0; k < b[0]; k++)
                if (b[1 + k] >= h->n || h->level[b[1 + k]] < l)
                    return false;
        }
    }
    return true;
}

struct hnsw *hnsw_load(FILE *in, size_t dim, size_t max_nodes)
{
    struct graph_header gh;
    if (fread(&gh, sizeof gh, 1, in) != 1 || gh.dim != dim || gh.m < 4 || gh.m > 256 ||
        gh.m0 != 2 * gh.m || gh.n > max_nodes || gh.n >= UINT32_MAX || gh.entry < (gh.n ? 0 : -1) ||
        gh.entry >= (int64_t)gh.n || gh.max_level < 0 || gh.max_level > 15)
        return NULL;
    struct hnsw *h = hnsw_new(dim, (int)gh.m, (int)gh.ef_construction, gh.rng);
    size_t n = gh.n;
    if (n) {
        h->vecs = mr_xrealloc_aligned(NULL, 0, n * dim * sizeof *h->vecs);
        h->ids = mr_xmalloc(n * sizeof *h->ids);
        h->level = mr_xmalloc(n);
        h->deleted = mr_xmalloc(n * sizeof *h->deleted);
        h->links = mr_xcalloc(n, sizeof *h->links);
        h->cap = n;
    }
    /* Tombstones are read as bytes: a bool may only hold 0 or 1. */
    uint8_t *dead = mr_xmalloc(n + 1);
    bool ok =
        n == 0 || (fread(h->ids, sizeof *h->ids, n, in) == n && fread(h->level, 1, n, in) == n &&
                   fread(dead, 1, n, in) == n && fread(h->vecs, sizeof *h->vecs * dim, n, in) == n);
    for (size_t i = 0; ok && i < n; i++) {
        ok = dead[i] <= 1;
        h->deleted[i] = dead[i] == 1;
    }
    free(dead);
    for (size_t i = 0; ok && i < n; i++) {
        ok = h->level[i] <= 15;
        if (!ok)
            break;
        h->links[i] = mr_xmalloc(links_len(h, i) * sizeof(uint32_t));
        h->n = i + 1; /* what hnsw_free releases if a later read fails */
        ok = fread(h->links[i], sizeof(uint32_t), links_len(h, i), in) == links_len(h, i);
    }
    ok = ok && h->n == n && links_valid(h) &&
         (n == 0 || h->level[gh.entry] == (uint8_t)gh.max_level);
    for (size_t i = 0; ok && i < n; i++) {
        ok = h->deleted[i] || ix_idmap_get(&h->nodes, h->ids[i]) < 0; /* no id live twice */
        if (ok && !h->deleted[i]) {
            ix_idmap_put(&h->nodes, h->ids[i], (uint32_t)i);
            h->live++;
        }
    }
    if (!ok) {
        hnsw_free(h);
        return NULL;
    }
    h->entry = gh.entry;
    h->max_level = gh.max_level;
    return h;
}

size_t hnsw_live_ids(const struct hnsw *h, int64_t *out)
{
    size_t k = 0;
    for (size_t i = 0; i < h->n; i++)
        if (!h->deleted[i])
            out[k++] = h->ids[i];
    return k;
}
