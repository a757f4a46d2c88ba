/*
 * faulty_store.h — fault injection for tests (SQLite's test_vfs idea): a
 * store that forwards every call to a real one and, once armed with n,
 * fails its n-th call with MR_EUNAVAIL (a failing commit rolls back). It
 * proves that every write path leaves the database exactly as it was when
 * any of its store calls fails. Test support only: not part of libmemori.
 */
#ifndef MEMORI_TEST_FAULTY_STORE_H
#define MEMORI_TEST_FAULTY_STORE_H

#include "memori/store.h"

/* A store over inner, which it then owns (NULL inner: NULL). Free with mr_store_close. */
struct mr_store *faulty_store_wrap(struct mr_store *inner);

/* Fails the n-th call from now on (n <= 0: never) and restarts the count. */
void faulty_store_arm(struct mr_store *s, long n);

/*
 * Fails every call of the op named op (its field name in struct mr_store_ops,
 * "hist_insert"; "begin", "commit") until called again with NULL: for a test
 * that one kind of write failing fails the change it belongs to.
 */
void faulty_store_fail_op(struct mr_store *s, const char *op);

/* The calls since the last arming. */
long faulty_store_calls(struct mr_store *s);

#endif
