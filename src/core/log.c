/* log.c - leveled logging to stderr: text lines with a "pipemend: level:"
 * prefix (the default, for people), or JSON lines (`--log-format json`,
 * for log collectors: journald, Loki, Elasticsearch), one object a line:
 *
 *   {"time":"2026-12-06T21:30:00.123Z","level":"info","message":"..."}
 *
 * Each line is written with one call, so lines from the daemon's threads
 * never interleave. */
#include "core/log.h"

#include <stdbool.h>

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/utf8.h"

static pm_log_level current = PM_LOG_INFO;
static pm_log_format format = PM_LOG_TEXT;
static const char *const names[] = {"error", "warning", "info", "debug"};

void pm_log_set_level(pm_log_level level)
{
    current = level;
}

pm_log_level pm_log_get_level(void)
{
    return current;
}

void pm_log_set_format(pm_log_format f)
{
    format = f;
}

pm_log_format pm_log_get_format(void)
{
    return format;
}

/* detail and hint may be NULL. */
static void log_json(pm_log_level level, const char *message, const char *detail, const char *hint)
{
    struct timespec ts;
    struct tm tm;
    char when[40];
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(when + n, sizeof when - n, ".%03ldZ", ts.tv_nsec / 1000000L);
    json_t *o =
        json_pack("{s:s, s:s, s:s}", "time", when, "level", names[level], "message", message);
    if (o && detail)
        json_object_set_new(o, "detail", json_string(detail));
    if (o && hint)
        json_object_set_new(o, "hint", json_string(hint));
    char *line = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (line)
        fprintf(stderr, "%s\n", line);
    else /* out of memory: the message still goes out */
        fprintf(stderr, "{\"level\":\"%s\",\"message\":\"(out of memory)\"}\n", names[level]);
    free(line);
}

/* A line left open on stderr (a progress bar, redrawn in place with \r):
 * a log line first clears it, so it does not land in the middle; the bar
 * is drawn again at its next update. */
static volatile int line_open;

void pm_log_line_open(bool open)
{
    line_open = open;
}

static void close_line(void)
{
    if (line_open && format == PM_LOG_TEXT) {
        fputs("\r\033[K", stderr);
        line_open = 0;
    }
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
     * on the terminal or start a line of its own; the result is valid
     * UTF-8, so JSON takes it as it is */
    size_t len = n < 0 ? 0 : (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
    char safe[4 * sizeof line + 1];
    pm_utf8_escape_controls(line, len, safe, sizeof safe);
    close_line();
    if (format == PM_LOG_JSON)
        log_json(level, safe, NULL, NULL);
    else
        fprintf(stderr, "pipemend: %s: %s\n", names[level], safe);
}

static void log_parts(pm_log_level level, const char *message, const char *detail, const char *hint)
{
    if (level > pm_log_get_level())
        return;
    char m[4 * 1024 + 1], d[4 * 1024 + 1], h[4 * 1024 + 1];
    pm_utf8_escape_controls(message, strnlen(message, 1024), m, sizeof m);
    if (detail)
        pm_utf8_escape_controls(detail, strnlen(detail, 1024), d, sizeof d);
    if (hint)
        pm_utf8_escape_controls(hint, strnlen(hint, 1024), h, sizeof h);
    close_line();
    if (format == PM_LOG_JSON) {
        log_json(level, m, detail ? d : NULL, hint ? h : NULL);
        return;
    }
    fprintf(stderr, "pipemend: %s: %s\n", level == PM_LOG_ERROR ? "error" : "warning", m);
    if (detail)
        fprintf(stderr, "  detail: %s\n", d);
    if (hint)
        fprintf(stderr, "  hint: %s\n", h);
}

void pm_log_error_parts(const char *message, const char *detail, const char *hint)
{
    log_parts(PM_LOG_ERROR, message, detail, hint);
}

void pm_log_warn_parts(const char *message, const char *detail, const char *hint)
{
    log_parts(PM_LOG_WARN, message, detail, hint);
}
