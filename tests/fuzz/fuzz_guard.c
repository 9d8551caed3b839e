/* fuzz_guard.c - libFuzzer target for the guard's SQL path: any bytes, as
 * an agent might send them, go through guard_parse_sql_n and, when they
 * parse, guard_check_ops. Beyond "no crash, no leak, no UB" it checks the
 * guard's promise: whatever it accepts is at least one typed op, on an
 * allowed table, with a kind it knows. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "heal/guard.h"

static const char *const allowed[] = {"orders", "events"};

static const pm_table *lookup(void *arg, const char *table)
{
    static pm_arena *a;
    static pm_table *orders;
    if (!orders) {
        a = pm_arena_new(0);
        orders = table_new(a, "orders");
        table_add(orders, a, "id", (pm_type){PM_T_INT64, 0}, false);
        table_add(orders, a, "email", (pm_type){PM_T_VARCHAR, 64}, false);
        table_add(orders, a, "amount", (pm_type){PM_T_FLOAT64, 0}, true);
        table_add(orders, a, "qty", (pm_type){PM_T_INT32, 0}, true);
        table_add(orders, a, "created_at", (pm_type){PM_T_TIMESTAMP, 0}, true);
        table_add(orders, a, "note", (pm_type){PM_T_TEXT, 0}, true);
    }
    return strcmp(table, "orders") == 0 ? orders : NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    guard_ctx g = {.allowed_tables = allowed, .nallowed = 2, .lookup = lookup};
    pm_arena *a = pm_arena_new(0);
    pm_op *ops = NULL;
    size_t nops = 0;
    pm_err err;
    if (guard_parse_sql_n(&g, (const char *)data, size, a, &ops, &nops, &err) == PM_OK) {
        if (nops == 0) {
            fprintf(stderr, "guard accepted a proposal with no ops\n");
            abort();
        }
        for (size_t i = 0; i < nops; i++) {
            if ((unsigned)ops[i].kind >= OP_KIND_COUNT || !ops[i].table ||
                (strcmp(ops[i].table, "orders") != 0 && strcmp(ops[i].table, "events") != 0)) {
                fprintf(stderr, "guard accepted an op outside the allowed tables\n");
                abort();
            }
            (void)op_describe(&ops[i], a);
        }
        size_t bad;
        (void)guard_check_ops(&g, ops, nops, &bad, &err);
    } else if (!err.msg[0]) {
        fprintf(stderr, "guard rejected without a reason\n");
        abort();
    }
    pm_arena_free(a);
    return 0;
}
