/* source.h - turns bytes into records with their source position.
 *
 * A source is a file (or `-` for stdin) in NDJSON or CSV. Reads are large and
 * buffered; a record longer than `max_line` is returned as malformed with
 * only a prefix of its bytes (the file still holds them at `offset`). Each
 * record carries the byte offset where it starts and ends, so a checkpoint
 * can resume exactly after it.
 *
 * Normalisations (documented in the README):
 *   - a UTF-8 byte order mark at the start of a file is skipped;
 *   - CRLF line ends are treated as LF;
 *   - empty (or all-whitespace) NDJSON lines are skipped: they are not rows;
 *   - empty lines are skipped in CSV too (outside quoted fields);
 *   - after a resume (start_offset > 0) line numbers continue from
 *     opts->start_line (kept in the checkpoint), without re-reading the
 *     loaded bytes; the byte offset is always exact;
 *   - CSV: an empty unquoted field is NULL, a quoted empty field ("") is the
 *     empty string; a row with more or fewer fields than the header is
 *     malformed; a header is required. */
#ifndef PM_SOURCE_SOURCE_H
#define PM_SOURCE_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/err.h"
#include "source/jscan.h"
#include "source/record.h"

typedef enum pm_format { PM_FMT_NDJSON, PM_FMT_CSV } pm_format;

typedef struct pm_source_opts {
    size_t max_line;     /* bytes; default 16 MiB */
    uint64_t start_line; /* line number at start_offset, from a checkpoint
                          * (0: unknown, count from 1 there) */
    jscan_opts json;
} pm_source_opts;

void source_opts_default(pm_source_opts *o);

typedef struct pm_source pm_source;

/* Opens path ("-" for stdin) and positions it at start_offset (a value from
 * a checkpoint: the end of the last committed record; 0 to read from the
 * start). For CSV the header is always read from the top first. Caller
 * closes with source_close. */
pm_code source_open(const char *path, pm_format fmt, const pm_source_opts *opts,
                    uint64_t start_offset, pm_source **out, pm_err *err);

/* Reads the next record into rec, allocating from arena. Returns PM_OK with
 * a record (possibly malformed: rec->malformed set), PM_DONE at the end of
 * input, or an error when the input cannot be read at all (PM_ERR_IO). */
pm_code source_next(pm_source *src, pm_arena *arena, pm_record *rec, pm_err *err);

void source_close(pm_source *src);

/* Identity of the input for checkpoints: the absolute path for a file,
 * "stdin" for standard input. */
const char *source_id(const pm_source *src);
/* Hash of the first min(SOURCE_FINGERPRINT_MAX, offset) bytes of the file
 * at path: the fingerprint a checkpoint at offset is stored with (see
 * fingerprint.c). */
#define SOURCE_FINGERPRINT_MAX 4096
pm_code source_fingerprint_file(const char *path, uint64_t offset, uint64_t *out, pm_err *err);
/* Total size in bytes if known (regular file), else 0: for progress. */
uint64_t source_size(const pm_source *src);
bool source_is_stdin(const pm_source *src);

/* "ndjson" / "csv" from a name, or from a file's extension (.ndjson, .jsonl,
 * .json, .csv); false when neither says. */
bool source_format_parse(const char *name, pm_format *out);
bool source_format_from_path(const char *path, pm_format *out);
const char *source_format_name(pm_format f);

#endif
