/* planner.c - the rules of planner.h. */
#include "heal/planner.h"

#include <string.h>

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
        if (p->n) {
            memcpy(ops, p->ops, p->n * sizeof *ops);
            memcpy(why, p->why, p->n * sizeof *why);
        }
        p->ops = ops;
        p->why = why;
    }
    memset(&p->ops[p->n], 0, sizeof p->ops[p->n]);
    p->why[p->n] = NULL;
    return &p->ops[p->n++];
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
        op = push(p, a);
        *op = (pm_op){
            .kind = OP_ADD_COLUMN, .table = t->name, .column = f->column, .type = f->proposed};
        p->why[p->n - 1] = pm_arena_sprintf(a, "field %s is new in the feed", f->field);
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
        p->why[p->n - 1] =
            pm_arena_sprintf(a, "%s may have been renamed to %s", f->column, f->field);
        return;
    case FINDING_FORMAT:
        if (find(p, OP_ADD_COERCION, f->column))
            return;
        op = push(p, a);
        *op = (pm_op){
            .kind = OP_ADD_COERCION, .table = t->name, .column = f->column, .format = f->format};
        p->why[p->n - 1] = pm_arena_sprintf(a, "%s arrives as %s", f->column, f->format);
        return;
    default:
        return; /* type conflicts, contract breaks, malformed rows, values of
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
