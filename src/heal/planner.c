/* planner.c - the rules of planner.h. */
#include "heal/planner.h"

#include <string.h>

#include "schema/colname.h"
#include "schema/confusable.h"

static pm_op *find(pm_plan *p, pm_op_kind k, const char *column)
{
    for (size_t i = 0; i < p->n; i++)
        if (p->ops[i].kind == k && strcmp(p->ops[i].column, column) == 0)
            return &p->ops[i];
    return NULL;
}

static pm_op *push(pm_plan *p, pm_arena *a)
{
    if (p->n == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 8;
        pm_op *ops = pm_arena_alloc(a, p->cap * sizeof *ops);
        const char **why = pm_arena_alloc(a, p->cap * sizeof *why);
        const char **skel = pm_arena_alloc(a, p->cap * sizeof *skel);
        if (p->n) {
            memcpy(ops, p->ops, p->n * sizeof *ops);
            memcpy(why, p->why, p->n * sizeof *why);
            memcpy(skel, p->skel, p->n * sizeof *skel);
        }
        p->ops = ops;
        p->why = why;
        p->skel = skel;
    }
    memset(&p->ops[p->n], 0, sizeof p->ops[p->n]);
    p->why[p->n] = NULL;
    p->skel[p->n] = NULL;
    return &p->ops[p->n++];
}

/* A rename, or a field that looks like the column (drift.c): the reason
 * says which, and for a look-alike shows the characters that differ. */
static const char *rename_why(const pm_finding *f, pm_arena *a)
{
    char norm[COLNAME_MAX + 1], note[96];
    colname_normalise(f->field, strlen(f->field), norm);
    if (!confusable_pair(norm, f->column))
        return pm_arena_sprintf(a, "%s may have been renamed to %s", f->column, f->field);
    return pm_arena_sprintf(a,
                            "field %s looks like column %s but is spelt with other "
                            "characters%s; map it to %s if it is the same field, else fix the "
                            "producer",
                            f->field, f->column, confusable_note(norm, note, sizeof note),
                            f->column);
}

static void consider(pm_plan *p, const pm_table *t, const pm_finding *f, pm_arena *a)
{
    if (!f->column)
        return;
    char tn[TYPE_NAME_MAX];
    pm_op *op;
    switch (f->kind) {
    case FINDING_NEW_FIELD:
        if ((op = find(p, OP_ADD_COLUMN, f->column))) {
            op->type = type_join(op->type, f->proposed);
            return;
        }
        /* A new column that looks like one planned already is left out:
         * the guard would refuse the two together. Its rows stay in
         * quarantine; once the first column is there, the field is a
         * look-alike of it (drift's rename finding), for a person. */
        char sk[CONFUSABLE_SKELETON_MAX];
        confusable_skeleton(f->column, sk, sizeof sk);
        for (size_t i = 0; i < p->n; i++)
            if (p->skel[i] && strcmp(p->skel[i], sk) == 0)
                return;
        op = push(p, a);
        *op = (pm_op){
            .kind = OP_ADD_COLUMN, .table = t->name, .column = f->column, .type = f->proposed};
        p->why[p->n - 1] = pm_arena_sprintf(a, "field %s is new in the feed", f->field);
        p->skel[p->n - 1] = pm_arena_strdup(a, sk);
        return;
    case FINDING_WIDEN:
        if ((op = find(p, OP_WIDEN_COLUMN, f->column))) {
            op->type = type_join(op->type, f->proposed);
            return;
        }
        op = push(p, a);
        *op = (pm_op){
            .kind = OP_WIDEN_COLUMN, .table = t->name, .column = f->column, .type = f->proposed};
        p->why[p->n - 1] = pm_arena_sprintf(a, "values of %s no longer fit %s", f->column,
                                            type_name(f->expected, tn));
        return;
    case FINDING_NULL_VIOLATION:
        if (find(p, OP_DROP_NOT_NULL, f->column))
            return;
        op = push(p, a);
        *op = (pm_op){.kind = OP_DROP_NOT_NULL, .table = t->name, .column = f->column};
        p->why[p->n - 1] = pm_arena_sprintf(a, "%s arrives null or missing", f->column);
        return;
    case FINDING_RENAME:
        if (find(p, OP_ADD_FIELD_MAPPING, f->column))
            return;
        op = push(p, a);
        *op = (pm_op){
            .kind = OP_ADD_FIELD_MAPPING, .table = t->name, .column = f->column, .field = f->field};
        p->why[p->n - 1] = rename_why(f, a);
        return;
    case FINDING_FORMAT:
        if (find(p, OP_ADD_COERCION, f->column))
            return;
        op = push(p, a);
        *op = (pm_op){
            .kind = OP_ADD_COERCION, .table = t->name, .column = f->column, .format = f->format};
        p->why[p->n - 1] = pm_arena_sprintf(a, "%s arrives as %s", f->column, f->format);
        return;
    case FINDING_TYPE_CONFLICT:
        /* drift proposes a type only when a retype loses nothing */
        if (f->proposed.kind != PM_T_TEXT || find(p, OP_RETYPE_COLUMN, f->column))
            return;
        op = push(p, a);
        *op = (pm_op){
            .kind = OP_RETYPE_COLUMN, .table = t->name, .column = f->column, .type = f->proposed};
        p->why[p->n - 1] =
            pm_arena_sprintf(a, "values of %s no longer fit %s (\"%s\")", f->column,
                             type_name(f->expected, tn), f->observed ? f->observed : "?");
        return;
    default:
        return; /* other type conflicts, contract breaks, malformed rows, values of
                 * dropped columns: for a person */
    }
}

void planner_consider(pm_plan *p, const pm_table *t, const pm_finding *f, size_t n, pm_arena *a)
{
    for (size_t i = 0; i < n; i++) {
        bool renamed = false;
        for (size_t j = 0; f[i].kind == FINDING_NEW_FIELD && j < n; j++)
            renamed = renamed || (f[j].kind == FINDING_RENAME && f[j].field && f[i].field &&
                                  strcmp(f[j].field, f[i].field) == 0);
        if (!renamed)
            consider(p, t, &f[i], a);
    }
}
