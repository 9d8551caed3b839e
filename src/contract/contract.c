/* contract.c - checks one declared rule against one typed cell.
 *
 * The drift module calls contract_rule_holds for every rule of every clean
 * row, so this file allocates nothing on the common path and writes a
 * message only when a rule fails. That message ends up in the quarantine
 * and in front of a person (or an agent), so it says which value broke
 * which rule in one line: "amount -5 is below min 0 (rule amount.min)".
 *
 * Cells come in three kinds. Integers and reals compare as numbers. Text is
 * either a number the schema kept as exact text (a numeric column), or real
 * text; a text cell that reads as a number compares as one, anything else
 * compares byte by byte with the rule's literal, which orders ISO dates and
 * timestamps correctly (`min: 2020-01-01`).
 *
 * Regexes run on PCRE2's interpreter (not its JIT, which ignores the depth
 * limit) with limits on the work one match may do: glibc's POSIX engine had
 * none, and a backreference pattern ran for minutes on a 200-character value
 * while `(|)(\1\1)*` overflowed the stack. A value that hits a limit, or is
 * longer than CONTRACT_REGEX_MAX_SUBJECT, breaks the rule with a message that
 * says so: it is quarantined, never let through, and the run goes on. */
#include "contract/contract.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/utf8.h"

/* Longest value quoted back in a message: enough to recognise it, short
 * enough that a 10 MB field does not flood a log line. */
#define SHOW_MAX 64
/* The work one match may do. The match limit counts backtracking points
 * (about 10 ms of work at 1e6), the depth limit nested ones, the heap limit
 * (KiB) the memory PCRE2 takes for them. An email or a zip code pattern
 * needs a handful of each on a value of any length up to the cap. */
#define REGEX_MATCH_LIMIT 1000000
#define REGEX_DEPTH_LIMIT 10000
#define REGEX_HEAP_LIMIT_KIB 8192

struct contract_regex {
    pcre2_code *code;
    pcre2_match_context *mctx; /* the limits; read-only once made, so shared */
};

/* A number read from a cell or a rule literal: exact when it is an integer
 * that fits int64, otherwise a double. */
typedef struct number {
    bool is_int;
    int64_t i;
    double d;
} number;

/* The text of a cell: its own bytes for text, a formatted number for the
 * others (into buf, which must hold 32 bytes). Reals use the shortest form
 * that reads back as the same double, so 0.1 is "0.1", not
 * "0.10000000000000001". */
static void cell_text(const pm_cell *c, char *buf, const char **s, size_t *n)
{
    if (c->kind == PM_CELL_TEXT) {
        *s = c->s ? c->s : "";
        *n = c->s ? c->len : 0;
        return;
    }
    if (c->kind == PM_CELL_INT) {
        snprintf(buf, 32, "%lld", (long long)c->i);
    } else {
        for (int prec = 15; prec <= 17; prec++) {
            snprintf(buf, 32, "%.*g", prec, c->d);
            if (prec == 17 || strtod(buf, NULL) == c->d)
                break;
        }
    }
    *s = buf;
    *n = strlen(buf);
}

/* Reads s[0..n) as a decimal number in JSON's grammar (strtod alone would
 * take hex, "inf", "nan" and leading spaces, none of which is a number in a
 * feed). */
static bool parse_number(const char *s, size_t n, number *out)
{
    size_t i = 0, digits = 0;
    bool integral = true;
    if (i < n && (s[i] == '-' || s[i] == '+'))
        i++;
    while (i < n && s[i] >= '0' && s[i] <= '9')
        i++, digits++;
    if (i < n && s[i] == '.') {
        integral = false;
        i++;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++, digits++;
    }
    if (digits == 0)
        return false;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        integral = false;
        i++;
        if (i < n && (s[i] == '-' || s[i] == '+'))
            i++;
        size_t exp_digits = 0;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++, exp_digits++;
        if (exp_digits == 0)
            return false;
    }
    if (i != n)
        return false;

    char stackbuf[128];
    char *buf = n < sizeof stackbuf ? stackbuf : pm_xmalloc(n + 1);
    memcpy(buf, s, n);
    buf[n] = '\0';
    out->d = strtod(buf, NULL);
    out->is_int = false;
    if (integral) {
        errno = 0;
        long long v = strtoll(buf, NULL, 10);
        if (errno != ERANGE) {
            out->is_int = true;
            out->i = v;
        }
    }
    if (buf != stackbuf)
        free(buf);
    return isfinite(out->d);
}

static bool cell_number(const pm_cell *c, number *out)
{
    switch (c->kind) {
    case PM_CELL_INT:
        out->is_int = true;
        out->i = c->i;
        out->d = (double)c->i;
        return true;
    case PM_CELL_REAL:
        out->is_int = false;
        out->d = c->d;
        return !isnan(c->d);
    case PM_CELL_TEXT:
        return c->s && parse_number(c->s, c->len, out);
    default:
        return false;
    }
}

/* Integers compare exactly (a double cannot tell 2^53 from 2^53 + 1);
 * anything else as doubles. */
static int number_cmp(const number *a, const number *b)
{
    if (a->is_int && b->is_int)
        return (a->i > b->i) - (a->i < b->i);
    return (a->d > b->d) - (a->d < b->d);
}

static int bytes_cmp(const char *a, size_t an, const char *b, size_t bn)
{
    int c = memcmp(a, b, an < bn ? an : bn);
    if (c)
        return c < 0 ? -1 : 1;
    return (an > bn) - (an < bn);
}

/* Writes s as a double-quoted one-line string, cut at SHOW_MAX bytes on a
 * character boundary, with quotes and control characters escaped so the
 * message stays one line whatever the data holds. */
static void quote(char *out, size_t outsz, const char *s, size_t n)
{
    size_t cut = n > SHOW_MAX ? pm_utf8_truncate(s, n, SHOW_MAX) : n;
    size_t o = 0;
    out[o++] = '"';
    for (size_t i = 0; i < cut && o + 8 < outsz; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c == '\n') {
            out[o++] = '\\';
            out[o++] = 'n';
        } else if (c == '\t') {
            out[o++] = '\\';
            out[o++] = 't';
        } else if (c < 0x20 || c == 0x7f) {
            o += (size_t)snprintf(out + o, outsz - o, "\\x%02x", c);
        } else {
            out[o++] = (char)c;
        }
    }
    if (cut < n) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o++] = '"';
    out[o] = '\0';
}

/* The value as a message shows it: numbers bare, text quoted. out holds
 * SHOW_MAX * 4 + 16 bytes. */
static void show_cell(const pm_cell *c, char *out, size_t outsz)
{
    char num[32];
    const char *s;
    size_t n;
    cell_text(c, num, &s, &n);
    number ignored;
    if (c->kind != PM_CELL_TEXT || (cell_number(c, &ignored) && n <= SHOW_MAX)) {
        snprintf(out, outsz, "%.*s", (int)n, s);
        return;
    }
    quote(out, outsz, s, n);
}

/* Compares the cell with a min/max literal: as numbers when both are, else
 * as text (a date against a date). r->num is NAN for a literal that is not
 * a number. The literal is re-read from its text only where a double could
 * be wrong: an integer cell against a limit beyond 2^53. */
static int compare_literal(const contract_rule *r, const pm_cell *c)
{
    number cv, lv = {.d = r->num};
    if (!isnan(r->num) && cell_number(c, &cv)) {
        if (cv.is_int && fabs(r->num) >= 9007199254740992.0)
            parse_number(r->text, strlen(r->text), &lv);
        return number_cmp(&cv, &lv);
    }
    char buf[32];
    const char *s;
    size_t n;
    cell_text(c, buf, &s, &n);
    return bytes_cmp(s, n, r->text, strlen(r->text));
}

typedef enum regex_outcome { RE_MATCH, RE_NO_MATCH, RE_TOO_LONG, RE_LIMIT } regex_outcome;

/* Cells borrow bytes without a terminator; PCRE2 takes a length. A value
 * holding a NUL byte fails, as it did when POSIX regex could not see past
 * one: a pattern written for text is not asked about binary. The match
 * data is made per call so that threads can share a rule. */
static regex_outcome regex_match(const contract_rule *r, const pm_cell *c)
{
    char num[32];
    const char *s;
    size_t n;
    cell_text(c, num, &s, &n);
    if (n > CONTRACT_REGEX_MAX_SUBJECT)
        return RE_TOO_LONG;
    if (!r->re || memchr(s, '\0', n))
        return RE_NO_MATCH;
    pcre2_match_data *md = pcre2_match_data_create(1, NULL);
    if (!md)
        pm_oom(sizeof(void *));
    int rc = pcre2_match(r->re->code, (PCRE2_SPTR)s, n, 0, 0, md, r->re->mctx);
    pcre2_match_data_free(md);
    if (rc >= 0)
        return RE_MATCH;
    if (rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_DEPTHLIMIT ||
        rc == PCRE2_ERROR_HEAPLIMIT || rc == PCRE2_ERROR_NOMEMORY)
        return RE_LIMIT;
    return RE_NO_MATCH; /* PCRE2_ERROR_NOMATCH, or a value that is not UTF-8 */
}

bool contract_regex_compile(contract_rule *r, const char *src, char *why, size_t whysz)
{
    r->re = NULL;
    int err;
    PCRE2_SIZE at;
    /* UTF: `.` and classes see characters, as max_length counts them;
     * MATCH_INVALID_UTF: a value that is not UTF-8 simply does not match.
     * DOTALL and DOLLAR_ENDONLY keep what POSIX meant: `.` matches a
     * newline, `$` only the very end (PCRE's default also matches before a
     * final newline, which would let "x\n" pass ^x$). */
    pcre2_code *code = pcre2_compile(
        (PCRE2_SPTR)src, PCRE2_ZERO_TERMINATED,
        PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_DOTALL | PCRE2_DOLLAR_ENDONLY, &err, &at, NULL);
    if (!code) {
        PCRE2_UCHAR text[256];
        if (pcre2_get_error_message(err, text, sizeof text) < 0)
            snprintf((char *)text, sizeof text, "error %d", err);
        snprintf(why, whysz, "%s at offset %zu", (const char *)text, (size_t)at);
        return false;
    }
    pcre2_match_context *mctx = pcre2_match_context_create(NULL);
    if (!mctx)
        pm_oom(sizeof(void *));
    pcre2_set_match_limit(mctx, REGEX_MATCH_LIMIT);
    pcre2_set_depth_limit(mctx, REGEX_DEPTH_LIMIT);
    pcre2_set_heap_limit(mctx, REGEX_HEAP_LIMIT_KIB);
    r->re = pm_xmalloc(sizeof *r->re);
    r->re->code = code;
    r->re->mctx = mctx;
    return true;
}

/* Allowed values are compared as text, as the config wrote them; a number
 * cell also matches an allowed value that is the same number written
 * differently (1.0 for 1, 1e3 for 1000). */
static bool allowed_contains(const contract_rule *r, const pm_cell *c)
{
    char buf[32];
    const char *s;
    size_t n;
    cell_text(c, buf, &s, &n);
    number cv;
    bool numeric_cell = c->kind != PM_CELL_TEXT && cell_number(c, &cv);
    for (size_t i = 0; i < r->nallowed; i++) {
        const char *a = r->allowed[i];
        size_t an = strlen(a);
        if (an == n && memcmp(a, s, n) == 0)
            return true;
        number av;
        if (numeric_cell && parse_number(a, an, &av) && number_cmp(&cv, &av) == 0)
            return true;
    }
    return false;
}

static size_t utf8_chars(const char *s, size_t n)
{
    size_t chars = 0;
    for (size_t i = 0; i < n; i++)
        chars += ((unsigned char)s[i] & 0xC0) != 0x80;
    return chars;
}

bool contract_rule_holds(const contract_rule *r, const pm_cell *cell, char *msg, size_t msgsz)
{
    char shown[SHOW_MAX * 4 + 16];
    if (!cell || cell->kind == PM_CELL_NULL) {
        if (r->kind != RULE_NOT_NULL)
            return true;
        if (msg && msgsz)
            snprintf(msg, msgsz, "%s is null (rule %s)", r->column, r->name);
        return false;
    }

    switch (r->kind) {
    case RULE_NOT_NULL:
    case RULE_UNIQUE:
        return true;
    case RULE_MIN:
        if (compare_literal(r, cell) >= 0)
            return true;
        if (msg && msgsz) {
            show_cell(cell, shown, sizeof shown);
            snprintf(msg, msgsz, "%s %s is below min %s (rule %s)", r->column, shown, r->text,
                     r->name);
        }
        return false;
    case RULE_MAX:
        if (compare_literal(r, cell) <= 0)
            return true;
        if (msg && msgsz) {
            show_cell(cell, shown, sizeof shown);
            snprintf(msg, msgsz, "%s %s is above max %s (rule %s)", r->column, shown, r->text,
                     r->name);
        }
        return false;
    case RULE_REGEX: {
        regex_outcome o = regex_match(r, cell);
        if (o == RE_MATCH)
            return true;
        if (msg && msgsz) {
            show_cell(cell, shown, sizeof shown);
            if (o == RE_TOO_LONG)
                snprintf(msg, msgsz,
                         "%s %s is too long to check against /%s/: over %d bytes (rule %s)",
                         r->column, shown, r->text, CONTRACT_REGEX_MAX_SUBJECT, r->name);
            else if (o == RE_LIMIT)
                snprintf(msg, msgsz,
                         "%s %s could not be checked against /%s/: the match went over the "
                         "regex limits (rule %s)",
                         r->column, shown, r->text, r->name);
            else
                snprintf(msg, msgsz, "%s %s does not match /%s/ (rule %s)", r->column, shown,
                         r->text, r->name);
        }
        return false;
    }
    case RULE_ALLOWED:
        if (allowed_contains(r, cell))
            return true;
        if (msg && msgsz) {
            show_cell(cell, shown, sizeof shown);
            snprintf(msg, msgsz, "%s %s is not one of the allowed values (rule %s)", r->column,
                     shown, r->name);
        }
        return false;
    case RULE_MAX_LENGTH: {
        char buf[32];
        const char *s;
        size_t n;
        cell_text(cell, buf, &s, &n);
        size_t chars = utf8_chars(s, n);
        if (chars <= r->max_length)
            return true;
        if (msg && msgsz) {
            show_cell(cell, shown, sizeof shown);
            snprintf(msg, msgsz, "%s %s is %zu characters long, over max_length %zu (rule %s)",
                     r->column, shown, chars, r->max_length, r->name);
        }
        return false;
    }
    }
    return true;
}

const contract_rule *contract_unique(const pm_contract *c)
{
    if (!c)
        return NULL;
    for (size_t i = 0; i < c->nrules; i++)
        if (c->rules[i].kind == RULE_UNIQUE)
            return &c->rules[i];
    return NULL;
}

void contract_release(pm_contract *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nrules; i++) {
        contract_rule *r = &c->rules[i];
        if (r->kind == RULE_REGEX && r->re) {
            pcre2_match_context_free(r->re->mctx);
            pcre2_code_free(r->re->code);
            free(r->re);
            r->re = NULL;
        }
    }
    /* The rules are memory of the config arena, about to go; with nrules 0
     * a second release (or a late reader) cannot touch a freed regex. */
    c->nrules = 0;
}
