// faiss_flat.cpp — see faiss_flat.h. Benchmark-only glue to a C++ library.
#include "faiss_flat.h"

#include <faiss/IndexFlat.h>
#include <omp.h>

struct faiss_flat {
    faiss::IndexFlatIP index;
    explicit faiss_flat(int d) : index(d) {}
};

extern "C" struct faiss_flat *faiss_flat_new(int d, long n, const float *data)
{
    omp_set_num_threads(1);
    faiss_flat *f = new faiss_flat(d);
    f->index.add(n, data);
    return f;
}

extern "C" void faiss_flat_search(struct faiss_flat *f, const float *query, int k, float *scores,
                                  long *rows)
{
    f->index.search(1, query, k, scores, rows);
}

extern "C" void faiss_flat_free(struct faiss_flat *f)
{
    delete f;
}
