/*
 * service.c — the service itself: construction from its parts, health and
 * capabilities, the index load at start-up, re-embedding (`memori
 * reembed`), and the DEBUG trace every operation ends with.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core_int.h"
#include "memori/fusion.h"
#include "memori/metrics.h"

#define DEFAULT_EMBED_BATCH 100
#define DEFAULT_MAX_METADATA_BYTES 65536

struct mr_service *mr_service_new(const struct mr_service_config *cfg)
{
    struct mr_service *svc = mr_xcalloc(1, sizeof *svc);
    *svc = (struct mr_service){
        .store = cfg->store,
        .embedder = cfg->embedder,
        .index = cfg->index,
        .clock = cfg->clock ? cfg->clock : mr_clock_system(),
        .short_term_expiry_days = cfg->short_term_expiry_days,
        .archive_threshold_days = cfg->archive_threshold_days,
        .default_limit = cfg->default_limit,
        .min_similarity = {[MR_SEARCH_HYBRID] = cfg->default_min_similarity,
                           [MR_SEARCH_SEMANTIC] = cfg->semantic_min_similarity,
                           [MR_SEARCH_LEXICAL] = cfg->lexical_min_similarity},
        .lexical_weight = cfg->lexical_weight > 0 && cfg->lexical_weight <= 1
                              ? cfg->lexical_weight
                              : MR_FUSION_LEXICAL_WEIGHT,
        .relaxed_sharing = cfg->relaxed_sharing,
        .embed_batch_size =
            cfg->embed_batch_size > 0 ? (size_t)cfg->embed_batch_size : DEFAULT_EMBED_BATCH,
        .debug = cfg->debug,
        .max_metadata_bytes =
            cfg->max_metadata_bytes ? cfg->max_metadata_bytes : DEFAULT_MAX_METADATA_BYTES,
        .ctx_cache = core_ctx_cache_new(),
        .access = core_access_new(cfg->store, cfg->access_flush_ms, cfg->access_flush_hits),
        .dedup_default = cfg->dedup_default == MR_DEDUP_MERGE ? MR_DEDUP_MERGE : MR_DEDUP_OFF,
        .dedup_threshold = cfg->dedup_threshold > 0 ? cfg->dedup_threshold : MR_DEDUP_THRESHOLD,
    };
    return svc;
}

void mr_service_free(struct mr_service *svc)
{
    if (!svc)
        return;
    core_access_free(svc->access); /* first: its last flush needs the store, which outlives us */
    core_ctx_cache_free(svc->ctx_cache);
    free(svc);
}

int mr_service_flush_access(struct mr_service *svc, struct mr_err *err)
{
    return core_access_flush(svc->access, err);
}

int mr_service_archive_threshold_days(const struct mr_service *svc)
{
    return svc->archive_threshold_days;
}

unsigned mr_service_capabilities(const struct mr_service *svc)
{
    return core_searches_in_store(svc) ? MR_SERVICE_SEARCHES_IN_STORE : 0;
}

void mr_service_health(struct mr_service *svc, struct mr_service_health *out)
{
    struct mr_err serr, eerr;
    memset(out, 0, sizeof *out);
    out->store_ok = mr_store_health(svc->store, &serr) == 0;
    out->store_name = svc->store->ops->name;
    snprintf(out->store_detail, sizeof out->store_detail, "%.255s",
             out->store_ok ? "ok" : serr.msg);
    out->embedder_ok = mr_embed_health(svc->embedder, &eerr) == 0;
    out->embedder_name = mr_embed_name(svc->embedder);
    out->dim = mr_embed_dim(svc->embedder);
    snprintf(out->embedder_detail, sizeof out->embedder_detail, "%.255s",
             out->embedder_ok ? "ok" : eerr.msg);
    out->has_index = svc->index != NULL;
    out->indexed = svc->index ? mr_index_count(svc->index) : 0;
    out->graphs_building = svc->index ? mr_index_building(svc->index) : 0;
}

void mr_service_metrics(struct mr_service *svc, struct mr_metrics_state *out)
{
    out->store = svc->store->ops->name;
    out->embedding_model = mr_embed_name(svc->embedder);
    out->has_index = svc->index != NULL;
    if (!svc->index)
        return;
    struct mr_index_shape shape;
    mr_index_shape(svc->index, &shape);
    out->memories = mr_index_count(svc->index);
    out->partitions = shape.partitions;
    out->graphs_built = shape.graphs;
    out->graphs_building = mr_index_building(svc->index);
    out->lexical_documents = shape.lexical_documents;
    out->lexical_bytes = shape.lexical_bytes;
}

void core_trace_end(const struct mr_service *svc, const struct core_trace *t, const char *op,
                    const struct mr_identity *who, int rc, const char *what_fmt, ...)
{
    if (!svc->debug)
        return;
    char what[128];
    va_list ap;
    va_start(ap, what_fmt);
    vsnprintf(what, sizeof what, what_fmt, ap);
    va_end(ap);
    int64_t total = mr_monotonic_us() - t->start_us, store = total - t->embed_us - t->index_us;
    /* One fprintf: stderr is unbuffered, so concurrent requests' lines do not interleave. */
    fprintf(stderr,
            "memori: debug: %s %s@%s: %s, %s in %.3f ms (embed %.3f, index %.3f, store %.3f)\n", op,
            who && who->user_id ? who->user_id : "*", who ? who->tenant_id : "-",
            rc ? mr_err_name(rc) : "ok", what, (double)total / 1e3, (double)t->embed_us / 1e3,
            (double)t->index_us / 1e3, (double)(store > 0 ? store : 0) / 1e3);
}

struct load_ctx {
    struct mr_service *svc;
    struct mr_err *err; /* the caller's: what stopped the load is reported there */
};

static int load_one(void *arg, const struct mr_memory *m)
{
    struct load_ctx *l = arg;
    if (m->dim != mr_embed_dim(l->svc->embedder)) {
        fprintf(stderr, "memori: memory %s has dimension %zu, expected %zu; skipped\n",
                m->memory_id, m->dim, mr_embed_dim(l->svc->embedder));
        return 0;
    }
    struct mr_err why;
    int rc = core_index_put(l->svc, m, NULL, &why);
    if (rc)
        mr_err_set(l->err, rc, "memory %s: %s", m->memory_id, why.msg);
    return rc;
}

int mr_service_load_index(struct mr_service *svc, struct mr_err *err)
{
    if (!svc->index)
        return 0;
    struct mr_store_tx *tx;
    int rc = mr_store_begin(svc->store, false, &tx, err);
    if (rc)
        return rc;
    struct load_ctx l = {svc, err};
    rc = mr_store_mem_scan(tx, load_one, &l, err);
    mr_store_rollback(tx);
    return rc;
}

/*
 * Re-embedding. ids: the memories to do, ascending (one whose content
 * changed between our read and our write is appended again, to be read
 * anew); done: those written with the new model. The in-process index is
 * not updated: `memori reembed` runs with no server on the database.
 */
struct reembed {
    struct mr_service *svc;
    int64_t *ids;
    size_t n, cap;
    int64_t *done; /* sorted once the pass is over, for the final check */
    size_t n_done, cap_done;
};

static void push_id(int64_t **v, size_t *n, size_t *cap, int64_t id)
{
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 256;
        *v = mr_xrealloc(*v, *cap * sizeof **v);
    }
    (*v)[(*n)++] = id;
}

static int cmp_id(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int collect_id(void *arg, const struct mr_memory *m)
{
    struct reembed *r = arg;
    push_id(&r->ids, &r->n, &r->cap, m->id);
    return 0;
}

/* Collects the ids not written yet (the final check: memories added meanwhile). */
static int collect_missing(void *arg, const struct mr_memory *m)
{
    struct reembed *r = arg;
    if (!bsearch(&m->id, r->done, r->n_done, sizeof *r->done, cmp_id))
        push_id(&r->ids, &r->n, &r->cap, m->id);
    return 0;
}

/*
 * One batch: contents read in a read transaction, embedded in one embedder
 * call with no transaction open (a remote provider may take seconds), then
 * written in one short write transaction that re-reads each row, so a
 * concurrent change of its statistics is kept and a changed content is
 * embedded again in a later batch.
 */
static int reembed_batch(struct reembed *r, const int64_t *ids, size_t k, struct mr_err *err)
{
    struct mr_service *svc = r->svc;
    size_t dim = mr_embed_dim(svc->embedder), n = 0;
    struct core_trace t;
    core_trace_start(svc, &t);
    int64_t *got = mr_xcalloc(k, sizeof *got);
    char **texts = mr_xcalloc(k, sizeof *texts);
    size_t *lens = mr_xcalloc(k, sizeof *lens);
    float *vecs = NULL;
    struct mr_store_tx *tx;
    int rc = mr_store_begin(svc->store, MR_TX_READ, &tx, err);
    if (rc)
        goto out;
    for (size_t i = 0; rc == 0 && i < k; i++) {
        struct mr_memory m;
        int g = mr_store_mem_get_by_id(tx, ids[i], &m, err);
        if (g == 0) {
            got[n] = ids[i];
            lens[n] = strlen(m.content);
            texts[n++] = m.content;
            m.content = NULL;
        } else if (g != MR_ENOTFOUND) {
            rc = g; /* MR_ENOTFOUND: deleted since; nothing to do */
        }
        mr_memory_clear(&m);
    }
    mr_store_rollback(tx);
    if (rc || n == 0)
        goto out;

    vecs = mr_xmalloc(n * dim * sizeof *vecs);
    int64_t t0 = core_clock(svc);
    rc = mr_embed_batch(svc->embedder, (const char *const *)texts, lens, n, vecs, err);
    t.embed_us += core_clock(svc) - t0;
    if (rc)
        goto out;

    if ((rc = mr_store_begin(svc->store, MR_TX_WRITE, &tx, err)) != 0)
        goto out;
    size_t written = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        struct mr_memory m;
        int g = mr_store_mem_get_by_id(tx, got[i], &m, err);
        if (g == MR_ENOTFOUND)
            continue;
        if (g != 0) {
            rc = g;
            mr_memory_clear(&m);
            break;
        }
        if (strcmp(m.content, texts[i]) != 0) {
            push_id(&r->ids, &r->n, &r->cap, got[i]); /* its new content, later */
        } else {
            free(m.embedding);
            m.embedding = mr_xmalloc(dim * sizeof *m.embedding);
            memcpy(m.embedding, vecs + i * dim, dim * sizeof *m.embedding);
            m.dim = dim;
            rc = mr_store_mem_update(tx, &m, true, err);
            got[written++] = got[i];
        }
        mr_memory_clear(&m);
    }
    rc = core_finish(tx, rc, err);
    for (size_t i = 0; rc == 0 && i < written; i++)
        push_id(&r->done, &r->n_done, &r->cap_done, got[i]);
out:
    core_trace_end(svc, &t, "reembed", NULL, rc, "%zu of %zu memories", n, k);
    for (size_t i = 0; i < k; i++)
        free(texts[i]);
    free(texts);
    free(lens);
    free(got);
    free(vecs);
    return rc;
}

/* Re-embeds r->ids[from..r->n) (which may grow meanwhile) batch by batch. */
static int reembed_pending(struct reembed *r, size_t from, struct mr_err *err)
{
    int rc = 0;
    size_t b = r->svc->embed_batch_size;
    for (size_t i = from; rc == 0 && i < r->n; i += b) {
        size_t k = r->n - i < b ? r->n - i : b;
        /* A copy: reembed_batch may append to r->ids, which moves it. */
        int64_t *batch = mr_xmalloc(k * sizeof *batch);
        memcpy(batch, r->ids + i, k * sizeof *batch);
        rc = reembed_batch(r, batch, k, err);
        free(batch);
    }
    return rc;
}

/*
 * Records the new model once every memory is written with it: in one write
 * transaction, a last scan for memories this run has not written (added
 * meanwhile); when there are some, they are done first and the check runs
 * again.
 */
static int reembed_finish(struct reembed *r, struct mr_err *err)
{
    struct mr_service *svc = r->svc;
    for (;;) {
        qsort(r->done, r->n_done, sizeof *r->done, cmp_id);
        struct mr_store_tx *tx;
        int rc = mr_store_begin(svc->store, MR_TX_WRITE, &tx, err);
        if (rc)
            return rc;
        size_t before = r->n;
        rc = mr_store_mem_scan(tx, collect_missing, r, err);
        if (rc == 0 && r->n == before)
            return core_finish(tx,
                               mr_store_set_model(tx, mr_embed_name(svc->embedder),
                                                  mr_embed_dim(svc->embedder), err),
                               err);
        mr_store_rollback(tx);
        if (rc == 0)
            rc = reembed_pending(r, before, err);
        if (rc)
            return rc;
    }
}

int mr_service_reembed(struct mr_service *svc, int64_t *out_count, struct mr_err *err)
{
    char marker[256];
    snprintf(marker, sizeof marker, "%s%s", MR_REEMBED_MARKER, mr_embed_name(svc->embedder));
    struct reembed r = {.svc = svc};
    struct mr_store_tx *tx;
    /*
     * The marker first, in its own transaction: from its commit on, the
     * database claims neither the old model nor the new one, so no server
     * starts on half-rewritten vectors. PostgreSQL also gives its column the
     * new dimension here, before rows of that dimension arrive.
     */
    int rc = mr_store_begin(svc->store, MR_TX_WRITE, &tx, err);
    if (rc)
        return rc;
    rc = mr_store_set_model(tx, marker, mr_embed_dim(svc->embedder), err);
    if ((rc = core_finish(tx, rc, err)) != 0)
        return rc;
    /* The ids in a read transaction: SQLite leaves a scan undefined when its rows change. */
    if ((rc = mr_store_begin(svc->store, MR_TX_READ, &tx, err)) != 0)
        return rc;
    rc = mr_store_mem_scan(tx, collect_id, &r, err);
    mr_store_rollback(tx);
    if (rc == 0) {
        qsort(r.ids, r.n, sizeof *r.ids, cmp_id);
        rc = reembed_pending(&r, 0, err);
    }
    if (rc == 0)
        rc = reembed_finish(&r, err);
    if (rc == 0)
        *out_count = (int64_t)r.n_done;
    free(r.ids);
    free(r.done);
    return rc;
}
