/* cmd_audit.c - `pipemend audit log`, `audit verify` and `audit anchor`:
 * reading and checking the hash-chained audit log, and anchoring its head
 * in a file kept outside the warehouse (src/audit/audit.h). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "cli/cli.h"
#include "pipeline/config.h"
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

static void print_verdict_json(const audit_verdict *v, const char *anchor)
{
    json_t *o = json_pack("{s:b, s:I}", "intact", v->intact, "events", (json_int_t)v->events);
    if (!v->intact) {
        json_object_set_new(o, "broken_seq", json_integer(v->broken_seq));
        json_object_set_new(o, "problem", json_string(v->problem));
    }
    json_object_set_new(o, "anchor", anchor ? json_string(anchor) : json_null());
    json_object_set_new(o, "anchors", json_integer(v->anchors));
    if (v->key_env || v->keyed) { /* a keyed log: what the key checked */
        json_object_set_new(o, "keyed", json_integer(v->keyed));
        json_object_set_new(o, "key_env", v->key_env ? json_string(v->key_env) : json_null());
        json_object_set_new(o, "key_checked", json_boolean(v->key_used));
        json_object_set_new(o, "keyed_unchecked", json_integer(v->unchecked));
    }
    cli_print_json(o);
}

static int broken_exit(const audit_verdict *v)
{
    cli_error(EXIT_FAILED, NULL, "audit log broken at event %lld: %s", (long long)v->broken_seq,
              v->problem);
    return EXIT_FAILED;
}

static int audit_check(cli_ctx *ctx, pm_store *s, pm_arena *a)
{
    pm_err err = {0};
    audit_verdict v;
    char buf[4096];
    const char *anchor =
        ctx->anchor ? ctx->anchor : config_audit_anchor_to_verify(ctx->cfg, buf, sizeof buf);
    if (audit_verify(s, anchor, a, &v, &err))
        return cli_fail(&err);
    if (ctx->json) {
        print_verdict_json(&v, anchor);
    } else if (v.intact) {
        printf("audit log intact: %lld events, every hash matches its event and its "
               "predecessor\n",
               (long long)v.events);
        if (v.key_used)
            printf("key $%s: all %lld keyed events carry its HMAC, and none is unkeyed after "
                   "them\n",
                   v.key_env, (long long)v.keyed);
        else if (v.unchecked)
            printf("NOT CHECKED: %lld keyed events, whose HMAC needs the audit key%s%s%s: "
                   "their links to each other were checked, their contents were not\n",
                   (long long)v.unchecked, v.key_env ? " ($" : "", v.key_env ? v.key_env : "",
                   v.key_env ? " is not set)" : " (set audit_key_env: in pipemend.yaml)");
        else
            printf("no key: a chain recomputed by someone with write access goes unseen "
                   "without one (audit_key_env:)\n");
        if (anchor)
            printf("anchor %s: the chain holds all %lld anchored heads\n", cli_safe(anchor),
                   (long long)v.anchors);
        else
            printf("no anchor checked: a re-hashed chain or a cut tail goes unseen without one "
                   "(`pipemend audit anchor`)\n");
    }
    return v.intact ? 0 : broken_exit(&v);
}

static int audit_anchor_head(cli_ctx *ctx, pm_store *s, pm_arena *a)
{
    pm_err err = {0};
    audit_verdict v;
    char buf[4096];
    bool is_default;
    const char *anchor =
        ctx->anchor ? ctx->anchor : config_audit_anchor(ctx->cfg, buf, sizeof buf, &is_default);
    if (audit_anchor(s, anchor, a, &v, &err))
        return cli_fail(&err);
    if (!v.intact) {
        if (ctx->json)
            print_verdict_json(&v, anchor);
        cli_error(EXIT_FAILED, "find out what changed before anchoring; nothing was written",
                  "audit log broken at event %lld: %s", (long long)v.broken_seq, v.problem);
        return EXIT_FAILED;
    }
    if (ctx->json) {
        cli_print_json(json_pack("{s:s, s:I, s:s, s:s}", "anchor", anchor, "seq",
                                 (json_int_t)v.head_seq, "hash", v.head_hash, "at", v.head_at));
    } else {
        printf("anchored event %lld (hash %.16s…) in %s\n", (long long)v.head_seq, v.head_hash,
               cli_safe(anchor));
        printf("keep that file where whoever can write the warehouse cannot; `pipemend audit "
               "verify --anchor %s` checks it\n",
               cli_safe(anchor));
    }
    return 0;
}

int cmd_audit(cli_ctx *ctx)
{
    const char *sub = ctx->argc ? ctx->argv[0] : "";
    bool log = strcmp(sub, "log") == 0, verify = strcmp(sub, "verify") == 0,
         anchor = strcmp(sub, "anchor") == 0;
    if (!log && !verify && !anchor) {
        cli_error(EXIT_USAGE, NULL, "audit needs \"log\", \"verify\" or \"anchor\"");
        cli_usage_of("audit");
        return EXIT_USAGE;
    }
    int code;
    pm_store *s = cli_open_store(ctx, &code);
    if (!s)
        return code;
    pm_arena *a = pm_arena_new(0);
    code = log      ? audit_log(ctx, s, a)
           : verify ? audit_check(ctx, s, a)
                    : audit_anchor_head(ctx, s, a);
    pm_arena_free(a);
    store_close(s);
    return code;
}
