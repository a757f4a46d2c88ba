/* fake_openai.c — see fake_openai.h. */
#define _GNU_SOURCE
#include "fake_openai.h"

#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_QUEUE 64

struct fake_openai {
    struct MHD_Daemon *d;
    size_t dim;
    int port;
    pthread_mutex_t lock;
    enum fake_mode queue[MAX_QUEUE];
    int q_head, q_len;
    int requests, texts;
    char auth[256], model[128];
};

struct upload {
    char *p;
    size_t n;
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

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, char *body,
                             const char *retry_after)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(r, "Content-Type", "application/json");
    if (retry_after)
        MHD_add_response_header(r, "Retry-After", retry_after);
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
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

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *data,
                              size_t *data_size, void **con_cls)
{
    (void)version;
    struct fake_openai *f = cls;
    struct upload *u = *con_cls;
    if (!u) {
        *con_cls = calloc(1, sizeof *u);
        return MHD_YES;
    }
    if (*data_size) {
        u->p = realloc(u->p, u->n + *data_size + 1);
        memcpy(u->p + u->n, data, *data_size);
        u->n += *data_size;
        u->p[u->n] = '\0';
        *data_size = 0;
        return MHD_YES;
    }
    if (strcmp(method, "POST") != 0 || strcmp(url, "/v1/embeddings") != 0)
        return reply(c, 404, strdup("{\"error\":{\"message\":\"not found\"}}"), NULL);
    pthread_mutex_lock(&f->lock);
    f->requests++;
    enum fake_mode m = next_mode(f);
    const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    snprintf(f->auth, sizeof f->auth, "%s", auth ? auth : "");
    pthread_mutex_unlock(&f->lock);
    json_t *req = json_loadb(u->p ? u->p : "", u->n, 0, NULL);
    json_t *input = json_object_get(req, "input");
    const char *model = json_string_value(json_object_get(req, "model"));
    pthread_mutex_lock(&f->lock);
    snprintf(f->model, sizeof f->model, "%s", model ? model : "");
    pthread_mutex_unlock(&f->lock);
    enum MHD_Result ret;
    if (!json_is_array(input)) {
        ret = reply(c, 400, strdup("{\"error\":{\"message\":\"input must be an array\"}}"), NULL);
    } else if (m == FAKE_429) {
        ret = reply(c, 429, strdup("{\"error\":{\"message\":\"Rate limit reached\"}}"), "1");
    } else if (m == FAKE_500) {
        ret = reply(c, 500, strdup("{\"error\":{\"message\":\"internal error\"}}"), NULL);
    } else if (m == FAKE_401) {
        char body[512];
        snprintf(body, sizeof body, "{\"error\":{\"message\":\"Incorrect API key provided: %s\"}}",
                 auth && strlen(auth) > 7 ? auth + 7 : "");
        ret = reply(c, 401, strdup(body), NULL);
    } else if (m == FAKE_MALFORMED) {
        ret = reply(c, 200, strdup("{\"data\": [ this is not json"), NULL);
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
        ret = reply(c, 200, json_dumps(resp, JSON_COMPACT), NULL);
        json_decref(resp);
    }
    json_decref(req);
    return ret;
}

static void done(void *cls, struct MHD_Connection *c, void **con_cls,
                 enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    struct upload *u = *con_cls;
    if (u) {
        free(u->p);
        free(u);
    }
    *con_cls = NULL;
}

struct fake_openai *fake_openai_start(size_t dim)
{
    struct fake_openai *f = calloc(1, sizeof *f);
    f->dim = dim;
    pthread_mutex_init(&f->lock, NULL);
    f->d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG, 0,
        NULL, NULL, handle, f, MHD_OPTION_NOTIFY_COMPLETED, done, f, MHD_OPTION_END);
    if (!f->d) {
        free(f);
        return NULL;
    }
    f->port = MHD_get_daemon_info(f->d, MHD_DAEMON_INFO_BIND_PORT)->port;
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
    MHD_stop_daemon(f->d);
    pthread_mutex_destroy(&f->lock);
    free(f);
}
