/*
 * The e2e support layer's clean-up: a test that returns before stopping
 * what it started (a failed CHECK returns early) leaves no `memori serve`
 * behind; the support layer stops it once the test returns
 * (tests/support/http_client.c, test_after_each).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>

#include "http_client.h"
#include "test.h"

static struct server srv;
static pid_t left_behind;

/* Returns with its server running, as a test whose CHECK failed midway does. */
TEST(test_a_test_returns_with_its_server_running)
{
    CHECK(server_start_fresh(&srv, "cleanup", NULL) == 0);
    left_behind = srv.pid;
    CHECK(kill(left_behind, 0) == 0); /* running while the test runs */
}

TEST(test_the_server_left_running_was_stopped_after_that_test)
{
    CHECK(left_behind > 0);
    /* Stopped and reaped: no such process, and no child of ours to wait for. */
    CHECK(kill(left_behind, 0) != 0 && errno == ESRCH);
    CHECK(waitpid(left_behind, NULL, WNOHANG) == -1 && errno == ECHILD);
}

/* A server the test stops itself is stopped once, with its own exit status checked. */
TEST(test_a_server_stopped_by_its_test_exits_cleanly)
{
    CHECK(server_start_fresh(&srv, "cleanup", NULL) == 0);
    CHECK(server_stop_checked(&srv));
}

TEST_MAIN("e2e_cleanup", T(test_a_test_returns_with_its_server_running),
          T(test_the_server_left_running_was_stopped_after_that_test),
          T(test_a_server_stopped_by_its_test_exits_cleanly))
