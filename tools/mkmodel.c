/*
 * mkmodel — trains the built-in embedding model and writes the file that
 * memori memory-maps (src/embed/semantic.c reads it; the layout is in
 * include/memori/model_file.h).
 *
 *   mkmodel CORPUS OUT SEED
 *
 * 1. Vocabulary: words seen >= MIN_COUNT times, most frequent first.
 * 2. Word vectors: skip-gram with negative sampling (Mikolov et al. 2013),
 *    trained single-threaded from SEED so the same corpus gives the same
 *    bytes on every machine (no -march, no fast-math).
 * 3. SIF weights a / (a + p(w)) and the common component of sentence
 *    vectors, removed at run time (Arora, Liang and Ma 2017).
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "memori/model_file.h"
#include "memori/util.h"

#define DIM MR_MODEL_DIM
#define MIN_COUNT 4
#define WINDOW 5
#define NEGATIVE 5
#define EPOCHS 3
#define START_LR 0.025f
#define SUBSAMPLE 1e-4
#define SIF_A 1e-3
#define NEG_TABLE (1 << 24)
#define PC_SAMPLE 100000
#define MAX_LINE 1024 /* words of a line trained on; the rest are dropped */

struct word {
    char *text;
    uint64_t count;
};

static struct word *words;
static size_t n_words, cap_words;
static uint32_t *table; /* hash → index+1 */
static size_t table_cap;
static uint64_t total_count;

static uint64_t rng;
static inline uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static size_t find_slot(const char *w, size_t n)
{
    uint32_t h = mr_model_hash(w, n);
    size_t i = h & (table_cap - 1);
    while (table[i]) {
        struct word *x = &words[table[i] - 1];
        if (strlen(x->text) == n && memcmp(x->text, w, n) == 0)
            break;
        i = (i + 1) & (table_cap - 1);
    }
    return i;
}

static void rehash(size_t cap)
{
    free(table);
    table_cap = cap;
    table = mr_xcalloc(cap, sizeof *table);
    for (size_t k = 0; k < n_words; k++)
        table[find_slot(words[k].text, strlen(words[k].text))] = (uint32_t)(k + 1);
}

static void count_word(const char *w, size_t n)
{
    if ((n_words + 1) * 2 > table_cap)
        rehash(table_cap ? table_cap * 2 : 1 << 16);
    size_t s = find_slot(w, n);
    if (!table[s]) {
        if (n_words == cap_words) {
            cap_words = cap_words ? cap_words * 2 : 1 << 16;
            words = mr_xrealloc(words, cap_words * sizeof *words);
        }
        words[n_words] = (struct word){mr_xstrndup(w, n), 0};
        table[s] = (uint32_t)++n_words;
    }
    words[table[s] - 1].count++;
}

static long lookup(const char *w, size_t n)
{
    size_t s = find_slot(w, n);
    return table[s] ? (long)table[s] - 1 : -1;
}

static int cmp_words(const void *a, const void *b)
{
    const struct word *x = a, *y = b;
    if (x->count != y->count)
        return x->count < y->count ? 1 : -1;
    return strcmp(x->text, y->text);
}

/* The corpus as one array of word ids, lines separated by -1. */
static int32_t *corpus;
static size_t corpus_len;

static void read_corpus(const char *path, int pass)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        perror(path);
        exit(1);
    }
    char *line = NULL;
    size_t cap = 0, ccap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, f)) > 0) {
        char *p = line, *end = line + len;
        while (p < end) {
            while (p < end && (*p == ' ' || *p == '\n'))
                p++;
            char *s = p;
            while (p < end && *p != ' ' && *p != '\n')
                p++;
            if (p == s)
                continue;
            if (pass == 0) {
                count_word(s, (size_t)(p - s));
                continue;
            }
            long id = lookup(s, (size_t)(p - s));
            if (id < 0)
                continue;
            if (corpus_len + 2 > ccap) {
                ccap = ccap ? ccap * 2 : 1 << 20;
                corpus = mr_xrealloc(corpus, ccap * sizeof *corpus);
            }
            corpus[corpus_len++] = (int32_t)id;
        }
        if (pass == 1 && corpus_len && corpus[corpus_len - 1] != -1) {
            if (corpus_len + 1 > ccap) {
                ccap *= 2;
                corpus = mr_xrealloc(corpus, ccap * sizeof *corpus);
            }
            corpus[corpus_len++] = -1;
        }
    }
    free(line);
    fclose(f);
}

/* Keeps words with count >= MIN_COUNT, sorted by frequency, and rebuilds the table. */
static void prune_vocab(void)
{
    qsort(words, n_words, sizeof *words, cmp_words);
    size_t keep = 0;
    while (keep < n_words && words[keep].count >= MIN_COUNT)
        keep++;
    for (size_t k = keep; k < n_words; k++)
        free(words[k].text);
    n_words = keep;
    total_count = 0;
    for (size_t k = 0; k < n_words; k++)
        total_count += words[k].count;
    size_t cap = 1;
    while (cap < n_words * 2)
        cap <<= 1;
    rehash(cap);
}

#define EXP_TABLE 1000
#define MAX_EXP 6
static float sigmoid_table[EXP_TABLE];

static inline float sigmoid(float x)
{
    if (x >= MAX_EXP)
        return 1;
    if (x <= -MAX_EXP)
        return 0;
    return sigmoid_table[(int)((x + MAX_EXP) * (EXP_TABLE / MAX_EXP / 2))];
}

static float *syn0, *syn1;
static int32_t *neg_table;

static void train(void)
{
    for (int i = 0; i < EXP_TABLE; i++) {
        double x = (i / (double)EXP_TABLE * 2 - 1) * MAX_EXP;
        sigmoid_table[i] = (float)(1 / (1 + exp(-x)));
    }
    syn0 = mr_xmalloc(n_words * DIM * sizeof *syn0);
    syn1 = mr_xcalloc(n_words * DIM, sizeof *syn1);
    for (size_t i = 0; i < n_words * DIM; i++)
        syn0[i] = ((float)(next_rand() >> 40) / (float)(1 << 24) - 0.5f) / DIM;
    /* Negatives drawn from unigram^0.75. */
    neg_table = mr_xmalloc(NEG_TABLE * sizeof *neg_table);
    double norm = 0, acc = 0;
    for (size_t k = 0; k < n_words; k++)
        norm += pow((double)words[k].count, 0.75);
    size_t k = 0;
    acc = pow((double)words[0].count, 0.75) / norm;
    for (size_t i = 0; i < NEG_TABLE; i++) {
        neg_table[i] = (int32_t)k;
        if ((double)i / NEG_TABLE > acc && k + 1 < n_words)
            acc += pow((double)words[++k].count, 0.75) / norm;
    }
    float *keep = mr_xmalloc(n_words * sizeof *keep);
    for (size_t w = 0; w < n_words; w++) {
        double f = (double)words[w].count / (double)total_count;
        double p = (sqrt(f / SUBSAMPLE) + 1) * SUBSAMPLE / f;
        keep[w] = (float)(p > 1 ? 1 : p);
    }
    float grad[DIM];
    int32_t sent[MAX_LINE];
    /*
     * A line's window sizes and negatives, drawn before it is trained on:
     * the same draws in the same order as drawing each where it is used (no
     * draw depends on a vector), so the bytes stay the same, but the
     * neg_table lookups (64 MiB, random) no longer wait one at a time on the
     * arithmetic, and each context's rows can be prefetched while the one
     * before it trains. Training is memory-bound without this.
     */
    static int32_t negs[MAX_LINE * 2 * WINDOW * NEGATIVE];
    int span[MAX_LINE];
    uint64_t processed = 0, planned = (uint64_t)corpus_len * EPOCHS;
    double t0 = now_s();
    for (int epoch = 0; epoch < EPOCHS; epoch++) {
        size_t i = 0;
        while (i < corpus_len) {
            /* One line, subsampled. */
            int n = 0;
            while (i < corpus_len && corpus[i] != -1) {
                int32_t w = corpus[i++];
                processed++;
                if (n < MAX_LINE && (float)(next_rand() >> 40) / (float)(1 << 24) < keep[w])
                    sent[n++] = w;
            }
            i++;
            float lr = START_LR * (1 - (float)processed / (float)(planned + 1));
            if (lr < START_LR * 1e-4f)
                lr = START_LR * 1e-4f;
            size_t n_negs = 0;
            for (int pos = 0; pos < n; pos++) {
                span[pos] = WINDOW - (int)(next_rand() % WINDOW);
                for (int c = pos - span[pos]; c <= pos + span[pos]; c++) {
                    if (c < 0 || c >= n || c == pos)
                        continue;
                    for (int d = 1; d <= NEGATIVE; d++)
                        negs[n_negs++] = neg_table[(next_rand() >> 16) % NEG_TABLE];
                }
            }
            const int32_t *neg = negs, *ahead = negs;
            for (int pos = 0; pos < n; pos++) {
                for (int c = pos - span[pos]; c <= pos + span[pos]; c++) {
                    if (c < 0 || c >= n || c == pos)
                        continue;
                    /* The next context's output rows, while this one trains. */
                    if (ahead == neg)
                        ahead += NEGATIVE;
                    for (int d = 0; d < NEGATIVE && ahead < negs + n_negs; d++, ahead++)
                        for (int j = 0; j < DIM; j += 16)
                            __builtin_prefetch(syn1 + (size_t)*ahead * DIM + j, 1);
                    float *in = syn0 + (size_t)sent[c] * DIM;
                    memset(grad, 0, sizeof grad);
                    for (int d = 0; d <= NEGATIVE; d++) {
                        int32_t target;
                        float label;
                        if (d == 0) {
                            target = sent[pos];
                            label = 1;
                        } else {
                            target = *neg++;
                            if (target == sent[pos])
                                continue;
                            label = 0;
                        }
                        float *out = syn1 + (size_t)target * DIM;
                        /* Eight partial sums: the compiler may vectorise them without
                         * reassociating one sum (no fast-math, bit-identical results). */
                        float acc[8] = {0};
                        for (int j = 0; j < DIM; j += 8)
                            for (int u = 0; u < 8; u++)
                                acc[u] += in[j + u] * out[j + u];
                        float dot = ((acc[0] + acc[1]) + (acc[2] + acc[3])) +
                                    ((acc[4] + acc[5]) + (acc[6] + acc[7]));
                        float g = (label - sigmoid(dot)) * lr;
                        for (int j = 0; j < DIM; j++)
                            grad[j] += g * out[j];
                        for (int j = 0; j < DIM; j++)
                            out[j] += g * in[j];
                    }
                    for (int j = 0; j < DIM; j++)
                        in[j] += grad[j];
                }
            }
        }
        fprintf(stderr, "mkmodel: epoch %d done, %.0f s, %.0f words/s\n", epoch + 1, now_s() - t0,
                processed / (now_s() - t0));
    }
    free(keep);
    free(neg_table);
    free(syn1);
}

static float sif_weight(size_t w)
{
    return (float)(SIF_A / (SIF_A + (double)words[w].count / (double)total_count));
}

/*
 * The first principal component of SIF sentence vectors of corpus lines
 * (uncentred, as Arora et al.), by power iteration from a fixed start.
 */
static void common_component(float *pc)
{
    size_t n_lines = 0;
    float *vecs = mr_xcalloc((size_t)PC_SAMPLE * DIM, sizeof *vecs);
    size_t i = 0;
    while (i < corpus_len && n_lines < PC_SAMPLE) {
        float *v = vecs + n_lines * DIM;
        int n = 0;
        while (i < corpus_len && corpus[i] != -1) {
            int32_t w = corpus[i++];
            float wt = sif_weight((size_t)w);
            for (int j = 0; j < DIM; j++)
                v[j] += wt * syn0[(size_t)w * DIM + j];
            n++;
        }
        i++;
        if (n >= 3) /* skip one- and two-word lines (synonym lists of one) */
            n_lines++;
        else
            memset(v, 0, DIM * sizeof *v);
    }
    for (int j = 0; j < DIM; j++)
        pc[j] = 1.0f / sqrtf(DIM);
    for (int it = 0; it < 100; it++) {
        double next[DIM] = {0};
        for (size_t l = 0; l < n_lines; l++) {
            const float *v = vecs + l * DIM;
            double dot = 0;
            for (int j = 0; j < DIM; j++)
                dot += (double)v[j] * pc[j];
            for (int j = 0; j < DIM; j++)
                next[j] += dot * v[j];
        }
        double norm = 0;
        for (int j = 0; j < DIM; j++)
            norm += next[j] * next[j];
        norm = sqrt(norm);
        for (int j = 0; j < DIM; j++)
            pc[j] = (float)(next[j] / norm);
    }
    free(vecs);
}

static void write_model(const char *path)
{
    /* Word vectors are unit length: SIF weights alone decide how much a word counts. */
    for (size_t w = 0; w < n_words; w++) {
        float *v = syn0 + w * DIM;
        double norm = 0;
        for (int j = 0; j < DIM; j++)
            norm += (double)v[j] * v[j];
        norm = sqrt(norm);
        for (int j = 0; j < DIM; j++)
            v[j] = norm > 0 ? (float)(v[j] / norm) : 0;
    }
    struct mr_model_header h = {0};
    memcpy(h.magic, MR_MODEL_MAGIC, sizeof h.magic);
    h.version = MR_MODEL_FORMAT;
    h.dim = DIM;
    h.n_words = (uint32_t)n_words;
    h.hash_cap = (uint32_t)table_cap;
    float pc[DIM];
    common_component(pc);
    size_t strings = 0;
    for (size_t w = 0; w < n_words; w++)
        strings += strlen(words[w].text) + 1;
    uint64_t off = sizeof h;
    h.off_pc = off;
    off += sizeof pc;
    h.off_vectors = off;
    off += (uint64_t)n_words * DIM * sizeof(float);
    h.off_weights = off;
    off += (uint64_t)n_words * sizeof(float);
    h.off_table = off;
    off += (uint64_t)table_cap * sizeof(uint32_t);
    h.off_string_offsets = off;
    off += (uint64_t)n_words * sizeof(uint32_t);
    h.off_strings = off;
    off += strings;
    h.file_size = off;
    FILE *f = fopen(path, "wb");
    if (!f) {
        perror(path);
        exit(1);
    }
    fwrite(&h, sizeof h, 1, f);
    fwrite(pc, sizeof pc, 1, f);
    fwrite(syn0, sizeof(float), n_words * DIM, f);
    for (size_t w = 0; w < n_words; w++) {
        float wt = sif_weight(w);
        fwrite(&wt, sizeof wt, 1, f);
    }
    fwrite(table, sizeof(uint32_t), table_cap, f);
    uint32_t so = 0;
    for (size_t w = 0; w < n_words; w++) {
        fwrite(&so, sizeof so, 1, f);
        so += (uint32_t)strlen(words[w].text) + 1;
    }
    for (size_t w = 0; w < n_words; w++)
        fwrite(words[w].text, 1, strlen(words[w].text) + 1, f);
    if (fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: mkmodel CORPUS OUT SEED\n");
        return 2;
    }
    rng = strtoull(argv[3], NULL, 10) * 2654435761u + 88172645463325252ull;
    double t0 = now_s();
    read_corpus(argv[1], 0);
    prune_vocab();
    read_corpus(argv[1], 1);
    fprintf(stderr, "mkmodel: %zu words in the vocabulary, %zu tokens, %.0f s\n", n_words,
            corpus_len, now_s() - t0);
    train();
    write_model(argv[2]);
    fprintf(stderr, "mkmodel: wrote %s in %.0f s\n", argv[2], now_s() - t0);
    return 0;
}
