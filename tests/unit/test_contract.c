/* test_contract.c - each rule kind passes and fails on typed cells, with the
 * one-line message a person will read in the quarantine. Rules are built by
 * hand here, as config.c builds them, so the checks are tested apart from
 * the YAML. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "contract/contract.h"

static pm_cell null_cell(void)
{
    return (pm_cell){.kind = PM_CELL_NULL};
}

static pm_cell int_cell(int64_t i)
{
    return (pm_cell){.kind = PM_CELL_INT, .i = i};
}

static pm_cell real_cell(double d)
{
    return (pm_cell){.kind = PM_CELL_REAL, .d = d};
}

/* Text cells borrow bytes that are not NUL-terminated; the tests pass a
 * length shorter than the string where that matters. */
static pm_cell text_cell(const char *s)
{
    return (pm_cell){.kind = PM_CELL_TEXT, .s = s, .len = strlen(s)};
}

/* As config.c does: num is NAN unless the whole literal is a number. */
static contract_rule bound(contract_rule_kind kind, const char *name, const char *col,
                           const char *text)
{
    char *end;
    double d = strtod(text, &end);
    return (contract_rule){
        .kind = kind, .name = name, .column = col, .text = text, .num = *end ? NAN : d};
}

static contract_rule regex_rule(const char *name, const char *col, const char *src)
{
    contract_rule r = {.kind = RULE_REGEX, .name = name, .column = col, .text = src};
    char why[300] = "";
    if (!contract_regex_compile(&r, src, why, sizeof why))
        fail_msg("regex %s does not compile: %s", src, why);
    return r;
}

static void regex_free(contract_rule *r)
{
    pm_contract c = {.table = "t", .rules = r, .nrules = 1};
    contract_release(&c);
}

/* Asserts the rule holds for cell. */
static void holds(const contract_rule *r, pm_cell c)
{
    char msg[512] = "";
    if (!contract_rule_holds(r, &c, msg, sizeof msg))
        fail_msg("rule %s failed unexpectedly: %s", r->name, msg);
}

/* Asserts the rule fails for cell with exactly want. */
static void breaks(const contract_rule *r, pm_cell c, const char *want)
{
    char msg[512] = "";
    assert_false(contract_rule_holds(r, &c, msg, sizeof msg));
    assert_string_equal(msg, want);
}

static void test_not_null(void **state)
{
    contract_rule r = {.kind = RULE_NOT_NULL, .name = "status.not_null", .column = "status"};
    breaks(&r, null_cell(), "status is null (rule status.not_null)");
    /* A row without the column is checked with a NULL cell pointer too. */
    char msg[128];
    assert_false(contract_rule_holds(&r, NULL, msg, sizeof msg));
    assert_string_equal(msg, "status is null (rule status.not_null)");
    holds(&r, text_cell(""));
    holds(&r, int_cell(0));
}

static void test_null_passes_everything_else(void **state)
{
    contract_rule min = bound(RULE_MIN, "amount.min", "amount", "0");
    contract_rule max = bound(RULE_MAX, "amount.max", "amount", "10");
    contract_rule re = regex_rule("email.regex", "email", "^x$");
    const char *vals[] = {"a"};
    contract_rule al = {
        .kind = RULE_ALLOWED, .name = "s.allowed", .column = "s", .allowed = vals, .nallowed = 1};
    contract_rule ml = {.kind = RULE_MAX_LENGTH, .name = "n.max_length", .column = "n"};
    const char *key[] = {"id"};
    contract_rule u = {.kind = RULE_UNIQUE, .name = "unique", .key = key, .nkey = 1};
    const contract_rule *all[] = {&min, &max, &re, &al, &ml, &u};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) {
        holds(all[i], null_cell());
        assert_true(contract_rule_holds(all[i], NULL, NULL, 0));
    }
    regex_free(&re);
}

static void test_min_max_numbers(void **state)
{
    contract_rule min = bound(RULE_MIN, "amount.min", "amount", "0");
    contract_rule max = bound(RULE_MAX, "amount.max", "amount", "100000");
    holds(&min, int_cell(0));
    holds(&min, real_cell(0.5));
    breaks(&min, int_cell(-5), "amount -5 is below min 0 (rule amount.min)");
    breaks(&min, real_cell(-0.1), "amount -0.1 is below min 0 (rule amount.min)");
    holds(&max, int_cell(100000));
    breaks(&max, int_cell(100001), "amount 100001 is above max 100000 (rule amount.max)");
    breaks(&max, real_cell(100000.25), "amount 100000.25 is above max 100000 (rule amount.max)");

    contract_rule frac = bound(RULE_MIN, "price.min", "price", "0.5");
    holds(&frac, int_cell(1));
    breaks(&frac, int_cell(0), "price 0 is below min 0.5 (rule price.min)");
}

/* Numeric columns can be stored as exact text; such text compares as a
 * number, not as a string ("10" < "9" as strings). */
static void test_min_max_numeric_text(void **state)
{
    contract_rule min = bound(RULE_MIN, "amount.min", "amount", "9");
    contract_rule max = bound(RULE_MAX, "amount.max", "amount", "100");
    holds(&min, text_cell("10"));
    holds(&min, text_cell("9.000"));
    breaks(&min, text_cell("-12.50"), "amount -12.50 is below min 9 (rule amount.min)");
    breaks(&max, text_cell("1e3"), "amount 1e3 is above max 100 (rule amount.max)");
    holds(&max, text_cell("99.999999999999999999999"));
}

/* Integers beyond 2^53 compare exactly: as doubles they would be equal. */
static void test_min_max_exact_int64(void **state)
{
    contract_rule max = bound(RULE_MAX, "id.max", "id", "9007199254740992");
    holds(&max, int_cell(9007199254740992LL));
    breaks(&max, int_cell(9007199254740993LL),
           "id 9007199254740993 is above max 9007199254740992 (rule id.max)");
}

static void test_min_max_dates(void **state)
{
    contract_rule min = bound(RULE_MIN, "created.min", "created", "2020-01-01");
    contract_rule max = bound(RULE_MAX, "created.max", "created", "2030-12-31");
    assert_true(isnan(min.num));
    holds(&min, text_cell("2020-01-01"));
    holds(&min, text_cell("2024-06-30T10:00:00Z"));
    holds(&max, text_cell("2030-12-31"));
    breaks(&min, text_cell("2019-12-31"),
           "created \"2019-12-31\" is below min 2020-01-01 (rule created.min)");
    breaks(&max, text_cell("2031-01-01 00:00"),
           "created \"2031-01-01 00:00\" is above max 2030-12-31 (rule created.max)");

    /* Borrowed bytes: only len counts, not what follows. */
    pm_cell c = {.kind = PM_CELL_TEXT, .s = "2019-12-31 and more", .len = 10};
    breaks(&min, c, "created \"2019-12-31\" is below min 2020-01-01 (rule created.min)");
}

static void test_regex(void **state)
{
    contract_rule r = regex_rule("email.regex", "email", "^[^@]+@[^@]+$");
    holds(&r, text_cell("ada@example.com"));
    breaks(&r, text_cell("x"), "email \"x\" does not match /^[^@]+@[^@]+$/ (rule email.regex)");

    /* The cell's bytes are not NUL-terminated: "a@b" followed by "@c". */
    pm_cell c = {.kind = PM_CELL_TEXT, .s = "a@b@c", .len = 3};
    holds(&r, c);

    /* Past the 4 KiB stack copy the value is copied to the heap. */
    size_t n = 10000;
    char *big = malloc(n + 2);
    memset(big, 'a', n);
    big[n / 2] = '@';
    big[n] = '@'; /* outside the cell: must not be seen */
    big[n + 1] = 'z';
    pm_cell bc = {.kind = PM_CELL_TEXT, .s = big, .len = n};
    holds(&r, bc);
    big[n / 2] = 'a';
    char msg[512];
    assert_false(contract_rule_holds(&r, &bc, msg, sizeof msg));
    /* The value is cut to 64 bytes in the message. */
    char want[512];
    snprintf(want, sizeof want,
             "email \"%.64s...\" does not match /^[^@]+@[^@]+$/ (rule "
             "email.regex)",
             big);
    assert_string_equal(msg, want);
    free(big);

    /* A NUL byte would hide the rest of the value from regexec. */
    pm_cell nul = {.kind = PM_CELL_TEXT, .s = "a@b\0x", .len = 5};
    breaks(&r, nul, "email \"a@b\\x00x\" does not match /^[^@]+@[^@]+$/ (rule email.regex)");
    regex_free(&r);

    /* Numbers are matched in their text form. */
    contract_rule zip = regex_rule("zip.regex", "zip", "^[0-9]{5}$");
    holds(&zip, int_cell(12345));
    breaks(&zip, int_cell(1234), "zip 1234 does not match /^[0-9]{5}$/ (rule zip.regex)");
    breaks(&zip, real_cell(12345.5), "zip 12345.5 does not match /^[0-9]{5}$/ (rule zip.regex)");
    regex_free(&zip);
}

/* PCRE2 read the POSIX way where the two differ on something a contract
 * relies on: `$` is the very end, `.` takes a newline; and characters,
 * not bytes, as max_length counts them. */
static void test_regex_dialect(void **state)
{
    contract_rule end = regex_rule("c.regex", "c", "^x$");
    holds(&end, text_cell("x"));
    breaks(&end, text_cell("x\n"), "c \"x\\n\" does not match /^x$/ (rule c.regex)");
    regex_free(&end);

    contract_rule dot = regex_rule("c.regex", "c", "^a.b$");
    holds(&dot, text_cell("a\nb"));
    regex_free(&dot);

    contract_rule chars = regex_rule("c.regex", "c", "^.{3}$");
    holds(&chars, text_cell("h\xc3\xa9\xc3\xa9")); /* "héé": 3 characters, 5 bytes */
    breaks(&chars, text_cell("ab"), "c \"ab\" does not match /^.{3}$/ (rule c.regex)");
    regex_free(&chars);

    contract_rule cls = regex_rule("c.regex", "c", "^[[:digit:]]+-\\d+$");
    holds(&cls, text_cell("12-34"));
    regex_free(&cls);

    contract_rule bad = {.kind = RULE_REGEX, .name = "c.regex", .column = "c"};
    char why[300];
    assert_false(contract_regex_compile(&bad, "a(b", why, sizeof why));
    assert_string_equal(why, "missing closing parenthesis at offset 3");
    assert_null(bad.re);
    regex_free(&bad); /* nothing compiled, nothing freed */
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The patterns that took glibc's engine minutes, or its stack, finish in
 * bounded time: each value either matches, does not, or is reported as
 * over the limits. None passes unchecked. */
static void test_regex_limits(void **state)
{
    static const char *const evil[] = {
        "(|)(\\1\\1)*", /* overflowed glibc's stack */
        "^(a|a?)+$",    /* exponential backtracking */
        "^(a+)+$",
        "^(([a-z])+.)+[A-Z]([a-z])+$",
        "^((a*)*b)*\\2\\1c$", /* backreferences */
        "(a*)*(a*)*\\1\\2\\1\\2b",
        "^(.*?,){11}P",
    };
    char value[201];
    memset(value, 'a', 200);
    value[199] = '!';
    value[200] = '\0';
    char commas[201];
    for (size_t i = 0; i < 200; i++)
        commas[i] = i % 3 == 2 ? ',' : 'x';
    commas[200] = '\0';
    for (size_t i = 0; i < sizeof evil / sizeof *evil; i++) {
        contract_rule r = regex_rule("c.regex", "c", evil[i]);
        for (int v = 0; v < 2; v++) {
            double t0 = now();
            char msg[512] = "";
            bool ok = contract_rule_holds(
                &r, &(pm_cell){.kind = PM_CELL_TEXT, .s = v ? commas : value, .len = 200}, msg,
                sizeof msg);
            double took = now() - t0;
            if (took > 2.0)
                fail_msg("/%s/ took %.1f s", evil[i], took);
            if (!ok && !strstr(msg, "does not match") && !strstr(msg, "over the regex limits"))
                fail_msg("/%s/: %s", evil[i], msg);
        }
        regex_free(&r);
    }

    /* the classic one is caught by the limit, and says so */
    contract_rule r = regex_rule("c.regex", "c", "^(a+)+$");
    char msg[512];
    assert_false(contract_rule_holds(&r, &(pm_cell){.kind = PM_CELL_TEXT, .s = value, .len = 200},
                                     msg, sizeof msg));
    assert_non_null(strstr(msg, "could not be checked against /^(a+)+$/: the match went over "
                                "the regex limits (rule c.regex)"));
    regex_free(&r);

    /* a value over the cap is not matched at all, and not let through */
    size_t n = CONTRACT_REGEX_MAX_SUBJECT + 1;
    char *big = malloc(n);
    memset(big, 'a', n);
    contract_rule any = regex_rule("c.regex", "c", "a");
    assert_false(contract_rule_holds(&any, &(pm_cell){.kind = PM_CELL_TEXT, .s = big, .len = n},
                                     msg, sizeof msg));
    assert_non_null(strstr(msg, "is too long to check against /a/: over 65536 bytes (rule "
                                "c.regex)"));
    holds(&any, (pm_cell){.kind = PM_CELL_TEXT, .s = big, .len = n - 1});
    regex_free(&any);
    free(big);
}

static void test_allowed(void **state)
{
    const char *vals[] = {"new", "paid", "shipped"};
    contract_rule r = {.kind = RULE_ALLOWED,
                       .name = "status.allowed",
                       .column = "status",
                       .allowed = vals,
                       .nallowed = 3};
    holds(&r, text_cell("paid"));
    breaks(&r, text_cell("refunded"),
           "status \"refunded\" is not one of the allowed values (rule status.allowed)");
    breaks(&r, text_cell("Paid"),
           "status \"Paid\" is not one of the allowed values (rule status.allowed)");
    /* Borrowed bytes: "paid" is a prefix of the bytes, not the value. */
    pm_cell c = {.kind = PM_CELL_TEXT, .s = "paidx", .len = 5};
    breaks(&r, c, "status \"paidx\" is not one of the allowed values (rule status.allowed)");
    c.len = 4;
    holds(&r, c);

    const char *nums[] = {"1", "2.5", "1e3"};
    contract_rule n = {.kind = RULE_ALLOWED,
                       .name = "kind.allowed",
                       .column = "kind",
                       .allowed = nums,
                       .nallowed = 3};
    holds(&n, int_cell(1));
    holds(&n, real_cell(2.5));
    holds(&n, real_cell(1.0));
    holds(&n, int_cell(1000));
    holds(&n, text_cell("2.5"));
    breaks(&n, int_cell(2), "kind 2 is not one of the allowed values (rule kind.allowed)");
    breaks(&n, real_cell(0.1), "kind 0.1 is not one of the allowed values (rule kind.allowed)");
    /* Text is compared as written. */
    breaks(&n, text_cell("1.0"), "kind 1.0 is not one of the allowed values (rule kind.allowed)");
}

static void test_max_length(void **state)
{
    contract_rule r = {
        .kind = RULE_MAX_LENGTH, .name = "note.max_length", .column = "note", .max_length = 5};
    holds(&r, text_cell("abcde"));
    /* Five characters, ten bytes. */
    holds(&r, text_cell("\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"));
    breaks(&r, text_cell("abcdef"),
           "note \"abcdef\" is 6 characters long, over max_length 5 (rule note.max_length)");
    breaks(&r, text_cell("h\xc3\xa9llo!"),
           "note \"h\xc3\xa9llo!\" is 6 characters long, over max_length 5 (rule "
           "note.max_length)");
    holds(&r, int_cell(12345));
    breaks(&r, int_cell(-12345),
           "note -12345 is 6 characters long, over max_length 5 (rule note.max_length)");
}

/* A value with quotes and newlines stays one line, and the message is cut
 * at a character boundary, never in the middle of one. */
static void test_message_quoting(void **state)
{
    const char *vals[] = {"ok"};
    contract_rule r = {
        .kind = RULE_ALLOWED, .name = "s.allowed", .column = "s", .allowed = vals, .nallowed = 1};
    breaks(&r, text_cell("a \"b\"\nc\\"),
           "s \"a \\\"b\\\"\\nc\\\\\" is not one of the allowed values (rule s.allowed)");

    char val[100];
    memset(val, 'x', 63);
    memcpy(val + 63, "\xc3\xa9tail", 7); /* é straddles byte 64 */
    char msg[512];
    pm_cell c = text_cell(val);
    c.len = 70;
    assert_false(contract_rule_holds(&r, &c, msg, sizeof msg));
    char want[512];
    snprintf(want, sizeof want, "s \"%.63s...\" is not one of the allowed values (rule s.allowed)",
             val);
    assert_string_equal(msg, want);

    /* A small buffer is truncated, not overrun; NULL asks for no message. */
    char small[8];
    assert_false(contract_rule_holds(&r, &c, small, sizeof small));
    assert_string_equal(small, "s \"xxxx");
    assert_false(contract_rule_holds(&r, &c, NULL, 0));
}

static void test_unique_and_release(void **state)
{
    const char *key[] = {"order_id", "line"};
    contract_rule rules[2] = {regex_rule("email.regex", "email", "@"),
                              {.kind = RULE_UNIQUE, .name = "unique", .key = key, .nkey = 2}};
    pm_contract c = {.table = "orders", .rules = rules, .nrules = 2};
    const contract_rule *u = contract_unique(&c);
    assert_ptr_equal(u, &rules[1]);
    holds(u, int_cell(1)); /* checked by the store's unique index */

    pm_contract none = {.table = "t", .rules = rules, .nrules = 1};
    assert_null(contract_unique(&none));
    assert_null(contract_unique(NULL));

    contract_release(&c);
    assert_int_equal(c.nrules, 0);
    contract_release(&c); /* a second release frees nothing twice */
    contract_release(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_not_null),
        cmocka_unit_test(test_null_passes_everything_else),
        cmocka_unit_test(test_min_max_numbers),
        cmocka_unit_test(test_min_max_numeric_text),
        cmocka_unit_test(test_min_max_exact_int64),
        cmocka_unit_test(test_min_max_dates),
        cmocka_unit_test(test_regex),
        cmocka_unit_test(test_regex_dialect),
        cmocka_unit_test(test_regex_limits),
        cmocka_unit_test(test_allowed),
        cmocka_unit_test(test_max_length),
        cmocka_unit_test(test_message_quoting),
        cmocka_unit_test(test_unique_and_release),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
