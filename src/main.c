/*
 * main.c — the `memori` command: `serve` (the HTTP API), `reembed`
 * (rewrite stored embeddings with the configured model), `config` (print
 * the effective configuration, secrets masked), `token` (mint a JWT),
 * `schema import` (a live database's catalogue as a data source's schema,
 * sent to a running memori or written to the store), `export`, `import`
 * and `migrate` (src/cli/, cli.h), --help and --version.
 *
 * Exit codes: 0 success, 1 runtime failure, 2 bad configuration or usage
 * (a database that cannot be opened included).
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "memori/api.h"
#include "memori/auth.h"
#include "memori/cache.h"
#include "memori/cli.h"
#include "memori/config.h"
#include "memori/embed.h"
#include "memori/http.h"
#include "memori/index.h"
#include "memori/json.h"
#include "memori/metrics.h"
#include "memori/service.h"
#include "memori/sql.h"
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
    "  schema     schema import --data-source N --from postgresql://...|sqlite:///path\n"
    "             [--url http://host:port]: import a live database's tables and joins\n"
    "  export     export [--out FILE|-] [--tenant T] [--user U] [--with-vectors]: the store\n"
    "             as JSON lines (a backup)\n"
    "  import     import [--in FILE|-] [--keep-going] [--reembed]: JSON lines into the store\n"
    "  migrate    migrate --to postgresql://...|sqlite:///path [--merge]: copy the store into\n"
    "             another, resumable, verified by counts and id checksums\n"
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
    /* Wrapped even without a level: the wrapper counts the provider's calls (GET /metrics). */
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
        .lexical_weight =
            mr_embed_default_lexical_weight(c->embedding_provider, c->embedding_model),
        .semantic_min_similarity = th.semantic,
        .lexical_min_similarity = th.lexical,
        .relaxed_sharing = strcmp(c->tenant_isolation_level, "relaxed") == 0,
        .embed_batch_size = c->embedding_batch_size,
        .debug = c->debug,
        .max_metadata_bytes = c->max_metadata_bytes,
        .dedup_default = strcmp(c->dedup, "merge") == 0 ? MR_DEDUP_MERGE : MR_DEDUP_OFF,
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

/*
 * GET /docs' and /ui's files: MEMORI_DOCS_DIR, else "docs" beside this binary
 * (where make copies Swagger UI and the dashboard: build/docs). Into buf;
 * NULL when neither is known.
 */
static const char *docs_dir(const struct mr_config *cfg, char *buf, size_t cap)
{
    if (cfg->docs_dir && *cfg->docs_dir)
        return cfg->docs_dir;
    ssize_t n = readlink("/proc/self/exe", buf, cap - 1);
    if (n <= 0 || (size_t)n >= cap - 6)
        return NULL;
    buf[n] = '\0';
    char *slash = strrchr(buf, '/');
    if (!slash)
        return NULL;
    snprintf(slash + 1, cap - (size_t)(slash + 1 - buf), "docs");
    return buf;
}

static int cmd_serve(const char *env_file)
{
    char docs[4096];
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

    struct mr_api api = {a.svc,
                         MEMORI_VERSION,
                         &a.auth,
                         (size_t)a.cfg.max_list_items,
                         a.cfg.max_response_bytes,
                         docs_dir(&a.cfg, docs, sizeof docs)};
    /* Generated once, before the first request: it is static (openapi.c). */
    if (!mr_api_openapi(&api))
        fprintf(stderr, "memori: the OpenAPI document could not be built\n");
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
        .log_json = strcmp(a.cfg.log_format, "json") == 0,
        .handler = mr_api_handle,
        .ctx = &api,
    };
    mr_metrics_set_enabled(a.cfg.metrics);
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

/* ---- memori export, import, migrate (src/cli/) ------------------------------ */

struct cli_app {
    struct app a;
    const char *env_file;
};

/* mr_cli_open_fn: the configuration, embedder and store, as `serve` opens them. */
static int cli_open(void *arg, bool check, struct mr_cli_parts *out)
{
    struct cli_app *c = arg;
    int rc = load_config(&c->a, c->env_file);
    if (rc == 0)
        rc = open_parts(&c->a, check);
    if (rc == 0)
        *out = (struct mr_cli_parts){&c->a.cfg, c->a.store, c->a.embedder};
    return rc;
}

static int cmd_cli(int (*run)(int, char **, mr_cli_open_fn, void *), int argc, char **argv,
                   const char *env_file)
{
    struct cli_app c = {.env_file = env_file};
    int rc = run(argc, argv, cli_open, &c);
    app_close(&c.a);
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

/* ---- memori schema import ------------------------------------------------ */

static const char schema_usage[] =
    "usage: memori schema import --data-source N --from SOURCE [--url URL] [--user-id USER]\n"
    "                            [--tenant TENANT]\n"
    "\n"
    "Reads the live database SOURCE's catalogue (tables, columns, keys, comments) and\n"
    "imports it as data source N's schema (DESIGN.md, section 9).\n"
    "  SOURCE  postgresql://user:password@host:port/db, or sqlite:///path/to/file.db\n"
    "  --url   send it to a running memori (http://host:port), with\n"
    "          Authorization: Bearer $MEMORI_TOKEN when set, else X-User-Id: USER;\n"
    "          without --url it is written to the configured store (DATABASE_URL) directly,\n"
    "          as tenant TENANT (default: the default tenant)\n";

/* The one summary line and the changed tables' names, from either path. */
static void print_summary(long long ds, const char *dialect, const char *hash, long long tables,
                          long long rels, const struct mr_strv *added,
                          const struct mr_strv *updated, const struct mr_strv *removed,
                          long long unchanged)
{
    printf("data source %lld: %lld tables, %lld relationships (%s, %s)\n", ds, tables, rels,
           dialect, hash);
    printf("added %zu, updated %zu, removed %zu, unchanged %lld\n", added->len, updated->len,
           removed->len, unchanged);
    const struct mr_strv *lists[] = {added, updated, removed};
    const char *names[] = {"added", "updated", "removed"};
    for (int l = 0; l < 3; l++) {
        if (!lists[l]->len)
            continue;
        printf("%s:", names[l]);
        for (size_t i = 0; i < lists[l]->len; i++)
            printf(" %s", lists[l]->items[i]);
        printf("\n");
    }
}

static void json_names(const struct mr_json *o, const char *key, struct mr_strv *out)
{
    const struct mr_json *a = mr_json_get(o, key);
    for (size_t i = 0; a && mr_json_is_array(a) && i < mr_json_size(a); i++) {
        const struct mr_json *v = mr_json_at(a, i);
        if (mr_json_is_string(v))
            mr_strv_push(out, mr_json_string_value(v), mr_json_string_length(v));
    }
}

static long long json_int(const struct mr_json *o, const char *key)
{
    const struct mr_json *v = mr_json_get(o, key);
    return v && mr_json_is_integer(v) ? (long long)mr_json_integer_value(v) : 0;
}

static const char *json_text(const struct mr_json *o, const char *key)
{
    const struct mr_json *v = mr_json_get(o, key);
    return v && mr_json_is_string(v) ? mr_json_string_value(v) : "";
}

/* PUTs the schema's JSON form to a running memori; prints its summary. */
static int import_over_http(const char *base, long long ds, const char *user,
                            const struct mr_sql_schema *schema)
{
    char url[2048], auth[4096];
    size_t blen = strlen(base);
    while (blen && base[blen - 1] == '/')
        blen--;
    snprintf(url, sizeof url, "%.*s/api/data-sources/%lld/schema", (int)blen, base, ds);
    const char *token = getenv("MEMORI_TOKEN");
    const char *headers[3] = {"Content-Type: application/json", NULL, NULL};
    if (token && *token)
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
    else if (user)
        snprintf(auth, sizeof auth, "X-User-Id: %s", user);
    if ((token && *token) || user)
        headers[1] = auth;
    char *body = mr_sql_schema_to_json(schema), *answer = NULL;
    struct mr_embed_http_call call = {"PUT", url, headers, body, strlen(body), 300000};
    long status = 0;
    struct mr_err err;
    int rc = mr_embed_http_request(&call, &status, &answer, &err);
    free(body);
    if (rc) {
        fprintf(stderr, "memori schema import: cannot reach %s: %s\n", url, err.msg);
        return 2;
    }
    struct mr_json *o = mr_json_parse(answer, strlen(answer), NULL);
    if (status != 200 || !o || !mr_json_is_object(o)) {
        /* The server's reason: FastAPI-shaped {"detail": "..."} or a list of errors. */
        const struct mr_json *d = o ? mr_json_get(o, "detail") : NULL;
        char *printed = d && !mr_json_is_string(d) ? mr_json_print(d, 6) : NULL;
        fprintf(stderr, "memori schema import: %s answered %ld: %s\n", url, status,
                d && mr_json_is_string(d) ? mr_json_string_value(d)
                : printed                 ? printed
                                          : answer);
        free(printed);
        mr_json_free(o);
        free(answer);
        return status == 401 || status == 403 || status == 404 || status == 422 ? 2 : 1;
    }
    struct mr_strv added = {0}, updated = {0}, removed = {0};
    json_names(o, "added", &added);
    json_names(o, "updated", &updated);
    json_names(o, "removed", &removed);
    print_summary(json_int(o, "data_source_id"), json_text(o, "dialect"),
                  json_text(o, "schema_hash"), json_int(o, "tables"), json_int(o, "relationships"),
                  &added, &updated, &removed, json_int(o, "unchanged"));
    mr_strv_clear(&added);
    mr_strv_clear(&updated);
    mr_strv_clear(&removed);
    mr_json_free(o);
    free(answer);
    return 0;
}

/* Writes the schema to the configured store through the service, as a request would. */
static int import_direct(const char *env_file, long long ds, const char *user, const char *tenant,
                         const struct mr_sql_schema *schema)
{
    struct app a = {0};
    struct mr_err err;
    int rc = load_config(&a, env_file);
    if (rc == 0)
        rc = open_parts(&a, true);
    if (rc == 0) {
        struct mr_identity who = {user ? user : "default_user",
                                  tenant ? tenant : a.auth.default_tenant};
        struct mr_schema_summary sum;
        if (mr_schema_put(a.svc, &who, ds, schema, &sum, &err) != 0) {
            fprintf(stderr, "memori schema import: %s\n", err.msg);
            rc = 1;
        } else {
            print_summary(sum.data_source_id, sum.dialect, sum.schema_hash, (long long)sum.tables,
                          (long long)sum.relationships, &sum.added, &sum.updated, &sum.removed,
                          (long long)sum.unchanged);
            mr_schema_summary_clear(&sum);
        }
    } else if (a.cfg.db_kind == MR_DB_SQLITE) {
        fprintf(stderr, "memori schema import: if a running `memori serve` holds that SQLite "
                        "file, import through it with --url http://host:port\n");
    }
    app_close(&a);
    return rc;
}

/* memori schema import --data-source N --from SOURCE [--url URL] [--user-id U] [--tenant T] */
static int cmd_schema(int argc, char **argv, const char *env_file)
{
    const char *from = NULL, *url = NULL, *user = NULL, *tenant = NULL, *ds_text = NULL;
    if (argc < 1 || strcmp(argv[0], "import") != 0) {
        fprintf(stderr, "memori schema: %s\n%s",
                argc < 1 ? "which subcommand?" : "unknown subcommand", schema_usage);
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        const char **slot = strcmp(argv[i], "--data-source") == 0 ? &ds_text
                            : strcmp(argv[i], "--from") == 0      ? &from
                            : strcmp(argv[i], "--url") == 0       ? &url
                            : strcmp(argv[i], "--user-id") == 0   ? &user
                            : strcmp(argv[i], "--tenant") == 0    ? &tenant
                                                                  : NULL;
        if (!slot) {
            fprintf(stderr, "memori schema import: unknown option %s\n%s", argv[i], schema_usage);
            return 2;
        }
        if (!v || !*v) {
            fprintf(stderr, "memori schema import: %s needs a value\n", argv[i]);
            return 2;
        }
        *slot = v;
        i++;
    }
    if (!ds_text || !from) {
        fprintf(stderr, "memori schema import: --data-source and --from are required\n%s",
                schema_usage);
        return 2;
    }
    char *end;
    errno = 0;
    long long ds = strtoll(ds_text, &end, 10);
    if (errno || end == ds_text || *end || ds <= 0) {
        fprintf(stderr,
                "memori schema import: --data-source must be a positive integer, not "
                "'%s'\n",
                ds_text);
        return 2;
    }
    if (url && strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) {
        fprintf(stderr, "memori schema import: --url must be http://host:port or https://...\n");
        return 2;
    }
    if (user && (strlen(user) > 255 || strpbrk(user, "\r\n"))) {
        fprintf(stderr, "memori schema import: --user-id must be 1 to 255 characters\n");
        return 2;
    }
    struct mr_sql_schema *schema = NULL;
    struct mr_sql_diag diag;
    struct mr_err err;
    int rc;
    if (mr_store_is_postgres_url(from)) {
        struct mr_sql_catalog *cat = mr_sql_catalog_new();
        rc = mr_store_pg_read(from, mr_sql_pg_catalog, MR_SQL_PG_CATALOG_QUERIES,
                              mr_sql_catalog_row, cat, &err);
        if (rc == 0)
            rc = mr_sql_catalog_finish(cat, &schema, &diag, &err);
        else
            mr_sql_catalog_free(cat);
    } else if (strncmp(from, "sqlite://", 9) == 0 && from[9]) {
        /* sqlite:///abs/path (SQLAlchemy's form) or sqlite://relative/path */
        rc = mr_sql_introspect_sqlite(from + 9, &schema, &diag, &err);
    } else {
        fprintf(stderr,
                "memori schema import: --from must be postgresql://... or "
                "sqlite:///path, not '%s'\n",
                from);
        return 2;
    }
    if (rc) {
        /* The source cannot be read (2), or what it holds is not a schema memori takes (1). */
        fprintf(stderr, "memori schema import: %s\n", err.msg);
        return rc == MR_EUNAVAIL ? 2 : 1;
    }
    rc = url ? import_over_http(url, ds, user, schema)
             : import_direct(env_file, ds, user, tenant, schema);
    mr_sql_schema_free(schema);
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
        if (cmd && strcmp(cmd, "schema") == 0)
            return cmd_schema(argc - i, argv + i, env_file);
        if (cmd && strcmp(cmd, "export") == 0)
            return cmd_cli(mr_cli_export, argc - i, argv + i, env_file);
        if (cmd && strcmp(cmd, "import") == 0)
            return cmd_cli(mr_cli_import, argc - i, argv + i, env_file);
        if (cmd && strcmp(cmd, "migrate") == 0)
            return cmd_cli(mr_cli_migrate, argc - i, argv + i, env_file);
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
    if (strcmp(cmd, "schema") == 0)
        return cmd_schema(0, NULL, env_file);
    if (strcmp(cmd, "export") == 0)
        return cmd_cli(mr_cli_export, 0, NULL, env_file);
    if (strcmp(cmd, "import") == 0)
        return cmd_cli(mr_cli_import, 0, NULL, env_file);
    if (strcmp(cmd, "migrate") == 0)
        return cmd_cli(mr_cli_migrate, 0, NULL, env_file);
    fprintf(stderr, "memori: unknown command '%s'\n%s", cmd, usage);
    return 2;
}
