/*
 * partition.c — the partition table and each partition's entries (see
 * index_int.h): one partition per (tenant, user), one per tenant for what
 * its users shared, each holding its entries' metadata and vectors
 * contiguously beside an id → slot map and the lexical index of their
 * content; and which partitions a search
 * reaches (ix_search_scope). The filter predicate every search of a
 * partition applies, ix_matches, is beside struct ix_filter in index_int.h,
 * inline: it runs once per entry scanned.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "index_int.h"

static uint64_t hash_key(const char *s, size_t n)
{
    return mr_fnv1a64(MR_FNV64_BASIS, s, n);
}

/*
 * Partition keys: "<tenant length>:<tenant>|<user>" for a user's memories,
 * "<tenant length>:<tenant>#" for what the tenant's users shared. The length
 * makes them unambiguous whatever bytes ids contain.
 */
static char *make_key(const struct mr_identity *who, bool shared, size_t *out_len)
{
    size_t t = strlen(who->tenant_id), u = shared ? 0 : strlen(who->user_id);
    char *k = mr_xmalloc(t + u + 32);
    int n = snprintf(k, 24, "%zu:", t);
    memcpy(k + n, who->tenant_id, t);
    k[n + t] = shared ? '#' : '|';
    if (!shared)
        memcpy(k + n + t + 1, who->user_id, u);
    k[n + t + 1 + u] = '\0';
    *out_len = (size_t)n + t + 1 + u;
    return k;
}

/* The partition named key (klen bytes), or NULL. */
static struct ix_part *lookup(const struct ix *ix, const char *key, size_t klen)
{
    if (!ix->parts_cap)
        return NULL;
    for (size_t i = hash_key(key, klen) & (ix->parts_cap - 1); ix->parts[i];
         i = (i + 1) & (ix->parts_cap - 1))
        if (strcmp(ix->parts[i]->key, key) == 0)
            return ix->parts[i];
    return NULL;
}

struct ix_part *ix_part_lookup(const struct ix *ix, const char *key)
{
    return lookup(ix, key, strlen(key));
}

/* Places p in the table, doubling it first when it would be more than half full. */
static void insert(struct ix *ix, struct ix_part *p, size_t klen)
{
    if ((ix->parts_used + 1) * 2 > ix->parts_cap) {
        size_t ncap = ix->parts_cap ? ix->parts_cap * 2 : 16;
        struct ix_part **np = mr_xcalloc(ncap, sizeof *np);
        for (size_t i = 0; i < ix->parts_cap; i++) {
            struct ix_part *q = ix->parts[i];
            if (!q)
                continue;
            size_t j = hash_key(q->key, strlen(q->key)) & (ncap - 1);
            while (np[j])
                j = (j + 1) & (ncap - 1);
            np[j] = q;
        }
        free(ix->parts);
        ix->parts = np;
        ix->parts_cap = ncap;
    }
    size_t i = hash_key(p->key, klen) & (ix->parts_cap - 1);
    while (ix->parts[i])
        i = (i + 1) & (ix->parts_cap - 1);
    ix->parts[i] = p;
    ix->parts_used++;
}

struct ix_part *ix_part_find(struct ix *ix, const struct mr_identity *who, bool shared, bool create)
{
    size_t klen;
    char *key = make_key(who, shared, &klen);
    struct ix_part *found = lookup(ix, key, klen);
    if (found || !create) {
        free(key);
        return found;
    }
    struct ix_part *p = mr_xcalloc(1, sizeof *p);
    p->key = key;
    p->lex = mr_lex_index_new();
    insert(ix, p, klen);
    return p;
}

void ix_part_free(struct ix_part *p)
{
    free(p->key);
    free(p->meta);
    free(p->vecs);
    free(p->q8);
    free(p->q8_scale);
    ix_idmap_free(&p->slots);
    hnsw_free(p->graph);
    hnsw_free(p->seed);
    mr_lex_index_destroy(p->lex);
    ix_convs_free(&p->convs);
    free(p);
}

const float *ix_part_vec(const struct ix *ix, const struct ix_part *p, size_t slot)
{
    return p->graph ? hnsw_vector(p->graph, p->meta[slot].id) : p->vecs + slot * ix->dim;
}

void ix_part_vecs(const struct ix *ix, const struct ix_part *p, const int64_t *ids,
                  const long *slots, size_t n, const float **out)
{
    /* 1: the id map's cells (and the graph's, which is keyed by id too). */
    for (size_t k = 0; k < n; k++) {
        if (!slots || slots[k] < 0)
            ix_idmap_prefetch(&p->slots, ids[k]);
        if (p->graph)
            hnsw_prefetch(p->graph, ids[k]);
    }
    /* 2: each slot, then its vector (by id in the graph: the id is known, no metadata read). */
    for (size_t k = 0; k < n; k++) {
        long s = slots && slots[k] >= 0 ? slots[k] : ix_part_slot(p, ids[k]);
        out[k] = s < 0 ? NULL : p->graph ? hnsw_vector(p->graph, ids[k]) : p->vecs + s * ix->dim;
        for (size_t b = 0; out[k] && b < ix->dim * sizeof(float); b += 64)
            __builtin_prefetch((const char *)out[k] + b);
    }
}

/* A new slot at the end of p, growing its arrays when full. */
static size_t add_slot(struct ix *ix, struct ix_part *p)
{
    if (p->n == p->cap) {
        size_t row = ix->dim * sizeof *p->vecs;
        size_t ncap = p->cap ? p->cap * 2 : 16;
        if (!p->graph)
            p->vecs = mr_xrealloc_aligned(p->vecs, p->n * row, ncap * row);
        /* int8 copies for partitions begun with int8 on (set before loading). */
        if (!p->graph && ix->int8 && (p->q8 || p->cap == 0)) {
            p->q8 = mr_xrealloc_aligned(p->q8, p->n * ix->dim, ncap * ix->dim);
            p->q8_scale = mr_xrealloc(p->q8_scale, ncap * sizeof *p->q8_scale);
        }
        p->cap = ncap;
        p->meta = mr_xrealloc(p->meta, p->cap * sizeof *p->meta);
    }
    return p->n++;
}

/* Sets the turn id's link (prev: its previous turn's, else its next's) to to, if id is p's. */
static void set_link(struct ix_part *p, int64_t id, bool prev, int64_t to)
{
    long s = id ? ix_part_slot(p, id) : -1;
    if (s < 0)
        return;
    if (prev)
        p->meta[s].prev_turn = to;
    else
        p->meta[s].next_turn = to;
}

/* Puts turn m into its conversation's list and links it with the turns on either side. */
static void link_turn(struct ix_part *p, struct ix_meta *m)
{
    ix_convs_add(&p->convs, m->conversation_id, m->id, &m->prev_turn, &m->next_turn);
    set_link(p, m->prev_turn, false, m->id);
    set_link(p, m->next_turn, true, m->id);
}

/* Takes turn m out of its conversation's list; the turns on either side become neighbours. */
static void unlink_turn(struct ix_part *p, struct ix_meta *m)
{
    int64_t prev, next;
    ix_convs_remove(&p->convs, m->conversation_id, m->id, &prev, &next);
    set_link(p, prev, false, next);
    set_link(p, next, true, prev);
    m->prev_turn = m->next_turn = 0;
}

void ix_part_put(struct ix *ix, struct ix_part *p, const struct mr_index_entry *e)
{
    size_t dim = ix->dim;
    long found = ix_part_slot(p, e->id);
    size_t slot = found >= 0 ? (size_t)found : add_slot(ix, p);
    if (found < 0)
        ix_idmap_put(&p->slots, e->id, (uint32_t)slot);
    struct ix_meta *m = &p->meta[slot];
    const char *conv = e->conversation_id ? e->conversation_id : "";
    bool was_turn = found >= 0 && mr_rule_is_turn((enum mr_memory_type)m->memory_type);
    bool is_turn = mr_rule_is_turn(e->memory_type);
    /*
     * A turn that stops being one, or moves, leaves its conversation's list;
     * one that stays (an access, a promotion, a new content) keeps its place
     * without the list's memmove.
     */
    bool moves = !(was_turn && is_turn && strcmp(m->conversation_id, conv) == 0);
    if (was_turn && moves)
        unlink_turn(p, m);
    if (found < 0)
        m->prev_turn = m->next_turn = 0;
    m->id = e->id;
    m->expires_at = e->expires_at;
    snprintf(m->conversation_id, sizeof m->conversation_id, "%s",
             e->conversation_id ? e->conversation_id : "");
    m->memory_type = (uint8_t)e->memory_type;
    m->is_archived = e->is_archived;
    if (is_turn && moves)
        link_turn(p, m);
    /* Replaces the document: its terms and the partition's statistics are exact at once. */
    mr_lex_index_put(p->lex, e->id, e->content ? e->content : "", e->content ? e->content_len : 0);
    if (!p->graph) {
        memcpy(p->vecs + slot * dim, e->vec, dim * sizeof(float));
        if (p->q8)
            p->q8_scale[slot] = ix_quantize_i8(e->vec, dim, p->q8 + slot * dim);
        ix_build_touch(p, e->id);
    } else {
        const float *old = found >= 0 ? hnsw_vector(p->graph, e->id) : NULL;
        /* Access statistics rewrite entries on every search hit: only a new vector moves. */
        if (old && memcmp(old, e->vec, dim * sizeof(float)) == 0) {
            ix_build_maybe(ix, p);
            return;
        }
        if (old) {
            hnsw_delete(p->graph, e->id);
            p->graph_dead++;
        }
        hnsw_add(p->graph, e->id, e->vec);
        ix_build_touch(p, e->id);
    }
    ix_build_maybe(ix, p);
}

bool ix_part_drop(struct ix *ix, struct ix_part *p, int64_t id)
{
    long found = p ? ix_idmap_take(&p->slots, id) : -1;
    if (found < 0)
        return false;
    size_t dim = ix->dim, slot = (size_t)found, last = p->n - 1;
    if (mr_rule_is_turn((enum mr_memory_type)p->meta[slot].memory_type))
        unlink_turn(p, &p->meta[slot]);
    /* Move the last entry into the hole so vectors stay contiguous. */
    if (slot != last) {
        p->meta[slot] = p->meta[last];
        if (!p->graph)
            memcpy(p->vecs + slot * dim, p->vecs + last * dim, dim * sizeof(float));
        if (p->q8) {
            memcpy(p->q8 + slot * dim, p->q8 + last * dim, dim);
            p->q8_scale[slot] = p->q8_scale[last];
        }
        ix_idmap_put(&p->slots, p->meta[slot].id, (uint32_t)slot);
        ix_build_touch(p, p->meta[slot].id); /* moved: a build copying by slot may have passed it */
    }
    p->n--;
    mr_lex_index_remove(p->lex, id);
    ix_build_touch(p, id);
    if (p->graph) {
        hnsw_delete(p->graph, id);
        p->graph_dead++;
        ix_build_maybe(ix, p);
    }
    return true;
}

size_t ix_search_scope(struct ix *ix, const struct mr_identity *who, const struct mr_index_query *q,
                       const struct ix_part *out_parts[2], struct ix_filter out_filters[2])
{
    const struct ix_filter base = {q->conversation_id, q->type_mask, q->include_archived, q->now,
                                   NULL};
    const struct ix_part *own = ix_part_find(ix, who, false, false);
    size_t n = 0;
    if (own) {
        out_parts[n] = own;
        out_filters[n++] = base;
    }
    const struct ix_part *shared = q->include_shared ? ix_part_find(ix, who, true, false) : NULL;
    if (shared) {
        out_parts[n] = shared;
        out_filters[n] = base;
        out_filters[n++].skip = own;
    } else {
        /*
         * Strict isolation still reaches the tenant's knowledge (DESIGN.md §9): schema
         * memories are owned by no user (user_id "", core_tenant_knowledge), so their
         * partition is the tenant's "" one, which holds nothing else. Relaxed isolation
         * reaches them through the shared partition above.
         */
        const struct mr_identity owner = {"", who->tenant_id};
        const struct ix_part *knowledge = ix_part_find(ix, &owner, false, false);
        if (knowledge && knowledge != own) {
            out_parts[n] = knowledge;
            out_filters[n++] = base;
        }
    }
    return n;
}
