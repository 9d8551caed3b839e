/* schemadiff.c - the comparison of schemadiff.h.
 *
 * One pass over the catalog's columns, each looked up in the live table by
 * name (a hash probe), then one over the live columns for those the catalog
 * lacks. Whether a change is compatible is the question an operator asks
 * first: can the feed keep loading as it did? So a type change is judged by
 * the widening lattice (type_widen_class), from the catalog's type to the
 * live one: a widening, automatic or reviewable, still holds every value
 * that loaded before; anything else may not. */
#include "schema/schemadiff.h"

#include <string.h>

#include "core/arena.h"

const char *schemadiff_kind_name(pm_change_kind k)
{
    switch (k) {
    case CHANGE_COLUMN_ADDED:
        return "column_added";
    case CHANGE_COLUMN_DROPPED:
        return "column_dropped";
    case CHANGE_TYPE_CHANGED:
        return "type_changed";
    case CHANGE_NOT_NULL_ADDED:
        return "not_null_added";
    case CHANGE_NOT_NULL_DROPPED:
        return "not_null_dropped";
    }
    return "unknown";
}

static pm_change *change_add(pm_change *v, size_t *n, pm_arena *arena, pm_change_kind kind,
                             const char *column)
{
    pm_change *c = &v[(*n)++];
    memset(c, 0, sizeof *c);
    c->kind = kind;
    c->column = pm_arena_strdup(arena, column);
    return c;
}

/* The type of a catalog column against its live self, and its nullability. */
static void diff_column(const pm_column *cat, const pm_column *live, pm_change *v, size_t *n,
                        pm_arena *arena)
{
    char from[TYPE_NAME_MAX], to[TYPE_NAME_MAX];
    pm_widen_class wc = type_widen_class(cat->type, live->type);
    if (wc != PM_WIDEN_SAME) {
        pm_change *c = change_add(v, n, arena, CHANGE_TYPE_CHANGED, cat->name);
        c->from = cat->type;
        c->to = live->type;
        c->compatible = wc == PM_WIDEN_AUTO || wc == PM_WIDEN_REVIEW;
        type_name(cat->type, from);
        type_name(live->type, to);
        c->message =
            pm_arena_sprintf(arena, "column \"%s\" was changed from %s to %s outside pipemend%s",
                             cat->name, from, to,
                             c->compatible ? " (a widening: rows that loaded before still load)"
                                           : ": values that loaded before may not fit");
    }
    if (cat->nullable && !live->nullable) {
        pm_change *c = change_add(v, n, arena, CHANGE_NOT_NULL_ADDED, cat->name);
        c->message = pm_arena_sprintf(arena,
                                      "column \"%s\" was made NOT NULL outside pipemend: rows "
                                      "without a value for it will not load",
                                      cat->name);
    } else if (!cat->nullable && live->nullable) {
        pm_change *c = change_add(v, n, arena, CHANGE_NOT_NULL_DROPPED, cat->name);
        c->compatible = true;
        c->message =
            pm_arena_sprintf(arena, "column \"%s\" was made nullable outside pipemend", cat->name);
    }
}

size_t schemadiff(const pm_table *catalog, const pm_table *live, pm_arena *arena, pm_change **out)
{
    /* At most two changes per catalog column and one per live column. */
    size_t cap = 2 * catalog->ncols + live->ncols;
    pm_change *v = cap ? pm_arena_alloc(arena, cap * sizeof *v) : NULL;
    size_t n = 0;
    char tn[TYPE_NAME_MAX];

    for (size_t i = 0; i < catalog->ncols; i++) {
        const pm_column *cat = &catalog->cols[i];
        int j = table_find(live, cat->name, strlen(cat->name));
        if (j >= 0) {
            diff_column(cat, &live->cols[j], v, &n, arena);
            continue;
        }
        pm_change *c = change_add(v, &n, arena, CHANGE_COLUMN_DROPPED, cat->name);
        c->message = pm_arena_sprintf(arena,
                                      "column \"%s\" (%s) was dropped outside pipemend: rows "
                                      "with a value for it will not load",
                                      cat->name, type_name(cat->type, tn));
    }
    for (size_t j = 0; j < live->ncols; j++) {
        const pm_column *col = &live->cols[j];
        if (table_find(catalog, col->name, strlen(col->name)) >= 0)
            continue;
        pm_change *c = change_add(v, &n, arena, CHANGE_COLUMN_ADDED, col->name);
        /* A NOT NULL column that rows do not carry refuses them all. */
        c->compatible = col->nullable;
        c->message = pm_arena_sprintf(
            arena, "column \"%s\" (%s, %s) was added outside pipemend%s", col->name,
            type_name(col->type, tn), col->nullable ? "nullable" : "NOT NULL",
            col->nullable ? "" : ": rows without a value for it will not load");
    }
    *out = n ? v : NULL;
    return n;
}

/* ---- SQLite's declared types -------------------------------------------- */

typedef enum sqlite_class { SQ_INTEGER, SQ_REAL, SQ_TEXT, SQ_OTHER } sqlite_class;

/* SQLite's affinity rules, in its order (see schemadiff.h). */
static sqlite_class sqlite_class_of(const char *decl)
{
    if (!decl)
        return SQ_OTHER;
    if (strcasestr(decl, "INT"))
        return SQ_INTEGER;
    if (strcasestr(decl, "CHAR") || strcasestr(decl, "CLOB") || strcasestr(decl, "TEXT"))
        return SQ_TEXT;
    if (strcasestr(decl, "BLOB") || decl[0] == '\0')
        return SQ_OTHER;
    if (strcasestr(decl, "REAL") || strcasestr(decl, "FLOA") || strcasestr(decl, "DOUB"))
        return SQ_REAL;
    return SQ_OTHER; /* NUMERIC affinity, and STRICT's ANY */
}

pm_type schemadiff_type_from_sqlite(const char *decl, pm_type catalog)
{
    sqlite_class c = sqlite_class_of(decl);
    /* unknown is no column type (type_sqlite_decl would call it TEXT). */
    if (catalog.kind != PM_T_UNKNOWN && sqlite_class_of(type_sqlite_decl(catalog)) == c)
        return catalog;
    switch (c) {
    case SQ_INTEGER:
        return (pm_type){PM_T_INT64, 0};
    case SQ_REAL:
        return (pm_type){PM_T_FLOAT64, 0};
    case SQ_TEXT:
        return (pm_type){PM_T_TEXT, 0};
    case SQ_OTHER:
        break;
    }
    return (pm_type){PM_T_JSON, 0};
}
