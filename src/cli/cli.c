/* cli.c - what several commands share: printing errors and JSON, opening
 * the warehouse, who a person is, the progress bar (cli.h). */
#include <jansson.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/log.h"
#include "core/utf8.h"

int cli_error(int exit_code, const char *hint, const char *fmt, ...)
{
    pm_err err = {.code = PM_ERR_USAGE};
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err.msg, sizeof err.msg, fmt, ap);
    va_end(ap);
    if (hint)
        snprintf(err.hint, sizeof err.hint, "%s", hint);
    cli_fail(&err);
    return exit_code;
}

const char *cli_safe(const char *s)
{
    /* a few at a time: one printf may quote several values */
    static char *ring[16];
    static unsigned next;
    if (!s)
        return NULL;
    size_t n = strlen(s), cap = 4 * n + 1;
    char *out = malloc(cap);
    if (!out)
        return "(out of memory)";
    pm_utf8_escape_controls(s, n, out, cap);
    free(ring[next]);
    ring[next] = out;
    next = (next + 1) % (sizeof ring / sizeof ring[0]);
    return out;
}

int cli_fail(const pm_err *err)
{
    pm_log_error_parts(err->msg[0] ? err->msg : pm_code_text(err->code),
                       err->detail[0] ? err->detail : NULL, err->hint[0] ? err->hint : NULL);
    return err->code == PM_ERR_USAGE || err->code == PM_ERR_CONFIG ? EXIT_USAGE : EXIT_FAILED;
}

static pm_store *open_store(cli_ctx *ctx, bool create, int *exit_code)
{
    pm_err err = {0};
    pm_store *s = NULL;
    if (!ctx->db) {
        pm_err_set(&err, PM_ERR_USAGE, "no warehouse given");
        pm_err_hint(&err, "pass --db sqlite:PATH, set PIPEMEND_DB, or put db: in pipemend.yaml");
        *exit_code = cli_fail(&err);
        return NULL;
    }
    if ((create ? store_open : store_open_existing)(ctx->db, &s, &err) != PM_OK) {
        *exit_code = cli_fail(&err);
        return NULL;
    }
    return s;
}

pm_store *cli_open_store(cli_ctx *ctx, int *exit_code)
{
    return open_store(ctx, false, exit_code);
}

pm_store *cli_open_store_to_load(cli_ctx *ctx, int *exit_code)
{
    return open_store(ctx, true, exit_code);
}

void cli_check_warehouse(const cli_ctx *ctx)
{
    pm_err err = {0};
    pm_store *s = NULL;
    if (!ctx->db || !*ctx->db) {
        pm_err_set(&err, PM_ERR_USAGE, "%s: no warehouse given; every tool will say so",
                   ctx->command);
        pm_err_hint(&err, "pass --db sqlite:PATH, set PIPEMEND_DB, or put db: in pipemend.yaml");
    } else if (store_open_existing(ctx->db, &s, &err) == PM_OK) {
        store_close(s);
        return;
    } else {
        char msg[sizeof err.msg + 64];
        snprintf(msg, sizeof msg, "%s: %s", ctx->command, err.msg);
        memcpy(err.msg, msg, sizeof err.msg - 1);
        err.msg[sizeof err.msg - 1] = '\0';
        char tail[200];
        snprintf(tail, sizeof tail, "the server starts anyway: %s",
                 err.code == PM_ERR_CONFIG ? "the first tool call creates an empty warehouse there"
                                           : "each tool call tries again and reports what fails");
        if (!err.hint[0])
            snprintf(err.hint, sizeof err.hint, "%s", tail);
        else
            snprintf(err.detail + strlen(err.detail), sizeof err.detail - strlen(err.detail),
                     "%s%s", err.detail[0] ? "; " : "", tail);
    }
    pm_log_warn_parts(cli_safe(err.msg), err.detail[0] ? cli_safe(err.detail) : NULL,
                      err.hint[0] ? cli_safe(err.hint) : NULL);
}

void cli_print_json(json_t *v)
{
    char *s = json_dumps(v, JSON_INDENT(2) | JSON_ENSURE_ASCII);
    puts(s ? s : "null");
    free(s);
    json_decref(v);
}

const char *cli_human_actor(const cli_ctx *ctx, char *buf, size_t n)
{
    const char *name = ctx->actor;
    if (!name) {
        struct passwd *pw = getpwuid(getuid());
        name = pw ? pw->pw_name : getenv("USER");
    }
    snprintf(buf, n, "human:%s", name && *name ? name : "unknown");
    return buf;
}

bool cli_confirm(const cli_ctx *ctx, const char *what, int *exit_code)
{
    *exit_code = 0;
    if (ctx->yes)
        return true;
    if (!isatty(STDIN_FILENO) || !isatty(STDERR_FILENO)) {
        *exit_code =
            cli_error(EXIT_USAGE, "pass --yes to do it without being asked",
                      "%s cannot be undone, and there is no terminal to ask on", cli_safe(what));
        return false;
    }
    fprintf(stderr, "%s? This cannot be undone. [y/N] ", cli_safe(what));
    fflush(stderr);
    char line[64];
    if (!fgets(line, sizeof line, stdin) || (line[0] != 'y' && line[0] != 'Y')) {
        fprintf(stderr, "pipemend: nothing done\n");
        *exit_code = EXIT_FAILED;
        return false;
    }
    return true;
}

void cli_progress_bar(void *arg, const ingest_progress *p)
{
    (void)arg;
    double frac = p->total_bytes ? (double)p->done_bytes / (double)p->total_bytes : 0;
    if (frac > 1)
        frac = 1;
    char bar[31];
    int fill = (int)(frac * 30);
    for (int i = 0; i < 30; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[30] = '\0';
    fprintf(stderr, "\r[%s] %3.0f%% %lld rows %.0f rows/s ", bar, frac * 100, (long long)p->rows,
            p->elapsed > 0 ? (double)p->rows / p->elapsed : 0.0);
    if (p->final)
        fputs("\n", stderr);
    pm_log_line_open(!p->final);
    fflush(stderr);
}
