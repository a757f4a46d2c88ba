/*
 * http.h — the HTTP server (src/http/, libmicrohttpd): accepts
 * connections, enforces the body-size limit, hands each complete request to
 * one handler and writes one access-log line per request on stderr.
 *
 * The handler runs on a server thread; many run at once.
 */
#ifndef MEMORI_HTTP_H
#define MEMORI_HTTP_H

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

/* A decoded query parameter or NULL; *out_present says whether the key appeared at all. */
const char *mr_http_query(const struct mr_http_request *req, const char *name, int *out_present);

struct mr_http_response {
    int status;
    char *body;        /* malloc'd JSON or NULL; the server frees it */
    const char *allow; /* "Allow" header for 405, or NULL */
    const char *www_authenticate;
};

typedef void (*mr_http_handler)(void *ctx, const struct mr_http_request *req,
                                struct mr_http_response *res);

struct mr_http_options {
    const char *host;
    int port; /* 0: any free port (see mr_http_port) */
    int threads;
    size_t max_body_bytes;
    int max_connections;
    int connection_timeout_s;
    size_t max_header_bytes;
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
