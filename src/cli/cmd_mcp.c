/* cmd_mcp.c - `pipemend mcp`: pipemend as an MCP server over stdio, and
 * the product's tool table it registers into the generic src/mcp part.
 *
 * The warehouse is opened at the first tool call that needs it, not at
 * start: an MCP client that launches pipemend with a wrong --db still gets
 * a working server whose tools explain what to fix, instead of a process
 * that died before the handshake. Standard output carries the protocol
 * only; logs go to stderr. */
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit/audit.h"
#include "cli/cli.h"
#include "core/log.h"
#include "cli/mcp_tools.h"
#include "http/health.h"
#include "http/mcp_route.h"
#include "mcp/mcp.h"

pm_store *mcp_tools_store(tools_ctx *t, mcp_call *call)
{
    if (t->store)
        return t->store;
    pm_err err = {0};
    if (!t->db || !*t->db) {
        mcp_call_fail(call, "no warehouse configured for this MCP server; hint: start it as "
                            "`pipemend mcp --db sqlite:PATH`, set PIPEMEND_DB, or put db: in "
                            "pipemend.yaml");
        return NULL;
    }
    if (store_open(t->db, &t->store, &err) != PM_OK) {
        t->store = NULL;
        mcp_call_fail_err(call, &err);
        return NULL;
    }
    return t->store;
}

pm_table *mcp_tools_table(pm_store *s, const char *name, pm_arena *a, mcp_call *call)
{
    pm_err err = {0};
    pm_table *t = NULL;
    if (store_table_load(s, name, a, &t, &err) != PM_OK) {
        mcp_call_fail_err(call, &err);
        return NULL;
    }
    if (!t)
        mcp_call_fail(call,
                      "no table \"%s\" in the warehouse; hint: call list_tables for the tables "
                      "pipemend loads into",
                      name);
    return t;
}

const char *mcp_tools_actor(mcp_call *call, char *buf, size_t n)
{
    const char *name = mcp_call_client_name(call);
    snprintf(buf, n, "agent:%s", name && *name ? name : "unknown");
    return buf;
}

/* ---- list_tables ------------------------------------------------------- */

static json_t *tool_list_tables(void *ctx, json_t *args, mcp_call *call)
{
    pm_store *s = mcp_tools_store(ctx, call);
    if (!s)
        return NULL;
    pm_arena *a = pm_arena_new(0);
    pm_err err = {0};
    pm_table **ts;
    size_t n;
    json_t *arr = json_array();
    if (store_tables_brief(s, a, &ts, &n, &err) != PM_OK)
        goto fail;
    for (size_t i = 0; i < n; i++) {
        int64_t rows = 0, nq = 0;
        if (store_table_count(s, ts[i]->name, &rows, &err) != PM_OK ||
            store_quarantine_count(s, ts[i]->name, &nq, &err) != PM_OK)
            goto fail;
        json_array_append_new(arr, json_pack("{s:s, s:i, s:I, s:I}", "name", ts[i]->name, "version",
                                             ts[i]->version, "rows", (json_int_t)rows,
                                             "quarantined", (json_int_t)nq));
    }
    pm_arena_free(a);
    return json_pack("{s:o}", "tables", arr);
fail:
    json_decref(arr);
    pm_arena_free(a);
    mcp_call_fail_err(call, &err);
    return NULL;
}

/* ---- verify_audit_log ------------------------------------------------------ */

static json_t *tool_verify_audit_log(void *ctx, json_t *args, mcp_call *call)
{
    pm_store *s = mcp_tools_store(ctx, call);
    if (!s)
        return NULL;
    pm_arena *a = pm_arena_new(0);
    pm_err err = {0};
    audit_verdict v;
    if (audit_verify(s, a, &v, &err) != PM_OK) {
        pm_arena_free(a);
        mcp_call_fail_err(call, &err);
        return NULL;
    }
    /* A broken chain is the tool's finding, not its failure. */
    json_t *o = json_pack("{s:b, s:I}", "intact", v.intact, "events", (json_int_t)v.events);
    if (!v.intact) {
        json_object_set_new(o, "broken_seq", json_integer(v.broken_seq));
        json_object_set_new(o, "problem", json_string(v.problem ? v.problem : ""));
    }
    pm_arena_free(a);
    return o;
}

/* ---- the table ------------------------------------------------------------ */

#define NO_ARGS MCP_NO_ARGS
#define READ_ONLY MCP_READ_ONLY

static const mcp_tool pipemend_tools[] = {
    {
        .name = "list_tables",
        .title = "List tables",
        .description = "Every table pipemend loads into, with its schema version, its row count "
                       "and how many of its rows wait in quarantine.",
        .input_schema = NO_ARGS,
        .output_schema =
            "{\"type\":\"object\",\"required\":[\"tables\"],\"properties\":{\"tables\":{"
            "\"type\":\"array\",\"items\":{\"type\":\"object\","
            "\"required\":[\"name\",\"version\",\"rows\",\"quarantined\"],\"properties\":{"
            "\"name\":{\"type\":\"string\"},"
            "\"version\":{\"type\":\"integer\",\"description\":\"schema version\"},"
            "\"rows\":{\"type\":\"integer\"},"
            "\"quarantined\":{\"type\":\"integer\",\"description\":\"rows in quarantine\"}}}}}}",
        .hints = READ_ONLY,
        .call = tool_list_tables,
    },
    {
        .name = "verify_audit_log",
        .title = "Verify the audit log",
        .description = "Check the SHA-256 hash chain of pipemend's audit log: intact, or the "
                       "first event that was edited, removed or reordered and why.",
        .input_schema = NO_ARGS,
        .output_schema =
            "{\"type\":\"object\",\"required\":[\"intact\",\"events\"],\"properties\":{"
            "\"intact\":{\"type\":\"boolean\"},"
            "\"events\":{\"type\":\"integer\",\"description\":\"events checked\"},"
            "\"broken_seq\":{\"type\":\"integer\",\"description\":\"first event that does not "
            "fit (only when not intact)\"},"
            "\"problem\":{\"type\":\"string\"}}}",
        .hints = READ_ONLY,
        .call = tool_verify_audit_log,
    },
};

/* The product's server: every table registered. serialize: handlers run
 * one at a time (HTTP serves sessions on many threads; the warehouse
 * connection is one). */
static mcp_server *product_server(tools_ctx *t, bool serialize, pm_err *err)
{
    mcp_server_info info = {.name = "pipemend",
                            .title = "pipemend",
                            .version = PIPEMEND_VERSION,
                            .instructions = MCP_INSTRUCTIONS,
                            .serialize = serialize};
    mcp_server *s = mcp_server_new(&info);
    if (!s) {
        pm_err_set(err, PM_ERR_NOMEM, "out of memory");
        return NULL;
    }
    if (mcp_server_add_tools(s, pipemend_tools, sizeof pipemend_tools / sizeof pipemend_tools[0], t,
                             err) != PM_OK ||
        mcp_server_add_tools(s, mcp_read_tools, mcp_read_ntools, t, err) != PM_OK ||
        mcp_server_add_tools(s, mcp_act_tools, mcp_act_ntools, t, err) != PM_OK ||
        mcp_server_add_resources(s, mcp_resources_table, mcp_resources_n, t, err) != PM_OK ||
        mcp_server_add_prompts(s, mcp_resources_prompts, mcp_resources_nprompts, t, err) != PM_OK) {
        mcp_server_free(s);
        return NULL;
    }
    t->server = s;
    return s;
}

/* `pipemend mcp docs`: the tool reference, from the tables served. */
static int print_docs(tools_ctx *t)
{
    pm_err err = {0};
    mcp_server *s = product_server(t, false, &err);
    if (!s)
        return cli_fail(&err);
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
    mcp_server_free(s);
    return code;
}

int cmd_mcp(cli_ctx *ctx)
{
    if (ctx->argc == 1 && strcmp(ctx->argv[0], "docs") == 0) {
        tools_ctx t = {.db = ctx->db, .cfg = ctx->cfg};
        return print_docs(&t);
    }
    if (ctx->argc) {
        fprintf(stderr, "pipemend: error: mcp takes no arguments but \"docs\"\n");
        cli_usage_of("mcp");
        return EXIT_USAGE;
    }
    /* A client that goes away mid-response is an I/O error, not a signal. */
    signal(SIGPIPE, SIG_IGN);
    tools_ctx t = {.db = ctx->db, .cfg = ctx->cfg};
    pm_err err = {0};
    int code = 0;
    mcp_server *s = product_server(&t, false, &err);
    if (!s || mcp_stdio_serve(s, STDIN_FILENO, STDOUT_FILENO, &err) != PM_OK)
        code = cli_fail(&err);
    mcp_server_free(s);
    if (t.store)
        store_close(t.store);
    return code;
}

/* ---- serve: Streamable HTTP ----------------------------------------------- */

static volatile sig_atomic_t stop_serving;

static void on_signal(int sig)
{
    stop_serving = 1;
}

static void on_ready(void *arg, const char *host, int port)
{
    bool v6 = strchr(host, ':') != NULL;
    printf("pipemend: MCP over Streamable HTTP at http://%s%s%s:%d/mcp\n", v6 ? "[" : "", host,
           v6 ? "]" : "", port);
    fflush(stdout);
}

/* The token: --token-file's first line, else $PIPEMEND_MCP_TOKEN; NULL
 * for none. Fails on an unreadable or empty file. */
static pm_code read_token(const char *path, char *buf, size_t n, const char **out, pm_err *err)
{
    *out = NULL;
    if (!path) {
        const char *env = getenv("PIPEMEND_MCP_TOKEN");
        if (env && *env && strlen(env) < 16) {
            pm_err_set(err, PM_ERR_CONFIG, "PIPEMEND_MCP_TOKEN is shorter than 16 characters");
            pm_err_hint(err, "use a long random secret, e.g. `export PIPEMEND_MCP_TOKEN=$(openssl "
                             "rand -hex 32)`");
            return PM_ERR_CONFIG;
        }
        *out = env && *env ? env : NULL;
        return PM_OK;
    }
    FILE *f = fopen(path, "r");
    if (!f)
        return pm_err_set(err, PM_ERR_CONFIG, "cannot read the token file %s: %s", path,
                          strerror(errno));
    if (!fgets(buf, (int)n, f))
        buf[0] = 0;
    fclose(f);
    buf[strcspn(buf, "\r\n")] = 0;
    if (strlen(buf) < 16) {
        pm_err_set(err, PM_ERR_CONFIG, "the token in %s is empty or shorter than 16 characters",
                   path);
        pm_err_hint(err, "write a long random secret there, e.g. `openssl rand -hex 32 > %s`",
                    path);
        return PM_ERR_CONFIG;
    }
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
        fprintf(stderr, "pipemend: error: serve takes no arguments\n");
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
        read_token(ctx->token_file, tokbuf, sizeof tokbuf, &token, &err) != PM_OK)
        return cli_fail(&err);
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
    tools_ctx t = {.db = ctx->db, .cfg = ctx->cfg};
    int code = 0;
    mcp_server *s = product_server(&t, true, &err);
    http_opts o = {.host = host,
                   .port = port,
                   .token = token,
                   .origins = origins,
                   .ready = on_ready,
                   .stop = &stop_serving};
    http_server *srv = s ? http_server_new(&o) : NULL;
    if (!srv || http_mcp_mount(srv, s, NULL, &err) != PM_OK ||
        http_health_mount(srv, &err) != PM_OK || http_server_run(srv, &err) != PM_OK)
        code = cli_fail(&err);
    else
        pm_info("serve: stopped");
    http_server_free(srv);
    mcp_server_free(s);
    if (t.store)
        store_close(t.store);
    free(origins_buf);
    return code;
}
