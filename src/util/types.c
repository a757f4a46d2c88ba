/* types.c — names of memory types and clean-up of the data-model structs. */
#include "memori/types.h"

#include <stdlib.h>
#include <string.h>

static const char *const type_names[MR_MEMORY_TYPE_COUNT] = {
    "short_term", "long_term", "rule", "entity", "relationship", "example",
};

const char *mr_memory_type_name(enum mr_memory_type t)
{
    return (unsigned)t < MR_MEMORY_TYPE_COUNT ? type_names[t] : NULL;
}

int mr_memory_type_parse(const char *s, size_t n, enum mr_memory_type *out)
{
    for (int i = 0; i < MR_MEMORY_TYPE_COUNT; i++) {
        if (strlen(type_names[i]) == n && memcmp(type_names[i], s, n) == 0) {
            *out = (enum mr_memory_type)i;
            return 0;
        }
    }
    return -1;
}

void mr_strv_push(struct mr_strv *v, const char *s, size_t n)
{
    v->items = mr_xrealloc(v->items, (v->len + 1) * sizeof *v->items);
    v->items[v->len++] = mr_xstrndup(s, n);
}

void mr_strv_copy(struct mr_strv *dst, const struct mr_strv *src)
{
    mr_strv_clear(dst);
    for (size_t i = 0; i < src->len; i++)
        mr_strv_push(dst, src->items[i], strlen(src->items[i]));
}

bool mr_strv_equal(const struct mr_strv *a, const struct mr_strv *b)
{
    if (a->len != b->len)
        return false;
    for (size_t i = 0; i < a->len; i++)
        if (strcmp(a->items[i], b->items[i]) != 0)
            return false;
    return true;
}

void mr_strv_clear(struct mr_strv *v)
{
    for (size_t i = 0; i < v->len; i++)
        free(v->items[i]);
    free(v->items);
    v->items = NULL;
    v->len = 0;
}

void mr_conversation_clear(struct mr_conversation *c)
{
    free(c->user_id);
    free(c->tenant_id);
    free(c->title);
    free(c->metadata);
    memset(c, 0, sizeof *c);
}

void mr_memory_clear(struct mr_memory *m)
{
    free(m->user_id);
    free(m->tenant_id);
    free(m->content);
    free(m->embedding);
    free(m->metadata);
    mr_strv_clear(&m->context_tags);
    mr_strv_clear(&m->related_entities);
    memset(m, 0, sizeof *m);
}

void mr_history_event_clear(struct mr_history_event *e)
{
    free(e->user_id);
    free(e->tenant_id);
    free(e->actor);
    free(e->kind);
    free(e->changes);
    memset(e, 0, sizeof *e);
}
