/*
 * main.c — the `memori` command: `serve` (the HTTP API), `reembed`
 * (rewrite stored embeddings with the configured model), `config` (print
 * the effective configuration, secrets masked), --help and --version.
 *
 * Exit codes: 0 success, 1 runtime failure, 2 bad configuration or usage
 * (a database that cannot be opened included).
 */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "memori/api.h"
#include "memori/auth.h"
#include "memori/cache.h"
#include "memori/config.h"
#include "memori/embed.h"
#include "memori/http.h"
#include "memori/index.h"
#include "memori/service.h"
#include "memori/store.h"

#ifndef MEMORI_VERSION
#define MEMORI_VERSION "0.1.0"
#endif

extern char **environ;

static const char usage[] =
    "usage: memori <command> [options]\n"
    "\n"
    "commands:\n"
    "  serve      serve the memory API (HOST, PORT, DATABASE_URL, ... from the environment\n"
    "             or ./.env; see README.md for every variable)\n"
    "  reembed    rewrite every stored embedding with the configured model\n"
    "  config     print the effective configuration (secrets masked)\n"
    "  token      mint a JWT: token --sub USER [--tenant T] [--role admin] [--ttl MINUTES]\n"
    "\n"
    "options:\n"
    "  --env-file PATH   read variables from PATH instead of ./.env\n"
    "  -h, --help        this help\n"
    "  -V, --version     print the version\n";

struct app {
    struct mr_config cfg;
    struct mr_auth auth;
    struct mr_store *store;
    struct mr_embedder *embedder;
    struct mr_index *index;
    struct mr_service *svc;
};

static void app_close(struct app *a)
{
    if (a->svc)
        mr_service_free(a->svc);
    mr_index_destroy(a->index);
    mr_store_close(a->store);
    mr_embed_destroy(a->embedder);
    mr_config_free(&a->cfg);
}

/* Loads and checks the configuration; prints one line and returns 2 on a bad value. */
static int load_config(struct app *a, const char *env_file)
{
    struct mr_err err;
    if (mr_config_load(&a->cfg, environ, env_file, &err) != 0) {
        fprintf(stderr, "memori: configuration: %s\n", err.msg);
        return 2;
    }
    const struct mr_config *c = &a->cfg;
    a->auth = (struct mr_auth){
        .production = strcmp(c->environment, "production") == 0,
        .multi_tenant = c->enable_multi_tenant,
        .secret = c->secret_key ? c->secret_key : "",
        .algorithm = c->algorithm,
        .default_tenant = "default",
        .clock = mr_clock_system(),
    };
    if (strcmp(c->environment, "production") == 0 &&
        mr_auth_check_secret(c->secret_key, &err) != 0) {
        fprintf(stderr, "memori: configuration: %s\n", err.msg);
        return 2;
    }
    if (c->redis_enabled && !c->redis_url) {
        fprintf(stderr, "memori: configuration: REDIS_ENABLED=true needs REDIS_URL: expected "
                        "redis://[:password@]host[:port][/db]\n");
        return 2;
    }
    return 0;
}

/*
 * The database's model against the configured one. A database that an
 * interrupted `memori reembed` left between two models gets its own advice.
 */
static int check_model(struct app *a, struct mr_err *err)
{
    const char *model = mr_embed_name(a->embedder);
    size_t dim = mr_embed_dim(a->embedder);
    int rc = mr_store_check_model(a->store, model, dim, err);
    if (rc != MR_ECONFLICT)
        return rc;
    char marker[256], said[sizeof err->msg];
    struct mr_err ignored;
    snprintf(marker, sizeof marker, "%s%s", MR_REEMBED_MARKER, model);
    snprintf(said, sizeof said, "%s", err->msg);
    const char *unfinished = strstr(said, MR_REEMBED_MARKER);
    /* Only compares: a database that records a model never records another here. */
    if (mr_store_check_model(a->store, marker, dim, &ignored) == 0)
        mr_err_set(err, MR_ECONFLICT,
                   "a `memori reembed` to %s (dimension %zu) was interrupted and some memories "
                   "still hold the previous model's vectors; run `memori reembed` again to "
                   "finish it",
                   model, dim);
    else if (unfinished) {
        /* The model it was re-embedding to follows the marker in the store's message. */
        const char *to = unfinished + strlen(MR_REEMBED_MARKER);
        mr_err_set(err, MR_ECONFLICT,
                   "a `memori reembed` to %.*s was interrupted and some memories still hold the "
                   "previous model's vectors; run `memori reembed` again with "
                   "MEMORI_EMBEDDING_MODEL=%.*s to finish it",
                   (int)strcspn(to, " "), to, (int)strcspn(to, " "), to);
    }
    return rc;
}

/* Opens embedder, store and index; prints why and returns non-zero on failure. */
static int open_parts(struct app *a, bool check)
{
    struct mr_err err;
    const struct mr_config *c = &a->cfg;
    struct mr_embed_spec spec = {
        .provider = c->embedding_provider,
        .model = c->embedding_model,
        .dim = (size_t)c->embedding_dimensions,
        .model_path = c->model_path,
        .base_url = c->openai_base_url,
        .api_key = c->openai_api_key,
        .batch_size = c->embedding_batch_size,
        .timeout_ms = c->embedding_timeout_ms,
        .max_retries = c->embedding_max_retries,
    };
    a->embedder = mr_embed_open(&spec, &err);
    if (!a->embedder) {
        fprintf(stderr, "memori: %s%s\n", err.code == MR_EINVAL ? "configuration: " : "", err.msg);
        return err.code == MR_EINVAL ? 2 : 1;
    }
    /*
     * Caches pay off in front of a remote provider (milliseconds a call); the
     * built-in models embed in microseconds, less than a lookup costs, so they
     * get the shared Redis level only when it is asked for.
     */
    struct mr_cache *l1 = NULL, *l2 = NULL;
    if (strcmp(c->embedding_provider, MR_PROVIDER_OPENAI) == 0 && c->embedding_cache_bytes > 0)
        l1 = mr_cache_lru_new(c->embedding_cache_bytes, c->embedding_cache_ttl, mr_clock_system());
    if (c->redis_enabled) {
        l2 = mr_cache_redis_new(c->redis_url, c->embedding_cache_ttl, c->redis_timeout_ms, &err);
        if (!l2) {
            mr_cache_destroy(l1);
            fprintf(stderr, "memori: configuration: %s\n", err.msg);
            return 2;
        }
    }
    if (l1 || l2)
        a->embedder = mr_embed_cached_new(a->embedder, l1, l2);
    if (c->db_kind == MR_DB_POSTGRES)
        a->store = mr_store_postgres_open(c->database_url, c->database_pool_size,
                                          c->database_max_overflow, c->hnsw_ef_search, &err);
    else
        a->store = mr_store_sqlite_open(c->sqlite_path,
                                        c->database_pool_size + c->database_max_overflow, &err);
    if (!a->store) {
        /*
         * The configured database cannot be used (absent, unreachable, or held
         * by another process): a configuration problem, as a bad value is.
         */
        fprintf(stderr, "memori: %s\n", err.msg);
        return 2;
    }
    if (check && check_model(a, &err) != 0) {
        fprintf(stderr, "memori: %s\n", err.msg);
        return 1;
    }
    /*
     * SQLite: vectors live in this process's index. PostgreSQL: pgvector
     * searches the shared rows, so every process sees every write at once.
     */
    if (c->db_kind == MR_DB_SQLITE) {
        a->index = mr_index_new(mr_embed_dim(a->embedder));
        /* Loaded without graphs; cmd_serve sets the threshold once every entry is in. */
        mr_index_set_ann(a->index, 0, (size_t)c->hnsw_ef_search);
        mr_index_set_int8(a->index, c->index_int8);
    }
    /*
     * Each mode's default min_similarity is the registry's for the model;
     * MEMORY_MIN_SIMILARITY_THRESHOLD, when set, is every mode's, as a
     * request's min_similarity is (docs/ranking.md, "Thresholds").
     */
    struct mr_embed_thresholds th =
        mr_embed_default_thresholds(c->embedding_provider, c->embedding_model);
    if (c->has_min_similarity)
        th.hybrid = th.semantic = th.lexical = c->min_similarity;
    a->svc = mr_service_new(&(struct mr_service_config){
        .store = a->store,
        .embedder = a->embedder,
        .index = a->index,
        .clock = mr_clock_system(),
        .short_term_expiry_days = c->short_term_expiry_days,
        .archive_threshold_days = c->archive_threshold_days,
        .default_limit = c->max_context_memories,
        .default_min_similarity = th.hybrid,
        .semantic_min_similarity = th.semantic,
        .lexical_min_similarity = th.lexical,
        .relaxed_sharing = strcmp(c->tenant_isolation_level, "relaxed") == 0,
        .embed_batch_size = c->embedding_batch_size,
        .debug = c->debug,
        .max_metadata_bytes = c->max_metadata_bytes,
    });
    return 0;
}

static void print_debug_var(void *arg, const char *name, const char *value)
{
    (void)arg;
    fprintf(stderr, "memori: debug: %s=%s\n", name, value);
}

/* Writes the graphs for the next start (a graph still building is left out). */
static void save_snapshot(struct app *a)
{
    struct mr_err err;
    size_t graphs = 0;
    char *snap = mr_index_snapshot_path(a->cfg.sqlite_path);
    int64_t t0 = mr_monotonic_us();
    if (mr_index_snapshot_save(a->index, snap, mr_embed_name(a->embedder),
                               mr_embed_dim(a->embedder), &graphs, &err) != 0)
        fprintf(stderr, "memori: %s\n", err.msg);
    else if (graphs)
        fprintf(stderr, "memori: wrote %zu graphs to %s in %lld ms\n", graphs, snap,
                (long long)((mr_monotonic_us() - t0) / 1000));
    free(snap);
}

static int cmd_serve(const char *env_file)
{
    struct app a = {0};
    struct mr_err err = {0};
    int rc = load_config(&a, env_file);
    if (rc == 0 && a.cfg.debug)
        mr_config_each(&a.cfg, print_debug_var, NULL); /* what this server runs with, masked */
    if (rc == 0)
        rc = open_parts(&a, true);
    if (rc) {
        app_close(&a);
        return rc;
    }
    int64_t t0 = mr_monotonic_us();
    if (mr_service_load_index(a.svc, &err) != 0) {
        fprintf(stderr, "memori: loading the index: %s\n", err.msg);
        app_close(&a);
        return 1;
    }
    if (a.index && a.cfg.index_snapshot) {
        size_t graphs = 0;
        char *snap = mr_index_snapshot_path(a.cfg.sqlite_path);
        if (mr_index_snapshot_load(a.index, snap, mr_embed_name(a.embedder),
                                   mr_embed_dim(a.embedder), &graphs, &err) != 0)
            fprintf(stderr, "memori: %s; building graphs from the store\n", err.msg);
        else if (graphs)
            fprintf(stderr, "memori: read %zu graphs from %s\n", graphs, snap);
        free(snap);
    }
    if (a.index) {
        /* Users past the threshold get their graphs built aside; searches scan until then. */
        mr_index_set_ann(a.index, (size_t)a.cfg.hnsw_threshold, (size_t)a.cfg.hnsw_ef_search);
        fprintf(stderr, "memori: indexed %zu memories in %lld ms (%zu graphs building)\n",
                mr_index_count(a.index), (long long)((mr_monotonic_us() - t0) / 1000),
                mr_index_building(a.index));
    } else
        fprintf(stderr, "memori: store %s searches its own vector index\n", a.store->ops->name);

    /* Block the stop signals in every thread; this one waits for them below. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct mr_api api = {a.svc, MEMORI_VERSION, &a.auth, (size_t)a.cfg.max_list_items,
                         a.cfg.max_response_bytes};
    struct mr_http_options opt = {
        .host = a.cfg.host,
        .port = a.cfg.port,
        .threads = a.cfg.http_threads,
        .max_body_bytes = a.cfg.max_body_bytes,
        .max_connections = a.cfg.max_connections,
        .connection_timeout_s = a.cfg.connection_timeout_s,
        .max_header_bytes = a.cfg.max_header_bytes,
        .header_timeout_s = a.cfg.header_timeout_s,
        .body_timeout_s = a.cfg.body_timeout_s,
        .max_connections_per_peer = a.cfg.max_connections_per_peer,
        .handler = mr_api_handle,
        .ctx = &api,
    };
    struct mr_http_server *srv = mr_http_start(&opt, &err);
    if (!srv) {
        fprintf(stderr, "memori: %s\n", err.msg);
        app_close(&a);
        return 1;
    }
    char where[512];
    fprintf(stderr, "memori %s: listening on http://%s:%d (store %s %s, model %s/%zu, %s%s)\n",
            MEMORI_VERSION, a.cfg.host, mr_http_port(srv), a.store->ops->name,
            mr_config_database_location(&a.cfg, where, sizeof where), mr_embed_name(a.embedder),
            mr_embed_dim(a.embedder),
            a.auth.production ? "JWT required" : "development identity from X-User-Id",
            a.cfg.debug ? ", DEBUG: a timing line per operation" : "");
    int sig = 0;
    sigwait(&stop, &sig);
    fprintf(stderr, "memori: %s received, finishing in-flight requests\n",
            sig == SIGINT ? "SIGINT" : "SIGTERM");
    mr_http_stop(srv, 10000);
    if (a.index && a.cfg.index_snapshot)
        save_snapshot(&a);
    app_close(&a);
    fprintf(stderr, "memori: stopped\n");
    return 0;
}

static int cmd_reembed(const char *env_file)
{
    struct app a = {0};
    struct mr_err err;
    int64_t n = 0;
    int rc = load_config(&a, env_file);
    if (rc == 0)
        rc = open_parts(&a, false);
    if (rc == 0 && mr_service_reembed(a.svc, &n, &err) != 0) {
        fprintf(stderr,
                "memori: re-embedding stopped: %s; run `memori reembed` again to finish it\n",
                err.msg);
        rc = 1;
    }
    if (rc == 0)
        printf("re-embedded %lld memories with %s (dimension %zu)\n", (long long)n,
               mr_embed_name(a.embedder), mr_embed_dim(a.embedder));
    app_close(&a);
    return rc;
}

/* memori token --sub U [--tenant T] [--role admin] [--ttl MINUTES] */
static int cmd_token(int argc, char **argv, const char *env_file)
{
    struct app a = {0};
    struct mr_err err;
    const char *sub = NULL, *tenant = NULL, *role = NULL;
    long ttl = 0;
    for (int i = 0; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            fprintf(stderr, "memori token: %s needs a value\n", argv[i]);
            return 2;
        }
        if (strcmp(argv[i], "--sub") == 0)
            sub = v;
        else if (strcmp(argv[i], "--tenant") == 0)
            tenant = v;
        else if (strcmp(argv[i], "--role") == 0)
            role = v;
        else if (strcmp(argv[i], "--ttl") == 0)
            ttl = strtol(v, NULL, 10);
        else {
            fprintf(stderr, "memori token: unknown option %s\n", argv[i]);
            return 2;
        }
        i++;
    }
    if (!sub) {
        fprintf(stderr, "usage: memori token --sub USER [--tenant T] [--role admin] "
                        "[--ttl MINUTES]\n");
        return 2;
    }
    if (role && strcmp(role, "admin") != 0) {
        fprintf(stderr, "memori token: --role accepts only admin\n");
        return 2;
    }
    int rc = load_config(&a, env_file);
    if (rc == 0 && mr_auth_check_secret(a.cfg.secret_key, &err) != 0) {
        fprintf(stderr, "memori: configuration: %s\n", err.msg);
        rc = 2;
    }
    if (rc == 0) {
        char *token = mr_auth_mint(&a.auth, sub, tenant, role,
                                   ttl > 0 ? ttl : a.cfg.access_token_expire_minutes, &err);
        if (!token) {
            fprintf(stderr, "memori token: %s\n", err.msg);
            rc = 2;
        } else {
            printf("%s\n", token);
            free(token);
        }
    }
    mr_config_free(&a.cfg);
    return rc;
}

static void print_var(void *arg, const char *name, const char *value)
{
    (void)arg;
    printf("%s=%s\n", name, value);
}

static int cmd_config(const char *env_file)
{
    struct mr_config cfg;
    struct mr_err err;
    if (mr_config_load(&cfg, environ, env_file, &err) != 0) {
        fprintf(stderr, "memori: configuration: %s\n", err.msg);
        mr_config_free(&cfg);
        return 2;
    }
    mr_config_each(&cfg, print_var, NULL);
    mr_config_free(&cfg);
    return 0;
}

int main(int argc, char **argv)
{
    const char *env_file = ".env", *cmd = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            fputs(usage, stdout);
            return 0;
        }
        if (strcmp(argv[i], "-V") == 0 || strcmp(argv[i], "--version") == 0) {
            printf("memori %s\n", MEMORI_VERSION);
            return 0;
        }
        if (strcmp(argv[i], "--env-file") == 0 && i + 1 < argc) {
            env_file = argv[++i];
            continue;
        }
        if (cmd && strcmp(cmd, "token") == 0)
            return cmd_token(argc - i, argv + i, env_file);
        if (argv[i][0] == '-' || cmd) {
            fprintf(stderr, "memori: unknown argument '%s'\n%s", argv[i], usage);
            return 2;
        }
        cmd = argv[i];
    }
    if (!cmd) {
        fputs(usage, stderr);
        return 2;
    }
    if (strcmp(cmd, "serve") == 0)
        return cmd_serve(env_file);
    if (strcmp(cmd, "reembed") == 0)
        return cmd_reembed(env_file);
    if (strcmp(cmd, "config") == 0)
        return cmd_config(env_file);
    if (strcmp(cmd, "token") == 0)
        return cmd_token(0, NULL, env_file);
    fprintf(stderr, "memori: unknown command '%s'\n%s", cmd, usage);
    return 2;
}
