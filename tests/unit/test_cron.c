/* test_cron.c - cron expressions and their next time (pipeline/cron.h):
 * fields, steps, lists, the day-of-month / day-of-week rule, time zones
 * across daylight-saving changes, errors that name the field, durations. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "pipeline/cron.h"

/* Epoch seconds of a UTC time. */
static time_t utc(int y, int mo, int d, int h, int mi)
{
    struct tm t = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi};
    return timegm(&t);
}

static time_t next_of(const char *expr, const char *tz, time_t after)
{
    pm_cron c;
    pm_err err = {0};
    assert_int_equal(cron_parse(expr, tz, &c, &err), PM_OK);
    time_t n = 0;
    assert_true(cron_next(&c, after, &n));
    return n;
}

static void utc_expressions(void **state)
{
    time_t t0 = utc(2026, 12, 6, 20, 41); /* a Sunday */
    assert_int_equal(next_of("*/15 * * * *", NULL, t0), utc(2026, 12, 6, 20, 45));
    assert_int_equal(next_of("* * * * *", NULL, t0), utc(2026, 12, 6, 20, 42));
    /* strictly after: at 20:45 the next is 21:00 */
    assert_int_equal(next_of("*/15 * * * *", NULL, utc(2026, 12, 6, 20, 45)),
                     utc(2026, 12, 6, 21, 0));
    assert_int_equal(next_of("0 6 * * 1-5", NULL, t0), utc(2026, 12, 7, 6, 0)); /* Monday */
    assert_int_equal(next_of("30 2 1 * *", NULL, t0), utc(2027, 1, 1, 2, 30));
    assert_int_equal(next_of("0 0 29 2 *", NULL, t0), utc(2028, 2, 29, 0, 0));
    assert_int_equal(next_of("5,10 8 * * 0", NULL, t0), utc(2026, 12, 13, 8, 5));
    assert_int_equal(next_of("0 12 * * 7", NULL, t0), utc(2026, 12, 13, 12, 0)); /* 7: Sunday */
    /* both day fields restricted: either matches (the 15th or a Monday) */
    assert_int_equal(next_of("0 0 15 * 1", NULL, t0), utc(2026, 12, 7, 0, 0));
    pm_cron c;
    pm_err err = {0};
    assert_int_equal(cron_parse("0 0 30 2 *", NULL, &c, &err), PM_OK);
    time_t n;
    assert_false(cron_next(&c, t0, &n)); /* February 30th never comes */
}

static void time_zones(void **state)
{
    /* 06:00 in Paris is 05:00 UTC in winter, 04:00 in summer */
    assert_int_equal(next_of("0 6 * * *", "Europe/Paris", utc(2026, 12, 6, 20, 41)),
                     utc(2026, 12, 7, 5, 0));
    assert_int_equal(next_of("0 6 * * *", "Europe/Paris", utc(2026, 7, 1, 12, 0)),
                     utc(2026, 7, 2, 4, 0));
    /* 2027-03-28: Paris skips 02:00-03:00; 02:30 fires when the clock says 03:30 */
    time_t skip = next_of("30 2 * * *", "Europe/Paris", utc(2027, 3, 27, 12, 0));
    assert_int_equal(skip, utc(2027, 3, 28, 1, 30));
    /* 2027-10-31: 02:30 happens twice; it fires once */
    time_t first = next_of("30 2 * * *", "Europe/Paris", utc(2027, 10, 30, 12, 0));
    time_t again = next_of("30 2 * * *", "Europe/Paris", first);
    assert_true(again - first >= 23 * 3600);
}

static void errors_name_the_field(void **state)
{
    pm_cron c;
    pm_err err = {0};
    assert_int_equal(cron_parse("61 * * * *", NULL, &c, &err), PM_ERR_CONFIG);
    assert_non_null(strstr(err.msg, "cron field 1 (minute) \"61\""));
    assert_int_equal(cron_parse("* * * *", NULL, &c, &err), PM_ERR_CONFIG);
    assert_non_null(strstr(err.msg, "has 4 fields, not 5"));
    assert_int_equal(cron_parse("* * * JAN *", NULL, &c, &err), PM_ERR_CONFIG);
    assert_non_null(strstr(err.msg, "(month)"));
    assert_int_equal(cron_parse("*/0 * * * *", NULL, &c, &err), PM_ERR_CONFIG);
    assert_int_equal(cron_parse("* * * * *", "Mars/Olympus", &c, &err), PM_ERR_CONFIG);
    assert_non_null(strstr(err.msg, "unknown time zone \"Mars/Olympus\""));
}

static void durations(void **state)
{
    int64_t s;
    assert_true(cron_duration("90s", &s) && s == 90);
    assert_true(cron_duration("5m", &s) && s == 300);
    assert_true(cron_duration("2h", &s) && s == 7200);
    assert_true(cron_duration("1d", &s) && s == 86400);
    assert_true(cron_duration("45", &s) && s == 45);
    assert_false(cron_duration("0m", &s));
    assert_false(cron_duration("5 m", &s));
    assert_false(cron_duration("-5m", &s));
    assert_false(cron_duration("5w", &s));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(utc_expressions),
        cmocka_unit_test(time_zones),
        cmocka_unit_test(errors_name_the_field),
        cmocka_unit_test(durations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
