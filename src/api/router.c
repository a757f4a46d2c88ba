/*
 * router.c — method + path → handler. Trailing slashes are ignored; the
 * most specific pattern (most literal segments) among those taking the
 * method wins, so POST /api/memories/search is never read as a memory id; a
 * known path no route takes the method for is 405 with Allow, an unknown one
 * 404.
 *
 * The router is also the auth stage of DESIGN.md §1: each route says which
 * identity it needs, and the caller is resolved here, once, before its
 * handler runs.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "fields.h"
#include "handlers.h"
#include "memori/metrics.h"
#include "memori/util.h"

#define MAX_SEGS 8

/*
 * One line a route: method, pattern, handler, identity, then its
 * description for GET /openapi.json (struct api_route_doc: summary, body
 * field set, success status, answer schema, query sets, other statuses of
 * the same answer, further error statuses).
 */
#define DOC(...)                                                                                   \
    {                                                                                              \
        __VA_ARGS__                                                                                \
    }
/*
 * POST /mcp's own answers (mcp.c): each a JSON-RPC error object without an
 * id, as the Streamable HTTP transport answers what is refused before a
 * message is read.
 */
static const struct api_status_doc mcp_statuses[] = {
    {202, "Accepted: the body held only notifications or responses; nothing to answer, no body",
     NULL},
    {400,
     "Bad Request: malformed JSON (-32700); not a JSON-RPC message, or a batch the session's "
     "protocol version lacks, or an empty one (-32600); no Mcp-Session-Id on a message but "
     "initialize, or an MCP-Protocol-Version unsupported or not the session's (-32000)",
     "McpResponse"},
    {403, "Forbidden: an Origin that is not this server's own (DNS rebinding, -32000)",
     "McpResponse"},
    {404,
     "Session not found: an Mcp-Session-Id this server's key did not issue to this caller; "
     "initialize again without one (-32001)",
     "McpResponse"},
    {406, "Not Acceptable: the Accept header excludes application/json (-32000)", "McpResponse"},
    {415, "Unsupported Media Type: the Content-Type is not application/json (-32000)",
     "McpResponse"},
    {0, NULL, NULL},
};

static const struct api_route routes[] = {
    /* clang-format off */
    {"POST", "/api/memories", api_memory_create, API_USER,
     DOC("Create a memory (200 for a duplicate or a merge)", "MemoryCreate", 201, "Memory", NULL,
         "200", "404")},
    {"GET", "/api/memories", api_memory_list, API_USER,
     DOC("List the caller's memories, newest first (archived and expired too)", NULL, 200,
         "MemoryPage", "PageQuery MemoryListQuery")},
    {"POST", "/api/memories/search", api_memory_search, API_USER,
     DOC("Search memories (hybrid, semantic or lexical)", "MemorySearch", 200, "SearchResults")},
    {"GET", "/api/memories/statistics/summary", api_memory_stats, API_ADMIN_SCOPE,
     DOC("Statistics of the caller's memories (an admin: the tenant's or a user's)", NULL, 200,
         "Statistics", "ScopeQuery")},
    {"POST", "/api/memories/maintenance/archive", api_memory_archive, API_ADMIN_SCOPE,
     DOC("Archive old unimportant short-term memories", NULL, 200, "ArchiveResult",
         "ArchiveQuery ScopeQuery")},
    {"GET", "/api/memories/{}", api_memory_get, API_USER,
     DOC("Get a memory", NULL, 200, "Memory", NULL, NULL, "404")},
    {"PATCH", "/api/memories/{}", api_memory_patch, API_USER,
     DOC("Update a memory (supersedes: archive and link older ones)", "MemoryUpdate", 200,
         "Memory", NULL, NULL, "404 409")},
    {"DELETE", "/api/memories/{}", api_memory_delete, API_USER,
     DOC("Delete a memory", NULL, 204, NULL, NULL, NULL, "404")},
    {"POST", "/api/memories/{}/promote", api_memory_promote, API_USER,
     DOC("Promote a short-term memory to long-term", NULL, 200, "Memory", NULL, NULL, "404 409")},
    {"GET", "/api/memories/{}/history", api_memory_history, API_USER,
     DOC("A memory's history, oldest first (after a delete: admins only)", NULL, 200,
         "HistoryPage", "PageQuery", NULL, "404")},
    {"POST", "/api/conversations", api_conversation_create, API_USER,
     DOC("Create a conversation", "ConversationCreate", 201, "Conversation", NULL, NULL, "409")},
    {"GET", "/api/conversations", api_conversation_list, API_USER,
     DOC("List conversations, newest activity first", NULL, 200, "ConversationPage",
         "PageQuery")},
    {"GET", "/api/conversations/{}", api_conversation_get, API_USER,
     DOC("Get a conversation", NULL, 200, "Conversation", NULL, NULL, "404")},
    {"PATCH", "/api/conversations/{}", api_conversation_patch, API_USER,
     DOC("Update a conversation", "ConversationUpdate", 200, "Conversation", NULL, NULL, "404")},
    {"DELETE", "/api/conversations/{}", api_conversation_delete, API_USER,
     DOC("Delete a conversation and its memories", NULL, 204, NULL, NULL, NULL, "404")},
    {"GET", "/api/conversations/{}/memories", api_conversation_memories, API_USER,
     DOC("A conversation's memories", NULL, 200, "MemoryPage", "PageQuery", NULL, "404")},
    {"GET", "/api/data-sources", api_data_source_list, API_USER,
     DOC("The tenant's data sources with a stored schema, by id", NULL, 200, "DataSourcePage",
         "PageQuery")},
    {"PUT", "/api/data-sources/{}/schema", api_schema_put, API_USER,
     DOC("Store a data source's schema (DDL or JSON tables)", "SchemaPut", 200, "SchemaSummary",
         NULL, NULL, "403")},
    {"GET", "/api/data-sources/{}/schema", api_schema_get, API_USER,
     DOC("A data source's stored schema", NULL, 200, "DataSourceSchema", NULL, NULL, "404")},
    {"DELETE", "/api/data-sources/{}/schema", api_schema_delete, API_USER,
     DOC("Remove a data source's schema", NULL, 204, NULL, NULL, NULL, "403 404")},
    {"POST", "/api/examples", api_example_create, API_USER,
     DOC("Store a question -> SQL example (201; 200 when it exists)", "ExampleCreate", 201,
         "Memory", NULL, "200")},
    {"POST", "/api/context", api_context, API_USER,
     DOC("Context for a question: rules, tables and joins, examples, recent turns, a prompt",
         "ContextRequest", 200, "Context", NULL, NULL, "404")},
    {"POST", "/mcp", api_mcp, API_USER,
     DOC("Model Context Protocol (Streamable HTTP, JSON-RPC 2.0; 202 for notifications)",
         "McpRequestBody", 200, "McpAnswer", NULL, NULL, NULL, mcp_statuses)},
    {"GET", "/health", api_health, API_ANONYMOUS,
     DOC("Store and embedder status", NULL, 200, "Health", NULL, "503")},
    {"GET", "/metrics", api_metrics, API_ANONYMOUS,
     DOC("Prometheus metrics (text format 0.0.4)", NULL, 200, "text/plain")},
    {"GET", "/openapi.json", api_openapi, API_ANONYMOUS,
     DOC("This document (OpenAPI 3.1)", NULL, 200, "application/json")},
    {"GET", "/docs", api_docs, API_ANONYMOUS,
     DOC("Swagger UI for this document", NULL, 200, "text/html", NULL, NULL, "404")},
    {"GET", "/docs/{}", api_docs_file, API_ANONYMOUS,
     DOC("A file of the Swagger UI page", NULL, 200, "text/plain", NULL, NULL, "404")},
    {"GET", "/ui", api_ui, API_ANONYMOUS,
     DOC("The dashboard: memories, search scores, statistics, schema graphs", NULL, 200,
         "text/html", NULL, NULL, "404")},
    {"GET", "/ui/{}", api_ui_file, API_ANONYMOUS,
     DOC("A file of the dashboard", NULL, 200, "text/plain", NULL, NULL, "404")},
    /* clang-format on */
};
#define N_ROUTES (sizeof routes / sizeof routes[0])

/*
 * Each route's template as FastAPI names it, for the log and the metrics'
 * route label: "{}" becomes the parameter the segment before it names
 * (memories -> {memory_id}, data-sources -> {data_source_id}), so a new
 * route gets its label without a second table.
 */
static char route_labels[N_ROUTES][128];
static int route_ids[N_ROUTES];
static pthread_once_t labels_once = PTHREAD_ONCE_INIT;

static void make_labels(void)
{
    for (size_t i = 0; i < N_ROUTES; i++) {
        char *out = route_labels[i];
        size_t o = 0, cap = sizeof route_labels[i];
        const char *p = routes[i].pattern, *prev = "", *prev_end = "";
        while (*p && o + 1 < cap) {
            if (p[0] == '{' && p[1] == '}') {
                size_t n = (size_t)(prev_end - prev);
                /* The singular of the collection: "ies" -> "y", else a final "s" dropped. */
                char name[64];
                if (n >= 3 && memcmp(prev_end - 3, "ies", 3) == 0)
                    snprintf(name, sizeof name, "%.*sy", (int)(n - 3), prev);
                else
                    snprintf(name, sizeof name, "%.*s", (int)(n && prev_end[-1] == 's' ? n - 1 : n),
                             prev);
                for (char *k = name; *k; k++)
                    if (*k == '-')
                        *k = '_';
                o += (size_t)snprintf(out + o, cap - o, "{%s_id}", name);
                if (o >= cap)
                    o = cap - 1;
                p += 2;
                continue;
            }
            if (*p == '/' && p[1] && p[1] != '{') {
                prev = p + 1;
                prev_end = strchr(prev, '/');
                if (!prev_end)
                    prev_end = prev + strlen(prev);
            }
            out[o++] = *p++;
        }
        out[o] = '\0';
        route_ids[i] = mr_metrics_route(route_labels[i]);
    }
}

const struct api_route *api_routes(size_t *out_n)
{
    *out_n = N_ROUTES;
    return routes;
}

const char *api_route_label(const struct api_route *r)
{
    pthread_once(&labels_once, make_labels);
    return route_labels[r - routes];
}

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

int api_route(const char *method, const char *path, const struct api_route **out_route,
              char out_params[2][128], char *allow, size_t allow_cap)
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
        *out_route = &routes[chosen];
        return 200;
    }
    allow[0] = '\0';
    for (size_t i = 0; i < N_ROUTES; i++) {
        const char *p[MAX_SEGS];
        size_t pl[MAX_SEGS], np;
        if (match(routes[i].pattern, &segs, p, pl, &np) != best_any)
            continue;
        size_t used = strlen(allow);
        /* HEAD is answered wherever GET is (the server runs GET for it), so it is allowed too. */
        snprintf(allow + used, allow_cap - used, "%s%s%s", used ? ", " : "", routes[i].method,
                 strcmp(routes[i].method, "GET") == 0 ? ", HEAD" : "");
    }
    return 405;
}

/*
 * The caller (DESIGN.md §6): a verified JWT in production, X-User-Id in
 * development and staging. Returns false after replying 401 (with
 * WWW-Authenticate) or 422.
 */
static bool identify(struct api_call *c)
{
    struct mr_err err;
    int rc = mr_auth_identify(c->api->auth, mr_http_header(c->req, "Authorization"),
                              mr_http_header(c->req, "X-User-Id"), &c->principal, &err);
    if (rc == MR_EVALIDATION) {
        api_reply(c, 422,
                  api_encode_param_error("header", "x-user-id", "string_type", err.msg, NULL));
        return false;
    }
    if (rc != 0) {
        api_reply_error(c, &err);
        if (rc == MR_EUNAUTH)
            c->res->www_authenticate = "Bearer";
        return false;
    }
    c->who.user_id = c->principal.user_id;
    c->who.tenant_id = c->principal.tenant_id;
    mr_obs_user_tag(c->who.tenant_id, c->who.user_id, c->res->user_tag);
    return true;
}

/*
 * Admin scope of a maintenance or statistics request: "all_users=true"
 * (the whole tenant: who.user_id = NULL) or "user_id=U". Non-admins asking
 * for either get 403. Returns false after replying.
 */
static bool admin_scope(struct api_call *c)
{
    int has_all, has_user;
    const char *all = mr_http_query(c->req, "all_users", &has_all);
    const char *user = mr_http_query(c->req, "user_id", &has_user);
    bool all_users = false;
    if (has_all && api_parse_bool_text(all, &all_users) != 0) {
        api_reply(c, 422,
                  api_encode_param_error("query", "all_users", "bool_parsing",
                                         "Input should be a valid boolean, unable to interpret "
                                         "input",
                                         mr_utf8_valid(all, strlen(all)) ? all : NULL));
        return false;
    }
    if (!all_users && !has_user)
        return true;
    if (!c->principal.admin) {
        api_reply(c, 403, api_encode_detail("Admin privileges required"));
        return false;
    }
    if (all_users) {
        c->who.user_id = NULL;
    } else {
        size_t n = strlen(user);
        if (n == 0 || !mr_utf8_valid(user, n) ||
            mr_utf8_len(user, n) > (size_t)api_scope_query[SQ_USER_ID].max) {
            api_reply(c, 422,
                      api_encode_param_error("query", "user_id", "string_type",
                                             "user_id must be 1..255 characters of valid UTF-8",
                                             NULL));
            return false;
        }
        c->who.user_id = user;
    }
    return true;
}

/* The identity route asks for; false after replying. */
static bool resolve_identity(struct api_call *c, enum api_identity identity)
{
    switch (identity) {
    case API_ANONYMOUS:
        return true;
    case API_USER:
        return identify(c);
    case API_ADMIN_SCOPE:
        return identify(c) && admin_scope(c);
    }
    return false;
}

void mr_api_handle(void *ctx, const struct mr_http_request *req, struct mr_http_response *res)
{
    static __thread char allow[64];
    char params[2][128];
    const struct api_route *route = NULL;
    int found = api_route(req->method, req->path, &route, params, allow, sizeof allow);
    pthread_once(&labels_once, make_labels);
    if (found == 200) {
        res->route = route_labels[route - routes];
        res->route_id = route_ids[route - routes];
    }
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
    struct api_call call = {.api = ctx, .req = req, .res = res, .params = {params[0], params[1]}};
    if (resolve_identity(&call, route->identity))
        route->fn(&call);
}
