/*
 * reqlog.c — the request log's helpers (metrics.h): the user tag, the only
 * includer of OpenSSL's SHA-256 (libcrypto, which libcurl, libpq and libjwt
 * already bring), and the check of a client's X-Request-Id.
 */
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memori/metrics.h"
#include "memori/util.h"

/* Fetched once: SHA256() looks the algorithm up on every call, most of its cost on short texts. */
static EVP_MD *sha256;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void fetch_sha256(void)
{
    sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    if (!sha256) {
        fprintf(stderr, "memori: libcrypto has no SHA-256\n");
        abort();
    }
}

void mr_obs_user_tag(const char *tenant, const char *user, char out[MR_USER_TAG_LEN])
{
    /*
     * A hash, not the id: logs travel to places the database does not. The
     * tenant is part of it, so one user name in two tenants gets two tags.
     */
    const char *t = tenant ? tenant : "", *u = user ? user : "";
    size_t tn = strlen(t), un = strlen(u);
    unsigned char *text = mr_xmalloc(tn + un + 1), d[EVP_MAX_MD_SIZE];
    memcpy(text, t, tn);
    text[tn] = ':';
    memcpy(text + tn + 1, u, un);
    pthread_once(&sha256_once, fetch_sha256);
    if (!EVP_Digest(text, tn + un + 1, d, NULL, sha256, NULL)) {
        fprintf(stderr, "memori: SHA-256 failed\n");
        abort();
    }
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
