/* volume.h - the volume check: is this run's row count far below what the
 * pipeline usually reads? */
#ifndef PM_PIPELINE_VOLUME_H
#define PM_PIPELINE_VOLUME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* history: rows read by recent finished runs (any order). Returns true and
 * writes a sentence to note when rows is an anomaly. */
bool volume_is_anomaly(const int64_t *history, size_t n, int64_t rows, double ratio, char *note,
                       size_t notesz);

#endif
