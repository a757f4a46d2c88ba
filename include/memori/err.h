/*
 * err.h — error codes and the error record every layer fills.
 *
 * Functions return 0 on success or a negative MR_E* code. The failing layer
 * writes a human message into struct mr_err; messages reach clients verbatim,
 * so they never hold secrets or SQL. One table (err.c) maps each code to its
 * HTTP status, so the mapping lives in exactly one place (libuv's habit).
 */
#ifndef MEMORI_ERR_H
#define MEMORI_ERR_H

enum {
    MR_OK = 0,
    MR_EINVAL = -1,      /* bad input the client can fix (400) */
    MR_ENOTFOUND = -2,   /* absent, or not the caller's (404) */
    MR_ECONFLICT = -3,   /* state forbids the operation (409) */
    MR_EUNAVAIL = -4,    /* store or provider failed; retry later (503) */
    MR_ENOTSUP = -5,     /* an implementation cannot do this (501) */
    MR_EINTERNAL = -6,   /* a bug (500); never expected */
    MR_ETOOLARGE = -7,   /* input over a limit (413) */
    MR_EVALIDATION = -8, /* request validation failed (422) */
    MR_EUPSTREAM = -9,   /* a provider answered wrongly (502) */
    MR_EUNAUTH = -10,    /* no or bad credentials (401) */
    MR_EFORBIDDEN = -11, /* authenticated, not allowed (403) */
    MR_EBUSY = -12       /* held by another process, e.g. a SQLite file in use (503) */
};

struct mr_err {
    int code;
    char msg[512];
};

/* Fills err (if not NULL) with code and a printf-style message; returns code. */
int mr_err_set(struct mr_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Clears err to MR_OK with an empty message. */
void mr_err_clear(struct mr_err *err);

/* The HTTP status that a code maps to. */
int mr_err_http_status(int code);

/* A short constant name for a code ("EINVAL"); never NULL. */
const char *mr_err_name(int code);

#endif
