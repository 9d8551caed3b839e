/* table.c - a table's logical schema and its by-name column index.
 *
 * The index is open addressing with linear probing over slot numbers (-1
 * empty), kept at most half full so a miss ends within a probe or two. It
 * is rebuilt from the columns when it has to grow; columns are never
 * removed (dropping is forbidden), so there are no tombstones. Everything
 * lives in the owner's arena: a grown array leaves the old one behind,
 * which doubling keeps to less than the live size. */
#include "schema/table.h"

#include <jansson.h>

#include <string.h>

#include "core/hash.h"

#define MIN_COLS 8
#define MIN_SLOTS 16

pm_table *table_new(pm_arena *arena, const char *name)
{
    pm_table *t = pm_arena_calloc(arena, sizeof *t);
    t->name = pm_arena_strdup(arena, name);
    return t;
}

/* Does the NUL-terminated column name equal name[0..len)? Stops at the
 * column name's NUL, so a probe never reads past it whatever len is. */
static bool name_eq(const char *col, const char *name, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (col[i] == '\0' || col[i] != name[i])
            return false;
    return col[len] == '\0';
}

int table_find(const pm_table *t, const char *name, size_t len)
{
    if (t->nslots == 0)
        return -1;
    size_t mask = t->nslots - 1;
    for (size_t h = (size_t)pm_hash(name, len) & mask;; h = (h + 1) & mask) {
        int c = t->slots[h];
        if (c < 0)
            return -1;
        if (name_eq(t->cols[c].name, name, len))
            return c;
    }
}

static void index_put(pm_table *t, int c)
{
    const char *name = t->cols[c].name;
    size_t mask = t->nslots - 1;
    size_t h = (size_t)pm_hash(name, strlen(name)) & mask;
    while (t->slots[h] >= 0)
        h = (h + 1) & mask;
    t->slots[h] = c;
}

static void index_rebuild(pm_table *t, pm_arena *arena, size_t nslots)
{
    t->slots = pm_arena_alloc(arena, nslots * sizeof *t->slots);
    memset(t->slots, 0xFF, nslots * sizeof *t->slots); /* every slot -1 */
    t->nslots = nslots;
    for (size_t c = 0; c < t->ncols; c++)
        index_put(t, (int)c);
}

int table_add(pm_table *t, pm_arena *arena, const char *name, pm_type type, bool nullable)
{
    size_t len = strlen(name);
    if (table_find(t, name, len) >= 0)
        return -1;
    if (t->ncols == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : MIN_COLS;
        pm_column *cols = pm_arena_alloc(arena, cap * sizeof *cols);
        if (t->ncols)
            memcpy(cols, t->cols, t->ncols * sizeof *cols);
        t->cols = cols;
        t->cap = cap;
    }
    int c = (int)t->ncols;
    t->cols[c] = (pm_column){pm_arena_strndup(arena, name, len), type, nullable};
    t->ncols++;
    if (2 * t->ncols > t->nslots) {
        size_t nslots = t->nslots ? 2 * t->nslots : MIN_SLOTS;
        while (2 * t->ncols > nslots)
            nslots *= 2;
        index_rebuild(t, arena, nslots);
    } else {
        index_put(t, c);
    }
    return c;
}

json_t *table_columns_json(const pm_table *t)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < t->ncols; i++) {
        char tn[TYPE_NAME_MAX];
        json_array_append_new(arr, json_pack("{s:s, s:s, s:b}", "name", t->cols[i].name, "type",
                                             type_name(t->cols[i].type, tn), "nullable",
                                             t->cols[i].nullable));
    }
    return arr;
}

pm_code table_columns_parse(pm_table *t, pm_arena *a, const char *text, pm_err *err)
{
    json_error_t je;
    json_t *arr = json_loads(text, 0, &je);
    if (!json_is_array(arr)) {
        json_decref(arr);
        return pm_err_set(err, PM_ERR_DB, "catalog schema of %s is unreadable: %s", t->name,
                          je.text);
    }
    size_t i;
    json_t *c;
    json_array_foreach(arr, i, c)
    {
        const char *name = json_string_value(json_object_get(c, "name"));
        const char *type = json_string_value(json_object_get(c, "type"));
        pm_type ty;
        if (!name || !type || !type_parse(type, &ty)) {
            json_decref(arr);
            return pm_err_set(err, PM_ERR_DB, "catalog schema of %s has a bad column entry %zu",
                              t->name, i);
        }
        table_add(t, a, name, ty, json_is_true(json_object_get(c, "nullable")));
    }
    json_decref(arr);
    return PM_OK;
}
