/*
 * rules.h — the lifecycle rules of DESIGN.md §3 as pure functions on one
 * memory and a time, so each rule is tested alone with a fixed clock.
 */
#ifndef MEMORI_RULES_H
#define MEMORI_RULES_H

#include <stdbool.h>
#include <stdint.h>

#include "memori/err.h"
#include "memori/types.h"

#define MR_ACCESS_IMPORTANCE_BOOST 0.01
#define MR_PROMOTION_IMPORTANCE_BOOST 0.1
#define MR_PROMOTION_MIN_ACCESS 5
#define MR_PROMOTION_MIN_IMPORTANCE 0.7
#define MR_ARCHIVE_MAX_IMPORTANCE 0.3 /* archived when importance is below this */
#define MR_ARCHIVE_MAX_ACCESS 2       /* ... and access_count below this */

/* Default expires_at of a new memory: short_term → now + days; others never. */
int64_t mr_rule_default_expiry(enum mr_memory_type type, int64_t now, int expiry_days);

/* True when m is past its expires_at at time now. */
bool mr_rule_is_expired(const struct mr_memory *m, int64_t now);

/*
 * The expiry rule on a bare expires_at (MR_NO_TIME = never), for code that
 * holds no struct mr_memory: the index's entries, a store's filter.
 */
bool mr_rule_expired_at(int64_t expires_at, int64_t now);

/*
 * Whether a memory of this type is a conversation turn (short_term or
 * long_term): what was said, so its neighbours in the conversation are its
 * context (search's neighbour context, docs/ranking.md). Rules, entities,
 * relationships, examples and schema memories are standalone facts.
 */
bool mr_rule_is_turn(enum mr_memory_type type);

/*
 * A search returned m: access_count + 1, last_accessed_at = now, importance
 * + 0.01 capped at 1; then a short_term memory with access_count >= 5 and
 * importance >= 0.7 is promoted. Returns true when it was promoted.
 */
bool mr_rule_record_access(struct mr_memory *m, int64_t now);

/*
 * k accesses at once, the latest at last_at (src/core/access.c merges them
 * in batches): what k calls of mr_rule_record_access up to last_at give —
 * access_count + k, last_accessed_at and updated_at at least last_at,
 * importance + k x 0.01 capped at 1, then the promotion when the merged
 * values meet its bar (both grow with k, so the bar is met after the k-th
 * call exactly when it is met after some call). k <= 0 changes nothing.
 * The stores' mem_record_access computes the same in SQL. Returns true when
 * it promoted.
 */
bool mr_rule_record_accesses(struct mr_memory *m, int64_t k, int64_t last_at);

/* True when m meets the promotion criteria. */
bool mr_rule_should_promote(const struct mr_memory *m);

/*
 * Promotion: long_term, no expiry, importance + 0.1 capped at 1.
 * MR_ECONFLICT (m unchanged) when m is not short_term.
 */
int mr_rule_promote(struct mr_memory *m, int64_t now);

/* Archival: m is short_term, live, created before now - days, importance < 0.3, access < 2. */
bool mr_rule_is_archivable(const struct mr_memory *m, int64_t now, int days);

/* The created_at bound of archival: memories created before it are old enough. */
int64_t mr_rule_archive_cutoff(int64_t now, int days);

/*
 * The archival rule as bounds a store binds into its statement, so the SQL
 * holds no literal of its own: a memory of type `type`, not archived,
 * created_at < created_before, importance_score < importance_below and
 * access_count < access_below is archivable — exactly mr_rule_is_archivable.
 */
struct mr_archive_bounds {
    enum mr_memory_type type;
    int64_t created_before;
    double importance_below;
    int64_t access_below;
};
struct mr_archive_bounds mr_rule_archive_bounds(int64_t now, int days);

/* Adds delta to an importance, capped to 0..1, without binary-fraction drift. */
double mr_rule_add_importance(double importance, double delta);

#endif
