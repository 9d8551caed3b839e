/* textfmt.c - the shapes of dated text and their drift (see textfmt.h). */
#include "drift/textfmt.h"

#include <stdio.h>
#include <string.h>

#include "core/value.h"

/* Longer text is no date a feed writes (RFC 2822 with a weekday is ~31). */
#define SHAPE_MAX_LEN 48

static bool is_alnum(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

textfmt_shape textfmt_shape_of(const char *s, size_t n)
{
    textfmt_shape none = {PM_T_UNKNOWN, NULL};
    if (n < 6 || n > SHAPE_MAX_LEN || !is_alnum(s[0]))
        return none;
    pm_value v = {.kind = PM_V_STRING, .s = s, .len = n};
    pm_type t = type_infer(&v);
    if (t.kind == PM_T_DATE || t.kind == PM_T_TIMESTAMP || t.kind == PM_T_TIMESTAMPTZ)
        return (textfmt_shape){t.kind, NULL};
    const char *fmt = type_detect_datetime_format(s, n);
    if (!fmt)
        return none;
    static const pm_tkind kinds[] = {PM_T_DATE, PM_T_TIMESTAMP, PM_T_TIMESTAMPTZ};
    char out[TYPE_DATETIME_MAX];
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (type_coerce_datetime(s, n, fmt, (pm_type){kinds[i], 0}, out, sizeof out))
            return (textfmt_shape){kinds[i], fmt};
    return none;
}

static bool same_shape(textfmt_shape a, textfmt_shape b)
{
    if (a.kind != b.kind)
        return false;
    if (!a.format || !b.format)
        return a.format == b.format;
    return strcmp(a.format, b.format) == 0;
}

const char *textfmt_describe(textfmt_shape sh, char *buf)
{
    const char *what = sh.kind == PM_T_DATE        ? "date"
                       : sh.kind == PM_T_TIMESTAMP ? "timestamp"
                                                   : "timestamp with a zone";
    if (sh.kind == PM_T_UNKNOWN)
        snprintf(buf, 64, "no date layout");
    else if (!sh.format)
        snprintf(buf, 64, "ISO 8601 %s", what);
    else
        snprintf(buf, 64, "%s", sh.format);
    return buf;
}

bool textfmt_retype(textfmt_shape was, textfmt_shape now, pm_type *to, const char **format)
{
    if (was.kind == PM_T_UNKNOWN || now.kind == PM_T_UNKNOWN || (was.format && now.format))
        return false;
    /* a zone on one side only: a timestamptz would need one for the other
     * side's values, a timestamp would drop it */
    if ((was.kind == PM_T_TIMESTAMPTZ) != (now.kind == PM_T_TIMESTAMPTZ))
        return false;
    /* a date fits a timestamp column (midnight), so the wider kind holds both */
    *to = (pm_type){was.kind > now.kind ? was.kind : now.kind, 0};
    *format = was.format ? was.format : now.format;
    return true;
}

typedef enum col_state { COL_SHAPED, COL_DONE } col_state;

typedef struct tf_col {
    const char *name;
    col_state state;
    textfmt_shape shape;
    const char *example; /* a value of that shape */
} tf_col;

struct textfmt {
    pm_arena *arena;
    tf_col *cols;
    size_t n, cap;
};

textfmt *textfmt_new(pm_arena *run_arena)
{
    textfmt *tf = pm_arena_calloc(run_arena, sizeof *tf);
    tf->arena = run_arena;
    return tf;
}

static tf_col *find(textfmt *tf, const char *column)
{
    for (size_t i = 0; i < tf->n; i++)
        if (strcmp(tf->cols[i].name, column) == 0)
            return &tf->cols[i];
    return NULL;
}

static tf_col *add(textfmt *tf, const char *column)
{
    if (tf->n == tf->cap) {
        tf->cap = tf->cap ? tf->cap * 2 : 16;
        tf_col *grown = pm_arena_alloc(tf->arena, tf->cap * sizeof *grown);
        if (tf->n)
            memcpy(grown, tf->cols, tf->n * sizeof *grown);
        tf->cols = grown;
    }
    tf_col *c = &tf->cols[tf->n++];
    *c = (tf_col){.name = pm_arena_strdup(tf->arena, column), .state = COL_DONE};
    return c;
}

bool textfmt_following(textfmt *tf, const char *column)
{
    tf_col *c = find(tf, column);
    return !c || c->state == COL_SHAPED;
}

textfmt_verdict textfmt_observe(textfmt *tf, const char *column, textfmt_shape sh,
                                textfmt_shape *was, const char **example)
{
    tf_col *c = find(tf, column);
    if (!c)
        return TEXTFMT_SEED;
    if (c->state != COL_SHAPED || sh.kind == PM_T_UNKNOWN || same_shape(c->shape, sh))
        return TEXTFMT_SAME;
    *was = c->shape;
    *example = c->example;
    c->state = COL_DONE; /* one finding per column per run */
    return TEXTFMT_CHANGED;
}

void textfmt_seed(textfmt *tf, const char *column, const char *const *values, size_t n,
                  const char *first, textfmt_shape first_shape)
{
    tf_col *c = find(tf, column);
    if (!c)
        c = add(tf, column);
    c->state = COL_SHAPED;
    c->shape = first_shape;
    c->example = pm_arena_strdup(tf->arena, first);
    for (size_t i = 0; i < n; i++) {
        textfmt_shape sh = textfmt_shape_of(values[i], strlen(values[i]));
        if (i == 0) {
            c->shape = sh;
            c->example = pm_arena_strdup(tf->arena, values[i]);
        }
        if (sh.kind == PM_T_UNKNOWN || !same_shape(sh, c->shape)) {
            c->state = COL_DONE; /* free text, or two layouts already */
            return;
        }
    }
}
