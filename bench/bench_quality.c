/*
 * bench_quality.c — embedding quality on memori's development sets,
 * lexical vs the built-in semantic model side by side:
 *   - Spearman correlation between graded similarity (tests/data/sts_dev.tsv)
 *     and cosine;
 *   - recall@1 and @5 of question → memory retrieval
 *     (tests/data/retrieval_dev.tsv, every memory of the file in the pool).
 *
 * usage: bench_quality [MODEL_FILE] [STS_FILE] [RETRIEVAL_FILE]
 */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memori/embed.h"
#include "memori/index.h"

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

int main(int argc, char **argv)
{
    const char *model = argc > 1 ? argv[1] : "models/" MR_SEMANTIC_FILE;
    const char *sts = argc > 2 ? argv[2] : "tests/data/sts_dev.tsv";
    const char *ret = argc > 3 ? argv[3] : "tests/data/retrieval_dev.tsv";
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
    return 0;
}
