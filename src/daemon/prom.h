/* prom.h - GET /metrics: pipemend's numbers in the Prometheus text
 * exposition format (version 0.0.4), for a Prometheus server to scrape.
 *
 * Counters that the warehouse holds the truth of are computed from it at
 * each scrape, so they survive restarts and agree between replicas: rows
 * read, loaded and quarantined per pipeline and table, runs by pipeline and
 * status, volume anomalies, last successful run per pipeline (freshness),
 * run durations (a histogram over the newest runs), incidents open by
 * table and kind, time to resolve incidents (a histogram), proposals
 * waiting, the agent's sessions, tokens and tool calls, audit events. The
 * MCP tool calls of this process (calls and failures per tool) come from
 * the server's own counts and start at zero with it. A scrape is computed
 * at most once a second; concurrent scrapes share it. */
#ifndef PM_DAEMON_PROM_H
#define PM_DAEMON_PROM_H

#include "core/err.h"
#include "http/server.h"
#include "tools/tools.h"

#define PROM_PATH "/metrics"

/* Mounts /metrics on srv, reading the warehouse t->db (its own
 * connection) and t->call_stats. t is borrowed for the server's life. */
pm_code prom_mount(http_server *srv, tools_ctx *t, pm_err *err);

/* The exposition text for the warehouse s (caller frees), for tests and
 * the route. call_stats as tools_ctx's (may be NULL). */
char *prom_render(pm_store *s, tools_ctx *t, pm_err *err);

#endif
