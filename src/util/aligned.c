/*
 * aligned.c — cache-line-aligned vector storage (util.h). Its own file so
 * the model tools, which build from util.c, do not depend on it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memori/util.h"

void *mr_xrealloc_aligned(void *p, size_t old_n, size_t n)
{
    /* aligned_alloc wants a size that is a multiple of the alignment. */
    size_t rounded = (n + MR_VEC_ALIGN - 1) / MR_VEC_ALIGN * MR_VEC_ALIGN;
    void *q = aligned_alloc(MR_VEC_ALIGN, rounded ? rounded : MR_VEC_ALIGN);
    if (!q) {
        fprintf(stderr, "memori: out of memory allocating %zu bytes\n", n);
        abort();
    }
    if (p)
        memcpy(q, p, old_n < n ? old_n : n);
    free(p);
    return q;
}
