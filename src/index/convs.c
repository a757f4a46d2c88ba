/*
 * convs.c — a partition's conversations (index_int.h, struct ix_convs):
 * per conversation the ids of its turns (mr_rule_is_turn) in ascending
 * order, so a ranked search finds each turn's previous and next turn — its
 * neighbour context (lexical.h, mr_lex_context; docs/ranking.md) — in a
 * hash lookup and a binary search. Kept in step by the partition's put and
 * drop under the index's write lock: a deleted turn stops being a
 * neighbour at once.
 */
#include <stdlib.h>

#include "index_int.h"

struct ix_conv {
    char id[MR_UUID_LEN];
    int64_t *turns; /* ascending */
    size_t n, cap;
};

static uint64_t conv_hash(const char *id)
{
    return mr_fnv1a64(MR_FNV64_BASIS, id, strlen(id));
}

/* The slot of conv in c's table: its list's, or the empty one it would take. */
static size_t conv_slot(const struct ix_convs *c, const char *conv)
{
    size_t i = conv_hash(conv) & (c->cap - 1);
    while (c->tab[i] && strcmp(c->tab[i]->id, conv) != 0)
        i = (i + 1) & (c->cap - 1);
    return i;
}

static struct ix_conv *conv_find(const struct ix_convs *c, const char *conv)
{
    if (!c->cap)
        return NULL;
    return c->tab[conv_slot(c, conv)];
}

/* Doubles c's table when one more list would fill more than half of it. */
static void convs_grow(struct ix_convs *c)
{
    if ((c->used + 1) * 2 <= c->cap)
        return;
    struct ix_convs bigger = {mr_xcalloc(c->cap ? c->cap * 2 : 16, sizeof *bigger.tab),
                              c->cap ? c->cap * 2 : 16, c->used};
    for (size_t i = 0; i < c->cap; i++)
        if (c->tab[i])
            bigger.tab[conv_slot(&bigger, c->tab[i]->id)] = c->tab[i];
    free(c->tab);
    *c = bigger;
}

/* The position of the first turn >= id in v (n ids, ascending). */
static size_t lower_bound(const int64_t *v, size_t n, int64_t id)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

void ix_convs_add(struct ix_convs *c, const char *conv, int64_t id, int64_t *out_prev,
                  int64_t *out_next)
{
    *out_prev = *out_next = 0;
    if (!conv || !conv[0])
        return;
    convs_grow(c);
    size_t slot = conv_slot(c, conv);
    struct ix_conv *l = c->tab[slot];
    if (!l) {
        l = mr_xcalloc(1, sizeof *l);
        snprintf(l->id, sizeof l->id, "%s", conv);
        c->tab[slot] = l;
        c->used++;
    }
    /* Ids grow with creation: almost always an append. */
    size_t at = l->n && l->turns[l->n - 1] < id ? l->n : lower_bound(l->turns, l->n, id);
    if (at < l->n && l->turns[at] == id)
        return;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 8;
        l->turns = mr_xrealloc(l->turns, l->cap * sizeof *l->turns);
    }
    memmove(l->turns + at + 1, l->turns + at, (l->n - at) * sizeof *l->turns);
    l->turns[at] = id;
    l->n++;
    *out_prev = at > 0 ? l->turns[at - 1] : 0;
    *out_next = at + 1 < l->n ? l->turns[at + 1] : 0;
}

void ix_convs_remove(struct ix_convs *c, const char *conv, int64_t id, int64_t *out_prev,
                     int64_t *out_next)
{
    *out_prev = *out_next = 0;
    struct ix_conv *l = conv && conv[0] ? conv_find(c, conv) : NULL;
    if (!l)
        return;
    size_t at = lower_bound(l->turns, l->n, id);
    if (at == l->n || l->turns[at] != id)
        return;
    *out_prev = at > 0 ? l->turns[at - 1] : 0;
    *out_next = at + 1 < l->n ? l->turns[at + 1] : 0;
    memmove(l->turns + at, l->turns + at + 1, (l->n - at - 1) * sizeof *l->turns);
    l->n--;
}

void ix_convs_free(struct ix_convs *c)
{
    for (size_t i = 0; i < c->cap; i++)
        if (c->tab[i]) {
            free(c->tab[i]->turns);
            free(c->tab[i]);
        }
    free(c->tab);
    memset(c, 0, sizeof *c);
}
