/* libFuzzer target: .env files and environment entries through configuration loading. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "memori/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[64];
    if (!path[0])
        snprintf(path, sizeof path, "/tmp/memori-fuzz-env-%d", (int)getpid());
    FILE *f = fopen(path, "wb");
    if (!f)
        return 0;
    fwrite(data, 1, size, f);
    fclose(f);
    struct mr_config cfg;
    struct mr_err err;
    char *env0[] = {NULL};
    mr_config_load(&cfg, env0, path, &err);
    mr_config_free(&cfg);
    /* The same bytes as one environment entry. */
    char *entry = malloc(size + 1);
    memcpy(entry, data, size);
    entry[size] = '\0';
    char *env1[] = {entry, NULL};
    mr_config_load(&cfg, env1, NULL, &err);
    mr_config_free(&cfg);
    free(entry);
    return 0;
}
