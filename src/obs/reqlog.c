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

/*
 * The last (tenant, user) this thread tagged, and its tag: a worker thread
 * answers the same caller again and again (a client's keep-alive
 * connection), and the SHA-256 was most of what logging a request cost
 * (1.2 µs). Names longer than the cache holds are hashed every time.
 */
enum { TAG_CACHE_NAME = 128 };
static _Thread_local struct {
    bool valid;
    char tenant[TAG_CACHE_NAME], user[TAG_CACHE_NAME], tag[MR_USER_TAG_LEN];
} last_tag;

void mr_obs_user_tag(const char *tenant, const char *user, char out[MR_USER_TAG_LEN])
{
    /*
     * A hash, not the id: logs travel to places the database does not. The
     * tenant is part of it, so one user name in two tenants gets two tags.
     */
    const char *t = tenant ? tenant : "", *u = user ? user : "";
    size_t tn = strlen(t), un = strlen(u);
    bool cacheable = tn < TAG_CACHE_NAME && un < TAG_CACHE_NAME;
    if (cacheable && last_tag.valid && strcmp(last_tag.tenant, t) == 0 &&
        strcmp(last_tag.user, u) == 0) {
        memcpy(out, last_tag.tag, MR_USER_TAG_LEN);
        return;
    }
    unsigned char small[2 * TAG_CACHE_NAME], d[EVP_MAX_MD_SIZE];
    unsigned char *text = tn + un + 1 <= sizeof small ? small : mr_xmalloc(tn + un + 1);
    memcpy(text, t, tn);
    text[tn] = ':';
    memcpy(text + tn + 1, u, un);
    pthread_once(&sha256_once, fetch_sha256);
    if (!EVP_Digest(text, tn + un + 1, d, NULL, sha256, NULL)) {
        fprintf(stderr, "memori: SHA-256 failed\n");
        abort();
    }
    if (text != small)
        free(text);
    for (int i = 0; i < 6; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
    if (cacheable) {
        memcpy(last_tag.tenant, t, tn + 1);
        memcpy(last_tag.user, u, un + 1);
        memcpy(last_tag.tag, out, MR_USER_TAG_LEN);
        last_tag.valid = true;
    }
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
