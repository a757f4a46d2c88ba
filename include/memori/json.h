/*
 * json.h — the few JSON operations below the API layer needs: merging
 * metadata objects (DESIGN.md §3: "metadata updates merge keys") and
 * printing stored JSON compactly.
 */
#ifndef MEMORI_JSON_H
#define MEMORI_JSON_H

/*
 * Shallow merge of two JSON object texts, as Python's {**base, **patch}:
 * keys of patch replace those of base, others stay. Returns a new compact
 * text the caller frees, or NULL when either input is not a JSON object.
 */
char *mr_json_merge_objects(const char *base, const char *patch);

/*
 * The compact form of a JSON text (no spaces; PostgreSQL's JSONB prints
 * "{\"k\": 1}"), so both stores return the same text. A new string the
 * caller frees, or NULL when text is not JSON.
 */
char *mr_json_compact(const char *text);

#endif
