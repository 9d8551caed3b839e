/* test_textfmt.c - the date layouts of text values and their drift
 * (drift/textfmt.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "drift/textfmt.h"

static textfmt_shape shape(const char *s)
{
    return textfmt_shape_of(s, strlen(s));
}

static void test_shapes(void **state)
{
    (void)state;
    textfmt_shape sh = shape("2015-01-01");
    assert_int_equal(sh.kind, PM_T_DATE);
    assert_null(sh.format);
    sh = shape("2015-01-01 10:00:00");
    assert_int_equal(sh.kind, PM_T_TIMESTAMP);
    assert_null(sh.format);
    sh = shape("01/31/2015");
    assert_int_equal(sh.kind, PM_T_DATE);
    assert_string_equal(sh.format, "%m/%d/%Y");
    sh = shape("2015/01/01 01:00:00");
    assert_int_equal(sh.kind, PM_T_TIMESTAMP);
    assert_string_equal(sh.format, "%Y/%m/%d %H:%M:%S");
    static const char *const none[] = {"tomorrow", "A123",       "12345678",
                                       "",         "02/30/2015", "-2015-01-01"};
    for (size_t i = 0; i < sizeof none / sizeof none[0]; i++)
        assert_int_equal(shape(none[i]).kind, PM_T_UNKNOWN);
}

static void test_retype(void **state)
{
    (void)state;
    pm_type to;
    const char *fmt;
    assert_true(textfmt_retype(shape("2015-01-01"), shape("01/31/2015"), &to, &fmt));
    assert_int_equal(to.kind, PM_T_DATE);
    assert_string_equal(fmt, "%m/%d/%Y");
    /* the other way round: the old layout is the format */
    assert_true(textfmt_retype(shape("01/31/2015"), shape("2015-01-01"), &to, &fmt));
    assert_string_equal(fmt, "%m/%d/%Y");
    /* a date and a timestamp: timestamp holds both */
    assert_true(textfmt_retype(shape("2015-01-01"), shape("2015-01-01 10:00:00"), &to, &fmt));
    assert_int_equal(to.kind, PM_T_TIMESTAMP);
    assert_null(fmt);
    /* two non-ISO layouts: no one op */
    assert_false(textfmt_retype(shape("01/31/2015"), shape("31.01.2015"), &to, &fmt));
    /* a zone on one side only */
    assert_false(textfmt_retype(shape("2015-01-01T10:00:00Z"), shape("01/31/2015"), &to, &fmt));
}

static void test_follow(void **state)
{
    (void)state;
    pm_arena *a = pm_arena_new(0);
    textfmt *tf = textfmt_new(a);
    textfmt_shape was;
    const char *ex = NULL;
    /* unseen: seed first */
    assert_int_equal(textfmt_observe(tf, "day", shape("01/31/2015"), &was, &ex), TEXTFMT_SEED);
    const char *rows[] = {"2015-01-01", "2015-01-02"};
    textfmt_seed(tf, "day", rows, 2, "01/31/2015", shape("01/31/2015"));
    assert_int_equal(textfmt_observe(tf, "day", shape("2015-02-01"), &was, &ex), TEXTFMT_SAME);
    assert_int_equal(textfmt_observe(tf, "day", shape("01/31/2015"), &was, &ex), TEXTFMT_CHANGED);
    assert_null(was.format);
    assert_string_equal(ex, "2015-01-01");
    /* once per run */
    assert_false(textfmt_following(tf, "day"));
    assert_int_equal(textfmt_observe(tf, "day", shape("01/31/2015"), &was, &ex), TEXTFMT_SAME);
    /* rows of words and dates: no layout, not followed */
    const char *mixed[] = {"2015-01-01", "tomorrow"};
    textfmt_seed(tf, "note", mixed, 2, "2015-01-01", shape("2015-01-01"));
    assert_false(textfmt_following(tf, "note"));
    /* an empty table: the first value gives the layout */
    textfmt_seed(tf, "at", NULL, 0, "2015-01-01", shape("2015-01-01"));
    assert_true(textfmt_following(tf, "at"));
    assert_int_equal(textfmt_observe(tf, "at", shape("01/31/2015"), &was, &ex), TEXTFMT_CHANGED);
    pm_arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shapes),
        cmocka_unit_test(test_retype),
        cmocka_unit_test(test_follow),
    };
    return cmocka_run_group_tests_name("textfmt", tests, NULL, NULL);
}
