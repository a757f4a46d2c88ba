/*
 * memory_list.c — GET /api/memories: the caller's own memories, newest
 * first, a page at a time (the dashboard's table). A file of its own so
 * that memory.c keeps to the lifecycle rules it implements.
 */
#include "core_int.h"

int mr_memory_list(struct mr_service *svc, const struct mr_identity *who, int memory_type,
                   struct mr_page page, struct mr_memory **out, size_t *out_n, int64_t *out_total,
                   struct mr_err *err)
{
    struct core_trace t;
    struct mr_store_tx *tx;
    *out = NULL;
    *out_n = 0;
    *out_total = 0;
    core_trace_start(svc, &t);
    int rc = mr_store_begin(svc->store, MR_TX_READ, &tx, err);
    if (rc == 0) {
        rc = mr_store_mem_list(tx, who, memory_type, page.limit, page.offset, out, out_n, out_total,
                               err);
        mr_store_rollback(tx);
    }
    core_trace_end(svc, &t, "memory_list", who, rc, "%zu of %lld memories", rc ? 0 : *out_n,
                   (long long)(rc ? 0 : *out_total));
    return rc;
}
