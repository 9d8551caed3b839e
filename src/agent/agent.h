/* agent.h - the reasoning agent: a model (Claude through the Anthropic
 * Messages API, or any OpenAI-compatible chat-completions server) takes an
 * incident the rules could not settle and works through pipemend's own
 * tools, called in-process with actor "agent:<model>" - the same handlers
 * the MCP server calls, under the same guard, policy and audit. It can
 * read, propose, dry-run, apply what the policy lets the rules apply, and
 * replay; it can never approve (there is no such tool), act on another
 * table than its incident's, or run SQL of its own.
 *
 * A session is one incident: the system prompt (prompts/agent-system.md,
 * its SHA-256 recorded), the incident's diagnostic packet as the first
 * message (feed values marked untrusted), then model turns and tool calls
 * until the model calls `finish` with its conclusion (proposed, applied,
 * escalated, no_action) or a budget, a refusal, a cut answer or a signal
 * ends it (recorded as escalated with the reason). Every model call and
 * tool call is a step in the warehouse (_pipemend_agent_steps); every tool
 * call and the start and end are events of the audit chain.
 *
 * Budgets (pipemend.yaml agent:): turns, tokens per call, per session and
 * per warehouse and UTC day, wall clock per session and per call. Calls
 * that fail with 429, 5xx (529 included), a timeout, a dropped connection
 * or an answer that does not parse are retried with exponential backoff
 * and jitter, honouring Retry-After. The API key is read from the
 * environment variable the config names and goes only into the request's
 * header: never into a log line, an event, a step or a message. */
#ifndef PM_AGENT_AGENT_H
#define PM_AGENT_AGENT_H

#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"
#include "pipeline/config.h"
#include "tools/tools.h"

/* How a session ended, for the caller. */
typedef struct agent_outcome {
    int64_t session;     /* 0: none was started */
    const char *outcome; /* proposed, applied, escalated, no_action */
    char reason[256];    /* why it ended without finish, "" when by finish */
} agent_outcome;

typedef struct agent_opts {
    tools_ctx *tools;        /* the warehouse and configuration (store opened) */
    const pm_agent_cfg *cfg; /* the agent: section */
    /* Each step as a line a person reads (may be NULL); the text may hold
     * anything a model or a feed wrote: the face escapes it. */
    void (*trace)(void *arg, const char *line);
    void *trace_arg;
} agent_opts;

/* Runs one session on incident id. PM_OK when it ended with a conclusion
 * (by finish, or escalated by a budget, a refusal, a cut answer, a
 * signal); an error when it could not run (no agent configured, no key,
 * no such incident or not an active one, a session already running on it,
 * the provider failing after every retry). */
pm_code agent_run(const agent_opts *o, int64_t incident, agent_outcome *out, pm_err *err);

/* The active incidents whose kind the agent takes (cfg->kinds), in state
 * open or dry_run_failed, that no session has taken up yet, of table
 * (NULL: every table); at most max into ids (caller's array), oldest
 * first; *n their count. An incident a session already concluded on is
 * left to a person (agent run --incident takes it up again). */
pm_code agent_pending(const agent_opts *o, const char *table, int64_t *ids, size_t max, size_t *n,
                      pm_err *err);

/* Asks sessions in progress to end at their next step (async-signal-safe:
 * for SIGTERM and SIGINT handlers). */
void agent_request_stop(void);

/* The system prompt and its SHA-256 (64 hex digits). */
const char *agent_prompt(void);
const char *agent_prompt_sha256(void);

#endif
