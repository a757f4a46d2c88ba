/* libFuzzer target: request bodies through every decoder and validation. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/api/api_int.h"

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
    return 0;
}
