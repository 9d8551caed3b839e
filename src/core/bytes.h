/* bytes.h - a comparison for the short byte strings of records (field
 * names, keys) on the per-row paths. */
#ifndef PM_CORE_BYTES_H
#define PM_CORE_BYTES_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* a[0..n) == b[0..n): names of 4 to 16 bytes with two overlapping loads a
 * side instead of a library call per field. */
static inline bool pm_bytes_same(const char *a, const char *b, size_t n)
{
    if (n >= 8 && n <= 16) {
        uint64_t x, y, u, v;
        memcpy(&x, a, 8), memcpy(&y, b, 8);
        memcpy(&u, a + n - 8, 8), memcpy(&v, b + n - 8, 8);
        return ((x ^ y) | (u ^ v)) == 0;
    }
    if (n >= 4 && n < 8) {
        uint32_t x, y, u, v;
        memcpy(&x, a, 4), memcpy(&y, b, 4);
        memcpy(&u, a + n - 4, 4), memcpy(&v, b + n - 4, 4);
        return ((x ^ y) | (u ^ v)) == 0;
    }
    return memcmp(a, b, n) == 0;
}

#endif
