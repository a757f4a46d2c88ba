/*
 * codec.c — JSON ⇄ structs for the HTTP API, with request validation that
 * answers like FastAPI + pydantic v2 (types, messages and `loc` paths), so
 * clients written for the reference templates read our errors unchanged.
 * JSON values through memori/json.h.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api_int.h"
#include "fields.h"
#include "memori/clock.h"
#include "memori/util.h"
#include "memori/fusion.h"

/* ---------- validation ---------- */

struct v {
    struct mr_json *errors; /* array of error objects */
    struct mr_json *obj;    /* the body object */
    size_t max_items;       /* longest accepted list */
};

#define MAX_METADATA_DEPTH API_MAX_METADATA_DEPTH

static void add_err(struct v *v, const char *field, int64_t index, const char *type,
                    const char *msg, struct mr_json *input, struct mr_json *ctx)
{
    struct mr_json *loc = mr_json_array();
    mr_json_append(loc, mr_json_string("body"));
    if (field)
        mr_json_append(loc, mr_json_string(field));
    if (index >= 0)
        mr_json_append(loc, mr_json_integer(index));
    struct mr_json *e = mr_json_with(mr_json_object(), "type", mr_json_string(type));
    e = mr_json_with(e, "loc", loc);
    e = mr_json_with(e, "msg", mr_json_string(msg));
    mr_json_set(e, "input", input ? mr_json_ref(input) : mr_json_null());
    if (ctx)
        mr_json_set(e, "ctx", ctx);
    mr_json_append(v->errors, e);
}

/* {key: v}, taking v; NULL when v is. */
static struct mr_json *one(const char *key, struct mr_json *v)
{
    return mr_json_with(mr_json_object(), key, v);
}

static char *dump(struct mr_json *j)
{
    char *s = mr_json_print(j, 15);
    mr_json_free(j);
    if (!s)
        s = mr_xstrdup("{\"detail\":\"response encoding failed\"}");
    return s;
}

/*
 * Parses body as a JSON object. Returns the document, or NULL with *out_err
 * set to the 422 body FastAPI gives (missing body, json_invalid, not an object).
 */
static struct mr_json *parse_body(const char *body, size_t len, char **out_err)
{
    struct mr_json *errors = mr_json_array();
    struct v v = {errors, NULL, 0};
    struct mr_json_error jerr;
    struct mr_json *doc = NULL;
    size_t i = 0;
    while (i < len && (body[i] == ' ' || body[i] == '\n' || body[i] == '\r' || body[i] == '\t'))
        i++;
    if (i == len) {
        add_err(&v, NULL, -1, "missing", "Field required", NULL, NULL);
        goto fail;
    }
    doc = mr_json_parse(body, len, &jerr);
    if (!doc) {
        struct mr_json *loc = mr_json_array();
        mr_json_append(loc, mr_json_string("body"));
        mr_json_append(loc, mr_json_integer((int64_t)jerr.position));
        struct mr_json *e = mr_json_with(mr_json_object(), "type", mr_json_string("json_invalid"));
        e = mr_json_with(e, "loc", loc);
        e = mr_json_with(e, "msg", mr_json_string("JSON decode error"));
        e = mr_json_with(e, "input", mr_json_object());
        e = mr_json_with(e, "ctx", one("error", mr_json_string(jerr.text)));
        mr_json_append(errors, e);
        goto fail;
    }
    if (!mr_json_is_object(doc)) {
        add_err(&v, NULL, -1, "model_attributes_type",
                "Input should be a valid dictionary or object to extract fields from", doc, NULL);
        goto fail;
    }
    mr_json_free(errors);
    return doc;
fail:
    mr_json_free(doc);
    *out_err = dump(one("detail", errors));
    return NULL;
}

/* Finishes a decode: 0 when no error was recorded, else the 422 body. */
static int finish(struct v *v, char **out_err)
{
    if (mr_json_size(v->errors) == 0) {
        mr_json_free(v->errors);
        return 0;
    }
    *out_err = dump(one("detail", v->errors));
    return MR_EVALIDATION;
}

/* The field's value; NULL when absent. *is_null tells an explicit null. */
static struct mr_json *field(struct v *v, const char *name, bool *is_null)
{
    struct mr_json *x = mr_json_get(v->obj, name);
    *is_null = x && mr_json_is_null(x);
    return x;
}

/* Looks a field up under its presence rule (fields.h); returns NULL when there is nothing to
 * decode. */
static struct mr_json *lookup(struct v *v, const char *name, enum api_presence p)
{
    bool is_null;
    struct mr_json *x = field(v, name, &is_null);
    if (!x) {
        if (p == API_REQUIRED)
            add_err(v, name, -1, "missing", "Field required", v->obj, NULL);
        return NULL;
    }
    if (is_null && p == API_NULLABLE)
        return NULL;
    return x;
}

static int get_string(struct v *v, const struct api_field *f, const char **out, size_t *out_len)
{
    const char *name = f->name;
    size_t min_chars = (size_t)f->min, max_chars = (size_t)f->max;
    struct mr_json *x = lookup(v, name, f->presence);
    if (!x)
        return 0;
    if (!mr_json_is_string(x)) {
        add_err(v, name, -1, "string_type", "Input should be a valid string", x, NULL);
        return -1;
    }
    const char *s = mr_json_string_value(x);
    size_t n = mr_json_string_length(x), chars = mr_utf8_len(s, n);
    char msg[96];
    if (chars < min_chars) {
        snprintf(msg, sizeof msg, "String should have at least %zu character%s", min_chars,
                 min_chars == 1 ? "" : "s");
        add_err(v, name, -1, "string_too_short", msg, x,
                one("min_length", mr_json_integer((int64_t)min_chars)));
        return -1;
    }
    if (chars > max_chars) {
        snprintf(msg, sizeof msg, "String should have at most %zu character%s", max_chars,
                 max_chars == 1 ? "" : "s");
        add_err(v, name, -1, "string_too_long", msg, x,
                one("max_length", mr_json_integer((int64_t)max_chars)));
        return -1;
    }
    *out = s;
    *out_len = n;
    return 1;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static void trim_space(const char **s, size_t *n)
{
    while (*n && is_space(**s)) {
        (*s)++;
        (*n)--;
    }
    while (*n && is_space((*s)[*n - 1]))
        (*n)--;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/*
 * Whether s[0..n) is a number as Rust's f64 parser reads one (pydantic v2's
 * str → float): [+-]? then inf, infinity or nan (any case), or digits with an
 * optional '.' and fraction (".5" and "5." too) and an optional exponent.
 * No hexadecimal, no spaces inside.
 */
static bool float_syntax(const char *s, size_t n)
{
    size_t i = 0;
    if (i < n && (s[i] == '+' || s[i] == '-'))
        i++;
    size_t rest = n - i;
    if ((rest == 3 && (strncasecmp(s + i, "inf", 3) == 0 || strncasecmp(s + i, "nan", 3) == 0)) ||
        (rest == 8 && strncasecmp(s + i, "infinity", 8) == 0))
        return true;
    size_t digits = 0;
    while (i < n && is_digit(s[i]))
        i++, digits++;
    if (i < n && s[i] == '.')
        for (i++; i < n && is_digit(s[i]); i++)
            digits++;
    if (digits == 0)
        return false;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        size_t e = i;
        while (i < n && is_digit(s[i]))
            i++;
        if (i == e)
            return false;
    }
    return i == n;
}

static bool two_underscores(const char *s, size_t n)
{
    for (size_t i = 1; i < n; i++)
        if (s[i] == '_' && s[i - 1] == '_')
            return true;
    return false;
}

/* Underscores as Python allows them in numbers: none first or last, never two together. */
static bool underscores_ok(const char *s, size_t n)
{
    return n && s[0] != '_' && s[n - 1] != '_' && memchr(s, '_', n) && !two_underscores(s, n);
}

int api_parse_float_text(const char *s, size_t n, double *out)
{
    const char *t = s;
    size_t tn = n;
    trim_space(&t, &tn);
    char *copy = mr_xmalloc(n + 1);
    size_t k = 0;
    if (float_syntax(t, tn)) {
        memcpy(copy, t, tn);
        k = tn;
    } else if (underscores_ok(s, n)) {
        /* pydantic strips the underscores of the text as sent (not trimmed), then parses. */
        for (size_t i = 0; i < n; i++)
            if (s[i] != '_')
                copy[k++] = s[i];
        if (!float_syntax(copy, k))
            k = 0;
    }
    copy[k] = '\0';
    int rc = -1;
    if (k) {
        *out = strtod(copy, NULL);
        rc = 0;
    }
    free(copy);
    return rc;
}

int api_parse_int_text(const char *s, size_t n, int64_t *out)
{
    trim_space(&s, &n);
    /* A ".0…" tail is no fraction (pydantic strips it before parsing). */
    const char *dot = memchr(s, '.', n);
    if (dot) {
        size_t zeros = n - (size_t)(dot - s) - 1;
        if (zeros == 0)
            return API_INT_BAD;
        for (const char *z = dot + 1; z < s + n; z++)
            if (*z != '0')
                return API_INT_BAD;
        n = (size_t)(dot - s);
    }
    bool neg = n && s[0] == '-';
    s += neg;
    n -= neg;
    if (n == 0 || !is_digit(s[0]) || !is_digit(s[n - 1]) || two_underscores(s, n))
        return API_INT_BAD;
    uint64_t v = 0, limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    bool over = false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '_')
            continue;
        if (!is_digit(s[i]))
            return API_INT_BAD;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (limit - d) / 10)
            over = true;
        else
            v = v * 10 + d;
    }
    if (over)
        return neg ? API_INT_BELOW : API_INT_ABOVE;
    *out = !neg ? (int64_t)v : v > (uint64_t)INT64_MAX ? INT64_MIN : -(int64_t)v;
    return API_INT_OK;
}

int api_parse_bool_text(const char *s, bool *out)
{
    /* pydantic v2's str → bool: "0" and "1" exactly, the words in any case, nothing trimmed. */
    static const char *const t[] = {"1", "true", "yes", "on", "t", "y"};
    static const char *const f[] = {"0", "false", "no", "off", "f", "n"};
    for (size_t i = 0; i < sizeof t / sizeof *t; i++) {
        if (strcasecmp(s, t[i]) == 0)
            return *out = true, 0;
        if (strcasecmp(s, f[i]) == 0)
            return *out = false, 0;
    }
    return -1;
}

int api_check_content_type(const char *content_type, const char *body, size_t len, char **out_err)
{
    if (len == 0)
        return 0; /* no body: nothing to read as JSON (the decoders say what is missing) */
    if (content_type) {
        /* Python's email.message reading, as FastAPI does: "type/subtype" before any ';'. */
        const char *t = content_type;
        size_t n = strcspn(t, ";");
        trim_space(&t, &n);
        const char *slash = memchr(t, '/', n);
        bool one_slash = slash && !memchr(slash + 1, '/', n - (size_t)(slash + 1 - t));
        size_t sub = slash ? n - (size_t)(slash + 1 - t) : 0;
        if (one_slash && (size_t)(slash - t) == 11 && strncasecmp(t, "application", 11) == 0 &&
            ((sub == 4 && strncasecmp(slash + 1, "json", 4) == 0) ||
             (sub >= 5 && strncasecmp(slash + 1 + sub - 5, "+json", 5) == 0)))
            return 0;
    }
    struct mr_json *errors = mr_json_array();
    struct v v = {errors, NULL, 0};
    /* The body as text, as FastAPI echoes it; null when it is not UTF-8. */
    struct mr_json *input = mr_utf8_valid(body, len) ? mr_json_stringn(body, len) : NULL;
    add_err(&v, NULL, -1, "model_attributes_type",
            "Input should be a valid dictionary or object to extract fields from", input, NULL);
    mr_json_free(input);
    *out_err = dump(one("detail", errors));
    return MR_EVALIDATION;
}

/* A JSON number, or a numeric string (pydantic's lax mode); -1 on a type error. */
static int as_number(struct mr_json *x, double *out, bool *parse_error)
{
    *parse_error = false;
    if (mr_json_is_number(x)) {
        *out = mr_json_number_value(x);
        return 0;
    }
    if (mr_json_is_string(x)) {
        if (api_parse_float_text(mr_json_string_value(x), mr_json_string_length(x), out) == 0)
            return 0;
        *parse_error = true;
    }
    return -1;
}

static int get_float(struct v *v, const struct api_field *f, double *out)
{
    const char *name = f->name;
    double lo = f->fmin, hi = f->fmax;
    struct mr_json *x = lookup(v, name, f->presence);
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
        add_err(v, name, -1, "greater_than_equal", msg, x, one("ge", mr_json_real(lo)));
        return -1;
    }
    if (d > hi) {
        snprintf(msg, sizeof msg, "Input should be less than or equal to %g", hi);
        add_err(v, name, -1, "less_than_equal", msg, x, one("le", mr_json_real(hi)));
        return -1;
    }
    *out = d;
    return 1;
}

/* An integer within lo..hi, exact over all of int64 (no double in between). */
static int get_int(struct v *v, const struct api_field *f, long long *out)
{
    const char *name = f->name;
    long long lo = f->min, hi = f->max;
    struct mr_json *x = lookup(v, name, f->presence);
    if (!x)
        return 0;
    int64_t i = 0;
    int range = 0; /* -1: below int64, 1: above it */
    const char *type = NULL, *msg = NULL;
    if (mr_json_is_integer(x)) {
        i = mr_json_integer_value(x);
    } else if (mr_json_is_bigint(x)) {
        range = mr_json_number_value(x) < 0 ? -1 : 1;
    } else if (mr_json_is_real(x)) {
        double d = mr_json_real_value(x); /* always finite: JSON has no NaN */
        if (d != floor(d)) {
            type = "int_from_float";
            msg = "Input should be a valid integer, got a number with a fractional part";
        } else if (d >= 9223372036854775808.0)
            range = 1;
        else if (d < -9223372036854775808.0)
            range = -1;
        else
            i = (int64_t)d;
    } else if (mr_json_is_string(x)) {
        switch (api_parse_int_text(mr_json_string_value(x), mr_json_string_length(x), &i)) {
        case API_INT_OK:
            break;
        case API_INT_ABOVE:
            range = 1;
            break;
        case API_INT_BELOW:
            range = -1;
            break;
        default:
            type = "int_parsing";
            msg = "Input should be a valid integer, unable to parse string as an integer";
        }
    } else {
        type = "int_type";
        msg = "Input should be a valid integer";
    }
    if (type) {
        add_err(v, name, -1, type, msg, x, NULL);
        return -1;
    }
    char text[96];
    if (range > 0 || (range == 0 && i > hi)) {
        snprintf(text, sizeof text, "Input should be less than or equal to %lld", hi);
        add_err(v, name, -1, "less_than_equal", text, x, one("le", mr_json_integer(hi)));
        return -1;
    }
    if (range < 0 || i < lo) {
        snprintf(text, sizeof text, "Input should be greater than or equal to %lld", lo);
        add_err(v, name, -1, "greater_than_equal", text, x, one("ge", mr_json_integer(lo)));
        return -1;
    }
    *out = i;
    return 1;
}

static int get_bool(struct v *v, const struct api_field *f, bool *out)
{
    const char *name = f->name;
    struct mr_json *x = lookup(v, name, f->presence);
    if (!x)
        return 0;
    if (mr_json_is_bool(x)) {
        *out = mr_json_is_true(x);
        return 1;
    }
    if (mr_json_is_integer(x) && (mr_json_integer_value(x) == 0 || mr_json_integer_value(x) == 1)) {
        *out = mr_json_integer_value(x) == 1;
        return 1;
    }
    if (mr_json_is_string(x) && api_parse_bool_text(mr_json_string_value(x), out) == 0)
        return 1;
    add_err(v, name, -1, mr_json_is_string(x) ? "bool_parsing" : "bool_type",
            mr_json_is_string(x) ? "Input should be a valid boolean, unable to interpret input"
                                 : "Input should be a valid boolean",
            x, NULL);
    return -1;
}

/* x as a UUID into out (canonical), as pydantic checks one; index -1 for a field, else its item. */
static int check_uuid(struct v *v, const char *name, int64_t index, struct mr_json *x,
                      char out[MR_UUID_LEN])
{
    if (!mr_json_is_string(x)) {
        add_err(v, name, index, "uuid_type", "UUID input should be a string, bytes or UUID object",
                x, NULL);
        return -1;
    }
    if (mr_uuid_parse(mr_json_string_value(x), mr_json_string_length(x), out) != 0) {
        add_err(v, name, index, "uuid_parsing",
                "Input should be a valid UUID, expected 32 hexadecimal digits, optionally "
                "hyphenated as 8-4-4-4-12",
                x, NULL);
        return -1;
    }
    return 0;
}

static int get_uuid(struct v *v, const struct api_field *f, char out[MR_UUID_LEN])
{
    struct mr_json *x = lookup(v, f->name, f->presence);
    if (!x)
        return 0;
    return check_uuid(v, f->name, -1, x, out) == 0 ? 1 : -1;
}

/* Every type mr_memory_type_parse accepts, the sixth (example, DESIGN.md §9) included. */
#define TYPE_EXPECTED "'short_term', 'long_term', 'rule', 'entity', 'relationship' or 'example'"
static const char ENUM_MSG[] = "Input should be " TYPE_EXPECTED;

static int check_type(struct v *v, const char *name, int64_t index, struct mr_json *x,
                      enum mr_memory_type *out)
{
    if (mr_json_is_string(x) &&
        mr_memory_type_parse(mr_json_string_value(x), mr_json_string_length(x), out) == 0)
        return 0;
    add_err(v, name, index, "enum", ENUM_MSG, x, one("expected", mr_json_string(TYPE_EXPECTED)));
    return -1;
}

static int get_type(struct v *v, const struct api_field *f, enum mr_memory_type *out)
{
    const char *name = f->name;
    struct mr_json *x = lookup(v, name, f->presence);
    if (!x)
        return 0;
    return check_type(v, name, -1, x, out) == 0 ? 1 : -1;
}

static const char MODE_EXPECTED[] = "'hybrid', 'semantic' or 'lexical'";

/* The search mode, an enum as pydantic checks one: anything but the three strings, null included.
 */
static int get_mode(struct v *v, const struct api_field *f, enum mr_search_mode *out)
{
    const char *name = f->name;
    struct mr_json *x = lookup(v, name, f->presence);
    if (!x)
        return 0;
    if (mr_json_is_string(x) &&
        mr_search_mode_parse(mr_json_string_value(x), mr_json_string_length(x), out) == 0)
        return 1;
    char msg[96];
    snprintf(msg, sizeof msg, "Input should be %s", MODE_EXPECTED);
    add_err(v, name, -1, "enum", msg, x, one("expected", mr_json_string(MODE_EXPECTED)));
    return -1;
}

/* One of f->choices (pydantic's enum check: anything else, null included, is refused): its index.
 */
static int get_choice(struct v *v, const struct api_field *f, int *out)
{
    const char *name = f->name;
    struct mr_json *x = lookup(v, name, f->presence);
    if (!x)
        return 0;
    size_t n = 0;
    while (f->choices[n])
        n++;
    for (size_t i = 0; mr_json_is_string(x) && i < n; i++)
        if (strlen(f->choices[i]) == mr_json_string_length(x) &&
            memcmp(f->choices[i], mr_json_string_value(x), mr_json_string_length(x)) == 0) {
            *out = (int)i;
            return 1;
        }
    /* "'a', 'b' or 'c'", as pydantic lists an enum's members. */
    char expected[256];
    size_t o = 0;
    for (size_t i = 0; i < n && o < sizeof expected; i++)
        o += (size_t)snprintf(expected + o, sizeof expected - o, "%s'%s'",
                              i == 0       ? ""
                              : i + 1 == n ? " or "
                                           : ", ",
                              f->choices[i]);
    char msg[300];
    snprintf(msg, sizeof msg, "Input should be %s", expected);
    add_err(v, name, -1, "enum", msg, x, one("expected", mr_json_string(expected)));
    return -1;
}

/*
 * Field f as a list of at most max_items (*out, borrowed): 1, 0 when absent,
 * -1 after recording the error (not a list, too long).
 */
static int list_field(struct v *v, const struct api_field *f, struct mr_json **out)
{
    const char *name = f->name;
    struct mr_json *x = lookup(v, name, f->presence);
    if (!x)
        return 0;
    if (!mr_json_is_array(x)) {
        add_err(v, name, -1, "list_type", "Input should be a valid list", x, NULL);
        return -1;
    }
    if (mr_json_size(x) > v->max_items) {
        char msg[96];
        snprintf(msg, sizeof msg, "List should have at most %zu items", v->max_items);
        add_err(v, name, -1, "too_long", msg, mr_json_null(),
                one("max_length", mr_json_integer((int64_t)v->max_items)));
        return -1;
    }
    *out = x;
    return 1;
}

/* A list of UUIDs (canonical) into a new array *out of *out_n (the caller frees it). */
static int get_uuids(struct v *v, const struct api_field *f, char (**out)[MR_UUID_LEN],
                     size_t *out_n)
{
    const char *name = f->name;
    struct mr_json *x = NULL;
    int got = list_field(v, f, &x);
    if (got <= 0)
        return got;
    int rc = 1;
    *out = mr_xcalloc(mr_json_size(x) + 1, sizeof **out);
    *out_n = 0;
    for (size_t i = 0; i < mr_json_size(x); i++) {
        if (check_uuid(v, name, (int64_t)i, mr_json_at(x, i), (*out)[*out_n]) == 0)
            (*out_n)++;
        else
            rc = -1;
    }
    return rc;
}

static int get_strv(struct v *v, const struct api_field *f, struct mr_strv *out)
{
    const char *name = f->name;
    struct mr_json *x = NULL;
    int got = list_field(v, f, &x);
    if (got <= 0)
        return got;
    int rc = 1;
    for (size_t i = 0; i < mr_json_size(x); i++) {
        struct mr_json *item = mr_json_at(x, i);
        if (!mr_json_is_string(item)) {
            add_err(v, name, (int64_t)i, "string_type", "Input should be a valid string", item,
                    NULL);
            rc = -1;
            continue;
        }
        mr_strv_push(out, mr_json_string_value(item), mr_json_string_length(item));
    }
    return rc;
}

/* A JSON object field, returned as compact text the caller frees. */
static int get_object(struct v *v, const struct api_field *f, char **out)
{
    const char *name = f->name;
    struct mr_json *x = lookup(v, name, f->presence);
    if (!x)
        return 0;
    if (!mr_json_is_object(x)) {
        add_err(v, name, -1, "dict_type", "Input should be a valid dictionary", x, NULL);
        return -1;
    }
    if (mr_json_depth(x, MAX_METADATA_DEPTH) > MAX_METADATA_DEPTH) {
        add_err(v, name, -1, "too_deep", "Object should nest at most 32 levels", mr_json_null(),
                NULL);
        return -1;
    }
    *out = mr_json_print(x, 0);
    return *out ? 1 : -1;
}

static int get_datetime(struct v *v, const struct api_field *f, int64_t *out)
{
    const char *name = f->name;
    struct mr_json *x = lookup(v, name, f->presence);
    if (!x)
        return 0;
    if (mr_json_is_number(x) && isfinite(mr_json_number_value(x)) &&
        fabs(mr_json_number_value(x)) < 1e11) {
        *out = (int64_t)llround(mr_json_number_value(x) * 1e6); /* Unix seconds, as pydantic */
        return 1;
    }
    if (mr_json_is_string(x) &&
        mr_time_parse(mr_json_string_value(x), mr_json_string_length(x), out) == 0)
        return 1;
    add_err(v, name, -1, mr_json_is_string(x) ? "datetime_from_date_parsing" : "datetime_type",
            mr_json_is_string(x) ? "Input should be a valid datetime, expected ISO 8601 such as "
                                   "2024-11-11T10:00:00Z"
                                 : "Input should be a valid datetime",
            x, NULL);
    return -1;
}

static struct v start(struct mr_json *doc, size_t max_items)
{
    return (struct v){mr_json_array(), doc, max_items};
}

/* ---------- request decoders ---------- */

int api_decode_memory_create(const char *body, size_t len, struct api_memory_create *out,
                             size_t max_items, char **out_err)
{
    const struct api_field *mc = api_memory_create_fields;
    memset(out, 0, sizeof *out);
    struct mr_json *doc = parse_body(body, len, out_err);
    if (!doc)
        return MR_EVALIDATION;
    out->doc = doc;
    struct v v = start(doc, max_items);
    struct mr_memory_create *in = &out->in;
    in->importance_score = 0.5;
    in->expires_at = MR_NO_TIME;
    get_string(&v, &mc[MC_CONTENT], &in->content, &in->content_len);
    get_type(&v, &mc[MC_MEMORY_TYPE], &in->memory_type);
    get_uuid(&v, &mc[MC_CONVERSATION_ID], in->conversation_id);
    get_float(&v, &mc[MC_IMPORTANCE], &in->importance_score);
    get_strv(&v, &mc[MC_TAGS], &out->tags);
    get_strv(&v, &mc[MC_ENTITIES], &out->entities);
    get_object(&v, &mc[MC_METADATA], &out->metadata);
    get_datetime(&v, &mc[MC_EXPIRES_AT], &in->expires_at);
    get_bool(&v, &mc[MC_SHARED], &in->shared);
    int choice = 0;
    if (get_choice(&v, &mc[MC_DEDUP], &choice) > 0)
        in->dedup = choice == 1 ? MR_DEDUP_MERGE : MR_DEDUP_OFF; /* api_dedup_modes' order */
    if (get_choice(&v, &mc[MC_DEDUP_POLICY], &choice) > 0)
        in->policy = choice == 1 ? MR_DEDUP_REPLACE : MR_DEDUP_KEEP;
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
    mr_json_free(r->doc);
    memset(r, 0, sizeof *r);
}

int api_decode_memory_patch(const char *body, size_t len, struct api_memory_patch *out,
                            size_t max_items, char **out_err)
{
    const struct api_field *mp = api_memory_patch_fields;
    memset(out, 0, sizeof *out);
    struct mr_json *doc = parse_body(body, len, out_err);
    if (!doc)
        return MR_EVALIDATION;
    out->doc = doc;
    struct v v = start(doc, max_items);
    struct mr_memory_patch *in = &out->in;
    get_string(&v, &mp[MP_CONTENT], &in->content, &in->content_len);
    in->has_importance = get_float(&v, &mp[MP_IMPORTANCE], &in->importance_score) > 0;
    if (get_strv(&v, &mp[MP_TAGS], &out->tags) > 0)
        in->context_tags = &out->tags;
    get_object(&v, &mp[MP_METADATA], &out->metadata);
    in->metadata = out->metadata;
    in->has_shared = get_bool(&v, &mp[MP_SHARED], &in->shared) > 0;
    if (get_uuids(&v, &mp[MP_SUPERSEDES], &out->supersedes, &in->n_supersedes) > 0)
        in->supersedes = (const char(*)[MR_UUID_LEN])out->supersedes;
    return finish(&v, out_err);
}

void api_memory_patch_free(struct api_memory_patch *r)
{
    free(r->supersedes);
    mr_strv_clear(&r->tags);
    free(r->metadata);
    mr_json_free(r->doc);
    memset(r, 0, sizeof *r);
}

int api_decode_search(const char *body, size_t len, struct api_search *out, size_t max_items,
                      char **out_err)
{
    const struct api_field *ms = api_search_fields;
    memset(out, 0, sizeof *out);
    struct mr_json *doc = parse_body(body, len, out_err);
    if (!doc)
        return MR_EVALIDATION;
    out->doc = doc;
    struct v v = start(doc, max_items);
    struct mr_search *in = &out->in;
    get_string(&v, &ms[MS_QUERY], &in->query, &in->query_len);
    if (get_uuid(&v, &ms[MS_CONVERSATION_ID], out->conversation_id) > 0)
        in->conversation_id = out->conversation_id;
    long long limit = 0;
    if (get_int(&v, &ms[MS_LIMIT], &limit) > 0)
        in->limit = (size_t)limit;
    in->has_min_similarity = get_float(&v, &ms[MS_MIN_SIMILARITY], &in->min_similarity) > 0;
    struct mr_json *types = lookup(&v, ms[MS_MEMORY_TYPES].name, ms[MS_MEMORY_TYPES].presence);
    if (types && mr_json_is_array(types) && mr_json_size(types) > v.max_items) {
        add_err(&v, "memory_types", -1, "too_long", "List is too long", mr_json_null(), NULL);
    } else if (types && !mr_json_is_array(types)) {
        add_err(&v, "memory_types", -1, "list_type", "Input should be a valid list", types, NULL);
    } else if (types) {
        for (size_t i = 0; i < mr_json_size(types); i++) {
            enum mr_memory_type t;
            if (check_type(&v, "memory_types", (int64_t)i, mr_json_at(types, i), &t) == 0)
                in->type_mask |= 1u << t;
        }
        /* An empty list filters nothing, as the reference's `if memory_types:`. */
    }
    get_bool(&v, &ms[MS_INCLUDE_ARCHIVED], &in->include_archived);
    get_mode(&v, &ms[MS_MODE], &in->mode);
    return finish(&v, out_err);
}

void api_search_free(struct api_search *r)
{
    mr_json_free(r->doc);
    memset(r, 0, sizeof *r);
}

int api_decode_conversation_create(const char *body, size_t len,
                                   struct api_conversation_create *out, size_t max_items,
                                   char **out_err)
{
    const struct api_field *cc = api_conversation_create_fields;
    memset(out, 0, sizeof *out);
    /* An empty body is allowed here: every field has a default. */
    struct mr_json *doc = len == 0 ? mr_json_object() : parse_body(body, len, out_err);
    if (!doc)
        return MR_EVALIDATION;
    out->doc = doc;
    struct v v = start(doc, max_items);
    struct mr_conversation_create *in = &out->in;
    in->has_conversation_id = get_uuid(&v, &cc[CC_CONVERSATION_ID], in->conversation_id) > 0;
    const char *title = NULL;
    size_t tl;
    if (get_string(&v, &cc[CC_TITLE], &title, &tl) > 0)
        in->title = title;
    long long ds;
    if (get_int(&v, &cc[CC_DATA_SOURCE_ID], &ds) > 0) {
        in->has_data_source_id = true;
        in->data_source_id = ds;
    }
    get_object(&v, &cc[CC_METADATA], &out->metadata);
    in->metadata = out->metadata;
    in->has_is_active = get_bool(&v, &cc[CC_IS_ACTIVE], &in->is_active) > 0;
    return finish(&v, out_err);
}

void api_conversation_create_free(struct api_conversation_create *r)
{
    free(r->metadata);
    mr_json_free(r->doc);
    memset(r, 0, sizeof *r);
}

int api_decode_conversation_patch(const char *body, size_t len, struct api_conversation_patch *out,
                                  size_t max_items, char **out_err)
{
    const struct api_field *cp = api_conversation_patch_fields;
    memset(out, 0, sizeof *out);
    struct mr_json *doc = parse_body(body, len, out_err);
    if (!doc)
        return MR_EVALIDATION;
    out->doc = doc;
    struct v v = start(doc, max_items);
    struct mr_conversation_patch *in = &out->in;
    bool is_null;
    if (field(&v, cp[CP_TITLE].name, &is_null)) {
        const char *title = NULL;
        size_t tl;
        in->has_title = is_null || get_string(&v, &cp[CP_TITLE], &title, &tl) > 0;
        in->title = title;
    }
    if (field(&v, cp[CP_DATA_SOURCE_ID].name, &is_null)) {
        long long ds = 0;
        in->has_data_source_id = is_null || get_int(&v, &cp[CP_DATA_SOURCE_ID], &ds) > 0;
        in->data_source_id_null = is_null;
        in->data_source_id = ds;
    }
    get_object(&v, &cp[CP_METADATA], &out->metadata);
    in->metadata = out->metadata;
    in->has_is_active = get_bool(&v, &cp[CP_IS_ACTIVE], &in->is_active) > 0;
    return finish(&v, out_err);
}

void api_conversation_patch_free(struct api_conversation_patch *r)
{
    free(r->metadata);
    mr_json_free(r->doc);
    memset(r, 0, sizeof *r);
}

/* ---------- response encoders ---------- */

struct mr_json *mr_api_memory_json(const struct mr_memory *m)
{
    struct mr_json *o = mr_json_object();
    mr_json_set(o, "id", mr_json_integer(m->id));
    mr_json_set(o, "memory_id", mr_json_string(m->memory_id));
    mr_json_set(o, "conversation_id", mr_json_string(m->conversation_id));
    mr_json_set(o, "user_id", mr_json_string(m->user_id));
    mr_json_set(o, "tenant_id", mr_json_string(m->tenant_id));
    mr_json_set(o, "content", mr_json_string(m->content));
    mr_json_set(o, "memory_type", mr_json_string(mr_memory_type_name(m->memory_type)));
    mr_json_set(o, "importance_score", mr_json_real(m->importance_score));
    mr_json_set(o, "access_count", mr_json_integer(m->access_count));
    mr_json_set(o, "last_accessed_at", mr_json_time_or_null(m->last_accessed_at));
    mr_json_set(o, "context_tags", mr_json_strv(&m->context_tags));
    mr_json_set(o, "related_entities", mr_json_strv(&m->related_entities));
    mr_json_set(o, "metadata", mr_json_object_or_empty(m->metadata));
    mr_json_set(o, "expires_at", mr_json_time_or_null(m->expires_at));
    mr_json_set(o, "is_archived", mr_json_bool(m->is_archived));
    mr_json_set(o, "shared", mr_json_bool(m->is_shared));
    mr_json_set(o, "data_source_id",
                m->has_data_source_id ? mr_json_integer(m->data_source_id) : mr_json_null());
    mr_json_set(o, "created_at", mr_json_time_or_null(m->created_at));
    mr_json_set(o, "updated_at", mr_json_time_or_null(m->updated_at));
    return o;
}

char *api_encode_memory(const struct mr_memory *m)
{
    return dump(mr_api_memory_json(m));
}

/* ---------- bounded lists ---------- */

/*
 * A list answer written item by item into one buffer that stops growing at
 * max bytes (0: no bound). Each item is built and printed alone, so the
 * whole list never exists as a tree; the item that would pass the bound is
 * left out with every one after it and the answer says "truncated": true.
 * The first item is always in (a page must move on); a single memory is
 * bounded by the request limits that made it.
 */
struct list_out {
    char *p;
    size_t len, cap, max;
    size_t n; /* items written */
    bool truncated;
};

static void put(struct list_out *o, const char *s, size_t n)
{
    if (o->len + n + 1 > o->cap) {
        size_t cap = o->cap ? o->cap : 4096;
        while (cap < o->len + n + 1)
            cap *= 2;
        o->p = mr_xrealloc(o->p, cap);
        o->cap = cap;
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
    o->p[o->len] = '\0';
}

static void put_str(struct list_out *o, const char *s)
{
    put(o, s, strlen(s));
}

/* Adds item (taken) unless it would pass the bound; reserve: what the closing fields need. */
static bool put_item(struct list_out *o, struct mr_json *item, size_t reserve)
{
    char *s = o->truncated ? NULL : mr_json_print(item, 15);
    mr_json_free(item);
    if (!s)
        return false;
    size_t n = strlen(s);
    if (o->n > 0 && o->max && o->len + 1 + n + reserve > o->max) {
        free(s);
        o->truncated = true;
        return false;
    }
    if (o->n++)
        put(o, ",", 1);
    put(o, s, n);
    free(s);
    return true;
}

static double round4(double x)
{
    return round(x * 1e4) / 1e4;
}

/* One search result: the memory, its fused score and both sides' scores. */
static struct mr_json *search_result_json(const struct mr_search_results *r, size_t i)
{
    struct mr_json *o = mr_api_memory_json(&r->memories[i]);
    /* Rounded to 4 places, as the reference does (rounding keeps the order non-increasing). */
    mr_json_set(o, "similarity_score", mr_json_real(round4(r->scores[i])));
    struct mr_json *sides = one("semantic", mr_json_real(round4(r->semantic[i])));
    mr_json_set(sides, "lexical", mr_json_real(round4(r->lexical[i])));
    mr_json_set(o, "scores", sides);
    return o;
}

char *api_encode_search(struct mr_search_results *r, const char *query, size_t query_len,
                        size_t max_bytes)
{
    struct mr_json *q = mr_json_stringn(query, query_len);
    char *qs = mr_json_print(q, 0);
    mr_json_free(q);
    struct list_out o = {.max = max_bytes};
    size_t reserve = (qs ? strlen(qs) : 2) + 96;
    put_str(&o, "{\"results\":[");
    /* Each memory goes once written (or left out): the answer replaces them, not adds to them. */
    for (size_t i = 0; i < r->n; i++) {
        if (!o.truncated)
            put_item(&o, search_result_json(r, i), reserve);
        mr_memory_clear(&r->memories[i]);
    }
    char tail[96];
    snprintf(tail, sizeof tail, "],\"total\":%zu,\"query\":", o.n);
    put_str(&o, tail);
    put_str(&o, qs ? qs : "\"\"");
    /* The ranking used: the requested mode, or the one side the query had (service.h). */
    put_str(&o, ",\"mode\":\"");
    put_str(&o, mr_search_mode_name(r->mode));
    put_str(&o, o.truncated ? "\",\"truncated\":true}" : "\",\"truncated\":false}");
    free(qs);
    return o.p;
}

/* Closes a paged list: {"<key>": [items], "total", "limit", "offset", "truncated"}. */
static char *page_close(struct list_out *o, int64_t total, struct mr_page page)
{
    char tail[160];
    snprintf(tail, sizeof tail, "],\"total\":%lld,\"limit\":%lld,\"offset\":%lld,\"truncated\":%s}",
             (long long)total, (long long)page.limit, (long long)page.offset,
             o->truncated ? "true" : "false");
    put_str(o, tail);
    return o->p;
}

#define PAGE_RESERVE 160

char *api_encode_memory_page(struct mr_memory *v, size_t n, int64_t total, struct mr_page page,
                             size_t max_bytes)
{
    struct list_out o = {.max = max_bytes};
    put_str(&o, "{\"memories\":[");
    for (size_t i = 0; i < n; i++) {
        if (!o.truncated)
            put_item(&o, mr_api_memory_json(&v[i]), PAGE_RESERVE);
        mr_memory_clear(&v[i]);
    }
    return page_close(&o, total, page);
}

char *api_encode_history_page(struct mr_history_event *v, size_t n, int64_t total,
                              struct mr_page page, size_t max_bytes)
{
    struct list_out o = {.max = max_bytes};
    put_str(&o, "{\"events\":[");
    for (size_t i = 0; i < n; i++) {
        if (!o.truncated) {
            struct mr_json *e = mr_json_object();
            mr_json_set(e, "id", mr_json_integer(v[i].id));
            mr_json_set(e, "memory_id", mr_json_string(v[i].memory_id));
            mr_json_set(e, "kind", mr_json_string(v[i].kind ? v[i].kind : ""));
            mr_json_set(e, "actor", mr_json_string(v[i].actor ? v[i].actor : ""));
            mr_json_set(e, "created_at", mr_json_time_or_null(v[i].created_at));
            mr_json_set(e, "changes", mr_json_object_or_empty(v[i].changes));
            put_item(&o, e, PAGE_RESERVE);
        }
        mr_history_event_clear(&v[i]);
    }
    return page_close(&o, total, page);
}

char *api_encode_stats(const struct mr_stats *s)
{
    struct mr_json *by_type = one("short_term", mr_json_integer(s->by_type[MR_SHORT_TERM]));
    by_type = mr_json_with(by_type, "long_term", mr_json_integer(s->by_type[MR_LONG_TERM]));
    by_type = mr_json_with(by_type, "rules", mr_json_integer(s->by_type[MR_RULE]));
    by_type = mr_json_with(by_type, "entities", mr_json_integer(s->by_type[MR_ENTITY]));
    by_type = mr_json_with(by_type, "relationships", mr_json_integer(s->by_type[MR_RELATIONSHIP]));
    by_type = mr_json_with(by_type, "examples", mr_json_integer(s->by_type[MR_EXAMPLE]));
    struct mr_json *o = one("total_memories", mr_json_integer(s->total));
    o = mr_json_with(o, "by_type", by_type);
    o = mr_json_with(o, "archived", mr_json_integer(s->archived));
    o = mr_json_with(o, "average_importance",
                     mr_json_real(round(s->average_importance * 100) / 100));
    return dump(o);
}

char *api_encode_archive(int64_t count, int days)
{
    struct mr_json *o = one("status", mr_json_string("success"));
    o = mr_json_with(o, "archived_count", mr_json_integer(count));
    o = mr_json_with(o, "threshold_days", mr_json_integer(days));
    return dump(o);
}

struct mr_json *mr_api_conversation_json(const struct mr_conversation *c)
{
    struct mr_json *o = mr_json_object();
    mr_json_set(o, "id", mr_json_integer(c->id));
    mr_json_set(o, "conversation_id", mr_json_string(c->conversation_id));
    mr_json_set(o, "user_id", mr_json_string(c->user_id));
    mr_json_set(o, "tenant_id", mr_json_string(c->tenant_id));
    mr_json_set(o, "data_source_id",
                c->has_data_source_id ? mr_json_integer(c->data_source_id) : mr_json_null());
    mr_json_set(o, "title", c->title ? mr_json_string(c->title) : mr_json_null());
    mr_json_set(o, "metadata", mr_json_object_or_empty(c->metadata));
    mr_json_set(o, "is_active", mr_json_bool(c->is_active));
    mr_json_set(o, "last_activity_at", mr_json_time_or_null(c->last_activity_at));
    mr_json_set(o, "created_at", mr_json_time_or_null(c->created_at));
    mr_json_set(o, "updated_at", mr_json_time_or_null(c->updated_at));
    return o;
}

char *api_encode_conversation(const struct mr_conversation *c)
{
    return dump(mr_api_conversation_json(c));
}

char *api_encode_conversation_page(const struct mr_conversation *v, size_t n, int64_t total,
                                   struct mr_page page, size_t max_bytes)
{
    struct list_out o = {.max = max_bytes};
    put_str(&o, "{\"conversations\":[");
    for (size_t i = 0; i < n && put_item(&o, mr_api_conversation_json(&v[i]), PAGE_RESERVE); i++)
        ;
    return page_close(&o, total, page);
}

char *api_encode_data_source_page(const struct mr_data_source *v, size_t n, int64_t total,
                                  struct mr_page page, size_t max_bytes)
{
    struct list_out o = {.max = max_bytes};
    put_str(&o, "{\"data_sources\":[");
    for (size_t i = 0; i < n; i++) {
        struct mr_json *d = one("data_source_id", mr_json_integer(v[i].data_source_id));
        mr_json_set(d, "dialect", mr_json_string(v[i].dialect));
        mr_json_set(d, "schema_hash", mr_json_string(v[i].schema_hash));
        mr_json_set(d, "tables", mr_json_integer((int64_t)v[i].tables));
        mr_json_set(d, "relationships", mr_json_integer((int64_t)v[i].relationships));
        mr_json_set(d, "updated_at", mr_json_time_or_null(v[i].updated_at));
        if (!put_item(&o, d, PAGE_RESERVE))
            break;
    }
    return page_close(&o, total, page);
}

char *api_encode_health(const char *status, const struct mr_service_health *h, const char *version)
{
    /* Without an in-process index the store searches (pgvector) and counts nothing here. */
    struct mr_json *index = one("kind", mr_json_string(h->has_index ? "in-process" : "store"));
    if (h->has_index) {
        index = mr_json_with(index, "memories", mr_json_integer((int64_t)h->indexed));
        index =
            mr_json_with(index, "graphs_building", mr_json_integer((int64_t)h->graphs_building));
    }
    struct mr_json *store = one("backend", mr_json_string(h->store_name));
    store = mr_json_with(store, "status", mr_json_string(h->store_detail));
    struct mr_json *embedder = one("model", mr_json_string(h->embedder_name));
    embedder = mr_json_with(embedder, "dimensions", mr_json_integer((int64_t)h->dim));
    embedder = mr_json_with(embedder, "status", mr_json_string(h->embedder_detail));
    struct mr_json *o = one("status", mr_json_string(status));
    o = mr_json_with(o, "version", mr_json_string(version));
    o = mr_json_with(o, "store", store);
    o = mr_json_with(o, "embedder", embedder);
    o = mr_json_with(o, "index", index);
    return dump(o);
}

char *api_encode_detail(const char *msg)
{
    return dump(one("detail", mr_json_string(msg)));
}

char *api_encode_param_error(const char *where, const char *name, const char *type, const char *msg,
                             const char *input)
{
    struct mr_json *loc = mr_json_array();
    mr_json_append(loc, mr_json_string(where));
    mr_json_append(loc, mr_json_string(name));
    struct mr_json *e = one("type", mr_json_string(type));
    e = mr_json_with(e, "loc", loc);
    e = mr_json_with(e, "msg", mr_json_string(msg));
    /* An input that is not UTF-8 cannot be echoed: null, as for a missing one. */
    struct mr_json *in = input ? mr_json_string(input) : NULL;
    mr_json_set(e, "input", in ? in : mr_json_null());
    struct mr_json *detail = NULL;
    if (e) {
        detail = mr_json_array();
        mr_json_append(detail, e);
    }
    return dump(one("detail", detail));
}

/* ---------- the validators, for the other codecs (api_int.h) ---------- */

static struct v body_v(const struct api_body *b)
{
    return (struct v){b->errors, b->obj, b->max_items};
}

struct mr_json *api_body_begin(const char *body, size_t len, size_t max_items, struct api_body *out,
                               char **out_err)
{
    memset(out, 0, sizeof *out);
    struct mr_json *doc = parse_body(body, len, out_err);
    if (doc)
        *out = (struct api_body){mr_json_array(), doc, max_items};
    return doc;
}

int api_body_string(struct api_body *b, const struct api_field *f, const char **out,
                    size_t *out_len)
{
    struct v v = body_v(b);
    return get_string(&v, f, out, out_len);
}

int api_body_int(struct api_body *b, const struct api_field *f, long long *out)
{
    struct v v = body_v(b);
    return get_int(&v, f, out);
}

int api_body_uuid(struct api_body *b, const struct api_field *f, char out[MR_UUID_LEN])
{
    struct v v = body_v(b);
    return get_uuid(&v, f, out);
}

int api_body_finish(struct api_body *b, char **out_err)
{
    struct v v = body_v(b);
    b->errors = NULL;
    return finish(&v, out_err);
}
