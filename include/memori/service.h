/*
 * service.h — the memory service (src/core/): every operation of the API
 * as one call that embeds, runs one store transaction, applies the rules of
 * DESIGN.md §3 and keeps the index in step. It never knows which store,
 * embedder or index it talks to.
 *
 * Ownership: a memory or conversation that is not the caller's (user and
 * tenant) is MR_ENOTFOUND, never MR_EFORBIDDEN — its existence is not told.
 * Out structs are filled on success and freed by the caller with their
 * *_clear functions.
 */
#ifndef MEMORI_SERVICE_H
#define MEMORI_SERVICE_H

#include <stdbool.h>
#include <stddef.h>

#include "memori/clock.h"
#include "memori/err.h"
#include "memori/types.h"

/* The parts a service is built from; callers that build one include their headers. */
struct mr_store;
struct mr_store_tx;
struct mr_embedder;
struct mr_index;

struct mr_service; /* opaque: its parts are the service's business (src/core/core_int.h) */

/*
 * The search body's "mode" (DESIGN.md §8): how results are ranked. Hybrid
 * fuses the vector index's cosine with the lexical index's BM25; semantic
 * is the reference templates' ranking (the cosine alone); lexical is BM25
 * alone. Every mode reports both scores of each result.
 */
enum mr_search_mode {
    MR_SEARCH_HYBRID = 0, /* the default */
    MR_SEARCH_SEMANTIC,
    MR_SEARCH_LEXICAL,
};
#define MR_SEARCH_MODES 3

struct mr_service_config {
    struct mr_store *store;       /* borrowed: outlives the service */
    struct mr_embedder *embedder; /* borrowed */
    struct mr_index *index;       /* borrowed; NULL when the store searches its own rows */
    const struct mr_clock *clock; /* borrowed; NULL = the system clock */
    int short_term_expiry_days;
    int archive_threshold_days;
    int default_limit;
    /*
     * min_similarity of a search that sends none, on the fused score, in
     * hybrid mode; the other modes' are below. main.c takes them from the
     * embedder registry (each provider's and model's calibrated defaults,
     * docs/ranking.md), or all three from MEMORY_MIN_SIMILARITY_THRESHOLD
     * when it is set. A search ranked by one side only (semantic or lexical
     * mode, a query of stop words, a store without a lexical side) uses that
     * side's mode's.
     */
    double default_min_similarity;
    /*
     * The hybrid score's lexical weight w (fusion.h), in (0, 1]; main.c
     * takes it from the embedder registry (mr_embed_default_lexical_weight).
     * 0 or out of range: MR_FUSION_LEXICAL_WEIGHT. Near-duplicate merging
     * keeps MR_FUSION_LEXICAL_WEIGHT, the weight its threshold was chosen at.
     */
    double lexical_weight;
    /*
     * TENANT_ISOLATION_LEVEL=relaxed: searches (and reads by id) also see the
     * rule, entity and relationship memories other users of the tenant
     * marked shared — read-only, their access statistics untouched.
     */
    bool relaxed_sharing;
    /* Added after the agreed API; 0 / false keep the defaults. */
    int embed_batch_size; /* EMBEDDING_BATCH_SIZE: texts per embedder call of reembed; 0 = 100 */
    bool debug;           /* DEBUG=true: one stderr line per operation with its timing breakdown */
    /*
     * MEMORI_MAX_METADATA_BYTES: a memory's or conversation's metadata, as
     * stored (compact JSON) after a create or a merge, past which the call is
     * MR_ETOOLARGE and nothing is written; 0 = 65536.
     */
    size_t max_metadata_bytes;
    double semantic_min_similarity; /* the default min_similarity in semantic mode */
    double lexical_min_similarity;  /* the default min_similarity in lexical mode */
    /*
     * Access statistics (docs/decisions.md): searches and context answers
     * record them in memory, and a flusher thread merges them into the store
     * access_flush_ms after the first unflushed one (0 = 100; < 0: no thread,
     * only mr_service_flush_access and mr_service_free write them) or as
     * soon as access_flush_hits are pending (0 = 1024).
     */
    int access_flush_ms;
    int access_flush_hits;
    /*
     * MEMORI_DEDUP: a create's near-duplicate handling when it asks for none
     * (0 = MR_DEDUP_OFF), and the fused score at or above which a new memory
     * is merged into its best match (0 = MR_DEDUP_THRESHOLD, docs/hygiene.md).
     */
    int dedup_default;
    double dedup_threshold;
};

/*
 * Near duplicates on create (issue 20, docs/hygiene.md): "merge" folds a
 * new memory into the caller's live memory of the same type (and data
 * source) whose fused score (DESIGN.md §8) against it is at least the
 * threshold; "off" stores it. Exact duplicates (same normalised content,
 * type, data source and user) are always answered with the stored memory.
 */
enum mr_dedup_mode { MR_DEDUP_DEFAULT = 0, MR_DEDUP_OFF, MR_DEDUP_MERGE };
/* A merge keeps the stored content or replaces it with the new one. */
enum mr_dedup_policy { MR_DEDUP_KEEP = 0, MR_DEDUP_REPLACE };

/* "off"/"merge" and "keep"/"replace" (s[0..n), exact): 0 and *out, or -1. */
int mr_dedup_mode_parse(const char *s, size_t n, enum mr_dedup_mode *out);
int mr_dedup_policy_parse(const char *s, size_t n, enum mr_dedup_policy *out);

/*
 * The fused score at or above which a near duplicate is merged, calibrated
 * on tests/data/dedup_dev.tsv for the built-in model (false merges <= 1 %;
 * docs/perf.md, "Hygiene (issue 20)").
 */
#define MR_DEDUP_THRESHOLD 0.73

/*
 * Gives memory m, restored or rewritten in tx by import or migrate (its row
 * id set), the dedup key a create gives it (docs/hygiene.md) when it is live;
 * when another live memory of its user holds that key already (the second
 * of two restored ones saying the same) it keeps none, as a PATCH collision
 * does, so a restore never fails on a duplicate. An archived memory's key is
 * left as it is (a restored one has none).
 */
int mr_dedup_restore_key(struct mr_store_tx *tx, const struct mr_memory *m, struct mr_err *err);

/* What a create did. */
enum mr_create_outcome {
    MR_CREATE_STORED = 0, /* a new memory (201) */
    MR_CREATE_DUPLICATE,  /* an exact duplicate: the stored one, its access counted (200) */
    MR_CREATE_MERGED,     /* a near duplicate merged into the stored one (200) */
};

/* A service over cfg's parts (copied). Free with mr_service_free. Never NULL. */
struct mr_service *mr_service_new(const struct mr_service_config *cfg);
void mr_service_free(struct mr_service *svc);

/*
 * Writes the pending access statistics to the store now, in one batch.
 * mr_service_free does it too (a clean stop loses none); a crash loses at
 * most the last flush interval's.
 */
int mr_service_flush_access(struct mr_service *svc, struct mr_err *err);

/* MEMORY_ARCHIVE_THRESHOLD_DAYS: the default of ?days_threshold. */
int mr_service_archive_threshold_days(const struct mr_service *svc);

/* What GET /health reports. Strings point into svc or out; valid until svc is freed. */
struct mr_service_health {
    bool store_ok;
    const char *store_name; /* "sqlite", "postgres" */
    char store_detail[256]; /* "ok" or the store's message */
    bool embedder_ok;
    const char *embedder_name;
    size_t dim;
    char embedder_detail[256]; /* "ok" or the embedder's message */
    bool has_index;            /* an in-process index serves searches */
    size_t indexed;            /* entries in it (0 without one) */
    size_t graphs_building;
};
void mr_service_health(struct mr_service *svc, struct mr_service_health *out);

/*
 * The gauges of GET /metrics (metrics.h): store and model names, and the
 * in-process index's counts when there is one; no store query.
 */
struct mr_metrics_state;
void mr_service_metrics(struct mr_service *svc, struct mr_metrics_state *out);

/* Capabilities, so callers never test for a NULL index. */
#define MR_SERVICE_SEARCHES_IN_STORE 1u /* the store's own vector index answers searches */
unsigned mr_service_capabilities(const struct mr_service *svc);

/* Body of POST /api/memories. Pointers are borrowed for the call. */
struct mr_memory_create {
    const char *content;
    size_t content_len;
    enum mr_memory_type memory_type;
    char conversation_id[MR_UUID_LEN];
    double importance_score;
    const struct mr_strv *context_tags;
    const struct mr_strv *related_entities;
    const char *metadata;        /* JSON object text; NULL = {} */
    int64_t expires_at;          /* MR_NO_TIME = the type's default */
    bool shared;                 /* only rule, entity and relationship may be shared */
    enum mr_dedup_mode dedup;    /* MR_DEDUP_DEFAULT: the service's (MEMORI_DEDUP) */
    enum mr_dedup_policy policy; /* a merge's content: kept (default) or replaced */
};

/* Body of PATCH /api/memories/{id}: NULL / false fields stay unchanged. */
struct mr_memory_patch {
    const char *content;
    size_t content_len;
    bool has_importance;
    double importance_score;
    const struct mr_strv *context_tags; /* replaces */
    const char *metadata;               /* merged into the stored object */
    bool has_shared;
    bool shared;
    /*
     * Memories this one supersedes (canonical UUIDs): each is archived and
     * linked (its metadata "superseded_by", this one's "supersedes"). The
     * caller's only (else MR_ENOTFOUND); itself or a cycle is MR_ECONFLICT.
     */
    const char (*supersedes)[MR_UUID_LEN];
    size_t n_supersedes;
};

struct mr_search {
    const char *query;
    size_t query_len;
    const char *conversation_id; /* NULL = every conversation */
    size_t limit;                /* 0 = the configured default */
    bool has_min_similarity;
    double min_similarity;
    unsigned type_mask; /* 0 = every type */
    bool include_archived;
    enum mr_search_mode mode; /* 0 = hybrid */
};

struct mr_search_results {
    struct mr_memory *memories; /* n, best first, after their access stats were recorded */
    double *scores;             /* the fused score in [0, 1], non-increasing (similarity_score) */
    double *semantic;           /* the semantic score in [0, 1] of each (scores.semantic) */
    double *lexical;            /* the normalised BM25 in [0, 1] of each (scores.lexical) */
    size_t n;
    /*
     * The ranking used: the requested mode, or the one side a hybrid search
     * had (semantic for a query without an indexable term, lexical for a
     * zero query vector); the same on both stores.
     */
    enum mr_search_mode mode;
};

void mr_search_results_clear(struct mr_search_results *r);

struct mr_conversation_create {
    bool has_conversation_id;
    char conversation_id[MR_UUID_LEN];
    const char *title; /* NULL = none */
    bool has_data_source_id;
    int64_t data_source_id;
    const char *metadata; /* NULL = {} */
    bool has_is_active;
    bool is_active;
};

struct mr_conversation_patch {
    bool has_title;
    const char *title;    /* NULL with has_title clears it */
    const char *metadata; /* merged */
    bool has_is_active;
    bool is_active;
    bool has_data_source_id;
    bool data_source_id_null;
    int64_t data_source_id;
};

struct mr_page {
    int64_t limit, offset;
};

/*
 * Loads every stored memory into the index (start-up); nothing without one.
 * On failure err says why (the store's message, or the index's for the
 * memory it refused).
 */
int mr_service_load_index(struct mr_service *svc, struct mr_err *err);

int mr_memory_create(struct mr_service *svc, const struct mr_identity *who,
                     const struct mr_memory_create *in, struct mr_memory *out, struct mr_err *err);
/*
 * mr_memory_create, telling what it did (*out_outcome, may be NULL): an
 * exact duplicate of a live memory of the caller answers that memory with
 * its access counted; with dedup merge a near duplicate is merged into it
 * (docs/hygiene.md); else a new memory. Every change appends its history
 * event in the same transaction.
 */
int mr_memory_create_outcome(struct mr_service *svc, const struct mr_identity *who,
                             const struct mr_memory_create *in, struct mr_memory *out,
                             enum mr_create_outcome *out_outcome, struct mr_err *err);
int mr_memory_get(struct mr_service *svc, const struct mr_identity *who, const char *memory_id,
                  struct mr_memory *out, struct mr_err *err);
int mr_memory_update(struct mr_service *svc, const struct mr_identity *who, const char *memory_id,
                     const struct mr_memory_patch *p, struct mr_memory *out, struct mr_err *err);
int mr_memory_delete(struct mr_service *svc, const struct mr_identity *who, const char *memory_id,
                     struct mr_err *err);
/* MR_ECONFLICT when the memory is not short_term. */
int mr_memory_promote(struct mr_service *svc, const struct mr_identity *who, const char *memory_id,
                      struct mr_memory *out, struct mr_err *err);
/*
 * The caller's best matches for q, ranked by q->mode (DESIGN.md §8,
 * docs/ranking.md): the vector side's and the lexical side's candidates
 * under every filter, both scores computed exactly for each, fused, cut at
 * min_similarity on the fused score, the first `limit`; then their access
 * recorded. A query without an indexable term (stop words, punctuation)
 * is ranked by its vector alone, never an error.
 */
int mr_memory_search(struct mr_service *svc, const struct mr_identity *who,
                     const struct mr_search *q, struct mr_search_results *out, struct mr_err *err);
/*
 * GET /api/memories: the caller's own memories (archived and expired ones
 * too, with their state), newest first, only those of memory_type when it
 * is >= 0 (an enum mr_memory_type; -1: every type); *out_total counts all
 * the filter selects. out: an array of *out_n, embeddings not loaded (free
 * each with mr_memory_clear, then the array).
 */
int mr_memory_list(struct mr_service *svc, const struct mr_identity *who, int memory_type,
                   struct mr_page page, struct mr_memory **out, size_t *out_n, int64_t *out_total,
                   struct mr_err *err);
/*
 * memory_id's history (every change, oldest first; docs/hygiene.md), the
 * page asked: the owner's while the memory exists; after its delete, an
 * admin's of its tenant only (a schema memory, no user's: its tenant's
 * admins' always). Others get MR_ENOTFOUND. *out: *out_n events
 * (free each with mr_history_event_clear, then the array).
 */
int mr_memory_history(struct mr_service *svc, const struct mr_identity *who, bool admin,
                      const char *memory_id, struct mr_page page, struct mr_history_event **out,
                      size_t *out_n, int64_t *out_total, struct mr_err *err);
int mr_memory_stats(struct mr_service *svc, const struct mr_identity *who, struct mr_stats *out,
                    struct mr_err *err);
/*
 * days 0 = the configured MEMORY_ARCHIVE_THRESHOLD_DAYS. For mr_memory_stats
 * and mr_memory_archive, who->user_id NULL means every user of the tenant:
 * the API allows that to admins only.
 */
int mr_memory_archive(struct mr_service *svc, const struct mr_identity *who, int days,
                      int64_t *out_count, struct mr_err *err);

int mr_conversation_create(struct mr_service *svc, const struct mr_identity *who,
                           const struct mr_conversation_create *in, struct mr_conversation *out,
                           struct mr_err *err);
int mr_conversation_get(struct mr_service *svc, const struct mr_identity *who, const char *id,
                        struct mr_conversation *out, struct mr_err *err);
/* out: array of *out_n (free each with mr_conversation_clear, then the array). */
int mr_conversation_list(struct mr_service *svc, const struct mr_identity *who, struct mr_page page,
                         struct mr_conversation **out, size_t *out_n, int64_t *out_total,
                         struct mr_err *err);
int mr_conversation_update(struct mr_service *svc, const struct mr_identity *who, const char *id,
                           const struct mr_conversation_patch *p, struct mr_conversation *out,
                           struct mr_err *err);
int mr_conversation_delete(struct mr_service *svc, const struct mr_identity *who, const char *id,
                           struct mr_err *err);
int mr_conversation_memories(struct mr_service *svc, const struct mr_identity *who, const char *id,
                             struct mr_page page, struct mr_memory **out, size_t *out_n,
                             int64_t *out_total, struct mr_err *err);

/* ---- data sources (DESIGN.md §9; src/core/schema.c) ---- */

struct mr_sql_schema;

/* What PUT /api/data-sources/{id}/schema answers. Table names, qualified. */
struct mr_schema_summary {
    int64_t data_source_id;
    const char *dialect; /* static: "postgresql" | "sqlite" */
    char schema_hash[72];
    size_t tables, relationships, unchanged;
    struct mr_strv added, updated, removed;
};

void mr_schema_summary_clear(struct mr_schema_summary *s);

/*
 * Replaces the tenant's schema of data source ds with schema (parsed by the
 * caller), in one transaction: a failure leaves the previous one as it was.
 * Table memories (entity, metadata kind "table") and join memories
 * (relationship, kind "join") are tenant knowledge: owned by no user,
 * readable by all the tenant's users in both isolation levels. Unchanged
 * tables keep their memories untouched; changed ones are rewritten in place
 * (same id, same access statistics) and re-embedded; dropped ones are
 * archived (they leave search) and revived with their statistics if they
 * come back (then listed as added). Who may call it is the API's decision.
 */
int mr_schema_put(struct mr_service *svc, const struct mr_identity *who, int64_t ds,
                  const struct mr_sql_schema *schema, struct mr_schema_summary *out,
                  struct mr_err *err);
/* The stored schema's JSON (mr_sql_schema_to_json), the caller's; MR_ENOTFOUND when none. */
int mr_schema_get(struct mr_service *svc, const struct mr_identity *who, int64_t ds,
                  char **out_json, struct mr_err *err);
/* A stored schema as GET /api/data-sources lists it. */
struct mr_data_source {
    int64_t data_source_id;
    char *dialect; /* "postgresql" | "sqlite" */
    char *schema_hash;
    size_t tables, relationships;
    int64_t updated_at; /* the last PUT that changed it */
};

void mr_data_source_clear(struct mr_data_source *d);

/*
 * The caller's tenant's data sources that have a stored schema, by id:
 * page.offset of them skipped, at most page.limit in *out (the caller's,
 * each mr_data_source_clear'd, then the array), *out_total all of them.
 */
int mr_schema_list(struct mr_service *svc, const struct mr_identity *who, struct mr_page page,
                   struct mr_data_source **out, size_t *out_n, int64_t *out_total,
                   struct mr_err *err);
/* Removes the schema and its memories (from search too); MR_ENOTFOUND when none. */
int mr_schema_delete(struct mr_service *svc, const struct mr_identity *who, int64_t ds,
                     struct mr_err *err);

struct mr_sql_analysis;

/* Body of POST /api/examples, its SQL analysed (mr_sql_analyze) by the caller. */
struct mr_example_create {
    const char *question;
    size_t question_len;
    const char *sql;
    size_t sql_len;
    int64_t data_source_id;
    bool has_conversation_id;
    char
        conversation_id[MR_UUID_LEN]; /* absent: the caller's examples conversation of the source */
    bool verified;
    const char *metadata;                   /* JSON object text; NULL = {} */
    const struct mr_sql_schema *schema;     /* the source's, NULL when it has none */
    const struct mr_sql_analysis *analysis; /* of sql, against schema */
};

/*
 * Stores an example memory of the caller (DESIGN.md §9): content the
 * question, metadata the client's plus kind "example", sql, the analysis
 * (fingerprint, tables, columns, joins), question_normalized and verified.
 * The same (data source, normalised question, fingerprint) of the caller
 * returns the stored one (*out_created false). Each join the SQL makes
 * raises its join memory's importance; one the schema lacks becomes a
 * relationship memory with source "example" (tenant knowledge).
 */
int mr_example_create(struct mr_service *svc, const struct mr_identity *who,
                      const struct mr_example_create *in, struct mr_memory *out, bool *out_created,
                      struct mr_err *err);

/*
 * Rewrites every stored embedding with the service's embedder and records
 * its model in the store (`memori reembed`). One embedder call and one short
 * write transaction per embed_batch_size memories; while it runs the store
 * records a marker instead of a model (MR_REEMBED_MARKER "<model>"), so a
 * crash in the middle leaves a database that no server accepts as the old
 * or the new model, and running it again finishes the job. The new model
 * is recorded last. *out_count = memories re-embedded.
 */
int mr_service_reembed(struct mr_service *svc, int64_t *out_count, struct mr_err *err);

/* What an unfinished re-embedding records as the model, followed by the new model's name. */
#define MR_REEMBED_MARKER "unfinished-reembed:"

/* ---- context for a question (DESIGN.md §10; src/core/context.c, docs/context.md) ---- */

struct mr_ctx_result; /* memori/context.h */

/*
 * Reads a stored schema's JSON (mr_sql_schema_to_json's form) back into a
 * schema (*out the caller's, mr_sql_schema_free). The API's codec owns that
 * decoding (the JSON → specs step of PUT), so the service is handed it
 * rather than keeping a second copy of the rule.
 */
typedef int (*mr_schema_reader)(const char *json, size_t len, struct mr_sql_schema **out,
                                struct mr_err *err);

/* Body of POST /api/context, validated by the caller (ranges of §10). */
struct mr_context_request {
    const char *question;
    size_t question_len;
    bool has_data_source_id;
    int64_t data_source_id;      /* absent: the conversation's */
    const char *conversation_id; /* NULL: none (then no recent turns) */
    size_t token_budget;         /* 100..100000 */
    size_t max_tables;           /* 1..50 */
    size_t max_examples;         /* 0..20 */
    size_t max_rules; /* 0..100; pinned rules count towards it but are never left out for it */
    mr_schema_reader read_schema;
};

/* What POST /api/context answers. */
struct mr_context {
    bool has_data_source_id;
    int64_t data_source_id;
    struct mr_ctx_result *result; /* the rules, tables, joins, examples, recent turns and prompt */
    const char *detail;           /* static note ("… has no schema"), or NULL */
};

void mr_context_clear(struct mr_context *c);

/*
 * The context for who's question (DESIGN.md §10): the data source's schema
 * (a per-(tenant, data source) index cached by schema_hash and the stored
 * record's version, so a re-import or a delete is never served stale), table
 * candidates from hybrid retrieval over its table memories, the closest
 * examples of the data source, the caller's pinned rules and then the most
 * relevant ones (and the tenant's shared ones under relaxed isolation), the
 * conversation's latest short-term memories, assembled by mr_ctx_assemble
 * within the token budget. The caller's own rules, examples and recent turns
 * that the answer holds get their access recorded, as search does.
 * MR_ENOTFOUND: the conversation is not the caller's. A data source without
 * a schema (or none given) is no error: no tables, and detail says why.
 */
int mr_context_build(struct mr_service *svc, const struct mr_identity *who,
                     const struct mr_context_request *req, struct mr_context *out,
                     struct mr_err *err);

#endif
