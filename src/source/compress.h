/* compress.h - gzip and zstd inputs, decompressed as a stream between the
 * transport and the decoder; and inputs in a declared character set
 * (encoding: latin1, windows-1252, ...), converted to UTF-8 the same way.
 *
 * A compressed input is told by its first bytes (magic numbers), not by
 * its name: the source looks at what it read first (source.c) and, for a
 * gzip or zstd stream, puts a decompressing transport over the one it was
 * reading. The decoder above it sees the uncompressed bytes only.
 *
 * Positions are in uncompressed bytes, so a checkpoint is as exact as for
 * a plain file. A compressed stream cannot seek: resuming at byte N
 * decompresses the first N bytes again and discards them (about 5 s of CPU
 * per GB of uncompressed data with zlib, 1.5 s with zstd); the
 * bytes already loaded are not loaded again. The token (compress.c) keeps
 * the underlying transport's own token for the compressed bytes read so
 * far, so a file that was replaced is noticed as for a plain file.
 *
 * A declared character set is a transport of the same kind over the file
 * (or over its decompression): positions are in UTF-8 bytes, resuming
 * converts the bytes before the checkpoint again (iconv from glibc; far
 * faster than the parse), and quarantined rows keep their bytes as
 * converted, so they replay without knowing the charset. A byte the
 * charset does not define (windows-1252's 0x81) is passed on as it is:
 * its row is malformed, invalid UTF-8 at that byte, as without a charset. */
#ifndef PM_SOURCE_COMPRESS_H
#define PM_SOURCE_COMPRESS_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"
#include "source/transport.h"

typedef enum compress_codec {
    COMPRESS_NONE,
    COMPRESS_GZIP,
    COMPRESS_ZSTD,
    COMPRESS_CHARSET, /* not compression: a character set converted to UTF-8 */
} compress_codec;

/* What the first n bytes of an input say it is (n of at least 4 decides;
 * fewer may be too few to tell, and say COMPRESS_NONE). */
compress_codec compress_detect(const void *p, size_t n);

const char *compress_codec_name(compress_codec c);

/* Puts a decompressing transport for codec over *t, which it owns from
 * now on (closed with it, or here when the open fails; *t is then NULL).
 * head[0, head_len) are bytes already read from *t, its first ones: they
 * are decompressed first. */
pm_code compress_open(pm_transport **t, compress_codec codec, const char *head, size_t head_len,
                      pm_err *err);

/* Puts a transport over *t that converts its bytes from charset (an iconv
 * name: latin1, windows-1252, iso-8859-15, utf-16 ...) to UTF-8, owning *t
 * and taking head as compress_open does. PM_ERR_USAGE for a charset iconv
 * does not know. */
pm_code compress_open_charset(pm_transport **t, const char *charset, const char *head,
                              size_t head_len, pm_err *err);

/* Does iconv know charset? For checking a configuration early. */
bool compress_charset_known(const char *charset);

/* Is charset a name of UTF-8 (nothing to convert)? */
bool compress_charset_is_utf8(const char *charset);

/* The length of path without a compression suffix (.gz, .gzip, .zst,
 * .zstd), so that "feed.ndjson.gz" names its format as "feed.ndjson". */
size_t compress_strip_suffix(const char *path);

#endif
