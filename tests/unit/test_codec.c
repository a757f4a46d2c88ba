/*
 * Unit tests of request validation and response encoding (src/api/codec.c),
 * and of the identity each route asks the router for (src/api/router.c).
 */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>

#include "../../src/api/api_int.h"
#include "../../src/api/handlers.h"
#include "test.h"

#define UUID "123e4567-e89b-12d3-a456-426614174000"

/* Decodes a create body; returns the parsed 422 detail list or NULL when valid. */
static json_t *create_errors(const char *body)
{
    struct api_memory_create r;
    char *err = NULL;
    int rc = api_decode_memory_create(body, strlen(body), &r, 1000, &err);
    api_memory_create_free(&r);
    if (rc == 0)
        return NULL;
    json_t *doc = json_loads(err, 0, NULL);
    free(err);
    json_t *detail = json_incref(json_object_get(doc, "detail"));
    json_decref(doc);
    return detail;
}

/* True when errors has an item of type at loc ["body", field]. */
static bool has_error(json_t *errors, const char *type, const char *field)
{
    size_t i;
    json_t *e;
    json_array_foreach(errors, i, e)
    {
        json_t *loc = json_object_get(e, "loc");
        const char *t = json_string_value(json_object_get(e, "type"));
        const char *f = json_string_value(json_array_get(loc, 1));
        bool loc_ok = field ? f && strcmp(f, field) == 0 : json_array_size(loc) >= 1;
        if (t && strcmp(t, type) == 0 && loc_ok &&
            strcmp(json_string_value(json_array_get(loc, 0)), "body") == 0 &&
            json_is_string(json_object_get(e, "msg")))
            return true;
    }
    return false;
}

#define EXPECT_ERROR(body, type, field)                                                            \
    do {                                                                                           \
        json_t *e_ = create_errors(body);                                                          \
        bool ok_ = e_ && has_error(e_, type, field);                                               \
        char *s_ = e_ ? json_dumps(e_, JSON_COMPACT) : NULL;                                       \
        if (!ok_)                                                                                  \
            test_fail(__FILE__, __LINE__, "%s: want %s at %s, got %s", body, type,                 \
                      field ? field : "body", s_ ? s_ : "no error");                               \
        free(s_);                                                                                  \
        json_decref(e_);                                                                           \
        if (!ok_)                                                                                  \
            return;                                                                                \
    } while (0)

TEST(test_valid_create_decodes_with_defaults)
{
    struct api_memory_create r;
    char *err = NULL;
    const char *body = "{\"content\":\"use JOINs\",\"memory_type\":\"rule\","
                       "\"conversation_id\":\"" UUID "\",\"extra\":1}";
    CHECK(api_decode_memory_create(body, strlen(body), &r, 1000, &err) == 0);
    CHECK_STR(r.in.content, "use JOINs");
    CHECK_INT(r.in.memory_type, MR_RULE);
    CHECK_STR(r.in.conversation_id, UUID);
    CHECK_NEAR(r.in.importance_score, 0.5, 0);
    CHECK(r.in.expires_at == MR_NO_TIME);
    CHECK_INT(r.tags.len, 0);
    api_memory_create_free(&r);
}

TEST(test_create_validation_errors)
{
    EXPECT_ERROR("{}", "missing", "content");
    EXPECT_ERROR("{}", "missing", "memory_type");
    EXPECT_ERROR("{}", "missing", "conversation_id");
    EXPECT_ERROR("{\"content\":5}", "string_type", "content");
    EXPECT_ERROR("{\"content\":\"\"}", "string_too_short", "content");
    EXPECT_ERROR("{\"memory_type\":\"memo\"}", "enum", "memory_type");
    EXPECT_ERROR("{\"conversation_id\":\"nope\"}", "uuid_parsing", "conversation_id");
    EXPECT_ERROR("{\"conversation_id\":7}", "uuid_type", "conversation_id");
    EXPECT_ERROR("{\"importance_score\":1.5}", "less_than_equal", "importance_score");
    EXPECT_ERROR("{\"importance_score\":-0.1}", "greater_than_equal", "importance_score");
    EXPECT_ERROR("{\"importance_score\":\"high\"}", "float_parsing", "importance_score");
    EXPECT_ERROR("{\"importance_score\":null}", "float_type", "importance_score");
    EXPECT_ERROR("{\"context_tags\":\"a\"}", "list_type", "context_tags");
    EXPECT_ERROR("{\"context_tags\":[\"a\",3]}", "string_type", "context_tags");
    EXPECT_ERROR("{\"metadata\":[1]}", "dict_type", "metadata");
    EXPECT_ERROR("{\"expires_at\":\"next week\"}", "datetime_from_date_parsing", "expires_at");
    EXPECT_ERROR("[1,2]", "model_attributes_type", NULL);
    EXPECT_ERROR("{\"content\":", "json_invalid", NULL);
    EXPECT_ERROR("", "missing", NULL);
    EXPECT_ERROR("{\"content\":\"\xff\"}", "json_invalid", NULL);
}

TEST(test_content_length_counts_characters)
{
    /* 10000 two-byte characters are 10000 characters, not 20000. */
    size_t n = 10000;
    char *body = malloc(2 * n + 200);
    strcpy(body, "{\"content\":\"");
    char *p = body + strlen(body);
    for (size_t i = 0; i < n; i++) {
        *p++ = '\xc3';
        *p++ = '\xa9';
    }
    strcpy(p, "\",\"memory_type\":\"rule\",\"conversation_id\":\"" UUID "\"}");
    json_t *e = create_errors(body);
    CHECK(e == NULL);
    strcpy(p, "x\",\"memory_type\":\"rule\",\"conversation_id\":\"" UUID "\"}");
    e = create_errors(body);
    CHECK(e && has_error(e, "string_too_long", "content"));
    json_decref(e);
    free(body);
}

TEST(test_search_decodes_and_validates)
{
    struct api_search r;
    char *err = NULL;
    const char *ok = "{\"query\":\"q\",\"min_similarity\":0,\"memory_types\":[\"rule\",\"entity\"],"
                     "\"include_archived\":true,\"limit\":5,\"conversation_id\":null}";
    CHECK(api_decode_search(ok, strlen(ok), &r, 1000, &err) == 0);
    CHECK(r.in.has_min_similarity);
    CHECK_NEAR(r.in.min_similarity, 0, 0);
    CHECK_INT(r.in.type_mask, (1u << MR_RULE) | (1u << MR_ENTITY));
    CHECK(r.in.include_archived);
    CHECK_INT(r.in.limit, 5);
    CHECK(r.in.conversation_id == NULL);
    api_search_free(&r);
    const char *bad[] = {"{\"query\":\"\"}",
                         "{\"query\":\"q\",\"limit\":0}",
                         "{\"query\":\"q\",\"limit\":101}",
                         "{\"query\":\"q\",\"limit\":2.5}",
                         "{\"query\":\"q\",\"min_similarity\":1.01}",
                         "{\"query\":\"q\",\"memory_types\":[\"rules\"]}",
                         "{\"query\":\"q\",\"include_archived\":\"perhaps\"}",
                         "{\"query\":\"q\",\"conversation_id\":\"x\"}",
                         "{\"limit\":5}"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        err = NULL;
        int rc = api_decode_search(bad[i], strlen(bad[i]), &r, 1000, &err);
        api_search_free(&r);
        if (rc != MR_EVALIDATION || !err || !strstr(err, "\"loc\":[\"body\"")) {
            test_fail(__FILE__, __LINE__, "%s accepted or malformed error: %s", bad[i],
                      err ? err : "(none)");
            free(err);
            return;
        }
        free(err);
    }
}

TEST(test_patch_distinguishes_absent_and_null)
{
    struct api_memory_patch r;
    char *err = NULL;
    const char *b = "{\"importance_score\":null,\"context_tags\":[]}";
    CHECK(api_decode_memory_patch(b, strlen(b), &r, 1000, &err) == 0);
    CHECK(!r.in.has_importance);
    CHECK(r.in.context_tags != NULL && r.in.context_tags->len == 0);
    CHECK(r.in.content == NULL && r.in.metadata == NULL);
    api_memory_patch_free(&r);
}

TEST(test_memory_encoding_matches_reference_fields)
{
    struct mr_memory m = {0};
    m.id = 7;
    strcpy(m.memory_id, UUID);
    strcpy(m.conversation_id, UUID);
    m.user_id = "u";
    m.tenant_id = "default";
    m.content = "c";
    m.memory_type = MR_ENTITY;
    m.importance_score = 0.51;
    m.last_accessed_at = MR_NO_TIME;
    m.expires_at = MR_NO_TIME;
    m.metadata = "{\"a\":[1]}";
    m.created_at = m.updated_at = 0;
    char *s = api_encode_memory(&m);
    json_t *o = json_loads(s, 0, NULL);
    free(s);
    const char *fields[] = {"id",
                            "memory_id",
                            "conversation_id",
                            "user_id",
                            "content",
                            "memory_type",
                            "importance_score",
                            "access_count",
                            "last_accessed_at",
                            "context_tags",
                            "related_entities",
                            "metadata",
                            "expires_at",
                            "is_archived",
                            "created_at",
                            "updated_at"};
    for (size_t i = 0; i < sizeof fields / sizeof *fields; i++)
        CHECK(json_object_get(o, fields[i]) != NULL);
    CHECK(json_is_null(json_object_get(o, "expires_at")));
    CHECK_STR(json_string_value(json_object_get(o, "created_at")), "1970-01-01T00:00:00Z");
    CHECK_NEAR(json_real_value(json_object_get(o, "importance_score")), 0.51, 0);
    json_decref(o);
}

TEST(test_stats_encoding_has_all_five_types)
{
    struct mr_stats st = {10, {1, 2, 3, 2, 2}, 4, 0.456};
    char *s = api_encode_stats(&st);
    CHECK(strstr(s, "\"relationships\":2") != NULL);
    CHECK(strstr(s, "\"rules\":3") != NULL);
    CHECK(strstr(s, "\"average_importance\":0.46") != NULL);
    free(s);
}

/* DESIGN.md §9: statistics count examples; the search filter accepts the type. */
TEST(test_example_type_in_stats_and_search_filter)
{
    struct mr_stats st = {3, {0, 0, 0, 0, 0, 3}, 0, 0.5};
    char *s = api_encode_stats(&st);
    CHECK(strstr(s, "\"examples\":3") != NULL);
    free(s);
    struct api_search r;
    char *err = NULL;
    const char *q = "{\"query\":\"q\",\"memory_types\":[\"example\"]}";
    CHECK(api_decode_search(q, strlen(q), &r, 1000, &err) == 0);
    CHECK_INT(r.in.type_mask, 1u << MR_EXAMPLE);
    api_search_free(&r);
}

TEST(test_only_health_is_anonymous)
{
    static const struct {
        const char *method, *path;
        enum api_identity identity;
    } cases[] = {
        {"POST", "/api/memories", API_USER},
        {"POST", "/api/memories/search", API_USER},
        {"GET", "/api/memories/statistics/summary", API_ADMIN_SCOPE},
        {"POST", "/api/memories/maintenance/archive", API_ADMIN_SCOPE},
        {"GET", "/api/memories/" UUID, API_USER},
        {"GET", "/api/memories/search", API_USER}, /* a memory id, as Starlette routes it */
        {"PATCH", "/api/memories/" UUID, API_USER},
        {"DELETE", "/api/memories/" UUID, API_USER},
        {"POST", "/api/memories/" UUID "/promote", API_USER},
        {"POST", "/api/conversations/", API_USER},
        {"GET", "/api/conversations", API_USER},
        {"GET", "/api/conversations/" UUID, API_USER},
        {"PATCH", "/api/conversations/" UUID, API_USER},
        {"DELETE", "/api/conversations/" UUID, API_USER},
        {"GET", "/api/conversations/" UUID "/memories", API_USER},
        {"GET", "/health", API_ANONYMOUS},
        {"POST", "/mcp", API_USER}, /* MCP's tools act for the caller, as REST's routes */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const struct api_route *route = NULL;
        char params[2][128], allow[64];
        int status = api_route(cases[i].method, cases[i].path, &route, params, allow, sizeof allow);
        if (status != 200 || route->identity != cases[i].identity) {
            test_fail(__FILE__, __LINE__, "%s %s: status %d, identity %d, want 200 and %d",
                      cases[i].method, cases[i].path, status, route ? (int)route->identity : -1,
                      (int)cases[i].identity);
            return;
        }
    }
}

/* Numbers in strings as pydantic v2 reads them (lax mode): no hex, Python's underscores. */
TEST(test_number_text_as_pydantic_reads_it)
{
    static const struct {
        const char *s;
        double want;
    } floats[] = {{"0.5", 0.5}, {" 0.25 ", 0.25}, {"1e-1", 0.1},       {".5", 0.5},    {"5.", 5},
                  {"+1", 1},    {"-0", 0},        {"1_000.5", 1000.5}, {"1_0e-1", 1.0}};
    for (size_t i = 0; i < sizeof floats / sizeof *floats; i++) {
        double d = -1;
        CHECK(api_parse_float_text(floats[i].s, strlen(floats[i].s), &d) == 0);
        CHECK_NEAR(d, floats[i].want, 1e-12);
    }
    static const char *const not_floats[] = {"0x1",  "0x1p3", "",    " ",      "1 0",
                                             "1__0", "_1",    "1_",  "1e",     "e5",
                                             ".",    "--1",   "1,5", "0.5abc", "１"};
    for (size_t i = 0; i < sizeof not_floats / sizeof *not_floats; i++) {
        double d;
        if (api_parse_float_text(not_floats[i], strlen(not_floats[i]), &d) == 0)
            test_fail(__FILE__, __LINE__, "'%s' read as the float %g", not_floats[i], d);
    }
    double inf;
    CHECK(api_parse_float_text("-Infinity", 9, &inf) == 0 && inf < 0 && isinf(inf));

    static const struct {
        const char *s;
        int64_t want;
    } ints[] = {{"5", 5},
                {" 42 ", 42},
                {"007", 7},
                {"1_000", 1000},
                {"3.0", 3},
                {"-3.00", -3},
                {"9223372036854775807", INT64_MAX},
                {"-9223372036854775808", INT64_MIN},
                {"9007199254740993", INT64_C(9007199254740993)}};
    for (size_t i = 0; i < sizeof ints / sizeof *ints; i++) {
        int64_t v = 0;
        CHECK_INT(api_parse_int_text(ints[i].s, strlen(ints[i].s), &v), API_INT_OK);
        CHECK(v == ints[i].want);
    }
    static const char *const not_ints[] = {"0x10", "1e3", "2.5", "3.",  "+1",  "",
                                           "1__0", "_1",  "1_",  "1 0", "--1", "ten"};
    for (size_t i = 0; i < sizeof not_ints / sizeof *not_ints; i++) {
        int64_t v;
        CHECK_INT(api_parse_int_text(not_ints[i], strlen(not_ints[i]), &v), API_INT_BAD);
    }
    int64_t v;
    CHECK_INT(api_parse_int_text("9223372036854775808", 19, &v), API_INT_ABOVE);
    CHECK_INT(api_parse_int_text("-9223372036854775809", 20, &v), API_INT_BELOW);

    static const char *const yes[] = {"1",  "true", "TRUE", "True", "yes", "YES",
                                      "on", "On",   "t",    "T",    "y",   "Y"};
    static const char *const no[] = {"0", "false", "FALSE", "no", "NO", "off", "OFF", "f", "n"};
    bool b;
    for (size_t i = 0; i < sizeof yes / sizeof *yes; i++)
        CHECK(api_parse_bool_text(yes[i], &b) == 0 && b);
    for (size_t i = 0; i < sizeof no / sizeof *no; i++)
        CHECK(api_parse_bool_text(no[i], &b) == 0 && !b);
    CHECK(api_parse_bool_text("maybe", &b) != 0);
    CHECK(api_parse_bool_text(" true", &b) != 0);
    CHECK(api_parse_bool_text("2", &b) != 0);
}

TEST(test_strict_numbers_in_bodies)
{
    EXPECT_ERROR("{\"importance_score\":\"0x1\"}", "float_parsing", "importance_score");
    EXPECT_ERROR("{\"importance_score\":\"1e5\"}", "less_than_equal", "importance_score");
    json_t *e = create_errors("{\"content\":\"c\",\"memory_type\":\"rule\",\"conversation_id\":"
                              "\"" UUID "\",\"importance_score\":\" 0.75 \"}");
    CHECK(e == NULL);
    struct api_search r;
    char *err = NULL;
    const char *b = "{\"query\":\"q\",\"limit\":\"0x5\"}";
    CHECK_INT(api_decode_search(b, strlen(b), &r, 1000, &err), MR_EVALIDATION);
    CHECK(err && strstr(err, "int_parsing"));
    api_search_free(&r);
    free(err);
    err = NULL;
    b = "{\"query\":\"q\",\"limit\":\"5.0\"}";
    CHECK(api_decode_search(b, strlen(b), &r, 1000, &err) == 0);
    CHECK_INT(r.in.limit, 5);
    api_search_free(&r);
}

/* data_source_id over all of int64, exactly; past it a 422 that says the bound. */
TEST(test_data_source_id_is_exact_int64)
{
    static const struct {
        const char *body;
        int64_t want;
    } ok[] = {{"{\"data_source_id\":9007199254740993}", INT64_C(9007199254740993)},
              {"{\"data_source_id\":\"9007199254740993\"}", INT64_C(9007199254740993)},
              {"{\"data_source_id\":9223372036854775807}", INT64_MAX},
              {"{\"data_source_id\":-9223372036854775808}", INT64_MIN},
              {"{\"data_source_id\":12.0}", 12}};
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        struct api_conversation_create r;
        char *err = NULL;
        CHECK(api_decode_conversation_create(ok[i].body, strlen(ok[i].body), &r, 1000, &err) == 0);
        CHECK(r.in.has_data_source_id && r.in.data_source_id == ok[i].want);
        api_conversation_create_free(&r);
        free(err);
    }
    static const struct {
        const char *body, *type;
    } bad[] = {{"{\"data_source_id\":9223372036854775808}", "less_than_equal"},
               {"{\"data_source_id\":-9223372036854775809}", "greater_than_equal"},
               {"{\"data_source_id\":123456789012345678901234567890}", "less_than_equal"},
               {"{\"data_source_id\":\"99999999999999999999\"}", "less_than_equal"},
               {"{\"data_source_id\":1e19}", "less_than_equal"},
               {"{\"data_source_id\":\"0x10\"}", "int_parsing"},
               {"{\"data_source_id\":1.5}", "int_from_float"},
               {"{\"data_source_id\":true}", "int_type"}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        struct api_conversation_patch r;
        char *err = NULL;
        int rc = api_decode_conversation_patch(bad[i].body, strlen(bad[i].body), &r, 1000, &err);
        api_conversation_patch_free(&r);
        if (rc != MR_EVALIDATION || !strstr(err, bad[i].type) ||
            !strstr(err, "\"loc\":[\"body\",\"data_source_id\"]"))
            test_fail(__FILE__, __LINE__, "%s: %s", bad[i].body, err ? err : "accepted");
        free(err);
    }
}

/* Integers past int64 inside metadata are kept as their digits, never refused. */
TEST(test_big_integers_in_metadata_are_kept)
{
    const char *body =
        "{\"content\":\"c\",\"memory_type\":\"rule\",\"conversation_id\":\"" UUID
        "\",\"metadata\":{\"n\":123456789012345678901234567890,\"m\":"
        "-9223372036854775809,\"l\":[18446744073709551616],\"s\":\"99999999999999999999\"}}";
    struct api_memory_create r;
    char *err = NULL;
    CHECK(api_decode_memory_create(body, strlen(body), &r, 1000, &err) == 0);
    CHECK_STR(r.in.metadata, "{\"n\":123456789012345678901234567890,\"m\":-9223372036854775809,"
                             "\"l\":[18446744073709551616],\"s\":\"99999999999999999999\"}");
    /* Encoded back from the stored text, and merged, the digits stay. */
    struct mr_memory m = {0};
    m.user_id = m.tenant_id = m.content = "x";
    m.metadata = (char *)r.in.metadata;
    char *s = api_encode_memory(&m);
    CHECK(strstr(s, "\"n\":123456789012345678901234567890,\"m\":-9223372036854775809"));
    free(s);
    char *merged = mr_json_merge_objects(r.in.metadata, "{\"k\":18446744073709551617}");
    CHECK(merged && strstr(merged, "\"l\":[18446744073709551616]") &&
          strstr(merged, "\"k\":18446744073709551617}"));
    free(merged);
    api_memory_create_free(&r);
    /* A number as an object key is still not JSON; \u0000 in a string still refused. */
    EXPECT_ERROR("{\"metadata\":{12345678901234567890123:1}}", "json_invalid", NULL);
    EXPECT_ERROR("{\"metadata\":{\"a\":\"\\u0000\",\"b\":12345678901234567890123}}", "json_invalid",
                 NULL);
}

/* FastAPI's rule: JSON bodies need application/json or application/…+json. */
TEST(test_json_bodies_need_a_json_content_type)
{
    static const char *const accepted[] = {
        "application/json",         "application/json; charset=utf-8",
        "APPLICATION/JSON",         " application/json ;charset=UTF-8",
        "application/vnd.api+json", "application/geo+json"};
    for (size_t i = 0; i < sizeof accepted / sizeof *accepted; i++) {
        char *err = NULL;
        CHECK(api_check_content_type(accepted[i], "{}", 2, &err) == 0);
        CHECK(err == NULL);
    }
    static const char *const refused[] = {NULL,
                                          "",
                                          "text/plain",
                                          "text/plain; charset=utf-8",
                                          "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x",
                                          "application/geo+json-seq",
                                          "application/not-really-json",
                                          "application/json/x",
                                          "application",
                                          "text/json"};
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
        char *err = NULL;
        CHECK_INT(api_check_content_type(refused[i], "{\"a\": 1}", 8, &err), MR_EVALIDATION);
        CHECK_STR(err, "{\"detail\":[{\"type\":\"model_attributes_type\",\"loc\":[\"body\"],"
                       "\"msg\":\"Input should be a valid dictionary or object to extract fields "
                       "from\",\"input\":\"{\\\"a\\\": 1}\"}]}");
        free(err);
    }
    /* No body: nothing to read, whatever the type says. */
    char *err = NULL;
    CHECK(api_check_content_type("text/plain", "", 0, &err) == 0);
}

/* A memory the list encoders may clear: every string malloc'd. */
static struct mr_memory big_memory(size_t metadata_bytes)
{
    struct mr_memory m = {0};
    strcpy(m.memory_id, UUID);
    strcpy(m.conversation_id, UUID);
    m.user_id = strdup("u");
    m.tenant_id = strdup("default");
    m.content = strdup("c");
    m.last_accessed_at = m.expires_at = MR_NO_TIME;
    char *md = malloc(metadata_bytes + 16);
    int o = sprintf(md, "{\"b\":\"");
    memset(md + o, 'x', metadata_bytes);
    strcpy(md + o + metadata_bytes, "\"}");
    m.metadata = md;
    return m;
}

/* A search or a page stops before the bound and says so; the first item is always in. */
TEST(test_list_answers_are_bounded)
{
    enum { N = 10 };
    struct mr_memory v[N];
    double scores[N];
    for (size_t i = 0; i < N; i++) {
        v[i] = big_memory(10000);
        scores[i] = 1.0 - (double)i / 100;
    }
    struct mr_search_results r = {
        .memories = v, .scores = scores, .semantic = scores, .lexical = scores, .n = N};
    char *all = api_encode_search(&r, "q", 1, 0);
    for (size_t i = 0; i < N; i++)
        v[i] = big_memory(10000);
    json_t *o = json_loads(all, 0, NULL);
    CHECK_INT(json_array_size(json_object_get(o, "results")), N);
    CHECK_INT(json_integer_value(json_object_get(o, "total")), N);
    CHECK(json_is_false(json_object_get(o, "truncated")));
    json_decref(o);
    size_t full = strlen(all);
    free(all);
    char *part = api_encode_search(&r, "q", 1, 35000);
    CHECK(strlen(part) <= 35000);
    o = json_loads(part, 0, NULL);
    CHECK(o != NULL);
    CHECK_INT(json_array_size(json_object_get(o, "results")), 3);
    CHECK_INT(json_integer_value(json_object_get(o, "total")), 3);
    CHECK_STR(json_string_value(json_object_get(o, "query")), "q");
    CHECK(json_is_true(json_object_get(o, "truncated")));
    /* The best ones are kept, in order. */
    CHECK_NEAR(json_real_value(json_object_get(json_array_get(json_object_get(o, "results"), 2),
                                               "similarity_score")),
               0.98, 1e-9);
    json_decref(o);
    free(part);
    CHECK(full > 100000);
    for (size_t i = 0; i < N; i++)
        v[i] = big_memory(10000);
    /* A bound smaller than one item still answers that item. */
    part = api_encode_memory_page(v, N, 42, (struct mr_page){10, 20}, 1000);
    o = json_loads(part, 0, NULL);
    CHECK_INT(json_array_size(json_object_get(o, "memories")), 1);
    CHECK_INT(json_integer_value(json_object_get(o, "total")), 42);
    CHECK_INT(json_integer_value(json_object_get(o, "limit")), 10);
    CHECK_INT(json_integer_value(json_object_get(o, "offset")), 20);
    CHECK(json_is_true(json_object_get(o, "truncated")));
    json_decref(o);
    free(part);
    for (size_t i = 0; i < N; i++) /* the encoders cleared what they were given */
        CHECK(v[i].metadata == NULL && v[i].content == NULL);
}

/* HEAD is answered wherever GET is, so a 405's Allow says so (Starlette's habit too). */
TEST(test_405_allow_lists_head_beside_get)
{
    static const struct {
        const char *method, *path, *allow;
    } cases[] = {
        {"PUT", "/api/conversations", "POST, GET, HEAD"},
        {"DELETE", "/health", "GET, HEAD"},
        {"PUT", "/api/memories/" UUID, "GET, HEAD, PATCH, DELETE"},
        {"GET", "/api/memories/" UUID "/promote", "POST"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const struct api_route *route = NULL;
        char params[2][128], allow[64];
        CHECK_INT(api_route(cases[i].method, cases[i].path, &route, params, allow, sizeof allow),
                  405);
        CHECK_STR(allow, cases[i].allow);
    }
}

/* Counts members and checks their order (mr_json_each). */
static int count_member(const char *key, struct mr_json *v, void *ctx)
{
    int *n = ctx;
    static const char *const order[] = {"b", "a", "c"};
    if (*n < 3 && strcmp(key, order[*n]) != 0)
        return -1;
    (*n)++;
    return mr_json_is_integer(v) && mr_json_integer_value(v) == 3 ? 7 : 0;
}

TEST(test_json_each_visits_members_in_order_and_stops)
{
    const char text[] = "{\"b\":1,\"a\":2,\"c\":3,\"d\":4}";
    struct mr_json *o = mr_json_parse(text, strlen(text), NULL);
    CHECK(o);
    int n = 0;
    int rc = mr_json_each(o, count_member, &n);
    mr_json_free(o);
    CHECK_INT(rc, 7); /* stopped at "c", the first non-zero */
    CHECK_INT(n, 3);
    n = 0;
    CHECK_INT(mr_json_each(NULL, count_member, &n), 0);
    CHECK_INT(n, 0);
}

/* Whether text (a printed schema) holds needle. */
static bool holds(struct mr_json *schema, const char *needle)
{
    char *text = mr_json_print(schema, 15);
    bool found = text && strstr(text, needle);
    free(text);
    return found;
}

TEST(test_standalone_schemas_replace_every_ref)
{
    /* MCP's tools carry them (mcp.c): a client reads them without the OpenAPI document. */
    static const char *const names[] = {"MemoryCreate",  "MemorySearch", "ContextRequest",
                                        "ExampleCreate", "PageQuery",    "Memory",
                                        "SearchResults", "Context",      "ConversationPage"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        struct mr_json *s = api_json_schema(names[i], 100);
        CHECK(s);
        bool object = strcmp(mr_json_string_value(mr_json_get(s, "type")), "object") == 0;
        bool refs = holds(s, "$ref");
        mr_json_free(s);
        CHECK(object);
        CHECK(!refs);
    }
    /* A $ref's target comes in with what stood beside it (memory_type's enum, search's mode). */
    struct mr_json *s = api_json_schema("MemorySearch", 100);
    bool mode = holds(s, "\"mode\":{\"type\":\"string\",\"enum\":[\"hybrid\"");
    bool described = holds(s, "Default hybrid");
    bool max_items = holds(s, "\"maxItems\":100");
    mr_json_free(s);
    CHECK(mode);
    CHECK(described);
    CHECK(max_items);
    CHECK(api_json_schema("NoSuchSchema", 100) == NULL);
}

TEST_MAIN("codec", T(test_valid_create_decodes_with_defaults), T(test_create_validation_errors),
          T(test_content_length_counts_characters), T(test_search_decodes_and_validates),
          T(test_patch_distinguishes_absent_and_null),
          T(test_memory_encoding_matches_reference_fields),
          T(test_stats_encoding_has_all_five_types),
          T(test_example_type_in_stats_and_search_filter), T(test_only_health_is_anonymous),
          T(test_number_text_as_pydantic_reads_it), T(test_strict_numbers_in_bodies),
          T(test_data_source_id_is_exact_int64), T(test_big_integers_in_metadata_are_kept),
          T(test_json_bodies_need_a_json_content_type), T(test_list_answers_are_bounded),
          T(test_405_allow_lists_head_beside_get),
          T(test_json_each_visits_members_in_order_and_stops),
          T(test_standalone_schemas_replace_every_ref))
