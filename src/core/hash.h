/* hash.h - non-cryptographic hashing for lookup tables and file
 * fingerprints (FNV-1a, 64 bit). The audit chain's SHA-256 is elsewhere. */
#ifndef PM_CORE_HASH_H
#define PM_CORE_HASH_H

#include <stddef.h>
#include <stdint.h>

static inline uint64_t pm_hash(const void *p, size_t n)
{
    const unsigned char *s = p;
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

#endif
