/* op.h - typed operations: the only way a schema changes.
 *
 * No DDL reaches a database except as one of these ops, after the guard
 * (heal/guard.h) and the policy (heal/policy.h) have passed it. An op names its table
 * and column by name; the DDL is rendered from the op per backend, never
 * taken from a proposal's text (DESIGN.md, invariant 3).
 *
 *   create_table       table + columns
 *   add_column         column + type, always nullable
 *   widen_column       column + new type (along the lattice of type.h)
 *   drop_not_null      column
 *   add_field_mapping  incoming field name -> existing column
 *   add_coercion       column + strptime format that parses its values
 *   retype_column      column + new type outside the widening lattice where
 *                      every value converts exactly (op_retype_allowed),
 *                      + for a text column turned date/time, the strptime
 *                      format that parses its values that are not ISO
 *   merge_column       field (a column of the table) -> column: its values
 *                      move where column is NULL, it is dropped, and its
 *                      name becomes a field mapping to column (mends a
 *                      rename that split a column in two) */
#ifndef PM_SCHEMA_OP_H
#define PM_SCHEMA_OP_H

#include <stdbool.h>
#include <stddef.h>

#include "core/arena.h"
#include "core/err.h"
#include "schema/table.h"
#include "schema/type.h"

typedef enum pm_op_kind {
    OP_CREATE_TABLE,
    OP_ADD_COLUMN,
    OP_WIDEN_COLUMN,
    OP_DROP_NOT_NULL,
    OP_ADD_FIELD_MAPPING,
    OP_ADD_COERCION,
    OP_RETYPE_COLUMN,
    OP_MERGE_COLUMN,
    OP_KIND_COUNT
} pm_op_kind;

typedef struct pm_op {
    pm_op_kind kind;
    const char *table;
    const char *column; /* all but create_table */
    pm_type type;       /* add_column, widen_column, retype_column: the new type */
    const char *field;  /* add_field_mapping: the incoming field name;
                         * merge_column: the column merged into column */
    const char *format; /* add_coercion, retype_column (may be NULL): strptime format */
    pm_column *cols;    /* create_table */
    size_t ncols;
} pm_op;

const char *op_kind_name(pm_op_kind k);
bool op_kind_parse(const char *name, pm_op_kind *out);

/* One line a person reads, allocated in arena: "add column coupon
 * varchar(16) to orders", "widen orders.qty to int64" (an op holds only the
 * new type), "drop not null on orders.email", "map field \"e-mail\" to
 * orders.email", "parse orders.created_at with format \"%d/%m/%Y\"",
 * "create table events (id int64 not null, ...)". Safe on ops the guard
 * has not seen: names that are not plain are quoted with control
 * characters and invalid bytes escaped, a missing name prints as "?". */
const char *op_describe(const pm_op *op, pm_arena *arena);

/* The retypes outside the lattice that lose nothing, so a person may
 * approve them (never automatic): a number column (int16, int32, int64,
 * float64, numeric) to text, each value becoming its exact decimal text;
 * a varchar or text column to date, timestamp or timestamptz, each value
 * parsed (ISO, or the op's format), the change refused when one does not
 * parse. */
bool op_retype_allowed(pm_type from, pm_type to);

/* Ops as JSON, for the proposals catalog: [{"op","table","column",
 * "type","field","format"}...]. ops_to_json returns malloc'd text (caller
 * frees); ops_from_json allocates the ops in arena and fails with
 * PM_ERR_PARSE on text it did not write. */
char *ops_to_json(const pm_op *ops, size_t n);
pm_code ops_from_json(const char *text, pm_arena *arena, pm_op **ops, size_t *n, pm_err *err);

/* The logical schema after ops (already through the guard) are applied to
 * t: a new table in arena (t is left as it is), version t->version + 1.
 * A mapping adds the normal form of its field (colname.h) as an alias of
 * its column, a coercion sets the column's format; adding a column or
 * mapping a field that was a dropped column forgets the drop, and widening
 * a column past date/time clears its format. PM_ERR_SCHEMA if an op does
 * not fit t: a missing column, a column that exists already or is a mapped
 * field's name, a field that is a column or mapped already, a coercion on a
 * column that is not date, timestamp or timestamptz. A retype sets the
 * column's type and its format (the op's, or none). A merge drops its
 * field's column and makes that name and its aliases aliases of column. */
pm_code op_result(const pm_table *t, const pm_op *ops, size_t n, pm_arena *arena, pm_table **out,
                  pm_err *err);

#endif
