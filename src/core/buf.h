/* buf.h - growable byte buffer with a hard maximum (curl's curlx_dyn).
 *
 * Every buffer that grows from outside input has a limit; going past it
 * fails that append with PM_ERR_LIMIT and leaves the buffer as it was, so
 * one oversized record fails alone. The data is always NUL-terminated. */
#ifndef PM_CORE_BUF_H
#define PM_CORE_BUF_H

#include <stddef.h>

#include "core/err.h"

typedef struct pm_buf {
    char *data; /* owned; NULL until the first append */
    size_t len;
    size_t cap;
    size_t max; /* largest len allowed */
} pm_buf;

void pm_buf_init(pm_buf *b, size_t max);
void pm_buf_free(pm_buf *b);
void pm_buf_reset(pm_buf *b); /* len = 0, keeps the memory */
pm_code pm_buf_append(pm_buf *b, const void *p, size_t n, pm_err *err);
pm_code pm_buf_puts(pm_buf *b, const char *s, pm_err *err);
pm_code pm_buf_putc(pm_buf *b, char c, pm_err *err);
pm_code pm_buf_printf(pm_buf *b, pm_err *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Appends s as a JSON string literal with quotes, escaping as RFC 8259 asks.
 * Invalid UTF-8 bytes are written as U+FFFD so the output is always valid. */
pm_code pm_buf_json_str(pm_buf *b, const char *s, size_t n, pm_err *err);

#endif
