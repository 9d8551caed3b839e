/* cmd_show.c - the read-only commands: runs, status, schema, quarantine.
 * Each prints a table for people or, with --json, JSON for programs (built
 * with jansson, so every string is escaped correctly). */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "pipeline/ingest.h"
#include "pipeline/metrics.h"
#include "core/log.h"
#include "heal/heal.h"
#include "heal/replay.h"
#include "core/buf.h"
#include "core/utf8.h"
#include "schema/type.h"
#include "view/view.h"

int cmd_runs(cli_ctx *ctx)
{
    int code;
    pm_store *s = cli_open_store(ctx, &code);
    if (!s)
        return code;
    pm_arena *a = pm_arena_new(0);
    pm_run *runs;
    size_t n;
    pm_err err = {0};
    /* A run whose process died shows as aborted, not running forever. */
    ingest_reap_for_reading(s);
    pm_code rc = store_runs_list(s, ctx->pipeline, ctx->table, ctx->limit ? ctx->limit : 50, a,
                                 &runs, &n, &err);
    if (rc) {
        code = cli_fail(&err);
    } else if (ctx->json) {
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(arr, view_run(&runs[i]));
        cli_print_json(arr);
        code = 0;
    } else {
        printf("%-6s %-14s %-16s %-12s %-24s %10s %10s %11s\n", "RUN", "PIPELINE", "TABLE",
               "STATUS", "STARTED", "READ", "LOADED", "QUARANTINED");
        for (size_t i = 0; i < n; i++) {
            const pm_run *r = &runs[i];
            printf("%-6lld %-14s %-16s %-12s %-24s %10lld %10lld %11lld%s\n", (long long)r->id,
                   r->pipeline ? r->pipeline : "-", r->table, run_status_name(r->status),
                   r->started_at, (long long)r->rows_read, (long long)r->rows_loaded,
                   (long long)r->rows_quarantined, r->volume_anomaly ? "  volume anomaly" : "");
            if (r->error)
                printf("       error: %s\n", cli_safe(r->error));
        }
        if (!n)
            printf("no runs yet\n");
        code = 0;
    }
    pm_arena_free(a);
    store_close(s);
    return code;
}

int cmd_schema(cli_ctx *ctx)
{
    const char *sub = ctx->argc ? ctx->argv[0] : "";
    bool list = strcmp(sub, "list") == 0;
    if (!list && strcmp(sub, "show") != 0) {
        cli_error(EXIT_USAGE, NULL, "schema needs \"show\" or \"list\"");
        cli_usage_of("schema");
        return EXIT_USAGE;
    }
    if (!list && !ctx->table) {
        return cli_error(EXIT_USAGE, NULL, "schema show needs --table NAME");
    }
    int code;
    pm_store *s = cli_open_store(ctx, &code);
    if (!s)
        return code;
    pm_arena *a = pm_arena_new(0);
    pm_err err = {0};
    code = 0;
    if (list) {
        pm_table **ts;
        size_t n;
        if (store_tables_list(s, a, &ts, &n, &err)) {
            code = cli_fail(&err);
        } else if (ctx->json) {
            json_t *arr = json_array();
            for (size_t i = 0; i < n; i++)
                json_array_append_new(arr, view_table(ts[i]));
            cli_print_json(arr);
        } else {
            for (size_t i = 0; i < n; i++)
                printf("%-24s version %-3d %zu columns\n", ts[i]->name, ts[i]->version,
                       ts[i]->ncols);
            if (!n)
                printf("no tables yet\n");
        }
    } else {
        pm_table *t;
        if (store_table_load(s, ctx->table, a, &t, &err)) {
            code = cli_fail(&err);
        } else if (!t) {
            code = cli_error(EXIT_FAILED, "pipemend schema list shows the tables it loaded",
                             "pipemend does not know a table \"%s\"", ctx->table);
        } else if (ctx->json) {
            cli_print_json(view_table(t));
        } else {
            printf("table %s (schema version %d)\n", t->name, t->version);
            for (size_t i = 0; i < t->ncols; i++) {
                char tn[TYPE_NAME_MAX];
                printf("  %-32s %-16s %s\n", t->cols[i].name, type_name(t->cols[i].type, tn),
                       t->cols[i].nullable ? "null" : "not null");
            }
        }
    }
    pm_arena_free(a);
    store_close(s);
    return code;
}

static void print_raw_line(const pm_qrow *q, size_t max)
{
    size_t n = pm_utf8_truncate(q->raw, q->raw_len, max);
    char *safe = malloc(4 * n + 1);
    if (!safe)
        return;
    pm_utf8_escape_controls(q->raw, n, safe, 4 * n + 1);
    fputs(safe, stdout);
    free(safe);
    if (n < q->raw_len)
        printf("...");
}

static int quarantine_replay(cli_ctx *ctx)
{
    if (!ctx->table) {
        return cli_error(EXIT_USAGE, NULL, "quarantine replay needs --table NAME");
    }
    int code;
    pm_store *s = cli_open_store(ctx, &code);
    if (!s)
        return code;
    pm_err err = {0};
    replay_result r;
    char actor[160];
    cli_human_actor(ctx, actor, sizeof actor);
    pm_source_opts limits;
    config_source_opts(ctx->cfg, &limits);
    pm_code rc = replay_quarantine_opts(s, ctx->table, config_contract(ctx->cfg, ctx->table), actor,
                                        0, NULL, &limits, &r, &err);
    store_close(s);
    if (rc)
        return cli_fail(&err);
    if (ctx->json)
        printf("{\"loaded\":%lld,\"waiting\":%lld,\"skipped\":%lld,\"incidents_resolved\":%lld}\n",
               (long long)r.loaded, (long long)r.waiting, (long long)r.skipped,
               (long long)r.resolved);
    else
        printf("replayed %s: %lld rows loaded and left quarantine, %lld still do not fit, %lld "
               "cannot be replayed from their bytes (cut at the line limit); %lld incidents "
               "resolved\n",
               ctx->table, (long long)r.loaded, (long long)r.waiting, (long long)r.skipped,
               (long long)r.resolved);
    return r.waiting || r.skipped ? EXIT_QUARANTINED : 0;
}

/* The header a CSV export wrote last (malloc'd: it outlives the page). */
typedef struct export_header {
    char *bytes;
    size_t len;
} export_header;

/* Writes q's original bytes as one line of out; a CSV row's header first
 * when it is not the one written last. A JSON record that spanned lines (an
 * element of a pretty-printed document) is written on one: a line break
 * can only be whitespace in JSON, so a space keeps its meaning. A CSV
 * record keeps its line breaks, which are inside quotes. */
static bool export_row(FILE *out, const pm_qrow *q, export_header *h)
{
    if (q->header &&
        (!h->bytes || h->len != q->header_len || memcmp(h->bytes, q->header, q->header_len))) {
        free(h->bytes);
        h->bytes = pm_xmalloc(q->header_len + 1);
        memcpy(h->bytes, q->header, q->header_len);
        h->len = q->header_len;
        if (fwrite(q->header, 1, q->header_len, out) != q->header_len || fputc('\n', out) == EOF)
            return false;
    }
    if (q->header)
        return fwrite(q->raw, 1, q->raw_len, out) == q->raw_len && fputc('\n', out) != EOF;
    for (size_t i = 0; i < q->raw_len; i++) {
        char c = q->raw[i] == '\n' || q->raw[i] == '\r' ? ' ' : q->raw[i];
        if (putc(c, out) == EOF)
            return false;
    }
    return fputc('\n', out) != EOF;
}

/* quarantine export: the original bytes of every matching row, oldest
 * first, one record a line (a CSV row's header before it), so they can be
 * fixed by hand and ingested again. Paged: memory stays bounded. */
static int quarantine_export(cli_ctx *ctx)
{
    if (ctx->argc != 1) {
        return cli_error(EXIT_USAGE, "filter with --table NAME and --run ID",
                         "quarantine export takes no arguments");
    }
    if (ctx->limit) {
        return cli_error(EXIT_USAGE, "filter with --table NAME and --run ID",
                         "quarantine export writes every matching row; --limit is list's");
    }
    int code;
    pm_store *s = cli_open_store(ctx, &code);
    if (!s)
        return code;
    FILE *out = stdout;
    if (ctx->output) {
        int fd = open(ctx->output, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        out = fd < 0 ? NULL : fdopen(fd, "wb");
        if (!out) {
            code =
                cli_error(EXIT_FAILED,
                          errno == EEXIST ? "choose another name; export never overwrites" : NULL,
                          "cannot create %s: %s", cli_safe(ctx->output), strerror(errno));
            if (fd >= 0)
                close(fd);
            store_close(s);
            return code;
        }
    }
    pm_err err = {0};
    pm_arena *a = pm_arena_new(0);
    int64_t after = 0, written = 0, cut = 0;
    export_header header = {0};
    bool csv = false, ndjson = false, ok = true;
    char delim = 0; /* the CSV rows' delimiter; '?' when they differ */
    pm_code rc = PM_OK;
    while (ok) {
        pm_arena_reset(a);
        pm_qrow *rows;
        size_t n;
        rc = store_quarantine_export_page(s, ctx->table, ctx->run_id, after, 1000, a, &rows, &n,
                                          &err);
        if (rc || !n)
            break;
        for (size_t i = 0; ok && i < n; i++) {
            after = rows[i].id;
            if (rows[i].raw_truncated) {
                cut++;
                continue;
            }
            if (rows[i].header) {
                csv = true;
                /* rows kept before their delimiter was: not known */
                char d = rows[i].delimiter;
                if (d)
                    delim = !delim || delim == d ? d : '?';
            } else
                ndjson = true;
            ok = export_row(out, &rows[i], &header);
            written += ok;
        }
    }
    free(header.bytes);
    if (out != stdout && fclose(out) != 0)
        ok = false;
    else if (out == stdout && fflush(stdout) != 0)
        ok = false;
    if (rc) {
        code = cli_fail(&err);
    } else if (!ok) {
        code = cli_error(EXIT_FAILED, NULL, "cannot write %s: %s",
                         ctx->output ? cli_safe(ctx->output) : "standard output", strerror(errno));
    } else {
        pm_info("exported %lld quarantined row%s%s%s", (long long)written, written == 1 ? "" : "s",
                ctx->output ? " to " : "", ctx->output ? cli_safe(ctx->output) : "");
        if (cut)
            pm_warn("%lld row%s not exported: cut at the line limit when quarantined, only "
                    "their first bytes are kept",
                    (long long)cut, cut == 1 ? "" : "s");
        if (csv && ndjson)
            pm_warn("the rows come from both NDJSON and CSV sources; export them per --table "
                    "or --run to ingest them again");
        else if (delim == '?')
            pm_warn("the CSV rows were read with different delimiters; export them per --run "
                    "to ingest them again");
        else if (delim && delim != ',') {
            char name[2] = {delim, '\0'};
            pm_info("the CSV rows were read with delimiter '%s': ingest them again with "
                    "--delimiter '%s'",
                    delim == '\t' ? "\\t" : name, delim == '\t' ? "tab" : name);
        }
        code = 0;
    }
    pm_arena_free(a);
    store_close(s);
    return code;
}

/* quarantine discard: rows let go for good, by table, run or id. */
static int quarantine_discard(cli_ctx *ctx)
{
    long long id = 0;
    if (ctx->argc > 2 || (ctx->argc == 2 && (sscanf(ctx->argv[1], "%lld", &id) != 1 || id < 1))) {
        return cli_error(EXIT_USAGE, NULL,
                         "quarantine discard takes at most one quarantine ID (see pipemend "
                         "quarantine list)");
    }
    if (!id && !ctx->table && !ctx->run_id) {
        return cli_error(EXIT_USAGE,
                         "name what to discard: --table NAME, --run ID, or a quarantine ID",
                         "quarantine discard needs a filter");
    }
    int code;
    pm_store *s = cli_open_store(ctx, &code);
    if (!s)
        return code;
    pm_err err = {0};
    int64_t n = 0;
    code = 0;
    if (id) {
        /* the id, within the filters given beside it */
        pm_arena *a = pm_arena_new(0);
        pm_qrow q;
        bool found;
        if (store_quarantine_get(s, id, a, &q, &found, &err)) {
            code = cli_fail(&err);
        } else if (found && (!ctx->table || strcmp(q.table, ctx->table) == 0) &&
                   (!ctx->run_id || q.run_id == ctx->run_id)) {
            n = 1;
        }
        pm_arena_free(a);
    } else if (store_quarantine_count_where(s, ctx->table, ctx->run_id, &n, &err)) {
        code = cli_fail(&err);
    }
    if (code) {
        store_close(s);
        return code;
    }
    if (!n) {
        store_close(s);
        return cli_error(EXIT_FAILED, "see pipemend quarantine list", "no quarantined row matches");
    }
    char what[512];
    int at = snprintf(what, sizeof what, "discard %lld quarantined row%s", (long long)n,
                      n == 1 ? "" : "s");
    if (id)
        at += snprintf(what + at, sizeof what - (size_t)at, " (#%lld)", id);
    if (ctx->table)
        at += snprintf(what + at, sizeof what - (size_t)at, " of table %s", ctx->table);
    if (ctx->run_id)
        snprintf(what + at, sizeof what - (size_t)at, " from run %lld", (long long)ctx->run_id);
    if (!cli_confirm(ctx, what, &code)) {
        store_close(s);
        return code;
    }
    char actor[160];
    cli_human_actor(ctx, actor, sizeof actor);
    pm_policy policy;
    config_table_policy(ctx->cfg, ctx->table, &policy);
    heal_ctx c = {.store = s,
                  .policy = &policy,
                  .policy_source = config_policy_source(ctx->cfg),
                  .actor = actor,
                  .human = true};
    heal_discard_result r;
    if (heal_discard(&c, ctx->table, ctx->run_id, id, &r, &err) != PM_OK) {
        code = cli_fail(&err);
    } else if (ctx->json) {
        printf("{\"discarded\":%lld,\"incidents_dismissed\":%lld}\n", (long long)r.rows,
               (long long)r.dismissed);
    } else {
        printf("discarded %lld quarantined row%s (by %s, recorded in the audit log); %lld "
               "incident%s dismissed with no row left\n",
               (long long)r.rows, r.rows == 1 ? "" : "s", actor, (long long)r.dismissed,
               r.dismissed == 1 ? "" : "s");
    }
    store_close(s);
    return code;
}

int cmd_quarantine(cli_ctx *ctx)
{
    const char *sub = ctx->argc ? ctx->argv[0] : "";
    bool show = strcmp(sub, "show") == 0;
    if (strcmp(sub, "replay") == 0)
        return quarantine_replay(ctx);
    if (strcmp(sub, "export") == 0)
        return quarantine_export(ctx);
    if (strcmp(sub, "discard") == 0)
        return quarantine_discard(ctx);
    if (!show && strcmp(sub, "list") != 0) {
        cli_error(EXIT_USAGE, NULL,
                  "quarantine needs \"list\", \"show ID\", \"export\", \"discard\" or "
                  "\"replay\"");
        cli_usage_of("quarantine");
        return EXIT_USAGE;
    }
    long long id = 0;
    if (show && (ctx->argc != 2 || sscanf(ctx->argv[1], "%lld", &id) != 1 || id < 1)) {
        return cli_error(EXIT_USAGE, NULL,
                         "quarantine show needs one quarantine ID (see pipemend quarantine list)");
    }
    int code;
    pm_store *s = cli_open_store(ctx, &code);
    if (!s)
        return code;
    pm_arena *a = pm_arena_new(0);
    pm_err err = {0};
    code = 0;
    if (show) {
        pm_qrow q;
        bool found;
        if (store_quarantine_get(s, id, a, &q, &found, &err)) {
            code = cli_fail(&err);
        } else if (!found) {
            code = cli_error(EXIT_FAILED, NULL, "no quarantined row %lld", id);
        } else if (ctx->json) {
            cli_print_json(view_qrow(&q, VIEW_RAW_EXACT, 0));
        } else {
            printf("quarantined row %lld (run %lld, table %s)\n", (long long)q.id,
                   (long long)q.run_id, q.table);
            printf("  source:   %s, line %lld, byte %lld\n", cli_safe(q.source), (long long)q.line,
                   (long long)q.offset);
            printf("  kinds:    %s\n", cli_safe(q.kinds));
            json_t *f = json_loads(q.findings, 0, NULL);
            size_t i;
            json_t *x;
            json_array_foreach(f, i, x)
            {
                printf("  finding:  [%s] %s\n",
                       cli_safe(json_string_value(json_object_get(x, "kind"))),
                       cli_safe(json_string_value(json_object_get(x, "message"))));
            }
            json_decref(f);
            printf("  raw%s: ", q.raw_truncated ? " (first bytes only; the line was over the "
                                                  "limit)"
                                                : "");
            print_raw_line(&q, (size_t)-1);
            printf("\n");
        }
    } else {
        pm_qrow *rows;
        size_t n;
        int64_t total = 0;
        if (store_quarantine_list(s, ctx->table, ctx->run_id, ctx->limit ? ctx->limit : 100, a,
                                  &rows, &n, &err) ||
            store_quarantine_total(s, ctx->table, ctx->run_id, &total, &err)) {
            code = cli_fail(&err);
        } else if (ctx->json) {
            /* stdout stays the array; how many the limit hid goes to stderr */
            if ((int64_t)n < total)
                pm_info("%zu of %lld quarantined rows shown (the newest); --limit N shows more", n,
                        (long long)total);
            json_t *arr = json_array();
            for (size_t i = 0; i < n; i++)
                json_array_append_new(arr, view_qrow(&rows[i], VIEW_RAW_EXACT, 0));
            cli_print_json(arr);
        } else {
            for (size_t i = 0; i < n; i++) {
                printf("#%-5lld run %-4lld %-12s line %-6lld %s\n       %s\n       raw: ",
                       (long long)rows[i].id, (long long)rows[i].run_id, rows[i].table,
                       (long long)rows[i].line, cli_safe(rows[i].kinds), cli_safe(rows[i].message));
                print_raw_line(&rows[i], 100);
                printf("\n");
            }
            if (!n && !total)
                printf("quarantine is empty\n");
            else if ((int64_t)n < total)
                printf("%zu of %lld quarantined rows shown (the newest); %lld more: --limit N "
                       "shows more, quarantine export writes them all\n",
                       n, (long long)total, (long long)(total - (int64_t)n));
            else
                printf("%lld quarantined row%s\n", (long long)total, total == 1 ? "" : "s");
        }
    }
    pm_arena_free(a);
    store_close(s);
    return code;
}

int cmd_status(cli_ctx *ctx)
{
    int code;
    pm_store *s = cli_open_store(ctx, &code);
    if (!s)
        return code;
    pm_arena *a = pm_arena_new(0);
    pm_err err = {0};
    pm_table **ts;
    size_t n;
    code = 0;
    ingest_reap_for_reading(s);
    if (store_tables_list(s, a, &ts, &n, &err)) {
        code = cli_fail(&err);
        goto out;
    }
    json_t *arr = json_array();
    /* the first column as wide as the longest name, so the rest align */
    int w = 20;
    for (size_t i = 0; i < n; i++)
        if ((int)strlen(ts[i]->name) > w)
            w = (int)strlen(ts[i]->name);
    if (!ctx->json)
        printf("%-*s %-8s %11s %12s %9s %-12s %s\n", w, "TABLE", "VERSION", "LOADED ROWS",
               "QUARANTINED", "INCIDENTS", "LAST RUN", "FINISHED");
    size_t nmissing = 0;
    /* a repair's replay that never reached its end: which command ends it */
    heal_pending *pend;
    size_t npend;
    if (heal_replay_pending(s, NULL, a, &pend, &npend, &err)) {
        json_decref(arr);
        code = cli_fail(&err);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        metrics_table m;
        if (metrics_table_read(s, ts[i]->name, a, &m, &err)) {
            json_decref(arr);
            code = cli_fail(&err);
            goto out;
        }
        const pm_run *last = m.has_last_run ? &m.last_run : NULL;
        if (ctx->json) {
            json_t *o =
                json_pack("{s:s, s:i, s:I, s:I}", "table", ts[i]->name, "version", ts[i]->version,
                          "rows", (json_int_t)m.rows, "quarantined", (json_int_t)m.quarantined);
            if (m.missing)
                json_object_set_new(o, "missing", json_true());
            json_t *lr = last ? view_run(last) : json_null();
            if (last && last->rows_quarantined)
                json_object_set_new(lr, "rows_waiting", json_integer(m.last_run_waiting));
            json_object_set_new(o, "last_run", lr);
            json_object_set_new(o, "incidents", view_incident_stats(&m.incidents));
            for (size_t k = 0; k < npend; k++)
                if (strcmp(pend[k].table, ts[i]->name) == 0)
                    json_object_set_new(o, "replay_unfinished",
                                        json_pack("{s:I, s:I, s:I, s:s+}", "applied_incidents",
                                                  (json_int_t)pend[k].applied, "incident",
                                                  (json_int_t)pend[k].incident, "stranded_rows",
                                                  (json_int_t)pend[k].stranded, "command",
                                                  "pipemend quarantine replay --table ",
                                                  ts[i]->name));
            json_array_append_new(arr, o);
        } else {
            char rows[32];
            snprintf(rows, sizeof rows, "%lld", (long long)m.rows);
            nmissing += m.missing;
            printf("%-*s %-8d %11s %12lld %9lld %-12s %s%s\n", w, ts[i]->name, ts[i]->version,
                   m.missing ? "missing" : rows, (long long)m.quarantined,
                   (long long)m.incidents.active,
                   !last ? "-"
                   : last->status == RUN_QUARANTINED && !m.last_run_waiting
                       ? "cleared" /* every row it held was replayed or discarded since */
                       : run_status_name(last->status),
                   last && last->finished_at ? last->finished_at : "-",
                   last && last->volume_anomaly ? "  volume anomaly" : "");
        }
    }
    pm_incident_stats all;
    const char **unmatched;
    size_t nunmatched;
    if (store_incident_stats(s, NULL, &all, &err) ||
        config_unmatched(ctx->cfg, s, NULL, a, &unmatched, &nunmatched, &err)) {
        json_decref(arr);
        code = cli_fail(&err);
        goto out;
    }
    /* configuration that matches nothing: a finding here, a warning on the
     * stderr of JSON (whose stdout stays the array) */
    for (size_t i = 0; i < nunmatched; i++) {
        if (ctx->json)
            pm_warn("%s", cli_safe(unmatched[i]));
        else
            printf("config: %s\n", cli_safe(unmatched[i]));
    }
    if (ctx->json) {
        cli_print_json(arr);
    } else {
        json_decref(arr);
        if (nmissing)
            printf("missing: %zu table%s pipemend loads into %s not in the database (dropped "
                   "outside pipemend); its schema, quarantine and history remain: restore it "
                   "(pipemend schema show --table NAME lists its columns), or forget it "
                   "(pipemend table drop NAME)\n",
                   nmissing, nmissing == 1 ? "" : "s", nmissing == 1 ? "is" : "are");
        printf("incidents: %lld open, %lld resolved, %lld dismissed", (long long)all.active,
               (long long)all.resolved, (long long)all.dismissed);
        if (all.resolved)
            printf("; mean time to recovery %.1f s (to plan %.1f s, to apply %.1f s)",
                   all.mttr_seconds, all.mean_to_plan_seconds, all.mean_to_apply_seconds);
        printf("\n");
        if (all.active)
            printf("see them: pipemend incidents list\n");
        for (size_t k = 0; k < npend; k++) {
            if (pend[k].applied)
                printf("unfinished: incident %lld of %s is applied but its quarantine was not "
                       "replayed to the end (%lld incident%s): pipemend quarantine replay --table "
                       "%s finishes it, as does the next run of %s\n",
                       (long long)pend[k].incident, pend[k].table, (long long)pend[k].applied,
                       pend[k].applied == 1 ? "" : "s", pend[k].table, pend[k].table);
            if (pend[k].stranded)
                printf("unfinished: %lld quarantined row%s of %s wait%s under a resolved "
                       "incident: pipemend quarantine replay --table %s checks them again, as "
                       "does the next run of %s\n",
                       (long long)pend[k].stranded, pend[k].stranded == 1 ? "" : "s", pend[k].table,
                       pend[k].stranded == 1 ? "s" : "", pend[k].table, pend[k].table);
        }
    }
out:
    pm_arena_free(a);
    store_close(s);
    return code;
}

int cmd_notifications(cli_ctx *ctx)
{
    const char *sub = ctx->argc ? ctx->argv[0] : "";
    if (strcmp(sub, "list") != 0 || ctx->argc != 1) {
        cli_error(EXIT_USAGE, NULL, "notifications needs list");
        cli_usage_of("notifications");
        return EXIT_USAGE;
    }
    int code;
    pm_store *s = cli_open_store(ctx, &code);
    if (!s)
        return code;
    pm_arena *a = pm_arena_new(0);
    pm_outbox_item *it;
    size_t n;
    pm_err err = {0};
    code = 0;
    if (store_outbox_list(s, ctx->limit ? ctx->limit : 50, a, &it, &n, &err)) {
        code = cli_fail(&err);
    } else if (ctx->json) {
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++) {
            json_t *o =
                json_pack("{s:I, s:s, s:s, s:s, s:s, s:I}", "id", (json_int_t)it[i].id, "sink",
                          it[i].sink, "event", it[i].event, "subject", it[i].subject, "created_at",
                          it[i].created_at, "attempts", (json_int_t)it[i].attempts);
            json_object_set_new(o, "state",
                                json_string(it[i].delivered_at ? "delivered" : "pending"));
            json_object_set_new(o, "delivered_at",
                                it[i].delivered_at ? json_string(it[i].delivered_at) : json_null());
            json_object_set_new(o, "last_error",
                                it[i].last_error ? json_string(it[i].last_error) : json_null());
            json_object_set_new(o, "next_attempt_at",
                                it[i].delivered_at ? json_null() : json_integer(it[i].next_at));
            json_t *p = json_loads(it[i].payload, 0, NULL);
            json_object_set_new(o, "payload", p ? p : json_null());
            json_array_append_new(arr, o);
        }
        cli_print_json(arr);
    } else {
        printf("%-6s %-14s %-20s %-22s %-10s %8s  %s\n", "ID", "SINK", "EVENT", "SUBJECT", "STATE",
               "ATTEMPTS", "LAST ERROR");
        for (size_t i = 0; i < n; i++)
            printf("%-6lld %-14s %-20s %-22s %-10s %8lld  %s\n", (long long)it[i].id,
                   cli_safe(it[i].sink), it[i].event, cli_safe(it[i].subject),
                   it[i].delivered_at ? "delivered" : "pending", (long long)it[i].attempts,
                   it[i].last_error ? cli_safe(it[i].last_error) : "");
        if (!n)
            printf("no notifications yet (notify: in pipemend.yaml names the sinks)\n");
    }
    pm_arena_free(a);
    store_close(s);
    return code;
}
