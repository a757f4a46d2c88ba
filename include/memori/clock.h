/*
 * clock.h — injectable time, and the UTC timestamp format of the API.
 *
 * Time is int64 microseconds since the Unix epoch, UTC. The memory rules ask
 * the clock, never the OS, so tests can freeze and move time (DESIGN.md §3).
 */
#ifndef MEMORI_CLOCK_H
#define MEMORI_CLOCK_H

#include <stddef.h>
#include <stdint.h>

#define MR_USEC_PER_SEC INT64_C(1000000)
#define MR_USEC_PER_DAY (INT64_C(86400) * MR_USEC_PER_SEC)

struct mr_clock {
    int64_t (*now)(const struct mr_clock *c);
    int64_t fixed_us; /* used by the fixed clock only */
};

/* The real wall clock (CLOCK_REALTIME). Static storage; never freed. */
const struct mr_clock *mr_clock_system(void);

/* A clock that reads c->fixed_us; tests set and advance it. */
void mr_clock_fixed_init(struct mr_clock *c, int64_t start_us);

static inline int64_t mr_clock_now(const struct mr_clock *c)
{
    return c->now(c);
}

/* Monotonic microseconds, for measuring durations. */
int64_t mr_monotonic_us(void);

/*
 * Formats t as ISO 8601 UTC, "2024-11-11T10:00:00.123456Z" (the fraction is
 * left out when zero, as pydantic does). buf needs 32 bytes. Returns buf.
 */
char *mr_time_format(int64_t t, char *buf, size_t cap);

/*
 * Parses an ISO 8601 date-time ("YYYY-MM-DD[T ]HH:MM[:SS[.ffffff]][Z|±HH:MM]",
 * or a date alone); a value without zone is UTC. s has length n (no NUL
 * needed). Returns 0 and *out_us, or -1 when s is not such a time.
 */
int mr_time_parse(const char *s, size_t n, int64_t *out_us);

#endif
