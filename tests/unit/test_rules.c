/* Unit tests of the lifecycle rules (DESIGN.md §3) with a fixed clock. */
#include "memori/clock.h"
#include "memori/rules.h"
#include "test.h"

static const int64_t T0 = INT64_C(1767225600000000); /* 2026-01-01T00:00:00Z */

static struct mr_memory mem(enum mr_memory_type t, double importance, int64_t access)
{
    struct mr_memory m = {0};
    m.memory_type = t;
    m.importance_score = importance;
    m.access_count = access;
    m.created_at = T0;
    m.last_accessed_at = MR_NO_TIME;
    m.expires_at = mr_rule_default_expiry(t, T0, 7);
    return m;
}

TEST(test_short_term_expires_after_7_days)
{
    struct mr_memory m = mem(MR_SHORT_TERM, 0.5, 0);
    CHECK_INT(m.expires_at, T0 + 7 * MR_USEC_PER_DAY);
    CHECK(!mr_rule_is_expired(&m, T0 + 7 * MR_USEC_PER_DAY - 1));
    CHECK(mr_rule_is_expired(&m, T0 + 7 * MR_USEC_PER_DAY));
}

TEST(test_other_types_never_expire)
{
    for (int t = MR_LONG_TERM; t < MR_MEMORY_TYPE_COUNT; t++) {
        struct mr_memory m = mem((enum mr_memory_type)t, 0.5, 0);
        CHECK(m.expires_at == MR_NO_TIME);
        CHECK(!mr_rule_is_expired(&m, T0 + 10000 * MR_USEC_PER_DAY));
    }
}

TEST(test_access_increments_count_time_and_importance)
{
    struct mr_memory m = mem(MR_RULE, 0.5, 0);
    CHECK(!mr_rule_record_access(&m, T0 + 5));
    CHECK_INT(m.access_count, 1);
    CHECK_INT(m.last_accessed_at, T0 + 5);
    CHECK_NEAR(m.importance_score, 0.51, 1e-12);
}

TEST(test_importance_capped_at_one)
{
    struct mr_memory m = mem(MR_ENTITY, 0.995, 0);
    mr_rule_record_access(&m, T0);
    CHECK_NEAR(m.importance_score, 1.0, 0);
    mr_rule_record_access(&m, T0);
    CHECK_NEAR(m.importance_score, 1.0, 0);
    struct mr_memory s = mem(MR_SHORT_TERM, 0.95, 0);
    CHECK(mr_rule_promote(&s, T0) == 0);
    CHECK_NEAR(s.importance_score, 1.0, 0);
}

TEST(test_promotion_at_access_5_and_importance_0_7)
{
    /* 0.65 + 5 × 0.01 = 0.70 exactly at the fifth access: promoted then, not before. */
    struct mr_memory m = mem(MR_SHORT_TERM, 0.65, 0);
    for (int i = 1; i <= 4; i++) {
        CHECK(!mr_rule_record_access(&m, T0 + i));
        CHECK_INT(m.memory_type, MR_SHORT_TERM);
    }
    CHECK(mr_rule_record_access(&m, T0 + 5));
    CHECK_INT(m.memory_type, MR_LONG_TERM);
    CHECK(m.expires_at == MR_NO_TIME);
    CHECK_NEAR(m.importance_score, 0.80, 1e-12);
}

TEST(test_no_promotion_below_importance)
{
    struct mr_memory m = mem(MR_SHORT_TERM, 0.5, 0);
    for (int i = 0; i < 10; i++)
        CHECK(!mr_rule_record_access(&m, T0 + i));
    CHECK_INT(m.memory_type, MR_SHORT_TERM);
    CHECK_INT(m.access_count, 10);
    CHECK_NEAR(m.importance_score, 0.6, 1e-12);
}

TEST(test_no_promotion_below_access_count)
{
    struct mr_memory m = mem(MR_SHORT_TERM, 0.9, 0);
    for (int i = 1; i <= 4; i++)
        CHECK(!mr_rule_record_access(&m, T0));
    CHECK(mr_rule_record_access(&m, T0));
}

TEST(test_promote_only_short_term)
{
    for (int t = MR_LONG_TERM; t < MR_MEMORY_TYPE_COUNT; t++) {
        struct mr_memory m = mem((enum mr_memory_type)t, 0.5, 0);
        CHECK_INT(mr_rule_promote(&m, T0), MR_ECONFLICT);
        CHECK_INT(m.memory_type, t);
        CHECK_NEAR(m.importance_score, 0.5, 0);
    }
    struct mr_memory s = mem(MR_SHORT_TERM, 0.7, 0);
    CHECK(mr_rule_promote(&s, T0 + 9) == 0);
    CHECK_INT(s.memory_type, MR_LONG_TERM);
    CHECK(s.expires_at == MR_NO_TIME);
    CHECK_NEAR(s.importance_score, 0.8, 1e-12);
    CHECK_INT(s.updated_at, T0 + 9);
}

TEST(test_archival_criteria)
{
    int64_t now = T0 + 31 * MR_USEC_PER_DAY;
    struct mr_memory m = mem(MR_SHORT_TERM, 0.2, 1);
    CHECK(mr_rule_is_archivable(&m, now, 30));
    CHECK(!mr_rule_is_archivable(&m, T0 + 30 * MR_USEC_PER_DAY, 30)); /* not older than 30 days */
    m.importance_score = 0.3;
    CHECK(!mr_rule_is_archivable(&m, now, 30));
    m.importance_score = 0.29;
    m.access_count = 2;
    CHECK(!mr_rule_is_archivable(&m, now, 30));
    m.access_count = 0;
    m.is_archived = true;
    CHECK(!mr_rule_is_archivable(&m, now, 30));
    struct mr_memory r = mem(MR_RULE, 0.1, 0);
    CHECK(!mr_rule_is_archivable(&r, now, 30));
}

TEST(test_archive_bounds_are_the_archival_rule)
{
    int64_t now = T0 + 40 * MR_USEC_PER_DAY;
    struct mr_archive_bounds b = mr_rule_archive_bounds(now, 30);
    CHECK_INT(b.type, MR_SHORT_TERM);
    CHECK_INT(b.created_before, mr_rule_archive_cutoff(now, 30));
    /* Just inside and just outside each bound, the predicate agrees with the bounds. */
    struct mr_memory m = mem(MR_SHORT_TERM, b.importance_below - 0.01, b.access_below - 1);
    m.created_at = b.created_before - 1;
    CHECK(mr_rule_is_archivable(&m, now, 30));
    m.created_at = b.created_before;
    CHECK(!mr_rule_is_archivable(&m, now, 30));
    m.created_at = b.created_before - 1;
    m.importance_score = b.importance_below;
    CHECK(!mr_rule_is_archivable(&m, now, 30));
    m.importance_score = b.importance_below - 0.01;
    m.access_count = b.access_below;
    CHECK(!mr_rule_is_archivable(&m, now, 30));
}

TEST(test_expired_at_is_the_expiry_rule)
{
    CHECK(!mr_rule_expired_at(MR_NO_TIME, T0));
    CHECK(!mr_rule_expired_at(T0 + 1, T0));
    CHECK(mr_rule_expired_at(T0, T0));
}

/*
 * k accesses at once (the flusher's batch, served rows) give what k single
 * accesses give, bit for bit, whatever the start: promotion included.
 */
TEST(test_accesses_at_once_are_k_single_accesses)
{
    const double starts[] = {0, 0.05, 0.5, 0.6, 0.65, 0.66, 0.69, 0.7, 0.95, 0.999, 1};
    const enum mr_memory_type types[] = {MR_SHORT_TERM, MR_LONG_TERM, MR_RULE};
    for (size_t t = 0; t < sizeof types / sizeof *types; t++)
        for (size_t s = 0; s < sizeof starts / sizeof *starts; s++)
            for (int64_t count0 = 0; count0 < 7; count0++)
                for (int64_t k = 0; k <= 40; k++) {
                    struct mr_memory one = mem(types[t], starts[s], count0);
                    struct mr_memory batch = one;
                    bool promoted = false;
                    for (int64_t i = 1; i <= k; i++)
                        promoted |= mr_rule_record_access(&one, T0 + i);
                    CHECK(mr_rule_record_accesses(&batch, k, T0 + k) == promoted);
                    CHECK_INT(batch.access_count, one.access_count);
                    CHECK(batch.importance_score == one.importance_score);
                    CHECK_INT(batch.memory_type, one.memory_type);
                    CHECK(batch.expires_at == one.expires_at);
                    CHECK(batch.last_accessed_at == one.last_accessed_at);
                    CHECK(batch.updated_at == one.updated_at);
                }
}

TEST_MAIN("rules", T(test_accesses_at_once_are_k_single_accesses),
          T(test_short_term_expires_after_7_days), T(test_other_types_never_expire),
          T(test_access_increments_count_time_and_importance), T(test_importance_capped_at_one),
          T(test_promotion_at_access_5_and_importance_0_7), T(test_no_promotion_below_importance),
          T(test_no_promotion_below_access_count), T(test_promote_only_short_term),
          T(test_archival_criteria), T(test_archive_bounds_are_the_archival_rule),
          T(test_expired_at_is_the_expiry_rule))
