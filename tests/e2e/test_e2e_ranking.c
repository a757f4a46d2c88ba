/*
 * End-to-end tests of ranking (DESIGN.md §8, issue 14) over HTTP: the search
 * body's `mode`, `scores` on every result, min_similarity on the fused score,
 * the 422 of a bad mode, queries and memories without a lexical term, and
 * the built-in model's v1 → v2 migration, neighbour context. Run on both stores (the
 * PostgreSQL e2e list in the Makefile): the same answers on each.
 */
#define _GNU_SOURCE
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_client.h"
#include "test.h"

#define CONV "6f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"

static struct server srv;

static bool start_with(char *const *env)
{
    return server_start_fresh(&srv, "ranking", env) == 0;
}

static void stop(void)
{
    server_stop_checked(&srv);
}

static bool create_memory(const char *content, const char *type, char *id)
{
    char body[2048];
    snprintf(body, sizeof body,
             "{\"content\":\"%s\",\"memory_type\":\"%s\",\"conversation_id\":\"%s\"}", content,
             type, CONV);
    struct resp r;
    bool ok =
        http(&srv, "POST", "/api/memories", "alice", body, SIZE_MAX, &r) == 0 && r.status == 201;
    if (ok && id)
        snprintf(id, 37, "%s", jstr(r.json, "memory_id"));
    if (!ok)
        fprintf(stdout, "    create failed: %ld %s\n", r.status, r.body);
    resp_free(&r);
    return ok;
}

/* POST /api/memories/search with body; 0 when a response came (status in r). */
static int search(const char *body, struct resp *r)
{
    return http(&srv, "POST", "/api/memories/search", "alice", body, SIZE_MAX, r);
}

static const json_t *results(const struct resp *r)
{
    return json_object_get(r->json, "results");
}

static double side(const json_t *result, const char *name)
{
    return jnum(json_object_get(result, "scores"), name);
}

/* Every result has similarity_score and both scores in [0, 1], the fused one non-increasing. */
static bool scores_well_formed(const struct resp *r)
{
    const json_t *res = results(r);
    double prev = 2;
    for (size_t i = 0; i < json_array_size(res); i++) {
        const json_t *x = json_array_get(res, i);
        const json_t *scores = json_object_get(x, "scores");
        if (!json_is_object(scores) || !json_is_number(json_object_get(scores, "semantic")) ||
            !json_is_number(json_object_get(scores, "lexical")))
            return false;
        double s = jnum(x, "similarity_score"), sem = side(x, "semantic"), lex = side(x, "lexical");
        if (!(s >= 0 && s <= 1 && sem >= 0 && sem <= 1 && lex >= 0 && lex <= 1 && s <= prev))
            return false;
        prev = s;
    }
    return true;
}

static const char *const MEMORIES[][2] = {
    {"The fct_order_line table holds one row per order line", "entity"},
    {"fct_order_line_hist keeps the history of every order line change", "entity"},
    {"Always format dates as ISO 8601 in every report", "rule"},
    {"Revenue is recognised when the invoice is paid, not when it is sent", "rule"},
    {"The customers table joins to orders through customer_id", "relationship"},
    {"Employees report to a manager through manager_id", "relationship"},
};
#define N_MEMORIES (sizeof MEMORIES / sizeof MEMORIES[0])

static bool create_all(char ids[N_MEMORIES][37])
{
    for (size_t i = 0; i < N_MEMORIES; i++)
        if (!create_memory(MEMORIES[i][0], MEMORIES[i][1], ids[i]))
            return false;
    return true;
}

TEST(test_search_modes_return_both_scores)
{
    CHECK(start_with(NULL));
    char ids[N_MEMORIES][37];
    CHECK(create_all(ids));
    struct resp r;
    /* Default: hybrid; an exact identifier ranks first by its lexical score. */
    CHECK(search("{\"query\":\"fct_order_line\",\"min_similarity\":0}", &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK(scores_well_formed(&r));
    CHECK_INT(jint(r.json, "total"), (long long)N_MEMORIES);
    const json_t *top = json_array_get(results(&r), 0);
    CHECK_STR(jstr(r.json, "mode"), "hybrid");
    CHECK_STR(jstr(top, "memory_id"), ids[0]);
    CHECK(side(top, "lexical") > side(json_array_get(results(&r), 1), "lexical"));
    /*
     * The fused score with the built-in model's lexical weight (0.7,
     * mr_embed_default_lexical_weight), rounded to 4 places.
     */
    CHECK_NEAR(jnum(top, "similarity_score"),
               0.3 * side(top, "semantic") + 0.7 * side(top, "lexical"), 1.5e-4);
    resp_free(&r);

    /* Semantic: the score is the semantic one; the lexical one is still reported. */
    CHECK(search("{\"query\":\"fct_order_line\",\"min_similarity\":0,\"mode\":\"semantic\"}", &r) ==
          0);
    CHECK_INT(r.status, 200);
    CHECK(scores_well_formed(&r));
    CHECK_STR(jstr(r.json, "mode"), "semantic");
    bool lexical_reported = false;
    for (size_t i = 0; i < json_array_size(results(&r)); i++) {
        const json_t *x = json_array_get(results(&r), i);
        CHECK_NEAR(jnum(x, "similarity_score"), side(x, "semantic"), 0);
        lexical_reported |= side(x, "lexical") > 0;
    }
    CHECK(lexical_reported);
    resp_free(&r);

    /*
     * Lexical: only memories sharing a term (manager_id gives manag, id and
     * manager_id; customer_id shares id), scored by BM25 alone.
     */
    CHECK(search("{\"query\":\"manager_id\",\"min_similarity\":0,\"mode\":\"lexical\"}", &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK(scores_well_formed(&r));
    CHECK_STR(jstr(r.json, "mode"), "lexical");
    CHECK_INT(jint(r.json, "total"), 2);
    CHECK_STR(jstr(json_array_get(results(&r), 0), "memory_id"), ids[5]);
    CHECK_STR(jstr(json_array_get(results(&r), 1), "memory_id"), ids[4]);
    for (size_t i = 0; i < 2; i++) {
        const json_t *x = json_array_get(results(&r), i);
        CHECK_NEAR(jnum(x, "similarity_score"), side(x, "lexical"), 0);
    }
    resp_free(&r);
    stop();
}

TEST(test_min_similarity_filters_on_the_fused_score)
{
    CHECK(start_with(NULL));
    char ids[N_MEMORIES][37];
    CHECK(create_all(ids));
    struct resp r;
    const char *q = "which table holds order lines";
    char body[256];
    snprintf(body, sizeof body, "{\"query\":\"%s\",\"min_similarity\":0}", q);
    CHECK(search(body, &r) == 0);
    CHECK_INT(r.status, 200);
    size_t n = json_array_size(results(&r));
    CHECK(n >= 3);
    /* A cut between the second and the third fused scores keeps exactly two. */
    double s2 = jnum(json_array_get(results(&r), 1), "similarity_score");
    double s3 = jnum(json_array_get(results(&r), 2), "similarity_score");
    resp_free(&r);
    CHECK(s2 > s3);
    snprintf(body, sizeof body, "{\"query\":\"%s\",\"min_similarity\":%.6f}", q, (s2 + s3) / 2);
    CHECK(search(body, &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK_INT(jint(r.json, "total"), 2);
    for (size_t i = 0; i < json_array_size(results(&r)); i++)
        CHECK(jnum(json_array_get(results(&r), i), "similarity_score") >= (s2 + s3) / 2);
    resp_free(&r);
    /* Nothing reaches 1 in hybrid: BM25's normalised score stays below 1. */
    CHECK(search("{\"query\":\"fct_order_line\",\"min_similarity\":1}", &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK_INT(jint(r.json, "total"), 0);
    resp_free(&r);
    /* The default threshold is hybrid's (0.175 for memori-wordnet-v2): unrelated words find
     * nothing.
     */
    CHECK(search("{\"query\":\"penguins migrate across antarctic ice\"}", &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK_INT(jint(r.json, "total"), 0);
    resp_free(&r);
    /* A memory's own words pass it. */
    CHECK(search("{\"query\":\"Employees report to a manager through manager_id\"}", &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK(jint(r.json, "total") >= 1);
    CHECK_STR(jstr(json_array_get(results(&r), 0), "memory_id"), ids[5]);
    resp_free(&r);
    stop();
}

TEST(test_a_bad_mode_is_422_as_fastapi_says_it)
{
    CHECK(start_with(NULL));
    struct resp r;
    CHECK(search("{\"query\":\"orders\",\"mode\":\"fuzzy\"}", &r) == 0);
    CHECK_INT(r.status, 422);
    const json_t *e = json_array_get(json_object_get(r.json, "detail"), 0);
    CHECK_STR(jstr(e, "type"), "enum");
    CHECK_STR(jstr(e, "msg"), "Input should be 'hybrid', 'semantic' or 'lexical'");
    CHECK_STR(jstr(e, "input"), "fuzzy");
    CHECK_STR(jstr(json_object_get(e, "ctx"), "expected"), "'hybrid', 'semantic' or 'lexical'");
    const json_t *loc = json_object_get(e, "loc");
    CHECK_INT(json_array_size(loc), 2);
    CHECK_STR(json_string_value(json_array_get(loc, 0)), "body");
    CHECK_STR(json_string_value(json_array_get(loc, 1)), "mode");
    resp_free(&r);
    /* Not a string, null, another case: the same error. */
    const char *bad[] = {"{\"query\":\"orders\",\"mode\":3}",
                         "{\"query\":\"orders\",\"mode\":null}",
                         "{\"query\":\"orders\",\"mode\":\"Hybrid\"}",
                         "{\"query\":\"orders\",\"mode\":[\"hybrid\"]}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK(search(bad[i], &r) == 0);
        CHECK_INT(r.status, 422);
        char type[32], where[64];
        CHECK(first_error(&r, type, sizeof type, where, sizeof where));
        CHECK_STR(type, "enum");
        CHECK_STR(where, "body.mode");
        resp_free(&r);
    }
    stop();
}

TEST(test_queries_and_memories_without_a_lexical_term)
{
    CHECK(start_with(NULL));
    char ids[N_MEMORIES][37];
    CHECK(create_all(ids));
    /* Only stop words and punctuation: no lexical term, but stored and found by its vector. */
    char quiet[37];
    CHECK(create_memory("it is what it is, and so it was", "long_term", quiet));
    struct resp r;
    CHECK(search("{\"query\":\"it is what it is\",\"min_similarity\":0}", &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK(scores_well_formed(&r));
    /* A query without a term is ranked by the semantic side alone. */
    CHECK_STR(jstr(r.json, "mode"), "semantic");
    CHECK(jint(r.json, "total") >= 1);
    CHECK_STR(jstr(json_array_get(results(&r), 0), "memory_id"), quiet);
    for (size_t i = 0; i < json_array_size(results(&r)); i++)
        CHECK_NEAR(side(json_array_get(results(&r), i), "lexical"), 0, 0);
    resp_free(&r);
    const char *odd[] = {"{\"query\":\"?!?! ... ---\"}", "{\"query\":\"the of and to\"}",
                         "{\"query\":\"   \"}",
                         "{\"query\":\"the of and\",\"mode\":\"lexical\",\"min_similarity\":0}"};
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
        CHECK(search(odd[i], &r) == 0);
        CHECK_INT(r.status, 200);
        CHECK(scores_well_formed(&r));
        resp_free(&r);
    }
    /* Lexical mode with no term has nothing to rank by: no results, not an error. */
    CHECK(search("{\"query\":\"the of and\",\"mode\":\"lexical\",\"min_similarity\":0}", &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK_INT(jint(r.json, "total"), 0);
    resp_free(&r);
    stop();
}

/*
 * A database recorded with memori-wordnet-v1 keeps working where v1 is
 * configured; the new default (v2) refuses it, naming `memori reembed`,
 * which then migrates it.
 */
TEST(test_a_wordnet_v1_database_keeps_working_with_v1_and_migrates_to_v2)
{
    char *v1[] = {"MEMORI_EMBEDDING_MODEL=memori-wordnet-v1", NULL};
    CHECK(start_with(v1));
    char id[37];
    CHECK(create_memory("Revenue is recognised when the invoice is paid", "rule", id));
    char db[512], url[600], err[4096];
    snprintf(db, sizeof db, "%s", srv.db);
    stop();
    CHECK(test_database_url(db, url, sizeof url) == 0);
    char *as_default[] = {url, "PORT=0", NULL};
    char *serve[] = {"serve", NULL}, *reembed[] = {"reembed", NULL};
    CHECK_INT(run_memori(serve, as_default, err, sizeof err), 1);
    CHECK(strstr(err, "memori-wordnet-v1") != NULL);
    CHECK(strstr(err, "memori reembed") != NULL);
    /* v1 configured: served as before. */
    CHECK(server_start(&srv, db, v1) == 0);
    struct resp r;
    CHECK(search("{\"query\":\"when is revenue recognised\"}", &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK_INT(jint(r.json, "total"), 1);
    resp_free(&r);
    stop();
    /* The migration, then the default serves it. */
    CHECK_INT(run_memori(reembed, as_default, err, sizeof err), 0);
    CHECK(strstr(err, "re-embedded 1 memories with memori-wordnet-v2") != NULL);
    CHECK(server_start(&srv, db, NULL) == 0);
    CHECK(search("{\"query\":\"when is revenue recognised\"}", &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK_INT(jint(r.json, "total"), 1);
    CHECK_STR(jstr(json_array_get(results(&r), 0), "memory_id"), id);
    resp_free(&r);
    stop();
}

/* A turn of alice's in conversation conv; its id into id. */
static bool create_turn(const char *conv, const char *content, char *id)
{
    char body[2048];
    snprintf(body, sizeof body,
             "{\"content\":\"%s\",\"memory_type\":\"short_term\",\"conversation_id\":\"%s\"}",
             content, conv);
    struct resp r;
    bool ok =
        http(&srv, "POST", "/api/memories", "alice", body, SIZE_MAX, &r) == 0 && r.status == 201;
    if (ok)
        snprintf(id, 37, "%s", jstr(r.json, "memory_id"));
    resp_free(&r);
    return ok;
}

/* The result with memory_id id in r, or NULL. */
static const json_t *result_of(const struct resp *r, const char *id)
{
    for (size_t i = 0; i < json_array_size(results(r)); i++) {
        const json_t *x = json_array_get(results(r), i);
        if (strcmp(jstr(x, "memory_id"), id) == 0)
            return x;
    }
    return NULL;
}

/* The neighbour test's question in mode, min_similarity 0, into *r: true when it answered 200. */
static bool search_tamarind(const char *mode, struct resp *r)
{
    char body[256];
    snprintf(body, sizeof body,
             "{\"query\":\"tamarind export approved\",\"min_similarity\":0,\"mode\":\"%s\"}", mode);
    return search(body, r) == 0 && r->status == 200;
}

/*
 * Neighbour context over HTTP (docs/ranking.md): the turn that answers
 * holds none of the question's words, the turn before it does; the answer
 * is found in lexical and hybrid mode with a lexical score its neighbour
 * lent, and once that neighbour is deleted the boost is gone at once.
 */
TEST(test_a_turn_is_found_by_its_neighbours_words)
{
    static const char conv[] = "7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
    CHECK(start_with(NULL));
    char ask[37], answer[37], after[37], rule[37];
    CHECK(create_turn(conv, "Which quarterly tamarind export did finance approve?", ask));
    CHECK(create_turn(conv, "The second one, with the corrected currency column.", answer));
    CHECK(create_turn(conv, "Great, I will tell the team this afternoon.", after));
    CHECK(create_memory("Tamarind exports are approved by finance each quarter", "rule", rule));
    struct resp r;
    static const char *const modes[] = {"lexical", "hybrid"};
    for (int m = 0; m < 2; m++) {
        CHECK(search_tamarind(modes[m], &r));
        CHECK(scores_well_formed(&r));
        const json_t *a = result_of(&r, answer), *q = result_of(&r, ask);
        CHECK(a != NULL);
        CHECK(q != NULL);
        CHECK(a && side(a, "lexical") > 0);
        /* Lent words count less than one's own. */
        CHECK(a && q && side(a, "lexical") < side(q, "lexical"));
        CHECK(result_of(&r, rule) != NULL);
        resp_free(&r);
    }
    /* The neighbour goes: the answer holds no query word, and nothing lends it any. */
    char path[128];
    snprintf(path, sizeof path, "/api/memories/%s", ask);
    CHECK(http(&srv, "DELETE", path, "alice", NULL, 0, &r) == 0);
    CHECK(r.status == 200 || r.status == 204);
    resp_free(&r);
    for (int m = 0; m < 2; m++) {
        CHECK(search_tamarind(modes[m], &r));
        const json_t *a = result_of(&r, answer);
        if (m == 0)
            CHECK(a == NULL); /* lexical mode: no shared term, no lent one */
        else
            CHECK(a == NULL || side(a, "lexical") == 0);
        CHECK(result_of(&r, rule) != NULL); /* a standalone fact, found by its own words */
        resp_free(&r);
    }
    stop();
}

TEST_MAIN("e2e_ranking", T(test_search_modes_return_both_scores),
          T(test_min_similarity_filters_on_the_fused_score),
          T(test_a_bad_mode_is_422_as_fastapi_says_it),
          T(test_queries_and_memories_without_a_lexical_term),
          T(test_a_wordnet_v1_database_keeps_working_with_v1_and_migrates_to_v2),
          T(test_a_turn_is_found_by_its_neighbours_words))
