/* test_source.c - the source module cuts files into records at the right
 * bytes: NDJSON lines and RFC 4180 CSV rows, with exact offsets that a
 * checkpoint can resume from, and malformed input reported per record. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <xxhash.h>

#include "core/arena.h"
#include "core/hash.h"
#include "source/source.h"

/* ---- helpers ----------------------------------------------------------- */

/* Writes data to a new file under /tmp; caller unlinks and frees the path. */
static char *tmp_file(const void *data, size_t n)
{
    char *path = strdup("/tmp/pm_test_source_XXXXXX");
    assert_non_null(path);
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *p = data;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        assert_true(w > 0);
        p += w;
        n -= (size_t)w;
    }
    close(fd);
    return path;
}

static char *tmp_str(const char *s)
{
    return tmp_file(s, strlen(s));
}

static void tmp_done(char *path)
{
    unlink(path);
    free(path);
}

static pm_source *open_at(const char *path, pm_format fmt, size_t max_line, uint64_t start)
{
    pm_source_opts o;
    source_opts_default(&o);
    if (max_line)
        o.max_line = max_line;
    pm_source *src = NULL;
    pm_err err;
    pm_err_clear(&err);
    pm_code rc = source_open(path, fmt, &o, start, &src, &err);
    if (rc != PM_OK)
        fail_msg("source_open(%s): %s", path, err.msg);
    return src;
}

static void next_ok(pm_source *src, pm_arena *a, pm_record *rec)
{
    pm_err err;
    pm_err_clear(&err);
    pm_code rc = source_next(src, a, rec, &err);
    if (rc != PM_OK)
        fail_msg("source_next: %s (%s)", pm_code_name(rc), err.msg);
}

static void next_done(pm_source *src, pm_arena *a)
{
    pm_record rec;
    pm_err err;
    pm_err_clear(&err);
    assert_int_equal(source_next(src, a, &rec, &err), PM_DONE);
}

static void assert_raw(const pm_record *rec, const char *want)
{
    assert_int_equal(rec->raw_len, strlen(want));
    assert_memory_equal(rec->raw, want, rec->raw_len);
    assert_int_equal(rec->raw[rec->raw_len], '\0');
}

static const pm_field *field(const pm_record *rec, const char *name)
{
    for (size_t i = 0; i < rec->nfields; i++)
        if (strcmp(rec->fields[i].name, name) == 0)
            return &rec->fields[i];
    fail_msg("no field %s", name);
    return NULL;
}

static void assert_raw_field(const pm_record *rec, size_t i, const char *name, const char *val)
{
    assert_true(i < rec->nfields);
    assert_string_equal(rec->fields[i].name, name);
    assert_int_equal(rec->fields[i].name_len, strlen(name));
    assert_int_equal(rec->fields[i].v.kind, PM_V_RAW);
    assert_int_equal(rec->fields[i].v.len, strlen(val));
    assert_memory_equal(rec->fields[i].v.s, val, strlen(val));
    assert_int_equal(rec->fields[i].v.s[rec->fields[i].v.len], '\0');
}

/* Reads every record of path; for each, re-opens at its end and checks that
 * the next record read is the one that followed it. This is the exactly-once
 * resume contract of a checkpoint. */
static void check_resume(const char *path, pm_format fmt, size_t max_line)
{
    enum { MAXREC = 64 };
    pm_arena *a = pm_arena_new(0);
    pm_record recs[MAXREC];
    size_t n = 0;
    pm_source *src = open_at(path, fmt, max_line, 0);
    pm_err err;
    pm_err_clear(&err);
    while (n < MAXREC && source_next(src, a, &recs[n], &err) == PM_OK)
        n++;
    source_close(src);
    assert_true(n > 1);
    for (size_t i = 0; i < n; i++) {
        pm_arena *b = pm_arena_new(0);
        pm_source *s2 = open_at(path, fmt, max_line, recs[i].end);
        pm_record r;
        if (i + 1 == n) {
            next_done(s2, b);
        } else {
            next_ok(s2, b, &r);
            assert_int_equal(r.offset, recs[i + 1].offset);
            assert_int_equal(r.end, recs[i + 1].end);
            assert_int_equal(r.raw_len, recs[i + 1].raw_len);
            assert_memory_equal(r.raw, recs[i + 1].raw, r.raw_len);
            assert_int_equal(r.nfields, recs[i + 1].nfields);
        }
        source_close(s2);
        pm_arena_free(b);
    }
    pm_arena_free(a);
}

/* ---- NDJSON ------------------------------------------------------------ */

static void test_ndjson_basic(void **state)
{
    const char *text = "{\"id\":1,\"name\":\"a\"}\n{\"id\":2}\n{\"id\":3,\"x\":{\"y\":true}}\n";
    char *path = tmp_str(text);
    pm_arena *a = pm_arena_new(0);
    pm_source *src = open_at(path, PM_FMT_NDJSON, 0, 0);
    pm_record rec;

    next_ok(src, a, &rec);
    assert_null(rec.malformed);
    assert_raw(&rec, "{\"id\":1,\"name\":\"a\"}");
    assert_int_equal(rec.offset, 0);
    assert_int_equal(rec.end, 20);
    assert_int_equal(rec.line, 1);
    assert_int_equal(rec.nfields, 2);
    assert_int_equal(field(&rec, "id")->v.kind, PM_V_NUMBER);
    assert_memory_equal(field(&rec, "id")->v.s, "1", 1);
    assert_int_equal(field(&rec, "name")->v.kind, PM_V_STRING);

    next_ok(src, a, &rec);
    assert_raw(&rec, "{\"id\":2}");
    assert_int_equal(rec.offset, 20);
    assert_int_equal(rec.end, 29);
    assert_int_equal(rec.line, 2);

    next_ok(src, a, &rec);
    assert_int_equal(rec.offset, 29);
    assert_int_equal(rec.end, strlen(text));
    assert_int_equal(rec.line, 3);
    assert_int_equal(field(&rec, "x__y")->v.kind, PM_V_BOOL);
    assert_true(field(&rec, "x__y")->v.b);

    next_done(src, a);
    next_done(src, a); /* DONE stays DONE */
    source_close(src);
    pm_arena_free(a);
    tmp_done(path);
}

static void test_ndjson_bom_crlf_blank_lines(void **state)
{
    /* BOM, CRLF ends, an empty line, a whitespace-only line, a CRLF blank
     * line, and a last line without a line end. */
    const char *text = "\xEF\xBB\xBF{\"a\":1}\r\n\n  \t \n\r\n{\"a\":2}\r\n{\"a\":3}";
    char *path = tmp_str(text);
    pm_arena *a = pm_arena_new(0);
    pm_source *src = open_at(path, PM_FMT_NDJSON, 0, 0);
    pm_record rec;

    next_ok(src, a, &rec);
    assert_raw(&rec, "{\"a\":1}");
    assert_int_equal(rec.offset, 3); /* the BOM is skipped but counted */
    assert_int_equal(rec.end, 12);
    assert_int_equal(rec.line, 1);

    next_ok(src, a, &rec);
    assert_raw(&rec, "{\"a\":2}");
    assert_int_equal(rec.offset, 20);
    assert_int_equal(rec.end, 29);
    assert_int_equal(rec.line, 5);

    next_ok(src, a, &rec);
    assert_raw(&rec, "{\"a\":3}");
    assert_null(rec.malformed);
    assert_int_equal(rec.offset, 29);
    assert_int_equal(rec.end, strlen(text));
    assert_int_equal(rec.line, 6);

    next_done(src, a);
    source_close(src);
    pm_arena_free(a);
    tmp_done(path);
}

static void test_ndjson_empty_and_blank_files(void **state)
{
    const char *texts[] = {"", "\xEF\xBB\xBF", "\n\n  \n", "\r\n"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        char *path = tmp_str(texts[i]);
        pm_arena *a = pm_arena_new(0);
        pm_source *src = open_at(path, PM_FMT_NDJSON, 0, 0);
        next_done(src, a);
        source_close(src);
        pm_arena_free(a);
        tmp_done(path);
    }
}

static void test_ndjson_resume(void **state)
{
    const char *text = "\xEF\xBB\xBF{\"a\":1}\n\n{\"a\":2}\r\n{\"a\":\"x\"}\n  \n{\"b\":[1,2]}\n"
                       "{\"bad\":}\n{\"a\":5}";
    char *path = tmp_str(text);
    check_resume(path, PM_FMT_NDJSON, 0);

    /* A resume at the very end of the file finds nothing new. */
    pm_arena *a = pm_arena_new(0);
    pm_source *src = open_at(path, PM_FMT_NDJSON, 0, strlen(text));
    next_done(src, a);
    source_close(src);
    pm_arena_free(a);
    tmp_done(path);
}

static void test_ndjson_malformed_keeps_raw(void **state)
{
    const char *text = "{\"a\":}\n[1,2]\n{\"s\":\"\xC3\x28\"}\n{\"a\":1}\n";
    char *path = tmp_str(text);
    pm_arena *a = pm_arena_new(0);
    pm_source *src = open_at(path, PM_FMT_NDJSON, 0, 0);
    pm_record rec;

    next_ok(src, a, &rec);
    assert_non_null(rec.malformed);
    assert_true(strlen(rec.malformed) > 0);
    assert_raw(&rec, "{\"a\":}");
    assert_int_equal(rec.nfields, 0);
    assert_int_equal(rec.line, 1);
    assert_int_equal(rec.end, 7);

    next_ok(src, a, &rec); /* a top-level array is not a record */
    assert_non_null(rec.malformed);
    assert_raw(&rec, "[1,2]");

    next_ok(src, a, &rec); /* invalid UTF-8 is jscan's to find */
    assert_non_null(rec.malformed);
    assert_raw(&rec, "{\"s\":\"\xC3\x28\"}");
    assert_int_equal(rec.nfields, 0);

    next_ok(src, a, &rec);
    assert_null(rec.malformed);
    assert_int_equal(rec.line, 4);
    assert_int_equal(rec.nfields, 1);

    next_done(src, a);
    source_close(src);
    pm_arena_free(a);
    tmp_done(path);
}

/* Builds "{\"k\":\"xxxx...\"}" of exactly n bytes. */
static char *long_line(size_t n)
{
    char *s = malloc(n + 1);
    assert_non_null(s);
    memcpy(s, "{\"k\":\"", 6);
    memset(s + 6, 'x', n - 8);
    memcpy(s + n - 2, "\"}", 2);
    s[n] = '\0';
    return s;
}

static void test_ndjson_overlong_line(void **state)
{
    /* 3 MiB: longer than one read, so the skipping path runs; then a line
     * that fits in the buffer but is over the limit; then an exact fit. */
    size_t big = 3u << 20;
    char *l1 = long_line(big);
    char *l2 = long_line(100);
    char *l3 = long_line(64);
    size_t len = 8 + big + 1 + 100 + 2 + 64 + 1 + 7;
    char *text = malloc(len + 1);
    snprintf(text, len + 1, "{\"a\":1}\n%s\n%s\r\n%s\n{\"a\":2}", l1, l2, l3);
    assert_int_equal(strlen(text), len);
    char *path = tmp_file(text, len);

    pm_arena *a = pm_arena_new(0);
    pm_source *src = open_at(path, PM_FMT_NDJSON, 64, 0);
    pm_record rec;

    next_ok(src, a, &rec);
    assert_raw(&rec, "{\"a\":1}");

    size_t used = pm_arena_used(a);
    next_ok(src, a, &rec);
    assert_string_equal(rec.malformed, "line exceeds max_line_bytes (64 bytes); raise "
                                       "defaults.max_line_bytes in pipemend.yaml to load it");
    assert_int_equal(rec.raw_truncated, 1);
    assert_int_equal(rec.raw_len, 4096);
    assert_memory_equal(rec.raw, l1, 4096);
    assert_int_equal(rec.nfields, 0);
    assert_int_equal(rec.offset, 8);
    assert_int_equal(rec.end, 8 + big + 1);
    assert_int_equal(rec.line, 2);
    assert_true(rec.malformed_at <= rec.raw_len);
    /* Only the prefix reached the arena, not 3 MiB. */
    assert_true(pm_arena_used(a) - used < 8192);

    next_ok(src, a, &rec);
    assert_non_null(rec.malformed);
    assert_int_equal(rec.raw_truncated, 1);
    assert_int_equal(rec.raw_len, 100);
    assert_int_equal(rec.offset, 8 + big + 1);
    assert_int_equal(rec.end, 8 + big + 1 + 102);
    assert_int_equal(rec.line, 3);

    next_ok(src, a, &rec);
    assert_null(rec.malformed);
    assert_int_equal(rec.raw_truncated, 0);
    assert_int_equal(rec.raw_len, 64);
    assert_int_equal(rec.line, 4);

    next_ok(src, a, &rec);
    assert_raw(&rec, "{\"a\":2}");
    assert_int_equal(rec.line, 5);
    assert_int_equal(rec.end, len);
    next_done(src, a);
    source_close(src);

    /* Resuming right after the over-long line lands on the next one. */
    check_resume(path, PM_FMT_NDJSON, 64);

    pm_arena_free(a);
    tmp_done(path);
    free(text);
    free(l1);
    free(l2);
    free(l3);
}

static void test_ndjson_overlong_last_line(void **state)
{
    size_t big = (1u << 20) + 5000; /* no line end, longer than one read */
    char *text = long_line(big);
    char *path = tmp_file(text, big);
    pm_arena *a = pm_arena_new(0);
    pm_source *src = open_at(path, PM_FMT_NDJSON, 100, 0);
    pm_record rec;
    next_ok(src, a, &rec);
    assert_non_null(rec.malformed);
    assert_int_equal(rec.raw_truncated, 1);
    assert_int_equal(rec.offset, 0);
    assert_int_equal(rec.end, big);
    next_done(src, a);
    source_close(src);
    pm_arena_free(a);
    tmp_done(path);
    free(text);
}

/* ---- CSV --------------------------------------------------------------- */

static void test_csv_quoting(void **state)
{
    const char *text = "id,name,note\n"
                       "1,plain,simple\n"
                       "2,\"Doe, Jane\",\"she said \"\"hi\"\"\"\n"
                       "3,\"two\nlines\",x\n"
                       "4,\"\"\"\",\"a,\"\"b\"\"\nc\"\n"
                       "5,last,end";
    char *path = tmp_str(text);
    pm_arena *a = pm_arena_new(0);
    pm_source *src = open_at(path, PM_FMT_CSV, 0, 0);
    pm_record rec;

    next_ok(src, a, &rec);
    assert_null(rec.malformed);
    assert_int_equal(rec.nfields, 3);
    assert_raw_field(&rec, 0, "id", "1");
    assert_raw_field(&rec, 1, "name", "plain");
    assert_raw_field(&rec, 2, "note", "simple");
    assert_raw(&rec, "1,plain,simple");
    assert_int_equal(rec.offset, 13);
    assert_int_equal(rec.end, 28);
    assert_int_equal(rec.line, 2);

    next_ok(src, a, &rec);
    assert_null(rec.malformed);
    assert_raw_field(&rec, 1, "name", "Doe, Jane");
    assert_raw_field(&rec, 2, "note", "she said \"hi\"");
    assert_raw(&rec, "2,\"Doe, Jane\",\"she said \"\"hi\"\"\"");
    assert_int_equal(rec.line, 3);

    next_ok(src, a, &rec);
    assert_null(rec.malformed);
    assert_raw_field(&rec, 1, "name", "two\nlines");
    assert_raw(&rec, "3,\"two\nlines\",x"); /* all the record's bytes */
    assert_int_equal(rec.line, 4);

    next_ok(src, a, &rec);
    assert_null(rec.malformed);
    assert_raw_field(&rec, 1, "name", "\"");
    assert_raw_field(&rec, 2, "note", "a,\"b\"\nc");
    assert_int_equal(rec.line, 6); /* the previous record took two lines */

    next_ok(src, a, &rec);
    assert_raw_field(&rec, 0, "id", "5");
    assert_raw_field(&rec, 2, "note", "end");
    assert_int_equal(rec.line, 8);
    assert_int_equal(rec.end, strlen(text));

    next_done(src, a);
    source_close(src);
    pm_arena_free(a);
    tmp_done(path);
}

static void test_csv_null_vs_empty(void **state)
{
    const char *text = "a,b,c\n,\"\",x\n1,2,\n\"\",,\"\"\n";
    char *path = tmp_str(text);
    pm_arena *a = pm_arena_new(0);
    pm_source *src = open_at(path, PM_FMT_CSV, 0, 0);
    pm_record rec;

    next_ok(src, a, &rec);
    assert_int_equal(rec.nfields, 3);
    assert_int_equal(rec.fields[0].v.kind, PM_V_NULL);
    assert_string_equal(rec.fields[0].name, "a");
    assert_raw_field(&rec, 1, "b", "");
    assert_raw_field(&rec, 2, "c", "x");

    next_ok(src, a, &rec);
    assert_raw_field(&rec, 0, "a", "1");
    assert_int_equal(rec.fields[2].v.kind, PM_V_NULL); /* trailing empty field */

    next_ok(src, a, &rec);
    assert_raw_field(&rec, 0, "a", "");
    assert_int_equal(rec.fields[1].v.kind, PM_V_NULL);
    assert_raw_field(&rec, 2, "c", "");

    next_done(src, a);
    source_close(src);
    pm_arena_free(a);
    tmp_done(path);
}

static void test_csv_crlf_bom_blank_lines(void **state)
{
    const char *text = "\xEF\xBB\xBF"
                       "k,v\r\n"
                       "1,\"x\"\r\n"
                       "\r\n"
                       "\n"
                       "2,\"a\r\nb\"\r\n"
                       "3,z\r\n";
    char *path = tmp_str(text);
    pm_arena *a = pm_arena_new(0);
    pm_source *src = open_at(path, PM_FMT_CSV, 0, 0);
    pm_record rec;

    next_ok(src, a, &rec);
    assert_null(rec.malformed);
    assert_string_equal(rec.fields[0].name, "k"); /* no BOM in the first name */
    assert_raw_field(&rec, 1, "v", "x");
    assert_raw(&rec, "1,\"x\"");
    assert_int_equal(rec.offset, 8);
    assert_int_equal(rec.end, 15);
    assert_int_equal(rec.line, 2);

    next_ok(src, a, &rec);
    assert_null(rec.malformed);
    assert_raw_field(&rec, 1, "v", "a\r\nb"); /* quoted line ends are data */
    assert_int_equal(rec.line, 5);
    assert_int_equal(rec.offset, 18);

    next_ok(src, a, &rec);
    assert_raw_field(&rec, 1, "v", "z");
    assert_raw(&rec, "3,z");
    assert_int_equal(rec.line, 7);
    assert_int_equal(rec.end, strlen(text));

    next_done(src, a);
    source_close(src);
    pm_arena_free(a);
    tmp_done(path);
}

static void test_csv_field_count(void **state)
{
    const char *text = "a,b,c,d\n1,2,3,4,5\n1,2\n1,2,3,4\n";
    char *path = tmp_str(text);
    pm_arena *a = pm_arena_new(0);
    pm_source *src = open_at(path, PM_FMT_CSV, 0, 0);
    pm_record rec;

    next_ok(src, a, &rec);
    assert_string_equal(rec.malformed, "row has 5 fields, header has 4");
    assert_int_equal(rec.malformed_at, 8);
    assert_int_equal(rec.nfields, 0);
    assert_raw(&rec, "1,2,3,4,5");

    next_ok(src, a, &rec);
    assert_string_equal(rec.malformed, "row has 2 fields, header has 4");
    assert_raw(&rec, "1,2");
    assert_int_equal(rec.line, 3);

    next_ok(src, a, &rec);
    assert_null(rec.malformed);
    assert_int_equal(rec.nfields, 4);

    next_done(src, a);
    source_close(src);
    pm_arena_free(a);
    tmp_done(path);
}

static void test_csv_bad_quotes(void **state)
{
    const char *text = "a,b\n"
                       "1,5'10\" tall\n"
                       "2,\"x\"y\n"
                       "3,\"ok\"\n"
                       "4,\"x\"\r5\n"
                       "6,\"never closed\n7,8\n";
    char *path = tmp_str(text);
    pm_arena *a = pm_arena_new(0);
    pm_source *src = open_at(path, PM_FMT_CSV, 0, 0);
    pm_record rec;

    /* A bare quote stays literal: only this row is malformed. */
    next_ok(src, a, &rec);
    assert_string_equal(rec.malformed, "unexpected quote in unquoted field 2 at byte 6");
    assert_int_equal(rec.malformed_at, 6);
    assert_raw(&rec, "1,5'10\" tall");
    assert_int_equal(rec.line, 2);

    next_ok(src, a, &rec);
    assert_string_equal(rec.malformed,
                        "unexpected character after closing quote in field 2 at byte 5");
    assert_raw(&rec, "2,\"x\"y");

    next_ok(src, a, &rec);
    assert_null(rec.malformed);
    assert_raw_field(&rec, 1, "b", "ok");
    assert_int_equal(rec.line, 4);

    next_ok(src, a, &rec);
    assert_string_equal(rec.malformed,
                        "unexpected character after closing quote in field 2 at byte 5");

    /* An open quote that does not close before the end of input: its
     * line is one malformed record, and the rows after it are read on. */
    next_ok(src, a, &rec);
    assert_string_equal(rec.malformed, "unterminated quoted field 2 at byte 2");
    assert_raw(&rec, "6,\"never closed");
    assert_int_equal(rec.end, strlen(text) - 4);
    assert_int_equal(rec.line, 6);
    assert_int_equal(rec.next_line, 7);
    next_ok(src, a, &rec);
    assert_null(rec.malformed);
    assert_raw_field(&rec, 1, "b", "8");
    assert_int_equal(rec.line, 7);
    assert_int_equal(rec.end, strlen(text));

    next_done(src, a);
    source_close(src);
    pm_arena_free(a);
    tmp_done(path);
}

static void test_csv_invalid_utf8(void **state)
{
    const char *text = "a,b,c\nok,fine,caf\xC3\xA9\n1,2,x\xFFy\n";
    char *path = tmp_str(text);
    pm_arena *a = pm_arena_new(0);
    pm_source *src = open_at(path, PM_FMT_CSV, 0, 0);
    pm_record rec;

    next_ok(src, a, &rec);
    assert_null(rec.malformed);
    assert_raw_field(&rec, 2, "c", "caf\xC3\xA9");

    next_ok(src, a, &rec);
    assert_string_equal(rec.malformed, "invalid UTF-8 in field 3 at byte 5");
    assert_int_equal(rec.malformed_at, 5);
    assert_raw(&rec, "1,2,x\xFFy");
    assert_int_equal(rec.nfields, 0);

    next_done(src, a);
    source_close(src);
    pm_arena_free(a);
    tmp_done(path);
}

static void test_csv_header_only_and_duplicates(void **state)
{
    const char *texts[] = {"a,b\n", "a,b", "a,b\r\n\r\n"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        char *path = tmp_str(texts[i]);
        pm_arena *a = pm_arena_new(0);
        pm_source *src = open_at(path, PM_FMT_CSV, 0, 0);
        next_done(src, a);
        source_close(src);
        pm_arena_free(a);
        tmp_done(path);
    }

    /* Duplicate names are the schema layer's finding, not a parse error. */
    char *path = tmp_str("x,\"x\",\"a \"\"q\"\"\",\n1,2,3,4\n");
    pm_arena *a = pm_arena_new(0);
    pm_source *src = open_at(path, PM_FMT_CSV, 0, 0);
    pm_record rec;
    next_ok(src, a, &rec);
    assert_int_equal(rec.nfields, 4);
    assert_raw_field(&rec, 0, "x", "1");
    assert_raw_field(&rec, 1, "x", "2");
    assert_raw_field(&rec, 2, "a \"q\"", "3");
    assert_raw_field(&rec, 3, "", "4");
    source_close(src);
    pm_arena_free(a);
    tmp_done(path);
}

static void expect_open_error(const char *text, pm_format fmt, pm_code code, const char *needle)
{
    char *path = tmp_str(text);
    pm_source *src = (pm_source *)&src; /* must be reset to NULL */
    pm_err err;
    pm_err_clear(&err);
    assert_int_equal(source_open(path, fmt, NULL, 0, &src, &err), code);
    assert_null(src);
    assert_int_equal(err.code, code);
    if (!strstr(err.msg, needle))
        fail_msg("message \"%s\" lacks \"%s\"", err.msg, needle);
    tmp_done(path);
}

static void test_csv_missing_header(void **state)
{
    expect_open_error("", PM_FMT_CSV, PM_ERR_PARSE, "no CSV header row");
    expect_open_error("\xEF\xBB\xBF", PM_FMT_CSV, PM_ERR_PARSE, "no CSV header row");
    expect_open_error("\n\r\n", PM_FMT_CSV, PM_ERR_PARSE, "no CSV header row");
    expect_open_error("a,b\"c\n1,2\n", PM_FMT_CSV, PM_ERR_PARSE, "malformed CSV header");
    expect_open_error("\"a,b\n", PM_FMT_CSV, PM_ERR_PARSE, "unterminated quoted field 1");
    expect_open_error("a,\xC3\x28\n1,2\n", PM_FMT_CSV, PM_ERR_PARSE, "invalid UTF-8 in CSV header");
}

static void test_csv_resume(void **state)
{
    const char *text = "\xEF\xBB\xBF"
                       "id,v\n"
                       "1,a\n"
                       "2,\"multi\nline\"\n"
                       "\n"
                       "3,\"x\"\"y\"\r\n"
                       "4,bad\"quote\n"
                       "5,e";
    char *path = tmp_str(text);
    check_resume(path, PM_FMT_CSV, 0);

    /* Resuming from the top or from inside the header reads the first row;
     * the header is read either way and names the fields. */
    for (uint64_t off = 0; off <= 8; off++) {
        pm_arena *a = pm_arena_new(0);
        pm_source *src = open_at(path, PM_FMT_CSV, 0, off);
        pm_record rec;
        next_ok(src, a, &rec);
        assert_raw_field(&rec, 0, "id", "1");
        assert_int_equal(rec.offset, 8);
        source_close(src);
        pm_arena_free(a);
    }

    /* After the multi-line row the names still come from the header. */
    const char *row3 = strstr(text, "3,");
    pm_arena *a = pm_arena_new(0);
    pm_source *src = open_at(path, PM_FMT_CSV, 0, (uint64_t)(row3 - text));
    pm_record rec;
    next_ok(src, a, &rec);
    assert_raw_field(&rec, 0, "id", "3");
    assert_raw_field(&rec, 1, "v", "x\"y");
    assert_int_equal(rec.line, 1);
    source_close(src);
    pm_arena_free(a);
    tmp_done(path);
}

static void test_csv_overlong_record(void **state)
{
    /* A quoted field of 3 MiB with newlines inside: skipping it must follow
     * the quotes, or the rows after it would be cut in the wrong places. */
    size_t big = 3u << 20;
    size_t total = 4 + 3 + big + 7;
    char *text = malloc(total + 1);
    char *p = text;
    memcpy(p, "a,b\n", 4);
    p += 4;
    memcpy(p, "1,\"", 3);
    p += 3;
    for (size_t i = 0; i < big; i++)
        *p++ = (i % 1000 == 999) ? '\n' : (i % 1000 == 500 ? ',' : 'y');
    memcpy(p, "\"\n2,ok\n", 7);
    p += 7;
    assert_int_equal((size_t)(p - text), total);
    char *path = tmp_file(text, total);

    pm_arena *a = pm_arena_new(0);
    pm_source *src = open_at(path, PM_FMT_CSV, 64, 0);
    pm_record rec;
    next_ok(src, a, &rec);
    assert_string_equal(rec.malformed, "record exceeds max_line_bytes (64 bytes); raise "
                                       "defaults.max_line_bytes in pipemend.yaml to load it");
    assert_int_equal(rec.raw_truncated, 1);
    assert_int_equal(rec.raw_len, 4096);
    assert_memory_equal(rec.raw, text + 4, 4096);
    assert_int_equal(rec.offset, 4);
    assert_int_equal(rec.end, total - 5);
    assert_int_equal(rec.line, 2);

    next_ok(src, a, &rec);
    assert_null(rec.malformed);
    assert_raw_field(&rec, 1, "b", "ok");
    assert_int_equal(rec.line, 3 + big / 1000);
    next_done(src, a);
    source_close(src);

    /* Small enough to sit in the buffer, still over the limit. */
    char *path2 = tmp_str("a,b\n1,\"0123456789012345678901234567890123456789\"\n2,ok\n");
    src = open_at(path2, PM_FMT_CSV, 16, 0);
    next_ok(src, a, &rec);
    assert_non_null(rec.malformed);
    assert_int_equal(rec.raw_truncated, 1);
    assert_int_equal(rec.raw_len, 44);
    next_ok(src, a, &rec);
    assert_raw_field(&rec, 1, "b", "ok");
    source_close(src);

    pm_arena_free(a);
    tmp_done(path);
    tmp_done(path2);
    free(text);
}

/* Rows longer than one read, but within the limit: the buffer grows. */
static void test_csv_long_rows_within_limit(void **state)
{
    size_t big = (1u << 20) * 2 + 17;
    size_t total = 4 + 2 + big + 1 + 4;
    char *text = malloc(total + 1);
    memcpy(text, "a,b\n1,", 6);
    memset(text + 6, 'q', big);
    memcpy(text + 6 + big, "\n2,z\n", 5);
    char *path = tmp_file(text, total);
    pm_arena *a = pm_arena_new(0);
    pm_source *src = open_at(path, PM_FMT_CSV, 0, 0);
    pm_record rec;
    next_ok(src, a, &rec);
    assert_null(rec.malformed);
    assert_int_equal(rec.fields[1].v.len, big);
    assert_int_equal(rec.raw_truncated, 0);
    next_ok(src, a, &rec);
    assert_raw_field(&rec, 1, "b", "z");
    next_done(src, a);
    source_close(src);
    pm_arena_free(a);
    tmp_done(path);
    free(text);
}

/* A row with a huge number of fields is one malformed record; only the
 * count is kept beyond the header's width. */
static void test_csv_many_fields(void **state)
{
    size_t n = 200000;
    char *text = malloc(4 + n + 5);
    memcpy(text, "a,b\n", 4);
    memset(text + 4, ',', n);
    memcpy(text + 4 + n, "\n1,2\n", 5);
    char *path = tmp_file(text, 4 + n + 5);
    pm_arena *a = pm_arena_new(0);
    pm_source *src = open_at(path, PM_FMT_CSV, 0, 0);
    pm_record rec;
    next_ok(src, a, &rec);
    assert_string_equal(rec.malformed, "row has 200001 fields, header has 2");
    assert_int_equal(rec.malformed_at, 2);
    assert_int_equal(rec.raw_len, n);
    next_ok(src, a, &rec);
    assert_raw_field(&rec, 1, "b", "2");
    assert_int_equal(rec.line, 3);
    next_done(src, a);
    source_close(src);
    pm_arena_free(a);
    tmp_done(path);
    free(text);
}

/* ---- re-parsing a record from its bytes (replay) ------------------------ */

static void assert_same_record(const pm_record *want, const pm_record *got)
{
    if ((want->malformed == NULL) != (got->malformed == NULL))
        fail_msg("malformed: \"%s\" vs \"%s\"", want->malformed ? want->malformed : "(none)",
                 got->malformed ? got->malformed : "(none)");
    if (want->malformed) {
        assert_string_equal(got->malformed, want->malformed);
        assert_int_equal(got->malformed_at, want->malformed_at);
    }
    assert_int_equal(got->raw_len, want->raw_len);
    assert_memory_equal(got->raw, want->raw, want->raw_len);
    assert_int_equal(got->raw[got->raw_len], '\0');
    assert_int_equal(got->raw_truncated, want->raw_truncated);
    assert_int_equal(got->nfields, want->nfields);
    for (size_t i = 0; i < want->nfields; i++) {
        const pm_field *w = &want->fields[i], *g = &got->fields[i];
        assert_int_equal(g->name_len, w->name_len);
        assert_memory_equal(g->name, w->name, w->name_len + 1);
        assert_int_equal(g->v.kind, w->v.kind);
        assert_int_equal(g->v.b, w->v.b);
        assert_int_equal(g->v.len, w->v.len);
        assert_true((g->v.s == NULL) == (w->v.s == NULL));
        if (w->v.s)
            assert_memory_equal(g->v.s, w->v.s, w->v.len);
    }
}

/* Reads every record of text with source_next and parses its raw bytes again
 * with source_parse_raw (CSV: against the header's raw bytes): the two must
 * agree on everything but the position. Returns the number of records, or
 * SIZE_MAX when the file does not open (allowed only if may_fail). */
static size_t check_reparse_n(const void *text, size_t n, pm_format fmt, size_t max_line,
                              bool may_fail)
{
    char *path = tmp_file(text, n);
    pm_source_opts o;
    source_opts_default(&o);
    if (max_line)
        o.max_line = max_line;
    pm_source *src = NULL;
    pm_err err;
    pm_err_clear(&err);
    if (source_open(path, fmt, &o, 0, &src, &err) != PM_OK) {
        if (!may_fail)
            fail_msg("source_open: %s", err.msg);
        tmp_done(path);
        return SIZE_MAX;
    }
    size_t hlen = 0;
    const char *hdr = source_header_raw(src, &hlen);
    if (fmt == PM_FMT_CSV) {
        assert_non_null(hdr);
        assert_true(hlen > 0);
        assert_int_equal(hdr[hlen], '\0');
    } else {
        assert_null(hdr);
        assert_int_equal(hlen, 0);
    }
    pm_arena *a = pm_arena_new(0), *b = pm_arena_new(0);
    pm_record rec, again;
    size_t count = 0;
    pm_code rc;
    while ((rc = source_next(src, a, &rec, &err)) == PM_OK) {
        pm_err_clear(&err);
        rc = source_parse_raw(fmt, hdr, hlen, rec.raw, rec.raw_len, &o, b, &again, &err);
        if (rc != PM_OK)
            fail_msg("source_parse_raw: %s (%s)", pm_code_name(rc), err.msg);
        assert_same_record(&rec, &again);
        assert_int_equal(again.offset, 0);
        assert_int_equal(again.line, 0);
        pm_arena_reset(a);
        pm_arena_reset(b);
        count++;
    }
    assert_int_equal(rc, PM_DONE);
    source_close(src);
    pm_arena_free(a);
    pm_arena_free(b);
    tmp_done(path);
    return count;
}

static size_t check_reparse(const char *text, pm_format fmt, size_t max_line)
{
    return check_reparse_n(text, strlen(text), fmt, max_line, false);
}

static void test_csv_header_raw(void **state)
{
    const struct {
        const char *text, *header;
    } cases[] = {
        {"k,v\n1,2\n", "k,v"},
        {"\xEF\xBB\xBF"
         "k,v\r\n1,2\r\n",
         "k,v"},
        {"\n\r\n\"a\"\"b\",\"c\nd\"\r\n1,2\n", "\"a\"\"b\",\"c\nd\""},
        {"only,header", "only,header"},
        {"a,b\r\r\n1,2\n", "a,b\r"}, /* one CR is the line end's, one is data */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *path = tmp_str(cases[i].text);
        pm_source *src = open_at(path, PM_FMT_CSV, 0, 0);
        size_t len = 99;
        const char *h = source_header_raw(src, &len);
        assert_int_equal(len, strlen(cases[i].header));
        assert_memory_equal(h, cases[i].header, len);
        assert_ptr_equal(source_header_raw(src, NULL), h);
        source_close(src);
        tmp_done(path);
    }
    /* Resumed past the header, the header is still the one from the top. */
    char *path = tmp_str("\xEF\xBB\xBF"
                         "id,v\n1,a\n2,b\n");
    pm_source *src = open_at(path, PM_FMT_CSV, 0, 13);
    size_t len;
    const char *h = source_header_raw(src, &len);
    assert_int_equal(len, 4);
    assert_memory_equal(h, "id,v", 4);
    source_close(src);
    tmp_done(path);
}

static void test_csv_reparse_files(void **state)
{
    const char *texts[] = {
        /* quoted fields with commas, quotes and line ends */
        "id,name,note\n1,plain,simple\n2,\"Doe, Jane\",\"she said \"\"hi\"\"\"\n"
        "3,\"two\nlines\",x\n4,\"\"\"\",\"a,\"\"b\"\"\nc\"\n5,last,end",
        /* empty (NULL) vs quoted empty ("") */
        "a,b,c\n,\"\",x\n1,2,\n\"\",,\"\"\n,,\n",
        /* BOM, CRLF, blank lines, a quoted CRLF */
        "\xEF\xBB\xBF"
        "k,v\r\n1,\"x\"\r\n\r\n\n2,\"a\r\nb\"\r\n3,z\r\n",
        /* column count */
        "a,b,c,d\n1,2,3,4,5\n1,2\n1,2,3,4\n,,,,,,,,\n\"x\",\"y\",\"z\",\"w\",\"v\"\n",
        /* bad quotes, including an unterminated one to the end */
        "a,b\n1,5'10\" tall\n2,\"x\"y\n3,\"ok\"\n4,\"x\"\r5\n6,\"never closed\n7,8\n",
        "a,b\n1,\"open at the end\r\n",
        "a,b\n1,\"open at the end\r",
        /* UTF-8 */
        "a,b,c\nok,fine,caf\xC3\xA9\n1,2,x\xFFy\n\"\xC3\",2,3\n",
        /* duplicate and odd names in the header */
        "x,\"x\",\"a \"\"q\"\"\",\n1,2,3,4\n",
        "\"multi\nline\",\"comma,name\",\xC3\xA9t\xC3\xA9\n1,2,3\n",
        /* CRs that are data: before a CRLF, alone, after a quote */
        "a,b\r\n1,x\r\r\n2,\"y\"\r\r\n3,\"q\"\r\n4,\r\r\n5,\"z\r\"\r\n6,\r\n7,\"w\"\r",
        "a,b\n1,x\r\r",
        "a,b\n1,\"x\"\r\r",
        "a,b\n1,\"x\"\r\n2,y\r",
        "a\n\r\r\n\"\"\n",
        "a,b\r\r\n1,2\r\r\n",
        /* the last record without a line end, and one with only a CR */
        "a,b\n1,2",
        "a,b\n1,\"2\"",
        "a,b\n1,",
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
        assert_true(check_reparse(texts[i], PM_FMT_CSV, 0) > 0);

    /* Over-long records come back over-long, with the same prefix. */
    assert_int_equal(check_reparse("a,b\n1,\"0123456789012345678901234567890123456789\"\n2,ok\n"
                                   "3,\"x\ny\"\n",
                                   PM_FMT_CSV, 16),
                     3);
}

/* The same property over many small random files: bytes from an alphabet
 * made of everything the scanner treats specially. */
static void test_csv_reparse_random(void **state)
{
    static const char alphabet[] = {'a',  'b', ',',    ',',    '"',    '"', '\r',
                                    '\n', ' ', '\xC3', '\xA9', '\xFF', '\0'};
    uint64_t x = 0x9E3779B97F4A7C15u;
    size_t opened = 0, records = 0;
    for (int round = 0; round < 3000; round++) {
        char text[96];
        size_t n = 0;
        if (round % 2 == 0) {
            memcpy(text, "a,b,c\n", 6); /* a valid header: more rows get read */
            n = 6;
        }
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        size_t len = x % 48;
        for (size_t i = 0; i < len; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            text[n++] = alphabet[x % sizeof alphabet];
        }
        size_t got = check_reparse_n(text, n, PM_FMT_CSV, round % 5 == 0 ? 8 : 0, true);
        if (got != SIZE_MAX) {
            opened++;
            records += got;
        }
    }
    assert_true(opened > 1500);
    assert_true(records > 3000);
}

static void test_ndjson_reparse(void **state)
{
    const char *texts[] = {
        "{\"id\":1,\"name\":\"a\"}\n{\"id\":2}\n{\"id\":3,\"x\":{\"y\":true,\"z\":[1,{}]}}\n",
        "\xEF\xBB\xBF{\"a\":1}\r\n\n  \t \n\r\n{\"a\":2}\r\n{\"a\":3}",
        "{\"a\":}\n[1,2]\n{\"s\":\"\xC3\x28\"}\n{\"a\":1}\n{\"a\":1,\"a\":2}\n{\"a\":null}\r\r\n",
        "{\"s\":\"line\\nend \\u00e9\",\"n\":-1.5e300,\"big\":123456789012345678901234567890}",
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
        assert_true(check_reparse(texts[i], PM_FMT_NDJSON, 0) > 0);
    assert_int_equal(check_reparse("{\"a\":1}\n{\"k\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}\n",
                                   PM_FMT_NDJSON, 16),
                     2);

    /* No header needed (none is looked at), and opts may be NULL. */
    pm_arena *a = pm_arena_new(0);
    pm_record rec;
    pm_err err;
    pm_err_clear(&err);
    assert_int_equal(
        source_parse_raw(PM_FMT_NDJSON, NULL, 0, "{\"a\":{\"b\":2}}", 13, NULL, a, &rec, &err),
        PM_OK);
    assert_null(rec.malformed);
    assert_int_equal(rec.nfields, 1);
    assert_string_equal(rec.fields[0].name, "a__b");
    assert_raw(&rec, "{\"a\":{\"b\":2}}");
    pm_arena_free(a);
}

static void expect_parse_raw_error(const char *header, size_t header_len, const char *needle)
{
    pm_arena *a = pm_arena_new(0);
    pm_record rec;
    pm_err err;
    pm_err_clear(&err);
    assert_int_equal(
        source_parse_raw(PM_FMT_CSV, header, header_len, "1,2", 3, NULL, a, &rec, &err),
        PM_ERR_PARSE);
    assert_int_equal(err.code, PM_ERR_PARSE);
    if (!strstr(err.msg, needle))
        fail_msg("message \"%s\" lacks \"%s\"", err.msg, needle);
    assert_int_equal(rec.nfields, 0);
    pm_arena_free(a);
}

static void test_csv_parse_raw_header_errors(void **state)
{
    expect_parse_raw_error(NULL, 0, "cannot be parsed without its header row");
    expect_parse_raw_error("", 0, "cannot be parsed without its header row");
    expect_parse_raw_error("\xEF\xBB\xBF", 3, "cannot be parsed without its header row");
    expect_parse_raw_error("a,b\"c", 5,
                           "malformed CSV header: unexpected quote in unquoted field 2");
    expect_parse_raw_error("\"a,b", 4, "malformed CSV header: unterminated quoted field 1");
    expect_parse_raw_error("a,b\nc", 5,
                           "malformed CSV header: a line end outside quotes at byte 3");
    expect_parse_raw_error("a,\xC3\x28", 4, "invalid UTF-8 in CSV header, column 2 at byte 2");
    expect_parse_raw_error("a,\"b\0\"", 6, "CSV header: column 2 has a NUL byte in its name");

    pm_source_opts o;
    source_opts_default(&o);
    o.max_line = 4;
    pm_arena *a = pm_arena_new(0);
    pm_record rec;
    pm_err err;
    pm_err_clear(&err);
    assert_int_equal(source_parse_raw(PM_FMT_CSV, "abc,def", 7, "1,2", 3, &o, a, &rec, &err),
                     PM_ERR_PARSE);
    assert_string_equal(err.msg, "CSV header exceeds max_line_bytes (4 bytes)");
    pm_arena_free(a);
}

static void test_csv_parse_raw_records(void **state)
{
    pm_arena *a = pm_arena_new(0);
    pm_record rec;
    pm_err err;
    pm_err_clear(&err);

    /* A header kept with its BOM by some older writer still names "k". */
    assert_int_equal(
        source_parse_raw(PM_FMT_CSV, "\xEF\xBB\xBFk,v", 6, "1,\"a\nb\"", 7, NULL, a, &rec, &err),
        PM_OK);
    assert_null(rec.malformed);
    assert_raw_field(&rec, 0, "k", "1");
    assert_raw_field(&rec, 1, "v", "a\nb");
    assert_raw(&rec, "1,\"a\nb\"");

    /* Quoted header names are unescaped as on read; NULL vs "" survive. */
    const char *hdr = "\"a \"\"q\"\"\",b,c";
    assert_int_equal(
        source_parse_raw(PM_FMT_CSV, hdr, strlen(hdr), ",\"\",x", 5, NULL, a, &rec, &err), PM_OK);
    assert_int_equal(rec.nfields, 3);
    assert_string_equal(rec.fields[0].name, "a \"q\"");
    assert_int_equal(rec.fields[0].v.kind, PM_V_NULL);
    assert_raw_field(&rec, 1, "b", "");
    assert_raw_field(&rec, 2, "c", "x");

    /* The record's own problems are malformed records, not errors. */
    assert_int_equal(source_parse_raw(PM_FMT_CSV, "a,b", 3, "1,2,3", 5, NULL, a, &rec, &err),
                     PM_OK);
    assert_string_equal(rec.malformed, "row has 3 fields, header has 2");
    assert_int_equal(rec.malformed_at, 4);
    assert_int_equal(rec.nfields, 0);
    assert_raw(&rec, "1,2,3");

    /* Bytes that source_next could not have returned as one record. */
    assert_int_equal(source_parse_raw(PM_FMT_CSV, "a,b", 3, "", 0, NULL, a, &rec, &err), PM_OK);
    assert_string_equal(rec.malformed, "empty line: not a CSV row");
    assert_raw(&rec, "");
    assert_int_equal(source_parse_raw(PM_FMT_CSV, "a,b", 3, NULL, 0, NULL, a, &rec, &err), PM_OK);
    assert_non_null(rec.malformed);
    assert_int_equal(source_parse_raw(PM_FMT_CSV, "a,b", 3, "1,2\n3,4", 7, NULL, a, &rec, &err),
                     PM_OK);
    assert_string_equal(rec.malformed,
                        "line end outside quotes at byte 3: the bytes hold more than one row");
    assert_int_equal(rec.malformed_at, 3);
    assert_raw(&rec, "1,2\n3,4");
    assert_int_equal(rec.nfields, 0);
    pm_arena_free(a);
}

/* ---- open, identity, formats ------------------------------------------- */

static void test_open_errors(void **state)
{
    pm_source *src = NULL;
    pm_err err;
    pm_err_clear(&err);
    assert_int_equal(source_open("/nonexistent/pm/x.ndjson", PM_FMT_NDJSON, NULL, 0, &src, &err),
                     PM_ERR_IO);
    assert_null(src);
    assert_string_equal(err.msg, "cannot open /nonexistent/pm/x.ndjson: No such file or directory");
    assert_true(err.hint[0] != '\0');

    pm_err_clear(&err);
    assert_int_equal(source_open("/tmp", PM_FMT_CSV, NULL, 0, &src, &err), PM_ERR_IO);
    assert_non_null(strstr(err.msg, "cannot open /tmp: Is a directory"));
}

/* The fingerprint in the file transport's position token at off. */
static uint64_t fp_at(pm_transport *t, uint64_t off)
{
    char pos[TRANSPORT_POSITION_MAX];
    assert_int_equal(transport_position(t, off, 1, pos, NULL), PM_OK);
    const char *f = strstr(pos, "\"fingerprint\":");
    assert_non_null(f);
    return (uint64_t)strtoll(f + 14, NULL, 10);
}

/* The xxh3 member of the file position token at end. */
static uint64_t xxh3_at(pm_transport *t, uint64_t end)
{
    char pos[TRANSPORT_POSITION_MAX];
    pm_err err;
    assert_int_equal(transport_position(t, end, 1, pos, &err), PM_OK);
    const char *x = strstr(pos, "\"xxh3\":");
    assert_non_null(x);
    return (uint64_t)strtoll(x + 7, NULL, 10);
}

/* The token's xxh3 is the hash of the file's first end bytes whatever the
 * reads before were: the transport carries a hash along its reads and
 * starts the token's from the state kept nearest before end, so ends just
 * behind, inside and far behind the latest reads, at their edges, going
 * backwards, and after a seek (to the checkpoint of a resume, or not) must
 * all give what hashing the bytes directly gives. */
static void test_position_hash_follows_reads(void **state)
{
    size_t n = (size_t)3 << 20;
    char *data = malloc(n);
    uint64_t x = 88172645463325252ULL;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        data[i] = (char)(x % 64 == 0 ? '\n' : 'a' + x % 26);
    }
    char *path = tmp_file(data, n);
    char *buf = malloc((size_t)4 << 20);
    static const size_t caps[] = {
        1, 7, 4096, 65535, 65536, 65537, 300000, (size_t)1 << 20, (size_t)3 << 20};
    for (int round = 0; round < 3; round++) {
        pm_transport *t;
        pm_err err;
        assert_int_equal(transport_open(path, &t, &err), PM_OK);
        uint64_t total = 0;
        if (round == 1) {
            /* a resume: the prefix is checked up to the checkpoint, then read on from there */
            char tok[TRANSPORT_POSITION_MAX];
            assert_int_equal(transport_position(t, 1000003, 1, tok, &err), PM_OK);
            transport_close(t);
            assert_int_equal(transport_open(path, &t, &err), PM_OK);
            transport_start st;
            assert_int_equal(transport_resume(t, tok, &st, &err), PM_OK);
            assert_true(st.offset == 1000003 && !st.conflict);
            total = st.offset;
        } else if (round == 2) {
            total = 777777; /* a seek to where no hash stands */
        }
        if (total)
            assert_int_equal(t->ops->seek(t, total, &err), PM_OK);
        for (size_t r = 0; total < n; r++) {
            size_t got, cap = caps[(r * 5 + (size_t)round) % (sizeof caps / sizeof *caps)];
            assert_int_equal(transport_read(t, buf, cap, &got, &err), PM_OK);
            assert_true(got > 0);
            assert_memory_equal(buf, data + total, got);
            total += got;
            uint64_t start = total - got; /* where this read began */
            uint64_t ends[] = {total,
                               total - 1,
                               start,
                               start > 1 ? start - 1 : 1,
                               start + 65536 <= total ? start + 65535 : total,
                               start + 65536 <= total ? start + 65536 : total,
                               start + got / 2,
                               total / 2,
                               total > 70000 ? total - 70000 : 1,
                               (total * 7) / 8,
                               total - (total % 65536)};
            for (size_t e = 0; e < sizeof ends / sizeof *ends; e++) {
                uint64_t end = ends[e] ? ends[e] : 1;
                if (xxh3_at(t, end) != XXH3_64bits(data, (size_t)end))
                    fail_msg("round %d, after %llu bytes read: the hash at byte %llu is wrong",
                             round, (unsigned long long)total, (unsigned long long)end);
            }
        }
        transport_close(t);
    }
    free(buf);
    free(data);
    tmp_done(path);
}

static void test_identity(void **state)
{
    char head[5000];
    for (size_t i = 0; i < sizeof head; i++)
        head[i] = (char)('a' + i % 26);
    head[sizeof head - 1] = '\n';
    char *path = tmp_file(head, sizeof head);
    pm_source *src = open_at(path, PM_FMT_NDJSON, 0, 0);
    char *abs = realpath(path, NULL);
    assert_string_equal(source_id(src), abs);
    assert_string_equal(transport_id(source_transport(src)), abs);
    assert_true(transport_resumable(source_transport(src)));
    assert_int_equal(source_size(src), sizeof head);
    pm_transport *t = source_transport(src);
    uint64_t fp = fp_at(t, 4096);
    assert_true(fp == pm_hash(head, 4096)); /* the first 4 KiB */
    uint64_t later = fp_at(t, 4500);
    assert_true(later != fp); /* plus the 4 KiB before the checkpoint */
    fp = fp_at(t, 10);
    assert_true(fp == pm_hash(head, 10)); /* only the bytes already loaded */
    assert_false(source_is_stdin(src));
    source_close(src);
    free(abs);
    tmp_done(path);

    path = tmp_str("{}\n");
    src = open_at(path, PM_FMT_NDJSON, 0, 0);
    t = source_transport(src);
    uint64_t small = fp_at(t, 3);
    assert_true(small == pm_hash("{}\n", 3));
    /* a checkpoint beyond the end: the bytes to hash are not there */
    char pos[TRANSPORT_POSITION_MAX];
    pm_err err;
    assert_int_equal(transport_position(t, 10, 1, pos, &err), PM_ERR_IO);
    assert_int_equal(source_size(src), 3);
    source_close(src);
    tmp_done(path);
}

/* The file transport's position: its token (version 2 begins with version
 * 1's members; catalogs upgraded from offset/line/fingerprint columns hold
 * version 1: store/sqlite.c, store/pg.c), and what resuming from either
 * does as the file changes. */
static void test_file_position(void **state)
{
    char *path = tmp_str("{\"a\":1}\n{\"a\":2}\n");
    pm_transport *t;
    pm_err err;
    assert_int_equal(transport_open(path, &t, &err), PM_OK);
    char pos[TRANSPORT_POSITION_MAX], want[TRANSPORT_POSITION_MAX];
    assert_int_equal(transport_position(t, 8, 2, pos, &err), PM_OK);
    /* version 2 starts with version 1's members, then the identity */
    snprintf(want, sizeof want, "{\"offset\":8,\"line\":2,\"fingerprint\":%lld,\"dev\":",
             (long long)pm_hash("{\"a\":1}\n", 8));
    assert_true(strncmp(pos, want, strlen(want)) == 0);
    assert_non_null(strstr(pos, "\"headlen\":8,\"xxh3\":"));
    char where[64];
    transport_describe(t, pos, where, sizeof where);
    assert_string_equal(where, "byte 8");

    /* no checkpoint: from the top */
    transport_start st;
    assert_int_equal(transport_resume(t, NULL, &st, &err), PM_OK);
    assert_true(st.offset == 0 && st.line == 0 && !st.at_end);
    /* its own token: after the first line; members in another order and
     * members it does not know are fine */
    assert_int_equal(transport_resume(t, pos, &st, &err), PM_OK);
    assert_true(st.offset == 8 && st.line == 2 && !st.at_end);
    char other[TRANSPORT_POSITION_MAX];
    snprintf(other, sizeof other, "{\"inode\":7,\"fingerprint\":%lld,\"line\":2,\"offset\":8}",
             (long long)pm_hash("{\"a\":1}\n", 8));
    assert_int_equal(transport_resume(t, other, &st, &err), PM_OK);
    assert_true(st.offset == 8 && st.line == 2);
    /* at the end: nothing new */
    char end[TRANSPORT_POSITION_MAX];
    assert_int_equal(transport_position(t, 16, 3, end, &err), PM_OK);
    assert_int_equal(transport_resume(t, end, &st, &err), PM_OK);
    assert_true(st.offset == 16 && st.at_end);
    /* version 1: loaded bytes that differ, or a file shorter than the
     * checkpoint: from the top, as version 1 did */
    snprintf(other, sizeof other, "{\"offset\":8,\"line\":2,\"fingerprint\":1}");
    assert_int_equal(transport_resume(t, other, &st, &err), PM_OK);
    assert_true(st.offset == 0 && st.line == 0 && !st.at_end);
    snprintf(other, sizeof other, "{\"offset\":99,\"line\":2,\"fingerprint\":%lld}",
             (long long)pm_hash("{\"a\":1}\n", 8));
    assert_int_equal(transport_resume(t, other, &st, &err), PM_OK);
    assert_true(st.offset == 0 && !st.at_end);
    /* a token that is not a file position is an error, not a reload */
    pm_err_clear(&err);
    assert_int_equal(transport_resume(t, "kafka:orders/3@17", &st, &err), PM_ERR_PARSE);
    assert_non_null(strstr(err.msg, "is not a file position: kafka:orders/3@17"));
    assert_int_equal(transport_resume(t, "{\"offset\":-1,\"line\":1,\"fingerprint\":1}", &st, &err),
                     PM_ERR_PARSE);
    transport_close(t);

    /* a source seeks to where resume says, and the lines go on from there */
    pm_source *src = open_at(path, PM_FMT_NDJSON, 0, 0);
    assert_int_equal(source_seek(src, 8, 2, &err), PM_OK);
    pm_arena *a = pm_arena_new(0);
    pm_record rec;
    assert_int_equal(source_next(src, a, &rec, &err), PM_OK);
    assert_true(rec.offset == 8 && rec.line == 2 && rec.end == 16);
    assert_int_equal(source_next(src, a, &rec, &err), PM_DONE);
    pm_arena_free(a);
    source_close(src);
    tmp_done(path);

    /* standard input has no position */
    assert_int_equal(transport_open("-", &t, &err), PM_OK);
    assert_false(transport_resumable(t));
    assert_string_equal(transport_id(t), "stdin");
    assert_int_equal(transport_resume(t, "{}", &st, &err), PM_OK);
    assert_true(st.offset == 0);
    assert_int_equal(transport_position(t, 1, 1, pos, &err), PM_ERR_INTERNAL);
    transport_close(t);
}

/* A transport of this test's own: bytes from memory, handed out a few at
 * a time, that cannot seek. The decoders see only the transport's calls,
 * so they must cut it into the same records as the file. */
typedef struct mem_transport {
    pm_transport base;
    const char *data;
    size_t len, at, chunk;
} mem_transport;

static pm_code mem_read(pm_transport *t, char *buf, size_t cap, size_t *got, pm_err *err)
{
    mem_transport *m = (mem_transport *)t;
    size_t n = m->len - m->at;
    if (n > m->chunk)
        n = m->chunk;
    if (n > cap)
        n = cap;
    memcpy(buf, m->data + m->at, n);
    m->at += n;
    *got = n;
    return PM_OK;
}

static const transport_ops mem_ops = {.kind = "memory", .read = mem_read};

static pm_transport *mem_open(const char *data, size_t chunk)
{
    mem_transport *m = calloc(1, sizeof *m);
    m->base.ops = &mem_ops;
    m->base.label = "memory";
    m->base.id = strdup("memory");
    m->data = data;
    m->len = strlen(data);
    m->chunk = chunk;
    return &m->base;
}

static void test_decoders_over_any_transport(void **state)
{
    static const char *const inputs[][2] = {
        {"ndjson", "\xEF\xBB\xBF{\"a\":1}\r\n\n{\"a\":\"two\"}\n{\"a\":3}"},
        {"csv", "a,b\r\n1,\"x\ny\"\n\n2,\"\"\n3,z"},
    };
    for (size_t k = 0; k < 2; k++) {
        pm_format fmt;
        assert_true(source_format_parse(inputs[k][0], &fmt));
        const char *data = inputs[k][1];
        char *path = tmp_str(data);
        for (size_t chunk = 1; chunk <= 8; chunk++) {
            pm_arena *a = pm_arena_new(0);
            pm_err err;
            pm_source *file = open_at(path, fmt, 0, 0), *mem;
            assert_int_equal(source_open_transport(mem_open(data, chunk), fmt, NULL, &mem, &err),
                             PM_OK);
            assert_false(transport_resumable(source_transport(mem)));
            size_t n = 0;
            for (;;) {
                pm_record x, y;
                pm_code rx = source_next(file, a, &x, &err), ry = source_next(mem, a, &y, &err);
                assert_int_equal(rx, ry);
                if (rx == PM_DONE)
                    break;
                n++;
                assert_true(x.offset == y.offset && x.end == y.end && x.line == y.line);
                assert_int_equal(x.raw_len, y.raw_len);
                assert_memory_equal(x.raw, y.raw, x.raw_len);
                assert_int_equal(x.nfields, y.nfields);
                for (size_t i = 0; i < x.nfields; i++) {
                    assert_string_equal(x.fields[i].name, y.fields[i].name);
                    assert_int_equal(x.fields[i].v.kind, y.fields[i].v.kind);
                    if (x.fields[i].v.kind != PM_V_NULL)
                        assert_memory_equal(x.fields[i].v.s, y.fields[i].v.s, x.fields[i].v.len);
                }
            }
            assert_int_equal(n, 3);
            source_close(file);
            source_close(mem);

            /* a transport that cannot seek is read on to the position */
            uint64_t second = strchr(data + 4, '\n') - data + 1;
            if (fmt == PM_FMT_CSV)
                second = strstr(data, "\n\n") - data + 2;
            assert_int_equal(source_open_transport(mem_open(data, chunk), fmt, NULL, &mem, &err),
                             PM_OK);
            assert_int_equal(source_seek(mem, second, 5, &err), PM_OK);
            pm_record r;
            assert_int_equal(source_next(mem, a, &r, &err), PM_OK);
            assert_true(r.offset == second + (fmt == PM_FMT_NDJSON ? 1 : 0) && r.line >= 5);
            source_close(mem);
            pm_arena_free(a);
        }
        tmp_done(path);
    }
}

static void test_formats(void **state)
{
    pm_format f = PM_FMT_CSV;
    assert_true(source_format_parse("ndjson", &f));
    assert_int_equal(f, PM_FMT_NDJSON);
    assert_true(source_format_parse("csv", &f));
    assert_int_equal(f, PM_FMT_CSV);
    assert_true(source_format_parse("jsonl", &f));
    assert_int_equal(f, PM_FMT_NDJSON);
    assert_true(source_format_parse("json", &f));
    assert_int_equal(f, PM_FMT_JSON);
    assert_true(source_format_parse("tsv", &f));
    assert_int_equal(f, PM_FMT_TSV);
    assert_false(source_format_parse("parquet", &f));
    assert_false(source_format_parse("", &f));

    assert_true(source_format_from_path("data/orders.CSV", &f));
    assert_int_equal(f, PM_FMT_CSV);
    assert_true(source_format_from_path("/x/y.z/events.jsonl", &f));
    assert_int_equal(f, PM_FMT_NDJSON);
    assert_true(source_format_from_path("a.ndjson", &f));
    assert_true(source_format_from_path("a.Json", &f));
    /* a compression suffix is looked through: the bytes tell gzip */
    assert_true(source_format_from_path("a.csv.gz", &f));
    assert_int_equal(f, PM_FMT_CSV);
    assert_true(source_format_from_path("dir.v2/movies.JSON.zst", &f));
    assert_int_equal(f, PM_FMT_JSON);
    assert_true(source_format_from_path("penguins.tsv", &f));
    assert_int_equal(f, PM_FMT_TSV);
    assert_false(source_format_from_path("a.gz", &f));
    assert_false(source_format_from_path("/x/y.csv/events", &f));
    assert_false(source_format_from_path("noext", &f));
    assert_false(source_format_from_path(".csv", &f));
    assert_false(source_format_from_path("-", &f));

    assert_string_equal(source_format_name(PM_FMT_NDJSON), "ndjson");
    assert_string_equal(source_format_name(PM_FMT_CSV), "csv");
    assert_string_equal(source_format_name(PM_FMT_JSON), "json");

    char d = 0;
    assert_true(source_delimiter_parse(";", &d));
    assert_int_equal(d, ';');
    assert_true(source_delimiter_parse("tab", &d));
    assert_int_equal(d, '\t');
    assert_true(source_delimiter_parse("\t", &d));
    assert_int_equal(d, '\t');
    assert_true(source_delimiter_parse("|", &d));
    assert_int_equal(d, '|');
    assert_false(source_delimiter_parse(":", &d));
    assert_false(source_delimiter_parse(NULL, &d));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ndjson_basic),
        cmocka_unit_test(test_ndjson_bom_crlf_blank_lines),
        cmocka_unit_test(test_ndjson_empty_and_blank_files),
        cmocka_unit_test(test_ndjson_resume),
        cmocka_unit_test(test_ndjson_malformed_keeps_raw),
        cmocka_unit_test(test_ndjson_overlong_line),
        cmocka_unit_test(test_ndjson_overlong_last_line),
        cmocka_unit_test(test_csv_quoting),
        cmocka_unit_test(test_csv_null_vs_empty),
        cmocka_unit_test(test_csv_crlf_bom_blank_lines),
        cmocka_unit_test(test_csv_field_count),
        cmocka_unit_test(test_csv_bad_quotes),
        cmocka_unit_test(test_csv_invalid_utf8),
        cmocka_unit_test(test_csv_header_only_and_duplicates),
        cmocka_unit_test(test_csv_missing_header),
        cmocka_unit_test(test_csv_resume),
        cmocka_unit_test(test_csv_overlong_record),
        cmocka_unit_test(test_csv_long_rows_within_limit),
        cmocka_unit_test(test_csv_many_fields),
        cmocka_unit_test(test_csv_header_raw),
        cmocka_unit_test(test_csv_reparse_files),
        cmocka_unit_test(test_csv_reparse_random),
        cmocka_unit_test(test_ndjson_reparse),
        cmocka_unit_test(test_csv_parse_raw_header_errors),
        cmocka_unit_test(test_csv_parse_raw_records),
        cmocka_unit_test(test_open_errors),
        cmocka_unit_test(test_identity),
        cmocka_unit_test(test_file_position),
        cmocka_unit_test(test_position_hash_follows_reads),
        cmocka_unit_test(test_decoders_over_any_transport),
        cmocka_unit_test(test_formats),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
