/* netaddr.h - an address range written as a person writes it ("10.0.0.5",
 * "10.0.0.0/8", "::1", "fd00::/8"), and whether a peer's address is in it:
 * serve's trusted reverse proxies (pipeline/config.h, daemon/serve_auth.h).
 *
 * An IPv4 peer that arrives on an IPv6 socket as ::ffff:a.b.c.d matches
 * the IPv4 ranges. */
#ifndef PM_CORE_NETADDR_H
#define PM_CORE_NETADDR_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

typedef struct pm_netrange {
    int family;       /* AF_INET or AF_INET6 */
    uint8_t addr[16]; /* network byte order; 4 bytes for AF_INET */
    unsigned prefix;  /* bits that must match: 32 or 128 for one address */
} pm_netrange;

/* Parses s; false when it is not an address, or its prefix is too long. */
bool pm_netrange_parse(const char *s, pm_netrange *out);
/* Whether the peer sa (AF_INET or AF_INET6) lies in r. */
bool pm_netrange_match(const pm_netrange *r, const struct sockaddr *sa);

#endif
