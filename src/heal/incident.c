/* incident.c - incident states, their moves and the diagnostic packet (see
 * incident.h for the diagram and the invariants). */
#include "heal/incident.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"

static const char *const state_names[INC_STATE_COUNT] = {
    [INC_OPEN] = "open",
    [INC_PLANNED] = "planned",
    [INC_AWAITING_APPROVAL] = "awaiting_approval",
    [INC_DRY_RUN_FAILED] = "dry_run_failed",
    [INC_APPLIED] = "applied",
    [INC_REPLAYED] = "replayed",
    [INC_RESOLVED] = "resolved",
    [INC_DISMISSED] = "dismissed",
};

const char *incident_state_name(pm_incident_state s)
{
    return s < INC_STATE_COUNT ? state_names[s] : "?";
}

bool incident_state_parse(const char *name, pm_incident_state *out)
{
    for (int i = 0; name && i < INC_STATE_COUNT; i++) {
        if (strcmp(name, state_names[i]) == 0) {
            *out = (pm_incident_state)i;
            return true;
        }
    }
    return false;
}

bool incident_is_active(pm_incident_state s)
{
    return s != INC_RESOLVED && s != INC_DISMISSED;
}

/* The moves of the diagram, one bit per target state. */
#define TO(s) (1u << (s))
static const unsigned moves[INC_STATE_COUNT] = {
    [INC_OPEN] = TO(INC_PLANNED) | TO(INC_RESOLVED) | TO(INC_DISMISSED),
    [INC_PLANNED] = TO(INC_AWAITING_APPROVAL) | TO(INC_DRY_RUN_FAILED) | TO(INC_APPLIED) |
                    TO(INC_OPEN) | TO(INC_RESOLVED) | TO(INC_DISMISSED),
    [INC_AWAITING_APPROVAL] = TO(INC_APPLIED) | TO(INC_DRY_RUN_FAILED) | TO(INC_PLANNED) |
                              TO(INC_OPEN) | TO(INC_RESOLVED) | TO(INC_DISMISSED),
    [INC_DRY_RUN_FAILED] = TO(INC_PLANNED) | TO(INC_OPEN) | TO(INC_RESOLVED) | TO(INC_DISMISSED),
    [INC_APPLIED] = TO(INC_REPLAYED),
    [INC_REPLAYED] = TO(INC_RESOLVED) | TO(INC_PLANNED) | TO(INC_DISMISSED),
    [INC_RESOLVED] = 0,
    [INC_DISMISSED] = 0,
};

bool incident_can_move(pm_incident_state from, pm_incident_state to)
{
    return from < INC_STATE_COUNT && to < INC_STATE_COUNT && (moves[from] & TO(to));
}

pm_code incident_move(pm_store *s, pm_incident *in, pm_incident_state to, int64_t proposal,
                      const char *note, const char *actor, pm_err *err)
{
    pm_incident_state from;
    if (!incident_state_parse(in->state, &from))
        return pm_err_set(err, PM_ERR_DB, "incident %lld has an unknown state \"%s\"",
                          (long long)in->id, in->state);
    if (from == to)
        return PM_OK;
    if (!incident_can_move(from, to)) {
        pm_err_set(err, PM_ERR_USAGE, "incident %lld is %s; it cannot become %s", (long long)in->id,
                   state_names[from], state_names[to]);
        if (!incident_is_active(from))
            pm_err_hint(err, "it is closed; new drift of the same kind opens a new incident");
        return PM_ERR_USAGE;
    }
    pm_code rc = store_incident_set(s, in->id, state_names[to], proposal, note,
                                    to == INC_DISMISSED ? actor : NULL, err);
    if (rc)
        return rc;
    json_t *p = json_pack("{s:s, s:s, s:s, s:s}", "table", in->table, "column", in->column, "kind",
                          in->kind, "from", state_names[from]);
    if (proposal)
        json_object_set_new(p, "proposal", json_integer(proposal));
    if (note)
        json_object_set_new(p, "note", json_string(note));
    char *text = json_dumps(p, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(p);
    char subject[64], action[64];
    snprintf(subject, sizeof subject, "incident/%lld", (long long)in->id);
    snprintf(action, sizeof action, "incident.%s", state_names[to]);
    rc = audit_append(s, actor, action, subject, text, err);
    free(text);
    if (!rc) {
        in->state = state_names[to];
        if (proposal)
            in->proposal = proposal;
    }
    return rc;
}

struct incident_cache {
    pm_arena *arena;
    const char *table;
    int64_t run_id;
    struct cache_entry {
        const char *column;
        pm_finding_kind kind;
        int64_t id;
    } * e;
    size_t n, cap;
};

incident_cache *incident_cache_new(pm_arena *arena, const char *table, int64_t run_id)
{
    incident_cache *c = pm_arena_calloc(arena, sizeof *c);
    c->arena = arena;
    c->table = pm_arena_strdup(arena, table);
    c->run_id = run_id;
    return c;
}

void incident_cache_clear(incident_cache *c)
{
    c->n = 0;
}

void incident_cache_set_run(incident_cache *c, int64_t run_id)
{
    c->run_id = run_id;
}

static void cache_forget(incident_cache *c, const pm_finding *f)
{
    const char *column = f->column ? f->column : "";
    for (size_t i = 0; i < c->n; i++) {
        if (c->e[i].kind == f->kind && strcmp(c->e[i].column, column) == 0) {
            c->e[i] = c->e[--c->n];
            return;
        }
    }
}

static pm_code cache_get(incident_cache *c, pm_store *s, const pm_finding *f, int64_t *id,
                         pm_err *err)
{
    const char *column = f->column ? f->column : "";
    for (size_t i = 0; i < c->n; i++) {
        if (c->e[i].kind == f->kind && strcmp(c->e[i].column, column) == 0) {
            *id = c->e[i].id;
            return PM_OK;
        }
    }
    pm_incident in = {.table = c->table,
                      .column = column,
                      .kind = drift_kind_name(f->kind),
                      .run_id = c->run_id,
                      .message = f->message};
    bool created;
    pm_code rc = store_incident_open(s, &in, id, &created, err);
    if (!rc && created) {
        json_t *p = json_pack("{s:s, s:s, s:s, s:I, s:s}", "table", c->table, "column", column,
                              "kind", in.kind, "run", (json_int_t)c->run_id, "message",
                              f->message ? f->message : "");
        char *text = json_dumps(p, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(p);
        char subject[64];
        snprintf(subject, sizeof subject, "incident/%lld", (long long)*id);
        rc = audit_append(s, "engine", "incident.open", subject, text, err);
        free(text);
    }
    if (rc)
        return rc;
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 8;
        struct cache_entry *ne = pm_arena_alloc(c->arena, c->cap * sizeof *ne);
        if (c->n)
            memcpy(ne, c->e, c->n * sizeof *ne);
        c->e = ne;
    }
    c->e[c->n++] = (struct cache_entry){pm_arena_strdup(c->arena, column), f->kind, *id};
    return PM_OK;
}

pm_code incident_cache_link(incident_cache *c, pm_store *s, int64_t qrow, const pm_finding *f,
                            size_t n, pm_err *err)
{
    pm_code rc = PM_OK;
    for (size_t i = 0; !rc && i < n; i++) {
        int64_t id;
        bool linked = false;
        rc = cache_get(c, s, &f[i], &id, err);
        if (!rc)
            rc = store_incident_link(s, id, qrow, &linked, err);
        if (!rc && !linked) {
            /* The incident remembered may have closed since (a replay
             * resolved it while this run quarantined more of its drift):
             * look again, which finds the active one or opens a new one.
             * Nothing linked the second time: the link was there already. */
            cache_forget(c, &f[i]);
            rc = cache_get(c, s, &f[i], &id, err);
            if (!rc)
                rc = store_incident_link(s, id, qrow, &linked, err);
        }
    }
    return rc;
}

pm_code incident_cache_link_many(incident_cache *c, pm_store *s, size_t n, const int64_t *qrow,
                                 const pm_finding *const *f, const size_t *nf, pm_err *err)
{
    size_t links = 0;
    for (size_t i = 0; i < n; i++)
        links += nf[i];
    if (!links)
        return PM_OK;
    int64_t *inc = pm_xmalloc(links * sizeof *inc), *row = pm_xmalloc(links * sizeof *row);
    size_t k = 0;
    pm_code rc = PM_OK;
    for (size_t i = 0; !rc && i < n; i++)
        for (size_t j = 0; !rc && j < nf[i]; j++) {
            rc = cache_get(c, s, &f[i][j], &inc[k], err);
            row[k++] = qrow[i];
        }
    bool *linked = pm_xmalloc((k ? k : 1) * sizeof *linked);
    if (!rc)
        rc = store_incident_link_many(s, inc, row, k, linked, err);
    /* a link not made: the incident remembered closed since (a replay
     * resolved it while this run quarantined more of its drift), or the
     * link was there already; look again, as incident_cache_link does */
    k = 0;
    for (size_t i = 0; !rc && i < n; i++)
        for (size_t j = 0; !rc && j < nf[i]; j++, k++) {
            if (linked[k])
                continue;
            bool again;
            cache_forget(c, &f[i][j]);
            rc = cache_get(c, s, &f[i][j], &inc[k], err);
            if (!rc)
                rc = store_incident_link(s, inc[k], qrow[i], &again, err);
        }
    free(linked);
    free(inc);
    free(row);
    return rc;
}

pm_finding_kind incident_kind_for_op(const pm_op *op)
{
    switch (op->kind) {
    case OP_WIDEN_COLUMN:
        return FINDING_WIDEN;
    case OP_DROP_NOT_NULL:
        return FINDING_NULL_VIOLATION;
    case OP_ADD_FIELD_MAPPING:
    case OP_MERGE_COLUMN:
        return FINDING_RENAME;
    case OP_ADD_COERCION:
        return FINDING_FORMAT;
    case OP_RETYPE_COLUMN:
        /* values that left the number class, or a text column's dates
         * in a new format */
        return op->type.kind == PM_T_TEXT ? FINDING_TYPE_CONFLICT : FINDING_FORMAT;
    default:
        return FINDING_NEW_FIELD;
    }
}
