/* err.h - the single error convention of pipemend.
 *
 * Every fallible function returns a pm_code and takes `pm_err *err` as its
 * last argument (which may be NULL when the caller does not care). The struct
 * carries a one-line message (no trailing period), an optional detail and
 * hint, and the SQLSTATE when a database produced the error. Codes come from
 * err.def so that their names and texts are defined once. */
#ifndef PM_CORE_ERR_H
#define PM_CORE_ERR_H

#include <stdarg.h>

typedef enum pm_code {
#define PM_ERR(name, text) PM_##name,
#include "err.def"
#undef PM_ERR
    PM_CODE_COUNT
} pm_code;

/* PM_OK aside, every code is spelt PM_ERR_x in prose; these aliases keep the
 * short names readable at call sites. */
#define PM_ERR_NOMEM PM_NOMEM
#define PM_ERR_USAGE PM_USAGE
#define PM_ERR_CONFIG PM_CONFIG
#define PM_ERR_IO PM_IO
#define PM_ERR_PARSE PM_PARSE
#define PM_ERR_LIMIT PM_LIMIT
#define PM_ERR_DB PM_DB
#define PM_ERR_CONSTRAINT PM_CONSTRAINT
#define PM_ERR_NOTFOUND PM_NOTFOUND
#define PM_ERR_SCHEMA PM_SCHEMA
#define PM_ERR_BUSY PM_BUSY
#define PM_ERR_INTERNAL PM_INTERNAL
#define PM_ERR_CONFLICT PM_CONFLICT

typedef struct pm_err {
    pm_code code;
    char msg[512];
    char detail[512];
    char hint[512];
    char sqlstate[6];
} pm_err;

/* Sets code and message; returns code so callers can `return pm_err_set(...)`.
 * err may be NULL. */
pm_code pm_err_set(pm_err *err, pm_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void pm_err_detail(pm_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void pm_err_hint(pm_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void pm_err_clear(pm_err *err);

/* "PM_ERR_PARSE" style name and the default text from err.def. */
const char *pm_code_name(pm_code code);
const char *pm_code_text(pm_code code);

#endif
