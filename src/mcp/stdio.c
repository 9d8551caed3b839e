/* stdio.c - the stdio transport of MCP: one JSON-RPC message per line in,
 * one response per line out, nothing else on the output (logs go to
 * stderr through core/log.h).
 *
 * Input is read in blocks and split at newlines; a line grows in a buffer
 * capped at the server's max_message. A longer line is not kept: its first
 * max_message bytes stay (enough to read the id at its head), the rest is
 * counted and dropped until its newline, and the server answers it with
 * -32600 or -32700. The process's memory is bounded by the cap whatever the
 * client sends. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mcp/mcp.h"

#define READ_BLOCK 65536
#define MAX_RESPONSE (64u << 20)

static pm_code write_all(int fd, const char *p, size_t n, pm_err *err)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return pm_err_set(err, PM_ERR_IO, "cannot write the response: %s",
                              w < 0 ? strerror(errno) : "nothing written");
        p += w;
        n -= (size_t)w;
    }
    return PM_OK;
}

/* Handles the line in line (or its kept prefix) and writes the answer. */
static pm_code dispatch(mcp_server *s, pm_buf *line, size_t total, pm_buf *out, int out_fd,
                        pm_err *err)
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
    pm_buf_reset(out);
    pm_code rc = oversized ? mcp_handle_oversized(s, line->data, n, total, out)
                           : mcp_handle(s, line->data, n, out);
    if (rc != PM_OK)
        return pm_err_set(err, rc, "cannot build the response");
    if (!out->len)
        return PM_OK;
    if (pm_buf_putc(out, '\n', NULL) != PM_OK) {
        /* the cap left no room for the newline: the response goes anyway */
        rc = write_all(out_fd, out->data, out->len, err);
        return rc ? rc : write_all(out_fd, "\n", 1, err);
    }
    return write_all(out_fd, out->data, out->len, err);
}

pm_code mcp_stdio_serve(mcp_server *s, int in_fd, int out_fd, pm_err *err)
{
    size_t cap = mcp_server_max_message(s);
    char *block = malloc(READ_BLOCK);
    if (!block)
        return pm_err_set(err, PM_ERR_NOMEM, "out of memory");
    pm_buf line, out;
    pm_buf_init(&line, cap);
    pm_buf_init(&out, MAX_RESPONSE);
    size_t total = 0; /* bytes of the current line, kept or not */
    pm_code rc = PM_OK;
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
                rc = dispatch(s, &line, total, &out, out_fd, err);
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
                rc = rc ? rc : dispatch(s, &line, total, &out, out_fd, err);
                pm_buf_reset(&line);
                total = 0;
                p++;
            }
        }
        if (rc != PM_OK)
            break;
    }
    pm_buf_free(&line);
    pm_buf_free(&out);
    free(block);
    return rc;
}
