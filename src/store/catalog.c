/* catalog.c - pipemend's own state in the warehouse, written once for every
 * backend above the driver (driver.h): schema versions, checkpoints, runs,
 * quarantine, incidents and their rows, halts, proposals and the audit
 * chain, in the `_pipemend_*` tables each backend creates at open.
 *
 * One SQL text serves every database: parameters are $1, $2, ..., typed by
 * CAST where the type must be said, and the little that differs (the
 * catalog's schema, the current time, row locks, epoch seconds, a list of
 * ids) comes from the backend's drv_dialect, spliced in when a statement is
 * first prepared. Statements are prepared once per store and kept.
 *
 * Concurrency: several pipemend processes may share a warehouse. Every
 * read-then-write that must not interleave runs in one transaction (the
 * caller's, or one opened here) under the driver's lock of a key: the audit
 * chain's ("audit"), which also orders the dedup of incidents and proposals
 * (those transactions go on to append to the chain, and one lock cannot
 * deadlock with itself); "table:NAME" for a migration; and, inside a
 * batch, the checkpoint of a table and source (so that two runs on one
 * source cannot both move it). On SQLite the write transaction itself is
 * that lock. */
#include "store/store_int.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"

/* ---- the statements ------------------------------------------------------- */

/* What a LIMIT gets for "all" (<= 0 from the caller). */
#define ALL INT64_MAX

#define QROW_COLUMNS                                                                               \
    "q.id, q.run_id, q.table_name, q.pipeline, q.source, q.byte_offset, q.line, q.raw, "           \
    "q.raw_truncated, q.kinds, q.message, q.findings, q.status, q.created_at, q.header, "          \
    "q.delimiter"

/* id within lo..hi: the span of the run asked for (counts_run_span; the
 * whole key when no run is, or its span is not known), a range of the
 * primary key where an index on run_id would not help: SQLite cannot use
 * one through "$2 = 0 OR run_id = $2", and on PostgreSQL it cost every
 * quarantined row a B-tree entry (catalogs made before this keep theirs) */
#define RUN_SPAN(id, lo, hi) id " >= CAST(" lo " AS bigint) AND " id " <= CAST(" hi " AS bigint)"

/* The quarantine's rows of table $1 (NULL: every table), or of the one
 * table $1: statements that filter by table come in both forms, the second
 * next to the first (of_table), because SQLite can use the index on
 * (table_name, id) for the second only. */
#define ANY_TABLE(q) "(CAST($1 AS text) IS NULL OR " q "table_name = CAST($1 AS text))"
#define ONE_TABLE(q) q "table_name = CAST($1 AS text)"
#define QUARANTINE_LIST(table)                                                                     \
    "SELECT " QROW_COLUMNS " FROM _pipemend_quarantine q WHERE " table " AND (CAST($2 AS bigint) " \
    "= 0 OR q.run_id = CAST($2 AS bigint)) AND (CAST($3 AS bigint) = 0 OR q.id = CAST($3 AS "      \
    "bigint)) AND " RUN_SPAN("q.id", "$5", "$6") " ORDER BY q.id DESC LIMIT CAST($4 AS bigint)"
#define QUARANTINE_BROWSE(table)                                                                   \
    "SELECT " QROW_COLUMNS " FROM _pipemend_quarantine q WHERE " table " AND (CAST($2 AS bigint) " \
    "= 0 OR q.run_id = CAST($2 AS bigint)) AND (CAST($3 AS text) IS NULL OR (',' || q.kinds || "   \
    "',') LIKE CAST($3 AS text) ESCAPE '\\') AND (CAST($4 AS bigint) = 0 OR q.id < CAST($4 AS "    \
    "bigint)) AND " RUN_SPAN("q.id", "$6", "$7") " ORDER BY q.id DESC LIMIT CAST($5 AS bigint)"

#define INCIDENT_ACTIVE "state NOT IN ('resolved', 'dismissed')"

/* Which quarantined rows belong to an incident is kept as ranges of their
 * ids, (incident, first_qrow, last_qrow, nrows): a batch's rows of one
 * incident have consecutive ids, so a storm of a million rows is about
 * 4,000 ranges rather than a million links (each a heap row and two index
 * entries to write, and to delete again when the rows replay).
 *
 *   - every row in quarantine whose id lies in a range of an incident is
 *     linked to it; ids of rows that left quarantine may lie in a range;
 *   - nrows is how many rows in quarantine the range holds, kept with
 *     every change, so that an incident's rows are counted without
 *     reading them (on PostgreSQL, rows a run just wrote are not yet
 *     all-visible, and counting them read every one);
 *   - a range lies inside one aligned block of RANGE_BLOCK ids, so the
 *     ranges that hold id X all start in [X - RANGE_BLOCK + 1, X]: one
 *     short walk of the index on first_qrow, however the ranges are cut
 *     up (rows of two incidents that alternate make ranges of one row;
 *     blocks of 65,536 made that walk, once per waiting row, quadratic);
 *   - both ends of a range are rows in quarantine: when rows leave, the
 *     ranges about them are trimmed to the rows left (or dropped). SQLite
 *     gives a new row the highest id + 1, so an id once in a range is
 *     never given to a new row.
 *
 * X's ranges: RANGES_AT(X), X a SQL expression. */
#define RANGE_BLOCK 256
#define RANGES_AT(r, x) r ".first_qrow BETWEEN " x " - 255 AND " x " AND " r ".last_qrow >= " x

/* pm_incident_filter's $1..$4 (table, active_only, id, proposal) */
#define INCIDENT_WHERE                                                                             \
    "(CAST($1 AS text) IS NULL OR i.table_name = CAST($1 AS text)) AND (NOT CAST($2 AS boolean) "  \
    "OR i." INCIDENT_ACTIVE ") AND (CAST($3 AS bigint) = 0 OR i.id = CAST($3 AS bigint)) AND "     \
    "(CAST($4 AS bigint) = 0 OR i.proposal = CAST($4 AS bigint))"

typedef enum stmt_id {
    /* schema versions */
    ST_SCHEMA_GET,
    ST_SCHEMA_ADD,
    ST_TABLES_LIST,
    ST_TABLES_BRIEF,
    /* checkpoints and halts */
    ST_CHECKPOINT_GET,
    ST_CHECKPOINT_GET_LOCKED,
    ST_CHECKPOINT_SET,
    ST_CHECKPOINTS_LIST,
    ST_HALT_SET,
    ST_HALT_GET,
    ST_HALT_CLEAR,
    /* runs */
    ST_RUN_START,
    ST_RUN_ADD,
    ST_RUN_FINISH,
    ST_RUNS_LIST,
    ST_RUNS_RUNNING,
    ST_RUN_ABORT,
    /* quarantine */
    ST_QUARANTINE_ADD,
    ST_QUARANTINE_UPDATE,
    ST_QUARANTINE_LIST,
    ST_QUARANTINE_LIST_TABLE, /* one table: next to the form for any (of_table) */
    ST_QUARANTINE_PAGE,
    ST_QUARANTINE_FINDINGS,
    ST_RANGES_RESOLVED,
    ST_QUARANTINE_BROWSE,
    ST_QUARANTINE_BROWSE_TABLE,
    ST_QUARANTINE_COUNT,
    ST_QUARANTINE_COUNT_ALL,
    ST_QUARANTINE_COUNT_WHERE,
    ST_QUARANTINE_COUNT_WHERE_TABLE,
    ST_QUARANTINE_DISCARD,
    ST_QUARANTINE_DISCARD_TABLE,
    ST_QUARANTINE_DISCARD_GROUPS,
    ST_QUARANTINE_DISCARD_GROUPS_TABLE,
    ST_QUARANTINE_EXPORT,
    ST_QUARANTINE_EXPORT_TABLE,
    ST_FORGET_CHECKPOINTS,
    ST_FORGET_HALTS,
    ST_FORGET_SCHEMA,
    ST_QUARANTINE_REMOVE,
    ST_QUARANTINE_REMOVE_MANY,
    ST_QUARANTINE_REMOVE_RANGE,
    ST_QUARANTINE_SPAN,
    ST_QUARANTINE_SPAN_NEWEST,
    /* incident links, as ranges of row ids */
    ST_RANGES_ADD,
    ST_RANGES_ABOUT,
    ST_RANGES_LESS,
    ST_RANGES_RECOUNT,
    ST_RANGES_DROP_EMPTY,
    ST_RANGES_TRIM,
    ST_RANGES_HOLDING,
    ST_RANGE_DROP,
    ST_QUARANTINE_COUNT_SPAN,
    ST_INCIDENT_RANGES,
    ST_INCIDENT_RANGES_NEWEST,
    /* incidents */
    ST_INCIDENT_FIND,
    ST_INCIDENT_ADD,
    ST_INCIDENT_ACTIVE_ONE,
    ST_INCIDENT_LINK,
    ST_QUARANTINE_STRANDED,
    ST_INCIDENT_SET,
    ST_INCIDENTS_LIST,
    ST_INCIDENTS_COUNT,
    ST_INCIDENT_STATS,
    /* proposals */
    ST_PROPOSAL_FIND,
    ST_PROPOSAL_ADD,
    ST_PROPOSALS_LIST,
    ST_PROPOSAL_DECIDE,
    ST_PROPOSAL_DRY_RUN,
    /* audit */
    ST_AUDIT_LAST,
    ST_AUDIT_ADD,
    ST_AUDIT_LIST,
    ST_NEWEST_IDS,
    /* agent sessions */
    ST_AGENT_START,
    ST_AGENT_RUNNING,
    ST_AGENT_ABORT,
    ST_AGENT_STEP,
    ST_AGENT_COUNT,
    ST_AGENT_FINISH,
    ST_AGENT_LIST,
    ST_AGENT_STEPS,
    ST_AGENT_TOKENS,
    /* policy promotions */
    ST_PROMOTION_FIND,
    ST_PROMOTION_ADD,
    ST_PROMOTIONS_LIST,
    ST_PROMOTION_DECIDE,
    /* leases */
    ST_LEASE_TAKE,
    ST_LEASE_HOLDER,
    ST_LEASE_RELEASE,
    ST_RUN_TOTALS,
    /* the notifications outbox */
    ST_OUTBOX_ADD,
    ST_OUTBOX_DUE,
    ST_OUTBOX_CLAIM,
    ST_OUTBOX_DONE,
    ST_OUTBOX_LIST,
    ST_COUNT
} stmt_id;

_Static_assert(ST_COUNT <= STORE_STMT_SLOTS, "store_int.h: STORE_STMT_SLOTS too small");

static const struct {
    const char *sql;
    const char *what; /* the start of its error message */
} stmts[ST_COUNT] = {
    [ST_SCHEMA_GET] = {"SELECT version, columns FROM _pipemend_schema_versions WHERE table_name = "
                       "CAST($1 AS text) ORDER BY version DESC LIMIT 1",
                       "cannot read the catalog"},
    [ST_SCHEMA_ADD] = {"INSERT INTO _pipemend_schema_versions (table_name, version, columns, "
                       "reason, created_at) VALUES (CAST($1 AS text), CAST($2 AS integer), "
                       "CAST($3 AS text), CAST($4 AS text), {now})",
                       "cannot record the schema version"},
    [ST_TABLES_LIST] = {"SELECT v.table_name, v.version, v.columns FROM "
                        "_pipemend_schema_versions v WHERE v.version = (SELECT max(version) "
                        "FROM _pipemend_schema_versions w WHERE w.table_name = v.table_name) "
                        "ORDER BY v.table_name",
                        "cannot list tables"},
    [ST_TABLES_BRIEF] = {"SELECT table_name, max(version) FROM _pipemend_schema_versions "
                         "GROUP BY table_name ORDER BY table_name",
                         "cannot list tables"},

    [ST_CHECKPOINT_GET] = {"SELECT position FROM _pipemend_checkpoints "
                           "WHERE table_name = CAST($1 AS text) AND source = CAST($2 AS text)",
                           "cannot read the checkpoint"},
    [ST_CHECKPOINT_GET_LOCKED] = {"SELECT position FROM "
                                  "_pipemend_checkpoints WHERE table_name = CAST($1 AS text) AND "
                                  "source = CAST($2 AS text){for_update}",
                                  "cannot read the checkpoint"},
    [ST_CHECKPOINT_SET] = {"INSERT INTO _pipemend_checkpoints (table_name, source, position, "
                           "updated_at) VALUES (CAST($1 AS text), CAST($2 AS text), CAST($3 AS "
                           "text), {now}) ON CONFLICT (table_name, source) DO UPDATE SET "
                           "position = excluded.position, updated_at = excluded.updated_at",
                           "cannot write the checkpoint"},
    [ST_CHECKPOINTS_LIST] = {"SELECT source, position FROM _pipemend_checkpoints WHERE "
                             "table_name = CAST($1 AS text) ORDER BY source",
                             "cannot read the checkpoints"},
    [ST_HALT_SET] = {"INSERT INTO _pipemend_halts (table_name, source, qrow, halted_at) VALUES "
                     "(CAST($1 AS text), CAST($2 AS text), CAST($3 AS bigint), {now}) ON CONFLICT "
                     "(table_name, source) DO UPDATE SET qrow = excluded.qrow, halted_at = "
                     "excluded.halted_at",
                     "cannot record the halt"},
    [ST_HALT_GET] =
        {"SELECT h.qrow, (SELECT i.id FROM _pipemend_incident_ranges r JOIN "
         "_pipemend_incidents i ON i.id = r.incident WHERE " RANGES_AT(
             "r", "h.qrow") " AND i." INCIDENT_ACTIVE
                            " ORDER BY i.id LIMIT 1) FROM _pipemend_halts h "
                            "WHERE "
                            "h.table_name = CAST($1 AS text) AND h.source = CAST($2 AS text)",
         "cannot read the halt"},
    [ST_HALT_CLEAR] = {"DELETE FROM _pipemend_halts WHERE table_name = CAST($1 AS text) AND "
                       "source = CAST($2 AS text)",
                       "cannot clear the halt"},

    [ST_RUN_START] = {"INSERT INTO _pipemend_runs (pipeline, table_name, status, started_at, pid, "
                      "host) VALUES (CAST($1 AS text), CAST($2 AS text), 'running', {now}, "
                      "CAST($3 AS bigint), CAST($4 AS text)) RETURNING id",
                      "cannot record the run"},
    [ST_RUN_ADD] = {"UPDATE _pipemend_runs SET rows_read = rows_read + CAST($2 AS bigint), "
                    "rows_loaded = rows_loaded + CAST($3 AS bigint), rows_quarantined = "
                    "rows_quarantined + CAST($4 AS bigint) WHERE id = CAST($1 AS bigint)",
                    "cannot update the run"},
    [ST_RUN_FINISH] = {"UPDATE _pipemend_runs SET status = CAST($2 AS text), error = CAST($3 AS "
                       "text), volume_anomaly = CAST($4 AS boolean), volume_note = CAST($5 AS "
                       "text), finished_at = {now} WHERE id = CAST($1 AS bigint)",
                       "cannot finish the run"},
    [ST_RUNS_LIST] = {"SELECT id, pipeline, table_name, status, started_at, finished_at, "
                      "rows_read, rows_loaded, rows_quarantined, error, volume_anomaly, "
                      "volume_note FROM _pipemend_runs WHERE (CAST($1 AS text) IS NULL OR "
                      "pipeline = CAST($1 AS text)) AND (CAST($2 AS text) IS NULL OR table_name "
                      "= CAST($2 AS text)) AND (CAST($3 AS bigint) = 0 OR id = CAST($3 AS "
                      "bigint)) ORDER BY id DESC LIMIT CAST($4 AS bigint)",
                      "cannot list runs"},
    /* this host's running runs (their pids are checked here), and those of
     * other hosts whose replica held the pipeline's lease and let it
     * expire: a scheduler renews its lease while its run lasts, so that
     * replica is gone (killed, or its machine down) */
    [ST_RUNS_RUNNING] = {"SELECT r.id, r.pid, CASE WHEN r.host = CAST($1 AS text) THEN 1 ELSE 0 "
                         "END FROM _pipemend_runs r "
                         "WHERE r.status = 'running' AND (r.host = CAST($1 AS text) OR EXISTS "
                         "(SELECT 1 FROM _pipemend_leases l WHERE l.name = 'pipeline:' || "
                         "r.pipeline AND l.expires_at < CAST($2 AS bigint) AND "
                         "substr(l.holder, 1, length(r.host) + length(CAST(r.pid AS text)) + 2) "
                         "= r.host || ':' || CAST(r.pid AS text) || ':'))",
                         "cannot read runs"},
    /* still running: another process reaping at the same time takes each
     * run once, so each gets one audit event */
    [ST_RUN_ABORT] = {"UPDATE _pipemend_runs SET status = 'aborted', error = 'the process "
                      "running it ended before it finished (killed or crashed); committed "
                      "batches were kept and a re-run resumes from the checkpoint', finished_at "
                      "= {now} WHERE id = CAST($1 AS bigint) AND status = 'running'",
                      "cannot update runs"},

    [ST_QUARANTINE_ADD] = {"INSERT INTO _pipemend_quarantine (run_id, table_name, pipeline, "
                           "source, byte_offset, line, raw, raw_truncated, kinds, message, "
                           "findings, status, created_at, header, delimiter) VALUES (CAST($1 AS "
                           "bigint), "
                           "CAST($2 AS text), CAST($3 AS text), CAST($4 AS text), CAST($5 AS "
                           "bigint), CAST($6 AS bigint), $7, CAST($8 AS boolean), CAST($9 AS "
                           "text), CAST($10 AS text), CAST($11 AS text), 'quarantined', {now}, "
                           "$12, CAST($13 AS text)) RETURNING id",
                           "cannot quarantine a row"},
    [ST_QUARANTINE_UPDATE] = {"UPDATE _pipemend_quarantine SET kinds = CAST($2 AS text), message "
                              "= CAST($3 AS text), findings = CAST($4 AS text) WHERE id = "
                              "CAST($1 AS bigint)",
                              "cannot update a quarantined row"},
    [ST_QUARANTINE_LIST] = {QUARANTINE_LIST(ANY_TABLE("q.")), "cannot list quarantine"},
    [ST_QUARANTINE_LIST_TABLE] = {QUARANTINE_LIST(ONE_TABLE("q.")), "cannot list quarantine"},
    /* the ranges of resolved incidents about ids $1..$2: a row in one is
     * "stranded", and the replay links it again to an active incident (one
     * query for a page of rows rather than a lookup per row) */
    [ST_RANGES_RESOLVED] = {"SELECT r.first_qrow, r.last_qrow FROM _pipemend_incident_ranges r "
                            "JOIN _pipemend_incidents i ON i.id = r.incident WHERE r.first_qrow "
                            "BETWEEN CAST($1 AS bigint) - 255 AND CAST($2 AS bigint) AND "
                            "r.last_qrow >= CAST($1 AS bigint) AND i.state = 'resolved'",
                            "cannot list quarantine"},
    [ST_QUARANTINE_BROWSE] = {QUARANTINE_BROWSE(ANY_TABLE("q.")), "cannot list quarantine"},
    [ST_QUARANTINE_BROWSE_TABLE] = {QUARANTINE_BROWSE(ONE_TABLE("q.")), "cannot list quarantine"},
    /* what a replay needs to parse a page again, nothing more: the
     * findings and status of the few rows that still do not fit come
     * after, by ST_QUARANTINE_FINDINGS */
    [ST_QUARANTINE_PAGE] = {PG_BINARY_RESULTS
                            "SELECT q.id, q.run_id, q.source, q.raw, "
                            "q.raw_truncated, q.header, q.delimiter "
                            "FROM _pipemend_quarantine q WHERE q.table_name = CAST($1 AS text) "
                            "AND q.id > CAST($2 AS bigint) ORDER BY q.id LIMIT CAST($3 AS bigint)",
                            "cannot list quarantine"},
    [ST_QUARANTINE_FINDINGS] = {"SELECT q.id, q.findings FROM _pipemend_quarantine q "
                                "WHERE q.id {in_ids:$1} ORDER BY q.id",
                                "cannot list quarantine"},
    /* two statements, so that one table's count is an index lookup */
    [ST_QUARANTINE_COUNT] = {"SELECT count(*) FROM _pipemend_quarantine WHERE table_name = "
                             "CAST($1 AS text)",
                             "cannot count quarantine"},
    [ST_QUARANTINE_COUNT_ALL] = {"SELECT count(*) FROM _pipemend_quarantine",
                                 "cannot count quarantine"},
/* the rows of table (NULL: all), run (0: all) and id (0: all), for quarantine list's total
 * and discard */
#define QUARANTINE_WHERE(table)                                                                    \
    table " AND (CAST($2 AS bigint) = 0 OR run_id = CAST($2 AS bigint)) AND (CAST($3 AS bigint) "  \
          "= 0 OR id = CAST($3 AS bigint)) AND " RUN_SPAN("id", "$4", "$5")
#define QUARANTINE_COUNT_WHERE(table)                                                              \
    "SELECT count(*) FROM _pipemend_quarantine WHERE " QUARANTINE_WHERE(table)
    [ST_QUARANTINE_COUNT_WHERE] = {QUARANTINE_COUNT_WHERE(ANY_TABLE("")),
                                   "cannot count quarantine"},
    [ST_QUARANTINE_COUNT_WHERE_TABLE] = {QUARANTINE_COUNT_WHERE(ONE_TABLE("")),
                                         "cannot count quarantine"},
/* what went, for the kept counts (counts.c) and the incidents' ranges:
 * (table_name, run_id, count, min id, max id) per run, from the DELETE
 * itself where the dialect can (drv_dialect gone_open), else by
 * ST_QUARANTINE_DISCARD_GROUPS before it */
#define QUARANTINE_DISCARD(table)                                                                  \
    "{gone_open}DELETE FROM _pipemend_quarantine WHERE " QUARANTINE_WHERE(table) "{gone_close}"
#define QUARANTINE_DISCARD_GROUPS(table)                                                           \
    "SELECT table_name, run_id, count(*), min(id), max(id) FROM _pipemend_quarantine "             \
    "WHERE " QUARANTINE_WHERE(table) " GROUP BY table_name, run_id"
#define QUARANTINE_EXPORT(table)                                                                   \
    "SELECT id, run_id, table_name, NULL, source, byte_offset, line, raw, raw_truncated, NULL, "   \
    "NULL, NULL, NULL, NULL, header, delimiter FROM _pipemend_quarantine WHERE " QUARANTINE_WHERE( \
        table) " AND id > CAST($6 AS bigint) ORDER BY id LIMIT CAST($7 AS bigint)"
    [ST_QUARANTINE_DISCARD] = {QUARANTINE_DISCARD(ANY_TABLE("")),
                               "cannot discard quarantined rows"},
    [ST_QUARANTINE_DISCARD_TABLE] = {QUARANTINE_DISCARD(ONE_TABLE("")),
                                     "cannot discard quarantined rows"},
    [ST_QUARANTINE_DISCARD_GROUPS] = {QUARANTINE_DISCARD_GROUPS(ANY_TABLE("")),
                                      "cannot discard quarantined rows"},
    [ST_QUARANTINE_DISCARD_GROUPS_TABLE] = {QUARANTINE_DISCARD_GROUPS(ONE_TABLE("")),
                                            "cannot discard quarantined rows"},
    [ST_QUARANTINE_EXPORT] = {QUARANTINE_EXPORT(ANY_TABLE("")), "cannot read quarantine"},
    [ST_QUARANTINE_EXPORT_TABLE] = {QUARANTINE_EXPORT(ONE_TABLE("")), "cannot read quarantine"},
    [ST_FORGET_CHECKPOINTS] = {"DELETE FROM _pipemend_checkpoints WHERE table_name = CAST($1 AS "
                               "text)",
                               "cannot forget the table's checkpoints"},
    [ST_FORGET_HALTS] = {"DELETE FROM _pipemend_halts WHERE table_name = CAST($1 AS text)",
                         "cannot forget the table's held sources"},
    [ST_FORGET_SCHEMA] = {"DELETE FROM _pipemend_schema_versions WHERE table_name = CAST($1 AS "
                          "text)",
                          "cannot forget the table's schema versions"},
    [ST_QUARANTINE_REMOVE] = {"DELETE FROM _pipemend_quarantine WHERE id = CAST($1 AS bigint) "
                              "RETURNING table_name, run_id, id",
                              "cannot take a row out of quarantine"},
    [ST_QUARANTINE_REMOVE_MANY] = {"DELETE FROM _pipemend_quarantine WHERE id {in_ids:$1} "
                                   "RETURNING table_name, run_id, id",
                                   "cannot take rows out of quarantine"},
    /* the rows of table $1 with ids $2..$3: one index range, no id list */
    [ST_QUARANTINE_REMOVE_RANGE] = {"DELETE FROM _pipemend_quarantine WHERE table_name = CAST($1 "
                                    "AS text) AND id >= CAST($2 AS bigint) AND id <= CAST($3 AS "
                                    "bigint) RETURNING run_id, id",
                                    "cannot take rows out of quarantine"},
    /* the rows with ids $1..$2, for an incident's rows range by range */
    [ST_QUARANTINE_SPAN] = {"SELECT " QROW_COLUMNS " FROM _pipemend_quarantine q WHERE q.id >= "
                            "CAST($1 AS bigint) AND q.id <= CAST($2 AS bigint) ORDER BY q.id "
                            "LIMIT CAST($3 AS bigint)",
                            "cannot list the incident's rows"},
    [ST_QUARANTINE_SPAN_NEWEST] = {"SELECT " QROW_COLUMNS " FROM _pipemend_quarantine q WHERE "
                                   "q.id >= CAST($1 AS bigint) AND q.id <= CAST($2 AS bigint) "
                                   "ORDER BY q.id DESC LIMIT CAST($3 AS bigint)",
                                   "cannot list the incident's rows"},

    /* $1: [[incident, first, last, rows], ...] */
    [ST_RANGES_ADD] = {"INSERT INTO _pipemend_incident_ranges (incident, first_qrow, last_qrow, "
                       "nrows) {quads:$1}",
                       "cannot link quarantined rows to their incidents"},
    /* After rows with ids in $1..$2 left quarantine: the ranges about
     * them, whose rows the caller takes down by those that went; then the
     * ones that hold no row any more go, and the others are trimmed to the
     * rows they hold (see RANGE_BLOCK). */
    [ST_RANGES_ABOUT] = {"SELECT incident, first_qrow, last_qrow FROM _pipemend_incident_ranges "
                         "WHERE first_qrow BETWEEN CAST($1 AS bigint) - 255 AND CAST($2 AS "
                         "bigint) AND last_qrow >= CAST($1 AS bigint)",
                         "cannot update the incidents' rows"},
    /* each range about rows $1..$2 counted again: after a discard, which
     * may take millions of rows at once */
    [ST_RANGES_RECOUNT] = {"UPDATE _pipemend_incident_ranges SET nrows = (SELECT count(*) FROM "
                           "_pipemend_quarantine q WHERE q.id >= "
                           "_pipemend_incident_ranges.first_qrow AND q.id <= "
                           "_pipemend_incident_ranges.last_qrow) WHERE first_qrow BETWEEN CAST($1 "
                           "AS bigint) - 255 AND CAST($2 AS bigint) AND last_qrow >= CAST($1 AS "
                           "bigint)",
                           "cannot update the incidents' rows"},
    [ST_RANGES_LESS] = {"UPDATE _pipemend_incident_ranges SET nrows = nrows - CAST($3 AS bigint) "
                        "WHERE incident = CAST($1 AS bigint) AND first_qrow = CAST($2 AS bigint)",
                        "cannot update the incidents' rows"},
    [ST_RANGES_DROP_EMPTY] = {"DELETE FROM _pipemend_incident_ranges WHERE first_qrow BETWEEN "
                              "CAST($1 AS bigint) - 255 AND CAST($2 AS bigint) AND last_qrow >= "
                              "CAST($1 AS bigint) AND (nrows <= 0 OR NOT EXISTS (SELECT 1 FROM "
                              "_pipemend_quarantine q WHERE q.id >= "
                              "_pipemend_incident_ranges.first_qrow AND q.id <= "
                              "_pipemend_incident_ranges.last_qrow))",
                              "cannot update the incidents' rows"},
    [ST_RANGES_TRIM] = {"UPDATE _pipemend_incident_ranges SET first_qrow = (SELECT min(q.id) FROM "
                        "_pipemend_quarantine q WHERE q.id >= "
                        "_pipemend_incident_ranges.first_qrow AND q.id <= "
                        "_pipemend_incident_ranges.last_qrow), last_qrow = (SELECT max(q.id) FROM "
                        "_pipemend_quarantine q WHERE q.id >= "
                        "_pipemend_incident_ranges.first_qrow AND q.id <= "
                        "_pipemend_incident_ranges.last_qrow) WHERE first_qrow BETWEEN CAST($1 "
                        "AS bigint) - 255 AND CAST($2 AS bigint) AND last_qrow >= CAST($1 AS "
                        "bigint) AND (NOT EXISTS (SELECT 1 FROM _pipemend_quarantine q WHERE q.id "
                        "= _pipemend_incident_ranges.first_qrow) OR NOT EXISTS (SELECT 1 FROM "
                        "_pipemend_quarantine q WHERE q.id = _pipemend_incident_ranges.last_qrow)) "
                        "AND EXISTS (SELECT 1 FROM _pipemend_quarantine q WHERE q.id >= "
                        "_pipemend_incident_ranges.first_qrow AND q.id <= "
                        "_pipemend_incident_ranges.last_qrow)",
                        "cannot update the incidents' rows"},
    /* the ranges that hold row $1, to take it out of them */
    [ST_RANGES_HOLDING] = {"SELECT r.incident, r.first_qrow, r.last_qrow, r.nrows FROM "
                           "_pipemend_incident_ranges r WHERE " RANGES_AT("r",
                                                                          "CAST($1 AS bigint)"),
                           "cannot unlink a quarantined row from its incidents"},
    [ST_RANGE_DROP] = {"DELETE FROM _pipemend_incident_ranges WHERE incident = CAST($1 AS bigint) "
                       "AND first_qrow = CAST($2 AS bigint)",
                       "cannot unlink a quarantined row from its incidents"},
    [ST_QUARANTINE_COUNT_SPAN] = {"SELECT count(*) FROM _pipemend_quarantine WHERE id >= CAST($1 "
                                  "AS bigint) AND id <= CAST($2 AS bigint)",
                                  "cannot unlink a quarantined row from its incidents"},
    /* an incident's ranges in id order, a few at a time after $2 (before
     * it, newest first) */
    [ST_INCIDENT_RANGES] = {"SELECT first_qrow, last_qrow FROM _pipemend_incident_ranges WHERE "
                            "incident = CAST($1 AS bigint) AND first_qrow > CAST($2 AS bigint) "
                            "ORDER BY first_qrow LIMIT 256",
                            "cannot list the incident's rows"},
    [ST_INCIDENT_RANGES_NEWEST] = {"SELECT first_qrow, last_qrow FROM _pipemend_incident_ranges "
                                   "WHERE incident = CAST($1 AS bigint) AND first_qrow < CAST($2 "
                                   "AS bigint) ORDER BY first_qrow DESC LIMIT 256",
                                   "cannot list the incident's rows"},

    [ST_INCIDENT_FIND] = {"SELECT id FROM _pipemend_incidents WHERE table_name = CAST($1 AS "
                          "text) AND column_name = CAST($2 AS text) AND kind = CAST($3 AS text) "
                          "AND " INCIDENT_ACTIVE " ORDER BY id DESC LIMIT 1",
                          "cannot read incidents"},
    [ST_INCIDENT_ADD] = {"INSERT INTO _pipemend_incidents (table_name, column_name, kind, state, "
                         "run_id, message, detected_at) VALUES (CAST($1 AS text), CAST($2 AS "
                         "text), CAST($3 AS text), 'open', CAST($4 AS bigint), CAST($5 AS text), "
                         "{now}) RETURNING id",
                         "cannot open an incident"},
    /* only to an incident still active: one that closed since the caller
     * looked it up would hold the row where nothing replays it */
    [ST_INCIDENT_ACTIVE_ONE] = {"SELECT 1 FROM _pipemend_incidents WHERE id = CAST($1 AS bigint) "
                                "AND " INCIDENT_ACTIVE,
                                "cannot link quarantined rows to their incidents"},
    [ST_INCIDENT_LINK] =
        {"INSERT INTO _pipemend_incident_ranges (incident, first_qrow, "
         "last_qrow, nrows) SELECT i.id, CAST($2 AS bigint), CAST($2 AS bigint), 1 FROM "
         "_pipemend_incidents i WHERE i.id = CAST($1 AS bigint) AND i." INCIDENT_ACTIVE
         " AND NOT EXISTS (SELECT 1 FROM _pipemend_incident_ranges r WHERE "
         "r.incident = i.id AND " RANGES_AT("r", "CAST($2 AS bigint)") ") "
                                                                       "ON CONFLICT DO NOTHING",
         "cannot link a quarantined row to its incident"},
    [ST_QUARANTINE_STRANDED] = {"SELECT COALESCE(sum(r.nrows), 0) FROM "
                                "_pipemend_incident_ranges r JOIN _pipemend_incidents i ON i.id = "
                                "r.incident WHERE i.table_name = CAST($1 AS text) AND i.state = "
                                "'resolved'",
                                "cannot count quarantined rows under resolved incidents"},
    /* Each state stamps its own time once: a second plan keeps the first
     * planned_at, so time to recovery counts from the first response. */
    [ST_INCIDENT_SET] = {"UPDATE _pipemend_incidents SET state = CAST($2 AS text), proposal = "
                         "CASE WHEN CAST($3 AS bigint) = 0 THEN proposal ELSE CAST($3 AS bigint) "
                         "END, note = COALESCE(CAST($4 AS text), note), decided_by = "
                         "COALESCE(CAST($5 AS text), decided_by), planned_at = CASE WHEN CAST($2 "
                         "AS text) IN ('planned', 'awaiting_approval', 'dry_run_failed') THEN "
                         "COALESCE(planned_at, {now}) ELSE planned_at END, applied_at = CASE "
                         "WHEN CAST($2 AS text) = 'applied' THEN {now} ELSE applied_at END, "
                         "replayed_at = CASE WHEN CAST($2 AS text) = 'replayed' THEN {now} ELSE "
                         "replayed_at END, resolved_at = CASE WHEN CAST($2 AS text) IN "
                         "('resolved', 'dismissed') THEN {now} ELSE resolved_at END WHERE id = "
                         "CAST($1 AS bigint)",
                         "cannot update the incident"},
    [ST_INCIDENTS_LIST] = {"SELECT i.id, i.table_name, i.column_name, i.kind, i.state, i.run_id, "
                           "COALESCE(i.proposal, 0), CASE WHEN CAST($6 AS boolean) THEN 0 ELSE "
                           "(SELECT COALESCE(sum(r.nrows), 0) FROM _pipemend_incident_ranges r "
                           "WHERE r.incident = i.id) END, i.message, "
                           "i.detected_at, i.planned_at, i.applied_at, i.replayed_at, "
                           "i.resolved_at, i.decided_by, i.note FROM _pipemend_incidents i "
                           "WHERE " INCIDENT_WHERE " ORDER BY i.id DESC LIMIT CAST($5 AS bigint)",
                           "cannot read incidents"},
    /* table and active_only only: an index holds both (no visit of the rows) */
    [ST_INCIDENTS_COUNT] = {"SELECT count(*) FROM _pipemend_incidents i WHERE (CAST($1 AS text) "
                            "IS NULL OR i.table_name = CAST($1 AS text)) AND (NOT CAST($2 AS "
                            "boolean) OR i." INCIDENT_ACTIVE ")",
                            "cannot count incidents"},
    [ST_INCIDENT_STATS] = {"SELECT count(*) FILTER (WHERE " INCIDENT_ACTIVE "), count(*) FILTER "
                           "(WHERE state = 'resolved'), count(*) FILTER (WHERE state = "
                           "'dismissed'), avg({epoch:resolved_at} - {epoch:detected_at}) FILTER "
                           "(WHERE state = 'resolved'), avg({epoch:planned_at} - "
                           "{epoch:detected_at}), avg({epoch:applied_at} - {epoch:detected_at}) "
                           "FROM _pipemend_incidents WHERE CAST($1 AS text) IS NULL OR "
                           "table_name = CAST($1 AS text)",
                           "cannot read incidents"},
    [ST_PROPOSAL_FIND] = {"SELECT id FROM _pipemend_proposals WHERE table_name = CAST($1 AS "
                          "text) AND ops = CAST($2 AS text) AND state IN ('pending', 'rejected') "
                          "ORDER BY id DESC LIMIT 1",
                          "cannot read proposals"},
    [ST_PROPOSAL_ADD] = {"INSERT INTO _pipemend_proposals (table_name, run_id, version, state, "
                         "ops, why, created_at, incident, policy) VALUES (CAST($1 AS text), "
                         "CAST($2 AS bigint), CAST($3 AS integer), 'pending', CAST($4 AS text), "
                         "CAST($5 AS text), {now}, CAST($6 AS bigint), CAST($7 AS text)) "
                         "RETURNING id",
                         "cannot record the proposal"},
    [ST_PROPOSALS_LIST] = {"SELECT id, table_name, run_id, version, state, ops, why, created_at, "
                           "decided_by, decided_at, incident, dry_run, policy FROM "
                           "_pipemend_proposals "
                           "WHERE (CAST($1 AS text) IS NULL OR table_name = CAST($1 AS text)) AND "
                           "(CAST($2 AS text) IS NULL OR state = CAST($2 AS text)) AND (CAST($3 "
                           "AS bigint) = 0 OR id = CAST($3 AS bigint)) ORDER BY id DESC",
                           "cannot read proposals"},
    [ST_PROPOSAL_DECIDE] = {"UPDATE _pipemend_proposals SET state = CAST($2 AS text), decided_by "
                            "= CAST($3 AS text), decided_at = {now} WHERE id = CAST($1 AS bigint) "
                            "AND state = 'pending'",
                            "cannot update the proposal"},
    [ST_PROPOSAL_DRY_RUN] = {"UPDATE _pipemend_proposals SET dry_run = CAST($2 AS text) WHERE id "
                             "= CAST($1 AS bigint)",
                             "cannot record the dry run"},

    [ST_AUDIT_LAST] = {"SELECT seq, hash FROM _pipemend_audit ORDER BY seq DESC LIMIT 1",
                       "cannot read the audit log"},
    [ST_AUDIT_ADD] = {"INSERT INTO _pipemend_audit (seq, at, actor, action, subject, payload, "
                      "prev_hash, hash, keyed) VALUES (CAST($1 AS bigint), CAST($2 AS text), "
                      "CAST($3 AS text), CAST($4 AS text), CAST($5 AS text), CAST($6 AS text), "
                      "CAST($7 AS text), CAST($8 AS text), CAST($9 AS integer))",
                      "cannot write the audit log"},
    [ST_AUDIT_LIST] = {"SELECT seq, at, actor, action, subject, payload, prev_hash, hash, "
                       "COALESCE(keyed, 0) FROM "
                       "_pipemend_audit WHERE seq > CAST($1 AS bigint) ORDER BY seq LIMIT "
                       "CAST($2 AS bigint)",
                       "cannot read the audit log"},
    [ST_NEWEST_IDS] = {"SELECT COALESCE((SELECT max(id) FROM _pipemend_runs), 0), COALESCE((SELECT "
                       "max(id) FROM _pipemend_incidents), 0), COALESCE((SELECT max(id) FROM "
                       "_pipemend_proposals), 0)",
                       "cannot read the catalog"},

    [ST_AGENT_START] = {"INSERT INTO _pipemend_agent_sessions (incident, provider, model, "
                        "prompt_sha256, outcome, steps, input_tokens, output_tokens, started_at, "
                        "pid, host) VALUES (CAST($1 AS bigint), CAST($2 AS text), CAST($3 AS "
                        "text), CAST($4 AS text), 'running', 0, 0, 0, {now}, CAST($5 AS bigint), "
                        "CAST($6 AS text)) RETURNING id",
                        "cannot record the agent session"},
    [ST_AGENT_RUNNING] = {"SELECT id, pid FROM _pipemend_agent_sessions WHERE outcome = 'running' "
                          "AND host = CAST($1 AS text)",
                          "cannot read agent sessions"},
    [ST_AGENT_ABORT] = {"UPDATE _pipemend_agent_sessions SET outcome = 'escalated', reason = "
                        "'interrupted: the process running it ended before it finished', "
                        "finished_at = {now} WHERE id = CAST($1 AS bigint) AND outcome = "
                        "'running'",
                        "cannot update agent sessions"},
    [ST_AGENT_STEP] = {"INSERT INTO _pipemend_agent_steps (session, seq, kind, at, latency_ms, "
                       "input_tokens, output_tokens, stop_reason, status, attempts, tool, "
                       "arguments, outcome, result_sha256, message) SELECT CAST($1 AS bigint), "
                       "coalesce(max(seq), 0) + 1, CAST($2 AS text), {now}, CAST($3 AS bigint), "
                       "CAST($4 AS bigint), CAST($5 AS bigint), CAST($6 AS text), CAST($7 AS "
                       "bigint), CAST($8 AS bigint), CAST($9 AS text), CAST($10 AS text), "
                       "CAST($11 AS text), CAST($12 AS text), CAST($13 AS text) FROM "
                       "_pipemend_agent_steps WHERE session = CAST($1 AS bigint) RETURNING seq",
                       "cannot record the agent's step"},
    [ST_AGENT_COUNT] = {"UPDATE _pipemend_agent_sessions SET steps = steps + 1, input_tokens = "
                        "input_tokens + CAST($2 AS bigint), output_tokens = output_tokens + "
                        "CAST($3 AS bigint) WHERE id = CAST($1 AS bigint)",
                        "cannot update the agent session"},
    [ST_AGENT_FINISH] = {"UPDATE _pipemend_agent_sessions SET outcome = CAST($2 AS text), reason "
                         "= CAST($3 AS text), proposal = CAST($4 AS bigint), confidence = "
                         "CAST($5 AS double precision), rationale = CAST($6 AS text), "
                         "finished_at = {now} WHERE id = CAST($1 AS bigint) AND outcome = "
                         "'running'",
                         "cannot finish the agent session"},
    [ST_AGENT_LIST] = {"SELECT id, incident, provider, model, prompt_sha256, outcome, reason, "
                       "proposal, confidence, rationale, steps, input_tokens, output_tokens, "
                       "started_at, finished_at FROM _pipemend_agent_sessions WHERE (CAST($1 AS "
                       "bigint) = 0 OR id = CAST($1 AS bigint)) AND (CAST($2 AS bigint) = 0 OR "
                       "incident = CAST($2 AS bigint)) ORDER BY id DESC LIMIT CAST($3 AS bigint)",
                       "cannot list agent sessions"},
    [ST_AGENT_STEPS] = {"SELECT session, seq, kind, at, latency_ms, input_tokens, output_tokens, "
                        "stop_reason, status, attempts, tool, arguments, outcome, result_sha256, "
                        "message FROM _pipemend_agent_steps WHERE session = CAST($1 AS bigint) "
                        "ORDER BY seq",
                        "cannot read the agent's steps"},
    [ST_AGENT_TOKENS] = {"SELECT coalesce(sum(input_tokens + output_tokens), 0) FROM "
                         "_pipemend_agent_sessions WHERE started_at >= CAST($1 AS text)",
                         "cannot read the agent's token use"},

    [ST_PROMOTION_FIND] = {"SELECT id FROM _pipemend_promotions WHERE table_name = CAST($1 AS "
                           "text) AND op_kind = CAST($2 AS text)",
                           "cannot read policy promotions"},
    [ST_PROMOTION_ADD] = {"INSERT INTO _pipemend_promotions (table_name, op_kind, state, "
                          "evidence, created_at) VALUES (CAST($1 AS text), CAST($2 AS text), "
                          "'pending', CAST($3 AS text), {now}) RETURNING id",
                          "cannot record the policy promotion"},
    [ST_PROMOTIONS_LIST] = {"SELECT id, table_name, op_kind, state, evidence, created_at, "
                            "decided_by, decided_at FROM _pipemend_promotions WHERE (CAST($1 AS "
                            "text) IS NULL OR table_name = CAST($1 AS text)) AND (CAST($2 AS "
                            "text) IS NULL OR state = CAST($2 AS text)) AND (CAST($3 AS bigint) = "
                            "0 OR id = CAST($3 AS bigint)) ORDER BY id DESC",
                            "cannot read policy promotions"},
    [ST_PROMOTION_DECIDE] = {"UPDATE _pipemend_promotions SET state = CAST($2 AS text), "
                             "decided_by = CAST($3 AS text), decided_at = {now} WHERE id = "
                             "CAST($1 AS bigint) AND state = 'pending'",
                             "cannot update the policy promotion"},

    /* one statement takes a free or expired lease, or renews one's own */
    [ST_LEASE_TAKE] = {"INSERT INTO _pipemend_leases (name, holder, expires_at, taken_at) VALUES "
                       "(CAST($1 AS text), CAST($2 AS text), CAST($3 AS bigint), {now}) ON "
                       "CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = "
                       "excluded.expires_at, taken_at = CASE WHEN _pipemend_leases.holder = "
                       "excluded.holder THEN _pipemend_leases.taken_at ELSE excluded.taken_at "
                       "END WHERE _pipemend_leases.holder = excluded.holder OR "
                       "_pipemend_leases.expires_at < CAST($4 AS bigint)",
                       "cannot take the lease"},
    [ST_LEASE_HOLDER] = {"SELECT holder FROM _pipemend_leases WHERE name = CAST($1 AS text)",
                         "cannot read the lease"},
    [ST_LEASE_RELEASE] = {"DELETE FROM _pipemend_leases WHERE name = CAST($1 AS text) AND holder "
                          "= CAST($2 AS text)",
                          "cannot release the lease"},
    [ST_RUN_TOTALS] = {"SELECT pipeline, table_name, status, count(*), coalesce(sum(rows_read), "
                       "0), coalesce(sum(rows_loaded), 0), coalesce(sum(rows_quarantined), 0), "
                       "coalesce(sum(CASE WHEN volume_anomaly THEN 1 ELSE 0 END), 0), "
                       "max(finished_at) FROM _pipemend_runs GROUP BY pipeline, table_name, "
                       "status ORDER BY pipeline, table_name, status",
                       "cannot sum the runs"},

#define OUTBOX_COLUMNS                                                                             \
    "id, sink, event, subject, payload, created_at, attempts, next_at, delivered_at, last_error"
    [ST_OUTBOX_ADD] = {"INSERT INTO _pipemend_outbox (sink, event, subject, payload, created_at, "
                       "attempts, next_at) VALUES (CAST($1 AS text), CAST($2 AS text), CAST($3 AS "
                       "text), CAST($4 AS text), {now}, 0, CAST($5 AS bigint))",
                       "cannot queue the notification"},
    [ST_OUTBOX_DUE] = {"SELECT " OUTBOX_COLUMNS " FROM _pipemend_outbox WHERE delivered_at IS "
                       "NULL AND next_at <= CAST($1 AS bigint) ORDER BY id LIMIT CAST($2 AS "
                       "bigint)",
                       "cannot read the outbox"},
    [ST_OUTBOX_CLAIM] = {"UPDATE _pipemend_outbox SET next_at = CAST($3 AS bigint) WHERE id = "
                         "CAST($1 AS bigint) AND delivered_at IS NULL AND next_at <= CAST($2 AS "
                         "bigint)",
                         "cannot claim the notification"},
    [ST_OUTBOX_DONE] = {"UPDATE _pipemend_outbox SET attempts = attempts + 1, delivered_at = "
                        "CASE WHEN CAST($2 AS integer) = 1 THEN {now} ELSE NULL END, last_error "
                        "= CAST($3 AS text), next_at = CAST($4 AS bigint) WHERE id = CAST($1 AS "
                        "bigint)",
                        "cannot record the delivery"},
    [ST_OUTBOX_LIST] = {"SELECT " OUTBOX_COLUMNS " FROM _pipemend_outbox ORDER BY id DESC LIMIT "
                        "CAST($1 AS bigint)",
                        "cannot read the outbox"},
};

/* sql with the dialect spliced in (driver.h, drv_dialect), into b. */
static pm_code expand(const drv_dialect *d, const char *sql, pm_buf *b, pm_err *err)
{
    static const char table[] = "_pipemend_";
    pm_code rc = PM_OK;
    for (const char *p = sql; !rc && *p;) {
        if (strncmp(p, table, sizeof table - 1) == 0 && (p == sql || p[-1] == ' ')) {
            rc = pm_buf_puts(b, d->catalog, err);
            if (!rc)
                rc = pm_buf_puts(b, table, err);
            p += sizeof table - 1;
        } else if (*p == '{') {
            const char *end = strchr(p, '}'), *colon = memchr(p, ':', (size_t)(end - p));
            size_t name = (size_t)((colon ? colon : end) - p - 1);
            char arg[64] = "";
            if (colon)
                snprintf(arg, sizeof arg, "%.*s", (int)(end - colon - 1), colon + 1);
            if (name == 3 && strncmp(p + 1, "now", 3) == 0)
                rc = pm_buf_puts(b, d->now, err);
            else if (name == 10 && strncmp(p + 1, "for_update", 10) == 0)
                rc = pm_buf_puts(b, d->for_update, err);
            else if (name == 5 && strncmp(p + 1, "epoch", 5) == 0)
                rc = pm_buf_printf(b, err, d->epoch, arg);
            else if (name == 6 && strncmp(p + 1, "in_ids", 6) == 0)
                rc = pm_buf_printf(b, err, d->in_ids, arg);
            else if (name == 5 && strncmp(p + 1, "quads", 5) == 0)
                rc = pm_buf_printf(b, err, d->quads, arg);
            else if (name == 9 && strncmp(p + 1, "gone_open", 9) == 0)
                rc = pm_buf_puts(b, d->gone_open, err);
            else if (name == 10 && strncmp(p + 1, "gone_close", 10) == 0)
                rc = pm_buf_puts(b, d->gone_close, err);
            else
                rc = pm_err_set(err, PM_ERR_INTERNAL, "unknown catalog fragment in %s", sql);
            p = end + 1;
        } else {
            rc = pm_buf_putc(b, *p++, err);
        }
    }
    return rc;
}

/* The kept statement id, ready for binding. */
static pm_code stmt(pm_store *s, stmt_id id, drv_stmt **out, pm_err *err)
{
    pm_code rc = PM_OK;
    if (!s->stmt[id]) {
        pm_buf b;
        pm_buf_init(&b, 1 << 16);
        rc = expand(&s->drv->dialect, stmts[id].sql, &b, err);
        if (!rc)
            rc = s->drv->prepare(s, b.data, stmts[id].what, &s->stmt[id], err);
        pm_buf_free(&b);
    } else {
        rc = s->drv->prepare(s, NULL, stmts[id].what, &s->stmt[id], err);
    }
    *out = rc ? NULL : s->stmt[id];
    return rc;
}

/* A statement that filters by table: its form for one table (next to it
 * in stmt_id) when there is one. */
static stmt_id of_table(stmt_id any, const char *table)
{
    return table ? (stmt_id)(any + 1) : any;
}
#define NEXT_TO(any) _Static_assert(any##_TABLE == any + 1, #any "_TABLE must follow " #any)
NEXT_TO(ST_QUARANTINE_LIST);
NEXT_TO(ST_QUARANTINE_BROWSE);
NEXT_TO(ST_QUARANTINE_COUNT_WHERE);
NEXT_TO(ST_QUARANTINE_DISCARD);
NEXT_TO(ST_QUARANTINE_DISCARD_GROUPS);
NEXT_TO(ST_QUARANTINE_EXPORT);

pm_code catalog_prepare(pm_store *s, const char *sql, const char *what, drv_stmt **slot,
                        pm_err *err)
{
    if (*slot)
        return s->drv->prepare(s, NULL, what, slot, err);
    pm_buf b;
    pm_buf_init(&b, 1 << 16);
    pm_code rc = expand(&s->drv->dialect, sql, &b, err);
    if (!rc)
        rc = s->drv->prepare(s, b.data, what, slot, err);
    pm_buf_free(&b);
    return rc;
}

void catalog_close(pm_store *s)
{
    for (size_t i = 0; i < STORE_STMT_SLOTS; i++)
        if (s->stmt[i]) {
            s->drv->drop(s->stmt[i]);
            s->stmt[i] = NULL;
        }
}

/* Short names for the statement methods. */
#define NUL(st, i) (st)->ops->bind_null(st, i)
#define INT(st, i, v) (st)->ops->bind_int(st, i, v)
#define BOOL(st, i, v) (st)->ops->bind_bool(st, i, v)
#define TEXT(st, i, v) (st)->ops->bind_text(st, i, v)
#define BLOB(st, i, v, n) (st)->ops->bind_blob(st, i, v, n)
#define STEP(st, row, err) (st)->ops->step(st, row, err)
#define C_INT(st, c) (st)->ops->col_int(st, c)
#define C_DBL(st, c) (st)->ops->col_double(st, c)
#define C_BOOL(st, c) (st)->ops->col_bool(st, c)
#define C_TEXT(st, c, a) (st)->ops->col_text(st, c, a)
#define C_BLOB(st, c, a, n) (st)->ops->col_blob(st, c, a, n)
#define DONE(st) (st)->ops->done(st)

/* A catalog row holds a status or state this pipemend does not know (a
 * newer version wrote it, or someone edited the row). */
static pm_code unknown_in_catalog(pm_err *err, const char *what, const char *text)
{
    pm_err_set(err, PM_ERR_DB,
               "the catalog holds the %s \"%s\", which this pipemend does not "
               "know",
               what, text ? text : "(null)");
    pm_err_hint(err, "use the pipemend that wrote it, or correct the row");
    return PM_ERR_DB;
}

/* Runs a statement that returns no rows; *changes (may be NULL) gets the
 * rows it changed. Ends the statement either way. */
static pm_code run(drv_stmt *st, int64_t *changes, pm_err *err)
{
    bool row;
    pm_code rc = STEP(st, &row, err);
    if (!rc && changes)
        *changes = st->ops->changes(st);
    DONE(st);
    return rc;
}

/* Runs a statement whose answer is only its success, maybe later in the
 * transaction (drv_stmt_ops.defer): a batch's bookkeeping. */
static pm_code run_later(drv_stmt *st, pm_err *err)
{
    if (!st->ops->defer)
        return run(st, NULL, err);
    pm_code rc = st->ops->defer(st, err);
    DONE(st);
    return rc;
}

/* Runs a statement that returns at most one row: *found says whether it
 * did; the row stays readable until DONE. On error the statement is
 * ended. */
static pm_code first(drv_stmt *st, bool *found, pm_err *err)
{
    pm_code rc = STEP(st, found, err);
    if (rc)
        DONE(st);
    return rc;
}

/* Grows an array of n elements of size sz in a (arenas do not realloc). */
static void *grow(pm_arena *a, void *old, size_t n, size_t *cap, size_t sz)
{
    if (n < *cap)
        return old;
    *cap = *cap ? *cap * 2 : 16;
    void *p = pm_arena_alloc(a, *cap * sz);
    if (n)
        memcpy(p, old, n * sz);
    return p;
}

/* Opens a transaction unless the caller has one (*own says which). */
static pm_code own_begin(pm_store *s, bool *own, pm_err *err)
{
    *own = !s->drv->in_tx(s);
    return *own ? store_begin(s, err) : PM_OK;
}

/* Ends what own_begin opened: commits on success, rolls back on failure
 * (rc is returned). */
static pm_code own_end(pm_store *s, bool own, pm_code rc, pm_err *err)
{
    if (!own)
        return rc;
    if (!rc)
        rc = store_commit(s, err);
    if (rc)
        store_rollback(s, NULL); /* a commit refused leaves nothing open */
    return rc;
}

static int64_t limit_of(int limit)
{
    return limit > 0 ? limit : ALL;
}

/* ---- schema versions ------------------------------------------------------ */

pm_code store_table_load(pm_store *s, const char *name, pm_arena *a, pm_table **out, pm_err *err)
{
    drv_stmt *st;
    bool found;
    *out = NULL;
    pm_code rc = stmt(s, ST_SCHEMA_GET, &st, err);
    if (!rc) {
        TEXT(st, 1, name);
        rc = first(st, &found, err);
    }
    if (rc || !found)
        return rc ? rc : (DONE(st), PM_OK);
    pm_table *t = table_new(a, name);
    t->version = (int)C_INT(st, 0);
    rc = table_columns_parse(t, a, C_TEXT(st, 1, a), err);
    DONE(st);
    if (!rc)
        *out = t;
    return rc;
}

pm_code catalog_record_version(pm_store *s, const pm_table *t, const char *reason, pm_err *err)
{
    json_t *cols = table_columns_json(t);
    char *text = json_dumps(cols, JSON_COMPACT);
    json_decref(cols);
    if (!text)
        return pm_err_set(err, PM_ERR_NOMEM, "cannot encode the schema of %s", t->name);
    drv_stmt *st;
    pm_code rc = stmt(s, ST_SCHEMA_ADD, &st, err);
    if (!rc) {
        TEXT(st, 1, t->name);
        INT(st, 2, t->version);
        TEXT(st, 3, text);
        TEXT(st, 4, reason);
        rc = run(st, NULL, err);
    }
    free(text);
    /* Two workers recording the same version of one table: the loser's
     * plan is stale, as when apply_ops finds the version moved. */
    if (rc == PM_ERR_CONSTRAINT && err && strcmp(err->sqlstate, "23505") == 0) {
        err->code = rc = PM_ERR_BUSY;
        pm_err_hint(err, "another worker changed %s at the same time; plan again", t->name);
    }
    return rc;
}

static pm_code tables(pm_store *s, bool brief, pm_arena *a, pm_table ***out, size_t *n, pm_err *err)
{
    drv_stmt *st;
    size_t cap = 0;
    bool row;
    *n = 0;
    *out = NULL;
    pm_code rc = stmt(s, brief ? ST_TABLES_BRIEF : ST_TABLES_LIST, &st, err);
    if (rc)
        return rc;
    while (!rc && !(rc = STEP(st, &row, err)) && row) {
        *out = grow(a, *out, *n, &cap, sizeof **out);
        pm_table *t = table_new(a, C_TEXT(st, 0, a));
        t->version = (int)C_INT(st, 1);
        if (!brief)
            rc = table_columns_parse(t, a, C_TEXT(st, 2, a), err);
        (*out)[(*n)++] = t;
    }
    DONE(st);
    return rc;
}

pm_code store_tables_list(pm_store *s, pm_arena *a, pm_table ***out, size_t *n, pm_err *err)
{
    return tables(s, false, a, out, n, err);
}

pm_code store_tables_brief(pm_store *s, pm_arena *a, pm_table ***out, size_t *n, pm_err *err)
{
    return tables(s, true, a, out, n, err);
}

pm_code store_table_create(pm_store *s, const pm_table *t, pm_err *err)
{
    pm_code rc = s->drv->table_create(s, t, err);
    pm_table first_version = *t;
    first_version.version = 1;
    return rc ? rc : catalog_record_version(s, &first_version, s->drv->dialect.created, err);
}

pm_code store_table_create_locked(pm_store *s, const pm_table *t, pm_arena *arena,
                                  pm_table **winner, pm_err *err)
{
    char key[300];
    snprintf(key, sizeof key, "table:%s", t->name);
    *winner = NULL;
    pm_code rc = s->drv->lock(s, key, err);
    if (!rc)
        rc = store_table_load(s, t->name, arena, winner, err);
    if (!rc && !*winner)
        rc = store_table_create(s, t, err);
    return rc;
}

/* Takes the table's migration lock (in the caller's transaction) and
 * checks that the catalog still has version `version` of it (0: none):
 * PM_ERR_BUSY when another worker moved it since the caller looked. */
static pm_code table_lock_at(pm_store *s, const char *name, int version, pm_err *err)
{
    char key[300];
    snprintf(key, sizeof key, "table:%s", name);
    pm_code rc = s->drv->lock(s, key, err);
    pm_arena *a = pm_arena_new(0);
    pm_table *now = NULL;
    if (!rc)
        rc = store_table_load(s, name, a, &now, err);
    int at = now ? now->version : 0;
    pm_arena_free(a);
    if (!rc && at != version) {
        rc = pm_err_set(err, PM_ERR_BUSY,
                        "%s changed since the plan was made (schema version %d, planned against "
                        "%d)",
                        name, at, version);
        pm_err_hint(err, "plan again against the current schema");
    }
    return rc;
}

pm_code store_table_lock(pm_store *s, const char *table, int *version, pm_err *err)
{
    *version = 0;
    if (!s->drv->in_tx(s))
        return pm_err_set(err, PM_ERR_INTERNAL, "the table lock needs a transaction");
    char key[300];
    snprintf(key, sizeof key, "table:%s", table);
    pm_code rc = s->drv->lock(s, key, err);
    pm_arena *a = pm_arena_new(0);
    pm_table *now = NULL;
    if (!rc)
        rc = store_table_load(s, table, a, &now, err);
    if (!rc && now)
        *version = now->version;
    pm_arena_free(a);
    return rc;
}

pm_code store_table_adopt(pm_store *s, const pm_table *t, const char *reason, pm_err *err)
{
    pm_code rc = table_lock_at(s, t->name, t->version - 1, err);
    if (!rc)
        rc = catalog_record_version(s, t, reason, err);
    s->drv->table_changed(s); /* a load prepared for the old columns would not fit */
    return rc;
}

/* A text column retyped to date/time: its values made ISO first (store.h). */
static pm_code retype_prepare(pm_store *s, const pm_table *from, const pm_op *ops, size_t n,
                              pm_err *err)
{
    const char *schema = s->drv->dialect.data_schema;
    pm_buf q;
    pm_buf_init(&q, 4096);
    pm_code rc = schema ? store_quote_qualified(&q, schema, from->name, err)
                        : store_quote_ident(&q, from->name, err);
    if (!rc)
        rc = store_retype_prepare(s, q.data, from, ops, n, err);
    pm_buf_free(&q);
    return rc;
}

pm_code store_apply_ops(pm_store *s, const pm_table *from, const pm_op *ops, size_t n,
                        const pm_table *to, const char *reason, pm_err *err)
{
    bool own;
    pm_code rc = own_begin(s, &own, err);
    if (rc)
        return rc;
    /* Workers loading the same table queue here; the loser of a race finds
     * the version moved and plans again (PM_ERR_BUSY). */
    rc = table_lock_at(s, from->name, from->version, err);
    if (!rc)
        rc = retype_prepare(s, from, ops, n, err);
    if (!rc)
        rc = s->drv->apply_ddl(s, from, ops, n, to, err);
    if (!rc)
        rc = catalog_record_version(s, to, reason, err);
    s->drv->table_changed(s); /* a load prepared for the old columns would not fit */
    return own_end(s, own, rc, err);
}

/* ---- checkpoints and halts ------------------------------------------------ */

pm_code store_checkpoint_get(pm_store *s, const char *table, const char *source, pm_arena *arena,
                             const char **position, bool *found, pm_err *err)
{
    drv_stmt *st;
    *found = false;
    *position = NULL;
    /* Inside a batch's transaction the read decides whether the batch may
     * move the checkpoint: it must see the last committed move and keep
     * others from moving it until this transaction ends. The row lock
     * covers a checkpoint that exists; the key's lock the first batch,
     * when there is no row to lock yet. */
    bool tx = s->drv->in_tx(s);
    pm_code rc = PM_OK;
    if (tx) {
        pm_buf b;
        pm_buf_init(&b, (size_t)1 << 26);
        rc = pm_buf_printf(&b, err, "checkpoint\x1f%s\x1f%s", table ? table : "",
                           source ? source : "");
        if (!rc)
            rc = s->drv->lock(s, b.data, err);
        pm_buf_free(&b);
    }
    if (!rc)
        rc = stmt(s, tx ? ST_CHECKPOINT_GET_LOCKED : ST_CHECKPOINT_GET, &st, err);
    if (rc)
        return rc;
    TEXT(st, 1, table);
    TEXT(st, 2, source);
    rc = first(st, found, err);
    if (rc)
        return rc;
    if (*found)
        *position = C_TEXT(st, 0, arena);
    DONE(st);
    return PM_OK;
}

pm_code store_checkpoint_set(pm_store *s, const char *table, const char *source,
                             const char *position, pm_err *err)
{
    if (!position || strlen(position) >= STORE_POSITION_MAX)
        return pm_err_set(err, PM_ERR_INTERNAL,
                          "the position of %s is %s (a checkpoint holds up to %d bytes)", source,
                          position ? "too long" : "missing", STORE_POSITION_MAX - 1);
    drv_stmt *st;
    pm_code rc = stmt(s, ST_CHECKPOINT_SET, &st, err);
    if (rc)
        return rc;
    TEXT(st, 1, table);
    TEXT(st, 2, source);
    TEXT(st, 3, position);
    return run_later(st, err);
}

pm_code store_checkpoints_list(pm_store *s, const char *table, pm_arena *a, pm_checkpoint **out,
                               size_t *n, pm_err *err)
{
    drv_stmt *st;
    size_t cap = 0;
    bool row;
    *n = 0;
    *out = NULL;
    pm_code rc = stmt(s, ST_CHECKPOINTS_LIST, &st, err);
    if (rc)
        return rc;
    TEXT(st, 1, table);
    while (!rc && !(rc = STEP(st, &row, err)) && row) {
        *out = grow(a, *out, *n, &cap, sizeof **out);
        (*out)[*n].source = C_TEXT(st, 0, a);
        (*out)[*n].position = C_TEXT(st, 1, a);
        ++*n;
    }
    DONE(st);
    return rc;
}

pm_code store_halt_set(pm_store *s, const char *table, const char *source, int64_t qrow,
                       pm_err *err)
{
    drv_stmt *st;
    pm_code rc = stmt(s, ST_HALT_SET, &st, err);
    if (rc)
        return rc;
    TEXT(st, 1, table);
    TEXT(st, 2, source);
    INT(st, 3, qrow);
    return run(st, NULL, err);
}

pm_code store_halt_get(pm_store *s, const char *table, const char *source, int64_t *qrow,
                       int64_t *incident, bool *found, pm_err *err)
{
    drv_stmt *st;
    *found = false;
    *qrow = *incident = 0;
    pm_code rc = stmt(s, ST_HALT_GET, &st, err);
    if (rc)
        return rc;
    TEXT(st, 1, table);
    TEXT(st, 2, source);
    if ((rc = first(st, found, err)))
        return rc;
    if (*found) {
        *qrow = C_INT(st, 0);
        *incident = C_INT(st, 1);
    }
    DONE(st);
    return PM_OK;
}

pm_code store_halt_clear(pm_store *s, const char *table, const char *source, pm_err *err)
{
    drv_stmt *st;
    pm_code rc = stmt(s, ST_HALT_CLEAR, &st, err);
    if (rc)
        return rc;
    TEXT(st, 1, table);
    TEXT(st, 2, source);
    return run(st, NULL, err);
}

/* ---- runs ----------------------------------------------------------------- */

static void hostname(char host[256])
{
    snprintf(host, 256, "localhost");
    gethostname(host, 255);
    host[255] = '\0';
}

pm_code store_run_start(pm_store *s, const char *pipeline, const char *table, int64_t *id,
                        pm_err *err)
{
    char host[256];
    hostname(host);
    drv_stmt *st;
    bool row;
    pm_code rc = stmt(s, ST_RUN_START, &st, err);
    if (rc)
        return rc;
    TEXT(st, 1, pipeline);
    TEXT(st, 2, table);
    INT(st, 3, getpid());
    TEXT(st, 4, host);
    if ((rc = first(st, &row, err)))
        return rc;
    *id = C_INT(st, 0);
    DONE(st);
    return PM_OK;
}

pm_code store_run_add(pm_store *s, int64_t id, int64_t r, int64_t l, int64_t q, pm_err *err)
{
    drv_stmt *st;
    pm_code rc = stmt(s, ST_RUN_ADD, &st, err);
    if (rc)
        return rc;
    INT(st, 1, id);
    INT(st, 2, r);
    INT(st, 3, l);
    INT(st, 4, q);
    return run_later(st, err);
}

pm_code store_run_finish(pm_store *s, int64_t id, pm_run_status status, const char *error,
                         bool anomaly, const char *note, pm_err *err)
{
    drv_stmt *st;
    if (!run_status_can_move(RUN_RUNNING, status))
        return pm_err_set(err, PM_ERR_INTERNAL, "a run cannot finish as %s",
                          run_status_name(status));
    pm_code rc = stmt(s, ST_RUN_FINISH, &st, err);
    if (rc)
        return rc;
    INT(st, 1, id);
    TEXT(st, 2, run_status_name(status));
    TEXT(st, 3, error);
    BOOL(st, 4, anomaly);
    TEXT(st, 5, note);
    return run(st, NULL, err);
}

static pm_code runs_list(pm_store *s, const char *pipeline, const char *table, int limit,
                         int64_t id, pm_arena *a, pm_run **out, size_t *n, pm_err *err)
{
    drv_stmt *st;
    size_t cap = 0;
    bool row;
    *n = 0;
    *out = NULL;
    pm_code rc = stmt(s, ST_RUNS_LIST, &st, err);
    if (rc)
        return rc;
    TEXT(st, 1, pipeline);
    TEXT(st, 2, table);
    INT(st, 3, id);
    INT(st, 4, limit_of(limit));
    while (!(rc = STEP(st, &row, err)) && row) {
        *out = grow(a, *out, *n, &cap, sizeof **out);
        pm_run *x = &(*out)[(*n)++];
        x->id = C_INT(st, 0);
        x->pipeline = C_TEXT(st, 1, a);
        x->table = C_TEXT(st, 2, a);
        const char *status = C_TEXT(st, 3, a);
        if (!run_status_parse(status, &x->status)) {
            rc = unknown_in_catalog(err, "run status", status);
            break;
        }
        x->started_at = C_TEXT(st, 4, a);
        x->finished_at = C_TEXT(st, 5, a);
        x->rows_read = C_INT(st, 6);
        x->rows_loaded = C_INT(st, 7);
        x->rows_quarantined = C_INT(st, 8);
        x->error = C_TEXT(st, 9, a);
        x->volume_anomaly = C_BOOL(st, 10);
        x->volume_note = C_TEXT(st, 11, a);
    }
    DONE(st);
    return rc;
}

pm_code store_runs_list(pm_store *s, const char *pipeline, const char *table, int limit,
                        pm_arena *a, pm_run **out, size_t *n, pm_err *err)
{
    return runs_list(s, pipeline, table, limit, 0, a, out, n, err);
}

pm_code store_run_get(pm_store *s, int64_t id, pm_arena *a, pm_run *out, bool *found, pm_err *err)
{
    pm_run *rows;
    size_t n;
    pm_code rc = runs_list(s, NULL, NULL, 1, id, a, &rows, &n, err);
    *found = !rc && n == 1;
    if (*found)
        *out = rows[0];
    return rc;
}

pm_code store_runs_dead(pm_store *s, bool *any, pm_err *err)
{
    char host[256];
    hostname(host);
    drv_stmt *st;
    bool row;
    *any = false;
    pm_code rc = stmt(s, ST_RUNS_RUNNING, &st, err);
    if (rc)
        return rc;
    TEXT(st, 1, host);
    INT(st, 2, (int64_t)time(NULL));
    while (!*any && !(rc = STEP(st, &row, err)) && row) {
        pid_t pid = (pid_t)C_INT(st, 1);
        bool here = C_INT(st, 2) != 0;
        *any = !here || !(pid == getpid() || kill(pid, 0) == 0 || errno == EPERM);
    }
    DONE(st);
    return rc;
}

pm_code store_runs_reap(pm_store *s, pm_arena *a, int64_t **ids, size_t *n, pm_err *err)
{
    char host[256];
    hostname(host);
    drv_stmt *st, *up;
    size_t cap = 0;
    bool row;
    *ids = NULL;
    *n = 0;
    pm_code rc = stmt(s, ST_RUNS_RUNNING, &st, err);
    if (rc)
        return rc;
    TEXT(st, 1, host);
    INT(st, 2, (int64_t)time(NULL));
    while (!rc && !(rc = STEP(st, &row, err)) && row) {
        pid_t pid = (pid_t)C_INT(st, 1);
        bool here = C_INT(st, 2) != 0;
        if (here && (pid == getpid() || kill(pid, 0) == 0 || errno == EPERM))
            continue; /* alive (EPERM: alive, owned by another user) */
        int64_t id = C_INT(st, 0), changed = 0;
        rc = stmt(s, ST_RUN_ABORT, &up, err);
        if (!rc) {
            INT(up, 1, id);
            rc = run(up, &changed, err);
        }
        if (!rc && changed == 1) {
            *ids = grow(a, *ids, *n, &cap, sizeof **ids);
            (*ids)[(*n)++] = id;
        }
    }
    DONE(st);
    return rc;
}

/* ---- quarantine ----------------------------------------------------------- */

/* A CSV row's kept delimiter (one character), 0 when none was kept. */
static char delimiter_of(const char *text)
{
    return text && text[0] && !text[1] ? text[0] : 0;
}

/* Steps st (selecting QROW_COLUMNS) to its end into rows in a; ends it. */
static pm_code read_qrows(drv_stmt *st, pm_arena *a, pm_qrow **out, size_t *n, pm_err *err)
{
    size_t cap = 0;
    bool row;
    pm_code rc;
    *n = 0;
    *out = NULL;
    while (!(rc = STEP(st, &row, err)) && row) {
        *out = grow(a, *out, *n, &cap, sizeof **out);
        pm_qrow *x = &(*out)[(*n)++];
        memset(x, 0, sizeof *x);
        x->id = C_INT(st, 0);
        x->run_id = C_INT(st, 1);
        x->table = C_TEXT(st, 2, a);
        x->pipeline = C_TEXT(st, 3, a);
        x->source = C_TEXT(st, 4, a);
        x->offset = C_INT(st, 5);
        x->line = C_INT(st, 6);
        x->raw = C_BLOB(st, 7, a, &x->raw_len);
        if (!x->raw)
            x->raw = "";
        x->raw_truncated = C_BOOL(st, 8);
        x->kinds = C_TEXT(st, 9, a);
        x->message = C_TEXT(st, 10, a);
        x->findings = C_TEXT(st, 11, a);
        x->status = C_TEXT(st, 12, a);
        x->created_at = C_TEXT(st, 13, a);
        x->header = C_BLOB(st, 14, a, &x->header_len);
        x->delimiter = delimiter_of(C_TEXT(st, 15, a));
    }
    DONE(st);
    return rc;
}

pm_code store_quarantine_add(pm_store *s, const pm_qrow *q, int64_t *id, pm_err *err)
{
    if (q->raw_len > INT_MAX || (q->header && q->header_len > INT_MAX))
        return pm_err_set(err, PM_ERR_LIMIT, "a quarantined row is too large to keep");
    drv_stmt *st;
    bool row;
    pm_code rc = stmt(s, ST_QUARANTINE_ADD, &st, err);
    if (rc)
        return rc;
    INT(st, 1, q->run_id);
    TEXT(st, 2, q->table);
    TEXT(st, 3, q->pipeline);
    TEXT(st, 4, q->source);
    INT(st, 5, q->offset);
    INT(st, 6, q->line);
    BLOB(st, 7, q->raw ? q->raw : "", q->raw_len);
    BOOL(st, 8, q->raw_truncated);
    TEXT(st, 9, q->kinds);
    TEXT(st, 10, q->message);
    TEXT(st, 11, q->findings);
    BLOB(st, 12, q->header, q->header_len);
    char delim[2] = {q->delimiter, '\0'};
    TEXT(st, 13, q->delimiter ? delim : NULL);
    if ((rc = first(st, &row, err)))
        return rc;
    int64_t got = C_INT(st, 0);
    if (id)
        *id = got;
    DONE(st);
    return counts_note_quarantined(s, q->table, q->run_id, got, err);
}

pm_code store_quarantine_add_many(pm_store *s, const pm_qrow *q, size_t n, int64_t *ids,
                                  pm_err *err)
{
    for (size_t i = 0; i < n; i++)
        if (q[i].raw_len > INT_MAX || (q[i].header && q[i].header_len > INT_MAX))
            return pm_err_set(err, PM_ERR_LIMIT, "a quarantined row is too large to keep");
    pm_code rc = PM_OK;
    if (n && s->drv->quarantine_add_many) {
        /* the ids widen their runs' spans in the kept counts */
        int64_t *got = ids ? ids : pm_xmalloc(n * sizeof *got);
        rc = s->drv->quarantine_add_many(s, q, n, got, err);
        for (size_t i = 0; !rc && i < n; i++)
            rc = counts_note_quarantined(s, q[i].table, q[i].run_id, got[i], err);
        if (got != ids)
            free(got);
        return rc;
    }
    for (size_t i = 0; !rc && i < n; i++)
        rc = store_quarantine_add(s, &q[i], ids ? &ids[i] : NULL, err);
    return rc;
}

pm_code store_quarantine_update(pm_store *s, int64_t id, const char *kinds, const char *message,
                                const char *findings, pm_err *err)
{
    drv_stmt *st;
    pm_code rc = stmt(s, ST_QUARANTINE_UPDATE, &st, err);
    if (rc)
        return rc;
    INT(st, 1, id);
    TEXT(st, 2, kinds);
    TEXT(st, 3, message);
    TEXT(st, 4, findings);
    return run(st, NULL, err);
}

static pm_code quarantine_list(pm_store *s, const char *table, int64_t run_id, int limit,
                               int64_t id, pm_arena *a, pm_qrow **out, size_t *n, pm_err *err)
{
    drv_stmt *st;
    *n = 0;
    *out = NULL;
    int64_t lo, hi;
    pm_code rc = counts_run_span(s, table, run_id, &lo, &hi, err);
    if (!rc)
        rc = stmt(s, of_table(ST_QUARANTINE_LIST, table), &st, err);
    if (rc)
        return rc;
    TEXT(st, 1, table);
    INT(st, 2, run_id);
    INT(st, 3, id);
    INT(st, 4, limit_of(limit));
    INT(st, 5, lo);
    INT(st, 6, hi);
    return read_qrows(st, a, out, n, err);
}

pm_code store_quarantine_list(pm_store *s, const char *table, int64_t run_id, int limit,
                              pm_arena *a, pm_qrow **out, size_t *n, pm_err *err)
{
    return quarantine_list(s, table, run_id, limit, 0, a, out, n, err);
}

pm_code store_quarantine_browse(pm_store *s, const pm_qrow_filter *f, int limit, pm_arena *a,
                                pm_qrow **out, size_t *n, pm_err *err)
{
    drv_stmt *st;
    *n = 0;
    *out = NULL;
    /* "%,KIND,%" with LIKE's own characters escaped: kinds is "a,b" */
    char pattern[160];
    if (f->kind) {
        size_t j = 0;
        pattern[j++] = '%';
        pattern[j++] = ',';
        for (const char *c = f->kind; *c && j < sizeof pattern - 4; c++) {
            if (*c == '%' || *c == '_' || *c == '\\')
                pattern[j++] = '\\';
            pattern[j++] = *c;
        }
        pattern[j++] = ',';
        pattern[j++] = '%';
        pattern[j] = 0;
    }
    int64_t lo, hi;
    pm_code rc = counts_run_span(s, f->table, f->run_id, &lo, &hi, err);
    if (!rc)
        rc = stmt(s, of_table(ST_QUARANTINE_BROWSE, f->table), &st, err);
    if (rc)
        return rc;
    TEXT(st, 1, f->table);
    INT(st, 2, f->run_id);
    TEXT(st, 3, f->kind ? pattern : NULL);
    INT(st, 4, f->before);
    INT(st, 5, limit_of(limit));
    INT(st, 6, lo);
    INT(st, 7, hi);
    return read_qrows(st, a, out, n, err);
}

pm_code store_quarantine_get(pm_store *s, int64_t id, pm_arena *a, pm_qrow *out, bool *found,
                             pm_err *err)
{
    pm_qrow *rows;
    size_t n;
    pm_code rc = quarantine_list(s, NULL, 0, 1, id, a, &rows, &n, err);
    *found = !rc && n == 1;
    if (*found)
        *out = rows[0];
    return rc;
}

pm_code store_quarantine_page(pm_store *s, const char *table, int64_t after, int limit, pm_arena *a,
                              pm_qrow **out, size_t *n, pm_err *err)
{
    drv_stmt *st;
    *n = 0;
    *out = NULL;
    pm_code rc = stmt(s, ST_QUARANTINE_PAGE, &st, err);
    if (rc)
        return rc;
    TEXT(st, 1, table);
    INT(st, 2, after);
    INT(st, 3, limit_of(limit));
    /* a page has its size: one array, not one that doubles as it fills */
    size_t cap = limit > 0 ? (size_t)limit : 0;
    if (cap)
        *out = pm_arena_alloc(a, cap * sizeof **out);
    bool row;
    while (!(rc = STEP(st, &row, err)) && row) {
        if (*n == cap)
            *out = grow(a, *out, *n, &cap, sizeof **out);
        pm_qrow *x = &(*out)[(*n)++];
        *x = (pm_qrow){.id = C_INT(st, 0), .run_id = C_INT(st, 1), .table = table};
        x->source = C_TEXT(st, 2, a);
        x->raw = C_BLOB(st, 3, a, &x->raw_len);
        if (!x->raw)
            x->raw = "";
        x->raw_truncated = C_BOOL(st, 4);
        x->header = C_BLOB(st, 5, a, &x->header_len);
        x->delimiter = delimiter_of(C_TEXT(st, 6, a));
    }
    DONE(st);
    return rc;
}

/* Ids go in as one JSON array per statement (the dialect's {in_ids:$1}
 * reads it back), at most this many at a time. */
#define IDS_PER_STATEMENT 4096

/* ids[at..end) as a JSON array, into b. */
static pm_code ids_json(pm_buf *b, const int64_t *ids, size_t at, size_t end, pm_err *err)
{
    pm_buf_reset(b);
    pm_code rc = pm_buf_putc(b, '[', err);
    for (size_t i = at; !rc && i < end; i++)
        rc = pm_buf_printf(b, err, "%s%lld", i > at ? "," : "", (long long)ids[i]);
    if (!rc)
        rc = pm_buf_putc(b, ']', err);
    return rc;
}

pm_code store_quarantine_findings(pm_store *s, pm_qrow *const *rows, size_t n, pm_arena *a,
                                  pm_err *err)
{
    pm_code rc = PM_OK;
    pm_buf b;
    pm_buf_init(&b, 64u * 1024 * 1024);
    int64_t *ids = pm_arena_alloc(a, (n ? n : 1) * sizeof *ids);
    for (size_t i = 0; i < n; i++) {
        ids[i] = rows[i]->id;
        rows[i]->findings = rows[i]->status = NULL;
    }
    for (size_t at = 0; !rc && at < n; at += IDS_PER_STATEMENT) {
        size_t end = n - at > IDS_PER_STATEMENT ? at + IDS_PER_STATEMENT : n;
        drv_stmt *st;
        rc = ids_json(&b, ids, at, end, err);
        if (!rc)
            rc = stmt(s, ST_QUARANTINE_FINDINGS, &st, err);
        if (rc)
            break;
        TEXT(st, 1, b.data);
        /* both in id order: one walk matches them */
        bool row;
        size_t k = at;
        while (!(rc = STEP(st, &row, err)) && row) {
            int64_t id = C_INT(st, 0);
            while (k < end && rows[k]->id < id)
                k++;
            if (k < end && rows[k]->id == id)
                rows[k]->findings = C_TEXT(st, 1, a);
        }
        DONE(st);
        /* status: "stranded" for a row still here in a range of a
         * resolved incident */
        if (!rc)
            rc = stmt(s, ST_RANGES_RESOLVED, &st, err);
        if (rc)
            break;
        INT(st, 1, rows[at]->id);
        INT(st, 2, rows[end - 1]->id);
        while (!(rc = STEP(st, &row, err)) && row) {
            int64_t first = C_INT(st, 0), last = C_INT(st, 1);
            for (size_t i = at; i < end; i++)
                if (rows[i]->findings && rows[i]->id >= first && rows[i]->id <= last)
                    rows[i]->status = "stranded";
        }
        DONE(st);
    }
    pm_buf_free(&b);
    return rc;
}

pm_code store_quarantine_count(pm_store *s, const char *table, int64_t *n, pm_err *err)
{
    drv_stmt *st;
    bool row;
    pm_code rc = stmt(s, table ? ST_QUARANTINE_COUNT : ST_QUARANTINE_COUNT_ALL, &st, err);
    if (rc)
        return rc;
    if (table)
        TEXT(st, 1, table);
    if ((rc = first(st, &row, err)))
        return rc;
    *n = C_INT(st, 0);
    DONE(st);
    return PM_OK;
}

pm_code store_quarantine_count_where(pm_store *s, const char *table, int64_t run_id, int64_t *n,
                                     pm_err *err)
{
    drv_stmt *st;
    bool row;
    int64_t lo, hi;
    pm_code rc = counts_run_span(s, table, run_id, &lo, &hi, err);
    if (!rc)
        rc = stmt(s, of_table(ST_QUARANTINE_COUNT_WHERE, table), &st, err);
    if (rc)
        return rc;
    TEXT(st, 1, table);
    INT(st, 2, run_id);
    INT(st, 3, 0);
    INT(st, 4, lo);
    INT(st, 5, hi);
    if ((rc = first(st, &row, err)))
        return rc;
    *n = C_INT(st, 0);
    DONE(st);
    return PM_OK;
}

pm_code store_quarantine_export_page(pm_store *s, const char *table, int64_t run_id, int64_t after,
                                     int limit, pm_arena *a, pm_qrow **out, size_t *n, pm_err *err)
{
    drv_stmt *st;
    *n = 0;
    *out = NULL;
    int64_t lo, hi;
    pm_code rc = counts_run_span(s, table, run_id, &lo, &hi, err);
    if (!rc)
        rc = stmt(s, of_table(ST_QUARANTINE_EXPORT, table), &st, err);
    if (rc)
        return rc;
    TEXT(st, 1, table);
    INT(st, 2, run_id);
    INT(st, 3, 0);
    INT(st, 4, lo);
    INT(st, 5, hi);
    INT(st, 6, after);
    INT(st, 7, limit_of(limit));
    return read_qrows(st, a, out, n, err);
}

pm_code store_table_remove(pm_store *s, const char *name, bool drop, int64_t *rows,
                           int64_t *checkpoints, pm_err *err)
{
    char key[300];
    snprintf(key, sizeof key, "table:%s", name);
    bool own;
    *rows = *checkpoints = 0;
    pm_code rc = own_begin(s, &own, err);
    if (!rc)
        rc = s->drv->lock(s, key, err);
    const stmt_id forget[] = {ST_FORGET_CHECKPOINTS, ST_FORGET_HALTS, ST_FORGET_SCHEMA};
    for (size_t k = 0; !rc && k < (drop ? 3u : 2u); k++) {
        drv_stmt *st;
        rc = stmt(s, forget[k], &st, err);
        if (!rc) {
            TEXT(st, 1, name);
            rc = run(st, k == 0 ? checkpoints : NULL, err);
        }
    }
    if (!rc) {
        s->drv->table_changed(s);
        rc = s->drv->table_remove(s, name, drop, rows, err);
    }
    if (!rc)
        rc = counts_table_emptied(s, name, err);
    return own_end(s, own, rc, err);
}

/* The ids of rows that left quarantine, for the ranges that held them;
 * only their lowest and highest when span_only (a discard, which may take
 * any number of rows: the ranges about them are counted again). */
typedef struct id_list {
    int64_t *v;
    size_t n, cap;
    int64_t lo, hi;
    bool any, span_only;
} id_list;

static void ids_add(id_list *l, int64_t id)
{
    if (!l->any || id < l->lo)
        l->lo = id;
    if (!l->any || id > l->hi)
        l->hi = id;
    l->any = true;
    if (l->span_only)
        return;
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 1024;
        l->v = pm_xrealloc(l->v, l->cap * sizeof *l->v);
    }
    l->v[l->n++] = id;
}

static int cmp_id(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* How many of the sorted v[0..n) are below x. */
static size_t ids_below(const int64_t *v, size_t n, int64_t x)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v[mid] < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* The ranges about rows lo..hi: those that hold none any more go, the
 * others are trimmed to the rows they hold (see RANGE_BLOCK). */
static pm_code ranges_tidy(pm_store *s, int64_t lo, int64_t hi, pm_err *err)
{
    static const stmt_id both[] = {ST_RANGES_DROP_EMPTY, ST_RANGES_TRIM};
    pm_code rc = PM_OK;
    for (size_t k = 0; !rc && k < 2; k++) {
        drv_stmt *st;
        rc = stmt(s, both[k], &st, err);
        if (!rc) {
            INT(st, 1, lo);
            INT(st, 2, hi);
            rc = run(st, NULL, err);
        }
    }
    return rc;
}

/* After the rows of ids (any order; sorted here) left quarantine: each
 * range that held some holds that many fewer (or is counted again, for a
 * span_only list), then the ranges are tidied. Under a lock of its own,
 * as store_incident_unlink_row: two PostgreSQL sessions reading a range,
 * each in its snapshot, and writing it after, would lose one's change (a
 * trim moves a range's first id, which the other's update looks it up
 * by); the second waits, then reads what the first committed. */
static pm_code ranges_gone(pm_store *s, id_list *ids, pm_err *err)
{
    if (!ids->any)
        return PM_OK;
    pm_code rc = s->drv->lock(s, "incident_ranges", err);
    if (!rc && ids->span_only) {
        drv_stmt *st;
        rc = stmt(s, ST_RANGES_RECOUNT, &st, err);
        if (!rc) {
            INT(st, 1, ids->lo);
            INT(st, 2, ids->hi);
            rc = run(st, NULL, err);
        }
        return rc ? rc : ranges_tidy(s, ids->lo, ids->hi, err);
    }
    if (!rc && ids->n) {
        qsort(ids->v, ids->n, sizeof *ids->v, cmp_id);
        int64_t lo = ids->v[0], hi = ids->v[ids->n - 1];
        /* read first, written after: a statement is stepped to its end
         * before the next one runs */
        struct about {
            int64_t incident, first, gone;
        } *ab = NULL;
        size_t nab = 0, cap = 0;
        drv_stmt *st;
        bool row;
        rc = stmt(s, ST_RANGES_ABOUT, &st, err);
        if (!rc) {
            INT(st, 1, lo);
            INT(st, 2, hi);
            while (!(rc = STEP(st, &row, err)) && row) {
                int64_t first = C_INT(st, 1), last = C_INT(st, 2);
                size_t k = ids_below(ids->v, ids->n, last + 1) - ids_below(ids->v, ids->n, first);
                if (!k)
                    continue;
                if (nab == cap) {
                    cap = cap ? 2 * cap : 16;
                    ab = pm_xrealloc(ab, cap * sizeof *ab);
                }
                ab[nab++] = (struct about){C_INT(st, 0), first, (int64_t)k};
            }
            DONE(st);
        }
        for (size_t i = 0; !rc && i < nab; i++) {
            rc = stmt(s, ST_RANGES_LESS, &st, err);
            if (!rc) {
                INT(st, 1, ab[i].incident);
                INT(st, 2, ab[i].first);
                INT(st, 3, ab[i].gone);
                rc = run_later(st, err);
            }
        }
        free(ab);
        if (!rc)
            rc = ranges_tidy(s, lo, hi, err);
    }
    return rc;
}

/* Steps a DELETE of quarantined rows RETURNING table_name, run_id, id to
 * its end, noting each row that went as replayed or discarded (counts.c)
 * and its id in ids; *n (may be NULL) gets how many went. */
static pm_code quarantine_gone(pm_store *s, drv_stmt *st, bool replayed, id_list *ids, int64_t *n,
                               pm_err *err)
{
    pm_arena *a = pm_arena_new(0);
    bool row;
    int64_t k = 0;
    pm_code rc;
    while (!(rc = STEP(st, &row, err)) && row) {
        const char *table = C_TEXT(st, 0, a);
        int64_t run_id = C_INT(st, 1);
        ids_add(ids, C_INT(st, 2));
        rc = counts_note(s, table, run_id, 0, -1, replayed, !replayed, err);
        if (rc)
            break;
        k++;
        if (k % 4096 == 0)
            pm_arena_reset(a);
    }
    DONE(st);
    pm_arena_free(a);
    if (n)
        *n = k;
    return rc;
}

/* Steps st, giving (table_name, run_id, count, min id, max id) of the
 * rows discarded, to its end: the kept counts and the span of ids. */
static pm_code discard_groups(pm_store *s, drv_stmt *st, id_list *ids, int64_t *n, pm_err *err)
{
    pm_arena *a = pm_arena_new(0);
    bool row;
    pm_code rc;
    while (!(rc = STEP(st, &row, err)) && row) {
        int64_t k = C_INT(st, 2);
        ids_add(ids, C_INT(st, 3));
        ids_add(ids, C_INT(st, 4));
        *n += k;
        rc = counts_note(s, C_TEXT(st, 0, a), C_INT(st, 1), 0, -k, 0, k, err);
        if (rc)
            break;
    }
    DONE(st);
    pm_arena_free(a);
    return rc;
}

pm_code store_quarantine_discard(pm_store *s, const char *table, int64_t run_id, int64_t id,
                                 int64_t *n, pm_err *err)
{
    bool own;
    id_list ids = {.span_only = true};
    *n = 0;
    drv_stmt *st;
    bool grouped = s->drv->dialect.gone_open[0] != '\0';
    int64_t lo, hi;
    pm_code rc = own_begin(s, &own, err);
    if (!rc)
        rc = counts_run_span(s, table, run_id, &lo, &hi, err);
    if (!rc && !grouped)
        rc = stmt(s, of_table(ST_QUARANTINE_DISCARD_GROUPS, table), &st, err);
    if (!rc && !grouped) {
        /* under the writer's lock: the DELETE takes these rows */
        TEXT(st, 1, table);
        INT(st, 2, run_id);
        INT(st, 3, id);
        INT(st, 4, lo);
        INT(st, 5, hi);
        rc = discard_groups(s, st, &ids, n, err);
    }
    if (!rc)
        rc = stmt(s, of_table(ST_QUARANTINE_DISCARD, table), &st, err);
    if (!rc) {
        TEXT(st, 1, table);
        INT(st, 2, run_id);
        INT(st, 3, id);
        INT(st, 4, lo);
        INT(st, 5, hi);
        if (grouped)
            rc = discard_groups(s, st, &ids, n, err);
        else
            rc = run(st, NULL, err);
    }
    if (!rc)
        rc = ranges_gone(s, &ids, err);
    free(ids.v);
    return own_end(s, own, rc, err);
}

/* *n: the rows in quarantine with ids lo..hi (0 when lo > hi). */
static pm_code count_span(pm_store *s, int64_t lo, int64_t hi, int64_t *n, pm_err *err)
{
    *n = 0;
    if (lo > hi)
        return PM_OK;
    drv_stmt *st;
    bool found = false;
    pm_code rc = stmt(s, ST_QUARANTINE_COUNT_SPAN, &st, err);
    if (!rc) {
        INT(st, 1, lo);
        INT(st, 2, hi);
        rc = first(st, &found, err);
    }
    if (!rc && found)
        *n = C_INT(st, 0);
    if (!rc)
        DONE(st);
    return rc;
}

/* The row stays in quarantine; it leaves every range that holds it,
 * which becomes the part before it and the part after it. The rows of the
 * smaller part are counted (a row restated at a time, in id order, cuts
 * off a few at a time), the other part has the rest. */
pm_code store_incident_unlink_row(pm_store *s, int64_t qrow, pm_err *err)
{
    struct holding {
        int64_t incident, first, last, nrows;
    } *h = NULL;
    size_t nh = 0, cap = 0;
    drv_stmt *st;
    bool row;
    pm_code rc = s->drv->lock(s, "incident_ranges", err); /* see ranges_gone */
    if (!rc)
        rc = stmt(s, ST_RANGES_HOLDING, &st, err);
    if (rc)
        return rc;
    INT(st, 1, qrow);
    while (!(rc = STEP(st, &row, err)) && row) {
        if (nh == cap) {
            cap = cap ? 2 * cap : 4;
            h = pm_xrealloc(h, cap * sizeof *h);
        }
        h[nh++] = (struct holding){C_INT(st, 0), C_INT(st, 1), C_INT(st, 2), C_INT(st, 3)};
    }
    DONE(st);
    pm_buf b;
    pm_buf_init(&b, 1 << 16);
    for (size_t i = 0; !rc && i < nh; i++) {
        int64_t lo[2] = {h[i].first, qrow + 1}, hi[2] = {qrow - 1, h[i].last}, n[2] = {0, 0};
        int small = hi[0] - lo[0] <= hi[1] - lo[1] ? 0 : 1;
        rc = count_span(s, lo[small], hi[small], &n[small], err);
        n[1 - small] = h[i].nrows - 1 - n[small];
        /* a count that cannot be (a catalog edited by hand, a range written
         * by a version with another rule): the other part is counted too,
         * rather than a part with rows dropped */
        if (!rc && n[1 - small] <= 0 && lo[1 - small] <= hi[1 - small])
            rc = count_span(s, lo[1 - small], hi[1 - small], &n[1 - small], err);
        if (!rc)
            rc = stmt(s, ST_RANGE_DROP, &st, err);
        if (!rc) {
            INT(st, 1, h[i].incident);
            INT(st, 2, h[i].first);
            rc = run(st, NULL, err);
        }
        pm_buf_reset(&b);
        size_t parts = 0;
        for (int k = 0; !rc && k < 2; k++)
            if (n[k] > 0)
                rc = pm_buf_printf(&b, err, "%c[%lld,%lld,%lld,%lld]", parts++ ? ',' : '[',
                                   (long long)h[i].incident, (long long)lo[k], (long long)hi[k],
                                   (long long)n[k]);
        if (!rc && parts)
            rc = pm_buf_putc(&b, ']', err);
        if (!rc && parts)
            rc = stmt(s, ST_RANGES_ADD, &st, err);
        if (!rc && parts) {
            TEXT(st, 1, b.data);
            rc = run(st, NULL, err);
        }
    }
    pm_buf_free(&b);
    free(h);
    /* the parts' ends may be rows that left already */
    return rc || !nh ? rc : ranges_tidy(s, qrow - 1, qrow + 1, err);
}

/* The row and its links to incidents go together. */
pm_code store_quarantine_remove(pm_store *s, int64_t id, pm_err *err)
{
    drv_stmt *st;
    bool own;
    id_list gone = {0};
    pm_code rc = own_begin(s, &own, err);
    if (!rc)
        rc = stmt(s, ST_QUARANTINE_REMOVE, &st, err);
    if (!rc) {
        INT(st, 1, id);
        rc = quarantine_gone(s, st, true, &gone, NULL, err);
    }
    if (!rc)
        rc = ranges_gone(s, &gone, err);
    free(gone.v);
    return own_end(s, own, rc, err);
}

pm_code store_quarantine_remove_many(pm_store *s, const int64_t *ids, size_t n, int64_t *removed,
                                     pm_err *err)
{
    if (removed)
        *removed = 0;
    if (!n)
        return PM_OK;
    pm_buf b;
    pm_buf_init(&b, 64u * 1024 * 1024);
    bool own;
    id_list gone = {0};
    pm_code rc = own_begin(s, &own, err);
    for (size_t at = 0; !rc && at < n; at += IDS_PER_STATEMENT) {
        size_t end = n - at > IDS_PER_STATEMENT ? at + IDS_PER_STATEMENT : n;
        drv_stmt *st;
        rc = ids_json(&b, ids, at, end, err);
        if (!rc)
            rc = stmt(s, ST_QUARANTINE_REMOVE_MANY, &st, err);
        if (!rc) {
            TEXT(st, 1, b.data);
            int64_t changed = 0;
            rc = quarantine_gone(s, st, true, &gone, &changed, err);
            if (!rc && removed)
                *removed += changed;
        }
    }
    pm_buf_free(&b);
    if (!rc)
        rc = ranges_gone(s, &gone, err);
    free(gone.v);
    return own_end(s, own, rc, err);
}

pm_code store_quarantine_remove_range(pm_store *s, const char *table, int64_t first, int64_t last,
                                      int64_t *removed, pm_err *err)
{
    *removed = 0;
    bool own;
    id_list gone = {0};
    pm_code rc = own_begin(s, &own, err);
    drv_stmt *st;
    if (!rc)
        rc = stmt(s, ST_QUARANTINE_REMOVE_RANGE, &st, err);
    if (!rc) {
        TEXT(st, 1, table);
        INT(st, 2, first);
        INT(st, 3, last);
        /* the kept counts, a note per run rather than per row: the rows
         * of a page come from one run or a few, in id order */
        bool row;
        int64_t run_id = 0, same = 0;
        while (!(rc = STEP(st, &row, err)) && row) {
            int64_t r = C_INT(st, 0);
            if (same && r != run_id) {
                rc = counts_note(s, table, run_id, 0, -same, same, 0, err);
                same = 0;
                if (rc)
                    break;
            }
            run_id = r;
            same++;
            ++*removed;
            ids_add(&gone, C_INT(st, 1));
        }
        DONE(st);
        if (!rc && same)
            rc = counts_note(s, table, run_id, 0, -same, same, 0, err);
    }
    if (!rc)
        rc = ranges_gone(s, &gone, err);
    free(gone.v);
    return own_end(s, own, rc, err);
}

/* ---- incidents ------------------------------------------------------------ */

pm_code store_incident_open(pm_store *s, const pm_incident *in, int64_t *id, bool *created,
                            pm_err *err)
{
    const char *column = in->column ? in->column : "";
    drv_stmt *st;
    bool own, found = false;
    *created = false;
    pm_code rc = own_begin(s, &own, err);
    if (rc)
        return rc;
    /* one active incident per table, column and kind, whoever sees the
     * drift first */
    rc = s->drv->lock(s, "audit", err);
    if (!rc)
        rc = stmt(s, ST_INCIDENT_FIND, &st, err);
    if (!rc) {
        TEXT(st, 1, in->table);
        TEXT(st, 2, column);
        TEXT(st, 3, in->kind);
        rc = first(st, &found, err);
    }
    if (!rc) {
        if (found)
            *id = C_INT(st, 0);
        DONE(st);
    }
    if (!rc && !found)
        rc = stmt(s, ST_INCIDENT_ADD, &st, err);
    if (!rc && !found) {
        bool row;
        TEXT(st, 1, in->table);
        TEXT(st, 2, column);
        TEXT(st, 3, in->kind);
        INT(st, 4, in->run_id);
        TEXT(st, 5, in->message ? in->message : "");
        if (!(rc = first(st, &row, err))) {
            *id = C_INT(st, 0);
            DONE(st);
        }
    }
    rc = own_end(s, own, rc, err);
    *created = !rc && !found;
    return rc;
}

pm_code store_incident_link(pm_store *s, int64_t incident, int64_t qrow, bool *linked, pm_err *err)
{
    drv_stmt *st;
    int64_t changed = 0;
    pm_code rc = stmt(s, ST_INCIDENT_LINK, &st, err);
    if (rc)
        return rc;
    INT(st, 1, incident);
    INT(st, 2, qrow);
    rc = run(st, &changed, err);
    *linked = !rc && changed > 0;
    return rc;
}

pm_code store_quarantine_stranded(pm_store *s, const char *table, int64_t *n, pm_err *err)
{
    drv_stmt *st;
    bool row;
    *n = 0;
    pm_code rc = stmt(s, ST_QUARANTINE_STRANDED, &st, err);
    if (rc)
        return rc;
    TEXT(st, 1, table);
    if ((rc = first(st, &row, err)))
        return rc;
    if (row)
        *n = C_INT(st, 0);
    DONE(st);
    return PM_OK;
}

/* A link to write: the pair and where it came in the caller's arrays. */
typedef struct qlink {
    int64_t incident, qrow;
    size_t at;
} qlink;

static int cmp_link(const void *a, const void *b)
{
    const qlink *x = a, *y = b;
    if (x->incident != y->incident)
        return (x->incident > y->incident) - (x->incident < y->incident);
    if (x->qrow != y->qrow)
        return (x->qrow > y->qrow) - (x->qrow < y->qrow);
    return (x->at > y->at) - (x->at < y->at);
}

/* Ranges per statement of ST_RANGES_ADD. */
#define RANGES_PER_STATEMENT 4096

static pm_code ranges_flush(pm_store *s, pm_buf *b, size_t *nb, pm_err *err)
{
    if (!*nb)
        return PM_OK;
    drv_stmt *st;
    pm_code rc = pm_buf_putc(b, ']', err);
    if (!rc)
        rc = stmt(s, ST_RANGES_ADD, &st, err);
    if (!rc) {
        TEXT(st, 1, b->data);
        rc = run(st, NULL, err);
    }
    pm_buf_reset(b);
    *nb = 0;
    return rc;
}

/* The pairs sorted by incident and row; the rows of one incident that
 * follow one another in id (within a RANGE_BLOCK) become one range.
 * Whether an incident is still active is asked once, in the caller's
 * transaction: the check the one-row link makes. */
pm_code store_incident_link_many(pm_store *s, const int64_t *incident, const int64_t *qrow,
                                 size_t n, bool *linked, pm_err *err)
{
    memset(linked, 0, n * sizeof *linked);
    if (!n)
        return PM_OK;
    qlink *l = pm_xmalloc(n * sizeof *l);
    for (size_t i = 0; i < n; i++)
        l[i] = (qlink){.incident = incident[i], .qrow = qrow[i], .at = i};
    qsort(l, n, sizeof *l, cmp_link);
    pm_buf b;
    pm_buf_init(&b, 64u * 1024 * 1024);
    size_t nb = 0;
    pm_code rc = PM_OK;
    bool active = false;
    for (size_t i = 0; !rc && i < n;) {
        if (!i || l[i].incident != l[i - 1].incident) {
            drv_stmt *st;
            rc = stmt(s, ST_INCIDENT_ACTIVE_ONE, &st, err);
            if (!rc) {
                INT(st, 1, l[i].incident);
                rc = first(st, &active, err);
            }
            if (!rc)
                DONE(st);
            if (rc)
                break;
        }
        /* a range from l[i]: the same incident, the next ids, one block */
        size_t j = i + 1;
        while (j < n && l[j].incident == l[i].incident &&
               (l[j].qrow == l[j - 1].qrow || l[j].qrow == l[j - 1].qrow + 1) &&
               l[j].qrow / RANGE_BLOCK == l[i].qrow / RANGE_BLOCK)
            j++;
        if (active) {
            for (size_t k = i; k < j; k++)
                linked[l[k].at] = k == i || l[k].qrow != l[k - 1].qrow; /* a pair twice: once */
            rc =
                pm_buf_printf(&b, err, "%c[%lld,%lld,%lld,%lld]", nb ? ',' : '[',
                              (long long)l[i].incident, (long long)l[i].qrow,
                              (long long)l[j - 1].qrow, (long long)(l[j - 1].qrow - l[i].qrow + 1));
            if (!rc && ++nb == RANGES_PER_STATEMENT)
                rc = ranges_flush(s, &b, &nb, err);
        }
        i = j;
    }
    if (!rc)
        rc = ranges_flush(s, &b, &nb, err);
    pm_buf_free(&b);
    free(l);
    if (rc)
        memset(linked, 0, n * sizeof *linked);
    return rc;
}

pm_code store_incident_set(pm_store *s, int64_t id, const char *state, int64_t proposal,
                           const char *note, const char *actor, pm_err *err)
{
    drv_stmt *st;
    int64_t changed = 0;
    pm_code rc = stmt(s, ST_INCIDENT_SET, &st, err);
    if (rc)
        return rc;
    INT(st, 1, id);
    TEXT(st, 2, state);
    INT(st, 3, proposal);
    TEXT(st, 4, note);
    TEXT(st, 5, actor);
    rc = run(st, &changed, err);
    if (!rc && changed != 1)
        rc = pm_err_set(err, PM_ERR_NOTFOUND, "no incident %lld", (long long)id);
    return rc;
}

static void bind_incident_filter(drv_stmt *st, const pm_incident_filter *f)
{
    TEXT(st, 1, f->table);
    BOOL(st, 2, f->active_only);
    INT(st, 3, f->id);
    INT(st, 4, f->proposal);
}

pm_code store_incidents_count(pm_store *s, const pm_incident_filter *f, int64_t *n, pm_err *err)
{
    drv_stmt *st;
    bool row;
    *n = 0;
    if (f->id || f->proposal)
        return pm_err_set(err, PM_ERR_INTERNAL, "store_incidents_count counts by table and state");
    pm_code rc = stmt(s, ST_INCIDENTS_COUNT, &st, err);
    if (rc)
        return rc;
    TEXT(st, 1, f->table);
    BOOL(st, 2, f->active_only);
    if ((rc = first(st, &row, err)))
        return rc;
    *n = C_INT(st, 0);
    DONE(st);
    return PM_OK;
}

pm_code store_incidents_list(pm_store *s, const pm_incident_filter *f, pm_arena *a,
                             pm_incident **out, size_t *n, pm_err *err)
{
    drv_stmt *st;
    size_t cap = 0;
    bool row;
    *n = 0;
    *out = NULL;
    pm_code rc = stmt(s, ST_INCIDENTS_LIST, &st, err);
    if (rc)
        return rc;
    bind_incident_filter(st, f);
    INT(st, 5, f->limit > 0 ? f->limit : INT64_MAX);
    BOOL(st, 6, f->no_rows);
    while (!(rc = STEP(st, &row, err)) && row) {
        *out = grow(a, *out, *n, &cap, sizeof **out);
        pm_incident *x = &(*out)[(*n)++];
        x->id = C_INT(st, 0);
        x->table = C_TEXT(st, 1, a);
        x->column = C_TEXT(st, 2, a);
        x->kind = C_TEXT(st, 3, a);
        x->state = C_TEXT(st, 4, a);
        x->run_id = C_INT(st, 5);
        x->proposal = C_INT(st, 6);
        x->rows = C_INT(st, 7);
        x->message = C_TEXT(st, 8, a);
        x->detected_at = C_TEXT(st, 9, a);
        x->planned_at = C_TEXT(st, 10, a);
        x->applied_at = C_TEXT(st, 11, a);
        x->replayed_at = C_TEXT(st, 12, a);
        x->resolved_at = C_TEXT(st, 13, a);
        x->decided_by = C_TEXT(st, 14, a);
        x->note = C_TEXT(st, 15, a);
    }
    DONE(st);
    return rc;
}

pm_code store_incident_stats(pm_store *s, const char *table, pm_incident_stats *out, pm_err *err)
{
    drv_stmt *st;
    bool row;
    memset(out, 0, sizeof *out);
    pm_code rc = stmt(s, ST_INCIDENT_STATS, &st, err);
    if (rc)
        return rc;
    TEXT(st, 1, table);
    if ((rc = first(st, &row, err)))
        return rc;
    out->active = C_INT(st, 0);
    out->resolved = C_INT(st, 1);
    out->dismissed = C_INT(st, 2);
    out->mttr_seconds = C_DBL(st, 3);
    out->mean_to_plan_seconds = C_DBL(st, 4);
    out->mean_to_apply_seconds = C_DBL(st, 5);
    DONE(st);
    return PM_OK;
}

/* Range by range in id order (an incident's ranges do not overlap), so
 * that a few rows of a large incident cost a few rows' reads. */
pm_code store_incident_rows(pm_store *s, int64_t incident, bool newest, int limit, pm_arena *a,
                            pm_qrow **out, size_t *n, pm_err *err)
{
    *n = 0;
    *out = NULL;
    int64_t want = limit_of(limit), after = newest ? INT64_MAX : INT64_MIN;
    size_t cap = 0;
    pm_code rc = PM_OK;
    for (bool more = true; !rc && more && (int64_t)*n < want;) {
        int64_t span[256][2];
        size_t nspan = 0;
        drv_stmt *st;
        bool row;
        rc = stmt(s, newest ? ST_INCIDENT_RANGES_NEWEST : ST_INCIDENT_RANGES, &st, err);
        if (rc)
            break;
        INT(st, 1, incident);
        INT(st, 2, after);
        while (!(rc = STEP(st, &row, err)) && row && nspan < 256) {
            span[nspan][0] = C_INT(st, 0);
            span[nspan++][1] = C_INT(st, 1);
        }
        DONE(st);
        more = nspan == 256;
        for (size_t k = 0; !rc && k < nspan && (int64_t)*n < want; k++) {
            pm_qrow *got;
            size_t ngot;
            rc = stmt(s, newest ? ST_QUARANTINE_SPAN_NEWEST : ST_QUARANTINE_SPAN, &st, err);
            if (rc)
                break;
            INT(st, 1, span[k][0]);
            INT(st, 2, span[k][1]);
            INT(st, 3, want - (int64_t)*n);
            rc = read_qrows(st, a, &got, &ngot, err);
            for (size_t i = 0; !rc && i < ngot; i++) {
                *out = grow(a, *out, *n, &cap, sizeof **out);
                (*out)[(*n)++] = got[i];
            }
            after = span[k][0];
        }
    }
    return rc;
}

/* ---- proposals ------------------------------------------------------------ */

pm_code store_proposal_add(pm_store *s, const pm_proposal *p, int64_t *id, bool *created,
                           pm_err *err)
{
    drv_stmt *st;
    bool own, found = false;
    *created = false;
    pm_code rc = own_begin(s, &own, err);
    if (rc)
        return rc;
    /* the check and the insert under one lock: two workers planning the
     * same ops for the same table record one proposal */
    rc = s->drv->lock(s, "audit", err);
    if (!rc)
        rc = stmt(s, ST_PROPOSAL_FIND, &st, err);
    if (!rc) {
        TEXT(st, 1, p->table);
        TEXT(st, 2, p->ops);
        rc = first(st, &found, err);
    }
    if (!rc) {
        if (found)
            *id = C_INT(st, 0);
        DONE(st);
    }
    if (!rc && !found)
        rc = stmt(s, ST_PROPOSAL_ADD, &st, err);
    if (!rc && !found) {
        bool row;
        TEXT(st, 1, p->table);
        INT(st, 2, p->run_id);
        INT(st, 3, p->version);
        TEXT(st, 4, p->ops);
        TEXT(st, 5, p->why);
        if (p->incident)
            INT(st, 6, p->incident);
        else
            NUL(st, 6);
        TEXT(st, 7, p->policy);
        if (!(rc = first(st, &row, err))) {
            *id = C_INT(st, 0);
            DONE(st);
        }
    }
    rc = own_end(s, own, rc, err);
    *created = !rc && !found;
    return rc;
}

pm_code store_proposals_list(pm_store *s, const char *table, const pm_proposal_state *state,
                             int64_t id, pm_arena *a, pm_proposal **out, size_t *n, pm_err *err)
{
    drv_stmt *st;
    size_t cap = 0;
    bool row;
    *n = 0;
    *out = NULL;
    pm_code rc = stmt(s, ST_PROPOSALS_LIST, &st, err);
    if (rc)
        return rc;
    TEXT(st, 1, table);
    TEXT(st, 2, state ? proposal_state_name(*state) : NULL);
    INT(st, 3, id);
    while (!(rc = STEP(st, &row, err)) && row) {
        *out = grow(a, *out, *n, &cap, sizeof **out);
        pm_proposal *x = &(*out)[(*n)++];
        x->id = C_INT(st, 0);
        x->table = C_TEXT(st, 1, a);
        x->run_id = C_INT(st, 2);
        x->version = (int)C_INT(st, 3);
        const char *state_text = C_TEXT(st, 4, a);
        if (!proposal_state_parse(state_text, &x->state)) {
            rc = unknown_in_catalog(err, "proposal state", state_text);
            break;
        }
        x->ops = C_TEXT(st, 5, a);
        x->why = C_TEXT(st, 6, a);
        x->created_at = C_TEXT(st, 7, a);
        x->decided_by = C_TEXT(st, 8, a);
        x->decided_at = C_TEXT(st, 9, a);
        x->incident = C_INT(st, 10);
        x->dry_run = C_TEXT(st, 11, a);
        x->policy = C_TEXT(st, 12, a);
    }
    DONE(st);
    return rc;
}

pm_code store_proposal_decide(pm_store *s, int64_t id, pm_proposal_state state, const char *actor,
                              pm_err *err)
{
    drv_stmt *st;
    int64_t changed = 0;
    if (!proposal_state_can_move(PROP_PENDING, state))
        return pm_err_set(err, PM_ERR_INTERNAL, "a proposal cannot move to %s",
                          proposal_state_name(state));
    pm_code rc = stmt(s, ST_PROPOSAL_DECIDE, &st, err);
    if (rc)
        return rc;
    INT(st, 1, id);
    TEXT(st, 2, proposal_state_name(state));
    TEXT(st, 3, actor);
    rc = run(st, &changed, err);
    if (!rc && changed != 1)
        rc = pm_err_set(err, PM_ERR_BUSY, "proposal %lld is not pending", (long long)id);
    return rc;
}

pm_code store_proposal_set_dry_run(pm_store *s, int64_t id, const char *outcome, pm_err *err)
{
    drv_stmt *st;
    pm_code rc = stmt(s, ST_PROPOSAL_DRY_RUN, &st, err);
    if (rc)
        return rc;
    INT(st, 1, id);
    TEXT(st, 2, outcome);
    return run(st, NULL, err);
}

/* ---- audit ---------------------------------------------------------------- */

pm_code store_audit_append(pm_store *s, pm_audit_event *e,
                           void (*hash)(const pm_audit_event *e, char out[65]), pm_err *err)
{
    char prev[65] = "0000000000000000000000000000000000000000000000000000000000000000";
    char hex[65];
    drv_stmt *st;
    bool own, found = false;
    pm_code rc = own_begin(s, &own, err);
    if (rc)
        return rc;
    /* Reading the last event and appending after it happen under one lock,
     * held to the end of the transaction, or two writers could chain onto
     * the same event. */
    rc = s->drv->lock(s, "audit", err);
    if (!rc)
        rc = stmt(s, ST_AUDIT_LAST, &st, err);
    if (!rc)
        rc = first(st, &found, err);
    if (!rc) {
        e->seq = 1;
        if (found) {
            e->seq = C_INT(st, 0) + 1;
            pm_arena *tmp = pm_arena_new(4096);
            const char *h = C_TEXT(st, 1, tmp);
            snprintf(prev, sizeof prev, "%s", h ? h : "");
            pm_arena_free(tmp);
        }
        DONE(st);
        e->prev_hash = prev;
        hash(e, hex);
        e->hash = hex;
        rc = stmt(s, ST_AUDIT_ADD, &st, err);
    }
    if (!rc) {
        INT(st, 1, e->seq);
        TEXT(st, 2, e->at);
        TEXT(st, 3, e->actor);
        TEXT(st, 4, e->action);
        TEXT(st, 5, e->subject);
        TEXT(st, 6, e->payload);
        TEXT(st, 7, e->prev_hash);
        TEXT(st, 8, e->hash);
        INT(st, 9, e->keyed ? 1 : 0);
        rc = run(st, NULL, err);
    }
    e->prev_hash = e->hash = NULL; /* they pointed at this frame */
    return own_end(s, own, rc, err);
}

pm_code store_audit_list(pm_store *s, int64_t after, int limit, pm_arena *a, pm_audit_event **out,
                         size_t *n, pm_err *err)
{
    drv_stmt *st;
    size_t cap = 0;
    bool row;
    *n = 0;
    *out = NULL;
    pm_code rc = stmt(s, ST_AUDIT_LIST, &st, err);
    if (rc)
        return rc;
    INT(st, 1, after);
    INT(st, 2, limit_of(limit));
    while (!(rc = STEP(st, &row, err)) && row) {
        *out = grow(a, *out, *n, &cap, sizeof **out);
        pm_audit_event *x = &(*out)[(*n)++];
        x->seq = C_INT(st, 0);
        x->at = C_TEXT(st, 1, a);
        x->actor = C_TEXT(st, 2, a);
        x->action = C_TEXT(st, 3, a);
        x->subject = C_TEXT(st, 4, a);
        x->payload = C_TEXT(st, 5, a);
        x->prev_hash = C_TEXT(st, 6, a);
        x->hash = C_TEXT(st, 7, a);
        x->keyed = C_INT(st, 8) != 0;
    }
    DONE(st);
    return rc;
}

pm_code store_newest_ids(pm_store *s, int64_t *run, int64_t *incident, int64_t *proposal,
                         pm_err *err)
{
    drv_stmt *st;
    bool found = false;
    *run = *incident = *proposal = 0;
    pm_code rc = stmt(s, ST_NEWEST_IDS, &st, err);
    if (!rc)
        rc = first(st, &found, err);
    if (rc)
        return rc;
    if (found) {
        *run = C_INT(st, 0);
        *incident = C_INT(st, 1);
        *proposal = C_INT(st, 2);
    }
    DONE(st);
    return PM_OK;
}

/* ---- agent sessions --------------------------------------------------------- */

/* Ends sessions left running by a process gone from this host. */
static pm_code agent_reap(pm_store *s, pm_err *err)
{
    char host[256];
    hostname(host);
    drv_stmt *st, *up;
    bool row;
    int64_t dead[64];
    size_t n = 0;
    pm_code rc = stmt(s, ST_AGENT_RUNNING, &st, err);
    if (rc)
        return rc;
    TEXT(st, 1, host);
    while (n < sizeof dead / sizeof dead[0] && !(rc = STEP(st, &row, err)) && row) {
        pid_t pid = (pid_t)C_INT(st, 1);
        if (pid == getpid() || kill(pid, 0) == 0 || errno == EPERM)
            continue; /* alive (EPERM: alive, owned by another user) */
        dead[n++] = C_INT(st, 0);
    }
    DONE(st);
    for (size_t i = 0; !rc && i < n; i++) {
        rc = stmt(s, ST_AGENT_ABORT, &up, err);
        if (!rc) {
            INT(up, 1, dead[i]);
            rc = run(up, NULL, err);
        }
    }
    return rc;
}

pm_code store_agent_start(pm_store *s, int64_t incident, const char *provider, const char *model,
                          const char *prompt_sha256, int64_t *id, pm_err *err)
{
    char host[256];
    hostname(host);
    drv_stmt *st;
    bool row;
    pm_code rc = agent_reap(s, err);
    if (!rc)
        rc = stmt(s, ST_AGENT_START, &st, err);
    if (rc)
        return rc;
    INT(st, 1, incident);
    TEXT(st, 2, provider);
    TEXT(st, 3, model);
    TEXT(st, 4, prompt_sha256);
    INT(st, 5, getpid());
    TEXT(st, 6, host);
    if ((rc = first(st, &row, err))) {
        /* the unique index of running sessions: one per incident */
        if (rc == PM_ERR_CONSTRAINT || rc == PM_ERR_BUSY) {
            pm_err_set(err, PM_ERR_BUSY, "an agent session is already running on incident %lld",
                       (long long)incident);
            pm_err_hint(err, "wait for it to end (pipemend agent sessions list shows it)");
            return PM_ERR_BUSY;
        }
        return rc;
    }
    *id = C_INT(st, 0);
    DONE(st);
    return PM_OK;
}

pm_code store_agent_step(pm_store *s, pm_agent_step *x, pm_err *err)
{
    drv_stmt *st;
    bool row;
    pm_code rc = stmt(s, ST_AGENT_STEP, &st, err);
    if (rc)
        return rc;
    INT(st, 1, x->session);
    TEXT(st, 2, x->kind);
    INT(st, 3, x->latency_ms);
    INT(st, 4, x->input_tokens);
    INT(st, 5, x->output_tokens);
    TEXT(st, 6, x->stop_reason);
    INT(st, 7, x->status);
    INT(st, 8, x->attempts);
    TEXT(st, 9, x->tool);
    TEXT(st, 10, x->arguments);
    TEXT(st, 11, x->outcome);
    TEXT(st, 12, x->result_sha256);
    TEXT(st, 13, x->message);
    if ((rc = first(st, &row, err)))
        return rc;
    x->seq = row ? C_INT(st, 0) : 0;
    DONE(st);
    rc = stmt(s, ST_AGENT_COUNT, &st, err);
    if (rc)
        return rc;
    INT(st, 1, x->session);
    INT(st, 2, x->input_tokens);
    INT(st, 3, x->output_tokens);
    return run(st, NULL, err);
}

pm_code store_agent_finish(pm_store *s, int64_t id, const char *outcome, const char *reason,
                           int64_t proposal, bool has_confidence, double confidence,
                           const char *rationale, pm_err *err)
{
    drv_stmt *st;
    pm_code rc = stmt(s, ST_AGENT_FINISH, &st, err);
    if (rc)
        return rc;
    INT(st, 1, id);
    TEXT(st, 2, outcome);
    TEXT(st, 3, reason);
    if (proposal > 0)
        INT(st, 4, proposal);
    else
        NUL(st, 4);
    if (has_confidence)
        st->ops->bind_double(st, 5, confidence);
    else
        NUL(st, 5);
    TEXT(st, 6, rationale);
    return run(st, NULL, err);
}

pm_code store_agent_sessions(pm_store *s, int64_t id, int64_t incident, int limit, pm_arena *a,
                             pm_agent_session **out, size_t *n, pm_err *err)
{
    drv_stmt *st;
    size_t cap = 0;
    bool row;
    *n = 0;
    *out = NULL;
    pm_code rc = stmt(s, ST_AGENT_LIST, &st, err);
    if (rc)
        return rc;
    INT(st, 1, id);
    INT(st, 2, incident);
    INT(st, 3, limit_of(limit));
    while (!(rc = STEP(st, &row, err)) && row) {
        *out = grow(a, *out, *n, &cap, sizeof **out);
        pm_agent_session *x = &(*out)[(*n)++];
        x->id = C_INT(st, 0);
        x->incident = C_INT(st, 1);
        x->provider = C_TEXT(st, 2, a);
        x->model = C_TEXT(st, 3, a);
        x->prompt_sha256 = C_TEXT(st, 4, a);
        x->outcome = C_TEXT(st, 5, a);
        x->reason = C_TEXT(st, 6, a);
        x->proposal = C_INT(st, 7);
        x->has_confidence = !st->ops->col_null(st, 8);
        x->confidence = C_DBL(st, 8);
        x->rationale = C_TEXT(st, 9, a);
        x->steps = C_INT(st, 10);
        x->input_tokens = C_INT(st, 11);
        x->output_tokens = C_INT(st, 12);
        x->started_at = C_TEXT(st, 13, a);
        x->finished_at = C_TEXT(st, 14, a);
    }
    DONE(st);
    return rc;
}

pm_code store_agent_steps(pm_store *s, int64_t session, pm_arena *a, pm_agent_step **out, size_t *n,
                          pm_err *err)
{
    drv_stmt *st;
    size_t cap = 0;
    bool row;
    *n = 0;
    *out = NULL;
    pm_code rc = stmt(s, ST_AGENT_STEPS, &st, err);
    if (rc)
        return rc;
    INT(st, 1, session);
    while (!(rc = STEP(st, &row, err)) && row) {
        *out = grow(a, *out, *n, &cap, sizeof **out);
        pm_agent_step *x = &(*out)[(*n)++];
        x->session = C_INT(st, 0);
        x->seq = C_INT(st, 1);
        x->kind = C_TEXT(st, 2, a);
        x->at = C_TEXT(st, 3, a);
        x->latency_ms = C_INT(st, 4);
        x->input_tokens = C_INT(st, 5);
        x->output_tokens = C_INT(st, 6);
        x->stop_reason = C_TEXT(st, 7, a);
        x->status = C_INT(st, 8);
        x->attempts = C_INT(st, 9);
        x->tool = C_TEXT(st, 10, a);
        x->arguments = C_TEXT(st, 11, a);
        x->outcome = C_TEXT(st, 12, a);
        x->result_sha256 = C_TEXT(st, 13, a);
        x->message = C_TEXT(st, 14, a);
    }
    DONE(st);
    return rc;
}

pm_code store_agent_tokens_since(pm_store *s, const char *since, int64_t *tokens, pm_err *err)
{
    drv_stmt *st;
    bool row;
    *tokens = 0;
    pm_code rc = stmt(s, ST_AGENT_TOKENS, &st, err);
    if (rc)
        return rc;
    TEXT(st, 1, since);
    if ((rc = first(st, &row, err)))
        return rc;
    if (row)
        *tokens = C_INT(st, 0);
    DONE(st);
    return PM_OK;
}

/* ---- policy promotions ---------------------------------------------------------- */

pm_code store_promotion_add(pm_store *s, const char *table, const char *op_kind,
                            const char *evidence, int64_t *id, bool *created, pm_err *err)
{
    drv_stmt *st;
    bool row;
    *created = false;
    pm_code rc = stmt(s, ST_PROMOTION_FIND, &st, err);
    if (rc)
        return rc;
    TEXT(st, 1, table);
    TEXT(st, 2, op_kind);
    if ((rc = first(st, &row, err)))
        return rc;
    if (row) {
        *id = C_INT(st, 0);
        DONE(st);
        return PM_OK;
    }
    DONE(st);
    rc = stmt(s, ST_PROMOTION_ADD, &st, err);
    if (rc)
        return rc;
    TEXT(st, 1, table);
    TEXT(st, 2, op_kind);
    TEXT(st, 3, evidence);
    if ((rc = first(st, &row, err)))
        return rc;
    *id = C_INT(st, 0);
    *created = true;
    DONE(st);
    return PM_OK;
}

pm_code store_promotions_list(pm_store *s, const char *table, const char *state, int64_t id,
                              pm_arena *a, pm_promotion **out, size_t *n, pm_err *err)
{
    drv_stmt *st;
    size_t cap = 0;
    bool row;
    *n = 0;
    *out = NULL;
    pm_code rc = stmt(s, ST_PROMOTIONS_LIST, &st, err);
    if (rc)
        return rc;
    TEXT(st, 1, table);
    TEXT(st, 2, state);
    INT(st, 3, id);
    while (!(rc = STEP(st, &row, err)) && row) {
        *out = grow(a, *out, *n, &cap, sizeof **out);
        pm_promotion *x = &(*out)[(*n)++];
        x->id = C_INT(st, 0);
        x->table = C_TEXT(st, 1, a);
        x->op_kind = C_TEXT(st, 2, a);
        x->state = C_TEXT(st, 3, a);
        x->evidence = C_TEXT(st, 4, a);
        x->created_at = C_TEXT(st, 5, a);
        x->decided_by = C_TEXT(st, 6, a);
        x->decided_at = C_TEXT(st, 7, a);
    }
    DONE(st);
    return rc;
}

pm_code store_promotion_decide(pm_store *s, int64_t id, const char *state, const char *actor,
                               pm_err *err)
{
    drv_stmt *st;
    int64_t changed = 0;
    pm_code rc = stmt(s, ST_PROMOTION_DECIDE, &st, err);
    if (rc)
        return rc;
    INT(st, 1, id);
    TEXT(st, 2, state);
    TEXT(st, 3, actor);
    rc = run(st, &changed, err);
    if (!rc && changed != 1) {
        pm_err_set(err, PM_ERR_BUSY, "policy promotion %lld is no longer pending", (long long)id);
        pm_err_hint(err, "pipemend policy list shows where it stands");
        return PM_ERR_BUSY;
    }
    return rc;
}

/* ---- leases ------------------------------------------------------------------------ */

pm_code store_lease_take(pm_store *s, const char *name, const char *holder, int64_t now,
                         int64_t ttl, bool *got, const char **other, pm_arena *a, pm_err *err)
{
    drv_stmt *st;
    int64_t changed = 0;
    bool row;
    *got = false;
    *other = NULL;
    pm_code rc = stmt(s, ST_LEASE_TAKE, &st, err);
    if (rc)
        return rc;
    TEXT(st, 1, name);
    TEXT(st, 2, holder);
    INT(st, 3, now + ttl);
    INT(st, 4, now);
    if ((rc = run(st, &changed, err)))
        return rc;
    if (changed == 1) {
        *got = true;
        return PM_OK;
    }
    rc = stmt(s, ST_LEASE_HOLDER, &st, err);
    if (rc)
        return rc;
    TEXT(st, 1, name);
    if ((rc = first(st, &row, err)))
        return rc;
    if (row)
        *other = C_TEXT(st, 0, a);
    DONE(st);
    return PM_OK;
}

pm_code store_lease_release(pm_store *s, const char *name, const char *holder, pm_err *err)
{
    drv_stmt *st;
    pm_code rc = stmt(s, ST_LEASE_RELEASE, &st, err);
    if (rc)
        return rc;
    TEXT(st, 1, name);
    TEXT(st, 2, holder);
    return run(st, NULL, err);
}

/* ---- run totals ------------------------------------------------------------------ */

pm_code store_run_totals(pm_store *s, pm_arena *a, pm_run_totals **out, size_t *n, pm_err *err)
{
    drv_stmt *st;
    size_t cap = 0;
    bool row;
    *n = 0;
    *out = NULL;
    pm_code rc = stmt(s, ST_RUN_TOTALS, &st, err);
    if (rc)
        return rc;
    while (!(rc = STEP(st, &row, err)) && row) {
        const char *status = C_TEXT(st, 2, a);
        pm_run_status rs;
        if (!run_status_parse(status, &rs)) {
            rc = unknown_in_catalog(err, "run status", status);
            break;
        }
        *out = grow(a, *out, *n, &cap, sizeof **out);
        pm_run_totals *x = &(*out)[(*n)++];
        x->pipeline = C_TEXT(st, 0, a);
        x->table = C_TEXT(st, 1, a);
        x->status = rs;
        x->runs = C_INT(st, 3);
        x->rows_read = C_INT(st, 4);
        x->rows_loaded = C_INT(st, 5);
        x->rows_quarantined = C_INT(st, 6);
        x->volume_anomalies = C_INT(st, 7);
        x->last_finished = C_TEXT(st, 8, a);
    }
    DONE(st);
    return rc;
}

pm_code store_audit_head(pm_store *s, int64_t *seq, pm_err *err)
{
    drv_stmt *st;
    bool row;
    *seq = 0;
    pm_code rc = stmt(s, ST_AUDIT_LAST, &st, err);
    if (rc)
        return rc;
    if ((rc = first(st, &row, err)))
        return rc;
    if (row)
        *seq = C_INT(st, 0);
    DONE(st);
    return PM_OK;
}

/* ---- the notifications outbox ---------------------------------------------------- */

pm_code store_outbox_add(pm_store *s, const char *sink, const char *event, const char *subject,
                         const char *payload, int64_t next_at, pm_err *err)
{
    drv_stmt *st;
    pm_code rc = stmt(s, ST_OUTBOX_ADD, &st, err);
    if (rc)
        return rc;
    TEXT(st, 1, sink);
    TEXT(st, 2, event);
    TEXT(st, 3, subject);
    TEXT(st, 4, payload);
    INT(st, 5, next_at);
    return run(st, NULL, err);
}

static pm_code outbox_rows(drv_stmt *st, pm_arena *a, pm_outbox_item **out, size_t *n, pm_err *err)
{
    size_t cap = 0;
    bool row;
    pm_code rc;
    *n = 0;
    *out = NULL;
    while (!(rc = STEP(st, &row, err)) && row) {
        *out = grow(a, *out, *n, &cap, sizeof **out);
        pm_outbox_item *x = &(*out)[(*n)++];
        x->id = C_INT(st, 0);
        x->sink = C_TEXT(st, 1, a);
        x->event = C_TEXT(st, 2, a);
        x->subject = C_TEXT(st, 3, a);
        x->payload = C_TEXT(st, 4, a);
        x->created_at = C_TEXT(st, 5, a);
        x->attempts = C_INT(st, 6);
        x->next_at = C_INT(st, 7);
        x->delivered_at = C_TEXT(st, 8, a);
        x->last_error = C_TEXT(st, 9, a);
    }
    DONE(st);
    return rc;
}

pm_code store_outbox_due(pm_store *s, int64_t now, int limit, pm_arena *a, pm_outbox_item **out,
                         size_t *n, pm_err *err)
{
    drv_stmt *st;
    pm_code rc = stmt(s, ST_OUTBOX_DUE, &st, err);
    if (rc)
        return rc;
    INT(st, 1, now);
    INT(st, 2, limit_of(limit));
    return outbox_rows(st, a, out, n, err);
}

pm_code store_outbox_claim(pm_store *s, int64_t id, int64_t now, int64_t until, bool *got,
                           pm_err *err)
{
    drv_stmt *st;
    int64_t changed = 0;
    *got = false;
    pm_code rc = stmt(s, ST_OUTBOX_CLAIM, &st, err);
    if (rc)
        return rc;
    INT(st, 1, id);
    INT(st, 2, now);
    INT(st, 3, until);
    rc = run(st, &changed, err);
    *got = !rc && changed == 1;
    return rc;
}

pm_code store_outbox_done(pm_store *s, int64_t id, bool delivered, const char *error,
                          int64_t next_at, pm_err *err)
{
    drv_stmt *st;
    pm_code rc = stmt(s, ST_OUTBOX_DONE, &st, err);
    if (rc)
        return rc;
    INT(st, 1, id);
    INT(st, 2, delivered ? 1 : 0);
    TEXT(st, 3, error);
    INT(st, 4, next_at);
    return run(st, NULL, err);
}

pm_code store_outbox_list(pm_store *s, int limit, pm_arena *a, pm_outbox_item **out, size_t *n,
                          pm_err *err)
{
    drv_stmt *st;
    pm_code rc = stmt(s, ST_OUTBOX_LIST, &st, err);
    if (rc)
        return rc;
    INT(st, 1, limit_of(limit));
    return outbox_rows(st, a, out, n, err);
}
