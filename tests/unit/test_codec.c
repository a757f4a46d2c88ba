/*
 * Unit tests of request validation and response encoding (src/api/codec.c),
 * and of the identity each route asks the router for (src/api/router.c).
 */
#include <jansson.h>
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

TEST_MAIN("codec", T(test_valid_create_decodes_with_defaults), T(test_create_validation_errors),
          T(test_content_length_counts_characters), T(test_search_decodes_and_validates),
          T(test_patch_distinguishes_absent_and_null),
          T(test_memory_encoding_matches_reference_fields),
          T(test_stats_encoding_has_all_five_types),
          T(test_example_type_in_stats_and_search_filter), T(test_only_health_is_anonymous))
