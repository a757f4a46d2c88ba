/*
 * lexical.h — the lexical side of ranking (DESIGN.md §8, docs/ranking.md):
 * memori's tokenizer for BM25, the BM25 formula as pure functions of a
 * partition's statistics, and an in-process inverted index over ONE
 * partition (src/lexical/).
 *
 * The pure functions are the one home of the formula: the in-process index
 * calls them, and a store that keeps the statistics itself (PostgreSQL: df
 * per term, document count and total length per partition, tf per term and
 * length per document) calls the same ones in the same order, so both rank
 * with bit-identical numbers.
 */
#ifndef MEMORI_LEXICAL_H
#define MEMORI_LEXICAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* BM25's term-frequency saturation and length normalisation (DESIGN.md §8). */
#define MR_LEX_K1 1.2
#define MR_LEX_B 0.75

/* ---------------------------------------------------------------- tokenizer */

/*
 * Calls fn with each indexable term of text[0..len) (UTF-8, need not be
 * valid or NUL-terminated), in text order, repeats included:
 *   - words are cut as mr_embed_tokenize cuts them (runs of letters, digits,
 *     '_' and non-ASCII bytes), so a UTF-8 sequence is never split;
 *   - lower case: ASCII, Latin-1, Greek and basic Cyrillic capitals;
 *   - an identifier gives its parts and the whole identifier
 *     (`customer_id`, `customerId` → `custom`, `id`, `customer_id`);
 *   - English stop words (a fixed list of 161 function words; negations,
 *     quantifiers and comparisons such as `not`, `each`, `before` are kept)
 *     are dropped, parts of identifiers included;
 *   - words and identifier parts are stemmed (Snowball English); whole
 *     identifiers are kept exact, unstemmed, so `fct_order_line` matches
 *     only itself while its parts match `order lines`.
 * term is not NUL-terminated and is valid only during the call. A text of
 * stop words and punctuation only gives no term. Thread-safe (each thread
 * has its own stemmer).
 */
typedef void (*mr_lex_term_fn)(void *arg, const char *term, size_t n);
void mr_lex_tokenize(const char *text, size_t len, mr_lex_term_fn fn, void *arg);

/*
 * A text's distinct terms, in order of first occurrence, each with its
 * count, and the total number of terms (a document's BM25 length). As a
 * query, the counts are ignored: a repeated query word counts once.
 */
struct mr_lex_terms;

/* Tokenizes text into a new term list (never NULL). Free with mr_lex_terms_free. */
struct mr_lex_terms *mr_lex_terms_new(const char *text, size_t len);
void mr_lex_terms_free(struct mr_lex_terms *t);
size_t mr_lex_terms_count(const struct mr_lex_terms *t);
/* Term i (< count): its bytes (owned by t, not NUL-terminated) and length. */
const char *mr_lex_terms_term(const struct mr_lex_terms *t, size_t i, size_t *out_n);
uint32_t mr_lex_terms_tf(const struct mr_lex_terms *t, size_t i);
uint32_t mr_lex_terms_length(const struct mr_lex_terms *t);

/* ------------------------------------------------------ BM25, pure functions */

/* Lucene's idf: ln(1 + (N − df + 0.5) / (df + 0.5)); positive for every df <= N. */
double mr_lex_idf(uint64_t df, uint64_t n_docs);

/* The average document length of a partition (0 when it is empty). */
static inline double mr_lex_avg_len(uint64_t total_len, uint64_t n_docs)
{
    return n_docs ? (double)total_len / (double)n_docs : 0;
}

/*
 * One query term's BM25 contribution to a document:
 *   idf · tf·(k1+1) / (tf + k1·(1 − b + b·doc_len/avg_len)).
 * 0 when tf is 0. A document's score is the sum over the query's distinct
 * terms, added in the query's term order (what the index does).
 */
static inline double mr_lex_bm25_term(double idf, uint32_t tf, uint32_t doc_len, double avg_len)
{
    if (tf == 0)
        return 0;
    double rel = avg_len > 0 ? (double)doc_len / avg_len : 1;
    return idf * ((double)tf * (MR_LEX_K1 + 1)) /
           ((double)tf + MR_LEX_K1 * (1 - MR_LEX_B + MR_LEX_B * rel));
}

/*
 * A query term's share of the normaliser: idf·(k1+1), the supremum of its
 * contribution (tf → ∞ in a document of length → 0). The normaliser of a
 * query is the sum over its distinct terms, those no document holds included
 * (df 0): a document is then scored by how much of the query it covers, and
 * a query word nobody used lowers every score instead of being ignored.
 */
static inline double mr_lex_term_max(double idf)
{
    return idf * (MR_LEX_K1 + 1);
}

/*
 * The lexical score in [0, 1]: bm25 / max (0 when max is 0). It never
 * reaches 1: a document holding every query term once at the average length
 * scores 1/(k1+1) = 0.45, a short one holding them all more. Monotone in
 * bm25 for a given query, so it ranks as BM25 does.
 */
double mr_lex_normalise(double bm25, double max);

/*
 * Neighbour context (docs/ranking.md, "Neighbour context"): a conversation
 * turn's lexical score with the turns around it in its conversation lending
 * it their words, the next ones by half, the ones two away by a quarter:
 *
 *     own + (1 − own) · min(1, (prev + next) / 2 + (prev2 + next2) / 4)
 *
 * (all normalised scores in [0, 1]; a missing turn is 0): a convex
 * combination of own and 1, so it stays in [own, 1], is non-decreasing in
 * each input, never lowers a turn below its own score (a turn holding the
 * query's words still ranks as before among standalone memories) and lifts
 * a turn that holds no query word but sits among turns that do: one such
 * neighbour lends half its score, the two next to it make it score as they
 * do (the reply between a question and its follow-up is part of what they
 * say), and the turns two away widen that to the stretch of conversation a
 * topic takes. With no neighbour it is own exactly, as a standalone memory
 * (not a turn) always scores; with none two away, own + (1 − own)·(prev +
 * next)/2. The same bits for the same inputs on every store.
 */
double mr_lex_context(double own, double prev, double next, double prev2, double next2);

/* ------------------------------------------------------ the in-process index */

/*
 * The inverted index of one partition: per term its document frequency and
 * postings (document, tf), per document its length and terms. Statistics
 * (document count, total length, df) are exact after every call; removed
 * documents' postings are skipped and reclaimed in batches.
 *
 * Memory: about 14 bytes per distinct term of each document plus ~60 bytes
 * per document and the vocabulary (mr_lex_index_bytes; docs/perf.md has
 * the measurement at 10 k and 100 k documents).
 *
 * Thread-safety: none inside. The caller (the vector index's partition)
 * holds its lock: a write lock around put/remove, a read lock (shared)
 * around search/score/max/stats, which only read.
 */
struct mr_lex_index;

/* An empty index. Free with mr_lex_index_destroy. */
struct mr_lex_index *mr_lex_index_new(void);
void mr_lex_index_destroy(struct mr_lex_index *ix);

/*
 * Indexes text[0..len) as document id, replacing the document id had. A
 * text without a term is still a document (length 0): it counts in the
 * partition's statistics as it counts in a store's, and scores 0.
 */
void mr_lex_index_put(struct mr_lex_index *ix, int64_t id, const char *text, size_t len);

/* Removes document id; an absent id is not an error. */
void mr_lex_index_remove(struct mr_lex_index *ix, int64_t id);

/* True when id is a document of the index. */
bool mr_lex_index_contains(const struct mr_lex_index *ix, int64_t id);

/* The partition's statistics: documents, and their total length in terms. */
void mr_lex_index_stats(const struct mr_lex_index *ix, uint64_t *out_docs, uint64_t *out_total_len);

/* Documents holding the term (bytes term[0..n), as the tokenizer gives it). */
uint64_t mr_lex_index_df(const struct mr_lex_index *ix, const char *term, size_t n);

/* Bytes the index has allocated (arrays at capacity, not malloc's own overhead). */
size_t mr_lex_index_bytes(const struct mr_lex_index *ix);

/* Says whether a search may return id (the partition's filters: type, conversation, ...). */
typedef bool (*mr_lex_accept_fn)(void *arg, int64_t id);

struct mr_lex_hit {
    int64_t id;
    double bm25;    /* raw BM25 */
    double lexical; /* mr_lex_normalise(bm25, the query's normaliser), in [0, 1) */
};

/*
 * The best `limit` documents holding at least one of q's terms and accepted
 * by accept (NULL accepts all; asked first of the unfiltered top `limit`
 * only, and when it drops one of them, of the documents that would enter
 * the current top `limit` in a second pass), best first, ties by lower id, into out (room for
 * limit hits). Returns how many were written (0 for a query without terms).
 * *out_max (if not NULL) receives the query's normaliser.
 */
size_t mr_lex_index_search(const struct mr_lex_index *ix, const struct mr_lex_terms *q,
                           mr_lex_accept_fn accept, void *arg, size_t limit, struct mr_lex_hit *out,
                           double *out_max);

/*
 * The raw BM25 of document id for q (0 when id is absent or shares no term):
 * the same number a search would give it, for a candidate only the vector
 * side found.
 */
double mr_lex_index_score(const struct mr_lex_index *ix, const struct mr_lex_terms *q, int64_t id);

/*
 * The query's normaliser in this partition (0 for a query without terms).
 * ix NULL stands for an empty partition.
 */
double mr_lex_index_max(const struct mr_lex_index *ix, const struct mr_lex_terms *q);

/*
 * Borrowed statistics: mr_lex_index_search and mr_lex_index_score over ix's
 * documents, scored with the document count, average length and document
 * frequencies of `stats` (another partition's index; NULL for an empty
 * one's; stats == ix is the plain call, bit for bit). A search that also
 * reaches what other users shared scores those memories with the caller's
 * own partition's statistics, so every result of one query shares one
 * normaliser (mr_lex_index_max(stats, q)), and a store keeping only the
 * caller's statistics ranks the same (docs/ranking.md).
 */
size_t mr_lex_index_search_with(const struct mr_lex_index *ix, const struct mr_lex_index *stats,
                                const struct mr_lex_terms *q, mr_lex_accept_fn accept, void *arg,
                                size_t limit, struct mr_lex_hit *out, double *out_max);

/*
 * The raw BM25 of each of ids[0..n_ids) (0 for an id ix does not hold) into
 * out_bm25, with stats' statistics: the query resolved once for the batch.
 */
void mr_lex_index_score_with(const struct mr_lex_index *ix, const struct mr_lex_index *stats,
                             const struct mr_lex_terms *q, const int64_t *ids, size_t n_ids,
                             double *out_bm25);

/*
 * A search's sums kept for the same query's later scores: a term-at-a-time
 * search (most are; lex_index.c) adds up the BM25 of every document holding
 * one of the query's terms, so the scores a ranked search asks next (the
 * vector side's hits, the neighbouring turns of neighbour context) are
 * read from those sums instead of being computed again, the same bits.
 * Valid while ix is unchanged (the caller holds the partition's read lock
 * from the search to the last score). Free with mr_lex_scores_free.
 */
struct mr_lex_scores;
void mr_lex_scores_free(struct mr_lex_scores *sc);

/*
 * mr_lex_index_search_with, and *out_scores the sums it kept (NULL when the
 * search did not add up every document's: then mr_lex_index_score_kept
 * computes them).
 */
size_t mr_lex_index_search_kept(const struct mr_lex_index *ix, const struct mr_lex_index *stats,
                                const struct mr_lex_terms *q, mr_lex_accept_fn accept, void *arg,
                                size_t limit, struct mr_lex_hit *out, double *out_max,
                                struct mr_lex_scores **out_scores);

/*
 * mr_lex_index_score_with for the query and statistics of the search that
 * kept `kept` on ix (kept NULL: computed as mr_lex_index_score_with does).
 */
void mr_lex_index_score_kept(const struct mr_lex_index *ix, const struct mr_lex_index *stats,
                             const struct mr_lex_terms *q, const struct mr_lex_scores *kept,
                             const int64_t *ids, size_t n_ids, double *out_bm25);

#endif
