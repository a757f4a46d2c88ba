/*
 * The development sets' D/Q files (tests/data/<set>_dev.tsv, read by
 * bench/bench_quality.c and bench/bench_rank.c) are well formed: three
 * tab-separated fields per row, D ids unique, a conversation's turns
 * c<k>.<nnn> numbered from 001 without gaps, and every Q's evidence ids
 * ("-" for none) D rows above it, at most MAX_EV of them. The bench stops at
 * an unknown id but would take a Q above its evidence or a fifth evidence id
 * without a word; several people append conversations to these files, so
 * the check runs with every `make test`.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test.h"

#define MAX_EV 4      /* bench_quality.c's evidence ids per question */
#define MAX_ROWS 8192 /* D rows per file */
#define MAX_CONV 100  /* conversation numbers c0..c99 (bench_quality's conv_of) */

struct dq_check {
    char *ids[MAX_ROWS]; /* the D ids seen so far, in file order */
    int n_ids;
    int last_turn[MAX_CONV]; /* per conversation, the last turn number seen */
    int n_d, n_q, n_unanswerable, problems;
    bool quiet; /* the checker's own test: count the problems, print none */
};

static void problem(struct dq_check *c, const char *path, int line, const char *what,
                    const char *detail)
{
    if (c->problems++ < 20 && !c->quiet)
        printf("    %s:%d: %s %s\n", path, line, what, detail);
}

static int seen(const struct dq_check *c, const char *id, size_t n)
{
    for (int i = 0; i < c->n_ids; i++)
        if (strlen(c->ids[i]) == n && strncmp(c->ids[i], id, n) == 0)
            return 1;
    return 0;
}

/* A turn id c<k>.<nnn>: k into *k, nnn into *turn; 0 when the id is not one. */
static int turn_id(const char *id, int *k, int *turn)
{
    int a, b, used = 0;
    if (id[0] != 'c' || sscanf(id, "c%d.%d%n", &a, &b, &used) != 2 || id[used] != '\0')
        return 0;
    const char *dot = strchr(id, '.');
    if (strlen(dot + 1) != 3 || a < 0 || a >= MAX_CONV)
        return 0;
    *k = a, *turn = b;
    return 1;
}

/* Checks one file into c (zeroed by the caller); returns -1 when it cannot be read. */
static int check_file(const char *path, struct dq_check *c)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char *line = NULL;
    size_t cap = 0;
    int no = 0;
    while (getline(&line, &cap, f) > 0) {
        no++;
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] == '#' || line[0] == '\0')
            continue;
        char *a = strchr(line, '\t'), *b = a ? strchr(a + 1, '\t') : NULL;
        if (!a || !b || strchr(b + 1, '\t') || a - line != 1 ||
            (line[0] != 'D' && line[0] != 'Q') || b == a + 1 || b[1] == '\0') {
            problem(c, path, no, "bad row:", line);
            continue;
        }
        *b++ = '\0';
        const char *id = a + 1;
        if (line[0] == 'D') {
            int k, t;
            c->n_d++;
            if (seen(c, id, strlen(id)))
                problem(c, path, no, "repeated D id", id);
            else if (c->n_ids < MAX_ROWS)
                c->ids[c->n_ids++] = strdup(id);
            if (id[0] == 'c' && !turn_id(id, &k, &t))
                problem(c, path, no, "not a turn id c<k>.<nnn>:", id);
            else if (id[0] == 'c' && t != c->last_turn[k] + 1)
                problem(c, path, no, "turn out of order:", id);
            else if (id[0] == 'c')
                c->last_turn[k] = t;
            continue;
        }
        c->n_q++;
        if (strcmp(id, "-") == 0) {
            c->n_unanswerable++;
            continue;
        }
        int n_ev = 0;
        for (const char *p = id;; p++) {
            size_t n = strcspn(p, ",");
            n_ev++;
            if (n == 0 || !seen(c, p, n))
                problem(c, path, no, "evidence is no D row above the question:", id);
            p += n;
            if (*p != ',')
                break;
        }
        if (n_ev > MAX_EV)
            problem(c, path, no, "more evidence ids than the bench reads:", id);
    }
    free(line);
    fclose(f);
    return 0;
}

static void check_clear(struct dq_check *c)
{
    for (int i = 0; i < c->n_ids; i++)
        free(c->ids[i]);
}

static void check_set(const char *name, int min_d, int min_q)
{
    char path[256];
    snprintf(path, sizeof path, "tests/data/%s_dev.tsv", name);
    static struct dq_check c;
    memset(&c, 0, sizeof c);
    int rc = check_file(path, &c);
    check_clear(&c);
    CHECK_INT(rc, 0);
    CHECK_INT(c.problems, 0);
    CHECK(c.n_d >= min_d);
    CHECK(c.n_q - c.n_unanswerable >= min_q);
}

TEST(test_conversations_dev_is_well_formed)
{
    check_set("conversations", 1000, 300);
}

TEST(test_paraphrase_identifiers_text2sql_dev_are_well_formed)
{
    check_set("paraphrase", 50, 50);
    if (test_failed())
        return;
    check_set("identifiers", 50, 60);
    if (test_failed())
        return;
    check_set("text2sql", 50, 50);
}

/* The checker itself finds each kind of mistake (a file written for the purpose). */
TEST(test_devdata_check_finds_each_mistake)
{
    static const struct {
        const char *rows;
        int problems;
    } cases[] = {
        {"D\tc1.001\ta\nQ\tc1.001\tq\nD\tc1.002\tb\nQ\tc1.001,c1.002\tq\nQ\t-\tq\n", 0},
        {"D\tc10.001\ta\nD\tc10.002\tb\nD\tc1.001\tc\nQ\tc10.002,c1.001\tq\n", 0},
        {"D\tc1.001\ta\nQ\tc1.002\tq\nD\tc1.002\tb\n", 1}, /* Q above its evidence */
        {"D\tc1.001\ta\nQ\tc1.009\tq\n", 1},               /* no such turn */
        {"D\tc1.001\ta\nD\tc1.003\tb\n", 1},               /* a gap in the turns */
        {"D\tc1.001\ta\nD\tc1.001\tb\n", 2},               /* repeated, and out of order */
        {"D\tc1.001\ta\tb\n", 1},                          /* a tab inside the text */
        {"D\tc1.001\n", 1},                                /* no text */
        {"D\tc1.1\ta\n", 1},                               /* turn not three digits */
        {"D\tc1.001\ta\nQ\tc1.001,\tq\n", 1},              /* empty evidence id */
        {"D\tc1.001\ta\nQ\tc1.001,c1.001,c1.001,c1.001,c1.001\tq\n", 1}, /* five ids */
    };
    char path[] = "/tmp/test-devdata-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    int wrong = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        FILE *f = fopen(path, "w");
        if (!f) {
            wrong++;
            break;
        }
        fputs(cases[i].rows, f);
        fclose(f);
        static struct dq_check c;
        memset(&c, 0, sizeof c);
        c.quiet = true;
        int rc = check_file(path, &c);
        check_clear(&c);
        if (rc != 0 || c.problems != cases[i].problems) {
            printf("    case %zu: %d problems, expected %d\n", i, c.problems, cases[i].problems);
            wrong++;
        }
    }
    unlink(path);
    CHECK_INT(wrong, 0);
}

TEST_MAIN("devdata", T(test_conversations_dev_is_well_formed),
          T(test_paraphrase_identifiers_text2sql_dev_are_well_formed),
          T(test_devdata_check_finds_each_mistake))
