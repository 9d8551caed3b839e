/* source.h - turns bytes into records with their source position.
 *
 * A source is a decoder (NDJSON: ndjson.c, CSV and TSV: csv.c, JSON
 * documents: jsondoc.c) over a transport (how the bytes arrive: a file, or
 * `-` for stdin; see transport.h, which also says what a checkpoint's
 * position is). A gzip or zstd input, told by its first bytes, and a
 * declared character set get a transport of their own between the two
 * (compress.h), so decoders and positions see plain UTF-8. Reads are large and
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
#include "source/transport.h"

/* NDJSON: one object a line. JSON: a document of records, one top-level
 * array of objects or objects one after another (NDJSON among them).
 * CSV: rows under a header row. An NDJSON input that is a JSON array is
 * read as JSON (its top says so). TSV is CSV with a tab delimiter. */
typedef enum pm_format { PM_FMT_NDJSON, PM_FMT_CSV, PM_FMT_JSON, PM_FMT_TSV } pm_format;

typedef struct pm_source_opts {
    size_t max_line;     /* bytes; default 16 MiB */
    uint64_t start_line; /* line number at start_offset, from a checkpoint
                          * (0: unknown, count from 1 there) */
    jscan_opts json;
    char delimiter;       /* CSV: , ; \t or |; 0 tells it from the header row
                           * (the one of them it holds most, else ,) */
    const char *encoding; /* the input's character set (iconv name), converted
                           * to UTF-8; NULL: UTF-8 */
} pm_source_opts;

void source_opts_default(pm_source_opts *o);

typedef struct pm_source pm_source;

/* Opens path ("-" for stdin: transport_open) and positions it at
 * start_offset (the end of the last committed record; 0 to read from the
 * start), where the line is opts->start_line. For CSV the header is always
 * read from the top first. Caller closes with source_close. */
pm_code source_open(const char *path, pm_format fmt, const pm_source_opts *opts,
                    uint64_t start_offset, pm_source **out, pm_err *err);

/* Opens a source over t, which it owns from now on (closed with the source,
 * or here when the open fails), at the top of the input: the BOM and the
 * CSV header are read. source_seek then moves it to a checkpoint. */
pm_code source_open_transport(pm_transport *t, pm_format fmt, const pm_source_opts *opts,
                              pm_source **out, pm_err *err);

/* Moves the source forward to byte offset of its input (an offset at or
 * before what was read already, such as one inside the CSV header, means
 * "from here"); line is the line number there (0: unknown, count from 1).
 * Only before the first source_next. */
pm_code source_seek(pm_source *src, uint64_t offset, uint64_t line, pm_err *err);

/* The source's transport, borrowed: for its identity and positions. */
pm_transport *source_transport(pm_source *src);

/* Reads the next record into rec, allocating from arena. Returns PM_OK with
 * a record (possibly malformed: rec->malformed set), PM_DONE at the end of
 * input, or an error when the input cannot be read at all (PM_ERR_IO). */
pm_code source_next(pm_source *src, pm_arena *arena, pm_record *rec, pm_err *err);

void source_close(pm_source *src);

/* What the top of the input looks like, when that is not what its format
 * expects: "pretty-printed JSON (objects over several lines), not NDJSON",
 * "binary data, not text", "text that is not UTF-8 ...". NULL when
 * nothing was noticed. *hint (may be NULL) gets what to do about it.
 * For messages about an input that yields no record or mostly malformed
 * ones (ingest). */
const char *source_looks_like(const pm_source *src, const char **hint);

/* The CSV header as read from the file: its raw bytes without the line end
 * (borrowed until source_close), and their length; NULL for NDJSON. Kept
 * with each quarantined CSV row so that replay can name its fields. The
 * BOM and blank lines before the header are not part of it. */
const char *source_header_raw(const pm_source *src, size_t *len);
/* The field delimiter a CSV source reads with (asked for, or found in its
 * header row); 0 for the other formats. Kept with each quarantined CSV
 * row: its header alone does not always show it. */
char source_delimiter(const pm_source *src);

/* Parses one record's original bytes as source_next would have: NDJSON
 * with the JSON scanner; CSV against header (the raw header bytes from
 * source_header_raw; required for CSV), split at opts->delimiter (0: the
 * one the header holds most). rec gets the fields (allocated in
 * arena) and raw; a record that does not parse comes back PM_OK with
 * rec->malformed set, exactly as from source_next (same messages); a
 * header that does not parse is PM_ERR_PARSE, and so is a missing (NULL or
 * empty) one. opts may be NULL (defaults); its max_line applies as in
 * source_next (a longer record is malformed, over-long).
 *
 * rec's positions (offset, line, ...) are 0: the bytes alone do not know
 * them. Bytes that source_next could not have returned as one record are
 * malformed with their own message: an empty CSV row, or a line end
 * outside quotes. A raw that was cut (rec->raw_truncated from source_next)
 * parses as the prefix it is: re-read such a record from its source. */
pm_code source_parse_raw(pm_format fmt, const char *header, size_t header_len, const char *raw,
                         size_t raw_len, const pm_source_opts *opts, pm_arena *arena,
                         pm_record *rec, pm_err *err);

/* Identity of the input for checkpoints (transport_id): the absolute path
 * for a file, "stdin" for standard input. */
const char *source_id(const pm_source *src);
/* Total size in bytes if known (regular file), else 0: for progress. */
uint64_t source_size(const pm_source *src);
bool source_is_stdin(const pm_source *src);

/* "ndjson" / "jsonl" / "json" / "csv" / "tsv" from a name, or from a
 * file's extension (.ndjson, .jsonl, .json, .csv, .tsv; a compression
 * suffix such as .gz is looked through); false when neither says. */
bool source_format_parse(const char *name, pm_format *out);
bool source_format_from_path(const char *path, pm_format *out);
const char *source_format_name(pm_format f);

/* A CSV delimiter as a person writes it: , ; | or tab (also "\t", a tab
 * character, "comma", "semicolon", "pipe"); false for anything else. */
bool source_delimiter_parse(const char *name, char *out);

#endif
