/* rename.c - suspected renames judged across a batch (see rename.h).
 *
 * Only batches with quarantined new fields get here, and only their
 * columns that are nullable and missing are weighed; the clean path pays
 * nothing. */
#include "drift/rename.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema/colname.h"

/* Numbers, strings, dates and times: a rename keeps the kind of value
 * (0: a type no rename is judged for). */
static int family(pm_type t)
{
    pm_type_family f = type_family(t);
    return f == PM_FAM_JSON ? PM_FAM_NONE : (int)f;
}

/* name without '_', at most COLNAME_MAX bytes */
static size_t squeeze(const char *s, char *out)
{
    size_t k = 0;
    for (; *s && k < COLNAME_MAX; s++)
        if (*s != '_')
            out[k++] = *s;
    out[k] = '\0';
    return k;
}

/* Dice coefficient over the bigrams of the names without '_'. */
static double bigrams(const char *a, const char *b)
{
    char x[COLNAME_MAX + 1], y[COLNAME_MAX + 1];
    size_t nx = squeeze(a, x), ny = squeeze(b, y);
    if (nx < 2 || ny < 2)
        return nx && nx == ny && x[0] == y[0] ? 1.0 : 0.0;
    bool used[COLNAME_MAX] = {0};
    size_t common = 0;
    for (size_t i = 0; i + 1 < nx; i++) {
        for (size_t j = 0; j + 1 < ny; j++) {
            if (!used[j] && x[i] == y[j] && x[i + 1] == y[j + 1]) {
                used[j] = true;
                common++;
                break;
            }
        }
    }
    return 2.0 * (double)common / (double)(nx - 1 + ny - 1);
}

/* Share of words (between '_') the names have in common, of the fewer. */
static double words(const char *a, const char *b)
{
    size_t na = 0, nb = 0, common = 0;
    for (const char *p = a; *p;) {
        while (*p == '_')
            p++;
        if (!*p)
            break;
        size_t len = strcspn(p, "_");
        na++;
        for (const char *q = b; *q;) {
            while (*q == '_')
                q++;
            if (!*q)
                break;
            size_t l2 = strcspn(q, "_");
            if (l2 == len && memcmp(p, q, len) == 0) {
                common++;
                break;
            }
            q += l2;
        }
        p += len;
    }
    for (const char *q = b; *q;) {
        while (*q == '_')
            q++;
        if (!*q)
            break;
        nb++;
        q += strcspn(q, "_");
    }
    size_t fewer = na < nb ? na : nb;
    return fewer ? (double)common / (double)(na > nb ? na : nb) : 0.0;
}

double rename_similarity(const char *a, const char *b)
{
    double x = bigrams(a, b), y = words(a, b);
    return x > y ? x : y;
}

/* What the values of one name look like over the batch. */
typedef struct shape {
    int64_t n;
    double lo, hi; /* numbers */
    double len;    /* strings: total length */
} shape;

static void shape_value(shape *s, const pm_value *v)
{
    double d = 0;
    if (v->kind == PM_V_NUMBER || v->kind == PM_V_RAW) {
        char buf[64];
        size_t k = v->len < sizeof buf - 1 ? v->len : sizeof buf - 1;
        memcpy(buf, v->s, k);
        buf[k] = '\0';
        char *end;
        d = strtod(buf, &end);
        if (end == buf)
            d = NAN;
    } else if (v->kind == PM_V_BOOL) {
        d = v->b;
    } else {
        d = NAN;
    }
    if (!isnan(d)) {
        s->lo = s->n && s->lo < d ? s->lo : d;
        s->hi = s->n && s->hi > d ? s->hi : d;
    }
    if (v->kind == PM_V_STRING || v->kind == PM_V_RAW)
        s->len += (double)v->len;
    s->n++;
}

static void shape_cell(shape *s, const pm_cell *c)
{
    double d = c->kind == PM_CELL_INT ? (double)c->i : c->kind == PM_CELL_REAL ? c->d : NAN;
    if (!isnan(d)) {
        s->lo = s->n && s->lo < d ? s->lo : d;
        s->hi = s->n && s->hi > d ? s->hi : d;
    }
    if (c->kind == PM_CELL_TEXT)
        s->len += (double)c->len;
    s->n++;
}

/* Do two shapes disagree? Only where the batch shows both. */
static bool shapes_differ(const shape *x, const shape *c, int fam)
{
    if (!x->n || !c->n)
        return false;
    if (fam == PM_FAM_NUMBER) {
        double pad = (c->hi - c->lo) * 0.5 + 1e-9;
        return x->hi < c->lo - pad || x->lo > c->hi + pad;
    }
    if (fam == PM_FAM_STRING) {
        double mx = x->len / (double)x->n, mc = c->len / (double)c->n;
        return mx > 2 * mc + 2 || mc > 2 * mx + 2;
    }
    return false;
}

/* The row's value of new field name (a new_field finding's column). */
static const pm_value *new_value(const rename_row *r, const char *name)
{
    for (size_t k = 0; k < r->nfound; k++) {
        const pm_finding *f = &r->found[k];
        if (f->kind != FINDING_NEW_FIELD || !f->field || strcmp(f->column, name) != 0)
            continue;
        for (size_t i = 0; i < r->rec->nfields; i++)
            if (strcmp(r->rec->fields[i].name, f->field) == 0)
                return &r->rec->fields[i].v;
    }
    return NULL;
}

typedef struct candidate {
    const char *name;
    pm_type type;
    size_t *rows; /* the rows that have it */
    size_t nrows, cap;
} candidate;

static int pair_cmp(const void *a, const void *b)
{
    const rename_pair *x = a, *y = b;
    double sx = x->similarity + (x->stopped ? 0.5 : 0), sy = y->similarity + (y->stopped ? 0.5 : 0);
    return sx < sy ? 1 : sx > sy ? -1 : 0;
}

static void push_row(candidate *c, size_t i, pm_arena *a)
{
    if (c->nrows && c->rows[c->nrows - 1] == i)
        return;
    if (c->nrows == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 16;
        size_t *g = pm_arena_alloc(a, c->cap * sizeof *g);
        if (c->nrows)
            memcpy(g, c->rows, c->nrows * sizeof *g);
        c->rows = g;
    }
    c->rows[c->nrows++] = i;
}

size_t rename_suspects(const pm_table *t, const rename_row *rows, size_t n,
                       const rename_refusal *refusals, size_t nrefusals, pm_arena *a,
                       rename_pair **out)
{
    *out = NULL;
    /* the new fields of the batch, by column name, with their rows */
    candidate *cands = NULL;
    size_t ncands = 0, cap = 0;
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; !rows[i].cells && k < rows[i].nfound; k++) {
            const pm_finding *f = &rows[i].found[k];
            if (f->kind != FINDING_NEW_FIELD || !f->column || !family(f->proposed))
                continue;
            size_t c = 0;
            while (c < ncands && strcmp(cands[c].name, f->column) != 0)
                c++;
            if (c == ncands) {
                /* Names that keep coming are keys that are data, not a
                 * schema a producer renamed a column of. */
                if (ncands == RENAME_MAX_NEW)
                    return 0;
                if (ncands == cap) {
                    cap = cap ? cap * 2 : 8;
                    candidate *g = pm_arena_alloc(a, cap * sizeof *g);
                    if (ncands)
                        memcpy(g, cands, ncands * sizeof *g);
                    cands = g;
                }
                cands[ncands++] = (candidate){.name = f->column, .type = f->proposed};
            } else {
                cands[c].type = type_join(cands[c].type, f->proposed);
            }
            push_row(&cands[c], i, a);
        }
    }
    if (!ncands)
        return 0;
    /* which nullable columns of the family of some new field are worth a
     * look, and, for those, each row's value and the column's shape */
    size_t nc = t->ncols, nullable = 0;
    for (size_t j = 0; j < nc; j++)
        nullable += t->cols[j].nullable;
    if (nullable * ncands > RENAME_MAX_PAIRS)
        return 0;
    bool *look = pm_arena_calloc(a, (nc ? nc : 1) * sizeof *look);
    size_t nlook = 0;
    for (size_t j = 0; j < nc; j++) {
        const pm_column *col = &t->cols[j];
        for (size_t c = 0; col->nullable && !look[j] && c < ncands; c++)
            look[j] = family(col->type) == family(cands[c].type) &&
                      rename_similarity(cands[c].name, col->name) >= RENAME_NAME_SOME;
        nlook += look[j];
    }
    if (!nlook || n * nlook > RENAME_MAX_CELLS)
        return 0;
    /* slot[j]: column j's place among the looked-at ones (or -1);
     * has[i * nlook + slot]: row i has a value for it */
    int *slot = pm_arena_alloc(a, (nc ? nc : 1) * sizeof *slot);
    for (size_t j = 0, k = 0; j < nc; j++)
        slot[j] = look[j] ? (int)k++ : -1;
    bool *has = pm_arena_calloc(a, n * nlook * sizeof *has + 1);
    int64_t *total = pm_arena_calloc(a, nlook * sizeof *total);
    shape *sc = pm_arena_calloc(a, nlook * sizeof *sc);
    for (size_t i = 0; i < n; i++) {
        const rename_row *r = &rows[i];
        bool *h = &has[i * nlook];
        if (r->cells) {
            for (size_t j = 0; j < nc; j++) {
                if (slot[j] < 0 || r->cells[j].kind == PM_CELL_NULL)
                    continue;
                h[slot[j]] = true;
                shape_cell(&sc[slot[j]], &r->cells[j]);
            }
        } else {
            for (size_t f = 0; f < r->rec->nfields; f++) {
                const pm_field *fd = &r->rec->fields[f];
                if (fd->v.kind == PM_V_NULL)
                    continue;
                char col[COLNAME_MAX + 1];
                size_t len = colname_normalise(fd->name, fd->name_len, col);
                int j = table_find_field(t, col, len);
                if (j < 0 || slot[j] < 0 || h[slot[j]])
                    continue;
                h[slot[j]] = true;
                shape_value(&sc[slot[j]], &fd->v);
            }
        }
        for (size_t k = 0; k < nlook; k++)
            total[k] += h[k];
    }

    rename_pair *pairs = NULL;
    size_t np = 0, pcap = 0;
    for (size_t c = 0; c < ncands; c++) {
        shape sx = {0};
        for (size_t k = 0; k < cands[c].nrows; k++) {
            const pm_value *x = new_value(&rows[cands[c].rows[k]], cands[c].name);
            if (x)
                shape_value(&sx, x);
        }
        for (size_t j = 0; j < nc; j++) {
            const pm_column *col = &t->cols[j];
            if (!look[j] || family(col->type) != family(cands[c].type))
                continue;
            bool refused = false;
            for (size_t r = 0; r < nrefusals && !refused; r++)
                refused = strcmp(refusals[r].name, cands[c].name) == 0 &&
                          strcmp(refusals[r].column, col->name) == 0;
            double sim = rename_similarity(cands[c].name, col->name);
            if (refused || sim < RENAME_NAME_SOME)
                continue;
            int64_t with = (int64_t)cands[c].nrows, both = 0;
            for (size_t k = 0; k < cands[c].nrows; k++)
                both += has[cands[c].rows[k] * nlook + (size_t)slot[j]];
            int64_t absent = with - both;
            if ((double)absent < RENAME_ABSENT_SHARE * (double)with)
                continue;
            int64_t other = (int64_t)n - with, other_has = total[slot[j]] - both;
            bool stopped = other > 0 && other_has * 2 >= other;
            if (shapes_differ(&sx, &sc[slot[j]], family(col->type)))
                continue;
            if (sim < RENAME_NAME_SIMILAR && !stopped)
                continue;
            if (np == pcap) {
                pcap = pcap ? pcap * 2 : 4;
                rename_pair *g = pm_arena_alloc(a, pcap * sizeof *g);
                if (np)
                    memcpy(g, pairs, np * sizeof *g);
                pairs = g;
            }
            pairs[np++] = (rename_pair){cands[c].name, (int)j, with, absent, sim, stopped};
        }
    }
    if (!np)
        return 0;
    qsort(pairs, np, sizeof *pairs, pair_cmp);
    /* one column per field, one field per column, the best first */
    size_t kept = 0;
    for (size_t i = 0; i < np; i++) {
        bool taken = false;
        for (size_t k = 0; k < kept && !taken; k++)
            taken = pairs[k].col == pairs[i].col || strcmp(pairs[k].name, pairs[i].name) == 0;
        if (!taken)
            pairs[kept++] = pairs[i];
    }
    *out = pairs;
    return kept;
}

/* The pair for new field name, or NULL. */
static const rename_pair *pair_of(const rename_pair *pairs, size_t np, const char *name)
{
    for (size_t p = 0; p < np; p++)
        if (strcmp(pairs[p].name, name) == 0)
            return &pairs[p];
    return NULL;
}

/* The new column name of field (its new_field finding in row), or NULL. */
static const char *new_name(const rename_row *row, const char *field)
{
    for (size_t k = 0; k < row->nfound; k++)
        if (row->found[k].kind == FINDING_NEW_FIELD && row->found[k].field &&
            strcmp(row->found[k].field, field) == 0)
            return row->found[k].column;
    return NULL;
}

/* drift_check may have paired the field with a NOT NULL column the record
 * lacks (a one-record rename): which of the two pairings names the field
 * better wins, and a losing NOT NULL column is what it is without a new
 * name, a missing value. */
static bool record_pair_wins(const pm_table *t, const rename_row *row, const rename_pair *p)
{
    const pm_column *col = &t->cols[p->col];
    for (size_t k = 0; k < row->nfound; k++) {
        const pm_finding *f = &row->found[k];
        if (f->kind != FINDING_RENAME || !f->field || !f->column)
            continue;
        const char *x = new_name(row, f->field);
        if (x && strcmp(x, p->name) == 0 && strcmp(f->column, col->name) != 0 &&
            rename_similarity(x, f->column) >= p->similarity)
            return true;
    }
    return false;
}

bool rename_mark(const pm_table *t, const rename_pair *pairs, size_t np, const rename_row *row,
                 pm_arena *a, pm_finding **out, size_t *nout)
{
    if (row->cells)
        return false;
    size_t add = 0;
    for (size_t k = 0; k < row->nfound; k++)
        add += row->found[k].kind == FINDING_NEW_FIELD && row->found[k].column &&
               pair_of(pairs, np, row->found[k].column);
    if (!add)
        return false;
    pm_finding *f = pm_arena_alloc(a, (row->nfound + add) * sizeof *f);
    size_t m = 0;
    bool changed = false;
    for (size_t k = 0; k < row->nfound; k++) {
        const pm_finding *nf = &row->found[k];
        if (nf->kind == FINDING_RENAME && nf->field && nf->column) {
            const char *x = new_name(row, nf->field);
            const rename_pair *p = x ? pair_of(pairs, np, x) : NULL;
            int j = table_find(t, nf->column, strlen(nf->column));
            if (p && j >= 0 && !record_pair_wins(t, row, p)) {
                const pm_column *old = &t->cols[j];
                f[m] = (pm_finding){
                    .kind = FINDING_NULL_VIOLATION, .column = old->name, .expected = old->type};
                f[m++].message = pm_arena_sprintf(
                    a,
                    "field %s is missing but column %s is NOT NULL; dropping NOT NULL would allow "
                    "it (%s)",
                    old->name, old->name,
                    old->guessed ? "automatic: pipemend inferred it from the first rows, not a "
                                   "declared constraint"
                                 : "needs review), or fix the producer (the constraint is "
                                   "declared");
                changed = true;
                continue;
            }
        }
        f[m++] = *nf;
        const rename_pair *p =
            nf->kind == FINDING_NEW_FIELD && nf->column ? pair_of(pairs, np, nf->column) : NULL;
        if (!p || record_pair_wins(t, row, p))
            continue;
        const pm_column *col = &t->cols[p->col];
        pm_finding r = {.kind = FINDING_RENAME,
                        .field = nf->field,
                        .column = col->name,
                        .observed = nf->observed,
                        .expected = col->type,
                        .proposed = nf->proposed};
        r.message = pm_arena_sprintf(
            a,
            "new field %s arrives while column %s stopped arriving (missing in %lld of the "
            "%lld rows that have %s%s); %s may have been renamed to %s (a field mapping "
            "would load it into %s; needs review, the new column waits for that decision)",
            nf->field, col->name, (long long)p->absent, (long long)p->rows, nf->field,
            strstr(p->name, "__") || strstr(col->name, "__")
                ? ", a flat field restructured as a nested one or the reverse"
                : "",
            col->name, nf->field, col->name);
        f[m++] = r;
        changed = true;
    }
    *out = f;
    *nout = m;
    return changed;
}
