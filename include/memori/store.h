/*
 * store.h — the storage interface: the only code that speaks SQL lives
 * behind it (src/store/). SQLite is the embedded default; PostgreSQL fits
 * the same table, and also searches vectors in SQL. Neither library's
 * header reaches past src/store/: callers see our types only.
 *
 * Every request runs in one transaction: begin → calls → commit, or
 * rollback on any error, so a failed request leaves nothing half-written.
 * A transaction is bound to one connection and one thread until it ends.
 * A write's commit returns 0 only once its writes are durable (for
 * MR_TX_WRITE); a store may commit several concurrent writes with one
 * flush (SQLite's group commit), each still failing or succeeding alone.
 * Both stores pool their connections alike (struct mr_store_pool_config):
 * begin waits a bounded time for a free connection, then fails MR_EUNAVAIL.
 *
 * The store does not judge ownership: it returns rows by id and the memory
 * rules (src/core/) check user and tenant. Listing and counting calls take
 * an identity and never cross it. Nor does it hold a rule of its own: what
 * archival selects comes in as bounds (memori/rules.h).
 *
 * Getters zero their out struct first, so it is safe to clear after a failure.
 *
 * Errors: MR_ENOTFOUND for an absent row, MR_EUNAVAIL when the database
 * fails (busy past its timeout, disk full, I/O, no free connection),
 * MR_EINTERNAL for misuse. Messages say what failed in our words; the
 * database's own text (which names tables and constraints) goes to stderr.
 */
#ifndef MEMORI_STORE_H
#define MEMORI_STORE_H

#include "memori/err.h"
#include "memori/index.h"
#include "memori/lexical.h"
#include "memori/rules.h"
#include "memori/types.h"

struct mr_store;
struct mr_store_tx;

/*
 * Transaction modes. MR_TX_WRITE_LAZY is a write whose commit does not wait
 * for the disk (SQLite synchronous=NORMAL, PostgreSQL synchronous_commit=off):
 * durable against a crash of memori, may lose its last fraction of a second
 * on power loss — for the access flusher's statistics, never for memories.
 * Callers may pass false/true for MR_TX_READ/MR_TX_WRITE.
 */
enum mr_tx_mode { MR_TX_READ = 0, MR_TX_WRITE = 1, MR_TX_WRITE_LAZY = 2 };

/*
 * A data source's schema as last imported (DESIGN.md §9): tenant knowledge,
 * one per (tenant, data source). schema_json is mr_sql_schema_to_json's
 * text; conversation_id is the conversation that holds its memories.
 */
struct mr_source_schema {
    char *tenant_id;
    int64_t data_source_id;
    char *dialect;
    char *schema_hash;
    char *schema_json;
    char conversation_id[MR_UUID_LEN];
    int64_t updated_at;
};

void mr_source_schema_clear(struct mr_source_schema *s);

/* Accesses of one memory merged at once (mem_record_access). */
struct mr_access_delta {
    int64_t id;      /* the row id */
    int64_t count;   /* how many accesses; 0 only locks the row */
    int64_t last_at; /* the latest access's time (MR_NO_TIME when count is 0) */
};

/*
 * A row mem_record_access promoted (short_term to long_term by the merged
 * accesses, DESIGN.md §3): what its history event needs (docs/hygiene.md).
 * Free an array of them with mr_access_promotions_free.
 */
struct mr_access_promotion {
    int64_t id;
    char memory_id[MR_UUID_LEN];
    char *user_id, *tenant_id;
    int64_t at;               /* the row's latest access of the batch */
    double importance_before; /* the stored value before the merge */
    double importance_after;  /* after it: the accesses' and the promotion's boosts */
    int64_t expires_before;   /* the expiry it had (MR_NO_TIME: none); now none */
};

void mr_access_promotions_free(struct mr_access_promotion *p, size_t n);

/* Called once per memory by mem_scan; a non-zero return stops the scan and is returned. */
typedef int (*mr_store_scan_fn)(void *arg, const struct mr_memory *m);

/*
 * The turns mem_neighbours and mem_context read around each id: three each
 * side (MR_STORE_WINDOW in all), in out_around's order (store ops below).
 */
#define MR_STORE_WINDOW_SIDE 3
#define MR_STORE_WINDOW (2 * MR_STORE_WINDOW_SIDE)

struct mr_store_ops {
    const char *name;

    /* Starts a transaction (enum mr_tx_mode); a write takes the write lock up front. */
    int (*begin)(struct mr_store *s, int mode, struct mr_store_tx **out_tx, struct mr_err *err);
    /* Commits and releases tx (also on failure, after rolling back). */
    int (*commit)(struct mr_store_tx *tx, struct mr_err *err);
    /* Rolls back and releases tx. Never fails. */
    void (*rollback)(struct mr_store_tx *tx);

    /*
     * Records model/dim on first use; on later opens refuses (MR_ECONFLICT)
     * a different model or dimension, saying what the database holds.
     */
    int (*check_model)(struct mr_store *s, const char *model, size_t dim, struct mr_err *err);
    /* Overwrites the recorded model (after a re-embed, inside its transaction). */
    int (*set_model)(struct mr_store_tx *tx, const char *model, size_t dim, struct mr_err *err);

    int (*conv_get)(struct mr_store_tx *tx, const char *conversation_id,
                    struct mr_conversation *out, struct mr_err *err);
    /* Inserts c; sets c->id. MR_ECONFLICT when the UUID exists. */
    int (*conv_insert)(struct mr_store_tx *tx, struct mr_conversation *c, struct mr_err *err);
    /* Writes title, metadata, is_active, data_source_id, last_activity_at, updated_at. */
    int (*conv_update)(struct mr_store_tx *tx, const struct mr_conversation *c, struct mr_err *err);
    /* Deletes the conversation and (cascade) its memories. */
    int (*conv_delete)(struct mr_store_tx *tx, const char *conversation_id, struct mr_err *err);
    /* The identity's conversations, newest activity first; out array freed by the caller
     * (each element with mr_conversation_clear, then free). */
    int (*conv_list)(struct mr_store_tx *tx, const struct mr_identity *who, int64_t limit,
                     int64_t offset, struct mr_conversation **out, size_t *out_n,
                     int64_t *out_total, struct mr_err *err);

    /* Inserts m (its embedding included); sets m->id. */
    int (*mem_insert)(struct mr_store_tx *tx, struct mr_memory *m, struct mr_err *err);
    int (*mem_get)(struct mr_store_tx *tx, const char *memory_id, struct mr_memory *out,
                   struct mr_err *err);
    int (*mem_get_by_id)(struct mr_store_tx *tx, int64_t id, struct mr_memory *out,
                         struct mr_err *err);
    /* Writes every mutable column; the embedding only when with_embedding. */
    int (*mem_update)(struct mr_store_tx *tx, const struct mr_memory *m, bool with_embedding,
                      struct mr_err *err);
    int (*mem_delete)(struct mr_store_tx *tx, const char *memory_id, struct mr_err *err);
    /* A conversation's memories, oldest first; out freed as for conv_list. */
    int (*mem_list_by_conversation)(struct mr_store_tx *tx, const char *conversation_id,
                                    int64_t limit, int64_t offset, struct mr_memory **out,
                                    size_t *out_n, int64_t *out_total, struct mr_err *err);
    /* who->user_id NULL: the whole tenant (an admin's request). */
    int (*mem_stats)(struct mr_store_tx *tx, const struct mr_identity *who, struct mr_stats *out,
                     struct mr_err *err);
    /*
     * Archival (DESIGN.md §3): archives the identity's memories that the
     * bounds select (mr_rule_archive_bounds: of bounds->type, not archived,
     * created before, importance and access count below) — exactly those
     * mr_rule_is_archivable accepts; sets updated_at = now. who->user_id
     * NULL: every user of the tenant (an admin's request). Returns their row
     * ids and owners; free(*out_ids), and each (*out_users)[i] then *out_users.
     */
    int (*mem_archive)(struct mr_store_tx *tx, const struct mr_identity *who,
                       const struct mr_archive_bounds *bounds, int64_t now, int64_t **out_ids,
                       char ***out_users, size_t *out_n, struct mr_err *err);
    /*
     * Vector search inside tx, for a store that holds its own vector index
     * (PostgreSQL with pgvector): who's best q->limit matches with every
     * filter of q applied in the query and q->min_score after it, best first,
     * each row locked until tx ends so its access statistics can be written
     * without losing a concurrent update. *out holds *out_n memories (their
     * embeddings not loaded: dim 0) and *out_scores their cosine similarity;
     * free each with mr_memory_clear, then both arrays. MR_ENOTSUP when the
     * store has no vector index (SQLite: the service searches its in-process
     * index instead).
     */
    int (*mem_search)(struct mr_store_tx *tx, const struct mr_identity *who,
                      const struct mr_index_query *q, struct mr_memory **out, float **out_scores,
                      size_t *out_n, struct mr_err *err);
    /*
     * mem_search's first half, for a search that fuses sides (DESIGN.md §8):
     * who's best q->limit ids by the store's cosine (>= q->min_score) with
     * every filter of q, best first, into *out (free it), nothing locked or
     * read. The store's cosine chooses candidates only: the service computes
     * the one it ranks with from the embeddings mem_lock reads, as the
     * in-process index does (the same kernel, the same bits). MR_ENOTSUP as
     * for mem_search.
     */
    int (*mem_vector_search)(struct mr_store_tx *tx, const struct mr_identity *who,
                             const struct mr_index_query *q, struct mr_index_hit **out,
                             size_t *out_n, struct mr_err *err);
    /*
     * Locks ids[0..n) until tx ends, in id order (as mem_search locks its
     * hits, so two searches never deadlock) — in a read transaction
     * (MR_TX_READ) it locks nothing — and reads them (embeddings not
     * loaded) into *out, in id order; an absent id is skipped. Free each
     * with mr_memory_clear, then the array. MR_ENOTSUP as for mem_search.
     */
    int (*mem_lock)(struct mr_store_tx *tx, const int64_t *ids, size_t n, struct mr_memory **out,
                    size_t *out_n, struct mr_err *err);
    /*
     * What a fused search needs of its candidates ids[0..n) (distinct), read
     * in one statement without locking them: for each i, out_found[i] (the
     * row exists with a dim-float embedding), its embedding's stored floats
     * exactly into out_vecs[i·dim..], and out_bm25[i] its raw BM25 for
     * terms (NULL or none: 0) with who's partition statistics — what
     * mem_lex_score would give — read in the same snapshot; *out_max the
     * query's normaliser. The caller's arrays. MR_ENOTSUP as for mem_search.
     */
    int (*mem_candidates)(struct mr_store_tx *tx, const struct mr_identity *who,
                          const struct mr_lex_terms *terms, const int64_t *ids, size_t n,
                          size_t dim, float *out_vecs, bool *out_found, double *out_bm25,
                          double *out_max, struct mr_err *err);
    /*
     * Merges batched accesses into live rows (the access flusher's,
     * src/core/access.c), an increment on whatever the row holds now, never
     * an overwrite: for each d[i] with count > 0, row d[i].id gets
     * access_count + count, last_accessed_at and updated_at at least
     * last_at, importance_score + count x MR_ACCESS_IMPORTANCE_BOOST capped
     * at 1, and then the promotion (long_term, no expiry, + the promotion
     * boost) when those merged values meet the bar — exactly
     * mr_rule_record_accesses, in SQL, the rule's constants bound as
     * parameters, in one statement where the backend can. A row that no
     * longer exists is skipped (a deleted memory is never resurrected);
     * *out_changed (may be NULL) counts the rows merged; the rows the merge
     * promoted go to *out_promoted (malloc'd, *out_n_promoted of them, NULL
     * when none; out_promoted NULL: not wanted), for their history events,
     * read by the same statement where the backend can. A count of 0
     * changes nothing but, where the store locks rows (PostgreSQL), locks
     * the row until tx ends, so a read-modify-write of the row after it sees
     * every committed access.
     */
    int (*mem_record_access)(struct mr_store_tx *tx, const struct mr_access_delta *d, size_t n,
                             size_t *out_changed, struct mr_access_promotion **out_promoted,
                             size_t *out_n_promoted, struct mr_err *err);
    /*
     * Lexical (BM25) search inside tx, for a store that keeps the lexical
     * statistics itself (PostgreSQL: each memory's terms as mr_lex_terms_new
     * gives them, and per partition (tenant_id, user_id) the document count,
     * total length and df per term, kept in step by every write in its
     * transaction). who's memories holding at least one of terms' terms,
     * with q's filters (types, conversation, archived, expiry at q->now,
     * include_shared; q->vec, q->dim and q->min_score are ignored), scored
     * by lexical.h's pure functions with who's partition statistics (a
     * shared memory of another user included), so the numbers are the
     * bits mr_lex_index_search gives over the same contents. The best k,
     * best first, ties by lower id, into *out (free it; each hit's lexical
     * = mr_lex_normalise(bm25, *out_max)); *out_max (may be NULL) the
     * query's normaliser. A query without terms gives no hit and max 0.
     * MR_ENOTSUP when the store has no lexical index (SQLite: the service
     * keeps one in process).
     */
    int (*mem_lex_search)(struct mr_store_tx *tx, const struct mr_identity *who,
                          const struct mr_index_query *q, const struct mr_lex_terms *terms,
                          size_t k, struct mr_lex_hit **out, size_t *out_n, double *out_max,
                          struct mr_err *err);
    /*
     * Both sides of a fused search at once, where the store can send them
     * together: exactly what mem_vector_search(tx, who, q, out_vec,
     * out_n_vec) and then mem_lex_search(tx, who, q, terms, k, out_lex,
     * out_n_lex, out_max) give (each output as theirs; free the arrays),
     * but in fewer round trips; and into *out_all (*out_n_all of them,
     * ordered by id; free it) the raw BM25 of every memory the lexical side
     * scored before its filters and cut: every memory of who's partition
     * (and every shared one the search may return) holding a query term,
     * so any other such memory's BM25 is 0 — what mem_lex_score gives, in
     * the same snapshot, without reading the rows again. PostgreSQL sends the two statements in one
     * pipeline, and when they are the first statements of a read
     * transaction (MR_TX_READ) makes it REPEATABLE READ, so both sides and
     * every later statement of tx read one snapshot. On failure nothing is
     * returned, err is what the failing side's own op would have given, and
     * the connection is left usable (or, if the server is gone, never
     * pooled again). MR_ENOTSUP as for mem_lex_search.
     */
    int (*mem_sides_search)(struct mr_store_tx *tx, const struct mr_identity *who,
                            const struct mr_index_query *q, const struct mr_lex_terms *terms,
                            size_t k, struct mr_index_hit **out_vec, size_t *out_n_vec,
                            struct mr_lex_hit **out_lex, size_t *out_n_lex, double *out_max,
                            struct mr_lex_hit **out_all, size_t *out_n_all, struct mr_err *err);
    /*
     * The raw BM25 of each of ids[0..n) for terms, with who's partition
     * statistics, into out_scores[0..n) (the caller's array): what a
     * mem_lex_search would give it, 0 for an absent id or one sharing no
     * term (a candidate only the vector side found). *out_max (may be NULL)
     * the query's normaliser. MR_ENOTSUP as for mem_lex_search.
     */
    int (*mem_lex_score)(struct mr_store_tx *tx, const struct mr_identity *who,
                         const struct mr_lex_terms *terms, const int64_t *ids, size_t n,
                         double *out_scores, double *out_max, struct mr_err *err);
    /*
     * Neighbour context (docs/ranking.md, "Neighbour context"): for each of
     * ids[0..n) that is one of who's turns (mr_rule_is_turn; who's tenant
     * and user), the MR_STORE_WINDOW_SIDE turns of who before it and as
     * many after it in its conversation by id, into
     * out_around[MR_STORE_WINDOW·i..]: the third before, the second, the
     * first, then the first after, the second, the third; 0 where there is
     * none, and all 0 for an id that is not one of who's turns or does
     * not exist. (A turn's context reads two each side; a lexical hit's
     * neighbour, which joins the candidates, reads the hit's third.)
     * out_bm25[MR_STORE_WINDOW·i..] gets each one's raw BM25 for terms with
     * who's partition statistics (0 without terms), what mem_lex_score
     * would give, read in the same statement. Whatever the neighbours'
     * archive or expiry: a neighbour lends its words, only results are
     * filtered. Nothing locked. The caller's arrays. MR_ENOTSUP as for
     * mem_lex_search.
     */
    int (*mem_neighbours)(struct mr_store_tx *tx, const struct mr_identity *who,
                          const struct mr_lex_terms *terms, const int64_t *ids, size_t n,
                          int64_t *out_around, double *out_bm25, struct mr_err *err);
    /*
     * A hybrid search's context step and its embeddings in one statement,
     * for a caller that has every BM25 already (mem_sides_search's out_all):
     * out_around[MR_STORE_WINDOW·i..] for each of ids[0..n) (distinct) as
     * mem_neighbours gives it, and into *out_vec_ids (ascending) and
     * *out_vecs (dim floats each, the stored floats exactly; *out_n_vecs of
     * them; free both) the embedding of every id that exists with a
     * dim-float one, as mem_candidates reads them, and of the first turns
     * before and after each of wide[0..n_wide) (a subset of ids); with
     * around_vecs also of every id's first and second turns and of the
     * third ones around each of wide[] (it may hold other turns of those
     * windows too). An id or turn absent from *out_vec_ids does not exist
     * (or has another dimension). Nothing locked. MR_ENOTSUP as for mem_lex_search.
     */
    int (*mem_context)(struct mr_store_tx *tx, const struct mr_identity *who, const int64_t *ids,
                       size_t n, const int64_t *wide, size_t n_wide, bool around_vecs, size_t dim,
                       int64_t *out_around, int64_t **out_vec_ids, float **out_vecs,
                       size_t *out_n_vecs, struct mr_err *err);
    /*
     * A hybrid search's candidates and context step together, where the
     * store can do them in fewer round trips: exactly mem_sides_search(tx,
     * who, q, terms, k, out_vec, out_n_vec, out_lex, out_n_lex, out_max,
     * out_all, out_n_all), then mem_context(tx, who, ids, n, wide, n_wide,
     * around_vecs, dim, …) where ids are the vector hits' and the lexical
     * hits' ids, each once, ascending, into *out_ids (*out_n_ids of them;
     * free it) with their windows into *out_around (MR_STORE_WINDOW each,
     * in *out_ids' order; free it), and wide the lexical hits; the
     * embeddings into *out_vec_ids, *out_vecs, *out_n_vecs as mem_context
     * gives them. PostgreSQL checks the lexical side's filters in the
     * context statement (docs/perf.md). On failure nothing is returned.
     * MR_ENOTSUP as for mem_lex_search.
     */
    int (*mem_sides_context)(struct mr_store_tx *tx, const struct mr_identity *who,
                             const struct mr_index_query *q, const struct mr_lex_terms *terms,
                             size_t k, bool around_vecs, size_t dim, struct mr_index_hit **out_vec,
                             size_t *out_n_vec, struct mr_lex_hit **out_lex, size_t *out_n_lex,
                             double *out_max, struct mr_lex_hit **out_all, size_t *out_n_all,
                             int64_t **out_ids, int64_t **out_around, size_t *out_n_ids,
                             int64_t **out_vec_ids, float **out_vecs, size_t *out_n_vecs,
                             struct mr_err *err);
    /* Calls fn for every memory of every user (index load, re-embedding). */
    int (*mem_scan)(struct mr_store_tx *tx, mr_store_scan_fn fn, void *arg, struct mr_err *err);

    /* The stored schema of (tenant_id, data_source_id); MR_ENOTFOUND when none. */
    int (*schema_get)(struct mr_store_tx *tx, const char *tenant_id, int64_t data_source_id,
                      struct mr_source_schema *out, struct mr_err *err);
    /* Inserts or replaces the schema of (s->tenant_id, s->data_source_id). */
    int (*schema_put)(struct mr_store_tx *tx, const struct mr_source_schema *s, struct mr_err *err);
    /* Removes it (not its memories); MR_ENOTFOUND when none. */
    int (*schema_delete)(struct mr_store_tx *tx, const char *tenant_id, int64_t data_source_id,
                         struct mr_err *err);
    /* Row ids of the tenant's memories about data_source_id, every user's, archived too,
     * in id order; free(*out). */
    int (*mem_ids_by_data_source)(struct mr_store_tx *tx, const char *tenant_id,
                                  int64_t data_source_id, int64_t **out, size_t *out_n,
                                  struct mr_err *err);
    /*
     * Lookups of example ingestion (src/core/examples.c), answered by the
     * database so that an example costs the same against any schema size.
     * All take the tenant's memories about data_source_id, archived too, the
     * lowest row id first; a metadata field matches only as a JSON string.
     *
     * mem_find_example: user_id's memory of type example whose metadata has
     * question_normalized and fingerprint equal to the given ones, read whole
     * into *out (*out_found false and *out zeroed when none).
     */
    int (*mem_find_example)(struct mr_store_tx *tx, const char *tenant_id, const char *user_id,
                            int64_t data_source_id, const char *question_normalized,
                            const char *fingerprint, struct mr_memory *out, bool *out_found,
                            struct mr_err *err);
    /* For each keys[i]: the row id of the tenant's join memory (user "", type relationship,
     * metadata kind "join") whose join_key is keys[i], else 0, into out_ids[i]. */
    int (*mem_find_joins)(struct mr_store_tx *tx, const char *tenant_id, int64_t data_source_id,
                          const char *const *keys, size_t n, int64_t *out_ids, struct mr_err *err);
    /* The conversation of the source's first tenant-owned (user "") memory; "" when none. */
    int (*ds_owner_conversation)(struct mr_store_tx *tx, const char *tenant_id,
                                 int64_t data_source_id, char out[MR_UUID_LEN], struct mr_err *err);

    /*
     * ---- export, import and migrate (`memori export|import|migrate`) ----
     *
     * Pages walk rows in id order: rows with id > after_id, at most limit
     * of them, so a caller streams a store of any size one page at a time.
     * who NULL: every row; who->user_id NULL: the tenant's. Arrays are freed
     * by the caller as for conv_list.
     */
    int (*conv_page)(struct mr_store_tx *tx, const struct mr_identity *who, int64_t after_id,
                     size_t limit, struct mr_conversation **out, size_t *out_n, struct mr_err *err);
    /* Memories as conv_page; embeddings loaded only when with_embedding (else dim 0). */
    int (*mem_page)(struct mr_store_tx *tx, const struct mr_identity *who, int64_t after_id,
                    size_t limit, bool with_embedding, struct mr_memory **out, size_t *out_n,
                    struct mr_err *err);
    /*
     * Stored schemas in (tenant_id, data_source_id) order after (after_tenant,
     * after_ds) (after_tenant NULL: from the first); tenant_id NULL: every
     * tenant's. Free each with mr_source_schema_clear, then the array.
     */
    int (*schema_page)(struct mr_store_tx *tx, const char *tenant_id, const char *after_tenant,
                       int64_t after_ds, size_t limit, struct mr_source_schema **out, size_t *out_n,
                       struct mr_err *err);
    /*
     * The recorded model and dimension, without recording one (*out_model
     * NULL when the database records none; the caller frees it).
     */
    int (*model_get)(struct mr_store_tx *tx, char **out_model, size_t *out_dim, struct mr_err *err);
    /*
     * Inserts a conversation or memory restored from elsewhere, keeping its
     * row id c->id / m->id when no row of the target holds it (so a restored
     * database answers with the same ids), else taking a fresh one; sets the
     * id it got. MR_ECONFLICT when the UUID exists.
     */
    int (*conv_restore)(struct mr_store_tx *tx, struct mr_conversation *c, struct mr_err *err);
    int (*mem_restore)(struct mr_store_tx *tx, struct mr_memory *m, struct mr_err *err);

    /* Cheap liveness probe for /health. */
    int (*health)(struct mr_store *s, struct mr_err *err);
    void (*close)(struct mr_store *s);

    /*
     * GET /api/memories (the dashboard's table): who's own memories (its
     * tenant and user, neither NULL), archived and expired ones too, only
     * those of memory_type when it is >= 0 (an enum mr_memory_type; -1:
     * every type), newest first (created_at, then id, descending), limit of
     * them from offset; *out_total counts every row the filter selects.
     * Embeddings are not loaded (dim 0). Freed as for conv_list.
     */
    int (*mem_list)(struct mr_store_tx *tx, const struct mr_identity *who, int memory_type,
                    int64_t limit, int64_t offset, struct mr_memory **out, size_t *out_n,
                    int64_t *out_total, struct mr_err *err);

    /*
     * ---- memory hygiene (issue 20, docs/hygiene.md) ----
     *
     * A memory's dedup_key (its normalised content's hash with its type and
     * data source, src/core/dedup.c) is unique among the live (not
     * archived) rows of one user: a unique index holds it, so two writers
     * racing to store one fact cannot both succeed. NULL: not deduplicated.
     */
    /* Appends e (its id set); fails like any write, failing the change it records. */
    int (*hist_insert)(struct mr_store_tx *tx, struct mr_history_event *e, struct mr_err *err);
    /*
     * memory_id's events, oldest first, the page [offset, offset + limit);
     * *out_total all of them. Free each with mr_history_event_clear, then
     * the array. No events: *out_n = *out_total = 0 (not MR_ENOTFOUND).
     */
    int (*hist_list)(struct mr_store_tx *tx, const char *memory_id, int64_t limit, int64_t offset,
                     struct mr_history_event **out, size_t *out_n, int64_t *out_total,
                     struct mr_err *err);
    /* The live memory of (tenant, user) holding key, into *out when *out_found. */
    int (*mem_find_dedup)(struct mr_store_tx *tx, const char *tenant_id, const char *user_id,
                          const char *key, struct mr_memory *out, bool *out_found,
                          struct mr_err *err);
    /*
     * Sets (key NULL: clears) memory id's dedup_key. MR_ECONFLICT when another
     * live memory of its user holds key (the unique index refused it; on
     * PostgreSQL the transaction is then aborted and must be retried).
     */
    int (*mem_set_dedup_key)(struct mr_store_tx *tx, int64_t id, const char *key,
                             struct mr_err *err);

    /*
     * ---- history carried by export, import and migrate ----
     *
     * Up to limit events with id > after_id, in id order, of every memory
     * (who NULL) or of who's tenant (and user, when set), deleted memories'
     * included. Free each with mr_history_event_clear, then the array.
     */
    int (*hist_page)(struct mr_store_tx *tx, const struct mr_identity *who, int64_t after_id,
                     size_t limit, struct mr_history_event **out, size_t *out_n,
                     struct mr_err *err);
    /*
     * Inserts an event restored from elsewhere as it is (created_at kept),
     * keeping its id e->id when no event of the target holds it, else taking
     * a fresh one; sets the id it got. Events that follow still get higher ids.
     */
    int (*hist_restore)(struct mr_store_tx *tx, struct mr_history_event *e, struct mr_err *err);
};

struct mr_store {
    const struct mr_store_ops *ops;
};

/* Every transaction begins with this header so the wrappers can reach the ops. */
struct mr_store_tx {
    struct mr_store *store;
};

/* A begin waits this long for a free connection by default (SQLAlchemy's pool_timeout). */
#define MR_STORE_POOL_WAIT_MS 30000

/*
 * How a store pools its connections; the same on both stores (src/store/pool.c).
 * Up to size connections stay open once opened; under load up to max_overflow
 * more are opened and closed again when returned. A begin that finds them all
 * busy waits up to wait_ms (0: MR_STORE_POOL_WAIT_MS) for one, then fails
 * MR_EUNAVAIL (503) saying that the pool is exhausted.
 */
struct mr_store_pool_config {
    int size;         /* DATABASE_POOL_SIZE; < 1 is 1 */
    int max_overflow; /* DATABASE_MAX_OVERFLOW */
    int wait_ms;
};

/*
 * Opens the SQLite store at path (created if absent), migrating its schema.
 * One file serves one memori process (its vectors live in that process's
 * index): the store holds an exclusive lock on "<path>.lock" while open, so
 * a second open — by another process or this one — fails MR_EBUSY, naming
 * the process that holds it; the lock dies with its process (kill -9
 * included). Returns NULL and fills err on failure. Free with mr_store_close.
 */
struct mr_store *mr_store_sqlite_open_with(const char *path,
                                           const struct mr_store_pool_config *pool,
                                           struct mr_err *err);

/* mr_store_sqlite_open_with keeping pool_size connections, waiting the default time. */
static inline struct mr_store *mr_store_sqlite_open(const char *path, int pool_size,
                                                    struct mr_err *err)
{
    struct mr_store_pool_config pool = {pool_size, 0, 0};
    return mr_store_sqlite_open_with(path, &pool, err);
}

/*
 * Group commit on SQLite (docs/decisions.md): concurrent write transactions
 * of one process share SQLite transactions and their fsyncs, each in its
 * own savepoint; a commit returns once its batch is durable. These are its
 * counters: batches committed, the write transactions they held, and the
 * writers waiting for their turn right now. MR_ENOTSUP for another store.
 */
struct mr_store_group_stats {
    uint64_t batches, jobs;
    int queued;
};
int mr_store_sqlite_group_stats(struct mr_store *s, struct mr_store_group_stats *out);

/*
 * True when url is one the PostgreSQL store opens: postgresql://, postgres://,
 * or SQLAlchemy's driver forms (postgresql+asyncpg://, +psycopg2://,
 * +psycopg://, +pg8000://).
 */
bool mr_store_is_postgres_url(const char *url);

/*
 * Opens the PostgreSQL store at url (postgresql://user:password@host:port/db
 * or another form mr_store_is_postgres_url accepts), creating the pgvector
 * extension and migrating the schema. A connection the server dropped is
 * re-opened on its next use. ef_search is pgvector's hnsw.ef_search (0: its
 * default). Returns NULL and fills err (password masked) on failure.
 */
struct mr_store *mr_store_postgres_open_with(const char *url,
                                             const struct mr_store_pool_config *pool, int ef_search,
                                             struct mr_err *err);

/* mr_store_postgres_open_with pool_size + max_overflow connections, the default wait. */
static inline struct mr_store *mr_store_postgres_open(const char *url, int pool_size,
                                                      int max_overflow, int ef_search,
                                                      struct mr_err *err)
{
    struct mr_store_pool_config pool = {pool_size, max_overflow, 0};
    return mr_store_postgres_open_with(url, &pool, ef_search, err);
}

static inline int mr_store_begin(struct mr_store *s, int mode, struct mr_store_tx **out_tx,
                                 struct mr_err *err)
{
    return s->ops->begin(s, mode, out_tx, err);
}
static inline int mr_store_commit(struct mr_store_tx *tx, struct mr_err *err)
{
    return tx->store->ops->commit(tx, err);
}
static inline void mr_store_rollback(struct mr_store_tx *tx)
{
    tx->store->ops->rollback(tx);
}
static inline int mr_store_check_model(struct mr_store *s, const char *model, size_t dim,
                                       struct mr_err *err)
{
    return s->ops->check_model(s, model, dim, err);
}
static inline int mr_store_set_model(struct mr_store_tx *tx, const char *model, size_t dim,
                                     struct mr_err *err)
{
    return tx->store->ops->set_model(tx, model, dim, err);
}
static inline int mr_store_conv_get(struct mr_store_tx *tx, const char *id,
                                    struct mr_conversation *out, struct mr_err *err)
{
    return tx->store->ops->conv_get(tx, id, out, err);
}
static inline int mr_store_conv_insert(struct mr_store_tx *tx, struct mr_conversation *c,
                                       struct mr_err *err)
{
    return tx->store->ops->conv_insert(tx, c, err);
}
static inline int mr_store_conv_update(struct mr_store_tx *tx, const struct mr_conversation *c,
                                       struct mr_err *err)
{
    return tx->store->ops->conv_update(tx, c, err);
}
static inline int mr_store_conv_delete(struct mr_store_tx *tx, const char *id, struct mr_err *err)
{
    return tx->store->ops->conv_delete(tx, id, err);
}
static inline int mr_store_conv_list(struct mr_store_tx *tx, const struct mr_identity *who,
                                     int64_t limit, int64_t offset, struct mr_conversation **out,
                                     size_t *out_n, int64_t *out_total, struct mr_err *err)
{
    return tx->store->ops->conv_list(tx, who, limit, offset, out, out_n, out_total, err);
}
static inline int mr_store_mem_insert(struct mr_store_tx *tx, struct mr_memory *m,
                                      struct mr_err *err)
{
    return tx->store->ops->mem_insert(tx, m, err);
}
static inline int mr_store_mem_get(struct mr_store_tx *tx, const char *id, struct mr_memory *out,
                                   struct mr_err *err)
{
    return tx->store->ops->mem_get(tx, id, out, err);
}
static inline int mr_store_mem_get_by_id(struct mr_store_tx *tx, int64_t id, struct mr_memory *out,
                                         struct mr_err *err)
{
    return tx->store->ops->mem_get_by_id(tx, id, out, err);
}
static inline int mr_store_mem_update(struct mr_store_tx *tx, const struct mr_memory *m,
                                      bool with_embedding, struct mr_err *err)
{
    return tx->store->ops->mem_update(tx, m, with_embedding, err);
}
static inline int mr_store_mem_delete(struct mr_store_tx *tx, const char *id, struct mr_err *err)
{
    return tx->store->ops->mem_delete(tx, id, err);
}
static inline int mr_store_mem_list_by_conversation(struct mr_store_tx *tx, const char *conv,
                                                    int64_t limit, int64_t offset,
                                                    struct mr_memory **out, size_t *out_n,
                                                    int64_t *out_total, struct mr_err *err)
{
    return tx->store->ops->mem_list_by_conversation(tx, conv, limit, offset, out, out_n, out_total,
                                                    err);
}
static inline int mr_store_mem_list(struct mr_store_tx *tx, const struct mr_identity *who,
                                    int memory_type, int64_t limit, int64_t offset,
                                    struct mr_memory **out, size_t *out_n, int64_t *out_total,
                                    struct mr_err *err)
{
    return tx->store->ops->mem_list(tx, who, memory_type, limit, offset, out, out_n, out_total,
                                    err);
}
static inline int mr_store_mem_stats(struct mr_store_tx *tx, const struct mr_identity *who,
                                     struct mr_stats *out, struct mr_err *err)
{
    return tx->store->ops->mem_stats(tx, who, out, err);
}
static inline int mr_store_mem_archive(struct mr_store_tx *tx, const struct mr_identity *who,
                                       const struct mr_archive_bounds *bounds, int64_t now,
                                       int64_t **out_ids, char ***out_users, size_t *out_n,
                                       struct mr_err *err)
{
    return tx->store->ops->mem_archive(tx, who, bounds, now, out_ids, out_users, out_n, err);
}
static inline int mr_store_mem_search(struct mr_store_tx *tx, const struct mr_identity *who,
                                      const struct mr_index_query *q, struct mr_memory **out,
                                      float **out_scores, size_t *out_n, struct mr_err *err)
{
    return tx->store->ops->mem_search(tx, who, q, out, out_scores, out_n, err);
}
static inline int mr_store_mem_vector_search(struct mr_store_tx *tx, const struct mr_identity *who,
                                             const struct mr_index_query *q,
                                             struct mr_index_hit **out, size_t *out_n,
                                             struct mr_err *err)
{
    return tx->store->ops->mem_vector_search(tx, who, q, out, out_n, err);
}
static inline int mr_store_mem_lock(struct mr_store_tx *tx, const int64_t *ids, size_t n,
                                    struct mr_memory **out, size_t *out_n, struct mr_err *err)
{
    return tx->store->ops->mem_lock(tx, ids, n, out, out_n, err);
}
static inline int mr_store_mem_candidates(struct mr_store_tx *tx, const struct mr_identity *who,
                                          const struct mr_lex_terms *terms, const int64_t *ids,
                                          size_t n, size_t dim, float *out_vecs, bool *out_found,
                                          double *out_bm25, double *out_max, struct mr_err *err)
{
    return tx->store->ops->mem_candidates(tx, who, terms, ids, n, dim, out_vecs, out_found,
                                          out_bm25, out_max, err);
}
static inline int mr_store_mem_record_access(struct mr_store_tx *tx,
                                             const struct mr_access_delta *d, size_t n,
                                             size_t *out_changed, struct mr_err *err)
{
    return tx->store->ops->mem_record_access(tx, d, n, out_changed, NULL, NULL, err);
}
/* mem_record_access, handing back the rows it promoted (for their history events). */
static inline int mr_store_mem_record_access_promoted(struct mr_store_tx *tx,
                                                      const struct mr_access_delta *d, size_t n,
                                                      size_t *out_changed,
                                                      struct mr_access_promotion **out_promoted,
                                                      size_t *out_n_promoted, struct mr_err *err)
{
    return tx->store->ops->mem_record_access(tx, d, n, out_changed, out_promoted, out_n_promoted,
                                             err);
}
static inline int mr_store_mem_lex_search(struct mr_store_tx *tx, const struct mr_identity *who,
                                          const struct mr_index_query *q,
                                          const struct mr_lex_terms *terms, size_t k,
                                          struct mr_lex_hit **out, size_t *out_n, double *out_max,
                                          struct mr_err *err)
{
    return tx->store->ops->mem_lex_search(tx, who, q, terms, k, out, out_n, out_max, err);
}
static inline int mr_store_mem_sides_search(struct mr_store_tx *tx, const struct mr_identity *who,
                                            const struct mr_index_query *q,
                                            const struct mr_lex_terms *terms, size_t k,
                                            struct mr_index_hit **out_vec, size_t *out_n_vec,
                                            struct mr_lex_hit **out_lex, size_t *out_n_lex,
                                            double *out_max, struct mr_lex_hit **out_all,
                                            size_t *out_n_all, struct mr_err *err)
{
    return tx->store->ops->mem_sides_search(tx, who, q, terms, k, out_vec, out_n_vec, out_lex,
                                            out_n_lex, out_max, out_all, out_n_all, err);
}
static inline int mr_store_mem_lex_score(struct mr_store_tx *tx, const struct mr_identity *who,
                                         const struct mr_lex_terms *terms, const int64_t *ids,
                                         size_t n, double *out_scores, double *out_max,
                                         struct mr_err *err)
{
    return tx->store->ops->mem_lex_score(tx, who, terms, ids, n, out_scores, out_max, err);
}
static inline int mr_store_mem_neighbours(struct mr_store_tx *tx, const struct mr_identity *who,
                                          const struct mr_lex_terms *terms, const int64_t *ids,
                                          size_t n, int64_t *out_around, double *out_bm25,
                                          struct mr_err *err)
{
    return tx->store->ops->mem_neighbours(tx, who, terms, ids, n, out_around, out_bm25, err);
}
static inline int mr_store_mem_context(struct mr_store_tx *tx, const struct mr_identity *who,
                                       const int64_t *ids, size_t n, const int64_t *wide,
                                       size_t n_wide, bool around_vecs, size_t dim,
                                       int64_t *out_around, int64_t **out_vec_ids, float **out_vecs,
                                       size_t *out_n_vecs, struct mr_err *err)
{
    return tx->store->ops->mem_context(tx, who, ids, n, wide, n_wide, around_vecs, dim, out_around,
                                       out_vec_ids, out_vecs, out_n_vecs, err);
}
static inline int mr_store_mem_sides_context(
    struct mr_store_tx *tx, const struct mr_identity *who, const struct mr_index_query *q,
    const struct mr_lex_terms *terms, size_t k, bool around_vecs, size_t dim,
    struct mr_index_hit **out_vec, size_t *out_n_vec, struct mr_lex_hit **out_lex,
    size_t *out_n_lex, double *out_max, struct mr_lex_hit **out_all, size_t *out_n_all,
    int64_t **out_ids, int64_t **out_around, size_t *out_n_ids, int64_t **out_vec_ids,
    float **out_vecs, size_t *out_n_vecs, struct mr_err *err)
{
    return tx->store->ops->mem_sides_context(
        tx, who, q, terms, k, around_vecs, dim, out_vec, out_n_vec, out_lex, out_n_lex, out_max,
        out_all, out_n_all, out_ids, out_around, out_n_ids, out_vec_ids, out_vecs, out_n_vecs, err);
}
static inline int mr_store_mem_scan(struct mr_store_tx *tx, mr_store_scan_fn fn, void *arg,
                                    struct mr_err *err)
{
    return tx->store->ops->mem_scan(tx, fn, arg, err);
}
static inline int mr_store_schema_get(struct mr_store_tx *tx, const char *tenant_id,
                                      int64_t data_source_id, struct mr_source_schema *out,
                                      struct mr_err *err)
{
    return tx->store->ops->schema_get(tx, tenant_id, data_source_id, out, err);
}
static inline int mr_store_schema_put(struct mr_store_tx *tx, const struct mr_source_schema *s,
                                      struct mr_err *err)
{
    return tx->store->ops->schema_put(tx, s, err);
}
static inline int mr_store_schema_delete(struct mr_store_tx *tx, const char *tenant_id,
                                         int64_t data_source_id, struct mr_err *err)
{
    return tx->store->ops->schema_delete(tx, tenant_id, data_source_id, err);
}
static inline int mr_store_mem_ids_by_data_source(struct mr_store_tx *tx, const char *tenant_id,
                                                  int64_t data_source_id, int64_t **out,
                                                  size_t *out_n, struct mr_err *err)
{
    return tx->store->ops->mem_ids_by_data_source(tx, tenant_id, data_source_id, out, out_n, err);
}
static inline int mr_store_mem_find_example(struct mr_store_tx *tx, const char *tenant_id,
                                            const char *user_id, int64_t data_source_id,
                                            const char *question_normalized,
                                            const char *fingerprint, struct mr_memory *out,
                                            bool *out_found, struct mr_err *err)
{
    return tx->store->ops->mem_find_example(tx, tenant_id, user_id, data_source_id,
                                            question_normalized, fingerprint, out, out_found, err);
}
static inline int mr_store_mem_find_joins(struct mr_store_tx *tx, const char *tenant_id,
                                          int64_t data_source_id, const char *const *keys, size_t n,
                                          int64_t *out_ids, struct mr_err *err)
{
    return tx->store->ops->mem_find_joins(tx, tenant_id, data_source_id, keys, n, out_ids, err);
}
static inline int mr_store_ds_owner_conversation(struct mr_store_tx *tx, const char *tenant_id,
                                                 int64_t data_source_id, char out[MR_UUID_LEN],
                                                 struct mr_err *err)
{
    return tx->store->ops->ds_owner_conversation(tx, tenant_id, data_source_id, out, err);
}
static inline int mr_store_conv_page(struct mr_store_tx *tx, const struct mr_identity *who,
                                     int64_t after_id, size_t limit, struct mr_conversation **out,
                                     size_t *out_n, struct mr_err *err)
{
    return tx->store->ops->conv_page(tx, who, after_id, limit, out, out_n, err);
}
static inline int mr_store_mem_page(struct mr_store_tx *tx, const struct mr_identity *who,
                                    int64_t after_id, size_t limit, bool with_embedding,
                                    struct mr_memory **out, size_t *out_n, struct mr_err *err)
{
    return tx->store->ops->mem_page(tx, who, after_id, limit, with_embedding, out, out_n, err);
}
static inline int mr_store_schema_page(struct mr_store_tx *tx, const char *tenant_id,
                                       const char *after_tenant, int64_t after_ds, size_t limit,
                                       struct mr_source_schema **out, size_t *out_n,
                                       struct mr_err *err)
{
    return tx->store->ops->schema_page(tx, tenant_id, after_tenant, after_ds, limit, out, out_n,
                                       err);
}
static inline int mr_store_model_get(struct mr_store_tx *tx, char **out_model, size_t *out_dim,
                                     struct mr_err *err)
{
    return tx->store->ops->model_get(tx, out_model, out_dim, err);
}
static inline int mr_store_conv_restore(struct mr_store_tx *tx, struct mr_conversation *c,
                                        struct mr_err *err)
{
    return tx->store->ops->conv_restore(tx, c, err);
}
static inline int mr_store_mem_restore(struct mr_store_tx *tx, struct mr_memory *m,
                                       struct mr_err *err)
{
    return tx->store->ops->mem_restore(tx, m, err);
}
static inline int mr_store_hist_insert(struct mr_store_tx *tx, struct mr_history_event *e,
                                       struct mr_err *err)
{
    return tx->store->ops->hist_insert(tx, e, err);
}
static inline int mr_store_hist_list(struct mr_store_tx *tx, const char *memory_id, int64_t limit,
                                     int64_t offset, struct mr_history_event **out, size_t *out_n,
                                     int64_t *out_total, struct mr_err *err)
{
    return tx->store->ops->hist_list(tx, memory_id, limit, offset, out, out_n, out_total, err);
}
static inline int mr_store_mem_find_dedup(struct mr_store_tx *tx, const char *tenant_id,
                                          const char *user_id, const char *key,
                                          struct mr_memory *out, bool *out_found,
                                          struct mr_err *err)
{
    return tx->store->ops->mem_find_dedup(tx, tenant_id, user_id, key, out, out_found, err);
}
static inline int mr_store_mem_set_dedup_key(struct mr_store_tx *tx, int64_t id, const char *key,
                                             struct mr_err *err)
{
    return tx->store->ops->mem_set_dedup_key(tx, id, key, err);
}
static inline int mr_store_hist_page(struct mr_store_tx *tx, const struct mr_identity *who,
                                     int64_t after_id, size_t limit, struct mr_history_event **out,
                                     size_t *out_n, struct mr_err *err)
{
    return tx->store->ops->hist_page(tx, who, after_id, limit, out, out_n, err);
}
static inline int mr_store_hist_restore(struct mr_store_tx *tx, struct mr_history_event *e,
                                        struct mr_err *err)
{
    return tx->store->ops->hist_restore(tx, e, err);
}
static inline int mr_store_health(struct mr_store *s, struct mr_err *err)
{
    return s->ops->health(s, err);
}
static inline void mr_store_close(struct mr_store *s)
{
    if (s)
        s->ops->close(s);
}

/*
 * A row of a foreign database's query (mr_store_pg_read): ncolumns values as
 * text, NULL for SQL NULL, valid during the call. Non-zero (an MR_E* code,
 * err filled) stops the read and is returned.
 */
typedef int (*mr_store_row_fn)(void *arg, size_t query, size_t ncolumns, const char *const *values,
                               struct mr_err *err);

/*
 * Reads another PostgreSQL database than memori's (url in any form
 * mr_store_is_postgres_url accepts): connects, runs queries[0..nqueries)
 * (no parameters) in one read-only repeatable-read transaction, and hands
 * every row to row(arg, query index, ...), in order. For `memori schema
 * import`, whose catalogue queries are the SQL module's (sql.h). Errors:
 * MR_EUNAVAIL when the server is unreachable, refuses or fails a query (the
 * message names the database, password masked), or what row returned.
 */
int mr_store_pg_read(const char *url, const char *const *queries, size_t nqueries,
                     mr_store_row_fn row, void *arg, struct mr_err *err);

#endif
