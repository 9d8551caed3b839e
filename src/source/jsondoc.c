/* jsondoc.c - the JSON document decoder: a top-level array of objects, or
 * objects one after another (pretty-printed or not), streamed record by
 * record without holding the document.
 *
 * Feeds published as "JSON" are mostly one array of objects (vega-datasets,
 * REST exports), on one line or pretty-printed over many. The scanner here
 * only finds where each element starts and ends (strings, escapes and
 * nesting followed across reads of the source's buffer, so an element
 * costs one pass); the element's bytes then go through the same JSON
 * scanner and record builder as an NDJSON line, so a quarantined element
 * replays as an NDJSON line would (its bytes are one JSON object).
 *
 * Positions: a record ends after its separator (',' or the closing ']')
 * and the whitespace that follows, so a checkpoint is always where the
 * next element (or the end) starts; resuming there needs no state but
 * "inside an array", which the top of the input tells again.
 *
 * Which decoder reads a JSON input is decided at its top (json_sniff): an
 * array ('[') is read here; objects whose first one ends on its first line
 * are NDJSON and read by the line decoder (its error recovery is per line);
 * other objects (pretty-printed) are read here one after another. */
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "source/source_int.h"

typedef struct jd_ctx {
    bool in_array;   /* inside a top-level '[' */
    bool any;        /* a record was returned */
    bool warned_end; /* the input ended inside the array: said once */
} jd_ctx;

static inline jd_ctx *jx(pm_source *src)
{
    return src->state;
}

/* Where the scan of one value stands, across refills: positions are from
 * the value's first byte. */
typedef struct jd_scan {
    size_t pos;
    int depth;
    bool in_str;
    bool esc;
    bool started; /* the value's first byte was seen */
    bool scalar;  /* a number, true, false or null: ends at a delimiter */
    uint64_t newlines;
} jd_scan;

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Scans p[s->pos, n) of a value (p[0] is its first byte, or, once
 * started, the first byte not yet scanned of it). true when it ends:
 * s->pos is then just past its last byte. */
static bool jd_step(jd_scan *s, const char *p, size_t n)
{
    size_t i = s->pos;
    if (!s->started && i < n) {
        s->started = true;
        if (p[i] == '{' || p[i] == '[') {
            s->depth = 1;
            i++;
        } else if (p[i] == '"') {
            s->in_str = true;
            i++;
        } else if (p[i] == ',' || p[i] == ']' || p[i] == '}') {
            /* a stray separator: one byte of garbage, a malformed record */
            s->pos = i + 1;
            return true;
        } else {
            s->scalar = true;
        }
    }
    for (; i < n; i++) {
        char c = p[i];
        if (c == '\n')
            s->newlines++;
        if (s->in_str) {
            if (s->esc)
                s->esc = false;
            else if (c == '\\')
                s->esc = true;
            else if (c == '"') {
                s->in_str = false;
                if (s->depth == 0) {
                    s->pos = i + 1;
                    return true;
                }
            }
            continue;
        }
        if (s->scalar) {
            if (is_ws(c) || c == ',' || c == ']' || c == '}' || c == '[' || c == '{') {
                if (c == '\n')
                    s->newlines--; /* not part of the value */
                s->pos = i;
                return true;
            }
            continue;
        }
        if (c == '"') {
            s->in_str = true;
        } else if (c == '{' || c == '[') {
            s->depth++;
        } else if (c == '}' || c == ']') {
            if (--s->depth == 0) {
                s->pos = i + 1;
                return true;
            }
        }
    }
    s->pos = i;
    return false;
}

/* Skips whitespace (counting lines), reading more as needed; false at the
 * end of input. */
static pm_code jd_skip_ws(pm_source *src, bool *more, pm_err *err)
{
    for (;;) {
        while (src->beg < src->lim && is_ws(src->buf[src->beg])) {
            if (src->buf[src->beg] == '\n')
                src->line++;
            src->beg++;
        }
        if (src->beg < src->lim) {
            *more = true;
            return PM_OK;
        }
        if (src->eof) {
            *more = false;
            return PM_OK;
        }
        pm_code rc = source_fill(src, err);
        if (rc != PM_OK)
            return rc;
    }
}

/* After a value: whitespace, then the separator that follows it inside an
 * array (',' or the closing ']') and the whitespace after that. */
static pm_code jd_after(pm_source *src, pm_err *err)
{
    bool more;
    pm_code rc = jd_skip_ws(src, &more, err);
    if (rc != PM_OK || !more || !jx(src)->in_array)
        return rc;
    char c = src->buf[src->beg];
    if (c == ',' || c == ']') {
        src->beg++;
        if (c == ']')
            jx(src)->in_array = false;
        rc = jd_skip_ws(src, &more, err);
    }
    return rc;
}

static pm_code jd_next(pm_source *src, pm_arena *arena, pm_record *rec, pm_err *err)
{
    jd_ctx *c = jx(src);
    for (;;) {
        bool more;
        pm_code rc = jd_skip_ws(src, &more, err);
        if (rc != PM_OK)
            return rc;
        if (!more) {
            if (c->in_array && c->any && !c->warned_end) {
                c->warned_end = true;
                pm_warn("%s ends before the closing ] of its JSON array: it may still be being "
                        "written",
                        src->tr->label);
            }
            return PM_DONE;
        }
        char ch = src->buf[src->beg];
        if (c->in_array && (ch == ',' || ch == ']')) {
            src->beg++;
            if (ch == ']')
                c->in_array = false;
            continue;
        }
        if (!c->in_array && ch == '[') {
            src->beg++;
            c->in_array = true;
            continue;
        }

        rec->offset = src->base + src->beg;
        rec->line = src->line;
        jd_scan s = {0};
        size_t len;
        for (;;) {
            const char *p = src->buf + src->beg;
            size_t avail = src->lim - src->beg;
            if (jd_step(&s, p, avail)) {
                len = s.pos;
                break;
            }
            if (src->eof) {
                len = avail;
                rec->unterminated = 1;
                break;
            }
            if (avail >= src->max_line + 2) {
                source_overlong(src->max_line, arena, rec, p, avail, "JSON array element");
                /* the rest is read and thrown away, its nesting followed */
                for (;;) {
                    src->beg = src->lim;
                    s.pos = 0;
                    if (src->eof)
                        break;
                    rc = source_fill(src, err);
                    if (rc != PM_OK)
                        return rc;
                    if (jd_step(&s, src->buf + src->beg, src->lim - src->beg)) {
                        src->beg += s.pos;
                        break;
                    }
                }
                src->line += s.newlines;
                rc = jd_after(src, err);
                if (rc != PM_OK)
                    return rc;
                rec->end = src->base + src->beg;
                rec->next_line = src->line;
                c->any = true;
                return PM_OK;
            }
            rc = source_fill(src, err);
            if (rc != PM_OK)
                return rc;
        }
        const char *p = src->buf + src->beg;
        /* built before the buffer moves (jd_after may read more) */
        ndjson_decoder.parse_raw(NULL, 0, p, len, src->max_line, 0, &src->json, arena, rec, err);
        src->beg += len;
        src->line += s.newlines;
        rc = jd_after(src, err);
        if (rc != PM_OK)
            return rc;
        rec->end = src->base + src->beg;
        rec->next_line = src->line;
        c->any = true;
        return PM_OK;
    }
}

/* An element's bytes are one JSON object, as an NDJSON line's are. */
static pm_code jd_parse_raw(const char *header, size_t header_len, const char *raw, size_t raw_len,
                            size_t max_line, char delimiter, const jscan_opts *json,
                            pm_arena *arena, pm_record *rec, pm_err *err)
{
    return ndjson_decoder.parse_raw(header, header_len, raw, raw_len, max_line, 0, json, arena, rec,
                                    err);
}

/* At the top: an array's '[' is taken here, so that a run resuming after
 * a checkpoint (always between elements) knows it is inside the array. */
static pm_code jd_start(pm_source *src, pm_err *err)
{
    src->state = pm_xcalloc(1, sizeof(jd_ctx));
    bool more;
    pm_code rc = jd_skip_ws(src, &more, err);
    if (rc == PM_OK && more && src->buf[src->beg] == '[') {
        src->beg++;
        jx(src)->in_array = true;
    }
    return rc;
}

static void jd_close(pm_source *src)
{
    free(src->state);
    src->state = NULL;
}

const source_decoder json_decoder = {
    .fmt = PM_FMT_JSON,
    .start = jd_start,
    .next = jd_next,
    .parse_raw = jd_parse_raw,
    .close = jd_close,
};

/* What the top of a JSON input is: an array, NDJSON (the first object
 * ends on its first line), or something else (pretty-printed objects,
 * or not JSON at all). Reads at most the first buffer. */
json_shape json_sniff(pm_source *src, pm_err *err)
{
    size_t at = src->beg;
    for (;;) {
        while (at < src->lim && is_ws(src->buf[at]))
            at++;
        if (at < src->lim || src->eof)
            break;
        size_t off = at - src->beg;
        if (source_fill(src, err) != PM_OK)
            return JSON_SHAPE_ERROR;
        at = src->beg + off;
        if (src->lim - src->beg >= src->cap_max)
            break;
    }
    if (at >= src->lim)
        return JSON_SHAPE_EMPTY;
    if (src->buf[at] == '[')
        return JSON_SHAPE_ARRAY;
    if (src->buf[at] != '{')
        return JSON_SHAPE_OTHER;
    jd_scan s = {0};
    for (;;) {
        size_t off = at - src->beg;
        if (jd_step(&s, src->buf + at, src->lim - at))
            return s.newlines == 0 ? JSON_SHAPE_LINES : JSON_SHAPE_OBJECTS;
        if (s.newlines > 0)
            return JSON_SHAPE_OBJECTS;
        if (src->eof || src->lim - src->beg >= src->cap_max)
            return JSON_SHAPE_LINES;
        if (source_fill(src, err) != PM_OK)
            return JSON_SHAPE_ERROR;
        at = src->beg + off;
    }
}
