/* core_int.h — helpers private to src/core/. */
#ifndef MEMORI_CORE_INT_H
#define MEMORI_CORE_INT_H

#include <string.h>

#include "memori/service.h"

/* True when the row belongs to the caller (same user and tenant). */
static inline bool core_owns(const struct mr_identity *who, const char *user_id,
                             const char *tenant_id)
{
    return user_id && tenant_id && strcmp(who->user_id, user_id) == 0 &&
           strcmp(who->tenant_id, tenant_id) == 0;
}

/* True when m is another user's memory that who may read under relaxed isolation. */
static inline bool core_shared_with(const struct mr_service *svc, const struct mr_identity *who,
                                    const struct mr_memory *m)
{
    return svc->relaxed_sharing && m->is_shared && mr_memory_type_shareable(m->memory_type) &&
           m->tenant_id && strcmp(who->tenant_id, m->tenant_id) == 0;
}

/* Puts m (with its vector) into the index; nothing when the store searches itself. */
int core_index_put(struct mr_service *svc, const struct mr_memory *m, struct mr_err *err);

/* Drops id from who's index partition (when there is an in-process index). */
void core_index_remove(struct mr_service *svc, const struct mr_identity *who, int64_t id);

/* Ends tx: commits when rc == 0, rolls back otherwise; returns the final rc. */
int core_finish(struct mr_store_tx *tx, int rc, struct mr_err *err);

/* Reads the caller's memory memory_id inside tx; MR_ENOTFOUND if absent or foreign. */
int core_get_owned_memory(struct mr_store_tx *tx, const struct mr_identity *who,
                          const char *memory_id, struct mr_memory *out, struct mr_err *err);

/* Embeds text into a new vector of the embedder's dimension (caller frees). */
int core_embed(struct mr_service *svc, const char *text, size_t len, float **out,
               struct mr_err *err);

#endif
