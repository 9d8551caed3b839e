/* config.h - pipemend.yaml: the warehouse URL, defaults, pipelines, and
 * per-table contracts and policies. Parsed with libyaml. Unknown keys are
 * errors (a typo in a contract must not silently disable it), and every
 * error is PM_ERR_CONFIG with a message that starts "file:line:col: " (1-based).
 * Column names in contracts are normalised as data's are (colname.h).
 *
 *   db: sqlite:warehouse.db
 *   defaults:
 *     batch_size: 5000         # rows per transaction (default: 5000 on SQLite;
 *                              # 20000 on PostgreSQL, where clean batches of
 *                              # regular files share a COPY up to 250000)
 *     sample_size: 1000        # rows used to infer a new table's types
 *     max_line_bytes: 16777216
 *     max_depth: 64            # JSON nesting
 *     volume_window: 10        # runs of history for the volume check
 *     volume_ratio: 0.2        # below this fraction of the median: anomaly
 *     last_line_wait: 3600     # seconds a file stays unchanged before its last
 *                              # line without a line end that does not parse
 *                              # is quarantined (ingest.h); 0: at once
 *     promote_after: 3         # approvals of one op kind on one table before
 *                              # pipemend proposes to promote it (heal/promote.h);
 *                              # 0: never
 *   pipelines:
 *     - name: orders
 *       source: data/orders-*.ndjson   # a path, a glob, or "-"
 *       format: ndjson                 # ndjson | jsonl | json | csv | tsv
 *                                      # (default: from the extension)
 *       delimiter: ";"                 # CSV: , ; | or tab (default: from the header)
 *       encoding: windows-1252         # the files' charset (default: UTF-8)
 *       table: orders
 *       owner: data-platform@example.com
 *       schedule: "0 6 * * 1-5"        # pipemend serve runs it (cron.h: five
 *       timezone: Europe/Paris         # fields, in this zone; UTC by default)
 *       every: 5m                      # or/and every 90s, 5m, 2h, 1d
 *       watch: true                    # or/and when a file matching the source
 *                                      # appears or grows (inotify, debounced)
 *       on_rewrite: stop               # a file truncated or rewritten after it
 *                                      # was loaded: stop | skip | reload
 *                                      # (ingest.h; default stop)
 *       review:                        # serve exports each waiting proposal
 *         export_dir: migrations       # (tools/export.h) into this directory,
 *         git_branch_prefix: pipemend/ # and commits it on a new branch of its
 *                                      # git repository (optional)
 *       agent: on_incident             # after each run, the agent takes the
 *                                      # incidents the run left open (agent: kinds)
 *       policy: auto                   # auto | review | frozen, or a mapping:
 *       # policy:
 *       #   mode: review                 # auto | review | frozen (default auto)
 *       #   on_incident: halt            # continue | halt (default continue)
 *       #   overrides:                   # op kind -> auto | review | forbidden
 *       #     add_column: review
 *       #     drop_not_null: auto
 *       #   auto_columns_per_day: 32     # columns added without a person (policy.h)
 *       contract:
 *         unique: [order_id]
 *         columns:
 *           amount: {min: 0, max: 100000}
 *           status: {allowed: [new, paid, shipped], not_null: true}
 *           email: {regex: '^[^@]+@[^@]+$', max_length: 254}
 *   agent:                       # the reasoning agent (src/agent/agent.h)
 *     provider: anthropic        # anthropic | openai (any chat-completions server)
 *     model: claude-sonnet-4-5
 *     base_url: https://api.anthropic.com   # the default for anthropic; openai:
 *                                # https://api.openai.com/v1 (give the /v1 part)
 *     api_key_env: ANTHROPIC_API_KEY   # the variable holding the key (never the key)
 *     max_turns: 12              # model calls per session
 *     max_tokens: 2048           # per model call
 *     session_tokens: 200000     # input + output tokens per session
 *     session_seconds: 300       # wall clock per session
 *     call_timeout: 60           # seconds per model call
 *     daily_tokens: 2000000      # per warehouse and UTC day
 *     retries: 4                 # of one call, on 429, 5xx, timeouts
 *     result_cap: 16384          # bytes of one tool result shown to the model
 *     kinds: [rename, format, type_conflict, null_violation, out_of_band]
 *     price_input: 3.0           # USD per million tokens, for the cost estimate
 *     price_output: 15.0
 *   serve:                       # pipemend serve (daemon/scheduler.h)
 *     max_concurrent: 2          # runs at once in this process
 *     lease_seconds: 30          # a dead replica's pipelines move after this
 *     max_connections: 256       # HTTP connections in all (each is a thread)
 *     max_connections_per_peer: 32   # from one address (a proxy is one address)
 *     proxy_user_header: X-Forwarded-User  # with trusted_proxies: that header names
 *     trusted_proxies: [127.0.0.1]         # the user, on connections from these
 *   notify:                      # webhook sinks (notify.h, daemon/notifier.h)
 *     - name: oncall
 *       url: https://hooks.example.com/T000/B000
 *       format: slack              # json (default) | slack
 *       events: [incident.opened, proposal.awaiting]   # default: every event
 *       secret_env: PIPEMEND_HOOK_SECRET  # HMAC-SHA256 key's variable (optional)
 *       timeout: 10                # seconds per delivery
 *       link_base: http://pipemend.internal:8765   # links in messages (REST)
 *   users_file: users.yaml   # who may use serve's REST API and MCP (daemon/users.h);
 *                            # relative to this file; default
 *                            # ${XDG_CONFIG_HOME:-~/.config}/pipemend/users.yaml
 *   audit_anchor: pipemend-audit.anchor  # audit anchor file (audit.h); relative
 *                                        # to this file; the default
 *   audit_key_env: PIPEMEND_AUDIT_KEY    # the environment variable holding the
 *                                        # audit chain's HMAC key (audit.h);
 *                                        # the key itself is never in a file
 *   tables:
 *     events:
 *       contract: { ...same shape... }
 *       policy: { ...same shape... }   # for runs whose pipeline sets none
 *
 * An override can make an op kind stricter or looser but never lifts an
 * inherently forbidden op (policy.h). Unknown op kinds and classes are
 * errors like unknown keys.
 */
#ifndef PM_PIPELINE_CONFIG_H
#define PM_PIPELINE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "contract/contract.h"
#include "core/arena.h"
#include "core/err.h"
#include "core/netaddr.h"
#include "heal/policy.h"
#include "pipeline/cron.h"
#include "pipeline/ingest.h"
#include "source/source.h"

typedef struct pm_pipeline_cfg {
    const char *name;
    const char *source; /* path, glob or "-" */
    const char *table;
    const char *owner; /* may be NULL */
    pm_policy policy;  /* the default unless has_policy */
    bool has_policy;   /* false: the tables: section's policy, else the default */
    pm_format format;
    bool has_format;        /* false: decide from each file's extension */
    char delimiter;         /* CSV delimiter: delimiter:, 0: from the header */
    const char *encoding;   /* encoding: the files' character set; NULL: UTF-8 */
    pm_contract *contract;  /* may be NULL */
    bool agent_on_incident; /* agent: on_incident */
    /* pipemend serve's triggers (daemon/scheduler.h): any of them */
    bool has_cron;
    pm_cron cron;  /* schedule: in timezone: */
    int64_t every; /* seconds, 0: none */
    bool watch;
    ingest_on_rewrite on_rewrite; /* default stop */
    const char *review_dir;       /* review: export_dir (relative to the config file), or NULL */
    const char *review_branch;    /* review: git_branch_prefix, or NULL: files only */
} pm_pipeline_cfg;

/* A webhook sink of notify:. */
typedef struct pm_notify_sink {
    const char *name;
    const char *url;
    bool slack;             /* format: slack (else json) */
    unsigned events;        /* bit notify_event: wanted */
    const char *secret_env; /* NULL: unsigned */
    long timeout;           /* seconds */
    const char *link_base;  /* NULL: no links */
} pm_notify_sink;

#define AGENT_KINDS_MAX 16

/* The agent: section (every member has its default when the section is
 * absent; set says whether it was given). */
typedef struct pm_agent_cfg {
    bool set;
    const char *provider;    /* "anthropic" or "openai" */
    const char *model;       /* NULL: not given (agent runs refuse) */
    const char *base_url;    /* NULL: the provider's public endpoint */
    const char *api_key_env; /* NULL: ANTHROPIC_API_KEY or OPENAI_API_KEY */
    long max_turns, max_tokens, session_tokens, session_seconds, call_timeout, daily_tokens,
        retries, result_cap;
    const char *kinds[AGENT_KINDS_MAX];
    size_t nkinds;
    double price_input, price_output; /* USD per million tokens */
} pm_agent_cfg;

/* A `policy:` under an entry of the tables: section. */
typedef struct pm_table_policy {
    const char *table;
    pm_policy policy;
} pm_table_policy;

/* The serve: section (daemon/scheduler.h, http/server.h, daemon/serve_auth.h). */
typedef struct pm_serve_cfg {
    int max_concurrent;            /* runs at once in this process */
    int lease_seconds;             /* a dead replica's pipelines move after this */
    int max_connections;           /* HTTP connections in all (each a thread) */
    int max_connections_per_peer;  /* from one address */
    const char *proxy_user_header; /* names the user on a trusted proxy's requests; may be NULL */
    pm_netrange *proxies;          /* the trusted proxies' addresses */
    size_t nproxies;
} pm_serve_cfg;

typedef struct pm_config {
    pm_arena *arena;  /* owns everything below */
    const char *path; /* file it came from, or NULL for built-in defaults */
    const char *db;   /* may be NULL */
    size_t batch_size;
    bool batch_size_set; /* given in the file: else the warehouse's default */
    size_t sample_size;
    size_t max_line_bytes;
    int max_depth;
    int volume_window;
    double volume_ratio;
    int promote_after;
    int64_t last_line_wait; /* seconds (ingest_opts.last_line_wait) */
    pm_pipeline_cfg *pipelines;
    size_t npipelines;
    pm_contract *contracts; /* from the tables: section */
    size_t ncontracts;
    pm_table_policy *table_policies; /* from the tables: section */
    size_t ntable_policies;
    const char *audit_anchor;  /* as written in the file; may be NULL */
    const char *audit_key_env; /* the variable holding the audit key; may be NULL */
    const char *users_file;    /* as written in the file; may be NULL */
    pm_agent_cfg agent;
    pm_serve_cfg serve;
    /* postgres: reconnect_seconds: how long a lost PostgreSQL connection is
     * tried again (store_set_reconnect_seconds) */
    int pg_reconnect_seconds;
    pm_notify_sink *sinks;
    size_t nsinks;
} pm_config;

/* Loads path; with path NULL, loads ./pipemend.yaml if it exists, otherwise
 * returns the defaults (not an error). A named file that does not exist is
 * PM_ERR_CONFIG. Caller frees with config_free. */
pm_code config_load(const char *path, pm_config **out, pm_err *err);
void config_free(pm_config *cfg);
/* The built-in defaults, as config_load gives them without a file. */
pm_config *config_defaults(void);
/* What the configuration names that the warehouse does not have: a tables:
 * entry for a table that neither exists nor is a pipeline's, a contract
 * rule on a column its (existing) table does not have. Each is a sentence
 * in arena, in *msgs[0..*n): a typo such as `weathr` would otherwise be
 * silently ignored. Tables not created yet are not judged by column;
 * loading (may be NULL) is a table about to be loaded, so known. */
struct pm_store;
pm_code config_unmatched(const pm_config *cfg, struct pm_store *s, const char *loading,
                         pm_arena *arena, const char ***msgs, size_t *n, pm_err *err);

#define CONFIG_AUDIT_ANCHOR_DEFAULT "pipemend-audit.anchor"

/* The audit anchor file (audit.h) into buf: $PIPEMEND_AUDIT_ANCHOR, else
 * audit_anchor: of the file, else pipemend-audit.anchor next to the file
 * (or in the working directory without one); *is_default says the last.
 * cfg may be NULL. Returns buf. */
const char *config_audit_anchor(const pm_config *cfg, char *buf, size_t size, bool *is_default);
/* The anchor file audit verify checks without --anchor: as above, but NULL
 * when it is the default and does not exist (nothing was anchored). A file
 * named by the environment or the configuration must exist. */
const char *config_audit_anchor_to_verify(const pm_config *cfg, char *buf, size_t size);

/* The users file of `pipemend users` and `serve` (daemon/users.h) into buf:
 * $PIPEMEND_USERS_FILE, else users_file: of the file (relative to it), else
 * $XDG_CONFIG_HOME/pipemend/users.yaml, else ~/.config/pipemend/users.yaml
 * (beside serve's generated token). NULL when none of these is set. */
const char *config_users_file(const pm_config *cfg, char *buf, size_t size);

const pm_pipeline_cfg *config_pipeline(const pm_config *cfg, const char *name);
/* The contract for a table: a pipeline's contract for that table, else the
 * tables: section's; NULL if none. When both exist the pipeline's wins and
 * config_load logs a warning that the tables: one is ignored. Two pipelines
 * may load one table, but only one of them may declare its contract (a
 * second is a config error). */
const pm_contract *config_contract(const pm_config *cfg, const char *table);

/* The policy for a run of pipeline (may be NULL) into table: the pipeline's
 * if it sets one, else the tables: section's for table, else the default.
 * A pipeline's policy governs only its own runs into its own table: when
 * table names another one (ingest --pipeline P --table X), the pipeline's
 * is skipped. table NULL means the pipeline's table. */
void config_policy(const pm_config *cfg, const char *pipeline, const char *table, pm_policy *out);

/* The policy for a decision about table outside a run (an approval, an
 * agent's proposal or apply_fix): the strictest of every pipeline that loads
 * table and of what config_policy gives a run without a pipeline (the
 * tables: section, else the default) - the strictest mode, halt if any
 * halts, and per op kind the strictest override, where an explicit auto
 * adds nothing to the op's inherent class. An op that one pipeline holds for
 * a person is never applied by the rules because another would apply it. */
void config_table_policy(const pm_config *cfg, const char *table, pm_policy *out);
/* The source options a run under cfg reads with (max_line_bytes,
 * max_depth), for parsing its quarantined rows again exactly as it read
 * them (a replay outside a run); cfg NULL: the defaults. */
void config_source_opts(const pm_config *cfg, pm_source_opts *out);
/* Where a policy from cfg comes from, as a proposal records it: the
 * configuration file's path, or "the default (no pipemend.yaml)". */
const char *config_policy_source(const pm_config *cfg);

#endif
