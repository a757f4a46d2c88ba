/*
 * sqlite_store.c — the embedded store: SQLite in WAL mode, opened and
 * closed here (see sqlite_int.h for the files that do the rest).
 *
 * One file serves one memori process. Its vectors live in that process's
 * index, so a second process writing the same file (a second `memori
 * serve`, or `memori reembed` beside a server) would leave the first one
 * searching stale vectors. The store therefore holds an exclusive flock(2)
 * on "<path>.lock" while it is open:
 *  - flock, not fcntl: an fcntl lock belongs to the process, so a second
 *    open in the same process would succeed (and closing any descriptor of
 *    the file drops it); a flock belongs to the open file description, so
 *    every second open fails, in this process too;
 *  - a file beside the database, not the database itself: SQLite takes its
 *    own fcntl locks on the database, and a descriptor of ours on that file
 *    closed at the wrong moment would drop them;
 *  - the kernel releases it with the last descriptor, so a process killed
 *    with SIGKILL leaves no stale lock; the file itself stays (removing it
 *    would race with a process that has just opened it) and holds the pid
 *    of the last holder, for the message.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "sqlite_int.h"

/* Takes the lock on "<path>.lock" into s->lock_fd; MR_EBUSY naming the holder when it is held. */
static int lock_file(struct sqlite_store *s, struct mr_err *err)
{
    char lock_path[4096];
    if ((size_t)snprintf(lock_path, sizeof lock_path, "%s.lock", s->path) >= sizeof lock_path)
        return mr_err_set(err, MR_EINVAL, "database path %s is too long", s->path);
    int fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return mr_err_set(err, MR_EUNAVAIL, "cannot open database %s: cannot create %s: %s",
                          s->path, lock_path, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        char pid[24] = "";
        ssize_t n = e == EWOULDBLOCK ? pread(fd, pid, sizeof pid - 1, 0) : -1;
        close(fd);
        if (e != EWOULDBLOCK)
            return mr_err_set(err, MR_EUNAVAIL, "cannot lock database %s (%s): %s", s->path,
                              lock_path, strerror(e));
        long holder = n > 0 ? strtol(pid, NULL, 10) : 0;
        if (holder == (long)getpid())
            return mr_err_set(err, MR_EBUSY,
                              "database %s is in use by this process (pid %ld): one SQLite "
                              "file serves one memori store at a time",
                              s->path, holder);
        if (holder > 0)
            return mr_err_set(err, MR_EBUSY,
                              "database %s is in use by another memori process (pid %ld); "
                              "stop it first, or use PostgreSQL for several processes",
                              s->path, holder);
        return mr_err_set(err, MR_EBUSY,
                          "database %s is in use by another memori process; stop it first, "
                          "or use PostgreSQL for several processes",
                          s->path);
    }
    char pid[24];
    int len = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    /* Should this fail, the lock holds all the same: only a message would lack our pid. */
    bool wrote = ftruncate(fd, 0) == 0 && pwrite(fd, pid, (size_t)len, 0) == len;
    (void)wrote;
    s->lock_fd = fd;
    return 0;
}

/*
 * Copies the WAL back into the database (PASSIVE: never waits for readers
 * or writers) whenever a commit left it at SQLITE_CHECKPOINT_PAGES or more.
 */
static void *checkpoint_main(void *arg)
{
    struct sqlite_store *s = arg;
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(s->path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        sqlite3_close(db);
        return NULL; /* then nothing checkpoints until close: the WAL grows, nothing breaks */
    }
    sqlite3_busy_timeout(db, 1000);
    sqlite3_exec(db, "PRAGMA synchronous=FULL", NULL, NULL, NULL);
    pthread_mutex_lock(&s->wal_lock);
    while (!s->stopping) {
        if (s->wal_pages < SQLITE_CHECKPOINT_PAGES) {
            pthread_cond_wait(&s->wal_grew, &s->wal_lock);
            continue;
        }
        s->wal_pages = 0;
        pthread_mutex_unlock(&s->wal_lock);
        sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        pthread_mutex_lock(&s->wal_lock);
    }
    pthread_mutex_unlock(&s->wal_lock);
    sqlite3_close(db);
    return NULL;
}

void sqlite_close(struct mr_store *base)
{
    struct sqlite_store *s = (struct sqlite_store *)base;
    if (s->has_checkpointer) {
        pthread_mutex_lock(&s->wal_lock);
        s->stopping = true;
        pthread_cond_signal(&s->wal_grew);
        pthread_mutex_unlock(&s->wal_lock);
        pthread_join(s->checkpointer, NULL);
    }
    store_pool_destroy(&s->pool);
    sqlite_conn_close(s->wconn);
    /* The lock goes last: the file is free once no connection of ours is left on it. */
    if (s->lock_fd >= 0)
        close(s->lock_fd);
    sqlite_group_destroy(s);
    pthread_mutex_destroy(&s->wal_lock);
    pthread_cond_destroy(&s->wal_grew);
    free(s->path);
    free(s);
}

struct mr_store *mr_store_sqlite_open_with(const char *path,
                                           const struct mr_store_pool_config *pool,
                                           struct mr_err *err)
{
    struct sqlite_store *s = mr_xcalloc(1, sizeof *s);
    s->base.ops = &sqlite_store_ops;
    s->path = mr_xstrdup(path);
    s->lock_fd = -1;
    store_pool_init(&s->pool, &sqlite_pool_ops, s, pool);
    sqlite_group_init(s);
    pthread_mutex_init(&s->wal_lock, NULL);
    pthread_cond_init(&s->wal_grew, NULL);

    if (lock_file(s, err) != 0)
        goto fail;
    /*
     * The first connection migrates the schema, prepares its statements on
     * it and becomes the writer; readers' connections are opened on demand.
     */
    struct sqlite_conn *c;
    if (sqlite_conn_open(s, false, &c, err) != 0)
        goto fail;
    if (sqlite_migrate(s, c->db, err) != 0 || sqlite_conn_prepare(c, err) != 0) {
        sqlite_conn_close(c);
        goto fail;
    }
    s->wconn = c;
    s->has_checkpointer = pthread_create(&s->checkpointer, NULL, checkpoint_main, s) == 0;
    return &s->base;
fail:
    sqlite_close(&s->base);
    return NULL;
}
