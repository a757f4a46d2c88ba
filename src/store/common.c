/* common.c — see store_int.h. */
#include <stdio.h>
#include <string.h>

#include "store_int.h"

int store_model_matches(const char *where, const char *have_model, const char *have_dim,
                        const char *model, size_t dim, struct mr_err *err)
{
    char want_dim[32];
    snprintf(want_dim, sizeof want_dim, "%zu", dim);
    if (strcmp(have_model, model) == 0 && have_dim && strcmp(have_dim, want_dim) == 0)
        return 0;
    return mr_err_set(err, MR_ECONFLICT,
                      "database %s holds embeddings of model %s (dimension %s) but this "
                      "server is configured for %s (dimension %zu); start with "
                      "MEMORI_EMBEDDING_MODEL=%s, or re-embed every memory with "
                      "`memori reembed` (it rewrites the embeddings with the configured "
                      "model)",
                      where, have_model, have_dim ? have_dim : "?", model, dim, have_model);
}
