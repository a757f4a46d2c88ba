/*
 * fields.h — every field a request may carry (bodies, query and path
 * parameters) with its type, presence and limits: the one table the
 * validators (codec.c, codec_schema.c, handlers.c, router.c) and the
 * OpenAPI generator (openapi.c) both read, so a limit changed here changes
 * what is refused and what the document says (private to src/api/).
 */
#ifndef MEMORI_API_FIELDS_H
#define MEMORI_API_FIELDS_H

#include <stdbool.h>
#include <stddef.h>

enum api_kind {
    API_STRING,  /* min..max characters */
    API_INTEGER, /* min..max */
    API_NUMBER,  /* fmin..fmax */
    API_BOOLEAN,
    API_UUID,         /* 32 hex digits, optionally hyphenated */
    API_DATETIME,     /* ISO 8601, or Unix seconds */
    API_OBJECT,       /* any JSON object, nested at most API_MAX_METADATA_DEPTH */
    API_STRINGS,      /* a list of strings, at most max_list_items */
    API_MEMORY_TYPE,  /* one of mr_memory_type_name's */
    API_MEMORY_TYPES, /* a list of them, at most max_list_items */
    API_SEARCH_MODE,  /* one of mr_search_mode_name's */
    API_SQL_DIALECT,  /* one of mr_sql_dialect_name's */
    API_SQL_TABLES,   /* the JSON tables of a schema (openapi.c's SqlTable) */
    API_ENUM,         /* one of the strings in choices */
    API_UUIDS,        /* a list of UUIDs, at most max_list_items */
};

/* OPTIONAL: may be absent, never null; NULLABLE: absent or null. */
enum api_presence { API_REQUIRED, API_OPTIONAL, API_NULLABLE };

/* The "no bound" of an integer field. */
#define API_NO_MIN (-9223372036854775807LL - 1)
#define API_NO_MAX 9223372036854775807LL

#define API_MAX_METADATA_DEPTH 32

struct api_field {
    const char *name;
    enum api_kind kind;
    enum api_presence presence;
    long long min, max; /* characters (API_STRING) or value (API_INTEGER) */
    double fmin, fmax;  /* API_NUMBER */
    long long def;      /* an integer query parameter's default (has_def) */
    bool has_def;
    const char *description;
    const char *const *choices; /* API_ENUM: its values, NULL-terminated */
};

/* A named set of fields: a request body, or the query parameters of some routes. */
struct api_fields {
    const char *id; /* the OpenAPI component name ("MemoryCreate") */
    const struct api_field *fields;
    size_t n;
    bool empty_ok; /* an empty body is read as {} */
    const char *description;
};

/* POST /api/memories */
enum {
    MC_CONTENT,
    MC_MEMORY_TYPE,
    MC_CONVERSATION_ID,
    MC_IMPORTANCE,
    MC_TAGS,
    MC_ENTITIES,
    MC_METADATA,
    MC_EXPIRES_AT,
    MC_SHARED,
    MC_DEDUP,
    MC_DEDUP_POLICY,
    MC_N
};
extern const struct api_field api_memory_create_fields[MC_N];

/* PATCH /api/memories/{memory_id} */
enum { MP_CONTENT, MP_IMPORTANCE, MP_TAGS, MP_METADATA, MP_SHARED, MP_SUPERSEDES, MP_N };
extern const struct api_field api_memory_patch_fields[MP_N];

/* POST /api/memories/search */
enum {
    MS_QUERY,
    MS_CONVERSATION_ID,
    MS_LIMIT,
    MS_MIN_SIMILARITY,
    MS_MEMORY_TYPES,
    MS_INCLUDE_ARCHIVED,
    MS_MODE,
    MS_N
};
extern const struct api_field api_search_fields[MS_N];

/* POST /api/conversations */
enum { CC_CONVERSATION_ID, CC_TITLE, CC_DATA_SOURCE_ID, CC_METADATA, CC_IS_ACTIVE, CC_N };
extern const struct api_field api_conversation_create_fields[CC_N];

/* PATCH /api/conversations/{conversation_id} */
enum { CP_TITLE, CP_DATA_SOURCE_ID, CP_METADATA, CP_IS_ACTIVE, CP_N };
extern const struct api_field api_conversation_patch_fields[CP_N];

/* POST /api/examples */
enum { EX_QUESTION, EX_SQL, EX_DATA_SOURCE_ID, EX_CONVERSATION_ID, EX_VERIFIED, EX_METADATA, EX_N };
extern const struct api_field api_example_fields[EX_N];

/* POST /api/context (DESIGN.md §10) */
enum {
    CX_QUESTION,
    CX_DATA_SOURCE_ID,
    CX_CONVERSATION_ID,
    CX_TOKEN_BUDGET,
    CX_MAX_TABLES,
    CX_MAX_EXAMPLES,
    CX_MAX_RULES,
    CX_N
};
extern const struct api_field api_context_fields[CX_N];

/* PUT /api/data-sources/{data_source_id}/schema ("ddl" or "tables") */
enum { SC_DIALECT, SC_DDL, SC_TABLES, SC_N };
extern const struct api_field api_schema_fields[SC_N];

/* The values of MemoryCreate's "dedup" and "dedup_policy" (docs/hygiene.md). */
extern const char *const api_dedup_modes[];
extern const char *const api_dedup_policies[];

/* Query parameters: a page (limit, offset), archival, an admin's scope. */
enum { PQ_LIMIT, PQ_OFFSET, PQ_N };
extern const struct api_field api_page_query[PQ_N];
enum { AQ_DAYS_THRESHOLD, AQ_N };
extern const struct api_field api_archive_query[AQ_N];
enum { SQ_ALL_USERS, SQ_USER_ID, SQ_N };
extern const struct api_field api_scope_query[SQ_N];
/* GET /api/memories' filter, beside its page. */
enum { LQ_MEMORY_TYPE, LQ_N };
extern const struct api_field api_memory_list_query[LQ_N];

/* Path parameters, by the name the route label gives them (router.c). */
enum { PP_MEMORY_ID, PP_CONVERSATION_ID, PP_DATA_SOURCE_ID, PP_DOC_ID, PP_UI_ID, PP_N };
extern const struct api_field api_path_params[PP_N];

/* The sets by id (bodies and query sets), for the routes' descriptions; NULL when unknown. */
const struct api_fields *api_fields_find(const char *id);
/* Every set, n of them: for the generator and the tests. */
const struct api_fields *api_fields_all(size_t *out_n);
/* The path parameter named name ("memory_id"), or NULL. */
const struct api_field *api_path_param(const char *name);

#endif
