/*
 * lex_terms.c — the tokenizer of the lexical index (lexical.h): words and
 * identifiers cut by mr_embed_tokenize (one cutting rule for the embedders
 * and the index), then lower case beyond ASCII, stop words, Snowball stems;
 * and the term lists a document or a query becomes.
 */
#include <stdlib.h>
#include <string.h>

#include "lexical_int.h"
#include "memori/embed.h"
#include "memori/lexical.h"
#include "memori/util.h"

/*
 * English function words, sorted (strcmp order; test_lexical checks it).
 * Written for memori, not taken from a list: pronouns, articles,
 * auxiliaries, most prepositions and conjunctions, conversational fillers
 * (ok, thanks, please) and the fragments of contractions the cutting leaves
 * (don't → don, t). Kept as content, because rules and questions about
 * data turn on them: negations (not, no, never, don), quantifiers (all,
 * any, each, every, only, most, per), comparisons and time (before, after,
 * between, above, below, over, under, since, until, within, without),
 * "may" (the month) and "us" (the country).
 */
static const char *const stop_words[] = {
    "a",        "about",  "actually", "ah",      "also",       "although", "am",
    "an",       "and",    "another",  "anybody", "anyone",     "anything", "are",
    "as",       "at",     "be",       "because", "been",       "being",    "both",
    "but",      "by",     "can",      "could",   "d",          "did",      "do",
    "does",     "doing",  "down",     "during",  "either",     "else",     "etc",
    "even",     "ever",   "for",      "from",    "further",    "had",      "has",
    "have",     "having", "he",       "hello",   "her",        "here",     "hers",
    "herself",  "hey",    "hi",       "him",     "himself",    "his",      "how",
    "however",  "i",      "if",       "in",      "into",       "is",       "it",
    "its",      "itself", "just",     "let",     "ll",         "m",        "maybe",
    "me",       "might",  "must",     "my",      "myself",     "neither",  "now",
    "of",       "off",    "oh",       "ok",      "okay",       "on",       "once",
    "onto",     "or",     "our",      "ours",    "ourselves",  "out",      "own",
    "please",   "quite",  "rather",   "re",      "really",     "s",        "shall",
    "she",      "should", "so",       "some",    "somebody",   "someone",  "something",
    "such",     "sure",   "t",        "than",    "thank",      "thanks",   "that",
    "the",      "their",  "theirs",   "them",    "themselves", "then",     "there",
    "these",    "they",   "this",     "those",   "though",     "through",  "thus",
    "to",       "too",    "up",       "upon",    "ve",         "very",     "via",
    "was",      "we",     "well",     "were",    "what",       "whatever", "when",
    "whenever", "where",  "whereas",  "whether", "which",      "while",    "who",
    "whom",     "whose",  "why",      "will",    "with",       "would",    "yeah",
    "yes",      "yet",    "you",      "your",    "yours",      "yourself", "yourselves",
};

const char *const *mr_lex_stop_words(size_t *out_n)
{
    *out_n = sizeof stop_words / sizeof stop_words[0];
    return stop_words;
}

static bool is_stop_word(const char *w, size_t n)
{
    size_t lo = 0, hi = sizeof stop_words / sizeof stop_words[0];
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const char *s = stop_words[mid];
        int c = strncmp(s, w, n);
        if (c == 0 && s[n] != '\0')
            c = 1; /* s is longer: w sorts before it */
        if (c == 0)
            return true;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

/*
 * The length of s[0..n) without a UTF-8 sequence cut short at its end: the
 * cutting caps a word's bytes, and a term must never end inside a character.
 */
static size_t utf8_whole(const unsigned char *s, size_t n)
{
    size_t i = n, cont = 0;
    while (i > 0 && cont < 3 && (s[i - 1] & 0xC0) == 0x80)
        i--, cont++;
    if (i == 0 || s[i - 1] < 0xC0)
        return n; /* ends in ASCII, or stray continuation bytes: keep them as bytes */
    unsigned char lead = s[i - 1];
    size_t need = lead >= 0xF0 ? 3 : lead >= 0xE0 ? 2 : 1;
    return cont < need ? i - 1 : n;
}

/*
 * Lower case for the two-byte capitals of Latin-1, Greek and basic
 * Cyrillic, in place (each maps to two bytes). ASCII is already lower.
 * Lead bytes only are tested, so a continuation byte is never rewritten.
 */
static void lower_utf8(unsigned char *s, size_t n)
{
    for (size_t i = 0; i + 1 < n; i++) {
        unsigned char a = s[i], b = s[i + 1];
        if (a == 0xC3 && b >= 0x80 && b <= 0x9E && b != 0x97) { /* À..Þ except × */
            s[i + 1] = (unsigned char)(b + 0x20);
        } else if (a == 0xCE && b >= 0x91 && b <= 0x9F) { /* Α..Ο */
            s[i + 1] = (unsigned char)(b + 0x20);
        } else if (a == 0xCE && b >= 0xA0 && b <= 0xA9 && b != 0xA2) { /* Π..Ω */
            s[i] = 0xCF;
            s[i + 1] = (unsigned char)(b - 0x20);
        } else if (a == 0xD0 && b >= 0x80 && b <= 0x8F) { /* Ѐ..Џ */
            s[i] = 0xD1;
            s[i + 1] = (unsigned char)(b + 0x10);
        } else if (a == 0xD0 && b >= 0x90 && b <= 0x9F) { /* А..П */
            s[i + 1] = (unsigned char)(b + 0x20);
        } else if (a == 0xD0 && b >= 0xA0 && b <= 0xAF) { /* Р..Я */
            s[i] = 0xD1;
            s[i + 1] = (unsigned char)(b - 0x20);
        } else {
            continue;
        }
        i++;
    }
}

static bool has_ascii_letter(const char *w, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (w[i] >= 'a' && w[i] <= 'z')
            return true;
    return false;
}

struct cut {
    mr_lex_term_fn fn;
    void *arg;
};

static void on_word(void *arg, const char *w, size_t n, int is_part)
{
    struct cut *c = arg;
    char low[MR_LEX_MAX_WORD], stem[MR_LEX_MAX_WORD];
    if (n > sizeof low)
        n = sizeof low;
    memcpy(low, w, n);
    n = utf8_whole((const unsigned char *)low, n);
    if (n == 0)
        return;
    lower_utf8((unsigned char *)low, n);
    if (is_stop_word(low, n))
        return;
    /* Whole identifiers stay exact: they are names, matched as names. */
    if (is_part < 0 || !has_ascii_letter(low, n)) {
        c->fn(c->arg, low, n);
        return;
    }
    size_t m = mr_lex_stem(low, n, stem);
    c->fn(c->arg, stem, m);
}

void mr_lex_tokenize(const char *text, size_t len, mr_lex_term_fn fn, void *arg)
{
    struct cut c = {fn, arg};
    mr_embed_tokenize(text, len, on_word, &c);
}

/* ------------------------------------------------------------ term lists */

struct mr_lex_terms {
    size_t n, cap;
    uint32_t *off, *len, *tf;
    char *buf;
    size_t buf_len, buf_cap;
    uint32_t length;
    uint32_t *set; /* open addressing over the terms: index + 1, 0 = empty */
    size_t set_cap;
};

static void set_grow(struct mr_lex_terms *t)
{
    size_t cap = t->set_cap ? t->set_cap * 2 : 16;
    uint32_t *set = mr_xcalloc(cap, sizeof *set);
    for (size_t i = 0; i < t->n; i++) {
        size_t j = mr_lex_hash(t->buf + t->off[i], t->len[i]) & (cap - 1);
        while (set[j])
            j = (j + 1) & (cap - 1);
        set[j] = (uint32_t)i + 1;
    }
    free(t->set);
    t->set = set;
    t->set_cap = cap;
}

static void add_term(void *arg, const char *w, size_t n)
{
    struct mr_lex_terms *t = arg;
    if (t->length < UINT32_MAX)
        t->length++;
    if ((t->n + 1) * 2 > t->set_cap)
        set_grow(t);
    size_t mask = t->set_cap - 1, j = mr_lex_hash(w, n) & mask;
    for (; t->set[j]; j = (j + 1) & mask) {
        size_t i = t->set[j] - 1;
        if (t->len[i] == n && memcmp(t->buf + t->off[i], w, n) == 0) {
            if (t->tf[i] < UINT32_MAX)
                t->tf[i]++;
            return;
        }
    }
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 16;
        t->off = mr_xrealloc(t->off, t->cap * sizeof *t->off);
        t->len = mr_xrealloc(t->len, t->cap * sizeof *t->len);
        t->tf = mr_xrealloc(t->tf, t->cap * sizeof *t->tf);
    }
    if (t->buf_len + n > t->buf_cap) {
        t->buf_cap = (t->buf_len + n) * 2 + 64;
        t->buf = mr_xrealloc(t->buf, t->buf_cap);
    }
    memcpy(t->buf + t->buf_len, w, n);
    t->off[t->n] = (uint32_t)t->buf_len;
    t->len[t->n] = (uint32_t)n;
    t->tf[t->n] = 1;
    t->buf_len += n;
    t->set[j] = (uint32_t)++t->n;
}

struct mr_lex_terms *mr_lex_terms_new(const char *text, size_t len)
{
    struct mr_lex_terms *t = mr_xcalloc(1, sizeof *t);
    mr_lex_tokenize(text, len, add_term, t);
    return t;
}

void mr_lex_terms_free(struct mr_lex_terms *t)
{
    if (!t)
        return;
    free(t->off);
    free(t->len);
    free(t->tf);
    free(t->buf);
    free(t->set);
    free(t);
}

size_t mr_lex_terms_count(const struct mr_lex_terms *t)
{
    return t->n;
}

const char *mr_lex_terms_term(const struct mr_lex_terms *t, size_t i, size_t *out_n)
{
    *out_n = t->len[i];
    return t->buf + t->off[i];
}

uint32_t mr_lex_terms_tf(const struct mr_lex_terms *t, size_t i)
{
    return t->tf[i];
}

uint32_t mr_lex_terms_length(const struct mr_lex_terms *t)
{
    return t->length;
}
