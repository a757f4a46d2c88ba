/*
 * handlers_ops.c — the operator's endpoints beside the API of DESIGN.md §4
 * (§11): GET /metrics.
 */
#include <stdlib.h>

#include "handlers.h"
#include "memori/metrics.h"

void api_metrics(struct api_call *c)
{
    /*
     * Open like /health (DESIGN.md §11 asks for no credentials, and
     * Prometheus scrapes without them): it names no user, memory or secret,
     * only counts (docs/security.md).
     */
    struct mr_metrics_state st = {.version = c->api->version};
    mr_service_metrics(c->api->svc, &st);
    c->res->status = 200;
    c->res->body = mr_metrics_render(&st);
    c->res->content_type = "text/plain; version=0.0.4; charset=utf-8";
}
