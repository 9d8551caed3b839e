/* stdio.c - the stdio transport of MCP: one JSON-RPC message per line in,
 * one response per line out, nothing else on the output (logs go to
 * stderr through core/log.h).
 *
 * Input is read in blocks and split at newlines; a line grows in a buffer
 * capped at the server's max_message. A longer line is not kept: its first
 * max_message bytes stay (enough to read the id at its head), the rest is
 * counted and dropped until its newline, and the server answers it with
 * -32600 or -32700. The process's memory is bounded by the cap whatever the
 * client sends.
 *
 * The reader accepts each message at once (an answer to the server's own
 * request, a cancellation), and queues the jobs it makes for one worker
 * thread, which runs them in order; writes to out_fd are whole messages
 * under a mutex, so notifications from a running tool and responses never
 * interleave. At end of input the worker finishes the queue, the session
 * closes (a tool waiting on the client gives up) and the call returns. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/log.h"
#include "mcp/mcp.h"

#define READ_BLOCK 65536
#define MAX_RESPONSE (64u << 20)

/* Writes the message and its newline, in one system call when the pipe
 * takes it whole: a reader woken for half a line would only sleep again. */
static pm_code write_line(int fd, const char *p, size_t n, pm_err *err)
{
    struct iovec iov[2] = {{(void *)p, n}, {"\n", 1}};
    int iovcnt = 2;
    struct iovec *v = iov;
    while (iovcnt) {
        ssize_t w = writev(fd, v, iovcnt);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return pm_err_set(err, PM_ERR_IO, "cannot write the response: %s",
                              w < 0 ? strerror(errno) : "nothing written");
        size_t left = (size_t)w;
        while (iovcnt && left >= v->iov_len) {
            left -= v->iov_len;
            v++;
            iovcnt--;
        }
        if (iovcnt) {
            v->iov_base = (char *)v->iov_base + left;
            v->iov_len -= left;
        }
    }
    return PM_OK;
}

typedef struct qitem {
    struct qitem *next;
    mcp_job *job;
} qitem;

typedef struct stdio_ctx {
    mcp_session *ss;
    int out_fd;
    pthread_mutex_t wmu; /* whole messages to out_fd */
    pthread_mutex_t qmu;
    pthread_cond_t qcv;
    qitem *head, *tail;
    bool busy; /* the worker runs a job */
    bool eof;
    atomic_bool failed; /* a write failed: stop (read without wmu) */
    pm_buf out;         /* the reader's responses to quick jobs */
    pm_err werr;
} stdio_ctx;

/* Writes one message and its newline. */
static pm_code send_line(void *arg, const char *msg, size_t len)
{
    stdio_ctx *x = arg;
    pthread_mutex_lock(&x->wmu);
    pm_code rc = x->failed ? PM_ERR_IO : write_line(x->out_fd, msg, len, &x->werr);
    if (rc != PM_OK)
        x->failed = true;
    pthread_mutex_unlock(&x->wmu);
    return rc;
}

/* Runs j, writes its response and frees it (out is the caller's buffer). */
static void run_job(stdio_ctx *x, mcp_job *j, pm_buf *out)
{
    mcp_out o = {send_line, x, NULL};
    pm_buf_reset(out);
    if (mcp_job_run(j, &o, out) != PM_OK)
        pm_error("mcp: cannot build a response");
    if (out->len)
        send_line(x, out->data, out->len);
    mcp_job_free(j);
}

static void *worker(void *arg)
{
    stdio_ctx *x = arg;
    pm_buf out;
    pm_buf_init(&out, MAX_RESPONSE);
    for (;;) {
        pthread_mutex_lock(&x->qmu);
        while (!x->head && !x->eof)
            pthread_cond_wait(&x->qcv, &x->qmu);
        qitem *it = x->head;
        if (it) {
            x->head = it->next;
            if (!x->head)
                x->tail = NULL;
        }
        x->busy = it != NULL;
        pthread_mutex_unlock(&x->qmu);
        if (!it)
            break;
        run_job(x, it->job, &out);
        free(it);
    }
    pm_buf_free(&out);
    return NULL;
}

static pm_code enqueue(stdio_ctx *x, mcp_job *j, pm_err *err)
{
    qitem *it = malloc(sizeof *it);
    if (!it) {
        mcp_job_free(j);
        return pm_err_set(err, PM_ERR_NOMEM, "out of memory");
    }
    it->job = j;
    it->next = NULL;
    pthread_mutex_lock(&x->qmu);
    if (x->tail)
        x->tail->next = it;
    else
        x->head = it;
    x->tail = it;
    pthread_cond_signal(&x->qcv);
    pthread_mutex_unlock(&x->qmu);
    return PM_OK;
}

/* Accepts the line in line (or its kept prefix) and queues its job. */
static pm_code dispatch(stdio_ctx *x, pm_buf *line, size_t total, pm_err *err)
{
    size_t n = line->len;
    bool oversized = total > n;
    if (n && line->data[n - 1] == '\r' && !oversized)
        n--;
    size_t i = 0;
    while (i < n && (line->data[i] == ' ' || line->data[i] == '\t'))
        i++;
    if (i == n)
        return PM_OK; /* a blank line is no message */
    mcp_job *j = oversized ? mcp_session_accept_oversized(x->ss, line->data, n, total)
                           : mcp_session_accept(x->ss, line->data, n);
    if (!j)
        return PM_OK;
    /* A quick job with nothing before it runs here: no hand-over to the
     * worker (it costs more than a ping), and the order stays. */
    pthread_mutex_lock(&x->qmu);
    bool idle = !x->head && !x->busy;
    pthread_mutex_unlock(&x->qmu);
    if (!idle || !mcp_job_quick(j))
        return enqueue(x, j, err);
    run_job(x, j, &x->out);
    return PM_OK;
}

pm_code mcp_stdio_serve(mcp_server *s, int in_fd, int out_fd, pm_err *err)
{
    size_t cap = mcp_server_max_message(s);
    char *block = malloc(READ_BLOCK);
    stdio_ctx x = {.ss = mcp_session_new(s), .out_fd = out_fd};
    if (!block || !x.ss) {
        free(block);
        mcp_session_free(x.ss);
        return pm_err_set(err, PM_ERR_NOMEM, "out of memory");
    }
    pm_buf_init(&x.out, MAX_RESPONSE);
    pthread_mutex_init(&x.wmu, NULL);
    pthread_mutex_init(&x.qmu, NULL);
    pthread_cond_init(&x.qcv, NULL);
    mcp_out stream = {send_line, &x, NULL};
    mcp_session_set_stream(x.ss, &stream);
    pthread_t th;
    pm_code rc = PM_OK;
    if (pthread_create(&th, NULL, worker, &x) != 0) {
        rc = pm_err_set(err, PM_ERR_INTERNAL, "cannot start the worker thread");
        goto out;
    }
    pm_buf line;
    pm_buf_init(&line, cap);
    size_t total = 0; /* bytes of the current line, kept or not */
    for (;;) {
        ssize_t r = read(in_fd, block, READ_BLOCK);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = pm_err_set(err, PM_ERR_IO, "cannot read standard input: %s", strerror(errno));
            break;
        }
        if (r == 0) { /* end of input: a last line without its newline still counts */
            if (total)
                rc = dispatch(&x, &line, total, err);
            break;
        }
        const char *p = block, *e = block + r;
        while (p < e && rc == PM_OK) {
            const char *nl = memchr(p, '\n', (size_t)(e - p));
            const char *stop = nl ? nl : e;
            size_t n = (size_t)(stop - p);
            size_t room = line.len < cap ? cap - line.len : 0;
            if (pm_buf_append(&line, p, n < room ? n : room, NULL) != PM_OK)
                rc = pm_err_set(err, PM_ERR_NOMEM, "out of memory");
            total += n;
            p = stop;
            if (nl) {
                rc = rc ? rc : dispatch(&x, &line, total, err);
                pm_buf_reset(&line);
                total = 0;
                p++;
            }
        }
        if (rc != PM_OK || x.failed)
            break;
    }
    pm_buf_free(&line);
    /* the queue is finished; a job still waiting on the client cannot be
     * answered any more */
    pthread_mutex_lock(&x.qmu);
    x.eof = true;
    pthread_cond_signal(&x.qcv);
    pthread_mutex_unlock(&x.qmu);
    mcp_session_close(x.ss);
    pthread_join(th, NULL);
    if (rc == PM_OK && x.failed)
        rc = pm_err_set(err, PM_ERR_IO, "%s", x.werr.msg);
out:
    mcp_session_set_stream(x.ss, NULL);
    mcp_session_free(x.ss);
    pthread_mutex_destroy(&x.wmu);
    pthread_mutex_destroy(&x.qmu);
    pthread_cond_destroy(&x.qcv);
    pm_buf_free(&x.out);
    free(block);
    return rc;
}
