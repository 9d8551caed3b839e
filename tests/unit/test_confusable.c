/* test_confusable.c - the look-alike rule of confusable.h on the names of
 * the security review and its neighbours: which pairs read as one name,
 * which plainly do not, and which table column a new name would pass for. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "schema/confusable.h"

static void test_pairs_that_look_alike(void **state)
{
    static const struct {
        const char *a, *b, *why;
    } pairs[] = {
        {"code", "\xD1\x81\xD0\xBE\x64\xD0\xB5", "Cyrillic с о е"},
        {"code2", "\xD1\x81\xD0\xBE\x64\xD0\xB5\x32", "Cyrillic, with a digit"},
        {"email", "em\xCE\xB1il", "Greek alpha"},
        {"note", "\xEF\xBD\x8E\xEF\xBD\x8F\xEF\xBD\x94\xEF\xBD\x85", "fullwidth"},
        {"note", "\xF0\x9D\x90\xA7\xF0\x9D\x90\xA8\xF0\x9D\x90\xAD\xF0\x9D\x90\x9E",
         "mathematical bold"},
        {"note", "note\xCC\x81", "combining acute"},
        {"caf\xC3\xA9", "cafe\xCC\x81", "precomposed and decomposed"},
        {"coupon_l", "coupon_1", "digit one for l"},
        {"qty", "qt\xD1\x83", "Cyrillic u"},
    };
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        if (!confusable_pair(pairs[i].a, pairs[i].b))
            fail_msg("%s: \"%s\" and \"%s\" should look alike", pairs[i].why, pairs[i].a,
                     pairs[i].b);
        if (!confusable_pair(pairs[i].b, pairs[i].a))
            fail_msg("%s: not symmetric", pairs[i].why);
    }
}

static void test_pairs_that_do_not(void **state)
{
    static const struct {
        const char *a, *b;
    } pairs[] = {
        {"code", "code"}, /* the same name is not a look-alike of itself */
        {"code", "coder"},
        {"email", "e_mail"},
        {"c_", "c_1"},
        {"customer_email", "customer_name"},
        {"\xE6\x97\xA5\xE6\x9C\xAC", "\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E"},
        {"gr\xC3\xB6\xC3\x9F"
         "e",
         "grosse"},
    };
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++)
        if (confusable_pair(pairs[i].a, pairs[i].b))
            fail_msg("\"%s\" and \"%s\" should not look alike", pairs[i].a, pairs[i].b);
}

static void test_skeleton(void **state)
{
    char out[CONFUSABLE_SKELETON_MAX];
    assert_true(confusable_skeleton("\xD1\x81\xD0\xBE\x64\xD0\xB5", out, sizeof out));
    assert_string_equal(out, "code");
    assert_true(confusable_skeleton("", out, sizeof out));
    assert_string_equal(out, "");
    /* invalid UTF-8: the name itself, and false */
    assert_false(confusable_skeleton("a\xFF", out, sizeof out));
    assert_string_equal(out, "a\xFF");
    /* too small a buffer: cut, and false */
    char small[3];
    assert_false(confusable_skeleton("abcdef", small, sizeof small));
    assert_string_equal(small, "ab");
}

static void test_find_column(void **state)
{
    pm_arena *a = pm_arena_new(0);
    pm_table *t = table_new(a, "t");
    table_add(t, a, "id", (pm_type){PM_T_INT64, 0}, false);
    table_add(t, a, "code", (pm_type){PM_T_TEXT, 0}, true);
    assert_int_equal(confusable_find_column(t, "\xD1\x81\xD0\xBE\x64\xD0\xB5"), 1);
    assert_int_equal(confusable_find_column(t, "code"), -1); /* the column itself */
    assert_int_equal(confusable_find_column(t, "coupon"), -1);
    assert_int_equal(confusable_find_column(NULL, "code"), -1);
    pm_arena_free(a);
}

static void test_note(void **state)
{
    char buf[96];
    assert_string_equal(confusable_note("code", buf, sizeof buf), "");
    assert_string_equal(confusable_note("\xD1\x81\xD0\xBE\x64\xD0\xB5", buf, sizeof buf),
                        " (it contains U+0441, U+043E, U+0435)");
    assert_string_equal(
        confusable_note("\xCE\xB1\xCE\xB2\xCE\xB3\xCE\xB4\xCE\xB5\xCE\xB6", buf, sizeof buf),
        " (it contains U+03B1, U+03B2, U+03B3, U+03B4, ...)");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pairs_that_look_alike),
        cmocka_unit_test(test_pairs_that_do_not),
        cmocka_unit_test(test_skeleton),
        cmocka_unit_test(test_find_column),
        cmocka_unit_test(test_note),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
