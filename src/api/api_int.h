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

/* Encoders return malloc'd compact JSON the caller frees. */
char *api_encode_memory(const struct mr_memory *m);
char *api_encode_search(const struct mr_search_results *r, const char *query, size_t query_len);
char *api_encode_memory_page(const struct mr_memory *v, size_t n, int64_t total,
                             struct mr_page page);
char *api_encode_stats(const struct mr_stats *s);
char *api_encode_archive(int64_t count, int days);
char *api_encode_conversation(const struct mr_conversation *c);
char *api_encode_conversation_page(const struct mr_conversation *v, size_t n, int64_t total,
                                   struct mr_page page);
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

#endif
