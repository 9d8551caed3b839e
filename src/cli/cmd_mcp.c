/* cmd_mcp.c - `pipemend mcp` and `pipemend serve`: pipemend's tools
 * (src/tools) as an MCP server (daemon/serve_mcp.h) over stdio, and over
 * Streamable HTTP.
 *
 * The warehouse is opened at the first tool call that needs it, not at
 * start: an MCP client that launches pipemend with a wrong --db still gets
 * a working server whose tools explain what to fix, instead of a process
 * that died before the handshake. Start only looks, and says on stderr
 * (the client's log) when the warehouse is missing or unreachable. Standard output carries the
 * protocol only; logs go to stderr. */
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent.h"
#include "cli/cli.h"
#include "core/log.h"
#include "daemon/notifier.h"
#include "daemon/prom.h"
#include "daemon/ready.h"
#include "daemon/scheduler.h"
#include "daemon/sdnotify.h"
#include "daemon/rest.h"
#include "daemon/serve_auth.h"
#include "daemon/serve_mcp.h"
#include "http/health.h"
#include "http/mcp_route.h"
#include "http/token.h"
#include "mcp/mcp.h"
#include "pipeline/notify.h"

/* `pipemend mcp docs`: the tool reference, from the tables served. */
static int print_docs(tools_ctx *t)
{
    pm_err err = {0};
    serve_mcp *m = serve_mcp_new(t, PIPEMEND_VERSION, false, &err);
    if (!m)
        return cli_fail(&err);
    mcp_server *s = serve_mcp_server(m);
    pm_buf out;
    pm_buf_init(&out, 16u << 20);
    int code = 0;
    if (mcp_server_docs(s, &out) != PM_OK) {
        pm_err_set(&err, PM_ERR_NOMEM, "cannot render the documentation");
        code = cli_fail(&err);
    } else {
        fwrite(out.data, 1, out.len, stdout);
    }
    pm_buf_free(&out);
    serve_mcp_free(m);
    return code;
}

int cmd_mcp(cli_ctx *ctx)
{
    if (ctx->argc == 1 && strcmp(ctx->argv[0], "docs") == 0) {
        tools_ctx t = {.db = ctx->db, .cfg = ctx->cfg};
        return print_docs(&t);
    }
    if (ctx->argc) {
        cli_error(EXIT_USAGE, NULL, "mcp takes no arguments but \"docs\"");
        cli_usage_of("mcp");
        return EXIT_USAGE;
    }
    /* A client that goes away mid-response is an I/O error, not a signal. */
    signal(SIGPIPE, SIG_IGN);
    cli_check_warehouse(ctx);
    tools_ctx t = {.db = ctx->db, .cfg = ctx->cfg};
    pm_err err = {0};
    int code = 0;
    serve_mcp *m = serve_mcp_new(&t, PIPEMEND_VERSION, false, &err);
    if (!m || mcp_stdio_serve(serve_mcp_server(m), STDIN_FILENO, STDOUT_FILENO, &err) != PM_OK)
        code = cli_fail(&err);
    serve_mcp_free(m);
    if (t.store)
        store_close(t.store);
    return code;
}

/* ---- serve: Streamable HTTP ----------------------------------------------- */

static volatile sig_atomic_t stop_serving, reload_config;

static void on_hup(int sig)
{
    reload_config = 1;
}

/* What reads the configuration in serve, told of a reload. */
typedef struct serve_parts {
    tools_ctx *t;
    notifier *nf;
} serve_parts;

/* The tools, the notifications and their sinks read the configuration the
 * scheduler reloaded (the old one stays alive: a call may still read it). */
static void use_reloaded(void *arg, pm_config *cfg)
{
    serve_parts *p = arg;
    p->t->cfg = cfg;
    notify_install(cfg);
    if (p->nf)
        notifier_use(p->nf, cfg);
}

static void on_signal(int sig)
{
    stop_serving = 1;
    agent_request_stop(); /* a session in a scheduled run ends at its next step */
}

static void on_ready(void *arg, const char *host, int port)
{
    bool v6 = strchr(host, ':') != NULL;
    printf("pipemend: MCP over Streamable HTTP at http://%s%s%s:%d/mcp\n", v6 ? "[" : "", host,
           v6 ? "]" : "", port);
    fflush(stdout);
    sdnotify_send("READY=1"); /* Type=notify: systemd starts what waits for us */
}

/* The token (http/token.h), the first of: --token-file's first line,
 * $PIPEMEND_MCP_TOKEN, the generated file at its default path; NULL with
 * --no-token (http_server_run refuses that beyond loopback). A file is
 * named on stderr with how to use it; the token itself is never printed,
 * as logs are read by more people than the ones it is for. */
static pm_code find_token(const cli_ctx *ctx, char *buf, size_t n, const char **out, pm_err *err)
{
    *out = NULL;
    const char *env = getenv("PIPEMEND_MCP_TOKEN");
    if (ctx->no_token) {
        if (ctx->token_file || (env && *env)) {
            pm_err_set(err, PM_ERR_USAGE, "--no-token, but a token is given (%s)",
                       ctx->token_file ? "--token-file" : "PIPEMEND_MCP_TOKEN");
            pm_err_hint(err, "give one or the other");
            return PM_ERR_USAGE;
        }
        pm_warn("serve: --no-token: any local user can use every tool of this server");
        return PM_OK;
    }
    if (!ctx->token_file && env && *env) {
        if (http_token_check(env, "PIPEMEND_MCP_TOKEN", err) != PM_OK)
            return PM_ERR_CONFIG;
        *out = env;
        return PM_OK;
    }
    char path[4096];
    bool created = false;
    if (ctx->token_file)
        snprintf(path, sizeof path, "%s", ctx->token_file);
    else if (http_token_default_path(path, sizeof path, err) != PM_OK)
        return PM_ERR_CONFIG;
    pm_code rc = ctx->token_file ? http_token_read(path, buf, n, err)
                                 : http_token_ensure(path, buf, n, &created, err);
    if (rc != PM_OK)
        return rc;
    if (!ctx->token_file)
        pm_info("serve: %s the bearer token in %s (mode 0600); clients send "
                "\"Authorization: Bearer $(cat %s)\"",
                created ? "generated" : "using", path, path);
    *out = buf;
    return PM_OK;
}

/* HOST:PORT, [V6]:PORT, or :PORT / PORT (loopback). */
static pm_code parse_listen(const char *v, char *host, size_t hn, int *port, pm_err *err)
{
    const char *colon = v[0] == '[' ? strstr(v, "]:") : strrchr(v, ':');
    const char *p = colon ? colon + (v[0] == '[' ? 2 : 1) : v;
    char *end;
    long n = strtol(p, &end, 10);
    if (!*p || *end || n < 0 || n > 65535) {
        pm_err_set(err, PM_ERR_USAGE, "--listen needs HOST:PORT (port 0-65535), got \"%s\"", v);
        return PM_ERR_USAGE;
    }
    *port = (int)n;
    if (!colon || colon == v)
        snprintf(host, hn, "127.0.0.1");
    else if (v[0] == '[')
        snprintf(host, hn, "%.*s", (int)(colon - v - 1), v + 1);
    else
        snprintf(host, hn, "%.*s", (int)(colon - v), v);
    return PM_OK;
}

int cmd_serve(cli_ctx *ctx)
{
    if (ctx->argc) {
        cli_error(EXIT_USAGE, NULL, "serve takes no arguments");
        cli_usage_of("serve");
        return EXIT_USAGE;
    }
    signal(SIGPIPE, SIG_IGN);
    pm_err err = {0};
    char host[256], tokbuf[1024];
    int port = 8765;
    const char *token = NULL;
    snprintf(host, sizeof host, "127.0.0.1");
    if ((ctx->listen && parse_listen(ctx->listen, host, sizeof host, &port, &err) != PM_OK) ||
        find_token(ctx, tokbuf, sizeof tokbuf, &token, &err) != PM_OK)
        return cli_fail(&err);
    cli_check_warehouse(ctx);
    /* --allow-origin A,B: split into a NULL-ended list */
    char *origins_buf = ctx->origins ? strdup(ctx->origins) : NULL;
    const char *origins[33] = {0};
    size_t no = 0;
    for (char *sp = NULL, *tok = origins_buf ? strtok_r(origins_buf, ",", &sp) : NULL;
         tok && no < 32; tok = strtok_r(NULL, ",", &sp))
        origins[no++] = tok;

    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    struct sigaction hup = {.sa_handler = on_hup};
    sigemptyset(&hup.sa_mask);
    sigaction(SIGHUP, &hup, NULL);
    tools_ctx t = {.db = ctx->db, .cfg = ctx->cfg};
    int code = 0;
    /* the pipelines with schedule:, every: or watch: run by themselves, and
     * the notifications of notify: go out */
    sched *sc = NULL;
    serve_parts parts = {.t = &t};
    if (ctx->db) {
        parts.nf = notifier_start(ctx->db, ctx->cfg, &err);
        sched_opts so = {.db = ctx->db,
                         .cfg = ctx->cfg,
                         .config_path = ctx->config_path,
                         .reload = &reload_config,
                         .on_reload = use_reloaded,
                         .reload_arg = &parts};
        sc = parts.nf ? sched_start(&so, &err) : NULL;
        if (!sc) {
            notifier_free(parts.nf);
            free(origins_buf);
            return cli_fail(&err);
        }
    }
    serve_mcp *m = serve_mcp_new(&t, PIPEMEND_VERSION, true, &err);
    char users_path[4096];
    users_db *users = m && config_users_file(ctx->cfg, users_path, sizeof users_path)
                          ? users_db_open(users_path, &err)
                          : NULL;
    serve_auth_cfg auth = {.users = users,
                           .proxy_header = ctx->cfg->serve.proxy_user_header,
                           .proxies = ctx->cfg->serve.proxies,
                           .nproxies = ctx->cfg->serve.nproxies};
    http_opts o = {.host = host,
                   .port = port,
                   .token = token,
                   .origins = origins,
                   .ready = on_ready,
                   .stop = &stop_serving,
                   .authenticate = serve_auth,
                   .auth_arg = &auth,
                   .max_connections = (unsigned)ctx->cfg->serve.max_connections,
                   .max_per_peer = (unsigned)ctx->cfg->serve.max_connections_per_peer};
    http_server *srv = m && !err.code ? http_server_new(&o) : NULL;
    if (!srv || http_mcp_mount(srv, serve_mcp_server(m), NULL, &err) != PM_OK ||
        http_health_mount(srv, &err) != PM_OK || (ctx->db && prom_mount(srv, &t, &err) != PM_OK) ||
        ready_mount(srv, ctx->db, sc, &err) != PM_OK ||
        rest_mount(srv, ctx->db, &t.cfg, PIPEMEND_VERSION, &err) != PM_OK ||
        http_server_run(srv, &err) != PM_OK)
        code = cli_fail(&err);
    if (stop_serving)
        sdnotify_send("STOPPING=1");
    sched_stop(sc); /* runs in flight end after their batch */
    if (!code)
        pm_info("serve: stopped");
    sched_free(sc);
    notifier_free(parts.nf);
    http_server_free(srv);
    users_db_free(users);
    serve_mcp_free(m);
    if (t.store)
        store_close(t.store);
    free(origins_buf);
    return code;
}
