/* textfmt.h - format drift in text columns.
 *
 * A varchar or text column takes any string, so a producer that switches
 * its dates from 2015-01-01 to 01/31/2015 loads without a finding per
 * record, and the column ends up holding two layouts that no query reads
 * alike. This module tells the layout ("shape") of a value - an ISO 8601
 * date, timestamp or timestamptz, or one of the non-ISO layouts
 * type_detect_datetime_format knows - and follows, per text column of a
 * run, the shape its values had: the shape of a sample of the rows the
 * table held when the run first saw a dated value there (the caller reads
 * them), else the first one the run saw. A value of another shape is the
 * drift. It is a warning, not a quarantine (text holds both), and the
 * caller proposes, for review, the retype of the column to the date/time
 * type with the coercion that reads both shapes (textfmt_retype).
 *
 * Decisions, taken here:
 *   - A column whose sampled rows do not all share one shape (free text,
 *     or two layouts already) has no shape to drift from: it is not
 *     followed for the rest of the run.
 *   - A value without a shape ("unknown", a name) in a dated column is not
 *     a change of layout: it is skipped (a retype would then refuse it,
 *     naming it).
 *   - One finding per column per run: after it, the column is left alone
 *     until the next run.
 *   - One op parses ISO 8601 natively plus one format, so two non-ISO
 *     layouts (%m/%d/%Y, then %d.%m.%Y), or a zone on one side only, get
 *     the warning with no proposal. */
#ifndef PM_DRIFT_TEXTFMT_H
#define PM_DRIFT_TEXTFMT_H

#include <stdbool.h>
#include <stddef.h>

#include "core/arena.h"
#include "schema/type.h"

typedef struct textfmt_shape {
    pm_tkind kind;      /* PM_T_DATE, _TIMESTAMP, _TIMESTAMPTZ; PM_T_UNKNOWN: no shape */
    const char *format; /* NULL: ISO 8601; else a strptime format (static) */
} textfmt_shape;

/* The shape of s[0..n). */
textfmt_shape textfmt_shape_of(const char *s, size_t n);

/* "ISO 8601 date", "%m/%d/%Y", ... into buf (64 bytes); returns buf. */
const char *textfmt_describe(textfmt_shape sh, char *buf);

/* The retype (op.h) of a text column whose values were of shape was and
 * now are of shape now that parses both: *to the date/time type, *format
 * the non-ISO one's format or NULL. False when one op cannot (see the top
 * of this file). */
bool textfmt_retype(textfmt_shape was, textfmt_shape now, pm_type *to, const char **format);

/* Per run: the state of each text column, by name (a heal may reorder
 * nothing but adds columns, so names are the stable key). */
typedef struct textfmt textfmt;

textfmt *textfmt_new(pm_arena *run_arena);

typedef enum textfmt_verdict {
    TEXTFMT_SAME,   /* nothing to say */
    TEXTFMT_SEED,   /* the column has no known shape yet: call textfmt_seed first */
    TEXTFMT_CHANGED /* *was is the column's shape, value's is another */
} textfmt_verdict;

/* A value of column (a text column) of shape sh, which has a shape.
 * CHANGED: *was is the column's shape and *example a value of it (in the
 * run arena). */
textfmt_verdict textfmt_observe(textfmt *tf, const char *column, textfmt_shape sh,
                                textfmt_shape *was, const char **example);

/* Seeds column from the values the table held (n of them; n == 0: none,
 * and first, the value that asked, of shape first_shape, gives the
 * shape). */
void textfmt_seed(textfmt *tf, const char *column, const char *const *values, size_t n,
                  const char *first, textfmt_shape first_shape);

/* Is column still followed in this run (false once it has no shape, or
 * has had its finding)? A column never seen is followed. */
bool textfmt_following(textfmt *tf, const char *column);

#endif
