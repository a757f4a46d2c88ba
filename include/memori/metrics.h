/*
 * metrics.h — observability (src/obs/): the process's Prometheus metrics
 * (GET /metrics, text exposition format 0.0.4) and the helpers of the
 * request log (a hashed user tag, request ids).
 *
 * The metrics are process-wide, as a process has one server: counters and
 * histograms are relaxed atomics, so recording is a few atomic adds and a
 * scrape reads them without taking any lock a request needs. Route labels
 * are registered once, before the first request (mr_metrics_route), so a
 * label is always a route template of the router's table, never a path a
 * client sent: the label set is bounded.
 *
 * mr_metrics_set_enabled(false) (MEMORI_METRICS=false) turns recording into
 * one branch, for docs/perf.md's comparison.
 */
#ifndef MEMORI_METRICS_H
#define MEMORI_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Counters without labels other than the one their name says. */
enum mr_metric {
    MR_M_CACHE_HIT_MEMORY,  /* embedding cache, in-process LRU level */
    MR_M_CACHE_MISS_MEMORY, /* */
    MR_M_CACHE_HIT_REDIS,   /* embedding cache, shared Redis level */
    MR_M_CACHE_MISS_REDIS,  /* */
    MR_M_STORE_ERRORS,      /* database errors (store_db_error) */
    MR_M__COUNT
};

/* Recording on or off (on by default). Set before serving. */
void mr_metrics_set_enabled(bool on);
bool mr_metrics_enabled(void);

/* Adds n to counter m. */
void mr_metrics_add(enum mr_metric m, uint64_t n);

/* One call of the embedding provider: its duration, and whether it failed. */
void mr_metrics_embed_call(int64_t us, bool failed);

/*
 * Registers the route template `route` (a string that outlives the
 * process's serving, e.g. a static one) as a label and returns its id (>= 1;
 * the same id for the same text). At most MR_METRICS_MAX_ROUTES; past that
 * a route is counted as "unmatched" (0). Thread-safe; meant for start-up.
 */
#define MR_METRICS_MAX_ROUTES 48
int mr_metrics_route(const char *route);

/*
 * One answered request: route id (0: no route matched, or the server
 * answered before routing), the method as sent (methods other than the
 * standard ones are counted as "other"), status and duration.
 */
void mr_metrics_http(int route, const char *method, int status, int64_t us);

/* State read at scrape time (gauges); fields a store has not are left false/0. */
struct mr_metrics_state {
    const char *version, *store, *embedding_model;
    bool has_index; /* an in-process index: the gauges below are its */
    size_t memories, partitions, graphs_built, graphs_building;
    size_t lexical_documents, lexical_bytes;
};

/*
 * The exposition text of every metric, HELP and TYPE lines included;
 * malloc'd (the caller frees), NUL-terminated.
 */
char *mr_metrics_render(const struct mr_metrics_state *st);

/* ---- the request log ---- */

/*
 * A 12-hex-digit tag of a user (the first 48 bits of SHA-256 of
 * "tenant:user"), so log lines of one user can be correlated without the
 * id appearing in them. out gets 13 bytes with the NUL.
 */
#define MR_USER_TAG_LEN 13
void mr_obs_user_tag(const char *tenant, const char *user, char out[MR_USER_TAG_LEN]);

/* A client's X-Request-Id is kept when it is 1..128 bytes of printable ASCII ('!'..'~'). */
#define MR_REQUEST_ID_MAX 128
bool mr_obs_request_id_ok(const char *s);

#endif
