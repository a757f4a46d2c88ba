/*
 * candidates.c — a ranked search's candidates (index.h, mr_index_candidates;
 * DESIGN.md §8, docs/ranking.md): each side's best k' in the partitions a
 * search reaches, under the same filter predicate (ix_matches), their
 * union, and the side each candidate lacks computed exactly — the cosine
 * from the entry's vector, the BM25 from the partition's lexical index —
 * all under one hold of the read lock, so both scores describe the same
 * entry. Ranking them is the caller's (src/core/fusion.c): the index only
 * finds and scores.
 */
#include <stdlib.h>

#include "index_int.h"

/*
 * The filter a lexical search asks per document: the partition's
 * predicate. It keeps the slot of each id it accepted, in order: the search
 * asks it of its final hits in their order (lexical.h), so the cosines of
 * those hits need not look their slots up again.
 */
struct lex_accept {
    const struct ix_part *p;
    const struct ix_filter *f;
    int64_t *ids;
    long *slots;
    size_t n, cap;
};

static bool lex_accept(void *arg, int64_t id)
{
    struct lex_accept *a = arg;
    long slot = ix_part_slot(a->p, id);
    if (slot < 0 || !ix_matches(a->p, (size_t)slot, a->f))
        return false;
    if (a->n < a->cap) {
        a->ids[a->n] = id;
        a->slots[a->n++] = slot;
    }
    return true;
}

/* Lexical hits best first, ties by lower id (as mr_lex_index_search orders them). */
static int lex_best_first(const void *a, const void *b)
{
    const struct mr_lex_hit *x = a, *y = b;
    if (x->bm25 != y->bm25)
        return x->bm25 > y->bm25 ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

static int cmp_id(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* The partition of the scope holding id (each id is in one: the shared filter skips own ones). */
static size_t part_of(const struct ix_part *const *parts, size_t n_parts, int64_t id)
{
    for (size_t i = 0; i + 1 < n_parts; i++)
        if (ix_part_slot(parts[i], id) >= 0)
            return i;
    return n_parts - 1;
}

/*
 * The candidates' positions by id: open addressing over a power-of-two
 * table at most half full. A search with context asks it a few hundred
 * times; sorting the candidates and bisecting cost more than the
 * neighbours' scores it served.
 */
struct cand_map {
    int64_t *ids; /* 0: empty (ids are positive) */
    size_t *at;
    size_t mask;
};

static void cand_map_init(struct cand_map *m, size_t cap)
{
    size_t size = 16;
    while (size < 2 * cap)
        size *= 2;
    m->ids = mr_xcalloc(size, sizeof *m->ids);
    m->at = mr_xmalloc(size * sizeof *m->at);
    m->mask = size - 1;
}

static size_t cand_map_home(const struct cand_map *m, int64_t id)
{
    uint64_t x = (uint64_t)id * UINT64_C(0x9e3779b97f4a7c15);
    return (size_t)(x >> 32) & m->mask;
}

/* Records id at position i; false when id is there already. */
static bool cand_map_add(struct cand_map *m, int64_t id, size_t i)
{
    size_t j = cand_map_home(m, id);
    while (m->ids[j] && m->ids[j] != id)
        j = (j + 1) & m->mask;
    if (m->ids[j])
        return false;
    m->ids[j] = id;
    m->at[j] = i;
    return true;
}

/* The position of id among the candidates, or -1. */
static long cand_map_get(const struct cand_map *m, int64_t id)
{
    size_t j = cand_map_home(m, id);
    while (m->ids[j] && m->ids[j] != id)
        j = (j + 1) & m->mask;
    return m->ids[j] ? (long)m->at[j] : -1;
}

static void cand_map_free(struct cand_map *m)
{
    free(m->ids);
    free(m->at);
}

/* A turn's neighbour: none, a candidate (its position), or a turn no candidate is. */
#define NB_NONE (-1)
#define NB_OTHER (-2)

/*
 * Neighbour context (lexical.h, mr_lex_context; docs/ranking.md): the
 * lexical side's hits' neighbouring turns in who's own partition p that
 * pass the filters join the candidates (a turn that holds no query word
 * but sits between turns that do), then every candidate turn of p scores
 * its own normalised BM25 mixed with its neighbours'. A neighbour lends its
 * words whatever the filters say of it (archived, expired, another type):
 * the conversation as it was said is the context; only results are
 * filtered. Each entry's previous and next turn are in its metadata
 * (convs.c keeps them), and only what no candidate already has is scored,
 * in one batch. With q->cosine_context each candidate turn's cosine takes
 * its neighbours' the same way (mr_index_cosine_context), from the same
 * neighbours: one more dot product per neighbour no candidate is. out has
 * room for n + 2 · n_lex; returns the new count. Lock held (read).
 */
static size_t with_context(const struct ix *ix, const struct ix_part *p, const struct ix_filter *f,
                           const struct mr_lex_index *stats, const struct mr_index_query *q,
                           double max, const struct mr_lex_hit *lex, size_t n_lex,
                           struct mr_index_candidate *out, size_t n)
{
    mr_dot_fn dot = mr_index_dot_fn();
    size_t n0 = n, cap = n + 2 * n_lex;
    struct cand_map at;
    cand_map_init(&at, cap);
    long *slot = mr_xmalloc((cap + 1) * sizeof *slot);
    for (size_t j = 0; j < n; j++) {
        cand_map_add(&at, out[j].id, j);
        slot[j] = ix_part_slot(p, out[j].id);
    }
    /* The hits' neighbouring turns that pass the filters, each once. */
    for (size_t i = 0; i < n_lex; i++) {
        long s = ix_part_slot(p, lex[i].id);
        if (s < 0)
            continue;
        const int64_t nb[2] = {p->meta[s].prev_turn, p->meta[s].next_turn};
        for (int k = 0; k < 2; k++) {
            long ns = nb[k] ? ix_part_slot(p, nb[k]) : -1;
            if (ns < 0 || !ix_matches(p, (size_t)ns, f) || !cand_map_add(&at, nb[k], n))
                continue;
            const float *v = q->vec ? ix_part_vec(ix, p, (size_t)ns) : NULL;
            slot[n] = ns;
            out[n++] = (struct mr_index_candidate){nb[k], v ? dot(q->vec, v, ix->dim) : 0, 0};
        }
    }
    /* Each candidate turn's neighbours, resolved once. */
    long *nbs = mr_xmalloc((2 * n + 1) * sizeof *nbs);
    for (size_t j = 0; j < n; j++) {
        const struct ix_meta *m = slot[j] >= 0 ? &p->meta[slot[j]] : NULL;
        const int64_t nb[2] = {m ? m->prev_turn : 0, m ? m->next_turn : 0};
        for (int k = 0; k < 2; k++) {
            long c = nb[k] ? cand_map_get(&at, nb[k]) : NB_NONE;
            nbs[2 * j + k] = nb[k] && c < 0 ? NB_OTHER : c;
        }
    }
    /*
     * What to score, in one batch: the added candidates' own BM25, then the
     * neighbours no candidate is; a candidate's own normalised score is
     * already exact.
     */
    int64_t *ids = mr_xmalloc((3 * n + 1) * sizeof *ids);
    size_t n_ids = 0;
    for (size_t j = n0; j < n; j++)
        ids[n_ids++] = out[j].id;
    for (size_t j = 0; j < n; j++) {
        if (nbs[2 * j] == NB_OTHER)
            ids[n_ids++] = p->meta[slot[j]].prev_turn;
        if (nbs[2 * j + 1] == NB_OTHER)
            ids[n_ids++] = p->meta[slot[j]].next_turn;
    }
    double *bm25 = mr_xcalloc(n_ids + 1, sizeof *bm25);
    mr_lex_index_score_with(p->lex, stats, q->terms, ids, n_ids, bm25);
    /* The same neighbours' cosines, when the semantic side takes context too. */
    bool cosines = q->cosine_context && q->vec;
    float *cos = mr_xcalloc(n_ids + 1, sizeof *cos);
    for (size_t k = n - n0; cosines && k < n_ids; k++) {
        long ns = ix_part_slot(p, ids[k]);
        const float *v = ns >= 0 ? ix_part_vec(ix, p, (size_t)ns) : NULL;
        cos[k] = v ? dot(q->vec, v, ix->dim) : 0;
    }
    float *own_cos = mr_xmalloc((n + 1) * sizeof *own_cos);
    for (size_t j = 0; j < n; j++)
        own_cos[j] = out[j].cosine;
    for (size_t k = 0; k < n - n0; k++)
        out[n0 + k].lexical = mr_lex_normalise(bm25[k], max);
    double *own = mr_xmalloc((n + 1) * sizeof *own);
    for (size_t j = 0; j < n; j++)
        own[j] = out[j].lexical;
    /* Each turn's normalised neighbours: a candidate's own score, or the batch's. */
    size_t next_id = n - n0;
    for (size_t j = 0; j < n; j++) {
        if (nbs[2 * j] == NB_NONE && nbs[2 * j + 1] == NB_NONE)
            continue; /* not a turn of p, or one alone: its own score, exactly */
        double side[2];
        float side_cos[2];
        for (int k = 0; k < 2; k++) {
            long c = nbs[2 * j + k];
            side_cos[k] = c == NB_NONE ? 0 : c == NB_OTHER ? cos[next_id] : own_cos[c];
            side[k] = c == NB_NONE    ? 0
                      : c == NB_OTHER ? mr_lex_normalise(bm25[next_id++], max)
                                      : own[c];
        }
        out[j].lexical = mr_lex_context(own[j], side[0], side[1]);
        if (cosines)
            out[j].cosine = mr_index_cosine_context(own_cos[j], side_cos[0], side_cos[1]);
    }
    free(own_cos);
    free(cos);
    free(own);
    free(bm25);
    free(ids);
    free(nbs);
    free(slot);
    cand_map_free(&at);
    return n;
}

float mr_index_cosine_context(float own, float prev, float next)
{
    double o = mr_clamp01(own), p = mr_clamp01(prev), n = mr_clamp01(next);
    /* Written out in one order, as mr_lex_context: both stores add the same doubles. */
    return (float)(o + (1 - o) * ((p + n) * 0.5));
}

int ix_candidates(struct ix *ix, const struct mr_identity *who, const struct mr_index_query *q,
                  struct mr_index_candidate *out, size_t *out_n)
{
    *out_n = 0;
    /* Each side's depth: the lexical one may differ (mr_fusion_depth_lexical). */
    size_t k = q->limit, kl = q->lex_limit ? q->lex_limit : q->limit, n_vec = 0, n_lex = 0, n = 0;
    if (k == 0)
        return 0;
    bool want_vec = (q->sides & MR_INDEX_SIDE_VECTOR) && q->vec;
    bool want_lex =
        (q->sides & MR_INDEX_SIDE_LEXICAL) && q->terms && mr_lex_terms_count(q->terms) > 0;
    struct mr_index_hit *vec = mr_xmalloc(k * sizeof *vec);
    struct mr_lex_hit *lex = mr_xmalloc(2 * kl * sizeof *lex);
    int64_t *vec_ids = mr_xmalloc(k * sizeof *vec_ids);
    struct lex_accept acc = {.ids = mr_xmalloc(kl * sizeof *acc.ids),
                             .slots = mr_xmalloc(kl * sizeof *acc.slots),
                             .cap = kl};
    mr_dot_fn dot = mr_index_dot_fn();

    const struct ix_part *parts[2];
    struct ix_filter filters[2];
    pthread_rwlock_rdlock(&ix->lock);
    size_t n_parts = ix_search_scope(ix, who, q, parts, filters);
    /* Statistics: who's own partition's, for what others shared too (NULL: who has none). */
    const struct ix_part *own = ix_part_find(ix, who, false, false);
    const struct mr_lex_index *stats = own ? own->lex : NULL;
    double max = q->terms ? mr_lex_index_max(stats, q->terms) : 0;
    if (n_parts == 0)
        goto unlock;

    if (want_vec) {
        struct ix_heap top = {vec, 0, k, true};
        for (size_t i = 0; i < n_parts; i++)
            ix_search_part(ix, parts[i], &filters[i], q, &top);
        ix_heap_sort(&top);
        n_vec = top.n;
    }
    if (want_lex) {
        /* Each partition's best kl, then the best kl of both (one normaliser: one order). */
        for (size_t i = 0; i < n_parts; i++) {
            acc.p = parts[i];
            acc.f = &filters[i];
            acc.n = 0;
            n_lex += mr_lex_index_search_with(parts[i]->lex, stats, q->terms, lex_accept, &acc, kl,
                                              lex + n_lex, NULL);
        }
        if (n_parts > 1) {
            qsort(lex, n_lex, sizeof *lex, lex_best_first);
            if (n_lex > kl)
                n_lex = kl;
        }
    }

    /* The vector side's hits, each with its BM25 (one query resolution per partition). */
    for (size_t i = 0; i < n_vec; i++)
        vec_ids[i] = vec[i].id;
    for (size_t i = 0; i < n_vec; i++)
        out[i] = (struct mr_index_candidate){vec[i].id, vec[i].score, 0};
    if (q->terms && mr_lex_terms_count(q->terms) > 0 && n_vec > 0) {
        double *bm25 = mr_xmalloc(n_vec * sizeof *bm25);
        for (size_t pi = 0; pi < n_parts; pi++) {
            mr_lex_index_score_with(parts[pi]->lex, stats, q->terms, vec_ids, n_vec, bm25);
            /* An id absent from a partition scores 0 there: keep each id's own partition's. */
            for (size_t i = 0; i < n_vec; i++)
                if (part_of(parts, n_parts, vec_ids[i]) == pi)
                    out[i].lexical = mr_lex_normalise(bm25[i], max);
        }
        free(bm25);
    }
    n = n_vec;
    /*
     * Then the lexical side's hits the vector side lacks, each with its
     * cosine: their vectors found first (each an id-map lookup) and
     * prefetched, then the dot products, so the lookups' cache misses
     * overlap instead of each waiting behind the previous hit's dot product.
     */
    qsort(vec_ids, n_vec, sizeof *vec_ids, cmp_id);
    const float **vecs = mr_xcalloc(n_lex + 1, sizeof *vecs);
    for (size_t i = 0; i < n_lex; i++) {
        if (!q->vec || bsearch(&lex[i].id, vec_ids, n_vec, sizeof *vec_ids, cmp_id))
            continue;
        const struct ix_part *p = parts[part_of(parts, n_parts, lex[i].id)];
        long slot = n_parts == 1 && i < acc.n && acc.ids[i] == lex[i].id
                        ? acc.slots[i]
                        : ix_part_slot(p, lex[i].id);
        vecs[i] = slot >= 0 ? ix_part_vec(ix, p, (size_t)slot) : NULL;
        for (size_t b = 0; vecs[i] && b < ix->dim * sizeof(float); b += 64)
            __builtin_prefetch((const char *)vecs[i] + b);
    }
    for (size_t i = 0; i < n_lex; i++) {
        if (bsearch(&lex[i].id, vec_ids, n_vec, sizeof *vec_ids, cmp_id))
            continue;
        float cosine = vecs[i] ? dot(q->vec, vecs[i], ix->dim) : 0;
        out[n++] = (struct mr_index_candidate){lex[i].id, cosine, lex[i].lexical};
    }
    free(vecs);
    /* The modes that rank by the lexical side; semantic mode's numbers stay the turn's own. */
    if (q->neighbour_context && want_lex && own && parts[0] == own)
        n = with_context(ix, own, &filters[0], stats, q, max, lex, n_lex, out, n);
unlock:
    pthread_rwlock_unlock(&ix->lock);
    free(vec);
    free(lex);
    free(vec_ids);
    free(acc.ids);
    free(acc.slots);
    *out_n = n;
    return 0;
}
