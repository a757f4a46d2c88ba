/*
 * api.h — the HTTP API of DESIGN.md §4 (src/api/): routes a request,
 * resolves its caller once (the auth stage of DESIGN.md §1), decodes and
 * validates the body, calls the memory service and encodes the answer.
 * Plugs into the server as its mr_http_handler.
 */
#ifndef MEMORI_API_H
#define MEMORI_API_H

#include "memori/auth.h"
#include "memori/http.h"
#include "memori/service.h"

struct mr_api {
    struct mr_service *svc;
    const char *version;
    const struct mr_auth *auth; /* who a request is from (DESIGN.md §6) */
    size_t max_list_items;      /* longest accepted string list in a body */
    /*
     * MEMORI_MAX_RESPONSE_BYTES: a search or a page stops adding results
     * before its answer passes this and says "truncated": true (0: no bound).
     */
    size_t max_response_bytes;
    /*
     * Where GET /docs finds Swagger UI's files (MEMORI_DOCS_DIR; main.c's
     * default: "docs" beside the binary, where make copies them). NULL: /docs is 404.
     */
    const char *docs_dir;
};

/*
 * GET /openapi.json's document (OpenAPI 3.1, compact JSON), generated from
 * the route and field tables: built on the first call (serve calls it at
 * start-up), the same static text after. NULL only when it cannot be built.
 */
const char *mr_api_openapi(const struct mr_api *api);

/*
 * A memory's and a conversation's JSON objects as every answer writes them
 * (the reference templates' response models); `memori export` writes its
 * lines from the same objects. The caller frees them (mr_json_free).
 */
struct mr_json *mr_api_memory_json(const struct mr_memory *m);
struct mr_json *mr_api_conversation_json(const struct mr_conversation *c);

/* The mr_http_handler of the API; ctx is a struct mr_api. */
void mr_api_handle(void *ctx, const struct mr_http_request *req, struct mr_http_response *res);

#endif
