/* health.c - the /healthz route (health.h): the smallest route there is,
 * answering GET (and HEAD) with a fixed JSON body; any other method 405. */
#include "http/health.h"

#include <string.h>

/* Before the body: a POST here is refused for its method, not its size. */
static void health_headers(void *arg, http_req *rq)
{
    const char *method = http_req_method(rq);
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        http_add_header(rq, "Allow", "GET, HEAD");
        http_answer_error(rq, 405, "Method Not Allowed: " HTTP_HEALTH_PATH " takes GET");
    }
}

static void health_handle(void *arg, http_req *rq)
{
    static const char ok[] = "{\"status\":\"ok\"}";
    http_answer(rq, 200, "application/json", ok, sizeof ok - 1);
}

pm_code http_health_mount(http_server *srv, pm_err *err)
{
    http_route r = {.path = HTTP_HEALTH_PATH, .headers = health_headers, .handle = health_handle};
    return http_server_mount(srv, &r, err);
}
