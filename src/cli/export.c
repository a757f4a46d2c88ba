/*
 * export.c — `memori export` and `memori import` (cli.h): a store as JSON
 * lines and back.
 *
 * The format: a header line {"kind":"memori-export","version":1,
 * "embedding_model":…,"dim":…,"vectors":bool}, then one object a line —
 * every conversation ("kind":"conversation"), then every memory ("memory",
 * examples included), then every memory's history event ("history", its
 * own kind as "event"), then every stored data-source schema ("schema") —
 * each with every stored field, timestamps in the API's ISO 8601 form.
 * Memories carry "embedding" only with --with-vectors.
 *
 * Export pages through the store in id order (EXPORT_PAGE rows a read), so
 * its memory stays bounded whatever the store's size; the whole export is
 * one read transaction, one consistent snapshot. Import keys every record
 * by its UUID: an equal record is left alone ("unchanged"), a different one
 * is rewritten ("updated"), so a re-import changes nothing. An event is
 * keyed by its memory, time, kind and actor (mr_cli_history_find) and keeps
 * its id where the target has it free. A memory added or rewritten gets its
 * dedup key as a create would (mr_dedup_restore_key).
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memori/api.h"
#include "memori/cli.h"
#include "memori/clock.h"
#include "memori/json.h"
#include "memori/service.h"
#include "memori/util.h"

#define EXPORT_PAGE 500
#define MAX_CONTENT_CHARS 10000 /* DESIGN.md §2 */

/* ---------------------------------------------------------------- export */

static const char export_usage[] =
    "usage: memori export [--out FILE|-] [--tenant T] [--user U] [--with-vectors]\n"
    "\n"
    "Writes the configured store (DATABASE_URL) as JSON lines: a header, then every\n"
    "conversation, memory, history event and data-source schema (schemas are the\n"
    "tenant's: left out with --user). --with-vectors adds each memory's embedding (else import "
    "re-embeds).\n";

/*
 * A line is the API's JSON of the row (what GET answers) with its kind, and
 * for a memory its embedding when exported with vectors.
 */
static struct mr_json *conversation_line(const struct mr_conversation *c)
{
    struct mr_json *o = mr_json_object();
    mr_json_set(o, "kind", mr_json_string("conversation")); /* first: a line's kind leads it */
    mr_json_update(o, mr_api_conversation_json(c));
    return o;
}

static struct mr_json *memory_line(const struct mr_memory *m)
{
    struct mr_json *o = mr_json_object();
    mr_json_set(o, "kind", mr_json_string("memory"));
    mr_json_update(o, mr_api_memory_json(m));
    if (m->dim) {
        /* Each float widened to a double prints exactly and reads back to the same float. */
        struct mr_json *v = mr_json_array();
        for (size_t i = 0; i < m->dim; i++)
            mr_json_append(v, mr_json_real((double)m->embedding[i]));
        mr_json_set(o, "embedding", v);
    }
    return o;
}

static struct mr_json *schema_line(const struct mr_source_schema *s)
{
    struct mr_json *o = mr_json_object();
    mr_json_set(o, "kind", mr_json_string("schema"));
    mr_json_set(o, "tenant_id", mr_json_string(s->tenant_id));
    mr_json_set(o, "data_source_id", mr_json_integer(s->data_source_id));
    mr_json_set(o, "dialect", mr_json_string(s->dialect));
    mr_json_set(o, "schema_hash", mr_json_string(s->schema_hash));
    /* The stored text as it is: the schema hash and the diff of a later import read it. */
    mr_json_set(o, "schema_json", mr_json_string(s->schema_json));
    mr_json_set(o, "conversation_id", mr_json_string(s->conversation_id));
    mr_json_set(o, "updated_at", mr_json_time_or_null(s->updated_at));
    return o;
}

/* An event's own kind is "event": "kind" names the line's. */
static struct mr_json *history_line(const struct mr_history_event *e)
{
    struct mr_json *o = mr_json_object();
    mr_json_set(o, "kind", mr_json_string("history"));
    mr_json_set(o, "id", mr_json_integer(e->id));
    mr_json_set(o, "memory_id", mr_json_string(e->memory_id));
    mr_json_set(o, "user_id", mr_json_string(e->user_id));
    mr_json_set(o, "tenant_id", mr_json_string(e->tenant_id));
    mr_json_set(o, "actor", mr_json_string(e->actor));
    mr_json_set(o, "event", mr_json_string(e->kind));
    mr_json_set(o, "created_at", mr_json_time_or_null(e->created_at));
    mr_json_set(o, "changes", mr_json_object_or_empty(e->changes));
    return o;
}

/* Prints o (taken) as one line; -1 when it could not be made or written. */
static int put_line(FILE *f, struct mr_json *o)
{
    char *s = mr_json_print(o, 0);
    mr_json_free(o);
    if (!s)
        return -1;
    int rc = fputs(s, f) < 0 || fputc('\n', f) == EOF ? -1 : 0;
    free(s);
    return rc;
}

struct export_counts {
    long long conversations, memories, events, schemas;
};

static int export_store(struct mr_store_tx *tx, FILE *f, const struct mr_identity *who,
                        bool with_vectors, struct export_counts *n, struct mr_err *err)
{
    int rc = 0;
    int64_t after = 0;
    for (;;) {
        struct mr_conversation *cs = NULL;
        size_t k = 0;
        if ((rc = mr_store_conv_page(tx, who, after, EXPORT_PAGE, &cs, &k, err)) != 0)
            return rc;
        for (size_t i = 0; i < k; i++) {
            if (rc == 0 && put_line(f, conversation_line(&cs[i])) != 0)
                rc = mr_err_set(err, MR_EUNAVAIL, "cannot write the export: %s", strerror(errno));
            after = cs[i].id;
            mr_conversation_clear(&cs[i]);
        }
        free(cs);
        n->conversations += (long long)k;
        if (rc || k < EXPORT_PAGE)
            break;
    }
    for (after = 0; rc == 0;) {
        struct mr_memory *ms = NULL;
        size_t k = 0;
        if ((rc = mr_store_mem_page(tx, who, after, EXPORT_PAGE, with_vectors, &ms, &k, err)) != 0)
            return rc;
        for (size_t i = 0; i < k; i++) {
            if (rc == 0 && put_line(f, memory_line(&ms[i])) != 0)
                rc = mr_err_set(err, MR_EUNAVAIL, "cannot write the export: %s", strerror(errno));
            after = ms[i].id;
            mr_memory_clear(&ms[i]);
        }
        free(ms);
        n->memories += (long long)k;
        if (k < EXPORT_PAGE)
            break;
    }
    for (after = 0; rc == 0;) {
        struct mr_history_event *es = NULL;
        size_t k = 0;
        if ((rc = mr_store_hist_page(tx, who, after, EXPORT_PAGE, &es, &k, err)) != 0)
            return rc;
        for (size_t i = 0; i < k; i++) {
            if (rc == 0 && put_line(f, history_line(&es[i])) != 0)
                rc = mr_err_set(err, MR_EUNAVAIL, "cannot write the export: %s", strerror(errno));
            after = es[i].id;
            mr_history_event_clear(&es[i]);
        }
        free(es);
        n->events += (long long)k;
        if (k < EXPORT_PAGE)
            break;
    }
    /* A data source's schema is the tenant's knowledge, owned by no user. */
    char *after_tenant = NULL;
    int64_t after_ds = 0;
    while (rc == 0 && !(who && who->user_id)) {
        struct mr_source_schema *ss = NULL;
        size_t k = 0;
        rc = mr_store_schema_page(tx, who ? who->tenant_id : NULL, after_tenant, after_ds,
                                  EXPORT_PAGE, &ss, &k, err);
        for (size_t i = 0; i < k; i++) {
            if (rc == 0 && put_line(f, schema_line(&ss[i])) != 0)
                rc = mr_err_set(err, MR_EUNAVAIL, "cannot write the export: %s", strerror(errno));
            free(after_tenant);
            after_tenant = mr_xstrdup(ss[i].tenant_id);
            after_ds = ss[i].data_source_id;
            mr_source_schema_clear(&ss[i]);
        }
        free(ss);
        n->schemas += (long long)k;
        if (k < EXPORT_PAGE)
            break;
    }
    free(after_tenant);
    return rc;
}

int mr_cli_export(int argc, char **argv, mr_cli_open_fn open, void *arg)
{
    const char *out_path = "-", *tenant = NULL, *user = NULL;
    bool with_vectors = false;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--with-vectors") == 0) {
            with_vectors = true;
            continue;
        }
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            fputs(export_usage, stdout);
            return 0;
        }
        const char **slot = strcmp(argv[i], "--out") == 0      ? &out_path
                            : strcmp(argv[i], "--tenant") == 0 ? &tenant
                            : strcmp(argv[i], "--user") == 0   ? &user
                                                               : NULL;
        if (!slot) {
            fprintf(stderr, "memori export: unknown option %s\n%s", argv[i], export_usage);
            return 2;
        }
        if (i + 1 >= argc || !*argv[i + 1]) {
            fprintf(stderr, "memori export: %s needs a value\n", argv[i]);
            return 2;
        }
        *slot = argv[++i];
    }
    struct mr_cli_parts parts = {0};
    int rc = open(arg, false, &parts);
    if (rc)
        return rc;
    struct mr_err err = {0};
    struct mr_store_tx *tx = NULL;
    char *model = NULL;
    size_t dim = 0;
    FILE *f = NULL;
    struct export_counts n = {0};
    if (mr_store_begin(parts.store, MR_TX_READ, &tx, &err) != 0 ||
        mr_store_model_get(tx, &model, &dim, &err) != 0) {
        fprintf(stderr, "memori export: %s\n", err.msg);
        rc = 1;
        goto out;
    }
    f = strcmp(out_path, "-") == 0 ? stdout : fopen(out_path, "w");
    if (!f) {
        fprintf(stderr, "memori export: cannot write %s: %s\n", out_path, strerror(errno));
        rc = 2;
        goto out;
    }
    struct mr_json *h = mr_json_object();
    mr_json_set(h, "kind", mr_json_string(MR_EXPORT_KIND));
    mr_json_set(h, "version", mr_json_integer(MR_EXPORT_VERSION));
    mr_json_set(h, "embedding_model", model ? mr_json_string(model) : mr_json_null());
    mr_json_set(h, "dim", mr_json_integer((int64_t)dim));
    mr_json_set(h, "vectors", mr_json_bool(with_vectors));
    struct mr_identity who = {user, tenant};
    if (put_line(f, h) != 0)
        rc = mr_err_set(&err, MR_EUNAVAIL, "cannot write the export: %s", strerror(errno));
    else
        rc = export_store(tx, f, tenant || user ? &who : NULL, with_vectors, &n, &err);
    if (rc == 0 && fflush(f) != 0)
        rc = mr_err_set(&err, MR_EUNAVAIL, "cannot write the export: %s", strerror(errno));
    if (rc) {
        fprintf(stderr, "memori export: %s\n", err.msg);
        rc = 1;
    } else {
        fprintf(stderr,
                "memori export: %lld conversations, %lld memories, %lld history events, %lld "
                "schemas%s written to %s\n",
                n.conversations, n.memories, n.events, n.schemas,
                with_vectors ? " (with vectors)" : "",
                strcmp(out_path, "-") == 0 ? "standard output" : out_path);
    }
out:
    if (f && f != stdout && fclose(f) != 0 && rc == 0) {
        fprintf(stderr, "memori export: cannot write %s: %s\n", out_path, strerror(errno));
        rc = 1;
    }
    if (tx)
        mr_store_rollback(tx);
    free(model);
    return rc;
}

/* ---------------------------------------------------------------- import */

static const char import_usage[] =
    "usage: memori import [--in FILE|-] [--keep-going] [--reembed]\n"
    "\n"
    "Reads `memori export` lines into the configured store (DATABASE_URL). A record\n"
    "whose UUID exists is left alone when equal, rewritten when different. Memories\n"
    "without vectors are embedded with the configured model; vectors of another model\n"
    "are refused unless --reembed (which embeds every memory anew). A malformed line\n"
    "stops the import (exit 2) unless --keep-going.\n";

enum rec_kind { REC_CONV, REC_MEM, REC_HIST, REC_SCHEMA, REC_KINDS };
static const char *const kind_names[REC_KINDS] = {"conversations", "memories", "history",
                                                  "schemas"};
enum { C_ADDED, C_UPDATED, C_UNCHANGED, C_FAILED, C_COUNT };

struct rec {
    enum rec_kind kind;
    long line;
    struct mr_conversation conv;
    struct mr_memory mem;
    struct mr_source_schema schema;
    struct mr_history_event hist;
    bool has_vector;
};

static void rec_clear(struct rec *r)
{
    mr_conversation_clear(&r->conv);
    mr_memory_clear(&r->mem);
    mr_source_schema_clear(&r->schema);
    mr_history_event_clear(&r->hist);
    memset(r, 0, sizeof *r);
}

struct importer {
    struct mr_cli_parts parts;
    bool keep_going, reembed;
    bool file_vectors; /* the header says its memories carry vectors */
    char *file_model;  /* the header's model (NULL: none) */
    size_t file_dim;
    size_t batch; /* EMBEDDING_BATCH_SIZE */
    struct rec *pending;
    size_t n_pending;
    long long counts[REC_KINDS][C_COUNT];
    bool stopped;         /* a line failed without --keep-going */
    long long unreadable; /* lines failed before their kind was known */
};

/* A field's reason to refuse its line, written into why (cap bytes). */
static int bad(char *why, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, cap, fmt, ap);
    va_end(ap);
    return -1;
}

#define WHY why, WHY_CAP
#define WHY_CAP 256

static int get_text(const struct mr_json *o, const char *key, bool required, char **out, char *why)
{
    const struct mr_json *v = mr_json_get(o, key);
    *out = NULL;
    if (!v || mr_json_is_null(v))
        return required ? bad(WHY, "\"%s\" is missing", key) : 0;
    if (!mr_json_is_string(v))
        return bad(WHY, "\"%s\" must be a string", key);
    *out = mr_xstrdup(mr_json_string_value(v));
    return 0;
}

static int get_uuid(const struct mr_json *o, const char *key, char out[MR_UUID_LEN], char *why)
{
    const struct mr_json *v = mr_json_get(o, key);
    if (!mr_json_is_string(v) ||
        mr_uuid_parse(mr_json_string_value(v), mr_json_string_length(v), out) != 0)
        return bad(WHY, "\"%s\" must be a UUID", key);
    return 0;
}

/* An ISO 8601 time; null (or absent, when not required) is MR_NO_TIME. */
static int get_time(const struct mr_json *o, const char *key, bool required, int64_t *out,
                    char *why)
{
    const struct mr_json *v = mr_json_get(o, key);
    *out = MR_NO_TIME;
    if (!v || mr_json_is_null(v))
        return required ? bad(WHY, "\"%s\" is missing", key) : 0;
    if (!mr_json_is_string(v) ||
        mr_time_parse(mr_json_string_value(v), mr_json_string_length(v), out) != 0)
        return bad(WHY, "\"%s\" must be an ISO 8601 time", key);
    return 0;
}

static int get_int(const struct mr_json *o, const char *key, int64_t dflt, int64_t lo, int64_t *out,
                   char *why)
{
    const struct mr_json *v = mr_json_get(o, key);
    *out = dflt;
    if (!v || mr_json_is_null(v))
        return 0;
    if (!mr_json_is_integer(v) || mr_json_integer_value(v) < lo)
        return bad(WHY, "\"%s\" must be an integer of at least %lld", key, (long long)lo);
    *out = mr_json_integer_value(v);
    return 0;
}

/* An optional id: null or absent leaves *has false. */
static int get_opt_id(const struct mr_json *o, const char *key, bool *has, int64_t *out, char *why)
{
    const struct mr_json *v = mr_json_get(o, key);
    *has = false;
    *out = 0;
    if (!v || mr_json_is_null(v))
        return 0;
    if (!mr_json_is_integer(v) || mr_json_integer_value(v) < 1)
        return bad(WHY, "\"%s\" must be a positive integer or null", key);
    *has = true;
    *out = mr_json_integer_value(v);
    return 0;
}

static int get_bool(const struct mr_json *o, const char *key, bool dflt, bool *out, char *why)
{
    const struct mr_json *v = mr_json_get(o, key);
    *out = dflt;
    if (!v || mr_json_is_null(v))
        return 0;
    if (!mr_json_is_bool(v))
        return bad(WHY, "\"%s\" must be true or false", key);
    *out = mr_json_is_true(v);
    return 0;
}

static int get_strv(const struct mr_json *o, const char *key, struct mr_strv *out, char *why)
{
    const struct mr_json *v = mr_json_get(o, key);
    if (!v || mr_json_is_null(v))
        return 0;
    if (!mr_json_is_array(v))
        return bad(WHY, "\"%s\" must be an array of strings", key);
    for (size_t i = 0; i < mr_json_size(v); i++) {
        const struct mr_json *s = mr_json_at(v, i);
        if (!mr_json_is_string(s))
            return bad(WHY, "\"%s\" must be an array of strings", key);
        mr_strv_push(out, mr_json_string_value(s), mr_json_string_length(s));
    }
    return 0;
}

/* A JSON object, kept as its compact text ({} when absent). */
static int get_object(const struct mr_json *o, const char *key, char **out, char *why)
{
    const struct mr_json *v = mr_json_get(o, key);
    *out = NULL;
    if (v && !mr_json_is_null(v) && !mr_json_is_object(v))
        return bad(WHY, "\"%s\" must be an object", key);
    *out = v && mr_json_is_object(v) ? mr_json_print(v, 0) : mr_xstrdup("{}");
    return 0;
}

static int parse_conversation(const struct mr_json *o, struct mr_conversation *c, char *why)
{
    int64_t id = 0;
    if (get_uuid(o, "conversation_id", c->conversation_id, why) ||
        get_text(o, "user_id", true, &c->user_id, why) ||
        get_text(o, "tenant_id", true, &c->tenant_id, why) ||
        get_opt_id(o, "data_source_id", &c->has_data_source_id, &c->data_source_id, why) ||
        get_text(o, "title", false, &c->title, why) ||
        get_object(o, "metadata", &c->metadata, why) ||
        get_bool(o, "is_active", true, &c->is_active, why) ||
        get_time(o, "created_at", true, &c->created_at, why) ||
        get_time(o, "updated_at", true, &c->updated_at, why) ||
        get_time(o, "last_activity_at", true, &c->last_activity_at, why) ||
        get_int(o, "id", 0, 0, &id, why))
        return -1;
    c->id = id;
    return 0;
}

static int parse_memory(struct importer *im, const struct mr_json *o, struct rec *r, char *why)
{
    struct mr_memory *m = &r->mem;
    char *type = NULL;
    double imp = 0.5;
    const struct mr_json *iv = mr_json_get(o, "importance_score");
    int rc = -1;
    if (get_uuid(o, "memory_id", m->memory_id, why) ||
        get_uuid(o, "conversation_id", m->conversation_id, why) ||
        get_text(o, "user_id", true, &m->user_id, why) ||
        get_text(o, "tenant_id", true, &m->tenant_id, why) ||
        get_text(o, "content", true, &m->content, why) ||
        get_text(o, "memory_type", true, &type, why))
        goto out;
    size_t chars = mr_utf8_len(m->content, strlen(m->content));
    if (chars < 1 || chars > MAX_CONTENT_CHARS) {
        bad(WHY, "\"content\" must be 1 to %d characters", MAX_CONTENT_CHARS);
        goto out;
    }
    if (mr_memory_type_parse(type, strlen(type), &m->memory_type) != 0) {
        bad(WHY, "\"memory_type\" '%s' is not a memory type", type);
        goto out;
    }
    if (iv && !mr_json_is_null(iv)) {
        imp = mr_json_number_value(iv);
        if (!mr_json_is_number(iv) || !(imp >= 0 && imp <= 1)) {
            bad(WHY, "\"importance_score\" must be a number from 0 to 1");
            goto out;
        }
    }
    m->importance_score = imp;
    if (get_int(o, "access_count", 0, 0, &m->access_count, why) ||
        get_time(o, "last_accessed_at", false, &m->last_accessed_at, why) ||
        get_strv(o, "context_tags", &m->context_tags, why) ||
        get_strv(o, "related_entities", &m->related_entities, why) ||
        get_object(o, "metadata", &m->metadata, why) ||
        get_time(o, "expires_at", false, &m->expires_at, why) ||
        get_bool(o, "is_archived", false, &m->is_archived, why) ||
        get_bool(o, "shared", false, &m->is_shared, why) ||
        get_opt_id(o, "data_source_id", &m->has_data_source_id, &m->data_source_id, why) ||
        get_time(o, "created_at", true, &m->created_at, why) ||
        get_time(o, "updated_at", true, &m->updated_at, why) || get_int(o, "id", 0, 0, &m->id, why))
        goto out;
    const struct mr_json *e = mr_json_get(o, "embedding");
    if (e && !mr_json_is_null(e)) {
        if (!im->file_model) {
            bad(WHY, "\"embedding\" without a header line naming its model");
            goto out;
        }
        if (!mr_json_is_array(e) || mr_json_size(e) != im->file_dim) {
            bad(WHY, "\"embedding\" must be an array of %zu numbers (the header's dim)",
                im->file_dim);
            goto out;
        }
        if (!im->reembed) { /* --reembed: the file's vectors are dropped for new ones */
            m->dim = im->file_dim;
            m->embedding = mr_xmalloc(m->dim * sizeof *m->embedding);
            for (size_t i = 0; i < m->dim; i++) {
                const struct mr_json *x = mr_json_at(e, i);
                double d = mr_json_number_value(x);
                if (!mr_json_is_number(x) || !isfinite(d)) {
                    bad(WHY, "\"embedding\" item %zu is not a finite number", i);
                    goto out;
                }
                m->embedding[i] = (float)d;
            }
            r->has_vector = true;
        }
    }
    rc = 0;
out:
    free(type);
    return rc;
}

static int parse_schema(const struct mr_json *o, struct mr_source_schema *s, char *why)
{
    int64_t ds = 0;
    if (get_text(o, "tenant_id", true, &s->tenant_id, why) ||
        get_int(o, "data_source_id", 0, 1, &ds, why) ||
        get_text(o, "dialect", true, &s->dialect, why) ||
        get_text(o, "schema_hash", true, &s->schema_hash, why) ||
        get_text(o, "schema_json", true, &s->schema_json, why) ||
        get_uuid(o, "conversation_id", s->conversation_id, why) ||
        get_time(o, "updated_at", true, &s->updated_at, why))
        return -1;
    if (ds < 1)
        return bad(WHY, "\"data_source_id\" is missing");
    s->data_source_id = ds;
    return 0;
}

static int parse_history(const struct mr_json *o, struct mr_history_event *e, char *why)
{
    if (get_int(o, "id", 0, 0, &e->id, why) || get_uuid(o, "memory_id", e->memory_id, why) ||
        get_text(o, "user_id", true, &e->user_id, why) ||
        get_text(o, "tenant_id", true, &e->tenant_id, why) ||
        get_text(o, "actor", true, &e->actor, why) || get_text(o, "event", true, &e->kind, why) ||
        get_time(o, "created_at", true, &e->created_at, why) ||
        get_object(o, "changes", &e->changes, why))
        return -1;
    return 0;
}

/* Metadata texts compared as JSON (PostgreSQL's JSONB prints its own way). */
static bool same_json(const char *a, const char *b)
{
    char *ca = mr_json_compact(a ? a : "{}"), *cb = mr_json_compact(b ? b : "{}");
    bool same = ca && cb && strcmp(ca, cb) == 0;
    free(ca);
    free(cb);
    return same;
}

static bool same_text(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static bool same_conversation(const struct mr_conversation *a, const struct mr_conversation *b)
{
    return same_text(a->user_id, b->user_id) && same_text(a->tenant_id, b->tenant_id) &&
           a->has_data_source_id == b->has_data_source_id &&
           (!a->has_data_source_id || a->data_source_id == b->data_source_id) &&
           same_text(a->title, b->title) && same_json(a->metadata, b->metadata) &&
           a->is_active == b->is_active && a->last_activity_at == b->last_activity_at &&
           a->created_at == b->created_at && a->updated_at == b->updated_at;
}

/* Everything but the vector, which the caller compares when the file has one. */
static bool same_memory(const struct mr_memory *a, const struct mr_memory *b)
{
    return strcmp(a->conversation_id, b->conversation_id) == 0 &&
           same_text(a->user_id, b->user_id) && same_text(a->tenant_id, b->tenant_id) &&
           same_text(a->content, b->content) && a->memory_type == b->memory_type &&
           a->importance_score == b->importance_score && a->access_count == b->access_count &&
           a->last_accessed_at == b->last_accessed_at &&
           mr_strv_equal(&a->context_tags, &b->context_tags) &&
           mr_strv_equal(&a->related_entities, &b->related_entities) &&
           same_json(a->metadata, b->metadata) && a->expires_at == b->expires_at &&
           a->is_archived == b->is_archived && a->is_shared == b->is_shared &&
           a->has_data_source_id == b->has_data_source_id &&
           (!a->has_data_source_id || a->data_source_id == b->data_source_id) &&
           a->created_at == b->created_at && a->updated_at == b->updated_at;
}

static bool same_schema(const struct mr_source_schema *a, const struct mr_source_schema *b)
{
    return same_text(a->dialect, b->dialect) && same_text(a->schema_hash, b->schema_hash) &&
           same_text(a->schema_json, b->schema_json) &&
           strcmp(a->conversation_id, b->conversation_id) == 0 && a->updated_at == b->updated_at;
}

/* What a record does to the store, decided before anything is written. */
enum action { A_ADD, A_UPDATE, A_UNCHANGED };

/*
 * Writes recs[0..n) in tx: each looked up by UUID, the memories that need
 * a vector embedded in one batch, then each added or updated. counts[i] is
 * recs[i]'s counter; *out_bad the record that failed (its reason in err).
 */
static int write_recs(struct importer *im, struct mr_store_tx *tx, struct rec *recs, size_t n,
                      int *counts, size_t *out_bad, struct mr_err *err)
{
    enum action *act = mr_xcalloc(n + 1, sizeof *act);
    int64_t *row_id = mr_xcalloc(n + 1, sizeof *row_id);
    const char **texts = mr_xcalloc(n + 1, sizeof *texts);
    size_t *lens = mr_xcalloc(n + 1, sizeof *lens), n_texts = 0;
    size_t *which = mr_xcalloc(n + 1, sizeof *which);
    size_t dim = mr_embed_dim(im->parts.embedder);
    float *vecs = NULL;
    int rc = 0;
    size_t i = 0;
    for (; i < n && rc == 0; i++) {
        struct rec *r = &recs[i];
        act[i] = A_ADD;
        if (r->kind == REC_CONV) {
            struct mr_conversation have;
            rc = mr_store_conv_get(tx, r->conv.conversation_id, &have, err);
            if (rc == 0) {
                act[i] = same_conversation(&have, &r->conv) ? A_UNCHANGED : A_UPDATE;
                row_id[i] = have.id;
            }
            mr_conversation_clear(&have);
        } else if (r->kind == REC_MEM) {
            struct mr_memory have;
            struct mr_conversation conv;
            rc = mr_store_mem_get(tx, r->mem.memory_id, &have, err);
            if (rc == 0) {
                bool same = same_memory(&have, &r->mem) &&
                            (!r->has_vector || (have.dim == r->mem.dim &&
                                                memcmp(have.embedding, r->mem.embedding,
                                                       have.dim * sizeof *have.embedding) == 0));
                act[i] = same ? A_UNCHANGED : A_UPDATE;
                row_id[i] = have.id;
                /* A changed text needs its vector anew, as a PATCH of content does. */
                if (act[i] == A_UPDATE && !r->has_vector &&
                    !same_text(have.content, r->mem.content))
                    which[n_texts++] = i;
                else if (act[i] == A_UPDATE && !r->has_vector && im->reembed)
                    which[n_texts++] = i;
            } else if (rc == MR_ENOTFOUND) {
                /* Checked here: a row without its conversation would abort the whole batch. */
                rc = mr_store_conv_get(tx, r->mem.conversation_id, &conv, err);
                for (size_t j = 0; rc == MR_ENOTFOUND && j < i; j++)
                    if (recs[j].kind == REC_CONV &&
                        strcmp(recs[j].conv.conversation_id, r->mem.conversation_id) == 0)
                        rc = 0; /* added by this batch, before this line */
                if (rc == MR_ENOTFOUND)
                    rc = mr_err_set(err, MR_EVALIDATION,
                                    "conversation %s is neither in the file before this line nor "
                                    "in the database",
                                    r->mem.conversation_id);
                mr_conversation_clear(&conv);
                if (rc == 0 && !r->has_vector)
                    which[n_texts++] = i;
            }
            mr_memory_clear(&have);
        } else if (r->kind == REC_HIST) {
            /* Events are never rewritten: one like it is this one, copied before. */
            rc = mr_cli_history_find(tx, &r->hist, err);
            if (rc == 0)
                act[i] = A_UNCHANGED;
        } else {
            struct mr_source_schema have;
            rc = mr_store_schema_get(tx, r->schema.tenant_id, r->schema.data_source_id, &have, err);
            if (rc == 0)
                act[i] = same_schema(&have, &r->schema) ? A_UNCHANGED : A_UPDATE;
            mr_source_schema_clear(&have);
        }
        if (rc == MR_ENOTFOUND)
            rc = 0;
    }
    if (rc) {
        *out_bad = i - 1;
        goto out;
    }
    if (n_texts) {
        for (size_t t = 0; t < n_texts; t++) {
            texts[t] = recs[which[t]].mem.content;
            lens[t] = strlen(texts[t]);
        }
        vecs = mr_xmalloc(n_texts * dim * sizeof *vecs);
        if ((rc = mr_embed_batch(im->parts.embedder, texts, lens, n_texts, vecs, err)) != 0) {
            *out_bad = (size_t)-1; /* the provider's failure, not a line's */
            goto out;
        }
        for (size_t t = 0; t < n_texts; t++) {
            struct mr_memory *m = &recs[which[t]].mem;
            free(m->embedding);
            m->embedding = mr_xmalloc(dim * sizeof *m->embedding);
            memcpy(m->embedding, vecs + t * dim, dim * sizeof *m->embedding);
            m->dim = dim;
        }
    }
    for (i = 0; i < n && rc == 0; i++) {
        struct rec *r = &recs[i];
        counts[i] = act[i] == A_ADD ? C_ADDED : act[i] == A_UPDATE ? C_UPDATED : C_UNCHANGED;
        if (act[i] == A_UNCHANGED)
            continue;
        if (r->kind == REC_CONV) {
            if (act[i] == A_ADD)
                rc = mr_store_conv_restore(tx, &r->conv, err);
            else
                rc = mr_store_conv_update(tx, &r->conv, err);
        } else if (r->kind == REC_MEM) {
            if (act[i] == A_ADD) {
                rc = mr_store_mem_restore(tx, &r->mem, err);
            } else {
                r->mem.id = row_id[i];
                rc = mr_store_mem_update(tx, &r->mem, r->mem.dim > 0, err);
            }
            /* Its content's key, so a create of it here is answered as a duplicate. */
            if (rc == 0)
                rc = mr_dedup_restore_key(tx, &r->mem, err);
        } else if (r->kind == REC_HIST) {
            rc = mr_store_hist_restore(tx, &r->hist, err);
        } else {
            rc = mr_store_schema_put(tx, &r->schema, err);
        }
        if (rc)
            *out_bad = i;
    }
out:
    free(act);
    free(row_id);
    free(texts);
    free(lens);
    free(which);
    free(vecs);
    return rc;
}

/* A line that cannot be stored: said on stderr; stops the import unless --keep-going. */
static void line_failed(struct importer *im, const struct rec *r, long line, enum rec_kind kind,
                        const char *why)
{
    fprintf(stderr, "memori import: line %ld: %s%s\n", r ? r->line : line, why,
            im->keep_going ? " (skipped)" : "");
    if (kind == REC_KINDS)
        im->unreadable++;
    else
        im->counts[kind][C_FAILED]++;
    if (!im->keep_going)
        im->stopped = true;
}

/* Writes the pending records: one transaction, or one a record when one of them fails. */
static int flush(struct importer *im)
{
    struct mr_err err = {0};
    size_t n = im->n_pending, bad_at = 0;
    int *counts = mr_xcalloc(n + 1, sizeof *counts);
    int rc = 0;
    struct mr_store_tx *tx = NULL;
    /* Stopped at a bad line: the lines before it are still written. */
    bool was_stopped = im->stopped;
    im->stopped = false;
    if (n == 0)
        goto out;
    rc = mr_store_begin(im->parts.store, MR_TX_WRITE, &tx, &err);
    if (rc == 0)
        rc = write_recs(im, tx, im->pending, n, counts, &bad_at, &err);
    if (rc == 0) {
        rc = mr_store_commit(tx, &err);
        tx = NULL;
        if (rc == 0)
            for (size_t i = 0; i < n; i++)
                im->counts[im->pending[i].kind][counts[i]]++;
    } else if (tx) {
        mr_store_rollback(tx);
        tx = NULL;
    }
    if (rc && bad_at != (size_t)-1 &&
        (rc == MR_EVALIDATION || rc == MR_ECONFLICT || rc == MR_EINVAL || rc == MR_ENOTFOUND) &&
        n > 1) {
        /* One record refused: the others are written alone, so only that line is lost. */
        rc = 0;
        for (size_t i = 0; i < n && rc == 0 && !im->stopped; i++) {
            int one = 0;
            size_t b = 0;
            rc = mr_store_begin(im->parts.store, MR_TX_WRITE, &tx, &err);
            if (rc == 0 && (rc = write_recs(im, tx, &im->pending[i], 1, &one, &b, &err)) == 0) {
                rc = mr_store_commit(tx, &err);
                if (rc == 0)
                    im->counts[im->pending[i].kind][one]++;
            } else if (rc) {
                if (tx)
                    mr_store_rollback(tx);
                if (b != (size_t)-1 && rc != MR_EUNAVAIL && rc != MR_EBUSY) {
                    line_failed(im, &im->pending[i], 0, im->pending[i].kind, err.msg);
                    rc = 0;
                }
            }
            tx = NULL;
        }
    } else if (rc && bad_at != (size_t)-1 && rc != MR_EUNAVAIL && rc != MR_EBUSY) {
        line_failed(im, &im->pending[bad_at], 0, im->pending[bad_at].kind, err.msg);
        rc = 0;
    }
    if (rc)
        fprintf(stderr, "memori import: %s\n", err.msg);
out:
    im->stopped = im->stopped || was_stopped;
    for (size_t i = 0; i < n; i++)
        rec_clear(&im->pending[i]);
    im->n_pending = 0;
    free(counts);
    return rc ? 1 : 0;
}

/* The header line: the file's model, dim and whether its memories carry vectors. */
static int read_header(struct importer *im, const struct mr_json *o, char *why)
{
    const struct mr_json *v = mr_json_get(o, "version");
    if (!mr_json_is_integer(v) || mr_json_integer_value(v) != MR_EXPORT_VERSION)
        return bad(WHY, "the header's version must be %d", MR_EXPORT_VERSION);
    int64_t dim = 0;
    if (get_text(o, "embedding_model", false, &im->file_model, why) ||
        get_int(o, "dim", 0, 0, &dim, why) || get_bool(o, "vectors", false, &im->file_vectors, why))
        return -1;
    im->file_dim = (size_t)dim;
    return 0;
}

/* Refuses vectors of another model than the configured one, before anything is stored. */
static int check_vectors(struct importer *im)
{
    if (!im->file_vectors || im->reembed)
        return 0;
    const char *model = mr_embed_name(im->parts.embedder);
    size_t dim = mr_embed_dim(im->parts.embedder);
    if (im->file_model && strcmp(im->file_model, model) == 0 && im->file_dim == dim)
        return 0;
    fprintf(stderr,
            "memori import: the file's vectors are from model %s (dimension %zu), but this "
            "database uses %s (dimension %zu); import with --reembed to embed them with %s, "
            "or set MEMORI_EMBEDDING_MODEL to the file's model\n",
            im->file_model ? im->file_model : "(none named)", im->file_dim, model, dim, model);
    return 2;
}

int mr_cli_import(int argc, char **argv, mr_cli_open_fn open, void *arg)
{
    const char *in_path = "-";
    struct importer im = {0};
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--keep-going") == 0)
            im.keep_going = true;
        else if (strcmp(argv[i], "--reembed") == 0)
            im.reembed = true;
        else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            fputs(import_usage, stdout);
            return 0;
        } else if (strcmp(argv[i], "--in") == 0 && i + 1 < argc && *argv[i + 1])
            in_path = argv[++i];
        else {
            fprintf(stderr, "memori import: %s %s\n%s", argv[i],
                    strcmp(argv[i], "--in") == 0 ? "needs a value" : "is not an option",
                    import_usage);
            return 2;
        }
    }
    FILE *f = strcmp(in_path, "-") == 0 ? stdin : fopen(in_path, "r");
    if (!f) {
        fprintf(stderr, "memori import: cannot read %s: %s\n", in_path, strerror(errno));
        return 2;
    }
    int rc = open(arg, true, &im.parts);
    if (rc) {
        if (f != stdin)
            fclose(f);
        return rc;
    }
    im.batch =
        im.parts.cfg->embedding_batch_size > 0 ? (size_t)im.parts.cfg->embedding_batch_size : 100;
    im.pending = mr_xcalloc(im.batch, sizeof *im.pending);
    char *line = NULL, why[WHY_CAP];
    size_t cap = 0;
    ssize_t len;
    long line_no = 0;
    while (rc == 0 && !im.stopped && (len = getline(&line, &cap, f)) >= 0) {
        line_no++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (len == 0)
            continue;
        struct mr_json_error jerr;
        struct mr_json *o = mr_json_parse(line, (size_t)len, &jerr);
        const char *kind = mr_json_string_value(mr_json_get(o, "kind"));
        struct rec *r = &im.pending[im.n_pending];
        enum rec_kind rk = REC_KINDS; /* a line of no known kind */
        int bad_line = 0;
        memset(r, 0, sizeof *r);
        r->line = line_no;
        if (!o) {
            bad_line = bad(WHY, "not JSON: %s (at byte %zu)", jerr.text, jerr.position);
        } else if (!mr_json_is_object(o)) {
            bad_line = bad(WHY, "not a JSON object");
        } else if (!kind) {
            bad_line = bad(WHY, "\"kind\" is missing");
        } else if (strcmp(kind, MR_EXPORT_KIND) == 0) {
            if (line_no != 1 || im.n_pending) {
                mr_json_free(o);
                line_failed(&im, NULL, line_no, REC_KINDS, "a header line must be the first line");
                continue;
            }
            if ((bad_line = read_header(&im, o, why)) == 0 && (rc = check_vectors(&im)))
                bad_line = 0;
            mr_json_free(o);
            if (bad_line) {
                /* Without its header nothing after can be read right: always fatal. */
                fprintf(stderr, "memori import: line %ld: %s\n", line_no, why);
                rc = 2;
            }
            continue;
        } else if (strcmp(kind, "conversation") == 0) {
            rk = REC_CONV;
            bad_line = parse_conversation(o, &r->conv, why);
        } else if (strcmp(kind, "memory") == 0) {
            rk = REC_MEM;
            bad_line = parse_memory(&im, o, r, why);
        } else if (strcmp(kind, "history") == 0) {
            rk = REC_HIST;
            bad_line = parse_history(o, &r->hist, why);
        } else if (strcmp(kind, "schema") == 0) {
            rk = REC_SCHEMA;
            bad_line = parse_schema(o, &r->schema, why);
        } else {
            bad_line = bad(WHY, "unknown kind '%s'", kind);
        }
        mr_json_free(o);
        r->kind = rk;
        if (bad_line) {
            line_failed(&im, NULL, line_no, rk, why);
            rec_clear(r);
            continue;
        }
        if (++im.n_pending == im.batch)
            rc = flush(&im);
    }
    if (rc == 0 && !im.stopped && ferror(f)) {
        fprintf(stderr, "memori import: cannot read %s: %s\n", in_path, strerror(errno));
        rc = 1;
    }
    if (rc == 0)
        rc = flush(&im);
    else
        for (size_t i = 0; i < im.n_pending; i++)
            rec_clear(&im.pending[i]);
    for (int k = 0; k < REC_KINDS; k++)
        printf("%s: added %lld, updated %lld, unchanged %lld, failed %lld\n", kind_names[k],
               im.counts[k][C_ADDED], im.counts[k][C_UPDATED], im.counts[k][C_UNCHANGED],
               im.counts[k][C_FAILED]);
    if (im.unreadable)
        printf("unreadable lines: %lld\n", im.unreadable);
    if (rc == 0 && im.stopped) {
        fprintf(stderr, "memori import: stopped at the first bad line (--keep-going skips bad "
                        "lines); the lines before it are stored\n");
        rc = 2;
    } else if (rc == 0 &&
               (im.counts[REC_CONV][C_FAILED] || im.counts[REC_MEM][C_FAILED] ||
                im.counts[REC_HIST][C_FAILED] || im.counts[REC_SCHEMA][C_FAILED] || im.unreadable))
        rc = 1; /* --keep-going: done, but not everything is in */
    free(line);
    free(im.pending);
    free(im.file_model);
    if (f != stdin)
        fclose(f);
    return rc;
}
