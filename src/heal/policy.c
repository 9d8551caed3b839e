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
 * the mode. The configured overrides (policy_class_with) sit between the
 * two and keep the same rule: they are consulted only for an op that is
 * not inherently forbidden. */
#include "heal/policy.h"

#include <jansson.h>
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

static const char *const on_incident_names[] = {
    [ON_INCIDENT_CONTINUE] = "continue",
    [ON_INCIDENT_HALT] = "halt",
};

/* The index of name in names, or -1. */
static int lookup(const char *name, const char *const *names, unsigned n)
{
    if (!name)
        return -1;
    for (unsigned i = 0; i < n; i++)
        if (strcmp(name, names[i]) == 0)
            return (int)i;
    return -1;
}

bool policy_class_parse(const char *name, pm_op_class *out)
{
    int i = lookup(name, class_names, sizeof class_names / sizeof class_names[0]);
    if (i < 0)
        return false;
    if (out)
        *out = (pm_op_class)i;
    return true;
}

const char *policy_mode_name(pm_policy_mode m)
{
    return (unsigned)m <= MODE_FROZEN ? mode_names[m] : "unknown";
}

bool on_incident_parse(const char *name, pm_on_incident *out)
{
    int i = lookup(name, on_incident_names, sizeof on_incident_names / sizeof on_incident_names[0]);
    if (i < 0)
        return false;
    if (out)
        *out = (pm_on_incident)i;
    return true;
}

const char *on_incident_name(pm_on_incident v)
{
    return (unsigned)v <= ON_INCIDENT_HALT ? on_incident_names[v] : "unknown";
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
        /* A NOT NULL pipemend inferred from a sample is its own guess, and
         * a row without the value proves it wrong: relaxing it loses
         * nothing. One a person declared holds until a person says. */
        if (!col || col->nullable)
            return CLASS_FORBIDDEN;
        return col->guessed ? CLASS_AUTO : CLASS_REVIEW;
    case OP_ADD_FIELD_MAPPING:
    case OP_ADD_COERCION:
        return col ? CLASS_REVIEW : CLASS_FORBIDDEN;
    case OP_RETYPE_COLUMN:
        /* Every value converts exactly, but the column's type class
         * changes (and PostgreSQL rewrites the table): a person's call. */
        return col && type_valid(op->type) && op_retype_allowed(col->type, op->type)
                   ? CLASS_REVIEW
                   : CLASS_FORBIDDEN;
    case OP_MERGE_COLUMN: {
        /* Moves values and drops a column: always a person's decision,
         * and only where every moved value fits the column as it is. */
        int from = t && op->field ? table_find(t, op->field, strlen(op->field)) : -1;
        if (!col || from < 0 || &t->cols[from] == col)
            return CLASS_FORBIDDEN;
        pm_widen_class w = type_widen_class(t->cols[from].type, col->type);
        return w == PM_WIDEN_SAME || w == PM_WIDEN_AUTO ? CLASS_REVIEW : CLASS_FORBIDDEN;
    }
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

void policy_merge(pm_policy *a, const pm_policy *b)
{
    if (b->mode > a->mode)
        a->mode = b->mode;
    if (b->on_incident == ON_INCIDENT_HALT)
        a->on_incident = ON_INCIDENT_HALT;
    for (int k = 0; k < OP_KIND_COUNT; k++) {
        signed char x = a->override[k], y = b->override[k];
        /* -1 (the inherent class) is at least auto: max(-1, auto) = -1 */
        if (x == CLASS_AUTO && y == -1)
            a->override[k] = -1;
        else if (y > x && !(y == CLASS_AUTO && x == -1))
            a->override[k] = y;
    }
    if (policy_auto_columns(b) < policy_auto_columns(a))
        a->auto_columns_per_day = policy_auto_columns(b);
}

int policy_auto_columns(const pm_policy *p)
{
    if (!p || p->auto_columns_per_day <= 0)
        return POLICY_AUTO_COLUMNS;
    return p->auto_columns_per_day;
}

void policy_default(pm_policy *p)
{
    p->mode = MODE_AUTO;
    p->on_incident = ON_INCIDENT_CONTINUE;
    for (int k = 0; k < OP_KIND_COUNT; k++)
        p->override[k] = -1;
    p->auto_columns_per_day = 0;
}

pm_op_class policy_class_with(const pm_policy *p, const pm_op *op, const pm_table *t)
{
    pm_op_class c = policy_class(op, t);
    /* The inherent forbidden is checked first, so that no override is even
     * read for an op that must not happen (an unknown kind included). */
    if (c == CLASS_FORBIDDEN || !p)
        return c;
    int o = p->override[op->kind];
    if (o == -1)
        return c;
    /* A merge drops a column: no override or promotion lets it happen
     * without a person. */
    if (op->kind == OP_MERGE_COLUMN && o == CLASS_AUTO)
        return CLASS_REVIEW;
    /* A value the config cannot write is corruption, not permission. */
    return o >= CLASS_AUTO && o <= CLASS_FORBIDDEN ? (pm_op_class)o : CLASS_FORBIDDEN;
}

pm_decision policy_decide_op(const pm_policy *p, const pm_op *op, const pm_table *t)
{
    return policy_decide(p ? p->mode : MODE_AUTO, policy_class_with(p, op, t));
}

char *policy_to_json(const pm_policy *p, const char *source)
{
    json_t *over = json_object();
    for (int k = 0; k < OP_KIND_COUNT; k++)
        if (p->override[k] >= 0)
            json_object_set_new(over, op_kind_name((pm_op_kind)k),
                                json_string(policy_class_name((pm_op_class)p->override[k])));
    json_t *j = json_pack("{s:s, s:s, s:o, s:s}", "mode", policy_mode_name(p->mode), "on_incident",
                          on_incident_name(p->on_incident), "overrides", over, "source",
                          source ? source : "unknown");
    if (j && policy_auto_columns(p) != POLICY_AUTO_COLUMNS)
        json_object_set_new(j, "auto_columns_per_day", json_integer(policy_auto_columns(p)));
    char *text = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(j);
    return text;
}

bool policy_from_json(const char *text, pm_policy *out)
{
    json_t *j = text ? json_loads(text, 0, NULL) : NULL;
    pm_policy p;
    policy_default(&p);
    bool ok = json_is_object(j) &&
              policy_mode_parse(json_string_value(json_object_get(j, "mode")), &p.mode);
    const char *oi = json_string_value(json_object_get(j, "on_incident"));
    if (ok && oi)
        ok = on_incident_parse(oi, &p.on_incident);
    json_t *budget = json_object_get(j, "auto_columns_per_day");
    if (ok && budget) {
        json_int_t b = json_integer_value(budget);
        ok = json_is_integer(budget) && b >= 1 && b <= POLICY_AUTO_COLUMNS_MAX;
        p.auto_columns_per_day = ok ? (int)b : 0;
    }
    const char *kind;
    json_t *v;
    json_object_foreach(ok ? json_object_get(j, "overrides") : NULL, kind, v)
    {
        pm_op_kind k;
        pm_op_class c;
        if (!op_kind_parse(kind, &k) || !policy_class_parse(json_string_value(v), &c)) {
            ok = false;
            break;
        }
        p.override[k] = (signed char)c;
    }
    json_decref(j);
    if (ok)
        *out = p;
    return ok;
}
