/* main.c - `pipemend <command>`: option parsing, dispatch and --help, all
 * from the one command table in commands.def. Nothing below main() exits:
 * commands return their exit code here. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/log.h"

typedef struct command {
    const char *name;
    int (*fn)(cli_ctx *ctx);
    const char *usage;
    const char *summary;
} command;

static const command commands[] = {
#define CMD(name, fn, usage, summary) {#name, fn, usage, summary},
#include "cli/commands.def"
#undef CMD
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

static const char options_help[] =
    "Options:\n"
    "  --db URL          warehouse: sqlite:PATH or postgresql://USER@HOST:PORT/DB (libpq's\n"
    "                    PG* variables fill the rest); default: $PIPEMEND_DB, then db: in\n"
    "                    pipemend.yaml\n"
    "  --config FILE     configuration file (default: ./pipemend.yaml if present)\n"
    "  --table NAME      target or filter table\n"
    "  --format FMT      ndjson or csv (default: from the file extension)\n"
    "  --pipeline NAME   pipeline name to record the run under, or to filter by\n"
    "  --run ID          filter by run\n"
    "  --policy MODE     auto (default: heal new columns and lossless widenings\n"
    "                    inline), review or frozen (quarantine drift, change nothing)\n"
    "  --limit N         at most N entries\n"
    "  --actor NAME      who approves or rejects a proposal (default: the OS user)\n"
    "  --print-grants    init: print the PostgreSQL roles and grants (SQL) to apply\n"
    "  --role NAME       init: the login pipemend connects as (default pipemend_app);\n"
    "                    users add: viewer, operator or agent\n"
    "  --adopt T[,T...]  init: existing tables in public that pipemend should own\n"
    "                    (and so heal)\n"
    "  --listen HOST:PORT  serve: where to listen (default 127.0.0.1:8765; port 0: any\n"
    "                    free port); beyond loopback a token is required\n"
    "  --token-file FILE serve: a file (mode 0600) whose first line is the bearer\n"
    "                    token clients must send; default: $PIPEMEND_MCP_TOKEN, else\n"
    "                    one generated on first start into\n"
    "                    ${XDG_CONFIG_HOME:-~/.config}/pipemend/serve-token. A token is\n"
    "                    32+ random characters (`openssl rand -hex 32`)\n"
    "  --no-token        serve: no token on loopback (a single-user machine: any\n"
    "                    local user can then use every tool); refused beyond loopback\n"
    "  --allow-origin O[,O...]  serve: browser Origins to admit beyond localhost\n"
    "  --anchor FILE     audit: the anchor file kept outside the warehouse (default:\n"
    "                    $PIPEMEND_AUDIT_ANCHOR, then audit_anchor: in pipemend.yaml,\n"
    "                    then pipemend-audit.anchor next to it; verify checks the\n"
    "                    default only if it exists)\n"
    "  --incident ID     agent run: the incident the agent takes\n"
    "  --open            agent run: every open incident of the kinds the agent takes\n"
    "                    (agent: kinds) that no session has taken yet\n"
    "  --json            print data as JSON on stdout\n"
    "  --dir DIR         demo directory\n"
    "  -q, --quiet       only errors on stderr\n"
    "  -v, --verbose     debug logging on stderr\n"
    "  -h, --help        this help\n"
    "\n"
    "Exit codes: 0 every row loaded; 3 finished with rows quarantined (nothing lost);\n"
    "2 usage or configuration error; 1 the run could not proceed.\n";

static void usage_all(FILE *out)
{
    fprintf(out,
            "pipemend %s - self-healing data ingestion\n\nUsage: pipemend COMMAND "
            "[OPTIONS]\n\nCommands:\n",
            PIPEMEND_VERSION);
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(out, "  %-11s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\n%s\nRun 'pipemend help COMMAND' for a command's usage.\n", options_help);
}

void cli_usage_of(const char *name)
{
    for (size_t i = 0; i < NCOMMANDS; i++) {
        if (strcmp(commands[i].name, name) == 0) {
            printf("Usage: pipemend %s\n\n%s\n\n%s", commands[i].usage, commands[i].summary,
                   options_help);
            return;
        }
    }
    usage_all(stdout);
}

int cmd_help(cli_ctx *ctx)
{
    if (ctx->argc > 0) {
        for (size_t i = 0; i < NCOMMANDS; i++) {
            if (strcmp(commands[i].name, ctx->argv[0]) == 0) {
                cli_usage_of(ctx->argv[0]);
                return 0;
            }
        }
        return cli_error(EXIT_USAGE, NULL, "no command \"%s\"", ctx->argv[0]);
    }
    usage_all(stdout);
    return 0;
}

static int parse_int(const char *s, long long min, long long *out)
{
    char *end;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || v < min)
        return -1;
    *out = v;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage_all(stderr);
        return EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage_all(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("pipemend %s\n", PIPEMEND_VERSION);
        return 0;
    }
    const command *cmd = NULL;
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i].name, argv[1]) == 0)
            cmd = &commands[i];
    if (!cmd) {
        return cli_error(EXIT_USAGE, "run 'pipemend --help' for the list", "unknown command \"%s\"",
                         argv[1]);
    }

    cli_ctx ctx = {.command = cmd->name};
    static const struct option longopts[] = {{"db", required_argument, NULL, 'd'},
                                             {"config", required_argument, NULL, 'c'},
                                             {"table", required_argument, NULL, 't'},
                                             {"format", required_argument, NULL, 'f'},
                                             {"pipeline", required_argument, NULL, 'p'},
                                             {"run", required_argument, NULL, 'r'},
                                             {"limit", required_argument, NULL, 'l'},
                                             {"policy", required_argument, NULL, 'P'},
                                             {"actor", required_argument, NULL, 'A'},
                                             {"dir", required_argument, NULL, 'D'},
                                             {"print-grants", no_argument, NULL, 'G'},
                                             {"role", required_argument, NULL, 'R'},
                                             {"adopt", required_argument, NULL, 'a'},
                                             {"listen", required_argument, NULL, 'L'},
                                             {"token-file", required_argument, NULL, 'T'},
                                             {"no-token", no_argument, NULL, 'N'},
                                             {"allow-origin", required_argument, NULL, 'O'},
                                             {"anchor", required_argument, NULL, 'K'},
                                             {"incident", required_argument, NULL, 'I'},
                                             {"open", no_argument, NULL, 'o'},
                                             {"json", no_argument, NULL, 'j'},
                                             {"quiet", no_argument, NULL, 'q'},
                                             {"verbose", no_argument, NULL, 'v'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    optind = 2;
    opterr = 0;
    int c;
    long long n;
    /* "-" (stdin) is a positional argument, which getopt leaves alone. */
    while ((c = getopt_long(argc, argv, "qvh", longopts, NULL)) != -1) {
        switch (c) {
        case 'd':
            ctx.db = optarg;
            break;
        case 'c':
            ctx.config_path = optarg;
            break;
        case 't':
            ctx.table = optarg;
            break;
        case 'f':
            ctx.format = optarg;
            break;
        case 'p':
            ctx.pipeline = optarg;
            break;
        case 'D':
            ctx.dir = optarg;
            break;
        case 'P':
            ctx.policy = optarg;
            break;
        case 'A':
            ctx.actor = optarg;
            break;
        case 'G':
            ctx.print_grants = true;
            break;
        case 'R':
            ctx.role = optarg;
            break;
        case 'a':
            if (ctx.adopt) {
                return cli_error(EXIT_USAGE,
                                 "name the tables once, separated by commas (--adopt "
                                 "orders,customers)",
                                 "--adopt given twice");
            }
            ctx.adopt = optarg;
            break;
        case 'L':
            ctx.listen = optarg;
            break;
        case 'T':
            ctx.token_file = optarg;
            break;
        case 'N':
            ctx.no_token = true;
            break;
        case 'O':
            ctx.origins = optarg;
            break;
        case 'K':
            ctx.anchor = optarg;
            break;
        case 'I':
            if (parse_int(optarg, 1, &n)) {
                return cli_error(EXIT_USAGE, "pipemend incidents list shows them",
                                 "--incident needs an incident id, got \"%s\"", optarg);
            }
            ctx.incident = n;
            break;
        case 'o':
            ctx.open = true;
            break;
        case 'j':
            ctx.json = true;
            break;
        case 'q':
            ctx.quiet = true;
            break;
        case 'v':
            pm_log_set_level(PM_LOG_DEBUG);
            break;
        case 'h':
            cli_usage_of(cmd->name);
            return 0;
        case 'r':
            if (parse_int(optarg, 1, &n)) {
                return cli_error(EXIT_USAGE, NULL, "--run needs a run id, got \"%s\"", optarg);
            }
            ctx.run_id = n;
            break;
        case 'l':
            if (parse_int(optarg, 1, &n) || n > 1000000000) {
                return cli_error(EXIT_USAGE, NULL, "--limit needs a positive number, got \"%s\"",
                                 optarg);
            }
            ctx.limit = (int)n;
            break;
        default:
            cli_error(EXIT_USAGE, NULL, "unknown or incomplete option \"%s\"", argv[optind - 1]);
            fprintf(stderr, "  usage: pipemend %s\n", cmd->usage);
            return EXIT_USAGE;
        }
    }
    if (ctx.quiet)
        pm_log_set_level(PM_LOG_ERROR);
    ctx.argc = argc - optind;
    ctx.argv = argv + optind;

    /* help, demo and init read no configuration and open no warehouse */
    if (strcmp(cmd->name, "help") != 0 && strcmp(cmd->name, "demo") != 0 &&
        strcmp(cmd->name, "init") != 0) {
        pm_err err = {0};
        if (config_load(ctx.config_path, &ctx.cfg, &err) != PM_OK)
            return cli_fail(&err);
        if (!ctx.db)
            ctx.db = getenv("PIPEMEND_DB");
        if (!ctx.db || !*ctx.db)
            ctx.db = ctx.cfg->db;
    }
    int rc = cmd->fn(&ctx);
    config_free(ctx.cfg);
    fflush(stdout);
    return rc;
}
