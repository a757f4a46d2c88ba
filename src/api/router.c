/*
 * router.c — method + path → handler. Trailing slashes are ignored; the
 * most specific pattern (most literal segments) among those taking the
 * method wins, so POST /api/memories/search is never read as a memory id; a
 * known path no route takes the method for is 405 with Allow, an unknown one
 * 404.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "handlers.h"

#define MAX_SEGS 8

struct route {
    const char *method;
    const char *pattern; /* segments; "{}" matches any one */
    api_handler fn;
};

static const struct route routes[] = {
    {"POST", "/api/memories", api_memory_create},
    {"POST", "/api/memories/search", api_memory_search},
    {"GET", "/api/memories/statistics/summary", api_memory_stats},
    {"POST", "/api/memories/maintenance/archive", api_memory_archive},
    {"GET", "/api/memories/{}", api_memory_get},
    {"PATCH", "/api/memories/{}", api_memory_patch},
    {"DELETE", "/api/memories/{}", api_memory_delete},
    {"POST", "/api/memories/{}/promote", api_memory_promote},
    {"POST", "/api/conversations", api_conversation_create},
    {"GET", "/api/conversations", api_conversation_list},
    {"GET", "/api/conversations/{}", api_conversation_get},
    {"PATCH", "/api/conversations/{}", api_conversation_patch},
    {"DELETE", "/api/conversations/{}", api_conversation_delete},
    {"GET", "/api/conversations/{}/memories", api_conversation_memories},
    {"GET", "/health", api_health},
};
#define N_ROUTES (sizeof routes / sizeof routes[0])

struct segs {
    const char *s[MAX_SEGS];
    size_t n_len[MAX_SEGS];
    size_t n;
    bool overflow;
};

static void split(const char *path, struct segs *out)
{
    memset(out, 0, sizeof *out);
    const char *p = path;
    while (*p) {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        const char *end = strchr(p, '/');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (out->n == MAX_SEGS) {
            out->overflow = true;
            return;
        }
        out->s[out->n] = p;
        out->n_len[out->n++] = len;
        p += len;
    }
}

/* Number of literal segments when pattern matches path, else -1; params filled. */
static int match(const char *pattern, const struct segs *path, const char **params,
                 size_t *param_lens, size_t *n_params)
{
    struct segs pat;
    split(pattern, &pat);
    if (pat.n != path->n || path->overflow)
        return -1;
    int literals = 0;
    *n_params = 0;
    for (size_t i = 0; i < pat.n; i++) {
        if (pat.n_len[i] == 2 && memcmp(pat.s[i], "{}", 2) == 0) {
            params[*n_params] = path->s[i];
            param_lens[(*n_params)++] = path->n_len[i];
            continue;
        }
        if (pat.n_len[i] != path->n_len[i] || memcmp(pat.s[i], path->s[i], pat.n_len[i]) != 0)
            return -1;
        literals++;
    }
    return literals;
}

int api_route(const char *method, const char *path, api_handler *out_fn, char out_params[2][128],
              char *allow, size_t allow_cap)
{
    struct segs segs;
    split(path, &segs);
    /*
     * As Starlette routes: a route matching path and method wins (the most
     * specific one), even over a more specific one matching the path alone —
     * GET /api/memories/search is GET /api/memories/{memory_id} with the id
     * "search" (422), not a 405. Only when no route takes the method is it
     * 405, with the methods of the most specific paths.
     */
    int best = -1, best_any = -1;
    size_t chosen = N_ROUTES;
    for (size_t i = 0; i < N_ROUTES; i++) {
        const char *p[MAX_SEGS];
        size_t pl[MAX_SEGS], np;
        int lit = match(routes[i].pattern, &segs, p, pl, &np);
        if (lit > best_any)
            best_any = lit;
        if (lit > best && strcmp(routes[i].method, method) == 0) {
            best = lit;
            chosen = i;
        }
    }
    if (best_any < 0)
        return 404;
    if (chosen < N_ROUTES) {
        const char *p[MAX_SEGS];
        size_t pl[MAX_SEGS], np;
        match(routes[chosen].pattern, &segs, p, pl, &np);
        for (size_t k = 0; k < 2; k++)
            out_params[k][0] = '\0';
        for (size_t k = 0; k < np && k < 2; k++) {
            snprintf(out_params[k], 128, "%.*s", (int)(pl[k] > 127 ? 127 : pl[k]), p[k]);
            /* A parameter longer than the buffer cannot be a UUID: keep it invalid. */
            if (pl[k] > 127)
                out_params[k][126] = '\x01';
        }
        *out_fn = routes[chosen].fn;
        return 200;
    }
    allow[0] = '\0';
    for (size_t i = 0; i < N_ROUTES; i++) {
        const char *p[MAX_SEGS];
        size_t pl[MAX_SEGS], np;
        if (match(routes[i].pattern, &segs, p, pl, &np) != best_any)
            continue;
        size_t used = strlen(allow);
        snprintf(allow + used, allow_cap - used, "%s%s", used ? ", " : "", routes[i].method);
    }
    return 405;
}

void mr_api_handle(void *ctx, const struct mr_http_request *req, struct mr_http_response *res)
{
    static __thread char allow[64];
    char params[2][128];
    api_handler fn = NULL;
    int found = api_route(req->method, req->path, &fn, params, allow, sizeof allow);
    if (found == 404) {
        res->status = 404;
        res->body = api_encode_detail("Not Found");
        return;
    }
    if (found == 405) {
        res->status = 405;
        res->allow = allow;
        res->body = api_encode_detail("Method Not Allowed");
        return;
    }
    struct api_call call = {ctx, req, res, {params[0], params[1]}, {{0}, {0}, false}};
    fn(&call);
}
