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
/* s made safe for a terminal or a line-oriented log, into out (cap bytes,
 * NUL-terminated, cut on a character boundary; 4 * n + 1 always holds it):
 * what could move the cursor, clear the screen, start a new line or
 * reorder text is shown instead of sent. C0 controls, DEL and invalid
 * bytes become \xNN; C1 controls, the bidirectional controls (U+061C,
 * U+200E, U+200F, U+202A..U+202E, U+2066..U+2069) and what does not show
 * (zero-width characters, fillers, variation selectors, tags) become
 * \u{XXXX}; everything else is copied. Returns the length written. */
size_t pm_utf8_escape_controls(const char *s, size_t n, char *out, size_t cap);
/* Largest prefix length <= max that does not split a sequence. */
size_t pm_utf8_truncate(const char *s, size_t n, size_t max);

#endif
