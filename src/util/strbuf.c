/*
 * strbuf.c — the growable string every module that writes text by hand
 * uses (the SQL module's JSON and DDL, the PostgreSQL store's array and
 * vector literals): one implementation, so its growth and NUL rules are
 * written once.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memori/util.h"

/* Room for extra more bytes and the NUL; doubling keeps appends amortised O(1). */
static void reserve(struct mr_strbuf *b, size_t extra)
{
    if (b->len + extra + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + extra + 1)
        cap *= 2;
    b->s = mr_xrealloc(b->s, cap);
    b->cap = cap;
}

void mr_strbuf_add(struct mr_strbuf *b, const char *s, size_t n)
{
    reserve(b, n);
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

void mr_strbuf_puts(struct mr_strbuf *b, const char *s)
{
    mr_strbuf_add(b, s, strlen(s));
}

void mr_strbuf_printf(struct mr_strbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n <= 0)
        return;
    reserve(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

char *mr_strbuf_take(struct mr_strbuf *b)
{
    char *s = b->s ? b->s : mr_xstrdup("");
    b->s = NULL;
    b->len = b->cap = 0;
    return s;
}

void mr_strbuf_free(struct mr_strbuf *b)
{
    free(b->s);
    memset(b, 0, sizeof *b);
}
