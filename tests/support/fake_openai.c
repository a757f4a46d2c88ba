/*
 * fake_openai.c — see fake_openai.h. Served by memori's own HTTP server
 * (src/http/), with a handler of its own: the fake speaks OpenAI's wire
 * format, not memori's API.
 */
#define _GNU_SOURCE
#include "fake_openai.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "memori/http.h"

#define MAX_QUEUE 64

struct fake_openai {
    struct mr_http_server *srv;
    size_t dim;
    int port;
    pthread_mutex_t lock;
    enum fake_mode queue[MAX_QUEUE];
    int q_head, q_len;
    int requests, texts;
    char auth[256], model[128];
};

static enum fake_mode next_mode(struct fake_openai *f)
{
    enum fake_mode m = FAKE_OK;
    if (f->q_len) {
        m = f->queue[f->q_head];
        f->q_head = (f->q_head + 1) % MAX_QUEUE;
        f->q_len--;
    }
    return m;
}

static void reply(struct mr_http_response *res, int status, char *body, const char *retry_after)
{
    res->status = status;
    res->body = body;
    res->retry_after = retry_after;
}

/* A deterministic, not normalised vector for text. */
static json_t *vector_of(const char *text, size_t dim, size_t len)
{
    json_t *a = json_array();
    uint64_t h = 1469598103934665603ull;
    for (const char *p = text; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    for (size_t i = 0; i < len; i++) {
        h ^= h << 13;
        h ^= h >> 7;
        h ^= h << 17;
        json_array_append_new(a, json_real((double)(h % 2001) / 100.0 - 10.0 + (i == 0 ? 50 : 0)));
    }
    (void)dim;
    return a;
}

static void handle(void *ctx, const struct mr_http_request *rq, struct mr_http_response *res)
{
    struct fake_openai *f = ctx;
    if (strcmp(rq->method, "POST") != 0 || strcmp(rq->path, "/v1/embeddings") != 0) {
        reply(res, 404, strdup("{\"error\":{\"message\":\"not found\"}}"), NULL);
        return;
    }
    pthread_mutex_lock(&f->lock);
    f->requests++;
    enum fake_mode m = next_mode(f);
    const char *auth = mr_http_header(rq, "Authorization");
    snprintf(f->auth, sizeof f->auth, "%s", auth ? auth : "");
    pthread_mutex_unlock(&f->lock);
    json_t *req = json_loadb(rq->body, rq->body_len, 0, NULL);
    json_t *input = json_object_get(req, "input");
    const char *model = json_string_value(json_object_get(req, "model"));
    pthread_mutex_lock(&f->lock);
    snprintf(f->model, sizeof f->model, "%s", model ? model : "");
    pthread_mutex_unlock(&f->lock);
    if (!json_is_array(input)) {
        reply(res, 400, strdup("{\"error\":{\"message\":\"input must be an array\"}}"), NULL);
    } else if (m == FAKE_429) {
        reply(res, 429, strdup("{\"error\":{\"message\":\"Rate limit reached\"}}"), "1");
    } else if (m == FAKE_500) {
        reply(res, 500, strdup("{\"error\":{\"message\":\"internal error\"}}"), NULL);
    } else if (m == FAKE_401) {
        char body[512];
        snprintf(body, sizeof body, "{\"error\":{\"message\":\"Incorrect API key provided: %s\"}}",
                 auth && strlen(auth) > 7 ? auth + 7 : "");
        reply(res, 401, strdup(body), NULL);
    } else if (m == FAKE_MALFORMED) {
        reply(res, 200, strdup("{\"data\": [ this is not json"), NULL);
    } else {
        if (m == FAKE_SLOW)
            sleep(3);
        json_t *out = json_array();
        size_t i;
        json_t *t;
        json_array_foreach(input, i, t)
        {
            const char *s = json_string_value(t);
            json_array_append_new(out,
                                  json_pack("{s:s, s:I, s:o}", "object", "embedding", "index",
                                            (json_int_t)i, "embedding",
                                            vector_of(s ? s : "", f->dim,
                                                      m == FAKE_WRONG_DIM ? f->dim - 1 : f->dim)));
        }
        pthread_mutex_lock(&f->lock);
        f->texts += (int)json_array_size(input);
        pthread_mutex_unlock(&f->lock);
        json_t *resp =
            json_pack("{s:s, s:o, s:s, s:{s:i, s:i}}", "object", "list", "data", out, "model",
                      model ? model : "", "usage", "prompt_tokens", 1, "total_tokens", 1);
        reply(res, 200, json_dumps(resp, JSON_COMPACT), NULL);
        json_decref(resp);
    }
    json_decref(req);
}

struct fake_openai *fake_openai_start(size_t dim)
{
    struct fake_openai *f = calloc(1, sizeof *f);
    f->dim = dim;
    pthread_mutex_init(&f->lock, NULL);
    /* Enough workers that a slow answer (FAKE_SLOW) never holds back the others. */
    struct mr_http_options o = {
        .host = "127.0.0.1", .threads = 8, .max_body_bytes = 64 << 20, .handler = handle, .ctx = f};
    struct mr_err err;
    f->srv = mr_http_start(&o, &err);
    if (!f->srv) {
        pthread_mutex_destroy(&f->lock);
        free(f);
        return NULL;
    }
    f->port = mr_http_port(f->srv);
    return f;
}

int fake_openai_port(const struct fake_openai *f)
{
    return f->port;
}

void fake_openai_push(struct fake_openai *f, enum fake_mode m, int times)
{
    pthread_mutex_lock(&f->lock);
    for (int i = 0; i < times && f->q_len < MAX_QUEUE; i++) {
        f->queue[(f->q_head + f->q_len) % MAX_QUEUE] = m;
        f->q_len++;
    }
    pthread_mutex_unlock(&f->lock);
}

int fake_openai_requests(struct fake_openai *f)
{
    pthread_mutex_lock(&f->lock);
    int n = f->requests;
    pthread_mutex_unlock(&f->lock);
    return n;
}

int fake_openai_texts(struct fake_openai *f)
{
    pthread_mutex_lock(&f->lock);
    int n = f->texts;
    pthread_mutex_unlock(&f->lock);
    return n;
}

const char *fake_openai_last_auth(struct fake_openai *f)
{
    static char copy[256];
    pthread_mutex_lock(&f->lock);
    snprintf(copy, sizeof copy, "%s", f->auth);
    pthread_mutex_unlock(&f->lock);
    return copy;
}

const char *fake_openai_last_model(struct fake_openai *f)
{
    static char copy[128];
    pthread_mutex_lock(&f->lock);
    snprintf(copy, sizeof copy, "%s", f->model);
    pthread_mutex_unlock(&f->lock);
    return copy;
}

void fake_openai_stop(struct fake_openai *f)
{
    mr_http_stop(f->srv, 5000);
    pthread_mutex_destroy(&f->lock);
    free(f);
}
