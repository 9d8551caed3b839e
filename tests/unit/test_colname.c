/* test_colname.c - the field-name rule of colname.h, case by case: what a
 * user would see as the column name for the headers and keys real feeds
 * send, including hostile ones, and the 63-byte cut on a character
 * boundary. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "core/utf8.h"
#include "schema/colname.h"

static const char *norm(const char *in, char *out)
{
    size_t n = colname_normalise(in, strlen(in), out);
    assert_int_equal(n, strlen(out));
    assert_true(n <= COLNAME_MAX);
    return out;
}

static void test_cases(void **state)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"Customer Email", "customer_email"},
        {"customer_email", "customer_email"},
        {"a;DROP TABLE x;--", "a_drop_table_x"},
        {"\"quoted\"", "quoted"},
        {"Ünïcode Náme", "Ünïcode_náme"}, /* only ASCII is lowercased */
        {"123abc", "c_123abc"},
        {"", "c_"},
        {"___", "c_"},
        {"  ", "c_"},
        {"_1", "c_1"},
        {"9", "c_9"},
        {"a   b", "a___b"},
        {"address__city", "address__city"}, /* the nesting separator survives */
        {"__address__city__", "address__city"},
        {"_pipemend_runs", "pipemend_runs"},
        {"order.total", "order_total"},
        {"first-name", "first_name"},
        {"Tab\tNew\nLine", "tab_new_line"},
        {"ID", "id"},
        {"a\"b'c`d", "a_b_c_d"},
        {"x$y@z!", "x_y_z"},
        {"Größe (cm)", "größe__cm"},
        {"日本語", "日本語"},
        {"emoji😀", "emoji😀"},
        /* invisible Unicode counts as a separator */
        {"Customer\xC2\xA0"
         "Email",
         "customer_email"},       /* no-break space */
        {"\xEF\xBB\xBFid", "id"}, /* byte order mark */
        {"a\xE2\x80\x8B"
         "b",
         "a_b"}, /* zero-width space */
        {"a\xE2\x80\xAF"
         "b",
         "a_b"}, /* narrow no-break space */
        {"a\xE3\x80\x80"
         "b",
         "a_b"},            /* ideographic space */
        {"\xC2\x85x", "x"}, /* C1 control */
    };
    char out[COLNAME_MAX + 1];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        norm(cases[i].in, out);
        if (strcmp(out, cases[i].out) != 0)
            fail_msg("\"%s\" -> \"%s\", expected \"%s\"", cases[i].in, out, cases[i].out);
    }
}

static void test_result_is_safe(void **state)
{
    /* every byte of every result is [a-z0-9_] or part of a non-ASCII
     * character, and no result starts with '_' (so never "_pipemend") */
    char in[4], out[COLNAME_MAX + 1];
    for (int a = 1; a < 128; a++) {
        for (int b = 1; b < 128; b++) {
            in[0] = (char)a;
            in[1] = (char)b;
            in[2] = '\0';
            size_t n = colname_normalise(in, 2, out);
            assert_true(n >= 1);
            assert_true(out[0] != '_');
            for (size_t i = 0; i < n; i++) {
                char c = out[i];
                if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
                    fail_msg("0x%02x 0x%02x gives byte 0x%02x", a, b, (unsigned char)c);
            }
            assert_false(out[0] >= '0' && out[0] <= '9');
        }
    }
}

static void test_slice_not_string(void **state)
{
    char out[COLNAME_MAX + 1];
    assert_int_equal(colname_normalise("Email Address", 5, out), 5);
    assert_string_equal(out, "email");
    /* a JSON key may hold NUL: it is a separator like any control */
    assert_int_equal(colname_normalise("a\0b", 3, out), 3);
    assert_string_equal(out, "a_b");
}

static void test_cut_at_63_bytes(void **state)
{
    char in[512], out[COLNAME_MAX + 1];

    memset(in, 'a', 200);
    in[200] = '\0';
    assert_int_equal(colname_normalise(in, 200, out), 63);
    assert_int_equal(strspn(out, "a"), 63);

    /* digit first: the prefix counts toward the 63 */
    memset(in, '7', 200);
    assert_int_equal(colname_normalise(in, 200, out), 63);
    assert_memory_equal(out, "c_77", 4);

    /* two-byte characters: 31 fit in 62 bytes, the 32nd would split */
    in[0] = '\0';
    for (int i = 0; i < 100; i++)
        strcat(in, "é");
    size_t n = colname_normalise(in, strlen(in), out);
    assert_int_equal(n, 62);
    assert_true(pm_utf8_valid(out, n));

    /* four-byte characters after one ASCII byte: 15 * 4 + 1 = 61 */
    strcpy(in, "x");
    for (int i = 0; i < 30; i++)
        strcat(in, "😀");
    n = colname_normalise(in, strlen(in), out);
    assert_int_equal(n, 61);
    assert_true(pm_utf8_valid(out, n));

    /* underscores left at the end by the cut go too */
    memset(in, 'b', 62);
    memcpy(in + 62, "__cd", 5);
    n = colname_normalise(in, strlen(in), out);
    assert_int_equal(n, 62);
    assert_true(out[n - 1] == 'b');

    /* a name that ends exactly at 63 bytes is kept whole */
    memset(in, 'q', 63);
    in[63] = '\0';
    assert_int_equal(colname_normalise(in, 63, out), 63);
    memcpy(in + 60, "_z", 3);
    assert_int_equal(colname_normalise(in, 62, out), 62);
    assert_string_equal(out + 59, "q_z");

    /* very long input costs nothing extra and stays bounded */
    static char big[100000];
    memset(big, 'Z', sizeof big);
    assert_int_equal(colname_normalise(big, sizeof big, out), 63);
    assert_int_equal(out[0], 'z');
}

static void test_idempotent(void **state)
{
    const char *ins[] = {"Customer Email", "a;DROP TABLE x;--", "Ünïcode Náme", "123abc",
                         "address__city",  "Größe (cm)",        "a   b",        "_x_"};
    char once[COLNAME_MAX + 1], twice[COLNAME_MAX + 1];
    for (size_t i = 0; i < sizeof ins / sizeof ins[0]; i++) {
        norm(ins[i], once);
        norm(once, twice);
        assert_string_equal(once, twice);
    }
    char in[300];
    memset(in, 'b', 62);
    strcpy(in + 62, "__cdefgh");
    norm(in, once);
    norm(once, twice);
    assert_string_equal(once, twice);
}

static void test_invalid_utf8_does_not_leak(void **state)
{
    /* the contract says valid UTF-8, but a stray byte must not reach SQL */
    char out[COLNAME_MAX + 1];
    size_t n = colname_normalise("ab\xFF"
                                 "cd\xC3",
                                 6, out);
    assert_string_equal(out, "ab_cd");
    assert_int_equal(n, 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases),
        cmocka_unit_test(test_result_is_safe),
        cmocka_unit_test(test_slice_not_string),
        cmocka_unit_test(test_cut_at_63_bytes),
        cmocka_unit_test(test_idempotent),
        cmocka_unit_test(test_invalid_utf8_does_not_leak),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
