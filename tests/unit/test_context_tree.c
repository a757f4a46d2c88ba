/* Unit tests of the context module's schema index, join forest and linking (src/context/). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_context_fixture.h"
#include "memori/context.h"
#include "memori/err.h"
#include "memori/sql.h"
#include "test.h"

/* The forest's tables as "a b c" (attach order), into buf. */
static const char *names(const struct fx *f, const size_t *tables, size_t n, char *buf, size_t cap)
{
    buf[0] = '\0';
    size_t len = 0;
    for (size_t i = 0; i < n; i++)
        len +=
            (size_t)snprintf(buf + len, cap - len, "%s%s", i ? " " : "", f->tables[tables[i]].name);
    return buf;
}

static const char *forest_names(const struct fx *f, const struct mr_ctx_forest *fo, char *buf,
                                size_t cap)
{
    return names(f, fo->tables, fo->ntables, buf, cap);
}

/* A chain of tables t0 - t1 - ... - t(n-1) joined by declared keys. */
static void chain(struct fx *f, const char *const *tn, size_t n)
{
    for (size_t i = 0; i < n; i++)
        fx_table(f, tn[i], NULL, "id*");
    for (size_t i = 0; i + 1 < n; i++)
        fx_join(f, i + 1, NULL, i, NULL, MR_CTX_JOIN_DECLARED);
}

TEST(test_forest_chain_adds_the_tables_between)
{
    static const char *const tn[] = {"a", "b", "c", "d", "e"};
    struct fx f = {0};
    chain(&f, tn, 5);
    CHECK_INT(fx_build(&f), 0);
    size_t seeds[] = {0, 4};
    struct mr_ctx_forest fo;
    char buf[256];
    mr_ctx_join_forest(f.ix, seeds, 2, NULL, 8, MR_CTX_MAX_HOPS, &fo);
    CHECK_STR(forest_names(&f, &fo, buf, sizeof buf), "a b c d e");
    CHECK_INT(fo.ntrees, 1);
    CHECK_INT(fo.njoins, 4);
    CHECK(fo.is_seed[0] && !fo.is_seed[1] && !fo.is_seed[2] && !fo.is_seed[3] && fo.is_seed[4]);
    /* The joins in the order of the tables they attach: join k brings table k + 1. */
    for (size_t k = 0; k < fo.njoins; k++) {
        const struct mr_ctx_join *j = &f.joins[fo.joins[k]];
        CHECK((j->from_table == fo.tables[k] && j->to_table == fo.tables[k + 1]) ||
              (j->to_table == fo.tables[k] && j->from_table == fo.tables[k + 1]));
    }
    mr_ctx_forest_free(&fo);
    /* Four hops is the bound: with three, e stays its own tree and nothing is dragged in. */
    mr_ctx_join_forest(f.ix, seeds, 2, NULL, 8, 3, &fo);
    CHECK_STR(forest_names(&f, &fo, buf, sizeof buf), "a e");
    CHECK_INT(fo.ntrees, 2);
    CHECK_INT(fo.njoins, 0);
    CHECK(fo.tree[0] == 0 && fo.tree[1] == 1);
    mr_ctx_forest_free(&fo);
    fx_free(&f);
}

TEST(test_forest_seed_beyond_the_hop_bound_stays_unconnected)
{
    static const char *const tn[] = {"a", "b", "c", "d", "e", "f", "g"};
    struct fx f = {0};
    chain(&f, tn, 7);
    CHECK_INT(fx_build(&f), 0);
    size_t seeds[] = {0, 6, 1};
    struct mr_ctx_forest fo;
    char buf[256];
    mr_ctx_join_forest(f.ix, seeds, 3, NULL, 10, MR_CTX_MAX_HOPS, &fo);
    /* a and b join; g is 5 hops from b: its own tree, not a five-table chain. */
    CHECK_STR(forest_names(&f, &fo, buf, sizeof buf), "a b g");
    CHECK_INT(fo.ntrees, 2);
    CHECK_INT(fo.njoins, 1);
    mr_ctx_forest_free(&fo);
    fx_free(&f);
}

TEST(test_forest_star_uses_the_hub_once)
{
    struct fx f = {0};
    size_t hub = fx_table(&f, "hub", NULL, "id*");
    const char *leaves[] = {"l1", "l2", "l3", "l4", "l5"};
    for (size_t i = 0; i < 5; i++) {
        size_t l = fx_table(&f, leaves[i], NULL, "id*");
        fx_join(&f, hub, NULL, l, NULL, MR_CTX_JOIN_DECLARED);
    }
    CHECK_INT(fx_build(&f), 0);
    size_t seeds[] = {fx_t(&f, "l1"), fx_t(&f, "l3"), fx_t(&f, "l5")};
    struct mr_ctx_forest fo;
    char buf[256];
    mr_ctx_join_forest(f.ix, seeds, 3, NULL, 8, MR_CTX_MAX_HOPS, &fo);
    CHECK_STR(forest_names(&f, &fo, buf, sizeof buf), "l1 hub l3 l5");
    CHECK_INT(fo.njoins, 3);
    CHECK_INT(fo.ntrees, 1);
    CHECK(!fo.is_seed[1]);
    mr_ctx_forest_free(&fo);
    fx_free(&f);
}

/* A square a - b - c - d - a: two equal paths from a to c. */
static void square(struct fx *f, bool reversed)
{
    const char *tn[] = {"a", "b", "c", "d"};
    for (size_t i = 0; i < 4; i++)
        fx_table(f, tn[reversed ? 3 - i : i], NULL, "id*");
    size_t a = fx_t(f, "a"), b = fx_t(f, "b"), c = fx_t(f, "c"), d = fx_t(f, "d");
    if (!reversed) {
        fx_join(f, b, NULL, a, NULL, MR_CTX_JOIN_DECLARED);
        fx_join(f, c, NULL, b, NULL, MR_CTX_JOIN_DECLARED);
        fx_join(f, d, NULL, c, NULL, MR_CTX_JOIN_DECLARED);
        fx_join(f, a, NULL, d, NULL, MR_CTX_JOIN_DECLARED);
    } else {
        fx_join(f, a, NULL, d, NULL, MR_CTX_JOIN_DECLARED);
        fx_join(f, d, NULL, c, NULL, MR_CTX_JOIN_DECLARED);
        fx_join(f, c, NULL, b, NULL, MR_CTX_JOIN_DECLARED);
        fx_join(f, b, NULL, a, NULL, MR_CTX_JOIN_DECLARED);
    }
}

TEST(test_forest_cycle_ties_go_to_the_first_name)
{
    char buf[256], buf2[256];
    for (int rev = 0; rev < 2; rev++) {
        struct fx f = {0};
        square(&f, rev);
        CHECK_INT(fx_build(&f), 0);
        size_t seeds[] = {fx_t(&f, "a"), fx_t(&f, "c")};
        struct mr_ctx_forest fo;
        mr_ctx_join_forest(f.ix, seeds, 2, NULL, 8, MR_CTX_MAX_HOPS, &fo);
        /* Through b, whatever order the tables and joins came in; never a cycle. */
        CHECK_STR(forest_names(&f, &fo, rev ? buf2 : buf, sizeof buf), "a b c");
        CHECK_INT(fo.njoins, 2);
        mr_ctx_forest_free(&fo);
        /* Three seeds on the cycle: three joins, not four. */
        size_t three[] = {fx_t(&f, "a"), fx_t(&f, "c"), fx_t(&f, "d")};
        mr_ctx_join_forest(f.ix, three, 3, NULL, 8, MR_CTX_MAX_HOPS, &fo);
        CHECK_INT(fo.ntables, 3);
        CHECK_INT(fo.njoins, 2);
        CHECK_STR(forest_names(&f, &fo, buf, sizeof buf), "a d c");
        mr_ctx_forest_free(&fo);
        fx_free(&f);
    }
}

TEST(test_forest_disconnected_parts_make_several_trees)
{
    struct fx f = {0};
    size_t a = fx_table(&f, "a", NULL, "id*"), b = fx_table(&f, "b", NULL, "id*");
    size_t c = fx_table(&f, "c", NULL, "id*"), d = fx_table(&f, "d", NULL, "id*");
    size_t x = fx_table(&f, "x", NULL, "id*");
    fx_join(&f, a, NULL, x, NULL, MR_CTX_JOIN_DECLARED);
    fx_join(&f, x, NULL, b, NULL, MR_CTX_JOIN_DECLARED);
    fx_join(&f, c, NULL, d, NULL, MR_CTX_JOIN_INFERRED);
    CHECK_INT(fx_build(&f), 0);
    size_t seeds[] = {a, c, b, d};
    struct mr_ctx_forest fo;
    char buf[256];
    mr_ctx_join_forest(f.ix, seeds, 4, NULL, 8, MR_CTX_MAX_HOPS, &fo);
    CHECK_STR(forest_names(&f, &fo, buf, sizeof buf), "a x b c d");
    CHECK_INT(fo.ntrees, 2);
    CHECK_INT(fo.njoins, 3);
    CHECK(fo.tree[0] == 0 && fo.tree[1] == 0 && fo.tree[2] == 0);
    CHECK(fo.tree[3] == 1 && fo.tree[4] == 1);
    mr_ctx_forest_free(&fo);
    fx_free(&f);
}

TEST(test_forest_bridge_two_hops_away)
{
    /* fct_sale → lnk_sale_promo → dim_promo: the bridge table is named by no question. */
    struct fx f = {0};
    size_t sale = fx_table(&f, "fct_sale", NULL, "sale_id*, amt");
    size_t lnk = fx_table(&f, "lnk_sale_promo", NULL, "sale_id, promo_id");
    size_t promo = fx_table(&f, "dim_promo", NULL, "promo_id*, promo_nm");
    size_t other = fx_table(&f, "dim_store", NULL, "store_id*");
    fx_join(&f, lnk, "sale_id", sale, "sale_id", MR_CTX_JOIN_DECLARED);
    fx_join(&f, lnk, "promo_id", promo, "promo_id", MR_CTX_JOIN_DECLARED);
    fx_join(&f, sale, "amt", other, "store_id", MR_CTX_JOIN_DECLARED);
    CHECK_INT(fx_build(&f), 0);
    size_t seeds[] = {promo, sale};
    struct mr_ctx_forest fo;
    char buf[256];
    mr_ctx_join_forest(f.ix, seeds, 2, NULL, 8, MR_CTX_MAX_HOPS, &fo);
    CHECK_STR(forest_names(&f, &fo, buf, sizeof buf), "dim_promo lnk_sale_promo fct_sale");
    CHECK(fo.is_seed[0] && !fo.is_seed[1] && fo.is_seed[2]);
    CHECK_INT(fo.njoins, 2);
    mr_ctx_forest_free(&fo);
    fx_free(&f);
}

TEST(test_forest_prefers_declared_then_inferred_then_example)
{
    /* a → d by two 2-hop paths: via b (inferred joins; b sorts first) or via c (declared). */
    struct fx f = {0};
    size_t a = fx_table(&f, "a", NULL, "id*"), b = fx_table(&f, "b", NULL, "id*");
    size_t c = fx_table(&f, "c", NULL, "id*"), d = fx_table(&f, "d", NULL, "id*");
    size_t e = fx_table(&f, "e", NULL, "id*");
    fx_join(&f, a, NULL, b, NULL, MR_CTX_JOIN_INFERRED);
    fx_join(&f, b, NULL, d, NULL, MR_CTX_JOIN_INFERRED);
    fx_join(&f, a, NULL, c, NULL, MR_CTX_JOIN_DECLARED);
    fx_join(&f, c, NULL, d, NULL, MR_CTX_JOIN_DECLARED);
    /* and via e with joins learned from examples, beside the inferred path via b */
    fx_join(&f, a, NULL, e, NULL, MR_CTX_JOIN_EXAMPLE);
    fx_join(&f, e, NULL, d, NULL, MR_CTX_JOIN_EXAMPLE);
    CHECK_INT(fx_build(&f), 0);
    size_t seeds[] = {a, d};
    struct mr_ctx_forest fo;
    char buf[256];
    mr_ctx_join_forest(f.ix, seeds, 2, NULL, 8, MR_CTX_MAX_HOPS, &fo);
    CHECK_STR(forest_names(&f, &fo, buf, sizeof buf), "a c d");
    mr_ctx_forest_free(&fo);
    fx_free(&f);

    /* Without c: inferred (via b) beats learned from an example (via e), e sorting later anyway;
     * rename so the example path's bridge sorts first. */
    struct fx g = {0};
    a = fx_table(&g, "a", NULL, "id*");
    size_t z = fx_table(&g, "z_inferred", NULL, "id*");
    size_t y = fx_table(&g, "b_example", NULL, "id*");
    d = fx_table(&g, "d", NULL, "id*");
    fx_join(&g, a, NULL, z, NULL, MR_CTX_JOIN_INFERRED);
    fx_join(&g, z, NULL, d, NULL, MR_CTX_JOIN_INFERRED);
    fx_join(&g, a, NULL, y, NULL, MR_CTX_JOIN_EXAMPLE);
    fx_join(&g, y, NULL, d, NULL, MR_CTX_JOIN_EXAMPLE);
    CHECK_INT(fx_build(&g), 0);
    size_t seeds2[] = {a, d};
    mr_ctx_join_forest(g.ix, seeds2, 2, NULL, 8, MR_CTX_MAX_HOPS, &fo);
    CHECK_STR(forest_names(&g, &fo, buf, sizeof buf), "a z_inferred d");
    mr_ctx_forest_free(&fo);
    fx_free(&g);
}

TEST(test_forest_prefers_relevant_bridges_at_equal_length)
{
    /* a → d through b or c, both declared: by name b, by relevance c when c matches better. */
    struct fx f = {0};
    size_t a = fx_table(&f, "a", NULL, "id*"), b = fx_table(&f, "b", NULL, "id*");
    size_t c = fx_table(&f, "c", NULL, "id*"), d = fx_table(&f, "d", NULL, "id*");
    size_t e = fx_table(&f, "e", NULL, "id*");
    fx_join(&f, a, NULL, b, NULL, MR_CTX_JOIN_DECLARED);
    fx_join(&f, b, NULL, d, NULL, MR_CTX_JOIN_DECLARED);
    fx_join(&f, a, NULL, c, NULL, MR_CTX_JOIN_DECLARED);
    fx_join(&f, c, NULL, d, NULL, MR_CTX_JOIN_DECLARED);
    /* e is relevant but on a longer path: relevance never buys a longer path. */
    fx_join(&f, a, NULL, e, NULL, MR_CTX_JOIN_DECLARED);
    size_t ee = fx_table(&f, "ee", NULL, "id*");
    fx_join(&f, e, NULL, ee, NULL, MR_CTX_JOIN_DECLARED);
    fx_join(&f, ee, NULL, d, NULL, MR_CTX_JOIN_DECLARED);
    CHECK_INT(fx_build(&f), 0);
    size_t seeds[] = {a, d};
    double scores[8] = {0.9, 0.0, 0.3, 0.8, 1.0, 1.0};
    struct mr_ctx_forest fo;
    char buf[256];
    mr_ctx_join_forest(f.ix, seeds, 2, NULL, 8, MR_CTX_MAX_HOPS, &fo);
    CHECK_STR(forest_names(&f, &fo, buf, sizeof buf), "a b d");
    mr_ctx_forest_free(&fo);
    mr_ctx_join_forest(f.ix, seeds, 2, scores, 8, MR_CTX_MAX_HOPS, &fo);
    CHECK_STR(forest_names(&f, &fo, buf, sizeof buf), "a c d");
    mr_ctx_forest_free(&fo);
    /* The kind still comes first: make a-c inferred, and b wins again. */
    f.joins[2].kind = MR_CTX_JOIN_INFERRED;
    mr_ctx_index_free(f.ix);
    CHECK_INT(fx_build(&f), 0);
    mr_ctx_join_forest(f.ix, seeds, 2, scores, 8, MR_CTX_MAX_HOPS, &fo);
    CHECK_STR(forest_names(&f, &fo, buf, sizeof buf), "a b d");
    mr_ctx_forest_free(&fo);
    fx_free(&f);
}

TEST(test_forest_fewer_joins_beat_declared_ones)
{
    /* One inferred join a-d against a declared 2-hop path: the shorter path wins. */
    struct fx f = {0};
    size_t a = fx_table(&f, "a", NULL, "id*"), b = fx_table(&f, "b", NULL, "id*");
    size_t d = fx_table(&f, "d", NULL, "id*");
    fx_join(&f, a, NULL, b, NULL, MR_CTX_JOIN_DECLARED);
    fx_join(&f, b, NULL, d, NULL, MR_CTX_JOIN_DECLARED);
    size_t direct = fx_join(&f, a, NULL, d, NULL, MR_CTX_JOIN_INFERRED);
    CHECK_INT(fx_build(&f), 0);
    size_t seeds[] = {a, d};
    struct mr_ctx_forest fo;
    char buf[256];
    mr_ctx_join_forest(f.ix, seeds, 2, NULL, 8, MR_CTX_MAX_HOPS, &fo);
    CHECK_STR(forest_names(&f, &fo, buf, sizeof buf), "a d");
    CHECK_INT(fo.njoins, 1);
    CHECK_INT(fo.joins[0], direct);
    mr_ctx_forest_free(&fo);
    fx_free(&f);
}

TEST(test_forest_parallel_joins_take_the_declared_one)
{
    struct fx f = {0};
    size_t a = fx_table(&f, "a", NULL, "id*, b_id"), b = fx_table(&f, "b", NULL, "id*");
    fx_join(&f, a, "b_id", b, "id", MR_CTX_JOIN_INFERRED);
    size_t decl = fx_join(&f, a, "b_id", b, "id", MR_CTX_JOIN_DECLARED);
    CHECK_INT(fx_build(&f), 0);
    size_t seeds[] = {b, a};
    struct mr_ctx_forest fo;
    mr_ctx_join_forest(f.ix, seeds, 2, NULL, 8, MR_CTX_MAX_HOPS, &fo);
    CHECK_INT(fo.njoins, 1);
    CHECK_INT(fo.joins[0], decl);
    mr_ctx_forest_free(&fo);
    fx_free(&f);
}

TEST(test_forest_respects_max_tables)
{
    static const char *const tn[] = {"a", "b", "c", "d"};
    struct fx f = {0};
    chain(&f, tn, 4);
    CHECK_INT(fx_build(&f), 0);
    size_t seeds[] = {0, 3};
    struct mr_ctx_forest fo;
    char buf[256];
    /* a..d needs 4 tables; with 3, d comes alone rather than not at all. */
    mr_ctx_join_forest(f.ix, seeds, 2, NULL, 3, MR_CTX_MAX_HOPS, &fo);
    CHECK_STR(forest_names(&f, &fo, buf, sizeof buf), "a d");
    CHECK_INT(fo.ntrees, 2);
    mr_ctx_forest_free(&fo);
    mr_ctx_join_forest(f.ix, seeds, 2, NULL, 1, MR_CTX_MAX_HOPS, &fo);
    CHECK_STR(forest_names(&f, &fo, buf, sizeof buf), "a");
    mr_ctx_forest_free(&fo);
    mr_ctx_join_forest(f.ix, seeds, 2, NULL, 0, MR_CTX_MAX_HOPS, &fo);
    CHECK_INT(fo.ntables, 0);
    mr_ctx_forest_free(&fo);
    fx_free(&f);
}

TEST(test_forest_merges_trees_a_later_tree_comes_near)
{
    /* a - q1 - q2 - q3 - m, and b - m - c: b and c are 5 hops from a, but m is 4. */
    struct fx f = {0};
    const char *tn[] = {"a", "q1", "q2", "q3", "m", "b", "c"};
    for (size_t i = 0; i < 7; i++)
        fx_table(&f, tn[i], NULL, "id*");
    for (size_t i = 0; i + 1 < 5; i++)
        fx_join(&f, i, NULL, i + 1, NULL, MR_CTX_JOIN_DECLARED);
    fx_join(&f, fx_t(&f, "b"), NULL, fx_t(&f, "m"), NULL, MR_CTX_JOIN_DECLARED);
    fx_join(&f, fx_t(&f, "c"), NULL, fx_t(&f, "m"), NULL, MR_CTX_JOIN_DECLARED);
    CHECK_INT(fx_build(&f), 0);
    size_t seeds[] = {fx_t(&f, "a"), fx_t(&f, "b"), fx_t(&f, "c")};
    struct mr_ctx_forest fo;
    char buf[256];
    mr_ctx_join_forest(f.ix, seeds, 3, NULL, 10, MR_CTX_MAX_HOPS, &fo);
    CHECK_STR(forest_names(&f, &fo, buf, sizeof buf), "a b m c q3 q2 q1");
    CHECK_INT(fo.ntrees, 1);
    CHECK_INT(fo.njoins, 6);
    for (size_t i = 0; i < fo.ntables; i++)
        CHECK_INT(fo.tree[i], 0);
    mr_ctx_forest_free(&fo);
    /* Not when the merge does not fit: two trees. */
    mr_ctx_join_forest(f.ix, seeds, 3, NULL, 5, MR_CTX_MAX_HOPS, &fo);
    CHECK_STR(forest_names(&f, &fo, buf, sizeof buf), "a b m c");
    CHECK_INT(fo.ntrees, 2);
    CHECK_INT(fo.njoins, 2);
    mr_ctx_forest_free(&fo);
    fx_free(&f);
}

TEST(test_forest_ignores_repeated_and_unknown_seeds)
{
    static const char *const tn[] = {"a", "b", "c"};
    struct fx f = {0};
    chain(&f, tn, 3);
    CHECK_INT(fx_build(&f), 0);
    size_t seeds[] = {2, 2, 99, 0, 2};
    struct mr_ctx_forest fo;
    char buf[256];
    mr_ctx_join_forest(f.ix, seeds, 5, NULL, 8, MR_CTX_MAX_HOPS, &fo);
    CHECK_STR(forest_names(&f, &fo, buf, sizeof buf), "c b a");
    mr_ctx_forest_free(&fo);
    mr_ctx_join_forest(f.ix, NULL, 0, NULL, 8, MR_CTX_MAX_HOPS, &fo);
    CHECK_INT(fo.ntables, 0);
    CHECK_INT(fo.ntrees, 0);
    mr_ctx_forest_free(&fo);
    fx_free(&f);
}

TEST(test_forest_same_for_any_input_order)
{
    /* A grid of 4 x 4 tables: many equal paths. Tables and joins given in two orders. */
    char out[2][512];
    for (int pass = 0; pass < 2; pass++) {
        struct fx f = {0};
        static const char *const gn[16] = {"g00", "g01", "g02", "g03", "g10", "g11", "g12", "g13",
                                           "g20", "g21", "g22", "g23", "g30", "g31", "g32", "g33"};
        for (size_t i = 0; i < 16; i++)
            fx_table(&f, gn[pass ? 15 - i : i], NULL, "id*");
        size_t pairs[24][2], np = 0;
        for (size_t r = 0; r < 4; r++)
            for (size_t c = 0; c < 4; c++) {
                if (c + 1 < 4)
                    pairs[np][0] = r * 4 + c, pairs[np++][1] = r * 4 + c + 1;
                if (r + 1 < 4)
                    pairs[np][0] = r * 4 + c, pairs[np++][1] = (r + 1) * 4 + c;
            }
        for (size_t k = 0; k < np; k++) {
            size_t *pr = pairs[pass ? np - 1 - k : k];
            fx_join(&f, fx_t(&f, gn[pr[0]]), NULL, fx_t(&f, gn[pr[1]]), NULL, MR_CTX_JOIN_DECLARED);
        }
        CHECK_INT(fx_build(&f), 0);
        size_t seeds[] = {fx_t(&f, "g00"), fx_t(&f, "g33"), fx_t(&f, "g30")};
        struct mr_ctx_forest fo;
        mr_ctx_join_forest(f.ix, seeds, 3, NULL, 16, 6, &fo);
        forest_names(&f, &fo, out[pass], sizeof out[pass]);
        CHECK_INT(fo.njoins, fo.ntables - 1);
        mr_ctx_forest_free(&fo);
        fx_free(&f);
    }
    CHECK_STR(out[0], out[1]);
    /* g00 to g30 first (3 hops, through g10, g20), then g33 from g30 along the bottom row. */
    CHECK_STR(out[0], "g00 g10 g20 g30 g31 g32 g33");
}

TEST(test_forest_grid_ties_by_name)
{
    /* g00 to g33: twenty shortest paths of six joins; the one whose tables sort first. */
    struct fx f = {0};
    static const char *const gn[16] = {"g00", "g01", "g02", "g03", "g10", "g11", "g12", "g13",
                                       "g20", "g21", "g22", "g23", "g30", "g31", "g32", "g33"};
    for (size_t i = 0; i < 16; i++)
        fx_table(&f, gn[i], NULL, "id*");
    for (size_t r = 0; r < 4; r++)
        for (size_t c = 0; c < 4; c++) {
            if (c + 1 < 4)
                fx_join(&f, r * 4 + c + 1, NULL, r * 4 + c, NULL, MR_CTX_JOIN_DECLARED);
            if (r + 1 < 4)
                fx_join(&f, (r + 1) * 4 + c, NULL, r * 4 + c, NULL, MR_CTX_JOIN_DECLARED);
        }
    CHECK_INT(fx_build(&f), 0);
    size_t seeds[] = {0, 15};
    struct mr_ctx_forest fo;
    char buf[256];
    mr_ctx_join_forest(f.ix, seeds, 2, NULL, 16, 6, &fo);
    CHECK_STR(forest_names(&f, &fo, buf, sizeof buf), "g00 g01 g02 g03 g13 g23 g33");
    mr_ctx_forest_free(&fo);
    /* Beyond the default bound of 4 joins: two trees. */
    mr_ctx_join_forest(f.ix, seeds, 2, NULL, 16, MR_CTX_MAX_HOPS, &fo);
    CHECK_STR(forest_names(&f, &fo, buf, sizeof buf), "g00 g33");
    mr_ctx_forest_free(&fo);
    fx_free(&f);
}

TEST(test_index_rejects_bad_schemas)
{
    struct fx f = {0};
    fx_table(&f, "a", NULL, "id*");
    fx_table(&f, "a", NULL, "id*");
    CHECK_INT(fx_build(&f), MR_EINVAL);
    CHECK(f.ix == NULL);
    fx_free(&f);

    struct fx g = {0};
    size_t a = fx_table(&g, "a", NULL, "id*");
    fx_table(&g, "b", NULL, "id*");
    fx_join(&g, a, NULL, 1, NULL, MR_CTX_JOIN_DECLARED);
    g.to_col[0][0] = 5; /* no such column */
    CHECK_INT(fx_build(&g), MR_EINVAL);
    g.to_col[0][0] = 0;
    g.joins[0].to_table = 7;
    CHECK_INT(fx_build(&g), MR_EINVAL);
    g.joins[0].to_table = 1;
    CHECK_INT(fx_build(&g), 0);
    CHECK_INT(mr_ctx_index_find(g.ix, "b"), 1);
    CHECK_INT(mr_ctx_index_find(g.ix, "c"), -1);
    CHECK_INT(mr_ctx_index_find(g.ix, NULL), -1);
    fx_free(&g);

    /* An empty schema is an index of nothing. */
    struct fx e = {0};
    CHECK_INT(fx_build(&e), 0);
    struct mr_ctx_forest fo;
    size_t seed = 0;
    mr_ctx_join_forest(e.ix, &seed, 1, NULL, 8, 4, &fo);
    CHECK_INT(fo.ntables, 0);
    mr_ctx_forest_free(&fo);
    fx_free(&e);
}

TEST(test_schema_from_sql_keeps_tables_joins_and_kinds)
{
    static const char ddl[] =
        "CREATE TABLE customers (id integer PRIMARY KEY, name text);\n"
        "CREATE TABLE orders (id integer PRIMARY KEY,\n"
        "  customer_id integer REFERENCES customers (id), amount numeric);\n"
        "CREATE TABLE order_items (id integer PRIMARY KEY, order_id integer, sku text);\n"
        "CREATE TABLE skus (sku text PRIMARY KEY, label text);\n"
        "COMMENT ON TABLE orders IS 'one row per order';\n";
    struct mr_sql_schema *sql = NULL;
    struct mr_sql_diag diag;
    struct mr_err err;
    CHECK_INT(mr_sql_parse_ddl(MR_SQL_POSTGRESQL, ddl, strlen(ddl), &sql, &diag, &err), 0);
    long items = mr_sql_schema_find(sql, "order_items"), skus = mr_sql_schema_find(sql, "skus");
    long cust = mr_sql_schema_find(sql, "customers");
    CHECK(items >= 0 && skus >= 0 && cust >= 0);
    /* order_items.sku = skus.sku: a join only an example made. */
    size_t from_c = (size_t)mr_sql_table_find_column(sql, (size_t)items, "sku");
    size_t to_c = (size_t)mr_sql_table_find_column(sql, (size_t)skus, "sku");
    struct mr_ctx_join extra = {(size_t)items,       (size_t)skus, &from_c, &to_c, 1,
                                MR_CTX_JOIN_EXAMPLE, "rel-1"};
    const char *tids[8] = {0};
    tids[cust] = "mem-customers";
    struct mr_ctx_schema cs;
    CHECK_INT(mr_ctx_schema_from_sql(sql, tids, NULL, &extra, 1, &cs, &err), 0);
    CHECK_INT(cs.ntables, sql->ntables);
    CHECK_INT(cs.njoins, sql->njoins + 1);
    long ord = mr_sql_schema_find(sql, "orders");
    CHECK_STR(cs.tables[ord].description, "one row per order");
    CHECK_STR(cs.tables[cust].memory_id, "mem-customers");
    CHECK(cs.tables[ord].memory_id == NULL);
    size_t declared = 0, inferred = 0, example = 0;
    for (size_t j = 0; j < cs.njoins; j++) {
        declared += cs.joins[j].kind == MR_CTX_JOIN_DECLARED;
        inferred += cs.joins[j].kind == MR_CTX_JOIN_INFERRED;
        example += cs.joins[j].kind == MR_CTX_JOIN_EXAMPLE;
    }
    CHECK_INT(declared, 1); /* orders.customer_id */
    CHECK_INT(inferred, 1); /* order_items.order_id → orders.id, by name */
    CHECK_INT(example, 1);
    struct mr_ctx_index *ix;
    CHECK_INT(mr_ctx_index_new(&cs, &ix, &err), 0);
    size_t seeds[] = {(size_t)cust, (size_t)skus};
    struct mr_ctx_forest fo;
    mr_ctx_join_forest(ix, seeds, 2, NULL, 8, MR_CTX_MAX_HOPS, &fo);
    CHECK_INT(fo.ntables, 4);
    CHECK_INT(fo.njoins, 3);
    CHECK_INT(fo.ntrees, 1);
    mr_ctx_forest_free(&fo);
    mr_ctx_index_free(ix);
    mr_ctx_schema_release(&cs);
    /* An extra join to a table the schema does not have. */
    extra.to_table = 99;
    CHECK_INT(mr_ctx_schema_from_sql(sql, NULL, NULL, &extra, 1, &cs, &err), MR_EINVAL);
    mr_sql_schema_free(sql);
}

/* ---- linking -------------------------------------------------------------- */

/* A small warehouse: cryptic fact names, dimensions, a bridge. */
static void shop(struct fx *f)
{
    fx_table(f, "fct_ldg", NULL,
             "ldg_id* bigint, carrier_nm text, freight_cost numeric #what the shipment cost, "
             "shp_dt date");
    fx_table(f, "shipments_archive", "old shipments, kept for audits",
             "id* bigint, archived_at timestamp");
    fx_table(f, "dim_cust", "customers of every channel",
             "cust_id* integer, cust_nm text, rgn_id integer");
    fx_table(f, "dim_rgn", "sales regions", "rgn_id* integer, rgn_nm text");
    fx_table(f, "fct_ord", "one row per order",
             "ord_id* bigint, cust_id integer, ord_dt date, amt numeric #order total in EUR");
    fx_table(f, "ord_promo_map", NULL, "ord_id bigint, promo_id integer");
    fx_table(f, "dim_promo", "promotions and campaigns", "promo_id* integer, promo_nm text");
    fx_join(f, fx_t(f, "fct_ord"), "cust_id", fx_t(f, "dim_cust"), "cust_id", MR_CTX_JOIN_DECLARED);
    fx_join(f, fx_t(f, "dim_cust"), "rgn_id", fx_t(f, "dim_rgn"), "rgn_id", MR_CTX_JOIN_INFERRED);
    fx_join(f, fx_t(f, "ord_promo_map"), "ord_id", fx_t(f, "fct_ord"), "ord_id",
            MR_CTX_JOIN_DECLARED);
    fx_join(f, fx_t(f, "ord_promo_map"), "promo_id", fx_t(f, "dim_promo"), "promo_id",
            MR_CTX_JOIN_DECLARED);
}

static size_t best_of(const double *s, size_t n)
{
    size_t b = 0;
    for (size_t i = 1; i < n; i++)
        if (s[i] > s[b])
            b = i;
    return b;
}

TEST(test_link_columns_rank_a_table_whose_name_does_not_match)
{
    struct fx f = {0};
    shop(&f);
    CHECK_INT(fx_build(&f), 0);
    const char *q = "freight cost per carrier";
    /* Retrieval prefers the archive table (its name says shipments); the columns say fct_ldg. */
    struct mr_ctx_candidate cand[] = {{fx_t(&f, "shipments_archive"), 0.6},
                                      {fx_t(&f, "fct_ldg"), 0.2}};
    double s[FX_TABLES];
    mr_ctx_table_scores(f.ix, q, strlen(q), cand, 2, NULL, 0, NULL, s);
    CHECK_INT(best_of(s, f.nt), fx_t(&f, "fct_ldg"));
    CHECK(s[fx_t(&f, "fct_ldg")] > s[fx_t(&f, "shipments_archive")]);
    /* A description counts too: "what the shipment cost" names no column. */
    const char *q2 = "what did each shipment cost";
    mr_ctx_table_scores(f.ix, q2, strlen(q2), NULL, 0, NULL, 0, NULL, s);
    CHECK(s[fx_t(&f, "fct_ldg")] > 0);
    /* Without evidence, retrieval alone decides. */
    struct mr_ctx_link_params p = MR_CTX_LINK_DEFAULTS;
    p.w_evidence = 0;
    mr_ctx_table_scores(f.ix, q, strlen(q), cand, 2, NULL, 0, &p, s);
    CHECK_INT(best_of(s, f.nt), fx_t(&f, "shipments_archive"));
    fx_free(&f);
}

TEST(test_link_abbreviations_match_by_prefix)
{
    struct fx f = {0};
    shop(&f);
    CHECK_INT(fx_build(&f), 0);
    const char *q = "customer names";
    double s[FX_TABLES];
    mr_ctx_table_scores(f.ix, q, strlen(q), NULL, 0, NULL, 0, NULL, s);
    /* "cust" of the name, cust_nm and cust_id abbreviates customer. */
    CHECK_INT(best_of(s, f.nt), fx_t(&f, "dim_cust"));
    /* fct_ord holds cust_id, a key to customers: weaker than the customers table itself. */
    CHECK(s[fx_t(&f, "fct_ord")] > 0);
    CHECK(s[fx_t(&f, "fct_ord")] < s[fx_t(&f, "dim_cust")]);
    struct mr_ctx_link_params p = MR_CTX_LINK_DEFAULTS;
    double s2[FX_TABLES];
    p.abbreviation_weight = 0;
    mr_ctx_table_scores(f.ix, q, strlen(q), NULL, 0, NULL, 0, &p, s2);
    CHECK(s2[fx_t(&f, "fct_ord")] == 0);
    CHECK_INT(best_of(s2, f.nt), fx_t(&f, "dim_cust")); /* by its description alone */
    fx_free(&f);
}

TEST(test_link_examples_point_at_their_tables)
{
    struct fx f = {0};
    shop(&f);
    CHECK_INT(fx_build(&f), 0);
    const char *q = "how are we doing this quarter";
    const char *tabs[] = {"fct_ord", "dim_rgn", "no_such_table"};
    struct mr_ctx_example ex = {"m1", "revenue by region", "SELECT ...", 0.9, true, tabs, 3};
    double s[FX_TABLES];
    mr_ctx_table_scores(f.ix, q, strlen(q), NULL, 0, &ex, 1, NULL, s);
    CHECK(s[fx_t(&f, "fct_ord")] > 0 && s[fx_t(&f, "dim_rgn")] > 0);
    CHECK(s[fx_t(&f, "dim_cust")] == 0);
    struct mr_ctx_selection sel;
    mr_ctx_select(f.ix, q, strlen(q), NULL, 0, &ex, 1, NULL, 8, &sel, NULL);
    /* Both seeds, and dim_cust between them (a bridge the question never names). */
    CHECK_INT(sel.ntables, 3);
    CHECK_INT(sel.tables[0].table, fx_t(&f, "dim_rgn"));
    CHECK_INT(sel.tables[1].table, fx_t(&f, "dim_cust"));
    CHECK_INT(sel.tables[1].reason, MR_CTX_JOIN);
    CHECK_INT(sel.tables[2].table, fx_t(&f, "fct_ord"));
    CHECK_INT(sel.njoins, 2);
    mr_ctx_selection_free(&sel);
    fx_free(&f);
}

TEST(test_select_bridges_tables_the_question_never_names)
{
    struct fx f = {0};
    shop(&f);
    CHECK_INT(fx_build(&f), 0);
    const char *q = "order totals for each promotion campaign";
    struct mr_ctx_selection sel;
    double s[FX_TABLES];
    mr_ctx_select(f.ix, q, strlen(q), NULL, 0, NULL, 0, NULL, 3, &sel, s);
    char buf[256];
    size_t t[8];
    for (size_t i = 0; i < sel.ntables; i++)
        t[i] = sel.tables[i].table;
    CHECK_STR(names(&f, t, sel.ntables, buf, sizeof buf), "dim_promo ord_promo_map fct_ord");
    CHECK_INT(sel.tables[1].reason, MR_CTX_JOIN);
    CHECK(sel.tables[0].in_tree && sel.tables[1].in_tree && sel.tables[2].in_tree);
    CHECK_INT(sel.njoins, 2);
    /* Matched columns: amt's description says "order total". */
    CHECK(sel.tables[2].matched_columns[fx_column(&f, fx_t(&f, "fct_ord"), "amt")]);
    CHECK(!sel.tables[2].matched_columns[fx_column(&f, fx_t(&f, "fct_ord"), "cust_id")]);
    mr_ctx_selection_free(&sel);

    /* Without the join tree the bridge is not there; the fill takes the next by score. */
    struct mr_ctx_link_params p = MR_CTX_LINK_DEFAULTS;
    p.join_tree = false;
    mr_ctx_select(f.ix, q, strlen(q), NULL, 0, NULL, 0, &p, 3, &sel, NULL);
    bool has_bridge = false;
    for (size_t i = 0; i < sel.ntables; i++)
        has_bridge |= sel.tables[i].table == fx_t(&f, "ord_promo_map");
    CHECK(!has_bridge || s[fx_t(&f, "ord_promo_map")] > 0);
    for (size_t i = 0; i < sel.ntables; i++)
        CHECK_INT(sel.tables[i].reason, MR_CTX_MATCHED);
    mr_ctx_selection_free(&sel);
    fx_free(&f);
}

TEST(test_select_seeds_cover_different_terms)
{
    /* Two tables about invoices score above the one about carriers; with two slots and no
     * tree, the second seed is the carrier table: it adds a term the first did not cover. */
    struct fx f = {0};
    fx_table(&f, "inv_hdr", "invoice headers", "inv_id*, inv_dt");
    fx_table(&f, "inv_line", "invoice lines", "inv_line_id*, inv_id, qty");
    fx_table(&f, "carrier", "freight carriers", "carrier_id*, nm");
    CHECK_INT(fx_build(&f), 0);
    const char *q = "invoice lines by carrier";
    struct mr_ctx_candidate cand[] = {{0, 0.9}, {1, 0.9}, {2, 0.4}};
    struct mr_ctx_link_params p = MR_CTX_LINK_DEFAULTS;
    p.join_tree = false;
    p.max_seeds = 2;
    struct mr_ctx_selection sel;
    double s[FX_TABLES];
    mr_ctx_select(f.ix, q, strlen(q), cand, 3, NULL, 0, &p, 2, &sel, s);
    CHECK(s[2] < s[0] && s[2] < s[1]);
    CHECK_INT(sel.ntables, 2);
    CHECK_INT(sel.tables[0].table, 1);
    CHECK_INT(sel.tables[1].table, 2);
    mr_ctx_selection_free(&sel);
    /* With no overlap discount, the top two by score. */
    p.overlap = 0;
    mr_ctx_select(f.ix, q, strlen(q), cand, 3, NULL, 0, &p, 2, &sel, NULL);
    CHECK_INT(sel.tables[1].table, 0);
    mr_ctx_selection_free(&sel);
    fx_free(&f);
}

TEST(test_select_adds_the_table_a_matched_key_refers_to)
{
    /* "by buyer" matches fct_po_hdr.buyer_id, a key to employees: the buyer's name is there. */
    struct fx f = {0};
    size_t po = fx_table(&f, "fct_po_hdr", "purchase orders",
                         "po_key* bigint, buyer_id integer, "
                         "po_dt date");
    size_t emp = fx_table(&f, "employees", NULL, "id* integer, full_name text");
    size_t other = fx_table(&f, "dim_site", NULL, "site_id* integer, site_nm text");
    fx_join(&f, po, "buyer_id", emp, "id", MR_CTX_JOIN_DECLARED);
    fx_join(&f, emp, "id", other, "site_id", MR_CTX_JOIN_INFERRED);
    CHECK_INT(fx_build(&f), 0);
    const char *q = "open purchase orders by buyer";
    struct mr_ctx_selection sel;
    double s[FX_TABLES];
    mr_ctx_select(f.ix, q, strlen(q), NULL, 0, NULL, 0, NULL, 8, &sel, s);
    CHECK(s[emp] == 0); /* nothing in employees says buyer */
    CHECK_INT(sel.ntables, 2);
    CHECK_INT(sel.tables[0].table, po);
    CHECK_INT(sel.tables[1].table, emp);
    CHECK(sel.tables[1].in_tree);
    CHECK_INT(sel.njoins, 1);
    CHECK_INT(sel.joins[0], 0);
    mr_ctx_selection_free(&sel);
    struct mr_ctx_link_params p = MR_CTX_LINK_DEFAULTS;
    p.key_tables = false;
    mr_ctx_select(f.ix, q, strlen(q), NULL, 0, NULL, 0, &p, 8, &sel, NULL);
    CHECK_INT(sel.ntables, 1);
    mr_ctx_selection_free(&sel);
    (void)other;
    fx_free(&f);
}

TEST(test_link_abbreviations_match_as_subsequences)
{
    struct fx f = {0};
    size_t gr = fx_table(&f, "fct_gr", NULL, "gr_key* bigint, rcv_qty numeric, rcv_ts timestamp");
    size_t cat = fx_table(&f, "dim_cat", NULL, "cat_key* integer, cat_nm text");
    fx_table(&f, "misc", NULL, "id* integer");
    CHECK_INT(fx_build(&f), 0);
    const char *q = "received quantity";
    double s[FX_TABLES];
    mr_ctx_table_scores(f.ix, q, strlen(q), NULL, 0, NULL, 0, NULL, s);
    CHECK(s[gr] > 0);   /* rcv in receiv, qty in quantiti */
    CHECK(s[cat] == 0); /* cat: not a subsequence starting with the same letter of either */
    struct mr_ctx_link_params p = MR_CTX_LINK_DEFAULTS;
    p.abbreviation_weight = 0;
    mr_ctx_table_scores(f.ix, q, strlen(q), NULL, 0, NULL, 0, &p, s);
    CHECK(s[gr] == 0);
    fx_free(&f);
}

TEST(test_select_fill_joins_attach_to_chosen_tables)
{
    struct fx f = {0};
    shop(&f);
    CHECK_INT(fx_build(&f), 0);
    const char *q = "customer names and regions";
    struct mr_ctx_selection sel;
    mr_ctx_select(f.ix, q, strlen(q), NULL, 0, NULL, 0, NULL, 8, &sel, NULL);
    /* Every table but the first of each tree comes with a join: no cycle, no dangling join. */
    CHECK(sel.ntables >= 2);
    CHECK(sel.njoins <= sel.ntables - 1);
    for (size_t k = 0; k < sel.njoins; k++) {
        const struct mr_ctx_join *j = &f.joins[sel.joins[k]];
        bool a = false, b = false;
        for (size_t i = 0; i < sel.ntables; i++) {
            a |= sel.tables[i].table == j->from_table;
            b |= sel.tables[i].table == j->to_table;
        }
        CHECK(a && b);
    }
    /* Nothing scores for a question without a schema word: an empty selection. */
    mr_ctx_selection_free(&sel);
    const char *none = "hello there";
    mr_ctx_select(f.ix, none, strlen(none), NULL, 0, NULL, 0, NULL, 8, &sel, NULL);
    CHECK_INT(sel.ntables, 0);
    mr_ctx_selection_free(&sel);
    fx_free(&f);
}

TEST_MAIN("context_tree", T(test_forest_chain_adds_the_tables_between),
          T(test_forest_seed_beyond_the_hop_bound_stays_unconnected),
          T(test_forest_star_uses_the_hub_once), T(test_forest_cycle_ties_go_to_the_first_name),
          T(test_forest_disconnected_parts_make_several_trees), T(test_forest_bridge_two_hops_away),
          T(test_forest_prefers_declared_then_inferred_then_example),
          T(test_forest_prefers_relevant_bridges_at_equal_length),
          T(test_forest_fewer_joins_beat_declared_ones),
          T(test_forest_parallel_joins_take_the_declared_one), T(test_forest_respects_max_tables),
          T(test_forest_merges_trees_a_later_tree_comes_near),
          T(test_forest_ignores_repeated_and_unknown_seeds),
          T(test_forest_same_for_any_input_order), T(test_forest_grid_ties_by_name),
          T(test_schema_from_sql_keeps_tables_joins_and_kinds), T(test_index_rejects_bad_schemas),
          T(test_link_columns_rank_a_table_whose_name_does_not_match),
          T(test_link_abbreviations_match_by_prefix), T(test_link_examples_point_at_their_tables),
          T(test_select_bridges_tables_the_question_never_names),
          T(test_select_seeds_cover_different_terms),
          T(test_select_adds_the_table_a_matched_key_refers_to),
          T(test_link_abbreviations_match_as_subsequences),
          T(test_select_fill_joins_attach_to_chosen_tables))
