/*
 * metrics.c — the Prometheus registry (metrics.h): fixed arrays of relaxed
 * atomics written by the request path and read by a scrape, with no lock
 * between them. A scrape sees each number at some instant of its own, not
 * one snapshot of all (as every Prometheus client library does): a
 * histogram's _count may run one request ahead of a bucket.
 */
#define _POSIX_C_SOURCE 200809L
#include "memori/metrics.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memori/util.h"

static atomic_bool enabled = true;
static atomic_uint_fast64_t counters[MR_M__COUNT];

/* Upper bounds of the latency buckets, in microseconds (0.5 ms .. 10 s). */
static const int64_t bucket_us[] = {500,    1000,   2500,   5000,    10000,   25000,   50000,
                                    100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000};
#define N_BUCKETS (sizeof bucket_us / sizeof bucket_us[0])

struct histogram {
    atomic_uint_fast64_t bucket[N_BUCKETS]; /* not cumulative: summed when rendered */
    atomic_uint_fast64_t count, sum_us;
};

static void observe(struct histogram *h, int64_t us)
{
    if (us < 0)
        us = 0;
    size_t b = 0;
    while (b < N_BUCKETS && us > bucket_us[b])
        b++;
    if (b < N_BUCKETS)
        atomic_fetch_add_explicit(&h->bucket[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_us, (uint64_t)us, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
}

static struct histogram embed_latency;
static atomic_uint_fast64_t embed_calls, embed_errors;

/*
 * Requests by (route, method, status). A route and method see few distinct
 * statuses, so each pair has a small set of status slots claimed by CAS; a
 * status past them is counted in the last slot's neighbour "other" (never
 * seen in practice: a route answers a handful of statuses).
 */
static const char *const methods[] = {"GET",    "HEAD",    "POST",  "PUT",
                                      "DELETE", "OPTIONS", "PATCH", "other"};
#define N_METHODS (sizeof methods / sizeof methods[0])
#define N_STATUS_SLOTS 16

struct series {
    atomic_int status[N_STATUS_SLOTS]; /* 0: free */
    atomic_uint_fast64_t count[N_STATUS_SLOTS];
    atomic_uint_fast64_t other;
    struct histogram latency;
};

static struct series http[MR_METRICS_MAX_ROUTES + 1][N_METHODS];
static const char *route_names[MR_METRICS_MAX_ROUTES + 1] = {"unmatched"};
static atomic_int n_routes = 1;
static pthread_mutex_t routes_mu = PTHREAD_MUTEX_INITIALIZER;

void mr_metrics_set_enabled(bool on)
{
    atomic_store(&enabled, on);
}

bool mr_metrics_enabled(void)
{
    return atomic_load_explicit(&enabled, memory_order_relaxed);
}

void mr_metrics_add(enum mr_metric m, uint64_t n)
{
    if (mr_metrics_enabled() && (unsigned)m < MR_M__COUNT)
        atomic_fetch_add_explicit(&counters[m], n, memory_order_relaxed);
}

void mr_metrics_embed_call(int64_t us, bool failed)
{
    if (!mr_metrics_enabled())
        return;
    atomic_fetch_add_explicit(&embed_calls, 1, memory_order_relaxed);
    if (failed)
        atomic_fetch_add_explicit(&embed_errors, 1, memory_order_relaxed);
    observe(&embed_latency, us);
}

int mr_metrics_route(const char *route)
{
    pthread_mutex_lock(&routes_mu);
    int n = atomic_load(&n_routes), id = 0;
    for (int i = 1; i < n && !id; i++)
        if (strcmp(route_names[i], route) == 0)
            id = i;
    if (!id && n <= MR_METRICS_MAX_ROUTES) {
        route_names[n] = route;
        id = n;
        /* Published after its name: a scrape reading n_routes sees the name. */
        atomic_store(&n_routes, n + 1);
    }
    pthread_mutex_unlock(&routes_mu);
    return id;
}

static size_t method_index(const char *m)
{
    for (size_t i = 0; i + 1 < N_METHODS; i++)
        if (strcmp(methods[i], m) == 0)
            return i;
    return N_METHODS - 1;
}

void mr_metrics_http(int route, const char *method, int status, int64_t us)
{
    if (!mr_metrics_enabled())
        return;
    if (route < 0 || route >= atomic_load_explicit(&n_routes, memory_order_acquire))
        route = 0;
    struct series *s = &http[route][method_index(method ? method : "")];
    observe(&s->latency, us);
    for (int i = 0; i < N_STATUS_SLOTS; i++) {
        int have = atomic_load_explicit(&s->status[i], memory_order_acquire);
        if (have == 0) {
            int expected = 0;
            if (atomic_compare_exchange_strong(&s->status[i], &expected, status) ||
                expected == status)
                have = status;
            else
                continue; /* another status took the slot: look further */
        }
        if (have == status) {
            atomic_fetch_add_explicit(&s->count[i], 1, memory_order_relaxed);
            return;
        }
    }
    atomic_fetch_add_explicit(&s->other, 1, memory_order_relaxed);
}

/* ---- rendering ---- */

struct buf {
    char *p;
    size_t len, cap;
};

static void put(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct buf *b, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        b->cap = b->cap * 2 + (n > 0 ? (size_t)n : 0);
        b->p = mr_xrealloc(b->p, b->cap);
    }
}

static void header(struct buf *b, const char *name, const char *type, const char *help)
{
    put(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/*
 * A label value: backslash, double quote and newline escaped, as the
 * exposition format asks (route templates and versions never hold them,
 * but a model name comes from the configuration).
 */
static void put_label(struct buf *b, const char *v)
{
    for (const char *p = v ? v : ""; *p; p++) {
        if (*p == '\\' || *p == '"')
            put(b, "\\%c", *p);
        else if (*p == '\n')
            put(b, "\\n");
        else
            put(b, "%c", *p);
    }
}

static uint64_t load(atomic_uint_fast64_t *a)
{
    return atomic_load_explicit(a, memory_order_relaxed);
}

/* A histogram's _bucket, _sum and _count lines; labels is "" or `a="x",b="y",`. */
static void put_histogram(struct buf *b, const char *name, const char *labels, struct histogram *h)
{
    uint64_t count = load(&h->count), cum = 0;
    for (size_t i = 0; i < N_BUCKETS; i++) {
        cum += load(&h->bucket[i]);
        /* Counts read one by one may trail the total: buckets never pass it. */
        put(b, "%s_bucket{%sle=\"%g\"} %llu\n", name, labels, (double)bucket_us[i] / 1e6,
            (unsigned long long)(cum < count ? cum : count));
    }
    put(b, "%s_bucket{%sle=\"+Inf\"} %llu\n", name, labels, (unsigned long long)count);
    size_t n = strlen(labels);
    put(b, "%s_sum%s%.*s%s %.6f\n", name, n ? "{" : "", n ? (int)n - 1 : 0, labels, n ? "}" : "",
        (double)load(&h->sum_us) / 1e6);
    put(b, "%s_count%s%.*s%s %llu\n", name, n ? "{" : "", n ? (int)n - 1 : 0, labels, n ? "}" : "",
        (unsigned long long)count);
}

static void put_gauge(struct buf *b, const char *name, const char *help, size_t v)
{
    header(b, name, "gauge", help);
    put(b, "%s %zu\n", name, v);
}

char *mr_metrics_render(const struct mr_metrics_state *st)
{
    struct buf b = {mr_xmalloc(16384), 0, 16384};
    b.p[0] = '\0';
    int nr = atomic_load_explicit(&n_routes, memory_order_acquire);

    header(&b, "memori_http_requests_total", "counter",
           "HTTP requests answered, by route template, method and status.");
    for (int r = 0; r < nr; r++)
        for (size_t m = 0; m < N_METHODS; m++) {
            struct series *s = &http[r][m];
            for (int i = 0; i < N_STATUS_SLOTS; i++) {
                int status = atomic_load_explicit(&s->status[i], memory_order_acquire);
                uint64_t n = load(&s->count[i]);
                if (!status || !n)
                    continue;
                put(&b,
                    "memori_http_requests_total{route=\"%s\",method=\"%s\",status=\"%d\"} %llu\n",
                    route_names[r], methods[m], status, (unsigned long long)n);
            }
            if (load(&s->other))
                put(&b,
                    "memori_http_requests_total{route=\"%s\",method=\"%s\",status=\"other\"} "
                    "%llu\n",
                    route_names[r], methods[m], (unsigned long long)load(&s->other));
        }
    header(&b, "memori_http_request_duration_seconds", "histogram",
           "Time from a request's head to its answer written, by route template and method.");
    for (int r = 0; r < nr; r++)
        for (size_t m = 0; m < N_METHODS; m++) {
            struct series *s = &http[r][m];
            if (!load(&s->latency.count))
                continue;
            char labels[256];
            snprintf(labels, sizeof labels, "route=\"%s\",method=\"%s\",", route_names[r],
                     methods[m]);
            put_histogram(&b, "memori_http_request_duration_seconds", labels, &s->latency);
        }

    if (st->has_index) {
        put_gauge(&b, "memori_memories", "Memories in the in-process index.", st->memories);
        put_gauge(&b, "memori_index_partitions",
                  "Partitions (one per tenant and user, and per tenant's shared memories) of the "
                  "in-process index.",
                  st->partitions);
        header(&b, "memori_hnsw_graphs", "gauge",
               "HNSW graphs of the in-process index: built (searched) and building (aside).");
        put(&b, "memori_hnsw_graphs{state=\"built\"} %zu\n", st->graphs_built);
        put(&b, "memori_hnsw_graphs{state=\"building\"} %zu\n", st->graphs_building);
        put_gauge(&b, "memori_lexical_index_documents",
                  "Documents in the lexical (BM25) indexes of every partition.",
                  st->lexical_documents);
        put_gauge(&b, "memori_lexical_index_bytes",
                  "Bytes the lexical (BM25) indexes of every partition hold.", st->lexical_bytes);
    }

    static const struct {
        enum mr_metric hit, miss;
        const char *level;
    } levels[] = {{MR_M_CACHE_HIT_MEMORY, MR_M_CACHE_MISS_MEMORY, "memory"},
                  {MR_M_CACHE_HIT_REDIS, MR_M_CACHE_MISS_REDIS, "redis"}};
    header(&b, "memori_embedding_cache_hits_total", "counter",
           "Texts found in an embedding cache level.");
    for (size_t i = 0; i < 2; i++)
        put(&b, "memori_embedding_cache_hits_total{level=\"%s\"} %llu\n", levels[i].level,
            (unsigned long long)load(&counters[levels[i].hit]));
    header(&b, "memori_embedding_cache_misses_total", "counter",
           "Texts an embedding cache level was asked for and did not hold.");
    for (size_t i = 0; i < 2; i++)
        put(&b, "memori_embedding_cache_misses_total{level=\"%s\"} %llu\n", levels[i].level,
            (unsigned long long)load(&counters[levels[i].miss]));

    header(&b, "memori_embedding_provider_calls_total", "counter",
           "Batch calls to the embedding provider (what no cache level held).");
    put(&b, "memori_embedding_provider_calls_total %llu\n", (unsigned long long)load(&embed_calls));
    header(&b, "memori_embedding_provider_errors_total", "counter",
           "Calls to the embedding provider that failed.");
    put(&b, "memori_embedding_provider_errors_total %llu\n",
        (unsigned long long)load(&embed_errors));
    header(&b, "memori_embedding_provider_duration_seconds", "histogram",
           "Duration of the calls to the embedding provider.");
    put_histogram(&b, "memori_embedding_provider_duration_seconds", "", &embed_latency);

    header(&b, "memori_store_errors_total", "counter",
           "Errors the database returned (each is also logged).");
    put(&b, "memori_store_errors_total %llu\n",
        (unsigned long long)load(&counters[MR_M_STORE_ERRORS]));

    header(&b, "memori_build_info", "gauge", "The running version, store and embedding model.");
    put(&b, "memori_build_info{version=\"");
    put_label(&b, st->version);
    put(&b, "\",store=\"");
    put_label(&b, st->store);
    put(&b, "\",embedding_model=\"");
    put_label(&b, st->embedding_model);
    put(&b, "\"} 1\n");
    return b.p;
}
