/*
 * fusion.h — one score from the vector index's cosine and the lexical
 * index's normalised BM25 (DESIGN.md §8, docs/ranking.md), src/core/fusion.c.
 *
 * A search in hybrid mode (the default):
 *   1. candidates from each side with the request's filters applied: the
 *      vector index's top mr_fusion_depth_vector(limit) (cosines), the
 *      lexical index's top mr_fusion_depth_lexical(limit)
 *      (mr_lex_index_search, normalised scores);
 *   2. mr_fusion_union: one candidate per id, flagging the side each lacks;
 *   3. the missing side computed exactly: the cosine of the query vector and
 *      the memory's, mr_lex_normalise(mr_lex_index_score(...), max) for BM25;
 *   4. mr_fusion_rank: the fused score, best first; then min_similarity on
 *      the score and the first `limit`.
 * Every result then carries both scores (scores.semantic is
 * mr_fusion_semantic of its cosine). Semantic mode ranks by the cosine
 * alone and lexical mode by BM25 alone, with the other score still
 * computed for `scores`.
 */
#ifndef MEMORI_FUSION_H
#define MEMORI_FUSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "memori/index.h"
#include "memori/lexical.h"
#include "memori/service.h" /* enum mr_search_mode */

/* "hybrid", "semantic" or "lexical" (s[0..n), exact) into *out: 0, or -1 for anything else. */
int mr_search_mode_parse(const char *s, size_t n, enum mr_search_mode *out);

/* The mode's name as the API spells it. */
const char *mr_search_mode_name(enum mr_search_mode m);

/*
 * Share of the lexical score in the hybrid score when the model has none of
 * its own (a provider's, memori-lexical-v1; near-duplicate merging, whose
 * threshold was chosen at it): chosen on the development sets by exact
 * fusion before neighbour context (docs/ranking.md), the best mean
 * recall@10 and MRR over the retrieval sets for the built-in model then.
 * The built-in WordNet models now have theirs through the service
 * (mr_embed_default_lexical_weight, embed.h).
 */
#define MR_FUSION_LEXICAL_WEIGHT 0.5

struct mr_fusion {
    enum mr_search_mode mode;
    double lexical_weight; /* hybrid: fused = (1 − w)·semantic + w·lexical, w in [0, 1] */
    /*
     * Cosines at or below the floor count as no similarity: semantic =
     * (cosine − floor) / (1 − floor), clamped to [0, 1]. 0 for the built-in
     * models; a provider whose unrelated texts still score high cosines
     * (ada-002's crowd near 0.7) sets its own, so its semantic score spans
     * [0, 1] like BM25's.
     */
    double semantic_floor;
};

#define MR_FUSION_DEFAULTS                                                                         \
    {                                                                                              \
        MR_SEARCH_HYBRID, MR_FUSION_LEXICAL_WEIGHT, 0                                              \
    }

/* The semantic score in [0, 1] of a cosine (clamped, floor applied; NaN → 0). */
double mr_fusion_semantic(const struct mr_fusion *f, double cosine);

/*
 * The fused score in [0, 1] of a candidate with this cosine (as the vector
 * index gives it, possibly negative) and lexical score (normalised BM25 in
 * [0, 1]; clamped): semantic mode → the semantic score, lexical mode → the
 * lexical score, hybrid → their convex combination. Non-decreasing in each
 * input, strictly increasing in an input whose weight is not 0.
 */
double mr_fusion_score(const struct mr_fusion *f, double cosine, double lexical);

/*
 * The fusion a query is ranked with: f, except that hybrid falls back to
 * the one side the query has — semantic alone for a query without an
 * indexable term (only stop words or punctuation), lexical alone for a
 * query whose vector is zero — so a missing side does not scale every
 * score down under min_similarity.
 */
struct mr_fusion mr_fusion_for_query(const struct mr_fusion *f, bool query_has_vector,
                                     bool query_has_terms);

/*
 * Candidates asked of each side for `limit` results, chosen on the
 * development sets in pools of 10 000 memories (docs/ranking.md): the
 * vector side's k' = max(4·limit, 40), the lexical side's max(2·limit, 20).
 * At these depths the fused top 10's recall@10 and MRR equal, within
 * 0.002, those of 100 candidates a side; deeper costs a hybrid search per
 * candidate (docs/perf.md). The vector side needs a beam (HNSW ef_search)
 * of at least its k' to return k'.
 */
size_t mr_fusion_depth_vector(size_t limit);
size_t mr_fusion_depth_lexical(size_t limit);

struct mr_fusion_candidate {
    int64_t id;
    double cosine;    /* as the vector index gives it */
    double lexical;   /* normalised BM25, [0, 1] */
    bool has_cosine;  /* false: the caller computes cosine before ranking */
    bool has_lexical; /* false: the caller computes lexical before ranking */
    double score;     /* set by mr_fusion_rank */
};

/*
 * The union of the vector side's hits and the lexical side's, one candidate
 * per id (vector hits first, in their order, then lexical-only ones in theirs), into
 * out (room for n_vec + n_lex). Returns the number written.
 */
size_t mr_fusion_union(const struct mr_index_hit *vec, size_t n_vec, const struct mr_lex_hit *lex,
                       size_t n_lex, struct mr_fusion_candidate *out);

/*
 * Fills each candidate's score with mr_fusion_score (both sides must be
 * filled by now) and sorts them best first, ties by lower id (as the
 * indexes break them).
 */
void mr_fusion_rank(const struct mr_fusion *f, struct mr_fusion_candidate *c, size_t n);

#endif
