/* netaddr.c - address ranges (netaddr.h). */
#include "core/netaddr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool pm_netrange_parse(const char *s, pm_netrange *out)
{
    char buf[INET6_ADDRSTRLEN + 8];
    if (!s || strlen(s) >= sizeof buf)
        return false;
    snprintf(buf, sizeof buf, "%s", s);
    char *slash = strchr(buf, '/');
    if (slash)
        *slash = '\0';
    memset(out, 0, sizeof *out);
    unsigned max;
    if (inet_pton(AF_INET, buf, out->addr) == 1) {
        out->family = AF_INET;
        max = 32;
    } else if (inet_pton(AF_INET6, buf, out->addr) == 1) {
        out->family = AF_INET6;
        max = 128;
    } else {
        return false;
    }
    out->prefix = max;
    if (slash) {
        const char *p = slash + 1;
        if (*p < '0' || *p > '9' || strlen(p) > 3)
            return false;
        char *end;
        errno = 0;
        unsigned long bits = strtoul(p, &end, 10);
        if (*end || errno || bits > max)
            return false;
        out->prefix = (unsigned)bits;
    }
    return true;
}

static bool prefix_equal(const uint8_t *a, const uint8_t *b, unsigned bits)
{
    unsigned whole = bits / 8, rest = bits % 8;
    if (memcmp(a, b, whole) != 0)
        return false;
    if (!rest)
        return true;
    uint8_t mask = (uint8_t)(0xffu << (8 - rest));
    return (a[whole] & mask) == (b[whole] & mask);
}

bool pm_netrange_match(const pm_netrange *r, const struct sockaddr *sa)
{
    if (!sa)
        return false;
    const uint8_t *peer;
    int family = sa->sa_family;
    if (family == AF_INET) {
        peer = (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
    } else if (family == AF_INET6) {
        const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        peer = (const uint8_t *)a6;
        if (IN6_IS_ADDR_V4MAPPED(a6)) {
            family = AF_INET;
            peer += 12;
        }
    } else {
        return false;
    }
    return family == r->family && prefix_equal(peer, r->addr, r->prefix);
}
