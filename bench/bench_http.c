/*
 * bench_http.c — requests/s and latency of the HTTP API over loopback,
 * against the real `memori serve` on a temp SQLite file, or (--backend
 * postgres) on a throwaway PostgreSQL cluster with its durable defaults.
 *
 * Baseline: GET /health, measured in the same run with the same client, so
 * the create/search figures read as a ratio of the server's floor.
 * Client and server share this machine's cores; figures say so.
 *
 * usage: bench_http [--seconds S] [--threads T] [--memories N] [--backend sqlite|postgres]
 *                   [--env NAME=VALUE]   (one more setting for the server; repeatable)
 *                   [--mode hybrid|semantic|lexical|all] [--per-client-users]
 *                   [--clients 1,4,16]
 *
 * --clients measures the search phase once per client count of the list,
 * each beside GET /health with as many clients in the same run, its ×base
 * the ratio to that row (issue 15's throughput table); without it, search
 * runs with 1 client and with --threads.
 *
 * Every client is user "bench" and creates into one conversation (each
 * create touches its row), unless --per-client-users makes client N user
 * "bench-N" with a conversation of its own (and searches then see that
 * user's memories only): on PostgreSQL the rows one user's creates all
 * update (the conversation, the user's lexical statistics) serialise their
 * commits, which no WAL flush can then share (docs/perf.md, "Group commit
 * (issue 15)").
 *
 * --mode sends the search body's "mode" (absent: the server's default,
 * hybrid); "all" measures the three modes with one client in interleaved
 * rounds of S seconds each and prints each mode's p50 and p99 as a ratio of
 * the semantic mode's in the same run (DESIGN.md §8: hybrid ≤ 1.3× at p99).
 */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pg_server.h"

static int port;
static double seconds = 3;
static int threads = 4;
static int memories = 10000;
static const char *backend = "sqlite";
static const char *search_mode; /* the search body's "mode"; NULL: none sent */
static const char *client_list; /* --clients: "1,4,16"; NULL: 1 and --threads */
/* --per-client-users: each client is its own user (bench-N) with its own conversation. */
static bool per_client_users;
static struct pg_server pg;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static size_t sink(char *p, size_t s, size_t n, void *a)
{
    (void)p;
    (void)a;
    return s * n;
}

enum kind { HEALTH, CREATE, SEARCH };

static const char *const words[] = {"orders",   "customers", "revenue",  "invoice",  "region",
                                    "product",  "price",     "discount", "shipment", "warehouse",
                                    "refund",   "payment",   "account",  "supplier", "category",
                                    "employee", "quarter",   "margin",   "tax",      "currency"};
#define NWORDS (sizeof words / sizeof *words)

struct worker {
    enum kind kind;
    int id;
    double *lat;
    size_t n, cap;
    int errors;
    double until;
    long max_requests;
};

static void body_for(enum kind k, int client, unsigned *seed, char *buf, size_t cap)
{
    const char *a = words[rand_r(seed) % NWORDS], *b = words[rand_r(seed) % NWORDS],
               *c = words[rand_r(seed) % NWORDS];
    char tail[16] = "9e0f1a2b3c4d"; /* the conversation id's last group */
    if (per_client_users)
        snprintf(tail, sizeof tail, "%012x", (unsigned)client);
    /*
     * Each create's text is unique (its row number): 20 words give 8 000 triples, and memori
     * answers an exact duplicate with the stored memory (issue 20), so repeated triples would
     * leave fewer memories than --memories asks for.
     */
    static atomic_long rows;
    if (k == CREATE)
        snprintf(buf, cap,
                 "{\"content\":\"The %s table links %s to %s by %s_id (row %ld)\",\"memory_type\":"
                 "\"entity\",\"conversation_id\":\"6f1b2c3d-4e5f-4a6b-8c7d-%s\"}",
                 a, b, c, a, atomic_fetch_add(&rows, 1), tail);
    else if (search_mode)
        snprintf(buf, cap, "{\"query\":\"how are %s and %s related\",\"limit\":10,\"mode\":\"%s\"}",
                 a, b, search_mode);
    else
        snprintf(buf, cap, "{\"query\":\"how are %s and %s related\",\"limit\":10}", a, b);
}

static void *run(void *arg)
{
    struct worker *w = arg;
    CURL *c = curl_easy_init();
    char url[128], body[512];
    unsigned seed = (unsigned)w->id * 7919u + 1;
    const char *path = w->kind == HEALTH   ? "/health"
                       : w->kind == CREATE ? "/api/memories"
                                           : "/api/memories/search";
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    char user[64] = "X-User-Id: bench";
    if (per_client_users)
        snprintf(user, sizeof user, "X-User-Id: bench-%d", w->id);
    h = curl_slist_append(h, user);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
    for (long i = 0; now_s() < w->until && (w->max_requests == 0 || i < w->max_requests); i++) {
        if (w->kind != HEALTH) {
            body_for(w->kind, w->id, &seed, body, sizeof body);
            curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        }
        double t0 = now_s();
        long status = 0;
        if (curl_easy_perform(c) == CURLE_OK)
            curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        if (status < 200 || status >= 300) {
            if (w->errors++ == 0)
                fprintf(stderr, "bench_http: %s answered %ld\n", path, status);
        }
        if (w->n == w->cap) {
            w->cap = w->cap ? w->cap * 2 : 4096;
            w->lat = realloc(w->lat, w->cap * sizeof *w->lat);
        }
        w->lat[w->n++] = now_s() - t0;
    }
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return NULL;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

struct result {
    double rps, p50_ms, p99_ms;
    int errors;
    size_t n;
};

/* Latencies of a phase, appended to *lat (malloc'd, *n of them) when lat is not NULL. */
static struct result phase_keep(enum kind k, double secs, long max_per_thread, double **lat,
                                size_t *n_lat);

static struct result phase(enum kind k, double secs, long max_per_thread)
{
    return phase_keep(k, secs, max_per_thread, NULL, NULL);
}

static struct result phase_keep(enum kind k, double secs, long max_per_thread, double **lat,
                                size_t *n_lat)
{
    pthread_t th[64];
    struct worker w[64];
    double t0 = now_s();
    for (int i = 0; i < threads; i++) {
        w[i] = (struct worker){k, i, NULL, 0, 0, 0, t0 + secs, max_per_thread};
        pthread_create(&th[i], NULL, run, &w[i]);
    }
    size_t total = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(th[i], NULL);
        total += w[i].n;
    }
    double elapsed = now_s() - t0;
    double *all = malloc((total ? total : 1) * sizeof *all);
    struct result r = {0};
    size_t o = 0;
    for (int i = 0; i < threads; i++) {
        memcpy(all + o, w[i].lat, w[i].n * sizeof *all);
        o += w[i].n;
        r.errors += w[i].errors;
        free(w[i].lat);
    }
    if (lat) {
        *lat = realloc(*lat, (*n_lat + total + 1) * sizeof **lat);
        memcpy(*lat + *n_lat, all, total * sizeof *all);
        *n_lat += total;
    }
    qsort(all, total, sizeof *all, cmp_d);
    r.n = total;
    r.rps = total / elapsed;
    r.p50_ms = total ? all[total / 2] * 1e3 : 0;
    r.p99_ms = total ? all[(size_t)(total * 0.99)] * 1e3 : 0;
    free(all);
    return r;
}

struct text {
    char buf[4096];
    size_t n;
};

static size_t collect(char *p, size_t s, size_t n, void *a)
{
    struct text *t = a;
    size_t k = s * n < sizeof t->buf - 1 - t->n ? s * n : sizeof t->buf - 1 - t->n;
    memcpy(t->buf + t->n, p, k);
    t->n += k;
    t->buf[t->n] = '\0';
    return s * n;
}

/* index.graphs_building of GET /health (0 when absent or unreadable). */
static long index_building(void)
{
    CURL *c = curl_easy_init();
    char url[128];
    struct text t = {.n = 0};
    snprintf(url, sizeof url, "http://127.0.0.1:%d/health", port);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
    curl_easy_perform(c);
    curl_easy_cleanup(c);
    const char *p = strstr(t.buf, "\"graphs_building\":");
    return p ? atol(p + strlen("\"graphs_building\":")) : 0;
}

/* More NAME=VALUE settings for the server (--env, up to 8), e.g. MEMORI_HNSW_EF_SEARCH=64. */
static char *extra_env[9];
static int n_extra_env;

static pid_t start_server(const char *bin, const char *dir)
{
    char log[512], url[600];
    snprintf(log, sizeof log, "%s/server.log", dir);
    snprintf(url, sizeof url, "DATABASE_URL=sqlite:///%s/bench.db", dir);
    if (strcmp(backend, "postgres") == 0) {
        char pg_url[256];
        if (pg_server_start(&pg, true) != 0 ||
            pg_server_database(&pg, "bench", pg_url, sizeof pg_url) != 0)
            return -1;
        snprintf(url, sizeof url, "DATABASE_URL=%s", pg_url);
    }
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fd, 2);
        /* Access logging stays on: it is part of what a request costs. */
        char *env[4 + 9] = {url, "PORT=0", "HOST=127.0.0.1"};
        for (int i = 0; i < n_extra_env; i++)
            env[3 + i] = extra_env[i];
        char *args[] = {(char *)bin, "serve", NULL};
        if (chdir(dir) != 0)
            _exit(126);
        execve(bin, args, env);
        _exit(127);
    }
    for (int i = 0; i < 500 && !port; i++) {
        usleep(20000);
        FILE *f = fopen(log, "r");
        char line[512];
        while (f && fgets(line, sizeof line, f)) {
            char *p = strstr(line, "http://127.0.0.1:");
            if (p)
                port = atoi(p + strlen("http://127.0.0.1:"));
        }
        if (f)
            fclose(f);
    }
    return pid;
}

static void print(const char *name, struct result r, double base_rps)
{
    printf("| %-34s | %9.0f | %7.3f | %7.3f | %5.2f | %6zu | %d |\n", name, r.rps, r.p50_ms,
           r.p99_ms, r.rps / base_rps, r.n, r.errors);
}

#define ROUNDS 3

/*
 * The three modes with one client, in ROUNDS interleaved rounds (a shared
 * machine's slow spells then hit every mode alike), each mode's latencies
 * pooled over its rounds; ratios to the semantic mode's.
 */
static void modes_compared(long have, double base_rps)
{
    static const char *const modes[] = {"semantic", "hybrid", "lexical"};
    double *lat[3] = {NULL, NULL, NULL};
    size_t n[3] = {0, 0, 0};
    int errors[3] = {0, 0, 0};
    int saved = threads;
    threads = 1;
    for (int round = 0; round < ROUNDS; round++)
        for (int m = 0; m < 3; m++) {
            search_mode = modes[m];
            errors[m] += phase_keep(SEARCH, seconds, 0, &lat[m], &n[m]).errors;
        }
    threads = saved;
    double p50[3], p99[3];
    for (int m = 0; m < 3; m++) {
        qsort(lat[m], n[m], sizeof *lat[m], cmp_d);
        p50[m] = n[m] ? lat[m][n[m] / 2] * 1e3 : 0;
        p99[m] = n[m] ? lat[m][(size_t)(n[m] * 0.99)] * 1e3 : 0;
        char name[64];
        snprintf(name, sizeof name, "search (%ldk), %s, 1 client", have / 1000, modes[m]);
        struct result r = {n[m] / (ROUNDS * seconds), p50[m], p99[m], errors[m], n[m]};
        print(name, r, base_rps);
    }
    printf(
        "\n| mode | p50 ms | p99 ms | p50 / semantic | p99 / semantic |\n|---|---|---|---|---|\n");
    for (int m = 0; m < 3; m++)
        printf("| %s | %.3f | %.3f | %.2f | %.2f |\n", modes[m], p50[m], p99[m], p50[m] / p50[0],
               p99[m] / p99[0]);
    for (int m = 0; m < 3; m++)
        free(lat[m]);
}

int main(int argc, char **argv)
{
    const char *bin = getenv("MEMORI_BIN") ? getenv("MEMORI_BIN") : "build/memori";
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(argv[i], "--per-client-users"))
            per_client_users = true;
        else if (!v)
            break; /* an option without its value */
        else if (!strcmp(argv[i], "--seconds"))
            seconds = atof(argv[++i]);
        else if (!strcmp(argv[i], "--threads"))
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--memories"))
            memories = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--backend"))
            backend = argv[++i];
        else if (!strcmp(argv[i], "--env") && n_extra_env < 8)
            extra_env[n_extra_env++] = argv[++i];
        else if (!strcmp(argv[i], "--mode"))
            search_mode = argv[++i];
        else if (!strcmp(argv[i], "--clients"))
            client_list = argv[++i];
        else
            i++; /* an unknown option and its value, skipped as before */
    }
    bool all_modes = search_mode && strcmp(search_mode, "all") == 0;
    if (threads < 1 || threads > 64)
        threads = 4;
    char abs[1024], dir[] = "/tmp/memori-bench-XXXXXX";
    if (!realpath(bin, abs) || !mkdtemp(dir)) {
        fprintf(stderr, "bench_http: cannot find %s (run `make` first)\n", bin);
        return 1;
    }
    curl_global_init(CURL_GLOBAL_ALL);
    pid_t pid = start_server(abs, dir);
    if (!port) {
        fprintf(stderr, "bench_http: server did not start; see %s/server.log\n", dir);
        pg_server_stop(&pg);
        return 1;
    }
    printf("bench_http: %s store, %d client threads, %.0f s per phase, client and server%s share "
           "%ld cores\n",
           backend, threads, seconds, pg.running ? " and PostgreSQL" : "",
           sysconf(_SC_NPROCESSORS_ONLN));
    printf("| %-34s | %9s | %7s | %7s | %5s | %6s | %s |\n", "phase", "req/s", "p50 ms", "p99 ms",
           "×base", "n", "errors");
    printf("|%s|%s|%s|%s|%s|%s|%s|\n", "------------------------------------", "-----------",
           "---------", "---------", "-------", "--------", "---");
    struct result base = phase(HEALTH, seconds, 0);
    print("GET /health (baseline)", base, base.rps);
    struct result create = phase(CREATE, seconds, 0);
    print("POST /api/memories", create, base.rps);
    /* Top up to the requested number of memories for the search phase. */
    long have = (long)create.n;
    if (have < memories) {
        long per = (memories - have + threads - 1) / threads;
        phase(CREATE, 1e9, per);
        have += per * threads;
    }
    /* A user this large gets an HNSW graph, built aside: search once it is ready. */
    double wait0 = now_s();
    while (index_building() > 0)
        usleep(200000);
    if (now_s() - wait0 > 0.5)
        printf("(waited %.1f s for the index's graph to be built aside)\n", now_s() - wait0);
    char name[64];
    if (all_modes) {
        modes_compared(have, base.rps);
        goto stop;
    }
    if (client_list) {
        /* Each client count beside /health with as many clients, in this run. */
        int all = threads;
        for (const char *p = client_list; *p;) {
            int c = atoi(p);
            if (c >= 1 && c <= 64) {
                threads = c;
                struct result h = phase(HEALTH, seconds, 0);
                snprintf(name, sizeof name, "GET /health, %d client%s", c, c > 1 ? "s" : "");
                print(name, h, h.rps);
                snprintf(name, sizeof name, "search (%ldk), %d client%s", have / 1000, c,
                         c > 1 ? "s" : "");
                print(name, phase(SEARCH, seconds, 0), h.rps);
            }
            p += strcspn(p, ",");
            p += *p == ',';
        }
        threads = all;
        goto stop;
    }
    /* One client alone shows the latency without queueing; then all of them. */
    int all = threads;
    threads = 1;
    snprintf(name, sizeof name, "search (%ldk), 1 client", have / 1000);
    print(name, phase(SEARCH, seconds, 0), base.rps);
    threads = all;
    snprintf(name, sizeof name, "search (%ldk), %d clients", have / 1000, threads);
    print(name, phase(SEARCH, seconds, 0), base.rps);
stop:
    kill(pid, SIGTERM);
    int status;
    waitpid(pid, &status, 0);
    /* SQLite: the start-up of a server on this database (the index, lexical side included,
     * rebuilt from the store), as its own log line says. */
    if (strcmp(backend, "sqlite") == 0) {
        port = 0;
        pid = start_server(abs, dir);
        char log[600], line[512];
        snprintf(log, sizeof log, "%s/server.log", dir);
        FILE *f = fopen(log, "r");
        while (f && fgets(line, sizeof line, f))
            if (strstr(line, "memori: indexed "))
                printf("restart on %ldk memories: %s", have / 1000, line + strlen("memori: "));
        if (f)
            fclose(f);
        if (pid > 0) {
            kill(pid, SIGTERM);
            waitpid(pid, &status, 0);
        }
    }
    pg_server_stop(&pg);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    curl_global_cleanup();
    return 0;
}
