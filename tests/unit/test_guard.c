/* test_guard.c - the guard against its two corpora and by hand.
 *
 * tests/guard/reject.sql holds proposals an agent might send that must
 * never pass: every entry goes through guard_parse_sql and, if the parser
 * stage lets it through, guard_check_ops against the fixture schema below,
 * and one of the two must refuse it with the reason the entry names.
 * tests/guard/accept.sql holds proposals that must pass both stages with
 * the number of ops and the policy classes the entry names. Inputs a text
 * file cannot hold well (NUL bytes, invalid UTF-8, a megabyte of garbage, a
 * carriage return) are built here, as are typed ops that SQL cannot
 * express (field mappings, coercions). The tests run from the repository
 * root, as the Makefile does. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/utf8.h"
#include "heal/guard.h"
#include "heal/policy.h"

/* guard.c's limit on a field name, restated: the test checks the number. */
#define FIELD_MAX_TEST 1024

/* ---- fixture ------------------------------------------------------------ */

static pm_arena *arena;
static pm_table *orders;
static const char *const allowed[] = {"orders", "events"};

static const pm_table *lookup(void *arg, const char *table)
{
    (void)arg;
    return strcmp(table, "orders") == 0 ? orders : NULL;
}

static const guard_ctx guard = {
    .allowed_tables = allowed,
    .nallowed = 2,
    .lookup = lookup,
    .lookup_arg = NULL,
};

static pm_type T(pm_tkind k)
{
    return (pm_type){.kind = k, .len = 0};
}

static pm_type VC(uint32_t n)
{
    return (pm_type){.kind = PM_T_VARCHAR, .len = n};
}

static int setup(void **state)
{
    arena = pm_arena_new(0);
    orders = table_new(arena, "orders");
    table_add(orders, arena, "id", T(PM_T_INT64), false);
    table_add(orders, arena, "email", VC(64), false);
    table_add(orders, arena, "amount", T(PM_T_FLOAT64), true);
    table_add(orders, arena, "qty", T(PM_T_INT32), true);
    table_add(orders, arena, "created_at", T(PM_T_TIMESTAMP), true);
    table_add(orders, arena, "note", T(PM_T_TEXT), true);
    return 0;
}

static int teardown(void **state)
{
    pm_arena_free(arena);
    return 0;
}

/* Both stages, as a caller runs them. */
static pm_code run(const char *sql, size_t len, pm_op **ops, size_t *nops, pm_err *err)
{
    pm_err_clear(err);
    pm_code rc = guard_parse_sql_n(&guard, sql, len, arena, ops, nops, err);
    if (rc != PM_OK)
        return rc;
    size_t bad;
    return guard_check_ops(&guard, *ops, *nops, &bad, err);
}

static pm_code run_str(const char *sql, pm_op **ops, size_t *nops, pm_err *err)
{
    return run(sql, strlen(sql), ops, nops, err);
}

/* Every refusal is one line a model reads: "rejected: ...", printable,
 * valid UTF-8, within the message buffer. */
static void assert_message_shape(const pm_err *err, const char *what)
{
    const char *m = err->msg;
    size_t n = strlen(m);
    if (strncmp(m, "rejected: ", 10) != 0)
        fail_msg("%s: message does not start with \"rejected: \": %s", what, m);
    if (n >= sizeof err->msg - 1)
        fail_msg("%s: message fills the buffer (cut?): %s", what, m);
    if (!pm_utf8_valid(m, n))
        fail_msg("%s: message is not valid UTF-8", what);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)m[i] < 0x20 || m[i] == 0x7F)
            fail_msg("%s: message has control byte 0x%02x: %s", what, (unsigned char)m[i], m);
    if (n > 0 && m[n - 1] == '.')
        fail_msg("%s: message ends with a period: %s", what, m);
}

/* ---- corpus files ------------------------------------------------------- */

typedef struct entry {
    char *text; /* the whole entry, comments included: what is parsed */
    size_t len;
    int line; /* where it starts in the file */
} entry;

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s (tests run from the repository root)", path);
    char *buf = NULL;
    size_t cap = 0, n = 0, got;
    do {
        if (n + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 65536;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
        got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
    } while (got > 0);
    fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* Splits on lines that are exactly "--@@"; what comes before the first one
 * is the file's preamble, not an entry. Entries point into buf. */
static entry *load_corpus(const char *path, char **buf, size_t *count)
{
    size_t len;
    *buf = slurp(path, &len);
    size_t cap = 512, n = 0;
    entry *es = calloc(cap, sizeof *es);
    assert_non_null(es);
    char *p = *buf;
    int line = 1;
    bool preamble = true;
    char *start = p;
    int start_line = 1;
    while (*p) {
        char *eol = strchr(p, '\n');
        size_t ll = eol ? (size_t)(eol - p) : strlen(p);
        if (ll == 4 && memcmp(p, "--@@", 4) == 0) {
            if (!preamble) {
                assert_true(n < cap);
                es[n++] = (entry){.text = start, .len = (size_t)(p - start), .line = start_line};
            }
            preamble = false;
            *p = '\0'; /* ends the previous entry's text */
            start = eol ? eol + 1 : p + ll;
            start_line = line + 1;
        }
        if (!eol)
            break;
        p = eol + 1;
        line++;
    }
    if (!preamble) {
        assert_true(n < cap);
        es[n++] = (entry){.text = start, .len = strlen(start), .line = start_line};
    }
    *count = n;
    return es;
}

/* The value of a "-- key: value" line of the entry, copied into out. */
static bool directive(const entry *e, const char *key, char *out, size_t cap)
{
    char pat[32];
    snprintf(pat, sizeof pat, "-- %s: ", key);
    const char *p = e->text;
    while (p && *p) {
        if (strncmp(p, pat, strlen(pat)) == 0) {
            p += strlen(pat);
            size_t n = strcspn(p, "\n");
            if (n >= cap)
                n = cap - 1;
            memcpy(out, p, n);
            out[n] = '\0';
            return true;
        }
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    return false;
}

static void test_reject_corpus(void **state)
{
    char *buf;
    size_t n;
    entry *es = load_corpus("tests/guard/reject.sql", &buf, &n);
    print_message("reject corpus: %zu entries\n", n);
    assert_true(n >= 160);
    int failures = 0;
    for (size_t i = 0; i < n; i++) {
        const entry *e = &es[i];
        char why[256], expect[512];
        if (!directive(e, "why", why, sizeof why) ||
            !directive(e, "expect", expect, sizeof expect)) {
            print_error("reject.sql:%d: entry without -- why: / -- expect:\n%s\n", e->line,
                        e->text);
            failures++;
            continue;
        }
        pm_op *ops;
        size_t nops;
        pm_err err;
        pm_code rc = run(e->text, e->len, &ops, &nops, &err);
        if (rc == PM_OK) {
            print_error("reject.sql:%d: ACCEPTED (%zu ops) but must be rejected: %s\n%s\n", e->line,
                        nops, why, e->text);
            failures++;
            continue;
        }
        if (!strstr(err.msg, expect)) {
            print_error("reject.sql:%d: %s\n  expected: %s\n  got:      %s\n%s\n", e->line, why,
                        expect, err.msg, e->text);
            failures++;
            continue;
        }
        assert_message_shape(&err, why);
    }
    free(es);
    free(buf);
    if (failures)
        fail_msg("%d reject entries failed", failures);
}

static void test_accept_corpus(void **state)
{
    char *buf;
    size_t n;
    entry *es = load_corpus("tests/guard/accept.sql", &buf, &n);
    print_message("accept corpus: %zu entries\n", n);
    assert_true(n >= 30);
    int failures = 0;
    for (size_t i = 0; i < n; i++) {
        const entry *e = &es[i];
        char why[256], nops_s[16], classes[256];
        if (!directive(e, "why", why, sizeof why) || !directive(e, "ops", nops_s, sizeof nops_s) ||
            !directive(e, "classes", classes, sizeof classes)) {
            print_error("accept.sql:%d: entry without -- why: / -- ops: / -- classes:\n%s\n",
                        e->line, e->text);
            failures++;
            continue;
        }
        pm_op *ops;
        size_t nops;
        pm_err err;
        pm_code rc = run(e->text, e->len, &ops, &nops, &err);
        if (rc != PM_OK) {
            print_error("accept.sql:%d: REJECTED but must pass: %s\n  %s\n%s\n", e->line, why,
                        err.msg, e->text);
            failures++;
            continue;
        }
        if (nops != (size_t)atoi(nops_s)) {
            print_error("accept.sql:%d: %s: %zu ops, expected %s\n", e->line, why, nops, nops_s);
            failures++;
            continue;
        }
        /* The policy classes each op against the live table, as apply will. */
        char got[256] = "";
        for (size_t k = 0; k < nops; k++) {
            pm_op_class c = policy_class(&ops[k], lookup(NULL, ops[k].table));
            strcat(got, k ? " " : "");
            strcat(got, policy_class_name(c));
        }
        if (strcmp(got, classes) != 0) {
            print_error("accept.sql:%d: %s: classes \"%s\", expected \"%s\"\n", e->line, why, got,
                        classes);
            failures++;
        }
    }
    free(es);
    free(buf);
    if (failures)
        fail_msg("%d accept entries failed", failures);
}

/* ---- exact messages ----------------------------------------------------- */

static void expect_msg(const char *sql, pm_code code, const char *msg)
{
    pm_op *ops;
    size_t nops;
    pm_err err;
    pm_code rc = run_str(sql, &ops, &nops, &err);
    if (rc != code || strcmp(err.msg, msg) != 0)
        fail_msg("%s\n  got      (%s) %s\n  expected (%s) %s", sql, pm_code_name(rc), err.msg,
                 pm_code_name(code), msg);
    assert_message_shape(&err, sql);
}

static void test_exact_messages(void **state)
{
    expect_msg("ALTER TABLE orders ADD COLUMN coupon text; DROP TABLE orders", PM_ERR_USAGE,
               "rejected: 2 statements; send exactly one ALTER TABLE or CREATE TABLE");
    expect_msg("DROP TABLE orders", PM_ERR_USAGE,
               "rejected: DROP TABLE is not accepted; only ALTER TABLE ... ADD COLUMN / ALTER "
               "COLUMN ... TYPE / ALTER COLUMN ... DROP NOT NULL and CREATE TABLE");
    expect_msg("ALTER TABLE users ADD COLUMN a int", PM_ERR_USAGE,
               "rejected: table \"users\" is not one this pipeline may change (allowed: orders, "
               "events)");
    expect_msg("ALTER TABLE orders ALTER COLUMN qty SET DATA TYPE bigint USING qty::bigint",
               PM_ERR_USAGE,
               "rejected: ALTER COLUMN ... TYPE ... USING is not accepted: widening never "
               "rewrites values");
    expect_msg("ALTER TABLE orders ALTER COLUMN id TYPE integer", PM_ERR_SCHEMA,
               "rejected: narrowing orders.id from int64 to int32 is forbidden");
    expect_msg("ALTER TABLE orders ADD COLUMN coupon text, DROP COLUMN note", PM_ERR_USAGE,
               "rejected: DROP COLUMN is not accepted in ALTER TABLE; only ADD COLUMN, ALTER "
               "COLUMN ... TYPE and ALTER COLUMN ... DROP NOT NULL are");
    expect_msg("", PM_ERR_PARSE,
               "rejected: no statement (the proposal is empty or only comments); send exactly "
               "one ALTER TABLE or CREATE TABLE");
    expect_msg("-- just a comment", PM_ERR_PARSE,
               "rejected: no statement (the proposal is empty or only comments); send exactly "
               "one ALTER TABLE or CREATE TABLE");
    expect_msg("ALTER TABLE orders ADD COLUMN x int DEFAULT pg_sleep(10)", PM_ERR_USAGE,
               "rejected: DEFAULT on column \"x\" is not accepted: columns are added without "
               "defaults, and no expression from a proposal is ever run");
    expect_msg("ALTER TABLE public.orders ADD COLUMN a int", PM_ERR_USAGE,
               "rejected: schema-qualified table \"public.orders\" is not accepted; write the "
               "table name alone");
    expect_msg("ALTER TABLE \"Orders\" ADD COLUMN a int", PM_ERR_USAGE,
               "rejected: table name \"Orders\" is not in normal form (lowercase, no quotes or "
               "spaces); write orders");
    expect_msg("ALTER TABLE \xD0\xBErders ADD COLUMN a int", PM_ERR_USAGE,
               "rejected: table \"\xD0\xBErders\" is not one this pipeline may change (allowed: "
               "orders, events) (it contains U+043E)");
    expect_msg("ALTER TABLE orders ADD COLUMN email text", PM_ERR_SCHEMA,
               "rejected: column orders.email already exists as varchar(64)");
    expect_msg("ALTER TABLE orders ALTER COLUMN qty TYPE bigint, ALTER COLUMN email TYPE "
               "varchar(10)",
               PM_ERR_SCHEMA,
               "rejected: op 2 of 2: narrowing orders.email from varchar(64) to varchar(10) is "
               "forbidden");
    expect_msg("ALTER TABLE orders ADD COLUMN a float4", PM_ERR_USAGE,
               "rejected: type of column \"a\": real (float4) is not a pipemend type; use double "
               "precision");
    expect_msg("ALTER TABLE orders ADD COLUMN a int;\nDROP", PM_ERR_PARSE,
               "rejected: syntax error at end of input at character 42; send exactly one ALTER "
               "TABLE or CREATE TABLE");
}

/* ---- exact ops ---------------------------------------------------------- */

static void test_exact_ops(void **state)
{
    pm_op *ops;
    size_t nops;
    pm_err err;

    assert_int_equal(run_str("ALTER TABLE orders ADD COLUMN coupon varchar(16), ALTER COLUMN qty "
                             "TYPE bigint, ALTER COLUMN email DROP NOT NULL",
                             &ops, &nops, &err),
                     PM_OK);
    assert_int_equal(nops, 3);
    assert_int_equal(ops[0].kind, OP_ADD_COLUMN);
    assert_string_equal(ops[0].table, "orders");
    assert_string_equal(ops[0].column, "coupon");
    assert_int_equal(ops[0].type.kind, PM_T_VARCHAR);
    assert_int_equal(ops[0].type.len, 16);
    assert_int_equal(ops[1].kind, OP_WIDEN_COLUMN);
    assert_string_equal(ops[1].column, "qty");
    assert_int_equal(ops[1].type.kind, PM_T_INT64);
    assert_int_equal(ops[2].kind, OP_DROP_NOT_NULL);
    assert_string_equal(ops[2].column, "email");
    assert_string_equal(op_describe(&ops[0], arena), "add column coupon varchar(16) to orders");
    assert_string_equal(op_describe(&ops[1], arena), "widen orders.qty to int64");
    assert_string_equal(op_describe(&ops[2], arena), "drop not null on orders.email");

    assert_int_equal(run_str("CREATE TABLE events (id bigint NOT NULL, kind varchar(32), payload "
                             "jsonb, at timestamp with time zone, n decimal, ok boolean)",
                             &ops, &nops, &err),
                     PM_OK);
    assert_int_equal(nops, 1);
    assert_int_equal(ops[0].kind, OP_CREATE_TABLE);
    assert_string_equal(ops[0].table, "events");
    assert_int_equal(ops[0].ncols, 6);
    static const struct {
        const char *name;
        pm_tkind kind;
        uint32_t len;
        bool nullable;
    } want[] = {
        {"id", PM_T_INT64, 0, false},    {"kind", PM_T_VARCHAR, 32, true},
        {"payload", PM_T_JSON, 0, true}, {"at", PM_T_TIMESTAMPTZ, 0, true},
        {"n", PM_T_NUMERIC, 0, true},    {"ok", PM_T_BOOL, 0, true},
    };
    for (size_t i = 0; i < 6; i++) {
        assert_string_equal(ops[0].cols[i].name, want[i].name);
        assert_int_equal(ops[0].cols[i].type.kind, want[i].kind);
        assert_int_equal(ops[0].cols[i].type.len, want[i].len);
        assert_int_equal(ops[0].cols[i].nullable, want[i].nullable);
    }
    assert_int_equal(policy_class(&ops[0], NULL), CLASS_REVIEW);

    assert_int_equal(
        run_str("alter table \"orders\" alter \"note\" set data type jsonb", &ops, &nops, &err),
        PM_OK);
    assert_int_equal(nops, 1);
    assert_int_equal(ops[0].kind, OP_WIDEN_COLUMN);
    assert_string_equal(ops[0].column, "note");
    assert_int_equal(ops[0].type.kind, PM_T_JSON);

    /* double precision, float and float(53) are one type; smallint is int16 */
    assert_int_equal(run_str("ALTER TABLE orders ADD a double precision, ADD b float, ADD c "
                             "float(53), ADD d smallint, ADD e text",
                             &ops, &nops, &err),
                     PM_OK);
    assert_int_equal(nops, 5);
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(ops[i].type.kind, PM_T_FLOAT64);
    assert_int_equal(ops[3].type.kind, PM_T_INT16);
    assert_int_equal(ops[4].type.kind, PM_T_TEXT);
}

/* ---- bytes a corpus file cannot hold ------------------------------------ */

static void test_nul_bytes(void **state)
{
    static const char sql[] = "ALTER TABLE orders ADD COLUMN a int\0; DROP TABLE orders";
    pm_op *ops;
    size_t nops;
    pm_err err;
    assert_int_equal(run(sql, sizeof sql - 1, &ops, &nops, &err), PM_ERR_PARSE);
    assert_string_equal(err.msg, "rejected: NUL byte at offset 35; send plain SQL text");
    assert_null(ops);
    assert_int_equal(nops, 0);

    static const char first[] = "\0ALTER TABLE orders ADD COLUMN a int";
    assert_int_equal(run(first, sizeof first - 1, &ops, &nops, &err), PM_ERR_PARSE);
    static const char inside[] = "ALTER TABLE orders ADD COLUMN \"a\0b\" int";
    assert_int_equal(run(inside, sizeof inside - 1, &ops, &nops, &err), PM_ERR_PARSE);

    /* A C string ends at its NUL: what the guard sees, and returns ops
     * for, is the text before it, never the DROP behind it. */
    assert_int_equal(guard_parse_sql(&guard, sql, arena, &ops, &nops, &err), PM_OK);
    assert_int_equal(nops, 1);
    assert_int_equal(ops[0].kind, OP_ADD_COLUMN);
}

static void test_invalid_utf8(void **state)
{
    static const char *const cases[] = {
        "ALTER TABLE orders ADD COLUMN \xFF int",
        "ALTER TABLE orders ADD COLUMN \"a\x80\" int",        /* lone continuation byte */
        "ALTER TABLE orders ADD COLUMN \"\xC0\xAF\" int",     /* overlong '/' */
        "ALTER TABLE orders ADD COLUMN \"\xED\xA0\x80\" int", /* UTF-16 surrogate */
        "ALTER TABLE orders ADD COLUMN \"\xE2\x82\" int",     /* cut sequence */
        "ALTER TABLE \xF4\x90\x80\x80 ADD COLUMN a int",      /* above U+10FFFF */
        "/* \xFE */ ALTER TABLE orders ADD COLUMN a int",     /* even in a comment */
        "ALTER TABLE orders ADD COLUMN a int -- \xC3",
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pm_op *ops;
        size_t nops;
        pm_err err;
        pm_code rc = run_str(cases[i], &ops, &nops, &err);
        if (rc != PM_ERR_PARSE || !strstr(err.msg, "invalid UTF-8 at byte "))
            fail_msg("case %zu: %s %s", i, pm_code_name(rc), err.msg);
        assert_message_shape(&err, "invalid UTF-8");
    }
    pm_op *ops;
    size_t nops;
    pm_err err;
    assert_int_equal(run_str(cases[0], &ops, &nops, &err), PM_ERR_PARSE);
    assert_string_equal(err.msg, "rejected: invalid UTF-8 at byte 30; send UTF-8 SQL text");
}

/* xorshift: the same "random" bytes on every run. */
static uint64_t rng_state = 0x9E3779B97F4A7C15u;
static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void test_big_and_garbage(void **state)
{
    size_t mb = 1u << 20;
    char *buf = malloc(mb + 1);
    assert_non_null(buf);
    pm_op *ops;
    size_t nops;
    pm_err err;

    /* 1 MB of random bytes: refused on size before anything reads it */
    for (size_t i = 0; i < mb; i++)
        buf[i] = (char)(rng() & 0xFF);
    buf[mb] = '\0';
    assert_int_equal(run(buf, mb, &ops, &nops, &err), PM_ERR_LIMIT);
    assert_string_equal(err.msg, "rejected: proposal is 1048576 bytes; the limit is 65536; send "
                                 "exactly one ALTER TABLE or CREATE TABLE");

    /* a valid statement padded to 1 MB with spaces is still too big */
    memset(buf, ' ', mb);
    static const char alter[] = "ALTER TABLE orders ADD COLUMN a int";
    memcpy(buf, alter, sizeof alter - 1);
    assert_int_equal(run(buf, mb, &ops, &nops, &err), PM_ERR_LIMIT);

    /* just under the limit, printable garbage reaches the parser and is
     * refused there, in one line */
    size_t n = 65536;
    for (size_t i = 0; i < n; i++)
        buf[i] = (char)(0x20 + rng() % 95);
    buf[n] = '\0';
    pm_code rc = run(buf, n, &ops, &nops, &err);
    assert_int_not_equal(rc, PM_OK);
    assert_message_shape(&err, "64 KiB of printable garbage");

    /* a valid statement padded to exactly the limit passes */
    memset(buf, ' ', n);
    memcpy(buf, alter, sizeof alter - 1);
    assert_int_equal(run(buf, n, &ops, &nops, &err), PM_OK);
    assert_int_equal(nops, 1);

    /* nesting deep enough to exhaust the parser's stack guard */
    size_t depth = 30000, o = 0;
    o += (size_t)sprintf(buf, "SELECT ");
    memset(buf + o, '(', depth);
    o += depth;
    buf[o++] = '1';
    memset(buf + o, ')', depth);
    o += depth;
    buf[o] = '\0';
    rc = run(buf, o, &ops, &nops, &err);
    assert_int_not_equal(rc, PM_OK);
    assert_message_shape(&err, "deep nesting");
    free(buf);
}

/* A carriage return ends a -- comment as a newline does (PostgreSQL's
 * scanner), so what follows it is SQL, not comment. */
static void test_carriage_return(void **state)
{
    pm_op *ops;
    size_t nops;
    pm_err err;
    assert_int_not_equal(
        run_str("ALTER TABLE orders ADD COLUMN a int --x\rDROP TABLE orders", &ops, &nops, &err),
        PM_OK);
    assert_int_equal(
        run_str("ALTER TABLE orders ADD COLUMN a int; --x\rDROP TABLE orders", &ops, &nops, &err),
        PM_ERR_USAGE);
    assert_string_equal(err.msg,
                        "rejected: 2 statements; send exactly one ALTER TABLE or CREATE TABLE");
    assert_int_equal(run_str("ALTER TABLE orders\r\n  ADD COLUMN a int\r\n", &ops, &nops, &err),
                     PM_OK);
}

/* Random edits of an accepted statement: each result is either accepted
 * by both stages or refused in one clean line; nothing crashes (the test
 * runs under ASan and UBSan). */
static void test_mutations(void **state)
{
    static const char *const seeds[] = {
        "ALTER TABLE orders ADD COLUMN coupon varchar(16), ALTER COLUMN qty TYPE bigint",
        "CREATE TABLE events (id bigint NOT NULL, payload jsonb)",
        "ALTER TABLE orders ALTER COLUMN email DROP NOT NULL",
    };
    static const char alphabet[] =
        " ;,()\"'$-/*\\\nabcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456789:";
    char buf[256];
    for (int round = 0; round < 3000; round++) {
        const char *seed = seeds[round % 3];
        size_t n = strlen(seed);
        memcpy(buf, seed, n + 1);
        int edits = 1 + (int)(rng() % 3);
        for (int k = 0; k < edits; k++) {
            size_t at = (size_t)(rng() % n);
            char c = alphabet[rng() % (sizeof alphabet - 1)];
            switch (rng() % 3) {
            case 0:
                buf[at] = c;
                break;
            case 1:
                if (n + 1 < sizeof buf) {
                    memmove(buf + at + 1, buf + at, n - at + 1);
                    buf[at] = c;
                    n++;
                }
                break;
            default:
                memmove(buf + at, buf + at + 1, n - at);
                n--;
                break;
            }
            if (n == 0)
                break;
        }
        pm_op *ops;
        size_t nops;
        pm_err err;
        if (run(buf, n, &ops, &nops, &err) != PM_OK)
            assert_message_shape(&err, buf);
        else
            for (size_t i = 0; i < nops; i++)
                assert_int_not_equal(policy_class(&ops[i], lookup(NULL, ops[i].table)),
                                     CLASS_FORBIDDEN);
    }
}

/* ---- typed ops ---------------------------------------------------------- */

static void want_check(const pm_op *ops, size_t nops, size_t bad_want, const char *want)
{
    size_t bad = 99;
    pm_err err;
    pm_err_clear(&err);
    pm_code rc = guard_check_ops(&guard, ops, nops, &bad, &err);
    if (!want) {
        if (rc != PM_OK)
            fail_msg("expected ops to pass, got %s", err.msg);
        return;
    }
    if (rc != PM_ERR_SCHEMA || !strstr(err.msg, want) || bad != bad_want)
        fail_msg("expected op %zu to fail with \"%s\"; got %s at %zu: %s", bad_want, want,
                 pm_code_name(rc), bad, err.msg);
    assert_message_shape(&err, want);
}

static pm_op mapping(const char *field, const char *column)
{
    return (pm_op){
        .kind = OP_ADD_FIELD_MAPPING, .table = "orders", .column = column, .field = field};
}

static pm_op coercion(const char *column, const char *format)
{
    return (pm_op){.kind = OP_ADD_COERCION, .table = "orders", .column = column, .format = format};
}

static void test_typed_mapping(void **state)
{
    pm_op ok[] = {mapping("customer_email", "email")};
    want_check(ok, 1, 0, NULL);
    pm_op any_name[] = {mapping("Customer E-Mail (primary) \xE2\x9C\x89", "email")};
    want_check(any_name, 1, 0, NULL);

    pm_op empty[] = {mapping("", "email")};
    want_check(empty, 1, 0, "field mapping to orders.email has no field name");
    pm_op null_field[] = {mapping(NULL, "email")};
    want_check(null_field, 1, 0, "has no field name");
    pm_op bad_utf8[] = {mapping("e\xC3mail", "email")};
    want_check(bad_utf8, 1, 0, "field name is not valid UTF-8 (byte 1)");
    pm_op no_col[] = {mapping("mail", "e_mail")};
    want_check(no_col, 1, 0, "column orders.e_mail does not exist");
    pm_op same[] = {mapping("Email", "email")};
    want_check(same, 1, 0, "field \"Email\" already lands in orders.email; nothing to map");
    pm_op divert[] = {mapping("qty", "amount")};
    want_check(divert, 1, 0,
               "field \"qty\" already lands in column orders.qty; mapping it to amount would "
               "divert that column's values");
    char long_field[FIELD_MAX_TEST + 2];
    memset(long_field, 'f', sizeof long_field - 1);
    long_field[sizeof long_field - 1] = '\0';
    pm_op too_long[] = {mapping(long_field, "email")};
    want_check(too_long, 1, 0, "field name is 1025 bytes; the limit is 1024");
}

static void test_merge_and_retype_of_one_column(void **state)
{
    pm_op merge = {.kind = OP_MERGE_COLUMN, .table = "orders", .column = "amount", .field = "qty"};
    pm_op retype = {
        .kind = OP_RETYPE_COLUMN, .table = "orders", .column = "amount", .type = T(PM_T_TEXT)};
    pm_op alone[] = {merge};
    want_check(alone, 1, 0, NULL);
    pm_op both[] = {merge, retype};
    want_check(both, 2, 1,
               "orders.amount is merged and retyped by this proposal; propose the merge first, "
               "and the retype once it is applied");
    pm_op reversed[] = {retype, merge};
    want_check(reversed, 2, 1, "orders.amount is merged and retyped by this proposal");
}

static void test_typed_coercion(void **state)
{
    static const char *const good[] = {
        "%m/%d/%Y %H:%M",
        "%d.%m.%Y",
        "%a, %d %b %Y %H:%M:%S %z",
        "%Y-%m-%dT%T",
        "%I:%M %p on %e %B",
        "%F %R",
        "%D",
        "%y%j",
        "100%% %A %Y",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        pm_op op[] = {coercion("created_at", good[i])};
        want_check(op, 1, 0, NULL);
    }
    static const struct {
        const char *format, *want;
    } bad[] = {
        {"%n", "conversion %n is not accepted"},
        {"%s", "conversion %s is not accepted"},
        {"%c", "conversion %c is not accepted"},
        {"%Ey", "conversion %E is not accepted"},
        {"%Od", "conversion %O is not accepted"},
        {"%Y-%m-%", "format ends with a lone %"},
        {"", "has no format"},
        {"literal only", "has no conversion"},
        {"%%", "has no conversion"},
        {"%Y\t%m", "byte outside printable ASCII at offset 2"},
        {"%Y\xC3\xA9", "byte outside printable ASCII at offset 2"},
        {"%Y%m%d%H%M%S%Y%m%d%H%M%S%Y%m%d%H%M%S%Y%m%d%H%M%S%Y%m%d%H%M%S%Y%m%d",
         "coercion format is 66 bytes; the limit is 64"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        pm_op op[] = {coercion("created_at", bad[i].format)};
        want_check(op, 1, 0, bad[i].want);
    }
    pm_op text_col[] = {coercion("note", "%Y")};
    want_check(text_col, 1, 0,
               "orders.note is text; a coercion parses dates and times for a date, timestamp or "
               "timestamptz column");
    pm_op missing[] = {coercion("shipped_at", "%Y")};
    want_check(missing, 1, 0, "column orders.shipped_at does not exist");
    pm_op null_fmt[] = {coercion("created_at", NULL)};
    want_check(null_fmt, 1, 0, "has no format");
}

static void test_typed_misc(void **state)
{
    pm_column cols[] = {
        {.name = "id", .type = {PM_T_INT64, 0}, .nullable = false},
        {.name = "payload", .type = {PM_T_JSON, 0}, .nullable = true},
    };
    pm_op create = {.kind = OP_CREATE_TABLE, .table = "events", .cols = cols, .ncols = 2};
    pm_op ops1[] = {create};
    want_check(ops1, 1, 0, NULL);

    /* an op on the table a previous op creates */
    pm_op ops2[] = {
        create, {.kind = OP_ADD_COLUMN, .table = "events", .column = "x", .type = {PM_T_TEXT, 0}}};
    want_check(ops2, 2, 1, "op 2 of 2: table \"events\" is created by op 1 of this proposal");
    /* the same table created twice */
    pm_op ops3[] = {create, create};
    want_check(ops3, 2, 1, "is created by op 1");

    pm_op add_ok = {
        .kind = OP_ADD_COLUMN, .table = "orders", .column = "coupon", .type = {PM_T_VARCHAR, 16}};
    pm_op ops4[] = {add_ok};
    want_check(ops4, 1, 0, NULL);

    pm_op bad_types[][1] = {
        {{.kind = OP_ADD_COLUMN, .table = "orders", .column = "a", .type = {PM_T_UNKNOWN, 0}}},
        {{.kind = OP_ADD_COLUMN, .table = "orders", .column = "a", .type = {PM_T_VARCHAR, 0}}},
        {{.kind = OP_ADD_COLUMN,
          .table = "orders",
          .column = "a",
          .type = {PM_T_VARCHAR, 10485761}}},
        {{.kind = OP_ADD_COLUMN, .table = "orders", .column = "a", .type = {(pm_tkind)99, 0}}},
        {{.kind = OP_WIDEN_COLUMN, .table = "orders", .column = "note", .type = {PM_T_UNKNOWN, 0}}},
    };
    static const char *const bad_type_msgs[] = {
        "unknown is not a column type",
        "varchar(0) for orders.a is out of range",
        "varchar(10485761) for orders.a is out of range",
        "is not a column type",
        "unknown is not a column type",
    };
    for (size_t i = 0; i < sizeof bad_types / sizeof bad_types[0]; i++)
        want_check(bad_types[i], 1, 0, bad_type_msgs[i]);

    /* the table rule holds for typed ops too */
    pm_op other[] = {
        {.kind = OP_ADD_COLUMN, .table = "users", .column = "a", .type = {PM_T_TEXT, 0}}};
    want_check(other, 1, 0, "table \"users\" is not one this pipeline may change");
    pm_op no_table[] = {{.kind = OP_DROP_NOT_NULL, .table = NULL, .column = "email"}};
    want_check(no_table, 1, 0, "no table named");
    pm_op no_column[] = {{.kind = OP_DROP_NOT_NULL, .table = "orders", .column = NULL}};
    want_check(no_column, 1, 0, "no column named");
    pm_op bad_column[] = {{.kind = OP_ADD_COLUMN,
                           .table = "orders",
                           .column = "Coupon Code",
                           .type = {PM_T_TEXT, 0}}};
    want_check(bad_column, 1, 0, "pipemend would name it coupon_code");
    pm_op bad_kind[] = {{.kind = OP_KIND_COUNT, .table = "orders", .column = "email"}};
    want_check(bad_kind, 1, 0, "unknown op kind");

    /* limits on the proposal itself */
    want_check(NULL, 0, 0, "proposal has no ops; nothing to change");
    pm_op *many = calloc(257, sizeof *many);
    assert_non_null(many);
    for (size_t i = 0; i < 257; i++)
        many[i] = add_ok;
    want_check(many, 257, 0, "proposal has 257 ops; the limit is 256");
    free(many);

    /* *bad names the first failing op */
    pm_op mixed[] = {
        add_ok,
        {.kind = OP_WIDEN_COLUMN, .table = "orders", .column = "qty", .type = {PM_T_INT64, 0}},
        {.kind = OP_DROP_NOT_NULL, .table = "orders", .column = "note"}};
    want_check(mixed, 3, 2, "op 3 of 3: orders.note is already nullable; nothing to drop");
}

/* Against a schema that has a mapping, a coercion and a dropped column:
 * one name means one thing, and a no-op is refused. */
static void test_typed_against_mappings(void **state)
{
    pm_table *live = orders;
    orders = table_copy(live, arena);
    assert_true(table_add_alias(orders, arena, 1, "mail")); /* email */
    assert_true(table_set_format(orders, arena, 4, "%m/%d/%Y"));
    assert_true(table_add_dropped(orders, arena, "coupon"));

    pm_op again[] = {mapping("Mail", "email")};
    want_check(again, 1, 0, "field \"Mail\" is already mapped to orders.email; nothing to map");
    pm_op divert[] = {mapping("mail", "note")};
    want_check(divert, 1, 0,
               "field \"mail\" is already mapped to orders.email; mapping it to note would divert "
               "that column's values");
    pm_op column[] = {mapping("EMAIL", "note")};
    want_check(column, 1, 0, "field \"EMAIL\" already lands in column orders.email");
    pm_op another[] = {mapping("e_mail", "email")};
    want_check(another, 1, 0, NULL);
    pm_op was_dropped[] = {mapping("coupon", "note")};
    want_check(was_dropped, 1, 0, NULL);

    pm_op add_alias[] = {
        {.kind = OP_ADD_COLUMN, .table = "orders", .column = "mail", .type = T(PM_T_TEXT)}};
    want_check(add_alias, 1, 0,
               "\"mail\" is a field mapped to orders.email; a column of that name would take its "
               "values");
    pm_op add_back[] = {
        {.kind = OP_ADD_COLUMN, .table = "orders", .column = "coupon", .type = T(PM_T_TEXT)}};
    want_check(add_back, 1, 0, NULL);

    pm_op same_format[] = {coercion("created_at", "%m/%d/%Y")};
    want_check(same_format, 1, 0,
               "orders.created_at already parses with format \"%m/%d/%Y\"; nothing to change");
    pm_op new_format[] = {coercion("created_at", "%d.%m.%Y")};
    want_check(new_format, 1, 0, NULL);

    /* one field cannot load into two columns, whatever its spelling */
    pm_op twice[] = {mapping("Cust Mail", "email"), mapping("cust_mail", "note")};
    want_check(twice, 2, 1,
               "op 2 of 2: field \"cust_mail\" is mapped to orders.email by op 1 of this "
               "proposal");
    orders = live;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reject_corpus),
        cmocka_unit_test(test_accept_corpus),
        cmocka_unit_test(test_exact_messages),
        cmocka_unit_test(test_exact_ops),
        cmocka_unit_test(test_nul_bytes),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_big_and_garbage),
        cmocka_unit_test(test_carriage_return),
        cmocka_unit_test(test_mutations),
        cmocka_unit_test(test_typed_mapping),
        cmocka_unit_test(test_merge_and_retype_of_one_column),
        cmocka_unit_test(test_typed_coercion),
        cmocka_unit_test(test_typed_misc),
        cmocka_unit_test(test_typed_against_mappings),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
