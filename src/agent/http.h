/* http.h - one HTTPS POST of a JSON body to a model provider, over libcurl.
 * No retries here (agent.c decides); the answer's status, body (capped)
 * and Retry-After come back whatever the status. */
#ifndef PM_AGENT_HTTP_H
#define PM_AGENT_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "core/err.h"

/* The largest answer read from a provider; a longer one is an error. */
#define AGENT_HTTP_MAX_BODY (8u << 20)

typedef struct agent_http_answer {
    long status;        /* 0: no HTTP answer (connection, timeout) */
    pm_buf body;        /* the answer's body, NUL-terminated */
    double retry_after; /* seconds from Retry-After, < 0 when absent */
    bool timed_out;     /* no (complete) answer before the timeout */
    bool stopped;       /* ended because stop() said so */
    char error[256];    /* what went wrong below HTTP, "" if nothing */
} agent_http_answer;

/* Starts libcurl once per process (safe from several threads at once). */
void agent_http_init(void);

/* POSTs body to url with headers (each "Name: value", NULL-terminated
 * list), waiting at most timeout_ms. stop (may be NULL) is polled while
 * waiting; when it returns true the transfer ends. The answer is in *out
 * (caller frees out->body with pm_buf_free). Returns PM_OK when an HTTP
 * answer arrived (any status), else PM_ERR_IO with out->error set. */
pm_code agent_http_post(const char *url, const char *const *headers, const char *body,
                        long timeout_ms, bool (*stop)(void *arg), void *stop_arg,
                        agent_http_answer *out, pm_err *err);

#endif
