/* faulty_store.c — see faulty_store.h. */
#define _POSIX_C_SOURCE 200809L
#include "faulty_store.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "memori/util.h"

struct faulty {
    struct mr_store base;
    struct mr_store *inner;
    atomic_long countdown; /* fails when it reaches 0; negative: never */
    atomic_long calls;
    const char *fail_op; /* every call of this op fails (faulty_store_fail_op); NULL: none */
};

struct faulty_tx {
    struct mr_store_tx base;
    struct mr_store_tx *inner;
};

/* True (and err filled) when this call is the one to fail. */
static bool trip(struct faulty *f, const char *op, struct mr_err *err)
{
    atomic_fetch_add(&f->calls, 1);
    if (f->fail_op && strcmp(f->fail_op, op) == 0) {
        mr_err_set(err, MR_EUNAVAIL, "database error: injected fault in %s", op);
        return true;
    }
    if (atomic_fetch_sub(&f->countdown, 1) == 1) {
        mr_err_set(err, MR_EUNAVAIL, "database error: injected fault");
        return true;
    }
    return false;
}

#define F(tx) ((struct faulty *)(tx)->store)
#define IN(tx) (((struct faulty_tx *)(tx))->inner)

static int f_begin(struct mr_store *s, int mode, struct mr_store_tx **out_tx, struct mr_err *err)
{
    struct faulty *f = (struct faulty *)s;
    if (trip(f, "begin", err))
        return MR_EUNAVAIL;
    struct mr_store_tx *inner;
    int rc = mr_store_begin(f->inner, mode, &inner, err);
    if (rc)
        return rc;
    struct faulty_tx *t = mr_xcalloc(1, sizeof *t);
    t->base.store = s;
    t->inner = inner;
    *out_tx = &t->base;
    return 0;
}

static int f_commit(struct mr_store_tx *tx, struct mr_err *err)
{
    struct mr_store_tx *inner = IN(tx);
    int rc;
    if (trip(F(tx), "commit", err)) {
        mr_store_rollback(inner);
        rc = MR_EUNAVAIL;
    } else {
        rc = mr_store_commit(inner, err);
    }
    free(tx);
    return rc;
}

static void f_rollback(struct mr_store_tx *tx)
{
    mr_store_rollback(IN(tx));
    free(tx);
}

static int f_check_model(struct mr_store *s, const char *model, size_t dim, struct mr_err *err)
{
    return mr_store_check_model(((struct faulty *)s)->inner, model, dim, err);
}

/* Each forwarding op: fail when it is the N-th call, else call the real store. */
#define FORWARD(name, params, args)                                                                \
    static int f_##name params                                                                     \
    {                                                                                              \
        if (trip(F(tx), #name, err))                                                               \
            return MR_EUNAVAIL;                                                                    \
        return IN(tx)->store->ops->name args;                                                      \
    }

FORWARD(set_model, (struct mr_store_tx * tx, const char *model, size_t dim, struct mr_err *err),
        (IN(tx), model, dim, err))
FORWARD(conv_get,
        (struct mr_store_tx * tx, const char *id, struct mr_conversation *out, struct mr_err *err),
        (IN(tx), id, out, err))
FORWARD(conv_insert, (struct mr_store_tx * tx, struct mr_conversation *c, struct mr_err *err),
        (IN(tx), c, err))
FORWARD(conv_update, (struct mr_store_tx * tx, const struct mr_conversation *c, struct mr_err *err),
        (IN(tx), c, err))
FORWARD(conv_delete, (struct mr_store_tx * tx, const char *id, struct mr_err *err),
        (IN(tx), id, err))
FORWARD(conv_list,
        (struct mr_store_tx * tx, const struct mr_identity *who, int64_t limit, int64_t offset,
         struct mr_conversation **out, size_t *out_n, int64_t *out_total, struct mr_err *err),
        (IN(tx), who, limit, offset, out, out_n, out_total, err))
FORWARD(mem_insert, (struct mr_store_tx * tx, struct mr_memory *m, struct mr_err *err),
        (IN(tx), m, err))
FORWARD(mem_get,
        (struct mr_store_tx * tx, const char *id, struct mr_memory *out, struct mr_err *err),
        (IN(tx), id, out, err))
FORWARD(mem_get_by_id,
        (struct mr_store_tx * tx, int64_t id, struct mr_memory *out, struct mr_err *err),
        (IN(tx), id, out, err))
FORWARD(mem_update,
        (struct mr_store_tx * tx, const struct mr_memory *m, bool with_embedding,
         struct mr_err *err),
        (IN(tx), m, with_embedding, err))
FORWARD(mem_delete, (struct mr_store_tx * tx, const char *id, struct mr_err *err),
        (IN(tx), id, err))
FORWARD(mem_list_by_conversation,
        (struct mr_store_tx * tx, const char *conv, int64_t limit, int64_t offset,
         struct mr_memory **out, size_t *out_n, int64_t *out_total, struct mr_err *err),
        (IN(tx), conv, limit, offset, out, out_n, out_total, err))
FORWARD(mem_stats,
        (struct mr_store_tx * tx, const struct mr_identity *who, struct mr_stats *out,
         struct mr_err *err),
        (IN(tx), who, out, err))
FORWARD(mem_archive,
        (struct mr_store_tx * tx, const struct mr_identity *who,
         const struct mr_archive_bounds *bounds, int64_t now, int64_t **out_ids, char ***out_users,
         size_t *out_n, struct mr_err *err),
        (IN(tx), who, bounds, now, out_ids, out_users, out_n, err))
FORWARD(mem_search,
        (struct mr_store_tx * tx, const struct mr_identity *who, const struct mr_index_query *q,
         struct mr_memory **out, float **out_scores, size_t *out_n, struct mr_err *err),
        (IN(tx), who, q, out, out_scores, out_n, err))
FORWARD(mem_vector_search,
        (struct mr_store_tx * tx, const struct mr_identity *who, const struct mr_index_query *q,
         struct mr_index_hit **out, size_t *out_n, struct mr_err *err),
        (IN(tx), who, q, out, out_n, err))
FORWARD(mem_lock,
        (struct mr_store_tx * tx, const int64_t *ids, size_t n, struct mr_memory **out,
         size_t *out_n, struct mr_err *err),
        (IN(tx), ids, n, out, out_n, err))
FORWARD(mem_candidates,
        (struct mr_store_tx * tx, const struct mr_identity *who, const struct mr_lex_terms *terms,
         const int64_t *ids, size_t n, size_t dim, float *out_vecs, bool *out_found,
         double *out_bm25, double *out_max, struct mr_err *err),
        (IN(tx), who, terms, ids, n, dim, out_vecs, out_found, out_bm25, out_max, err))
FORWARD(mem_record_access,
        (struct mr_store_tx * tx, const struct mr_access_delta *d, size_t n, size_t *out_changed,
         struct mr_access_promotion **out_promoted, size_t *out_n_promoted, struct mr_err *err),
        (IN(tx), d, n, out_changed, out_promoted, out_n_promoted, err))
FORWARD(mem_lex_search,
        (struct mr_store_tx * tx, const struct mr_identity *who, const struct mr_index_query *q,
         const struct mr_lex_terms *terms, size_t k, struct mr_lex_hit **out, size_t *out_n,
         double *out_max, struct mr_err *err),
        (IN(tx), who, q, terms, k, out, out_n, out_max, err))
FORWARD(mem_sides_search,
        (struct mr_store_tx * tx, const struct mr_identity *who, const struct mr_index_query *q,
         const struct mr_lex_terms *terms, size_t k, struct mr_index_hit **out_vec,
         size_t *out_n_vec, struct mr_lex_hit **out_lex, size_t *out_n_lex, double *out_max,
         struct mr_lex_hit **out_all, size_t *out_n_all, struct mr_err *err),
        (IN(tx), who, q, terms, k, out_vec, out_n_vec, out_lex, out_n_lex, out_max, out_all,
         out_n_all, err))
FORWARD(mem_lex_score,
        (struct mr_store_tx * tx, const struct mr_identity *who, const struct mr_lex_terms *terms,
         const int64_t *ids, size_t n, double *out_scores, double *out_max, struct mr_err *err),
        (IN(tx), who, terms, ids, n, out_scores, out_max, err))
FORWARD(mem_neighbours,
        (struct mr_store_tx * tx, const struct mr_identity *who, const struct mr_lex_terms *terms,
         const int64_t *ids, size_t n, int64_t *out_around, double *out_bm25, struct mr_err *err),
        (IN(tx), who, terms, ids, n, out_around, out_bm25, err))
FORWARD(mem_context,
        (struct mr_store_tx * tx, const struct mr_identity *who, const int64_t *ids, size_t n,
         const int64_t *wide, size_t n_wide, bool around_vecs, size_t dim, int64_t *out_around,
         int64_t **out_vec_ids, float **out_vecs, size_t *out_n_vecs, struct mr_err *err),
        (IN(tx), who, ids, n, wide, n_wide, around_vecs, dim, out_around, out_vec_ids, out_vecs,
         out_n_vecs, err))
FORWARD(mem_sides_context,
        (struct mr_store_tx * tx, const struct mr_identity *who, const struct mr_index_query *q,
         const struct mr_lex_terms *terms, size_t k, bool around_vecs, size_t dim,
         struct mr_index_hit **out_vec, size_t *out_n_vec, struct mr_lex_hit **out_lex,
         size_t *out_n_lex, double *out_max, struct mr_lex_hit **out_all, size_t *out_n_all,
         int64_t **out_ids, int64_t **out_around, size_t *out_n_ids, int64_t **out_vec_ids,
         float **out_vecs, size_t *out_n_vecs, struct mr_err *err),
        (IN(tx), who, q, terms, k, around_vecs, dim, out_vec, out_n_vec, out_lex, out_n_lex,
         out_max, out_all, out_n_all, out_ids, out_around, out_n_ids, out_vec_ids, out_vecs,
         out_n_vecs, err))
FORWARD(mem_scan, (struct mr_store_tx * tx, mr_store_scan_fn fn, void *arg, struct mr_err *err),
        (IN(tx), fn, arg, err))
FORWARD(schema_get,
        (struct mr_store_tx * tx, const char *tenant, int64_t ds, struct mr_source_schema *out,
         struct mr_err *err),
        (IN(tx), tenant, ds, out, err))
FORWARD(schema_put,
        (struct mr_store_tx * tx, const struct mr_source_schema *sc, struct mr_err *err),
        (IN(tx), sc, err))
FORWARD(schema_delete,
        (struct mr_store_tx * tx, const char *tenant, int64_t ds, struct mr_err *err),
        (IN(tx), tenant, ds, err))
FORWARD(mem_ids_by_data_source,
        (struct mr_store_tx * tx, const char *tenant, int64_t ds, int64_t **out, size_t *out_n,
         struct mr_err *err),
        (IN(tx), tenant, ds, out, out_n, err))
FORWARD(mem_find_example,
        (struct mr_store_tx * tx, const char *tenant, const char *user, int64_t ds, const char *nq,
         const char *fp, struct mr_memory *out, bool *out_found, struct mr_err *err),
        (IN(tx), tenant, user, ds, nq, fp, out, out_found, err))
FORWARD(mem_find_joins,
        (struct mr_store_tx * tx, const char *tenant, int64_t ds, const char *const *keys, size_t n,
         int64_t *out_ids, struct mr_err *err),
        (IN(tx), tenant, ds, keys, n, out_ids, err))
FORWARD(ds_owner_conversation,
        (struct mr_store_tx * tx, const char *tenant, int64_t ds, char out[MR_UUID_LEN],
         struct mr_err *err),
        (IN(tx), tenant, ds, out, err))

FORWARD(conv_page,
        (struct mr_store_tx * tx, const struct mr_identity *who, int64_t after, size_t limit,
         struct mr_conversation **out, size_t *out_n, struct mr_err *err),
        (IN(tx), who, after, limit, out, out_n, err))
FORWARD(mem_page,
        (struct mr_store_tx * tx, const struct mr_identity *who, int64_t after, size_t limit,
         bool with_embedding, struct mr_memory **out, size_t *out_n, struct mr_err *err),
        (IN(tx), who, after, limit, with_embedding, out, out_n, err))
FORWARD(schema_page,
        (struct mr_store_tx * tx, const char *tenant, const char *after_tenant, int64_t after_ds,
         size_t limit, struct mr_source_schema **out, size_t *out_n, struct mr_err *err),
        (IN(tx), tenant, after_tenant, after_ds, limit, out, out_n, err))
FORWARD(model_get, (struct mr_store_tx * tx, char **out_model, size_t *out_dim, struct mr_err *err),
        (IN(tx), out_model, out_dim, err))
FORWARD(conv_restore, (struct mr_store_tx * tx, struct mr_conversation *c, struct mr_err *err),
        (IN(tx), c, err))
FORWARD(mem_restore, (struct mr_store_tx * tx, struct mr_memory *m, struct mr_err *err),
        (IN(tx), m, err))

FORWARD(mem_list,
        (struct mr_store_tx * tx, const struct mr_identity *who, int memory_type, int64_t limit,
         int64_t offset, struct mr_memory **out, size_t *out_n, int64_t *out_total,
         struct mr_err *err),
        (IN(tx), who, memory_type, limit, offset, out, out_n, out_total, err))
FORWARD(hist_insert, (struct mr_store_tx * tx, struct mr_history_event *e, struct mr_err *err),
        (IN(tx), e, err))
FORWARD(hist_list,
        (struct mr_store_tx * tx, const char *memory_id, int64_t limit, int64_t offset,
         struct mr_history_event **out, size_t *out_n, int64_t *out_total, struct mr_err *err),
        (IN(tx), memory_id, limit, offset, out, out_n, out_total, err))
FORWARD(mem_find_dedup,
        (struct mr_store_tx * tx, const char *tenant, const char *user, const char *key,
         struct mr_memory *out, bool *out_found, struct mr_err *err),
        (IN(tx), tenant, user, key, out, out_found, err))
FORWARD(mem_set_dedup_key,
        (struct mr_store_tx * tx, int64_t id, const char *key, struct mr_err *err),
        (IN(tx), id, key, err))
FORWARD(hist_page,
        (struct mr_store_tx * tx, const struct mr_identity *who, int64_t after_id, size_t limit,
         struct mr_history_event **out, size_t *out_n, struct mr_err *err),
        (IN(tx), who, after_id, limit, out, out_n, err))
FORWARD(hist_restore, (struct mr_store_tx * tx, struct mr_history_event *e, struct mr_err *err),
        (IN(tx), e, err))

static int f_health(struct mr_store *s, struct mr_err *err)
{
    return mr_store_health(((struct faulty *)s)->inner, err);
}

static void f_close(struct mr_store *s)
{
    struct faulty *f = (struct faulty *)s;
    mr_store_close(f->inner);
    free(f);
}

static const struct mr_store_ops faulty_ops = {
    .name = "faulty",
    .begin = f_begin,
    .commit = f_commit,
    .rollback = f_rollback,
    .check_model = f_check_model,
    .set_model = f_set_model,
    .conv_get = f_conv_get,
    .conv_insert = f_conv_insert,
    .conv_update = f_conv_update,
    .conv_delete = f_conv_delete,
    .conv_list = f_conv_list,
    .mem_insert = f_mem_insert,
    .mem_get = f_mem_get,
    .mem_get_by_id = f_mem_get_by_id,
    .mem_update = f_mem_update,
    .mem_delete = f_mem_delete,
    .mem_list_by_conversation = f_mem_list_by_conversation,
    .mem_stats = f_mem_stats,
    .mem_archive = f_mem_archive,
    .mem_search = f_mem_search,
    .mem_record_access = f_mem_record_access,
    .mem_vector_search = f_mem_vector_search,
    .mem_lock = f_mem_lock,
    .mem_candidates = f_mem_candidates,
    .mem_lex_search = f_mem_lex_search,
    .mem_sides_search = f_mem_sides_search,
    .mem_lex_score = f_mem_lex_score,
    .mem_neighbours = f_mem_neighbours,
    .mem_context = f_mem_context,
    .mem_sides_context = f_mem_sides_context,
    .mem_scan = f_mem_scan,
    .schema_get = f_schema_get,
    .schema_put = f_schema_put,
    .schema_delete = f_schema_delete,
    .mem_ids_by_data_source = f_mem_ids_by_data_source,
    .mem_find_example = f_mem_find_example,
    .mem_find_joins = f_mem_find_joins,
    .ds_owner_conversation = f_ds_owner_conversation,
    .health = f_health,
    .close = f_close,
    .conv_page = f_conv_page,
    .mem_page = f_mem_page,
    .schema_page = f_schema_page,
    .model_get = f_model_get,
    .conv_restore = f_conv_restore,
    .mem_restore = f_mem_restore,
    .mem_list = f_mem_list,
    .hist_insert = f_hist_insert,
    .hist_list = f_hist_list,
    .mem_find_dedup = f_mem_find_dedup,
    .mem_set_dedup_key = f_mem_set_dedup_key,
    .hist_page = f_hist_page,
    .hist_restore = f_hist_restore,
};

struct mr_store *faulty_store_wrap(struct mr_store *inner)
{
    if (!inner)
        return NULL;
    struct faulty *f = mr_xcalloc(1, sizeof *f);
    f->base.ops = &faulty_ops;
    f->inner = inner;
    atomic_store(&f->countdown, -1);
    return &f->base;
}

void faulty_store_arm(struct mr_store *s, long n)
{
    struct faulty *f = (struct faulty *)s;
    atomic_store(&f->calls, 0);
    atomic_store(&f->countdown, n);
}

long faulty_store_calls(struct mr_store *s)
{
    return atomic_load(&((struct faulty *)s)->calls);
}

void faulty_store_fail_op(struct mr_store *s, const char *op)
{
    ((struct faulty *)s)->fail_op = op;
}
