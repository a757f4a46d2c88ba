/* embed.c — helpers shared by every embedder. */
#include "memori/embed.h"

int mr_embed_one(struct mr_embedder *e, const char *text, size_t len, float *out,
                 struct mr_err *err)
{
    const char *texts[1] = {text};
    size_t lens[1] = {len};
    return mr_embed_batch(e, texts, lens, 1, out, err);
}
