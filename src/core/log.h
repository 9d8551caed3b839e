/* log.h - logging to stderr. Data goes to stdout; everything a person reads
 * about the progress of a command goes here. */
#ifndef PM_CORE_LOG_H
#define PM_CORE_LOG_H

#include <stdbool.h>

typedef enum pm_log_level { PM_LOG_ERROR, PM_LOG_WARN, PM_LOG_INFO, PM_LOG_DEBUG } pm_log_level;

/* PM_LOG_TEXT: "pipemend: LEVEL: MESSAGE" lines (the default);
 * PM_LOG_JSON: one {"time","level","message"} object a line (log.c). */
typedef enum pm_log_format { PM_LOG_TEXT, PM_LOG_JSON } pm_log_format;

void pm_log_set_level(pm_log_level level);
/* A partial line (a progress bar) is on stderr, or no longer is: a log line
 * clears it first rather than landing in its middle. */
void pm_log_line_open(bool open);
void pm_log_set_format(pm_log_format format);
pm_log_format pm_log_get_format(void);
pm_log_level pm_log_get_level(void);
void pm_log(pm_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* An error with its detail and hint (NULL: none): text, the three lines
 * "pipemend: error: M", "  detail: D", "  hint: H"; JSON, one object with
 * detail and hint members. Each part is cut at 1 KiB. */
void pm_log_error_parts(const char *message, const char *detail, const char *hint);
/* The same for a warning (shown unless the level is error). */
void pm_log_warn_parts(const char *message, const char *detail, const char *hint);

#define pm_error(...) pm_log(PM_LOG_ERROR, __VA_ARGS__)
#define pm_warn(...) pm_log(PM_LOG_WARN, __VA_ARGS__)
#define pm_info(...) pm_log(PM_LOG_INFO, __VA_ARGS__)
#define pm_debug(...) pm_log(PM_LOG_DEBUG, __VA_ARGS__)

#endif
