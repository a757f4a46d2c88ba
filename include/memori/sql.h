/*
 * sql.h — the SQL module: a data source's schema as memori's own structs
 * (DESIGN.md §9), built from PostgreSQL DDL (libpg_query), SQLite DDL
 * (SQLite itself, in a scratch database) or the JSON body's tables; the diff
 * of a re-import; joins inferred from names; the content and metadata of the
 * table and join memories; and the analysis of an example's SQL (tables,
 * columns, joins, fingerprint).
 *
 * No HTTP and no store here: the API codec fills struct mr_sql_table_spec
 * from the JSON body (or hands over the DDL text), the service stores what
 * mr_sql_render_* returns. Every function that fails fills struct mr_err with
 * MR_ETOOLARGE (413: a limit) or MR_EVALIDATION (422: bad DDL or SQL) and a
 * message that says where, and, when diag is not NULL, struct mr_sql_diag
 * with the kind, the position and the offending name, for the 422's `loc`.
 *
 * Names. PostgreSQL folds unquoted identifiers to lower case and keeps quoted
 * ones as written; SQLite keeps them as declared and compares them without
 * regard to ASCII case. A table's identity is its qualified name: "orders"
 * for the default schema (PostgreSQL's public, SQLite's main), else
 * "sales.orders". Schemas are immutable once built; one may be read by
 * several threads at once (mr_sql_analyze included).
 */
#ifndef MEMORI_SQL_H
#define MEMORI_SQL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "memori/err.h"

enum mr_sql_dialect { MR_SQL_POSTGRESQL = 1, MR_SQL_SQLITE = 2 };

/* Limits of one import (DESIGN.md §9): over one is MR_ETOOLARGE. */
#define MR_SQL_MAX_TABLES 10000
#define MR_SQL_MAX_COLUMNS 2000
#define MR_SQL_MAX_DDL_BYTES (4u << 20)
/* An example's SQL (the API bounds the body; this bounds the parser's work). */
#define MR_SQL_MAX_EXAMPLE_BYTES (64u << 10)
/* A memory's content is 1..10000 characters (DESIGN.md §2): rendering stays inside. */
#define MR_SQL_MAX_CONTENT 10000

/* What went wrong, beside the MR_E* code: the API maps it to 413/422 and a `type`. */
enum mr_sql_diag_kind {
    MR_SQL_DIAG_NONE = 0,
    MR_SQL_DIAG_TOO_LARGE,        /* DDL over MR_SQL_MAX_DDL_BYTES (413) */
    MR_SQL_DIAG_TOO_MANY_TABLES,  /* over MR_SQL_MAX_TABLES (413) */
    MR_SQL_DIAG_TOO_MANY_COLUMNS, /* a table over MR_SQL_MAX_COLUMNS (413) */
    MR_SQL_DIAG_SYNTAX,           /* the parser's message; line and column (422) */
    MR_SQL_DIAG_DIALECT,          /* not "postgresql" or "sqlite" (422) */
    MR_SQL_DIAG_DUPLICATE_TABLE,  /* name = the table (422) */
    MR_SQL_DIAG_DUPLICATE_COLUMN, /* name = table.column (422) */
    MR_SQL_DIAG_UNKNOWN_TABLE,    /* a key, ALTER, COMMENT or example names a table not there */
    MR_SQL_DIAG_UNKNOWN_COLUMN,   /* ... or a column not there (name = table.column) */
    MR_SQL_DIAG_BAD_KEY,          /* column counts differ, or no primary key to refer to */
    MR_SQL_DIAG_BAD_NAME,         /* an empty or over-long name, a missing field */
    MR_SQL_DIAG_STATEMENT         /* an example that is not exactly one statement */
};

struct mr_sql_diag {
    enum mr_sql_diag_kind kind;
    int line;       /* 1-based; 0 when there is no position (JSON input) */
    int column;     /* 1-based, in characters */
    char name[256]; /* the offending table or table.column, or "" */
};

/* ---- the schema model ---------------------------------------------------- */

struct mr_sql_column {
    char *name;
    char *type;        /* as the source spells it ("integer", "numeric(10,2)"), "" if none */
    char *description; /* NULL if none */
    bool primary_key;  /* part of the table's primary key */
    bool nullable;
};

enum mr_sql_join_source {
    MR_SQL_JOIN_DECLARED = 0, /* a foreign key of the schema */
    MR_SQL_JOIN_INFERRED = 1, /* from names: orders.customer_id → customers.id */
    MR_SQL_JOIN_EXAMPLE = 2   /* an example's SQL joined on it (set by the service) */
};

/* A foreign key from_table(from_columns) → to_table(to_columns); indices into the schema. */
struct mr_sql_join {
    size_t from_table, to_table;
    size_t ncolumns;
    size_t *from_columns, *to_columns; /* ncolumns column indices each */
    enum mr_sql_join_source source;
};

struct mr_sql_table {
    char *schema;    /* NULL for the default schema */
    char *name;      /* unqualified */
    char *qualified; /* identity: "orders" or "sales.orders" */
    char *description;
    struct mr_sql_column *columns;
    size_t ncolumns;
    size_t first_join, njoins; /* its outgoing joins: schema->joins[first_join ..) */
};

struct mr_sql_schema {
    enum mr_sql_dialect dialect;
    struct mr_sql_table *tables; /* sorted by qualified name */
    size_t ntables;
    struct mr_sql_join *joins; /* sorted by from table, then columns; declared and inferred */
    size_t njoins;
    size_t ignored_statements; /* DDL statements that define no table, key or comment */
    char hash[72];             /* "sha256:<hex>", independent of statement order */
    struct mr_sql_schema_int *priv;
};

/* "postgresql" or "sqlite" (s[0..len)) into *out; MR_EVALIDATION otherwise. */
int mr_sql_dialect_parse(const char *s, size_t len, enum mr_sql_dialect *out,
                         struct mr_sql_diag *diag, struct mr_err *err);
const char *mr_sql_dialect_name(enum mr_sql_dialect d);

/*
 * Parses DDL text (ddl[0..len), any bytes; not NUL-terminated) in dialect
 * into a new schema, with joins inferred where none is declared. Statements
 * other than CREATE TABLE, ALTER TABLE … ADD, COMMENT ON (PostgreSQL) or
 * other than schema statements (SQLite: never executed, see docs/sql.md)
 * are counted in ignored_statements. On success *out_schema is the
 * caller's (mr_sql_schema_free); on failure it is NULL and nothing leaks.
 */
int mr_sql_parse_ddl(enum mr_sql_dialect dialect, const char *ddl, size_t len,
                     struct mr_sql_schema **out_schema, struct mr_sql_diag *diag,
                     struct mr_err *err);

/*
 * The JSON body's tables (DESIGN.md §9), decoded by the API codec into these
 * borrowed, NUL-terminated strings (exact names: no folding). A name may be
 * "schema.table" (split at the first dot) unless schema is given.
 */
struct mr_sql_column_spec {
    const char *name;
    const char *type;        /* NULL: "" */
    const char *description; /* NULL: none */
    bool primary_key;
    int nullable; /* 1, 0, or -1 absent (then: not for a primary key column) */
};

struct mr_sql_fkey_spec {
    const char *const *columns;
    size_t ncolumns;
    const char *ref_table;
    const char *const *ref_columns; /* nref_columns 0: the referenced primary key */
    size_t nref_columns;
    enum mr_sql_join_source source; /* DECLARED from clients; stored schemas keep theirs */
};

struct mr_sql_table_spec {
    const char *schema; /* NULL: from name or the default */
    const char *name;
    const char *description;
    const struct mr_sql_column_spec *columns;
    size_t ncolumns;
    const struct mr_sql_fkey_spec *foreign_keys;
    size_t nforeign_keys;
};

/*
 * Builds a schema from specs, with the same checks as DDL (limits,
 * duplicates, keys to tables and columns that exist) and the same inference.
 * Inferred keys given in specs (a stored schema read back) are kept as such.
 */
int mr_sql_schema_from_specs(enum mr_sql_dialect dialect, const struct mr_sql_table_spec *tables,
                             size_t ntables, struct mr_sql_schema **out_schema,
                             struct mr_sql_diag *diag, struct mr_err *err);

void mr_sql_schema_free(struct mr_sql_schema *s);

/* Index of the table called name (qualified; "public."/"main." optional), or -1. */
long mr_sql_schema_find(const struct mr_sql_schema *s, const char *name);

/* Index of a column of table t, or -1 (dialect's comparison of names). */
long mr_sql_table_find_column(const struct mr_sql_schema *s, size_t t, const char *name);

/* "sha256:<hex>" of one table's canonical form (columns, descriptions, its joins). */
const char *mr_sql_table_hash(const struct mr_sql_schema *s, size_t t);

/* "sha256:<hex>" (72 bytes with its NUL) of p[0..n): the schema hashes' function, for others. */
void mr_sql_sha256(const void *p, size_t n, char out[72]);

/* ---- diff on re-import --------------------------------------------------- */

enum mr_sql_change { MR_SQL_UNCHANGED = 0, MR_SQL_ADDED, MR_SQL_UPDATED, MR_SQL_REMOVED };

struct mr_sql_table_change {
    const char *name; /* qualified; points into old or new */
    enum mr_sql_change change;
    long old_index, new_index; /* -1 where absent */
};

struct mr_sql_join_change {
    char *key;                 /* "orders(customer_id)->customers(id)", the join's identity */
    enum mr_sql_change change; /* UPDATED: its source changed (inferred → declared) */
    long old_index, new_index;
};

struct mr_sql_diff {
    struct mr_sql_table_change *tables; /* every table of old ∪ new, by name */
    size_t ntables;
    size_t added, updated, removed, unchanged;
    struct mr_sql_join_change *joins;
    size_t njoins;
    size_t joins_added, joins_updated, joins_removed, joins_unchanged;
};

/*
 * Old (NULL: none yet) against new into *out_diff. A table is UPDATED when its hash
 * (mr_sql_table_hash) differs: any column, type, key, nullability,
 * description or join of it changed. The diff points into old and new:
 * free it (mr_sql_diff_free) before them.
 */
void mr_sql_diff(const struct mr_sql_schema *old_schema, const struct mr_sql_schema *new_schema,
                 struct mr_sql_diff *out_diff);
void mr_sql_diff_free(struct mr_sql_diff *d);

/* The join's identity key (see struct mr_sql_join_change); the caller frees it. */
char *mr_sql_join_key(const struct mr_sql_schema *s, const struct mr_sql_join *j);

/* ---- memories ------------------------------------------------------------ */

/*
 * What a table or join memory holds (DESIGN.md §9): content for embedding
 * and search, metadata as a JSON object text (kind "table" | "join"), and
 * related_entities. All the caller's: mr_sql_rendered_free.
 */
struct mr_sql_rendered {
    char *content;
    char *metadata_json;
    char **related; /* qualified table names (a join: from, to) */
    size_t nrelated;
};

/* Table t of s: "Table orders — one row per order. Columns: id integer (primary key), …". */
void mr_sql_render_table(const struct mr_sql_schema *s, size_t t, struct mr_sql_rendered *out);

/* Join j of s: "orders.customer_id → customers.id". */
void mr_sql_render_join(const struct mr_sql_schema *s, size_t j, struct mr_sql_rendered *out);

void mr_sql_rendered_free(struct mr_sql_rendered *r);

struct mr_sql_equijoin;

/*
 * A join an example made that its schema lacks (schema_join -1), as the
 * relationship memory DESIGN.md §9 asks for: content like a schema join's,
 * metadata with source "example" and the same join_key form, so a later
 * import that declares it finds it (mr_sql_diff's keys).
 */
void mr_sql_render_example_join(enum mr_sql_dialect d, const struct mr_sql_equijoin *j,
                                struct mr_sql_rendered *out);

/*
 * The whole schema as the JSON the GET answers ({"dialect", "schema_hash",
 * "tables": [{"name", "description", "columns": [...], "foreign_keys":
 * [{"columns", "references": {"table", "columns"}, "source"}]}]}); read
 * back through the codec and mr_sql_schema_from_specs it is the same schema
 * (same hash). The caller frees it.
 */
char *mr_sql_schema_to_json(const struct mr_sql_schema *s);

/* ---- examples ------------------------------------------------------------ */

struct mr_sql_colref {
    char *table; /* qualified, as the schema names it */
    char *column;
};

/* An equality between columns of two tables (ON or WHERE), oriented like a key. */
struct mr_sql_equijoin {
    struct mr_sql_colref from, to;
    long schema_join; /* index into schema->joins when the schema has it, else -1 */
};

struct mr_sql_analysis {
    enum mr_sql_dialect dialect;
    char fingerprint[17]; /* 16 hex digits: libpg_query's, or ours for SQLite (docs/sql.md) */
    char **tables;        /* distinct, sorted */
    size_t ntables;
    struct mr_sql_colref *columns; /* distinct, sorted */
    size_t ncolumns;
    struct mr_sql_equijoin *joins; /* distinct, sorted */
    size_t njoins;
};

/*
 * Analyses one SQL statement sql[0..len) in dialect against schema: syntax
 * (MR_EVALIDATION with the parser's message, line and column), every table
 * and column it names (unknown → MR_EVALIDATION naming it), the joins it
 * makes through aliases, CTEs, subqueries, set operations and self joins.
 * schema NULL: no schema to check against (names recorded as written;
 * SQLite then checks syntax only). *out_analysis is the caller's
 * (mr_sql_analysis_free).
 */
int mr_sql_analyze(enum mr_sql_dialect dialect, const struct mr_sql_schema *schema, const char *sql,
                   size_t len, struct mr_sql_analysis **out_analysis, struct mr_sql_diag *diag,
                   struct mr_err *err);

void mr_sql_analysis_free(struct mr_sql_analysis *a);

/*
 * The analysis as a JSON object text for the example's metadata:
 * {"dialect", "fingerprint", "tables": [..], "columns": ["t.c", ..],
 * "joins": [{"from": "t.c", "to": "t.c", "in_schema": bool}]}. The caller
 * frees it.
 */
char *mr_sql_analysis_to_json(const struct mr_sql_analysis *a);

/* ---- a live database (`memori schema import --from`) ---------------------- */

/*
 * The catalogue queries of a live PostgreSQL database, to run in order in
 * one snapshot (the store's mr_store_pg_read), each row handed to
 * mr_sql_catalog_row: tables, columns, foreign keys of every schema but the
 * system's, with comments (pg_description) as descriptions.
 */
#define MR_SQL_PG_CATALOG_QUERIES 3
extern const char *const mr_sql_pg_catalog[MR_SQL_PG_CATALOG_QUERIES];

struct mr_sql_catalog;

/* An empty PostgreSQL catalogue reader; mr_sql_catalog_finish (or _free) frees it. */
struct mr_sql_catalog *mr_sql_catalog_new(void);

/*
 * One row of query (an index into mr_sql_pg_catalog): ncolumns text values,
 * NULL for SQL NULL. Its type is the store's mr_store_row_fn. Errors are the
 * builder's (limits: MR_ETOOLARGE; a duplicate: MR_EVALIDATION) or
 * MR_EINTERNAL for a row the query cannot have given.
 */
int mr_sql_catalog_row(void *catalog, size_t query, size_t ncolumns, const char *const *values,
                       struct mr_err *err);

/*
 * The schema the rows describe (dialect postgresql), with the checks and
 * inference of mr_sql_schema_from_specs; frees c, success or not.
 */
int mr_sql_catalog_finish(struct mr_sql_catalog *c, struct mr_sql_schema **out_schema,
                          struct mr_sql_diag *diag, struct mr_err *err);
void mr_sql_catalog_free(struct mr_sql_catalog *c);

/*
 * The schema of the SQLite database file at path (opened read-only, never
 * created): its tables, columns, keys (pragma table_xinfo and
 * foreign_key_list) and `--` comments, as SQLite DDL is read. MR_EUNAVAIL
 * when the file cannot be opened or is not a database.
 */
int mr_sql_introspect_sqlite(const char *path, struct mr_sql_schema **out_schema,
                             struct mr_sql_diag *diag, struct mr_err *err);

#endif
