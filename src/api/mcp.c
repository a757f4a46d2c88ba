/*
 * mcp.c — POST /mcp (DESIGN.md §11): a Model Context Protocol server over
 * the Streamable HTTP transport, protocol versions 2025-06-18 and
 * 2025-03-26, JSON-RPC 2.0 answered as application/json (the transport lets
 * a server answer a client that accepts JSON with one JSON object instead
 * of an SSE stream; memori never streams, so GET /mcp, the server-to-client
 * stream, is 405 as the transport allows, and so is DELETE: sessions are
 * not stored, there is nothing to end).
 *
 * Sessions: initialize answers an Mcp-Session-Id (auth.h: signed, bound to
 * the caller and the negotiated version, verified by any memori process with
 * the same SECRET_KEY); every other message must carry it (400 without, 404
 * for one this server did not issue to this caller), so a tool call before
 * initialize is refused as the transport says. The caller is the router's,
 * as for REST (bearer JWT in production, X-User-Id in development).
 *
 * Tools are the REST API under other names: each runs the same handler on
 * its arguments as the REST body, so validation, service call and answer
 * are one code path. What REST refuses as 422 is a JSON-RPC -32602 naming
 * the argument; any other REST error is a tool result with isError and the
 * REST message; a success is the REST answer as text and as
 * structuredContent. Batches (JSON arrays) exist in 2025-03-26 and were
 * removed in 2025-06-18: a session negotiated at 2025-06-18 gets -32600 for
 * one. Bodies past the server's limit are 413 before reaching here, as REST.
 */
#define _GNU_SOURCE /* strcasestr */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api_int.h"
#include "fields.h"
#include "handlers.h"
#include "memori/util.h"

#define LATEST_VERSION "2025-06-18"
/* The last version with JSON-RPC batches (2025-06-18 removed them). */
#define BATCH_VERSION "2025-03-26"
/* Newest first; the first is what a client asking for an unknown version is offered. */
static const char *const versions[] = {LATEST_VERSION, BATCH_VERSION};

/* JSON-RPC's codes, and the two the MCP SDKs answer transport errors with. */
enum {
    RPC_PARSE_ERROR = -32700,
    RPC_INVALID_REQUEST = -32600,
    RPC_METHOD_NOT_FOUND = -32601,
    RPC_INVALID_PARAMS = -32602,
    RPC_TRANSPORT = -32000,
    RPC_NO_SESSION = -32001,
};

static bool supported(const char *version)
{
    for (size_t i = 0; version && i < sizeof versions / sizeof versions[0]; i++)
        if (strcmp(version, versions[i]) == 0)
            return true;
    return false;
}

/* ---------- JSON-RPC messages ---------- */

/* id as the answer repeats it: the request's, or null when it had none usable. */
static struct mr_json *id_copy(const struct mr_json *id)
{
    return id ? mr_json_ref((struct mr_json *)id) : mr_json_null();
}

static struct mr_json *rpc_result(const struct mr_json *id, struct mr_json *result)
{
    struct mr_json *m = mr_json_with(mr_json_object(), "jsonrpc", mr_json_string("2.0"));
    m = mr_json_with(m, "id", id_copy(id));
    return mr_json_with(m, "result", result);
}

/* An error answer; data may be NULL. */
static struct mr_json *rpc_error(const struct mr_json *id, int code, const char *message,
                                 struct mr_json *data)
{
    struct mr_json *e = mr_json_with(mr_json_object(), "code", mr_json_integer(code));
    e = mr_json_with(e, "message", mr_json_string(message));
    if (data)
        e = mr_json_with(e, "data", data);
    struct mr_json *m = mr_json_with(mr_json_object(), "jsonrpc", mr_json_string("2.0"));
    m = mr_json_with(m, "id", id_copy(id));
    return mr_json_with(m, "error", e);
}

/* Answers message m (taken) with status; a NULL m is an answer that could not be encoded. */
static void reply_json(struct api_call *c, int status, struct mr_json *m)
{
    char *text = m ? mr_json_print(m, 15) : NULL;
    mr_json_free(m);
    if (!text) {
        status = 500;
        text = mr_xstrdup("{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32603,"
                          "\"message\":\"Internal error: the answer could not be encoded\"}}");
    }
    api_reply(c, status, text);
}

/* A transport error (status 4xx) with a JSON-RPC error body and no id, as the transport allows. */
static void reply_transport(struct api_call *c, int status, int code, const char *message)
{
    reply_json(c, status, rpc_error(NULL, code, message, NULL));
}

/* ---------- the tools ---------- */

/*
 * How a create went, which REST says by status and header and a tool
 * result has no place for: added to the answer as booleans (and to the
 * output schema), so a model learns that it was given a stored memory.
 */
enum outcome {
    OUTCOME_NONE = 0,
    OUTCOME_CREATE,  /* POST /api/memories: duplicate (X-Memori-Duplicate), merged (-Merged) */
    OUTCOME_EXAMPLE, /* POST /api/examples: duplicate (200, not 201) */
};

/*
 * A tool: its description for tools/list and how it runs. A tool whose
 * arguments are a REST body names that handler (rest); the others have
 * their own runner.
 */
struct tool {
    const char *name;
    const char *title;
    const char *description;
    const char *input;       /* its arguments' field set (fields.h), or NULL: input_json */
    const char *input_json;  /* a literal schema */
    const char *output;      /* its answer's schema (openapi.c), or NULL: output_json */
    const char *output_json; /* a literal schema */
    bool read_only, destructive, idempotent;
    enum outcome outcome; /* what the answer adds to REST's body */
    api_handler rest;
    /* The REST-shaped answer to args: *out_status and *out_body (malloc'd JSON or NULL). */
    void (*run)(struct api_call *c, const struct mr_json *args, int *out_status, char **out_body);
};

/*
 * Runs REST handler fn for c's caller as if body were the request's body and
 * param its path parameter, and hands back what it answered: status, body
 * and its extra header line (static text or NULL; out_header may be NULL).
 */
static void run_rest(struct api_call *c, api_handler fn, const char *body, const char *param,
                     int *out_status, char **out_body, const char **out_header)
{
    struct mr_http_request req = *c->req; /* the headers stay the POST's */
    req.body = body;
    req.body_len = strlen(body);
    struct mr_http_response res = {0};
    struct api_call sub = *c;
    sub.req = &req;
    sub.res = &res;
    sub.params[0] = param ? param : "";
    sub.params[1] = "";
    fn(&sub);
    *out_status = res.status;
    *out_body = res.body;
    if (out_header)
        *out_header = res.extra_header;
}

/* forget: DELETE /api/memories/{memory_id}, the argument as the path parameter. */
static void run_forget(struct api_call *c, const struct mr_json *args, int *out_status,
                       char **out_body)
{
    const struct mr_json *v = mr_json_get(args, "memory_id");
    const char *id = mr_json_string_value(v);
    if (!id || strlen(id) != mr_json_string_length(v)) {
        *out_status = 422;
        *out_body =
            v ? api_encode_param_error("path", "memory_id", "string_type",
                                       "Input should be a valid string", NULL)
              : api_encode_param_error("path", "memory_id", "missing", "Field required", NULL);
        return;
    }
    run_rest(c, api_memory_delete, "", id, out_status, out_body, NULL);
    if (*out_status == 204) {
        char uuid[MR_UUID_LEN];
        mr_uuid_parse(id, strlen(id), uuid);
        struct mr_json *o = mr_json_with(mr_json_object(), "memory_id", mr_json_string(uuid));
        o = mr_json_with(o, "deleted", mr_json_bool(true));
        *out_status = 200;
        *out_body = mr_json_print(o, 15);
        mr_json_free(o);
    }
}

/* An integer argument of f (a query field of fields.h); false after the 422 into *out_body. */
static bool int_argument(const struct mr_json *args, const struct api_field *f, int64_t *out,
                         char **out_body)
{
    const struct mr_json *v = mr_json_get(args, f->name);
    *out = f->def;
    if (!v)
        return true;
    char msg[96];
    if (!mr_json_is_integer(v)) {
        *out_body = api_encode_param_error("query", f->name, "int_type",
                                           "Input should be a valid integer", NULL);
        return false;
    }
    int64_t x = mr_json_integer_value(v);
    if (x < f->min || x > f->max) {
        snprintf(msg, sizeof msg, "Input should be %s than or equal to %lld",
                 x < f->min ? "greater" : "less", x < f->min ? f->min : f->max);
        *out_body = api_encode_param_error(
            "query", f->name, x < f->min ? "greater_than_equal" : "less_than_equal", msg, NULL);
        return false;
    }
    *out = x;
    return true;
}

/* list_conversations: GET /api/conversations, limit and offset as the query's. */
static void run_list_conversations(struct api_call *c, const struct mr_json *args, int *out_status,
                                   char **out_body)
{
    struct mr_page p;
    if (!int_argument(args, &api_page_query[PQ_LIMIT], &p.limit, out_body) ||
        !int_argument(args, &api_page_query[PQ_OFFSET], &p.offset, out_body)) {
        *out_status = 422;
        return;
    }
    struct mr_conversation *v = NULL;
    size_t n = 0;
    int64_t total = 0;
    struct mr_err err;
    struct mr_http_response res = {0};
    struct api_call sub = *c;
    sub.res = &res;
    if (mr_conversation_list(c->api->svc, &c->who, p, &v, &n, &total, &err) != 0)
        api_reply_error(&sub, &err);
    else
        api_reply(&sub, 200,
                  api_encode_conversation_page(v, n, total, p, c->api->max_response_bytes));
    for (size_t i = 0; i < n; i++)
        mr_conversation_clear(&v[i]);
    free(v);
    *out_status = res.status;
    *out_body = res.body;
}

static const struct tool tools[] = {
    {"remember", "Remember",
     "Store a memory for the caller: a rule or preference (memory_type rule), a fact about a "
     "table (entity) or a join (relationship), a note of the current conversation (short_term, "
     "expires after a week unless used), a lasting one (long_term) or a question -> SQL pair "
     "as text (example; learn_example stores one with its SQL parsed and checked). "
     "conversation_id is a UUID the client chooses; an unknown one is created. The same as POST "
     "/api/memories: the same fact again answers the stored memory (duplicate true), and with "
     "dedup merge a near duplicate is merged into one (merged true).",
     "MemoryCreate", NULL, "Memory", NULL, false, false, false, OUTCOME_CREATE, api_memory_create,
     NULL},
    {"recall", "Recall",
     "Search the caller's memories for a query, best first: hybrid ranking (meaning and exact "
     "words) by default, or mode semantic or lexical; filters memory_types, limit, "
     "min_similarity, conversation_id. Each result carries similarity_score and its semantic and "
     "lexical scores, and counts as used. The same as POST /api/memories/search.",
     "MemorySearch", NULL, "SearchResults", NULL, false, false, false, OUTCOME_NONE,
     api_memory_search, NULL},
    {"get_context", "Get context for a question",
     "What a Text2SQL prompt needs for a question: the caller's rules, the data source's tables "
     "that matter and the joins connecting them, similar question -> SQL examples, the "
     "conversation's recent turns, and a prompt rendering them within token_budget. The same as "
     "POST /api/context.",
     "ContextRequest", NULL, "Context", NULL, false, false, false, OUTCOME_NONE, api_context, NULL},
    {"learn_example", "Learn a question -> SQL example",
     "Store a question and the SQL that answers it for a data source; the SQL is parsed and "
     "checked against the data source's stored schema, and the same question and SQL again "
     "returns the stored example instead of a copy (duplicate true). The same as POST "
     "/api/examples.",
     "ExampleCreate", NULL, "Memory", NULL, false, false, true, OUTCOME_EXAMPLE, api_example_create,
     NULL},
    {"forget", "Forget a memory",
     "Delete one of the caller's memories by its memory_id. The same as DELETE "
     "/api/memories/{memory_id}.",
     NULL,
     "{\"type\":\"object\",\"required\":[\"memory_id\"],\"properties\":{\"memory_id\":"
     "{\"type\":\"string\",\"format\":\"uuid\",\"description\":\"The memory to delete.\"}}}",
     NULL,
     "{\"type\":\"object\",\"required\":[\"memory_id\",\"deleted\"],\"properties\":{"
     "\"memory_id\":{\"type\":\"string\",\"format\":\"uuid\"},\"deleted\":{\"type\":"
     "\"boolean\"}}}",
     false, true, true, OUTCOME_NONE, NULL, run_forget},
    {"list_conversations", "List conversations",
     "The caller's conversations, newest activity first, a page at a time (limit, offset). The "
     "same as GET /api/conversations.",
     "PageQuery", NULL, "ConversationPage", NULL, true, false, true, OUTCOME_NONE, NULL,
     run_list_conversations},
};
#define N_TOOLS (sizeof tools / sizeof tools[0])

static const struct tool *find_tool(const char *name)
{
    for (size_t i = 0; name && i < N_TOOLS; i++)
        if (strcmp(tools[i].name, name) == 0)
            return &tools[i];
    return NULL;
}

/* A schema by name (api_json_schema) or from literal text; aborts when neither builds (a bug). */
static struct mr_json *schema(const char *name, const char *literal, size_t max_items)
{
    struct mr_json *s =
        name ? api_json_schema(name, max_items) : mr_json_parse(literal, strlen(literal), NULL);
    if (!s) {
        fprintf(stderr, "memori: the MCP tool schema %s does not build\n", name ? name : literal);
        abort();
    }
    return s;
}

/* One boolean of an outcome: its name, and what it means (the output schema's description). */
struct outcome_field {
    const char *name, *description;
};
static const struct outcome_field create_fields[] = {
    {"duplicate", "The same fact was stored already: this is that memory, its access counted "
                  "(REST: 200 with X-Memori-Duplicate: true)."},
    {"merged", "A near duplicate (dedup merge) took this one in: this is that memory "
               "(REST: 200 with X-Memori-Merged: true)."},
    {NULL, NULL},
};
static const struct outcome_field example_fields[] = {
    {"duplicate", "The same question and SQL fingerprint was stored already for the data "
                  "source: this is that example, not a copy (REST: 200 instead of 201)."},
    {NULL, NULL},
};

static const struct outcome_field *outcome_fields(enum outcome o)
{
    return o == OUTCOME_CREATE ? create_fields : o == OUTCOME_EXAMPLE ? example_fields : NULL;
}

/* Output schema s (an object's) with o's booleans, required, among its properties. */
static struct mr_json *with_outcome_schema(struct mr_json *s, enum outcome o)
{
    struct mr_json *props = (struct mr_json *)mr_json_get(s, "properties");
    struct mr_json *required = (struct mr_json *)mr_json_get(s, "required");
    for (const struct outcome_field *f = outcome_fields(o); f && f->name; f++) {
        struct mr_json *b = mr_json_with(mr_json_object(), "type", mr_json_string("boolean"));
        b = mr_json_with(b, "description", mr_json_string(f->description));
        if (!props || !required || mr_json_set(props, f->name, b) != 0 ||
            mr_json_append(required, mr_json_string(f->name)) != 0) {
            fprintf(stderr, "memori: the MCP outcome %s does not build\n", f->name);
            abort();
        }
    }
    return s;
}

/* A successful answer (an object) with o's booleans, read off REST's status and header. */
static void add_outcome(struct mr_json *answer, enum outcome o, int status, const char *header)
{
    bool stored = status == 201; /* both creates answer a stored one 200 */
    if (o == OUTCOME_CREATE) {
        bool merged = !stored && header && strstr(header, "X-Memori-Merged") != NULL;
        mr_json_set(answer, "duplicate", mr_json_bool(!stored && !merged));
        mr_json_set(answer, "merged", mr_json_bool(merged));
    } else if (o == OUTCOME_EXAMPLE) {
        mr_json_set(answer, "duplicate", mr_json_bool(!stored));
    }
}

/*
 * tools/list's "tools", built on the first call and the same text after
 * (the tables are static, and so is the one process's max_list_items).
 */
static char *tools_text;
static pthread_mutex_t tools_lock = PTHREAD_MUTEX_INITIALIZER;

static char *build_tools(size_t max_items)
{
    struct mr_json *list = mr_json_array();
    for (size_t i = 0; i < N_TOOLS; i++) {
        const struct tool *t = &tools[i];
        struct mr_json *ann = mr_json_with(mr_json_object(), "title", mr_json_string(t->title));
        ann = mr_json_with(ann, "readOnlyHint", mr_json_bool(t->read_only));
        ann = mr_json_with(ann, "destructiveHint", mr_json_bool(t->destructive));
        ann = mr_json_with(ann, "idempotentHint", mr_json_bool(t->idempotent));
        ann = mr_json_with(ann, "openWorldHint", mr_json_bool(false));
        struct mr_json *o = mr_json_with(mr_json_object(), "name", mr_json_string(t->name));
        o = mr_json_with(o, "title", mr_json_string(t->title));
        o = mr_json_with(o, "description", mr_json_string(t->description));
        o = mr_json_with(o, "inputSchema", schema(t->input, t->input_json, max_items));
        o = mr_json_with(
            o, "outputSchema",
            with_outcome_schema(schema(t->output, t->output_json, max_items), t->outcome));
        o = mr_json_with(o, "annotations", ann);
        if (mr_json_append(list, o) != 0) {
            fprintf(stderr, "memori: the MCP tool %s does not build\n", t->name);
            abort();
        }
    }
    char *text = mr_json_print(list, 15);
    mr_json_free(list);
    return text;
}

static struct mr_json *tools_list(const struct mr_api *api)
{
    pthread_mutex_lock(&tools_lock);
    if (!tools_text)
        tools_text = build_tools(api->max_list_items);
    const char *text = tools_text;
    pthread_mutex_unlock(&tools_lock);
    return mr_json_with(mr_json_object(), "tools", mr_json_parse(text, strlen(text), NULL));
}

/* A 422 body's errors as one message naming the arguments: "arguments.limit: ...; ...". */
static void describe_invalid(const struct mr_json *detail, char *out, size_t cap)
{
    size_t o = (size_t)snprintf(out, cap, "Invalid params:");
    for (size_t i = 0; i < mr_json_size(detail) && i < 3 && o < cap; i++) {
        const struct mr_json *e = mr_json_at(detail, i), *loc = mr_json_get(e, "loc");
        o += (size_t)snprintf(out + o, cap - o, "%s arguments", i ? ";" : "");
        /* loc[0] is where REST read it (body, path, query): here, always the arguments. */
        for (size_t k = 1; k < mr_json_size(loc) && o < cap; k++) {
            const struct mr_json *part = mr_json_at(loc, k);
            if (mr_json_is_string(part))
                o += (size_t)snprintf(out + o, cap - o, ".%s", mr_json_string_value(part));
            else
                o += (size_t)snprintf(out + o, cap - o, "[%lld]",
                                      (long long)mr_json_integer_value(part));
        }
        if (o < cap) {
            const char *msg = mr_json_string_value(mr_json_get(e, "msg"));
            o += (size_t)snprintf(out + o, cap - o, ": %s", msg ? msg : "invalid");
        }
    }
    if (o < cap && mr_json_size(detail) > 3)
        snprintf(out + o, cap - o, "; and %zu more", mr_json_size(detail) - 3);
}

/* A tool result: the content items and, for a success, the structured answer. */
static struct mr_json *tool_result(const char *text, struct mr_json *structured, bool is_error)
{
    struct mr_json *item = mr_json_with(mr_json_object(), "type", mr_json_string("text"));
    item = mr_json_with(item, "text", mr_json_string(text));
    struct mr_json *content = mr_json_array();
    mr_json_append(content, item);
    struct mr_json *r = mr_json_with(mr_json_object(), "content", content);
    if (structured)
        r = mr_json_with(r, "structuredContent", structured);
    if (is_error)
        r = mr_json_with(r, "isError", mr_json_bool(true));
    return r;
}

/* tools/call: params {name, arguments?}. */
static struct mr_json *tools_call(struct api_call *c, const struct mr_json *id,
                                  const struct mr_json *params)
{
    const struct mr_json *name = mr_json_get(params, "name");
    const struct mr_json *args = mr_json_get(params, "arguments");
    char msg[1024];
    if (!mr_json_is_string(name))
        return rpc_error(id, RPC_INVALID_PARAMS,
                         "Invalid params: params.name, the tool's name, is required (a string)",
                         NULL);
    const struct tool *t = find_tool(mr_json_string_value(name));
    if (!t) {
        snprintf(msg, sizeof msg, "Invalid params: unknown tool %.200s (tools/list names them)",
                 mr_json_string_value(name));
        return rpc_error(id, RPC_INVALID_PARAMS, msg, NULL);
    }
    if (args && !mr_json_is_object(args) && !mr_json_is_null(args))
        return rpc_error(id, RPC_INVALID_PARAMS,
                         "Invalid params: params.arguments must be an object", NULL);

    int status = 500;
    char *body = NULL;
    const char *header = NULL;
    struct mr_json *empty = NULL;
    if (!mr_json_is_object(args))
        args = empty = mr_json_object();
    if (t->run) {
        t->run(c, args, &status, &body);
    } else {
        char *text = mr_json_print(args, 0);
        run_rest(c, t->rest, text ? text : "{}", NULL, &status, &body, &header);
        free(text);
    }
    mr_json_free(empty);

    struct mr_json *answer = body ? mr_json_parse(body, strlen(body), NULL) : NULL, *out;
    if (status >= 200 && status < 300 && mr_json_is_object(answer)) {
        if (t->outcome != OUTCOME_NONE) {
            /* The text says what structuredContent says, the outcome included. */
            add_outcome(answer, t->outcome, status, header);
            char *text = mr_json_print(answer, 15);
            if (text) {
                free(body);
                body = text;
            }
        }
        out = rpc_result(id, tool_result(body, mr_json_ref(answer), false));
    } else if (status == 422) {
        const struct mr_json *detail = mr_json_get(answer, "detail");
        describe_invalid(detail, msg, sizeof msg);
        struct mr_json *data =
            mr_json_with(mr_json_object(), "detail", mr_json_ref((void *)detail));
        out = rpc_error(id, RPC_INVALID_PARAMS, msg, data);
    } else {
        /* REST's message, as a tool error the model can read and act on. */
        const char *detail = mr_json_string_value(mr_json_get(answer, "detail"));
        snprintf(msg, sizeof msg, "%s", detail ? detail : body ? body : "the tool failed");
        out = rpc_result(id, tool_result(msg, NULL, true));
    }
    mr_json_free(answer);
    free(body);
    return out;
}

/* ---------- messages ---------- */

/* The session a POST belongs to: what its initialize negotiated. */
struct session {
    char version[MR_MCP_VERSION_MAX];
};

static struct mr_json *initialize(struct api_call *c, const struct mr_json *id,
                                  const struct mr_json *params)
{
    /*
     * The answer's "Mcp-Session-Id: ..." line: the server formats the answer
     * on this thread right after the handler returns, before its next request.
     */
    static __thread char header[MR_MCP_SESSION_MAX + 32];
    char session_id[MR_MCP_SESSION_MAX];
    const char *asked = mr_json_string_value(mr_json_get(params, "protocolVersion"));
    if (!asked)
        return rpc_error(id, RPC_INVALID_PARAMS,
                         "Invalid params: params.protocolVersion is required (a string)", NULL);
    /* Version negotiation: the client's when we speak it, else our latest (it may then leave). */
    const char *version = supported(asked) ? asked : LATEST_VERSION;
    mr_auth_mcp_session_new(c->api->auth, &c->principal, version, session_id);
    snprintf(header, sizeof header, "Mcp-Session-Id: %s", session_id);
    c->res->extra_header = header;

    struct mr_json *caps =
        mr_json_with(mr_json_object(), "tools", mr_json_object()); /* no listChanged: fixed */
    struct mr_json *info = mr_json_with(mr_json_object(), "name", mr_json_string("memori"));
    info = mr_json_with(info, "title", mr_json_string("memori: memory for Text2SQL assistants"));
    info = mr_json_with(info, "version", mr_json_string(c->api->version ? c->api->version : "0"));
    struct mr_json *r = mr_json_with(mr_json_object(), "protocolVersion", mr_json_string(version));
    r = mr_json_with(r, "capabilities", caps);
    r = mr_json_with(r, "serverInfo", info);
    r = mr_json_with(
        r, "instructions",
        mr_json_string("memori remembers, per user, what a Text2SQL assistant should know: rules "
                       "and preferences, tables and joins, question -> SQL examples, the "
                       "conversation so far. Call get_context with the user's question before "
                       "writing SQL; remember what the user asks you to keep; learn_example "
                       "when SQL is confirmed right; recall to search; forget to delete."));
    return rpc_result(id, r);
}

/* Whether id is one JSON-RPC allows here: a string or an integer (MCP: never null). */
static bool id_ok(const struct mr_json *id)
{
    return mr_json_is_string(id) || mr_json_is_integer(id);
}

/*
 * The structural check of one message: NULL when it is a request, a
 * notification or a response, else the -32600 answer.
 */
static struct mr_json *invalid(const struct mr_json *m)
{
    if (!mr_json_is_object(m))
        return rpc_error(NULL, RPC_INVALID_REQUEST,
                         "Invalid Request: a JSON-RPC message is an object", NULL);
    const struct mr_json *id = mr_json_get(m, "id"), *method = mr_json_get(m, "method");
    const char *v = mr_json_string_value(mr_json_get(m, "jsonrpc"));
    if (!v || strcmp(v, "2.0") != 0)
        return rpc_error(id_ok(id) ? id : NULL, RPC_INVALID_REQUEST,
                         "Invalid Request: jsonrpc must be \"2.0\"", NULL);
    if (id && !id_ok(id))
        return rpc_error(NULL, RPC_INVALID_REQUEST,
                         "Invalid Request: id must be a string or an integer", NULL);
    if (!method) {
        /* A response to a request of ours: we send none, so it is accepted and dropped. */
        if (id && (mr_json_get(m, "result") || mr_json_get(m, "error")))
            return NULL;
        return rpc_error(id, RPC_INVALID_REQUEST, "Invalid Request: method is required", NULL);
    }
    if (!mr_json_is_string(method))
        return rpc_error(id, RPC_INVALID_REQUEST, "Invalid Request: method must be a string", NULL);
    return NULL;
}

/*
 * The answer to one valid message of a session, or NULL when it needs none
 * (a notification, a response).
 */
static struct mr_json *dispatch(struct api_call *c, const struct mr_json *m, bool in_batch)
{
    const struct mr_json *id = mr_json_get(m, "id"), *params = mr_json_get(m, "params");
    const char *method = mr_json_string_value(mr_json_get(m, "method"));
    if (!method || !id)
        return NULL; /* notifications (initialized, cancelled, ...) need nothing from us */
    if (params && !mr_json_is_object(params))
        return rpc_error(id, RPC_INVALID_PARAMS, "Invalid params: params must be an object", NULL);
    if (strcmp(method, "initialize") == 0)
        return in_batch ? rpc_error(id, RPC_INVALID_REQUEST,
                                    "Invalid Request: initialize must not be part of a batch", NULL)
                        : initialize(c, id, params);
    if (strcmp(method, "ping") == 0)
        return rpc_result(id, mr_json_object());
    if (strcmp(method, "tools/list") == 0)
        return rpc_result(id, tools_list(c->api));
    if (strcmp(method, "tools/call") == 0)
        return tools_call(c, id, params);
    char msg[300];
    snprintf(msg, sizeof msg, "Method not found: %.200s", method);
    return rpc_error(id, RPC_METHOD_NOT_FOUND, msg, NULL);
}

/* ---------- the transport ---------- */

/*
 * DNS rebinding (the transport's MUST): a browser's Origin must be this
 * server's own (its Host); clients outside a browser send none.
 */
static bool origin_ok(const struct api_call *c)
{
    const char *origin = mr_http_header(c->req, "Origin");
    if (!origin)
        return true;
    const char *host = mr_http_header(c->req, "Host");
    const char *sep = strstr(origin, "://");
    return host && sep && strcasecmp(sep + 3, host) == 0;
}

/* The client accepts JSON (or says nothing): we never answer an SSE stream. */
static bool accepts_json(const struct api_call *c)
{
    const char *accept = mr_http_header(c->req, "Accept");
    return !accept || strcasestr(accept, "application/json") || strcasestr(accept, "*/*") ||
           strcasestr(accept, "application/*");
}

/*
 * Every message but initialize belongs to a session: its id checked (400
 * when absent, 404 when not ours), and a MCP-Protocol-Version header, when
 * sent, must be the session's. False after replying.
 */
static bool check_session(struct api_call *c, struct session *s)
{
    const char *id = mr_http_header(c->req, "Mcp-Session-Id");
    if (!id) {
        reply_transport(c, 400, RPC_TRANSPORT,
                        "Bad Request: Mcp-Session-Id header is required; send initialize first");
        return false;
    }
    if (!mr_auth_mcp_session_check(c->api->auth, &c->principal, id, s->version)) {
        reply_transport(c, 404, RPC_NO_SESSION,
                        "Session not found: send initialize again, without Mcp-Session-Id");
        return false;
    }
    const char *header = mr_http_header(c->req, "MCP-Protocol-Version");
    if (header && strcmp(header, s->version) != 0) {
        char msg[200];
        snprintf(msg, sizeof msg,
                 "Bad Request: MCP-Protocol-Version %.40s is not the session's (%s)", header,
                 s->version);
        reply_transport(c, 400, RPC_TRANSPORT, msg);
        return false;
    }
    return true;
}

/* A JSON array of messages: answered in a BATCH_VERSION session, refused in later ones. */
static void batch(struct api_call *c, const struct mr_json *msgs)
{
    struct session s = {0};
    if (!check_session(c, &s))
        return;
    if (strcmp(s.version, BATCH_VERSION) != 0) {
        char msg[200];
        snprintf(msg, sizeof msg,
                 "Invalid Request: protocol version %s has no batches; send one message a POST",
                 s.version);
        reply_transport(c, 400, RPC_INVALID_REQUEST, msg);
        return;
    }
    if (mr_json_size(msgs) == 0) {
        reply_transport(c, 400, RPC_INVALID_REQUEST, "Invalid Request: an empty batch");
        return;
    }
    struct mr_json *answers = mr_json_array();
    for (size_t i = 0; i < mr_json_size(msgs); i++) {
        const struct mr_json *m = mr_json_at(msgs, i);
        struct mr_json *a = invalid(m);
        if (!a)
            a = dispatch(c, m, true);
        if (a && mr_json_append(answers, a) != 0) {
            mr_json_free(answers);
            reply_json(c, 500, NULL);
            return;
        }
    }
    if (mr_json_size(answers) == 0) {
        mr_json_free(answers);
        api_reply(c, 202, NULL); /* notifications and responses only */
        return;
    }
    reply_json(c, 200, answers);
}

void api_mcp(struct api_call *c)
{
    struct mr_json_error perr;
    struct mr_json *msg = NULL;
    char *verr = NULL;
    if (!origin_ok(c)) {
        reply_transport(c, 403, RPC_TRANSPORT, "Forbidden: the Origin is not this server's");
        goto out;
    }
    if (!accepts_json(c)) {
        reply_transport(c, 406, RPC_TRANSPORT,
                        "Not Acceptable: memori answers application/json; accept it");
        goto out;
    }
    if (api_check_content_type(mr_http_header(c->req, "Content-Type"), c->req->body,
                               c->req->body_len, &verr) != 0) {
        reply_transport(c, 415, RPC_TRANSPORT,
                        "Unsupported Media Type: Content-Type must be application/json");
        goto out;
    }
    const char *header = mr_http_header(c->req, "MCP-Protocol-Version");
    if (header && !supported(header)) {
        char text[200];
        snprintf(text, sizeof text,
                 "Bad Request: unsupported MCP-Protocol-Version %.40s (supported: %s, %s)", header,
                 versions[0], versions[1]);
        reply_transport(c, 400, RPC_TRANSPORT, text);
        goto out;
    }
    msg = mr_json_parse(c->req->body, c->req->body_len, &perr);
    if (!msg) {
        char text[240];
        snprintf(text, sizeof text, "Parse error: %s (at byte %zu)", perr.text, perr.position);
        reply_json(c, 400, rpc_error(NULL, RPC_PARSE_ERROR, text, NULL));
        goto out;
    }
    if (mr_json_is_array(msg)) {
        batch(c, msg);
        goto out;
    }
    struct mr_json *a = invalid(msg);
    if (a) {
        reply_json(c, 400, a);
        goto out;
    }
    const char *method = mr_json_string_value(mr_json_get(msg, "method"));
    bool init = method && strcmp(method, "initialize") == 0 && mr_json_get(msg, "id");
    struct session s = {0};
    if (!init && !check_session(c, &s))
        goto out;
    a = dispatch(c, msg, false);
    if (!a)
        api_reply(c, 202, NULL);
    else
        reply_json(c, 200, a);
out:
    free(verr);
    mr_json_free(msg);
}
