/* PostgreSQL value forms of src/store/pg_codec.c: arrays, vectors, URLs. */
#include <stdlib.h>
#include <string.h>

#include "../../src/store/pg_codec.h"
#include "test.h"

TEST(test_text_array_round_trips_every_awkward_element)
{
    static const char *const items[] = {"",      "a",    "b c",  "quote\"d", "back\\slash",
                                        "{x,y}", "NULL", "null", "✓ utf-8",  " lead"};
    struct mr_strv v = {0}, back = {0};
    for (size_t i = 0; i < sizeof items / sizeof *items; i++)
        mr_strv_push(&v, items[i], strlen(items[i]));
    struct mr_strbuf b = {0};
    pg_text_array(&b, &v);
    CHECK(pg_parse_text_array(b.s, &back) == 0);
    CHECK_INT(back.len, v.len);
    for (size_t i = 0; i < v.len; i++)
        CHECK_STR(back.items[i], v.items[i]);
    mr_strbuf_free(&b);
    mr_strv_clear(&v);
    mr_strv_clear(&back);
}

TEST(test_text_array_reads_what_postgres_prints)
{
    struct mr_strv v = {0};
    CHECK(pg_parse_text_array("{}", &v) == 0);
    CHECK_INT(v.len, 0);
    CHECK(pg_parse_text_array("{a,\"\",orders,\"b c\",NULL}", &v) == 0);
    CHECK_INT(v.len, 5);
    CHECK_STR(v.items[0], "a");
    CHECK_STR(v.items[1], "");
    CHECK_STR(v.items[3], "b c");
    CHECK_STR(v.items[4], "");
    mr_strv_clear(&v);
    static const char *const bad[] = {"", "a", "{", "{a", "{\"a}", "{a,}", "{a}x", "{,}"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        CHECK(pg_parse_text_array(bad[i], &v) == -1);
        mr_strv_clear(&v);
    }
}

TEST(test_vector_binary_and_text_forms)
{
    float v[3] = {1.0f, -0.5f, 0.1f};
    unsigned char bin[16];
    CHECK_INT(pg_vector_bin_size(3), 16);
    pg_vector_bin(v, 3, bin);
    CHECK(bin[0] == 0 && bin[1] == 3 && bin[2] == 0 && bin[3] == 0);
    CHECK(bin[4] == 0x3f && bin[5] == 0x80 && bin[6] == 0 && bin[7] == 0); /* 1.0f big-endian */
    size_t dim;
    float *back = pg_parse_vector("[1,-0.5,0.1]", &dim);
    CHECK(back && dim == 3);
    CHECK(back[0] == v[0] && back[1] == v[1] && back[2] == v[2]);
    free(back);
    static const char *const bad[] = {"",      "[]",    "[1,",    "[1,2",  "1,2]",
                                      "[1;2]", "[1,x]", "[1,2]x", "[nan]", "[1,,2]"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        back = pg_parse_vector(bad[i], &dim);
        CHECK(back == NULL && dim == 0);
    }
    /* vector_send's bytes as a binary result gives them: the same floats, bit for bit. */
    static const unsigned char sent[] = {0,    3, 0, 0, 0x3f, 0x80, 0,    0,
                                         0xbf, 0, 0, 0, 0x3d, 0xcc, 0xcc, 0xcd};
    float got[3] = {7, 7, 7};
    CHECK_INT(pg_vector_bin_read(sent, sizeof sent, got, 3), 3);
    CHECK(got[0] == v[0] && got[1] == v[1] && got[2] == v[2]);
    CHECK(memcmp(bin, sent, 8) == 0);
    /* Another dimension than asked: reported, nothing written. */
    float other[2] = {7, 7};
    CHECK_INT(pg_vector_bin_read(sent, sizeof sent, other, 2), 3);
    CHECK(other[0] == 7 && other[1] == 7);
    static const struct {
        unsigned char b[12];
        size_t len;
    } bad_bin[] = {
        {{0}, 0},                                   /* empty */
        {{0, 1, 0}, 3},                             /* no header */
        {{0, 0, 0, 0}, 4},                          /* dimension 0 */
        {{0, 3, 0, 0, 0x3f, 0x80, 0, 0}, 8},        /* shorter than its dimension */
        {{0, 1, 0, 0, 0x3f, 0x80, 0, 0, 0}, 9},     /* longer */
        {{0, 1, 0, 0, 0x7f, 0xc0, 0, 0}, 8},        /* a NaN */
        {{0, 2, 0, 0, 0, 0, 0, 0, 0x7f, 0x80}, 12}, /* an infinity after a zero */
    };
    for (size_t i = 0; i < sizeof bad_bin / sizeof *bad_bin; i++) {
        float out[3] = {7, 7, 7};
        CHECK_INT(pg_vector_bin_read(bad_bin[i].b, bad_bin[i].len, out, 1), 0);
        CHECK(out[0] == 7);
    }
    CHECK_INT(pg_vector_bin_read(NULL, 0, got, 3), 0);
}

TEST(test_urls_lose_driver_suffixes_and_passwords)
{
    char *s = pg_conninfo_from_url("postgresql+asyncpg://u:p@h:5432/db");
    CHECK_STR(s, "postgresql://u:p@h:5432/db");
    free(s);
    s = pg_conninfo_from_url("postgres://h/db");
    CHECK_STR(s, "postgres://h/db");
    free(s);
    s = pg_url_redacted("postgresql://memori:s3cret@127.0.0.1:5432/db");
    CHECK_STR(s, "postgresql://memori:***@127.0.0.1:5432/db");
    free(s);
    s = pg_url_redacted("postgresql://memori@127.0.0.1/db");
    CHECK_STR(s, "postgresql://memori@127.0.0.1/db");
    free(s);
}

TEST_MAIN("pg_codec", T(test_text_array_round_trips_every_awkward_element),
          T(test_text_array_reads_what_postgres_prints), T(test_vector_binary_and_text_forms),
          T(test_urls_lose_driver_suffixes_and_passwords))
