/*
 * api_int.h — private to src/api/: the JSON codec (codec.c) and the
 * handlers (handlers.c, router.c).
 *
 * Decoders validate a request body the way FastAPI + pydantic do and, on
 * failure, return MR_EVALIDATION with *out_err holding the 422 body
 * ({"detail": [{"type", "loc", "msg", "input"}...]}). Lists longer than
 * max_items and metadata nested deeper than 32 levels are refused. Decoded structs
 * borrow strings from the parsed document they keep; free them with their
 * *_free function.
 */
#ifndef MEMORI_API_INT_H
#define MEMORI_API_INT_H

#include "memori/json.h"
#include "memori/service.h"

struct api_memory_create {
    struct mr_memory_create in;
    struct mr_strv tags, entities;
    char *metadata;
    struct mr_json *doc; /* the parsed body the strings point into */
};

struct api_memory_patch {
    struct mr_memory_patch in;
    struct mr_strv tags;
    char (*supersedes)[MR_UUID_LEN];
    char *metadata;
    struct mr_json *doc; /* the parsed body the strings point into */
};

struct api_search {
    struct mr_search in;
    char conversation_id[MR_UUID_LEN];
    struct mr_json *doc; /* the parsed body the strings point into */
};

struct api_conversation_create {
    struct mr_conversation_create in;
    char *metadata;
    struct mr_json *doc; /* the parsed body the strings point into */
};

struct api_conversation_patch {
    struct mr_conversation_patch in;
    char *metadata;
    struct mr_json *doc; /* the parsed body the strings point into */
};

int api_decode_memory_create(const char *body, size_t len, struct api_memory_create *out,
                             size_t max_items, char **out_err);
void api_memory_create_free(struct api_memory_create *r);
int api_decode_memory_patch(const char *body, size_t len, struct api_memory_patch *out,
                            size_t max_items, char **out_err);
void api_memory_patch_free(struct api_memory_patch *r);
int api_decode_search(const char *body, size_t len, struct api_search *out, size_t max_items,
                      char **out_err);
void api_search_free(struct api_search *r);
int api_decode_conversation_create(const char *body, size_t len,
                                   struct api_conversation_create *out, size_t max_items,
                                   char **out_err);
void api_conversation_create_free(struct api_conversation_create *r);
int api_decode_conversation_patch(const char *body, size_t len, struct api_conversation_patch *out,
                                  size_t max_items, char **out_err);
void api_conversation_patch_free(struct api_conversation_patch *r);

/*
 * Numbers and booleans in text (JSON strings, query parameters) as
 * pydantic v2 reads them in lax mode. Floats: Rust's f64 syntax (no hex),
 * surrounding spaces and Python's underscores allowed; 0 or -1. Integers:
 * exact over int64, spaces, leading zeros, a ".0" tail and underscores
 * allowed; API_INT_ABOVE / API_INT_BELOW for an integer past int64.
 * Booleans: 1/0, true/false, yes/no, on/off, t/f, y/n in any case; 0 or -1.
 */
enum { API_INT_OK = 0, API_INT_BAD = -1, API_INT_ABOVE = 1, API_INT_BELOW = 2 };
int api_parse_float_text(const char *s, size_t n, double *out);
int api_parse_int_text(const char *s, size_t n, int64_t *out);
int api_parse_bool_text(const char *s, bool *out);

/*
 * FastAPI's rule for a JSON body (≥ 0.132, strict_content_type): a
 * non-empty body is read as JSON only when Content-Type is application/json
 * or application/<anything>+json (parameters such as charset allowed). Any
 * other type, or none, is 422 model_attributes_type at loc ["body"] with the
 * body as input. Returns 0, or MR_EVALIDATION with *out_err the 422 body.
 */
int api_check_content_type(const char *content_type, const char *body, size_t len, char **out_err);

/*
 * Encoders return malloc'd compact JSON the caller frees. The list
 * encoders (search, memory pages, conversation pages) stop adding items
 * before the answer would pass max_bytes (0: no bound) and then say
 * "truncated": true; the first item is always in. They write item by item
 * into one buffer, never the whole list as a tree, and the search and
 * memory-page encoders clear each memory of their input once it is written
 * or left out (the caller still frees the array), so a large answer
 * replaces the memories it is made of instead of adding to them.
 */
char *api_encode_memory(const struct mr_memory *m);
char *api_encode_search(struct mr_search_results *r, const char *query, size_t query_len,
                        size_t max_bytes);
char *api_encode_memory_page(struct mr_memory *v, size_t n, int64_t total, struct mr_page page,
                             size_t max_bytes);
/* GET /api/memories/{id}/history: {"events", "total", "limit", "offset", "truncated"}; clears v's.
 */
char *api_encode_history_page(struct mr_history_event *v, size_t n, int64_t total,
                              struct mr_page page, size_t max_bytes);
char *api_encode_stats(const struct mr_stats *s);
char *api_encode_archive(int64_t count, int days);
char *api_encode_conversation(const struct mr_conversation *c);
char *api_encode_conversation_page(const struct mr_conversation *v, size_t n, int64_t total,
                                   struct mr_page page, size_t max_bytes);
/* GET /api/data-sources: {"data_sources", "total", "limit", "offset", "truncated"}. */
char *api_encode_data_source_page(const struct mr_data_source *v, size_t n, int64_t total,
                                  struct mr_page page, size_t max_bytes);
/* GET /health: status is "ok", "degraded" or "unavailable". */
char *api_encode_health(const char *status, const struct mr_service_health *h, const char *version);
/* {"detail": msg} */
char *api_encode_detail(const char *msg);
/* A one-item 422 body for a path or query parameter: loc = [where, name]. */
char *api_encode_param_error(const char *where, const char *name, const char *type, const char *msg,
                             const char *input);

/* ---- data sources (DESIGN.md §9; codec_schema.c) ---- */

struct mr_sql_schema;
struct mr_sql_diag;

/*
 * A PUT schema body ({"dialect", "ddl"} or {"dialect"?, "tables"}) parsed
 * into *out (mr_sql_schema_free). On failure: the code, *out_status (413 or
 * 422) and *out_body (the answer, malloc'd).
 */
int api_decode_schema(const char *body, size_t len, struct mr_sql_schema **out, int *out_status,
                      char **out_body);
/* The answer to an SQL module failure: 413 for a limit, else 422 at ["body", field]. */
int api_sql_error(const struct mr_err *err, const struct mr_sql_diag *diag, const char *field,
                  int *out_status, char **out_body);
char *api_encode_schema_summary(const struct mr_schema_summary *s);

struct api_example {
    struct mr_example_create in; /* schema and analysis: the handler's */
    char *metadata;
    struct mr_json *doc; /* the parsed body the strings point into */
};

/* POST /api/examples: question, sql, data_source_id (> 0), conversation_id?, verified?,
 * metadata?. */
int api_decode_example(const char *body, size_t len, struct api_example *out, char **out_err);
void api_example_free(struct api_example *r);

/* ---- the validators of codec.c, for the other codecs ---- */

struct api_field; /* fields.h */

/*
 * A body being validated field by field against fields.h's descriptions,
 * as codec.c validates its own (pydantic v2's lax mode, FastAPI's messages
 * and loc paths). Fields not asked for are ignored, as pydantic ignores
 * extra fields.
 */
struct api_body {
    struct mr_json *errors; /* the errors so far */
    struct mr_json *obj;    /* the body object */
    size_t max_items;
};

/* Parses body as a JSON object: the document (the caller frees it), or NULL and the 422. */
struct mr_json *api_body_begin(const char *body, size_t len, size_t max_items, struct api_body *out,
                               char **out_err);
/* Each: 1 decoded, 0 absent (or null where f allows it), -1 an error recorded. */
int api_body_string(struct api_body *b, const struct api_field *f, const char **out,
                    size_t *out_len);
int api_body_int(struct api_body *b, const struct api_field *f, long long *out);
int api_body_uuid(struct api_body *b, const struct api_field *f, char out[MR_UUID_LEN]);
/* 0 when no error was recorded, else MR_EVALIDATION and *out_err the 422 body. */
int api_body_finish(struct api_body *b, char **out_err);

/* ---- POST /api/context (DESIGN.md §10; codec_context.c) ---- */

struct api_context {
    struct mr_context_request in;
    char conversation_id[MR_UUID_LEN];
    struct mr_json *doc; /* the parsed body the strings point into */
};

/*
 * {"question" (1..1000), "data_source_id"? (> 0, nullable), "conversation_id"?
 * (nullable), "token_budget"? (2000, 100..100000), "max_tables"? (8, 1..50),
 * "max_examples"? (3, 0..20), "max_rules"? (10, 0..100)}. read_schema is the
 * caller's to set.
 */
int api_decode_context(const char *body, size_t len, struct api_context *out, size_t max_items,
                       char **out_err);
void api_context_free(struct api_context *r);
/* §10's answer: question, data_source_id, the result's lists, prompt, token_estimate, truncated. */
char *api_encode_context(const struct mr_context *c, const char *question, size_t question_len);

/* ---- MCP (POST /mcp; mcp.c) ---- */

/*
 * The JSON Schema of a request field set (fields.h: "MemoryCreate",
 * "PageQuery") or of an answer (openapi.c: "Memory", "SearchResults"),
 * standing alone (every $ref replaced by what it names), from the tables
 * GET /openapi.json is generated from (openapi.c). A new value, or NULL for
 * an unknown name.
 */
struct mr_json *api_json_schema(const char *name, size_t max_items);

#endif
