/*
 * GET /openapi.json and GET /docs against the real `memori serve` (issue
 * 18, items 1 and 2): every route of the router's table is in the document;
 * the document is structurally OpenAPI 3.1 (every $ref resolves, every
 * operation has responses, path parameters declared); the limits and enums
 * it states are the ones the server enforces; the README's curl bodies
 * validate against their schemas; /docs serves Swagger UI from its local
 * files only (an allow-list, a CSP), 404 with how to install when they are
 * absent; and Swagger UI in chromium runs a search against the live server
 * (tests/browser/docs.test.mjs; a missing node or chromium is a failure,
 * since the test scripts install both).
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../src/api/fields.h"
#include "../../src/api/handlers.h"
#include "http_client.h"
#include "test.h"

#define CONV "5e2b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"

static struct server srv;

static bool start(char *const *env)
{
    return server_start_fresh(&srv, "openapi", env) == 0;
}

static bool stop(void)
{
    return server_stop_checked(&srv);
}

/* The live document, parsed (json_decref), or NULL. */
static json_t *fetch_document(void)
{
    struct resp r;
    if (http(&srv, "GET", "/openapi.json", NULL, NULL, 0, &r) != 0 || r.status != 200 ||
        strncmp(r.content_type, "application/json", 16) != 0) {
        fprintf(stdout, "    GET /openapi.json: %ld %s\n", r.status, r.content_type);
        resp_free(&r);
        return NULL;
    }
    json_t *doc = json_incref(r.json);
    resp_free(&r);
    return doc;
}

static void lower(const char *s, char *out, size_t cap)
{
    size_t i = 0;
    for (; s[i] && i + 1 < cap; i++)
        out[i] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] + 32 : s[i]);
    out[i] = '\0';
}

TEST(test_every_route_of_the_table_is_in_the_document)
{
    CHECK(start(NULL));
    json_t *doc = fetch_document();
    CHECK(doc);
    json_t *paths = json_object_get(doc, "paths");
    size_t n, missing = 0, ops = 0;
    const struct api_route *routes = api_routes(&n);
    CHECK(n >= 20);
    for (size_t i = 0; i < n; i++) {
        char method[16];
        lower(routes[i].method, method, sizeof method);
        const char *label = api_route_label(&routes[i]);
        json_t *op = json_object_get(json_object_get(paths, label), method);
        if (!json_is_object(op)) {
            fprintf(stdout, "    missing: %s %s\n", routes[i].method, label);
            missing++;
        }
    }
    /* Nor more operations than routes: the document invents none. */
    const char *key;
    json_t *item;
    json_object_foreach(paths, key, item) ops += json_object_size(item);
    json_decref(doc);
    CHECK_INT(missing, 0);
    CHECK_INT(ops, n);
    CHECK(stop());
}

/* The value a local JSON pointer ("#/components/schemas/Memory") names, or NULL. */
static json_t *resolve(json_t *doc, const char *ref)
{
    if (strncmp(ref, "#/", 2) != 0)
        return NULL;
    json_t *at = doc;
    char part[256];
    for (const char *p = ref + 2; at && *p;) {
        size_t k = strcspn(p, "/");
        snprintf(part, sizeof part, "%.*s", (int)k, p);
        at = json_object_get(at, part);
        p += k + (p[k] == '/');
    }
    return at;
}

/* Counts the $refs under v that do not resolve (each printed). */
static size_t dangling_refs(json_t *doc, json_t *v, size_t *seen)
{
    size_t bad = 0;
    if (json_is_object(v)) {
        json_t *ref = json_object_get(v, "$ref");
        if (ref) {
            (*seen)++;
            if (!json_is_string(ref) || !resolve(doc, json_string_value(ref))) {
                fprintf(stdout, "    unresolved $ref %s\n",
                        json_is_string(ref) ? json_string_value(ref) : "(not a string)");
                bad++;
            }
        }
        const char *k;
        json_t *x;
        json_object_foreach(v, k, x) bad += dangling_refs(doc, x, seen);
    } else if (json_is_array(v)) {
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) bad += dangling_refs(doc, x, seen);
    }
    return bad;
}

/* Whether the operation declares a parameter name in where. */
static bool has_param(json_t *op, const char *name, const char *where)
{
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(op, "parameters"), i, p)
    {
        if (strcmp(jstr(p, "name"), name) == 0 && strcmp(jstr(p, "in"), where) == 0)
            return json_is_object(json_object_get(p, "schema"));
    }
    return false;
}

TEST(test_the_document_is_structurally_openapi_3_1)
{
    CHECK(start(NULL));
    json_t *doc = fetch_document();
    CHECK(doc);
    CHECK_STR(jstr(doc, "openapi"), "3.1.0");
    json_t *info = json_object_get(doc, "info");
    CHECK(json_is_string(json_object_get(info, "title")));
    CHECK(json_is_string(json_object_get(info, "version")));
    json_t *paths = json_object_get(doc, "paths");
    CHECK(json_is_object(paths) && json_object_size(paths) > 0);
    size_t refs = 0;
    CHECK_INT(dangling_refs(doc, doc, &refs), 0);
    CHECK(refs > 20);
    const char *path, *method;
    json_t *item, *op;
    size_t bad = 0;
    json_t *ids = json_object();
    json_object_foreach(paths, path, item)
    {
        json_object_foreach(item, method, op)
        {
            json_t *responses = json_object_get(op, "responses");
            const char *status;
            json_t *r;
            if (!json_is_object(responses) || json_object_size(responses) == 0) {
                fprintf(stdout, "    %s %s: no responses\n", method, path);
                bad++;
            }
            json_object_foreach(responses, status, r)
            {
                if (strlen(status) != 3 || status[0] < '1' || status[0] > '5' ||
                    !json_is_string(json_object_get(r, "description"))) {
                    fprintf(stdout, "    %s %s: response %s\n", method, path, status);
                    bad++;
                }
            }
            const char *id = jstr(op, "operationId");
            if (!id || json_object_get(ids, id)) {
                fprintf(stdout, "    %s %s: operationId %s\n", method, path, id ? id : "-");
                bad++;
            } else {
                json_object_set_new(ids, id, json_true());
            }
            /* Each {name} of the path is a declared, required path parameter. */
            for (const char *b = strchr(path, '{'); b; b = strchr(b + 1, '{')) {
                char name[64];
                snprintf(name, sizeof name, "%.*s", (int)strcspn(b + 1, "}"), b + 1);
                if (!has_param(op, name, "path")) {
                    fprintf(stdout, "    %s %s: path parameter %s\n", method, path, name);
                    bad++;
                }
            }
        }
    }
    json_decref(ids);
    /* The statuses the brief names, where they belong. */
    json_t *create = json_object_get(json_object_get(paths, "/api/memories"), "post");
    json_t *resp = json_object_get(create, "responses");
    const char *want[] = {"201", "401", "404", "413", "422", "503"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        if (!json_object_get(resp, want[i])) {
            fprintf(stdout, "    POST /api/memories lacks %s\n", want[i]);
            bad++;
        }
    json_t *v422 = resolve(doc, "#/components/schemas/ValidationError");
    json_t *req = json_object_get(v422, "required");
    bool loc = false, msg = false, type = false;
    size_t i;
    json_t *x;
    json_array_foreach(req, i, x)
    {
        loc |= strcmp(json_string_value(x), "loc") == 0;
        msg |= strcmp(json_string_value(x), "msg") == 0;
        type |= strcmp(json_string_value(x), "type") == 0;
    }
    bool promote409 = json_object_get(
        json_object_get(
            json_object_get(json_object_get(paths, "/api/memories/{memory_id}/promote"), "post"),
            "responses"),
        "409");
    bool stats403 = json_object_get(
        json_object_get(
            json_object_get(json_object_get(paths, "/api/memories/statistics/summary"), "get"),
            "responses"),
        "403");
    bool delete204 = json_object_get(
        json_object_get(
            json_object_get(json_object_get(paths, "/api/memories/{memory_id}"), "delete"),
            "responses"),
        "204");
    json_decref(doc);
    CHECK_INT(bad, 0);
    CHECK(loc && msg && type);
    CHECK(promote409 && stats403 && delete204);
    CHECK(stop());
}

/*
 * POST /mcp: its body is a JSON-RPC message or a batch of them, and its
 * answers are listed with what each means: 200 (the answers), 202 (no
 * body), and the transport's refusals, each a JSON-RPC error.
 */
TEST(test_mcp_has_its_request_body_and_every_answer)
{
    CHECK(start(NULL));
    json_t *doc = fetch_document();
    CHECK(doc);
    json_t *op = json_object_get(json_object_get(json_object_get(doc, "paths"), "/mcp"), "post");
    json_t *body = json_object_get(
        json_object_get(json_object_get(json_object_get(op, "requestBody"), "content"),
                        "application/json"),
        "schema");
    CHECK_STR(jstr(body, "$ref"), "#/components/schemas/McpRequestBody");
    json_t *one_of = json_object_get(resolve(doc, "#/components/schemas/McpRequestBody"), "oneOf");
    CHECK_INT(json_array_size(one_of), 2);
    CHECK_STR(jstr(json_array_get(one_of, 0), "$ref"), "#/components/schemas/McpMessage");
    CHECK_STR(jstr(json_array_get(one_of, 1), "type"), "array");
    json_t *msg = resolve(doc, "#/components/schemas/McpMessage");
    CHECK_STR(jstr(json_object_get(json_object_get(msg, "properties"), "jsonrpc"), "const"), "2.0");
    json_t *responses = json_object_get(op, "responses");
    const char *statuses[] = {"200", "202", "400", "403", "404", "406", "413", "415"};
    for (size_t i = 0; i < sizeof statuses / sizeof statuses[0]; i++) {
        json_t *r = json_object_get(responses, statuses[i]);
        const char *ref =
            jstr(json_object_get(json_object_get(json_object_get(r, "content"), "application/json"),
                                 "schema"),
                 "$ref");
        const char *want = strcmp(statuses[i], "200") == 0   ? "#/components/schemas/McpAnswer"
                           : strcmp(statuses[i], "202") == 0 ? NULL
                           : strcmp(statuses[i], "413") == 0 ? "#/components/schemas/HTTPError"
                                                             : "#/components/schemas/McpResponse";
        if (!r || (want ? !ref || strcmp(ref, want) != 0 : json_object_get(r, "content") != NULL))
            fprintf(stdout, "    /mcp %s: %s\n", statuses[i],
                    r ? (ref ? ref : "no body") : "absent");
        CHECK(r != NULL);
        CHECK(want ? ref && strcmp(ref, want) == 0 : json_object_get(r, "content") == NULL);
    }
    /* Each refusal says what it is about, not the generic text. */
    CHECK(strstr(jstr(json_object_get(responses, "406"), "description"), "Accept") != NULL);
    CHECK(strstr(jstr(json_object_get(responses, "415"), "description"), "Content-Type") != NULL);
    CHECK(strstr(jstr(json_object_get(responses, "403"), "description"), "Origin") != NULL);
    CHECK(strstr(jstr(json_object_get(responses, "404"), "description"), "Mcp-Session-Id") != NULL);
    CHECK(strstr(jstr(json_object_get(responses, "400"), "description"), "-32700") != NULL);
    json_decref(doc);
    CHECK(stop());
}

/* The schema of property name of the component id (anyOf's first branch, $ref followed). */
static json_t *property(json_t *doc, const char *id, const char *name)
{
    char ref[128];
    snprintf(ref, sizeof ref, "#/components/schemas/%s", id);
    json_t *p = json_object_get(json_object_get(resolve(doc, ref), "properties"), name);
    json_t *any = json_object_get(p, "anyOf");
    if (any)
        p = json_array_get(any, 0);
    json_t *r = json_object_get(p, "$ref");
    return r ? resolve(doc, json_string_value(r)) : p;
}

static long search_status(const char *body, char *type, char *loc)
{
    struct resp r;
    if (http(&srv, "POST", "/api/memories/search", "alice", body, SIZE_MAX, &r) != 0)
        return -1;
    long status = r.status;
    type[0] = loc[0] = '\0';
    if (status == 422)
        first_error(&r, type, 64, loc, 64);
    resp_free(&r);
    return status;
}

TEST(test_the_documented_limits_and_enums_are_enforced)
{
    CHECK(start(NULL));
    json_t *doc = fetch_document();
    CHECK(doc);
    char type[64], loc[64];
    /* query: maxLength characters pass, one more is string_too_long. */
    long max_len = (long)json_integer_value(
        json_object_get(property(doc, "MemorySearch", "query"), "maxLength"));
    CHECK_INT(max_len, api_search_fields[MS_QUERY].max);
    char *q = malloc((size_t)max_len + 64);
    memset(q, 'a', (size_t)max_len + 1);
    q[max_len + 1] = '\0';
    char *body = malloc((size_t)max_len + 128);
    snprintf(body, (size_t)max_len + 128, "{\"query\":\"%s\"}", q);
    long too_long = search_status(body, type, loc);
    bool too_long_ok = too_long == 422 && strcmp(type, "string_too_long") == 0;
    q[max_len] = '\0';
    snprintf(body, (size_t)max_len + 128, "{\"query\":\"%s\"}", q);
    long at_max = search_status(body, type, loc);
    free(q);
    free(body);
    CHECK_INT(too_long, 422);
    CHECK(too_long_ok);
    CHECK_INT(at_max, 200);
    /* limit: maximum passes, maximum + 1 is less_than_equal. */
    long long lim =
        json_integer_value(json_object_get(property(doc, "MemorySearch", "limit"), "maximum"));
    char b[512];
    snprintf(b, sizeof b, "{\"query\":\"x\",\"limit\":%lld}", lim);
    CHECK_INT(search_status(b, type, loc), 200);
    snprintf(b, sizeof b, "{\"query\":\"x\",\"limit\":%lld}", lim + 1);
    CHECK_INT(search_status(b, type, loc), 422);
    CHECK_STR(type, "less_than_equal");
    /* Every documented mode and memory type is accepted; another is an enum error. */
    json_t *modes = json_object_get(property(doc, "MemorySearch", "mode"), "enum");
    CHECK_INT(json_array_size(modes), 3);
    size_t i;
    json_t *m;
    json_array_foreach(modes, i, m)
    {
        snprintf(b, sizeof b, "{\"query\":\"x\",\"mode\":\"%s\"}", json_string_value(m));
        CHECK_INT(search_status(b, type, loc), 200);
    }
    json_t *types = json_object_get(resolve(doc, "#/components/schemas/MemoryType"), "enum");
    CHECK(json_array_size(types) >= 5);
    json_array_foreach(types, i, m)
    {
        snprintf(b, sizeof b, "{\"query\":\"x\",\"memory_types\":[\"%s\"]}", json_string_value(m));
        CHECK_INT(search_status(b, type, loc), 200);
    }
    CHECK_INT(search_status("{\"query\":\"x\",\"mode\":\"fuzzy\"}", type, loc), 422);
    CHECK_STR(type, "enum");
    /* An unknown type's message names every type the document lists (and the server takes). */
    struct resp r;
    CHECK(http(&srv, "POST", "/api/memories/search", "alice",
               "{\"query\":\"x\",\"memory_types\":[\"memo\"]}", SIZE_MAX, &r) == 0);
    CHECK_INT(r.status, 422);
    const char *msg = json_string_value(
        json_object_get(json_array_get(json_object_get(r.json, "detail"), 0), "msg"));
    CHECK(msg);
    json_array_foreach(types, i, m)
    {
        char quoted[64];
        snprintf(quoted, sizeof quoted, "'%s'", json_string_value(m));
        CHECK(msg && strstr(msg, quoted));
    }
    resp_free(&r);
    /* The list cap is the server's MEMORI_MAX_LIST_ITEMS. */
    json_t *tags = property(doc, "MemoryCreate", "context_tags");
    CHECK(json_integer_value(json_object_get(tags, "maxItems")) > 0);
    json_decref(doc);
    CHECK(stop());
}

/* ---- the README's curl examples against their schemas ---- */

/* Whether value matches schema s enough: type family, enum, string and number bounds. */
static bool value_ok(json_t *doc, json_t *s, json_t *v, const char *where)
{
    json_t *any = json_object_get(s, "anyOf");
    if (any) {
        size_t i;
        json_t *alt;
        json_array_foreach(any, i, alt) if (value_ok(doc, alt, v, NULL)) return true;
        if (where)
            fprintf(stdout, "    %s: no anyOf branch takes it\n", where);
        return false;
    }
    json_t *ref = json_object_get(s, "$ref");
    if (ref)
        return value_ok(doc, resolve(doc, json_string_value(ref)), v, where);
    const char *type = jstr(s, "type");
    bool ok = true;
    if (!type)
        ok = true;
    else if (strcmp(type, "null") == 0)
        ok = json_is_null(v);
    else if (strcmp(type, "string") == 0)
        ok = json_is_string(v);
    else if (strcmp(type, "integer") == 0)
        ok = json_is_integer(v);
    else if (strcmp(type, "number") == 0)
        ok = json_is_number(v);
    else if (strcmp(type, "boolean") == 0)
        ok = json_is_boolean(v);
    else if (strcmp(type, "object") == 0)
        ok = json_is_object(v);
    else if (strcmp(type, "array") == 0)
        ok = json_is_array(v);
    json_t *e = json_object_get(s, "enum");
    if (ok && e) {
        bool found = false;
        size_t i;
        json_t *x;
        json_array_foreach(e, i, x) found |= json_equal(x, v);
        ok = found;
    }
    if (ok && json_is_string(v) && json_object_get(s, "maxLength"))
        ok =
            (long long)json_string_length(v) <= json_integer_value(json_object_get(s, "maxLength"));
    if (ok && json_is_string(v) && json_object_get(s, "minLength"))
        ok =
            (long long)json_string_length(v) >= json_integer_value(json_object_get(s, "minLength"));
    if (ok && json_is_number(v) && json_object_get(s, "minimum"))
        ok = json_number_value(v) >= json_number_value(json_object_get(s, "minimum"));
    if (ok && json_is_number(v) && json_object_get(s, "maximum"))
        ok = json_number_value(v) <= json_number_value(json_object_get(s, "maximum"));
    if (ok && json_is_array(v) && json_object_get(s, "items")) {
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) ok &= value_ok(doc, json_object_get(s, "items"), x, where);
    }
    if (!ok && where)
        fprintf(stdout, "    %s: does not match its schema\n", where);
    return ok;
}

/* Required fields present, no unknown field, each value valid; false with the reason printed. */
static bool body_ok(json_t *doc, json_t *schema, json_t *body, const char *what)
{
    json_t *props = json_object_get(schema, "properties");
    bool ok = json_is_object(body);
    size_t i;
    json_t *x;
    json_array_foreach(json_object_get(schema, "required"), i, x)
    {
        if (!json_object_get(body, json_string_value(x))) {
            fprintf(stdout, "    %s: lacks required %s\n", what, json_string_value(x));
            ok = false;
        }
    }
    const char *k;
    json_object_foreach(body, k, x)
    {
        json_t *p = json_object_get(props, k);
        char where[256];
        snprintf(where, sizeof where, "%s: field %s", what, k);
        if (!p) {
            fprintf(stdout, "    %s is unknown\n", where);
            ok = false;
        } else {
            ok &= value_ok(doc, p, x, where);
        }
    }
    return ok;
}

/* The documented template a README path ("/api/memories/<memory_id>") is, or NULL. */
static const char *template_of(json_t *paths, const char *path)
{
    const char *key;
    json_t *item;
    json_object_foreach(paths, key, item)
    {
        const char *a = key, *b = path;
        while (*a && *b) {
            if (*a == '{' && *b == '<') {
                a += strcspn(a, "}") + 1;
                b += strcspn(b, ">") + 1;
                continue;
            }
            if (*a != *b)
                break;
            a++, b++;
        }
        if (!*a && (!*b || *b == '?'))
            return key;
    }
    return NULL;
}

/* Reads README.md's curl commands with a -d body: method, path and body checked. */
static int check_readme(json_t *doc, size_t *out_checked)
{
    FILE *f = fopen("README.md", "r");
    if (!f)
        return -1;
    static char text[1 << 20];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    json_t *paths = json_object_get(doc, "paths");
    int bad = 0;
    *out_checked = 0;
    for (char *c = strstr(text, "curl -s"); c; c = strstr(c + 1, "curl -s")) {
        char *d = strstr(c, " -d '");
        char *eol = strchr(c, '\n');
        if (!d || (eol && d > eol))
            continue;
        char *body_start = d + 5, *body_end = strchr(body_start, '\'');
        if (!body_end)
            continue;
        /* Method (-XPOST …), the URL's variable and the path after it. */
        char method[16] = "GET", base[8] = "", rest[256] = "";
        char *x = strstr(c, "-X");
        if (x && x < d)
            sscanf(x + 2, "%15[A-Z]", method);
        char *var = strchr(c, '$');
        if (var && var < d)
            sscanf(var + 1, "%7[A-Z]%255[^ \"]", base, rest);
        const char *prefix = strcmp(base, "M") == 0   ? "/api/memories"
                             : strcmp(base, "C") == 0 ? "/api/conversations"
                             : strcmp(base, "S") == 0 ? "/api/memories/search"
                             : strcmp(base, "B") == 0 ? "/api"
                                                      : NULL;
        char path[300], what[400];
        snprintf(path, sizeof path, "%s%s", prefix ? prefix : "?", rest);
        snprintf(what, sizeof what, "README %s %s", method, path);
        const char *tmpl = prefix ? template_of(paths, path) : NULL;
        char m[16];
        lower(method, m, sizeof m);
        json_t *op = tmpl ? json_object_get(json_object_get(paths, tmpl), m) : NULL;
        json_t *ref = json_object_get(
            json_object_get(
                json_object_get(json_object_get(json_object_get(op, "requestBody"), "content"),
                                "application/json"),
                "schema"),
            "$ref");
        json_error_t jerr;
        json_t *body = json_loadb(body_start, (size_t)(body_end - body_start), 0, &jerr);
        if (!op || !ref || !body) {
            fprintf(stdout, "    %s: %s\n", what,
                    !op    ? "no such operation"
                    : !ref ? "no request body"
                           : "body is not JSON");
            bad++;
        } else if (!body_ok(doc, resolve(doc, json_string_value(ref)), body, what)) {
            bad++;
        }
        json_decref(body);
        (*out_checked)++;
        c = body_end;
    }
    return bad;
}

TEST(test_the_readme_examples_validate_against_their_schemas)
{
    CHECK(start(NULL));
    json_t *doc = fetch_document();
    CHECK(doc);
    size_t checked;
    int bad = check_readme(doc, &checked);
    fprintf(stdout, "    %zu README bodies checked; the checker's own cases:\n", checked);
    /* The checker itself: a body with an unknown field, a bad enum, a missing field. */
    json_t *create = resolve(doc, "#/components/schemas/MemoryCreate");
    json_t *unknown = json_pack("{s:s,s:s,s:s,s:i}", "content", "x", "memory_type", "rule",
                                "conversation_id", CONV, "colour", 1);
    json_t *bad_enum =
        json_pack("{s:s,s:s,s:s}", "content", "x", "memory_type", "rules", "conversation_id", CONV);
    json_t *no_type = json_pack("{s:s,s:s}", "content", "x", "conversation_id", CONV);
    json_t *good =
        json_pack("{s:s,s:s,s:s}", "content", "x", "memory_type", "rule", "conversation_id", CONV);
    bool rejects = !body_ok(doc, create, unknown, "unknown field") &&
                   !body_ok(doc, create, bad_enum, "bad enum") &&
                   !body_ok(doc, create, no_type, "missing field");
    bool accepts = body_ok(doc, create, good, "good body");
    json_decref(unknown);
    json_decref(bad_enum);
    json_decref(no_type);
    json_decref(good);
    json_decref(doc);
    CHECK(bad >= 0); /* README.md read (tests run from the repository's root) */
    CHECK_INT(bad, 0);
    CHECK(checked >= 7);
    CHECK(rejects);
    CHECK(accepts);
    CHECK(stop());
}

/* ---- /docs ---- */

/* A raw GET of the server under test: the whole answer (head and body, malloc'd) or NULL. */
static char *raw_get(const char *path)
{
    return http_raw_get(&srv, path);
}

TEST(test_docs_without_its_files_is_a_404_that_says_how_to_install)
{
    char dir[600], env[700];
    snprintf(dir, sizeof dir, "%s/no-docs-here", test_tmpdir());
    snprintf(env, sizeof env, "MEMORI_DOCS_DIR=%s", dir);
    char *const e[] = {env, NULL};
    CHECK(start(e));
    struct resp r;
    CHECK(http(&srv, "GET", "/docs", NULL, NULL, 0, &r) == 0);
    long status = r.status;
    const char *detail = r.json ? jstr(r.json, "detail") : NULL;
    bool says = detail && strstr(detail, "swagger-ui-dist") && strstr(detail, "MEMORI_DOCS_DIR");
    resp_free(&r);
    CHECK_INT(status, 404);
    CHECK(says);
    CHECK(http(&srv, "GET", "/docs/swagger-ui-bundle.js", NULL, NULL, 0, &r) == 0);
    status = r.status;
    resp_free(&r);
    CHECK_INT(status, 404);
    CHECK(http(&srv, "GET", "/health", NULL, NULL, 0, &r) == 0);
    status = r.status;
    resp_free(&r);
    CHECK_INT(status, 200);
    CHECK(stop());
}

/* The docs directory make fills beside the binary under test. */
static const char *built_docs(char *buf, size_t cap)
{
    const char *bin = getenv("MEMORI_BIN") ? getenv("MEMORI_BIN") : "build/memori";
    snprintf(buf, cap, "%.*s/docs", (int)(strrchr(bin, '/') ? strrchr(bin, '/') - bin : 1),
             strrchr(bin, '/') ? bin : ".");
    return buf;
}

TEST(test_docs_serves_its_local_files_only)
{
    char dir[600], file[700];
    snprintf(file, sizeof file, "%s/swagger-ui-bundle.js", built_docs(dir, sizeof dir));
    struct stat st;
    if (stat(file, &st) != 0)
        test_fail(__FILE__, __LINE__, "%s missing: make copies swagger-ui-dist there", file);
    CHECK(stat(file, &st) == 0);
    CHECK(start(NULL)); /* the default: docs beside the binary */
    char *page = raw_get("/docs");
    CHECK(page);
    bool ok = strncmp(page, "HTTP/1.1 200", 12) == 0 && strstr(page, "Content-Type: text/html") &&
              strstr(page, "Content-Security-Policy: default-src 'self'") &&
              strstr(page, "Cache-Control: no-cache") &&
              strstr(page, "/docs/swagger-ui-bundle.js") && strstr(page, "/docs/init.js") &&
              !strstr(page, "http://") && !strstr(page, "https://") && !strstr(page, "<script>");
    if (!ok)
        fprintf(stdout, "    %.600s\n", page);
    free(page);
    CHECK(ok);
    char *js = raw_get("/docs/swagger-ui-bundle.js");
    CHECK(js);
    bool js_ok =
        strncmp(js, "HTTP/1.1 200", 12) == 0 && strstr(js, "Content-Type: text/javascript");
    size_t js_len = strlen(js);
    free(js);
    CHECK(js_ok);
    CHECK(js_len > (size_t)st.st_size);
    /* Nothing outside the allow-list: not a file beside them, not a path out of the directory. */
    const char *refused[] = {"/docs/package.json", "/docs/..%2F..%2Fetc%2Fpasswd",
                             "/docs/../../etc/passwd", "/docs/%2e%2e/memori",
                             "/docs/swagger-ui-bundle.js.map"};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        char *a = raw_get(refused[i]);
        CHECK(a);
        bool is404 = strncmp(a, "HTTP/1.1 404", 12) == 0 && !strstr(a, "root:");
        if (!is404)
            fprintf(stdout, "    %s: %.80s\n", refused[i], a);
        free(a);
        CHECK(is404);
    }
    CHECK(stop());
}

TEST(test_docs_runs_a_search_in_chromium)
{
    /* Not a skip: CI installs both (scripts/install-test-deps.sh). */
    if (!have_command("node"))
        test_fail(__FILE__, __LINE__, "node missing: scripts/install-test-deps.sh installs it");
    if (!have_command("/usr/bin/chromium"))
        test_fail(__FILE__, __LINE__, "chromium missing: scripts/install-test-deps.sh installs it");
    if (access("build/npm/node_modules/playwright-core/package.json", R_OK) != 0)
        test_fail(__FILE__, __LINE__, "playwright-core missing: make runs npm ci into build/npm");
    if (test_failed())
        return;
    CHECK(start(NULL));
    struct resp r;
    CHECK(http(&srv, "POST", "/api/memories", "default_user",
               "{\"content\":\"User prefers JOINs over subqueries\",\"memory_type\":\"rule\","
               "\"conversation_id\":\"" CONV "\"}",
               SIZE_MAX, &r) == 0);
    long created = r.status;
    resp_free(&r);
    CHECK_INT(created, 201);
    CHECK(run_node_test(&srv, "tests/browser/docs.test.mjs",
                        "MEMORI_SCREENSHOT=build/browser/docs.png MEMORI_EXPECT='prefers JOINs'",
                        120, "browser.log", "docs.test: ok"));
    struct stat st;
    CHECK(stat("build/browser/docs.png", &st) == 0 && st.st_size > 10000);
    CHECK(stop());
}

TEST_MAIN("e2e_openapi", T(test_every_route_of_the_table_is_in_the_document),
          T(test_mcp_has_its_request_body_and_every_answer),
          T(test_the_document_is_structurally_openapi_3_1),
          T(test_the_documented_limits_and_enums_are_enforced),
          T(test_the_readme_examples_validate_against_their_schemas),
          T(test_docs_without_its_files_is_a_404_that_says_how_to_install),
          T(test_docs_serves_its_local_files_only), T(test_docs_runs_a_search_in_chromium))
