/* rename.h - suspected renames judged across a batch.
 *
 * drift_check sees one record: it can call a field the new name of a
 * NOT NULL column that the record lacks, since such a column cannot be
 * missing otherwise. A nullable column is missing from records all the
 * time, so one record says nothing about it; a batch does. A new field X
 * is a suspected rename of a nullable column C of the table when, over the
 * batch's rows:
 *   1. C is missing (absent or null) in nearly all rows that have X
 *      (RENAME_ABSENT_SHARE), and X's type is of C's family (numbers,
 *      strings, dates and times);
 *   2. their values look alike where the batch shows both: number ranges
 *      that overlap, strings of comparable mean length;
 *   3. and either their names are alike (RENAME_NAME_SIMILAR: bigrams and
 *      words of the normalised names, '_' aside, so `imdb_rating` and the
 *      flattened `imdb__rating` of {"IMDB": {"rating": ..}} are the same
 *      name: a restructure is a rename), or C stopped arriving where X
 *      started (C is in at least half of the batch's rows without X) and
 *      the names share something (RENAME_NAME_SOME).
 * Each new field pairs with at most one column and each column with one
 * field, the best-scored first. The cost is bounded by the batch's
 * quarantined fields times the columns worth a look. A pair a person rejected (refusals) is
 * not suspected again: the field is a column of its own. */
#ifndef PM_DRIFT_RENAME_H
#define PM_DRIFT_RENAME_H

#include <stddef.h>
#include <stdint.h>

#include "drift/drift.h"

#define RENAME_ABSENT_SHARE 0.95
#define RENAME_NAME_SIMILAR 0.5
#define RENAME_NAME_SOME 0.2
/* A batch with more distinct new fields than this has keys that are data
 * (user ids as keys, say): no rename is suspected in it. */
#define RENAME_MAX_NEW 64
/* Nor in a batch whose new fields times the table's nullable columns pass
 * this: names are compared pair by pair, and a batch must not cost time
 * that grows with a 10,000-column table times its new fields. */
#define RENAME_MAX_PAIRS 100000
/* ... or whose rows times the columns worth a look pass this (the memory
 * of the presence table, a byte each). */
#define RENAME_MAX_CELLS 4000000

/* One row of a batch: clean (cells set, no findings) or quarantined. */
typedef struct rename_row {
    const pm_record *rec;
    const pm_cell *cells; /* the table's ncols cells, or NULL */
    const pm_finding *found;
    size_t nfound;
} rename_row;

/* A (new column name, existing column) pair a person said is no rename. */
typedef struct rename_refusal {
    const char *name;   /* the new field's normalised name */
    const char *column; /* the column it was proposed to map to */
} rename_refusal;

typedef struct rename_pair {
    const char *name; /* the new field's normalised name (its column) */
    int col;          /* the table's column it may be the new name of */
    int64_t rows;     /* rows with the new field */
    int64_t absent;   /* of them, rows without the column */
    double similarity;
    bool stopped; /* the column arrived in the batch's other rows */
} rename_pair;

/* Name likeness of two normalised names, 0..1 (see above). */
double rename_similarity(const char *a, const char *b);

/* The suspected renames of a batch, in arena; returns how many. */
size_t rename_suspects(const pm_table *t, const rename_row *rows, size_t n,
                       const rename_refusal *refusals, size_t nrefusals, pm_arena *arena,
                       rename_pair **out);

/* Adds a rename finding beside each new_field finding of row that a pair
 * names; true (with the findings, in arena) when it added any. */
bool rename_mark(const pm_table *t, const rename_pair *pairs, size_t np, const rename_row *row,
                 pm_arena *arena, pm_finding **out, size_t *nout);

#endif
