/* store_int.h - private to src/store: the table of operations each backend
 * fills in. store.c dispatches to it; nothing outside src/store sees it. */
#ifndef PM_STORE_STORE_INT_H
#define PM_STORE_STORE_INT_H

#include "store/store.h"

typedef struct store_ops {
    const char *name;
    void (*close)(pm_store *s);
    pm_code (*exec_tx)(pm_store *s, const char *verb, pm_err *err); /* BEGIN/COMMIT/ROLLBACK */
    pm_code (*table_load)(pm_store *s, const char *name, pm_arena *a, pm_table **out, pm_err *err);
    pm_code (*table_create)(pm_store *s, const pm_table *t, pm_err *err);
    pm_code (*table_live)(pm_store *s, const pm_table *t, pm_arena *a, pm_table **live,
                          bool *exists, pm_err *err);
    pm_code (*table_adopt)(pm_store *s, const pm_table *t, const char *reason, pm_err *err);
    pm_code (*apply_ops)(pm_store *s, const pm_table *from, const pm_op *ops, size_t n,
                         const pm_table *to, const char *reason, pm_err *err);
    pm_code (*unique_ensure)(pm_store *s, const pm_table *t, const contract_rule *u, int *changed,
                             pm_err *err);
    pm_code (*tables_list)(pm_store *s, pm_arena *a, pm_table ***out, size_t *n, pm_err *err);
    pm_code (*tables_brief)(pm_store *s, pm_arena *a, pm_table ***out, size_t *n, pm_err *err);
    pm_code (*table_count)(pm_store *s, const char *name, int64_t *rows, pm_err *err);
    pm_code (*insert_prepare)(pm_store *s, const pm_table *t, pm_err *err);
    pm_code (*insert)(pm_store *s, const pm_cell *cells, pm_err *err);
    pm_code (*load)(pm_store *s, pm_load_row *rows, size_t n, pm_arena *a, pm_err *err);
    pm_code (*quarantine_add)(pm_store *s, const pm_qrow *q, int64_t *id, pm_err *err);
    pm_code (*quarantine_page)(pm_store *s, const char *table, int64_t after, int limit,
                               pm_arena *a, pm_qrow **out, size_t *n, pm_err *err);
    pm_code (*quarantine_remove_many)(pm_store *s, const int64_t *ids, size_t n, pm_err *err);
    pm_code (*quarantine_update)(pm_store *s, int64_t id, const char *kinds, const char *message,
                                 const char *findings, pm_err *err);
    pm_code (*proposal_set_dry_run)(pm_store *s, int64_t id, const char *outcome, pm_err *err);
    pm_code (*incident_open)(pm_store *s, const pm_incident *in, int64_t *id, bool *created,
                             pm_err *err);
    pm_code (*incident_link)(pm_store *s, int64_t incident, int64_t qrow, pm_err *err);
    pm_code (*incident_unlink_row)(pm_store *s, int64_t qrow, pm_err *err);
    pm_code (*incident_set)(pm_store *s, int64_t id, const char *state, int64_t proposal,
                            const char *note, const char *actor, pm_err *err);
    pm_code (*incidents_list)(pm_store *s, const pm_incident_filter *f, pm_arena *a,
                              pm_incident **out, size_t *n, pm_err *err);
    pm_code (*halt_set)(pm_store *s, const char *table, const char *source, int64_t qrow,
                        pm_err *err);
    pm_code (*halt_get)(pm_store *s, const char *table, const char *source, int64_t *qrow,
                        int64_t *incident, bool *found, pm_err *err);
    pm_code (*halt_clear)(pm_store *s, const char *table, const char *source, pm_err *err);
    pm_code (*incident_stats)(pm_store *s, const char *table, pm_incident_stats *out, pm_err *err);
    pm_code (*incident_rows)(pm_store *s, int64_t incident, bool newest, int limit, pm_arena *a,
                             pm_qrow **out, size_t *n, pm_err *err);
    pm_code (*sandbox_begin)(pm_store *s, const pm_table *from, const pm_op *ops, size_t n,
                             const pm_table *to, int sample, int64_t *copied, pm_err *err);
    pm_code (*sandbox_insert)(pm_store *s, const pm_cell *cells, pm_err *err);
    void (*sandbox_end)(pm_store *s);
    pm_code (*quarantine_list)(pm_store *s, const char *table, int64_t run_id, int limit,
                               int64_t id, pm_arena *a, pm_qrow **out, size_t *n, pm_err *err);
    pm_code (*quarantine_remove)(pm_store *s, int64_t id, pm_err *err);
    pm_code (*quarantine_count)(pm_store *s, const char *table, int64_t *n, pm_err *err);
    pm_code (*checkpoint_get)(pm_store *s, const char *table, const char *source,
                              pm_checkpoint *out, bool *found, pm_err *err);
    pm_code (*checkpoint_set)(pm_store *s, const char *table, const char *source,
                              const pm_checkpoint *cp, pm_err *err);
    pm_code (*run_start)(pm_store *s, const char *pipeline, const char *table, int64_t *id,
                         pm_err *err);
    pm_code (*run_add)(pm_store *s, int64_t id, int64_t r, int64_t l, int64_t q, pm_err *err);
    pm_code (*run_finish)(pm_store *s, int64_t id, const char *status, const char *error,
                          bool anomaly, const char *note, pm_err *err);
    pm_code (*runs_list)(pm_store *s, const char *pipeline, const char *table, int limit,
                         int64_t id, pm_arena *a, pm_run **out, size_t *n, pm_err *err);
    pm_code (*runs_reap)(pm_store *s, pm_arena *a, int64_t **ids, size_t *n, pm_err *err);
    pm_code (*proposal_add)(pm_store *s, const pm_proposal *p, int64_t *id, bool *created,
                            pm_err *err);
    pm_code (*proposals_list)(pm_store *s, const char *table, const char *state, int64_t id,
                              pm_arena *a, pm_proposal **out, size_t *n, pm_err *err);
    pm_code (*proposal_decide)(pm_store *s, int64_t id, const char *state, const char *actor,
                               pm_err *err);
    pm_code (*audit_append)(pm_store *s, pm_audit_event *e,
                            void (*hash)(const pm_audit_event *e, char out[65]), pm_err *err);
    pm_code (*audit_list)(pm_store *s, int64_t after, int limit, pm_arena *a, pm_audit_event **out,
                          size_t *n, pm_err *err);
} store_ops;

struct pm_store {
    const store_ops *ops;
    void *impl;
};

pm_code sqlite_store_open(const char *path, pm_store *s, pm_err *err);

/* The name of the index that enforces key u on t: a hash of the table and
 * the key, so that no two keys or tables share one (names with "__" in
 * them could otherwise collide) and a changed key gets a new index. Every
 * backend names them so: "_pipemend_unique_" + 16 hex digits. */
void store_unique_index_name(const pm_table *t, const contract_rule *u, char out[64]);

#endif
