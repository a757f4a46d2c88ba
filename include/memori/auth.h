/*
 * auth.h — identity (DESIGN.md §6, src/auth/): who a request is from.
 *
 * Production: a JWT in "Authorization: Bearer", signed with SECRET_KEY by
 * the configured HMAC algorithm; claims sub (user), tenant, role ("admin"),
 * exp (required). Development and staging: X-User-Id names the user.
 */
#ifndef MEMORI_AUTH_H
#define MEMORI_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "memori/clock.h"
#include "memori/err.h"

#define MR_MAX_ID_CHARS 255 /* user and tenant ids: the reference's String(255) */

struct mr_auth {
    bool production;       /* tokens required, X-User-Id ignored */
    bool multi_tenant;     /* false: every caller is in the default tenant */
    const char *secret;    /* SECRET_KEY */
    const char *algorithm; /* "HS256", "HS384" or "HS512" */
    const char *default_tenant;
    const struct mr_clock *clock;
};

struct mr_principal {
    char user_id[4 * MR_MAX_ID_CHARS + 1];
    char tenant_id[4 * MR_MAX_ID_CHARS + 1];
    bool admin;
};

/*
 * The caller of a request from its Authorization and X-User-Id headers
 * (either may be NULL). MR_EUNAUTH (401) for a missing, malformed, expired,
 * wrongly signed, unsigned ("alg": "none") or algorithm-mismatched token;
 * MR_EVALIDATION for an X-User-Id that is not 1..255 characters of UTF-8.
 * Messages never include the token.
 */
int mr_auth_identify(const struct mr_auth *a, const char *authorization, const char *x_user_id,
                     struct mr_principal *out, struct mr_err *err);

/*
 * Signs a token for sub (tenant and role may be NULL) valid ttl_minutes from
 * now (`memori token`). Returns a malloc'd string, or NULL with err.
 */
char *mr_auth_mint(const struct mr_auth *a, const char *sub, const char *tenant, const char *role,
                   long ttl_minutes, struct mr_err *err);

/*
 * Start-up check of a production secret: refuses a missing one, a known
 * placeholder ("changeme", "secret", "your-secret-key"...) or one shorter than
 * 32 bytes (MR_EINVAL naming SECRET_KEY; the value is never echoed).
 */
int mr_auth_check_secret(const char *secret, struct mr_err *err);

/*
 * MCP session ids (POST /mcp, src/api/mcp.c): "<protocol version>.<32 hex
 * nonce>.<32 hex MAC>", the MAC an HMAC-SHA-256 under SECRET_KEY of the
 * version, the nonce and the caller's tenant and user. Nothing is stored:
 * any memori process sharing the key verifies an id another one issued (the
 * PostgreSQL deployment runs many behind a load balancer), and an id is
 * good only for the caller it was issued to. Outside production the key may
 * be empty; identity is unauthenticated there anyway.
 */
#define MR_MCP_SESSION_MAX 96 /* bytes of an id, NUL included */
#define MR_MCP_VERSION_MAX 16 /* bytes of its protocol version, NUL included */

/* A new id for p at protocol version (at most MR_MCP_VERSION_MAX - 1 bytes) into out. */
void mr_auth_mcp_session_new(const struct mr_auth *a, const struct mr_principal *p,
                             const char *version, char out[MR_MCP_SESSION_MAX]);

/*
 * Whether id is one mr_auth_mcp_session_new issued for p (any process with
 * the same key); on true, its protocol version into out_version.
 */
bool mr_auth_mcp_session_check(const struct mr_auth *a, const struct mr_principal *p,
                               const char *id, char out_version[MR_MCP_VERSION_MAX]);

#endif
