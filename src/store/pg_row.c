/*
 * pg_row.c — the PostgreSQL store's side of the wire (see pg_int.h): the
 * parameters a statement is sent with, the rows it answers read into our
 * structs, and its failures turned into memori's errors. Values travel as
 * text except vectors, which go in pgvector's binary form (no float
 * formatting on the hot path).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memori/json.h"
#include "memori/lexical.h"
#include "pg_int.h"

/*
 * SQLSTATEs (PostgreSQL's appendix A; a whole code first, then its class)
 * -> memori's code and what a client is told. PostgreSQL's message itself,
 * which names tables, constraints and values, goes only to the log.
 */
static const struct {
    const char *state;
    int code;
    const char *reason;
} sqlstates[] = {
    {"42501", MR_EINTERNAL, "the database user lacks a privilege memori needs"},
    {"42704", MR_EINTERNAL, "an object memori needs is missing (is pgvector installed?)"},
    {"08", MR_EUNAVAIL, "the connection to the database failed"},
    {"0A", MR_EUNAVAIL, "the database server lacks a feature memori needs (pgvector 0.8)"},
    {"22", MR_EINVAL, "the database refused a value"},
    {"23", MR_ECONFLICT, "the change conflicts with a database constraint"},
    {"40", MR_EUNAVAIL, "the transaction conflicted with a concurrent one; retry"},
    {"42", MR_EINTERNAL, "the database refused the statement (an outdated schema or a bug)"},
    {"53", MR_EUNAVAIL, "the database server is out of resources"},
    {"57", MR_EUNAVAIL, "the database server stopped the statement"},
    {"58", MR_EUNAVAIL, "the database server lacks a file it needs (is pgvector installed?)"},
};

int pg_result_error(struct mr_err *err, PGconn *pg, const PGresult *res, const char *what)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = res ? PQresultErrorMessage(res) : "";
    if (!msg[0])
        msg = pg ? PQerrorMessage(pg) : "";
    /* No SQLSTATE: libpq's own error, which is the connection's. */
    int code = MR_EUNAVAIL;
    const char *reason = state ? "the database failed" : "the connection to the database failed";
    for (size_t i = 0; state && i < sizeof sqlstates / sizeof *sqlstates; i++)
        if (strncmp(state, sqlstates[i].state, strlen(sqlstates[i].state)) == 0) {
            code = sqlstates[i].code;
            reason = sqlstates[i].reason;
            break;
        }
    char words[160];
    if (state)
        snprintf(words, sizeof words, "%s (SQLSTATE %.5s)", reason, state);
    else
        snprintf(words, sizeof words, "%s", reason);
    return store_db_error(err, code, "postgresql", what, words, msg);
}

int pg_exec_simple(PGconn *pg, const char *sql, const char *what, struct mr_err *err)
{
    PGresult *res = PQexec(pg, sql);
    ExecStatusType st = PQresultStatus(res);
    int rc = 0;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        rc = pg_result_error(err, pg, res, what);
    PQclear(res);
    return rc;
}

/* A bound passed: this store built a statement wrong. Never a request's fault; never survivable. */
static void params_overflow(const char *what, int max)
{
    fprintf(stderr, "memori: internal error: a PostgreSQL statement got more than %d %s\n", max,
            what);
    abort();
}

/* The next parameter slot, checked against PG_MAX_PARAMS. */
static int next(struct pg_params *p)
{
    if (p->n >= PG_MAX_PARAMS)
        params_overflow("parameters (PG_MAX_PARAMS)", PG_MAX_PARAMS);
    return p->n++;
}

/* A buffer the parameters own until pg_params_free, checked against PG_MAX_OWNED. */
static struct mr_strbuf *owned(struct pg_params *p)
{
    if (p->n_owned >= PG_MAX_OWNED)
        params_overflow("arrays and vectors (PG_MAX_OWNED)", PG_MAX_OWNED);
    return &p->owned[p->n_owned++];
}

void pg_param_text(struct pg_params *p, const char *v)
{
    int i = next(p);
    p->vals[i] = v;
    p->fmts[i] = 0;
    p->lens[i] = 0;
}

void pg_param_int(struct pg_params *p, int64_t v)
{
    int i = next(p);
    snprintf(p->num[i], sizeof p->num[i], "%lld", (long long)v);
    p->vals[i] = p->num[i];
    p->fmts[i] = 0;
    p->lens[i] = 0;
}

void pg_param_time(struct pg_params *p, int64_t t)
{
    if (t == MR_NO_TIME)
        pg_param_text(p, NULL);
    else
        pg_param_int(p, t);
}

void pg_param_double(struct pg_params *p, double v)
{
    int i = next(p);
    snprintf(p->num[i], sizeof p->num[i], "%.17g", v);
    p->vals[i] = p->num[i];
    p->fmts[i] = 0;
    p->lens[i] = 0;
}

void pg_param_bool(struct pg_params *p, bool v)
{
    pg_param_text(p, v ? "t" : "f");
}

void pg_param_strv(struct pg_params *p, const struct mr_strv *v)
{
    struct mr_strbuf *b = owned(p);
    pg_text_array(b, v);
    pg_param_text(p, b->s);
}

void pg_param_vector(struct pg_params *p, const float *v, size_t dim)
{
    struct mr_strbuf *b = owned(p);
    size_t size = pg_vector_bin_size(dim);
    unsigned char *bin = mr_xmalloc(size);
    pg_vector_bin(v, dim, bin);
    mr_strbuf_add(b, (const char *)bin, size);
    free(bin);
    int i = next(p);
    p->vals[i] = b->s;
    p->lens[i] = (int)size;
    p->fmts[i] = 1;
}

uint32_t pg_lex_arrays(const char *text, struct mr_strbuf *terms, struct mr_strbuf *tfs)
{
    struct mr_lex_terms *t = mr_lex_terms_new(text ? text : "", text ? strlen(text) : 0);
    struct mr_strv v = {0};
    size_t n = mr_lex_terms_count(t);
    mr_strbuf_add(tfs, "{", 1);
    for (size_t i = 0; i < n; i++) {
        size_t wn;
        const char *w = mr_lex_terms_term(t, i, &wn);
        mr_strv_push(&v, w, wn);
        mr_strbuf_printf(tfs, "%s%u", i ? "," : "", (unsigned)mr_lex_terms_tf(t, i));
    }
    mr_strbuf_add(tfs, "}", 1);
    pg_text_array(terms, &v);
    mr_strv_clear(&v);
    uint32_t len = mr_lex_terms_length(t);
    mr_lex_terms_free(t);
    return len;
}

void pg_param_lex(struct pg_params *p, const char *content)
{
    struct mr_strbuf *terms = owned(p), *tfs = owned(p);
    uint32_t len = pg_lex_arrays(content, terms, tfs);
    pg_param_text(p, terms->s);
    pg_param_text(p, tfs->s);
    pg_param_int(p, len);
}

void pg_param_terms(struct pg_params *p, const struct mr_lex_terms *t)
{
    struct mr_strv v = {0};
    for (size_t i = 0, n = t ? mr_lex_terms_count(t) : 0; i < n; i++) {
        size_t wn;
        const char *w = mr_lex_terms_term(t, i, &wn);
        mr_strv_push(&v, w, wn);
    }
    pg_param_strv(p, &v);
    mr_strv_clear(&v);
}

void pg_params_free(struct pg_params *p)
{
    for (int i = 0; i < p->n_owned; i++)
        mr_strbuf_free(&p->owned[i]);
    p->n_owned = 0;
    p->n = 0;
}

PGresult *pg_run(struct mr_store_tx *tx, enum pg_stmt id, struct pg_params *p, const char *what,
                 struct mr_err *err)
{
    return pg_run_as(tx, id, p, PG_TEXT, what, err);
}

PGresult *pg_run_as(struct mr_store_tx *tx, enum pg_stmt id, struct pg_params *p,
                    enum pg_format format, const char *what, struct mr_err *err)
{
    PGconn *pg = pg_tx_conn(tx)->pg;
    char name[16];
    snprintf(name, sizeof name, "m%d", (int)id);
    PGresult *res = PQexecPrepared(pg, name, p->n, p->vals, p->lens, p->fmts, (int)format);
    pg_params_free(p);
    ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
        return res;
    pg_result_error(err, pg, res, what);
    PQclear(res);
    return NULL;
}

/*
 * The results of one statement sent in a pipeline up to the NULL that ends
 * them; false when the Sync's result came instead (the server or libpq
 * gave up on the rest). A bound on the reads, so a connection that broke
 * mid-pipeline can never keep this loop going.
 */
static bool pipeline_skip_to_end(PGconn *pg)
{
    for (int i = 0; i < 16; i++) {
        PGresult *res = PQgetResult(pg);
        if (!res)
            return true;
        bool sync = PQresultStatus(res) == PGRES_PIPELINE_SYNC;
        PQclear(res);
        if (sync)
            return false;
    }
    return false;
}

int pg_run_pipeline(struct mr_store_tx *tx, size_t n, const enum pg_stmt *ids, struct pg_params *p,
                    const enum pg_format *formats, const char *const *what, PGresult **out,
                    struct mr_err *err)
{
    struct pg_tx *t = (struct pg_tx *)tx;
    /* Only before the transaction's first statement: later, PostgreSQL refuses the change. */
    bool snapshot = t->fresh && t->read_only;
    PGconn *pg = pg_tx_conn(tx)->pg;
    size_t first = snapshot ? 1 : 0, sent = 0;
    int rc = 0;
    for (size_t i = 0; i < n; i++)
        out[i] = NULL;
    bool ok = PQenterPipelineMode(pg) == 1;
    if (ok && snapshot)
        ok = PQsendQueryParams(pg, "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ", 0, NULL, NULL,
                               NULL, NULL, 0) == 1;
    if (ok)
        sent = first;
    for (size_t i = 0; ok && i < n; i++) {
        char name[16];
        snprintf(name, sizeof name, "m%d", (int)ids[i]);
        ok = PQsendQueryPrepared(pg, name, p[i].n, p[i].vals, p[i].lens, p[i].fmts,
                                 (int)formats[i]) == 1;
        if (ok)
            sent++;
    }
    for (size_t i = 0; i < n; i++)
        pg_params_free(&p[i]);
    if (!ok) /* libpq refused to send: the connection's own error */
        rc = pg_result_error(err, pg, NULL, what[sent > first ? sent - first : 0]);
    /* What was sent is read to its Sync even after a failure, so the connection stays in step. */
    bool synced = PQpipelineStatus(pg) == PQ_PIPELINE_ON && sent > 0 && PQpipelineSync(pg) == 1;
    for (size_t q = 0; synced && q < sent; q++) {
        const char *name = what[q < first ? 0 : q - first];
        PGresult *res = PQgetResult(pg);
        ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
        if (st == PGRES_PIPELINE_SYNC) {
            synced = false; /* the Sync came early: nothing more to read */
        } else if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
            if (q >= first && rc == 0) {
                out[q - first] = res;
                res = NULL;
            }
        } else if (rc == 0) {
            /* The first failure is the one to report; the rest were aborted because of it. */
            rc = pg_result_error(err, pg, res, name);
        }
        PQclear(res);
        if (synced && !pipeline_skip_to_end(pg))
            synced = false;
    }
    if (synced) {
        PGresult *res = PQgetResult(pg);
        if ((!res || PQresultStatus(res) != PGRES_PIPELINE_SYNC) && rc == 0)
            rc = pg_result_error(err, pg, res, what[0]);
        PQclear(res);
    }
    /* Fails only with results still unread: the connection is then never pooled again (checkin). */
    if (PQpipelineStatus(pg) != PQ_PIPELINE_OFF && PQexitPipelineMode(pg) != 1 && rc == 0)
        rc = pg_result_error(err, pg, NULL, what[0]);
    if (rc)
        for (size_t i = 0; i < n; i++) {
            PQclear(out[i]);
            out[i] = NULL;
        }
    return rc;
}

int pg_run_done(struct mr_store_tx *tx, enum pg_stmt id, struct pg_params *p, const char *what,
                int64_t *out_changed, struct mr_err *err)
{
    PGresult *res = pg_run(tx, id, p, what, err);
    if (!res)
        return err->code;
    if (out_changed)
        *out_changed = strtoll(PQcmdTuples(res), NULL, 10);
    PQclear(res);
    return 0;
}

char *pg_val_dup(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? NULL : mr_xstrdup(PQgetvalue(res, row, col));
}

int64_t pg_val_int(const PGresult *res, int row, int col)
{
    if (PQfformat(res, col) == 0)
        return strtoll(PQgetvalue(res, row, col), NULL, 10);
    /* Binary: an int2, int4 or int8, big-endian two's complement. */
    const unsigned char *b = (const unsigned char *)PQgetvalue(res, row, col);
    int len = PQgetlength(res, row, col);
    if (len != 2 && len != 4 && len != 8)
        return 0;
    uint64_t u = b[0] & 0x80 ? UINT64_MAX : 0;
    for (int i = 0; i < len; i++)
        u = u << 8 | b[i];
    int64_t v;
    memcpy(&v, &u, sizeof v);
    return v;
}

static int64_t val_time(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? MR_NO_TIME : pg_val_int(res, row, col);
}

static bool val_bool(const PGresult *res, int row, int col)
{
    return PQgetvalue(res, row, col)[0] == 't';
}

/* JSONB prints "{\"k\": 1}"; memori returns compact JSON from every store. */
static char *val_json(const PGresult *res, int row, int col)
{
    if (PQgetisnull(res, row, col))
        return mr_xstrdup("{}");
    char *compact = mr_json_compact(PQgetvalue(res, row, col));
    return compact ? compact : mr_xstrdup(PQgetvalue(res, row, col));
}

static void val_uuid(const PGresult *res, int row, int col, char out[MR_UUID_LEN])
{
    snprintf(out, MR_UUID_LEN, "%s", PQgetvalue(res, row, col));
}

int pg_read_memory(const PGresult *res, int row, struct mr_memory *m, struct mr_err *err)
{
    memset(m, 0, sizeof *m);
    m->id = pg_val_int(res, row, 0);
    val_uuid(res, row, 1, m->memory_id);
    val_uuid(res, row, 2, m->conversation_id);
    m->user_id = pg_val_dup(res, row, 3);
    m->tenant_id = pg_val_dup(res, row, 4);
    m->content = pg_val_dup(res, row, 5);
    const char *type = PQgetvalue(res, row, 6);
    if (mr_memory_type_parse(type, strlen(type), &m->memory_type) != 0)
        goto corrupt;
    m->importance_score = strtod(PQgetvalue(res, row, 7), NULL);
    m->access_count = pg_val_int(res, row, 8);
    m->last_accessed_at = val_time(res, row, 9);
    if (pg_parse_text_array(PQgetvalue(res, row, 10), &m->context_tags) != 0 ||
        pg_parse_text_array(PQgetvalue(res, row, 11), &m->related_entities) != 0)
        goto corrupt;
    m->metadata = val_json(res, row, 12);
    m->expires_at = val_time(res, row, 13);
    m->is_archived = val_bool(res, row, 14);
    m->created_at = pg_val_int(res, row, 15);
    m->updated_at = pg_val_int(res, row, 16);
    m->is_shared = val_bool(res, row, 17);
    m->has_data_source_id = !PQgetisnull(res, row, 18);
    m->data_source_id = m->has_data_source_id ? pg_val_int(res, row, 18) : 0;
    if (!PQgetisnull(res, row, 19) &&
        !(m->embedding = pg_parse_vector(PQgetvalue(res, row, 19), &m->dim)))
        goto corrupt;
    if (!m->user_id || !m->tenant_id || !m->content)
        goto corrupt;
    return 0;
corrupt:
    mr_memory_clear(m);
    return mr_err_set(err, MR_EINTERNAL, "database row of memory %s is malformed",
                      PQgetvalue(res, row, 0));
}

void pg_read_conversation(const PGresult *res, int row, struct mr_conversation *c)
{
    memset(c, 0, sizeof *c);
    c->id = pg_val_int(res, row, 0);
    val_uuid(res, row, 1, c->conversation_id);
    c->user_id = pg_val_dup(res, row, 2);
    c->tenant_id = pg_val_dup(res, row, 3);
    c->has_data_source_id = !PQgetisnull(res, row, 4);
    c->data_source_id = c->has_data_source_id ? pg_val_int(res, row, 4) : 0;
    c->title = pg_val_dup(res, row, 5);
    c->metadata = val_json(res, row, 6);
    c->is_active = val_bool(res, row, 7);
    c->last_activity_at = pg_val_int(res, row, 8);
    c->created_at = pg_val_int(res, row, 9);
    c->updated_at = pg_val_int(res, row, 10);
    if (!c->user_id)
        c->user_id = mr_xstrdup("");
    if (!c->tenant_id)
        c->tenant_id = mr_xstrdup("");
}

bool pg_is_uuid(const char *s)
{
    char canon[MR_UUID_LEN];
    return s && mr_uuid_parse(s, strlen(s), canon) == 0;
}
