/*
 * embed.h — the embedder interface: turns texts into L2-normalised float
 * vectors of a fixed dimension. Providers live in src/embed/.
 *
 * Thread-safety: embed() may be called from many threads at once.
 */
#ifndef MEMORI_EMBED_H
#define MEMORI_EMBED_H

#include <stdbool.h>
#include <stddef.h>

#include "memori/err.h"

struct mr_embedder;

struct mr_embedder_ops {
    /* Model name recorded in the database, e.g. "memori-lexical-v1". Owned by e. */
    const char *(*name)(const struct mr_embedder *e);
    size_t (*dim)(const struct mr_embedder *e);
    /*
     * Embeds n texts (texts[i] of lens[i] bytes, UTF-8) into out, n*dim floats
     * laid out row by row, each row L2-normalised (all zeros for a text with
     * no features). MR_EUNAVAIL when a remote provider fails.
     */
    int (*embed)(struct mr_embedder *e, const char *const *texts, const size_t *lens, size_t n,
                 float *out, struct mr_err *err);
    int (*health)(struct mr_embedder *e, struct mr_err *err);
    void (*destroy)(struct mr_embedder *e);
};

struct mr_embedder {
    const struct mr_embedder_ops *ops;
};

static inline const char *mr_embed_name(const struct mr_embedder *e)
{
    return e->ops->name(e);
}
static inline size_t mr_embed_dim(const struct mr_embedder *e)
{
    return e->ops->dim(e);
}
static inline int mr_embed_batch(struct mr_embedder *e, const char *const *texts,
                                 const size_t *lens, size_t n, float *out, struct mr_err *err)
{
    return e->ops->embed(e, texts, lens, n, out, err);
}
static inline int mr_embed_health(struct mr_embedder *e, struct mr_err *err)
{
    return e->ops->health(e, err);
}
static inline void mr_embed_destroy(struct mr_embedder *e)
{
    if (e)
        e->ops->destroy(e);
}

/* Embeds one text into out (dim floats). */
int mr_embed_one(struct mr_embedder *e, const char *text, size_t len, float *out,
                 struct mr_err *err);

#define MR_LEXICAL_MODEL "memori-lexical-v1"
#define MR_LEXICAL_DEFAULT_DIM 1024

/*
 * The lexical embedder: feature hashing of normalised words, word bigrams
 * and character n-grams with sublinear term weights. Deterministic; knows
 * words, not meanings. dim 0 picks MR_LEXICAL_DEFAULT_DIM; otherwise 16..4096.
 * Returns NULL with err filled for a bad dim. Free with mr_embed_destroy.
 */
struct mr_embedder *mr_embed_lexical_new(size_t dim, struct mr_err *err);

#define MR_SEMANTIC_MODEL "memori-wordnet-v1"
#define MR_SEMANTIC_FILE "memori-wordnet-v1.bin"
#define MR_SEMANTIC_LEXICAL_DIM 256 /* the lexical part inside the semantic model's vectors */
#ifndef MR_SEMANTIC_WEIGHT
#define MR_SEMANTIC_WEIGHT 0.6 /* share of the semantic part in the cosine */
#endif

#define MR_MODEL_DIM_TOTAL (128 + MR_SEMANTIC_LEXICAL_DIM)

/*
 * memori-wordnet-v2: the same model file's semantic part alone (lexical
 * share 0, 128 floats), the default since the lexical index ranks words
 * (docs/ranking.md: better on STS, a third of the bytes, a tie on retrieval
 * once fused with BM25). Its vectors differ from v1's, so a database
 * recorded with one is refused by the other until `memori reembed`.
 */
#define MR_SEMANTIC_V2_MODEL "memori-wordnet-v2"
#define MR_SEMANTIC_V2_DIM 128

/*
 * A built-in model by name (MR_SEMANTIC_V2_MODEL, MR_SEMANTIC_MODEL or
 * MR_LEXICAL_MODEL). dims 0
 * is the model's own. model_path NULL or "" finds the semantic model's file
 * in ../models/ beside the executable. *out_threshold receives the model's
 * calibrated cosine threshold (its semantic-mode default). NULL with err filled (MR_EINVAL
 * for a bad name or dimension, naming the variable) on failure.
 */
struct mr_embedder *mr_embed_builtin_open(const char *model, size_t dims, const char *model_path,
                                          double *out_threshold, struct mr_err *err);

/*
 * The registry (src/embed/builtin.c): the one place that knows each
 * provider's defaults, so the configuration and `memori` only wire parts.
 */
#define MR_PROVIDER_BUILTIN "builtin"
#define MR_PROVIDER_OPENAI "openai"

/*
 * The model a provider embeds with when MEMORI_EMBEDDING_MODEL is not
 * given: MR_SEMANTIC_V2_MODEL for builtin, the reference's
 * text-embedding-ada-002 for openai. NULL for an unknown provider.
 */
const char *mr_embed_default_model(const char *provider);

/*
 * The cosine threshold for model of provider (the semantic mode's default
 * min_similarity): each built-in model's calibrated one (docs/embeddings.md,
 * docs/ranking.md: wordnet-v1 0.40, wordnet-v2 0.60, lexical 0.15), the
 * reference's 0.70 for a provider's model.
 */
double mr_embed_default_threshold(const char *provider, const char *model);

/*
 * The default min_similarity of each search mode for model of provider, on
 * the score that mode returns (docs/ranking.md, "Thresholds"): hybrid on
 * the fused score, semantic on the cosine (mr_embed_default_threshold),
 * lexical on the normalised BM25 (one value for every provider: it does not
 * depend on the vectors).
 */
struct mr_embed_thresholds {
    double hybrid, semantic, lexical;
};
struct mr_embed_thresholds mr_embed_default_thresholds(const char *provider, const char *model);

/*
 * The hybrid score's lexical weight w for model of provider (fused = (1 −
 * w)·semantic + w·lexical, fusion.h): a built-in WordNet model's chosen
 * through the service on the development sets (docs/ranking.md, "The
 * lexical weight"), MR_FUSION_LEXICAL_WEIGHT (0.5) for a provider's model
 * and for memori-lexical-v1, whose thresholds were chosen at 0.5.
 */
double mr_embed_default_lexical_weight(const char *provider, const char *model);

/* An embedder as the configuration describes it (DESIGN.md §5). */
struct mr_embed_spec {
    const char *provider;   /* MR_PROVIDER_BUILTIN or MR_PROVIDER_OPENAI */
    const char *model;      /* NULL: mr_embed_default_model(provider) */
    size_t dim;             /* 0: the model's own */
    const char *model_path; /* builtin: the semantic model's file; NULL or "": beside the binary */
    /* openai */
    const char *base_url;
    const char *api_key;
    int batch_size;
    long timeout_ms;
    int max_retries;
};

/*
 * Opens the embedder spec describes, with the provider's policy applied
 * (default model; "dimensions" sent only to models that can shorten their
 * vectors). NULL with err filled on failure: MR_EINVAL, naming the
 * variable, for a setting it cannot use. Free with mr_embed_destroy.
 */
struct mr_embedder *mr_embed_open(const struct mr_embed_spec *spec, struct mr_err *err);

/*
 * The built-in semantic model (word vectors from WordNet, SIF composition,
 * plus a lexical part), memory-mapped from the file at path (built by
 * `make model`). Dimension 128 + 256. NULL with err filled when the file is
 * missing or malformed. Free with mr_embed_destroy.
 */
struct mr_embedder *mr_embed_semantic_open(const char *path, struct mr_err *err);

/*
 * The same model with lexical_share (in [0, 1)) of the cosine given to its
 * lexical part: 1 − MR_SEMANTIC_WEIGHT is memori-wordnet-v1 (what
 * mr_embed_semantic_open opens), 0 drops the part and is memori-wordnet-v2
 * (dimension 128); other shares are for bench_quality's measurements and
 * name themselves "memori-wordnet-share". NULL with err filled as above, or
 * MR_EINVAL for a share outside [0, 1).
 */
struct mr_embedder *mr_embed_semantic_open_share(const char *path, double lexical_share,
                                                 struct mr_err *err);

/* An OpenAI-compatible /v1/embeddings endpoint (OpenAI, Ollama, vLLM, TEI, llama.cpp). */
struct mr_openai_options {
    const char *base_url; /* e.g. "https://api.openai.com/v1"; "/embeddings" is appended */
    const char *api_key;  /* sent as "Authorization: Bearer"; NULL or "" sends none */
    const char *model;
    size_t dim;           /* 0: the known dimension of an OpenAI model, else an error */
    bool send_dimensions; /* pass "dimensions" (text-embedding-3 models can shorten) */
    int batch_size;       /* texts per request */
    long timeout_ms;      /* per attempt */
    int max_retries;      /* extra attempts on 429, 5xx and network errors */
};

/*
 * The HTTP provider (libcurl): batches, reused connections, timeouts,
 * retries with exponential backoff and jitter honouring Retry-After, and a
 * dimension check on every response. Errors: MR_EUNAVAIL (503) when the
 * provider is unreachable or busy after the retries, MR_EUPSTREAM (502) when
 * it answers wrongly (rejected key, bad request, malformed body, wrong
 * dimension). The API key never appears in messages. NULL with err filled
 * (MR_EINVAL, naming the variable) for options it cannot use.
 */
struct mr_embedder *mr_embed_openai_new(const struct mr_openai_options *o, struct mr_err *err);

/* One HTTP request (mr_embed_http_request). */
struct mr_embed_http_call {
    const char *method; /* "PUT", "GET", ... */
    const char *url;
    const char *const *headers; /* "Name: value" lines, NULL-terminated; may be NULL */
    const char *body;           /* body_len bytes; NULL: none */
    size_t body_len;
    long timeout_ms; /* the whole request */
};

/*
 * Sends call with the provider's HTTP client (libcurl, behind this module)
 * and waits: *out_status is the answer's status, *out_body its body (the
 * caller frees; at most 64 MiB). For the `memori schema import --url` CLI,
 * which needs one request and no second HTTP library. MR_EUNAVAIL with
 * libcurl's reason when no answer came (unreachable, refused, timed out).
 */
int mr_embed_http_request(const struct mr_embed_http_call *call, long *out_status, char **out_body,
                          struct mr_err *err);

/*
 * The splitting the lexical embedder uses, exposed for tests: lower-cased
 * words of text, with identifiers split ("customerId", "customer_id" →
 * "customer", "id"). Calls fn for each word (not NUL-terminated).
 */
void mr_embed_tokenize(const char *text, size_t len,
                       void (*fn)(void *arg, const char *word, size_t n, int is_part), void *arg);

#endif
