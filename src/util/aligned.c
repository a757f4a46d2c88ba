/*
 * aligned.c — cache-line-aligned vector storage (util.h). Its own file so
 * the model tools, which build from util.c, do not depend on it.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memori/util.h"

static void oom(size_t n)
{
    fprintf(stderr, "memori: out of memory allocating %zu bytes\n", n);
    abort();
}

void *mr_xrealloc_aligned(void *p, size_t old_n, size_t n)
{
    /*
     * realloc first: a large block grows in place or is remapped (mremap),
     * keeping its offset within the page, so it usually stays aligned and
     * nothing is copied. Only when it comes back unaligned is it moved.
     */
    void *q = p ? realloc(p, n ? n : 1) : NULL;
    if (p && !q)
        oom(n);
    if (q && (uintptr_t)q % MR_VEC_ALIGN == 0)
        return q;
    /* aligned_alloc wants a size that is a multiple of the alignment. */
    size_t rounded = (n + MR_VEC_ALIGN - 1) / MR_VEC_ALIGN * MR_VEC_ALIGN;
    void *r = aligned_alloc(MR_VEC_ALIGN, rounded ? rounded : MR_VEC_ALIGN);
    if (!r)
        oom(n);
    if (q)
        memcpy(r, q, old_n < n ? old_n : n);
    free(q);
    return r;
}
