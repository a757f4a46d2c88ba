/*
 * The metrics registry and the request log's helpers (src/obs/): counts by
 * route, method and status; histograms whose buckets add up; bounded
 * labels; escaping in build_info; recording off; concurrent recording
 * losing nothing; the user tag and the request-id check.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memori/metrics.h"
#include "test.h"

/* The value of the sample named exactly `series` in text; -1 when absent. */
static double sample(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *l = text; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL)
        if (strncmp(l, series, n) == 0 && l[n] == ' ')
            return strtod(l + n + 1, NULL);
    return -1;
}

static char *render(void)
{
    struct mr_metrics_state st = {.version = "1.2.3", .store = "sqlite", .embedding_model = "m"};
    return mr_metrics_render(&st);
}

TEST(test_requests_counted_by_route_method_and_status)
{
    int a = mr_metrics_route("/t/a/{a_id}");
    CHECK(a >= 1);
    CHECK_INT(mr_metrics_route("/t/a/{a_id}"), a); /* the same label, the same id */
    mr_metrics_http(a, "GET", 200, 100);
    mr_metrics_http(a, "GET", 200, 3000);
    mr_metrics_http(a, "GET", 404, 20000000); /* past the last bucket: only in +Inf */
    mr_metrics_http(a, "POST", 201, 100);
    mr_metrics_http(a, "BREW", 418, 100);  /* a method no route has: "other" */
    mr_metrics_http(999, "GET", 200, 100); /* an id never registered: unmatched */
    char *t = render();
    CHECK(sample(t, "memori_http_requests_total{route=\"/t/a/{a_id}\",method=\"GET\",status="
                    "\"200\"}") == 2);
    CHECK(sample(t, "memori_http_requests_total{route=\"/t/a/{a_id}\",method=\"GET\",status="
                    "\"404\"}") == 1);
    CHECK(sample(t, "memori_http_requests_total{route=\"/t/a/{a_id}\",method=\"POST\",status="
                    "\"201\"}") == 1);
    CHECK(sample(t, "memori_http_requests_total{route=\"/t/a/{a_id}\",method=\"other\",status="
                    "\"418\"}") == 1);
    CHECK(sample(t, "memori_http_requests_total{route=\"unmatched\",method=\"GET\",status="
                    "\"200\"}") == 1);
    CHECK(strstr(t, "BREW") == NULL);
    const char *h = "memori_http_request_duration_seconds";
    char s[256];
    snprintf(s, sizeof s, "%s_count{route=\"/t/a/{a_id}\",method=\"GET\"}", h);
    CHECK(sample(t, s) == 3);
    snprintf(s, sizeof s, "%s_bucket{route=\"/t/a/{a_id}\",method=\"GET\",le=\"0.0005\"}", h);
    CHECK(sample(t, s) == 1);
    snprintf(s, sizeof s, "%s_bucket{route=\"/t/a/{a_id}\",method=\"GET\",le=\"0.005\"}", h);
    CHECK(sample(t, s) == 2);
    snprintf(s, sizeof s, "%s_bucket{route=\"/t/a/{a_id}\",method=\"GET\",le=\"10\"}", h);
    CHECK(sample(t, s) == 2);
    snprintf(s, sizeof s, "%s_bucket{route=\"/t/a/{a_id}\",method=\"GET\",le=\"+Inf\"}", h);
    CHECK(sample(t, s) == 3);
    snprintf(s, sizeof s, "%s_sum{route=\"/t/a/{a_id}\",method=\"GET\"}", h);
    CHECK_NEAR(sample(t, s), 20.0031, 1e-6);
    /* Every family says what it is. */
    CHECK(strstr(t, "# TYPE memori_http_requests_total counter\n"));
    CHECK(strstr(t, "# TYPE memori_http_request_duration_seconds histogram\n"));
    CHECK(strstr(t, "# TYPE memori_store_errors_total counter\n"));
    CHECK(strstr(t, "# HELP memori_embedding_cache_hits_total "));
    CHECK(strstr(
        t, "memori_build_info{version=\"1.2.3\",store=\"sqlite\",embedding_model=\"m\"} 1\n"));
    /* Without an in-process index, no index gauges at all (PostgreSQL). */
    CHECK(strstr(t, "memori_memories") == NULL);
    free(t);
}

TEST(test_more_statuses_than_slots_are_counted_as_other)
{
    int r = mr_metrics_route("/t/many");
    for (int st = 200; st < 220; st++)
        mr_metrics_http(r, "GET", st, 1);
    char *t = render();
    double total = 0;
    for (int st = 200; st < 220; st++) {
        char s[200];
        snprintf(s, sizeof s,
                 "memori_http_requests_total{route=\"/t/many\",method=\"GET\",status=\"%d\"}", st);
        double v = sample(t, s);
        total += v > 0 ? v : 0;
    }
    double other =
        sample(t, "memori_http_requests_total{route=\"/t/many\",method=\"GET\",status=\"other\"}");
    CHECK(other == 4);
    CHECK(total + other == 20);
    free(t);
}

TEST(test_counters_and_gauges_render)
{
    mr_metrics_add(MR_M_CACHE_HIT_MEMORY, 3);
    mr_metrics_add(MR_M_CACHE_MISS_REDIS, 2);
    mr_metrics_add(MR_M_STORE_ERRORS, 1);
    mr_metrics_embed_call(1500, false);
    mr_metrics_embed_call(2000000, true);
    struct mr_metrics_state st = {.version = "v\"1\\",
                                  .store = "sqlite",
                                  .embedding_model = "a\nb",
                                  .has_index = true,
                                  .memories = 7,
                                  .partitions = 2,
                                  .graphs_built = 1,
                                  .graphs_building = 1,
                                  .lexical_documents = 7,
                                  .lexical_bytes = 4096};
    char *t = mr_metrics_render(&st);
    CHECK(sample(t, "memori_embedding_cache_hits_total{level=\"memory\"}") == 3);
    CHECK(sample(t, "memori_embedding_cache_misses_total{level=\"redis\"}") == 2);
    CHECK(sample(t, "memori_store_errors_total") == 1);
    CHECK(sample(t, "memori_embedding_provider_calls_total") == 2);
    CHECK(sample(t, "memori_embedding_provider_errors_total") == 1);
    CHECK(sample(t, "memori_embedding_provider_duration_seconds_bucket{le=\"0.0025\"}") == 1);
    CHECK(sample(t, "memori_embedding_provider_duration_seconds_count") == 2);
    CHECK(sample(t, "memori_memories") == 7);
    CHECK(sample(t, "memori_index_partitions") == 2);
    CHECK(sample(t, "memori_hnsw_graphs{state=\"built\"}") == 1);
    CHECK(sample(t, "memori_hnsw_graphs{state=\"building\"}") == 1);
    CHECK(sample(t, "memori_lexical_index_bytes") == 4096);
    /* Label values escaped as the exposition format asks. */
    CHECK(strstr(t, "memori_build_info{version=\"v\\\"1\\\\\",store=\"sqlite\","
                    "embedding_model=\"a\\nb\"} 1\n"));
    free(t);
}

TEST(test_nothing_recorded_when_off)
{
    int r = mr_metrics_route("/t/off");
    char *before = render();
    double errors = sample(before, "memori_store_errors_total");
    free(before);
    mr_metrics_set_enabled(false);
    mr_metrics_http(r, "GET", 200, 1);
    mr_metrics_add(MR_M_STORE_ERRORS, 5);
    char *t = render();
    mr_metrics_set_enabled(true);
    CHECK(sample(t, "memori_http_requests_total{route=\"/t/off\",method=\"GET\",status=\"200\"}") ==
          -1);
    CHECK(sample(t, "memori_store_errors_total") == errors);
    free(t);
}

struct worker {
    int route, status;
};

static void *hammer(void *arg)
{
    const struct worker *w = arg;
    for (int i = 0; i < 20000; i++)
        mr_metrics_http(w->route, "PUT", w->status + i % 3, i % 5000);
    return NULL;
}

TEST(test_concurrent_recording_loses_nothing)
{
    int r = mr_metrics_route("/t/concurrent");
    pthread_t th[4];
    struct worker w[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (struct worker){r, 200 + 10 * (i % 2)}; /* two threads race for each status slot */
        CHECK(pthread_create(&th[i], NULL, hammer, &w[i]) == 0);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    char *t = render();
    double total = 0;
    int series = 0;
    for (int st = 200; st < 213; st++) {
        char s[200];
        snprintf(s, sizeof s,
                 "memori_http_requests_total{route=\"/t/concurrent\",method=\"PUT\",status=\"%d\"}",
                 st);
        double v = sample(t, s);
        if (v > 0) {
            total += v;
            series++;
        }
    }
    CHECK_INT(series, 6); /* each status in one slot, never two */
    CHECK(total == 80000);
    CHECK(sample(t, "memori_http_request_duration_seconds_count{route=\"/t/concurrent\",method="
                    "\"PUT\"}") == 80000);
    free(t);
}

TEST(test_user_tag_is_sha256_of_tenant_and_user)
{
    char tag[MR_USER_TAG_LEN];
    mr_obs_user_tag("default", "alice", tag);
    CHECK_STR(tag, "27a337361406"); /* sha256("default:alice")[:12], from Python's hashlib */
    mr_obs_user_tag("t2", "alice", tag);
    CHECK_STR(tag, "4d5f607370c1");
}

TEST(test_request_id_check)
{
    CHECK(mr_obs_request_id_ok("a"));
    CHECK(mr_obs_request_id_ok("0af7651916cd43dd8448eb211c80319c"));
    CHECK(!mr_obs_request_id_ok(NULL));
    CHECK(!mr_obs_request_id_ok(""));
    CHECK(!mr_obs_request_id_ok("two words"));
    CHECK(!mr_obs_request_id_ok("tab\there"));
    CHECK(!mr_obs_request_id_ok("caf\xc3\xa9"));
    char s[130];
    memset(s, 'x', 128);
    s[128] = '\0';
    CHECK(mr_obs_request_id_ok(s));
    s[128] = 'x';
    s[129] = '\0';
    CHECK(!mr_obs_request_id_ok(s));
}

TEST_MAIN("metrics", T(test_requests_counted_by_route_method_and_status),
          T(test_more_statuses_than_slots_are_counted_as_other), T(test_counters_and_gauges_render),
          T(test_nothing_recorded_when_off), T(test_concurrent_recording_loses_nothing),
          T(test_user_tag_is_sha256_of_tenant_and_user), T(test_request_id_check))
