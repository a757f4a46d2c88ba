/*
 * session.c — MCP session ids (auth.h): signed, not stored, so that a
 * session survives a restart and works on every process behind a load
 * balancer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memori/auth.h"
#include "memori/util.h"

#define NONCE_HEX 32
#define MAC_HEX 32 /* 128 of the MAC's 256 bits: unguessable, and short enough for a header */

static const char hexdigits[] = "0123456789abcdef";

/*
 * The MAC of (version, nonce, tenant, user) as MAC_HEX hex digits. Each
 * part is followed by a NUL, so no two tuples share a message.
 */
static void mac_hex(const struct mr_auth *a, const struct mr_principal *p, const char *version,
                    const char *nonce, char out[MAC_HEX + 1])
{
    const char *parts[] = {"memori-mcp-session-v1", version, nonce, p->tenant_id, p->user_id};
    size_t n = 0;
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
        n += strlen(parts[i]) + 1;
    unsigned char *msg = mr_xmalloc(n), md[MR_SHA256_LEN];
    size_t o = 0;
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        size_t len = strlen(parts[i]) + 1;
        memcpy(msg + o, parts[i], len);
        o += len;
    }
    const char *key = a->secret ? a->secret : "";
    mr_hmac_sha256(key, strlen(key), msg, n, md);
    free(msg);
    for (size_t i = 0; i < MAC_HEX / 2; i++) {
        out[2 * i] = hexdigits[md[i] >> 4];
        out[2 * i + 1] = hexdigits[md[i] & 15];
    }
    out[MAC_HEX] = '\0';
}

void mr_auth_mcp_session_new(const struct mr_auth *a, const struct mr_principal *p,
                             const char *version, char out[MR_MCP_SESSION_MAX])
{
    char uuid[MR_UUID_LEN], nonce[NONCE_HEX + 1], mac[MAC_HEX + 1];
    mr_uuid_v4(uuid);
    size_t o = 0;
    for (const char *s = uuid; *s && o < NONCE_HEX; s++)
        if (*s != '-')
            nonce[o++] = *s;
    nonce[o] = '\0';
    mac_hex(a, p, version, nonce, mac);
    snprintf(out, MR_MCP_SESSION_MAX, "%.*s.%s.%s", MR_MCP_VERSION_MAX - 1, version, nonce, mac);
}

static bool all_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!strchr(hexdigits, s[i]) || !s[i])
            return false;
    return true;
}

bool mr_auth_mcp_session_check(const struct mr_auth *a, const struct mr_principal *p,
                               const char *id, char out_version[MR_MCP_VERSION_MAX])
{
    if (!id)
        return false;
    size_t n = strlen(id);
    const char *dot = strchr(id, '.');
    if (!dot || n >= MR_MCP_SESSION_MAX || (size_t)(dot - id) >= MR_MCP_VERSION_MAX ||
        n != (size_t)(dot - id) + 1 + NONCE_HEX + 1 + MAC_HEX || dot[1 + NONCE_HEX] != '.' ||
        !all_hex(dot + 1, NONCE_HEX) || !all_hex(dot + 2 + NONCE_HEX, MAC_HEX))
        return false;
    char version[MR_MCP_VERSION_MAX], nonce[NONCE_HEX + 1], mac[MAC_HEX + 1];
    snprintf(version, sizeof version, "%.*s", (int)(dot - id), id);
    snprintf(nonce, sizeof nonce, "%.*s", NONCE_HEX, dot + 1);
    mac_hex(a, p, version, nonce, mac);
    /* Constant time: how much of a forged MAC matched is not told by the clock. */
    const char *given = dot + 2 + NONCE_HEX;
    unsigned char diff = 0;
    for (size_t i = 0; i < MAC_HEX; i++)
        diff |= (unsigned char)(mac[i] ^ given[i]);
    if (diff)
        return false;
    memcpy(out_version, version, sizeof version);
    return true;
}
