/* pg_copy.c - rows into the stream of COPY ... FROM STDIN (FORMAT binary).
 *
 * The binary format skips the server's text parsers and is the fastest way
 * into PostgreSQL, but every value must arrive in its type's send format:
 * integers and floats big-endian, numerics in base-10000 digits, dates and
 * timestamps as day and microsecond counts from 2000-01-01. The cells come
 * from type_fits (and a column's coercion), so the text forms that reach
 * here are few and known: a JSON number literal for numeric, ISO 8601 for
 * the date/time types. Each is parsed by hand, the same whatever the
 * locale and TZ, to exactly the value the server would have made of the
 * text: fractional seconds are rounded as its ParseFractionalSecond rounds
 * them, a numeric keeps the display scale numeric_in would give it.
 *
 * This runs for every field of every row, so a row is built in a stack
 * buffer and reaches the pm_buf in one append (values too large for the
 * stack go straight through); nothing allocates. A cell that cannot be
 * encoded fails its row alone: the buffer is cut back to where the row
 * began. A row also keeps room for the 2-byte trailer behind it, so that
 * pg_copy_end, which cannot fail, always has it.
 *
 * Stream: the 19-byte header, then per row an int16 field count and per
 * field an int32 length (-1 for NULL) and the bytes, then int16 -1. */
#include "store/pg_int.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/utf8.h"

/* "PGCOPY\n\377\r\n\0", int32 flags 0, int32 header extension length 0. */
static const unsigned char copy_header[19] = {'P', 'G', 'C', 'O', 'P', 'Y', '\n', 0xff, '\r', '\n',
                                              0,   0,   0,   0,   0,   0,   0,    0,    0};
#define COPY_TRAILER_LEN 2

/* numeric's limits (PostgreSQL's numeric.c): digits are base 10000, the
 * weight of the first one is an int16, and the display scale is at most
 * 0x3FFF. The receiving side refuses a larger scale and silently cuts
 * digits beyond the scale, so both are checked here. */
#define NBASE 10000
#define DEC_DIGITS 4
#define NUMERIC_POS 0x0000
#define NUMERIC_NEG 0x4000
#define NUMERIC_DSCALE_MAX 0x3FFF
#define NUMERIC_WEIGHT_MAX 32767
/* Exponents are saturated here: far past every limit above. */
#define EXP_SATURATE 1000000000

/* days_from_civil counts from 1970-01-01, PostgreSQL from 2000-01-01: 10957
 * days later. */
#define PG_EPOCH_DAYS 10957
#define USECS_PER_SEC INT64_C(1000000)
#define SECS_PER_DAY INT64_C(86400)

/* ---- the row under construction ---------------------------------------- */

#define ROW_STACK 4096

typedef struct row_out {
    pm_buf *b;
    pm_err *err;
    size_t n; /* bytes pending in tmp */
    unsigned char tmp[ROW_STACK];
} row_out;

static pm_code out_flush(row_out *o)
{
    size_t n = o->n;
    o->n = 0;
    return n ? pm_buf_append(o->b, o->tmp, n, o->err) : PM_OK;
}

/* Room for n <= ROW_STACK bytes at o->tmp + o->n. */
static inline pm_code out_need(row_out *o, size_t n)
{
    return ROW_STACK - o->n >= n ? PM_OK : out_flush(o);
}

static inline void be16(unsigned char *p, uint16_t v)
{
    p[0] = (unsigned char)(v >> 8);
    p[1] = (unsigned char)v;
}

static inline void be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static inline void be64(unsigned char *p, uint64_t v)
{
    be32(p, (uint32_t)(v >> 32));
    be32(p + 4, (uint32_t)v);
}

static pm_code out_i16(row_out *o, uint16_t v)
{
    pm_code rc = out_need(o, 2);
    if (rc)
        return rc;
    be16(o->tmp + o->n, v);
    o->n += 2;
    return PM_OK;
}

static pm_code out_null(row_out *o)
{
    pm_code rc = out_need(o, 4);
    if (rc)
        return rc;
    be32(o->tmp + o->n, UINT32_MAX); /* length -1 */
    o->n += 4;
    return PM_OK;
}

/* A fixed-size field: its length and a value of 1, 2, 4 or 8 bytes. */
static inline pm_code out_fixed(row_out *o, uint64_t v, unsigned size)
{
    pm_code rc = out_need(o, 4 + size);
    if (rc)
        return rc;
    unsigned char *p = o->tmp + o->n;
    be32(p, size);
    switch (size) {
    case 1:
        p[4] = (unsigned char)v;
        break;
    case 2:
        be16(p + 4, (uint16_t)v);
        break;
    case 4:
        be32(p + 4, (uint32_t)v);
        break;
    case 8:
        be64(p + 4, v);
        break;
    }
    o->n += 4 + size;
    return PM_OK;
}

/* A variable-length field: its length, an optional one-byte prefix (jsonb's
 * version), and s. Large values skip the stack buffer. */
static pm_code out_bytes(row_out *o, int prefix, const char *s, size_t n)
{
    size_t len = n + (prefix >= 0);
    if (len > INT32_MAX)
        return pm_err_set(o->err, PM_ERR_LIMIT, "a value of %zu bytes is beyond PostgreSQL's 1 GB",
                          n);
    pm_code rc = out_need(o, 5);
    if (rc)
        return rc;
    be32(o->tmp + o->n, (uint32_t)len);
    o->n += 4;
    if (prefix >= 0)
        o->tmp[o->n++] = (unsigned char)prefix;
    if (n <= ROW_STACK - o->n) {
        memcpy(o->tmp + o->n, s, n);
        o->n += n;
        return PM_OK;
    }
    if ((rc = out_flush(o)) != PM_OK)
        return rc;
    return pm_buf_append(o->b, s, n, o->err);
}

/* ---- numeric ------------------------------------------------------------ */

static inline bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* floor(k / 4) for negative k too. */
static inline int64_t group_of(int64_t k)
{
    return k >= 0 ? k / DEC_DIGITS : -((-k + DEC_DIGITS - 1) / DEC_DIGITS);
}

static const uint16_t pow10_16[DEC_DIGITS] = {1, 10, 100, 1000};

static pm_code out_numeric_head(row_out *o, size_t ndigits, int64_t weight, uint16_t sign,
                                int64_t dscale)
{
    pm_code rc = out_need(o, 12);
    if (rc)
        return rc;
    unsigned char *p = o->tmp + o->n;
    be32(p, (uint32_t)(8 + 2 * ndigits));
    be16(p + 4, (uint16_t)ndigits);
    be16(p + 6, (uint16_t)(int16_t)weight);
    be16(p + 8, sign);
    be16(p + 10, (uint16_t)dscale);
    o->n += 12;
    return PM_OK;
}

/* A JSON number literal (-?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?, what
 * type_fits keeps for a numeric column) as a numeric. The display scale is
 * numeric_in's: the digits after the point, less the exponent, at least 0,
 * so "1.50" stays 1.50 and "1.5e-7" is 0.00000015. Zero, "-0" included, is
 * positive with weight 0, as the server normalises it. Returns the reason
 * it cannot be encoded, or NULL; *rc is set when the buffer failed. */
static const char *enc_numeric_text(row_out *o, const char *s, size_t n, pm_code *rc)
{
    size_t i = 0;
    bool neg = i < n && s[i] == '-';
    i += neg;
    if (i >= n || !is_digit(s[i]))
        return "not a number";
    const char *ip = s + i;
    if (s[i] == '0')
        i++;
    else
        while (i < n && is_digit(s[i]))
            i++;
    size_t ni = (size_t)(s + i - ip);
    const char *fp = NULL;
    size_t nf = 0;
    if (i < n && s[i] == '.') {
        fp = s + ++i;
        while (i < n && is_digit(s[i]))
            i++;
        nf = (size_t)(s + i - fp);
        if (nf == 0)
            return "not a number";
    }
    int64_t e10 = 0;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        bool eneg = i < n && s[i] == '-';
        i += i < n && (s[i] == '+' || s[i] == '-');
        if (i >= n || !is_digit(s[i]))
            return "not a number";
        for (; i < n && is_digit(s[i]); i++)
            if (e10 < EXP_SATURATE)
                e10 = e10 * 10 + (s[i] - '0');
        if (eneg)
            e10 = -e10;
    }
    if (i != n)
        return "not a number";

    int64_t dscale = (int64_t)nf - e10;
    dscale = dscale < 0 ? 0 : dscale > NUMERIC_DSCALE_MAX ? NUMERIC_DSCALE_MAX : dscale;

    /* The digits D = integer part then fraction, with the point after the
     * first `point` of them (point may lie outside D). Only the span from
     * the first to the last non-zero digit is stored. */
    size_t nd = ni + nf, first = 0, last = nd;
#define DIGIT(j) ((j) < ni ? ip[(j)] : fp[(j)-ni])
    while (first < nd && DIGIT(first) == '0')
        first++;
    if (first == nd) {
        *rc = out_numeric_head(o, 0, 0, NUMERIC_POS, dscale);
        return NULL;
    }
    while (DIGIT(last - 1) == '0')
        last--;
    int64_t point = (int64_t)ni + e10;
    int64_t kfirst = point - 1 - (int64_t)first; /* power of ten of the first digit */
    int64_t klast = point - (int64_t)last;
    if (kfirst >= (int64_t)DEC_DIGITS * (NUMERIC_WEIGHT_MAX + 1))
        return "beyond numeric's range (131072 digits before the point)";
    if (klast < -NUMERIC_DSCALE_MAX)
        return "beyond numeric's range (16383 digits after the point)";
    int64_t weight = group_of(kfirst);
    size_t ndigits = (size_t)(weight - group_of(klast) + 1);
    if ((*rc = out_numeric_head(o, ndigits, weight, neg ? NUMERIC_NEG : NUMERIC_POS, dscale)))
        return NULL;

    /* Digits come in falling powers of ten, so the base-10000 groups fill
     * one after the other; each is written when the next begins. */
    int pos = (int)(kfirst - DEC_DIGITS * weight);
    unsigned acc = 0;
    for (size_t j = first; j < last; j++) {
        acc += (unsigned)(DIGIT(j) - '0') * pow10_16[pos];
        if (pos-- == 0) {
            if ((*rc = out_i16(o, (uint16_t)acc)))
                return NULL;
            acc = 0;
            pos = DEC_DIGITS - 1;
        }
    }
    if (pos != DEC_DIGITS - 1)
        *rc = out_i16(o, (uint16_t)acc);
#undef DIGIT
    return NULL;
}

/* An integer as a numeric of scale 0. */
static pm_code enc_numeric_int(row_out *o, int64_t v)
{
    uint64_t mag = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    uint16_t groups[5]; /* 2^64 < 10000^5; least significant first */
    size_t ng = 0, low = 0;
    for (; mag; mag /= NBASE)
        groups[ng++] = (uint16_t)(mag % NBASE);
    while (low < ng && groups[low] == 0)
        low++;
    pm_code rc = out_numeric_head(o, ng - low, ng ? (int64_t)ng - 1 : 0,
                                  v < 0 ? NUMERIC_NEG : NUMERIC_POS, 0);
    for (size_t g = ng; !rc && g > low; g--)
        rc = out_i16(o, groups[g - 1]);
    return rc;
}

/* ---- dates and times ---------------------------------------------------- */

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar, which
 * PostgreSQL uses for all dates (Howard Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

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

typedef struct dt_val {
    int64_t days;  /* since 2000-01-01 */
    int64_t usecs; /* into the day; may reach the next day (leap second) */
    bool timed;
    bool zoned;
    int64_t offset; /* seconds east of UTC */
} dt_val;

/* The ISO 8601 shapes type_fits accepts (type.c, dt_scan):
 *   YYYY-MM-DD[[Tt ]HH:MM[:SS[.f{1,9}]][Z|z|+HH|+HHMM|+HH:MM]]
 * year 1-9999, second 60 (a leap second: the next minute, as the server
 * reads it, though never past 24:00:00), offsets to 15 hours. */
static const char *dt_parse(const char *s, size_t n, dt_val *v)
{
    static const char *const bad = "not an ISO 8601 date or time";
    static const uint8_t dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (n < 10 || s[4] != '-' || s[7] != '-')
        return bad;
    int yh = dig2(s), yl = dig2(s + 2), m = dig2(s + 5), d = dig2(s + 8);
    if (yh < 0 || yl < 0 || m < 1 || m > 12 || d < 1)
        return bad;
    int y = yh * 100 + yl;
    if (y < 1 || d > dim[m - 1] + (m == 2 && leap_year(y)))
        return "not a date in the calendar";
    v->days = days_from_civil(y, m, d) - PG_EPOCH_DAYS;
    v->usecs = 0;
    v->timed = v->zoned = false;
    v->offset = 0;
    if (n == 10)
        return NULL;

    if (n < 16 || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || s[13] != ':')
        return bad;
    int hh = dig2(s + 11), mi = dig2(s + 14), ss = 0;
    if (hh < 0 || hh > 23 || mi < 0 || mi > 59)
        return bad;
    size_t i = 16;
    int64_t frac_us = 0;
    if (i < n && s[i] == ':') {
        if (n - i < 3 || (ss = dig2(s + i + 1)) < 0 || ss > 60)
            return bad;
        i += 3;
        if (i < n && s[i] == '.') {
            static const double pow10[10] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9};
            static const int32_t scale[7] = {1000000, 100000, 10000, 1000, 100, 10, 1};
            size_t f = ++i;
            uint32_t digits = 0;
            while (i < n && is_digit(s[i]) && i - f < 9)
                digits = digits * 10 + (uint32_t)(s[i++] - '0');
            if (i == f || (i < n && is_digit(s[i])))
                return bad;
            /* The server's rint(strtod(".fff") * 1000000): a 9-digit
             * integer and 10^k are exact doubles, so one division is the
             * correctly rounded strtod result. Halves of a microsecond go
             * to even, as there; .9999996 becomes a whole second. Up to 6
             * digits that is exactly the integer scaled. */
            if (i - f <= 6)
                frac_us = (int64_t)digits * scale[i - f];
            else
                frac_us = (int64_t)rint((double)digits / pow10[i - f] * 1000000.0);
        }
    }
    v->timed = true;
    v->usecs = ((int64_t)hh * 3600 + mi * 60 + ss) * USECS_PER_SEC + frac_us;
    /* The server's time_overflows(): 23:59:60 is 24:00:00, the end of the
     * day, but 23:59:60.5 lies past it and is refused. */
    if (v->usecs > SECS_PER_DAY * USECS_PER_SEC)
        return "a time of day past 24:00:00";
    if (i == n)
        return NULL;

    if ((s[i] == 'Z' || s[i] == 'z') && i + 1 == n) {
        v->zoned = true;
        return NULL;
    }
    if ((s[i] != '+' && s[i] != '-') || n - i < 3)
        return bad;
    int sign = s[i] == '-' ? -1 : 1, oh = dig2(s + i + 1), om = 0;
    if (oh < 0 || oh > 15)
        return bad;
    i += 3;
    if (i < n) {
        i += s[i] == ':';
        if (n - i != 2 || (om = dig2(s + i)) < 0 || om > 59)
            return bad;
    }
    v->zoned = true;
    v->offset = sign * ((int64_t)oh * 3600 + om * 60);
    return NULL;
}

static const char *enc_datetime(row_out *o, pm_tkind k, const char *s, size_t n, pm_code *rc)
{
    dt_val v;
    const char *why = dt_parse(s, n, &v);
    if (why)
        return why;
    switch (k) {
    case PM_T_DATE:
        if (v.timed)
            return "a date has no time of day";
        *rc = out_fixed(o, (uint32_t)(int32_t)v.days, 4);
        return NULL;
    case PM_T_TIMESTAMP:
        /* A zone would be dropped silently by the server's timestamp_in;
         * type_fits never lets one through, so neither does this. */
        if (v.zoned)
            return "a timestamp has no zone";
        break;
    default:
        if (!v.zoned)
            return "a timestamptz needs a zone (Z or an offset such as +02:00)";
        break;
    }
    int64_t t = (v.days * SECS_PER_DAY - v.offset) * USECS_PER_SEC + v.usecs;
    *rc = out_fixed(o, (uint64_t)t, 8);
    return NULL;
}

/* ---- text and json ------------------------------------------------------ */

/* PostgreSQL's text cannot hold a NUL byte: the server would refuse the
 * whole COPY. */
static const char *enc_text(row_out *o, const char *s, size_t n, pm_code *rc)
{
    if (memchr(s, '\0', n))
        return "a NUL byte, which PostgreSQL text cannot hold";
    *rc = out_bytes(o, -1, s, n);
    return NULL;
}

/* jsonb (version byte 1, then the JSON text). jsonb refuses the escape
 * \u0000 (it has no NUL either). Backslashes are walked as escapes, each
 * with the character it escapes, so "\\u0000" (an escaped backslash, then
 * text) passes. */
static const char *enc_jsonb(row_out *o, const char *s, size_t n, pm_code *rc)
{
    if (memchr(s, '\0', n))
        return "a NUL byte, which jsonb cannot hold";
    const char *p = s, *end = s + n;
    while ((p = memchr(p, '\\', (size_t)(end - p))) != NULL) {
        if (end - p >= 6 && memcmp(p + 1, "u0000", 5) == 0)
            return "the escape \\u0000, which jsonb cannot hold";
        if (end - p <= 2)
            break;
        p += 2;
    }
    *rc = out_bytes(o, 1, s, n);
    return NULL;
}

/* ---- one field ---------------------------------------------------------- */

/* Encodes c for a column of type ty. Returns the reason the cell does not
 * fit, or NULL; *rc is set when the buffer refused the bytes. */
static const char *enc_field(row_out *o, pm_type ty, const pm_cell *c, pm_code *rc)
{
    if (c->kind == PM_CELL_NULL) {
        *rc = out_null(o);
        return NULL;
    }
    switch (ty.kind) {
    case PM_T_BOOL:
        if (c->kind != PM_CELL_INT || (c->i != 0 && c->i != 1))
            break;
        *rc = out_fixed(o, (uint64_t)c->i, 1);
        return NULL;
    case PM_T_INT16:
        if (c->kind != PM_CELL_INT)
            break;
        if (c->i < INT16_MIN || c->i > INT16_MAX)
            return "out of range for int16";
        *rc = out_fixed(o, (uint64_t)c->i, 2);
        return NULL;
    case PM_T_INT32:
        if (c->kind != PM_CELL_INT)
            break;
        if (c->i < INT32_MIN || c->i > INT32_MAX)
            return "out of range for int32";
        *rc = out_fixed(o, (uint64_t)c->i, 4);
        return NULL;
    case PM_T_INT64:
        if (c->kind != PM_CELL_INT)
            break;
        *rc = out_fixed(o, (uint64_t)c->i, 8);
        return NULL;
    case PM_T_FLOAT64: {
        /* An integer cell is converted as the server's int8 -> float8
         * would (to the nearest double). */
        if (c->kind != PM_CELL_REAL && c->kind != PM_CELL_INT)
            break;
        double d = c->kind == PM_CELL_REAL ? c->d : (double)c->i;
        uint64_t bits;
        memcpy(&bits, &d, sizeof bits);
        *rc = out_fixed(o, bits, 8);
        return NULL;
    }
    case PM_T_NUMERIC:
        if (c->kind == PM_CELL_INT) {
            *rc = enc_numeric_int(o, c->i);
            return NULL;
        }
        if (c->kind != PM_CELL_TEXT)
            break;
        return enc_numeric_text(o, c->s, c->len, rc);
    case PM_T_UNKNOWN: /* declared text (pg_type_decl) */
    case PM_T_VARCHAR:
    case PM_T_TEXT:
        if (c->kind != PM_CELL_TEXT)
            break;
        return enc_text(o, c->s, c->len, rc);
    case PM_T_DATE:
    case PM_T_TIMESTAMP:
    case PM_T_TIMESTAMPTZ:
        if (c->kind != PM_CELL_TEXT)
            break;
        return enc_datetime(o, ty.kind, c->s, c->len, rc);
    case PM_T_JSON:
        if (c->kind != PM_CELL_TEXT)
            break;
        return enc_jsonb(o, c->s, c->len, rc);
    default:
        return "the column's type is not one pipemend knows";
    }
    return c->kind == PM_CELL_INT    ? "an integer cell"
           : c->kind == PM_CELL_REAL ? "a floating-point cell"
                                     : "a text cell";
}

/* The cell as a message shows it: one line, at most 64 bytes of text. */
static const char *cell_shown(const pm_cell *c, char *buf, size_t size)
{
    switch (c->kind) {
    case PM_CELL_INT:
        snprintf(buf, size, "%lld", (long long)c->i);
        return buf;
    case PM_CELL_REAL:
        snprintf(buf, size, "%.17g", c->d);
        return buf;
    case PM_CELL_TEXT: {
        size_t keep = pm_utf8_truncate(c->s, c->len, 64), o = 0;
        buf[o++] = '"';
        for (size_t i = 0; i < keep && o < size - 6; i++) {
            unsigned char ch = (unsigned char)c->s[i];
            buf[o++] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
        }
        buf[o++] = '"';
        if (keep < c->len)
            memcpy(buf + o, "...", 3), o += 3;
        buf[o] = '\0';
        return buf;
    }
    default:
        return "null";
    }
}

/* ---- the stream --------------------------------------------------------- */

void pg_copy_begin(pm_buf *b)
{
    /* Only a buffer smaller than header and trailer can refuse this. */
    (void)pm_buf_append(b, copy_header, sizeof copy_header, NULL);
}

void pg_copy_prefetch(const pm_table *t, const pm_cell *cells)
{
    for (size_t i = 0; i < t->ncols; i++)
        if (cells[i].kind == PM_CELL_TEXT)
            for (size_t k = 0; k < cells[i].len && k < 256; k += 64)
                __builtin_prefetch(cells[i].s + k);
}

pm_code pg_copy_row(pm_buf *b, const pm_table *t, const pm_cell *cells, pm_err *err)
{
    if (t->ncols > INT16_MAX)
        return pm_err_set(err, PM_ERR_LIMIT, "table %s has %zu columns; PostgreSQL allows 1600",
                          t->name, t->ncols);
    size_t start = b->len;
    row_out o; /* not zeroed: tmp is written before it is read */
    o.b = b;
    o.err = err;
    o.n = 2;
    be16(o.tmp, (uint16_t)t->ncols);
    pm_code rc = PM_OK;
    for (size_t i = 0; i < t->ncols && !rc; i++) {
        const pm_column *col = &t->cols[i];
        const char *why = enc_field(&o, col->type, &cells[i], &rc);
        if (why) {
            char shown[80], tn[TYPE_NAME_MAX];
            rc = pm_err_set(err, PM_ERR_PARSE, "value %s of column %s cannot be loaded as %s: %s",
                            cell_shown(&cells[i], shown, sizeof shown), col->name,
                            type_name(col->type, tn), why);
        }
    }
    if (!rc)
        rc = out_flush(&o);
    if (!rc && b->max - b->len < COPY_TRAILER_LEN)
        rc = pm_err_set(err, PM_ERR_LIMIT, "buffer would exceed its limit of %zu bytes", b->max);
    if (rc) {
        b->len = start;
        if (b->data)
            b->data[start] = '\0';
    }
    return rc;
}

void pg_copy_end(pm_buf *b)
{
    static const unsigned char trailer[COPY_TRAILER_LEN] = {0xff, 0xff};
    /* Every row left room for it (pg_copy_row). */
    (void)pm_buf_append(b, trailer, sizeof trailer, NULL);
}
