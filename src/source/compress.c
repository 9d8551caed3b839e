/* compress.c - the decompressing transport: gzip (ISA-L's igzip inflate) and zstd (libzstd)
 * streams read from another transport (see compress.h); and the same
 * transport converting a declared character set to UTF-8 (iconv).
 *
 * The transport reads compressed bytes from the one under it in large
 * pieces and hands out what they decompress to; nothing but its input
 * buffer and the codec's window is held. Concatenated gzip members and
 * zstd frames are one stream, as for gzip -d and zstd -d. An input that
 * ends inside a member or frame is an error that names the input (a file
 * cut short, or still being written): the records before it are loaded.
 *
 * Position token (JSON, one object):
 *
 *     {"codec":"gzip","offset":N,"line":N,"complete":B,"inner":"T"}
 *
 * offset and line are in the uncompressed stream; complete says the
 * stream had ended at offset (nothing followed); inner is the token of
 * the transport underneath for the compressed bytes read so far, so that
 * it tells an unchanged file (or one that grew: a new gzip member) from a
 * rewritten one, as for a plain file. */
#include "source/compress.h"

#include <errno.h>
#include <iconv.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <isa-l/igzip_lib.h>
#include <zstd.h>

#include "core/arena.h"
#include "core/log.h"

#define COMPRESS_IN_SIZE ((size_t)256 << 10)

typedef struct ztransport {
    pm_transport base;
    pm_transport *inner; /* owned */
    compress_codec codec;
    struct inflate_state *is; /* gzip: ISA-L's inflate; owned */
    ZSTD_DStream *zd;         /* zstd; owned */
    iconv_t cd;               /* a charset; owned */
    char *name;               /* owned: "gzip", "zstd" or the charset, in tokens and messages */
    char *in;                 /* owned: compressed bytes in[in_pos, in_len) not yet decompressed */
    size_t in_pos;
    size_t in_len;
    bool in_eof;        /* the transport underneath has no more */
    bool at_boundary;   /* between members or frames: the input may end here */
    bool failed;        /* a decompression error was reported: do not go on */
    uint64_t in_total;  /* compressed bytes read from underneath */
    uint64_t out_total; /* uncompressed bytes handed out */
} ztransport;

static ztransport *zt(pm_transport *t)
{
    return (ztransport *)t;
}

compress_codec compress_detect(const void *p, size_t n)
{
    const unsigned char *b = p;
    /* gzip: 1f 8b and deflate (8); zstd frame: 28 b5 2f fd (RFC 8878). */
    if (n >= 3 && b[0] == 0x1f && b[1] == 0x8b && b[2] == 8)
        return COMPRESS_GZIP;
    if (n >= 4 && b[0] == 0x28 && b[1] == 0xb5 && b[2] == 0x2f && b[3] == 0xfd)
        return COMPRESS_ZSTD;
    return COMPRESS_NONE;
}

const char *compress_codec_name(compress_codec c)
{
    switch (c) {
    case COMPRESS_GZIP:
        return "gzip";
    case COMPRESS_ZSTD:
        return "zstd";
    case COMPRESS_CHARSET:
        return "charset";
    case COMPRESS_NONE:
        break;
    }
    return "none";
}

size_t compress_strip_suffix(const char *path)
{
    static const char *const suffixes[] = {".gz", ".gzip", ".zst", ".zstd"};
    size_t n = strlen(path);
    for (size_t i = 0; i < sizeof suffixes / sizeof *suffixes; i++) {
        size_t k = strlen(suffixes[i]);
        if (n > k && strcasecmp(path + n - k, suffixes[i]) == 0)
            return n - k;
    }
    return n;
}

static pm_code z_error(ztransport *z, pm_err *err, const char *why)
{
    z->failed = true;
    pm_err_set(err, PM_ERR_IO, "cannot decompress %s (%s): %s, after %" PRIu64 " compressed bytes",
               z->base.label, compress_codec_name(z->codec), why, z->in_total);
    pm_err_hint(err, "the rows before this point are intact; check the file with %s -t",
                z->codec == COMPRESS_GZIP ? "gzip" : "zstd");
    return PM_ERR_IO;
}

/* What ISA-L's inflate says of a stream it cannot read. */
static const char *gzip_why(int ret)
{
    switch (ret) {
    case ISAL_INVALID_WRAPPER:
        return "not a gzip member where one should start";
    case ISAL_UNSUPPORTED_METHOD:
        return "a compression method gzip does not define";
    case ISAL_INCORRECT_CHECKSUM:
        return "incorrect data check (the member's CRC does not match its bytes)";
    case ISAL_INVALID_LOOKBACK:
        return "invalid distance too far back";
    default:
        return "corrupt gzip data";
    }
}

/* Converts in[in_pos, in_len) into out[*got, cap) from a charset. */
static void z_convert(ztransport *z, char *out, size_t cap, size_t *got)
{
    char *ip = z->in + z->in_pos, *op = out + *got;
    size_t il = z->in_len - z->in_pos, ol = cap - *got;
    size_t r = iconv(z->cd, &ip, &il, &op, &ol);
    int e = errno;
    z->in_pos = z->in_len - il;
    *got = cap - ol;
    if (r == (size_t)-1 && e == EILSEQ && *got < cap) {
        /* A byte the charset does not define goes on as it is: not UTF-8,
         * its record is malformed at that byte (a finding, not a guess). */
        out[(*got)++] = z->in[z->in_pos++];
    }
    /* EINVAL: a character cut by the end of what was read so far */
    z->at_boundary = !(r == (size_t)-1 && e == EINVAL);
}

/* Decompresses (or converts) from in[in_pos, in_len) into out[*got, cap). */
static pm_code z_step(ztransport *z, char *out, size_t cap, size_t *got, pm_err *err)
{
    size_t in_before = z->in_pos, out_before = *got;
    if (z->codec == COMPRESS_CHARSET) {
        z_convert(z, out, cap, got);
        return PM_OK;
    }
    if (z->codec == COMPRESS_GZIP) {
        struct inflate_state *is = z->is;
        if (z->at_boundary) {
            /* The next member of a concatenation (cat a.gz b.gz). */
            isal_inflate_reset(is);
            is->crc_flag = ISAL_GZIP;
        }
        is->next_in = (uint8_t *)z->in + z->in_pos;
        is->avail_in = (uint32_t)(z->in_len - z->in_pos);
        is->next_out = (uint8_t *)out + *got;
        is->avail_out = (uint32_t)(cap - *got);
        int ret = isal_inflate(is);
        *got = cap - is->avail_out;
        z->in_pos = z->in_len - is->avail_in;
        if (ret >= 0 && is->block_state == ISAL_BLOCK_FINISH) {
            /* the member and its trailer are done; bytes read ahead into
             * the bit buffer belong to what follows it */
            z->in_pos -= (size_t)is->read_in_length / 8;
            z->at_boundary = true;
            return PM_OK;
        }
        if (ret < 0)
            return z_error(z, err, gzip_why(ret));
    } else {
        ZSTD_inBuffer in = {z->in, z->in_len, z->in_pos};
        ZSTD_outBuffer o = {out, cap, *got};
        size_t ret = ZSTD_decompressStream(z->zd, &o, &in);
        if (ZSTD_isError(ret))
            return z_error(z, err, ZSTD_getErrorName(ret));
        z->in_pos = in.pos;
        *got = o.pos;
        if (ret == 0) {
            z->at_boundary = true;
            return PM_OK;
        }
    }
    if (z->in_pos != in_before || *got != out_before)
        z->at_boundary = false;
    return PM_OK;
}

static pm_code z_read(pm_transport *t, char *buf, size_t cap, size_t *got, pm_err *err)
{
    ztransport *z = zt(t);
    *got = 0;
    if (z->failed)
        return pm_err_set(err, PM_ERR_IO, "cannot decompress %s", t->label);
    while (*got < cap) {
        if (z->in_pos == z->in_len) {
            /* Hand out what there is before waiting for more input. */
            if (*got > 0 || z->in_eof)
                break;
            size_t n = 0;
            pm_code rc = transport_read(z->inner, z->in, COMPRESS_IN_SIZE, &n, err);
            if (rc != PM_OK)
                return rc;
            z->in_pos = 0;
            z->in_len = n;
            z->in_total += n;
            if (n == 0)
                z->in_eof = true;
            continue;
        }
        size_t before = *got, in_before = z->in_pos;
        pm_code rc = z_step(z, buf, cap, got, err);
        if (rc != PM_OK)
            return rc;
        if (*got == before && z->in_pos == in_before) {
            /* No progress: the output is full, or what is left of the input
             * is the start of a character that needs the next read. */
            if (*got == cap || *got > 0 || z->in_eof || z->in_len - z->in_pos >= COMPRESS_IN_SIZE)
                break;
            size_t keep = z->in_len - z->in_pos, n = 0;
            memmove(z->in, z->in + z->in_pos, keep);
            z->in_pos = 0;
            z->in_len = keep;
            rc = transport_read(z->inner, z->in + keep, COMPRESS_IN_SIZE - keep, &n, err);
            if (rc != PM_OK)
                return rc;
            z->in_len += n;
            z->in_total += n;
            if (n == 0)
                z->in_eof = true;
        }
    }
    if (*got == 0 && z->in_eof && (z->in_pos < z->in_len || !z->at_boundary)) {
        z->failed = true;
        if (z->codec == COMPRESS_CHARSET)
            pm_err_set(err, PM_ERR_IO,
                       "%s ends inside a %s character, after %" PRIu64 " bytes (%" PRIu64
                       " converted to UTF-8)",
                       t->label, z->name, z->in_total, z->out_total);
        else
            pm_err_set(err, PM_ERR_IO,
                       "%s ends inside a %s %s, after %" PRIu64 " compressed bytes (%" PRIu64
                       " decompressed)",
                       t->label, z->name, z->codec == COMPRESS_GZIP ? "member" : "frame",
                       z->in_total, z->out_total);
        pm_err_hint(err, "the file is cut short or still being written; the rows before this "
                         "point are loaded, run again once it is complete");
        return PM_ERR_IO;
    }
    z->out_total += *got;
    return PM_OK;
}

static pm_code z_position(pm_transport *t, uint64_t end, uint64_t line, char *out, pm_err *err)
{
    ztransport *z = zt(t);
    char inner[TRANSPORT_POSITION_MAX];
    pm_code rc = transport_position(z->inner, z->in_total, 0, inner, err);
    if (rc != PM_OK)
        return rc;
    /* Everything read underneath is decompressed and handed out up to end,
     * between members: if nothing follows those compressed bytes on the
     * next run (the transport underneath says so), nothing is new. */
    bool complete = z->in_pos == z->in_len && z->at_boundary && end == z->out_total;
    json_t *j = json_pack("{s:s, s:I, s:I, s:b, s:s}", "codec", z->name, "offset", (json_int_t)end,
                          "line", (json_int_t)line, "complete", complete, "inner", inner);
    char *s = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(j);
    if (!s || strlen(s) >= TRANSPORT_POSITION_MAX) {
        free(s);
        return pm_err_set(err, PM_ERR_INTERNAL, "the position in %s does not fit a checkpoint",
                          t->label);
    }
    memcpy(out, s, strlen(s) + 1);
    free(s);
    return PM_OK;
}

/* Reads a token; false when it is not one of this codec's. */
static bool z_token(const char *position, const char *codec, uint64_t *offset, uint64_t *line,
                    bool *complete, char *inner)
{
    json_t *j = json_loads(position, JSON_REJECT_DUPLICATES, NULL);
    json_t *c = json_object_get(j, "codec"), *o = json_object_get(j, "offset"),
           *l = json_object_get(j, "line"), *d = json_object_get(j, "complete"),
           *in = json_object_get(j, "inner");
    bool ok = json_is_string(c) && (!codec || strcmp(json_string_value(c), codec) == 0) &&
              json_is_integer(o) && json_integer_value(o) >= 0 && json_is_integer(l) &&
              json_integer_value(l) >= 0 && json_is_boolean(d) && json_is_string(in) &&
              strlen(json_string_value(in)) < TRANSPORT_POSITION_MAX;
    if (ok) {
        *offset = (uint64_t)json_integer_value(o);
        *line = (uint64_t)json_integer_value(l);
        *complete = json_is_true(d);
        if (inner)
            memcpy(inner, json_string_value(in), strlen(json_string_value(in)) + 1);
    }
    json_decref(j);
    return ok;
}

static pm_code z_resume(pm_transport *t, const char *position, transport_start *out, pm_err *err)
{
    ztransport *z = zt(t);
    memset(out, 0, sizeof *out);
    if (!position)
        return PM_OK;
    uint64_t offset, line;
    bool complete;
    char inner[TRANSPORT_POSITION_MAX];
    if (!z_token(position, z->name, &offset, &line, &complete, inner)) {
        pm_warn("%s: the checkpoint is not a position in its %s stream (it was loaded as "
                "another kind of input before); reading it from the start",
                t->label, z->name);
        return PM_OK;
    }
    transport_start under;
    pm_code rc = transport_resume(z->inner, inner, &under, err);
    if (rc != PM_OK)
        return rc;
    if (under.offset == 0)
        return PM_OK; /* replaced or shorter: the transport underneath said so */
    out->offset = offset;
    out->line = line;
    if (under.at_end && complete) {
        out->at_end = true;
    } else if (offset) {
        pm_info("%s: resuming after byte %" PRIu64 " of the decompressed stream (the bytes "
                "before it are decompressed again and skipped)",
                t->label, offset);
    }
    return PM_OK;
}

static void z_describe(const char *position, char *out, size_t cap)
{
    uint64_t offset, line;
    bool complete;
    if (z_token(position, NULL, &offset, &line, &complete, NULL))
        snprintf(out, cap, "byte %" PRIu64 " (decompressed)", offset);
    else
        snprintf(out, cap, "%s", position);
}

static void z_close(pm_transport *t)
{
    ztransport *z = zt(t);
    if (z->codec == COMPRESS_GZIP)
        free(z->is);
    else if (z->codec == COMPRESS_ZSTD)
        ZSTD_freeDStream(z->zd);
    else
        iconv_close(z->cd);
    free(z->in);
    free(z->name);
    transport_close(z->inner);
}

static const transport_ops z_ops = {
    .kind = "compressed",
    .read = z_read,
    .position = z_position,
    .resume = z_resume,
    .describe = z_describe,
    .close = z_close,
};

/* Over a transport without positions (standard input). */
static const transport_ops z_ops_once = {
    .kind = "compressed",
    .read = z_read,
    .describe = z_describe,
    .close = z_close,
};

/* A filter transport over inner (taking it), with head its first bytes
 * already read; the codec's own state is set up by the caller. */
static ztransport *z_new(pm_transport *inner, compress_codec codec, const char *name,
                         const char *head, size_t head_len)
{
    ztransport *z = pm_xcalloc(1, sizeof *z);
    z->inner = inner;
    z->codec = codec;
    z->name = pm_xstrdup(name);
    z->base.ops = transport_resumable(inner) ? &z_ops : &z_ops_once;
    z->base.label = inner->label;
    z->base.id = pm_xstrdup(inner->id); /* the same checkpoint key as the file */
    z->base.size = 0;                   /* unknown until read through */
    z->in = pm_xmalloc(head_len > COMPRESS_IN_SIZE ? head_len : COMPRESS_IN_SIZE);
    if (head_len)
        memcpy(z->in, head, head_len);
    z->in_len = head_len;
    z->in_total = head_len;
    return z;
}

static void z_free(ztransport *z)
{
    free(z->in);
    free(z->name);
    free(z->base.id);
    free(z);
}

pm_code compress_open(pm_transport **t, compress_codec codec, const char *head, size_t head_len,
                      pm_err *err)
{
    pm_transport *inner = *t;
    ztransport *z = z_new(inner, codec, compress_codec_name(codec), head, head_len);
    bool ok;
    if (codec == COMPRESS_GZIP) {
        z->is = pm_xmalloc(sizeof *z->is);
        isal_inflate_init(z->is);
        z->is->crc_flag = ISAL_GZIP;
        ok = true;
    } else {
        z->zd = ZSTD_createDStream();
        ok = z->zd && !ZSTD_isError(ZSTD_initDStream(z->zd));
    }
    if (!ok) {
        if (codec == COMPRESS_ZSTD)
            ZSTD_freeDStream(z->zd);
        z_free(z);
        transport_close(inner);
        *t = NULL;
        return pm_err_set(err, PM_ERR_NOMEM, "cannot start the %s decompressor",
                          compress_codec_name(codec));
    }
    *t = &z->base;
    return PM_OK;
}

bool compress_charset_is_utf8(const char *charset)
{
    return !strcasecmp(charset, "utf-8") || !strcasecmp(charset, "utf8");
}

bool compress_charset_known(const char *charset)
{
    iconv_t cd = iconv_open("UTF-8", charset);
    if (cd == (iconv_t)-1)
        return false;
    iconv_close(cd);
    return true;
}

pm_code compress_open_charset(pm_transport **t, const char *charset, const char *head,
                              size_t head_len, pm_err *err)
{
    iconv_t cd = iconv_open("UTF-8", charset);
    if (cd == (iconv_t)-1) {
        pm_code code = pm_err_set(err, PM_ERR_USAGE, "unknown encoding \"%s\"", charset);
        pm_err_hint(err, "name a character set iconv knows: latin1, windows-1252, iso-8859-15, "
                         "utf-16 (iconv -l lists them)");
        transport_close(*t);
        *t = NULL;
        return code;
    }
    ztransport *z = z_new(*t, COMPRESS_CHARSET, charset, head, head_len);
    z->cd = cd;
    z->at_boundary = true;
    *t = &z->base;
    return PM_OK;
}
