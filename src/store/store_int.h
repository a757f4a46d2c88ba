/* store_int.h — what the store implementations share (private to src/store/). */
#ifndef MEMORI_STORE_INT_H
#define MEMORI_STORE_INT_H

#include <stddef.h>

#include "memori/err.h"

/*
 * check_model's verdict on what the database `where` records (have_model,
 * have_dim as stored; have_dim may be NULL) against the configured model
 * and dim: 0 when they match, else MR_ECONFLICT with the message that says
 * how to start or re-embed.
 */
int store_model_matches(const char *where, const char *have_model, const char *have_dim,
                        const char *model, size_t dim, struct mr_err *err);

#endif
