/* serve_auth.c - the authenticate hook of `pipemend serve` (serve_auth.h). */
#include "daemon/serve_auth.h"

#include <string.h>

#include "http/mcp_route.h"

static bool is_mcp(const char *path)
{
    size_t n = strlen(HTTP_MCP_PATH);
    return strncmp(path, HTTP_MCP_PATH, n) == 0 && (path[n] == 0 || path[n] == '/');
}

bool serve_auth(void *arg, http_req *rq, const char *bearer, bool token_ok)
{
    users_db *db = arg;
    const users_user *u = db && bearer ? users_db_find(db, bearer) : NULL;
    if (u) {
        if (u->role == USERS_VIEWER && is_mcp(http_req_path(rq))) {
            http_answer_error(rq, 403,
                              "Forbidden: %s is a viewer, and MCP's tools act; MCP needs the "
                              "role agent or operator",
                              u->name);
            return false;
        }
        http_req_set_user(rq, u);
        return true;
    }
    if (token_ok)
        return true;
    http_answer_error(rq, 401,
                      "Unauthorized: send \"Authorization: Bearer TOKEN\" with the token this "
                      "server was started with, or a user's token (pipemend users add)");
    return false;
}
