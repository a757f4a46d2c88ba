/*
 * sqlite_codec.c — the SQLite store's rows and values: structs to bound
 * parameters and back, string arrays as BLOBs, and SQLite's result codes
 * to memori's errors (see sqlite_int.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sqlite_int.h"

int sqlite_db_error(struct mr_err *err, sqlite3 *db, int rc, const char *what)
{
    int prim = rc & 0xff;
    int code = MR_EUNAVAIL;
    if (prim == SQLITE_CONSTRAINT)
        code = MR_ECONFLICT;
    else if (prim == SQLITE_MISUSE || prim == SQLITE_RANGE)
        code = MR_EINTERNAL;
    /*
     * sqlite3_errstr is the code's fixed English text ("constraint failed",
     * "database is locked"); sqlite3_errmsg may name tables and columns
     * ("UNIQUE constraint failed: memories.memory_id"), so only the log sees it.
     */
    return store_db_error(err, code, "sqlite", what, sqlite3_errstr(rc),
                          db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
}

sqlite3_stmt *sqlite_stmt(struct mr_store_tx *tx, enum sqlite_stmt id)
{
    sqlite3_stmt *st = sqlite_tx_conn(tx)->stmts[id];
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return st;
}

int sqlite_exec_done(struct mr_store_tx *tx, sqlite3_stmt *st, const char *what, struct mr_err *err)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return sqlite_db_error(err, sqlite_tx_conn(tx)->db, rc, what);
    return 0;
}

void sqlite_bind_text(sqlite3_stmt *st, int i, const char *s)
{
    if (s)
        sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, i);
}

void sqlite_bind_time(sqlite3_stmt *st, int i, int64_t t)
{
    if (t == MR_NO_TIME)
        sqlite3_bind_null(st, i);
    else
        sqlite3_bind_int64(st, i, t);
}

void sqlite_bind_strv(sqlite3_stmt *st, int i, const struct mr_strv *v)
{
    size_t total = 0;
    for (size_t k = 0; k < v->len; k++)
        total += 4 + strlen(v->items[k]);
    unsigned char *buf = mr_xmalloc(total), *p = buf;
    for (size_t k = 0; k < v->len; k++) {
        uint32_t n = (uint32_t)strlen(v->items[k]);
        p[0] = (unsigned char)n;
        p[1] = (unsigned char)(n >> 8);
        p[2] = (unsigned char)(n >> 16);
        p[3] = (unsigned char)(n >> 24);
        memcpy(p + 4, v->items[k], n);
        p += 4 + n;
    }
    sqlite3_bind_blob(st, i, buf, (int)total, SQLITE_TRANSIENT);
    free(buf);
}

/* The inverse of sqlite_bind_strv: appends to out; -1 on a malformed BLOB. */
static int strv_decode(const unsigned char *p, size_t len, struct mr_strv *out)
{
    size_t i = 0;
    while (i < len) {
        if (len - i < 4)
            return -1;
        uint32_t n = (uint32_t)p[i] | (uint32_t)p[i + 1] << 8 | (uint32_t)p[i + 2] << 16 |
                     (uint32_t)p[i + 3] << 24;
        i += 4;
        if (n > len - i)
            return -1;
        mr_strv_push(out, (const char *)p + i, n);
        i += n;
    }
    return 0;
}

char *sqlite_col_text(sqlite3_stmt *st, int col)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    return t ? mr_xstrndup((const char *)t, (size_t)sqlite3_column_bytes(st, col)) : NULL;
}

static void col_uuid(sqlite3_stmt *st, int col, char out[MR_UUID_LEN])
{
    const unsigned char *t = sqlite3_column_text(st, col);
    snprintf(out, MR_UUID_LEN, "%s", t ? (const char *)t : "");
}

static int64_t col_time_or_null(sqlite3_stmt *st, int col)
{
    return sqlite3_column_type(st, col) == SQLITE_NULL ? MR_NO_TIME : sqlite3_column_int64(st, col);
}

int sqlite_read_memory(sqlite3_stmt *st, struct mr_memory *m, struct mr_err *err)
{
    memset(m, 0, sizeof *m);
    m->id = sqlite3_column_int64(st, 0);
    col_uuid(st, 1, m->memory_id);
    col_uuid(st, 2, m->conversation_id);
    m->user_id = sqlite_col_text(st, 3);
    m->tenant_id = sqlite_col_text(st, 4);
    m->content = sqlite_col_text(st, 5);
    const char *type = (const char *)sqlite3_column_text(st, 6);
    if (!type || mr_memory_type_parse(type, strlen(type), &m->memory_type) != 0)
        goto corrupt;
    int eb = sqlite3_column_bytes(st, 7);
    if (eb <= 0 || eb % (int)sizeof(float) != 0)
        goto corrupt;
    m->dim = (size_t)eb / sizeof(float);
    m->embedding = mr_xmalloc((size_t)eb);
    memcpy(m->embedding, sqlite3_column_blob(st, 7), (size_t)eb);
    m->importance_score = sqlite3_column_double(st, 8);
    m->access_count = sqlite3_column_int64(st, 9);
    m->last_accessed_at = col_time_or_null(st, 10);
    if (strv_decode(sqlite3_column_blob(st, 11), (size_t)sqlite3_column_bytes(st, 11),
                    &m->context_tags) != 0 ||
        strv_decode(sqlite3_column_blob(st, 12), (size_t)sqlite3_column_bytes(st, 12),
                    &m->related_entities) != 0)
        goto corrupt;
    m->metadata = sqlite_col_text(st, 13);
    if (!m->metadata)
        m->metadata = mr_xstrdup("{}");
    m->expires_at = col_time_or_null(st, 14);
    m->is_archived = sqlite3_column_int(st, 15) != 0;
    m->is_shared = sqlite3_column_int(st, 18) != 0;
    m->has_data_source_id = sqlite3_column_type(st, 19) != SQLITE_NULL;
    m->data_source_id = sqlite3_column_int64(st, 19);
    m->created_at = sqlite3_column_int64(st, 16);
    m->updated_at = sqlite3_column_int64(st, 17);
    if (!m->user_id || !m->tenant_id || !m->content)
        goto corrupt;
    return 0;
corrupt:
    mr_memory_clear(m);
    return mr_err_set(err, MR_EINTERNAL, "database row of memory %lld is malformed",
                      (long long)sqlite3_column_int64(st, 0));
}

void sqlite_read_conversation(sqlite3_stmt *st, struct mr_conversation *c)
{
    memset(c, 0, sizeof *c);
    c->id = sqlite3_column_int64(st, 0);
    col_uuid(st, 1, c->conversation_id);
    c->user_id = sqlite_col_text(st, 2);
    c->tenant_id = sqlite_col_text(st, 3);
    c->has_data_source_id = sqlite3_column_type(st, 4) != SQLITE_NULL;
    c->data_source_id = sqlite3_column_int64(st, 4);
    c->title = sqlite_col_text(st, 5);
    c->metadata = sqlite_col_text(st, 6);
    if (!c->metadata)
        c->metadata = mr_xstrdup("{}");
    c->is_active = sqlite3_column_int(st, 7) != 0;
    c->last_activity_at = sqlite3_column_int64(st, 8);
    c->created_at = sqlite3_column_int64(st, 9);
    c->updated_at = sqlite3_column_int64(st, 10);
    if (!c->user_id)
        c->user_id = mr_xstrdup("");
    if (!c->tenant_id)
        c->tenant_id = mr_xstrdup("");
}
