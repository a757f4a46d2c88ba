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
 * id order) must be equal on both sides.
 */
#define _POSIX_C_SOURCE 200809L
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memori/cli.h"
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

static void tally_schema(struct tally *t, const struct mr_source_schema *s)
{
    char key[512];
    int n = snprintf(key, sizeof key, "%s/%lld", s->tenant_id, (long long)s->data_source_id);
    tally_add(t, key, n > 0 && (size_t)n < sizeof key ? (size_t)n : sizeof key - 1);
}

enum { T_CONV, T_MEM, T_SCHEMA, T_COUNT };
static const char *const table_names[T_COUNT] = {"conversations", "memories", "schemas"};

/*
 * Walks a store's three tables in one read transaction, tallying each.
 * foreign (may be NULL): rows it holds that `other` does not are counted in
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
    for (int64_t after = 0; rc == 0;) {
        struct mr_conversation *cs = NULL;
        size_t k = 0;
        if ((rc = mr_store_conv_page(tx, NULL, after, MIGRATE_BATCH, &cs, &k, err)) != 0)
            break;
        for (size_t i = 0; i < k; i++) {
            tally_add(&out[T_CONV], cs[i].conversation_id, strlen(cs[i].conversation_id));
            if (otx && rc == 0) {
                struct mr_conversation c;
                int g = mr_store_conv_get(otx, cs[i].conversation_id, &c, err);
                mr_conversation_clear(&c);
                if (g == MR_ENOTFOUND)
                    (*out_foreign)++;
                else if (g)
                    rc = g;
            }
            after = cs[i].id;
            mr_conversation_clear(&cs[i]);
        }
        free(cs);
        if (k < MIGRATE_BATCH)
            break;
    }
    for (int64_t after = 0; rc == 0;) {
        struct mr_memory *ms = NULL;
        size_t k = 0;
        if ((rc = mr_store_mem_page(tx, NULL, after, MIGRATE_BATCH, false, &ms, &k, err)) != 0)
            break;
        for (size_t i = 0; i < k; i++) {
            tally_add(&out[T_MEM], ms[i].memory_id, strlen(ms[i].memory_id));
            if (otx && rc == 0) {
                struct mr_memory m;
                int g = mr_store_mem_get(otx, ms[i].memory_id, &m, err);
                mr_memory_clear(&m);
                if (g == MR_ENOTFOUND)
                    (*out_foreign)++;
                else if (g)
                    rc = g;
            }
            after = ms[i].id;
            mr_memory_clear(&ms[i]);
        }
        free(ms);
        if (k < MIGRATE_BATCH)
            break;
    }
    char *after_tenant = NULL;
    int64_t after_ds = 0;
    while (rc == 0) {
        struct mr_source_schema *ss = NULL;
        size_t k = 0;
        if ((rc = mr_store_schema_page(tx, NULL, after_tenant, after_ds, MIGRATE_BATCH, &ss, &k,
                                       err)) != 0)
            break;
        for (size_t i = 0; i < k; i++) {
            tally_schema(&out[T_SCHEMA], &ss[i]);
            if (otx && rc == 0) {
                struct mr_source_schema o;
                int g = mr_store_schema_get(otx, ss[i].tenant_id, ss[i].data_source_id, &o, err);
                mr_source_schema_clear(&o);
                if (g == MR_ENOTFOUND)
                    (*out_foreign)++;
                else if (g)
                    rc = g;
            }
            free(after_tenant);
            after_tenant = mr_xstrdup(ss[i].tenant_id);
            after_ds = ss[i].data_source_id;
            mr_source_schema_clear(&ss[i]);
        }
        free(ss);
        if (k < MIGRATE_BATCH)
            break;
    }
    free(after_tenant);
    if (otx)
        mr_store_rollback(otx);
    if (tx)
        mr_store_rollback(tx);
    return rc;
}

struct copied {
    long long added[T_COUNT], present[T_COUNT];
};

/* Writes one batch of conversations into the target: one transaction. */
static int copy_conversations(struct mr_store *dst, struct mr_conversation *cs, size_t k,
                              struct copied *n, struct mr_err *err)
{
    struct mr_store_tx *tx;
    long long added = 0, present = 0;
    int rc = mr_store_begin(dst, MR_TX_WRITE, &tx, err);
    for (size_t i = 0; rc == 0 && i < k; i++) {
        struct mr_conversation have;
        rc = mr_store_conv_get(tx, cs[i].conversation_id, &have, err);
        mr_conversation_clear(&have);
        if (rc == 0) {
            present++;
        } else if (rc == MR_ENOTFOUND && (rc = mr_store_conv_restore(tx, &cs[i], err)) == 0) {
            added++;
        }
    }
    if (rc == 0 && (rc = mr_store_commit(tx, err)) == 0) {
        n->added[T_CONV] += added;
        n->present[T_CONV] += present;
    } else if (rc && tx) {
        mr_store_rollback(tx);
    }
    return rc;
}

static int copy_memories(struct mr_store *dst, struct mr_memory *ms, size_t k, struct copied *n,
                         struct mr_err *err)
{
    struct mr_store_tx *tx;
    long long added = 0, present = 0;
    int rc = mr_store_begin(dst, MR_TX_WRITE, &tx, err);
    for (size_t i = 0; rc == 0 && i < k; i++) {
        struct mr_memory have;
        rc = mr_store_mem_get(tx, ms[i].memory_id, &have, err);
        mr_memory_clear(&have);
        if (rc == 0)
            present++;
        else if (rc == MR_ENOTFOUND && (rc = mr_store_mem_restore(tx, &ms[i], err)) == 0)
            added++;
    }
    if (rc == 0 && (rc = mr_store_commit(tx, err)) == 0) {
        n->added[T_MEM] += added;
        n->present[T_MEM] += present;
    } else if (rc && tx) {
        mr_store_rollback(tx);
    }
    return rc;
}

static int copy_schemas(struct mr_store *dst, struct mr_source_schema *ss, size_t k,
                        struct copied *n, struct mr_err *err)
{
    struct mr_store_tx *tx;
    long long added = 0, present = 0;
    int rc = mr_store_begin(dst, MR_TX_WRITE, &tx, err);
    for (size_t i = 0; rc == 0 && i < k; i++) {
        struct mr_source_schema have;
        rc = mr_store_schema_get(tx, ss[i].tenant_id, ss[i].data_source_id, &have, err);
        mr_source_schema_clear(&have);
        if (rc == 0)
            present++;
        else if (rc == MR_ENOTFOUND && (rc = mr_store_schema_put(tx, &ss[i], err)) == 0)
            added++;
    }
    if (rc == 0 && (rc = mr_store_commit(tx, err)) == 0) {
        n->added[T_SCHEMA] += added;
        n->present[T_SCHEMA] += present;
    } else if (rc && tx) {
        mr_store_rollback(tx);
    }
    return rc;
}

/*
 * Copies every table, conversations first (memories reference them). Each
 * page is read in its own short read transaction, so the source is never
 * held for the whole copy; rows added to it meanwhile are copied if their
 * page is read after, and the verification says whether both sides agree.
 */
static int copy_all(struct mr_store *src, struct mr_store *dst, struct copied *n,
                    struct mr_err *err)
{
    int rc = 0;
    struct mr_store_tx *tx = NULL;
    for (int64_t after = 0; rc == 0;) {
        struct mr_conversation *cs = NULL;
        size_t k = 0;
        if ((rc = mr_store_begin(src, MR_TX_READ, &tx, err)) != 0)
            break;
        rc = mr_store_conv_page(tx, NULL, after, MIGRATE_BATCH, &cs, &k, err);
        mr_store_rollback(tx);
        if (rc == 0 && k)
            rc = copy_conversations(dst, cs, k, n, err);
        for (size_t i = 0; i < k; i++) {
            after = cs[i].id;
            mr_conversation_clear(&cs[i]);
        }
        free(cs);
        if (k < MIGRATE_BATCH)
            break;
    }
    for (int64_t after = 0; rc == 0;) {
        struct mr_memory *ms = NULL;
        size_t k = 0;
        if ((rc = mr_store_begin(src, MR_TX_READ, &tx, err)) != 0)
            break;
        rc = mr_store_mem_page(tx, NULL, after, MIGRATE_BATCH, true, &ms, &k, err);
        mr_store_rollback(tx);
        if (rc == 0 && k)
            rc = copy_memories(dst, ms, k, n, err);
        for (size_t i = 0; i < k; i++) {
            after = ms[i].id;
            mr_memory_clear(&ms[i]);
        }
        free(ms);
        if (k < MIGRATE_BATCH)
            break;
    }
    char *after_tenant = NULL;
    int64_t after_ds = 0;
    while (rc == 0) {
        struct mr_source_schema *ss = NULL;
        size_t k = 0;
        if ((rc = mr_store_begin(src, MR_TX_READ, &tx, err)) != 0)
            break;
        rc = mr_store_schema_page(tx, NULL, after_tenant, after_ds, MIGRATE_BATCH, &ss, &k, err);
        mr_store_rollback(tx);
        if (rc == 0 && k)
            rc = copy_schemas(dst, ss, k, n, err);
        for (size_t i = 0; i < k; i++) {
            free(after_tenant);
            after_tenant = mr_xstrdup(ss[i].tenant_id);
            after_ds = ss[i].data_source_id;
            mr_source_schema_clear(&ss[i]);
        }
        free(ss);
        if (k < MIGRATE_BATCH)
            break;
    }
    free(after_tenant);
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
               table_names[t], n.added[t], n.present[t], src_t[t].n, dst_t[t].n, src_t[t].x,
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
