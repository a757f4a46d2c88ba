/*
 * pg.c — PostgreSQL through libpg_query (PostgreSQL's own parser as a
 * library): DDL into the schema builder, and the walk of an example's parse
 * tree into the tables, columns and joins it uses. The only file that
 * includes libpg_query's headers (pg_query.h and its protobuf-c tree).
 *
 * The parse tree comes as protobuf (pg_query_parse_protobuf) unpacked into
 * typed C structs by the protobuf-c code libpg_query carries: fields are
 * checked by the compiler, and the descriptors give a generic walk over any
 * expression node, so new node kinds need no code to be searched for
 * column references.
 */
#include <pg_query.h>
#include <pg_query/pg_query.pb-c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memori/util.h"
#include "sql_int.h"

/* Byte offset of PostgreSQL's cursor position (1-based, in characters) in text. */
static size_t cursor_offset(const char *text, int cursorpos)
{
    size_t off = 0;
    int chars = 1;
    while (text[off] && chars < cursorpos) {
        off++;
        while (((unsigned char)text[off] & 0xC0) == 0x80)
            off++;
        chars++;
    }
    return off;
}

static int parse_error(const char *text, const PgQueryError *e, const char *what,
                       struct mr_sql_diag *diag, struct mr_err *err)
{
    int line = 0, col = 0;
    if (e->cursorpos > 0)
        sql_position(text, strlen(text), cursor_offset(text, e->cursorpos), &line, &col);
    return sql_fail(diag, err, MR_EVALIDATION, MR_SQL_DIAG_SYNTAX, "", line, col, "%s: %s", what,
                    e->message ? e->message : "syntax error");
}

/* The tree of text, or NULL with *out_rc the error (err may be NULL). */
static PgQuery__ParseResult *parse(const char *text, const char *what, struct mr_sql_diag *diag,
                                   struct mr_err *err, int *out_rc)
{
    PgQueryProtobufParseResult r = pg_query_parse_protobuf(text);
    PgQuery__ParseResult *tree = NULL;
    *out_rc = 0;
    if (r.error)
        *out_rc = parse_error(text, r.error, what, diag, err);
    else if (!(tree = pg_query__parse_result__unpack(NULL, r.parse_tree.len,
                                                     (const uint8_t *)r.parse_tree.data)))
        *out_rc = sql_fail(diag, err, MR_EINTERNAL, MR_SQL_DIAG_SYNTAX, "", 0, 0,
                           "libpg_query's parse tree did not unpack");
    pg_query_free_protobuf_parse_result(r);
    return tree;
}

static const char *str_of(const PgQuery__Node *n)
{
    return n && n->node_case == PG_QUERY__NODE__NODE_STRING ? n->string->sval : NULL;
}

static const char *nonempty(const char *s)
{
    return s && *s ? s : NULL;
}

/* ---- DDL ---------------------------------------------------------------- */

/* libpg_query's internal type names as people write them. */
static const char *type_alias(const char *n)
{
    static const char *const map[][2] = {{"int2", "smallint"},
                                         {"int4", "integer"},
                                         {"int8", "bigint"},
                                         {"float4", "real"},
                                         {"float8", "double precision"},
                                         {"bool", "boolean"},
                                         {"bpchar", "char"},
                                         {"varchar", "varchar"},
                                         {"timestamptz", "timestamptz"}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcmp(n, map[i][0]) == 0)
            return map[i][1];
    return n;
}

static void render_type(const PgQuery__TypeName *tn, struct mr_strbuf *out)
{
    if (!tn || !tn->n_names)
        return;
    for (size_t i = 0; i < tn->n_names; i++) {
        const char *s = str_of(tn->names[i]);
        if (!s || (i + 1 < tn->n_names && strcmp(s, "pg_catalog") == 0))
            continue;
        if (out->len)
            mr_strbuf_puts(out, ".");
        mr_strbuf_puts(out, i + 1 == tn->n_names ? type_alias(s) : s);
    }
    /* An interval's modifiers are a field bitmask, not what was written: leave them out. */
    bool interval = out->len && strcmp(out->s, "interval") == 0;
    size_t nmods = 0;
    for (size_t i = 0; !interval && i < tn->n_typmods; i++) {
        const PgQuery__Node *m = tn->typmods[i];
        if (m->node_case != PG_QUERY__NODE__NODE_A_CONST ||
            m->a_const->val_case != PG_QUERY__A__CONST__VAL_IVAL)
            continue;
        mr_strbuf_printf(out, "%s%d", nmods++ ? "," : "(", m->a_const->ival->ival);
    }
    if (nmods)
        mr_strbuf_puts(out, ")");
    for (size_t i = 0; i < tn->n_array_bounds; i++)
        mr_strbuf_puts(out, "[]");
}

/* The names of a list of String nodes, into a NULL-padded array the caller frees. */
static const char **names_of(PgQuery__Node **v, size_t n)
{
    const char **out = mr_xcalloc(n + 1, sizeof *out);
    for (size_t i = 0; i < n; i++)
        out[i] = str_of(v[i]) ? str_of(v[i]) : "";
    return out;
}

static int add_constraint(struct sqlb *b, size_t t, const PgQuery__Constraint *c,
                          const char *column, struct mr_sql_diag *diag, struct mr_err *err)
{
    int rc = 0;
    if (c->contype == PG_QUERY__CONSTR_TYPE__CONSTR_PRIMARY) {
        const char **keys = column ? NULL : names_of(c->keys, c->n_keys);
        rc = column ? sqlb_set_primary_key(b, t, &column, 1, c->location, diag, err)
                    : sqlb_set_primary_key(b, t, keys, c->n_keys, c->location, diag, err);
        free(keys);
    } else if (c->contype == PG_QUERY__CONSTR_TYPE__CONSTR_FOREIGN && c->pktable) {
        const char **from = column ? NULL : names_of(c->fk_attrs, c->n_fk_attrs);
        const char **to = names_of(c->pk_attrs, c->n_pk_attrs);
        rc = sqlb_add_fkey(b, t, column ? &column : from, column ? 1 : c->n_fk_attrs,
                           nonempty(c->pktable->schemaname), c->pktable->relname, to, c->n_pk_attrs,
                           MR_SQL_JOIN_DECLARED, c->location, diag, err);
        free(from);
        free(to);
    }
    return rc;
}

static int add_column(struct sqlb *b, size_t t, const PgQuery__ColumnDef *cd,
                      struct mr_sql_diag *diag, struct mr_err *err)
{
    bool nullable = !cd->is_not_null, pk = false;
    for (size_t i = 0; i < cd->n_constraints; i++) {
        const PgQuery__Node *n = cd->constraints[i];
        if (n->node_case != PG_QUERY__NODE__NODE_CONSTRAINT)
            continue;
        if (n->constraint->contype == PG_QUERY__CONSTR_TYPE__CONSTR_NOTNULL)
            nullable = false;
        else if (n->constraint->contype == PG_QUERY__CONSTR_TYPE__CONSTR_PRIMARY)
            pk = true;
    }
    struct mr_strbuf type = {0};
    render_type(cd->type_name, &type);
    int rc = sqlb_add_column(b, t, cd->colname, type.s ? type.s : "", NULL, pk, nullable,
                             cd->location, diag, err);
    free(type.s);
    for (size_t i = 0; rc == 0 && i < cd->n_constraints; i++) {
        const PgQuery__Node *n = cd->constraints[i];
        if (n->node_case == PG_QUERY__NODE__NODE_CONSTRAINT &&
            n->constraint->contype == PG_QUERY__CONSTR_TYPE__CONSTR_FOREIGN)
            rc = add_constraint(b, t, n->constraint, cd->colname, diag, err);
    }
    return rc;
}

static int create_table(struct sqlb *b, const PgQuery__CreateStmt *cs, struct mr_sql_diag *diag,
                        struct mr_err *err)
{
    const PgQuery__RangeVar *rv = cs->relation;
    /* A partition or a typed table repeats its parent's columns: not a table of its own here. */
    if (!rv || cs->partbound || cs->of_typename) {
        b->ignored++;
        return 0;
    }
    size_t t;
    if (cs->if_not_exists && sqlb_find_table(b, nonempty(rv->schemaname), rv->relname) >= 0) {
        b->ignored++; /* CREATE TABLE IF NOT EXISTS of a table made before: PostgreSQL skips it */
        return 0;
    }
    int rc =
        sqlb_add_table(b, nonempty(rv->schemaname), rv->relname, NULL, rv->location, &t, diag, err);
    /* Columns first: a table constraint may name a column defined after it. */
    for (size_t i = 0; rc == 0 && i < cs->n_table_elts; i++)
        if (cs->table_elts[i]->node_case == PG_QUERY__NODE__NODE_COLUMN_DEF)
            rc = add_column(b, t, cs->table_elts[i]->column_def, diag, err);
    for (size_t i = 0; rc == 0 && i < cs->n_table_elts; i++) {
        const PgQuery__Node *n = cs->table_elts[i];
        if (n->node_case == PG_QUERY__NODE__NODE_CONSTRAINT)
            rc = add_constraint(b, t, n->constraint, NULL, diag, err);
    }
    for (size_t i = 0; rc == 0 && i < cs->n_constraints; i++) {
        const PgQuery__Node *n = cs->constraints[i];
        if (n->node_case == PG_QUERY__NODE__NODE_CONSTRAINT)
            rc = add_constraint(b, t, n->constraint, NULL, diag, err);
    }
    return rc;
}

static int alter_table(struct sqlb *b, const PgQuery__AlterTableStmt *as, long loc,
                       struct mr_sql_diag *diag, struct mr_err *err)
{
    bool used = false;
    size_t t = 0;
    int rc = 0;
    if (as->objtype != PG_QUERY__OBJECT_TYPE__OBJECT_TABLE || !as->relation)
        goto out;
    for (size_t i = 0; rc == 0 && i < as->n_cmds; i++) {
        const PgQuery__Node *n = as->cmds[i];
        if (n->node_case != PG_QUERY__NODE__NODE_ALTER_TABLE_CMD || !n->alter_table_cmd->def)
            continue;
        const PgQuery__AlterTableCmd *cmd = n->alter_table_cmd;
        bool add_con = cmd->subtype == PG_QUERY__ALTER_TABLE_TYPE__AT_AddConstraint &&
                       cmd->def->node_case == PG_QUERY__NODE__NODE_CONSTRAINT;
        bool add_col = cmd->subtype == PG_QUERY__ALTER_TABLE_TYPE__AT_AddColumn &&
                       cmd->def->node_case == PG_QUERY__NODE__NODE_COLUMN_DEF;
        if (!add_con && !add_col)
            continue;
        if (!used &&
            (rc = sqlb_table_for(b, nonempty(as->relation->schemaname), as->relation->relname,
                                 as->relation->location, &t, diag, err)))
            break;
        used = true;
        rc = add_con ? add_constraint(b, t, cmd->def->constraint, NULL, diag, err)
                     : add_column(b, t, cmd->def->column_def, diag, err);
    }
out:
    (void)loc;
    if (!used && rc == 0)
        b->ignored++;
    return rc;
}

static int comment_on(struct sqlb *b, const PgQuery__CommentStmt *cs, long loc,
                      struct mr_sql_diag *diag, struct mr_err *err)
{
    bool table = cs->objtype == PG_QUERY__OBJECT_TYPE__OBJECT_TABLE;
    bool column = cs->objtype == PG_QUERY__OBJECT_TYPE__OBJECT_COLUMN;
    if ((!table && !column) || !cs->object || cs->object->node_case != PG_QUERY__NODE__NODE_LIST) {
        b->ignored++;
        return 0;
    }
    const PgQuery__List *l = cs->object->list;
    size_t n = l->n_items, need = column ? 2 : 1;
    if (n < need || n > need + 1) {
        b->ignored++;
        return 0;
    }
    const char *schema = n == need + 1 ? str_of(l->items[0]) : NULL;
    const char *tname = str_of(l->items[n - need]);
    size_t t;
    int rc = sqlb_table_for(b, schema, tname, loc, &t, diag, err);
    if (rc)
        return rc;
    /* COMMENT … IS NULL (an empty string in the tree) removes the description. */
    char *text = cs->comment && *cs->comment ? mr_xstrdup(cs->comment) : NULL;
    if (table) {
        free(b->tables[t].description);
        b->tables[t].description = text;
        return 0;
    }
    const char *cname = str_of(l->items[n - 1]);
    long c = cname ? sqlb_find_column(b, t, cname) : -1;
    if (c < 0) {
        free(text);
        char full[520];
        snprintf(full, sizeof full, "%s.%s", tname ? tname : "", cname ? cname : "");
        return sqlb_fail(b, loc, diag, err, MR_EVALIDATION, MR_SQL_DIAG_UNKNOWN_COLUMN, full,
                         "COMMENT ON COLUMN %s: no such column", full);
    }
    free(b->tables[t].columns[c].description);
    b->tables[t].columns[c].description = text;
    return 0;
}

int sql_pg_parse_ddl(struct sqlb *b, const char *ddl, struct mr_sql_diag *diag, struct mr_err *err)
{
    int rc;
    PgQuery__ParseResult *tree = parse(ddl, "DDL does not parse", diag, err, &rc);
    if (!tree)
        return rc;
    for (size_t i = 0; rc == 0 && i < tree->n_stmts; i++) {
        const PgQuery__RawStmt *raw = tree->stmts[i];
        const PgQuery__Node *n = raw->stmt;
        /* stmt_location includes the whitespace before it: point at its first word. */
        long loc = raw->stmt_location;
        while (loc >= 0 && ddl[loc] && strchr(" \t\r\n;", ddl[loc]))
            loc++;
        if (!n)
            continue;
        switch (n->node_case) {
        case PG_QUERY__NODE__NODE_CREATE_STMT:
            rc = create_table(b, n->create_stmt, diag, err);
            break;
        case PG_QUERY__NODE__NODE_ALTER_TABLE_STMT:
            rc = alter_table(b, n->alter_table_stmt, loc, diag, err);
            break;
        case PG_QUERY__NODE__NODE_COMMENT_STMT:
            rc = comment_on(b, n->comment_stmt, loc, diag, err);
            break;
        default:
            b->ignored++;
        }
    }
    pg_query__parse_result__free_unpacked(tree, NULL);
    return rc;
}

/* ---- example analysis ------------------------------------------------------------- */

/*
 * Scopes follow SQL's: a SELECT sees its FROM items, then the enclosing
 * queries' (correlated subqueries), and the CTEs of its own and enclosing
 * WITH clauses. A FROM item is a base table, or a derived relation (CTE,
 * subquery, function) whose output columns remember the base column they
 * pass through, so a join on a CTE's column is a join on the table's.
 */
struct outcol {
    const char *name;
    long table, col;   /* the base column it passes through; -1 for an expression */
    const char *tname; /* with no schema: the table as written */
};

struct outcols {
    struct outcol *v;
    size_t n, cap;
    bool opaque; /* its columns are unknown (a function, a * over something unknown) */
};

struct rel {
    const char *alias;  /* how the query names it (alias, or the table's name) */
    const char *schema; /* as written, for schema.table.column */
    const char *tname;  /* base table as written */
    long table;         /* schema index; -1 not a base table or no schema */
    bool base;
    struct outcols cols; /* derived only */
    int id;              /* one per instance: a self join has two */
};

struct cte {
    const char *name;
    struct outcols cols;
};

struct scope {
    struct scope *parent;
    struct rel *rels;
    size_t nrels, rcap;
    struct cte *ctes;
    size_t nctes, ccap;
    const PgQuery__SelectStmt *select; /* for ORDER BY / GROUP BY output names */
};

struct walk {
    struct sqlacc *acc;
    const struct mr_sql_schema *s;
    enum mr_sql_dialect dialect;
    const char *text;
    struct mr_sql_diag *diag;
    struct mr_err *err;
    int rc;
    int next_id;
    int depth;
};

/* Deep nesting is a client's doing; libpg_query's own limit keeps us well below this. */
#define MAX_DEPTH 1000

static void outcols_push(struct outcols *o, const char *name, long table, long col,
                         const char *tname)
{
    if (o->n == o->cap) {
        o->cap = o->cap ? o->cap * 2 : 8;
        o->v = mr_xrealloc(o->v, o->cap * sizeof *o->v);
    }
    o->v[o->n++] = (struct outcol){name, table, col, tname};
}

static struct rel *scope_add(struct scope *sc)
{
    if (sc->nrels == sc->rcap) {
        sc->rcap = sc->rcap ? sc->rcap * 2 : 8;
        sc->rels = mr_xrealloc(sc->rels, sc->rcap * sizeof *sc->rels);
    }
    struct rel *r = &sc->rels[sc->nrels++];
    memset(r, 0, sizeof *r);
    r->table = -1;
    return r;
}

static void scope_free(struct scope *sc)
{
    for (size_t i = 0; i < sc->nrels; i++)
        free(sc->rels[i].cols.v);
    for (size_t i = 0; i < sc->nctes; i++)
        free(sc->ctes[i].cols.v);
    free(sc->rels);
    free(sc->ctes);
}

static bool failed(struct walk *w)
{
    return w->rc != 0;
}

static void fail_at(struct walk *w, int loc, enum mr_sql_diag_kind kind, const char *name,
                    const char *fmt, const char *a, const char *b)
{
    if (w->rc)
        return;
    int line = 0, col = 0;
    if (loc >= 0)
        sql_position(w->text, strlen(w->text), (size_t)loc, &line, &col);
    char msg[400];
    snprintf(msg, sizeof msg, fmt, a, b ? b : "");
    w->rc = sql_fail(w->diag, w->err, MR_EVALIDATION, kind, name, line, col, "%s", msg);
}

static bool strict(const struct walk *w)
{
    return w->s && !w->acc->lenient;
}

static const char *table_name(const struct walk *w, long table, const char *tname)
{
    return table >= 0 ? w->s->tables[table].qualified : tname;
}

/* The qualified name of a table as written, with no schema to resolve it against. */
static const char *written_name(struct walk *w, const PgQuery__RangeVar *rv, struct mr_strbuf *keep)
{
    if (sql_default_schema(w->dialect, rv->schemaname))
        return rv->relname;
    keep->len = 0;
    mr_strbuf_printf(keep, "%s.%s", rv->schemaname, rv->relname);
    return keep->s;
}

static void walk_node(struct walk *w, struct scope *sc, const PgQuery__Node *n);
static void walk_select(struct walk *w, struct scope *parent, const PgQuery__SelectStmt *st,
                        struct outcols *out);

static void walk_message(struct walk *w, struct scope *sc, const ProtobufCMessage *m);

/* Every message-typed field of m, through protobuf-c's descriptors: any node kind is searched. */
static void walk_fields(struct walk *w, struct scope *sc, const ProtobufCMessage *m)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    const char *base = (const char *)m;
    for (unsigned i = 0; i < d->n_fields && !failed(w); i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->type != PROTOBUF_C_TYPE_MESSAGE)
            continue;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)(base + f->quantifier_offset);
            ProtobufCMessage *const *v = *(ProtobufCMessage *const *const *)(base + f->offset);
            for (size_t k = 0; k < n; k++)
                walk_message(w, sc, v[k]);
            continue;
        }
        if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
            *(const uint32_t *)(base + f->quantifier_offset) != f->id)
            continue;
        walk_message(w, sc, *(ProtobufCMessage *const *)(base + f->offset));
    }
}

static void walk_message(struct walk *w, struct scope *sc, const ProtobufCMessage *m)
{
    if (!m || failed(w))
        return;
    if (m->descriptor == &pg_query__node__descriptor)
        walk_node(w, sc, (const PgQuery__Node *)m);
    else
        walk_fields(w, sc, m);
}

/* A column reference resolved: the base column it reads, through which FROM item. */
struct resolved {
    bool found;
    long table, col;
    const char *tname, *cname;
    int rel_id;
};

static bool rel_column(struct walk *w, const struct rel *r, const char *name, struct resolved *out)
{
    if (r->base) {
        long c = r->table >= 0 ? mr_sql_table_find_column(w->s, (size_t)r->table, name) : -1;
        if (r->table >= 0 && c < 0)
            return false;
        *out = (struct resolved){true, r->table, c, r->tname, name, r->id};
        if (c >= 0)
            out->cname = w->s->tables[r->table].columns[c].name;
        return true;
    }
    for (size_t i = 0; i < r->cols.n; i++)
        if (sql_name_eq(w->dialect, r->cols.v[i].name, name)) {
            const struct outcol *oc = &r->cols.v[i];
            *out = (struct resolved){true, oc->table, oc->col, oc->tname, NULL, r->id};
            if (oc->table >= 0 && oc->col >= 0)
                out->cname = w->s->tables[oc->table].columns[oc->col].name;
            else if (oc->tname)
                out->cname = oc->name;
            return true;
        }
    return false;
}

static bool rel_knows_columns(const struct rel *r)
{
    return r->base ? r->table >= 0 : !r->cols.opaque;
}

static const struct rel *find_rel(struct walk *w, struct scope *sc, const char *schema,
                                  const char *name)
{
    for (; sc; sc = sc->parent)
        for (size_t i = sc->nrels; i-- > 0;) {
            const struct rel *r = &sc->rels[i];
            if (!r->alias || !sql_name_eq(w->dialect, r->alias, name))
                continue;
            /* public.customers.name reads FROM customers too (the default schema). */
            bool same = r->schema ? schema && sql_name_eq(w->dialect, r->schema, schema)
                                  : !schema || (r->base && sql_default_schema(w->dialect, schema));
            if (!same)
                continue;
            return r;
        }
    return NULL;
}

static bool is_output_name(struct walk *w, const struct scope *sc, const char *name)
{
    if (!sc->select)
        return false;
    for (size_t i = 0; i < sc->select->n_target_list; i++) {
        const PgQuery__Node *t = sc->select->target_list[i];
        if (t->node_case == PG_QUERY__NODE__NODE_RES_TARGET && t->res_target->name &&
            sql_name_eq(w->dialect, t->res_target->name, name))
            return true;
    }
    return false;
}

static void record(struct walk *w, const struct resolved *r)
{
    if (!r->found || !r->cname)
        return;
    if (r->table >= 0 && r->col >= 0)
        sqlacc_column(w->acc, w->s->tables[r->table].qualified, r->cname);
    else if (!w->s && r->tname)
        sqlacc_column(w->acc, r->tname, r->cname);
}

static struct resolved resolve(struct walk *w, struct scope *sc, const PgQuery__ColumnRef *cr)
{
    struct resolved res = {0};
    const char *f[4] = {0};
    size_t n = cr->n_fields < 4 ? cr->n_fields : 4;
    bool star = false;
    for (size_t i = 0; i < n; i++) {
        if (cr->fields[i]->node_case == PG_QUERY__NODE__NODE_A_STAR)
            star = true;
        else
            f[i] = str_of(cr->fields[i]);
    }
    if (star || !n)
        return res; /* t.* and * are expanded where the target list is (walk_select) */
    const char *col = f[n - 1];
    if (!col)
        return res;
    if (n >= 2) {
        const char *schema = n >= 3 ? f[n - 3] : NULL, *qual = f[n - 2];
        const struct rel *r = qual ? find_rel(w, sc, schema, qual) : NULL;
        if (!r) {
            if (strict(w) && qual)
                fail_at(w, cr->location, MR_SQL_DIAG_UNKNOWN_TABLE, qual,
                        "%s is not a table or alias of the query%s", qual, NULL);
            return res;
        }
        if (!rel_column(w, r, col, &res)) {
            if (strict(w) && rel_knows_columns(r)) {
                char full[520];
                const char *tn = r->base ? table_name(w, r->table, r->tname) : r->alias;
                snprintf(full, sizeof full, "%s.%s", tn, col);
                fail_at(w, cr->location, MR_SQL_DIAG_UNKNOWN_COLUMN, full,
                        "column %s does not exist%s", full, NULL);
            }
        }
        return res;
    }
    /* Unqualified: the innermost FROM items first, then the enclosing queries'. */
    bool unsure = false;
    for (struct scope *s = sc; s; s = s->parent) {
        size_t bases = 0;
        const struct rel *only = NULL;
        for (size_t i = 0; i < s->nrels; i++) {
            const struct rel *r = &s->rels[i];
            if (!rel_knows_columns(r)) {
                unsure = true;
                if (r->base) {
                    bases++;
                    only = r;
                }
                continue;
            }
            if (rel_column(w, r, col, &res))
                return res;
        }
        /* No schema: a lone table in FROM is where an unqualified column comes from. */
        if (!w->s && bases == 1 && s->nrels == 1) {
            res = (struct resolved){true, -1, -1, only->tname, col, only->id};
            return res;
        }
        if (is_output_name(w, s, col))
            return res;
    }
    if (strict(w) && !unsure)
        fail_at(w, cr->location, MR_SQL_DIAG_UNKNOWN_COLUMN, col,
                "column %s is not in any table of the query%s", col, NULL);
    return res;
}

static const PgQuery__ColumnRef *as_colref(const PgQuery__Node *n)
{
    while (n && n->node_case == PG_QUERY__NODE__NODE_TYPE_CAST)
        n = n->type_cast->arg;
    return n && n->node_case == PG_QUERY__NODE__NODE_COLUMN_REF ? n->column_ref : NULL;
}

static void join_pair(struct walk *w, const struct resolved *a, const struct resolved *b)
{
    if (!a->found || !b->found || !a->cname || !b->cname || a->rel_id == b->rel_id)
        return;
    const char *ta = a->table >= 0 ? w->s->tables[a->table].qualified : (w->s ? NULL : a->tname);
    const char *tb = b->table >= 0 ? w->s->tables[b->table].qualified : (w->s ? NULL : b->tname);
    if (!ta || !tb || (a->table >= 0 && (a->col < 0 || b->col < 0)))
        return;
    if (sql_name_eq(w->dialect, ta, tb) && sql_name_eq(w->dialect, a->cname, b->cname))
        return; /* t.x = t2.x on the same table and column joins nothing new */
    sqlacc_join(w->acc, ta, a->cname, tb, b->cname);
}

static bool is_eq(const PgQuery__AExpr *e)
{
    return e->kind == PG_QUERY__A__EXPR__KIND__AEXPR_OP && e->n_name == 1 && str_of(e->name[0]) &&
           strcmp(str_of(e->name[0]), "=") == 0;
}

static void walk_node(struct walk *w, struct scope *sc, const PgQuery__Node *n)
{
    if (!n || failed(w))
        return;
    if (++w->depth > MAX_DEPTH) {
        fail_at(w, -1, MR_SQL_DIAG_STATEMENT, "", "the statement nests too deeply%s%s", "", "");
        w->depth--;
        return;
    }
    switch (n->node_case) {
    case PG_QUERY__NODE__NODE_COLUMN_REF: {
        struct resolved r = resolve(w, sc, n->column_ref);
        record(w, &r);
        break;
    }
    case PG_QUERY__NODE__NODE_A_EXPR: {
        const PgQuery__AExpr *e = n->a_expr;
        const PgQuery__ColumnRef *l = is_eq(e) ? as_colref(e->lexpr) : NULL;
        const PgQuery__ColumnRef *r = l ? as_colref(e->rexpr) : NULL;
        if (l && r) {
            struct resolved a = resolve(w, sc, l), b = resolve(w, sc, r);
            record(w, &a);
            record(w, &b);
            join_pair(w, &a, &b);
        } else {
            walk_fields(w, sc, &e->base);
        }
        break;
    }
    case PG_QUERY__NODE__NODE_SUB_LINK: {
        const PgQuery__SubLink *sl = n->sub_link;
        struct outcols out = {0};
        walk_node(w, sc, sl->testexpr);
        if (sl->subselect && sl->subselect->node_case == PG_QUERY__NODE__NODE_SELECT_STMT)
            walk_select(w, sc, sl->subselect->select_stmt, &out);
        /* x IN (SELECT y FROM t): a semi-join on x = t.y. */
        const PgQuery__ColumnRef *l = as_colref(sl->testexpr);
        if (!failed(w) && sl->sub_link_type == PG_QUERY__SUB_LINK_TYPE__ANY_SUBLINK && l &&
            out.n == 1 && !out.opaque && (out.v[0].col >= 0 || (!w->s && out.v[0].tname))) {
            struct resolved a = resolve(w, sc, l);
            struct resolved b = {true,
                                 out.v[0].table,
                                 out.v[0].col,
                                 out.v[0].tname,
                                 out.v[0].table >= 0
                                     ? w->s->tables[out.v[0].table].columns[out.v[0].col].name
                                     : out.v[0].name,
                                 -1};
            join_pair(w, &a, &b);
        }
        free(out.v);
        break;
    }
    case PG_QUERY__NODE__NODE_SELECT_STMT: {
        struct outcols out = {0};
        walk_select(w, sc, n->select_stmt, &out);
        free(out.v);
        break;
    }
    default:
        walk_fields(w, sc, (const ProtobufCMessage *)n);
    }
    w->depth--;
}

static const struct cte *find_cte(struct walk *w, struct scope *sc, const char *name)
{
    for (; sc; sc = sc->parent)
        for (size_t i = sc->nctes; i-- > 0;)
            if (sql_name_eq(w->dialect, sc->ctes[i].name, name))
                return &sc->ctes[i];
    return NULL;
}

static void copy_cols(struct outcols *dst, const struct outcols *src)
{
    dst->opaque = src->opaque;
    for (size_t i = 0; i < src->n; i++)
        outcols_push(dst, src->v[i].name, src->v[i].table, src->v[i].col, src->v[i].tname);
}

/* Renames columns by an alias' column list: FROM (…) AS x(a, b). */
static void rename_cols(struct outcols *o, PgQuery__Node **names, size_t n)
{
    for (size_t i = 0; i < n && i < o->n; i++)
        if (str_of(names[i]))
            o->v[i].name = str_of(names[i]);
}

static void add_range_var(struct walk *w, struct scope *sc, const PgQuery__RangeVar *rv)
{
    const char *alias = rv->alias && rv->alias->aliasname ? rv->alias->aliasname : rv->relname;
    const struct cte *cte = nonempty(rv->schemaname) ? NULL : find_cte(w, sc, rv->relname);
    if (cte) {
        struct rel *r = scope_add(sc);
        r->alias = alias;
        r->id = w->next_id++;
        copy_cols(&r->cols, &cte->cols);
        if (rv->alias)
            rename_cols(&r->cols, rv->alias->colnames, rv->alias->n_colnames);
        return;
    }
    long t = -1;
    const char *tname = rv->relname;
    if (w->s) {
        struct mr_strbuf q = {0};
        const char *qn = written_name(w, rv, &q);
        t = mr_sql_schema_find(w->s, qn);
        if (t < 0 && strict(w))
            fail_at(w, rv->location, MR_SQL_DIAG_UNKNOWN_TABLE, qn,
                    "table %s is not in the data source's schema%s", qn, NULL);
        free(q.s);
        if (t >= 0)
            sqlacc_table(w->acc, w->s->tables[t].qualified);
    } else {
        /* Names as written must outlive the scope (a CTE's columns keep them): the acc owns them.
         */
        struct mr_strbuf q = {0};
        tname = sqlacc_keep(w->acc, mr_xstrdup(written_name(w, rv, &q)));
        free(q.s);
        sqlacc_table(w->acc, tname);
    }
    struct rel *r = scope_add(sc);
    r->alias = alias;
    r->schema = rv->alias ? NULL : nonempty(rv->schemaname);
    r->tname = tname;
    r->table = t;
    r->base = true;
    r->id = w->next_id++;
}

/* Equalities a USING or NATURAL join makes, between FROM items [lo, mid) and [mid, hi). */
static void using_join(struct walk *w, struct scope *sc, size_t lo, size_t mid, size_t hi,
                       const char *col)
{
    struct resolved a = {0}, b = {0};
    for (size_t i = lo; i < mid && !a.found; i++)
        rel_column(w, &sc->rels[i], col, &a);
    for (size_t i = mid; i < hi && !b.found; i++)
        rel_column(w, &sc->rels[i], col, &b);
    if (strict(w) && (!a.found || !b.found)) {
        fail_at(w, -1, MR_SQL_DIAG_UNKNOWN_COLUMN, col,
                "USING column %s is not in both sides of the join%s", col, NULL);
        return;
    }
    record(w, &a);
    record(w, &b);
    join_pair(w, &a, &b);
}

static void add_from(struct walk *w, struct scope *sc, const PgQuery__Node *n)
{
    if (!n || failed(w))
        return;
    switch (n->node_case) {
    case PG_QUERY__NODE__NODE_RANGE_VAR:
        add_range_var(w, sc, n->range_var);
        break;
    case PG_QUERY__NODE__NODE_JOIN_EXPR: {
        const PgQuery__JoinExpr *j = n->join_expr;
        size_t lo = sc->nrels;
        add_from(w, sc, j->larg);
        size_t mid = sc->nrels;
        add_from(w, sc, j->rarg);
        size_t hi = sc->nrels;
        for (size_t i = 0; i < j->n_using_clause && !failed(w); i++)
            if (str_of(j->using_clause[i]))
                using_join(w, sc, lo, mid, hi, str_of(j->using_clause[i]));
        if (j->is_natural) {
            /* NATURAL: every column name the two sides share. */
            for (size_t i = mid; i < hi; i++) {
                const struct rel *r = &sc->rels[i];
                size_t nc =
                    r->base ? (r->table >= 0 ? w->s->tables[r->table].ncolumns : 0) : r->cols.n;
                for (size_t c = 0; c < nc && !failed(w); c++) {
                    const char *col =
                        r->base ? w->s->tables[r->table].columns[c].name : r->cols.v[c].name;
                    struct resolved a = {0};
                    for (size_t k = lo; k < mid && !a.found; k++)
                        rel_column(w, &sc->rels[k], col, &a);
                    if (a.found)
                        using_join(w, sc, lo, mid, hi, col);
                }
            }
        }
        walk_node(w, sc, j->quals);
        break;
    }
    case PG_QUERY__NODE__NODE_RANGE_SUBSELECT: {
        const PgQuery__RangeSubselect *rs = n->range_subselect;
        struct outcols out = {0};
        /* Not LATERAL: it sees this query's CTEs and the enclosing queries, not its siblings. */
        struct scope ctes_only = {.parent = sc->parent, .ctes = sc->ctes, .nctes = sc->nctes};
        if (rs->subquery && rs->subquery->node_case == PG_QUERY__NODE__NODE_SELECT_STMT)
            walk_select(w, rs->lateral ? sc : &ctes_only, rs->subquery->select_stmt, &out);
        struct rel *r = scope_add(sc);
        r->alias = rs->alias ? rs->alias->aliasname : NULL;
        r->id = w->next_id++;
        r->cols = out;
        if (rs->alias)
            rename_cols(&r->cols, rs->alias->colnames, rs->alias->n_colnames);
        break;
    }
    case PG_QUERY__NODE__NODE_RANGE_FUNCTION: {
        const PgQuery__RangeFunction *rf = n->range_function;
        for (size_t i = 0; i < rf->n_functions; i++)
            walk_node(w, sc, rf->functions[i]);
        struct rel *r = scope_add(sc);
        r->alias = rf->alias ? rf->alias->aliasname : NULL;
        r->id = w->next_id++;
        r->cols.opaque = true;
        break;
    }
    default: {
        /* Anything else in FROM (XMLTABLE, …): its columns are unknown to us. */
        struct rel *r = scope_add(sc);
        r->id = w->next_id++;
        r->cols.opaque = true;
        walk_message(w, sc, (const ProtobufCMessage *)n);
    }
    }
}

static void add_ctes(struct walk *w, struct scope *sc, const PgQuery__WithClause *wc)
{
    for (size_t i = 0; wc && i < wc->n_ctes && !failed(w); i++) {
        const PgQuery__Node *n = wc->ctes[i];
        if (n->node_case != PG_QUERY__NODE__NODE_COMMON_TABLE_EXPR)
            continue;
        const PgQuery__CommonTableExpr *c = n->common_table_expr;
        if (sc->nctes == sc->ccap) {
            sc->ccap = sc->ccap ? sc->ccap * 2 : 4;
            sc->ctes = mr_xrealloc(sc->ctes, sc->ccap * sizeof *sc->ctes);
        }
        /* A recursive CTE sees itself: known by name, its columns opaque while it is read. */
        struct cte *self = &sc->ctes[sc->nctes++];
        *self = (struct cte){c->ctename, {.opaque = true}};
        struct outcols out = {0};
        const PgQuery__SelectStmt *q =
            c->ctequery && c->ctequery->node_case == PG_QUERY__NODE__NODE_SELECT_STMT
                ? c->ctequery->select_stmt
                : NULL;
        if (q && wc->recursive && q->op == PG_QUERY__SET_OPERATION__SETOP_UNION && q->larg) {
            /* The first branch names the columns; the recursive one then reads them. */
            struct outcols right = {0};
            walk_select(w, sc, q->larg, &out);
            self = &sc->ctes[sc->nctes - 1];
            self->cols.opaque = false;
            copy_cols(&self->cols, &out);
            rename_cols(&self->cols, c->aliascolnames, c->n_aliascolnames);
            walk_select(w, sc, q->rarg, &right);
            free(right.v);
            self = &sc->ctes[sc->nctes - 1];
            free(self->cols.v);
        } else if (q)
            walk_select(w, sc, q, &out);
        else if (c->ctequery) {
            out.opaque = true;
            walk_node(w, sc, c->ctequery); /* WITH x AS (INSERT … RETURNING …) */
        }
        self = &sc->ctes[sc->nctes - 1];
        self->cols = out;
        rename_cols(&self->cols, c->aliascolnames, c->n_aliascolnames);
    }
}

/* t.* or * in a target list: every column of those FROM items. */
static void expand_star(struct walk *w, struct scope *sc, const PgQuery__ColumnRef *cr,
                        struct outcols *out)
{
    const char *qual = cr->n_fields >= 2 ? str_of(cr->fields[cr->n_fields - 2]) : NULL;
    for (size_t i = 0; i < sc->nrels; i++) {
        const struct rel *r = &sc->rels[i];
        if (qual && (!r->alias || !sql_name_eq(w->dialect, r->alias, qual)))
            continue;
        if (!rel_knows_columns(r)) {
            out->opaque = true;
            continue;
        }
        if (r->base)
            for (size_t c = 0; c < w->s->tables[r->table].ncolumns; c++)
                outcols_push(out, w->s->tables[r->table].columns[c].name, r->table, (long)c, NULL);
        else
            for (size_t c = 0; c < r->cols.n; c++)
                outcols_push(out, r->cols.v[c].name, r->cols.v[c].table, r->cols.v[c].col,
                             r->cols.v[c].tname);
    }
    if (qual && !find_rel(w, sc, NULL, qual) && strict(w))
        fail_at(w, cr->location, MR_SQL_DIAG_UNKNOWN_TABLE, qual,
                "%s is not a table or alias of the query%s", qual, NULL);
}

static void target_list(struct walk *w, struct scope *sc, PgQuery__Node **v, size_t n,
                        struct outcols *out)
{
    for (size_t i = 0; i < n && !failed(w); i++) {
        if (v[i]->node_case != PG_QUERY__NODE__NODE_RES_TARGET)
            continue;
        const PgQuery__ResTarget *rt = v[i]->res_target;
        const PgQuery__ColumnRef *cr = as_colref(rt->val);
        bool star = cr && cr->n_fields &&
                    cr->fields[cr->n_fields - 1]->node_case == PG_QUERY__NODE__NODE_A_STAR;
        if (star) {
            expand_star(w, sc, cr, out);
            continue;
        }
        if (cr) {
            struct resolved r = resolve(w, sc, cr);
            record(w, &r);
            const char *name = nonempty(rt->name) ? rt->name : str_of(cr->fields[cr->n_fields - 1]);
            outcols_push(out, name ? name : "?column?", r.found ? r.table : -1,
                         r.found ? r.col : -1, r.found && !w->s ? r.tname : NULL);
            continue;
        }
        walk_node(w, sc, rt->val);
        outcols_push(out, nonempty(rt->name) ? rt->name : "?column?", -1, -1, NULL);
    }
}

static void walk_select(struct walk *w, struct scope *parent, const PgQuery__SelectStmt *st,
                        struct outcols *out)
{
    if (!st || failed(w))
        return;
    struct scope sc = {.parent = parent, .select = st};
    add_ctes(w, &sc, st->with_clause);
    if (st->op != PG_QUERY__SET_OPERATION__SETOP_NONE &&
        st->op != PG_QUERY__SET_OPERATION__SET_OPERATION_UNDEFINED) {
        /* UNION / INTERSECT / EXCEPT: the left branch names the columns. */
        struct outcols right = {0};
        walk_select(w, &sc, st->larg, out);
        walk_select(w, &sc, st->rarg, &right);
        free(right.v);
        sc.select = NULL;
    } else {
        for (size_t i = 0; i < st->n_from_clause; i++)
            add_from(w, &sc, st->from_clause[i]);
        target_list(w, &sc, st->target_list, st->n_target_list, out);
        if (st->n_values_lists)
            out->opaque = true; /* VALUES (…): column1, column2, … of no table */
        walk_node(w, &sc, st->where_clause);
        for (size_t i = 0; i < st->n_group_clause; i++)
            walk_node(w, &sc, st->group_clause[i]);
        walk_node(w, &sc, st->having_clause);
        for (size_t i = 0; i < st->n_window_clause; i++)
            walk_node(w, &sc, st->window_clause[i]);
        for (size_t i = 0; i < st->n_distinct_clause; i++)
            walk_node(w, &sc, st->distinct_clause[i]);
        for (size_t i = 0; i < st->n_values_lists; i++)
            walk_node(w, &sc, st->values_lists[i]);
    }
    for (size_t i = 0; i < st->n_sort_clause; i++)
        walk_node(w, &sc, st->sort_clause[i]);
    walk_node(w, &sc, st->limit_offset);
    walk_node(w, &sc, st->limit_count);
    scope_free(&sc);
}

/* INSERT, UPDATE, DELETE: their target table is a FROM item too. */
static void walk_modify(struct walk *w, const PgQuery__Node *n)
{
    struct scope sc = {0};
    const PgQuery__RangeVar *rel = NULL;
    switch (n->node_case) {
    case PG_QUERY__NODE__NODE_INSERT_STMT: {
        const PgQuery__InsertStmt *s = n->insert_stmt;
        add_ctes(w, &sc, s->with_clause);
        rel = s->relation;
        add_range_var(w, &sc, rel);
        for (size_t i = 0; i < s->n_cols && !failed(w); i++) {
            const PgQuery__ResTarget *rt = s->cols[i]->res_target;
            struct resolved r = {0};
            if (rel_column(w, &sc.rels[0], rt->name, &r))
                record(w, &r);
            else if (strict(w) && sc.rels[0].table >= 0)
                fail_at(w, rt->location, MR_SQL_DIAG_UNKNOWN_COLUMN, rt->name,
                        "column %s of the inserted table does not exist%s", rt->name, NULL);
        }
        /* The inserted rows' SELECT does not see the target table. */
        struct scope outer = {.ctes = sc.ctes, .nctes = sc.nctes};
        walk_node(w, &outer, s->select_stmt);
        struct outcols out = {0};
        target_list(w, &sc, s->returning_list, s->n_returning_list, &out);
        free(out.v);
        break;
    }
    case PG_QUERY__NODE__NODE_UPDATE_STMT: {
        const PgQuery__UpdateStmt *s = n->update_stmt;
        add_ctes(w, &sc, s->with_clause);
        add_range_var(w, &sc, s->relation);
        for (size_t i = 0; i < s->n_from_clause; i++)
            add_from(w, &sc, s->from_clause[i]);
        for (size_t i = 0; i < s->n_target_list && !failed(w); i++) {
            const PgQuery__ResTarget *rt = s->target_list[i]->res_target;
            struct resolved r = {0};
            if (rel_column(w, &sc.rels[0], rt->name, &r))
                record(w, &r);
            else if (strict(w) && sc.rels[0].table >= 0)
                fail_at(w, rt->location, MR_SQL_DIAG_UNKNOWN_COLUMN, rt->name,
                        "column %s of the updated table does not exist%s", rt->name, NULL);
            walk_node(w, &sc, rt->val);
        }
        walk_node(w, &sc, s->where_clause);
        struct outcols out = {0};
        target_list(w, &sc, s->returning_list, s->n_returning_list, &out);
        free(out.v);
        break;
    }
    case PG_QUERY__NODE__NODE_DELETE_STMT: {
        const PgQuery__DeleteStmt *s = n->delete_stmt;
        add_ctes(w, &sc, s->with_clause);
        add_range_var(w, &sc, s->relation);
        for (size_t i = 0; i < s->n_using_clause; i++)
            add_from(w, &sc, s->using_clause[i]);
        walk_node(w, &sc, s->where_clause);
        struct outcols out = {0};
        target_list(w, &sc, s->returning_list, s->n_returning_list, &out);
        free(out.v);
        break;
    }
    default:
        walk_node(w, &sc, n);
    }
    scope_free(&sc);
}

int sql_pg_analyze(struct sqlacc *acc, const char *sql, size_t len, char *out_fingerprint,
                   struct mr_sql_diag *diag, struct mr_err *err)
{
    (void)len;
    int rc;
    PgQuery__ParseResult *tree = parse(sql, "SQL does not parse", diag, err, &rc);
    if (!tree)
        return rc;
    if (tree->n_stmts != 1 || !tree->stmts[0]->stmt) {
        rc = sql_fail(diag, err, MR_EVALIDATION, MR_SQL_DIAG_STATEMENT, "", 0, 0,
                      "an example is one SQL statement; this has %zu", tree->n_stmts);
        goto out;
    }
    struct walk w = {.acc = acc,
                     .s = acc->schema,
                     .dialect = acc->dialect,
                     .text = sql,
                     .diag = diag,
                     .err = err};
    walk_modify(&w, tree->stmts[0]->stmt);
    if ((rc = w.rc))
        goto out;
    if (out_fingerprint) {
        PgQueryFingerprintResult f = pg_query_fingerprint(sql);
        if (f.error)
            rc = parse_error(sql, f.error, "SQL does not parse", diag, err);
        else
            snprintf(out_fingerprint, 17, "%s", f.fingerprint_str);
        pg_query_free_fingerprint_result(f);
    }
out:
    pg_query__parse_result__free_unpacked(tree, NULL);
    return rc;
}
