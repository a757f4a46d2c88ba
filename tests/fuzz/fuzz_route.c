/* libFuzzer target: methods and paths through the router, path parameters through the parsers. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/api/handlers.h"
#include "memori/clock.h"
#include "memori/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const methods[] = {"GET", "POST", "PATCH", "DELETE", "PUT", "HEAD"};
    if (size < 1)
        return 0;
    const char *method = methods[data[0] % 6];
    char *path = malloc(size);
    memcpy(path, data + 1, size - 1);
    path[size - 1] = '\0'; /* the server hands the router decoded, NUL-terminated paths */
    const struct api_route *route;
    char params[2][128], allow[64];
    int status = api_route(method, path, &route, params, allow, sizeof allow);
    if (status == 200) {
        char uuid[MR_UUID_LEN];
        for (int i = 0; i < 2; i++)
            mr_uuid_parse(params[i], strlen(params[i]), uuid);
    }
    int64_t t;
    mr_time_parse(path, strlen(path), &t);
    mr_utf8_valid(path, size - 1);
    free(path);
    return 0;
}
