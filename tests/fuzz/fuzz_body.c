/*
 * libFuzzer target: request bodies through every decoder and validation,
 * the Content-Type rule and the number readers; and JSON texts through
 * parse and print, whose output must parse again and print the same (big
 * integers are wrapped and unwrapped on the way: src/util/json.c).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/api/api_int.h"
#include "memori/json.h"

static void round_trip(const char *text, size_t len)
{
    struct mr_json *v = mr_json_parse(text, len, NULL);
    char *once = mr_json_print(v, 0);
    mr_json_free(v);
    if (!once)
        return;
    struct mr_json *again = mr_json_parse(once, strlen(once), NULL);
    char *twice = mr_json_print(again, 0);
    if (!twice || strcmp(once, twice) != 0) {
        fprintf(stderr, "print does not read back: %s -> %s\n", once, twice ? twice : "(null)");
        abort();
    }
    mr_json_free(again);
    free(once);
    free(twice);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *body = (const char *)data;
    char *err = NULL;
    struct api_memory_create a;
    api_decode_memory_create(body, size, &a, 1000, &err);
    api_memory_create_free(&a);
    free(err);
    err = NULL;
    struct api_memory_patch b;
    api_decode_memory_patch(body, size, &b, 1000, &err);
    api_memory_patch_free(&b);
    free(err);
    err = NULL;
    struct api_search c;
    api_decode_search(body, size, &c, 1000, &err);
    api_search_free(&c);
    free(err);
    err = NULL;
    struct api_conversation_create d;
    api_decode_conversation_create(body, size, &d, 1000, &err);
    api_conversation_create_free(&d);
    free(err);
    err = NULL;
    struct api_conversation_patch e;
    api_decode_conversation_patch(body, size, &e, 1000, &err);
    api_conversation_patch_free(&e);
    free(err);
    err = NULL;
    round_trip(body, size);
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    double num;
    int64_t i;
    bool flag;
    api_parse_float_text(body, size, &num);
    api_parse_int_text(body, size, &i);
    api_parse_bool_text(text, &flag);
    api_check_content_type(text, body, size, &err);
    free(err);
    free(text);
    return 0;
}
