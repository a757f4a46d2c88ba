/*
 * index.h — the in-process memory index (src/index/): vector search over
 * one caller's memories, for the stores that do not search themselves.
 *
 * The index keeps every memory's vector in memory, partitioned by
 * (tenant, user), with the metadata search filters on beside it so filters
 * apply during the search: a filtered query still fills `limit` when enough
 * memories match. Partitions are scanned exactly (SIMD float32, or int8
 * copies rescored in float32); a partition past the ANN threshold gets an
 * HNSW graph, built aside while searches go on. The memory service keeps it
 * in step with the store after every committed write, loads it from the
 * store at start-up, and may keep its graphs in a snapshot file across
 * restarts.
 *
 * Beside each partition's vectors is the lexical index of the same
 * memories (lexical.h: BM25 over their content, the partition's own
 * statistics), kept in step by the same writes and filtered by the same
 * predicate, so one call returns a ranked search's candidates from both
 * sides (mr_index_candidates, DESIGN.md §8). It is rebuilt from the content
 * at every load; snapshots hold only the graphs.
 *
 * Thread-safety: any number of searches run in parallel; writes take a
 * writer lock (writers first) for the few microseconds of one entry's
 * change; graph builds copy under the read lock and work without it.
 */
#ifndef MEMORI_INDEX_H
#define MEMORI_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "memori/err.h"
#include "memori/types.h"

struct mr_index;
struct mr_lex_terms; /* lexical.h */

/*
 * What the index holds per memory. vec points to dim floats (copied in);
 * content is tokenized into the lexical index (not kept).
 */
struct mr_index_entry {
    int64_t id;
    const char *user_id;
    const char *tenant_id;
    const char *conversation_id; /* canonical UUID text */
    enum mr_memory_type memory_type;
    bool is_archived;
    int64_t expires_at; /* MR_NO_TIME = never */
    const float *vec;
    bool is_shared;      /* also searchable by the tenant's other users (include_shared) */
    const char *content; /* the memory's text (content_len bytes; NULL: no lexical terms) */
    size_t content_len;
};

struct mr_index_query {
    const float *vec;
    const char *conversation_id; /* NULL = any */
    unsigned type_mask;          /* bit (1u << type); 0 = every type */
    bool include_archived;       /* true: archived and live ones */
    int64_t now;                 /* entries expired at now (mr_rule_expired_at) never match */
    float min_score;             /* cosine >= min_score */
    size_t limit;
    bool include_shared; /* also what other users of the tenant shared (relaxed isolation) */
    size_t dim;          /* floats in vec; the in-process index knows its own (0 there) */
    /* mr_index_candidates only: */
    const struct mr_lex_terms *terms; /* the query's lexical terms (mr_lex_terms_new) */
    unsigned sides;                   /* MR_INDEX_SIDE_*: the sides that choose candidates */
    size_t lex_limit;                 /* the lexical side's depth (0: limit, as the vector side) */
    bool neighbour_context; /* turns' lexical scores mix in their neighbours' (a search), */
    bool cosine_context;    /* ... and with it their cosines too (mr_index_cosine_context) */
    /*
     * How many of the candidates the caller keeps, best first by its fused
     * score (its `limit`; 0: q->limit, all of them exact). Only those need
     * the exact order on the vector side: a deeper q->limit is there to
     * widen the union, not to rank (the int8 scan rescores max(4 × results,
     * limit, 32) rather than 4 × limit).
     */
    size_t results;
};

struct mr_index_hit {
    int64_t id;
    float score;
};

#define MR_INDEX_SIDE_VECTOR 1u  /* the best q->limit by cosine (>= q->min_score) */
#define MR_INDEX_SIDE_LEXICAL 2u /* the best q->lex_limit by BM25 (at least one term in common) */

/* One candidate of a ranked search, with both sides' scores computed exactly. */
struct mr_index_candidate {
    int64_t id;
    float cosine;   /* the query vector · the memory's (0 without a query vector) */
    double lexical; /* normalised BM25 (mr_lex_normalise) in the caller's partition, [0, 1) */
};

struct mr_index_ops {
    const char *name;
    /* Adds or replaces the entry with e->id. MR_EINVAL on a wrong dimension. */
    int (*upsert)(struct mr_index *ix, const struct mr_index_entry *e, struct mr_err *err);
    /* Marks id archived or live without touching its vector; absent ids are ignored
     * (who is the owner). */
    void (*set_archived)(struct mr_index *ix, const struct mr_identity *who, int64_t id,
                         bool is_archived);
    /* Removes id from who's partition; absent ids are not an error. */
    void (*remove)(struct mr_index *ix, const struct mr_identity *who, int64_t id);
    /*
     * The best q->limit matches in who's partition, best first (ties by
     * lower id). out must hold q->limit hits; *out_n says how many were written.
     */
    int (*search)(struct mr_index *ix, const struct mr_identity *who,
                  const struct mr_index_query *q, struct mr_index_hit *out, size_t *out_n,
                  struct mr_err *err);
    /*
     * The candidates of a ranked search in who's partition (and what others
     * shared, q->include_shared), every filter applied: the union of each
     * side's best named by q->sides (the vector side's q->limit, the lexical
     * side's q->lex_limit, or q->limit when that is 0), each with its cosine
     * and its lexical score, all under one hold of the read lock (so both
     * scores describe the same entry). Lexical scores use who's own
     * partition's statistics, shared memories' too
     * (mr_lex_index_search_with). With q->neighbour_context, when the
     * lexical side chooses candidates (docs/ranking.md, "Neighbour
     * context"): the lexical hits' neighbouring turns in who's partition
     * that pass the filters are candidates too, and each of who's turns'
     * lexical score is mr_lex_context of its own and its neighbours'.
     * Unordered, one per id; out must hold q->limit + the lexical depth
     * (3 × the lexical depth with neighbour context).
     */
    int (*candidates)(struct mr_index *ix, const struct mr_identity *who,
                      const struct mr_index_query *q, struct mr_index_candidate *out, size_t *out_n,
                      struct mr_err *err);
    /* Number of entries across partitions. */
    size_t (*count)(struct mr_index *ix);
    /* Graphs being built or rebuilt aside right now (searches meanwhile scan). */
    size_t (*building)(struct mr_index *ix);
    void (*destroy)(struct mr_index *ix);
};

struct mr_index {
    const struct mr_index_ops *ops;
};

/*
 * The in-process index of dimension dim: exact scans (int8 copies rescored
 * in float32, see mr_index_set_int8), and an HNSW graph for partitions of
 * at least the ANN threshold (off until set). Free with
 * mr_index_destroy.
 */
struct mr_index *mr_index_new(size_t dim);

/* The search beam by default: recall@10 0.96 on real embeddings at 100 k (docs/perf.md). */
#define MR_INDEX_EF_DEFAULT 128

/*
 * Partitions with >= threshold entries (0: never) get an HNSW graph searched
 * with beam ef_search (0: MR_INDEX_EF_DEFAULT) instead of a full scan.
 * Partitions already that large start building theirs (aside) at once: a
 * bulk load runs with the threshold at 0, then sets it, so no entry goes
 * through a graph insert.
 */
void mr_index_set_ann(struct mr_index *ix, size_t threshold, size_t ef_search);

/*
 * Bytes the lexical indexes of every partition hold (mr_lex_index_bytes
 * summed; docs/perf.md reports it per memory).
 */
size_t mr_index_lexical_bytes(struct mr_index *ix);

/* What GET /metrics reports of an index (one pass over its partitions under the read lock). */
struct mr_index_shape {
    size_t partitions, graphs; /* graphs: partitions searched through an HNSW graph */
    size_t lexical_documents, lexical_bytes;
};
void mr_index_shape(struct mr_index *ix, struct mr_index_shape *out);

/*
 * Exact scans over an int8 copy of each vector (a quarter of the bytes
 * read), the best max(4 × limit, 32) candidates rescored in float32.
 * Partitions then hold 1.25 × the raw bytes; partitions with a graph are
 * unaffected. On in a new index (MEMORI_INDEX_INT8 defaults to true); set
 * before loading.
 */
void mr_index_set_int8(struct mr_index *ix, bool on);

/*
 * Snapshots: the index's HNSW graphs saved to a file beside the SQLite
 * database, so a restart reuses them instead of rebuilding (a graph of 1 M
 * vectors takes a quarter of an hour to build, seconds to read).
 *
 * A snapshot is a cache, never the truth: the store is. Loading offers each
 * graph to its partition as the starting point of the build that partition
 * would have had anyway; that build adds, drops and replaces whatever
 * differs from the store's entries, so a stale snapshot (writes after it
 * was saved, a crash) costs time, and a damaged or foreign one is refused
 * whole.
 *
 * File: "MRIXSNP1", a byte-order mark, the dimension and embedding model,
 * the number of graphs, then each graph's partition key and the graph.
 * Written to "<path>.tmp", synced, then renamed over path.
 */

/* The snapshot path for a SQLite database file: "<db>.hnsw". The caller frees it. */
char *mr_index_snapshot_path(const char *db_path);

/*
 * Writes every graph of ix (of dimension dim) to path for model;
 * *out_graphs says how many. A partition without a graph yet is left out;
 * with no graph at all the file is left as it is (it may still seed a build
 * in progress). MR_EUNAVAIL when the file cannot be written.
 */
int mr_index_snapshot_save(struct mr_index *ix, const char *path, const char *model, size_t dim,
                           size_t *out_graphs, struct mr_err *err);

/*
 * Reads path and seeds ix's partitions with its graphs (call between the
 * index load, threshold 0, and mr_index_set_ann); *out_graphs says how many
 * were taken. No file: 0 graphs, success. A file for another model or
 * dimension, or damaged anywhere: MR_EINVAL with the reason, and no graph
 * is taken.
 */
int mr_index_snapshot_load(struct mr_index *ix, const char *path, const char *model, size_t dim,
                           size_t *out_graphs, struct mr_err *err);

/*
 * Dot product of two dim-float vectors (the scan kernel): AVX2+FMA or
 * AVX-512 where the CPU has it, else scalar, chosen once by CPUID
 * (MEMORI_KERNEL=scalar|avx2|avx512 forces one the CPU has). No alignment
 * needed.
 */
float mr_index_dot(const float *a, const float *b, size_t dim);

typedef float (*mr_dot_fn)(const float *a, const float *b, size_t dim);

/*
 * A turn's cosine with its window's (neighbour context on the semantic side,
 * docs/ranking.md): window[0..n) the own cosines of the turns of its window
 * that exist (the two before and the two after it: previous, next, second
 * before, second after, in that order), each clamped to [0, 1] as own is,
 *
 *     (own + mean(window)) / 2
 *
 * — half the turn's, half its stretch of conversation's. A short reply
 * ("Lisbon, finally.") borrows the meaning of the turns around it, and a
 * turn's own cosine, a noisy estimate of what a few words are about, is
 * pulled towards its region's. Convex, not the lexical side's "or" form:
 * cosines have a high floor (two unrelated texts score about 0.6 with the
 * built-in model), and the "or" form would lift every turn of an unrelated
 * conversation above the rules and facts beside it in the same pool (a
 * run of turns at c stays at c here, as a standalone memory at c does).
 * n == 0: own exactly (a turn alone, or no turn). Rounded to float, as the
 * index's cosines are: both stores compute the same bits from the same
 * inputs in the same order.
 */
float mr_index_cosine_context(float own, const float *window, size_t n);

/* The kernel mr_index_dot uses, to call without the dispatch in a hot loop. */
mr_dot_fn mr_index_dot_fn(void);

static inline int mr_index_upsert(struct mr_index *ix, const struct mr_index_entry *e,
                                  struct mr_err *err)
{
    return ix->ops->upsert(ix, e, err);
}
static inline void mr_index_set_archived(struct mr_index *ix, const struct mr_identity *who,
                                         int64_t id, bool is_archived)
{
    ix->ops->set_archived(ix, who, id, is_archived);
}
static inline void mr_index_remove(struct mr_index *ix, const struct mr_identity *who, int64_t id)
{
    ix->ops->remove(ix, who, id);
}
static inline int mr_index_search(struct mr_index *ix, const struct mr_identity *who,
                                  const struct mr_index_query *q, struct mr_index_hit *out,
                                  size_t *out_n, struct mr_err *err)
{
    return ix->ops->search(ix, who, q, out, out_n, err);
}
static inline int mr_index_candidates(struct mr_index *ix, const struct mr_identity *who,
                                      const struct mr_index_query *q,
                                      struct mr_index_candidate *out, size_t *out_n,
                                      struct mr_err *err)
{
    return ix->ops->candidates(ix, who, q, out, out_n, err);
}
static inline size_t mr_index_count(struct mr_index *ix)
{
    return ix->ops->count(ix);
}
static inline size_t mr_index_building(struct mr_index *ix)
{
    return ix->ops->building(ix);
}
static inline void mr_index_destroy(struct mr_index *ix)
{
    if (ix)
        ix->ops->destroy(ix);
}

#endif
