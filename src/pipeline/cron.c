/* cron.c - cron expressions and their next time, in a time zone through
 * ICU's calendar (cron.h). */
#include "pipeline/cron.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unicode/ucal.h>
#include <unicode/ustring.h>

static const struct {
    const char *name;
    int lo, hi;
} fields[5] = {
    {"minute", 0, 59}, {"hour", 0, 23},       {"day of month", 1, 31},
    {"month", 1, 12},  {"day of week", 0, 7},
};

/* One field into bits; *any when it is `*`. */
static pm_code parse_field(const char *text, int f, uint64_t *bits, bool *any, pm_err *err)
{
    *bits = 0;
    *any = strcmp(text, "*") == 0;
    char buf[128];
    snprintf(buf, sizeof buf, "%s", text);
    for (char *sp = NULL, *part = strtok_r(buf, ",", &sp); part; part = strtok_r(NULL, ",", &sp)) {
        int lo = fields[f].lo, hi = fields[f].hi, step = 1;
        char *slash = strchr(part, '/');
        if (slash) {
            *slash = '\0';
            char *end;
            errno = 0;
            long v = strtol(slash + 1, &end, 10);
            if (*end || end == slash + 1 || v < 1 || v > fields[f].hi + 1)
                goto bad;
            step = (int)v;
        }
        if (strcmp(part, "*") != 0) {
            char *end;
            long a = strtol(part, &end, 10), b = a;
            if (end == part)
                goto bad;
            if (*end == '-') {
                char *e2;
                b = strtol(end + 1, &e2, 10);
                if (e2 == end + 1 || *e2)
                    goto bad;
            } else if (*end) {
                goto bad;
            } else if (slash) {
                b = fields[f].hi; /* a/n: from a to the end */
            }
            if (a < fields[f].lo || b > fields[f].hi || a > b)
                goto bad;
            lo = (int)a;
            hi = (int)b;
        }
        for (int v = lo; v <= hi; v += step)
            *bits |= 1ULL << (f == 4 && v == 7 ? 0 : v);
    }
    if (*bits)
        return PM_OK;
bad:
    pm_err_set(err, PM_ERR_CONFIG, "cron field %d (%s) \"%s\" is not one cron accepts", f + 1,
               fields[f].name, text);
    pm_err_hint(err,
                "each field is *, N, A-B, */N or A-B/N, or a comma-separated list of them; %s "
                "goes from %d to %d",
                fields[f].name, fields[f].lo, fields[f].hi);
    return PM_ERR_CONFIG;
}

bool cron_tz_valid(const char *tz)
{
    UChar id[64], canon[128];
    if (strlen(tz) >= 64)
        return false;
    u_uastrcpy(id, tz);
    UErrorCode st = U_ZERO_ERROR;
    UBool system = 0;
    ucal_getCanonicalTimeZoneID(id, -1, canon, 128, &system, &st);
    return U_SUCCESS(st) && system;
}

pm_code cron_parse(const char *expr, const char *tz, pm_cron *out, pm_err *err)
{
    memset(out, 0, sizeof *out);
    tz = tz ? tz : "UTC";
    if (!cron_tz_valid(tz)) {
        pm_err_set(err, PM_ERR_CONFIG, "unknown time zone \"%s\"", tz);
        pm_err_hint(err, "use an IANA name such as UTC, Europe/Paris or America/New_York");
        return PM_ERR_CONFIG;
    }
    snprintf(out->tz, sizeof out->tz, "%s", tz);
    char buf[256];
    if (strlen(expr) >= sizeof buf)
        return pm_err_set(err, PM_ERR_CONFIG, "the cron expression is too long");
    snprintf(buf, sizeof buf, "%s", expr);
    char *part[6];
    int n = 0;
    for (char *sp = NULL, *p = strtok_r(buf, " \t", &sp); p && n < 6;
         p = strtok_r(NULL, " \t", &sp))
        part[n++] = p;
    if (n != 5) {
        pm_err_set(err, PM_ERR_CONFIG, "cron expression \"%s\" has %d fields, not 5", expr, n);
        pm_err_hint(err, "minute hour day-of-month month day-of-week, e.g. \"*/15 * * * *\" or "
                         "\"0 6 * * 1-5\"");
        return PM_ERR_CONFIG;
    }
    uint64_t bits[5];
    bool any[5];
    for (int f = 0; f < 5; f++)
        if (parse_field(part[f], f, &bits[f], &any[f], err))
            return PM_ERR_CONFIG;
    out->minute = bits[0];
    out->hour = (uint32_t)bits[1];
    out->dom = (uint32_t)bits[2];
    out->month = (uint16_t)bits[3];
    out->dow = (uint8_t)bits[4];
    out->dom_any = any[2];
    out->dow_any = any[4];
    return PM_OK;
}

static bool day_matches(const pm_cron *c, const struct tm *t)
{
    bool dom = c->dom >> t->tm_mday & 1, dow = c->dow >> t->tm_wday & 1;
    if (c->dom_any || c->dow_any)
        return dom && dow; /* one of them is every day */
    return dom || dow;
}

bool cron_next(const pm_cron *c, time_t after, time_t *next)
{
    UChar id[64];
    u_uastrcpy(id, c->tz);
    UErrorCode st = U_ZERO_ERROR;
    UCalendar *cal = ucal_open(id, -1, "en_US_POSIX", UCAL_GREGORIAN, &st);
    if (U_FAILURE(st))
        return false;
    /* after as wall-clock time in the zone */
    ucal_setMillis(cal, (UDate)after * 1000.0, &st);
    struct tm w = {0};
    w.tm_year = ucal_get(cal, UCAL_YEAR, &st) - 1900;
    w.tm_mon = ucal_get(cal, UCAL_MONTH, &st);
    w.tm_mday = ucal_get(cal, UCAL_DATE, &st);
    w.tm_hour = ucal_get(cal, UCAL_HOUR_OF_DAY, &st);
    w.tm_min = ucal_get(cal, UCAL_MINUTE, &st) + 1; /* strictly after */
    w.tm_sec = 0;
    /* walk wall-clock minutes (as UTC arithmetic), skipping whole months,
     * days and hours that cannot match */
    time_t wall = timegm(&w);
    time_t end = wall + (time_t)4 * 366 * 86400;
    bool found = false;
    while (wall < end && U_SUCCESS(st)) {
        struct tm t;
        gmtime_r(&wall, &t);
        if (!(c->month >> (t.tm_mon + 1) & 1)) {
            t.tm_mon++, t.tm_mday = 1, t.tm_hour = 0, t.tm_min = 0;
            wall = timegm(&t);
            continue;
        }
        if (!day_matches(c, &t)) {
            t.tm_mday++, t.tm_hour = 0, t.tm_min = 0;
            wall = timegm(&t);
            continue;
        }
        if (!(c->hour >> t.tm_hour & 1)) {
            t.tm_hour++, t.tm_min = 0;
            wall = timegm(&t);
            continue;
        }
        if (!(c->minute >> t.tm_min & 1)) {
            wall += 60;
            continue;
        }
        ucal_clear(cal);
        ucal_setDateTime(cal, t.tm_year + 1900, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, 0, &st);
        UDate ms = ucal_getMillis(cal, &st);
        if (U_SUCCESS(st) && ms / 1000.0 > (double)after) {
            *next = (time_t)(ms / 1000.0);
            found = true;
            break;
        }
        wall += 60;
    }
    ucal_close(cal);
    return found;
}

bool cron_duration(const char *text, int64_t *seconds)
{
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (end == text || errno || v <= 0)
        return false;
    long long mult = 1;
    if (*end == 's')
        end++;
    else if (*end == 'm')
        mult = 60, end++;
    else if (*end == 'h')
        mult = 3600, end++;
    else if (*end == 'd')
        mult = 86400, end++;
    if (*end || v > (long long)1e9 / mult)
        return false;
    *seconds = v * mult;
    return true;
}
