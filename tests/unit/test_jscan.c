/* test_jscan.c - the data plane's JSON record scanner: what a record turns
 * into (field names, kinds, exact text) and how each kind of malformed line
 * is rejected (message and byte offset), as a loader and a person reading
 * the quarantine would see them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/arena.h"
#include "source/jscan.h"

typedef struct fx {
    pm_arena *arena;
    pm_record rec;
    pm_err err;
    pm_code rc;
} fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    f->arena = pm_arena_new(0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    pm_arena_free(f->arena);
    free(f);
    return 0;
}

static pm_code scan_opts(fx *f, const char *s, size_t n, int max_depth, int flatten_depth)
{
    jscan_opts o = {.max_depth = max_depth, .flatten_depth = flatten_depth};
    memset(&f->rec, 0, sizeof f->rec);
    memset(&f->err, 0, sizeof f->err);
    f->rc = jscan_record(s, n, &o, f->arena, &f->rec, &f->err);
    if (f->rc != PM_OK) {
        /* Every rejection: no fields, one line, no trailing period, the
         * record marked with the same message. */
        size_t ml = strlen(f->err.msg);
        assert_int_equal(f->rc, PM_ERR_PARSE);
        assert_int_equal(f->rec.nfields, 0);
        assert_true(ml > 0);
        assert_null(strchr(f->err.msg, '\n'));
        assert_true(f->err.msg[ml - 1] != '.');
        assert_non_null(f->rec.malformed);
        assert_string_equal(f->rec.malformed, f->err.msg);
        assert_true(f->rec.malformed_at <= n);
    } else {
        assert_null(f->rec.malformed);
    }
    return f->rc;
}

static pm_code scan(fx *f, const char *s)
{
    return scan_opts(f, s, strlen(s), 0, 0);
}

/* The field named name, which must exist exactly once. */
static const pm_value *field(fx *f, const char *name)
{
    const pm_value *found = NULL;
    for (size_t i = 0; i < f->rec.nfields; i++) {
        const pm_field *x = &f->rec.fields[i];
        assert_int_equal(x->name[x->name_len], '\0');
        if (x->name_len == strlen(name) && memcmp(x->name, name, x->name_len) == 0) {
            assert_null(found);
            found = &x->v;
        }
    }
    if (!found)
        fail_msg("no field \"%s\"", name);
    return found;
}

static void assert_text(const pm_value *v, pm_vkind kind, const char *text)
{
    assert_int_equal(v->kind, kind);
    assert_int_equal(v->len, strlen(text));
    assert_memory_equal(v->s, text, v->len);
    assert_int_equal(v->s[v->len], '\0');
}

static void assert_rejected(fx *f, const char *s, size_t n, const char *msg, uint64_t at)
{
    assert_int_equal(scan_opts(f, s, n, 0, 0), PM_ERR_PARSE);
    assert_string_equal(f->err.msg, msg);
    assert_int_equal(f->rec.malformed_at, at);
}

#define REJECT(f, lit, msg, at) assert_rejected(f, lit, sizeof(lit) - 1, msg, at)

static void values_of_each_kind(void **state)
{
    fx *f = *state;
    assert_int_equal(scan(f, " {\"s\":\"text\", \"i\":42, \"r\":-1.5e-3, \"t\":true, \"f\":false,"
                             " \"z\":null, \"a\":[1, {\"x\":2}], \"e\":\"\"}\n"),
                     PM_OK);
    assert_int_equal(f->rec.nfields, 8);
    assert_text(field(f, "s"), PM_V_STRING, "text");
    assert_text(field(f, "i"), PM_V_NUMBER, "42");
    assert_text(field(f, "r"), PM_V_NUMBER, "-1.5e-3");
    assert_int_equal(field(f, "t")->kind, PM_V_BOOL);
    assert_true(field(f, "t")->b);
    assert_int_equal(field(f, "f")->kind, PM_V_BOOL);
    assert_false(field(f, "f")->b);
    assert_int_equal(field(f, "z")->kind, PM_V_NULL);
    assert_text(field(f, "a"), PM_V_ARRAY, "[1, {\"x\":2}]");
    assert_text(field(f, "e"), PM_V_STRING, "");
    /* fields come in the order of the record */
    assert_string_equal(f->rec.fields[0].name, "s");
    assert_string_equal(f->rec.fields[7].name, "e");
}

static void numbers_are_exact_text(void **state)
{
    fx *f = *state;
    assert_int_equal(scan(f, "{\"big\":12345678901234567890123,\"neg\":-99999999999999999999999,"
                             "\"huge\":1e400,\"tiny\":4.9e-400,\"prec\":0.10000000000000000000001,"
                             "\"z\":-0,\"E\":1E+2,\"zero\":0.0}"),
                     PM_OK);
    assert_text(field(f, "big"), PM_V_NUMBER, "12345678901234567890123");
    assert_text(field(f, "neg"), PM_V_NUMBER, "-99999999999999999999999");
    assert_text(field(f, "huge"), PM_V_NUMBER, "1e400");
    assert_text(field(f, "tiny"), PM_V_NUMBER, "4.9e-400");
    assert_text(field(f, "prec"), PM_V_NUMBER, "0.10000000000000000000001");
    assert_text(field(f, "z"), PM_V_NUMBER, "-0");
    assert_text(field(f, "E"), PM_V_NUMBER, "1E+2");
    assert_text(field(f, "zero"), PM_V_NUMBER, "0.0");
}

static void bad_numbers(void **state)
{
    fx *f = *state;
    REJECT(f, "{\"a\":01}", "invalid JSON at byte 5: leading zero in number", 5);
    REJECT(f, "{\"a\":-012}", "invalid JSON at byte 6: leading zero in number", 6);
    REJECT(f, "{\"a\":1.}", "invalid JSON at byte 7: expected a digit after '.' in number, got '}'",
           7);
    REJECT(f, "{\"a\":.5}", "invalid JSON at byte 5: expected a value, got '.'", 5);
    REJECT(f, "{\"a\":1e}",
           "invalid JSON at byte 7: expected a digit in the exponent of number, got '}'", 7);
    REJECT(f, "{\"a\":+1}", "invalid JSON at byte 5: expected a value, got '+'", 5);
    REJECT(f, "{\"a\":-}", "invalid JSON at byte 6: expected a digit in number, got '}'", 6);
    REJECT(f, "{\"a\":NaN}", "invalid JSON at byte 5: expected a value, got 'N'", 5);
    REJECT(f, "{\"a\":-Infinity}", "invalid JSON at byte 6: expected a digit in number, got 'I'",
           6);
    REJECT(f, "{\"a\":0x10}",
           "invalid JSON at byte 6: expected ',' or '}' after object member, got 'x'", 6);
    REJECT(f, "{\"a\":tru}",
           "invalid JSON at byte 5: invalid literal (expected true, false or null)", 5);
    REJECT(f, "{\"a\":True}", "invalid JSON at byte 5: expected a value, got 'T'", 5);
    REJECT(f, "{\"a\":nulll}",
           "invalid JSON at byte 9: expected ',' or '}' after object member, got 'l'", 9);
}

static void escapes_and_surrogates(void **state)
{
    fx *f = *state;
    assert_int_equal(scan(f, "{\"e\":\"q\\\" b\\\\ s\\/ \\b\\f\\n\\r\\t\","
                             "\"u\":\"\\u0041\\u00e9\\u20AC\\ud83d\\ude00\","
                             "\"raw\":\"caf\xc3\xa9 \xf0\x9f\x98\x80\","
                             "\"k\\u00e9y\\n\":1}"),
                     PM_OK);
    assert_text(field(f, "e"), PM_V_STRING, "q\" b\\ s/ \b\f\n\r\t");
    assert_text(field(f, "u"), PM_V_STRING, "A\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
    assert_text(field(f, "raw"), PM_V_STRING, "caf\xc3\xa9 \xf0\x9f\x98\x80");
    assert_text(field(f, "k\xc3\xa9y\n"), PM_V_NUMBER, "1");

    REJECT(f, "{\"a\":\"\\x\"}", "invalid JSON at byte 6: invalid escape sequence in string", 6);
    REJECT(f, "{\"a\":\"\\u12\"}",
           "invalid JSON at byte 6: invalid \\u escape in string (needs four hex digits)", 6);
    REJECT(f, "{\"a\":\"\\ud800\"}", "invalid JSON at byte 6: unpaired surrogate \\uD800 in string",
           6);
    REJECT(f, "{\"a\":\"x\\udc00\"}",
           "invalid JSON at byte 7: unpaired surrogate \\uDC00 in string", 7);
    REJECT(f, "{\"a\":\"\\ud83d\\u0041\"}",
           "invalid JSON at byte 6: unpaired surrogate \\uD83D in string", 6);
    REJECT(f, "{\"a\":\"\\ud83d\\ud83d\"}",
           "invalid JSON at byte 6: unpaired surrogate \\uD83D in string", 6);
    REJECT(f, "{\"a\":\"\\", "invalid JSON at byte 7: unterminated string", 7);
    REJECT(f, "{\"a\":\"abc", "invalid JSON at byte 9: unterminated string", 9);
}

static void nul_in_values_not_keys(void **state)
{
    fx *f = *state;
    static const char rec[] = "{\"n\":\"a\\u0000b\"}";
    assert_int_equal(scan_opts(f, rec, sizeof rec - 1, 0, 0), PM_OK);
    const pm_value *v = field(f, "n");
    assert_int_equal(v->kind, PM_V_STRING);
    assert_int_equal(v->len, 3);
    assert_memory_equal(v->s, "a\0b", 4);
    /* a field name is a C string; NUL would silently cut it */
    REJECT(f, "{\"a\\u0000\":1}", "invalid JSON at byte 1: \\u0000 in object key", 1);
    /* a raw NUL byte is a control character, in or out of a string */
    REJECT(f, "{\"a\":\"x\0y\"}",
           "invalid JSON at byte 7: control character 0x00 in string (must be escaped)", 7);
    REJECT(f, "{\"a\":null\0}",
           "invalid JSON at byte 9: expected ',' or '}' after object member, got byte 0x00", 9);
}

static void nested_objects_are_flattened(void **state)
{
    fx *f = *state;
    assert_int_equal(
        scan(f, "{\"id\":1,\"a\":{\"b\":1,\"c\":{\"d\":2},\"e\":{}},\"f\":{},\"g\":3}"), PM_OK);
    assert_int_equal(f->rec.nfields, 4);
    assert_string_equal(f->rec.fields[0].name, "id");
    assert_string_equal(f->rec.fields[1].name, "a__b");
    assert_int_equal(f->rec.fields[1].name_len, 4);
    assert_string_equal(f->rec.fields[2].name, "a__c__d");
    assert_string_equal(f->rec.fields[3].name, "g");
    assert_text(field(f, "a__c__d"), PM_V_NUMBER, "2");

    /* escaped keys are unescaped in the path */
    assert_int_equal(scan(f, "{\"\\u00e9\":{\"x\\\"y\":true}}"), PM_OK);
    assert_int_equal(field(f, "\xc3\xa9__x\"y")->kind, PM_V_BOOL);
}

static void flattening_stops_at_flatten_depth(void **state)
{
    fx *f = *state;
    /* default 8: nine names in the path, the tenth object kept whole */
    assert_int_equal(scan(f, "{\"l1\":{\"l2\":{\"l3\":{\"l4\":{\"l5\":{\"l6\":{\"l7\":{\"l8\":"
                             "{\"l9\":{\"x\": 1}, \"y\":2}}}}}}}}}"),
                     PM_OK);
    assert_int_equal(f->rec.nfields, 2);
    assert_text(field(f, "l1__l2__l3__l4__l5__l6__l7__l8__l9"), PM_V_OBJECT, "{\"x\": 1}");
    assert_text(field(f, "l1__l2__l3__l4__l5__l6__l7__l8__y"), PM_V_NUMBER, "2");

    static const char rec[] = "{\"a\":{\"b\":{\"c\":1}},\"d\":{\"e\":[]}}";
    assert_int_equal(scan_opts(f, rec, sizeof rec - 1, 0, 1), PM_OK);
    assert_int_equal(f->rec.nfields, 2);
    assert_text(field(f, "a__b"), PM_V_OBJECT, "{\"c\":1}");
    assert_text(field(f, "d__e"), PM_V_ARRAY, "[]");
    /* negative: nothing is flattened */
    assert_int_equal(scan_opts(f, rec, sizeof rec - 1, 0, -1), PM_OK);
    assert_text(field(f, "a"), PM_V_OBJECT, "{\"b\":{\"c\":1}}");
}

static void arrays_are_kept_as_text(void **state)
{
    fx *f = *state;
    assert_int_equal(scan(f, "{\"a\":[ 1 , \"x\\n\" ,{\"k\":[true,null]},[] ],\"b\":[],\"c\":1}"),
                     PM_OK);
    assert_int_equal(f->rec.nfields, 3);
    assert_text(field(f, "a"), PM_V_ARRAY, "[ 1 , \"x\\n\" ,{\"k\":[true,null]},[] ]");
    assert_text(field(f, "b"), PM_V_ARRAY, "[]");
    assert_text(field(f, "c"), PM_V_NUMBER, "1");
    /* and validated in full */
    REJECT(f, "{\"a\":[1,01]}", "invalid JSON at byte 8: leading zero in number", 8);
    REJECT(f, "{\"a\":[{\"k\":1,\"k\":2}]}", "duplicate key \"k\" at byte 13", 13);
    REJECT(f, "{\"a\":[1 2]}",
           "invalid JSON at byte 8: expected ',' or ']' after array element, got '2'", 8);
    REJECT(f, "{\"a\":[\"\xff\"]}", "invalid UTF-8 at byte 7", 7);
    REJECT(f, "{\"a\":[1,2}",
           "invalid JSON at byte 9: expected ',' or ']' after array element, "
           "got '}'",
           9);
}

static char *repeat(const char *head, const char *unit, size_t times, const char *tail)
{
    size_t hl = strlen(head), ul = strlen(unit), tl = strlen(tail);
    char *s = malloc(hl + ul * times + tl + 1);
    memcpy(s, head, hl);
    for (size_t i = 0; i < times; i++)
        memcpy(s + hl + i * ul, unit, ul);
    memcpy(s + hl + ul * times, tail, tl + 1);
    return s;
}

static void deep_nesting_is_rejected(void **state)
{
    fx *f = *state;
    char *s = repeat("{\"a\":", "[", 100000, "");
    assert_int_equal(scan(f, s), PM_ERR_PARSE);
    assert_string_equal(f->err.msg, "nesting deeper than 64 levels at byte 68");
    free(s);

    s = repeat("", "{\"a\":", 100000, "1");
    assert_int_equal(scan(f, s), PM_ERR_PARSE);
    assert_string_equal(f->err.msg, "nesting deeper than 64 levels at byte 320");
    assert_int_equal(f->rec.malformed_at, 320);
    free(s);

    /* 64 levels (the record's object is the first) are fine, 65 are not */
    s = repeat("{\"a\":", "[", 63, "");
    char *t = repeat(s, "]", 63, "}");
    assert_int_equal(scan(f, t), PM_OK);
    free(s);
    free(t);
    s = repeat("{\"a\":", "[", 64, "");
    t = repeat(s, "]", 64, "}");
    assert_int_equal(scan(f, t), PM_ERR_PARSE);
    free(s);
    free(t);

    /* max_depth is an option; deeper than the frames kept on the C stack */
    s = repeat("{\"a\":", "[", 199, "");
    t = repeat(s, "]", 199, "}");
    assert_int_equal(scan_opts(f, t, strlen(t), 200, 0), PM_OK);
    assert_int_equal(scan_opts(f, t, strlen(t), 199, 0), PM_ERR_PARSE);
    assert_string_equal(f->err.msg, "nesting deeper than 199 levels at byte 203");
    free(s);
    free(t);
}

static void invalid_utf8(void **state)
{
    fx *f = *state;
    REJECT(f, "{\"a\":\"\xc0\xaf\"}", "invalid UTF-8 at byte 6", 6);         /* overlong '/' */
    REJECT(f, "{\"a\":\"x\xe0\x80\xaf\"}", "invalid UTF-8 at byte 7", 7);    /* overlong 3 */
    REJECT(f, "{\"a\":\"\xf0\x80\x80\xaf\"}", "invalid UTF-8 at byte 6", 6); /* overlong 4 */
    REJECT(f, "{\"a\":\"\xed\xa0\x80\"}", "invalid UTF-8 at byte 6", 6);     /* surrogate */
    REJECT(f, "{\"a\":\"\xe2\x82\"}", "invalid UTF-8 at byte 6", 6);         /* truncated */
    REJECT(f, "{\"a\":\"\xe2\x82", "invalid UTF-8 at byte 6", 6);            /* at the end */
    REJECT(f, "{\"a\":\"\xf4\x90\x80\x80\"}", "invalid UTF-8 at byte 6", 6); /* > U+10FFFF */
    REJECT(f, "{\"a\":\"\x80\"}", "invalid UTF-8 at byte 6", 6);             /* continuation */
    REJECT(f, "{\"a\":\"\xfe\"}", "invalid UTF-8 at byte 6", 6);             /* never valid */
    REJECT(f, "{\"k\xff\":1}", "invalid UTF-8 at byte 3", 3);                /* in a key */
    REJECT(f, "{\"a\":1\xff}", "invalid UTF-8 at byte 6", 6);                /* outside */
    /* the ASCII fast path must not skip a bad byte in a long string */
    REJECT(f, "{\"a\":\"0123456789abcdef0123456789\xc3(\"}", "invalid UTF-8 at byte 32", 32);
    REJECT(f, "{\"a\":1\xc3\xa9}",
           "invalid JSON at byte 6: expected ',' or '}' after object member, got U+00E9", 6);
}

static void control_characters(void **state)
{
    fx *f = *state;
    REJECT(f, "{\"a\":\"x\ny\"}",
           "invalid JSON at byte 7: control character 0x0A in string (must be escaped)", 7);
    REJECT(f, "{\"a\":\"0123456789abcdef\t\"}",
           "invalid JSON at byte 22: control character 0x09 in string (must be escaped)", 22);
    REJECT(f, "{\"a\x1f\":1}",
           "invalid JSON at byte 3: control character 0x1F in string (must be escaped)", 3);
    /* DEL is not a control character for JSON */
    assert_int_equal(scan(f, "{\"a\":\"\x7f\"}"), PM_OK);
}

static void trailing_commas(void **state)
{
    fx *f = *state;
    REJECT(f, "{\"a\":1,}", "invalid JSON at byte 7: trailing comma before '}'", 7);
    REJECT(f, "{\"a\":1 , \n}", "invalid JSON at byte 10: trailing comma before '}'", 10);
    REJECT(f, "{\"a\":[1,]}", "invalid JSON at byte 8: trailing comma before ']'", 8);
    REJECT(f, "{\"a\":[,1]}", "invalid JSON at byte 6: expected a value, got ','", 6);
    REJECT(f, "{,\"a\":1}", "invalid JSON at byte 1: expected a string key or '}', got ','", 1);
}

static void duplicate_keys(void **state)
{
    fx *f = *state;
    REJECT(f, "{\"id\":1,\"x\":2,\"id\":3}", "duplicate key \"id\" at byte 14", 14);
    REJECT(f, "{\"a\":1,\"\\u0061\":2}", "duplicate key \"a\" at byte 7", 7);
    REJECT(f, "{\"o\":{\"b\":1,\"b\":2}}", "duplicate key \"b\" at byte 12", 12);
    /* even when the values would give no field */
    REJECT(f, "{\"o\":{},\"o\":{}}", "duplicate key \"o\" at byte 8", 8);
    /* a key that cannot be printed as is is escaped in the message */
    REJECT(f, "{\"q\\\"\\n\":1,\"q\\\"\\n\":2}", "duplicate key \"q\\\"\\u000A\" at byte 11", 11);
    /* the same key in sibling objects is fine */
    assert_int_equal(scan(f, "{\"a\":{\"id\":1},\"b\":{\"id\":2},\"c\":[{\"id\":1},{\"id\":1}]}"),
                     PM_OK);
    assert_int_equal(f->rec.nfields, 3);
}

static void many_keys(void **state)
{
    fx *f = *state;
    /* past the linear list into the hash index, and enough fields to grow
     * the field array several times */
    char *s = malloc(64 * 2000 + 16), *p = s;
    p += sprintf(p, "{");
    for (int i = 0; i < 2000; i++)
        p += sprintf(p, "%s\"key%d\":%d", i ? "," : "", i, i);
    sprintf(p, "}");
    assert_int_equal(scan(f, s), PM_OK);
    assert_int_equal(f->rec.nfields, 2000);
    assert_string_equal(f->rec.fields[1999].name, "key1999");
    assert_text(&f->rec.fields[1234].v, PM_V_NUMBER, "1234");

    sprintf(p, ",\"key1500\":0}");
    assert_int_equal(scan(f, s), PM_ERR_PARSE);
    char want[64];
    snprintf(want, sizeof want, "duplicate key \"key1500\" at byte %td", p + 1 - s);
    assert_string_equal(f->err.msg, want);
    assert_int_equal(f->rec.malformed_at, (uint64_t)(p + 1 - s));
    free(s);
}

static void flattened_names_must_not_collide(void **state)
{
    fx *f = *state;
    REJECT(f, "{\"a__b\":1,\"a\":{\"b\":2}}",
           "duplicate field \"a__b\" at byte 15 after flattening nested objects", 15);
    REJECT(f, "{\"a\":{\"b\":2},\"a__b\":1}",
           "duplicate field \"a__b\" at byte 13 after flattening nested objects", 13);
    REJECT(f, "{\"a_\":{\"_b\":1},\"a\":{\"__b\":2}}",
           "duplicate field \"a____b\" at byte 20 after flattening nested objects", 20);
    /* names that only look alike are fine */
    assert_int_equal(scan(f, "{\"a__b\":{\"c\":1},\"a\":{\"b\":{\"d\":2}},\"_\":{\"_\":3}}"),
                     PM_OK);
    assert_int_equal(f->rec.nfields, 3);
    assert_text(field(f, "a__b__c"), PM_V_NUMBER, "1");
    assert_text(field(f, "a__b__d"), PM_V_NUMBER, "2");
    assert_text(field(f, "____"), PM_V_NUMBER, "3");
}

static void trailing_garbage(void **state)
{
    fx *f = *state;
    REJECT(f, "{\"a\":1} x",
           "invalid JSON at byte 8: expected end of record after the closing '}', got 'x'", 8);
    REJECT(f, "{\"a\":1}{\"b\":2}",
           "invalid JSON at byte 7: expected end of record after the closing '}', got '{'", 7);
    REJECT(f, "{\"a\":1}}",
           "invalid JSON at byte 7: expected end of record after the closing '}', got '}'", 7);
    REJECT(f, "{\"a\":1}\0",
           "invalid JSON at byte 7: expected end of record after the closing '}', got byte 0x00",
           7);
    REJECT(f, "{\"a\":1",
           "invalid JSON at byte 6: expected ',' or '}' after object member, got "
           "end of input",
           6);
    REJECT(f, "{\"a\" 1}", "invalid JSON at byte 5: expected ':' after object key, got '1'", 5);
    REJECT(f, "{\"a\":1 /* c */}",
           "invalid JSON at byte 7: expected ',' or '}' after object member, got '/'", 7);
    /* JSON whitespace around the record is allowed, other spaces are not */
    assert_int_equal(scan(f, " \t\r\n{ \"a\" :\t1 } \r\n"), PM_OK);
    REJECT(f, "{\"a\":1}\f",
           "invalid JSON at byte 7: expected end of record after the closing "
           "'}', got byte 0x0C",
           7);
}

static void bom_is_not_json(void **state)
{
    fx *f = *state;
    /* the NDJSON reader strips a BOM at the start of a file; jscan sees
     * records, and a BOM inside one is an error */
    REJECT(f, "\xef\xbb\xbf{\"a\":1}",
           "invalid JSON at byte 0: expected '{' (a record must be a JSON object), got U+FEFF", 0);
}

static void records_must_be_objects(void **state)
{
    fx *f = *state;
    REJECT(f, "[1,2]",
           "invalid JSON at byte 0: expected '{' (a record must be a JSON object), got '['", 0);
    REJECT(f, " \"x\"",
           "invalid JSON at byte 1: expected '{' (a record must be a JSON object), got '\"'", 1);
    REJECT(f, "42",
           "invalid JSON at byte 0: expected '{' (a record must be a JSON object), got '4'", 0);
    REJECT(f, "",
           "invalid JSON at byte 0: expected '{' (a record must be a JSON object), got end "
           "of input",
           0);
    REJECT(f, "{'a':1}", "invalid JSON at byte 1: expected a string key or '}', got '''", 1);
    REJECT(f, "{a:1}", "invalid JSON at byte 1: expected a string key or '}', got 'a'", 1);
}

static void empty_object_has_no_fields(void **state)
{
    fx *f = *state;
    assert_int_equal(scan(f, "{}"), PM_OK);
    assert_int_equal(f->rec.nfields, 0);
    assert_int_equal(scan(f, "  { \n }  "), PM_OK);
    assert_int_equal(f->rec.nfields, 0);
    assert_int_equal(scan(f, "{\"a\":{\"b\":{}}}"), PM_OK);
    assert_int_equal(f->rec.nfields, 0);
}

static void leaves_raw_and_position_alone(void **state)
{
    fx *f = *state;
    pm_record rec = {.raw = "x", .raw_len = 1, .offset = 7, .end = 9, .line = 3};
    pm_err err;
    jscan_opts o = {0};
    assert_int_equal(jscan_record("{\"a\":1}", 7, &o, f->arena, &rec, &err), PM_OK);
    assert_int_equal(rec.nfields, 1);
    assert_string_equal(rec.raw, "x");
    assert_int_equal(rec.offset, 7);
    assert_int_equal(rec.end, 9);
    assert_int_equal(rec.line, 3);
    /* NULL options and NULL err are allowed */
    assert_int_equal(jscan_record("{\"a\":1,}", 8, NULL, f->arena, &rec, NULL), PM_ERR_PARSE);
    assert_int_equal(rec.nfields, 0);
    assert_int_equal(rec.malformed_at, 7);
    assert_string_equal(rec.malformed, "invalid JSON at byte 7: trailing comma before '}'");
    assert_int_equal(rec.line, 3);
}

/* ---- the string scanner's blocks ------------------------------------------
 * Strings are searched sixteen bytes at a time (eight, then one by one near
 * the end of the record) for the bytes that need a look. Each such byte is
 * tried at every position of the first three blocks of a string, with the
 * string's end (and the record's) at every distance behind it, in a buffer
 * of exactly the record's size, so that a read past it fails under
 * AddressSanitizer. */

/* Scans the record pre + body + post from an exact-size copy. */
static pm_code scan_exact(fx *f, const char *pre, const char *body, size_t body_len,
                          const char *post)
{
    size_t a = strlen(pre), c = strlen(post), n = a + body_len + c;
    char *buf = malloc(n ? n : 1);
    memcpy(buf, pre, a);
    memcpy(buf + a, body, body_len);
    memcpy(buf + a + body_len, post, c);
    pm_code rc = scan_opts(f, buf, n, 0, 0);
    /* the fields live in the arena, never in the input */
    for (size_t i = 0; rc == PM_OK && i < f->rec.nfields; i++) {
        const pm_field *x = &f->rec.fields[i];
        assert_true(x->name < buf || x->name >= buf + n);
        assert_true(x->v.s < buf || x->v.s >= buf + n);
    }
    free(buf);
    return rc;
}

/* body = k bytes 'a', then mid, then t bytes 'b'. */
static size_t body_at(char *out, size_t k, const char *mid, size_t mid_len, size_t t)
{
    memset(out, 'a', k);
    memcpy(out + k, mid, mid_len);
    memset(out + k + mid_len, 'b', t);
    return k + mid_len + t;
}

static void special_bytes_at_every_block_position(void **state)
{
    fx *f = *state;
    /* what the string holds -> what it decodes to */
    static const struct {
        const char *in, *out;
    } kinds[] = {
        {"\\\"", "\""},
        {"\\\\", "\\"},
        {"\\/", "/"},
        {"\\n", "\n"},
        {"\\u00e9", "\xc3\xa9"},
        {"\\ud83d\\ude00", "\xf0\x9f\x98\x80"},
        {"\xc3\xa9", "\xc3\xa9"},
        {"\xe2\x82\xac", "\xe2\x82\xac"},
        {"\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80"},
        {"\xdf\xbf", "\xdf\xbf"},
        {"\x7f", "\x7f"},
        {"\x1f", NULL}, /* NULL: see below */
    };
    static const size_t tails[] = {0, 1, 7, 8, 9, 15, 16, 17, 31};
    char body[128], want[128];
    for (size_t ki = 0; ki < sizeof kinds / sizeof *kinds; ki++) {
        if (!kinds[ki].out)
            continue; /* control characters: rejected, below */
        for (size_t k = 0; k < 48; k++) {
            for (size_t ti = 0; ti < sizeof tails / sizeof *tails; ti++) {
                size_t t = tails[ti];
                size_t bn = body_at(body, k, kinds[ki].in, strlen(kinds[ki].in), t);
                size_t wn = body_at(want, k, kinds[ki].out, strlen(kinds[ki].out), t);
                want[wn] = '\0';
                /* as a value, last in the record and before another member */
                assert_int_equal(scan_exact(f, "{\"v\":\"", body, bn, "\"}"), PM_OK);
                assert_text(field(f, "v"), PM_V_STRING, want);
                assert_int_equal(scan_exact(f, "{\"v\":\"", body, bn, "\",\"w\":1}"), PM_OK);
                assert_text(field(f, "v"), PM_V_STRING, want);
                /* as a key, of a flat and of a nested member */
                assert_int_equal(scan_exact(f, "{\"", body, bn, "\":1}"), PM_OK);
                assert_text(field(f, want), PM_V_NUMBER, "1");
                char nested[160];
                snprintf(nested, sizeof nested, "o__%s", want);
                assert_int_equal(scan_exact(f, "{\"o\":{\"", body, bn, "\":true}}"), PM_OK);
                assert_int_equal(field(f, nested)->kind, PM_V_BOOL);
            }
        }
    }
}

static void rejections_at_every_block_position(void **state)
{
    fx *f = *state;
    static const struct {
        const char *bad; /* at position k of a string that starts at byte 6 */
        size_t len;
        const char *what; /* message after "at byte N", or NULL for UTF-8 */
    } kinds[] = {
        {"\x01", 1, "control character 0x01 in string (must be escaped)"},
        {"\x1f", 1, "control character 0x1F in string (must be escaped)"},
        {"\xc3(", 2, NULL},            /* a lead byte without its continuation */
        {"\xc3\xc3\xa9", 3, NULL},     /* a lead byte followed by another lead */
        {"\xc0\xaf", 2, NULL},         /* overlong two-byte '/' */
        {"\xc1\xbf", 2, NULL},         /* overlong */
        {"\x80", 1, NULL},             /* a lone continuation byte */
        {"\xe2\x82(", 3, NULL},        /* three bytes cut after two */
        {"\xed\xa0\x80", 3, NULL},     /* a surrogate */
        {"\xf4\x90\x80\x80", 4, NULL}, /* above U+10FFFF */
        {"\xff", 1, NULL},
    };
    static const size_t tails[] = {0, 1, 8, 15, 16, 17};
    char body[128], msg[160];
    for (size_t ki = 0; ki < sizeof kinds / sizeof *kinds; ki++) {
        for (size_t k = 0; k < 48; k++) {
            for (size_t ti = 0; ti < sizeof tails / sizeof *tails; ti++) {
                size_t bn = body_at(body, k, kinds[ki].bad, kinds[ki].len, tails[ti]);
                size_t at = 6 + k;
                if (kinds[ki].what)
                    snprintf(msg, sizeof msg, "invalid JSON at byte %zu: %s", at, kinds[ki].what);
                else
                    snprintf(msg, sizeof msg, "invalid UTF-8 at byte %zu", at);
                assert_int_equal(scan_exact(f, "{\"v\":\"", body, bn, "\"}"), PM_ERR_PARSE);
                assert_string_equal(f->err.msg, msg);
                assert_int_equal(f->rec.malformed_at, at);
                /* in a key: the same byte, one place earlier */
                assert_int_equal(scan_exact(f, "{\"x\":1,\"", body, bn, "\":1}"), PM_ERR_PARSE);
                assert_int_equal(f->rec.malformed_at, 8 + k);
            }
        }
    }
}

/* A string (and the record) that ends inside the scanner's block. */
static void strings_cut_at_the_end_of_the_record(void **state)
{
    fx *f = *state;
    char body[128], msg[160];
    for (size_t k = 0; k < 48; k++) {
        size_t bn = body_at(body, k, "", 0, 0);
        /* no closing quote: the string runs to the last byte */
        snprintf(msg, sizeof msg, "invalid JSON at byte %zu: unterminated string", 6 + k);
        assert_int_equal(scan_exact(f, "{\"v\":\"", body, bn, ""), PM_ERR_PARSE);
        assert_string_equal(f->err.msg, msg);
        assert_int_equal(f->rec.malformed_at, 6 + k);
        /* a backslash as the last byte */
        snprintf(msg, sizeof msg, "invalid JSON at byte %zu: unterminated string", 7 + k);
        assert_int_equal(scan_exact(f, "{\"v\":\"", body, bn, "\\"), PM_ERR_PARSE);
        assert_string_equal(f->err.msg, msg);
        /* a sequence cut by the end of the record: two-, three-, four-byte */
        static const char *cut[] = {"\xc3", "\xe2\x82", "\xf0\x9f\x98"};
        for (size_t c = 0; c < 3; c++) {
            snprintf(msg, sizeof msg, "invalid UTF-8 at byte %zu", 6 + k);
            bn = body_at(body, k, cut[c], strlen(cut[c]), 0);
            assert_int_equal(scan_exact(f, "{\"v\":\"", body, bn, ""), PM_ERR_PARSE);
            assert_string_equal(f->err.msg, msg);
        }
        /* the closing quote as the last byte: a string, then no '}' */
        bn = body_at(body, k, "", 0, 0);
        snprintf(msg, sizeof msg,
                 "invalid JSON at byte %zu: expected ',' or '}' after object member, got end of "
                 "input",
                 7 + k);
        assert_int_equal(scan_exact(f, "{\"v\":\"", body, bn, "\""), PM_ERR_PARSE);
        assert_string_equal(f->err.msg, msg);
        /* and a complete record of that length */
        assert_int_equal(scan_exact(f, "{\"v\":\"", body, bn, "\"}"), PM_OK);
        body[bn] = '\0';
        assert_text(field(f, "v"), PM_V_STRING, body);
    }
}

/* A duplicate among the first keys of an object (where the keys are a
 * list with a filter in front) at every position, and past it (a hash
 * index); in a nested object as well. */
static void duplicate_keys_at_every_position(void **state)
{
    fx *f = *state;
    char s[1024], want[128];
    for (int nkeys = 1; nkeys <= 20; nkeys++) {
        for (int dup = 0; dup < nkeys; dup++) {
            for (int nested = 0; nested < 2; nested++) {
                int o = snprintf(s, sizeof s, "%s", nested ? "{\"n\":{" : "{");
                for (int i = 0; i < nkeys; i++) /* keys of one length and of several */
                    o += snprintf(s + o, sizeof s - o, "%s\"k%d\":%d", i ? "," : "", i * 7, i);
                snprintf(s + o, sizeof s - o, "}}"); /* without the duplicate: fine */
                assert_int_equal(scan_opts(f, s, (size_t)o + 1 + nested, 0, 0), PM_OK);
                assert_int_equal(f->rec.nfields, nkeys);
                int at = o + 1;
                snprintf(s + o, sizeof s - o, ",\"k%d\":0}%s", dup * 7, nested ? "}" : "");
                snprintf(want, sizeof want, "duplicate key \"k%d\" at byte %d", dup * 7, at);
                assert_int_equal(scan(f, s), PM_ERR_PARSE);
                assert_string_equal(f->err.msg, want);
                assert_int_equal(f->rec.malformed_at, at);
            }
        }
    }
}

/* "__" at every place of a key, which is what lets two paths join into one
 * name: the record-wide check must run, and catch the collision. */
static void joined_names_with_the_separator_anywhere(void **state)
{
    fx *f = *state;
    char pre[40], suf[40], s[256], want[200];
    for (size_t i = 1; i < 24; i++) {
        for (size_t j = 1; j < 24; j += 3) {
            memset(pre, 'p', i), pre[i] = '\0';
            memset(suf, 's', j), suf[j] = '\0';
            /* flat "p..__s..", then the object that flattens to it */
            int n = snprintf(s, sizeof s, "{\"%s__%s\":1,\"%s\":{\"%s\":2}}", pre, suf, pre, suf);
            size_t at = (size_t)snprintf(NULL, 0, "{\"%s__%s\":1,\"%s\":{", pre, suf, pre);
            snprintf(want, sizeof want,
                     "duplicate field \"%s__%s\" at byte %zu after flattening nested objects", pre,
                     suf, at);
            assert_rejected(f, s, (size_t)n, want, at);
            /* the same with the flat key last in a longer record */
            n = snprintf(s, sizeof s, "{\"%s\":{\"%s\":2},\"%s__%s\":1,\"tail\":\"0123456789\"}",
                         pre, suf, pre, suf);
            at = (size_t)snprintf(NULL, 0, "{\"%s\":{\"%s\":2},", pre, suf);
            snprintf(want, sizeof want,
                     "duplicate field \"%s__%s\" at byte %zu after flattening nested objects", pre,
                     suf, at);
            assert_rejected(f, s, (size_t)n, want, at);
            /* and a single '_' there is no separator: no collision */
            n = snprintf(s, sizeof s, "{\"%s_%s\":1,\"%s\":{\"%s\":2}}", pre, suf, pre, suf);
            assert_int_equal(scan_opts(f, s, (size_t)n, 0, 0), PM_OK);
        }
    }
}

/* The memo of keys: a sequence of records scanned with one memo must give,
 * record by record, exactly what each gives alone without it: keys that
 * repeat (taken from the memo), keys that only start like the remembered
 * one, change place, gain escapes, run past the record's end or past the
 * memo's room, duplicates of a remembered key, and a joined name whose
 * risky key came from the memo. */
static void memo_of_keys_changes_nothing(void **state)
{
    fx *f = *state;
    static const char *const seq[] = {
        "{\"order_id\":1,\"status\":\"new\",\"ship\":{\"method\":\"air\",\"cost\":1.5}}",
        "{\"order_id\":2,\"status\":\"old\",\"ship\":{\"method\":\"sea\",\"cost\":2}}",
        "{\"order_id\":3,\"statusx\":\"x\",\"ship\":{\"method\":\"sea\",\"cost\":2}}",
        "{\"order_id\":4,\"statu\":\"x\",\"ship\":{\"method\":\"sea\",\"cost\":2}}",
        "{\"order_id\":5,\"st\\u0061tus\":\"x\",\"ship\":{\"method\":\"sea\"}}",
        "{\"order_id\":6,\"status\":\"a\",\"status\":\"b\"}",
        "{\"order_id\":7,\"order_id\":8}",
        "{\"order_id\":9,\"ship\":{\"method\":\"air\",\"method\":\"x\"}}",
        "{\"order_id\":10,\"status\":\"new\",\"ship\":{\"method\":\"air\",\"cost\":1.5}}",
        "{\"order_id\"",
        "{\"order_id",
        "{\"order_id\":",
        "{\"order_id\":11,\"status\"",
        "{\"a__b\":1,\"a\":{\"c\":2}}",
        "{\"a__b\":1,\"a\":{\"b\":2}}",
        "{\"a__b\":1,\"a\":{\"c\":2}}",
        "{\"x\":[{\"k\":1},{\"k\":2,\"k\":3}]}",
        "{\"x\":[{\"k\":1},{\"k\":2}],\"y\":1}",
        "{\"\":1,\"e\":\"\"}",
        "{\"\":1,\"\":2}",
        "{\"caf\xc3\xa9\":1,\"na\xc3\xafve\":2}",
        "{\"caf\xc3\xa9\":1,\"na\xc3\xafve\":2,\"caf\xc3\xa9\":3}",
        "{\"caf\xc3\":1}",
        "{\"ctl\x01\":1}",
        "{\"ctl\":1}",
        /* what the memo holds for a key must be that key's bytes alone:
         * a later key's bytes written over it, or an entry left from a
         * longer record, would let a cut sequence through */
        "{\"abcd\":1,\"caf\xc3\xa9\":2}",
        "{\"caf\xc3\":1}",
        "{\"a\":1,\"bb\":2,\"cc\":3}",
        "{\"a\":1,\"caf\xc3\xa9\":2}",
        "{\"a\":1,\"caf\xc3\xa9\":2,\"f\xc3\":3}",
    };
    jscan_memo *memo = jscan_memo_new();
    char big[8192];
    for (int pass = 0; pass < 3; pass++) {
        for (size_t i = 0; i < sizeof seq / sizeof *seq + 3; i++) {
            const char *rec = i < sizeof seq / sizeof *seq ? seq[i] : big;
            if (rec == big) {
                /* past the memo's room: many keys, then long keys */
                int o = snprintf(big, sizeof big, "{");
                size_t extra = i - sizeof seq / sizeof *seq;
                for (int k = 0; k < 80; k++)
                    o += snprintf(big + o, sizeof big - (size_t)o, "%s\"key%0*d\":%d", k ? "," : "",
                                  (int)(1 + extra * 40), k, k);
                snprintf(big + o, sizeof big - (size_t)o, "}");
            }
            size_t n = strlen(rec);
            /* without the memo */
            scan_opts(f, rec, n, 0, 0);
            pm_code rc = f->rc;
            char msg[sizeof f->err.msg];
            memcpy(msg, f->err.msg, sizeof msg);
            uint64_t at = f->rec.malformed_at;
            size_t nf = f->rec.nfields;
            pm_field *fields = f->rec.fields;
            /* with it */
            jscan_opts o = {.memo = memo};
            pm_record r;
            pm_err e;
            memset(&r, 0, sizeof r);
            memset(&e, 0, sizeof e);
            assert_int_equal(jscan_record(rec, n, &o, f->arena, &r, &e), rc);
            assert_string_equal(e.msg, msg);
            assert_int_equal(r.malformed_at, at);
            assert_int_equal(r.nfields, nf);
            for (size_t k = 0; k < nf; k++) {
                assert_int_equal(r.fields[k].name_len, fields[k].name_len);
                assert_string_equal(r.fields[k].name, fields[k].name);
                assert_int_equal(r.fields[k].v.kind, fields[k].v.kind);
                assert_int_equal(r.fields[k].v.len, fields[k].v.len);
                assert_memory_equal(r.fields[k].v.s, fields[k].v.s, fields[k].v.len);
            }
        }
    }
    jscan_memo_free(memo);
    /* and the verdicts themselves, with a memo that has seen the keys */
    memo = jscan_memo_new();
    jscan_opts o = {.memo = memo};
    pm_record r;
    pm_err e;
    const char *ok = "{\"id\":1,\"a\":{\"b\":2}}";
    assert_int_equal(jscan_record(ok, strlen(ok), &o, f->arena, &r, &e), PM_OK);
    const char *dup = "{\"id\":1,\"a\":{\"b\":2,\"b\":3}}";
    assert_int_equal(jscan_record(dup, strlen(dup), &o, f->arena, &r, &e), PM_ERR_PARSE);
    assert_string_equal(e.msg, "duplicate key \"b\" at byte 19");
    const char *joined = "{\"a__b\":1,\"a\":{\"c\":2}}";
    assert_int_equal(jscan_record(joined, strlen(joined), &o, f->arena, &r, &e), PM_OK);
    joined = "{\"a__b\":1,\"a\":{\"b\":2}}";
    assert_int_equal(jscan_record(joined, strlen(joined), &o, f->arena, &r, &e), PM_ERR_PARSE);
    assert_string_equal(e.msg,
                        "duplicate field \"a__b\" at byte 15 after flattening nested objects");
    jscan_memo_free(memo);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(values_of_each_kind, setup, teardown),
        cmocka_unit_test_setup_teardown(numbers_are_exact_text, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_numbers, setup, teardown),
        cmocka_unit_test_setup_teardown(escapes_and_surrogates, setup, teardown),
        cmocka_unit_test_setup_teardown(nul_in_values_not_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(nested_objects_are_flattened, setup, teardown),
        cmocka_unit_test_setup_teardown(flattening_stops_at_flatten_depth, setup, teardown),
        cmocka_unit_test_setup_teardown(arrays_are_kept_as_text, setup, teardown),
        cmocka_unit_test_setup_teardown(deep_nesting_is_rejected, setup, teardown),
        cmocka_unit_test_setup_teardown(invalid_utf8, setup, teardown),
        cmocka_unit_test_setup_teardown(control_characters, setup, teardown),
        cmocka_unit_test_setup_teardown(trailing_commas, setup, teardown),
        cmocka_unit_test_setup_teardown(duplicate_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(many_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(flattened_names_must_not_collide, setup, teardown),
        cmocka_unit_test_setup_teardown(trailing_garbage, setup, teardown),
        cmocka_unit_test_setup_teardown(bom_is_not_json, setup, teardown),
        cmocka_unit_test_setup_teardown(records_must_be_objects, setup, teardown),
        cmocka_unit_test_setup_teardown(empty_object_has_no_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(leaves_raw_and_position_alone, setup, teardown),
        cmocka_unit_test_setup_teardown(special_bytes_at_every_block_position, setup, teardown),
        cmocka_unit_test_setup_teardown(rejections_at_every_block_position, setup, teardown),
        cmocka_unit_test_setup_teardown(strings_cut_at_the_end_of_the_record, setup, teardown),
        cmocka_unit_test_setup_teardown(duplicate_keys_at_every_position, setup, teardown),
        cmocka_unit_test_setup_teardown(joined_names_with_the_separator_anywhere, setup, teardown),
        cmocka_unit_test_setup_teardown(memo_of_keys_changes_nothing, setup, teardown),
    };
    return cmocka_run_group_tests_name("jscan", tests, NULL, NULL);
}
