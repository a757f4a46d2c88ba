/* Unit tests of the context module's token estimate, packing and rendering (src/context/). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memori/context.h"
#include "memori/err.h"
#include "test.h"
#include "test_context_fixture.h"

static size_t est(const char *s)
{
    return mr_ctx_token_estimate(s, strlen(s));
}

TEST(test_token_estimate)
{
    CHECK_INT(est(""), 0);
    CHECK_INT(est("   \t "), 0);
    CHECK_INT(est("a"), 1);
    CHECK_INT(est("abcdefg"), 1);         /* a word of up to 7 letters */
    CHECK_INT(est("abcdefgh"), 2);        /* ceil(8 / 7) */
    CHECK_INT(est("customer orders"), 3); /* ceil(8 / 7) + 1 */
    CHECK_INT(est("12345"), 2);           /* ceil(5 / 3) */
    CHECK_INT(est("a1"), 2);              /* a letter run and a digit run */
    CHECK_INT(est("cust_id"), 3);         /* cust, _, id */
    CHECK_INT(est(");"), 1);              /* ceil(2 / 2) */
    CHECK_INT(est("(,);"), 2);
    CHECK_INT(est("a\nb\n"), 4);                   /* line breaks count */
    CHECK_INT(est("\xc3\xa9t\xc3\xa9"), 3);        /* é, t, é */
    CHECK_INT(est("\xe6\x97\xa5\xe6\x9c\xac"), 2); /* 日本 */
    /* Additive over lines. */
    const char *lines[] = {"CREATE TABLE a (id integer PRIMARY KEY);\n", "  -- join: a.id = b.id\n",
                           "Q: how many orders per month?\n"};
    char all[256] = "";
    size_t sum = 0;
    for (size_t i = 0; i < 3; i++) {
        strcat(all, lines[i]);
        sum += est(lines[i]);
    }
    CHECK_INT(est(all), sum);
    /* Bytes are read up to len only. */
    CHECK_INT(mr_ctx_token_estimate("abc def", 3), 1);
}

/* The small warehouse of the rendering tests. */
static void shop(struct fx *f)
{
    fx_table(f, "dim_cust", "customers of every channel",
             "cust_id* integer, cust_nm text #legal name, rgn_id integer");
    fx_table(f, "dim_rgn", "sales regions", "rgn_id* integer, rgn_nm text");
    fx_table(f, "fct_ord", "one row per order",
             "ord_id* bigint, cust_id integer, ord_dt date, amt numeric #order total in EUR");
    fx_join(f, 2, "cust_id", 0, "cust_id", MR_CTX_JOIN_DECLARED);
    fx_join(f, 0, "rgn_id", 1, "rgn_id", MR_CTX_JOIN_INFERRED);
    f->joins[1].memory_id = "j-rgn";
    f->tables[2].memory_id = "t-ord";
}

static const char *const ex_tables[] = {"fct_ord", "dim_rgn"};

static struct mr_ctx_rule rules[] = {
    {"r1", "Always use explicit JOINs,\nnever subqueries.", 0.4, true},
    {"r2", "Amounts are in EUR.", 0.7, false},
    {"r3", "Prefer CTEs for readability.", 0.2, false},
};
static struct mr_ctx_example examples[] = {
    {"e1", "revenue per region",
     "SELECT r.rgn_nm, sum(o.amt)\r\n  FROM fct_ord o\n  JOIN dim_cust c ON c.cust_id = "
     "o.cust_id\n\n  JOIN dim_rgn r ON r.rgn_id = c.rgn_id   \n GROUP BY 1;\n",
     0.8, false, ex_tables, 2},
    {"e2", "orders per customer", "SELECT cust_id, count(*) FROM fct_ord GROUP BY 1", 0.8, true,
     ex_tables, 1},
};
static struct mr_ctx_recent recent[] = {
    {"m1", "User asked for last month's orders.", "short_term", "2026-11-30T10:00:00Z"},
};

static const char *const expected_prompt =
    "## Rules\n"
    "- Always use explicit JOINs, never subqueries.\n"
    "- Amounts are in EUR.\n"
    "- Prefer CTEs for readability.\n"
    "## Tables\n"
    "CREATE TABLE fct_ord (ord_id bigint PRIMARY KEY, cust_id integer, ord_dt date, amt numeric "
    "/* order total in EUR */); -- one row per order\n"
    "CREATE TABLE dim_cust (cust_id integer PRIMARY KEY, cust_nm text /* legal name */, rgn_id "
    "integer); -- customers of every channel\n"
    "  -- join: fct_ord.cust_id = dim_cust.cust_id\n"
    "CREATE TABLE dim_rgn (rgn_id integer PRIMARY KEY, rgn_nm text); -- sales regions\n"
    "  -- join: dim_cust.rgn_id = dim_rgn.rgn_id (inferred from names)\n"
    "## Examples\n"
    "Q: orders per customer\n"
    "SQL: SELECT cust_id, count(*) FROM fct_ord GROUP BY 1\n"
    "Q: revenue per region\n"
    "SQL: SELECT r.rgn_nm, sum(o.amt)\n"
    "       FROM fct_ord o\n"
    "       JOIN dim_cust c ON c.cust_id = o.cust_id\n"
    "       JOIN dim_rgn r ON r.rgn_id = c.rgn_id\n"
    "      GROUP BY 1;\n"
    "## Recent conversation (latest first)\n"
    "- User asked for last month's orders.\n";

static struct mr_ctx_result *assemble(const struct fx *f, const char *q, size_t budget,
                                      size_t max_tables)
{
    struct mr_ctx_request req = {q, strlen(q), NULL, 0,      examples,   2,   rules,
                                 3, recent,    1,    budget, max_tables, NULL};
    struct mr_ctx_result *r = NULL;
    struct mr_err err;
    if (mr_ctx_assemble(f ? f->ix : NULL, &req, &r, &err) != 0)
        return NULL;
    return r;
}

TEST(test_render_sections_in_order)
{
    struct fx f = {0};
    shop(&f);
    CHECK_INT(fx_build(&f), 0);
    struct mr_ctx_result *r = assemble(&f, "order totals by region", 2000, 8);
    CHECK(r != NULL);
    CHECK_STR(r->prompt, expected_prompt);
    CHECK_INT(r->prompt_len, strlen(expected_prompt));
    CHECK_INT(r->token_estimate, est(expected_prompt));
    CHECK(!r->truncated);

    /* The model the codec encodes: what the prompt holds, in its order. */
    CHECK_INT(r->nrules, 3);
    CHECK_STR(r->rules[0].memory_id, "r1");
    CHECK(r->rules[0].pinned);
    CHECK_STR(r->rules[0].content, "Always use explicit JOINs,\nnever subqueries."); /* as stored */
    CHECK_STR(r->rules[1].memory_id, "r2");
    CHECK_INT(r->ntables, 3);
    CHECK_STR(r->tables[0].name, "fct_ord");
    CHECK_STR(r->tables[0].memory_id, "t-ord");
    CHECK(r->tables[1].memory_id == NULL);
    CHECK_INT(r->tables[0].reason, MR_CTX_MATCHED);
    CHECK_INT(r->tables[1].reason, MR_CTX_JOIN);
    CHECK_STR(mr_ctx_reason_name(r->tables[1].reason), "join");
    CHECK_INT(r->tables[0].ncolumns, 4);
    CHECK_INT(r->tables[0].columns_omitted, 0);
    CHECK_STR(r->tables[0].columns[3].name, "amt");
    CHECK_STR(r->tables[0].columns[3].type, "numeric");
    CHECK_STR(r->tables[0].columns[3].description, "order total in EUR");
    CHECK(r->tables[0].columns[0].primary_key && !r->tables[0].columns[1].primary_key);
    CHECK(r->tables[0].score > r->tables[1].score);
    CHECK_INT(r->njoins, 2);
    CHECK_STR(r->joins[0].from, "fct_ord.cust_id");
    CHECK_STR(r->joins[0].to, "dim_cust.cust_id");
    CHECK(!r->joins[0].inferred);
    CHECK_STR(mr_ctx_join_kind_name(r->joins[0].kind), "declared");
    CHECK_STR(r->joins[1].from, "dim_cust.rgn_id");
    CHECK(r->joins[1].inferred);
    CHECK_STR(r->joins[1].memory_id, "j-rgn");
    CHECK_STR(mr_ctx_join_kind_name(r->joins[1].kind), "inferred");
    /* Examples by score, verified first at equal score. */
    CHECK_INT(r->nexamples, 2);
    CHECK_STR(r->examples[0].memory_id, "e2");
    CHECK(r->examples[0].verified);
    CHECK(r->examples[0].tables == NULL);
    CHECK_INT(r->nrecent, 1);
    CHECK_STR(r->recent[0].created_at, "2026-11-30T10:00:00Z");
    CHECK_STR(r->recent[0].memory_type, "short_term");
    mr_ctx_result_free(r);
    fx_free(&f);
}

TEST(test_render_composite_keys_and_comments)
{
    struct fx f = {0};
    fx_table(&f, "po_ln", NULL, "po* bigint, ln* integer, qty numeric #units */ not a comment");
    fx_table(&f, "gr", "goods\nreceipts", "gr_id* bigint, po bigint, ln integer");
    f.from_col[0][0] = 1, f.from_col[0][1] = 2;
    f.to_col[0][0] = 0, f.to_col[0][1] = 1;
    f.joins[0] =
        (struct mr_ctx_join){1, 0, f.from_col[0], f.to_col[0], 2, MR_CTX_JOIN_EXAMPLE, NULL};
    f.nj = 1;
    CHECK_INT(fx_build(&f), 0);
    const char *q = "received units per purchase order line";
    const char *tabs[] = {"gr", "po_ln"};
    struct mr_ctx_example ex = {"e", "x", "SELECT 1", 0.9, false, tabs, 2};
    struct mr_ctx_request req = {q, strlen(q), NULL, 0, &ex, 1, NULL, 0, NULL, 0, 2000, 8, NULL};
    struct mr_ctx_result *r;
    struct mr_err err;
    CHECK_INT(mr_ctx_assemble(f.ix, &req, &r, &err), 0);
    CHECK(strstr(r->prompt, "CREATE TABLE po_ln (po bigint, ln integer, qty numeric /* units * / "
                            "not a comment */, PRIMARY KEY (po, ln));\n") != NULL);
    CHECK(strstr(r->prompt, "CREATE TABLE gr (gr_id bigint PRIMARY KEY, po bigint, ln integer); "
                            "-- goods receipts\n") != NULL);
    CHECK(strstr(r->prompt, "  -- join: gr.po = po_ln.po AND gr.ln = po_ln.ln (learned from "
                            "examples)\n") != NULL);
    CHECK_INT(r->njoins, 1);
    CHECK_STR(r->joins[0].from, "gr.po, gr.ln");
    CHECK_STR(r->joins[0].to, "po_ln.po, po_ln.ln");
    CHECK_STR(mr_ctx_join_kind_name(r->joins[0].kind), "example");
    mr_ctx_result_free(r);
    fx_free(&f);
}

/* A schema with a wide table (30 columns) joined to two small ones, for the budget tests. */
static void wide(struct fx *f)
{
    char cols[2048] = "wid* integer, cust_id integer, region_cd text";
    for (int i = 0; i < 27; i++) {
        char c[64];
        snprintf(c, sizeof c, ", attr_%02d text #an attribute nobody asked about", i);
        strcat(cols, c);
    }
    fx_table(f, "fct_wide", "the wide fact", cols);
    fx_table(f, "dim_cust", "customers", "cust_id* integer, cust_nm text");
    fx_table(f, "dim_misc", "miscellaneous customers notes", "misc_id* integer, note text");
    fx_join(f, 0, "cust_id", 1, "cust_id", MR_CTX_JOIN_DECLARED);
}

static const char *wide_q = "customers by region code";

TEST(test_pack_never_over_budget)
{
    struct fx f = {0};
    wide(&f);
    CHECK_INT(fx_build(&f), 0);
    struct mr_ctx_result *full = assemble(&f, wide_q, 100000, 8);
    CHECK(full && !full->truncated);
    size_t whole = full->token_estimate;
    CHECK(whole > 300);
    bool saw_cut = false, saw_empty = false;
    for (size_t budget = 0; budget <= whole + 20; budget += 3) {
        struct mr_ctx_result *r = assemble(&f, wide_q, budget, 8);
        CHECK(r != NULL);
        CHECK(r->token_estimate <= budget);
        CHECK_INT(r->token_estimate, mr_ctx_token_estimate(r->prompt, r->prompt_len));
        CHECK_INT(r->prompt_len, strlen(r->prompt));
        CHECK(r->truncated == (budget < whole));
        saw_cut |= r->truncated && r->prompt_len > 0;
        saw_empty |= r->prompt_len == 0;
        /* Never a heading without an item, never a join to a table that is not there. */
        for (size_t j = 0; j < r->njoins; j++) {
            char a[64], b[64];
            snprintf(a, sizeof a, "CREATE TABLE %.*s ", (int)strcspn(r->joins[j].from, "."),
                     r->joins[j].from);
            snprintf(b, sizeof b, "CREATE TABLE %.*s ", (int)strcspn(r->joins[j].to, "."),
                     r->joins[j].to);
            CHECK(strstr(r->prompt, a) && strstr(r->prompt, b));
        }
        CHECK(strstr(r->prompt, "## Rules\n## ") == NULL);
        mr_ctx_result_free(r);
    }
    CHECK(saw_cut && saw_empty);
    mr_ctx_result_free(full);
    fx_free(&f);
}

TEST(test_pack_is_deterministic)
{
    struct fx f = {0};
    wide(&f);
    CHECK_INT(fx_build(&f), 0);
    for (size_t budget = 40; budget < 900; budget += 37) {
        struct mr_ctx_result *a = assemble(&f, wide_q, budget, 8);
        struct mr_ctx_result *b = assemble(&f, wide_q, budget, 8);
        CHECK(a && b);
        CHECK_INT(a->prompt_len, b->prompt_len);
        CHECK(memcmp(a->prompt, b->prompt, a->prompt_len) == 0);
        CHECK(a->truncated == b->truncated);
        mr_ctx_result_free(a);
        mr_ctx_result_free(b);
    }
    /* The same schema built from tables and joins in another order gives the same bytes. */
    struct fx g = {0};
    fx_table(&g, "dim_misc", "miscellaneous customers notes", "misc_id* integer, note text");
    fx_table(&g, "dim_cust", "customers", "cust_id* integer, cust_nm text");
    char cols[2048] = "wid* integer, cust_id integer, region_cd text";
    for (int i = 0; i < 27; i++) {
        char c[64];
        snprintf(c, sizeof c, ", attr_%02d text #an attribute nobody asked about", i);
        strcat(cols, c);
    }
    fx_table(&g, "fct_wide", "the wide fact", cols);
    fx_join(&g, 2, "cust_id", 1, "cust_id", MR_CTX_JOIN_DECLARED);
    CHECK_INT(fx_build(&g), 0);
    struct mr_ctx_result *a = assemble(&f, wide_q, 400, 8), *b = assemble(&g, wide_q, 400, 8);
    CHECK_STR(a->prompt, b->prompt);
    mr_ctx_result_free(a);
    mr_ctx_result_free(b);
    fx_free(&g);
    fx_free(&f);
}

TEST(test_pack_keeps_pinned_rules_under_a_tiny_budget)
{
    struct fx f = {0};
    wide(&f);
    CHECK_INT(fx_build(&f), 0);
    const char *only = "## Rules\n- Always use explicit JOINs, never subqueries.\n";
    size_t need = est(only);
    struct mr_ctx_result *r = assemble(&f, wide_q, need, 8);
    CHECK_STR(r->prompt, only);
    CHECK(r->truncated);
    CHECK_INT(r->nrules, 1);
    CHECK(r->rules[0].pinned);
    CHECK_INT(r->ntables + r->nexamples + r->nrecent, 0);
    mr_ctx_result_free(r);
    /* One token less: not even the pinned rule fits, and the prompt is empty, not over. */
    r = assemble(&f, wide_q, need - 1, 8);
    CHECK_STR(r->prompt, "");
    CHECK_INT(r->token_estimate, 0);
    CHECK(r->truncated);
    CHECK_INT(r->nrules, 0);
    mr_ctx_result_free(r);
    fx_free(&f);
}

TEST(test_pack_trims_wide_columns_before_dropping_tables)
{
    struct fx f = {0};
    wide(&f);
    CHECK_INT(fx_build(&f), 0);
    /* The tables and the pinned rule only, 60 tokens short: cutting the fill table dim_misc
     * (about 20 tokens) is not enough; trimming the wide table is, and dim_misc comes back. */
    struct mr_ctx_request req = {wide_q, strlen(wide_q), NULL, 0,      NULL, 0,   rules,
                                 1,      NULL,           0,    100000, 8,    NULL};
    struct mr_ctx_result *full, *r;
    struct mr_err err;
    CHECK_INT(mr_ctx_assemble(f.ix, &req, &full, &err), 0);
    CHECK(full->ntables >= 2);
    CHECK_STR(full->tables[0].name, "fct_wide");
    CHECK_INT(full->tables[0].ncolumns, 30);
    req.token_budget = full->token_estimate - 60;
    CHECK_INT(mr_ctx_assemble(f.ix, &req, &r, &err), 0);
    CHECK(r->truncated);
    CHECK(r->token_estimate <= req.token_budget);
    /* Every table is still there; the wide one lost its unmatched columns only. */
    CHECK_INT(r->ntables, full->ntables);
    const struct mr_ctx_table_out *t = &r->tables[0];
    CHECK_STR(t->name, "fct_wide");
    CHECK(t->columns_omitted > 0);
    CHECK_INT(t->ncolumns + t->columns_omitted, 30);
    bool pk = false, key = false, matched = false;
    for (size_t c = 0; c < t->ncolumns; c++) {
        pk |= strcmp(t->columns[c].name, "wid") == 0;
        key |= strcmp(t->columns[c].name, "cust_id") == 0;
        matched |= strcmp(t->columns[c].name, "region_cd") == 0;
    }
    CHECK(pk && key && matched);
    CHECK_INT(t->ncolumns, 3);
    char note[64];
    snprintf(note, sizeof note, ", /* %zu more columns */);", t->columns_omitted);
    CHECK(strstr(r->prompt, note) != NULL);
    CHECK(strstr(r->prompt, "CREATE TABLE dim_cust") != NULL);
    CHECK(strstr(r->prompt, "Always use explicit JOINs") != NULL);
    /* A narrow table keeps its columns (dim_cust has 2). */
    for (size_t i = 1; i < r->ntables; i++)
        CHECK_INT(r->tables[i].columns_omitted, 0);
    mr_ctx_result_free(r);
    mr_ctx_result_free(full);
    fx_free(&f);
}

TEST(test_pack_cuts_the_lowest_scored_item_first)
{
    struct fx f = {0};
    shop(&f);
    CHECK_INT(fx_build(&f), 0);
    struct mr_ctx_result *full = assemble(&f, "order totals by region", 100000, 8);
    /* One token short: the cheapest cut is enough, and it is the lowest-scored item (r3, 0.2). */
    struct mr_ctx_result *r = assemble(&f, "order totals by region", full->token_estimate - 1, 8);
    CHECK(r->truncated);
    CHECK_INT(r->nrules, 2);
    CHECK(strstr(r->prompt, "Prefer CTEs") == NULL);
    CHECK_INT(r->nexamples, 2);
    CHECK_INT(r->nrecent, 1);
    CHECK_INT(r->ntables, 3);
    mr_ctx_result_free(r);
    /* Shorter still: the recent turn (0.5) goes before the rule of 0.7 and the examples (0.8);
     * the smaller items cut on the way are put back where they still fit. */
    size_t recent_cost = est("- User asked for last month's orders.\n") +
                         est("## Recent conversation (latest first)\n");
    r = assemble(&f, "order totals by region", full->token_estimate - recent_cost, 8);
    CHECK_INT(r->nrecent, 0);
    CHECK_INT(r->nexamples, 2);
    CHECK_INT(r->nrules, 3);
    mr_ctx_result_free(r);
    mr_ctx_result_free(full);
    fx_free(&f);
}

TEST(test_pack_without_schema_or_items)
{
    /* A data source without a schema: rules, examples and recent turns, no table. */
    struct mr_ctx_result *r = assemble(NULL, "order totals by region", 2000, 8);
    CHECK(r != NULL);
    CHECK_INT(r->ntables, 0);
    CHECK_INT(r->njoins, 0);
    CHECK(strstr(r->prompt, "## Tables") == NULL);
    CHECK(strstr(r->prompt, "## Rules\n") == r->prompt);
    mr_ctx_result_free(r);
    /* Nothing at all: an empty prompt that was not cut. */
    struct mr_ctx_request req = {"hi", 2, NULL, 0, NULL, 0, NULL, 0, NULL, 0, 2000, 8, NULL};
    struct mr_err err;
    CHECK_INT(mr_ctx_assemble(NULL, &req, &r, &err), 0);
    CHECK_STR(r->prompt, "");
    CHECK(!r->truncated);
    CHECK_INT(r->token_estimate, 0);
    mr_ctx_result_free(r);
}

TEST(test_assemble_rejects_bad_requests)
{
    struct fx f = {0};
    shop(&f);
    CHECK_INT(fx_build(&f), 0);
    struct mr_ctx_result *r = (struct mr_ctx_result *)&f; /* must be reset to NULL */
    struct mr_err err;
    struct mr_ctx_request req = {"q", 1, NULL, 0, NULL, 0, NULL, 0, NULL, 0, 2000, 0, NULL};
    CHECK_INT(mr_ctx_assemble(f.ix, &req, &r, &err), MR_EINVAL);
    CHECK(r == NULL);
    struct mr_ctx_candidate bad = {99, 0.5};
    req.max_tables = 8;
    req.candidates = &bad;
    req.ncandidates = 1;
    CHECK_INT(mr_ctx_assemble(f.ix, &req, &r, &err), MR_EINVAL);
    CHECK(r == NULL);
    CHECK(strstr(err.msg, "candidate") != NULL);
    req.ncandidates = 0;
    req.question = NULL;
    CHECK_INT(mr_ctx_assemble(f.ix, &req, &r, &err), MR_EINVAL);
    req.question_len = 0;
    CHECK_INT(mr_ctx_assemble(f.ix, &req, &r, &err), 0);
    mr_ctx_result_free(r);
    fx_free(&f);
}

TEST(test_max_tables_bounds_the_tables)
{
    struct fx f = {0};
    shop(&f);
    CHECK_INT(fx_build(&f), 0);
    struct mr_ctx_result *r = assemble(&f, "order totals by region", 2000, 1);
    CHECK_INT(r->ntables, 1);
    CHECK_INT(r->njoins, 0);
    mr_ctx_result_free(r);
    r = assemble(&f, "order totals by region", 2000, 2);
    CHECK_INT(r->ntables, 2);
    mr_ctx_result_free(r);
    fx_free(&f);
}

TEST_MAIN("context_pack", T(test_token_estimate), T(test_render_sections_in_order),
          T(test_render_composite_keys_and_comments), T(test_pack_never_over_budget),
          T(test_pack_is_deterministic), T(test_pack_keeps_pinned_rules_under_a_tiny_budget),
          T(test_pack_trims_wide_columns_before_dropping_tables),
          T(test_pack_cuts_the_lowest_scored_item_first), T(test_pack_without_schema_or_items),
          T(test_assemble_rejects_bad_requests), T(test_max_tables_bounds_the_tables))
