/* redis_server.h — a real redis-server on a free loopback port, started and stopped by tests. */
#ifndef MEMORI_TEST_REDIS_SERVER_H
#define MEMORI_TEST_REDIS_SERVER_H

#include <sys/types.h>

struct redis_server {
    pid_t pid;
    int port;
    char url[64];
};

/*
 * Starts redis-server (no persistence) on port (0: pick a free one); 0 when
 * it answers. A server not stopped by redis_server_stop is stopped when the
 * process exits.
 */
int redis_server_start(struct redis_server *r, int port);
void redis_server_stop(struct redis_server *r);

#endif
