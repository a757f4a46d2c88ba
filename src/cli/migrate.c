/*
 * migrate.c — `memori migrate` (cli.h): the configured store copied into
 * another (SQLite -> PostgreSQL and back).
 *
 * The source is only read (read transactions, its recorded model read
 * without recording one). The target takes the source's model, so `serve`
 * accepts it with the same configuration, and every row keeps its UUID and,
 * where the target has it free, its row id. Rows are copied in batches of
 * MIGRATE_BATCH, each one transaction on the target, so an interrupted run
 * (kill -9 included) leaves whole batches; the next run skips every row
 * whose UUID the target holds and copies the rest. The end is verified:
 * per table, the count and a checksum of the ids (the XOR and the sum of
 * each UUID's FNV-1a hash: order-free, so both sides are walked in their own
 * id order) must be equal on both sides. History events, which have no
 * UUID, are known by their memory, time, kind and actor instead; a copied
 * live memory gets its dedup key (mr_dedup_restore_key), so the target
 * catches duplicates of it as the source did.
 */
#define _POSIX_C_SOURCE 200809L
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memori/cli.h"
#include "memori/service.h"
#include "memori/util.h"

#define MIGRATE_BATCH 500

static const char migrate_usage[] =
    "usage: memori migrate --to postgresql://...|sqlite:///path [--merge]\n"
    "\n"
    "Copies the configured store (DATABASE_URL) into the target, in batches, then\n"
    "verifies both sides' counts and id checksums. Re-run it after an interruption:\n"
    "rows already copied are skipped. A target holding rows the source does not is\n"
    "refused unless --merge. The source is only read.\n";

/* One table's count and id checksum. */
struct tally {
    long long n;
    uint64_t x, sum;
};

static void tally_add(struct tally *t, const char *key, size_t len)
{
    uint64_t h = mr_fnv1a64(MR_FNV64_BASIS, key, len);
    t->n++;
    t->x ^= h;
    t->sum += h;
}

enum { T_CONV, T_MEM, T_HIST, T_SCHEMA, T_COUNT };

/* Where a table's walk is: the last row's id, or for schemas its (tenant, data source). */
struct cursor {
    int64_t id;
    char *tenant;
};

/*
 * One table as migrate walks it: a page of rows after the cursor, the key
 * the checksum hashes, a lookup of a row's key in another store
 * (MR_ENOTFOUND when absent) and its copy there. Rows are row_size bytes
 * each; every function takes the row by address.
 */
struct table {
    const char *name;
    size_t row_size;
    int (*page)(struct mr_store_tx *tx, const struct cursor *after, size_t limit, bool full,
                void **out, size_t *out_n, struct mr_err *err);
    size_t (*key)(const void *row, char *buf, size_t cap);
    int (*find)(struct mr_store_tx *tx, const void *row, struct mr_err *err);
    int (*put)(struct mr_store_tx *tx, void *row, struct mr_err *err);
    void (*advance)(struct cursor *c, const void *row);
    void (*clear)(void *row);
};

static size_t copy_key(const char *key, char *buf, size_t cap)
{
    size_t n = strlen(key);
    n = n < cap ? n : cap - 1;
    memcpy(buf, key, n);
    return n;
}

static int conv_page(struct mr_store_tx *tx, const struct cursor *after, size_t limit, bool full,
                     void **out, size_t *out_n, struct mr_err *err)
{
    (void)full;
    return mr_store_conv_page(tx, NULL, after->id, limit, (struct mr_conversation **)out, out_n,
                              err);
}
static size_t conv_key(const void *row, char *buf, size_t cap)
{
    return copy_key(((const struct mr_conversation *)row)->conversation_id, buf, cap);
}
static int conv_find(struct mr_store_tx *tx, const void *row, struct mr_err *err)
{
    struct mr_conversation c;
    int rc = mr_store_conv_get(tx, ((const struct mr_conversation *)row)->conversation_id, &c, err);
    mr_conversation_clear(&c);
    return rc;
}
static int conv_put(struct mr_store_tx *tx, void *row, struct mr_err *err)
{
    return mr_store_conv_restore(tx, row, err);
}
static void conv_advance(struct cursor *c, const void *row)
{
    c->id = ((const struct mr_conversation *)row)->id;
}
static void conv_clear(void *row)
{
    mr_conversation_clear(row);
}

/* Memories are read with their embeddings only when they are copied (full). */
static int mem_page(struct mr_store_tx *tx, const struct cursor *after, size_t limit, bool full,
                    void **out, size_t *out_n, struct mr_err *err)
{
    return mr_store_mem_page(tx, NULL, after->id, limit, full, (struct mr_memory **)out, out_n,
                             err);
}
static size_t mem_key(const void *row, char *buf, size_t cap)
{
    return copy_key(((const struct mr_memory *)row)->memory_id, buf, cap);
}
static int mem_find(struct mr_store_tx *tx, const void *row, struct mr_err *err)
{
    struct mr_memory m;
    int rc = mr_store_mem_get(tx, ((const struct mr_memory *)row)->memory_id, &m, err);
    mr_memory_clear(&m);
    return rc;
}
/* A copied memory gets its dedup key, so a create of its content on the target is a duplicate. */
static int mem_put(struct mr_store_tx *tx, void *row, struct mr_err *err)
{
    int rc = mr_store_mem_restore(tx, row, err);
    return rc ? rc : mr_dedup_restore_key(tx, row, err);
}
static void mem_advance(struct cursor *c, const void *row)
{
    c->id = ((const struct mr_memory *)row)->id;
}
static void mem_clear(void *row)
{
    mr_memory_clear(row);
}

/*
 * An event is known by its memory, time, kind and actor, not its id: a
 * target that held the id already gave it a fresh one.
 */
static int hist_page(struct mr_store_tx *tx, const struct cursor *after, size_t limit, bool full,
                     void **out, size_t *out_n, struct mr_err *err)
{
    (void)full;
    return mr_store_hist_page(tx, NULL, after->id, limit, (struct mr_history_event **)out, out_n,
                              err);
}
static size_t hist_key(const void *row, char *buf, size_t cap)
{
    const struct mr_history_event *e = row;
    int n = snprintf(buf, cap, "%s/%lld/%s/%s", e->memory_id, (long long)e->created_at, e->kind,
                     e->actor);
    return n > 0 && (size_t)n < cap ? (size_t)n : cap - 1;
}
int mr_cli_history_find(struct mr_store_tx *tx, const struct mr_history_event *e,
                        struct mr_err *err)
{
    int rc = MR_ENOTFOUND;
    int64_t offset = 0, total = 0;
    do {
        struct mr_history_event *v = NULL;
        size_t n = 0;
        int got = mr_store_hist_list(tx, e->memory_id, MIGRATE_BATCH, offset, &v, &n, &total, err);
        if (got)
            rc = got;
        for (size_t i = 0; i < n; i++) {
            if (rc == MR_ENOTFOUND && v[i].created_at == e->created_at &&
                strcmp(v[i].kind, e->kind) == 0 && strcmp(v[i].actor, e->actor) == 0)
                rc = 0;
            mr_history_event_clear(&v[i]);
        }
        free(v);
        offset += (int64_t)n;
        if (n == 0)
            break;
    } while (rc == MR_ENOTFOUND && offset < total);
    return rc;
}
static int hist_find(struct mr_store_tx *tx, const void *row, struct mr_err *err)
{
    return mr_cli_history_find(tx, row, err);
}
static int hist_put(struct mr_store_tx *tx, void *row, struct mr_err *err)
{
    return mr_store_hist_restore(tx, row, err);
}
static void hist_advance(struct cursor *c, const void *row)
{
    c->id = ((const struct mr_history_event *)row)->id;
}
static void hist_clear(void *row)
{
    mr_history_event_clear(row);
}

static int schema_page(struct mr_store_tx *tx, const struct cursor *after, size_t limit, bool full,
                       void **out, size_t *out_n, struct mr_err *err)
{
    (void)full;
    return mr_store_schema_page(tx, NULL, after->tenant, after->id, limit,
                                (struct mr_source_schema **)out, out_n, err);
}
static size_t schema_key(const void *row, char *buf, size_t cap)
{
    const struct mr_source_schema *s = row;
    int n = snprintf(buf, cap, "%s/%lld", s->tenant_id, (long long)s->data_source_id);
    return n > 0 && (size_t)n < cap ? (size_t)n : cap - 1;
}
static int schema_find(struct mr_store_tx *tx, const void *row, struct mr_err *err)
{
    const struct mr_source_schema *s = row;
    struct mr_source_schema o;
    int rc = mr_store_schema_get(tx, s->tenant_id, s->data_source_id, &o, err);
    mr_source_schema_clear(&o);
    return rc;
}
static int schema_put(struct mr_store_tx *tx, void *row, struct mr_err *err)
{
    return mr_store_schema_put(tx, row, err);
}
static void schema_advance(struct cursor *c, const void *row)
{
    const struct mr_source_schema *s = row;
    free(c->tenant);
    c->tenant = mr_xstrdup(s->tenant_id);
    c->id = s->data_source_id;
}
static void schema_clear(void *row)
{
    mr_source_schema_clear(row);
}

/* In copy order: conversations first (memories reference them), history after memories. */
static const struct table tables[T_COUNT] = {
    {"conversations", sizeof(struct mr_conversation), conv_page, conv_key, conv_find, conv_put,
     conv_advance, conv_clear},
    {"memories", sizeof(struct mr_memory), mem_page, mem_key, mem_find, mem_put, mem_advance,
     mem_clear},
    {"history", sizeof(struct mr_history_event), hist_page, hist_key, hist_find, hist_put,
     hist_advance, hist_clear},
    {"schemas", sizeof(struct mr_source_schema), schema_page, schema_key, schema_find, schema_put,
     schema_advance, schema_clear},
};

/*
 * Reads one page of t after *c in tx (or, tx NULL, in its own short read
 * transaction of s), moving *c past it. *out_n < MIGRATE_BATCH is the last.
 */
static int read_page(struct mr_store *s, struct mr_store_tx *tx, const struct table *t,
                     struct cursor *c, bool full, void **out, size_t *out_n, struct mr_err *err)
{
    struct mr_store_tx *own = NULL;
    *out = NULL;
    *out_n = 0;
    if (!tx) {
        int rc = mr_store_begin(s, MR_TX_READ, &own, err);
        if (rc)
            return rc;
        tx = own;
    }
    int rc = t->page(tx, c, MIGRATE_BATCH, full, out, out_n, err);
    if (own)
        mr_store_rollback(own);
    if (rc == 0 && *out_n)
        t->advance(c, (char *)*out + (*out_n - 1) * t->row_size);
    return rc;
}

static void free_page(const struct table *t, void *rows, size_t k)
{
    for (size_t i = 0; i < k; i++)
        t->clear((char *)rows + i * t->row_size);
    free(rows);
}

/*
 * Walks a store's tables in one read transaction, tallying each.
 * other (may be NULL): rows s holds that `other` does not are counted in
 * *out_foreign (the --merge check).
 */
static int walk(struct mr_store *s, struct tally out[T_COUNT], struct mr_store *other,
                long long *out_foreign, struct mr_err *err)
{
    struct mr_store_tx *tx = NULL, *otx = NULL;
    int rc = mr_store_begin(s, MR_TX_READ, &tx, err);
    if (rc == 0 && other)
        rc = mr_store_begin(other, MR_TX_READ, &otx, err);
    memset(out, 0, T_COUNT * sizeof *out);
    for (int ti = 0; ti < T_COUNT && rc == 0; ti++) {
        const struct table *t = &tables[ti];
        struct cursor c = {0};
        for (size_t k = MIGRATE_BATCH; rc == 0 && k == MIGRATE_BATCH;) {
            void *rows;
            if ((rc = read_page(s, tx, t, &c, false, &rows, &k, err)) != 0)
                break;
            for (size_t i = 0; i < k; i++) {
                const void *row = (char *)rows + i * t->row_size;
                char key[512];
                tally_add(&out[ti], key, t->key(row, key, sizeof key));
                int g = otx && rc == 0 ? t->find(otx, row, err) : 0;
                if (g == MR_ENOTFOUND)
                    (*out_foreign)++;
                else if (g)
                    rc = g;
            }
            free_page(t, rows, k);
        }
        free(c.tenant);
    }
    if (otx)
        mr_store_rollback(otx);
    if (tx)
        mr_store_rollback(tx);
    return rc;
}

struct copied {
    long long added[T_COUNT], present[T_COUNT];
};

/* Writes one page of table ti into the target: one transaction, rows it holds skipped. */
static int copy_page(struct mr_store *dst, int ti, void *rows, size_t k, struct copied *n,
                     struct mr_err *err)
{
    const struct table *t = &tables[ti];
    struct mr_store_tx *tx;
    long long added = 0, present = 0;
    int rc = mr_store_begin(dst, MR_TX_WRITE, &tx, err);
    for (size_t i = 0; rc == 0 && i < k; i++) {
        void *row = (char *)rows + i * t->row_size;
        rc = t->find(tx, row, err);
        if (rc == 0)
            present++;
        else if (rc == MR_ENOTFOUND && (rc = t->put(tx, row, err)) == 0)
            added++;
    }
    if (rc == 0 && (rc = mr_store_commit(tx, err)) == 0) {
        n->added[ti] += added;
        n->present[ti] += present;
    } else if (rc && tx) {
        mr_store_rollback(tx);
    }
    return rc;
}

/*
 * Copies every table in order. Each page is read in its own short read
 * transaction, so the source is never held for the whole copy; rows added
 * to it meanwhile are copied if their page is read after, and the
 * verification says whether both sides agree.
 */
static int copy_all(struct mr_store *src, struct mr_store *dst, struct copied *n,
                    struct mr_err *err)
{
    int rc = 0;
    for (int ti = 0; ti < T_COUNT && rc == 0; ti++) {
        struct cursor c = {0};
        for (size_t k = MIGRATE_BATCH; rc == 0 && k == MIGRATE_BATCH;) {
            void *rows;
            rc = read_page(src, NULL, &tables[ti], &c, true, &rows, &k, err);
            if (rc == 0 && k)
                rc = copy_page(dst, ti, rows, k, n, err);
            free_page(&tables[ti], rows, k);
        }
        free(c.tenant);
    }
    return rc;
}

/* The store's recorded model; *out_model NULL when it records none. */
static int read_model(struct mr_store *s, char **out_model, size_t *out_dim, struct mr_err *err)
{
    struct mr_store_tx *tx;
    int rc = mr_store_begin(s, MR_TX_READ, &tx, err);
    if (rc)
        return rc;
    rc = mr_store_model_get(tx, out_model, out_dim, err);
    mr_store_rollback(tx);
    return rc;
}

/* Opens the target named by url: postgresql://… or sqlite:///path (DATABASE_URL's forms). */
static struct mr_store *open_target(const struct mr_config *cfg, const char *url,
                                    struct mr_err *err)
{
    static const char *const sqlite_schemes[] = {"sqlite:///", "sqlite+aiosqlite:///",
                                                 "sqlite+pysqlite:///"};
    if (mr_store_is_postgres_url(url))
        return mr_store_postgres_open(url, 2, 0, cfg->hnsw_ef_search, err);
    for (size_t i = 0; i < sizeof sqlite_schemes / sizeof *sqlite_schemes; i++) {
        size_t n = strlen(sqlite_schemes[i]);
        if (strncmp(url, sqlite_schemes[i], n) == 0 && url[n]) {
            /* sqlite:///./x.db is relative, sqlite:////abs/x.db absolute, as DATABASE_URL. */
            char *path = mr_xstrndup(url + n, strcspn(url + n, "?"));
            struct mr_store *s = mr_store_sqlite_open(path, 2, err);
            free(path);
            return s;
        }
    }
    mr_err_set(err, MR_EINVAL,
               "--to must be postgresql://user:password@host:port/db or sqlite:///path.db");
    return NULL;
}

int mr_cli_migrate(int argc, char **argv, mr_cli_open_fn open, void *arg)
{
    const char *to = NULL;
    bool merge = false;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--merge") == 0)
            merge = true;
        else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            fputs(migrate_usage, stdout);
            return 0;
        } else if (strcmp(argv[i], "--to") == 0 && i + 1 < argc && *argv[i + 1])
            to = argv[++i];
        else {
            fprintf(stderr, "memori migrate: %s %s\n%s", argv[i],
                    strcmp(argv[i], "--to") == 0 ? "needs a value" : "is not an option",
                    migrate_usage);
            return 2;
        }
    }
    if (!to) {
        fprintf(stderr, "memori migrate: --to is required\n%s", migrate_usage);
        return 2;
    }
    struct mr_cli_parts parts = {0};
    int rc = open(arg, false, &parts);
    if (rc)
        return rc;
    struct mr_err err = {0};
    struct mr_store *dst = open_target(parts.cfg, to, &err);
    char *model = NULL, *dst_model = NULL;
    size_t dim = 0, dst_dim = 0;
    struct tally src_t[T_COUNT], dst_t[T_COUNT];
    struct copied n = {0};
    long long foreign = 0;
    if (!dst) {
        fprintf(stderr, "memori migrate: the target: %s\n", err.msg);
        return 2;
    }
    if (read_model(parts.store, &model, &dim, &err) != 0 ||
        read_model(dst, &dst_model, &dst_dim, &err) != 0) {
        fprintf(stderr, "memori migrate: %s\n", err.msg);
        rc = 1;
        goto out;
    }
    if (model && dst_model && (strcmp(model, dst_model) != 0 || dim != dst_dim)) {
        fprintf(stderr,
                "memori migrate: the target records model %s (dimension %zu), the source %s "
                "(dimension %zu): vectors cannot be copied between them; migrate into an empty "
                "database, or export and import with --reembed\n",
                dst_model, dst_dim, model, dim);
        rc = 2;
        goto out;
    }
    /* A resumed run finds its own rows there; rows of another database are refused. */
    if (walk(dst, dst_t, parts.store, &foreign, &err) != 0) {
        fprintf(stderr, "memori migrate: reading the target: %s\n", err.msg);
        rc = 1;
        goto out;
    }
    if (foreign && !merge) {
        fprintf(stderr,
                "memori migrate: the target already holds %lld rows that are not in the source "
                "(another database's data); refusing to mix them (--merge copies into it "
                "anyway, keeping its rows)\n",
                foreign);
        rc = 2;
        goto out;
    }
    /* The target records the source's model, so `serve` opens it with the same settings. */
    if (model && !dst_model && mr_store_check_model(dst, model, dim, &err) != 0) {
        fprintf(stderr, "memori migrate: recording the model on the target: %s\n", err.msg);
        rc = 1;
        goto out;
    }
    if (copy_all(parts.store, dst, &n, &err) != 0) {
        fprintf(stderr, "memori migrate: copying stopped: %s; run it again to resume\n", err.msg);
        rc = 1;
        goto out;
    }
    if (walk(parts.store, src_t, NULL, NULL, &err) != 0 ||
        walk(dst, dst_t, NULL, NULL, &err) != 0) {
        fprintf(stderr, "memori migrate: verifying: %s\n", err.msg);
        rc = 1;
        goto out;
    }
    /* With --merge the target holds more: every source row must be there, checked by lookup. */
    long long missing = 0;
    if (merge && walk(parts.store, src_t, dst, &missing, &err) != 0) {
        fprintf(stderr, "memori migrate: verifying: %s\n", err.msg);
        rc = 1;
        goto out;
    }
    for (int t = 0; t < T_COUNT; t++) {
        bool ok = merge ? true
                        : src_t[t].n == dst_t[t].n && src_t[t].x == dst_t[t].x &&
                              src_t[t].sum == dst_t[t].sum;
        printf("%s: copied %lld, already there %lld; source %lld, target %lld, checksum "
               "%016" PRIx64 "%016" PRIx64 " %s\n",
               tables[t].name, n.added[t], n.present[t], src_t[t].n, dst_t[t].n, src_t[t].x,
               src_t[t].sum, ok ? "verified" : "MISMATCH");
        if (!ok)
            rc = 1;
    }
    if (merge && missing) {
        printf("%lld source rows are missing from the target\n", missing);
        rc = 1;
    }
    if (rc)
        fprintf(stderr, "memori migrate: verification failed: the source changed while copying, "
                        "or the target was written meanwhile; run it again\n");
    else
        printf("migration verified%s\n", merge ? " (merged into the target's rows)" : "");
out:
    free(model);
    free(dst_model);
    mr_store_close(dst);
    return rc;
}
