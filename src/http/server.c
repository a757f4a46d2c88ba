/*
 * server.c — libmicrohttpd glue: its internal epoll thread pool accepts and
 * parses; we collect the body (bounded by max_body_bytes: 413 beyond it),
 * call the handler once per complete request, and log one line per request.
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "memori/clock.h"
#include "memori/http.h"
#include "memori/util.h"

struct mr_http_server {
    struct MHD_Daemon *daemon;
    struct mr_http_options opt;
    atomic_int in_flight;
    int port;
};

/* Per-request state, from the first callback to the completion callback. */
struct req_state {
    int64_t started_us;
    char *body;
    size_t len, cap;
    int too_large;
    int status;
    char method[16];
    char path[256];
};

static const char *const TOO_LARGE_BODY = "{\"detail\":\"Request body is larger than the limit\"}";

static enum MHD_Result send_response(struct MHD_Connection *conn, struct req_state *st,
                                     struct mr_http_response *res)
{
    size_t len = res->body ? strlen(res->body) : 0;
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, res->body ? res->body : (char *)"",
                                        res->body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!r) {
        free(res->body);
        return MHD_NO;
    }
    if (res->body)
        MHD_add_response_header(r, "Content-Type", "application/json");
    if (res->allow)
        MHD_add_response_header(r, "Allow", res->allow);
    if (res->www_authenticate)
        MHD_add_response_header(r, "WWW-Authenticate", res->www_authenticate);
    st->status = res->status;
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)res->status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result reject_too_large(struct MHD_Connection *conn, struct req_state *st)
{
    struct mr_http_response res = {413, mr_xstrdup(TOO_LARGE_BODY), NULL, NULL};
    return send_response(conn, st, &res);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    (void)version;
    struct mr_http_server *srv = cls;
    struct req_state *st = *con_cls;
    if (!st) {
        st = mr_xcalloc(1, sizeof *st);
        st->started_us = mr_monotonic_us();
        snprintf(st->method, sizeof st->method, "%s", method);
        snprintf(st->path, sizeof st->path, "%s", url);
        *con_cls = st;
        atomic_fetch_add(&srv->in_flight, 1);
        /* Refuse an announced oversize body before reading any of it. */
        const char *cl =
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl) {
            char *end;
            unsigned long long n = strtoull(cl, &end, 10);
            if (end != cl && n > srv->opt.max_body_bytes)
                return reject_too_large(conn, st);
        }
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (st->too_large || st->len + n > srv->opt.max_body_bytes) {
            /* Keep reading (and dropping) so the client gets a clean 413. */
            st->too_large = 1;
            free(st->body);
            st->body = NULL;
            st->len = st->cap = 0;
            return MHD_YES;
        }
        if (st->len + n + 1 > st->cap) {
            st->cap = (st->len + n + 1) * 2;
            if (st->cap > srv->opt.max_body_bytes + 1)
                st->cap = srv->opt.max_body_bytes + 1;
            st->body = mr_xrealloc(st->body, st->cap);
        }
        memcpy(st->body + st->len, upload_data, n);
        st->len += n;
        return MHD_YES;
    }
    if (st->too_large)
        return reject_too_large(conn, st);

    const char *qmark = strchr(url, '?'); /* MHD strips it; be safe */
    char *path = mr_xstrndup(url, qmark ? (size_t)(qmark - url) : strlen(url));
    struct mr_http_request req = {
        .method = method,
        .path = path,
        .body = st->body ? st->body : "",
        .body_len = st->len,
        .conn = conn,
    };
    if (st->body)
        st->body[st->len] = '\0';
    struct mr_http_response res = {500, NULL, NULL, NULL};
    srv->opt.handler(srv->opt.ctx, &req, &res);
    free(path);
    return send_response(conn, st, &res);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)conn;
    struct mr_http_server *srv = cls;
    struct req_state *st = *con_cls;
    if (!st)
        return;
    int64_t us = mr_monotonic_us() - st->started_us;
    /* Method, path, status and duration; never bodies, which hold users' memories. */
    fprintf(stderr, "access %s %s %d %lldus%s\n", st->method, st->path, st->status, (long long)us,
            toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " (aborted)");
    free(st->body);
    free(st);
    *con_cls = NULL;
    atomic_fetch_sub(&srv->in_flight, 1);
}

const char *mr_http_header(const struct mr_http_request *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *mr_http_query(const struct mr_http_request *req, const char *name, int *out_present)
{
    const char *v = NULL;
    enum MHD_Result found = MHD_lookup_connection_value_n(req->conn, MHD_GET_ARGUMENT_KIND, name,
                                                          strlen(name), &v, NULL);
    if (out_present)
        *out_present = found == MHD_YES;
    return found == MHD_YES ? (v ? v : "") : NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    fputs("memori: http: ", stderr);
    vfprintf(stderr, fmt, ap);
}

struct mr_http_server *mr_http_start(const struct mr_http_options *opt, struct mr_err *err)
{
    struct addrinfo hints = {0}, *ai = NULL;
    char port[16];
    snprintf(port, sizeof port, "%d", opt->port);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int gai = getaddrinfo(opt->host, port, &hints, &ai);
    if (gai != 0) {
        mr_err_set(err, MR_EINVAL, "HOST=%s cannot be resolved: %s", opt->host, gai_strerror(gai));
        return NULL;
    }
    struct mr_http_server *srv = mr_xcalloc(1, sizeof *srv);
    srv->opt = *opt;
    unsigned flags =
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC | MHD_USE_ERROR_LOG;
    if (ai->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    srv->daemon = MHD_start_daemon(
        flags, (uint16_t)opt->port, NULL, NULL, on_request, srv, MHD_OPTION_EXTERNAL_LOGGER,
        mhd_log, NULL, MHD_OPTION_SOCK_ADDR, ai->ai_addr, MHD_OPTION_THREAD_POOL_SIZE,
        (unsigned)opt->threads, MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
        /* A slow or idle client (slowloris) is dropped after this, others unaffected. */
        MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)(opt->connection_timeout_s > 0 ? opt->connection_timeout_s : 30),
        MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)(opt->max_connections > 0 ? opt->max_connections : 1000),
        /* Bounds request line + headers per connection: larger ones get 431/413. */
        MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)(opt->max_header_bytes ? opt->max_header_bytes : 32768), MHD_OPTION_END);
    freeaddrinfo(ai);
    if (!srv->daemon) {
        mr_err_set(err, MR_EUNAVAIL, "cannot listen on %s:%d (in use, or not an address here)",
                   opt->host, opt->port);
        free(srv);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
    srv->port = info ? info->port : opt->port;
    return srv;
}

int mr_http_port(const struct mr_http_server *srv)
{
    return srv->port;
}

void mr_http_stop(struct mr_http_server *srv, int grace_ms)
{
    if (!srv)
        return;
    MHD_quiesce_daemon(srv->daemon);
    /* Let requests already being handled finish and be answered. */
    for (int waited = 0; atomic_load(&srv->in_flight) > 0 && waited < grace_ms; waited += 10) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    MHD_stop_daemon(srv->daemon);
    free(srv);
}
