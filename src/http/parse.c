/*
 * parse.c — the request reader: request line, header fields, framing,
 * chunked bodies, paths and query strings (RFC 9112 and RFC 9110, read
 * strictly). Everything a front proxy could read another way is refused:
 * Content-Length beside Transfer-Encoding, repeated Content-Length or Host, a
 * transfer coding other than chunked, bare CR or LF, control bytes, obsolete
 * line folding, whitespace before a field's colon.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http_int.h"
#include "memori/util.h"

/* tchar of RFC 9110 §5.6.2: the bytes of methods and field names. */
static bool is_tchar(unsigned char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return true;
    return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* Bytes no request head may hold anywhere (HTAB, CR and LF are checked where they are). */
static bool is_forbidden(unsigned char c)
{
    return (c < 0x20 && c != '\t' && c != '\r' && c != '\n') || c == 0x7f;
}

static int hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Checks a complete request line (without its CRLF); fills the lengths of its parts. */
static int check_request_line(const char *line, size_t n, size_t *out_method, size_t *out_target,
                              const char **out_detail)
{
    size_t i = 0;
    while (i < n && is_tchar((unsigned char)line[i]))
        i++;
    if (i > MR_HTTP_MAX_METHOD) {
        *out_detail = "Method not implemented";
        return 501;
    }
    if (i == 0 || i == n || line[i] != ' ') {
        *out_detail = "Invalid request line";
        return 400;
    }
    *out_method = i;
    size_t t = ++i;
    while (i < n && line[i] != ' ') {
        unsigned char c = (unsigned char)line[i];
        if (c <= 0x20 || c == 0x7f) {
            *out_detail = "Invalid character in the request target";
            return 400;
        }
        i++;
    }
    if (i - t > MR_HTTP_MAX_TARGET) {
        *out_detail = "Request target too long";
        return 414;
    }
    *out_target = i - t;
    /* Exactly one space, then "HTTP/" DIGIT "." DIGIT and nothing else. */
    const char *v = line + i + 1;
    size_t vn = i < n ? n - i - 1 : 0;
    if (i == t || i == n || vn != 8 || memcmp(v, "HTTP/", 5) != 0 || v[6] != '.' ||
        hex_value((unsigned char)v[5]) < 0 || hex_value((unsigned char)v[5]) > 9 ||
        hex_value((unsigned char)v[7]) < 0 || hex_value((unsigned char)v[7]) > 9) {
        *out_detail = "Invalid request line";
        return 400;
    }
    if (v[5] != '1') {
        *out_detail = "HTTP version not supported";
        return 505;
    }
    return 0;
}

int mr_http_scan(struct mr_http_scan *scan, const char *buf, size_t len, size_t max_header_bytes,
                 size_t *out_end, const char **out_detail)
{
    for (size_t i = scan->pos; i < len; i++) {
        unsigned char c = (unsigned char)buf[i];
        if (is_forbidden(c)) {
            *out_detail = "Invalid character in the request head";
            return 400;
        }
        bool after_cr = i > scan->line_start && buf[i - 1] == '\r';
        if (after_cr && c != '\n') {
            *out_detail = "Bare CR in the request head";
            return 400;
        }
        if (c != '\n') {
            /* The method is known byte by byte: garbage fails at once, not at its line's end. */
            if (!scan->have_request_line && !scan->method_done && c != '\r') {
                if (c == ' ' && scan->method_len)
                    scan->method_done = true;
                else if (!is_tchar(c)) {
                    *out_detail = "Invalid request line";
                    return 400;
                } else if (++scan->method_len > MR_HTTP_MAX_METHOD) {
                    *out_detail = "Method not implemented";
                    return 501;
                }
            }
            if (!scan->have_request_line && i - scan->line_start > MR_HTTP_MAX_TARGET + 64) {
                *out_detail = "Request line too long";
                return 414;
            }
            if (i >= max_header_bytes) {
                *out_detail = "Request header fields too large";
                return 431;
            }
            continue;
        }
        if (!after_cr) {
            *out_detail = "Bare LF in the request head";
            return 400;
        }
        size_t line_len = i - 1 - scan->line_start;
        if (line_len == 0) {
            if (!scan->have_request_line) {
                /* Empty lines before a request line are skipped (RFC 9112 §2.2). */
                scan->line_start = scan->head_start = i + 1;
                continue;
            }
            scan->pos = i + 1;
            *out_end = i + 1;
            return 1;
        }
        if (!scan->have_request_line) {
            size_t m, t;
            int st = check_request_line(buf + scan->line_start, line_len, &m, &t, out_detail);
            if (st)
                return st;
            scan->have_request_line = true;
        }
        scan->line_start = i + 1;
    }
    scan->pos = len;
    return 0;
}

static bool ieq(const char *a, size_t an, const char *b)
{
    return an == strlen(b) && strncasecmp(a, b, an) == 0;
}

/* Whether the comma-separated list value holds the token tok (case-insensitive). */
static bool list_has(const char *value, const char *tok)
{
    const char *p = value;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        const char *s = p;
        while (*p && *p != ',')
            p++;
        const char *e = p;
        while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        if (e > s && ieq(s, (size_t)(e - s), tok))
            return true;
    }
    return false;
}

static int fail(const char **out_detail, const char *detail, int status)
{
    *out_detail = detail;
    return status;
}

/* Splits buf into the request line's parts and the fields; NULs end each. */
static int parse_lines(char *buf, size_t len, struct mr_http_head *out, const char **out_detail)
{
    char *end = buf + len;
    char *nl = memchr(buf, '\n', len);
    if (!nl || nl == buf || nl[-1] != '\r')
        return fail(out_detail, "Invalid request line", 400);
    size_t m, t;
    int st = check_request_line(buf, (size_t)(nl - 1 - buf), &m, &t, out_detail);
    if (st)
        return st;
    for (char *q = buf; q < nl - 1; q++)
        if (is_forbidden((unsigned char)*q))
            return fail(out_detail, "Invalid character in the request line", 400);
    out->method = buf;
    buf[m] = '\0';
    out->target = buf + m + 1;
    buf[m + 1 + t] = '\0';
    out->minor = buf[m + 1 + t + 8] - '0' > 0 ? 1 : 0; /* HTTP/1.2+ is read as 1.1 */
    char *p = nl + 1;
    for (;;) {
        nl = p < end ? memchr(p, '\n', (size_t)(end - p)) : NULL;
        if (!nl || nl == p || nl[-1] != '\r')
            return fail(out_detail, "Malformed header field", 400);
        char *line_end = nl - 1;
        if (line_end == p)
            return 0; /* the empty line: end of the head */
        if (*p == ' ' || *p == '\t')
            return fail(out_detail, "Obsolete line folding is not accepted", 400);
        char *q = p;
        while (q < line_end && is_tchar((unsigned char)*q))
            q++;
        if (q == p || q == line_end || *q != ':')
            return fail(out_detail, "Invalid header field name", 400);
        char *v = q + 1;
        while (v < line_end && (*v == ' ' || *v == '\t'))
            v++;
        char *ve = line_end;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
            ve--;
        for (char *k = v; k < ve; k++)
            if (is_forbidden((unsigned char)*k) || *k == '\r' || *k == '\n')
                return fail(out_detail, "Invalid character in a header field", 400);
        if (out->n_fields == MR_HTTP_MAX_FIELDS)
            return fail(out_detail, "Too many header fields", 431);
        struct mr_http_field *f = &out->fields[out->n_fields++];
        f->name = p;
        f->name_len = (size_t)(q - p);
        f->value = v;
        f->value_len = (size_t)(ve - v);
        *q = '\0';
        *ve = '\0';
        p = nl + 1;
    }
}

/* Absolute form ("http://host/path") to origin form; "*" only for OPTIONS. */
static int check_target(struct mr_http_head *h, const char **out_detail)
{
    const char *t = h->target;
    if (strncasecmp(t, "http://", 7) == 0 || strncasecmp(t, "https://", 8) == 0) {
        const char *slash = strchr(strchr(t, ':') + 3, '/');
        const char *qm = strchr(strchr(t, ':') + 3, '?');
        if (!slash || (qm && qm < slash))
            return fail(out_detail, "Invalid request target", 400);
        h->target = slash;
    } else if (strcmp(t, "*") == 0) {
        if (strcmp(h->method, "OPTIONS") != 0)
            return fail(out_detail, "Invalid request target", 400);
    } else if (t[0] != '/')
        return fail(out_detail, "Invalid request target", 400);
    if (strchr(h->target, '#'))
        return fail(out_detail, "Invalid request target", 400);
    const char *q = strchr(h->target, '?');
    h->query = q ? q + 1 : NULL;
    /* An encoded NUL would cut a parameter short wherever C strings carry it. */
    for (const char *k = h->query; k && *k; k++)
        if (k[0] == '%' && k[1] == '0' && k[2] == '0')
            return fail(out_detail, "Invalid query string", 400);
    return 0;
}

int mr_http_parse_head(char *buf, size_t len, struct mr_http_head *out, const char **out_detail)
{
    memset(out, 0, sizeof *out);
    int st = parse_lines(buf, len, out, out_detail);
    if (st)
        return st;
    st = check_target(out, out_detail);
    if (st)
        return st;
    int n_length = 0, n_te = 0, n_host = 0;
    const char *length = NULL, *te = NULL, *expect = NULL;
    bool close = false, keep = false;
    for (size_t i = 0; i < out->n_fields; i++) {
        const struct mr_http_field *f = &out->fields[i];
        if (ieq(f->name, f->name_len, "content-length")) {
            n_length++;
            length = f->value;
        } else if (ieq(f->name, f->name_len, "transfer-encoding")) {
            n_te++;
            te = f->value;
        } else if (ieq(f->name, f->name_len, "host"))
            n_host++;
        else if (ieq(f->name, f->name_len, "connection")) {
            close |= list_has(f->value, "close");
            keep |= list_has(f->value, "keep-alive");
        } else if (ieq(f->name, f->name_len, "expect"))
            expect = f->value;
    }
    if (n_te) {
        /* RFC 9112 §6.1: framing two readers could disagree on is refused, not guessed. */
        if (out->minor == 0)
            return fail(out_detail, "Transfer-Encoding is not accepted in HTTP/1.0", 400);
        if (n_length)
            return fail(out_detail, "Content-Length and Transfer-Encoding together", 400);
        if (n_te > 1)
            return fail(out_detail, "Repeated Transfer-Encoding", 400);
        if (strcasecmp(te, "chunked") != 0)
            return fail(out_detail, "Transfer-Encoding other than chunked is not supported", 501);
        out->chunked = true;
    }
    if (n_length > 1)
        return fail(out_detail, "Repeated Content-Length", 400);
    if (n_length == 1) {
        if (!*length)
            return fail(out_detail, "Invalid Content-Length", 400);
        uint64_t v = 0;
        for (const char *k = length; *k; k++) {
            if (*k < '0' || *k > '9')
                return fail(out_detail, "Invalid Content-Length", 400);
            unsigned d = (unsigned)(*k - '0');
            v = v > (UINT64_MAX - d) / 10 ? UINT64_MAX : v * 10 + d;
        }
        out->has_length = true;
        out->content_length = v;
    }
    if (n_host > 1)
        return fail(out_detail, "Repeated Host header", 400);
    if (out->minor == 1 && n_host == 0)
        return fail(out_detail, "Missing Host header", 400);
    /* HTTP/1.0 keeps the connection only when asked to (RFC 9112 §9.3). */
    out->keep_alive = !close && (out->minor == 1 || keep);
    if (expect && out->minor == 1) {
        if (strcasecmp(expect, "100-continue") != 0)
            return fail(out_detail, "Unsupported Expect", 417);
        out->expect_continue = true;
    }
    return 0;
}

const char *mr_http_head_field(const struct mr_http_head *h, const char *name)
{
    for (size_t i = 0; i < h->n_fields; i++)
        if (ieq(h->fields[i].name, h->fields[i].name_len, name))
            return h->fields[i].value;
    return NULL;
}

/* Decodes n bytes of s; '+' is a space when plus is set. Returns the length written. */
static size_t pct_decode(const char *s, size_t n, bool plus, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int hi, lo;
        if (s[i] == '%' && i + 2 < n && (hi = hex_value((unsigned char)s[i + 1])) >= 0 &&
            (lo = hex_value((unsigned char)s[i + 2])) >= 0) {
            out[o++] = (char)(hi * 16 + lo);
            i += 2;
        } else
            out[o++] = plus && s[i] == '+' ? ' ' : s[i];
    }
    return o;
}

int mr_http_decode_path(const char *target, char *out, const char **out_detail)
{
    size_t n = strcspn(target, "?");
    if (memchr(target, '#', n))
        return fail(out_detail, "Invalid request path", 400);
    size_t o = pct_decode(target, n, false, out);
    out[o] = '\0';
    /* No route holds a NUL or an empty segment: 404, as for any path no route takes. */
    if (memchr(out, '\0', o))
        return fail(out_detail, "Not Found", 404);
    for (size_t i = 1; i < o; i++)
        if (out[i] == '/' && out[i - 1] == '/')
            return fail(out_detail, "Not Found", 404);
    return 0;
}

char *mr_http_query_value(const char *query, const char *name)
{
    size_t name_len = strlen(name);
    char *last = NULL; /* a repeated key: the last value wins, as Starlette's QueryParams */
    for (const char *p = query; p && *p;) {
        const char *amp = strchr(p, '&');
        size_t seg = amp ? (size_t)(amp - p) : strlen(p);
        const char *eq = memchr(p, '=', seg);
        size_t klen = eq ? (size_t)(eq - p) : seg;
        char *key = mr_xmalloc(klen + 1);
        size_t kn = pct_decode(p, klen, true, key);
        bool match = kn == name_len && memcmp(key, name, kn) == 0;
        free(key);
        if (match) {
            size_t vlen = eq ? seg - klen - 1 : 0;
            free(last);
            last = mr_xmalloc(vlen + 1);
            last[eq ? pct_decode(eq + 1, vlen, true, last) : 0] = '\0';
        }
        p = amp ? amp + 1 : NULL;
    }
    return last;
}

enum {
    C_SIZE,
    C_EXT,
    C_SIZE_LF,
    C_DATA,
    C_DATA_CR,
    C_DATA_LF,
    C_TRAILER,
    C_TRAILER_LINE,
    C_TRAILER_LF,
    C_LAST_LF
};
enum { CHUNK_LINE_MAX = 4096, TRAILER_MAX = 8192 };

int mr_http_chunked_feed(struct mr_http_chunked *c, const char *in, size_t len, size_t max_body,
                         char **io_body, size_t *io_len, size_t *io_cap, size_t *out_used,
                         const char **out_detail)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)in[i];
        switch (c->state) {
        case C_SIZE: {
            int h = hex_value(ch);
            if (h >= 0) {
                /* Refused as soon as the announced size passes the limit, not at its end. */
                if (c->left > (max_body - *io_len) / 16 ||
                    c->left * 16 + (unsigned)h > max_body - *io_len)
                    return fail(out_detail, "Request body is larger than the limit", 413);
                c->left = c->left * 16 + (unsigned)h;
                c->digits++;
            } else if (ch == ';' && c->digits)
                c->state = C_EXT;
            else if (ch == '\r' && c->digits)
                c->state = C_SIZE_LF;
            else
                return fail(out_detail, "Invalid chunk size", 400);
            break;
        }
        case C_EXT:
            if (ch == '\r')
                c->state = C_SIZE_LF;
            else if (is_forbidden(ch) || ch == '\n')
                return fail(out_detail, "Invalid chunk extension", 400);
            break;
        case C_SIZE_LF:
            if (ch != '\n')
                return fail(out_detail, "Invalid chunk size line", 400);
            c->state = c->left ? C_DATA : C_TRAILER;
            c->line_len = 0;
            c->digits = 0;
            continue;
        case C_DATA: {
            size_t take = len - i < c->left ? len - i : (size_t)c->left;
            if (*io_len + take + 1 > *io_cap) {
                size_t cap = (*io_len + take + 1) * 2;
                if (cap > max_body + 1)
                    cap = max_body + 1;
                *io_body = mr_xrealloc(*io_body, cap);
                *io_cap = cap;
            }
            memcpy(*io_body + *io_len, in + i, take);
            *io_len += take;
            c->left -= take;
            i += take - 1;
            if (!c->left)
                c->state = C_DATA_CR;
            continue;
        }
        case C_DATA_CR:
            if (ch != '\r')
                return fail(out_detail, "Chunk data longer than its size", 400);
            c->state = C_DATA_LF;
            continue;
        case C_DATA_LF:
            if (ch != '\n')
                return fail(out_detail, "Chunk data longer than its size", 400);
            c->state = C_SIZE;
            c->line_len = 0;
            continue;
        case C_TRAILER:
            if (ch == '\r') {
                c->state = C_LAST_LF;
                continue;
            }
            c->state = C_TRAILER_LINE;
            /* fall through */
        case C_TRAILER_LINE:
            if (ch == '\r')
                c->state = C_TRAILER_LF;
            else if (is_forbidden(ch) || ch == '\n')
                return fail(out_detail, "Invalid trailer field", 400);
            if (++c->trailer_bytes > TRAILER_MAX)
                return fail(out_detail, "Trailer fields too large", 400);
            continue;
        case C_TRAILER_LF:
            if (ch != '\n')
                return fail(out_detail, "Invalid trailer field", 400);
            c->state = C_TRAILER;
            continue;
        case C_LAST_LF:
            if (ch != '\n')
                return fail(out_detail, "Invalid end of chunked body", 400);
            *out_used = i + 1;
            return 1;
        }
        if (++c->line_len > CHUNK_LINE_MAX)
            return fail(out_detail, "Chunk size line too long", 400);
    }
    *out_used = len;
    return 0;
}

char *mr_http_log_escape(const char *s, size_t len, char *out, size_t cap)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        bool plain = c >= '!' && c <= '~' && c != '\\';
        size_t need = plain ? 1 : 4;
        if (o + need + 4 > cap) {
            memcpy(out + o, "...", 3);
            o += 3;
            break;
        }
        if (plain)
            out[o++] = (char)c;
        else {
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    out[o] = '\0';
    return out;
}

const char *mr_http_reason(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 406:
        return "Not Acceptable";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 411:
        return "Length Required";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 415:
        return "Unsupported Media Type";
    case 417:
        return "Expectation Failed";
    case 422:
        return "Unprocessable Content";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return status < 300 ? "OK" : status < 500 ? "Bad Request" : "Internal Server Error";
    }
}
