/*
 * handlers_docs.c — GET /openapi.json and GET /docs (DESIGN.md §11): the
 * generated document (openapi.c), and Swagger UI from local files only
 * (npm's swagger-ui-dist, copied by make beside the binary), so the page
 * loads no script, style or font from outside. The file serving is shared
 * with GET /ui (handlers_ui.c): api_serve_static.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "handlers.h"
#include "memori/util.h"

/* The files /docs may serve: never a name from the request beyond these (no traversal). */
static const struct api_static_file docs_files[] = {
    {"index.html", "text/html; charset=utf-8"},
    {"init.js", "text/javascript; charset=utf-8"},
    {"swagger-ui.css", "text/css; charset=utf-8"},
    {"swagger-ui-bundle.js", "text/javascript; charset=utf-8"},
};

static const struct api_static_dir docs = {
    .subdir = "",
    .files = docs_files,
    .n_files = sizeof docs_files / sizeof docs_files[0],
    /* The page's own scripts and styles only; the one inline-free init file starts the UI. */
    .csp = "default-src 'self'; img-src 'self' data:",
    /* Unversioned names: a browser asks again rather than keep an old Swagger UI. */
    .cache_control = "no-cache",
    .what = "Swagger UI",
    .missing = "Swagger UI is not installed: `make` copies npm's swagger-ui-dist into build/docs "
               "(`npm ci` needs the npm registry), or set MEMORI_DOCS_DIR to a directory holding "
               "index.html, init.js, swagger-ui.css and swagger-ui-bundle.js",
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

/* Answers file i of d's allow-list from its directory. */
static void serve(struct api_call *c, const struct api_static_dir *d, size_t i)
{
    char path[4096], msg[128];
    char *text = NULL;
    FILE *f = NULL;
    if (!c->api->docs_dir ||
        snprintf(path, sizeof path, "%s/%s%s%s", c->api->docs_dir, d->subdir,
                 d->subdir[0] ? "/" : "", d->files[i].name) >= (int)sizeof path ||
        !(f = fopen(path, "rb"))) {
        api_reply(c, 404, api_encode_detail(d->missing));
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
    c->res->content_type = d->files[i].type;
    c->res->content_security_policy = d->csp;
    c->res->cache_control = d->cache_control;
    goto out;
fail:
    fprintf(stderr, "memori: cannot serve %s: %s\n", path, errno ? strerror(errno) : "bad file");
    snprintf(msg, sizeof msg, "a %s file could not be read", d->what);
    api_reply(c, 500, api_encode_detail(msg));
out:
    free(text);
    if (f)
        fclose(f);
}

void api_serve_static(struct api_call *c, const struct api_static_dir *d, const char *name)
{
    for (size_t i = 0; i < d->n_files; i++)
        if (!name || strcmp(name, d->files[i].name) == 0) {
            serve(c, d, i);
            return;
        }
    api_reply(c, 404, api_encode_detail("Not Found"));
}

void api_docs(struct api_call *c)
{
    api_serve_static(c, &docs, NULL);
}

void api_docs_file(struct api_call *c)
{
    api_serve_static(c, &docs, c->params[0]);
}
