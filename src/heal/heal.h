/* heal.h - carrying a repair out: the one path every schema change takes,
 * whoever asked for it (the rules during a run, a person approving, later
 * an agent over MCP).
 *
 *   heal_propose   typed ops for a table become a pending proposal, tied
 *                  to the incidents they answer, and are tried at once in
 *                  the sandbox so whoever decides sees the outcome
 *   heal_dry_run   the sandbox: a scratch clone of the table with a sample
 *                  of its rows, the ops applied, rows loaded through the
 *                  validator and the contract; the clone is thrown away
 *   heal_apply     guard and policy again against the schema as it is now,
 *                  the sandbox, then in one transaction the migration lock,
 *                  the version check, the DDL rendered from the ops, the new
 *                  version, the proposal's decision, the incidents' moves and
 *                  the audit events; then the replay of the quarantine
 *   heal_reject, heal_dismiss   a person's no
 *   heal_discard   a person lets quarantined rows go without loading them
 *   heal_table_remove   a person starts a table over (reset) or drops it
 *
 * Nothing here trusts where ops came from: every apply re-checks them. */
#ifndef PM_HEAL_HEAL_H
#define PM_HEAL_HEAL_H

#include <stdbool.h>
#include <stdint.h>

#include "contract/contract.h"
#include "heal/policy.h"
#include "heal/replay.h"
#include "source/record.h"
#include "source/source.h"
#include "store/store.h"

typedef struct heal_ctx {
    pm_store *store;
    const pm_contract *contract; /* the table's contract, may be NULL */
    const pm_policy *policy;
    /* where policy came from ("--policy review", a config file, "the
     * default"): recorded with each proposal, with the policy, so that a
     * later decision is never looser than the one it was made under */
    const char *policy_source;
    const char *actor; /* rules, human:NAME, agent:NAME */
    bool human;        /* the actor is a person: review-class ops may apply */
    int64_t run_id;    /* the run this happens in; 0 outside one */
    /* the source limits the replay after an apply parses rows with (the
     * configuration's max_line and max_depth); NULL: the defaults */
    const pm_source_opts *limits;
} heal_ctx;

/* At most this many of an incident's quarantined rows go through a dry
 * run (with up to as many existing rows): enough to see whether the ops
 * fix them, bounded whatever the quarantine holds. */
#define HEAL_DRY_RUN_ROWS 1000

typedef struct heal_dry_run_result {
    bool ok;             /* the ops applied to the clone and carried its rows */
    int64_t sample_rows; /* existing rows copied into the clone */
    int64_t rows;        /* rows tried */
    int64_t fixed;       /* rows with no finding left about a column the ops touch */
    int64_t would_load;  /* rows with no finding left, loaded into the clone */
    int64_t would_fail;
    const char *error; /* why the ops did not apply (ok false); in the arena */
    char *json;        /* the outcome as recorded on the proposal (caller frees) */
} heal_dry_run_result;

/* Tries ops on a clone of from with the records recs (parsed, e.g. from
 * quarantine). A failure to run the sandbox at all is an error; ops the
 * clone refuses are ok = false with the reason. */
pm_code heal_dry_run(heal_ctx *c, const pm_table *from, const pm_op *ops, size_t n,
                     const pm_record *recs, size_t nrecs, pm_arena *arena, heal_dry_run_result *out,
                     pm_err *err);

/* Tries pending proposal id again in the sandbox, against the table as it
 * is now with its incidents' newest quarantined rows, and records the
 * outcome on the proposal with the audit event proposal.dry_run (actor
 * c->actor), in one transaction. out->json is the recorded outcome (caller
 * frees). */
pm_code heal_dry_run_proposal(heal_ctx *c, int64_t id, pm_arena *arena, heal_dry_run_result *out,
                              pm_err *err);

/* Records ops for table t as one pending proposal (unless the same ops are
 * pending or were rejected: then *created is false and nothing moves),
 * opens or joins the incident each op answers and moves it to planned;
 * then the dry run (with recs, if any, and the incidents' quarantined rows)
 * is recorded on the proposal, and the incidents move to awaiting_approval
 * or dry_run_failed. Runs its own transactions. */
pm_code heal_propose(heal_ctx *c, const pm_table *t, const pm_op *ops, size_t n,
                     const char *const *why, const pm_record *recs, size_t nrecs, int64_t *proposal,
                     bool *created, pm_err *err);

typedef struct heal_outcome {
    bool applied;
    /* the proposal applied: the one asked for, or the part of it that
     * could apply when dependents refused the rest (heal_apply splits) */
    int64_t proposal;
    bool awaiting; /* not applied: the policy holds it for a person */
    /* awaiting because the table's budget of automatic columns is spent
     * (policy.h): budget_used of budget columns in the last 24 h */
    bool over_budget;
    int budget, budget_used;
    int from_version, to_version;
    int64_t replayed;        /* rows that left quarantine */
    int64_t waiting;         /* rows still in quarantine for the table */
    heal_dry_run_result dry; /* json freed by heal_apply */
    double ms; /* from the call to the replay's commit: checks, dry run, apply, replay */
} heal_outcome;

/* Columns added to table without a person in the last 24 hours: the
 * add_column ops of its proposals applied by any actor but a human (the
 * rules, an agent), which policy.h's budget bounds. */
pm_code heal_auto_columns_used(pm_store *s, const char *table, int *used, pm_err *err);

/* Applies pending proposal id (see the top of this file). When objects
 * that depend on some of its columns refuse their change (a rule, a
 * policy: store_table_dependents) and other ops remain, the proposal is
 * split first: the refused ops wait in a proposal of their own, the
 * others apply (out->proposal says which). replay: replay
 * the table's quarantine afterwards. A proposal the policy does not let
 * this actor apply (review class and not a person), or whose new columns
 * would pass the table's budget of automatic columns (not a person), is
 * not applied: out->awaiting (and out->over_budget), PM_OK. Forbidden ops, guard rejections and
 * failed dry runs are errors and leave the proposal pending. */
pm_code heal_apply(heal_ctx *c, int64_t id, bool replay, heal_outcome *out, pm_err *err);

/* Work a heal left unfinished on a table: incidents it applied whose
 * replay never reached its last page (the process was killed, the disk
 * filled, the replay failed between the apply's commit and the replay's
 * end), and quarantined rows linked to a resolved incident (rows that
 * arrived while a repair was replayed). Read-only: status shows it. */
typedef struct heal_pending {
    const char *table;
    int64_t applied;  /* incidents left applied */
    int64_t incident; /* the oldest of them, to name */
    int64_t stranded; /* quarantined rows under a resolved incident */
} heal_pending;

/* The tables with such work (table NULL: every table), in arena. */
pm_code heal_replay_pending(pm_store *s, const char *table, pm_arena *arena, heal_pending **out,
                            size_t *n, pm_err *err);

/* Completes it for table: replays its quarantine (replay_quarantine with
 * c's contract, actor and run) when heal_replay_pending finds work there,
 * when changed (the caller changed the schema itself: a heal, an adopted
 * change made by hand), or when its schema version is past seen_version
 * (another process healed it while a run quarantined rows against the
 * older one; 0: no such check). *replayed says whether it replayed, res
 * (may be NULL) what. Every run calls it for its table at its end; the
 * command that does it by hand is `pipemend quarantine replay --table
 * NAME`; serve's scheduler can call it for each table heal_replay_pending
 * names. */
pm_code heal_replay_finish(heal_ctx *c, const char *table, bool changed, int seen_version,
                           bool *replayed, replay_result *res, pm_err *err);

/* Proposal id, when still pending and its ops no longer apply to the
 * table as it is now (another path made the change: another run's
 * proposal, a hand-made ALTER adopted out of band), becomes superseded,
 * decided by "rules" and audited with the guard's reason; inside the
 * caller's transaction. *superseded says whether it did. */
pm_code heal_supersede_moot(pm_store *s, int64_t id, const pm_table *now, bool *superseded,
                            pm_err *err);

/* A person rejects pending proposal id: its incidents go back to open. */
pm_code heal_reject(heal_ctx *c, int64_t id, pm_err *err);

/* A person dismisses an active incident: its pending proposal is rejected
 * when it answers only this incident; its rows stay in quarantine. */
pm_code heal_dismiss(heal_ctx *c, int64_t incident, const char *reason, pm_err *err);

typedef struct heal_discard_result {
    int64_t rows;      /* rows that left quarantine without loading */
    int64_t dismissed; /* active incidents left with no row, so dismissed */
} heal_discard_result;

/* A person discards quarantined rows (table NULL: every table; run_id 0,
 * id 0: every run, every row) without loading them: the rows and their
 * findings are deleted with the audit event quarantine.discarded (the
 * actor, the filter, the count) in one transaction; then each active
 * incident that had rows among them and has none left is dismissed
 * (heal_dismiss: audited, its pending proposal rejected when it answers
 * nothing else). Nothing matched: out->rows 0, nothing recorded. */
pm_code heal_discard(heal_ctx *c, const char *table, int64_t run_id, int64_t id,
                     heal_discard_result *out, pm_err *err);

typedef struct heal_table_result {
    int64_t rows;        /* rows deleted (reset; a drop does not count them) */
    int64_t quarantined; /* quarantined rows discarded */
    int64_t checkpoints; /* sources that will load again from their start */
    int64_t dismissed;   /* active incidents dismissed */
    int64_t rejected;    /* pending proposals rejected */
} heal_table_result;

/* A person starts table over, in one transaction: its pending proposals
 * are rejected and its active incidents dismissed (each audited as when a
 * person does it alone), its quarantine discarded, its checkpoints and
 * held sources forgotten, and its rows deleted (reset: the schema stays)
 * or the table dropped with its schema versions (drop: a later ingest
 * creates it anew at version 1); then the audit event table.reset or
 * table.dropped with the counts. Its runs stay in the history. */
pm_code heal_table_remove(heal_ctx *c, const char *table, bool drop, heal_table_result *out,
                          pm_err *err);

#endif
