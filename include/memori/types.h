/*
 * types.h — the data model of DESIGN.md §2 as C structs, shared by the
 * store, the memory rules and the API codec.
 *
 * Ownership: every pointer inside a struct is owned by the struct and freed
 * by its *_clear function; a cleared struct is all zeros and may be reused.
 */
#ifndef MEMORI_TYPES_H
#define MEMORI_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "memori/util.h"

enum mr_memory_type {
    MR_SHORT_TERM = 0,
    MR_LONG_TERM,
    MR_RULE,
    MR_ENTITY,
    MR_RELATIONSHIP,
    MR_EXAMPLE, /* a question -> SQL pair (DESIGN.md §9) */
    MR_MEMORY_TYPE_COUNT
};

/* "short_term", ... ; NULL for an out-of-range value. */
const char *mr_memory_type_name(enum mr_memory_type t);

/* Parses a type name of length n; returns 0 and *out, or -1. */
int mr_memory_type_parse(const char *s, size_t n, enum mr_memory_type *out);

/* An owned array of owned strings. */
struct mr_strv {
    char **items;
    size_t len;
};

void mr_strv_push(struct mr_strv *v, const char *s, size_t n);
void mr_strv_copy(struct mr_strv *dst, const struct mr_strv *src);
void mr_strv_clear(struct mr_strv *v);
/* True when a and b hold the same strings in the same order. */
bool mr_strv_equal(const struct mr_strv *a, const struct mr_strv *b);

/* Who is asking: every store query is scoped by both (DESIGN.md §6). */
struct mr_identity {
    const char *user_id;
    const char *tenant_id;
};

struct mr_conversation {
    int64_t id;
    char conversation_id[MR_UUID_LEN];
    char *user_id;
    char *tenant_id;
    bool has_data_source_id;
    int64_t data_source_id;
    char *title;    /* NULL when not set */
    char *metadata; /* JSON object text, never NULL once loaded */
    bool is_active;
    int64_t last_activity_at, created_at, updated_at; /* µs since epoch, UTC */
};

void mr_conversation_clear(struct mr_conversation *c);

#define MR_NO_TIME INT64_MIN /* a nullable timestamp that is null */

struct mr_memory {
    int64_t id;
    char memory_id[MR_UUID_LEN];
    char conversation_id[MR_UUID_LEN];
    char *user_id;
    char *tenant_id;
    char *content;
    enum mr_memory_type memory_type;
    float *embedding; /* dim floats, L2-normalised */
    size_t dim;
    double importance_score;
    int64_t access_count;
    int64_t last_accessed_at; /* MR_NO_TIME when never accessed */
    struct mr_strv context_tags;
    struct mr_strv related_entities;
    char *metadata;     /* JSON object text */
    int64_t expires_at; /* MR_NO_TIME when it never expires */
    bool is_archived;
    bool is_shared; /* visible read-only to the tenant under relaxed isolation */
    int64_t created_at, updated_at;
    bool has_data_source_id; /* the database the memory is about (DESIGN.md §9) */
    int64_t data_source_id;
};

/* Types an owner may share with the tenant (DESIGN.md §6). */
static inline bool mr_memory_type_shareable(enum mr_memory_type t)
{
    return t == MR_RULE || t == MR_ENTITY || t == MR_RELATIONSHIP || t == MR_EXAMPLE;
}

void mr_memory_clear(struct mr_memory *m);

/*
 * One event of a memory's history (issue 20, docs/hygiene.md): who did what
 * to it, when, and the old and new value of each field it changed, as a JSON
 * object {"field": {"old": v, "new": v}, ...}. Kept after the memory is
 * deleted; user_id and tenant_id are the memory's owner's (who may read it),
 * actor the caller's.
 */
struct mr_history_event {
    int64_t id; /* its order: events of one memory are listed by id */
    char memory_id[MR_UUID_LEN];
    char *user_id;
    char *tenant_id;
    char *actor;
    char *kind;    /* "create", "update", "promote", "archive", "merge", "delete", ... */
    char *changes; /* JSON object text */
    int64_t created_at;
};

void mr_history_event_clear(struct mr_history_event *e);

/* Per-user statistics (DESIGN.md §4, statistics/summary). */
struct mr_stats {
    int64_t total;
    int64_t by_type[MR_MEMORY_TYPE_COUNT];
    int64_t archived;
    double average_importance;
};

#endif
