/* table.h - the logical schema of a table: its columns with their logical
 * types and nullability, and the version the catalog gave it. Lookup by
 * column name is a hash probe: it is on the per-field hot path. */
#ifndef PM_SCHEMA_TABLE_H
#define PM_SCHEMA_TABLE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/arena.h"
#include "core/err.h"
#include "schema/type.h"

typedef struct pm_column {
    const char *name; /* normalised column name */
    pm_type type;
    bool nullable;
} pm_column;

typedef struct pm_table {
    const char *name;
    int version; /* schema version in the catalog; 0 before creation */
    pm_column *cols;
    size_t ncols;
    size_t cap;
    /* open-addressing index over cols by name; rebuilt on add */
    int *slots;
    size_t nslots;
} pm_table;

/* All memory from arena (owner of the table). */
pm_table *table_new(pm_arena *arena, const char *name);
/* Index of the column, or -1. */
int table_find(const pm_table *t, const char *name, size_t len);
/* Appends a column (name copied); returns its index, or -1 if the table
 * already has a column of that name (the index must stay unambiguous). */
int table_add(pm_table *t, pm_arena *arena, const char *name, pm_type type, bool nullable);

/* The columns as the catalog and the CLI show them, a JSON array of
 * {"name", "type", "nullable"} (caller owns the reference). */
struct json_t;
struct json_t *table_columns_json(const pm_table *t);
/* Adds the columns of such an array (text) to t; PM_ERR_DB when the text
 * is not one (the catalog is the only writer). */
pm_code table_columns_parse(pm_table *t, pm_arena *arena, const char *text, pm_err *err);

#endif
