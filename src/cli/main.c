/* main.c - `pipemend <command>`: option parsing, dispatch and --help, all
 * from the one command table in commands.def. Nothing below main() exits:
 * commands return their exit code here. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit/audit.h"
#include "cli/cli.h"
#include "pipeline/notify.h"
#include "store/store.h"
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

/* The options (options.def): the parser's table and each command's help. */
typedef struct option_def {
    const char *name;
    int code;
    const char *short_name; /* "-q", or NULL */
    const char *arg;        /* the value's placeholder, or NULL for a flag */
    const char *commands;   /* who takes it: names separated by spaces, or "*" */
    const char *help;
} option_def;

static const option_def options[] = {
#define OPT(name, code, short_name, arg, commands, help)                                           \
    {name, code, short_name, arg, commands, help},
#include "cli/options.def"
#undef OPT
};
#define NOPTIONS (sizeof options / sizeof options[0])

/* One or two examples per command, shown under its --help (and in the man
 * page); a command without a line here shows none. */
static const struct {
    const char *command;
    const char *text;
} examples[] = {
    {"ingest", "pipemend ingest --db sqlite:w.db --table orders orders.ndjson"},
    {"ingest", "gunzip -c events.csv.gz | pipemend --db sqlite:w.db ingest --table events "
               "--format csv -"},
    {"run", "pipemend run orders   # the pipeline \"orders\" of ./pipemend.yaml"},
    {"runs", "pipemend runs --db sqlite:w.db --table orders --limit 10"},
    {"status", "pipemend status --db sqlite:w.db"},
    {"status", "pipemend --db sqlite:w.db status --json"},
    {"schema", "pipemend schema show --db sqlite:w.db --table orders"},
    {"schema", "pipemend schema list --db sqlite:w.db --json"},
    {"quarantine", "pipemend quarantine list --db sqlite:w.db --table orders --run 3"},
    {"quarantine", "pipemend quarantine replay --db sqlite:w.db --table orders"},
    {"incidents", "pipemend incidents list --db sqlite:w.db"},
    {"incidents", "pipemend incidents show 4 --db sqlite:w.db"},
    {"proposals", "pipemend proposals approve --table orders --all --db sqlite:w.db"},
    {"proposals", "pipemend proposals approve 7 --db sqlite:w.db --actor alice"},
    {"audit", "pipemend audit verify --db sqlite:w.db"},
    {"audit", "pipemend audit log --db sqlite:w.db --limit 20 --json"},
    {"table", "pipemend table reset orders --db sqlite:w.db"},
    {"table", "pipemend table drop scratch --db sqlite:w.db --yes --actor alice"},
    {"mcp", "claude mcp add pipemend -- pipemend mcp --db sqlite:/abs/path/w.db"},
    {"serve", "pipemend serve --db postgresql://pipemend_app@db/warehouse --listen 0.0.0.0:8765 "
              "--token-file /etc/pipemend/token"},
    {"init", "pipemend init --print-grants --role pipemend_app | psql -d warehouse"},
    {"demo", "pipemend demo --dir /tmp/pipemend-demo"},
    {"agent", "pipemend agent run --incident 7 --db sqlite:w.db"},
    {"agent", "pipemend agent sessions show 3 --db sqlite:w.db --json"},
    {"policy", "pipemend policy approve 1 --db sqlite:w.db --actor alice"},
    {"notifications", "pipemend notifications list --db sqlite:w.db"},
    {"proposals", "pipemend proposals export 7 --dir migrations --db sqlite:w.db"},
    {"users", "pipemend users add alice --role operator"},
    {"users", "pipemend users list --json"},
    {"help", "pipemend help ingest"},
};

static const command *command_named(const char *name)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

/* Whether the command takes option o. */
static bool option_for(const option_def *o, const char *cmdname)
{
    if (strcmp(o->commands, "*") == 0)
        return true;
    size_t n = strlen(cmdname);
    for (const char *p = o->commands; (p = strstr(p, cmdname)) != NULL; p += n) {
        bool starts = p == o->commands || p[-1] == ' ';
        if (starts && (p[n] == ' ' || p[n] == '\0'))
            return true;
    }
    return false;
}

/* Prints text from column indent, wrapped at 79 columns; the first line
 * continues where the caller left the cursor (at column at). */
static void print_wrapped(FILE *out, const char *text, int indent, int at)
{
    int col = at;
    if (col < indent) {
        fprintf(out, "%*s", indent - col, "");
        col = indent;
    }
    bool first = true;
    for (const char *p = text; *p;) {
        while (*p == ' ')
            p++;
        size_t w = strcspn(p, " ");
        if (!w)
            break;
        if (!first && col + 1 + (int)w > 79) {
            fprintf(out, "\n%*s", indent, "");
            col = indent;
        } else if (!first) {
            fputc(' ', out);
            col++;
        }
        fwrite(p, 1, w, out);
        col += (int)w;
        p += w;
        first = false;
    }
    fputc('\n', out);
}

/* "  -q, --quiet  help" for each option the command cmdname takes (when
 * NULL: those every command takes). */
static void print_options(FILE *out, const char *cmdname)
{
    for (size_t i = 0; i < NOPTIONS; i++) {
        const option_def *o = &options[i];
        if (cmdname ? !option_for(o, cmdname) : strcmp(o->commands, "*") != 0)
            continue;
        int n =
            fprintf(out, "  %s%s--%s%s%s", o->short_name ? o->short_name : "",
                    o->short_name ? ", " : "", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
        if (n > 21) {
            fputc('\n', out);
            n = 0;
        }
        print_wrapped(out, o->help, 22, n);
    }
}

static const char exit_codes_help[] =
    "Exit codes: 0 every row loaded; 3 finished with rows quarantined (nothing lost);\n"
    "2 usage or configuration error; 1 the run could not proceed.\n";

/* The next " | " that separates two usages in a command's usage text,
 * or NULL: a bar inside parentheses or brackets is a choice within one
 * usage ("discard (--table NAME | --run ID | ID)"). */
static const char *next_usage(const char *p)
{
    int depth = 0;
    for (; *p; p++) {
        if (*p == '(' || *p == '[')
            depth++;
        else if ((*p == ')' || *p == ']') && depth > 0)
            depth--;
        else if (depth == 0 && strncmp(p, " | ", 3) == 0)
            return p;
    }
    return NULL;
}

static void usage_all(FILE *out)
{
    fprintf(out,
            "pipemend %s - self-healing data ingestion\n\nUsage: pipemend COMMAND [OPTIONS] "
            "[ARGS]   (options may also come before COMMAND)\n\nCommands:\n",
            PIPEMEND_VERSION);
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(out, "  %-11s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\nOptions every command takes (before or after the command):\n");
    print_options(out, NULL);
    fprintf(out,
            "      --version       the version\n"
            "Commands that use a warehouse also take --db URL and --config FILE.\n\n%s\n"
            "Run 'pipemend help COMMAND' for a command's options and examples.\n",
            exit_codes_help);
}

void cli_usage_of(const char *name)
{
    const command *c = command_named(name);
    if (!c) {
        usage_all(stdout);
        return;
    }
    /* "a | b" in the table: one usage line each */
    printf("Usage: ");
    for (const char *p = c->usage;;) {
        const char *bar = next_usage(p);
        printf("pipemend %.*s\n", bar ? (int)(bar - p) : (int)strlen(p), p);
        if (!bar)
            break;
        p = bar + 3;
        printf("       ");
    }
    printf("\n");
    printf("%s\n", c->summary);
    printf("\nOptions (before or after the command):\n");
    print_options(stdout, name);
    bool any = false;
    for (size_t i = 0; i < sizeof examples / sizeof examples[0]; i++) {
        if (strcmp(examples[i].command, name) != 0)
            continue;
        printf("%s  %s\n", any ? "" : "\nExamples:\n", examples[i].text);
        any = true;
    }
    printf("\n%s", exit_codes_help);
}

/* ---- the manual page and shell completion, from the same tables ---------- */

/* s for roff: backslashes escaped, dashes as \-, a leading '.' or '\'' kept
 * from being a request. */
static void roff(FILE *out, const char *s)
{
    if (*s == '.' || *s == '\'')
        fputs("\\&", out);
    for (; *s; s++) {
        if (*s == '\\')
            fputs("\\e", out);
        else if (*s == '-')
            fputs("\\-", out);
        else
            fputc(*s, out);
    }
}

static void man_option(FILE *out, const option_def *o)
{
    fputs(o->arg ? ".TP\n.BI \"" : ".TP\n.B \"", out);
    if (o->short_name) {
        roff(out, o->short_name);
        fputs(", ", out);
    }
    fputs("\\-\\-", out);
    roff(out, o->name);
    if (o->arg) {
        fputs(" \" \"", out);
        roff(out, o->arg);
    }
    fputs("\"\n", out);
    roff(out, o->help);
    fputc('\n', out);
}

static void print_man(FILE *out)
{
    fprintf(out,
            ".\\\" pipemend.1 - generated by `pipemend help --man` from the command and option\n"
            ".\\\" tables (src/cli/commands.def, src/cli/options.def); do not edit.\n"
            ".TH PIPEMEND 1 \"\" \"pipemend %s\" \"User Commands\"\n"
            ".SH NAME\npipemend \\- self-healing data ingestion\n"
            ".SH SYNOPSIS\n.B pipemend\n.I COMMAND\n[\\fIOPTIONS\\fR] [\\fIARGS\\fR]\n"
            ".SH DESCRIPTION\n"
            "pipemend loads NDJSON and CSV feeds into SQLite or PostgreSQL tables. When a feed "
            "drifts, clean rows keep landing, drifted rows are quarantined with a diagnosis, and "
            "a repair is planned, checked, tried in a sandbox and applied (by itself when safe, "
            "after a person's approval otherwise); every decision is recorded in a hash-chained "
            "audit log.\n.PP\n"
            "Options may come before or after the command; each command takes only the options "
            "listed under it.\n"
            ".SH COMMANDS\n",
            PIPEMEND_VERSION);
    for (size_t i = 0; i < NCOMMANDS; i++) {
        const command *c = &commands[i];
        fputs(".SS ", out);
        roff(out, c->name);
        fputs("\n.nf\n", out);
        for (const char *p = c->usage;;) {
            const char *bar = next_usage(p);
            char line[1024];
            snprintf(line, sizeof line, "pipemend %.*s", bar ? (int)(bar - p) : (int)strlen(p), p);
            fputs(".B ", out);
            roff(out, line);
            fputc('\n', out);
            if (!bar)
                break;
            p = bar + 3;
        }
        fputs(".fi\n.PP\n", out);
        roff(out, c->summary);
        fputs(".\n.PP\nOptions:\n.RS\n", out);
        for (size_t k = 0; k < NOPTIONS; k++)
            if (option_for(&options[k], c->name))
                man_option(out, &options[k]);
        fputs(".RE\n", out);
        bool any = false;
        for (size_t k = 0; k < sizeof examples / sizeof examples[0]; k++) {
            if (strcmp(examples[k].command, c->name) != 0)
                continue;
            if (!any)
                fputs(".PP\nExamples:\n.RS\n.nf\n", out);
            roff(out, examples[k].text);
            fputc('\n', out);
            any = true;
        }
        if (any)
            fputs(".fi\n.RE\n", out);
    }
    fputs(".SH ENVIRONMENT\n"
          ".TP\n.B PIPEMEND_DB\nthe warehouse when \\-\\-db is not given (before db: in "
          "pipemend.yaml)\n"
          ".TP\n.B PIPEMEND_MCP_TOKEN\nthe bearer token of serve when \\-\\-token\\-file is not "
          "given\n"
          ".TP\n.B PIPEMEND_AUDIT_ANCHOR\nthe audit anchor file when \\-\\-anchor is not given\n"
          ".TP\n.B PGHOST, PGPORT, PGUSER, PGDATABASE, PGPASSWORD\nfill what a PostgreSQL URL "
          "leaves out (libpq)\n"
          ".SH FILES\n.TP\n.B ./pipemend.yaml\nthe configuration (pipelines, contracts, "
          "policies), read by the commands that use a warehouse\n"
          ".SH EXIT STATUS\n"
          ".TP\n.B 0\nevery row loaded (or the command did what it was asked)\n"
          ".TP\n.B 3\nfinished with rows quarantined (nothing lost)\n"
          ".TP\n.B 2\nusage or configuration error\n"
          ".TP\n.B 1\nthe run could not proceed\n",
          out);
}

/* Values an option's argument takes, for completion. */
static const struct {
    const char *option;
    const char *words; /* a list, or "@file" / "@table" for those */
} completion_values[] = {
    {"format", "ndjson json csv tsv"},
    {"policy", "auto review frozen"},
    {"delimiter", "comma semicolon tab pipe"},
    {"on-rewrite", "stop skip reload"},
    {"table", "@table"},
    {"config", "@file"},
    {"output", "@file"},
    {"anchor", "@file"},
    {"token-file", "@file"},
    {"dir", "@dir"},
};

/* The subcommands of a command: the first word of each usage alternative
 * that is a plain word ("quarantine list ... | quarantine show ID"). */
static void print_subcommands(FILE *out, const command *c)
{
    bool first = true;
    size_t n = strlen(c->name);
    for (const char *p = c->usage; p;) {
        const char *w = p + n + 1;
        if (strncmp(p, c->name, n) == 0 && p[n] == ' ') {
            size_t len = strspn(w, "abcdefghijklmnopqrstuvwxyz");
            if (len && (w[len] == ' ' || w[len] == '\0' || w[len] == '|')) {
                fprintf(out, "%s%.*s", first ? "" : " ", (int)len, w);
                first = false;
            }
        }
        p = next_usage(p);
        if (p)
            p += 3;
    }
}

static void print_bash_completion(FILE *out)
{
    fputs("# bash completion for pipemend, generated by `pipemend help --completion bash`\n"
          "# from the command and option tables; do not edit.\n"
          "# Completes commands, subcommands, each command's options, --table from the\n"
          "# warehouse's tables and the IDs of quarantined rows, incidents and proposals.\n"
          "_pipemend_with_db() {\n"
          "    local i w db=()\n"
          "    for ((i = 1; i < ${#COMP_WORDS[@]}; i++)); do\n"
          "        w=${COMP_WORDS[i]}\n"
          "        case $w in\n"
          "        --db) db=(--db \"${COMP_WORDS[i + 1]}\") ;;\n"
          "        --db=*) db=(\"$w\") ;;\n"
          "        esac\n"
          "    done\n"
          "    pipemend \"${db[@]}\" \"$@\" 2>/dev/null\n"
          "}\n"
          "_pipemend() {\n"
          "    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}\n"
          "    local i w cmd= sub= words=\n"
          "    COMPREPLY=()\n"
          "    for ((i = 1; i < COMP_CWORD; i++)); do\n"
          "        w=${COMP_WORDS[i]}\n"
          "        case $w in\n",
          out);
    /* the options that take a value skip it */
    fputs("        ", out);
    bool first = true;
    for (size_t i = 0; i < NOPTIONS; i++) {
        if (!options[i].arg)
            continue;
        fprintf(out, "%s--%s", first ? "" : "|", options[i].name);
        first = false;
    }
    fputs(") ((i++)) ;;\n"
          "        -*) ;;\n"
          "        *) if [[ -z $cmd ]]; then cmd=$w; elif [[ -z $sub ]]; then sub=$w; fi ;;\n"
          "        esac\n"
          "    done\n"
          "    case $prev in\n",
          out);
    for (size_t i = 0; i < sizeof completion_values / sizeof completion_values[0]; i++) {
        const char *v = completion_values[i].words;
        fprintf(out, "    --%s) ", completion_values[i].option);
        if (strcmp(v, "@file") == 0)
            fputs("COMPREPLY=($(compgen -f -- \"$cur\")); return ;;\n", out);
        else if (strcmp(v, "@dir") == 0)
            fputs("COMPREPLY=($(compgen -d -- \"$cur\")); return ;;\n", out);
        else if (strcmp(v, "@table") == 0)
            fputs("COMPREPLY=($(compgen -W \"$(_pipemend_with_db schema list | "
                  "awk '/ version /{print $1}')\" -- \"$cur\")); return ;;\n",
                  out);
        else
            fprintf(out, "COMPREPLY=($(compgen -W \"%s\" -- \"$cur\")); return ;;\n", v);
    }
    /* any other option with a value: nothing to offer */
    fputs("    ", out);
    first = true;
    for (size_t i = 0; i < NOPTIONS; i++) {
        if (!options[i].arg)
            continue;
        fprintf(out, "%s--%s", first ? "" : "|", options[i].name);
        first = false;
    }
    fputs(") return ;;\n    esac\n", out);
    /* no command yet: the commands and the options every command takes */
    fputs("    if [[ -z $cmd ]]; then\n        words=\"", out);
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(out, "%s%s", i ? " " : "", commands[i].name);
    for (size_t i = 0; i < NOPTIONS; i++)
        if (strcmp(options[i].commands, "*") == 0)
            fprintf(out, " --%s", options[i].name);
    fputs(" --version\"\n"
          "        COMPREPLY=($(compgen -W \"$words\" -- \"$cur\"))\n"
          "        return\n"
          "    fi\n"
          "    if [[ $cur == -* ]]; then\n"
          "        case $cmd in\n",
          out);
    for (size_t c = 0; c < NCOMMANDS; c++) {
        fprintf(out, "        %s) words=\"", commands[c].name);
        first = true;
        for (size_t i = 0; i < NOPTIONS; i++) {
            if (!option_for(&options[i], commands[c].name))
                continue;
            fprintf(out, "%s--%s", first ? "" : " ", options[i].name);
            first = false;
        }
        fputs("\" ;;\n", out);
    }
    fputs("        esac\n"
          "        COMPREPLY=($(compgen -W \"$words\" -- \"$cur\"))\n"
          "        return\n"
          "    fi\n"
          "    case $cmd in\n",
          out);
    for (size_t c = 0; c < NCOMMANDS; c++) {
        char subs[256] = "";
        FILE *m = fmemopen(subs, sizeof subs, "w");
        if (!m)
            continue;
        print_subcommands(m, &commands[c]);
        fclose(m);
        if (!*subs)
            continue;
        fprintf(out, "    %s) [[ -z $sub ]] && words=\"%s\" ;;\n", commands[c].name, subs);
    }
    fputs("    help) words=\"", out);
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(out, "%s%s", i ? " " : "", commands[i].name);
    fputs("\" ;;\n"
          "    ingest) COMPREPLY=($(compgen -f -- \"$cur\")); return ;;\n"
          "    esac\n"
          "    if [[ -n $sub && -z $words ]]; then\n"
          "        case \"$cmd $sub\" in\n"
          "        \"quarantine show\" | \"quarantine discard\") words=$(_pipemend_with_db "
          "quarantine list --limit 1000 | sed -n 's/^#\\([0-9]*\\).*/\\1/p') ;;\n"
          "        \"incidents show\" | \"incidents dismiss\") words=$(_pipemend_with_db "
          "incidents list | sed -n 's/^#\\([0-9]*\\).*/\\1/p') ;;\n"
          "        \"proposals show\" | \"proposals approve\" | \"proposals reject\") "
          "words=$(_pipemend_with_db proposals list | sed -n 's/^#\\([0-9]*\\).*/\\1/p') ;;\n"
          "        \"table reset\" | \"table drop\") words=$(_pipemend_with_db schema list | "
          "awk '/ version /{print $1}') ;;\n"
          "        esac\n"
          "    fi\n"
          "    COMPREPLY=($(compgen -W \"$words\" -- \"$cur\"))\n"
          "}\n"
          "complete -F _pipemend pipemend\n",
          out);
}

int cmd_help(cli_ctx *ctx)
{
    if (ctx->man) {
        print_man(stdout);
        return 0;
    }
    if (ctx->completion) {
        if (strcmp(ctx->completion, "bash") != 0) {
            return cli_error(EXIT_USAGE,
                             "zsh loads it too: autoload -U bashcompinit && bashcompinit",
                             "no completion for \"%s\" (only bash)", ctx->completion);
        }
        print_bash_completion(stdout);
        return 0;
    }
    if (ctx->argc > 0) {
        if (command_named(ctx->argv[0])) {
            cli_usage_of(ctx->argv[0]);
            return 0;
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

static const option_def *option_of(int code)
{
    for (size_t i = 0; i < NOPTIONS; i++)
        if (options[i].code == code)
            return &options[i];
    return NULL;
}

/* The commands (and subcommands) that read nothing from pipemend.yaml: all
 * they need is the warehouse. The others read its pipelines (ingest, run),
 * contracts and policies (ingest, run, replay, approve, reject, dismiss),
 * the audit anchor (audit verify, anchor) or all of it (mcp, serve). */
static const char *const without_config[] = {
    "status",
    "runs",
    "schema",
    "quarantine list",
    "quarantine show",
    "quarantine export",
    "quarantine discard",
    "incidents list",
    "incidents show",
    "proposals list",
    "proposals show",
    "audit log",
};

/* "status" or "quarantine list" when cmd (with its subcommand) is one of
 * without_config, else NULL. */
static const char *reads_no_config(const command *cmd, const cli_ctx *ctx)
{
    size_t n = strlen(cmd->name);
    for (size_t i = 0; i < sizeof without_config / sizeof without_config[0]; i++) {
        const char *c = without_config[i];
        if (strncmp(c, cmd->name, n) != 0)
            continue;
        if (c[n] == '\0')
            return c;
        if (c[n] == ' ' && ctx->argc && strcmp(c + n + 1, ctx->argv[0]) == 0)
            return c;
    }
    return NULL;
}

/* Parses args (argv without the command) into ctx and runs cmd. */
static int run_command(const command *cmd, int argc, char **argv, const struct option *longopts,
                       const char *shortopts)
{
    cli_ctx ctx = {.command = cmd->name};
    optind = 1;
    opterr = 0;
    int c;
    long long n;
    /* "-" (stdin) is a positional argument, which getopt leaves alone. */
    while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
        const option_def *o = option_of(c);
        if (o && !option_for(o, cmd->name)) {
            cli_error(EXIT_USAGE, NULL, "%s takes no option --%s", cmd->name, o->name);
            fprintf(stderr, "  usage: pipemend %s\n  see: pipemend help %s\n", cmd->usage,
                    cmd->name);
            return EXIT_USAGE;
        }
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
        case 'S':
            ctx.delimiter = optarg;
            break;
        case 'E':
            ctx.encoding = optarg;
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
        case 'w':
            ctx.on_rewrite = optarg;
            break;
        case 'z':
            ctx.final = true;
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
        case 'W':
            ctx.open = true;
            break;
        case 'o':
            ctx.output = optarg;
            break;
        case 'y':
            ctx.yes = true;
            break;
        case 'B':
            ctx.all = true;
            break;
        case 'M':
            ctx.man = true;
            break;
        case 'C':
            ctx.completion = optarg;
            break;
        case 'j':
            ctx.json = true;
            break;
        case 'q':
            ctx.quiet = true;
            break;
        case 'F':
            if (strcmp(optarg, "json") == 0)
                pm_log_set_format(PM_LOG_JSON);
            else if (strcmp(optarg, "text") == 0)
                pm_log_set_format(PM_LOG_TEXT);
            else
                return cli_error(EXIT_USAGE, NULL, "--log-format takes text or json, got \"%s\"",
                                 optarg);
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
        default: {
            char hint[1024];
            snprintf(hint, sizeof hint, "usage: pipemend %s", cmd->usage);
            return cli_error(EXIT_USAGE, hint, "unknown or incomplete option \"%s\"",
                             argv[optind - 1]);
        }
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
        if (!ctx.db)
            ctx.db = getenv("PIPEMEND_DB");
        if (config_load(ctx.config_path, &ctx.cfg, &err) != PM_OK) {
            /* A broken ./pipemend.yaml stops no command that reads nothing
             * from it, once the warehouse is given otherwise; one named
             * with --config is always read. */
            const char *what = reads_no_config(cmd, &ctx);
            if (ctx.config_path || !ctx.db || !*ctx.db || !what)
                return cli_fail(&err);
            fprintf(stderr, "pipemend: warning: ignored: %s\n  (%s reads nothing from it)\n",
                    cli_safe(err.msg), what);
            ctx.cfg = config_defaults();
        }
        if (!ctx.db || !*ctx.db)
            ctx.db = ctx.cfg->db;
        /* the audit chain's key, when the configuration names its variable */
        if (audit_key_use(ctx.cfg->audit_key_env, &err) != PM_OK)
            return cli_fail(&err);
        /* events with notify: sinks queue their notifications (notify.h) */
        notify_install(ctx.cfg);
        store_set_reconnect_seconds(ctx.cfg->pg_reconnect_seconds);
    }
    int rc = cmd->fn(&ctx);
    notify_install(NULL);
    config_free(ctx.cfg);
    fflush(stdout);
    return rc;
}

/* The option argv[i] names ("--db", "--db=x", "-q"), or NULL. */
static const option_def *option_at(const char *arg)
{
    if (arg[0] == '-' && arg[1] != '-') {
        for (size_t i = 0; i < NOPTIONS; i++)
            if (options[i].short_name && strcmp(options[i].short_name, arg) == 0)
                return &options[i];
        return NULL;
    }
    const char *name = arg + 2;
    size_t n = strcspn(name, "=");
    for (size_t i = 0; i < NOPTIONS; i++)
        if (strlen(options[i].name) == n && strncmp(options[i].name, name, n) == 0)
            return &options[i];
    return NULL;
}

/* Where the command is: the first argument that is neither an option nor
 * an option's value (options may come before it); argc when none. */
static int find_command(int argc, char **argv)
{
    int i = 1;
    while (i < argc && argv[i][0] == '-' && argv[i][1] && strcmp(argv[i], "--") != 0) {
        const option_def *o = option_at(argv[i]);
        i += o && o->arg && !strchr(argv[i], '=') ? 2 : 1;
    }
    return i < argc && strcmp(argv[i], "--") != 0 ? i : argc;
}

int main(int argc, char **argv)
{
    int at = find_command(argc, argv);
    if (at >= argc) {
        /* no command: --help and --version stand alone */
        for (int i = 1; i < argc; i++) {
            if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
                usage_all(stdout);
                return 0;
            }
            if (strcmp(argv[i], "--version") == 0) {
                printf("pipemend %s\n", PIPEMEND_VERSION);
                return 0;
            }
        }
        if (argc > 1)
            return cli_error(EXIT_USAGE, "run 'pipemend --help' for the commands",
                             "no command given");
        usage_all(stderr);
        return EXIT_USAGE;
    }
    const command *cmd = command_named(argv[at]);
    if (!cmd) {
        return cli_error(EXIT_USAGE, "run 'pipemend --help' for the list", "unknown command \"%s\"",
                         argv[at]);
    }

    /* getopt over the arguments without the command, so that options before
     * it parse as those after it do */
    char **args = malloc(sizeof *args * (size_t)(argc + 1));
    if (!args)
        return cli_error(EXIT_FAILED, NULL, "out of memory");
    int nargs = 0;
    for (int i = 0; i < argc; i++)
        if (i != at)
            args[nargs++] = argv[i];
    args[nargs] = NULL;
    struct option longopts[NOPTIONS + 1];
    char shortopts[2 * NOPTIONS + 1];
    size_t ns = 0;
    for (size_t i = 0; i < NOPTIONS; i++) {
        longopts[i] =
            (struct option){options[i].name, options[i].arg ? required_argument : no_argument, NULL,
                            options[i].code};
        if (options[i].short_name) {
            shortopts[ns++] = options[i].short_name[1];
            if (options[i].arg)
                shortopts[ns++] = ':';
        }
    }
    longopts[NOPTIONS] = (struct option){NULL, 0, NULL, 0};
    shortopts[ns] = '\0';
    int code = run_command(cmd, nargs, args, longopts, shortopts);
    free(args);
    return code;
}
