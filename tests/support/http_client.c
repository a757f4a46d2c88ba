/* http_client.c — server launcher and libcurl client for the e2e tests. */
#define _GNU_SOURCE
#include "http_client.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "memori/util.h"
#include "pg_server.h"
#include "test.h"

extern char **environ;

static const char *memori_bin(void)
{
    const char *b = getenv("MEMORI_BIN");
    return b ? b : "build/memori";
}

static int counter;

/* Builds environ + extras into a new NULL-terminated array. */
static char **merged_env(char *const *extra)
{
    size_t n = 0, k = 0;
    while (environ[n])
        n++;
    while (extra && extra[k])
        k++;
    char **env = calloc(n + k + 1, sizeof *env);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        /* Drop variables the test sets itself, so the test's values win. */
        bool overridden = false;
        for (size_t j = 0; j < k; j++) {
            const char *eq = strchr(extra[j], '=');
            size_t len = eq ? (size_t)(eq - extra[j]) : strlen(extra[j]);
            if (strncmp(environ[i], extra[j], len) == 0 && environ[i][len] == '=')
                overridden = true;
        }
        if (!overridden)
            env[o++] = environ[i];
    }
    for (size_t j = 0; j < k; j++)
        env[o++] = extra[j];
    return env;
}

/*
 * Every process spawn() started and nobody has waited for yet: a test whose
 * CHECK fails returns before its server_stop, and this list lets
 * stop_leftovers (run after every case and at exit, test_after_each) stop
 * what it left running instead of leaving servers behind the suite.
 */
static struct {
    pid_t pid;
    char log[512];
} live[64];
static size_t n_live;

static void forget(pid_t pid)
{
    for (size_t i = 0; i < n_live; i++)
        if (live[i].pid == pid) {
            live[i] = live[--n_live];
            return;
        }
}

/* Waits up to ms for pid to exit: true when it did (and was reaped) or is no child of ours. */
static bool reaped_within(pid_t pid, int ms)
{
    for (int waited = 0;; waited += 10) {
        pid_t w = waitpid(pid, NULL, WNOHANG);
        if (w != 0)
            return true; /* exited now, or reaped already by the test itself (ECHILD) */
        if (waited >= ms)
            return false;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

static void stop_leftovers(void)
{
    while (n_live) {
        n_live--;
        pid_t pid = live[n_live].pid;
        if (reaped_within(pid, 0))
            continue;
        /* SIGTERM first, so the server flushes and its log says why it stopped. */
        kill(pid, SIGTERM);
        if (!reaped_within(pid, 10000)) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
        }
        fprintf(stdout, "    stopped process %d that the test left running (log %s)\n", (int)pid,
                live[n_live].log);
    }
}

static pid_t spawn(char *const *args, char *const *extra_env, const char *log_path)
{
    char **env = merged_env(extra_env);
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, 2);
            dup2(fd, 1);
            close(fd);
        }
        /* Run in the temp dir so no .env of the checkout leaks in. */
        if (chdir(test_tmpdir()) != 0)
            _exit(126);
        execve(args[0], args, env);
        _exit(127);
    }
    free(env);
    if (pid > 0) {
        test_after_each(stop_leftovers);
        if (n_live < sizeof live / sizeof live[0]) {
            live[n_live].pid = pid;
            snprintf(live[n_live].log, sizeof live[n_live].log, "%s", log_path);
            n_live++;
        } else {
            fprintf(stderr, "http_client: more than %zu live processes; not all tracked\n", n_live);
        }
    }
    return pid;
}

static char *abs_bin(void)
{
    static char path[1024];
    if (!realpath(memori_bin(), path))
        snprintf(path, sizeof path, "%s", memori_bin());
    return path;
}

const char *test_backend(void)
{
    const char *b = getenv("MEMORI_TEST_BACKEND");
    return b && strcmp(b, "postgres") == 0 ? "postgres" : "sqlite";
}

int test_database_url(const char *db, char *url, size_t cap)
{
    if (strcmp(test_backend(), "postgres") != 0) {
        snprintf(url, cap, "DATABASE_URL=sqlite:///%s", db);
        return 0;
    }
    /* One database per file name, so a restarted server finds its data again. */
    struct pg_server *p = pg_server_shared();
    char name[40], pg_url[256];
    snprintf(name, sizeof name, "e2e_%016llx",
             (unsigned long long)mr_fnv1a64(MR_FNV64_BASIS, db, strlen(db)));
    if (!p || pg_server_database(p, name, pg_url, sizeof pg_url) != 0)
        return -1;
    snprintf(url, cap, "DATABASE_URL=%s", pg_url);
    return 0;
}

int server_start(struct server *s, const char *db, char *const *env)
{
    memset(s, 0, sizeof *s);
    snprintf(s->db, sizeof s->db, "%s", db);
    test_path(s->log, sizeof s->log, "");
    size_t n = strlen(s->log);
    snprintf(s->log + n, sizeof s->log - n, "server-%d.log", counter++);
    char url[600];
    if (strncmp(db, "postgresql://", 13) == 0)
        snprintf(url, sizeof url, "DATABASE_URL=%s", db); /* a database the test made itself */
    else if (test_database_url(db, url, sizeof url) != 0)
        return -1;
    char *extra[32] = {url, "PORT=0", "HOST=127.0.0.1", "MEMORI_HTTP_THREADS=4"};
    size_t k = 4;
    for (size_t i = 0; env && env[i] && k < 31; i++)
        extra[k++] = env[i];
    char *args[] = {abs_bin(), "serve", NULL};
    s->pid = spawn(args, extra, s->log);
    for (int tries = 0; tries < 500; tries++) {
        FILE *f = fopen(s->log, "r");
        char line[1024];
        while (f && fgets(line, sizeof line, f)) {
            const char *p = strstr(line, "listening on http://127.0.0.1:");
            if (p) {
                s->port = atoi(p + strlen("listening on http://127.0.0.1:"));
                fclose(f);
                return 0;
            }
        }
        if (f)
            fclose(f);
        int status;
        if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
            forget(s->pid);
            s->pid = 0;
            return -1;
        }
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    server_stop(s, SIGKILL);
    return -1;
}

int server_stop(struct server *s, int sig)
{
    if (s->pid <= 0)
        return -1;
    kill(s->pid, sig);
    int status = 0;
    waitpid(s->pid, &status, 0);
    forget(s->pid);
    s->pid = 0;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int server_start_fresh(struct server *s, const char *prefix, char *const *env)
{
    static int n; /* the test binaries run their tests one at a time */
    char name[96], path[512];
    snprintf(name, sizeof name, "%s-%d.db", prefix, n++);
    return server_start(s, test_path(path, sizeof path, name), env);
}

bool server_stop_checked(struct server *s)
{
    int rc = server_stop(s, SIGTERM);
    if (rc != 0)
        test_fail(__FILE__, __LINE__, "server exited %d; see %s", rc, s->log);
    return rc == 0;
}

pid_t memori_spawn(char *const *args, char *const *env, const char *log)
{
    char *argv[16] = {abs_bin()};
    for (int i = 0; args[i] && i < 14; i++)
        argv[i + 1] = args[i];
    return spawn(argv, env, log);
}

int run_memori(char *const *args, char *const *env, char *err, size_t err_cap)
{
    char log[512];
    test_path(log, sizeof log, "run.log");
    char *argv[16] = {abs_bin()};
    for (int i = 0; args[i] && i < 14; i++)
        argv[i + 1] = args[i];
    pid_t pid = spawn(argv, env, log);
    int status = 0;
    waitpid(pid, &status, 0);
    forget(pid);
    FILE *f = fopen(log, "r");
    size_t n = f ? fread(err, 1, err_cap - 1, f) : 0;
    err[n] = '\0';
    if (f)
        fclose(f);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

struct buf {
    char *p;
    size_t n;
};

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    struct buf *b = arg;
    size_t len = size * nmemb;
    b->p = realloc(b->p, b->n + len + 1);
    memcpy(b->p + b->n, data, len);
    b->n += len;
    b->p[b->n] = '\0';
    return len;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *arg)
{
    struct resp *r = arg;
    size_t len = size * nmemb;
    if (len > 6 && strncasecmp(data, "Allow:", 6) == 0)
        snprintf(r->allow, sizeof r->allow, "%.*s", (int)(len - 6), data + 6);
    if (len > 17 && strncasecmp(data, "WWW-Authenticate:", 17) == 0)
        snprintf(r->www_authenticate, sizeof r->www_authenticate, "%.*s", (int)(len - 17),
                 data + 17);
    if (len > 13 && strncasecmp(data, "Content-Type:", 13) == 0)
        snprintf(r->content_type, sizeof r->content_type, "%.*s", (int)(len - 13), data + 13);
    if (len > 9 && strncasecmp(data, "X-Memori-", 9) == 0)
        snprintf(r->memori, sizeof r->memori, "%.*s", (int)len, data);
    return len;
}

static void trim(char *s)
{
    char *p = s;
    while (*p == ' ')
        p++;
    memmove(s, p, strlen(p) + 1);
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\r' || s[n - 1] == '\n' || s[n - 1] == ' '))
        s[--n] = '\0';
}

static int request(const struct server *s, const char *method, const char *path, const char *header,
                   const char *body, size_t body_len, struct resp *out);

int http(const struct server *s, const char *method, const char *path, const char *user,
         const char *body, size_t body_len, struct resp *out)
{
    char hdr[512];
    if (user)
        snprintf(hdr, sizeof hdr, "X-User-Id: %s", user);
    return request(s, method, path, user ? hdr : NULL, body, body_len, out);
}

int http_auth(const struct server *s, const char *method, const char *path, const char *token,
              const char *body, size_t body_len, struct resp *out)
{
    char hdr[9000];
    snprintf(hdr, sizeof hdr, "Authorization: Bearer %s", token ? token : "");
    return request(s, method, path, hdr, body, body_len, out);
}

static int request(const struct server *s, const char *method, const char *path, const char *header,
                   const char *body, size_t body_len, struct resp *out)
{
    memset(out, 0, sizeof *out);
    CURL *c = curl_easy_init();
    if (!c)
        return -1;
    char url[2048];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", s->port, path);
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    h = curl_slist_append(h, "Expect:");
    if (header)
        h = curl_slist_append(h, header);
    struct buf b = {0};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, out);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t)(body_len == SIZE_MAX ? strlen(body) : body_len));
    }
    CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    out->body = b.p ? b.p : strdup("");
    trim(out->allow);
    trim(out->content_type);
    trim(out->www_authenticate);
    trim(out->memori);
    out->json = json_loads(out->body, JSON_DECODE_ANY, NULL);
    return rc == CURLE_OK ? 0 : -1;
}

int tcp_dial(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

char *http_raw_get(const struct server *s, const char *path)
{
    int fd = tcp_dial(s->port);
    if (fd < 0)
        return NULL;
    char req[512];
    int n =
        snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", path);
    if (n < 0 || n >= (int)sizeof req || write(fd, req, (size_t)n) != n) {
        close(fd);
        return NULL;
    }
    size_t len = 0, cap = 1 << 16;
    char *out = malloc(cap);
    ssize_t k;
    while ((k = read(fd, out + len, cap - len - 1)) > 0) {
        len += (size_t)k;
        if (cap - len < 4096)
            out = realloc(out, cap *= 2);
    }
    close(fd);
    out[len] = '\0';
    return out;
}

bool run_node_test(const struct server *s, const char *script, const char *env, int seconds,
                   const char *log_name, const char *ok_line)
{
    char log[600], cmd[2048];
    snprintf(log, sizeof log, "%s/%s", test_tmpdir(), log_name);
    snprintf(cmd, sizeof cmd,
             "MEMORI_URL=http://127.0.0.1:%d MEMORI_NPM_DIR=build/npm %s timeout %d node %s "
             ">%s 2>&1",
             s->port, env ? env : "", seconds, script, log);
    int rc = system(cmd);
    char text[8192] = "";
    FILE *f = fopen(log, "r");
    if (f) {
        text[fread(text, 1, sizeof text - 1, f)] = '\0';
        fclose(f);
    }
    fprintf(stdout, "    %s", text);
    return WIFEXITED(rc) && WEXITSTATUS(rc) == 0 && strstr(text, ok_line);
}

bool have_command(const char *cmd)
{
    if (strchr(cmd, '/'))
        return access(cmd, X_OK) == 0;
    char line[256];
    snprintf(line, sizeof line, "command -v %s >/dev/null 2>&1", cmd);
    return system(line) == 0;
}

long proc_rss_kib(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long kib = -1;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0)
            kib = atol(line + 6);
    if (f)
        fclose(f);
    return kib;
}

void resp_free(struct resp *r)
{
    free(r->body);
    json_decref(r->json);
    memset(r, 0, sizeof *r);
}

const char *jstr(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

long long jint(const json_t *o, const char *key)
{
    return json_integer_value(json_object_get(o, key));
}

double jnum(const json_t *o, const char *key)
{
    return json_number_value(json_object_get(o, key));
}

bool first_error(const struct resp *r, char *type, size_t tcap, char *loc, size_t lcap)
{
    json_t *e = json_array_get(json_object_get(r->json, "detail"), 0);
    if (!e)
        return false;
    snprintf(type, tcap, "%s", jstr(e, "type") ? jstr(e, "type") : "");
    loc[0] = '\0';
    size_t i;
    json_t *part;
    json_array_foreach(json_object_get(e, "loc"), i, part)
    {
        size_t n = strlen(loc);
        if (json_is_string(part))
            snprintf(loc + n, lcap - n, "%s%s", i ? "." : "", json_string_value(part));
        else
            snprintf(loc + n, lcap - n, "%s%lld", i ? "." : "",
                     (long long)json_integer_value(part));
    }
    return json_is_string(json_object_get(e, "msg"));
}
