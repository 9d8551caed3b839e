/* source.c - a source: a decoder (ndjson.c, csv.c) reading its transport
 * (transport.h: file.c, stdin.c) through one buffer, and cutting it into
 * records, each with its exact byte extent.
 *
 * This is the hot path of every run, so it asks the transport for one read
 * per MiB and never calls malloc per record: record bytes are copied into
 * the caller's batch arena. Memory is bounded by the read buffer, which
 * grows only while one record is longer than a read and never past
 * max_line + 2 bytes (room for a CRLF). A longer record is reported as
 * malformed with its first 4 KiB and the rest is skipped in read-sized
 * pieces, so a 100 MB line never costs more than that buffer.
 *
 * Positions: every record carries `offset` (its first byte) and `end` (just
 * past its line end), in bytes of the transport's stream (a file as
 * stored, counting a BOM). `line` is the physical line where the record
 * starts. After a resume at a non-zero offset the lines are NOT counted
 * from the top of the file (that would mean reading everything before the
 * checkpoint on every run of a growing file): the line at the offset is the
 * checkpoint's line (or 1) and later ones count from there. The byte offset
 * is the authoritative position; the line number is a hint for people.
 * What a position means across runs is the transport's business: the
 * source only reports byte extents. */
#include "source/source_int.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/log.h"
#include "core/utf8.h"
#include "source/compress.h"

void source_opts_default(pm_source_opts *o)
{
    memset(o, 0, sizeof *o);
    o->max_line = SOURCE_MAX_LINE_DEFAULT;
    o->json.max_depth = 64;
    o->json.flatten_depth = 8;
}

/* opts->max_line, with 0 meaning the default, and capped so that the buffer
 * arithmetic (max_line + 2, len + ncols) cannot overflow. */
static size_t source_max_line(const pm_source_opts *opts)
{
    size_t m = opts->max_line ? opts->max_line : SOURCE_MAX_LINE_DEFAULT;
    return m > SIZE_MAX / 4 ? SIZE_MAX / 4 : m;
}

/* ---- buffered input ---------------------------------------------------- */

pm_code source_fill(pm_source *src, pm_err *err)
{
    if (src->beg > 0) {
        size_t keep = src->lim - src->beg;
        if (keep)
            memmove(src->buf, src->buf + src->beg, keep);
        src->base += src->beg;
        src->lim = keep;
        src->beg = 0;
    }
    if (src->lim == src->cap && src->cap < src->cap_max) {
        size_t ncap = src->cap * 2 < src->cap_max ? src->cap * 2 : src->cap_max;
        src->buf = pm_xrealloc(src->buf, ncap);
        src->cap = ncap;
    }
    if (src->lim == src->cap)
        return pm_err_set(err, PM_ERR_INTERNAL, "read buffer of %s is full", src->tr->id);
    size_t n = 0;
    pm_code rc = transport_read(src->tr, src->buf + src->lim, src->cap - src->lim, &n, err);
    if (rc != PM_OK)
        return rc;
    if (n == 0)
        src->eof = true;
    src->lim += n;
    return PM_OK;
}

/* Reads until at least n unconsumed bytes are buffered or the input ends. */
static pm_code source_want(pm_source *src, size_t n, pm_err *err)
{
    while (src->lim - src->beg < n && !src->eof) {
        pm_code rc = source_fill(src, err);
        if (rc != PM_OK)
            return rc;
    }
    return PM_OK;
}

/* Moves the read position forward to byte off of the input: lseek for a
 * transport that can seek, read-and-discard otherwise. Line numbers restart at 1 (see
 * the note at the top of this file). */
static pm_code source_skip_to(pm_source *src, uint64_t off, pm_err *err)
{
    if (off <= src->base + src->beg)
        return PM_OK;
    src->line = src->start_line ? src->start_line : 1;
    if (off <= src->base + src->lim) {
        src->beg = (size_t)(off - src->base);
        return PM_OK;
    }
    if (src->tr->ops->seek) {
        pm_code rc = src->tr->ops->seek(src->tr, off, err);
        if (rc != PM_OK)
            return rc;
        src->base = off;
        src->beg = src->lim = 0;
        src->eof = false;
        return PM_OK;
    }
    while (src->base + src->lim < off && !src->eof) {
        src->beg = src->lim;
        pm_code rc = source_fill(src, err);
        if (rc != PM_OK)
            return rc;
    }
    src->beg = src->base + src->lim >= off ? (size_t)(off - src->base) : src->lim;
    return PM_OK;
}

/* A gzip or zstd input is told by its first bytes: a decompressing
 * transport goes over the one read so far, and what was read is handed to
 * it as its first compressed bytes (compress.h). */
static pm_code source_decompress(pm_source *src, pm_err *err)
{
    pm_code rc = source_want(src, 4, err);
    if (rc != PM_OK)
        return rc;
    compress_codec codec = compress_detect(src->buf + src->beg, src->lim - src->beg);
    if (codec == COMPRESS_NONE)
        return PM_OK;
    rc = compress_open(&src->tr, codec, src->buf + src->beg, src->lim - src->beg, err);
    src->beg = src->lim = 0;
    src->eof = false;
    src->codec = codec;
    return rc;
}

/* Looks at p[0, n), the top of the input, for signs that it is not what
 * fmt reads, and says what it looks like (see source_looks_like). */
static void source_classify(pm_source *src, const char *p, size_t n)
{
    const unsigned char *u = (const unsigned char *)p;
    src->looks = src->looks_hint = NULL;
    static const struct {
        const char *magic;
        size_t len;
        const char *what;
    } others[] = {
        {"BZh", 3, "bzip2-compressed data"},
        {"\xFD"
         "7zXZ",
         5, "xz-compressed data"},
        {"PK\x03\x04", 4, "a zip archive"},
        {"PAR1", 4, "a Parquet file"},
        {"\x89PNG", 4, "a PNG image"},
        {"%PDF", 4, "a PDF document"},
        {"SQLite format 3", 15, "an SQLite database"},
    };
    for (size_t i = 0; i < sizeof others / sizeof *others; i++) {
        if (n >= others[i].len && memcmp(p, others[i].magic, others[i].len) == 0) {
            src->looks = others[i].what;
            src->looks_hint = "pipemend reads NDJSON, JSON and CSV (plain, gzip or zstd): "
                              "convert or decompress it first";
            return;
        }
    }
    size_t ctl = 0;
    for (size_t i = 0; i < n; i++)
        if (u[i] == 0 || (u[i] < 0x20 && u[i] != '\n' && u[i] != '\r' && u[i] != '\t'))
            ctl++;
    if (n && (ctl * 20 > n || memchr(p, 0, n))) {
        src->looks = "binary data, not text";
        src->looks_hint = "check that the file is the feed you meant; pipemend reads NDJSON, "
                          "JSON and CSV (plain, gzip or zstd)";
        return;
    }
    size_t bad = pm_utf8_check(p, n);
    /* a sequence cut by the end of what was read is not a finding */
    if (bad < n && n - bad >= 4) {
        src->looks = "text that is not UTF-8 (Latin-1 or Windows-1252, most likely)";
        src->looks_hint = "declare the files' character set: encoding: windows-1252 in the "
                          "pipeline, or --encoding windows-1252 (latin1, iso-8859-15 ...)";
        return;
    }
    size_t k = 0;
    while (k < n && (p[k] == ' ' || p[k] == '\t' || p[k] == '\r' || p[k] == '\n'))
        k++;
    bool jsonish = k < n && (p[k] == '{' || p[k] == '[');
    if (src->fmt == PM_FMT_CSV || src->fmt == PM_FMT_TSV) {
        if (jsonish) {
            src->looks = "JSON, not CSV";
            src->looks_hint = "pass --format json (or format: json in the pipeline)";
        }
        return;
    }
    if (src->fmt == PM_FMT_NDJSON && src->shape == JSON_SHAPE_OBJECTS) {
        src->looks = "pretty-printed JSON (objects over several lines), not NDJSON";
        src->looks_hint = "pass --format json (or format: json, or name the file .json)";
        return;
    }
    if (!jsonish && k < n) {
        const char *nl = memchr(p + k, '\n', n - k);
        size_t line = nl ? (size_t)(nl - (p + k)) : n - k;
        size_t seps = 0;
        for (size_t i = k; i < k + line; i++)
            seps += p[i] == ',' || p[i] == ';' || p[i] == '\t' || p[i] == '|';
        if (seps) {
            src->looks = "delimited text (CSV or TSV), not JSON";
            src->looks_hint = "pass --format csv (or format: csv in the pipeline)";
        } else {
            src->looks = "text that is not JSON";
            src->looks_hint = "pass the format the file is in with --format";
        }
    }
}

const char *source_looks_like(const pm_source *src, const char **hint)
{
    if (hint)
        *hint = src->looks_hint;
    return src->looks;
}

/* The byte order mark is not data: drop it when reading from the top. */
static pm_code source_skip_bom(pm_source *src, pm_err *err)
{
    if (src->base + src->beg != 0)
        return PM_OK;
    pm_code rc = source_want(src, 3, err);
    if (rc != PM_OK)
        return rc;
    if (src->lim - src->beg >= 3 && memcmp(src->buf + src->beg, "\xEF\xBB\xBF", 3) == 0)
        src->beg += 3;
    return PM_OK;
}

void source_overlong(size_t max_line, pm_arena *arena, pm_record *rec, const char *p, size_t avail,
                     const char *what)
{
    size_t keep = pm_utf8_truncate(p, avail, SOURCE_RAW_PREFIX);
    rec->raw = pm_arena_strndup(arena, p, keep);
    rec->raw_len = keep;
    rec->raw_truncated = 1;
    rec->malformed = pm_arena_sprintf(arena,
                                      "%s exceeds max_line_bytes (%zu bytes); raise "
                                      "defaults.max_line_bytes in pipemend.yaml to load it",
                                      what, max_line);
    rec->malformed_at = max_line < keep ? max_line : keep;
}

/* ---- open, next, close ------------------------------------------------- */

static const source_decoder *decoder_for(pm_format fmt)
{
    switch (fmt) {
    case PM_FMT_CSV:
    case PM_FMT_TSV:
        return &csv_decoder;
    case PM_FMT_JSON:
        return &json_decoder;
    case PM_FMT_NDJSON:
        break;
    }
    return &ndjson_decoder;
}

/* Which decoder reads a JSON or NDJSON input, from its top: an array is
 * read element by element whatever it was called; a JSON document that is
 * NDJSON is read by lines; pretty-printed objects by the JSON decoder. */
static pm_code source_pick_json(pm_source *src, pm_format fmt, pm_err *err)
{
    json_shape sh = json_sniff(src, err);
    if (sh == JSON_SHAPE_ERROR)
        return err ? err->code : PM_ERR_IO;
    src->shape = sh;
    if (sh == JSON_SHAPE_ARRAY) {
        if (fmt == PM_FMT_NDJSON)
            pm_info("%s is a JSON array of objects, not NDJSON: reading each element as a record",
                    src->tr->label);
        src->dec = &json_decoder;
    } else if (fmt == PM_FMT_JSON) {
        src->dec = sh == JSON_SHAPE_OBJECTS ? &json_decoder : &ndjson_decoder;
    }
    return PM_OK;
}

/* Opens a source over t, reading what precedes the records (compression
 * magic, BOM, CSV header, the shape of a JSON input) from the top, and
 * positions it at start (see source_seek). The top is read even when the
 * run resumes further on: it says how to read what follows. */
static pm_code source_start(pm_transport *t, pm_format fmt, const pm_source_opts *opts,
                            uint64_t start, pm_source **out, pm_err *err)
{
    *out = NULL;
    pm_source_opts defaults;
    if (!opts) {
        source_opts_default(&defaults);
        opts = &defaults;
    }
    pm_source *src = pm_xcalloc(1, sizeof *src);
    src->tr = t;
    src->dec = decoder_for(fmt);
    src->json = opts->json;
    src->json.memo = fmt == PM_FMT_JSON || fmt == PM_FMT_NDJSON ? jscan_memo_new() : NULL;
    src->max_line = source_max_line(opts);
    src->delimiter = opts->delimiter ? opts->delimiter : fmt == PM_FMT_TSV ? '\t' : 0;
    src->fmt = fmt;
    src->line = 1;
    src->cap = SOURCE_READ_SIZE;
    src->cap_max = src->max_line + 2 > SOURCE_READ_SIZE ? src->max_line + 2 : SOURCE_READ_SIZE;
    src->buf = pm_xmalloc(src->cap);

    pm_code rc = source_decompress(src, err);
    if (!rc && opts->encoding && !compress_charset_is_utf8(opts->encoding)) {
        /* what was read is handed over, as to a decompressor */
        rc = compress_open_charset(&src->tr, opts->encoding, src->buf + src->beg,
                                   src->lim - src->beg, err);
        src->beg = src->lim = 0;
        src->eof = false;
    }
    if (!rc)
        rc = source_skip_bom(src, err);
    if (!rc && (fmt == PM_FMT_JSON || fmt == PM_FMT_NDJSON))
        rc = source_pick_json(src, fmt, err);
    if (!rc) {
        size_t n = src->lim - src->beg;
        source_classify(src, src->buf + src->beg, n > 65536 ? 65536 : n);
    }
    if (!rc && src->dec->start) {
        rc = src->dec->start(src, err);
        if (rc && rc != PM_ERR_IO && src->looks && err)
            pm_err_hint(err, "it looks like %s: %s", src->looks, src->looks_hint);
    }
    if (!rc)
        rc = source_seek(src, start, opts->start_line, err);
    if (rc) {
        source_close(src);
        return rc;
    }
    *out = src;
    return PM_OK;
}

pm_code source_open_transport(pm_transport *t, pm_format fmt, const pm_source_opts *opts,
                              pm_source **out, pm_err *err)
{
    return source_start(t, fmt, opts, 0, out, err);
}

pm_code source_open(const char *path, pm_format fmt, const pm_source_opts *opts,
                    uint64_t start_offset, pm_source **out, pm_err *err)
{
    *out = NULL;
    pm_transport *t;
    pm_code rc = transport_open(path, &t, err);
    if (rc != PM_OK)
        return rc;
    return source_start(t, fmt, opts, start_offset, out, err);
}

pm_code source_seek(pm_source *src, uint64_t offset, uint64_t line, pm_err *err)
{
    src->start_line = line;
    /* An offset inside the header (or the BOM) means "after it". */
    return source_skip_to(src, offset, err);
}

pm_code source_next(pm_source *src, pm_arena *arena, pm_record *rec, pm_err *err)
{
    memset(rec, 0, sizeof *rec);
    return src->dec->next(src, arena, rec, err);
}

pm_code source_parse_raw(pm_format fmt, const char *header, size_t header_len, const char *raw,
                         size_t raw_len, const pm_source_opts *opts, pm_arena *arena,
                         pm_record *rec, pm_err *err)
{
    memset(rec, 0, sizeof *rec);
    pm_source_opts defaults;
    if (!opts) {
        source_opts_default(&defaults);
        opts = &defaults;
    }
    if (!raw) {
        raw = "";
        raw_len = 0;
    }
    return decoder_for(fmt)->parse_raw(header, header_len, raw, raw_len, source_max_line(opts),
                                       opts->delimiter, &opts->json, arena, rec, err);
}

char source_delimiter(const pm_source *src)
{
    return src->delimiter_used;
}

const char *source_header_raw(const pm_source *src, size_t *len)
{
    if (len)
        *len = src->header_raw_len;
    return src->header_raw;
}

void source_close(pm_source *src)
{
    if (!src)
        return;
    if (src->dec && src->dec->close)
        src->dec->close(src);
    transport_close(src->tr);
    jscan_memo_free(src->json.memo);
    free(src->buf);
    free(src->header_raw);
    free(src);
}

pm_transport *source_transport(pm_source *src)
{
    return src->tr;
}

const char *source_id(const pm_source *src)
{
    return transport_id(src->tr);
}

uint64_t source_size(const pm_source *src)
{
    return transport_size(src->tr);
}

bool source_is_stdin(const pm_source *src)
{
    return strcmp(transport_id(src->tr), "stdin") == 0;
}

/* ---- formats ----------------------------------------------------------- */

bool source_format_parse(const char *name, pm_format *out)
{
    if (!name)
        return false;
    if (!strcasecmp(name, "ndjson") || !strcasecmp(name, "jsonl")) {
        *out = PM_FMT_NDJSON;
        return true;
    }
    if (!strcasecmp(name, "json")) {
        *out = PM_FMT_JSON;
        return true;
    }
    if (!strcasecmp(name, "csv")) {
        *out = PM_FMT_CSV;
        return true;
    }
    if (!strcasecmp(name, "tsv") || !strcasecmp(name, "tab")) {
        *out = PM_FMT_TSV;
        return true;
    }
    return false;
}

bool source_format_from_path(const char *path, pm_format *out)
{
    if (!path)
        return false;
    /* feed.ndjson.gz is NDJSON: the compression suffix says nothing of the
     * format (the bytes say what compression it is: compress.h). */
    size_t n = compress_strip_suffix(path);
    const char *base = path;
    for (size_t i = 0; i < n; i++)
        if (path[i] == '/')
            base = path + i + 1;
    const char *dot = NULL;
    for (const char *c = base; c < path + n; c++)
        if (*c == '.')
            dot = c;
    /* A leading dot names a hidden file (".csv"), not an extension. */
    if (!dot || dot == base)
        return false;
    char ext[16];
    size_t len = (size_t)(path + n - dot - 1);
    if (len >= sizeof ext)
        return false;
    memcpy(ext, dot + 1, len);
    ext[len] = '\0';
    return source_format_parse(ext, out);
}

const char *source_format_name(pm_format f)
{
    switch (f) {
    case PM_FMT_NDJSON:
        return "ndjson";
    case PM_FMT_CSV:
        return "csv";
    case PM_FMT_JSON:
        return "json";
    case PM_FMT_TSV:
        return "tsv";
    }
    return "unknown";
}

bool source_delimiter_parse(const char *name, char *out)
{
    static const struct {
        const char *name;
        char c;
    } names[] = {{",", ','},    {";", ';'},     {"|", '|'},         {"\t", '\t'}, {"\\t", '\t'},
                 {"tab", '\t'}, {"comma", ','}, {"semicolon", ';'}, {"pipe", '|'}};
    for (size_t i = 0; name && i < sizeof names / sizeof *names; i++) {
        if (!strcasecmp(name, names[i].name)) {
            *out = names[i].c;
            return true;
        }
    }
    return false;
}
