/* store.c - picks the backend from the URL and dispatches to it. */
#include "store/store_int.h"
#include "store/pg_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/hash.h"
#include "schema/colname.h"

pm_code store_open(const char *url, pm_store **out, pm_err *err)
{
    *out = NULL;
    if (!url || !*url)
        return pm_err_set(err, PM_ERR_USAGE, "no warehouse given"),
               pm_err_hint(err, "pass --db sqlite:PATH, set PIPEMEND_DB, or put db: in "
                                "pipemend.yaml"),
               PM_ERR_USAGE;
    pm_store *s = pm_xcalloc(1, sizeof *s);
    pm_code rc;
    if (strncmp(url, "sqlite:", 7) == 0) {
        rc = sqlite_store_open(url + 7, s, err);
    } else if (strncmp(url, "postgres://", 11) == 0 || strncmp(url, "postgresql://", 13) == 0) {
        rc = pg_store_open(url, s, err);
    } else {
        rc = pm_err_set(err, PM_ERR_USAGE, "unrecognised warehouse URL \"%s\"", url);
        pm_err_hint(err, "use sqlite:PATH (e.g. --db sqlite:warehouse.db) or a PostgreSQL URL, "
                         "postgresql://user@host:port/dbname or postgres://... (postgresql:/// "
                         "takes everything from PGHOST, PGPORT, PGUSER, PGDATABASE)");
    }
    if (rc) {
        free(s);
        return rc;
    }
    *out = s;
    return PM_OK;
}

void store_close(pm_store *s)
{
    if (!s)
        return;
    s->ops->close(s);
    free(s);
}

size_t store_default_batch(const pm_store *s)
{
    return strcmp(s->ops->name, "sqlite") == 0 ? 5000 : 20000;
}

pm_code store_begin(pm_store *s, pm_err *err)
{
    return s->ops->exec_tx(s, "BEGIN IMMEDIATE", err);
}

pm_code store_begin_batch(pm_store *s, pm_err *err)
{
    return s->ops->exec_tx(s, "BEGIN BATCH", err);
}

pm_code store_commit(pm_store *s, pm_err *err)
{
    return s->ops->exec_tx(s, "COMMIT", err);
}

pm_code store_rollback(pm_store *s, pm_err *err)
{
    return s->ops->exec_tx(s, "ROLLBACK", err);
}

bool store_table_name_ok(const char *name, pm_err *err)
{
    char norm[COLNAME_MAX + 1];
    size_t n = strlen(name);
    size_t len = colname_normalise(name, n, norm);
    if (len != n || memcmp(norm, name, n) != 0) {
        pm_err_set(err, PM_ERR_USAGE, "table name \"%s\" is not a plain identifier", name);
        pm_err_hint(err, "use \"%s\" (lowercase letters, digits and _)", norm);
        return false;
    }
    if (strncmp(name, "pipemend_", 9) == 0 || strncmp(name, "_pipemend", 9) == 0) {
        pm_err_set(err, PM_ERR_USAGE, "table name \"%s\" is reserved for pipemend's catalog", name);
        return false;
    }
    return true;
}

pm_code store_table_load(pm_store *s, const char *name, pm_arena *a, pm_table **out, pm_err *err)
{
    return s->ops->table_load(s, name, a, out, err);
}

pm_code store_apply_ops(pm_store *s, const pm_table *from, const pm_op *ops, size_t n,
                        const pm_table *to, const char *reason, pm_err *err)
{
    return s->ops->apply_ops(s, from, ops, n, to, reason, err);
}

pm_code store_table_live(pm_store *s, const pm_table *t, pm_arena *a, pm_table **live, bool *exists,
                         pm_err *err)
{
    return s->ops->table_live(s, t, a, live, exists, err);
}

pm_code store_table_adopt(pm_store *s, const pm_table *t, const char *reason, pm_err *err)
{
    return s->ops->table_adopt(s, t, reason, err);
}

pm_code store_table_create(pm_store *s, const pm_table *t, pm_err *err)
{
    return s->ops->table_create(s, t, err);
}

pm_code store_unique_ensure(pm_store *s, const pm_table *t, const contract_rule *u, int *changed,
                            pm_err *err)
{
    return s->ops->unique_ensure(s, t, u, changed, err);
}

pm_code store_tables_list(pm_store *s, pm_arena *a, pm_table ***out, size_t *n, pm_err *err)
{
    return s->ops->tables_list(s, a, out, n, err);
}

pm_code store_tables_brief(pm_store *s, pm_arena *a, pm_table ***out, size_t *n, pm_err *err)
{
    return s->ops->tables_brief(s, a, out, n, err);
}

pm_code store_table_count(pm_store *s, const char *name, int64_t *rows, pm_err *err)
{
    return s->ops->table_count(s, name, rows, err);
}

pm_code store_insert_prepare(pm_store *s, const pm_table *t, pm_err *err)
{
    return s->ops->insert_prepare(s, t, err);
}

pm_code store_insert(pm_store *s, const pm_cell *cells, pm_err *err)
{
    return s->ops->insert(s, cells, err);
}

pm_code store_load(pm_store *s, pm_load_row *rows, size_t n, pm_arena *a, pm_err *err)
{
    return s->ops->load(s, rows, n, a, err);
}

pm_code store_quarantine_add(pm_store *s, const pm_qrow *q, int64_t *id, pm_err *err)
{
    int64_t ignored;
    return s->ops->quarantine_add(s, q, id ? id : &ignored, err);
}

pm_code store_quarantine_page(pm_store *s, const char *table, int64_t after, int limit, pm_arena *a,
                              pm_qrow **out, size_t *n, pm_err *err)
{
    return s->ops->quarantine_page(s, table, after, limit, a, out, n, err);
}

pm_code store_quarantine_remove_many(pm_store *s, const int64_t *ids, size_t n, pm_err *err)
{
    return s->ops->quarantine_remove_many(s, ids, n, err);
}

pm_code store_quarantine_update(pm_store *s, int64_t id, const char *kinds, const char *message,
                                const char *findings, pm_err *err)
{
    return s->ops->quarantine_update(s, id, kinds, message, findings, err);
}

pm_code store_proposal_set_dry_run(pm_store *s, int64_t id, const char *outcome, pm_err *err)
{
    return s->ops->proposal_set_dry_run(s, id, outcome, err);
}

pm_code store_incident_open(pm_store *s, const pm_incident *in, int64_t *id, bool *created,
                            pm_err *err)
{
    return s->ops->incident_open(s, in, id, created, err);
}

pm_code store_incident_link(pm_store *s, int64_t incident, int64_t qrow, pm_err *err)
{
    return s->ops->incident_link(s, incident, qrow, err);
}

pm_code store_incident_unlink_row(pm_store *s, int64_t qrow, pm_err *err)
{
    return s->ops->incident_unlink_row(s, qrow, err);
}

pm_code store_incident_set(pm_store *s, int64_t id, const char *state, int64_t proposal,
                           const char *note, const char *actor, pm_err *err)
{
    return s->ops->incident_set(s, id, state, proposal, note, actor, err);
}

pm_code store_incidents_list(pm_store *s, const pm_incident_filter *f, pm_arena *a,
                             pm_incident **out, size_t *n, pm_err *err)
{
    return s->ops->incidents_list(s, f, a, out, n, err);
}

pm_code store_halt_set(pm_store *s, const char *table, const char *source, int64_t qrow,
                       pm_err *err)
{
    return s->ops->halt_set(s, table, source, qrow, err);
}

pm_code store_halt_get(pm_store *s, const char *table, const char *source, int64_t *qrow,
                       int64_t *incident, bool *found, pm_err *err)
{
    return s->ops->halt_get(s, table, source, qrow, incident, found, err);
}

pm_code store_halt_clear(pm_store *s, const char *table, const char *source, pm_err *err)
{
    return s->ops->halt_clear(s, table, source, err);
}

pm_code store_incident_stats(pm_store *s, const char *table, pm_incident_stats *out, pm_err *err)
{
    return s->ops->incident_stats(s, table, out, err);
}

pm_code store_incident_rows(pm_store *s, int64_t incident, bool newest, int limit, pm_arena *a,
                            pm_qrow **out, size_t *n, pm_err *err)
{
    return s->ops->incident_rows(s, incident, newest, limit, a, out, n, err);
}

pm_code store_sandbox_begin(pm_store *s, const pm_table *from, const pm_op *ops, size_t n,
                            const pm_table *to, int sample, int64_t *copied, pm_err *err)
{
    return s->ops->sandbox_begin(s, from, ops, n, to, sample, copied, err);
}

pm_code store_sandbox_insert(pm_store *s, const pm_cell *cells, pm_err *err)
{
    return s->ops->sandbox_insert(s, cells, err);
}

void store_sandbox_end(pm_store *s)
{
    s->ops->sandbox_end(s);
}

pm_code store_quarantine_list(pm_store *s, const char *table, int64_t run_id, int limit,
                              pm_arena *a, pm_qrow **out, size_t *n, pm_err *err)
{
    return s->ops->quarantine_list(s, table, run_id, limit, 0, a, out, n, err);
}

pm_code store_quarantine_count(pm_store *s, const char *table, int64_t *n, pm_err *err)
{
    return s->ops->quarantine_count(s, table, n, err);
}

pm_code store_quarantine_get(pm_store *s, int64_t id, pm_arena *a, pm_qrow *out, bool *found,
                             pm_err *err)
{
    pm_qrow *rows;
    size_t n;
    pm_code rc = s->ops->quarantine_list(s, NULL, 0, 1, id, a, &rows, &n, err);
    *found = !rc && n == 1;
    if (*found)
        *out = rows[0];
    return rc;
}

pm_code store_checkpoint_get(pm_store *s, const char *table, const char *source, pm_checkpoint *out,
                             bool *found, pm_err *err)
{
    return s->ops->checkpoint_get(s, table, source, out, found, err);
}

pm_code store_checkpoint_set(pm_store *s, const char *table, const char *source,
                             const pm_checkpoint *cp, pm_err *err)
{
    return s->ops->checkpoint_set(s, table, source, cp, err);
}

pm_code store_run_start(pm_store *s, const char *pipeline, const char *table, int64_t *id,
                        pm_err *err)
{
    return s->ops->run_start(s, pipeline, table, id, err);
}

pm_code store_run_add(pm_store *s, int64_t id, int64_t r, int64_t l, int64_t q, pm_err *err)
{
    return s->ops->run_add(s, id, r, l, q, err);
}

pm_code store_run_finish(pm_store *s, int64_t id, const char *status, const char *error,
                         bool anomaly, const char *note, pm_err *err)
{
    return s->ops->run_finish(s, id, status, error, anomaly, note, err);
}

pm_code store_run_get(pm_store *s, int64_t id, pm_arena *a, pm_run *out, bool *found, pm_err *err)
{
    pm_run *rows;
    size_t n;
    pm_code rc = s->ops->runs_list(s, NULL, NULL, 1, id, a, &rows, &n, err);
    *found = !rc && n == 1;
    if (*found)
        *out = rows[0];
    return rc;
}

pm_code store_runs_list(pm_store *s, const char *pipeline, const char *table, int limit,
                        pm_arena *a, pm_run **out, size_t *n, pm_err *err)
{
    return s->ops->runs_list(s, pipeline, table, limit, 0, a, out, n, err);
}

pm_code store_runs_reap(pm_store *s, pm_arena *a, int64_t **ids, size_t *n, pm_err *err)
{
    return s->ops->runs_reap(s, a, ids, n, err);
}

pm_code store_audit_append(pm_store *s, pm_audit_event *e,
                           void (*hash)(const pm_audit_event *e, char out[65]), pm_err *err)
{
    return s->ops->audit_append(s, e, hash, err);
}

pm_code store_audit_list(pm_store *s, int64_t after, int limit, pm_arena *a, pm_audit_event **out,
                         size_t *n, pm_err *err)
{
    return s->ops->audit_list(s, after, limit, a, out, n, err);
}

pm_code store_proposal_add(pm_store *s, const pm_proposal *p, int64_t *id, bool *created,
                           pm_err *err)
{
    return s->ops->proposal_add(s, p, id, created, err);
}

pm_code store_proposals_list(pm_store *s, const char *table, const char *state, int64_t id,
                             pm_arena *a, pm_proposal **out, size_t *n, pm_err *err)
{
    return s->ops->proposals_list(s, table, state, id, a, out, n, err);
}

pm_code store_proposal_decide(pm_store *s, int64_t id, const char *state, const char *actor,
                              pm_err *err)
{
    return s->ops->proposal_decide(s, id, state, actor, err);
}

pm_code store_quarantine_remove(pm_store *s, int64_t id, pm_err *err)
{
    return s->ops->quarantine_remove(s, id, err);
}

void store_unique_index_name(const pm_table *t, const contract_rule *u, char out[64])
{
    uint64_t h = pm_hash(t->name, strlen(t->name) + 1);
    for (size_t i = 0; i < u->nkey; i++)
        h = (h * 1099511628211ULL) ^ pm_hash(u->key[i], strlen(u->key[i]) + 1);
    snprintf(out, 64, "_pipemend_unique_%016llx", (unsigned long long)h);
}
