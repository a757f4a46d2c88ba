/*
 * ctx_link.c — schema linking and selection (context.h, docs/context.md
 * "Schema linking"): a score per table from retrieval, the question's terms
 * in the table's name, columns and descriptions, and the examples' tables;
 * a few strong seeds chosen for what they add; the join forest between
 * them; the remaining slots by score.
 */
#include <stdlib.h>
#include <string.h>

#include "context_int.h"
#include "memori/lexical.h"
#include "memori/util.h"

/* Seeds are chosen among this many best tables: a seed is a strong table by definition. */
#define SEED_POOL 64

/* One question term's weight in a table: idf · the best field it occurs in. */
struct hit {
    uint32_t table;
    double c;
};

/* One question term: its idf over the schema's tables and its hits, by table. */
struct qterm {
    double idf;
    struct hit *hits;
    size_t nhits;
};

/* What the question's terms say about the schema, for one request. */
struct linking {
    struct qterm *q;
    size_t nq;
    double z;         /* the normaliser: the idf of every term some table holds */
    double *evidence; /* per table, in [0, 1] */
    uint8_t *matched; /* bit set over the vocabulary: the terms the question matched */
};

static double field_weight(const struct mr_ctx_link_params *p, uint32_t fields)
{
    double w = 0;
    if ((fields & CTX_FIELD_NAME) && p->name_weight > w)
        w = p->name_weight;
    if ((fields & CTX_FIELD_COLUMN) && p->column_weight > w)
        w = p->column_weight;
    if ((fields & CTX_FIELD_KEY_COLUMN) && p->key_column_weight > w)
        w = p->key_column_weight;
    if ((fields & CTX_FIELD_DESCRIPTION) && p->description_weight > w)
        w = p->description_weight;
    return w;
}

static int cmp_hit(const void *a, const void *b)
{
    const struct hit *x = a, *y = b;
    return x->table < y->table ? -1 : x->table > y->table;
}

/* Adds term id's postings, scaled by factor, to the table weights tw (touched lists them). */
static void take_postings(const struct mr_ctx_index *ix, const struct mr_ctx_link_params *p,
                          long id, double factor, double *tw, struct ctx_vec *touched,
                          uint8_t *matched)
{
    if (id < 0)
        return;
    matched[id / 8] |= (uint8_t)(1u << (id % 8));
    for (size_t k = ix->post_start[id]; k < ix->post_start[id + 1]; k++) {
        const struct ctx_posting *po = &ix->post[k];
        double w = factor * field_weight(p, po->fields);
        if (w <= 0)
            continue;
        if (tw[po->table] == 0)
            ctx_vec_push(touched, po->table);
        if (w > tw[po->table])
            tw[po->table] = w;
    }
}

/*
 * True when a (a schema term) abbreviates w (a question's term): same first
 * letter, and a's letters appear in w in order (`qty` in quantiti, `rcv` in
 * receiv, `cust` in custom), w longer.
 */
static bool abbreviates(const char *a, size_t na, const char *w, size_t nw)
{
    if (na >= nw || a[0] != w[0])
        return false;
    size_t j = 1;
    for (size_t i = 1; i < na; i++) {
        while (j < nw && w[j] != a[i])
            j++;
        if (j == nw)
            return false;
        j++;
    }
    return true;
}

static void linking_build(const struct mr_ctx_index *ix, const char *question, size_t len,
                          const struct mr_ctx_link_params *p, struct linking *L)
{
    size_t n = ix->n;
    memset(L, 0, sizeof *L);
    L->evidence = mr_xcalloc(n ? n : 1, sizeof *L->evidence);
    L->matched = mr_xcalloc(ix->nterms / 8 + 1, 1);
    struct mr_lex_terms *terms = mr_lex_terms_new(question ? question : "", question ? len : 0);
    size_t nt = mr_lex_terms_count(terms);
    L->q = mr_xcalloc(nt ? nt : 1, sizeof *L->q);
    double *tw = mr_xcalloc(n ? n : 1, sizeof *tw);
    struct ctx_vec touched = {0};
    for (size_t i = 0; i < nt; i++) {
        size_t tn;
        const char *ts = mr_lex_terms_term(terms, i, &tn);
        touched.n = 0;
        take_postings(ix, p, ctx_vocab_find(ix, ts, tn), 1, tw, &touched, L->matched);
        /* Abbreviations the schema uses for the question's word: `cust`, `qty`, `rcv`. */
        if (p->abbreviation_weight > 0 && tn > CTX_ABBR_MIN && ts[0] >= 'a' && ts[0] <= 'z') {
            size_t c = (size_t)(ts[0] - 'a');
            for (size_t k = ix->abbr_start[c]; k < ix->abbr_start[c + 1]; k++) {
                uint32_t id = ix->abbr[k];
                if (ix->term_len[id] < tn &&
                    abbreviates(ix->text + ix->term_off[id], ix->term_len[id], ts, tn))
                    take_postings(ix, p, id, p->abbreviation_weight, tw, &touched, L->matched);
            }
        }
        if (touched.n == 0)
            continue; /* a word no table holds says nothing about which table */
        struct qterm *q = &L->q[L->nq++];
        q->idf = mr_lex_idf(touched.n, n);
        q->nhits = touched.n;
        q->hits = mr_xmalloc(touched.n * sizeof *q->hits);
        for (size_t k = 0; k < touched.n; k++) {
            size_t t = touched.v[k];
            q->hits[k] = (struct hit){(uint32_t)t, q->idf * tw[t]};
            tw[t] = 0;
        }
        qsort(q->hits, q->nhits, sizeof *q->hits, cmp_hit);
        L->z += q->idf;
    }
    for (size_t i = 0; i < L->nq; i++)
        for (size_t k = 0; k < L->q[i].nhits; k++)
            L->evidence[L->q[i].hits[k].table] += L->q[i].hits[k].c / L->z;
    for (size_t t = 0; t < n; t++)
        L->evidence[t] = mr_clamp01(L->evidence[t]);
    free(touched.v);
    free(tw);
    mr_lex_terms_free(terms);
}

static void linking_free(struct linking *L)
{
    for (size_t i = 0; i < L->nq; i++)
        free(L->q[i].hits);
    free(L->q);
    free(L->evidence);
    free(L->matched);
}

/* Term i's weight in table t (0 when t does not hold it). */
static double term_weight(const struct qterm *q, size_t t)
{
    size_t lo = 0, hi = q->nhits;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (q->hits[mid].table == t)
            return q->hits[mid].c;
        if (q->hits[mid].table < t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

static void scores_from(const struct mr_ctx_index *ix, const struct linking *L,
                        const struct mr_ctx_candidate *candidates, size_t ncandidates,
                        const struct mr_ctx_example *examples, size_t nexamples,
                        const struct mr_ctx_link_params *p, double *out)
{
    size_t n = ix->n;
    double *ret = mr_xcalloc(n ? n : 1, sizeof *ret), *ex = mr_xcalloc(n ? n : 1, sizeof *ex);
    for (size_t i = 0; i < ncandidates; i++)
        if (candidates[i].table < n) {
            double r = mr_clamp01(candidates[i].retrieval);
            if (r > ret[candidates[i].table])
                ret[candidates[i].table] = r;
        }
    for (size_t i = 0; i < nexamples; i++)
        for (size_t k = 0; k < examples[i].ntables; k++) {
            long t = mr_ctx_index_find(ix, examples[i].tables[k]);
            double s = mr_clamp01(examples[i].score);
            if (t >= 0 && s > ex[t])
                ex[t] = s;
        }
    for (size_t t = 0; t < n; t++)
        out[t] = p->w_retrieval * ret[t] + p->w_evidence * L->evidence[t] + p->w_example * ex[t];
    free(ret);
    free(ex);
}

void mr_ctx_table_scores(const struct mr_ctx_index *ix, const char *question, size_t len,
                         const struct mr_ctx_candidate *candidates, size_t ncandidates,
                         const struct mr_ctx_example *examples, size_t nexamples,
                         const struct mr_ctx_link_params *params, double *out_scores)
{
    static const struct mr_ctx_link_params defaults = MR_CTX_LINK_DEFAULTS;
    const struct mr_ctx_link_params *p = params ? params : &defaults;
    struct linking L;
    linking_build(ix, question, len, p, &L);
    scores_from(ix, &L, candidates, ncandidates, examples, nexamples, p, out_scores);
    linking_free(&L);
}

/* ---- selection ----------------------------------------------------------- */

struct ranked {
    size_t table;
    double score;
    size_t rank;
};

static int cmp_ranked(const void *a, const void *b)
{
    const struct ranked *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return x->rank < y->rank ? -1 : x->rank > y->rank;
}

/*
 * The seeds (docs/context.md): the best table, then greedily the table that
 * adds the most — its score discounted by the share of its evidence the
 * seeds already cover — while that is at least seed_ratio of the best.
 */
static size_t choose_seeds(const struct linking *L, const struct ranked *order, size_t norder,
                           const struct mr_ctx_link_params *p, size_t max_seeds, size_t *out)
{
    if (norder == 0 || max_seeds == 0)
        return 0;
    size_t pool = norder < SEED_POOL ? norder : SEED_POOL;
    double *covered = mr_xcalloc(L->nq ? L->nq : 1, sizeof *covered);
    bool *taken = mr_xcalloc(pool, sizeof *taken);
    size_t nseeds = 0;
    size_t pick = 0;
    for (;;) {
        size_t t = order[pick].table;
        out[nseeds++] = t;
        taken[pick] = true;
        for (size_t i = 0; i < L->nq; i++) {
            double c = term_weight(&L->q[i], t);
            if (c > covered[i])
                covered[i] = c;
        }
        if (nseeds == max_seeds)
            break;
        double best = -1;
        for (size_t k = 0; k < pool; k++) {
            if (taken[k])
                continue;
            double tot = 0, cov = 0;
            for (size_t i = 0; i < L->nq; i++) {
                double c = term_weight(&L->q[i], order[k].table);
                tot += c;
                cov += c < covered[i] ? c : covered[i];
            }
            double share = tot > 0 ? cov / tot : 0;
            double gain = order[k].score * (1 - p->overlap * share);
            if (gain > best) { /* strict: ties go to the better-ranked table */
                best = gain;
                pick = k;
            }
        }
        if (best <= 0 || best < p->seed_ratio * order[0].score)
            break;
    }
    free(covered);
    free(taken);
    return nseeds;
}

/* True when a question term matched column c of table t (its name or description). */
static bool column_matched(const struct mr_ctx_index *ix, const struct linking *L, size_t t,
                           size_t c)
{
    size_t gc = ix->col_base[t] + c;
    for (size_t k = ix->colterm_start[gc]; k < ix->colterm_start[gc + 1]; k++) {
        uint32_t id = ix->colterm[k];
        if (L->matched[id / 8] & (1u << (id % 8)))
            return true;
    }
    return false;
}

/* True when the question matched a column of j's from side other than a primary key's. */
static bool key_matched(const struct mr_ctx_index *ix, const struct linking *L,
                        const struct mr_ctx_join *j)
{
    for (size_t c = 0; c < j->ncolumns; c++)
        if (!ix->schema.tables[j->from_table].columns[j->from_columns[c]].primary_key &&
            column_matched(ix, L, j->from_table, j->from_columns[c]))
            return true;
    return false;
}

void mr_ctx_select(const struct mr_ctx_index *ix, const char *question, size_t len,
                   const struct mr_ctx_candidate *candidates, size_t ncandidates,
                   const struct mr_ctx_example *examples, size_t nexamples,
                   const struct mr_ctx_link_params *params, size_t max_tables,
                   struct mr_ctx_selection *out, double *out_scores)
{
    static const struct mr_ctx_link_params defaults = MR_CTX_LINK_DEFAULTS;
    const struct mr_ctx_link_params *p = params ? params : &defaults;
    memset(out, 0, sizeof *out);
    size_t n = ix->n;
    struct linking L;
    linking_build(ix, question, len, p, &L);
    double *score = mr_xcalloc(n ? n : 1, sizeof *score);
    scores_from(ix, &L, candidates, ncandidates, examples, nexamples, p, score);
    if (out_scores)
        memcpy(out_scores, score, n * sizeof *score);

    struct ranked *order = mr_xmalloc((n ? n : 1) * sizeof *order);
    size_t norder = 0;
    for (size_t t = 0; t < n; t++)
        if (score[t] > 0)
            order[norder++] = (struct ranked){t, score[t], ix->rank[t]};
    qsort(order, norder, sizeof *order, cmp_ranked);

    size_t max_seeds = p->max_seeds < max_tables ? p->max_seeds : max_tables;
    size_t *seeds = mr_xmalloc((max_seeds ? max_seeds : 1) * sizeof *seeds);
    size_t nseeds = choose_seeds(&L, order, norder, p, max_seeds, seeds);

    struct mr_ctx_forest f;
    if (p->join_tree)
        mr_ctx_join_forest(ix, seeds, nseeds, score, max_tables, p->max_hops, &f);
    else {
        memset(&f, 0, sizeof f);
        f.tables = mr_xmalloc((nseeds ? nseeds : 1) * sizeof *f.tables);
        f.tree = mr_xmalloc((nseeds ? nseeds : 1) * sizeof *f.tree);
        f.is_seed = mr_xmalloc((nseeds ? nseeds : 1) * sizeof *f.is_seed);
        f.joins = mr_xmalloc(sizeof *f.joins);
        for (size_t i = 0; i < nseeds; i++) {
            f.tables[i] = seeds[i];
            f.tree[i] = i;
            f.is_seed[i] = true;
        }
        f.ntables = f.ntrees = nseeds;
    }

    bool *chosen = mr_xcalloc(n ? n : 1, sizeof *chosen);
    size_t cap = max_tables < n ? max_tables : n;
    out->tables = mr_xcalloc(cap ? cap : 1, sizeof *out->tables);
    struct ctx_vec joins = {0};
    for (size_t i = 0; i < f.ntables; i++) {
        size_t t = f.tables[i];
        chosen[t] = true;
        out->tables[out->ntables++] = (struct mr_ctx_pick){
            t, score[t], f.is_seed[i] ? MR_CTX_MATCHED : MR_CTX_JOIN, true, NULL};
    }
    for (size_t i = 0; i < f.njoins; i++)
        ctx_vec_push(&joins, f.joins[i]);
    /*
     * The tables a matched key column of the forest refers to: "by buyer" matches
     * fct_po_hdr.buyer_id, and the buyer's name is in the table it points at.
     */
    if (p->join_tree && p->key_tables)
        for (size_t i = 0; i < out->ntables && out->ntables < cap; i++) {
            size_t t = out->tables[i].table;
            for (size_t a = ix->arc_start[t]; a < ix->arc_start[t + 1] && out->ntables < cap; a++) {
                const struct ctx_arc *arc = &ix->arcs[a];
                const struct mr_ctx_join *j = &ix->schema.joins[arc->join];
                if (j->from_table != t || chosen[arc->to] || !key_matched(ix, &L, j))
                    continue;
                chosen[arc->to] = true;
                ctx_vec_push(&joins, arc->join);
                out->tables[out->ntables++] =
                    (struct mr_ctx_pick){arc->to, score[arc->to], MR_CTX_MATCHED, true, NULL};
            }
        }
    /* The fill: the best tables left, each with its cheapest join to one chosen before it. */
    for (size_t k = 0; k < norder && out->ntables < cap; k++) {
        size_t t = order[k].table;
        if (chosen[t])
            continue;
        const struct ctx_arc *best = NULL;
        for (size_t a = ix->arc_start[t]; a < ix->arc_start[t + 1]; a++)
            if (chosen[ix->arcs[a].to] && (!best || ix->arcs[a].cost < best->cost))
                best = &ix->arcs[a];
        if (best)
            ctx_vec_push(&joins, best->join);
        chosen[t] = true;
        out->tables[out->ntables++] =
            (struct mr_ctx_pick){t, score[t], MR_CTX_MATCHED, false, NULL};
    }
    out->joins = joins.v ? joins.v : mr_xcalloc(1, sizeof *out->joins);
    out->njoins = joins.n;

    /* Columns the question matched: their terms hold one the question matched. */
    for (size_t i = 0; i < out->ntables; i++) {
        size_t t = out->tables[i].table;
        size_t nc = ix->schema.tables[t].ncolumns;
        bool *m = mr_xcalloc(nc ? nc : 1, sizeof *m);
        for (size_t c = 0; c < nc; c++)
            m[c] = column_matched(ix, &L, t, c);
        out->tables[i].matched_columns = m;
    }

    free(chosen);
    mr_ctx_forest_free(&f);
    free(seeds);
    free(order);
    free(score);
    linking_free(&L);
}

void mr_ctx_selection_free(struct mr_ctx_selection *sel)
{
    if (!sel)
        return;
    for (size_t i = 0; i < sel->ntables; i++)
        free(sel->tables[i].matched_columns);
    free(sel->tables);
    free(sel->joins);
    memset(sel, 0, sizeof *sel);
}
