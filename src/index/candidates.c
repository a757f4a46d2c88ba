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

/* A candidate turn's window: the turns before and after it, 1 and 2 away (0: none). */
enum { WIN_PREV, WIN_NEXT, WIN_PREV2, WIN_NEXT2, WIN_N };

/*
 * Neighbour context (lexical.h, mr_lex_context; docs/ranking.md): the
 * lexical side's hits' neighbouring turns in who's own partition p that
 * pass the filters join the candidates (a turn that holds no query word
 * but sits between turns that do), then every candidate turn of p scores
 * its own normalised BM25 mixed with those of the two turns before and
 * the two after it. A neighbour lends its words whatever the filters say
 * of it (archived, expired, another type): the conversation as it was
 * said is the context; only results are filtered. Each entry's previous
 * and next turn are in its metadata (convs.c keeps them; the ones two away
 * are theirs), and only what no candidate already has is scored, in one
 * batch, each turn once however many windows hold it (read from the
 * lexical search's kept sums, `kept`, when it kept them). With
 * q->cosine_context each candidate turn's cosine is mixed with the mean of
 * the same window's (mr_index_cosine_context): one more dot product per
 * turn of a window no candidate is. out has room for n + 2 · n_lex; returns the new count.
 * Lock held (read).
 */
static size_t with_context(const struct ix *ix, const struct ix_part *p, const struct ix_filter *f,
                           const struct mr_lex_index *stats, const struct mr_lex_scores *kept,
                           const struct mr_index_query *q, double max, const struct mr_lex_hit *lex,
                           size_t n_lex, struct mr_index_candidate *out, size_t n)
{
    mr_dot_fn dot = mr_index_dot_fn();
    size_t n0 = n, cap = n + 2 * n_lex;
    struct cand_map at;
    cand_map_init(&at, cap);
    long *slot = mr_xmalloc((cap + 1) * sizeof *slot);
    /*
     * Every lookup below is a cache miss or two at 100 k entries (an id
     * map's cells, a turn's metadata, a graph node's cell, its vector), and
     * each depends on the one before; done turn by turn they wait one after
     * the other. So each step runs over the whole batch, prefetching what
     * the next step reads, and the misses of a batch overlap.
     */
    for (size_t j = 0; j < n; j++)
        ix_idmap_prefetch(&p->slots, out[j].id);
    for (size_t j = 0; j < n; j++) {
        cand_map_add(&at, out[j].id, j);
        slot[j] = ix_part_slot(p, out[j].id);
        if (slot[j] >= 0)
            __builtin_prefetch(&p->meta[slot[j]].prev_turn);
    }
    /* The hits' neighbouring turns (the hits are candidates: their slots are known). */
    int64_t *nb = mr_xmalloc((2 * n_lex + 1) * sizeof *nb);
    long *nb_slot = mr_xmalloc((2 * n_lex + 1) * sizeof *nb_slot);
    size_t n_nb = 0;
    for (size_t i = 0; i < n_lex; i++) {
        long c = cand_map_get(&at, lex[i].id), s = c >= 0 ? slot[c] : -1;
        if (s < 0)
            continue;
        const int64_t two[2] = {p->meta[s].prev_turn, p->meta[s].next_turn};
        for (int k = 0; k < 2; k++)
            if (two[k]) {
                ix_idmap_prefetch(&p->slots, two[k]);
                nb[n_nb++] = two[k];
            }
    }
    for (size_t i = 0; i < n_nb; i++) {
        nb_slot[i] = ix_part_slot(p, nb[i]);
        if (nb_slot[i] >= 0)
            __builtin_prefetch(&p->meta[nb_slot[i]]);
    }
    /* Those that pass the filters join, each once, in the hits' order. */
    size_t n_join = 0;
    for (size_t i = 0; i < n_nb; i++) {
        if (nb_slot[i] < 0 || !ix_matches(p, (size_t)nb_slot[i], f) || !cand_map_add(&at, nb[i], n))
            continue;
        nb[n_join] = nb[i];
        nb_slot[n_join++] = nb_slot[i];
        slot[n] = nb_slot[i];
        out[n++] = (struct mr_index_candidate){nb[i], 0, 0};
    }
    const float **vecs = mr_xcalloc(n_join + 1, sizeof *vecs);
    if (q->vec)
        ix_part_vecs(ix, p, nb, nb_slot, n_join, vecs);
    for (size_t i = 0; i < n_join; i++)
        out[n0 + i].cosine = vecs[i] ? dot(q->vec, vecs[i], ix->dim) : 0;
    free(vecs);
    free(nb_slot);
    free(nb);
    /*
     * Each candidate turn's window, and the turns in windows that no
     * candidate is ("others", each once, by position in others, with their
     * slots where the walk found them).
     */
    int64_t *win = mr_xcalloc(WIN_N * n + 1, sizeof *win);
    long *win_slot = mr_xmalloc((2 * n + 1) * sizeof *win_slot); /* WIN_PREV's, WIN_NEXT's */
    for (size_t j = 0; j < n; j++) {
        if (slot[j] < 0)
            continue; /* a shared memory: not a turn of p */
        const struct ix_meta *m = &p->meta[slot[j]];
        win[WIN_N * j + WIN_PREV] = m->prev_turn;
        win[WIN_N * j + WIN_NEXT] = m->next_turn;
        if (m->prev_turn)
            ix_idmap_prefetch(&p->slots, m->prev_turn);
        if (m->next_turn)
            ix_idmap_prefetch(&p->slots, m->next_turn);
    }
    for (size_t j = 0; j < n; j++) {
        const int64_t *w = win + WIN_N * j;
        for (int k = 0; k < 2; k++) {
            long s = w[k] ? ix_part_slot(p, w[k]) : -1;
            win_slot[2 * j + k] = s;
            if (s >= 0)
                __builtin_prefetch(&p->meta[s].prev_turn);
        }
    }
    struct cand_map other_at;
    cand_map_init(&other_at, WIN_N * n);
    int64_t *others = mr_xmalloc((WIN_N * n + 1) * sizeof *others);
    long *other_slot = mr_xmalloc((WIN_N * n + 1) * sizeof *other_slot);
    size_t n_others = 0;
    /*
     * Where each window's turn's scores are, found once here for the
     * mixing below: c + 1 for candidate c, −(o + 1) for others[o], 0 none.
     */
    long *where = mr_xcalloc(WIN_N * n + 1, sizeof *where);
    for (size_t j = 0; j < n; j++) {
        if (slot[j] < 0)
            continue;
        int64_t *w = win + WIN_N * j;
        long ps = win_slot[2 * j + WIN_PREV], ns = win_slot[2 * j + WIN_NEXT];
        w[WIN_PREV2] = ps >= 0 ? p->meta[ps].prev_turn : 0;
        w[WIN_NEXT2] = ns >= 0 ? p->meta[ns].next_turn : 0;
        const long known[WIN_N] = {ps, ns, -1, -1};
        for (int k = 0; k < WIN_N; k++) {
            long c = w[k] ? cand_map_get(&at, w[k]) : -1;
            if (!w[k] || c >= 0) {
                where[WIN_N * j + k] = c + 1;
                continue;
            }
            long o = cand_map_get(&other_at, w[k]);
            if (o < 0) {
                o = (long)n_others;
                cand_map_add(&other_at, w[k], n_others);
                other_slot[n_others] = known[k];
                others[n_others++] = w[k];
            }
            where[WIN_N * j + k] = -(o + 1);
        }
    }
    free(win_slot);
    /* One batch: the added candidates' own BM25, then the others'. */
    size_t n_ids = (n - n0) + n_others;
    int64_t *ids = mr_xmalloc((n_ids + 1) * sizeof *ids);
    for (size_t j = n0; j < n; j++)
        ids[j - n0] = out[j].id;
    memcpy(ids + (n - n0), others, n_others * sizeof *ids);
    double *bm25 = mr_xcalloc(n_ids + 1, sizeof *bm25);
    mr_lex_index_score_kept(p->lex, stats, q->terms, kept, ids, n_ids, bm25);
    for (size_t j = n0; j < n; j++)
        out[j].lexical = mr_lex_normalise(bm25[j - n0], max);
    const double *other_bm25 = bm25 + (n - n0);
    /* The others' cosines, when the semantic side takes context too. */
    bool cosines = q->cosine_context && q->vec;
    float *other_cos = mr_xcalloc(n_others + 1, sizeof *other_cos);
    if (cosines) {
        const float **ov = mr_xcalloc(n_others + 1, sizeof *ov);
        ix_part_vecs(ix, p, others, other_slot, n_others, ov);
        for (size_t k = 0; k < n_others; k++)
            other_cos[k] = ov[k] ? dot(q->vec, ov[k], ix->dim) : 0;
        free(ov);
    }
    /* Every candidate's own scores, before any context: what its window's turns read. */
    double *own = mr_xmalloc((n + 1) * sizeof *own);
    float *own_cos = mr_xmalloc((n + 1) * sizeof *own_cos);
    for (size_t j = 0; j < n; j++) {
        own[j] = out[j].lexical;
        own_cos[j] = out[j].cosine;
    }
    for (size_t j = 0; j < n; j++) {
        const int64_t *w = win + WIN_N * j;
        if (!w[WIN_PREV] && !w[WIN_NEXT])
            continue; /* not a turn of p, or one alone: its own scores, exactly */
        double side[WIN_N];
        float side_cos[WIN_N];
        size_t n_cos = 0; /* the window's turns that exist, in WIN_ order */
        for (int k = 0; k < WIN_N; k++) {
            long at_k = where[WIN_N * j + k], c = at_k - 1, o = -at_k - 1;
            side[k] = at_k > 0 ? own[c] : at_k < 0 ? mr_lex_normalise(other_bm25[o], max) : 0;
            if (w[k])
                side_cos[n_cos++] = at_k > 0 ? own_cos[c] : at_k < 0 ? other_cos[o] : 0;
        }
        out[j].lexical = mr_lex_context(own[j], side[WIN_PREV], side[WIN_NEXT], side[WIN_PREV2],
                                        side[WIN_NEXT2]);
        if (cosines)
            out[j].cosine = mr_index_cosine_context(own_cos[j], side_cos, n_cos);
    }
    free(own_cos);
    free(own);
    free(where);
    free(other_cos);
    free(bm25);
    free(ids);
    free(other_slot);
    free(others);
    cand_map_free(&other_at);
    free(win);
    free(slot);
    cand_map_free(&at);
    return n;
}

float mr_index_cosine_context(float own, const float *window, size_t n)
{
    if (n == 0)
        return own;
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += mr_clamp01(window[i]);
    /* Written out in one order: both stores add the same doubles. */
    return (float)((mr_clamp01(own) + sum / (double)n) * 0.5);
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
    /* Each partition's lexical sums, for its later scores (NULL: computed when asked). */
    struct mr_lex_scores *kept[2] = {NULL, NULL};
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
            n_lex += mr_lex_index_search_kept(parts[i]->lex, stats, q->terms, lex_accept, &acc, kl,
                                              lex + n_lex, NULL, &kept[i]);
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
            mr_lex_index_score_kept(parts[pi]->lex, stats, q->terms, kept[pi], vec_ids, n_vec,
                                    bm25);
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
    const struct ix_part **lex_part = mr_xcalloc(n_lex + 1, sizeof *lex_part);
    long *lex_slot = mr_xmalloc((n_lex + 1) * sizeof *lex_slot);
    for (size_t i = 0; i < n_lex; i++) {
        if (!q->vec || bsearch(&lex[i].id, vec_ids, n_vec, sizeof *vec_ids, cmp_id))
            continue;
        const struct ix_part *p = parts[part_of(parts, n_parts, lex[i].id)];
        lex_slot[i] = n_parts == 1 && i < acc.n && acc.ids[i] == lex[i].id
                          ? acc.slots[i]
                          : ix_part_slot(p, lex[i].id);
        lex_part[i] = p;
        /* In a graph the vector is found by id: its node's cell first, for all of them. */
        if (lex_slot[i] >= 0 && p->graph)
            hnsw_prefetch(p->graph, lex[i].id);
    }
    for (size_t i = 0; i < n_lex; i++) {
        const struct ix_part *p = lex_part[i];
        if (!p || lex_slot[i] < 0)
            continue;
        vecs[i] =
            p->graph ? hnsw_vector(p->graph, lex[i].id) : p->vecs + (size_t)lex_slot[i] * ix->dim;
        for (size_t b = 0; vecs[i] && b < ix->dim * sizeof(float); b += 64)
            __builtin_prefetch((const char *)vecs[i] + b);
    }
    free(lex_slot);
    free(lex_part);
    for (size_t i = 0; i < n_lex; i++) {
        if (bsearch(&lex[i].id, vec_ids, n_vec, sizeof *vec_ids, cmp_id))
            continue;
        float cosine = vecs[i] ? dot(q->vec, vecs[i], ix->dim) : 0;
        out[n++] = (struct mr_index_candidate){lex[i].id, cosine, lex[i].lexical};
    }
    free(vecs);
    /* The modes that rank by the lexical side; semantic mode's numbers stay the turn's own. */
    if (q->neighbour_context && want_lex && own && parts[0] == own)
        n = with_context(ix, own, &filters[0], stats, kept[0], q, max, lex, n_lex, out, n);
unlock:
    pthread_rwlock_unlock(&ix->lock);
    mr_lex_scores_free(kept[0]);
    mr_lex_scores_free(kept[1]);
    free(vec);
    free(lex);
    free(vec_ids);
    free(acc.ids);
    free(acc.slots);
    *out_n = n;
    return 0;
}
