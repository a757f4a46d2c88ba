/*
 * codec_context.c — the body and the answer of POST /api/context
 * (DESIGN.md §10). The body is validated with codec.c's validators against
 * its fields in fields.h (the OpenAPI document reads the same table), so its
 * 422s read like search's (pydantic's lax numbers, FastAPI's messages,
 * extra fields ignored).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "fields.h"
#include "memori/context.h"
#include "memori/util.h"

int api_decode_context(const char *body, size_t len, struct api_context *out, size_t max_items,
                       char **out_err)
{
    const struct api_field *cx = api_context_fields;
    memset(out, 0, sizeof *out);
    struct api_body b;
    struct mr_json *doc = api_body_begin(body, len, max_items, &b, out_err);
    if (!doc)
        return MR_EVALIDATION;
    out->doc = doc;
    struct mr_context_request *in = &out->in;
    long long ds = 0, budget = 2000, tables = 8, examples = 3, rules = 10;
    api_body_string(&b, &cx[CX_QUESTION], &in->question, &in->question_len);
    in->has_data_source_id = api_body_int(&b, &cx[CX_DATA_SOURCE_ID], &ds) > 0;
    in->data_source_id = ds;
    if (api_body_uuid(&b, &cx[CX_CONVERSATION_ID], out->conversation_id) > 0)
        in->conversation_id = out->conversation_id;
    api_body_int(&b, &cx[CX_TOKEN_BUDGET], &budget);
    api_body_int(&b, &cx[CX_MAX_TABLES], &tables);
    api_body_int(&b, &cx[CX_MAX_EXAMPLES], &examples);
    api_body_int(&b, &cx[CX_MAX_RULES], &rules);
    in->token_budget = (size_t)budget;
    in->max_tables = (size_t)tables;
    in->max_examples = (size_t)examples;
    in->max_rules = (size_t)rules;
    return api_body_finish(&b, out_err);
}

void api_context_free(struct api_context *r)
{
    mr_json_free(r->doc);
    memset(r, 0, sizeof *r);
}

/* Scores as search prints them: 4 decimals, so the same ranking gives the same bytes. */
static struct mr_json *score(double x)
{
    return mr_json_real(round(x * 10000.0) / 10000.0);
}

static struct mr_json *str_or_null(const char *s)
{
    return s ? mr_json_string(s) : mr_json_null();
}

static struct mr_json *tables_json(const struct mr_ctx_result *r)
{
    struct mr_json *a = mr_json_array();
    for (size_t i = 0; i < r->ntables; i++) {
        const struct mr_ctx_table_out *t = &r->tables[i];
        struct mr_json *cols = mr_json_array();
        for (size_t c = 0; c < t->ncolumns; c++) {
            const struct mr_ctx_column *col = &t->columns[c];
            struct mr_json *o = mr_json_with(mr_json_object(), "name", mr_json_string(col->name));
            mr_json_set(o, "type", mr_json_string(col->type ? col->type : ""));
            mr_json_set(o, "description", str_or_null(col->description));
            mr_json_set(o, "primary_key", mr_json_bool(col->primary_key));
            mr_json_append(cols, o);
        }
        struct mr_json *o = mr_json_with(mr_json_object(), "name", mr_json_string(t->name));
        mr_json_set(o, "memory_id", str_or_null(t->memory_id));
        mr_json_set(o, "score", score(t->score));
        mr_json_set(o, "reason", mr_json_string(mr_ctx_reason_name(t->reason)));
        mr_json_set(o, "columns", cols);
        mr_json_set(o, "columns_omitted", mr_json_integer((int64_t)t->columns_omitted));
        mr_json_append(a, o);
    }
    return a;
}

char *api_encode_context(const struct mr_context *c, const char *question, size_t question_len)
{
    const struct mr_ctx_result *r = c->result;
    struct mr_json *o =
        mr_json_with(mr_json_object(), "question", mr_json_stringn(question, question_len));
    mr_json_set(o, "data_source_id",
                c->has_data_source_id ? mr_json_integer(c->data_source_id) : mr_json_null());
    struct mr_json *rules = mr_json_array();
    for (size_t i = 0; i < r->nrules; i++) {
        struct mr_json *x =
            mr_json_with(mr_json_object(), "memory_id", mr_json_string(r->rules[i].memory_id));
        mr_json_set(x, "content", mr_json_string(r->rules[i].content));
        mr_json_set(x, "score", score(r->rules[i].score));
        mr_json_set(x, "pinned", mr_json_bool(r->rules[i].pinned));
        mr_json_append(rules, x);
    }
    mr_json_set(o, "rules", rules);
    mr_json_set(o, "tables", tables_json(r));
    struct mr_json *joins = mr_json_array();
    for (size_t i = 0; i < r->njoins; i++) {
        const struct mr_ctx_join_out *j = &r->joins[i];
        struct mr_json *x = mr_json_with(mr_json_object(), "from", mr_json_string(j->from));
        mr_json_set(x, "to", mr_json_string(j->to));
        mr_json_set(x, "memory_id", str_or_null(j->memory_id));
        mr_json_set(x, "inferred", mr_json_bool(j->inferred));
        mr_json_set(x, "source", mr_json_string(mr_ctx_join_kind_name(j->kind)));
        mr_json_append(joins, x);
    }
    mr_json_set(o, "joins", joins);
    struct mr_json *examples = mr_json_array();
    for (size_t i = 0; i < r->nexamples; i++) {
        const struct mr_ctx_example *e = &r->examples[i];
        struct mr_json *x =
            mr_json_with(mr_json_object(), "memory_id", mr_json_string(e->memory_id));
        mr_json_set(x, "question", mr_json_string(e->question));
        mr_json_set(x, "sql", mr_json_string(e->sql));
        mr_json_set(x, "score", score(e->score));
        mr_json_set(x, "verified", mr_json_bool(e->verified));
        mr_json_append(examples, x);
    }
    mr_json_set(o, "examples", examples);
    struct mr_json *recent = mr_json_array();
    for (size_t i = 0; i < r->nrecent; i++) {
        const struct mr_ctx_recent *m = &r->recent[i];
        struct mr_json *x =
            mr_json_with(mr_json_object(), "memory_id", mr_json_string(m->memory_id));
        mr_json_set(x, "content", mr_json_string(m->content));
        mr_json_set(x, "memory_type", mr_json_string(m->memory_type));
        mr_json_set(x, "created_at", mr_json_string(m->created_at));
        mr_json_append(recent, x);
    }
    mr_json_set(o, "recent", recent);
    mr_json_set(o, "prompt", mr_json_stringn(r->prompt, r->prompt_len));
    mr_json_set(o, "token_estimate", mr_json_integer((int64_t)r->token_estimate));
    mr_json_set(o, "truncated", mr_json_bool(r->truncated));
    if (c->detail)
        mr_json_set(o, "detail", mr_json_string(c->detail));
    char *s = mr_json_print(o, 15);
    mr_json_free(o);
    return s ? s : mr_xstrdup("{\"detail\":\"response encoding failed\"}");
}
