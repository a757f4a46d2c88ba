/*
 * idmap.c — id → small number maps (see index_int.h): a partition's id →
 * slot and a graph's id → node, one implementation for both. Open
 * addressing with linear probing at most half full; a removal re-places the
 * rest of its probe run, so lookups never meet a hole inside a run.
 */
#include <stdlib.h>

#include "index_int.h"

#define FIRST_CAP 64

static size_t home(int64_t id, size_t cap)
{
    uint64_t x = (uint64_t)id * UINT64_C(0x9e3779b97f4a7c15);
    return (size_t)(x ^ (x >> 29)) & (cap - 1);
}

/* The cell holding id, or the empty cell where it would go. cap > 0. */
static size_t cell(const int64_t *ids, const uint32_t *vals, size_t cap, int64_t id)
{
    size_t i = home(id, cap);
    while (vals[i] && ids[i] != id)
        i = (i + 1) & (cap - 1);
    return i;
}

long ix_idmap_get(const struct ix_idmap *m, int64_t id)
{
    if (!m->cap)
        return -1;
    size_t i = cell(m->ids, m->vals, m->cap, id);
    return m->vals[i] ? (long)m->vals[i] - 1 : -1;
}

void ix_idmap_prefetch(const struct ix_idmap *m, int64_t id)
{
    if (!m->cap)
        return;
    size_t i = home(id, m->cap);
    __builtin_prefetch(&m->vals[i]);
    __builtin_prefetch(&m->ids[i]);
}

static void grow(struct ix_idmap *m)
{
    size_t ncap = m->cap ? m->cap * 2 : FIRST_CAP;
    int64_t *ids = mr_xcalloc(ncap, sizeof *ids);
    uint32_t *vals = mr_xcalloc(ncap, sizeof *vals);
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->vals[i])
            continue;
        size_t j = cell(ids, vals, ncap, m->ids[i]);
        ids[j] = m->ids[i];
        vals[j] = m->vals[i];
    }
    free(m->ids);
    free(m->vals);
    m->ids = ids;
    m->vals = vals;
    m->cap = ncap;
}

void ix_idmap_put(struct ix_idmap *m, int64_t id, uint32_t val)
{
    if ((m->used + 1) * 2 > m->cap)
        grow(m);
    size_t i = cell(m->ids, m->vals, m->cap, id);
    if (!m->vals[i])
        m->used++;
    m->ids[i] = id;
    m->vals[i] = val + 1;
}

long ix_idmap_take(struct ix_idmap *m, int64_t id)
{
    if (!m->cap)
        return -1;
    size_t mask = m->cap - 1, i = cell(m->ids, m->vals, m->cap, id);
    uint32_t val = m->vals[i];
    if (!val)
        return -1;
    m->vals[i] = 0;
    m->used--;
    for (size_t j = (i + 1) & mask; m->vals[j]; j = (j + 1) & mask) {
        int64_t rid = m->ids[j];
        uint32_t rval = m->vals[j];
        m->vals[j] = 0;
        size_t k = cell(m->ids, m->vals, m->cap, rid);
        m->ids[k] = rid;
        m->vals[k] = rval;
    }
    return (long)val - 1;
}

void ix_idmap_free(struct ix_idmap *m)
{
    free(m->ids);
    free(m->vals);
    *m = (struct ix_idmap){0};
}
