/*
 * util.h — small helpers every module uses: allocation that aborts on
 * failure (Redis' choice: input limits keep requests bounded, so running out
 * of memory is not a request error), UUIDs and UTF-8 checks.
 */
#ifndef MEMORI_UTIL_H
#define MEMORI_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* malloc/calloc/realloc/strdup that abort with a message instead of returning NULL. */
void *mr_xmalloc(size_t n);
void *mr_xcalloc(size_t n, size_t size);
void *mr_xrealloc(void *p, size_t n);

/* Vector storage is aligned to a cache line, so rows of 16k floats start on one (AVX-512 loads). */
#define MR_VEC_ALIGN 64

/* Moves p (old_n bytes used) into a new MR_VEC_ALIGN-aligned block of n bytes; free() frees it. */
void *mr_xrealloc_aligned(void *p, size_t old_n, size_t n);
char *mr_xstrdup(const char *s);
char *mr_xstrndup(const char *s, size_t n);

/*
 * A growable string: owned bytes, NUL-terminated once anything is added
 * (s is NULL while empty). Zero-initialise; appends never fail (they abort
 * on out-of-memory, as mr_xrealloc does).
 */
struct mr_strbuf {
    char *s;
    size_t len, cap;
};

void mr_strbuf_add(struct mr_strbuf *b, const char *s, size_t n);
void mr_strbuf_puts(struct mr_strbuf *b, const char *s);
void mr_strbuf_printf(struct mr_strbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The text, owned by the caller; the buffer is empty after. Never NULL. */
char *mr_strbuf_take(struct mr_strbuf *b);
void mr_strbuf_free(struct mr_strbuf *b);

/*
 * x clamped to [0, 1]; NaN fails both comparisons' "inside" test and becomes
 * 0. The one clamp of every score that must stay a probability-like value
 * (fusion, the neighbours' context, the context pack's links).
 */
static inline double mr_clamp01(double x)
{
    return x > 0 ? (x < 1 ? x : 1) : 0;
}

#define MR_FNV64_BASIS UINT64_C(14695981039346656037)

/* FNV-1a (64 bit) of n bytes continuing from h (start with MR_FNV64_BASIS). */
static inline uint64_t mr_fnv1a64(uint64_t h, const void *p, size_t n)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= UINT64_C(1099511628211);
    }
    return h;
}

/* Canonical text form of a UUID: 36 chars, lowercase, plus NUL. */
#define MR_UUID_LEN 37

/* A fresh random (v4) UUID into out (MR_UUID_LEN bytes). */
void mr_uuid_v4(char out[MR_UUID_LEN]);

/*
 * Parses the forms pydantic accepts (hyphenated or 32 hex digits, either
 * case, optional braces or "urn:uuid:" prefix) into the canonical form.
 * Returns 0, or -1 when s is not a UUID.
 */
int mr_uuid_parse(const char *s, size_t n, char out[MR_UUID_LEN]);

#define MR_SHA256_LEN 32

/* SHA-256 of n bytes of p (src/util/crypto.c, libcrypto's only includer). */
void mr_sha256(const void *p, size_t n, unsigned char out[MR_SHA256_LEN]);
/* HMAC-SHA-256 of msg[0..n) under key[0..key_len) (an empty key is allowed). */
void mr_hmac_sha256(const void *key, size_t key_len, const void *msg, size_t n,
                    unsigned char out[MR_SHA256_LEN]);

/* True when s[0..n) is valid UTF-8 (no overlongs, no surrogates). */
bool mr_utf8_valid(const char *s, size_t n);

/* Number of code points in valid UTF-8 s[0..n) (what Python's len() counts). */
size_t mr_utf8_len(const char *s, size_t n);

#endif
