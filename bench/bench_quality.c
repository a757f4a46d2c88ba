/*
 * bench_quality.c — ranking quality on memori's development sets:
 *   - the embedders side by side (lexical-v1, wordnet-v1): Spearman between
 *     graded similarity (tests/data/sts_dev.tsv) and cosine, recall@1/@5 of
 *     question → memory (tests/data/retrieval_dev.tsv);
 *   - per search mode (issue 14, docs/ranking.md): plain BM25 written here,
 *     memori's lexical index, the built-in model's cosine (its lexical share
 *     as today and at 0), the fused score: Spearman, recall@1/@5/@10 and MRR
 *     on every development set, the lexical weight, the candidate depth k',
 *     the min_similarity thresholds per provider and mode;
 *   - the same retrieval through the service itself (a SQLite store, the
 *     in-process index with its lexical side, mr_memory_search per mode at
 *     the default limit 10), beside plain BM25 cut at the same 10;
 *   - the lexical index at 10 k and 100 k memories: bytes, puts, search time.
 *
 * usage: bench_quality [MODEL_FILE] [STS_FILE] [RETRIEVAL_FILE] [DATA_DIR]
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../src/index/index_int.h" /* ix_wait_builds: graphs built before timing */
#include "memori/clock.h"
#include "memori/embed.h"
#include "memori/fusion.h"
#include "memori/index.h"
#include "memori/lexical.h"
#include "memori/service.h"
#include "memori/store.h"

#define MAX_ROWS 4096

static char *col[3][MAX_ROWS];
static double gold[MAX_ROWS];

/* Reads TAB-separated rows (skipping # comments); returns the row count. */
static int read_tsv(const char *path, int ncols)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        perror(path);
        exit(1);
    }
    char *line = NULL;
    size_t cap = 0;
    int n = 0;
    while (getline(&line, &cap, f) > 0 && n < MAX_ROWS) {
        if (line[0] == '#' || line[0] == '\n')
            continue;
        line[strcspn(line, "\r\n")] = '\0';
        char *save = NULL, *p = strtok_r(line, "\t", &save);
        for (int c = 0; c < ncols && p; c++, p = strtok_r(NULL, "\t", &save))
            col[c][n] = strdup(p);
        n++;
    }
    free(line);
    fclose(f);
    return n;
}

static void ranks(const double *x, int n, double *r)
{
    int *idx = malloc(n * sizeof *idx);
    for (int i = 0; i < n; i++)
        idx[i] = i;
    for (int i = 1; i < n; i++) /* insertion sort: n is small */
        for (int j = i; j > 0 && x[idx[j - 1]] > x[idx[j]]; j--) {
            int t = idx[j];
            idx[j] = idx[j - 1];
            idx[j - 1] = t;
        }
    for (int i = 0; i < n;) {
        int j = i;
        while (j + 1 < n && x[idx[j + 1]] == x[idx[i]])
            j++;
        for (int k = i; k <= j; k++)
            r[idx[k]] = (i + j) / 2.0 + 1;
        i = j + 1;
    }
    free(idx);
}

static double spearman(const double *a, const double *b, int n)
{
    double *ra = malloc(n * sizeof *ra), *rb = malloc(n * sizeof *rb);
    ranks(a, n, ra);
    ranks(b, n, rb);
    double ma = 0, mb = 0, sab = 0, saa = 0, sbb = 0;
    for (int i = 0; i < n; i++)
        ma += ra[i] / n, mb += rb[i] / n;
    for (int i = 0; i < n; i++) {
        sab += (ra[i] - ma) * (rb[i] - mb);
        saa += (ra[i] - ma) * (ra[i] - ma);
        sbb += (rb[i] - mb) * (rb[i] - mb);
    }
    free(ra);
    free(rb);
    return sab / sqrt(saa * sbb);
}

static char spread[512];

/* This thread's CPU time: latencies on a shared machine without the waits for a core. */
static double cpu_b(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static float *embed(struct mr_embedder *e, const char *t)
{
    float *v = malloc(mr_embed_dim(e) * sizeof *v);
    struct mr_err err;
    mr_embed_one(e, t, strlen(t), v, &err);
    return v;
}

static void evaluate(const char *name, struct mr_embedder *e, const char *sts, const char *ret)
{
    size_t d = mr_embed_dim(e);
    int n = read_tsv(sts, 3);
    double *sims = calloc((size_t)n + 1, sizeof *sims);
    for (int i = 0; i < n; i++) {
        gold[i] = atof(col[0][i]);
        float *a = embed(e, col[1][i]), *b = embed(e, col[2][i]);
        sims[i] = mr_index_dot(a, b, d);
        free(a);
        free(b);
    }
    double rho = spearman(gold, sims, n);
    /* The spread the default threshold is chosen from: unrelated (<= 1) vs close (>= 4) pairs. */
    double lo_max = -1, lo_sum = 0, hi_min = 2, hi_sum = 0;
    int lo_n = 0, hi_n = 0, hi_above = 0;
    for (int i = 0; i < n; i++) {
        if (gold[i] <= 1) {
            lo_sum += sims[i], lo_n++;
            lo_max = sims[i] > lo_max ? sims[i] : lo_max;
        } else if (gold[i] >= 4) {
            hi_sum += sims[i], hi_n++;
            hi_min = sims[i] < hi_min ? sims[i] : hi_min;
        }
    }
    /* Against the default threshold the registry gives the model (src/embed/builtin.c). */
    double threshold = mr_embed_default_threshold(MR_PROVIDER_BUILTIN, name);
    int lo_below = 0, hi_at = 0;
    for (int i = 0; i < n; i++) {
        hi_above += gold[i] >= 4 && sims[i] > lo_max;
        lo_below += gold[i] <= 1 && sims[i] < threshold;
        hi_at += gold[i] >= 4 && sims[i] >= threshold;
    }
    snprintf(spread, sizeof spread,
             "%s: unrelated pairs mean %.3f max %.3f; close pairs mean %.3f min %.3f; %d/%d close "
             "pairs above every unrelated one; default threshold %.2f keeps out %d/%d unrelated "
             "and lets in %d/%d close pairs",
             name, lo_sum / lo_n, lo_max, hi_sum / hi_n, hi_min, hi_above, hi_n, threshold,
             lo_below, lo_n, hi_at, hi_n);
    free(sims);
    int m = read_tsv(ret, 2);
    float **mem = malloc(m * sizeof *mem);
    for (int i = 0; i < m; i++)
        mem[i] = embed(e, col[1][i]);
    int at1 = 0, at5 = 0;
    for (int i = 0; i < m; i++) {
        float *q = embed(e, col[0][i]);
        float mine = mr_index_dot(q, mem[i], d);
        int better = 0;
        for (int k = 0; k < m; k++)
            better += k != i && mr_index_dot(q, mem[k], d) >= mine;
        at1 += better == 0;
        at5 += better < 5;
        free(q);
    }
    printf("| %-22s | %4zu | %5d | %.3f | %5d | %.2f | %.2f |\n", name, d, n, rho, m,
           (double)at1 / m, (double)at5 / m);
    for (int i = 0; i < m; i++)
        free(mem[i]);
    free(mem);
    fprintf(stderr, "%s\n", spread);
}

/* ======================================================================
 * Ranking (issue 14, docs/ranking.md): memori's lexical index, the fused
 * score and the built-in model per mode on every development set, beside
 * a plain BM25 written here independently of src/lexical/.
 * ====================================================================== */

struct devset {
    const char *name;
    int n_docs, n_q;
    char **doc_id, **doc_text;
    char **q_text;
    int *q_ev;  /* evidence doc indexes, MAX_EV per question */
    int *q_nev; /* 0: a question the pool cannot answer */
};

#define MAX_EV 4

static void *xrealloc_b(void *p, size_t n)
{
    void *q = realloc(p, n);
    if (!q) {
        perror("realloc");
        exit(1);
    }
    return q;
}

/*
 * The conversation k of a turn id c<k>.<nnn>, or -1 for any other id. k has
 * two digits from c10 on: reading one digit put each of those turns in a
 * conversation of its own (no neighbours in the service), and a fixed
 * three-character prefix would too from c100. k stays below 100 because the
 * other sets' memories take conversation ids 100 + i.
 */
static int conv_of(const char *id)
{
    if (id[0] != 'c' || id[1] < '0' || id[1] > '9')
        return -1;
    char *end;
    long k = strtol(id + 1, &end, 10);
    return *end == '.' && k < 100 ? (int)k : -1;
}

/* Turns a and b are in the same conversation. */
static bool same_conv(const char *a, const char *b)
{
    return conv_of(a) >= 0 && conv_of(a) == conv_of(b);
}

/*
 * Whether turn i has a turn d places from it in its conversation (the
 * in-process index's neighbours are the same: ids in turn order).
 */
static bool has_offset(const struct devset *s, size_t i, int d)
{
    long j = (long)i + d;
    if (j < 0 || j >= s->n_docs)
        return false;
    for (long k = (long)i; k != j; k += d > 0 ? 1 : -1)
        if (!same_conv(s->doc_id[k + (d > 0 ? 1 : -1)], s->doc_id[i]))
            return false;
    return true;
}

/* Row's score (one question's) of that turn, clamped at 0 (NAN, no shared term: 0); 0: none. */
static double at_offset(const struct devset *s, const double *row, size_t i, int d)
{
    if (!has_offset(s, i, d))
        return 0;
    double v = row[(long)i + d];
    return isnan(v) ? 0 : fmax(v, 0);
}

static int doc_index(const struct devset *s, const char *id)
{
    for (int i = 0; i < s->n_docs; i++)
        if (strcmp(s->doc_id[i], id) == 0)
            return i;
    fprintf(stderr, "bench_quality: %s: unknown evidence id %s\n", s->name, id);
    exit(1);
}

/* D <TAB> id <TAB> text and Q <TAB> ids|- <TAB> question rows (tests/data/<set>_dev.tsv). */
static void load_dq(struct devset *s, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        perror(path);
        exit(1);
    }
    char *line = NULL, **q_ids = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] == '#' || line[0] == '\0')
            continue;
        char *a = strchr(line, '\t'), *b = a ? strchr(a + 1, '\t') : NULL;
        if (!a || !b) {
            fprintf(stderr, "bench_quality: %s: bad row %s\n", path, line);
            exit(1);
        }
        *a++ = '\0';
        *b++ = '\0';
        if (line[0] == 'D') {
            s->doc_id = xrealloc_b(s->doc_id, (s->n_docs + 1) * sizeof *s->doc_id);
            s->doc_text = xrealloc_b(s->doc_text, (s->n_docs + 1) * sizeof *s->doc_text);
            s->doc_id[s->n_docs] = strdup(a);
            s->doc_text[s->n_docs++] = strdup(b);
        } else {
            s->q_text = xrealloc_b(s->q_text, (s->n_q + 1) * sizeof *s->q_text);
            q_ids = xrealloc_b(q_ids, (s->n_q + 1) * sizeof *q_ids);
            s->q_text[s->n_q] = strdup(b);
            q_ids[s->n_q++] = strdup(a);
        }
    }
    free(line);
    fclose(f);
    s->q_ev = calloc((size_t)s->n_q * MAX_EV, sizeof *s->q_ev);
    s->q_nev = calloc(s->n_q, sizeof *s->q_nev);
    for (int q = 0; q < s->n_q; q++) {
        char *save = NULL;
        for (char *id = strtok_r(q_ids[q], ",", &save); id; id = strtok_r(NULL, ",", &save))
            if (strcmp(id, "-") != 0 && s->q_nev[q] < MAX_EV)
                s->q_ev[q * MAX_EV + s->q_nev[q]++] = doc_index(s, id);
        free(q_ids[q]);
    }
    free(q_ids);
}

/* retrieval_dev.tsv: question <TAB> its memory; every memory of the file in the pool. */
static void load_pairs(struct devset *s, const char *path)
{
    int n = read_tsv(path, 2);
    s->n_docs = s->n_q = n;
    s->doc_id = calloc(n, sizeof *s->doc_id);
    s->doc_text = calloc(n, sizeof *s->doc_text);
    s->q_text = calloc(n, sizeof *s->q_text);
    s->q_ev = calloc((size_t)n * MAX_EV, sizeof *s->q_ev);
    s->q_nev = calloc(n, sizeof *s->q_nev);
    for (int i = 0; i < n; i++) {
        char id[16];
        snprintf(id, sizeof id, "r%02d", i + 1);
        s->doc_id[i] = strdup(id);
        s->q_text[i] = col[0][i];
        s->doc_text[i] = col[1][i];
        s->q_ev[i * MAX_EV] = i;
        s->q_nev[i] = 1;
    }
}

/* ---------------------------------------------- plain BM25, independently */

/*
 * The baseline the issue compares against: lower-case word tokens (runs of
 * ASCII letters, digits, '_' and non-ASCII bytes, as \w+ would cut them), no
 * stemming, no stop words, no identifier splitting; Lucene's idf, k1 1.2,
 * b 0.75, each query token counted (repeats included). Its own tokenizer and
 * vocabulary, sharing no code with src/lexical/.
 */
struct plain {
    char **vocab;
    int n_vocab;
    int *df;
    int **doc_tok; /* per document: vocabulary indexes, repeats included */
    int *doc_len;
    int n_docs;
    double avg;
};

static int plain_word_byte(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c >= 0x80;
}

/* The tokens of t as newly allocated strings; *out_n of them. */
static char **plain_tokens(const char *t, int *out_n)
{
    char **tok = NULL;
    int n = 0;
    for (const char *p = t; *p;) {
        while (*p && !plain_word_byte((unsigned char)*p))
            p++;
        const char *s = p;
        while (*p && plain_word_byte((unsigned char)*p))
            p++;
        if (p == s)
            break;
        char *w = strndup(s, (size_t)(p - s));
        for (char *c = w; *c; c++)
            if (*c >= 'A' && *c <= 'Z')
                *c = (char)(*c + 32);
        tok = xrealloc_b(tok, (n + 1) * sizeof *tok);
        tok[n++] = w;
    }
    *out_n = n;
    return tok;
}

static int plain_lookup(const struct plain *p, const char *w)
{
    for (int i = 0; i < p->n_vocab; i++)
        if (strcmp(p->vocab[i], w) == 0)
            return i;
    return -1;
}

static void plain_build(struct plain *p, char *const *texts, int n)
{
    memset(p, 0, sizeof *p);
    p->n_docs = n;
    p->doc_tok = calloc(n, sizeof *p->doc_tok);
    p->doc_len = calloc(n, sizeof *p->doc_len);
    long total = 0;
    for (int d = 0; d < n; d++) {
        int nt;
        char **tok = plain_tokens(texts[d], &nt);
        p->doc_tok[d] = calloc(nt + 1, sizeof(int));
        p->doc_len[d] = nt;
        total += nt;
        for (int k = 0; k < nt; k++) {
            int v = plain_lookup(p, tok[k]);
            if (v < 0) {
                p->vocab = xrealloc_b(p->vocab, (p->n_vocab + 1) * sizeof *p->vocab);
                p->df = xrealloc_b(p->df, (p->n_vocab + 1) * sizeof *p->df);
                p->vocab[p->n_vocab] = strdup(tok[k]);
                p->df[p->n_vocab] = 0;
                v = p->n_vocab++;
            }
            bool seen = false;
            for (int j = 0; j < k && !seen; j++)
                seen = p->doc_tok[d][j] == v;
            if (!seen)
                p->df[v]++;
            p->doc_tok[d][k] = v;
            free(tok[k]);
        }
        free(tok);
    }
    p->avg = n ? (double)total / n : 0;
}

static double plain_idf(const struct plain *p, int df)
{
    return log(1 + (p->n_docs - df + 0.5) / (df + 0.5));
}

/* BM25 of every document for the query text into out[n_docs]; returns the query's supremum. */
static double plain_scores(const struct plain *p, const char *query, double *out)
{
    int nq;
    char **tok = plain_tokens(query, &nq);
    double sup = 0;
    for (int d = 0; d < p->n_docs; d++)
        out[d] = 0;
    for (int k = 0; k < nq; k++) {
        int v = plain_lookup(p, tok[k]);
        double idf = plain_idf(p, v < 0 ? 0 : p->df[v]);
        sup += idf * 2.2;
        free(tok[k]);
        if (v < 0)
            continue;
        for (int d = 0; d < p->n_docs; d++) {
            int tf = 0;
            for (int j = 0; j < p->doc_len[d]; j++)
                tf += p->doc_tok[d][j] == v;
            if (tf)
                out[d] += idf * tf * 2.2 /
                          (tf + 1.2 * (0.25 + 0.75 * p->doc_len[d] / (p->avg > 0 ? p->avg : 1)));
        }
    }
    free(tok);
    return sup;
}

/* TF-IDF cosine of two texts over the plain vocabulary (the sentence-similarity baseline). */
static double plain_tfidf_cos(const struct plain *p, const char *a, const char *b)
{
    double *va = calloc(p->n_vocab + 1, sizeof *va), *vb = calloc(p->n_vocab + 1, sizeof *vb);
    const char *t[2] = {a, b};
    double *v[2] = {va, vb};
    for (int s = 0; s < 2; s++) {
        int n;
        char **tok = plain_tokens(t[s], &n);
        for (int k = 0; k < n; k++) {
            int w = plain_lookup(p, tok[k]);
            if (w >= 0)
                v[s][w] += log((1.0 + p->n_docs) / (1.0 + p->df[w])) + 1;
            free(tok[k]);
        }
        free(tok);
    }
    double ab = 0, aa = 0, bb = 0;
    for (int w = 0; w < p->n_vocab; w++) {
        ab += va[w] * vb[w];
        aa += va[w] * va[w];
        bb += vb[w] * vb[w];
    }
    free(va);
    free(vb);
    return aa > 0 && bb > 0 ? ab / sqrt(aa * bb) : 0;
}

static void plain_free(struct plain *p)
{
    for (int i = 0; i < p->n_vocab; i++)
        free(p->vocab[i]);
    for (int d = 0; d < p->n_docs; d++)
        free(p->doc_tok[d]);
    free(p->vocab);
    free(p->df);
    free(p->doc_tok);
    free(p->doc_len);
}

/* --------------------------------------------------------------- metrics */

/*
 * Scores of one question against every document; NAN marks a document the
 * system does not return (a lexical side without a shared term, a
 * candidate outside the union of a hybrid's k' lists).
 */
struct metrics {
    double r1, r3, r5, r10, mrr; /* r3: the held-out Text2SQL target is at 3 */
    int n;
};

static void add_metrics(struct metrics *m, const struct devset *s, int q, const double *score)
{
    int nev = s->q_nev[q];
    if (nev == 0)
        return;
    double hit1 = 0, hit3 = 0, hit5 = 0, hit10 = 0, rr = 0;
    for (int e = 0; e < nev; e++) {
        int d = s->q_ev[q * MAX_EV + e];
        if (isnan(score[d]))
            continue;
        /* Rank: documents strictly better, or as good and earlier in the file. */
        int rank = 1;
        for (int k = 0; k < s->n_docs; k++)
            if (k != d && !isnan(score[k]) &&
                (score[k] > score[d] || (score[k] == score[d] && k < d)))
                rank++;
        hit1 += rank <= 1;
        hit3 += rank <= 3;
        hit5 += rank <= 5;
        hit10 += rank <= 10;
        rr = fmax(rr, 1.0 / rank);
    }
    m->r1 += hit1 / nev;
    m->r3 += hit3 / nev;
    m->r5 += hit5 / nev;
    m->r10 += hit10 / nev;
    m->mrr += rr;
    m->n++;
}

static void finish_metrics(struct metrics *m)
{
    if (m->n) {
        m->r1 /= m->n;
        m->r3 /= m->n;
        m->r5 /= m->n;
        m->r10 /= m->n;
        m->mrr /= m->n;
    }
}

/* ------------------------------------------------------- score matrices */

/* Cosines of every question with every document (n_q × n_docs), NULL when e is NULL. */
static double *cos_matrix(struct mr_embedder *e, const struct devset *s)
{
    size_t d = mr_embed_dim(e);
    float **dv = malloc(s->n_docs * sizeof *dv);
    for (int i = 0; i < s->n_docs; i++)
        dv[i] = embed(e, s->doc_text[i]);
    double *m = malloc((size_t)s->n_q * s->n_docs * sizeof *m);
    for (int q = 0; q < s->n_q; q++) {
        float *qv = embed(e, s->q_text[q]);
        for (int i = 0; i < s->n_docs; i++)
            m[(size_t)q * s->n_docs + i] = mr_index_dot(qv, dv[i], d);
        free(qv);
    }
    for (int i = 0; i < s->n_docs; i++)
        free(dv[i]);
    free(dv);
    return m;
}

/*
 * The text a document is indexed with: its own, or (ctx) its own twice and
 * the turns before and after it in the same conversation (ids c<k>.<nnn>):
 * the neighbour context the trials in shared/notes/retrieval.md measured,
 * with the turn's own words weighing more than its neighbours'.
 */
static char *doc_text_ctx(const struct devset *s, int i, bool ctx)
{
    if (!ctx)
        return strdup(s->doc_text[i]);
    size_t cap = 4096, len = 0;
    char *out = malloc(cap);
    out[0] = '\0';
    /* The turn's own words count twice, its neighbours' once (measured best of the two). */
    static const int offs[] = {0, 0, -1, 1};
    for (int oi = 0; oi < 4; oi++) {
        int k = i + offs[oi];
        if (k < 0 || k >= s->n_docs || !same_conv(s->doc_id[k], s->doc_id[i]))
            continue;
        size_t n = strlen(s->doc_text[k]);
        if (len + n + 2 > cap)
            out = xrealloc_b(out, cap = (len + n + 2) * 2);
        memcpy(out + len, s->doc_text[k], n);
        len += n;
        out[len++] = ' ';
        out[len] = '\0';
    }
    return out;
}

/* The set's partition in memori's lexical index (doc ids = row indexes). */
static struct mr_lex_index *lex_build(const struct devset *s, bool ctx)
{
    struct mr_lex_index *ix = mr_lex_index_new();
    for (int i = 0; i < s->n_docs; i++) {
        char *t = doc_text_ctx(s, i, ctx);
        mr_lex_index_put(ix, i, t, strlen(t));
        free(t);
    }
    return ix;
}

/* Normalised BM25 of every question with every document; NAN where no term is shared. */
static double *lex_matrix(const struct devset *s, struct mr_lex_index *ix)
{
    double *m = malloc((size_t)s->n_q * s->n_docs * sizeof *m);
    for (int q = 0; q < s->n_q; q++) {
        struct mr_lex_terms *t = mr_lex_terms_new(s->q_text[q], strlen(s->q_text[q]));
        double max = mr_lex_index_max(ix, t);
        for (int i = 0; i < s->n_docs; i++) {
            double b = mr_lex_index_score(ix, t, i);
            m[(size_t)q * s->n_docs + i] = b > 0 ? mr_lex_normalise(b, max) : NAN;
        }
        mr_lex_terms_free(t);
    }
    return m;
}

static double *plain_matrix(const struct devset *s)
{
    struct plain p;
    plain_build(&p, s->doc_text, s->n_docs);
    double *m = malloc((size_t)s->n_q * s->n_docs * sizeof *m);
    for (int q = 0; q < s->n_q; q++) {
        double *row = m + (size_t)q * s->n_docs;
        plain_scores(&p, s->q_text[q], row);
        for (int i = 0; i < s->n_docs; i++)
            if (row[i] <= 0)
                row[i] = NAN;
    }
    plain_free(&p);
    return m;
}

/* Exact fusion of every document (k' = all): the reference the k' lists are checked against. */
static double *fuse_all(const struct devset *s, const double *cos, const double *lex, double w)
{
    struct mr_fusion f = {MR_SEARCH_HYBRID, w, 0};
    double *m = malloc((size_t)s->n_q * s->n_docs * sizeof *m);
    for (size_t k = 0; k < (size_t)s->n_q * s->n_docs; k++)
        m[k] = mr_fusion_score(&f, cos[k], isnan(lex[k]) ? 0 : lex[k]);
    return m;
}

static int by_score_desc(const void *a, const void *b)
{
    const struct mr_index_hit *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/*
 * The pipeline the integration runs (fusion.h): the vector side's top k'
 * (exact scan here), the lexical index's top k', their union, each missing
 * side computed exactly, fused; documents outside the union NAN.
 */
static double *fuse_pipeline2(const struct devset *s, const double *cos, struct mr_lex_index *ix,
                              double w, size_t kv, size_t kl)
{
    struct mr_fusion base = {MR_SEARCH_HYBRID, w, 0};
    double *m = malloc((size_t)s->n_q * s->n_docs * sizeof *m);
    struct mr_index_hit *all = malloc(s->n_docs * sizeof *all);
    struct mr_lex_hit *lex = malloc((kl + 1) * sizeof *lex);
    struct mr_fusion_candidate *c = malloc((kv + kl + 1) * sizeof *c);
    for (int q = 0; q < s->n_q; q++) {
        double *row = m + (size_t)q * s->n_docs;
        const double *crow = cos + (size_t)q * s->n_docs;
        for (int i = 0; i < s->n_docs; i++) {
            row[i] = NAN;
            all[i] = (struct mr_index_hit){i, (float)crow[i]};
        }
        qsort(all, s->n_docs, sizeof *all, by_score_desc);
        size_t nv = kv < (size_t)s->n_docs ? kv : (size_t)s->n_docs;
        struct mr_lex_terms *t = mr_lex_terms_new(s->q_text[q], strlen(s->q_text[q]));
        double max;
        size_t nl = mr_lex_index_search(ix, t, NULL, NULL, kl, lex, &max);
        size_t n = mr_fusion_union(all, nv, lex, nl, c);
        for (size_t k = 0; k < n; k++) {
            if (!c[k].has_cosine)
                c[k].cosine = crow[c[k].id];
            if (!c[k].has_lexical)
                c[k].lexical = mr_lex_normalise(mr_lex_index_score(ix, t, c[k].id), max);
        }
        bool has_vec = false;
        for (int i = 0; i < s->n_docs && !has_vec; i++)
            has_vec = crow[i] != 0;
        struct mr_fusion f = mr_fusion_for_query(&base, has_vec, mr_lex_terms_count(t) > 0);
        mr_fusion_rank(&f, c, n);
        for (size_t k = 0; k < n; k++)
            row[c[k].id] = c[k].score;
        mr_lex_terms_free(t);
    }
    free(all);
    free(lex);
    free(c);
    return m;
}

/* The pipeline with each side's depth for `limit` results as the service takes it (fusion.h). */
static double *fuse_pipeline(const struct devset *s, const double *cos, struct mr_lex_index *ix,
                             double w, size_t limit)
{
    return fuse_pipeline2(s, cos, ix, w, mr_fusion_depth_vector(limit),
                          mr_fusion_depth_lexical(limit));
}

static struct metrics measure(const struct devset *s, const double *m)
{
    struct metrics r = {0};
    for (int q = 0; q < s->n_q; q++)
        add_metrics(&r, s, q, m + (size_t)q * s->n_docs);
    finish_metrics(&r);
    return r;
}

/* ----------------------------------------------------------- the report */

#define N_SETS 5

struct provider {
    const char *name;
    struct mr_embedder *e;
    double w; /* the hybrid score's lexical weight: the model's (mr_embed_default_lexical_weight) */
    double *cos[N_SETS];
    double *sts_cos;
};

struct sts_pairs {
    int n;
    double *gold;
    char **a, **b;
    double *lex;   /* memori's BM25, normalised, mean of both directions */
    double *plain; /* plain BM25, normalised the same way */
    double *tfidf; /* TF-IDF cosine */
};

static void sts_load(struct sts_pairs *p, const char *path)
{
    int n = read_tsv(path, 3);
    p->n = n;
    p->gold = malloc(n * sizeof *p->gold);
    p->a = malloc(n * sizeof *p->a);
    p->b = malloc(n * sizeof *p->b);
    for (int i = 0; i < n; i++) {
        p->gold[i] = atof(col[0][i]);
        p->a[i] = col[1][i];
        p->b[i] = col[2][i];
    }
    /* Every sentence of the file is one partition: df over the set, as memories of one user. */
    char **all = calloc(2 * (size_t)n + 1, sizeof *all);
    for (int i = 0; i < n; i++)
        all[2 * i] = p->a[i], all[2 * i + 1] = p->b[i];
    struct mr_lex_index *ix = mr_lex_index_new();
    for (int i = 0; i < 2 * n; i++)
        mr_lex_index_put(ix, i, all[i], strlen(all[i]));
    struct plain pl;
    plain_build(&pl, all, 2 * n);
    double *row = malloc(2 * n * sizeof *row);
    p->lex = malloc(n * sizeof *p->lex);
    p->plain = malloc(n * sizeof *p->plain);
    p->tfidf = malloc(n * sizeof *p->tfidf);
    for (int i = 0; i < n; i++) {
        double l = 0, pb = 0;
        for (int dir = 0; dir < 2; dir++) {
            const char *q = dir ? p->b[i] : p->a[i];
            int other = dir ? 2 * i : 2 * i + 1;
            struct mr_lex_terms *t = mr_lex_terms_new(q, strlen(q));
            l += mr_lex_normalise(mr_lex_index_score(ix, t, other), mr_lex_index_max(ix, t)) / 2;
            mr_lex_terms_free(t);
            double sup = plain_scores(&pl, q, row);
            pb += (sup > 0 ? row[other] / sup : 0) / 2;
        }
        p->lex[i] = l;
        p->plain[i] = pb;
        p->tfidf[i] = plain_tfidf_cos(&pl, p->a[i], p->b[i]);
    }
    free(row);
    free(all);
    plain_free(&pl);
    mr_lex_index_destroy(ix);
}

static double *sts_cos(struct mr_embedder *e, const struct sts_pairs *p)
{
    size_t d = mr_embed_dim(e);
    double *c = malloc(p->n * sizeof *c);
    for (int i = 0; i < p->n; i++) {
        float *a = embed(e, p->a[i]), *b = embed(e, p->b[i]);
        c[i] = mr_index_dot(a, b, d);
        free(a);
        free(b);
    }
    return c;
}

static double sts_hybrid(const struct sts_pairs *p, const double *cos, double w)
{
    struct mr_fusion f = {MR_SEARCH_HYBRID, w, 0};
    double *h = malloc(p->n * sizeof *h);
    for (int i = 0; i < p->n; i++)
        h[i] = mr_fusion_score(&f, cos[i], p->lex[i]);
    double r = spearman(p->gold, h, p->n);
    free(h);
    return r;
}

static void print_row(const char *set, const char *system, struct metrics m)
{
    printf("| %s | %s | %.3f | %.3f | %.3f | %.3f |\n", set, system, m.r1, m.r5, m.r10, m.mrr);
}

/* Mean of the metrics over the retrieval sets. */
static struct metrics mean_of(const struct metrics *m, int n)
{
    struct metrics r = {0};
    for (int i = 0; i < n; i++) {
        r.r1 += m[i].r1 / n;
        r.r3 += m[i].r3 / n;
        r.r5 += m[i].r5 / n;
        r.r10 += m[i].r10 / n;
        r.mrr += m[i].mrr / n;
    }
    return r;
}

/* --------------------------------------------- through the service itself */

/* row's documents outside its best n set to NAN (ties by file order): a top-n answer. */
static double *top_only(const struct devset *s, const double *m, int n)
{
    double *t = malloc((size_t)s->n_q * s->n_docs * sizeof *t);
    for (int q = 0; q < s->n_q; q++) {
        const double *row = m + (size_t)q * s->n_docs;
        double *out = t + (size_t)q * s->n_docs;
        for (int d = 0; d < s->n_docs; d++) {
            int rank = 1;
            for (int k = 0; k < s->n_docs && rank <= n; k++)
                if (k != d && !isnan(row[k]) && (row[k] > row[d] || (row[k] == row[d] && k < d)))
                    rank++;
            out[d] = !isnan(row[d]) && rank <= n ? row[d] : NAN;
        }
    }
    return t;
}

/*
 * Each set's memories created through mr_memory_create in a fresh SQLite
 * file (one user, one conversation, long-term so nothing expires), then
 * every question searched with mr_memory_search in each mode at limit 10
 * and min_similarity 0: exactly what POST /api/memories/search does below
 * HTTP. With at_defaults, the search sends no min_similarity and the
 * service has the model's default per mode (mr_embed_default_thresholds, as
 * `memori serve` sets them): what a client that sends none gets. Returns
 * per mode the n_q × n_docs matrix of returned scores (NAN for a memory not
 * returned). w is the service's lexical weight; below 0, the model's
 * (mr_embed_default_lexical_weight, as `memori serve` sets it).
 */
static void service_matrices(struct mr_embedder *e, const struct devset *s, const char *dir,
                             bool at_defaults, double w, double *out[MR_SEARCH_MODES])
{
    static int n_db;
    char path[1200];
    snprintf(path, sizeof path, "%s/bench-quality-%d.db", dir, n_db++);
    struct mr_err err;
    struct mr_store *st = mr_store_sqlite_open(path, 2, &err);
    if (!st) {
        fprintf(stderr, "bench_quality: %s\n", err.msg);
        exit(1);
    }
    struct mr_clock clock;
    mr_clock_fixed_init(&clock, INT64_C(1767225600000000));
    struct mr_index *ix = mr_index_new(mr_embed_dim(e));
    struct mr_embed_thresholds th = {0, 0, 0};
    if (at_defaults)
        th = mr_embed_default_thresholds(MR_PROVIDER_BUILTIN, mr_embed_name(e));
    struct mr_service *svc = mr_service_new(&(struct mr_service_config){
        .store = st,
        .embedder = e,
        .index = ix,
        .clock = &clock,
        .short_term_expiry_days = 7,
        .archive_threshold_days = 30,
        .default_limit = 10,
        .default_min_similarity = th.hybrid,
        .lexical_weight =
            w >= 0 ? w : mr_embed_default_lexical_weight(MR_PROVIDER_BUILTIN, mr_embed_name(e)),
        .semantic_min_similarity = th.semantic,
        .lexical_min_similarity = th.lexical,
    });
    const struct mr_identity who = {"bench", "default"};
    int64_t *ids = malloc(s->n_docs * sizeof *ids);
    for (int i = 0; i < s->n_docs; i++) {
        struct mr_memory_create in = {.content = s->doc_text[i],
                                      .content_len = strlen(s->doc_text[i]),
                                      .memory_type = MR_LONG_TERM,
                                      .importance_score = 0.5,
                                      .expires_at = MR_NO_TIME};
        /*
         * The conversations' turns in their own conversation each (c<k>.<nnn>),
         * so neighbour context sees the turns next to them; every other set's
         * memory alone in one, as the standalone facts they are.
         */
        int conv = conv_of(s->doc_id[i]) >= 0 ? conv_of(s->doc_id[i]) : 100 + i;
        snprintf(in.conversation_id, MR_UUID_LEN, "6f1b2c3d-4e5f-4a6b-8c7d-%012d", conv);
        struct mr_memory m;
        if (mr_memory_create(svc, &who, &in, &m, &err) != 0) {
            fprintf(stderr, "bench_quality: create: %s\n", err.msg);
            exit(1);
        }
        ids[i] = m.id;
        mr_memory_clear(&m);
    }
    for (int mode = 0; mode < MR_SEARCH_MODES; mode++) {
        double *mat = malloc((size_t)s->n_q * s->n_docs * sizeof *mat);
        for (size_t k = 0; k < (size_t)s->n_q * s->n_docs; k++)
            mat[k] = NAN;
        for (int q = 0; q < s->n_q; q++) {
            struct mr_search sq = {.query = s->q_text[q],
                                   .query_len = strlen(s->q_text[q]),
                                   .limit = 10,
                                   .has_min_similarity = !at_defaults,
                                   .mode = (enum mr_search_mode)mode};
            struct mr_search_results r;
            if (mr_memory_search(svc, &who, &sq, &r, &err) != 0) {
                fprintf(stderr, "bench_quality: search: %s\n", err.msg);
                exit(1);
            }
            for (size_t k = 0; k < r.n; k++)
                for (int d = 0; d < s->n_docs; d++)
                    if (ids[d] == r.memories[k].id)
                        mat[(size_t)q * s->n_docs + d] = r.scores[k];
            mr_search_results_clear(&r);
        }
        out[mode] = mat;
    }
    free(ids);
    mr_service_free(svc);
    mr_index_destroy(ix);
    mr_store_close(st);
    unlink(path);
    char side[1300];
    snprintf(side, sizeof side, "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", path);
    unlink(side);
}

/*
 * The sets in one pool, as one user's memory holds conversations beside
 * rules, schema and examples: documents and questions in order, evidence
 * moved with its set's documents. The texts are the sets' (not copied).
 */
static struct devset merge_sets(const struct devset *sets, int n)
{
    struct devset m = {.name = "all sets in one pool"};
    for (int k = 0; k < n; k++) {
        m.n_docs += sets[k].n_docs;
        m.n_q += sets[k].n_q;
    }
    m.doc_id = malloc((size_t)m.n_docs * sizeof *m.doc_id);
    m.doc_text = malloc((size_t)m.n_docs * sizeof *m.doc_text);
    m.q_text = malloc((size_t)m.n_q * sizeof *m.q_text);
    m.q_ev = calloc((size_t)m.n_q * MAX_EV, sizeof *m.q_ev);
    m.q_nev = calloc((size_t)m.n_q, sizeof *m.q_nev);
    for (int k = 0, d0 = 0, q0 = 0; k < n; d0 += sets[k].n_docs, q0 += sets[k].n_q, k++) {
        for (int i = 0; i < sets[k].n_docs; i++) {
            m.doc_id[d0 + i] = sets[k].doc_id[i];
            m.doc_text[d0 + i] = sets[k].doc_text[i];
        }
        for (int q = 0; q < sets[k].n_q; q++) {
            m.q_text[q0 + q] = sets[k].q_text[q];
            m.q_nev[q0 + q] = sets[k].q_nev[q];
            for (int e = 0; e < MAX_EV; e++)
                m.q_ev[(q0 + q) * MAX_EV + e] = sets[k].q_ev[q * MAX_EV + e] + d0;
        }
    }
    return m;
}

/* The metrics of questions [qa, qb) of s only. */
static struct metrics measure_range(const struct devset *s, const double *m, int qa, int qb)
{
    struct metrics r = {0};
    for (int q = qa; q < qb; q++)
        add_metrics(&r, s, q, m + (size_t)q * s->n_docs);
    finish_metrics(&r);
    return r;
}

/*
 * The lexical weight w as the service ranks (neighbour context, each side's
 * depth k', limit 10, min_similarity 0), hybrid mode, model e: the mean
 * over the sets (each set one vote, the rule that chooses w) and over the
 * questions, the conversations' recall@10, and the mixed pool's two parts.
 * The exact-fusion table above has no neighbour context and no cut.
 */
static void weight_through_the_service(const struct devset *sets, int n_sets,
                                       const struct devset *mixed, struct mr_embedder *e,
                                       const char *name, const char *dir)
{
    printf("\nLexical weight w through the service (hybrid, %s; the model's w = %.2f; mean over "
           "the %d sets, then over their %d questions; the mixed pool is the table above's):\n\n"
           "| w | mean recall@1 | mean recall@10 | mean MRR@10 | all questions' recall@10 | all "
           "questions' MRR@10 | conversations recall@10 | text2sql recall@1 | mixed pool: "
           "conversations' recall@10 | mixed pool: the others' recall@10 | mixed pool: the "
           "others' MRR@10 |\n|---|---|---|---|---|---|---|---|---|---|---|\n",
           name, mr_embed_default_lexical_weight(MR_PROVIDER_BUILTIN, mr_embed_name(e)), n_sets,
           mixed->n_q);
    for (int wi = 5; wi <= 9; wi++) {
        double w = wi / 10.0;
        struct metrics m[N_SETS];
        double r10_all = 0, mrr_all = 0, t2s_r1 = 0;
        int n_all = 0;
        for (int k = 0; k < n_sets; k++) {
            double *mat[MR_SEARCH_MODES];
            service_matrices(e, &sets[k], dir, false, w, mat);
            m[k] = measure(&sets[k], mat[MR_SEARCH_HYBRID]);
            r10_all += m[k].r10 * m[k].n;
            mrr_all += m[k].mrr * m[k].n;
            n_all += m[k].n;
            if (strcmp(sets[k].name, "text2sql") == 0)
                t2s_r1 = m[k].r1;
            for (int mode = 0; mode < MR_SEARCH_MODES; mode++)
                free(mat[mode]);
        }
        struct metrics mm = mean_of(m, n_sets);
        double *mat[MR_SEARCH_MODES];
        service_matrices(e, mixed, dir, false, w, mat);
        struct metrics pc = measure_range(mixed, mat[MR_SEARCH_HYBRID], 0, sets[0].n_q);
        struct metrics po = measure_range(mixed, mat[MR_SEARCH_HYBRID], sets[0].n_q, mixed->n_q);
        for (int mode = 0; mode < MR_SEARCH_MODES; mode++)
            free(mat[mode]);
        printf("| %.1f | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f |\n",
               w, mm.r1, mm.r10, mm.mrr, r10_all / n_all, mrr_all / n_all, m[0].r10, t2s_r1, pc.r10,
               po.r10, po.mrr);
    }
}

static void through_the_service(struct devset *sets, int n_sets, double *const *plain,
                                struct mr_embedder *const *models, const char *const *model_names,
                                int n_models)
{
    char dir[] = "/tmp/bench-quality-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        exit(1);
    }
    printf("\nThrough the service (mr_memory_search: SQLite store, in-process index with its "
           "lexical side, default limit 10, min_similarity 0; plain BM25 cut at its top 10; MRR "
           "over the 10 returned):\n\n");
    printf(
        "| set | system | recall@1 | recall@5 | recall@10 | MRR@10 |\n|---|---|---|---|---|---|\n");
    int rows = 1 + n_models * MR_SEARCH_MODES;
    struct metrics *all = calloc((size_t)rows * n_sets, sizeof *all);
    char(*label)[128] = calloc(rows, sizeof *label);
    snprintf(label[0], sizeof label[0], "plain BM25 (bench's own)");
    for (int k = 0; k < n_sets; k++) {
        double *p10 = top_only(&sets[k], plain[k], 10);
        all[k] = measure(&sets[k], p10);
        free(p10);
        for (int m = 0; m < n_models; m++) {
            double *mat[MR_SEARCH_MODES];
            service_matrices(models[m], &sets[k], dir, false, -1, mat);
            for (int mode = 0; mode < MR_SEARCH_MODES; mode++) {
                int r = 1 + m * MR_SEARCH_MODES + mode;
                snprintf(label[r], sizeof label[r], "%s: %s", mr_search_mode_name(mode),
                         model_names[m]);
                all[(size_t)r * n_sets + k] = measure(&sets[k], mat[mode]);
                free(mat[mode]);
            }
        }
        for (int r = 0; r < rows; r++)
            print_row(sets[k].name, label[r], all[(size_t)r * n_sets + k]);
    }
    for (int r = 0; r < rows; r++)
        print_row("**mean of the 5**", label[r], mean_of(all + (size_t)r * n_sets, n_sets));
    /* The target: hybrid (the default model, the first) against plain BM25. */
    const struct metrics *h = all + (size_t)1 * n_sets, *b = all;
    printf("\nhybrid (%s) / plain BM25, conversations: recall@10 %.3f / %.3f = %.2f×; "
           "recall@1 %.2f×, recall@5 %.2f×, MRR@10 %.2f×\n",
           model_names[0], h[0].r10, b[0].r10, h[0].r10 / b[0].r10, h[0].r1 / b[0].r1,
           h[0].r5 / b[0].r5, h[0].mrr / b[0].mrr);
    /* The Text2SQL targets (held out): recall@1 >= 0.60 and recall@3 >= 0.85. */
    for (int k = 0; k < n_sets; k++)
        if (strcmp(sets[k].name, "text2sql") == 0)
            printf("hybrid (%s), text2sql: recall@1 %.3f, recall@3 %.3f (plain BM25 %.3f, %.3f)\n",
                   model_names[0], h[k].r1, h[k].r3, b[k].r1, b[k].r3);
    /*
     * The same at the default model's default min_similarity per mode: what
     * a client that sends none gets, so what a held-out run with default
     * settings measures. Plain BM25 keeps its top 10.
     */
    struct mr_embed_thresholds dth =
        mr_embed_default_thresholds(MR_PROVIDER_BUILTIN, mr_embed_name(models[0]));
    printf(
        "\nThe same at the default min_similarity (%s: hybrid %.3f, semantic %.3f, lexical "
        "%.3f; the search sends none):\n\n"
        "| set | system | recall@1 | recall@5 | recall@10 | MRR@10 |\n|---|---|---|---|---|---|\n",
        model_names[0], dth.hybrid, dth.semantic, dth.lexical);
    struct metrics *at = calloc((size_t)MR_SEARCH_MODES * n_sets, sizeof *at);
    for (int k = 0; k < n_sets; k++) {
        double *dmat[MR_SEARCH_MODES];
        service_matrices(models[0], &sets[k], dir, true, -1, dmat);
        for (int mode = 0; mode < MR_SEARCH_MODES; mode++) {
            char lab[160];
            snprintf(lab, sizeof lab, "%s: %s", mr_search_mode_name(mode), model_names[0]);
            at[(size_t)mode * n_sets + k] = measure(&sets[k], dmat[mode]);
            print_row(sets[k].name, lab, at[(size_t)mode * n_sets + k]);
            free(dmat[mode]);
        }
    }
    const struct metrics *hd = at + (size_t)MR_SEARCH_HYBRID * n_sets;
    printf("\nAt the default min_similarity: hybrid (%s) / plain BM25, conversations: recall@10 "
           "%.3f / %.3f = %.2f×\n",
           model_names[0], hd[0].r10, b[0].r10, hd[0].r10 / b[0].r10);
    for (int k = 0; k < n_sets; k++)
        if (strcmp(sets[k].name, "text2sql") == 0)
            printf("At the default min_similarity: hybrid (%s), text2sql: recall@1 %.3f, "
                   "recall@3 %.3f\n",
                   model_names[0], hd[k].r1, hd[k].r3);
    free(at);
    /*
     * Every set in one pool (the default model): the conversations' turns
     * beside the other sets' standalone memories, each set's questions
     * measured on their own. What neighbour context must not do is lift a
     * conversation's turns above the rules and facts a question is about.
     */
    struct devset mixed = merge_sets(sets, n_sets);
    double *mat[MR_SEARCH_MODES];
    service_matrices(models[0], &mixed, dir, false, -1, mat);
    printf("\nAll five sets in one pool (%d memories; %s, through the service):\n\n"
           "| questions | mode | recall@1 | recall@5 | recall@10 | MRR@10 |\n"
           "|---|---|---|---|---|---|\n",
           mixed.n_docs, model_names[0]);
    for (int part = 0; part < 2; part++)
        for (int mode = 0; mode < MR_SEARCH_MODES; mode++) {
            struct metrics m = part ? measure_range(&mixed, mat[mode], sets[0].n_q, mixed.n_q)
                                    : measure_range(&mixed, mat[mode], 0, sets[0].n_q);
            printf("| %s | %s | %.3f | %.3f | %.3f | %.3f |\n",
                   part ? "the other four sets'" : "the conversations'", mr_search_mode_name(mode),
                   m.r1, m.r5, m.r10, m.mrr);
        }
    for (int mode = 0; mode < MR_SEARCH_MODES; mode++)
        free(mat[mode]);
    weight_through_the_service(sets, n_sets, &mixed, models[0], model_names[0], dir);
    free(mixed.doc_id);
    free(mixed.doc_text);
    free(mixed.q_text);
    free(mixed.q_ev);
    free(mixed.q_nev);
    free(all);
    free(label);
    rmdir(dir);
}

/*
 * Thresholds on a score: per threshold t, the share of questions whose
 * evidence sits in the top 10 that keep it (score >= t), over all sets and
 * in the set that keeps least (the rule in docs/ranking.md holds every set
 * to it, so one kind of question does not pay for the others), the share of
 * unanswerable questions whose best result still passes, and the sentence
 * pairs graded close (>= 4) and unrelated (<= 1) that pass. scores[k] is a
 * set's matrix (NAN: not returned), sts the pairs' scores.
 */
static void thresholds(const char *title, struct devset *sets, double **scores,
                       const struct sts_pairs *p, const double *sts)
{
    printf("\n%s:\n\n", title);
    printf("| threshold | evidence in top 10 kept | the set keeping least | unanswerable with a "
           "result | close pairs above | unrelated pairs above |\n|---|---|---|---|---|---|\n");
    for (int ti = 1; ti <= 26; ti++) {
        double t = ti * 0.025;
        int kept = 0, found = 0, neg = 0, neg_pass = 0, close = 0, close_pass = 0, unrel = 0,
            unrel_pass = 0, worst = -1;
        double worst_share = 2;
        for (int k = 0; k < N_SETS; k++) {
            struct devset *s = &sets[k];
            int kept_k = kept, found_k = found;
            for (int q = 0; q < s->n_q; q++) {
                const double *row = scores[k] + (size_t)q * s->n_docs;
                if (s->q_nev[q] == 0) {
                    double best = -1;
                    for (int i = 0; i < s->n_docs; i++)
                        if (!isnan(row[i]) && row[i] > best)
                            best = row[i];
                    neg++;
                    neg_pass += best >= t;
                    continue;
                }
                int d = s->q_ev[q * MAX_EV];
                if (isnan(row[d]))
                    continue;
                int rank = 1;
                for (int i = 0; i < s->n_docs; i++)
                    rank += i != d && !isnan(row[i]) && row[i] > row[d];
                if (rank > 10)
                    continue;
                found++;
                kept += row[d] >= t;
            }
            if (found > found_k && (double)(kept - kept_k) / (found - found_k) < worst_share) {
                worst_share = (double)(kept - kept_k) / (found - found_k);
                worst = k;
            }
        }
        for (int i = 0; i < p->n; i++) {
            if (p->gold[i] >= 4)
                close++, close_pass += sts[i] >= t;
            else if (p->gold[i] <= 1)
                unrel++, unrel_pass += sts[i] >= t;
        }
        printf("| %.3f | %.3f (%d/%d) | %.3f (%s) | %.3f (%d/%d) | %.3f | %.3f |\n", t,
               (double)kept / found, kept, found, worst_share, worst >= 0 ? sets[worst].name : "-",
               (double)neg_pass / neg, neg_pass, neg, (double)close_pass / close,
               (double)unrel_pass / unrel);
    }
}

#define MAX_TOP 100

/* The top n_top (<= MAX_TOP) of a score row (NAN: not returned), best first, ties by lower index.
 */
static int top_of(const double *row, int n, int n_top, int *out)
{
    int m = 0;
    for (int i = 0; i < n; i++) {
        if (isnan(row[i]))
            continue;
        int pos = m < n_top ? m++ : n_top;
        while (pos > 0 && row[out[pos - 1]] < row[i]) {
            if (pos < n_top)
                out[pos] = out[pos - 1];
            pos--;
        }
        if (pos < n_top)
            out[pos] = i;
    }
    return m;
}

/* True when two score rows return the same top n_top (as sets). */
static bool same_top(const double *a, const double *b, int n, int n_top)
{
    int ta[MAX_TOP], tb[MAX_TOP];
    int na = top_of(a, n, n_top, ta), nb = top_of(b, n, n_top, tb);
    if (na != nb)
        return false;
    for (int i = 0; i < na; i++) {
        bool in = false;
        for (int j = 0; j < nb && !in; j++)
            in = ta[i] == tb[j];
        if (!in)
            return false;
    }
    return true;
}

static char **glosses(int *out_n);

/* The depth tables' lexical weight: the default model's (set in main). */
static double bench_w = MR_FUSION_LEXICAL_WEIGHT;

/*
 * k' for a set and a limit: mean recall@10 and MRR of the pipeline, and the
 * questions whose top `limit` equals the exact fusion's over every memory.
 */
static void depth_rows(const char *label, const struct devset *s, const double *cos,
                       struct mr_lex_index *ix, const double *lex, int limit, const size_t *depths,
                       size_t n_depths)
{
    double *x = fuse_all(s, cos, lex, bench_w);
    for (size_t di = 0; di < n_depths; di++) {
        double *h = fuse_pipeline2(s, cos, ix, bench_w, depths[di], depths[di]);
        struct metrics m = measure(s, h);
        int same = 0;
        for (int q = 0; q < s->n_q; q++)
            same +=
                same_top(h + (size_t)q * s->n_docs, x + (size_t)q * s->n_docs, s->n_docs, limit);
        printf("| %s | %d | %zu | %.3f | %.3f | %.3f (%d/%d) |\n", label, limit, depths[di], m.r10,
               m.mrr, (double)same / s->n_q, same, s->n_q);
        free(h);
    }
    free(x);
}

/* The set with n WordNet glosses added to its pool as memories no question asks about. */
static struct devset with_distractors(const struct devset *s, int n)
{
    int n_g;
    char **g = glosses(&n_g);
    struct devset d = *s;
    n = n < n_g ? n : n_g;
    d.n_docs = s->n_docs + n;
    d.doc_id = malloc(d.n_docs * sizeof *d.doc_id);
    d.doc_text = malloc(d.n_docs * sizeof *d.doc_text);
    for (int i = 0; i < s->n_docs; i++)
        d.doc_id[i] = s->doc_id[i], d.doc_text[i] = s->doc_text[i];
    bool *used = calloc(n_g + 1, sizeof *used);
    for (int i = 0; i < n; i++) {
        size_t k = (size_t)i * n_g / n;
        d.doc_id[s->n_docs + i] = "distractor";
        d.doc_text[s->n_docs + i] = g[k];
        used[k] = true;
    }
    for (int i = 0; i < n_g; i++)
        if (!used[i])
            free(g[i]);
    free(used);
    free(g);
    return d;
}

/* A development set in a pool of distractors, with what the depth grid needs of it. */
struct big_pool {
    struct devset d;
    int n_own;         /* the set's own memories (the rest are glosses) */
    double *cos, *lex; /* n_q × n_docs */
    double *exact;     /* the exact fusion over every memory */
    struct mr_lex_index *ix;
};

static void big_pool_open(struct big_pool *b, const struct devset *s, int n, struct mr_embedder *e)
{
    b->d = with_distractors(s, n);
    b->n_own = s->n_docs;
    b->cos = cos_matrix(e, &b->d);
    b->ix = lex_build(&b->d, false);
    b->lex = lex_matrix(&b->d, b->ix);
    b->exact = fuse_all(&b->d, b->cos, b->lex, bench_w);
}

static void big_pool_close(struct big_pool *b)
{
    free(b->cos);
    free(b->lex);
    free(b->exact);
    mr_lex_index_destroy(b->ix);
    for (int i = b->n_own; i < b->d.n_docs; i++)
        free(b->d.doc_text[i]);
    free(b->d.doc_id);
    free(b->d.doc_text);
}

/*
 * Each side's depth on its own (k' vector × k' lexical) for `limit` results
 * over n_pools pools: the mean recall@10 and MRR over the pools, and the
 * questions whose top `limit` equals the exact fusion's over every memory
 * (all pools, and the worst pool's share).
 */
static void depth_grid(struct big_pool *pools, int n_pools, int limit, const size_t *kv, int n_kv,
                       const size_t *kl, int n_kl)
{
    printf("| limit | k' vector | k' lexical | mean recall@10 | mean MRR | questions whose top "
           "`limit` equals the exact one | worst pool |\n|---|---|---|---|---|---|---|\n");
    for (int a = 0; a < n_kv; a++) {
        for (int b = 0; b < n_kl; b++) {
            struct metrics m[N_SETS];
            int same = 0, total = 0;
            double worst = 1;
            for (int p = 0; p < n_pools; p++) {
                struct big_pool *bp = &pools[p];
                double *h = fuse_pipeline2(&bp->d, bp->cos, bp->ix, bench_w, kv[a], kl[b]);
                m[p] = measure(&bp->d, h);
                int sp = 0;
                for (int q = 0; q < bp->d.n_q; q++)
                    sp += same_top(h + (size_t)q * bp->d.n_docs,
                                   bp->exact + (size_t)q * bp->d.n_docs, bp->d.n_docs, limit);
                same += sp;
                total += bp->d.n_q;
                if ((double)sp / bp->d.n_q < worst)
                    worst = (double)sp / bp->d.n_q;
                free(h);
            }
            struct metrics mm = mean_of(m, n_pools);
            printf("| %d | %zu | %zu | %.3f | %.3f | %.3f (%d/%d) | %.3f |\n", limit, kv[a], kl[b],
                   mm.r10, mm.mrr, (double)same / total, same, total, worst);
        }
    }
}

static void ranking(const char *model, const char *sts, const char *dir, const char *pairs_file)
{
    static const char *const names[N_SETS] = {"conversations", "paraphrase", "identifiers",
                                              "text2sql", "retrieval"};
    struct devset sets[N_SETS] = {{0}};
    char path[1024];
    for (int k = 0; k < N_SETS; k++) {
        sets[k].name = names[k];
        if (k == N_SETS - 1) {
            load_pairs(&sets[k], pairs_file);
        } else {
            snprintf(path, sizeof path, "%s/%s_dev.tsv", dir, names[k]);
            load_dq(&sets[k], path);
        }
    }
    struct sts_pairs sp;
    sts_load(&sp, sts);
    struct mr_err err;
    struct provider prov[3] = {
        {MR_SEMANTIC_MODEL " (lexical share 0.4, today)", NULL, 0, {0}, NULL},
        {"memori-wordnet semantic part only (share 0)", NULL, 0, {0}, NULL},
        {MR_LEXICAL_MODEL, NULL, 0, {0}, NULL},
    };
    prov[0].e = mr_embed_semantic_open(model, &err);
    prov[1].e = mr_embed_semantic_open_share(model, 0, &err);
    prov[2].e = mr_embed_lexical_new(0, &err);
    if (!prov[0].e || !prov[1].e || !prov[2].e) {
        fprintf(stderr, "bench_quality: %s\n", err.msg);
        exit(1);
    }
    for (int p = 0; p < 3; p++)
        prov[p].w = mr_embed_default_lexical_weight(MR_PROVIDER_BUILTIN, mr_embed_name(prov[p].e));
    bench_w = prov[1].w;
    struct mr_lex_index *ix[N_SETS];
    double *lex[N_SETS], *plain[N_SETS];
    for (int k = 0; k < N_SETS; k++) {
        ix[k] = lex_build(&sets[k], false);
        lex[k] = lex_matrix(&sets[k], ix[k]);
        plain[k] = plain_matrix(&sets[k]);
        for (int p = 0; p < 3; p++)
            prov[p].cos[k] = cos_matrix(prov[p].e, &sets[k]);
    }
    for (int p = 0; p < 3; p++)
        prov[p].sts_cos = sts_cos(prov[p].e, &sp);

    int n_pos = 0, n_neg = 0;
    for (int k = 0; k < N_SETS; k++)
        for (int q = 0; q < sets[k].n_q; q++)
            sets[k].q_nev[q] ? n_pos++ : n_neg++;
    printf("\n## Ranking per mode (issue 14)\n\n");
    printf("Development sets: ");
    for (int k = 0; k < N_SETS; k++)
        printf("%s %d memories / %d questions%s", names[k], sets[k].n_docs, sets[k].n_q,
               k + 1 < N_SETS ? "; " : "");
    printf(" (%d answerable, %d not); STS %d pairs. hybrid: w = %.2f for the WordNet models, "
           "%.2f for %s (mr_embed_default_lexical_weight), k' for limit 10: "
           "vector side %zu, lexical side %zu (fusion.h).\n\n",
           n_pos, n_neg, sp.n, prov[1].w, prov[2].w, MR_LEXICAL_MODEL, mr_fusion_depth_vector(10),
           mr_fusion_depth_lexical(10));

    /* Sentence similarity. */
    printf("| system | STS Spearman |\n|---|---|\n");
    printf("| plain BM25 (bench's own) | %.3f |\n", spearman(sp.gold, sp.plain, sp.n));
    printf("| TF-IDF cosine (bench's own) | %.3f |\n", spearman(sp.gold, sp.tfidf, sp.n));
    printf("| lexical (memori BM25) | %.3f |\n", spearman(sp.gold, sp.lex, sp.n));
    for (int p = 0; p < 2; p++) {
        printf("| semantic: %s | %.3f |\n", prov[p].name, spearman(sp.gold, prov[p].sts_cos, sp.n));
        printf("| hybrid: %s | %.3f |\n", prov[p].name,
               sts_hybrid(&sp, prov[p].sts_cos, prov[p].w));
    }

    /* Retrieval per set and system. */
    const size_t lim = 10; /* results per question; each side's depth as the service's */
    printf(
        "\n| set | system | recall@1 | recall@5 | recall@10 | MRR |\n|---|---|---|---|---|---|\n");
    struct metrics all[7][N_SETS];
    static const char *const sys[7] = {
        "plain BM25 (bench's own)",          "lexical (memori BM25)",
        "semantic (wordnet-v1 as today)",    "semantic (wordnet, share 0)",
        "hybrid (wordnet-v1 as today)",      "hybrid (wordnet, share 0)",
        "hybrid (memori-lexical-v1 vectors)"};
    for (int k = 0; k < N_SETS; k++) {
        double *h[3];
        for (int p = 0; p < 3; p++)
            h[p] = fuse_pipeline(&sets[k], prov[p].cos[k], ix[k], prov[p].w, lim);
        all[0][k] = measure(&sets[k], plain[k]);
        all[1][k] = measure(&sets[k], lex[k]);
        all[2][k] = measure(&sets[k], prov[0].cos[k]);
        all[3][k] = measure(&sets[k], prov[1].cos[k]);
        all[4][k] = measure(&sets[k], h[0]);
        all[5][k] = measure(&sets[k], h[1]);
        all[6][k] = measure(&sets[k], h[2]);
        for (int r = 0; r < 7; r++)
            print_row(names[k], sys[r], all[r][k]);
        for (int p = 0; p < 3; p++)
            free(h[p]);
    }
    for (int r = 0; r < 7; r++)
        print_row("**mean of the 5**", sys[r], mean_of(all[r], N_SETS));

    /* Neighbour context on the conversations (documents hold the turns next to them). */
    {
        struct devset *s = &sets[0];
        struct mr_lex_index *cix = lex_build(s, true);
        double *cl = lex_matrix(s, cix);
        printf(
            "\nConversations with each turn's lexical document holding its neighbours' words:\n\n");
        printf("| system | recall@1 | recall@5 | recall@10 | MRR |\n|---|---|---|---|---|\n");
        struct metrics m = measure(s, cl);
        printf("| lexical + context | %.3f | %.3f | %.3f | %.3f |\n", m.r1, m.r5, m.r10, m.mrr);
        for (int p = 0; p < 2; p++) {
            double *h = fuse_pipeline(s, prov[p].cos[0], cix, prov[p].w, lim);
            m = measure(s, h);
            printf("| hybrid + context: %s | %.3f | %.3f | %.3f | %.3f |\n", prov[p].name, m.r1,
                   m.r5, m.r10, m.mrr);
            free(h);
        }
        /*
         * The same idea at query time (documents unchanged; the service's
         * mr_lex_context is the row it names): each turn's normalised score
         * combined with its neighbours', beside the index-time documents,
         * all with exact fusion over every turn. Convex mixes a·own + (1 −
         * a)/2·(prev + next) give a missing neighbour's share to the turn
         * itself; the "or" forms own + (1 − own)·x never lower own.
         */
        printf("\nQuery-time neighbour context against index-time documents (conversations, "
               "exact fusion over every turn):\n\n");
        printf("| lexical score of a turn | lexical recall@1 | lexical recall@10 | lexical MRR | "
               "hybrid v1 recall@1 | hybrid v1 recall@10 | hybrid v1 MRR | hybrid share-0 "
               "recall@1 | hybrid share-0 recall@10 | hybrid share-0 MRR |\n"
               "|---|---|---|---|---|---|---|---|---|---|\n");
        /* kind 0: a·own + (1 − a)/2·(p + n); 1: own + (1 − own)·a·(p + n); 2: 1 with max(p, n). */
        static const struct {
            const char *name;
            int kind;
            double a;
        } form[] = {
            {"own (no context)", 0, 1.0},
            {"0.4·own + 0.3·(prev + next)", 0, 0.4},
            {"(2·own + prev + next)/4", 0, 0.5},
            {"0.6·own + 0.2·(prev + next)", 0, 0.6},
            {"(4·own + prev + next)/6", 0, 2.0 / 3},
            {"0.75·own + 0.125·(prev + next)", 0, 0.75},
            {"own + (1 − own)·(prev + next)/16", 1, 1.0 / 16},
            {"own + (1 − own)·(prev + next)/8", 1, 1.0 / 8},
            {"own + (1 − own)·(prev + next)·3/16", 1, 3.0 / 16},
            {"own + (1 − own)·(prev + next)/4", 1, 1.0 / 4},
            {"own + (1 − own)·(prev + next)·3/8", 1, 3.0 / 8},
            {"own + (1 − own)·(prev + next)/2", 1, 1.0 / 2},
            {"own + (1 − own)·max(prev, next)/4", 2, 1.0 / 4},
            {"mr_lex_context (the library's: own + (1 − own)·min(1, (prev + next)/2 + (prev2 + "
             "next2)/4))",
             3, 0},
            {"index-time documents (own twice, neighbours once)", 4, 0},
        };
        size_t nd = (size_t)s->n_docs;
        double *sm = malloc((size_t)s->n_q * nd * sizeof *sm);
        for (size_t fi = 0; fi < sizeof form / sizeof form[0]; fi++) {
            const double *lm = cl;
            if (form[fi].kind != 4) {
                double a = form[fi].a;
                for (int q = 0; q < s->n_q; q++)
                    for (size_t i = 0; i < nd; i++) {
                        const double *row = lex[0] + (size_t)q * nd;
                        bool hp = has_offset(s, i, -1), hn = has_offset(s, i, 1);
                        double o = isnan(row[i]) ? 0 : row[i];
                        double pv = at_offset(s, row, i, -1), nv = at_offset(s, row, i, 1);
                        double v;
                        switch (form[fi].kind) {
                        case 0:
                            v = a * o + (1 - a) / 2 * ((hp ? pv : o) + (hn ? nv : o));
                            break;
                        case 1:
                            v = o + (1 - o) * (pv + nv) * a;
                            break;
                        case 2:
                            v = o + (1 - o) * fmax(pv, nv) * a;
                            break;
                        default:
                            v = mr_lex_context(o, pv, nv, at_offset(s, row, i, -2),
                                               at_offset(s, row, i, 2));
                        }
                        sm[(size_t)q * nd + i] = v > 0 ? v : NAN;
                    }
                lm = sm;
            }
            struct metrics ml = measure(s, lm);
            printf("| %s | %.3f | %.3f | %.3f |", form[fi].name, ml.r1, ml.r10, ml.mrr);
            for (int p = 0; p < 2; p++) {
                double *h = fuse_all(s, prov[p].cos[0], lm, prov[p].w);
                struct metrics mh = measure(s, h);
                printf(" %.3f | %.3f | %.3f |", mh.r1, mh.r10, mh.mrr);
                free(h);
            }
            printf("\n");
        }
        /*
         * The semantic side smoothed too, with sm still mr_lex_context's (the
         * row before the last): each turn's cosine half its own, half the mean
         * of the turns next to it, then of those two away too
         * (mr_index_cosine_context, the library's, what hybrid mode serves).
         */
        for (int wide = 0; wide < 2; wide++) {
            printf("| mr_lex_context, and the cosine smoothed %s | – | – | – |",
                   wide ? "with the mean of two turns each side (mr_index_cosine_context)"
                        : "with the mean of the turns next to it");
            double *sc = malloc((size_t)s->n_q * nd * sizeof *sc);
            for (int p = 0; p < 2; p++) {
                for (int q = 0; q < s->n_q; q++)
                    for (size_t i = 0; i < nd; i++) {
                        const double *row = prov[p].cos[0] + (size_t)q * nd;
                        float win[4];
                        size_t nw = 0;
                        for (int d = 1; d <= (wide ? 2 : 1); d++)
                            for (int sgn = -1; sgn <= 1; sgn += 2)
                                if (has_offset(s, i, sgn * d))
                                    win[nw++] = (float)at_offset(s, row, i, sgn * d);
                        sc[(size_t)q * nd + i] =
                            mr_index_cosine_context((float)fmax(row[i], 0), win, nw);
                    }
                double *h = fuse_all(s, sc, sm, prov[p].w);
                struct metrics mh = measure(s, h);
                printf(" %.3f | %.3f | %.3f |", mh.r1, mh.r10, mh.mrr);
                free(h);
            }
            printf("\n");
            free(sc);
        }
        free(sm);
        free(cl);
        mr_lex_index_destroy(cix);
    }

    /* The weight: exact fusion over every document, per provider. */
    printf("\nLexical weight w (exact fusion over every memory; mean over the 5 retrieval sets, "
           "and STS):\n\n");
    printf("| w | v1 recall@1 | v1 recall@10 | v1 MRR | v1 STS | share-0 recall@1 | share-0 "
           "recall@10 | share-0 MRR | share-0 STS |\n|---|---|---|---|---|---|---|---|---|\n");
    for (int wi = 0; wi <= 20; wi++) {
        double w = wi * 0.05;
        printf("| %.2f |", w);
        for (int p = 0; p < 2; p++) {
            struct metrics m[N_SETS];
            for (int k = 0; k < N_SETS; k++) {
                double *h = fuse_all(&sets[k], prov[p].cos[k], lex[k], w);
                m[k] = measure(&sets[k], h);
                free(h);
            }
            struct metrics mm = mean_of(m, N_SETS);
            printf(" %.3f | %.3f | %.3f | %.3f |", mm.r1, mm.r10, mm.mrr,
                   sts_hybrid(&sp, prov[p].sts_cos, w));
        }
        printf("\n");
    }

    /* BENCH_QUALITY_QUICK=1: the per-mode tables only, without the 10 k and 100 k pools. */
    bool quick = getenv("BENCH_QUALITY_QUICK") != NULL;
    /* The depth k': the pipeline against the exact fusion, also in a pool of 10 k memories. */
    if (!quick) {
        printf("\nCandidate depth k' (hybrid, w = %.2f, wordnet share 0; top 10 equal to the exact "
               "fusion's over every memory):\n\n",
               bench_w);
        printf(
            "| pool | limit | k' | recall@10 | MRR | questions whose top `limit` equals the exact "
            "one |\n|---|---|---|---|---|---|\n");
        static const size_t small[] = {5, 10, 15, 20, 30, 50, 100};
        for (int k = 0; k < N_SETS; k++)
            depth_rows(names[k], &sets[k], prov[1].cos[k], ix[k], lex[k], 10, small, 7);
        {
            struct devset big = with_distractors(&sets[0], 10000);
            big.name = "conversations + 10 000 glosses";
            double *bc = cos_matrix(prov[1].e, &big);
            struct mr_lex_index *bix = lex_build(&big, false);
            double *bl = lex_matrix(&big, bix);
            static const size_t big10[] = {10, 20, 30, 50, 100, 200};
            static const size_t big50[] = {50, 100, 150, 200, 250, 500};
            depth_rows(big.name, &big, bc, bix, bl, 10, big10, 6);
            depth_rows(big.name, &big, bc, bix, bl, 50, big50, 6);
            free(bc);
            free(bl);
            mr_lex_index_destroy(bix);
            for (int i = sets[0].n_docs; i < big.n_docs; i++)
                free(big.doc_text[i]);
            free(big.doc_id);
            free(big.doc_text);
        }

        /*
         * Each side's depth on its own: every set in a pool of 10 000 glosses
         * (the vector side is the cost, docs/perf.md).
         */
        {
            struct big_pool pools[N_SETS];
            for (int k = 0; k < N_SETS; k++)
                big_pool_open(&pools[k], &sets[k], 10000, prov[1].e);
            printf("\nEach side's depth (hybrid, w = %.2f, wordnet share 0), every set with 10 000 "
                   "glosses added to its pool; means over the 5 pools:\n\n",
                   bench_w);
            static const size_t kv10[] = {10, 20, 30, 40, 50, 100};
            static const size_t kl10[] = {10, 20, 30, 50, 100};
            depth_grid(pools, N_SETS, 10, kv10, 6, kl10, 5);
            static const size_t kv50[] = {50, 100, 150, 200};
            static const size_t kl50[] = {50, 100, 200};
            depth_grid(pools, N_SETS, 50, kv50, 4, kl50, 3);
            printf("\nThe rule's depths for limit 10: vector %zu, lexical %zu; for 50: %zu, %zu.\n",
                   mr_fusion_depth_vector(10), mr_fusion_depth_lexical(10),
                   mr_fusion_depth_vector(50), mr_fusion_depth_lexical(50));
            for (int k = 0; k < N_SETS; k++)
                big_pool_close(&pools[k]);
        }
        {
            struct big_pool pool;
            big_pool_open(&pool, &sets[0], 100000, prov[1].e);
            printf("\nThe conversations with 100 000 glosses added to the pool:\n\n");
            static const size_t kv10[] = {20, 40, 50, 100};
            static const size_t kl10[] = {20, 50, 100};
            depth_grid(&pool, 1, 10, kv10, 4, kl10, 3);
            big_pool_close(&pool);
        }
    }

    /* Thresholds per provider and mode. */
    printf("\nThresholds for min_similarity (the score each mode returns):\n");
    for (int p = 0; p < 3; p++) {
        double *fused[N_SETS];
        for (int k = 0; k < N_SETS; k++)
            fused[k] = fuse_pipeline(&sets[k], prov[p].cos[k], ix[k], prov[p].w, lim);
        struct mr_fusion f = {MR_SEARCH_HYBRID, prov[p].w, 0};
        double *sf = malloc(sp.n * sizeof *sf);
        for (int i = 0; i < sp.n; i++)
            sf[i] = mr_fusion_score(&f, prov[p].sts_cos[i], sp.lex[i]);
        char title[256];
        snprintf(title, sizeof title, "hybrid, %s, w = %.2f", prov[p].name, prov[p].w);
        thresholds(title, sets, fused, &sp, sf);
        snprintf(title, sizeof title, "semantic, %s (the cosine)", prov[p].name);
        thresholds(title, sets, prov[p].cos, &sp, prov[p].sts_cos);
        free(sf);
        for (int k = 0; k < N_SETS; k++)
            free(fused[k]);
    }
    thresholds("lexical (normalised BM25, any provider)", sets, lex, &sp, sp.lex);

    /* The same retrieval through mr_memory_search, per mode, for v2 (the default) and v1. */
    {
        struct mr_embedder *models[2] = {prov[1].e, prov[0].e};
        const char *model_names[2] = {MR_SEMANTIC_V2_MODEL " (default)", MR_SEMANTIC_MODEL};
        through_the_service(sets, N_SETS, plain, models, model_names, 2);
    }

    for (int k = 0; k < N_SETS; k++) {
        free(lex[k]);
        free(plain[k]);
        mr_lex_index_destroy(ix[k]);
        for (int p = 0; p < 3; p++)
            free(prov[p].cos[k]);
    }
    for (int p = 0; p < 3; p++) {
        free(prov[p].sts_cos);
        mr_embed_destroy(prov[p].e);
    }
    for (int k = 0; k < N_SETS; k++) {
        struct devset *s = &sets[k];
        for (int i = 0; i < s->n_docs; i++) {
            free(s->doc_id[i]);
            free(s->doc_text[i]);
        }
        for (int q = 0; q < s->n_q; q++)
            free(s->q_text[q]);
        free(s->doc_id);
        free(s->doc_text);
        free(s->q_text);
        free(s->q_ev);
        free(s->q_nev);
    }
    for (int i = 0; i < sp.n; i++) {
        free(sp.a[i]);
        free(sp.b[i]);
        free(col[0][i]);
    }
    free(sp.gold);
    free(sp.a);
    free(sp.b);
    free(sp.lex);
    free(sp.plain);
    free(sp.tfidf);
}

/* ------------------------------------------- the lexical index at scale */

/* WordNet glosses (one a synset, ~117 k); *out_n of them. */
static char **glosses(int *out_n)
{
    static const char *const files[] = {"data.noun", "data.verb", "data.adj", "data.adv"};
    char **g = NULL, line[8192], path[256];
    int n = 0;
    for (int i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "/usr/share/wordnet/%s", files[i]);
        FILE *f = fopen(path, "r");
        while (f && fgets(line, sizeof line, f)) {
            const char *s = strstr(line, " | ");
            if (line[0] == ' ' || !s)
                continue;
            g = xrealloc_b(g, (n + 1) * sizeof *g);
            g[n] = strdup(s + 3);
            g[n][strcspn(g[n], "\r\n")] = '\0';
            n++;
        }
        if (f)
            fclose(f);
    }
    *out_n = n;
    return g;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void lexical_scale(void)
{
    int n_g;
    char **g = glosses(&n_g);
    if (n_g < 100000) {
        fprintf(stderr, "bench_quality: only %d WordNet glosses (wordnet-base installed?)\n", n_g);
        return;
    }
    printf("\n## The lexical index at scale (WordNet glosses as memories)\n\n");
    printf("| memories | terms/memory | bytes/memory (index) | bytes/memory (heap) | put/s (CPU) | "
           "search p50 (CPU) | search p99 (CPU) |\n|---|---|---|---|---|---|---|\n");
    static const int sizes[] = {10000, 100000};
    for (int si = 0; si < 2; si++) {
        int n = sizes[si];
        struct mallinfo2 before = mallinfo2();
        struct mr_lex_index *ix = mr_lex_index_new();
        double t0 = cpu_b();
        /* A memory is two consecutive glosses (~15 terms, like the development sets' turns). */
        char text[16384];
        for (int i = 0; i < n; i++) {
            int len = snprintf(text, sizeof text, "%s %s", g[i], g[(i + 1) % n_g]);
            mr_lex_index_put(ix, i, text,
                             (size_t)len < sizeof text ? (size_t)len : sizeof text - 1);
        }
        double put_s = cpu_b() - t0;
        struct mallinfo2 after = mallinfo2();
        uint64_t docs, total;
        mr_lex_index_stats(ix, &docs, &total);
        /* Queries: three words from a gloss of the set, every 97th. */
        enum { NQ = 1000 };
        double lat[NQ];
        size_t depth = mr_fusion_depth_lexical(10);
        struct mr_lex_hit *hits = malloc(depth * sizeof *hits);
        for (int q = 0; q < NQ; q++) {
            const char *src = g[(q * 97) % n];
            char qt[256];
            int words = 0;
            size_t len = 0;
            for (const char *p = src; *p && words < 3 && len + 1 < sizeof qt; p++) {
                if (*p == ' ' && (words++, len && qt[len - 1] == ' '))
                    continue;
                qt[len++] = *p;
            }
            qt[len] = '\0';
            double s = cpu_b();
            struct mr_lex_terms *t = mr_lex_terms_new(qt, len);
            mr_lex_index_search(ix, t, NULL, NULL, depth, hits, NULL);
            mr_lex_terms_free(t);
            lat[q] = cpu_b() - s;
        }
        free(hits);
        qsort(lat, NQ, sizeof *lat, cmp_double);
        printf("| %d | %.1f | %.0f | %.0f | %.0f | %.1f µs | %.1f µs |\n", n, (double)total / docs,
               (double)mr_lex_index_bytes(ix) / n,
               (double)(after.uordblks + after.hblkhd - before.uordblks - before.hblkhd) / n,
               n / put_s, lat[NQ / 2] * 1e6, lat[NQ * 99 / 100] * 1e6);
        mr_lex_index_destroy(ix);
    }
    for (int i = 0; i < n_g; i++)
        free(g[i]);
    free(g);
}

/* ------------------------------ the index with and without its lexical side */

/* A three-word query from gloss src (as lexical_scale cuts them) into qt; returns its length. */
static size_t three_words(const char *src, char *qt, size_t cap)
{
    int words = 0;
    size_t len = 0;
    for (const char *p = src; *p && words < 3 && len + 1 < cap; p++) {
        if (*p == ' ' && (words++, len && qt[len - 1] == ' '))
            continue;
        qt[len++] = *p;
    }
    qt[len] = '\0';
    return len;
}

/*
 * The in-process index as the service uses it, at 10 k and 100 k memories
 * of one user (two glosses each, memori-wordnet-v2 vectors): upserts per
 * second with the content (the lexical side kept in step) and without it
 * (content NULL: what the index cost before), the lexical side's bytes per
 * memory, and mr_index_candidates per mode (CPU time; semantic: the vector
 * side's best 10; hybrid: both sides' best k' = 100 with both scores;
 * lexical: BM25's best 10 with cosines) as ratios to semantic. At 100 k the
 * partition has its HNSW graph (the server's threshold, 20 000).
 */
static void index_scale(const char *model)
{
    int n_g;
    char **g = glosses(&n_g);
    struct mr_err err;
    struct mr_embedder *e = mr_embed_semantic_open_share(model, 0, &err);
    if (n_g < 100000 || !e) {
        fprintf(stderr, "bench_quality: index scale skipped (%s)\n", e ? "glosses" : err.msg);
        mr_embed_destroy(e);
        return;
    }
    size_t dim = mr_embed_dim(e);
    printf("\n## The index with its lexical side (%s vectors, one user)\n\n", mr_embed_name(e));
    printf("| memories | upserts/s without content | upserts/s with content | with / without | "
           "lexical bytes/memory | semantic p50 / p99 (CPU) | hybrid p50 / p99 | lexical p50 / "
           "p99 | hybrid / semantic p50, p99 |\n|---|---|---|---|---|---|---|---|---|\n");
    static const int sizes[] = {10000, 100000};
    enum { NQ = 1000 };
    char text[16384];
    for (int si = 0; si < 2; si++) {
        int n = sizes[si];
        float *vecs = malloc((size_t)n * dim * sizeof *vecs);
        char **texts = malloc(n * sizeof *texts);
        for (int i = 0; i < n; i++) {
            snprintf(text, sizeof text, "%s %s", g[i], g[(i + 1) % n_g]);
            texts[i] = strdup(text);
            mr_embed_one(e, texts[i], strlen(texts[i]), vecs + (size_t)i * dim, &err);
        }
        double rate[2];
        struct mr_index *ix = NULL;
        for (int with = 0; with < 2; with++) {
            mr_index_destroy(ix);
            ix = mr_index_new(dim);
            double t0 = cpu_b();
            for (int i = 0; i < n; i++) {
                struct mr_index_entry en = {
                    .id = i + 1,
                    .user_id = "bench",
                    .tenant_id = "default",
                    .conversation_id = "6f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
                    .memory_type = MR_LONG_TERM,
                    .expires_at = MR_NO_TIME,
                    .vec = vecs + (size_t)i * dim,
                    .content = with ? texts[i] : NULL,
                    .content_len = with ? strlen(texts[i]) : 0,
                };
                mr_index_upsert(ix, &en, &err);
            }
            rate[with] = n / (cpu_b() - t0);
        }
        size_t lex_bytes = mr_index_lexical_bytes(ix);
        if (n >= 20000) {
            mr_index_set_ann(ix, 20000, 0);
            ix_wait_builds(ix);
        }
        const struct mr_identity who = {"bench", "default"};
        double *lat[3];
        struct mr_index_candidate *c =
            malloc((mr_fusion_depth_vector(10) + mr_fusion_depth_lexical(10)) * sizeof *c);
        float *qv = malloc(dim * sizeof *qv);
        for (int m = 0; m < 3; m++)
            lat[m] = malloc(NQ * sizeof **lat);
        for (int q = 0; q < NQ; q++) {
            char qt[256];
            size_t len = three_words(g[(q * 97) % n], qt, sizeof qt);
            mr_embed_one(e, qt, len, qv, &err);
            /* Modes interleaved per query: a slow spell of the machine hits all three. */
            for (int m = 0; m < 3; m++) {
                double t0 = cpu_b();
                struct mr_lex_terms *t = mr_lex_terms_new(qt, len);
                struct mr_index_query iq = {.vec = qv,
                                            .now = 1,
                                            .min_score = -2,
                                            .limit = m == 1 ? mr_fusion_depth_vector(10) : 10,
                                            .lex_limit = m == 1 ? mr_fusion_depth_lexical(10) : 0,
                                            .terms = t,
                                            .sides = m == 0   ? MR_INDEX_SIDE_VECTOR
                                                     : m == 1 ? MR_INDEX_SIDE_VECTOR |
                                                                    MR_INDEX_SIDE_LEXICAL
                                                              : MR_INDEX_SIDE_LEXICAL};
                size_t got;
                mr_index_candidates(ix, &who, &iq, c, &got, &err);
                mr_lex_terms_free(t);
                lat[m][q] = cpu_b() - t0;
            }
        }
        double p50[3], p99[3];
        for (int m = 0; m < 3; m++) {
            qsort(lat[m], NQ, sizeof *lat[m], cmp_double);
            p50[m] = lat[m][NQ / 2] * 1e6;
            p99[m] = lat[m][NQ * 99 / 100] * 1e6;
            free(lat[m]);
        }
        printf("| %d | %.0f | %.0f | %.2f | %.0f | %.1f / %.1f µs | %.1f / %.1f µs | %.1f / %.1f "
               "µs | %.2f, %.2f |\n",
               n, rate[0], rate[1], rate[1] / rate[0], (double)lex_bytes / n, p50[0], p99[0],
               p50[1], p99[1], p50[2], p99[2], p50[1] / p50[0], p99[1] / p99[0]);
        free(c);
        free(qv);
        mr_index_destroy(ix);
        for (int i = 0; i < n; i++)
            free(texts[i]);
        free(texts);
        free(vecs);
    }
    mr_embed_destroy(e);
    for (int i = 0; i < n_g; i++)
        free(g[i]);
    free(g);
}

int main(int argc, char **argv)
{
    const char *model = argc > 1 ? argv[1] : "models/" MR_SEMANTIC_FILE;
    const char *sts = argc > 2 ? argv[2] : "tests/data/sts_dev.tsv";
    const char *ret = argc > 3 ? argv[3] : "tests/data/retrieval_dev.tsv";
    const char *dir = argc > 4 ? argv[4] : "tests/data";
    struct mr_err err;
    printf("| model | dim | pairs | Spearman | questions | recall@1 | recall@5 |\n");
    printf("|---|---|---|---|---|---|---|\n");
    struct mr_embedder *lex = mr_embed_lexical_new(0, &err);
    evaluate(MR_LEXICAL_MODEL, lex, sts, ret);
    mr_embed_destroy(lex);
    struct mr_embedder *sem = mr_embed_semantic_open(model, &err);
    if (!sem) {
        fprintf(stderr, "bench_quality: %s\n", err.msg);
        return 1;
    }
    evaluate(MR_SEMANTIC_MODEL, sem, sts, ret);
    mr_embed_destroy(sem);
    ranking(model, sts, dir, ret);
    if (getenv("BENCH_QUALITY_QUICK"))
        return 0;
    lexical_scale();
    index_scale(model);
    return 0;
}
