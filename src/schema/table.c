/* table.c - a table's logical schema and its by-name indexes.
 *
 * Both indexes (columns by name, aliases by name) are open addressing with
 * linear probing, kept at most half full so a miss ends within a probe or
 * two. They are rebuilt when they have to grow; columns and aliases are
 * never removed (dropping is forbidden, and a mapping stays), so there are
 * no tombstones. A table without aliases has no alias index at all, which
 * keeps table_find_field at one probe for it. Dropped columns are a plain
 * list: they are few, and looked at only for a name that is no column.
 * Everything lives in the owner's arena: a grown array leaves the old one
 * behind, which doubling keeps to less than the live size. */
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

int table_find_alias(const pm_table *t, const char *name, size_t len)
{
    if (t->naslots == 0)
        return -1;
    size_t mask = t->naslots - 1;
    for (size_t h = (size_t)pm_hash(name, len) & mask;; h = (h + 1) & mask) {
        const pm_alias_slot *s = &t->aslots[h];
        if (!s->name)
            return -1;
        if (name_eq(s->name, name, len))
            return s->col;
    }
}

int table_find_field(const pm_table *t, const char *name, size_t len)
{
    int c = table_find(t, name, len);
    return c >= 0 || t->naliases == 0 ? c : table_find_alias(t, name, len);
}

bool table_is_dropped(const pm_table *t, const char *name, size_t len)
{
    for (size_t i = 0; i < t->ndropped; i++)
        if (name_eq(t->dropped[i], name, len))
            return true;
    return false;
}

/* Is name[0..len) taken, as a column, an alias or a dropped column? */
static bool name_taken(const pm_table *t, const char *name, size_t len)
{
    return table_find(t, name, len) >= 0 || table_find_alias(t, name, len) >= 0 ||
           table_is_dropped(t, name, len);
}

static void alias_put(pm_table *t, const char *name, int c)
{
    size_t mask = t->naslots - 1;
    size_t h = (size_t)pm_hash(name, strlen(name)) & mask;
    while (t->aslots[h].name)
        h = (h + 1) & mask;
    t->aslots[h] = (pm_alias_slot){name, c};
}

static void alias_rebuild(pm_table *t, pm_arena *arena, size_t nslots)
{
    t->aslots = pm_arena_calloc(arena, nslots * sizeof *t->aslots);
    t->naslots = nslots;
    for (size_t c = 0; c < t->ncols; c++)
        for (size_t k = 0; k < t->cols[c].naliases; k++)
            alias_put(t, t->cols[c].aliases[k], (int)c);
}

/* A copy of list[0..n) with s appended (copied), in arena. */
static const char **list_append(pm_arena *arena, const char *const *list, size_t n, const char *s)
{
    const char **out = pm_arena_alloc(arena, (n + 1) * sizeof *out);
    if (n)
        memcpy(out, list, n * sizeof *out);
    out[n] = pm_arena_strdup(arena, s);
    return out;
}

int table_add(pm_table *t, pm_arena *arena, const char *name, pm_type type, bool nullable)
{
    size_t len = strlen(name);
    if (name_taken(t, name, len))
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
    t->cols[c] =
        (pm_column){.name = pm_arena_strndup(arena, name, len), .type = type, .nullable = nullable};
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

bool table_add_alias(pm_table *t, pm_arena *arena, int col, const char *name)
{
    if (col < 0 || (size_t)col >= t->ncols || !name || !*name)
        return false;
    if (name_taken(t, name, strlen(name)))
        return false;
    pm_column *c = &t->cols[col];
    c->aliases = list_append(arena, c->aliases, c->naliases, name);
    const char *copy = c->aliases[c->naliases++];
    t->naliases++;
    if (2 * t->naliases > t->naslots)
        alias_rebuild(t, arena, t->naslots ? 2 * t->naslots : MIN_SLOTS);
    else
        alias_put(t, copy, col);
    return true;
}

static bool is_datetime(pm_type t)
{
    return t.kind == PM_T_DATE || t.kind == PM_T_TIMESTAMP || t.kind == PM_T_TIMESTAMPTZ;
}

bool table_set_format(pm_table *t, pm_arena *arena, int col, const char *fmt)
{
    if (col < 0 || (size_t)col >= t->ncols)
        return false;
    pm_column *c = &t->cols[col];
    if (!fmt) {
        c->format = NULL;
        return true;
    }
    if (!*fmt || !is_datetime(c->type))
        return false;
    c->format = pm_arena_strdup(arena, fmt);
    return true;
}

bool table_add_dropped(pm_table *t, pm_arena *arena, const char *name)
{
    if (!name || !*name || name_taken(t, name, strlen(name)))
        return false;
    t->dropped = list_append(arena, t->dropped, t->ndropped, name);
    t->ndropped++;
    return true;
}

bool table_forget_dropped(pm_table *t, const char *name)
{
    for (size_t i = 0; i < t->ndropped; i++) {
        if (strcmp(t->dropped[i], name) != 0)
            continue;
        memmove(&t->dropped[i], &t->dropped[i + 1], (t->ndropped - i - 1) * sizeof *t->dropped);
        t->ndropped--;
        return true;
    }
    return false;
}

pm_table *table_copy(const pm_table *t, pm_arena *arena)
{
    pm_table *r = table_new(arena, t->name);
    r->version = t->version;
    for (size_t i = 0; i < t->ncols; i++) {
        const pm_column *c = &t->cols[i];
        int j = table_add(r, arena, c->name, c->type, c->nullable);
        if (j < 0)
            continue; /* a duplicate in t: its index could not find it either */
        if (c->format)
            r->cols[j].format = pm_arena_strdup(arena, c->format);
        r->cols[j].guessed = c->guessed;
        r->cols[j].origin = c->origin;
    }
    for (size_t i = 0; i < t->ncols; i++)
        for (size_t k = 0; k < t->cols[i].naliases; k++)
            table_add_alias(r, arena, table_find(r, t->cols[i].name, strlen(t->cols[i].name)),
                            t->cols[i].aliases[k]);
    for (size_t i = 0; i < t->ndropped; i++)
        table_add_dropped(r, arena, t->dropped[i]);
    return r;
}

json_t *table_columns_json(const pm_table *t)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < t->ncols; i++) {
        const pm_column *c = &t->cols[i];
        char tn[TYPE_NAME_MAX];
        json_t *o = json_pack("{s:s, s:s, s:b}", "name", c->name, "type", type_name(c->type, tn),
                              "nullable", c->nullable);
        if (c->naliases) {
            json_t *al = json_array();
            for (size_t k = 0; k < c->naliases; k++)
                json_array_append_new(al, json_string(c->aliases[k]));
            json_object_set_new(o, "aliases", al);
        }
        if (c->format)
            json_object_set_new(o, "format", json_string(c->format));
        if (c->guessed && !c->nullable)
            json_object_set_new(o, "guessed", json_true());
        if (c->origin == COLUMN_ORIGIN_FLAT || c->origin == COLUMN_ORIGIN_NESTED)
            json_object_set_new(o, "origin",
                                json_string(c->origin == COLUMN_ORIGIN_FLAT ? "flat" : "nested"));
        json_array_append_new(arr, o);
    }
    for (size_t i = 0; i < t->ndropped; i++)
        json_array_append_new(arr, json_pack("{s:s, s:b}", "name", t->dropped[i], "dropped", 1));
    return arr;
}

/* Are all keys of o among keys[0..n)? */
static bool keys_known(json_t *o, const char *const *keys, size_t n)
{
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v)
    {
        size_t i = 0;
        while (i < n && strcmp(k, keys[i]) != 0)
            i++;
        if (i == n)
            return false;
    }
    return true;
}

/* One entry of the array into t; false when it is not one the writer
 * makes. */
static bool parse_entry(pm_table *t, pm_arena *a, json_t *c)
{
    static const char *const column_keys[] = {"name",   "type",    "nullable", "aliases",
                                              "format", "guessed", "origin"};
    if (!json_is_object(c))
        return false;
    const char *name = json_string_value(json_object_get(c, "name"));
    if (!name || !*name)
        return false;
    json_t *dropped = json_object_get(c, "dropped");
    if (dropped)
        return json_is_true(dropped) && json_object_size(c) == 2 && table_add_dropped(t, a, name);

    const char *type = json_string_value(json_object_get(c, "type"));
    json_t *nullable = json_object_get(c, "nullable");
    pm_type ty;
    if (!keys_known(c, column_keys, sizeof column_keys / sizeof column_keys[0]) || !type ||
        !type_parse(type, &ty) || !json_is_boolean(nullable))
        return false;
    int j = table_add(t, a, name, ty, json_is_true(nullable));
    if (j < 0)
        return false;
    json_t *guessed = json_object_get(c, "guessed");
    if (guessed && !json_is_boolean(guessed))
        return false;
    t->cols[j].guessed = json_is_true(guessed) && !t->cols[j].nullable;
    json_t *origin = json_object_get(c, "origin");
    if (origin) {
        const char *o = json_string_value(origin);
        if (!o || (strcmp(o, "flat") != 0 && strcmp(o, "nested") != 0))
            return false;
        t->cols[j].origin = strcmp(o, "flat") == 0 ? COLUMN_ORIGIN_FLAT : COLUMN_ORIGIN_NESTED;
    }
    json_t *aliases = json_object_get(c, "aliases");
    if (aliases) {
        if (!json_is_array(aliases) || json_array_size(aliases) == 0)
            return false;
        size_t k;
        json_t *al;
        json_array_foreach(aliases, k, al)
        {
            if (!table_add_alias(t, a, j, json_string_value(al)))
                return false;
        }
    }
    json_t *format = json_object_get(c, "format");
    return !format ||
           (json_is_string(format) && table_set_format(t, a, j, json_string_value(format)));
}

pm_code table_columns_parse(pm_table *t, pm_arena *a, const char *text, pm_err *err)
{
    json_error_t je;
    json_t *arr = json_loads(text, JSON_REJECT_DUPLICATES, &je);
    if (!json_is_array(arr)) {
        json_decref(arr);
        return pm_err_set(err, PM_ERR_DB, "catalog schema of %s is unreadable: %s", t->name,
                          arr ? "not an array" : je.text);
    }
    size_t i;
    json_t *c;
    json_array_foreach(arr, i, c)
    {
        if (!parse_entry(t, a, c)) {
            json_decref(arr);
            return pm_err_set(err, PM_ERR_DB, "catalog schema of %s has a bad column entry %zu",
                              t->name, i);
        }
    }
    json_decref(arr);
    return PM_OK;
}
