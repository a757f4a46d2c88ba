/*
 * semantic.c — the built-in semantic models, memori-wordnet-v1 and -v2.
 *
 * Word vectors trained by tools/mkmodel.c on a corpus made from WordNet
 * (tools/mkcorpus.c), memory-mapped read-only. A text's vector is:
 *   - semantic part: the SIF-weighted mean of its known words' vectors with
 *     the corpus' common component removed (Arora, Liang and Ma 2017),
 *     unit length;
 *   - lexical part: the lexical embedder's vector, so exact identifiers and
 *     words the model never saw still match;
 * joined as [w_sem·semantic, w_lex·lexical] with w_sem² + w_lex² = 1, so the
 * cosine of two texts is w_sem²·cos_semantic + w_lex²·cos_lexical. The
 * lexical share w_lex² is a parameter of mr_embed_semantic_open_share
 * (memori-wordnet-v1: 1 − MR_SEMANTIC_WEIGHT); at 0 the vector is the
 * semantic part alone, 128 floats, for rankers whose lexical side is a real
 * index: memori-wordnet-v2 (docs/ranking.md).
 */
#define _POSIX_C_SOURCE 200809L
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "memori/embed.h"
#include "memori/model_file.h"
#include "memori/util.h"

_Static_assert(MR_MODEL_DIM + MR_SEMANTIC_LEXICAL_DIM == MR_MODEL_DIM_TOTAL,
               "embed.h and model_file.h disagree on the dimension");

struct semantic {
    struct mr_embedder base;
    struct mr_embedder *lexical;
    const unsigned char *map;
    size_t map_len;
    const struct mr_model_header *h;
    const float *pc, *vectors, *weights;
    const uint32_t *table, *string_offsets;
    const char *strings;
    size_t strings_len;
    size_t sem_dim, lex_dim;
    float w_sem, w_lex;
    const char *name; /* a static string: the model name stored with its vectors */
};

static long find_word(const struct semantic *s, const char *w, size_t n)
{
    uint32_t cap = s->h->hash_cap;
    for (uint32_t i = mr_model_hash(w, n) & (cap - 1), probes = 0; probes < cap;
         i = (i + 1) & (cap - 1), probes++) {
        uint32_t e = s->table[i];
        if (!e)
            return -1;
        uint32_t off = s->string_offsets[e - 1];
        const char *cand = s->strings + off;
        if (n < s->strings_len - off && memcmp(cand, w, n) == 0 && cand[n] == '\0')
            return (long)e - 1;
    }
    return -1;
}

struct accum {
    const struct semantic *s;
    float *v;
    int found;
};

static void on_word(void *arg, const char *w, size_t n, int is_part)
{
    struct accum *a = arg;
    if (is_part < 0)
        return; /* whole identifiers are the lexical part's job */
    long id = find_word(a->s, w, n);
    if (id < 0)
        return;
    const float *vec = a->s->vectors + (size_t)id * a->s->sem_dim;
    float wt = a->s->weights[id];
    for (size_t j = 0; j < a->s->sem_dim; j++)
        a->v[j] += wt * vec[j];
    a->found++;
}

/* The semantic part of one text into v (sem_dim floats); false when no word is known. */
static bool semantic_part(const struct semantic *s, const char *text, size_t len, float *v)
{
    struct accum a = {s, v, 0};
    memset(v, 0, s->sem_dim * sizeof *v);
    mr_embed_tokenize(text, len, on_word, &a);
    if (!a.found)
        return false;
    double proj = 0, norm = 0;
    for (size_t j = 0; j < s->sem_dim; j++)
        proj += (double)v[j] * s->pc[j];
    for (size_t j = 0; j < s->sem_dim; j++) {
        v[j] -= (float)(proj * s->pc[j]);
        norm += (double)v[j] * v[j];
    }
    if (norm <= 1e-20)
        return false;
    float inv = (float)(1.0 / sqrt(norm));
    for (size_t j = 0; j < s->sem_dim; j++)
        v[j] *= inv;
    return true;
}

static const char *sm_name(const struct mr_embedder *e)
{
    return ((const struct semantic *)e)->name;
}

static size_t sm_dim(const struct mr_embedder *e)
{
    const struct semantic *s = (const struct semantic *)e;
    return s->sem_dim + s->lex_dim;
}

static int sm_embed(struct mr_embedder *e, const char *const *texts, const size_t *lens, size_t n,
                    float *out, struct mr_err *err)
{
    struct semantic *s = (struct semantic *)e;
    size_t dim = s->sem_dim + s->lex_dim;
    int rc;
    for (size_t i = 0; i < n; i++) {
        float *row = out + i * dim;
        bool has_sem = semantic_part(s, texts[i], lens[i], row);
        if (!s->lexical) {
            if (!has_sem) /* no known word and no lexical part: the zero vector */
                memset(row, 0, dim * sizeof *row);
            continue;
        }
        if ((rc = mr_embed_one(s->lexical, texts[i], lens[i], row + s->sem_dim, err)) != 0)
            return rc;
        double lex_norm = 0;
        for (size_t j = s->sem_dim; j < dim; j++)
            lex_norm += (double)row[j] * row[j];
        if (!has_sem) {
            /* Nothing the model knows: the lexical part alone, already unit length. */
            memset(row, 0, s->sem_dim * sizeof *row);
            continue;
        }
        float ws = s->w_sem, wl = lex_norm > 0 ? s->w_lex : 0;
        if (wl == 0)
            ws = 1;
        for (size_t j = 0; j < s->sem_dim; j++)
            row[j] *= ws;
        for (size_t j = s->sem_dim; j < dim; j++)
            row[j] *= wl;
    }
    return 0;
}

static int sm_health(struct mr_embedder *e, struct mr_err *err)
{
    (void)e;
    (void)err;
    return 0;
}

static void sm_destroy(struct mr_embedder *e)
{
    struct semantic *s = (struct semantic *)e;
    mr_embed_destroy(s->lexical);
    if (s->map)
        munmap((void *)s->map, s->map_len);
    free(s);
}

static const struct mr_embedder_ops semantic_ops = {
    .name = sm_name,
    .dim = sm_dim,
    .embed = sm_embed,
    .health = sm_health,
    .destroy = sm_destroy,
};

/* True when [off, off + len) lies inside a file of size total. */
static bool in_file(uint64_t off, uint64_t len, uint64_t total)
{
    return off <= total && len <= total - off && off % 4 == 0;
}

/*
 * The model file at path with w_sem2 and w_lex2 (summing to 1) the shares of
 * the semantic and lexical parts in the cosine; w_lex2 0 drops the lexical
 * part (dimension 128).
 */
static struct mr_embedder *open_model(const char *path, double w_sem2, double w_lex2,
                                      struct mr_err *err);

struct mr_embedder *mr_embed_semantic_open(const char *path, struct mr_err *err)
{
    return open_model(path, MR_SEMANTIC_WEIGHT, 1.0 - MR_SEMANTIC_WEIGHT, err);
}

struct mr_embedder *mr_embed_semantic_open_share(const char *path, double lexical_share,
                                                 struct mr_err *err)
{
    if (!(lexical_share >= 0 && lexical_share < 1)) {
        mr_err_set(err, MR_EINVAL, "the lexical share of the semantic model must be in [0, 1)");
        return NULL;
    }
    return open_model(path, 1.0 - lexical_share, lexical_share, err);
}

static struct mr_embedder *open_model(const char *path, double w_sem2, double w_lex2,
                                      struct mr_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        mr_err_set(err, MR_EUNAVAIL,
                   "cannot open the model file %s (build it with `make model`): %m", path);
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || (size_t)st.st_size < sizeof(struct mr_model_header)) {
        close(fd);
        mr_err_set(err, MR_EINVAL, "model file %s is truncated; rebuild it with `make model`",
                   path);
        return NULL;
    }
    void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) {
        mr_err_set(err, MR_EUNAVAIL, "cannot map the model file %s: %m", path);
        return NULL;
    }
    struct semantic *s = mr_xcalloc(1, sizeof *s);
    s->base.ops = &semantic_ops;
    s->map = map;
    s->map_len = (size_t)st.st_size;
    s->h = map;
    const struct mr_model_header *h = s->h;
    uint64_t total = (uint64_t)st.st_size, nw = h->n_words, dim = h->dim;
    if (memcmp(h->magic, MR_MODEL_MAGIC, 8) != 0 || h->version != MR_MODEL_FORMAT ||
        h->file_size != total || dim != MR_MODEL_DIM || nw == 0 || h->hash_cap < nw ||
        (h->hash_cap & (h->hash_cap - 1)) != 0 || !in_file(h->off_pc, dim * 4, total) ||
        !in_file(h->off_vectors, nw * dim * 4, total) || !in_file(h->off_weights, nw * 4, total) ||
        !in_file(h->off_table, (uint64_t)h->hash_cap * 4, total) ||
        !in_file(h->off_string_offsets, nw * 4, total) || h->off_strings > total ||
        total == h->off_strings || s->map[total - 1] != '\0') {
        mr_err_set(err, MR_EINVAL,
                   "model file %s is not a memori model of format %d and dimension %d; rebuild "
                   "it with `make model`",
                   path, MR_MODEL_FORMAT, MR_MODEL_DIM);
        sm_destroy(&s->base);
        return NULL;
    }
    s->pc = (const float *)(s->map + h->off_pc);
    s->vectors = (const float *)(s->map + h->off_vectors);
    s->weights = (const float *)(s->map + h->off_weights);
    s->table = (const uint32_t *)(s->map + h->off_table);
    s->string_offsets = (const uint32_t *)(s->map + h->off_string_offsets);
    s->strings = (const char *)(s->map + h->off_strings);
    s->strings_len = (size_t)(total - h->off_strings);
    for (uint64_t i = 0; i < h->hash_cap; i++) {
        if (s->table[i] > nw) {
            mr_err_set(err, MR_EINVAL, "model file %s has a corrupt word table", path);
            sm_destroy(&s->base);
            return NULL;
        }
    }
    for (uint64_t i = 0; i < nw; i++) {
        if (s->string_offsets[i] >= s->strings_len) {
            mr_err_set(err, MR_EINVAL, "model file %s has a corrupt string table", path);
            sm_destroy(&s->base);
            return NULL;
        }
    }
    s->sem_dim = MR_MODEL_DIM;
    if (w_lex2 > 0) {
        s->lex_dim = MR_SEMANTIC_LEXICAL_DIM;
        s->lexical = mr_embed_lexical_new(s->lex_dim, err);
    }
    s->w_sem = (float)sqrt(w_sem2);
    s->w_lex = (float)sqrt(w_lex2);
    /* v1's share is written as 1 − MR_SEMANTIC_WEIGHT by both openers: the same double. */
    s->name = w_lex2 == 0                          ? MR_SEMANTIC_V2_MODEL
              : w_lex2 == 1.0 - MR_SEMANTIC_WEIGHT ? MR_SEMANTIC_MODEL
                                                   : "memori-wordnet-share";
    return &s->base;
}
