/* drift.c - per-record drift detection (see drift.h).
 *
 * The hot path is the clean record: for each field, one cache probe maps the
 * feed's name to a column index, and type_fits() both checks and converts
 * the value. Field mappings and dropped columns are resolved once per name,
 * when the name enters the cache; a coercion is tried only for a value
 * type_fits refused. Only a record that deviates pays for building findings
 * and messages. */
#include "drift/drift.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/bytes.h"
#include "core/hash.h"
#include "core/utf8.h"
#include "schema/colname.h"
#include "schema/confusable.h"
#include "schema/op.h"

#define OBSERVED_MAX 64
#define NAME_CACHE_MAX 4096 /* feeds whose keys are data must not grow it forever */

static const char *const kind_names[] = {
#define PM_FINDING(id, name) name,
#include "drift/finding.def"
#undef PM_FINDING
};

const char *drift_kind_name(pm_finding_kind k)
{
    return (unsigned)k < FINDING_KIND_COUNT ? kind_names[k] : "unknown";
}

bool drift_kind_parse(const char *name, pm_finding_kind *out)
{
    for (int k = 0; k < FINDING_KIND_COUNT; k++) {
        if (strcmp(name, kind_names[k]) == 0) {
            *out = (pm_finding_kind)k;
            return true;
        }
    }
    return false;
}

typedef struct name_entry {
    const char *raw; /* field name as in the feed */
    size_t raw_len;
    const char *col; /* normalised field name (the column's, or an alias) */
    int idx;         /* column it loads into (by name or alias), or -1 */
    bool dropped;    /* idx < 0 and col is a column dropped outside pipemend */
    /* For a name that is no column (idx < 0): its confusable.h skeleton,
     * and the column it looks like without being it, or -1. */
    const char *skel;
    int like;
    uint64_t hash;
} name_entry;

typedef struct rule_ref {
    const contract_rule *rule;
    int idx; /* column index, -1 when the table lacks it (the rule sees NULL) */
} rule_ref;

#define DRIFT_SHAPE_MAX 64

struct drift_ctx {
    pm_arena *arena;
    const pm_table *table;
    name_entry *slots;
    size_t nslots; /* power of two */
    size_t nused;
    rule_ref *rules;
    size_t nrules;
    /* shape[i]: the entry field i of the last record found (a feed's
     * records mostly repeat their fields in order, so a compare replaces
     * the hash lookup); NULL where none was cached */
    const name_entry *shape[DRIFT_SHAPE_MAX];
};

void drift_ctx_retarget(drift_ctx *c, const pm_table *table)
{
    c->table = table;
    memset(c->slots, 0, c->nslots * sizeof *c->slots);
    memset(c->shape, 0, sizeof c->shape);
    c->nused = 0;
    for (size_t i = 0; i < c->nrules; i++) {
        const char *col = c->rules[i].rule->column;
        c->rules[i].idx = table_find(table, col, strlen(col));
    }
}

drift_ctx *drift_ctx_new(pm_arena *run_arena, const pm_table *table, const pm_contract *contract)
{
    drift_ctx *c = pm_arena_calloc(run_arena, sizeof *c);
    c->arena = run_arena;
    c->table = table;
    c->nslots = 8192;
    c->slots = pm_arena_calloc(run_arena, c->nslots * sizeof *c->slots);
    if (contract) {
        c->rules = pm_arena_calloc(run_arena, (contract->nrules + 1) * sizeof *c->rules);
        for (size_t i = 0; i < contract->nrules; i++) {
            const contract_rule *r = &contract->rules[i];
            if (r->kind == RULE_UNIQUE || !r->column)
                continue;
            c->rules[c->nrules].rule = r;
            c->rules[c->nrules].idx = table_find(table, r->column, strlen(r->column));
            c->nrules++;
        }
    }
    return c;
}

/* Maps a feed field name to its column, by the column's name or one of its
 * aliases; the result is cached for the run (or computed into the batch
 * arena once the cache is full). */
static const name_entry *lookup_name(drift_ctx *c, const char *raw, size_t len, pm_arena *batch,
                                     name_entry *scratch)
{
    uint64_t h = pm_hash(raw, len);
    size_t mask = c->nslots - 1;
    size_t i = h & mask;
    while (c->slots[i].raw) {
        name_entry *e = &c->slots[i];
        if (e->hash == h && e->raw_len == len && memcmp(e->raw, raw, len) == 0)
            return e;
        i = (i + 1) & mask;
    }
    char col[COLNAME_MAX + 1];
    size_t clen = colname_normalise(raw, len, col);
    bool cache = c->nused < NAME_CACHE_MAX;
    pm_arena *a = cache ? c->arena : batch;
    name_entry *e = cache ? &c->slots[i] : scratch;
    e->raw = pm_arena_strndup(a, raw, len);
    e->raw_len = len;
    e->col = pm_arena_strndup(a, col, clen);
    e->idx = table_find_field(c->table, col, clen);
    e->dropped = e->idx < 0 && table_is_dropped(c->table, col, clen);
    e->skel = NULL;
    e->like = -1;
    if (e->idx < 0 && !e->dropped) {
        char sk[CONFUSABLE_SKELETON_MAX];
        confusable_skeleton(e->col, sk, sizeof sk);
        e->skel = pm_arena_strdup(a, sk);
        e->like = confusable_find_column(c->table, e->col);
    }
    e->hash = h;
    if (cache)
        c->nused++;
    return e;
}

void drift_add(drift_result *res, pm_arena *arena, const pm_finding *f)
{
    if (res->nfindings >= DRIFT_MAX_FINDINGS) {
        res->truncated++;
        return;
    }
    if (res->nfindings == res->cap) {
        res->cap = res->cap ? res->cap * 2 : 4;
        pm_finding *nf = pm_arena_alloc(arena, res->cap * sizeof *nf);
        if (res->nfindings)
            memcpy(nf, res->findings, res->nfindings * sizeof *nf);
        res->findings = nf;
    }
    res->findings[res->nfindings++] = *f;
}

static const char *observed_text(const pm_value *v, pm_arena *a)
{
    switch (v->kind) {
    case PM_V_NULL:
        return "null";
    case PM_V_BOOL:
        return v->b ? "true" : "false";
    default:
        break;
    }
    /* Control characters are escaped: the text ends up in messages that a
     * terminal prints, and feed data must not drive the terminal. */
    size_t n = pm_utf8_truncate(v->s, v->len, OBSERVED_MAX);
    char *out = pm_arena_alloc(a, n * 6 + 4);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v->s[i];
        if (c < 0x20 || c == 0x7f)
            k += (size_t)sprintf(out + k, "\\u%04x", c);
        else
            out[k++] = (char)c;
    }
    if (n < v->len)
        k += (size_t)sprintf(out + k, "...");
    out[k] = '\0';
    return out;
}

/* The type a value would need, read the way the column reads it: a JSON
 * string that spells a number is a number to a numeric column. */
static pm_type infer_for(const pm_value *v, pm_type col)
{
    if (v->kind == PM_V_STRING && type_family(col) != PM_FAM_STRING) {
        pm_value raw = *v;
        raw.kind = PM_V_RAW;
        pm_type t = type_infer(&raw);
        if (type_family(t) == type_family(col))
            return t;
    }
    return type_infer(v);
}

static const char *class_word(pm_widen_class k)
{
    switch (k) {
    case PM_WIDEN_AUTO:
        return "automatic: lossless";
    case PM_WIDEN_REVIEW:
        return "needs review";
    default:
        return "not allowed";
    }
}

static bool has_digit(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] >= '0' && s[i] <= '9')
            return true;
    return false;
}

/* A value that does not fit its column: widen, format, nested or conflict. */
static void mismatch(const pm_column *col, const char *field, const pm_value *v, pm_arena *a,
                     drift_result *res)
{
    char en[TYPE_NAME_MAX], pn[TYPE_NAME_MAX];
    pm_finding f = {0};
    f.field = field;
    f.column = col->name;
    f.observed = observed_text(v, a);
    f.expected = col->type;
    type_name(col->type, en);
    pm_type_family cf = type_family(col->type);

    if ((v->kind == PM_V_ARRAY || v->kind == PM_V_OBJECT) && cf != PM_FAM_JSON) {
        f.kind = FINDING_NESTED;
        f.proposed = (pm_type){PM_T_JSON, 0};
        f.message = pm_arena_sprintf(
            a, "%s now holds %s but column %s is %s; storing it needs a json column (needs review)",
            field, v->kind == PM_V_ARRAY ? "an array" : "an object", col->name, en);
        drift_add(res, a, &f);
        return;
    }
    if (cf == PM_FAM_TIME && (v->kind == PM_V_STRING || v->kind == PM_V_RAW)) {
        const char *fmt = type_detect_datetime_format(v->s, v->len);
        /* The column's own coercion failed on it (a time for a date
         * column, no zone for a timestamptz): proposing the same format
         * again would change nothing. */
        if (fmt && !(col->format && strcmp(col->format, fmt) == 0)) {
            f.kind = FINDING_FORMAT;
            f.format = fmt;
            f.proposed = col->type;
            f.message = pm_arena_sprintf(a,
                                         "value \"%s\" for %s (%s) is a date in format %s, not ISO "
                                         "8601; a coercion with that format would load it (needs "
                                         "review), or fix the producer",
                                         f.observed, col->name, en, fmt);
            drift_add(res, a, &f);
            return;
        }
    }
    pm_type want = infer_for(v, col->type);
    if (type_family(want) == cf && cf != PM_FAM_NONE) {
        pm_type j = type_join(col->type, want);
        pm_widen_class k = type_widen_class(col->type, j);
        if (k == PM_WIDEN_SAME && cf == PM_FAM_NUMBER) {
            /* The join is the column's own type yet the value does not fit:
             * a number a double would round. Only numeric holds it. */
            j = (pm_type){PM_T_NUMERIC, 0};
            k = type_widen_class(col->type, j);
        }
        if (k == PM_WIDEN_AUTO || k == PM_WIDEN_REVIEW) {
            f.kind = FINDING_WIDEN;
            f.proposed = j;
            type_name(j, pn);
            f.message = pm_arena_sprintf(
                a, "value \"%s\" does not fit %s %s; widening the column to %s would hold it (%s)",
                f.observed, col->name, en, pn, class_word(k));
            drift_add(res, a, &f);
            return;
        }
    }
    f.kind = FINDING_TYPE_CONFLICT;
    type_name(want, pn);
    pm_type text = {PM_T_TEXT, 0};
    if ((v->kind == PM_V_STRING || v->kind == PM_V_RAW) && has_digit(v->s, v->len) &&
        op_retype_allowed(col->type, text)) {
        /* Codes that were numbers and now are not (A123), amounts written
         * as "$51,107,785": text holds the new values and the old ones as
         * their exact decimal text, so a person may choose that. A value
         * without a digit ("n/a", "unknown", "-") is a placeholder for a
         * missing number, not a new kind of value: text would be the
         * wrong repair, so nothing is offered. */
        f.proposed = text;
        f.message = pm_arena_sprintf(a,
                                     "value \"%s\" (%s) does not fit %s %s and no widening of "
                                     "the column holds it; retyping the column to text would "
                                     "hold it and keep every value it has as its exact text "
                                     "(needs review), or fix the producer or discard the row",
                                     f.observed, pn, col->name, en);
        drift_add(res, a, &f);
        return;
    }
    f.message = pm_arena_sprintf(a,
                                 "value \"%s\" (%s) does not fit %s %s and no widening of the "
                                 "column holds it; fix the producer or discard the row",
                                 f.observed, pn, col->name, en);
    drift_add(res, a, &f);
}

/* A field whose name becomes the column's only because "__" is both what
 * a key's spaces and brackets normalise to and the nesting separator:
 * `beak_length.mm` as a nested object beside a column made from the key
 * "Beak Length (mm)". Loading it there would merge two fields silently. */
static void origin_clash(const pm_column *col, const pm_field *fd, pm_arena *a, drift_result *res)
{
    pm_finding f = {.kind = FINDING_NESTED,
                    .field = fd->name,
                    .column = col->name,
                    .observed = observed_text(&fd->v, a),
                    .expected = col->type};
    f.message = pm_arena_sprintf(
        a,
        "%s %s becomes column %s, which was made from %s; they are different fields that "
        "normalise to one name, so the row is not loaded there: rename one in the feed, or "
        "map it",
        fd->nested ? "member of a nested object" : "field", fd->name, col->name,
        col->origin == COLUMN_ORIGIN_NESTED ? "a member of a nested object"
                                            : "a field of the record itself");
    drift_add(res, a, &f);
}

/* A boolean (JSON true/false, or a CSV true/false) for a number column:
 * the lattice would load it as 1/0, but a flag that turns up where counts
 * and measures were is a producer's mistake as often as not, and 1 would
 * hide it. It is a type conflict, for a person. */
static bool bool_in_number(const pm_column *col, const pm_value *v)
{
    if (col->type.kind == PM_T_BOOL || type_family(col->type) != PM_FAM_NUMBER)
        return false;
    if (v->kind == PM_V_BOOL)
        return true;
    return v->kind == PM_V_RAW && (v->len == 4 || v->len == 5) && type_infer(v).kind == PM_T_BOOL;
}

static void bool_conflict(const pm_column *col, const char *field, const pm_value *v, pm_arena *a,
                          drift_result *res)
{
    char en[TYPE_NAME_MAX];
    pm_finding f = {.kind = FINDING_TYPE_CONFLICT,
                    .field = field,
                    .column = col->name,
                    .observed = observed_text(v, a),
                    .expected = col->type};
    f.message = pm_arena_sprintf(a,
                                 "value %s for %s is a boolean but column %s is %s; it is not "
                                 "loaded as %d (a flag is not a number): fix the producer or "
                                 "discard the row",
                                 f.observed, field, col->name, type_name(col->type, en),
                                 f.observed[0] == 't' || f.observed[0] == 'T' ? 1 : 0);
    drift_add(res, a, &f);
}

/* The value through the column's coercion, when it has one: the canonical
 * text in the batch arena. */
static bool coerce(const pm_column *col, const pm_value *v, pm_arena *a, pm_cell *out)
{
    if (!col->format || (v->kind != PM_V_STRING && v->kind != PM_V_RAW))
        return false;
    char text[TYPE_DATETIME_MAX];
    if (!type_coerce_datetime(v->s, v->len, col->format, col->type, text, sizeof text))
        return false;
    size_t n = strlen(text);
    *out = (pm_cell){.kind = PM_CELL_TEXT, .s = pm_arena_strndup(a, text, n), .len = n};
    return true;
}

/* A timestamp the two backends would store differently (a leap second,
 * an offset, a fraction past microseconds) as PostgreSQL stores it
 * (type_datetime_canonical), so that SQLite holds the same text. */
static void canonical_datetime(const pm_column *col, pm_cell *cell, pm_arena *a)
{
    char text[TYPE_DATETIME_MAX];
    if ((col->type.kind != PM_T_TIMESTAMP && col->type.kind != PM_T_TIMESTAMPTZ) ||
        cell->kind != PM_CELL_TEXT ||
        !type_datetime_canonical(cell->s, cell->len, text, sizeof text))
        return;
    size_t n = strlen(text);
    *cell = (pm_cell){.kind = PM_CELL_TEXT, .s = pm_arena_strndup(a, text, n), .len = n};
}

/* Who stands behind a column's NOT NULL, as the null_violation says it. */
static const char *not_null_word(const pm_column *col)
{
    return col->guessed ? "automatic: pipemend inferred it from the first rows, not a declared "
                          "constraint"
                        : "needs review), or fix the producer (the constraint is declared";
}

/* A value for a column dropped from the live table outside pipemend. */
static void out_of_band(const pm_table *t, const pm_field *fd, const name_entry *e, pm_arena *a,
                        drift_result *res)
{
    pm_finding f = {.kind = FINDING_OUT_OF_BAND, .field = fd->name, .column = e->col};
    f.observed = observed_text(&fd->v, a);
    f.message = pm_arena_sprintf(a,
                                 "column %s was dropped from %s outside pipemend; rows with a "
                                 "value for it are quarantined so nothing is lost (add the column "
                                 "back, or ask pipemend to forget it)",
                                 e->col, t->name);
    drift_add(res, a, &f);
}

typedef struct new_field {
    const char *field;
    const char *col;
    pm_type type;
    const char *name; /* the column the field would get */
    const char *skel; /* its confusable.h skeleton */
} new_field;

/* Two fields of one record whose columns would look alike (confusable.h):
 * the record is malformed the way two fields for one column are, since
 * whichever way they load, a reader cannot tell them apart. */
static void look_alike_fields(const char *a, const char *b, const char *bcol, pm_arena *ar,
                              drift_result *res)
{
    char note[96];
    pm_finding f = {.kind = FINDING_MALFORMED, .field = b, .column = bcol};
    f.message = pm_arena_sprintf(ar,
                                 "fields \"%s\" and \"%s\" look alike but are spelt with other "
                                 "characters%s; rename one in the feed",
                                 a, b, confusable_note(b, note, sizeof note));
    drift_add(res, ar, &f);
}

void drift_check(drift_ctx *c, const pm_record *rec, pm_arena *a, drift_result *res)
{
    const pm_table *t = c->table;
    memset(res, 0, sizeof *res);
    if (rec->malformed) {
        pm_finding f = {.kind = FINDING_MALFORMED, .message = rec->malformed};
        drift_add(res, a, &f);
        return;
    }
    if (rec->nfields > TABLE_MAX_COLUMNS) {
        /* new_field findings for each would say "add a column" thousands
         * of times; the record is no row of any table */
        pm_finding f = {.kind = FINDING_MALFORMED};
        f.message = pm_arena_sprintf(a,
                                     "the record has %zu fields, more than the %d columns a table "
                                     "may have: a map keyed by data (ids, dates) is better loaded "
                                     "as one JSON field",
                                     rec->nfields, TABLE_MAX_COLUMNS);
        drift_add(res, a, &f);
        return;
    }
    /* Not zeroed: every cell is written below, by its field or as NULL
     * for a column the record lacks (cells are read only when there is no
     * finding, and then each column took one of those ways). */
    res->cells = pm_arena_alloc(a, (t->ncols ? t->ncols : 1) * sizeof *res->cells);
    /* which field filled each column: 0 = none, else field index + 1 */
    size_t *owner = pm_arena_calloc(a, (t->ncols ? t->ncols : 1) * sizeof *owner);
    new_field *news = NULL;
    size_t nnews = 0;
    size_t *look_alikes = NULL; /* fields whose column looks like a live one */
    size_t nlook = 0;

    size_t news_cap = 0;
    for (size_t i = 0; i < rec->nfields; i++) {
        if (res->nfindings >= DRIFT_MAX_FINDINGS) {
            res->truncated += rec->nfields - i; /* at least one finding each, probably */
            break;
        }
        const pm_field *fd = &rec->fields[i];
        name_entry scratch;
        const name_entry *e = i < DRIFT_SHAPE_MAX ? c->shape[i] : NULL;
        if (!e || e->raw_len != fd->name_len || !pm_bytes_same(e->raw, fd->name, fd->name_len)) {
            e = lookup_name(c, fd->name, fd->name_len, a, &scratch);
            if (i < DRIFT_SHAPE_MAX)
                c->shape[i] = e == &scratch ? NULL : e;
        }
        if (e->idx < 0) {
            if (fd->v.kind == PM_V_NULL)
                continue; /* nothing to lose: see drift.h */
            if (e->dropped) {
                out_of_band(t, fd, e, a, res);
                continue;
            }
            bool twin = false;
            for (size_t k = 0; k < nnews; k++) {
                if (news[k].skel && strcmp(news[k].skel, e->skel) == 0 &&
                    strcmp(news[k].field, fd->name) != 0) {
                    /* same column, or columns that look alike */
                    pm_finding f = {.kind = FINDING_MALFORMED, .field = fd->name, .column = e->col};
                    if (strcmp(news[k].name, e->col) == 0) {
                        f.message = pm_arena_sprintf(a,
                                                     "fields \"%s\" and \"%s\" both become "
                                                     "column %s; rename one in the feed",
                                                     news[k].field, fd->name, e->col);
                        drift_add(res, a, &f);
                    } else {
                        look_alike_fields(news[k].field, fd->name, e->col, a, res);
                    }
                    twin = true;
                }
            }
            if (e->like >= 0) {
                /* A column that looks like one the table has is never
                 * added (the guard refuses it): the field may be the
                 * column's own, spelt with other characters, and a person
                 * decides whether to map it there. Beside the column's own
                 * field in this record it is the pair above, found below. */
                if (!twin) {
                    if (!look_alikes)
                        look_alikes = pm_arena_alloc(a, rec->nfields * sizeof *look_alikes);
                    look_alikes[nlook++] = i;
                }
                continue;
            }
            pm_finding f = {.field = fd->name, .column = e->col};
            f.observed = observed_text(&fd->v, a);
            f.proposed = type_for_new_column(type_infer(&fd->v));
            char pn[TYPE_NAME_MAX];
            type_name(f.proposed, pn);
            const char *sep = strstr(e->col, "__");
            int parent = sep ? table_find(t, e->col, (size_t)(sep - e->col)) : -1;
            if (parent >= 0) {
                /* A scalar column whose field now arrives as an object. */
                f.kind = FINDING_NESTED;
                f.message = pm_arena_sprintf(
                    a,
                    "field %s is now an object (column %s is %s); its member %s would become "
                    "column %s %s (needs review)",
                    t->cols[parent].name, t->cols[parent].name, type_name(t->cols[parent].type, pn),
                    fd->name, e->col, type_name(f.proposed, (char[TYPE_NAME_MAX]){0}));
            } else if (fd->v.kind == PM_V_ARRAY || fd->v.kind == PM_V_OBJECT) {
                f.kind = FINDING_NESTED;
                f.message = pm_arena_sprintf(
                    a,
                    "new field %s holds %s; it would be stored in a json column %s (needs review)",
                    fd->name, fd->v.kind == PM_V_ARRAY ? "an array" : "a deeply nested object",
                    e->col);
            } else {
                f.kind = FINDING_NEW_FIELD;
                f.message = pm_arena_sprintf(
                    a,
                    "new field %s%s is not a column of %s; adding a nullable column %s %s would "
                    "hold it (automatic)",
                    fd->name, strstr(e->col, "__") ? " (from a nested object)" : "", t->name,
                    e->col, pn);
            }
            drift_add(res, a, &f);
            if (nnews == news_cap) {
                news_cap = news_cap ? news_cap * 2 : 8;
                new_field *grown = pm_arena_alloc(a, news_cap * sizeof *grown);
                if (nnews)
                    memcpy(grown, news, nnews * sizeof *grown);
                news = grown;
            }
            new_field *nn = news;
            /* only plain new fields can be the new name of a missing column */
            nn[nnews++] = (new_field){fd->name, f.kind == FINDING_NEW_FIELD ? e->col : NULL,
                                      f.proposed, e->col, e->skel};
            news = nn;
            continue;
        }
        const pm_column *col = &t->cols[e->idx];
        if (owner[e->idx]) {
            pm_finding f = {.kind = FINDING_MALFORMED, .field = fd->name, .column = col->name};
            f.message = pm_arena_sprintf(
                a, "fields \"%s\" and \"%s\" both become column %s; rename one in the feed",
                rec->fields[owner[e->idx] - 1].name, fd->name, col->name);
            drift_add(res, a, &f);
            continue;
        }
        if (col->origin &&
            col->origin != (fd->nested ? COLUMN_ORIGIN_NESTED : COLUMN_ORIGIN_FLAT) &&
            strcmp(e->col, col->name) == 0) {
            origin_clash(col, fd, a, res);
            continue;
        }
        owner[e->idx] = i + 1;
        if (fd->v.kind == PM_V_NULL) {
            if (!col->nullable) {
                pm_finding f = {.kind = FINDING_NULL_VIOLATION,
                                .field = fd->name,
                                .column = col->name,
                                .observed = "null",
                                .expected = col->type};
                f.message = pm_arena_sprintf(
                    a,
                    "%s is null but column %s is NOT NULL; dropping NOT NULL would allow it (%s)",
                    fd->name, col->name, not_null_word(col));
                drift_add(res, a, &f);
            }
            res->cells[e->idx] = (pm_cell){.kind = PM_CELL_NULL};
            continue;
        }
        if (bool_in_number(col, &fd->v))
            bool_conflict(col, fd->name, &fd->v, a, res);
        else if (!type_fits(&fd->v, col->type, &res->cells[e->idx]) &&
                 !coerce(col, &fd->v, a, &res->cells[e->idx]))
            mismatch(col, fd->name, &fd->v, a, res);
        else
            canonical_datetime(col, &res->cells[e->idx], a);
    }

    /* Fields whose column would look like a live one: beside that
     * column's own field (or another such field), a pair a reader cannot
     * tell apart; alone, perhaps the column's field spelt with other
     * characters, which a field mapping would load (for a person). */
    for (size_t k = 0; k < nlook && res->nfindings < DRIFT_MAX_FINDINGS; k++) {
        const pm_field *fd = &rec->fields[look_alikes[k]];
        name_entry scratch;
        const name_entry *e = lookup_name(c, fd->name, fd->name_len, a, &scratch);
        const pm_column *col = &t->cols[e->like];
        const char *other = owner[e->like] ? rec->fields[owner[e->like] - 1].name : NULL;
        for (size_t j = 0; !other && j < k; j++) {
            const pm_field *fj = &rec->fields[look_alikes[j]];
            const name_entry *ej = lookup_name(c, fj->name, fj->name_len, a, &scratch);
            if (ej->like == e->like)
                other = fj->name;
        }
        if (other) {
            look_alike_fields(other, fd->name, e->col, a, res);
            continue;
        }
        char note[96];
        pm_finding f = {.kind = FINDING_RENAME,
                        .field = fd->name,
                        .column = col->name,
                        .observed = observed_text(&fd->v, a),
                        .expected = col->type,
                        .proposed = type_for_new_column(type_infer(&fd->v))};
        f.message = pm_arena_sprintf(a,
                                     "new field %s looks like column %s but is spelt with other "
                                     "characters%s; it is not added as a column of its own (a "
                                     "field mapping would load it into %s; needs review), or fix "
                                     "the producer",
                                     fd->name, col->name,
                                     confusable_note(e->col, note, sizeof note), col->name);
        drift_add(res, a, &f);
    }

    /* Columns the record does not have: a NOT NULL one is a violation, or
     * the old name of a new field of the same shape. */
    for (size_t j = 0; j < t->ncols; j++) {
        if (owner[j])
            continue;
        res->cells[j] = (pm_cell){.kind = PM_CELL_NULL};
        const pm_column *col = &t->cols[j];
        bool renamed = false;
        /* Only a NOT NULL column can vanish: a nullable one is simply
         * absent from many records, and calling each absence a rename
         * would block every new field that arrives beside it. */
        for (size_t k = 0; !col->nullable && k < nnews; k++) {
            if (!news[k].col || type_family(news[k].type) != type_family(col->type))
                continue;
            pm_finding f = {.kind = FINDING_RENAME,
                            .field = news[k].field,
                            .column = col->name,
                            .expected = col->type,
                            .proposed = news[k].type};
            f.message = pm_arena_sprintf(
                a,
                "field %s is missing and new field %s has the same shape; %s may have been "
                "renamed to %s (a field mapping would load it; needs review)",
                col->name, news[k].field, col->name, news[k].field);
            drift_add(res, a, &f);
            news[k].col = NULL; /* pair each new field with one missing column */
            renamed = true;
            break;
        }
        if (!col->nullable && !renamed) {
            pm_finding f = {
                .kind = FINDING_NULL_VIOLATION, .column = col->name, .expected = col->type};
            f.message = pm_arena_sprintf(a,
                                         "field %s is missing but column %s is NOT NULL; "
                                         "dropping NOT NULL would allow it (%s)",
                                         col->name, col->name, not_null_word(col));
            drift_add(res, a, &f);
        }
    }

    if (res->truncated) {
        pm_finding f = res->findings[res->nfindings - 1];
        f.message = pm_arena_sprintf(a,
                                     "... and about %zu more findings in this record, not "
                                     "listed",
                                     res->truncated);
        res->truncated = 0;
        res->cap = res->nfindings; /* the next append copies the array */
        size_t n = res->nfindings;
        pm_finding *nf = pm_arena_alloc(a, (n + 1) * sizeof *nf);
        memcpy(nf, res->findings, n * sizeof *nf);
        nf[n] = f;
        res->findings = nf;
        res->nfindings = n + 1;
    }
    /* The contract speaks about values that fit their columns; a row that
     * already has findings is quarantined regardless. */
    if (res->nfindings)
        return;
    static const pm_cell null_cell = {.kind = PM_CELL_NULL};
    for (size_t i = 0; i < c->nrules; i++) {
        const rule_ref *r = &c->rules[i];
        const pm_cell *cell = r->idx >= 0 ? &res->cells[r->idx] : &null_cell;
        char msg[512];
        if (contract_rule_holds(r->rule, cell, msg, sizeof msg))
            continue;
        pm_finding f = {.kind = FINDING_CONTRACT, .column = r->rule->column, .rule = r->rule->name};
        if (r->idx >= 0)
            f.expected = t->cols[r->idx].type;
        f.message = pm_arena_strdup(a, msg);
        drift_add(res, a, &f);
    }
}

static pm_code put_str(pm_buf *b, const char *key, const char *val, pm_err *err)
{
    if (!val)
        return PM_OK;
    /* no printf: this runs for every finding of every quarantined row */
    pm_code rc = pm_buf_puts(b, ",\"", err);
    if (!rc)
        rc = pm_buf_puts(b, key, err);
    if (!rc)
        rc = pm_buf_puts(b, "\":", err);
    return rc ? rc : pm_buf_json_str(b, val, strlen(val), err);
}

pm_code drift_findings_json(pm_buf *b, const pm_finding *f, size_t n, pm_err *err)
{
    pm_code rc = pm_buf_putc(b, '[', err);
    for (size_t i = 0; !rc && i < n; i++) {
        char tn[TYPE_NAME_MAX];
        rc = pm_buf_puts(b, i ? ",{\"kind\":\"" : "{\"kind\":\"", err);
        if (!rc)
            rc = pm_buf_puts(b, drift_kind_name(f[i].kind), err);
        if (!rc)
            rc = pm_buf_putc(b, '"', err);
        if (!rc)
            rc = put_str(b, "field", f[i].field, err);
        if (!rc)
            rc = put_str(b, "column", f[i].column, err);
        if (!rc)
            rc = put_str(b, "observed", f[i].observed, err);
        if (!rc && f[i].expected.kind != PM_T_UNKNOWN)
            rc = put_str(b, "expected", type_name(f[i].expected, tn), err);
        if (!rc && f[i].proposed.kind != PM_T_UNKNOWN)
            rc = put_str(b, "proposed", type_name(f[i].proposed, tn), err);
        if (!rc)
            rc = put_str(b, "rule", f[i].rule, err);
        if (!rc)
            rc = put_str(b, "format", f[i].format, err);
        if (!rc)
            rc = put_str(b, "message", f[i].message, err);
        if (!rc)
            rc = pm_buf_putc(b, '}', err);
    }
    return rc ? rc : pm_buf_putc(b, ']', err);
}

const char *drift_kinds_list(const pm_finding *f, size_t n, pm_arena *a)
{
    bool seen[FINDING_KIND_COUNT] = {0};
    char out[256];
    size_t len = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (seen[f[i].kind])
            continue;
        seen[f[i].kind] = true;
        len += (size_t)snprintf(out + len, sizeof out - len, "%s%s", len ? "," : "",
                                drift_kind_name(f[i].kind));
        if (len >= sizeof out)
            break;
    }
    return pm_arena_strdup(a, out);
}

const char *drift_headline(const pm_finding *f, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (f[i].kind != FINDING_NEW_FIELD)
            return f[i].message;
    return f[0].message;
}
