/*
 * openapi.c — GET /openapi.json (DESIGN.md §11): the OpenAPI 3.1 document,
 * generated from the router's table (paths, methods, identities and each
 * route's struct api_route_doc) and the field sets of fields.h (request
 * bodies and parameters with their limits and enums), so a route or field
 * added there appears here without a second edit. The answers' schemas are
 * written below (the encoders of codec.c build them field by field). Built
 * once, at start-up; the text is static after.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "fields.h"
#include "handlers.h"
#include "memori/fusion.h"
#include "memori/json.h"
#include "memori/sql.h"
#include "memori/types.h"
#include "memori/util.h"

/*
 * The answers' schemas as JSON with single quotes (none of the texts holds
 * one), turned into double quotes when read, so they stay readable here.
 */
static const char ANSWERS[] =
    "{"
    "'Memory': {'type': 'object', 'required': ['id', 'memory_id', 'conversation_id', 'user_id',"
    " 'tenant_id', 'content', 'memory_type', 'importance_score', 'access_count', 'context_tags',"
    " 'related_entities', 'metadata', 'is_archived', 'shared', 'created_at', 'updated_at'],"
    " 'properties': {'id': {'type': 'integer'}, 'memory_id': {'type': 'string', 'format': 'uuid'},"
    " 'conversation_id': {'type': 'string', 'format': 'uuid'}, 'user_id': {'type': 'string'},"
    " 'tenant_id': {'type': 'string'}, 'content': {'type': 'string'},"
    " 'memory_type': {'$ref': '#/components/schemas/MemoryType'},"
    " 'importance_score': {'type': 'number'}, 'access_count': {'type': 'integer'},"
    " 'last_accessed_at': {'type': ['string', 'null'], 'format': 'date-time'},"
    " 'context_tags': {'type': 'array', 'items': {'type': 'string'}},"
    " 'related_entities': {'type': 'array', 'items': {'type': 'string'}},"
    " 'metadata': {'type': 'object'},"
    " 'expires_at': {'type': ['string', 'null'], 'format': 'date-time'},"
    " 'is_archived': {'type': 'boolean'}, 'shared': {'type': 'boolean'},"
    " 'data_source_id': {'type': ['integer', 'null']},"
    " 'created_at': {'type': 'string', 'format': 'date-time'},"
    " 'updated_at': {'type': 'string', 'format': 'date-time'}}},"
    "'SearchResult': {'allOf': [{'$ref': '#/components/schemas/Memory'}, {'type': 'object',"
    " 'required': ['similarity_score', 'scores'], 'properties': {"
    " 'similarity_score': {'type': 'number', 'description': 'The fused score.'},"
    " 'scores': {'type': 'object', 'properties': {'semantic': {'type': 'number'},"
    " 'lexical': {'type': 'number'}}}}}]},"
    "'SearchResults': {'type': 'object', 'required': ['results', 'total', 'query', 'mode',"
    " 'truncated'], 'properties': {'results': {'type': 'array', 'items':"
    " {'$ref': '#/components/schemas/SearchResult'}}, 'total': {'type': 'integer'},"
    " 'query': {'type': 'string'}, 'mode': {'$ref': '#/components/schemas/SearchMode'},"
    " 'truncated': {'type': 'boolean', 'description': 'Fewer results: the answer would have"
    " passed MEMORI_MAX_RESPONSE_BYTES.'}}},"
    "'MemoryPage': {'type': 'object', 'required': ['memories', 'total', 'limit', 'offset',"
    " 'truncated'], 'properties': {'memories': {'type': 'array', 'items':"
    " {'$ref': '#/components/schemas/Memory'}}, 'total': {'type': 'integer'},"
    " 'limit': {'type': 'integer'}, 'offset': {'type': 'integer'},"
    " 'truncated': {'type': 'boolean'}}},"
    "'HistoryEvent': {'type': 'object', 'required': ['id', 'memory_id', 'kind', 'actor',"
    " 'created_at', 'changes'], 'properties': {'id': {'type': 'integer'},"
    " 'memory_id': {'type': 'string', 'format': 'uuid'}, 'kind': {'type': 'string', 'enum':"
    " ['create', 'update', 'promote', 'archive', 'merge', 'duplicate', 'delete', 'supersede']},"
    " 'actor': {'type': 'string'}, 'created_at': {'type': 'string', 'format': 'date-time'},"
    " 'changes': {'type': 'object', 'description': 'Each changed field: {old, new}.',"
    " 'additionalProperties': {'type': 'object', 'properties': {'old': {}, 'new': {}}}}}},"
    "'HistoryPage': {'type': 'object', 'required': ['events', 'total', 'limit', 'offset',"
    " 'truncated'], 'properties': {'events': {'type': 'array', 'items':"
    " {'$ref': '#/components/schemas/HistoryEvent'}}, 'total': {'type': 'integer'},"
    " 'limit': {'type': 'integer'}, 'offset': {'type': 'integer'},"
    " 'truncated': {'type': 'boolean'}}},"
    "'Conversation': {'type': 'object', 'required': ['id', 'conversation_id', 'user_id',"
    " 'tenant_id', 'metadata', 'is_active', 'created_at', 'updated_at'], 'properties': {"
    " 'id': {'type': 'integer'}, 'conversation_id': {'type': 'string', 'format': 'uuid'},"
    " 'user_id': {'type': 'string'}, 'tenant_id': {'type': 'string'},"
    " 'data_source_id': {'type': ['integer', 'null']}, 'title': {'type': ['string', 'null']},"
    " 'metadata': {'type': 'object'}, 'is_active': {'type': 'boolean'},"
    " 'last_activity_at': {'type': ['string', 'null'], 'format': 'date-time'},"
    " 'created_at': {'type': 'string', 'format': 'date-time'},"
    " 'updated_at': {'type': 'string', 'format': 'date-time'}}},"
    "'ConversationPage': {'type': 'object', 'required': ['conversations', 'total', 'limit',"
    " 'offset', 'truncated'], 'properties': {'conversations': {'type': 'array', 'items':"
    " {'$ref': '#/components/schemas/Conversation'}}, 'total': {'type': 'integer'},"
    " 'limit': {'type': 'integer'}, 'offset': {'type': 'integer'},"
    " 'truncated': {'type': 'boolean'}}},"
    "'Statistics': {'type': 'object', 'required': ['total_memories', 'by_type', 'archived',"
    " 'average_importance'], 'properties': {'total_memories': {'type': 'integer'},"
    " 'by_type': {'type': 'object', 'additionalProperties': {'type': 'integer'}},"
    " 'archived': {'type': 'integer'}, 'average_importance': {'type': 'number'}}},"
    "'ArchiveResult': {'type': 'object', 'required': ['status', 'archived_count',"
    " 'threshold_days'], 'properties': {'status': {'type': 'string', 'enum': ['success']},"
    " 'archived_count': {'type': 'integer'}, 'threshold_days': {'type': 'integer'}}},"
    "'Health': {'type': 'object', 'required': ['status', 'version', 'store', 'embedder',"
    " 'index'], 'properties': {'status': {'type': 'string', 'enum': ['ok', 'degraded',"
    " 'unavailable']}, 'version': {'type': 'string'}, 'store': {'type': 'object'},"
    " 'embedder': {'type': 'object'}, 'index': {'type': 'object'}}},"
    "'SchemaSummary': {'type': 'object', 'required': ['data_source_id', 'dialect',"
    " 'schema_hash', 'tables', 'relationships', 'added', 'updated', 'removed', 'unchanged'],"
    " 'properties': {'data_source_id': {'type': 'integer'},"
    " 'dialect': {'$ref': '#/components/schemas/SqlDialect'},"
    " 'schema_hash': {'type': 'string'}, 'tables': {'type': 'integer'},"
    " 'relationships': {'type': 'integer'},"
    " 'added': {'type': 'array', 'items': {'type': 'string'}},"
    " 'updated': {'type': 'array', 'items': {'type': 'string'}},"
    " 'removed': {'type': 'array', 'items': {'type': 'string'}},"
    " 'unchanged': {'type': 'integer'}}},"
    "'DataSourcePage': {'type': 'object', 'required': ['data_sources', 'total', 'limit',"
    " 'offset', 'truncated'], 'properties': {'data_sources': {'type': 'array', 'items': {"
    " 'type': 'object', 'required': ['data_source_id', 'dialect', 'schema_hash', 'tables',"
    " 'relationships', 'updated_at'], 'properties': {'data_source_id': {'type': 'integer'},"
    " 'dialect': {'$ref': '#/components/schemas/SqlDialect'},"
    " 'schema_hash': {'type': 'string'}, 'tables': {'type': 'integer'},"
    " 'relationships': {'type': 'integer'},"
    " 'updated_at': {'type': ['string', 'null'], 'format': 'date-time'}}}},"
    " 'total': {'type': 'integer'}, 'limit': {'type': 'integer'}, 'offset': {'type': 'integer'},"
    " 'truncated': {'type': 'boolean'}}},"
    "'DataSourceSchema': {'type': 'object', 'description': 'The stored schema: dialect and"
    " tables, as PUT takes them.', 'properties': {'dialect': {'$ref':"
    " '#/components/schemas/SqlDialect'}, 'tables': {'type': 'array', 'items': {'$ref':"
    " '#/components/schemas/SqlTable'}}}},"
    "'SqlTable': {'type': 'object', 'required': ['name', 'columns'], 'properties': {"
    " 'name': {'type': 'string'}, 'schema': {'type': ['string', 'null']},"
    " 'description': {'type': ['string', 'null']},"
    " 'columns': {'type': 'array', 'items': {'$ref': '#/components/schemas/SqlColumn'}},"
    " 'foreign_keys': {'type': ['array', 'null'], 'items': {'type': 'object',"
    " 'required': ['columns', 'references'], 'properties': {"
    " 'columns': {'type': 'array', 'items': {'type': 'string'}},"
    " 'references': {'type': 'object', 'required': ['table'], 'properties': {"
    " 'table': {'type': 'string'}, 'columns': {'type': ['array', 'null'], 'items':"
    " {'type': 'string'}}}}, 'source': {'type': 'string', 'enum': ['declared',"
    " 'inferred']}}}}}},"
    "'SqlColumn': {'type': 'object', 'required': ['name'], 'properties': {"
    " 'name': {'type': 'string'}, 'type': {'type': ['string', 'null']},"
    " 'description': {'type': ['string', 'null']},"
    " 'primary_key': {'type': ['boolean', 'null']}, 'nullable': {'type': ['boolean', 'null']}}},"
    "'Context': {'type': 'object', 'description': 'DESIGN.md section 10; docs/context.md.',"
    " 'required': ['question', 'data_source_id', 'rules', 'tables', 'joins', 'examples',"
    " 'recent', 'prompt', 'token_estimate', 'truncated'], 'properties': {"
    " 'question': {'type': 'string'}, 'data_source_id': {'type': ['integer', 'null']},"
    " 'rules': {'type': 'array', 'items': {'type': 'object', 'required': ['memory_id',"
    " 'content', 'score', 'pinned'], 'properties': {'memory_id': {'type': 'string',"
    " 'format': 'uuid'}, 'content': {'type': 'string'}, 'score': {'type': 'number'},"
    " 'pinned': {'type': 'boolean'}}}},"
    " 'tables': {'type': 'array', 'items': {'type': 'object', 'required': ['name',"
    " 'memory_id', 'score', 'reason', 'columns', 'columns_omitted'], 'properties': {"
    " 'name': {'type': 'string'}, 'memory_id': {'type': ['string', 'null']},"
    " 'score': {'type': 'number'}, 'reason': {'type': 'string', 'enum': ['matched', 'join']},"
    " 'columns': {'type': 'array', 'items': {'type': 'object', 'required': ['name', 'type',"
    " 'description', 'primary_key'], 'properties': {'name': {'type': 'string'},"
    " 'type': {'type': 'string'}, 'description': {'type': ['string', 'null']},"
    " 'primary_key': {'type': 'boolean'}}}}, 'columns_omitted': {'type': 'integer'}}}},"
    " 'joins': {'type': 'array', 'items': {'type': 'object', 'required': ['from', 'to',"
    " 'memory_id', 'inferred', 'source'], 'properties': {'from': {'type': 'string'},"
    " 'to': {'type': 'string'}, 'memory_id': {'type': ['string', 'null']},"
    " 'inferred': {'type': 'boolean'}, 'source': {'type': 'string', 'enum': ['declared',"
    " 'inferred', 'example']}}}},"
    " 'examples': {'type': 'array', 'items': {'type': 'object', 'required': ['memory_id',"
    " 'question', 'sql', 'score', 'verified'], 'properties': {'memory_id': {'type': 'string',"
    " 'format': 'uuid'}, 'question': {'type': 'string'}, 'sql': {'type': 'string'},"
    " 'score': {'type': 'number'}, 'verified': {'type': 'boolean'}}}},"
    " 'recent': {'type': 'array', 'items': {'type': 'object', 'required': ['memory_id',"
    " 'content', 'memory_type', 'created_at'], 'properties': {'memory_id': {'type': 'string',"
    " 'format': 'uuid'}, 'content': {'type': 'string'}, 'memory_type': {'$ref':"
    " '#/components/schemas/MemoryType'}, 'created_at': {'type': 'string',"
    " 'format': 'date-time'}}}},"
    " 'prompt': {'type': 'string'}, 'token_estimate': {'type': 'integer'},"
    " 'truncated': {'type': 'boolean'}, 'detail': {'type': 'string', 'description': 'Why"
    " there are no tables (no data source, or no schema for it).'}}},"
    "'HTTPError': {'type': 'object', 'required': ['detail'], 'properties': {"
    " 'detail': {'type': 'string'}}},"
    "'ValidationError': {'type': 'object', 'required': ['loc', 'msg', 'type'], 'properties': {"
    " 'loc': {'type': 'array', 'items': {'anyOf': [{'type': 'string'}, {'type': 'integer'}]}},"
    " 'msg': {'type': 'string'}, 'type': {'type': 'string'}, 'input': {},"
    " 'ctx': {'type': 'object'}}},"
    "'HTTPValidationError': {'type': 'object', 'properties': {'detail': {'type': 'array',"
    " 'items': {'$ref': '#/components/schemas/ValidationError'}}}},"
    /* POST /mcp (mcp.c): JSON-RPC 2.0 as MCP uses it. */
    "'McpMessage': {'type': 'object', 'description': 'One JSON-RPC 2.0 message: a request (id"
    " and method: initialize, ping, tools/list, tools/call), a notification (method, no id:"
    " notifications/initialized and the like) or a response to a request of the server (id"
    " and result or error).', 'required': ['jsonrpc'], 'properties': {'jsonrpc': {'const':"
    " '2.0'}, 'id': {'type': ['string', 'integer']}, 'method': {'type': 'string'}, 'params':"
    " {'type': 'object'}, 'result': {}, 'error': {}}},"
    "'McpRequestBody': {'oneOf': [{'$ref': '#/components/schemas/McpMessage'}, {'type':"
    " 'array', 'minItems': 1, 'items': {'$ref': '#/components/schemas/McpMessage'},"
    " 'description': 'A batch: answered in a 2025-03-26 session only.'}]},"
    "'McpError': {'type': 'object', 'required': ['code', 'message'], 'properties': {'code':"
    " {'type': 'integer', 'description': '-32700 parse error, -32600 invalid request, -32601"
    " method not found, -32602 invalid params (a tool argument REST answers 422 for; data.detail"
    " is that detail), -32000 a transport refusal, -32001 session not found.'}, 'message':"
    " {'type': 'string'}, 'data': {}}},"
    "'McpResponse': {'type': 'object', 'required': ['jsonrpc', 'id'], 'properties': {"
    " 'jsonrpc': {'const': '2.0'}, 'id': {'type': ['string', 'integer', 'null']}, 'result':"
    " {'type': 'object', 'description': 'tools/call: content, structuredContent, isError.'},"
    " 'error': {'$ref': '#/components/schemas/McpError'}}},"
    "'McpAnswer': {'oneOf': [{'$ref': '#/components/schemas/McpResponse'}, {'type': 'array',"
    " 'items': {'$ref': '#/components/schemas/McpResponse'}, 'description': 'The answers to"
    " a batch, one a request.'}]}"
    "}";

static struct mr_json *parse_quoted(const char *text)
{
    size_t n = strlen(text);
    char *s = mr_xmalloc(n + 1);
    for (size_t i = 0; i <= n; i++)
        s[i] = text[i] == '\'' ? '"' : text[i];
    struct mr_json *j = mr_json_parse(s, n, NULL);
    free(s);
    return j;
}

static struct mr_json *ref(const char *name)
{
    char buf[128];
    snprintf(buf, sizeof buf, "#/components/schemas/%s", name);
    return mr_json_with(mr_json_object(), "$ref", mr_json_string(buf));
}

static struct mr_json *typed(const char *type)
{
    return mr_json_with(mr_json_object(), "type", mr_json_string(type));
}

/* An enum of names[0..n) (NULLs skipped). */
static struct mr_json *enum_of(const char *const *names, size_t n)
{
    struct mr_json *values = mr_json_array();
    for (size_t i = 0; i < n; i++)
        if (names[i])
            mr_json_append(values, mr_json_string(names[i]));
    return mr_json_with(typed("string"), "enum", values);
}

/* The JSON Schema of one field, with its limits; max_items bounds the lists. */
static struct mr_json *field_schema(const struct api_field *f, size_t max_items)
{
    struct mr_json *s = NULL;
    switch (f->kind) {
    case API_STRING:
        s = typed("string");
        if (f->min > 0)
            mr_json_set(s, "minLength", mr_json_integer(f->min));
        if (f->max != API_NO_MAX)
            mr_json_set(s, "maxLength", mr_json_integer(f->max));
        break;
    case API_INTEGER:
        s = typed("integer");
        if (f->min != API_NO_MIN)
            mr_json_set(s, "minimum", mr_json_integer(f->min));
        if (f->max != API_NO_MAX)
            mr_json_set(s, "maximum", mr_json_integer(f->max));
        break;
    case API_NUMBER:
        s = typed("number");
        mr_json_set(s, "minimum", mr_json_real(f->fmin));
        mr_json_set(s, "maximum", mr_json_real(f->fmax));
        break;
    case API_BOOLEAN:
        s = typed("boolean");
        break;
    case API_UUID:
        s = mr_json_with(typed("string"), "format", mr_json_string("uuid"));
        break;
    case API_DATETIME:
        s = mr_json_with(typed("string"), "format", mr_json_string("date-time"));
        break;
    case API_OBJECT:
        s = mr_json_with(typed("object"), "additionalProperties", mr_json_bool(true));
        break;
    case API_STRINGS:
    case API_MEMORY_TYPES:
        s = mr_json_with(typed("array"), "items",
                         f->kind == API_STRINGS ? typed("string") : ref("MemoryType"));
        s = mr_json_with(s, "maxItems", mr_json_integer((int64_t)max_items));
        break;
    case API_MEMORY_TYPE:
        s = ref("MemoryType");
        break;
    case API_SEARCH_MODE:
        s = ref("SearchMode");
        break;
    case API_SQL_DIALECT:
        s = ref("SqlDialect");
        break;
    case API_SQL_TABLES:
        s = mr_json_with(typed("array"), "items", ref("SqlTable"));
        s = mr_json_with(s, "maxItems", mr_json_integer(f->max));
        break;
    case API_ENUM: {
        size_t n = 0;
        while (f->choices && f->choices[n])
            n++;
        s = enum_of(f->choices, n);
        break;
    }
    case API_UUIDS:
        s = mr_json_with(typed("array"), "items",
                         mr_json_with(typed("string"), "format", mr_json_string("uuid")));
        s = mr_json_with(s, "maxItems", mr_json_integer((int64_t)max_items));
        break;
    }
    if (f->has_def)
        mr_json_set(s, "default", mr_json_integer(f->def));
    if (f->presence == API_NULLABLE) {
        /* FastAPI's spelling of Optional[X]. */
        struct mr_json *any = mr_json_array();
        mr_json_append(any, s);
        mr_json_append(any, typed("null"));
        s = mr_json_with(mr_json_object(), "anyOf", any);
    }
    if (f->description)
        mr_json_set(s, "description", mr_json_string(f->description));
    return s;
}

/* A field set as an object schema: properties and the required ones. */
static struct mr_json *set_schema(const struct api_fields *set, size_t max_items)
{
    struct mr_json *props = mr_json_object(), *required = mr_json_array();
    for (size_t i = 0; i < set->n; i++) {
        mr_json_set(props, set->fields[i].name, field_schema(&set->fields[i], max_items));
        if (set->fields[i].presence == API_REQUIRED)
            mr_json_append(required, mr_json_string(set->fields[i].name));
    }
    struct mr_json *s = mr_json_with(typed("object"), "properties", props);
    if (mr_json_size(required))
        mr_json_set(s, "required", required);
    else
        mr_json_free(required);
    if (set->description)
        mr_json_set(s, "description", mr_json_string(set->description));
    return s;
}

static struct mr_json *parameter(const struct api_field *f, const char *in, size_t max_items)
{
    struct mr_json *p = mr_json_with(mr_json_object(), "name", mr_json_string(f->name));
    p = mr_json_with(p, "in", mr_json_string(in));
    p = mr_json_with(p, "required", mr_json_bool(strcmp(in, "path") == 0));
    /* A parameter is absent or present, never null: its schema drops the anyOf. */
    struct api_field g = *f;
    g.presence = API_OPTIONAL;
    g.description = NULL;
    p = mr_json_with(p, "schema", field_schema(&g, max_items));
    if (f->description)
        mr_json_set(p, "description", mr_json_string(f->description));
    return p;
}

static struct mr_json *json_content(struct mr_json *schema)
{
    return mr_json_with(mr_json_object(), "application/json",
                        mr_json_with(mr_json_object(), "schema", schema));
}

/* One response: description and, unless answer is NULL, its content. */
static struct mr_json *response(const char *description, const char *answer)
{
    struct mr_json *r = mr_json_with(mr_json_object(), "description", mr_json_string(description));
    if (!answer)
        return r;
    if (strchr(answer, '/')) {
        struct mr_json *schema =
            typed(strcmp(answer, "application/json") == 0 ? "object" : "string");
        return mr_json_with(r, "content",
                            mr_json_with(mr_json_object(), answer,
                                         mr_json_with(mr_json_object(), "schema", schema)));
    }
    return mr_json_with(r, "content", json_content(ref(answer)));
}

static const char *error_text(int status)
{
    switch (status) {
    case 401:
        return "No valid credentials (production: a Bearer JWT)";
    case 403:
        return "Admin privileges required";
    case 404:
        return "Not found, or another user's";
    case 409:
        return "Conflict with the current state";
    case 413:
        return "Body or schema over a limit";
    case 503:
        return "The store is unavailable";
    default:
        return "Error";
    }
}

/* Adds each status of the space-separated list, answering schema. */
static void add_statuses(struct mr_json *responses, const char *list, const char *description,
                         const char *schema)
{
    for (const char *p = list; p && *p;) {
        char *end;
        long status = strtol(p, &end, 10);
        if (end == p)
            break;
        char key[8];
        snprintf(key, sizeof key, "%ld", status);
        mr_json_set(responses, key,
                    response(description ? description : error_text((int)status),
                             schema ? schema : "HTTPError"));
        p = end;
    }
}

/* "post_api_memories_memory_id": unique, as FastAPI's generated ids are. */
static void operation_id(const char *method, const char *label, char *out, size_t cap)
{
    size_t o = 0;
    for (const char *m = method; *m && o + 1 < cap; m++)
        out[o++] = (char)(*m >= 'A' && *m <= 'Z' ? *m + 32 : *m);
    for (const char *p = label; *p && o + 1 < cap; p++) {
        char c = *p;
        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
            out[o++] = c;
        else if (c != '{' && c != '}' && o && out[o - 1] != '_')
            out[o++] = '_';
    }
    while (o && out[o - 1] == '_')
        o--;
    out[o] = '\0';
}

static struct mr_json *operation(const struct api_route *r, size_t max_items)
{
    const struct api_route_doc *d = &r->doc;
    const char *label = api_route_label(r);
    char buf[256];
    struct mr_json *op = mr_json_object();
    if (d->summary) {
        mr_json_set(op, "summary", mr_json_string(d->summary));
    } else {
        snprintf(buf, sizeof buf, "%s %s", r->method, label);
        mr_json_set(op, "summary", mr_json_string(buf));
    }
    operation_id(r->method, label, buf, sizeof buf);
    mr_json_set(op, "operationId", mr_json_string(buf));
    /* The tag: the collection ("memories", "conversations"), else the path's first segment. */
    const char *seg = strncmp(label, "/api/", 5) == 0 ? label + 5 : label + 1;
    snprintf(buf, sizeof buf, "%.*s", (int)strcspn(seg, "/"), seg);
    struct mr_json *tags = mr_json_array();
    mr_json_append(tags, mr_json_string(buf[0] ? buf : "service"));
    mr_json_set(op, "tags", tags);

    struct mr_json *params = mr_json_array();
    bool validated = false; /* some input that can be 422 */
    for (const char *p = strchr(label, '{'); p; p = strchr(p + 1, '{')) {
        snprintf(buf, sizeof buf, "%.*s", (int)strcspn(p + 1, "}"), p + 1);
        const struct api_field *f = api_path_param(buf);
        struct api_field unknown = {.name = buf, .kind = API_STRING, .max = API_NO_MAX};
        mr_json_append(params, parameter(f ? f : &unknown, "path", max_items));
        validated = true;
    }
    for (const char *q = d->query; q && *q;) {
        size_t n = strcspn(q, " ");
        snprintf(buf, sizeof buf, "%.*s", (int)n, q);
        const struct api_fields *set = api_fields_find(buf);
        for (size_t i = 0; set && i < set->n; i++)
            mr_json_append(params, parameter(&set->fields[i], "query", max_items));
        validated = true;
        q += n + (q[n] == ' ');
    }
    if (r->identity != API_ANONYMOUS) {
        /* Development and staging name the caller so (DESIGN.md §6); production ignores it. */
        struct api_field user = {.name = "X-User-Id",
                                 .kind = API_STRING,
                                 .min = 1,
                                 .max = MR_MAX_ID_CHARS,
                                 .description = "The caller outside production (default "
                                                "default_user)."};
        mr_json_append(params, parameter(&user, "header", max_items));
        validated = true;
    }
    if (mr_json_size(params))
        mr_json_set(op, "parameters", params);
    else
        mr_json_free(params);

    const struct api_fields *body = api_fields_find(d->body);
    if (body) {
        struct mr_json *rb =
            mr_json_with(mr_json_object(), "required", mr_json_bool(!body->empty_ok));
        rb = mr_json_with(rb, "content", json_content(ref(body->id)));
        mr_json_set(op, "requestBody", rb);
        validated = true;
    } else if (d->body) {
        /* A body that is no field set (POST /mcp's JSON-RPC): one of the schemas above. */
        struct mr_json *rb = mr_json_with(mr_json_object(), "required", mr_json_bool(true));
        rb = mr_json_with(rb, "content", json_content(ref(d->body)));
        mr_json_set(op, "requestBody", rb);
    }

    struct mr_json *responses = mr_json_object();
    int status = d->status ? d->status : 200;
    const char *answer = d->status == 204 ? NULL
                         : d->answer      ? d->answer
                         : d->summary     ? NULL
                                          : "application/json";
    snprintf(buf, sizeof buf, "%d", status);
    mr_json_set(responses, buf,
                response(status == 201   ? "Created"
                         : status == 204 ? "No Content"
                                         : "OK",
                         answer));
    add_statuses(responses, d->also, status == 201 ? "Already there" : NULL,
                 answer ? answer : "HTTPError");
    if (r->identity != API_ANONYMOUS)
        add_statuses(responses, "401", NULL, NULL);
    if (r->identity == API_ADMIN_SCOPE)
        add_statuses(responses, "403", NULL, NULL);
    if (d->body)
        add_statuses(responses, "413", NULL, NULL);
    add_statuses(responses, d->errors, NULL, NULL);
    for (const struct api_status_doc *e = d->statuses; e && e->status; e++) {
        snprintf(buf, sizeof buf, "%d", e->status);
        mr_json_set(responses, buf, response(e->description, e->schema));
    }
    if (validated)
        add_statuses(responses, "422", "Validation Error", "HTTPValidationError");
    if (r->identity != API_ANONYMOUS)
        add_statuses(responses, "503", NULL, NULL);
    mr_json_set(op, "responses", responses);
    if (r->identity != API_ANONYMOUS) {
        /* Bearer in production; nothing (X-User-Id) elsewhere. */
        struct mr_json *sec = mr_json_array();
        mr_json_append(sec, mr_json_object());
        struct mr_json *bearer = mr_json_with(mr_json_object(), "bearerAuth", mr_json_array());
        mr_json_append(sec, bearer);
        mr_json_set(op, "security", sec);
    }
    return op;
}

static struct mr_json *components(size_t max_items)
{
    struct mr_json *schemas = parse_quoted(ANSWERS);
    if (!schemas) {
        fprintf(stderr, "memori: openapi.c's answer schemas do not parse\n");
        abort();
    }
    const char *types[MR_MEMORY_TYPE_COUNT];
    for (int i = 0; i < MR_MEMORY_TYPE_COUNT; i++)
        types[i] = mr_memory_type_name((enum mr_memory_type)i);
    mr_json_set(schemas, "MemoryType", enum_of(types, MR_MEMORY_TYPE_COUNT));
    const char *modes[MR_SEARCH_MODES];
    for (int i = 0; i < MR_SEARCH_MODES; i++)
        modes[i] = mr_search_mode_name((enum mr_search_mode)i);
    mr_json_set(schemas, "SearchMode", enum_of(modes, MR_SEARCH_MODES));
    const char *dialects[] = {mr_sql_dialect_name(MR_SQL_POSTGRESQL),
                              mr_sql_dialect_name(MR_SQL_SQLITE)};
    mr_json_set(schemas, "SqlDialect", enum_of(dialects, 2));
    size_t n;
    const struct api_fields *sets = api_fields_all(&n);
    for (size_t i = 0; i < n; i++)
        if (!strstr(sets[i].id, "Query"))
            mr_json_set(schemas, sets[i].id, set_schema(&sets[i], max_items));
    struct mr_json *bearer = mr_json_with(typed("http"), "scheme", mr_json_string("bearer"));
    bearer = mr_json_with(bearer, "bearerFormat", mr_json_string("JWT"));
    struct mr_json *c = mr_json_with(mr_json_object(), "schemas", schemas);
    return mr_json_with(c, "securitySchemes", mr_json_with(mr_json_object(), "bearerAuth", bearer));
}

static char *build(const struct mr_api *api)
{
    size_t max_items = api->max_list_items;
    struct mr_json *info = mr_json_with(mr_json_object(), "title", mr_json_string("memori"));
    info = mr_json_with(info, "version", mr_json_string(api->version ? api->version : "0"));
    info = mr_json_with(info, "description",
                        mr_json_string("Memory for Text2SQL assistants: memories, conversations, "
                                       "hybrid search, data-source schemas and examples."));
    struct mr_json *paths = mr_json_object();
    size_t n;
    const struct api_route *routes = api_routes(&n);
    for (size_t i = 0; i < n; i++) {
        const char *label = api_route_label(&routes[i]);
        struct mr_json *item = mr_json_get(paths, label);
        if (!item) {
            mr_json_set(paths, label, mr_json_object());
            item = mr_json_get(paths, label);
        }
        char method[16];
        operation_id(routes[i].method, "", method, sizeof method);
        mr_json_set(item, method, operation(&routes[i], max_items));
    }
    struct mr_json *doc = mr_json_with(mr_json_object(), "openapi", mr_json_string("3.1.0"));
    doc = mr_json_with(doc, "info", info);
    doc = mr_json_with(doc, "paths", paths);
    doc = mr_json_with(doc, "components", components(max_items));
    char *text = doc ? mr_json_print(doc, 15) : NULL;
    mr_json_free(doc);
    return text;
}

/* ---- standalone schemas, for MCP's tools (mcp.c) ---- */

#define REF_PREFIX "#/components/schemas/"

static struct mr_json *standalone(const struct mr_json *v, const struct mr_json *schemas,
                                  int depth);

struct standalone_ctx {
    const struct mr_json *schemas;
    struct mr_json *out;
    int depth;
};

static int copy_member(const char *key, struct mr_json *v, void *ctx)
{
    struct standalone_ctx *c = ctx;
    if (strcmp(key, "$ref") == 0)
        return 0;
    return mr_json_set(c->out, key, standalone(v, c->schemas, c->depth));
}

/*
 * v with each {"$ref": "#/components/schemas/X", ...} replaced by X (its
 * siblings, a description, kept): a schema a client reads without the
 * document around it. The schemas have no cycles; the depth bound is for
 * a mistake. A new value, or NULL.
 */
static struct mr_json *standalone(const struct mr_json *v, const struct mr_json *schemas, int depth)
{
    if (depth > 32)
        return NULL;
    if (mr_json_is_array(v)) {
        struct mr_json *a = mr_json_array();
        for (size_t i = 0; i < mr_json_size(v); i++)
            if (mr_json_append(a, standalone(mr_json_at(v, i), schemas, depth + 1)) != 0) {
                mr_json_free(a);
                return NULL;
            }
        return a;
    }
    if (!mr_json_is_object(v))
        return v ? mr_json_ref((struct mr_json *)v) : NULL;
    const char *ref_to = mr_json_string_value(mr_json_get(v, "$ref"));
    struct standalone_ctx c = {schemas, mr_json_object(), depth + 1};
    if (ref_to && strncmp(ref_to, REF_PREFIX, strlen(REF_PREFIX)) == 0) {
        mr_json_free(c.out);
        c.out = standalone(mr_json_get(schemas, ref_to + strlen(REF_PREFIX)), schemas, depth + 1);
    }
    if (!c.out || mr_json_each(v, copy_member, &c) != 0) {
        mr_json_free(c.out);
        return NULL;
    }
    return c.out;
}

struct mr_json *api_json_schema(const char *name, size_t max_items)
{
    struct mr_json *comp = components(max_items), *out = NULL;
    const struct mr_json *schemas = mr_json_get(comp, "schemas");
    const struct mr_json *named = mr_json_get(schemas, name);
    const struct api_fields *set = named ? NULL : api_fields_find(name);
    if (named) {
        out = standalone(named, schemas, 0);
    } else if (set) {
        struct mr_json *s = set_schema(set, max_items);
        out = standalone(s, schemas, 0);
        mr_json_free(s);
    }
    mr_json_free(comp);
    return out;
}

static char *document;
static const struct mr_api *first_api;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void build_once(void)
{
    document = build(first_api);
}

const char *mr_api_openapi(const struct mr_api *api)
{
    /* Static: the routes and fields are, and so is the one process's max_list_items. */
    first_api = api;
    pthread_once(&once, build_once);
    return document;
}
