/*
 * http_client.h — what the end-to-end tests need: start the real
 * `memori serve` on a free loopback port with a temp SQLite file, talk to
 * it over HTTP (libcurl), and stop it with a signal.
 */
#ifndef MEMORI_TEST_HTTP_CLIENT_H
#define MEMORI_TEST_HTTP_CLIENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct server {
    pid_t pid;
    int port;
    char db[512];
    char log[512];
};

/* "postgres" when MEMORI_TEST_BACKEND=postgres, else "sqlite": the backend e2e tests run on. */
const char *test_backend(void);

/*
 * "DATABASE_URL=..." for the test database named by the file path db: the
 * SQLite file itself, or (postgres backend) a database of that name's hash
 * in the binary's throwaway cluster, created on first use. 0 or -1.
 */
int test_database_url(const char *db, char *url, size_t cap);

/*
 * Starts MEMORI_BIN serve with DATABASE_URL for db (test_database_url), PORT=0 and the
 * extra NAME=VALUE pairs in env (NULL-terminated, may be NULL); waits for
 * its "listening on" line. db may also be a postgresql:// URL, served as it
 * is. Returns 0, or -1 (the log says why).
 */
int server_start(struct server *s, const char *db, char *const *env);

/* Sends sig and waits; returns the exit status (or 128+signal). */
int server_stop(struct server *s, int sig);

/*
 * server_start on a fresh test database "<prefix>-<n>.db" (n counts up in
 * this process), so each test starts from an empty store. 0 or -1.
 */
int server_start_fresh(struct server *s, const char *prefix, char *const *env);

/*
 * Stops s with SIGTERM; a non-zero exit (a crash, or a leak under ASan)
 * fails the running test, naming the server's log. True when it exited 0.
 */
bool server_stop_checked(struct server *s);

/* Starts MEMORI_BIN with args and env, its output into log; its pid (not waited for). */
pid_t memori_spawn(char *const *args, char *const *env, const char *log);
/* Runs MEMORI_BIN with args and env until it exits; returns its exit code, stderr into err. */
int run_memori(char *const *args, char *const *env, char *err, size_t err_cap);

struct resp {
    long status;
    char *body;   /* NUL-terminated, freed by resp_free */
    json_t *json; /* parsed body, or NULL */
    char allow[64];
    char content_type[64];
    char www_authenticate[64];
    char memori[64]; /* the last X-Memori-* header line ("X-Memori-Duplicate: true"), or "" */
};

/*
 * One request to the server. user: X-User-Id (NULL: no header). body may be
 * NULL. body_len (SIZE_MAX: strlen). Returns 0 when a response arrived.
 */
int http(const struct server *s, const char *method, const char *path, const char *user,
         const char *body, size_t body_len, struct resp *out);

/* As http(), with "Authorization: Bearer <token>" instead of X-User-Id. */
int http_auth(const struct server *s, const char *method, const char *path, const char *token,
              const char *body, size_t body_len, struct resp *out);

void resp_free(struct resp *r);

/* A TCP connection to 127.0.0.1:port, or -1. */
int tcp_dial(int port);

/* A raw GET of path (HTTP/1.1, Connection: close): the whole answer, head and body (free it), or
 * NULL. */
char *http_raw_get(const struct server *s, const char *path);

/* Whether cmd (a program name) is on PATH, or (a path) is executable. */
bool have_command(const char *cmd);

/*
 * Runs a node test script (under tests/browser/ or tests/mcp/) against s:
 * `MEMORI_URL=<s's url> MEMORI_NPM_DIR=build/npm <env> timeout <seconds> node
 * <script>`, its output into <test dir>/<log_name> and then onto stdout.
 * True when it exited 0 and printed ok_line.
 */
bool run_node_test(const struct server *s, const char *script, const char *env, int seconds,
                   const char *log_name, const char *ok_line);

/* Resident set size of process pid in KiB (VmRSS), or -1. */
long proc_rss_kib(pid_t pid);

/* Shortcuts on r->json. */
const char *jstr(const json_t *o, const char *key);
long long jint(const json_t *o, const char *key);
double jnum(const json_t *o, const char *key);

/* The "type" of the first 422 error and its loc joined with '.' ("body.content"). */
bool first_error(const struct resp *r, char *type, size_t tcap, char *loc, size_t lcap);

#endif
