/* colname.c - the field-name-to-column-name rule of colname.h.
 *
 * One pass, writing straight into the caller's 64 bytes: underscores are
 * held back as a pending count and only written when a character follows
 * them, which trims the trailing ones for free and leaves the leading ones
 * unwritten. The output stops at the first character that would not fit
 * in 63 bytes, so a long name costs no more than a short one. */
#include "schema/colname.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "core/utf8.h"

/* Non-ASCII code points that are not visible text: C1 controls and the
 * Unicode spaces, joiners, direction marks and the byte order mark. They
 * count as separators like their ASCII cousins, so that a header cell
 * "Customer\u00A0Email" (Excel's no-break space) or a BOM left on the first
 * CSV header still normalise to what the eye reads. */
static bool invisible(uint32_t cp)
{
    return (cp >= 0x80 && cp <= 0xA0) || cp == 0xAD || cp == 0x1680 || cp == 0x180E ||
           (cp >= 0x2000 && cp <= 0x200F) || (cp >= 0x2028 && cp <= 0x202F) ||
           (cp >= 0x205F && cp <= 0x2064) || cp == 0x3000 || cp == 0xFEFF;
}

static uint32_t decode(const unsigned char *s, size_t k)
{
    switch (k) {
    case 2:
        return (uint32_t)(s[0] & 0x1F) << 6 | (s[1] & 0x3F);
    case 3:
        return (uint32_t)(s[0] & 0x0F) << 12 | (uint32_t)(s[1] & 0x3F) << 6 | (s[2] & 0x3F);
    default:
        return (uint32_t)(s[0] & 0x07) << 18 | (uint32_t)(s[1] & 0x3F) << 12 |
               (uint32_t)(s[2] & 0x3F) << 6 | (s[3] & 0x3F);
    }
}

size_t colname_normalise(const char *name, size_t n, char *out)
{
    size_t len = 0, pending = 0;
    size_t i = 0;
    while (i < n) {
        unsigned char c = (unsigned char)name[i];
        const char *ch; /* the output character: one byte or a UTF-8 sequence */
        size_t k;
        char lower;
        if (c < 0x80) {
            k = 1;
            if (c >= 'A' && c <= 'Z')
                lower = (char)(c + ('a' - 'A'));
            else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
                lower = (char)c;
            else
                lower = '_';
            ch = &lower;
        } else {
            k = pm_utf8_seq_len(name + i, n - i);
            if (k == 0 || invisible(decode((const unsigned char *)name + i, k))) {
                /* invalid bytes break the contract, but must not leak out */
                i += k ? k : 1;
                pending += len > 0;
                continue;
            }
            ch = name + i;
        }
        i += k;
        if (*ch == '_') {
            pending += len > 0;
            continue;
        }
        if (len == 0 && *ch >= '0' && *ch <= '9') {
            memcpy(out, "c_", 2);
            len = 2;
        }
        if (len + pending + k > COLNAME_MAX)
            break; /* the cut: whatever underscores were pending go too */
        memset(out + len, '_', pending);
        len += pending;
        pending = 0;
        memcpy(out + len, ch, k);
        len += k;
    }
    if (len == 0) {
        memcpy(out, "c_", 2);
        len = 2;
    }
    out[len] = '\0';
    return len;
}
