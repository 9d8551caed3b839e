/* type.c - logical column types: names, the widening lattice, inference and
 * the "does this value fit" check that every field of every record goes
 * through.
 *
 * Literals are classified by scanning them once, by hand: a number is read
 * into its sign, integer magnitude, significant digits and decimal exponent
 * in one pass, and dates are checked digit by digit. A double is built
 * exactly from the scanned digits when that is provably correctly rounded;
 * only long mantissas and large exponents go to strtod. Nothing here
 * allocates except strtod's copy of a number literal longer than a stack
 * buffer.
 *
 * Numbers follow the JSON grammar exactly, for CSV fields too: no '+', no
 * leading zeros, no bare '.', no NaN/Infinity. That is what keeps a zip code
 * "02134" or a phone number "+4915112345678" from being inferred as an
 * integer and silently losing its leading characters. */
#include "schema/type.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"

/* ---- number literals ---------------------------------------------------- */

typedef struct numlit {
    bool integral; /* no fraction and no exponent */
    bool neg;
    bool big;     /* integer magnitude above UINT64_MAX */
    bool zero;    /* every digit is 0 */
    uint64_t mag; /* integer magnitude when integral and not big */
    /* every digit, the point ignored, when mant_ok: value = mant * 10^q */
    uint64_t mant;
    bool mant_ok;
    int64_t q;
    int64_t sig; /* significant digits, leading and trailing zeros excluded */
    int64_t e10; /* value = 0.d1d2...dsig * 10^e10 when not zero */
} numlit;

/* Exponents are saturated here: beyond it every decision is already made. */
#define EXP_SATURATE 1000000000

static inline bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Scans a JSON number literal occupying all of s[0..n). */
static bool num_scan(const char *s, size_t n, numlit *nl)
{
    size_t i = 0;
    nl->neg = false;
    nl->big = false;
    nl->mag = 0;
    if (i < n && s[i] == '-') {
        nl->neg = true;
        i++;
    }
    if (i >= n || !is_digit(s[i]))
        return false;

    /* Digit positions count across the integer and fraction parts, so that
     * the first and last non-zero digit give sig and e10 directly. */
    int64_t pos = 0, first = -1, last = -1;
    if (s[i] == '0') {
        i++;
        pos = 1;
        if (i < n && is_digit(s[i]))
            return false; /* leading zero: an identifier, not a number */
    } else {
        while (i < n && is_digit(s[i])) {
            unsigned d = (unsigned)(s[i] - '0');
            if (nl->mag > (UINT64_MAX - d) / 10)
                nl->big = true;
            else
                nl->mag = nl->mag * 10 + d;
            if (d != 0) {
                if (first < 0)
                    first = pos;
                last = pos;
            }
            pos++;
            i++;
        }
    }
    int64_t nint = pos;

    bool frac = false;
    nl->mant = nl->mag;
    nl->mant_ok = !nl->big;
    if (i < n && s[i] == '.') {
        i++;
        if (i >= n || !is_digit(s[i]))
            return false;
        frac = true;
        while (i < n && is_digit(s[i])) {
            unsigned d = (unsigned)(s[i] - '0');
            if (nl->mant > (UINT64_MAX - 9) / 10)
                nl->mant_ok = false;
            else
                nl->mant = nl->mant * 10 + d;
            if (d != 0) {
                if (first < 0)
                    first = pos;
                last = pos;
            }
            pos++;
            i++;
        }
    }

    int64_t exp = 0;
    bool has_exp = false;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        has_exp = true;
        i++;
        bool eneg = false;
        if (i < n && (s[i] == '+' || s[i] == '-')) {
            eneg = s[i] == '-';
            i++;
        }
        if (i >= n || !is_digit(s[i]))
            return false;
        while (i < n && is_digit(s[i])) {
            if (exp < EXP_SATURATE)
                exp = exp * 10 + (s[i] - '0');
            i++;
        }
        if (eneg)
            exp = -exp;
    }
    if (i != n)
        return false;

    nl->integral = !frac && !has_exp;
    nl->zero = first < 0;
    nl->sig = nl->zero ? 0 : last - first + 1;
    nl->e10 = nl->zero ? 0 : nint - first + exp;
    nl->q = exp - (pos - nint);
    return true;
}

/* The integer of an integral literal, if it lies in [-lim-1, lim]. */
static bool num_int_in(const numlit *nl, uint64_t lim, int64_t *out)
{
    if (!nl->integral || nl->big)
        return false;
    if (nl->neg) {
        if (nl->mag > lim + 1)
            return false;
        *out = nl->mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)nl->mag;
    } else {
        if (nl->mag > lim)
            return false;
        *out = (int64_t)nl->mag;
    }
    return true;
}

/* DBL_DIG: any decimal of at most 15 significant digits survives a round
 * trip through a double; 16 or 17 may not. */
#define DOUBLE_EXACT_DIGITS 15

/* Would the value survive decimal -> double -> decimal? Decided from the
 * shape: at most 15 significant digits, and a magnitude inside the normal
 * range of a double. value < 10^e10, so e10 <= 308 is below DBL_MAX
 * (1.797e308), and value >= 10^(e10-1), so e10 >= -306 is above DBL_MIN
 * (2.2e-308). Below that a double is subnormal and loses digits. */
static bool num_round_trips_shape(const numlit *nl)
{
    if (nl->zero)
        return true;
    return nl->sig <= DOUBLE_EXACT_DIGITS && nl->e10 <= 308 && nl->e10 >= -306;
}

/* PostgreSQL's numeric holds up to 131072 digits before the decimal point
 * and 16383 after; a literal beyond that would fail the whole batch at
 * load time, so it does not fit. */
static bool num_fits_numeric(const numlit *nl)
{
    if (nl->zero)
        return true;
    return nl->e10 <= 131072 && nl->e10 - nl->sig >= -16383;
}

/* The double of a valid literal; false if it overflows, or underflows to
 * zero from a non-zero literal. strtod reads the C locale's '.', and
 * pipemend never calls setlocale for LC_NUMERIC. */
static bool num_double(const char *s, size_t n, const numlit *nl, double *out)
{
#if FLT_EVAL_METHOD == 0
    /* Clinger's fast path: mant and 10^|q| are both exact doubles, so one
     * IEEE multiply or divide rounds correctly, as strtod would, at a
     * tenth of its cost. Most float fields ("3.14", "1e10") end here. */
    static const double pow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                   1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                   1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    if (nl->mant_ok && nl->mant <= (1ULL << 53) && nl->q >= -22 && nl->q <= 22) {
        double d = (double)nl->mant;
        d = nl->q < 0 ? d / pow10[-nl->q] : d * pow10[nl->q];
        *out = nl->neg ? -d : d;
        return true;
    }
#endif
    if (!nl->zero && (nl->e10 > 310 || nl->e10 < -330))
        return false; /* far outside the double range: no need to ask */
    char stack[256];
    char *buf = n < sizeof stack ? stack : pm_xmalloc(n + 1);
    memcpy(buf, s, n);
    buf[n] = '\0';
    char *end;
    double d = strtod(buf, &end);
    bool whole = end == buf + n;
    if (buf != stack)
        free(buf);
    if (!whole || !isfinite(d) || (d == 0 && !nl->zero))
        return false;
    *out = d;
    return true;
}

/* The same, exact at the top edge: in [1e308, 1e309) only strtod knows
 * whether the value is above DBL_MAX. */
static bool num_round_trips(const char *s, size_t n, const numlit *nl)
{
    if (num_round_trips_shape(nl))
        return true;
    double d;
    return nl->sig <= DOUBLE_EXACT_DIGITS && nl->e10 == 309 && num_double(s, n, nl, &d);
}

/* Does d print back as the literal's significant digits? True for up to 15
 * digits by shape; for 16 and 17 (what shortest-repr printers such as
 * Python's emit for doubles, e.g. 0.30000000000000004) it is checked. */
static bool double_is_exact(const char *s, size_t n, const numlit *nl, double d)
{
    if (num_round_trips_shape(nl))
        return true;
    if (nl->sig > 17)
        return false;
    char want[24], got[40];
    size_t w = 0;
    bool lead = true;
    for (size_t i = 0; i < n && s[i] != 'e' && s[i] != 'E'; i++) {
        if (s[i] < '0' || s[i] > '9' || (lead && s[i] == '0'))
            continue;
        lead = false;
        if (w < sizeof want - 1)
            want[w++] = s[i];
    }
    while (w > 0 && want[w - 1] == '0')
        w--;
    want[w] = '\0';
    snprintf(got, sizeof got, "%.*e", (int)nl->sig - 1, d < 0 ? -d : d);
    size_t g = 0;
    for (size_t i = 0; got[i] && got[i] != 'e'; i++)
        if (got[i] >= '0' && got[i] <= '9')
            got[g++] = got[i];
    while (g > 0 && got[g - 1] == '0')
        g--;
    got[g] = '\0';
    return strcmp(want, got) == 0;
}

/* ---- bool literals ------------------------------------------------------ */

/* 1 for true, 0 for false, -1 for neither; any case, as CSV writers vary. */
static int bool_scan(const char *s, size_t n)
{
    static const char t[] = "true", f[] = "false";
    const char *w = n == 4 ? t : n == 5 ? f : NULL;
    if (w == NULL)
        return -1;
    for (size_t i = 0; i < n; i++)
        if ((s[i] | 0x20) != w[i])
            return -1;
    return w == t;
}

/* ---- dates and times ---------------------------------------------------- */

typedef enum dt_kind { DT_NONE, DT_DATE, DT_TIMESTAMP, DT_TIMESTAMPTZ } dt_kind;

static int dig2(const char *s)
{
    if (!is_digit(s[0]) || !is_digit(s[1]))
        return -1;
    return (s[0] - '0') * 10 + (s[1] - '0');
}

static bool leap_year(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
    static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && leap_year(y) ? 29 : dim[m - 1];
}

static bool valid_date(int y, int m, int d)
{
    return y >= 1 && y <= 9999 && m >= 1 && m <= 12 && d >= 1 && d <= days_in_month(y, m);
}

/* ISO 8601 / RFC 3339 shapes:
 *   YYYY-MM-DD                                     date
 *   YYYY-MM-DD[Tt ]HH:MM[:SS[.f{1,9}]]             timestamp
 *   ...followed by Z, z, +HH, +HH:MM or +HHMM      timestamptz
 * Year 0 is refused (PostgreSQL refuses it); second 60 is a leap second;
 * offsets stop at 15 hours, PostgreSQL's limit. */
static dt_kind dt_scan(const char *s, size_t n)
{
    if (n < 10 || s[4] != '-' || s[7] != '-')
        return DT_NONE;
    int yh = dig2(s), yl = dig2(s + 2), m = dig2(s + 5), d = dig2(s + 8);
    if (yh < 0 || yl < 0 || m < 0 || d < 0 || !valid_date(yh * 100 + yl, m, d))
        return DT_NONE;
    if (n == 10)
        return DT_DATE;
    if (n < 16 || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || s[13] != ':')
        return DT_NONE;
    int hh = dig2(s + 11), mi = dig2(s + 14);
    if (hh < 0 || hh > 23 || mi < 0 || mi > 59)
        return DT_NONE;
    size_t i = 16;
    if (i < n && s[i] == ':') {
        if (n - i < 3)
            return DT_NONE;
        int ss = dig2(s + i + 1);
        if (ss < 0 || ss > 60)
            return DT_NONE;
        i += 3;
        if (i < n && s[i] == '.') {
            size_t f = ++i;
            bool nonzero = false;
            while (i < n && is_digit(s[i]))
                nonzero |= s[i++] != '0';
            if (i == f || i - f > 9)
                return DT_NONE;
            /* PostgreSQL reads 23:59:60 as the next day's 00:00:00, but
             * refuses a time past it (time_overflows) */
            if (hh == 23 && mi == 59 && ss == 60 && nonzero)
                return DT_NONE;
        }
    }
    if (i == n)
        return DT_TIMESTAMP;
    if ((s[i] == 'Z' || s[i] == 'z') && i + 1 == n)
        return DT_TIMESTAMPTZ;
    if (s[i] != '+' && s[i] != '-')
        return DT_NONE;
    i++;
    if (n - i < 2)
        return DT_NONE;
    int oh = dig2(s + i);
    if (oh < 0 || oh > 15)
        return DT_NONE;
    i += 2;
    if (i == n)
        return DT_TIMESTAMPTZ;
    if (s[i] == ':')
        i++;
    if (n - i != 2)
        return DT_NONE;
    int om = dig2(s + i);
    if (om < 0 || om > 59)
        return DT_NONE;
    return DT_TIMESTAMPTZ;
}

/* Days since 1970-01-01 of a proleptic Gregorian date, and back (Howard
 * Hinnant's algorithms). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(era * 400 + yoe + (*m <= 2));
}

bool type_datetime_canonical(const char *s, size_t n, char *out, size_t outsz)
{
    /* YYYY-MM-DDTHH:MM:SS and the same with Z, in whole seconds other than
     * 60, are already canonical (see the end of the checks below) whether
     * or not they are valid: no need to read them twice. */
    if ((n == 19 || (n == 20 && (s[19] == 'Z' || s[19] == 'z'))) && s[16] == ':' &&
        !(s[17] == '6' && s[18] == '0'))
        return false;
    dt_kind k = dt_scan(s, n);
    if (k != DT_TIMESTAMP && k != DT_TIMESTAMPTZ)
        return false;
    int y = dig2(s) * 100 + dig2(s + 2), m = dig2(s + 5), d = dig2(s + 8);
    int hh = dig2(s + 11), mi = dig2(s + 14), ss = 0;
    size_t i = 16, fdigits = 0;
    int64_t frac_us = 0;
    bool trailing_zero = false;
    if (i < n && s[i] == ':') {
        ss = dig2(s + i + 1);
        i += 3;
        if (i < n && s[i] == '.') {
            size_t f = ++i;
            uint64_t digits = 0;
            while (i < n && is_digit(s[i]))
                digits = digits * 10 + (uint64_t)(s[i++] - '0');
            fdigits = i - f;
            trailing_zero = s[i - 1] == '0';
            /* PostgreSQL's rint(strtod(".fff") * 1000000): halves of a
             * microsecond to even; exact for up to 6 digits */
            static const double pow10[10] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9};
            frac_us = fdigits <= 6 ? (int64_t)(digits * (uint64_t)pow10[6 - fdigits])
                                   : (int64_t)rint((double)digits / pow10[fdigits] * 1e6);
        }
    }
    int64_t offset = 0; /* seconds east of UTC */
    bool offset_given = false;
    if (k == DT_TIMESTAMPTZ && s[i] != 'Z' && s[i] != 'z') {
        int sign = s[i] == '-' ? -1 : 1, oh = dig2(s + i + 1), om = 0;
        if (i + 3 < n)
            om = dig2(s + n - 2);
        offset = sign * ((int64_t)oh * 3600 + om * 60);
        offset_given = true;
    }
    if (ss != 60 && !offset_given && fdigits <= 6 && !trailing_zero)
        return false; /* already as PostgreSQL gives it back */
    int64_t secs = days_from_civil(y, m, d) * 86400 + hh * 3600 + mi * 60 + ss - offset;
    int64_t us = secs * 1000000 + frac_us;
    int64_t days = us >= 0 ? us / 86400000000 : -((-us + 86400000000 - 1) / 86400000000);
    int64_t in_day = us - days * 86400000000;
    civil_from_days(days, &y, &m, &d);
    if (y < 1 || y > 9999)
        return false;
    int64_t sec_of_day = in_day / 1000000, micros = in_day % 1000000;
    int w = snprintf(out, outsz, "%04d-%02d-%02dT%02d:%02d:%02d", y, m, d, (int)(sec_of_day / 3600),
                     (int)(sec_of_day / 60 % 60), (int)(sec_of_day % 60));
    if (w < 0 || (size_t)w >= outsz)
        return false;
    size_t len = (size_t)w;
    if (micros) {
        char f[16];
        snprintf(f, sizeof f, ".%06u", (unsigned)micros);
        size_t fl = 7;
        while (f[fl - 1] == '0')
            fl--;
        if (len + fl >= outsz)
            return false;
        memcpy(out + len, f, fl);
        len += fl;
    }
    if (k == DT_TIMESTAMPTZ) {
        if (len + 1 >= outsz)
            return false;
        out[len++] = 'Z';
    }
    out[len] = '\0';
    return true;
}

/* ---- names -------------------------------------------------------------- */

static const char *const kind_names[] = {
    [PM_T_UNKNOWN] = "unknown", [PM_T_BOOL] = "bool",           [PM_T_INT16] = "int16",
    [PM_T_INT32] = "int32",     [PM_T_INT64] = "int64",         [PM_T_FLOAT64] = "float64",
    [PM_T_NUMERIC] = "numeric", [PM_T_VARCHAR] = "varchar",     [PM_T_TEXT] = "text",
    [PM_T_DATE] = "date",       [PM_T_TIMESTAMP] = "timestamp", [PM_T_TIMESTAMPTZ] = "timestamptz",
    [PM_T_JSON] = "json",
};
#define NKINDS (sizeof kind_names / sizeof kind_names[0])

/* PostgreSQL's own ceiling for varchar(n). */

const char *type_name(pm_type t, char *buf)
{
    if (t.kind == PM_T_VARCHAR)
        snprintf(buf, TYPE_NAME_MAX, "varchar(%u)", (unsigned)t.len);
    else if ((size_t)t.kind < NKINDS)
        snprintf(buf, TYPE_NAME_MAX, "%s", kind_names[t.kind]);
    else
        snprintf(buf, TYPE_NAME_MAX, "?%d", (int)t.kind);
    return buf;
}

bool type_parse(const char *s, pm_type *out)
{
    static const char vc[] = "varchar(";
    if (strncmp(s, vc, sizeof vc - 1) == 0) {
        const char *p = s + sizeof vc - 1;
        if (*p < '1' || *p > '9')
            return false; /* no zero, no leading zero, no sign */
        uint64_t n = 0;
        while (is_digit(*p) && n <= TYPE_VARCHAR_MAX)
            n = n * 10 + (uint64_t)(*p++ - '0');
        if (n > TYPE_VARCHAR_MAX || p[0] != ')' || p[1] != '\0')
            return false;
        out->kind = PM_T_VARCHAR;
        out->len = (uint32_t)n;
        return true;
    }
    for (size_t k = 0; k < NKINDS; k++) {
        if (k != PM_T_VARCHAR && strcmp(s, kind_names[k]) == 0) {
            out->kind = (pm_tkind)k;
            out->len = 0;
            return true;
        }
    }
    return false;
}

bool type_parse_alias(const char *s, pm_type *out)
{
    static const struct {
        const char *name;
        pm_tkind kind;
    } sql_names[] = {
        {"boolean", PM_T_BOOL},
        {"smallint", PM_T_INT16},
        {"int2", PM_T_INT16},
        {"integer", PM_T_INT32},
        {"int", PM_T_INT32},
        {"int4", PM_T_INT32},
        {"bigint", PM_T_INT64},
        {"int8", PM_T_INT64},
        {"double precision", PM_T_FLOAT64},
        {"float8", PM_T_FLOAT64},
        {"decimal", PM_T_NUMERIC},
        {"timestamp without time zone", PM_T_TIMESTAMP},
        {"timestamp with time zone", PM_T_TIMESTAMPTZ},
        {"jsonb", PM_T_JSON},
    };
    char low[64];
    size_t n = strlen(s);
    if (n >= sizeof low)
        return false;
    for (size_t i = 0; i <= n; i++)
        low[i] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] - 'A' + 'a' : s[i]);
    if (type_parse(low, out))
        return true;
    static const char cv[] = "character varying(";
    if (strncmp(low, cv, sizeof cv - 1) == 0) {
        char vc[64];
        snprintf(vc, sizeof vc, "varchar(%s", low + sizeof cv - 1);
        return type_parse(vc, out);
    }
    for (size_t k = 0; k < sizeof sql_names / sizeof sql_names[0]; k++) {
        if (strcmp(low, sql_names[k].name) == 0) {
            out->kind = sql_names[k].kind;
            out->len = 0;
            return true;
        }
    }
    return false;
}

const char *type_sqlite_decl(pm_type t)
{
    switch (t.kind) {
    case PM_T_BOOL:
    case PM_T_INT16:
    case PM_T_INT32:
    case PM_T_INT64:
        return "INTEGER";
    case PM_T_FLOAT64:
        return "REAL";
    default:
        /* numeric included: REAL would round it, and SQLite's NUMERIC
         * affinity is not allowed in STRICT tables. */
        return "TEXT";
    }
}

/* The shortest digits that read back as d (what PostgreSQL 12 and later
 * write with its default extra_float_digits = 1), laid out as its float8
 * output does: positional when the decimal exponent is in [-4, 15),
 * otherwise d[.ddd]e+XX with at least two exponent digits. */
const char *type_float_text(double d, char *out)
{
    if (isnan(d))
        return strcpy(out, "NaN");
    if (isinf(d))
        return strcpy(out, d < 0 ? "-Infinity" : "Infinity");
    if (d == 0)
        return strcpy(out, signbit(d) ? "-0" : "0");
    char e[40];
    for (int prec = 0; prec <= 16; prec++) {
        snprintf(e, sizeof e, "%.*e", prec, d);
        if (strtod(e, NULL) == d)
            break;
    }
    /* e: [-]D[.DDD]e[+-]XX */
    const char *p = e;
    char *o = out;
    if (*p == '-')
        *o++ = *p++;
    char digits[24];
    size_t nd = 0;
    for (; *p && *p != 'e'; p++)
        if (*p != '.')
            digits[nd++] = *p;
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    int exp = atoi(p + 1);
    if (exp < -4 || exp >= 15) {
        *o++ = digits[0];
        if (nd > 1) {
            *o++ = '.';
            memcpy(o, digits + 1, nd - 1);
            o += nd - 1;
        }
        sprintf(o, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
        return out;
    }
    if (exp < 0) {
        *o++ = '0';
        *o++ = '.';
        for (int i = -1; i > exp; i--)
            *o++ = '0';
        memcpy(o, digits, nd);
        o += nd;
    } else {
        for (int i = 0; i <= exp || (size_t)i < nd; i++) {
            if (i == exp + 1)
                *o++ = '.';
            *o++ = (size_t)i < nd ? digits[i] : '0';
        }
    }
    *o = '\0';
    return out;
}

size_t type_char_len(const char *s, size_t n)
{
    size_t cont = 0;
    for (size_t i = 0; i < n; i++)
        cont += ((unsigned char)s[i] & 0xC0) == 0x80;
    return n - cont;
}

/* ---- inference ---------------------------------------------------------- */

static const pm_type T_UNKNOWN = {PM_T_UNKNOWN, 0};

static pm_type mk(pm_tkind k)
{
    return (pm_type){k, 0};
}

#define VARCHAR_MIN_BUCKET 16u
#define VARCHAR_MAX_BUCKET 1024u

/* Twice the length, rounded up to a power of two from 16 to 1024: a column
 * first seen with "Berlin" should not need a widen for "Düsseldorf". */
static pm_type string_type(const char *s, size_t n)
{
    size_t want = 2 * type_char_len(s, n);
    if (want > VARCHAR_MAX_BUCKET)
        return mk(PM_T_TEXT);
    uint32_t b = VARCHAR_MIN_BUCKET;
    while (b < want)
        b *= 2;
    return (pm_type){PM_T_VARCHAR, b};
}

static pm_type number_type(const numlit *nl, const char *s, size_t n)
{
    int64_t i;
    if (!num_fits_numeric(nl))
        return string_type(s, n); /* only its text can hold it */
    if (nl->integral) {
        if (num_int_in(nl, INT16_MAX, &i))
            return mk(PM_T_INT16);
        if (num_int_in(nl, INT32_MAX, &i))
            return mk(PM_T_INT32);
        if (num_int_in(nl, INT64_MAX, &i))
            return mk(PM_T_INT64);
        return mk(PM_T_NUMERIC);
    }
    return mk(num_round_trips(s, n, nl) ? PM_T_FLOAT64 : PM_T_NUMERIC);
}

/* Text that is not a number: a date or time, or a string. */
static pm_type text_type(const char *s, size_t n)
{
    switch (dt_scan(s, n)) {
    case DT_DATE:
        return mk(PM_T_DATE);
    case DT_TIMESTAMP:
        return mk(PM_T_TIMESTAMP);
    case DT_TIMESTAMPTZ:
        return mk(PM_T_TIMESTAMPTZ);
    default:
        return string_type(s, n);
    }
}

pm_type type_infer(const pm_value *v)
{
    numlit nl;
    switch (v->kind) {
    case PM_V_NULL:
        return T_UNKNOWN;
    case PM_V_BOOL:
        return mk(PM_T_BOOL);
    case PM_V_NUMBER:
        if (num_scan(v->s, v->len, &nl))
            return number_type(&nl, v->s, v->len);
        return string_type(v->s, v->len); /* the reader let a bad literal by */
    case PM_V_RAW:
        if (bool_scan(v->s, v->len) >= 0)
            return mk(PM_T_BOOL);
        if (num_scan(v->s, v->len, &nl))
            return number_type(&nl, v->s, v->len);
        return text_type(v->s, v->len);
    case PM_V_STRING:
        return text_type(v->s, v->len);
    case PM_V_ARRAY:
    case PM_V_OBJECT:
        return mk(PM_T_JSON);
    }
    return T_UNKNOWN;
}

pm_type type_for_new_column(pm_type t)
{
    if (t.kind == PM_T_INT16)
        return mk(PM_T_INT32);
    if (t.kind == PM_T_UNKNOWN)
        return mk(PM_T_TEXT);
    return t;
}

/* ---- the lattice -------------------------------------------------------- */

/* Families: values move freely inside one along the lattice; between two
 * families the only ways are up to text or json. */
enum family { F_NONE, F_NUM, F_STR, F_TIME, F_JSON };

static enum family family(pm_tkind k)
{
    switch (k) {
    case PM_T_BOOL:
    case PM_T_INT16:
    case PM_T_INT32:
    case PM_T_INT64:
    case PM_T_FLOAT64:
    case PM_T_NUMERIC:
        return F_NUM;
    case PM_T_VARCHAR:
    case PM_T_TEXT:
        return F_STR;
    case PM_T_DATE:
    case PM_T_TIMESTAMP:
    case PM_T_TIMESTAMPTZ:
        return F_TIME;
    case PM_T_JSON:
        return F_JSON;
    default:
        return F_NONE;
    }
}

static bool same_type(pm_type a, pm_type b)
{
    return a.kind == b.kind && (a.kind != PM_T_VARCHAR || a.len == b.len);
}

/* The number family, review edges included, is the chain
 *   bool < int16 < int32 < int64 < numeric
 * with float64 above int64 (review edge) and below numeric (review edge).
 * So the join of two members is the larger in this order, which happens
 * to be the enum order. */
pm_type type_join(pm_type a, pm_type b)
{
    if (a.kind == PM_T_UNKNOWN)
        return b;
    if (b.kind == PM_T_UNKNOWN)
        return a;
    if (a.kind == b.kind) {
        if (a.kind == PM_T_VARCHAR && b.len > a.len)
            return b;
        return a;
    }
    enum family fa = family(a.kind), fb = family(b.kind);
    if (fa == fb && fa != F_NONE) {
        /* F_NUM and F_TIME are chains in enum order; in F_STR the larger
         * kind is text. */
        return a.kind > b.kind ? a : b;
    }
    /* Different families: text and json are both upper bounds; text is
     * chosen because every scalar reads back from it as written, whereas
     * a JSON column would need every string re-encoded. */
    return mk(PM_T_TEXT);
}

pm_widen_class type_widen_class(pm_type from, pm_type to)
{
    if (same_type(from, to))
        return PM_WIDEN_SAME;
    if (from.kind == PM_T_UNKNOWN)
        return PM_WIDEN_AUTO; /* a column that has only seen nulls loses nothing */
    if (to.kind == PM_T_UNKNOWN)
        return PM_WIDEN_FORBIDDEN;

    pm_tkind f = from.kind, t = to.kind;
    switch (f) {
    case PM_T_BOOL:
    case PM_T_INT16:
    case PM_T_INT32:
    case PM_T_INT64:
        if (t >= PM_T_BOOL && t <= PM_T_INT64)
            return t > f ? PM_WIDEN_AUTO : PM_WIDEN_FORBIDDEN;
        if (t == PM_T_NUMERIC)
            return PM_WIDEN_AUTO;
        if (t == PM_T_FLOAT64)
            /* 53 bits of mantissa hold every int32; an int64 may round. */
            return f == PM_T_INT64 ? PM_WIDEN_REVIEW : PM_WIDEN_AUTO;
        break;
    case PM_T_FLOAT64:
        if (t == PM_T_NUMERIC)
            /* Not a lattice edge: PostgreSQL's float8 -> numeric keeps only
             * 15 digits, and NaN/Infinity have no numeric form everywhere. */
            return PM_WIDEN_REVIEW;
        break;
    case PM_T_VARCHAR:
        if (t == PM_T_VARCHAR)
            return to.len > from.len ? PM_WIDEN_AUTO : PM_WIDEN_FORBIDDEN;
        if (t == PM_T_TEXT)
            return PM_WIDEN_AUTO;
        break;
    case PM_T_DATE:
        if (t == PM_T_TIMESTAMP)
            return PM_WIDEN_AUTO;
        if (t == PM_T_TIMESTAMPTZ)
            return PM_WIDEN_REVIEW; /* midnight in which zone? */
        break;
    case PM_T_TIMESTAMP:
        if (t == PM_T_TIMESTAMPTZ)
            return PM_WIDEN_REVIEW; /* the zone of the old rows is a guess */
        break;
    default:
        break;
    }
    if (t == PM_T_TEXT || t == PM_T_JSON)
        return PM_WIDEN_REVIEW;
    return PM_WIDEN_FORBIDDEN;
}

/* ---- fit ---------------------------------------------------------------- */

static bool cell_null(pm_cell *out)
{
    if (out)
        *out = (pm_cell){.kind = PM_CELL_NULL};
    return true;
}

static bool cell_int(pm_cell *out, int64_t i)
{
    if (out)
        *out = (pm_cell){.kind = PM_CELL_INT, .i = i};
    return true;
}

static bool cell_real(pm_cell *out, double d)
{
    if (out)
        *out = (pm_cell){.kind = PM_CELL_REAL, .d = d};
    return true;
}

static bool cell_text(pm_cell *out, const char *s, size_t n)
{
    if (out)
        *out = (pm_cell){.kind = PM_CELL_TEXT, .s = s, .len = n};
    return true;
}

static bool cell_bool_text(pm_cell *out, bool b)
{
    return b ? cell_text(out, "true", 4) : cell_text(out, "false", 5);
}

static uint64_t int_limit(pm_tkind k)
{
    return k == PM_T_INT16 ? INT16_MAX : k == PM_T_INT32 ? INT32_MAX : INT64_MAX;
}

/* A boolean (JSON true/false or a true/false literal) into a column of the
 * number family: bool -> int16 -> ... is the lattice, so it lands as 1/0. */
static bool fit_bool_num(bool b, pm_tkind k, pm_cell *out)
{
    switch (k) {
    case PM_T_BOOL:
    case PM_T_INT16:
    case PM_T_INT32:
    case PM_T_INT64:
        return cell_int(out, b);
    case PM_T_FLOAT64:
        return cell_real(out, b ? 1.0 : 0.0);
    case PM_T_NUMERIC:
        return b ? cell_text(out, "1", 1) : cell_text(out, "0", 1);
    default:
        return false;
    }
}

/* The literals most feeds are made of, in one pass over their digits:
 * -?(0|[1-9][0-9]*)(.[0-9]+)? with at most 19 digits in all. Sets the
 * digits as one integer, how many of them there are and how many follow
 * the point; false for anything else, which num_scan then decides. */
static bool num_simple(const char *s, size_t n, bool *neg, uint64_t *digits, int *ndig, int *nfrac)
{
    size_t i = n > 0 && s[0] == '-';
    if (i >= n || n - i > 20)
        return false;
    *neg = i;
    uint64_t m = 0;
    size_t start = i;
    if (s[i] == '0')
        i++;
    else
        while (i < n && is_digit(s[i]))
            m = m * 10 + (unsigned)(s[i++] - '0');
    size_t nint = i - start, frac = i;
    if (nint == 0)
        return false;
    if (i < n && s[i] == '.') {
        frac = ++i;
        while (i < n && is_digit(s[i]))
            m = m * 10 + (unsigned)(s[i++] - '0');
        if (i == frac)
            return false;
    }
    if (i != n || nint + (i - frac) > 19)
        return false; /* a leading zero, an exponent, or too many digits */
    *digits = m;
    *ndig = (int)(nint + (i - frac));
    *nfrac = (int)(i - frac);
    return true;
}

/* A number literal (JSON number or the content of a string) into a column
 * of the number family. */
static bool fit_number_num(const char *s, size_t n, pm_tkind k, pm_cell *out)
{
    /* The common shapes first, to the same result as below: an integer
     * in range; a decimal of at most 15 digits, which a double holds
     * exactly enough (num_round_trips_shape) and which Clinger's fast
     * path of num_double turns into the correctly rounded double. */
    static const double pow10[] = {1e0, 1e1, 1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                   1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};
    bool neg;
    uint64_t m;
    int ndig, nfrac;
    if (k != PM_T_NUMERIC && k != PM_T_BOOL && num_simple(s, n, &neg, &m, &ndig, &nfrac)) {
        if (k == PM_T_FLOAT64) {
            if (ndig <= 15) {
                double d = (double)m / pow10[nfrac];
                return cell_real(out, d == 0 ? 0.0 : neg ? -d : d);
            }
        } else if (nfrac == 0) {
            uint64_t lim = int_limit(k);
            if (neg ? m > lim + 1 : m > lim)
                return false;
            return cell_int(out, !neg                           ? (int64_t)m
                                 : m == (uint64_t)INT64_MAX + 1 ? INT64_MIN
                                                                : -(int64_t)m);
        } else {
            return false; /* a fraction is no integer */
        }
    }
    numlit nl;
    if (!num_scan(s, n, &nl))
        return false;
    int64_t i;
    double d;
    switch (k) {
    case PM_T_INT16:
    case PM_T_INT32:
    case PM_T_INT64:
        return num_int_in(&nl, int_limit(k), &i) && cell_int(out, i);
    case PM_T_FLOAT64:
        if (out == NULL && num_round_trips_shape(&nl))
            return true;
        /* A float64 column holds the value only if the double is the
         * value: 9007199254740993 or a 30-digit decimal would be silently
         * rounded (a widen to numeric, for review, instead). -0 is 0:
         * SQLite stores no negative zero, so PostgreSQL gets none either. */
        return num_double(s, n, &nl, &d) && double_is_exact(s, n, &nl, d) &&
               cell_real(out, d == 0 ? 0.0 : d);
    case PM_T_NUMERIC:
        /* -0, -0.00: 0 and 0.00, as PostgreSQL's numeric (which has no
         * negative zero) reads them; SQLite keeps the text */
        if (nl.neg && nl.zero)
            s++, n--;
        return num_fits_numeric(&nl) && cell_text(out, s, n);
    default:
        return false; /* bool: 0/1 are numbers, not booleans */
    }
}

static bool fit_varchar(const char *s, size_t n, pm_type t, pm_cell *out)
{
    if (n > t.len && type_char_len(s, n) > t.len)
        return false;
    return cell_text(out, s, n);
}

static bool fit_string(const pm_value *v, pm_type t, pm_cell *out)
{
    int b;
    dt_kind dk;
    switch (t.kind) {
    case PM_T_BOOL:
    case PM_T_INT16:
    case PM_T_INT32:
    case PM_T_INT64:
    case PM_T_FLOAT64:
    case PM_T_NUMERIC:
        b = bool_scan(v->s, v->len);
        if (b >= 0)
            return fit_bool_num(b, t.kind, out);
        return fit_number_num(v->s, v->len, t.kind, out);
    case PM_T_VARCHAR:
        return fit_varchar(v->s, v->len, t, out);
    case PM_T_TEXT:
        return cell_text(out, v->s, v->len);
    case PM_T_DATE:
        return dt_scan(v->s, v->len) == DT_DATE && cell_text(out, v->s, v->len);
    case PM_T_TIMESTAMP:
        dk = dt_scan(v->s, v->len);
        return (dk == DT_DATE || dk == DT_TIMESTAMP) && cell_text(out, v->s, v->len);
    case PM_T_TIMESTAMPTZ:
        return dt_scan(v->s, v->len) == DT_TIMESTAMPTZ && cell_text(out, v->s, v->len);
    default:
        /* json: the bytes are not JSON text, and encoding them would need
         * memory this function does not own. */
        return false;
    }
}

bool type_fits(const pm_value *v, pm_type t, pm_cell *out)
{
    switch (v->kind) {
    case PM_V_NULL:
        return cell_null(out);
    case PM_V_BOOL:
        if (family(t.kind) == F_NUM)
            return fit_bool_num(v->b, t.kind, out);
        if (t.kind == PM_T_TEXT || t.kind == PM_T_JSON)
            return cell_bool_text(out, v->b);
        if (t.kind == PM_T_VARCHAR)
            return t.len >= (v->b ? 4u : 5u) && cell_bool_text(out, v->b);
        return false;
    case PM_V_NUMBER:
        if (family(t.kind) == F_NUM)
            return fit_number_num(v->s, v->len, t.kind, out);
        if (t.kind == PM_T_TEXT || t.kind == PM_T_JSON)
            return cell_text(out, v->s, v->len);
        if (t.kind == PM_T_VARCHAR)
            return fit_varchar(v->s, v->len, t, out);
        return false;
    case PM_V_STRING:
    case PM_V_RAW:
        return fit_string(v, t, out);
    case PM_V_ARRAY:
    case PM_V_OBJECT:
        if (t.kind == PM_T_JSON || t.kind == PM_T_TEXT)
            return cell_text(out, v->s, v->len);
        return false;
    }
    return false;
}

/* ---- non-ISO date layouts ----------------------------------------------- */

typedef struct cursor {
    const char *s;
    size_t n, i;
} cursor;

/* Reads between minw and maxw digits, not followed by another digit;
 * returns the number or -1. */
static int cur_num(cursor *c, size_t minw, size_t maxw)
{
    size_t start = c->i;
    int v = 0;
    while (c->i < c->n && is_digit(c->s[c->i]) && c->i - start < maxw)
        v = v * 10 + (c->s[c->i++] - '0');
    size_t w = c->i - start;
    if (w < minw || (c->i < c->n && is_digit(c->s[c->i])))
        return -1;
    return v;
}

static bool cur_lit(cursor *c, const char *lit)
{
    size_t k = strlen(lit);
    if (c->n - c->i < k || memcmp(c->s + c->i, lit, k) != 0)
        return false;
    c->i += k;
    return true;
}

static bool cur_end(const cursor *c)
{
    return c->i == c->n;
}

/* Matches one of words[] (case-insensitive, whole word: no letter after)
 * and returns its index, or -1. */
static int cur_word(cursor *c, const char *const *words, size_t nwords)
{
    for (size_t w = 0; w < nwords; w++) {
        size_t k = strlen(words[w]);
        if (c->n - c->i < k)
            continue;
        size_t j = 0;
        while (j < k && (c->s[c->i + j] | 0x20) == words[w][j])
            j++;
        if (j < k)
            continue;
        char next = c->i + k < c->n ? (char)(c->s[c->i + k] | 0x20) : 0;
        if (next >= 'a' && next <= 'z')
            continue;
        c->i += k;
        return (int)w;
    }
    return -1;
}

/* strptime's %b takes the full name or the abbreviation. */
static int cur_month(cursor *c)
{
    static const char *const names[] = {
        "january",   "february", "march",    "april",    "may", "june", "july", "august",
        "september", "october",  "november", "december", "jan", "feb",  "mar",  "apr",
        "may",       "jun",      "jul",      "aug",      "sep", "oct",  "nov",  "dec",
    };
    int w = cur_word(c, names, sizeof names / sizeof names[0]);
    return w < 0 ? -1 : w % 12 + 1;
}

static bool cur_weekday(cursor *c)
{
    static const char *const names[] = {"monday",   "tuesday", "wednesday", "thursday", "friday",
                                        "saturday", "sunday",  "mon",       "tue",      "wed",
                                        "thu",      "fri",     "sat",       "sun"};
    return cur_word(c, names, sizeof names / sizeof names[0]) >= 0;
}

/* Time suffixes after a numeric date, as an index into the format tables. */
enum { TM_NONE, TM_HM, TM_HMS, TM_HM_P, TM_HMS_P, TM_COUNT };

/* " H:MM[:SS][ AM|PM]" or nothing, to the end of the string. */
static int cur_time_suffix(cursor *c)
{
    if (cur_end(c))
        return TM_NONE;
    if (!cur_lit(c, " "))
        return -1;
    int h = cur_num(c, 1, 2);
    if (h < 0 || !cur_lit(c, ":"))
        return -1;
    int m = cur_num(c, 2, 2);
    if (m < 0 || m > 59)
        return -1;
    bool secs = false;
    if (cur_lit(c, ":")) {
        int s = cur_num(c, 2, 2);
        if (s < 0 || s > 60)
            return -1;
        secs = true;
    }
    if (cur_end(c))
        return h <= 23 ? (secs ? TM_HMS : TM_HM) : -1;
    static const char *const ampm[] = {"am", "pm"};
    if (!cur_lit(c, " ") || cur_word(c, ampm, 2) < 0 || !cur_end(c))
        return -1;
    return h >= 1 && h <= 12 ? (secs ? TM_HMS_P : TM_HM_P) : -1;
}

#define TIME_VARIANTS(d)                                                                           \
    {                                                                                              \
        d, d " %H:%M", d " %H:%M:%S", d " %I:%M %p", d " %I:%M:%S %p"                              \
    }

enum { DL_MDY_SLASH, DL_DMY_SLASH, DL_MDY_DASH, DL_DMY_DASH, DL_DMY_DOT, DL_YMD_SLASH, DL_COUNT };

static const char *const numeric_formats[DL_COUNT][TM_COUNT] = {
    [DL_MDY_SLASH] = TIME_VARIANTS("%m/%d/%Y"), [DL_DMY_SLASH] = TIME_VARIANTS("%d/%m/%Y"),
    [DL_MDY_DASH] = TIME_VARIANTS("%m-%d-%Y"),  [DL_DMY_DASH] = TIME_VARIANTS("%d-%m-%Y"),
    [DL_DMY_DOT] = TIME_VARIANTS("%d.%m.%Y"),   [DL_YMD_SLASH] = TIME_VARIANTS("%Y/%m/%d"),
};

/* "11/01/2026", "1.11.2026 10:00", "2026/11/01 10:00:00", ... US order
 * wins a tie on '/' and '-' (the feeds that use slashes are mostly US
 * exports); a first part above 12 can only be a day. Dots are European
 * day-first. */
static const char *detect_numeric(const char *s, size_t n)
{
    cursor c = {s, n, 0};
    int a = cur_num(&c, 1, 4);
    if (a < 0 || c.i == n)
        return NULL;
    char sep = s[c.i];
    if (sep != '/' && sep != '.' && sep != '-')
        return NULL;
    size_t alen = c.i;
    c.i++;
    int b = cur_num(&c, 1, 2);
    if (b < 0 || c.i == n || s[c.i] != sep)
        return NULL;
    c.i++;
    int layout, y, m, d;
    if (alen == 4) {
        if (sep != '/')
            return NULL; /* YYYY-MM-DD is ISO; YYYY.MM.DD is rare */
        y = a;
        m = b;
        d = cur_num(&c, 1, 2);
        layout = DL_YMD_SLASH;
    } else {
        if (alen > 2)
            return NULL;
        y = cur_num(&c, 4, 4);
        bool month_first = sep != '.' && a <= 12;
        m = month_first ? a : b;
        d = month_first ? b : a;
        if (sep == '.')
            layout = DL_DMY_DOT;
        else if (sep == '/')
            layout = month_first ? DL_MDY_SLASH : DL_DMY_SLASH;
        else
            layout = month_first ? DL_MDY_DASH : DL_DMY_DASH;
    }
    if (y < 0 || d < 0 || !valid_date(y, m, d))
        return NULL;
    int tm = cur_time_suffix(&c);
    return tm < 0 ? NULL : numeric_formats[layout][tm];
}

/* "01-Nov-2026", "1 Nov 2026", and RFC 2822 with or without its weekday:
 * "Sun, 01 Nov 2026 10:00:00 +0000". */
static const char *detect_named_month(const char *s, size_t n)
{
    cursor c = {s, n, 0};
    bool wday = false;
    if (cur_weekday(&c)) {
        if (!cur_lit(&c, ", "))
            return NULL;
        wday = true;
    }
    int d = cur_num(&c, 1, 2);
    if (d < 0 || c.i == n)
        return NULL;
    char sep = s[c.i];
    if ((sep != '-' && sep != ' ') || (wday && sep != ' '))
        return NULL;
    c.i++;
    int m = cur_month(&c);
    if (m < 0 || c.i == n || s[c.i] != sep)
        return NULL;
    c.i++;
    int y = cur_num(&c, 4, 4);
    if (y < 0 || !valid_date(y, m, d))
        return NULL;
    if (cur_end(&c) && !wday)
        return sep == '-' ? "%d-%b-%Y" : "%d %b %Y";
    if (sep != ' ' || !cur_lit(&c, " "))
        return NULL;
    int hh = cur_num(&c, 2, 2), mi = -1, ss = 0;
    if (hh >= 0 && cur_lit(&c, ":"))
        mi = cur_num(&c, 2, 2);
    bool secs = cur_lit(&c, ":");
    if (secs)
        ss = cur_num(&c, 2, 2);
    if (hh < 0 || hh > 23 || mi < 0 || mi > 59 || ss < 0 || ss > 60 || !cur_lit(&c, " "))
        return NULL;
    if (c.i == n || (s[c.i] != '+' && s[c.i] != '-'))
        return NULL;
    c.i++;
    int off = cur_num(&c, 4, 4);
    if (off < 0 || off / 100 > 15 || off % 100 > 59 || !cur_end(&c))
        return NULL;
    if (wday)
        return secs ? "%a, %d %b %Y %H:%M:%S %z" : "%a, %d %b %Y %H:%M %z";
    return secs ? "%d %b %Y %H:%M:%S %z" : "%d %b %Y %H:%M %z";
}

const char *type_detect_datetime_format(const char *s, size_t len)
{
    if (len == 0)
        return NULL;
    if (is_digit(s[0])) {
        const char *f = detect_numeric(s, len);
        if (f)
            return f;
    }
    return detect_named_month(s, len);
}

/* ---- coercions ---------------------------------------------------------- */

/* What a coercion format has read; -1 where it gave nothing. */
typedef struct dt_parts {
    int year, month, day, yday;
    int hour24, hour12, pm, min, sec;
    int zone; /* 0 none, 1 'Z', 2 numeric */
    char zsign;
    int zh, zm;
} dt_parts;

/* Stores v (already range-checked by the caller when v >= 0) in *slot;
 * false when v is -1 (nothing read) or the format gave the field another
 * value earlier ("%d ... %d" disagreeing). */
static bool put(int *slot, int v, int lo, int hi)
{
    if (v < lo || v > hi || (*slot >= 0 && *slot != v))
        return false;
    *slot = v;
    return true;
}

/* Reads minw to maxw digits, as many as there are up to maxw (as strptime
 * does, so "%Y%m%d" reads "20261101"); returns the number or -1. */
static int cur_digits(cursor *c, size_t minw, size_t maxw)
{
    size_t start = c->i;
    int v = 0;
    while (c->i < c->n && c->i - start < maxw && is_digit(c->s[c->i]))
        v = v * 10 + (c->s[c->i++] - '0');
    return c->i - start < minw ? -1 : v;
}

/* %z: Z, z, +HH, +HHMM or +HH:MM (the sign may be '-'), to 15 hours as
 * dt_scan accepts. */
static bool cur_zone(cursor *c, dt_parts *p)
{
    if (p->zone || c->i == c->n)
        return false;
    char ch = c->s[c->i];
    if (ch == 'Z' || ch == 'z') {
        c->i++;
        p->zone = 1;
        return true;
    }
    if (ch != '+' && ch != '-')
        return false;
    c->i++;
    int h = cur_digits(c, 2, 2), m = 0;
    if (h < 0 || h > 15)
        return false;
    if (cur_lit(c, ":") || (c->i < c->n && is_digit(c->s[c->i])))
        m = cur_digits(c, 2, 2);
    if (m < 0 || m > 59)
        return false;
    p->zone = 2;
    p->zsign = ch;
    p->zh = h;
    p->zm = m;
    return true;
}

static bool conv(cursor *c, char k, dt_parts *p)
{
    static const char *const ampm[] = {"am", "pm"};
    int v;
    switch (k) {
    case 'Y':
        return put(&p->year, cur_digits(c, 4, 4), 1, 9999);
    case 'y':
        /* POSIX: 69-99 are 1969-1999, 00-68 are 2000-2068 */
        v = cur_digits(c, 2, 2);
        return v >= 0 && put(&p->year, v < 69 ? 2000 + v : 1900 + v, 1, 9999);
    case 'm':
        return put(&p->month, cur_digits(c, 1, 2), 1, 12);
    case 'e':
        cur_lit(c, " "); /* the space strftime pads a one-digit day with */
        /* fall through */
    case 'd':
        return put(&p->day, cur_digits(c, 1, 2), 1, 31);
    case 'j':
        return put(&p->yday, cur_digits(c, 1, 3), 1, 366);
    case 'b':
    case 'B':
        return put(&p->month, cur_month(c), 1, 12);
    case 'a':
    case 'A':
        return cur_weekday(c); /* redundant with the date: read, not checked */
    case 'H':
        return put(&p->hour24, cur_digits(c, 1, 2), 0, 23);
    case 'I':
        return put(&p->hour12, cur_digits(c, 1, 2), 1, 12);
    case 'p':
        return put(&p->pm, cur_word(c, ampm, 2), 0, 1);
    case 'M':
        return put(&p->min, cur_digits(c, 1, 2), 0, 59);
    case 'S':
        return put(&p->sec, cur_digits(c, 1, 2), 0, 60);
    case 'z':
        return cur_zone(c, p);
    case 'T':
        return conv(c, 'H', p) && cur_lit(c, ":") && conv(c, 'M', p) && cur_lit(c, ":") &&
               conv(c, 'S', p);
    case 'R':
        return conv(c, 'H', p) && cur_lit(c, ":") && conv(c, 'M', p);
    case 'D':
        return conv(c, 'm', p) && cur_lit(c, "/") && conv(c, 'd', p) && cur_lit(c, "/") &&
               conv(c, 'y', p);
    case 'F':
        return conv(c, 'Y', p) && cur_lit(c, "-") && conv(c, 'm', p) && cur_lit(c, "-") &&
               conv(c, 'd', p);
    case '%':
        return cur_lit(c, "%");
    default:
        return false; /* not one of the guard's conversions */
    }
}

/* The calendar date of p: from month and day, or from the day of the year
 * (which must agree with them when both are given). */
static bool resolve_date(dt_parts *p)
{
    if (p->year < 0)
        return false;
    if (p->yday >= 0) {
        int m = 1, d = p->yday;
        while (m <= 12 && d > days_in_month(p->year, m))
            d -= days_in_month(p->year, m++);
        if (m > 12 || !put(&p->month, m, 1, 12) || !put(&p->day, d, 1, 31))
            return false;
    }
    return p->month >= 0 && p->day >= 0 && valid_date(p->year, p->month, p->day);
}

bool type_coerce_datetime(const char *s, size_t len, const char *fmt, pm_type t, char *out,
                          size_t outsz)
{
    if (!s || !fmt || !out ||
        (t.kind != PM_T_DATE && t.kind != PM_T_TIMESTAMP && t.kind != PM_T_TIMESTAMPTZ))
        return false;
    dt_parts p = {.year = -1,
                  .month = -1,
                  .day = -1,
                  .yday = -1,
                  .hour24 = -1,
                  .hour12 = -1,
                  .pm = -1,
                  .min = -1,
                  .sec = -1};
    cursor c = {s, len, 0};
    for (const char *f = fmt; *f; f++) {
        if (*f == ' ') {
            size_t from = c.i;
            while (c.i < c.n && (s[c.i] == ' ' || s[c.i] == '\t'))
                c.i++;
            if (c.i == from)
                return false;
        } else if (*f != '%') {
            if (c.i == c.n || s[c.i] != *f)
                return false;
            c.i++;
        } else if (!*++f || !conv(&c, *f, &p)) {
            return false;
        }
    }
    if (!cur_end(&c) || !resolve_date(&p))
        return false;

    /* A 12-hour clock needs its AM/PM and nothing else: without it the
     * hour is a guess, beside %H one of them is wrong. */
    int hour = p.hour24;
    if (p.hour12 >= 0) {
        if (p.hour24 >= 0 || p.pm < 0)
            return false;
        hour = p.hour12 % 12 + 12 * p.pm;
    } else if (p.pm >= 0) {
        return false;
    }
    if ((p.min >= 0 && hour < 0) || (p.sec >= 0 && p.min < 0))
        return false;
    bool timed = hour >= 0;

    /* Exactly what type_fits takes for the column: a date column holds no
     * time of day, a timestamp no zone, and a timestamptz needs one. */
    char buf[TYPE_DATETIME_MAX];
    int n;
    switch (t.kind) {
    case PM_T_DATE:
        if (timed || p.zone)
            return false;
        n = snprintf(buf, sizeof buf, "%04d-%02d-%02d", p.year, p.month, p.day);
        break;
    case PM_T_TIMESTAMP:
    case PM_T_TIMESTAMPTZ:
        if ((t.kind == PM_T_TIMESTAMP) != (p.zone == 0))
            return false;
        n = snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d", p.year, p.month, p.day,
                     timed ? hour : 0, p.min > 0 ? p.min : 0, p.sec > 0 ? p.sec : 0);
        if (p.zone == 1)
            n += snprintf(buf + n, sizeof buf - (size_t)n, "Z");
        else if (p.zone == 2)
            n += snprintf(buf + n, sizeof buf - (size_t)n, "%c%02d:%02d", p.zsign, p.zh, p.zm);
        break;
    default:
        return false;
    }
    if (n < 0 || (size_t)n >= outsz)
        return false;
    memcpy(out, buf, (size_t)n + 1);
    return true;
}

bool type_valid(pm_type t)
{
    if (t.kind <= PM_T_UNKNOWN || t.kind > PM_T_JSON)
        return false;
    if (t.kind == PM_T_VARCHAR)
        return t.len >= 1 && t.len <= TYPE_VARCHAR_MAX;
    return t.len == 0;
}

pm_type_family type_family(pm_type t)
{
    switch (t.kind) {
    case PM_T_BOOL:
    case PM_T_INT16:
    case PM_T_INT32:
    case PM_T_INT64:
    case PM_T_FLOAT64:
    case PM_T_NUMERIC:
        return PM_FAM_NUMBER;
    case PM_T_VARCHAR:
    case PM_T_TEXT:
        return PM_FAM_STRING;
    case PM_T_DATE:
    case PM_T_TIMESTAMP:
    case PM_T_TIMESTAMPTZ:
        return PM_FAM_TIME;
    case PM_T_JSON:
        return PM_FAM_JSON;
    default:
        return PM_FAM_NONE;
    }
}
