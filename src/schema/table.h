/* table.h - the logical schema of a table: its columns with their logical
 * types and nullability, the field mappings and coercions that say how
 * incoming fields load into them, the columns dropped behind pipemend's
 * back, and the version the catalog gave it. Lookup by column name is a
 * hash probe: it is on the per-field hot path.
 *
 * One name means one thing: a name is at most one of a column, an alias of
 * a column (a mapped field) or a dropped column, and the functions that add
 * them refuse a name that is already another. */
#ifndef PM_SCHEMA_TABLE_H
#define PM_SCHEMA_TABLE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/arena.h"
#include "core/err.h"
#include "schema/type.h"

/* The widest table pipemend makes or lets a record shape: wider is almost
 * always a map keyed by data (user ids, dates) flattened into columns, and
 * SQLite stops at 2000 columns, PostgreSQL at 1600. A record with more
 * fields than this is malformed (drift.h), whatever the table. */
#define TABLE_MAX_COLUMNS 1000

typedef struct pm_column {
    const char *name; /* normalised column name */
    pm_type type;
    bool nullable;
    /* NOT NULL only because every row of the sample that created the
     * table had a value: pipemend's guess, not the user's constraint, so
     * relaxing it is automatic (policy.h). False for a NOT NULL the user
     * declared (a table made by hand, a contract's not_null). */
    bool guessed;
    /* For a name with "__" in it, which kind of field made the column: a
     * key of the record whose name normalised to it ("Beak Length (mm)"),
     * or a member of a nested object ({"beak_length": {"mm": ..}}). Both
     * give beak_length__mm; a field of the other kind is a finding, not
     * silently the same column. */
    unsigned char origin; /* COLUMN_ORIGIN_* */
    /* Normalised field names that load into this column besides its own
     * (field mappings, oldest first); owned by the table's arena. */
    const char **aliases;
    size_t naliases;
    /* strptime format of the column's coercion (type_coerce_datetime), or
     * NULL; only date, timestamp and timestamptz columns have one. */
    const char *format;
} pm_column;

enum { COLUMN_ORIGIN_UNKNOWN, COLUMN_ORIGIN_FLAT, COLUMN_ORIGIN_NESTED };

/* A slot of the alias index: an alias and the column it belongs to. */
typedef struct pm_alias_slot {
    const char *name; /* NULL: empty slot */
    int col;
} pm_alias_slot;

typedef struct pm_table {
    const char *name;
    int version; /* schema version in the catalog; 0 before creation */
    pm_column *cols;
    size_t ncols;
    size_t cap;
    /* open-addressing index over cols by name; rebuilt on add */
    int *slots;
    size_t nslots;
    /* Names of columns dropped from the live table outside pipemend. A
     * row with a value for one is quarantined (out_of_band) rather than
     * healed by adding the column again behind the owner's back. */
    const char **dropped;
    size_t ndropped;
    /* index over every column's aliases; empty (0 slots) without any */
    pm_alias_slot *aslots;
    size_t naslots;
    size_t naliases; /* aliases of all columns */
} pm_table;

/* All memory from arena (owner of the table). */
pm_table *table_new(pm_arena *arena, const char *name);
/* A deep copy in arena (names, aliases, formats, dropped, version). */
pm_table *table_copy(const pm_table *t, pm_arena *arena);
/* Index of the column, or -1. */
int table_find(const pm_table *t, const char *name, size_t len);
/* Index of the column name[0..len) is an alias of, or -1. */
int table_find_alias(const pm_table *t, const char *name, size_t len);
/* The column a normalised field name loads into: the column of that name,
 * else the column it is an alias of; -1 for neither. Costs one probe more
 * than table_find only when the table has aliases and the name is not a
 * column. */
int table_find_field(const pm_table *t, const char *name, size_t len);
/* Is name[0..len) a column dropped outside pipemend? */
bool table_is_dropped(const pm_table *t, const char *name, size_t len);

/* Appends a column (name copied); returns its index, or -1 if the name is
 * already a column, an alias or a dropped column (the index must stay
 * unambiguous). */
int table_add(pm_table *t, pm_arena *arena, const char *name, pm_type type, bool nullable);
/* Adds name (copied; a normalised field name) as an alias of column col.
 * False, and nothing changes, when col is not a column index, name is
 * empty, or name is already a column, an alias (of any column) or a
 * dropped column. */
bool table_add_alias(pm_table *t, pm_arena *arena, int col, const char *name);
/* Sets (fmt copied) or, with NULL, clears the coercion format of column
 * col. False when col is not a column index, fmt is empty, or the column
 * is not date, timestamp or timestamptz. */
bool table_set_format(pm_table *t, pm_arena *arena, int col, const char *fmt);
/* Records name (copied) as a column dropped outside pipemend. False when
 * it is empty, a column, an alias, or already recorded. */
bool table_add_dropped(pm_table *t, pm_arena *arena, const char *name);
/* Forgets a dropped column (before it is added back, or mapped); false
 * when name was not one. The dropped array is changed in place: it belongs
 * to t alone (table_copy copies it). */
bool table_forget_dropped(pm_table *t, const char *name);

/* The logical schema as the catalog and the CLI show it, a JSON array
 * (caller owns the reference): per column {"name", "type", "nullable"}
 * plus "aliases": [...], "format": "...", "guessed": true (a NOT NULL
 * pipemend inferred) and "origin": "flat" or "nested" when it has them, then per
 * dropped column {"name", "dropped": true}. */
struct json_t;
struct json_t *table_columns_json(const pm_table *t);
/* Adds the columns, aliases, formats and dropped columns of such an array
 * (text) to t; PM_ERR_DB when the text is not one (the catalog is the only
 * writer): an unknown key, a missing or mistyped value, a type that does
 * not parse, a name used twice, an empty alias list. */
pm_code table_columns_parse(pm_table *t, pm_arena *arena, const char *text, pm_err *err);

#endif
