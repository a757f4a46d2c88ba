/*
 * sql_int.h — private to src/sql/: the schema builder every source (PostgreSQL
 * DDL in pg.c, SQLite DDL in lite.c, the JSON specs in schema.c) fills, a
 * growable string, the JSON string writer, the analysis accumulator and the
 * two dialects' entry points.
 *
 * Files: sqlutil.c (strings, names, errors, map), schema.c (builder, checks, inference, hashes,
 * lookups, diff), render.c (memory content, metadata and schema JSON), analyze.c (the example
 * analysis shared by both dialects), pg.c (the only includer of libpg_query's headers), lite.c (the
 * only includer of sqlite3.h here; it also reads a live SQLite file), introspect.c (a live
 * PostgreSQL catalogue's queries and rows, run by the store: mr_store_pg_read), sha256.c (the
 * schema hash).
 */
#ifndef MEMORI_SQL_INT_H
#define MEMORI_SQL_INT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "memori/sql.h"
#include "memori/util.h"

/* ---- text ---------------------------------------------------------------- */

/* s as a JSON string literal, quotes included (control characters escaped). */
void sql_json_str(struct mr_strbuf *b, const char *s);

/* ---- names --------------------------------------------------------------- */

/* True when a and b name the same thing in dialect d (SQLite: ASCII case-insensitive). */
bool sql_name_eq(enum mr_sql_dialect d, const char *a, const char *b);
uint64_t sql_name_hash(enum mr_sql_dialect d, const char *s);
/* True when schema is the dialect's default (NULL, "", public / main). */
bool sql_default_schema(enum mr_sql_dialect d, const char *schema);

/* Line and column (1-based; column in code points) of byte offset off of text. */
void sql_position(const char *text, size_t len, size_t off, int *out_line, int *out_column);

/* Fills diag (may be NULL) and err; returns code. */
int sql_fail(struct mr_sql_diag *diag, struct mr_err *err, int code, enum mr_sql_diag_kind kind,
             const char *name, int line, int column, const char *fmt, ...)
    __attribute__((format(printf, 8, 9)));

/* ---- a string → index map (open addressing; the owner compares keys) ------ */

struct sqlmap {
    uint64_t *hashes;
    size_t *values; /* index + 1; 0 empty */
    size_t cap, n;
};

/*
 * The slot for hash h whose value satisfies eq(ctx, value) or the empty slot
 * where it would go. Insert with sqlmap_put on the returned slot.
 */
size_t sqlmap_slot(const struct sqlmap *m, uint64_t h, bool (*eq)(const void *ctx, size_t value),
                   const void *ctx);
bool sqlmap_found(const struct sqlmap *m, size_t slot);
size_t sqlmap_get(const struct sqlmap *m, size_t slot);
void sqlmap_put(struct sqlmap *m, size_t slot, uint64_t h, size_t value);
void sqlmap_free(struct sqlmap *m);

/* ---- the builder ------------------------------------------------------------ */

struct sqlb_table {
    char *schema, *name, *description;
    struct mr_sql_column *columns;
    size_t ncolumns, cap;
    struct sqlmap colmap;
    size_t loc; /* byte offset of its definition, for messages */
};

struct sqlb_fkey {
    size_t table;
    char **columns;
    size_t ncolumns;
    char *ref_schema, *ref_name;
    char **ref_columns; /* NULL when nref 0: the referenced primary key */
    size_t nref;
    enum mr_sql_join_source source;
    long loc; /* byte offset, -1 none */
};

struct sqlb {
    enum mr_sql_dialect dialect;
    const char *text; /* the DDL, for positions; NULL for specs */
    size_t text_len;
    struct sqlb_table *tables;
    size_t ntables, cap;
    struct sqlmap tabmap;
    struct sqlb_fkey *fkeys;
    size_t nfkeys, fcap;
    size_t ignored;
};

void sqlb_init(struct sqlb *b, enum mr_sql_dialect d, const char *text, size_t text_len);
void sqlb_free(struct sqlb *b);

/* A failure at byte offset loc of the DDL (loc < 0: no position). */
int sqlb_fail(struct sqlb *b, long loc, struct mr_sql_diag *diag, struct mr_err *err, int code,
              enum mr_sql_diag_kind kind, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 8, 9)));

long sqlb_find_table(const struct sqlb *b, const char *schema, const char *name);
long sqlb_find_column(const struct sqlb *b, size_t t, const char *name);

int sqlb_add_table(struct sqlb *b, const char *schema, const char *name, const char *description,
                   long loc, size_t *out_t, struct mr_sql_diag *diag, struct mr_err *err);
int sqlb_add_column(struct sqlb *b, size_t t, const char *name, const char *type,
                    const char *description, bool primary_key, bool nullable, long loc,
                    struct mr_sql_diag *diag, struct mr_err *err);
/* Marks the columns primary key (and not null). */
int sqlb_set_primary_key(struct sqlb *b, size_t t, const char *const *columns, size_t n, long loc,
                         struct mr_sql_diag *diag, struct mr_err *err);
/* Records a key; its own columns must exist now, the referenced ones at sqlb_finish. */
int sqlb_add_fkey(struct sqlb *b, size_t t, const char *const *columns, size_t n,
                  const char *ref_schema, const char *ref_name, const char *const *ref_columns,
                  size_t nref, enum mr_sql_join_source source, long loc, struct mr_sql_diag *diag,
                  struct mr_err *err);
/* A table's name or location for a failing statement (an ALTER or COMMENT on it). */
int sqlb_table_for(struct sqlb *b, const char *schema, const char *name, long loc, size_t *out_t,
                   struct mr_sql_diag *diag, struct mr_err *err);

/*
 * Resolves keys (unknown table or column → error naming it), infers joins
 * where a column has none declared, sorts, hashes and moves everything into
 * a new schema. The builder is empty after, success or not.
 */
int sqlb_finish(struct sqlb *b, struct mr_sql_schema **out_schema, struct mr_sql_diag *diag,
                struct mr_err *err);

/* ---- the dialects ---------------------------------------------------------- */

int sql_pg_parse_ddl(struct sqlb *b, const char *ddl, struct mr_sql_diag *diag, struct mr_err *err);
int sql_lite_parse_ddl(struct sqlb *b, const char *ddl, size_t len, struct mr_sql_diag *diag,
                       struct mr_err *err);
/* The tables of the live SQLite database at path (opened read-only), as DDL's are read. */
int sql_lite_introspect(struct sqlb *b, const char *path, struct mr_sql_diag *diag,
                        struct mr_err *err);

/* ---- example analysis ------------------------------------------------------ */

/* What an analysis collects before it is sorted and deduplicated. */
struct sqlacc {
    enum mr_sql_dialect dialect;
    const struct mr_sql_schema *schema; /* NULL: names as written */
    bool lenient; /* unknown names are skipped, not errors (SQLite checked them already) */
    struct mr_sql_colref *cols;
    size_t ncols, ccap;
    char **tables;
    size_t ntables, tcap;
    struct mr_sql_equijoin *joins;
    size_t njoins, jcap;
    char **keep; /* strings the walk made that must live as long as it */
    size_t nkeep, kcap;
};

/* Keeps s (malloc'd) until sqlacc_free; returns it. */
char *sqlacc_keep(struct sqlacc *a, char *s);
void sqlacc_table(struct sqlacc *a, const char *table);
void sqlacc_column(struct sqlacc *a, const char *table, const char *column);
void sqlacc_join(struct sqlacc *a, const char *t1, const char *c1, const char *t2, const char *c2);
/* Sorts, deduplicates, orients and matches joins against the schema; frees acc. */
struct mr_sql_analysis *sqlacc_finish(struct sqlacc *a, const char *fingerprint);
void sqlacc_free(struct sqlacc *a);

/*
 * Walks the PostgreSQL parse tree of sql (NUL-terminated) into acc; with
 * out_fingerprint (17 bytes) libpg_query's fingerprint too. Errors: syntax
 * (with position), unknown names (unless acc->lenient), not one statement.
 */
int sql_pg_analyze(struct sqlacc *acc, const char *sql, size_t len, char *out_fingerprint,
                   struct mr_sql_diag *diag, struct mr_err *err);

/* SQLite: prepares sql against the schema's scratch database, records what it reads. */
int sql_lite_analyze(struct sqlacc *acc, const char *sql, size_t len, struct mr_sql_diag *diag,
                     struct mr_err *err);
/* The scratch database of a schema, made on first use (lite.c); freed with the schema. */
void sql_lite_schema_free(struct mr_sql_schema *s);

/* Our SQLite fingerprint (docs/sql.md): 16 hex digits + NUL into out. */
void sql_lite_fingerprint(const char *sql, size_t len, char out[17]);
/*
 * SQLite's spelling rewritten for libpg_query's walk of the joins: `x` and
 * [x] become "x". The caller frees it.
 */
char *sql_lite_to_pg_quotes(const char *sql, size_t len);

/* ---- hashing ----------------------------------------------------------------- */

struct sql_sha256 {
    uint32_t h[8];
    uint64_t len;
    unsigned char buf[64];
    size_t nbuf;
};
void sql_sha256_init(struct sql_sha256 *c);
void sql_sha256_add(struct sql_sha256 *c, const void *p, size_t n);
/* "sha256:" + 64 hex digits + NUL (72 bytes). */
void sql_sha256_hex(struct sql_sha256 *c, char out[72]);

/* Private part of a schema: per-table hashes, the scratch database, the lookup map. */
struct mr_sql_schema_int {
    char (*table_hash)[72];
    struct sqlmap tabmap;
    void *lite;      /* lite.c's scratch database state */
    void *lite_lock; /* pthread_mutex_t *, lite.c's */
};

#endif
