/*
 * http_int.h — private to src/http: the request reader (parse.c), pure
 * functions over bytes with no socket, so the fuzzer drives exactly what the
 * server runs. One reading of every request (RFC 9112, strictly): anything
 * two HTTP implementations could frame differently is refused, never guessed.
 */
#ifndef MEMORI_HTTP_INT_H
#define MEMORI_HTTP_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { MR_HTTP_MAX_FIELDS = 100, MR_HTTP_MAX_METHOD = 32, MR_HTTP_MAX_TARGET = 8192 };

/*
 * Incremental check of a request head as its bytes arrive: finds its end and
 * refuses at once what can never become a valid head (a control byte, a bare
 * CR or LF, a bad request line as soon as its line is complete, a head
 * longer than the limit), so garbage gets its 400 without waiting for more.
 */
struct mr_http_scan {
    size_t pos;        /* bytes checked so far */
    size_t line_start; /* start of the line being received */
    size_t head_start; /* first byte of the request line (after empty lines) */
    size_t method_len; /* of the request line being received */
    bool method_done;
    bool have_request_line;
};

/*
 * Checks buf[scan->pos, len). Returns 0 while the head is incomplete, 1 when
 * it is complete (*out_end: bytes up to and including the empty line), or an
 * HTTP status (400, 414, 431, 501, 505) with *out_detail a static message.
 */
int mr_http_scan(struct mr_http_scan *scan, const char *buf, size_t len, size_t max_header_bytes,
                 size_t *out_end, const char **out_detail);

struct mr_http_field {
    const char *name, *value; /* NUL-terminated inside the head's buffer */
    size_t name_len, value_len;
};

struct mr_http_head {
    const char *method; /* NUL-terminated, as sent */
    const char *target; /* NUL-terminated, as sent (origin form after an absolute form) */
    const char *query;  /* raw, after '?'; NULL when none */
    int minor;          /* HTTP/1.minor: 0 or 1 */
    struct mr_http_field fields[MR_HTTP_MAX_FIELDS];
    size_t n_fields;
    bool chunked;
    bool has_length;
    uint64_t content_length; /* UINT64_MAX when too large to represent */
    bool keep_alive;         /* no "Connection: close"; HTTP/1.0 with "Connection: keep-alive" */
    bool expect_continue;
};

/*
 * Parses a complete head (buf[0, len), as found by mr_http_scan from
 * head_start), writing NULs into buf to end its fields. Returns 0, or an HTTP
 * status with *out_detail: 400 (bad syntax, Content-Length with
 * Transfer-Encoding, repeated Content-Length or Host, missing Host on
 * HTTP/1.1, obsolete line folding, a field name with a space before the
 * colon), 414, 417 (an Expect other than 100-continue), 431 (too many
 * fields), 501 (a transfer coding other than chunked, an overlong method),
 * 505.
 */
int mr_http_parse_head(char *buf, size_t len, struct mr_http_head *out, const char **out_detail);

/* The first field named name (case-insensitive) or NULL. */
const char *mr_http_head_field(const struct mr_http_head *h, const char *name);

/*
 * Percent-decodes the path part of target (up to '?') into out (capacity
 * strlen(target) + 1, NUL-terminated). Returns 0; 400 when it holds a '#';
 * 404 when it decodes to a NUL byte or has an empty segment ("//"): no route
 * has either. A trailing slash is not an empty segment.
 */
int mr_http_decode_path(const char *target, char *out, const char **out_detail);

/*
 * The decoded value of key `name` in a raw query string ('+' is a space,
 * %XX a byte), malloc'd (the caller frees), "" for a key without '=';
 * NULL when absent. A repeated key gives its last value (FastAPI's reading).
 */
char *mr_http_query_value(const char *query, const char *name);

/* Chunked body decoding (RFC 9112 §7.1), incrementally. */
struct mr_http_chunked {
    int state;
    uint64_t left;   /* data bytes left in the current chunk */
    size_t line_len; /* bytes of the current size, extension or trailer line */
    size_t trailer_bytes;
    int digits;
};

/*
 * Decodes in[0, len), appending data to *io_body (capacity *io_cap, grown
 * with realloc; *io_len bytes used) but never past max_body bytes. Returns 0
 * when it needs more input, 1 when the body is complete (*out_used: bytes of
 * in consumed, the rest belongs to the next request), 413 as soon as the data
 * passes max_body, or 400 with *out_detail.
 */
int mr_http_chunked_feed(struct mr_http_chunked *c, const char *in, size_t len, size_t max_body,
                         char **io_body, size_t *io_len, size_t *io_cap, size_t *out_used,
                         const char **out_detail);

/*
 * Writes s[0, len) into out (capacity cap >= 5) for a log line: bytes outside
 * '!'..'~' and the backslash as \xNN, so no control byte, newline or space of
 * a client's reaches the log; "..." ends it when cap is too small. Returns out.
 */
char *mr_http_log_escape(const char *s, size_t len, char *out, size_t cap);

/* The reason phrase of an HTTP status ("Not Found"). */
const char *mr_http_reason(int status);

#endif
