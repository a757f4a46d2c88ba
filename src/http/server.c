/*
 * server.c — the HTTP/1.1 server. One event-loop thread (epoll) owns every
 * connection: it accepts, reads, frames each request with parse.c, keeps the
 * deadlines and the connection limit, and writes the answers; a pool of
 * worker threads runs the handler of each complete request and formats its
 * answer. A connection is in one phase at a time:
 *
 *   HEAD (request line + headers) -> BODY -> HANDLER (a worker has it) ->
 *   WRITE -> IDLE (keep-alive, waiting for the next request's first byte)
 *   -> HEAD ...; LINGER after an answer that closes the connection.
 *
 * Deadlines are lists ordered by the time a connection entered them, one per
 * fixed timeout (h2o's habit), so expiring and choosing whom to close at the
 * limit are O(1): the oldest LINGER, else the longest IDLE, else the slowest
 * HEAD (nginx's reusable connections). HANDLER and BODY are never evicted.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "http_int.h"
#include "memori/clock.h"
#include "memori/http.h"
#include "memori/metrics.h"
#include "memori/util.h"

enum phase { PH_IDLE, PH_HEAD, PH_BODY, PH_HANDLER, PH_WRITE, PH_LINGER };
enum { L_IDLE, L_HEAD, L_BODY, L_LINGER, N_LISTS };
enum { K_ALL, K_ACT, K_PHASE, N_LINKS };
enum { PEER_BUCKETS = 1024, LINGER_US = 2 * 1000 * 1000, TICK_MS = 100, IN_KEEP = 4096 };
/*
 * A request head younger than this is not closed to make room: a client that
 * connects and writes at once (its bytes follow the handshake's last packet)
 * has them read before it can be chosen, so a flood of silent sockets cannot
 * cycle it out in one burst of accepts. At the limit memori then accepts at
 * most max_connections per HEAD_GRACE_US, which drains the kernel's queue
 * ahead of a fresh client in well under a second.
 */
#define HEAD_GRACE_US (25 * 1000)

struct conn;
struct link {
    struct conn *prev, *next;
};
struct list {
    struct conn *first, *last;
};

/* Connections from one client address, for max_connections_per_peer. */
struct peer {
    struct peer *next;
    unsigned char addr[16];
    int count;
};

/* A decoded query value handed to the handler, freed after it. */
struct qval {
    struct qval *next;
    char *value;
};

struct conn {
    struct mr_http_server *srv;
    int fd;
    enum phase phase;
    struct link links[N_LINKS];
    int in_list[N_LINKS]; /* list index + 1 the connection is in, per link; 0: none */
    int64_t last_io_us, phase_us;
    struct peer *peer;
    uint32_t events;
    bool registered;
    /* bytes received and not yet consumed (a head, a body, pipelined requests) */
    char *in;
    size_t in_len, in_cap;
    struct mr_http_scan scan;
    /* the request */
    char *head_buf; /* head_inline, or malloc'd when the head is larger (req_buf) */
    struct mr_http_head head;
    char *path;
    bool is_head, keep_alive, in_flight;
    int64_t started_us;
    char *body;
    size_t body_len, body_cap;
    uint64_t body_left;
    struct mr_http_chunked chunk;
    struct qval *qvals;
    /* the answer: the head in out, then the handler's body (not copied) */
    char *out, *out_body;
    size_t out_len, out_body_len, out_off; /* out_off counts over both */
    bool close_after, logged;
    int status;
    /* for the log line and the metrics */
    char request_id[MR_REQUEST_ID_MAX + 1];
    const char *route;
    int route_id;
    char user_tag[16];
    bool closed;         /* its fd is closed; freed at the end of the loop's round */
    struct conn *q_next; /* worker queue, answers back, or closed ones */
    /* The usual request's head, path and answer head, without a malloc each (req_buf). */
    char head_inline[1024], path_inline[256], out_inline[512];
};

/* A request's buffer of n bytes: the connection's own when it fits, else malloc'd. */
static char *req_buf(char *own, size_t own_cap, size_t n)
{
    return n <= own_cap ? own : mr_xmalloc(n);
}

static void req_buf_free(char *p, const char *own)
{
    if (p != own)
        free(p);
}

struct mr_http_server {
    struct mr_http_options opt;
    int listen_fd, ep, wake_fd;
    int port;
    pthread_t loop;
    pthread_t *workers;
    int n_workers;
    /* event-loop thread only */
    struct list all, act, lists[N_LISTS];
    int n_conns;
    bool accept_paused;
    int64_t accept_retry_us;
    struct peer *peers[PEER_BUCKETS];
    struct conn *closed; /* closed this round: later events of the round may name them */
    char scratch[65536];
    /* worker queue, under mu */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct conn *jobs, *jobs_tail;
    bool workers_quit;
    /*
     * Answers back: a lock-free stack the workers push on and the loop takes
     * whole (drain_done), so a worker handing an answer back never contends
     * for mu with the loop's dispatches or with the workers taking jobs.
     */
    _Atomic(struct conn *) done;
    atomic_int stopping, quit, in_flight;
};

static void list_push(struct list *l, struct conn *c, int k, int id)
{
    c->links[k].prev = l->last;
    c->links[k].next = NULL;
    if (l->last)
        l->last->links[k].next = c;
    else
        l->first = c;
    l->last = c;
    c->in_list[k] = id + 1;
}

static void list_remove(struct list *l, struct conn *c, int k)
{
    struct link *e = &c->links[k];
    if (e->prev)
        e->prev->links[k].next = e->next;
    else
        l->first = e->next;
    if (e->next)
        e->next->links[k].prev = e->prev;
    else
        l->last = e->prev;
    e->prev = e->next = NULL;
    c->in_list[k] = 0;
}

static struct list *phase_list(struct mr_http_server *srv, enum phase ph)
{
    switch (ph) {
    case PH_IDLE:
        return &srv->lists[L_IDLE];
    case PH_HEAD:
        return &srv->lists[L_HEAD];
    case PH_BODY:
        return &srv->lists[L_BODY];
    case PH_LINGER:
        return &srv->lists[L_LINGER];
    default:
        return NULL;
    }
}

/* Moves c into phase ph, whose deadline starts now. */
static void set_phase(struct conn *c, enum phase ph)
{
    struct mr_http_server *srv = c->srv;
    struct list *l = phase_list(srv, c->phase);
    if (l && c->in_list[K_PHASE])
        list_remove(l, c, K_PHASE);
    c->phase = ph;
    c->phase_us = mr_monotonic_us();
    l = phase_list(srv, ph);
    if (l)
        list_push(l, c, K_PHASE, (int)(l - srv->lists));
    /* A handler's time is the application's: no inactivity deadline meanwhile. */
    if (ph == PH_HANDLER && c->in_list[K_ACT])
        list_remove(&srv->act, c, K_ACT);
    else if (ph != PH_HANDLER && !c->in_list[K_ACT]) {
        c->last_io_us = c->phase_us;
        list_push(&srv->act, c, K_ACT, 0);
    }
}

/* Bytes moved: the inactivity deadline starts again. */
static void touch(struct conn *c)
{
    c->last_io_us = mr_monotonic_us();
    if (c->in_list[K_ACT]) {
        list_remove(&c->srv->act, c, K_ACT);
        list_push(&c->srv->act, c, K_ACT, 0);
    }
}

static void set_events(struct conn *c, uint32_t events)
{
    if (c->registered && c->events == events)
        return;
    struct epoll_event ev = {.events = events, .data.ptr = c};
    if (epoll_ctl(c->srv->ep, c->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, c->fd, &ev) == 0) {
        c->registered = true;
        c->events = events;
    }
}

static void wake(struct mr_http_server *srv)
{
    uint64_t one = 1;
    ssize_t w = write(srv->wake_fd, &one, sizeof one);
    (void)w;
}

static struct peer **peer_slot(struct mr_http_server *srv, const unsigned char addr[16])
{
    uint64_t h = mr_fnv1a64(MR_FNV64_BASIS, addr, 16);
    struct peer **p = &srv->peers[h % PEER_BUCKETS];
    while (*p && memcmp((*p)->addr, addr, 16) != 0)
        p = &(*p)->next;
    return p;
}

static void reset_request(struct conn *c)
{
    req_buf_free(c->head_buf, c->head_inline);
    req_buf_free(c->path, c->path_inline);
    free(c->body);
    req_buf_free(c->out, c->out_inline);
    free(c->out_body);
    for (struct qval *q = c->qvals, *next; q; q = next) {
        next = q->next;
        free(q->value);
        free(q);
    }
    c->head_buf = c->path = c->body = c->out = c->out_body = NULL;
    c->qvals = NULL;
    memset(&c->head, 0, sizeof c->head);
    memset(&c->scan, 0, sizeof c->scan);
    memset(&c->chunk, 0, sizeof c->chunk);
    c->body_len = c->body_cap = c->out_len = c->out_body_len = c->out_off = 0;
    c->body_left = 0;
    c->is_head = c->close_after = c->logged = false;
    c->status = 0;
    c->started_us = 0;
    c->request_id[0] = c->user_tag[0] = '\0';
    c->route = NULL;
    c->route_id = 0;
}

/* The client's X-Request-Id when it is acceptable, else a fresh UUID (v4). */
static void take_request_id(struct conn *c)
{
    const char *id = c->head.method ? mr_http_head_field(&c->head, "X-Request-Id") : NULL;
    if (mr_obs_request_id_ok(id))
        snprintf(c->request_id, sizeof c->request_id, "%s", id);
    else
        mr_uuid_v4(c->request_id);
}

static void end_in_flight(struct conn *c)
{
    if (c->in_flight) {
        c->in_flight = false;
        atomic_fetch_sub(&c->srv->in_flight, 1);
    }
}

/*
 * s for a JSON string: log-escaped first (printable ASCII, other bytes as
 * \xNN), then '"' and '\' escaped, so a JSON line decodes to what the text
 * line shows.
 */
static char *json_escape(const char *s, char *out, size_t cap)
{
    char tmp[1024];
    mr_http_log_escape(s, strlen(s), tmp, sizeof tmp < cap / 2 ? sizeof tmp : cap / 2);
    size_t o = 0;
    for (const char *p = tmp; *p && o + 3 < cap; p++) {
        if (*p == '"' || *p == '\\')
            out[o++] = '\\';
        out[o++] = *p;
    }
    out[o] = '\0';
    return out;
}

/*
 * One line a request, with the client's bytes escaped (no forged lines, no
 * terminal codes): method, path, status, duration, then the route template,
 * the caller's tag (never the id) and the request id. Never bodies, query
 * strings or headers, which hold users' memories and credentials. The
 * request is counted in the metrics here too, once, as it is logged once.
 */
static void log_access(struct conn *c, bool aborted)
{
    if (!c->head.method && !c->status)
        return; /* nothing was asked (an idle or dropped connection) */
    const char *m = c->head.method ? c->head.method : "-";
    const char *p = c->path ? c->path : c->head.target ? c->head.target : "-";
    const char *route = c->route ? c->route : "unmatched";
    const char *user = c->user_tag[0] ? c->user_tag : "-";
    if (!c->request_id[0])
        take_request_id(c);
    long long us = (long long)(mr_monotonic_us() - c->started_us);
    if (c->status)
        mr_metrics_http(c->route_id, c->head.method ? c->head.method : "", c->status, us);
    if (c->srv->opt.log_json) {
        char method[8 * MR_HTTP_MAX_METHOD + 8], path[2048], rid[4 * MR_REQUEST_ID_MAX + 8];
        char when[40];
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        struct tm tm;
        gmtime_r(&ts.tv_sec, &tm);
        size_t k = strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(when + k, sizeof when - k, ".%03dZ", (int)(ts.tv_nsec / 1000000));
        fprintf(stderr,
                "{\"time\":\"%s\",\"type\":\"access\",\"method\":\"%s\",\"path\":\"%s\","
                "\"route\":\"%s\",\"status\":%d,\"duration_ms\":%.3f,\"user\":\"%s\","
                "\"request_id\":\"%s\",\"aborted\":%s}\n",
                when, json_escape(m, method, sizeof method), json_escape(p, path, sizeof path),
                route, c->status, (double)us / 1000.0, user,
                json_escape(c->request_id, rid, sizeof rid), aborted ? "true" : "false");
        return;
    }
    char method[4 * MR_HTTP_MAX_METHOD + 8], path[1024], rid[4 * MR_REQUEST_ID_MAX + 8];
    mr_http_log_escape(m, strlen(m), method, sizeof method);
    mr_http_log_escape(p, strlen(p), path, sizeof path);
    mr_http_log_escape(c->request_id, strlen(c->request_id), rid, sizeof rid);
    fprintf(stderr, "access %s %s %d %lldus route=%s user=%s request_id=%s%s\n", method, path,
            c->status, us, route, user, rid, aborted ? " (aborted)" : "");
}

/* Closes c now (never one a worker holds); its memory goes at the end of the round. */
static void close_conn(struct conn *c)
{
    struct mr_http_server *srv = c->srv;
    if (c->closed)
        return;
    if (c->phase == PH_BODY || (c->phase == PH_WRITE && !c->logged))
        log_access(c, true);
    end_in_flight(c);
    struct list *l = phase_list(srv, c->phase);
    if (l && c->in_list[K_PHASE])
        list_remove(l, c, K_PHASE);
    if (c->in_list[K_ACT])
        list_remove(&srv->act, c, K_ACT);
    list_remove(&srv->all, c, K_ALL);
    /*
     * Out of the epoll set before the close: close() alone removes it only
     * when no other descriptor shares the socket, and a child forked between
     * our accept and its exec holds one, so epoll would go on reporting
     * events for c after its memory is freed (ASan saw it in the tests that
     * start a Redis or PostgreSQL server beside one of ours).
     */
    if (c->registered)
        epoll_ctl(srv->ep, EPOLL_CTL_DEL, c->fd, NULL);
    c->registered = false;
    close(c->fd);
    if (c->peer && --c->peer->count == 0) {
        struct peer **slot = peer_slot(srv, c->peer->addr);
        struct peer *dead = *slot;
        *slot = dead->next;
        free(dead);
    }
    srv->n_conns--;
    reset_request(c);
    free(c->in);
    c->in = NULL;
    c->fd = -1;
    c->closed = true;
    c->q_next = srv->closed;
    srv->closed = c;
}

static void free_closed(struct mr_http_server *srv)
{
    for (struct conn *c = srv->closed, *next; c; c = next) {
        next = c->q_next;
        free(c);
    }
    srv->closed = NULL;
}

/* The Date header's value (IMF-fixdate), formatted once a second per thread. */
static const char *http_date(void)
{
    static _Thread_local time_t last = -1;
    static _Thread_local char date[64];
    time_t now = time(NULL);
    if (now != last) {
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        last = now;
    }
    return date;
}

/*
 * Formats the answer's head into c->out and keeps body after it: owned, a
 * handler's malloc'd body is taken as it is (an answer of megabytes is not
 * copied), else it is copied. A HEAD request's answer has no body. extra
 * may be NULL.
 */
static void format_response(struct conn *c, int status, char *body, size_t len,
                            const struct mr_http_response *extra, bool close, bool owned)
{
    const char *allow = extra ? extra->allow : NULL;
    const char *www_authenticate = extra ? extra->www_authenticate : NULL;
    const char *retry_after = extra ? extra->retry_after : NULL;
    const char *content_type = extra ? extra->content_type : NULL;
    const char *csp = extra ? extra->content_security_policy : NULL;
    const char *cache_control = extra ? extra->cache_control : NULL;
    const char *more = extra ? extra->extra_header : NULL;
    c->close_after = close || !c->keep_alive || atomic_load(&c->srv->stopping);
    c->status = status;
    const char *date = http_date();
    if (!c->request_id[0])
        take_request_id(c);
    size_t cap = 256 + sizeof c->request_id + (content_type ? strlen(content_type) : 0) +
                 (allow ? strlen(allow) : 0) + (www_authenticate ? strlen(www_authenticate) : 0) +
                 (retry_after ? strlen(retry_after) : 0) + (csp ? strlen(csp) + 32 : 0) +
                 (cache_control ? strlen(cache_control) + 32 : 0) + (more ? strlen(more) + 2 : 0);
    c->out = req_buf(c->out_inline, sizeof c->out_inline, cap);
    int o = snprintf(c->out, cap, "HTTP/1.1 %d %s\r\nDate: %s\r\n", status, mr_http_reason(status),
                     date);
    if (status != 204 && status != 304) {
        if (body)
            o += snprintf(c->out + o, cap - (size_t)o, "Content-Type: %s\r\n",
                          content_type ? content_type : "application/json");
        o += snprintf(c->out + o, cap - (size_t)o, "Content-Length: %zu\r\n", len);
    }
    if (allow)
        o += snprintf(c->out + o, cap - (size_t)o, "Allow: %s\r\n", allow);
    if (www_authenticate)
        o += snprintf(c->out + o, cap - (size_t)o, "WWW-Authenticate: %s\r\n", www_authenticate);
    if (retry_after)
        o += snprintf(c->out + o, cap - (size_t)o, "Retry-After: %s\r\n", retry_after);
    if (csp)
        o += snprintf(c->out + o, cap - (size_t)o, "Content-Security-Policy: %s\r\n", csp);
    if (cache_control)
        o += snprintf(c->out + o, cap - (size_t)o, "Cache-Control: %s\r\n", cache_control);
    if (more)
        o += snprintf(c->out + o, cap - (size_t)o, "%s\r\n", more);
    o += snprintf(c->out + o, cap - (size_t)o, "X-Request-Id: %s\r\n", c->request_id);
    if (c->close_after)
        o += snprintf(c->out + o, cap - (size_t)o, "Connection: close\r\n");
    else if (c->head.minor == 0)
        o += snprintf(c->out + o, cap - (size_t)o, "Connection: keep-alive\r\n");
    o += snprintf(c->out + o, cap - (size_t)o, "\r\n");
    c->out_len = (size_t)o;
    c->out_body = NULL;
    c->out_body_len = 0;
    if (body && !c->is_head && status != 204 && status != 304) {
        c->out_body = owned ? body : memcpy(mr_xmalloc(len), body, len);
        c->out_body_len = len;
    } else if (owned) {
        free(body);
    }
    c->out_off = 0;
}

/* Sends what is left of the answer (head, then body) with one call; send(2)'s result. */
static ssize_t send_out(struct conn *c, int flags)
{
    struct iovec iov[2];
    int n = 0;
    if (c->out_off < c->out_len)
        iov[n++] = (struct iovec){c->out + c->out_off, c->out_len - c->out_off};
    size_t body_off = c->out_off > c->out_len ? c->out_off - c->out_len : 0;
    if (c->out_body_len > body_off)
        iov[n++] = (struct iovec){c->out_body + body_off, c->out_body_len - body_off};
    struct msghdr msg = {.msg_iov = iov, .msg_iovlen = (size_t)n};
    return sendmsg(c->fd, &msg, MSG_NOSIGNAL | flags);
}

static bool process(struct conn *c);

/* The answer is out: log it, then keep the connection for the next request or linger. */
static bool finish_response(struct conn *c)
{
    if (!c->logged)
        log_access(c, false);
    end_in_flight(c);
    bool close = c->close_after;
    reset_request(c);
    if (close || atomic_load(&c->srv->stopping)) {
        /*
         * Half-close and read what the client still sends for a while (nginx's
         * lingering close): closing with unread bytes would reset the
         * connection and the client could lose the answer.
         */
        shutdown(c->fd, SHUT_WR);
        c->in_len = 0;
        set_phase(c, PH_LINGER);
        set_events(c, EPOLLIN);
        if (atomic_load(&c->srv->stopping)) {
            close_conn(c);
            return false;
        }
        return true;
    }
    set_phase(c, PH_IDLE);
    set_events(c, EPOLLIN);
    /*
     * A keep-alive connection keeps a read buffer of the usual size for its
     * next request (one malloc and free fewer each); a larger one, grown for
     * a long head or pipelined requests, is given back.
     */
    if (!c->in_len && c->in_cap > IN_KEEP) {
        free(c->in);
        c->in = NULL;
        c->in_cap = 0;
    }
    return process(c); /* a pipelined request may be waiting */
}

/* Writes what it can of c->out; false when c was closed. */
static bool flush(struct conn *c)
{
    while (c->out_off < c->out_len + c->out_body_len) {
        ssize_t n = send_out(c, 0);
        if (n > 0) {
            c->out_off += (size_t)n;
            touch(c);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            set_events(c, EPOLLOUT);
            return true;
        }
        close_conn(c);
        return false;
    }
    return finish_response(c);
}

static bool start_write(struct conn *c)
{
    set_phase(c, PH_WRITE);
    return flush(c);
}

/* An answer of the server's own ({"detail": …}), after which the connection closes. */
static bool answer_error(struct conn *c, int status, const char *detail)
{
    if (!c->started_us)
        c->started_us = mr_monotonic_us();
    char body[256];
    int n = snprintf(body, sizeof body, "{\"detail\":\"%s\"}", detail);
    format_response(c, status, body, (size_t)n, NULL, true, false);
    return start_write(c);
}

static void consume(struct conn *c, size_t n)
{
    memmove(c->in, c->in + n, c->in_len - n);
    c->in_len -= n;
}

static void dispatch(struct conn *c)
{
    struct mr_http_server *srv = c->srv;
    set_phase(c, PH_HANDLER);
    /* Not a byte more until the answer is out (pipelined requests wait in the kernel). */
    set_events(c, 0);
    c->in_flight = true;
    atomic_fetch_add(&srv->in_flight, 1);
    pthread_mutex_lock(&srv->mu);
    c->q_next = NULL;
    if (srv->jobs_tail)
        srv->jobs_tail->q_next = c;
    else
        srv->jobs = c;
    srv->jobs_tail = c;
    pthread_mutex_unlock(&srv->mu);
    /* After the unlock: a worker woken while mu is held would only block on it again. */
    pthread_cond_signal(&srv->cv);
}

/* A complete head is c->in[scan.head_start, end): parse it and decide how the body is framed. */
static bool start_request(struct conn *c, size_t end)
{
    struct mr_http_server *srv = c->srv;
    size_t start = c->scan.head_start, len = end - start;
    c->head_buf = req_buf(c->head_inline, sizeof c->head_inline, len + 1);
    memcpy(c->head_buf, c->in + start, len);
    c->head_buf[len] = '\0';
    consume(c, end);
    c->started_us = mr_monotonic_us();
    const char *detail = NULL;
    int st = mr_http_parse_head(c->head_buf, len, &c->head, &detail);
    if (st)
        return answer_error(c, st, detail);
    take_request_id(c);
    c->path = req_buf(c->path_inline, sizeof c->path_inline, strlen(c->head.target) + 1);
    st = mr_http_decode_path(c->head.target, c->path, &detail);
    c->is_head = strcmp(c->head.method, "HEAD") == 0;
    c->keep_alive = c->head.keep_alive;
    if (st) {
        /* The log shows what was sent (escaped), not a path cut at a NUL. */
        req_buf_free(c->path, c->path_inline);
        c->path = NULL;
        return answer_error(c, st, detail);
    }
    if (c->head.chunked) {
        set_phase(c, PH_BODY);
    } else if (c->head.has_length && c->head.content_length) {
        /* Refused from Content-Length, before reading any of it. */
        if (c->head.content_length > srv->opt.max_body_bytes)
            return answer_error(c, 413, "Request body is larger than the limit");
        c->body_left = c->head.content_length;
        c->body_cap = (size_t)c->body_left + 1;
        c->body = mr_xmalloc(c->body_cap);
        set_phase(c, PH_BODY);
    } else {
        dispatch(c);
        return true;
    }
    if (c->head.expect_continue) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        if (send(c->fd, cont, sizeof cont - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof cont - 1)) {
            close_conn(c);
            return false;
        }
    }
    return true;
}

/* Reads the body from c->in; dispatches when it is complete. */
static bool read_body(struct conn *c)
{
    struct mr_http_server *srv = c->srv;
    if (c->head.chunked) {
        size_t used = 0;
        const char *detail = NULL;
        int st = mr_http_chunked_feed(&c->chunk, c->in, c->in_len, srv->opt.max_body_bytes,
                                      &c->body, &c->body_len, &c->body_cap, &used, &detail);
        consume(c, used);
        if (st == 0)
            return true;
        if (st != 1)
            return answer_error(c, st, detail);
    } else {
        size_t take = c->in_len < c->body_left ? c->in_len : (size_t)c->body_left;
        memcpy(c->body + c->body_len, c->in, take);
        c->body_len += take;
        c->body_left -= take;
        consume(c, take);
        if (c->body_left)
            return true;
    }
    dispatch(c);
    return true;
}

/* Advances c over the bytes it has; false when c was closed. */
static bool process(struct conn *c)
{
    for (;;) {
        switch (c->phase) {
        case PH_IDLE:
            if (!c->in_len)
                return true;
            /* The first byte of the next request starts its header deadline. */
            set_phase(c, PH_HEAD);
            memset(&c->scan, 0, sizeof c->scan);
            /* fall through */
        case PH_HEAD: {
            size_t end = 0;
            const char *detail = NULL;
            int st = mr_http_scan(&c->scan, c->in, c->in_len, c->srv->opt.max_header_bytes, &end,
                                  &detail);
            if (st == 0)
                return true;
            if (st != 1)
                return answer_error(c, st, detail);
            if (!start_request(c, end))
                return false;
            break;
        }
        case PH_BODY:
            if (!c->in_len)
                return true;
            if (!read_body(c))
                return false;
            if (c->phase == PH_BODY)
                return true;
            break;
        default:
            return true;
        }
    }
}

static void on_readable(struct conn *c)
{
    struct mr_http_server *srv = c->srv;
    for (int round = 0; round < 8; round++) {
        ssize_t n = recv(c->fd, srv->scratch, sizeof srv->scratch, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0) {
            close_conn(c); /* the client is gone (a BODY is logged aborted) */
            return;
        }
        touch(c);
        if (c->phase == PH_LINGER)
            continue; /* dropped: the answer is out */
        if (c->in_len + (size_t)n > c->in_cap) {
            c->in_cap = (c->in_len + (size_t)n) * 2;
            if (c->in_cap < IN_KEEP)
                c->in_cap = IN_KEEP;
            c->in = mr_xrealloc(c->in, c->in_cap);
        }
        memcpy(c->in + c->in_len, srv->scratch, (size_t)n);
        c->in_len += (size_t)n;
        if (!process(c))
            return;
        if (c->phase != PH_IDLE && c->phase != PH_HEAD && c->phase != PH_BODY)
            return;
    }
}

static void on_event(struct conn *c, uint32_t events)
{
    if (c->closed)
        return;
    if (c->phase == PH_HANDLER) {
        /* Hung up while a worker has it: stop hearing about it until the answer. */
        if (events & (EPOLLHUP | EPOLLERR)) {
            epoll_ctl(c->srv->ep, EPOLL_CTL_DEL, c->fd, NULL);
            c->registered = false;
        }
        return;
    }
    if (c->phase == PH_WRITE) {
        if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR))
            flush(c);
        return;
    }
    on_readable(c);
}

/*
 * Whom to close for a new connection at the limit: linger, idle, the slowest
 * head past its grace, or none. The HEAD list is in order of entry, so if its
 * first is inside the grace, all are.
 */
static struct conn *victim(struct mr_http_server *srv, int64_t now)
{
    if (srv->lists[L_LINGER].first)
        return srv->lists[L_LINGER].first;
    if (srv->lists[L_IDLE].first)
        return srv->lists[L_IDLE].first;
    struct conn *h = srv->lists[L_HEAD].first;
    return h && h->phase_us + HEAD_GRACE_US <= now ? h : NULL;
}

/* When victim() may next have someone: the first head's grace end, or never (0). */
static int64_t victim_due(struct mr_http_server *srv)
{
    struct conn *h = srv->lists[L_HEAD].first;
    return h ? h->phase_us + HEAD_GRACE_US : 0;
}

static void pause_accept(struct mr_http_server *srv, int64_t retry_us)
{
    struct epoll_event ev = {.events = 0, .data.ptr = NULL};
    epoll_ctl(srv->ep, EPOLL_CTL_MOD, srv->listen_fd, &ev);
    srv->accept_paused = true;
    srv->accept_retry_us = retry_us;
}

static void refuse(int fd, int status, const char *detail)
{
    char buf[512];
    int n = snprintf(buf, sizeof buf,
                     "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n{\"detail\":\"%s\"}",
                     status, mr_http_reason(status), strlen(detail) + 13, detail);
    ssize_t w = send(fd, buf, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
    (void)w;
    close(fd);
}

static void on_accept(struct mr_http_server *srv)
{
    for (int k = 0; k < 64; k++) {
        if (srv->n_conns >= srv->opt.max_connections && !victim(srv, mr_monotonic_us())) {
            /* Every slot is doing work or new: the rest wait in the kernel's queue. */
            pause_accept(srv, victim_due(srv));
            return;
        }
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int fd = accept4(srv->listen_fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
                pause_accept(srv, mr_monotonic_us() + 100 * 1000);
            return;
        }
        unsigned char addr[16] = {0};
        if (ss.ss_family == AF_INET)
            memcpy(addr, &((struct sockaddr_in *)&ss)->sin_addr, 4);
        else if (ss.ss_family == AF_INET6)
            memcpy(addr, &((struct sockaddr_in6 *)&ss)->sin6_addr, 16);
        struct peer **slot = peer_slot(srv, addr);
        if (srv->opt.max_connections_per_peer > 0 && *slot &&
            (*slot)->count >= srv->opt.max_connections_per_peer) {
            refuse(fd, 503, "Too many connections from this address");
            continue;
        }
        if (srv->n_conns >= srv->opt.max_connections)
            close_conn(victim(srv, mr_monotonic_us()));
        if (!*slot) {
            *slot = mr_xcalloc(1, sizeof **slot);
            memcpy((*slot)->addr, addr, 16);
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct conn *c = mr_xcalloc(1, sizeof *c);
        c->srv = srv;
        c->fd = fd;
        c->peer = *slot;
        c->peer->count++;
        srv->n_conns++;
        list_push(&srv->all, c, K_ALL, 0);
        c->phase = PH_IDLE;
        set_phase(c, PH_HEAD); /* a new connection's header deadline starts at accept */
        set_events(c, EPOLLIN);
        if (!c->registered) {
            close_conn(c);
            continue;
        }
        /*
         * Read what is already there: a client that sent its request with
         * its handshake is dispatched now, before the next accepts of this
         * batch could close it as the oldest head at the limit (an attack
         * that re-dials hundreds of sockets fills a batch).
         */
        on_readable(c);
    }
}

static void expire(struct mr_http_server *srv)
{
    int64_t now = mr_monotonic_us();
    int64_t idle = (int64_t)srv->opt.connection_timeout_s * 1000000;
    int64_t head = (int64_t)srv->opt.header_timeout_s * 1000000;
    int64_t body = (int64_t)srv->opt.body_timeout_s * 1000000;
    struct conn *c;
    while ((c = srv->act.first) && c->last_io_us + idle <= now)
        close_conn(c);
    while ((c = srv->lists[L_HEAD].first) && c->phase_us + head <= now)
        close_conn(c);
    while ((c = srv->lists[L_BODY].first) && c->phase_us + body <= now)
        close_conn(c);
    while ((c = srv->lists[L_LINGER].first) && c->phase_us + LINGER_US <= now)
        close_conn(c);
    if (srv->accept_paused && srv->listen_fd >= 0 &&
        (srv->n_conns < srv->opt.max_connections || victim(srv, now)) &&
        now >= srv->accept_retry_us) {
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
        epoll_ctl(srv->ep, EPOLL_CTL_MOD, srv->listen_fd, &ev);
        srv->accept_paused = false;
    }
}

/* Answers back from the workers: write them. */
static void drain_done(struct mr_http_server *srv)
{
    uint64_t v;
    ssize_t r = read(srv->wake_fd, &v, sizeof v);
    (void)r;
    /* Taken whole, newest first: reversed, so answers are written in the order they came. */
    struct conn *c = NULL;
    for (struct conn *p = atomic_exchange(&srv->done, NULL), *next; p; p = next) {
        next = p->q_next;
        p->q_next = c;
        c = p;
    }
    while (c) {
        struct conn *next = c->q_next;
        c->q_next = NULL;
        if (!c->registered)
            set_events(c, EPOLLOUT);
        start_write(c);
        c = next;
    }
}

static void begin_stop(struct mr_http_server *srv)
{
    if (srv->listen_fd >= 0) {
        epoll_ctl(srv->ep, EPOLL_CTL_DEL, srv->listen_fd, NULL);
        close(srv->listen_fd);
        srv->listen_fd = -1;
    }
    /* Nothing in progress on these; the ones being handled finish and close. */
    for (struct conn *c = srv->all.first, *next; c; c = next) {
        next = c->links[K_ALL].next;
        if (c->phase == PH_IDLE || c->phase == PH_HEAD || c->phase == PH_BODY ||
            c->phase == PH_LINGER)
            close_conn(c);
    }
}

/* The loop's sleep: a tick, or less when paused accepts may resume sooner. */
static int wait_ms(const struct mr_http_server *srv)
{
    if (!srv->accept_paused || srv->accept_retry_us <= 0)
        return TICK_MS;
    int64_t left = srv->accept_retry_us - mr_monotonic_us();
    if (left <= 0)
        return 0;
    return left / 1000 + 1 < TICK_MS ? (int)(left / 1000 + 1) : TICK_MS;
}

static void *loop_main(void *arg)
{
    struct mr_http_server *srv = arg;
    struct epoll_event evs[256];
    bool stopped = false;
    while (!atomic_load(&srv->quit)) {
        int n = epoll_wait(srv->ep, evs, 256, wait_ms(srv));
        for (int i = 0; i < n; i++) {
            void *p = evs[i].data.ptr;
            if (p == srv)
                drain_done(srv);
            else if (!p) {
                if (srv->listen_fd >= 0 && !srv->accept_paused)
                    on_accept(srv);
            } else
                on_event(p, evs[i].events);
        }
        if (atomic_load(&srv->stopping) && !stopped) {
            begin_stop(srv);
            stopped = true;
        }
        expire(srv);
        free_closed(srv);
    }
    return NULL;
}

static void *worker_main(void *arg)
{
    struct mr_http_server *srv = arg;
    for (;;) {
        pthread_mutex_lock(&srv->mu);
        while (!srv->jobs && !srv->workers_quit)
            pthread_cond_wait(&srv->cv, &srv->mu);
        struct conn *c = srv->jobs;
        if (srv->workers_quit) {
            pthread_mutex_unlock(&srv->mu);
            return NULL;
        }
        srv->jobs = c->q_next;
        if (!srv->jobs)
            srv->jobs_tail = NULL;
        pthread_mutex_unlock(&srv->mu);

        struct mr_http_request req = {
            /* HEAD is GET without the body (RFC 9110 §9.3.2). */
            .method = c->is_head ? "GET" : c->head.method,
            .path = c->path,
            .body = c->body ? c->body : "",
            .body_len = c->body_len,
            .conn = c,
        };
        if (c->body)
            c->body[c->body_len] = '\0';
        struct mr_http_response res = {.status = 500};
        srv->opt.handler(srv->opt.ctx, &req, &res);
        c->route = res.route;
        c->route_id = res.route_id;
        memcpy(c->user_tag, res.user_tag, sizeof c->user_tag);
        c->user_tag[sizeof c->user_tag - 1] = '\0';
        format_response(c, res.status, res.body, res.body ? strlen(res.body) : 0, &res, false,
                        true);
        /*
         * Send it from here: the loop leaves a HANDLER connection's socket
         * alone, and the client need not wait for the loop to wake. The loop
         * writes what is left and takes the connection back.
         */
        ssize_t sent = send_out(c, MSG_DONTWAIT);
        if (sent > 0)
            c->out_off = (size_t)sent;
        /* Logged here, so a slow stderr holds one worker, never the event loop. */
        if (c->out_off == c->out_len + c->out_body_len) {
            log_access(c, false);
            c->logged = true;
        }

        struct conn *top = atomic_load(&srv->done);
        do
            c->q_next = top;
        while (!atomic_compare_exchange_weak(&srv->done, &top, c));
        if (!top) /* else the loop has a wake-up pending and takes the whole stack */
            wake(srv);
    }
}

const char *mr_http_header(const struct mr_http_request *req, const char *name)
{
    const struct conn *c = req->conn;
    return mr_http_head_field(&c->head, name);
}

const char *mr_http_query(const struct mr_http_request *req, const char *name, int *out_present)
{
    struct conn *c = req->conn;
    char *v = mr_http_query_value(c->head.query, name);
    if (out_present)
        *out_present = v != NULL;
    if (v) {
        struct qval *q = mr_xmalloc(sizeof *q);
        q->value = v;
        q->next = c->qvals;
        c->qvals = q;
    }
    return v;
}

static void fill_defaults(struct mr_http_options *o)
{
    if (o->threads <= 0)
        o->threads = 4;
    if (!o->max_body_bytes)
        o->max_body_bytes = 1 << 20;
    if (o->max_connections <= 0)
        o->max_connections = 1000;
    if (o->connection_timeout_s <= 0)
        o->connection_timeout_s = 30;
    if (!o->max_header_bytes)
        o->max_header_bytes = 32768;
    if (o->header_timeout_s <= 0)
        o->header_timeout_s = 10;
    if (o->body_timeout_s <= 0)
        o->body_timeout_s = 30;
    if (o->max_connections_per_peer < 0)
        o->max_connections_per_peer = 0;
}

static int listen_on(const struct mr_http_options *opt, int *out_port, struct mr_err *err)
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
        return -1;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd >= 0)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 4096) != 0) {
        if (fd >= 0)
            close(fd);
        freeaddrinfo(ai);
        mr_err_set(err, MR_EUNAVAIL, "cannot listen on %s:%d (in use, or not an address here)",
                   opt->host, opt->port);
        return -1;
    }
    freeaddrinfo(ai);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    *out_port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                               : ((struct sockaddr_in *)&ss)->sin_port);
    return fd;
}

struct mr_http_server *mr_http_start(const struct mr_http_options *opt, struct mr_err *err)
{
    struct mr_http_server *srv = mr_xcalloc(1, sizeof *srv);
    srv->opt = *opt;
    fill_defaults(&srv->opt);
    srv->listen_fd = listen_on(&srv->opt, &srv->port, err);
    if (srv->listen_fd < 0) {
        free(srv);
        return NULL;
    }
    srv->ep = epoll_create1(EPOLL_CLOEXEC);
    srv->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};
    struct epoll_event wev = {.events = EPOLLIN, .data.ptr = srv};
    if (srv->ep < 0 || srv->wake_fd < 0 ||
        epoll_ctl(srv->ep, EPOLL_CTL_ADD, srv->listen_fd, &lev) != 0 ||
        epoll_ctl(srv->ep, EPOLL_CTL_ADD, srv->wake_fd, &wev) != 0) {
        mr_err_set(err, MR_EUNAVAIL, "cannot start the HTTP event loop: %s", strerror(errno));
        close(srv->listen_fd);
        if (srv->ep >= 0)
            close(srv->ep);
        if (srv->wake_fd >= 0)
            close(srv->wake_fd);
        free(srv);
        return NULL;
    }
    pthread_mutex_init(&srv->mu, NULL);
    pthread_cond_init(&srv->cv, NULL);
    srv->workers = mr_xcalloc((size_t)srv->opt.threads, sizeof *srv->workers);
    for (int i = 0; i < srv->opt.threads; i++)
        if (pthread_create(&srv->workers[i], NULL, worker_main, srv) == 0)
            srv->n_workers++;
    pthread_create(&srv->loop, NULL, loop_main, srv);
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
    atomic_store(&srv->stopping, 1);
    wake(srv);
    /* Let requests already being handled finish and be answered. */
    for (int waited = 0; atomic_load(&srv->in_flight) > 0 && waited < grace_ms; waited += 10) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    atomic_store(&srv->quit, 1);
    wake(srv);
    pthread_join(srv->loop, NULL);
    pthread_mutex_lock(&srv->mu);
    srv->workers_quit = true;
    pthread_cond_broadcast(&srv->cv);
    pthread_mutex_unlock(&srv->mu);
    for (int i = 0; i < srv->n_workers; i++)
        pthread_join(srv->workers[i], NULL);
    /* Every thread is gone: what is left (answers never written) is ours to free. */
    for (struct conn *c = srv->all.first, *next; c; c = next) {
        next = c->links[K_ALL].next;
        close(c->fd);
        reset_request(c);
        free(c->in);
        free(c);
    }
    for (int i = 0; i < PEER_BUCKETS; i++)
        for (struct peer *p = srv->peers[i], *next; p; p = next) {
            next = p->next;
            free(p);
        }
    if (srv->listen_fd >= 0)
        close(srv->listen_fd);
    close(srv->ep);
    close(srv->wake_fd);
    pthread_mutex_destroy(&srv->mu);
    pthread_cond_destroy(&srv->cv);
    free(srv->workers);
    free(srv);
}
