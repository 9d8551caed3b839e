/* source_int.h - what the decoders share with source.c, private to the
 * source part: the source's read buffer over its transport, and the table
 * of calls each decoder (ndjson.c, csv.c) answers.
 *
 * The buffer belongs to the source, not to the decoder, so that a decoder
 * is only a scanner: it finds records in buf[beg, lim), consumes them by
 * moving beg, and calls source_fill when it needs more. source_fill asks
 * the transport for one large read (a MiB) at a time: the one indirect
 * call per read is all the transport costs the hot path. */
#ifndef PM_SOURCE_SOURCE_INT_H
#define PM_SOURCE_SOURCE_INT_H

#include "source/source.h"
#include "source/transport.h"

#define SOURCE_READ_SIZE ((size_t)1 << 20)
#define SOURCE_RAW_PREFIX 4096 /* bytes kept of an over-long record */
#define SOURCE_MAX_LINE_DEFAULT ((size_t)16 << 20)

/* A decoder: how one format's bytes become records. */
typedef struct source_decoder {
    pm_format fmt;
    /* Reads what comes before the first record (a CSV header) from the
     * top of the input, after the BOM; may be NULL. */
    pm_code (*start)(pm_source *src, pm_err *err);
    /* The next record, as source_next. */
    pm_code (*next)(pm_source *src, pm_arena *arena, pm_record *rec, pm_err *err);
    /* One record from its bytes, as source_parse_raw (max_line already
     * resolved from the options; delimiter: CSV's, 0 for the one the
     * header holds most). */
    pm_code (*parse_raw)(const char *header, size_t header_len, const char *raw, size_t raw_len,
                         size_t max_line, char delimiter, const jscan_opts *json, pm_arena *arena,
                         pm_record *rec, pm_err *err);
    /* Frees the decoder's state (src->state); may be NULL. */
    void (*close)(pm_source *src);
} source_decoder;

extern const source_decoder ndjson_decoder;
extern const source_decoder csv_decoder;
extern const source_decoder json_decoder;

struct pm_source {
    pm_transport *tr; /* owned */
    const source_decoder *dec;
    void *state; /* the decoder's own, freed by its close */
    bool eof;
    int codec;           /* compress_codec of the input (compress.h): 0 when plain */
    int shape;           /* json_shape of a JSON or NDJSON input's top (below) */
    char delimiter;      /* CSV: opts->delimiter, or tab for TSV; 0: sniff */
    char delimiter_used; /* CSV: the one it reads with (source_delimiter) */
    pm_format fmt;       /* as asked for (the decoder may differ: JSON shapes) */
    /* What the top of the input looks like when that is not what the
     * format expects (source_looks_like), with what to do; "" when it
     * looks right. Static strings. */
    const char *looks;
    const char *looks_hint;
    size_t max_line;
    jscan_opts json;

    /* The read buffer: buf[beg, lim) is read but not yet consumed, and buf[0]
     * is byte `base` of the input. */
    char *buf; /* owned */
    size_t cap;
    size_t cap_max; /* max(SOURCE_READ_SIZE, max_line + 2) */
    size_t beg;
    size_t lim;
    uint64_t base;
    uint64_t line;       /* line number of buf[beg] */
    uint64_t start_line; /* opts->start_line */

    /* The bytes before the records that a record needs to be parsed again
     * (CSV: the header row as read, BOM and line end excluded; kept with
     * quarantined rows, see source_header_raw). */
    char *header_raw; /* owned */
    size_t header_raw_len;
};

/* Moves the unconsumed bytes to the front, grows the buffer if a single
 * record already fills it, and reads once. Sets eof at the end of input. */
pm_code source_fill(pm_source *src, pm_err *err);

/* Fills in an over-long record: the first bytes (not splitting a UTF-8
 * sequence), and the message that tells the operator what to change. */
void source_overlong(size_t max_line, pm_arena *arena, pm_record *rec, const char *p, size_t avail,
                     const char *what);

/* What the top of a JSON input is (jsondoc.c), from its first bytes. */
typedef enum json_shape {
    JSON_SHAPE_EMPTY,   /* nothing but whitespace */
    JSON_SHAPE_ARRAY,   /* '[': an array of records */
    JSON_SHAPE_LINES,   /* an object that ends on its first line: NDJSON */
    JSON_SHAPE_OBJECTS, /* an object over several lines: pretty-printed */
    JSON_SHAPE_OTHER,   /* anything else: not a JSON document of records */
    JSON_SHAPE_ERROR,   /* the input could not be read (err set) */
} json_shape;

/* Looks at the top of src's input (after the BOM) without consuming it. */
json_shape json_sniff(pm_source *src, pm_err *err);

#endif
