/*
 * config.c — table-driven configuration: one row per variable says its
 * type, default, accepted range and whether it is secret, so parsing,
 * error messages and printing all come from the same place.
 */
#define _POSIX_C_SOURCE 200809L
#include "memori/config.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <stdint.h>

#include "memori/embed.h"
#include "memori/store.h"
#include "memori/util.h"

enum kind { K_STR, K_INT, K_BOOL, K_FLOAT, K_ENUM, K_SIZE };

struct var {
    const char *name;
    enum kind kind;
    size_t offset;
    const char *def; /* NULL: unset */
    long long min, max;
    const char *choices; /* K_ENUM: "a|b|c" */
    bool secret;
};

#define OFF(f) offsetof(struct mr_config, f)

static const struct var vars[] = {
    {"HOST", K_STR, OFF(host), "127.0.0.1", 0, 0, NULL, false},
    {"PORT", K_INT, OFF(port), "8000", 0, 65535, NULL, false}, /* 0: any free port */
    {"DATABASE_URL", K_STR, OFF(database_url), "sqlite:///./memori.db", 0, 0, NULL, true},
    {"DATABASE_POOL_SIZE", K_INT, OFF(database_pool_size), "20", 1, 1000, NULL, false},
    {"DATABASE_MAX_OVERFLOW", K_INT, OFF(database_max_overflow), "10", 0, 1000, NULL, false},
    {"MEMORI_EMBEDDING_PROVIDER", K_ENUM, OFF(embedding_provider), "builtin", 0, 0,
     "builtin|openai", false},
    {"MEMORI_EMBEDDING_TIMEOUT_MS", K_INT, OFF(embedding_timeout_ms), "30000", 100, 600000, NULL,
     false},
    {"MEMORI_EMBEDDING_MAX_RETRIES", K_INT, OFF(embedding_max_retries), "3", 0, 10, NULL, false},
    /* Unset: the provider's default model, from the embedder registry. */
    {"MEMORI_EMBEDDING_MODEL", K_STR, OFF(embedding_model), NULL, 0, 0, NULL, false},
    {"MEMORI_MODEL_PATH", K_STR, OFF(model_path), "", 0, 0, NULL, false},
    {"MEMORI_EMBEDDING_DIMENSIONS", K_INT, OFF(embedding_dimensions), "0", 0, 8192, NULL, false},
    {"EMBEDDING_BATCH_SIZE", K_INT, OFF(embedding_batch_size), "100", 1, 2048, NULL, false},
    {"EMBEDDING_CACHE_TTL", K_INT, OFF(embedding_cache_ttl), "3600", 0, 31536000, NULL, false},
    {"MEMORY_SHORT_TERM_EXPIRY_DAYS", K_INT, OFF(short_term_expiry_days), "7", 1, 36500, NULL,
     false},
    {"MEMORY_ARCHIVE_THRESHOLD_DAYS", K_INT, OFF(archive_threshold_days), "30", 1, 365, NULL,
     false},
    {"MEMORY_MAX_CONTEXT_MEMORIES", K_INT, OFF(max_context_memories), "10", 1, 100, NULL, false},
    {"MEMORY_MIN_SIMILARITY_THRESHOLD", K_FLOAT, OFF(min_similarity), NULL, 0, 1, NULL, false},
    {"REDIS_URL", K_STR, OFF(redis_url), NULL, 0, 0, NULL, true},
    {"REDIS_ENABLED", K_BOOL, OFF(redis_enabled), "false", 0, 0, NULL, false},
    {"MEMORI_REDIS_TIMEOUT_MS", K_INT, OFF(redis_timeout_ms), "100", 1, 60000, NULL, false},
    {"MEMORI_EMBEDDING_CACHE_BYTES", K_SIZE, OFF(embedding_cache_bytes), "67108864", 0,
     INT64_C(1) << 40, NULL, false},
    {"ENABLE_MULTI_TENANT", K_BOOL, OFF(enable_multi_tenant), "true", 0, 0, NULL, false},
    {"TENANT_ISOLATION_LEVEL", K_ENUM, OFF(tenant_isolation_level), "strict", 0, 0,
     "strict|relaxed", false},
    {"SECRET_KEY", K_STR, OFF(secret_key), NULL, 0, 0, NULL, true},
    {"ALGORITHM", K_ENUM, OFF(algorithm), "HS256", 0, 0, "HS256|HS384|HS512", false},
    {"ACCESS_TOKEN_EXPIRE_MINUTES", K_INT, OFF(access_token_expire_minutes), "30", 1, 525600, NULL,
     false},
    {"DEBUG", K_BOOL, OFF(debug), "false", 0, 0, NULL, false},
    {"ENVIRONMENT", K_ENUM, OFF(environment), "development", 0, 0, "development|staging|production",
     false},
    {"OPENAI_API_KEY", K_STR, OFF(openai_api_key), NULL, 0, 0, NULL, true},
    {"OPENAI_BASE_URL", K_STR, OFF(openai_base_url), "https://api.openai.com/v1", 0, 0, NULL,
     false},
    {"MEMORI_MAX_BODY_BYTES", K_SIZE, OFF(max_body_bytes), "1048576", 1024, 64 << 20, NULL, false},
    {"MEMORI_HTTP_THREADS", K_INT, OFF(http_threads), "4", 1, 256, NULL, false},
    {"MEMORI_MAX_CONNECTIONS", K_INT, OFF(max_connections), "1000", 1, 100000, NULL, false},
    {"MEMORI_CONNECTION_TIMEOUT_S", K_INT, OFF(connection_timeout_s), "30", 1, 3600, NULL, false},
    {"MEMORI_MAX_HEADER_BYTES", K_SIZE, OFF(max_header_bytes), "32768", 4096, 1 << 20, NULL, false},
    {"MEMORI_HEADER_TIMEOUT_S", K_INT, OFF(header_timeout_s), "10", 1, 3600, NULL, false},
    {"MEMORI_BODY_TIMEOUT_S", K_INT, OFF(body_timeout_s), "30", 1, 3600, NULL, false},
    {"MEMORI_MAX_CONNECTIONS_PER_PEER", K_INT, OFF(max_connections_per_peer), "0", 0, 100000, NULL,
     false},
    {"MEMORI_MAX_METADATA_BYTES", K_SIZE, OFF(max_metadata_bytes), "65536", 1024, 64 << 20, NULL,
     false},
    {"MEMORI_MAX_RESPONSE_BYTES", K_SIZE, OFF(max_response_bytes), "4194304", 65536,
     INT64_C(1) << 30, NULL, false},
    {"MEMORI_MAX_LIST_ITEMS", K_INT, OFF(max_list_items), "1000", 1, 100000, NULL, false},
    {"MEMORI_HNSW_THRESHOLD", K_INT, OFF(hnsw_threshold), "15000", 0, 100000000, NULL, false},
    {"MEMORI_HNSW_EF_SEARCH", K_INT, OFF(hnsw_ef_search), "128", 1, 10000, NULL, false},
    {"MEMORI_INDEX_INT8", K_BOOL, OFF(index_int8), "true", 0, 0, NULL, false},
    {"MEMORI_INDEX_SNAPSHOT", K_BOOL, OFF(index_snapshot), "true", 0, 0, NULL, false},
    {"LOG_FORMAT", K_ENUM, OFF(log_format), "text", 0, 0, "text|json", false},
    /* Off only to measure what the metrics cost (docs/perf.md); /metrics then shows zeros. */
    {"MEMORI_METRICS", K_BOOL, OFF(metrics), "true", 0, 0, NULL, false},
    /* A create's near-duplicate handling when its body names none (docs/hygiene.md). */
    {"MEMORI_DEDUP", K_ENUM, OFF(dedup), "off", 0, 0, "off|merge", false},
    /* GET /docs' and GET /ui's files; "" = "docs" beside the binary (where make copies them). */
    {"MEMORI_DOCS_DIR", K_STR, OFF(docs_dir), "", 0, 0, NULL, false},
};
#define N_VARS (sizeof vars / sizeof vars[0])
_Static_assert(N_VARS <= 64, "set_mask has one bit per variable");

/* Values collected from .env then the environment; index parallel to vars. */
struct source {
    char *value[N_VARS];
};

static int find_var(const char *name, size_t n)
{
    for (size_t i = 0; i < N_VARS; i++)
        if (strlen(vars[i].name) == n && memcmp(vars[i].name, name, n) == 0)
            return (int)i;
    return -1;
}

static void set_source(struct source *src, const char *name, size_t n, const char *val, size_t vn)
{
    int i = find_var(name, n);
    if (i < 0)
        return; /* unknown variables are ignored, as pydantic's extra="ignore" does */
    free(src->value[i]);
    src->value[i] = mr_xstrndup(val, vn);
}

static int trim(const char **s, size_t *n)
{
    while (*n && (**s == ' ' || **s == '\t')) {
        (*s)++;
        (*n)--;
    }
    while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t' || (*s)[*n - 1] == '\r'))
        (*n)--;
    return 0;
}

/* Parses .env text: NAME=VALUE lines, optional "export ", quotes, # comments. */
static int parse_dotenv(struct source *src, const char *path, const char *text, size_t len,
                        struct mr_err *err)
{
    size_t lineno = 0, i = 0;
    while (i < len) {
        size_t start = i;
        while (i < len && text[i] != '\n')
            i++;
        const char *line = text + start;
        size_t n = i - start;
        i++;
        lineno++;
        trim(&line, &n);
        if (n == 0 || line[0] == '#')
            continue;
        if (n > 7 && memcmp(line, "export ", 7) == 0) {
            line += 7;
            n -= 7;
            trim(&line, &n);
        }
        const char *eq = memchr(line, '=', n);
        if (!eq)
            return mr_err_set(err, MR_EINVAL, "%s line %zu: expected NAME=VALUE", path, lineno);
        const char *name = line, *val = eq + 1;
        size_t nn = (size_t)(eq - line), vn = n - nn - 1;
        trim(&name, &nn);
        trim(&val, &vn);
        for (size_t k = 0; k < nn; k++) {
            char c = name[k];
            if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' ||
                  (k > 0 && c >= '0' && c <= '9')))
                return mr_err_set(err, MR_EINVAL, "%s line %zu: '%.*s' is not a variable name",
                                  path, lineno, (int)(nn > 64 ? 64 : nn), name);
        }
        if (nn == 0)
            return mr_err_set(err, MR_EINVAL, "%s line %zu: expected NAME=VALUE", path, lineno);
        if (vn >= 1 && (val[0] == '"' || val[0] == '\'')) {
            const char *close = vn > 1 ? memchr(val + 1, val[0], vn - 1) : NULL;
            if (!close)
                return mr_err_set(err, MR_EINVAL, "%s line %zu: unterminated quote", path, lineno);
            vn = (size_t)(close - val - 1);
            val++;
        } else {
            /* An unquoted value ends at " #" (a trailing comment). */
            for (size_t k = 1; k < vn; k++) {
                if (val[k] == '#' && (val[k - 1] == ' ' || val[k - 1] == '\t')) {
                    vn = k;
                    trim(&val, &vn);
                    break;
                }
            }
        }
        set_source(src, name, nn, val, vn);
    }
    return 0;
}

static int load_dotenv(struct source *src, const char *path, struct mr_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return errno == ENOENT
                   ? 0
                   : mr_err_set(err, MR_EINVAL, "cannot read %s: %s", path, strerror(errno));
    size_t cap = 4096, len = 0;
    char *buf = mr_xmalloc(cap);
    size_t r;
    while ((r = fread(buf + len, 1, cap - len, f)) > 0) {
        len += r;
        if (len == cap) {
            if (cap >= (1u << 20)) {
                free(buf);
                fclose(f);
                return mr_err_set(err, MR_EINVAL, "%s is larger than 1 MiB", path);
            }
            cap *= 2;
            buf = mr_xrealloc(buf, cap);
        }
    }
    fclose(f);
    int rc = parse_dotenv(src, path, buf, len, err);
    free(buf);
    return rc;
}

static int bad(struct mr_err *err, const struct var *v, const char *value, const char *accepted)
{
    if (v->secret)
        return mr_err_set(err, MR_EINVAL, "%s is not valid: expected %s", v->name, accepted);
    return mr_err_set(err, MR_EINVAL, "%s=%.80s is not valid: expected %s", v->name, value,
                      accepted);
}

static int parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"1", "true", "yes", "on", "t", "y"};
    static const char *const no[] = {"0", "false", "no", "off", "f", "n"};
    for (size_t i = 0; i < sizeof yes / sizeof *yes; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return -1;
}

static int apply(struct mr_config *cfg, const struct var *v, const char *s, struct mr_err *err)
{
    char *field = (char *)cfg + v->offset;
    char accepted[256];
    switch (v->kind) {
    case K_STR:
        free(*(char **)field);
        *(char **)field = mr_xstrdup(s);
        return 0;
    case K_ENUM: {
        size_t n = strlen(s);
        for (const char *c = v->choices; *c;) {
            const char *bar = strchr(c, '|');
            size_t cn = bar ? (size_t)(bar - c) : strlen(c);
            if (cn == n && strncasecmp(c, s, n) == 0) {
                free(*(char **)field);
                *(char **)field = mr_xstrndup(c, cn);
                return 0;
            }
            c += cn + (bar ? 1 : 0);
        }
        snprintf(accepted, sizeof accepted, "one of %s", v->choices);
        return bad(err, v, s, accepted);
    }
    case K_INT:
    case K_SIZE: {
        char *end;
        errno = 0;
        long long x = strtoll(s, &end, 10);
        snprintf(accepted, sizeof accepted, "an integer %lld..%lld", v->min, v->max);
        if (errno || end == s || *end || x < v->min || x > v->max)
            return bad(err, v, s, accepted);
        if (v->kind == K_INT)
            *(int *)field = (int)x;
        else
            *(size_t *)field = (size_t)x;
        return 0;
    }
    case K_FLOAT: {
        char *end;
        errno = 0;
        double x = strtod(s, &end);
        snprintf(accepted, sizeof accepted, "a number %lld..%lld", v->min, v->max);
        if (errno || end == s || *end || !isfinite(x) || x < (double)v->min || x > (double)v->max)
            return bad(err, v, s, accepted);
        *(double *)field = x;
        return 0;
    }
    case K_BOOL:
        if (parse_bool(s, (bool *)field) != 0)
            return bad(err, v, s, "true or false (also 1/0, yes/no, on/off)");
        return 0;
    }
    return 0;
}

/* Splits DATABASE_URL into the backend kind and, for SQLite, the file path. */
static int parse_database_url(struct mr_config *cfg, struct mr_err *err)
{
    const char *u = cfg->database_url;
    static const char *const sqlite_schemes[] = {"sqlite:///", "sqlite+aiosqlite:///",
                                                 "sqlite+pysqlite:///"};
    for (size_t i = 0; i < sizeof sqlite_schemes / sizeof *sqlite_schemes; i++) {
        size_t n = strlen(sqlite_schemes[i]);
        if (strncmp(u, sqlite_schemes[i], n) == 0) {
            const char *path = u + n;
            /* sqlite:///./x.db is relative, sqlite:////abs/x.db absolute (SQLAlchemy's rule). */
            size_t plen = strcspn(path, "?");
            if (plen == 0)
                return mr_err_set(err, MR_EINVAL,
                                  "DATABASE_URL names no file: expected "
                                  "sqlite:///relative/path.db, sqlite:////absolute/path.db or "
                                  "postgresql://user:password@host:port/db");
            cfg->db_kind = MR_DB_SQLITE;
            free(cfg->sqlite_path);
            cfg->sqlite_path = mr_xstrndup(path, plen);
            return 0;
        }
    }
    /* The store's own list of forms, so the two never disagree. */
    if (mr_store_is_postgres_url(u)) {
        cfg->db_kind = MR_DB_POSTGRES;
        return 0;
    }
    return mr_err_set(err, MR_EINVAL,
                      "DATABASE_URL has an unknown scheme: expected sqlite:///path.db or "
                      "postgresql://user:password@host:port/db");
}

int mr_config_load(struct mr_config *cfg, char *const *env, const char *dotenv_path,
                   struct mr_err *err)
{
    struct source src = {{0}};
    int rc = 0;
    memset(cfg, 0, sizeof *cfg);
    if (dotenv_path && (rc = load_dotenv(&src, dotenv_path, err)) != 0)
        goto out;
    for (size_t i = 0; env && env[i]; i++) {
        const char *eq = strchr(env[i], '=');
        if (eq)
            set_source(&src, env[i], (size_t)(eq - env[i]), eq + 1, strlen(eq + 1));
    }
    for (size_t i = 0; i < N_VARS; i++) {
        const char *value = src.value[i] ? src.value[i] : vars[i].def;
        if (!value)
            continue;
        if ((rc = apply(cfg, &vars[i], value, err)) != 0)
            goto out;
    }
    for (size_t i = 0; i < N_VARS; i++)
        if (src.value[i])
            cfg->set_mask |= UINT64_C(1) << i;
    /* Defaults that depend on the provider and model are the embedder registry's. */
    if (!cfg->embedding_model)
        cfg->embedding_model = mr_xstrdup(mr_embed_default_model(cfg->embedding_provider));
    cfg->has_min_similarity = mr_config_is_set(cfg, "MEMORY_MIN_SIMILARITY_THRESHOLD");
    /* Unset: the default mode's (hybrid) calibrated default; main.c adds the other modes'. */
    if (!cfg->has_min_similarity)
        cfg->min_similarity =
            mr_embed_default_thresholds(cfg->embedding_provider, cfg->embedding_model).hybrid;
    rc = parse_database_url(cfg, err);
out:
    for (size_t i = 0; i < N_VARS; i++)
        free(src.value[i]);
    return rc;
}

/* Appends s[0..n) to buf at *at, truncating at cap. */
static void put(char *buf, size_t cap, size_t *at, const char *s, size_t n)
{
    size_t room = cap - 1 - *at;
    if (n > room)
        n = room;
    memcpy(buf + *at, s, n);
    *at += n;
    buf[*at] = '\0';
}

const char *mr_config_database_location(const struct mr_config *cfg, char *buf, size_t cap)
{
    if (cap == 0)
        return buf;
    size_t at = 0;
    buf[0] = '\0';
    if (cfg->db_kind == MR_DB_SQLITE) {
        put(buf, cap, &at, cfg->sqlite_path, strlen(cfg->sqlite_path));
        return buf;
    }
    const char *u = cfg->database_url, *p = u, *scheme = strstr(u, "://");
    if (scheme) {
        /* scheme://user:password@host: the password sits between the ':' and the '@'. */
        const char *auth = scheme + 3;
        size_t n = strcspn(auth, "@/?");
        const char *colon = auth[n] == '@' ? memchr(auth, ':', n) : NULL;
        if (colon) {
            put(buf, cap, &at, u, (size_t)(colon + 1 - u));
            put(buf, cap, &at, "***", 3);
            p = auth + n;
        }
    }
    /* libpq also takes ?password=...: that parameter's value is masked too. */
    const char *q = strchr(p, '?');
    if (!q) {
        put(buf, cap, &at, p, strlen(p));
        return buf;
    }
    put(buf, cap, &at, p, (size_t)(q + 1 - p));
    for (p = q + 1; *p;) {
        size_t n = strcspn(p, "&");
        if (n >= 9 && strncmp(p, "password=", 9) == 0) {
            put(buf, cap, &at, p, 9);
            put(buf, cap, &at, "***", 3);
        } else {
            put(buf, cap, &at, p, n);
        }
        p += n;
        if (*p == '&')
            put(buf, cap, &at, p++, 1);
    }
    return buf;
}

bool mr_config_is_set(const struct mr_config *cfg, const char *name)
{
    int i = find_var(name, strlen(name));
    return i >= 0 && (cfg->set_mask >> i & 1);
}

void mr_config_free(struct mr_config *cfg)
{
    for (size_t i = 0; i < N_VARS; i++)
        if (vars[i].kind == K_STR || vars[i].kind == K_ENUM)
            free(*(char **)((char *)cfg + vars[i].offset));
    free(cfg->sqlite_path);
    memset(cfg, 0, sizeof *cfg);
}

void mr_config_each(const struct mr_config *cfg,
                    void (*fn)(void *arg, const char *name, const char *value), void *arg)
{
    for (size_t i = 0; i < N_VARS; i++) {
        const struct var *v = &vars[i];
        const char *field = (const char *)cfg + v->offset;
        char buf[128];
        const char *value = buf;
        switch (v->kind) {
        case K_STR:
        case K_ENUM:
            value = *(char *const *)field;
            if (value && v->secret)
                value = "***";
            break;
        case K_INT:
            snprintf(buf, sizeof buf, "%d", *(const int *)field);
            break;
        case K_SIZE:
            snprintf(buf, sizeof buf, "%zu", *(const size_t *)field);
            break;
        case K_FLOAT:
            if (cfg->has_min_similarity) {
                snprintf(buf, sizeof buf, "%g", *(const double *)field);
            } else {
                /* Each mode has its own default (docs/ranking.md): name the other two as well. */
                struct mr_embed_thresholds th =
                    mr_embed_default_thresholds(cfg->embedding_provider, cfg->embedding_model);
                snprintf(buf, sizeof buf, "%g (model default; semantic mode %g, lexical mode %g)",
                         *(const double *)field, th.semantic, th.lexical);
            }
            break;
        case K_BOOL:
            value = *(const bool *)field ? "true" : "false";
            break;
        }
        fn(arg, v->name, value ? value : "(unset)");
    }
}
