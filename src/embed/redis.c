/*
 * redis.c — the shared embedding cache in Redis (hiredis): MGET for a
 * batch's lookups, pipelined SET ... EX for its stores, float32 values.
 *
 * Redis down or slow must not fail a request: every command has a timeout,
 * an error drops the connection, and reconnecting is tried at most once a
 * second; meanwhile lookups miss at once and health() says why.
 */
#define _POSIX_C_SOURCE 200809L
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "memori/cache.h"
#include "memori/util.h"

#define KEY_PREFIX "memori:emb:"
#define KEY_LEN (sizeof KEY_PREFIX - 1 + 32)
#define RECONNECT_EVERY_US 1000000

struct rcache {
    struct mr_cache base;
    pthread_mutex_t lock;
    redisContext *ctx;
    char *host, *password;
    int port, db, ttl_s, timeout_ms;
    int64_t last_attempt_us;
    char last_error[200]; /* empty while connected */
    struct mr_cache_stats st;
};

static void key_text(struct mr_cache_key k, char out[KEY_LEN + 1])
{
    snprintf(out, KEY_LEN + 1, KEY_PREFIX "%016llx%016llx", (unsigned long long)k.hi,
             (unsigned long long)k.lo);
}

static void disconnect(struct rcache *r, const char *why)
{
    if (r->ctx)
        redisFree(r->ctx);
    r->ctx = NULL;
    snprintf(r->last_error, sizeof r->last_error, "%s", why);
    r->st.errors++;
}

/* Connects if needed (rate-limited); 0 when connected. Lock held. */
static int ensure(struct rcache *r)
{
    if (r->ctx)
        return 0;
    int64_t now = mr_monotonic_us();
    if (r->last_attempt_us && now - r->last_attempt_us < RECONNECT_EVERY_US)
        return -1;
    r->last_attempt_us = now;
    struct timeval tv = {r->timeout_ms / 1000, (r->timeout_ms % 1000) * 1000};
    redisContext *c = redisConnectWithTimeout(r->host, r->port, tv);
    if (!c || c->err) {
        char why[160];
        snprintf(why, sizeof why, "cannot connect to %s:%d: %s", r->host, r->port,
                 c ? c->errstr : "out of memory");
        if (c)
            redisFree(c);
        disconnect(r, why);
        return -1;
    }
    redisSetTimeout(c, tv);
    r->ctx = c;
    if (r->password) {
        redisReply *rep = redisCommand(c, "AUTH %s", r->password);
        bool ok = rep && rep->type != REDIS_REPLY_ERROR;
        freeReplyObject(rep);
        if (!ok) {
            disconnect(r, "authentication refused");
            return -1;
        }
    }
    if (r->db) {
        redisReply *rep = redisCommand(c, "SELECT %d", r->db);
        bool ok = rep && rep->type != REDIS_REPLY_ERROR;
        freeReplyObject(rep);
        if (!ok) {
            disconnect(r, "SELECT of the database failed");
            return -1;
        }
    }
    r->last_error[0] = '\0';
    return 0;
}

static int fail(struct rcache *r, struct mr_err *err)
{
    if (r->ctx && r->ctx->err) {
        char why[160];
        snprintf(why, sizeof why, "%s", r->ctx->errstr);
        disconnect(r, why);
    }
    return mr_err_set(err, MR_EUNAVAIL, "redis: %s", r->last_error[0] ? r->last_error : "error");
}

static int r_get(struct mr_cache *c, const struct mr_cache_key *keys, size_t n, size_t dim,
                 float *out, bool *found, struct mr_err *err)
{
    struct rcache *r = (struct rcache *)c;
    int64_t t0 = mr_monotonic_us();
    memset(found, 0, n * sizeof *found);
    pthread_mutex_lock(&r->lock);
    int rc = 0;
    if (ensure(r) != 0) {
        rc = mr_err_set(err, MR_EUNAVAIL, "redis: %s", r->last_error);
        goto out;
    }
    const char **argv = mr_xmalloc((n + 1) * sizeof *argv);
    size_t *argl = mr_xmalloc((n + 1) * sizeof *argl);
    char(*names)[KEY_LEN + 1] = mr_xmalloc(n * sizeof *names);
    argv[0] = "MGET";
    argl[0] = 4;
    for (size_t i = 0; i < n; i++) {
        key_text(keys[i], names[i]);
        argv[i + 1] = names[i];
        argl[i + 1] = KEY_LEN;
    }
    redisReply *rep = redisCommandArgv(r->ctx, (int)n + 1, argv, argl);
    if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements != n) {
        if (rep && rep->type == REDIS_REPLY_ERROR)
            disconnect(r, rep->str);
        freeReplyObject(rep);
        rc = fail(r, err);
    } else {
        for (size_t i = 0; i < n; i++) {
            redisReply *e = rep->element[i];
            found[i] = e->type == REDIS_REPLY_STRING && e->len == dim * sizeof(float);
            if (found[i])
                memcpy(out + i * dim, e->str, dim * sizeof(float));
            r->st.hits += found[i];
            r->st.misses += !found[i];
        }
        freeReplyObject(rep);
    }
    free(argv);
    free(argl);
    free(names);
out:
    if (rc)
        r->st.misses += n;
    r->st.lookup_us += (uint64_t)(mr_monotonic_us() - t0);
    pthread_mutex_unlock(&r->lock);
    return rc;
}

static int r_put(struct mr_cache *c, const struct mr_cache_key *keys, size_t n, size_t dim,
                 const float *vecs, struct mr_err *err)
{
    struct rcache *r = (struct rcache *)c;
    pthread_mutex_lock(&r->lock);
    int rc = 0;
    if (ensure(r) != 0) {
        rc = mr_err_set(err, MR_EUNAVAIL, "redis: %s", r->last_error);
        goto out;
    }
    char ttl[16];
    snprintf(ttl, sizeof ttl, "%d", r->ttl_s > 0 ? r->ttl_s : 86400 * 365);
    for (size_t i = 0; i < n; i++) {
        char name[KEY_LEN + 1];
        key_text(keys[i], name);
        const char *argv[] = {"SET", name, (const char *)(vecs + i * dim), "EX", ttl};
        size_t argl[] = {3, KEY_LEN, dim * sizeof(float), 2, strlen(ttl)};
        redisAppendCommandArgv(r->ctx, 5, argv, argl);
    }
    /* Pipelined: all the SETs went out together; now read their answers. */
    for (size_t i = 0; i < n; i++) {
        void *rep = NULL;
        if (redisGetReply(r->ctx, &rep) != REDIS_OK) {
            rc = fail(r, err);
            break;
        }
        freeReplyObject(rep);
    }
out:
    pthread_mutex_unlock(&r->lock);
    return rc;
}

static int r_health(struct mr_cache *c, struct mr_err *err)
{
    struct rcache *r = (struct rcache *)c;
    pthread_mutex_lock(&r->lock);
    int rc = 0;
    if (ensure(r) == 0) {
        redisReply *rep = redisCommand(r->ctx, "PING");
        if (!rep)
            rc = fail(r, err);
        freeReplyObject(rep);
    } else {
        rc = mr_err_set(err, MR_EUNAVAIL, "redis: %s", r->last_error);
    }
    pthread_mutex_unlock(&r->lock);
    return rc;
}

static void r_stats(struct mr_cache *c, struct mr_cache_stats *out)
{
    struct rcache *r = (struct rcache *)c;
    pthread_mutex_lock(&r->lock);
    *out = r->st;
    pthread_mutex_unlock(&r->lock);
}

static void r_destroy(struct mr_cache *c)
{
    struct rcache *r = (struct rcache *)c;
    if (r->ctx)
        redisFree(r->ctx);
    free(r->host);
    if (r->password)
        memset(r->password, 0, strlen(r->password));
    free(r->password);
    pthread_mutex_destroy(&r->lock);
    free(r);
}

static const struct mr_cache_ops redis_ops = {
    .name = "redis",
    .get_many = r_get,
    .put_many = r_put,
    .health = r_health,
    .stats = r_stats,
    .destroy = r_destroy,
};

/* redis://[[user]:password@]host[:port][/db] */
static int parse_url(struct rcache *r, const char *url)
{
    const char *p;
    if (strncmp(url, "redis://", 8) != 0)
        return -1;
    p = url + 8;
    const char *at = strrchr(p, '@');
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        const char *pw = colon ? colon + 1 : p;
        if (at > pw)
            r->password = mr_xstrndup(pw, (size_t)(at - pw));
        p = at + 1;
    }
    size_t hl = strcspn(p, ":/");
    if (hl == 0)
        return -1;
    r->host = mr_xstrndup(p, hl);
    p += hl;
    r->port = 6379;
    if (*p == ':') {
        char *end;
        long port = strtol(p + 1, &end, 10);
        if (end == p + 1 || port < 1 || port > 65535)
            return -1;
        r->port = (int)port;
        p = end;
    }
    if (*p == '/' && p[1]) {
        char *end;
        long db = strtol(p + 1, &end, 10);
        if (end == p + 1 || *end || db < 0 || db > 1000)
            return -1;
        r->db = (int)db;
    } else if (*p && strcmp(p, "/") != 0) {
        return -1;
    }
    return 0;
}

struct mr_cache *mr_cache_redis_new(const char *url, int ttl_s, int timeout_ms, struct mr_err *err)
{
    struct rcache *r = mr_xcalloc(1, sizeof *r);
    r->base.ops = &redis_ops;
    pthread_mutex_init(&r->lock, NULL);
    if (!url || parse_url(r, url) != 0) {
        mr_err_set(err, MR_EINVAL,
                   "REDIS_URL is not valid: expected redis://[:password@]host[:port][/db]");
        r_destroy(&r->base);
        return NULL;
    }
    r->ttl_s = ttl_s;
    r->timeout_ms = timeout_ms > 0 ? timeout_ms : 100;
    pthread_mutex_lock(&r->lock);
    if (ensure(r) != 0)
        fprintf(stderr,
                "memori: embedding cache redis unavailable at start, using the provider: "
                "%s\n",
                r->last_error);
    pthread_mutex_unlock(&r->lock);
    return &r->base;
}
