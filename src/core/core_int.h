/* core_int.h — helpers private to src/core/. */
#ifndef MEMORI_CORE_INT_H
#define MEMORI_CORE_INT_H

#include <string.h>

#include "memori/embed.h"
#include "memori/index.h"
#include "memori/service.h"
#include "memori/store.h"

/* The service: its parts (borrowed) and the settings of mr_service_config. */
struct mr_service {
    struct mr_store *store;
    struct mr_embedder *embedder;
    /*
     * The in-process vector index, or NULL when the store searches its own
     * rows (PostgreSQL: several processes share it, so no process keeps a
     * copy that could go stale). Outside core this is the capability
     * MR_SERVICE_SEARCHES_IN_STORE.
     */
    struct mr_index *index;
    const struct mr_clock *clock;
    int short_term_expiry_days;
    int archive_threshold_days;
    int default_limit;
    double min_similarity[MR_SEARCH_MODES]; /* each mode's default, by enum mr_search_mode */
    double lexical_weight;                  /* the hybrid score's w (mr_service_config) */
    bool relaxed_sharing;
    size_t embed_batch_size;
    bool debug;
    size_t max_metadata_bytes;
    struct core_ctx_cache *ctx_cache; /* the data sources' context indexes (context.c) */
    struct core_access *access;       /* pending access statistics and their flusher (access.c) */
    enum mr_dedup_mode dedup_default; /* MEMORI_DEDUP: MR_DEDUP_OFF or MR_DEDUP_MERGE */
    double dedup_threshold;           /* the fused score a near duplicate reaches */
};

/*
 * ---- access statistics (src/core/access.c) ----
 *
 * Searches and context answers record accesses here, in memory; a flusher
 * thread merges them into the store in batches (mem_record_access), every
 * interval_ms after the first unflushed one (0: 100; < 0: no thread, only
 * core_access_flush and the stop write them) or at once past max_hits (<= 0:
 * 1024). Every read that serves rows merges the pending accesses into them.
 */
struct core_access;
struct core_access *core_access_new(struct mr_store *store, int interval_ms, int max_hits);
/* Stops the flusher and writes what is pending (a failure is told on stderr); NULL is a no-op. */
void core_access_free(struct core_access *a);
/* Writes every pending access now, in one batch (nothing pending: no transaction). */
int core_access_flush(struct core_access *a, struct mr_err *err);

/*
 * A read that serves rows: take core_access_epoch before reading them from
 * the store, then core_access_apply. apply merges each row's pending
 * accesses into it and, for the rows with record[i] (record may be NULL),
 * records one more access now (out_promoted[i]: it promoted the row, which
 * the index must then learn). It returns false, having changed nothing,
 * when a flush committed while the rows were read: read them again.
 */
uint64_t core_access_epoch(struct core_access *a);
bool core_access_apply(struct core_access *a, uint64_t seen, struct mr_memory *ms, size_t n,
                       const bool *record, bool *out_promoted, int64_t now);

/*
 * core_access_apply until it holds: when a flush committed during the read,
 * the rows' statistics are read again (by id, in a read transaction of its
 * own) and merged anew. Errors: the store's.
 */
int core_access_serve(struct mr_service *svc, uint64_t seen, struct mr_memory *ms, size_t n,
                      const bool *record, bool *out_promoted, int64_t now, struct mr_err *err);

/*
 * Merges m's pending accesses into m, unchecked: for a filter on what is
 * served (a pending promotion has changed type and expiry), never for
 * values returned.
 */
void core_access_peek(struct core_access *a, struct mr_memory *m);

/*
 * A write that reads m in tx and writes its columns back settles m's pending
 * accesses first: merges them into the row in tx (on PostgreSQL also locking
 * it) and reads *m again. After the transaction ends, core_access_settled
 * with its result puts them back as pending if it rolled back.
 */
struct core_access_taken {
    int64_t id, k, last;
};
int core_access_settle(struct mr_service *svc, struct mr_store_tx *tx, struct mr_memory *m,
                       struct core_access_taken *out, struct mr_err *err);
void core_access_settled(struct mr_service *svc, const struct core_access_taken *t, int rc);

/* What the table holds and has written, for tests and the stop. */
struct core_access_stats {
    int64_t pending; /* accesses not committed to the store yet */
    uint64_t flushes, flushed, failures;
};
void core_access_stats(struct core_access *a, struct core_access_stats *out);

/* The cache of context indexes (src/core/context.c); never NULL. */
struct core_ctx_cache *core_ctx_cache_new(void);
void core_ctx_cache_free(struct core_ctx_cache *c);
/* Drops the cached context index of (tenant, ds): its schema was just imported or deleted, or an
 * example taught it a join. */
void core_ctx_invalidate(struct mr_service *svc, const char *tenant, int64_t ds);

/*
 * The store's fused-search candidates for q (PostgreSQL: both sides as
 * q->sides asks, every filter applied), each with its exact cosine and
 * normalised BM25, unranked and unlocked, into *out (the caller frees).
 * search.c's store path and the context's retrieval share it.
 */
struct mr_fusion_candidate;
int core_store_candidates(struct mr_store_tx *tx, const struct mr_identity *who,
                          const struct mr_index_query *q, struct mr_fusion_candidate **out,
                          size_t *out_n, struct mr_err *err);

/*
 * The same from the in-process index (mr_index_candidates, room for every
 * candidate q can yield), as fusion candidates with both sides filled:
 * search's and dedup's index path.
 */
int core_index_candidates(struct mr_service *svc, const struct mr_identity *who,
                          const struct mr_index_query *q, struct mr_fusion_candidate **out,
                          size_t *out_n, struct mr_err *err);

/* True when the store's own vector index answers searches (no in-process index). */
static inline bool core_searches_in_store(const struct mr_service *svc)
{
    return svc->index == NULL;
}

/*
 * DEBUG=true: where an operation's time went. The embedder and index
 * phases add their microseconds; the rest of the call is the store's (its
 * transactions, plus the rules' few microseconds). core_trace_end prints one
 * line to stderr, nothing when the service is not in debug mode.
 */
struct core_trace {
    int64_t start_us, embed_us, index_us;
};

/* Monotonic microseconds in debug mode; 0 otherwise, so the phases cost nothing. */
static inline int64_t core_clock(const struct mr_service *svc)
{
    return svc->debug ? mr_monotonic_us() : 0;
}

static inline void core_trace_start(const struct mr_service *svc, struct core_trace *t)
{
    memset(t, 0, sizeof *t);
    t->start_us = core_clock(svc);
}

/* "memori: debug: <op> <user>@<tenant>: ok|<code>, <what> in T ms (embed E, index I, store S)" */
void core_trace_end(const struct mr_service *svc, const struct core_trace *t, const char *op,
                    const struct mr_identity *who, int rc, const char *what_fmt, ...)
    __attribute__((format(printf, 6, 7)));

/*
 * The metadata bound (MEMORI_MAX_METADATA_BYTES) on what would be stored:
 * metadata, the compact text after a create or a merge. MR_ETOOLARGE (413)
 * naming the field, with merged saying which it was.
 */
int core_check_metadata(const struct mr_service *svc, const char *metadata, bool merged,
                        struct mr_err *err);

/* True when the row belongs to the caller (same user and tenant). */
static inline bool core_owns(const struct mr_identity *who, const char *user_id,
                             const char *tenant_id)
{
    return user_id && tenant_id && strcmp(who->user_id, user_id) == 0 &&
           strcmp(who->tenant_id, tenant_id) == 0;
}

/*
 * True when v has a non-zero component: a query or text whose embedding is
 * all zeros has no semantic side to fuse (mr_fusion_for_query).
 */
static inline bool core_vec_nonzero(const float *v, size_t dim)
{
    for (size_t i = 0; i < dim; i++)
        if (v[i] != 0)
            return true;
    return false;
}

/*
 * True when m is tenant knowledge (DESIGN.md §9): a data source's schema
 * memory, owned by no user (user_id ""), readable by every user of its
 * tenant in both isolation levels.
 */
static inline bool core_tenant_knowledge(const struct mr_memory *m)
{
    return m->user_id && m->user_id[0] == '\0' && m->has_data_source_id && m->is_shared;
}

/* True when m is another user's memory that who may read (relaxed isolation, or tenant knowledge).
 */
static inline bool core_shared_with(const struct mr_service *svc, const struct mr_identity *who,
                                    const struct mr_memory *m)
{
    return (svc->relaxed_sharing || core_tenant_knowledge(m)) && m->is_shared &&
           mr_memory_type_shareable(m->memory_type) && m->tenant_id &&
           strcmp(who->tenant_id, m->tenant_id) == 0;
}

/*
 * Creates the conversation that holds data source ds's schema memories for
 * tenant_id (owned by no user: src/core/schema.c); its id into out.
 */
int core_schema_conversation_new(struct mr_store_tx *tx, const char *tenant_id, int64_t ds,
                                 int64_t now, char out[MR_UUID_LEN], struct mr_err *err);

/*
 * Puts m (with its vector) into the index; nothing when the store searches
 * itself. t (may be NULL) gets the time it took.
 */
int core_index_put(struct mr_service *svc, const struct mr_memory *m, struct core_trace *t,
                   struct mr_err *err);

/* Drops id from who's index partition (when there is an in-process index). */
void core_index_remove(struct mr_service *svc, const struct mr_identity *who, int64_t id,
                       struct core_trace *t);

/* Ends tx: commits when rc == 0, rolls back otherwise; returns the final rc. */
int core_finish(struct mr_store_tx *tx, int rc, struct mr_err *err);

/* Reads the caller's memory memory_id inside tx; MR_ENOTFOUND if absent or foreign. */
int core_get_owned_memory(struct mr_store_tx *tx, const struct mr_identity *who,
                          const char *memory_id, struct mr_memory *out, struct mr_err *err);

/*
 * Embeds text into a new vector of the embedder's dimension (caller frees).
 * t (may be NULL) gets the time it took.
 */
int core_embed(struct mr_service *svc, const char *text, size_t len, struct core_trace *t,
               float **out, struct mr_err *err);

/* ---- memory hygiene (issue 20, docs/hygiene.md): history.c, dedup.c ---- */

struct mr_json;

/*
 * The fields that differ between before and after, as {"field": {"old",
 * "new"}} (before NULL: a create, every field's old value null; after NULL:
 * a delete). Access statistics and updated_at are not history.
 */
struct mr_json *core_history_changes(const struct mr_memory *before, const struct mr_memory *after);
/* Adds one more entry to changes (old, new taken; NULL is null). */
void core_history_note(struct mr_json *changes, const char *field, struct mr_json *old,
                       struct mr_json *new);
/*
 * Appends m's event of kind with changes (taken) inside tx, by who at now:
 * its failure is the change's (the caller rolls back).
 */
int core_history_append(struct mr_store_tx *tx, const struct mr_identity *who, const char *kind,
                        const struct mr_memory *m, struct mr_json *changes, int64_t now,
                        struct mr_err *err);

/*
 * The actor of the events memori records on its own, for no caller's
 * request: a search's (or a context answer's) automatic promotion, written
 * by the access flusher or settled into another write (docs/hygiene.md).
 */
#define CORE_HISTORY_AUTO_ACTOR "memori"
/*
 * Appends the promote event of each of p[0..n) (mem_record_access's
 * promoted rows) inside tx, by CORE_HISTORY_AUTO_ACTOR at the row's access:
 * memory_type, importance_score and expires_at, old and new.
 */
int core_history_promotions(struct mr_store_tx *tx, const struct mr_access_promotion *p, size_t n,
                            struct mr_err *err);
/*
 * The delete event of every memory of conversation conv, by who, inside tx
 * before the conversation's cascade removes them; their row ids into *out
 * (malloc'd, *out_n; free it) for the index.
 */
int core_history_conversation_deletes(struct mr_store_tx *tx, const struct mr_identity *who,
                                      const char *conv, int64_t now, int64_t **out, size_t *out_n,
                                      struct mr_err *err);

/* A deep copy of src into dst without its vector (dim 0): a change's "before". */
void core_memory_copy(struct mr_memory *dst, const struct mr_memory *src);

/* text[0..n) normalised for exact duplicates (dedup.c's rule): a new string, *out_len bytes. */
char *core_dedup_normalise(const char *text, size_t n, size_t *out_len);
/* m's dedup key ("sha256:<hex>"): its type, data source and normalised content. */
void core_dedup_key(const struct mr_memory *m, char out[72]);
/*
 * Sets m's dedup key to key in tx, or clears it when another live memory of
 * its user already holds key (a PATCH or a merge that made two memories say
 * the same, or a restored row: both stay, as before this key existed;
 * docs/hygiene.md). Looked up first, not written and caught: on PostgreSQL
 * a refused key write would abort the whole transaction.
 */
int core_dedup_claim_key(struct mr_store_tx *tx, const struct mr_memory *m, const char *key,
                         struct mr_err *err);
/*
 * Records one access of m (the caller's own, read in tx) at now inside tx:
 * m's pending accesses settled into the row and m read again
 * (core_access_settle), then this one merged as an increment, as the
 * flusher merges a search's. *out_promoted when the access promoted it.
 */
int core_record_access(struct mr_service *svc, struct mr_store_tx *tx, struct mr_memory *m,
                       int64_t now, bool *out_promoted, struct mr_err *err);
/*
 * who's live memories of m's type whose fused score against m's content
 * (m's embedding and terms as the query) is at least threshold, best
 * first, into *out (*out_n of them; the caller frees the array). Candidates
 * from the in-process index, else from the store in tx.
 */
struct mr_fusion_candidate;
int core_dedup_near(struct mr_service *svc, struct mr_store_tx *tx, const struct mr_identity *who,
                    const struct mr_memory *m, double threshold, int64_t now,
                    struct mr_fusion_candidate **out, size_t *out_n, struct mr_err *err);

#endif
