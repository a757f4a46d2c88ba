/*
 * index_int.h — private to src/index/ (and to its tests and benchmarks):
 * what the index's files share. One file per job, as pgvector lays out its
 * HNSW index (hnsw.h with hnswbuild.c, hnswinsert.c, hnswscan.c):
 *
 *   index.c      the operations (the mr_index_ops table): the lock, writes, search
 *   candidates.c a ranked search's candidates: both sides' best, both scores exact
 *   partition.c  the partition table, each partition's entries, a search's scope
 *   convs.c      a partition's conversations: each turn's previous and next turn
 *                (the filter predicate, ix_matches, is inline in this header)
 *   scan.c       the exact float32 scan
 *   scan_int8.c  the compact scan: int8 copies, the best rescored in float32
 *   graph.c      a partition's graph: searched under the filter, built aside,
 *                caught up with the writes meanwhile, swapped in
 *   snapshot.c   the graphs written to a file, offered back as build seeds
 *   hnsw.c       the HNSW graph itself
 *   idmap.c      id → small number (a partition's slot, a graph's node)
 *   heap.c       the heap of hits: the scans' top-k, the graph's beam and frontier
 *   kernels.c    float32 dot-product kernels; quant.c: int8 ones
 *
 * Locking: one writer-preferring rwlock per index (struct ix.lock) guards
 * the partition table and every partition; searches hold it for reading,
 * writes for writing. Graph builders copy under the read lock and work
 * without it (graph.c). Functions below say "lock held" where they need it.
 */
#ifndef MEMORI_INDEX_INT_H
#define MEMORI_INDEX_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "memori/index.h"
#include "memori/lexical.h"
#include "memori/rules.h"
#include "memori/util.h"

/* ---- id maps (idmap.c) ---- */

/*
 * id → a small number (a partition's slot, a graph's node): open addressing
 * with linear probing; the value + 1 is stored, so 0 marks an empty cell. A
 * zeroed struct is an empty map.
 */
struct ix_idmap {
    int64_t *ids;
    uint32_t *vals;
    size_t cap, used;
};

/* The value of id, or -1. */
long ix_idmap_get(const struct ix_idmap *m, int64_t id);

/*
 * Starts loading the cells ix_idmap_get(m, id) reads first, so that the
 * cache misses of a batch of lookups overlap (prefetch them all, then get).
 */
void ix_idmap_prefetch(const struct ix_idmap *m, int64_t id);

/* Sets id → val, adding or replacing. */
void ix_idmap_put(struct ix_idmap *m, int64_t id, uint32_t val);

/* Removes id; returns its value, or -1 when it was absent. */
long ix_idmap_take(struct ix_idmap *m, int64_t id);

/* Frees the map's arrays (the struct is the caller's); it is empty again. */
void ix_idmap_free(struct ix_idmap *m);

/* ---- the heap of hits (heap.c) ---- */

/*
 * The order hits are returned in: higher score first, ties by lower id.
 * Written so that only the (rare) tie is a branch: heaps ask it at every
 * level, where its answer is a coin toss that a branch would mispredict
 * half the time; as a conditional move it costs nothing.
 */
static inline bool ix_hit_better(struct mr_index_hit a, struct mr_index_hit b)
{
    return a.score != b.score ? a.score > b.score : a.id < b.id;
}

/*
 * A binary heap of hits. worst_on_top: the root is the worst kept, the one a
 * better hit replaces (a top-k: the scans' results, the graph's beam);
 * otherwise the root is the best (a frontier popped best first). Push grows
 * v (malloc'd or NULL) when n == cap; a caller's fixed buffer of k hits is
 * never grown through ix_heap_keep with that k. The owner frees v.
 */
struct ix_heap {
    struct mr_index_hit *v;
    size_t n, cap;
    bool worst_on_top;
};

void ix_heap_push(struct ix_heap *h, struct mr_index_hit x);

/* Removes and returns the root; n > 0. */
struct mr_index_hit ix_heap_pop(struct ix_heap *h);

/* Puts x in place of the root and restores the order; n > 0. */
void ix_heap_replace_top(struct ix_heap *h, struct mr_index_hit x);

/* Keeps the best k of what is offered (worst_on_top heaps). */
static inline void ix_heap_keep(struct ix_heap *h, size_t k, struct mr_index_hit x)
{
    if (h->n < k)
        ix_heap_push(h, x);
    else if (k > 0 && ix_hit_better(x, h->v[0]))
        ix_heap_replace_top(h, x);
}

/* Turns h over in O(n): the best on top where the worst was, or the other way. */
void ix_heap_flip(struct ix_heap *h);

/* Sorts a worst_on_top heap's v best first, in place; v is no longer a heap. */
void ix_heap_sort(struct ix_heap *h);

/* ---- the HNSW graph (hnsw.c) ---- */

/*
 * A hierarchical navigable small-world graph (Malkov & Yashunin 2016) over
 * unit vectors, for partitions too large to scan: approximate top-k by dot
 * product in O(log n) hops. Insert, tombstone delete, filtered search (the
 * filter is asked during the walk; the beam grows until k accepted results
 * are found or the graph is exhausted). Not thread-safe by itself: the
 * index's lock guards writers against readers.
 */
struct hnsw;

/* M: links per node (2M at level 0); ef_construction: beam width while inserting. */
struct hnsw *hnsw_new(size_t dim, int m, int ef_construction, uint64_t seed);
void hnsw_free(struct hnsw *h);

/* Adds vec (copied) under id. Re-adding a live id is the caller's mistake. */
void hnsw_add(struct hnsw *h, int64_t id, const float *vec);

/* Tombstones id: never returned again, still used as a waypoint. */
void hnsw_delete(struct hnsw *h, int64_t id);

/* Live (not deleted) nodes. */
size_t hnsw_count(const struct hnsw *h);

/* All nodes, tombstones included (what the graph's memory holds). */
size_t hnsw_nodes(const struct hnsw *h);

/*
 * The vector stored for live id, or NULL. Valid until the next add (which
 * may move the graph's storage): once a partition has a graph, the graph's
 * is the only copy of each vector.
 */
const float *hnsw_vector(const struct hnsw *h, int64_t id);

/* Starts loading what hnsw_vector(h, id) looks up first (its node's cell). */
void hnsw_prefetch(const struct hnsw *h, int64_t id);

typedef bool (*hnsw_accept)(void *arg, int64_t id);

/*
 * The best k live nodes accepted by accept (NULL: all), best first, into out
 * (k slots); returns how many. ef >= k is the search beam.
 */
size_t hnsw_search(const struct hnsw *h, const float *q, size_t k, size_t ef, hnsw_accept accept,
                   void *arg, struct mr_index_hit *out);

/* A filter asked of a batch: ok[i] for each of ids[0..n). */
typedef void (*hnsw_accept_batch)(void *arg, const int64_t *ids, size_t n, bool *ok);

/*
 * hnsw_search with a filter asked of the nodes popped in a round at once
 * (as many as results are still wanted), so that its lookups' cache misses
 * overlap; the same results.
 */
size_t hnsw_search_batch(const struct hnsw *h, const float *q, size_t k, size_t ef,
                         hnsw_accept_batch accept, void *arg, struct mr_index_hit *out);

/* Writes h to out (the snapshot format: native byte order, see hnsw.c); 0, or -1. */
int hnsw_save(const struct hnsw *h, FILE *out);

/*
 * Reads a graph written by hnsw_save, or NULL when what is there is not one
 * of dimension dim with at most max_nodes nodes, is cut short, or is
 * inconsistent (a link to a missing node or level, an id live twice): a
 * damaged snapshot is refused, never followed.
 */
struct hnsw *hnsw_load(FILE *in, size_t dim, size_t max_nodes);

/* Writes the ids of the live nodes into out (hnsw_count slots); returns how many. */
size_t hnsw_live_ids(const struct hnsw *h, int64_t *out);

/* ---- the index, its partitions and their entries (partition.c) ---- */

/* What searches filter on, per entry (its vector is beside it). */
struct ix_meta {
    int64_t id;
    int64_t expires_at; /* MR_NO_TIME = never */
    /* A turn's previous and next turn in its conversation (convs.c; 0: none, or not a turn). */
    int64_t prev_turn, next_turn;
    char conversation_id[MR_UUID_LEN];
    uint8_t memory_type;
    bool is_archived;
};

struct ix_build;

/* ---- a partition's conversations (convs.c) ---- */

struct ix_conv;

/*
 * Per conversation of a partition, its turns' ids (mr_rule_is_turn)
 * ascending: where a turn goes and what is on either side of it (the
 * entries' prev_turn and next_turn, for neighbour context). A zeroed struct
 * is empty. Write lock held.
 */
struct ix_convs {
    struct ix_conv **tab; /* open addressing by conversation id */
    size_t cap, used;
};

/*
 * Adds turn id to conv's list (conv NULL or "": nothing; already there:
 * nothing); the turns now before and after it into out_prev, out_next (0:
 * none, also when nothing was added).
 */
void ix_convs_add(struct ix_convs *c, const char *conv, int64_t id, int64_t *out_prev,
                  int64_t *out_next);

/* Removes id from conv's list, if there; the turns that were on either side into out_prev,
 * out_next. */
void ix_convs_remove(struct ix_convs *c, const char *conv, int64_t id, int64_t *out_prev,
                     int64_t *out_next);

/* Frees the lists and the table; c is empty again. */
void ix_convs_free(struct ix_convs *c);

/*
 * One (tenant, user)'s entries, or what a tenant's users shared: the
 * metadata, the vectors (contiguous, n × dim), an id → slot map, the lexical
 * index of the same entries' content (sharing meta, slots and the filter,
 * ix_matches), and above the ANN threshold a graph.
 */
struct ix_part {
    char *key; /* names the tenant and user (make_key, partition.c) */
    struct ix_meta *meta;
    float *vecs; /* n × dim until the partition has a graph, then NULL (the graph's) */
    int8_t *q8;  /* int8 copies, n × dim, and their scales (only with int8 scans, no graph) */
    float *q8_scale;
    size_t n, cap;
    struct ix_idmap slots; /* id → slot in meta, vecs, q8 */
    /*
     * BM25 over the same entries' content (lexical.h), with this
     * partition's statistics; filtered by ix_matches like the vectors.
     */
    struct mr_lex_index *lex;
    /* Each conversation's turns in id order: their neighbours (convs.c). */
    struct ix_convs convs;
    /* Above the ANN threshold: an HNSW graph over the same entries. */
    struct hnsw *graph;
    size_t graph_dead;         /* tombstones; the graph is rebuilt when they outnumber the live */
    struct ix_build *building; /* a graph being built aside, or NULL */
    struct hnsw *seed;         /* a graph from a snapshot, the next build's starting point */
    pthread_t builder;         /* the last builder thread, joined before the next starts */
    bool has_builder;
};

/* The index: what struct mr_index points at. */
struct ix {
    struct mr_index base;
    size_t dim;
    pthread_rwlock_t lock;  /* writer-preferring: see mr_index_new */
    struct ix_part **parts; /* open addressing by key hash */
    size_t parts_cap, parts_used, total;
    size_t ann_threshold; /* partitions this large get a graph; 0 = never */
    size_t ef_search;
    bool int8;                   /* scan int8 copies, rescore in float32 */
    bool stopping;               /* destroying: builds give up (written under the write lock) */
    pthread_mutex_t builds_lock; /* guards builds_running */
    pthread_cond_t builds_done;
    size_t builds_running;
};

static inline struct ix *ix_of(struct mr_index *base)
{
    return (struct ix *)base;
}

/*
 * who's partition (shared: the tenant's shared one), or NULL when it has
 * none and create is false. Lock held (the write lock to create).
 */
struct ix_part *ix_part_find(struct ix *ix, const struct mr_identity *who, bool shared,
                             bool create);

/* The partition whose key is key, or NULL. Lock held. */
struct ix_part *ix_part_lookup(const struct ix *ix, const char *key);

/* Frees p, its entries and its graphs; its builder has been joined. */
void ix_part_free(struct ix_part *p);

/* The slot of id in p, or -1. Lock held. */
static inline long ix_part_slot(const struct ix_part *p, int64_t id)
{
    return ix_idmap_get(&p->slots, id);
}

/* The vector of the entry at slot: the partition's own, or its graph's. Lock held. */
const float *ix_part_vec(const struct ix *ix, const struct ix_part *p, size_t slot);

/*
 * The vectors of ids[0..n) in p (NULL for an id p does not hold), each
 * lookup's cache misses overlapped with the others' (every stage's reads
 * prefetched for the whole batch before the next stage), and the vectors
 * themselves prefetched for the caller's dot products. slots[k] >= 0 is
 * ids[k]'s slot when the caller knows it (slots NULL: none known). Lock held.
 */
void ix_part_vecs(const struct ix *ix, const struct ix_part *p, const int64_t *ids,
                  const long *slots, size_t n, const float **out);

/* Writes e into p, adding or replacing (and its graph, if any). Write lock held. */
void ix_part_put(struct ix *ix, struct ix_part *p, const struct mr_index_entry *e);

/* Removes id from p (NULL: none) if there; true when it was. Write lock held. */
bool ix_part_drop(struct ix *ix, struct ix_part *p, int64_t id);

/*
 * The filters of one query on one partition: every per-partition structure
 * (the vector scans, the graph, a lexical index) decides through ix_matches
 * which entries a query may return.
 */
struct ix_filter {
    const char *conversation_id; /* NULL = any */
    unsigned type_mask;          /* bit (1u << type); 0 = every type */
    bool include_archived;
    int64_t now;                /* expired entries (the expiry rule, rules.h) never match */
    const struct ix_part *skip; /* entries also in this partition are left out (NULL: none) */
};

/*
 * The partitions a search by who reaches, in order, each with its filter:
 * who's own, then (q->include_shared) the tenant's shared one minus who's
 * own entries (each entry is returned once), or else the tenant's knowledge
 * (the partition of user "": schema memories, DESIGN.md §9). Absent partitions are left
 * out; returns how many (0 to 2). Lock held.
 */
size_t ix_search_scope(struct ix *ix, const struct mr_identity *who, const struct mr_index_query *q,
                       const struct ix_part *out_parts[2], struct ix_filter out_filters[2]);

/*
 * Whether the entry at slot of p passes f: the one filter predicate of the
 * index. Inline: the scans call it once per entry. Lock held.
 */
static inline bool ix_matches(const struct ix_part *p, size_t slot, const struct ix_filter *f)
{
    const struct ix_meta *m = &p->meta[slot];
    if (f->type_mask && !(f->type_mask & (1u << m->memory_type)))
        return false;
    if (m->is_archived && !f->include_archived)
        return false;
    if (mr_rule_expired_at(m->expires_at, f->now))
        return false;
    if (f->conversation_id && strcmp(f->conversation_id, m->conversation_id) != 0)
        return false;
    return !(f->skip && ix_part_slot(f->skip, m->id) >= 0);
}

/* ix_matches by id; false when p has no such id. Lock held. */
static inline bool ix_matches_id(const struct ix_part *p, int64_t id, const struct ix_filter *f)
{
    long slot = ix_part_slot(p, id);
    return slot >= 0 && ix_matches(p, (size_t)slot, f);
}

/* ---- searching a partition (scan.c, scan_int8.c, graph.c) ---- */

/*
 * Each adds p's entries that pass f and score >= q->min_score to top (a
 * worst_on_top heap of the best q->limit). Lock held (read).
 */
void ix_scan_f32(const struct ix *ix, const struct ix_part *p, const struct ix_filter *f,
                 const struct mr_index_query *q, struct ix_heap *top);
void ix_scan_int8(const struct ix *ix, const struct ix_part *p, const struct ix_filter *f,
                  const struct mr_index_query *q, struct ix_heap *top);
void ix_graph_search(const struct ix *ix, const struct ix_part *p, const struct ix_filter *f,
                     const struct mr_index_query *q, struct ix_heap *top);

/*
 * p's best entries for q into top by the partition's method: its graph,
 * its int8 copies, or the float32 scan (index.c). Lock held (read).
 */
void ix_search_part(const struct ix *ix, const struct ix_part *p, const struct ix_filter *f,
                    const struct mr_index_query *q, struct ix_heap *top);

/* ---- a ranked search's candidates (candidates.c) ---- */

/* mr_index_candidates (index.h). Takes the read lock itself. */
int ix_candidates(struct ix *ix, const struct mr_identity *who, const struct mr_index_query *q,
                  struct mr_index_candidate *out, size_t *out_n);

/* ---- graphs built aside (graph.c) ---- */

/*
 * Starts building p's graph aside when p crossed the ANN threshold or its
 * tombstones outnumber its live entries. Write lock held.
 */
void ix_build_maybe(struct ix *ix, struct ix_part *p);

/* Notes that id changed, for a graph being built aside. Write lock held. */
void ix_build_touch(struct ix_part *p, int64_t id);

/*
 * Waits until no graph is being built (tests, benchmarks, start-up
 * figures). Do not hold the lock.
 */
void ix_wait_builds(struct mr_index *base);

/* ---- kernels (kernels.c, quant.c) ---- */

/* The portable reference float32 kernel. */
float ix_dot_scalar(const float *a, const float *b, size_t dim);

/* "avx512", "avx2" or "scalar": the kernel mr_index_dot uses. */
const char *ix_kernel_name(void);

/* A float32 kernel by name, or NULL when this CPU lacks it (tests and benchmarks). */
mr_dot_fn ix_kernel(const char *name);

/*
 * int8 compact vectors: v scaled by max|v| / 127 into out (dim bytes);
 * returns the scale, so v·w ≈ dot_i8(a, b) × scale_a × scale_b.
 */
float ix_quantize_i8(const float *v, size_t dim, int8_t *out);

typedef int32_t (*ix_dot_i8_fn)(const int8_t *a, const int8_t *b, size_t dim);

/* The exact integer dot product: the reference, and the one picked by CPUID (AVX2). */
int32_t ix_dot_i8_scalar(const int8_t *a, const int8_t *b, size_t dim);
ix_dot_i8_fn ix_dot_i8_kernel(void);

#endif
