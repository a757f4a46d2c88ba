/* libFuzzer target: Authorization headers through JWT verification. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "memori/auth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct mr_auth a = {true,    true,      "fuzz-secret-0123456789abcdef0123456789",
                        "HS256", "default", mr_clock_system()};
    char *header = malloc(size + 8);
    memcpy(header, "Bearer ", 7);
    memcpy(header + 7, data, size);
    header[size + 7] = '\0';
    struct mr_principal p;
    struct mr_err err;
    mr_auth_identify(&a, header, NULL, &p, &err);
    mr_auth_identify(&a, header + 7, NULL, &p, &err); /* also without the scheme */
    a.production = false;
    mr_auth_identify(&a, NULL, header + 7, &p, &err); /* as X-User-Id */
    free(header);
    return 0;
}
