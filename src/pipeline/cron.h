/* cron.h - when a scheduled pipeline is due: five-field cron expressions
 * in a named time zone, and `every:` intervals.
 *
 * A cron expression is minute hour day-of-month month day-of-week, each a
 * `*`, a number, a range `a-b`, a step `*\/n` or `a-b/n`, or a list of
 * those separated by commas; day-of-week 0-7 (0 and 7 are Sunday). As in
 * Vixie cron, when both day fields are restricted a day matches either.
 * Names (JAN, MON) and the @-shortcuts are not accepted: the message says
 * what is. Times are wall-clock times in the time zone (an IANA name such
 * as Europe/Paris, UTC by default), converted by ICU: a time skipped by a
 * daylight-saving change fires as late as the clock jumped (02:30 on a
 * night that skips 02:00-03:00 fires at 03:30), a time that happens twice
 * fires once. */
#ifndef PM_PIPELINE_CRON_H
#define PM_PIPELINE_CRON_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "core/err.h"

typedef struct pm_cron {
    uint64_t minute; /* bit m: minute m matches (0-59) */
    uint32_t hour;   /* 0-23 */
    uint32_t dom;    /* bit d: day d of the month (1-31) */
    uint16_t month;  /* bit m: month m (1-12) */
    uint8_t dow;     /* bit d: weekday d (0 Sunday - 6) */
    bool dom_any;    /* the day-of-month field was `*` */
    bool dow_any;    /* the day-of-week field was `*` */
    char tz[64];     /* the time zone's IANA name */
} pm_cron;

/* Parses expr in time zone tz (NULL: UTC). PM_ERR_CONFIG with a message
 * naming the field and what it accepts. */
pm_code cron_parse(const char *expr, const char *tz, pm_cron *out, pm_err *err);

/* The first time the expression fires strictly after `after` (epoch
 * seconds), within about four years; false when it never does (Feb 30). */
bool cron_next(const pm_cron *c, time_t after, time_t *next);

/* Whether tz is a time zone ICU knows. */
bool cron_tz_valid(const char *tz);

/* A duration such as 90s, 5m, 2h, 1d (or a bare number of seconds), in
 * seconds; false when it is not one or is not positive. */
bool cron_duration(const char *text, int64_t *seconds);

#endif
