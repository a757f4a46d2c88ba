/* redis_server.c — see redis_server.h. */
#define _GNU_SOURCE
#include "redis_server.h"
#include "test.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int answers(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    if (ok) {
        char buf[16] = "";
        ok = write(fd, "PING\r\n", 6) == 6 && read(fd, buf, sizeof buf - 1) > 0 &&
             strncmp(buf, "+PONG", 5) == 0;
    }
    close(fd);
    return ok;
}

/*
 * The servers started and not yet stopped, stopped at exit: a binary that
 * ends early (a failed CHECK before the suite's stop, the runner's time
 * limit) leaves no redis-server behind. At exit rather than after each case,
 * because contract suites share one server across their cases.
 */
static pid_t live[16];
static size_t n_live;

static void stop_pid(pid_t pid)
{
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
}

static void stop_live(void)
{
    for (size_t i = 0; i < n_live; i++)
        if (live[i] > 0)
            stop_pid(live[i]);
    n_live = 0;
}

static void track(pid_t pid)
{
    static bool registered;
    if (!registered && atexit(stop_live) == 0)
        registered = true;
    for (size_t i = 0; i < n_live; i++)
        if (live[i] <= 0) {
            live[i] = pid;
            return;
        }
    if (n_live < sizeof live / sizeof live[0])
        live[n_live++] = pid;
    else
        fprintf(stderr, "redis_server: more than %zu servers; not all tracked\n", n_live);
}

static void untrack(pid_t pid)
{
    for (size_t i = 0; i < n_live; i++)
        if (live[i] == pid)
            live[i] = 0;
}

int redis_server_start(struct redis_server *r, int port)
{
    r->port = port ? port : test_free_port();
    snprintf(r->url, sizeof r->url, "redis://127.0.0.1:%d/0", r->port);
    char ports[16];
    snprintf(ports, sizeof ports, "%d", r->port);
    r->pid = fork();
    if (r->pid == 0) {
        int null = open("/dev/null", 1);
        dup2(null, 1);
        dup2(null, 2);
        execlp("redis-server", "redis-server", "--port", ports, "--bind", "127.0.0.1", "--save", "",
               "--appendonly", "no", "--daemonize", "no", (char *)NULL);
        _exit(127);
    }
    if (r->pid > 0)
        track(r->pid);
    for (int i = 0; i < 250; i++) {
        if (answers(r->port))
            return 0;
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    redis_server_stop(r);
    return -1;
}

void redis_server_stop(struct redis_server *r)
{
    if (r->pid > 0) {
        untrack(r->pid);
        stop_pid(r->pid);
    }
    r->pid = 0;
}
