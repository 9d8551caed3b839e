/* cmd_audit.c - `pipemend audit log` and `pipemend audit verify`: reading
 * and checking the hash-chained audit log (src/audit/audit.h). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "cli/cli.h"
#include "view/view.h"

static int audit_log(cli_ctx *ctx, pm_store *s, pm_arena *a)
{
    pm_err err = {0};
    pm_audit_event *ev;
    size_t n;
    int64_t after = 0;
    if (ctx->limit) {
        /* The last N events: find where they start. */
        pm_audit_event *all;
        size_t total;
        if (store_audit_list(s, 0, 0, a, &all, &total, &err))
            return cli_fail(&err);
        if (total > (size_t)ctx->limit)
            after = all[total - (size_t)ctx->limit - 1].seq;
    }
    if (store_audit_list(s, after, ctx->limit, a, &ev, &n, &err))
        return cli_fail(&err);
    if (ctx->json) {
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(arr, view_audit_event(&ev[i]));
        cli_print_json(arr);
        return 0;
    }
    for (size_t i = 0; i < n; i++)
        printf("%-6lld %s  %-14s %-18s %-20s %s\n", (long long)ev[i].seq, ev[i].at,
               cli_safe(ev[i].actor), cli_safe(ev[i].action), cli_safe(ev[i].subject),
               cli_safe(ev[i].payload));
    if (!n)
        printf("the audit log is empty\n");
    return 0;
}

static int audit_check(cli_ctx *ctx, pm_store *s, pm_arena *a)
{
    pm_err err = {0};
    audit_verdict v;
    if (audit_verify(s, a, &v, &err))
        return cli_fail(&err);
    if (ctx->json) {
        json_t *o = json_pack("{s:b, s:I}", "intact", v.intact, "events", (json_int_t)v.events);
        if (!v.intact) {
            json_object_set_new(o, "broken_seq", json_integer(v.broken_seq));
            json_object_set_new(o, "problem", json_string(v.problem));
        }
        cli_print_json(o);
    } else if (v.intact) {
        printf("audit log intact: %lld events, every hash matches its event and its "
               "predecessor\n",
               (long long)v.events);
    }
    if (!v.intact)
        cli_error(EXIT_FAILED, NULL, "audit log broken at event %lld: %s", (long long)v.broken_seq,
                  v.problem);
    return v.intact ? 0 : EXIT_FAILED;
}

int cmd_audit(cli_ctx *ctx)
{
    const char *sub = ctx->argc ? ctx->argv[0] : "";
    bool log = strcmp(sub, "log") == 0, verify = strcmp(sub, "verify") == 0;
    if (!log && !verify) {
        cli_error(EXIT_USAGE, NULL, "audit needs \"log\" or \"verify\"");
        cli_usage_of("audit");
        return EXIT_USAGE;
    }
    int code;
    pm_store *s = cli_open_store(ctx, &code);
    if (!s)
        return code;
    pm_arena *a = pm_arena_new(0);
    code = log ? audit_log(ctx, s, a) : audit_check(ctx, s, a);
    pm_arena_free(a);
    store_close(s);
    return code;
}
