/* cmd_agent.c - `pipemend agent`: run the reasoning agent on incidents
 * (src/agent/agent.h) and read the sessions it left. */
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "agent/agent.h"
#include "cli/cli.h"
#include "pipeline/metrics.h"
#include "view/view.h"

/* Sessions `agent run --open` takes in one go. */
#define OPEN_MAX 256

static void print_trace(void *arg, const char *line)
{
    if (!*(const bool *)arg)
        fprintf(stderr, "%s\n", cli_safe(line));
}

static void on_signal(int sig)
{
    agent_request_stop();
}

/* The session as show prints it, for --json. */
static json_t *session_json(pm_store *s, const pm_config *cfg, int64_t id, bool steps, pm_err *err)
{
    pm_arena *a = pm_arena_new(0);
    pm_agent_session *xs;
    pm_agent_step *st = NULL;
    size_t n, nst = 0;
    json_t *out = NULL;
    if (!store_agent_sessions(s, id, 0, 1, a, &xs, &n, err) && n == 1 &&
        (!steps || !store_agent_steps(s, id, a, &st, &nst, err)))
        out = view_agent_session(&xs[0], st, nst, steps, cfg->agent.price_input,
                                 cfg->agent.price_output);
    pm_arena_free(a);
    return out;
}

/* Runs the agent on each incident; the exit code. report: print each
 * session's end on stdout (text, or JSON with --json); else only the
 * trace on stderr. */
static int run_sessions(cli_ctx *ctx, pm_store *s, const int64_t *ids, size_t n, bool report)
{
    tools_ctx t = {.db = ctx->db, .cfg = ctx->cfg, .store = s};
    bool quiet = ctx->quiet || (report && ctx->json);
    agent_opts o = {
        .tools = &t, .cfg = &ctx->cfg->agent, .trace = print_trace, .trace_arg = &quiet};
    struct sigaction sa = {.sa_handler = on_signal}, old_term, old_int;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, &old_term);
    sigaction(SIGINT, &sa, &old_int);
    int code = 0;
    json_t *all = json_array();
    for (size_t i = 0; i < n; i++) {
        agent_outcome out;
        pm_err err = {0};
        pm_code rc = agent_run(&o, ids[i], &out, &err);
        if (rc) {
            cli_fail(&err);
            code = EXIT_FAILED; /* the session could not run (usage errors exit before) */
        } else if (report && !ctx->json) {
            printf("incident %lld: session %lld %s%s%s%s\n", (long long)ids[i],
                   (long long)out.session, out.outcome, *out.reason ? " (" : "",
                   cli_safe(out.reason), *out.reason ? ")" : "");
        }
        if (report && ctx->json && out.session) {
            pm_err jerr = {0};
            json_t *j = session_json(s, ctx->cfg, out.session, true, &jerr);
            if (j)
                json_array_append_new(all, j);
        }
        if (rc == PM_ERR_CONFIG)
            break; /* the next one would fail the same way */
    }
    sigaction(SIGTERM, &old_term, NULL);
    sigaction(SIGINT, &old_int, NULL);
    if (report && ctx->json) {
        if (ctx->incident && json_array_size(all) == 1)
            cli_print_json(json_incref(json_array_get(all, 0)));
        else
            cli_print_json(json_incref(all));
    }
    json_decref(all);
    return code;
}

static int agent_run_cmd(cli_ctx *ctx)
{
    if (!ctx->incident == !ctx->open) {
        return cli_error(EXIT_USAGE,
                         "pipemend agent run --incident ID, or --open for every open incident",
                         "agent run needs --incident ID or --open (one of them)");
    }
    if (ctx->argc != 1)
        return cli_error(EXIT_USAGE, NULL, "agent run takes no further arguments");
    int code;
    pm_store *s = cli_open_store(ctx, &code);
    if (!s)
        return code;
    int64_t ids[OPEN_MAX];
    size_t n = 0;
    if (ctx->incident) {
        ids[n++] = ctx->incident;
    } else {
        tools_ctx t = {.db = ctx->db, .cfg = ctx->cfg, .store = s};
        agent_opts o = {.tools = &t, .cfg = &ctx->cfg->agent};
        pm_err err = {0};
        if (agent_pending(&o, ctx->table, ids, OPEN_MAX, &n, &err)) {
            code = cli_fail(&err);
            store_close(s);
            return code;
        }
        if (!n) {
            if (ctx->json)
                cli_print_json(json_array());
            else
                printf("no open incident waits for the agent\n");
            store_close(s);
            return 0;
        }
    }
    code = run_sessions(ctx, s, ids, n, true);
    store_close(s);
    return code;
}

static int sessions_cmd(cli_ctx *ctx)
{
    const char *sub = ctx->argc > 1 ? ctx->argv[1] : "";
    bool list = strcmp(sub, "list") == 0, show = strcmp(sub, "show") == 0;
    long long id = 0;
    if (!list && !show)
        return cli_error(EXIT_USAGE, NULL, "agent sessions needs list or show ID");
    if (show && (ctx->argc != 3 || sscanf(ctx->argv[2], "%lld", &id) != 1 || id < 1))
        return cli_error(EXIT_USAGE, "see pipemend agent sessions list",
                         "agent sessions show needs one session ID");
    if (list && ctx->argc != 2)
        return cli_error(EXIT_USAGE, NULL, "agent sessions list takes no further arguments");
    int code;
    pm_store *s = cli_open_store(ctx, &code);
    if (!s)
        return code;
    pm_arena *a = pm_arena_new(0);
    pm_err err = {0};
    pm_agent_session *xs;
    pm_agent_step *st = NULL;
    size_t n, nst = 0;
    code = 0;
    const pm_agent_cfg *ac = &ctx->cfg->agent;
    if (store_agent_sessions(s, id, 0, list ? (ctx->limit ? ctx->limit : 50) : 1, a, &xs, &n,
                             &err) ||
        (show && n == 1 && store_agent_steps(s, id, a, &st, &nst, &err))) {
        code = cli_fail(&err);
    } else if (show && n == 0) {
        code =
            cli_error(EXIT_FAILED, "see pipemend agent sessions list", "no agent session %lld", id);
    } else if (ctx->json && list) {
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(
                arr, view_agent_session(&xs[i], NULL, 0, false, ac->price_input, ac->price_output));
        cli_print_json(arr);
    } else if (ctx->json) {
        cli_print_json(
            view_agent_session(&xs[0], st, nst, true, ac->price_input, ac->price_output));
    } else if (list) {
        printf("%-7s %-9s %-10s %-24s %6s %9s %9s  %s\n", "SESSION", "INCIDENT", "OUTCOME", "MODEL",
               "STEPS", "IN_TOK", "OUT_TOK", "STARTED");
        for (size_t i = 0; i < n; i++)
            printf("%-7lld %-9lld %-10s %-24s %6lld %9lld %9lld  %s\n", (long long)xs[i].id,
                   (long long)xs[i].incident, xs[i].outcome, cli_safe(xs[i].model),
                   (long long)xs[i].steps, (long long)xs[i].input_tokens,
                   (long long)xs[i].output_tokens, xs[i].started_at);
        if (!n)
            printf("no agent sessions yet\n");
    } else {
        const pm_agent_session *x = &xs[0];
        printf("session %lld on incident %lld: %s%s%s%s\n", (long long)x->id,
               (long long)x->incident, x->outcome, x->reason ? " (" : "",
               x->reason ? cli_safe(x->reason) : "", x->reason ? ")" : "");
        printf("  model %s via %s, prompt %.12s, %lld+%lld tokens, %s - %s\n", cli_safe(x->model),
               x->provider, x->prompt_sha256, (long long)x->input_tokens,
               (long long)x->output_tokens, x->started_at, x->finished_at ? x->finished_at : "");
        if (x->proposal)
            printf("  proposal %lld\n", (long long)x->proposal);
        if (x->rationale)
            printf("  rationale (confidence %.2f): %s\n", x->confidence, cli_safe(x->rationale));
        for (size_t i = 0; i < nst; i++) {
            if (strcmp(st[i].kind, "model") == 0)
                printf("  %3lld model  %6lld ms  %lld+%lld tokens  %s  (HTTP %lld, %lld "
                       "attempts)\n",
                       (long long)st[i].seq, (long long)st[i].latency_ms,
                       (long long)st[i].input_tokens, (long long)st[i].output_tokens,
                       st[i].stop_reason ? st[i].stop_reason : "-", (long long)st[i].status,
                       (long long)st[i].attempts);
            else
                printf("  %3lld tool   %s %s -> %s%s%s\n", (long long)st[i].seq,
                       cli_safe(st[i].tool), cli_safe(st[i].arguments ? st[i].arguments : "-"),
                       st[i].outcome, st[i].message ? ": " : "",
                       st[i].message ? cli_safe(st[i].message) : "");
        }
    }
    pm_arena_free(a);
    store_close(s);
    return code;
}

static int stats_cmd(cli_ctx *ctx)
{
    if (ctx->argc != 1)
        return cli_error(EXIT_USAGE, NULL, "agent stats takes no further arguments");
    int code;
    pm_store *s = cli_open_store(ctx, &code);
    if (!s)
        return code;
    pm_arena *a = pm_arena_new(0);
    pm_err err = {0};
    metrics_agent m;
    const pm_agent_cfg *ac = &ctx->cfg->agent;
    code = 0;
    if (metrics_agent_read(s, ac->price_input, ac->price_output, a, &m, &err)) {
        code = cli_fail(&err);
    } else if (ctx->json) {
        cli_print_json(view_metrics_agent(&m));
    } else {
        printf("sessions: %lld%s\n", (long long)m.sessions, m.truncated ? " (newest only)" : "");
        for (size_t i = 0; i < m.by_outcome.n; i++)
            printf("  %-10s %lld\n", m.by_outcome.item[i].key,
                   (long long)m.by_outcome.item[i].count);
        printf("tokens: %lld in, %lld out (about %.4f USD at the configured prices)\n",
               (long long)m.input_tokens, (long long)m.output_tokens, m.cost_usd);
        if (m.decisions)
            printf("decision latency (incident detected -> conclusion): mean %.1f s, max %.1f "
                   "s over %lld sessions\n",
                   m.decision_s_mean, m.decision_s_max, (long long)m.decisions);
        if (m.model_calls)
            printf("model calls: %lld, mean %.0f ms\n", (long long)m.model_calls, m.model_ms_mean);
        for (size_t i = 0; i < m.ntools; i++)
            printf("  tool %-22s %5lld calls, %lld failed or refused\n", m.tools[i].tool,
                   (long long)m.tools[i].calls, (long long)m.tools[i].failures);
    }
    pm_arena_free(a);
    store_close(s);
    return code;
}

int cmd_agent(cli_ctx *ctx)
{
    const char *sub = ctx->argc ? ctx->argv[0] : "";
    if (strcmp(sub, "run") == 0)
        return agent_run_cmd(ctx);
    if (strcmp(sub, "sessions") == 0)
        return sessions_cmd(ctx);
    if (strcmp(sub, "stats") == 0)
        return stats_cmd(ctx);
    cli_error(EXIT_USAGE, NULL, "agent needs run, sessions or stats");
    cli_usage_of("agent");
    return EXIT_USAGE;
}

int cli_agent_after_run(cli_ctx *ctx, pm_store *s, const char *table)
{
    tools_ctx t = {.db = ctx->db, .cfg = ctx->cfg, .store = s};
    agent_opts o = {.tools = &t, .cfg = &ctx->cfg->agent};
    int64_t ids[OPEN_MAX];
    size_t n = 0;
    pm_err err = {0};
    if (agent_pending(&o, table, ids, OPEN_MAX, &n, &err))
        return cli_fail(&err);
    return n ? run_sessions(ctx, s, ids, n, false) : 0;
}
