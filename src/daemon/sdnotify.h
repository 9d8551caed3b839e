/* sdnotify.h - telling systemd how `pipemend serve` is doing, for a unit
 * of Type=notify (contrib/pipemend.service): READY=1 once the HTTP server
 * listens and the scheduler runs, STOPPING=1 when SIGTERM arrives.
 *
 * The protocol is one datagram of "VAR=value" lines to the AF_UNIX socket
 * named by $NOTIFY_SOCKET (a path, or "@name" for the abstract namespace),
 * as sd_notify(3) documents it as a stable interface; it is a dozen lines,
 * so pipemend speaks it itself rather than linking libsystemd. Without
 * $NOTIFY_SOCKET (not under systemd, or Type=simple) nothing is sent. */
#ifndef PM_DAEMON_SDNOTIFY_H
#define PM_DAEMON_SDNOTIFY_H

#include <stdbool.h>

/* Sends state (e.g. "READY=1"); false when there is no $NOTIFY_SOCKET or
 * the datagram could not be sent (logged at debug: systemd then times the
 * unit out and says so itself). */
bool sdnotify_send(const char *state);

#endif
