/*
 * openai.c — embeddings from an OpenAI-compatible HTTP endpoint
 * (POST {base}/embeddings), the wire format OpenAI, Ollama, vLLM,
 * llama.cpp's server and Text Embeddings Inference all speak.
 *
 * Connections are reused through a small pool of curl handles; each batch is
 * one request, retried on 429, 5xx and network errors with exponential
 * backoff plus jitter, honouring Retry-After. Every response is checked:
 * count, index, dimension, finite numbers. The API key is only ever put in
 * the Authorization header, never in a message.
 */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "memori/embed.h"
#include "memori/json.h"
#include "memori/util.h"

#define BACKOFF_BASE_MS 200
#define BACKOFF_MAX_MS 8000
#define RETRY_AFTER_MAX_S 30
#define MAX_RESPONSE_BYTES (64u << 20)

struct handle {
    CURL *curl;
    struct handle *next;
};

struct openai {
    struct mr_embedder base;
    char *url, *model, *auth_header, *key;
    size_t dim;
    bool send_dimensions;
    int batch_size, max_retries;
    long timeout_ms;
    pthread_mutex_t lock;
    struct handle *free_handles;
    char last_error[256]; /* empty when the last request succeeded */
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init(void)
{
    curl_global_init(CURL_GLOBAL_ALL);
}

static const struct {
    const char *model;
    size_t dim;
} known[] = {
    {"text-embedding-ada-002", 1536},
    {"text-embedding-3-small", 1536},
    {"text-embedding-3-large", 3072},
};

static CURL *take_handle(struct openai *o)
{
    pthread_mutex_lock(&o->lock);
    struct handle *h = o->free_handles;
    if (h)
        o->free_handles = h->next;
    pthread_mutex_unlock(&o->lock);
    if (!h) {
        h = mr_xcalloc(1, sizeof *h);
        h->curl = curl_easy_init();
    }
    CURL *c = h->curl;
    free(h);
    return c;
}

static void give_handle(struct openai *o, CURL *c)
{
    struct handle *h = mr_xcalloc(1, sizeof *h);
    h->curl = c;
    pthread_mutex_lock(&o->lock);
    h->next = o->free_handles;
    o->free_handles = h;
    pthread_mutex_unlock(&o->lock);
}

struct body {
    char *p;
    size_t n;
    bool too_big;
};

static size_t on_data(char *data, size_t size, size_t nmemb, void *arg)
{
    struct body *b = arg;
    size_t len = size * nmemb;
    if (b->n + len > MAX_RESPONSE_BYTES) {
        b->too_big = true;
        return 0;
    }
    b->p = mr_xrealloc(b->p, b->n + len + 1);
    memcpy(b->p + b->n, data, len);
    b->n += len;
    b->p[b->n] = '\0';
    return len;
}

struct headers {
    long retry_after_s; /* -1: none */
};

static size_t on_header(char *data, size_t size, size_t nmemb, void *arg)
{
    struct headers *h = arg;
    size_t len = size * nmemb;
    if (len > 12 && strncasecmp(data, "Retry-After:", 12) == 0) {
        char buf[32];
        size_t n = len - 12 < sizeof buf - 1 ? len - 12 : sizeof buf - 1;
        memcpy(buf, data + 12, n);
        buf[n] = '\0';
        char *end;
        long s = strtol(buf, &end, 10);
        if (end != buf && s >= 0)
            h->retry_after_s = s < RETRY_AFTER_MAX_S ? s : RETRY_AFTER_MAX_S;
    }
    return len;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* Copies src into dst with every occurrence of the key masked. */
static void scrub(const struct openai *o, const char *src, char *dst, size_t cap)
{
    snprintf(dst, cap, "%s", src);
    size_t kl = o->key ? strlen(o->key) : 0;
    if (kl < 4)
        return;
    for (char *p = strstr(dst, o->key); p; p = strstr(p, o->key))
        memset(p, '*', kl);
}

/* The provider's own error message from a JSON error body, scrubbed. */
static void provider_message(const struct openai *o, const char *body, char *out, size_t cap)
{
    out[0] = '\0';
    struct mr_json *doc = body ? mr_json_parse(body, strlen(body), NULL) : NULL;
    struct mr_json *e = mr_json_get(doc, "error");
    const char *msg = mr_json_string_value(mr_json_is_object(e) ? mr_json_get(e, "message") : e);
    if (!msg)
        msg = mr_json_string_value(mr_json_get(doc, "detail"));
    if (msg) {
        char tmp[200];
        scrub(o, msg, tmp, sizeof tmp);
        snprintf(out, cap, ": %s", tmp);
    }
    mr_json_free(doc);
}

/* Parses a 2xx body into out (n rows of dim), normalising each row. */
static int parse_embeddings(const struct openai *o, const char *body, size_t n, float *out,
                            struct mr_err *err)
{
    struct mr_json *doc = mr_json_parse(body, strlen(body), NULL);
    struct mr_json *data = mr_json_get(doc, "data");
    int rc = 0;
    if (!mr_json_is_array(data) || mr_json_size(data) != n) {
        rc = mr_err_set(err, MR_EUPSTREAM,
                        "embedding provider answered without %zu embeddings in \"data\"", n);
        goto out;
    }
    bool *seen = mr_xcalloc(n, sizeof *seen);
    for (size_t i = 0; i < n; i++) {
        struct mr_json *item = mr_json_at(data, i);
        struct mr_json *idx = mr_json_get(item, "index"), *emb = mr_json_get(item, "embedding");
        size_t at = mr_json_is_integer(idx) ? (size_t)mr_json_integer_value(idx) : i;
        if (at >= n || seen[at] || !mr_json_is_array(emb)) {
            rc = mr_err_set(err, MR_EUPSTREAM, "embedding provider answered a malformed item %zu",
                            i);
            break;
        }
        if (mr_json_size(emb) != o->dim) {
            rc = mr_err_set(err, MR_EUPSTREAM,
                            "embedding provider returned dimension %zu, expected %zu "
                            "(MEMORI_EMBEDDING_DIMENSIONS)",
                            mr_json_size(emb), o->dim);
            break;
        }
        seen[at] = true;
        float *row = out + at * o->dim;
        double norm = 0;
        for (size_t k = 0; k < o->dim; k++) {
            struct mr_json *x = mr_json_at(emb, k);
            double v = mr_json_number_value(x);
            if (!mr_json_is_number(x) || !isfinite(v)) {
                rc = mr_err_set(err, MR_EUPSTREAM, "embedding provider returned a non-number");
                break;
            }
            row[k] = (float)v;
            norm += v * v;
        }
        if (rc)
            break;
        /* Providers other than OpenAI do not all normalise: cosine needs unit length. */
        if (norm > 0) {
            float inv = (float)(1.0 / sqrt(norm));
            for (size_t k = 0; k < o->dim; k++)
                row[k] *= inv;
        }
    }
    free(seen);
out:
    mr_json_free(doc);
    return rc;
}

static char *request_body(const struct openai *o, const char *const *texts, const size_t *lens,
                          size_t n, struct mr_err *err)
{
    struct mr_json *input = mr_json_array();
    for (size_t i = 0; i < n; i++) {
        struct mr_json *s = mr_json_stringn(texts[i], lens[i]);
        if (!s) {
            mr_json_free(input);
            mr_err_set(err, MR_EINVAL, "text %zu is not valid UTF-8", i);
            return NULL;
        }
        mr_json_append(input, s);
    }
    struct mr_json *req = mr_json_with(mr_json_object(), "model", mr_json_string(o->model));
    req = mr_json_with(req, "input", input);
    req = mr_json_with(req, "encoding_format", mr_json_string("float"));
    if (o->send_dimensions)
        mr_json_set(req, "dimensions", mr_json_integer((int64_t)o->dim));
    char *body = mr_json_print(req, 0);
    mr_json_free(req);
    return body;
}

static bool retryable(long status)
{
    return status == 429 || status >= 500;
}

/* One batch: POST with retries. */
static int embed_batch(struct openai *o, const char *const *texts, const size_t *lens, size_t n,
                       float *out, struct mr_err *err)
{
    char *req = request_body(o, texts, lens, n, err);
    if (!req)
        return MR_EINVAL;
    CURL *c = take_handle(o);
    struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
    hdr = curl_slist_append(hdr, "Expect:");
    if (o->auth_header)
        hdr = curl_slist_append(hdr, o->auth_header);
    int rc = MR_EUNAVAIL;
    char why[256] = "";
    for (int attempt = 0; attempt <= o->max_retries; attempt++) {
        struct body b = {0};
        struct headers h = {-1};
        char cerr[CURL_ERROR_SIZE] = "";
        curl_easy_reset(c);
        curl_easy_setopt(c, CURLOPT_URL, o->url);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, req);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
        curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(c, CURLOPT_HEADERDATA, &h);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, o->timeout_ms);
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, o->timeout_ms < 5000 ? o->timeout_ms : 5000);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
        curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
        CURLcode cc = curl_easy_perform(c);
        long status = 0;
        if (cc == CURLE_OK)
            curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        if (cc == CURLE_OK && status >= 200 && status < 300) {
            rc = parse_embeddings(o, b.p ? b.p : "", n, out, err);
            free(b.p);
            goto done;
        }
        char pm[220];
        provider_message(o, b.p, pm, sizeof pm);
        free(b.p);
        if (cc != CURLE_OK) {
            snprintf(why, sizeof why, "%s", cerr[0] ? cerr : curl_easy_strerror(cc));
        } else if (!retryable(status)) {
            /* 4xx other than 429: the request or the key is wrong; retrying cannot help. */
            rc = mr_err_set(err, MR_EUPSTREAM,
                            "embedding provider refused the request (HTTP %ld)%s", status, pm);
            goto done;
        } else {
            snprintf(why, sizeof why, "HTTP %ld%s", status, pm);
        }
        if (attempt == o->max_retries)
            break;
        long wait = BACKOFF_BASE_MS << attempt;
        if (wait > BACKOFF_MAX_MS)
            wait = BACKOFF_MAX_MS;
        uint64_t r;
        char id[MR_UUID_LEN];
        mr_uuid_v4(id); /* a random source that needs no shared state */
        memcpy(&r, id, sizeof r);
        wait += (long)(r % (uint64_t)(wait + 1)); /* full jitter on top */
        if (h.retry_after_s >= 0)
            wait = h.retry_after_s * 1000 > wait ? h.retry_after_s * 1000 : wait;
        sleep_ms(wait);
    }
    rc = mr_err_set(err, MR_EUNAVAIL, "embedding provider unavailable after %d attempts: %s",
                    o->max_retries + 1, why);
done:
    curl_slist_free_all(hdr);
    give_handle(o, c);
    free(req);
    pthread_mutex_lock(&o->lock);
    snprintf(o->last_error, sizeof o->last_error, "%.200s", rc && err ? err->msg : "");
    pthread_mutex_unlock(&o->lock);
    return rc;
}

static int oa_embed(struct mr_embedder *e, const char *const *texts, const size_t *lens, size_t n,
                    float *out, struct mr_err *err)
{
    struct openai *o = (struct openai *)e;
    for (size_t i = 0; i < n; i += (size_t)o->batch_size) {
        size_t k = n - i < (size_t)o->batch_size ? n - i : (size_t)o->batch_size;
        int rc = embed_batch(o, texts + i, lens + i, k, out + i * o->dim, err);
        if (rc)
            return rc;
    }
    return 0;
}

static const char *oa_name(const struct mr_embedder *e)
{
    return ((const struct openai *)e)->model;
}
static size_t oa_dim(const struct mr_embedder *e)
{
    return ((const struct openai *)e)->dim;
}

static int oa_health(struct mr_embedder *e, struct mr_err *err)
{
    struct openai *o = (struct openai *)e;
    pthread_mutex_lock(&o->lock);
    int rc = o->last_error[0]
                 ? mr_err_set(err, MR_EUNAVAIL, "last request failed: %s", o->last_error)
                 : 0;
    pthread_mutex_unlock(&o->lock);
    return rc;
}

static void oa_destroy(struct mr_embedder *e)
{
    struct openai *o = (struct openai *)e;
    while (o->free_handles) {
        struct handle *h = o->free_handles;
        o->free_handles = h->next;
        curl_easy_cleanup(h->curl);
        free(h);
    }
    pthread_mutex_destroy(&o->lock);
    free(o->url);
    free(o->model);
    if (o->auth_header)
        memset(o->auth_header, 0, strlen(o->auth_header));
    free(o->auth_header);
    if (o->key)
        memset(o->key, 0, strlen(o->key));
    free(o->key);
    free(o);
}

static const struct mr_embedder_ops openai_ops = {
    .name = oa_name,
    .dim = oa_dim,
    .embed = oa_embed,
    .health = oa_health,
    .destroy = oa_destroy,
};

/*
 * One plain request beside the provider, for `memori schema import --url`:
 * this file is libcurl's one includer (docs/architecture.md), and a second
 * HTTP client for one CLI call would be a second copy of this one.
 */
int mr_embed_http_request(const struct mr_embed_http_call *call, long *out_status, char **out_body,
                          struct mr_err *err)
{
    *out_status = 0;
    *out_body = NULL;
    pthread_once(&curl_once, curl_init);
    CURL *c = curl_easy_init();
    if (!c)
        return mr_err_set(err, MR_EINTERNAL, "cannot start an HTTP client");
    struct curl_slist *hdr = curl_slist_append(NULL, "Expect:");
    for (size_t i = 0; call->headers && call->headers[i]; i++)
        hdr = curl_slist_append(hdr, call->headers[i]);
    struct body b = {0};
    char cerr[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(c, CURLOPT_URL, call->url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, call->method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
    if (call->body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, call->body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)call->body_len);
    }
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, call->timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                     call->timeout_ms < 10000 ? call->timeout_ms : 10000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
    CURLcode cc = curl_easy_perform(c);
    int rc = 0;
    if (cc != CURLE_OK) {
        rc = mr_err_set(err, MR_EUNAVAIL, "%s",
                        b.too_big ? "the response is too large"
                        : cerr[0] ? cerr
                                  : curl_easy_strerror(cc));
        free(b.p);
    } else {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, out_status);
        *out_body = b.p ? b.p : mr_xstrdup("");
    }
    curl_slist_free_all(hdr);
    curl_easy_cleanup(c);
    return rc;
}

struct mr_embedder *mr_embed_openai_new(const struct mr_openai_options *opt, struct mr_err *err)
{
    size_t dim = opt->dim;
    for (size_t i = 0; dim == 0 && i < sizeof known / sizeof known[0]; i++)
        if (strcmp(known[i].model, opt->model) == 0)
            dim = known[i].dim;
    if (dim == 0) {
        mr_err_set(err, MR_EINVAL,
                   "MEMORI_EMBEDDING_DIMENSIONS is needed for model %.64s: expected the "
                   "dimension its provider returns",
                   opt->model);
        return NULL;
    }
    if (!opt->base_url || strncmp(opt->base_url, "http", 4) != 0) {
        mr_err_set(err, MR_EINVAL, "OPENAI_BASE_URL is not valid: expected http:// or https://");
        return NULL;
    }
    pthread_once(&curl_once, curl_init);
    struct openai *o = mr_xcalloc(1, sizeof *o);
    o->base.ops = &openai_ops;
    size_t bl = strlen(opt->base_url);
    while (bl && opt->base_url[bl - 1] == '/')
        bl--;
    o->url = mr_xmalloc(bl + sizeof "/embeddings");
    memcpy(o->url, opt->base_url, bl);
    memcpy(o->url + bl, "/embeddings", sizeof "/embeddings");
    o->model = mr_xstrdup(opt->model);
    if (opt->api_key && *opt->api_key) {
        o->key = mr_xstrdup(opt->api_key);
        size_t n = strlen(opt->api_key) + sizeof "Authorization: Bearer ";
        o->auth_header = mr_xmalloc(n);
        snprintf(o->auth_header, n, "Authorization: Bearer %s", opt->api_key);
    }
    o->dim = dim;
    o->send_dimensions = opt->send_dimensions;
    o->batch_size = opt->batch_size > 0 ? opt->batch_size : 100;
    o->timeout_ms = opt->timeout_ms > 0 ? opt->timeout_ms : 30000;
    o->max_retries = opt->max_retries >= 0 ? opt->max_retries : 3;
    pthread_mutex_init(&o->lock, NULL);
    return &o->base;
}
