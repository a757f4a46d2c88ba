/*
 * json.c — JSON values on jansson, the only file that includes it
 * (STYLE.md: one wrapper per library). A struct mr_json is a json_t: the
 * wrappers only cast, so they cost a call and nothing else, and keep
 * jansson's own semantics (reference counts, NULL-tolerant readers,
 * setters that take the value even when they fail).
 *
 * One addition: integers past int64, which jansson refuses ("too big
 * integer"), are kept exactly, as Python's json module keeps them (the
 * reference reads them). Before jansson parses a text holding one, the
 * literal is wrapped into a string whose first byte is NUL — a string no
 * text can hold otherwise, since texts with "\u0000" are refused — and
 * every printer writes its digits back as a bare number. Readers see
 * MR_JSON_BIGINT.
 */
#include "memori/json.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memori/clock.h"
#include "memori/types.h"
#include "memori/util.h"

static json_t *J(const struct mr_json *v)
{
    return (json_t *)v;
}

static struct mr_json *M(json_t *v)
{
    return (struct mr_json *)v;
}

/* ---------- integers past int64 ---------- */

/* A wrapped literal: a string of NUL and then the integer's digits. */
static bool is_bigint(const json_t *v)
{
    const char *s = json_string_value(v);
    return s && json_string_length(v) > 1 && s[0] == '\0';
}

/* Whether the integer literal s[0..n) ('-'?, digits, no leading zero) is outside int64. */
static bool past_int64(const char *s, size_t n)
{
    bool neg = s[0] == '-';
    size_t digits = n - neg;
    if (digits != 19)
        return digits > 19;
    return memcmp(s + neg, neg ? "9223372036854775808" : "9223372036854775807", 19) > 0;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

struct span {
    size_t start, len;
};

/*
 * The integer literals of t outside strings that int64 cannot hold, into
 * *spans (grown; *cap its room); returns how many. *out_nul tells that a
 * string holds the escape \u0000: then the text is parsed as it is (and
 * refused), since a NUL would no longer mark our literals alone.
 */
static size_t find_bigints(const char *t, size_t len, struct span **spans, size_t *cap,
                           bool *out_nul)
{
    size_t n = 0;
    *out_nul = false;
    for (size_t i = 0; i < len;) {
        if (t[i] == '"') {
            for (i++; i < len && t[i] != '"'; i++) {
                if (t[i] != '\\' || i + 1 >= len)
                    continue;
                if (t[i + 1] == 'u' && len - i >= 6 && memcmp(t + i + 2, "0000", 4) == 0)
                    *out_nul = true;
                i++; /* the escaped character */
            }
            i++;
            continue;
        }
        if (t[i] != '-' && !is_digit(t[i])) {
            i++;
            continue;
        }
        size_t start = i;
        if (t[i] == '-')
            i++;
        size_t first = i;
        while (i < len && is_digit(t[i]))
            i++;
        size_t digits = i - first;
        bool integer = digits > 0 && !(t[first] == '0' && digits > 1) &&
                       !(i < len && (t[i] == '.' || t[i] == 'e' || t[i] == 'E'));
        if (integer && digits >= 19 && past_int64(t + start, i - start)) {
            if (n == *cap) {
                *cap = *cap ? 2 * *cap : 8;
                *spans = mr_xrealloc(*spans, *cap * sizeof **spans);
            }
            (*spans)[n++] = (struct span){start, i - start};
        }
        /* The rest of the number (fraction, exponent) is not another literal. */
        while (i < len && (is_digit(t[i]) || t[i] == '.' || t[i] == 'e' || t[i] == 'E' ||
                           t[i] == '+' || t[i] == '-'))
            i++;
    }
    return n;
}

/* Whether an object key anywhere in v is a wrapped literal (the text had a number as a key). */
static bool bigint_key(const json_t *v)
{
    const char *key;
    json_t *item;
    size_t i;
    if (json_is_object(v)) {
        json_object_foreach((json_t *)v, key, item)
        {
            if (key[0] == '\0' || bigint_key(item))
                return true;
        }
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, item)
        {
            if (bigint_key(item))
                return true;
        }
    }
    return false;
}

static json_t *load(const char *text, size_t len, size_t flags, struct mr_json_error *out_err)
{
    json_error_t jerr;
    json_t *v = json_loadb(text, len, JSON_DECODE_ANY | flags, &jerr);
    if (!v && out_err) {
        out_err->position = jerr.position;
        snprintf(out_err->text, sizeof out_err->text, "%s", jerr.text);
    }
    return v;
}

/* jansson's parse of text, with integers past int64 wrapped first (above). */
static json_t *parse(const char *text, size_t len, struct mr_json_error *out_err)
{
    struct span *spans = NULL;
    size_t cap = 0;
    bool nul;
    size_t n = find_bigints(text, len, &spans, &cap, &nul);
    if (n == 0 || nul) {
        free(spans);
        return load(text, len, 0, out_err);
    }
    static const char open[] = "\"\\u0000";
    size_t wrapped_len = len + n * (sizeof open - 1 + 1), at = 0, from = 0;
    char *wrapped = mr_xmalloc(wrapped_len);
    for (size_t k = 0; k < n; k++) {
        memcpy(wrapped + at, text + from, spans[k].start - from);
        at += spans[k].start - from;
        memcpy(wrapped + at, open, sizeof open - 1);
        at += sizeof open - 1;
        memcpy(wrapped + at, text + spans[k].start, spans[k].len);
        at += spans[k].len;
        wrapped[at++] = '"';
        from = spans[k].start + spans[k].len;
    }
    memcpy(wrapped + at, text + from, len - from);
    json_t *v = load(wrapped, wrapped_len, JSON_ALLOW_NUL, NULL);
    free(wrapped);
    free(spans);
    if (v && !bigint_key(v))
        return v;
    json_decref(v);
    /*
     * Not JSON (or a number as a key): the error of the text as sent, with
     * big integers read as reals so that the error is the syntax one.
     */
    v = load(text, len, JSON_DECODE_INT_AS_REAL, out_err);
    if (v) { /* cannot happen for a text the wrapped parse refused; refuse it anyway */
        json_decref(v);
        if (out_err) {
            out_err->position = 0;
            snprintf(out_err->text, sizeof out_err->text, "invalid JSON");
        }
    }
    return NULL;
}

/*
 * Writes wrapped literals of jansson's output s back as bare numbers, in
 * place (the text only shrinks): "\u0000123…" becomes 123….
 */
static char *unwrap(char *s)
{
    static const char open[] = "\"\\u0000";
    if (!s || !strstr(s, open))
        return s;
    char *w = s;
    for (const char *r = s; *r;) {
        if (*r != '"') {
            *w++ = *r++;
            continue;
        }
        if (strncmp(r, open, sizeof open - 1) == 0) {
            const char *d = r + sizeof open - 1, *e = d + (*d == '-');
            while (is_digit(*e))
                e++;
            if (*e == '"' && e > d) {
                memmove(w, d, (size_t)(e - d));
                w += e - d;
                r = e + 1;
                continue;
            }
        }
        /* Any other string, copied through its closing quote. */
        *w++ = *r++;
        while (*r && *r != '"') {
            if (*r == '\\' && r[1])
                *w++ = *r++;
            *w++ = *r++;
        }
        if (*r)
            *w++ = *r++;
    }
    *w = '\0';
    return s;
}

static char *dump(const json_t *v, size_t flags)
{
    return v ? unwrap(json_dumps(v, flags)) : NULL;
}

struct mr_json *mr_json_parse(const char *text, size_t len, struct mr_json_error *out_err)
{
    return M(parse(text, len, out_err));
}

char *mr_json_print(const struct mr_json *v, int real_digits)
{
    size_t flags = JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY;
    if (real_digits > 0)
        flags |= JSON_REAL_PRECISION(real_digits);
    return dump(J(v), flags);
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
        return is_bigint(J(v)) ? MR_JSON_BIGINT : MR_JSON_STRING;
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
    return is_bigint(J(v)) ? NULL : json_string_value(J(v));
}

size_t mr_json_string_length(const struct mr_json *v)
{
    return is_bigint(J(v)) ? 0 : json_string_length(J(v));
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
    if (is_bigint(J(v)))
        return strtod(json_string_value(J(v)) + 1, NULL);
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

struct mr_json *mr_json_strv(const struct mr_strv *v)
{
    struct mr_json *a = mr_json_array();
    for (size_t i = 0; i < v->len; i++)
        mr_json_append(a, mr_json_string(v->items[i]));
    return a;
}

struct mr_json *mr_json_time_or_null(int64_t t)
{
    char buf[40];
    return t == MR_NO_TIME ? mr_json_null() : mr_json_string(mr_time_format(t, buf, sizeof buf));
}

struct mr_json *mr_json_object_or_empty(const char *text)
{
    struct mr_json *o = text ? mr_json_parse(text, strlen(text), NULL) : NULL;
    if (!mr_json_is_object(o)) {
        mr_json_free(o);
        o = mr_json_object();
    }
    return o;
}

int mr_json_set(struct mr_json *o, const char *key, struct mr_json *v)
{
    return json_object_set_new(J(o), key, J(v));
}

int mr_json_update(struct mr_json *o, struct mr_json *from)
{
    int rc = json_object_update(J(o), J(from));
    json_decref(J(from));
    return rc;
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
    json_t *b = parse(base, strlen(base), NULL);
    json_t *p = parse(patch, strlen(patch), NULL);
    char *out = NULL;
    if (json_is_object(b) && json_is_object(p) && json_object_update(b, p) == 0)
        out = dump(b, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(b);
    json_decref(p);
    return out;
}

char *mr_json_compact(const char *text)
{
    json_t *v = parse(text, strlen(text), NULL);
    char *out = dump(v, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
    json_decref(v);
    return out;
}
