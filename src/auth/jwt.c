/*
 * jwt.c — bearer tokens with libjwt: verification of signature, algorithm,
 * expiry and claims; minting for operators. The only file that includes
 * jwt.h.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <jwt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "memori/auth.h"
#include "memori/json.h"
#include "memori/util.h"

#define MIN_SECRET_BYTES 32
#define MAX_TOKEN_BYTES 8192

static const char *const placeholders[] = {
    "changeme",    "change-me", "change_me",   "secret", "your-secret-key", "your_secret_key",
    "supersecret", "password",  "development", "test",   "default",         "CHANGE_ME",
};

int mr_auth_check_secret(const char *secret, struct mr_err *err)
{
    if (!secret || !*secret)
        return mr_err_set(err, MR_EINVAL,
                          "SECRET_KEY is missing: ENVIRONMENT=production needs a random key of "
                          "at least %d bytes",
                          MIN_SECRET_BYTES);
    for (size_t i = 0; i < sizeof placeholders / sizeof *placeholders; i++)
        if (strcasestr(secret, placeholders[i]) == secret &&
            strlen(secret) < strlen(placeholders[i]) + 8)
            return mr_err_set(err, MR_EINVAL,
                              "SECRET_KEY is a known placeholder: expected a random key of at "
                              "least %d bytes",
                              MIN_SECRET_BYTES);
    if (strlen(secret) < MIN_SECRET_BYTES)
        return mr_err_set(err, MR_EINVAL,
                          "SECRET_KEY is shorter than %d bytes: expected a random key of at "
                          "least %d bytes",
                          MIN_SECRET_BYTES, MIN_SECRET_BYTES);
    return 0;
}

/* A claim string of 1..255 UTF-8 characters, or NULL. */
static bool valid_id(const char *s)
{
    if (!s || !*s)
        return false;
    size_t n = strlen(s);
    return mr_utf8_valid(s, n) && mr_utf8_len(s, n) <= MR_MAX_ID_CHARS;
}

static int unauth(struct mr_err *err, const char *why)
{
    return mr_err_set(err, MR_EUNAUTH, "%s", why);
}

/*
 * The principal of verified claims. exp is required; exp, nbf and iat must
 * be integers (NumericDate in whole seconds: RFC 7519 allows fractions, we
 * do not, and a string is never a date); sub, and tenant and role when
 * present, must be strings.
 */
static int claims_principal(const struct mr_auth *a, const struct mr_json *claims,
                            struct mr_principal *out, struct mr_err *err)
{
    if (!mr_json_is_object(claims))
        return unauth(err, "Invalid token: bad signature or format");
    struct mr_json *exp = mr_json_get(claims, "exp"), *nbf = mr_json_get(claims, "nbf"),
                   *iat = mr_json_get(claims, "iat");
    if (!exp)
        return unauth(err, "Invalid token: no exp claim");
    if (!mr_json_is_integer(exp) || (nbf && !mr_json_is_integer(nbf)) ||
        (iat && !mr_json_is_integer(iat)))
        return unauth(err, "Invalid token: exp, nbf and iat must be integers (seconds since 1970)");
    int64_t now = mr_clock_now(a->clock) / MR_USEC_PER_SEC;
    if (mr_json_integer_value(exp) <= now)
        return unauth(err, "Token expired");
    if (nbf && mr_json_integer_value(nbf) > now)
        return unauth(err, "Token not valid yet");
    struct mr_json *sub = mr_json_get(claims, "sub"), *tenant = mr_json_get(claims, "tenant"),
                   *role = mr_json_get(claims, "role");
    if (!valid_id(mr_json_string_value(sub)) || (tenant && !valid_id(mr_json_string_value(tenant))))
        return unauth(err, "Invalid token: sub and tenant must be strings of 1..255 characters");
    if (role && !mr_json_is_string(role))
        return unauth(err, "Invalid token: role must be a string");
    snprintf(out->user_id, sizeof out->user_id, "%s", mr_json_string_value(sub));
    snprintf(out->tenant_id, sizeof out->tenant_id, "%s",
             tenant && a->multi_tenant ? mr_json_string_value(tenant) : a->default_tenant);
    out->admin = role && strcmp(mr_json_string_value(role), "admin") == 0;
    return 0;
}

static int verify(const struct mr_auth *a, const char *authorization, struct mr_principal *out,
                  struct mr_err *err)
{
    if (!authorization || !*authorization)
        return unauth(err, "Not authenticated: send Authorization: Bearer <token>");
    if (strncasecmp(authorization, "Bearer ", 7) != 0)
        return unauth(err, "Invalid authentication scheme: expected Bearer");
    const char *token = authorization + 7;
    while (*token == ' ')
        token++;
    if (!*token || strlen(token) > MAX_TOKEN_BYTES)
        return unauth(err, "Invalid token");
    jwt_alg_t want = jwt_str_alg(a->algorithm);
    if (want == JWT_ALG_INVAL || want == JWT_ALG_NONE)
        return mr_err_set(err, MR_EINTERNAL, "ALGORITHM is not usable");
    jwt_t *jwt = NULL;
    int rc = jwt_decode(&jwt, token, (const unsigned char *)a->secret, (int)strlen(a->secret));
    if (rc != 0 || !jwt) {
        jwt_free(jwt);
        return unauth(err, "Invalid token: bad signature or format");
    }
    /*
     * The algorithm is ours to choose, never the token's ("alg": "none",
     * RS/HS confusion), and named exactly: JOSE names are case-sensitive
     * (RFC 7515 §4.1.1), though libjwt reads "hs256" as HS256.
     */
    const char *alg = jwt_get_header(jwt, "alg");
    if (jwt_get_alg(jwt) != want || !alg || strcmp(alg, a->algorithm) != 0) {
        jwt_free(jwt);
        return unauth(err, "Invalid token: algorithm not accepted");
    }
    /* The claims as JSON: libjwt 1.10 reads a float or a string as the integer 0. */
    char *text = jwt_get_grants_json(jwt, NULL);
    struct mr_json *claims = text ? mr_json_parse(text, strlen(text), NULL) : NULL;
    free(text);
    jwt_free(jwt);
    rc = claims_principal(a, claims, out, err);
    mr_json_free(claims);
    return rc;
}

int mr_auth_identify(const struct mr_auth *a, const char *authorization, const char *x_user_id,
                     struct mr_principal *out, struct mr_err *err)
{
    memset(out, 0, sizeof *out);
    if (a->production)
        return verify(a, authorization, out, err);
    const char *user = x_user_id && *x_user_id ? x_user_id : "default_user";
    if (!valid_id(user))
        return mr_err_set(err, MR_EVALIDATION,
                          "X-User-Id must be 1..255 characters of valid UTF-8");
    snprintf(out->user_id, sizeof out->user_id, "%s", user);
    snprintf(out->tenant_id, sizeof out->tenant_id, "%s", a->default_tenant);
    out->admin = false; /* development callers are never admins: no header grants power */
    return 0;
}

char *mr_auth_mint(const struct mr_auth *a, const char *sub, const char *tenant, const char *role,
                   long ttl_minutes, struct mr_err *err)
{
    if (!valid_id(sub) || (tenant && !valid_id(tenant))) {
        mr_err_set(err, MR_EINVAL, "--sub and --tenant must be 1..255 characters");
        return NULL;
    }
    if (ttl_minutes <= 0) {
        mr_err_set(err, MR_EINVAL, "--ttl must be a positive number of minutes");
        return NULL;
    }
    jwt_t *jwt = NULL;
    char *token = NULL;
    int64_t now = mr_clock_now(a->clock) / MR_USEC_PER_SEC;
    if (jwt_new(&jwt) != 0)
        goto fail;
    if (jwt_add_grant(jwt, "sub", sub) != 0 ||
        (tenant && jwt_add_grant(jwt, "tenant", tenant) != 0) ||
        (role && jwt_add_grant(jwt, "role", role) != 0) ||
        jwt_add_grant_int(jwt, "iat", (long)now) != 0 ||
        jwt_add_grant_int(jwt, "exp", (long)(now + ttl_minutes * 60)) != 0 ||
        jwt_set_alg(jwt, jwt_str_alg(a->algorithm), (const unsigned char *)a->secret,
                    (int)strlen(a->secret)) != 0)
        goto fail;
    token = jwt_encode_str(jwt);
    if (!token)
        goto fail;
    jwt_free(jwt);
    char *copy = mr_xstrdup(token);
    free(token); /* libjwt 1.10 allocates with malloc by default */
    return copy;
fail:
    jwt_free(jwt);
    mr_err_set(err, MR_EINTERNAL, "could not sign the token");
    return NULL;
}
