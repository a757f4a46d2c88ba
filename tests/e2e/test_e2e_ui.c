/*
 * GET /ui and GET /api/memories against the real `memori serve` (issue 19,
 * item 2), on SQLite and (make test's second run) PostgreSQL: the list
 * route is the caller's own memories, newest first, filtered by type, paged,
 * its query validated as FastAPI does; /ui serves its files from an
 * allow-list with a Content-Security-Policy that forbids inline script and
 * other origins, and says how to install them when they are absent; and the
 * dashboard in chromium (tests/browser/ui.test.mjs) shows memories, ranked
 * search results with score bars, charts, a data source's graph and a
 * hostile memory as text, in development and with a production token.
 * A missing node or chromium is a failure, since the test scripts install both.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "http_client.h"
#include "memori/auth.h"
#include "test.h"

#define CONV_A "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"
#define CONV_B "2b3c4d5e-6f70-4b8c-9d0e-1f2a3b4c5d6e"
#define SECRET "ui-e2e-secret-0123456789abcdef0123456789"

/*
 * A test that fails returns before its stop(): the support layer stops the
 * server it left running once the test returns (http_client.c).
 */
static struct server srv;

static bool start(char *const *env)
{
    return server_start_fresh(&srv, "ui", env) == 0;
}

static bool stop(void)
{
    return server_stop_checked(&srv);
}

static long create(const char *user, const char *conv, const char *type, const char *content)
{
    char body[512];
    snprintf(body, sizeof body,
             "{\"content\":\"%s\",\"memory_type\":\"%s\",\"conversation_id\":\"%s\"}", content,
             type, conv);
    struct resp r;
    if (http(&srv, "POST", "/api/memories", user, body, SIZE_MAX, &r) != 0)
        return -1;
    long status = r.status;
    resp_free(&r);
    return status;
}

/* GET path as user: its status, and (when 200) the page's memories' contents joined by '|'. */
static long list(const char *user, const char *path, char *out, size_t cap, long long *out_total)
{
    struct resp r;
    out[0] = '\0';
    *out_total = -1;
    if (http(&srv, "GET", path, user, NULL, 0, &r) != 0)
        return -1;
    long status = r.status;
    json_t *mems = r.json ? json_object_get(r.json, "memories") : NULL;
    size_t i, o = 0;
    json_t *m;
    json_array_foreach(mems, i, m)
    {
        o += (size_t)snprintf(out + o, cap - o, "%s%s", i ? "|" : "", jstr(m, "content"));
        if (o >= cap)
            o = cap - 1;
    }
    if (r.json && status == 200)
        *out_total = jint(r.json, "total");
    resp_free(&r);
    return status;
}

TEST(test_memory_list_is_the_callers_own_newest_first)
{
    CHECK(start(NULL));
    const char *types[] = {"rule", "short_term", "entity", "rule"};
    char content[32];
    for (int i = 0; i < 4; i++) {
        snprintf(content, sizeof content, "alice %d", i);
        CHECK_INT(create("alice", CONV_A, types[i], content), 201);
        usleep(2000); /* distinct created_at on every store */
    }
    CHECK_INT(create("bob", CONV_B, "rule", "bob 0"), 201);
    char got[1024];
    long long total;
    CHECK_INT(list("alice", "/api/memories", got, sizeof got, &total), 200);
    CHECK_STR(got, "alice 3|alice 2|alice 1|alice 0");
    CHECK_INT(total, 4);
    CHECK_INT(list("alice", "/api/memories/", got, sizeof got, &total), 200); /* trailing slash */
    CHECK_STR(got, "alice 3|alice 2|alice 1|alice 0");
    CHECK_INT(list("alice", "/api/memories?limit=2&offset=1", got, sizeof got, &total), 200);
    CHECK_STR(got, "alice 2|alice 1");
    CHECK_INT(total, 4);
    CHECK_INT(list("alice", "/api/memories?memory_type=rule", got, sizeof got, &total), 200);
    CHECK_STR(got, "alice 3|alice 0");
    CHECK_INT(total, 2);
    CHECK_INT(list("alice", "/api/memories?memory_type=example", got, sizeof got, &total), 200);
    CHECK_STR(got, "");
    CHECK_INT(total, 0);
    CHECK_INT(list("alice", "/api/memories?offset=10", got, sizeof got, &total), 200);
    CHECK_STR(got, "");
    CHECK_INT(total, 4);
    CHECK_INT(list("bob", "/api/memories", got, sizeof got, &total), 200);
    CHECK_STR(got, "bob 0");
    CHECK_INT(list("carol", "/api/memories", got, sizeof got, &total), 200);
    CHECK_STR(got, "");
    CHECK_INT(total, 0);
    /* The page's shape: as a conversation's memories. */
    struct resp r;
    CHECK(http(&srv, "GET", "/api/memories?limit=1", "alice", NULL, 0, &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK(r.json);
    json_t *first = json_array_get(json_object_get(r.json, "memories"), 0);
    bool shape = jint(r.json, "limit") == 1 && jint(r.json, "offset") == 0 &&
                 json_is_false(json_object_get(r.json, "truncated")) && first &&
                 jstr(first, "memory_id") &&
                 json_is_integer(json_object_get(first, "access_count")) &&
                 json_object_get(first, "expires_at") && !json_object_get(first, "embedding");
    resp_free(&r);
    CHECK(shape);
    /* A short-term memory's expiry is listed. */
    CHECK(http(&srv, "GET", "/api/memories?memory_type=short_term", "alice", NULL, 0, &r) == 0);
    first = json_array_get(json_object_get(r.json, "memories"), 0);
    bool expires = first && json_is_string(json_object_get(first, "expires_at"));
    resp_free(&r);
    CHECK(expires);
    CHECK(stop());
}

/* The first 422 error of GET path: its type and loc ("query.limit"); the status. */
static long bad_query(const char *path, char *type, char *loc)
{
    struct resp r;
    type[0] = loc[0] = '\0';
    if (http(&srv, "GET", path, "alice", NULL, 0, &r) != 0)
        return -1;
    long status = r.status;
    first_error(&r, type, 64, loc, 64);
    resp_free(&r);
    return status;
}

TEST(test_memory_list_validates_its_query_as_fastapi)
{
    CHECK(start(NULL));
    char type[64], loc[64];
    CHECK_INT(bad_query("/api/memories?limit=0", type, loc), 422);
    CHECK_STR(type, "greater_than_equal");
    CHECK_STR(loc, "query.limit");
    CHECK_INT(bad_query("/api/memories?limit=101", type, loc), 422);
    CHECK_STR(type, "less_than_equal");
    CHECK_INT(bad_query("/api/memories?limit=abc", type, loc), 422);
    CHECK_STR(type, "int_parsing");
    CHECK_INT(bad_query("/api/memories?offset=-1", type, loc), 422);
    CHECK_STR(loc, "query.offset");
    CHECK_INT(bad_query("/api/memories?memory_type=bogus", type, loc), 422);
    CHECK_STR(type, "enum");
    CHECK_STR(loc, "query.memory_type");
    CHECK_INT(bad_query("/api/memories?memory_type=", type, loc), 422);
    CHECK_STR(type, "enum");
    CHECK_INT(bad_query("/api/memories?memory_type=Rule", type, loc), 422);
    /* Every type the document lists is accepted. */
    struct resp r;
    CHECK(http(&srv, "GET", "/openapi.json", NULL, NULL, 0, &r) == 0);
    json_t *op =
        json_object_get(json_object_get(json_object_get(r.json, "paths"), "/api/memories"), "get");
    size_t i, n_params = 0;
    json_t *p;
    bool has_type = false;
    json_array_foreach(json_object_get(op, "parameters"), i, p)
    {
        n_params++;
        if (strcmp(jstr(p, "name"), "memory_type") == 0 && strcmp(jstr(p, "in"), "query") == 0)
            has_type = true;
    }
    json_t *types = json_object_get(
        json_object_get(json_object_get(json_object_get(r.json, "components"), "schemas"),
                        "MemoryType"),
        "enum");
    json_t *t;
    size_t accepted = 0;
    json_array_foreach(types, i, t)
    {
        char path[128];
        snprintf(path, sizeof path, "/api/memories?memory_type=%s", json_string_value(t));
        accepted += bad_query(path, type, loc) == 200;
    }
    size_t n_types = json_array_size(types);
    resp_free(&r);
    CHECK(op);
    CHECK(has_type);
    CHECK(n_params >= 4); /* limit, offset, memory_type, X-User-Id */
    CHECK(n_types >= 6);
    CHECK_INT(accepted, n_types);
    CHECK(stop());
}

TEST(test_ui_without_its_files_is_a_404_that_says_how_to_install)
{
    char dir[600], env[700];
    snprintf(dir, sizeof dir, "%s/no-ui-here", test_tmpdir());
    snprintf(env, sizeof env, "MEMORI_DOCS_DIR=%s", dir);
    char *const e[] = {env, NULL};
    CHECK(start(e));
    struct resp r;
    CHECK(http(&srv, "GET", "/ui", NULL, NULL, 0, &r) == 0);
    long status = r.status;
    const char *detail = r.json ? jstr(r.json, "detail") : NULL;
    bool says = detail && strstr(detail, "make") && strstr(detail, "MEMORI_DOCS_DIR");
    resp_free(&r);
    CHECK_INT(status, 404);
    CHECK(says);
    CHECK(stop());
}

/* The value of header name (with its ": ") in a raw answer, up to the line's end, into out. */
static const char *header(const char *answer, const char *name, char *out, size_t cap)
{
    out[0] = '\0';
    const char *end = strstr(answer, "\r\n\r\n");
    const char *h = strstr(answer, name);
    if (!h || (end && h > end))
        return out;
    h += strlen(name);
    size_t n = strcspn(h, "\r\n");
    snprintf(out, cap, "%.*s", (int)(n < cap ? n : cap - 1), h);
    return out;
}

/* Whether html has an attribute like onclick= or onerror= (an inline handler). */
static bool inline_handler(const char *html)
{
    for (const char *p = html; (p = strstr(p, " on")); p += 3) {
        const char *q = p + 3;
        while (*q >= 'a' && *q <= 'z')
            q++;
        if (q > p + 3 && *q == '=')
            return true;
    }
    return false;
}

TEST(test_ui_serves_its_files_with_a_strict_policy)
{
    CHECK(start(NULL)); /* the default: build/docs/ui beside the binary */
    char *page = http_raw_get(&srv, "/ui");
    CHECK(page);
    char csp[512], cache[128], type[128];
    header(page, "Content-Security-Policy: ", csp, sizeof csp);
    header(page, "Cache-Control: ", cache, sizeof cache);
    header(page, "Content-Type: ", type, sizeof type);
    const char *body = strstr(page, "\r\n\r\n");
    bool ok = strncmp(page, "HTTP/1.1 200", 12) == 0 && body &&
              strstr(body, "<script src=\"/ui/ui.js\"") && strstr(body, "/ui/ui.css") &&
              !strstr(body, "http://") && !strstr(body, "https://") && !strstr(body, "<script>") &&
              !strstr(body, "style=") && !inline_handler(body);
    if (!ok)
        fprintf(stdout, "    %.800s\n", page);
    free(page);
    CHECK(ok);
    CHECK_STR(type, "text/html; charset=utf-8");
    CHECK_STR(cache, "no-cache");
    /* Inline script and other origins refused: no 'unsafe-*', no scheme or host, nothing by
     * default. */
    CHECK(strstr(csp, "default-src 'none'"));
    CHECK(strstr(csp, "script-src 'self'"));
    CHECK(strstr(csp, "connect-src 'self'"));
    CHECK(strstr(csp, "frame-ancestors 'none'"));
    CHECK(strstr(csp, "script-src 'self';"));
    CHECK(!strstr(csp, "unsafe") && !strstr(csp, "http") && !strstr(csp, "*"));
    const char *files[][2] = {{"/ui/ui.js", "text/javascript; charset=utf-8"},
                              {"/ui/ui.css", "text/css; charset=utf-8"},
                              {"/ui/index.html", "text/html; charset=utf-8"},
                              {"/ui/", "text/html; charset=utf-8"}};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char *a = http_raw_get(&srv, files[i][0]);
        CHECK(a);
        char t[128], c[512];
        header(a, "Content-Type: ", t, sizeof t);
        header(a, "Content-Security-Policy: ", c, sizeof c);
        bool fine = strncmp(a, "HTTP/1.1 200", 12) == 0 && strcmp(t, files[i][1]) == 0 &&
                    strcmp(c, csp) == 0 && strstr(a, "Cache-Control: no-cache");
        if (!fine)
            fprintf(stdout, "    %s: %.300s\n", files[i][0], a);
        free(a);
        CHECK(fine);
    }
    /* The script puts no text into the page as markup (textContent only). */
    char *js = http_raw_get(&srv, "/ui/ui.js");
    CHECK(js);
    bool text_only = strstr(js, "textContent") && !strstr(js, "innerHTML") &&
                     !strstr(js, "outerHTML") && !strstr(js, "insertAdjacentHTML") &&
                     !strstr(js, "document.write") && !strstr(js, "eval(") &&
                     !strstr(js, "localStorage.") && !strstr(js, "sessionStorage.") &&
                     !strstr(js, "document.cookie");
    free(js);
    CHECK(text_only);
    /* Nothing off the allow-list: not the Swagger files beside it, not a path out. */
    const char *refused[] = {"/ui/init.js",
                             "/ui/swagger-ui-bundle.js",
                             "/ui/../docs/init.js",
                             "/ui/..%2F..%2Fetc%2Fpasswd",
                             "/ui/%2e%2e/index.html",
                             "/ui/ui.js.map",
                             "/ui/a/b"};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        char *a = http_raw_get(&srv, refused[i]);
        CHECK(a);
        bool is404 = strncmp(a, "HTTP/1.1 404", 12) == 0 && !strstr(a, "root:") &&
                     !strstr(a, "SwaggerUIBundle");
        if (!is404)
            fprintf(stdout, "    %s: %.80s\n", refused[i], a);
        free(a);
        CHECK(is404);
    }
    CHECK(stop());
}

static bool browser_ready(void)
{
    /* Not a skip: CI installs both (scripts/install-test-deps.sh). */
    if (!have_command("node"))
        test_fail(__FILE__, __LINE__, "node missing: scripts/install-test-deps.sh installs it");
    if (!have_command("/usr/bin/chromium"))
        test_fail(__FILE__, __LINE__, "chromium missing: scripts/install-test-deps.sh installs it");
    if (access("build/npm/node_modules/playwright-core/package.json", R_OK) != 0)
        test_fail(__FILE__, __LINE__, "playwright-core missing: make runs npm ci into build/npm");
    return !test_failed();
}

/* Runs tests/browser/ui.test.mjs on the server with extra env text; its output into stdout. */
static bool run_browser(const char *label, const char *extra)
{
    char env[1024], log[128];
    snprintf(env, sizeof env, "MEMORI_SHOT_DIR=build/screenshots MEMORI_LABEL=%s %s", label, extra);
    snprintf(log, sizeof log, "ui-browser-%s.log", label);
    return run_node_test(&srv, "tests/browser/ui.test.mjs", env, 150, log, "ui.test: ok");
}

static bool screenshot(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && st.st_size > 20000;
}

TEST(test_ui_in_chromium)
{
    if (!browser_ready())
        return;
    CHECK(start(NULL));
    CHECK(run_browser(test_backend(), ""));
    char shot[128];
    snprintf(shot, sizeof shot, "build/screenshots/ui-%s.png", test_backend());
    CHECK(screenshot(shot));
    snprintf(shot, sizeof shot, "build/screenshots/ui-graph-%s.png", test_backend());
    CHECK(screenshot(shot));
    CHECK(stop());
}

TEST(test_ui_in_chromium_with_a_production_token)
{
    if (!browser_ready())
        return;
    char *env[] = {"ENVIRONMENT=production", "SECRET_KEY=" SECRET, NULL};
    CHECK(start(env));
    struct mr_auth auth = {true, true, SECRET, "HS256", "default", NULL};
    auth.clock = mr_clock_system();
    struct mr_err err;
    char *tok = mr_auth_mint(&auth, "ui-carol", NULL, NULL, 30, &err);
    CHECK(tok);
    char label[64], extra[1024];
    snprintf(label, sizeof label, "production-%s", test_backend());
    snprintf(extra, sizeof extra, "MEMORI_TOKEN=%s", tok);
    free(tok);
    CHECK(run_browser(label, extra));
    CHECK(stop());
}

TEST_MAIN("e2e_ui", T(test_memory_list_is_the_callers_own_newest_first),
          T(test_memory_list_validates_its_query_as_fastapi),
          T(test_ui_without_its_files_is_a_404_that_says_how_to_install),
          T(test_ui_serves_its_files_with_a_strict_policy), T(test_ui_in_chromium),
          T(test_ui_in_chromium_with_a_production_token))
