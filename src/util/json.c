/*
 * json.c — JSON values on jansson, the only file that includes it
 * (STYLE.md: one wrapper per library). A struct mr_json is a json_t: the
 * wrappers only cast, so they cost a call and nothing else, and keep
 * jansson's own semantics (reference counts, NULL-tolerant readers,
 * setters that take the value even when they fail).
 */
#include "memori/json.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *J(const struct mr_json *v)
{
    return (json_t *)v;
}

static struct mr_json *M(json_t *v)
{
    return (struct mr_json *)v;
}

struct mr_json *mr_json_parse(const char *text, size_t len, struct mr_json_error *out_err)
{
    json_error_t jerr;
    json_t *v = json_loadb(text, len, JSON_DECODE_ANY, &jerr);
    if (!v && out_err) {
        out_err->position = jerr.position;
        snprintf(out_err->text, sizeof out_err->text, "%s", jerr.text);
    }
    return M(v);
}

char *mr_json_print(const struct mr_json *v, int real_digits)
{
    size_t flags = JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY;
    if (real_digits > 0)
        flags |= JSON_REAL_PRECISION(real_digits);
    return v ? json_dumps(J(v), flags) : NULL;
}

void mr_json_free(struct mr_json *v)
{
    json_decref(J(v));
}

struct mr_json *mr_json_ref(struct mr_json *v)
{
    return M(json_incref(J(v)));
}

enum mr_json_type mr_json_type(const struct mr_json *v)
{
    if (!v)
        return MR_JSON_NONE;
    switch (json_typeof(J(v))) {
    case JSON_OBJECT:
        return MR_JSON_OBJECT;
    case JSON_ARRAY:
        return MR_JSON_ARRAY;
    case JSON_STRING:
        return MR_JSON_STRING;
    case JSON_INTEGER:
        return MR_JSON_INTEGER;
    case JSON_REAL:
        return MR_JSON_REAL;
    case JSON_TRUE:
        return MR_JSON_TRUE;
    case JSON_FALSE:
        return MR_JSON_FALSE;
    case JSON_NULL:
        return MR_JSON_NULL;
    }
    return MR_JSON_NONE;
}

struct mr_json *mr_json_get(const struct mr_json *o, const char *key)
{
    return M(json_object_get(J(o), key));
}

size_t mr_json_size(const struct mr_json *a)
{
    return json_array_size(J(a));
}

struct mr_json *mr_json_at(const struct mr_json *a, size_t i)
{
    return M(json_array_get(J(a), i));
}

const char *mr_json_string_value(const struct mr_json *v)
{
    return json_string_value(J(v));
}

size_t mr_json_string_length(const struct mr_json *v)
{
    return json_string_length(J(v));
}

int64_t mr_json_integer_value(const struct mr_json *v)
{
    return (int64_t)json_integer_value(J(v));
}

double mr_json_real_value(const struct mr_json *v)
{
    return json_real_value(J(v));
}

double mr_json_number_value(const struct mr_json *v)
{
    return json_number_value(J(v));
}

int mr_json_depth(const struct mr_json *v, int limit)
{
    if (limit < 0)
        return 1;
    int deepest = 0;
    if (json_is_object(J(v))) {
        const char *key;
        json_t *item;
        json_object_foreach(J(v), key, item)
        {
            int d = mr_json_depth(M(item), limit - 1);
            deepest = d > deepest ? d : deepest;
        }
        return deepest + 1;
    }
    if (json_is_array(J(v))) {
        size_t i;
        json_t *item;
        json_array_foreach(J(v), i, item)
        {
            int d = mr_json_depth(M(item), limit - 1);
            deepest = d > deepest ? d : deepest;
        }
        return deepest + 1;
    }
    return 0;
}

struct mr_json *mr_json_object(void)
{
    return M(json_object());
}

struct mr_json *mr_json_array(void)
{
    return M(json_array());
}

struct mr_json *mr_json_string(const char *s)
{
    return M(s ? json_string(s) : NULL);
}

struct mr_json *mr_json_stringn(const char *s, size_t len)
{
    return M(s ? json_stringn(s, len) : NULL);
}

struct mr_json *mr_json_integer(int64_t x)
{
    return M(json_integer((json_int_t)x));
}

struct mr_json *mr_json_real(double x)
{
    return M(json_real(x));
}

struct mr_json *mr_json_bool(bool b)
{
    return M(json_boolean(b));
}

struct mr_json *mr_json_null(void)
{
    return M(json_null());
}

int mr_json_set(struct mr_json *o, const char *key, struct mr_json *v)
{
    return json_object_set_new(J(o), key, J(v));
}

struct mr_json *mr_json_with(struct mr_json *o, const char *key, struct mr_json *v)
{
    if (!o || !v) {
        json_decref(J(o));
        json_decref(J(v));
        return NULL;
    }
    if (json_object_set_new(J(o), key, J(v)) != 0) { /* it released v */
        json_decref(J(o));
        return NULL;
    }
    return o;
}

int mr_json_append(struct mr_json *a, struct mr_json *v)
{
    return json_array_append_new(J(a), J(v));
}

char *mr_json_merge_objects(const char *base, const char *patch)
{
    json_t *b = json_loads(base, 0, NULL);
    json_t *p = json_loads(patch, 0, NULL);
    char *out = NULL;
    if (json_is_object(b) && json_is_object(p) && json_object_update(b, p) == 0)
        out = json_dumps(b, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(b);
    json_decref(p);
    return out;
}

char *mr_json_compact(const char *text)
{
    json_t *v = json_loads(text, JSON_DECODE_ANY, NULL);
    char *out = v ? json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY) : NULL;
    json_decref(v);
    return out;
}
