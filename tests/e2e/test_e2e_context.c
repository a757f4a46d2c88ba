/*
 * POST /api/context end to end (DESIGN.md §10, issue 17): the real
 * `memori serve` over HTTP on SQLite, or PostgreSQL with
 * MEMORI_TEST_BACKEND=postgres.
 *
 * The schema is generated here, written for this test: a hospital's core
 * (patients, wards, physicians, drugs, invoices...) and 56 filler tables in
 * areas of their own vocabulary (fleet, payroll, canteen, ...), 66 tables
 * in all. Patients and physicians are linked only through lnk_pt_ph, a
 * bridge whose name and columns share no word with any question: a query
 * about physicians and patients needs it.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_client.h"
#include "memori/auth.h"
#include "memori/util.h"
#include "test.h"

#define SECRET "e2e-secret-0123456789abcdef0123456789"
#define DS 11

static struct server srv;
static struct mr_auth auth = {true, true, SECRET, "HS256", "default", NULL};

static bool start_with(char *const *env)
{
    return server_start_fresh(&srv, "context", env) == 0;
}

static void stop(void)
{
    server_stop_checked(&srv);
}

/* ------------------------------------------------------------ the schema */

static json_t *column(const char *name, const char *type, const char *description, bool pk)
{
    json_t *c = json_pack("{s:s,s:s}", "name", name, "type", type);
    if (description)
        json_object_set_new(c, "description", json_string(description));
    if (pk)
        json_object_set_new(c, "primary_key", json_true());
    return c;
}

static json_t *fkey(const char *col, const char *table, const char *ref)
{
    return json_pack("{s:[s],s:{s:s,s:[s]}}", "columns", col, "references", "table", table,
                     "columns", ref);
}

/* A table: name, description, then (name, type, description) triples, the first the key. */
static json_t *table(json_t *tables, const char *name, const char *description)
{
    json_t *t = json_pack("{s:s,s:[],s:[]}", "name", name, "columns", "foreign_keys");
    if (description)
        json_object_set_new(t, "description", json_string(description));
    json_array_append_new(tables, t);
    return t;
}

static void col(json_t *t, const char *name, const char *type, const char *description, bool pk)
{
    json_array_append_new(json_object_get(t, "columns"), column(name, type, description, pk));
}

static void fk(json_t *t, const char *c, const char *table_name, const char *ref)
{
    json_array_append_new(json_object_get(t, "foreign_keys"), fkey(c, table_name, ref));
}

/* The filler areas: each its own words, none a question's. */
static const char *const AREAS[] = {"fleet",   "payroll", "canteen", "laundry",
                                    "parking", "archive", "locker"};
static const char *const PARTS[] = {"unit", "slot", "batch", "crew", "plan", "log", "tag", "zone"};

static char *schema_body(void)
{
    json_t *tables = json_array(), *t;
    t = table(tables, "patients", "people admitted for treatment");
    col(t, "id", "integer", NULL, true);
    col(t, "full_name", "text", NULL, false);
    col(t, "birth_date", "date", NULL, false);
    col(t, "ward_id", "integer", NULL, false);
    fk(t, "ward_id", "wards", "id");
    t = table(tables, "wards", "hospital wards");
    col(t, "id", "integer", NULL, true);
    col(t, "ward_name", "text", "cardiology, oncology, maternity, ...", false);
    col(t, "floor", "integer", NULL, false);
    t = table(tables, "physicians", "doctors on the staff");
    col(t, "id", "integer", NULL, true);
    col(t, "physician_name", "text", NULL, false);
    col(t, "specialty", "text", NULL, false);
    /* The bridge: no word of it is in any question. */
    t = table(tables, "lnk_pt_ph", NULL);
    col(t, "pt_ref", "integer", NULL, true);
    col(t, "ph_ref", "integer", NULL, true);
    col(t, "since_dt", "date", NULL, false);
    fk(t, "pt_ref", "patients", "id");
    fk(t, "ph_ref", "physicians", "id");
    t = table(tables, "drugs", "medicines the pharmacy stocks");
    col(t, "id", "integer", NULL, true);
    col(t, "drug_name", "text", NULL, false);
    col(t, "manufacturer", "text", NULL, false);
    t = table(tables, "prescriptions", "medicines prescribed to a patient");
    col(t, "id", "integer", NULL, true);
    col(t, "patient_id", "integer", NULL, false);
    col(t, "drug_id", "integer", NULL, false);
    col(t, "dose_mg", "numeric", NULL, false);
    fk(t, "patient_id", "patients", "id");
    fk(t, "drug_id", "drugs", "id");
    t = table(tables, "invoices", "bills sent for a stay");
    col(t, "id", "integer", NULL, true);
    col(t, "patient_id", "integer", NULL, false);
    col(t, "amount", "numeric", "total in EUR", false);
    col(t, "issued_on", "date", NULL, false);
    fk(t, "patient_id", "patients", "id");
    t = table(tables, "insurers", "health insurance companies");
    col(t, "id", "integer", NULL, true);
    col(t, "insurer_name", "text", NULL, false);
    t = table(tables, "claims", "what an insurer was asked to pay for an invoice");
    col(t, "id", "integer", NULL, true);
    col(t, "invoice_id", "integer", NULL, false);
    col(t, "insurer_id", "integer", NULL, false);
    col(t, "claimed", "numeric", NULL, false);
    fk(t, "invoice_id", "invoices", "id");
    fk(t, "insurer_id", "insurers", "id");
    t = table(tables, "rooms", "rooms of a ward");
    col(t, "id", "integer", NULL, true);
    col(t, "ward_id", "integer", NULL, false);
    col(t, "beds", "integer", NULL, false);
    fk(t, "ward_id", "wards", "id");

    char name[64], prev[64], key[64];
    for (size_t a = 0; a < sizeof AREAS / sizeof *AREAS; a++)
        for (size_t p = 0; p < sizeof PARTS / sizeof *PARTS; p++) {
            snprintf(name, sizeof name, "%s_%s", AREAS[a], PARTS[p]);
            t = table(tables, name, NULL);
            snprintf(key, sizeof key, "%s_%s_key", AREAS[a], PARTS[p]);
            col(t, key, "integer", NULL, true);
            snprintf(key, sizeof key, "%s_%s_code", AREAS[a], PARTS[p]);
            col(t, key, "text", NULL, false);
            if (p > 0) {
                snprintf(key, sizeof key, "%s_%s_key", AREAS[a], PARTS[p - 1]);
                col(t, key, "integer", NULL, false);
                fk(t, key, prev, key);
            }
            snprintf(prev, sizeof prev, "%s", name);
        }
    json_t *o = json_pack("{s:s,s:o}", "dialect", "postgresql", "tables", tables);
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

/* ---------------------------------------------------------------- helpers */

static void put_schema(const char *user, const char *tok, struct resp *r)
{
    char path[96], *body = schema_body();
    snprintf(path, sizeof path, "/api/data-sources/%d/schema", DS);
    if (tok)
        http_auth(&srv, "PUT", path, tok, body, SIZE_MAX, r);
    else
        http(&srv, "PUT", path, user, body, SIZE_MAX, r);
    free(body);
}

static void context(const char *user, const char *body, struct resp *r)
{
    http(&srv, "POST", "/api/context", user, body, SIZE_MAX, r);
}

/* The index of the table called name in the answer's tables, or -1. */
static long table_at(const json_t *o, const char *name)
{
    json_t *tables = json_object_get(o, "tables");
    for (size_t i = 0; i < json_array_size(tables); i++)
        if (strcmp(jstr(json_array_get(tables, i), "name"), name) == 0)
            return (long)i;
    return -1;
}

static bool has_join(const json_t *o, const char *a, const char *b)
{
    json_t *joins = json_object_get(o, "joins");
    for (size_t i = 0; i < json_array_size(joins); i++) {
        const char *f = jstr(json_array_get(joins, i), "from"),
                   *t = jstr(json_array_get(joins, i), "to");
        if ((strcmp(f, a) == 0 && strcmp(t, b) == 0) || (strcmp(f, b) == 0 && strcmp(t, a) == 0))
            return true;
    }
    return false;
}

/* Creates a memory for user; its memory_id into out (37 bytes) when not NULL. */
static bool remember(const char *user, const char *conv, const char *type, const char *content,
                     const char *metadata, char *out)
{
    json_t *o = json_pack("{s:s,s:s,s:s}", "content", content, "memory_type", type,
                          "conversation_id", conv);
    if (metadata)
        json_object_set_new(o, "metadata", json_loads(metadata, 0, NULL));
    char *body = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    struct resp r;
    http(&srv, "POST", "/api/memories", user, body, SIZE_MAX, &r);
    free(body);
    bool ok = r.status == 201;
    if (ok && out)
        snprintf(out, 37, "%s", jstr(r.json, "memory_id"));
    resp_free(&r);
    return ok;
}

static bool new_conversation(const char *user, long ds, char out[37])
{
    char body[96];
    snprintf(body, sizeof body, "{\"data_source_id\":%ld}", ds);
    struct resp r;
    http(&srv, "POST", "/api/conversations", user, body, SIZE_MAX, &r);
    bool ok = r.status == 201 && jstr(r.json, "conversation_id");
    if (ok)
        snprintf(out, 37, "%s", jstr(r.json, "conversation_id"));
    resp_free(&r);
    return ok;
}

static bool post_example(const char *user, const char *question, const char *sql)
{
    json_t *o = json_pack("{s:s,s:s,s:i}", "question", question, "sql", sql, "data_source_id", DS);
    char *body = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    struct resp r;
    http(&srv, "POST", "/api/examples", user, body, SIZE_MAX, &r);
    free(body);
    bool ok = r.status == 201 || r.status == 200;
    resp_free(&r);
    return ok;
}

/* ------------------------------------------------------------------ tests */

TEST(test_context_bridge_table_joins_question_tables)
{
    CHECK(start_with(NULL));
    struct resp r;
    put_schema("alice", NULL, &r);
    CHECK_INT(r.status, 200);
    CHECK(jint(r.json, "tables") >= 60);
    resp_free(&r);
    context("alice",
            "{\"question\":\"which physicians treat the patients of each ward\","
            "\"data_source_id\":11,\"max_tables\":6}",
            &r);
    CHECK_INT(r.status, 200);
    CHECK_INT(jint(r.json, "data_source_id"), DS);
    CHECK(table_at(r.json, "patients") >= 0);
    CHECK(table_at(r.json, "physicians") >= 0);
    long bridge = table_at(r.json, "lnk_pt_ph");
    CHECK(bridge >= 0);
    CHECK(has_join(r.json, "lnk_pt_ph.pt_ref", "patients.id"));
    CHECK(has_join(r.json, "lnk_pt_ph.ph_ref", "physicians.id"));
    json_t *b = json_array_get(json_object_get(r.json, "tables"), (size_t)bridge);
    CHECK_STR(jstr(b, "reason"), "join");
    CHECK(jstr(b, "memory_id") != NULL);
    CHECK(json_array_size(json_object_get(r.json, "tables")) <= 6);
    /* The prompt draws the bridge with its join conditions. */
    const char *prompt = jstr(r.json, "prompt");
    CHECK(strstr(prompt, "CREATE TABLE lnk_pt_ph (") != NULL);
    CHECK(strstr(prompt, "-- join: lnk_pt_ph.pt_ref = patients.id") != NULL);
    CHECK(jint(r.json, "token_estimate") <= 2000);
    CHECK(!json_is_true(json_object_get(r.json, "truncated")));
    CHECK(json_object_get(r.json, "detail") == NULL);
    resp_free(&r);
    stop();
}

TEST(test_context_examples_shift_tables)
{
    CHECK(start_with(NULL));
    struct resp r;
    put_schema("alice", NULL, &r);
    CHECK_INT(r.status, 200);
    resp_free(&r);
    const char *q = "{\"question\":\"where can visitors leave their cars\",\"data_source_id\":11,"
                    "\"max_tables\":4}";
    context("alice", q, &r);
    CHECK_INT(r.status, 200);
    CHECK(table_at(r.json, "parking_slot") < 0);
    CHECK(table_at(r.json, "parking_unit") < 0);
    CHECK_INT(json_array_size(json_object_get(r.json, "examples")), 0);
    resp_free(&r);
    /* Bob's example is his: alice's context does not change. */
    CHECK(post_example("bob", "where can visitors leave their cars",
                       "SELECT s.parking_slot_code, u.parking_unit_code FROM parking_slot s JOIN "
                       "parking_unit u ON u.parking_unit_key = s.parking_unit_key"));
    context("alice", q, &r);
    CHECK(table_at(r.json, "parking_slot") < 0);
    resp_free(&r);
    CHECK(post_example("alice", "where can visitors leave their cars",
                       "SELECT s.parking_slot_code, u.parking_unit_code FROM parking_slot s JOIN "
                       "parking_unit u ON u.parking_unit_key = s.parking_unit_key"));
    context("alice", q, &r);
    CHECK_INT(r.status, 200);
    CHECK(table_at(r.json, "parking_slot") >= 0);
    json_t *ex = json_object_get(r.json, "examples");
    CHECK_INT(json_array_size(ex), 1);
    CHECK(strstr(jstr(json_array_get(ex, 0), "sql"), "FROM parking_slot s") != NULL);
    CHECK(strstr(jstr(r.json, "prompt"), "## Examples\nQ: where can visitors leave their cars\n") !=
          NULL);
    resp_free(&r);
    /* max_examples 0: no example, and no evidence from one. */
    context("alice",
            "{\"question\":\"where can visitors leave their "
            "cars\",\"data_source_id\":11,\"max_tables\":4,"
            "\"max_examples\":0}",
            &r);
    CHECK_INT(json_array_size(json_object_get(r.json, "examples")), 0);
    CHECK(table_at(r.json, "parking_slot") < 0);
    resp_free(&r);
    stop();
}

/* A join only an example makes: drawn at once, marked as learned, preferred after declared ones. */
static bool join_source(const json_t *o, const char *a, const char *b, const char *source)
{
    json_t *joins = json_object_get(o, "joins");
    for (size_t i = 0; i < json_array_size(joins); i++) {
        json_t *j = json_array_get(joins, i);
        const char *f = jstr(j, "from"), *t = jstr(j, "to");
        if (((strcmp(f, a) == 0 && strcmp(t, b) == 0) ||
             (strcmp(f, b) == 0 && strcmp(t, a) == 0)) &&
            strcmp(jstr(j, "source"), source) == 0)
            return true;
    }
    return false;
}

TEST(test_context_join_taught_by_example)
{
    CHECK(start_with(NULL));
    struct resp r;
    put_schema("alice", NULL, &r);
    CHECK_INT(r.status, 200);
    resp_free(&r);
    const char *q = "{\"question\":\"drugs whose manufacturer is also an insurer\","
                    "\"data_source_id\":11}";
    context("alice", q, &r); /* builds and caches the schema's index */
    CHECK_INT(r.status, 200);
    CHECK(table_at(r.json, "drugs") >= 0);
    CHECK(!join_source(r.json, "drugs.manufacturer", "insurers.insurer_name", "example"));
    resp_free(&r);
    CHECK(post_example("alice", "drugs made by an insurer",
                       "SELECT d.drug_name FROM drugs d JOIN insurers s ON s.insurer_name = "
                       "d.manufacturer"));
    context("alice", q, &r);
    CHECK_INT(r.status, 200);
    CHECK(table_at(r.json, "insurers") >= 0);
    CHECK(join_source(r.json, "drugs.manufacturer", "insurers.insurer_name", "example"));
    CHECK(strstr(jstr(r.json, "prompt"), "(learned from examples)") != NULL);
    resp_free(&r);
    stop();
}

TEST(test_context_rules_recent_budget_and_determinism)
{
    CHECK(start_with(NULL));
    struct resp r;
    put_schema("alice", NULL, &r);
    CHECK_INT(r.status, 200);
    resp_free(&r);
    char conv[37], pinned[37], plain[37], turn[37], old_turn[37];
    CHECK(new_conversation("alice", DS, conv));
    CHECK(remember("alice", conv, "rule", "Never show a patient's full name.", "{\"pinned\":true}",
                   pinned));
    CHECK(remember("alice", conv, "rule", "Ward names are lower case in the data.", NULL, plain));
    for (int i = 0; i < 12; i++) {
        char text[128];
        snprintf(text, sizeof text, "Prefer window functions over self joins, variant %d.", i);
        CHECK(remember("alice", conv, "rule", text, NULL, NULL));
    }
    CHECK(remember("alice", conv, "short_term", "The user asked about cardiology last week.", NULL,
                   old_turn));
    CHECK(remember("alice", conv, "long_term", "Not a turn: long-term.", NULL, NULL));
    CHECK(remember("alice", conv, "short_term", "Then about the physicians of oncology.", NULL,
                   turn));

    /* data_source_id comes from the conversation; recent turns latest first. */
    char body[512];
    snprintf(body, sizeof body,
             "{\"question\":\"which physicians treat the patients of each ward\","
             "\"conversation_id\":\"%s\",\"max_rules\":3}",
             conv);
    context("alice", body, &r);
    CHECK_INT(r.status, 200);
    CHECK_INT(jint(r.json, "data_source_id"), DS);
    json_t *rules = json_object_get(r.json, "rules");
    CHECK_INT(json_array_size(rules), 3);
    CHECK_STR(jstr(json_array_get(rules, 0), "memory_id"), pinned);
    CHECK(json_is_true(json_object_get(json_array_get(rules, 0), "pinned")));
    json_t *recent = json_object_get(r.json, "recent");
    CHECK_INT(json_array_size(recent), 2);
    CHECK_STR(jstr(json_array_get(recent, 0), "memory_id"), turn);
    CHECK_STR(jstr(json_array_get(recent, 1), "memory_id"), old_turn);
    CHECK_STR(jstr(json_array_get(recent, 0), "memory_type"), "short_term");
    CHECK(jstr(json_array_get(recent, 0), "created_at") != NULL);
    CHECK(strstr(jstr(r.json, "prompt"), "## Rules\n- Never show a patient's full name.\n") ==
          jstr(r.json, "prompt"));
    char *first = mr_xstrdup(r.body);
    resp_free(&r);

    /* The same request again: the same bytes. */
    context("alice", body, &r);
    CHECK_STR(r.body, first);
    free(first);
    resp_free(&r);

    /* Returned items count as accessed, as in search. */
    char path[96];
    snprintf(path, sizeof path, "/api/memories/%s", pinned);
    http(&srv, "GET", path, "alice", NULL, 0, &r);
    CHECK_INT(jint(r.json, "access_count"), 2);
    resp_free(&r);

    /* The smallest budget: the pinned rule is there, other things were cut. */
    snprintf(body, sizeof body,
             "{\"question\":\"which physicians treat the patients of each ward\","
             "\"conversation_id\":\"%s\",\"token_budget\":100}",
             conv);
    context("alice", body, &r);
    CHECK_INT(r.status, 200);
    CHECK(json_is_true(json_object_get(r.json, "truncated")));
    CHECK(jint(r.json, "token_estimate") <= 100);
    rules = json_object_get(r.json, "rules");
    CHECK(json_array_size(rules) >= 1);
    CHECK_STR(jstr(json_array_get(rules, 0), "memory_id"), pinned);
    CHECK(strstr(jstr(r.json, "prompt"), "Never show a patient's full name.") != NULL);
    resp_free(&r);

    /* Dave's only rule is pinned and longer than the budget: nothing fits, still a 200. */
    char dconv[37], huge[1200];
    CHECK(new_conversation("dave", DS, dconv));
    size_t k = 0;
    while (k + 40 < sizeof huge)
        k +=
            (size_t)snprintf(huge + k, sizeof huge - k, "%s", "every 1 of these 9 words, counts! ");
    CHECK(remember("dave", dconv, "rule", huge, "{\"pinned\":true}", NULL));
    snprintf(body, sizeof body,
             "{\"question\":\"which physicians treat the patients of each ward\","
             "\"conversation_id\":\"%s\",\"token_budget\":100}",
             dconv);
    context("dave", body, &r);
    CHECK_INT(r.status, 200);
    CHECK(json_is_true(json_object_get(r.json, "truncated")));
    CHECK_STR(jstr(r.json, "prompt"), "");
    CHECK_INT(jint(r.json, "token_estimate"), 0);
    CHECK_INT(json_array_size(json_object_get(r.json, "tables")), 0);
    CHECK_INT(json_array_size(json_object_get(r.json, "rules")), 0);
    resp_free(&r);
    stop();
}

TEST(test_context_bad_input)
{
    CHECK(start_with(NULL));
    struct resp r;
    static const struct {
        const char *body, *type, *loc;
    } bad[] = {
        {"{}", "missing", "body.question"},
        {"{\"question\":\"\"}", "string_too_short", "body.question"},
        {"{\"question\":7}", "string_type", "body.question"},
        {"{\"question\":\"q\",\"token_budget\":99}", "greater_than_equal", "body.token_budget"},
        {"{\"question\":\"q\",\"token_budget\":100001}", "less_than_equal", "body.token_budget"},
        {"{\"question\":\"q\",\"token_budget\":\"lots\"}", "int_parsing", "body.token_budget"},
        {"{\"question\":\"q\",\"token_budget\":null}", "int_type", "body.token_budget"},
        {"{\"question\":\"q\",\"max_tables\":0}", "greater_than_equal", "body.max_tables"},
        {"{\"question\":\"q\",\"max_tables\":51}", "less_than_equal", "body.max_tables"},
        {"{\"question\":\"q\",\"max_tables\":2.5}", "int_from_float", "body.max_tables"},
        {"{\"question\":\"q\",\"max_examples\":-1}", "greater_than_equal", "body.max_examples"},
        {"{\"question\":\"q\",\"max_examples\":21}", "less_than_equal", "body.max_examples"},
        {"{\"question\":\"q\",\"max_rules\":101}", "less_than_equal", "body.max_rules"},
        {"{\"question\":\"q\",\"max_rules\":[1]}", "int_type", "body.max_rules"},
        {"{\"question\":\"q\",\"data_source_id\":0}", "greater_than_equal", "body.data_source_id"},
        {"{\"question\":\"q\",\"data_source_id\":\"x\"}", "int_parsing", "body.data_source_id"},
        {"{\"question\":\"q\",\"conversation_id\":\"nope\"}", "uuid_parsing",
         "body.conversation_id"},
        {"[1]", "model_attributes_type", "body"},
        {"{\"question\":", "json_invalid", "body.12"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        context("alice", bad[i].body, &r);
        char type[64], loc[128];
        CHECK_INT(r.status, 422);
        CHECK(first_error(&r, type, sizeof type, loc, sizeof loc));
        CHECK_STR(type, bad[i].type);
        if (strcmp(bad[i].type, "json_invalid") != 0)
            CHECK_STR(loc, bad[i].loc);
        resp_free(&r);
    }
    /* A question over 1000 characters. */
    char longq[1100];
    memset(longq, 'a', sizeof longq);
    memcpy(longq, "{\"question\":\"", 13);
    memcpy(longq + 13 + 1001, "\"}", 3);
    context("alice", longq, &r);
    CHECK_INT(r.status, 422);
    resp_free(&r);
    /* Not JSON by its Content-Type is FastAPI's 422 too (api_json_body) — skipped here. */

    /* Unknown fields are ignored, as search ignores them; defaults apply. */
    context("alice", "{\"question\":\"patients\",\"data_source_id\":11,\"colour\":\"red\"}", &r);
    CHECK_INT(r.status, 200);
    /* No schema for the source: 200, no tables, a note. */
    CHECK_INT(json_array_size(json_object_get(r.json, "tables")), 0);
    CHECK(strstr(jstr(r.json, "detail"), "no schema") != NULL);
    CHECK(json_is_false(json_object_get(r.json, "truncated")));
    resp_free(&r);
    /* Its examples still come (a source without a schema may have them). */
    CHECK(post_example("alice", "patients per ward", "SELECT count(*) FROM patients"));
    context("alice", "{\"question\":\"patients per ward\",\"data_source_id\":11}", &r);
    CHECK_INT(r.status, 200);
    CHECK_INT(json_array_size(json_object_get(r.json, "tables")), 0);
    CHECK_INT(json_array_size(json_object_get(r.json, "examples")), 1);
    CHECK(jstr(r.json, "detail") != NULL);
    resp_free(&r);
    /* No data source at all: the same, with its own note. */
    context("alice", "{\"question\":\"patients\"}", &r);
    CHECK_INT(r.status, 200);
    CHECK(json_is_null(json_object_get(r.json, "data_source_id")));
    CHECK(strstr(jstr(r.json, "detail"), "No data source") != NULL);
    resp_free(&r);
    /* An unknown conversation, and another user's: 404. */
    context("alice",
            "{\"question\":\"q\",\"conversation_id\":\"6f1e0a8c-2b1d-4c3e-9f00-0123456789ab\"}",
            &r);
    CHECK_INT(r.status, 404);
    resp_free(&r);
    char conv[37], body[256];
    CHECK(new_conversation("bob", DS, conv));
    snprintf(body, sizeof body, "{\"question\":\"q\",\"conversation_id\":\"%s\"}", conv);
    context("alice", body, &r);
    CHECK_INT(r.status, 404);
    resp_free(&r);
    context("bob", body, &r);
    CHECK_INT(r.status, 200);
    resp_free(&r);
    stop();
}

/* The schema changes under a cached index: the next context sees the new one. */
TEST(test_context_follows_reimport_and_delete)
{
    CHECK(start_with(NULL));
    struct resp r;
    put_schema("alice", NULL, &r);
    CHECK_INT(r.status, 200);
    resp_free(&r);
    const char *q = "{\"question\":\"patients and their physicians\",\"data_source_id\":11}";
    context("alice", q, &r);
    CHECK(table_at(r.json, "lnk_pt_ph") >= 0);
    resp_free(&r);
    /* Re-import without the bridge. */
    char path[96];
    snprintf(path, sizeof path, "/api/data-sources/%d/schema", DS);
    http(
        &srv, "PUT", path, "alice",
        "{\"tables\":[{\"name\":\"patients\",\"columns\":[{\"name\":\"id\",\"primary_key\":true}]},"
        "{\"name\":\"physicians\",\"columns\":[{\"name\":\"id\",\"primary_key\":true}]}]}",
        SIZE_MAX, &r);
    CHECK_INT(r.status, 200);
    resp_free(&r);
    context("alice", q, &r);
    CHECK_INT(r.status, 200);
    CHECK(table_at(r.json, "lnk_pt_ph") < 0);
    CHECK(table_at(r.json, "patients") >= 0);
    CHECK_INT(json_array_size(json_object_get(r.json, "joins")), 0);
    resp_free(&r);
    http(&srv, "DELETE", path, "alice", NULL, 0, &r);
    CHECK_INT(r.status, 204);
    resp_free(&r);
    context("alice", q, &r);
    CHECK_INT(r.status, 200);
    CHECK_INT(json_array_size(json_object_get(r.json, "tables")), 0);
    CHECK(jstr(r.json, "detail") != NULL);
    resp_free(&r);
    /* Back again: new memories, new ids, served fresh. */
    put_schema("alice", NULL, &r);
    CHECK_INT(r.status, 200);
    resp_free(&r);
    context("alice", q, &r);
    long b = table_at(r.json, "lnk_pt_ph");
    CHECK(b >= 0);
    const char *id =
        jstr(json_array_get(json_object_get(r.json, "tables"), (size_t)b), "memory_id");
    char mpath[96];
    snprintf(mpath, sizeof mpath, "/api/memories/%s", id);
    struct resp m;
    http(&srv, "GET", mpath, "alice", NULL, 0, &m);
    CHECK_INT(m.status, 200);
    CHECK_STR(jstr(json_object_get(m.json, "metadata"), "name"), "lnk_pt_ph");
    resp_free(&m);
    resp_free(&r);
    stop();
}

static char *token(const char *sub, const char *tenant, bool admin)
{
    struct mr_err err;
    return mr_auth_mint(&auth, sub, tenant, admin ? "admin" : NULL, 30, &err);
}

/* Production: another tenant sees nothing; another user of the tenant sees the schema only. */
static void isolation(const char *level)
{
    char *env[] = {"ENVIRONMENT=production", "SECRET_KEY=" SECRET, (char *)level, NULL};
    auth.clock = mr_clock_system();
    CHECK(start_with(env));
    char *admin = token("root", "t1", true), *alice = token("alice", "t1", false);
    char *carol = token("carol", "t1", false), *other = token("alice", "t2", false);
    struct resp r;
    put_schema(NULL, admin, &r);
    CHECK_INT(r.status, 200);
    resp_free(&r);
    http_auth(&srv, "POST", "/api/conversations", alice, "{\"data_source_id\":11}", SIZE_MAX, &r);
    CHECK_INT(r.status, 201);
    char conv[37];
    snprintf(conv, sizeof conv, "%s", jstr(r.json, "conversation_id"));
    resp_free(&r);
    char body[512];
    snprintf(body, sizeof body,
             "{\"content\":\"Alice's rule about patients and physicians\",\"memory_type\":\"rule\","
             "\"conversation_id\":\"%s\",\"shared\":true,\"metadata\":{\"pinned\":true}}",
             conv);
    http_auth(&srv, "POST", "/api/memories", alice, body, SIZE_MAX, &r);
    CHECK_INT(r.status, 201);
    resp_free(&r);
    const char *q = "{\"question\":\"patients and their physicians\",\"data_source_id\":11}";
    http_auth(&srv, "POST", "/api/context", alice, q, SIZE_MAX, &r);
    CHECK_INT(r.status, 200);
    CHECK(table_at(r.json, "lnk_pt_ph") >= 0);
    CHECK_INT(json_array_size(json_object_get(r.json, "rules")), 1);
    resp_free(&r);
    /* Another tenant, the same user name and data source id: nothing. */
    http_auth(&srv, "POST", "/api/context", other, q, SIZE_MAX, &r);
    CHECK_INT(r.status, 200);
    CHECK_INT(json_array_size(json_object_get(r.json, "tables")), 0);
    CHECK_INT(json_array_size(json_object_get(r.json, "rules")), 0);
    CHECK(jstr(r.json, "detail") != NULL);
    resp_free(&r);
    snprintf(body, sizeof body, "{\"question\":\"q\",\"conversation_id\":\"%s\"}", conv);
    http_auth(&srv, "POST", "/api/context", other, body, SIZE_MAX, &r);
    CHECK_INT(r.status, 404);
    resp_free(&r);
    /* Carol, same tenant: the schema is tenant knowledge; alice's rule is hers unless relaxed. */
    http_auth(&srv, "POST", "/api/context", carol, q, SIZE_MAX, &r);
    CHECK_INT(r.status, 200);
    CHECK(table_at(r.json, "lnk_pt_ph") >= 0);
    bool relaxed = strstr(level, "relaxed") != NULL;
    CHECK_INT(json_array_size(json_object_get(r.json, "rules")), relaxed ? 1 : 0);
    resp_free(&r);
    free(admin);
    free(alice);
    free(carol);
    free(other);
    stop();
}

TEST(test_context_isolation_strict)
{
    isolation("TENANT_ISOLATION_LEVEL=strict");
}

TEST(test_context_isolation_relaxed)
{
    isolation("TENANT_ISOLATION_LEVEL=relaxed");
}

TEST_MAIN("e2e_context", T(test_context_bridge_table_joins_question_tables),
          T(test_context_examples_shift_tables), T(test_context_join_taught_by_example),
          T(test_context_rules_recent_budget_and_determinism), T(test_context_bad_input),
          T(test_context_follows_reimport_and_delete), T(test_context_isolation_strict),
          T(test_context_isolation_relaxed))
