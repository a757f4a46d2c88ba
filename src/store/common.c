/* common.c — the model check and the error report both stores use (see store_int.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memori/metrics.h"
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

int store_db_error(struct mr_err *err, int code, const char *backend, const char *what,
                   const char *reason, const char *detail)
{
    /* One log line: the database's lines (ERROR, DETAIL, HINT, CONTEXT) joined by " | ". */
    char line[2048];
    size_t n = 0;
    for (const char *p = detail ? detail : ""; *p && n + 5 < sizeof line; p++) {
        if (*p == '\n') {
            if (p[1] == '\0')
                break;
            memcpy(line + n, " | ", 3);
            n += 3;
        } else if (*p == '\t') {
            line[n++] = ' ';
        } else if ((unsigned char)*p < 0x20 || *p == 0x7f) {
            /* Values in the text may come from clients: no byte of theirs forges a log line. */
            n += (size_t)snprintf(line + n, sizeof line - n, "\\x%02x", (unsigned char)*p);
        } else {
            line[n++] = *p;
        }
    }
    line[n] = '\0';
    fprintf(stderr, "memori: %s error while %s: %s\n", backend, what, line);
    mr_metrics_add(MR_M_STORE_ERRORS, 1);
    return mr_err_set(err, code, "database error while %s: %s", what, reason);
}

void mr_source_schema_clear(struct mr_source_schema *s)
{
    free(s->tenant_id);
    free(s->dialect);
    free(s->schema_hash);
    free(s->schema_json);
    memset(s, 0, sizeof *s);
}

void mr_access_promotions_free(struct mr_access_promotion *p, size_t n)
{
    for (size_t i = 0; p && i < n; i++) {
        free(p[i].user_id);
        free(p[i].tenant_id);
    }
    free(p);
}
