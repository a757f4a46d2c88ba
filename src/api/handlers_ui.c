/*
 * handlers_ui.c — GET /ui (DESIGN.md §11): the dashboard, plain HTML, CSS
 * and JS from web/ui/, which make copies to build/docs/ui beside the binary
 * (under MEMORI_DOCS_DIR/ui when that is set). The page calls the REST API
 * of this server and nothing else; its policy says so to the browser.
 */
#include "handlers.h"

/* The files /ui may serve: never a name from the request beyond these (no traversal). */
static const struct api_static_file ui_files[] = {
    {"index.html", "text/html; charset=utf-8"},
    {"ui.js", "text/javascript; charset=utf-8"},
    {"ui.css", "text/css; charset=utf-8"},
};

static const struct api_static_dir ui = {
    .subdir = "ui",
    .files = ui_files,
    .n_files = sizeof ui_files / sizeof ui_files[0],
    /*
     * Scripts and styles from these files only — no inline script or style
     * attribute, no eval — requests to this origin only, not framed, no
     * <base> or form that could send anything elsewhere. A memory's text
     * that slipped into markup could still not run.
     */
    .csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
           "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    /* Unversioned names: a browser asks again rather than run an old page on a new API. */
    .cache_control = "no-cache",
    .what = "dashboard",
    .missing = "The dashboard is not installed: `make` copies web/ui into build/docs/ui, or set "
               "MEMORI_DOCS_DIR to a directory holding ui/index.html, ui/ui.js and ui/ui.css",
};

void api_ui(struct api_call *c)
{
    api_serve_static(c, &ui, NULL);
}

void api_ui_file(struct api_call *c)
{
    api_serve_static(c, &ui, c->params[0]);
}
