/*
 * config.h — the configuration of DESIGN.md §5, read from the environment
 * and an optional .env file (the environment wins). Every value is checked
 * at start-up; a bad one stops it with one line naming the variable and
 * the accepted values (secrets are never echoed).
 */
#ifndef MEMORI_CONFIG_H
#define MEMORI_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "memori/err.h"

enum mr_db_kind { MR_DB_SQLITE, MR_DB_POSTGRES };

struct mr_config {
    char *host;
    int port;

    char *database_url;
    enum mr_db_kind db_kind;
    char *sqlite_path; /* for MR_DB_SQLITE */
    int database_pool_size;
    int database_max_overflow;

    char *embedding_provider; /* "builtin" | "openai" */
    int embedding_timeout_ms;
    int embedding_max_retries;
    char *embedding_model;
    char *model_path;         /* the semantic model's file; "" = ../models/ beside the binary */
    int embedding_dimensions; /* 0 = the model's own */
    int embedding_batch_size;
    int embedding_cache_ttl;

    int short_term_expiry_days;
    int archive_threshold_days;
    int max_context_memories; /* default search limit */
    bool has_min_similarity;  /* false: the model's calibrated default */
    double min_similarity;

    char *redis_url;
    bool redis_enabled;
    int redis_timeout_ms;
    size_t embedding_cache_bytes; /* in-process cache of a remote provider; 0 = none */

    bool enable_multi_tenant;
    char *tenant_isolation_level; /* "strict" | "relaxed" */

    char *secret_key;
    char *algorithm;
    int access_token_expire_minutes;

    bool debug;
    char *environment; /* "development" | "staging" | "production" */

    char *openai_api_key;
    char *openai_base_url;

    size_t max_body_bytes;
    int http_threads;
    int max_connections;
    int connection_timeout_s;     /* idle and slow-read connections are closed after it */
    size_t max_header_bytes;      /* per-connection memory for the request line and headers */
    int header_timeout_s;         /* the request line and headers as a whole, from the first byte */
    int body_timeout_s;           /* the whole body, from the end of the headers */
    int max_connections_per_peer; /* from one client address; 0: no limit */
    size_t max_metadata_bytes;    /* a memory's or conversation's metadata, after a merge */
    size_t max_response_bytes;    /* one search or page answer; past it, fewer results */
    int max_list_items;           /* context_tags, related_entities, memory_types */
    int hnsw_threshold;           /* a user's memories at which search uses HNSW; 0 = never */
    int hnsw_ef_search;
    bool index_int8;     /* exact scans over int8 copies, rescored in float32 */
    bool index_snapshot; /* graphs saved beside the SQLite file at stop, reused at start */
    char *log_format;    /* "text" | "json": the access lines' form */
    bool metrics;        /* recording of the /metrics counters (MEMORI_METRICS) */
    char *dedup;         /* "off" | "merge": a create's default "dedup" (MEMORI_DEDUP) */
    char *docs_dir;      /* /docs' and /ui's files; "" = "docs" beside the binary */

    uint64_t set_mask; /* which variables were given (bit = row of the table in config.c) */
};

/* True when the variable was given (environment or .env), not defaulted. */
bool mr_config_is_set(const struct mr_config *cfg, const char *name);

/*
 * Loads cfg from env (a NULL-terminated "NAME=VALUE" array, like environ)
 * over the file dotenv_path (skipped when NULL or absent). On a bad value
 * returns MR_EINVAL with err naming the variable and what it accepts.
 * Free with mr_config_free (also after a failure).
 */
int mr_config_load(struct mr_config *cfg, char *const *env, const char *dotenv_path,
                   struct mr_err *err);

void mr_config_free(struct mr_config *cfg);

/*
 * Where the store is, for messages such as the start-up line: the SQLite
 * file's path, or DATABASE_URL with its password masked
 * ("postgresql://memori:***@db:5432/memori", also a ?password= parameter).
 * Writes into buf (cap bytes, truncated) and returns it.
 */
const char *mr_config_database_location(const struct mr_config *cfg, char *buf, size_t cap);

/* Calls fn for each variable with its effective value; secrets are shown as "***". */
void mr_config_each(const struct mr_config *cfg,
                    void (*fn)(void *arg, const char *name, const char *value), void *arg);

#endif
