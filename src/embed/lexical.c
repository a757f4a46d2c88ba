/*
 * lexical.c — the deterministic lexical embedder.
 *
 * Features of a text: its words (light plural stemming; identifiers such as
 * customer_id or customerId also split into their words), word bigrams, and
 * character trigrams of each word with boundary marks. Each feature is
 * hashed (FNV-1a, 64 bit) to a bucket and a sign — the signed hashing trick
 * keeps collisions unbiased — with a sublinear weight w·(1 + ln tf).
 * The vector is L2-normalised so the dot product is the cosine.
 *
 * It matches words, not meanings: "purchases" does not find "orders". The
 * semantic model of a later issue replaces it as the default.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "memori/embed.h"
#include "memori/util.h"

#define W_WORD 1.0f
#define W_STOP 0.2f  /* function words carry little meaning */
#define W_IDENT 1.0f /* a whole identifier, so exact identifiers match strongly */
#define W_BIGRAM 0.5f
#define W_TRIGRAM 0.15f
#define MAX_WORD 64 /* longer "words" are cut: they are data, not language */

struct lexical {
    struct mr_embedder base;
    size_t dim;
    char name[64];
};

struct feature {
    uint64_t hash;
    float weight;
};

struct feats {
    struct feature *v;
    size_t n, cap;
    char prev[MAX_WORD + 1]; /* previous word, for bigrams */
    size_t prev_len;
};

static void add(struct feats *f, uint64_t kind, const char *s, size_t n, float w)
{
    if (f->n == f->cap) {
        f->cap = f->cap ? f->cap * 2 : 256;
        f->v = mr_xrealloc(f->v, f->cap * sizeof *f->v);
    }
    uint64_t h = mr_fnv1a64(MR_FNV64_BASIS ^ (kind * UINT64_C(0x9e3779b97f4a7c15)), s, n);
    /* Final avalanche so low bits (the bucket) depend on every byte. */
    h ^= h >> 33;
    h *= UINT64_C(0xff51afd7ed558ccd);
    h ^= h >> 33;
    f->v[f->n++] = (struct feature){h, w};
}

static const char *const stopwords[] = {
    "a",     "an",   "and",   "are",   "as",   "at",  "be",     "by",   "do",   "does",
    "for",   "from", "has",   "have",  "how",  "i",   "in",     "is",   "it",   "its",
    "me",    "my",   "of",    "on",    "or",   "our", "should", "so",   "that", "the",
    "their", "them", "there", "these", "this", "to",  "us",     "was",  "we",   "were",
    "what",  "when", "where", "which", "who",  "why", "will",   "with", "you",  "your",
};

static int is_stopword(const char *w, size_t n)
{
    size_t lo = 0, hi = sizeof stopwords / sizeof stopwords[0];
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strncmp(stopwords[mid], w, n);
        if (c == 0 && stopwords[mid][n] != '\0')
            c = 1;
        if (c == 0)
            return 1;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

/* Light English plural stripping: "queries" → "query", "boxes" → "box", "orders" → "order". */
static size_t stem(char *w, size_t n)
{
    if (n > 4 && memcmp(w + n - 3, "ies", 3) == 0) {
        w[n - 3] = 'y';
        return n - 2;
    }
    if (n > 4 && memcmp(w + n - 2, "es", 2) == 0 &&
        (w[n - 3] == 's' || w[n - 3] == 'x' ||
         (w[n - 3] == 'h' && (w[n - 4] == 'c' || w[n - 4] == 's'))))
        return n - 2;
    if (n > 3 && w[n - 1] == 's' && w[n - 2] != 's' && w[n - 2] != 'u' && w[n - 2] != 'i')
        return n - 1;
    return n;
}

static void on_word(void *arg, const char *word, size_t n, int is_part)
{
    struct feats *f = arg;
    char w[MAX_WORD + 1];
    if (n > MAX_WORD)
        n = MAX_WORD;
    memcpy(w, word, n);
    w[n] = '\0';
    if (is_part < 0) {
        /* A whole identifier ("customer_id"): matched exactly, as one feature. */
        add(f, 3, w, n, W_IDENT);
        return;
    }
    int stop = is_stopword(w, n);
    n = stem(w, n);
    add(f, 1, w, n, stop ? W_STOP : W_WORD);
    if (!stop) {
        if (f->prev_len) {
            char pair[2 * MAX_WORD + 2];
            memcpy(pair, f->prev, f->prev_len);
            pair[f->prev_len] = ' ';
            memcpy(pair + f->prev_len + 1, w, n);
            add(f, 2, pair, f->prev_len + 1 + n, W_BIGRAM);
        }
        memcpy(f->prev, w, n);
        f->prev_len = n;
        /* Character trigrams of "<word>" catch shared stems and typos. */
        char b[MAX_WORD + 3];
        b[0] = '<';
        memcpy(b + 1, w, n);
        b[n + 1] = '>';
        for (size_t i = 0; i + 3 <= n + 2; i++)
            add(f, 4, b + i, 3, W_TRIGRAM);
    }
}

static int cmp_feature(const void *a, const void *b)
{
    uint64_t x = ((const struct feature *)a)->hash, y = ((const struct feature *)b)->hash;
    return x < y ? -1 : x > y;
}

static void embed_text(const struct lexical *lx, const char *text, size_t len, float *out)
{
    struct feats f = {0};
    memset(out, 0, lx->dim * sizeof *out);
    mr_embed_tokenize(text, len, on_word, &f);
    if (f.n)
        qsort(f.v, f.n, sizeof *f.v, cmp_feature);
    for (size_t i = 0; i < f.n;) {
        size_t j = i;
        while (j < f.n && f.v[j].hash == f.v[i].hash)
            j++;
        /* Sublinear term frequency: the tenth repeat adds little. */
        float w = f.v[i].weight * (1.0f + logf((float)(j - i)));
        uint64_t h = f.v[i].hash;
        out[(h >> 1) % lx->dim] += (h & 1) ? w : -w;
        i = j;
    }
    free(f.v);
    double norm = 0;
    for (size_t k = 0; k < lx->dim; k++)
        norm += (double)out[k] * out[k];
    if (norm > 0) {
        float inv = (float)(1.0 / sqrt(norm));
        for (size_t k = 0; k < lx->dim; k++)
            out[k] *= inv;
    }
}

static const char *lx_name(const struct mr_embedder *e)
{
    return ((const struct lexical *)e)->name;
}
static size_t lx_dim(const struct mr_embedder *e)
{
    return ((const struct lexical *)e)->dim;
}

static int lx_embed(struct mr_embedder *e, const char *const *texts, const size_t *lens, size_t n,
                    float *out, struct mr_err *err)
{
    (void)err;
    const struct lexical *lx = (const struct lexical *)e;
    for (size_t i = 0; i < n; i++)
        embed_text(lx, texts[i], lens[i], out + i * lx->dim);
    return 0;
}

static int lx_health(struct mr_embedder *e, struct mr_err *err)
{
    (void)e;
    (void)err;
    return 0;
}

static void lx_destroy(struct mr_embedder *e)
{
    free(e);
}

static const struct mr_embedder_ops lexical_ops = {
    .name = lx_name,
    .dim = lx_dim,
    .embed = lx_embed,
    .health = lx_health,
    .destroy = lx_destroy,
};

struct mr_embedder *mr_embed_lexical_new(size_t dim, struct mr_err *err)
{
    if (dim == 0)
        dim = MR_LEXICAL_DEFAULT_DIM;
    if (dim < 16 || dim > 4096) {
        mr_err_set(err, MR_EINVAL, "the lexical embedder needs a dimension of 16..4096, not %zu",
                   dim);
        return NULL;
    }
    struct lexical *lx = mr_xcalloc(1, sizeof *lx);
    lx->base.ops = &lexical_ops;
    lx->dim = dim;
    memcpy(lx->name, MR_LEXICAL_MODEL, sizeof MR_LEXICAL_MODEL);
    return &lx->base;
}
