/* cli.h - shared state of one command invocation: the parsed options and
 * the configuration, and the helpers several commands share (cli.c).
 * Commands are listed in commands.def. */
#ifndef PM_CLI_CLI_H
#define PM_CLI_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include "pipeline/config.h"
#include "pipeline/ingest.h"
#include "store/store.h"

/* Exit codes (README): */
#define PIPEMEND_VERSION "0.1.0"

#define EXIT_LOADED 0      /* every row loaded */
#define EXIT_FAILED 1      /* the run could not proceed */
#define EXIT_USAGE 2       /* usage or configuration error */
#define EXIT_QUARANTINED 3 /* finished; some rows are quarantined */

typedef struct cli_ctx {
    const char *command;
    const char *db; /* from --db, else PIPEMEND_DB, else the config */
    const char *config_path;
    const char *table;
    const char *format;
    const char *delimiter; /* --delimiter (ingest): CSV , ; | or tab */
    const char *encoding;  /* --encoding (ingest): the files' character set */
    const char *pipeline;
    const char *dir;
    const char *policy;     /* --policy: auto, review or frozen */
    const char *on_rewrite; /* --on-rewrite: stop, skip or reload */
    bool final;             /* --final */
    const char *actor;      /* --actor: who approves or rejects */
    const char *role;       /* --role: the login init --print-grants sets up */
    bool print_grants;      /* --print-grants (init) */
    const char *adopt;      /* --adopt T[,T...]: tables init hands to pipemend */
    const char *listen;     /* --listen HOST:PORT (serve) */
    const char *token_file; /* --token-file FILE (serve) */
    bool no_token;          /* --no-token (serve, loopback only) */
    const char *origins;    /* --allow-origin A[,B...] (serve) */
    const char *anchor;     /* --anchor FILE (audit anchor, audit verify) */
    int64_t incident;       /* --incident ID (agent run) */
    bool open;              /* --open (agent run) */
    const char *output;     /* --output FILE (quarantine export) */
    bool yes;               /* --yes: do it without asking (quarantine discard) */
    bool all;               /* --all: every pending proposal of --table */
    bool man;               /* help --man: the manual page (roff) */
    const char *completion; /* help --completion SHELL: the completion script */
    int limit;
    int64_t run_id;
    bool json;
    bool quiet;
    int argc; /* positional arguments after the command */
    char **argv;
    pm_config *cfg;
} cli_ctx;

#define CMD(name, fn, usage, summary) int fn(cli_ctx *ctx);
#include "cli/commands.def"
#undef CMD

/* Prints err (message, detail, hint) to stderr; returns the exit code that
 * fits its code (2 for usage and configuration, 1 otherwise). Every error
 * a command reports goes through here. */
int cli_fail(const pm_err *err);
/* s as a terminal may show it (pm_utf8_escape_controls): every value a
 * person reads that came from a feed, a client or the warehouse goes
 * through here before printf. The copy lives until 16 more calls. NULL
 * stays NULL. */
const char *cli_safe(const char *s);
/* An error the CLI finds itself (a usage mistake, a thing not found):
 * printed as cli_fail prints, with hint when not NULL; returns exit_code. */
int cli_error(int exit_code, const char *hint, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Opens the warehouse named by ctx (error printed on failure). It must
 * exist: a SQLite path with no file is an error (exit 2), not a new empty
 * warehouse. */
pm_store *cli_open_store(cli_ctx *ctx, int *exit_code);
/* The same for the commands that load (ingest, run): they create it. */
pm_store *cli_open_store_to_load(cli_ctx *ctx, int *exit_code);
/* For the servers (mcp, serve), which open the warehouse at the first tool
 * call: says on stderr at start when it is missing or unreachable. */
void cli_check_warehouse(const cli_ctx *ctx);
void cli_usage_of(const char *command);
/* Prints v as indented JSON on stdout and drops the reference. */
struct json_t;
void cli_print_json(struct json_t *v);
/* "human:NAME" from --actor, else the OS user, into buf. */
const char *cli_human_actor(const cli_ctx *ctx, char *buf, size_t n);
/* After a run of a pipeline that says `agent: on_incident`: the agent
 * takes the open incidents of table it has not taken yet (cmd_agent.c);
 * its trace goes to stderr. Returns 0, or the exit code of a failure
 * (printed). */
int cli_agent_after_run(cli_ctx *ctx, pm_store *s, const char *table);
/* Whether to go ahead with something that cannot be undone, described by
 * what ("discard 12 quarantined rows of orders"): yes with --yes; else
 * asked on the terminal; without a terminal to ask on, an error saying to
 * pass --yes (*exit_code set). */
bool cli_confirm(const cli_ctx *ctx, const char *what, int *exit_code);
/* Draws a run's progress bar on stderr (an ingest_opts.on_progress). */
void cli_progress_bar(void *arg, const ingest_progress *p);

#endif
