/*
 * real_text.h — real embeddings for the vector benchmarks: spans of English
 * text from Debian's dictionaries (WordNet glosses and examples, the GCIDE
 * dictionary), embedded by memori's built-in model. Spans are windows of
 * WINDOW words taken at an even stride over the whole text (overlapping when
 * more spans are asked for than the text holds), shuffled with a fixed seed;
 * the caller uses the first n as data and the rest as queries.
 */
#ifndef MEMORI_BENCH_REAL_TEXT_H
#define MEMORI_BENCH_REAL_TEXT_H

#include <ctype.h>
#include <string.h>

#include "bench_util.h"
#include "memori/embed.h"

#define WINDOW 10

struct words {
    char *text; /* words separated by single spaces */
    size_t len, cap;
    size_t *starts; /* offset of each word */
    size_t n, ncap;
};

static inline void words_add(struct words *w, const char *s, size_t len)
{
    if (len == 0 || len > 40)
        return;
    if (w->len + len + 1 > w->cap) {
        w->cap = (w->len + len + 1) * 2;
        w->text = realloc(w->text, w->cap);
    }
    if (w->n == w->ncap) {
        w->ncap = w->ncap ? w->ncap * 2 : 1 << 20;
        w->starts = realloc(w->starts, w->ncap * sizeof *w->starts);
    }
    w->starts[w->n++] = w->len;
    memcpy(w->text + w->len, s, len);
    w->len += len;
    w->text[w->len++] = ' ';
}

/* Splits line into words of letters, digits, ' and - (markup and numbers dropped). */
static inline void words_from_line(struct words *w, const char *line)
{
    const char *p = line;
    while (*p) {
        while (*p && !isalpha((unsigned char)*p))
            p++;
        const char *s = p;
        while (*p && (isalnum((unsigned char)*p) || *p == '\'' || *p == '-'))
            p++;
        words_add(w, s, (size_t)(p - s));
    }
}

/* WordNet: the gloss of each synset line (after " | "). */
static inline void read_wordnet(struct words *w, const char *file)
{
    FILE *f = fopen(file, "r");
    char line[8192];
    while (f && fgets(line, sizeof line, f)) {
        const char *g = strstr(line, " | ");
        if (line[0] != ' ' && g)
            words_from_line(w, g + 3);
    }
    if (f)
        fclose(f);
}

static inline void read_gzip_text(struct words *w, const char *file)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "zcat '%s' 2>/dev/null", file);
    FILE *f = popen(cmd, "r");
    char line[8192];
    while (f && fgets(line, sizeof line, f))
        words_from_line(w, line);
    if (f)
        pclose(f);
}

/*
 * count embeddings (count × *out_dim floats, unit length) of text spans, or
 * NULL when the model or the text is missing. *out_words: the words read.
 * lexical_share < 0 is the model file's memori-wordnet-v1 (d 384); 0 is
 * memori-wordnet-v2, the default model (d 128).
 */
static inline float *real_vectors_share(size_t count, const char *model, double lexical_share,
                                        size_t *out_dim, size_t *out_words)
{
    struct mr_err err;
    struct mr_embedder *e = lexical_share < 0
                                ? mr_embed_semantic_open(model, &err)
                                : mr_embed_semantic_open_share(model, lexical_share, &err);
    if (!e) {
        fprintf(stderr, "real_vectors: %s\n", err.msg);
        return NULL;
    }
    struct words w = {0};
    static const char *const wn[] = {"data.noun", "data.verb", "data.adj", "data.adv"};
    char path[256];
    for (int i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "/usr/share/wordnet/%s", wn[i]);
        read_wordnet(&w, path);
    }
    read_gzip_text(&w, "/usr/share/dictd/gcide.dict.dz");
    *out_words = w.n;
    if (w.n < WINDOW + count / 8) {
        fprintf(stderr, "real_vectors: only %zu words (wordnet-base, dict-gcide installed?)\n",
                w.n);
        mr_embed_destroy(e);
        free(w.text);
        free(w.starts);
        return NULL;
    }
    size_t d = mr_embed_dim(e);
    /* Window starts at an even stride (fractional: spread over all the text), shuffled. */
    size_t *order = malloc(count * sizeof *order);
    double stride = (double)(w.n - WINDOW) / (double)count;
    for (size_t i = 0; i < count; i++)
        order[i] = (size_t)(i * stride);
    for (size_t i = count; i > 1; i--) {
        size_t j = (size_t)((frand() + 1) * 0.5 * (double)i) % i; /* frand: [-1, 1) */
        size_t t = order[i - 1];
        order[i - 1] = order[j];
        order[j] = t;
    }
    float *out = malloc(count * d * sizeof *out);
    for (size_t i = 0; i < count; i++) {
        size_t a = w.starts[order[i]], b = w.starts[order[i] + WINDOW];
        mr_embed_one(e, w.text + a, b - a - 1, out + i * d, &err);
    }
    free(order);
    free(w.text);
    free(w.starts);
    mr_embed_destroy(e);
    *out_dim = d;
    return out;
}

/* real_vectors_share with memori-wordnet-v1 (d 384). */
static inline float *real_vectors(size_t count, const char *model, size_t *out_dim,
                                  size_t *out_words)
{
    return real_vectors_share(count, model, -1, out_dim, out_words);
}

#endif
