/* csv.c - the CSV decoder: RFC 4180 rows under a header row, with the
 * delimiter , ; tab or | (asked for, or the one the header holds most).
 *
 * The scanner is a small state machine whose common state (an unquoted
 * field) is a tight table-driven loop; it keeps its state across refills
 * of the source's buffer, so a record that spans several reads is scanned
 * once. The header row is read from the top of the input when the source
 * starts (names unescaped, validated as UTF-8, no NUL byte); empty lines
 * between rows are skipped like empty NDJSON lines, since pandas, DuckDB
 * and spreadsheets all drop them and a trailing blank line is common;
 * field values are copied into the arena NUL-terminated, so consumers may
 * use either len or C string functions.
 *
 * Replay: csv_parse_raw runs one record's bytes (and the header row's
 * bytes kept with it) through the same scanner and the same record
 * builder as the file path, so a replayed row gets the fields, NULLs and
 * malformed messages it got when it was read. The only difference is at
 * the record's end: its line end is already cut off, so a '\r' left there
 * is data (see csv_finish). */
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/utf8.h"
#include "source/source_int.h"

#define CSV_MAX_COLUMNS 65536 /* far above any database's limit (PostgreSQL: 1600) */

/* One CSV field inside the record being scanned, as offsets from the
 * record's first byte. For a quoted field [start, end) is the text between
 * the quotes, still holding its doubled quotes when `escaped` is set. */
typedef struct csv_span {
    size_t start;
    size_t end;
    unsigned char quoted;
    unsigned char escaped;
} csv_span;

typedef enum csv_state {
    CSV_FIELD_START, /* at the first byte of a field */
    CSV_UNQUOTED,
    CSV_QUOTED,
    CSV_QUOTE,    /* just saw '"' inside a quoted field: an escape or the close */
    CSV_QUOTE_CR, /* closing quote then '\r': only '\n' may follow */
    CSV_GARBAGE,  /* bytes after a closing quote; the record is malformed */
} csv_state;

typedef enum csv_problem { CSV_OK, CSV_BARE_QUOTE, CSV_AFTER_QUOTE, CSV_UNTERMINATED } csv_problem;

/* Scanner state for one CSV record. It survives refills of the buffer (the
 * record keeps its bytes, only their address moves), so a record that spans
 * several reads is scanned once. */
typedef struct csv_scan {
    csv_state state;
    size_t pos;          /* next byte to scan, from the record's start */
    uint64_t newlines;   /* '\n' inside quoted fields: the record spans lines */
    size_t nfields;      /* fields completed so far */
    csv_span cur;        /* the field being scanned */
    csv_problem problem; /* the first one only */
    size_t problem_at;
    size_t problem_field; /* 1-based */
} csv_scan;

/* Field spans of the record being scanned. At most `limit` are kept
 * (CSV_MAX_COLUMNS + 1 while the header is read, the header's width + 1
 * after it: one more is enough to know a row is too long); the rest are
 * only counted. */
typedef struct csv_spans {
    csv_span *v; /* owned */
    size_t cap;
    size_t limit;
    char delim;                 /* the field delimiter: , ; tab or | */
    unsigned char special[256]; /* bytes that end a run of an unquoted field */
} csv_spans;

/* The header's names, unescaped and packed NUL-terminated: the one copy that
 * every record's field names are copied from. */
typedef struct csv_header {
    size_t ncols;
    char *names; /* owned */
    size_t names_len;
    size_t *name_off; /* owned */
    size_t *name_len; /* owned */
} csv_header;
/* The decoder's state in a source (src->state). */
typedef struct csv_ctx {
    csv_header hdr;
    csv_spans spans;
} csv_ctx;

static inline csv_ctx *cx(pm_source *src)
{
    return src->state;
}

static void csv_spans_delim(csv_spans *sp, char delim)
{
    sp->delim = delim;
    memset(sp->special, 0, sizeof sp->special);
    sp->special['\n'] = sp->special['"'] = sp->special[(unsigned char)delim] = 1;
}

/* The delimiter a header row uses, from its bytes p[0, n) (the first line
 * is enough): the one of , ; tab | that occurs most often outside quotes,
 * ',' on a tie or when none does. */
static char csv_sniff(const char *p, size_t n)
{
    static const char cand[] = {',', '\t', ';', '|'};
    size_t count[sizeof cand] = {0};
    bool quoted = false;
    for (size_t i = 0; i < n && (quoted || p[i] != '\n'); i++) {
        if (p[i] == '"')
            quoted = !quoted;
        else if (!quoted)
            for (size_t k = 0; k < sizeof cand; k++)
                count[k] += p[i] == cand[k];
    }
    size_t best = 0;
    for (size_t k = 1; k < sizeof cand; k++)
        if (count[k] > count[best])
            best = k;
    return cand[best];
}

static void csv_scan_init(csv_scan *sc)
{
    memset(sc, 0, sizeof *sc);
    sc->state = CSV_FIELD_START;
}

static void csv_problem_at(csv_scan *sc, csv_problem what, size_t at)
{
    if (sc->problem != CSV_OK)
        return;
    sc->problem = what;
    sc->problem_at = at;
    sc->problem_field = sc->nfields + 1;
}

static void csv_push(csv_spans *sp, csv_scan *sc, bool keep)
{
    if (keep && sc->nfields < sp->limit) {
        if (sc->nfields == sp->cap) {
            size_t ncap = sp->cap ? sp->cap * 2 : 16;
            if (ncap > sp->limit)
                ncap = sp->limit;
            sp->v = pm_xrealloc(sp->v, ncap * sizeof *sp->v);
            sp->cap = ncap;
        }
        sp->v[sc->nfields] = sc->cur;
    }
    sc->nfields++;
}

/* Scans p[sc->pos, n), where p is the record's first byte. Returns true when
 * the record's terminating '\n' is found (at p[sc->pos]). With keep false
 * (skipping an over-long record) p is just the current piece of input and
 * spans are not recorded; only the quote state matters then. */
static bool csv_step(csv_spans *sp, csv_scan *sc, const char *p, size_t n, bool keep)
{
    size_t i = sc->pos;
    csv_state st = sc->state;
    while (i < n) {
        switch (st) {
        case CSV_FIELD_START:
            sc->cur.start = i;
            sc->cur.quoted = 0;
            sc->cur.escaped = 0;
            if (p[i] == '"') {
                sc->cur.start = i + 1;
                sc->cur.quoted = 1;
                st = CSV_QUOTED;
                i++;
                break;
            }
            st = CSV_UNQUOTED;
            /* fall through: p[i] is the field's first byte */
        case CSV_UNQUOTED:
            while (i < n && !sp->special[(unsigned char)p[i]])
                i++;
            if (i == n)
                break;
            if (p[i] == '"') {
                /* A quote inside an unquoted field (5'10" tall) is not RFC
                 * 4180. It stays literal so the row boundary is where a
                 * reader would see it; the row itself is malformed. */
                csv_problem_at(sc, CSV_BARE_QUOTE, i);
                i++;
                break;
            }
            sc->cur.end = i;
            if (p[i] == '\n' && keep && i > sc->cur.start && p[i - 1] == '\r')
                sc->cur.end = i - 1;
            csv_push(sp, sc, keep);
            if (p[i] == '\n')
                goto record_end;
            st = CSV_FIELD_START;
            i++;
            break;
        case CSV_QUOTED:
            while (i < n && p[i] != '"') {
                if (p[i] == '\n')
                    sc->newlines++;
                i++;
            }
            if (i == n)
                break;
            sc->cur.end = i;
            st = CSV_QUOTE;
            i++;
            break;
        case CSV_QUOTE:
            if (p[i] == '"') {
                sc->cur.escaped = 1;
                st = CSV_QUOTED;
                i++;
            } else if (p[i] == sp->delim) {
                csv_push(sp, sc, keep);
                st = CSV_FIELD_START;
                i++;
            } else if (p[i] == '\n') {
                csv_push(sp, sc, keep);
                goto record_end;
            } else if (p[i] == '\r') {
                st = CSV_QUOTE_CR;
                i++;
            } else {
                csv_problem_at(sc, CSV_AFTER_QUOTE, i);
                st = CSV_GARBAGE;
                i++;
            }
            break;
        case CSV_QUOTE_CR:
            if (p[i] == '\n') {
                csv_push(sp, sc, keep);
                goto record_end;
            }
            csv_problem_at(sc, CSV_AFTER_QUOTE, i - 1);
            st = CSV_GARBAGE; /* p[i] is looked at again there */
            break;
        case CSV_GARBAGE:
            while (i < n && p[i] != sp->delim && p[i] != '\n')
                i++;
            if (i == n)
                break;
            csv_push(sp, sc, keep);
            if (p[i] == '\n')
                goto record_end;
            st = CSV_FIELD_START;
            i++;
            break;
        }
    }
    sc->pos = i;
    sc->state = st;
    return false;
record_end:
    sc->pos = i;
    sc->state = st;
    return true;
}

/* Closes the last field of a record that ends at p[n]. At the end of input
 * a final '\r' is the line end (a CR-terminated last line), not data. A
 * record whose line end was already cut off (source_parse_raw: rec->raw)
 * passes line_end_cut: a '\r' left at its end was before the line end in
 * the input, so it is data there too (the file path keeps it in the field
 * as well: "x\r\r\n" holds "x\r"), or after a closing quote, garbage. */
static void csv_finish(csv_spans *sp, csv_scan *sc, const char *p, size_t n, bool line_end_cut)
{
    switch (sc->state) {
    case CSV_FIELD_START:
        sc->cur.start = sc->cur.end = n;
        sc->cur.quoted = sc->cur.escaped = 0;
        break;
    case CSV_UNQUOTED:
        sc->cur.end = n;
        if (!line_end_cut && n > sc->cur.start && p[n - 1] == '\r')
            sc->cur.end = n - 1;
        break;
    case CSV_QUOTED:
        csv_problem_at(sc, CSV_UNTERMINATED, sc->cur.start - 1);
        sc->cur.end = n;
        break;
    case CSV_QUOTE_CR:
        if (line_end_cut)
            csv_problem_at(sc, CSV_AFTER_QUOTE, n - 1);
        break;
    case CSV_QUOTE:
    case CSV_GARBAGE:
        break;
    }
    csv_push(sp, sc, true);
}

/* Where the next CSV record lies, once csv_find has found it. */
typedef struct csv_found {
    size_t len;    /* bytes from buf[beg], line end excluded (CR too) */
    size_t term;   /* bytes of the line end (CR and LF) to consume after it */
    bool newline;  /* ended by '\n' rather than by the end of input */
    bool overlong; /* no end within max_line + 2 bytes: buf[beg, lim) is its prefix */
} csv_found;

/* Scans the next record into sc and cx(src)->spans, reading more as needed.
 * PM_DONE when no bytes are left. */
static pm_code csv_find(pm_source *src, csv_scan *sc, csv_found *f, pm_err *err)
{
    csv_scan_init(sc);
    memset(f, 0, sizeof *f);
    for (;;) {
        const char *p = src->buf + src->beg;
        size_t avail = src->lim - src->beg;
        size_t n;
        if (csv_step(&cx(src)->spans, sc, p, avail, true)) {
            n = sc->pos;
            f->term = 1;
            f->newline = true;
        } else if (src->eof) {
            if (avail == 0)
                return PM_DONE;
            n = avail;
            csv_finish(&cx(src)->spans, sc, p, n, false);
        } else if (avail >= src->max_line + 2) {
            f->overlong = true;
            return PM_OK;
        } else {
            pm_code rc = source_fill(src, err);
            if (rc != PM_OK)
                return rc;
            continue;
        }
        /* A CR before the line end belongs to the line end, unless it is
         * inside a quoted field left open at the end of input. */
        if (n > 0 && p[n - 1] == '\r' && !(!f->newline && sc->state == CSV_QUOTED)) {
            n--;
            f->term++;
        }
        f->len = n;
        return PM_OK;
    }
}

/* Skips the rest of an over-long CSV record, following its quotes so that
 * a newline inside a quoted field does not end it. *closed: the record
 * ended (false: the input ended first, inside a quote); *first_nl: the
 * byte just past the record's first '\n' (0: none seen). */
static pm_code csv_skip_record(pm_source *src, csv_scan *sc, bool *closed, uint64_t *first_nl,
                               pm_err *err)
{
    *closed = false;
    *first_nl = 0;
    for (;;) {
        const char *nl = *first_nl ? NULL : memchr(src->buf + src->beg, '\n', src->lim - src->beg);
        if (nl)
            *first_nl = src->base + (uint64_t)(nl - src->buf) + 1;
        src->beg = src->lim;
        if (src->eof)
            return PM_OK;
        pm_code rc = source_fill(src, err);
        if (rc != PM_OK)
            return rc;
        sc->pos = 0;
        if (csv_step(&cx(src)->spans, sc, src->buf + src->beg, src->lim - src->beg, false)) {
            if (!*first_nl)
                *first_nl = src->base + src->beg + sc->pos + 1;
            src->beg += sc->pos + 1;
            src->line += sc->newlines + 1;
            *closed = true;
            return PM_OK;
        }
    }
}

/* Moves a seekable source back to byte off (line: its line number) and
 * buffers until its first line end, max_line + 2 bytes, or the end. */
static pm_code csv_rewind(pm_source *src, uint64_t off, uint64_t line, pm_err *err)
{
    pm_code rc = src->tr->ops->seek(src->tr, off, err);
    src->beg = src->lim = 0;
    src->base = off;
    src->eof = false;
    src->line = line;
    while (!rc && !src->eof && src->lim < src->max_line + 2 && !memchr(src->buf, '\n', src->lim))
        rc = source_fill(src, err);
    return rc;
}

static const char *csv_problem_text(csv_problem p)
{
    switch (p) {
    case CSV_BARE_QUOTE:
        return "unexpected quote in unquoted field";
    case CSV_AFTER_QUOTE:
        return "unexpected character after closing quote in field";
    case CSV_UNTERMINATED:
        return "unterminated quoted field";
    case CSV_OK:
        break;
    }
    return "malformed field";
}

/* Copies span s of record p into out, undoing doubled quotes; returns the
 * length written (a NUL follows). */
static size_t csv_unquote(const char *p, const csv_span *s, char *out)
{
    size_t n = s->end - s->start;
    if (!s->escaped) {
        memcpy(out, p + s->start, n);
        out[n] = '\0';
        return n;
    }
    size_t o = 0;
    for (size_t i = s->start; i < s->end; i++) {
        out[o++] = p[i];
        if (p[i] == '"')
            i++; /* the second quote of the pair */
    }
    out[o] = '\0';
    return o;
}

/* The field (1-based) holding byte at of the record. Only ASCII separates
 * fields, so an invalid UTF-8 byte always lies inside one. */
static size_t csv_field_of(const csv_spans *sp, size_t nspans, size_t at)
{
    for (size_t i = 0; i < nspans; i++)
        if (at <= sp->v[i].end)
            return i + 1;
    return nspans;
}

static void csv_header_free(csv_header *h)
{
    free(h->names);
    free(h->name_off);
    free(h->name_len);
    memset(h, 0, sizeof *h);
}

/* Checks the header row p[0, len), already scanned into sc and sp, and
 * unpacks its names into h; the caller frees h with csv_header_free, after
 * a failure too. path names the input in messages: NULL for a header given
 * as bytes (source_parse_raw). */
static pm_code csv_header_parse(csv_header *h, const csv_spans *sp, const csv_scan *sc,
                                const char *p, size_t len, size_t max_line, const char *path,
                                pm_err *err)
{
    const char *of = path ? " of " : "", *in = path ? " in " : "", *name = path ? path : "";
    if (len > max_line) {
        pm_err_set(err, PM_ERR_PARSE, "CSV header%s%s exceeds max_line_bytes (%zu bytes)", of, name,
                   max_line);
        pm_err_hint(err, "raise defaults.max_line_bytes in pipemend.yaml");
        return PM_ERR_PARSE;
    }
    if (sc->problem != CSV_OK) {
        pm_err_set(err, PM_ERR_PARSE, "malformed CSV header%s%s: %s %zu at byte %zu", in, name,
                   csv_problem_text(sc->problem), sc->problem_field, sc->problem_at);
        return PM_ERR_PARSE;
    }
    if (sc->nfields > CSV_MAX_COLUMNS) {
        pm_err_set(err, PM_ERR_PARSE, "CSV header%s%s has %zu columns, more than %d", in, name,
                   sc->nfields, CSV_MAX_COLUMNS);
        return PM_ERR_PARSE;
    }
    size_t bad = pm_utf8_check(p, len);
    if (bad < len) {
        pm_err_set(err, PM_ERR_PARSE, "invalid UTF-8 in CSV header%s%s, column %zu at byte %zu", of,
                   name, csv_field_of(sp, sc->nfields, bad), bad);
        pm_err_hint(err, "convert the file to UTF-8 (for example with iconv)");
        return PM_ERR_PARSE;
    }

    h->ncols = sc->nfields;
    h->names = pm_xmalloc(len + h->ncols);
    h->name_off = pm_xmalloc(h->ncols * sizeof *h->name_off);
    h->name_len = pm_xmalloc(h->ncols * sizeof *h->name_len);
    size_t o = 0;
    for (size_t i = 0; i < h->ncols; i++) {
        size_t n = csv_unquote(p, &sp->v[i], h->names + o);
        if (memchr(h->names + o, '\0', n)) {
            pm_err_set(err, PM_ERR_PARSE, "CSV header%s%s: column %zu has a NUL byte in its name",
                       of, name, i + 1);
            return PM_ERR_PARSE;
        }
        h->name_off[i] = o;
        h->name_len[i] = n;
        o += n + 1;
    }
    h->names_len = o;
    return PM_OK;
}

/* The delimiter: the one asked for, else the one the header row holds
 * most (csv_sniff), from the first line that is not empty. */
static pm_code csv_pick_delim(pm_source *src, pm_err *err)
{
    char d = src->delimiter;
    while (!d) {
        const char *p = src->buf + src->beg;
        size_t n = src->lim - src->beg, k = 0;
        while (k < n && (p[k] == '\n' || p[k] == '\r'))
            k++;
        if (memchr(p + k, '\n', n - k) || src->eof || n >= src->cap_max) {
            d = csv_sniff(p + k, n - k);
            break;
        }
        pm_code rc = source_fill(src, err);
        if (rc != PM_OK)
            return rc;
    }
    csv_spans_delim(&cx(src)->spans, d);
    src->delimiter_used = d;
    return PM_OK;
}

static const char *csv_delim_name(char d)
{
    switch (d) {
    case '\t':
        return "tab";
    case ';':
        return ";";
    case '|':
        return "|";
    }
    return ",";
}

/* A header that is one column holding another delimiter is a file read
 * with the wrong one: loading it would make a one-column table of whole
 * lines. */
static pm_code csv_one_column(pm_source *src, const char *path, const char *p, size_t len,
                              pm_err *err)
{
    static const char cand[] = {',', '\t', ';', '|'};
    if (cx(src)->hdr.ncols != 1)
        return PM_OK;
    for (size_t k = 0; k < sizeof cand; k++) {
        if (cand[k] == cx(src)->spans.delim || !memchr(p, cand[k], len))
            continue;
        pm_err_set(err, PM_ERR_PARSE,
                   "the CSV header of %s is one column that holds '%s' (read with delimiter "
                   "'%s'): the rows would load as whole lines into one column",
                   path, cand[k] == '\t' ? "\\t" : csv_delim_name(cand[k]),
                   cx(src)->spans.delim == '\t' ? "\\t" : csv_delim_name(cx(src)->spans.delim));
        pm_err_hint(err,
                    "pass --delimiter '%s' (delimiter: in a pipeline), or leave the delimiter "
                    "out to tell it from the header",
                    csv_delim_name(cand[k]));
        return PM_ERR_PARSE;
    }
    return PM_OK;
}

static pm_code csv_read_header(pm_source *src, const char *path, pm_err *err)
{
    pm_code prc = csv_pick_delim(src, err);
    if (prc != PM_OK)
        return prc;
    cx(src)->spans.limit = CSV_MAX_COLUMNS + 1;
    csv_scan sc;
    csv_found f;
    const char *p;
    for (;;) {
        pm_code rc = csv_find(src, &sc, &f, err);
        if (rc == PM_DONE) {
            pm_err_set(err, PM_ERR_PARSE, "%s has no CSV header row: the file is empty", path);
            pm_err_hint(err, "a CSV source needs a first row naming its columns");
            return PM_ERR_PARSE;
        }
        if (rc != PM_OK)
            return rc;
        if (f.overlong) {
            pm_err_set(err, PM_ERR_PARSE, "CSV header of %s exceeds max_line_bytes (%zu bytes)",
                       path, src->max_line);
            pm_err_hint(err, "raise defaults.max_line_bytes in pipemend.yaml");
            return PM_ERR_PARSE;
        }
        p = src->buf + src->beg;
        if (f.len > 0)
            break;
        src->beg += f.term; /* blank lines before the header */
        src->line += f.newline;
    }
    pm_code rc =
        csv_header_parse(&cx(src)->hdr, &cx(src)->spans, &sc, p, f.len, src->max_line, path, err);
    if (rc == PM_OK)
        rc = csv_one_column(src, path, p, f.len, err);
    if (rc != PM_OK)
        return rc;
    src->header_raw = pm_xmalloc(f.len + 1);
    memcpy(src->header_raw, p, f.len);
    src->header_raw[f.len] = '\0';
    src->header_raw_len = f.len;
    src->beg += f.len + f.term;
    src->line += sc.newlines + f.newline;
    cx(src)->spans.limit = cx(src)->hdr.ncols + 1;
    return PM_OK;
}

/* Turns the scanned record at p into rec's fields, or marks it malformed.
 * Inlined by force: with a second caller (source_parse_raw) gcc would call
 * it out of line, which costs the file path about 1% of its instructions. */
static inline __attribute__((always_inline)) void
csv_build(const csv_header *h, const csv_spans *sp, size_t max_line, const csv_scan *sc,
          const char *p, size_t len, pm_arena *arena, pm_record *rec)
{
    if (len > max_line) {
        source_overlong(max_line, arena, rec, p, len, "record");
        return;
    }
    char *raw = pm_arena_strndup(arena, p, len);
    rec->raw = raw;
    rec->raw_len = len;
    if (sc->problem != CSV_OK) {
        rec->malformed =
            pm_arena_sprintf(arena, "%s %zu at byte %zu", csv_problem_text(sc->problem),
                             sc->problem_field, sc->problem_at);
        rec->malformed_at = sc->problem_at;
        return;
    }
    if (sc->nfields != h->ncols) {
        rec->malformed =
            pm_arena_sprintf(arena, "row has %zu fields, header has %zu", sc->nfields, h->ncols);
        if (sc->nfields > h->ncols) {
            const csv_span *extra = &sp->v[h->ncols];
            rec->malformed_at = extra->start - extra->quoted;
        } else {
            rec->malformed_at = len;
        }
        return;
    }
    size_t bad = pm_utf8_check(raw, len);
    if (bad < len) {
        rec->malformed = pm_arena_sprintf(arena, "invalid UTF-8 in field %zu at byte %zu",
                                          csv_field_of(sp, sc->nfields, bad), bad);
        rec->malformed_at = bad;
        return;
    }

    /* Names are copied per record (one memcpy) so that a record outlives its
     * source, as record.h promises: only the batch arena owns it. */
    char *names = pm_arena_alloc(arena, h->names_len);
    memcpy(names, h->names, h->names_len);
    char *vals = pm_arena_alloc(arena, len + h->ncols);
    pm_field *fields = pm_arena_alloc(arena, h->ncols * sizeof *fields);
    size_t o = 0;
    for (size_t i = 0; i < h->ncols; i++) {
        const csv_span *s = &sp->v[i];
        pm_field *fl = &fields[i];
        fl->name = names + h->name_off[i];
        fl->name_len = h->name_len[i];
        fl->nested = 0; /* a CSV column is a key of the record, never a nested member */
        fl->v.b = false;
        if (!s->quoted && s->end == s->start) {
            fl->v.kind = PM_V_NULL;
            fl->v.s = NULL;
            fl->v.len = 0;
            continue;
        }
        size_t n = csv_unquote(raw, s, vals + o);
        fl->v.kind = PM_V_RAW;
        fl->v.s = vals + o;
        fl->v.len = n;
        o += n + 1;
    }
    rec->fields = fields;
    rec->nfields = h->ncols;
}

static bool csv_scan_bytes(csv_spans *sp, csv_scan *sc, const char *p, size_t n, size_t *at);

/* Skips to just past the next '\n' from buf[beg], whatever the quotes:
 * where parsing resumes after a quote that does not close. */
static pm_code csv_skip_line(pm_source *src, pm_err *err)
{
    for (;;) {
        const char *nl = memchr(src->buf + src->beg, '\n', src->lim - src->beg);
        if (nl) {
            src->beg = (size_t)(nl - src->buf) + 1;
            src->line++;
            return PM_OK;
        }
        src->beg = src->lim;
        if (src->eof)
            return PM_OK;
        pm_code rc = source_fill(src, err);
        if (rc != PM_OK)
            return rc;
    }
}

/* A quoted field opened in the record at p and did not close, within the
 * record-size limit or before the end of input: the record is its first
 * line alone (its bytes kept, up to the limit), malformed, and parsing
 * resumes on the next line, so one stray quote costs one row, not the rest
 * of the file. avail: the bytes of p in the buffer; why: where the quote
 * ran out. Consumes the line. */
static pm_code csv_open_quote(pm_source *src, const char *p, size_t avail, const char *why,
                              pm_arena *arena, pm_record *rec, pm_err *err)
{
    const char *nl = memchr(p, '\n', avail);
    size_t len = nl ? (size_t)(nl - p) : avail;
    if (len && p[len - 1] == '\r')
        len--;
    /* The line as source_parse_raw will see it in replay: the same
     * message, whichever quote of the line is the one left open. */
    csv_scan sc;
    size_t at;
    (void)csv_scan_bytes(&cx(src)->spans, &sc, p, len, &at);
    csv_build(&cx(src)->hdr, &cx(src)->spans, src->max_line, &sc, p, len, arena, rec);
    pm_info("line %llu: a quoted field does not close %s; the row is quarantined and the rows "
            "after it are read on",
            (unsigned long long)rec->line, why);
    pm_code rc = csv_skip_line(src, err);
    rec->end = src->base + src->beg;
    rec->next_line = src->line;
    return rc;
}

static pm_code csv_next(pm_source *src, pm_arena *arena, pm_record *rec, pm_err *err)
{
    for (;;) {
        csv_scan sc;
        csv_found f;
        pm_code rc = csv_find(src, &sc, &f, err);
        if (rc != PM_OK)
            return rc;
        const char *p = src->buf + src->beg;
        rec->offset = src->base + src->beg;
        rec->line = src->line;
        if (!f.overlong && !f.newline && sc.problem == CSV_UNTERMINATED && sc.newlines)
            return csv_open_quote(src, p, f.len + f.term, "before the end of the file", arena, rec,
                                  err);
        if (f.overlong) {
            source_overlong(src->max_line, arena, rec, p, src->lim - src->beg, "record");
            uint64_t offset = rec->offset, line = rec->line, first_nl;
            bool closed;
            rc = csv_skip_record(src, &sc, &closed, &first_nl, err);
            if (rc != PM_OK)
                return rc;
            if (!closed && first_nl && src->tr->ops->seek) {
                /* A quote that never closed swallowed the rest of the
                 * input: read again from the record's start, which is
                 * then its first line alone. */
                rc = csv_rewind(src, offset, line, err);
                if (rc != PM_OK)
                    return rc;
                memset(rec, 0, sizeof *rec);
                rec->offset = offset;
                rec->line = line;
                return csv_open_quote(src, src->buf, src->lim, "before the end of the file", arena,
                                      rec, err);
            }
            if (!closed && first_nl)
                pm_warn("line %llu: a quoted field does not close before the end of the input, "
                        "which cannot be read again: the rest of it is one malformed row",
                        (unsigned long long)line);
            rec->end = src->base + src->beg;
            rec->next_line = src->line;
            return PM_OK;
        }
        src->beg += f.len + f.term;
        src->line += sc.newlines + f.newline;
        if (f.len == 0)
            continue; /* an empty line is not a row */
        rec->end = src->base + src->beg;
        rec->next_line = src->line;
        rec->unterminated = !f.newline;
        csv_build(&cx(src)->hdr, &cx(src)->spans, src->max_line, &sc, p, f.len, arena, rec);
        return PM_OK;
    }
}

/* ---- one record from its bytes (replay) --------------------------------- */

/* Scans p[0, n), one record (or header) whose line end is already cut off,
 * with the same state machine as a file. false when the bytes hold a line
 * end outside quotes, that is more than one row: *at is its offset. */
static bool csv_scan_bytes(csv_spans *sp, csv_scan *sc, const char *p, size_t n, size_t *at)
{
    csv_scan_init(sc);
    if (csv_step(sp, sc, p, n, true)) {
        *at = sc->pos;
        return false;
    }
    csv_finish(sp, sc, p, n, true);
    return true;
}

/* The header is parsed again for every record: replay is not the hot path,
 * and a header is short next to the database round trip of the row. */
static pm_code csv_parse_raw(const char *header, size_t header_len, const char *raw, size_t raw_len,
                             size_t max_line, char delimiter, pm_arena *arena, pm_record *rec,
                             pm_err *err)
{
    /* A file's BOM is not part of its header (source_header_raw leaves it
     * out); one kept by an older writer is dropped as the file path would. */
    if (header && header_len >= 3 && memcmp(header, "\xEF\xBB\xBF", 3) == 0) {
        header += 3;
        header_len -= 3;
    }
    if (!header || header_len == 0) {
        pm_err_set(err, PM_ERR_PARSE, "a CSV record cannot be parsed without its header row");
        pm_err_hint(err, "pass the header bytes kept with the record (source_header_raw)");
        return PM_ERR_PARSE;
    }
    csv_spans sp = {.limit = CSV_MAX_COLUMNS + 1};
    /* The delimiter the row was read with; for a row kept without it, the
     * one its header holds most (as a file read without --delimiter). */
    csv_spans_delim(&sp, delimiter ? delimiter : csv_sniff(header, header_len));
    csv_header h = {0};
    csv_scan sc;
    size_t at;
    pm_code rc = PM_OK;
    if (!csv_scan_bytes(&sp, &sc, header, header_len, &at)) {
        rc = pm_err_set(err, PM_ERR_PARSE,
                        "malformed CSV header: a line end outside quotes at byte %zu", at);
        pm_err_hint(err, "the header is one row: its bytes without the line end");
        goto done;
    }
    rc = csv_header_parse(&h, &sp, &sc, header, header_len, max_line, NULL, err);
    if (rc != PM_OK)
        goto done;
    sp.limit = h.ncols + 1;

    if (raw_len > max_line) {
        source_overlong(max_line, arena, rec, raw, raw_len, "record");
    } else if (raw_len == 0) {
        /* source_next skips empty lines; bytes that are one are no row. */
        rec->raw = pm_arena_strndup(arena, "", 0);
        rec->malformed = "empty line: not a CSV row";
    } else if (!csv_scan_bytes(&sp, &sc, raw, raw_len, &at)) {
        rec->raw = pm_arena_strndup(arena, raw, raw_len);
        rec->raw_len = raw_len;
        rec->malformed = pm_arena_sprintf(
            arena, "line end outside quotes at byte %zu: the bytes hold more than one row", at);
        rec->malformed_at = at;
    } else {
        csv_build(&h, &sp, max_line, &sc, raw, raw_len, arena, rec);
    }
done:
    csv_header_free(&h);
    free(sp.v);
    return rc;
}

static pm_code csv_start(pm_source *src, pm_err *err)
{
    src->state = pm_xcalloc(1, sizeof(csv_ctx));
    return csv_read_header(src, src->tr->label, err);
}

static pm_code csv_parse_raw_op(const char *header, size_t header_len, const char *raw,
                                size_t raw_len, size_t max_line, char delimiter,
                                const jscan_opts *json, pm_arena *arena, pm_record *rec,
                                pm_err *err)
{
    return csv_parse_raw(header, header_len, raw, raw_len, max_line, delimiter, arena, rec, err);
}

static void csv_close(pm_source *src)
{
    csv_ctx *c = src->state;
    if (!c)
        return;
    csv_header_free(&c->hdr);
    free(c->spans.v);
    free(c);
    src->state = NULL;
}

const source_decoder csv_decoder = {
    .fmt = PM_FMT_CSV,
    .start = csv_start,
    .next = csv_next,
    .parse_raw = csv_parse_raw_op,
    .close = csv_close,
};
