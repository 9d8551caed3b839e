/* drift.h - compares a record with its table's schema and contract and
 * produces typed findings, and the cells to load when there are none.
 *
 * A finding says what deviates (kind), where (field and column), what was
 * seen (the value, truncated), what was expected (the column's type), what
 * would hold it (the proposed type), and a message a person can act on.
 * Findings are the input of quarantine now and of the healing planner later;
 * they are serialised to JSON in the quarantine table.
 *
 * Normalisations that are not drift (documented in the README):
 *   - a field the table does not have whose value is null: nothing would be
 *     lost by loading the row without it (a dropped column's field too);
 *   - field names are turned into column names by colname.h's rule, and a
 *     name that is an alias of a column (a field mapping) loads into that
 *     column; two fields of one record that become the same column, by
 *     name or alias, are `malformed`;
 *   - a value that does not fit its date/time column but parses with the
 *     column's coercion format loads as the ISO text type_coerce_datetime
 *     makes of it.
 * A value for a column that was dropped from the live table outside
 * pipemend (pm_table.dropped) is `out_of_band`: the row is quarantined and
 * nothing proposes the column again. */
#ifndef PM_DRIFT_DRIFT_H
#define PM_DRIFT_DRIFT_H

#include <stdbool.h>
#include <stddef.h>

#include "contract/contract.h"
#include "core/arena.h"
#include "core/buf.h"
#include "schema/table.h"
#include "schema/type.h"
#include "source/record.h"

typedef enum pm_finding_kind {
#define PM_FINDING(id, name) FINDING_##id,
#include "drift/finding.def"
#undef PM_FINDING
    FINDING_KIND_COUNT
} pm_finding_kind;

typedef struct pm_finding {
    pm_finding_kind kind;
    const char *field;    /* field name as in the feed, or NULL */
    const char *column;   /* column name, or NULL */
    const char *observed; /* value as text, at most ~64 bytes, or NULL */
    pm_type expected;     /* column type (PM_T_UNKNOWN when none) */
    pm_type proposed;     /* type that would hold the value (UNKNOWN: none) */
    const char *rule;     /* contract rule name, or NULL */
    const char *format;   /* detected strptime format for `format`, or NULL */
    const char *message;
} pm_finding;

const char *drift_kind_name(pm_finding_kind k);
bool drift_kind_parse(const char *name, pm_finding_kind *out);

typedef struct drift_ctx drift_ctx;

/* The context caches field name -> column lookups for the life of a run;
 * it borrows table and contract (which must outlive it) and allocates from
 * run_arena. contract may be NULL. */
drift_ctx *drift_ctx_new(pm_arena *run_arena, const pm_table *table, const pm_contract *contract);

/* Points ctx at a new version of its table (after a heal), keeping its
 * memory: the name cache is emptied (so the new version's aliases and
 * dropped columns apply; formats are read from the columns), rule columns
 * are found again. */
void drift_ctx_retarget(drift_ctx *ctx, const pm_table *table);

typedef struct drift_result {
    pm_cell *cells; /* table->ncols cells, valid when nfindings == 0 */
    pm_finding *findings;
    size_t nfindings;
    size_t cap;       /* room in findings */
    size_t truncated; /* findings not listed past DRIFT_MAX_FINDINGS */
} drift_result;

/* A record with more findings than this is quarantined with the first ones
 * and a note of how many more: one hostile record must not cost memory
 * that grows with the square of its fields. */
#define DRIFT_MAX_FINDINGS 64

/* Checks one record; everything in *out is allocated from batch_arena. */
void drift_check(drift_ctx *ctx, const pm_record *rec, pm_arena *batch_arena, drift_result *out);

/* Adds a finding to a result (used by the loader for a unique violation). */
void drift_add(drift_result *res, pm_arena *arena, const pm_finding *f);

/* Appends the findings as a JSON array of objects to b. */
pm_code drift_findings_json(pm_buf *b, const pm_finding *f, size_t n, pm_err *err);
/* Distinct kind names joined by ',' (e.g. "new_field,widen"), in arena. */
const char *drift_kinds_list(const pm_finding *f, size_t n, pm_arena *arena);
/* The message that says why a row with these findings is kept out (n > 0):
 * the first finding that is not a new field, since a new field heals by
 * itself and another finding (a rename, a conflict) says more. */
const char *drift_headline(const pm_finding *f, size_t n);

#endif
