/*
 * libFuzzer target: raw request bytes through the server's request reader
 * (src/http/parse.c, the code the event loop runs, no socket). Beyond "no
 * crash", it checks the property that keeps smuggling out — one reading: the
 * head scan and the chunked decoder give the same answer whether the bytes
 * arrive at once or in pieces of any size (the first byte chooses them), and
 * the access log's escaping never lets a control byte or a space through.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/http/http_int.h"

enum { MAX_HEADER = 4096, MAX_BODY = 2048 };

#define REQUIRE(cond)                                                                              \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

/* The scan fed `step`-sized pieces (0: all at once); returns its result and end. */
static int scan_in_pieces(const char *buf, size_t len, size_t step, size_t *out_end,
                          size_t *out_start)
{
    struct mr_http_scan s = {0};
    const char *detail = NULL;
    int st = 0;
    size_t have = step ? 0 : len;
    do {
        if (step)
            have = have + step < len ? have + step : len;
        st = mr_http_scan(&s, buf, have, MAX_HEADER, out_end, &detail);
    } while (st == 0 && have < len);
    REQUIRE(st == 0 || st == 1 || detail != NULL);
    *out_start = s.head_start;
    return st;
}

static int chunked_in_pieces(const char *in, size_t len, size_t step, char **out_body,
                             size_t *out_len, size_t *out_used)
{
    struct mr_http_chunked c = {0};
    char *body = NULL;
    size_t blen = 0, bcap = 0, off = 0;
    int st = 0;
    while (off < len || (!step && off == 0)) {
        size_t n = step ? (len - off < step ? len - off : step) : len;
        size_t used = 0;
        const char *detail = NULL;
        st = mr_http_chunked_feed(&c, in + off, n, MAX_BODY, &body, &blen, &bcap, &used, &detail);
        REQUIRE(blen <= MAX_BODY);
        REQUIRE(used <= n);
        off += used;
        if (st != 0 || !step)
            break;
    }
    *out_body = body;
    *out_len = blen;
    *out_used = off;
    return st;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t step = 1 + data[0] % 13;
    const char *buf = (const char *)data + 1;
    size_t len = size - 1;

    size_t end = 0, start = 0, end2 = 0, start2 = 0;
    int st = scan_in_pieces(buf, len, 0, &end, &start);
    int st2 = scan_in_pieces(buf, len, step, &end2, &start2);
    REQUIRE(st == st2);
    if (st != 1)
        return 0;
    REQUIRE(end == end2 && start == start2 && start < end && end <= len);

    char *head = malloc(end - start + 1);
    memcpy(head, buf + start, end - start);
    head[end - start] = '\0';
    struct mr_http_head h;
    const char *detail = NULL;
    if (mr_http_parse_head(head, end - start, &h, &detail) == 0) {
        REQUIRE(!(h.chunked && h.has_length)); /* never both framings */
        char *path = malloc(strlen(h.target) + 1);
        if (mr_http_decode_path(h.target, path, &detail) == 0) {
            REQUIRE(strstr(path, "//") == NULL);
            char esc[512];
            mr_http_log_escape(path, strlen(path), esc, sizeof esc);
            for (const char *k = esc; *k; k++)
                REQUIRE(*k > ' ' && *k < 0x7f);
        }
        free(path);
        free(mr_http_query_value(h.query, "user_id"));
        free(mr_http_query_value(h.query, ""));
        mr_http_head_field(&h, "x-user-id");
        if (h.chunked) {
            char *b1, *b2;
            size_t l1, l2, u1, u2;
            int c1 = chunked_in_pieces(buf + end, len - end, 0, &b1, &l1, &u1);
            int c2 = chunked_in_pieces(buf + end, len - end, step, &b2, &l2, &u2);
            /* Incomplete input reads as "more" either way; otherwise the same answer. */
            REQUIRE(c1 == c2);
            if (c1 == 1)
                REQUIRE(l1 == l2 && u1 == u2 && (!l1 || memcmp(b1, b2, l1) == 0));
            free(b1);
            free(b2);
        }
    }
    free(head);
    return 0;
}
