/* config.h - pipemend.yaml: the warehouse URL, defaults, pipelines, and
 * per-table contracts and policies. Parsed with libyaml. Unknown keys are
 * errors (a typo in a contract must not silently disable it), and every
 * error is PM_ERR_CONFIG with a message that starts "file:line:col: " (1-based).
 * Column names in contracts are normalised as data's are (colname.h).
 *
 *   db: sqlite:warehouse.db
 *   defaults:
 *     batch_size: 5000         # rows per transaction (default: 5000 on SQLite,
 *                              # 20000 on PostgreSQL)
 *     sample_size: 1000        # rows used to infer a new table's types
 *     max_line_bytes: 16777216
 *     max_depth: 64            # JSON nesting
 *     volume_window: 10        # runs of history for the volume check
 *     volume_ratio: 0.2        # below this fraction of the median: anomaly
 *   pipelines:
 *     - name: orders
 *       source: data/orders-*.ndjson   # a path, a glob, or "-"
 *       format: ndjson                 # ndjson | jsonl | csv (default: from extension)
 *       table: orders
 *       owner: data-platform@example.com
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
#include "heal/policy.h"
#include "source/source.h"

typedef struct pm_pipeline_cfg {
    const char *name;
    const char *source; /* path, glob or "-" */
    const char *table;
    const char *owner; /* may be NULL */
    pm_policy policy;  /* the default unless has_policy */
    bool has_policy;   /* false: the tables: section's policy, else the default */
    pm_format format;
    bool has_format;       /* false: decide from each file's extension */
    pm_contract *contract; /* may be NULL */
} pm_pipeline_cfg;

/* A `policy:` under an entry of the tables: section. */
typedef struct pm_table_policy {
    const char *table;
    pm_policy policy;
} pm_table_policy;

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
    pm_pipeline_cfg *pipelines;
    size_t npipelines;
    pm_contract *contracts; /* from the tables: section */
    size_t ncontracts;
    pm_table_policy *table_policies; /* from the tables: section */
    size_t ntable_policies;
    const char *audit_anchor;  /* as written in the file; may be NULL */
    const char *audit_key_env; /* the variable holding the audit key; may be NULL */
} pm_config;

/* Loads path; with path NULL, loads ./pipemend.yaml if it exists, otherwise
 * returns the defaults (not an error). A named file that does not exist is
 * PM_ERR_CONFIG. Caller frees with config_free. */
pm_code config_load(const char *path, pm_config **out, pm_err *err);
void config_free(pm_config *cfg);

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
/* Where a policy from cfg comes from, as a proposal records it: the
 * configuration file's path, or "the default (no pipemend.yaml)". */
const char *config_policy_source(const pm_config *cfg);

#endif
