/* log.c - leveled logging to stderr with a "pipemend: level:" prefix. */
#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>

#include "core/utf8.h"

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
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    /* what a log line quotes (a feed's bytes, a client's name) cannot draw
     * on the terminal or start a line of its own */
    size_t len = n < 0 ? 0 : (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
    char safe[4 * sizeof line + 1];
    pm_utf8_escape_controls(line, len, safe, sizeof safe);
    fprintf(stderr, "pipemend: %s: %s\n", names[level], safe);
}
