/* Unit tests of the lexical index (src/lexical/): tokenizer, BM25, the in-process index. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/lexical/lexical_int.h"
#include "memori/lexical.h"
#include "memori/util.h"
#include "test.h"

struct joined {
    char *buf;
    size_t cap, len;
};

static void join(void *arg, const char *term, size_t n)
{
    struct joined *j = arg;
    int w = snprintf(j->buf + j->len, j->cap - j->len, "%s%.*s", j->len ? " " : "", (int)n, term);
    if (w > 0 && (size_t)w < j->cap - j->len)
        j->len += (size_t)w;
}

/* Every term of text in order, repeats included, joined by spaces. */
static const char *tokens(const char *text, char *buf, size_t cap)
{
    struct joined j = {buf, cap, 0};
    buf[0] = '\0';
    mr_lex_tokenize(text, strlen(text), join, &j);
    return buf;
}

TEST(test_tokenize_stems_and_lowers)
{
    char buf[512];
    CHECK_STR(tokens("The customers ORDERED 3 items", buf, sizeof buf), "custom order 3 item");
    CHECK_STR(tokens("queries Query running prices pricing", buf, sizeof buf),
              "queri queri run price price");
}

TEST(test_tokenize_splits_identifiers)
{
    char buf[512];
    /* Parts stemmed like words; the whole identifier exact (lower case, unstemmed). */
    CHECK_STR(tokens("customer_id", buf, sizeof buf), "custom id customer_id");
    CHECK_STR(tokens("customerId", buf, sizeof buf), "custom id customerid");
    CHECK_STR(tokens("orders.cust_acct_id", buf, sizeof buf), "order cust acct id cust_acct_id");
    CHECK_STR(tokens("fct_order_lines", buf, sizeof buf), "fct order line fct_order_lines");
    CHECK_STR(tokens("HTTPServer", buf, sizeof buf), "http server httpserver");
    /* A stop word inside an identifier is dropped as a part, kept inside the whole. */
    CHECK_STR(tokens("is_active", buf, sizeof buf), "activ is_active");
}

TEST(test_tokenize_drops_stop_words)
{
    char buf[512];
    CHECK_STR(tokens("what is the total of all orders?", buf, sizeof buf), "total all order");
    /* Kept on purpose: negations, quantifiers, time words, the month and the country. */
    CHECK_STR(tokens("not each before May US", buf, sizeof buf), "not each befor may us");
    /* Contraction fragments go. */
    CHECK_STR(tokens("it's we've they'll I'd", buf, sizeof buf), "");
    /* Only stop words and punctuation: no term, no crash. */
    CHECK_STR(tokens("what is it, and how? ... !!!", buf, sizeof buf), "");
    CHECK_STR(tokens("", buf, sizeof buf), "");
    struct mr_lex_terms *t = mr_lex_terms_new("the and of ?!", 13);
    CHECK_INT(mr_lex_terms_count(t), 0);
    CHECK_INT(mr_lex_terms_length(t), 0);
    mr_lex_terms_free(t);
}

TEST(test_stop_word_list_is_sorted_and_short)
{
    size_t n;
    const char *const *w = mr_lex_stop_words(&n);
    CHECK(n >= 120 && n <= 180);
    for (size_t i = 1; i < n; i++) {
        if (strcmp(w[i - 1], w[i]) >= 0)
            printf("    out of order: %s, %s\n", w[i - 1], w[i]);
        CHECK(strcmp(w[i - 1], w[i]) < 0);
    }
    /* Every listed word is dropped (the binary search finds each). */
    char buf[64];
    for (size_t i = 0; i < n; i++)
        CHECK_STR(tokens(w[i], buf, sizeof buf), "");
}

TEST(test_tokenize_non_ascii)
{
    char buf[512];
    /* Latin-1, Greek and Cyrillic capitals lowered; other scripts' bytes kept whole. */
    CHECK_STR(tokens("Café ÉCOLE Straße ΑΘΗΝΑ Москва 😀", buf, sizeof buf),
              "café école straße αθηνα москва 😀");
    CHECK_STR(tokens("ÀÖØÞ × 東京", buf, sizeof buf), "àöøþ × 東京");
    /* "é" is two bytes: a 301-byte word is cut at 256 bytes, never inside a character. */
    char word[400] = "a";
    for (int i = 0; i < 150; i++)
        strcat(word, "é");
    tokens(word, buf, sizeof buf);
    CHECK(strlen(buf) > 200 && strlen(buf) <= MR_LEX_MAX_WORD);
    CHECK(mr_utf8_valid(buf, strlen(buf)));
    CHECK(buf[0] == 'a');
    /* Invalid UTF-8 is still bytes: no crash, terms come out. */
    const char bad[] = "ab\xff\xfe cd \xc3";
    struct mr_lex_terms *t = mr_lex_terms_new(bad, sizeof bad - 1);
    CHECK(mr_lex_terms_count(t) >= 1);
    mr_lex_terms_free(t);
}

TEST(test_terms_count_repeats)
{
    const char *text = "orders and orders.order_id, ORDER";
    struct mr_lex_terms *t = mr_lex_terms_new(text, strlen(text));
    /* order ×3 (orders, orders, ORDER) + order (part) = 4, id 1, order_id 1: length 6. */
    CHECK_INT(mr_lex_terms_length(t), 6);
    CHECK_INT(mr_lex_terms_count(t), 3);
    size_t n;
    const char *w = mr_lex_terms_term(t, 0, &n);
    CHECK(n == 5 && memcmp(w, "order", 5) == 0);
    CHECK_INT(mr_lex_terms_tf(t, 0), 4);
    w = mr_lex_terms_term(t, 2, &n);
    CHECK(n == 8 && memcmp(w, "order_id", 8) == 0);
    CHECK_INT(mr_lex_terms_tf(t, 2), 1);
    mr_lex_terms_free(t);
}

struct stem_run {
    char out[256];
};

static void *stem_thread(void *arg)
{
    struct stem_run *r = arg;
    for (int i = 0; i < 2000; i++)
        tokens("customers ordered running queries nationalities", r->out, sizeof r->out);
    return NULL;
}

TEST(test_tokenize_in_parallel_threads)
{
    /* Each thread stems with its own stemmer: same terms everywhere, nothing shared. */
    pthread_t th[4];
    struct stem_run runs[4];
    for (int i = 0; i < 4; i++)
        CHECK(pthread_create(&th[i], NULL, stem_thread, &runs[i]) == 0);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < 4; i++)
        CHECK_STR(runs[i].out, "custom order run queri nation");
}

/* --------------------------------------------------------------- BM25 */

/*
 * The three-document partition of the hand computations below:
 *   1 "orders table"            → order, tabl              (length 2)
 *   2 "orders orders customers" → order ×2, custom         (length 3)
 *   3 "payments"                → payment                  (length 1)
 * N = 3, total length 6, average 2. k1 = 1.2, b = 0.75.
 */
static struct mr_lex_index *three_docs(void)
{
    struct mr_lex_index *ix = mr_lex_index_new();
    mr_lex_index_put(ix, 1, "orders table", 12);
    mr_lex_index_put(ix, 2, "orders orders customers", 23);
    mr_lex_index_put(ix, 3, "payments", 8);
    return ix;
}

static struct mr_lex_terms *query(const char *q)
{
    return mr_lex_terms_new(q, strlen(q));
}

TEST(test_bm25_by_hand)
{
    /*
     * "orders": df(order) = 2, idf = ln(1 + (3 − 2 + 0.5)/(2 + 0.5)) = ln 1.6 = 0.470003629.
     *   doc 1: tf 1, |d|/avg = 1: 1·2.2 / (1 + 1.2·(0.25 + 0.75)) = 2.2/2.2 = 1
     *          → 0.470003629
     *   doc 2: tf 2, |d|/avg = 1.5: 2·2.2 / (2 + 1.2·(0.25 + 1.125)) = 4.4/3.65 = 1.205479452
     *          → 0.470003629 · 1.205479452 = 0.566579717
     */
    CHECK_NEAR(mr_lex_idf(2, 3), log(1.6), 1e-12);
    struct mr_lex_index *ix = three_docs();
    struct mr_lex_terms *q = query("orders");
    struct mr_lex_hit hits[4];
    double max = 0;
    size_t n = mr_lex_index_search(ix, q, NULL, NULL, 4, hits, &max);
    CHECK_INT(n, 2);
    CHECK_INT(hits[0].id, 2);
    CHECK_NEAR(hits[0].bm25, 0.566579717, 1e-8);
    CHECK_INT(hits[1].id, 1);
    CHECK_NEAR(hits[1].bm25, 0.470003629, 1e-8);
    /* Normaliser: idf·(k1 + 1) = 0.470003629 · 2.2 = 1.034007984. */
    CHECK_NEAR(max, 1.034007984, 1e-8);
    CHECK_NEAR(hits[1].lexical, 1 / 2.2, 1e-12);
    mr_lex_terms_free(q);

    /*
     * "customers tables": custom and tabl each df 1, idf = ln(1 + 2.5/1.5) = 0.980829253.
     *   doc 1: tabl, tf 1 at average length → 0.980829253
     *   doc 2: custom, tf 1, |d|/avg 1.5: 2.2/(1 + 1.65) = 0.830188679 → 0.814273342
     *   normaliser 2 · 0.980829253 · 2.2 = 4.315648713; doc 1's lexical = 1/4.4 = 0.227272727
     */
    q = query("customers tables");
    n = mr_lex_index_search(ix, q, NULL, NULL, 4, hits, &max);
    CHECK_INT(n, 2);
    CHECK_INT(hits[0].id, 1);
    CHECK_NEAR(hits[0].bm25, 0.980829253, 1e-8);
    CHECK_NEAR(hits[1].bm25, 0.814273342, 1e-8);
    CHECK_NEAR(max, 4.315648713, 1e-8);
    CHECK_NEAR(hits[0].lexical, 0.227272727, 1e-8);
    mr_lex_terms_free(q);

    /* A word no document holds (df 0, idf ln(1 + 3.5/0.5) = ln 8) still weighs in the normaliser.
     */
    q = query("orders zebra");
    CHECK_NEAR(mr_lex_index_max(ix, q), 2.2 * (log(1.6) + log(8)), 1e-9);
    n = mr_lex_index_search(ix, q, NULL, NULL, 4, hits, &max);
    CHECK_INT(n, 2);
    CHECK_NEAR(hits[0].bm25, 0.566579717, 1e-8);
    mr_lex_terms_free(q);
    mr_lex_index_destroy(ix);
}

TEST(test_bm25_pure_functions_match_the_index)
{
    /* A store that keeps only the statistics gets the same bits (doc 2 above). */
    struct mr_lex_index *ix = three_docs();
    uint64_t docs, total;
    mr_lex_index_stats(ix, &docs, &total);
    CHECK_INT(docs, 3);
    CHECK_INT(total, 6);
    CHECK_INT(mr_lex_index_df(ix, "order", 5), 2);
    CHECK_INT(mr_lex_index_df(ix, "orders", 6), 0); /* terms are stems */
    double avg = mr_lex_avg_len(total, docs);
    double s = 0;
    s += mr_lex_bm25_term(mr_lex_idf(2, docs), 2, 3, avg); /* order */
    s += mr_lex_bm25_term(mr_lex_idf(1, docs), 1, 3, avg); /* custom */
    struct mr_lex_terms *q = query("orders customers");
    CHECK(mr_lex_index_score(ix, q, 2) == s);
    CHECK(mr_lex_bm25_term(1.0, 0, 5, 2) == 0);
    CHECK_NEAR(mr_lex_bm25_term(1.0, 1, 0, 0), 1.0, 1e-12); /* empty partition: length ratio 1 */
    CHECK(mr_lex_normalise(1, 0) == 0);
    CHECK(mr_lex_normalise(-1, 2) == 0);
    CHECK(mr_lex_normalise(3, 2) == 1);
    CHECK(mr_lex_idf(0, 0) > 0);
    CHECK(mr_lex_idf(5, 3) > 0); /* df over N is clamped, never negative */
    mr_lex_terms_free(q);
    mr_lex_index_destroy(ix);
}

TEST(test_bm25_prefers_rare_terms_and_short_documents)
{
    struct mr_lex_index *ix = mr_lex_index_new();
    for (int i = 0; i < 20; i++)
        mr_lex_index_put(ix, 100 + i, "the orders table", 16);
    mr_lex_index_put(ix, 1, "the refunds table", 17);
    mr_lex_index_put(ix, 2, "refunds are kept in a long and winding table of many other words", 65);
    struct mr_lex_terms *q = query("refunds orders");
    struct mr_lex_hit hits[3];
    size_t n = mr_lex_index_search(ix, q, NULL, NULL, 3, hits, NULL);
    CHECK_INT(n, 3);
    CHECK_INT(hits[0].id, 1); /* the rare word, in a short document */
    CHECK_INT(hits[1].id, 2); /* the rare word, in a long one */
    CHECK(hits[1].bm25 > hits[2].bm25);
    mr_lex_terms_free(q);
    mr_lex_index_destroy(ix);
}

/* ------------------------------------------------------------- the index */

static bool even_only(void *arg, int64_t id)
{
    int *calls = arg;
    (*calls)++;
    return id % 2 == 0;
}

TEST(test_index_search_applies_the_filter_and_fills_limit)
{
    struct mr_lex_index *ix = mr_lex_index_new();
    for (int64_t id = 1; id <= 40; id++) {
        char text[64];
        snprintf(text, sizeof text, "order note %d", (int)id);
        mr_lex_index_put(ix, id, text, strlen(text));
    }
    struct mr_lex_terms *q = query("order");
    struct mr_lex_hit hits[5];
    int calls = 0;
    size_t n = mr_lex_index_search(ix, q, even_only, &calls, 5, hits, NULL);
    CHECK_INT(n, 5);
    /* Equal scores: ties by lower id, the filter kept only even ids. */
    int64_t want[] = {2, 4, 6, 8, 10};
    for (int i = 0; i < 5; i++)
        CHECK_INT(hits[i].id, want[i]);
    /* Called only while the top 5 could change: once the heap is full of equals, never. */
    CHECK(calls <= 40);
    n = mr_lex_index_search(ix, q, NULL, NULL, 0, hits, NULL);
    CHECK_INT(n, 0);
    mr_lex_terms_free(q);
    mr_lex_index_destroy(ix);
}

TEST(test_index_empty_and_stop_word_queries)
{
    struct mr_lex_index *ix = mr_lex_index_new();
    struct mr_lex_terms *q = query("orders");
    struct mr_lex_hit hits[2];
    double max = -1;
    CHECK_INT(mr_lex_index_search(ix, q, NULL, NULL, 2, hits, &max), 0); /* empty index */
    CHECK(mr_lex_index_score(ix, q, 7) == 0);
    mr_lex_terms_free(q);
    mr_lex_index_put(ix, 1, "orders", 6);
    /* A memory without an indexable token is a document of length 0: counted, never found. */
    mr_lex_index_put(ix, 2, "??? the and", 11);
    CHECK(mr_lex_index_contains(ix, 2));
    uint64_t docs, total;
    mr_lex_index_stats(ix, &docs, &total);
    CHECK_INT(docs, 2);
    CHECK_INT(total, 1);
    q = query("what is it?");
    CHECK_INT(mr_lex_index_search(ix, q, NULL, NULL, 2, hits, &max), 0);
    CHECK(max == 0);
    CHECK(mr_lex_index_score(ix, q, 1) == 0);
    mr_lex_terms_free(q);
    q = query("orders");
    CHECK_INT(mr_lex_index_search(ix, q, NULL, NULL, 2, hits, &max), 1);
    CHECK_INT(hits[0].id, 1);
    CHECK(mr_lex_index_score(ix, q, 2) == 0);
    mr_lex_terms_free(q);
    mr_lex_index_destroy(ix);
}

TEST(test_index_remove_and_replace_update_statistics)
{
    struct mr_lex_index *ix = three_docs();
    mr_lex_index_remove(ix, 2);
    mr_lex_index_remove(ix, 99); /* absent: nothing */
    CHECK(!mr_lex_index_contains(ix, 2));
    uint64_t docs, total;
    mr_lex_index_stats(ix, &docs, &total);
    CHECK_INT(docs, 2);
    CHECK_INT(total, 3);
    CHECK_INT(mr_lex_index_df(ix, "order", 5), 1);
    CHECK_INT(mr_lex_index_df(ix, "custom", 6), 0);
    struct mr_lex_terms *q = query("customers");
    struct mr_lex_hit hits[3];
    CHECK_INT(mr_lex_index_search(ix, q, NULL, NULL, 3, hits, NULL), 0);
    mr_lex_terms_free(q);
    /* Replacing: the old text no longer matches, the new one does. */
    mr_lex_index_put(ix, 1, "customer refunds", 16);
    mr_lex_index_stats(ix, &docs, &total);
    CHECK_INT(docs, 2);
    CHECK_INT(total, 3);
    CHECK_INT(mr_lex_index_df(ix, "order", 5), 0);
    q = query("orders");
    CHECK_INT(mr_lex_index_search(ix, q, NULL, NULL, 3, hits, NULL), 0);
    mr_lex_terms_free(q);
    q = query("customers");
    CHECK_INT(mr_lex_index_search(ix, q, NULL, NULL, 3, hits, NULL), 1);
    CHECK_INT(hits[0].id, 1);
    mr_lex_terms_free(q);
    mr_lex_index_destroy(ix);
}

static const char *const words[] = {
    "order",     "customer",     "refund",         "invoice",  "payment",  "shipment", "region",
    "account",   "balance",      "ledger",         "revenue",  "discount", "product",  "supplier",
    "warehouse", "cust_acct_id", "fct_order_line", "dim_date", "isoWeek",  "quarter"};

/* A repeatable text of 4..19 words from the list above. */
static size_t random_text(uint64_t *state, char *buf, size_t cap)
{
    size_t len = 0, n = 4 + (size_t)((test_frand(state) + 1) * 8);
    for (size_t i = 0; i < n; i++) {
        size_t w = (size_t)((test_frand(state) + 1) * 10) % (sizeof words / sizeof *words);
        int k = snprintf(buf + len, cap - len, "%s%s", i ? " " : "", words[w]);
        len += (size_t)k;
    }
    return len;
}

TEST(test_index_churn_matches_a_fresh_build)
{
    /*
     * Puts, replaces and removes (compactions included) leave the index
     * ranking exactly as one built from the surviving documents: same ids,
     * same bits.
     */
    uint64_t state = 42;
    enum { N = 600 };
    static char texts[N][256];
    static size_t lens[N];
    static bool live[N];
    struct mr_lex_index *ix = mr_lex_index_new();
    for (int round = 0; round < 5000; round++) {
        int id = (int)((test_frand(&state) + 1) * N / 2) % N;
        if (test_frand(&state) < 0.3) {
            mr_lex_index_remove(ix, id);
            live[id] = false;
        } else {
            lens[id] = random_text(&state, texts[id], sizeof texts[id]);
            mr_lex_index_put(ix, id, texts[id], lens[id]);
            live[id] = true;
        }
    }
    struct mr_lex_index *fresh = mr_lex_index_new();
    for (int id = 0; id < N; id++)
        if (live[id])
            mr_lex_index_put(fresh, id, texts[id], lens[id]);
    uint64_t d1, t1, d2, t2;
    mr_lex_index_stats(ix, &d1, &t1);
    mr_lex_index_stats(fresh, &d2, &t2);
    CHECK_INT(d1, d2);
    CHECK_INT(t1, t2);
    const char *queries[] = {"refund customer", "fct_order_line revenue", "iso week quarter",
                             "cust acct balance ledger"};
    for (size_t k = 0; k < sizeof queries / sizeof *queries; k++) {
        struct mr_lex_terms *q = query(queries[k]);
        struct mr_lex_hit a[20], b[20];
        double ma, mb;
        size_t na = mr_lex_index_search(ix, q, NULL, NULL, 20, a, &ma);
        size_t nb = mr_lex_index_search(fresh, q, NULL, NULL, 20, b, &mb);
        CHECK_INT(na, nb);
        CHECK(ma == mb);
        for (size_t i = 0; i < na; i++) {
            CHECK_INT(a[i].id, b[i].id);
            CHECK(a[i].bm25 == b[i].bm25);
            /* The one-id score is the search's number, bit for bit. */
            CHECK(mr_lex_index_score(ix, q, a[i].id) == a[i].bm25);
        }
        mr_lex_terms_free(q);
    }
    for (int id = 0; id < N; id++)
        CHECK(mr_lex_index_contains(ix, id) == live[id]);
    mr_lex_index_destroy(ix);
    mr_lex_index_destroy(fresh);
}

TEST(test_index_memory_per_document)
{
    /* 10 k documents of 4..19 words: bytes per document, printed for docs/ranking.md. */
    uint64_t state = 7;
    struct mr_lex_index *ix = mr_lex_index_new();
    char text[512];
    for (int64_t id = 0; id < 10000; id++) {
        size_t n = random_text(&state, text, sizeof text);
        mr_lex_index_put(ix, id, text, n);
    }
    size_t bytes = mr_lex_index_bytes(ix);
    printf("    10000 documents: %zu bytes, %.0f bytes/document\n", bytes, bytes / 10000.0);
    CHECK(bytes / 10000 < 400);
    for (int64_t id = 0; id < 10000; id++)
        mr_lex_index_remove(ix, id);
    uint64_t docs, total;
    mr_lex_index_stats(ix, &docs, &total);
    CHECK_INT(docs, 0);
    CHECK_INT(total, 0);
    mr_lex_index_destroy(ix);
}

/*
 * Borrowed statistics: with stats == ix the same bits as the plain calls;
 * with another partition's, its N, average length and df, by hand.
 */
TEST(test_bm25_with_another_partitions_statistics)
{
    struct mr_lex_index *ix = three_docs(), *other = mr_lex_index_new();
    mr_lex_index_put(other, 50, "orders orders orders", 20);
    mr_lex_index_put(other, 51, "shipments by region", 19);
    struct mr_lex_terms *q = query("orders customers");
    struct mr_lex_hit a[3], b[3];
    double max_a, max_b;
    size_t na = mr_lex_index_search(ix, q, NULL, NULL, 3, a, &max_a);
    size_t nb = mr_lex_index_search_with(ix, ix, q, NULL, NULL, 3, b, &max_b);
    CHECK_INT(na, nb);
    CHECK(max_a == max_b);
    for (size_t i = 0; i < na; i++)
        CHECK(a[i].id == b[i].id && a[i].bm25 == b[i].bm25 && a[i].lexical == b[i].lexical);
    /* Document 2 of three_docs scored with other's statistics: N 2, total 3 + 2, df(order) 1. */
    double avg = mr_lex_avg_len(5, 2);
    double want = mr_lex_bm25_term(mr_lex_idf(1, 2), 2, 3, avg) + /* order */
                  mr_lex_bm25_term(mr_lex_idf(0, 2), 1, 3, avg);  /* custom: df 0 there */
    int64_t id = 2;
    double got;
    mr_lex_index_score_with(ix, other, q, &id, 1, &got);
    CHECK_NEAR(got, want, 1e-12);
    nb = mr_lex_index_search_with(ix, other, q, NULL, NULL, 3, b, &max_b);
    CHECK(max_b == mr_lex_index_max(other, q));
    for (size_t i = 0; i < nb; i++)
        if (b[i].id == 2)
            CHECK(b[i].bm25 == got);
    /* No statistics (an empty partition): still scores, never NaN. */
    mr_lex_index_score_with(ix, NULL, q, &id, 1, &got);
    CHECK(got > 0 && got == got);
    CHECK(mr_lex_index_max(NULL, q) > 0);
    mr_lex_terms_free(q);
    mr_lex_index_destroy(other);
    mr_lex_index_destroy(ix);
}

/* Word r of a synthetic vocabulary: letters only, distinct for r < 15 * 5 * 15 * 5. */
static size_t zipf_word(size_t r, char *out)
{
    static const char cons[] = "bcdfgklmnprstvz", vow[] = "aeiou";
    out[0] = cons[r % 15];
    out[1] = vow[(r / 15) % 5];
    out[2] = cons[(r / 75) % 15];
    out[3] = vow[(r / 1125) % 5];
    out[4] = 'x';
    return 5;
}

/* A word rank drawn with P(r) ∝ 1 / (r + 1) over V words (cdf holds V partial sums). */
static size_t zipf_rank(uint64_t *state, const double *cdf, size_t v)
{
    double u = (test_frand(state) + 1) / 2 * cdf[v - 1];
    size_t lo = 0, hi = v - 1;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cdf[mid] < u)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static size_t zipf_text(uint64_t *state, const double *cdf, size_t v, size_t n_words, char *buf)
{
    size_t len = 0;
    for (size_t i = 0; i < n_words; i++) {
        if (i)
            buf[len++] = ' ';
        len += zipf_word(zipf_rank(state, cdf, v), buf + len);
    }
    return len;
}

static bool not_multiple_of_3(void *arg, int64_t id)
{
    (void)arg;
    return id % 3 != 0;
}

/* Hits best first, ties by lower id: the order the search promises. */
static int hit_order(const void *a, const void *b)
{
    const struct mr_lex_hit *x = a, *y = b;
    if (x->bm25 != y->bm25)
        return x->bm25 > y->bm25 ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

/*
 * The search against the exhaustive answer — every live document scored
 * one by one with mr_lex_index_score_with, those with a term in common and
 * accepted, sorted: the same ids in the same order with the same bits.
 * Zipf-distributed words over a vocabulary of v (long and short posting
 * lists, repeats within a document), n_docs ids written 2 · n_docs times
 * with removals and replacements (dead postings, compactions), a filter,
 * several limits, and another partition's statistics; and the sums the
 * search kept, read back for every id. *out_compared: the hits compared.
 */
static void search_against_exhaustive(size_t v, size_t n_docs, size_t n_queries, uint64_t seed,
                                      size_t *out_compared)
{
    *out_compared = 0;
    double *cdf = malloc(v * sizeof *cdf);
    for (size_t r = 0; r < v; r++)
        cdf[r] = (r ? cdf[r - 1] : 0) + 1.0 / (double)(r + 1);
    uint64_t state = seed;
    struct mr_lex_index *ix = mr_lex_index_new(), *other = mr_lex_index_new();
    bool *live = calloc(n_docs, sizeof *live);
    char text[1024];
    for (size_t round = 0; round < 2 * n_docs; round++) {
        int64_t id = (int64_t)((test_frand(&state) + 1) / 2 * (double)n_docs) % (int64_t)n_docs;
        if (round > n_docs && test_frand(&state) < -0.6) {
            mr_lex_index_remove(ix, id);
            live[id] = false;
            continue;
        }
        size_t n_words = 1 + (size_t)((test_frand(&state) + 1) * 12);
        mr_lex_index_put(ix, id, text, zipf_text(&state, cdf, v, n_words, text));
        live[id] = true;
    }
    for (int64_t id = 0; id < 500; id++)
        mr_lex_index_put(other, (int64_t)n_docs + 10000 + id, text,
                         zipf_text(&state, cdf, v, 8, text));
    static const size_t limits[] = {1, 3, 10, 100};
    struct mr_lex_hit got[100], *want = malloc(n_docs * sizeof *want);
    int64_t *ids = malloc(n_docs * sizeof *ids);
    double *bm25 = malloc(n_docs * sizeof *bm25), *scores = malloc(n_docs * sizeof *scores);
    size_t n_ids = 0, compared = 0, n_kept = 0;
    for (size_t id = 0; id < n_docs; id++)
        if (live[id])
            ids[n_ids++] = (int64_t)id;
    for (size_t k = 0; k < n_queries; k++) {
        size_t n_words = 1 + (size_t)((test_frand(&state) + 1) * 2.5);
        size_t len = zipf_text(&state, cdf, v, n_words, text);
        struct mr_lex_terms *q = mr_lex_terms_new(text, len);
        const struct mr_lex_index *stats = k % 4 == 3 ? other : ix;
        mr_lex_accept_fn accept = k % 2 ? not_multiple_of_3 : NULL;
        size_t limit = limits[k % 4 == 3 ? (k / 4) % 4 : k % 4];
        double max, max_want = mr_lex_index_max(stats, q);
        mr_lex_index_score_with(ix, stats, q, ids, n_ids, bm25);
        size_t n_want = 0;
        for (size_t i = 0; i < n_ids; i++)
            if (bm25[i] > 0 && (!accept || accept(NULL, ids[i])))
                want[n_want++] = (struct mr_lex_hit){ids[i], bm25[i], 0};
        qsort(want, n_want, sizeof *want, hit_order);
        if (n_want > limit)
            n_want = limit;
        struct mr_lex_scores *kept;
        size_t n = mr_lex_index_search_kept(ix, stats, q, accept, NULL, limit, got, &max, &kept);
        /* The sums it kept (or the fallback without them) are mr_lex_index_score_with's bits. */
        mr_lex_index_score_kept(ix, stats, q, kept, ids, n_ids, scores);
        for (size_t i = 0; i < n_ids; i++)
            CHECK(scores[i] == bm25[i]);
        const int64_t absent = (int64_t)n_docs + 5;
        mr_lex_index_score_kept(ix, stats, q, kept, &absent, 1, scores);
        CHECK(scores[0] == 0);
        n_kept += kept != NULL;
        mr_lex_scores_free(kept);
        CHECK_INT(n, n_want);
        CHECK(max == max_want);
        for (size_t i = 0; i < n && i < n_want; i++) {
            CHECK_INT(got[i].id, want[i].id);
            CHECK(got[i].bm25 == want[i].bm25);
            CHECK(got[i].lexical == mr_lex_normalise(want[i].bm25, max_want));
        }
        compared += n;
        mr_lex_terms_free(q);
    }
    /* Both ways were compared: the single words and dominant ones walk, the others keep sums. */
    CHECK(n_kept > n_queries / 4 && n_kept < n_queries);
    free(scores);
    free(bm25);
    free(ids);
    free(want);
    free(live);
    free(cdf);
    mr_lex_index_destroy(other);
    mr_lex_index_destroy(ix);
    *out_compared = compared;
}

TEST(test_search_skipping_matches_exhaustive_scoring)
{
    /*
     * The search skips documents that cannot enter the top `limit`
     * (MaxScore, when one term holds most of the query's postings) or adds
     * every posting term at a time: either way the exhaustive answer.
     */
    size_t compared;
    search_against_exhaustive(400, 3000, 150, 2026, &compared);
    CHECK(compared > 150 * 5); /* the queries found something to compare */
}

TEST(test_search_across_blocks_matches_exhaustive_scoring)
{
    /*
     * Term at a time adds up the postings in blocks of 4 096 slots: more
     * than 16 000 slots here (replacements take new ones), so a query's
     * postings and its hits span several blocks, dead slots in each.
     */
    size_t compared;
    search_against_exhaustive(2000, 12000, 200, 77, &compared);
    CHECK(compared > 200 * 5);
}

/*
 * A posting keeps its document's tf and length in 16 bits each; a longer
 * document (65 535 terms or more) or a larger tf is read from the document
 * instead. Every path (term at a time at limit 40, the walk at limit 4 for
 * one term, the kept sums, the scores by id) gives the hand-computed BM25,
 * and a removed or replaced document's postings are not added up again.
 */
TEST(test_postings_with_long_documents_and_large_tf)
{
    enum { REPS = 70000 };
    size_t cap = (size_t)REPS * 6 + 64;
    char *big = malloc(cap);
    size_t n = 0;
    for (int i = 0; i < REPS; i++) {
        memcpy(big + n, "zebra ", 6);
        n += 6;
    }
    memcpy(big + n, "orders", 6);
    n += 6;
    struct mr_lex_index *ix = mr_lex_index_new();
    mr_lex_index_put(ix, 1, big, n);                 /* zebra tf 70 000, length 70 001 */
    mr_lex_index_put(ix, 2, "zebra orders", 12);     /* short */
    mr_lex_index_put(ix, 3, "orders tables", 13);    /* replaced below */
    mr_lex_index_put(ix, 4, "customers tables", 16); /* removed below */
    mr_lex_index_put(ix, 5, "customers orders", 16);
    mr_lex_index_put(ix, 3, "payments tables", 15);
    mr_lex_index_remove(ix, 4);
    /* Live: 1, 2, 3 (payments tables), 5. */
    uint64_t docs, total;
    mr_lex_index_stats(ix, &docs, &total);
    CHECK_INT(docs, 4);
    CHECK_INT(total, REPS + 1 + 2 + 2 + 2);
    double avg = mr_lex_avg_len(total, docs);
    double idf_z = mr_lex_idf(2, 4), idf_o = mr_lex_idf(3, 4), idf_t = mr_lex_idf(1, 4);
    double want1 =
        mr_lex_bm25_term(idf_z, REPS, REPS + 1, avg) + mr_lex_bm25_term(idf_o, 1, REPS + 1, avg);
    double want2 = mr_lex_bm25_term(idf_z, 1, 2, avg) + mr_lex_bm25_term(idf_o, 1, 2, avg);
    double want5 = mr_lex_bm25_term(idf_o, 1, 2, avg);
    CHECK(want1 > 0 && want2 > 0 && want5 > 0);

    struct mr_lex_terms *q = query("zebra orders");
    struct mr_lex_hit hits[40];
    size_t k = mr_lex_index_search(ix, q, NULL, NULL, 40, hits, NULL);
    CHECK_INT(k, 3);
    for (size_t i = 0; i < k; i++) {
        double want = hits[i].id == 1 ? want1 : hits[i].id == 2 ? want2 : want5;
        CHECK(hits[i].id == 1 || hits[i].id == 2 || hits[i].id == 5);
        CHECK_NEAR(hits[i].bm25, want, 1e-12);
        CHECK(hits[i].bm25 == mr_lex_index_score(ix, q, hits[i].id));
    }
    /* The kept sums give the search's bits, and 0 for the removed and the replaced. */
    struct mr_lex_scores *kept = NULL;
    k = mr_lex_index_search_kept(ix, ix, q, NULL, NULL, 40, hits, NULL, &kept);
    CHECK_INT(k, 3);
    int64_t ids[5] = {1, 2, 3, 4, 5};
    double got[5];
    mr_lex_index_score_kept(ix, ix, q, kept, ids, 5, got);
    CHECK_NEAR(got[0], want1, 1e-12);
    CHECK_NEAR(got[1], want2, 1e-12);
    CHECK(got[2] == 0 && got[3] == 0);
    CHECK_NEAR(got[4], want5, 1e-12);
    mr_lex_scores_free(kept);
    mr_lex_terms_free(q);

    /* One term: the walk (limit 4) and term at a time (limit 40) agree. */
    q = query("orders");
    struct mr_lex_hit walk[4];
    size_t kw = mr_lex_index_search(ix, q, NULL, NULL, 4, walk, NULL);
    k = mr_lex_index_search(ix, q, NULL, NULL, 40, hits, NULL);
    CHECK_INT(kw, 3);
    CHECK_INT(k, 3);
    for (size_t i = 0; i < k && i < kw; i++) {
        CHECK_INT(walk[i].id, hits[i].id);
        CHECK(walk[i].bm25 == hits[i].bm25);
        CHECK(hits[i].id != 3 && hits[i].id != 4);
        if (hits[i].id == 1)
            CHECK_NEAR(hits[i].bm25, mr_lex_bm25_term(idf_o, 1, REPS + 1, avg), 1e-12);
    }
    mr_lex_terms_free(q);
    /* The replaced document's new words are found; its old ones, and the removed one's, not. */
    q = query("tables");
    k = mr_lex_index_search(ix, q, NULL, NULL, 40, hits, NULL);
    CHECK_INT(k, 1);
    CHECK_INT(hits[0].id, 3);
    CHECK_NEAR(hits[0].bm25, mr_lex_bm25_term(idf_t, 1, 2, avg), 1e-12);
    mr_lex_terms_free(q);
    mr_lex_index_destroy(ix);
    free(big);
}

/*
 * Neighbour context's combination (mr_lex_context): in [own, 1] for inputs
 * in [0, 1], non-decreasing in each, own exactly without neighbours' words
 * (a standalone memory's score never moves), above 0 for a turn that holds
 * no query word next to one that does, and the turns two away lending half
 * what the next ones lend.
 */
TEST(test_context_combination_bounds_and_monotone)
{
    static const double v[] = {0, 1e-9, 0.1, 0.25, 0.45, 0.77, 1};
    enum { NV = sizeof v / sizeof v[0] };
    for (int a = 0; a < NV; a++)
        for (int b = 0; b < NV; b++)
            for (int c = 0; c < NV; c++)
                for (int d = 0; d < NV; d++) {
                    /* The two away: one varies, the other is 0.1 or what the next one is. */
                    double e = d % 2 ? 0.1 : v[c];
                    double s = mr_lex_context(v[a], v[b], v[c], v[d], e);
                    CHECK(s >= v[a] && s <= 1);
                    if (a + 1 < NV)
                        CHECK(mr_lex_context(v[a + 1], v[b], v[c], v[d], e) >= s);
                    if (b + 1 < NV)
                        CHECK(mr_lex_context(v[a], v[b + 1], v[c], v[d], e) >= s);
                    if (c + 1 < NV)
                        CHECK(mr_lex_context(v[a], v[b], v[c + 1], v[d], e) >= s);
                    if (d + 1 < NV)
                        CHECK(mr_lex_context(v[a], v[b], v[c], v[d + 1], e) >= s);
                }
    /* No neighbour word: the own score, to the bit. */
    for (int a = 0; a < NV; a++)
        CHECK(mr_lex_context(v[a], 0, 0, 0, 0) == v[a]);
    /* A turn without the words, between two turns with them: found, as high as they are. */
    double between = mr_lex_context(0, 0.45, 0.45, 0, 0);
    CHECK_NEAR(between, 0.45, 1e-15);
    CHECK(between > 0 && between <= mr_lex_context(0.45, 0, 0, 0, 0));
    /* One neighbour lends half, one two away a quarter: holding the words beats lending them. */
    CHECK_NEAR(mr_lex_context(0, 0.45, 0, 0, 0), 0.225, 1e-15);
    CHECK_NEAR(mr_lex_context(0, 0, 0, 0.45, 0), 0.1125, 1e-15);
    CHECK_NEAR(mr_lex_context(0, 0, 0.45, 0, 0.45), 0.3375, 1e-15);
    CHECK(mr_lex_context(0.45, 0, 0, 0, 0) > mr_lex_context(0, 0.45, 0, 0, 0));
    CHECK(mr_lex_context(0, 0.45, 0, 0, 0) > mr_lex_context(0, 0, 0, 0.45, 0));
    CHECK(mr_lex_context(0.3, 0.2, 0, 0, 0) > mr_lex_context(0.2, 0.3, 0, 0, 0));
    /* Never above 1, whatever the neighbours: the window's share is capped. */
    CHECK(mr_lex_context(0, 1, 1, 0, 0) == 1);
    CHECK(mr_lex_context(0, 1, 1, 1, 1) == 1);
    CHECK(mr_lex_context(0.2, 0.9, 0.9, 0.9, 0.9) == 1);
}

TEST_MAIN("lexical", T(test_tokenize_stems_and_lowers), T(test_tokenize_splits_identifiers),
          T(test_tokenize_drops_stop_words), T(test_stop_word_list_is_sorted_and_short),
          T(test_tokenize_non_ascii), T(test_terms_count_repeats),
          T(test_tokenize_in_parallel_threads), T(test_bm25_by_hand),
          T(test_bm25_pure_functions_match_the_index),
          T(test_bm25_with_another_partitions_statistics),
          T(test_bm25_prefers_rare_terms_and_short_documents),
          T(test_index_search_applies_the_filter_and_fills_limit),
          T(test_index_empty_and_stop_word_queries),
          T(test_index_remove_and_replace_update_statistics),
          T(test_index_churn_matches_a_fresh_build), T(test_index_memory_per_document),
          T(test_search_skipping_matches_exhaustive_scoring),
          T(test_search_across_blocks_matches_exhaustive_scoring),
          T(test_postings_with_long_documents_and_large_tf),
          T(test_context_combination_bounds_and_monotone))
