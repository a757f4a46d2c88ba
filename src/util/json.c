/* json.c — metadata merge on JSON text (jansson). */
#include "memori/json.h"

#include <jansson.h>
#include <stdlib.h>

char *mr_json_merge_objects(const char *base, const char *patch)
{
    json_t *b = json_loads(base, 0, NULL);
    json_t *p = json_loads(patch, 0, NULL);
    char *out = NULL;
    if (json_is_object(b) && json_is_object(p) && json_object_update(b, p) == 0)
        out = json_dumps(b, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(b);
    json_decref(p);
    return out;
}

char *mr_json_compact(const char *text)
{
    json_t *v = json_loads(text, JSON_DECODE_ANY, NULL);
    char *out = v ? json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY) : NULL;
    json_decref(v);
    return out;
}
