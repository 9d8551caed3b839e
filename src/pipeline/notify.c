/* notify.c - which audit events become notifications, queued in the
 * outbox in the event's transaction (notify.h). */
#include "pipeline/notify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit/audit.h"
#include "pipeline/config.h"

static const char *const names[NE_COUNT] = {
    [NE_INCIDENT_OPENED] = "incident.opened",
    [NE_PROPOSAL_AWAITING] = "proposal.awaiting",
    [NE_PROPOSAL_APPLIED] = "proposal.applied",
    [NE_PROPOSAL_REJECTED] = "proposal.rejected",
    [NE_RUN_FAILED] = "run.failed",
    [NE_VOLUME_ANOMALY] = "volume.anomaly",
    [NE_AUDIT_VERIFY_FAILED] = "audit.verify_failed",
};

const char *notify_event_name(notify_event e)
{
    return (unsigned)e < NE_COUNT ? names[e] : "unknown";
}

bool notify_event_parse(const char *name, notify_event *out)
{
    for (int i = 0; i < NE_COUNT; i++)
        if (strcmp(names[i], name) == 0) {
            *out = (notify_event)i;
            return true;
        }
    return false;
}

static const pm_config *installed;

/* Queues one notification per sink that wants event. */
static pm_code queue(pm_store *s, const pm_config *cfg, notify_event event, const char *subject,
                     json_t *body, pm_err *err)
{
    pm_code rc = PM_OK;
    char *text = NULL;
    for (size_t i = 0; !rc && i < cfg->nsinks; i++) {
        if (!(cfg->sinks[i].events >> event & 1))
            continue;
        if (!text)
            text = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
        if (!text)
            rc = pm_err_set(err, PM_ERR_NOMEM, "cannot encode the notification");
        else
            rc = store_outbox_add(s, cfg->sinks[i].name, names[event], subject, text,
                                  (int64_t)time(NULL), err);
    }
    free(text);
    return rc;
}

/* The notification an audit event stands for, if any. */
static bool event_of(const pm_audit_event *e, json_t *payload, notify_event *out)
{
    const char *a = e->action;
    if (strcmp(a, "incident.open") == 0)
        *out = NE_INCIDENT_OPENED;
    else if (strcmp(a, "incident.awaiting_approval") == 0)
        *out = NE_PROPOSAL_AWAITING;
    else if (strcmp(a, "proposal.approved") == 0 || strcmp(a, "schema.healed") == 0)
        *out = NE_PROPOSAL_APPLIED;
    else if (strcmp(a, "proposal.rejected") == 0)
        *out = NE_PROPOSAL_REJECTED;
    else if (strcmp(a, "run.finished") == 0) {
        const char *st = json_string_value(json_object_get(payload, "status"));
        if (st && strcmp(st, "failed") == 0)
            *out = NE_RUN_FAILED;
        else if (json_is_true(json_object_get(payload, "volume_anomaly")))
            *out = NE_VOLUME_ANOMALY;
        else
            return false;
    } else
        return false;
    return true;
}

static pm_code on_event(void *arg, pm_store *s, const pm_audit_event *e, pm_err *err)
{
    const pm_config *cfg = installed;
    if (!cfg || !cfg->nsinks)
        return PM_OK;
    json_t *payload = json_loads(e->payload, 0, NULL);
    notify_event ev;
    pm_code rc = PM_OK;
    if (event_of(e, payload, &ev)) {
        /* a waiting repair names its proposal, which the incident holds */
        long long id;
        if (ev == NE_PROPOSAL_AWAITING && payload && !json_object_get(payload, "proposal") &&
            sscanf(e->subject, "incident/%lld", &id) == 1) {
            pm_arena *a = pm_arena_new(0);
            pm_incident_filter f = {.id = id};
            pm_incident *in;
            size_t n;
            if (store_incidents_list(s, &f, a, &in, &n, err) == PM_OK && n == 1 && in[0].proposal)
                json_object_set_new(payload, "proposal", json_integer(in[0].proposal));
            pm_arena_free(a);
        }
        json_t *body =
            json_pack("{s:s, s:s, s:s, s:s, s:I}", "event", names[ev], "at", e->at, "actor",
                      e->actor, "subject", e->subject, "audit_seq", (json_int_t)e->seq);
        json_object_set(body, "details", payload ? payload : json_object());
        rc = queue(s, cfg, ev, e->subject, body, err);
        json_decref(body);
        /* a run that failed with a volume anomaly too: both */
        if (!rc && ev == NE_RUN_FAILED &&
            json_is_true(json_object_get(payload, "volume_anomaly"))) {
            body = json_pack("{s:s, s:s, s:s, s:s, s:I, s:O}", "event", names[NE_VOLUME_ANOMALY],
                             "at", e->at, "actor", e->actor, "subject", e->subject, "audit_seq",
                             (json_int_t)e->seq, "details", payload);
            rc = queue(s, cfg, NE_VOLUME_ANOMALY, e->subject, body, err);
            json_decref(body);
        }
    }
    json_decref(payload);
    return rc;
}

void notify_install(const pm_config *cfg)
{
    installed = cfg;
    audit_set_hook(cfg && cfg->nsinks ? on_event : NULL, NULL);
}

pm_code notify_enqueue(pm_store *s, const pm_config *cfg, notify_event event, const char *subject,
                       json_t *details, pm_err *err)
{
    char at[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(at, sizeof at, "%Y-%m-%dT%H:%M:%SZ", &tm);
    json_t *body =
        json_pack("{s:s, s:s, s:s, s:s, s:o}", "event", names[event], "at", at, "actor", "engine",
                  "subject", subject, "details", details ? details : json_object());
    pm_code rc = queue(s, cfg, event, subject, body, err);
    json_decref(body);
    return rc;
}
