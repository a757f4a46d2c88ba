/* Unit tests of configuration loading (DESIGN.md §5): defaults, every variable, bad values. */
#include <stdio.h>
#include <stdlib.h>

#include "memori/config.h"
#include "test.h"

static int load(struct mr_config *cfg, char *const *env, struct mr_err *err)
{
    return mr_config_load(cfg, env, NULL, err);
}

TEST(test_defaults_match_reference)
{
    struct mr_config c;
    struct mr_err err;
    char *env[] = {NULL};
    CHECK(load(&c, env, &err) == 0);
    CHECK_STR(c.host, "127.0.0.1");
    CHECK_INT(c.port, 8000);
    CHECK_STR(c.database_url, "sqlite:///./memori.db");
    CHECK_INT(c.db_kind, MR_DB_SQLITE);
    CHECK_STR(c.sqlite_path, "./memori.db");
    CHECK_INT(c.database_pool_size, 20);
    CHECK_INT(c.database_max_overflow, 10);
    CHECK_STR(c.embedding_model, "memori-wordnet-v2");
    CHECK_STR(c.model_path, "");
    CHECK_INT(c.short_term_expiry_days, 7);
    CHECK_INT(c.archive_threshold_days, 30);
    CHECK_INT(c.max_context_memories, 10);
    CHECK(!c.has_min_similarity);
    CHECK_INT(c.embedding_batch_size, 100);
    CHECK_INT(c.embedding_cache_ttl, 3600);
    CHECK(!c.redis_enabled);
    CHECK(c.enable_multi_tenant);
    CHECK_STR(c.tenant_isolation_level, "strict");
    CHECK_STR(c.algorithm, "HS256");
    CHECK_INT(c.access_token_expire_minutes, 30);
    CHECK(!c.debug);
    CHECK_STR(c.environment, "development");
    CHECK_INT(c.max_body_bytes, 1048576);
    CHECK(c.secret_key == NULL);
    /* The HTTP edge's deadlines and bounds (docs/security.md). */
    CHECK_INT(c.header_timeout_s, 10);
    CHECK_INT(c.body_timeout_s, 30);
    CHECK_INT(c.max_connections_per_peer, 0);
    CHECK_INT(c.max_metadata_bytes, 65536);
    CHECK_INT(c.max_response_bytes, 4194304);
    CHECK_STR(c.docs_dir, "");
    mr_config_free(&c);
}

TEST(test_edge_limits_are_read)
{
    struct mr_config c;
    struct mr_err err;
    char *env[] = {"MEMORI_HEADER_TIMEOUT_S=2",          "MEMORI_BODY_TIMEOUT_S=7",
                   "MEMORI_MAX_CONNECTIONS_PER_PEER=16", "MEMORI_MAX_METADATA_BYTES=4096",
                   "MEMORI_MAX_RESPONSE_BYTES=65536",    NULL};
    CHECK(load(&c, env, &err) == 0);
    CHECK_INT(c.header_timeout_s, 2);
    CHECK_INT(c.body_timeout_s, 7);
    CHECK_INT(c.max_connections_per_peer, 16);
    CHECK_INT(c.max_metadata_bytes, 4096);
    CHECK_INT(c.max_response_bytes, 65536);
    CHECK(mr_config_is_set(&c, "MEMORI_HEADER_TIMEOUT_S"));
    mr_config_free(&c);
}

TEST(test_every_variable_is_read)
{
    struct mr_config c;
    struct mr_err err;
    char *env[] = {"HOST=0.0.0.0",
                   "PORT=9001",
                   "DATABASE_URL=sqlite:////var/lib/m.db",
                   "DATABASE_POOL_SIZE=5",
                   "DATABASE_MAX_OVERFLOW=3",
                   "MEMORI_EMBEDDING_MODEL=x",
                   "MEMORI_MODEL_PATH=/m.bin",
                   "MEMORI_EMBEDDING_DIMENSIONS=256",
                   "MEMORY_SHORT_TERM_EXPIRY_DAYS=3",
                   "MEMORY_ARCHIVE_THRESHOLD_DAYS=60",
                   "MEMORY_MAX_CONTEXT_MEMORIES=25",
                   "MEMORY_MIN_SIMILARITY_THRESHOLD=0",
                   "EMBEDDING_BATCH_SIZE=32",
                   "EMBEDDING_CACHE_TTL=60",
                   "REDIS_URL=redis://localhost:6379/0",
                   "REDIS_ENABLED=yes",
                   "ENABLE_MULTI_TENANT=false",
                   "TENANT_ISOLATION_LEVEL=relaxed",
                   "SECRET_KEY=s3cret",
                   "ALGORITHM=HS512",
                   "ACCESS_TOKEN_EXPIRE_MINUTES=5",
                   "DEBUG=1",
                   "ENVIRONMENT=staging",
                   "OPENAI_API_KEY=sk-x",
                   "OPENAI_BASE_URL=http://127.0.0.1:9/v1",
                   "MEMORI_MAX_BODY_BYTES=2048",
                   "MEMORI_HTTP_THREADS=8",
                   "MEMORI_DOCS_DIR=/srv/memori/docs",
                   NULL};
    CHECK(load(&c, env, &err) == 0);
    CHECK_STR(c.host, "0.0.0.0");
    CHECK_INT(c.port, 9001);
    CHECK_STR(c.sqlite_path, "/var/lib/m.db");
    CHECK_INT(c.database_pool_size, 5);
    CHECK_INT(c.database_max_overflow, 3);
    CHECK_STR(c.embedding_model, "x");
    CHECK_STR(c.model_path, "/m.bin");
    CHECK_INT(c.embedding_dimensions, 256);
    CHECK_INT(c.short_term_expiry_days, 3);
    CHECK_INT(c.archive_threshold_days, 60);
    CHECK_INT(c.max_context_memories, 25);
    CHECK(c.has_min_similarity);
    CHECK_NEAR(c.min_similarity, 0, 0);
    CHECK_INT(c.embedding_batch_size, 32);
    CHECK_INT(c.embedding_cache_ttl, 60);
    CHECK_STR(c.redis_url, "redis://localhost:6379/0");
    CHECK(c.redis_enabled);
    CHECK(!c.enable_multi_tenant);
    CHECK_STR(c.tenant_isolation_level, "relaxed");
    CHECK_STR(c.secret_key, "s3cret");
    CHECK_STR(c.algorithm, "HS512");
    CHECK_INT(c.access_token_expire_minutes, 5);
    CHECK(c.debug);
    CHECK_STR(c.environment, "staging");
    CHECK_STR(c.openai_api_key, "sk-x");
    CHECK_STR(c.openai_base_url, "http://127.0.0.1:9/v1");
    CHECK_INT(c.max_body_bytes, 2048);
    CHECK_INT(c.http_threads, 8);
    CHECK_STR(c.docs_dir, "/srv/memori/docs");
    mr_config_free(&c);
}

/* Each bad value fails and names its variable. */
TEST(test_bad_values_name_the_variable)
{
    static const char *const bad[][2] = {
        {"PORT=abc", "PORT"},
        {"PORT=70000", "PORT"},
        {"PORT=-1", "PORT"},
        {"PORT=", "PORT"},
        {"MEMORY_MIN_SIMILARITY_THRESHOLD=2", "MEMORY_MIN_SIMILARITY_THRESHOLD"},
        {"MEMORY_MIN_SIMILARITY_THRESHOLD=-0.1", "MEMORY_MIN_SIMILARITY_THRESHOLD"},
        {"MEMORY_MIN_SIMILARITY_THRESHOLD=nan", "MEMORY_MIN_SIMILARITY_THRESHOLD"},
        {"DATABASE_URL=mysql://x/y", "DATABASE_URL"},
        {"DATABASE_URL=sqlite:///", "DATABASE_URL"},
        {"DATABASE_POOL_SIZE=0", "DATABASE_POOL_SIZE"},
        {"DATABASE_MAX_OVERFLOW=-2", "DATABASE_MAX_OVERFLOW"},
        {"MEMORI_EMBEDDING_DIMENSIONS=lots", "MEMORI_EMBEDDING_DIMENSIONS"},
        {"MEMORY_SHORT_TERM_EXPIRY_DAYS=0", "MEMORY_SHORT_TERM_EXPIRY_DAYS"},
        {"MEMORY_ARCHIVE_THRESHOLD_DAYS=366", "MEMORY_ARCHIVE_THRESHOLD_DAYS"},
        {"MEMORY_MAX_CONTEXT_MEMORIES=101", "MEMORY_MAX_CONTEXT_MEMORIES"},
        {"EMBEDDING_BATCH_SIZE=0", "EMBEDDING_BATCH_SIZE"},
        {"EMBEDDING_CACHE_TTL=1.5", "EMBEDDING_CACHE_TTL"},
        {"REDIS_ENABLED=maybe", "REDIS_ENABLED"},
        {"ENABLE_MULTI_TENANT=2", "ENABLE_MULTI_TENANT"},
        {"TENANT_ISOLATION_LEVEL=loose", "TENANT_ISOLATION_LEVEL"},
        {"ALGORITHM=none", "ALGORITHM"},
        {"ACCESS_TOKEN_EXPIRE_MINUTES=0", "ACCESS_TOKEN_EXPIRE_MINUTES"},
        {"DEBUG=verbose", "DEBUG"},
        {"ENVIRONMENT=prod", "ENVIRONMENT"},
        {"MEMORI_EMBEDDING_PROVIDER=magic", "MEMORI_EMBEDDING_PROVIDER"},
        {"MEMORI_MAX_BODY_BYTES=10", "MEMORI_MAX_BODY_BYTES"},
        {"MEMORI_HTTP_THREADS=0", "MEMORI_HTTP_THREADS"},
        {"MEMORI_HEADER_TIMEOUT_S=0", "MEMORI_HEADER_TIMEOUT_S"},
        {"MEMORI_HEADER_TIMEOUT_S=2s", "MEMORI_HEADER_TIMEOUT_S"},
        {"MEMORI_BODY_TIMEOUT_S=-1", "MEMORI_BODY_TIMEOUT_S"},
        {"MEMORI_BODY_TIMEOUT_S=3601", "MEMORI_BODY_TIMEOUT_S"},
        {"MEMORI_MAX_CONNECTIONS_PER_PEER=-1", "MEMORI_MAX_CONNECTIONS_PER_PEER"},
        {"MEMORI_MAX_CONNECTIONS_PER_PEER=many", "MEMORI_MAX_CONNECTIONS_PER_PEER"},
        {"MEMORI_MAX_METADATA_BYTES=100", "MEMORI_MAX_METADATA_BYTES"},
        {"MEMORI_MAX_METADATA_BYTES=64KiB", "MEMORI_MAX_METADATA_BYTES"},
        {"MEMORI_MAX_RESPONSE_BYTES=1000", "MEMORI_MAX_RESPONSE_BYTES"},
        {"MEMORI_MAX_RESPONSE_BYTES=4294967296", "MEMORI_MAX_RESPONSE_BYTES"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct mr_config c;
        struct mr_err err;
        char *env[] = {(char *)bad[i][0], NULL};
        int rc = load(&c, env, &err);
        mr_config_free(&c);
        if (rc != MR_EINVAL || !strstr(err.msg, bad[i][1]) || !strstr(err.msg, "expected")) {
            test_fail(__FILE__, __LINE__, "%s: rc %d, message '%s'", bad[i][0], rc, err.msg);
            return;
        }
    }
}

TEST(test_secrets_never_in_messages)
{
    struct mr_config c;
    struct mr_err err;
    char *env[] = {"DATABASE_URL=mysql://admin:hunter2@db/x", NULL};
    CHECK(load(&c, env, &err) != 0);
    CHECK(strstr(err.msg, "hunter2") == NULL);
    mr_config_free(&c);
}

static void collect(void *arg, const char *name, const char *value)
{
    char *buf = arg;
    size_t n = strlen(buf);
    snprintf(buf + n, 4096 - n, "%s=%s\n", name, value);
}

TEST(test_printing_masks_secrets)
{
    struct mr_config c;
    struct mr_err err;
    char *env[] = {"SECRET_KEY=topsecretvalue", "OPENAI_API_KEY=sk-abcdef", NULL};
    CHECK(load(&c, env, &err) == 0);
    char buf[4096] = "";
    mr_config_each(&c, collect, buf);
    CHECK(strstr(buf, "topsecretvalue") == NULL);
    CHECK(strstr(buf, "sk-abcdef") == NULL);
    CHECK(strstr(buf, "SECRET_KEY=***") != NULL);
    CHECK(strstr(buf, "PORT=8000") != NULL);
    mr_config_free(&c);
}

TEST(test_dotenv_is_read_and_environment_wins)
{
    char path[512];
    test_path(path, sizeof path, "dotenv");
    FILE *f = fopen(path, "w");
    CHECK(f);
    fputs("# comment\n\nexport PORT=9100\nHOST = \"10.0.0.1\"\nDEBUG=true # trailing\n"
          "MEMORY_ARCHIVE_THRESHOLD_DAYS='45'\nUNKNOWN_THING=whatever\n",
          f);
    fclose(f);
    struct mr_config c;
    struct mr_err err;
    char *env[] = {"PORT=9200", NULL};
    CHECK(mr_config_load(&c, env, path, &err) == 0);
    CHECK_INT(c.port, 9200);
    CHECK_STR(c.host, "10.0.0.1");
    CHECK(c.debug);
    CHECK_INT(c.archive_threshold_days, 45);
    mr_config_free(&c);
}

TEST(test_dotenv_bad_value_and_bad_line)
{
    char path[512];
    test_path(path, sizeof path, "dotenv-bad");
    FILE *f = fopen(path, "w");
    CHECK(f);
    fputs("PORT=abc\n", f);
    fclose(f);
    struct mr_config c;
    struct mr_err err;
    char *env[] = {NULL};
    CHECK(mr_config_load(&c, env, path, &err) == MR_EINVAL);
    CHECK(strstr(err.msg, "PORT") != NULL);
    mr_config_free(&c);
    f = fopen(path, "w");
    fputs("JUST_A_WORD\n", f);
    fclose(f);
    CHECK(mr_config_load(&c, env, path, &err) == MR_EINVAL);
    CHECK(strstr(err.msg, "line 1") != NULL);
    mr_config_free(&c);
}

TEST(test_missing_dotenv_is_fine)
{
    struct mr_config c;
    struct mr_err err;
    char *env[] = {NULL};
    CHECK(mr_config_load(&c, env, "/nonexistent/.env", &err) == 0);
    mr_config_free(&c);
}

TEST(test_postgres_url_selects_postgres)
{
    struct mr_config c;
    struct mr_err err;
    char *env[] = {"DATABASE_URL=postgresql://u:p@127.0.0.1:5432/db", NULL};
    CHECK(load(&c, env, &err) == 0);
    CHECK_INT(c.db_kind, MR_DB_POSTGRES);
    mr_config_free(&c);
}

/* Defaults that depend on the provider and model come from the embedder registry. */
TEST(test_provider_defaults_come_from_the_registry)
{
    struct mr_config c;
    struct mr_err err;
    char *openai[] = {"MEMORI_EMBEDDING_PROVIDER=openai", NULL};
    CHECK(load(&c, openai, &err) == 0);
    CHECK_STR(c.embedding_model, "text-embedding-ada-002");
    /* Unset, the threshold is the default mode's (hybrid, the fused score; docs/ranking.md). */
    CHECK(!c.has_min_similarity);
    CHECK_NEAR(c.min_similarity, 0.35, 0);
    mr_config_free(&c);
    char *lexical[] = {"MEMORI_EMBEDDING_MODEL=memori-lexical-v1", NULL};
    CHECK(load(&c, lexical, &err) == 0);
    CHECK_NEAR(c.min_similarity, 0.05, 0);
    mr_config_free(&c);
    char *builtin[] = {NULL};
    CHECK(load(&c, builtin, &err) == 0);
    CHECK_NEAR(c.min_similarity, 0.175, 0);
    char buf[4096] = "";
    mr_config_each(&c, collect, buf);
    CHECK(strstr(buf,
                 "MEMORY_MIN_SIMILARITY_THRESHOLD=0.175 (model default; semantic mode 0.6, lexical "
                 "mode 0.025)\n") != NULL);
    mr_config_free(&c);
    /* A given threshold wins, 0 included. */
    char *given[] = {"MEMORI_EMBEDDING_PROVIDER=openai", "MEMORY_MIN_SIMILARITY_THRESHOLD=0", NULL};
    CHECK(load(&c, given, &err) == 0);
    CHECK(c.has_min_similarity);
    CHECK_NEAR(c.min_similarity, 0, 0);
    mr_config_free(&c);
}

/* The start-up line's location: SQLite's path, PostgreSQL's URL with the password masked. */
TEST(test_database_location_masks_the_password)
{
    static const char *const cases[][2] = {
        {"DATABASE_URL=sqlite:///./data/m.db", "./data/m.db"},
        {"DATABASE_URL=postgresql://memori:hunter2@db:5432/memori",
         "postgresql://memori:***@db:5432/memori"},
        {"DATABASE_URL=postgresql+asyncpg://u:p%40ss@db/x?sslmode=require",
         "postgresql+asyncpg://u:***@db/x?sslmode=require"},
        {"DATABASE_URL=postgresql://memori@db/memori", "postgresql://memori@db/memori"},
        {"DATABASE_URL=postgres://db/memori?user=u&password=hunter2&sslmode=disable",
         "postgres://db/memori?user=u&password=***&sslmode=disable"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct mr_config c;
        struct mr_err err;
        char *env[] = {(char *)cases[i][0], NULL}, where[256];
        CHECK(load(&c, env, &err) == 0);
        const char *got = mr_config_database_location(&c, where, sizeof where);
        if (strcmp(got, cases[i][1]) != 0) {
            test_fail(__FILE__, __LINE__, "%s: got %s", cases[i][0], got);
            mr_config_free(&c);
            return;
        }
        /* Truncated, never past the buffer. */
        char tiny[8];
        CHECK(strlen(mr_config_database_location(&c, tiny, sizeof tiny)) == 7 ||
              strlen(cases[i][1]) < 8);
        mr_config_free(&c);
    }
}

/* Every SQLAlchemy driver form the PostgreSQL store accepts, the configuration accepts too. */
TEST(test_postgres_driver_urls_select_postgres)
{
    static const char *const urls[] = {
        "DATABASE_URL=postgres://u:p@h/db",
        "DATABASE_URL=postgresql+asyncpg://u:p@h/db",
        "DATABASE_URL=postgresql+psycopg2://u:p@h:5432/db",
        "DATABASE_URL=postgresql+psycopg://u:p@h/db",
        "DATABASE_URL=postgresql+pg8000://u:p@h/db",
    };
    for (size_t i = 0; i < sizeof urls / sizeof *urls; i++) {
        struct mr_config c;
        struct mr_err err;
        char *env[] = {(char *)urls[i], NULL};
        int rc = load(&c, env, &err);
        if (rc != 0 || c.db_kind != MR_DB_POSTGRES)
            test_fail(__FILE__, __LINE__, "%s: %s", urls[i], rc ? err.msg : "not PostgreSQL");
        mr_config_free(&c);
        if (test_failed())
            return;
    }
}

TEST_MAIN("config", T(test_edge_limits_are_read), T(test_provider_defaults_come_from_the_registry),
          T(test_database_location_masks_the_password), T(test_defaults_match_reference),
          T(test_every_variable_is_read), T(test_bad_values_name_the_variable),
          T(test_secrets_never_in_messages), T(test_printing_masks_secrets),
          T(test_dotenv_is_read_and_environment_wins), T(test_dotenv_bad_value_and_bad_line),
          T(test_missing_dotenv_is_fine), T(test_postgres_url_selects_postgres),
          T(test_postgres_driver_urls_select_postgres))
