/*
 * snapshot.c — the index's graphs saved to a file and offered back to their
 * partitions as build seeds (the contract is in index.h). Plain stdio: the
 * graphs are written and read as a few large arrays each, which stdio's
 * buffering handles at disk speed.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "index_int.h"

#define MAGIC "MRIXSNP1"
#define BYTE_ORDER_MARK UINT32_C(0x01020304)
#define MAX_MODEL_NAME 1024
#define MAX_KEY 65536
/* A graph's smallest record: key length, a 1-byte key, the graph header. */
#define MIN_GRAPH_BYTES 53

struct file_header {
    char magic[8];
    uint32_t bom, dim, model_len, pad;
    uint64_t graphs;
};

char *mr_index_snapshot_path(const char *db_path)
{
    size_t n = strlen(db_path);
    char *p = mr_xmalloc(n + sizeof ".hnsw");
    memcpy(p, db_path, n);
    memcpy(p + n, ".hnsw", sizeof ".hnsw");
    return p;
}

/*
 * Calls fn for each partition that has a graph, with the partition's key
 * and the graph, under the read lock (writers wait; fn must not call into
 * the index). A non-zero return stops the walk.
 */
typedef int (*graph_fn)(void *arg, const char *key, const struct hnsw *g);
static void each_graph(struct ix *ix, graph_fn fn, void *arg)
{
    pthread_rwlock_rdlock(&ix->lock);
    for (size_t i = 0; i < ix->parts_cap; i++) {
        struct ix_part *p = ix->parts[i];
        if (p && p->graph && fn(arg, p->key, p->graph) != 0)
            break;
    }
    pthread_rwlock_unlock(&ix->lock);
}

/*
 * Offers g (owned by the index from now on) to the partition named key as
 * the starting point of its first build: the build then adds, drops and
 * replaces only the entries that differ from the graph. Returns false (and
 * frees g) when no such partition waits for a graph.
 */
static bool seed(struct ix *ix, const char *key, struct hnsw *g)
{
    pthread_rwlock_wrlock(&ix->lock);
    struct ix_part *p = ix_part_lookup(ix, key);
    bool taken = p && !p->graph && !p->building && !p->seed;
    if (taken)
        p->seed = g;
    pthread_rwlock_unlock(&ix->lock);
    if (!taken)
        hnsw_free(g);
    return taken;
}

struct saver {
    FILE *out;
    size_t graphs;
    bool failed;
};

static int save_graph(void *arg, const char *key, const struct hnsw *g)
{
    struct saver *s = arg;
    uint32_t klen = (uint32_t)strlen(key);
    if (fwrite(&klen, sizeof klen, 1, s->out) != 1 || fwrite(key, 1, klen, s->out) != klen ||
        hnsw_save(g, s->out) != 0) {
        s->failed = true;
        return -1;
    }
    s->graphs++;
    return 0;
}

/* Counts the graphs first: the header carries the number. */
static int count_graph(void *arg, const char *key, const struct hnsw *g)
{
    (void)key, (void)g;
    (*(size_t *)arg)++;
    return 0;
}

int mr_index_snapshot_save(struct mr_index *base, const char *path, const char *model, size_t dim,
                           size_t *out_graphs, struct mr_err *err)
{
    struct ix *ix = ix_of(base);
    *out_graphs = 0;
    size_t n = 0;
    each_graph(ix, count_graph, &n);
    if (n == 0)
        return 0; /* an older file may still seed a build that has not finished */
    size_t plen = strlen(path);
    char *tmp = mr_xmalloc(plen + sizeof ".tmp");
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp", sizeof ".tmp");
    FILE *out = fopen(tmp, "wb");
    if (!out) {
        mr_err_set(err, MR_EUNAVAIL, "cannot write the index snapshot %s: %s", tmp,
                   strerror(errno));
        free(tmp);
        return MR_EUNAVAIL;
    }
    struct file_header h = {.bom = BYTE_ORDER_MARK,
                            .dim = (uint32_t)dim,
                            .model_len = (uint32_t)strlen(model),
                            .graphs = n};
    memcpy(h.magic, MAGIC, sizeof h.magic);
    struct saver s = {out, 0, false};
    s.failed =
        fwrite(&h, sizeof h, 1, out) != 1 || fwrite(model, 1, h.model_len, out) != h.model_len;
    if (!s.failed)
        each_graph(ix, save_graph, &s);
    /* A graph that appeared between the count and the walk is left for the next save. */
    if (!s.failed && s.graphs != n) {
        h.graphs = s.graphs;
        s.failed = fseek(out, 0, SEEK_SET) != 0 || fwrite(&h, sizeof h, 1, out) != 1;
    }
    s.failed = s.failed || fflush(out) != 0 || fsync(fileno(out)) != 0;
    s.failed = (fclose(out) != 0) || s.failed;
    if (s.failed || rename(tmp, path) != 0) {
        mr_err_set(err, MR_EUNAVAIL, "cannot write the index snapshot %s: %s", path,
                   strerror(errno));
        unlink(tmp);
        free(tmp);
        return MR_EUNAVAIL;
    }
    free(tmp);
    *out_graphs = s.graphs;
    return 0;
}

int mr_index_snapshot_load(struct mr_index *base, const char *path, const char *model, size_t dim,
                           size_t *out_graphs, struct mr_err *err)
{
    struct ix *ix = ix_of(base);
    *out_graphs = 0;
    FILE *in = fopen(path, "rb");
    if (!in) {
        if (errno == ENOENT)
            return 0;
        return mr_err_set(err, MR_EINVAL, "cannot read the index snapshot %s: %s", path,
                          strerror(errno));
    }
    struct stat st;
    struct file_header h;
    char name[MAX_MODEL_NAME + 1];
    const char *why = NULL;
    if (fstat(fileno(in), &st) != 0 || fread(&h, sizeof h, 1, in) != 1 ||
        memcmp(h.magic, MAGIC, sizeof h.magic) != 0)
        why = "not a memori index snapshot";
    else if (h.bom != BYTE_ORDER_MARK)
        why = "written on a machine of another byte order";
    else if (h.model_len > MAX_MODEL_NAME || fread(name, 1, h.model_len, in) != h.model_len)
        why = "damaged header";
    if (!why) {
        name[h.model_len] = '\0';
        if (h.dim != dim || strcmp(name, model) != 0)
            why = "made with another embedding model";
    }
    /* A graph of n nodes holds n vectors: the file's size bounds every count in it. */
    size_t max_nodes = why ? 0 : (size_t)st.st_size / (dim * sizeof(float));
    struct hnsw **graphs = NULL;
    char **keys = NULL;
    size_t n = 0;
    if (!why && h.graphs > (uint64_t)st.st_size / MIN_GRAPH_BYTES)
        why = "damaged header";
    if (!why) {
        graphs = mr_xcalloc(h.graphs + 1, sizeof *graphs);
        keys = mr_xcalloc(h.graphs + 1, sizeof *keys);
    }
    /* Everything is read and checked before any graph is offered: a damaged file is refused whole.
     */
    for (; !why && n < h.graphs; n++) {
        uint32_t klen;
        if (fread(&klen, sizeof klen, 1, in) != 1 || klen == 0 || klen > MAX_KEY) {
            why = "damaged graph header";
            break;
        }
        keys[n] = mr_xmalloc((size_t)klen + 1);
        if (fread(keys[n], 1, klen, in) != klen || memchr(keys[n], '\0', klen)) {
            why = "damaged graph header";
            break;
        }
        keys[n][klen] = '\0';
        graphs[n] = hnsw_load(in, dim, max_nodes);
        if (!graphs[n]) {
            why = "damaged graph";
            break;
        }
    }
    if (!why && fgetc(in) != EOF)
        why = "trailing bytes";
    fclose(in);
    size_t taken = 0;
    for (size_t i = 0; i < h.graphs && graphs && i <= n; i++) {
        if (!why && graphs[i])
            taken += seed(ix, keys[i], graphs[i]);
        else
            hnsw_free(graphs[i]);
        free(keys[i]);
    }
    free(graphs);
    free(keys);
    if (why)
        return mr_err_set(err, MR_EINVAL, "index snapshot %s ignored: %s", path, why);
    *out_graphs = taken;
    return 0;
}
