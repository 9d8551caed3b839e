/* serve_auth.c - the authenticate hook of `pipemend serve` (serve_auth.h). */
#include "daemon/serve_auth.h"

#include <string.h>

#include "http/mcp_route.h"

static bool is_mcp(const char *path)
{
    size_t n = strlen(HTTP_MCP_PATH);
    return strncmp(path, HTTP_MCP_PATH, n) == 0 && (path[n] == 0 || path[n] == '/');
}

static bool from_proxy(const serve_auth_cfg *cfg, const http_req *rq)
{
    const struct sockaddr *peer = http_req_peer(rq);
    for (size_t i = 0; i < cfg->nproxies; i++)
        if (pm_netrange_match(&cfg->proxies[i], peer))
            return true;
    return false;
}

bool serve_auth(void *arg, http_req *rq, const char *bearer, bool token_ok)
{
    const serve_auth_cfg *cfg = arg;
    users_db *db = cfg->users;
    const char *named = cfg->proxy_header ? http_req_header(rq, cfg->proxy_header) : NULL;
    const users_user *u = NULL;
    if (named && *named && from_proxy(cfg, rq)) {
        u = users_db_find_name(db, named);
        if (!u) {
            http_answer_error(rq, 403,
                              "Forbidden: the proxy names the user \"%.64s\", whom the users "
                              "file does not have; add them with pipemend users add NAME --role "
                              "viewer|operator|agent",
                              named);
            return false;
        }
    } else if (db && bearer) {
        u = users_db_find(db, bearer);
    }
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
