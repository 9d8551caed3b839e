/* jscan.h - pipemend's own JSON record scanner, the data plane's parser.
 *
 * It parses one NDJSON line (one object) straight into a flat field list:
 * strings unescaped into the batch arena, numbers kept as their exact
 * literal text, nested objects flattened to `parent__child` names up to
 * `flatten_depth`, arrays (and objects deeper than that) kept as their JSON
 * text. It validates as strictly as RFC 8259 and jansson: UTF-8 everywhere,
 * no trailing commas, no leading zeros, no control characters in strings,
 * no lone surrogates, bounded nesting depth, and duplicate keys rejected
 * (a record with two values for one field is ambiguous; it is quarantined
 * rather than resolved by a guess).
 *
 * Also malformed: two fields whose flattened names collide
 * ({"a__b":1,"a":{"b":2}}), and keys containing \u0000 (a field name is a C
 * string). Depth counts the record's own object as level 1; objects at
 * levels up to flatten_depth are flattened (a negative flatten_depth
 * flattens nothing; a negative max_depth means the default).
 *
 * Generic JSON parsing for the control plane uses jansson; this scanner
 * exists because it must be several times faster (see bench/). */
#ifndef PM_SOURCE_JSCAN_H
#define PM_SOURCE_JSCAN_H

#include <stddef.h>

#include <stdbool.h>

#include "core/arena.h"
#include "core/err.h"
#include "source/record.h"

/* A memo of the keys of the last record scanned (their bytes, each known
 * to be a valid string without escapes), so that a key repeating the one
 * at its place in the last record is taken without validating it again:
 * NDJSON records mostly repeat their keys. One per stream of records and
 * thread; jscan_record keeps it. Records never point into it. */
typedef struct jscan_memo jscan_memo;
jscan_memo *jscan_memo_new(void); /* caller frees with jscan_memo_free */
void jscan_memo_free(jscan_memo *m);

typedef struct jscan_opts {
    int max_depth;     /* nesting deeper than this is malformed (default 64) */
    int flatten_depth; /* objects nested up to this level are flattened (default 8) */
    /* May be NULL. Asked for each object that would be flattened, with the
     * field name it would be flattened under (name[0..len), the path so
     * far): true keeps the object whole as one field (PM_V_OBJECT, its
     * JSON text), for a table whose column of that name holds JSON. */
    bool (*keep_whole)(void *arg, const char *name, size_t len);
    void *keep_arg;
    jscan_memo *memo; /* may be NULL; borrowed */
} jscan_opts;

/* Parses s[0..n) as one JSON object into rec->fields / rec->nfields,
 * allocating from arena. On malformed input returns PM_ERR_PARSE with
 * err->msg saying what is wrong and rec->malformed_at the byte offset
 * (rec->fields is then empty) and rec->malformed an arena copy of the
 * message (NULL on success). Does not touch rec->raw/offset/line.
 * A top-level value that is not an object is malformed. */
pm_code jscan_record(const char *s, size_t n, const jscan_opts *opts, pm_arena *arena,
                     pm_record *rec, pm_err *err);

#endif
