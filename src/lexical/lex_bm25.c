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
 * The shares (docs/ranking.md, "Neighbour context"): 1/2 for the turns next to
 * a turn gave the best hybrid recall@10 of the shares 1/16–1/2 on the first
 * conversations (0.948 against 0.904 without context), what a prompt's top 10
 * needs; the turns two away at 1/4 raised it again on the longer ones (1 785
 * turns, exact fusion: 0.572 against 0.563 with the next turns alone), where a
 * topic runs over more turns than a question and its reply.
 */
#define CONTEXT_SHARE 0.5
#define CONTEXT_SHARE2 0.25

double mr_lex_context(double own, double prev, double next, double prev2, double next2)
{
    /* Written out in one order: both stores must add the same doubles the same way. */
    double share = (prev + next) * CONTEXT_SHARE + (prev2 + next2) * CONTEXT_SHARE2;
    return own + (1 - own) * (share < 1 ? share : 1);
}

double mr_lex_normalise(double bm25, double max)
{
    if (!(max > 0) || !(bm25 > 0))
        return 0;
    double s = bm25 / max;
    return s < 1 ? s : 1;
}
