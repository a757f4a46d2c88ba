/*
 * dedup.c — duplicates caught on write (issue 20, docs/hygiene.md).
 *
 * Exact: a memory's dedup key is the SHA-256 of its type, data source and
 * normalised content (white space, Unicode's included, collapsed to one
 * space and trimmed; ASCII letters folded to lower case; every other byte
 * kept, so no UTF-8 sequence is split or changed). The store keeps it
 * unique per user among live memories.
 *
 * Near: the fused score of DESIGN.md §8 (the hybrid ranking's, with its
 * candidates from the same indexes a search uses) of the new memory's
 * content as the query against the caller's live memories of its type.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core_int.h"
#include "memori/fusion.h"
#include "memori/lexical.h"
#include "memori/rules.h"
#include "memori/sql.h"

int mr_dedup_mode_parse(const char *s, size_t n, enum mr_dedup_mode *out)
{
    if (n == 3 && memcmp(s, "off", 3) == 0)
        *out = MR_DEDUP_OFF;
    else if (n == 5 && memcmp(s, "merge", 5) == 0)
        *out = MR_DEDUP_MERGE;
    else
        return -1;
    return 0;
}

int mr_dedup_policy_parse(const char *s, size_t n, enum mr_dedup_policy *out)
{
    if (n == 4 && memcmp(s, "keep", 4) == 0)
        *out = MR_DEDUP_KEEP;
    else if (n == 7 && memcmp(s, "replace", 7) == 0)
        *out = MR_DEDUP_REPLACE;
    else
        return -1;
    return 0;
}

/*
 * Bytes of the white space character at s (n bytes left), 0 when there is
 * none: ASCII's (as Python's str.split takes them, the separators 0x1c-0x1f
 * included) and Unicode's White_Space characters past ASCII — U+0085,
 * U+00A0, U+1680, U+2000..U+200A, U+2028, U+2029, U+202F, U+205F, U+3000.
 */
static size_t white_space(const unsigned char *s, size_t n)
{
    if (s[0] == ' ' || (s[0] >= 0x09 && s[0] <= 0x0d) || (s[0] >= 0x1c && s[0] <= 0x1f))
        return 1;
    if (n >= 2 && s[0] == 0xc2 && (s[1] == 0x85 || s[1] == 0xa0))
        return 2;
    if (n < 3)
        return 0;
    if (s[0] == 0xe1 && s[1] == 0x9a && s[2] == 0x80)
        return 3;
    if (s[0] == 0xe2 && s[1] == 0x80 &&
        ((s[2] >= 0x80 && s[2] <= 0x8a) || s[2] == 0xa8 || s[2] == 0xa9 || s[2] == 0xaf))
        return 3;
    if (s[0] == 0xe2 && s[1] == 0x81 && s[2] == 0x9f)
        return 3;
    if (s[0] == 0xe3 && s[1] == 0x80 && s[2] == 0x80)
        return 3;
    return 0;
}

char *core_dedup_normalise(const char *text, size_t n, size_t *out_len)
{
    const unsigned char *s = (const unsigned char *)text;
    char *out = mr_xmalloc(n + 1);
    size_t k = 0;
    bool gap = false;
    for (size_t i = 0; i < n;) {
        size_t w = white_space(s + i, n - i);
        if (w) {
            gap = k > 0;
            i += w;
            continue;
        }
        if (gap)
            out[k++] = ' ';
        gap = false;
        unsigned char c = s[i++];
        out[k++] = (char)(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
    }
    out[k] = '\0';
    if (out_len)
        *out_len = k;
    return out;
}

void core_dedup_key(const struct mr_memory *m, char out[72])
{
    size_t n = 0;
    char *norm = core_dedup_normalise(m->content, strlen(m->content), &n);
    struct mr_strbuf b = {0};
    /* Versioned, so a later normalisation can tell its keys from these. */
    mr_strbuf_printf(&b, "memori-dedup-v1\n%s\n", mr_memory_type_name(m->memory_type));
    if (m->has_data_source_id)
        mr_strbuf_printf(&b, "%lld\n", (long long)m->data_source_id);
    else
        mr_strbuf_puts(&b, "-\n");
    mr_strbuf_add(&b, norm, n);
    mr_sql_sha256(b.s, b.len, out);
    mr_strbuf_free(&b);
    free(norm);
}

int core_dedup_claim_key(struct mr_store_tx *tx, const struct mr_memory *m, const char *key,
                         struct mr_err *err)
{
    struct mr_memory other;
    bool found = false;
    int rc = mr_store_mem_find_dedup(tx, m->tenant_id, m->user_id, key, &other, &found, err);
    if (rc)
        return rc;
    bool taken = found && other.id != m->id;
    mr_memory_clear(&other);
    return mr_store_mem_set_dedup_key(tx, m->id, taken ? NULL : key, err);
}

int mr_dedup_restore_key(struct mr_store_tx *tx, const struct mr_memory *m, struct mr_err *err)
{
    if (m->is_archived)
        return 0;
    char key[72];
    core_dedup_key(m, key);
    return core_dedup_claim_key(tx, m, key, err);
}

int core_record_access(struct mr_service *svc, struct mr_store_tx *tx, struct mr_memory *m,
                       int64_t now, bool *out_promoted, struct mr_err *err)
{
    /*
     * The access rule of a search's hit (DESIGN.md §3), written in this
     * write transaction: the row's pending accesses (src/core/access.c)
     * settled into it first, so the row read back holds them and the
     * promotion is decided on what is served, then this one merged as an
     * increment — what the flusher does for a search.
     */
    struct core_access_taken taken;
    *out_promoted = false;
    int rc = core_access_settle(svc, tx, m, &taken, err);
    struct mr_access_delta d = {m->id, 1, now};
    if (rc == 0)
        rc = mr_store_mem_record_access(tx, &d, 1, NULL, err);
    if (rc == 0)
        *out_promoted = mr_rule_record_accesses(m, 1, now);
    core_access_settled(svc, &taken, rc);
    return rc;
}

/* How many of the best candidates are looked at: the best is nearly always the one. */
#define NEAR_CANDIDATES 10

int core_dedup_near(struct mr_service *svc, struct mr_store_tx *tx, const struct mr_identity *who,
                    const struct mr_memory *m, double threshold, int64_t now,
                    struct mr_fusion_candidate **out, size_t *out_n, struct mr_err *err)
{
    *out = NULL;
    *out_n = 0;
    size_t dim = mr_embed_dim(svc->embedder);
    struct mr_lex_terms *terms = mr_lex_terms_new(m->content, strlen(m->content));
    struct mr_index_query q = {
        .vec = m->embedding,
        .dim = dim,
        .type_mask = 1u << m->memory_type,
        .now = now,
        .min_score = -INFINITY,
        .limit = NEAR_CANDIDATES,
        .terms = terms,
        .sides = MR_INDEX_SIDE_VECTOR | MR_INDEX_SIDE_LEXICAL,
    };
    struct mr_fusion_candidate *c = NULL;
    size_t n = 0;
    int rc = 0;
    if (svc->index)
        rc = core_index_candidates(svc, who, &q, &c, &n, err);
    else
        rc = core_store_candidates(tx, who, &q, &c, &n, err);
    if (rc == 0) {
        /*
         * The hybrid score at the weight MR_DEDUP_THRESHOLD was chosen at
         * (MR_FUSION_LEXICAL_WEIGHT, not the search's), the same fallback
         * for a one-sided query.
         */
        struct mr_fusion f = MR_FUSION_DEFAULTS;
        f = mr_fusion_for_query(&f, core_vec_nonzero(m->embedding, dim),
                                mr_lex_terms_count(terms) > 0);
        mr_fusion_rank(&f, c, n);
        size_t k = 0;
        while (k < n && c[k].score >= threshold)
            k++;
        *out = c;
        *out_n = k;
        c = NULL;
    }
    free(c);
    mr_lex_terms_free(terms);
    return rc;
}
