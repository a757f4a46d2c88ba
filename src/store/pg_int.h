/*
 * pg_int.h — the PostgreSQL store's private header, shared by its files:
 *
 *   pg_store.c   open and close
 *   pg_pool.c    connections (settings, prepared statements) in the shared
 *                pool, transactions, reconnecting after a server restart
 *   pg_schema.c  the migrations, the recorded model and the vector column
 *                shaped for it, health
 *   pg_row.c     bound parameters, result rows -> structs, SQLSTATE ->
 *                memori's errors
 *   pg_codec.c   PostgreSQL's value forms (arrays, vectors, URLs), no libpq
 *   pg_ops.c     the statements and the operations on them
 *
 * This is the only header that includes libpq-fe.h (tests aside): the rest
 * of memori sees store.h and our types only.
 */
#ifndef MEMORI_STORE_PG_INT_H
#define MEMORI_STORE_PG_INT_H

#include <libpq-fe.h>
#include <stdbool.h>

#include "memori/store.h"
#include "pg_codec.h"
#include "store_int.h"

/* An arbitrary constant naming memori's advisory lock (migrations, model changes). */
#define PG_SCHEMA_LOCK "SELECT pg_advisory_xact_lock(7262024)"

/* The statements every connection prepares (SQL in pg_ops.c), named "m<id>". */
enum pg_stmt {
    P_META_GET,
    P_META_PUT,
    P_CONV_GET,
    P_CONV_INSERT,
    P_CONV_UPDATE,
    P_CONV_DELETE,
    P_CONV_LIST,
    P_CONV_COUNT,
    P_MEM_INSERT,
    P_MEM_GET,
    P_MEM_GET_BY_ID,
    P_MEM_UPDATE,
    P_MEM_UPDATE_EMB,
    P_MEM_DELETE,
    P_MEM_LIST_CONV,
    P_MEM_COUNT_CONV,
    P_MEM_STATS,
    P_MEM_ARCHIVE,
    P_MEM_SEARCH,
    P_MEM_LOCK,
    P_MEM_CANDIDATES,
    P_MEM_ACCESS,
    P_MEM_READ_IDS,
    P_MEM_LOCK_IDS,
    P_MEM_LEX_SEARCH,
    P_MEM_LEX_FILTER,
    P_MEM_LEX_SCORE,
    P_MEM_NEIGHBOURS,
    P_MEM_CONTEXT,
    P_MEM_SIDES_CONTEXT,
    P_COUNT
};
extern const char *const pg_stmt_sql[P_COUNT];

struct pconn;

struct pg_tx {
    struct mr_store_tx base;
    struct pconn *conn;
    bool read_only; /* begun MR_TX_READ */
    bool fresh; /* no statement run yet (pg_tx_conn clears it): the isolation can still change */
};

/* One pooled connection; one transaction at a time. */
struct pconn {
    PGconn *pg;
    struct pg_tx tx;
};

struct pg_store {
    struct mr_store base;
    char *conninfo;
    char *redacted; /* the URL with its password masked, for the operator's messages */
    int ef_search;
    struct store_pool pool;
};

/* The connection of tx, for a statement about to run on it (so tx is no longer fresh). */
static inline struct pconn *pg_tx_conn(struct mr_store_tx *tx)
{
    ((struct pg_tx *)tx)->fresh = false;
    return ((struct pg_tx *)tx)->conn;
}

/* ---- pg_store.c, pg_ops.c ---- */

extern const struct mr_store_ops pg_store_ops;
void pg_close(struct mr_store *s);

/* ---- pg_pool.c ---- */

/*
 * A new connection, configured and with every statement prepared, after
 * migrating the schema when migrate; `what` names the attempt in err
 * ("connecting to <url>"). NULL and err on failure.
 */
struct pconn *pg_conn_open(struct pg_store *s, const char *what, bool migrate, struct mr_err *err);
void pg_conn_close(struct pconn *c);
extern const struct store_pool_ops pg_pool_ops;

int pg_begin(struct mr_store *s, int mode, struct mr_store_tx **out_tx, struct mr_err *err);
int pg_commit(struct mr_store_tx *tx, struct mr_err *err);
void pg_rollback(struct mr_store_tx *tx);

/* ---- pg_schema.c ---- */

/* Applies the pending migrations on pg (the first connection), under the schema lock. */
int pg_migrate(struct pg_store *s, PGconn *pg, struct mr_err *err);
int pg_check_model(struct mr_store *s, const char *model, size_t dim, struct mr_err *err);
int pg_set_model(struct mr_store_tx *tx, const char *model, size_t dim, struct mr_err *err);
int pg_health(struct mr_store *s, struct mr_err *err);
/* The migration's C step: tokenises the memories written before the lexical columns. */
int pg_lex_backfill(void *pg, struct mr_err *err);

/* ---- pg_sources.c: the data-source operations of store.h ---- */

int pg_schema_get(struct mr_store_tx *tx, const char *tenant_id, int64_t data_source_id,
                  struct mr_source_schema *out, struct mr_err *err);
int pg_schema_put(struct mr_store_tx *tx, const struct mr_source_schema *s, struct mr_err *err);
int pg_schema_delete(struct mr_store_tx *tx, const char *tenant_id, int64_t data_source_id,
                     struct mr_err *err);
int pg_mem_ids_by_data_source(struct mr_store_tx *tx, const char *tenant_id, int64_t data_source_id,
                              int64_t **out, size_t *out_n, struct mr_err *err);

/* ---- pg_ops.c: export, import and migrate (store.h) ---- */

int pg_conv_page(struct mr_store_tx *tx, const struct mr_identity *who, int64_t after_id,
                 size_t limit, struct mr_conversation **out, size_t *out_n, struct mr_err *err);
int pg_mem_page(struct mr_store_tx *tx, const struct mr_identity *who, int64_t after_id,
                size_t limit, bool with_embedding, struct mr_memory **out, size_t *out_n,
                struct mr_err *err);
int pg_schema_page(struct mr_store_tx *tx, const char *tenant_id, const char *after_tenant,
                   int64_t after_ds, size_t limit, struct mr_source_schema **out, size_t *out_n,
                   struct mr_err *err);
int pg_model_get(struct mr_store_tx *tx, char **out_model, size_t *out_dim, struct mr_err *err);
int pg_conv_restore(struct mr_store_tx *tx, struct mr_conversation *c, struct mr_err *err);
int pg_mem_restore(struct mr_store_tx *tx, struct mr_memory *m, struct mr_err *err);

/* ---- pg_ops.c: the lookups of example ingestion (store.h) ---- */

int pg_mem_find_example(struct mr_store_tx *tx, const char *tenant_id, const char *user_id,
                        int64_t data_source_id, const char *question_normalized,
                        const char *fingerprint, struct mr_memory *out, bool *out_found,
                        struct mr_err *err);
int pg_mem_find_joins(struct mr_store_tx *tx, const char *tenant_id, int64_t data_source_id,
                      const char *const *keys, size_t n, int64_t *out_ids, struct mr_err *err);
int pg_ds_owner_conversation(struct mr_store_tx *tx, const char *tenant_id, int64_t data_source_id,
                             char out[MR_UUID_LEN], struct mr_err *err);

/* ---- pg_ops.c: memory hygiene, history and dedup keys (store.h) ---- */

int pg_hist_insert(struct mr_store_tx *tx, struct mr_history_event *e, struct mr_err *err);
int pg_hist_list(struct mr_store_tx *tx, const char *memory_id, int64_t limit, int64_t offset,
                 struct mr_history_event **out, size_t *out_n, int64_t *out_total,
                 struct mr_err *err);
int pg_mem_find_dedup(struct mr_store_tx *tx, const char *tenant_id, const char *user_id,
                      const char *key, struct mr_memory *out, bool *out_found, struct mr_err *err);
int pg_mem_set_dedup_key(struct mr_store_tx *tx, int64_t id, const char *key, struct mr_err *err);
int pg_hist_page(struct mr_store_tx *tx, const struct mr_identity *who, int64_t after_id,
                 size_t limit, struct mr_history_event **out, size_t *out_n, struct mr_err *err);
int pg_hist_restore(struct mr_store_tx *tx, struct mr_history_event *e, struct mr_err *err);

/* ---- pg_row.c ---- */

/*
 * Reports a failed result (res may be NULL: the connection's last error)
 * of a call that was `what`: memori's code by SQLSTATE class, our words to
 * err, PostgreSQL's full text (DETAIL and all) to the log. Returns the code.
 */
int pg_result_error(struct mr_err *err, PGconn *pg, const PGresult *res, const char *what);

/* Runs sql with no parameters; 0 when it succeeded. */
int pg_exec_simple(PGconn *pg, const char *sql, const char *what, struct mr_err *err);

/*
 * One statement's parameters: text values, and binary ones for vectors.
 * Bounded by the widest statement; a call past a bound is a bug in this
 * store and aborts with a message (pg_row.c), never writes past the arrays.
 */
#define PG_MAX_PARAMS 24 /* P_MEM_INSERT takes 22 */
#define PG_MAX_OWNED 6   /* arrays and vectors built here: P_MEM_INSERT has 5 */
struct pg_params {
    int n;
    const char *vals[PG_MAX_PARAMS];
    int lens[PG_MAX_PARAMS];
    int fmts[PG_MAX_PARAMS];
    char num[PG_MAX_PARAMS][32]; /* numbers formatted here */
    struct mr_strbuf owned[PG_MAX_OWNED];
    int n_owned;
};

void pg_param_text(struct pg_params *p, const char *v); /* NULL is SQL NULL; v outlives p */
void pg_param_int(struct pg_params *p, int64_t v);
void pg_param_time(struct pg_params *p, int64_t t); /* MR_NO_TIME is NULL */
void pg_param_double(struct pg_params *p, double v);
void pg_param_bool(struct pg_params *p, bool v);
void pg_param_strv(struct pg_params *p, const struct mr_strv *v); /* a TEXT[] */
void pg_param_vector(struct pg_params *p, const float *v, size_t dim);
void pg_params_free(struct pg_params *p);

struct mr_lex_terms;
/*
 * The lexical columns of a memory whose content is text (NULL: none), as
 * memori's tokenizer gives them: its distinct terms as a TEXT[] literal
 * into terms, their counts as an INT4[] literal into tfs (appended); returns
 * the BM25 length. pg_param_lex binds the three (lex_terms, lex_tfs, lex_len).
 */
uint32_t pg_lex_arrays(const char *text, struct mr_strbuf *terms, struct mr_strbuf *tfs);
void pg_param_lex(struct pg_params *p, const char *content);
/* A query's distinct terms as a TEXT[], in the query's order; t NULL: none, '{}'. */
void pg_param_terms(struct pg_params *p, const struct mr_lex_terms *t);

/*
 * A result's format: text, or binary (each column's send form: integers
 * big-endian, a bytea its bytes, a TEXT its characters), which spares the
 * server the formatting and the client the parsing of wide values (the
 * embeddings read to score candidates: docs/perf.md). pg_val_int reads
 * either.
 */
enum pg_format { PG_TEXT = 0, PG_BINARY = 1 };

/* Runs prepared statement id with p (freed here): the result, or NULL with err set. */
PGresult *pg_run(struct mr_store_tx *tx, enum pg_stmt id, struct pg_params *p, const char *what,
                 struct mr_err *err);
/* pg_run with its result in format. */
PGresult *pg_run_as(struct mr_store_tx *tx, enum pg_stmt id, struct pg_params *p,
                    enum pg_format format, const char *what, struct mr_err *err);

/*
 * Runs the n prepared statements ids[i] with p[i] (all freed here), their
 * results in formats[i], in one
 * round trip: libpq's pipeline mode, one Sync. When tx is a read
 * transaction that has run nothing yet, a SET TRANSACTION ISOLATION LEVEL
 * REPEATABLE READ goes first, so these statements and every later one of
 * tx read one snapshot. 0 and each result into out[i] (the caller clears
 * them); or the code and err of the first statement that failed, reported
 * as pg_run reports it (with what[i]), and no result. Either way the
 * connection has left pipeline mode and read everything up to the Sync, so
 * it stays usable; if it cannot (the server is gone), the pool closes it
 * at check-in rather than lend it again.
 */
int pg_run_pipeline(struct mr_store_tx *tx, size_t n, const enum pg_stmt *ids, struct pg_params *p,
                    const enum pg_format *formats, const char *const *what, PGresult **out,
                    struct mr_err *err);

/* Runs a statement whose rows are not needed; *out_changed (may be NULL) = rows it affected. */
int pg_run_done(struct mr_store_tx *tx, enum pg_stmt id, struct pg_params *p, const char *what,
                int64_t *out_changed, struct mr_err *err);

char *pg_val_dup(const PGresult *res, int row, int col);   /* NULL for SQL NULL */
int64_t pg_val_int(const PGresult *res, int row, int col); /* text or binary integer */

/* Row `row` of a MEM_COLS / CONV_COLS result into a new struct; a NULL embedding leaves dim 0. */
int pg_read_memory(const PGresult *res, int row, struct mr_memory *m, struct mr_err *err);
void pg_read_conversation(const PGresult *res, int row, struct mr_conversation *c);

/*
 * A UUID column refuses other text with an error that would abort the
 * transaction; an id that is no UUID names no row, so callers say so first.
 */
bool pg_is_uuid(const char *s);

#endif
