/*
 * pg_codec.h — PostgreSQL's text forms of the values memori stores, private
 * to the PostgreSQL store (src/store/pg_*.c) and its unit test: TEXT[]
 * literals, pgvector's binary form and text output, and the URL forms
 * SQLAlchemy users write (mr_store_is_postgres_url in store.h tells them).
 * Pure functions, no libpq.
 */
#ifndef MEMORI_STORE_PG_CODEC_H
#define MEMORI_STORE_PG_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "memori/types.h"
#include "memori/util.h"

/* Appends v as a TEXT[] literal: every element quoted, " and \ escaped ({} when empty). */
void pg_text_array(struct mr_strbuf *b, const struct mr_strv *v);

/*
 * Parses a TEXT[] literal as PostgreSQL prints it ({a,"b c",""}) into out
 * (appended). A NULL element becomes "". Returns 0, or -1 on a malformed
 * literal (out then holds what was parsed).
 */
int pg_parse_text_array(const char *s, struct mr_strv *out);

/*
 * Writes dim floats as pgvector's binary input (int16 dim, int16 0, then
 * big-endian float4s) into out, which holds pg_vector_bin_size(dim) bytes.
 */
size_t pg_vector_bin_size(size_t dim);
void pg_vector_bin(const float *v, size_t dim, unsigned char *out);

/*
 * Parses pgvector's text output "[1,0.5,...]" into a new array of *out_dim
 * floats (caller frees). Returns NULL on a malformed or empty vector.
 */
float *pg_parse_vector(const char *s, size_t *out_dim);

/*
 * Reads pgvector's binary form (vector_send's: pg_vector_bin's layout, as a
 * binary-format result gives it) of len bytes: its dimension, or 0 when it
 * is malformed, empty or holds a non-finite element. Only when that
 * dimension is cap are its floats, the stored bits exactly, written to out
 * (cap floats); for another dimension out is untouched, and a 0 may leave
 * some of them there.
 */
size_t pg_vector_bin_read(const unsigned char *p, size_t len, float *out, size_t cap);

/*
 * A libpq connection URI from DATABASE_URL: postgresql+asyncpg:// and
 * postgresql+psycopg2:// (SQLAlchemy's driver suffixes) become postgresql://.
 * Returns a new string.
 */
char *pg_conninfo_from_url(const char *url);

/* url with its password replaced by *** (for messages); a new string. */
char *pg_url_redacted(const char *url);

#endif
