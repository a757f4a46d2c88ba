/*
 * context.h — the algorithmic core of POST /api/context (DESIGN.md §10,
 * docs/context.md), src/context/: from a question, a data source's schema,
 * the retrieval scores of its table memories, the closest examples, the
 * rules and the conversation's latest turns, the tables a query needs (schema
 * linking and a join tree), and one prompt packed within a token budget.
 *
 * No HTTP and no store here. The service fills the inputs from what it has
 * (the schema of the SQL module, hybrid search over the data source's table,
 * rule and example memories, the conversation's short-term memories), calls
 * mr_ctx_assemble, and the API codec encodes struct mr_ctx_result as §10's
 * JSON.
 *
 * Three stages, each its own function so it can be tested and measured:
 *   1. schema linking (mr_ctx_table_scores): a score per table from the
 *      retrieval score, the question's terms found in the table's name,
 *      columns and descriptions, and the tables the best examples' SQL uses;
 *   2. selection (mr_ctx_select): a few strong seeds, the join forest that
 *      connects them through bridge tables (mr_ctx_join_forest), then the
 *      remaining slots of max_tables by score;
 *   3. packing (mr_ctx_pack): rules, tables with their joins, examples and
 *      recent turns rendered as text, items cut in a documented order until
 *      the token estimate fits the budget.
 * Everything is deterministic: the same inputs give the same bytes.
 *
 * Threads: a struct mr_ctx_index is immutable once built; any number of
 * threads may use one at once. Every other object belongs to one caller.
 */
#ifndef MEMORI_CONTEXT_H
#define MEMORI_CONTEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "memori/err.h"

/* ---------------------------------------------------------------- the schema */

/*
 * The schema as this module reads it: borrowed, NUL-terminated strings and
 * indices, the shape of the SQL module's schema (tables by qualified name,
 * joins as column indices), so the service maps one onto the other without
 * copying text.
 */
struct mr_ctx_column {
    const char *name;
    const char *type;        /* NULL or "": none */
    const char *description; /* NULL: none */
    bool primary_key;
};

struct mr_ctx_table {
    const char *name;        /* the table's identity ("orders", "sales.orders"); unique */
    const char *memory_id;   /* its entity memory, or NULL */
    const char *description; /* NULL: none */
    const struct mr_ctx_column *columns;
    size_t ncolumns;
};

/*
 * Where a join comes from, in order of preference: the join tree prefers a
 * declared foreign key to one inferred from names, and that to one learned
 * from an example's SQL, between paths of the same length (DESIGN.md §9-10).
 */
enum mr_ctx_join_kind {
    MR_CTX_JOIN_DECLARED = 0,
    MR_CTX_JOIN_INFERRED = 1,
    MR_CTX_JOIN_EXAMPLE = 2,
};

/* "declared", "inferred" or "example": the join's "source" in §10's JSON. */
const char *mr_ctx_join_kind_name(enum mr_ctx_join_kind k);

/* from_table(from_columns) = to_table(to_columns), column by column. */
struct mr_ctx_join {
    size_t from_table, to_table; /* indices into the schema's tables */
    const size_t *from_columns;  /* ncolumns column indices of from_table */
    const size_t *to_columns;    /* ncolumns column indices of to_table */
    size_t ncolumns;             /* >= 1 */
    enum mr_ctx_join_kind kind;
    const char *memory_id; /* its relationship memory, or NULL */
};

struct mr_ctx_schema {
    const struct mr_ctx_table *tables;
    size_t ntables;
    const struct mr_ctx_join *joins;
    size_t njoins;
};

struct mr_sql_schema; /* memori/sql.h */

/*
 * The context schema of the SQL module's schema s (its tables by qualified
 * name, columns, declared and inferred joins, in s's order), then the extra
 * joins (those learned from examples, which the service keeps as
 * relationship memories with "source": "example"; copied as given). Strings
 * and column index arrays are borrowed from s and extra: they must outlive
 * *out. table_memory_ids and join_memory_ids (either NULL) are indexed like
 * s->tables and s->joins. Error (MR_EINVAL, *out empty): an extra join's
 * table out of range (its columns are checked by mr_ctx_index_new). Free
 * *out's arrays with mr_ctx_schema_release.
 */
int mr_ctx_schema_from_sql(const struct mr_sql_schema *s, const char *const *table_memory_ids,
                           const char *const *join_memory_ids, const struct mr_ctx_join *extra,
                           size_t nextra, struct mr_ctx_schema *out, struct mr_err *err);
void mr_ctx_schema_release(struct mr_ctx_schema *s);

/*
 * What one schema costs to prepare once and use for every question: the
 * join graph (adjacency by table, edges weighted by kind), the schema's
 * vocabulary (each table's name, column and description terms, as
 * mr_lex_tokenize gives them) and each table's name rank.
 */
struct mr_ctx_index;

/*
 * Builds the index of s. s and everything it points to are borrowed: they
 * must outlive the index. A join from a table to itself is kept for
 * rendering but is no edge of the graph. Errors (MR_EINVAL, *out_index
 * NULL): a table without a name, two tables of one name, a join whose
 * table or column index is out of range or that has no column. Free with
 * mr_ctx_index_free.
 */
int mr_ctx_index_new(const struct mr_ctx_schema *s, struct mr_ctx_index **out_index,
                     struct mr_err *err);
void mr_ctx_index_free(struct mr_ctx_index *ix);

/* The schema the index was built from (borrowed). */
const struct mr_ctx_schema *mr_ctx_index_schema(const struct mr_ctx_index *ix);

/* Index of the table called name (exact bytes), or -1. */
long mr_ctx_index_find(const struct mr_ctx_index *ix, const char *name);

/* ------------------------------------------------------------- the join tree */

/*
 * A path of the join tree is ranked by its number of joins first, then by
 * the kinds of its joins, then by the relevance of the tables it enters:
 * each join costs MR_CTX_HOP_COST, plus MR_CTX_KIND_COST per step of its
 * kind (declared 0, inferred 1, example 2), plus up to MR_CTX_RELEVANCE_COST
 * for the table it enters, less the higher that table scores
 * (round(MR_CTX_RELEVANCE_COST · (1 − score)), score clamped to [0, 1]).
 * The steps are apart enough that within MR_CTX_MAX_HOPS_LIMIT joins a
 * shorter path always wins, then the most declared one, then the one through
 * the tables that match the question best; the last tie goes by name.
 */
#define MR_CTX_HOP_COST 1000000
#define MR_CTX_KIND_COST 10000
#define MR_CTX_RELEVANCE_COST 500
/* The default bound on the joins one attaching path may take (notes: 3-4 hops help, longer drag).
 */
#define MR_CTX_MAX_HOPS 4
#define MR_CTX_MAX_HOPS_LIMIT 16

/*
 * A join forest: the seeds and bridge tables connected by the joins, in the
 * order they were attached. tables[i] has tree[i] (0, 1, ...: which tree of
 * the forest) and is_seed[i] (false: a bridge). joins are indices into the
 * schema's joins, one per table that was attached by a path (a forest of
 * ntables tables in ntrees trees has ntables − ntrees joins).
 */
struct mr_ctx_forest {
    size_t *tables;
    size_t *tree;
    bool *is_seed;
    size_t ntables;
    size_t ntrees;
    size_t *joins;
    size_t njoins;
};

/*
 * Connects seeds (table indices, strongest first; repeats ignored) with the
 * fewest joins, adding bridge tables, a Steiner-tree approximation (the
 * "attach the nearest seed by its shortest path" heuristic of Takahashi and
 * Matsuyama, docs/context.md):
 *   1. the first seed starts a tree;
 *   2. a Dijkstra search from every table of the current tree, over paths of
 *      at most max_hops joins, finds the nearest target: a seed not yet in
 *      the forest, or a table of another tree (which merges the two); the
 *      target's path is attached if its new tables fit within max_tables,
 *      else the next-nearest target is tried;
 *   3. when no target is reachable and fits, the strongest seed left starts
 *      the next tree (a seed farther than max_hops from every tree stays on
 *      its own, never dragged in with a long chain), while max_tables allows.
 * scores (NULL: all 0) are the tables' scores (mr_ctx_table_scores), for
 * the relevance part of a path's cost. Ties (paths of equal cost) go to the
 * table whose name sorts first, at every step, so the forest depends on the
 * schema, the seeds and the scores only. max_hops is clamped to
 * 1..MR_CTX_MAX_HOPS_LIMIT. Cost: one bounded search per attached path,
 * O((V + E) log V) at worst each. The forest is the caller's:
 * mr_ctx_forest_free.
 */
void mr_ctx_join_forest(const struct mr_ctx_index *ix, const size_t *seeds, size_t nseeds,
                        const double *scores, size_t max_tables, size_t max_hops,
                        struct mr_ctx_forest *out_forest);
void mr_ctx_forest_free(struct mr_ctx_forest *f);

/* ------------------------------------------------------------ schema linking */

/* A table memory hybrid search found, with its score in [0, 1] (clamped). */
struct mr_ctx_candidate {
    size_t table; /* index into the schema's tables */
    double retrieval;
};

/*
 * A stored question → SQL pair close to the question (its search score in
 * [0, 1]). tables are the tables its SQL uses (the example's metadata),
 * by name; names the schema does not have are ignored.
 */
struct mr_ctx_example {
    const char *memory_id;
    const char *question;
    const char *sql;
    double score;
    bool verified;
    const char *const *tables;
    size_t ntables;
};

/*
 * The weights and bounds of linking and selection (docs/context.md, "Schema
 * linking", has the measurement on the development schema of
 * tests/data/context/ and how flat it is around these values).
 * MR_CTX_LINK_DEFAULTS is what the service uses.
 *
 * A table's score is
 *   w_retrieval·retrieval + w_evidence·evidence + w_example·example
 * where retrieval is the candidate's score (0 for a table search did not
 * return); evidence is the share of the question's terms, weighted by their
 * idf over the schema's tables, that the table holds: a term counts
 * name_weight in the table's name, column_weight in a column's name
 * (key_column_weight in a column that refers to another table: it names
 * that table rather than this one), description_weight in a description,
 * the best of these, times abbreviation_weight when the table has only an
 * abbreviation of it (a schema term of 3 to 6 letters with the question's
 * word's first letter and its other letters in order: `cust`, `qty`, `rcv`
 * for customer, quantity, received); terms no table holds are left out of
 * the share. example is the best score of the examples whose SQL uses the
 * table. Every part is in [0, 1], so is the score (the weights sum to 1).
 *
 * Seeds: the best table, then up to max_seeds − 1 more, greedily among the
 * 64 best: each next seed is the table with the best gain = score ·
 * (1 − overlap·covered), covered being the share of its evidence the seeds
 * so far already hold, taken while the gain is at least seed_ratio of the
 * best score. A table that only repeats what the seeds matched is left to
 * the fill.
 *
 * Then the join forest of the seeds (mr_ctx_join_forest, paths of at most
 * max_hops joins, relevance from the scores); then, with key_tables, the
 * table each matched non-key column of a forest table refers to ("by buyer"
 * matches fct_po_hdr.buyer_id → employees); then the fill: the best tables
 * left, by score, up to max_tables.
 */
struct mr_ctx_link_params {
    double w_retrieval, w_evidence, w_example;
    double name_weight, column_weight, key_column_weight, description_weight, abbreviation_weight;
    size_t max_seeds;
    double seed_ratio;
    double overlap;
    size_t max_hops;
    bool join_tree;  /* false: no bridges, the seeds and the fill only (the bench's variant) */
    bool key_tables; /* with join_tree: add the tables the forest's matched key columns refer to */
};

#define MR_CTX_LINK_DEFAULTS                                                                       \
    {                                                                                              \
        .w_retrieval = 0.4, .w_evidence = 0.4, .w_example = 0.2, .name_weight = 1.0,               \
        .column_weight = 0.8, .key_column_weight = 0.4, .description_weight = 0.5,                 \
        .abbreviation_weight = 0.5, .max_seeds = 4, .seed_ratio = 0.5, .overlap = 0.7,             \
        .max_hops = MR_CTX_MAX_HOPS, .join_tree = true, .key_tables = true                         \
    }

/*
 * Scores every table of ix for the question (question[0..len), UTF-8, not
 * NUL-terminated) into out_scores (room for the schema's ntables), by the
 * formula above. params NULL: the defaults.
 */
void mr_ctx_table_scores(const struct mr_ctx_index *ix, const char *question, size_t len,
                         const struct mr_ctx_candidate *candidates, size_t ncandidates,
                         const struct mr_ctx_example *examples, size_t nexamples,
                         const struct mr_ctx_link_params *params, double *out_scores);

/* Why a table is in the context (§10's "reason"). */
enum mr_ctx_reason {
    MR_CTX_MATCHED = 0, /* the question, retrieval or an example points at it (a seed, a table a
                           matched key column refers to, a fill table) */
    MR_CTX_JOIN = 1,    /* a bridge on the join tree between matched tables */
};

/* "matched" or "join". */
const char *mr_ctx_reason_name(enum mr_ctx_reason r);

struct mr_ctx_pick {
    size_t table;
    double score;
    enum mr_ctx_reason reason;
    bool in_tree; /* of the join forest, or referred to by its matched key (false: a fill table) */
    /* Per column of the table: a question term matched its name or description. */
    bool *matched_columns;
};

/*
 * The tables chosen for a question, in the order the prompt shows them: the
 * join forest's tables in attach order, the tables its matched keys refer
 * to, then the fill tables by score (ties by name). joins are indices into
 * the schema's joins: the forest's, the matched keys', then for each fill
 * table the cheapest join to a table chosen before it (ties by name), if it
 * has one; one join per table that has one, so never a cycle.
 */
struct mr_ctx_selection {
    struct mr_ctx_pick *tables;
    size_t ntables;
    size_t *joins;
    size_t njoins;
};

/*
 * Chooses at most max_tables tables (linking, seeds, forest, fill; a table
 * scoring 0 is never a seed or a fill), into *out_selection, the caller's
 * (mr_ctx_selection_free). out_scores, when not NULL, receives every
 * table's score as mr_ctx_table_scores gives it.
 */
void mr_ctx_select(const struct mr_ctx_index *ix, const char *question, size_t len,
                   const struct mr_ctx_candidate *candidates, size_t ncandidates,
                   const struct mr_ctx_example *examples, size_t nexamples,
                   const struct mr_ctx_link_params *params, size_t max_tables,
                   struct mr_ctx_selection *out_selection, double *out_scores);
void mr_ctx_selection_free(struct mr_ctx_selection *sel);

/* ------------------------------------------------------- packing, rendering */

/*
 * The token estimate of a text (docs/context.md, "Token estimate"): each run
 * of ASCII letters counts ceil(len/7), each run of digits ceil(len/3), each
 * run of other ASCII symbols ceil(len/2), each line break and each
 * character beyond ASCII 1, spaces and tabs 0. Measured against the cl100k
 * and o200k tokenizers: 1.10-1.23 × their count on the development
 * prompts, 1.00-1.08 × on English prose, over on CJK and Cyrillic text,
 * about 0.88 × on German prose. Additive over lines: a text's estimate is
 * the sum of its lines' (no run crosses a line break).
 */
size_t mr_ctx_token_estimate(const char *text, size_t len);

struct mr_ctx_rule {
    const char *memory_id;
    const char *content;
    double score;
    bool pinned; /* metadata.pinned: true — cut only after everything else */
};

/* A short-term memory of the conversation; the request lists them latest first. */
struct mr_ctx_recent {
    const char *memory_id;
    const char *content;
    const char *memory_type;
    const char *created_at; /* ISO 8601, as the API prints it */
};

/*
 * Recent turn i (0: the latest) competes with the other items cut first at
 * this score: MR_CTX_RECENT_SCORE / (i + 1).
 */
#define MR_CTX_RECENT_SCORE 0.5

/* A table with more columns than this is "wide": its unmatched columns may be cut. */
#define MR_CTX_WIDE_COLUMNS 8

/* ---- §10's response, the API codec's to encode ---- */

struct mr_ctx_table_out {
    const char *name;
    const char *memory_id; /* NULL: none */
    double score;
    enum mr_ctx_reason reason;
    const struct mr_ctx_column *columns; /* those in the prompt, in the schema's order */
    size_t ncolumns;
    size_t columns_omitted; /* columns of the table cut to fit the budget */
};

struct mr_ctx_join_out {
    const char *from; /* "orders.customer_id"; a composite key "t.a, t.b" */
    const char *to;
    const char *memory_id; /* NULL: none */
    enum mr_ctx_join_kind kind;
    bool inferred; /* kind == MR_CTX_JOIN_INFERRED */
};

/*
 * What §10 answers, besides question and data_source_id (the codec has
 * them): only what the prompt holds, in the prompt's order. Every string
 * and array belongs to the result (copied from the inputs); free it with
 * mr_ctx_result_free.
 */
struct mr_ctx_result {
    struct mr_ctx_rule *rules; /* pinned first, then by score */
    size_t nrules;
    struct mr_ctx_table_out *tables;
    size_t ntables;
    struct mr_ctx_join_out *joins; /* those between two tables in the prompt */
    size_t njoins;
    struct mr_ctx_example *examples; /* by score, verified first at equal score; tables NULL */
    size_t nexamples;
    struct mr_ctx_recent *recent; /* latest first */
    size_t nrecent;
    char *prompt; /* NUL-terminated; prompt_len bytes */
    size_t prompt_len;
    size_t token_estimate; /* mr_ctx_token_estimate(prompt), <= the budget */
    bool truncated;        /* an item or a column was cut to fit the budget */
    struct mr_ctx_arena *priv;
};

/*
 * Renders and packs (docs/context.md, "Prompt"). Sections in a fixed order
 * — rules, tables (one CREATE TABLE-like line each, with its join
 * conditions), examples (question / SQL), recent turns — each with a
 * heading when it has an item. While the estimate exceeds token_budget,
 * cuts, in this order:
 *   1. the lowest-scored item among the unpinned rules, the examples, the
 *      recent turns and the fill tables (ties: the later item in the prompt);
 *   2. the unmatched columns of the next wide table, lowest-scored table
 *      first (primary keys, join columns and matched columns are kept);
 *   3. the tables of the join forest, the last attached first;
 *   4. the pinned rules, lowest-scored first.
 * Then puts cut items back where they still fit, the last cut first; an
 * item that does not fit may be passed over for a smaller one of its own
 * step, never for one of an earlier step (a pinned rule left out keeps
 * everything else out). The prompt never exceeds the budget (it may be
 * empty). sel may be NULL (no schema: no tables); ix NULL makes it so.
 * rules, examples and recent are taken as given (the caller applies
 * max_rules, max_examples). *out_result is the caller's
 * (mr_ctx_result_free).
 */
void mr_ctx_pack(const struct mr_ctx_index *ix, const struct mr_ctx_selection *sel,
                 const struct mr_ctx_rule *rules, size_t nrules,
                 const struct mr_ctx_example *examples, size_t nexamples,
                 const struct mr_ctx_recent *recent, size_t nrecent, size_t token_budget,
                 struct mr_ctx_result **out_result);
void mr_ctx_result_free(struct mr_ctx_result *r);

/* ----------------------------------------------------------------- one call */

/* What the endpoint hands over for one question (borrowed for the call). */
struct mr_ctx_request {
    const char *question;
    size_t question_len;
    const struct mr_ctx_candidate *candidates; /* hybrid search over the table memories */
    size_t ncandidates;
    const struct mr_ctx_example *examples; /* the closest, at most max_examples */
    size_t nexamples;
    const struct mr_ctx_rule *rules; /* pinned ones and the most relevant, at most max_rules */
    size_t nrules;
    const struct mr_ctx_recent *recent; /* latest first */
    size_t nrecent;
    size_t token_budget;
    size_t max_tables;
    const struct mr_ctx_link_params *params; /* NULL: MR_CTX_LINK_DEFAULTS */
};

/*
 * mr_ctx_select then mr_ctx_pack: the whole context for one question into
 * *out_result (mr_ctx_result_free). ix NULL: a data source without a schema
 * (no tables, no joins; the rest as usual). Errors (MR_EINVAL, *out_result
 * NULL): a candidate's table out of range, max_tables 0, a NULL question
 * with a length.
 */
int mr_ctx_assemble(const struct mr_ctx_index *ix, const struct mr_ctx_request *req,
                    struct mr_ctx_result **out_result, struct mr_err *err);

#endif
