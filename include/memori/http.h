/*
 * http.h — the HTTP/1.1 server (src/http/): accepts connections, reads each
 * request one way only (strict framing: docs/security.md), enforces the size
 * limits and the deadlines, hands each complete request to one handler and
 * writes one access-log line per request on stderr (text or JSON lines) and
 * records it in the metrics (metrics.h). Each answer carries an X-Request-Id:
 * the client's when it is acceptable (mr_obs_request_id_ok), else a fresh
 * UUID; the log line names the same id.
 *
 * The handler runs on a worker thread; many run at once. HEAD is answered by
 * the GET handler with the body left out.
 */
#ifndef MEMORI_HTTP_H
#define MEMORI_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "memori/err.h"

struct mr_http_request {
    const char *method;
    const char *path; /* decoded, without the query string */
    const char *body; /* NUL-terminated copy; body_len bytes */
    size_t body_len;
    void *conn; /* for the accessors below */
};

/* A request header (case-insensitive name) or NULL. Valid during the handler. */
const char *mr_http_header(const struct mr_http_request *req, const char *name);

/*
 * A decoded query parameter or NULL; *out_present says whether the key
 * appeared at all. A repeated key gives its last value, as FastAPI reads it.
 */
const char *mr_http_query(const struct mr_http_request *req, const char *name, int *out_present);

struct mr_http_response {
    int status;
    char *body;               /* malloc'd JSON or NULL; the server frees it */
    const char *content_type; /* of body; NULL: application/json */
    const char *allow;        /* "Allow" header for 405, or NULL */
    const char *www_authenticate;
    const char *retry_after;             /* "Retry-After" header, or NULL */
    const char *content_security_policy; /* "Content-Security-Policy" header (pages), or NULL */
    const char *cache_control;           /* "Cache-Control" header (pages), or NULL */
    const char *extra_header;            /* one more "Name: value" line (static text), or NULL */
    /* For the log and the metrics; left NULL/0/"" by a handler that has none. */
    const char *route; /* the route template ("/api/memories/{memory_id}"), static; NULL: none */
    int route_id;      /* its mr_metrics_route id; 0: unmatched */
    char user_tag[16]; /* mr_obs_user_tag of the caller, or "" */
};

typedef void (*mr_http_handler)(void *ctx, const struct mr_http_request *req,
                                struct mr_http_response *res);

/* Limits and deadlines; a zero field takes the default named beside it. */
struct mr_http_options {
    const char *host;
    int port;                 /* 0: any free port (see mr_http_port) */
    int threads;              /* worker threads running handlers (4) */
    size_t max_body_bytes;    /* larger bodies get 413 (1 MiB) */
    int max_connections;      /* at the limit the longest-idle or slowest one is closed (1000) */
    int connection_timeout_s; /* no byte read or written for this long: closed (30) */
    size_t max_header_bytes;  /* request line + headers (32 KiB): 431 */
    int header_timeout_s;     /* request line + headers as a whole, from the first byte (10) */
    int body_timeout_s;       /* the whole body, from the end of the headers (30) */
    int max_connections_per_peer; /* from one client address; 0: no limit (0) */
    bool log_json;                /* access lines as JSON objects, one a line (LOG_FORMAT=json) */
    mr_http_handler handler;
    void *ctx;
};

struct mr_http_server;

/* Starts serving; returns NULL with err filled when the address cannot be bound. */
struct mr_http_server *mr_http_start(const struct mr_http_options *opt, struct mr_err *err);

/* The port actually bound. */
int mr_http_port(const struct mr_http_server *srv);

/*
 * Stops accepting, waits up to grace_ms for in-flight requests to finish,
 * then stops the threads and frees srv.
 */
void mr_http_stop(struct mr_http_server *srv, int grace_ms);

#endif
