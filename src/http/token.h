/* token.h - the bearer token `pipemend serve` asks every request for: the
 * rules a token must meet, the file it is read from, and the one generated
 * on first start when the user named none.
 *
 * A token is 32 to 512 printable ASCII characters without spaces, at least
 * 8 of them distinct: "16 spaces" or "aaaa..." guard nothing. A token file
 * belongs to the user who runs the server and no one else may read or
 * write it (as ssh treats a private key): another local user who can read
 * it can act as any client. */
#ifndef PM_HTTP_TOKEN_H
#define PM_HTTP_TOKEN_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"

#define HTTP_TOKEN_MIN 32
#define HTTP_TOKEN_MAX 512
#define HTTP_TOKEN_MIN_DISTINCT 8

/* PM_OK when tok meets the rules above; else PM_ERR_CONFIG whose message
 * names where (e.g. "PIPEMEND_MCP_TOKEN", "the token in FILE") and whose
 * hint says how to make a good one. The token itself is never in err. */
pm_code http_token_check(const char *tok, const char *where, pm_err *err);

/* The first line of the file at path into buf (n > HTTP_TOKEN_MAX + 2),
 * checked by http_token_check. Fails when the file is not a regular file
 * of this user, or group or others have any permission on it. */
pm_code http_token_read(const char *path, char *buf, size_t n, pm_err *err);

/* Where the generated token lives: $XDG_CONFIG_HOME/pipemend/serve-token,
 * else $HOME/.config/pipemend/serve-token. Fails when neither is set. */
pm_code http_token_default_path(char *buf, size_t n, pm_err *err);

/* The token at path, read as http_token_read does; when there is no file
 * there, a new one (32 bytes from getrandom(2), as 64 hex digits) is
 * written first, its directory created 0700 and the file 0600. An existing
 * file is never overwritten: two servers starting at once agree on one.
 * *created says whether this call wrote it. */
pm_code http_token_ensure(const char *path, char *buf, size_t n, bool *created, pm_err *err);

#endif
