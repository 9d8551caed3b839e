/* view.h - one JSON shape per entity: a table, a run, an incident (and its
 * diagnostic packet), a proposal, a quarantined row, an audit event,
 * incident statistics. Every face prints from here: the CLI's --json, the
 * tools an MCP client or pipemend's agent calls, and later REST and the
 * dashboard, so that the same entity has the same shape everywhere by
 * construction.
 *
 * Text that comes from a feed (a quarantined row's bytes, sample records)
 * is made safe for JSON here too: invalid UTF-8 is replaced, and for
 * readers that are models it is wrapped in an object that labels it as
 * untrusted data (view_untrusted), never as something to follow.
 *
 * Every function returns a new reference the caller owns. */
#ifndef PM_VIEW_VIEW_H
#define PM_VIEW_VIEW_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "audit/audit.h"
#include "heal/incident.h"
#include "pipeline/metrics.h"
#include "store/store.h"

/* Feed bytes as a JSON string: valid UTF-8 as is, each invalid byte
 * replaced by U+FFFD, cut at max bytes on a character boundary (*cut says
 * whether it was). */
json_t *view_text(const char *raw, size_t len, size_t max, bool *cut);

/* Feed bytes for a model: {"untrusted_feed_data": text, "truncated": b},
 * text as view_text makes it; truncated also when the bytes were cut
 * before they were stored. */
json_t *view_untrusted(const char *raw, size_t len, bool truncated, size_t max);

/* The entities whose shapes quote the feed: field names become column
 * names, findings and messages quote values, audit payloads and proposals
 * name columns. */
typedef enum view_kind {
    VIEW_TABLE,        /* view_table */
    VIEW_INCIDENT,     /* view_incident */
    VIEW_PROPOSAL,     /* view_proposal (and a packet's proposals) */
    VIEW_AUDIT_EVENT,  /* view_audit_event */
    VIEW_RUN,          /* view_run */
    VIEW_FINDING,      /* one finding (drift_findings_json, a qrow's findings) */
    VIEW_QROW,         /* view_qrow with VIEW_RAW_UNTRUSTED */
    VIEW_AGENT_SESSION /* view_agent_session: a model's words, which a feed may have steered */
} view_kind;

/* Declares, in o's "untrusted" member ({"note": ..., "paths": [...]},
 * made when missing), that the entities of kind k at the JSONPath prefix
 * ("$.incidents[*]", "$.incident") quote the feed: every path under the
 * prefix where feed text can reach is listed, once. The one place that
 * knows where each shape carries feed text: every read tool marks its
 * result through it, so that a model reads those values as data, never as
 * instructions. */
void view_mark_untrusted(json_t *o, const char *prefix, view_kind k);

/* A table as `schema show --json` prints it: name, version, its columns
 * (with aliases and coercion formats) and, apart from them, the names of
 * the columns dropped outside pipemend. */
json_t *view_table(const pm_table *t);

/* A run (a row of `runs --json`). */
json_t *view_run(const pm_run *r);

/* A proposal (a row of `proposals list --json`): its ops, reasons and dry
 * run as JSON, not as the text the catalog keeps. */
json_t *view_proposal(const pm_proposal *p);

/* An audit event (a row of `audit log --json`); its payload as JSON. */
json_t *view_audit_event(const pm_audit_event *e);

/* An agent session (a row of `agent sessions list --json`, where "steps"
 * counts them); with_steps makes "steps" the array of the n steps, as
 * `agent sessions show --json` prints it (a tool call's arguments as the
 * model sent them). price_in and price_out (USD per million tokens) give
 * "cost_usd", an estimate. */
json_t *view_agent_session(const pm_agent_session *x, const pm_agent_step *steps, size_t n,
                           bool with_steps, double price_in, double price_out);

/* How a quarantined row's bytes are shown. */
typedef enum view_raw {
    VIEW_RAW_EXACT,    /* "raw" (text; "raw_hex" too when it is not UTF-8) and
                        * "raw_truncated": for people and programs */
    VIEW_RAW_UNTRUSTED /* "raw" as view_untrusted, cut at raw_max: for models */
} view_raw;

/* A quarantined row (a row of `quarantine list --json`). */
json_t *view_qrow(const pm_qrow *q, view_raw how, size_t raw_max);

/* An incident (a row of `incidents list --json`). */
json_t *view_incident(const pm_incident *in);

/* A table's (or every table's) incident counts and mean time to recovery. */
json_t *view_incident_stats(const pm_incident_stats *is);

/* The warehouse's summary (get_metrics): {"incidents": {active, resolved,
 * dismissed, by_kind, by_state, mttr_seconds}, "runs": {total, by_status,
 * truncated}}. */
json_t *view_metrics_summary(const metrics_summary *m);
/* The agent's metrics (get_metrics "agent", `agent stats --json`). */
json_t *view_metrics_agent(const metrics_agent *m);

/* The diagnostic packet of an incident: the incident with its times, the
 * distinct findings of its kind with counts, the table's current
 * definition, up to `samples` sample records (raw bytes cut at 1 KiB: text,
 * or for VIEW_RAW_UNTRUSTED wrapped as view_untrusted; either way its
 * "untrusted" member lists the paths that quote the feed), where its rows
 * are in their sources, the run that detected it and its proposals. NULL
 * after setting err. */
json_t *view_incident_packet(pm_store *s, const pm_incident *in, int samples, view_raw how,
                             pm_err *err);

#endif
