/*
 * handlers_docs.c — GET /openapi.json and GET /docs (DESIGN.md §11): the
 * generated document (openapi.c), and Swagger UI from local files only
 * (npm's swagger-ui-dist, copied by make beside the binary), so the page
 * loads no script, style or font from outside.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "handlers.h"
#include "memori/util.h"

/* The page's own scripts and styles only; the one inline-free init file starts the UI. */
static const char CSP[] = "default-src 'self'; img-src 'self' data:";

/* The files /docs may serve: never a name from the request beyond these (no traversal). */
static const struct {
    const char *name;
    const char *type;
} files[] = {
    {"index.html", "text/html; charset=utf-8"},
    {"init.js", "text/javascript; charset=utf-8"},
    {"swagger-ui.css", "text/css; charset=utf-8"},
    {"swagger-ui-bundle.js", "text/javascript; charset=utf-8"},
};

void api_openapi(struct api_call *c)
{
    const char *doc = mr_api_openapi(c->api);
    if (!doc) {
        api_reply(c, 500, api_encode_detail("the OpenAPI document could not be built"));
        return;
    }
    api_reply(c, 200, mr_xstrdup(doc));
}

static void not_installed(struct api_call *c)
{
    api_reply(c, 404,
              api_encode_detail("Swagger UI is not installed: `make` copies npm's swagger-ui-dist "
                                "into build/docs (`npm ci` needs the npm registry), or set "
                                "MEMORI_DOCS_DIR to a directory holding index.html, init.js, "
                                "swagger-ui.css and swagger-ui-bundle.js"));
}

/* Answers file i of the allow-list from the docs directory. */
static void serve(struct api_call *c, size_t i)
{
    char path[4096];
    char *text = NULL;
    FILE *f = NULL;
    if (!c->api->docs_dir ||
        snprintf(path, sizeof path, "%s/%s", c->api->docs_dir, files[i].name) >= (int)sizeof path ||
        !(f = fopen(path, "rb"))) {
        not_installed(c);
        goto out;
    }
    if (fseek(f, 0, SEEK_END) != 0)
        goto fail;
    long n = ftell(f);
    if (n < 0 || fseek(f, 0, SEEK_SET) != 0)
        goto fail;
    text = mr_xmalloc((size_t)n + 1);
    if (fread(text, 1, (size_t)n, f) != (size_t)n)
        goto fail;
    text[n] = '\0';
    /* The server sends a body up to its NUL: a file holding one would be cut short. */
    if (memchr(text, '\0', (size_t)n))
        goto fail;
    api_reply(c, 200, text);
    text = NULL;
    c->res->content_type = files[i].type;
    c->res->content_security_policy = CSP;
    goto out;
fail:
    fprintf(stderr, "memori: cannot serve %s: %s\n", path, errno ? strerror(errno) : "bad file");
    api_reply(c, 500, api_encode_detail("a Swagger UI file could not be read"));
out:
    free(text);
    if (f)
        fclose(f);
}

void api_docs(struct api_call *c)
{
    serve(c, 0);
}

void api_docs_file(struct api_call *c)
{
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        if (strcmp(c->params[0], files[i].name) == 0) {
            serve(c, i);
            return;
        }
    api_reply(c, 404, api_encode_detail("Not Found"));
}
