/* test_policy.c - how ops are classed and what each mode does with each
 * class, as tables a reviewer can read against DESIGN.md; and the names
 * and one-line descriptions of ops (op.h) that proposals and the audit log
 * show. The first rule checked is the one DESIGN.md states outright: no
 * mode turns a forbidden op into anything but a rejection. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "schema/op.h"
#include "heal/policy.h"

static pm_arena *arena;
static pm_table *orders;

static pm_type T(pm_tkind k)
{
    return (pm_type){.kind = k, .len = 0};
}

static pm_type VC(uint32_t n)
{
    return (pm_type){.kind = PM_T_VARCHAR, .len = n};
}

/* orders(id int64 not null, email varchar(64) not null, amount float64,
 *        qty int32, created_at timestamp, note text) */
static int setup(void **state)
{
    arena = pm_arena_new(0);
    orders = table_new(arena, "orders");
    table_add(orders, arena, "id", T(PM_T_INT64), false);
    table_add(orders, arena, "email", VC(64), false);
    table_add(orders, arena, "amount", T(PM_T_FLOAT64), true);
    table_add(orders, arena, "qty", T(PM_T_INT32), true);
    table_add(orders, arena, "created_at", T(PM_T_TIMESTAMP), true);
    table_add(orders, arena, "note", T(PM_T_TEXT), true);
    return 0;
}

static int teardown(void **state)
{
    pm_arena_free(arena);
    return 0;
}

/* ---- decisions ---------------------------------------------------------- */

static void test_forbidden_is_always_rejected(void **state)
{
    /* every mode there is, and values no mode has */
    const int modes[] = {MODE_AUTO, MODE_REVIEW, MODE_FROZEN, -1, 3, 100};
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        pm_decision d = policy_decide((pm_policy_mode)modes[i], CLASS_FORBIDDEN);
        if (d != DECIDE_REJECT)
            fail_msg("mode %d turned a forbidden op into %d", modes[i], (int)d);
        /* a class this build does not know is treated as forbidden */
        assert_int_equal(policy_decide((pm_policy_mode)modes[i], (pm_op_class)7), DECIDE_REJECT);
        assert_int_equal(policy_decide((pm_policy_mode)modes[i], (pm_op_class)-1), DECIDE_REJECT);
    }
}

static void test_decision_table(void **state)
{
    static const struct {
        pm_policy_mode mode;
        pm_op_class c;
        pm_decision want;
    } table[] = {
        {MODE_AUTO, CLASS_AUTO, DECIDE_APPLY},
        {MODE_AUTO, CLASS_REVIEW, DECIDE_HOLD},
        {MODE_AUTO, CLASS_FORBIDDEN, DECIDE_REJECT},
        {MODE_REVIEW, CLASS_AUTO, DECIDE_HOLD},
        {MODE_REVIEW, CLASS_REVIEW, DECIDE_HOLD},
        {MODE_REVIEW, CLASS_FORBIDDEN, DECIDE_REJECT},
        {MODE_FROZEN, CLASS_AUTO, DECIDE_HOLD},
        {MODE_FROZEN, CLASS_REVIEW, DECIDE_HOLD},
        {MODE_FROZEN, CLASS_FORBIDDEN, DECIDE_REJECT},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        pm_decision d = policy_decide(table[i].mode, table[i].c);
        if (d != table[i].want)
            fail_msg("mode %d, class %s: decision %d, expected %d", (int)table[i].mode,
                     policy_class_name(table[i].c), (int)d, (int)table[i].want);
    }
    /* Only auto ops under the auto mode apply by themselves; an unknown
     * mode is no permission. */
    for (int m = -1; m <= 4; m++)
        for (int c = CLASS_AUTO; c <= CLASS_FORBIDDEN; c++)
            if (policy_decide((pm_policy_mode)m, (pm_op_class)c) == DECIDE_APPLY)
                assert_true(m == MODE_AUTO && c == CLASS_AUTO);
    assert_int_equal(policy_decide((pm_policy_mode)9, CLASS_AUTO), DECIDE_HOLD);
}

static void test_names(void **state)
{
    pm_policy_mode m = MODE_AUTO;
    assert_true(policy_mode_parse("review", &m));
    assert_int_equal(m, MODE_REVIEW);
    assert_true(policy_mode_parse("frozen", &m));
    assert_int_equal(m, MODE_FROZEN);
    assert_true(policy_mode_parse("auto", &m));
    assert_int_equal(m, MODE_AUTO);
    static const char *const bad[] = {"AUTO", "", "auto ", "manual", "forbidden"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(policy_mode_parse(bad[i], &m));
    assert_false(policy_mode_parse(NULL, &m));
    assert_int_equal(m, MODE_AUTO); /* untouched by a failed parse */

    assert_string_equal(policy_class_name(CLASS_AUTO), "auto");
    assert_string_equal(policy_class_name(CLASS_REVIEW), "review");
    assert_string_equal(policy_class_name(CLASS_FORBIDDEN), "forbidden");
    assert_string_equal(policy_class_name((pm_op_class)42), "unknown");

    static const char *const classes[] = {"auto", "review", "forbidden"};
    for (int c = CLASS_AUTO; c <= CLASS_FORBIDDEN; c++) {
        pm_op_class back = (pm_op_class)9;
        assert_true(policy_class_parse(classes[c], &back));
        assert_int_equal(back, c);
    }
    pm_op_class cl = CLASS_REVIEW;
    static const char *const bad_classes[] = {"frozen", "Auto", "", "forbid", "forbidden "};
    for (size_t i = 0; i < sizeof bad_classes / sizeof bad_classes[0]; i++)
        assert_false(policy_class_parse(bad_classes[i], &cl));
    assert_false(policy_class_parse(NULL, &cl));
    assert_int_equal(cl, CLASS_REVIEW);

    static const char *const modes[] = {"auto", "review", "frozen"};
    for (int i = MODE_AUTO; i <= MODE_FROZEN; i++) {
        assert_string_equal(policy_mode_name((pm_policy_mode)i), modes[i]);
        assert_true(policy_mode_parse(policy_mode_name((pm_policy_mode)i), &m));
        assert_int_equal(m, i);
    }
    assert_string_equal(policy_mode_name((pm_policy_mode)3), "unknown");
    assert_string_equal(policy_mode_name((pm_policy_mode)-1), "unknown");

    pm_on_incident oi = ON_INCIDENT_HALT;
    assert_true(on_incident_parse("continue", &oi));
    assert_int_equal(oi, ON_INCIDENT_CONTINUE);
    assert_true(on_incident_parse("halt", &oi));
    assert_int_equal(oi, ON_INCIDENT_HALT);
    static const char *const bad_oi[] = {"stop", "Halt", "", "continue ", "auto"};
    for (size_t i = 0; i < sizeof bad_oi / sizeof bad_oi[0]; i++)
        assert_false(on_incident_parse(bad_oi[i], &oi));
    assert_false(on_incident_parse(NULL, &oi));
    assert_int_equal(oi, ON_INCIDENT_HALT);
    assert_string_equal(on_incident_name(ON_INCIDENT_CONTINUE), "continue");
    assert_string_equal(on_incident_name(ON_INCIDENT_HALT), "halt");
    assert_string_equal(on_incident_name((pm_on_incident)2), "unknown");
}

/* ---- classes ------------------------------------------------------------ */

static pm_op add(const char *col, pm_type t)
{
    return (pm_op){.kind = OP_ADD_COLUMN, .table = "orders", .column = col, .type = t};
}

static pm_op widen(const char *col, pm_type t)
{
    return (pm_op){.kind = OP_WIDEN_COLUMN, .table = "orders", .column = col, .type = t};
}

static pm_op dnn(const char *col)
{
    return (pm_op){.kind = OP_DROP_NOT_NULL, .table = "orders", .column = col};
}

static void test_class_table(void **state)
{
    const struct {
        const char *what;
        pm_op op;
        pm_op_class want;
    } table[] = {
        {"add nullable varchar", add("coupon", VC(16)), CLASS_AUTO},
        {"add int64", add("customer_id", T(PM_T_INT64)), CLASS_AUTO},
        {"add timestamptz", add("paid_at", T(PM_T_TIMESTAMPTZ)), CLASS_AUTO},
        {"add json is reviewed", add("tags", T(PM_T_JSON)), CLASS_REVIEW},
        {"add an existing column", add("email", T(PM_T_TEXT)), CLASS_FORBIDDEN},
        {"add with no type", add("x", T(PM_T_UNKNOWN)), CLASS_FORBIDDEN},
        {"add varchar(0)", add("x", VC(0)), CLASS_FORBIDDEN},
        {"add varchar beyond the limit", add("x", VC(10485761)), CLASS_FORBIDDEN},
        {"add a kind that does not exist", add("x", T((pm_tkind)99)), CLASS_FORBIDDEN},
        {"add with no column name", add(NULL, T(PM_T_TEXT)), CLASS_FORBIDDEN},

        {"int32 -> int64", widen("qty", T(PM_T_INT64)), CLASS_AUTO},
        {"int32 -> numeric", widen("qty", T(PM_T_NUMERIC)), CLASS_AUTO},
        {"int32 -> float64", widen("qty", T(PM_T_FLOAT64)), CLASS_AUTO},
        {"int32 -> text", widen("qty", T(PM_T_TEXT)), CLASS_REVIEW},
        {"int32 -> json", widen("qty", T(PM_T_JSON)), CLASS_REVIEW},
        {"int32 -> int16", widen("qty", T(PM_T_INT16)), CLASS_FORBIDDEN},
        {"int32 -> varchar(20)", widen("qty", VC(20)), CLASS_FORBIDDEN},
        {"int32 -> date", widen("qty", T(PM_T_DATE)), CLASS_FORBIDDEN},
        {"int64 -> float64", widen("id", T(PM_T_FLOAT64)), CLASS_REVIEW},
        {"int64 -> numeric", widen("id", T(PM_T_NUMERIC)), CLASS_AUTO},
        {"int64 -> int32", widen("id", T(PM_T_INT32)), CLASS_FORBIDDEN},
        {"varchar(64) -> varchar(128)", widen("email", VC(128)), CLASS_AUTO},
        {"varchar(64) -> text", widen("email", T(PM_T_TEXT)), CLASS_AUTO},
        {"varchar(64) -> varchar(64)", widen("email", VC(64)), CLASS_FORBIDDEN},
        {"varchar(64) -> varchar(32)", widen("email", VC(32)), CLASS_FORBIDDEN},
        {"varchar(64) -> invalid varchar", widen("email", VC(10485761)), CLASS_FORBIDDEN},
        {"float64 -> numeric", widen("amount", T(PM_T_NUMERIC)), CLASS_REVIEW},
        {"float64 -> int64", widen("amount", T(PM_T_INT64)), CLASS_FORBIDDEN},
        {"timestamp -> timestamptz", widen("created_at", T(PM_T_TIMESTAMPTZ)), CLASS_REVIEW},
        {"timestamp -> date", widen("created_at", T(PM_T_DATE)), CLASS_FORBIDDEN},
        {"timestamp -> timestamp", widen("created_at", T(PM_T_TIMESTAMP)), CLASS_FORBIDDEN},
        {"text -> json", widen("note", T(PM_T_JSON)), CLASS_REVIEW},
        {"text -> varchar(10)", widen("note", VC(10)), CLASS_FORBIDDEN},
        {"widen a missing column", widen("nope", T(PM_T_TEXT)), CLASS_FORBIDDEN},
        {"widen to unknown", widen("qty", T(PM_T_UNKNOWN)), CLASS_FORBIDDEN},

        {"drop not null on email", dnn("email"), CLASS_REVIEW},
        {"drop not null on id", dnn("id"), CLASS_REVIEW},
        {"drop not null on a nullable column", dnn("note"), CLASS_FORBIDDEN},
        {"drop not null on a missing column", dnn("nope"), CLASS_FORBIDDEN},

        {"map a field",
         {.kind = OP_ADD_FIELD_MAPPING,
          .table = "orders",
          .column = "email",
          .field = "customer_email"},
         CLASS_REVIEW},
        {"map to a missing column",
         {.kind = OP_ADD_FIELD_MAPPING,
          .table = "orders",
          .column = "mail",
          .field = "customer_email"},
         CLASS_FORBIDDEN},
        {"coerce a timestamp",
         {.kind = OP_ADD_COERCION, .table = "orders", .column = "created_at", .format = "%m/%d/%Y"},
         CLASS_REVIEW},
        {"coerce a missing column",
         {.kind = OP_ADD_COERCION, .table = "orders", .column = "shipped_at", .format = "%Y"},
         CLASS_FORBIDDEN},

        {"create a table that exists",
         {.kind = OP_CREATE_TABLE, .table = "orders"},
         CLASS_FORBIDDEN},
        {"a kind that does not exist",
         {.kind = OP_KIND_COUNT, .table = "orders", .column = "id"},
         CLASS_FORBIDDEN},
        {"no table named",
         {.kind = OP_DROP_NOT_NULL, .table = NULL, .column = "email"},
         CLASS_FORBIDDEN},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        pm_op_class c = policy_class(&table[i].op, orders);
        if (c != table[i].want)
            fail_msg("%s: class %s, expected %s", table[i].what, policy_class_name(c),
                     policy_class_name(table[i].want));
    }
}

static void test_class_without_table(void **state)
{
    pm_column cols[] = {{.name = "id", .type = {PM_T_INT64, 0}, .nullable = false}};
    pm_op create = {.kind = OP_CREATE_TABLE, .table = "events", .cols = cols, .ncols = 1};
    assert_int_equal(policy_class(&create, NULL), CLASS_REVIEW);
    /* nothing but create_table applies to a table that does not exist */
    pm_op a = add("coupon", VC(16));
    a.table = "events";
    assert_int_equal(policy_class(&a, NULL), CLASS_FORBIDDEN);
    pm_op d = dnn("email");
    assert_int_equal(policy_class(&d, NULL), CLASS_FORBIDDEN);
    /* the schema of another table says nothing about this op */
    pm_op w = widen("qty", T(PM_T_INT64));
    w.table = "events";
    assert_int_equal(policy_class(&w, orders), CLASS_FORBIDDEN);
    assert_int_equal(policy_class(NULL, orders), CLASS_FORBIDDEN);
}

/* The class of a widening is type.h's lattice, edge for edge. */
static void test_widen_follows_lattice(void **state)
{
    pm_type types[] = {T(PM_T_BOOL),
                       T(PM_T_INT16),
                       T(PM_T_INT32),
                       T(PM_T_INT64),
                       T(PM_T_FLOAT64),
                       T(PM_T_NUMERIC),
                       VC(16),
                       VC(64),
                       VC(200),
                       T(PM_T_TEXT),
                       T(PM_T_DATE),
                       T(PM_T_TIMESTAMP),
                       T(PM_T_TIMESTAMPTZ),
                       T(PM_T_JSON)};
    size_t n = sizeof types / sizeof types[0];
    for (size_t i = 0; i < n; i++) {
        pm_arena *a = pm_arena_new(0);
        pm_table *t = table_new(a, "orders");
        table_add(t, a, "c", types[i], true);
        for (size_t j = 0; j < n; j++) {
            pm_op op = widen("c", types[j]);
            pm_op_class c = policy_class(&op, t);
            pm_op_class want;
            switch (type_widen_class(types[i], types[j])) {
            case PM_WIDEN_AUTO:
                want = CLASS_AUTO;
                break;
            case PM_WIDEN_REVIEW:
                want = CLASS_REVIEW;
                break;
            default:
                want = CLASS_FORBIDDEN;
                break;
            }
            char f[TYPE_NAME_MAX], to[TYPE_NAME_MAX];
            if (c != want)
                fail_msg("%s -> %s: %s, expected %s", type_name(types[i], f),
                         type_name(types[j], to), policy_class_name(c), policy_class_name(want));
            for (int m = MODE_AUTO; m <= MODE_FROZEN; m++)
                if (want == CLASS_FORBIDDEN)
                    assert_int_equal(policy_decide((pm_policy_mode)m, c), DECIDE_REJECT);
        }
        pm_arena_free(a);
    }
}

/* ---- configured policies (overrides) ------------------------------------ */

static void test_policy_default(void **state)
{
    pm_policy p;
    memset(&p, 0x5a, sizeof p);
    policy_default(&p);
    assert_int_equal(p.mode, MODE_AUTO);
    assert_int_equal(p.on_incident, ON_INCIDENT_CONTINUE);
    for (int k = 0; k < OP_KIND_COUNT; k++)
        assert_int_equal(p.override[k], -1);

    /* The default policy classes and decides exactly as the inherent
     * class under auto does, and so does no policy at all. */
    pm_op ops[] = {add("coupon", VC(16)), add("tags", T(PM_T_JSON)), widen("qty", T(PM_T_TEXT)),
                   widen("qty", T(PM_T_INT16)), dnn("email")};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        pm_op_class c = policy_class(&ops[i], orders);
        assert_int_equal(policy_class_with(&p, &ops[i], orders), c);
        assert_int_equal(policy_class_with(NULL, &ops[i], orders), c);
        assert_int_equal(policy_decide_op(&p, &ops[i], orders), policy_decide(MODE_AUTO, c));
        assert_int_equal(policy_decide_op(NULL, &ops[i], orders), policy_decide(MODE_AUTO, c));
    }
}

static void test_overrides_change_the_class(void **state)
{
    pm_policy p;
    policy_default(&p);
    p.override[OP_ADD_COLUMN] = CLASS_REVIEW;
    p.override[OP_WIDEN_COLUMN] = CLASS_AUTO;
    p.override[OP_DROP_NOT_NULL] = CLASS_AUTO;
    p.override[OP_ADD_FIELD_MAPPING] = CLASS_AUTO;

    const struct {
        const char *what;
        pm_op op;
        pm_op_class inherent, with;
    } table[] = {
        {"add column: auto -> review", add("coupon", VC(16)), CLASS_AUTO, CLASS_REVIEW},
        {"add json: review stays review", add("tags", T(PM_T_JSON)), CLASS_REVIEW, CLASS_REVIEW},
        {"widen lossless: auto stays auto", widen("qty", T(PM_T_INT64)), CLASS_AUTO, CLASS_AUTO},
        {"widen to text: review -> auto", widen("qty", T(PM_T_TEXT)), CLASS_REVIEW, CLASS_AUTO},
        {"int64 -> float64: review -> auto", widen("id", T(PM_T_FLOAT64)), CLASS_REVIEW,
         CLASS_AUTO},
        {"drop not null: review -> auto", dnn("email"), CLASS_REVIEW, CLASS_AUTO},
        {"map a field: review -> auto",
         {.kind = OP_ADD_FIELD_MAPPING, .table = "orders", .column = "email", .field = "mail"},
         CLASS_REVIEW,
         CLASS_AUTO},
        {"coercion: no override, inherent",
         {.kind = OP_ADD_COERCION, .table = "orders", .column = "created_at", .format = "%Y"},
         CLASS_REVIEW,
         CLASS_REVIEW},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        assert_int_equal(policy_class(&table[i].op, orders), table[i].inherent);
        pm_op_class c = policy_class_with(&p, &table[i].op, orders);
        if (c != table[i].with)
            fail_msg("%s: class %s, expected %s", table[i].what, policy_class_name(c),
                     policy_class_name(table[i].with));
    }

    /* create_table is classed against no table. */
    pm_column cols[] = {{.name = "id", .type = {PM_T_INT64, 0}, .nullable = false}};
    pm_op create = {.kind = OP_CREATE_TABLE, .table = "events", .cols = cols, .ncols = 1};
    p.override[OP_CREATE_TABLE] = CLASS_AUTO;
    assert_int_equal(policy_class_with(&p, &create, NULL), CLASS_AUTO);
}

/* DESIGN.md: narrowing, dropping, truncating and renaming are forbidden,
 * and no configuration may say otherwise. */
static void test_forbidden_stays_forbidden(void **state)
{
    pm_op forbidden[] = {
        add("email", T(PM_T_TEXT)),  /* exists */
        add("x", T(PM_T_UNKNOWN)),   /* no type */
        widen("qty", T(PM_T_INT16)), /* narrowing */
        widen("email", VC(32)),      /* truncating */
        widen("created_at", T(PM_T_DATE)),
        widen("email", VC(64)),      /* a no-op */
        widen("nope", T(PM_T_TEXT)), /* no such column */
        dnn("note"),                 /* already nullable */
        {.kind = OP_ADD_FIELD_MAPPING, .table = "orders", .column = "mail", .field = "m"},
        {.kind = OP_ADD_COERCION, .table = "orders", .column = "shipped", .format = "%Y"},
        {.kind = OP_CREATE_TABLE, .table = "orders"}, /* exists */
        {.kind = OP_KIND_COUNT, .table = "orders", .column = "id"},
        {.kind = (pm_op_kind)-1, .table = "orders", .column = "id"},
        {.kind = OP_ADD_COLUMN, .table = "events", .column = "x", .type = {PM_T_TEXT, 0}},
    };
    for (int to = CLASS_AUTO; to <= CLASS_REVIEW; to++) {
        pm_policy p;
        policy_default(&p);
        for (int k = 0; k < OP_KIND_COUNT; k++)
            p.override[k] = (signed char)to;
        for (size_t i = 0; i < sizeof forbidden / sizeof forbidden[0]; i++) {
            assert_int_equal(policy_class(&forbidden[i], orders), CLASS_FORBIDDEN);
            for (int m = MODE_AUTO; m <= MODE_FROZEN; m++) {
                p.mode = (pm_policy_mode)m;
                pm_op_class c = policy_class_with(&p, &forbidden[i], orders);
                if (c != CLASS_FORBIDDEN)
                    fail_msg("op %zu: override %s made it %s", i,
                             policy_class_name((pm_op_class)to), policy_class_name(c));
                assert_int_equal(policy_decide_op(&p, &forbidden[i], orders), DECIDE_REJECT);
            }
        }
        assert_int_equal(policy_class_with(&p, NULL, orders), CLASS_FORBIDDEN);
        assert_int_equal(policy_decide_op(&p, NULL, orders), DECIDE_REJECT);
    }
}

static void test_override_to_forbidden(void **state)
{
    pm_column cols[] = {{.name = "id", .type = {PM_T_INT64, 0}, .nullable = false}};
    const struct {
        pm_op op;
        const pm_table *t;
    } ok[OP_KIND_COUNT] = {
        [OP_CREATE_TABLE] = {{.kind = OP_CREATE_TABLE, .table = "events", .cols = cols, .ncols = 1},
                             NULL},
        [OP_ADD_COLUMN] = {add("coupon", VC(16)), orders},
        [OP_WIDEN_COLUMN] = {widen("qty", T(PM_T_INT64)), orders},
        [OP_DROP_NOT_NULL] = {dnn("email"), orders},
        [OP_ADD_FIELD_MAPPING] =
            {{.kind = OP_ADD_FIELD_MAPPING, .table = "orders", .column = "email", .field = "mail"},
             orders},
        [OP_ADD_COERCION] =
            {{.kind = OP_ADD_COERCION, .table = "orders", .column = "created_at", .format = "%Y"},
             orders},
        [OP_RETYPE_COLUMN] =
            {{.kind = OP_RETYPE_COLUMN, .table = "orders", .column = "qty", .type = {PM_T_TEXT, 0}},
             orders},
        [OP_MERGE_COLUMN] =
            {{.kind = OP_MERGE_COLUMN, .table = "orders", .column = "amount", .field = "qty"},
             orders},
    };
    for (int k = 0; k < OP_KIND_COUNT; k++) {
        pm_policy p;
        policy_default(&p);
        assert_int_not_equal(policy_class_with(&p, &ok[k].op, ok[k].t), CLASS_FORBIDDEN);
        p.override[k] = CLASS_FORBIDDEN;
        for (int m = MODE_AUTO; m <= MODE_FROZEN; m++) {
            p.mode = (pm_policy_mode)m;
            assert_int_equal(policy_class_with(&p, &ok[k].op, ok[k].t), CLASS_FORBIDDEN);
            assert_int_equal(policy_decide_op(&p, &ok[k].op, ok[k].t), DECIDE_REJECT);
        }
        /* only that kind */
        for (int j = 0; j < OP_KIND_COUNT; j++)
            if (j != k)
                assert_int_not_equal(policy_class_with(&p, &ok[j].op, ok[j].t), CLASS_FORBIDDEN);
    }

    /* A value the config cannot write is read as forbidden, not as
     * "no override" and not as permission. */
    pm_policy p;
    policy_default(&p);
    pm_op a = add("coupon", VC(16));
    static const signed char junk[] = {-2, 3, 7, 127, -128};
    for (size_t i = 0; i < sizeof junk; i++) {
        p.override[OP_ADD_COLUMN] = junk[i];
        assert_int_equal(policy_class_with(&p, &a, orders), CLASS_FORBIDDEN);
        assert_int_equal(policy_decide_op(&p, &a, orders), DECIDE_REJECT);
    }
}

static void test_decide_op_per_mode(void **state)
{
    pm_op auto_op = add("coupon", VC(16));      /* inherently auto */
    pm_op review_op = dnn("email");             /* inherently review */
    pm_op bad_op = widen("qty", T(PM_T_INT16)); /* inherently forbidden */
    const struct {
        pm_policy_mode mode;
        int override_add, override_dnn; /* -1: none */
        pm_decision add, dnn, bad;
    } table[] = {
        {MODE_AUTO, -1, -1, DECIDE_APPLY, DECIDE_HOLD, DECIDE_REJECT},
        {MODE_REVIEW, -1, -1, DECIDE_HOLD, DECIDE_HOLD, DECIDE_REJECT},
        {MODE_FROZEN, -1, -1, DECIDE_HOLD, DECIDE_HOLD, DECIDE_REJECT},
        /* overrides change what auto does */
        {MODE_AUTO, CLASS_REVIEW, CLASS_AUTO, DECIDE_HOLD, DECIDE_APPLY, DECIDE_REJECT},
        {MODE_AUTO, CLASS_FORBIDDEN, CLASS_FORBIDDEN, DECIDE_REJECT, DECIDE_REJECT, DECIDE_REJECT},
        /* but review and frozen still hold every op that is not forbidden */
        {MODE_REVIEW, CLASS_REVIEW, CLASS_AUTO, DECIDE_HOLD, DECIDE_HOLD, DECIDE_REJECT},
        {MODE_FROZEN, CLASS_REVIEW, CLASS_AUTO, DECIDE_HOLD, DECIDE_HOLD, DECIDE_REJECT},
        {MODE_FROZEN, CLASS_FORBIDDEN, -1, DECIDE_REJECT, DECIDE_HOLD, DECIDE_REJECT},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        pm_policy p;
        policy_default(&p);
        p.mode = table[i].mode;
        /* on_incident is about the source's rows, never about ops */
        p.on_incident = i % 2 ? ON_INCIDENT_HALT : ON_INCIDENT_CONTINUE;
        p.override[OP_ADD_COLUMN] = (signed char)table[i].override_add;
        p.override[OP_DROP_NOT_NULL] = (signed char)table[i].override_dnn;
        /* every kind overridden to auto: still no lift for the forbidden op */
        p.override[OP_WIDEN_COLUMN] = CLASS_AUTO;
        pm_decision d[3] = {policy_decide_op(&p, &auto_op, orders),
                            policy_decide_op(&p, &review_op, orders),
                            policy_decide_op(&p, &bad_op, orders)};
        pm_decision want[3] = {table[i].add, table[i].dnn, table[i].bad};
        for (int j = 0; j < 3; j++)
            if (d[j] != want[j])
                fail_msg("row %zu (mode %s), op %d: decision %d, expected %d", i,
                         policy_mode_name(table[i].mode), j, (int)d[j], (int)want[j]);
    }
    /* An unknown mode holds, as policy_decide does. */
    pm_policy p;
    policy_default(&p);
    p.mode = (pm_policy_mode)9;
    assert_int_equal(policy_decide_op(&p, &auto_op, orders), DECIDE_HOLD);
}

/* ---- op names and descriptions ------------------------------------------ */

/* A merge moves values and drops a column: review where every value fits
 * the target as it is, forbidden otherwise, and never automatic. */
static void test_merge_class(void **state)
{
    pm_op ok = {.kind = OP_MERGE_COLUMN, .table = "orders", .column = "amount", .field = "qty"};
    assert_int_equal(policy_class(&ok, orders), CLASS_REVIEW);
    pm_op narrowing = {
        .kind = OP_MERGE_COLUMN, .table = "orders", .column = "qty", .field = "amount"};
    assert_int_equal(policy_class(&narrowing, orders), CLASS_FORBIDDEN);
    pm_op itself = {.kind = OP_MERGE_COLUMN, .table = "orders", .column = "qty", .field = "qty"};
    assert_int_equal(policy_class(&itself, orders), CLASS_FORBIDDEN);
    pm_op missing = {
        .kind = OP_MERGE_COLUMN, .table = "orders", .column = "amount", .field = "nope"};
    assert_int_equal(policy_class(&missing, orders), CLASS_FORBIDDEN);
    pm_policy p;
    policy_default(&p);
    p.override[OP_MERGE_COLUMN] = CLASS_AUTO;
    assert_int_equal(policy_class_with(&p, &ok, orders), CLASS_REVIEW);
    assert_int_equal(policy_decide_op(&p, &ok, orders), DECIDE_HOLD);
}

static void test_op_kind_names(void **state)
{
    static const char *const names[OP_KIND_COUNT] = {
        "create_table",      "add_column",   "widen_column",  "drop_not_null",
        "add_field_mapping", "add_coercion", "retype_column", "merge_column",
    };
    for (int k = 0; k < OP_KIND_COUNT; k++) {
        assert_string_equal(op_kind_name((pm_op_kind)k), names[k]);
        pm_op_kind back = OP_KIND_COUNT;
        assert_true(op_kind_parse(names[k], &back));
        assert_int_equal(back, k);
    }
    static const char *const bad[] = {"drop_table", "", "Create_table", "add_column ",
                                      "rename_column"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(op_kind_parse(bad[i], NULL));
    assert_false(op_kind_parse(NULL, NULL));
    assert_string_equal(op_kind_name(OP_KIND_COUNT), "unknown");
    assert_string_equal(op_kind_name((pm_op_kind)-1), "unknown");
}

static void test_op_describe(void **state)
{
    pm_column cols[] = {
        {.name = "id", .type = {PM_T_INT64, 0}, .nullable = false},
        {.name = "kind", .type = {PM_T_VARCHAR, 32}, .nullable = true},
    };
    const struct {
        pm_op op;
        const char *want;
    } cases[] = {
        {add("coupon", VC(16)), "add column coupon varchar(16) to orders"},
        {widen("qty", T(PM_T_INT64)), "widen orders.qty to int64"},
        {dnn("email"), "drop not null on orders.email"},
        {{.kind = OP_CREATE_TABLE, .table = "events", .cols = cols, .ncols = 2},
         "create table events (id int64 not null, kind varchar(32))"},
        {{.kind = OP_ADD_FIELD_MAPPING,
          .table = "orders",
          .column = "email",
          .field = "customer_email"},
         "map field \"customer_email\" to orders.email"},
        {{.kind = OP_ADD_COERCION,
          .table = "orders",
          .column = "created_at",
          .format = "%m/%d/%Y %H:%M"},
         "parse orders.created_at with format \"%m/%d/%Y %H:%M\""},
        {{.kind = OP_RETYPE_COLUMN, .table = "orders", .column = "qty", .type = {PM_T_TEXT, 0}},
         "retype orders.qty to text"},
        {{.kind = OP_RETYPE_COLUMN,
          .table = "orders",
          .column = "note",
          .type = {PM_T_DATE, 0},
          .format = "%m/%d/%Y"},
         "retype orders.note to date parsing ISO 8601 or format \"%m/%d/%Y\""},
        /* what a feed may hold stays on one line */
        {{.kind = OP_ADD_FIELD_MAPPING,
          .table = "orders",
          .column = "email",
          .field = "e\"mail\n\\x\x01\xFF"},
         "map field \"e\\\"mail\\n\\\\x\\x01\\xff\" to orders.email"},
        {{.kind = OP_ADD_FIELD_MAPPING,
          .table = "orders",
          .column = "note",
          .field = "Gr\xC3\xB6\xC3\x9F"
                   "e"},
         "map field \"Gr\xC3\xB6\xC3\x9F"
         "e\" to orders.note"},
        {add("gr\xC3\xB6\xC3\x9F"
             "e",
             T(PM_T_TEXT)),
         "add column gr\xC3\xB6\xC3\x9F"
         "e text to orders"},
        {add("a b", T(PM_T_TEXT)), "add column \"a b\" text to orders"},
        {add(NULL, T(PM_T_TEXT)), "add column ? text to orders"},
        {{.kind = OP_ADD_COERCION, .table = "orders", .column = "created_at", .format = NULL},
         "parse orders.created_at with format ?"},
        {{.kind = OP_KIND_COUNT, .table = "orders"}, "unknown op 8"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *got = op_describe(&cases[i].op, arena);
        if (strcmp(got, cases[i].want) != 0)
            fail_msg("case %zu: \"%s\", expected \"%s\"", i, got, cases[i].want);
        assert_null(strchr(got, '\n'));
    }
}

static void test_op_describe_long(void **state)
{
    /* a create_table of many columns is cut, not overrun */
    size_t n = 1000;
    pm_column *cols = pm_arena_calloc(arena, n * sizeof *cols);
    for (size_t i = 0; i < n; i++)
        cols[i] = (pm_column){.name = pm_arena_sprintf(arena, "column_number_%zu", i),
                              .type = {PM_T_TEXT, 0},
                              .nullable = true};
    pm_op op = {.kind = OP_CREATE_TABLE, .table = "events", .cols = cols, .ncols = n};
    const char *s = op_describe(&op, arena);
    assert_true(strlen(s) <= 4096);
    assert_non_null(strstr(s, ", ...)"));
    assert_int_equal(strncmp(s, "create table events (column_number_0 text, ", 43), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forbidden_is_always_rejected),
        cmocka_unit_test(test_decision_table),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_class_table),
        cmocka_unit_test(test_class_without_table),
        cmocka_unit_test(test_widen_follows_lattice),
        cmocka_unit_test(test_policy_default),
        cmocka_unit_test(test_overrides_change_the_class),
        cmocka_unit_test(test_forbidden_stays_forbidden),
        cmocka_unit_test(test_override_to_forbidden),
        cmocka_unit_test(test_decide_op_per_mode),
        cmocka_unit_test(test_merge_class),
        cmocka_unit_test(test_op_kind_names),
        cmocka_unit_test(test_op_describe),
        cmocka_unit_test(test_op_describe_long),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
