/*
 * model_file.h — the layout of the built-in model's file, written by
 * tools/mkmodel.c and memory-mapped by src/embed/semantic.c. Little-endian,
 * every section 4-byte aligned; offsets are from the start of the file.
 */
#ifndef MEMORI_MODEL_FILE_H
#define MEMORI_MODEL_FILE_H

#include <stddef.h>
#include <stdint.h>

#define MR_MODEL_MAGIC "MEMORIWV"
#define MR_MODEL_FORMAT 1
#define MR_MODEL_DIM 128

struct mr_model_header {
    char magic[8];
    uint32_t version;
    uint32_t dim;
    uint32_t n_words;
    uint32_t hash_cap;           /* power of two */
    uint64_t off_pc;             /* float[dim]: the common component to remove */
    uint64_t off_vectors;        /* float[n_words][dim], unit length */
    uint64_t off_weights;        /* float[n_words]: SIF weight a / (a + p(w)) */
    uint64_t off_table;          /* uint32[hash_cap]: word index + 1, 0 = empty */
    uint64_t off_string_offsets; /* uint32[n_words] into the strings section */
    uint64_t off_strings;        /* NUL-terminated words */
    uint64_t file_size;
};

/* FNV-1a (32 bit) of a word: the hash of the word table. */
static inline uint32_t mr_model_hash(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 16777619u;
    }
    return h;
}

#endif
