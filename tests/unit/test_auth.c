/* Identity: development headers, JWT verification (every way a token can be bad), minting. */
#include <stdio.h>
#include <stdlib.h>

#include <jwt.h>

#include "memori/auth.h"
#include "test.h"

#define SECRET "0123456789abcdef0123456789abcdef-unit"
static struct mr_clock clock_;

static struct mr_auth prod(const char *alg)
{
    mr_clock_fixed_init(&clock_, INT64_C(1767225600) * MR_USEC_PER_SEC);
    return (struct mr_auth){true, true, SECRET, alg, "default", &clock_};
}

static int check(const struct mr_auth *a, const char *token, struct mr_principal *p,
                 struct mr_err *err)
{
    char header[9000];
    snprintf(header, sizeof header, "Bearer %s", token);
    return mr_auth_identify(a, header, "ignored-in-production", p, err);
}

TEST(test_development_identity_from_header)
{
    struct mr_auth a = {false, true, "", "HS256", "default", mr_clock_system()};
    struct mr_principal p;
    struct mr_err err;
    CHECK(mr_auth_identify(&a, NULL, NULL, &p, &err) == 0);
    CHECK_STR(p.user_id, "default_user");
    CHECK_STR(p.tenant_id, "default");
    CHECK(!p.admin);
    CHECK(mr_auth_identify(&a, "Bearer whatever", "alice", &p, &err) == 0);
    CHECK_STR(p.user_id, "alice");
    CHECK_INT(mr_auth_identify(&a, NULL, "\xff\xfe", &p, &err), MR_EVALIDATION);
    char longid[300];
    memset(longid, 'x', 299);
    longid[299] = '\0';
    CHECK_INT(mr_auth_identify(&a, NULL, longid, &p, &err), MR_EVALIDATION);
}

TEST(test_valid_token_gives_user_tenant_role)
{
    struct mr_auth a = prod("HS256");
    struct mr_err err;
    struct mr_principal p;
    char *t = mr_auth_mint(&a, "alice", "acme", NULL, 30, &err);
    CHECK(t);
    CHECK(check(&a, t, &p, &err) == 0);
    CHECK_STR(p.user_id, "alice");
    CHECK_STR(p.tenant_id, "acme");
    CHECK(!p.admin);
    free(t);
    t = mr_auth_mint(&a, "root", NULL, "admin", 30, &err);
    CHECK(check(&a, t, &p, &err) == 0);
    CHECK(p.admin);
    CHECK_STR(p.tenant_id, "default");
    free(t);
    a.multi_tenant = false; /* the tenant claim is ignored */
    t = mr_auth_mint(&a, "alice", "acme", NULL, 30, &err);
    CHECK(check(&a, t, &p, &err) == 0);
    CHECK_STR(p.tenant_id, "default");
    free(t);
}

TEST(test_bad_tokens_are_401)
{
    struct mr_auth a = prod("HS256");
    struct mr_err err;
    struct mr_principal p;
    CHECK_INT(mr_auth_identify(&a, NULL, "alice", &p, &err), MR_EUNAUTH);
    CHECK_INT(mr_auth_identify(&a, "Basic YWxpY2U6cHc=", NULL, &p, &err), MR_EUNAUTH);
    CHECK_INT(mr_auth_identify(&a, "Bearer ", NULL, &p, &err), MR_EUNAUTH);
    CHECK_INT(check(&a, "not.a.token", &p, &err), MR_EUNAUTH);
    CHECK_INT(check(&a, "garbage", &p, &err), MR_EUNAUTH);
    /* Expired: minted now, checked 31 minutes later. */
    char *t = mr_auth_mint(&a, "alice", NULL, NULL, 30, &err);
    clock_.fixed_us += 31 * 60 * MR_USEC_PER_SEC;
    CHECK_INT(check(&a, t, &p, &err), MR_EUNAUTH);
    CHECK(strstr(err.msg, "expired") != NULL);
    CHECK(strstr(err.msg, t) == NULL);
    free(t);
    /* Signed with another key. */
    struct mr_auth other = prod("HS256");
    other.secret = "another-secret-that-is-long-enough-000";
    t = mr_auth_mint(&other, "alice", NULL, NULL, 30, &err);
    CHECK_INT(check(&a, t, &p, &err), MR_EUNAUTH);
    free(t);
    /* Another HMAC algorithm than the configured one. */
    struct mr_auth hs512 = prod("HS512");
    t = mr_auth_mint(&hs512, "alice", NULL, NULL, 30, &err);
    CHECK_INT(check(&a, t, &p, &err), MR_EUNAUTH);
    free(t);
    /* "alg": "none" with no signature: {"alg":"none"} . {"sub":"alice","exp":4102444800} . */
    CHECK_INT(
        check(&a, "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSIsImV4cCI6NDEwMjQ0NDgwMH0.", &p, &err),
        MR_EUNAUTH);
}

/* Signs claims (JSON) with SECRET by HS256, as a careless issuer would. */
static char *sign_raw(const char *claims)
{
    jwt_t *jwt = NULL;
    jwt_new(&jwt);
    jwt_add_grants_json(jwt, claims);
    jwt_set_alg(jwt, JWT_ALG_HS256, (const unsigned char *)SECRET, (int)strlen(SECRET));
    char *t = jwt_encode_str(jwt);
    jwt_free(jwt);
    return t;
}

TEST(test_claims_are_required)
{
    struct mr_auth a = prod("HS256");
    struct mr_err err;
    struct mr_principal p;
    char *t = sign_raw("{\"sub\":\"alice\"}"); /* no exp */
    CHECK_INT(check(&a, t, &p, &err), MR_EUNAUTH);
    CHECK(strstr(err.msg, "exp") != NULL);
    free(t);
    t = sign_raw("{\"exp\":4102444800}"); /* no sub */
    CHECK_INT(check(&a, t, &p, &err), MR_EUNAUTH);
    free(t);
    t = sign_raw("{\"sub\":\"alice\",\"exp\":4102444800,\"nbf\":4102444000}"); /* not yet */
    CHECK_INT(check(&a, t, &p, &err), MR_EUNAUTH);
    free(t);
    t = sign_raw("{\"sub\":\"alice\",\"exp\":4102444800,\"role\":\"superuser\"}");
    CHECK(check(&a, t, &p, &err) == 0);
    CHECK(!p.admin); /* only "admin" is a role */
    free(t);
}

/* Claims of the wrong type are refused, not read as 0 or as absent (issue 13). */
TEST(test_claims_must_have_their_types)
{
    struct mr_auth a = prod("HS256");
    struct mr_err err;
    struct mr_principal p;
    static const char *const refused[] = {
        /* A future nbf as a float or a string: libjwt reads both as 0 (valid now). */
        "{\"sub\":\"alice\",\"exp\":4102444800,\"nbf\":4102444000.5}",
        "{\"sub\":\"alice\",\"exp\":4102444800,\"nbf\":\"4102444000\"}",
        "{\"sub\":\"alice\",\"exp\":4102444800.0}",
        "{\"sub\":\"alice\",\"exp\":\"4102444800\"}",
        "{\"sub\":\"alice\",\"exp\":4102444800,\"iat\":\"yesterday\"}",
        "{\"sub\":\"alice\",\"exp\":4102444800,\"iat\":1767225600.25}",
        /* A tenant that is not a string would otherwise be the default tenant. */
        "{\"sub\":\"alice\",\"exp\":4102444800,\"tenant\":42}",
        "{\"sub\":\"alice\",\"exp\":4102444800,\"tenant\":[\"acme\"]}",
        "{\"sub\":\"alice\",\"exp\":4102444800,\"tenant\":null}",
        "{\"sub\":\"alice\",\"exp\":4102444800,\"role\":[\"admin\"]}",
        "{\"sub\":7,\"exp\":4102444800}",
    };
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
        char *t = sign_raw(refused[i]);
        int rc = check(&a, t, &p, &err);
        free(t);
        if (rc != MR_EUNAUTH) {
            test_fail(__FILE__, __LINE__, "%s: rc %d, user '%s' tenant '%s'", refused[i], rc,
                      p.user_id, p.tenant_id);
            return;
        }
    }
    /* The same claims with their types are accepted. */
    char *t = sign_raw("{\"sub\":\"alice\",\"exp\":4102444800,\"nbf\":1767225000,"
                       "\"iat\":1767225000,\"tenant\":\"acme\",\"role\":\"admin\"}");
    CHECK(check(&a, t, &p, &err) == 0);
    CHECK_STR(p.tenant_id, "acme");
    CHECK(p.admin);
    free(t);
}

TEST(test_token_without_exp_or_sub_is_401)
{
    struct mr_auth a = prod("HS256");
    struct mr_err err;
    struct mr_principal p;
    /* ttl that overflows into the past is refused when minting... */
    CHECK(mr_auth_mint(&a, "alice", NULL, NULL, 0, &err) == NULL);
    CHECK(mr_auth_mint(&a, "", NULL, NULL, 5, &err) == NULL);
    /* ...and a token whose exp is in the past is 401 even with a good signature. */
    char *t = mr_auth_mint(&a, "alice", NULL, NULL, 1, &err);
    clock_.fixed_us += 2 * 60 * MR_USEC_PER_SEC;
    CHECK_INT(check(&a, t, &p, &err), MR_EUNAUTH);
    free(t);
}

TEST(test_secret_rules)
{
    struct mr_err err;
    CHECK_INT(mr_auth_check_secret(NULL, &err), MR_EINVAL);
    CHECK(strstr(err.msg, "SECRET_KEY") != NULL);
    CHECK_INT(mr_auth_check_secret("", &err), MR_EINVAL);
    CHECK_INT(mr_auth_check_secret("changeme", &err), MR_EINVAL);
    CHECK_INT(mr_auth_check_secret("your-secret-key", &err), MR_EINVAL);
    CHECK_INT(mr_auth_check_secret("short-but-random-9f8e7d", &err), MR_EINVAL);
    CHECK(strstr(err.msg, "short-but") == NULL); /* never echoed */
    CHECK(mr_auth_check_secret(SECRET, &err) == 0);
}

TEST(test_mcp_sessions_are_signed_for_one_caller)
{
    struct mr_auth a = prod("HS256"), other = prod("HS256");
    other.secret = "another-0123456789abcdef0123456789abcdef";
    struct mr_principal alice = {"alice", "acme", false}, bob = {"bob", "acme", false},
                        alice_elsewhere = {"alice", "globex", false};
    char id[MR_MCP_SESSION_MAX], id2[MR_MCP_SESSION_MAX], version[MR_MCP_VERSION_MAX];
    mr_auth_mcp_session_new(&a, &alice, "2025-03-26", id);
    mr_auth_mcp_session_new(&a, &alice, "2025-03-26", id2);
    CHECK(strncmp(id, "2025-03-26.", 11) == 0);
    CHECK(strcmp(id, id2) != 0); /* a fresh nonce each time */
    CHECK(mr_auth_mcp_session_check(&a, &alice, id, version));
    CHECK_STR(version, "2025-03-26");
    /* Another caller, another tenant, another key: not theirs. */
    CHECK(!mr_auth_mcp_session_check(&a, &bob, id, version));
    CHECK(!mr_auth_mcp_session_check(&a, &alice_elsewhere, id, version));
    CHECK(!mr_auth_mcp_session_check(&other, &alice, id, version));
    /* Any byte changed, the version relabelled, cut or grown: refused. */
    for (size_t i = 0; id[i]; i++) {
        char bad[MR_MCP_SESSION_MAX];
        memcpy(bad, id, sizeof bad);
        bad[i] = bad[i] == 'a' ? 'b' : 'a';
        CHECK(!mr_auth_mcp_session_check(&a, &alice, bad, version));
    }
    char relabelled[MR_MCP_SESSION_MAX];
    snprintf(relabelled, sizeof relabelled, "2025-06-18%s", id + 10);
    CHECK(!mr_auth_mcp_session_check(&a, &alice, relabelled, version));
    char cut[MR_MCP_SESSION_MAX], grown[MR_MCP_SESSION_MAX + 8];
    snprintf(cut, sizeof cut, "%.*s", (int)strlen(id) - 1, id);
    snprintf(grown, sizeof grown, "%s0", id);
    CHECK(!mr_auth_mcp_session_check(&a, &alice, cut, version));
    CHECK(!mr_auth_mcp_session_check(&a, &alice, grown, version));
    CHECK(!mr_auth_mcp_session_check(&a, &alice, "", version));
    CHECK(!mr_auth_mcp_session_check(&a, &alice, NULL, version));
    /* Development's empty key still binds the id to its caller. */
    struct mr_auth dev = {false, true, "", "HS256", "default", mr_clock_system()};
    mr_auth_mcp_session_new(&dev, &alice, "2025-06-18", id);
    CHECK(mr_auth_mcp_session_check(&dev, &alice, id, version));
    CHECK(!mr_auth_mcp_session_check(&dev, &bob, id, version));
}

TEST_MAIN("auth", T(test_development_identity_from_header),
          T(test_valid_token_gives_user_tenant_role), T(test_bad_tokens_are_401),
          T(test_token_without_exp_or_sub_is_401), T(test_claims_are_required),
          T(test_claims_must_have_their_types), T(test_secret_rules),
          T(test_mcp_sessions_are_signed_for_one_caller))
