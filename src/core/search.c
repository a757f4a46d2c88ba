/*
 * search.c — ranked search (DESIGN.md §3, §4, §8; docs/ranking.md): embed
 * the query and cut it into lexical terms; take the candidates of the
 * request's mode with every filter applied before ranking — each side's
 * best k' in hybrid (mr_fusion_depth_vector, mr_fusion_depth_lexical:
 * different depths per side), the one side's best `limit`
 * in semantic or lexical mode — with both scores computed exactly for each;
 * fuse (src/core/fusion.c), cut at min_similarity on the fused score, keep
 * the first `limit` that still pass every filter when read back, in a read
 * transaction; then record the access of each returned memory (+1 access,
 * +0.01 importance, promotion) in the service's pending access table
 * (src/core/access.c), which merges it into what every later read serves
 * and writes it to the store in batches off the request path: a search
 * writes nothing.
 *
 * Candidates come from the in-process index (SQLite: both sides, one call)
 * or from the store's own indexes (PostgreSQL: pgvector for the vector
 * side, a GIN-indexed term column and per-partition statistics for the
 * lexical one; search_store), with the same numbers either way; ranking,
 * the cut and the access writes are shared.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core_int.h"
#include "memori/fusion.h"
#include "memori/lexical.h"
#include "memori/rules.h"

void mr_search_results_clear(struct mr_search_results *r)
{
    for (size_t i = 0; i < r->n; i++)
        mr_memory_clear(&r->memories[i]);
    free(r->memories);
    free(r->scores);
    free(r->semantic);
    free(r->lexical);
    memset(r, 0, sizeof *r);
}

/*
 * Whether m, as read back in the request's transaction, still passes every
 * filter of q for who. The index scan (or the store's search statement)
 * applied them to what it saw; a commit between that and the read may have
 * archived, deleted, moved, unshared or re-typed the memory, and the clock
 * may have passed its expiry.
 */
static bool search_admits(const struct mr_service *svc, const struct mr_identity *who,
                          const struct mr_index_query *q, const struct mr_memory *row)
{
    /* As served: a pending promotion has changed its type and expiry already. */
    struct mr_memory view = *row, *m = &view;
    core_access_peek(svc->access, m);
    /* core_shared_with: relaxed isolation's sharing, and tenant knowledge in both levels. */
    if (!core_owns(who, m->user_id, m->tenant_id) && !core_shared_with(svc, who, m))
        return false;
    if (q->type_mask && !(q->type_mask & (1u << m->memory_type)))
        return false;
    if (m->is_archived && !q->include_archived)
        return false;
    if (mr_rule_is_expired(m, q->now))
        return false;
    return !q->conversation_id || strcmp(q->conversation_id, m->conversation_id) == 0;
}

/* Room for `limit` results. */
static void results_init(struct mr_search_results *out, size_t limit)
{
    out->memories = mr_xcalloc(limit + 1, sizeof *out->memories);
    out->scores = mr_xcalloc(limit + 1, sizeof *out->scores);
    out->semantic = mr_xcalloc(limit + 1, sizeof *out->semantic);
    out->lexical = mr_xcalloc(limit + 1, sizeof *out->lexical);
}

/* Appends m (taken) with candidate c's scores. */
static void results_push(struct mr_search_results *out, const struct mr_fusion *f,
                         const struct mr_fusion_candidate *c, struct mr_memory *m)
{
    out->memories[out->n] = *m;
    out->scores[out->n] = c->score;
    out->semantic[out->n] = mr_fusion_semantic(f, c->cosine);
    out->lexical[out->n] = c->lexical;
    out->n++;
}

/* What one search asks, resolved: the fusion it ranks with and its cut. */
struct search_plan {
    struct mr_fusion f;
    double min_similarity;
    size_t limit;
};

/* The score a candidate must reach: a hair below the threshold, so rounding never drops a tie. */
static bool passes(const struct search_plan *plan, const struct mr_fusion_candidate *c)
{
    return c->score >= plan->min_similarity - 1e-6;
}

int core_index_candidates(struct mr_service *svc, const struct mr_identity *who,
                          const struct mr_index_query *q, struct mr_fusion_candidate **out,
                          size_t *out_n, struct mr_err *err)
{
    /* The lexical hits, and their neighbouring turns (neighbour context, index.h). */
    size_t room =
        q->limit + (q->neighbour_context ? 3 : 1) * (q->lex_limit ? q->lex_limit : q->limit);
    struct mr_index_candidate *got = mr_xcalloc(room + 1, sizeof *got);
    size_t n = 0;
    int rc = mr_index_candidates(svc->index, who, q, got, &n, err);
    struct mr_fusion_candidate *c = mr_xcalloc(n + 1, sizeof *c);
    for (size_t i = 0; rc == 0 && i < n; i++)
        c[i] = (struct mr_fusion_candidate){.id = got[i].id,
                                            .cosine = got[i].cosine,
                                            .lexical = got[i].lexical,
                                            .has_cosine = true,
                                            .has_lexical = true};
    free(got);
    *out = c;
    *out_n = rc == 0 ? n : 0;
    return rc;
}

/*
 * The in-process index's candidates for q (both sides under one read lock),
 * ranked; the first plan->limit that pass the cut and, read back from the
 * store in the read transaction tx (opened here, after the index), every
 * filter.
 */
static int search_index(struct mr_service *svc, const struct mr_identity *who,
                        const struct mr_index_query *q, const struct search_plan *plan,
                        struct core_trace *t, struct mr_store_tx **out_tx,
                        struct mr_search_results *out, struct mr_err *err)
{
    struct mr_fusion_candidate *c = NULL;
    size_t n = 0;
    int64_t t0 = core_clock(svc);
    int rc = core_index_candidates(svc, who, q, &c, &n, err);
    mr_fusion_rank(&plan->f, c, n);
    t->index_us += core_clock(svc) - t0;
    if (rc == 0)
        rc = mr_store_begin(svc->store, MR_TX_READ, out_tx, err);
    if (rc) {
        free(c);
        return rc;
    }
    results_init(out, plan->limit);
    for (size_t i = 0; i < n && out->n < plan->limit && passes(plan, &c[i]); i++) {
        struct mr_memory m;
        int r = mr_store_mem_get_by_id(*out_tx, c[i].id, &m, err);
        if (r == MR_ENOTFOUND)
            continue; /* deleted between the index and now: the next candidate takes its place */
        if (r != 0) {
            rc = r;
            break;
        }
        if (!search_admits(svc, who, q, &m)) {
            mr_memory_clear(&m);
            continue;
        }
        results_push(out, &plan->f, &c[i], &m);
    }
    free(c);
    return rc;
}

/* Rows (sorted by id) by id; NULL when absent (deleted since the candidates were chosen). */
static struct mr_memory *row_by_id(struct mr_memory *rows, size_t n, int64_t id)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (rows[mid].id == id)
            return &rows[mid];
        if (rows[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static int cmp_id(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static bool has_id(const struct mr_fusion_candidate *c, size_t n, int64_t id)
{
    for (size_t i = 0; i < n; i++)
        if (c[i].id == id)
            return true;
    return false;
}

/*
 * What neighbour context knows of the store's candidates: each one's window,
 * the turns two before and two after it (mr_lex_context's, in process
 * src/index/candidates.c's).
 */
enum { AROUND_PREV2, AROUND_PREV, AROUND_NEXT, AROUND_NEXT2, AROUND_N };

struct context {
    int64_t *around; /* AROUND_N per candidate (0: none) */
    int64_t *nb;     /* the ids of the turns read around the candidates ... */
    double *nb_bm25; /* ... and their raw BM25 */
    size_t n_nb;
};

static void context_free(struct context *x)
{
    free(x->around);
    free(x->nb);
    free(x->nb_bm25);
}

/*
 * The lexical hits' previous and next turns join the candidates c (room for
 * *n + 2 · n_lex), unfiltered — the results are filtered when read back, so
 * the ranking of what passes is the in-process index's — and x->around gets
 * each candidate's window, from x->nb: the window of each of ids[0..m) (c's
 * first m) as mem_neighbours gives it (MR_STORE_WINDOW per id: three
 * before, three after).
 */
static void context_extend(const int64_t *ids, size_t m, const struct mr_lex_hit *lex, size_t n_lex,
                           struct mr_fusion_candidate *c, size_t *n, struct context *x)
{
    const int64_t *win = x->nb;
    enum { B3, B2, B1, A1, A2, A3 }; /* a store window's slots: 3, 2, 1 before, 1, 2, 3 after */
    for (size_t i = 0; i < m; i++) {
        const int64_t *w = win + MR_STORE_WINDOW * i;
        int64_t *a = x->around + AROUND_N * i;
        a[AROUND_PREV2] = w[B2];
        a[AROUND_PREV] = w[B1];
        a[AROUND_NEXT] = w[A1];
        a[AROUND_NEXT2] = w[A2];
    }
    /* A hit's neighbour's own window: the hit's, one turn along (its third turns included). */
    for (size_t h = 0; h < n_lex; h++) {
        size_t i = 0;
        while (i < m && ids[i] != lex[h].id)
            i++;
        if (i == m)
            continue;
        const int64_t *w = win + MR_STORE_WINDOW * i;
        /* The turn before the hit, then the one after: each id and its window. */
        const int64_t nb[2][1 + AROUND_N] = {{w[B1], w[B3], w[B2], ids[i], w[A1]},
                                             {w[A1], w[B1], ids[i], w[A2], w[A3]}};
        for (int k = 0; k < 2; k++) {
            if (!nb[k][0] || has_id(c, *n, nb[k][0]))
                continue;
            c[*n] = (struct mr_fusion_candidate){.id = nb[k][0]};
            memcpy(x->around + AROUND_N * *n, nb[k] + 1, AROUND_N * sizeof *x->around);
            (*n)++;
        }
    }
}

/* x's arrays for the m candidates of c and the neighbours of n_lex hits; their ids into ids. */
static int64_t *context_alloc(const struct mr_fusion_candidate *c, size_t m, size_t n_lex,
                              struct context *x)
{
    int64_t *ids = mr_xcalloc(m + 1, sizeof *ids);
    x->nb = mr_xcalloc(MR_STORE_WINDOW * m + 1, sizeof *x->nb);
    x->nb_bm25 = mr_xcalloc(MR_STORE_WINDOW * m + 1, sizeof *x->nb_bm25);
    x->around = mr_xcalloc(AROUND_N * (m + 2 * n_lex) + 1, sizeof *x->around);
    x->n_nb = MR_STORE_WINDOW * m;
    for (size_t i = 0; i < m; i++)
        ids[i] = c[i].id;
    return ids;
}

/*
 * Neighbour context on the store's candidates (docs/ranking.md; what
 * src/index/candidates.c does in process): the turns around every
 * candidate with their BM25, in one statement, then context_extend.
 */
static int context_candidates(struct mr_store_tx *tx, const struct mr_identity *who,
                              const struct mr_lex_terms *terms, const struct mr_lex_hit *lex,
                              size_t n_lex, struct mr_fusion_candidate *c, size_t *n,
                              struct context *x, struct mr_err *err)
{
    size_t m = *n;
    int64_t *ids = context_alloc(c, m, n_lex, x);
    int rc = mr_store_mem_neighbours(tx, who, terms, ids, m, x->nb, x->nb_bm25, err);
    if (rc == 0)
        context_extend(ids, m, lex, n_lex, c, n, x);
    free(ids);
    return rc;
}

/* The embeddings mem_sides_context read with the context step, by id (mem_context's). */
struct read_vecs {
    int64_t *ids; /* ascending */
    float *vecs;  /* dim floats per id */
    size_t n;
    bool read; /* they replace mem_candidates' */
};

/*
 * Hybrid's context step, done by the store with the candidates
 * (mem_sides_context: the turns around every candidate and the embeddings
 * of every row the scores read — the candidates', the hits' neighbours'
 * (they join the candidates) and, with cosines, the turns whose cosines
 * lend context — with the BM25s at hand, bm25_known): each candidate's
 * window from the ones it gave by id (windows of ids[0..n_ids),
 * ascending), then context_extend.
 */
static void context_given(const int64_t *ids, const int64_t *windows, size_t n_ids,
                          const struct mr_lex_hit *lex, size_t n_lex, struct mr_fusion_candidate *c,
                          size_t *n, struct context *x)
{
    size_t m = *n;
    int64_t *cids = context_alloc(c, m, n_lex, x);
    for (size_t i = 0; i < m; i++) {
        const int64_t *at = n_ids ? bsearch(&cids[i], ids, n_ids, sizeof *ids, cmp_id) : NULL;
        if (at)
            memcpy(x->nb + MR_STORE_WINDOW * i, windows + MR_STORE_WINDOW * (size_t)(at - ids),
                   MR_STORE_WINDOW * sizeof *x->nb);
    }
    context_extend(cids, m, lex, n_lex, c, n, x);
    free(cids);
}

/* The raw BM25 of id: a candidate's (ids, bm25: n), or else one read around them (x). */
static double bm25_of(int64_t id, const int64_t *ids, const double *bm25, size_t n,
                      const struct context *x)
{
    for (size_t i = 0; i < n; i++)
        if (ids[i] == id)
            return bm25[i];
    for (size_t i = 0; i < x->n_nb; i++)
        if (x->nb[i] == id)
            return x->nb_bm25[i];
    return 0;
}

/* The cosine of id: a candidate's, or a neighbour's read with them (ids, cos: n); 0 if absent. */
static float cosine_of(int64_t id, const int64_t *ids, const float *cos, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (ids[i] == id)
            return cos[i];
    return 0;
}

/*
 * Each candidate's lexical score with its window's (mr_lex_context), all
 * normalised by the candidates' max (one query, one normaliser), and with
 * cos (the own cosines of ids[0..n_cos): the n candidates', then the
 * window turns' no candidate is) its cosine with theirs
 * (mr_index_cosine_context), as the in-process index does.
 */
static void context_scores(const int64_t *ids, const double *bm25, size_t n, double max,
                           const float *cos, size_t n_cos, const struct context *x,
                           struct mr_fusion_candidate *c)
{
    for (size_t i = 0; i < n; i++) {
        const int64_t *a = x->around + AROUND_N * i;
        if (!a[AROUND_PREV] && !a[AROUND_NEXT])
            continue; /* not a turn, or one alone: its own score, exactly */
        double lex[AROUND_N];
        float nb_cos[AROUND_N];
        size_t n_nb = 0;
        /* The window's turns that exist, in the in-process index's order (index.h). */
        static const int order[AROUND_N] = {AROUND_PREV, AROUND_NEXT, AROUND_PREV2, AROUND_NEXT2};
        for (int k = 0; k < AROUND_N; k++) {
            int64_t t = a[order[k]];
            lex[order[k]] = t ? mr_lex_normalise(bm25_of(t, ids, bm25, n, x), max) : 0;
            if (cos && t)
                nb_cos[n_nb++] = cosine_of(t, ids, cos, n_cos);
        }
        c[i].lexical = mr_lex_context(c[i].lexical, lex[AROUND_PREV], lex[AROUND_NEXT],
                                      lex[AROUND_PREV2], lex[AROUND_NEXT2]);
        if (cos)
            c[i].cosine = mr_index_cosine_context(cos[i], nb_cos, n_nb);
    }
}

/* id's BM25 in all[0..n) (by id, mem_sides_search's out_all); 0 when absent: it holds no term. */
static double bm25_known(const struct mr_lex_hit *all, size_t n, int64_t id)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (all[mid].id == id)
            return all[mid].bm25;
        if (all[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

/*
 * The store's candidates for q (PostgreSQL), inside tx: each side's from the
 * store with every filter applied — the vector side's best q->limit by
 * pgvector's HNSW, the lexical side's best q->limit by BM25 over the
 * postings with the partition's statistics (in hybrid mode both in one
 * round trip and one snapshot, and with neighbour context the lexical
 * side's filter check in the context statement: mem_sides_context) — their
 * union, then
 * every candidate's embedding and BM25 (from the statistics read by the same
 * statement), its cosine computed here with the in-process index's kernel:
 * the numbers are the bits an embedded server computes over the same
 * memories, so both stores rank alike (test_store_ranking). Unranked, no
 * row locked; a candidate deleted meanwhile is left out.
 */
int core_store_candidates(struct mr_store_tx *tx, const struct mr_identity *who,
                          const struct mr_index_query *q, struct mr_fusion_candidate **out,
                          size_t *out_n, struct mr_err *err)
{
    int rc = 0;
    bool has_terms = q->terms && mr_lex_terms_count(q->terms) > 0;
    struct mr_index_hit *vec = NULL;
    struct mr_lex_hit *lex = NULL;
    struct mr_fusion_candidate *c = NULL;
    int64_t *ids = NULL;
    double *bm25 = NULL;
    float *vecs = NULL;
    bool *found = NULL;
    float *own_cos = NULL;         /* the semantic side's context: each row's own cosine */
    struct context around = {0};   /* neighbour context: the turns around the candidates */
    struct read_vecs rv = {0};     /* hybrid: the embeddings the context step read */
    struct mr_lex_hit *all = NULL; /* hybrid: every BM25 the lexical side computed, by id */
    size_t n_all = 0;
    size_t n_vec = 0, n_lex = 0, n = 0, dim = q->dim;
    double max = 0;
    *out = NULL;
    *out_n = 0;
    size_t k_lex = q->lex_limit ? q->lex_limit : q->limit;
    bool hybrid =
        (q->sides & MR_INDEX_SIDE_VECTOR) && (q->sides & MR_INDEX_SIDE_LEXICAL) && has_terms;
    bool context = q->neighbour_context && (q->sides & MR_INDEX_SIDE_LEXICAL) && has_terms;
    bool cosines = context && q->cosine_context && q->vec;
    int64_t *given_ids = NULL, *given_windows = NULL; /* hybrid's windows, by id */
    size_t n_given = 0;
    if (hybrid && context) {
        /* Both sides and the context step, in two round trips and one snapshot (store.h). */
        rc = mr_store_mem_sides_context(tx, who, q, q->terms, k_lex, cosines, dim, &vec, &n_vec,
                                        &lex, &n_lex, &max, &all, &n_all, &given_ids,
                                        &given_windows, &n_given, &rv.ids, &rv.vecs, &rv.n, err);
        rv.read = rc == 0;
    } else if (hybrid) {
        /* Both sides sent together, one round trip and one snapshot (store.h). */
        rc = mr_store_mem_sides_search(tx, who, q, q->terms, k_lex, &vec, &n_vec, &lex, &n_lex,
                                       &max, &all, &n_all, err);
    } else if (q->sides & MR_INDEX_SIDE_VECTOR) {
        /*
         * Semantic mode's cut is the vector side's own: pgvector orders by
         * its cosine in double, the kernel's float ones may tie where its
         * don't, so a margin lets the exact ranking break those ties as the
         * in-process index does (lower id first).
         */
        struct mr_index_query vq = *q;
        if (q->sides == MR_INDEX_SIDE_VECTOR)
            vq.limit += q->limit;
        rc = mr_store_mem_vector_search(tx, who, &vq, &vec, &n_vec, err);
    } else if ((q->sides & MR_INDEX_SIDE_LEXICAL) && has_terms) {
        rc = mr_store_mem_lex_search(tx, who, q, q->terms, k_lex, &lex, &n_lex, &max, err);
    }
    if (rc)
        goto out;
    /* Room for the lexical hits' neighbouring turns too (neighbour context). */
    c = mr_xcalloc(n_vec + 3 * n_lex + 1, sizeof *c);
    n = mr_fusion_union(vec, n_vec, lex, n_lex, c);
    /*
     * With every BM25 at hand (hybrid), the statements below need not read
     * the rows' terms again: they are scored from it, the same bits.
     */
    const struct mr_lex_terms *read_terms = all ? NULL : has_terms ? q->terms : NULL;
    if (rv.read)
        context_given(given_ids, given_windows, n_given, lex, n_lex, c, &n, &around);
    else if (context)
        rc = context_candidates(tx, who, read_terms, lex, n_lex, c, &n, &around, err);
    if (rc)
        goto out;
    for (size_t i = 0; all && i < around.n_nb; i++)
        around.nb_bm25[i] = around.nb[i] ? bm25_known(all, n_all, around.nb[i]) : 0;
    /*
     * The rows read: the candidates, then (the semantic side's context) the
     * turns around them no candidate is, for their embeddings only.
     */
    size_t n_read = n, cap = cosines ? (1 + AROUND_N) * n : n;
    ids = mr_xcalloc(cap + 1, sizeof *ids);
    bm25 = mr_xcalloc(cap + 1, sizeof *bm25);
    found = mr_xcalloc(cap + 1, sizeof *found);
    for (size_t i = 0; i < n; i++)
        ids[i] = c[i].id;
    for (size_t i = 0; cosines && i < AROUND_N * n; i++) {
        int64_t id = around.around[i];
        bool known = !id;
        for (size_t k = 0; !known && k < n_read; k++)
            known = ids[k] == id;
        if (!known)
            ids[n_read++] = id;
    }
    vecs = mr_xcalloc(n_read * dim + 1, sizeof *vecs);
    double read_max = 0;
    if (rv.read) { /* mem_sides_context has read them: the same rows, the same snapshot */
        for (size_t i = 0; i < n_read; i++) {
            const int64_t *at =
                rv.n ? bsearch(&ids[i], rv.ids, rv.n, sizeof *rv.ids, cmp_id) : NULL;
            if (!at)
                continue;
            memcpy(vecs + i * dim, rv.vecs + (size_t)(at - rv.ids) * dim, dim * sizeof *vecs);
            found[i] = true;
        }
    } else if ((rc = mr_store_mem_candidates(tx, who, read_terms, ids, n_read, dim, vecs, found,
                                             bm25, &read_max, err)) != 0) {
        goto out;
    }
    if (all) /* the normaliser stays the lexical side's: the same statistics */
        for (size_t i = 0; i < n; i++)
            bm25[i] = bm25_known(all, n_all, ids[i]);
    else
        max = read_max;
    /* One statement's snapshot: one normaliser, one order. */
    mr_dot_fn dot = mr_index_dot_fn();
    size_t kept = 0;
    if (cosines) {
        /* Every row's own cosine first: the context reads the neighbours' unmixed. */
        own_cos = mr_xcalloc(n_read + 1, sizeof *own_cos);
        for (size_t i = 0; i < n_read; i++)
            own_cos[i] = found[i] ? dot(q->vec, vecs + i * dim, dim) : 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (!found[i])
            continue;
        c[i].cosine = own_cos ? own_cos[i] : q->vec ? dot(q->vec, vecs + i * dim, dim) : 0;
        c[i].lexical = has_terms ? mr_lex_normalise(bm25[i], max) : 0;
        c[i].has_cosine = c[i].has_lexical = true;
    }
    if (context)
        context_scores(ids, bm25, n, max, own_cos, n_read, &around, c);
    for (size_t i = 0; i < n; i++)
        if (found[i])
            c[kept++] = c[i];
    *out = c;
    *out_n = kept;
    c = NULL;
out:
    free(given_ids);
    free(given_windows);
    context_free(&around);
    free(rv.ids);
    free(rv.vecs);
    free(own_cos);
    free(all);
    free(ids);
    free(bm25);
    free(found);
    free(vecs);
    free(c);
    free(vec);
    free(lex);
    return rc;
}

/*
 * The store's own search (PostgreSQL), inside the request's transaction:
 * core_store_candidates ranked as search_index ranks, and only the results
 * read back (in id order, as one batch), in a read transaction: nothing is
 * locked, the accesses are merged into the rows later (access.c).
 */
static int search_store(struct mr_service *svc, const struct mr_identity *who,
                        const struct mr_index_query *q, const struct search_plan *plan,
                        struct mr_store_tx **out_tx, struct mr_search_results *out,
                        struct mr_err *err)
{
    int rc = mr_store_begin(svc->store, MR_TX_READ, out_tx, err);
    if (rc)
        return rc;
    struct mr_store_tx *tx = *out_tx;
    struct mr_fusion_candidate *c = NULL;
    size_t n = 0;
    if ((rc = core_store_candidates(tx, who, q, &c, &n, err)) != 0)
        return rc;
    mr_fusion_rank(&plan->f, c, n);
    int64_t *ids = mr_xcalloc(n + 1, sizeof *ids);
    /*
     * Only what is returned is read back: the best over the cut, in id
     * order, read back and filtered again; the
     * next ones take the place of any a commit meanwhile deleted or moved
     * out of the filters (one round almost always).
     */
    results_init(out, plan->limit);
    size_t next = 0;
    while (rc == 0 && out->n < plan->limit && next < n && passes(plan, &c[next])) {
        size_t from = next, k = 0;
        for (; next < n && k < plan->limit - out->n && passes(plan, &c[next]); next++)
            ids[k++] = c[next].id;
        qsort(ids, k, sizeof *ids, cmp_id);
        struct mr_memory *rows = NULL;
        size_t n_rows = 0;
        if ((rc = mr_store_mem_lock(tx, ids, k, &rows, &n_rows, err)) != 0)
            break;
        bool *taken = mr_xcalloc(n_rows + 1, sizeof *taken);
        for (size_t i = from; i < next; i++) {
            struct mr_memory *m = row_by_id(rows, n_rows, c[i].id);
            if (!m || !search_admits(svc, who, q, m))
                continue;
            results_push(out, &plan->f, &c[i], m);
            taken[m - rows] = true;
        }
        for (size_t i = 0; i < n_rows; i++)
            if (!taken[i])
                mr_memory_clear(&rows[i]);
        free(taken);
        free(rows);
    }
    free(ids);
    free(c);
    return rc;
}

/*
 * The plan for q: the requested mode, the one side a hybrid query has (mr_fusion_for_query), and
 * the mode's default threshold unless q gives one; then what the index asks of each side.
 */
static void plan_search(const struct mr_service *svc, const struct mr_search *q, bool has_vector,
                        bool has_terms, struct search_plan *plan, struct mr_index_query *iq)
{
    struct mr_fusion f = MR_FUSION_DEFAULTS;
    f.mode = q->mode;
    f.lexical_weight = svc->lexical_weight;
    plan->f = mr_fusion_for_query(&f, has_vector, has_terms);
    unsigned m = (unsigned)plan->f.mode < MR_SEARCH_MODES ? (unsigned)plan->f.mode : 0;
    /* 0 is a valid threshold (DESIGN.md §4 fixes the reference's `or`). */
    plan->min_similarity = q->has_min_similarity ? q->min_similarity : svc->min_similarity[m];
    plan->limit = q->limit ? q->limit : (size_t)svc->default_limit;
    switch (plan->f.mode) {
    case MR_SEARCH_SEMANTIC: {
        /* Ranked by the cosine alone: its best `limit` over the cut are the results. */
        double floor = plan->f.semantic_floor;
        iq->sides = MR_INDEX_SIDE_VECTOR;
        iq->limit = plan->limit;
        iq->min_score = (float)(floor + plan->min_similarity * (1 - floor) - 1e-6);
        break;
    }
    case MR_SEARCH_LEXICAL:
        iq->sides = MR_INDEX_SIDE_LEXICAL;
        iq->neighbour_context = true;
        iq->limit = plan->limit;
        iq->min_score = -INFINITY;
        break;
    case MR_SEARCH_HYBRID:
    default:
        /*
         * Enough of each side that the fused top `limit` keeps the quality of
         * the exact one (docs/ranking.md, "The candidate depth k'").
         */
        iq->sides = MR_INDEX_SIDE_VECTOR | MR_INDEX_SIDE_LEXICAL;
        iq->limit = mr_fusion_depth_vector(plan->limit);
        iq->lex_limit = mr_fusion_depth_lexical(plan->limit);
        iq->min_score = -INFINITY;
        /* A turn's conversation is its context (docs/ranking.md, "Neighbour context"). */
        iq->neighbour_context = true;
        iq->cosine_context = true;
        break;
    }
    /* Only the results need the vector side's exact order (the int8 scan's rescoring). */
    iq->results = plan->limit;
}

int mr_memory_search(struct mr_service *svc, const struct mr_identity *who,
                     const struct mr_search *q, struct mr_search_results *out, struct mr_err *err)
{
    struct core_trace t;
    core_trace_start(svc, &t);
    memset(out, 0, sizeof *out);
    float *qv = NULL;
    struct mr_lex_terms *terms = NULL;
    int rc = core_embed(svc, q->query, q->query_len, &t, &qv, err);
    if (rc)
        goto out;
    size_t dim = mr_embed_dim(svc->embedder);
    terms = mr_lex_terms_new(q->query, q->query_len);
    int64_t now = mr_clock_now(svc->clock);
    struct mr_index_query iq = {
        .vec = qv,
        .dim = dim,
        .conversation_id = q->conversation_id,
        .type_mask = q->type_mask,
        .include_archived = q->include_archived,
        .now = now,
        .include_shared = svc->relaxed_sharing,
        .terms = terms,
    };
    struct search_plan plan;
    plan_search(svc, q, core_vec_nonzero(qv, dim), mr_lex_terms_count(terms) > 0, &plan, &iq);
    /*
     * The rows are read, then merged with their pending accesses and this
     * one recorded (of the results, the caller's own; others' shared ones
     * stay untouched). When a flush committed during the read, the search
     * runs again: its filters (type, expiry) must see the rows as served.
     */
    bool *record = NULL, *promoted = NULL;
    for (;;) {
        struct mr_store_tx *tx = NULL;
        uint64_t seen = core_access_epoch(svc->access);
        rc = core_searches_in_store(svc) ? search_store(svc, who, &iq, &plan, &tx, out, err)
                                         : search_index(svc, who, &iq, &plan, &t, &tx, out, err);
        if (tx)
            mr_store_rollback(tx); /* a read transaction: nothing to commit */
        if (rc)
            break;
        record = mr_xcalloc(out->n + 1, sizeof *record);
        promoted = mr_xcalloc(out->n + 1, sizeof *promoted);
        for (size_t i = 0; i < out->n; i++)
            record[i] = core_owns(who, out->memories[i].user_id, out->memories[i].tenant_id);
        if (core_access_apply(svc->access, seen, out->memories, out->n, record, promoted, now))
            break;
        free(record);
        free(promoted);
        record = promoted = NULL;
        mr_search_results_clear(out);
    }
    out->mode = plan.f.mode;
    /*
     * Promotions changed type and expiry: the index must filter on the new
     * values. Only those: an index write takes its write lock, which every
     * concurrent search would wait for.
     */
    for (size_t i = 0; rc == 0 && svc->index && i < out->n; i++)
        if (promoted && promoted[i])
            rc = core_index_put(svc, &out->memories[i], &t, err);
    free(record);
    free(promoted);
    if (rc)
        mr_search_results_clear(out);
out:
    free(qv);
    mr_lex_terms_free(terms);
    core_trace_end(svc, &t, "search", who, rc, "%zu results", out->n);
    return rc;
}
