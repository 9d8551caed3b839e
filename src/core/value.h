/* value.h - a value as it came out of a source, and a cell as it goes into a
 * store.
 *
 * A pm_value is untyped in the SQL sense: JSON numbers stay as their literal
 * text (exact, whatever their size) and CSV fields stay raw text until the
 * schema module decides which column type they fit. A pm_cell is the typed
 * form the store binds: an integer, a double or text, already checked. */
#ifndef PM_CORE_VALUE_H
#define PM_CORE_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum pm_vkind {
    PM_V_NULL,   /* JSON null; an empty unquoted CSV field */
    PM_V_BOOL,   /* JSON true/false; b holds it */
    PM_V_NUMBER, /* JSON number: s/len is the literal, exactly as written */
    PM_V_STRING, /* JSON string, unescaped, valid UTF-8 (may hold NUL) */
    PM_V_RAW,    /* CSV field: text whose type is not yet known */
    PM_V_ARRAY,  /* JSON array: s/len is its JSON text */
    PM_V_OBJECT, /* JSON object kept whole (beyond the flattening depth) */
} pm_vkind;

typedef struct pm_value {
    pm_vkind kind;
    bool b;
    const char *s; /* borrowed until the batch arena resets */
    size_t len;
} pm_value;

typedef enum pm_cell_kind { PM_CELL_NULL, PM_CELL_INT, PM_CELL_REAL, PM_CELL_TEXT } pm_cell_kind;

typedef struct pm_cell {
    pm_cell_kind kind;
    int64_t i;
    double d;
    const char *s; /* borrowed until the batch arena resets */
    size_t len;
} pm_cell;

#endif
