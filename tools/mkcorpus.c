/*
 * mkcorpus — the training corpus of the built-in embedding model, made
 * deterministically (fixed seed) from text Debian ships.
 *
 *   mkcorpus WORDNET_DICT_DIR SEED [TEXT_FILE...] > corpus.txt
 *
 * From WordNet (data.noun/verb/adj/adv):
 *   - each synset's lemmas followed by its gloss and examples;
 *   - each synset's lemmas, shuffled (synonyms share contexts);
 *   - random walks over its links (hypernym, hyponym, similar, derivation,
 *     meronym/holonym, attribute, antonym, ...), one random lemma per step
 *     (Goikoetxea, Soroa and Agirre 2015: such walks teach word similarity).
 * From each TEXT_FILE (dictionary definitions, manuals): paragraphs.
 *
 * Every line is tokenised exactly as memori tokenises at run time
 * (mr_embed_tokenize), so the model knows the words it will be asked about.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memori/embed.h"
#include "memori/util.h"

#define WALKS_PER_SYNSET 3
#define WALK_MAX_STEPS 12

struct synset {
    char **lemmas; /* words of each lemma, spaces between */
    int n_lemmas;
    int *links; /* indexes of linked synsets */
    int n_links;
};

static struct synset *syn;
static int n_syn, cap_syn;

/* (file letter, offset) → synset index, open addressing. */
static uint64_t *keys;
static int *vals;
static size_t map_cap;

static uint64_t key_of(char pos, long offset)
{
    if (pos == 's')
        pos = 'a';
    return ((uint64_t)(unsigned char)pos << 40) | (uint64_t)offset;
}

static size_t slot_of(uint64_t k)
{
    uint64_t h = k * UINT64_C(0x9e3779b97f4a7c15);
    size_t i = (size_t)(h >> 20) & (map_cap - 1);
    while (keys[i] && keys[i] != k)
        i = (i + 1) & (map_cap - 1);
    return i;
}

static uint64_t rng = 1;
static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* Output: tokens of text through the run-time tokenizer, whole identifiers skipped. */
static size_t line_tokens;
static void emit_word(void *arg, const char *w, size_t n, int is_part)
{
    (void)arg;
    if (is_part < 0)
        return;
    if (line_tokens++)
        putchar(' ');
    fwrite(w, 1, n, stdout);
}

static void emit(const char *text, size_t len)
{
    mr_embed_tokenize(text, len, emit_word, NULL);
}

static void end_line(void)
{
    if (line_tokens)
        putchar('\n');
    line_tokens = 0;
}

/* Reads one data.* file: synsets and their links (resolved later). */
struct pending {
    int from;
    char pos;
    long offset;
};
static struct pending *pend;
static size_t n_pend, cap_pend;

static char *gloss_of[1 << 18];

static void read_data(const char *dir, const char *name, char pos)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "mkcorpus: cannot read %s\n", path);
        exit(1);
    }
    char *line = NULL;
    size_t lcap = 0;
    ssize_t len;
    while ((len = getline(&line, &lcap, f)) > 0) {
        if (line[0] == ' ')
            continue; /* licence header */
        char *bar = strchr(line, '|');
        if (!bar)
            continue;
        *bar = '\0';
        char *save = NULL, *tok = strtok_r(line, " ", &save);
        long offset = strtol(tok, NULL, 10);
        strtok_r(NULL, " ", &save); /* lex_filenum */
        strtok_r(NULL, " ", &save); /* ss_type */
        int w_cnt = (int)strtol(strtok_r(NULL, " ", &save), NULL, 16);
        if (n_syn == cap_syn) {
            cap_syn = cap_syn ? cap_syn * 2 : 1024;
            syn = mr_xrealloc(syn, (size_t)cap_syn * sizeof *syn);
        }
        struct synset *s = &syn[n_syn];
        memset(s, 0, sizeof *s);
        s->lemmas = mr_xcalloc((size_t)w_cnt, sizeof *s->lemmas);
        for (int i = 0; i < w_cnt; i++) {
            char *w = strtok_r(NULL, " ", &save);
            strtok_r(NULL, " ", &save); /* lex_id */
            char *paren = strchr(w, '(');
            if (paren)
                *paren = '\0'; /* adjective markers: (a), (p), (ip) */
            for (char *c = w; *c; c++)
                if (*c == '_')
                    *c = ' ';
            s->lemmas[s->n_lemmas++] = mr_xstrdup(w);
        }
        int p_cnt = (int)strtol(strtok_r(NULL, " ", &save), NULL, 10);
        for (int i = 0; i < p_cnt; i++) {
            strtok_r(NULL, " ", &save); /* pointer symbol: every link kind is used */
            long to = strtol(strtok_r(NULL, " ", &save), NULL, 10);
            char *tpos = strtok_r(NULL, " ", &save);
            strtok_r(NULL, " ", &save); /* source/target */
            if (n_pend == cap_pend) {
                cap_pend = cap_pend ? cap_pend * 2 : 4096;
                pend = mr_xrealloc(pend, cap_pend * sizeof *pend);
            }
            pend[n_pend++] = (struct pending){n_syn, tpos[0], to};
        }
        keys[slot_of(key_of(pos, offset))] = key_of(pos, offset);
        vals[slot_of(key_of(pos, offset))] = n_syn;
        gloss_of[n_syn] = mr_xstrdup(bar + 1);
        n_syn++;
    }
    free(line);
    fclose(f);
}

static void link_all(void)
{
    for (size_t i = 0; i < n_pend; i++) {
        uint64_t k = key_of(pend[i].pos, pend[i].offset);
        size_t sl = slot_of(k);
        if (keys[sl] != k)
            continue;
        struct synset *s = &syn[pend[i].from];
        s->links = mr_xrealloc(s->links, (size_t)(s->n_links + 1) * sizeof *s->links);
        s->links[s->n_links++] = vals[sl];
    }
}

static void emit_wordnet(void)
{
    for (int i = 0; i < n_syn; i++) {
        struct synset *s = &syn[i];
        /* Lemmas with the gloss: a definition is a context of its words. */
        for (int k = 0; k < s->n_lemmas; k++) {
            emit(s->lemmas[k], strlen(s->lemmas[k]));
            emit(gloss_of[i], strlen(gloss_of[i]));
            end_line();
        }
        /* Shuffled synonyms. */
        if (s->n_lemmas > 1) {
            for (int k = s->n_lemmas - 1; k > 0; k--) {
                int j = (int)(next_rand() % (uint64_t)(k + 1));
                char *t = s->lemmas[k];
                s->lemmas[k] = s->lemmas[j];
                s->lemmas[j] = t;
            }
            for (int k = 0; k < s->n_lemmas; k++)
                emit(s->lemmas[k], strlen(s->lemmas[k]));
            end_line();
        }
        /* Random walks. */
        for (int w = 0; w < WALKS_PER_SYNSET; w++) {
            int at = i;
            for (int step = 0; step < WALK_MAX_STEPS; step++) {
                struct synset *c = &syn[at];
                const char *lemma = c->lemmas[next_rand() % (uint64_t)c->n_lemmas];
                emit(lemma, strlen(lemma));
                if (c->n_links == 0)
                    break;
                at = c->links[next_rand() % (uint64_t)c->n_links];
            }
            end_line();
        }
    }
}

/* Paragraphs of a text file; text between backslashes (GCIDE pronunciations) is dropped. */
static void emit_text(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "mkcorpus: cannot read %s\n", path);
        exit(1);
    }
    char *line = NULL;
    size_t lcap = 0;
    ssize_t len;
    while ((len = getline(&line, &lcap, f)) > 0) {
        bool blank = true;
        for (ssize_t i = 0; i < len; i++)
            blank &= line[i] == ' ' || line[i] == '\n' || line[i] == '\t' || line[i] == '\r';
        if (blank) {
            end_line();
            continue;
        }
        bool in_pron = false;
        for (ssize_t i = 0; i < len; i++) {
            if (line[i] == '\\')
                in_pron = !in_pron, line[i] = ' ';
            else if (in_pron)
                line[i] = ' ';
        }
        emit(line, (size_t)len);
    }
    end_line();
    free(line);
    fclose(f);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: mkcorpus WORDNET_DICT_DIR SEED [TEXT_FILE...]\n");
        return 2;
    }
    rng = strtoull(argv[2], NULL, 10) * 2654435761u + 88172645463325252ull;
    map_cap = 1 << 18;
    keys = mr_xcalloc(map_cap, sizeof *keys);
    vals = mr_xcalloc(map_cap, sizeof *vals);
    read_data(argv[1], "data.noun", 'n');
    read_data(argv[1], "data.verb", 'v');
    read_data(argv[1], "data.adj", 'a');
    read_data(argv[1], "data.adv", 'r');
    link_all();
    emit_wordnet();
    for (int i = 3; i < argc; i++)
        emit_text(argv[i]);
    fprintf(stderr, "mkcorpus: %d synsets, %zu links\n", n_syn, n_pend);
    return 0;
}
