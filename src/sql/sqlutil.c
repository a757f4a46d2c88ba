/*
 * sqlutil.c — the small parts every file of the SQL module uses: a JSON
 * string writer over memori's growable string (the module builds its JSON by hand, so
 * jansson stays behind its one wrapper), name comparison per dialect,
 * positions, errors and a string → index map.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "memori/util.h"
#include "sql_int.h"

void sql_json_str(struct mr_strbuf *b, const char *s)
{
    mr_strbuf_add(b, "\"", 1);
    const char *run = s;
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        mr_strbuf_add(b, run, (size_t)(p - run));
        run = p + 1;
        switch (c) {
        case '"':
            mr_strbuf_add(b, "\\\"", 2);
            break;
        case '\\':
            mr_strbuf_add(b, "\\\\", 2);
            break;
        case '\n':
            mr_strbuf_add(b, "\\n", 2);
            break;
        case '\r':
            mr_strbuf_add(b, "\\r", 2);
            break;
        case '\t':
            mr_strbuf_add(b, "\\t", 2);
            break;
        default:
            mr_strbuf_printf(b, "\\u%04x", c);
        }
    }
    mr_strbuf_puts(b, run);
    mr_strbuf_add(b, "\"", 1);
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
