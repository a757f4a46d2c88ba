/*
 * hnsw.c — see hnsw.h. Similarity is the dot product (higher is closer).
 * Nodes live in arrays indexed by insertion order; each level of a node has
 * its own link block [count, neighbours...].
 */
#include "memori/hnsw.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memori/util.h"

struct mr_hnsw {
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
    /* id → live node + 1 (0: empty), open addressing, so deletes are O(1). */
    int64_t *map_ids;
    uint32_t *map_nodes;
    size_t map_cap, map_used;
};

static size_t map_slot(const struct mr_hnsw *h, int64_t id)
{
    uint64_t x = (uint64_t)id * UINT64_C(0x9e3779b97f4a7c15);
    size_t i = (size_t)(x ^ (x >> 29)) & (h->map_cap - 1);
    while (h->map_nodes[i] && h->map_ids[i] != id)
        i = (i + 1) & (h->map_cap - 1);
    return i;
}

static void map_set(struct mr_hnsw *h, int64_t id, uint32_t node)
{
    if ((h->map_used + 1) * 2 > h->map_cap) {
        int64_t *old_ids = h->map_ids;
        uint32_t *old_nodes = h->map_nodes;
        size_t old_cap = h->map_cap;
        h->map_cap = old_cap ? old_cap * 2 : 1024;
        h->map_ids = mr_xcalloc(h->map_cap, sizeof *h->map_ids);
        h->map_nodes = mr_xcalloc(h->map_cap, sizeof *h->map_nodes);
        for (size_t i = 0; i < old_cap; i++) {
            if (!old_nodes[i])
                continue;
            size_t j = map_slot(h, old_ids[i]);
            h->map_ids[j] = old_ids[i];
            h->map_nodes[j] = old_nodes[i];
        }
        free(old_ids);
        free(old_nodes);
    }
    size_t i = map_slot(h, id);
    if (!h->map_nodes[i])
        h->map_used++;
    h->map_ids[i] = id;
    h->map_nodes[i] = node + 1;
}

/* Removes id, re-placing the rest of its probe run; returns its node + 1 or 0. */
static uint32_t map_take(struct mr_hnsw *h, int64_t id)
{
    if (!h->map_cap)
        return 0;
    size_t i = map_slot(h, id), mask = h->map_cap - 1;
    uint32_t node = h->map_nodes[i];
    if (!node)
        return 0;
    h->map_nodes[i] = 0;
    h->map_used--;
    for (size_t j = (i + 1) & mask; h->map_nodes[j]; j = (j + 1) & mask) {
        int64_t rid = h->map_ids[j];
        uint32_t rnode = h->map_nodes[j];
        h->map_nodes[j] = 0;
        size_t k = map_slot(h, rid);
        h->map_ids[k] = rid;
        h->map_nodes[k] = rnode;
    }
    return node;
}

struct cand {
    float s;
    uint32_t i;
};

/* A binary heap of candidates; max = true keeps the best on top. */
struct heap {
    struct cand *v;
    size_t n, cap;
    bool max;
};

static bool above(const struct heap *h, struct cand a, struct cand b)
{
    return h->max ? a.s > b.s : a.s < b.s;
}

static void push(struct heap *h, struct cand c)
{
    if (h->n == h->cap) {
        h->cap = h->cap ? h->cap * 2 : 64;
        h->v = mr_xrealloc(h->v, h->cap * sizeof *h->v);
    }
    size_t i = h->n++;
    h->v[i] = c;
    while (i > 0 && above(h, h->v[i], h->v[(i - 1) / 2])) {
        struct cand t = h->v[i];
        h->v[i] = h->v[(i - 1) / 2];
        h->v[(i - 1) / 2] = t;
        i = (i - 1) / 2;
    }
}

static struct cand pop(struct heap *h)
{
    struct cand top = h->v[0];
    h->v[0] = h->v[--h->n];
    for (size_t i = 0;;) {
        size_t l = 2 * i + 1, r = l + 1, b = i;
        if (l < h->n && above(h, h->v[l], h->v[b]))
            b = l;
        if (r < h->n && above(h, h->v[r], h->v[b]))
            b = r;
        if (b == i)
            break;
        struct cand t = h->v[i];
        h->v[i] = h->v[b];
        h->v[b] = t;
        i = b;
    }
    return top;
}

static uint32_t *block(const struct mr_hnsw *h, size_t node, int lvl)
{
    /* Level 0 has 1 + m0 slots, each upper level 1 + m. */
    uint32_t *b = h->links[node];
    return lvl == 0 ? b : b + 1 + h->m0 + (size_t)(lvl - 1) * (1 + h->m);
}

static float sim(const struct mr_hnsw *h, const float *q, size_t node)
{
    return h->dot(q, h->vecs + node * h->dim, h->dim);
}

struct mr_hnsw *mr_hnsw_new(size_t dim, int m, int ef_construction, uint64_t seed)
{
    struct mr_hnsw *h = mr_xcalloc(1, sizeof *h);
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

void mr_hnsw_free(struct mr_hnsw *h)
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
    free(h->map_ids);
    free(h->map_nodes);
    free(h);
}

size_t mr_hnsw_count(const struct mr_hnsw *h)
{
    return h->live;
}

size_t mr_hnsw_nodes(const struct mr_hnsw *h)
{
    return h->n;
}

const float *mr_hnsw_vector(const struct mr_hnsw *h, int64_t id)
{
    if (!h->map_cap)
        return NULL;
    uint32_t node = h->map_nodes[map_slot(h, id)];
    return node ? h->vecs + (size_t)(node - 1) * h->dim : NULL;
}

/*
 * Beam search on one level from the entry points in `from`: returns up to ef
 * closest nodes as a min-heap (worst on top). visited is n bytes, cleared.
 */
static void search_layer(const struct mr_hnsw *h, const float *q, struct heap *from, size_t ef,
                         int lvl, uint8_t *visited, struct heap *results)
{
    struct heap cands = {NULL, 0, 0, true};
    results->n = 0;
    results->max = false;
    for (size_t i = 0; i < from->n; i++) {
        visited[from->v[i].i] = 1;
        push(&cands, from->v[i]);
        push(results, from->v[i]);
    }
    while (results->n > ef)
        pop(results);
    while (cands.n) {
        struct cand c = pop(&cands);
        if (results->n >= ef && c.s < results->v[0].s)
            break; /* the best unexplored is worse than the worst kept */
        const uint32_t *b = block(h, c.i, lvl);
        for (uint32_t k = 0; k < b[0]; k++) {
            uint32_t nb = b[1 + k];
            if (visited[nb])
                continue;
            visited[nb] = 1;
            float s = sim(h, q, nb);
            if (results->n < ef || s > results->v[0].s) {
                push(&cands, (struct cand){s, nb});
                push(results, (struct cand){s, nb});
                if (results->n > ef)
                    pop(results);
            }
        }
    }
    free(cands.v);
}

/*
 * The neighbour-selection heuristic of the paper (algorithm 4): take
 * candidates best first, keeping one only if it is closer to the base than
 * to every one already kept — links then point in diverse directions and
 * clusters stay connected. Slots left over are filled with the best pruned
 * ones. cands: (similarity to base, node), any order; writes up to max into out.
 */
static size_t select_neighbours(const struct mr_hnsw *h, struct cand *cands, size_t n, int max,
                                uint32_t *out)
{
    struct heap order = {NULL, 0, 0, true};
    for (size_t i = 0; i < n; i++)
        push(&order, cands[i]);
    size_t kept = 0, n_pruned = 0;
    uint32_t *pruned = mr_xmalloc((n ? n : 1) * sizeof *pruned);
    while (order.n && (int)kept < max) {
        struct cand c = pop(&order);
        bool diverse = true;
        for (size_t k = 0; k < kept && diverse; k++)
            diverse = sim(h, h->vecs + (size_t)c.i * h->dim, out[k]) < c.s;
        if (diverse)
            out[kept++] = c.i;
        else
            pruned[n_pruned++] = c.i;
    }
    for (size_t k = 0; k < n_pruned && (int)kept < max; k++)
        out[kept++] = pruned[k];
    free(pruned);
    free(order.v);
    return kept;
}

/* Adds b to a's links at lvl; when full, re-selects among old links and b. */
static void link(struct mr_hnsw *h, size_t a, size_t b, int lvl)
{
    int max = lvl == 0 ? h->m0 : h->m;
    uint32_t *blk = block(h, a, lvl);
    if ((int)blk[0] < max) {
        blk[1 + blk[0]++] = (uint32_t)b;
        return;
    }
    const float *v = h->vecs + a * h->dim;
    struct cand *c = mr_xmalloc(((size_t)max + 1) * sizeof *c);
    for (uint32_t k = 0; k < blk[0]; k++)
        c[k] = (struct cand){sim(h, v, blk[1 + k]), blk[1 + k]};
    c[blk[0]] = (struct cand){sim(h, v, b), (uint32_t)b};
    blk[0] = (uint32_t)select_neighbours(h, c, (size_t)max + 1, max, blk + 1);
    free(c);
}

/* Greedy walk on levels from..to+1: moves *cur (similarity *cs) to the closest node met. */
static void descend(const struct mr_hnsw *h, const float *q, int from, int to, size_t *cur,
                    float *cs)
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

void mr_hnsw_add(struct mr_hnsw *h, int64_t id, const float *vec)
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
    map_set(h, id, (uint32_t)node);
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
    struct heap ep = {NULL, 0, 0, true}, res = {NULL, 0, 0, false};
    size_t cur = (size_t)h->entry;
    float cs = sim(h, vec, cur);
    /* Greedy descent through the levels above the new node's. */
    descend(h, vec, h->max_level, lvl, &cur, &cs);
    push(&ep, (struct cand){cs, (uint32_t)cur});
    for (int l = lvl < h->max_level ? lvl : h->max_level; l >= 0; l--) {
        memset(visited, 0, h->n);
        search_layer(h, vec, &ep, (size_t)h->ef_construction, l, visited, &res);
        /* Connect to M diverse neighbours among those found, both ways. */
        struct cand *found = mr_xmalloc((res.n ? res.n : 1) * sizeof *found);
        size_t nf = 0;
        for (size_t k = 0; k < res.n; k++)
            if (res.v[k].i != node)
                found[nf++] = res.v[k];
        uint32_t *mine = block(h, node, l);
        mine[0] = (uint32_t)select_neighbours(h, found, nf, h->m, mine + 1);
        for (uint32_t k = 0; k < mine[0]; k++)
            link(h, mine[1 + k], node, l);
        free(found);
        /* The found set seeds the next level down. */
        ep.n = 0;
        for (size_t k = 0; k < res.n; k++)
            push(&ep, res.v[k]);
    }
    if (lvl > h->max_level) {
        h->max_level = lvl;
        h->entry = (int64_t)node;
    }
    free(ep.v);
    free(res.v);
    free(visited);
}

void mr_hnsw_delete(struct mr_hnsw *h, int64_t id)
{
    uint32_t node = map_take(h, id);
    if (node && !h->deleted[node - 1]) {
        h->deleted[node - 1] = true;
        h->live--;
    }
}

size_t mr_hnsw_search(const struct mr_hnsw *h, const float *q, size_t k, size_t ef,
                      mr_hnsw_accept accept, void *arg, struct mr_index_hit *out)
{
    if (h->entry < 0 || k == 0)
        return 0;
    if (ef < k)
        ef = k;
    uint8_t *visited = mr_xmalloc(h->n);
    struct heap ep = {NULL, 0, 0, true}, res = {NULL, 0, 0, false};
    size_t cur = (size_t)h->entry;
    float cs = sim(h, q, cur);
    descend(h, q, h->max_level, 0, &cur, &cs);
    size_t found = 0;
    /* Widen the beam until k accepted, live results are in it (filters, tombstones). */
    for (;;) {
        memset(visited, 0, h->n);
        ep.n = 0;
        push(&ep, (struct cand){cs, (uint32_t)cur});
        search_layer(h, q, &ep, ef, 0, visited, &res);
        struct heap best = {NULL, 0, 0, true};
        for (size_t j = 0; j < res.n; j++)
            push(&best, res.v[j]);
        found = 0;
        while (best.n && found < k) {
            struct cand c = pop(&best);
            if (h->deleted[c.i] || (accept && !accept(arg, h->ids[c.i])))
                continue;
            out[found++] = (struct mr_index_hit){h->ids[c.i], c.s};
        }
        free(best.v);
        if (found >= k || ef >= h->n)
            break;
        ef *= 4;
    }
    free(ep.v);
    free(res.v);
    free(visited);
    return found;
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

static size_t links_len(const struct mr_hnsw *h, size_t node)
{
    return 1 + (size_t)h->m0 + (size_t)h->level[node] * (1 + (size_t)h->m);
}

int mr_hnsw_save(const struct mr_hnsw *h, FILE *out)
{
    struct graph_header gh = {(uint32_t)h->dim, (uint32_t)h->m, (uint32_t)h->m0,
                              (uint32_t)h->ef_construction, h->rng, h->n, h->entry,
                              h->max_level, 0};
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
static bool links_valid(const struct mr_hnsw *h)
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

struct mr_hnsw *mr_hnsw_load(FILE *in, size_t dim, size_t max_nodes)
{
    struct graph_header gh;
    if (fread(&gh, sizeof gh, 1, in) != 1 || gh.dim != dim || gh.m < 4 || gh.m > 256 ||
        gh.m0 != 2 * gh.m || gh.n > max_nodes || gh.n >= UINT32_MAX ||
        gh.entry < (gh.n ? 0 : -1) || gh.entry >= (int64_t)gh.n || gh.max_level < 0 ||
        gh.max_level > 15)
        return NULL;
    struct mr_hnsw *h = mr_hnsw_new(dim, (int)gh.m, (int)gh.ef_construction, gh.rng);
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
    bool ok = n == 0 || (fread(h->ids, sizeof *h->ids, n, in) == n &&
                         fread(h->level, 1, n, in) == n && fread(dead, 1, n, in) == n &&
                         fread(h->vecs, sizeof *h->vecs * dim, n, in) == n);
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
        h->n = i + 1; /* what mr_hnsw_free releases if a later read fails */
        ok = fread(h->links[i], sizeof(uint32_t), links_len(h, i), in) == links_len(h, i);
    }
    ok = ok && h->n == n && links_valid(h) &&
         (n == 0 || h->level[gh.entry] == (uint8_t)gh.max_level);
    for (size_t i = 0; ok && i < n; i++) {
        ok = h->deleted[i] || !mr_hnsw_vector(h, h->ids[i]); /* no id live twice */
        if (ok && !h->deleted[i]) {
            map_set(h, h->ids[i], (uint32_t)i);
            h->live++;
        }
    }
    if (!ok) {
        mr_hnsw_free(h);
        return NULL;
    }
    h->entry = gh.entry;
    h->max_level = gh.max_level;
    return h;
}

size_t mr_hnsw_live_ids(const struct mr_hnsw *h, int64_t *out)
{
    size_t k = 0;
    for (size_t i = 0; i < h->n; i++)
        if (!h->deleted[i])
            out[k++] = h->ids[i];
    return k;
}
