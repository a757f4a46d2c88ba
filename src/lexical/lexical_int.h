/* lexical_int.h — private to src/lexical/: the stemmer behind the tokenizer. */
#ifndef MEMORI_LEXICAL_INT_H
#define MEMORI_LEXICAL_INT_H

#include <stddef.h>
#include <stdint.h>

#include "memori/util.h"

/* Longest word handed to the stemmer, and so the longest stem (bytes). */
#define MR_LEX_MAX_WORD 256

/*
 * The Snowball English stem of the lower-case word w[0..n) (n <=
 * MR_LEX_MAX_WORD) into out (MR_LEX_MAX_WORD bytes); returns its length.
 * Thread-safe: each thread stems with its own stemmer.
 */
size_t mr_lex_stem(const char *w, size_t n, char *out);

/* The stop-word list (sorted) and its length, for the unit test. */
const char *const *mr_lex_stop_words(size_t *out_n);

/* The hash of a term's bytes (FNV-1a with a final avalanche, so low bits mix every byte). */
static inline uint64_t mr_lex_hash(const char *s, size_t n)
{
    uint64_t h = mr_fnv1a64(MR_FNV64_BASIS, s, n);
    h ^= h >> 33;
    h *= UINT64_C(0xff51afd7ed558ccd);
    h ^= h >> 33;
    return h;
}

#endif
