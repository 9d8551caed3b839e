/* ingest.c - one run of the data plane (see ingest.h).
 *
 * Two threads share the work, so parsing never waits for the database and
 * the database never waits for parsing:
 *
 *   reader thread (the caller)          writer thread
 *   source_next -> drift_check          BEGIN
 *   fills batch slot A                  insert clean rows, quarantine the rest
 *   hands A over, fills slot B    --->  run counters + checkpoint
 *   waits until A is free again         COMMIT, frees the slot
 *
 * Each slot has its own arena, reset by the writer once the batch is
 * committed; memory is therefore bounded by two batches whatever the input
 * size. The store connection (opened without SQLite's mutex) is used by one
 * thread at a time: the writer while it holds a full slot, the reader only
 * when both slots are free (to read a file's checkpoint before reading it)
 * and after the writer has ended. The writer never reads the reader's
 * run->table: each batch carries the table its rows were validated against.
 *
 * Exactly once: the writer re-reads the checkpoint inside the batch's
 * transaction and moves it only from where this run expects it to be, so
 * two runs on the same file cannot both load it. What a checkpoint holds
 * is the source's transport's business (source/transport.h): a position
 * token this file hands from the store to the transport and back, and
 * compares byte for byte, without reading inside it. Before anything is
 * read, plan_identities matches the run's files with every checkpoint of
 * the table through the transport (transport_same, transport_previous),
 * so a file renamed, rotated or hard-linked resumes where it stood; a
 * file whose loaded bytes changed is the pipeline's on_rewrite to decide. */
#include "pipeline/ingest.h"

#include <pthread.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "audit/audit.h"
#include "core/arena.h"
#include "core/clock.h"
#include "core/buf.h"
#include "core/log.h"
#include "drift/drift.h"
#include "drift/rename.h"
#include "drift/textfmt.h"
#include "heal/heal.h"
#include "heal/incident.h"
#include "heal/outofband.h"
#include "heal/planner.h"
#include "heal/policy.h"
#include "heal/replan.h"
#include "heal/replay.h"
#include "pipeline/volume.h"
#include "schema/colname.h"
#include "schema/confusable.h"

typedef struct brow {
    pm_record rec;
    pm_cell *cells; /* NULL: the row goes to quarantine */
    const char *kinds;
    const char *message;
    const char *findings;    /* JSON */
    const pm_finding *found; /* the findings themselves, for the planner */
    size_t nfound;
} brow;

typedef struct batch {
    pm_arena *arena;
    brow *rows; /* owned by the slot, kept across batches (batch_push) */
    size_t n, cap;
    const char *source; /* checkpoint identity (transport_id) */
    const char *path;
    pm_transport *transport; /* borrowed from the reader's source: for describing positions */
    const char *header;      /* CSV: the source's header bytes, kept with quarantined rows */
    size_t header_len;
    char delimiter;    /* CSV: the source's, kept with quarantined rows */
    bool expect_found; /* the checkpoint this batch continues from */
    char expect[TRANSPORT_POSITION_MAX];
    char position[TRANSPORT_POSITION_MAX]; /* checkpoint after this batch (the transport's) */
    uint64_t end;                          /* byte of the stream where this batch ends */
    uint64_t end_line;                     /* line number at end */
    bool checkpoint;                       /* false for a transport without positions (stdin) */
    pm_table *table;                       /* the table the rows were validated against (NULL: none
                                            * yet, every row is quarantined); the writer reads this,
                                            * never the reader's run->table */
    bool last;                             /* no batches after this one */
    bool retry;   /* written again after a lost connection: its commit may have landed */
    long halt_at; /* on_incident: halt: the row the source stops after (-1: none) */
    enum { SLOT_FREE, SLOT_FULL } state;
} batch;

/* Where a source starts (plan_identities). */
typedef enum plan_start {
    START_OWN,   /* from the checkpoint under its own key, as it stands */
    START_TOKEN, /* from token (the same file's, found under another key),
                  * written under its own key first */
    START_TOP    /* from the top: a new file where a rotated one was */
} plan_start;

typedef struct src_plan {
    const char *path;
    pm_format fmt;
    const char *id; /* transport_id, once planned */
    char identity[64];
    plan_start start;
    const char *token; /* START_TOKEN: the position to resume from */
    const char *own;   /* START_TOKEN: its own key's checkpoint when planned
                        * (NULL: none), which the adoption expects */
    bool skip;         /* the same file as an earlier source (a hard link) */
} src_plan;

typedef struct run {
    pm_store *store;
    const ingest_opts *o;
    int64_t run_id;
    pm_arena *arena; /* lives for the run */
    pm_table *table;
    bool insert_ready;         /* writer-owned: the insert is prepared */
    bool any_new;              /* some source had bytes past its checkpoint */
    int held;                  /* sources halted (on_incident: halt), now or before */
    bool healed;               /* apply_auto changed the schema in this run */
    bool moved;                /* another process changed the schema during this run: rows
                                  it quarantined against the older one are checked again */
    bool created;              /* this run created the table */
    const pm_table *json_seen; /* the table has_json was computed for */
    bool has_json;             /* it has a json column (keep_json_column) */
    size_t sampled;            /* rows of the first batch the table was inferred from */
    bool stopped;              /* should_stop ended the run between batches */
    const char *proposed[32];  /* ops JSON already proposed in this run */
    size_t nproposed;
    drift_ctx *drift;
    const contract_rule *unique;
    incident_cache *incidents; /* writer-owned, but for apply_auto with the writer idle */
    rename_refusal *refusals;  /* rejected mappings of the table (suspect_renames) */
    size_t nrefusals;
    bool refusals_read;
    textfmt *formats; /* the date layouts of text columns (text_formats) */

    /* the stream (store_load_stream): clean batches in one load; writer-owned
     * but for streaming and want_conn, under mu (writer_idle) */
    bool streaming;
    bool want_conn;  /* the reader waits for the connection: end the stream */
    bool rereadable; /* every source is a regular file: a failed stream can be
                      * read again from the checkpoints (not a pipe, not stdin) */
    bool no_stream;  /* a stream failed: batches are written one by one */
    int64_t stream_rows;
    const char *stream_source, *stream_path;
    const pm_table *stream_table;
    bool stream_expect_found;
    char stream_expect[TRANSPORT_POSITION_MAX];
    char stream_position[TRANSPORT_POSITION_MAX];

    pthread_mutex_t mu;
    pthread_cond_t cv;
    batch slots[2];
    bool writer_failed;
    bool rewind; /* the server lost committed batches: read again from the checkpoints */
    pm_err werr;
    int64_t read, loaded, quarantined; /* committed, under mu */

    /* progress */
    uint64_t total_bytes, done_bytes;
    double t0_ms; /* pm_clock_ms() at the start */
    double last_draw;
} run;

static void progress_draw(run *r, int64_t rows, bool final)
{
    if (!r->o->on_progress)
        return;
    double t = pm_clock_ms() / 1e3;
    if (!final && t - r->last_draw < 0.2)
        return;
    r->last_draw = t;
    ingest_progress p = {.rows = rows,
                         .done_bytes = r->done_bytes,
                         .total_bytes = r->total_bytes,
                         .elapsed = t - r->t0_ms / 1e3,
                         .final = final};
    r->o->on_progress(r->o->progress_arg, &p);
}

/* ---- the first batch of a new table: infer its columns ---------------- */

typedef struct infer_col {
    const char *name;
    const char *skel;     /* confusable.h skeleton of name */
    pm_type type;         /* with date/time strings in one non-ISO format as dates */
    pm_type plain;        /* without: what the column is if the format does not hold */
    const char *fmt;      /* the one non-ISO date/time format seen (static), or NULL */
    bool fmt_bad;         /* a string that is no date, or in another format */
    unsigned char origin; /* table.h's, for a name with "__" */
    size_t present;       /* non-null occurrences */
} infer_col;

/* The type a date/time format's values have: a zone makes timestamptz, a
 * time of day timestamp, else date. */
static pm_type format_type(const char *fmt)
{
    if (strstr(fmt, "%z"))
        return (pm_type){PM_T_TIMESTAMPTZ, 0};
    if (strstr(fmt, "%H") || strstr(fmt, "%I"))
        return (pm_type){PM_T_TIMESTAMP, 0};
    return (pm_type){PM_T_DATE, 0};
}

/* Adds one non-null value to a column being inferred. A string in a
 * non-ISO date or time layout the format-drift detector knows (01/31/2015,
 * 2015/01/01 01:00:00) counts as a date of that format, as long as every
 * such string of the column has the same one: the column is then a date
 * (or timestamp) column with that format as its coercion, not text because
 * the first rows were not ISO. */
static void infer_value(infer_col *c, const pm_value *v)
{
    pm_type t = type_infer(v);
    c->plain = type_join(c->plain, t);
    if (t.kind == PM_T_VARCHAR || t.kind == PM_T_TEXT) {
        const char *f = v->kind == PM_V_STRING || v->kind == PM_V_RAW
                            ? type_detect_datetime_format(v->s, v->len)
                            : NULL;
        if (!f || (c->fmt && strcmp(c->fmt, f) != 0))
            c->fmt_bad = true;
        else if (!c->fmt)
            c->fmt = f;
        if (f)
            t = format_type(f);
    }
    c->type = type_join(c->type, t);
}

/* Does a column inferred so far look like name (confusable.h)? Such a
 * field gets no column of its own: its rows then meet the table as a
 * look-alike of that column (drift's rename finding), for a person. */
static bool infer_look_alike(const infer_col *cols, size_t ncols, const char *skel)
{
    for (size_t j = 0; j < ncols; j++)
        if (strcmp(cols[j].skel, skel) == 0)
            return true;
    return false;
}

/* schema/table.h: a table wider than this is almost always a map keyed
 * by data flattened into columns */
#define INFER_MAX_COLUMNS TABLE_MAX_COLUMNS

/* A record that brings more new fields than this is no schema change but
 * bad data (or an attack): planned with the others, one such record would
 * turn the batch's automatic repair into hundreds of columns. Its fields
 * are left out of the plan; the record stays in quarantine, its incidents
 * open for a person, and the rest of the batch heals as it would without
 * it. In the first batch, a record with more fields than this that no
 * other sampled record has is left out of the inference for the same
 * reason. */
#define POISON_NEW_FIELDS 16

/* Does the contract hold the column to not_null (the user's constraint)? */
static bool contract_declares_not_null(const pm_contract *c, const char *column)
{
    for (size_t i = 0; c && i < c->nrules; i++)
        if (c->rules[i].kind == RULE_NOT_NULL && c->rules[i].column &&
            strcmp(c->rules[i].column, column) == 0)
            return true;
    return false;
}

/* Can rec be a row of the table the first batch makes? Not when it is
 * malformed or wider than a table may be (drift_check quarantines it), and
 * not when it is an outlier (outliers_find). */
static bool infer_takes(const pm_record *rec, const bool *outlier, size_t i)
{
    return !rec->malformed && rec->nfields <= TABLE_MAX_COLUMNS && !(outlier && outlier[i]);
}

/* Distinct names outliers_find counts at most: past them, a field of the
 * sample counts as one no other record has (the sample is junk anyway). */
#define OUTLIER_MAX_NAMES (4 * TABLE_MAX_COLUMNS)

/* Marks the sampled records that have more than POISON_NEW_FIELDS fields
 * no other sampled record has: one poisoned record in the first batch
 * must not shape the table around its fields (it then meets the table as
 * later batches' poisoned records do). A sample of one record, or of
 * records that all share nothing, is its own schema. Returns NULL when no
 * record is an outlier. */
static bool *outliers_find(run *r, const batch *b)
{
    pm_table *seen = table_new(r->arena, "seen");
    size_t *count = pm_arena_calloc(r->arena, OUTLIER_MAX_NAMES * sizeof *count);
    size_t *stamp = pm_arena_calloc(r->arena, OUTLIER_MAX_NAMES * sizeof *stamp);
    size_t sampled = 0, last = 0;
    for (size_t i = 0; i < b->n && sampled < r->o->sample_size; i++) {
        const pm_record *rec = &b->rows[i].rec;
        if (!infer_takes(rec, NULL, i))
            continue;
        sampled++;
        last = i + 1;
        for (size_t k = 0; k < rec->nfields; k++) {
            char name[COLNAME_MAX + 1];
            size_t len = colname_normalise(rec->fields[k].name, rec->fields[k].name_len, name);
            int j = table_find(seen, name, len);
            if (j < 0 && seen->ncols < OUTLIER_MAX_NAMES)
                j = table_add(seen, r->arena, name, (pm_type){PM_T_UNKNOWN, 0}, true);
            if (j >= 0 && stamp[j] != i + 1) { /* once per record */
                stamp[j] = i + 1;
                count[j]++;
            }
        }
    }
    if (sampled < 2)
        return NULL;
    bool *outlier = NULL;
    size_t nout = 0;
    for (size_t i = 0; i < last; i++) {
        const pm_record *rec = &b->rows[i].rec;
        if (!infer_takes(rec, NULL, i))
            continue;
        size_t own = 0;
        for (size_t k = 0; k < rec->nfields; k++) {
            char name[COLNAME_MAX + 1];
            size_t len = colname_normalise(rec->fields[k].name, rec->fields[k].name_len, name);
            int j = table_find(seen, name, len);
            own += j < 0 || count[j] <= 1;
        }
        if (own > POISON_NEW_FIELDS) {
            if (!outlier)
                outlier = pm_arena_calloc(r->arena, b->n * sizeof *outlier);
            outlier[i] = true;
            nout++;
        }
    }
    /* Records that share nothing, all of them: none is the odd one out */
    if (nout == sampled)
        return NULL;
    for (size_t i = 0; outlier && i < last; i++)
        if (outlier[i])
            pm_info("line %llu of %s has more than %d fields no other record of the first "
                    "batch has: left out of the table's inference",
                    (unsigned long long)b->rows[i].rec.line, b->source, POISON_NEW_FIELDS);
    return outlier;
}

/* Columns from the first sample_size parsable records: types are joined
 * along the lattice, and a column is NOT NULL only when every sampled record
 * had a non-null value for it. */
static pm_table *infer_table(run *r, const batch *b)
{
    pm_table *idx = table_new(r->arena, r->o->table); /* name -> slot in cols */
    infer_col *cols = NULL;
    size_t ncols = 0, cap = 0, sampled = 0;
    const bool *outlier = outliers_find(r, b);
    for (size_t i = 0; i < b->n && sampled < r->o->sample_size; i++) {
        const pm_record *rec = &b->rows[i].rec;
        if (!infer_takes(rec, outlier, i))
            continue;
        sampled++;
        for (size_t k = 0; k < rec->nfields; k++) {
            const pm_field *f = &rec->fields[k];
            char name[COLNAME_MAX + 1];
            size_t len = colname_normalise(f->name, f->name_len, name);
            int j = table_find(idx, name, len);
            if (j < 0 && ncols >= INFER_MAX_COLUMNS)
                continue; /* the rows that need it are quarantined as new_field */
            char skel[CONFUSABLE_SKELETON_MAX];
            if (j < 0) {
                confusable_skeleton(name, skel, sizeof skel);
                if (infer_look_alike(cols, ncols, skel))
                    continue;
            }
            if (j < 0) {
                j = table_add(idx, r->arena, name, (pm_type){PM_T_UNKNOWN, 0}, true);
                if ((size_t)j >= cap) {
                    cap = cap ? cap * 2 : 32;
                    infer_col *nc = pm_arena_alloc(r->arena, cap * sizeof *nc);
                    if (ncols)
                        memcpy(nc, cols, ncols * sizeof *nc);
                    cols = nc;
                }
                cols[j] =
                    (infer_col){.name = idx->cols[j].name, .skel = pm_arena_strdup(r->arena, skel)};
                if (strstr(name, "__"))
                    cols[j].origin = f->nested ? COLUMN_ORIGIN_NESTED : COLUMN_ORIGIN_FLAT;
                ncols++;
            }
            if (f->v.kind == PM_V_NULL)
                continue;
            infer_value(&cols[j], &f->v);
            cols[j].present++;
        }
    }
    if (!sampled || !ncols)
        return NULL;
    pm_table *t = table_new(r->arena, r->o->table);
    for (size_t j = 0; j < ncols; j++) {
        bool dated = cols[j].fmt && !cols[j].fmt_bad;
        int k = table_add(t, r->arena, cols[j].name,
                          type_for_new_column(dated ? cols[j].type : cols[j].plain),
                          cols[j].present < sampled);
        if (k >= 0 && dated && !table_set_format(t, r->arena, k, cols[j].fmt)) {
            t->cols[k].type = type_for_new_column(cols[j].plain); /* cannot coerce: as text */
        }
        /* A NOT NULL the sample suggests is pipemend's guess, relaxed by
         * itself when a row proves it wrong; one the contract declares is
         * the user's. */
        if (k >= 0)
            t->cols[k].origin = cols[j].origin;
        if (k >= 0 && !t->cols[k].nullable)
            t->cols[k].guessed = !contract_declares_not_null(r->o->contract, cols[j].name);
    }
    t->version = 1;
    return t;
}

/* ---- validation ------------------------------------------------------- */

static void quarantine_info(brow *row, const pm_finding *f, size_t n, pm_arena *a)
{
    pm_buf b;
    pm_buf_init(&b, 1 << 20);
    if (drift_findings_json(&b, f, n, NULL) != PM_OK) {
        pm_buf_reset(&b);
        pm_buf_puts(&b, "[{\"kind\":\"malformed\",\"message\":\"findings too large\"}]", NULL);
    }
    row->findings = pm_arena_strndup(a, b.data, b.len);
    pm_buf_free(&b);
    row->kinds = drift_kinds_list(f, n, a);
    row->message = drift_headline(f, n);
    row->cells = NULL;
    /* f may be the caller's (a unique violation's, say): keep a copy */
    pm_finding *copy = pm_arena_alloc(a, n * sizeof *copy);
    memcpy(copy, f, n * sizeof *copy);
    row->found = copy;
    row->nfound = n;
}

static void validate_row(run *r, batch *b, brow *row)
{
    row->cells = NULL;
    row->kinds = row->message = row->findings = NULL;
    row->found = NULL;
    row->nfound = 0;
    if (!r->drift) {
        /* No table could be inferred yet: the records so far are malformed
         * or have no fields at all. */
        pm_finding f = {.kind = FINDING_MALFORMED,
                        .message = row->rec.malformed
                                       ? row->rec.malformed
                                       : "no columns can be inferred: the records so far have no "
                                         "fields; the table is created from the first record "
                                         "that has some"};
        quarantine_info(row, &f, 1, b->arena);
        return;
    }
    drift_result res;
    drift_check(r->drift, &row->rec, b->arena, &res);
    if (res.nfindings)
        quarantine_info(row, res.findings, res.nfindings, b->arena);
    else
        row->cells = res.cells;
}

/* ---- the writer thread ------------------------------------------------ */

static const char *cell_text(const pm_cell *c, pm_arena *a)
{
    switch (c->kind) {
    case PM_CELL_INT:
        return pm_arena_sprintf(a, "%lld", (long long)c->i);
    case PM_CELL_REAL:
        return pm_arena_sprintf(a, "%.17g", c->d);
    case PM_CELL_TEXT:
        return pm_arena_sprintf(a, "%.*s", (int)(c->len > 64 ? 64 : c->len), c->s);
    default:
        return "null";
    }
}

static void unique_violation(run *r, batch *b, brow *row)
{
    pm_buf key;
    pm_buf_init(&key, 4096);
    const contract_rule *u = r->unique;
    for (size_t i = 0; u && i < u->nkey; i++) {
        int j = table_find(b->table, u->key[i], strlen(u->key[i]));
        pm_buf_printf(&key, NULL, "%s%s=%s", i ? ", " : "", u->key[i],
                      j >= 0 ? cell_text(&row->cells[j], b->arena) : "?");
    }
    pm_finding f = {.kind = FINDING_CONTRACT, .rule = "unique"};
    f.message = pm_arena_sprintf(b->arena,
                                 "a row with the same unique key (%s) is already loaded (rule "
                                 "unique)",
                                 key.data ? key.data : "");
    pm_buf_free(&key);
    quarantine_info(row, &f, 1, b->arena);
}

/* The warehouse refused a row pipemend found valid: a constraint someone
 * added to the table by hand (a CHECK, a trigger), or a value its column's
 * type does not take (a hand-made uuid column). */
static void refused(batch *b, brow *row, const char *why)
{
    pm_finding f = {.kind = FINDING_CONTRACT, .rule = "database"};
    f.message = pm_arena_sprintf(b->arena, "the warehouse refused the row: %s", why);
    quarantine_info(row, &f, 1, b->arena);
}

/* ---- audit events (actor "engine") -------------------------------------- */

static pm_code audit_json(pm_store *s, const char *action, const char *subject, json_t *payload,
                          pm_err *err)
{
    char *text = json_dumps(payload, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(payload);
    pm_code rc = audit_append(s, "engine", action, subject, text, err);
    free(text);
    return rc;
}

static pm_code audit_table_created(run *r, const pm_table *t, pm_err *err)
{
    json_t *cols = table_columns_json(t);
    char subject[160];
    snprintf(subject, sizeof subject, "table/%s", t->name);
    return audit_json(r->store, "table.created", subject,
                      json_pack("{s:I, s:i, s:o}", "run", (json_int_t)r->run_id, "version",
                                t->version, "columns", cols),
                      err);
}

/* One event per batch that quarantined rows: how many, of which kinds,
 * from where. The rows themselves are in _pipemend_quarantine. */
static pm_code audit_quarantined(run *r, const batch *b, int64_t n, pm_err *err)
{
    json_t *kinds = json_object();
    uint64_t first = 0, last = 0;
    for (size_t i = 0; i < b->n; i++) {
        const brow *row = &b->rows[i];
        if (!row->kinds)
            continue;
        if (!first)
            first = row->rec.offset + 1; /* +1: 0 means unset */
        last = row->rec.offset;
        char buf[256];
        snprintf(buf, sizeof buf, "%s", row->kinds);
        for (char *save, *k = strtok_r(buf, ",", &save); k; k = strtok_r(NULL, ",", &save)) {
            json_t *c = json_object_get(kinds, k);
            json_object_set_new(kinds, k, json_integer(c ? json_integer_value(c) + 1 : 1));
        }
    }
    char subject[64];
    snprintf(subject, sizeof subject, "run/%lld", (long long)r->run_id);
    return audit_json(r->store, "rows.quarantined", subject,
                      json_pack("{s:I, s:s, s:s, s:I, s:I, s:o}", "rows", (json_int_t)n, "table",
                                r->o->table, "source", b->source, "first_offset",
                                (json_int_t)(first ? first - 1 : 0), "last_offset",
                                (json_int_t)last, "kinds", kinds),
                      err);
}

pm_code ingest_reap_aborted(pm_store *s, pm_err *err)
{
    /* Nothing to mark (the usual case): no write transaction, so a read
     * command never waits for a writer (a long replay) nor needs room on
     * a full disk. */
    bool any;
    pm_code rc = store_runs_dead(s, &any, err);
    if (rc || !any)
        return rc;
    pm_arena *a = pm_arena_new(0);
    int64_t *ids;
    size_t n;
    rc = store_begin(s, err);
    if (!rc)
        rc = store_runs_reap(s, a, &ids, &n, err);
    for (size_t i = 0; !rc && i < n; i++) {
        char subject[64];
        snprintf(subject, sizeof subject, "run/%lld", (long long)ids[i]);
        rc = audit_json(s, "run.aborted", subject,
                        json_pack("{s:s}", "reason",
                                  "its process ended before the run finished; committed batches "
                                  "were kept"),
                        err);
    }
    if (!rc)
        rc = store_commit(s, err);
    else
        store_rollback(s, NULL);
    pm_arena_free(a);
    return rc;
}

void ingest_reap_for_reading(pm_store *s)
{
    pm_err err = {0};
    if (ingest_reap_aborted(s, &err) != PM_OK)
        pm_warn("cannot mark the runs whose process ended as aborted now (%s); they show as "
                "running until a command that writes runs",
                err.msg);
}

/* Makes the table enforce the contract's unique key (on the key columns
 * the table has), and only that key; a change is an audit event. */
static pm_code unique_ensure(run *r, const pm_table *t, pm_err *err)
{
    const contract_rule *u = r->unique;
    for (size_t i = 0; u && i < u->nkey; i++) {
        if (table_find(t, u->key[i], strlen(u->key[i])) < 0) {
            pm_warn("the unique key names column %s, which %s does not have; the key is not "
                    "enforced",
                    u->key[i], t->name);
            u = NULL;
        }
    }
    int changed = 0;
    pm_code rc = store_unique_ensure(r->store, t, u, &changed, err);
    if (!rc && changed) {
        json_t *key = json_array();
        for (size_t i = 0; u && i < u->nkey; i++)
            json_array_append_new(key, json_string(u->key[i]));
        char subject[160];
        snprintf(subject, sizeof subject, "table/%s", t->name);
        rc = audit_json(r->store, "unique_key.enforced", subject, json_pack("{s:o}", "key", key),
                        err);
    }
    return rc;
}

/* on_incident: halt: the source stops after this quarantined row until
 * its incidents are closed (read_source checks at the next run). */
static pm_code halt_record(run *r, const batch *b, const brow *row, int64_t qrow, pm_err *err)
{
    pm_code rc = store_halt_set(r->store, r->o->table, b->source, qrow, err);
    if (rc)
        return rc;
    char subject[64];
    snprintf(subject, sizeof subject, "run/%lld", (long long)r->run_id);
    return audit_json(r->store, "source.halted", subject,
                      json_pack("{s:s, s:s, s:I, s:I, s:I}", "table", r->o->table, "source",
                                b->source, "line", (json_int_t)row->rec.line, "offset",
                                (json_int_t)row->rec.offset, "quarantine_id", (json_int_t)qrow),
                      err);
}

/* A batch written again after its connection was lost during COMMIT may
 * have been committed: the server kept it but the answer never came. Its
 * checkpoint then stands where the batch ends, and writing it again would
 * load its rows twice, so it is taken as written, with the run's counters
 * as the store has them. *done says so. */
static pm_code committed_already(run *r, batch *b, bool *done, pm_err *err)
{
    const char *now = NULL;
    bool found = false;
    *done = false;
    pm_code rc =
        store_checkpoint_get(r->store, r->o->table, b->source, b->arena, &now, &found, err);
    if (rc)
        return rc;
    pm_run done_run;
    bool exists = false;
    rc = store_run_get(r->store, r->run_id, b->arena, &done_run, &exists, err);
    if (rc || !exists)
        return rc;
    pthread_mutex_lock(&r->mu);
    bool lost = done_run.rows_read < r->read;
    pthread_mutex_unlock(&r->mu);
    if (!lost && (!found || strcmp(now, b->position) != 0 ||
                  (b->expect_found && strcmp(b->expect, b->position) == 0)))
        return PM_OK;
    if (lost) {
        /* Batches commit without waiting for their WAL flush (pg.c): a
         * server that stopped without a clean shutdown may have lost the
         * last ones, rows and checkpoints together. ingest_run reads
         * again from the checkpoints the server kept. */
        r->rewind = true;
        return pm_err_set(err, PM_ERR_BUSY,
                          "the server lost the last batches this run committed (it stopped "
                          "before they reached its disk)");
    }
    pm_warn("the batch ending at byte %llu of %s was committed before the connection was lost; "
            "not writing it again",
            (unsigned long long)b->end, b->path);
    pthread_mutex_lock(&r->mu);
    r->read = done_run.rows_read;
    r->loaded = done_run.rows_loaded;
    r->quarantined = done_run.rows_quarantined;
    pthread_mutex_unlock(&r->mu);
    *done = true;
    return PM_OK;
}

/* Two runs loading the same file into the same table would both start
 * from the same checkpoint; only the first to commit may move it. The
 * check and the move are in the caller's transaction: from expect (the
 * position the rows start at) to position. transport (NULL: none at hand)
 * describes where the other run stands. */
static pm_code checkpoint_move(run *r, const char *source, const char *path, pm_transport *t,
                               bool expect_found, const char *expect, const char *position,
                               pm_arena *a, pm_err *err)
{
    const char *now = NULL;
    bool found = false;
    pm_code rc = store_checkpoint_get(r->store, r->o->table, source, a, &now, &found, err);
    if (!rc && (found != expect_found || (found && strcmp(now, expect) != 0))) {
        char where[160] = "nowhere: it was removed";
        if (found && t)
            transport_describe(t, now, where, sizeof where);
        else if (found)
            snprintf(where, sizeof where, "another position");
        rc = pm_err_set(err, PM_ERR_BUSY,
                        "another run is loading %s into %s (its checkpoint moved to %s)", path,
                        r->o->table, where);
        pm_err_hint(err, "this run stopped without loading the rows the other run loads; "
                         "run one ingest per file and table at a time");
    }
    return rc ? rc : store_checkpoint_set(r->store, r->o->table, source, position, err);
}

static pm_code write_batch(run *r, batch *b, pm_err *err)
{
    pm_store *s = r->store;
    int64_t loaded = 0, quarantined = 0;
    pm_code rc = store_begin_batch(s, err);
    if (rc)
        return rc;
    if (b->retry && b->checkpoint) {
        bool done;
        rc = committed_already(r, b, &done, err);
        if (rc || done) {
            store_rollback(s, NULL);
            return rc;
        }
    }
    if (!rc && !r->insert_ready && b->table) {
        rc = store_insert_prepare(s, b->table, err);
        r->insert_ready = !rc;
    }
    /* the clean rows load together; those the table refuses join the
     * quarantine below, in order */
    pm_load_row *load = pm_arena_alloc(b->arena, (b->n ? b->n : 1) * sizeof *load);
    size_t nload = 0;
    for (size_t i = 0; i < b->n; i++)
        if (b->rows[i].cells)
            load[nload++] = (pm_load_row){.cells = b->rows[i].cells};
    if (!rc && nload)
        rc = store_load(s, load, nload, b->arena, err);
    /* the rest are quarantined together, in order (one COPY on
     * PostgreSQL, not a round trip each) */
    pm_qrow *qs = pm_arena_alloc(b->arena, (b->n ? b->n : 1) * sizeof *qs);
    int64_t *qids = pm_arena_alloc(b->arena, (b->n ? b->n : 1) * sizeof *qids);
    const pm_finding **qfound = pm_arena_alloc(b->arena, (b->n ? b->n : 1) * sizeof *qfound);
    size_t *qnfound = pm_arena_alloc(b->arena, (b->n ? b->n : 1) * sizeof *qnfound);
    size_t li = 0, halt_q = SIZE_MAX;
    for (size_t i = 0; !rc && i < b->n; i++) {
        brow *row = &b->rows[i];
        if (row->cells) {
            const pm_load_row *lr = &load[li++];
            if (!lr->refused) {
                loaded++;
                continue;
            }
            if (lr->unique)
                unique_violation(r, b, row);
            else
                refused(b, row, lr->why ? lr->why : "refused");
        }
        if ((long)i == b->halt_at)
            halt_q = (size_t)quarantined;
        qfound[quarantined] = row->found;
        qnfound[quarantined] = row->nfound;
        qs[quarantined++] = (pm_qrow){.run_id = r->run_id,
                                      .table = r->o->table,
                                      .pipeline = r->o->pipeline,
                                      .source = b->source,
                                      .offset = (int64_t)row->rec.offset,
                                      .line = (int64_t)row->rec.line,
                                      .raw = row->rec.raw,
                                      .raw_len = row->rec.raw_len,
                                      .raw_truncated = row->rec.raw_truncated,
                                      .kinds = row->kinds,
                                      .message = row->message,
                                      .findings = row->findings,
                                      .header = b->header,
                                      .header_len = b->header_len,
                                      .delimiter = b->delimiter};
    }
    size_t nq = (size_t)quarantined;
    if (!rc && nq)
        rc = store_quarantine_add_many(s, qs, nq, qids, err);
    if (!rc && nq)
        rc = incident_cache_link_many(r->incidents, s, nq, qids, qfound, qnfound, err);
    if (!rc && halt_q != SIZE_MAX) {
        const brow *row = &b->rows[b->halt_at];
        rc = halt_record(r, b, row, qids[halt_q], err);
    }
    if (!rc)
        rc = store_run_add(s, r->run_id, (int64_t)b->n, loaded, quarantined, err);
    if (!rc && quarantined)
        rc = audit_quarantined(r, b, quarantined, err);
    if (!rc && b->checkpoint)
        rc = checkpoint_move(r, b->source, b->path, b->transport, b->expect_found, b->expect,
                             b->position, b->arena, err);
    if (!rc)
        rc = store_commit(s, err);
    if (rc) {
        store_rollback(s, NULL);
        return rc;
    }
    pthread_mutex_lock(&r->mu);
    r->read += (int64_t)b->n;
    r->loaded += loaded;
    r->quarantined += quarantined;
    pthread_mutex_unlock(&r->mu);
    return PM_OK;
}

/* How often a batch is written again after a transient failure. */
#define WRITE_RETRIES 3

/* Transient failures, by SQLSTATE: the connection (class 08, or an
 * administrator's pg_terminate_backend: 57P01..57P03, or no SQLSTATE at
 * all on a dropped socket), a serialization failure (40001), a deadlock
 * (40P01). */
static bool retryable(const pm_err *e)
{
    if (e->code == PM_ERR_IO && (e->sqlstate[0] == '\0' || strncmp(e->sqlstate, "08", 2) == 0 ||
                                 strncmp(e->sqlstate, "57P0", 4) == 0))
        return true;
    return strcmp(e->sqlstate, "40001") == 0 || strcmp(e->sqlstate, "40P01") == 0;
}

/* ---- the stream ---------------------------------------------------------
 *
 * On a backend where each load has a start-up cost (store_load_streams:
 * PostgreSQL, whose COPY reaches the fast path of its bulk writes only
 * after its first 16 MiB of table; see pg_table.c), a
 * run of clean batches (every row loads, nothing to quarantine, nothing to
 * halt on) from one source into one table shares one load and one
 * transaction, up to the run's batch size in rows: the reader's batches
 * stay bounded by their bytes (BATCH_BYTES), the server sees one COPY per
 * batch_size rows. Each batch's slot is free as soon as its rows are sent.
 * The transaction moves the checkpoint from where its first batch started
 * to where its last one ends, and commits; so a crash keeps or loses the
 * whole stream, as it does a batch.
 *
 * A stream ends at the batch size, at a batch that does not fit it, at
 * the end, and when the reader needs the connection (writer_idle: it
 * says so, and the writer commits the stream while it waits for the next
 * batch). When one fails (a row the table refuses, a
 * lost connection), the batches it held are no longer in memory: the
 * transaction rolls back and the run reads again from the checkpoints the
 * server kept (r->rewind), writing batches one by one from then on, which
 * finds the refused rows as ever. */

static bool stream_fits(run *r, const batch *b)
{
    if (r->no_stream || !r->rereadable || !b->n || !b->table || !b->checkpoint || b->retry ||
        b->halt_at >= 0 || r->unique)
        return false;
    if (r->streaming && (b->table != r->stream_table || strcmp(b->source, r->stream_source) != 0))
        return false;
    for (size_t i = 0; i < b->n; i++)
        if (!b->rows[i].cells)
            return false;
    return true;
}

/* r->streaming, under mu: writer_idle waits for it. */
static void stream_set(run *r, bool on)
{
    pthread_mutex_lock(&r->mu);
    r->streaming = on;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

/* After a failed stream: rolled back, and the run reads again (see above).
 * Another run moving the checkpoint is no failure of the stream: the run
 * stops, as a batch does. */
static pm_code stream_failed(run *r, pm_code rc, pm_err *err)
{
    store_rollback(r->store, NULL);
    stream_set(r, false);
    r->stream_rows = 0;
    if (rc == PM_ERR_BUSY && strstr(err->msg, "another run is loading"))
        return rc;
    /* read again from the checkpoints, batch by batch from here: each batch
     * then gets its own retries, and a refused row is found */
    r->rewind = true;
    r->no_stream = true;
    if (retryable(err))
        return rc; /* a lost connection says so itself */
    char was[sizeof err->msg];
    snprintf(was, sizeof was, "%s", err->msg);
    pm_err_set(err, rc,
               "a load of several batches did not complete (%s); the run writes its batches one "
               "by one from here",
               was);
    return rc;
}

static pm_code stream_close(run *r, pm_err *err)
{
    pm_store *s = r->store;
    pm_arena *a = pm_arena_new(0);
    int64_t n = r->stream_rows;
    pm_code rc = store_load_stream_end(s, err);
    if (!rc)
        rc = store_run_add(s, r->run_id, n, n, 0, err);
    if (!rc)
        rc = checkpoint_move(r, r->stream_source, r->stream_path, NULL, r->stream_expect_found,
                             r->stream_expect, r->stream_position, a, err);
    if (!rc)
        rc = store_commit(s, err);
    pm_arena_free(a);
    if (rc)
        return stream_failed(r, rc, err);
    r->stream_rows = 0;
    pthread_mutex_lock(&r->mu);
    r->read += n;
    r->loaded += n;
    r->streaming = false;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    return PM_OK;
}

static pm_code stream_batch(run *r, batch *b, pm_err *err)
{
    pm_store *s = r->store;
    pm_code rc = PM_OK;
    if (!r->streaming) {
        rc = store_begin_batch(s, err);
        if (!rc && !r->insert_ready) {
            rc = store_insert_prepare(s, b->table, err);
            r->insert_ready = !rc;
        }
        if (!rc && !store_load_streams(s)) {
            /* this backend or this table's load has none: batch by batch */
            store_rollback(s, NULL);
            r->no_stream = true;
            return write_batch(r, b, err);
        }
        if (rc) {
            store_rollback(s, NULL);
            return rc;
        }
        stream_set(r, true);
        r->stream_rows = 0;
        r->stream_source = b->source;
        r->stream_path = b->path;
        r->stream_table = b->table;
        r->stream_expect_found = b->expect_found;
        memcpy(r->stream_expect, b->expect, sizeof r->stream_expect);
    }
    pm_load_row *load = pm_arena_alloc(b->arena, b->n * sizeof *load);
    for (size_t i = 0; i < b->n; i++)
        load[i] = (pm_load_row){.cells = b->rows[i].cells};
    rc = store_load_stream(s, load, b->n, err);
    if (rc)
        return stream_failed(r, rc, err);
    r->stream_rows += (int64_t)b->n;
    memcpy(r->stream_position, b->position, sizeof r->stream_position);
    return PM_OK;
}

static void *writer_main(void *arg)
{
    run *r = arg;
    for (int w = 0;; w ^= 1) {
        batch *b = &r->slots[w];
        pm_code rc = PM_OK;
        pthread_mutex_lock(&r->mu);
        while (b->state != SLOT_FULL) {
            if (r->streaming && r->want_conn) {
                /* the reader needs the connection (a checkpoint to read,
                 * a heal to apply): the stream commits now */
                pthread_mutex_unlock(&r->mu);
                rc = stream_close(r, &r->werr);
                pthread_mutex_lock(&r->mu);
                if (rc)
                    break;
                continue;
            }
            pthread_cond_wait(&r->cv, &r->mu);
        }
        pthread_mutex_unlock(&r->mu);
        if (rc) {
            pthread_mutex_lock(&r->mu);
            r->writer_failed = true;
            pthread_cond_broadcast(&r->cv);
            pthread_mutex_unlock(&r->mu);
            return NULL;
        }
        bool last = b->last;
        if (stream_fits(r, b)) {
            rc = stream_batch(r, b, &r->werr);
        } else {
            if (r->streaming)
                rc = stream_close(r, &r->werr);
            if (!rc && b->n)
                rc = write_batch(r, b, &r->werr);
        }
        /* the stream stays open while the reader fills the next batch */
        size_t limit = r->o->stream_rows ? r->o->stream_rows : r->o->batch_size;
        if (!rc && r->streaming && (last || r->stream_rows >= (int64_t)limit))
            rc = stream_close(r, &r->werr);
        /* A lost connection, a deadlock or a serialization failure rolled
         * the batch back whole: it is written again (the backend reconnects
         * at BEGIN), from the same checkpoint, so nothing is lost or loaded
         * twice. Anything else fails the run. (A stream that failed is read
         * again instead: r->rewind.) */
        for (int attempt = 1; rc && !r->rewind && retryable(&r->werr) && attempt <= WRITE_RETRIES;
             attempt++) {
            pm_warn("the batch ending at byte %llu of %s was rolled back (%s); writing it again "
                    "(attempt %d of %d)",
                    (unsigned long long)b->end, b->path, r->werr.msg, attempt, WRITE_RETRIES);
            incident_cache_clear(r->incidents); /* ids opened in the rolled-back batch */
            r->insert_ready = false;
            struct timespec pause = {0, 250000000L * attempt};
            nanosleep(&pause, NULL);
            b->retry = true;
            rc = write_batch(r, b, &r->werr);
        }
        /* The next batch is about the size of this one: its memory stays
         * with the slot (pm_arena_recycle). */
        pm_arena_recycle(b->arena);
        pthread_mutex_lock(&r->mu);
        b->n = 0;
        b->table = NULL;
        b->last = false;
        b->retry = false;
        b->halt_at = -1;
        b->state = SLOT_FREE;
        if (rc)
            r->writer_failed = true;
        pthread_cond_broadcast(&r->cv);
        pthread_mutex_unlock(&r->mu);
        if (rc || last)
            return NULL;
    }
}

/* Waits for slot i to be free; false when the writer has failed. */
static bool slot_wait_free(run *r, int i)
{
    pthread_mutex_lock(&r->mu);
    while (r->slots[i].state != SLOT_FREE && !r->writer_failed)
        pthread_cond_wait(&r->cv, &r->mu);
    bool ok = !r->writer_failed;
    pthread_mutex_unlock(&r->mu);
    return ok;
}

/* Waits until the writer holds no batch and no stream (the connection is
 * the reader's then); false when the writer has failed. */
static bool writer_idle(run *r)
{
    pthread_mutex_lock(&r->mu);
    r->want_conn = true;
    pthread_cond_broadcast(&r->cv);
    while ((r->slots[0].state != SLOT_FREE || r->slots[1].state != SLOT_FREE || r->streaming) &&
           !r->writer_failed)
        pthread_cond_wait(&r->cv, &r->mu);
    r->want_conn = false;
    bool ok = !r->writer_failed;
    pthread_mutex_unlock(&r->mu);
    return ok;
}

static void slot_hand_over(run *r, int i)
{
    pthread_mutex_lock(&r->mu);
    r->slots[i].state = SLOT_FULL;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

/* ---- inline healing ------------------------------------------------------ */

static heal_ctx heal_ctx_of(run *r)
{
    return (heal_ctx){.store = r->store,
                      .contract = r->o->contract,
                      .policy = &r->o->policy,
                      .policy_source = r->o->policy_source,
                      .actor = "rules",
                      .run_id = r->run_id,
                      .limits = &r->o->source};
}

/* The batch's records with a finding that one of ops answers (for a dry
 * run), in b's arena. */
static pm_record *tainted_records(batch *b, const pm_op *ops, size_t nops, size_t *n)
{
    pm_record *recs = pm_arena_alloc(b->arena, (b->n ? b->n : 1) * sizeof *recs);
    *n = 0;
    for (size_t i = 0; i < b->n && *n < HEAL_DRY_RUN_ROWS; i++) {
        const brow *row = &b->rows[i];
        bool match = false;
        for (size_t f = 0; !row->cells && f < row->nfound && !match; f++)
            for (size_t k = 0; k < nops && !match; k++)
                match = row->found[f].kind == incident_kind_for_op(&ops[k]) &&
                        row->found[f].column && ops[k].column &&
                        strcmp(row->found[f].column, ops[k].column) == 0;
        if (match)
            recs[(*n)++] = row->rec;
    }
    return recs;
}

/* Applies ops the policy lets the rules apply by themselves: they become
 * a proposal, which heal_apply checks again (guard, policy, sandbox) and
 * applies with the migration lock and the version check; then the batch is
 * validated again against the new schema. It first waits for the writer to
 * go idle (both slots free): it uses the connection and changes the schema
 * the writer's insert was prepared for. Returns false when nothing was
 * applied, which leaves the rows quarantined rather than failing the run. */
static bool apply_auto(run *r, batch *b, pm_op *ops, size_t n, const char *const *why)
{
    char *text = ops_to_json(ops, n);
    bool tried = false; /* and failed, earlier in this run: say it once */
    for (size_t i = 0; i < r->nproposed && !tried; i++)
        tried = strcmp(r->proposed[i], text) == 0;
    if (!tried && r->nproposed < sizeof r->proposed / sizeof r->proposed[0])
        r->proposed[r->nproposed++] = pm_arena_strdup(r->arena, text);
    free(text);
    if (tried || !writer_idle(r))
        return false;
    heal_ctx c = heal_ctx_of(r);
    int64_t id;
    bool created;
    pm_err err;
    heal_outcome out;
    pm_code rc = heal_propose(&c, r->table, ops, n, why, NULL, 0, &id, &created, &err);
    if (!rc)
        rc = heal_apply(&c, id, false, &out, &err);
    if (!rc && !out.applied)
        rc = pm_err_set(&err, PM_ERR_USAGE, "the policy holds proposal %lld for a person",
                        (long long)id);
    pm_table *healed = NULL;
    pm_err lerr;
    pm_code lrc = store_table_load(r->store, r->table->name, r->arena, &healed, &lerr);
    if (rc && !lrc && healed && healed->version != r->table->version) {
        /* Another worker changed the table first (usually: made this very
         * change, perhaps through this very proposal, which is then no
         * longer pending). Continue on its version; our proposal, if still
         * pending with nothing left to do there, is superseded. */
        if (store_begin(r->store, NULL) == PM_OK) {
            pm_err serr;
            bool moot;
            if (heal_supersede_moot(r->store, id, healed, &moot, &serr) != PM_OK || !moot)
                store_rollback(r->store, NULL); /* no longer pending: nothing to record */
            else if (store_commit(r->store, &serr) != PM_OK)
                store_rollback(r->store, NULL);
        }
        pm_info("%s was changed by another run (schema version %d); continuing on it",
                r->table->name, healed->version);
        r->moved = true;
        rc = PM_OK;
    } else if (!rc && lrc) {
        rc = lrc;
        err = lerr;
    }
    if (rc || !healed) {
        pm_warn("not healing %s: %s; its rows stay in quarantine", r->table->name,
                rc ? err.msg : "the table is gone");
        return false;
    }
    pm_info("healed %s, schema version %d (proposal %lld)", r->table->name, healed->version,
            (long long)(!rc && out.proposal ? out.proposal : id));
    r->table = healed;
    r->healed = true;
    drift_ctx_retarget(r->drift, healed);
    r->insert_ready = false; /* the writer is idle; it prepares anew */
    incident_cache_clear(r->incidents);
    for (size_t i = 0; i < b->n; i++)
        validate_row(r, b, &b->rows[i]);
    return true;
}

/* Records ops a person must decide on as a pending proposal (once: the
 * same drift batch after batch proposes nothing new), tried in the sandbox
 * with the batch's tainted rows. Needs the writer idle, like apply_auto. */
static void propose(run *r, batch *b, const pm_op *ops, size_t n, const char *const *why)
{
    char *text = ops_to_json(ops, n);
    for (size_t i = 0; i < r->nproposed; i++) {
        if (strcmp(r->proposed[i], text) == 0) {
            free(text);
            return;
        }
    }
    if (!writer_idle(r)) {
        free(text);
        return;
    }
    heal_ctx c = heal_ctx_of(r);
    size_t nrecs;
    pm_record *recs = tainted_records(b, ops, n, &nrecs);
    int64_t id = 0;
    bool created = false;
    pm_err err;
    if (heal_propose(&c, r->table, ops, n, why, recs, nrecs, &id, &created, &err) != PM_OK)
        pm_warn("could not record a proposal for %s: %s", r->table->name, err.msg);
    else if (created)
        pm_info("proposal %lld for %s waits for a person: pipemend proposals show %lld",
                (long long)id, r->table->name, (long long)id);
    incident_cache_clear(r->incidents);
    if (r->nproposed < sizeof r->proposed / sizeof r->proposed[0])
        r->proposed[r->nproposed++] = pm_arena_strdup(r->arena, text);
    free(text);
}

/* Values of a text column read per batch for their date layout: enough
 * to see a switch anywhere in the batch, few enough to cost nothing. */
#define TEXT_FORMAT_SAMPLES 32
/* Rows of the table read for the layout its values had. */
#define TEXT_FORMAT_SEED 16

/* Format drift in text columns (drift/textfmt.h): a sample of each text
 * column's values in the batch, against the date layout the column's
 * values had. A switch loads (text holds it) with a warning, and the
 * retype that reads both layouts is proposed for a person. Needs the
 * writer idle only when it reads the table or proposes, once per column
 * per run. */
static void text_formats(run *r, batch *b)
{
    const pm_table *t = r->table;
    if (!b->n || !t || !r->drift)
        return; /* no table (records without fields): nothing to follow */
    if (!r->formats)
        r->formats = textfmt_new(r->arena);
    size_t step = b->n / TEXT_FORMAT_SAMPLES + 1;
    for (size_t j = 0; j < t->ncols; j++) {
        const pm_column *col = &t->cols[j];
        if ((col->type.kind != PM_T_VARCHAR && col->type.kind != PM_T_TEXT) ||
            !textfmt_following(r->formats, col->name))
            continue;
        for (size_t i = 0; i < b->n; i += step) {
            const pm_cell *cell = b->rows[i].cells ? &b->rows[i].cells[j] : NULL;
            if (!cell || cell->kind != PM_CELL_TEXT)
                continue;
            textfmt_shape sh = textfmt_shape_of(cell->s, cell->len);
            if (sh.kind == PM_T_UNKNOWN)
                continue;
            const char *value = pm_arena_strndup(b->arena, cell->s, cell->len);
            textfmt_shape was;
            const char *example = NULL;
            textfmt_verdict v = textfmt_observe(r->formats, col->name, sh, &was, &example);
            if (v == TEXTFMT_SEED) {
                const char **seen = NULL;
                size_t nseen = 0;
                pm_err serr;
                if (!writer_idle(r) ||
                    store_column_sample(r->store, t->name, col->name, TEXT_FORMAT_SEED, b->arena,
                                        &seen, &nseen, &serr) != PM_OK)
                    nseen = 0;
                textfmt_seed(r->formats, col->name, seen, nseen, value, sh);
                if (!textfmt_following(r->formats, col->name))
                    break;
                v = textfmt_observe(r->formats, col->name, sh, &was, &example);
            }
            if (v != TEXTFMT_CHANGED)
                continue;
            char d1[64], d2[64], tn[TYPE_NAME_MAX];
            pm_op op = {.kind = OP_RETYPE_COLUMN, .table = t->name, .column = col->name};
            const char *fmt = NULL;
            bool one_op = textfmt_retype(was, sh, &op.type, &fmt);
            op.format = fmt;
            const char *why = pm_arena_sprintf(
                b->arena,
                "values of %s were dates like \"%s\" (%s) and now arrive as \"%s\" (%s); "
                "they still load, as text",
                col->name, example, textfmt_describe(was, d1), value, textfmt_describe(sh, d2));
            if (!one_op) {
                pm_warn("format drift in %s: %s; no one coercion reads both layouts, so nothing "
                        "is proposed",
                        t->name, why);
                break;
            }
            why = pm_arena_sprintf(b->arena,
                                   "%s: retyping the column to %s, parsing ISO 8601%s%s, would "
                                   "make every value a %s",
                                   why, type_name(op.type, tn), fmt ? " and " : "", fmt ? fmt : "",
                                   tn);
            pm_warn("format drift in %s: %s (needs review)", t->name, why);
            propose(r, b, &op, 1, &why);
            break;
        }
    }
}

/* Plans repairs for the batch's findings: what the policy lets the rules
 * apply is applied now (apply_auto); what needs a person (or everything,
 * under review and frozen) becomes a proposal. */
/* Another run (a worker on another file) may have changed the table since
 * this one loaded its schema: then the batch is checked against the
 * schema of now before anything is planned, so that a drift another worker
 * already healed is not proposed (and opened as an incident) again. Needs
 * the writer idle. */
static void catch_up(run *r, batch *b)
{
    pm_table *now = NULL;
    if (!writer_idle(r) ||
        store_table_load(r->store, r->table->name, r->arena, &now, NULL) != PM_OK || !now ||
        now->version == r->table->version)
        return;
    pm_info("%s is at schema version %d (changed by another run); checking against it",
            r->table->name, now->version);
    r->table = now;
    r->moved = true;
    drift_ctx_retarget(r->drift, now);
    r->insert_ready = false;
    incident_cache_clear(r->incidents);
    for (size_t i = 0; i < b->n; i++)
        validate_row(r, b, &b->rows[i]);
}

static bool poisoned(const brow *row)
{
    size_t n = 0;
    for (size_t i = 0; i < row->nfound; i++)
        n += row->found[i].kind == FINDING_NEW_FIELD;
    return n > POISON_NEW_FIELDS;
}

/* New fields that may be the new names of nullable columns, judged
 * across the batch (drift/rename.h): their rows get a rename finding, so
 * that the planner proposes the mapping and not a column beside the old
 * one. The pairs a person rejected are read once a run, when the batch
 * first suspects one (the writer must be idle for that). */
static void suspect_renames(run *r, batch *b)
{
    size_t nq = 0;
    for (size_t i = 0; i < b->n; i++)
        for (size_t k = 0; !b->rows[i].cells && k < b->rows[i].nfound; k++)
            nq += b->rows[i].found[k].kind == FINDING_NEW_FIELD;
    if (!nq)
        return;
    rename_row *rows = pm_arena_alloc(b->arena, b->n * sizeof *rows);
    for (size_t i = 0; i < b->n; i++)
        rows[i] =
            (rename_row){&b->rows[i].rec, b->rows[i].cells, b->rows[i].found, b->rows[i].nfound};
    rename_pair *pairs;
    size_t np = rename_suspects(r->table, rows, b->n, r->refusals, r->nrefusals, b->arena, &pairs);
    if (np && !r->refusals_read && writer_idle(r)) {
        pm_err err;
        r->refusals_read = true;
        if (replan_rename_refusals(r->store, r->table->name, r->arena, &r->refusals, &r->nrefusals,
                                   &err) != PM_OK)
            pm_warn("cannot read the rejected field mappings of %s: %s", r->table->name, err.msg);
        if (r->nrefusals)
            np = rename_suspects(r->table, rows, b->n, r->refusals, r->nrefusals, b->arena, &pairs);
    }
    for (size_t i = 0; np && i < b->n; i++) {
        pm_finding *f;
        size_t nf;
        if (rename_mark(r->table, pairs, np, &rows[i], b->arena, &f, &nf))
            quarantine_info(&b->rows[i], f, nf, b->arena);
    }
}

static void heal_inline(run *r, batch *b)
{
    if (!r->drift)
        return;
    pm_plan plan = {0};
    for (int pass = 0; pass < 2; pass++) {
        plan = (pm_plan){0};
        suspect_renames(r, b);
        size_t npoisoned = 0;
        for (size_t i = 0; i < b->n; i++) {
            if (b->rows[i].cells || !b->rows[i].nfound)
                continue;
            if (poisoned(&b->rows[i])) {
                if (pass == 0 && npoisoned++ < 3)
                    pm_warn("line %llu of %s brings more than %d new fields: not planned (the "
                            "record stays in quarantine for a person)",
                            (unsigned long long)b->rows[i].rec.line, b->source, POISON_NEW_FIELDS);
                continue;
            }
            planner_consider(&plan, r->table, b->rows[i].found, b->rows[i].nfound, b->arena);
        }
        if (!plan.n)
            return;
        if (pass == 0) {
            int before = r->table->version;
            catch_up(r, b);
            if (r->table->version == before)
                break;
        }
    }
    pm_op *now = pm_arena_alloc(b->arena, plan.n * sizeof *now);
    pm_op *later = pm_arena_alloc(b->arena, plan.n * sizeof *later);
    const char **why_now = pm_arena_alloc(b->arena, plan.n * sizeof *why_now);
    const char **why = pm_arena_alloc(b->arena, plan.n * sizeof *why);
    size_t nnow = 0, nlater = 0, width = r->table->ncols;
    /* The table's budget of columns added without a person (policy.h):
     * what is left of it today is applied, the rest waits. */
    int left = INT_MAX;
    for (size_t i = 0; i < plan.n && left == INT_MAX; i++) {
        int used = 0;
        if (plan.ops[i].kind == OP_ADD_COLUMN &&
            policy_decide_op(&r->o->policy, &plan.ops[i], r->table) == DECIDE_APPLY &&
            writer_idle(r))
            left = heal_auto_columns_used(r->store, r->table->name, &used, NULL) == PM_OK
                       ? policy_auto_columns(&r->o->policy) - used
                       : 0;
    }
    for (size_t i = 0; i < plan.n; i++) {
        pm_decision d = policy_decide_op(&r->o->policy, &plan.ops[i], r->table);
        /* The contract's not_null is the user's word, whatever the column
         * says: relaxing the column would not load the rows anyway. */
        if (d == DECIDE_APPLY && plan.ops[i].kind == OP_DROP_NOT_NULL &&
            contract_declares_not_null(r->o->contract, plan.ops[i].column))
            d = DECIDE_HOLD;
        /* Columns that keep coming are a map keyed by data, not a schema:
         * past the inference cap, or the day's budget, they wait for a
         * person. */
        bool capped = plan.ops[i].kind == OP_ADD_COLUMN &&
                      (++width > INFER_MAX_COLUMNS || (d == DECIDE_APPLY && left-- <= 0));
        if (d == DECIDE_APPLY && !capped) {
            why_now[nnow] = plan.why[i];
            now[nnow++] = plan.ops[i];
        } else if (d != DECIDE_REJECT) {
            why[nlater] = plan.why[i];
            later[nlater++] = plan.ops[i];
        }
    }
    if (nnow && apply_auto(r, b, now, nnow, why_now))
        suspect_renames(r, b); /* the rows were checked again */
    /* One proposal per op, so that a person can take one and leave another
     * (drop a NOT NULL, but not map a field). */
    for (size_t i = 0; i < nlater; i++)
        propose(r, b, &later[i], 1, &why[i]);
}

/* ---- the first batch: the table it creates ------------------------------ */

/* Creates the table inferred from b's sample before b is validated, so
 * that the first batch heals under the policy as every later one does:
 * the table must exist for a heal to change it. The creation commits on
 * its own, under the table's migration lock: another run that created the
 * table first wins, and this one continues on the winner's table (its
 * rows then meet that schema like any later batch). An empty table with
 * no checkpoint loses nothing if the run dies before its first batch. The
 * writer must be idle. */
static pm_code create_table(run *r, pm_table *t, pm_err *err)
{
    pm_table *winner = NULL;
    pm_code rc = store_begin(r->store, err);
    if (!rc)
        rc = store_table_create_locked(r->store, t, r->arena, &winner, err);
    if (!rc && !winner && r->unique)
        rc = unique_ensure(r, t, err);
    if (!rc && !winner)
        rc = audit_table_created(r, t, err);
    if (!rc)
        rc = store_commit(r->store, err);
    if (rc) {
        store_rollback(r->store, NULL);
        return rc;
    }
    if (winner) {
        pm_info("table %s was created by another run meanwhile (schema version %d); loading into "
                "it",
                t->name, winner->version);
        r->table = winner;
        drift_ctx_retarget(r->drift, winner);
    } else {
        r->created = true;
        pm_info("created table %s with %zu columns from the first %zu rows", t->name, t->ncols,
                r->sampled);
    }
    return PM_OK;
}

static pm_code prepare_batch(run *r, batch *b, pm_err *err)
{
    if (r->table)
        return PM_OK;
    r->table = infer_table(r, b);
    if (!r->table)
        return PM_OK;
    r->drift = drift_ctx_new(r->arena, r->table, r->o->contract);
    r->sampled = b->n < r->o->sample_size ? b->n : r->o->sample_size;
    if (!writer_idle(r))
        return PM_OK; /* the writer failed; ingest_run reports its error */
    return create_table(r, r->table, err);
}

/* ---- the reader side -------------------------------------------------- */

/* A batch is handed over at batch_size rows or when its arena holds this
 * many bytes, whichever comes first: two batches are in memory at a time,
 * so this bounds the run's memory whatever the width of the rows (about
 * 2.5 KB a row of 300 bytes of NDJSON: raw bytes, parsed fields, cells).
 * The first batch, from which a new table is inferred, holds at least the
 * whole sample. */
#define BATCH_BYTES ((size_t)12 << 20)

static brow *batch_push(batch *b)
{
    if (b->n == b->cap) {
        /* The array belongs to the slot and is kept from batch to batch:
         * it reaches the batch size once, and is neither copied while it
         * grows nor faulted in again for every batch. */
        b->cap = b->cap ? b->cap * 2 : 1024;
        b->rows = pm_xrealloc(b->rows, b->cap * sizeof *b->rows);
    }
    brow *row = &b->rows[b->n++];
    memset(row, 0, sizeof *row);
    return row;
}

static pm_code plan_sources(run *r, src_plan *plan, pm_err *err)
{
    const ingest_opts *o = r->o;
    for (size_t i = 0; i < o->npaths; i++) {
        src_plan *p = &plan[i];
        p->path = o->paths[i];
        if (o->has_format)
            p->fmt = o->format;
        else if (!source_format_from_path(p->path, &p->fmt))
            return pm_err_set(err, PM_ERR_USAGE, "cannot tell the format of %s from its name",
                              p->path),
                   pm_err_hint(err, "pass --format ndjson or --format csv"), PM_ERR_USAGE;
    }
    return PM_OK;
}

static int checkpoint_cmp(const void *a, const void *b)
{
    return strcmp(((const pm_checkpoint *)a)->source, ((const pm_checkpoint *)b)->source);
}

/* cps sorted by source (checkpoint_cmp). */
static const pm_checkpoint *checkpoint_of(const pm_checkpoint *cps, size_t n, const char *source)
{
    pm_checkpoint key = {.source = source};
    return n ? bsearch(&key, cps, n, sizeof *cps, checkpoint_cmp) : NULL;
}

/* A checkpoint by the identity its token records (transport_token_identity). */
typedef struct ident_ref {
    const char *identity;
    size_t i; /* into the checkpoints */
} ident_ref;

static int ident_cmp(const void *a, const void *b)
{
    return strcmp(((const ident_ref *)a)->identity, ((const ident_ref *)b)->identity);
}

/* Decides where each file starts, before anything is read, from every
 * checkpoint of the table as it stands now (so that one source's move
 * cannot hide a checkpoint from the next):
 *   - the same file twice (a hard link, a name given twice) is read once;
 *   - a file whose position sits under another key (it was renamed or
 *     loaded through another link: transport_same) resumes from the
 *     furthest such position, which is written under its own key first;
 *   - a file where another one was (its own key's position is of another
 *     file), with that file beside it under a new name (rotation) and not
 *     named by this run: that file is read on first, from the position,
 *     and this one from the top.
 * plan has room for twice the files named; *n grows with files found. */
static pm_code plan_identities(run *r, src_plan *plan, size_t *n, pm_err *err)
{
    pm_checkpoint *cps;
    size_t ncps;
    pm_code rc = store_checkpoints_list(r->store, r->o->table, r->arena, &cps, &ncps, err);
    if (rc)
        return rc;
    for (size_t i = 0; i < *n; i++) {
        pm_transport *t;
        plan[i].start = START_OWN;
        /* Regular files only: opening a named pipe here would take its
         * writer's data (or its end) from the read that follows. */
        struct stat st;
        if (strcmp(plan[i].path, "-") == 0 || stat(plan[i].path, &st) != 0 ||
            !S_ISREG(st.st_mode) || transport_open(plan[i].path, &t, NULL) != PM_OK)
            continue; /* read_source says why it cannot be read */
        plan[i].id = pm_arena_strdup(r->arena, transport_id(t));
        transport_identity(t, plan[i].identity, sizeof plan[i].identity);
        transport_close(t);
        for (size_t j = 0; j < i && plan[i].identity[0]; j++) {
            if (!plan[j].skip && strcmp(plan[j].identity, plan[i].identity) == 0) {
                pm_info("%s is the same file as %s (a hard link, or named twice); it is read "
                        "once",
                        plan[i].path, plan[j].path);
                plan[i].skip = true;
            }
        }
    }
    /* Sorted once, so that many files against many checkpoints costs
     * n log n, and transport_same reads only the few of the same identity. */
    if (ncps)
        qsort(cps, ncps, sizeof *cps, checkpoint_cmp);
    ident_ref *refs = NULL;
    size_t nrefs = 0;
    src_plan *out = pm_arena_calloc(r->arena, (2 * *n + 1) * sizeof *out);
    size_t nout = 0;
    for (size_t i = 0; i < *n; i++) {
        src_plan *p = &plan[i];
        pm_transport *t;
        if (!p->id || p->skip || transport_open(p->path, &t, NULL) != PM_OK) {
            out[nout++] = *p;
            continue;
        }
        if (!refs) {
            refs = pm_arena_alloc(r->arena, (ncps ? ncps : 1) * sizeof *refs);
            for (size_t k = 0; k < ncps; k++) {
                char ident[64];
                transport_token_identity(t, cps[k].position, ident, sizeof ident);
                if (ident[0])
                    refs[nrefs++] = (ident_ref){pm_arena_strdup(r->arena, ident), k};
            }
            if (nrefs)
                qsort(refs, nrefs, sizeof *refs, ident_cmp);
        }
        const pm_checkpoint *own = checkpoint_of(cps, ncps, p->id), *best = NULL;
        uint64_t furthest = 0;
        ident_ref key = {.identity = p->identity};
        const ident_ref *hit =
            p->identity[0] && nrefs ? bsearch(&key, refs, nrefs, sizeof *refs, ident_cmp) : NULL;
        while (hit && hit > refs && strcmp(hit[-1].identity, p->identity) == 0)
            hit--;
        for (; hit && hit < refs + nrefs && strcmp(hit->identity, p->identity) == 0; hit++) {
            const pm_checkpoint *c = &cps[hit->i];
            uint64_t off;
            if (transport_same(t, c->position, &off) &&
                (!best || off > furthest || (off == furthest && c == own))) {
                best = c;
                furthest = off;
            }
        }
        if (best && best != own) {
            p->start = START_TOKEN;
            p->token = best->position;
            p->own = own ? own->position : NULL;
            pm_info("%s was loaded before as %s (renamed or linked); resuming it from there",
                    p->path, best->source);
        } else if (!best && own) {
            char *prev = transport_previous(t, own->position);
            bool named = false;
            for (size_t j = 0; prev && j < *n && !named; j++)
                named = plan[j].id && strcmp(plan[j].id, prev) == 0;
            if (prev) {
                /* Rotated: the file loaded under this name is now prev. */
                p->start = START_TOP;
                if (!named) {
                    pm_transport *pt;
                    const char *pid = NULL;
                    if (transport_open(prev, &pt, NULL) == PM_OK) {
                        pid = pm_arena_strdup(r->arena, transport_id(pt));
                        transport_close(pt);
                    }
                    const pm_checkpoint *pown = pid ? checkpoint_of(cps, ncps, pid) : NULL;
                    out[nout++] = (src_plan){.path = pm_arena_strdup(r->arena, prev),
                                             .fmt = p->fmt,
                                             .id = pid,
                                             .start = START_TOKEN,
                                             .token = own->position,
                                             .own = pown ? pown->position : NULL};
                    pm_info("%s was rotated: the file loaded under that name is now %s; its "
                            "lines after the checkpoint are read first, then %s from the top",
                            p->path, prev, p->path);
                } else {
                    pm_info("%s was rotated to %s, which this run reads too; %s is read from the "
                            "top",
                            p->path, prev, p->path);
                }
            }
            free(prev);
        }
        transport_close(t);
        out[nout++] = *p;
    }
    memcpy(plan, out, nout * sizeof *out);
    *n = nout;
    return PM_OK;
}

/* A source whose position came from another key (plan_identities) gets it
 * under its own key, in a transaction of its own, unless another run moved
 * that key since the plan was made. The writer must be idle. */
static pm_code plan_adopt(run *r, const src_plan *p, pm_err *err)
{
    pm_arena *a = pm_arena_new(0);
    const char *now = NULL;
    bool found = false;
    pm_code rc = store_begin(r->store, err);
    if (!rc)
        rc = store_checkpoint_get(r->store, r->o->table, p->id, a, &now, &found, err);
    if (!rc && (found != (p->own != NULL) || (found && strcmp(now, p->own) != 0))) {
        rc =
            pm_err_set(err, PM_ERR_BUSY, "another run is loading %s into %s", p->path, r->o->table);
        pm_err_hint(err, "run one ingest per file and table at a time");
    }
    if (!rc)
        rc = store_checkpoint_set(r->store, r->o->table, p->id, p->token, err);
    if (!rc)
        rc = store_commit(r->store, err);
    if (rc)
        store_rollback(r->store, NULL);
    pm_arena_free(a);
    return rc;
}

/* Is the source held back by an earlier halt (on_incident: halt)? A halt
 * whose row's incidents are all closed is lifted here, with an audit event,
 * and the source resumes from its checkpoint, just after that row. The
 * writer must be idle. */
static pm_code halt_check(run *r, const char *path, const char *id, bool *held, pm_err *err)
{
    int64_t qrow, incident;
    bool found;
    *held = false;
    pm_code rc = store_halt_get(r->store, r->o->table, id, &qrow, &incident, &found, err);
    if (rc || !found)
        return rc;
    if (incident) {
        pm_warn("%s is held back (on_incident: halt) after quarantined row %lld: resolve or "
                "dismiss incident %lld first (pipemend incidents show %lld), then run again",
                path, (long long)qrow, (long long)incident, (long long)incident);
        *held = true;
        r->held++;
        return PM_OK;
    }
    rc = store_begin(r->store, err);
    if (!rc)
        rc = store_halt_clear(r->store, r->o->table, id, err);
    if (!rc) {
        char subject[64];
        snprintf(subject, sizeof subject, "run/%lld", (long long)r->run_id);
        rc = audit_json(r->store, "source.resumed", subject,
                        json_pack("{s:s, s:s, s:I}", "table", r->o->table, "source", id,
                                  "quarantine_id", (json_int_t)qrow),
                        err);
    }
    rc = rc ? rc : store_commit(r->store, err);
    if (rc)
        store_rollback(r->store, NULL);
    else
        pm_info("%s: its incidents are closed; resuming where it halted", path);
    return rc;
}

/* Under on_incident: halt, cuts the batch after its first quarantined row:
 * that row is committed (with its checkpoint) and nothing after it. Returns
 * true when the source must stop. */
static bool halt_cut(run *r, batch *b)
{
    if (r->o->policy.on_incident != ON_INCIDENT_HALT || !b->checkpoint)
        return false;
    for (size_t i = 0; i < b->n; i++) {
        if (b->rows[i].cells)
            continue;
        b->n = i + 1;
        b->end = b->rows[i].rec.end;
        b->end_line = b->rows[i].rec.next_line;
        b->halt_at = (long)i;
        r->held++;
        pm_warn("%s: halted at line %llu (on_incident: halt): %s; later rows wait until its "
                "incident is resolved",
                b->path, (unsigned long long)b->rows[i].rec.line, b->rows[i].message);
        return true;
    }
    return false;
}

/* The first sample of an input read from the top is mostly malformed
 * (more than half, and at least this many): the input is not what it was
 * said to be, and quarantining it row by row would only bury that. */
#define INGEST_MALFORMED_MIN 3

/* Refuses a source whose records are not what its format reads: an error
 * that says what it looks like and what to do; nothing of it is loaded. */
static pm_code refuse_source(const src_plan *p, pm_source *src, int64_t nrec, int64_t nbad,
                             const pm_record *first_bad, pm_err *err)
{
    const char *hint = NULL;
    const char *looks = source_looks_like(src, &hint);
    const char *fmt = source_format_name(p->fmt);
    if (nrec == 0)
        pm_err_set(err, PM_ERR_PARSE,
                   "%s is not empty but holds no %s record%s%s%s (its only line has no line end "
                   "and does not parse)",
                   p->path, fmt, looks ? ": it looks like " : "", looks ? looks : "", "");
    else
        pm_err_set(err, PM_ERR_PARSE,
                   "%s: %lld of its first %lld records are not %s%s%s (line %llu: %s); nothing "
                   "of it was loaded",
                   p->path, (long long)nbad, (long long)nrec, fmt, looks ? ", it looks like " : "",
                   looks ? looks : "", (unsigned long long)first_bad->line, first_bad->malformed);
    if (hint)
        pm_err_hint(err, "%s", hint);
    else
        pm_err_hint(err, "check --format (ndjson, json, csv, tsv), --delimiter and --encoding%s",
                    nrec == 0 ? "; if the file is still being written, run again once it is "
                                "complete"
                              : "");
    return PM_ERR_PARSE;
}

/* jscan's keep_whole: an object whose field is a json column of the
 * table (one made by hand, say, or approved as json) loads whole into it
 * rather than being flattened beside it into parent__child columns. Runs
 * on the reader thread, which owns r->table. */
static bool keep_json_column(void *arg, const char *name, size_t len)
{
    run *r = arg;
    if (!r->table)
        return false;
    if (r->json_seen != r->table) {
        /* most tables have no json column: then no name is normalised */
        r->json_seen = r->table;
        r->has_json = false;
        for (size_t i = 0; i < r->table->ncols && !r->has_json; i++)
            r->has_json = r->table->cols[i].type.kind == PM_T_JSON;
    }
    if (!r->has_json)
        return false;
    char norm[COLNAME_MAX + 1];
    size_t n = colname_normalise(name, len, norm);
    int c = table_find_field(r->table, norm, n);
    return c >= 0 && r->table->cols[c].type.kind == PM_T_JSON;
}

static const char *const on_rewrite_names[] = {
    [ON_REWRITE_STOP] = "stop", [ON_REWRITE_SKIP] = "skip", [ON_REWRITE_RELOAD] = "reload"};

bool ingest_on_rewrite_parse(const char *name, ingest_on_rewrite *out)
{
    for (size_t i = 0; name && i < sizeof on_rewrite_names / sizeof on_rewrite_names[0]; i++) {
        if (strcmp(name, on_rewrite_names[i]) == 0) {
            *out = (ingest_on_rewrite)i;
            return true;
        }
    }
    return false;
}

const char *ingest_on_rewrite_name(ingest_on_rewrite v)
{
    return (unsigned)v <= ON_REWRITE_RELOAD ? on_rewrite_names[v] : "unknown";
}

/* The bytes of a file already loaded changed (start->conflict): what the
 * pipeline's on_rewrite says. stop: an error naming the file and the
 * choices; skip: start->conflict stays set and the file is left; reload:
 * the file is read again from the top as a new one. */
static pm_code rewrite_conflict(run *r, const src_plan *p, transport_start *start, pm_err *err)
{
    switch (r->o->on_rewrite) {
    case ON_REWRITE_SKIP:
        pm_warn("%s; skipping it (on_rewrite: skip): its checkpoint stays, and nothing more is "
                "loaded from it until it is reloaded or the table reset",
                start->why);
        return PM_OK;
    case ON_REWRITE_RELOAD:
        pm_warn("%s; loading it again from the top as a new file (on_rewrite: reload)", start->why);
        start->conflict = false;
        return PM_OK;
    default:
        pm_err_set(err, PM_ERR_CONFLICT, "%s; not loading it again", start->why);
        pm_err_hint(err,
                    "choose what to do with %s: on_rewrite: reload (load it again as a new "
                    "file: rows loaded from it before stay, so some may be loaded twice), "
                    "skip (leave it, load nothing more from it) or stop (the default: this "
                    "error), in the pipeline; for one run: --on-rewrite reload|skip|stop",
                    p->path);
        return PM_ERR_CONFLICT;
    }
}

/* The file ends inside rec, which does not parse: is the file complete
 * (--final, or unchanged for last_line_wait seconds)? Then rec is
 * quarantined as the malformed row it is; else it waits. Either way it is
 * said as a warning: bytes held back are never silent. */
static bool last_line_done(run *r, const src_plan *p, const pm_transport *t, const pm_record *rec)
{
    const ingest_opts *o = r->o;
    int64_t mtime = t->mtime, quiet = mtime ? (int64_t)time(NULL) - mtime : -1;
    unsigned long long line = (unsigned long long)rec->line, at = rec->offset,
                       bytes = rec->end - rec->offset;
    if (o->final || (quiet >= 0 && quiet >= o->last_line_wait)) {
        char why[96];
        if (o->final)
            snprintf(why, sizeof why, "the file is complete (--final)");
        else
            snprintf(why, sizeof why, "the file has not changed for %lld s (last_line_wait)",
                     (long long)quiet);
        pm_warn("%s: its last line (line %llu, %llu bytes from byte %llu) has no line end and "
                "does not parse, and %s: it is quarantined as malformed",
                p->path, line, bytes, at, why);
        return true;
    }
    pm_warn("%s: its last line (line %llu, %llu bytes from byte %llu) has no line end yet and "
            "does not parse; it is left for the next run, and quarantined as malformed once the "
            "file is complete (--final) or has not changed for %lld s (defaults.last_line_wait)",
            p->path, line, bytes, at, (long long)o->last_line_wait);
    return false;
}

/* Reads one source to its end into batches. Where it starts is its
 * transport's business (transport_resume): the checkpoint's position is
 * handed over as the store keeps it, and each batch gets the position
 * its transport encodes for the batch's end. */
static pm_code read_source(run *r, src_plan *p, int *slot, pm_err *err)
{
    const ingest_opts *o = r->o;
    pm_source *src;
    pm_source_opts so = o->source;
    so.json.keep_whole = keep_json_column;
    so.json.keep_arg = r;
    pm_code rc = source_open(p->path, p->fmt, &so, 0, &src, err);
    if (rc)
        return rc;
    pm_transport *t = source_transport(src);
    const char *id = pm_arena_strdup(r->arena, transport_id(t));
    bool resumable = transport_resumable(t);
    bool had_checkpoint = false;
    char checkpoint[TRANSPORT_POSITION_MAX] = "";
    transport_start start = {0};
    if (resumable) {
        /* Wait for the writer to go idle so the connection is ours. */
        if (!writer_idle(r)) {
            source_close(src);
            return PM_OK; /* the writer failed; ingest_run reports its error */
        }
        bool held = false;
        const char *pos = NULL;
        rc = halt_check(r, p->path, id, &held, err);
        if (!rc && held) {
            source_close(src);
            return PM_OK;
        }
        if (!rc && p->start == START_TOKEN && p->id && strcmp(p->id, id) == 0)
            rc = plan_adopt(r, p, err);
        if (!rc)
            rc = store_checkpoint_get(r->store, o->table, id, r->arena, &pos, &had_checkpoint, err);
        if (!rc && had_checkpoint && strlen(pos) >= sizeof checkpoint) {
            rc = pm_err_set(err, PM_ERR_PARSE,
                            "the checkpoint of %s is longer than any position a source writes "
                            "(%zu bytes)",
                            p->path, strlen(pos));
            pm_err_hint(err, "was it written by a newer pipemend? Run that version");
        }
        if (!rc && had_checkpoint)
            memcpy(checkpoint, pos, strlen(pos) + 1);
        if (!rc)
            rc = transport_resume(t, had_checkpoint && p->start != START_TOP ? pos : NULL, &start,
                                  err);
        if (!rc && start.conflict)
            rc = rewrite_conflict(r, p, &start, err);
        if (!rc && start.conflict) { /* on_rewrite: skip */
            source_close(src);
            return PM_OK;
        }
        if (!rc)
            rc = source_seek(src, start.offset, start.line, err);
        if (rc) {
            source_close(src);
            return rc;
        }
    }
    uint64_t size = source_size(src);
    if (start.at_end) {
        r->done_bytes += size;
        source_close(src);
        return PM_OK;
    }
    r->any_new = true;
    r->done_bytes += start.offset;

    size_t header_len = 0;
    const char *header_src = source_header_raw(src, &header_len);
    const char *header = header_src ? pm_arena_strndup(r->arena, header_src, header_len) : NULL;
    batch *b = &r->slots[*slot];
    uint64_t base = r->done_bytes;
    /* A new table is inferred from its first batch: make that batch hold
     * the whole sample. */
    size_t first_cap = o->batch_size > o->sample_size ? o->batch_size : o->sample_size;
    /* An input read from the top has its first batch looked at before any
     * of it is handed over: mostly malformed, or nothing but a line that
     * does not parse, is not a success (refuse_source). */
    bool unchecked = start.offset == 0;
    int64_t nrec = 0, nbad = 0;
    bool held_last = false;
    pm_record first_bad = {0};
    for (;;) {
        if (b->n == 0) {
            b->source = id;
            b->path = p->path;
            b->header = header;
            b->header_len = header_len;
            b->delimiter = source_delimiter(src);
            b->transport = t;
            b->checkpoint = resumable;
            b->expect_found = had_checkpoint;
            memcpy(b->expect, checkpoint, sizeof checkpoint);
        }
        brow *row = batch_push(b);
        rc = source_next(src, b->arena, &row->rec, err);
        bool ended = rc != PM_OK;
        if (!ended && row->rec.unterminated && row->rec.malformed && resumable &&
            !last_line_done(r, p, t, &row->rec)) {
            /* The file ends inside a record that does not parse: most likely
             * its producer is still writing it. Leave it, uncommitted and
             * before the checkpoint, for the next run to read whole. */
            b->n--;
            ended = true;
            held_last = true;
        } else if (ended) {
            b->n--;
            if (rc == PM_DONE)
                rc = PM_OK;
        } else {
            nrec++;
            if (row->rec.malformed && nbad++ == 0)
                first_bad = row->rec; /* in the batch arena, alive until the check */
            b->end = row->rec.end;
            b->end_line = row->rec.next_line;
            r->done_bytes = base + (row->rec.end - start.offset);
            if (r->drift)
                validate_row(r, b, row);
            if (b->n < (r->drift ? o->batch_size : first_cap) &&
                ((!r->drift && b->n < o->sample_size) || pm_arena_used(b->arena) < BATCH_BYTES))
                continue;
        }
        /* Hand over a full batch, or what there is at the end (also after a
         * read error: the records before it are good and get committed). */
        if (b->n && unchecked) {
            unchecked = false;
            if (nbad >= INGEST_MALFORMED_MIN && nbad * 2 > nrec) {
                if (!rc)
                    rc = refuse_source(p, src, nrec, nbad, &first_bad, err);
                b->n = 0; /* nothing of it is committed */
                break;
            }
        }
        if (b->n) {
            if (!r->drift) {
                pm_code prc = prepare_batch(r, b, err);
                if (prc) {
                    rc = prc;
                    b->n = 0; /* nothing of this batch is committed */
                    break;
                }
                for (size_t i = 0; i < b->n; i++)
                    validate_row(r, b, &b->rows[i]);
            }
            heal_inline(r, b);
            text_formats(r, b);
            b->table = r->table;
            if (halt_cut(r, b))
                ended = true;
            if (b->checkpoint) {
                pm_err ferr;
                if (transport_position(t, b->end, b->end_line, b->position, &ferr) != PM_OK) {
                    if (!rc)
                        *err = ferr;
                    rc = ferr.code;
                    b->n = 0; /* not committed: the checkpoint stays before them */
                    break;
                }
                had_checkpoint = true;
                /* what the next batch expects to find */
                memcpy(checkpoint, b->position, sizeof checkpoint);
            }
            slot_hand_over(r, *slot);
            *slot ^= 1;
            if (!slot_wait_free(r, *slot))
                break; /* the writer failed; ingest_run reports its error */
            b = &r->slots[*slot];
            pthread_mutex_lock(&r->mu);
            int64_t committed = r->read;
            pthread_mutex_unlock(&r->mu);
            progress_draw(r, committed, false);
            if (o->should_stop && o->should_stop(o->stop_arg)) {
                r->stopped = true; /* what was read commits; the rest waits */
                break;
            }
        }
        if (ended)
            break;
    }
    if (!rc && nrec == 0 && held_last && start.offset == 0)
        rc = refuse_source(p, src, 0, 0, NULL, err);
    else if (!rc && nrec == 0 && start.offset == 0 && header)
        pm_warn("%s has a header row and no rows: nothing to load", p->path);
    source_close(src);
    return rc;
}

static void history_check(run *r, ingest_result *res, char *note, size_t notesz)
{
    pm_arena *a = pm_arena_new(0);
    pm_run *runs;
    size_t n;
    const ingest_opts *o = r->o;
    if (store_runs_list(r->store, o->pipeline, o->pipeline ? NULL : o->table, o->volume_window + 1,
                        a, &runs, &n, NULL) == PM_OK) {
        int64_t *hist = pm_arena_alloc(a, (n + 1) * sizeof *hist);
        size_t h = 0;
        for (size_t i = 0; i < n && h < (size_t)o->volume_window; i++) {
            /* Runs that found nothing new (re-runs over loaded files) say
             * nothing about the feed's usual volume. */
            if (runs[i].id == r->run_id || runs[i].rows_read == 0 ||
                (runs[i].status != RUN_SUCCEEDED && runs[i].status != RUN_QUARANTINED))
                continue;
            hist[h++] = runs[i].rows_read;
        }
        res->anomaly = volume_is_anomaly(hist, h, res->read, o->volume_ratio, note, notesz);
    }
    pm_arena_free(a);
}

pm_code ingest_run(pm_store *store, const ingest_opts *o, ingest_result *res, pm_err *err)
{
    memset(res, 0, sizeof *res);
    res->status = RUN_FAILED;
    if (!store_table_name_ok(o->table, err))
        return PM_ERR_USAGE;
    run r = {.store = store, .o = o};
    r.arena = pm_arena_new(0);
    src_plan *plan = pm_arena_calloc(r.arena, (2 * o->npaths + 1) * sizeof *plan);
    size_t nplan = o->npaths;
    pm_code rc = plan_sources(&r, plan, err);
    if (!rc)
        rc = plan_identities(&r, plan, &nplan, err);
    if (!rc)
        rc = ingest_reap_aborted(store, err);
    if (!rc)
        rc = store_table_load(store, o->table, r.arena, &r.table, err);
    /* The run and its run.started event commit together: a run killed at
     * once still has both. */
    if (!rc)
        rc = store_begin(store, err);
    if (!rc) {
        rc = store_run_start(store, o->pipeline, o->table, &r.run_id, err);
        if (rc)
            store_rollback(store, NULL);
    }
    if (rc) {
        pm_arena_free(r.arena);
        return rc;
    }
    res->run_id = r.run_id;
    {
        char subject[64];
        snprintf(subject, sizeof subject, "run/%lld", (long long)r.run_id);
        json_t *paths = json_array();
        for (size_t i = 0; i < o->npaths; i++)
            json_array_append_new(paths, json_string(o->paths[i]));
        rc = audit_json(store, "run.started", subject,
                        json_pack("{s:s?, s:s, s:o}", "pipeline", o->pipeline, "table", o->table,
                                  "sources", paths),
                        err);
        if (!rc)
            rc = store_commit(store, err);
        if (rc) {
            store_rollback(store, NULL);
            pm_arena_free(r.arena);
            return rc;
        }
    }
    if (!r.table) {
        /* A table made by hand before pipemend arrived is adopted as it is. */
        rc = outofband_adopt(store, o->table, r.run_id, r.arena, &r.table, err);
        if (rc) {
            store_run_finish(store, r.run_id, RUN_FAILED, err->msg, false, NULL, NULL);
            pm_arena_free(r.arena);
            return rc;
        }
    } else {
        /* Someone may have altered the table by hand since the last run. */
        pm_table *before = r.table;
        rc = outofband_check(store, r.table, r.run_id, r.arena, &r.table, err);
        r.healed = !rc && r.table != before; /* quarantined rows may fit now */
        if (rc) {
            store_run_finish(store, r.run_id, RUN_FAILED, err->msg, false, NULL, NULL);
            pm_arena_free(r.arena);
            return rc;
        }
    }
    r.unique = o->contract ? contract_unique(o->contract) : NULL;
    r.incidents = incident_cache_new(r.arena, o->table, r.run_id);
    if (r.table)
        r.drift = drift_ctx_new(r.arena, r.table, o->contract);
    if (r.table) {
        /* A unique rule added (or changed, or removed) after the table was
         * created applies from this run on. */
        rc = store_begin(store, err);
        if (!rc)
            rc = unique_ensure(&r, r.table, err);
        if (!rc)
            rc = store_commit(store, err);
        if (rc) {
            store_rollback(store, NULL);
            store_run_finish(store, r.run_id, RUN_FAILED, err->msg, false, NULL, NULL);
            pm_arena_free(r.arena);
            return rc;
        }
    }

    r.rereadable = true;
    for (size_t i = 0; i < nplan; i++) {
        if (plan[i].skip)
            continue;
        struct stat rs;
        if (strcmp(plan[i].path, "-") == 0 || stat(plan[i].path, &rs) != 0 || !S_ISREG(rs.st_mode))
            r.rereadable = false; /* its bytes cannot be read twice: no streams */
        if (strcmp(plan[i].path, "-") == 0) {
            if (o->policy.on_incident == ON_INCIDENT_HALT)
                pm_warn("on_incident: halt does not hold back standard input (there is no "
                        "checkpoint to resume it from): its clean rows keep flowing");
            continue;
        }
        /* stat, not open: opening a named pipe would wait for its writer
         * and take its data from the read that follows */
        struct stat st;
        if (stat(plan[i].path, &st) == 0 && S_ISREG(st.st_mode))
            r.total_bytes += (uint64_t)st.st_size;
    }
    r.t0_ms = pm_clock_ms();
    pthread_mutex_init(&r.mu, NULL);
    pthread_cond_init(&r.cv, NULL);
    for (int i = 0; i < 2; i++) {
        r.slots[i].arena = pm_arena_new(1 << 20);
        r.slots[i].state = SLOT_FREE;
        r.slots[i].halt_at = -1;
    }
    int slot = 0;
    pm_err rerr = {0};
    pm_code read_rc = PM_OK;
    for (int pass = 0;; pass++) {
        pthread_t writer;
        if (pthread_create(&writer, NULL, writer_main, &r) != 0) {
            pm_err_set(err, PM_ERR_INTERNAL, "cannot start the writer thread");
            store_run_finish(store, r.run_id, RUN_FAILED, err->msg, false, NULL, NULL);
            for (int i = 0; i < 2; i++)
                pm_arena_free(r.slots[i].arena);
            pm_arena_free(r.arena);
            return PM_ERR_INTERNAL;
        }
        for (size_t i = 0; i < nplan && !read_rc && !r.stopped; i++)
            if (!plan[i].skip)
                read_rc = read_source(&r, &plan[i], &slot, &rerr);
        /* Tell the writer there is nothing more (an empty last batch). */
        if (slot_wait_free(&r, slot)) {
            r.slots[slot].last = true;
            slot_hand_over(&r, slot);
        }
        pthread_join(writer, NULL);
        if (!r.writer_failed || !r.rewind || read_rc || pass >= 3)
            break;
        /* The server lost batches this run had committed (committed_already),
         * or a stream failed with batches no longer in memory (stream_failed):
         * every source is read again from the checkpoint the server kept
         * (sources it finished are at their end), with the run's counters
         * as the server kept them. */
        pm_arena *a = pm_arena_new(0);
        pm_run kept;
        bool exists = false;
        pm_err gerr = {0};
        if (store_run_get(store, r.run_id, a, &kept, &exists, &gerr) != PM_OK || !exists) {
            if (gerr.code)
                r.werr = gerr; /* why it cannot read again (the server stayed away) */
            pm_arena_free(a);
            break;
        }
        pm_warn("%s; reading again from the checkpoints it kept (%lld rows of this run)",
                r.werr.msg, (long long)kept.rows_read);
        r.read = kept.rows_read;
        r.loaded = kept.rows_loaded;
        r.quarantined = kept.rows_quarantined;
        pm_arena_free(a);
        r.writer_failed = r.rewind = false;
        r.insert_ready = false;
        r.held = 0;
        r.done_bytes = 0;
        incident_cache_clear(r.incidents);
        /* each file resumes from its own checkpoint now: what the plan
         * adopted from a rotated name, or began from the top, was committed
         * under its own key by the pass before */
        for (size_t i = 0; i < nplan; i++)
            if (plan[i].start != START_OWN && !plan[i].skip)
                plan[i].start = START_OWN;
        for (int i = 0; i < 2; i++) {
            batch *b = &r.slots[i];
            pm_arena_reset(b->arena);
            b->n = 0; /* the slot keeps its rows array (freed with the run) */
            b->table = NULL;
            b->last = b->retry = false;
            b->halt_at = -1;
            b->state = SLOT_FREE;
        }
        slot = 0;
    }
    progress_draw(&r, r.read, true);

    res->read = r.read;
    res->loaded = r.loaded;
    res->quarantined = r.quarantined;
    res->created_table = r.created;
    res->held = r.held;
    const char *error = NULL;
    if (r.writer_failed) {
        rc = r.werr.code ? r.werr.code : PM_ERR_DB;
        *err = r.werr;
        error = r.werr.msg;
    } else if (read_rc) {
        rc = read_rc;
        *err = rerr;
        error = rerr.msg;
    }
    if (!rc && r.table) {
        /* Rows of earlier runs that waited for this run's heal load now;
         * so do the rows of a replay an earlier process left unfinished,
         * rows that wait under a resolved incident, and this run's own
         * rows when another process healed the table after they were
         * checked (heal_replay_finish). */
        heal_ctx hc = {.store = store,
                       .contract = o->contract,
                       .policy = &o->policy,
                       .policy_source = o->policy_source,
                       .actor = "engine",
                       .run_id = r.run_id,
                       .limits = &o->source};
        replay_result rr;
        bool replayed;
        pm_err rerr2;
        if (heal_replay_finish(&hc, o->table, r.healed || (r.moved && r.quarantined),
                               r.quarantined ? r.table->version : 0, &replayed, &rr,
                               &rerr2) == PM_OK) {
            if (rr.loaded)
                pm_info("replayed %lld quarantined rows into %s", (long long)rr.loaded, o->table);
        } else {
            pm_warn("the replay of %s's quarantine failed: %s; pipemend quarantine replay "
                    "--table %s finishes it",
                    o->table, rerr2.msg, o->table);
        }
    }
    char note[256] = "";
    if (!rc && r.any_new) /* a re-run over loaded files is not a volume drop */
        history_check(&r, res, note, sizeof note);
    res->status = rc                 ? RUN_FAILED
                  : r.stopped        ? RUN_STOPPED
                  : res->quarantined ? RUN_QUARANTINED
                  : r.held           ? RUN_HELD
                                     : RUN_SUCCEEDED;
    if (res->anomaly)
        pm_warn("volume anomaly: %s", note);
    pm_err ferr;
    char subject[64];
    snprintf(subject, sizeof subject, "run/%lld", (long long)r.run_id);
    pm_code frc = store_run_finish(store, r.run_id, res->status, error, res->anomaly,
                                   res->anomaly ? note : NULL, &ferr);
    if (!frc)
        frc = audit_json(store, "run.finished", subject,
                         json_pack("{s:s, s:I, s:I, s:I, s:b, s:s?, s:s?}", "status",
                                   run_status_name(res->status), "rows_read", (json_int_t)res->read,
                                   "rows_loaded", (json_int_t)res->loaded, "rows_quarantined",
                                   (json_int_t)res->quarantined, "volume_anomaly", res->anomaly,
                                   "volume_note", res->anomaly ? note : NULL, "error", error),
                         &ferr);
    if (frc != PM_OK && !rc) {
        rc = ferr.code;
        *err = ferr;
    }
    for (int i = 0; i < 2; i++) {
        pm_arena_free(r.slots[i].arena);
        free(r.slots[i].rows);
    }
    pthread_mutex_destroy(&r.mu);
    pthread_cond_destroy(&r.cv);
    pm_arena_free(r.arena);
    return rc;
}
