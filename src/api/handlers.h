/* handlers.h — one function per endpoint of DESIGN.md §4 (private to src/api/). */
#ifndef MEMORI_API_HANDLERS_H
#define MEMORI_API_HANDLERS_H

#include "memori/api.h"

struct api_call {
    struct mr_api *api;
    const struct mr_http_request *req;
    struct mr_http_response *res;
    const char *params[2];         /* path parameters, in order */
    struct mr_principal principal; /* filled by identify() */
};

typedef void (*api_handler)(struct api_call *c);

/*
 * Finds the handler of method + path: 200 (fn and up to two path
 * parameters filled), 404 (no such path) or 405 (allow lists the methods).
 */
int api_route(const char *method, const char *path, api_handler *out_fn, char out_params[2][128],
              char *allow, size_t allow_cap);

void api_memory_create(struct api_call *c);
void api_memory_search(struct api_call *c);
void api_memory_stats(struct api_call *c);
void api_memory_archive(struct api_call *c);
void api_memory_get(struct api_call *c);
void api_memory_patch(struct api_call *c);
void api_memory_delete(struct api_call *c);
void api_memory_promote(struct api_call *c);
void api_conversation_create(struct api_call *c);
void api_conversation_list(struct api_call *c);
void api_conversation_get(struct api_call *c);
void api_conversation_patch(struct api_call *c);
void api_conversation_delete(struct api_call *c);
void api_conversation_memories(struct api_call *c);
void api_health(struct api_call *c);

#endif
