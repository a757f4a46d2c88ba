/*
 * codec.c — JSON ⇄ structs for the HTTP API, with request validation that
 * answers like FastAPI + pydantic v2 (types, messages and `loc` paths), so
 * clients written for the reference templates read our errors unchanged.
 * The only file of src/api/ that includes jansson.
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api_int.h"
#include "memori/clock.h"

/* ---------- validation ---------- */

struct v {
    json_t *errors;   /* array of error objects */
    json_t *obj;      /* the body object */
    size_t max_items; /* longest accepted list */
};

#define MAX_METADATA_DEPTH 32

static void add_err(struct v *v, const char *field, json_int_t index, const char *type,
                    const char *msg, json_t *input, json_t *ctx)
{
    json_t *loc = json_pack("[s]", "body");
    if (field)
        json_array_append_new(loc, json_string(field));
    if (index >= 0)
        json_array_append_new(loc, json_integer(index));
    json_t *e = json_pack("{s:s, s:o, s:s}", "type", type, "loc", loc, "msg", msg);
    json_object_set(e, "input", input ? input : json_null());
    if (ctx)
        json_object_set_new(e, "ctx", ctx);
    json_array_append_new(v->errors, e);
}

static char *dump(json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY |
                                JSON_REAL_PRECISION(15));
    json_decref(j);
    if (!s)
        s = mr_xstrdup("{\"detail\":\"response encoding failed\"}");
    return s;
}

/*
 * Parses body as a JSON object. Returns the document, or NULL with *out_err
 * set to the 422 body FastAPI gives (missing body, json_invalid, not an object).
 */
static json_t *parse_body(const char *body, size_t len, char **out_err)
{
    json_t *errors = json_array();
    struct v v = {errors, NULL, 0};
    json_error_t jerr;
    json_t *doc = NULL;
    size_t i = 0;
    while (i < len && (body[i] == ' ' || body[i] == '\n' || body[i] == '\r' || body[i] == '\t'))
        i++;
    if (i == len) {
        add_err(&v, NULL, -1, "missing", "Field required", NULL, NULL);
        goto fail;
    }
    doc = json_loadb(body, len, JSON_DECODE_ANY, &jerr);
    if (!doc) {
        json_t *loc = json_pack("[s,I]", "body", (json_int_t)jerr.position);
        json_t *e = json_pack("{s:s, s:o, s:s, s:{}, s:{s:s}}", "type", "json_invalid", "loc", loc,
                              "msg", "JSON decode error", "input", "ctx", "error", jerr.text);
        json_array_append_new(errors, e);
        goto fail;
    }
    if (!json_is_object(doc)) {
        add_err(&v, NULL, -1, "model_attributes_type",
                "Input should be a valid dictionary or object to extract fields from", doc, NULL);
        goto fail;
    }
    json_decref(errors);
    return doc;
fail:
    json_decref(doc);
    *out_err = dump(json_pack("{s:o}", "detail", errors));
    return NULL;
}

/* Finishes a decode: 0 when no error was recorded, else the 422 body. */
static int finish(struct v *v, char **out_err)
{
    if (json_array_size(v->errors) == 0) {
        json_decref(v->errors);
        return 0;
    }
    *out_err = dump(json_pack("{s:o}", "detail", v->errors));
    return MR_EVALIDATION;
}

/* The field's value; NULL when absent. *is_null tells an explicit null. */
static json_t *field(struct v *v, const char *name, bool *is_null)
{
    json_t *x = json_object_get(v->obj, name);
    *is_null = x && json_is_null(x);
    return x;
}

enum presence { REQUIRED, OPTIONAL, NULLABLE };

/* Looks a field up under its presence rule; returns NULL when there is nothing to decode. */
static json_t *lookup(struct v *v, const char *name, enum presence p)
{
    bool is_null;
    json_t *x = field(v, name, &is_null);
    if (!x) {
        if (p == REQUIRED)
            add_err(v, name, -1, "missing", "Field required", v->obj, NULL);
        return NULL;
    }
    if (is_null && p == NULLABLE)
        return NULL;
    return x;
}

static int get_string(struct v *v, const char *name, enum presence p, size_t min_chars,
                      size_t max_chars, const char **out, size_t *out_len)
{
    json_t *x = lookup(v, name, p);
    if (!x)
        return 0;
    if (!json_is_string(x)) {
        add_err(v, name, -1, "string_type", "Input should be a valid string", x, NULL);
        return -1;
    }
    const char *s = json_string_value(x);
    size_t n = json_string_length(x), chars = mr_utf8_len(s, n);
    char msg[96];
    if (chars < min_chars) {
        snprintf(msg, sizeof msg, "String should have at least %zu character%s", min_chars,
                 min_chars == 1 ? "" : "s");
        add_err(v, name, -1, "string_too_short", msg, x,
                json_pack("{s:I}", "min_length", (json_int_t)min_chars));
        return -1;
    }
    if (chars > max_chars) {
        snprintf(msg, sizeof msg, "String should have at most %zu character%s", max_chars,
                 max_chars == 1 ? "" : "s");
        add_err(v, name, -1, "string_too_long", msg, x,
                json_pack("{s:I}", "max_length", (json_int_t)max_chars));
        return -1;
    }
    *out = s;
    *out_len = n;
    return 1;
}

/* A JSON number, or a numeric string (pydantic's lax mode); -1 on a type error. */
static int as_number(json_t *x, double *out, bool *parse_error)
{
    *parse_error = false;
    if (json_is_number(x)) {
        *out = json_number_value(x);
        return 0;
    }
    if (json_is_string(x)) {
        const char *s = json_string_value(x);
        char *end;
        double d = strtod(s, &end);
        while (*end == ' ')
            end++;
        if (end != s && *end == '\0' && json_string_length(x) == strlen(s)) {
            *out = d;
            return 0;
        }
        *parse_error = true;
    }
    return -1;
}

static int get_float(struct v *v, const char *name, enum presence p, double lo, double hi,
                     double *out)
{
    json_t *x = lookup(v, name, p);
    if (!x)
        return 0;
    double d;
    bool parse_error;
    if (as_number(x, &d, &parse_error) != 0) {
        add_err(v, name, -1, parse_error ? "float_parsing" : "float_type",
                parse_error ? "Input should be a valid number, unable to parse string as a number"
                            : "Input should be a valid number",
                x, NULL);
        return -1;
    }
    if (!isfinite(d)) {
        add_err(v, name, -1, "finite_number", "Input should be a finite number", x, NULL);
        return -1;
    }
    char msg[96];
    if (d < lo) {
        snprintf(msg, sizeof msg, "Input should be greater than or equal to %g", lo);
        add_err(v, name, -1, "greater_than_equal", msg, x, json_pack("{s:f}", "ge", lo));
        return -1;
    }
    if (d > hi) {
        snprintf(msg, sizeof msg, "Input should be less than or equal to %g", hi);
        add_err(v, name, -1, "less_than_equal", msg, x, json_pack("{s:f}", "le", hi));
        return -1;
    }
    *out = d;
    return 1;
}

static int get_int(struct v *v, const char *name, enum presence p, long long lo, long long hi,
                   long long *out)
{
    json_t *x = lookup(v, name, p);
    if (!x)
        return 0;
    double d;
    bool parse_error;
    if (json_is_integer(x)) {
        d = (double)json_integer_value(x);
    } else if (as_number(x, &d, &parse_error) != 0 || d != floor(d) || !isfinite(d)) {
        bool frac = json_is_real(x) && isfinite(json_real_value(x));
        add_err(v, name, -1,
                frac                ? "int_from_float"
                : json_is_string(x) ? "int_parsing"
                                    : "int_type",
                frac ? "Input should be a valid integer, got a number with a fractional part"
                : json_is_string(x)
                    ? "Input should be a valid integer, unable to parse string as an integer"
                    : "Input should be a valid integer",
                x, NULL);
        return -1;
    }
    char msg[96];
    if (d < (double)lo) {
        snprintf(msg, sizeof msg, "Input should be greater than or equal to %lld", lo);
        add_err(v, name, -1, "greater_than_equal", msg, x, json_pack("{s:I}", "ge", lo));
        return -1;
    }
    if (d > (double)hi) {
        snprintf(msg, sizeof msg, "Input should be less than or equal to %lld", hi);
        add_err(v, name, -1, "less_than_equal", msg, x, json_pack("{s:I}", "le", hi));
        return -1;
    }
    *out = (long long)d;
    return 1;
}

static int parse_bool_text(const char *s, bool *out)
{
    static const char *const t[] = {"true", "1", "yes", "on", "t", "y"};
    static const char *const f[] = {"false", "0", "no", "off", "f", "n"};
    for (size_t i = 0; i < sizeof t / sizeof *t; i++) {
        if (strcasecmp(s, t[i]) == 0)
            return *out = true, 0;
        if (strcasecmp(s, f[i]) == 0)
            return *out = false, 0;
    }
    return -1;
}

static int get_bool(struct v *v, const char *name, enum presence p, bool *out)
{
    json_t *x = lookup(v, name, p);
    if (!x)
        return 0;
    if (json_is_boolean(x)) {
        *out = json_is_true(x);
        return 1;
    }
    if (json_is_integer(x) && (json_integer_value(x) == 0 || json_integer_value(x) == 1)) {
        *out = json_integer_value(x) == 1;
        return 1;
    }
    if (json_is_string(x) && parse_bool_text(json_string_value(x), out) == 0)
        return 1;
    add_err(v, name, -1, json_is_string(x) ? "bool_parsing" : "bool_type",
            json_is_string(x) ? "Input should be a valid boolean, unable to interpret input"
                              : "Input should be a valid boolean",
            x, NULL);
    return -1;
}

static int get_uuid(struct v *v, const char *name, enum presence p, char out[MR_UUID_LEN])
{
    json_t *x = lookup(v, name, p);
    if (!x)
        return 0;
    if (!json_is_string(x)) {
        add_err(v, name, -1, "uuid_type", "UUID input should be a string, bytes or UUID object", x,
                NULL);
        return -1;
    }
    if (mr_uuid_parse(json_string_value(x), json_string_length(x), out) != 0) {
        add_err(v, name, -1, "uuid_parsing",
                "Input should be a valid UUID, expected 32 hexadecimal digits, optionally "
                "hyphenated as 8-4-4-4-12",
                x, NULL);
        return -1;
    }
    return 1;
}

static const char ENUM_MSG[] =
    "Input should be 'short_term', 'long_term', 'rule', 'entity' or 'relationship'";

static int check_type(struct v *v, const char *name, json_int_t index, json_t *x,
                      enum mr_memory_type *out)
{
    if (json_is_string(x) &&
        mr_memory_type_parse(json_string_value(x), json_string_length(x), out) == 0)
        return 0;
    add_err(v, name, index, "enum", ENUM_MSG, x,
            json_pack("{s:s}", "expected",
                      "'short_term', 'long_term', 'rule', 'entity' or 'relationship'"));
    return -1;
}

static int get_type(struct v *v, const char *name, enum presence p, enum mr_memory_type *out)
{
    json_t *x = lookup(v, name, p);
    if (!x)
        return 0;
    return check_type(v, name, -1, x, out) == 0 ? 1 : -1;
}

static int get_strv(struct v *v, const char *name, enum presence p, struct mr_strv *out)
{
    json_t *x = lookup(v, name, p);
    if (!x)
        return 0;
    if (!json_is_array(x)) {
        add_err(v, name, -1, "list_type", "Input should be a valid list", x, NULL);
        return -1;
    }
    if (json_array_size(x) > v->max_items) {
        char msg[96];
        snprintf(msg, sizeof msg, "List should have at most %zu items", v->max_items);
        add_err(v, name, -1, "too_long", msg, json_null(),
                json_pack("{s:I}", "max_length", (json_int_t)v->max_items));
        return -1;
    }
    int rc = 1;
    size_t i;
    json_t *item;
    json_array_foreach(x, i, item)
    {
        if (!json_is_string(item)) {
            add_err(v, name, (json_int_t)i, "string_type", "Input should be a valid string", item,
                    NULL);
            rc = -1;
            continue;
        }
        mr_strv_push(out, json_string_value(item), json_string_length(item));
    }
    return rc;
}

static int depth_of(json_t *x, int limit)
{
    if (limit < 0)
        return 1;
    int d = 0;
    if (json_is_object(x)) {
        const char *k;
        json_t *val;
        json_object_foreach(x, k, val)
        {
            int c = depth_of(val, limit - 1);
            d = c > d ? c : d;
        }
        return d + 1;
    }
    if (json_is_array(x)) {
        size_t i;
        json_t *val;
        json_array_foreach(x, i, val)
        {
            int c = depth_of(val, limit - 1);
            d = c > d ? c : d;
        }
        return d + 1;
    }
    return 0;
}

/* A JSON object field, returned as compact text the caller frees. */
static int get_object(struct v *v, const char *name, enum presence p, char **out)
{
    json_t *x = lookup(v, name, p);
    if (!x)
        return 0;
    if (!json_is_object(x)) {
        add_err(v, name, -1, "dict_type", "Input should be a valid dictionary", x, NULL);
        return -1;
    }
    if (depth_of(x, MAX_METADATA_DEPTH) > MAX_METADATA_DEPTH) {
        add_err(v, name, -1, "too_deep", "Object should nest at most 32 levels", json_null(), NULL);
        return -1;
    }
    *out = json_dumps(x, JSON_COMPACT | JSON_PRESERVE_ORDER);
    return *out ? 1 : -1;
}

static int get_datetime(struct v *v, const char *name, enum presence p, int64_t *out)
{
    json_t *x = lookup(v, name, p);
    if (!x)
        return 0;
    if (json_is_number(x) && isfinite(json_number_value(x)) && fabs(json_number_value(x)) < 1e11) {
        *out = (int64_t)llround(json_number_value(x) * 1e6); /* Unix seconds, as pydantic */
        return 1;
    }
    if (json_is_string(x) && mr_time_parse(json_string_value(x), json_string_length(x), out) == 0)
        return 1;
    add_err(v, name, -1, json_is_string(x) ? "datetime_from_date_parsing" : "datetime_type",
            json_is_string(x) ? "Input should be a valid datetime, expected ISO 8601 such as "
                                "2024-11-11T10:00:00Z"
                              : "Input should be a valid datetime",
            x, NULL);
    return -1;
}

static struct v start(json_t *doc, size_t max_items)
{
    return (struct v){json_array(), doc, max_items};
}

/* ---------- request decoders ---------- */

int api_decode_memory_create(const char *body, size_t len, struct api_memory_create *out,
                             size_t max_items, char **out_err)
{
    memset(out, 0, sizeof *out);
    json_t *doc = parse_body(body, len, out_err);
    if (!doc)
        return MR_EVALIDATION;
    out->doc = doc;
    struct v v = start(doc, max_items);
    struct mr_memory_create *in = &out->in;
    in->importance_score = 0.5;
    in->expires_at = MR_NO_TIME;
    get_string(&v, "content", REQUIRED, 1, 10000, &in->content, &in->content_len);
    get_type(&v, "memory_type", REQUIRED, &in->memory_type);
    get_uuid(&v, "conversation_id", REQUIRED, in->conversation_id);
    get_float(&v, "importance_score", OPTIONAL, 0.0, 1.0, &in->importance_score);
    get_strv(&v, "context_tags", OPTIONAL, &out->tags);
    get_strv(&v, "related_entities", OPTIONAL, &out->entities);
    get_object(&v, "metadata", OPTIONAL, &out->metadata);
    get_datetime(&v, "expires_at", NULLABLE, &in->expires_at);
    get_bool(&v, "shared", OPTIONAL, &in->shared);
    in->context_tags = &out->tags;
    in->related_entities = &out->entities;
    in->metadata = out->metadata;
    return finish(&v, out_err);
}

void api_memory_create_free(struct api_memory_create *r)
{
    mr_strv_clear(&r->tags);
    mr_strv_clear(&r->entities);
    free(r->metadata);
    json_decref(r->doc);
    memset(r, 0, sizeof *r);
}

int api_decode_memory_patch(const char *body, size_t len, struct api_memory_patch *out,
                            size_t max_items, char **out_err)
{
    memset(out, 0, sizeof *out);
    json_t *doc = parse_body(body, len, out_err);
    if (!doc)
        return MR_EVALIDATION;
    out->doc = doc;
    struct v v = start(doc, max_items);
    struct mr_memory_patch *in = &out->in;
    get_string(&v, "content", NULLABLE, 1, 10000, &in->content, &in->content_len);
    in->has_importance =
        get_float(&v, "importance_score", NULLABLE, 0.0, 1.0, &in->importance_score) > 0;
    if (get_strv(&v, "context_tags", NULLABLE, &out->tags) > 0)
        in->context_tags = &out->tags;
    get_object(&v, "metadata", NULLABLE, &out->metadata);
    in->metadata = out->metadata;
    in->has_shared = get_bool(&v, "shared", NULLABLE, &in->shared) > 0;
    return finish(&v, out_err);
}

void api_memory_patch_free(struct api_memory_patch *r)
{
    mr_strv_clear(&r->tags);
    free(r->metadata);
    json_decref(r->doc);
    memset(r, 0, sizeof *r);
}

int api_decode_search(const char *body, size_t len, struct api_search *out, size_t max_items,
                      char **out_err)
{
    memset(out, 0, sizeof *out);
    json_t *doc = parse_body(body, len, out_err);
    if (!doc)
        return MR_EVALIDATION;
    out->doc = doc;
    struct v v = start(doc, max_items);
    struct mr_search *in = &out->in;
    get_string(&v, "query", REQUIRED, 1, 1000, &in->query, &in->query_len);
    if (get_uuid(&v, "conversation_id", NULLABLE, out->conversation_id) > 0)
        in->conversation_id = out->conversation_id;
    long long limit = 0;
    if (get_int(&v, "limit", OPTIONAL, 1, 100, &limit) > 0)
        in->limit = (size_t)limit;
    in->has_min_similarity =
        get_float(&v, "min_similarity", NULLABLE, 0.0, 1.0, &in->min_similarity) > 0;
    json_t *types = lookup(&v, "memory_types", NULLABLE);
    if (types && json_is_array(types) && json_array_size(types) > v.max_items) {
        add_err(&v, "memory_types", -1, "too_long", "List is too long", json_null(), NULL);
    } else if (types && !json_is_array(types)) {
        add_err(&v, "memory_types", -1, "list_type", "Input should be a valid list", types, NULL);
    } else if (types) {
        size_t i;
        json_t *item;
        json_array_foreach(types, i, item)
        {
            enum mr_memory_type t;
            if (check_type(&v, "memory_types", (json_int_t)i, item, &t) == 0)
                in->type_mask |= 1u << t;
        }
        /* An empty list filters nothing, as the reference's `if memory_types:`. */
    }
    get_bool(&v, "include_archived", OPTIONAL, &in->include_archived);
    return finish(&v, out_err);
}

void api_search_free(struct api_search *r)
{
    json_decref(r->doc);
    memset(r, 0, sizeof *r);
}

int api_decode_conversation_create(const char *body, size_t len,
                                   struct api_conversation_create *out, size_t max_items,
                                   char **out_err)
{
    memset(out, 0, sizeof *out);
    /* An empty body is allowed here: every field has a default. */
    json_t *doc = len == 0 ? json_object() : parse_body(body, len, out_err);
    if (!doc)
        return MR_EVALIDATION;
    out->doc = doc;
    struct v v = start(doc, max_items);
    struct mr_conversation_create *in = &out->in;
    in->has_conversation_id = get_uuid(&v, "conversation_id", NULLABLE, in->conversation_id) > 0;
    const char *title = NULL;
    size_t tl;
    if (get_string(&v, "title", NULLABLE, 0, 500, &title, &tl) > 0)
        in->title = title;
    long long ds;
    if (get_int(&v, "data_source_id", NULLABLE, INT64_MIN / 2, INT64_MAX / 2, &ds) > 0) {
        in->has_data_source_id = true;
        in->data_source_id = ds;
    }
    get_object(&v, "metadata", OPTIONAL, &out->metadata);
    in->metadata = out->metadata;
    in->has_is_active = get_bool(&v, "is_active", OPTIONAL, &in->is_active) > 0;
    return finish(&v, out_err);
}

void api_conversation_create_free(struct api_conversation_create *r)
{
    free(r->metadata);
    json_decref(r->doc);
    memset(r, 0, sizeof *r);
}

int api_decode_conversation_patch(const char *body, size_t len, struct api_conversation_patch *out,
                                  size_t max_items, char **out_err)
{
    memset(out, 0, sizeof *out);
    json_t *doc = parse_body(body, len, out_err);
    if (!doc)
        return MR_EVALIDATION;
    out->doc = doc;
    struct v v = start(doc, max_items);
    struct mr_conversation_patch *in = &out->in;
    bool is_null;
    if (field(&v, "title", &is_null)) {
        const char *title = NULL;
        size_t tl;
        in->has_title = is_null || get_string(&v, "title", NULLABLE, 0, 500, &title, &tl) > 0;
        in->title = title;
    }
    if (field(&v, "data_source_id", &is_null)) {
        long long ds = 0;
        in->has_data_source_id = is_null || get_int(&v, "data_source_id", NULLABLE, INT64_MIN / 2,
                                                    INT64_MAX / 2, &ds) > 0;
        in->data_source_id_null = is_null;
        in->data_source_id = ds;
    }
    get_object(&v, "metadata", NULLABLE, &out->metadata);
    in->metadata = out->metadata;
    in->has_is_active = get_bool(&v, "is_active", NULLABLE, &in->is_active) > 0;
    return finish(&v, out_err);
}

void api_conversation_patch_free(struct api_conversation_patch *r)
{
    free(r->metadata);
    json_decref(r->doc);
    memset(r, 0, sizeof *r);
}

/* ---------- response encoders ---------- */

static json_t *time_or_null(int64_t t)
{
    char buf[40];
    return t == MR_NO_TIME ? json_null() : json_string(mr_time_format(t, buf, sizeof buf));
}

static json_t *strv_json(const struct mr_strv *s)
{
    json_t *a = json_array();
    for (size_t i = 0; i < s->len; i++)
        json_array_append_new(a, json_string(s->items[i]));
    return a;
}

static json_t *object_or_empty(const char *text)
{
    json_t *o = text ? json_loads(text, 0, NULL) : NULL;
    if (!json_is_object(o)) {
        json_decref(o);
        o = json_object();
    }
    return o;
}

static json_t *memory_json(const struct mr_memory *m)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer(m->id));
    json_object_set_new(o, "memory_id", json_string(m->memory_id));
    json_object_set_new(o, "conversation_id", json_string(m->conversation_id));
    json_object_set_new(o, "user_id", json_string(m->user_id));
    json_object_set_new(o, "tenant_id", json_string(m->tenant_id));
    json_object_set_new(o, "content", json_string(m->content));
    json_object_set_new(o, "memory_type", json_string(mr_memory_type_name(m->memory_type)));
    json_object_set_new(o, "importance_score", json_real(m->importance_score));
    json_object_set_new(o, "access_count", json_integer(m->access_count));
    json_object_set_new(o, "last_accessed_at", time_or_null(m->last_accessed_at));
    json_object_set_new(o, "context_tags", strv_json(&m->context_tags));
    json_object_set_new(o, "related_entities", strv_json(&m->related_entities));
    json_object_set_new(o, "metadata", object_or_empty(m->metadata));
    json_object_set_new(o, "expires_at", time_or_null(m->expires_at));
    json_object_set_new(o, "is_archived", json_boolean(m->is_archived));
    json_object_set_new(o, "shared", json_boolean(m->is_shared));
    json_object_set_new(o, "created_at", time_or_null(m->created_at));
    json_object_set_new(o, "updated_at", time_or_null(m->updated_at));
    return o;
}

char *api_encode_memory(const struct mr_memory *m)
{
    return dump(memory_json(m));
}

char *api_encode_search(const struct mr_search_results *r, const char *query, size_t query_len)
{
    json_t *results = json_array();
    for (size_t i = 0; i < r->n; i++) {
        json_t *o = memory_json(&r->memories[i]);
        /* Rounded to 4 places, as the reference does. */
        json_object_set_new(o, "similarity_score", json_real(round(r->scores[i] * 1e4) / 1e4));
        json_array_append_new(results, o);
    }
    json_t *o = json_object();
    json_object_set_new(o, "results", results);
    json_object_set_new(o, "total", json_integer((json_int_t)r->n));
    json_object_set_new(o, "query", json_stringn(query, query_len));
    return dump(o);
}

/* {"<key>": items, "total", "limit", "offset"}: the shape of every paged list. */
static char *page_json(const char *key, json_t *items, int64_t total, struct mr_page page)
{
    return dump(json_pack("{s:o, s:I, s:I, s:I}", key, items, "total", (json_int_t)total, "limit",
                          (json_int_t)page.limit, "offset", (json_int_t)page.offset));
}

char *api_encode_memory_page(const struct mr_memory *v, size_t n, int64_t total,
                             struct mr_page page)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, memory_json(&v[i]));
    return page_json("memories", a, total, page);
}

char *api_encode_stats(const struct mr_stats *s)
{
    return dump(json_pack(
        "{s:I, s:{s:I, s:I, s:I, s:I, s:I}, s:I, s:f}", "total_memories", (json_int_t)s->total,
        "by_type", "short_term", (json_int_t)s->by_type[MR_SHORT_TERM], "long_term",
        (json_int_t)s->by_type[MR_LONG_TERM], "rules", (json_int_t)s->by_type[MR_RULE], "entities",
        (json_int_t)s->by_type[MR_ENTITY], "relationships", (json_int_t)s->by_type[MR_RELATIONSHIP],
        "archived", (json_int_t)s->archived, "average_importance",
        round(s->average_importance * 100) / 100));
}

char *api_encode_archive(int64_t count, int days)
{
    return dump(json_pack("{s:s, s:I, s:i}", "status", "success", "archived_count",
                          (json_int_t)count, "threshold_days", days));
}

static json_t *conversation_json(const struct mr_conversation *c)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer(c->id));
    json_object_set_new(o, "conversation_id", json_string(c->conversation_id));
    json_object_set_new(o, "user_id", json_string(c->user_id));
    json_object_set_new(o, "tenant_id", json_string(c->tenant_id));
    json_object_set_new(o, "data_source_id",
                        c->has_data_source_id ? json_integer(c->data_source_id) : json_null());
    json_object_set_new(o, "title", c->title ? json_string(c->title) : json_null());
    json_object_set_new(o, "metadata", object_or_empty(c->metadata));
    json_object_set_new(o, "is_active", json_boolean(c->is_active));
    json_object_set_new(o, "last_activity_at", time_or_null(c->last_activity_at));
    json_object_set_new(o, "created_at", time_or_null(c->created_at));
    json_object_set_new(o, "updated_at", time_or_null(c->updated_at));
    return o;
}

char *api_encode_conversation(const struct mr_conversation *c)
{
    return dump(conversation_json(c));
}

char *api_encode_conversation_page(const struct mr_conversation *v, size_t n, int64_t total,
                                   struct mr_page page)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, conversation_json(&v[i]));
    return page_json("conversations", a, total, page);
}

char *api_encode_health(const char *status, const char *store_name, const char *store_status,
                        const char *embed_name, size_t dim, const char *embed_status,
                        bool has_index, size_t indexed, size_t building,
                        const char *version)
{
    /* Without an in-process index the store searches (pgvector) and counts nothing here. */
    json_t *index = has_index ? json_pack("{s:s, s:I, s:I}", "kind", "in-process", "memories",
                                          (json_int_t)indexed, "graphs_building",
                                          (json_int_t)building)
                              : json_pack("{s:s}", "kind", "store");
    return dump(json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:s, s:I, s:s}, s:o}", "status", status,
                          "version", version, "store", "backend", store_name, "status",
                          store_status, "embedder", "model", embed_name, "dimensions",
                          (json_int_t)dim, "status", embed_status, "index", index));
}

char *api_encode_detail(const char *msg)
{
    return dump(json_pack("{s:s}", "detail", msg));
}

char *api_encode_param_error(const char *where, const char *name, const char *type, const char *msg,
                             const char *input)
{
    json_t *e = json_pack("{s:s, s:[s,s], s:s}", "type", type, "loc", where, name, "msg", msg);
    json_object_set_new(e, "input", input ? json_string(input) : json_null());
    if (!json_object_get(e, "input"))
        json_object_set_new(e, "input", json_null());
    return dump(json_pack("{s:[o]}", "detail", e));
}
