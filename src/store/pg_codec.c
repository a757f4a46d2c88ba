/* pg_codec.c — PostgreSQL text and binary value forms (see pg_codec.h); no libpq. */
#include "pg_codec.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "memori/store.h"
#include "memori/util.h"

void pg_text_array(struct mr_strbuf *b, const struct mr_strv *v)
{
    mr_strbuf_add(b, "{", 1);
    for (size_t i = 0; i < v->len; i++) {
        if (i)
            mr_strbuf_add(b, ",", 1);
        mr_strbuf_add(b, "\"", 1);
        for (const char *p = v->items[i]; *p; p++) {
            if (*p == '"' || *p == '\\')
                mr_strbuf_add(b, "\\", 1);
            mr_strbuf_add(b, p, 1);
        }
        mr_strbuf_add(b, "\"", 1);
    }
    mr_strbuf_add(b, "}", 1);
}

int pg_parse_text_array(const char *s, struct mr_strv *out)
{
    if (!s || *s != '{')
        return -1;
    s++;
    if (*s == '}')
        return s[1] == '\0' ? 0 : -1;
    struct mr_strbuf el = {0};
    for (;;) {
        el.len = 0;
        mr_strbuf_add(&el, "", 0);
        if (*s == '"') {
            for (s++; *s != '"'; s++) {
                if (*s == '\\')
                    s++;
                if (*s == '\0')
                    goto bad;
                mr_strbuf_add(&el, s, 1);
            }
            s++;
            mr_strv_push(out, el.s, el.len);
        } else {
            size_t n = strcspn(s, ",}");
            if (s[n] == '\0' || n == 0)
                goto bad;
            /* An unquoted NULL is a null element; memori never writes one. */
            if (n == 4 && strncasecmp(s, "NULL", 4) == 0)
                mr_strv_push(out, "", 0);
            else
                mr_strv_push(out, s, n);
            s += n;
        }
        if (*s == '}')
            break;
        if (*s != ',')
            goto bad;
        s++;
    }
    mr_strbuf_free(&el);
    return s[1] == '\0' ? 0 : -1;
bad:
    mr_strbuf_free(&el);
    return -1;
}

size_t pg_vector_bin_size(size_t dim)
{
    return 4 + 4 * dim;
}

void pg_vector_bin(const float *v, size_t dim, unsigned char *out)
{
    out[0] = (unsigned char)(dim >> 8);
    out[1] = (unsigned char)dim;
    out[2] = out[3] = 0;
    for (size_t i = 0; i < dim; i++) {
        uint32_t u;
        memcpy(&u, &v[i], 4);
        unsigned char *p = out + 4 + 4 * i;
        p[0] = (unsigned char)(u >> 24);
        p[1] = (unsigned char)(u >> 16);
        p[2] = (unsigned char)(u >> 8);
        p[3] = (unsigned char)u;
    }
}

size_t pg_vector_bin_read(const unsigned char *p, size_t len, float *out, size_t cap)
{
    if (!p || len < 4)
        return 0;
    size_t dim = (size_t)p[0] << 8 | (size_t)p[1];
    if (dim == 0 || len != pg_vector_bin_size(dim))
        return 0;
    for (size_t i = 0; i < dim; i++) {
        const unsigned char *q = p + 4 + 4 * i;
        uint32_t u = (uint32_t)q[0] << 24 | (uint32_t)q[1] << 16 | (uint32_t)q[2] << 8 | q[3];
        float f;
        memcpy(&f, &u, 4);
        if (!isfinite(f))
            return 0;
        if (dim == cap)
            out[i] = f;
    }
    return dim;
}

float *pg_parse_vector(const char *s, size_t *out_dim)
{
    *out_dim = 0;
    if (!s || *s != '[')
        return NULL;
    size_t n = 1;
    for (const char *p = s; *p; p++)
        n += *p == ',';
    float *v = mr_xmalloc(n * sizeof *v);
    const char *p = s + 1;
    for (size_t i = 0; i < n; i++) {
        char *end;
        v[i] = strtof(p, &end);
        if (end == p || !isfinite(v[i]) || *end != (i + 1 < n ? ',' : ']'))
            goto bad;
        p = end + 1;
    }
    if (*p != '\0')
        goto bad;
    *out_dim = n;
    return v;
bad:
    free(v);
    return NULL;
}

/* SQLAlchemy's driver suffixes, which libpq does not know. */
static const char *const driver_schemes[] = {"postgresql+asyncpg://", "postgresql+psycopg2://",
                                             "postgresql+psycopg://", "postgresql+pg8000://"};

bool mr_store_is_postgres_url(const char *url)
{
    if (strncmp(url, "postgresql://", 13) == 0 || strncmp(url, "postgres://", 11) == 0)
        return true;
    for (size_t i = 0; i < sizeof driver_schemes / sizeof *driver_schemes; i++)
        if (strncmp(url, driver_schemes[i], strlen(driver_schemes[i])) == 0)
            return true;
    return false;
}

char *pg_conninfo_from_url(const char *url)
{
    for (size_t i = 0; i < sizeof driver_schemes / sizeof *driver_schemes; i++) {
        size_t n = strlen(driver_schemes[i]);
        if (strncmp(url, driver_schemes[i], n) == 0) {
            struct mr_strbuf b = {0};
            mr_strbuf_printf(&b, "postgresql://%s", url + n);
            return b.s;
        }
    }
    return mr_xstrdup(url);
}

char *pg_url_redacted(const char *url)
{
    const char *scheme = strstr(url, "://");
    const char *at = scheme ? strchr(scheme + 3, '@') : NULL;
    if (!at)
        return mr_xstrdup(url);
    const char *colon = memchr(scheme + 3, ':', (size_t)(at - scheme - 3));
    if (!colon)
        return mr_xstrdup(url);
    struct mr_strbuf b = {0};
    mr_strbuf_add(&b, url, (size_t)(colon - url) + 1);
    mr_strbuf_printf(&b, "***%s", at);
    return b.s;
}
