/* Unit tests of src/util: time, UUIDs, UTF-8, errors. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "memori/clock.h"
#include "memori/err.h"
#include "memori/json.h"
#include "memori/types.h"
#include "memori/util.h"
#include "test.h"

TEST(test_time_format_omits_zero_fraction)
{
    char buf[40];
    CHECK_STR(mr_time_format(0, buf, sizeof buf), "1970-01-01T00:00:00Z");
    CHECK_STR(mr_time_format(INT64_C(1731319200123456), buf, sizeof buf),
              "2024-11-11T10:00:00.123456Z");
}

TEST(test_time_parse_round_trips_and_zones)
{
    int64_t t;
    CHECK(mr_time_parse("2024-11-11T10:00:00.123456Z", 27, &t) == 0);
    CHECK_INT(t, INT64_C(1731319200123456));
    CHECK(mr_time_parse("2024-11-11T12:00:00+02:00", 25, &t) == 0);
    CHECK_INT(t, INT64_C(1731319200000000));
    CHECK(mr_time_parse("2024-11-11 10:00", 16, &t) == 0);
    CHECK_INT(t, INT64_C(1731319200000000));
    CHECK(mr_time_parse("2024-11-11", 10, &t) == 0);
    CHECK_INT(t, INT64_C(1731283200000000));
}

TEST(test_time_parse_rejects_garbage)
{
    int64_t t;
    const char *bad[] = {"",
                         "2024",
                         "2024-13-01",
                         "2023-02-29",
                         "2024-11-11T25:00",
                         "2024-11-11T10:00:00Q",
                         "tomorrow",
                         "2024-11-11T10:00:00.Z"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        CHECK(mr_time_parse(bad[i], strlen(bad[i]), &t) != 0);
}

TEST(test_uuid_v4_is_canonical_and_random)
{
    char a[MR_UUID_LEN], b[MR_UUID_LEN], c[MR_UUID_LEN];
    mr_uuid_v4(a);
    mr_uuid_v4(b);
    CHECK(strcmp(a, b) != 0);
    CHECK_INT(strlen(a), 36);
    CHECK(a[14] == '4');
    CHECK(mr_uuid_parse(a, 36, c) == 0);
    CHECK_STR(c, a);
}

TEST(test_uuid_parse_accepts_pydantic_forms)
{
    char out[MR_UUID_LEN];
    const char *want = "123e4567-e89b-12d3-a456-426614174000";
    CHECK(mr_uuid_parse("123E4567-E89B-12D3-A456-426614174000", 36, out) == 0);
    CHECK_STR(out, want);
    CHECK(mr_uuid_parse("123e4567e89b12d3a456426614174000", 32, out) == 0);
    CHECK_STR(out, want);
    CHECK(mr_uuid_parse("{123e4567-e89b-12d3-a456-426614174000}", 38, out) == 0);
    CHECK_STR(out, want);
    CHECK(mr_uuid_parse("urn:uuid:123e4567-e89b-12d3-a456-426614174000", 45, out) == 0);
    CHECK(mr_uuid_parse("123e4567-e89b-12d3-a456-42661417400g", 36, out) != 0);
    CHECK(mr_uuid_parse("123e4567-e89b-12d3-a456", 23, out) != 0);
    CHECK(mr_uuid_parse("123e4567+e89b-12d3-a456-426614174000", 36, out) != 0);
}

TEST(test_utf8_validation)
{
    CHECK(mr_utf8_valid("héllo ✓ 😀", strlen("héllo ✓ 😀")));
    CHECK(!mr_utf8_valid("\xff", 1));
    CHECK(!mr_utf8_valid("\xc0\xaf", 2));     /* overlong */
    CHECK(!mr_utf8_valid("\xed\xa0\x80", 3)); /* surrogate */
    CHECK(!mr_utf8_valid("\xe2\x82", 2));     /* truncated */
    CHECK_INT(mr_utf8_len("héllo", 6), 5);
}

TEST(test_error_codes_map_to_statuses)
{
    CHECK_INT(mr_err_http_status(MR_EINVAL), 400);
    CHECK_INT(mr_err_http_status(MR_ENOTFOUND), 404);
    CHECK_INT(mr_err_http_status(MR_ECONFLICT), 409);
    CHECK_INT(mr_err_http_status(MR_EUNAVAIL), 503);
    CHECK_INT(mr_err_http_status(MR_EVALIDATION), 422);
    struct mr_err e;
    CHECK_INT(mr_err_set(&e, MR_ENOTFOUND, "memory %d", 7), MR_ENOTFOUND);
    CHECK_STR(e.msg, "memory 7");
}

TEST(test_memory_type_names_round_trip)
{
    for (int t = 0; t < MR_MEMORY_TYPE_COUNT; t++) {
        enum mr_memory_type back;
        const char *name = mr_memory_type_name((enum mr_memory_type)t);
        CHECK(mr_memory_type_parse(name, strlen(name), &back) == 0);
        CHECK_INT(back, t);
    }
    enum mr_memory_type x;
    CHECK(mr_memory_type_parse("rules", 5, &x) != 0);
}

/* Vector storage keeps its alignment and contents as it grows, small and large (mremap). */
TEST(test_aligned_growth_keeps_alignment_and_bytes)
{
    unsigned char *p = NULL;
    size_t have = 0;
    for (size_t n = 1000; n <= (size_t)64 << 20; n *= 4) {
        p = mr_xrealloc_aligned(p, have, n);
        CHECK((uintptr_t)p % MR_VEC_ALIGN == 0);
        for (size_t i = 0; i < have; i += 4093)
            CHECK_INT(p[i], (unsigned char)(i * 7));
        for (size_t i = have; i < n; i++)
            p[i] = (unsigned char)(i * 7);
        have = n;
    }
    free(p);
}

TEST(test_strbuf_grows_keeps_nul_and_hands_over)
{
    struct mr_strbuf b = {0};
    char *empty = mr_strbuf_take(&b);
    CHECK_STR(empty, ""); /* an untouched buffer still gives a string */
    free(empty);
    for (int i = 0; i < 1000; i++)
        mr_strbuf_printf(&b, "%d,", i % 10);
    CHECK_INT(b.len, 2000);
    CHECK(b.cap > b.len && b.s[b.len] == '\0');
    mr_strbuf_add(&b, "a\0b", 3); /* bytes, not a C string */
    CHECK_INT(b.len, 2003);
    CHECK(memcmp(b.s + 2000, "a\0b", 4) == 0);
    mr_strbuf_puts(&b, "");
    CHECK_INT(b.len, 2003);
    char *s = mr_strbuf_take(&b);
    CHECK(b.s == NULL && b.len == 0 && b.cap == 0);
    CHECK(strncmp(s, "0,1,2,", 6) == 0);
    free(s);
    mr_strbuf_puts(&b, "x");
    mr_strbuf_free(&b);
    CHECK(b.s == NULL && b.len == 0);
}

TEST(test_json_update_appends_in_order_and_overwrites)
{
    struct mr_json *o = mr_json_object();
    mr_json_set(o, "kind", mr_json_string("memory"));
    mr_json_set(o, "id", mr_json_integer(1));
    struct mr_json *from = mr_json_object();
    mr_json_set(from, "id", mr_json_integer(7));
    mr_json_set(from, "content", mr_json_string("x"));
    CHECK_INT(mr_json_update(o, from), 0);
    char *s = mr_json_print(o, 0);
    CHECK_STR(s, "{\"kind\":\"memory\",\"id\":7,\"content\":\"x\"}");
    free(s);
    CHECK_INT(mr_json_update(o, mr_json_array()), -1); /* not an object: released, o kept */
    CHECK(mr_json_get(o, "content") && mr_json_get(o, "kind"));
    mr_json_free(o);
}

TEST_MAIN("util", T(test_time_format_omits_zero_fraction), T(test_time_parse_round_trips_and_zones),
          T(test_time_parse_rejects_garbage), T(test_uuid_v4_is_canonical_and_random),
          T(test_uuid_parse_accepts_pydantic_forms), T(test_utf8_validation),
          T(test_error_codes_map_to_statuses), T(test_memory_type_names_round_trip),
          T(test_aligned_growth_keeps_alignment_and_bytes),
          T(test_strbuf_grows_keeps_nul_and_hands_over),
          T(test_json_update_appends_in_order_and_overwrites))
