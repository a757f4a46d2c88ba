/*
 * snapshot.h — the in-process index's HNSW graphs saved to a file beside the
 * SQLite database, so a restart reuses them instead of rebuilding (a graph
 * of 1 M vectors takes a quarter of an hour to build, seconds to read).
 *
 * A snapshot is a cache, never the truth: the store is. Loading offers each
 * graph to its partition as the starting point of the build that partition
 * would have had anyway (mr_index_flat_seed); that build adds, drops and
 * replaces whatever differs from the store's entries, so a stale snapshot
 * (writes after it was saved, a crash) costs time, and a damaged or foreign
 * one is refused whole.
 *
 * File: "MRIXSNP1", a byte-order mark, the dimension and embedding model,
 * the number of graphs, then each graph's partition key and the graph
 * (mr_hnsw_save). Written to "<path>.tmp", synced, then renamed over path.
 */
#ifndef MEMORI_SNAPSHOT_H
#define MEMORI_SNAPSHOT_H

#include <stddef.h>

#include "memori/err.h"
#include "memori/index.h"

/* The snapshot path for a SQLite database file: "<db>.hnsw". Free it. */
char *mr_snapshot_path(const char *db_path);

/*
 * Writes every graph of ix (an mr_index_flat of dimension dim) to path for
 * model; *out_graphs says how many. A partition without a graph yet is left
 * out; with no graph at all the file is left as it is (it may still seed a
 * build in progress).
 */
int mr_snapshot_save(struct mr_index *ix, const char *path, const char *model, size_t dim,
                     size_t *out_graphs, struct mr_err *err);

/*
 * Reads path and seeds ix's partitions with its graphs (call between the
 * index load and mr_index_flat_set_ann); *out_graphs says how many were
 * taken. No file: 0 graphs, success. A file for another model or dimension,
 * or damaged anywhere: MR_EINVAL with the reason, and no graph is taken.
 */
int mr_snapshot_load(struct mr_index *ix, const char *path, const char *model, size_t dim,
                     size_t *out_graphs, struct mr_err *err);

#endif
