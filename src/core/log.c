/* log.c - leveled logging to stderr with a "pipemend: level:" prefix. */
#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>

static pm_log_level current = PM_LOG_INFO;
static const char *const names[] = {"error", "warning", "info", "debug"};

void pm_log_set_level(pm_log_level level)
{
    current = level;
}

pm_log_level pm_log_get_level(void)
{
    return current;
}

void pm_log(pm_log_level level, const char *fmt, ...)
{
    if (level > current)
        return;
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "pipemend: %s: %s\n", names[level], line);
}
