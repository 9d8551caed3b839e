/* err.c - names, texts and setters for the error convention of err.h. */
#include "core/err.h"

#include <stdio.h>
#include <string.h>

static const char *const code_names[] = {
#define PM_ERR(name, text) "PM_ERR_" #name,
#include "err.def"
#undef PM_ERR
};

static const char *const code_texts[] = {
#define PM_ERR(name, text) text,
#include "err.def"
#undef PM_ERR
};

const char *pm_code_name(pm_code code)
{
    return (unsigned)code < PM_CODE_COUNT ? code_names[code] : "PM_ERR_UNKNOWN";
}

const char *pm_code_text(pm_code code)
{
    return (unsigned)code < PM_CODE_COUNT ? code_texts[code] : "unknown error";
}

void pm_err_clear(pm_err *err)
{
    if (err)
        memset(err, 0, sizeof *err);
}

pm_code pm_err_set(pm_err *err, pm_code code, const char *fmt, ...)
{
    if (!err)
        return code;
    pm_err_clear(err);
    err->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return code;
}

void pm_err_detail(pm_err *err, const char *fmt, ...)
{
    if (!err)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->detail, sizeof err->detail, fmt, ap);
    va_end(ap);
}

void pm_err_hint(pm_err *err, const char *fmt, ...)
{
    if (!err)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->hint, sizeof err->hint, fmt, ap);
    va_end(ap);
}
