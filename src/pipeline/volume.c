/* volume.c - flags a run whose row count is far below the pipeline's recent
 * history.
 *
 * Why the median: one huge backfill or one empty run would drag a mean far
 * enough to hide (or invent) an anomaly; the median of the last N runs
 * ignores a minority of outliers. A run is flagged when it reads less than
 * `ratio` (default 0.2) times that median. With fewer than three runs of
 * history there is no "usual" yet, so nothing is flagged; a median of zero
 * (a pipeline that mostly reads nothing) flags nothing either. The flag is
 * information for the owner: it changes no schema and no exit code. */
#include "pipeline/volume.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

bool volume_is_anomaly(const int64_t *history, size_t n, int64_t rows, double ratio, char *note,
                       size_t notesz)
{
    if (n < 3)
        return false;
    int64_t *v = pm_xmalloc(n * sizeof *v);
    memcpy(v, history, n * sizeof *v);
    qsort(v, n, sizeof *v, cmp_i64);
    double median = n % 2 ? (double)v[n / 2] : ((double)v[n / 2 - 1] + (double)v[n / 2]) / 2.0;
    free(v);
    if (median <= 0 || (double)rows >= ratio * median)
        return false;
    snprintf(note, notesz,
             "read %lld rows, below %.0f%% of the median %.0f of the last %zu runs; check the "
             "source for missing or partial files",
             (long long)rows, ratio * 100.0, median, n);
    return true;
}
