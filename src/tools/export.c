/* export.c - a proposal as a migration file and its description (export.h). */
#include "tools/export.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/buf.h"
#include "heal/policy.h"
#include "heal/promote.h"
#include "view/view.h"

/* Sample records quoted in the description. */
#define EXPORT_SAMPLES 5

/* The number for proposal id in dir: its existing files' number, else one
 * more than the highest NNNN_*.sql. */
static int number_for(const char *dir, int64_t id, int *own_out, pm_err *err)
{
    DIR *d = opendir(dir);
    if (!d) {
        pm_err_set(err, PM_ERR_IO, "cannot open %s: %s", dir, strerror(errno));
        pm_err_hint(err, "--dir names a directory that exists (the review repository's)");
        return -1;
    }
    char mine[64];
    snprintf(mine, sizeof mine, "_proposal_%lld.sql", (long long)id);
    int high = 0, own = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        int num;
        char rest[2];
        size_t len = strlen(e->d_name);
        if (len < 9 || strcmp(e->d_name + len - 4, ".sql") != 0 ||
            sscanf(e->d_name, "%4d_%1s", &num, rest) != 2)
            continue;
        if (num > high)
            high = num;
        if (len > strlen(mine) && strcmp(e->d_name + len - strlen(mine), mine) == 0)
            own = num;
    }
    closedir(d);
    if (own_out)
        *own_out = own;
    return own ? own : high + 1;
}

bool export_exists(const char *dir, int64_t id)
{
    int own = 0;
    pm_err err = {0};
    return number_for(dir, id, &own, &err) > 0 && own > 0;
}

/* Every line of text indented by four spaces (Markdown's code block: a
 * feed's backticks or markup stay text). */
static void indented(pm_buf *b, const char *text)
{
    pm_err err;
    pm_buf_puts(b, "    ", &err);
    for (const char *p = text ? text : ""; *p; p++) {
        pm_buf_putc(b, *p, &err);
        if (*p == '\n' && p[1])
            pm_buf_puts(b, "    ", &err);
    }
    pm_buf_putc(b, '\n', &err);
}

static pm_code write_file(const char *path, const char *data, pm_err *err)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return pm_err_set(err, PM_ERR_IO, "cannot write %s: %s", tmp, strerror(errno));
    bool ok = fputs(data ? data : "", f) >= 0;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        remove(tmp);
        return pm_err_set(err, PM_ERR_IO, "cannot write %s: %s", path, strerror(errno));
    }
    return PM_OK;
}

pm_code export_proposal(pm_store *s, const pm_config *cfg, int64_t id, const char *dir,
                        char *sql_path, char *md_path, size_t n, pm_err *err)
{
    pm_arena *a = pm_arena_new(0);
    pm_proposal *ps;
    size_t np;
    pm_op *ops = NULL;
    size_t nops = 0;
    pm_table *t = NULL, *to = NULL;
    pm_code rc = store_proposals_list(s, NULL, NULL, id, a, &ps, &np, err);
    if (!rc && np != 1) {
        pm_err_set(err, PM_ERR_NOTFOUND, "no proposal %lld", (long long)id);
        pm_err_hint(err, "pipemend proposals list shows them");
        rc = PM_ERR_NOTFOUND;
    }
    const pm_proposal *p = rc ? NULL : &ps[0];
    if (!rc)
        rc = ops_from_json(p->ops, a, &ops, &nops, err);
    if (!rc)
        rc = store_table_load(s, p->table, a, &t, err);
    if (!rc && !t)
        rc = pm_err_set(err, PM_ERR_NOTFOUND, "table %s is not in pipemend's catalog", p->table);
    if (!rc)
        rc = op_result(t, ops, nops, a, &to, err);
    pm_buf sql, md;
    pm_buf_init(&sql, 16u << 20);
    pm_buf_init(&md, 16u << 20);
    if (!rc)
        rc = pm_buf_printf(&sql, err,
                           "-- pipemend proposal %lld on %s (%s): schema version %d to %d.\n"
                           "-- Review it here; apply it through pipemend (pipemend proposals "
                           "approve %lld),\n-- which runs exactly these statements and records "
                           "them.\n",
                           (long long)id, p->table, store_backend_name(s), t->version, to->version,
                           (long long)id);
    size_t head = sql.len;
    if (!rc)
        rc = store_render_ddl(s, t, ops, nops, to, &sql, err);
    if (!rc && sql.len == head)
        rc = pm_buf_puts(&sql,
                         "-- No DDL: these ops change pipemend's catalog only (a field mapping or "
                         "a coercion).\n",
                         err);
    int num = rc ? -1 : number_for(dir, id, NULL, err);
    if (num < 0 && !rc)
        rc = err->code;
    if (!rc) {
        /* the description */
        /* the policy the proposal was made under decides (heal.h), with what
         * the configuration now says for a decision outside a run */
        pm_policy pol, recorded;
        config_table_policy(cfg, p->table, &pol);
        pm_err perr = {0};
        promote_apply(s, p->table, &pol, &perr);
        if (p->policy && policy_from_json(p->policy, &recorded))
            policy_merge(&pol, &recorded);
        pm_buf_printf(&md, err, "# Proposal %lld: %s\n\n", (long long)id,
                      nops ? op_describe(&ops[0], a) : "(no ops)");
        pm_buf_printf(&md, err,
                      "- Table: `%s`, schema version %d to %d (planned against version %d)\n"
                      "- State: %s\n- Backend: %s\n- Created: %s\n\n",
                      p->table, t->version, to->version, p->version, proposal_state_name(p->state),
                      store_backend_name(s), p->created_at);
        pm_buf_printf(&md, err, "## Ops under the policy (mode %s)\n\n",
                      policy_mode_name(pol.mode));
        static const char *const decided[] = {[DECIDE_APPLY] = "applies by itself",
                                              [DECIDE_HOLD] = "waits for a person",
                                              [DECIDE_REJECT] = "refused"};
        for (size_t i = 0; i < nops; i++)
            pm_buf_printf(&md, err, "- %s: class **%s**, %s\n", op_describe(&ops[i], a),
                          policy_class_name(policy_class_with(&pol, &ops[i], t)),
                          decided[policy_decide_op(&pol, &ops[i], t)]);
        pm_buf_puts(&md, "\n## Why\n\n", err);
        json_t *why = json_loads(p->why, 0, NULL);
        size_t i;
        json_t *w;
        json_array_foreach(why, i, w) indented(&md, json_string_value(w));
        json_decref(why);
        if (p->incident) {
            pm_incident_filter f = {.id = p->incident};
            pm_incident *in;
            size_t nin;
            json_t *pk = NULL;
            if (store_incidents_list(s, &f, a, &in, &nin, err) == PM_OK && nin == 1)
                pk = view_incident_packet(s, &in[0], EXPORT_SAMPLES, VIEW_RAW_EXACT, err);
            if (pk) {
                pm_buf_printf(&md, err,
                              "\n## Incident %lld\n\n- Kind: %s, column `%s`, state %s\n- "
                              "Quarantined rows waiting: %lld\n- Detected: %s\n\n",
                              (long long)in[0].id, in[0].kind, in[0].column, in[0].state,
                              (long long)in[0].rows, in[0].detected_at);
                pm_buf_puts(&md, "Findings:\n\n", err);
                json_array_foreach(json_object_get(pk, "findings"), i, w)
                {
                    char line[4096];
                    snprintf(line, sizeof line, "%lld x %s",
                             (long long)json_integer_value(json_object_get(w, "count")),
                             json_string_value(json_object_get(w, "message")));
                    indented(&md, line);
                }
                pm_buf_puts(&md, "\nSample records (data from the feed, as it came):\n\n", err);
                json_array_foreach(json_object_get(json_object_get(pk, "samples"), "records"), i, w)
                    indented(&md, json_string_value(json_object_get(w, "raw")));
                json_decref(pk);
            }
        }
        pm_buf_puts(&md, "\n## Dry run\n\n", err);
        json_t *dr = p->dry_run ? json_loads(p->dry_run, 0, NULL) : NULL;
        if (json_is_object(dr))
            pm_buf_printf(&md, err,
                          "%s: the ops fix %lld of %lld quarantined rows (%lld would load now); "
                          "%lld existing rows carried.%s%s\n",
                          json_is_true(json_object_get(dr, "ok")) ? "Passed" : "Failed",
                          (long long)json_integer_value(json_object_get(dr, "fixed")),
                          (long long)json_integer_value(json_object_get(dr, "rows")),
                          (long long)json_integer_value(json_object_get(dr, "would_load")),
                          (long long)json_integer_value(json_object_get(dr, "sample_rows")),
                          json_string_value(json_object_get(dr, "error")) ? " Error: " : "",
                          json_string_value(json_object_get(dr, "error"))
                              ? json_string_value(json_object_get(dr, "error"))
                              : "");
        else
            pm_buf_printf(&md, err, "Not run yet (pipemend proposals show %lld runs it).\n",
                          (long long)id);
        json_decref(dr);
        pm_buf_printf(&md, err,
                      "\n## Applying it\n\n`pipemend proposals approve %lld` checks it again "
                      "(guard, policy, dry run), runs the DDL of the .sql file, records the "
                      "schema version and replays the quarantined rows. Running the .sql file by "
                      "hand leaves pipemend's catalog behind: the next run would adopt the change "
                      "as made outside pipemend.\n",
                      (long long)id);
        char base[512];
        snprintf(base, sizeof base, "%04d_pipemend_%s_proposal_%lld", num, p->table, (long long)id);
        snprintf(sql_path, n, "%s/%s.sql", dir, base);
        snprintf(md_path, n, "%s/%s.md", dir, base);
        rc = write_file(sql_path, sql.data, err);
        if (!rc)
            rc = write_file(md_path, md.data, err);
    }
    pm_buf_free(&sql);
    pm_buf_free(&md);
    pm_arena_free(a);
    return rc;
}
