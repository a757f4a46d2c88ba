/*
 * index.h — vector search over one caller's memories (src/index/).
 *
 * The index keeps every memory's vector in memory, partitioned by
 * (tenant, user), with the metadata search filters on beside it so filters
 * apply during the scan: a filtered query still fills `limit` when enough
 * memories match. The memory service keeps it in step with the store after
 * every committed write, and loads it from the store at start-up.
 *
 * Thread-safety: any number of searches run in parallel; writes take a
 * writer lock for the few microseconds of one entry's change.
 */
#ifndef MEMORI_INDEX_H
#define MEMORI_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "memori/err.h"
#include "memori/types.h"

struct mr_index;

/* What the index holds per memory. vec points to dim floats (copied in). */
struct mr_index_entry {
    int64_t id;
    const char *user_id;
    const char *tenant_id;
    const char *conversation_id; /* canonical UUID text */
    enum mr_memory_type memory_type;
    bool is_archived;
    int64_t expires_at; /* MR_NO_TIME = never */
    const float *vec;
    bool is_shared; /* also searchable by the tenant's other users (include_shared) */
};

struct mr_index_query {
    const float *vec;
    const char *conversation_id; /* NULL = any */
    unsigned type_mask;          /* bit (1u << type); 0 = every type */
    bool include_archived;       /* true: archived and live ones */
    int64_t now;                 /* expired (expires_at <= now) never match */
    float min_score;             /* cosine >= min_score */
    size_t limit;
    bool include_shared; /* also what other users of the tenant shared (relaxed isolation) */
    size_t dim;          /* floats in vec; the in-process index knows its own (0 there) */
};

struct mr_index_hit {
    int64_t id;
    float score;
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
 * The partitioned index of dimension dim: exact scans, and an HNSW graph for
 * partitions of at least the ANN threshold (off until set). Free with
 * mr_index_destroy.
 */
struct mr_index *mr_index_flat_new(size_t dim);

/* The search beam by default: recall@10 0.96 on real embeddings at 100 k (docs/perf.md). */
#define MR_HNSW_EF_DEFAULT 128

/*
 * Partitions with >= threshold entries (0: never) get an HNSW graph searched
 * with beam ef_search (0: MR_HNSW_EF_DEFAULT) instead of a full scan.
 * Partitions already that large start building theirs (aside) at once: a
 * bulk load runs with the threshold at 0, then sets it, so no entry goes
 * through a graph insert.
 */
void mr_index_flat_set_ann(struct mr_index *ix, size_t threshold, size_t ef_search);

/*
 * Graphs are built (and rebuilt) aside by background threads while searches
 * go on; this waits until none is running (tests, benchmarks, start-up
 * figures).
 */
void mr_index_flat_wait_builds(struct mr_index *ix);

struct mr_hnsw;

/*
 * Calls fn for each partition that has a graph, with the partition's key (an
 * opaque string naming tenant and user) and the graph, under the index's
 * read lock (writers wait; fn must not call into the index). A non-zero
 * return stops the walk. For writing snapshots.
 */
typedef int (*mr_index_graph_fn)(void *arg, const char *key, const struct mr_hnsw *g);
void mr_index_flat_each_graph(struct mr_index *ix, mr_index_graph_fn fn, void *arg);

/*
 * Offers g (a snapshot's graph, owned by the index from now on) to the
 * partition named key as the starting point of its first build: the build
 * then adds, drops and replaces only the entries that differ from the
 * graph, so a stale snapshot costs time, never correctness. Returns false
 * (and frees g) when no such partition waits for a graph. Call between the
 * load (threshold 0) and mr_index_flat_set_ann.
 */
bool mr_index_flat_seed(struct mr_index *ix, const char *key, struct mr_hnsw *g);

/*
 * Dot product of two dim-float vectors (the scan kernel): AVX2+FMA where the
 * CPU has it, else scalar, chosen once by CPUID (MEMORI_KERNEL=scalar|avx2|
 * avx512 forces one the CPU has). No alignment needed.
 */
float mr_index_dot(const float *a, const float *b, size_t dim);

/* The portable reference kernel. */
float mr_index_dot_scalar(const float *a, const float *b, size_t dim);

/* "avx512", "avx2" or "scalar": the kernel mr_index_dot uses. */
const char *mr_index_kernel_name(void);

typedef float (*mr_dot_fn)(const float *a, const float *b, size_t dim);

/* The kernel mr_index_dot uses, to call without the dispatch in a hot loop. */
mr_dot_fn mr_index_dot_fn(void);

/* A kernel by name, or NULL when this CPU lacks it (tests and benchmarks). */
mr_dot_fn mr_index_kernel(const char *name);

/*
 * int8 compact vectors (quant.c): v scaled by max|v| / 127 into out (dim
 * bytes); returns the scale, so v·w ≈ dot_i8(a, b) × scale_a × scale_b.
 */
float mr_index_quantize_i8(const float *v, size_t dim, int8_t *out);

typedef int32_t (*mr_dot_i8_fn)(const int8_t *a, const int8_t *b, size_t dim);

/* The exact integer dot product: the reference, and the one picked by CPUID (AVX2). */
int32_t mr_index_dot_i8_scalar(const int8_t *a, const int8_t *b, size_t dim);
mr_dot_i8_fn mr_index_dot_i8_fn(void);

/*
 * Exact scans over an int8 copy of each vector (a quarter of the bytes
 * read), the best max(4 × limit, 32) candidates rescored in float32.
 * Partitions then hold 1.25 × the raw bytes; partitions with a graph are
 * unaffected. Set before loading (MEMORI_INDEX_INT8).
 */
void mr_index_flat_set_int8(struct mr_index *ix, bool on);

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
