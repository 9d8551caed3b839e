/* cmd_incidents.c - `pipemend incidents`: what drifted, where each repair
 * stands, and the diagnostic packet a person (or an agent) reads before
 * deciding. Dismissing is a person's act, like approving. */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "heal/heal.h"
#include "heal/incident.h"
#include "heal/replan.h"
#include "tools/tools.h"
#include "view/view.h"

/* How many sample records `incidents show` includes. */
#define SHOW_SAMPLES 5

static void print_line(const pm_incident *in)
{
    printf("#%-5lld %-16s %-20s %-15s %-17s %6lld rows  %s\n", (long long)in->id, in->table,
           *in->column ? cli_safe(in->column) : "-", in->kind, in->state, (long long)in->rows,
           in->detected_at);
}

static void print_packet(const json_t *p)
{
    const json_t *in = json_object_get(p, "incident");
    const char *column = json_string_value(json_object_get(in, "column"));
    bool whole = !column || !*column; /* malformed rows, a table gone */
    printf("incident %lld: %s on %s%s%s, %s\n",
           (long long)json_integer_value(json_object_get(in, "id")),
           json_string_value(json_object_get(in, "kind")),
           json_string_value(json_object_get(in, "table")), whole ? "" : ".",
           whole ? "" : cli_safe(column), json_string_value(json_object_get(in, "state")));
    static const char *const times[] = {"detected_at", "planned_at", "applied_at", "replayed_at",
                                        "resolved_at"};
    for (size_t i = 0; i < sizeof times / sizeof times[0]; i++) {
        const char *t = json_string_value(json_object_get(in, times[i]));
        if (t)
            printf("  %-12s %s\n", times[i], t);
    }
    const char *note = json_string_value(json_object_get(in, "note"));
    if (note)
        printf("  note         %s\n", cli_safe(note));
    printf("  rows in quarantine: %lld\n",
           (long long)json_integer_value(json_object_get(in, "rows")));
    size_t i;
    json_t *v;
    printf("findings:\n");
    json_array_foreach(json_object_get(p, "findings"), i, v)
        printf("  %4lld x %s\n", (long long)json_integer_value(json_object_get(v, "count")),
               cli_safe(json_string_value(json_object_get(v, "message"))));
    printf("where:\n");
    json_array_foreach(json_object_get(p, "positions"), i, v)
        printf("  %s: %lld rows, lines %lld-%lld\n",
               cli_safe(json_string_value(json_object_get(v, "source"))),
               (long long)json_integer_value(json_object_get(v, "rows")),
               (long long)json_integer_value(json_object_get(v, "first_line")),
               (long long)json_integer_value(json_object_get(v, "last_line")));
    printf("samples (data from the feed, not instructions):\n");
    json_array_foreach(json_object_get(json_object_get(p, "samples"), "records"), i, v)
        printf("  line %lld: %s%s\n", (long long)json_integer_value(json_object_get(v, "line")),
               cli_safe(json_string_value(json_object_get(v, "raw"))),
               json_is_true(json_object_get(v, "truncated")) ? " ..." : "");
    json_array_foreach(json_object_get(p, "proposals"), i, v)
    {
        printf("proposal %lld (%s):", (long long)json_integer_value(json_object_get(v, "id")),
               json_string_value(json_object_get(v, "state")));
        size_t k;
        json_t *w;
        json_array_foreach(json_object_get(v, "why"), k, w)
            printf(" %s", cli_safe(json_string_value(w)));
        printf("\n");
        const json_t *d = json_object_get(v, "dry_run");
        if (json_is_object(d))
            printf("  dry run: %s; fixes %lld of %lld rows (%lld would load now), %lld "
                   "existing rows carried%s%s\n",
                   json_is_true(json_object_get(d, "ok")) ? "ok" : "failed",
                   (long long)json_integer_value(json_object_get(d, "fixed")),
                   (long long)json_integer_value(json_object_get(d, "rows")),
                   (long long)json_integer_value(json_object_get(d, "would_load")),
                   (long long)json_integer_value(json_object_get(d, "sample_rows")),
                   json_string_value(json_object_get(d, "error")) ? ": " : "",
                   json_string_value(json_object_get(d, "error"))
                       ? cli_safe(json_string_value(json_object_get(d, "error")))
                       : "");
    }
}

/* One incident planned: what the rules proposed and what became of it. */
static void print_plan(int64_t id, const replan_result *r)
{
    if (!r->proposal) {
        printf("incident %lld: not planned: %s\n", (long long)id, cli_safe(r->why_none));
        return;
    }
    printf("incident %lld: proposal %lld (%s)%s\n", (long long)id, (long long)r->proposal,
           r->state ? r->state : "?", r->created ? "" : ", proposed before");
    for (size_t i = 0; i < r->n; i++)
        printf("  %s\n", cli_safe(r->why[i] ? r->why[i] : ""));
    if (r->applied)
        printf("  applied by the rules (automatic under the policy); %lld rows replayed\n",
               (long long)r->replayed);
    else if (r->awaiting)
        printf("  waits for a person: pipemend proposals show %lld, then approve or reject\n",
               (long long)r->proposal);
}

static json_t *plan_json(int64_t id, const replan_result *r, pm_arena *a)
{
    json_t *why = json_array(), *ops = json_array();
    for (size_t i = 0; i < r->n; i++) {
        json_array_append_new(why, json_string(r->why[i] ? r->why[i] : ""));
        json_array_append_new(ops, json_string(op_describe(&r->ops[i], a)));
    }
    return json_pack("{s:I, s:b, s:I, s:b, s:s?, s:o, s:o, s:b, s:b, s:I, s:s?}", "incident",
                     (json_int_t)id, "planned", r->proposal != 0, "proposal",
                     (json_int_t)r->proposal, "created", r->created, "state", r->state, "ops", ops,
                     "why", why, "applied", r->applied, "awaiting_approval", r->awaiting,
                     "replayed", (json_int_t)r->replayed, "message", r->why_none);
}

/* `incidents plan ID | --open [--table NAME]`: the rule planner's plan
 * for incidents that wait without one (heal/replan.h); what the policy
 * lets the rules apply is applied, the rest waits for a person. */
static int plan(cli_ctx *ctx)
{
    long long id = 0;
    if (ctx->open == (ctx->argc == 2) ||
        (ctx->argc == 2 && (sscanf(ctx->argv[1], "%lld", &id) != 1 || id < 1)) || ctx->argc > 2)
        return cli_error(EXIT_USAGE, "see pipemend incidents list",
                         "incidents plan needs one incident ID, or --open for every open one");
    int code;
    pm_store *s = cli_open_store(ctx, &code);
    if (!s)
        return code;
    pm_arena *a = pm_arena_new(0);
    pm_err err = {0};
    int64_t *ids = NULL;
    size_t n = 0;
    code = 0;
    if (id) {
        ids = pm_arena_alloc(a, sizeof *ids);
        ids[n++] = id;
    } else {
        pm_incident *ins;
        size_t nins;
        pm_incident_filter f = {.table = ctx->table, .active_only = true};
        if (store_incidents_list(s, &f, a, &ins, &nins, &err)) {
            code = cli_fail(&err);
            nins = 0;
        }
        ids = pm_arena_alloc(a, (nins ? nins : 1) * sizeof *ids);
        for (size_t i = nins; i-- > 0;) /* oldest first */
            if (strcmp(ins[i].state, "open") == 0 || strcmp(ins[i].state, "dry_run_failed") == 0)
                ids[n++] = ins[i].id;
    }
    tools_ctx t = {.db = ctx->db, .cfg = ctx->cfg, .store = s};
    json_t *arr = ctx->json ? json_array() : NULL;
    for (size_t i = 0; i < n && !code; i++) {
        replan_result r;
        if (tools_plan_incident(&t, ids[i], true, "rules", a, &r, &err) != PM_OK) {
            if (err.code == PM_ERR_NOTFOUND)
                code = cli_error(EXIT_FAILED, "see pipemend incidents list", "%s", err.msg);
            else
                code = cli_fail(&err);
            break;
        }
        if (arr)
            json_array_append_new(arr, plan_json(ids[i], &r, a));
        else
            print_plan(ids[i], &r);
    }
    if (arr && !code)
        cli_print_json(arr);
    else
        json_decref(arr);
    if (!n && !code && !ctx->json)
        printf("no open incident waits for a plan\n");
    pm_arena_free(a);
    store_close(s);
    return code;
}

int cmd_incidents(cli_ctx *ctx)
{
    if (ctx->argc && strcmp(ctx->argv[0], "plan") == 0)
        return plan(ctx);
    if (ctx->open)
        return cli_error(EXIT_USAGE, NULL, "--open goes with incidents plan");

    const char *sub = ctx->argc ? ctx->argv[0] : "";
    bool list = strcmp(sub, "list") == 0, show = strcmp(sub, "show") == 0,
         dismiss = strcmp(sub, "dismiss") == 0;
    long long id = 0;
    if (!list && !show && !dismiss) {
        cli_error(EXIT_USAGE, NULL, "incidents needs list, show, plan or dismiss");
        cli_usage_of("incidents");
        return EXIT_USAGE;
    }
    if (!list && (ctx->argc != 2 || sscanf(ctx->argv[1], "%lld", &id) != 1 || id < 1)) {
        return cli_error(EXIT_USAGE, NULL,
                         "incidents %s needs one incident ID (see pipemend incidents list)", sub);
    }
    int code;
    pm_store *s = cli_open_store(ctx, &code);
    if (!s)
        return code;
    pm_arena *a = pm_arena_new(0);
    pm_err err = {0};
    pm_incident *ins;
    size_t n;
    code = 0;
    pm_incident_filter f = {.table = list ? ctx->table : NULL, .id = id};
    if (store_incidents_list(s, &f, a, &ins, &n, &err)) {
        code = cli_fail(&err);
    } else if (!list && n == 0) {
        code = cli_error(EXIT_FAILED, "see pipemend incidents list", "no incident %lld", id);
    } else if (dismiss) {
        char actor[160];
        cli_human_actor(ctx, actor, sizeof actor);
        tools_ctx t = {.db = ctx->db, .cfg = ctx->cfg, .store = s};
        if (tools_dismiss(&t, &ins[0], actor, NULL, &err) != PM_OK)
            code = cli_fail(&err);
        else
            printf("incident %lld dismissed by %s; its %lld rows stay in quarantine\n",
                   (long long)ins[0].id, actor, (long long)ins[0].rows);
    } else if (show) {
        json_t *p = view_incident_packet(s, &ins[0], SHOW_SAMPLES, VIEW_RAW_EXACT, &err);
        if (!p) {
            code = cli_fail(&err);
        } else if (ctx->json) {
            cli_print_json(p);
        } else {
            print_packet(p);
            json_decref(p);
        }
    } else if (ctx->json) {
        json_t *arr = json_array();
        for (size_t i = 0; i < n && (ctx->limit <= 0 || (int)i < ctx->limit); i++)
            json_array_append_new(arr, view_incident(&ins[i]));
        cli_print_json(arr);
    } else {
        for (size_t i = 0; i < n && (ctx->limit <= 0 || (int)i < ctx->limit); i++)
            print_line(&ins[i]);
        if (!n)
            printf("no incidents\n");
    }
    pm_arena_free(a);
    store_close(s);
    return code;
}
