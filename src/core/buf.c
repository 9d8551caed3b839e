/* buf.c - the bounded growable buffer of buf.h. */
#include "core/buf.h"

#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "core/arena.h"
#include "core/utf8.h"

void pm_buf_init(pm_buf *b, size_t max)
{
    b->data = NULL;
    b->len = b->cap = 0;
    b->max = max;
}

void pm_buf_free(pm_buf *b)
{
    free(b->data);
    pm_buf_init(b, b->max);
}

void pm_buf_reset(pm_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

static pm_code grow(pm_buf *b, size_t extra, pm_err *err)
{
    if (extra > b->max || b->len > b->max - extra)
        return pm_err_set(err, PM_ERR_LIMIT, "buffer would exceed its limit of %zu bytes", b->max);
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return PM_OK;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap = cap * 2;
    b->data = pm_xrealloc(b->data, cap);
    b->cap = cap;
    return PM_OK;
}

pm_code pm_buf_append(pm_buf *b, const void *p, size_t n, pm_err *err)
{
    pm_code rc = grow(b, n, err);
    if (rc)
        return rc;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return PM_OK;
}

pm_code pm_buf_puts(pm_buf *b, const char *s, pm_err *err)
{
    return pm_buf_append(b, s, strlen(s), err);
}

pm_code pm_buf_putc(pm_buf *b, char c, pm_err *err)
{
    return pm_buf_append(b, &c, 1, err);
}

pm_code pm_buf_printf(pm_buf *b, pm_err *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return pm_err_set(err, PM_ERR_INTERNAL, "cannot format message");
    pm_code rc = grow(b, (size_t)n, err);
    if (rc)
        return rc;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return PM_OK;
}

pm_code pm_buf_json_str(pm_buf *b, const char *s, size_t n, pm_err *err)
{
    static const char hex[] = "0123456789abcdef";
    pm_code rc = pm_buf_putc(b, '"', err);
    size_t i = 0;
    while (!rc && i < n) {
        /* a run of bytes that stand for themselves goes in one append */
        size_t j = i;
        while (j < n && (unsigned char)s[j] >= 0x20 && (unsigned char)s[j] < 0x80 && s[j] != '"' &&
               s[j] != '\\')
            j++;
        if (j > i) {
            rc = pm_buf_append(b, s + i, j - i, err);
            i = j;
            continue;
        }
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x80) {
            size_t k = pm_utf8_seq_len(s + i, n - i);
            if (k == 0) {
                rc = pm_buf_append(b, "\xEF\xBF\xBD", 3, err);
                i++;
            } else {
                rc = pm_buf_append(b, s + i, k, err);
                i += k;
            }
            continue;
        }
        switch (c) {
        case '"':
            rc = pm_buf_append(b, "\\\"", 2, err);
            break;
        case '\\':
            rc = pm_buf_append(b, "\\\\", 2, err);
            break;
        case '\n':
            rc = pm_buf_append(b, "\\n", 2, err);
            break;
        case '\r':
            rc = pm_buf_append(b, "\\r", 2, err);
            break;
        case '\t':
            rc = pm_buf_append(b, "\\t", 2, err);
            break;
        default:
            if (c < 0x20) {
                char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
                rc = pm_buf_append(b, esc, 6, err);
            } else {
                rc = pm_buf_putc(b, (char)c, err);
            }
        }
        i++;
    }
    if (!rc)
        rc = pm_buf_putc(b, '"', err);
    return rc;
}
