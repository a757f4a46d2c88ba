/*
 * lex_index.c — the in-process inverted index of one partition (lexical.h).
 *
 * Documents live in slots numbered in the order they were put; a term's
 * postings (slot, tf, the document's length) are appended, so they stay
 * sorted by slot and one document's tf is a binary search away
 * (mr_lex_index_score). A removed or replaced document marks its slot and
 * its postings dead (a binary search per term) and takes its length and its
 * terms' df out of the statistics at once; its postings stay until dead
 * slots outnumber half the live ones, when one pass (compact) drops them,
 * renumbers the slots and forgets the terms no document holds any more.
 * A write is then O(its terms · log a term's postings), never O(a term's
 * postings).
 */
#include <stdlib.h>
#include <string.h>

#include "lexical_int.h"
#include "memori/lexical.h"
#include "memori/util.h"

#define NO_SLOT UINT32_MAX
#define DEAD_LEN UINT32_MAX
#define COMPACT_MIN_DEAD 32 /* a few dead slots cost nothing: compact in batches */

/*
 * A posting holds its document's length beside its tf, so term at a time
 * reads the length from the posting it is adding instead of slot_len at
 * random (a miss per posting once the graph's walk has evicted slot_len).
 * Both fit in 16 bits for any document under 65 535 terms: the posting
 * stays 8 bytes. A larger length or tf reads BIG_POSTING here and the
 * value from slot_len (the length) or the document's big tfs (struct doc).
 * A removed document's postings read DEAD_POSTING as their length, set
 * by remove (a binary search per term of the document) until a compaction
 * drops them.
 */
struct posting {
    uint32_t slot;
    uint16_t tf;  /* BIG_POSTING: the document's tf of this term is in its big tfs */
    uint16_t len; /* the document's length; BIG_POSTING: in slot_len; DEAD_POSTING: removed */
};

#define BIG_POSTING UINT16_MAX
#define DEAD_POSTING 0 /* a document with a posting holds at least one term */

struct term {
    uint32_t str_off, len; /* bytes in ix->strings */
    uint32_t df;           /* live documents holding the term */
    uint32_t n, cap;       /* postings, live and dead */
    struct posting *post;
    /*
     * The largest tf and the shortest document among the postings (dead
     * ones included until a compaction): BM25 grows with tf and shrinks with
     * the length, so the term's contribution to any document is at most
     * mr_lex_bm25_term(idf, max_tf, min_len, avg) — the bound that lets a
     * search skip documents (search_with below).
     */
    uint32_t max_tf, min_len;
};

struct doc {
    int64_t id;
    uint32_t len;     /* terms with repeats, the BM25 length */
    uint32_t n_terms; /* distinct */
    /*
     * Indexes into ix->terms; NULL once dead. When big_tf, n_terms more
     * entries follow: each term's tf (some are >= BIG_POSTING).
     */
    uint32_t *terms;
    bool live;
    bool big_tf;
};

struct mr_lex_index {
    struct term *terms;
    uint32_t n_terms, terms_cap;
    uint32_t *term_table; /* open addressing: term index + 1, 0 = empty */
    uint32_t term_table_cap;
    char *strings;
    size_t strings_len, strings_cap;

    struct doc *docs;
    /*
     * Each slot's length, DEAD_LEN once removed: what a search reads per
     * posting, kept apart from struct doc so a walk over postings touches
     * 4 bytes a document instead of a 32-byte record (the cache misses on
     * docs were most of a search's time at 100 k documents).
     */
    uint32_t *slot_len;
    int64_t *slot_id; /* each slot's id, for the same reason: read per document entering a top k */
    uint32_t n_slots, docs_cap, n_dead;
    uint32_t *id_table; /* open addressing over live documents: slot + 1, 0 = empty */
    uint32_t id_table_cap;

    uint64_t n_live, total_len;
};

/* The tf of term (an index into ix->terms) that posting p (live) holds. */
static uint32_t posting_tf(const struct mr_lex_index *ix, uint32_t term, const struct posting *p)
{
    if (p->tf != BIG_POSTING)
        return p->tf;
    const struct doc *d = &ix->docs[p->slot];
    for (uint32_t k = 0; k < d->n_terms; k++)
        if (d->terms[k] == term)
            return d->terms[d->n_terms + k];
    return BIG_POSTING; /* unreachable: a posting's term is among its document's */
}

/* The length of the document of posting p (live). */
static uint32_t posting_len(const struct mr_lex_index *ix, const struct posting *p)
{
    return p->len != BIG_POSTING ? p->len : ix->slot_len[p->slot];
}

/* The posting of slot s in term t's list (which holds one), by binary search. */
static struct posting *posting_of(struct term *t, uint32_t s)
{
    uint32_t lo = 0, hi = t->n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (t->post[mid].slot < s)
            lo = mid + 1;
        else
            hi = mid;
    }
    return &t->post[lo];
}

static uint64_t id_hash(int64_t id)
{
    uint64_t x = (uint64_t)id + UINT64_C(0x9e3779b97f4a7c15); /* splitmix64's finaliser */
    x = (x ^ (x >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    x = (x ^ (x >> 27)) * UINT64_C(0x94d049bb133111eb);
    return x ^ (x >> 31);
}

/* ------------------------------------------------------------ vocabulary */

static const char *term_bytes(const struct mr_lex_index *ix, const struct term *t)
{
    return ix->strings + t->str_off;
}

static void term_table_build(struct mr_lex_index *ix, uint32_t cap)
{
    free(ix->term_table);
    ix->term_table = mr_xcalloc(cap, sizeof *ix->term_table);
    ix->term_table_cap = cap;
    for (uint32_t i = 0; i < ix->n_terms; i++) {
        const struct term *t = &ix->terms[i];
        uint32_t j = (uint32_t)mr_lex_hash(term_bytes(ix, t), t->len) & (cap - 1);
        while (ix->term_table[j])
            j = (j + 1) & (cap - 1);
        ix->term_table[j] = i + 1;
    }
}

/* The term's index, or NO_SLOT. */
static uint32_t term_find(const struct mr_lex_index *ix, const char *w, size_t n)
{
    if (!ix->term_table_cap)
        return NO_SLOT;
    uint32_t mask = ix->term_table_cap - 1;
    for (uint32_t j = (uint32_t)mr_lex_hash(w, n) & mask; ix->term_table[j]; j = (j + 1) & mask) {
        const struct term *t = &ix->terms[ix->term_table[j] - 1];
        if (t->len == n && memcmp(term_bytes(ix, t), w, n) == 0)
            return ix->term_table[j] - 1;
    }
    return NO_SLOT;
}

/* The term's index, added (df 0, no postings) when new. */
static uint32_t term_intern(struct mr_lex_index *ix, const char *w, size_t n)
{
    uint32_t i = term_find(ix, w, n);
    if (i != NO_SLOT)
        return i;
    if ((ix->n_terms + 1) * 2 > ix->term_table_cap)
        term_table_build(ix, ix->term_table_cap ? ix->term_table_cap * 2 : 64);
    if (ix->n_terms == ix->terms_cap) {
        ix->terms_cap = ix->terms_cap ? ix->terms_cap * 2 : 64;
        ix->terms = mr_xrealloc(ix->terms, (size_t)ix->terms_cap * sizeof *ix->terms);
    }
    if (ix->strings_len + n > ix->strings_cap) {
        ix->strings_cap = (ix->strings_len + n) * 2;
        ix->strings = mr_xrealloc(ix->strings, ix->strings_cap);
    }
    memcpy(ix->strings + ix->strings_len, w, n);
    i = ix->n_terms++;
    ix->terms[i] = (struct term){
        .str_off = (uint32_t)ix->strings_len, .len = (uint32_t)n, .min_len = UINT32_MAX};
    ix->strings_len += n;
    uint32_t mask = ix->term_table_cap - 1, j = (uint32_t)mr_lex_hash(w, n) & mask;
    while (ix->term_table[j])
        j = (j + 1) & mask;
    ix->term_table[j] = i + 1;
    return i;
}

/* ------------------------------------------------------------- documents */

static void id_table_build(struct mr_lex_index *ix, uint32_t cap)
{
    free(ix->id_table);
    ix->id_table = mr_xcalloc(cap, sizeof *ix->id_table);
    ix->id_table_cap = cap;
    for (uint32_t s = 0; s < ix->n_slots; s++) {
        if (!ix->docs[s].live)
            continue;
        uint32_t j = (uint32_t)id_hash(ix->slot_id[s]) & (cap - 1);
        while (ix->id_table[j])
            j = (j + 1) & (cap - 1);
        ix->id_table[j] = s + 1;
    }
}

/* The id table position holding id, or NO_SLOT. */
static uint32_t id_pos(const struct mr_lex_index *ix, int64_t id)
{
    if (!ix->id_table_cap)
        return NO_SLOT;
    uint32_t mask = ix->id_table_cap - 1;
    for (uint32_t j = (uint32_t)id_hash(id) & mask; ix->id_table[j]; j = (j + 1) & mask)
        if (ix->slot_id[ix->id_table[j] - 1] == id)
            return j;
    return NO_SLOT;
}

static uint32_t slot_of(const struct mr_lex_index *ix, int64_t id)
{
    uint32_t j = id_pos(ix, id);
    return j == NO_SLOT ? NO_SLOT : ix->id_table[j] - 1;
}

/* Empties position j of the id table, shifting later entries of its run back (no tombstones). */
static void id_table_delete(struct mr_lex_index *ix, uint32_t j)
{
    uint32_t mask = ix->id_table_cap - 1, i = j;
    for (uint32_t k = (j + 1) & mask; ix->id_table[k]; k = (k + 1) & mask) {
        uint32_t home = (uint32_t)id_hash(ix->slot_id[ix->id_table[k] - 1]) & mask;
        /* The entry at k may move to the hole at i when its home is not in (i, k]. */
        bool stays = i <= k ? (home > i && home <= k) : (home > i || home <= k);
        if (!stays) {
            ix->id_table[i] = ix->id_table[k];
            i = k;
        }
    }
    ix->id_table[i] = 0;
}

/*
 * Drops dead slots' postings, renumbers the live slots in order (postings
 * stay sorted) and forgets terms with df 0, remapping the documents' term
 * lists; O(postings + vocabulary).
 */
static void compact(struct mr_lex_index *ix)
{
    uint32_t *slot_map = mr_xmalloc(((size_t)ix->n_slots + 1) * sizeof *slot_map);
    uint32_t n_slots = 0;
    for (uint32_t s = 0; s < ix->n_slots; s++)
        slot_map[s] = ix->docs[s].live ? n_slots++ : NO_SLOT;
    uint32_t *term_map = mr_xmalloc(((size_t)ix->n_terms + 1) * sizeof *term_map);
    uint32_t n_terms = 0;
    size_t strings_len = 0;
    for (uint32_t i = 0; i < ix->n_terms; i++) {
        struct term *t = &ix->terms[i];
        if (t->df == 0) {
            free(t->post);
            term_map[i] = NO_SLOT;
            continue;
        }
        uint32_t m = 0;
        t->max_tf = 0;
        t->min_len = UINT32_MAX;
        for (uint32_t p = 0; p < t->n; p++) {
            uint32_t s = slot_map[t->post[p].slot];
            if (s == NO_SLOT)
                continue;
            /* The docs array is renumbered below: the old slot still names this one. */
            uint32_t len = ix->docs[t->post[p].slot].len;
            uint32_t tf = posting_tf(ix, i, &t->post[p]);
            t->max_tf = tf > t->max_tf ? tf : t->max_tf;
            t->min_len = len < t->min_len ? len : t->min_len;
            t->post[m++] = (struct posting){s, t->post[p].tf, t->post[p].len};
        }
        t->n = m;
        if (t->cap > 2 * m + 4) {
            t->cap = m;
            t->post = mr_xrealloc(t->post, (size_t)m * sizeof *t->post);
        }
        /* Strings move down only (strings_len <= str_off), so memmove in place is safe. */
        memmove(ix->strings + strings_len, ix->strings + t->str_off, t->len);
        t->str_off = (uint32_t)strings_len;
        strings_len += t->len;
        term_map[i] = n_terms;
        ix->terms[n_terms++] = *t;
    }
    for (uint32_t s = 0; s < ix->n_slots; s++) {
        struct doc *d = &ix->docs[s];
        if (!d->live)
            continue;
        for (uint32_t k = 0; k < d->n_terms; k++)
            d->terms[k] = term_map[d->terms[k]];
        ix->docs[slot_map[s]] = *d;
        ix->slot_len[slot_map[s]] = d->len;
        ix->slot_id[slot_map[s]] = d->id;
    }
    ix->n_slots = n_slots;
    ix->n_terms = n_terms;
    ix->strings_len = strings_len;
    ix->n_dead = 0;
    free(slot_map);
    free(term_map);
    uint32_t cap = 64;
    while (cap < 2 * (n_terms + 1))
        cap *= 2;
    term_table_build(ix, cap);
    id_table_build(ix, ix->id_table_cap);
}

struct mr_lex_index *mr_lex_index_new(void)
{
    return mr_xcalloc(1, sizeof(struct mr_lex_index));
}

void mr_lex_index_destroy(struct mr_lex_index *ix)
{
    if (!ix)
        return;
    for (uint32_t i = 0; i < ix->n_terms; i++)
        free(ix->terms[i].post);
    for (uint32_t s = 0; s < ix->n_slots; s++)
        free(ix->docs[s].terms);
    free(ix->terms);
    free(ix->term_table);
    free(ix->strings);
    free(ix->docs);
    free(ix->slot_len);
    free(ix->slot_id);
    free(ix->id_table);
    free(ix);
}

void mr_lex_index_remove(struct mr_lex_index *ix, int64_t id)
{
    uint32_t j = id_pos(ix, id);
    if (j == NO_SLOT)
        return;
    uint32_t slot = ix->id_table[j] - 1;
    struct doc *d = &ix->docs[slot];
    for (uint32_t k = 0; k < d->n_terms; k++) {
        struct term *t = &ix->terms[d->terms[k]];
        t->df--;
        posting_of(t, slot)->len = DEAD_POSTING;
    }
    ix->total_len -= d->len;
    ix->n_live--;
    free(d->terms);
    d->terms = NULL;
    d->n_terms = 0;
    d->live = false;
    d->big_tf = false;
    ix->slot_len[slot] = DEAD_LEN;
    ix->n_dead++;
    id_table_delete(ix, j);
    if (ix->n_dead >= COMPACT_MIN_DEAD && ix->n_dead > ix->n_live / 2)
        compact(ix);
}

void mr_lex_index_put(struct mr_lex_index *ix, int64_t id, const char *text, size_t len)
{
    mr_lex_index_remove(ix, id);
    struct mr_lex_terms *t = mr_lex_terms_new(text, len);
    size_t n = mr_lex_terms_count(t);
    if (ix->n_slots == ix->docs_cap) {
        ix->docs_cap = ix->docs_cap ? ix->docs_cap * 2 : 64;
        ix->docs = mr_xrealloc(ix->docs, (size_t)ix->docs_cap * sizeof *ix->docs);
        ix->slot_len = mr_xrealloc(ix->slot_len, (size_t)ix->docs_cap * sizeof *ix->slot_len);
        ix->slot_id = mr_xrealloc(ix->slot_id, (size_t)ix->docs_cap * sizeof *ix->slot_id);
    }
    uint32_t slot = ix->n_slots++;
    struct doc *d = &ix->docs[slot];
    bool big_tf = false;
    for (size_t i = 0; i < n && !big_tf; i++)
        big_tf = mr_lex_terms_tf(t, i) >= BIG_POSTING;
    *d = (struct doc){.id = id,
                      .len = mr_lex_terms_length(t),
                      .n_terms = (uint32_t)n,
                      .terms = n ? mr_xmalloc((big_tf ? 2 : 1) * n * sizeof *d->terms) : NULL,
                      .live = true,
                      .big_tf = big_tf};
    uint16_t len16 = d->len < BIG_POSTING ? (uint16_t)d->len : BIG_POSTING;
    ix->slot_len[slot] = d->len;
    ix->slot_id[slot] = id;
    for (size_t i = 0; i < n; i++) {
        size_t wn;
        const char *w = mr_lex_terms_term(t, i, &wn);
        uint32_t ti = term_intern(ix, w, wn);
        struct term *tm = &ix->terms[ti];
        if (tm->n == tm->cap) {
            tm->cap = tm->cap ? tm->cap * 2 : 2;
            tm->post = mr_xrealloc(tm->post, (size_t)tm->cap * sizeof *tm->post);
        }
        uint32_t tf = mr_lex_terms_tf(t, i);
        tm->post[tm->n++] =
            (struct posting){slot, tf < BIG_POSTING ? (uint16_t)tf : BIG_POSTING, len16};
        if (big_tf)
            d->terms[n + i] = tf;
        tm->df++;
        tm->max_tf = tf > tm->max_tf ? tf : tm->max_tf;
        tm->min_len = d->len < tm->min_len ? d->len : tm->min_len;
        d->terms[i] = ti;
    }
    ix->n_live++;
    ix->total_len += d->len;
    if ((ix->n_live + 1) * 2 > ix->id_table_cap)
        id_table_build(ix, ix->id_table_cap ? ix->id_table_cap * 2 : 64);
    else {
        uint32_t mask = ix->id_table_cap - 1, j = (uint32_t)id_hash(id) & mask;
        while (ix->id_table[j])
            j = (j + 1) & mask;
        ix->id_table[j] = slot + 1;
    }
    mr_lex_terms_free(t);
}

bool mr_lex_index_contains(const struct mr_lex_index *ix, int64_t id)
{
    return id_pos(ix, id) != NO_SLOT;
}

void mr_lex_index_stats(const struct mr_lex_index *ix, uint64_t *out_docs, uint64_t *out_total_len)
{
    *out_docs = ix->n_live;
    *out_total_len = ix->total_len;
}

uint64_t mr_lex_index_df(const struct mr_lex_index *ix, const char *term, size_t n)
{
    uint32_t i = term_find(ix, term, n);
    return i == NO_SLOT ? 0 : ix->terms[i].df;
}

size_t mr_lex_index_bytes(const struct mr_lex_index *ix)
{
    size_t b =
        sizeof *ix + (size_t)ix->terms_cap * sizeof *ix->terms +
        (size_t)ix->term_table_cap * sizeof *ix->term_table + ix->strings_cap +
        (size_t)ix->docs_cap * (sizeof *ix->docs + sizeof *ix->slot_len + sizeof *ix->slot_id) +
        (size_t)ix->id_table_cap * sizeof *ix->id_table;
    for (uint32_t i = 0; i < ix->n_terms; i++)
        b += (size_t)ix->terms[i].cap * sizeof(struct posting);
    for (uint32_t s = 0; s < ix->n_slots; s++)
        b += (size_t)ix->docs[s].n_terms * (ix->docs[s].big_tf ? 2 : 1) * sizeof(uint32_t);
    return b;
}

/* ---------------------------------------------------------------- search */

/* A query term as this partition knows it. */
struct qterm {
    uint32_t term; /* NO_SLOT: no document of ix holds it */
    double idf;    /* from the statistics' partition */
};

/*
 * Resolves q's terms: postings from ix, idf from st's statistics (st == ix
 * for a partition's own; NULL for an empty partition's). Returns the
 * normaliser, which depends on st only. qt holds mr_lex_terms_count(q) entries.
 */
static double resolve(const struct mr_lex_index *ix, const struct mr_lex_index *st,
                      const struct mr_lex_terms *q, struct qterm *qt)
{
    double max = 0;
    uint64_t n_docs = st ? st->n_live : 0;
    for (size_t i = 0, n = mr_lex_terms_count(q); i < n; i++) {
        size_t wn;
        const char *w = mr_lex_terms_term(q, i, &wn);
        uint32_t t = ix ? term_find(ix, w, wn) : NO_SLOT;
        if (t != NO_SLOT && ix->terms[t].df == 0)
            t = NO_SLOT; /* only dead postings left */
        uint64_t df = 0;
        if (st == ix)
            df = t == NO_SLOT ? 0 : ix->terms[t].df;
        else if (st)
            df = mr_lex_index_df(st, w, wn);
        qt[i] = (struct qterm){t, mr_lex_idf(df, n_docs)};
        max += mr_lex_term_max(qt[i].idf);
    }
    return max;
}

static double avg_len_of(const struct mr_lex_index *st)
{
    return st ? mr_lex_avg_len(st->total_len, st->n_live) : 0;
}

double mr_lex_index_max(const struct mr_lex_index *ix, const struct mr_lex_terms *q)
{
    size_t n = mr_lex_terms_count(q);
    struct qterm *qt = mr_xmalloc((n + 1) * sizeof *qt);
    double max = resolve(ix, ix, q, qt);
    free(qt);
    return max;
}

/* A query term's postings as a search or a batch of scores walks them, in slot order. */
struct cursor {
    const struct posting *p, *end;
    double ub;   /* the term's bound for this query (idf and avg of the statistics) */
    uint32_t qi; /* the term's position in the query: the order of the sum */
};

/* Moves c to its first posting at or after slot s (galloping: O(log distance)). */
static void cursor_seek(struct cursor *c, uint32_t s)
{
    if (c->p == c->end || c->p->slot >= s)
        return;
    const struct posting *lo = c->p; /* lo->slot < s */
    size_t step = 1;
    while (step < (size_t)(c->end - lo) && lo[step].slot < s) {
        lo += step;
        step *= 2;
    }
    const struct posting *hi = step < (size_t)(c->end - lo) ? lo + step : c->end;
    lo++;
    while (lo < hi) {
        const struct posting *mid = lo + (hi - lo) / 2;
        if (mid->slot < s)
            lo = mid + 1;
        else
            hi = mid;
    }
    c->p = lo;
}

struct slot_ref {
    uint32_t slot; /* NO_SLOT: not a document of ix */
    uint32_t k;    /* the id's position in the caller's array */
};

static int by_slot(const void *a, const void *b)
{
    const struct slot_ref *x = a, *y = b;
    return (x->slot > y->slot) - (x->slot < y->slot);
}

/*
 * The ids' slots in slot order, then each query term's postings walked once
 * forward to them (galloping), in the query's term order: each document's
 * sum is added in the order a search adds it, so the bits are the same.
 */
void mr_lex_index_score_with(const struct mr_lex_index *ix, const struct mr_lex_index *stats,
                             const struct mr_lex_terms *q, const int64_t *ids, size_t n_ids,
                             double *out_bm25)
{
    size_t n = mr_lex_terms_count(q);
    for (size_t k = 0; k < n_ids; k++)
        out_bm25[k] = 0;
    if (n == 0 || n_ids == 0)
        return;
    struct qterm *qt = mr_xmalloc((n + 1) * sizeof *qt);
    resolve(ix, stats, q, qt);
    double avg = avg_len_of(stats);
    struct slot_ref *refs = mr_xmalloc(n_ids * sizeof *refs);
    size_t n_refs = 0;
    for (size_t k = 0; k < n_ids; k++) {
        uint32_t s = slot_of(ix, ids[k]);
        if (s != NO_SLOT)
            refs[n_refs++] = (struct slot_ref){s, (uint32_t)k};
    }
    qsort(refs, n_refs, sizeof *refs, by_slot);
    for (size_t i = 0; i < n; i++) {
        if (qt[i].term == NO_SLOT)
            continue;
        const struct term *t = &ix->terms[qt[i].term];
        struct cursor c = {t->post, t->post + t->n, 0, (uint32_t)i};
        for (size_t r = 0; r < n_refs && c.p < c.end; r++) {
            cursor_seek(&c, refs[r].slot);
            if (c.p < c.end && c.p->slot == refs[r].slot)
                out_bm25[refs[r].k] += mr_lex_bm25_term(qt[i].idf, posting_tf(ix, qt[i].term, c.p),
                                                        ix->slot_len[refs[r].slot], avg);
        }
    }
    free(refs);
    free(qt);
}

double mr_lex_index_score(const struct mr_lex_index *ix, const struct mr_lex_terms *q, int64_t id)
{
    double bm25;
    mr_lex_index_score_with(ix, ix, q, &id, 1, &bm25);
    return bm25;
}

/* a ranks below b: a lower score, or the same score and a higher id. */
static bool worse(const struct mr_lex_hit *a, const struct mr_lex_hit *b)
{
    return a->bm25 < b->bm25 || (a->bm25 == b->bm25 && a->id > b->id);
}

/* Restores the heap (worst hit at the root) below position i. */
static void sift_down(struct mr_lex_hit *h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && worse(&h[l], &h[m]))
            m = l;
        if (r < n && worse(&h[r], &h[m]))
            m = r;
        if (m == i)
            return;
        struct mr_lex_hit t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

static void sift_up(struct mr_lex_hit *h, size_t i)
{
    while (i > 0 && worse(&h[i], &h[(i - 1) / 2])) {
        struct mr_lex_hit t = h[i];
        h[i] = h[(i - 1) / 2];
        h[(i - 1) / 2] = t;
        i = (i - 1) / 2;
    }
}

static int best_first(const void *a, const void *b)
{
    const struct mr_lex_hit *x = a, *y = b;
    return worse(y, x) ? -1 : worse(x, y) ? 1 : 0;
}

size_t mr_lex_index_search(const struct mr_lex_index *ix, const struct mr_lex_terms *q,
                           mr_lex_accept_fn accept, void *arg, size_t limit, struct mr_lex_hit *out,
                           double *out_max)
{
    return mr_lex_index_search_with(ix, ix, q, accept, arg, limit, out, out_max);
}

/*
 * Search: term at a time (search_taat below) for most queries, and for
 * those where one term holds most of the postings, document at a time with
 * MaxScore's skipping (Turtle & Flood 1995), the walk of search_filtered.
 * Each query term's postings are walked by a cursor in slot order. Terms
 * are ranked by their bound (struct term); once the heap holds `limit`
 * hits, the lowest-bound terms whose bounds sum below the worst hit's score
 * are "non-essential": a document holding only those cannot enter, so only
 * the other terms' postings choose the documents to score, and the
 * non-essential ones are looked up by galloping to that slot. A document
 * is dropped as soon as its partial score plus the bounds of the terms not
 * yet looked up fall below the worst hit. The score of a document that is
 * kept is summed in the query's term order, as mr_lex_index_score sums it,
 * so the hits, their order and their bits are the exhaustive search's
 * (test_search_skipping_matches_exhaustive_scoring; term at a time:
 * test_search_across_blocks_matches_exhaustive_scoring). Bounds are compared
 * with a relative slack of 1e-9, far above the rounding of a sum of a few
 * terms, so rounding never drops a document that ties the worst hit.
 */
#define BOUND_SLACK (1 + 1e-9)

/*
 * Whether the document in slot s, scoring score, would enter the heap
 * out[0..n) of at most limit; if so, *h is its hit. Its id (a cache miss)
 * is read only when the score alone does not settle it — reading it from
 * the 32-byte struct doc for every scored document was a third of a deep
 * search's time at 100 k documents.
 */
static bool would_enter(const struct mr_lex_index *ix, const struct mr_lex_hit *out, size_t n,
                        size_t limit, uint32_t s, double score, struct mr_lex_hit *h)
{
    if (n == limit && score < out[0].bm25)
        return false;
    *h = (struct mr_lex_hit){ix->slot_id[s], score, 0};
    return n < limit || worse(&out[0], h);
}

/* Adds hit h (accepted) to the heap out[0..*n) of at most limit. */
static void heap_add(struct mr_lex_hit *out, size_t *n, size_t limit, struct mr_lex_hit h)
{
    if (*n < limit) {
        out[*n] = h;
        sift_up(out, (*n)++);
    } else {
        out[0] = h;
        sift_down(out, *n, 0);
    }
}

/*
 * Term at a time, over the slots in blocks of TAAT_BLOCK: for each block,
 * each query term's postings in that block (in query term order) add into
 * an accumulator per slot of the block, so a document's sum is added in
 * the order mr_lex_index_score adds it (the same bits); a bit per slot
 * marks the scored ones, each then offered to the heap, its sum kept
 * (struct mr_lex_scores, for the same query's later scores) and its
 * accumulator zeroed again. A block's accumulators (32 KB) and lengths stay in the
 * core's cache while its postings are added, where one accumulator per
 * slot of the partition (800 KB at 100 k) missed it on most postings and
 * a hash table sized by the postings probed on every one. About 5 ns a
 * posting at 100 k documents, against 30–40 ns a document visited for the
 * walk below: at limit 20, on queries of many terms whose bounds are close
 * (most questions), the walk skips almost nothing and visits thousands of
 * documents (docs/perf.md).
 */
#define TAAT_BLOCK 4096
/* Deeper searches (hybrid's k' = 100 before the rescoring depth came down) always take it. */
#define TAAT_MIN_LIMIT 32
/*
 * Shallower ones walk (search_filtered) when one term holds more than 4/5
 * of the query's postings: of the development sets' questions and gloss
 * words at 100 k memories, the ones where the walk was faster (docs/perf.md).
 */
#define WALK_SHARE_NUM 4
#define WALK_SHARE_DEN 5

/*
 * Every document's BM25 a term-at-a-time search added up (lexical.h): a
 * bit per slot for the scored ones, and their sums in slot order.
 */
struct mr_lex_scores {
    uint64_t *bits;   /* bit s % 64 of word s / 64: slot s was scored */
    uint32_t *rank;   /* per word: the scored slots before it */
    double *bm25;     /* the scored slots' sums, in slot order */
    uint32_t n_slots; /* of the index when scored */
};

void mr_lex_scores_free(struct mr_lex_scores *sc)
{
    if (!sc)
        return;
    free(sc->bits);
    free(sc->rank);
    free(sc->bm25);
    free(sc);
}

/* The kept BM25 of slot s (< sc->n_slots): 0 when it holds no query term. */
static double kept_bm25(const struct mr_lex_scores *sc, uint32_t s)
{
    uint64_t w = sc->bits[s / 64], bit = UINT64_C(1) << (s % 64);
    if (!(w & bit))
        return 0;
    return sc->bm25[sc->rank[s / 64] + (uint32_t)__builtin_popcountll(w & (bit - 1))];
}

static size_t search_taat(const struct mr_lex_index *ix, const struct qterm *qt, size_t nq,
                          double avg, mr_lex_accept_fn accept, void *arg, size_t limit,
                          struct mr_lex_hit *out, struct mr_lex_scores **keep)
{
    size_t block = ix->n_slots < TAAT_BLOCK ? ix->n_slots : TAAT_BLOCK, n_post = 0;
    for (size_t i = 0; i < nq; i++)
        n_post += qt[i].term == NO_SLOT ? 0 : ix->terms[qt[i].term].n;
    size_t n_words = ((size_t)ix->n_slots + 63) / 64;
    struct mr_lex_scores *sc = mr_xmalloc(sizeof *sc);
    *sc = (struct mr_lex_scores){mr_xcalloc(n_words + 1, sizeof *sc->bits),
                                 mr_xmalloc((n_words + 1) * sizeof *sc->rank),
                                 mr_xmalloc((n_post + 1) * sizeof *sc->bm25), ix->n_slots};
    double *acc = mr_xcalloc(block + 1, sizeof *acc);
    const struct posting **at = mr_xmalloc((nq + 1) * sizeof *at);
    for (size_t i = 0; i < nq; i++)
        at[i] = qt[i].term == NO_SLOT ? NULL : ix->terms[qt[i].term].post;
    size_t n = 0;
    uint32_t n_kept = 0;
    for (uint32_t base = 0; base < ix->n_slots; base += TAAT_BLOCK) {
        uint32_t stop = base + TAAT_BLOCK;
        for (size_t i = 0; i < nq; i++) {
            if (!at[i])
                continue;
            const struct term *t = &ix->terms[qt[i].term];
            const struct posting *p = at[i], *end = t->post + t->n;
            for (; p < end && p->slot < stop; p++) {
                if (p->len == DEAD_POSTING)
                    continue;
                sc->bits[p->slot / 64] |= UINT64_C(1) << (p->slot % 64);
                /* The first: 0 + c, the bits a sum from zero gives. */
                acc[p->slot - base] += mr_lex_bm25_term(qt[i].idf, posting_tf(ix, qt[i].term, p),
                                                        posting_len(ix, p), avg);
            }
            at[i] = p;
        }
        /* The block's scored slots in order: kept, offered to the heap, zeroed again. */
        uint32_t w_stop = stop < ix->n_slots ? stop / 64 : (uint32_t)n_words;
        for (uint32_t w = base / 64; w < w_stop; w++) {
            sc->rank[w] = n_kept;
            for (uint64_t x = sc->bits[w]; x; x &= x - 1) {
                uint32_t s = w * 64 + (uint32_t)__builtin_ctzll(x);
                double score = acc[s - base];
                acc[s - base] = 0;
                sc->bm25[n_kept++] = score;
                struct mr_lex_hit h;
                if (!would_enter(ix, out, n, limit, s, score, &h))
                    continue;
                if (accept && !accept(arg, h.id))
                    continue;
                heap_add(out, &n, limit, h);
            }
        }
    }
    free(at);
    free(acc);
    if (keep)
        *keep = sc;
    else
        mr_lex_scores_free(sc);
    return n;
}

/* The best `limit` accepted documents (accept NULL: all), the filter asked on the way. */
static size_t search_filtered(const struct mr_lex_index *ix, const struct mr_lex_index *stats,
                              const struct mr_lex_terms *q, mr_lex_accept_fn accept, void *arg,
                              size_t limit, struct mr_lex_hit *out, double *out_max,
                              struct mr_lex_scores **keep)
{
    size_t nq = mr_lex_terms_count(q);
    struct qterm *qt = mr_xmalloc((nq + 1) * sizeof *qt);
    double max = resolve(ix, stats, q, qt);
    if (out_max)
        *out_max = max;
    double avg = avg_len_of(stats);
    struct cursor *cur = mr_xmalloc((nq + 1) * sizeof *cur);
    size_t m = 0;
    for (size_t i = 0; i < nq; i++) {
        if (qt[i].term == NO_SLOT)
            continue;
        const struct term *t = &ix->terms[qt[i].term];
        if (t->n == 0)
            continue;
        struct cursor c = {t->post, t->post + t->n,
                           mr_lex_bm25_term(qt[i].idf, t->max_tf, t->min_len, avg), (uint32_t)i};
        /* Insertion by bound, lowest first (queries have few terms). */
        size_t j = m++;
        for (; j > 0 && cur[j - 1].ub > c.ub; j--)
            cur[j] = cur[j - 1];
        cur[j] = c;
    }
    if (limit == 0 || m == 0) {
        free(cur);
        free(qt);
        return 0;
    }
    /*
     * Term at a time, unless one term holds most of the query's postings
     * (WALK_SHARE): a common word beside rarer ones, whose long list the
     * walk's skipping leaves unread but term at a time must add up.
     */
    size_t all = 0, longest = 0;
    for (size_t j = 0; j < m; j++) {
        size_t len = (size_t)(cur[j].end - cur[j].p);
        all += len;
        longest = len > longest ? len : longest;
    }
    if (limit >= TAAT_MIN_LIMIT || longest * WALK_SHARE_DEN <= all * WALK_SHARE_NUM) {
        size_t n = search_taat(ix, qt, nq, avg, accept, arg, limit, out, keep);
        qsort(out, n, sizeof *out, best_first);
        for (size_t k = 0; k < n; k++)
            out[k].lexical = mr_lex_normalise(out[k].bm25, max);
        free(cur);
        free(qt);
        return n;
    }
    /* below[j]: the bounds of cur[0..j) summed, what a document outside cur[j..m) can reach. */
    double *below = mr_xmalloc((m + 1) * sizeof *below);
    below[0] = 0;
    for (size_t j = 0; j < m; j++)
        below[j + 1] = below[j] + cur[j].ub;
    double *contrib = mr_xcalloc(nq, sizeof *contrib); /* by query position; 0: none */
    const struct posting **start = mr_xmalloc(m * sizeof *start);
    for (size_t j = 0; j < m; j++)
        start[j] = cur[j].p;
    size_t n = 0;
    /*
     * First the documents of the rarest terms, cur[first..m) (their
     * postings within a small budget), each scored whole: the highest
     * bounds, so the heap starts with good documents and its worst score
     * (the bar below) is high before the long lists of common terms are
     * walked, most of which then never choose a document. Those documents
     * are not visited again.
     */
    size_t first = m, used = 0, budget = 8 * limit + 64;
    while (first > 1 && used + (size_t)(cur[first - 1].end - cur[first - 1].p) <= budget) {
        first--;
        used += (size_t)(cur[first].end - cur[first].p);
    }
    if (first == m)
        goto walk;
    for (;;) {
        uint32_t s = UINT32_MAX;
        for (size_t j = first; j < m; j++)
            if (cur[j].p < cur[j].end && cur[j].p->slot < s)
                s = cur[j].p->slot;
        if (s == UINT32_MAX)
            break;
        uint32_t len = ix->slot_len[s];
        for (size_t j = first; j < m; j++)
            if (cur[j].p < cur[j].end && cur[j].p->slot == s) {
                if (len != DEAD_LEN)
                    contrib[cur[j].qi] = mr_lex_bm25_term(
                        qt[cur[j].qi].idf, posting_tf(ix, qt[cur[j].qi].term, cur[j].p), len, avg);
                cur[j].p++;
            }
        if (len == DEAD_LEN)
            continue;
        for (size_t j = 0; j < first; j++) {
            cursor_seek(&cur[j], s);
            if (cur[j].p < cur[j].end && cur[j].p->slot == s)
                contrib[cur[j].qi] = mr_lex_bm25_term(
                    qt[cur[j].qi].idf, posting_tf(ix, qt[cur[j].qi].term, cur[j].p), len, avg);
        }
        double score = 0;
        for (size_t i = 0; i < nq; i++)
            if (contrib[i] != 0) {
                score += contrib[i];
                contrib[i] = 0;
            }
        struct mr_lex_hit h;
        if (!would_enter(ix, out, n, limit, s, score, &h))
            continue;
        if (accept && !accept(arg, h.id))
            continue;
        heap_add(out, &n, limit, h);
    }
    for (size_t j = 0; j < m; j++)
        cur[j].p = start[j];
walk:;
    /* Then every other document of cur[0..first), MaxScore: cur[0..n_skip) are non-essential. */
    size_t n_skip = 0;
    if (n == limit)
        while (n_skip < first && below[n_skip + 1] * BOUND_SLACK < out[0].bm25)
            n_skip++;
    for (;;) {
        uint32_t s = UINT32_MAX;
        for (size_t j = n_skip; j < first; j++)
            if (cur[j].p < cur[j].end && cur[j].p->slot < s)
                s = cur[j].p->slot;
        if (s == UINT32_MAX)
            break;
        bool seen = false; /* holds a rare term: scored above */
        for (size_t j = first; j < m && !seen; j++) {
            cursor_seek(&cur[j], s);
            seen = cur[j].p < cur[j].end && cur[j].p->slot == s;
        }
        uint32_t len = seen ? DEAD_LEN : ix->slot_len[s];
        double partial = 0;
        for (size_t j = n_skip; j < first; j++) {
            if (cur[j].p == cur[j].end || cur[j].p->slot != s)
                continue;
            if (len != DEAD_LEN) {
                double c = mr_lex_bm25_term(qt[cur[j].qi].idf,
                                            posting_tf(ix, qt[cur[j].qi].term, cur[j].p), len, avg);
                contrib[cur[j].qi] = c;
                partial += c;
            }
            cur[j].p++;
        }
        if (len == DEAD_LEN)
            continue;
        bool full = n == limit;
        double worst = full ? out[0].bm25 : 0;
        bool dropped = false;
        for (size_t j = n_skip; j-- > 0;) {
            if (full && (partial + below[j + 1]) * BOUND_SLACK < worst) {
                dropped = true;
                break;
            }
            cursor_seek(&cur[j], s);
            if (cur[j].p < cur[j].end && cur[j].p->slot == s) {
                double c = mr_lex_bm25_term(qt[cur[j].qi].idf,
                                            posting_tf(ix, qt[cur[j].qi].term, cur[j].p), len, avg);
                contrib[cur[j].qi] = c;
                partial += c;
            }
        }
        double score = 0;
        for (size_t i = 0; i < nq; i++)
            if (contrib[i] != 0) {
                score += contrib[i];
                contrib[i] = 0;
            }
        if (dropped)
            continue;
        struct mr_lex_hit h;
        if (!would_enter(ix, out, n, limit, s, score, &h))
            continue;
        /* The filter runs only on documents that would enter (when it is asked on the way). */
        if (accept && !accept(arg, h.id))
            continue;
        heap_add(out, &n, limit, h);
        if (n == limit)
            while (n_skip < first && below[n_skip + 1] * BOUND_SLACK < out[0].bm25)
                n_skip++;
    }
    free(start);
    qsort(out, n, sizeof *out, best_first);
    for (size_t k = 0; k < n; k++)
        out[k].lexical = mr_lex_normalise(out[k].bm25, max);
    free(contrib);
    free(below);
    free(cur);
    free(qt);
    return n;
}

/*
 * The filter is asked lazily. Most searches' filters (archived, expired, a
 * type) let the best documents through, and asking it of every document
 * that enters the heap on the way (hundreds at limit 100, each a lookup in
 * the vector index's metadata) cost as much as walking the postings (40 %
 * of a hybrid search's lexical side at 100 k memories). So the best `limit`
 * are found unfiltered, and the filter asked of those only: when it keeps
 * them all, or there were fewer than `limit` (every document with a term),
 * what it keeps is the answer; when it drops one of a full top `limit`, the
 * search runs again asking it on the way. The answer is the same either way.
 */
size_t mr_lex_index_search_kept(const struct mr_lex_index *ix, const struct mr_lex_index *stats,
                                const struct mr_lex_terms *q, mr_lex_accept_fn accept, void *arg,
                                size_t limit, struct mr_lex_hit *out, double *out_max,
                                struct mr_lex_scores **out_scores)
{
    if (out_scores)
        *out_scores = NULL;
    /* The unfiltered pass scores every document: its sums are the ones to keep. */
    size_t n = search_filtered(ix, stats, q, NULL, NULL, limit, out, out_max, out_scores);
    if (!accept)
        return n;
    size_t kept = 0;
    for (size_t k = 0; k < n; k++)
        if (accept(arg, out[k].id))
            out[kept++] = out[k];
    if (kept == n || n < limit)
        return kept;
    return search_filtered(ix, stats, q, accept, arg, limit, out, out_max, NULL);
}

size_t mr_lex_index_search_with(const struct mr_lex_index *ix, const struct mr_lex_index *stats,
                                const struct mr_lex_terms *q, mr_lex_accept_fn accept, void *arg,
                                size_t limit, struct mr_lex_hit *out, double *out_max)
{
    return mr_lex_index_search_kept(ix, stats, q, accept, arg, limit, out, out_max, NULL);
}

void mr_lex_index_score_kept(const struct mr_lex_index *ix, const struct mr_lex_index *stats,
                             const struct mr_lex_terms *q, const struct mr_lex_scores *kept,
                             const int64_t *ids, size_t n_ids, double *out_bm25)
{
    if (!kept || kept->n_slots != ix->n_slots) {
        mr_lex_index_score_with(ix, stats, q, ids, n_ids, out_bm25);
        return;
    }
    if (!ix->id_table_cap) {
        for (size_t k = 0; k < n_ids; k++)
            out_bm25[k] = 0;
        return;
    }
    /*
     * What is left is each id's slot: its cell, then the slot's id, two
     * misses the one after the other (~100 ns at 100 k documents). So the
     * batch's cells are loaded first, then their slots' ids, and the
     * lookups' misses overlap.
     */
    uint32_t mask = ix->id_table_cap - 1;
    for (size_t k = 0; k < n_ids; k++)
        __builtin_prefetch(&ix->id_table[(uint32_t)id_hash(ids[k]) & mask]);
    for (size_t k = 0; k < n_ids; k++) {
        uint32_t cell = ix->id_table[(uint32_t)id_hash(ids[k]) & mask];
        if (cell)
            __builtin_prefetch(&ix->slot_id[cell - 1]);
    }
    for (size_t k = 0; k < n_ids; k++) {
        uint32_t s = slot_of(ix, ids[k]);
        out_bm25[k] = s == NO_SLOT ? 0 : kept_bm25(kept, s);
    }
}
