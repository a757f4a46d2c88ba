/*
 * handlers.c — each endpoint, for a caller the router has already
 * identified: path and query parameters, body decoding (422 on bad input),
 * one service call, and the encoded answer. Service errors map to statuses
 * through the one table in err.c.
 */
#include "handlers.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "fields.h"
#include "memori/util.h"

void api_reply(struct api_call *c, int status, char *body)
{
    c->res->status = status;
    c->res->body = body;
}

void api_reply_error(struct api_call *c, const struct mr_err *err)
{
    int status = mr_err_http_status(err->code);
    if (status >= 500 && status != 503)
        fprintf(stderr, "memori: %s %s failed: %s\n", c->req->method, c->req->path, err->msg);
    api_reply(c, status, api_encode_detail(err->msg[0] ? err->msg : "Internal error"));
}

/* Canonical UUID of path parameter i; false after replying 422. */
static bool path_uuid(struct api_call *c, int i, const char *name, char out[MR_UUID_LEN])
{
    const char *p = c->params[i];
    if (mr_uuid_parse(p, strlen(p), out) == 0)
        return true;
    api_reply(
        c, 422,
        api_encode_param_error("path", name, "uuid_parsing",
                               "Input should be a valid UUID, expected 32 hexadecimal digits, "
                               "optionally hyphenated as 8-4-4-4-12",
                               mr_utf8_valid(p, strlen(p)) ? p : NULL));
    return false;
}

/* Integer query parameter f (fields.h), def when absent; false after replying 422. */
static bool query_int(struct api_call *c, const struct api_field *f, long long def, long long *out)
{
    const char *name = f->name;
    long long lo = f->min, hi = f->max;
    int present;
    const char *v = mr_http_query(c->req, name, &present);
    if (!present) {
        *out = def;
        return true;
    }
    int64_t x = 0;
    int rc = api_parse_int_text(v, strlen(v), &x);
    const char *input = mr_utf8_valid(v, strlen(v)) ? v : NULL;
    if (rc == API_INT_BAD) {
        api_reply(c, 422,
                  api_encode_param_error("query", name, "int_parsing",
                                         "Input should be a valid integer, unable to parse string "
                                         "as an integer",
                                         input));
        return false;
    }
    char msg[96];
    bool below = rc == API_INT_BELOW || (rc == API_INT_OK && x < lo);
    if (below || rc == API_INT_ABOVE || x > hi) {
        snprintf(msg, sizeof msg, "Input should be %s than or equal to %lld",
                 below ? "greater" : "less", below ? lo : hi);
        api_reply(c, 422,
                  api_encode_param_error(
                      "query", name, below ? "greater_than_equal" : "less_than_equal", msg, input));
        return false;
    }
    *out = x;
    return true;
}

bool api_json_body(struct api_call *c)
{
    char *verr = NULL;
    if (api_check_content_type(mr_http_header(c->req, "Content-Type"), c->req->body,
                               c->req->body_len, &verr) == 0)
        return true;
    api_reply(c, 422, verr);
    return false;
}

bool api_page(struct api_call *c, struct mr_page *p)
{
    long long limit, offset;
    if (!query_int(c, &api_page_query[PQ_LIMIT], api_page_query[PQ_LIMIT].def, &limit) ||
        !query_int(c, &api_page_query[PQ_OFFSET], api_page_query[PQ_OFFSET].def, &offset))
        return false;
    p->limit = limit;
    p->offset = offset;
    return true;
}

void api_memory_create(struct api_call *c)
{
    struct api_memory_create r;
    enum mr_create_outcome how = MR_CREATE_STORED;
    struct mr_memory m;
    struct mr_err err;
    char *verr = NULL;
    if (!api_json_body(c))
        return;
    if (api_decode_memory_create(c->req->body, c->req->body_len, &r, c->api->max_list_items,
                                 &verr) != 0) {
        api_reply(c, 422, verr);
    } else if (mr_memory_create_outcome(c->api->svc, &c->who, &r.in, &m, &how, &err) != 0) {
        api_reply_error(c, &err);
    } else {
        /* A duplicate or a merge answers the stored memory, 200, and says which it was. */
        c->res->extra_header = how == MR_CREATE_DUPLICATE ? "X-Memori-Duplicate: true"
                               : how == MR_CREATE_MERGED  ? "X-Memori-Merged: true"
                                                          : NULL;
        api_reply(c, how == MR_CREATE_STORED ? 201 : 200, api_encode_memory(&m));
        mr_memory_clear(&m);
    }
    api_memory_create_free(&r);
}

/*
 * GET /api/memories?memory_type=T: T as an enum mr_memory_type, -1 when
 * absent; false after replying 422 as FastAPI answers a bad enum query.
 */
static bool query_memory_type(struct api_call *c, int *out)
{
    int present;
    const char *name = api_memory_list_query[LQ_MEMORY_TYPE].name;
    const char *v = mr_http_query(c->req, name, &present);
    enum mr_memory_type t;
    *out = -1;
    if (!present)
        return true;
    if (mr_memory_type_parse(v, strlen(v), &t) == 0) {
        *out = (int)t;
        return true;
    }
    /* The message lists every type the parser accepts, from its own names. */
    char msg[256];
    size_t o = (size_t)snprintf(msg, sizeof msg, "Input should be ");
    for (int i = 0; i < MR_MEMORY_TYPE_COUNT && o < sizeof msg; i++)
        o += (size_t)snprintf(msg + o, sizeof msg - o, "%s'%s'",
                              i == 0                          ? ""
                              : i == MR_MEMORY_TYPE_COUNT - 1 ? " or "
                                                              : ", ",
                              mr_memory_type_name((enum mr_memory_type)i));
    api_reply(
        c, 422,
        api_encode_param_error("query", name, "enum", msg, mr_utf8_valid(v, strlen(v)) ? v : NULL));
    return false;
}

void api_memory_list(struct api_call *c)
{
    struct mr_page p;
    struct mr_memory *v = NULL;
    size_t n = 0;
    int64_t total = 0;
    int type;
    struct mr_err err;
    if (!api_page(c, &p) || !query_memory_type(c, &type))
        return;
    if (mr_memory_list(c->api->svc, &c->who, type, p, &v, &n, &total, &err) != 0) {
        api_reply_error(c, &err);
        return;
    }
    api_reply(c, 200, api_encode_memory_page(v, n, total, p, c->api->max_response_bytes));
    free(v); /* the encoder cleared each memory */
}

void api_memory_history(struct api_call *c)
{
    char id[MR_UUID_LEN];
    struct mr_page p;
    if (!path_uuid(c, 0, "memory_id", id) || !api_page(c, &p))
        return;
    struct mr_history_event *v = NULL;
    size_t n = 0;
    int64_t total = 0;
    struct mr_err err;
    if (mr_memory_history(c->api->svc, &c->who, c->principal.admin, id, p, &v, &n, &total, &err) !=
        0) {
        api_reply_error(c, &err);
        return;
    }
    api_reply(c, 200, api_encode_history_page(v, n, total, p, c->api->max_response_bytes));
    free(v);
}

void api_memory_search(struct api_call *c)
{
    struct api_search r;
    struct mr_search_results out;
    struct mr_err err;
    char *verr = NULL;
    if (!api_json_body(c))
        return;
    if (api_decode_search(c->req->body, c->req->body_len, &r, c->api->max_list_items, &verr) != 0) {
        api_reply(c, 422, verr);
    } else if (mr_memory_search(c->api->svc, &c->who, &r.in, &out, &err) != 0) {
        api_reply_error(c, &err);
    } else {
        api_reply(c, 200,
                  api_encode_search(&out, r.in.query, r.in.query_len, c->api->max_response_bytes));
        mr_search_results_clear(&out);
    }
    api_search_free(&r);
}

void api_memory_stats(struct api_call *c)
{
    struct mr_stats s;
    struct mr_err err;
    if (mr_memory_stats(c->api->svc, &c->who, &s, &err) != 0)
        api_reply_error(c, &err);
    else
        api_reply(c, 200, api_encode_stats(&s));
}

void api_memory_archive(struct api_call *c)
{
    struct mr_err err;
    long long days;
    int64_t count = 0;
    if (!query_int(c, &api_archive_query[AQ_DAYS_THRESHOLD],
                   mr_service_archive_threshold_days(c->api->svc), &days))
        return;
    if (mr_memory_archive(c->api->svc, &c->who, (int)days, &count, &err) != 0)
        api_reply_error(c, &err);
    else
        api_reply(c, 200, api_encode_archive(count, (int)days));
}

void api_memory_get(struct api_call *c)
{
    char id[MR_UUID_LEN];
    struct mr_memory m;
    struct mr_err err;
    if (!path_uuid(c, 0, "memory_id", id))
        return;
    if (mr_memory_get(c->api->svc, &c->who, id, &m, &err) != 0) {
        api_reply_error(c, &err);
        return;
    }
    api_reply(c, 200, api_encode_memory(&m));
    mr_memory_clear(&m);
}

void api_memory_patch(struct api_call *c)
{
    char id[MR_UUID_LEN];
    struct api_memory_patch r;
    struct mr_memory m;
    struct mr_err err;
    char *verr = NULL;
    if (!path_uuid(c, 0, "memory_id", id) || !api_json_body(c))
        return;
    if (api_decode_memory_patch(c->req->body, c->req->body_len, &r, c->api->max_list_items,
                                &verr) != 0) {
        api_reply(c, 422, verr);
    } else if (mr_memory_update(c->api->svc, &c->who, id, &r.in, &m, &err) != 0) {
        api_reply_error(c, &err);
    } else {
        api_reply(c, 200, api_encode_memory(&m));
        mr_memory_clear(&m);
    }
    api_memory_patch_free(&r);
}

void api_memory_delete(struct api_call *c)
{
    char id[MR_UUID_LEN];
    struct mr_err err;
    if (!path_uuid(c, 0, "memory_id", id))
        return;
    if (mr_memory_delete(c->api->svc, &c->who, id, &err) != 0)
        api_reply_error(c, &err);
    else
        api_reply(c, 204, NULL);
}

void api_memory_promote(struct api_call *c)
{
    char id[MR_UUID_LEN];
    struct mr_memory m;
    struct mr_err err;
    if (!path_uuid(c, 0, "memory_id", id))
        return;
    if (mr_memory_promote(c->api->svc, &c->who, id, &m, &err) != 0) {
        api_reply_error(c, &err);
        return;
    }
    api_reply(c, 200, api_encode_memory(&m));
    mr_memory_clear(&m);
}

void api_conversation_create(struct api_call *c)
{
    struct api_conversation_create r;
    struct mr_conversation conv;
    struct mr_err err;
    char *verr = NULL;
    if (!api_json_body(c))
        return;
    if (api_decode_conversation_create(c->req->body, c->req->body_len, &r, c->api->max_list_items,
                                       &verr) != 0) {
        api_reply(c, 422, verr);
    } else if (mr_conversation_create(c->api->svc, &c->who, &r.in, &conv, &err) != 0) {
        api_reply_error(c, &err);
    } else {
        api_reply(c, 201, api_encode_conversation(&conv));
        mr_conversation_clear(&conv);
    }
    api_conversation_create_free(&r);
}

void api_conversation_list(struct api_call *c)
{
    struct mr_page p;
    struct mr_conversation *v = NULL;
    size_t n = 0;
    int64_t total = 0;
    struct mr_err err;
    if (!api_page(c, &p))
        return;
    if (mr_conversation_list(c->api->svc, &c->who, p, &v, &n, &total, &err) != 0) {
        api_reply_error(c, &err);
        return;
    }
    api_reply(c, 200, api_encode_conversation_page(v, n, total, p, c->api->max_response_bytes));
    for (size_t i = 0; i < n; i++)
        mr_conversation_clear(&v[i]);
    free(v);
}

void api_conversation_get(struct api_call *c)
{
    char id[MR_UUID_LEN];
    struct mr_conversation conv;
    struct mr_err err;
    if (!path_uuid(c, 0, "conversation_id", id))
        return;
    if (mr_conversation_get(c->api->svc, &c->who, id, &conv, &err) != 0) {
        api_reply_error(c, &err);
        return;
    }
    api_reply(c, 200, api_encode_conversation(&conv));
    mr_conversation_clear(&conv);
}

void api_conversation_patch(struct api_call *c)
{
    char id[MR_UUID_LEN];
    struct api_conversation_patch r;
    struct mr_conversation conv;
    struct mr_err err;
    char *verr = NULL;
    if (!path_uuid(c, 0, "conversation_id", id) || !api_json_body(c))
        return;
    if (api_decode_conversation_patch(c->req->body, c->req->body_len, &r, c->api->max_list_items,
                                      &verr) != 0) {
        api_reply(c, 422, verr);
    } else if (mr_conversation_update(c->api->svc, &c->who, id, &r.in, &conv, &err) != 0) {
        api_reply_error(c, &err);
    } else {
        api_reply(c, 200, api_encode_conversation(&conv));
        mr_conversation_clear(&conv);
    }
    api_conversation_patch_free(&r);
}

void api_conversation_delete(struct api_call *c)
{
    char id[MR_UUID_LEN];
    struct mr_err err;
    if (!path_uuid(c, 0, "conversation_id", id))
        return;
    if (mr_conversation_delete(c->api->svc, &c->who, id, &err) != 0)
        api_reply_error(c, &err);
    else
        api_reply(c, 204, NULL);
}

void api_conversation_memories(struct api_call *c)
{
    char id[MR_UUID_LEN];
    struct mr_page p;
    struct mr_memory *v = NULL;
    size_t n = 0;
    int64_t total = 0;
    struct mr_err err;
    if (!path_uuid(c, 0, "conversation_id", id) || !api_page(c, &p))
        return;
    if (mr_conversation_memories(c->api->svc, &c->who, id, p, &v, &n, &total, &err) != 0) {
        api_reply_error(c, &err);
        return;
    }
    api_reply(c, 200, api_encode_memory_page(v, n, total, p, c->api->max_response_bytes));
    free(v); /* the encoder cleared each memory */
}

void api_health(struct api_call *c)
{
    struct mr_service_health h;
    mr_service_health(c->api->svc, &h);
    const char *status = h.store_ok && h.embedder_ok ? "ok"
                         : h.store_ok                ? "degraded"
                                                     : "unavailable";
    api_reply(c, h.store_ok ? 200 : 503, api_encode_health(status, &h, c->api->version));
}
