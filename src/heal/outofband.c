/* outofband.c - adopting changes made outside pipemend (see outofband.h). */
#include "heal/outofband.h"

#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "audit/audit.h"
#include "core/buf.h"
#include "core/log.h"
#include "drift/drift.h"
#include "heal/incident.h"
#include "schema/schemadiff.h"

static pm_code record_change(pm_store *s, const pm_table *t, const pm_change *c, int64_t run_id,
                             int version, pm_arena *a, pm_err *err)
{
    char from[TYPE_NAME_MAX], to[TYPE_NAME_MAX], subject[160];
    snprintf(subject, sizeof subject, "table/%s", t->name);
    json_t *p =
        json_pack("{s:s, s:s, s:s, s:b, s:s, s:I, s:i}", "table", t->name, "change",
                  schemadiff_kind_name(c->kind), "column", c->column, "compatible", c->compatible,
                  "message", c->message, "run", (json_int_t)run_id, "adopted_version", version);
    if (c->kind == CHANGE_TYPE_CHANGED) {
        json_object_set_new(p, "from", json_string(type_name(c->from, from)));
        json_object_set_new(p, "to", json_string(type_name(c->to, to)));
    }
    char *text = json_dumps(p, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(p);
    pm_code rc = audit_append(s, "engine", "schema.out_of_band", subject, text, err);
    free(text);
    if (rc)
        return rc;
    pm_incident in = {.table = t->name,
                      .column = c->column,
                      .kind = drift_kind_name(FINDING_OUT_OF_BAND),
                      .run_id = run_id,
                      .message = c->message};
    int64_t id;
    bool created;
    rc = store_incident_open(s, &in, &id, &created, err);
    if (rc)
        return rc;
    pm_incident_filter f = {.id = id};
    pm_incident *cur;
    size_t n;
    rc = store_incidents_list(s, &f, a, &cur, &n, err);
    if (!rc && n != 1)
        rc = pm_err_set(err, PM_ERR_DB, "incident %lld vanished", (long long)id);
    if (!rc && created) {
        snprintf(subject, sizeof subject, "incident/%lld", (long long)id);
        json_t *ip = json_pack("{s:s, s:s, s:s, s:I, s:s}", "table", t->name, "column", c->column,
                               "kind", in.kind, "run", (json_int_t)run_id, "message", c->message);
        char *itext = json_dumps(ip, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(ip);
        rc = audit_append(s, "engine", "incident.open", subject, itext, err);
        free(itext);
    }
    const char *note =
        c->compatible
            ? pm_arena_sprintf(a, "adopted as schema version %d", version)
            : pm_arena_sprintf(a,
                               "adopted as schema version %d because the database enforces it; "
                               "rows it affects are quarantined: change the table back, or "
                               "dismiss this incident",
                               version);
    if (!rc && c->compatible)
        rc = incident_move(s, cur, INC_RESOLVED, 0, note, "engine", err);
    else if (!rc)
        rc = store_incident_set(s, id, cur->state, 0, note, NULL, err);
    return rc;
}

/* The catalog knows t, the database has no such table: an out_of_band
 * incident (column "") with its audit events, once per disappearance (a
 * later run joins the open incident and records nothing new). */
static pm_code record_missing(pm_store *s, const pm_table *t, int64_t run_id, pm_err *err)
{
    char msg[300], subject[160];
    snprintf(msg, sizeof msg,
             "table %s (schema version %d) was dropped or renamed outside pipemend", t->name,
             t->version);
    pm_incident in = {.table = t->name,
                      .column = "",
                      .kind = drift_kind_name(FINDING_OUT_OF_BAND),
                      .run_id = run_id,
                      .message = msg};
    int64_t id;
    bool created = false;
    pm_code rc = store_begin(s, err);
    if (!rc)
        rc = store_incident_open(s, &in, &id, &created, err);
    if (!rc && created) {
        snprintf(subject, sizeof subject, "table/%s", t->name);
        json_t *p = json_pack("{s:s, s:s, s:I, s:s}", "table", t->name, "change", "table_dropped",
                              "run", (json_int_t)run_id, "message", msg);
        char *text = json_dumps(p, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(p);
        rc = audit_append(s, "engine", "schema.out_of_band", subject, text, err);
        free(text);
        snprintf(subject, sizeof subject, "incident/%lld", (long long)id);
        p = json_pack("{s:s, s:s, s:s, s:I, s:s}", "table", t->name, "column", "", "kind", in.kind,
                      "run", (json_int_t)run_id, "message", msg);
        text = json_dumps(p, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(p);
        rc = rc ? rc : audit_append(s, "engine", "incident.open", subject, text, err);
        free(text);
    }
    rc = rc ? rc : store_commit(s, err);
    if (rc)
        store_rollback(s, NULL);
    return rc;
}

/* One look: PM_ERR_BUSY when another worker changed the table between
 * reading the catalog and adopting (its change is then not out of band). */
static pm_code check_once(pm_store *s, const pm_table *t, int64_t run_id, pm_arena *a,
                          pm_table **now, pm_err *err)
{
    *now = (pm_table *)t;
    pm_table *live;
    bool exists;
    pm_code rc = store_table_live(s, t, a, &live, &exists, err);
    if (rc)
        return rc;
    if (!exists) {
        if ((rc = record_missing(s, t, run_id, err)))
            return rc;
        pm_err_set(err, PM_ERR_SCHEMA,
                   "table %s is in pipemend's catalog (schema version %d) but not in the "
                   "warehouse: it was dropped or renamed outside pipemend",
                   t->name, t->version);
        pm_err_hint(err,
                    "restore the table (pipemend schema show --table %s lists its columns), or "
                    "let pipemend forget it: pipemend table drop %s",
                    t->name, t->name);
        return PM_ERR_SCHEMA;
    }
    pm_change *ch;
    size_t nch = schemadiff(t, live, a, &ch);
    if (!nch)
        return PM_OK;
    pm_buf why;
    pm_buf_init(&why, 1 << 16);
    pm_buf_puts(&why, "adopted changes made outside pipemend: ", NULL);
    for (size_t i = 0; i < nch; i++) {
        if (ch[i].kind == CHANGE_COLUMN_DROPPED)
            table_add_dropped(live, a, ch[i].column);
        pm_buf_printf(&why, NULL, "%s%s", i ? "; " : "", ch[i].message);
    }
    rc = store_begin(s, err);
    if (!rc)
        rc = store_table_adopt(s, live, why.data, err);
    for (size_t i = 0; !rc && i < nch; i++) {
        rc = record_change(s, t, &ch[i], run_id, live->version, a, err);
    }
    rc = rc ? rc : store_commit(s, err);
    if (rc)
        store_rollback(s, NULL);
    pm_buf_free(&why);
    if (rc)
        return rc;
    for (size_t i = 0; i < nch; i++)
        pm_warn("%s changed outside pipemend: %s (%s; adopted as schema version %d)", t->name,
                ch[i].message, ch[i].compatible ? "compatible" : "incompatible: incident open",
                live->version);
    *now = live;
    return PM_OK;
}

/* Workers that start while another changes the table would otherwise take
 * its change, seen in the live table before the catalog, for one made by
 * hand: the adoption checks the catalog under the table's lock, and a look
 * that lost the race reads the catalog again. */
enum { RACE_TRIES = 8 };

pm_code outofband_check(pm_store *s, const pm_table *t, int64_t run_id, pm_arena *a, pm_table **now,
                        pm_err *err)
{
    pm_code rc = check_once(s, t, run_id, a, now, err);
    for (int i = 1; rc == PM_ERR_BUSY && i < RACE_TRIES; i++) {
        pm_table *cur = NULL;
        rc = store_table_load(s, t->name, a, &cur, err);
        if (!rc && !cur)
            rc = pm_err_set(err, PM_ERR_SCHEMA, "table %s left pipemend's catalog during the run",
                            t->name);
        if (!rc)
            rc = check_once(s, cur, run_id, a, now, err);
    }
    return rc;
}

pm_code outofband_adopt(pm_store *s, const char *name, int64_t run_id, pm_arena *a, pm_table **t,
                        pm_err *err)
{
    *t = NULL;
    pm_table *none = table_new(a, name), *live;
    bool exists;
    pm_code rc = store_table_live(s, none, a, &live, &exists, err);
    if (rc || !exists)
        return rc;
    rc = store_begin(s, err);
    if (!rc)
        rc =
            store_table_adopt(s, live, "adopted: the table existed before pipemend loaded it", err);
    if (!rc) {
        char subject[160];
        snprintf(subject, sizeof subject, "table/%s", name);
        json_t *p = json_pack("{s:I, s:i, s:o}", "run", (json_int_t)run_id, "version",
                              live->version, "columns", table_columns_json(live));
        char *text = json_dumps(p, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(p);
        rc = audit_append(s, "engine", "table.adopted", subject, text, err);
        free(text);
    }
    rc = rc ? rc : store_commit(s, err);
    if (rc) {
        store_rollback(s, NULL);
        /* another worker adopted (or created) it first: take theirs */
        if (rc == PM_ERR_BUSY && !(rc = store_table_load(s, name, a, t, err)) && *t)
            return outofband_check(s, *t, run_id, a, t, err);
        return rc;
    }
    pm_info("%s existed before pipemend: adopted as schema version 1 with %zu columns", name,
            live->ncols);
    *t = live;
    return PM_OK;
}
