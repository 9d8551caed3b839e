/* guard.h - checks every proposal, whatever its origin, before anything is
 * tried or applied.
 *
 * Typed ops: the table is one the caller allows; the column exists (or, for
 * add_column, does not); a widening follows the lattice; names are valid
 * normalised identifiers (colname.h); a new column does not look like
 * (confusable.h) a live column or another new column of the proposal; a
 * format is a strptime format.
 *
 * SQL proposals (from agents): parsed with libpg_query, the real PostgreSQL
 * parser. Exactly one statement; only ALTER TABLE or CREATE TABLE; the table
 * is allowed; every sub-command maps to a typed op (ADD COLUMN without
 * constraints or defaults, ALTER COLUMN TYPE without USING/COLLATE,
 * ALTER COLUMN DROP NOT NULL) or the whole proposal is rejected with the
 * reason. The ops that come out are what gets rendered and executed: the
 * proposed text itself is never run. */
#ifndef PM_HEAL_GUARD_H
#define PM_HEAL_GUARD_H

#include <stdbool.h>
#include <stddef.h>

#include "core/arena.h"
#include "core/err.h"
#include "schema/op.h"
#include "schema/table.h"

typedef struct guard_ctx {
    const char *const *allowed_tables; /* tables the proposer may touch */
    size_t nallowed;
    /* Live schema of a table, or NULL when it does not exist. */
    const pm_table *(*lookup)(void *arg, const char *table);
    void *lookup_arg;
} guard_ctx;

/* Parses one SQL statement into typed ops (allocated in arena). Returns
 * PM_ERR_PARSE (syntax error, NUL byte, invalid UTF-8, no statement),
 * PM_ERR_LIMIT (over 64 KiB) or PM_ERR_USAGE (anything the guard refuses)
 * with err->msg one line a model or a person can act on ("rejected: DROP
 * TABLE is not accepted; only ALTER TABLE ... ADD COLUMN / ..."); on
 * success the ops still need guard_check_ops. The table is checked against
 * g->allowed_tables here already; g->lookup is not called. */
pm_code guard_parse_sql(const guard_ctx *g, const char *sql, pm_arena *arena, pm_op **ops,
                        size_t *nops, pm_err *err);
/* The same for sql[0..len), for text that arrives with a length (a JSON
 * string from an MCP client may hold "\u0000"): a NUL byte inside is
 * rejected instead of silently ending the statement early. */
pm_code guard_parse_sql_n(const guard_ctx *g, const char *sql, size_t len, pm_arena *arena,
                          pm_op **ops, size_t *nops, pm_err *err);

/* Checks typed ops against the live schemas. On the first op that fails,
 * returns PM_ERR_SCHEMA with the reason and *bad set to its index. Each op
 * is checked against the live schema alone, so within one proposal no op
 * may name a table or column an earlier op creates, nor repeat one; the
 * one comparison between ops is that no two new columns look alike. */
pm_code guard_check_ops(const guard_ctx *g, const pm_op *ops, size_t nops, size_t *bad,
                        pm_err *err);

#endif
