/*
 * sqlutil.c — the small parts every file of the SQL module uses: a growable
 * string with a JSON string writer (the module builds its JSON by hand, so
 * jansson stays behind its one wrapper), name comparison per dialect,
 * positions, errors and a string → index map.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "memori/util.h"
#include "sql_int.h"

static void reserve(struct sqlbuf *b, size_t extra)
{
    if (b->len + extra + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + extra + 1)
        cap *= 2;
    b->s = mr_xrealloc(b->s, cap);
    b->cap = cap;
}

void sqlbuf_add(struct sqlbuf *b, const char *s, size_t n)
{
    reserve(b, n);
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

void sqlbuf_puts(struct sqlbuf *b, const char *s)
{
    sqlbuf_add(b, s, strlen(s));
}

void sqlbuf_printf(struct sqlbuf *b, const char *fmt, ...)
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

void sqlbuf_json_str(struct sqlbuf *b, const char *s)
{
    sqlbuf_add(b, "\"", 1);
    const char *run = s;
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        sqlbuf_add(b, run, (size_t)(p - run));
        run = p + 1;
        switch (c) {
        case '"':
            sqlbuf_add(b, "\\\"", 2);
            break;
        case '\\':
            sqlbuf_add(b, "\\\\", 2);
            break;
        case '\n':
            sqlbuf_add(b, "\\n", 2);
            break;
        case '\r':
            sqlbuf_add(b, "\\r", 2);
            break;
        case '\t':
            sqlbuf_add(b, "\\t", 2);
            break;
        default:
            sqlbuf_printf(b, "\\u%04x", c);
        }
    }
    sqlbuf_puts(b, run);
    sqlbuf_add(b, "\"", 1);
}

char *sqlbuf_take(struct sqlbuf *b)
{
    char *s = b->s ? b->s : mr_xstrdup("");
    b->s = NULL;
    b->len = b->cap = 0;
    return s;
}

bool sql_name_eq(enum mr_sql_dialect d, const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return d == MR_SQL_SQLITE ? strcasecmp(a, b) == 0 : strcmp(a, b) == 0;
}

uint64_t sql_name_hash(enum mr_sql_dialect d, const char *s)
{
    uint64_t h = MR_FNV64_BASIS;
    for (const char *p = s ? s : ""; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (d == MR_SQL_SQLITE && c >= 'A' && c <= 'Z')
            c = (unsigned char)(c - 'A' + 'a');
        h = mr_fnv1a64(h, &c, 1);
    }
    return h;
}

bool sql_default_schema(enum mr_sql_dialect d, const char *schema)
{
    if (!schema || !*schema)
        return true;
    return d == MR_SQL_SQLITE ? strcasecmp(schema, "main") == 0 : strcmp(schema, "public") == 0;
}

void sql_position(const char *text, size_t len, size_t off, int *out_line, int *out_column)
{
    int line = 1, col = 1;
    if (off > len)
        off = len;
    for (size_t i = 0; i < off; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c == '\n') {
            line++;
            col = 1;
        } else if ((c & 0xC0) != 0x80) {
            col++; /* count code points, not continuation bytes */
        }
    }
    *out_line = line;
    *out_column = col;
}

int sql_fail(struct mr_sql_diag *diag, struct mr_err *err, int code, enum mr_sql_diag_kind kind,
             const char *name, int line, int column, const char *fmt, ...)
{
    char msg[sizeof err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (diag) {
        diag->kind = kind;
        diag->line = line;
        diag->column = column;
        snprintf(diag->name, sizeof diag->name, "%s", name ? name : "");
    }
    if (line > 0)
        return mr_err_set(err, code, "%s (line %d, column %d)", msg, line, column);
    return mr_err_set(err, code, "%s", msg);
}

/* ---- map ------------------------------------------------------------------ */

size_t sqlmap_slot(const struct sqlmap *m, uint64_t h, bool (*eq)(const void *ctx, size_t value),
                   const void *ctx)
{
    if (!m->cap)
        return 0;
    size_t mask = m->cap - 1;
    for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
        if (!m->values[i])
            return i;
        if (m->hashes[i] == h && eq(ctx, m->values[i] - 1))
            return i;
    }
}

bool sqlmap_found(const struct sqlmap *m, size_t slot)
{
    return m->cap && m->values[slot] != 0;
}

size_t sqlmap_get(const struct sqlmap *m, size_t slot)
{
    return m->values[slot] - 1;
}

static void grow(struct sqlmap *m)
{
    struct sqlmap old = *m;
    m->cap = old.cap ? old.cap * 2 : 16;
    m->hashes = mr_xcalloc(m->cap, sizeof *m->hashes);
    m->values = mr_xcalloc(m->cap, sizeof *m->values);
    for (size_t i = 0; i < old.cap; i++) {
        if (!old.values[i])
            continue;
        size_t j = (size_t)old.hashes[i] & (m->cap - 1);
        while (m->values[j])
            j = (j + 1) & (m->cap - 1);
        m->hashes[j] = old.hashes[i];
        m->values[j] = old.values[i];
    }
    free(old.hashes);
    free(old.values);
}

void sqlmap_put(struct sqlmap *m, size_t slot, uint64_t h, size_t value)
{
    if (!m->cap || (m->n + 1) * 2 > m->cap) {
        /* Grow at half full, then find the empty slot again in the new table. */
        grow(m);
        slot = (size_t)h & (m->cap - 1);
        while (m->values[slot])
            slot = (slot + 1) & (m->cap - 1);
    }
    m->hashes[slot] = h;
    m->values[slot] = value + 1;
    m->n++;
}

void sqlmap_free(struct sqlmap *m)
{
    free(m->hashes);
    free(m->values);
    memset(m, 0, sizeof *m);
}
