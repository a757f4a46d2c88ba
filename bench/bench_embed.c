/*
 * bench_embed.c — the lexical embedder: sentences per second on one core
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
    {"what currency are amounts in", "All amounts are in EUR unless the currency column says otherwise",
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

int main(void)
{
    struct mr_err err;
    struct mr_embedder *e = mr_embed_lexical_new(0, &err);
    const char *sentence = "the orders table holds one row per customer order today";
    size_t len = strlen(sentence), dim = mr_embed_dim(e);
    float *out = malloc(dim * sizeof *out);
    int n = 200000;

    double t0 = now_s();
    unsigned long sum = 0;
    for (int i = 0; i < n; i++)
        for (size_t k = 0; k < len; k++)
            sum += (unsigned char)sentence[k] ^ (unsigned)i;
    double base = now_s() - t0;
    t0 = now_s();
    for (int i = 0; i < n; i++)
        mr_embed_one(e, sentence, len, out, &err);
    double emb = now_s() - t0;
    printf("bench_embed: %s, dimension %zu, one core\n", mr_embed_name(e), dim);
    printf("  10-word sentences/s: %.0f (%.2f us each); baseline byte pass %.0f/s (checksum %lu); "
           "ratio %.1fx slower\n",
           n / emb, emb / n * 1e6, n / base, sum, emb / base);

    double rel_min = 1, unrel_max = -1, rel_sum = 0, unrel_sum = 0;
    int top1 = 0;
    for (size_t i = 0; i < NT; i++) {
        double r = sim(e, triples[i][0], triples[i][1]), u = sim(e, triples[i][0], triples[i][2]);
        rel_sum += r;
        unrel_sum += u;
        rel_min = r < rel_min ? r : rel_min;
        unrel_max = u > unrel_max ? u : unrel_max;
        top1 += r > u;
    }
    printf("  %zu question/memory pairs: related mean %.3f (min %.3f), unrelated mean %.3f "
           "(max %.3f), related ranked first %d/%zu\n",
           NT, rel_sum / NT, rel_min, unrel_sum / NT, unrel_max, top1, NT);
    free(out);
    mr_embed_destroy(e);
    return 0;
}
