/* ndjson.c - the NDJSON decoder: one JSON object per line.
 *
 * Line ends are found with memchr over the source's buffer, and each line
 * goes to the JSON scanner (jscan.c) straight from it; nothing is
 * allocated per record but in the caller's batch arena. Empty and
 * all-whitespace lines are not rows and are skipped. A line longer than
 * max_line is malformed with its first bytes kept, and the rest of it is
 * skipped in read-sized pieces. */
#include <string.h>

#include "source/source_int.h"

static bool is_blank(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r')
            return false;
    return true;
}

/* Skips the rest of an over-long line without keeping it: each read lands
 * at the front of the buffer and is searched for the line end. */
static pm_code ndjson_skip_line(pm_source *src, pm_err *err)
{
    for (;;) {
        src->beg = src->lim;
        if (src->eof)
            return PM_OK;
        pm_code rc = source_fill(src, err);
        if (rc != PM_OK)
            return rc;
        char *nl = memchr(src->buf + src->beg, '\n', src->lim - src->beg);
        if (nl) {
            src->beg = (size_t)(nl - src->buf) + 1;
            src->line++;
            return PM_OK;
        }
    }
}

/* Turns one line (p[0, len), line end excluded) into rec: its bytes copied
 * into arena and its fields, or why it is malformed. Shared by source_next
 * and source_parse_raw so that a replayed line parses exactly as it did;
 * inlined by force for the hot path, as csv_build is. */
static inline __attribute__((always_inline)) void ndjson_build(const jscan_opts *json,
                                                               size_t max_line, const char *p,
                                                               size_t len, pm_arena *arena,
                                                               pm_record *rec)
{
    if (len > max_line) {
        source_overlong(max_line, arena, rec, p, len, "line");
        return;
    }
    char *raw = pm_arena_strndup(arena, p, len);
    rec->raw = raw;
    rec->raw_len = len;
    pm_err e; /* only code and msg are read: clearing all 1.5 KB per line cost 1% */
    e.code = PM_OK;
    e.msg[0] = '\0';
    if (jscan_record(raw, len, json, arena, rec, &e) != PM_OK) {
        /* Whatever the scanner's reason, it is this record's problem, not
         * the run's: quarantine it with the message. */
        rec->malformed = pm_arena_strdup(arena, e.msg[0] ? e.msg : "malformed JSON");
        rec->fields = NULL;
        rec->nfields = 0;
    }
}

static pm_code ndjson_next(pm_source *src, pm_arena *arena, pm_record *rec, pm_err *err)
{
    size_t scanned = 0; /* bytes after beg already known to hold no '\n' */
    for (;;) {
        const char *start = src->buf + src->beg;
        size_t avail = src->lim - src->beg;
        const char *nl = memchr(start + scanned, '\n', avail - scanned);
        size_t len, term;
        if (nl) {
            len = (size_t)(nl - start);
            term = 1;
        } else if (src->eof) {
            if (avail == 0)
                return PM_DONE;
            len = avail;
            term = 0;
        } else if (avail >= src->max_line + 2) {
            /* No line end within max_line + CRLF: too long whatever follows. */
            rec->offset = src->base + src->beg;
            rec->line = src->line;
            source_overlong(src->max_line, arena, rec, start, avail, "line");
            pm_code rc = ndjson_skip_line(src, err);
            if (rc != PM_OK)
                return rc;
            rec->end = src->base + src->beg;
            rec->next_line = src->line;
            return PM_OK;
        } else {
            scanned = avail;
            pm_code rc = source_fill(src, err);
            if (rc != PM_OK)
                return rc;
            continue;
        }

        uint64_t offset = src->base + src->beg;
        uint64_t line = src->line;
        src->beg += len + term;
        src->line += term;
        size_t raw_len = len;
        if (raw_len && start[raw_len - 1] == '\r')
            raw_len--;
        if (raw_len == 0 || ((unsigned char)start[0] <= ' ' && is_blank(start, raw_len))) {
            scanned = 0;
            continue;
        }

        rec->offset = offset;
        rec->end = src->base + src->beg;
        rec->next_line = src->line;
        rec->line = line;
        rec->unterminated = !term;
        ndjson_build(&src->json, src->max_line, start, raw_len, arena, rec);
        return PM_OK;
    }
}

static pm_code ndjson_parse_raw(const char *header, size_t header_len, const char *raw,
                                size_t raw_len, size_t max_line, char delimiter,
                                const jscan_opts *json, pm_arena *arena, pm_record *rec,
                                pm_err *err)
{
    ndjson_build(json, max_line, raw, raw_len, arena, rec);
    return PM_OK;
}

const source_decoder ndjson_decoder = {
    .fmt = PM_FMT_NDJSON,
    .next = ndjson_next,
    .parse_raw = ndjson_parse_raw,
};
