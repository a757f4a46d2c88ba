/*
 * hnsw.h — a hierarchical navigable small-world graph (Malkov & Yashunin
 * 2016) over unit vectors, for partitions too large to scan: approximate
 * top-k by dot product in O(log n) hops. Insert, tombstone delete, filtered
 * search (the filter is asked during the walk; ef grows until k accepted
 * results are found or the graph is exhausted).
 *
 * Not thread-safe by itself: the caller's lock guards writers against
 * readers (several searches may run at once).
 */
#ifndef MEMORI_HNSW_H
#define MEMORI_HNSW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "memori/index.h"

struct mr_hnsw;

/* M: links per node (2M at level 0); ef_construction: beam width while inserting. */
struct mr_hnsw *mr_hnsw_new(size_t dim, int m, int ef_construction, uint64_t seed);
void mr_hnsw_free(struct mr_hnsw *h);

/* Adds vec (copied) under id. Re-adding a live id is the caller's mistake. */
void mr_hnsw_add(struct mr_hnsw *h, int64_t id, const float *vec);

/* Tombstones id: never returned again, still used as a waypoint. */
void mr_hnsw_delete(struct mr_hnsw *h, int64_t id);

/* Live (not deleted) nodes. */
size_t mr_hnsw_count(const struct mr_hnsw *h);

/* All nodes, tombstones included (what the graph's memory holds). */
size_t mr_hnsw_nodes(const struct mr_hnsw *h);

/*
 * The vector stored for live id, or NULL. Valid until the next add (which
 * may move the graph's storage): the index keeps one copy of each vector,
 * the graph's, once a partition has a graph.
 */
const float *mr_hnsw_vector(const struct mr_hnsw *h, int64_t id);

typedef bool (*mr_hnsw_accept)(void *arg, int64_t id);

/*
 * The best k live nodes accepted by accept (NULL: all), best first, into out
 * (k slots); returns how many. ef >= k is the search beam.
 */
size_t mr_hnsw_search(const struct mr_hnsw *h, const float *q, size_t k, size_t ef,
                      mr_hnsw_accept accept, void *arg, struct mr_index_hit *out);

/*
 * Writes h to out (the snapshot format: native byte order, see hnsw.c);
 * 0, or -1 when a write failed.
 */
int mr_hnsw_save(const struct mr_hnsw *h, FILE *out);

/*
 * Reads a graph written by mr_hnsw_save, or NULL when what is there is not
 * one of dimension dim with at most max_nodes nodes, is cut short, or is
 * inconsistent (a link to a missing node or level, an id live twice): a
 * damaged snapshot is refused, never followed.
 */
struct mr_hnsw *mr_hnsw_load(FILE *in, size_t dim, size_t max_nodes);

/* Writes the ids of the live nodes into out (mr_hnsw_count slots); returns how many. */
size_t mr_hnsw_live_ids(const struct mr_hnsw *h, int64_t *out);

#endif
