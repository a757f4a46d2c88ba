/*
 * bench_embed.c — the built-in embedders: sentences per second on one core
 * (baseline: a plain pass over the same bytes, computing a checksum, so the
 * ratio says how much the embedding costs beyond reading the text), and the
 * similarity of related vs unrelated question/memory pairs that the default
 * MEMORY_MIN_SIMILARITY_THRESHOLD is chosen from (docs/embeddings.md).
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <stdio.h>

#include "../tests/support/http_client.h"
#include "memori/embed.h"
#include "memori/index.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* (question, a memory that answers it, a memory of the same schema that does not). */
static const char *const triples[][3] = {
    {"which table holds the orders?", "The orders table holds one row per customer order",
     "Prices are stored in cents as integers"},
    {"how do I join customers to orders", "orders.customer_id references customers.id",
     "Dates are stored in UTC"},
    {"what currency are amounts in",
     "All amounts are in EUR unless the currency column says otherwise",
     "The users table has one row per login"},
    {"does the user like subqueries?", "User prefers JOINs instead of subqueries",
     "Shipments belong to a warehouse"},
    {"where is revenue stored", "Revenue is the sum of order_items.price times quantity",
     "Employees report to a manager through manager_id"},
    {"how are refunds recorded", "Refunds are negative rows in the payments table",
     "Always alias tables with short names"},
    {"which column has the signup date", "users.created_at is the signup date",
     "Product categories form a tree via parent_id"},
    {"fiscal year start", "The fiscal year starts on April 1",
     "Never select star in production queries"},
    {"limit results", "Always add LIMIT 100 to exploratory queries",
     "Invoices link to orders by order_id"},
    {"region of a customer", "customers.region_code maps to regions.code",
     "Discounts are stored as fractions between 0 and 1"},
    {"what does status 3 mean in orders", "orders.status 3 means shipped",
     "The tax rate depends on the country"},
    {"how to count active users", "Active users have last_login within 30 days",
     "Suppliers deliver products to warehouses"},
};
#define NT (sizeof triples / sizeof triples[0])

static double sim(struct mr_embedder *e, const char *a, const char *b)
{
    size_t d = mr_embed_dim(e);
    float *x = malloc(d * sizeof *x), *y = malloc(d * sizeof *y);
    struct mr_err err;
    mr_embed_one(e, a, strlen(a), x, &err);
    mr_embed_one(e, b, strlen(b), y, &err);
    double s = mr_index_dot(x, y, d);
    free(x);
    free(y);
    return s;
}

static void run(struct mr_embedder *e, double base_per_s)
{
    struct mr_err err;
    const char *sentence = "the orders table holds one row per customer order today";
    size_t len = strlen(sentence), dim = mr_embed_dim(e);
    float *out = malloc(dim * sizeof *out);
    int n = 100000;
    double t0 = now_s();
    for (int i = 0; i < n; i++)
        mr_embed_one(e, sentence, len, out, &err);
    double emb = now_s() - t0;
    printf("%s (dimension %zu): %.0f 10-word sentences/s on one core (%.2f us each), %.0fx the "
           "baseline byte pass\n",
           mr_embed_name(e), dim, n / emb, emb / n * 1e6, base_per_s / (n / emb));
    double rel_min = 1, unrel_max = -1, rel_sum = 0, unrel_sum = 0;
    int top1 = 0, rel_in = 0, unrel_out = 0;
    /* The default the registry gives this model (src/embed/builtin.c). */
    double threshold = mr_embed_default_threshold(MR_PROVIDER_BUILTIN, mr_embed_name(e));
    for (size_t i = 0; i < NT; i++) {
        double r = sim(e, triples[i][0], triples[i][1]), u = sim(e, triples[i][0], triples[i][2]);
        rel_sum += r;
        unrel_sum += u;
        rel_min = r < rel_min ? r : rel_min;
        unrel_max = u > unrel_max ? u : unrel_max;
        top1 += r > u;
        rel_in += r >= threshold;
        unrel_out += u < threshold;
    }
    printf("  %zu question/memory pairs: related mean %.3f (min %.3f), unrelated mean %.3f "
           "(max %.3f), related ranked first %d/%zu\n",
           NT, rel_sum / NT, rel_min, unrel_sum / NT, unrel_max, top1, NT);
    printf("  default threshold %.2f: %d/%zu related pairs pass it, %d/%zu unrelated stay out\n",
           threshold, rel_in, NT, unrel_out, NT);
    free(out);
}

int main(int argc, char **argv)
{
    struct mr_err err;
    const char *sentence = "the orders table holds one row per customer order today";
    size_t len = strlen(sentence);
    int n = 200000;
    double t0 = now_s();
    unsigned long sum = 0;
    for (int i = 0; i < n; i++)
        for (size_t k = 0; k < len; k++)
            sum += (unsigned char)sentence[k] ^ (unsigned)i;
    double base = n / (now_s() - t0);
    printf("bench_embed: baseline (a checksum pass over the same bytes): %.0f sentences/s "
           "(checksum %lu)\n",
           base, sum);
    struct mr_embedder *lex = mr_embed_lexical_new(0, &err);
    run(lex, base);
    mr_embed_destroy(lex);
    const char *path = argc > 1 ? argv[1] : "models/" MR_SEMANTIC_FILE;
    t0 = now_s();
    struct mr_embedder *sem = mr_embed_semantic_open(path, &err);
    if (!sem) {
        fprintf(stderr, "bench_embed: %s\n", err.msg);
        return 1;
    }
    printf("%s: model file mapped and checked in %.1f ms\n", path, (now_s() - t0) * 1e3);
    long rss0 = proc_rss_kib(getpid());
    run(sem, base);
    printf("  RSS %ld KiB before the semantic model's first embedding, %ld KiB after the run "
           "(the file is mapped: only the pages of words used become resident)\n",
           rss0, proc_rss_kib(getpid()));
    mr_embed_destroy(sem);
    return 0;
}
