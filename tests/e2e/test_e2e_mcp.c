/*
 * POST /mcp against the real `memori serve` (issue 19): the official MCP
 * TypeScript SDK's client connects, lists the tools and calls each one
 * (tests/mcp/mcp.test.mjs, run by node; a missing node or SDK is a failure,
 * since make installs the SDK), and raw JSON-RPC over HTTP for every
 * protocol rule and error: version negotiation, sessions (a call before
 * initialize, an unknown or another caller's session, one issued by another
 * process), notifications, batches by protocol version, -32700, -32600,
 * -32601, -32602 naming the argument, tool errors as isError results,
 * transport checks (Accept, Content-Type, Origin, MCP-Protocol-Version),
 * 405 for GET, 413 for an oversized body, and production's bearer tokens.
 */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "http_client.h"
#include "memori/auth.h"
#include "test.h"

#define CONV "7d1f0c9e-5b2a-4c3d-8e9f-0a1b2c3d4e5f"
#define SECRET "mcp-e2e-secret-0123456789abcdef0123456789"

static struct server srv;
static int db_n;

static bool start_on(struct server *s, char *const *env)
{
    char name[64], path[512];
    snprintf(name, sizeof name, "mcp-%d.db", db_n++);
    return server_start(s, test_path(path, sizeof path, name), env) == 0;
}

static bool start(char *const *env)
{
    return start_on(&srv, env);
}

static bool stop_server(struct server *s)
{
    int rc = server_stop(s, SIGTERM);
    if (rc != 0)
        test_fail(__FILE__, __LINE__, "server exited %d; see %s", rc, s->log);
    return rc == 0;
}

static bool stop(void)
{
    return stop_server(&srv);
}

/* ---------- raw HTTP with the headers MCP needs ---------- */

struct mresp {
    long status;
    char *body;
    json_t *json;
    char session[128];
    char content_type[64];
    char allow[64];
};

static void mresp_free(struct mresp *r)
{
    free(r->body);
    json_decref(r->json);
    memset(r, 0, sizeof *r);
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    struct mresp *r = arg;
    size_t len = size * nmemb, n = r->body ? strlen(r->body) : 0;
    r->body = realloc(r->body, n + len + 1);
    memcpy(r->body + n, data, len);
    r->body[n + len] = '\0';
    return len;
}

/* A header's value, trimmed, into out when data is that header's line. */
static void take_header(const char *data, size_t len, const char *name, char *out, size_t cap)
{
    size_t n = strlen(name);
    if (len <= n || strncasecmp(data, name, n) != 0 || data[n] != ':')
        return;
    const char *v = data + n + 1;
    size_t vn = len - n - 1;
    while (vn && *v == ' ')
        v++, vn--;
    while (vn && (v[vn - 1] == '\r' || v[vn - 1] == '\n' || v[vn - 1] == ' '))
        vn--;
    snprintf(out, cap, "%.*s", (int)vn, v);
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *arg)
{
    struct mresp *r = arg;
    size_t len = size * nmemb;
    take_header(data, len, "Mcp-Session-Id", r->session, sizeof r->session);
    take_header(data, len, "Content-Type", r->content_type, sizeof r->content_type);
    take_header(data, len, "Allow", r->allow, sizeof r->allow);
    return len;
}

static bool has_header(const char *const *headers, const char *name)
{
    for (size_t i = 0; headers && headers[i]; i++)
        if (strncasecmp(headers[i], name, strlen(name)) == 0)
            return true;
    return false;
}

/*
 * method /mcp on s with the extra headers (NULL-terminated; they replace the
 * default Content-Type and Accept an MCP client sends). 0 when an answer came.
 */
static int send_to(const struct server *s, const char *method, const char *const *headers,
                   const char *body, size_t len, struct mresp *out)
{
    memset(out, 0, sizeof *out);
    CURL *c = curl_easy_init();
    if (!c)
        return -1;
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/mcp", s->port);
    struct curl_slist *h = curl_slist_append(NULL, "Expect:");
    if (!has_header(headers, "Content-Type:"))
        h = curl_slist_append(h, "Content-Type: application/json");
    if (!has_header(headers, "Accept:"))
        h = curl_slist_append(h, "Accept: application/json, text/event-stream");
    for (size_t i = 0; headers && headers[i]; i++)
        h = curl_slist_append(h, headers[i]);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, out);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    }
    CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    if (!out->body)
        out->body = strdup("");
    out->json = json_loads(out->body, JSON_DECODE_ANY, NULL);
    return rc == CURLE_OK ? 0 : -1;
}

/* POST body as user (X-User-Id) in session sid (either may be NULL), plus one more header. */
static int post_on(const struct server *s, const char *user, const char *sid, const char *extra,
                   const char *body, struct mresp *out)
{
    char uh[300], sh[200];
    const char *headers[4] = {0};
    size_t n = 0;
    if (user) {
        snprintf(uh, sizeof uh, "X-User-Id: %s", user);
        headers[n++] = uh;
    }
    if (sid) {
        snprintf(sh, sizeof sh, "Mcp-Session-Id: %s", sid);
        headers[n++] = sh;
    }
    if (extra)
        headers[n++] = extra;
    return send_to(s, "POST", headers, body, strlen(body), out);
}

static int post(const char *user, const char *sid, const char *body, struct mresp *out)
{
    return post_on(&srv, user, sid, NULL, body, out);
}

#define INIT_BODY(version)                                                                         \
    "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{\"protocolVersion\":"     \
    "\"" version "\",\"capabilities\":{},\"clientInfo\":{\"name\":\"e2e\",\"version\":\"1\"}}}"

/* initialize as user on s at version: the session id into sid; false on anything but a 200. */
static bool init_on(const struct server *s, const char *user, const char *version, char sid[128])
{
    char body[512];
    snprintf(body, sizeof body,
             "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{"
             "\"protocolVersion\":\"%s\",\"capabilities\":{},\"clientInfo\":{\"name\":\"e2e\","
             "\"version\":\"1\"}}}",
             version);
    struct mresp r;
    bool ok = post_on(s, user, NULL, NULL, body, &r) == 0 && r.status == 200 && r.session[0];
    if (ok)
        snprintf(sid, 128, "%s", r.session);
    else
        fprintf(stdout, "    initialize: %ld %s\n", r.status, r.body);
    mresp_free(&r);
    return ok;
}

static bool init(const char *user, const char *version, char sid[128])
{
    return init_on(&srv, user, version, sid);
}

/* error.code of an answer (0 when it has none). */
static long long err_code(const json_t *m)
{
    return json_integer_value(json_object_get(json_object_get(m, "error"), "code"));
}

/*
 * POSTs body as user in session sid (NULL: none) and checks the answer is
 * the HTTP status with the JSON-RPC error code; a mismatch names the body.
 */
static void check_rpc_error(const char *user, const char *sid, const char *body, long status,
                            long long code)
{
    struct mresp r;
    CHECK(post(user, sid, body, &r) == 0);
    long got_status = r.status;
    long long got_code = err_code(r.json);
    mresp_free(&r);
    if (got_status != status || got_code != code)
        fprintf(stdout, "    body %s: %ld %lld\n", body, got_status, got_code);
    CHECK_INT(got_status, status);
    CHECK_INT(got_code, code);
}

static const char *err_message(const json_t *m)
{
    const char *s = json_string_value(json_object_get(json_object_get(m, "error"), "message"));
    return s ? s : "";
}

static json_t *result(const json_t *m)
{
    return json_object_get(m, "result");
}

/* A tools/call body. */
static char *call_body(int id, const char *tool, const char *args)
{
    char *b = NULL;
    if (asprintf(&b,
                 "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"tools/call\",\"params\":{\"name\":"
                 "\"%s\",\"arguments\":%s}}",
                 id, tool, args) < 0)
        abort();
    return b;
}

/* tools/call in session sid as user: 0 when an answer came. */
static int call(const char *user, const char *sid, const char *tool, const char *args,
                struct mresp *out)
{
    char *b = call_body(1, tool, args);
    int rc = post(user, sid, b, out);
    free(b);
    return rc;
}

/* ---------- the SDK client ---------- */

TEST(test_the_sdk_client_lists_and_calls_every_tool)
{
    /* Not a skip: make installs the SDK (npm ci into build/npm) and the test scripts node. */
    if (!have_command("node"))
        test_fail(__FILE__, __LINE__, "node missing: scripts/install-test-deps.sh installs it");
    if (access("build/npm/node_modules/@modelcontextprotocol/sdk/package.json", R_OK) != 0)
        test_fail(__FILE__, __LINE__,
                  "@modelcontextprotocol/sdk missing: make runs npm ci into build/npm");
    if (test_failed())
        return;
    CHECK(start(NULL));
    CHECK(run_node_test(&srv, "tests/mcp/mcp.test.mjs", NULL, 120, "mcp-sdk.log", "mcp.test: ok"));
    CHECK(stop());
}

/* ---------- lifecycle ---------- */

TEST(test_initialize_negotiates_the_version_and_issues_a_session)
{
    CHECK(start(NULL));
    static const struct {
        const char *asked, *answered;
    } cases[] = {
        {"2025-06-18", "2025-06-18"},
        {"2025-03-26", "2025-03-26"},
        {"2024-11-05", "2025-06-18"}, /* not ours: the latest offered, the client decides */
        {"1999-01-01", "2025-06-18"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char body[512];
        snprintf(body, sizeof body,
                 "{\"jsonrpc\":\"2.0\",\"id\":\"init-%zu\",\"method\":\"initialize\",\"params\":{"
                 "\"protocolVersion\":\"%s\",\"capabilities\":{},\"clientInfo\":{\"name\":\"e\","
                 "\"version\":\"1\"}}}",
                 i, cases[i].asked);
        struct mresp r;
        CHECK(post("alice", NULL, body, &r) == 0);
        long status = r.status;
        json_t *res = json_incref(result(r.json));
        char id[32], session[128];
        snprintf(id, sizeof id, "%s", json_string_value(json_object_get(r.json, "id")));
        snprintf(session, sizeof session, "%s", r.session);
        bool json_type = strncmp(r.content_type, "application/json", 16) == 0;
        mresp_free(&r);
        CHECK_INT(status, 200);
        CHECK(json_type);
        char want_id[32];
        snprintf(want_id, sizeof want_id, "init-%zu", i);
        CHECK_STR(id, want_id);
        CHECK_STR(json_string_value(json_object_get(res, "protocolVersion")), cases[i].answered);
        CHECK(json_is_object(json_object_get(json_object_get(res, "capabilities"), "tools")));
        CHECK_STR(json_string_value(json_object_get(json_object_get(res, "serverInfo"), "name")),
                  "memori");
        /* The transport's rule: visible ASCII only. */
        CHECK(strlen(session) > 40);
        for (const char *p = session; *p; p++)
            CHECK(*p >= 0x21 && *p <= 0x7e);
        json_decref(res);
    }
    /* Each initialize is a new session. */
    char a[128], b[128];
    CHECK(init("alice", "2025-06-18", a) && init("alice", "2025-06-18", b));
    CHECK(strcmp(a, b) != 0);
    CHECK(stop());
}

TEST(test_notifications_and_responses_are_202_without_a_body)
{
    CHECK(start(NULL));
    char sid[128];
    CHECK(init("alice", "2025-06-18", sid));
    struct mresp r;
    CHECK(post("alice", sid, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}",
               &r) == 0);
    long status = r.status;
    size_t len = strlen(r.body);
    mresp_free(&r);
    CHECK_INT(status, 202);
    CHECK_INT(len, 0);
    /* A response (to a request the server never sent) is accepted the same way. */
    CHECK(post("alice", sid, "{\"jsonrpc\":\"2.0\",\"id\":\"s1\",\"result\":{}}", &r) == 0);
    status = r.status;
    mresp_free(&r);
    CHECK_INT(status, 202);
    CHECK(post("alice", sid, "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"ping\"}", &r) == 0);
    status = r.status;
    bool empty = json_is_object(result(r.json)) && json_object_size(result(r.json)) == 0;
    long long id = json_integer_value(json_object_get(r.json, "id"));
    mresp_free(&r);
    CHECK_INT(status, 200);
    CHECK(empty);
    CHECK_INT(id, 7);
    CHECK(stop());
}

TEST(test_a_call_before_initialize_or_in_a_foreign_session_is_refused)
{
    CHECK(start(NULL));
    struct mresp r;
    /* No session: 400, as the transport says for a server that issued one at initialize. */
    CHECK(call("alice", NULL, "recall", "{\"query\":\"x\"}", &r) == 0);
    long status = r.status;
    long long code = err_code(r.json);
    bool id_null = json_is_null(json_object_get(r.json, "id"));
    mresp_free(&r);
    CHECK_INT(status, 400);
    CHECK_INT(code, -32000);
    CHECK(id_null);
    CHECK(post("alice", NULL, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}",
               &r) == 0);
    status = r.status;
    mresp_free(&r);
    CHECK_INT(status, 400);

    char sid[128];
    CHECK(init("alice", "2025-06-18", sid));
    /* An id this server never issued, a tampered one, and alice's used by bob: all 404. */
    char tampered[128];
    snprintf(tampered, sizeof tampered, "%s", sid);
    size_t n = strlen(tampered);
    tampered[n - 1] = tampered[n - 1] == '0' ? '1' : '0';
    const char *bad[] = {"nonsense", tampered,
                         "2025-06-18.00000000000000000000000000000000."
                         "00000000000000000000000000000000"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK(call("alice", bad[i], "recall", "{\"query\":\"x\"}", &r) == 0);
        status = r.status;
        code = err_code(r.json);
        mresp_free(&r);
        CHECK_INT(status, 404);
        CHECK_INT(code, -32001);
    }
    CHECK(call("bob", sid, "recall", "{\"query\":\"x\"}", &r) == 0);
    status = r.status;
    mresp_free(&r);
    CHECK_INT(status, 404);
    CHECK(call("alice", sid, "recall", "{\"query\":\"x\"}", &r) == 0);
    status = r.status;
    mresp_free(&r);
    CHECK_INT(status, 200);
    CHECK(stop());
}

TEST(test_a_session_is_good_on_every_process_with_the_same_key)
{
    /* What a load balancer in front of several PostgreSQL-backed processes needs. */
    char *same[] = {"SECRET_KEY=" SECRET, NULL};
    char *other[] = {"SECRET_KEY=another-" SECRET, NULL};
    struct server b, c;
    CHECK(start(same));
    if (!start_on(&b, same)) {
        stop();
        CHECK(!"second server started");
    }
    if (!start_on(&c, other)) {
        stop();
        stop_server(&b);
        CHECK(!"third server started");
    }
    char sid[128];
    bool ok = init("alice", "2025-06-18", sid);
    struct mresp r1 = {0}, r2 = {0};
    if (ok) {
        post_on(&b, "alice", sid, NULL, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}", &r1);
        post_on(&c, "alice", sid, NULL, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}", &r2);
    }
    long same_status = r1.status, other_status = r2.status;
    mresp_free(&r1);
    mresp_free(&r2);
    bool stopped = stop_server(&c) & stop_server(&b) & stop();
    CHECK(ok);
    CHECK_INT(same_status, 200);
    CHECK_INT(other_status, 404);
    CHECK(stopped);
}

/* ---------- JSON-RPC errors ---------- */

TEST(test_malformed_json_is_a_parse_error)
{
    CHECK(start(NULL));
    char sid[128];
    CHECK(init("alice", "2025-06-18", sid));
    const char *bodies[] = {"{\"jsonrpc\":\"2.0\",\"id\":1,", "not json", ""};
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        struct mresp r;
        CHECK(post("alice", sid, bodies[i], &r) == 0);
        long status = r.status;
        long long code = err_code(r.json);
        bool id_null = json_is_null(json_object_get(r.json, "id"));
        mresp_free(&r);
        CHECK_INT(status, 400);
        CHECK_INT(code, -32700);
        CHECK(id_null);
    }
    CHECK(stop());
}

TEST(test_a_message_that_is_not_a_request_is_an_invalid_request)
{
    CHECK(start(NULL));
    char sid[128];
    CHECK(init("alice", "2025-06-18", sid));
    const char *bodies[] = {
        "\"ping\"",
        "42",
        "{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"ping\"}",
        "{\"id\":1,\"method\":\"ping\"}",
        "{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"ping\"}",
        "{\"jsonrpc\":\"2.0\",\"id\":{\"a\":1},\"method\":\"ping\"}",
        "{\"jsonrpc\":\"2.0\",\"id\":1.5,\"method\":\"ping\"}",
        "{\"jsonrpc\":\"2.0\",\"id\":1}",
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":7}",
    };
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++)
        check_rpc_error("alice", sid, bodies[i], 400, -32600);
    CHECK(stop());
}

TEST(test_an_unknown_method_is_method_not_found)
{
    CHECK(start(NULL));
    char sid[128];
    CHECK(init("alice", "2025-06-18", sid));
    /* resources and prompts are not among the capabilities: not found, as any unknown method. */
    const char *methods[] = {"resources/list", "prompts/list", "tools/delete", ""};
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
        char body[200];
        snprintf(body, sizeof body, "{\"jsonrpc\":\"2.0\",\"id\":\"m%zu\",\"method\":\"%s\"}", i,
                 methods[i]);
        struct mresp r;
        CHECK(post("alice", sid, body, &r) == 0);
        long status = r.status;
        long long code = err_code(r.json);
        char id[16];
        snprintf(id, sizeof id, "%s", json_string_value(json_object_get(r.json, "id")));
        mresp_free(&r);
        CHECK_INT(status, 200);
        CHECK_INT(code, -32601);
        char want[16];
        snprintf(want, sizeof want, "m%zu", i);
        CHECK_STR(id, want);
    }
    CHECK(stop());
}

TEST(test_invalid_params_name_the_field)
{
    CHECK(start(NULL));
    char sid[128];
    CHECK(init("alice", "2025-06-18", sid));
    static const struct {
        const char *body, *names;
    } cases[] = {
        {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"recall\","
         "\"arguments\":{}}}",
         "arguments.query"},
        {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"recall\","
         "\"arguments\":{\"query\":\"x\",\"limit\":1000}}}",
         "arguments.limit"},
        {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"recall\","
         "\"arguments\":{\"query\":\"x\",\"mode\":\"fuzzy\"}}}",
         "arguments.mode"},
        {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":"
         "\"remember\",\"arguments\":{\"content\":\"x\",\"memory_type\":\"rule\","
         "\"conversation_id\":\"not-a-uuid\"}}}",
         "arguments.conversation_id"},
        {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":"
         "\"remember\",\"arguments\":{\"content\":\"x\",\"memory_type\":\"rule\","
         "\"conversation_id\":\"" CONV "\",\"context_tags\":[\"a\",7]}}}",
         "arguments.context_tags[1]"},
        {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"forget\","
         "\"arguments\":{\"memory_id\":\"nope\"}}}",
         "arguments.memory_id"},
        {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"forget\","
         "\"arguments\":{}}}",
         "arguments.memory_id"},
        {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":"
         "\"list_conversations\",\"arguments\":{\"offset\":-1}}}",
         "arguments.offset"},
        {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":"
         "\"get_context\",\"arguments\":{\"question\":\"q\",\"token_budget\":5}}}",
         "arguments.token_budget"},
        {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":"
         "\"learn_example\",\"arguments\":{\"question\":\"q\",\"sql\":\"SELECT 1\"}}}",
         "arguments.data_source_id"},
        {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":"
         "\"learn_example\",\"arguments\":{\"question\":\"q\",\"sql\":\"SELEC nothing\","
         "\"data_source_id\":3}}}",
         "arguments.sql"},
        {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":"
         "\"no_such_tool\"}}",
         "no_such_tool"},
        {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{}}", "params.name"},
        {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"recall\","
         "\"arguments\":[1]}}",
         "params.arguments"},
        {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\",\"params\":[1]}", "params"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct mresp r;
        CHECK(post("alice", sid, cases[i].body, &r) == 0);
        long status = r.status;
        long long code = err_code(r.json);
        char msg[600];
        snprintf(msg, sizeof msg, "%s", err_message(r.json));
        mresp_free(&r);
        if (code != -32602 || !strstr(msg, cases[i].names))
            fprintf(stdout, "    case %zu: %ld %lld %s\n", i, status, code, msg);
        CHECK_INT(status, 200);
        CHECK_INT(code, -32602);
        CHECK(strstr(msg, cases[i].names));
    }
    /* initialize's own parameter. */
    struct mresp r;
    CHECK(post("alice", NULL,
               "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{}}", &r) == 0);
    long long code = err_code(r.json);
    bool named = strstr(err_message(r.json), "params.protocolVersion") != NULL;
    bool no_session = r.session[0] == '\0';
    mresp_free(&r);
    CHECK_INT(code, -32602);
    CHECK(named);
    CHECK(no_session);
    CHECK(stop());
}

/* isError and the text of a tools/call answer r. */
static bool tool_error(const struct mresp *r, char *text, size_t cap)
{
    json_t *res = result(r->json);
    const char *t = json_string_value(
        json_object_get(json_array_get(json_object_get(res, "content"), 0), "text"));
    snprintf(text, cap, "%s", t ? t : "");
    return json_is_true(json_object_get(res, "isError"));
}

TEST(test_tool_failures_are_results_with_is_error_and_the_rest_message)
{
    CHECK(start(NULL));
    char sid[128], bob[128];
    CHECK(init("alice", "2025-06-18", sid) && init("bob", "2025-06-18", bob));
    struct mresp r;
    char text[600];
    CHECK(call("alice", sid, "forget", "{\"memory_id\":\"" CONV "\"}", &r) == 0);
    long status = r.status;
    bool is_error = tool_error(&r, text, sizeof text);
    mresp_free(&r);
    CHECK_INT(status, 200);
    CHECK(is_error);
    CHECK_STR(text, "Memory not found");
    /* A conversation of another user: REST's 404, as a tool error. */
    CHECK(call("alice", sid, "remember",
               "{\"content\":\"mine\",\"memory_type\":\"rule\",\"conversation_id\":\"" CONV "\"}",
               &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK(!tool_error(&r, text, sizeof text));
    mresp_free(&r);
    CHECK(call("bob", bob, "remember",
               "{\"content\":\"not yours\",\"memory_type\":\"rule\",\"conversation_id\":\"" CONV
               "\"}",
               &r) == 0);
    is_error = tool_error(&r, text, sizeof text);
    mresp_free(&r);
    CHECK(is_error);
    CHECK(strstr(text, "onversation"));
    /* The same call on REST says the same. */
    struct resp rest;
    CHECK(http(&srv, "POST", "/api/memories", "bob",
               "{\"content\":\"not yours\",\"memory_type\":\"rule\",\"conversation_id\":\"" CONV
               "\"}",
               SIZE_MAX, &rest) == 0);
    long rest_status = rest.status;
    bool same = strcmp(jstr(rest.json, "detail"), text) == 0;
    resp_free(&rest);
    CHECK_INT(rest_status, 404);
    CHECK(same);
    CHECK(stop());
}

TEST(test_tool_results_carry_text_and_structured_content)
{
    CHECK(start(NULL));
    char sid[128];
    CHECK(init("alice", "2025-06-18", sid));
    struct mresp r;
    CHECK(call("alice", sid, "remember",
               "{\"content\":\"Fiscal year starts in April\",\"memory_type\":\"long_term\","
               "\"conversation_id\":\"" CONV "\",\"importance_score\":0.7}",
               &r) == 0);
    json_t *res = json_incref(result(r.json));
    mresp_free(&r);
    json_t *sc = json_object_get(res, "structuredContent");
    CHECK(json_is_object(sc));
    CHECK_STR(jstr(sc, "content"), "Fiscal year starts in April");
    CHECK_STR(jstr(sc, "user_id"), "alice");
    CHECK_NEAR(jnum(sc, "importance_score"), 0.7, 1e-9);
    const char *text = json_string_value(
        json_object_get(json_array_get(json_object_get(res, "content"), 0), "text"));
    json_t *parsed = text ? json_loads(text, 0, NULL) : NULL;
    bool equal = parsed && json_equal(parsed, sc);
    json_decref(parsed);
    char memory_id[64];
    snprintf(memory_id, sizeof memory_id, "%s", jstr(sc, "memory_id"));
    json_decref(res);
    CHECK(equal);
    /* What MCP stored, REST reads. */
    char path[128];
    snprintf(path, sizeof path, "/api/memories/%s", memory_id);
    struct resp rest;
    CHECK(http(&srv, "GET", path, "alice", NULL, 0, &rest) == 0);
    long st = rest.status;
    bool same = rest.json && strcmp(jstr(rest.json, "content"), "Fiscal year starts in April") == 0;
    resp_free(&rest);
    CHECK_INT(st, 200);
    CHECK(same);
    /* tools/list: six tools, each with both schemas, none with a dangling $ref. */
    CHECK(post("alice", sid, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/list\"}", &r) == 0);
    json_t *tools = json_incref(json_object_get(result(r.json), "tools"));
    bool refs = strstr(r.body, "$ref") != NULL;
    mresp_free(&r);
    CHECK_INT(json_array_size(tools), 6);
    size_t i;
    json_t *t;
    json_array_foreach(tools, i, t)
    {
        CHECK_STR(jstr(json_object_get(t, "inputSchema"), "type"), "object");
        CHECK_STR(jstr(json_object_get(t, "outputSchema"), "type"), "object");
    }
    json_decref(tools);
    CHECK(!refs);
    CHECK(stop());
}

/* structuredContent of a successful tools/call as user in sid (a new reference), or NULL. */
static json_t *call_ok(const char *user, const char *sid, const char *tool, const char *args)
{
    struct mresp r;
    if (call(user, sid, tool, args, &r) != 0) {
        mresp_free(&r);
        return NULL;
    }
    json_t *res = result(r.json);
    json_t *sc = json_object_get(res, "structuredContent");
    const char *text = json_string_value(
        json_object_get(json_array_get(json_object_get(res, "content"), 0), "text"));
    json_t *parsed = text ? json_loads(text, 0, NULL) : NULL;
    bool ok =
        r.status == 200 && json_is_object(sc) && !json_is_true(json_object_get(res, "isError"));
    /* The text says what structuredContent says, the outcome included. */
    bool same = parsed && json_equal(parsed, sc);
    if (!ok || !same)
        fprintf(stdout, "    %s: %ld %s\n", tool, r.status, r.body);
    json_t *out = ok && same ? json_incref(sc) : NULL;
    json_decref(parsed);
    mresp_free(&r);
    return out;
}

/* A tool's schema (which: inputSchema or outputSchema) in tools/list (a new reference), or NULL. */
static json_t *tool_schema(json_t *tools, const char *tool, const char *which)
{
    size_t i;
    json_t *t;
    json_array_foreach(tools, i, t)
    {
        if (strcmp(jstr(t, "name"), tool) == 0)
            return json_incref(json_object_get(t, which));
    }
    return NULL;
}

/* Whether schema's "required" names name. */
static bool required_has(const json_t *schema, const char *name)
{
    size_t k;
    json_t *v;
    json_array_foreach(json_object_get(schema, "required"), k, v)
    {
        if (json_is_string(v) && strcmp(json_string_value(v), name) == 0)
            return true;
    }
    return false;
}

/*
 * remember takes every memory type REST's POST /api/memories takes, example
 * included, with the same enum in its input schema as /openapi.json's; and
 * it says, as REST does by status and header, whether it stored the memory
 * or answered a stored one (duplicate, merged).
 */
TEST(test_remember_takes_what_rest_takes_and_says_how_the_create_went)
{
    CHECK(start(NULL));
    char sid[128];
    CHECK(init("alice", "2025-06-18", sid));
    json_t *m = call_ok("alice", sid, "remember",
                        "{\"content\":\"How many orders per month?\",\"memory_type\":"
                        "\"example\",\"conversation_id\":\"" CONV "\"}");
    CHECK(m != NULL);
    CHECK_STR(jstr(m, "memory_type"), "example");
    CHECK(json_is_false(json_object_get(m, "duplicate")));
    CHECK(json_is_false(json_object_get(m, "merged")));
    char first[64];
    snprintf(first, sizeof first, "%s", m ? jstr(m, "memory_id") : "");
    json_decref(m);
    /* REST says the same of the same body: a duplicate of the stored memory. */
    struct resp rest;
    CHECK(http(&srv, "POST", "/api/memories", "alice",
               "{\"content\":\"How many orders per month?\",\"memory_type\":\"example\","
               "\"conversation_id\":\"" CONV "\"}",
               SIZE_MAX, &rest) == 0);
    CHECK_INT(rest.status, 200);
    CHECK_STR(rest.memori, "X-Memori-Duplicate: true");
    resp_free(&rest);
    m = call_ok("alice", sid, "remember",
                "{\"content\":\"how many  orders per month?\",\"memory_type\":\"example\","
                "\"conversation_id\":\"" CONV "\"}");
    CHECK(m != NULL);
    CHECK(json_is_true(json_object_get(m, "duplicate")));
    CHECK(json_is_false(json_object_get(m, "merged")));
    CHECK_STR(m ? jstr(m, "memory_id") : "", first);
    CHECK_INT(m ? (long long)json_integer_value(json_object_get(m, "access_count")) : -1, 2);
    json_decref(m);
    /* A type REST refuses is refused the same way, naming all six. */
    struct mresp r;
    CHECK(call("alice", sid, "remember",
               "{\"content\":\"x\",\"memory_type\":\"examples\",\"conversation_id\":\"" CONV "\"}",
               &r) == 0);
    CHECK_INT(err_code(r.json), -32602);
    CHECK(strstr(err_message(r.json), "arguments.memory_type") != NULL);
    CHECK(strstr(err_message(r.json), "'example'") != NULL);
    mresp_free(&r);

    /* The input schema's enum is the document's MemoryType. */
    CHECK(post("alice", sid, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/list\"}", &r) == 0);
    json_t *tools = json_incref(json_object_get(result(r.json), "tools"));
    mresp_free(&r);
    json_t *in = tool_schema(tools, "remember", "inputSchema");
    json_t *out = tool_schema(tools, "remember", "outputSchema");
    json_t *enum_mcp =
        json_object_get(json_object_get(json_object_get(in, "properties"), "memory_type"), "enum");
    CHECK(http(&srv, "GET", "/openapi.json", NULL, NULL, 0, &rest) == 0);
    json_t *enum_doc = json_object_get(
        json_object_get(json_object_get(json_object_get(rest.json, "components"), "schemas"),
                        "MemoryType"),
        "enum");
    CHECK(json_array_size(enum_mcp) == 6 && json_equal(enum_mcp, enum_doc));
    resp_free(&rest);
    /* The outcome is in the output schema, required (the SDK validates answers against it). */
    const char *flags[] = {"duplicate", "merged"};
    for (size_t i = 0; i < 2; i++) {
        json_t *p = json_object_get(json_object_get(out, "properties"), flags[i]);
        CHECK_STR(jstr(p, "type"), "boolean");
        CHECK(required_has(out, flags[i]));
    }
    json_decref(in);
    json_decref(out);
    json_decref(tools);
    CHECK(stop());
}

/*
 * learn_example says whether the example was new: REST answers a new one
 * 201 and the stored one 200; the tool's structured answer carries
 * duplicate false, then true, and its output schema declares it.
 */
TEST(test_learn_example_says_whether_the_example_was_new)
{
    CHECK(start(NULL));
    struct resp rest;
    CHECK(http(&srv, "PUT", "/api/data-sources/3/schema", "alice",
               "{\"dialect\":\"postgresql\",\"ddl\":\"CREATE TABLE orders (id integer "
               "PRIMARY KEY, total numeric);\"}",
               SIZE_MAX, &rest) == 0);
    CHECK_INT(rest.status, 200);
    resp_free(&rest);
    char sid[128];
    CHECK(init("alice", "2025-06-18", sid));
    const char *args = "{\"question\":\"How many orders are there?\",\"sql\":\"SELECT "
                       "count(*) FROM orders\",\"data_source_id\":3}";
    json_t *a = call_ok("alice", sid, "learn_example", args);
    CHECK(a != NULL);
    CHECK_STR(jstr(a, "memory_type"), "example");
    CHECK(json_is_false(json_object_get(a, "duplicate")));
    json_t *b = call_ok("alice", sid, "learn_example", args);
    CHECK(b != NULL);
    CHECK(json_is_true(json_object_get(b, "duplicate")));
    CHECK_STR(b ? jstr(b, "memory_id") : "", a ? jstr(a, "memory_id") : "-");
    CHECK(json_object_get(b, "merged") == NULL); /* examples have no near-duplicate merge */
    json_decref(a);
    json_decref(b);
    struct mresp r;
    CHECK(post("alice", sid, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/list\"}", &r) == 0);
    json_t *tools = json_incref(json_object_get(result(r.json), "tools"));
    mresp_free(&r);
    json_t *out = tool_schema(tools, "learn_example", "outputSchema");
    CHECK_STR(jstr(json_object_get(json_object_get(out, "properties"), "duplicate"), "type"),
              "boolean");
    CHECK(required_has(out, "duplicate"));
    json_decref(out);
    json_decref(tools);
    CHECK(stop());
}

/* ---------- batches ---------- */

TEST(test_batches_follow_the_negotiated_version)
{
    CHECK(start(NULL));
    char old[128], now[128];
    CHECK(init("alice", "2025-03-26", old) && init("alice", "2025-06-18", now));
    const char *batch = "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"},"
                        "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"},"
                        "{\"jsonrpc\":\"2.0\",\"id\":\"b\",\"method\":\"nope\"},"
                        "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"initialize\",\"params\":"
                        "{\"protocolVersion\":\"2025-03-26\"}},"
                        "7]";
    struct mresp r;
    CHECK(post("alice", old, batch, &r) == 0);
    long status = r.status;
    json_t *answers = json_incref(r.json);
    mresp_free(&r);
    CHECK_INT(status, 200);
    CHECK(json_is_array(answers));
    /* ping, the unknown method, initialize (not in a batch) and the 7: four answers, in order. */
    CHECK_INT(json_array_size(answers), 4);
    CHECK_INT(json_integer_value(json_object_get(json_array_get(answers, 0), "id")), 1);
    CHECK(json_is_object(result(json_array_get(answers, 0))));
    CHECK_INT(err_code(json_array_get(answers, 1)), -32601);
    CHECK_INT(err_code(json_array_get(answers, 2)), -32600);
    CHECK_INT(err_code(json_array_get(answers, 3)), -32600);
    json_decref(answers);
    /* Notifications only: nothing to answer. */
    CHECK(post("alice", old, "[{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}]",
               &r) == 0);
    status = r.status;
    mresp_free(&r);
    CHECK_INT(status, 202);
    check_rpc_error("alice", old, "[]", 400, -32600);
    /* 2025-06-18 removed batching. */
    check_rpc_error("alice", now, "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}]", 400,
                    -32600);
    CHECK(stop());
}

/* ---------- the transport ---------- */

TEST(test_the_protocol_version_header_must_be_the_sessions)
{
    CHECK(start(NULL));
    char sid[128];
    CHECK(init("alice", "2025-06-18", sid));
    static const struct {
        const char *header;
        long status;
    } cases[] = {
        {"MCP-Protocol-Version: 2025-06-18", 200},
        {"MCP-Protocol-Version: 2025-03-26", 400}, /* ours, but not this session's */
        {"MCP-Protocol-Version: 1900-01-01", 400},
        {"MCP-Protocol-Version: not-a-version", 400},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct mresp r;
        CHECK(post_on(&srv, "alice", sid, cases[i].header,
                      "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}", &r) == 0);
        long status = r.status;
        mresp_free(&r);
        CHECK_INT(status, cases[i].status);
    }
    CHECK(stop());
}

TEST(test_accept_content_type_and_origin_are_checked)
{
    CHECK(start(NULL));
    char sid[128], host_origin[128];
    CHECK(init("alice", "2025-06-18", sid));
    snprintf(host_origin, sizeof host_origin, "Origin: http://127.0.0.1:%d", srv.port);
    static const char ping[] = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}";
    const struct {
        const char *header;
        long status;
    } cases[] = {
        {"Accept: text/event-stream", 406},
        {"Accept: application/json", 200},
        {"Accept: */*", 200},
        {"Content-Type: text/plain", 415},
        {"Content-Type: application/json; charset=utf-8", 200},
        {"Origin: http://evil.example", 403}, /* DNS rebinding: another site's page */
        {"Origin: null", 403},
        {host_origin, 200},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct mresp r;
        CHECK(post_on(&srv, "alice", sid, cases[i].header, ping, &r) == 0);
        long status = r.status;
        bool rpc = r.status == 200 || err_code(r.json) != 0;
        mresp_free(&r);
        if (status != cases[i].status)
            fprintf(stdout, "    %s: %ld\n", cases[i].header, status);
        CHECK_INT(status, cases[i].status);
        CHECK(rpc); /* an error is still a JSON-RPC message */
    }
    CHECK(stop());
}

/*
 * Every status POST /mcp answers is one /openapi.json lists for it, each
 * error with a JSON-RPC body (the document's McpResponse), the 202 with none.
 */
TEST(test_every_status_mcp_answers_is_in_the_document)
{
    CHECK(start(NULL));
    struct resp doc;
    CHECK(http(&srv, "GET", "/openapi.json", NULL, NULL, 0, &doc) == 0);
    json_t *responses = json_object_get(
        json_object_get(json_object_get(json_object_get(doc.json, "paths"), "/mcp"), "post"),
        "responses");
    char sid[128];
    CHECK(init("alice", "2025-06-18", sid));
    static const char ping[] = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}";
    static const char note[] = "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}";
    const struct {
        const char *sid, *header, *body;
        long status;
    } cases[] = {
        {sid, NULL, ping, 200},
        {sid, NULL, note, 202},
        {sid, NULL, "{not json", 400},
        {NULL, NULL, ping, 400}, /* no session */
        {sid, NULL,
         "["
         "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}"
         "]",
         400},
        {sid, "MCP-Protocol-Version: 2024-11-05", ping, 400},
        {sid, "Origin: http://evil.example", ping, 403},
        {"2025-06-18.00.00", NULL, ping, 404},
        {sid, "Accept: text/event-stream", ping, 406},
        {sid, "Content-Type: text/plain", ping, 415},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct mresp r;
        CHECK(post_on(&srv, "alice", cases[i].sid, cases[i].header, cases[i].body, &r) == 0);
        char key[8];
        snprintf(key, sizeof key, "%ld", r.status);
        json_t *documented = json_object_get(responses, key);
        json_t *schema = json_object_get(
            json_object_get(json_object_get(documented, "content"), "application/json"), "schema");
        const char *ref = jstr(schema, "$ref");
        bool body_ok =
            r.status == 202   ? r.body[0] == '\0' && !json_object_get(documented, "content")
            : r.status == 200 ? ref && strcmp(ref, "#/components/schemas/McpAnswer") == 0
                              : ref && strcmp(ref, "#/components/schemas/McpResponse") == 0 &&
                                    err_code(r.json) != 0 && json_object_get(r.json, "id");
        if (r.status != cases[i].status || !documented || !body_ok)
            fprintf(stdout, "    case %zu: %ld %s (documented: %s)\n", i, r.status, r.body,
                    documented ? "yes" : "no");
        CHECK_INT(r.status, cases[i].status);
        CHECK(documented != NULL);
        CHECK(body_ok);
        mresp_free(&r);
    }
    resp_free(&doc);
    CHECK(stop());
}

TEST(test_get_and_delete_are_405_and_an_oversized_body_413)
{
    CHECK(start(NULL));
    struct mresp r;
    CHECK(send_to(&srv, "GET", (const char *[]){"Accept: text/event-stream", NULL}, NULL, 0, &r) ==
          0);
    long status = r.status;
    bool allow = strstr(r.allow, "POST") != NULL;
    mresp_free(&r);
    CHECK_INT(status, 405);
    CHECK(allow);
    CHECK(send_to(&srv, "DELETE", NULL, NULL, 0, &r) == 0);
    status = r.status;
    mresp_free(&r);
    CHECK_INT(status, 405);
    /* Past MEMORI_MAX_BODY_BYTES (1 MiB): REST's 413 and detail, before any JSON-RPC. */
    size_t n = (1 << 20) + 100;
    char *big = malloc(n + 1);
    CHECK(big);
    memset(big, ' ', n);
    memcpy(big, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}", 40);
    big[n] = '\0';
    int rc = send_to(&srv, "POST", NULL, big, n, &r);
    free(big);
    CHECK(rc == 0);
    status = r.status;
    bool detail = json_is_string(json_object_get(r.json, "detail"));
    mresp_free(&r);
    CHECK_INT(status, 413);
    CHECK(detail);
    CHECK(stop());
}

/* ---------- identity ---------- */

TEST(test_production_needs_a_bearer_token_and_the_session_is_the_tokens_user)
{
    char *env[] = {"ENVIRONMENT=production", "SECRET_KEY=" SECRET, NULL};
    CHECK(start(env));
    struct mr_auth auth = {true, true, SECRET, "HS256", "default", mr_clock_system()};
    struct mr_err err;
    char *carol = mr_auth_mint(&auth, "carol", "acme", NULL, 30, &err);
    char *dave = mr_auth_mint(&auth, "dave", "acme", NULL, 30, &err);
    CHECK(carol && dave);
    char carol_h[1024], dave_h[1024];
    snprintf(carol_h, sizeof carol_h, "Authorization: Bearer %s", carol);
    snprintf(dave_h, sizeof dave_h, "Authorization: Bearer %s", dave);
    free(carol);
    free(dave);
    struct mresp r;
    /* No token: REST's 401, X-User-Id ignored as in REST. */
    CHECK(post_on(&srv, "carol", NULL, NULL, INIT_BODY("2025-06-18"), &r) == 0);
    long status = r.status;
    mresp_free(&r);
    CHECK_INT(status, 401);
    CHECK(post_on(&srv, NULL, NULL, carol_h, INIT_BODY("2025-06-18"), &r) == 0);
    status = r.status;
    char sid[128];
    snprintf(sid, sizeof sid, "%s", r.session);
    mresp_free(&r);
    CHECK_INT(status, 200);
    CHECK(sid[0]);
    char *b = call_body(5, "remember",
                        "{\"content\":\"Carol's rule\",\"memory_type\":\"rule\","
                        "\"conversation_id\":\"" CONV "\"}");
    CHECK(post_on(&srv, NULL, sid, carol_h, b, &r) == 0);
    status = r.status;
    json_t *sc = json_incref(json_object_get(result(r.json), "structuredContent"));
    mresp_free(&r);
    char user[64] = "", tenant[64] = "";
    snprintf(user, sizeof user, "%s", jstr(sc, "user_id") ? jstr(sc, "user_id") : "");
    snprintf(tenant, sizeof tenant, "%s", jstr(sc, "tenant_id") ? jstr(sc, "tenant_id") : "");
    json_decref(sc);
    CHECK_INT(status, 200);
    CHECK_STR(user, "carol");
    CHECK_STR(tenant, "acme");
    /* Carol's session with dave's token: not dave's session. */
    CHECK(post_on(&srv, NULL, sid, dave_h, b, &r) == 0);
    status = r.status;
    mresp_free(&r);
    free(b);
    CHECK_INT(status, 404);
    CHECK(stop());
}

TEST_MAIN("e2e_mcp", T(test_the_sdk_client_lists_and_calls_every_tool),
          T(test_initialize_negotiates_the_version_and_issues_a_session),
          T(test_notifications_and_responses_are_202_without_a_body),
          T(test_a_call_before_initialize_or_in_a_foreign_session_is_refused),
          T(test_a_session_is_good_on_every_process_with_the_same_key),
          T(test_malformed_json_is_a_parse_error),
          T(test_a_message_that_is_not_a_request_is_an_invalid_request),
          T(test_an_unknown_method_is_method_not_found), T(test_invalid_params_name_the_field),
          T(test_tool_failures_are_results_with_is_error_and_the_rest_message),
          T(test_tool_results_carry_text_and_structured_content),
          T(test_remember_takes_what_rest_takes_and_says_how_the_create_went),
          T(test_learn_example_says_whether_the_example_was_new),
          T(test_batches_follow_the_negotiated_version),
          T(test_the_protocol_version_header_must_be_the_sessions),
          T(test_accept_content_type_and_origin_are_checked),
          T(test_every_status_mcp_answers_is_in_the_document),
          T(test_get_and_delete_are_405_and_an_oversized_body_413),
          T(test_production_needs_a_bearer_token_and_the_session_is_the_tokens_user))
