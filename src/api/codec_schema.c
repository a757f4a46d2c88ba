/*
 * codec_schema.c — the bodies of the data-source endpoints (DESIGN.md §9):
 * a schema as DDL or JSON tables into a parsed struct mr_sql_schema, the
 * import summary out, and the example body in and out. Errors answer like
 * the rest of the API: 422 {"detail": [{"type", "loc", "msg", "input"}]},
 * here with the SQL module's position ("line", "column") and the name it
 * found wrong ("name"); 413 {"detail": msg} for a limit.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "fields.h"
#include "memori/sql.h"
#include "memori/util.h"

static char *dump(struct mr_json *j)
{
    char *s = mr_json_print(j, 15);
    mr_json_free(j);
    return s ? s : mr_xstrdup("{\"detail\":\"response encoding failed\"}");
}

/* A one-item 422 body: loc ["body", field (, index)]. */
static char *error_body(const char *field, long index, const char *type, const char *msg,
                        const struct mr_sql_diag *diag)
{
    struct mr_json *loc = mr_json_array();
    mr_json_append(loc, mr_json_string("body"));
    if (field)
        mr_json_append(loc, mr_json_string(field));
    if (index >= 0)
        mr_json_append(loc, mr_json_integer(index));
    struct mr_json *e = mr_json_with(mr_json_object(), "type", mr_json_string(type));
    e = mr_json_with(e, "loc", loc);
    e = mr_json_with(e, "msg", mr_json_string(msg));
    mr_json_set(e, "input", mr_json_null());
    if (diag && diag->line > 0) {
        mr_json_set(e, "line", mr_json_integer(diag->line));
        mr_json_set(e, "column", mr_json_integer(diag->column));
    }
    if (diag && diag->name[0])
        mr_json_set(e, "name", mr_json_string(diag->name));
    struct mr_json *items = mr_json_array();
    mr_json_append(items, e);
    return dump(mr_json_with(mr_json_object(), "detail", items));
}

static const char *diag_type(enum mr_sql_diag_kind k)
{
    switch (k) {
    case MR_SQL_DIAG_SYNTAX:
        return "sql_syntax";
    case MR_SQL_DIAG_DIALECT:
        return "sql_dialect";
    case MR_SQL_DIAG_DUPLICATE_TABLE:
        return "sql_duplicate_table";
    case MR_SQL_DIAG_DUPLICATE_COLUMN:
        return "sql_duplicate_column";
    case MR_SQL_DIAG_UNKNOWN_TABLE:
        return "sql_unknown_table";
    case MR_SQL_DIAG_UNKNOWN_COLUMN:
        return "sql_unknown_column";
    case MR_SQL_DIAG_BAD_KEY:
        return "sql_bad_key";
    case MR_SQL_DIAG_BAD_NAME:
        return "sql_bad_name";
    case MR_SQL_DIAG_STATEMENT:
        return "sql_statement";
    default:
        return "sql_invalid";
    }
}

int api_sql_error(const struct mr_err *err, const struct mr_sql_diag *diag, const char *field,
                  int *out_status, char **out_body)
{
    if (err->code == MR_ETOOLARGE) {
        *out_status = 413;
        *out_body = dump(mr_json_with(mr_json_object(), "detail", mr_json_string(err->msg)));
    } else {
        *out_status = 422;
        *out_body = error_body(field, -1, diag_type(diag->kind), err->msg, diag);
    }
    return err->code;
}

/* A string field without NUL bytes, NULL when absent or null; *bad when of another type. */
static const char *str_field(const struct mr_json *o, const char *key, bool *bad)
{
    const struct mr_json *v = mr_json_get(o, key);
    if (!v || mr_json_is_null(v))
        return NULL;
    if (!mr_json_is_string(v) || strlen(mr_json_string_value(v)) != mr_json_string_length(v)) {
        *bad = true;
        return NULL;
    }
    return mr_json_string_value(v);
}

/* The JSON tables, decoded into specs that borrow the document's strings. */
struct specs {
    struct mr_sql_table_spec *tables;
    struct mr_sql_column_spec **columns;
    struct mr_sql_fkey_spec **fkeys;
    const char ***names; /* every string array, to free */
    size_t ntables, nnames;
};

static void specs_free(struct specs *s)
{
    for (size_t i = 0; i < s->ntables; i++) {
        free(s->columns[i]);
        free(s->fkeys[i]);
    }
    for (size_t i = 0; i < s->nnames; i++)
        free(s->names[i]);
    free(s->tables);
    free(s->columns);
    free(s->fkeys);
    free(s->names);
}

/* A string array into a new borrowed list; false when it is not one. */
static bool str_array(struct specs *s, const struct mr_json *a, const char *const **out,
                      size_t *out_n)
{
    *out = NULL;
    *out_n = 0;
    if (!a || !mr_json_is_array(a))
        return false;
    size_t n = mr_json_size(a);
    const char **v = mr_xcalloc(n ? n : 1, sizeof *v);
    s->names = mr_xrealloc(s->names, (s->nnames + 1) * sizeof *s->names);
    s->names[s->nnames++] = v;
    for (size_t i = 0; i < n; i++) {
        const struct mr_json *x = mr_json_at(a, i);
        if (!mr_json_is_string(x) || strlen(mr_json_string_value(x)) != mr_json_string_length(x))
            return false;
        v[i] = mr_json_string_value(x);
    }
    *out = v;
    *out_n = n;
    return true;
}

/* Decodes "tables"; NULL on success, else the message of what is wrong (where in msg). */
static const char *decode_tables(struct specs *s, const struct mr_json *tables, char *msg,
                                 size_t cap)
{
    size_t n = mr_json_size(tables);
    if (n > MR_SQL_MAX_TABLES)
        return "too many tables";
    s->tables = mr_xcalloc(n ? n : 1, sizeof *s->tables);
    s->columns = mr_xcalloc(n ? n : 1, sizeof *s->columns);
    s->fkeys = mr_xcalloc(n ? n : 1, sizeof *s->fkeys);
    for (size_t i = 0; i < n; i++) {
        const struct mr_json *t = mr_json_at(tables, i);
        struct mr_sql_table_spec *ts = &s->tables[i];
        s->ntables = i + 1;
        bool bad = false;
        if (!mr_json_is_object(t)) {
            snprintf(msg, cap, "tables[%zu] must be an object", i);
            return msg;
        }
        ts->name = str_field(t, "name", &bad);
        ts->schema = str_field(t, "schema", &bad);
        ts->description = str_field(t, "description", &bad);
        const struct mr_json *cols = mr_json_get(t, "columns");
        if (bad || !ts->name || !cols || !mr_json_is_array(cols)) {
            snprintf(msg, cap,
                     "tables[%zu] needs a string name and a columns array (schema and "
                     "description are strings)",
                     i);
            return msg;
        }
        size_t nc = mr_json_size(cols);
        if (nc > MR_SQL_MAX_COLUMNS)
            return "too many columns";
        struct mr_sql_column_spec *cs = mr_xcalloc(nc ? nc : 1, sizeof *cs);
        s->columns[i] = cs;
        ts->columns = cs;
        ts->ncolumns = nc;
        for (size_t k = 0; k < nc; k++) {
            const struct mr_json *c = mr_json_at(cols, k);
            const struct mr_json *pk = mr_json_is_object(c) ? mr_json_get(c, "primary_key") : NULL;
            const struct mr_json *nu = mr_json_is_object(c) ? mr_json_get(c, "nullable") : NULL;
            if (!mr_json_is_object(c) || (pk && !mr_json_is_bool(pk) && !mr_json_is_null(pk)) ||
                (nu && !mr_json_is_bool(nu) && !mr_json_is_null(nu))) {
                bad = true;
            } else {
                cs[k].name = str_field(c, "name", &bad);
                cs[k].type = str_field(c, "type", &bad);
                cs[k].description = str_field(c, "description", &bad);
                cs[k].primary_key = pk && mr_json_is_true(pk);
                cs[k].nullable = nu && mr_json_is_bool(nu) ? mr_json_is_true(nu) : -1;
            }
            if (bad || !cs[k].name) {
                snprintf(msg, cap,
                         "tables[%zu].columns[%zu] needs a string name (type and description "
                         "are strings, primary_key and nullable booleans)",
                         i, k);
                return msg;
            }
        }
        const struct mr_json *fks = mr_json_get(t, "foreign_keys");
        if (!fks || mr_json_is_null(fks))
            continue;
        if (!mr_json_is_array(fks)) {
            snprintf(msg, cap, "tables[%zu].foreign_keys must be an array", i);
            return msg;
        }
        size_t nf = mr_json_size(fks);
        struct mr_sql_fkey_spec *fs = mr_xcalloc(nf ? nf : 1, sizeof *fs);
        s->fkeys[i] = fs;
        ts->foreign_keys = fs;
        ts->nforeign_keys = nf;
        for (size_t k = 0; k < nf; k++) {
            const struct mr_json *f = mr_json_at(fks, k);
            const struct mr_json *ref = mr_json_is_object(f) ? mr_json_get(f, "references") : NULL;
            bool ok = ref && mr_json_is_object(ref) &&
                      str_array(s, mr_json_get(f, "columns"), &fs[k].columns, &fs[k].ncolumns);
            if (ok) {
                fs[k].ref_table = str_field(ref, "table", &bad);
                const struct mr_json *rc = mr_json_get(ref, "columns");
                if (rc && !mr_json_is_null(rc))
                    ok = str_array(s, rc, &fs[k].ref_columns, &fs[k].nref_columns);
                const char *src = str_field(f, "source", &bad);
                /* A stored schema read back keeps its inferred keys (docs/sql.md). */
                fs[k].source = src && strcmp(src, "inferred") == 0 ? MR_SQL_JOIN_INFERRED
                                                                   : MR_SQL_JOIN_DECLARED;
            }
            if (!ok || bad || !fs[k].ref_table || fs[k].ncolumns == 0) {
                snprintf(msg, cap,
                         "tables[%zu].foreign_keys[%zu] needs columns (strings) and references "
                         "{table, columns?}",
                         i, k);
                return msg;
            }
        }
    }
    return NULL;
}

int api_decode_schema(const char *body, size_t len, struct mr_sql_schema **out, int *out_status,
                      char **out_body)
{
    *out = NULL;
    struct mr_json_error jerr;
    struct mr_json *doc = mr_json_parse(body, len, &jerr);
    struct mr_sql_diag diag = {0};
    struct mr_err err = {0};
    struct specs sp = {0};
    char msg[256];
    int rc = MR_EVALIDATION;
    *out_status = 422;
    if (!doc || !mr_json_is_object(doc)) {
        *out_body = error_body(
            NULL, -1, doc ? "model_attributes_type" : "json_invalid",
            doc ? "Input should be a valid dictionary or object" : "JSON decode error", NULL);
        goto out;
    }
    bool bad = false;
    const char *dialect = str_field(doc, "dialect", &bad);
    const struct mr_json *ddl = mr_json_get(doc, "ddl");
    const struct mr_json *tables = mr_json_get(doc, "tables");
    enum mr_sql_dialect d = MR_SQL_POSTGRESQL;
    if (bad) {
        *out_body =
            error_body("dialect", -1, "string_type", "Input should be a valid string", NULL);
        goto out;
    }
    if (dialect && mr_sql_dialect_parse(dialect, strlen(dialect), &d, &diag, &err) != 0) {
        rc = api_sql_error(&err, &diag, "dialect", out_status, out_body);
        goto out;
    }
    if (ddl && !mr_json_is_null(ddl)) {
        if (!mr_json_is_string(ddl)) {
            *out_body =
                error_body("ddl", -1, "string_type", "Input should be a valid string", NULL);
            goto out;
        }
        if (mr_sql_parse_ddl(d, mr_json_string_value(ddl), mr_json_string_length(ddl), out, &diag,
                             &err) != 0) {
            rc = api_sql_error(&err, &diag, "ddl", out_status, out_body);
            goto out;
        }
    } else if (tables && mr_json_is_array(tables)) {
        const char *why = decode_tables(&sp, tables, msg, sizeof msg);
        if (why) {
            if (strcmp(why, "too many tables") == 0 || strcmp(why, "too many columns") == 0) {
                *out_status = 413;
                rc = MR_ETOOLARGE;
                if (why[9] == 't')
                    snprintf(msg, sizeof msg, "the schema has more than %d tables",
                             MR_SQL_MAX_TABLES);
                else
                    snprintf(msg, sizeof msg, "table %s has more than %d columns",
                             sp.tables[sp.ntables - 1].name, MR_SQL_MAX_COLUMNS);
                *out_body = dump(mr_json_with(mr_json_object(), "detail", mr_json_string(msg)));
            } else {
                *out_body = error_body("tables", -1, "value_error", why, NULL);
            }
            goto out;
        }
        if (mr_sql_schema_from_specs(d, sp.tables, sp.ntables, out, &diag, &err) != 0) {
            rc = api_sql_error(&err, &diag, "tables", out_status, out_body);
            goto out;
        }
    } else {
        *out_body = error_body(NULL, -1, "missing",
                               "the body needs \"ddl\" (a string, with \"dialect\") or "
                               "\"tables\" (an array)",
                               NULL);
        goto out;
    }
    rc = 0;
    *out_status = 200;
    *out_body = NULL;
out:
    specs_free(&sp);
    mr_json_free(doc);
    return rc;
}

char *api_encode_schema_summary(const struct mr_schema_summary *s)
{
    struct mr_json *o = mr_json_object();
    mr_json_set(o, "data_source_id", mr_json_integer(s->data_source_id));
    mr_json_set(o, "dialect", mr_json_string(s->dialect));
    mr_json_set(o, "schema_hash", mr_json_string(s->schema_hash));
    mr_json_set(o, "tables", mr_json_integer((int64_t)s->tables));
    mr_json_set(o, "relationships", mr_json_integer((int64_t)s->relationships));
    mr_json_set(o, "added", mr_json_strv(&s->added));
    mr_json_set(o, "updated", mr_json_strv(&s->updated));
    mr_json_set(o, "removed", mr_json_strv(&s->removed));
    mr_json_set(o, "unchanged", mr_json_integer((int64_t)s->unchanged));
    return dump(o);
}

/* ---- POST /api/examples ---- */

int api_decode_example(const char *body, size_t len, struct api_example *out, char **out_err)
{
    memset(out, 0, sizeof *out);
    struct mr_json_error jerr;
    struct mr_json *doc = mr_json_parse(body, len, &jerr);
    const char *field = NULL, *type = NULL, *msg = NULL;
    if (!doc || !mr_json_is_object(doc)) {
        *out_err = error_body(
            NULL, -1, doc ? "model_attributes_type" : "json_invalid",
            doc ? "Input should be a valid dictionary or object" : "JSON decode error", NULL);
        mr_json_free(doc);
        return MR_EVALIDATION;
    }
    out->doc = doc;
    struct mr_example_create *in = &out->in;
    const struct mr_json *q = mr_json_get(doc, "question"), *sql = mr_json_get(doc, "sql");
    const struct mr_json *ds = mr_json_get(doc, "data_source_id");
    const struct mr_json *conv = mr_json_get(doc, "conversation_id");
    const struct mr_json *ver = mr_json_get(doc, "verified"), *md = mr_json_get(doc, "metadata");
    if (!q || !mr_json_is_string(q) || mr_json_string_length(q) == 0) {
        field = "question", type = q ? "string_type" : "missing";
        msg = q ? "question must be a non-empty string" : "Field required";
    } else if (!mr_utf8_valid(mr_json_string_value(q), mr_json_string_length(q)) ||
               mr_utf8_len(mr_json_string_value(q), mr_json_string_length(q)) >
                   (size_t)api_example_fields[EX_QUESTION].max) {
        field = "question", type = "string_too_long";
        msg = "question must be at most 10000 characters";
    } else if (!sql || !mr_json_is_string(sql) || mr_json_string_length(sql) == 0) {
        field = "sql", type = sql ? "string_type" : "missing";
        msg = sql ? "sql must be a non-empty string" : "Field required";
    } else if (!ds || !mr_json_is_integer(ds)) {
        field = "data_source_id", type = ds ? "int_type" : "missing";
        msg = ds ? "Input should be a valid integer" : "Field required";
    } else if (mr_json_integer_value(ds) < api_example_fields[EX_DATA_SOURCE_ID].min) {
        field = "data_source_id", type = "greater_than";
        msg = "Input should be greater than 0";
    } else if (conv && !mr_json_is_null(conv) &&
               (!mr_json_is_string(conv) ||
                mr_uuid_parse(mr_json_string_value(conv), mr_json_string_length(conv),
                              in->conversation_id) != 0)) {
        field = "conversation_id", type = "uuid_parsing";
        msg = "Input should be a valid UUID";
    } else if (ver && !mr_json_is_null(ver) && !mr_json_is_bool(ver)) {
        field = "verified", type = "bool_type", msg = "Input should be a valid boolean";
    } else if (md && !mr_json_is_null(md) && !mr_json_is_object(md)) {
        field = "metadata", type = "dict_type", msg = "Input should be a valid dictionary";
    }
    if (field) {
        *out_err = error_body(field, -1, type, msg, NULL);
        api_example_free(out);
        return MR_EVALIDATION;
    }
    in->question = mr_json_string_value(q);
    in->question_len = mr_json_string_length(q);
    in->sql = mr_json_string_value(sql);
    in->sql_len = mr_json_string_length(sql);
    in->data_source_id = mr_json_integer_value(ds);
    in->has_conversation_id = conv && !mr_json_is_null(conv);
    in->verified = ver && mr_json_is_true(ver);
    if (md && !mr_json_is_null(md)) {
        out->metadata = mr_json_print(md, 15);
        in->metadata = out->metadata;
    }
    return 0;
}

void api_example_free(struct api_example *r)
{
    free(r->metadata);
    mr_json_free(r->doc);
    memset(r, 0, sizeof *r);
}
