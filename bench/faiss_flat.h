/*
 * faiss_flat.h — FAISS's IndexFlatIP behind a C interface, for bench_scan's
 * comparison only (libfaiss-dev is C++; faiss_flat.cpp is the whole shim).
 * One thread, as memori's scan answers one query on one core.
 */
#ifndef MEMORI_BENCH_FAISS_FLAT_H
#define MEMORI_BENCH_FAISS_FLAT_H

#ifdef __cplusplus
extern "C" {
#endif

struct faiss_flat;

/* A flat inner-product index over n vectors of d floats (copied in). */
struct faiss_flat *faiss_flat_new(int d, long n, const float *data);

/* The k best rows for one query: scores and row numbers. */
void faiss_flat_search(struct faiss_flat *f, const float *query, int k, float *scores, long *rows);

void faiss_flat_free(struct faiss_flat *f);

#ifdef __cplusplus
}
#endif

#endif
