/* type.h - logical column types, the widening lattice, and the one place
 * that decides "does value V fit type T" and "what is the smallest type that
 * holds V".
 *
 * Lattice (DESIGN.md), automatic where lossless:
 *   bool -> int16 -> int32 -> int64 -> numeric
 *   float32 -> float64 (pipemend infers float64 only), int16/int32 -> float64
 *   varchar(n) -> varchar(m > n) -> text
 *   date -> timestamp
 * Reviewable, never automatic: anything -> text, int64 -> float64,
 * timestamp -> timestamptz, anything -> json.
 * Forbidden: every narrowing.
 *
 * Inference rules (the smallest type holding a value):
 *   JSON true/false, CSV true/false (any case) -> bool
 *   integer literal -> int16 / int32 / int64 by range, numeric beyond int64
 *   literal with fraction or exponent -> float64 (numeric if it would not
 *     survive a round trip through a double, e.g. 30 significant digits)
 *   (a new table's inference, pipeline/ingest.c, also takes a column
 *   whose strings all share one type_detect_datetime_format layout as a
 *   date/time column with that coercion format)
 *   string: ISO date YYYY-MM-DD -> date; ISO date-time with 'T' or ' '
 *     -> timestamp, with 'Z' or an offset -> timestamptz; otherwise
 *     varchar(n) with n the smallest of 16, 32, 64, ... 1024 that is at least
 *     twice the length in characters (room for ordinary variation), text
 *     beyond 1024
 *   array / kept object -> json; null -> unknown (no information).
 * JSON strings never infer as numbers, but a JSON string that spells a
 * number fits a numeric column (feeds often quote their numbers).
 *
 * Details the rules above leave open, decided in type.c:
 *   - A number literal, in a JSON number or in text, follows the JSON
 *     grammar exactly: no '+', no leading zeros, no bare '.', no NaN. So a
 *     zip code "02134" or a phone number "+49151..." in a CSV stays text.
 *     "1.0" and "1e2" are float literals and never fit integer columns.
 *   - A CSV field (PM_V_RAW) is classified by content for every type: bool,
 *     then number, then date/time, then string; "" is varchar(16).
 *   - A literal beyond what PostgreSQL's numeric holds (more than 131072
 *     digits before the point or 16383 after) infers as varchar/text.
 *   - A boolean (JSON true/false, or a true/false string or CSV field) fits
 *     every column of the number family as 1/0, since bool -> int16 is a
 *     lattice edge; a number never fits a bool column.
 *   - Strings and CSV fields fit number, bool and date/time columns only
 *     when their content is a literal of that type; a date fits timestamp
 *     (date -> timestamp is a lattice edge), but a zoneless value never fits
 *     timestamptz and a zoned one never fits timestamp or date.
 *   - Numbers and booleans fit varchar(n) and text as their text ("true",
 *     "false", the literal as written); arrays and objects fit text and
 *     json only. A json column takes arrays, objects, numbers and booleans;
 *     a string would need re-encoding as JSON, so it does not fit.
 *   - Nothing but null fits unknown.
 *   - Timestamps accept 'T', 't' or ' ' between date and time, seconds up
 *     to 60 (leap second), and zones Z, z, +HH, +HH:MM, +HHMM (to 15 h). */
#ifndef PM_SCHEMA_TYPE_H
#define PM_SCHEMA_TYPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/value.h"

typedef enum pm_tkind {
    PM_T_UNKNOWN, /* only nulls seen so far */
    PM_T_BOOL,
    PM_T_INT16,
    PM_T_INT32,
    PM_T_INT64,
    PM_T_FLOAT64,
    PM_T_NUMERIC,
    PM_T_VARCHAR,
    PM_T_TEXT,
    PM_T_DATE,
    PM_T_TIMESTAMP,
    PM_T_TIMESTAMPTZ,
    PM_T_JSON,
} pm_tkind;

typedef struct pm_type {
    pm_tkind kind;
    uint32_t len; /* varchar(n): n, in characters; 0 otherwise */
} pm_type;

typedef enum pm_widen_class {
    PM_WIDEN_SAME,      /* from == to */
    PM_WIDEN_AUTO,      /* lossless step along the lattice */
    PM_WIDEN_REVIEW,    /* possible, but a human must agree */
    PM_WIDEN_FORBIDDEN, /* narrowing or no path */
} pm_widen_class;

#define TYPE_NAME_MAX 32
/* The longest varchar PostgreSQL allows, and so pipemend. */
#define TYPE_VARCHAR_MAX 10485760u

/* A type a column can be given: a known kind, and a varchar length in
 * 1..TYPE_VARCHAR_MAX. unknown is what inference says before any value; no
 * column is ever declared with it. */
bool type_valid(pm_type t);

/* "int32", "varchar(64)", ... into buf (TYPE_NAME_MAX bytes); returns buf. */
const char *type_name(pm_type t, char *buf);
/* Parses the names type_name produces; false for anything else. */
bool type_parse(const char *s, pm_type *out);
/* The same, or one of the SQL names the guard's SQL path accepts for these
 * types (boolean, smallint, integer or int, bigint, double precision,
 * decimal, character varying(n), timestamp with(out) time zone, jsonb, and
 * PostgreSQL's int2/int4/int8/float8), in any case: what a proposer may
 * write as a typed op's "type". */
bool type_parse_alias(const char *s, pm_type *out);
/* The names type_parse_alias accepts, for messages. */
#define TYPE_NAMES_ACCEPTED                                                                        \
    "bool, int16, int32, int64, float64, numeric, varchar(n), text, date, timestamp, "             \
    "timestamptz, json, or their SQL names boolean, smallint, integer (int), bigint, double "      \
    "precision, decimal, character varying(n), timestamp with time zone, jsonb"

/* Smallest type holding v (see the rules above). */
pm_type type_infer(const pm_value *v);
/* The type a new column gets when its sampled values infer as t. Integers
 * start at int32: a column sized for the sample's small ids (int16) would
 * drift at the first id above 32767, which is noise, not news. */
pm_type type_for_new_column(pm_type t);

/* The kind of value a type holds: a rename or a restructure keeps it, a
 * type conflict crosses it. */
typedef enum pm_type_family {
    PM_FAM_NONE,
    PM_FAM_NUMBER, /* bool and every number type */
    PM_FAM_STRING,
    PM_FAM_TIME, /* date, timestamp, timestamptz */
    PM_FAM_JSON
} pm_type_family;
pm_type_family type_family(pm_type t);

/* Least upper bound of a and b: the smallest type both widen to (through
 * review edges too; text and json are the tops). UNKNOWN is the bottom.
 * Inside the number family float64 sits above int64 and below numeric
 * (both review edges), so join(int64, float64) = float64 and
 * join(float64, numeric) = numeric. Types of different families, json
 * with anything else included, join to text. */
pm_type type_join(pm_type a, pm_type b);
/* Beyond the lattice above: unknown -> anything is AUTO (nothing to lose);
 * bool -> float64 is AUTO (through int16); float64 -> numeric and
 * date -> timestamptz are REVIEW; json -> text is REVIEW; a number, bool or
 * date type -> varchar(n) is FORBIDDEN (no path: only text is reachable). */
pm_widen_class type_widen_class(pm_type from, pm_type to);

/* Does v fit t? If so and out is not NULL, fills out with the value as the
 * store binds it (int64 for bool/ints, double for float64, text otherwise;
 * text pointers borrow from v). Null fits every type (nullability is the
 * caller's check) and yields PM_CELL_NULL. varchar(n) counts characters. */
bool type_fits(const pm_value *v, pm_type t, pm_cell *out);

/* For a string that is a date or time in a non-ISO layout (e.g.
 * "11/01/2026 10:00"), the strptime format that parses it
 * ("%m/%d/%Y %H:%M"); NULL if it is not recognisably a date, or if it is
 * ISO (that is a type question, not a format one). The result is a static
 * string. Recognised, with 1- or 2-digit day, month and hour:
 *   %m/%d/%Y, %d/%m/%Y (only when the first part is above 12), %m-%d-%Y,
 *   %d-%m-%Y (likewise), %d.%m.%Y, %Y/%m/%d, each optionally followed by
 *   " %H:%M", " %H:%M:%S", " %I:%M %p" or " %I:%M:%S %p";
 *   %d-%b-%Y, %d %b %Y (month abbreviated or in full, any case);
 *   RFC 2822 "%a, %d %b %Y %H:%M:%S %z", with or without the weekday and
 *   the seconds (numeric zone only).
 * The calendar date must exist (02/30/2026 is NULL). */
const char *type_detect_datetime_format(const char *s, size_t len);

/* Room for the text type_coerce_datetime writes, NUL included. */
#define TYPE_DATETIME_MAX 32

/* A coercion: parses s[0..len) with the strptime format fmt and writes to
 * out (outsz bytes, TYPE_DATETIME_MAX is enough) the ISO 8601 text that
 * type_fits takes for a column of type t: YYYY-MM-DD for date,
 * YYYY-MM-DDTHH:MM:SS for timestamp, the same followed by Z or +HH:MM for
 * timestamptz. False (out untouched) when it does not parse or does not
 * fit t. Parsed by hand, the same whatever the locale and TZ:
 *   - the conversions are the guard's: %Y (4 digits), %y (2 digits,
 *     69-99 -> 19xx, 00-68 -> 20xx), %m %d %e %H %M %S %I (1 or 2 digits),
 *     %j, %b %B (English month, full or abbreviated, any case), %a %A
 *     (English weekday, read and not checked against the date), %p (AM or
 *     PM, any case), %z (Z, +HH, +HHMM, +HH:MM, to 15 hours), %T %R %D %F
 *     and %%; anything else fails;
 *   - a space in fmt takes one or more spaces or tabs, any other character
 *     itself; the whole of s must be consumed;
 *   - the date must be complete (a year, and a month and day or %j) and
 *     exist (02/30/2026 fails); %I needs %p (12 AM is 00, 12 PM is 12) and
 *     %p needs %I; minutes need an hour, seconds minutes; a field given
 *     twice must agree;
 *   - a date column takes no time of day nor zone, a timestamp no zone,
 *     and a timestamptz needs one (type_fits' rules: nothing is guessed or
 *     dropped); missing minutes and seconds are 00. */
bool type_coerce_datetime(const char *s, size_t len, const char *fmt, pm_type t, char *out,
                          size_t outsz);

/* One instant, one text: a timestamp or timestamptz value in a form the
 * two backends would give back differently is rewritten as PostgreSQL
 * gives it back, to out (outsz bytes, TYPE_DATETIME_MAX is enough) as
 * YYYY-MM-DDTHH:MM:SS[.ffffff]Z? — a leap second (:60) is the next
 * minute's :00, an offset is applied (the value is in UTC, with Z), a
 * fraction is rounded to microseconds (half to even) and has no trailing
 * zeros. Returns false (out untouched) when s is already in that form, or
 * is no timestamp. */
bool type_datetime_canonical(const char *s, size_t n, char *out, size_t outsz);

/* SQLite STRICT column type for t: INTEGER, REAL or TEXT. numeric is TEXT
 * (exact; REAL would round and STRICT tables refuse NUMERIC), as are
 * unknown, json and the date/time types. */
const char *type_sqlite_decl(pm_type t);

/* Room for type_float_text's output, NUL included. */
#define TYPE_FLOAT_TEXT_MAX 32
/* d as the shortest decimal text that reads back as d exactly, written as
 * PostgreSQL's float8 output writes it (1.5, 51107785, 1e+20,
 * 1.2345678901234568e+17, 1e-05, NaN, Infinity, -0): what a float64
 * column's values become when it is retyped to text, the same on both
 * backends. out has TYPE_FLOAT_TEXT_MAX bytes; returns out. */
const char *type_float_text(double d, char *out);

/* Number of UTF-8 characters in s (s is valid UTF-8). */
size_t type_char_len(const char *s, size_t n);

#endif
