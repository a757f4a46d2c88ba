/*
 * handlers_schema.c — the data-source endpoints of DESIGN.md §9: a
 * schema's PUT, GET and DELETE. The path's data source id must be a
 * positive integer (422). Changing a schema is tenant administration: in
 * production only admins may (403); in development and staging every
 * caller may (identity there is unauthenticated anyway). Reading is open to
 * every user of the tenant.
 */
#include "handlers.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "fields.h"
#include "memori/sql.h"
#include "memori/util.h"

/* Path parameter 0 as a data source id; false after replying 422. */
static bool path_data_source(struct api_call *c, int64_t *out)
{
    const char *p = c->params[0];
    char *end;
    errno = 0;
    long long x = strtoll(p, &end, 10);
    const char *input = mr_utf8_valid(p, strlen(p)) ? p : NULL;
    if (errno || end == p || *end) {
        api_reply(c, 422,
                  api_encode_param_error("path", "data_source_id", "int_parsing",
                                         "Input should be a valid integer, unable to parse string "
                                         "as an integer",
                                         input));
        return false;
    }
    if (x < api_path_params[PP_DATA_SOURCE_ID].min) {
        api_reply(c, 422,
                  api_encode_param_error("path", "data_source_id", "greater_than",
                                         "Input should be greater than 0", input));
        return false;
    }
    *out = x;
    return true;
}

/* Production: only admins change tenant knowledge. False after replying 403. */
static bool may_administer(struct api_call *c)
{
    if (!c->api->auth->production || c->principal.admin)
        return true;
    api_reply(c, 403,
              api_encode_detail("Admin privileges required to change a data source's "
                                "schema"));
    return false;
}

void api_schema_put(struct api_call *c)
{
    int64_t ds;
    if (!path_data_source(c, &ds) || !may_administer(c) || !api_json_body(c))
        return;
    struct mr_sql_schema *schema = NULL;
    int status;
    char *body = NULL;
    if (api_decode_schema(c->req->body, c->req->body_len, &schema, &status, &body) != 0) {
        api_reply(c, status, body);
        return;
    }
    struct mr_schema_summary sum;
    struct mr_err err;
    if (mr_schema_put(c->api->svc, &c->who, ds, schema, &sum, &err) != 0) {
        api_reply_error(c, &err);
    } else {
        api_reply(c, 200, api_encode_schema_summary(&sum));
        mr_schema_summary_clear(&sum);
    }
    mr_sql_schema_free(schema);
}

void api_schema_get(struct api_call *c)
{
    int64_t ds;
    if (!path_data_source(c, &ds))
        return;
    char *json = NULL;
    struct mr_err err;
    if (mr_schema_get(c->api->svc, &c->who, ds, &json, &err) != 0)
        api_reply_error(c, &err);
    else
        api_reply(c, 200, json);
}

void api_data_source_list(struct api_call *c)
{
    struct mr_page p;
    struct mr_data_source *v = NULL;
    size_t n = 0;
    int64_t total = 0;
    struct mr_err err;
    if (!api_page(c, &p))
        return;
    if (mr_schema_list(c->api->svc, &c->who, p, &v, &n, &total, &err) != 0) {
        api_reply_error(c, &err);
        return;
    }
    api_reply(c, 200, api_encode_data_source_page(v, n, total, p, c->api->max_response_bytes));
    for (size_t i = 0; i < n; i++)
        mr_data_source_clear(&v[i]);
    free(v);
}

void api_schema_delete(struct api_call *c)
{
    int64_t ds;
    if (!path_data_source(c, &ds) || !may_administer(c))
        return;
    struct mr_err err;
    if (mr_schema_delete(c->api->svc, &c->who, ds, &err) != 0)
        api_reply_error(c, &err);
    else
        api_reply(c, 204, NULL);
}

/*
 * The example's SQL is analysed here, in the dialect of the source's stored
 * schema (PostgreSQL when it has none) and against it, so the SQL module's
 * diagnostics become 422s that name the unknown table or column.
 */
void api_example_create(struct api_call *c)
{
    struct api_example r;
    char *verr = NULL;
    if (!api_json_body(c))
        return;
    if (api_decode_example(c->req->body, c->req->body_len, &r, &verr) != 0) {
        api_reply(c, 422, verr);
        return;
    }
    struct mr_sql_schema *schema = NULL;
    struct mr_sql_analysis *an = NULL;
    struct mr_sql_diag diag = {0};
    struct mr_err err;
    char *json = NULL, *body = NULL;
    int status;
    int rc = mr_schema_get(c->api->svc, &c->who, r.in.data_source_id, &json, &err);
    if (rc == 0 && api_decode_schema(json, strlen(json), &schema, &status, &body) != 0) {
        /* The stored schema no longer reads back: a bug, not the client's. */
        free(body);
        mr_err_set(&err, MR_EINTERNAL, "the stored schema of data source %lld does not read back",
                   (long long)r.in.data_source_id);
        api_reply_error(c, &err);
        goto out;
    }
    if (rc != 0 && rc != MR_ENOTFOUND) {
        api_reply_error(c, &err);
        goto out;
    }
    enum mr_sql_dialect d = schema ? schema->dialect : MR_SQL_POSTGRESQL;
    if (mr_sql_analyze(d, schema, r.in.sql, r.in.sql_len, &an, &diag, &err) != 0) {
        api_sql_error(&err, &diag, "sql", &status, &body);
        api_reply(c, status, body);
        goto out;
    }
    r.in.schema = schema;
    r.in.analysis = an;
    struct mr_memory m;
    bool created;
    if (mr_example_create(c->api->svc, &c->who, &r.in, &m, &created, &err) != 0) {
        api_reply_error(c, &err);
    } else {
        api_reply(c, created ? 201 : 200, api_encode_memory(&m));
        mr_memory_clear(&m);
    }
out:
    mr_sql_analysis_free(an);
    mr_sql_schema_free(schema);
    free(json);
    api_example_free(&r);
}
