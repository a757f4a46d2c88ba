/*
 * context_int.h — private to src/context/: the schema index's layout (join
 * graph, vocabulary, postings) shared by the linking, the join forest and
 * the packing.
 */
#ifndef MEMORI_CONTEXT_INT_H
#define MEMORI_CONTEXT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "memori/context.h"

/* Where in a table a term occurs (a posting's bit mask). */
enum {
    CTX_FIELD_NAME = 1u << 0,        /* the table's name */
    CTX_FIELD_COLUMN = 1u << 1,      /* a column's name */
    CTX_FIELD_KEY_COLUMN = 1u << 2,  /* the name of a column that refers to another table */
    CTX_FIELD_DESCRIPTION = 1u << 3, /* the table's or a column's description */
};

/* One direction of a join in the graph: to the neighbour, by which join, at what cost. */
struct ctx_arc {
    size_t to;
    size_t join;
    uint32_t cost;    /* MR_CTX_HOP_COST + the kind's penalty */
    uint32_t to_rank; /* the neighbour's name rank: arcs sort by it */
};

/* A term of the schema's vocabulary in one table, with the fields it occurs in. */
struct ctx_posting {
    uint32_t table;
    uint32_t fields;
};

struct mr_ctx_index {
    struct mr_ctx_schema schema; /* the arrays are the caller's */
    size_t n;
    size_t *rank;    /* rank[t]: t's position in the order of names (strcmp) */
    size_t *by_name; /* by_name[r]: the table of rank r */

    /* The join graph, both directions of each join, per table sorted by (to's rank, cost, join). */
    size_t *arc_start; /* n + 1 */
    struct ctx_arc *arcs;

    /* Columns of all tables, table by table: col_base[t] is table t's first. */
    size_t *col_base;  /* n + 1 */
    bool *join_column; /* a column of a join (either side) */

    /* The vocabulary: term i is text[term_off[i] .. + term_len[i]). */
    size_t nterms;
    char *text;
    size_t *term_off;
    uint32_t *term_len;
    uint32_t *slots; /* open addressing: term id + 1, 0 free */
    size_t nslots;   /* a power of two */

    /* Postings per term, by table: post[post_start[i] .. post_start[i + 1]). */
    size_t *post_start;
    struct ctx_posting *post;

    /*
     * Terms that may abbreviate a question's word (3 to 6 ASCII letters: `qty`, `cust`,
     * `rcv`), by first letter: abbr[abbr_start[c - 'a'] .. abbr_start[c - 'a' + 1]).
     */
    size_t abbr_start[27];
    uint32_t *abbr;

    /* Terms of each column (name and description): colterm[colterm_start[c] ..). */
    size_t *colterm_start;
    uint32_t *colterm;
};

/* The id of term s[0..n), or -1 when the schema has no such term. */
long ctx_vocab_find(const struct mr_ctx_index *ix, const char *s, size_t n);

/* Cost penalty of a join kind, beside MR_CTX_HOP_COST. */
static inline uint32_t ctx_kind_penalty(enum mr_ctx_join_kind k)
{
    return k == MR_CTX_JOIN_DECLARED ? 0 : (uint32_t)k * MR_CTX_KIND_COST;
}

/* The shortest abbreviation and the longest (ctx_index.c collects them, ctx_link.c matches). */
#define CTX_ABBR_MIN 3
#define CTX_ABBR_MAX 6

/* The cheapest arc (cost, then neighbour's name, then join index) from a to b, or NULL. */
const struct ctx_arc *ctx_best_arc(const struct mr_ctx_index *ix, size_t a, size_t b);

/* A growable array of size_t. */
struct ctx_vec {
    size_t *v;
    size_t n, cap;
};

void ctx_vec_push(struct ctx_vec *a, size_t x);

#endif
