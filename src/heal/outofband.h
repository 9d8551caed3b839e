/* outofband.h - changes made to a table outside pipemend.
 *
 * At the start of each run the live table (as the database describes it)
 * is compared with the catalog's logical schema (schemadiff.h). Each
 * difference is an audit event (schema.out_of_band) and an incident of kind
 * out_of_band. The live table is then adopted as the next schema version,
 * because it is what the database enforces: compatible changes (a nullable
 * column added, a widening, NOT NULL dropped) resolve their incident at
 * once; incompatible ones (a column dropped, a narrowing, NOT NULL added)
 * stay open for a person, and the rows they affect are quarantined by the
 * ordinary checks (a dropped column's values as out_of_band findings, a
 * narrowed column's as type conflicts, nulls as null violations). */
#ifndef PM_HEAL_OUTOFBAND_H
#define PM_HEAL_OUTOFBAND_H

#include "store/store.h"

/* Compares table t (the catalog's latest version) with the live table and
 * adopts the differences (see above), in one transaction. *now is t when
 * nothing changed, else the adopted version (in arena). A table the
 * catalog knows but the database no longer has is PM_ERR_SCHEMA, recorded
 * first as an out_of_band incident (column "") with the audit event
 * schema.out_of_band (change table_dropped), once per disappearance. */
pm_code outofband_check(pm_store *s, const pm_table *t, int64_t run_id, pm_arena *arena,
                        pm_table **now, pm_err *err);

/* A table pipemend's catalog does not know but the warehouse has (made by
 * hand before pipemend arrived): adopted as schema version 1 as the
 * database describes it (its lengths and NOT NULLs included), with an
 * audit event (table.adopted). *t is NULL when there is no such table. */
pm_code outofband_adopt(pm_store *s, const char *name, int64_t run_id, pm_arena *arena,
                        pm_table **t, pm_err *err);

#endif
