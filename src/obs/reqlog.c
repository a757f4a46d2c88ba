/*
 * reqlog.c — the request log's helpers (metrics.h): the user tag and the
 * check of a client's X-Request-Id.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memori/metrics.h"
#include "memori/util.h"

void mr_obs_user_tag(const char *tenant, const char *user, char out[MR_USER_TAG_LEN])
{
    /*
     * A hash, not the id: logs travel to places the database does not. The
     * tenant is part of it, so one user name in two tenants gets two tags.
     */
    const char *t = tenant ? tenant : "", *u = user ? user : "";
    size_t tn = strlen(t), un = strlen(u);
    unsigned char *text = mr_xmalloc(tn + un + 1), d[MR_SHA256_LEN];
    memcpy(text, t, tn);
    text[tn] = ':';
    memcpy(text + tn + 1, u, un);
    mr_sha256(text, tn + un + 1, d);
    free(text);
    for (int i = 0; i < 6; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

bool mr_obs_request_id_ok(const char *s)
{
    if (!s)
        return false;
    size_t n = 0;
    /* Printable and without spaces: it goes into a header and a log line as it is. */
    for (; s[n]; n++)
        if (n >= MR_REQUEST_ID_MAX || s[n] < '!' || s[n] > '~')
            return false;
    return n > 0;
}
