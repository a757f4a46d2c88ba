/*
 * fields.c — the request fields of the API and their limits (fields.h).
 * The limits are those of the reference templates' pydantic models
 * (DESIGN.md §4); the validators read them from here, and so does the
 * OpenAPI document.
 */
#include "fields.h"

#include <stdint.h>
#include <string.h>

#include "memori/sql.h"
#include "memori/auth.h"

/* A memory's text, as the reference's Field(min_length=1, max_length=10000). */
#define CONTENT_MAX 10000
#define QUERY_MAX 1000
#define TITLE_MAX 500

#define STR(n, p, lo, hi, d)                                                                       \
    {                                                                                              \
        n, API_STRING, p, lo, hi, 0, 0, 0, false, d                                                \
    }
#define INT(n, p, lo, hi, d)                                                                       \
    {                                                                                              \
        n, API_INTEGER, p, lo, hi, 0, 0, 0, false, d                                               \
    }
#define NUM(n, p, lo, hi, d)                                                                       \
    {                                                                                              \
        n, API_NUMBER, p, 0, 0, lo, hi, 0, false, d                                                \
    }
#define OF(n, k, p, d)                                                                             \
    {                                                                                              \
        n, k, p, 0, 0, 0, 0, 0, false, d                                                           \
    }

const char *const api_dedup_modes[] = {"off", "merge", NULL};
const char *const api_dedup_policies[] = {"keep", "replace", NULL};

const struct api_field api_memory_create_fields[MC_N] = {
    [MC_CONTENT] = STR("content", API_REQUIRED, 1, CONTENT_MAX, "The memory's text."),
    [MC_MEMORY_TYPE] = OF("memory_type", API_MEMORY_TYPE, API_REQUIRED, NULL),
    [MC_CONVERSATION_ID] = OF("conversation_id", API_UUID, API_REQUIRED,
                              "An unknown conversation is created for the caller."),
    [MC_IMPORTANCE] = NUM("importance_score", API_OPTIONAL, 0.0, 1.0, "Default 0.5."),
    [MC_TAGS] = OF("context_tags", API_STRINGS, API_OPTIONAL, NULL),
    [MC_ENTITIES] = OF("related_entities", API_STRINGS, API_OPTIONAL, NULL),
    [MC_METADATA] = OF("metadata", API_OBJECT, API_OPTIONAL, NULL),
    [MC_EXPIRES_AT] = OF("expires_at", API_DATETIME, API_NULLABLE,
                         "Absent: the type's default expiry (DESIGN.md §3)."),
    [MC_SHARED] =
        OF("shared", API_BOOLEAN, API_OPTIONAL, "Also found by the tenant's other users."),
    [MC_DEDUP] = {"dedup", API_ENUM, API_OPTIONAL, 0, 0, 0, 0, 0, false,
                  "Near duplicates: merge into the closest live memory of the type (200, "
                  "X-Memori-Merged), or off. Default MEMORI_DEDUP. Exact duplicates always "
                  "answer the stored memory (200, X-Memori-Duplicate).",
                  api_dedup_modes},
    [MC_DEDUP_POLICY] = {"dedup_policy", API_ENUM, API_OPTIONAL, 0, 0, 0, 0, 0, false,
                         "A merge keeps the stored content (default) or replaces it.",
                         api_dedup_policies},
};

const struct api_field api_memory_patch_fields[MP_N] = {
    [MP_CONTENT] = STR("content", API_NULLABLE, 1, CONTENT_MAX, "Re-embedded when changed."),
    [MP_IMPORTANCE] = NUM("importance_score", API_NULLABLE, 0.0, 1.0, NULL),
    [MP_TAGS] = OF("context_tags", API_STRINGS, API_NULLABLE, "Replaces the tags."),
    [MP_METADATA] = OF("metadata", API_OBJECT, API_NULLABLE, "Merged key by key."),
    [MP_SHARED] = OF("shared", API_BOOLEAN, API_NULLABLE, NULL),
    [MP_SUPERSEDES] = OF("supersedes", API_UUIDS, API_NULLABLE,
                         "The caller's memories this one replaces: archived and linked."),
};

const struct api_field api_search_fields[MS_N] = {
    [MS_QUERY] = STR("query", API_REQUIRED, 1, QUERY_MAX, NULL),
    [MS_CONVERSATION_ID] = OF("conversation_id", API_UUID, API_NULLABLE, NULL),
    [MS_LIMIT] = INT("limit", API_OPTIONAL, 1, 100, NULL),
    [MS_MIN_SIMILARITY] = NUM("min_similarity", API_NULLABLE, 0.0, 1.0, NULL),
    [MS_MEMORY_TYPES] =
        OF("memory_types", API_MEMORY_TYPES, API_NULLABLE, "An empty list filters nothing."),
    [MS_INCLUDE_ARCHIVED] = OF("include_archived", API_BOOLEAN, API_OPTIONAL, NULL),
    [MS_MODE] = OF("mode", API_SEARCH_MODE, API_OPTIONAL, "Default hybrid (docs/ranking.md)."),
};

const struct api_field api_conversation_create_fields[CC_N] = {
    [CC_CONVERSATION_ID] = OF("conversation_id", API_UUID, API_NULLABLE, "Absent: a new one."),
    [CC_TITLE] = STR("title", API_NULLABLE, 0, TITLE_MAX, NULL),
    [CC_DATA_SOURCE_ID] = INT("data_source_id", API_NULLABLE, API_NO_MIN, API_NO_MAX, NULL),
    [CC_METADATA] = OF("metadata", API_OBJECT, API_OPTIONAL, NULL),
    [CC_IS_ACTIVE] = OF("is_active", API_BOOLEAN, API_OPTIONAL, NULL),
};

const struct api_field api_conversation_patch_fields[CP_N] = {
    [CP_TITLE] = STR("title", API_NULLABLE, 0, TITLE_MAX, NULL),
    [CP_DATA_SOURCE_ID] = INT("data_source_id", API_NULLABLE, API_NO_MIN, API_NO_MAX, NULL),
    [CP_METADATA] = OF("metadata", API_OBJECT, API_NULLABLE, "Merged key by key."),
    [CP_IS_ACTIVE] = OF("is_active", API_BOOLEAN, API_NULLABLE, NULL),
};

/* Defaults (the codec's): token_budget 2000, max_tables 8, max_examples 3, max_rules 10. */
const struct api_field api_context_fields[CX_N] = {
    [CX_QUESTION] = STR("question", API_REQUIRED, 1, QUERY_MAX, NULL),
    [CX_DATA_SOURCE_ID] =
        INT("data_source_id", API_NULLABLE, 1, API_NO_MAX, "Absent: the conversation's."),
    [CX_CONVERSATION_ID] =
        OF("conversation_id", API_UUID, API_NULLABLE, "The caller's; its latest turns are shown."),
    [CX_TOKEN_BUDGET] = INT("token_budget", API_OPTIONAL, 100, 100000, "Default 2000."),
    [CX_MAX_TABLES] = INT("max_tables", API_OPTIONAL, 1, 50, "Default 8."),
    [CX_MAX_EXAMPLES] = INT("max_examples", API_OPTIONAL, 0, 20, "Default 3."),
    [CX_MAX_RULES] = INT("max_rules", API_OPTIONAL, 0, 100,
                         "Default 10; pinned rules count towards it but are never left out."),
};

const struct api_field api_example_fields[EX_N] = {
    [EX_QUESTION] = STR("question", API_REQUIRED, 1, CONTENT_MAX, NULL),
    [EX_SQL] =
        STR("sql", API_REQUIRED, 1, API_NO_MAX, "Checked against the data source's stored schema."),
    [EX_DATA_SOURCE_ID] = INT("data_source_id", API_REQUIRED, 1, API_NO_MAX, NULL),
    [EX_CONVERSATION_ID] = OF("conversation_id", API_UUID, API_NULLABLE, NULL),
    [EX_VERIFIED] = OF("verified", API_BOOLEAN, API_NULLABLE, NULL),
    [EX_METADATA] = OF("metadata", API_OBJECT, API_NULLABLE, NULL),
};

const struct api_field api_schema_fields[SC_N] = {
    [SC_DIALECT] = OF("dialect", API_SQL_DIALECT, API_NULLABLE, "Default postgresql."),
    [SC_DDL] = OF("ddl", API_STRING, API_NULLABLE, "CREATE TABLE statements (or tables)."),
    [SC_TABLES] = {"tables", API_SQL_TABLES, API_NULLABLE, 0, MR_SQL_MAX_TABLES, 0, 0, 0, false,
                   "The tables as JSON (or ddl); more than the maximum is 413."},
};

const struct api_field api_page_query[PQ_N] = {
    [PQ_LIMIT] = {"limit", API_INTEGER, API_OPTIONAL, 1, 100, 0, 0, 20, true, NULL},
    [PQ_OFFSET] = {"offset", API_INTEGER, API_OPTIONAL, 0, INT32_MAX, 0, 0, 0, true, NULL},
};

const struct api_field api_archive_query[AQ_N] = {
    [AQ_DAYS_THRESHOLD] =
        INT("days_threshold", API_OPTIONAL, 1, 365, "Default: ARCHIVE_THRESHOLD_DAYS."),
};

const struct api_field api_scope_query[SQ_N] = {
    [SQ_ALL_USERS] = OF("all_users", API_BOOLEAN, API_OPTIONAL, "Admins only: the whole tenant."),
    [SQ_USER_ID] = STR("user_id", API_OPTIONAL, 1, MR_MAX_ID_CHARS, "Admins only: that user."),
};

const struct api_field api_memory_list_query[LQ_N] = {
    [LQ_MEMORY_TYPE] =
        OF("memory_type", API_MEMORY_TYPE, API_OPTIONAL, "Only the memories of this type."),
};

const struct api_field api_path_params[PP_N] = {
    [PP_MEMORY_ID] = OF("memory_id", API_UUID, API_REQUIRED, NULL),
    [PP_CONVERSATION_ID] = OF("conversation_id", API_UUID, API_REQUIRED, NULL),
    [PP_DATA_SOURCE_ID] = INT("data_source_id", API_REQUIRED, 1, API_NO_MAX, NULL),
    [PP_DOC_ID] = STR("doc_id", API_REQUIRED, 1, 64,
                      "index.html, init.js, swagger-ui.css or swagger-ui-bundle.js"),
    [PP_UI_ID] = STR("ui_id", API_REQUIRED, 1, 64, "index.html, ui.js or ui.css"),
};

#define SET(id, a, empty, d)                                                                       \
    {                                                                                              \
        id, a, sizeof a / sizeof a[0], empty, d                                                    \
    }

static const struct api_fields sets[] = {
    SET("MemoryCreate", api_memory_create_fields, false, NULL),
    SET("MemoryUpdate", api_memory_patch_fields, false, NULL),
    SET("MemorySearch", api_search_fields, false, NULL),
    SET("ConversationCreate", api_conversation_create_fields, true, "An empty body is {}."),
    SET("ConversationUpdate", api_conversation_patch_fields, false, NULL),
    SET("ExampleCreate", api_example_fields, false, NULL),
    SET("ContextRequest", api_context_fields, false, NULL),
    SET("SchemaPut", api_schema_fields, false, "Either ddl (with dialect) or tables."),
    SET("PageQuery", api_page_query, false, NULL),
    SET("ArchiveQuery", api_archive_query, false, NULL),
    SET("ScopeQuery", api_scope_query, false, NULL),
    SET("MemoryListQuery", api_memory_list_query, false, NULL),
};

const struct api_fields *api_fields_find(const char *id)
{
    for (size_t i = 0; id && i < sizeof sets / sizeof sets[0]; i++)
        if (strcmp(sets[i].id, id) == 0)
            return &sets[i];
    return NULL;
}

const struct api_fields *api_fields_all(size_t *out_n)
{
    *out_n = sizeof sets / sizeof sets[0];
    return sets;
}

const struct api_field *api_path_param(const char *name)
{
    for (size_t i = 0; i < PP_N; i++)
        if (strcmp(api_path_params[i].name, name) == 0)
            return &api_path_params[i];
    return NULL;
}
