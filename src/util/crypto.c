/*
 * crypto.c — the digests memori computes itself (util.h), on libcrypto
 * (OpenSSL, which libcurl, libpq and libjwt already bring): the only file
 * that includes it (STYLE.md: one wrapper per library).
 */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

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

void mr_sha256(const void *p, size_t n, unsigned char out[MR_SHA256_LEN])
{
    pthread_once(&sha256_once, fetch_sha256);
    if (!EVP_Digest(p, n, out, NULL, sha256, NULL)) {
        fprintf(stderr, "memori: SHA-256 failed\n");
        abort();
    }
}

void mr_hmac_sha256(const void *key, size_t key_len, const void *msg, size_t n,
                    unsigned char out[MR_SHA256_LEN])
{
    pthread_once(&sha256_once, fetch_sha256);
    unsigned int len = 0;
    /* An empty key is legal HMAC; OpenSSL wants a non-NULL pointer for it. */
    if (!HMAC(sha256, key_len ? key : "", (int)key_len, msg, n, out, &len) ||
        len != MR_SHA256_LEN) {
        fprintf(stderr, "memori: HMAC-SHA-256 failed\n");
        abort();
    }
}
