/*
 * tokenize.c — how memori cuts text into words, shared by the lexical
 * embedder, the semantic model and the tools that train it (a change here
 * changes the model: make rebuilds it).
 */
#include <stddef.h>

#include "memori/embed.h"

#define MAX_WORD 64

static int is_word_byte(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c >= 0x80;
}

static int is_upper(unsigned char c)
{
    return c >= 'A' && c <= 'Z';
}
static int is_lower(unsigned char c)
{
    return c >= 'a' && c <= 'z';
}

void mr_embed_tokenize(const char *text, size_t len,
                       void (*fn)(void *arg, const char *word, size_t n, int is_part), void *arg)
{
    const unsigned char *s = (const unsigned char *)text;
    char buf[MAX_WORD * 4];
    size_t i = 0;
    while (i < len) {
        while (i < len && !is_word_byte(s[i]))
            i++;
        size_t start = i;
        while (i < len && is_word_byte(s[i]))
            i++;
        if (i == start)
            break;
        /* Split the token into parts at '_' and camelCase boundaries. */
        size_t tok_len = i - start, nparts = 0, p = start;
        size_t parts[64][2];
        while (p < i && nparts < 64) {
            while (p < i && s[p] == '_')
                p++;
            if (p >= i)
                break;
            size_t q = p + 1;
            while (q < i && s[q] != '_') {
                if (is_lower(s[q - 1]) && is_upper(s[q]))
                    break;
                if (is_upper(s[q - 1]) && is_upper(s[q]) && q + 1 < i && is_lower(s[q + 1]))
                    break;
                q++;
            }
            parts[nparts][0] = p;
            parts[nparts][1] = q - p;
            nparts++;
            p = q;
        }
        for (size_t k = 0; k < nparts; k++) {
            size_t n = parts[k][1] < sizeof buf ? parts[k][1] : sizeof buf;
            for (size_t j = 0; j < n; j++) {
                unsigned char c = s[parts[k][0] + j];
                buf[j] = (char)(is_upper(c) ? c + 32 : c);
            }
            fn(arg, buf, n, nparts > 1);
        }
        if (nparts > 1) {
            size_t n = tok_len < sizeof buf ? tok_len : sizeof buf;
            for (size_t j = 0; j < n; j++) {
                unsigned char c = s[start + j];
                buf[j] = (char)(is_upper(c) ? c + 32 : c);
            }
            fn(arg, buf, n, -1);
        }
    }
}
