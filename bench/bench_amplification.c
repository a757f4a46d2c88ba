/*
 * bench_amplification.c — the probe's amplification case (issue 13): a small
 * search whose answer holds many memories with large metadata, asked by
 * several clients at once. It stores MEMORIES memories, each with metadata
 * of METADATA_BYTES (a table's columns, as schema memories carry: many small
 * objects), measures the server's RSS at rest, then has CLIENTS clients each
 * run ROUNDS searches that match every memory (limit 100, min_similarity 0)
 * while RSS is sampled every 10 ms. Prints the answer's size, its results
 * and "truncated", the search latency, and RSS idle → peak (and the ratio):
 * the bound on one answer (MEMORI_MAX_RESPONSE_BYTES) and the item-by-item
 * encoder keep the peak within 2 × the idle RSS.
 *
 * usage: bench_amplification [METADATA_BYTES [MEMORIES [CLIENTS [ROUNDS]]]]
 *        (defaults 61440 100 4 5). MEMORI_BIN picks the server binary, so the
 *        same probe runs against an older build; a memory the server refuses
 *        (413 past MEMORI_MAX_METADATA_BYTES) is counted, not stored.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../tests/support/http_client.h"
#include "memori/clock.h"

#define CONV "0a0a0a0a-4e5f-4a6b-8c7d-9e0f1a2b3c4d"

static struct server srv;
static int rounds;
static atomic_long answer_bytes, answers, results_seen, truncated_seen, failed;
static double *latency_ms;
static atomic_int latency_n;

/* A create body whose metadata is about metadata_bytes of column descriptions. */
static char *memory_body(int i, size_t metadata_bytes)
{
    size_t cap = metadata_bytes + 1024;
    char *b = malloc(cap);
    int n = snprintf(b, cap,
                     "{\"content\":\"table sales_%d: revenue per region and quarter\","
                     "\"memory_type\":\"entity\",\"conversation_id\":\"" CONV "\","
                     "\"metadata\":{\"kind\":\"table\",\"columns\":[",
                     i);
    size_t start = (size_t)n;
    for (int c = 0; (size_t)n - start + 120 < metadata_bytes; c++)
        n += snprintf(b + n, cap - (size_t)n,
                      "%s{\"name\":\"column_%05d\",\"type\":\"numeric(12,2)\",\"description\":"
                      "\"amount in the region's currency\"}",
                      c ? "," : "", c);
    snprintf(b + n, cap - (size_t)n, "]}}");
    return b;
}

static void *client(void *arg)
{
    (void)arg;
    for (int k = 0; k < rounds; k++) {
        struct resp r;
        int64_t t0 = mr_monotonic_us();
        int rc = http(&srv, "POST", "/api/memories/search", "amp",
                      "{\"query\":\"revenue per region\",\"limit\":100,\"min_similarity\":0}",
                      SIZE_MAX, &r);
        double ms = (mr_monotonic_us() - t0) / 1000.0;
        if (rc != 0 || r.status != 200) {
            atomic_fetch_add(&failed, 1);
        } else {
            atomic_fetch_add(&answer_bytes, (long)strlen(r.body));
            atomic_fetch_add(&answers, 1);
            atomic_fetch_add(&results_seen,
                             (long)json_array_size(json_object_get(r.json, "results")));
            atomic_fetch_add(&truncated_seen, json_is_true(json_object_get(r.json, "truncated")));
            latency_ms[atomic_fetch_add(&latency_n, 1)] = ms;
        }
        resp_free(&r);
    }
    return NULL;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    size_t metadata_bytes = argc > 1 ? strtoul(argv[1], NULL, 10) : 61440;
    int memories = argc > 2 ? atoi(argv[2]) : 100;
    int clients = argc > 3 ? atoi(argv[3]) : 4;
    rounds = argc > 4 ? atoi(argv[4]) : 5;
    signal(SIGPIPE, SIG_IGN);
    char db[] = "/tmp/memori-bench-amplification.db";
    remove(db);
    if (server_start(&srv, db, NULL) != 0) {
        fprintf(stderr, "bench_amplification: server did not start (run make first)\n");
        return 1;
    }
    long rss_start = proc_rss_kib(srv.pid);
    int stored = 0, refused = 0;
    for (int i = 0; i < memories; i++) {
        char *body = memory_body(i, metadata_bytes);
        struct resp r;
        http(&srv, "POST", "/api/memories", "amp", body, SIZE_MAX, &r);
        stored += r.status == 201;
        refused += r.status == 413;
        resp_free(&r);
        free(body);
    }
    /* At rest: the data stored and one small search served, then a pause. */
    struct resp w;
    http(&srv, "POST", "/api/memories/search", "amp", "{\"query\":\"revenue\",\"limit\":1}",
         SIZE_MAX, &w);
    resp_free(&w);
    usleep(500 * 1000);
    long rss_idle = proc_rss_kib(srv.pid), rss_peak = rss_idle;

    latency_ms = calloc((size_t)(clients * rounds), sizeof *latency_ms);
    pthread_t *th = malloc((size_t)clients * sizeof *th);
    int64_t t0 = mr_monotonic_us();
    for (int i = 0; i < clients; i++)
        pthread_create(&th[i], NULL, client, NULL);
    /* Sample while the clients run: done when every answer (or failure) is in. */
    while (atomic_load(&answers) + atomic_load(&failed) < (long)clients * rounds) {
        long rss = proc_rss_kib(srv.pid);
        rss_peak = rss > rss_peak ? rss : rss_peak;
        usleep(10 * 1000);
    }
    for (int i = 0; i < clients; i++)
        pthread_join(th[i], NULL);
    double wall_s = (mr_monotonic_us() - t0) / 1e6;
    usleep(500 * 1000);
    long rss_after = proc_rss_kib(srv.pid);
    int n = atomic_load(&latency_n);
    qsort(latency_ms, (size_t)n, sizeof *latency_ms, cmp_d);
    long a = atomic_load(&answers);
    printf("bench_amplification: %d memories of %zu metadata bytes (%d stored, %d refused 413); "
           "%d clients x %d searches (limit 100, every memory matches), %.1f s\n",
           memories, metadata_bytes, stored, refused, clients, rounds, wall_s);
    printf("  answer: %.0f bytes, %.1f results, truncated in %ld of %ld, %ld failed; search p50 "
           "%.1f ms, worst %.1f ms\n",
           a ? (double)atomic_load(&answer_bytes) / (double)a : 0.0,
           a ? (double)atomic_load(&results_seen) / (double)a : 0.0, atomic_load(&truncated_seen),
           a, atomic_load(&failed), n ? latency_ms[n / 2] : 0.0, n ? latency_ms[n - 1] : 0.0);
    printf("  server RSS: %ld KiB at start, %ld KiB at rest with the data, peak %ld KiB during the "
           "searches (%.2f x rest), %ld KiB after\n",
           rss_start, rss_idle, rss_peak, (double)rss_peak / (double)rss_idle, rss_after);
    free(th);
    free(latency_ms);
    server_stop(&srv, SIGTERM);
    remove(db);
    return 0;
}
