/*
 * ctx_index.c — the per-schema index of the context module (context.h):
 * tables in name order, the join graph as adjacency arrays, and the
 * schema's vocabulary with postings (which tables hold a term, and where),
 * built once per schema so a question costs only its own terms.
 */
#include <stdlib.h>
#include <string.h>

#include "context_int.h"
#include "memori/lexical.h"
#include "memori/util.h"

void ctx_vec_push(struct ctx_vec *a, size_t x)
{
    if (a->n == a->cap) {
        a->cap = a->cap ? 2 * a->cap : 16;
        a->v = mr_xrealloc(a->v, a->cap * sizeof *a->v);
    }
    a->v[a->n++] = x;
}

const char *mr_ctx_join_kind_name(enum mr_ctx_join_kind k)
{
    switch (k) {
    case MR_CTX_JOIN_DECLARED:
        return "declared";
    case MR_CTX_JOIN_INFERRED:
        return "inferred";
    case MR_CTX_JOIN_EXAMPLE:
        return "example";
    }
    return "declared";
}

const char *mr_ctx_reason_name(enum mr_ctx_reason r)
{
    return r == MR_CTX_JOIN ? "join" : "matched";
}

/* ---- vocabulary ---------------------------------------------------------- */

static uint64_t term_hash(const char *s, size_t n)
{
    return mr_fnv1a64(MR_FNV64_BASIS, s, n);
}

long ctx_vocab_find(const struct mr_ctx_index *ix, const char *s, size_t n)
{
    if (ix->nslots == 0)
        return -1;
    size_t mask = ix->nslots - 1;
    for (size_t i = term_hash(s, n) & mask;; i = (i + 1) & mask) {
        uint32_t id = ix->slots[i];
        if (id == 0)
            return -1;
        id--;
        if (ix->term_len[id] == n && memcmp(ix->text + ix->term_off[id], s, n) == 0)
            return id;
    }
}

/* The vocabulary while it is built: grows its own arrays and table. */
struct vocab_builder {
    struct mr_ctx_index *ix;
    size_t text_len, text_cap, terms_cap;
};

static void vocab_grow_slots(struct mr_ctx_index *ix, size_t nslots)
{
    free(ix->slots);
    ix->slots = mr_xcalloc(nslots, sizeof *ix->slots);
    ix->nslots = nslots;
    size_t mask = nslots - 1;
    for (size_t id = 0; id < ix->nterms; id++) {
        size_t i = term_hash(ix->text + ix->term_off[id], ix->term_len[id]) & mask;
        while (ix->slots[i])
            i = (i + 1) & mask;
        ix->slots[i] = (uint32_t)id + 1;
    }
}

static uint32_t vocab_add(struct vocab_builder *b, const char *s, size_t n)
{
    struct mr_ctx_index *ix = b->ix;
    long found = ctx_vocab_find(ix, s, n);
    if (found >= 0)
        return (uint32_t)found;
    if (ix->nterms == b->terms_cap) {
        b->terms_cap = b->terms_cap ? 2 * b->terms_cap : 256;
        ix->term_off = mr_xrealloc(ix->term_off, b->terms_cap * sizeof *ix->term_off);
        ix->term_len = mr_xrealloc(ix->term_len, b->terms_cap * sizeof *ix->term_len);
    }
    if (b->text_len + n > b->text_cap) {
        while (b->text_len + n > b->text_cap)
            b->text_cap = b->text_cap ? 2 * b->text_cap : 4096;
        ix->text = mr_xrealloc(ix->text, b->text_cap);
    }
    memcpy(ix->text + b->text_len, s, n);
    size_t id = ix->nterms++;
    ix->term_off[id] = b->text_len;
    ix->term_len[id] = (uint32_t)n;
    b->text_len += n;
    /* Load at most 1/2, so probes stay short. */
    if (2 * ix->nterms > ix->nslots)
        vocab_grow_slots(ix, ix->nslots ? 2 * ix->nslots : 1024);
    else {
        size_t mask = ix->nslots - 1, i = term_hash(s, n) & mask;
        while (ix->slots[i])
            i = (i + 1) & mask;
        ix->slots[i] = (uint32_t)id + 1;
    }
    return (uint32_t)id;
}

/* ---- building ------------------------------------------------------------ */

/* A (term, table, fields) triple while postings are collected. */
struct occurrence {
    uint32_t term, table, fields;
};

struct build {
    struct vocab_builder vb;
    struct occurrence *occ;
    size_t nocc, occ_cap;
    /* Per term: the last table it was seen in and the index of that occurrence. */
    uint32_t *seen_table;
    size_t *seen_occ;
    size_t seen_cap;
    uint32_t table; /* the table being tokenized */
    uint32_t fields;
    struct ctx_vec *colterms; /* the column being tokenized, or NULL */
};

static void note_term(void *arg, const char *term, size_t n)
{
    struct build *b = arg;
    uint32_t id = vocab_add(&b->vb, term, n);
    if (id >= b->seen_cap) {
        size_t cap = b->seen_cap ? b->seen_cap : 256;
        while (cap <= id)
            cap *= 2;
        b->seen_table = mr_xrealloc(b->seen_table, cap * sizeof *b->seen_table);
        b->seen_occ = mr_xrealloc(b->seen_occ, cap * sizeof *b->seen_occ);
        for (size_t i = b->seen_cap; i < cap; i++)
            b->seen_table[i] = UINT32_MAX;
        b->seen_cap = cap;
    }
    if (b->colterms)
        ctx_vec_push(b->colterms, id);
    if (b->seen_table[id] == b->table) {
        b->occ[b->seen_occ[id]].fields |= b->fields;
        return;
    }
    if (b->nocc == b->occ_cap) {
        b->occ_cap = b->occ_cap ? 2 * b->occ_cap : 1024;
        b->occ = mr_xrealloc(b->occ, b->occ_cap * sizeof *b->occ);
    }
    b->seen_table[id] = b->table;
    b->seen_occ[id] = b->nocc;
    b->occ[b->nocc++] = (struct occurrence){id, b->table, b->fields};
}

static void tokenize(struct build *b, const char *s, uint32_t fields)
{
    if (!s || !*s)
        return;
    b->fields = fields;
    mr_lex_tokenize(s, strlen(s), note_term, b);
}

/* A table's name beside its index, so qsort's comparator needs nothing else. */
struct named {
    const char *name;
    size_t table;
};

static int cmp_named(const void *a, const void *b)
{
    const struct named *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x->table < y->table ? -1 : x->table > y->table);
}

static int cmp_arc(const void *a, const void *b)
{
    const struct ctx_arc *x = a, *y = b;
    if (x->to_rank != y->to_rank)
        return x->to_rank < y->to_rank ? -1 : 1;
    if (x->cost != y->cost)
        return x->cost < y->cost ? -1 : 1;
    return x->join < y->join ? -1 : x->join > y->join;
}

const struct ctx_arc *ctx_best_arc(const struct mr_ctx_index *ix, size_t a, size_t b)
{
    const struct ctx_arc *best = NULL;
    for (size_t k = ix->arc_start[a]; k < ix->arc_start[a + 1]; k++) {
        const struct ctx_arc *arc = &ix->arcs[k];
        /* Sorted by neighbour, then cost: the first arc to b is the cheapest. */
        if (arc->to == b) {
            best = arc;
            break;
        }
    }
    return best;
}

static int check_schema(const struct mr_ctx_schema *s, struct mr_err *err)
{
    if (s->ntables && !s->tables)
        return mr_err_set(err, MR_EINVAL, "schema: tables missing");
    if (s->njoins && !s->joins)
        return mr_err_set(err, MR_EINVAL, "schema: joins missing");
    if (s->ntables >= UINT32_MAX)
        return mr_err_set(err, MR_EINVAL, "schema: too many tables");
    for (size_t t = 0; t < s->ntables; t++) {
        const struct mr_ctx_table *tab = &s->tables[t];
        if (!tab->name || !*tab->name)
            return mr_err_set(err, MR_EINVAL, "schema: table %zu has no name", t);
        if (tab->ncolumns && !tab->columns)
            return mr_err_set(err, MR_EINVAL, "schema: table %s: columns missing", tab->name);
        for (size_t c = 0; c < tab->ncolumns; c++)
            if (!tab->columns[c].name || !*tab->columns[c].name)
                return mr_err_set(err, MR_EINVAL, "schema: table %s: column %zu has no name",
                                  tab->name, c);
    }
    for (size_t j = 0; j < s->njoins; j++) {
        const struct mr_ctx_join *x = &s->joins[j];
        if (x->from_table >= s->ntables || x->to_table >= s->ntables)
            return mr_err_set(err, MR_EINVAL, "schema: join %zu: table out of range", j);
        if (x->ncolumns == 0 || !x->from_columns || !x->to_columns)
            return mr_err_set(err, MR_EINVAL, "schema: join %zu has no column", j);
        for (size_t c = 0; c < x->ncolumns; c++)
            if (x->from_columns[c] >= s->tables[x->from_table].ncolumns ||
                x->to_columns[c] >= s->tables[x->to_table].ncolumns)
                return mr_err_set(err, MR_EINVAL, "schema: join %zu: column out of range", j);
        if (x->kind != MR_CTX_JOIN_DECLARED && x->kind != MR_CTX_JOIN_INFERRED &&
            x->kind != MR_CTX_JOIN_EXAMPLE)
            return mr_err_set(err, MR_EINVAL, "schema: join %zu: unknown kind", j);
    }
    return 0;
}

int mr_ctx_index_new(const struct mr_ctx_schema *s, struct mr_ctx_index **out_index,
                     struct mr_err *err)
{
    *out_index = NULL;
    int rc = check_schema(s, err);
    if (rc)
        return rc;
    struct mr_ctx_index *ix = mr_xcalloc(1, sizeof *ix);
    ix->schema = *s;
    size_t n = ix->n = s->ntables;

    /* Name order: the tie-break of every choice, so the answer never depends on input order. */
    ix->by_name = mr_xmalloc((n ? n : 1) * sizeof *ix->by_name);
    ix->rank = mr_xmalloc((n ? n : 1) * sizeof *ix->rank);
    struct named *names = mr_xmalloc((n ? n : 1) * sizeof *names);
    for (size_t t = 0; t < n; t++)
        names[t] = (struct named){s->tables[t].name, t};
    qsort(names, n, sizeof *names, cmp_named);
    for (size_t r = 0; r < n; r++) {
        ix->by_name[r] = names[r].table;
        ix->rank[names[r].table] = r;
        if (r > 0 && strcmp(names[r - 1].name, names[r].name) == 0) {
            rc = mr_err_set(err, MR_EINVAL, "schema: two tables are called %s", names[r].name);
            free(names);
            mr_ctx_index_free(ix);
            return rc;
        }
    }
    free(names);

    /* Columns, and which of them a join uses. */
    ix->col_base = mr_xmalloc((n + 1) * sizeof *ix->col_base);
    size_t ncols = 0;
    for (size_t t = 0; t < n; t++) {
        ix->col_base[t] = ncols;
        ncols += s->tables[t].ncolumns;
    }
    ix->col_base[n] = ncols;
    ix->join_column = mr_xcalloc(ncols ? ncols : 1, sizeof *ix->join_column);
    bool *refers = mr_xcalloc(ncols ? ncols : 1, sizeof *refers); /* the from side of a join */
    for (size_t j = 0; j < s->njoins; j++) {
        const struct mr_ctx_join *x = &s->joins[j];
        for (size_t c = 0; c < x->ncolumns; c++) {
            ix->join_column[ix->col_base[x->from_table] + x->from_columns[c]] = true;
            ix->join_column[ix->col_base[x->to_table] + x->to_columns[c]] = true;
            refers[ix->col_base[x->from_table] + x->from_columns[c]] = true;
        }
    }

    /* The graph: each join in both directions; a self join is no edge. */
    ix->arc_start = mr_xcalloc(n + 1, sizeof *ix->arc_start);
    for (size_t j = 0; j < s->njoins; j++) {
        const struct mr_ctx_join *x = &s->joins[j];
        if (x->from_table == x->to_table)
            continue;
        ix->arc_start[x->from_table + 1]++;
        ix->arc_start[x->to_table + 1]++;
    }
    for (size_t t = 0; t < n; t++)
        ix->arc_start[t + 1] += ix->arc_start[t];
    size_t narcs = ix->arc_start[n];
    ix->arcs = mr_xmalloc((narcs ? narcs : 1) * sizeof *ix->arcs);
    size_t *fill = mr_xmalloc((n ? n : 1) * sizeof *fill);
    for (size_t t = 0; t < n; t++)
        fill[t] = ix->arc_start[t];
    for (size_t j = 0; j < s->njoins; j++) {
        const struct mr_ctx_join *x = &s->joins[j];
        if (x->from_table == x->to_table)
            continue;
        uint32_t cost = MR_CTX_HOP_COST + ctx_kind_penalty(x->kind);
        ix->arcs[fill[x->from_table]++] =
            (struct ctx_arc){x->to_table, j, cost, (uint32_t)ix->rank[x->to_table]};
        ix->arcs[fill[x->to_table]++] =
            (struct ctx_arc){x->from_table, j, cost, (uint32_t)ix->rank[x->from_table]};
    }
    free(fill);
    for (size_t t = 0; t < n; t++)
        qsort(ix->arcs + ix->arc_start[t], ix->arc_start[t + 1] - ix->arc_start[t],
              sizeof *ix->arcs, cmp_arc);

    /* The vocabulary: every table's terms, with the fields they occur in. */
    struct build b = {.vb = {.ix = ix}};
    struct ctx_vec colterms = {0};
    ix->colterm_start = mr_xmalloc((ncols + 1) * sizeof *ix->colterm_start);
    for (size_t t = 0; t < n; t++) {
        const struct mr_ctx_table *tab = &s->tables[t];
        b.table = (uint32_t)t;
        b.colterms = NULL;
        tokenize(&b, tab->name, CTX_FIELD_NAME);
        tokenize(&b, tab->description, CTX_FIELD_DESCRIPTION);
        for (size_t c = 0; c < tab->ncolumns; c++) {
            size_t gc = ix->col_base[t] + c;
            ix->colterm_start[gc] = colterms.n;
            b.colterms = &colterms;
            tokenize(&b, tab->columns[c].name,
                     refers[gc] ? CTX_FIELD_KEY_COLUMN : CTX_FIELD_COLUMN);
            tokenize(&b, tab->columns[c].description, CTX_FIELD_DESCRIPTION);
        }
    }
    ix->colterm_start[ncols] = colterms.n;
    ix->colterm = mr_xmalloc((colterms.n ? colterms.n : 1) * sizeof *ix->colterm);
    for (size_t i = 0; i < colterms.n; i++)
        ix->colterm[i] = (uint32_t)colterms.v[i];
    free(colterms.v);
    free(refers);

    /* Abbreviation candidates by first letter (a counting sort over the vocabulary). */
    memset(ix->abbr_start, 0, sizeof ix->abbr_start);
    for (int pass = 0; pass < 2; pass++) {
        size_t fillpos[26] = {0};
        if (pass == 1) {
            for (int c = 0; c < 26; c++)
                ix->abbr_start[c + 1] += ix->abbr_start[c];
            ix->abbr = mr_xmalloc((ix->abbr_start[26] ? ix->abbr_start[26] : 1) * sizeof *ix->abbr);
            for (int c = 0; c < 26; c++)
                fillpos[c] = ix->abbr_start[c];
        }
        for (size_t id = 0; id < ix->nterms; id++) {
            const char *w = ix->text + ix->term_off[id];
            size_t len = ix->term_len[id], k = 0;
            while (k < len && w[k] >= 'a' && w[k] <= 'z')
                k++;
            if (k != len || len < CTX_ABBR_MIN || len > CTX_ABBR_MAX)
                continue;
            if (pass == 0)
                ix->abbr_start[w[0] - 'a' + 1]++;
            else
                ix->abbr[fillpos[w[0] - 'a']++] = (uint32_t)id;
        }
    }

    /* Postings by term (a counting sort; occurrences come table by table, so each list is too). */
    ix->post_start = mr_xcalloc(ix->nterms + 1, sizeof *ix->post_start);
    for (size_t i = 0; i < b.nocc; i++)
        ix->post_start[b.occ[i].term + 1]++;
    for (size_t i = 0; i < ix->nterms; i++)
        ix->post_start[i + 1] += ix->post_start[i];
    ix->post = mr_xmalloc((b.nocc ? b.nocc : 1) * sizeof *ix->post);
    size_t *pos = mr_xmalloc((ix->nterms ? ix->nterms : 1) * sizeof *pos);
    for (size_t i = 0; i < ix->nterms; i++)
        pos[i] = ix->post_start[i];
    for (size_t i = 0; i < b.nocc; i++)
        ix->post[pos[b.occ[i].term]++] = (struct ctx_posting){b.occ[i].table, b.occ[i].fields};
    free(pos);
    free(b.occ);
    free(b.seen_table);
    free(b.seen_occ);

    *out_index = ix;
    return 0;
}

void mr_ctx_index_free(struct mr_ctx_index *ix)
{
    if (!ix)
        return;
    free(ix->rank);
    free(ix->by_name);
    free(ix->arc_start);
    free(ix->arcs);
    free(ix->col_base);
    free(ix->join_column);
    free(ix->text);
    free(ix->term_off);
    free(ix->term_len);
    free(ix->slots);
    free(ix->post_start);
    free(ix->post);
    free(ix->abbr);
    free(ix->colterm_start);
    free(ix->colterm);
    free(ix);
}

const struct mr_ctx_schema *mr_ctx_index_schema(const struct mr_ctx_index *ix)
{
    return &ix->schema;
}

long mr_ctx_index_find(const struct mr_ctx_index *ix, const char *name)
{
    if (!name)
        return -1;
    size_t lo = 0, hi = ix->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(ix->schema.tables[ix->by_name[mid]].name, name);
        if (c == 0)
            return (long)ix->by_name[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}
