/* clock.c — system and fixed clocks, ISO 8601 formatting and parsing. */
#define _POSIX_C_SOURCE 200809L
#include "memori/clock.h"

#include <stdio.h>
#include <time.h>

static int64_t system_now(const struct mr_clock *c)
{
    (void)c;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * MR_USEC_PER_SEC + ts.tv_nsec / 1000;
}

static const struct mr_clock system_clock = {system_now, 0};

const struct mr_clock *mr_clock_system(void)
{
    return &system_clock;
}

static int64_t fixed_now(const struct mr_clock *c)
{
    return c->fixed_us;
}

void mr_clock_fixed_init(struct mr_clock *c, int64_t start_us)
{
    c->now = fixed_now;
    c->fixed_us = start_us;
}

int64_t mr_monotonic_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * MR_USEC_PER_SEC + ts.tv_nsec / 1000;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

char *mr_time_format(int64_t t, char *buf, size_t cap)
{
    int64_t secs = t / MR_USEC_PER_SEC, frac = t % MR_USEC_PER_SEC;
    if (frac < 0) {
        frac += MR_USEC_PER_SEC;
        secs -= 1;
    }
    int64_t days = secs / 86400, rem = secs % 86400;
    if (rem < 0) {
        rem += 86400;
        days -= 1;
    }
    int64_t y;
    int m, d;
    civil_from_days(days, &y, &m, &d);
    int hh = (int)(rem / 3600), mm = (int)(rem / 60 % 60), ss = (int)(rem % 60);
    if (frac)
        snprintf(buf, cap, "%04lld-%02d-%02dT%02d:%02d:%02d.%06lldZ", (long long)y, m, d, hh, mm,
                 ss, (long long)frac);
    else
        snprintf(buf, cap, "%04lld-%02d-%02dT%02d:%02d:%02dZ", (long long)y, m, d, hh, mm, ss);
    return buf;
}

/* Reads exactly n digits at s[*i]; -1 if any is not a digit. */
static int digits(const char *s, size_t len, size_t *i, int n)
{
    int v = 0;
    for (int k = 0; k < n; k++, (*i)++) {
        if (*i >= len || s[*i] < '0' || s[*i] > '9')
            return -1;
        v = v * 10 + (s[*i] - '0');
    }
    return v;
}

int mr_time_parse(const char *s, size_t n, int64_t *out_us)
{
    size_t i = 0;
    int y = digits(s, n, &i, 4);
    if (y < 0 || i >= n || s[i++] != '-')
        return -1;
    int mo = digits(s, n, &i, 2);
    if (mo < 1 || mo > 12 || i >= n || s[i++] != '-')
        return -1;
    int d = digits(s, n, &i, 2);
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (d < 1 || d > mdays[mo - 1])
        return -1;
    if (mo == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return -1;
    int hh = 0, mi = 0, ss = 0;
    int64_t frac = 0, offset_s = 0;
    if (i < n) {
        if (s[i] != 'T' && s[i] != 't' && s[i] != ' ')
            return -1;
        i++;
        hh = digits(s, n, &i, 2);
        if (hh < 0 || hh > 23 || i >= n || s[i++] != ':')
            return -1;
        mi = digits(s, n, &i, 2);
        if (mi < 0 || mi > 59)
            return -1;
        if (i < n && s[i] == ':') {
            i++;
            ss = digits(s, n, &i, 2);
            if (ss < 0 || ss > 59)
                return -1;
            if (i < n && (s[i] == '.' || s[i] == ',')) {
                i++;
                int nd = 0;
                while (i < n && s[i] >= '0' && s[i] <= '9') {
                    if (nd < 6) {
                        frac = frac * 10 + (s[i] - '0');
                        nd++;
                    }
                    i++;
                }
                if (nd == 0)
                    return -1;
                for (; nd < 6; nd++)
                    frac *= 10;
            }
        }
        if (i < n) {
            if ((s[i] == 'Z' || s[i] == 'z') && i + 1 == n) {
                i++;
            } else if (s[i] == '+' || s[i] == '-') {
                int sign = s[i++] == '-' ? -1 : 1;
                int oh = digits(s, n, &i, 2);
                if (oh < 0 || oh > 23)
                    return -1;
                if (i < n && s[i] == ':')
                    i++;
                int om = digits(s, n, &i, 2);
                if (om < 0 || om > 59)
                    return -1;
                offset_s = sign * (oh * 3600 + om * 60);
            } else {
                return -1;
            }
        }
        if (i != n)
            return -1;
    }
    int64_t secs = days_from_civil(y, mo, d) * 86400 + hh * 3600 + mi * 60 + ss - offset_s;
    *out_us = secs * MR_USEC_PER_SEC + frac;
    return 0;
}
