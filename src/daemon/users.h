/* users.h - who may use `pipemend serve`: named users with a role, from a
 * file that `pipemend users add|list|remove` keeps and serve reads (the
 * path: config_users_file).
 *
 * The file holds names, roles and SHA-256 hashes of tokens, never a token:
 * `users add` prints the new token once and keeps only its hash, so a copy
 * of the file (a backup, a leaked config repository) admits no one. A token
 * is 32 random bytes (OpenSSL's RAND_bytes) as 64 hex digits: that much
 * entropy makes a plain SHA-256 as good as a slow password hash, and lets
 * every request be checked in microseconds.
 *
 *   # pipemend users: ...
 *   users:
 *     - name: alice
 *       role: operator
 *       token_sha256: 9f86d0...
 *       created_at: 2026-12-06T21:00:00Z
 *
 * Tokens are compared in constant time by construction: the token a client
 * sends is hashed, and its hash is compared with every user's hash with
 * CRYPTO_memcmp, all of them, without stopping at a match; what the time
 * depends on is the number of users, never the bytes of a token or a hash.
 *
 * Roles (what each may do is decided by the faces, REST's route table and
 * serve's /mcp check):
 *   viewer    reads
 *   operator  reads, and acts as a person: approve, reject, dismiss,
 *             trigger, replay; MCP too
 *   agent     MCP and the agent's tools, reads and trigger over REST;
 *             never approves or rejects */
#ifndef PM_DAEMON_USERS_H
#define PM_DAEMON_USERS_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"

#define USERS_NAME_MAX 64
#define USERS_TOKEN_BYTES 32
#define USERS_HASH_BYTES 32

typedef enum users_role { USERS_VIEWER, USERS_OPERATOR, USERS_AGENT } users_role;

typedef struct users_user {
    char name[USERS_NAME_MAX + 1];
    users_role role;
    unsigned char hash[USERS_HASH_BYTES]; /* SHA-256 of the token */
    char created_at[32];
} users_user;

typedef struct users_list {
    users_user *v; /* caller frees with users_list_free */
    size_t n;
} users_list;

const char *users_role_name(users_role r);
bool users_role_parse(const char *s, users_role *out);
/* 1 to 64 of [A-Za-z0-9._-], not beginning with '-' or '.'. */
bool users_name_ok(const char *name);

/* Reads the file at path; a file that does not exist is an empty list
 * (*exists false). Fails (PM_ERR_CONFIG, naming the file and the line)
 * when it is not this shape, and when group or others may write it or it
 * is not this user's: whoever may write it may add themselves. */
pm_code users_load(const char *path, users_list *out, bool *exists, pm_err *err);
void users_list_free(users_list *l);

/* Adds name with role to the file (created 0600, its directory 0700),
 * writing a new token's hex into token (65 bytes). PM_ERR_CONFIG when the
 * name is taken or not a valid name. The file is replaced whole (write,
 * fsync, rename), so a reader never sees half of it. */
pm_code users_add(const char *path, const char *name, users_role role, char token[65], pm_err *err);
/* PM_ERR_NOTFOUND when there is no such user. */
pm_code users_remove(const char *path, const char *name, pm_err *err);

/* ---- serve's view of the file ------------------------------------------ */

/* The users of a file as serve sees them: read at open, and again when the
 * file changes (its size, time or inode), so that `users add` and `users
 * remove` take effect at the next request. A file broken on reload keeps
 * the users read before, with a warning in the log. Safe from many
 * threads. */
typedef struct users_db users_db;

/* path may not exist yet (no users). NULL after err. */
users_db *users_db_open(const char *path, pm_err *err);
void users_db_free(users_db *db);
/* How many users there are now. */
size_t users_db_count(users_db *db);
/* The user whose token is token, or NULL; borrowed until users_db_free
 * (every version of the file read stays until then: they are small and
 * the file changes rarely). Constant time, as above. */
const users_user *users_db_find(users_db *db, const char *token);
/* The user called name, or NULL (a trusted proxy named them: names are
 * not secrets, so not in constant time). Borrowed as above. */
const users_user *users_db_find_name(users_db *db, const char *name);

#endif
