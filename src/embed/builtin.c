/*
 * builtin.c — the registry of built-in models: picks one by name, finds
 * its file, and knows its calibrated similarity threshold.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "memori/embed.h"

/*
 * Default MEMORY_MIN_SIMILARITY_THRESHOLD per model, chosen on the
 * development sets (docs/embeddings.md): between the cosines of unrelated
 * and of related question/memory pairs.
 */
#define LEXICAL_THRESHOLD 0.15
#define WORDNET_THRESHOLD 0.40

/* <directory of this executable>/../models/<file>: build/memori finds models/. */
static void default_model_path(char *buf, size_t cap)
{
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) {
        snprintf(buf, cap, "models/%s", MR_SEMANTIC_FILE);
        return;
    }
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash)
        *slash = '\0';
    snprintf(buf, cap, "%s/../models/%s", exe, MR_SEMANTIC_FILE);
}

struct mr_embedder *mr_embed_builtin_open(const char *model, size_t dims, const char *model_path,
                                          double *out_threshold, struct mr_err *err)
{
    if (strcmp(model, MR_LEXICAL_MODEL) == 0) {
        *out_threshold = LEXICAL_THRESHOLD;
        return mr_embed_lexical_new(dims, err);
    }
    if (strcmp(model, MR_SEMANTIC_MODEL) == 0) {
        size_t own = MR_MODEL_DIM_TOTAL;
        if (dims != 0 && dims != own) {
            mr_err_set(err, MR_EINVAL,
                       "MEMORI_EMBEDDING_DIMENSIONS=%zu does not fit %s: expected 0 or %zu", dims,
                       model, own);
            return NULL;
        }
        char path[4200];
        if (model_path && *model_path)
            snprintf(path, sizeof path, "%s", model_path);
        else
            default_model_path(path, sizeof path);
        *out_threshold = WORDNET_THRESHOLD;
        return mr_embed_semantic_open(path, err);
    }
    mr_err_set(err, MR_EINVAL,
               "MEMORI_EMBEDDING_MODEL=%.64s is not a built-in model: expected %s "
               "or %s",
               model, MR_SEMANTIC_MODEL, MR_LEXICAL_MODEL);
    return NULL;
}
