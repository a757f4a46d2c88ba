/*
 * pg_server.h — a throwaway PostgreSQL cluster for tests: initdb in a temp
 * directory (or, when MEMORI_TEST_PG_TEMPLATE names a directory, a copy of
 * the template initdb'd there once per test run: scripts/run-tests.sh sets
 * it), started with pg_ctl on a free loopback port (as the
 * unprivileged `postgres` user when the tests run as root: PostgreSQL
 * refuses to run as root), removed when stopped. Needs PostgreSQL 15's
 * server binaries and pgvector (scripts/install-deps.sh installs both).
 */
#ifndef MEMORI_TEST_PG_SERVER_H
#define MEMORI_TEST_PG_SERVER_H

#include <stdbool.h>
#include <stddef.h>

struct pg_server {
    int port;
    char dir[512]; /* holds data/, the socket and the logs */
    bool running;
    bool durable;
};

/*
 * Creates and starts a cluster (trust authentication for user "memori").
 * Not durable: fsync off, as tests need a real server, not one that
 * survives power loss (synchronous_commit stays on, so a restart keeps
 * every commit). Durable: PostgreSQL's defaults, for benchmarks. 0, or -1
 * with the reason on stderr.
 */
int pg_server_start(struct pg_server *p, bool durable);

/* Stops it at once (immediate mode) and removes its directory. */
void pg_server_stop(struct pg_server *p);

/* Stops (immediate) and starts it again on the same port and data. 0 or -1. */
int pg_server_restart(struct pg_server *p);

/*
 * Creates database name (an existing one is kept) and writes its URL
 * postgresql://memori@127.0.0.1:port/name into url. 0 or -1.
 */
int pg_server_database(struct pg_server *p, const char *name, char *url, size_t cap);

/*
 * The cluster a test binary shares: started on first use, stopped at exit.
 * NULL when it cannot start.
 */
struct pg_server *pg_server_shared(void);

#endif
