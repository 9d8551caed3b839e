/* utf8.h - UTF-8 validation (RFC 3629: no overlongs, no surrogates, nothing
 * above U+10FFFF). The data plane validates every byte it loads; the ASCII
 * fast path keeps that cheap. */
#ifndef PM_CORE_UTF8_H
#define PM_CORE_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Length of the valid sequence starting at s (1..4), or 0 if invalid. */
size_t pm_utf8_seq_len(const char *s, size_t n);
/* Offset of the first invalid byte, or n if all of s is valid. */
size_t pm_utf8_check(const char *s, size_t n);
static inline bool pm_utf8_valid(const char *s, size_t n)
{
    return pm_utf8_check(s, n) == n;
}
/* Writes code point cp as UTF-8 into out (4 bytes room); returns the length. */
size_t pm_utf8_encode(uint32_t cp, char *out);
/* Largest prefix length <= max that does not split a sequence. */
size_t pm_utf8_truncate(const char *s, size_t n, size_t max);

#endif
