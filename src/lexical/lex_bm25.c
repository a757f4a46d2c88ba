/*
 * lex_bm25.c — the BM25 functions lexical.h does not inline: idf and the
 * normalised score. Pure, so any store computes the same numbers from the
 * same statistics.
 */
#include <math.h>

#include "memori/lexical.h"

double mr_lex_idf(uint64_t df, uint64_t n_docs)
{
    /* Lucene's form: never negative, unlike Robertson's for df > N/2. */
    double n = (double)n_docs, d = (double)(df < n_docs ? df : n_docs);
    return log(1 + (n - d + 0.5) / (d + 0.5));
}

/*
 * Each neighbour's share (docs/ranking.md, "Neighbour context"): 1/2 gave the best
 * hybrid recall@10 of the shares 1/16–1/2 on the conversations (0.948 against 0.904
 * without context), what a prompt's top 10 needs; 1/8 kept recall@1 higher.
 */
#define CONTEXT_SHARE 0.5

double mr_lex_context(double own, double prev, double next)
{
    /* Written out in one order: both stores must add the same doubles the same way. */
    return own + (1 - own) * ((prev + next) * CONTEXT_SHARE);
}

double mr_lex_normalise(double bm25, double max)
{
    if (!(max > 0) || !(bm25 > 0))
        return 0;
    double s = bm25 / max;
    return s < 1 ? s : 1;
}
