/*
 * bench_group.c — durable creates/s on SQLite with 1, 4 and 16 concurrent
 * writers, below HTTP, to show what bounds the HTTP figure (issue 15 item
 * 2, group commit; docs/perf.md "Group commit (issue 15)"):
 *
 *   service   mr_memory_create: the built-in model's embedding, the store
 *             transaction (the conversation read and touched, the memory
 *             inserted), the index insert — what a POST does without HTTP
 *   store     the same transaction with a ready vector: no embedding, no index
 *   store-lazy  that transaction committed without an fsync
 *               (MR_TX_WRITE_LAZY): the fsync's share
 *
 * Each row: creates/s, p50 and p99 of one create, and the commits per
 * fsync (writes / batches, mr_store_sqlite_group_stats). The writers share
 * the machine's cores with nothing but each other.
 *
 * usage: bench_group [--seconds S] [--model FILE]
 */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "bench_util.h"
#include "memori/embed.h"
#include "memori/service.h"
#include "memori/store.h"

enum kind { SERVICE, STORE, STORE_LAZY };
static const char *const kind_names[] = {"service", "store", "store-lazy"};
static const char CONV[] = "6f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
static const struct mr_identity who = {"bench", "default"};

struct run {
    enum kind kind;
    struct mr_service *svc;
    struct mr_store *store;
    size_t dim;
    double until;
};

struct worker {
    struct run *r;
    int id;
    double *lat;
    size_t n, cap;
    int errors;
};

static void die(const char *what, const struct mr_err *err)
{
    fprintf(stderr, "bench_group: %s: %s\n", what, err->msg);
    exit(1);
}

/* One create as the service's transaction makes it, on the store directly. */
static int store_create(struct run *r, const char *content, int mode, struct mr_err *err)
{
    struct mr_store_tx *tx;
    int rc = mr_store_begin(r->store, mode, &tx, err);
    if (rc)
        return rc;
    struct mr_conversation c;
    rc = mr_store_conv_get(tx, CONV, &c, err);
    if (rc == 0) {
        c.updated_at = c.last_activity_at = (int64_t)(now_s() * 1e6);
        rc = mr_store_conv_update(tx, &c, err);
        mr_conversation_clear(&c);
    }
    struct mr_memory m = {0};
    mr_uuid_v4(m.memory_id);
    memcpy(m.conversation_id, CONV, sizeof CONV);
    m.user_id = mr_xstrdup(who.user_id);
    m.tenant_id = mr_xstrdup(who.tenant_id);
    m.content = mr_xstrdup(content);
    m.memory_type = MR_ENTITY;
    m.dim = r->dim;
    m.embedding = mr_xcalloc(r->dim, sizeof(float));
    for (size_t i = 0; i < r->dim; i++) /* any vector: the store does not look at it */
        m.embedding[i] = (float)((i * 7 + strlen(content)) % 13) / 13.0f;
    m.importance_score = 0.5;
    m.last_accessed_at = m.expires_at = MR_NO_TIME;
    m.metadata = mr_xstrdup("{}");
    if (rc == 0)
        rc = mr_store_mem_insert(tx, &m, err);
    mr_memory_clear(&m);
    if (rc) {
        mr_store_rollback(tx);
        return rc;
    }
    return mr_store_commit(tx, err);
}

static void *work(void *arg)
{
    struct worker *w = arg;
    struct run *r = w->r;
    for (int i = 0; now_s() < r->until; i++) {
        char content[160];
        snprintf(content, sizeof content,
                 "The orders table links customers to revenue by order_id (writer %d, %d)", w->id,
                 i);
        struct mr_err err;
        double t0 = now_s();
        int rc;
        if (r->kind == SERVICE) {
            struct mr_memory_create in = {.content = content,
                                          .content_len = strlen(content),
                                          .memory_type = MR_ENTITY,
                                          .importance_score = 0.5,
                                          .expires_at = MR_NO_TIME};
            memcpy(in.conversation_id, CONV, sizeof CONV);
            struct mr_memory m;
            rc = mr_memory_create(r->svc, &who, &in, &m, &err);
            mr_memory_clear(&m);
        } else {
            rc = store_create(r, content, r->kind == STORE ? MR_TX_WRITE : MR_TX_WRITE_LAZY, &err);
        }
        if (rc && w->errors++ == 0)
            fprintf(stderr, "bench_group: a create failed: %s\n", err.msg);
        if (w->n == w->cap) {
            w->cap = w->cap ? w->cap * 2 : 4096;
            w->lat = realloc(w->lat, w->cap * sizeof *w->lat);
        }
        w->lat[w->n++] = now_s() - t0;
    }
    return NULL;
}

static void measure(struct run *r, int threads, double seconds)
{
    pthread_t th[16];
    struct worker w[16];
    struct mr_store_group_stats g0, g1;
    mr_store_sqlite_group_stats(r->store, &g0);
    double t0 = now_s();
    r->until = t0 + seconds;
    for (int i = 0; i < threads; i++) {
        w[i] = (struct worker){r, i, NULL, 0, 0, 0};
        pthread_create(&th[i], NULL, work, &w[i]);
    }
    size_t total = 0;
    int errors = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(th[i], NULL);
        total += w[i].n;
        errors += w[i].errors;
    }
    double elapsed = now_s() - t0;
    mr_store_sqlite_group_stats(r->store, &g1);
    double *all = malloc((total ? total : 1) * sizeof *all);
    size_t o = 0;
    for (int i = 0; i < threads; i++) {
        memcpy(all + o, w[i].lat, w[i].n * sizeof *all);
        o += w[i].n;
        free(w[i].lat);
    }
    qsort(all, total, sizeof *all, cmp_d);
    uint64_t batches = g1.batches - g0.batches, jobs = g1.jobs - g0.jobs;
    printf("| %-10s | %2d | %8.0f | %7.3f | %7.3f | %6.1f | %d |\n", kind_names[r->kind], threads,
           total / elapsed, total ? all[total / 2] * 1e3 : 0,
           total ? all[(size_t)(total * 0.99)] * 1e3 : 0,
           batches ? (double)jobs / (double)batches : 0, errors);
    free(all);
}

int main(int argc, char **argv)
{
    double seconds = 3;
    const char *model = "models/memori-wordnet-v1.bin";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--seconds"))
            seconds = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--model"))
            model = argv[i + 1];
    }
    struct mr_err err;
    char dir[] = "/tmp/bench-group-XXXXXX", path[256];
    if (!mkdtemp(dir)) {
        perror("bench_group: mkdtemp");
        return 1;
    }
    snprintf(path, sizeof path, "%s/memori.db", dir);
    struct mr_embed_spec spec = {.provider = MR_PROVIDER_BUILTIN, .model_path = model};
    struct mr_embedder *e = mr_embed_open(&spec, &err);
    if (!e)
        die("embedder", &err);
    struct mr_store *st = mr_store_sqlite_open(path, 4, &err);
    if (!st)
        die("store", &err);
    struct mr_index *ix = mr_index_new(mr_embed_dim(e));
    struct mr_service *svc = mr_service_new(&(struct mr_service_config){
        .store = st,
        .embedder = e,
        .index = ix,
        .short_term_expiry_days = 7,
        .archive_threshold_days = 30,
        .default_limit = 10,
    });
    /* The conversation every create goes into (the first create makes it). */
    struct mr_memory_create first = {.content = "first",
                                     .content_len = 5,
                                     .memory_type = MR_ENTITY,
                                     .importance_score = 0.5,
                                     .expires_at = MR_NO_TIME};
    memcpy(first.conversation_id, CONV, sizeof CONV);
    struct mr_memory m;
    if (mr_memory_create(svc, &who, &first, &m, &err))
        die("first create", &err);
    mr_memory_clear(&m);

    printf("bench_group: SQLite %s, %s (%zu dimensions), %.0f s per row, %ld cores\n", path,
           mr_embed_name(e), mr_embed_dim(e), seconds, sysconf(_SC_NPROCESSORS_ONLN));
    printf("| %-10s | %2s | %8s | %7s | %7s | %6s | %s |\n", "path", "T", "creates/s", "p50 ms",
           "p99 ms", "/fsync", "errors");
    printf("|---|---|---|---|---|---|---|\n");
    struct run r = {SERVICE, svc, st, mr_embed_dim(e), 0};
    static const int threads[] = {1, 4, 16};
    for (int k = SERVICE; k <= STORE_LAZY; k++)
        for (int t = 0; t < 3; t++) {
            r.kind = (enum kind)k;
            measure(&r, threads[t], seconds);
        }
    mr_service_free(svc);
    mr_index_destroy(ix);
    mr_store_close(st);
    mr_embed_destroy(e);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench_group: could not remove %s\n", dir);
    return 0;
}
