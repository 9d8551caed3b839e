/* test_type.c - logical types: fit, inference, the lattice, names and the
 * non-ISO date detector. The boundaries are the point: every integer type's
 * edges, the double round-trip edge, calendar validity, every lattice edge
 * class, and the properties that tie inference, join and widening together
 * (a value always fits what it infers to and whatever that widens to
 * automatically). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <math.h>
#include <string.h>
#include <time.h>

#include "schema/type.h"

static pm_value val(pm_vkind k, const char *s)
{
    return (pm_value){.kind = k, .s = s, .len = s ? strlen(s) : 0};
}
static pm_value num(const char *s)
{
    return val(PM_V_NUMBER, s);
}
static pm_value str(const char *s)
{
    return val(PM_V_STRING, s);
}
static pm_value raw(const char *s)
{
    return val(PM_V_RAW, s);
}
static pm_value boolean(bool b)
{
    return (pm_value){.kind = PM_V_BOOL, .b = b};
}
static pm_type T(pm_tkind k)
{
    return (pm_type){k, 0};
}
static pm_type VC(uint32_t n)
{
    return (pm_type){PM_T_VARCHAR, n};
}

static const pm_tkind INT_KINDS[] = {PM_T_INT16, PM_T_INT32, PM_T_INT64};

/* type name of what v infers to, for readable assertion failures */
static const char *inferred(pm_value v, char *buf)
{
    return type_name(type_infer(&v), buf);
}
#define assert_infers(v, name)                                                                     \
    do {                                                                                           \
        char b_[TYPE_NAME_MAX];                                                                    \
        pm_value v_ = (v);                                                                         \
        assert_string_equal(inferred(v_, b_), name);                                               \
    } while (0)

static bool fits(pm_value v, pm_type t)
{
    return type_fits(&v, t, NULL);
}

static int64_t fit_int(pm_value v, pm_type t)
{
    pm_cell c;
    assert_true(type_fits(&v, t, &c));
    assert_int_equal(c.kind, PM_CELL_INT);
    return c.i;
}

/* ---- integers ----------------------------------------------------------- */

static void test_int_bounds(void **state)
{
    static const struct {
        pm_tkind k;
        const char *min, *max, *below, *above;
        int64_t vmin, vmax;
    } cases[] = {
        {PM_T_INT16, "-32768", "32767", "-32769", "32768", INT16_MIN, INT16_MAX},
        {PM_T_INT32, "-2147483648", "2147483647", "-2147483649", "2147483648", INT32_MIN,
         INT32_MAX},
        {PM_T_INT64, "-9223372036854775808", "9223372036854775807", "-9223372036854775809",
         "9223372036854775808", INT64_MIN, INT64_MAX},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pm_type t = T(cases[i].k);
        /* the same literal as a JSON number, a quoted JSON number and a CSV field */
        pm_value (*mkv[])(const char *) = {num, str, raw};
        for (size_t m = 0; m < 3; m++) {
            assert_int_equal(fit_int(mkv[m](cases[i].min), t), cases[i].vmin);
            assert_int_equal(fit_int(mkv[m](cases[i].max), t), cases[i].vmax);
            assert_false(fits(mkv[m](cases[i].below), t));
            assert_false(fits(mkv[m](cases[i].above), t));
        }
    }
    /* far beyond 64 bits: the magnitude must not wrap around into range */
    assert_false(fits(num("18446744073709551616"), T(PM_T_INT64)));
    assert_false(fits(num("18446744073709551615"), T(PM_T_INT64)));
    assert_false(fits(num("36893488147419103232"), T(PM_T_INT16)));
    assert_int_equal(fit_int(num("0"), T(PM_T_INT16)), 0);
    assert_int_equal(fit_int(num("-0"), T(PM_T_INT16)), 0);
    assert_int_equal(fit_int(num("-1"), T(PM_T_INT64)), -1);
}

static void test_int_rejects_non_integers(void **state)
{
    static const char *const no[] = {"1e2", "1.0", "1.5",  "-0.0",  "1E0", "+1", "01", "00",
                                     ".5",  "1.",  "1e",   "1e+",   "-",   "",   " 1", "1 ",
                                     "NaN", "inf", "0x10", "1_000", "1,5", "--1"};
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
        for (size_t k = 0; k < 3; k++) {
            if (fits(raw(no[i]), T(INT_KINDS[k])) || fits(str(no[i]), T(INT_KINDS[k])))
                fail_msg("\"%s\" fits an integer column", no[i]);
        }
    }
}

static void test_infer_numbers(void **state)
{
    assert_infers(num("0"), "int16");
    assert_infers(num("-0"), "int16");
    assert_infers(num("32767"), "int16");
    assert_infers(num("-32768"), "int16");
    assert_infers(num("32768"), "int32");
    assert_infers(num("-32769"), "int32");
    assert_infers(num("2147483647"), "int32");
    assert_infers(num("2147483648"), "int64");
    assert_infers(num("-2147483649"), "int64");
    assert_infers(num("9223372036854775807"), "int64");
    assert_infers(num("-9223372036854775808"), "int64");
    assert_infers(num("9223372036854775808"), "numeric");
    assert_infers(num("-9223372036854775809"), "numeric");
    assert_infers(num("123456789012345678901234567890"), "numeric");

    assert_infers(num("1.5"), "float64");
    assert_infers(num("1e2"), "float64");
    assert_infers(num("1.0"), "float64");
    assert_infers(num("-0.0"), "float64");
    assert_infers(num("0.000001"), "float64");
    /* 15 significant digits survive a double, 16 might not */
    assert_infers(num("1.23456789012345"), "float64");
    assert_infers(num("1.234567890123456"), "numeric");
    assert_infers(num("123456789.012345"), "float64");
    assert_infers(num("1234567890.123456"), "numeric");
    /* zeros that are not significant do not count */
    assert_infers(num("0.00000000000000000000001"), "float64");
    assert_infers(num("1.50000000000000000000000"), "float64");
    assert_infers(num("0.1234567890123456789012345678"), "numeric");
    /* the double's range */
    assert_infers(num("1e308"), "float64");
    assert_infers(num("1.7976931348623e308"), "float64");
    assert_infers(num("9.99e308"), "numeric");
    assert_infers(num("1e309"), "numeric");
    assert_infers(num("1e-306"), "float64");
    assert_infers(num("1e-300"), "float64");
    assert_infers(num("1e-400"), "numeric");
    assert_infers(num("-1E+5"), "float64");
    /* beyond PostgreSQL's numeric only text holds it */
    assert_infers(num("1e-20000"), "varchar(16)");
    assert_infers(num("1e999999"), "varchar(16)");

    /* CSV fields classify by content; JSON strings never infer as numbers */
    assert_infers(raw("42"), "int16");
    assert_infers(raw("-3000000000"), "int64");
    assert_infers(raw("2.5"), "float64");
    assert_infers(str("42"), "varchar(16)");
    /* not numbers: zip codes and phone numbers keep their characters */
    assert_infers(raw("02134"), "varchar(16)");
    assert_infers(raw("+4915112345678"), "varchar(32)");
    assert_infers(raw("1,5"), "varchar(16)");
}

static void test_float64_fit(void **state)
{
    pm_cell c;
    pm_value v = num("2.5");
    assert_true(type_fits(&v, T(PM_T_FLOAT64), &c));
    assert_int_equal(c.kind, PM_CELL_REAL);
    assert_true(c.d == 2.5);
    v = num("-12");
    assert_true(type_fits(&v, T(PM_T_FLOAT64), &c));
    assert_true(c.d == -12.0);
    v = raw("1e-3");
    assert_true(type_fits(&v, T(PM_T_FLOAT64), &c));
    assert_true(c.d == 1e-3);
    v = str("6.02214076e23");
    assert_true(type_fits(&v, T(PM_T_FLOAT64), &c));
    assert_true(c.d == 6.02214076e23);

    /* the edges of the double range, with and without a cell asked for */
    const char *yes[] = {"1.7976931348623157e308",
                         "1e308",
                         "5e-324",
                         "0e-400",
                         "0.0",
                         "0.30000000000000004",
                         "1234567890000000000000000000000e-30" /* 31 digits, but trailing zeros */};
    /* and those a double would round: they widen to numeric instead */
    const char *no[] = {"1.7976931348623159e308",
                        "1e309",
                        "2e308",
                        "1e-400",
                        "-1e99999999999",
                        "123456789012345678901234567891",
                        "9007199254740993",
                        "0.30000000000000001"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        v = num(yes[i]);
        assert_true(type_fits(&v, T(PM_T_FLOAT64), NULL));
        if (!type_fits(&v, T(PM_T_FLOAT64), &c))
            fail_msg("%s should fit float64", yes[i]);
    }
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
        v = num(no[i]);
        if (type_fits(&v, T(PM_T_FLOAT64), NULL) || type_fits(&v, T(PM_T_FLOAT64), &c))
            fail_msg("%s should not fit float64", no[i]);
    }
    v = num("9007199254740992"); /* 2^53 is a double exactly */
    assert_true(type_fits(&v, T(PM_T_FLOAT64), &c));
    assert_true(c.d == 9007199254740992.0);

    assert_false(fits(raw("abc"), T(PM_T_FLOAT64)));
    assert_false(fits(raw("NaN"), T(PM_T_FLOAT64)));
    assert_false(fits(raw("Infinity"), T(PM_T_FLOAT64)));
    assert_false(fits(raw(".5"), T(PM_T_FLOAT64)));
}

static uint64_t xorshift(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* A number literal of 1 to maxdig digits into lit, without an exponent: a
 * sign or none, a point somewhere or none, and no leading zero (one now
 * and then when some_lead0, which is no number). Returns its length;
 * *ndig gets its digits and *rest the random bits it did not use. */
static size_t number_literal(uint64_t *seed, int maxdig, bool some_lead0, char *lit, int *ndig,
                             uint64_t *rest)
{
    uint64_t r = xorshift(seed);
    int nd = 1 + (int)(r % (unsigned)maxdig);
    r /= (unsigned)maxdig;
    size_t n = 0;
    if (r & 1)
        lit[n++] = '-';
    r >>= 1;
    int point = (int)(r % (unsigned)(nd + 1)); /* 0 or nd: no point */
    r /= (unsigned)(nd + 1);
    for (int d = 0; d < nd; d++) {
        if (d == point && d > 0)
            lit[n++] = '.';
        uint64_t x = xorshift(seed);
        bool lead = d == 0 && nd > 1 && point != 1;
        lit[n++] = (char)('0' + (lead && (!some_lead0 || (x & 63)) ? 1 + x % 9 : x % 10));
    }
    lit[n] = '\0';
    *ndig = nd;
    *rest = r;
    return n;
}

/* The float64 cell must be the double strtod gives, bit for bit, whichever
 * path type_fits takes to get it. */
static void test_float64_matches_strtod(void **state)
{
    uint64_t seed = 88172645463325252ULL; /* xorshift: the same literals every run */
    char lit[64];
    for (int iter = 0; iter < 200000; iter++) {
        int ndig;
        uint64_t r;
        size_t n = number_literal(&seed, 19, false, lit, &ndig, &r);
        if (r & 1)
            n += (size_t)sprintf(lit + n, "e%d", (int)((r >> 1) % 61) - 30);
        pm_value v = num(lit);
        pm_cell c;
        if (!type_fits(&v, T(PM_T_FLOAT64), &c)) {
            if (ndig > 15)
                continue; /* more digits than a double keeps: a widen, not a fit */
            fail_msg("%s does not fit float64", lit);
        }
        double want = strtod(lit, NULL);
        if (want == 0)
            want = 0.0; /* -0 is stored as 0 (both backends alike) */
        if (memcmp(&c.d, &want, sizeof want) != 0)
            fail_msg("%s gives %.17g, strtod %.17g", lit, c.d, want);
    }
}

/* The common shapes (-?digits, -?digits.digits, up to 19 digits) take a
 * short path through type_fits; the same literal with "e0" behind it takes
 * the general one, and must give the same double, bit for bit. Integers
 * must give what strtoll gives, within each column's range. */
static void test_number_short_path_agrees(void **state)
{
    uint64_t seed = 0x9E3779B97F4A7C15ULL;
    char lit[64], lit_e0[70];
    for (int iter = 0; iter < 100000; iter++) {
        int ndig;
        uint64_t r;
        /* up to 21 digits: past the short path's 19 */
        number_literal(&seed, 21, true, lit, &ndig, &r);
        snprintf(lit_e0, sizeof lit_e0, "%se0", lit);

        pm_value v = num(lit), w = num(lit_e0);
        pm_cell c, d;
        bool fv = type_fits(&v, T(PM_T_FLOAT64), &c), fw = type_fits(&w, T(PM_T_FLOAT64), &d);
        if (fv != fw || fv != fits(v, T(PM_T_FLOAT64)))
            fail_msg("%s: float64 fit %d, as %s %d", lit, fv, lit_e0, fw);
        if (fv && memcmp(&c.d, &d.d, sizeof c.d) != 0)
            fail_msg("%s gives %.17g, %s %.17g", lit, c.d, lit_e0, d.d);

        /* integers: what strtoll accepts in range, and only that */
        bool integral = strchr(lit, '.') == NULL;
        const char *digits = lit + (lit[0] == '-');
        bool lead0 = digits[0] == '0' && digits[1] != '\0';
        errno = 0;
        long long ll = strtoll(lit, NULL, 10);
        bool in64 = integral && !lead0 && errno == 0;
        static const int64_t lo[] = {INT16_MIN, INT32_MIN, INT64_MIN},
                             hi[] = {INT16_MAX, INT32_MAX, INT64_MAX};
        for (size_t k = 0; k < 3; k++) {
            bool want = in64 && ll >= lo[k] && ll <= hi[k];
            pm_cell ci;
            bool got = type_fits(&v, T(INT_KINDS[k]), &ci);
            if (got != want || got != fits(v, T(INT_KINDS[k])))
                fail_msg("%s: fits %s is %d, want %d", lit,
                         k == 0   ? "int16"
                         : k == 1 ? "int32"
                                  : "int64",
                         got, want);
            if (got && (ci.kind != PM_CELL_INT || ci.i != ll))
                fail_msg("%s: int cell %lld, want %lld", lit, (long long)ci.i, ll);
        }
    }
}

static void test_numeric_fit(void **state)
{
    pm_cell c;
    /* the cell is the literal exactly as written: numeric is exact */
    const char *lit[] = {"1.50", "-0.5", "123456789012345678901234567890.000000001", "1E+400",
                         "42"};
    for (size_t i = 0; i < sizeof lit / sizeof lit[0]; i++) {
        pm_value v = num(lit[i]);
        assert_true(type_fits(&v, T(PM_T_NUMERIC), &c));
        assert_int_equal(c.kind, PM_CELL_TEXT);
        assert_ptr_equal(c.s, v.s);
        assert_int_equal(c.len, v.len);
    }
    /* but a negative zero loses its sign, as PostgreSQL's numeric has none */
    const char *zero[] = {"-0", "-0.00", "-0e5"};
    for (size_t i = 0; i < sizeof zero / sizeof zero[0]; i++) {
        pm_value v = num(zero[i]);
        assert_true(type_fits(&v, T(PM_T_NUMERIC), &c));
        assert_ptr_equal(c.s, v.s + 1);
        assert_int_equal(c.len, v.len - 1);
    }
    pm_value mz = num("-0.0");
    assert_true(type_fits(&mz, T(PM_T_FLOAT64), &c));
    assert_false(signbit(c.d));
    assert_true(fits(str("3.14"), T(PM_T_NUMERIC)));
    assert_true(fits(raw("-7e-3"), T(PM_T_NUMERIC)));
    assert_false(fits(raw("7."), T(PM_T_NUMERIC)));
    assert_false(fits(raw("+7"), T(PM_T_NUMERIC)));
    assert_false(fits(raw("1e-20000"), T(PM_T_NUMERIC)));
    assert_false(fits(str("twelve"), T(PM_T_NUMERIC)));
    assert_false(fits(val(PM_V_ARRAY, "[1]"), T(PM_T_NUMERIC)));
}

static void test_datetime_canonical(void **state)
{
    static const struct {
        const char *in, *out; /* out NULL: kept as given */
    } cases[] = {
        {"2016-12-31T23:59:60", "2017-01-01T00:00:00"},
        {"2016-12-31 23:59:60Z", "2017-01-01T00:00:00Z"},
        {"2026-06-30T12:30:60.25", "2026-06-30T12:31:00.25"},
        {"2026-03-01T10:00:00+02:00", "2026-03-01T08:00:00Z"},
        {"2026-03-01T00:30:00.5-05:30", "2026-03-01T06:00:00.5Z"},
        {"2026-01-01T01:00:00+0200", "2025-12-31T23:00:00Z"},
        {"2024-02-29T23:00:00-03", "2024-03-01T02:00:00Z"},
        {"2026-01-01T01:00:00+00:00", "2026-01-01T01:00:00Z"},
        {"2026-01-01T10:00:00.123456789", "2026-01-01T10:00:00.123457"},
        {"2026-01-01T10:00:00.500", "2026-01-01T10:00:00.5"},
        {"2026-12-31T23:59:59.9999999", "2027-01-01T00:00:00"},
        {"0001-01-01T00:30:00+01:00", NULL}, /* before year 1: left to be refused */
        {"2026-01-01T10:00:00", NULL},
        {"2026-01-01 10:00:00Z", NULL},
        {"2026-01-01T10:00:00z", NULL},
        {"2026-01-01T10:00:59Z", NULL},
        {"2026-01-01T10:00:60Z", "2026-01-01T10:01:00Z"},
        {"2026-01-01t10:00:60", "2026-01-01T10:01:00"},
        {"2026-02-30T10:00:60Z", NULL}, /* no such day */
        {"2026-01-01T10:00:00.25Z", NULL},
        {"2026-01-01", NULL},
        {"2016-12-31T23:59:60.5", NULL}, /* past 24:00:00: no timestamp at all */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[TYPE_DATETIME_MAX] = "";
        bool changed = type_datetime_canonical(cases[i].in, strlen(cases[i].in), out, sizeof out);
        if (changed != (cases[i].out != NULL) || (changed && strcmp(out, cases[i].out) != 0))
            fail_msg("%s gives %s (%s), want %s", cases[i].in, changed ? out : "itself",
                     changed ? "changed" : "kept", cases[i].out ? cases[i].out : "itself");
    }
    assert_false(fits(str("2016-12-31T23:59:60.5"), T(PM_T_TIMESTAMP)));
    assert_true(fits(str("2016-12-31T23:59:60"), T(PM_T_TIMESTAMP)));
}

/* ---- booleans ----------------------------------------------------------- */

static void test_bool(void **state)
{
    pm_cell c;
    pm_value t = boolean(true), f = boolean(false);
    assert_infers(t, "bool");
    assert_int_equal(fit_int(t, T(PM_T_BOOL)), 1);
    assert_int_equal(fit_int(f, T(PM_T_BOOL)), 0);
    /* bool -> int16 is a lattice edge, so a boolean lands in ints as 1/0 */
    for (size_t k = 0; k < 3; k++) {
        assert_int_equal(fit_int(t, T(INT_KINDS[k])), 1);
        assert_int_equal(fit_int(f, T(INT_KINDS[k])), 0);
    }
    assert_true(type_fits(&t, T(PM_T_FLOAT64), &c));
    assert_true(c.kind == PM_CELL_REAL && c.d == 1.0);
    assert_true(type_fits(&f, T(PM_T_NUMERIC), &c));
    assert_true(c.kind == PM_CELL_TEXT && c.len == 1 && c.s[0] == '0');
    assert_true(type_fits(&t, T(PM_T_TEXT), &c));
    assert_true(c.kind == PM_CELL_TEXT && c.len == 4 && memcmp(c.s, "true", 4) == 0);
    assert_true(type_fits(&f, T(PM_T_JSON), &c));
    assert_true(c.kind == PM_CELL_TEXT && c.len == 5 && memcmp(c.s, "false", 5) == 0);
    assert_true(fits(t, VC(4)));
    assert_false(fits(f, VC(4)));
    assert_false(fits(t, T(PM_T_DATE)));
    assert_false(fits(t, T(PM_T_UNKNOWN)));

    /* CSV writers spell booleans in any case */
    const char *yes[] = {"true", "TRUE", "True", "false", "FALSE", "fAlSe"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        assert_infers(raw(yes[i]), "bool");
        assert_true(fits(raw(yes[i]), T(PM_T_BOOL)));
        assert_true(fits(str(yes[i]), T(PM_T_BOOL)));
    }
    assert_int_equal(fit_int(raw("TRUE"), T(PM_T_BOOL)), 1);
    assert_int_equal(fit_int(raw("False"), T(PM_T_INT32)), 0);
    const char *no[] = {"t", "f", "yes", "no", "1", "0", "truee", "tru", " true", ""};
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        if (fits(raw(no[i]), T(PM_T_BOOL)))
            fail_msg("\"%s\" fits bool", no[i]);
    assert_false(fits(num("1"), T(PM_T_BOOL)));
    assert_false(fits(num("0"), T(PM_T_BOOL)));
    assert_infers(str("true"), "varchar(16)");
}

/* ---- strings ------------------------------------------------------------ */

static void test_varchar_counts_characters(void **state)
{
    assert_int_equal(type_char_len("", 0), 0);
    assert_int_equal(type_char_len("abc", 3), 3);
    assert_int_equal(type_char_len("Düsseldorf", strlen("Düsseldorf")), 10);
    assert_int_equal(type_char_len("€😀", strlen("€😀")), 2);

    assert_true(fits(str("Düsseldorf"), VC(10))); /* 11 bytes, 10 characters */
    assert_false(fits(str("Düsseldorf"), VC(9)));
    assert_true(fits(str("ÄÖÜ"), VC(3)));
    assert_false(fits(str("ÄÖÜ"), VC(2)));
    assert_true(fits(str("😀😀"), VC(2)));
    assert_false(fits(str("😀😀😀"), VC(2)));
    assert_true(fits(str(""), VC(16)));
    assert_true(fits(raw(""), VC(16)));

    pm_cell c;
    pm_value v = str("hello");
    assert_true(type_fits(&v, VC(16), &c));
    assert_true(c.kind == PM_CELL_TEXT && c.s == v.s && c.len == 5);
    /* a JSON string may hold NUL: lengths, not terminators */
    v = (pm_value){.kind = PM_V_STRING, .s = "a\0b", .len = 3};
    assert_true(type_fits(&v, VC(3), &c));
    assert_int_equal(c.len, 3);
    assert_false(type_fits(&v, VC(2), &c));

    /* numbers fit as their literal text */
    v = num("1.50");
    assert_true(type_fits(&v, VC(4), &c));
    assert_true(c.kind == PM_CELL_TEXT && c.len == 4 && memcmp(c.s, "1.50", 4) == 0);
    assert_false(fits(num("1.500"), VC(4)));
    assert_false(fits(val(PM_V_OBJECT, "{}"), VC(16)));
}

static void test_infer_varchar_buckets(void **state)
{
    char buf[1200];
    static const struct {
        size_t chars;
        const char *type;
    } cases[] = {{0, "varchar(16)"},    {1, "varchar(16)"},     {8, "varchar(16)"},
                 {9, "varchar(32)"},    {16, "varchar(32)"},    {17, "varchar(64)"},
                 {32, "varchar(64)"},   {33, "varchar(128)"},   {64, "varchar(128)"},
                 {65, "varchar(256)"},  {128, "varchar(256)"},  {129, "varchar(512)"},
                 {256, "varchar(512)"}, {257, "varchar(1024)"}, {512, "varchar(1024)"},
                 {513, "text"},         {1100, "text"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        memset(buf, 'x', cases[i].chars);
        buf[cases[i].chars] = '\0';
        assert_infers(str(buf), cases[i].type);
        assert_infers(raw(buf), cases[i].type);
    }
    /* characters, not bytes: 8 three-byte euros are 8 characters */
    assert_infers(str("€€€€€€€€"), "varchar(16)");
    assert_infers(str("üüüüüüüüü"), "varchar(32)");
    assert_infers(raw(""), "varchar(16)");
}

static void test_text_takes_scalars(void **state)
{
    pm_cell c;
    pm_value vs[] = {str("x"),
                     raw("x"),
                     num("12.5"),
                     boolean(true),
                     val(PM_V_ARRAY, "[1,2]"),
                     val(PM_V_OBJECT, "{\"a\":1}"),
                     str("2026-11-01")};
    for (size_t i = 0; i < sizeof vs / sizeof vs[0]; i++) {
        assert_true(type_fits(&vs[i], T(PM_T_TEXT), &c));
        assert_int_equal(c.kind, PM_CELL_TEXT);
    }
    pm_value a = val(PM_V_ARRAY, "[1,2]");
    assert_true(type_fits(&a, T(PM_T_TEXT), &c));
    assert_true(c.s == a.s && c.len == 5);
}

static void test_json(void **state)
{
    pm_cell c;
    pm_value a = val(PM_V_ARRAY, "[1, 2]"), o = val(PM_V_OBJECT, "{\"k\": \"v\"}");
    assert_infers(a, "json");
    assert_infers(o, "json");
    assert_true(type_fits(&a, T(PM_T_JSON), &c));
    assert_true(c.kind == PM_CELL_TEXT && c.s == a.s && c.len == a.len);
    assert_true(fits(o, T(PM_T_JSON)));
    assert_true(fits(num("3"), T(PM_T_JSON)));
    assert_true(fits(boolean(false), T(PM_T_JSON)));
    assert_false(fits(str("plain"), T(PM_T_JSON))); /* would need JSON encoding */
    assert_false(fits(raw("[1]"), T(PM_T_JSON)));
    assert_false(fits(a, T(PM_T_INT64)));
    assert_false(fits(o, T(PM_T_DATE)));
    assert_infers(raw("[1,2]"), "varchar(16)");
}

static void test_null(void **state)
{
    pm_value n = {.kind = PM_V_NULL};
    assert_infers(n, "unknown");
    for (int k = PM_T_UNKNOWN; k <= PM_T_JSON; k++) {
        pm_cell c = {.kind = PM_CELL_INT};
        assert_true(type_fits(&n, (pm_type){(pm_tkind)k, k == PM_T_VARCHAR ? 1 : 0}, &c));
        assert_int_equal(c.kind, PM_CELL_NULL);
    }
    /* only null fits a column that has seen nothing else */
    pm_value vs[] = {num("1"), str(""), raw("x"), boolean(true), val(PM_V_ARRAY, "[]")};
    for (size_t i = 0; i < sizeof vs / sizeof vs[0]; i++)
        assert_false(fits(vs[i], T(PM_T_UNKNOWN)));
}

/* ---- dates and times ---------------------------------------------------- */

static void test_dates(void **state)
{
    const char *valid[] = {"2028-02-29", "2000-02-29", "2026-12-31",
                           "0001-01-01", "9999-12-31", "2026-04-30"};
    const char *invalid[] = {"2026-02-29", "1900-02-29", "2026-13-01",  "2026-00-10",
                             "2026-04-31", "2026-01-00", "0000-01-01",  "2026-1-01",
                             "2026/01/01", "26-01-01",   "2026-01-01x", "2026-01-0a"};
    for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++) {
        assert_infers(str(valid[i]), "date");
        assert_infers(raw(valid[i]), "date");
        assert_true(fits(str(valid[i]), T(PM_T_DATE)));
    }
    for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++) {
        char b[TYPE_NAME_MAX];
        if (fits(str(invalid[i]), T(PM_T_DATE)) || fits(raw(invalid[i]), T(PM_T_TIMESTAMP)))
            fail_msg("\"%s\" fits a date column", invalid[i]);
        assert_string_not_equal(inferred(str(invalid[i]), b), "date");
    }
    assert_infers(str("2026-02-29"), "varchar(32)");

    pm_cell c;
    pm_value d = str("2026-11-01");
    assert_true(type_fits(&d, T(PM_T_DATE), &c));
    assert_true(c.kind == PM_CELL_TEXT && c.s == d.s && c.len == 10);
    /* date -> timestamp is a lattice edge; date -> timestamptz is not */
    assert_true(fits(d, T(PM_T_TIMESTAMP)));
    assert_false(fits(d, T(PM_T_TIMESTAMPTZ)));
    assert_false(fits(num("20261101"), T(PM_T_DATE)));
}

static void test_timestamps(void **state)
{
    const char *ts[] = {"2026-11-01T10:00",      "2026-11-01 10:00",
                        "2026-11-01t10:00:59",   "2026-11-01T23:59:60",
                        "2026-11-01 00:00:00.5", "2026-11-01T10:00:00.123456789",
                        "2028-02-29T12:00:00"};
    const char *tz[] = {"2026-11-01T10:00:00Z",     "2026-11-01T10:00Z",
                        "2026-11-01 10:00:00z",     "2026-11-01T10:00:00+02:00",
                        "2026-11-01T10:00:00-0530", "2026-11-01T10:00:00.25+05",
                        "2026-11-01T10:00+15:59",   "2026-11-01 10:00:00.000001-00:00"};
    const char *no[] = {"2026-11-01T",
                        "2026-11-01T10",
                        "2026-11-01T10:0",
                        "2026-11-01T24:00",
                        "2026-11-01T10:60",
                        "2026-11-01T10:00:61",
                        "2026-11-01T10:00:00.",
                        "2026-11-01T10:00:00.1234567890",
                        "2026-11-01T10:00.5",
                        "2026-11-01X10:00",
                        "2026-02-29T10:00",
                        "2026-11-01T10:00:00+16:00",
                        "2026-11-01T10:00:00+02:60",
                        "2026-11-01T10:00:00+2",
                        "2026-11-01T10:00:00+02:0",
                        "2026-11-01T10:00:00 +02:00",
                        "2026-11-01T10:00:00ZZ",
                        "2026-11-01T10:00:00+02:00x"};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) {
        assert_infers(str(ts[i]), "timestamp");
        assert_infers(raw(ts[i]), "timestamp");
        assert_true(fits(str(ts[i]), T(PM_T_TIMESTAMP)));
        /* a zoneless time must not be given a zone by accident */
        assert_false(fits(str(ts[i]), T(PM_T_TIMESTAMPTZ)));
        assert_false(fits(str(ts[i]), T(PM_T_DATE)));
    }
    for (size_t i = 0; i < sizeof tz / sizeof tz[0]; i++) {
        assert_infers(str(tz[i]), "timestamptz");
        assert_true(fits(str(tz[i]), T(PM_T_TIMESTAMPTZ)));
        /* ...nor a zoned one lose it */
        assert_false(fits(str(tz[i]), T(PM_T_TIMESTAMP)));
        assert_false(fits(str(tz[i]), T(PM_T_DATE)));
    }
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
        if (fits(str(no[i]), T(PM_T_TIMESTAMP)) || fits(str(no[i]), T(PM_T_TIMESTAMPTZ)))
            fail_msg("\"%s\" fits a timestamp column", no[i]);
    }
    pm_cell c;
    pm_value v = str(tz[3]);
    assert_true(type_fits(&v, T(PM_T_TIMESTAMPTZ), &c));
    assert_true(c.kind == PM_CELL_TEXT && c.s == v.s && c.len == v.len);
}

/* ---- names -------------------------------------------------------------- */

static void test_names(void **state)
{
    char buf[TYPE_NAME_MAX];
    const char *names[] = {
        "unknown",     "bool",    "int16",      "int32",       "int64",
        "float64",     "numeric", "text",       "date",        "timestamp",
        "timestamptz", "json",    "varchar(1)", "varchar(64)", "varchar(10485760)"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        pm_type t = {PM_T_JSON, 99};
        if (!type_parse(names[i], &t))
            fail_msg("\"%s\" does not parse", names[i]);
        assert_string_equal(type_name(t, buf), names[i]);
        if (t.kind != PM_T_VARCHAR)
            assert_int_equal(t.len, 0);
    }
    pm_type t;
    assert_true(type_parse("varchar(64)", &t));
    assert_true(t.kind == PM_T_VARCHAR && t.len == 64);
    const char *bad[] = {"",
                         "int",
                         "INT32",
                         "varchar",
                         "varchar()",
                         "varchar(0)",
                         "varchar(01)",
                         "varchar(-1)",
                         "varchar(+5)",
                         "varchar(5",
                         "varchar(5))",
                         "varchar( 5)",
                         "varchar(10485761)",
                         "varchar(99999999999999999999)",
                         "text ",
                         "float32"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (type_parse(bad[i], &t))
            fail_msg("\"%s\" parses", bad[i]);
}

static void test_sqlite_decl(void **state)
{
    assert_string_equal(type_sqlite_decl(T(PM_T_BOOL)), "INTEGER");
    assert_string_equal(type_sqlite_decl(T(PM_T_INT16)), "INTEGER");
    assert_string_equal(type_sqlite_decl(T(PM_T_INT32)), "INTEGER");
    assert_string_equal(type_sqlite_decl(T(PM_T_INT64)), "INTEGER");
    assert_string_equal(type_sqlite_decl(T(PM_T_FLOAT64)), "REAL");
    assert_string_equal(type_sqlite_decl(T(PM_T_NUMERIC)), "TEXT");
    assert_string_equal(type_sqlite_decl(VC(16)), "TEXT");
    assert_string_equal(type_sqlite_decl(T(PM_T_TEXT)), "TEXT");
    assert_string_equal(type_sqlite_decl(T(PM_T_DATE)), "TEXT");
    assert_string_equal(type_sqlite_decl(T(PM_T_TIMESTAMP)), "TEXT");
    assert_string_equal(type_sqlite_decl(T(PM_T_TIMESTAMPTZ)), "TEXT");
    assert_string_equal(type_sqlite_decl(T(PM_T_JSON)), "TEXT");
    assert_string_equal(type_sqlite_decl(T(PM_T_UNKNOWN)), "TEXT");
}

/* ---- the lattice -------------------------------------------------------- */

static pm_type P(const char *name)
{
    pm_type t;
    if (!type_parse(name, &t))
        fail_msg("bad type name %s", name);
    return t;
}

static const char *const class_names[] = {"SAME", "AUTO", "REVIEW", "FORBIDDEN"};

static void test_widen_classes(void **state)
{
    static const struct {
        const char *from, *to;
        pm_widen_class c;
    } edges[] = {
        {"int32", "int32", PM_WIDEN_SAME},
        {"varchar(16)", "varchar(16)", PM_WIDEN_SAME},
        {"json", "json", PM_WIDEN_SAME},
        /* automatic: the lossless lattice */
        {"bool", "int16", PM_WIDEN_AUTO},
        {"bool", "int32", PM_WIDEN_AUTO},
        {"bool", "int64", PM_WIDEN_AUTO},
        {"bool", "numeric", PM_WIDEN_AUTO},
        {"bool", "float64", PM_WIDEN_AUTO},
        {"int16", "int32", PM_WIDEN_AUTO},
        {"int16", "int64", PM_WIDEN_AUTO},
        {"int16", "numeric", PM_WIDEN_AUTO},
        {"int16", "float64", PM_WIDEN_AUTO},
        {"int32", "int64", PM_WIDEN_AUTO},
        {"int32", "numeric", PM_WIDEN_AUTO},
        {"int32", "float64", PM_WIDEN_AUTO},
        {"int64", "numeric", PM_WIDEN_AUTO},
        {"varchar(16)", "varchar(32)", PM_WIDEN_AUTO},
        {"varchar(16)", "varchar(1024)", PM_WIDEN_AUTO},
        {"varchar(16)", "text", PM_WIDEN_AUTO},
        {"date", "timestamp", PM_WIDEN_AUTO},
        {"unknown", "int16", PM_WIDEN_AUTO},
        {"unknown", "json", PM_WIDEN_AUTO},
        /* reviewable */
        {"int64", "float64", PM_WIDEN_REVIEW},
        {"float64", "numeric", PM_WIDEN_REVIEW},
        {"timestamp", "timestamptz", PM_WIDEN_REVIEW},
        {"date", "timestamptz", PM_WIDEN_REVIEW},
        {"int32", "text", PM_WIDEN_REVIEW},
        {"bool", "text", PM_WIDEN_REVIEW},
        {"float64", "text", PM_WIDEN_REVIEW},
        {"numeric", "text", PM_WIDEN_REVIEW},
        {"date", "text", PM_WIDEN_REVIEW},
        {"timestamptz", "text", PM_WIDEN_REVIEW},
        {"json", "text", PM_WIDEN_REVIEW},
        {"int32", "json", PM_WIDEN_REVIEW},
        {"varchar(16)", "json", PM_WIDEN_REVIEW},
        {"text", "json", PM_WIDEN_REVIEW},
        {"timestamp", "json", PM_WIDEN_REVIEW},
        /* forbidden: narrowing or no path */
        {"int64", "int32", PM_WIDEN_FORBIDDEN},
        {"int32", "int16", PM_WIDEN_FORBIDDEN},
        {"int16", "bool", PM_WIDEN_FORBIDDEN},
        {"numeric", "int64", PM_WIDEN_FORBIDDEN},
        {"numeric", "float64", PM_WIDEN_FORBIDDEN},
        {"float64", "int64", PM_WIDEN_FORBIDDEN},
        {"float64", "int32", PM_WIDEN_FORBIDDEN},
        {"float64", "bool", PM_WIDEN_FORBIDDEN},
        {"text", "varchar(1024)", PM_WIDEN_FORBIDDEN},
        {"varchar(64)", "varchar(32)", PM_WIDEN_FORBIDDEN},
        {"timestamptz", "timestamp", PM_WIDEN_FORBIDDEN},
        {"timestamp", "date", PM_WIDEN_FORBIDDEN},
        {"timestamptz", "date", PM_WIDEN_FORBIDDEN},
        {"json", "varchar(64)", PM_WIDEN_FORBIDDEN},
        {"json", "int64", PM_WIDEN_FORBIDDEN},
        {"text", "int64", PM_WIDEN_FORBIDDEN},
        {"varchar(16)", "int16", PM_WIDEN_FORBIDDEN},
        {"int32", "varchar(64)", PM_WIDEN_FORBIDDEN},
        {"date", "varchar(64)", PM_WIDEN_FORBIDDEN},
        {"bool", "date", PM_WIDEN_FORBIDDEN},
        {"date", "int32", PM_WIDEN_FORBIDDEN},
        {"int32", "unknown", PM_WIDEN_FORBIDDEN},
    };
    for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++) {
        pm_widen_class c = type_widen_class(P(edges[i].from), P(edges[i].to));
        if (c != edges[i].c)
            fail_msg("%s -> %s is %s, expected %s", edges[i].from, edges[i].to, class_names[c],
                     class_names[edges[i].c]);
    }
}

static void test_join_table(void **state)
{
    static const struct {
        const char *a, *b, *j;
    } cases[] = {
        {"int32", "float64", "float64"},
        {"int64", "float64", "float64"},
        {"int16", "int64", "int64"},
        {"int64", "numeric", "numeric"},
        {"float64", "numeric", "numeric"},
        {"bool", "int32", "int32"},
        {"bool", "float64", "float64"},
        {"bool", "bool", "bool"},
        {"date", "timestamp", "timestamp"},
        {"date", "timestamptz", "timestamptz"},
        {"timestamp", "timestamptz", "timestamptz"},
        {"varchar(16)", "varchar(64)", "varchar(64)"},
        {"varchar(64)", "text", "text"},
        {"int32", "varchar(16)", "text"},
        {"bool", "date", "text"},
        {"numeric", "timestamp", "text"},
        {"json", "json", "json"},
        {"json", "int32", "text"},
        {"json", "varchar(16)", "text"},
        {"json", "text", "text"},
        {"unknown", "int32", "int32"},
        {"unknown", "json", "json"},
        {"unknown", "unknown", "unknown"},
    };
    char b1[TYPE_NAME_MAX], b2[TYPE_NAME_MAX];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pm_type a = P(cases[i].a), b = P(cases[i].b);
        const char *ab = type_name(type_join(a, b), b1), *ba = type_name(type_join(b, a), b2);
        if (strcmp(ab, cases[i].j) != 0 || strcmp(ba, cases[i].j) != 0)
            fail_msg("join(%s, %s) = %s / %s, expected %s", cases[i].a, cases[i].b, ab, ba,
                     cases[i].j);
    }
}

static const char *const ALL_TYPES[] = {
    "unknown", "bool",        "int16",       "int32",        "int64",         "float64",
    "numeric", "varchar(16)", "varchar(32)", "varchar(256)", "varchar(1024)", "text",
    "date",    "timestamp",   "timestamptz", "json"};
#define NTYPES (sizeof ALL_TYPES / sizeof ALL_TYPES[0])

/* join is a least upper bound: commutative, idempotent, an upper bound of
 * both (never across a forbidden edge), and below every other upper bound. */
static void test_join_is_lub(void **state)
{
    char b1[TYPE_NAME_MAX];
    for (size_t i = 0; i < NTYPES; i++) {
        pm_type a = P(ALL_TYPES[i]);
        pm_type aa = type_join(a, a);
        assert_int_equal(type_widen_class(a, aa), PM_WIDEN_SAME);
        for (size_t k = 0; k < NTYPES; k++) {
            pm_type b = P(ALL_TYPES[k]);
            pm_type j = type_join(a, b), j2 = type_join(b, a);
            assert_int_equal(type_widen_class(j, j2), PM_WIDEN_SAME);
            if (type_widen_class(a, j) == PM_WIDEN_FORBIDDEN ||
                type_widen_class(b, j) == PM_WIDEN_FORBIDDEN)
                fail_msg("join(%s, %s) = %s is not above both", ALL_TYPES[i], ALL_TYPES[k],
                         type_name(j, b1));
            for (size_t u = 0; u < NTYPES; u++) {
                pm_type ub = P(ALL_TYPES[u]);
                if (type_widen_class(a, ub) != PM_WIDEN_FORBIDDEN &&
                    type_widen_class(b, ub) != PM_WIDEN_FORBIDDEN &&
                    type_widen_class(j, ub) == PM_WIDEN_FORBIDDEN)
                    fail_msg("join(%s, %s) = %s is above upper bound %s", ALL_TYPES[i],
                             ALL_TYPES[k], type_name(j, b1), ALL_TYPES[u]);
            }
        }
    }
}

/* The promise drift relies on: a value fits the type it infers to, and
 * every type that type widens to automatically, so an automatic widen
 * always lets the record that caused it in. */
static void test_infer_fits_property(void **state)
{
    pm_value vs[] = {num("0"),
                     num("40000"),
                     num("-3000000000"),
                     num("9223372036854775808"),
                     num("1.5"),
                     num("1e300"),
                     num("1e400"),
                     num("0.1234567890123456789"),
                     num("1e-20000"),
                     boolean(true),
                     boolean(false),
                     str(""),
                     str("hello"),
                     str("Düsseldorf"),
                     str("2026-11-01"),
                     str("2026-11-01T10:00"),
                     str("2026-11-01T10:00:00+01:00"),
                     raw(""),
                     raw("TRUE"),
                     raw("12"),
                     raw("-7.25"),
                     raw("02134"),
                     raw("2028-02-29"),
                     raw("abc"),
                     val(PM_V_ARRAY, "[1]"),
                     val(PM_V_OBJECT, "{}")};
    char b1[TYPE_NAME_MAX];
    for (size_t i = 0; i < sizeof vs / sizeof vs[0]; i++) {
        pm_type t = type_infer(&vs[i]);
        pm_cell c;
        if (!type_fits(&vs[i], t, &c))
            fail_msg("value %zu does not fit its own type %s", i, type_name(t, b1));
        for (size_t k = 0; k < NTYPES; k++) {
            pm_type to = P(ALL_TYPES[k]);
            pm_widen_class wc = type_widen_class(t, to);
            if ((wc == PM_WIDEN_SAME || wc == PM_WIDEN_AUTO) && !type_fits(&vs[i], to, &c))
                fail_msg("value %zu infers %s but does not fit %s", i, type_name(t, b1),
                         ALL_TYPES[k]);
        }
        /* ...and text takes every one of them */
        assert_true(type_fits(&vs[i], T(PM_T_TEXT), &c));
    }
}

/* ---- non-ISO layouts ---------------------------------------------------- */

static void test_detect_formats(void **state)
{
    static const struct {
        const char *s, *fmt;
    } cases[] = {
        {"11/01/2026", "%m/%d/%Y"},
        {"1/5/2026", "%m/%d/%Y"},
        {"12/31/2026", "%m/%d/%Y"},
        {"11/01/2026 10:00", "%m/%d/%Y %H:%M"},
        {"11/01/2026 9:05", "%m/%d/%Y %H:%M"},
        {"11/01/2026 10:00:59", "%m/%d/%Y %H:%M:%S"},
        {"11/01/2026 10:00 AM", "%m/%d/%Y %I:%M %p"},
        {"11/01/2026 12:30:00 pm", "%m/%d/%Y %I:%M:%S %p"},
        {"31/01/2026", "%d/%m/%Y"},
        {"13/12/2026 23:15", "%d/%m/%Y %H:%M"},
        {"11-01-2026", "%m-%d-%Y"},
        {"25-12-2026", "%d-%m-%Y"},
        {"01.11.2026", "%d.%m.%Y"},
        {"1.11.2026 10:00", "%d.%m.%Y %H:%M"},
        {"31.12.2026 23:59:59", "%d.%m.%Y %H:%M:%S"},
        {"2026/11/01", "%Y/%m/%d"},
        {"2026/11/01 10:00:00", "%Y/%m/%d %H:%M:%S"},
        {"2026/11/01 10:00", "%Y/%m/%d %H:%M"},
        {"01-Nov-2026", "%d-%b-%Y"},
        {"1-nov-2026", "%d-%b-%Y"},
        {"01-NOV-2026", "%d-%b-%Y"},
        {"01 November 2026", "%d %b %Y"},
        {"Sun, 01 Nov 2026 10:00:00 +0000", "%a, %d %b %Y %H:%M:%S %z"},
        {"Sun, 1 Nov 2026 10:00:00 -0500", "%a, %d %b %Y %H:%M:%S %z"},
        {"Sun, 01 Nov 2026 10:00 +0100", "%a, %d %b %Y %H:%M %z"},
        {"01 Nov 2026 10:00:00 +0000", "%d %b %Y %H:%M:%S %z"},
        {"29.02.2028", "%d.%m.%Y"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *f = type_detect_datetime_format(cases[i].s, strlen(cases[i].s));
        if (f == NULL || strcmp(f, cases[i].fmt) != 0)
            fail_msg("\"%s\" detected as %s, expected %s", cases[i].s, f ? f : "NULL",
                     cases[i].fmt);
        /* the format must really parse the whole string */
        struct tm tm;
        memset(&tm, 0, sizeof tm);
        const char *end = strptime(cases[i].s, f, &tm);
        if (end == NULL || *end != '\0')
            fail_msg("strptime(\"%s\", \"%s\") stops at %s", cases[i].s, f, end ? end : "NULL");
    }
    const char *none[] = {"",
                          "hello",
                          "2026-11-01",
                          "2026-11-01T10:00:00Z",
                          "13/13/2026",
                          "02/30/2026",
                          "31.02.2026",
                          "29.02.2026",
                          "11/01/26",
                          "11/01-2026",
                          "111/01/2026",
                          "11/01/20266",
                          "11/01/2026 25:00",
                          "11/01/2026 10:60",
                          "11/01/2026 13:00 PM",
                          "11/01/2026 0:00 AM",
                          "11/01/2026 10:00 XM",
                          "11/01/2026 ",
                          "11/01/2026T10:00",
                          "2026.11.01",
                          "32-Nov-2026",
                          "01-Foo-2026",
                          "01-Novx-2026",
                          "01-Nov 2026",
                          "Sun, 01 Nov 2026",
                          "Sun, 01 Nov 2026 10:00:00",
                          "Sun, 01 Nov 2026 10:00:00 GMT",
                          "Sun 01 Nov 2026 10:00:00 +0000",
                          "Sun, 01 Nov 2026 10:00:00 +2400",
                          "1762000000",
                          "12.5"};
    for (size_t i = 0; i < sizeof none / sizeof none[0]; i++) {
        const char *f = type_detect_datetime_format(none[i], strlen(none[i]));
        if (f != NULL)
            fail_msg("\"%s\" detected as %s", none[i], f);
    }
    /* the input is a slice, not a C string */
    const char *buf = "11/01/2026 10:00trailing";
    assert_string_equal(type_detect_datetime_format(buf, 16), "%m/%d/%Y %H:%M");
    assert_string_equal(type_detect_datetime_format(buf, 10), "%m/%d/%Y");
}

/* ---- coercions ---------------------------------------------------------- */

/* type_coerce_datetime into a fresh buffer; NULL when it fails (and then
 * the buffer must be untouched). */
static const char *coerce(const char *s, const char *fmt, pm_tkind k, char *out)
{
    memset(out, 'X', TYPE_DATETIME_MAX);
    if (type_coerce_datetime(s, strlen(s), fmt, T(k), out, TYPE_DATETIME_MAX))
        return out;
    for (size_t i = 0; i < TYPE_DATETIME_MAX; i++)
        if (out[i] != 'X')
            fail_msg("coerce(\"%s\", \"%s\") failed but wrote to out", s, fmt);
    return NULL;
}

#define assert_coerces(s, fmt, k, want)                                                            \
    do {                                                                                           \
        char b_[TYPE_DATETIME_MAX];                                                                \
        const char *w_ = (want), *got_ = coerce((s), (fmt), (k), b_);                              \
        if ((w_ == NULL) != (got_ == NULL) || (w_ && strcmp(w_, got_) != 0))                       \
            fail_msg("coerce(\"%s\", \"%s\", %d) = %s, expected %s", (s), (fmt), (int)(k),         \
                     got_ ? got_ : "NULL", w_ ? w_ : "NULL");                                      \
        if (got_) {                                                                                \
            pm_value v_ = str(got_);                                                               \
            pm_cell c_;                                                                            \
            assert_true(type_fits(&v_, T(k), &c_));                                                \
        }                                                                                          \
    } while (0)

/* Every format the detector names, on the values it names it for, into
 * each date/time column type: what loads, and where it does not. */
static void test_coerce_detected_formats(void **state)
{
    static const struct {
        const char *s, *fmt, *date, *ts, *tstz;
    } cases[] = {
        {"11/01/2026", "%m/%d/%Y", "2026-11-01", "2026-11-01T00:00:00", NULL},
        {"1/5/2026", "%m/%d/%Y", "2026-01-05", "2026-01-05T00:00:00", NULL},
        {"12/31/2026", "%m/%d/%Y", "2026-12-31", "2026-12-31T00:00:00", NULL},
        {"11/01/2026 10:00", "%m/%d/%Y %H:%M", NULL, "2026-11-01T10:00:00", NULL},
        {"11/01/2026 9:05", "%m/%d/%Y %H:%M", NULL, "2026-11-01T09:05:00", NULL},
        {"11/01/2026 10:00:59", "%m/%d/%Y %H:%M:%S", NULL, "2026-11-01T10:00:59", NULL},
        {"11/01/2026 10:00 AM", "%m/%d/%Y %I:%M %p", NULL, "2026-11-01T10:00:00", NULL},
        {"11/01/2026 12:30:00 pm", "%m/%d/%Y %I:%M:%S %p", NULL, "2026-11-01T12:30:00", NULL},
        {"31/01/2026", "%d/%m/%Y", "2026-01-31", "2026-01-31T00:00:00", NULL},
        {"13/12/2026 23:15", "%d/%m/%Y %H:%M", NULL, "2026-12-13T23:15:00", NULL},
        {"11-01-2026", "%m-%d-%Y", "2026-11-01", "2026-11-01T00:00:00", NULL},
        {"25-12-2026", "%d-%m-%Y", "2026-12-25", "2026-12-25T00:00:00", NULL},
        {"25-12-2026 8:00 PM", "%d-%m-%Y %I:%M %p", NULL, "2026-12-25T20:00:00", NULL},
        {"01.11.2026", "%d.%m.%Y", "2026-11-01", "2026-11-01T00:00:00", NULL},
        {"1.11.2026 10:00", "%d.%m.%Y %H:%M", NULL, "2026-11-01T10:00:00", NULL},
        {"31.12.2026 23:59:59", "%d.%m.%Y %H:%M:%S", NULL, "2026-12-31T23:59:59", NULL},
        {"31.12.2026 11:59:59 PM", "%d.%m.%Y %I:%M:%S %p", NULL, "2026-12-31T23:59:59", NULL},
        {"2026/11/01", "%Y/%m/%d", "2026-11-01", "2026-11-01T00:00:00", NULL},
        {"2026/11/01 10:00:00", "%Y/%m/%d %H:%M:%S", NULL, "2026-11-01T10:00:00", NULL},
        {"2026/11/01 10:00", "%Y/%m/%d %H:%M", NULL, "2026-11-01T10:00:00", NULL},
        {"01-Nov-2026", "%d-%b-%Y", "2026-11-01", "2026-11-01T00:00:00", NULL},
        {"1-nov-2026", "%d-%b-%Y", "2026-11-01", "2026-11-01T00:00:00", NULL},
        {"01-NOV-2026", "%d-%b-%Y", "2026-11-01", "2026-11-01T00:00:00", NULL},
        {"01 November 2026", "%d %b %Y", "2026-11-01", "2026-11-01T00:00:00", NULL},
        {"3 may 2026", "%d %b %Y", "2026-05-03", "2026-05-03T00:00:00", NULL},
        {"Sun, 01 Nov 2026 10:00:00 +0000", "%a, %d %b %Y %H:%M:%S %z", NULL, NULL,
         "2026-11-01T10:00:00+00:00"},
        {"Sun, 1 Nov 2026 10:00:00 -0500", "%a, %d %b %Y %H:%M:%S %z", NULL, NULL,
         "2026-11-01T10:00:00-05:00"},
        {"Sun, 01 Nov 2026 10:00 +0100", "%a, %d %b %Y %H:%M %z", NULL, NULL,
         "2026-11-01T10:00:00+01:00"},
        {"01 Nov 2026 10:00:00 +0530", "%d %b %Y %H:%M:%S %z", NULL, NULL,
         "2026-11-01T10:00:00+05:30"},
        {"01 Nov 2026 23:59 -1500", "%d %b %Y %H:%M %z", NULL, NULL, "2026-11-01T23:59:00-15:00"},
        {"29.02.2028", "%d.%m.%Y", "2028-02-29", "2028-02-29T00:00:00", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *s = cases[i].s, *f = type_detect_datetime_format(s, strlen(s));
        if (f == NULL || strcmp(f, cases[i].fmt) != 0)
            fail_msg("\"%s\" detected as %s, expected %s", s, f ? f : "NULL", cases[i].fmt);
        assert_coerces(s, f, PM_T_DATE, cases[i].date);
        assert_coerces(s, f, PM_T_TIMESTAMP, cases[i].ts);
        assert_coerces(s, f, PM_T_TIMESTAMPTZ, cases[i].tstz);
        /* the same reading as the C library's strptime (C locale here) */
        char out[TYPE_DATETIME_MAX];
        pm_tkind k = cases[i].tstz ? PM_T_TIMESTAMPTZ : PM_T_TIMESTAMP;
        assert_non_null(coerce(s, f, k, out));
        struct tm tm;
        memset(&tm, 0, sizeof tm);
        assert_non_null(strptime(s, f, &tm));
        char want[64];
        snprintf(want, sizeof want, "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
        assert_memory_equal(out, want, 19);
    }
}

static void test_coerce_twelve_hour_clock(void **state)
{
    static const struct {
        const char *s, *want;
    } cases[] = {
        {"11/01/2026 12:00 AM", "2026-11-01T00:00:00"},
        {"11/01/2026 12:59 am", "2026-11-01T00:59:00"},
        {"11/01/2026 1:00 AM", "2026-11-01T01:00:00"},
        {"11/01/2026 11:59 AM", "2026-11-01T11:59:00"},
        {"11/01/2026 12:00 PM", "2026-11-01T12:00:00"},
        {"11/01/2026 12:01 pM", "2026-11-01T12:01:00"},
        {"11/01/2026 1:00 PM", "2026-11-01T13:00:00"},
        {"11/01/2026 11:59 PM", "2026-11-01T23:59:00"},
        {"11/01/2026 0:00 AM", NULL},
        {"11/01/2026 13:00 PM", NULL},
        {"11/01/2026 10:00 XM", NULL},
        {"11/01/2026 10:00 AMX", NULL},
        {"11/01/2026 10:00", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_coerces(cases[i].s, "%m/%d/%Y %I:%M %p", PM_T_TIMESTAMP, cases[i].want);
    assert_coerces("11/01/2026 12:30:00 am", "%m/%d/%Y %I:%M:%S %p", PM_T_TIMESTAMP,
                   "2026-11-01T00:30:00");
    /* a 12-hour clock without AM/PM is a guess; AM/PM beside %H a contradiction */
    assert_coerces("11/01/2026 10:00", "%m/%d/%Y %I:%M", PM_T_TIMESTAMP, NULL);
    assert_coerces("11/01/2026 10:00 PM", "%m/%d/%Y %H:%M %p", PM_T_TIMESTAMP, NULL);
}

static void test_coerce_refuses(void **state)
{
    static const struct {
        const char *s, *fmt;
    } bad[] = {
        {"02/30/2026", "%m/%d/%Y"}, /* no such day */
        {"02/29/2026", "%m/%d/%Y"}, /* not a leap year */
        {"13/01/2026", "%m/%d/%Y"}, /* no month 13 */
        {"00/10/2026", "%m/%d/%Y"},
        {"11/00/2026", "%m/%d/%Y"},
        {"11/01/0000", "%m/%d/%Y"},  /* no year 0 */
        {"11/01/2026x", "%m/%d/%Y"}, /* trailing garbage */
        {"11/01/2026 ", "%m/%d/%Y"},
        {"11/01/20266", "%m/%d/%Y"},
        {" 11/01/2026", "%m/%d/%Y"},
        {"11/01/26", "%m/%d/%Y"},
        {"11-01-2026", "%m/%d/%Y"},
        {"", "%m/%d/%Y"},
        {"11/01/2026 10:00 extra", "%m/%d/%Y %H:%M"},
        {"11/01/2026 24:00", "%m/%d/%Y %H:%M"},
        {"11/01/2026 10:60", "%m/%d/%Y %H:%M"},
        {"11/01/2026 10:00:61", "%m/%d/%Y %H:%M:%S"},
        {"11/01/202610:00", "%m/%d/%Y %H:%M"}, /* a space in the format needs one */
        {"31-Nov-2026", "%d-%b-%Y"},
        {"01-Novx-2026", "%d-%b-%Y"},
        {"01-Sept-2026", "%d-%b-%Y"},
        {"Sun, 01 Nov 2026 10:00:00 GMT", "%a, %d %b %Y %H:%M:%S %z"},
        {"Sun, 01 Nov 2026 10:00:00 +1600", "%a, %d %b %Y %H:%M:%S %z"},
        {"Sun, 01 Nov 2026 10:00:00 +0160", "%a, %d %b %Y %H:%M:%S %z"},
        {"Sun, 01 Nov 2026 10:00:00 +0", "%a, %d %b %Y %H:%M:%S %z"},
        {"Sun, 01 Nov 2026 10:00:00 +00000", "%a, %d %b %Y %H:%M:%S %z"},
        {"Xyz, 01 Nov 2026 10:00:00 +0000", "%a, %d %b %Y %H:%M:%S %z"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_coerces(bad[i].s, bad[i].fmt, PM_T_DATE, NULL);
        assert_coerces(bad[i].s, bad[i].fmt, PM_T_TIMESTAMP, NULL);
        assert_coerces(bad[i].s, bad[i].fmt, PM_T_TIMESTAMPTZ, NULL);
    }
    /* incomplete dates, time without an hour, unknown conversions, other types */
    assert_coerces("2026", "%Y", PM_T_DATE, NULL);
    assert_coerces("11/2026", "%m/%Y", PM_T_DATE, NULL);
    assert_coerces("100% 2026", "100%% %Y", PM_T_DATE, NULL);
    assert_coerces("11/01/2026 30", "%m/%d/%Y %M", PM_T_TIMESTAMP, NULL);
    assert_coerces("11/01/2026 10 30", "%m/%d/%Y %H %S", PM_T_TIMESTAMP, NULL);
    assert_coerces("1762000000", "%s", PM_T_TIMESTAMP, NULL);
    assert_coerces("11/01/2026", "%m/%d/%Y%", PM_T_DATE, NULL);
    assert_coerces("11/01/2026", "%Ed/%m/%Y", PM_T_DATE, NULL);
    char out[TYPE_DATETIME_MAX];
    assert_false(type_coerce_datetime("11/01/2026", 10, "%m/%d/%Y", T(PM_T_TEXT), out, sizeof out));
    assert_false(
        type_coerce_datetime("11/01/2026", 10, "%m/%d/%Y", T(PM_T_INT64), out, sizeof out));
    /* out too small for the text and its NUL */
    assert_false(type_coerce_datetime("11/01/2026", 10, "%m/%d/%Y", T(PM_T_DATE), out, 10));
    assert_true(type_coerce_datetime("11/01/2026", 10, "%m/%d/%Y", T(PM_T_DATE), out, 11));
    assert_string_equal(out, "2026-11-01");
    /* the input is a slice */
    assert_true(type_coerce_datetime("11/01/2026 10:00trailing", 16, "%m/%d/%Y %H:%M",
                                     T(PM_T_TIMESTAMP), out, sizeof out));
    assert_string_equal(out, "2026-11-01T10:00:00");
    assert_false(
        type_coerce_datetime("11/01/2026\0", 11, "%m/%d/%Y", T(PM_T_DATE), out, sizeof out));
}

/* The rest of the guard's conversions, and fields that must agree. */
static void test_coerce_other_conversions(void **state)
{
    assert_coerces("2026-11-01 10:00:00", "%F %T", PM_T_TIMESTAMP, "2026-11-01T10:00:00");
    assert_coerces("2026-11-01T10:00", "%Y-%m-%dT%R", PM_T_TIMESTAMP, "2026-11-01T10:00:00");
    assert_coerces("11/01/26", "%D", PM_T_DATE, "2026-11-01");
    assert_coerces("11/01/69", "%D", PM_T_DATE, "1969-11-01");
    assert_coerces("11/01/68", "%D", PM_T_DATE, "2068-11-01");
    assert_coerces("20261101", "%Y%m%d", PM_T_DATE, "2026-11-01");
    assert_coerces("20261101103000", "%Y%m%d%H%M%S", PM_T_TIMESTAMP, "2026-11-01T10:30:00");
    assert_coerces("26305", "%y%j", PM_T_DATE, "2026-11-01");
    assert_coerces("2026 1", "%Y %j", PM_T_DATE, "2026-01-01");
    assert_coerces("2026 365", "%Y %j", PM_T_DATE, "2026-12-31");
    assert_coerces("2026 366", "%Y %j", PM_T_DATE, NULL);
    assert_coerces("2028 366", "%Y %j", PM_T_DATE, "2028-12-31");
    assert_coerces("2028 060", "%Y %j", PM_T_DATE, "2028-02-29");
    assert_coerces("305 11/01/2026", "%j %m/%d/%Y", PM_T_DATE, "2026-11-01");
    assert_coerces("306 11/01/2026", "%j %m/%d/%Y", PM_T_DATE, NULL);
    assert_coerces("01 11/01/2026", "%d %m/%d/%Y", PM_T_DATE, "2026-11-01");
    assert_coerces("02 11/01/2026", "%d %m/%d/%Y", PM_T_DATE, NULL);
    assert_coerces(" 1 November 2026", "%e %B %Y", PM_T_DATE, "2026-11-01");
    assert_coerces("November  1 2026", "%B %e %Y", PM_T_DATE, "2026-11-01");
    assert_coerces("Sunday, 1 Nov 2026", "%A, %e %b %Y", PM_T_DATE, "2026-11-01");
    assert_coerces("1 Nov 2026\t10:00", "%d %b %Y %H:%M", PM_T_TIMESTAMP, "2026-11-01T10:00:00");
    assert_coerces("100% 11/01/2026", "100%% %m/%d/%Y", PM_T_DATE, "2026-11-01");
    /* zones: Z, hours, hours and minutes with or without the colon */
    assert_coerces("2026-11-01 10:00 Z", "%F %R %z", PM_T_TIMESTAMPTZ, "2026-11-01T10:00:00Z");
    assert_coerces("2026-11-01 10:00 z", "%F %R %z", PM_T_TIMESTAMPTZ, "2026-11-01T10:00:00Z");
    assert_coerces("2026-11-01 10:00 +05", "%F %R %z", PM_T_TIMESTAMPTZ,
                   "2026-11-01T10:00:00+05:00");
    assert_coerces("2026-11-01 10:00 -03:30", "%F %R %z", PM_T_TIMESTAMPTZ,
                   "2026-11-01T10:00:00-03:30");
    assert_coerces("2026-11-01 10:00 +0000", "%F %R %z", PM_T_TIMESTAMP, NULL);
    assert_coerces("2026-11-01 10:00 +0000", "%F %R %z", PM_T_DATE, NULL);
    assert_coerces("2026-11-01 10:00", "%F %R", PM_T_TIMESTAMPTZ, NULL);
    assert_coerces("2026-11-01 10:00 +01 +02", "%F %R %z %z", PM_T_TIMESTAMPTZ, NULL);
    assert_coerces("2026-11-01 10:00:60", "%F %T", PM_T_TIMESTAMP, "2026-11-01T10:00:60");
}

/* A typed op's "type" may be pipemend's name or the SQL one (issue 16). */
static void test_parse_alias(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
    } ok[] = {
        {"int64", "int64"},
        {"bigint", "int64"},
        {"BIGINT", "int64"},
        {"int8", "int64"},
        {"int", "int32"},
        {"integer", "int32"},
        {"smallint", "int16"},
        {"boolean", "bool"},
        {"double precision", "float64"},
        {"decimal", "numeric"},
        {"jsonb", "json"},
        {"timestamp with time zone", "timestamptz"},
        {"timestamp without time zone", "timestamp"},
        {"character varying(20)", "varchar(20)"},
        {"VARCHAR(7)", "varchar(7)"},
    };
    char buf[TYPE_NAME_MAX];
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        pm_type t;
        if (!type_parse_alias(ok[i].in, &t))
            fail_msg("\"%s\" does not parse", ok[i].in);
        assert_string_equal(type_name(t, buf), ok[i].out);
    }
    const char *bad[] = {"bigintt", "",           "real",   "character varying()",
                         "double",  "varchar(0)", "int32 ", "character varying(99999999999)"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        pm_type t;
        if (type_parse_alias(bad[i], &t))
            fail_msg("\"%s\" parses", bad[i]);
    }
}

/* What PostgreSQL 15 prints for the same float8 values (::text with the
 * default extra_float_digits = 1), measured on the server. */
static void test_float_text(void **state)
{
    (void)state;
    static const struct {
        double d;
        const char *pg;
    } cases[] = {
        {0.1 + 0.2, "0.30000000000000004"},
        {1e20, "1e+20"},
        {51107785.0, "51107785"},
        {1.5, "1.5"},
        {123456789012345678.0, "1.2345678901234568e+17"},
        {1e-5, "1e-05"},
        {100.0, "100"},
        {1e14, "100000000000000"},
        {1e15, "1e+15"},
        {123456789012345.6, "123456789012345.6"},
        {0.0001, "0.0001"},
        {0.00012345, "0.00012345"},
        {1.5e300, "1.5e+300"},
        {5e-324, "5e-324"},
        {1.25e-7, "1.25e-07"},
        {-2.5, "-2.5"},
        {0.0, "0"},
    };
    char out[TYPE_FLOAT_TEXT_MAX];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_string_equal(type_float_text(cases[i].d, out), cases[i].pg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_int_bounds),
        cmocka_unit_test(test_int_rejects_non_integers),
        cmocka_unit_test(test_infer_numbers),
        cmocka_unit_test(test_float64_fit),
        cmocka_unit_test(test_float64_matches_strtod),
        cmocka_unit_test(test_numeric_fit),
        cmocka_unit_test(test_datetime_canonical),
        cmocka_unit_test(test_number_short_path_agrees),
        cmocka_unit_test(test_bool),
        cmocka_unit_test(test_varchar_counts_characters),
        cmocka_unit_test(test_infer_varchar_buckets),
        cmocka_unit_test(test_text_takes_scalars),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_null),
        cmocka_unit_test(test_dates),
        cmocka_unit_test(test_timestamps),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_sqlite_decl),
        cmocka_unit_test(test_widen_classes),
        cmocka_unit_test(test_join_table),
        cmocka_unit_test(test_join_is_lub),
        cmocka_unit_test(test_infer_fits_property),
        cmocka_unit_test(test_detect_formats),
        cmocka_unit_test(test_coerce_detected_formats),
        cmocka_unit_test(test_coerce_twelve_hour_clock),
        cmocka_unit_test(test_coerce_refuses),
        cmocka_unit_test(test_coerce_other_conversions),
        cmocka_unit_test(test_parse_alias),
        cmocka_unit_test(test_float_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
