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

/* Non-ASCII code points that are not visible text, as sorted ranges:
 * C1 controls, every Unicode space (Zs, Zl, Zp), every format character
 * (Cf: joiners, direction marks and isolates, the byte order mark, tags,
 * interlinear annotation), every Default_Ignorable_Code_Point (variation
 * selectors, Hangul fillers, the combining grapheme joiner, Khmer inherent
 * vowels, Mongolian free variation selectors, U+E0000-E0FFF) and the
 * braille blank, as of Unicode 15 (ICU 72). They count as separators like
 * their ASCII cousins, so that a header cell "Customer\u00A0Email" (Excel's
 * no-break space) or a BOM left on the first CSV header still normalise to
 * what the eye reads, and "email" followed by tag characters is "email".
 * The table is written out rather than asked of ICU at run time: a column
 * name must not change when the system's ICU does; tests/unit/test_colname.c
 * checks it against the ICU it is built with. */
static const struct {
    uint32_t lo, hi;
} invisible_ranges[] = {
    {0x0080, 0x00A0},   {0x00AD, 0x00AD},   {0x034F, 0x034F},   {0x0600, 0x0605},
    {0x061C, 0x061C},   {0x06DD, 0x06DD},   {0x070F, 0x070F},   {0x0890, 0x0891},
    {0x08E2, 0x08E2},   {0x115F, 0x1160},   {0x1680, 0x1680},   {0x17B4, 0x17B5},
    {0x180B, 0x180F},   {0x2000, 0x200F},   {0x2028, 0x202F},   {0x205F, 0x206F},
    {0x2800, 0x2800},   {0x3000, 0x3000},   {0x3164, 0x3164},   {0xFE00, 0xFE0F},
    {0xFEFF, 0xFEFF},   {0xFFA0, 0xFFA0},   {0xFFF0, 0xFFFB},   {0x110BD, 0x110BD},
    {0x110CD, 0x110CD}, {0x13430, 0x1343F}, {0x1BCA0, 0x1BCA3}, {0x1D173, 0x1D17A},
    {0xE0000, 0xE0FFF},
};

static bool invisible(uint32_t cp)
{
    size_t lo = 0, hi = sizeof invisible_ranges / sizeof invisible_ranges[0];
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cp < invisible_ranges[mid].lo)
            hi = mid;
        else if (cp > invisible_ranges[mid].hi)
            lo = mid + 1;
        else
            return true;
    }
    return false;
}

bool colname_invisible(uint32_t cp)
{
    return cp >= 0x80 && invisible(cp);
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
    if (colname_system(out)) { /* step 6 */
        memmove(out + 2, out, len + 1);
        memcpy(out, "c_", 2);
        len += 2;
    }
    return len;
}

bool colname_system(const char *name)
{
    static const char *const sys[] = {
        "ctid",  "xmin",    "xmax", "cmin", "cmax", "tableoid", "oid", /* PostgreSQL */
        "rowid", "_rowid_", /* SQLite (and oid); normalising trims _rowid_ to rowid */
    };
    for (size_t i = 0; i < sizeof sys / sizeof sys[0]; i++)
        if (strcmp(name, sys[i]) == 0)
            return true;
    return false;
}
