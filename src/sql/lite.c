/*
 * lite.c — SQLite DDL and examples through SQLite itself: a scratch
 * in-memory database per import (and one per schema for examples, made on
 * first use), guarded by an authorizer that admits schema statements only.
 * The SQL module's only user of SQLite (the store's SQLite code is
 * separate: src/store/); both reach sqlite3.h through src/util/sqlite_lib.h.
 *
 * Also our SQLite fingerprint (libpg_query's is PostgreSQL's grammar only):
 * SQLite's own tokens, normalised and hashed (docs/sql.md).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../util/sqlite_lib.h"
#include "memori/util.h"
#include "sql_int.h"

/* ---- the authorizer --------------------------------------------------------- */

struct ddl_auth {
    bool denied;   /* the statement did something other than define schema */
    bool defines;  /* it created a table or altered one: not an ignored statement */
    char *created; /* the table a CREATE TABLE makes (malloc'd) */
};

static bool is_schema_table(const char *t)
{
    return t && (strcasecmp(t, "sqlite_master") == 0 || strcasecmp(t, "sqlite_schema") == 0 ||
                 strcasecmp(t, "sqlite_temp_master") == 0 || strcasecmp(t, "sqlite_sequence") == 0);
}

/*
 * DDL: CREATE/DROP/ALTER of tables, indexes, views and triggers (and the
 * writes SQLite makes to its own schema table for them), transactions.
 * Nothing that reads or writes data, attaches files or sets pragmas runs.
 */
static int ddl_authorizer(void *ctx, int action, const char *a1, const char *a2, const char *db,
                          const char *trigger)
{
    struct ddl_auth *st = ctx;
    (void)a2;
    (void)db;
    if (trigger)
        return SQLITE_OK; /* a trigger's body is compiled, never run here */
    switch (action) {
    case SQLITE_CREATE_TABLE:
        if (a1 && !st->created)
            st->created = mr_xstrdup(a1);
        st->defines = true;
        return SQLITE_OK;
    case SQLITE_ALTER_TABLE:
        st->defines = true;
        return SQLITE_OK;
    case SQLITE_CREATE_INDEX:
    case SQLITE_CREATE_VIEW:
    case SQLITE_CREATE_TRIGGER:
    case SQLITE_DROP_TABLE:
    case SQLITE_DROP_INDEX:
    case SQLITE_DROP_VIEW:
    case SQLITE_DROP_TRIGGER:
    case SQLITE_TRANSACTION:
    case SQLITE_SAVEPOINT:
    case SQLITE_FUNCTION:
    /* An index on a new table reads it (empty); a SELECT is still denied (SQLITE_SELECT). */
    case SQLITE_READ:
        return SQLITE_OK;
    case SQLITE_INSERT:
    case SQLITE_UPDATE:
    case SQLITE_DELETE:
        if (is_schema_table(a1))
            return SQLITE_OK;
        break;
    default:
        break;
    }
    st->denied = true;
    return SQLITE_DENY;
}

static int open_scratch(sqlite3 **out, struct mr_err *err)
{
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(":memory:", &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK) {
        sqlite3_close(db);
        return mr_err_set(err, MR_EINTERNAL, "cannot open a scratch SQLite database");
    }
    /* No file, no extension, no more columns than an import may have. */
    sqlite3_limit(db, SQLITE_LIMIT_ATTACHED, 0);
    sqlite3_limit(db, SQLITE_LIMIT_COLUMN, MR_SQL_MAX_COLUMNS);
    sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0, NULL);
    sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
    *out = db;
    return 0;
}

/* ---- descriptions from the DDL's comments --------------------------------------- */

/*
 * SQLite has no COMMENT ON; people write `-- …` instead. A comment on the
 * line of a column definition describes that column; one on the line of the
 * opening parenthesis, or on the lines just before CREATE TABLE, the table.
 * SQLite keeps the CREATE statement's text (sqlite_schema.sql) with its
 * comments, so the column comments are read from there.
 */
struct comments {
    char *table;
    char **columns; /* by position among the column definitions */
    size_t ncolumns;
};

static char *trim_comment(const char *s, size_t n)
{
    while (n && (*s == ' ' || *s == '\t' || *s == '-' || *s == '*' || *s == '/'))
        s++, n--;
    while (n && strchr(" \t\r*/", s[n - 1]))
        n--;
    return n ? mr_xstrndup(s, n) : NULL;
}

static void add_comment(char **slot, const char *s, size_t n)
{
    char *c = trim_comment(s, n);
    if (!c)
        return;
    if (*slot) {
        struct mr_strbuf b = {0};
        mr_strbuf_printf(&b, "%s %s", *slot, c);
        free(*slot);
        free(c);
        *slot = mr_strbuf_take(&b);
    } else {
        *slot = c;
    }
}

static void read_comments(const char *sql, struct comments *out)
{
    memset(out, 0, sizeof *out);
    int depth = 0;
    long cur = -1;        /* the column definition being read, or -1 before the first */
    long line_owner = -2; /* what a comment on this line describes: -1 table, ≥0 column */
    size_t cap = 0;
    for (const char *p = sql; *p; p++) {
        char c = *p;
        if (c == '\'' || c == '"' || c == '`' || c == '[') {
            char close = c == '[' ? ']' : c;
            for (p++; *p && *p != close; p++)
                ;
            if (!*p)
                break;
            continue;
        }
        if ((c == '-' && p[1] == '-') || (c == '/' && p[1] == '*')) {
            const char *start = p + 2, *end;
            if (c == '-')
                end = start + strcspn(start, "\n");
            else {
                const char *e = strstr(start, "*/");
                end = e ? e : start + strlen(start);
            }
            if (line_owner == -1)
                add_comment(&out->table, start, (size_t)(end - start));
            else if (line_owner >= 0 && (size_t)line_owner < out->ncolumns)
                add_comment(&out->columns[line_owner], start, (size_t)(end - start));
            p = *end ? (c == '-' ? end - 1 : end + 1) : end - 1;
            continue;
        }
        if (c == '\n') {
            line_owner = -2;
            continue;
        }
        if (c == '(') {
            if (++depth == 1)
                line_owner = -1;
            continue;
        }
        if (c == ')') {
            if (--depth == 0)
                line_owner = -2;
            continue;
        }
        if (depth == 1 && c == ',') {
            line_owner = cur; /* "a int, -- about a" */
            cur = -1;
            continue;
        }
        if (depth == 1 && cur < 0 && !strchr(" \t\r", c)) {
            /* A definition starts; table constraints (PRIMARY KEY (…), …) take a slot too. */
            if (out->ncolumns == cap) {
                cap = cap ? cap * 2 : 8;
                out->columns = mr_xrealloc(out->columns, cap * sizeof *out->columns);
            }
            out->columns[out->ncolumns] = NULL;
            cur = (long)out->ncolumns++;
            line_owner = cur;
        }
    }
}

static void free_comments(struct comments *c)
{
    free(c->table);
    for (size_t i = 0; i < c->ncolumns; i++)
        free(c->columns[i]);
    free(c->columns);
}

/* `-- …` lines right before offset off of ddl: the table's description. */
static char *comment_before(const char *ddl, size_t off)
{
    size_t end = off;
    struct mr_strbuf b = {0};
    char *lines[16];
    size_t n = 0;
    while (end > 0 && n < 16) {
        size_t e = end;
        while (e > 0 && strchr(" \t\r\n", ddl[e - 1]))
            e--;
        size_t s = e;
        while (s > 0 && ddl[s - 1] != '\n')
            s--;
        const char *line = ddl + s;
        while (line < ddl + e && (*line == ' ' || *line == '\t'))
            line++;
        if (e - (size_t)(line - ddl) < 2 || line[0] != '-' || line[1] != '-')
            break;
        lines[n++] = trim_comment(line + 2, e - (size_t)(line - ddl) - 2);
        end = s;
    }
    while (n--) {
        if (lines[n]) {
            if (b.len)
                mr_strbuf_puts(&b, " ");
            mr_strbuf_puts(&b, lines[n]);
            free(lines[n]);
        }
    }
    return b.s;
}

/* ---- DDL --------------------------------------------------------------------------- */

static enum mr_sql_diag_kind kind_of(const char *msg, int *code)
{
    *code = MR_EVALIDATION;
    if (strstr(msg, "too many columns")) {
        *code = MR_ETOOLARGE;
        return MR_SQL_DIAG_TOO_MANY_COLUMNS;
    }
    if (strstr(msg, "duplicate column name"))
        return MR_SQL_DIAG_DUPLICATE_COLUMN;
    if (strstr(msg, "already exists"))
        return MR_SQL_DIAG_DUPLICATE_TABLE;
    if (strstr(msg, "no such table"))
        return MR_SQL_DIAG_UNKNOWN_TABLE;
    if (strstr(msg, "no such column"))
        return MR_SQL_DIAG_UNKNOWN_COLUMN;
    return MR_SQL_DIAG_SYNTAX;
}

static int lite_error(sqlite3 *db, const char *text, size_t len, size_t stmt_off, const char *what,
                      struct mr_sql_diag *diag, struct mr_err *err)
{
    int off = sqlite3_error_offset(db);
    const char *msg = sqlite3_errmsg(db);
    /* "incomplete input" has no offset: it is at the end. */
    size_t at = off >= 0 ? stmt_off + (size_t)off : strstr(msg, "incomplete") ? len : stmt_off;
    while (off < 0 && at < len && strchr(" \t\r\n;", text[at]))
        at++;
    int line, col, code;
    sql_position(text, len, at, &line, &col);
    enum mr_sql_diag_kind kind = kind_of(msg, &code);
    /* "no such table: x", "duplicate column name: x": the name after the colon. */
    const char *colon = kind != MR_SQL_DIAG_SYNTAX ? strstr(msg, ": ") : NULL;
    return sql_fail(diag, err, code, kind, colon ? colon + 2 : "", line, col, "%s: %s", what, msg);
}

/* Past spaces and comments. */
static const char *skip_blank(const char *p)
{
    for (;;) {
        while (*p && strchr(" \t\r\n\f", *p))
            p++;
        if (p[0] == '-' && p[1] == '-') {
            p += strcspn(p, "\n");
        } else if (p[0] == '/' && p[1] == '*') {
            const char *e = strstr(p + 2, "*/");
            p = e ? e + 2 : p + strlen(p);
        } else {
            return p;
        }
    }
}

/* Where each CREATE TABLE statement starts in the DDL, in the order they ran. */
struct created {
    char *name;
    size_t off;
};

struct createds {
    struct created *v;
    size_t n, cap, next;
};

static void createds_free(struct createds *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->v[i].name);
    free(c->v);
}

/* The offset of table name's statement: sqlite_schema lists tables in creation order too. */
static long created_at(struct createds *c, const char *name)
{
    for (size_t i = c->next; i < c->n; i++)
        if (strcasecmp(c->v[i].name, name) == 0) {
            c->next = i + 1;
            return (long)c->v[i].off;
        }
    return -1;
}

static int read_tables(sqlite3 *db, struct sqlb *b, const char *ddl, struct createds *made,
                       struct mr_sql_diag *diag, struct mr_err *err)
{
    sqlite3_stmt *tabs = NULL, *cols = NULL, *fks = NULL;
    int rc = 0;
    size_t *idx = NULL, n = 0, cap = 0;
    /* Our own queries: the authorizer is off for them. */
    sqlite3_set_authorizer(db, NULL, NULL);
    if (sqlite3_prepare_v2(db,
                           "SELECT name, sql FROM sqlite_schema WHERE type = 'table' AND name NOT "
                           "LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY rowid",
                           -1, &tabs, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db,
                           "SELECT name, type, \"notnull\", pk FROM pragma_table_xinfo(?1) "
                           "WHERE hidden <> 1 ORDER BY cid",
                           -1, &cols, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(
            db,
            "SELECT id, \"table\", \"from\", \"to\" FROM pragma_foreign_key_list(?1) "
            "ORDER BY id, seq",
            -1, &fks, NULL) != SQLITE_OK) {
        rc = mr_err_set(err, MR_EINTERNAL, "SQLite catalogue query: %s", sqlite3_errmsg(db));
        goto out;
    }
    while (rc == 0 && sqlite3_step(tabs) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(tabs, 0);
        const char *sql = (const char *)sqlite3_column_text(tabs, 1);
        long loc = created_at(made, name);
        struct comments cm;
        read_comments(sql ? sql : "", &cm);
        char *before = loc >= 0 ? comment_before(ddl, (size_t)loc) : NULL;
        size_t t;
        rc = sqlb_add_table(b, NULL, name, cm.table ? cm.table : before, loc, &t, diag, err);
        free(before);
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            idx = mr_xrealloc(idx, cap * sizeof *idx);
        }
        idx[n++] = t;
        sqlite3_bind_text(cols, 1, name, -1, SQLITE_TRANSIENT);
        size_t ci = 0;
        while (rc == 0 && sqlite3_step(cols) == SQLITE_ROW) {
            const char *cname = (const char *)sqlite3_column_text(cols, 0);
            const char *type = (const char *)sqlite3_column_text(cols, 1);
            bool notnull = sqlite3_column_int(cols, 2) != 0, pk = sqlite3_column_int(cols, 3) > 0;
            rc = sqlb_add_column(b, t, cname, type ? type : "",
                                 ci < cm.ncolumns ? cm.columns[ci] : NULL, pk, !notnull, loc, diag,
                                 err);
            ci++;
        }
        sqlite3_reset(cols);
        free_comments(&cm);
    }
    /* Keys after every table exists (they may point forward). */
    sqlite3_reset(tabs);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const struct sqlb_table *tab = &b->tables[idx[i]];
        sqlite3_bind_text(fks, 1, tab->name, -1, SQLITE_TRANSIENT);
        int step = sqlite3_step(fks);
        while (rc == 0 && step == SQLITE_ROW) {
            int id = sqlite3_column_int(fks, 0);
            char *ref = mr_xstrdup((const char *)sqlite3_column_text(fks, 1));
            const char *from[64], *to[64];
            char *own[128];
            size_t k = 0, no = 0;
            bool have_to = true;
            while (step == SQLITE_ROW && sqlite3_column_int(fks, 0) == id) {
                const char *f = (const char *)sqlite3_column_text(fks, 2);
                const char *tt = (const char *)sqlite3_column_text(fks, 3);
                if (k < 64) {
                    from[k] = own[no++] = mr_xstrdup(f ? f : "");
                    to[k] = tt ? (own[no++] = mr_xstrdup(tt)) : NULL;
                    have_to = have_to && tt;
                    k++;
                }
                step = sqlite3_step(fks);
            }
            rc = sqlb_add_fkey(b, idx[i], from, k, NULL, ref, to, have_to ? k : 0,
                               MR_SQL_JOIN_DECLARED, (long)tab->loc, diag, err);
            for (size_t x = 0; x < no; x++)
                free(own[x]);
            free(ref);
        }
        sqlite3_reset(fks);
    }
out:
    free(idx);
    sqlite3_finalize(tabs);
    sqlite3_finalize(cols);
    sqlite3_finalize(fks);
    return rc;
}

int sql_lite_parse_ddl(struct sqlb *b, const char *ddl, size_t len, struct mr_sql_diag *diag,
                       struct mr_err *err)
{
    sqlite3 *db = NULL;
    int rc = open_scratch(&db, err);
    if (rc)
        return rc;
    struct ddl_auth st = {0};
    struct createds made = {0};
    sqlite3_set_authorizer(db, ddl_authorizer, &st);
    const char *p = ddl;
    while (rc == 0 && *p) {
        sqlite3_stmt *stmt = NULL;
        const char *next = NULL;
        free(st.created);
        st = (struct ddl_auth){0};
        p = skip_blank(p); /* so a statement's offset is its first word's */
        int prc = sqlite3_prepare_v2(db, p, -1, &stmt, &next);
        if (prc != SQLITE_OK) {
            if (st.denied && next && next > p) {
                b->ignored++; /* not a schema statement: never runs, counted (docs/sql.md) */
                p = next;
                continue;
            }
            rc = lite_error(db, ddl, len, (size_t)(p - ddl), "DDL does not parse", diag, err);
            break;
        }
        if (!stmt) { /* only spaces or comments were left */
            p = next && next > p ? next : p + strlen(p);
            continue;
        }
        int src = sqlite3_step(stmt);
        while (src == SQLITE_ROW)
            src = sqlite3_step(stmt);
        if (src != SQLITE_DONE)
            rc = lite_error(db, ddl, len, (size_t)(p - ddl), "DDL does not run", diag, err);
        else if (!st.defines)
            b->ignored++;
        if (src == SQLITE_DONE && st.created) {
            if (made.n == made.cap) {
                made.cap = made.cap ? made.cap * 2 : 16;
                made.v = mr_xrealloc(made.v, made.cap * sizeof *made.v);
            }
            made.v[made.n++] = (struct created){st.created, (size_t)(p - ddl)};
            st.created = NULL;
        }
        sqlite3_finalize(stmt);
        p = next;
    }
    free(st.created);
    if (rc == 0)
        rc = read_tables(db, b, ddl, &made, diag, err);
    createds_free(&made);
    sqlite3_close(db);
    return rc;
}

/* ---- a live database ------------------------------------------------------------------ */

int sql_lite_introspect(struct sqlb *b, const char *path, struct mr_sql_diag *diag,
                        struct mr_err *err)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *probe = NULL;
    int rc = 0;
    /* Someone else's database: read-only, never created, waiting a while for its writers. */
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        rc = mr_err_set(err, MR_EUNAVAIL, "cannot open the SQLite database %s: %s", path,
                        db ? sqlite3_errmsg(db) : "out of memory");
        goto out;
    }
    sqlite3_busy_timeout(db, 5000);
    sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0, NULL);
    /* Not a database (or a damaged one) shows at its first read, not at open. */
    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_schema", -1, &probe, NULL) !=
            SQLITE_OK ||
        sqlite3_step(probe) != SQLITE_ROW) {
        rc = mr_err_set(err, MR_EUNAVAIL, "cannot read the SQLite database %s: %s", path,
                        sqlite3_errmsg(db));
        goto out;
    }
    struct createds none = {0};
    rc = read_tables(db, b, "", &none, diag, err);
out:
    sqlite3_finalize(probe);
    sqlite3_close(db);
    return rc;
}

/* ---- examples ------------------------------------------------------------------------ */

/* The scratch database of one schema: its tables, empty, for sqlite3_prepare_v2 to check against.
 */
struct lite_state {
    sqlite3 *db;
    pthread_mutex_t lock; /* one statement prepared at a time (authorizer state is per call) */
};

static pthread_mutex_t make_lock = PTHREAD_MUTEX_INITIALIZER;

static void quote_ident(struct mr_strbuf *b, const char *s)
{
    mr_strbuf_puts(b, "\"");
    for (const char *p = s; *p; p++) {
        if (*p == '"')
            mr_strbuf_puts(b, "\"");
        mr_strbuf_add(b, p, 1);
    }
    mr_strbuf_puts(b, "\"");
}

static int build_scratch(const struct mr_sql_schema *s, sqlite3 **out, struct mr_err *err)
{
    sqlite3 *db = NULL;
    int rc = open_scratch(&db, err);
    if (rc)
        return rc;
    struct mr_strbuf b = {0};
    mr_strbuf_puts(&b, "BEGIN;");
    for (size_t t = 0; t < s->ntables; t++) {
        const struct mr_sql_table *tab = &s->tables[t];
        mr_strbuf_puts(&b, "CREATE TABLE ");
        /* A schema-qualified name (from the JSON form) is one name to SQLite. */
        quote_ident(&b, tab->schema ? tab->qualified : tab->name);
        mr_strbuf_puts(&b, "(");
        for (size_t c = 0; c < tab->ncolumns; c++) {
            if (c)
                mr_strbuf_puts(&b, ",");
            quote_ident(&b, tab->columns[c].name);
        }
        if (!tab->ncolumns)
            mr_strbuf_puts(&b, "\"\"");
        mr_strbuf_puts(&b, ");");
    }
    mr_strbuf_puts(&b, "COMMIT;");
    char *msg = NULL;
    if (sqlite3_exec(db, b.s, NULL, NULL, &msg) != SQLITE_OK) {
        rc = mr_err_set(err, MR_EINTERNAL, "scratch schema: %s", msg ? msg : "?");
        sqlite3_free(msg);
        sqlite3_close(db);
        db = NULL;
    }
    free(b.s);
    *out = db;
    return rc;
}

struct read_auth {
    struct sqlacc *acc;
    bool denied;
};

/*
 * An example is prepared, never run: reads are recorded (SQLite names every
 * table and column a statement reads, through views, CTEs and subqueries),
 * and writes to data are allowed to compile (an UPDATE may be an example),
 * but nothing that attaches, changes the schema or sets pragmas.
 */
static int read_authorizer(void *ctx, int action, const char *a1, const char *a2, const char *db,
                           const char *trigger)
{
    struct read_auth *st = ctx;
    (void)db;
    (void)trigger;
    switch (action) {
    case SQLITE_READ:
        if (a1 && !is_schema_table(a1)) {
            sqlacc_table(st->acc, a1);
            if (a2 && *a2)
                sqlacc_column(st->acc, a1, a2);
        }
        return SQLITE_OK;
    case SQLITE_UPDATE:
        if (a1 && a2 && *a2 && !is_schema_table(a1))
            sqlacc_column(st->acc, a1, a2);
        /* fall through */
    case SQLITE_INSERT:
    case SQLITE_DELETE:
        if (a1 && !is_schema_table(a1))
            sqlacc_table(st->acc, a1);
        return SQLITE_OK;
    case SQLITE_SELECT:
    case SQLITE_FUNCTION:
    case SQLITE_RECURSIVE:
        return SQLITE_OK;
    default:
        st->denied = true;
        return SQLITE_DENY;
    }
}

/* The schema's names as SQLite reports them map back to the schema's spelling. */
static void canonical_names(struct sqlacc *acc, size_t tables_from, size_t cols_from)
{
    const struct mr_sql_schema *s = acc->schema;
    for (size_t i = tables_from; i < acc->ntables; i++) {
        long t = mr_sql_schema_find(s, acc->tables[i]);
        if (t >= 0) {
            free(acc->tables[i]);
            acc->tables[i] = mr_xstrdup(s->tables[t].qualified);
        }
    }
    for (size_t i = cols_from; i < acc->ncols; i++) {
        long t = mr_sql_schema_find(s, acc->cols[i].table);
        long c = t >= 0 ? mr_sql_table_find_column(s, (size_t)t, acc->cols[i].column) : -1;
        if (c >= 0) {
            free(acc->cols[i].table);
            free(acc->cols[i].column);
            acc->cols[i].table = mr_xstrdup(s->tables[t].qualified);
            acc->cols[i].column = mr_xstrdup(s->tables[t].columns[c].name);
        }
    }
}

int sql_lite_analyze(struct sqlacc *acc, const char *sql, size_t len, struct mr_sql_diag *diag,
                     struct mr_err *err)
{
    const struct mr_sql_schema *s = acc->schema;
    sqlite3 *db = NULL;
    int rc = 0;
    bool own = !s;
    if (s) {
        /* One scratch database per schema, made on first use; SQLite serialises its use. */
        pthread_mutex_lock(&make_lock);
        struct lite_state *ls = s->priv->lite;
        if (!ls) {
            sqlite3 *made = NULL;
            rc = build_scratch(s, &made, err);
            if (rc == 0) {
                ls = mr_xcalloc(1, sizeof *ls);
                ls->db = made;
                pthread_mutex_init(&ls->lock, NULL);
                s->priv->lite = ls;
            }
        }
        db = ls ? ls->db : NULL;
        if (ls)
            pthread_mutex_lock(&ls->lock);
        pthread_mutex_unlock(&make_lock);
        if (rc)
            return rc;
    } else if ((rc = open_scratch(&db, err))) {
        return rc;
    }
    struct read_auth st = {acc, false};
    size_t t0 = acc->ntables, c0 = acc->ncols;
    sqlite3_set_authorizer(db, read_authorizer, &st);
    sqlite3_stmt *stmt = NULL;
    const char *tail = NULL;
    int prc = sqlite3_prepare_v2(db, sql, (int)len, &stmt, &tail);
    if (prc != SQLITE_OK) {
        /* No schema: only the syntax is checked, unknown tables are expected. */
        const char *msg = sqlite3_errmsg(db);
        if (own && (strstr(msg, "no such table") || strstr(msg, "no such column")))
            rc = 0;
        else if (st.denied)
            rc = sql_fail(diag, err, MR_EVALIDATION, MR_SQL_DIAG_STATEMENT, "", 0, 0,
                          "an example is a query or a data change, not %s",
                          "a schema, attach or pragma statement");
        else
            rc = lite_error(db, sql, len, 0, "SQL does not parse", diag, err);
    } else if (!stmt) {
        rc = sql_fail(diag, err, MR_EVALIDATION, MR_SQL_DIAG_STATEMENT, "", 0, 0,
                      "an example needs one SQL statement; this has none");
    } else {
        while (tail && *tail && strchr(" \t\r\n;", *tail))
            tail++;
        if (tail && *tail && !(tail[0] == '-' && tail[1] == '-'))
            rc = sql_fail(diag, err, MR_EVALIDATION, MR_SQL_DIAG_STATEMENT, "", 0, 0,
                          "an example is one SQL statement; this has more");
    }
    sqlite3_finalize(stmt);
    sqlite3_set_authorizer(db, NULL, NULL);
    if (own)
        sqlite3_close(db);
    else
        pthread_mutex_unlock(&((struct lite_state *)s->priv->lite)->lock);
    if (rc == 0 && s)
        canonical_names(acc, t0, c0);
    return rc;
}

void sql_lite_schema_free(struct mr_sql_schema *s)
{
    struct lite_state *ls = s->priv ? s->priv->lite : NULL;
    if (!ls)
        return;
    sqlite3_close(ls->db);
    pthread_mutex_destroy(&ls->lock);
    free(ls);
    s->priv->lite = NULL;
}

/* ---- our fingerprint -------------------------------------------------------------------- */

static bool ident_char(unsigned char c)
{
    return c == '_' || c == '$' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
           (c >= 'A' && c <= 'Z') || c >= 0x80;
}

/*
 * Tokens as SQLite reads them: comments and spaces dropped, keywords and
 * identifiers (quoted or not, SQLite compares them without case) lower
 * case, every literal and parameter "?", and a list of literals "?, ?, ?"
 * one "?" (IN lists of any length are one query). FNV-1a 64 of the tokens,
 * each ended by a space, as 16 hex digits.
 */
void sql_lite_fingerprint(const char *sql, size_t len, char out[17])
{
    /* The normalised tokens, each ended by a NUL, then hashed with IN lists collapsed. */
    struct mr_strbuf toks = {0};
    size_t i = 0;
    while (i < len) {
        unsigned char c = (unsigned char)sql[i];
        size_t start = toks.len;
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f') {
            i++;
            continue;
        }
        if (c == '-' && i + 1 < len && sql[i + 1] == '-') {
            while (i < len && sql[i] != '\n')
                i++;
            continue;
        }
        if (c == '/' && i + 1 < len && sql[i + 1] == '*') {
            i += 2;
            while (i + 1 < len && !(sql[i] == '*' && sql[i + 1] == '/'))
                i++;
            i += 2;
            continue;
        }
        if (c == '\'' || ((c == 'x' || c == 'X') && i + 1 < len && sql[i + 1] == '\'')) {
            i += c == '\'' ? 1 : 2;
            for (; i < len; i++)
                if (sql[i] == '\'') {
                    if (i + 1 < len && sql[i + 1] == '\'')
                        i++;
                    else
                        break;
                }
            i++;
            mr_strbuf_puts(&toks, "?");
        } else if (c == '"' || c == '`' || c == '[') {
            char close = c == '[' ? ']' : (char)c;
            for (i++; i < len && sql[i] != close; i++) {
                char l = sql[i] >= 'A' && sql[i] <= 'Z' ? (char)(sql[i] - 'A' + 'a') : sql[i];
                mr_strbuf_add(&toks, &l, 1);
            }
            i++;
        } else if ((c >= '0' && c <= '9') ||
                   (c == '.' && i + 1 < len && sql[i + 1] >= '0' && sql[i + 1] <= '9')) {
            for (i++; i < len && (ident_char((unsigned char)sql[i]) || sql[i] == '.' ||
                                  ((sql[i] == '+' || sql[i] == '-') &&
                                   (sql[i - 1] == 'e' || sql[i - 1] == 'E')));
                 i++)
                ;
            mr_strbuf_puts(&toks, "?");
        } else if (c == '?' || c == ':' || c == '@' || c == '$') {
            for (i++; i < len && ident_char((unsigned char)sql[i]); i++)
                ;
            mr_strbuf_puts(&toks, "?");
        } else if (ident_char(c)) {
            for (; i < len && ident_char((unsigned char)sql[i]); i++) {
                char l = sql[i] >= 'A' && sql[i] <= 'Z' ? (char)(sql[i] - 'A' + 'a') : sql[i];
                mr_strbuf_add(&toks, &l, 1);
            }
        } else {
            /* Two-character operators are one token. */
            static const char *const ops[] = {"<=", ">=", "<>", "!=", "==", "||", "<<", ">>", "->"};
            size_t n = 1;
            for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++)
                if (i + 1 < len && sql[i] == ops[k][0] && sql[i + 1] == ops[k][1])
                    n = 2;
            mr_strbuf_add(&toks, sql + i, n);
            i += n;
        }
        if (toks.len == start)
            mr_strbuf_puts(&toks, "\"\""); /* an empty quoted name is still a token */
        mr_strbuf_add(&toks, "", 1);
    }
    uint64_t h = MR_FNV64_BASIS;
    const char *prev = NULL;
    bool held_comma = false; /* "? ," seen: the comma waits to know whether "?" follows */
    for (size_t at = 0; at < toks.len; at += strlen(toks.s + at) + 1) {
        const char *t = toks.s + at;
        if (held_comma && strcmp(t, "?") == 0) {
            held_comma = false; /* "?, ?" is one "?" */
            continue;
        }
        if (held_comma)
            h = mr_fnv1a64(h, ", ", 2);
        held_comma = false;
        if (strcmp(t, ",") == 0 && prev && strcmp(prev, "?") == 0) {
            held_comma = true;
            continue;
        }
        h = mr_fnv1a64(h, t, strlen(t));
        h = mr_fnv1a64(h, " ", 1);
        prev = t;
    }
    if (held_comma)
        h = mr_fnv1a64(h, ", ", 2);
    free(toks.s);
    snprintf(out, 17, "%016llx", (unsigned long long)h);
}

char *sql_lite_to_pg_quotes(const char *sql, size_t len)
{
    struct mr_strbuf b = {0};
    for (size_t i = 0; i < len; i++) {
        char c = sql[i];
        if (c == '\'' || c == '"') {
            size_t j = i + 1;
            while (j < len && sql[j] != c)
                j++;
            mr_strbuf_add(&b, sql + i, j < len ? j - i + 1 : len - i);
            i = j;
        } else if (c == '`' || c == '[') {
            char close = c == '[' ? ']' : '`';
            size_t j = i + 1;
            mr_strbuf_puts(&b, "\"");
            for (; j < len && sql[j] != close; j++) {
                if (sql[j] == '"')
                    mr_strbuf_puts(&b, "\"");
                mr_strbuf_add(&b, sql + j, 1);
            }
            mr_strbuf_puts(&b, "\"");
            i = j;
        } else if (c == '-' && i + 1 < len && sql[i + 1] == '-') {
            while (i < len && sql[i] != '\n')
                mr_strbuf_add(&b, sql + i++, 1);
            if (i < len)
                mr_strbuf_add(&b, sql + i, 1);
        } else {
            mr_strbuf_add(&b, &c, 1);
        }
    }
    return mr_strbuf_take(&b);
}
