/*
 * lex_stem.c — Snowball English stemming through Debian's libstemmer, the
 * only file that includes its header.
 *
 * An sb_stemmer keeps its working buffer inside itself, so one stemmer must
 * never be used by two threads at once. Each thread gets its own, made on
 * its first word and freed when the thread ends (a pthread key's
 * destructor): search threads never wait for each other, which a shared
 * stemmer under a lock would make them do on every word, and the cost is
 * one small allocation per thread for the process' life. Per-call stemmers
 * would allocate on every text instead.
 */
#include <libstemmer.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lexical_int.h"

static pthread_key_t key;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;
static _Thread_local struct sb_stemmer *mine;

static void drop_stemmer(void *p)
{
    sb_stemmer_delete(p);
}

static void make_key(void)
{
    if (pthread_key_create(&key, drop_stemmer) != 0) {
        fprintf(stderr, "memori: cannot create the stemmer's thread key\n");
        abort();
    }
}

static struct sb_stemmer *stemmer(void)
{
    if (mine)
        return mine;
    pthread_once(&key_once, make_key);
    /* NULL only when out of memory: "english" in UTF-8 is always compiled in. */
    mine = sb_stemmer_new("english", NULL);
    if (!mine) {
        fprintf(stderr, "memori: cannot create the Snowball English stemmer\n");
        abort();
    }
    pthread_setspecific(key, mine);
    return mine;
}

size_t mr_lex_stem(const char *w, size_t n, char *out)
{
    struct sb_stemmer *st = stemmer();
    const sb_symbol *s = sb_stemmer_stem(st, (const sb_symbol *)w, (int)n);
    if (!s) {
        fprintf(stderr, "memori: out of memory stemming a word\n");
        abort();
    }
    size_t m = (size_t)sb_stemmer_length(st);
    if (m > MR_LEX_MAX_WORD)
        m = MR_LEX_MAX_WORD;
    memcpy(out, s, m);
    return m;
}
