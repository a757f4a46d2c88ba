/* Unit tests of the hybrid score (src/core/fusion.c). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "memori/fusion.h"
#include "memori/lexical.h"
#include "test.h"

static const double cosines[] = {-1, -0.3, 0, 0.1, 0.35, 0.5, 0.8, 1, 1.5};
static const double lexicals[] = {-0.2, 0, 0.05, 0.2, 0.45, 0.7, 1, 3};
static const double weights[] = {0, 0.1, 0.3, MR_FUSION_LEXICAL_WEIGHT, 0.7, 1};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

TEST(test_fusion_score_stays_in_bounds)
{
    enum mr_search_mode modes[] = {MR_SEARCH_HYBRID, MR_SEARCH_SEMANTIC, MR_SEARCH_LEXICAL};
    for (size_t m = 0; m < COUNT(modes); m++)
        for (size_t w = 0; w < COUNT(weights); w++)
            for (size_t i = 0; i < COUNT(cosines); i++)
                for (size_t j = 0; j < COUNT(lexicals); j++) {
                    struct mr_fusion f = {modes[m], weights[w], 0};
                    double s = mr_fusion_score(&f, cosines[i], lexicals[j]);
                    CHECK(s >= 0 && s <= 1);
                }
    struct mr_fusion f = MR_FUSION_DEFAULTS;
    CHECK(mr_fusion_score(&f, NAN, 0.5) >= 0);
    CHECK(mr_fusion_score(&f, 0.5, NAN) <= 1);
    CHECK(mr_fusion_score(&f, 1, 1) == 1);
    CHECK(mr_fusion_score(&f, -0.4, 0) == 0);
    /* Weights out of range are clamped, not extrapolated. */
    struct mr_fusion g = {MR_SEARCH_HYBRID, 1.7, 0};
    CHECK(mr_fusion_score(&g, 0.9, 0.2) == 0.2);
}

TEST(test_fusion_score_is_monotone)
{
    for (size_t w = 0; w < COUNT(weights); w++) {
        struct mr_fusion f = {MR_SEARCH_HYBRID, weights[w], 0};
        for (size_t j = 0; j < COUNT(lexicals); j++)
            for (size_t i = 1; i < COUNT(cosines); i++) {
                double a = mr_fusion_score(&f, cosines[i - 1], lexicals[j]);
                double b = mr_fusion_score(&f, cosines[i], lexicals[j]);
                CHECK(b >= a);
                /* Strictly, inside the range and with a semantic weight. */
                if (weights[w] < 1 && cosines[i - 1] >= 0 && cosines[i] <= 1)
                    CHECK(b > a);
            }
        for (size_t i = 0; i < COUNT(cosines); i++)
            for (size_t j = 1; j < COUNT(lexicals); j++) {
                double a = mr_fusion_score(&f, cosines[i], lexicals[j - 1]);
                double b = mr_fusion_score(&f, cosines[i], lexicals[j]);
                CHECK(b >= a);
                if (weights[w] > 0 && lexicals[j - 1] >= 0 && lexicals[j] <= 1)
                    CHECK(b > a);
            }
    }
}

TEST(test_fusion_modes)
{
    struct mr_fusion sem = {MR_SEARCH_SEMANTIC, MR_FUSION_LEXICAL_WEIGHT, 0};
    struct mr_fusion lex = {MR_SEARCH_LEXICAL, MR_FUSION_LEXICAL_WEIGHT, 0};
    struct mr_fusion hyb0 = {MR_SEARCH_HYBRID, 0, 0}, hyb1 = {MR_SEARCH_HYBRID, 1, 0};
    struct mr_fusion hyb = {MR_SEARCH_HYBRID, 0.25, 0};
    for (size_t i = 0; i < COUNT(cosines); i++)
        for (size_t j = 0; j < COUNT(lexicals); j++) {
            double c = cosines[i], l = lexicals[j];
            double cc = c < 0 ? 0 : c > 1 ? 1 : c, lc = l < 0 ? 0 : l > 1 ? 1 : l;
            CHECK(mr_fusion_score(&sem, c, l) == cc); /* the cosine alone, clamped */
            CHECK(mr_fusion_score(&lex, c, l) == lc);
            CHECK(mr_fusion_score(&hyb0, c, l) == cc);
            CHECK(mr_fusion_score(&hyb1, c, l) == lc);
            CHECK_NEAR(mr_fusion_score(&hyb, c, l), 0.75 * cc + 0.25 * lc, 1e-12);
        }
}

TEST(test_fusion_semantic_floor)
{
    /* A provider whose unrelated texts sit at cosine 0.7: 0.7 → 0, 0.85 → 0.5, 1 → 1. */
    struct mr_fusion f = {MR_SEARCH_SEMANTIC, 0, 0.7};
    CHECK(mr_fusion_semantic(&f, 0.6) == 0);
    CHECK(mr_fusion_semantic(&f, 0.7) == 0);
    CHECK_NEAR(mr_fusion_semantic(&f, 0.85), 0.5, 1e-12);
    CHECK(mr_fusion_semantic(&f, 1) == 1);
    /* Nonsense floors are ignored. */
    struct mr_fusion g = {MR_SEARCH_SEMANTIC, 0, 1.5};
    CHECK(mr_fusion_semantic(&g, 0.4) == 0.4);
}

TEST(test_fusion_falls_back_to_the_side_a_query_has)
{
    struct mr_fusion f = MR_FUSION_DEFAULTS;
    /* Only stop words: no lexical side, hybrid ranks by the cosine alone (not scaled down). */
    struct mr_fusion g = mr_fusion_for_query(&f, true, false);
    CHECK(g.mode == MR_SEARCH_SEMANTIC);
    CHECK(mr_fusion_score(&g, 0.6, 0) == 0.6);
    g = mr_fusion_for_query(&f, false, true);
    CHECK(g.mode == MR_SEARCH_LEXICAL);
    g = mr_fusion_for_query(&f, true, true);
    CHECK(g.mode == MR_SEARCH_HYBRID);
    g = mr_fusion_for_query(&f, false, false);
    CHECK(g.mode == MR_SEARCH_HYBRID);
    /* An explicit mode is the caller's choice and stays. */
    struct mr_fusion l = {MR_SEARCH_LEXICAL, 0.5, 0};
    CHECK(mr_fusion_for_query(&l, true, false).mode == MR_SEARCH_LEXICAL);
}

TEST(test_search_mode_parse)
{
    enum mr_search_mode m = MR_SEARCH_LEXICAL;
    CHECK(mr_search_mode_parse("hybrid", 6, &m) == 0 && m == MR_SEARCH_HYBRID);
    CHECK(mr_search_mode_parse("semantic", 8, &m) == 0 && m == MR_SEARCH_SEMANTIC);
    CHECK(mr_search_mode_parse("lexical", 7, &m) == 0 && m == MR_SEARCH_LEXICAL);
    const char *bad[] = {"", "Hybrid", "hybri", "hybrids", "bm25", "semantic "};
    for (size_t i = 0; i < COUNT(bad); i++)
        CHECK(mr_search_mode_parse(bad[i], strlen(bad[i]), &m) == -1);
    CHECK(mr_search_mode_parse("lexical\0x", 9, &m) == -1); /* lengths, not NUL */
    CHECK_STR(mr_search_mode_name(MR_SEARCH_HYBRID), "hybrid");
    CHECK_STR(mr_search_mode_name(MR_SEARCH_SEMANTIC), "semantic");
    CHECK_STR(mr_search_mode_name(MR_SEARCH_LEXICAL), "lexical");
}

TEST(test_fusion_depth_covers_the_limit)
{
    for (size_t limit = 1; limit <= 1000; limit++) {
        CHECK(mr_fusion_depth_vector(limit) >= limit);
        CHECK(mr_fusion_depth_lexical(limit) >= limit);
    }
    /* Measured in pools of 10 k (docs/ranking.md, "The candidate depth k'"). */
    CHECK(mr_fusion_depth_vector(10) >= 40);
    CHECK(mr_fusion_depth_lexical(10) >= 20);
    CHECK(mr_fusion_depth_vector(50) >= 200);
    CHECK(mr_fusion_depth_lexical(50) >= 100);
}

TEST(test_fusion_union_flags_missing_sides)
{
    struct mr_index_hit vec[] = {{7, 0.9f}, {3, 0.5f}, {9, 0.25f}};
    struct mr_lex_hit lex[] = {{5, 3.0, 0.6}, {3, 2.0, 0.4}, {11, 1.0, 0.2}};
    struct mr_fusion_candidate c[6];
    size_t n = mr_fusion_union(vec, 3, lex, 3, c);
    CHECK_INT(n, 5);
    /* Vector hits first in their order, then the lexical-only ones in theirs. */
    int64_t ids[] = {7, 3, 9, 5, 11};
    for (size_t i = 0; i < n; i++)
        CHECK_INT(c[i].id, ids[i]);
    CHECK(c[0].has_cosine && !c[0].has_lexical);
    CHECK(c[1].has_cosine && c[1].has_lexical && c[1].lexical == 0.4);
    CHECK_NEAR(c[1].cosine, 0.5, 1e-7);
    CHECK(!c[3].has_cosine && c[3].has_lexical && c[3].lexical == 0.6);
    CHECK_INT(mr_fusion_union(vec, 0, lex, 0, c), 0);
    CHECK_INT(mr_fusion_union(vec, 3, lex, 0, c), 3);
    CHECK_INT(mr_fusion_union(vec, 0, lex, 3, c), 3);
}

TEST(test_fusion_rank_orders_best_first_ties_by_id)
{
    struct mr_fusion f = {MR_SEARCH_HYBRID, 0.5, 0};
    struct mr_fusion_candidate c[] = {
        {.id = 4, .cosine = 0.2, .lexical = 0.2},  /* 0.2 */
        {.id = 2, .cosine = 0.6, .lexical = 0.0},  /* 0.3 */
        {.id = 9, .cosine = 0.0, .lexical = 0.6},  /* 0.3, tie: after id 2 */
        {.id = 1, .cosine = -0.5, .lexical = 0.1}, /* 0.05 */
        {.id = 5, .cosine = 0.8, .lexical = 0.5},  /* 0.65 */
    };
    mr_fusion_rank(&f, c, COUNT(c));
    int64_t want[] = {5, 2, 9, 4, 1};
    for (size_t i = 0; i < COUNT(c); i++)
        CHECK_INT(c[i].id, want[i]);
    CHECK_NEAR(c[0].score, 0.65, 1e-12);
    CHECK_NEAR(c[4].score, 0.05, 1e-12);
}

TEST(test_fusion_end_to_end_with_the_lexical_index)
{
    /*
     * Memories 1..4; the vector side found 1 and 2, the lexical side 3 and
     * 2: the missing sides are computed exactly and the fused order follows.
     */
    struct mr_lex_index *ix = mr_lex_index_new();
    const char *texts[] = {
        "", "Dates are stored in UTC", "fct_order_line has one row per order line",
        "the grain of fct_order_line is order line", "refunds live in fct_refund"};
    for (int id = 1; id <= 4; id++)
        mr_lex_index_put(ix, id, texts[id], strlen(texts[id]));
    const char *qtext = "what is the grain of fct_order_line";
    struct mr_lex_terms *q = mr_lex_terms_new(qtext, strlen(qtext));
    struct mr_lex_hit lex[4];
    double max;
    size_t nl = mr_lex_index_search(ix, q, NULL, NULL, 2, lex, &max);
    CHECK_INT(nl, 2);
    CHECK_INT(lex[0].id, 3);
    struct mr_index_hit vec[] = {{1, 0.55f}, {2, 0.5f}};
    struct mr_fusion_candidate c[4];
    size_t n = mr_fusion_union(vec, 2, lex, nl, c);
    CHECK_INT(n, 3);
    double cos_of[] = {0, 0.55, 0.5, 0.45, 0.1};
    for (size_t i = 0; i < n; i++) {
        if (!c[i].has_lexical)
            c[i].lexical = mr_lex_normalise(mr_lex_index_score(ix, q, c[i].id), max);
        if (!c[i].has_cosine)
            c[i].cosine = cos_of[c[i].id];
    }
    struct mr_fusion f = MR_FUSION_DEFAULTS;
    mr_fusion_rank(&f, c, n);
    CHECK_INT(c[0].id, 3); /* names the table and its grain */
    CHECK_INT(c[1].id, 2); /* names the table */
    CHECK_INT(c[2].id, 1); /* close in vector space only */
    CHECK(c[2].lexical == 0);
    for (size_t i = 0; i < n; i++)
        CHECK(c[i].score >= 0 && c[i].score <= 1);
    mr_lex_terms_free(q);
    mr_lex_index_destroy(ix);
}

TEST_MAIN("fusion", T(test_fusion_score_stays_in_bounds), T(test_fusion_score_is_monotone),
          T(test_fusion_modes), T(test_fusion_semantic_floor),
          T(test_fusion_falls_back_to_the_side_a_query_has), T(test_search_mode_parse),
          T(test_fusion_depth_covers_the_limit), T(test_fusion_union_flags_missing_sides),
          T(test_fusion_rank_orders_best_first_ties_by_id),
          T(test_fusion_end_to_end_with_the_lexical_index))
