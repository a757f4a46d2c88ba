/*
 * json.h — JSON values (src/util/json.c, the one file that includes
 * jansson): parse, read, build and print them, for the API codec, the
 * OpenAI provider, the core's metadata merge and the PostgreSQL row codec.
 * Swapping the JSON library touches json.c only.
 *
 * A struct mr_json is a reference-counted value. Functions that return a
 * new one say so; the caller owns it and releases it with mr_json_free.
 * Values read out of another (mr_json_get, mr_json_at) are borrowed: valid
 * while their parent is. Every reader accepts NULL and answers "nothing"
 * (MR_JSON_NONE, NULL, 0), so lookups chain without checks in between.
 */
#ifndef MEMORI_JSON_H
#define MEMORI_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mr_json;

enum mr_json_type {
    MR_JSON_NONE, /* no value: a NULL pointer */
    MR_JSON_OBJECT,
    MR_JSON_ARRAY,
    MR_JSON_STRING,
    MR_JSON_INTEGER,
    MR_JSON_REAL,
    MR_JSON_TRUE,
    MR_JSON_FALSE,
    MR_JSON_NULL,
    /*
     * An integer past int64 (-2^63..2^63-1), kept as its exact digits, as
     * Python's json keeps it: printed back unchanged, read as a number
     * (mr_json_number_value: the nearest double), never as an integer.
     */
    MR_JSON_BIGINT,
};

/* Where and why a text failed to parse. */
struct mr_json_error {
    size_t position; /* bytes read before the error */
    char text[160];  /* the parser's message */
};

/*
 * Parses len bytes of JSON text (any value at the top, not only objects or
 * arrays; strings must be UTF-8 without NUL; integers past int64 become
 * MR_JSON_BIGINT). Returns a new value, or NULL with *out_err filled
 * (out_err may be NULL).
 */
struct mr_json *mr_json_parse(const char *text, size_t len, struct mr_json_error *out_err);

/*
 * The compact text of v, object keys in insertion order, reals with
 * real_digits significant digits (0: as many as a double needs to read back
 * the same). A new string the caller frees, or NULL when v is NULL.
 */
char *mr_json_print(const struct mr_json *v, int real_digits);

/* Releases the caller's reference to v (NULL is fine). */
void mr_json_free(struct mr_json *v);
/* Another reference to v, for a value borrowed from one parent and given to another. */
struct mr_json *mr_json_ref(struct mr_json *v);

/* ---------- reading ---------- */

enum mr_json_type mr_json_type(const struct mr_json *v);

static inline bool mr_json_is_object(const struct mr_json *v)
{
    return mr_json_type(v) == MR_JSON_OBJECT;
}
static inline bool mr_json_is_array(const struct mr_json *v)
{
    return mr_json_type(v) == MR_JSON_ARRAY;
}
static inline bool mr_json_is_string(const struct mr_json *v)
{
    return mr_json_type(v) == MR_JSON_STRING;
}
static inline bool mr_json_is_integer(const struct mr_json *v)
{
    return mr_json_type(v) == MR_JSON_INTEGER;
}
static inline bool mr_json_is_real(const struct mr_json *v)
{
    return mr_json_type(v) == MR_JSON_REAL;
}
static inline bool mr_json_is_bigint(const struct mr_json *v)
{
    return mr_json_type(v) == MR_JSON_BIGINT;
}
static inline bool mr_json_is_number(const struct mr_json *v)
{
    return mr_json_is_integer(v) || mr_json_is_real(v) || mr_json_is_bigint(v);
}
static inline bool mr_json_is_true(const struct mr_json *v)
{
    return mr_json_type(v) == MR_JSON_TRUE;
}
static inline bool mr_json_is_bool(const struct mr_json *v)
{
    return mr_json_is_true(v) || mr_json_type(v) == MR_JSON_FALSE;
}
static inline bool mr_json_is_null(const struct mr_json *v)
{
    return mr_json_type(v) == MR_JSON_NULL;
}

/* The member key of object o (borrowed), or NULL. */
struct mr_json *mr_json_get(const struct mr_json *o, const char *key);
/* The number of items of array a (0 for anything else). */
size_t mr_json_size(const struct mr_json *a);
/* Item i of array a (borrowed), or NULL. */
struct mr_json *mr_json_at(const struct mr_json *a, size_t i);

/* A string's UTF-8 text (NUL-terminated; owned by v), or NULL for a non-string. */
const char *mr_json_string_value(const struct mr_json *v);
/* A string's length in bytes (0 for a non-string). */
size_t mr_json_string_length(const struct mr_json *v);
/* An integer's value (0 for anything else). */
int64_t mr_json_integer_value(const struct mr_json *v);
/* A real's value (0 for anything else). */
double mr_json_real_value(const struct mr_json *v);
/* An integer's, a real's or a big integer's value as a double (0 for anything else). */
double mr_json_number_value(const struct mr_json *v);

/*
 * How deeply v nests arrays and objects: 0 for a scalar, 1 for [] or {},
 * 1 + the deepest item's otherwise. Stops looking below limit levels (the
 * answer is then limit + 1 or more), so a deep document costs no more than
 * a shallow one.
 */
int mr_json_depth(const struct mr_json *v, int limit);

/* ---------- building: each returns a new value, or NULL when it cannot be made ---------- */

struct mr_json *mr_json_object(void);
struct mr_json *mr_json_array(void);
/* NULL for a NULL s or one that is not UTF-8. */
struct mr_json *mr_json_string(const char *s);
/* len bytes of s (NULs included); NULL for a NULL s or bytes that are not UTF-8. */
struct mr_json *mr_json_stringn(const char *s, size_t len);
struct mr_json *mr_json_integer(int64_t x);
/* NULL for a NaN or an infinity, which JSON cannot write. */
struct mr_json *mr_json_real(double x);
struct mr_json *mr_json_bool(bool b);
struct mr_json *mr_json_null(void);

/* The shapes memori's stored fields take in JSON, for the API and `memori export` alike. */
struct mr_strv;
/* The strings of v as an array. */
struct mr_json *mr_json_strv(const struct mr_strv *v);
/* A timestamp as the API writes it (ISO-8601, UTC), null for MR_NO_TIME. */
struct mr_json *mr_json_time_or_null(int64_t t);
/* A stored JSON object text as a value; {} when text is NULL or not an object. */
struct mr_json *mr_json_object_or_empty(const char *text);

/*
 * Sets member key of object o to v, taking the caller's reference to v.
 * Returns 0, or -1 (v released, o unchanged) when o is not an object or v
 * is NULL.
 */
int mr_json_set(struct mr_json *o, const char *key, struct mr_json *v);

/*
 * mr_json_set for building in one expression: returns o with key set, or
 * NULL (both released) when o or v is NULL — a value that could not be made
 * fails the whole object, so a chain of mr_json_with ends in one NULL check.
 */
struct mr_json *mr_json_with(struct mr_json *o, const char *key, struct mr_json *v);

/*
 * Sets every member of object from into object o, in from's order, taking
 * the caller's reference to from (released in every case). 0, or -1 when
 * either is not an object.
 */
int mr_json_update(struct mr_json *o, struct mr_json *from);

/* Appends v to array a, taking the caller's reference; 0, or -1 as mr_json_set. */
int mr_json_append(struct mr_json *a, struct mr_json *v);

/* ---------- on JSON text ---------- */

/*
 * Shallow merge of two JSON object texts, as Python's {**base, **patch}:
 * keys of patch replace those of base, others stay (DESIGN.md §3: "metadata
 * updates merge keys"). Returns a new compact text the caller frees, or
 * NULL when either input is not a JSON object.
 */
char *mr_json_merge_objects(const char *base, const char *patch);

/*
 * The compact form of a JSON text (no spaces; PostgreSQL's JSONB prints
 * "{\"k\": 1}"), so both stores return the same text. A new string the
 * caller frees, or NULL when text is not JSON.
 */
char *mr_json_compact(const char *text);

#endif
