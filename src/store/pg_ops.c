/*
 * pg_ops.c — the PostgreSQL store's statements and the operations of
 * store.h on them (see pg_int.h). Embeddings live in a pgvector vector(d)
 * column with an HNSW index (vector_cosine_ops), so several stateless
 * memori processes can share one database. Search runs in SQL with its
 * filters and pgvector 0.8's iterative index scan, so a filtered query
 * still fills its limit; the rows it returns are then locked FOR UPDATE in
 * id order (no deadlock between searches, nor with archival), so two
 * processes recording accesses to one memory never lose an increment.
 *
 * No rule of the domain is written here but as bound values: archival binds
 * mr_rule_archive_bounds, and search's expiry filter is the one predicate
 * that mirrors mr_rule_expired_at (commented where it stands).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg_int.h"

#define SCAN_BATCH 500

/* µs since the epoch <-> timestamptz, exactly (an int8 times 1 µs). */
#define TS_IN(x) "(timestamptz 'epoch' + (" x ")::int8 * interval '1 microsecond')"
/* The merged importance and the promotion test of P_MEM_ACCESS. */
#define PG_IMP                                                                                     \
    "least(1, round((m.importance_score + v.k * $4::float8) * 1e9::float8) / 1e9::float8)"
#define PG_PROMOTES                                                                                \
    "(v.k > 0 AND m.memory_type = $8::text AND m.access_count + v.k >= $5::int8 AND " PG_IMP       \
    " >= $6::float8)"
#define TS_OUT(c) "(extract(epoch from " c ") * 1000000)::int8"

/* The SQL reads best laid out by hand. */
/* clang-format off */
#define MEM_COLS_BUT_EMB                                                                           \
    "id, memory_id, conversation_id, user_id, tenant_id, content, memory_type, "                   \
    "importance_score, access_count, " TS_OUT("last_accessed_at") ", context_tags, "              \
    "related_entities, metadata, " TS_OUT("expires_at") ", is_archived, "                        \
    TS_OUT("created_at") ", " TS_OUT("updated_at") ", is_shared, data_source_id"
/*
 * Column 19 is the embedding (or NULL where the caller needs none), cast to
 * plain vector: a prepared statement must keep its result type when a model
 * change gives the column another dimension.
 */
#define MEM_COLS MEM_COLS_BUT_EMB ", embedding::vector"
#define CONV_COLS                                                                                  \
    "id, conversation_id, user_id, tenant_id, data_source_id, title, metadata, is_active, "        \
    TS_OUT("last_activity_at") ", " TS_OUT("created_at") ", " TS_OUT("updated_at")

/*
 * "CASE WHEN … THEN true END" around a statement's owner and filter
 * predicates (the walks, their start, the lexical filter check): the
 * planner can neither use them as index conditions nor estimate them, so
 * the rows are found by the index meant for them (the primary key; the
 * conversation index, read in order until the walk's third turn) and the
 * predicates checked on those rows only, whatever the statistics say. On
 * a table not yet analysed (a new database's first minute: each equality
 * guessed at 0.5 %), the planner otherwise walked the owner index
 * (tenant_id, user_id) and filtered the owner's whole partition once per
 * walk, or, told the owner passes one row in 80, read a conversation's
 * whole past by bitmap and sorted it: 100–300 ms per context statement at
 * 10 000 memories instead of ~1 ms, kept by the generic plan until the
 * first autoanalyze (docs/perf.md, "Plans that do not depend on the
 * statistics"). A CASE is estimated at one in two. NULL (no ELSE) fails as
 * WHERE fails it, so the rows are the same.
 */
const char *const pg_stmt_sql[P_COUNT] = {
    [P_META_GET] = "SELECT value FROM memori_meta WHERE key = $1",
    [P_META_PUT] =
        "INSERT INTO memori_meta(key, value) VALUES ($1, $2) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    [P_CONV_GET] = "SELECT " CONV_COLS " FROM memori_conversations WHERE conversation_id = $1",
    /* ON CONFLICT keeps the transaction usable: a duplicate is reported, not raised. */
    [P_CONV_INSERT] =
        "INSERT INTO memori_conversations(conversation_id, user_id, tenant_id, data_source_id, "
        "title, metadata, is_active, last_activity_at, created_at, updated_at) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, " TS_IN("$8") ", " TS_IN("$9") ", " TS_IN("$10") ") "
        "ON CONFLICT (conversation_id) DO NOTHING RETURNING id",
    [P_CONV_UPDATE] =
        "UPDATE memori_conversations SET data_source_id = $2, title = $3, metadata = $4, "
        "is_active = $5, last_activity_at = " TS_IN("$6") ", updated_at = " TS_IN("$7") " "
        "WHERE conversation_id = $1",
    [P_CONV_DELETE] = "DELETE FROM memori_conversations WHERE conversation_id = $1",
    [P_CONV_LIST] =
        "SELECT " CONV_COLS " FROM memori_conversations WHERE tenant_id = $1 AND user_id = $2 "
        "ORDER BY last_activity_at DESC, id DESC LIMIT $3 OFFSET $4",
    [P_CONV_COUNT] =
        "SELECT count(*) FROM memori_conversations WHERE tenant_id = $1 AND user_id = $2",
    [P_MEM_INSERT] =
        "INSERT INTO memori_memories(memory_id, conversation_id, user_id, tenant_id, content, "
        "memory_type, embedding, importance_score, access_count, last_accessed_at, "
        "context_tags, related_entities, metadata, expires_at, is_archived, created_at, "
        "updated_at, is_shared, data_source_id, lex_terms, lex_tfs, lex_len) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, " TS_IN("$10") ", $11, $12, $13, "
        TS_IN("$14") ", $15, " TS_IN("$16") ", " TS_IN("$17") ", $18, $19, $20, $21, $22) "
        "RETURNING id",
    [P_MEM_GET] = "SELECT " MEM_COLS " FROM memori_memories WHERE memory_id = $1",
    [P_MEM_GET_BY_ID] = "SELECT " MEM_COLS " FROM memori_memories WHERE id = $1",
    [P_MEM_UPDATE] =
        "UPDATE memori_memories SET content = $2, memory_type = $3, importance_score = $4, "
        "access_count = $5, last_accessed_at = " TS_IN("$6") ", context_tags = $7, "
        "related_entities = $8, metadata = $9, expires_at = " TS_IN("$10") ", "
        "is_archived = $11, updated_at = " TS_IN("$12") ", is_shared = $13, "
        "data_source_id = $14, lex_terms = $15, lex_tfs = $16, lex_len = $17 WHERE id = $1",
    [P_MEM_UPDATE_EMB] = "UPDATE memori_memories SET embedding = $2 WHERE id = $1",
    [P_MEM_DELETE] = "DELETE FROM memori_memories WHERE memory_id = $1",
    [P_MEM_LIST_CONV] =
        "SELECT " MEM_COLS " FROM memori_memories WHERE conversation_id = $1 "
        "ORDER BY created_at, id LIMIT $2 OFFSET $3",
    [P_MEM_COUNT_CONV] = "SELECT count(*) FROM memori_memories WHERE conversation_id = $1",
    [P_MEM_STATS] =
        "SELECT count(*), "
        "count(*) FILTER (WHERE memory_type = 'short_term'), "
        "count(*) FILTER (WHERE memory_type = 'long_term'), "
        "count(*) FILTER (WHERE memory_type = 'rule'), "
        "count(*) FILTER (WHERE memory_type = 'entity'), "
        "count(*) FILTER (WHERE memory_type = 'relationship'), "
        "count(*) FILTER (WHERE memory_type = 'example'), "
        "count(*) FILTER (WHERE is_archived), coalesce(avg(importance_score), 0) "
        "FROM memori_memories WHERE tenant_id = $1 AND ($2::text IS NULL OR user_id = $2)",
    /*
     * Archival, with the rule's bounds bound (mr_rule_archive_bounds): its
     * constants live in rules.c alone. The rows are found without locks,
     * then locked in id order as search locks its hits (P_MEM_LOCK): an
     * UPDATE locking in scan order could deadlock with a search of the same
     * user. A row changed meanwhile is re-checked against the bounds when it
     * is locked (READ COMMITTED), and skipped if it no longer meets them.
     */
    [P_MEM_ARCHIVE] =
        "WITH due AS (SELECT id FROM memori_memories "
        "  WHERE tenant_id = $1 AND ($2::text IS NULL OR user_id = $2) AND memory_type = $3 "
        "  AND NOT is_archived AND created_at < " TS_IN("$4") " AND importance_score < $5 "
        "  AND access_count < $6 ORDER BY id FOR UPDATE) "
        "UPDATE memori_memories AS m SET is_archived = true, updated_at = " TS_IN("$7") " "
        "FROM due WHERE m.id = due.id RETURNING m.id, m.user_id",
    /*
     * ORDER BY the distance alone, so the HNSW index can serve it (with
     * hnsw.iterative_scan the scan goes on until the filters let `limit` rows
     * through); rows below min_similarity are dropped after, in C. The
     * expiry filter is the one place this store restates a rule: live at
     * now ($8) is the negation of mr_rule_expired_at (rules.c). Another
     * user's rows: shared ones under relaxed isolation ($4), and in both
     * levels the tenant's knowledge — schema memories, owned by no user
     * (user_id '', a data source: core_tenant_knowledge, DESIGN.md §9).
     */
    [P_MEM_SEARCH] =
        "SELECT id, 1 - (embedding <=> $1) FROM memori_memories "
        "WHERE tenant_id = $2 AND (user_id = $3 OR (is_shared AND "
        "  memory_type IN ('rule', 'entity', 'relationship', 'example') AND ($4::boolean OR "
        "  (user_id = '' AND data_source_id IS NOT NULL)))) "
        "AND ($5::uuid IS NULL OR conversation_id = $5::uuid) "
        "AND ($6::text[] IS NULL OR memory_type = ANY($6::text[])) "
        "AND ($7::boolean OR NOT is_archived) "
        "AND (expires_at IS NULL OR expires_at > " TS_IN("$8") ") "
        "ORDER BY embedding <=> $1 LIMIT $9",
    /*
     * The hits, locked in id order: two searches locking overlapping rows in
     * the order of their own distances would deadlock (seen with 50 clients
     * of 10 users). FOR UPDATE returns each row's latest committed version,
     * which the access update then increments.
     */
    [P_MEM_LOCK] =
        "SELECT " MEM_COLS_BUT_EMB ", NULL FROM memori_memories "
        "WHERE id = ANY($1::int8[]) ORDER BY id FOR UPDATE",
    /* Only locks them, in id order (the access merge's first step). */
    [P_MEM_LOCK_IDS] = "SELECT id FROM memori_memories WHERE id = ANY($1::int8[]) ORDER BY id "
                       "FOR UPDATE",
    /* The same rows in a read transaction (a search: its accesses are merged later). */
    [P_MEM_READ_IDS] = "SELECT " MEM_COLS_BUT_EMB ", NULL FROM memori_memories "
                       "WHERE id = ANY($1::int8[]) ORDER BY id",
    /*
     * A fused search's candidates, read (not locked: only the ones returned
     * are, P_MEM_LOCK) with what their scores need: the embedding as
     * vector_send gives it (read as a binary result: the stored floats'
     * exact bits, for a cosine computed as the in-process index computes
     * it, and neither decimal nor hex text to format and parse; the arrays
     * come as their text), and for the query's terms ($4)
     * the row's length and tfs and the partition's ($2, $3) statistics, as
     * P_MEM_LEX_SCORE has them, so every candidate's lexical score comes
     * from one snapshot. Columns: id, the bytes, lex_len, the tfs, then
     * N, total length and the dfs.
     */
    [P_MEM_CANDIDATES] =
        "WITH q AS (SELECT t.term, t.ord FROM unnest($4::text[]) WITH ORDINALITY AS t(term, ord)), "
        "st AS (SELECT coalesce(p.n_docs, 0) AS n, coalesce(p.total_len, 0) AS total, "
        "  (SELECT array_agg(coalesce((SELECT d.df FROM memori_lex_df d WHERE d.tenant_id = $2 "
        "    AND d.user_id = $3 AND d.term = q.term), 0) ORDER BY q.ord) FROM q) AS dfs "
        "  FROM (SELECT 1) AS one LEFT JOIN memori_lex_partitions p "
        "    ON p.tenant_id = $2 AND p.user_id = $3) "
        "SELECT m.id, vector_send(m.embedding), coalesce(m.lex_len, 0), "
        "  array(SELECT coalesce(m.lex_tfs[array_position(m.lex_terms, q.term)], 0) FROM q "
        "    ORDER BY q.ord)::text, st.n, st.total, st.dfs::text "
        "FROM memori_memories m CROSS JOIN st WHERE m.id = ANY($1::int8[])",
    /*
     * Batched accesses merged into the live rows (mr_rule_record_accesses in
     * SQL): v.k accesses of row v.id, the latest at v.la; the access boost
     * $4, the promotion bar $5 accesses and importance $6 on the merged
     * values, of type $8, and the promotion's boost $7 and type $9. Every
     * expression reads the row's latest committed version (an UPDATE waits
     * for a concurrent one and re-evaluates), so several servers' increments
     * add up and the promotion is decided on the sum. A row of k = 0 is only
     * locked. round(x * 1e9) / 1e9 is mr_rule_add_importance's rounding.
     * The answer: one row with the count of rows merged and, on as many rows
     * as it promoted, each promoted row's event (docs/hygiene.md): o is the
     * row before the merge (the statement's snapshot, taken after
     * P_MEM_LOCK_IDS locked the rows, so nothing changed them between).
     */
    [P_MEM_ACCESS] =
        "WITH u AS (UPDATE memori_memories AS m SET access_count = m.access_count + v.k, "
        "last_accessed_at = CASE WHEN v.k > 0 THEN greatest(m.last_accessed_at, " TS_IN("v.la") ") "
        "  ELSE m.last_accessed_at END, "
        "updated_at = CASE WHEN v.k > 0 THEN greatest(m.updated_at, " TS_IN("v.la") ") "
        "  ELSE m.updated_at END, "
        "importance_score = CASE WHEN " PG_PROMOTES " THEN "
        "  least(1, round((" PG_IMP " + $7::float8) * 1e9::float8) / 1e9::float8) "
        "  WHEN v.k > 0 THEN " PG_IMP " ELSE m.importance_score END, "
        "memory_type = CASE WHEN " PG_PROMOTES " THEN $9::text ELSE m.memory_type END, "
        "expires_at = CASE WHEN " PG_PROMOTES " THEN NULL ELSE m.expires_at END "
        "FROM unnest($1::int8[], $2::int8[], $3::int8[]) AS v(id, k, la) "
        "JOIN memori_memories AS o ON o.id = v.id "
        "WHERE m.id = v.id AND v.k > 0 "
        "RETURNING m.id, m.memory_id, m.user_id, m.tenant_id, v.la, o.importance_score, "
        "  m.importance_score, " TS_OUT("o.expires_at") ", "
        "  o.memory_type = $8::text AND m.memory_type = $9::text AS promoted) "
        "SELECT (SELECT count(*) FROM u), p.* FROM (SELECT 1) AS one "
        "LEFT JOIN (SELECT * FROM u WHERE promoted) AS p ON true",
    /*
     * The lexical side's candidates (DESIGN.md §8), from the postings alone
     * (migration 7): the partition's statistics and, for each query term,
     * its postings as an index-only scan of the primary key (tenant, user,
     * term → memory, tf, length), in one statement so both come from one
     * snapshot. No memory row is read: the rows holding a query term grow
     * with the partition, the ones s_mem_lex_search checks
     * (P_MEM_LEX_FILTER) with the depth asked. Other users' memories can
     * pass the search's filters only when shared, so theirs come from the
     * partial index of shared postings, restricted as P_MEM_SEARCH
     * restricts them before the filters ($3: any shared memory, else only
     * the tenant's knowledge, user_id ''). Each posting comes as (memory,
     * length, the term's position in the query, tf), unordered:
     * s_mem_lex_search groups them by memory and computes BM25 with
     * lexical.h's functions, so the numbers are the in-process index's bits
     * (BM25 in SQL with a cut and the filters in the same statement,
     * re-scored in C, was slower at 10 000 and 100 000 memories:
     * docs/perf.md); a binary result, so the thousands of integers are
     * neither formatted nor parsed (the dfs as their text). The probes stay one per term whatever the statistics
     * say (OFFSET 0 keeps the lateral subquery from being flattened): with
     * a new partition's statistics not yet analysed, the planner otherwise
     * read the whole partition's postings once and joined the terms to
     * them. Each query term's df is one index probe (a scalar subquery): as a
     * join, the planner read the partition's whole vocabulary. The
     * statistics come once, on their own row (the postings' columns NULL;
     * the postings' rows have NULL statistics), so there is always one row
     * at least: repeated on every posting, the dfs' text alone doubled the
     * statement's server time at 10 000 memories (1.05 against 0.50 ms for
     * 1 796 postings, docs/perf.md).
     */
    [P_MEM_LEX_SEARCH] =
        "WITH q AS (SELECT t.term, t.ord FROM unnest($4::text[]) WITH ORDINALITY AS t(term, ord)), "
        "st AS (SELECT coalesce(p.n_docs, 0) AS n, coalesce(p.total_len, 0) AS total, "
        "  (SELECT array_agg(coalesce((SELECT d.df FROM memori_lex_df d WHERE d.tenant_id = $1 "
        "    AND d.user_id = $2 AND d.term = q.term), 0) ORDER BY q.ord) FROM q) AS dfs "
        "  FROM (SELECT 1) AS one LEFT JOIN memori_lex_partitions p "
        "    ON p.tenant_id = $1 AND p.user_id = $2) "
        "SELECT st.n, st.total, st.dfs::text, NULL::int8, NULL::int4, NULL::int8, NULL::int4 FROM st "
        "UNION ALL "
        "SELECT NULL, NULL, NULL, h.memory_id, h.len, h.ord, h.tf FROM ("
        "  SELECT p.memory_id, p.len, q.ord, p.tf FROM q CROSS JOIN LATERAL (SELECT * FROM ("
        "    SELECT o.memory_id, o.len, o.tf FROM memori_lex_postings o "
        "    WHERE o.tenant_id = $1 AND o.user_id = $2 AND o.term = q.term "
        "    UNION ALL "
        "    SELECT s.memory_id, s.len, s.tf FROM memori_lex_postings s "
        "    WHERE s.shared AND s.tenant_id = $1 AND s.term = q.term AND s.user_id <> $2 "
        "    AND ($3::boolean OR s.user_id = '')) AS u OFFSET 0) AS p) AS h",
    /*
     * Which of the lexical side's best candidates ($8) pass the search's
     * filters: P_MEM_SEARCH's predicates exactly (the expiry one mirroring
     * mr_rule_expired_at), read from the memory rows by primary key. A
     * candidate deleted since P_MEM_LEX_SEARCH's snapshot is not returned.
     */
    [P_MEM_LEX_FILTER] =
        "SELECT m.id FROM memori_memories m WHERE m.id = ANY($8::int8[]) AND CASE WHEN m.tenant_id = $1 "
        "AND (m.user_id = $2 OR (m.is_shared AND "
        "  m.memory_type IN ('rule', 'entity', 'relationship', 'example') AND ($3::boolean OR "
        "  (m.user_id = '' AND m.data_source_id IS NOT NULL)))) "
        "AND ($4::uuid IS NULL OR m.conversation_id = $4::uuid) "
        "AND ($5::text[] IS NULL OR m.memory_type = ANY($5::text[])) "
        "AND ($6::boolean OR NOT m.is_archived) "
        "AND (m.expires_at IS NULL OR m.expires_at > " TS_IN("$7") ") THEN true END",
    /* The same for given rows, unfiltered: the vector side's candidates. */
    [P_MEM_LEX_SCORE] =
        "WITH q AS (SELECT t.term, t.ord FROM unnest($3::text[]) WITH ORDINALITY AS t(term, ord)), "
        "st AS (SELECT coalesce(p.n_docs, 0) AS n, coalesce(p.total_len, 0) AS total, "
        "  (SELECT array_agg(coalesce((SELECT d.df FROM memori_lex_df d WHERE d.tenant_id = $1 "
        "    AND d.user_id = $2 AND d.term = q.term), 0) ORDER BY q.ord) FROM q) AS dfs "
        "  FROM (SELECT 1) AS one LEFT JOIN memori_lex_partitions p "
        "    ON p.tenant_id = $1 AND p.user_id = $2), "
        "c AS (SELECT m.id, m.lex_len, array(SELECT coalesce(m.lex_tfs[array_position("
        "    m.lex_terms, q.term)], 0) FROM q ORDER BY q.ord) AS tfs FROM memori_memories m "
        "  WHERE m.id = ANY($4::int8[]) AND m.lex_len IS NOT NULL) "
        "SELECT st.n, st.total, st.dfs, c.id, c.lex_len, c.tfs FROM st LEFT JOIN c ON true",
    /*
     * Neighbour context (docs/ranking.md): for each of the ids ($1) that is
     * one of the owner's ($2, $3) turns (the types $4, mr_rule_is_turn's),
     * the owner's three turns before it and three after it in its
     * conversation by id (MR_STORE_WINDOW_SIDE), as (id, neighbour, offset
     * -3 … -1, 1 … 3) with the neighbour's length and tfs for the query's
     * terms ($5) and the partition's statistics, as P_MEM_LEX_SCORE has
     * them. Each side is a walk of the (conversation_id, id) index
     * (migration 6) that stops at its third turn. Always one row at least: the statistics, with a NULL id when
     * no id is such a turn.
     */
    [P_MEM_NEIGHBOURS] =
        "WITH q AS (SELECT t.term, t.ord FROM unnest($5::text[]) WITH ORDINALITY AS t(term, ord)), "
        "st AS (SELECT coalesce(p.n_docs, 0) AS n, coalesce(p.total_len, 0) AS total, "
        "  (SELECT array_agg(coalesce((SELECT d.df FROM memori_lex_df d WHERE d.tenant_id = $2 "
        "    AND d.user_id = $3 AND d.term = q.term), 0) ORDER BY q.ord) FROM q) AS dfs "
        "  FROM (SELECT 1) AS one LEFT JOIN memori_lex_partitions p "
        "    ON p.tenant_id = $2 AND p.user_id = $3), "
        "c AS (SELECT m.id, m.conversation_id FROM memori_memories m "
        "  WHERE m.id = ANY($1::int8[]) AND CASE WHEN m.tenant_id = $2 AND m.user_id = $3 "
        "  AND m.memory_type = ANY($4::text[]) THEN true END), "
        "w AS (SELECT c.id, b.id AS nb, -b.k AS off, b.lex_len, b.lex_terms, b.lex_tfs "
        "  FROM c CROSS JOIN LATERAL (SELECT t.*, row_number() OVER (ORDER BY t.id DESC) AS k "
        "    FROM (SELECT p.id, p.lex_len, p.lex_terms, p.lex_tfs FROM memori_memories p "
        "      WHERE p.conversation_id = c.conversation_id AND p.id < c.id AND CASE WHEN p.tenant_id = $2 "
        "      AND p.user_id = $3 AND p.memory_type = ANY($4::text[]) THEN true END "
        "      ORDER BY p.id DESC LIMIT 3) AS t) AS b "
        "  UNION ALL "
        "  SELECT c.id, a.id, a.k, a.lex_len, a.lex_terms, a.lex_tfs "
        "  FROM c CROSS JOIN LATERAL (SELECT t.*, row_number() OVER (ORDER BY t.id) AS k "
        "    FROM (SELECT p.id, p.lex_len, p.lex_terms, p.lex_tfs FROM memori_memories p "
        "      WHERE p.conversation_id = c.conversation_id AND p.id > c.id AND CASE WHEN p.tenant_id = $2 "
        "      AND p.user_id = $3 AND p.memory_type = ANY($4::text[]) THEN true END "
        "      ORDER BY p.id LIMIT 3) AS t) AS a) "
        "SELECT st.n, st.total, st.dfs, w.id, w.nb, w.off, coalesce(w.lex_len, 0), "
        "  array(SELECT coalesce(w.lex_tfs[array_position(w.lex_terms, q.term)], 0) FROM q "
        "    ORDER BY q.ord) "
        "FROM st LEFT JOIN w ON true",
    /*
     * A hybrid search's context step and its candidates' embeddings in one
     * statement (s_mem_context): P_MEM_NEIGHBOURS' walks without the BM25
     * inputs (mem_sides_search has every BM25 already) as (id, neighbour,
     * side -1 before or 1 after, the neighbour's embedding or NULL), and as
     * (id, NULL, NULL, the bytes) the embedding of each id ($1). A walk
     * sends its turns' embeddings where the scores may read them: with $6
     * (the cosines' context) every turn's, else only the turns around the
     * ids in $5 (the lexical hits: their first turns become candidates) —
     * unless the turn is one of the ids, whose rows send theirs. The walk
     * has the turn's row at hand (its filters are the row's), so its
     * embedding comes from there, not from a second probe of the primary
     * key; a turn around several ids comes once per walk (s_mem_context
     * keeps one), and the third turns' come though only the hits'
     * neighbours read them. No window function numbers a walk's turns:
     * s_mem_context ranks each side's (at most three) by id. Server time at
     * 10 000 memories: 0.77-0.80 ms against 0.93-1.09 ms with the offsets
     * numbered in SQL and the turns' embeddings sifted by offset, and
     * 1.3-1.9 ms reading them by a second probe (docs/perf.md). The ids'
     * own rows are read once (r), for the walks' start and their
     * embeddings. The CTEs read twice are computed once.
     */
    [P_MEM_CONTEXT] =
        "WITH r AS (SELECT m.id, m.conversation_id, m.embedding, m.tenant_id = $2 "
        "  AND m.user_id = $3 AND m.memory_type = ANY($4::text[]) AS turn "
        "  FROM memori_memories m WHERE m.id = ANY($1::int8[])), "
        "c AS (SELECT r.id, r.conversation_id FROM r WHERE r.turn) "
        "SELECT c.id, b.id, -1, CASE WHEN ($6::boolean OR c.id = ANY($5::int8[])) "
        "    AND b.id <> ALL($1::int8[]) THEN vector_send(b.embedding) END "
        "  FROM c CROSS JOIN LATERAL (SELECT p.id, p.embedding FROM memori_memories p "
        "    WHERE p.conversation_id = c.conversation_id AND p.id < c.id AND CASE WHEN p.tenant_id = $2 "
        "    AND p.user_id = $3 AND p.memory_type = ANY($4::text[]) THEN true END "
        "    ORDER BY p.id DESC LIMIT 3) AS b "
        "UNION ALL "
        "SELECT c.id, a.id, 1, CASE WHEN ($6::boolean OR c.id = ANY($5::int8[])) "
        "    AND a.id <> ALL($1::int8[]) THEN vector_send(a.embedding) END "
        "  FROM c CROSS JOIN LATERAL (SELECT p.id, p.embedding FROM memori_memories p "
        "    WHERE p.conversation_id = c.conversation_id AND p.id > c.id AND CASE WHEN p.tenant_id = $2 "
        "    AND p.user_id = $3 AND p.memory_type = ANY($4::text[]) THEN true END "
        "    ORDER BY p.id LIMIT 3) AS a "
        "UNION ALL "
        "SELECT r.id, NULL, NULL, vector_send(r.embedding) FROM r",
    /*
     * The lexical side's filter check (P_MEM_LEX_FILTER) and the context
     * step (P_MEM_CONTEXT) in one statement (s_mem_sides_context): of the
     * lexical side's best candidates $5 (in rank order, unfiltered), the
     * first $12 that pass the search's filters (P_MEM_SEARCH's predicates,
     * bound as P_MEM_LEX_FILTER binds them: $2, $3, $7 … $11) become the
     * lexical hits, answered as (id, NULL, 0, NULL); the ids are the vector
     * hits $1 and those hits, and the walks and embeddings are
     * P_MEM_CONTEXT's for them, with the hits as its $5. One round trip
     * fewer than the check then the context statement (docs/perf.md).
     */
    [P_MEM_SIDES_CONTEXT] =
        "WITH pass AS (SELECT m.id FROM memori_memories m WHERE m.id = ANY($5::int8[]) "
        "  AND CASE WHEN m.tenant_id = $2 AND (m.user_id = $3 OR (m.is_shared AND "
        "  m.memory_type IN ('rule', 'entity', 'relationship', 'example') AND ($7::boolean OR "
        "  (m.user_id = '' AND m.data_source_id IS NOT NULL)))) "
        "  AND ($8::uuid IS NULL OR m.conversation_id = $8::uuid) "
        "  AND ($9::text[] IS NULL OR m.memory_type = ANY($9::text[])) "
        "  AND ($10::boolean OR NOT m.is_archived) "
        "  AND (m.expires_at IS NULL OR m.expires_at > " TS_IN("$11") ") THEN true END "
        "  ORDER BY array_position($5::int8[], m.id) LIMIT $12), "
        "u AS (SELECT array(SELECT v.id FROM unnest($1::int8[]) AS v(id) "
        "  UNION SELECT pass.id FROM pass) AS ids, array(SELECT pass.id FROM pass) AS hits), "
        "r AS (SELECT m.id, m.conversation_id, m.embedding, m.tenant_id = $2 "
        "  AND m.user_id = $3 AND m.memory_type = ANY($4::text[]) AS turn "
        "  FROM memori_memories m WHERE m.id = ANY((SELECT u.ids FROM u)::int8[])), "
        "c AS (SELECT r.id, r.conversation_id FROM r WHERE r.turn) "
        "SELECT c.id, b.id, -1, CASE WHEN ($6::boolean OR c.id = ANY((SELECT u.hits FROM u)::int8[])) "
        "    AND b.id <> ALL((SELECT u.ids FROM u)::int8[]) THEN vector_send(b.embedding) END "
        "  FROM c CROSS JOIN LATERAL (SELECT p.id, p.embedding FROM memori_memories p "
        "    WHERE p.conversation_id = c.conversation_id AND p.id < c.id AND CASE WHEN p.tenant_id = $2 "
        "    AND p.user_id = $3 AND p.memory_type = ANY($4::text[]) THEN true END "
        "    ORDER BY p.id DESC LIMIT 3) AS b "
        "UNION ALL "
        "SELECT c.id, a.id, 1, CASE WHEN ($6::boolean OR c.id = ANY((SELECT u.hits FROM u)::int8[])) "
        "    AND a.id <> ALL((SELECT u.ids FROM u)::int8[]) THEN vector_send(a.embedding) END "
        "  FROM c CROSS JOIN LATERAL (SELECT p.id, p.embedding FROM memori_memories p "
        "    WHERE p.conversation_id = c.conversation_id AND p.id > c.id AND CASE WHEN p.tenant_id = $2 "
        "    AND p.user_id = $3 AND p.memory_type = ANY($4::text[]) THEN true END "
        "    ORDER BY p.id LIMIT 3) AS a "
        "UNION ALL "
        "SELECT r.id, NULL, NULL, vector_send(r.embedding) FROM r "
        "UNION ALL "
        "SELECT pass.id, NULL, 0, NULL FROM pass",
};
/* clang-format on */

static int s_conv_get(struct mr_store_tx *tx, const char *id, struct mr_conversation *out,
                      struct mr_err *err)
{
    memset(out, 0, sizeof *out);
    if (!pg_is_uuid(id))
        return mr_err_set(err, MR_ENOTFOUND, "Conversation not found");
    struct pg_params p = {0};
    pg_param_text(&p, id);
    PGresult *res = pg_run(tx, P_CONV_GET, &p, "reading a conversation", err);
    if (!res)
        return err->code;
    int rc = 0;
    if (PQntuples(res) == 1)
        pg_read_conversation(res, 0, out);
    else
        rc = mr_err_set(err, MR_ENOTFOUND, "Conversation not found");
    PQclear(res);
    return rc;
}

/* A memory's data_source_id, NULL when it has none. */
static void data_source_param(struct pg_params *p, const struct mr_memory *m)
{
    if (m->has_data_source_id)
        pg_param_int(p, m->data_source_id);
    else
        pg_param_text(p, NULL);
}

static void conv_params(struct pg_params *p, const struct mr_conversation *c)
{
    if (c->has_data_source_id)
        pg_param_int(p, c->data_source_id);
    else
        pg_param_text(p, NULL);
    pg_param_text(p, c->title);
    pg_param_text(p, c->metadata ? c->metadata : "{}");
    pg_param_bool(p, c->is_active);
}

/* A conversation's stored fields as $1..$10, in memori_conversations' column order (insert,
 * restore). */
static void conversation_row_params(struct pg_params *p, const struct mr_conversation *c)
{
    pg_param_text(p, c->conversation_id);
    pg_param_text(p, c->user_id);
    pg_param_text(p, c->tenant_id);
    conv_params(p, c);
    pg_param_int(p, c->last_activity_at);
    pg_param_int(p, c->created_at);
    pg_param_int(p, c->updated_at);
}

static int s_conv_insert(struct mr_store_tx *tx, struct mr_conversation *c, struct mr_err *err)
{
    if (!pg_is_uuid(c->conversation_id))
        return mr_err_set(err, MR_EINVAL, "conversation id %s is not a UUID", c->conversation_id);
    struct pg_params p = {0};
    conversation_row_params(&p, c);
    PGresult *res = pg_run(tx, P_CONV_INSERT, &p, "inserting a conversation", err);
    if (!res)
        return err->code;
    int rc = 0;
    if (PQntuples(res) == 1)
        c->id = pg_val_int(res, 0, 0);
    else
        rc = mr_err_set(err, MR_ECONFLICT, "conversation %s already exists", c->conversation_id);
    PQclear(res);
    return rc;
}

static int s_conv_update(struct mr_store_tx *tx, const struct mr_conversation *c,
                         struct mr_err *err)
{
    if (!pg_is_uuid(c->conversation_id))
        return mr_err_set(err, MR_ENOTFOUND, "Conversation not found");
    struct pg_params p = {0};
    int64_t changed = 0;
    pg_param_text(&p, c->conversation_id);
    conv_params(&p, c);
    pg_param_int(&p, c->last_activity_at);
    pg_param_int(&p, c->updated_at);
    int rc = pg_run_done(tx, P_CONV_UPDATE, &p, "updating a conversation", &changed, err);
    if (rc == 0 && changed == 0)
        return mr_err_set(err, MR_ENOTFOUND, "Conversation not found");
    return rc;
}

/* Deletes the row a UUID names with statement id; absent (or no UUID) is `absent`, 404. */
static int delete_by_uuid(struct mr_store_tx *tx, enum pg_stmt id, const char *uuid,
                          const char *what, const char *absent, struct mr_err *err)
{
    if (!pg_is_uuid(uuid))
        return mr_err_set(err, MR_ENOTFOUND, "%s", absent);
    struct pg_params p = {0};
    int64_t changed = 0;
    pg_param_text(&p, uuid);
    int rc = pg_run_done(tx, id, &p, what, &changed, err);
    if (rc == 0 && changed == 0)
        return mr_err_set(err, MR_ENOTFOUND, "%s", absent);
    return rc;
}

static int s_conv_delete(struct mr_store_tx *tx, const char *id, struct mr_err *err)
{
    return delete_by_uuid(tx, P_CONV_DELETE, id, "deleting a conversation",
                          "Conversation not found", err);
}

static int count_rows(struct mr_store_tx *tx, enum pg_stmt id, struct pg_params *p, int64_t *out,
                      struct mr_err *err)
{
    PGresult *res = pg_run(tx, id, p, "counting rows", err);
    if (!res)
        return err->code;
    *out = PQntuples(res) == 1 ? pg_val_int(res, 0, 0) : 0;
    PQclear(res);
    return 0;
}

static int s_conv_list(struct mr_store_tx *tx, const struct mr_identity *who, int64_t limit,
                       int64_t offset, struct mr_conversation **out, size_t *out_n,
                       int64_t *out_total, struct mr_err *err)
{
    *out = NULL;
    *out_n = 0;
    struct pg_params p = {0};
    pg_param_text(&p, who->tenant_id);
    pg_param_text(&p, who->user_id);
    int rc = count_rows(tx, P_CONV_COUNT, &p, out_total, err);
    if (rc)
        return rc;
    p = (struct pg_params){0};
    pg_param_text(&p, who->tenant_id);
    pg_param_text(&p, who->user_id);
    pg_param_int(&p, limit);
    pg_param_int(&p, offset);
    PGresult *res = pg_run(tx, P_CONV_LIST, &p, "listing conversations", err);
    if (!res)
        return err->code;
    int n = PQntuples(res);
    *out = mr_xcalloc((size_t)n + 1, sizeof **out);
    for (int i = 0; i < n; i++)
        pg_read_conversation(res, i, &(*out)[i]);
    *out_n = (size_t)n;
    PQclear(res);
    return 0;
}

/* A memory's stored fields as $1..$19, in memori_memories' column order (insert, restore). */
static void memory_row_params(struct pg_params *p, const struct mr_memory *m)
{
    pg_param_text(p, m->memory_id);
    pg_param_text(p, m->conversation_id);
    pg_param_text(p, m->user_id);
    pg_param_text(p, m->tenant_id);
    pg_param_text(p, m->content);
    pg_param_text(p, mr_memory_type_name(m->memory_type));
    pg_param_vector(p, m->embedding, m->dim);
    pg_param_double(p, m->importance_score);
    pg_param_int(p, m->access_count);
    pg_param_time(p, m->last_accessed_at);
    pg_param_strv(p, &m->context_tags);
    pg_param_strv(p, &m->related_entities);
    pg_param_text(p, m->metadata ? m->metadata : "{}");
    pg_param_time(p, m->expires_at);
    pg_param_bool(p, m->is_archived);
    pg_param_int(p, m->created_at);
    pg_param_int(p, m->updated_at);
    pg_param_bool(p, m->is_shared);
    data_source_param(p, m);
}

static int s_mem_insert(struct mr_store_tx *tx, struct mr_memory *m, struct mr_err *err)
{
    if (!pg_is_uuid(m->memory_id) || !pg_is_uuid(m->conversation_id))
        return mr_err_set(err, MR_EINVAL, "memory or conversation id is not a UUID");
    struct pg_params p = {0};
    memory_row_params(&p, m);
    pg_param_lex(&p, m->content);
    PGresult *res = pg_run(tx, P_MEM_INSERT, &p, "inserting a memory", err);
    if (!res)
        return err->code;
    m->id = pg_val_int(res, 0, 0);
    PQclear(res);
    return 0;
}

static int get_one_memory(struct mr_store_tx *tx, enum pg_stmt id, struct pg_params *p,
                          struct mr_memory *out, struct mr_err *err)
{
    PGresult *res = pg_run(tx, id, p, "reading a memory", err);
    if (!res)
        return err->code;
    int rc = PQntuples(res) == 1 ? pg_read_memory(res, 0, out, err)
                                 : mr_err_set(err, MR_ENOTFOUND, "Memory not found");
    PQclear(res);
    return rc;
}

static int s_mem_get(struct mr_store_tx *tx, const char *id, struct mr_memory *out,
                     struct mr_err *err)
{
    memset(out, 0, sizeof *out); /* cleared even when absent, so callers may clear it */
    if (!pg_is_uuid(id))
        return mr_err_set(err, MR_ENOTFOUND, "Memory not found");
    struct pg_params p = {0};
    pg_param_text(&p, id);
    return get_one_memory(tx, P_MEM_GET, &p, out, err);
}

static int s_mem_get_by_id(struct mr_store_tx *tx, int64_t id, struct mr_memory *out,
                           struct mr_err *err)
{
    memset(out, 0, sizeof *out);
    struct pg_params p = {0};
    pg_param_int(&p, id);
    return get_one_memory(tx, P_MEM_GET_BY_ID, &p, out, err);
}

static int s_mem_update(struct mr_store_tx *tx, const struct mr_memory *m, bool with_embedding,
                        struct mr_err *err)
{
    struct pg_params p = {0};
    int64_t changed = 0;
    pg_param_int(&p, m->id);
    pg_param_text(&p, m->content);
    pg_param_text(&p, mr_memory_type_name(m->memory_type));
    pg_param_double(&p, m->importance_score);
    pg_param_int(&p, m->access_count);
    pg_param_time(&p, m->last_accessed_at);
    pg_param_strv(&p, &m->context_tags);
    pg_param_strv(&p, &m->related_entities);
    pg_param_text(&p, m->metadata ? m->metadata : "{}");
    pg_param_time(&p, m->expires_at);
    pg_param_bool(&p, m->is_archived);
    pg_param_int(&p, m->updated_at);
    pg_param_bool(&p, m->is_shared);
    data_source_param(&p, m);
    pg_param_lex(&p, m->content);
    int rc = pg_run_done(tx, P_MEM_UPDATE, &p, "updating a memory", &changed, err);
    if (rc == 0 && changed == 0)
        return mr_err_set(err, MR_ENOTFOUND, "Memory not found");
    if (rc == 0 && with_embedding) {
        p = (struct pg_params){0};
        pg_param_int(&p, m->id);
        pg_param_vector(&p, m->embedding, m->dim);
        rc = pg_run_done(tx, P_MEM_UPDATE_EMB, &p, "updating an embedding", NULL, err);
    }
    return rc;
}

static int s_mem_delete(struct mr_store_tx *tx, const char *id, struct mr_err *err)
{
    return delete_by_uuid(tx, P_MEM_DELETE, id, "deleting a memory", "Memory not found", err);
}

/* Reads every row of res as a memory into a new array; frees res. */
static int read_memories(PGresult *res, struct mr_memory **out, size_t *out_n, struct mr_err *err)
{
    int n = PQntuples(res);
    struct mr_memory *v = mr_xcalloc((size_t)n + 1, sizeof *v);
    for (int i = 0; i < n; i++) {
        int rc = pg_read_memory(res, i, &v[i], err);
        if (rc) {
            for (int j = 0; j < i; j++)
                mr_memory_clear(&v[j]);
            free(v);
            PQclear(res);
            return rc;
        }
    }
    PQclear(res);
    *out = v;
    *out_n = (size_t)n;
    return 0;
}

static int s_mem_list_by_conversation(struct mr_store_tx *tx, const char *conv, int64_t limit,
                                      int64_t offset, struct mr_memory **out, size_t *out_n,
                                      int64_t *out_total, struct mr_err *err)
{
    *out = NULL;
    *out_n = 0;
    *out_total = 0;
    if (!pg_is_uuid(conv))
        return 0;
    struct pg_params p = {0};
    pg_param_text(&p, conv);
    int rc = count_rows(tx, P_MEM_COUNT_CONV, &p, out_total, err);
    if (rc)
        return rc;
    p = (struct pg_params){0};
    pg_param_text(&p, conv);
    pg_param_int(&p, limit);
    pg_param_int(&p, offset);
    PGresult *res = pg_run(tx, P_MEM_LIST_CONV, &p, "listing memories", err);
    return res ? read_memories(res, out, out_n, err) : err->code;
}

/*
 * GET /api/memories: run unprepared (a person paging the dashboard, not a
 * hot path), so the statement table keeps to what requests run often.
 */
#define MEM_LIST_WHERE                                                                             \
    " FROM memori_memories WHERE tenant_id = $1 AND user_id = $2 "                                 \
    "AND ($3::text IS NULL OR memory_type = $3)"

static int s_mem_list(struct mr_store_tx *tx, const struct mr_identity *who, int memory_type,
                      int64_t limit, int64_t offset, struct mr_memory **out, size_t *out_n,
                      int64_t *out_total, struct mr_err *err)
{
    const char *type =
        memory_type >= 0 ? mr_memory_type_name((enum mr_memory_type)memory_type) : NULL;
    PGconn *pg = pg_tx_conn(tx)->pg;
    *out = NULL;
    *out_n = 0;
    *out_total = 0;
    for (int pass = 0; pass < 2; pass++) {
        struct pg_params p = {0};
        pg_param_text(&p, who->tenant_id);
        pg_param_text(&p, who->user_id);
        pg_param_text(&p, type);
        if (pass == 1) {
            pg_param_int(&p, limit);
            pg_param_int(&p, offset);
        }
        PGresult *res =
            PQexecParams(pg,
                         pass == 0 ? "SELECT count(*)" MEM_LIST_WHERE
                                   : "SELECT " MEM_COLS_BUT_EMB ", NULL" MEM_LIST_WHERE
                                     " ORDER BY created_at DESC, id DESC LIMIT $4 OFFSET $5",
                         p.n, NULL, p.vals, p.lens, p.fmts, 0);
        pg_params_free(&p);
        if (PQresultStatus(res) != PGRES_TUPLES_OK) {
            pg_result_error(err, pg, res, "listing memories");
            PQclear(res);
            return err->code;
        }
        if (pass == 1)
            return read_memories(res, out, out_n, err); /* clears res */
        *out_total = PQntuples(res) == 1 ? pg_val_int(res, 0, 0) : 0;
        PQclear(res);
    }
    return 0;
}

static int s_mem_stats(struct mr_store_tx *tx, const struct mr_identity *who, struct mr_stats *out,
                       struct mr_err *err)
{
    struct pg_params p = {0};
    pg_param_text(&p, who->tenant_id);
    pg_param_text(&p, who->user_id);
    PGresult *res = pg_run(tx, P_MEM_STATS, &p, "computing statistics", err);
    if (!res)
        return err->code;
    memset(out, 0, sizeof *out);
    out->total = pg_val_int(res, 0, 0);
    for (int t = 0; t < MR_MEMORY_TYPE_COUNT; t++)
        out->by_type[t] = pg_val_int(res, 0, 1 + t);
    out->archived = pg_val_int(res, 0, 1 + MR_MEMORY_TYPE_COUNT);
    out->average_importance = strtod(PQgetvalue(res, 0, 2 + MR_MEMORY_TYPE_COUNT), NULL);
    PQclear(res);
    return 0;
}

static int s_mem_archive(struct mr_store_tx *tx, const struct mr_identity *who,
                         const struct mr_archive_bounds *b, int64_t now, int64_t **out_ids,
                         char ***out_users, size_t *out_n, struct mr_err *err)
{
    *out_ids = NULL;
    *out_users = NULL;
    *out_n = 0;
    struct pg_params p = {0};
    pg_param_text(&p, who->tenant_id);
    pg_param_text(&p, who->user_id);
    pg_param_text(&p, mr_memory_type_name(b->type));
    pg_param_int(&p, b->created_before);
    pg_param_double(&p, b->importance_below);
    pg_param_int(&p, b->access_below);
    pg_param_int(&p, now);
    PGresult *res = pg_run(tx, P_MEM_ARCHIVE, &p, "archiving memories", err);
    if (!res)
        return err->code;
    int n = PQntuples(res);
    *out_ids = mr_xcalloc((size_t)n + 1, sizeof **out_ids);
    *out_users = mr_xcalloc((size_t)n + 1, sizeof **out_users);
    for (int i = 0; i < n; i++) {
        (*out_ids)[i] = pg_val_int(res, i, 0);
        (*out_users)[i] = pg_val_dup(res, i, 1);
    }
    *out_n = (size_t)n;
    PQclear(res);
    return 0;
}

/* Parses an int8[]/int4[] literal "{1,0,2}" into out[0..n) (missing elements are 0). */
static void parse_ints(const char *s, uint64_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = 0;
    if (*s == '{')
        s++;
    for (size_t i = 0; i < n && *s && *s != '}'; i++) {
        char *end;
        out[i] = strtoull(s, &end, 10);
        s = *end == ',' ? end + 1 : end;
    }
}

/* A query's terms as a partition knows them: the statistics of P_MEM_LEX_*'s rows. */
struct lex_stats {
    size_t nq;
    uint64_t n_docs, total;
    double *idf, avg, max;
    uint64_t *tfs; /* nq, one candidate's */
};

/*
 * Reads the statistics from row row of res, columns col.. (N, total length,
 * the dfs as an array's text); the normaliser as mr_lex_index_max computes it.
 */
static void lex_stats_read_row(struct lex_stats *st, const PGresult *res, int row, int col,
                               size_t nq)
{
    st->nq = nq;
    st->n_docs = (uint64_t)pg_val_int(res, row, col);
    st->total = (uint64_t)pg_val_int(res, row, col + 1);
    st->idf = mr_xcalloc(nq + 1, sizeof *st->idf);
    st->tfs = mr_xcalloc(nq + 1, sizeof *st->tfs);
    uint64_t *df = mr_xcalloc(nq + 1, sizeof *df);
    if (!PQgetisnull(res, row, col + 2))
        parse_ints(PQgetvalue(res, row, col + 2), df, nq);
    st->max = 0;
    for (size_t i = 0; i < nq; i++) {
        st->idf[i] = mr_lex_idf(df[i], st->n_docs);
        st->max += mr_lex_term_max(st->idf[i]);
    }
    free(df);
    st->avg = mr_lex_avg_len(st->total, st->n_docs);
}

/* lex_stats_read_row of row 0: the statements that repeat the statistics on every row. */
static void lex_stats_read(struct lex_stats *st, const PGresult *res, int col, size_t nq)
{
    lex_stats_read_row(st, res, 0, col, nq);
}

/*
 * The BM25 of a document of length len whose tf of each query term is in
 * st->tfs: its terms added in the query's order, from 0, as the in-process
 * index accumulates them (a term the document lacks adds exactly 0).
 */
static double lex_tfs_score(const struct lex_stats *st, uint32_t len)
{
    double score = 0;
    for (size_t i = 0; i < st->nq; i++)
        if (st->tfs[i])
            score += mr_lex_bm25_term(st->idf[i], (uint32_t)st->tfs[i], len, st->avg);
    return score;
}

/* Row r's BM25 from its length and tfs (an int4[]'s text) in columns col, col + 1. */
static double lex_row_score(struct lex_stats *st, const PGresult *res, int r, int col)
{
    parse_ints(PQgetvalue(res, r, col + 1), st->tfs, st->nq);
    return lex_tfs_score(st, (uint32_t)pg_val_int(res, r, col));
}

static void lex_stats_free(struct lex_stats *st)
{
    free(st->idf);
    free(st->tfs);
}

/* An id and its position in the caller's array, ordered by id for bsearch. */
struct id_at {
    int64_t id;
    size_t i;
};

static int id_at_order(const void *a, const void *b)
{
    const struct id_at *x = a, *y = b;
    return (x->id > y->id) - (x->id < y->id);
}

/*
 * Where each of ids[0..n) (distinct) sits in ids, ordered by id for
 * bsearch with id_at_order: a statement's rows come in no order. Free it.
 */
static struct id_at *ids_at(const int64_t *ids, size_t n)
{
    struct id_at *at = mr_xcalloc(n + 1, sizeof *at);
    for (size_t i = 0; i < n; i++)
        at[i] = (struct id_at){ids[i], i};
    qsort(at, n, sizeof *at, id_at_order);
    return at;
}

/* The memory types that are conversation turns (mr_rule_is_turn), as a param_types mask. */
static unsigned turn_types(void)
{
    unsigned turns = 0;
    for (int t = 0; t < MR_MEMORY_TYPE_COUNT; t++)
        if (mr_rule_is_turn((enum mr_memory_type)t))
            turns |= 1u << t;
    return turns;
}

/* A search's type filter as its statement's parameter: the names in mask, or NULL for every type.
 */
static void param_types(struct pg_params *p, unsigned mask)
{
    if (!mask) {
        pg_param_text(p, NULL);
        return;
    }
    struct mr_strv types = {0};
    for (int t = 0; t < MR_MEMORY_TYPE_COUNT; t++)
        if (mask & (1u << t)) {
            const char *name = mr_memory_type_name((enum mr_memory_type)t);
            mr_strv_push(&types, name, strlen(name));
        }
    pg_param_strv(p, &types);
    mr_strv_clear(&types);
}

/*
 * A search's filters as seven consecutive parameters, in P_MEM_SEARCH's
 * order (tenant, user, include_shared, conversation, types, archived, now):
 * P_MEM_LEX_FILTER checks exactly P_MEM_SEARCH's predicates, so both take
 * them from here (P_MEM_SIDES_CONTEXT checks them too, its tenant and user
 * shared with its walks: s_mem_sides_context binds the same values in its
 * own order).
 */
static void param_filters(struct pg_params *p, const struct mr_identity *who,
                          const struct mr_index_query *q)
{
    pg_param_text(p, who->tenant_id);
    pg_param_text(p, who->user_id);
    pg_param_bool(p, q->include_shared);
    pg_param_text(p, q->conversation_id);
    param_types(p, q->type_mask);
    pg_param_bool(p, q->include_archived);
    pg_param_int(p, q->now);
}

/* The array literal "{1,2,3}" of ids[0..n) into b. */
static void id_list(struct mr_strbuf *b, const int64_t *ids, size_t n)
{
    mr_strbuf_add(b, "{", 1);
    for (size_t i = 0; i < n; i++)
        mr_strbuf_printf(b, "%s%lld", i ? "," : "", (long long)ids[i]);
    mr_strbuf_add(b, "}", 1);
}

/* P_MEM_SEARCH's parameters for q. */
static void vector_params(struct pg_params *p, const struct mr_identity *who,
                          const struct mr_index_query *q)
{
    pg_param_vector(p, q->vec, q->dim);
    param_filters(p, who, q);
    pg_param_int(p, (int64_t)q->limit);
}

/* P_MEM_SEARCH's rows (res, cleared here): the hits over q->min_score, best first. */
static void vector_hits(PGresult *res, const struct mr_index_query *q, struct mr_index_hit **out,
                        size_t *out_n)
{
    int n = PQntuples(res);
    struct mr_index_hit *hits = mr_xcalloc((size_t)n + 1, sizeof *hits);
    size_t n_hits = 0;
    for (int i = 0; i < n; i++) {
        float score = strtof(PQgetvalue(res, i, 1), NULL);
        if (score < q->min_score)
            break; /* rows come best first: the rest score lower still */
        hits[n_hits].id = pg_val_int(res, i, 0);
        hits[n_hits].score = score;
        n_hits++;
    }
    PQclear(res);
    *out = hits;
    *out_n = n_hits;
}

static int s_mem_vector_search(struct mr_store_tx *tx, const struct mr_identity *who,
                               const struct mr_index_query *q, struct mr_index_hit **out,
                               size_t *out_n, struct mr_err *err)
{
    *out = NULL;
    *out_n = 0;
    if (q->conversation_id && !pg_is_uuid(q->conversation_id))
        return 0; /* no memory belongs to a conversation that cannot exist */
    struct pg_params p = {0};
    vector_params(&p, who, q);
    PGresult *res = pg_run(tx, P_MEM_SEARCH, &p, "searching memories", err);
    if (!res)
        return err->code;
    vector_hits(res, q, out, out_n);
    return 0;
}

/* Locks and reads ids[0..n) in id order (their embeddings not loaded). */
static int lock_rows(struct mr_store_tx *tx, const int64_t *ids, size_t n, struct mr_memory **out,
                     size_t *out_n, struct mr_err *err)
{
    *out = NULL;
    *out_n = 0;
    struct mr_strbuf list = {0};
    id_list(&list, ids, n);
    struct pg_params p = {0};
    pg_param_text(&p, list.s);
    /* A read transaction cannot lock (READ ONLY refuses FOR UPDATE), nor needs to. */
    enum pg_stmt st = ((struct pg_tx *)tx)->read_only ? P_MEM_READ_IDS : P_MEM_LOCK;
    PGresult *res = pg_run(tx, st, &p, "searching memories", err);
    mr_strbuf_free(&list);
    if (!res)
        return err->code;
    int rows = PQntuples(res), rc = 0;
    struct mr_memory *v = mr_xcalloc((size_t)rows + 1, sizeof *v);
    size_t kept = 0;
    for (int r = 0; rc == 0 && r < rows; r++)
        if ((rc = pg_read_memory(res, r, &v[kept], err)) == 0)
            kept++;
    PQclear(res);
    if (rc) {
        for (size_t j = 0; j < kept; j++)
            mr_memory_clear(&v[j]);
        free(v);
        return rc;
    }
    *out = v;
    *out_n = kept;
    return 0;
}

static int s_mem_lock(struct mr_store_tx *tx, const int64_t *ids, size_t n, struct mr_memory **out,
                      size_t *out_n, struct mr_err *err)
{
    return lock_rows(tx, ids, n, out, out_n, err);
}

static int s_mem_candidates(struct mr_store_tx *tx, const struct mr_identity *who,
                            const struct mr_lex_terms *terms, const int64_t *ids, size_t n,
                            size_t dim, float *out_vecs, bool *out_found, double *out_bm25,
                            double *out_max, struct mr_err *err)
{
    for (size_t i = 0; i < n; i++) {
        out_found[i] = false;
        out_bm25[i] = 0;
    }
    *out_max = 0;
    if (n == 0)
        return 0;
    size_t nq = terms ? mr_lex_terms_count(terms) : 0;
    struct mr_strbuf list = {0};
    id_list(&list, ids, n);
    struct pg_params p = {0};
    pg_param_text(&p, list.s);
    pg_param_text(&p, who->tenant_id);
    pg_param_text(&p, who->user_id);
    pg_param_terms(&p, terms);
    PGresult *res = pg_run_as(tx, P_MEM_CANDIDATES, &p, PG_BINARY, "scoring memories", err);
    mr_strbuf_free(&list);
    if (!res)
        return err->code;
    int rows = PQntuples(res), rc = 0;
    struct id_at *at = ids_at(ids, n);
    struct lex_stats st = {0};
    if (nq && rows)
        lex_stats_read(&st, res, 4, nq);
    for (int r = 0; rc == 0 && r < rows; r++) {
        struct id_at key = {pg_val_int(res, r, 0), 0};
        const struct id_at *hit = bsearch(&key, at, n, sizeof *at, id_at_order);
        if (!hit)
            continue;
        size_t d =
            PQgetisnull(res, r, 1)
                ? 0
                : pg_vector_bin_read((const unsigned char *)PQgetvalue(res, r, 1),
                                     (size_t)PQgetlength(res, r, 1), out_vecs + hit->i * dim, dim);
        if (d == 0) {
            rc = mr_err_set(err, MR_EINTERNAL,
                            "the stored embedding of memory row %lld is malformed",
                            (long long)key.id);
            break;
        }
        if (d == dim) { /* another dimension: only mid-reembed, a zero vector until rewritten */
            out_found[hit->i] = true;
            out_bm25[hit->i] = nq ? lex_row_score(&st, res, r, 2) : 0;
        }
    }
    if (nq && rows) {
        *out_max = st.max;
        lex_stats_free(&st);
    }
    free(at);
    PQclear(res);
    return rc;
}

static int s_mem_search(struct mr_store_tx *tx, const struct mr_identity *who,
                        const struct mr_index_query *q, struct mr_memory **out, float **out_scores,
                        size_t *out_n, struct mr_err *err)
{
    *out = NULL;
    *out_scores = NULL;
    *out_n = 0;
    struct mr_index_hit *hits = NULL;
    size_t n_hits = 0;
    int rc = s_mem_vector_search(tx, who, q, &hits, &n_hits, err);
    if (rc || n_hits == 0) {
        free(hits);
        return rc; /* no hit: nothing allocated, as before */
    }
    int64_t *ids = mr_xcalloc(n_hits + 1, sizeof *ids);
    for (size_t h = 0; h < n_hits; h++)
        ids[h] = hits[h].id;
    struct mr_memory *rows = NULL, *v = mr_xcalloc(n_hits + 1, sizeof *v);
    float *scores = mr_xcalloc(n_hits + 1, sizeof *scores);
    size_t n_rows = 0, kept = 0;
    if (n_hits)
        rc = lock_rows(tx, ids, n_hits, &rows, &n_rows, err);
    /* Back into distance order; a hit deleted since the scan is gone. */
    for (size_t h = 0; rc == 0 && h < n_hits; h++)
        for (size_t r = 0; r < n_rows; r++)
            if (rows[r].id == hits[h].id) {
                v[kept] = rows[r];
                scores[kept++] = hits[h].score;
                break;
            }
    free(rows);
    free(ids);
    free(hits);
    if (rc) {
        free(v);
        free(scores);
        return rc;
    }
    *out = v;
    *out_scores = scores;
    *out_n = kept;
    return 0;
}

/* Best first, ties by lower id (mr_lex_index_search's order). */
static int lex_hit_order(const void *a, const void *b)
{
    const struct mr_lex_hit *x = a, *y = b;
    if (x->bm25 != y->bm25)
        return x->bm25 > y->bm25 ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* By id alone (mem_sides_search's out_all). */
static int lex_hit_id_order(const void *a, const void *b)
{
    const struct mr_lex_hit *x = a, *y = b;
    return (x->id > y->id) - (x->id < y->id);
}

/* One row of P_MEM_LEX_SEARCH: a candidate, its length, a query term's index and its tf. */
struct lex_posting {
    int64_t id;
    uint32_t len;
    size_t term;
    uint64_t tf;
};

/* By id (a candidate's rows together); the term order within one does not matter. */
static int lex_posting_order(const void *a, const void *b)
{
    const struct lex_posting *x = a, *y = b;
    return (x->id > y->id) - (x->id < y->id);
}

static int id_order(const void *a, const void *b)
{
    const int64_t *x = a, *y = b;
    return (*x > *y) - (*x < *y);
}

/*
 * The first k of hits[0..n) (best first) that pass q's filters, moved to
 * the front in their order; their count into *out_kept. The candidates are
 * checked a slice at a time (P_MEM_LEX_FILTER), the first of 2·k, each
 * next one four times the last: most searches check one slice, and one
 * whose best candidates the filters remove (archived, another type or
 * conversation) goes deeper until k pass or the candidates run out.
 */
static int lex_filter(struct mr_store_tx *tx, const struct mr_identity *who,
                      const struct mr_index_query *q, struct mr_lex_hit *hits, size_t n, size_t k,
                      size_t *out_kept, struct mr_err *err)
{
    size_t kept = 0, next = 0, slice = 2 * k;
    int rc = 0;
    int64_t *pass = mr_xcalloc(n + 1, sizeof *pass);
    while (kept < k && next < n) {
        size_t end = next + slice < n ? next + slice : n;
        struct mr_strbuf list = {0};
        mr_strbuf_add(&list, "{", 1);
        for (size_t i = next; i < end; i++)
            mr_strbuf_printf(&list, "%s%lld", i > next ? "," : "", (long long)hits[i].id);
        mr_strbuf_add(&list, "}", 1);
        struct pg_params p = {0};
        param_filters(&p, who, q);
        pg_param_text(&p, list.s);
        PGresult *res = pg_run(tx, P_MEM_LEX_FILTER, &p, "searching memories by their words", err);
        mr_strbuf_free(&list);
        if (!res) {
            rc = err->code;
            goto out;
        }
        size_t n_pass = 0;
        for (int r = 0, rows = PQntuples(res); r < rows; r++)
            pass[n_pass++] = pg_val_int(res, r, 0);
        PQclear(res);
        qsort(pass, n_pass, sizeof *pass, id_order);
        for (size_t i = next; i < end && kept < k; i++)
            if (bsearch(&hits[i].id, pass, n_pass, sizeof *pass, id_order))
                hits[kept++] = hits[i];
        next = end;
        slice *= 4;
    }
out:
    free(pass);
    *out_kept = kept;
    return rc;
}

/* P_MEM_LEX_SEARCH's parameters for q and terms. */
static void lex_params(struct pg_params *p, const struct mr_identity *who,
                       const struct mr_index_query *q, const struct mr_lex_terms *terms)
{
    pg_param_text(p, who->tenant_id);
    pg_param_text(p, who->user_id);
    pg_param_bool(p, q->include_shared);
    pg_param_terms(p, terms);
}

/*
 * P_MEM_LEX_SEARCH's rows (res, cleared here) for nq query terms: the
 * statistics into st (free with lex_stats_free) and, unless k is 0, every
 * candidate with its BM25 into *out (free it), best first, ties by lower id.
 */
static void lex_ranked(PGresult *res, size_t nq, size_t k, struct lex_stats *st,
                       struct mr_lex_hit **out, size_t *out_n)
{
    /* The statistics' own row, then one per (candidate, query term it holds), unordered. */
    int rows = PQntuples(res), stats = 0;
    while (stats + 1 < rows && PQgetisnull(res, stats, 0))
        stats++;
    lex_stats_read_row(st, res, stats, 0, nq);
    /* The postings, grouped here by id. */
    struct lex_posting *post = mr_xcalloc((size_t)rows + 1, sizeof *post);
    size_t n_post = 0;
    for (int r = 0; k && r < rows; r++) {
        if (PQgetisnull(res, r, 3))
            continue;
        int64_t ord = pg_val_int(res, r, 5);
        if (ord < 1 || (uint64_t)ord > nq || PQgetisnull(res, r, 6))
            continue;
        post[n_post++] =
            (struct lex_posting){pg_val_int(res, r, 3), (uint32_t)pg_val_int(res, r, 4),
                                 (size_t)ord - 1, (uint64_t)pg_val_int(res, r, 6)};
    }
    PQclear(res);
    qsort(post, n_post, sizeof *post, lex_posting_order);
    struct mr_lex_hit *hits = mr_xcalloc(n_post + 1, sizeof *hits);
    size_t n = 0;
    for (size_t i = 0; i < n_post;) {
        int64_t id = post[i].id;
        uint32_t len = post[i].len;
        for (size_t t = 0; t < nq; t++)
            st->tfs[t] = 0;
        for (; i < n_post && post[i].id == id; i++)
            st->tfs[post[i].term] = post[i].tf;
        hits[n].id = id;
        hits[n].bm25 = lex_tfs_score(st, len);
        n++;
    }
    free(post);
    qsort(hits, n, sizeof *hits, lex_hit_order);
    *out = hits;
    *out_n = n;
}

/*
 * The lexical side's answer from its ranked candidates hits[0..n) (taken)
 * and statistics st (freed): the best k that pass q's filters, normalised,
 * into *out, and the normaliser into *out_max (may be NULL).
 */
static int lex_finish(struct mr_store_tx *tx, const struct mr_identity *who,
                      const struct mr_index_query *q, struct mr_lex_hit *hits, size_t n, size_t k,
                      struct lex_stats *st, struct mr_lex_hit **out, size_t *out_n, double *out_max,
                      struct mr_err *err)
{
    int rc = lex_filter(tx, who, q, hits, n, k, &n, err);
    if (rc) {
        free(hits);
        lex_stats_free(st);
        return rc;
    }
    for (size_t i = 0; i < n; i++)
        hits[i].lexical = mr_lex_normalise(hits[i].bm25, st->max);
    if (out_max)
        *out_max = st->max;
    lex_stats_free(st);
    *out = hits;
    *out_n = n;
    return 0;
}

static int s_mem_lex_search(struct mr_store_tx *tx, const struct mr_identity *who,
                            const struct mr_index_query *q, const struct mr_lex_terms *terms,
                            size_t k, struct mr_lex_hit **out, size_t *out_n, double *out_max,
                            struct mr_err *err)
{
    *out = NULL;
    *out_n = 0;
    if (out_max)
        *out_max = 0;
    size_t nq = mr_lex_terms_count(terms);
    if (nq == 0)
        return 0; /* stop words and punctuation only: no lexical side, no error */
    if (q->conversation_id && !pg_is_uuid(q->conversation_id))
        k = 0; /* no memory belongs to a conversation that cannot exist; max still reported */
    struct pg_params p = {0};
    lex_params(&p, who, q, terms);
    PGresult *res =
        pg_run_as(tx, P_MEM_LEX_SEARCH, &p, PG_BINARY, "searching memories by their words", err);
    if (!res)
        return err->code;
    struct lex_stats st;
    struct mr_lex_hit *hits;
    size_t n;
    lex_ranked(res, nq, k, &st, &hits, &n);
    return lex_finish(tx, who, q, hits, n, k, &st, out, out_n, out_max, err);
}

/*
 * Both sides' first statements in one pipeline (one round trip instead of
 * two; docs/perf.md), each skipped where its own op would skip it: the
 * vector hits into *out_vec, and the lexical side's candidates ranked but
 * not yet filtered into *out_ranked (k 0: none; free it) with the
 * statistics into *st and *out_has_lex (st to lex_stats_free when true),
 * and every scored memory by id into *out_all. The answers are parsed by
 * the same functions as the two ops', so they are theirs.
 */
static int sides_first(struct mr_store_tx *tx, const struct mr_identity *who,
                       const struct mr_index_query *q, const struct mr_lex_terms *terms, size_t k,
                       struct mr_index_hit **out_vec, size_t *out_n_vec,
                       struct mr_lex_hit **out_ranked, size_t *out_n_ranked, struct lex_stats *st,
                       bool *out_has_lex, struct mr_lex_hit **out_all, size_t *out_n_all,
                       struct mr_err *err)
{
    *out_vec = NULL;
    *out_n_vec = 0;
    *out_ranked = NULL;
    *out_n_ranked = 0;
    *out_has_lex = false;
    *out_all = NULL;
    *out_n_all = 0;
    size_t nq = terms ? mr_lex_terms_count(terms) : 0;
    bool conv_ok = !q->conversation_id || pg_is_uuid(q->conversation_id);
    enum pg_stmt ids[2];
    enum pg_format formats[2];
    struct pg_params p[2] = {{0}};
    const char *what[2];
    PGresult *res[2];
    size_t n = 0;
    int vec_at = -1, lex_at = -1;
    if (conv_ok) { /* no memory belongs to a conversation that cannot exist */
        vector_params(&p[n], who, q);
        ids[n] = P_MEM_SEARCH;
        formats[n] = PG_TEXT; /* its cosines parsed as before: their text, to the bit */
        what[n] = "searching memories";
        vec_at = (int)n++;
    }
    if (nq) { /* stop words and punctuation only: no lexical side, no error */
        lex_params(&p[n], who, q, terms);
        ids[n] = P_MEM_LEX_SEARCH;
        formats[n] = PG_BINARY;
        what[n] = "searching memories by their words";
        lex_at = (int)n++;
    }
    if (n == 0)
        return 0;
    int rc = pg_run_pipeline(tx, n, ids, p, formats, what, res, err);
    if (rc)
        return rc;
    if (vec_at >= 0)
        vector_hits(res[vec_at], q, out_vec, out_n_vec);
    if (lex_at < 0)
        return 0;
    size_t kk = conv_ok ? k : 0; /* max still reported */
    struct mr_lex_hit *hits;
    size_t n_hits;
    lex_ranked(res[lex_at], nq, kk, st, &hits, &n_hits);
    /* Every scored memory by id, before the filters keep the best k in place. */
    struct mr_lex_hit *all = mr_xcalloc(n_hits + 1, sizeof *all);
    memcpy(all, hits, n_hits * sizeof *all);
    qsort(all, n_hits, sizeof *all, lex_hit_id_order);
    *out_ranked = hits;
    *out_n_ranked = n_hits;
    *out_has_lex = true;
    *out_all = all;
    *out_n_all = n_hits;
    return 0;
}

/* Then the lexical side's filter check as mem_lex_search runs it. */
static int s_mem_sides_search(struct mr_store_tx *tx, const struct mr_identity *who,
                              const struct mr_index_query *q, const struct mr_lex_terms *terms,
                              size_t k, struct mr_index_hit **out_vec, size_t *out_n_vec,
                              struct mr_lex_hit **out_lex, size_t *out_n_lex, double *out_max,
                              struct mr_lex_hit **out_all, size_t *out_n_all, struct mr_err *err)
{
    *out_lex = NULL;
    *out_n_lex = 0;
    if (out_max)
        *out_max = 0;
    struct lex_stats st;
    struct mr_lex_hit *hits;
    size_t n_hits;
    bool has_lex;
    int rc = sides_first(tx, who, q, terms, k, out_vec, out_n_vec, &hits, &n_hits, &st, &has_lex,
                         out_all, out_n_all, err);
    if (rc || !has_lex)
        return rc;
    bool conv_ok = !q->conversation_id || pg_is_uuid(q->conversation_id);
    rc = lex_finish(tx, who, q, hits, n_hits, conv_ok ? k : 0, &st, out_lex, out_n_lex, out_max,
                    err);
    if (rc) {
        free(*out_all);
        *out_all = NULL;
        *out_n_all = 0;
        free(*out_vec);
        *out_vec = NULL;
        *out_n_vec = 0;
    }
    return rc;
}

static int s_mem_lex_score(struct mr_store_tx *tx, const struct mr_identity *who,
                           const struct mr_lex_terms *terms, const int64_t *ids, size_t n,
                           double *out_scores, double *out_max, struct mr_err *err)
{
    for (size_t i = 0; i < n; i++)
        out_scores[i] = 0;
    if (out_max)
        *out_max = 0;
    size_t nq = mr_lex_terms_count(terms);
    if (nq == 0)
        return 0;
    struct pg_params p = {0};
    struct mr_strbuf list = {0};
    mr_strbuf_add(&list, "{", 1);
    for (size_t i = 0; i < n; i++)
        mr_strbuf_printf(&list, "%s%lld", i ? "," : "", (long long)ids[i]);
    mr_strbuf_add(&list, "}", 1);
    pg_param_text(&p, who->tenant_id);
    pg_param_text(&p, who->user_id);
    pg_param_terms(&p, terms);
    pg_param_text(&p, list.s);
    PGresult *res = pg_run(tx, P_MEM_LEX_SCORE, &p, "scoring memories by their words", err);
    mr_strbuf_free(&list);
    if (!res)
        return err->code;
    struct lex_stats st;
    lex_stats_read(&st, res, 0, nq);
    for (int r = 0, rows = PQntuples(res); r < rows; r++) {
        if (PQgetisnull(res, r, 3))
            continue;
        int64_t id = pg_val_int(res, r, 3);
        double score = lex_row_score(&st, res, r, 4);
        for (size_t i = 0; i < n; i++)
            if (ids[i] == id)
                out_scores[i] = score;
    }
    PQclear(res);
    if (out_max)
        *out_max = st.max;
    lex_stats_free(&st);
    return 0;
}

/* A walk's offset (−3…−1, 1…3) → its slot in a window (store.h: before, then after). */
static size_t window_slot(int64_t off)
{
    return (size_t)(off < 0 ? off + MR_STORE_WINDOW_SIDE : off + MR_STORE_WINDOW_SIDE - 1);
}

static int s_mem_neighbours(struct mr_store_tx *tx, const struct mr_identity *who,
                            const struct mr_lex_terms *terms, const int64_t *ids, size_t n,
                            int64_t *out_around, double *out_bm25, struct mr_err *err)
{
    for (size_t i = 0; i < MR_STORE_WINDOW * n; i++) {
        out_around[i] = 0;
        out_bm25[i] = 0;
    }
    if (n == 0)
        return 0;
    size_t nq = terms ? mr_lex_terms_count(terms) : 0;
    struct mr_strbuf list = {0};
    id_list(&list, ids, n);
    struct pg_params p = {0};
    pg_param_text(&p, list.s);
    pg_param_text(&p, who->tenant_id);
    pg_param_text(&p, who->user_id);
    param_types(&p, turn_types());
    pg_param_terms(&p, terms);
    PGresult *res = pg_run(tx, P_MEM_NEIGHBOURS, &p, "reading the turns around memories", err);
    mr_strbuf_free(&list);
    if (!res)
        return err->code;
    struct id_at *at = ids_at(ids, n);
    struct lex_stats st = {0};
    int rows = PQntuples(res);
    if (nq && rows)
        lex_stats_read(&st, res, 0, nq);
    for (int r = 0; r < rows; r++) {
        if (PQgetisnull(res, r, 3))
            continue;
        struct id_at key = {pg_val_int(res, r, 3), 0};
        const struct id_at *hit = bsearch(&key, at, n, sizeof *at, id_at_order);
        int64_t off = pg_val_int(res, r, 5);
        if (!hit || off < -MR_STORE_WINDOW_SIDE || off > MR_STORE_WINDOW_SIDE || off == 0)
            continue;
        size_t k = MR_STORE_WINDOW * hit->i + window_slot(off);
        out_around[k] = pg_val_int(res, r, 4);
        out_bm25[k] = nq ? lex_row_score(&st, res, r, 6) : 0;
    }
    if (nq && rows)
        lex_stats_free(&st);
    free(at);
    PQclear(res);
    return 0;
}

/*
 * Places turn nb of one side (-1 before, 1 after) of a window w (store.h's
 * MR_STORE_WINDOW slots) in the order of distance from the window's id:
 * the nearest turn before has the highest id, the nearest after the lowest.
 * P_MEM_CONTEXT's walks give each side's turns (at most
 * MR_STORE_WINDOW_SIDE, distinct) in no particular order.
 */
static void window_place(int64_t *w, int64_t side, int64_t nb)
{
    for (int64_t k = 1; k <= MR_STORE_WINDOW_SIDE; k++) {
        int64_t *slot = &w[window_slot(side * k)];
        if (*slot == 0) {
            *slot = nb;
            return;
        }
        if (side < 0 ? nb > *slot : nb < *slot) { /* nearer: it takes the slot, the rest move out */
            int64_t farther = *slot;
            *slot = nb;
            nb = farther;
        }
    }
}

/* An embedding row of P_MEM_CONTEXT's answer: its memory's id and the row. */
struct id_row {
    int64_t id;
    int row;
};

static int id_row_order(const void *a, const void *b)
{
    int64_t x = ((const struct id_row *)a)->id, y = ((const struct id_row *)b)->id;
    return (x > y) - (x < y);
}

static int context_answer(PGresult *res, const int64_t *ids, size_t n, size_t dim,
                          int64_t *out_around, int64_t **out_vec_ids, float **out_vecs,
                          size_t *out_n_vecs, struct mr_err *err);

static int s_mem_context(struct mr_store_tx *tx, const struct mr_identity *who, const int64_t *ids,
                         size_t n, const int64_t *wide, size_t n_wide, bool around_vecs, size_t dim,
                         int64_t *out_around, int64_t **out_vec_ids, float **out_vecs,
                         size_t *out_n_vecs, struct mr_err *err)
{
    for (size_t i = 0; i < MR_STORE_WINDOW * n; i++)
        out_around[i] = 0;
    *out_vec_ids = NULL;
    *out_vecs = NULL;
    *out_n_vecs = 0;
    if (n == 0)
        return 0;
    struct mr_strbuf list = {0}, wide_list = {0};
    id_list(&list, ids, n);
    id_list(&wide_list, wide, n_wide);
    struct pg_params p = {0};
    pg_param_text(&p, list.s);
    pg_param_text(&p, who->tenant_id);
    pg_param_text(&p, who->user_id);
    param_types(&p, turn_types());
    pg_param_text(&p, wide_list.s);
    pg_param_bool(&p, around_vecs);
    /* Binary: the embeddings' bytes as stored, no hex to write and read (docs/perf.md). */
    PGresult *res =
        pg_run_as(tx, P_MEM_CONTEXT, &p, PG_BINARY, "reading the turns around memories", err);
    mr_strbuf_free(&list);
    mr_strbuf_free(&wide_list);
    if (!res)
        return err->code;
    return context_answer(res, ids, n, dim, out_around, out_vec_ids, out_vecs, out_n_vecs, err);
}

/*
 * P_MEM_CONTEXT's answer (res, cleared here; P_MEM_SIDES_CONTEXT's too,
 * whose rows of lexical hits it skips) for ids[0..n) (distinct), as
 * s_mem_context returns it.
 */
static int context_answer(PGresult *res, const int64_t *ids, size_t n, size_t dim,
                          int64_t *out_around, int64_t **out_vec_ids, float **out_vecs,
                          size_t *out_n_vecs, struct mr_err *err)
{
    struct id_at *at = ids_at(ids, n);
    int rows = PQntuples(res), rc = 0;
    struct id_row *vec_rows = mr_xcalloc((size_t)rows + 1, sizeof *vec_rows);
    size_t n_vec_rows = 0;
    for (int r = 0; r < rows; r++) {
        if (!PQgetisnull(res, r, 1)) { /* a walk's row, with the turn's embedding or not */
            struct id_at key = {pg_val_int(res, r, 0), 0};
            const struct id_at *hit = bsearch(&key, at, n, sizeof *at, id_at_order);
            int64_t side = pg_val_int(res, r, 2), nb = pg_val_int(res, r, 1);
            if (!PQgetisnull(res, r, 3))
                vec_rows[n_vec_rows++] = (struct id_row){nb, r};
            if (hit && (side == -1 || side == 1) && nb > 0)
                window_place(out_around + MR_STORE_WINDOW * hit->i, side, nb);
        } else if (!PQgetisnull(res, r, 3)) { /* no embedding: as mem_candidates, not found */
            vec_rows[n_vec_rows++] = (struct id_row){pg_val_int(res, r, 0), r};
        }
    }
    free(at);
    qsort(vec_rows, n_vec_rows, sizeof *vec_rows, id_row_order);
    int64_t *vid = mr_xcalloc(n_vec_rows + 1, sizeof *vid);
    float *vv = mr_xcalloc(n_vec_rows * dim + 1, sizeof *vv);
    size_t n_got = 0;
    for (size_t i = 0; i < n_vec_rows; i++) {
        if (i && vec_rows[i].id == vec_rows[i - 1].id)
            continue; /* a neighbour of several ids: one snapshot, the same bytes */
        int r = vec_rows[i].row;
        size_t d = pg_vector_bin_read((const unsigned char *)PQgetvalue(res, r, 3),
                                      (size_t)PQgetlength(res, r, 3), vv + n_got * dim, dim);
        if (d == 0) {
            rc = mr_err_set(err, MR_EINTERNAL,
                            "the stored embedding of memory row %lld is malformed",
                            (long long)vec_rows[i].id);
            break;
        }
        if (d == dim) /* another dimension: only mid-reembed, as mem_candidates skips it */
            vid[n_got++] = vec_rows[i].id;
    }
    PQclear(res);
    free(vec_rows);
    if (rc) {
        for (size_t i = 0; i < MR_STORE_WINDOW * n; i++)
            out_around[i] = 0;
        free(vid);
        free(vv);
        return rc;
    }
    *out_vec_ids = vid;
    *out_vecs = vv;
    *out_n_vecs = n_got;
    return 0;
}

/* ids[0..n) and more[0..n_more) once each, ascending, into a new array (*out_n of them). */
static int64_t *id_union(const int64_t *ids, size_t n, const int64_t *more, size_t n_more,
                         size_t *out_n)
{
    int64_t *u = mr_xcalloc(n + n_more + 1, sizeof *u);
    memcpy(u, ids, n * sizeof *u);
    memcpy(u + n, more, n_more * sizeof *u);
    qsort(u, n + n_more, sizeof *u, id_order);
    size_t k = 0;
    for (size_t i = 0; i < n + n_more; i++)
        if (k == 0 || u[i] != u[k - 1])
            u[k++] = u[i];
    *out_n = k;
    return u;
}

/*
 * mem_sides_search, then mem_context for its hits, in two round trips
 * where that was three: the pipeline (sides_first), then the lexical
 * side's filter check on its best 2·k candidates and the context step in
 * one statement (P_MEM_SIDES_CONTEXT). When fewer than k of those pass
 * and more candidates remain, the answer is set aside and the two run as
 * their ops run them (lex_finish's deeper slices, then P_MEM_CONTEXT):
 * the same results, one statement more.
 */
static int s_mem_sides_context(struct mr_store_tx *tx, const struct mr_identity *who,
                               const struct mr_index_query *q, const struct mr_lex_terms *terms,
                               size_t k, bool around_vecs, size_t dim,
                               struct mr_index_hit **out_vec, size_t *out_n_vec,
                               struct mr_lex_hit **out_lex, size_t *out_n_lex, double *out_max,
                               struct mr_lex_hit **out_all, size_t *out_n_all, int64_t **out_ids,
                               int64_t **out_around, size_t *out_n_ids, int64_t **out_vec_ids,
                               float **out_vecs, size_t *out_n_vecs, struct mr_err *err)
{
    *out_lex = NULL;
    *out_n_lex = 0;
    if (out_max)
        *out_max = 0;
    *out_ids = *out_around = *out_vec_ids = NULL;
    *out_vecs = NULL;
    *out_n_ids = *out_n_vecs = 0;
    struct lex_stats st;
    struct mr_lex_hit *hits = NULL;
    size_t n_hits = 0;
    bool has_lex;
    int rc = sides_first(tx, who, q, terms, k, out_vec, out_n_vec, &hits, &n_hits, &st, &has_lex,
                         out_all, out_n_all, err);
    if (rc)
        return rc;
    bool conv_ok = !q->conversation_id || pg_is_uuid(q->conversation_id);
    size_t kk = conv_ok && has_lex ? k : 0, slice = 2 * kk < n_hits ? 2 * kk : n_hits;
    size_t n_vec = *out_n_vec, n_lex = 0, n_pass = 0;
    int64_t *vec_ids = mr_xcalloc(n_vec + 1, sizeof *vec_ids);
    int64_t *lex_ids = mr_xcalloc(n_hits + 1, sizeof *lex_ids);
    int64_t *pass = mr_xcalloc(slice + 1, sizeof *pass);
    for (size_t i = 0; i < n_vec; i++)
        vec_ids[i] = (*out_vec)[i].id;
    PGresult *res = NULL;
    if (n_vec + slice > 0) {
        struct mr_strbuf vl = {0}, sl = {0};
        id_list(&vl, vec_ids, n_vec);
        /* lex_ids as scratch for the slice's ids: both branches below refill it from 0. */
        for (size_t i = 0; i < slice; i++)
            lex_ids[i] = hits[i].id;
        id_list(&sl, lex_ids, slice);
        struct pg_params p = {0};
        pg_param_text(&p, vl.s);
        pg_param_text(&p, who->tenant_id);
        pg_param_text(&p, who->user_id);
        param_types(&p, turn_types());
        pg_param_text(&p, sl.s);
        pg_param_bool(&p, around_vecs);
        pg_param_bool(&p, q->include_shared);
        pg_param_text(&p, q->conversation_id);
        param_types(&p, q->type_mask);
        pg_param_bool(&p, q->include_archived);
        pg_param_int(&p, q->now);
        pg_param_int(&p, (int64_t)kk);
        res = pg_run_as(tx, P_MEM_SIDES_CONTEXT, &p, PG_BINARY, "searching memories by their words",
                        err);
        mr_strbuf_free(&vl);
        mr_strbuf_free(&sl);
        if (!res) {
            rc = err->code;
            goto fail;
        }
        for (int r = 0, rows = PQntuples(res); r < rows; r++)
            if (PQgetisnull(res, r, 1) && !PQgetisnull(res, r, 2) && n_pass < slice)
                pass[n_pass++] = pg_val_int(res, r, 0); /* a lexical hit's row */
    }
    if (has_lex && n_pass < kk && slice < n_hits) {
        /* The filters removed more than k of the best 2·k: as the two ops run. */
        PQclear(res);
        res = NULL;
        rc = lex_finish(tx, who, q, hits, n_hits, kk, &st, out_lex, out_n_lex, out_max, err);
        hits = NULL;
        has_lex = false; /* st freed */
        if (rc)
            goto fail;
        for (size_t i = 0; i < *out_n_lex; i++)
            lex_ids[n_lex++] = (*out_lex)[i].id;
        *out_ids = id_union(vec_ids, n_vec, lex_ids, n_lex, out_n_ids);
        *out_around = mr_xcalloc(MR_STORE_WINDOW * *out_n_ids + 1, sizeof **out_around);
        rc = s_mem_context(tx, who, *out_ids, *out_n_ids, lex_ids, n_lex, around_vecs, dim,
                           *out_around, out_vec_ids, out_vecs, out_n_vecs, err);
        if (rc)
            goto fail;
    } else {
        /* The hits: the candidates of the slice that passed, in their order (k at most). */
        qsort(pass, n_pass, sizeof *pass, id_order);
        for (size_t i = 0; i < slice; i++)
            if (bsearch(&hits[i].id, pass, n_pass, sizeof *pass, id_order))
                hits[n_lex++] = hits[i];
        for (size_t i = 0; i < n_lex; i++) {
            hits[i].lexical = mr_lex_normalise(hits[i].bm25, st.max);
            lex_ids[i] = hits[i].id;
        }
        if (has_lex && out_max)
            *out_max = st.max;
        *out_lex = hits;
        *out_n_lex = n_lex;
        hits = NULL;
        *out_ids = id_union(vec_ids, n_vec, lex_ids, n_lex, out_n_ids);
        *out_around = mr_xcalloc(MR_STORE_WINDOW * *out_n_ids + 1, sizeof **out_around);
        if (res) {
            rc = context_answer(res, *out_ids, *out_n_ids, dim, *out_around, out_vec_ids, out_vecs,
                                out_n_vecs, err);
            res = NULL;
            if (rc)
                goto fail;
        }
    }
    if (has_lex)
        lex_stats_free(&st);
    free(vec_ids);
    free(lex_ids);
    free(pass);
    return 0;
fail:
    PQclear(res);
    if (has_lex)
        lex_stats_free(&st);
    free(hits);
    free(vec_ids);
    free(lex_ids);
    free(pass);
    free(*out_vec);
    free(*out_lex);
    free(*out_all);
    free(*out_ids);
    free(*out_around);
    *out_vec = NULL;
    *out_lex = NULL;
    *out_all = NULL;
    *out_ids = *out_around = NULL;
    *out_n_vec = *out_n_lex = *out_n_all = *out_n_ids = 0;
    if (out_max)
        *out_max = 0;
    return rc;
}

/* Appends one element of an int8[] literal; MR_NO_TIME is NULL. */
static void array_int(struct mr_strbuf *b, size_t i, int64_t v)
{
    if (i)
        mr_strbuf_add(b, ",", 1);
    if (v == MR_NO_TIME)
        mr_strbuf_add(b, "NULL", 4);
    else
        mr_strbuf_printf(b, "%lld", (long long)v);
}

static int cmp_delta(const void *a, const void *b)
{
    int64_t x = ((const struct mr_access_delta *)a)->id,
            y = ((const struct mr_access_delta *)b)->id;
    return (x > y) - (x < y);
}

/*
 * The batch's rows locked first, in id order (P_MEM_LOCK_IDS): an UPDATE
 * joined to an unnest locks its rows in whatever order the plan visits
 * them, and two servers' flushes over the same rows would deadlock. Then one
 * statement merges the batch (three arrays unnested beside the rule's bound
 * constants); the deltas of count 0 were only to be locked.
 */
/* P_MEM_ACCESS's answer: the count, and the promoted rows (for out_promoted, may be NULL). */
static void access_answer(PGresult *res, size_t *out_changed,
                          struct mr_access_promotion **out_promoted, size_t *out_n_promoted)
{
    int rows = PQntuples(res);
    if (out_changed)
        *out_changed = rows ? (size_t)pg_val_int(res, 0, 0) : 0;
    if (!out_promoted || rows == 0 || PQgetisnull(res, 0, 1))
        return;
    struct mr_access_promotion *p = mr_xcalloc((size_t)rows, sizeof *p);
    for (int i = 0; i < rows; i++) {
        p[i].id = pg_val_int(res, i, 1);
        snprintf(p[i].memory_id, sizeof p[i].memory_id, "%s", PQgetvalue(res, i, 2));
        p[i].user_id = pg_val_dup(res, i, 3);
        p[i].tenant_id = pg_val_dup(res, i, 4);
        p[i].at = pg_val_int(res, i, 5);
        p[i].importance_before = strtod(PQgetvalue(res, i, 6), NULL);
        p[i].importance_after = strtod(PQgetvalue(res, i, 7), NULL);
        p[i].expires_before = PQgetisnull(res, i, 8) ? MR_NO_TIME : pg_val_int(res, i, 8);
    }
    *out_promoted = p;
    *out_n_promoted = (size_t)rows;
}

static int s_mem_record_access(struct mr_store_tx *tx, const struct mr_access_delta *d, size_t n,
                               size_t *out_changed, struct mr_access_promotion **out_promoted,
                               size_t *out_n_promoted, struct mr_err *err)
{
    if (out_changed)
        *out_changed = 0;
    if (out_promoted) {
        *out_promoted = NULL;
        *out_n_promoted = 0;
    }
    if (n == 0)
        return 0;
    struct mr_access_delta *v = mr_xmalloc(n * sizeof *v);
    memcpy(v, d, n * sizeof *v);
    qsort(v, n, sizeof *v, cmp_delta);
    struct pg_params lp = {0};
    struct mr_strbuf ids = {0};
    mr_strbuf_add(&ids, "{", 1);
    for (size_t i = 0; i < n; i++)
        array_int(&ids, i, v[i].id);
    mr_strbuf_add(&ids, "}", 1);
    pg_param_text(&lp, ids.s);
    PGresult *res = pg_run(tx, P_MEM_LOCK_IDS, &lp, "recording accesses", err);
    mr_strbuf_free(&ids);
    int rc = res ? 0 : err->code;
    PQclear(res);
    struct pg_params p = {0};
    struct mr_strbuf cols[3] = {{0}};
    for (int c = 0; c < 3; c++)
        mr_strbuf_add(&cols[c], "{", 1);
    for (size_t i = 0; i < n; i++) {
        array_int(&cols[0], i, v[i].id);
        array_int(&cols[1], i, v[i].count > 0 ? v[i].count : 0);
        array_int(&cols[2], i, v[i].count > 0 ? v[i].last_at : MR_NO_TIME);
    }
    for (int c = 0; c < 3; c++) {
        mr_strbuf_add(&cols[c], "}", 1);
        pg_param_text(&p, cols[c].s);
    }
    pg_param_double(&p, MR_ACCESS_IMPORTANCE_BOOST);
    pg_param_int(&p, MR_PROMOTION_MIN_ACCESS);
    pg_param_double(&p, MR_PROMOTION_MIN_IMPORTANCE);
    pg_param_double(&p, MR_PROMOTION_IMPORTANCE_BOOST);
    pg_param_text(&p, mr_memory_type_name(MR_SHORT_TERM));
    pg_param_text(&p, mr_memory_type_name(MR_LONG_TERM));
    if (rc == 0) {
        res = pg_run(tx, P_MEM_ACCESS, &p, "recording accesses", err);
        if (res)
            access_answer(res, out_changed, out_promoted, out_n_promoted);
        else
            rc = err->code;
        PQclear(res);
    } else {
        pg_params_free(&p);
    }
    for (int c = 0; c < 3; c++)
        mr_strbuf_free(&cols[c]);
    free(v);
    return rc;
}

/* Walks every memory through a cursor, SCAN_BATCH rows a round trip. */
static int s_mem_scan(struct mr_store_tx *tx, mr_store_scan_fn fn, void *arg, struct mr_err *err)
{
    PGconn *pg = pg_tx_conn(tx)->pg;
    int rc = pg_exec_simple(pg,
                            "DECLARE memori_scan NO SCROLL CURSOR FOR SELECT " MEM_COLS
                            " FROM memori_memories ORDER BY id",
                            "scanning memories", err);
    char fetch[64];
    snprintf(fetch, sizeof fetch, "FETCH %d FROM memori_scan", SCAN_BATCH);
    while (rc == 0) {
        PGresult *res = PQexec(pg, fetch);
        if (PQresultStatus(res) != PGRES_TUPLES_OK) {
            rc = pg_result_error(err, pg, res, "scanning memories");
            PQclear(res);
            break;
        }
        int n = PQntuples(res);
        for (int i = 0; i < n && rc == 0; i++) {
            struct mr_memory m;
            if ((rc = pg_read_memory(res, i, &m, err)) != 0)
                break;
            rc = fn(arg, &m);
            mr_memory_clear(&m);
        }
        PQclear(res);
        if (n < SCAN_BATCH)
            break;
    }
    if (PQtransactionStatus(pg) == PQTRANS_INTRANS)
        pg_exec_simple(pg, "CLOSE memori_scan", "scanning memories", rc ? NULL : err);
    return rc;
}

const struct mr_store_ops pg_store_ops = {
    .name = "postgres",
    .begin = pg_begin,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .check_model = pg_check_model,
    .set_model = pg_set_model,
    .conv_get = s_conv_get,
    .conv_insert = s_conv_insert,
    .conv_update = s_conv_update,
    .conv_delete = s_conv_delete,
    .conv_list = s_conv_list,
    .mem_insert = s_mem_insert,
    .mem_get = s_mem_get,
    .mem_get_by_id = s_mem_get_by_id,
    .mem_update = s_mem_update,
    .mem_delete = s_mem_delete,
    .mem_list_by_conversation = s_mem_list_by_conversation,
    .mem_stats = s_mem_stats,
    .mem_archive = s_mem_archive,
    .mem_search = s_mem_search,
    .mem_vector_search = s_mem_vector_search,
    .mem_lock = s_mem_lock,
    .mem_candidates = s_mem_candidates,
    .mem_record_access = s_mem_record_access,
    .mem_lex_search = s_mem_lex_search,
    .mem_sides_search = s_mem_sides_search,
    .mem_lex_score = s_mem_lex_score,
    .mem_neighbours = s_mem_neighbours,
    .mem_context = s_mem_context,
    .mem_sides_context = s_mem_sides_context,
    .mem_scan = s_mem_scan,
    .schema_get = pg_schema_get,
    .schema_put = pg_schema_put,
    .schema_delete = pg_schema_delete,
    .mem_ids_by_data_source = pg_mem_ids_by_data_source,
    .health = pg_health,
    .close = pg_close,
    .conv_page = pg_conv_page,
    .mem_page = pg_mem_page,
    .schema_page = pg_schema_page,
    .model_get = pg_model_get,
    .conv_restore = pg_conv_restore,
    .mem_restore = pg_mem_restore,
    .mem_find_example = pg_mem_find_example,
    .mem_find_joins = pg_mem_find_joins,
    .ds_owner_conversation = pg_ds_owner_conversation,
    .mem_list = s_mem_list,
    .hist_insert = pg_hist_insert,
    .hist_list = pg_hist_list,
    .mem_find_dedup = pg_mem_find_dedup,
    .mem_set_dedup_key = pg_mem_set_dedup_key,
    .hist_page = pg_hist_page,
    .hist_restore = pg_hist_restore,
};

/* ---- export, import and migrate: run unprepared, as they run seldom ---- */

/* sql with p (freed here): the result, or NULL with err set. */
static PGresult *run_once(struct mr_store_tx *tx, const char *sql, struct pg_params *p,
                          const char *what, struct mr_err *err)
{
    PGconn *pg = pg_tx_conn(tx)->pg;
    PGresult *res = PQexecParams(pg, sql, p->n, NULL, p->vals, p->lens, p->fmts, 0);
    pg_params_free(p);
    ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
        return res;
    pg_result_error(err, pg, res, what);
    PQclear(res);
    return NULL;
}

/* The page's identity filter ($1 tenant, $2 user; NULL: any), after_id $3, limit $4. */
static void page_params(struct pg_params *p, const struct mr_identity *who, int64_t after_id,
                        size_t limit)
{
    pg_param_text(p, who ? who->tenant_id : NULL);
    pg_param_text(p, who ? who->user_id : NULL);
    pg_param_int(p, after_id);
    pg_param_int(p, (int64_t)limit);
}

#define PAGE_WHERE                                                                                 \
    " WHERE id > $3 AND ($1::text IS NULL OR tenant_id = $1) "                                     \
    "AND ($2::text IS NULL OR user_id = $2) ORDER BY id LIMIT $4"

int pg_conv_page(struct mr_store_tx *tx, const struct mr_identity *who, int64_t after_id,
                 size_t limit, struct mr_conversation **out, size_t *out_n, struct mr_err *err)
{
    struct pg_params p = {0};
    *out = NULL;
    *out_n = 0;
    page_params(&p, who, after_id, limit);
    PGresult *res = run_once(tx, "SELECT " CONV_COLS " FROM memori_conversations" PAGE_WHERE, &p,
                             "paging conversations", err);
    if (!res)
        return err->code;
    int n = PQntuples(res);
    *out = mr_xcalloc((size_t)n + 1, sizeof **out);
    for (int i = 0; i < n; i++)
        pg_read_conversation(res, i, &(*out)[i]);
    *out_n = (size_t)n;
    PQclear(res);
    return 0;
}

int pg_mem_page(struct mr_store_tx *tx, const struct mr_identity *who, int64_t after_id,
                size_t limit, bool with_embedding, struct mr_memory **out, size_t *out_n,
                struct mr_err *err)
{
    struct pg_params p = {0};
    *out = NULL;
    *out_n = 0;
    page_params(&p, who, after_id, limit);
    PGresult *res = run_once(tx,
                             with_embedding ? "SELECT " MEM_COLS " FROM memori_memories" PAGE_WHERE
                                            : "SELECT " MEM_COLS_BUT_EMB
                                              ", NULL FROM memori_memories" PAGE_WHERE,
                             &p, "paging memories", err);
    if (!res)
        return err->code;
    return read_memories(res, out, out_n, err); /* clears res */
}

int pg_schema_page(struct mr_store_tx *tx, const char *tenant_id, const char *after_tenant,
                   int64_t after_ds, size_t limit, struct mr_source_schema **out, size_t *out_n,
                   struct mr_err *err)
{
    struct pg_params p = {0};
    *out = NULL;
    *out_n = 0;
    pg_param_text(&p, tenant_id);
    pg_param_text(&p, after_tenant);
    pg_param_int(&p, after_ds);
    pg_param_int(&p, (int64_t)limit);
    PGresult *res = run_once(
        tx,
        "SELECT tenant_id, data_source_id, dialect, schema_hash, schema_json, "
        "conversation_id, " TS_OUT(
            "updated_at") " "
                          "FROM memori_data_source_schemas "
                          "WHERE ($1::text IS NULL OR tenant_id = $1) AND ($2::text IS NULL "
                          "OR (tenant_id, data_source_id) > ($2::text, $3::int8)) "
                          "ORDER BY tenant_id, data_source_id LIMIT $4",
        &p, "paging data-source schemas", err);
    if (!res)
        return err->code;
    int n = PQntuples(res);
    *out = mr_xcalloc((size_t)n + 1, sizeof **out);
    for (int i = 0; i < n; i++) {
        struct mr_source_schema *sc = &(*out)[i];
        sc->tenant_id = pg_val_dup(res, i, 0);
        sc->data_source_id = pg_val_int(res, i, 1);
        sc->dialect = pg_val_dup(res, i, 2);
        sc->schema_hash = pg_val_dup(res, i, 3);
        sc->schema_json = pg_val_dup(res, i, 4);
        snprintf(sc->conversation_id, sizeof sc->conversation_id, "%s", PQgetvalue(res, i, 5));
        sc->updated_at = pg_val_int(res, i, 6);
    }
    *out_n = (size_t)n;
    PQclear(res);
    return 0;
}

int pg_model_get(struct mr_store_tx *tx, char **out_model, size_t *out_dim, struct mr_err *err)
{
    const char *keys[2] = {"embedding_model", "embedding_dimensions"};
    char *vals[2] = {NULL, NULL};
    *out_model = NULL;
    *out_dim = 0;
    for (int k = 0; k < 2; k++) {
        struct pg_params p = {0};
        pg_param_text(&p, keys[k]);
        PGresult *res = pg_run(tx, P_META_GET, &p, "reading the recorded model", err);
        if (!res) {
            free(vals[0]);
            return err->code;
        }
        if (PQntuples(res) == 1)
            vals[k] = pg_val_dup(res, 0, 0);
        PQclear(res);
    }
    *out_model = vals[0];
    *out_dim = vals[1] ? (size_t)strtoull(vals[1], NULL, 10) : 0;
    free(vals[1]);
    return 0;
}

/*
 * The row id to insert: the kept one ($n) when no row holds it, else the
 * sequence's next. A kept id moves the sequence past it (in the same
 * statement), so later inserts do not collide with it.
 */
#define KEEP_ID(table, n)                                                                          \
    "CASE WHEN $" n "::int8 > 0 AND NOT EXISTS (SELECT 1 FROM " table " WHERE id = $" n            \
    "::int8) THEN $" n "::int8 ELSE nextval(pg_get_serial_sequence('" table "', 'id')) END"
#define BUMP_SEQ(table, n)                                                                         \
    "SELECT ins.id, CASE WHEN ins.id = $" n "::int8 THEN (SELECT setval(s, greatest("              \
    "coalesce(pg_sequence_last_value(s), 1), ins.id)) FROM (SELECT pg_get_serial_sequence('" table \
    "', 'id')::regclass AS s) q) END FROM ins"

int pg_conv_restore(struct mr_store_tx *tx, struct mr_conversation *c, struct mr_err *err)
{
    if (!pg_is_uuid(c->conversation_id))
        return mr_err_set(err, MR_EINVAL, "conversation id %s is not a UUID", c->conversation_id);
    struct pg_params p = {0};
    conversation_row_params(&p, c);
    pg_param_int(&p, c->id);
    /* clang-format off */
    PGresult *res = run_once(tx,
        "WITH ins AS (INSERT INTO memori_conversations(id, conversation_id, user_id, tenant_id, "
        "data_source_id, title, metadata, is_active, last_activity_at, created_at, updated_at) "
        "VALUES (" KEEP_ID("memori_conversations", "11") ", $1, $2, $3, $4, $5, $6, $7, "
        TS_IN("$8") ", " TS_IN("$9") ", " TS_IN("$10") ") "
        "ON CONFLICT (conversation_id) DO NOTHING RETURNING id) "
        BUMP_SEQ("memori_conversations", "11"),
        &p, "restoring a conversation", err);
    /* clang-format on */
    if (!res)
        return err->code;
    int rc = 0;
    if (PQntuples(res) == 1)
        c->id = pg_val_int(res, 0, 0);
    else
        rc = mr_err_set(err, MR_ECONFLICT, "conversation %s already exists", c->conversation_id);
    PQclear(res);
    return rc;
}

int pg_mem_restore(struct mr_store_tx *tx, struct mr_memory *m, struct mr_err *err)
{
    if (!pg_is_uuid(m->memory_id) || !pg_is_uuid(m->conversation_id))
        return mr_err_set(err, MR_EINVAL, "memory or conversation id is not a UUID");
    struct pg_params p = {0};
    memory_row_params(&p, m);
    pg_param_int(&p, m->id);
    /* The lexical columns as an insert writes them: a restored memory is found by its words. */
    pg_param_lex(&p, m->content);
    /* clang-format off */
    PGresult *res = run_once(tx,
        "WITH ins AS (INSERT INTO memori_memories(id, memory_id, conversation_id, user_id, "
        "tenant_id, content, memory_type, embedding, importance_score, access_count, "
        "last_accessed_at, context_tags, related_entities, metadata, expires_at, is_archived, "
        "created_at, updated_at, is_shared, data_source_id, lex_terms, lex_tfs, lex_len) "
        "VALUES (" KEEP_ID("memori_memories", "20") ", $1, $2, $3, $4, $5, $6, $7, $8, $9, "
        TS_IN("$10") ", $11, $12, $13, " TS_IN("$14") ", $15, " TS_IN("$16") ", "
        TS_IN("$17") ", $18, $19, $21, $22, $23) ON CONFLICT (memory_id) DO NOTHING "
        "RETURNING id) "
        BUMP_SEQ("memori_memories", "20"),
        &p, "restoring a memory", err);
    /* clang-format on */
    if (!res)
        return err->code;
    int rc = 0;
    if (PQntuples(res) == 1)
        m->id = pg_val_int(res, 0, 0);
    else
        rc = mr_err_set(err, MR_ECONFLICT, "memory %s already exists", m->memory_id);
    PQclear(res);
    return rc;
}

/*
 * ---- the lookups of example ingestion ----
 *
 * Run unprepared (an example makes a handful of them). The index
 * memori_memories_data_source_type (schema version 4) narrows to the
 * source's rows of one type and owner; jsonb_typeof guards that a field
 * matches only as a JSON string, as the core's reading did.
 */

/* The one row of res (NULL: the query failed, err says why), if any, into *out; frees res. */
static int first_memory(PGresult *res, struct mr_memory *out, bool *out_found, struct mr_err *err)
{
    if (!res)
        return err->code;
    int rc = 0;
    if (PQntuples(res) == 1) {
        rc = pg_read_memory(res, 0, out, err);
        *out_found = rc == 0;
    }
    PQclear(res);
    return rc;
}

int pg_mem_find_example(struct mr_store_tx *tx, const char *tenant_id, const char *user_id,
                        int64_t data_source_id, const char *question_normalized,
                        const char *fingerprint, struct mr_memory *out, bool *out_found,
                        struct mr_err *err)
{
    memset(out, 0, sizeof *out);
    *out_found = false;
    if (!question_normalized || !fingerprint)
        return 0;
    struct pg_params p = {0};
    pg_param_text(&p, tenant_id);
    pg_param_int(&p, data_source_id);
    pg_param_text(&p, user_id);
    pg_param_text(&p, question_normalized);
    pg_param_text(&p, fingerprint);
    PGresult *res = run_once(tx,
                             "SELECT " MEM_COLS " FROM memori_memories WHERE tenant_id = $1 "
                             "AND data_source_id = $2 AND user_id = $3 "
                             "AND memory_type = 'example' "
                             "AND jsonb_typeof(metadata -> 'question_normalized') = 'string' "
                             "AND metadata ->> 'question_normalized' = $4 "
                             "AND jsonb_typeof(metadata -> 'fingerprint') = 'string' "
                             "AND metadata ->> 'fingerprint' = $5 ORDER BY id LIMIT 1",
                             &p, "looking up an example", err);
    return first_memory(res, out, out_found, err);
}

int pg_mem_find_joins(struct mr_store_tx *tx, const char *tenant_id, int64_t data_source_id,
                      const char *const *keys, size_t n, int64_t *out_ids, struct mr_err *err)
{
    for (size_t i = 0; i < n; i++)
        out_ids[i] = 0;
    if (n == 0)
        return 0;
    /* One round trip: the keys as an array, each key's lowest row id. */
    struct mr_strv kv = {0};
    for (size_t i = 0; i < n; i++)
        mr_strv_push(&kv, keys[i], strlen(keys[i]));
    struct pg_params p = {0};
    pg_param_text(&p, tenant_id);
    pg_param_int(&p, data_source_id);
    pg_param_strv(&p, &kv);
    mr_strv_clear(&kv);
    PGresult *res = run_once(tx,
                             "SELECT metadata ->> 'join_key', min(id) FROM memori_memories "
                             "WHERE tenant_id = $1 AND data_source_id = $2 "
                             "AND data_source_id IS NOT NULL AND user_id = '' "
                             "AND memory_type = 'relationship' "
                             "AND jsonb_typeof(metadata -> 'kind') = 'string' "
                             "AND metadata ->> 'kind' = 'join' "
                             "AND jsonb_typeof(metadata -> 'join_key') = 'string' "
                             "AND metadata ->> 'join_key' = ANY($3::text[]) "
                             "GROUP BY metadata ->> 'join_key'",
                             &p, "looking up joins", err);
    if (!res)
        return err->code;
    for (int r = 0; r < PQntuples(res); r++) {
        const char *key = PQgetvalue(res, r, 0);
        int64_t id = pg_val_int(res, r, 1);
        for (size_t i = 0; i < n; i++)
            if (strcmp(keys[i], key) == 0)
                out_ids[i] = id;
    }
    PQclear(res);
    return 0;
}

int pg_ds_owner_conversation(struct mr_store_tx *tx, const char *tenant_id, int64_t data_source_id,
                             char out[MR_UUID_LEN], struct mr_err *err)
{
    out[0] = '\0';
    struct pg_params p = {0};
    pg_param_text(&p, tenant_id);
    pg_param_int(&p, data_source_id);
    PGresult *res = run_once(tx,
                             "SELECT conversation_id FROM memori_memories WHERE tenant_id = $1 "
                             "AND data_source_id = $2 AND user_id = '' ORDER BY id LIMIT 1",
                             &p, "finding a data source's conversation", err);
    if (!res)
        return err->code;
    if (PQntuples(res) == 1)
        snprintf(out, MR_UUID_LEN, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    return 0;
}

/*
 * ---- memory hygiene (issue 20) ----
 *
 * Run unprepared, as the lookups of example ingestion are: a create makes
 * one lookup and one or two writes here.
 */

/* An event's seven columns as $1..$7, as insert and restore both name them. */
static int history_params(struct pg_params *p, const struct mr_history_event *e, struct mr_err *err)
{
    if (!pg_is_uuid(e->memory_id))
        return mr_err_set(err, MR_EINVAL, "memory id is not a UUID");
    pg_param_text(p, e->memory_id);
    pg_param_text(p, e->user_id);
    pg_param_text(p, e->tenant_id);
    pg_param_text(p, e->actor);
    pg_param_text(p, e->kind);
    pg_param_text(p, e->changes ? e->changes : "{}");
    pg_param_int(p, e->created_at);
    return 0;
}

int pg_hist_insert(struct mr_store_tx *tx, struct mr_history_event *e, struct mr_err *err)
{
    struct pg_params p = {0};
    if (history_params(&p, e, err) != 0)
        return MR_EINVAL;
    PGresult *res = run_once(tx,
                             "INSERT INTO memori_memory_history(memory_id, user_id, tenant_id, "
                             "actor, kind, changes, created_at) VALUES ($1, $2, $3, $4, $5, "
                             "$6::jsonb, " TS_IN("$7") ") RETURNING id",
                             &p, "recording a memory's history", err);
    if (!res)
        return err->code;
    e->id = pg_val_int(res, 0, 0);
    PQclear(res);
    return 0;
}

/* Row i of a select of HIST_COLS into *e. */
#define HIST_COLS                                                                                  \
    "id, memory_id, user_id, tenant_id, actor, kind, changes::text, " TS_OUT("created_at")
static void history_row(PGresult *res, int i, struct mr_history_event *e)
{
    e->id = pg_val_int(res, i, 0);
    snprintf(e->memory_id, sizeof e->memory_id, "%s", PQgetvalue(res, i, 1));
    e->user_id = pg_val_dup(res, i, 2);
    e->tenant_id = pg_val_dup(res, i, 3);
    e->actor = pg_val_dup(res, i, 4);
    e->kind = pg_val_dup(res, i, 5);
    e->changes = pg_val_dup(res, i, 6);
    e->created_at = pg_val_int(res, i, 7);
}

int pg_hist_list(struct mr_store_tx *tx, const char *memory_id, int64_t limit, int64_t offset,
                 struct mr_history_event **out, size_t *out_n, int64_t *out_total,
                 struct mr_err *err)
{
    *out = NULL;
    *out_n = 0;
    *out_total = 0;
    if (!pg_is_uuid(memory_id))
        return 0;
    struct pg_params p = {0};
    pg_param_text(&p, memory_id);
    pg_param_int(&p, limit);
    pg_param_int(&p, offset);
    /* The total rides on every row (a window over the whole set), so one round trip. */
    PGresult *res = run_once(tx,
                             "SELECT " HIST_COLS ", count(*) OVER () FROM memori_memory_history "
                             "WHERE memory_id = $1 ORDER BY id LIMIT $2 OFFSET $3",
                             &p, "reading a memory's history", err);
    if (!res)
        return err->code;
    int n = PQntuples(res);
    struct mr_history_event *v = mr_xcalloc((size_t)n + 1, sizeof *v);
    for (int i = 0; i < n; i++) {
        history_row(res, i, &v[i]);
        *out_total = pg_val_int(res, i, 8);
    }
    PQclear(res);
    if (n == 0 && offset > 0) {
        /* A page past the end still tells how many there are. */
        p = (struct pg_params){0};
        pg_param_text(&p, memory_id);
        res = run_once(tx, "SELECT count(*) FROM memori_memory_history WHERE memory_id = $1", &p,
                       "reading a memory's history", err);
        if (!res) {
            free(v);
            return err->code;
        }
        *out_total = pg_val_int(res, 0, 0);
        PQclear(res);
    }
    *out = v;
    *out_n = (size_t)n;
    return 0;
}

int pg_mem_find_dedup(struct mr_store_tx *tx, const char *tenant_id, const char *user_id,
                      const char *key, struct mr_memory *out, bool *out_found, struct mr_err *err)
{
    memset(out, 0, sizeof *out);
    *out_found = false;
    struct pg_params p = {0};
    pg_param_text(&p, tenant_id);
    pg_param_text(&p, user_id);
    pg_param_text(&p, key);
    PGresult *res = run_once(tx,
                             "SELECT " MEM_COLS " FROM memori_memories WHERE tenant_id = $1 "
                             "AND user_id = $2 AND dedup_key = $3 AND dedup_key IS NOT NULL "
                             "AND NOT is_archived LIMIT 1",
                             &p, "looking up a duplicate", err);
    return first_memory(res, out, out_found, err);
}

int pg_mem_set_dedup_key(struct mr_store_tx *tx, int64_t id, const char *key, struct mr_err *err)
{
    struct pg_params p = {0};
    pg_param_int(&p, id);
    pg_param_text(&p, key);
    PGresult *res = run_once(tx, "UPDATE memori_memories SET dedup_key = $2 WHERE id = $1", &p,
                             "recording a memory's dedup key", err);
    if (!res)
        return err->code == MR_ECONFLICT
                   ? mr_err_set(err, MR_ECONFLICT,
                                "another live memory of this user holds this content")
                   : err->code;
    int64_t changed = strtoll(PQcmdTuples(res), NULL, 10);
    PQclear(res);
    return changed ? 0 : mr_err_set(err, MR_ENOTFOUND, "Memory not found");
}

int pg_hist_page(struct mr_store_tx *tx, const struct mr_identity *who, int64_t after_id,
                 size_t limit, struct mr_history_event **out, size_t *out_n, struct mr_err *err)
{
    struct pg_params p = {0};
    *out = NULL;
    *out_n = 0;
    page_params(&p, who, after_id, limit);
    PGresult *res = run_once(tx, "SELECT " HIST_COLS " FROM memori_memory_history" PAGE_WHERE, &p,
                             "paging memory history", err);
    if (!res)
        return err->code;
    int n = PQntuples(res);
    struct mr_history_event *v = mr_xcalloc((size_t)n + 1, sizeof *v);
    for (int i = 0; i < n; i++)
        history_row(res, i, &v[i]);
    PQclear(res);
    *out = v;
    *out_n = (size_t)n;
    return 0;
}

int pg_hist_restore(struct mr_store_tx *tx, struct mr_history_event *e, struct mr_err *err)
{
    struct pg_params p = {0};
    if (history_params(&p, e, err) != 0)
        return MR_EINVAL;
    pg_param_int(&p, e->id);
    /* The sequence is moved past a kept id, as a restored memory's is. */
    /* clang-format off */
    PGresult *res = run_once(tx,
        "WITH ins AS (INSERT INTO memori_memory_history(id, memory_id, user_id, tenant_id, "
        "actor, kind, changes, created_at) VALUES (" KEEP_ID("memori_memory_history", "8") ", "
        "$1, $2, $3, $4, $5, $6::jsonb, " TS_IN("$7") ") RETURNING id) "
        BUMP_SEQ("memori_memory_history", "8"),
        &p, "restoring a memory's history", err);
    /* clang-format on */
    if (!res)
        return err->code;
    int rc = 0;
    if (PQntuples(res) == 1)
        e->id = pg_val_int(res, 0, 0);
    else
        rc = mr_err_set(err, MR_EUNAVAIL, "restoring a memory's history: no row was written");
    PQclear(res);
    return rc;
}
