/*
 * handlers_context.c — POST /api/context (DESIGN.md §10): the body
 * validated (422), the context built by the service for the caller
 * (mr_context_build: 404 for a conversation that is not theirs), the answer
 * encoded. A data source without a schema is a 200 with no tables and a
 * "detail" note; a budget too small for anything is a 200 with
 * "truncated": true.
 */
#include "handlers.h"

#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "memori/sql.h"

/* The stored schema's JSON read back by the codec that reads PUT's JSON form. */
static int read_stored_schema(const char *json, size_t len, struct mr_sql_schema **out,
                              struct mr_err *err)
{
    int status;
    char *body = NULL;
    if (api_decode_schema(json, len, out, &status, &body) == 0)
        return 0;
    free(body);
    /* The stored schema no longer reads back: a bug, not the client's. */
    return mr_err_set(err, MR_EINTERNAL, "the stored schema does not read back");
}

void api_context(struct api_call *c)
{
    struct api_context r;
    struct mr_context out;
    struct mr_err err;
    char *verr = NULL;
    if (!api_json_body(c))
        return;
    if (api_decode_context(c->req->body, c->req->body_len, &r, c->api->max_list_items, &verr) !=
        0) {
        api_reply(c, 422, verr);
    } else {
        r.in.read_schema = read_stored_schema;
        if (mr_context_build(c->api->svc, &c->who, &r.in, &out, &err) != 0) {
            api_reply_error(c, &err);
        } else {
            api_reply(c, 200, api_encode_context(&out, r.in.question, r.in.question_len));
            mr_context_clear(&out);
        }
    }
    api_context_free(&r);
}
