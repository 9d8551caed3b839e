/* schemadiff.h - what changed between the logical schema pipemend keeps in
 * its catalog and the table as it lives in the database.
 *
 * Every change to a table is meant to go through a typed op; a change made
 * by hand (an ALTER TABLE in a console, a migration tool) is out of band.
 * At the start of each run the live table is introspected and compared with
 * the catalog; each difference becomes a finding and an audit event. This
 * module is the pure comparison: two logical tables in, a list of changes
 * out, no database.
 *
 * The live table must be logical too. PostgreSQL's types map one to one,
 * but SQLite's STRICT tables know only INTEGER, REAL, TEXT, BLOB and ANY,
 * so a live SQLite column's declared type is turned into a logical type with
 * schemadiff_type_from_sqlite, given what the catalog says the column is:
 * a varchar(64) that SQLite stores as TEXT has not changed. */
#ifndef PM_SCHEMA_SCHEMADIFF_H
#define PM_SCHEMA_SCHEMADIFF_H

#include <stdbool.h>
#include <stddef.h>

#include "core/arena.h"
#include "schema/table.h"
#include "schema/type.h"

typedef enum pm_change_kind {
    CHANGE_COLUMN_ADDED,    /* live has a column the catalog does not */
    CHANGE_COLUMN_DROPPED,  /* catalog column missing from the live table */
    CHANGE_TYPE_CHANGED,    /* same column, different type */
    CHANGE_NOT_NULL_ADDED,  /* nullable in catalog, NOT NULL live */
    CHANGE_NOT_NULL_DROPPED /* NOT NULL in catalog, nullable live */
} pm_change_kind;

typedef struct pm_change {
    pm_change_kind kind;
    const char *column;  /* allocated in the arena given to schemadiff */
    pm_type from, to;    /* type changes; PM_T_UNKNOWN otherwise */
    bool compatible;     /* rows that loaded before still load: added nullable column,
                            a widening along the lattice (type_widen_class AUTO or REVIEW),
                            NOT NULL dropped */
    const char *message; /* in words, for the audit event and the finding */
} pm_change;

/* Changes from catalog to live (both logical pm_tables), allocated in arena:
 * first those of the catalog's columns in the catalog's order (a column
 * whose type and nullability both changed gives two, type first), then the
 * columns only live has, in the live order. Returns how many; *out is NULL
 * when there are none. Columns match by exact name (pipemend quotes every
 * identifier, so "Email" is not "email"). Aliases are field names, not
 * columns, and play no part; a column the catalog records as dropped
 * outside pipemend (table_is_dropped) is not one of its columns either:
 * still absent live it is no change, back in the live table it is an added
 * column. */
size_t schemadiff(const pm_table *catalog, const pm_table *live, pm_arena *arena, pm_change **out);

/* "column_added", "column_dropped", "type_changed", "not_null_added",
 * "not_null_dropped"; "unknown" for anything else. */
const char *schemadiff_kind_name(pm_change_kind k);

/* The logical type SQLite's declared type decl (as in PRAGMA table_info)
 * stands for, given the catalog's type for that column (PM_T_UNKNOWN when
 * the catalog has no such column): the catalog's type when its SQLite
 * declaration is the same storage class (nothing changed), else the widest
 * logical type of that class (INTEGER -> int64, REAL -> float64,
 * TEXT -> text, anything else -> json).
 *
 * The class of decl follows SQLite's own affinity rules (datatype3.html,
 * "Determination Of Column Affinity"), case-insensitive and in its order:
 * containing "INT" is INTEGER; else "CHAR", "CLOB" or "TEXT" is TEXT; else
 * "BLOB" or no type is BLOB (other); else "REAL", "FLOA" or "DOUB" is REAL;
 * else NUMERIC (other). So the STRICT names (INT, INTEGER, REAL, TEXT,
 * BLOB, ANY) and the names of a hand-made non-STRICT table (BIGINT,
 * VARCHAR(10), DOUBLE) all class as SQLite itself stores them. A NULL decl
 * is other. */
pm_type schemadiff_type_from_sqlite(const char *decl, pm_type catalog);

#endif
