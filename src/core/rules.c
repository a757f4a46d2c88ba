/* rules.c — lifecycle rules of DESIGN.md §3 (expiry, access, promotion, archival). */
#include "memori/rules.h"

#include <math.h>

#include "memori/clock.h"
#include "memori/err.h"

int64_t mr_rule_default_expiry(enum mr_memory_type type, int64_t now, int expiry_days)
{
    return type == MR_SHORT_TERM ? now + (int64_t)expiry_days * MR_USEC_PER_DAY : MR_NO_TIME;
}

bool mr_rule_expired_at(int64_t expires_at, int64_t now)
{
    return expires_at != MR_NO_TIME && expires_at <= now;
}

bool mr_rule_is_turn(enum mr_memory_type type)
{
    return type == MR_SHORT_TERM || type == MR_LONG_TERM;
}

bool mr_rule_is_expired(const struct mr_memory *m, int64_t now)
{
    return mr_rule_expired_at(m->expires_at, now);
}

double mr_rule_add_importance(double importance, double delta)
{
    /*
     * Rounded to 1e-9 so that 0.6 + 10 × 0.01 reaches the 0.7 promotion bar
     * instead of stopping at 0.6999999999.
     */
    double x = round((importance + delta) * 1e9) / 1e9;
    return x > 1.0 ? 1.0 : x < 0.0 ? 0.0 : x;
}

bool mr_rule_should_promote(const struct mr_memory *m)
{
    return m->memory_type == MR_SHORT_TERM && m->access_count >= MR_PROMOTION_MIN_ACCESS &&
           m->importance_score >= MR_PROMOTION_MIN_IMPORTANCE;
}

int mr_rule_promote(struct mr_memory *m, int64_t now)
{
    if (m->memory_type != MR_SHORT_TERM)
        return MR_ECONFLICT;
    m->memory_type = MR_LONG_TERM;
    m->expires_at = MR_NO_TIME;
    m->importance_score =
        mr_rule_add_importance(m->importance_score, MR_PROMOTION_IMPORTANCE_BOOST);
    m->updated_at = now;
    return 0;
}

bool mr_rule_record_access(struct mr_memory *m, int64_t now)
{
    m->access_count += 1;
    m->last_accessed_at = now;
    m->importance_score = mr_rule_add_importance(m->importance_score, MR_ACCESS_IMPORTANCE_BOOST);
    m->updated_at = now;
    if (mr_rule_should_promote(m))
        return mr_rule_promote(m, now) == 0;
    return false;
}

bool mr_rule_record_accesses(struct mr_memory *m, int64_t k, int64_t last_at)
{
    if (k <= 0)
        return false;
    m->access_count += k;
    if (m->last_accessed_at == MR_NO_TIME || m->last_accessed_at < last_at)
        m->last_accessed_at = last_at;
    if (m->updated_at < last_at)
        m->updated_at = last_at;
    m->importance_score =
        mr_rule_add_importance(m->importance_score, (double)k * MR_ACCESS_IMPORTANCE_BOOST);
    if (!mr_rule_should_promote(m))
        return false;
    int64_t updated_at = m->updated_at;
    bool promoted = mr_rule_promote(m, last_at) == 0;
    if (m->updated_at < updated_at)
        m->updated_at = updated_at;
    return promoted;
}

int64_t mr_rule_archive_cutoff(int64_t now, int days)
{
    return now - (int64_t)days * MR_USEC_PER_DAY;
}

struct mr_archive_bounds mr_rule_archive_bounds(int64_t now, int days)
{
    return (struct mr_archive_bounds){
        .type = MR_SHORT_TERM,
        .created_before = mr_rule_archive_cutoff(now, days),
        .importance_below = MR_ARCHIVE_MAX_IMPORTANCE,
        .access_below = MR_ARCHIVE_MAX_ACCESS,
    };
}

bool mr_rule_is_archivable(const struct mr_memory *m, int64_t now, int days)
{
    struct mr_archive_bounds b = mr_rule_archive_bounds(now, days);
    return m->memory_type == b.type && !m->is_archived && m->created_at < b.created_before &&
           m->importance_score < b.importance_below && m->access_count < b.access_below;
}
