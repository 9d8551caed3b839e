/* http.c - a POST to a model provider over libcurl (see http.h). */
#include "agent/http.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void global_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

void agent_http_init(void)
{
    /* serve's workers and notifier may get here at once */
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, global_init);
}

typedef struct transfer {
    agent_http_answer *out;
    bool too_big;
    bool (*stop)(void *arg);
    void *stop_arg;
} transfer;

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    transfer *t = arg;
    size_t len = size * n;
    if (t->out->body.len + len > AGENT_HTTP_MAX_BODY) {
        t->too_big = true;
        return 0; /* ends the transfer */
    }
    pm_err err;
    return pm_buf_append(&t->out->body, p, len, &err) == PM_OK ? len : 0;
}

/* Retry-After in seconds (RFC 9110 also allows a date; providers send
 * seconds, and a date is treated as absent). */
static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
    transfer *t = arg;
    size_t len = size * n;
    static const char name[] = "retry-after:";
    if (len > sizeof name - 1 && strncasecmp(p, name, sizeof name - 1) == 0) {
        char v[64];
        size_t k = len - (sizeof name - 1);
        if (k >= sizeof v)
            k = sizeof v - 1;
        memcpy(v, p + sizeof name - 1, k);
        v[k] = '\0';
        char *end;
        double d = strtod(v, &end);
        while (*end == ' ' || *end == '\r' || *end == '\n' || *end == '\t')
            end++;
        if (end != v && *end == '\0' && d >= 0)
            t->out->retry_after = d;
    }
    return len;
}

static int on_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    transfer *t = arg;
    if (t->stop && t->stop(t->stop_arg)) {
        t->out->stopped = true;
        return 1;
    }
    return 0;
}

pm_code agent_http_post(const char *url, const char *const *headers, const char *body,
                        long timeout_ms, bool (*stop)(void *arg), void *stop_arg,
                        agent_http_answer *out, pm_err *err)
{
    memset(out, 0, sizeof *out);
    pm_buf_init(&out->body, AGENT_HTTP_MAX_BODY + 1);
    out->retry_after = -1;
    transfer t = {.out = out, .stop = stop, .stop_arg = stop_arg};
    CURL *c = curl_easy_init();
    if (!c) {
        snprintf(out->error, sizeof out->error, "cannot start libcurl");
        return pm_err_set(err, PM_ERR_NOMEM, "%s", out->error);
    }
    struct curl_slist *h = NULL;
    for (size_t i = 0; headers && headers[i]; i++)
        h = curl_slist_append(h, headers[i]);
    h = curl_slist_append(h, "Content-Type: application/json");
    h = curl_slist_append(h, "Expect:"); /* no 100-continue round trip */
    char errbuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &t);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, &t);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms > 0 ? timeout_ms : 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms > 0 ? timeout_ms : 1L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L); /* a key is never sent elsewhere */
    curl_easy_setopt(c, CURLOPT_USERAGENT, "pipemend-agent");
    CURLcode rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    pm_code code = PM_OK;
    if (t.too_big) {
        snprintf(out->error, sizeof out->error, "the answer is larger than %u bytes",
                 AGENT_HTTP_MAX_BODY);
        code = PM_ERR_IO;
    } else if (rc != CURLE_OK) {
        out->timed_out = rc == CURLE_OPERATION_TIMEDOUT;
        snprintf(out->error, sizeof out->error, "%s",
                 out->stopped ? "interrupted"
                 : *errbuf    ? errbuf
                              : curl_easy_strerror(rc));
        code = PM_ERR_IO;
    }
    if (!code && pm_buf_putc(&out->body, '\0', err) == PM_OK)
        out->body.len--; /* NUL-terminated, not counted */
    if (code)
        pm_err_set(err, code, "%s", out->error);
    return code;
}
