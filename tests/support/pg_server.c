/* pg_server.c — see pg_server.h. */
#define _GNU_SOURCE
#include "pg_server.h"

#include <fcntl.h>
#include <glob.h>
#include <libpq-fe.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"

/* PostgreSQL's server programs: MEMORI_PG_BINDIR, else Debian's newest installed. */
static const char *bindir(void)
{
    static char dir[256];
    if (dir[0])
        return dir;
    const char *env = getenv("MEMORI_PG_BINDIR");
    if (env) {
        snprintf(dir, sizeof dir, "%s", env);
        return dir;
    }
    glob_t g;
    if (glob("/usr/lib/postgresql/*/bin/initdb", 0, NULL, &g) == 0 && g.gl_pathc > 0) {
        snprintf(dir, sizeof dir, "%s", g.gl_pathv[g.gl_pathc - 1]);
        *strrchr(dir, '/') = '\0';
    }
    globfree(&g);
    return dir;
}

/*
 * Runs path (a file name is looked up on PATH) with args, as user postgres
 * when we are root; output appended to log. Returns its exit status, or -1.
 */
static int run_path(const char *log, const char *path, const char *const *args)
{
    const char *argv[24];
    int n = 0;
    if (geteuid() == 0) {
        argv[n++] = "runuser";
        argv[n++] = "-u";
        argv[n++] = "postgres";
        argv[n++] = "--";
    }
    argv[n++] = path;
    for (int i = 0; args[i] && n < 23; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0666);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        /* runuser drops to postgres, who may not read the tests' working directory. */
        if (chdir("/") != 0)
            _exit(126);
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    int status;
    if (pid < 0 || waitpid(pid, &status, 0) != pid)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* run_path for one of PostgreSQL's server programs (in bindir). */
static int run(const char *log, const char *program, const char *const *args)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", bindir(), program);
    return run_path(log, path, args);
}

/* Hands dir to user postgres when we are root (the server refuses to run as root). 0 or -1. */
static int give_to_postgres(const char *dir)
{
    if (geteuid() != 0)
        return 0;
    struct passwd *pw = getpwnam("postgres");
    if (!pw || chown(dir, pw->pw_uid, pw->pw_gid) != 0) {
        fprintf(stderr, "pg_server: no user postgres to run the server as\n");
        return -1;
    }
    return 0;
}

/* initdb of a test cluster's data directory into data. 0 or -1. */
static int init_data(const char *log, const char *data)
{
    const char *args[] = {"-D", data,   "-U",         "memori",    "-A", "trust",
                          "-E", "UTF8", "--locale=C", "--no-sync", NULL};
    if (run(log, "initdb", args) != 0) {
        fprintf(stderr, "pg_server: initdb (in %s) failed; see %s\n", bindir(), log);
        return -1;
    }
    return 0;
}

/*
 * The data directory from the template in MEMORI_TEST_PG_TEMPLATE (a
 * directory; scripts/run-tests.sh makes one per run): the first cluster of
 * the run initdb's it there (under a lock, for binaries run side by side),
 * every cluster copies it. initdb costs seconds and its result is the same
 * every time; a copy costs a fraction of one, and each binary still gets a
 * cluster of its own. 0 or -1.
 */
static int data_from_template(const char *tmpl, const char *log, const char *data)
{
    char lock[600], tdata[600], tnew[600];
    snprintf(lock, sizeof lock, "%s/lock", tmpl);
    snprintf(tdata, sizeof tdata, "%s/data", tmpl);
    snprintf(tnew, sizeof tnew, "%s/data.new", tmpl);
    int fd = open(lock, O_RDWR | O_CREAT, 0600);
    if (fd < 0 || flock(fd, LOCK_EX) != 0) {
        fprintf(stderr, "pg_server: cannot lock %s\n", lock);
        if (fd >= 0)
            close(fd);
        return -1;
    }
    int rc = 0;
    struct stat st;
    if (stat(tdata, &st) != 0) {
        /* Made aside and renamed: a template is whole or absent. */
        char cmd[700];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tnew);
        rc = system(cmd) == 0 && give_to_postgres(tmpl) == 0 && init_data(log, tnew) == 0 &&
                     rename(tnew, tdata) == 0
                 ? 0
                 : -1;
    }
    close(fd); /* releases the lock */
    if (rc != 0)
        return -1;
    const char *args[] = {"-a", tdata, data, NULL};
    if (run_path(log, "cp", args) != 0) {
        fprintf(stderr, "pg_server: copying the template %s failed; see %s\n", tdata, log);
        return -1;
    }
    return 0;
}

/* Our commands' output; the server's own log is server.log (written as postgres). */
static void log_path(const struct pg_server *p, char *out, size_t cap)
{
    snprintf(out, cap, "%s/setup.log", p->dir);
}

static void data_path(const struct pg_server *p, char *out, size_t cap)
{
    snprintf(out, cap, "%s/data", p->dir);
}

static int start(struct pg_server *p)
{
    char log[600], opts[1024], data[600], server_log[600];
    log_path(p, log, sizeof log);
    data_path(p, data, sizeof data);
    snprintf(server_log, sizeof server_log, "%s/server.log", p->dir);
    /* Room for a benchmark's index builds; PostgreSQL's defaults otherwise. */
    snprintf(opts, sizeof opts,
             "-p %d -k %s -c listen_addresses=127.0.0.1 -c max_connections=300 "
             "-c shared_buffers=1GB -c maintenance_work_mem=2GB%s",
             p->port, p->dir, p->durable ? "" : " -c fsync=off -c full_page_writes=off");
    const char *args[] = {"-D", data, "-l", server_log, "-w", "-t",
                          "60", "-o", opts, "start",    NULL};
    if (run(log, "pg_ctl", args) != 0) {
        fprintf(stderr, "pg_server: pg_ctl start failed; see %s\n", server_log);
        return -1;
    }
    p->running = true;
    return 0;
}

int pg_server_start(struct pg_server *p, bool durable)
{
    memset(p, 0, sizeof *p);
    p->durable = durable;
    const char *base = getenv("TMPDIR");
    snprintf(p->dir, sizeof p->dir, "%s/memori-pg-XXXXXX", base ? base : "/tmp");
    if (!mkdtemp(p->dir)) {
        perror("pg_server: mkdtemp");
        return -1;
    }
    if (give_to_postgres(p->dir) != 0)
        return -1;
    chmod(p->dir, 0700);
    char log[600], data[600];
    log_path(p, log, sizeof log);
    data_path(p, data, sizeof data);
    const char *tmpl = getenv("MEMORI_TEST_PG_TEMPLATE");
    if (tmpl && tmpl[0] ? data_from_template(tmpl, log, data) != 0 : init_data(log, data) != 0)
        return -1;
    p->port = test_free_port();
    return start(p);
}

static void stop(struct pg_server *p)
{
    if (!p->running)
        return;
    char log[600], data[600];
    log_path(p, log, sizeof log);
    data_path(p, data, sizeof data);
    const char *args[] = {"-D", data, "-m", "immediate", "-w", "stop", NULL};
    run(log, "pg_ctl", args);
    p->running = false;
}

int pg_server_restart(struct pg_server *p)
{
    stop(p);
    return start(p);
}

void pg_server_stop(struct pg_server *p)
{
    stop(p);
    if (p->dir[0]) {
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", p->dir);
        if (system(cmd) != 0)
            fprintf(stderr, "pg_server: could not remove %s\n", p->dir);
        p->dir[0] = '\0';
    }
}

int pg_server_database(struct pg_server *p, const char *name, char *url, size_t cap)
{
    char admin[256];
    snprintf(admin, sizeof admin, "postgresql://memori@127.0.0.1:%d/postgres", p->port);
    PGconn *pg = PQconnectdb(admin);
    int rc = -1;
    if (PQstatus(pg) == CONNECTION_OK) {
        char sql[300];
        snprintf(sql, sizeof sql, "CREATE DATABASE \"%s\"", name);
        PGresult *res = PQexec(pg, sql);
        const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        rc = PQresultStatus(res) == PGRES_COMMAND_OK || (state && strcmp(state, "42P04") == 0) ? 0
                                                                                               : -1;
        if (rc)
            fprintf(stderr, "pg_server: %s", PQresultErrorMessage(res));
        PQclear(res);
    } else {
        fprintf(stderr, "pg_server: %s", PQerrorMessage(pg));
    }
    PQfinish(pg);
    snprintf(url, cap, "postgresql://memori@127.0.0.1:%d/%s", p->port, name);
    return rc;
}

static struct pg_server shared;
static bool shared_tried;

static void stop_shared(void)
{
    pg_server_stop(&shared);
}

struct pg_server *pg_server_shared(void)
{
    if (!shared_tried) {
        shared_tried = true;
        if (pg_server_start(&shared, false) == 0)
            atexit(stop_shared);
        else
            pg_server_stop(&shared);
    }
    return shared.running ? &shared : NULL;
}
