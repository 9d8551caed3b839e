/* policy.c - the class of an op (auto, review, forbidden) and what a
 * pipeline's mode does with each class.
 *
 * The class is a property of the op against the live table, not of who
 * proposed it: the same add_column is auto from the rule planner and from
 * an agent. An op that would change nothing (widen to the same type, drop
 * a NOT NULL that is not there, add a column that exists) is forbidden
 * rather than auto, so that no proposal "applies" a no-op and records a
 * schema version that differs from the last one in nothing.
 *
 * policy_decide is the only place a class turns into an action, and its
 * first line is the rule DESIGN.md states: forbidden is rejected whatever
 * the mode. */
#include "heal/policy.h"

#include <string.h>

/* PostgreSQL's limit for varchar(n); type.h's parser has the same one. */

static const char *const class_names[] = {
    [CLASS_AUTO] = "auto",
    [CLASS_REVIEW] = "review",
    [CLASS_FORBIDDEN] = "forbidden",
};

static const char *const mode_names[] = {
    [MODE_AUTO] = "auto",
    [MODE_REVIEW] = "review",
    [MODE_FROZEN] = "frozen",
};

const char *policy_class_name(pm_op_class c)
{
    return (unsigned)c <= CLASS_FORBIDDEN ? class_names[c] : "unknown";
}

bool policy_mode_parse(const char *name, pm_policy_mode *out)
{
    if (!name)
        return false;
    for (unsigned m = 0; m < sizeof mode_names / sizeof mode_names[0]; m++) {
        if (strcmp(name, mode_names[m]) == 0) {
            if (out)
                *out = (pm_policy_mode)m;
            return true;
        }
    }
    return false;
}

/* The live column op names, or NULL. */
static const pm_column *live_column(const pm_op *op, const pm_table *t)
{
    if (!t || !op->column)
        return NULL;
    int c = table_find(t, op->column, strlen(op->column));
    return c < 0 ? NULL : &t->cols[c];
}

pm_op_class policy_class(const pm_op *op, const pm_table *t)
{
    if (!op || !op->table)
        return CLASS_FORBIDDEN;
    /* A table passed for another table's op is a caller's mistake; no
     * class can be derived from the wrong schema. */
    if (t && t->name && strcmp(t->name, op->table) != 0)
        return CLASS_FORBIDDEN;

    const pm_column *col = live_column(op, t);
    switch (op->kind) {
    case OP_CREATE_TABLE:
        return t ? CLASS_FORBIDDEN : CLASS_REVIEW;
    case OP_ADD_COLUMN:
        if (!t || !op->column || col || !type_valid(op->type))
            return CLASS_FORBIDDEN;
        /* A json column holds whatever arrives; someone should agree to
         * giving up a shape (DESIGN.md: json columns are reviewable). */
        return op->type.kind == PM_T_JSON ? CLASS_REVIEW : CLASS_AUTO;
    case OP_WIDEN_COLUMN:
        if (!col || !type_valid(op->type))
            return CLASS_FORBIDDEN;
        switch (type_widen_class(col->type, op->type)) {
        case PM_WIDEN_AUTO:
            return CLASS_AUTO;
        case PM_WIDEN_REVIEW:
            return CLASS_REVIEW;
        default:
            return CLASS_FORBIDDEN; /* narrowing, no path, or the same type */
        }
    case OP_DROP_NOT_NULL:
        return col && !col->nullable ? CLASS_REVIEW : CLASS_FORBIDDEN;
    case OP_ADD_FIELD_MAPPING:
    case OP_ADD_COERCION:
        return col ? CLASS_REVIEW : CLASS_FORBIDDEN;
    default:
        return CLASS_FORBIDDEN;
    }
}

pm_decision policy_decide(pm_policy_mode mode, pm_op_class c)
{
    if (c != CLASS_AUTO && c != CLASS_REVIEW)
        return DECIDE_REJECT; /* forbidden, or a class this code does not know */
    switch (mode) {
    case MODE_AUTO:
        return c == CLASS_AUTO ? DECIDE_APPLY : DECIDE_HOLD;
    case MODE_REVIEW:
        /* Every op waits for a human. */
        return DECIDE_HOLD;
    case MODE_FROZEN:
        /* "Quarantine and propose only": the proposal is recorded and waits
         * like any other, but nothing applies by itself. */
        return DECIDE_HOLD;
    default:
        /* An unknown mode must not be read as permission. */
        return DECIDE_HOLD;
    }
}
