/* handlers.h — one function per endpoint of DESIGN.md §4 (private to src/api/). */
#ifndef MEMORI_API_HANDLERS_H
#define MEMORI_API_HANDLERS_H

#include "memori/api.h"

/*
 * One request on its way through the API. The router fills who and
 * principal before the handler runs (the auth stage of DESIGN.md §1), as
 * its route's identity asks.
 */
struct api_call {
    struct mr_api *api;
    const struct mr_http_request *req;
    struct mr_http_response *res;
    const char *params[2];         /* path parameters, in order */
    struct mr_principal principal; /* the verified caller */
    struct mr_identity who;        /* whose memories: points into principal or the query */
};

typedef void (*api_handler)(struct api_call *c);

/* Who a route needs to know the caller as. */
enum api_identity {
    API_ANONYMOUS, /* no identity: GET /health */
    API_USER,      /* the caller's own memories */
    /*
     * The caller, or for an admin "all_users=true" (the whole tenant:
     * who.user_id = NULL) or "user_id=U"; non-admins asking for either get 403.
     */
    API_ADMIN_SCOPE,
};

/*
 * What the OpenAPI document (openapi.c) says of a route beyond what the
 * table and the field sets (fields.h) tell it. 401, 403, 413, 422 and 503
 * follow from the identity, the parameters and the body; a route without a
 * description is still documented, as "METHOD pattern" answering 200.
 */
/* A status a route answers beyond the derived ones, with its own meaning and schema. */
struct api_status_doc {
    int status;              /* 0 ends a list */
    const char *description; /* what it means on this route */
    const char *schema;      /* its body's schema (openapi.c), or NULL: no body */
};

struct api_route_doc {
    const char *summary;
    const char *body;   /* the request body's field set (fields.h) or schema, NULL: none */
    int status;         /* the answer on success (0: 200) */
    const char *answer; /* its schema (openapi.c), a "text/..." media type, or NULL: no body */
    const char *query;  /* query parameter sets (fields.h), space-separated, or NULL */
    const char *also;   /* other statuses answering the same schema ("200", "503"), or NULL */
    const char *errors; /* error statuses beyond the derived ones ("404 409"), or NULL */
    const struct api_status_doc *statuses; /* more, each with its own meaning, or NULL */
};

struct api_route {
    const char *method;
    const char *pattern; /* segments; "{}" matches any one */
    api_handler fn;
    enum api_identity identity;
    struct api_route_doc doc;
};

/* The route table, n routes, in router.c's order (for the document and the tests). */
const struct api_route *api_routes(size_t *out_n);
/*
 * The route's template as FastAPI names it ("/api/memories/{memory_id}"):
 * the log's and the metrics' route label. Static storage.
 */
const char *api_route_label(const struct api_route *r);

/*
 * Finds the route of method + path: 200 (*out_route and up to two path
 * parameters filled), 404 (no such path) or 405 (allow lists the methods).
 */
int api_route(const char *method, const char *path, const struct api_route **out_route,
              char out_params[2][128], char *allow, size_t allow_cap);

/* Sets the answer; body is malloc'd JSON (or NULL) the server frees. */
void api_reply(struct api_call *c, int status, char *body);
/*
 * A JSON body's Content-Type, as FastAPI checks it (api_check_content_type):
 * every handler of a route with a JSON body asks first. False after
 * replying 422.
 */
bool api_json_body(struct api_call *c);
/* The limit and offset query parameters (PageQuery) into *p; false: a 422 was answered. */
bool api_page(struct api_call *c, struct mr_page *p);
/* Answers err as {"detail": msg} with its code's status; logs 5xx but 503. */
void api_reply_error(struct api_call *c, const struct mr_err *err);

/*
 * A page's files, served from a directory make fills (handlers_docs.c):
 * only the names of the allow-list, never a path from the request, so
 * nothing beside them can be read. files[0] is the page itself.
 */
struct api_static_file {
    const char *name;
    const char *type; /* Content-Type */
};
struct api_static_dir {
    const char *subdir; /* under mr_api.docs_dir: "" (Swagger UI) or "ui" */
    const struct api_static_file *files;
    size_t n_files;
    const char *csp;           /* Content-Security-Policy of every file */
    const char *cache_control; /* Cache-Control of every file */
    const char *what;          /* "Swagger UI", for the log and a 500's message */
    const char *missing;       /* the 404's detail when the files are not installed */
};
/* Answers file `name` of d (NULL: files[0]); 404 for a name off the list or a file absent. */
void api_serve_static(struct api_call *c, const struct api_static_dir *d, const char *name);

/* GET /metrics: the Prometheus exposition text (handlers_ops.c). */
void api_metrics(struct api_call *c);
/* GET /openapi.json, GET /docs and its files (handlers_docs.c). */
void api_openapi(struct api_call *c);
void api_docs(struct api_call *c);
void api_docs_file(struct api_call *c);
/* GET /ui and its files: the dashboard (handlers_ui.c). */
void api_ui(struct api_call *c);
void api_ui_file(struct api_call *c);

void api_memory_create(struct api_call *c);
void api_memory_list(struct api_call *c);
void api_memory_search(struct api_call *c);
void api_memory_stats(struct api_call *c);
void api_memory_archive(struct api_call *c);
void api_memory_get(struct api_call *c);
void api_memory_patch(struct api_call *c);
void api_memory_delete(struct api_call *c);
void api_memory_promote(struct api_call *c);
/* GET /api/memories/{memory_id}/history (docs/hygiene.md). */
void api_memory_history(struct api_call *c);
void api_conversation_create(struct api_call *c);
void api_conversation_list(struct api_call *c);
void api_conversation_get(struct api_call *c);
void api_conversation_patch(struct api_call *c);
void api_conversation_delete(struct api_call *c);
void api_conversation_memories(struct api_call *c);
void api_health(struct api_call *c);
/* handlers_schema.c */
void api_schema_put(struct api_call *c);
void api_schema_get(struct api_call *c);
void api_data_source_list(struct api_call *c);
void api_schema_delete(struct api_call *c);
void api_example_create(struct api_call *c);

/* handlers_context.c */
void api_context(struct api_call *c);

/* POST /mcp: the Model Context Protocol over Streamable HTTP (mcp.c). */
void api_mcp(struct api_call *c);

#endif
