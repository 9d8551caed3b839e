/* record.h - one record read from a source: its fields, its original bytes
 * and where it came from.
 *
 * Field names are the keys as they appear in the feed, with nested objects
 * flattened into `parent__child` paths (the schema module normalises them
 * into column names). A record that could not be parsed has `malformed` set
 * to the parser's message and no fields; its raw bytes are still there so
 * that it can be quarantined and nothing is lost. */
#ifndef PM_SOURCE_RECORD_H
#define PM_SOURCE_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "core/value.h"

typedef struct pm_field {
    const char *name; /* flattened key path, NUL-terminated, valid UTF-8 */
    size_t name_len;
    pm_value v;
    /* a member of a nested object (its name is a flattened path), not a
     * key of the record itself: `beak_length.mm` as {"beak_length":
     * {"mm": ..}} rather than a key "Beak Length (mm)" */
    unsigned char nested;
} pm_field;

typedef struct pm_record {
    pm_field *fields; /* all borrowed until the batch arena resets */
    size_t nfields;
    const char *raw; /* original bytes of the record, without the line end */
    size_t raw_len;
    uint64_t offset;       /* byte offset of the first byte of the record */
    uint64_t end;          /* byte offset just past the record and its line end */
    uint64_t line;         /* 1-based line number where the record starts */
    uint64_t next_line;    /* line number just after the record */
    const char *malformed; /* NULL, or why the record could not be read */
    uint64_t malformed_at; /* byte offset of the problem within raw */
    int raw_truncated;     /* raw holds only a prefix (line over the limit) */
    int unterminated;      /* the input ended inside this record (no line end):
                            * a producer may still be writing it */
} pm_record;

#endif
