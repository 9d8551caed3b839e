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

#include <unicode/uchar.h>

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
        /* the security review's cases: tags, fillers, selectors, isolates */
        {"email\xF3\xA0\x80\x81\xF3\xA0\x81\xA5\xF3\xA0\x81\xBF", "email"}, /* tags */
        {"\xE3\x85\xA4", "c_"},                         /* U+3164 Hangul filler */
        {"\xE1\x85\x9F\xE1\x85\xA0\xEF\xBE\xA0", "c_"}, /* U+115F U+1160 U+FFA0 */
        {"a\xEF\xB8\x8F", "a"},                         /* U+FE0F variation selector */
        {"a\xF3\xA0\x84\x80"
         "b",
         "a_b"},                              /* U+E0100 variation selector */
        {"\xE2\x81\xA6id\xE2\x81\xA9", "id"}, /* U+2066 .. U+2069 isolate */
        {"a\xD8\x9C", "a"},                   /* U+061C Arabic letter mark */
        {"a\xCD\x8F", "a"},                   /* U+034F grapheme joiner */
        {"\xE2\xA0\x80", "c_"},               /* U+2800 braille blank */
        {"a\xE1\x9E\xB4\xE1\x9E\xB5", "a"},   /* U+17B4 U+17B5 */
        {"a\xEF\xBF\xB9"
         "b\xEF\xBF\xBB",
         "a_b"}, /* U+FFF9 .. U+FFFB annotation */
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

/* Every code point that does not show, by the ICU this is built with, is a
 * separator: spaces, format characters, default ignorables. The rule's
 * table is fixed in colname.c; this catches a Unicode that adds to it. */
static void test_invisible_matches_icu(void **state)
{
    for (UChar32 cp = 0x80; cp <= 0x10FFFF; cp++) {
        if (cp >= 0xD800 && cp <= 0xDFFF)
            continue;
        int8_t gc = u_charType(cp);
        bool hidden = u_hasBinaryProperty(cp, UCHAR_DEFAULT_IGNORABLE_CODE_POINT) ||
                      gc == U_FORMAT_CHAR || gc == U_SPACE_SEPARATOR || gc == U_LINE_SEPARATOR ||
                      gc == U_PARAGRAPH_SEPARATOR || (gc == U_CONTROL_CHAR) || cp == 0x2800 ||
                      cp == 0x115F || cp == 0x1160 || cp == 0x3164 || cp == 0xFFA0;
        if (hidden && !colname_invisible((uint32_t)cp))
            fail_msg("U+%04X does not show (ICU) but is not a separator", (unsigned)cp);
        /* and the rule applies it: a<cp>b -> a_b */
        if (!hidden)
            continue;
        char in[8], out[COLNAME_MAX + 1];
        size_t k = pm_utf8_encode((uint32_t)cp, in + 1);
        in[0] = 'a';
        in[k + 1] = 'b';
        in[k + 2] = '\0';
        norm(in, out);
        if (strcmp(out, "a_b") != 0)
            fail_msg("a U+%04X b -> \"%s\"", (unsigned)cp, out);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases),
        cmocka_unit_test(test_invisible_matches_icu),
        cmocka_unit_test(test_result_is_safe),
        cmocka_unit_test(test_slice_not_string),
        cmocka_unit_test(test_cut_at_63_bytes),
        cmocka_unit_test(test_idempotent),
        cmocka_unit_test(test_invalid_utf8_does_not_leak),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
