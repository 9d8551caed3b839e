/* fuzz_jscan.c - differential fuzz target: jscan against jansson.
 *
 * jscan is pipemend's own strict JSON scanner; jansson is the reference. For
 * every input both must give the same verdict (a valid object record or
 * not), and for a valid record jscan's flattened fields must be exactly what
 * flattening jansson's object the same way gives, in the same order:
 * strings byte for byte, numbers by value (jscan keeps the literal, so it is
 * parsed with strtoll/strtod and compared with jansson's integer or real),
 * booleans, nulls, and arrays / too-deep objects by re-parsing jscan's text
 * with jansson and comparing with json_equal.
 *
 * Legitimate differences, which are not reported:
 *   - jansson rejects integers beyond json_int_t ("too big integer") and
 *     reals that overflow a double ("real number overflow"); jscan keeps the
 *     literal text, which is the point of it. Such numbers are replaced by 0
 *     in a copy that jansson parses instead, and their values not compared.
 *   - jansson's depth limit is 2048; jscan's is max_depth (64 here). Input
 *     nested deeper than 64 is rejected by jscan; nothing else is compared.
 *   - jansson accepts a top-level array; jscan does not (a record is an
 *     object). Both verdicts then mean "not an object record".
 *   - flattening can make two different key paths produce the same field
 *     name ({"a__b":1,"a":{"b":2}}); jansson sees no duplicate, jscan rejects
 *     the record as ambiguous. Checked by flattening jansson's object.
 *   - jansson drops a raw NUL byte that directly follows a number or a
 *     literal ({"a":null<NUL>} is accepted): its lexer keeps the byte it
 *     un-reads in a NUL-terminated one-byte buffer, so an un-read NUL looks
 *     like an empty buffer and the next byte is read instead. jscan rejects
 *     the NUL (RFC 8259 allows no such byte). Checked by deleting that byte
 *     and comparing again on what remains.
 *
 * On any other difference the target prints both verdicts and aborts. The
 * same entry point is replayed over the saved corpus by replay_main.c. */
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/utf8.h"
#include "source/jscan.h"

#define MAX_DEPTH 64
#define FLATTEN_DEPTH 8
#define JFLAGS (JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct flat {
    char *name;
    size_t name_len;
    json_t *v; /* borrowed from the parsed document */
    int level; /* nesting level of the object holding the member */
} flat;

typedef struct flatlist {
    flat *items;
    size_t n, cap;
} flatlist;

static const uint8_t *cur_data;
static size_t cur_size;

static void dump_input(void)
{
    fprintf(stderr, "input (%zu bytes): ", cur_size);
    for (size_t i = 0; i < cur_size && i < 400; i++) {
        unsigned c = cur_data[i];
        if (c >= 0x20 && c < 0x7f && c != '\\')
            fputc((int)c, stderr);
        else
            fprintf(stderr, "\\x%02x", c);
    }
    fputc('\n', stderr);
}

__attribute__((format(printf, 1, 2))) static _Noreturn void mismatch(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "fuzz_jscan: MISMATCH: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    dump_input();
    abort();
}

static int depth_of(const json_t *v)
{
    int d = 0;
    if (json_is_object(v)) {
        const char *k;
        json_t *c;
        json_object_foreach((json_t *)v, k, c)
        {
            int cd = depth_of(c);
            if (cd > d)
                d = cd;
        }
        return d + 1;
    }
    if (json_is_array(v)) {
        size_t i;
        json_t *c;
        json_array_foreach(v, i, c)
        {
            int cd = depth_of(c);
            if (cd > d)
                d = cd;
        }
        return d + 1;
    }
    return 0;
}

/* Flattens obj the way jscan does: an object member whose value is an
 * object nested at most FLATTEN_DEPTH levels is replaced by its members. */
static void flatten(json_t *obj, const char *prefix, size_t plen, int level, flatlist *out)
{
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v)
    {
        size_t klen = strlen(k); /* jansson rejects NUL in keys */
        size_t len = plen ? plen + 2 + klen : klen;
        char *name = malloc(len + 1);
        if (plen) {
            memcpy(name, prefix, plen);
            memcpy(name + plen, "__", 2);
        }
        memcpy(name + len - klen, k, klen);
        name[len] = '\0';
        if (json_is_object(v) && level + 1 <= FLATTEN_DEPTH) {
            flatten(v, name, len, level + 1, out);
            free(name);
            continue;
        }
        if (out->n == out->cap) {
            out->cap = out->cap ? out->cap * 2 : 16;
            out->items = realloc(out->items, out->cap * sizeof *out->items);
        }
        out->items[out->n++] = (flat){name, len, v, level};
    }
}

static void flat_free(flatlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->items[i].name);
    free(l->items);
}

static bool has_duplicate_name(const flatlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        for (size_t j = i + 1; j < l->n; j++)
            if (l->items[i].name_len == l->items[j].name_len &&
                memcmp(l->items[i].name, l->items[j].name, l->items[i].name_len) == 0)
                return true;
    return false;
}

static bool is_int_literal(const char *s, size_t len)
{
    return !memchr(s, '.', len) && !memchr(s, 'e', len) && !memchr(s, 'E', len);
}

/* True when the literal is a number jansson refuses: an integer that does
 * not fit json_int_t or a real that overflows. */
static bool out_of_range(const char *lit)
{
    char *e;
    errno = 0;
    if (is_int_literal(lit, strlen(lit))) {
        (void)strtoll(lit, &e, 10);
        return errno == ERANGE;
    }
    double d = strtod(lit, &e);
    return errno == ERANGE && (d == HUGE_VAL || d == -HUGE_VAL);
}

/* Returns a malloc'd copy of valid JSON text s with every out-of-range
 * number replaced by "0" padded with spaces, so that jansson parses it. */
static char *neutralise(const char *s, size_t n)
{
    char *c = malloc(n + 1);
    memcpy(c, s, n);
    c[n] = '\0';
    bool in_str = false;
    for (size_t i = 0; i < n; i++) {
        if (in_str) {
            if (c[i] == '\\')
                i++;
            else if (c[i] == '"')
                in_str = false;
            continue;
        }
        if (c[i] == '"') {
            in_str = true;
            continue;
        }
        if (c[i] != '-' && (c[i] < '0' || c[i] > '9'))
            continue;
        size_t j = i;
        while (j < n && strchr("+-.eE0123456789", c[j]) && c[j])
            j++;
        char save = c[j];
        c[j] = '\0';
        bool big = out_of_range(c + i);
        c[j] = save;
        if (big) {
            c[i] = '0';
            memset(c + i + 1, ' ', j - i - 1);
        }
        i = j - 1;
    }
    return c;
}

static bool number_error(const json_error_t *je)
{
    return strstr(je->text, "too big integer") || strstr(je->text, "too big negative integer") ||
           strstr(je->text, "real number overflow");
}

static void check_number(const char *lit, size_t len, const json_t *jv, size_t i)
{
    if (!json_is_number(jv))
        mismatch("field %zu: jscan number %s, jansson type %d", i, lit, json_typeof(jv));
    char *e;
    errno = 0;
    if (is_int_literal(lit, len)) {
        long long v = strtoll(lit, &e, 10);
        if (e != lit + len)
            mismatch("field %zu: number literal %s is not all digits", i, lit);
        if (errno == ERANGE)
            return; /* jansson's "too big integer": neutralised, see top */
        if (!json_is_integer(jv) || json_integer_value(jv) != v)
            mismatch("field %zu: jscan %s, jansson %lld", i, lit,
                     (long long)json_integer_value(jv));
        return;
    }
    double d = strtod(lit, &e);
    if (e != lit + len)
        mismatch("field %zu: number literal %s is not all number", i, lit);
    if (errno == ERANGE && (d == HUGE_VAL || d == -HUGE_VAL))
        return; /* jansson's "real number overflow": neutralised */
    if (!json_is_real(jv) || json_real_value(jv) != d)
        mismatch("field %zu: jscan %s = %.17g, jansson %.17g", i, lit, d, json_real_value(jv));
}

static void check_text(const pm_value *v, const json_t *jv, size_t i)
{
    if (!memmem(cur_data, cur_size, v->s, v->len))
        mismatch("field %zu: kept text is not a slice of the input", i);
    char *c = neutralise(v->s, v->len);
    json_error_t je;
    json_t *back = json_loadb(c, v->len, JFLAGS, &je);
    free(c);
    if (!back)
        mismatch("field %zu: jansson cannot re-read jscan's text: %s", i, je.text);
    if (!json_equal(back, (json_t *)jv))
        mismatch("field %zu: kept text differs from jansson's value", i);
    json_decref(back);
}

static void compare(const pm_record *rec, json_t *doc)
{
    flatlist l = {0};
    flatten(doc, NULL, 0, 0, &l);
    if (has_duplicate_name(&l))
        mismatch("jscan accepted a record whose flattened names collide");
    if (l.n != rec->nfields)
        mismatch("jscan has %zu fields, jansson %zu", rec->nfields, l.n);
    for (size_t i = 0; i < l.n; i++) {
        const pm_field *f = &rec->fields[i];
        const flat *e = &l.items[i];
        if (f->name_len != e->name_len || memcmp(f->name, e->name, e->name_len) != 0)
            mismatch("field %zu: jscan name \"%s\", jansson \"%s\"", i, f->name, e->name);
        if (f->name[f->name_len] != '\0' || !pm_utf8_valid(f->name, f->name_len))
            mismatch("field %zu: name not NUL-terminated or not UTF-8", i);
        const pm_value *v = &f->v;
        if (v->kind != PM_V_NULL && v->s[v->len] != '\0')
            mismatch("field %zu: value not NUL-terminated", i);
        switch (v->kind) {
        case PM_V_STRING:
            if (!json_is_string(e->v) || json_string_length(e->v) != v->len ||
                memcmp(json_string_value(e->v), v->s, v->len) != 0)
                mismatch("field %zu (%s): strings differ", i, f->name);
            break;
        case PM_V_NUMBER:
            check_number(v->s, v->len, e->v, i);
            break;
        case PM_V_BOOL:
            if (!json_is_boolean(e->v) || json_is_true(e->v) != v->b)
                mismatch("field %zu (%s): booleans differ", i, f->name);
            break;
        case PM_V_NULL:
            if (!json_is_null(e->v))
                mismatch("field %zu (%s): jscan null, jansson not", i, f->name);
            break;
        case PM_V_ARRAY:
            if (!json_is_array(e->v))
                mismatch("field %zu (%s): jscan array, jansson not", i, f->name);
            check_text(v, e->v, i);
            break;
        case PM_V_OBJECT:
            if (!json_is_object(e->v) || e->level + 1 <= FLATTEN_DEPTH)
                mismatch("field %zu (%s): jscan kept an object whole at level %d", i, f->name,
                         e->level + 1);
            check_text(v, e->v, i);
            break;
        default:
            mismatch("field %zu: unexpected kind %d", i, (int)v->kind);
        }
    }
    flat_free(&l);
}

/* The memo of keys (jscan.h) changes nothing but speed: the same input
 * scanned with the memo the earlier inputs left, and again with the one
 * it leaves itself, must give exactly what it gives without one. */
static void same_with_memo(const uint8_t *data, size_t size, pm_code rc, const pm_record *rec,
                           const pm_err *err)
{
    static jscan_memo *memo;
    if (!memo)
        memo = jscan_memo_new();
    for (int round = 0; round < 2; round++) {
        pm_arena *a = pm_arena_new(0);
        pm_record r;
        memset(&r, 0, sizeof r);
        pm_err e;
        memset(&e, 0, sizeof e);
        jscan_opts o = {.max_depth = MAX_DEPTH, .flatten_depth = FLATTEN_DEPTH, .memo = memo};
        pm_code c = jscan_record((const char *)data, size, &o, a, &r, &e);
        if (c != rc || strcmp(e.msg, err->msg) != 0 || r.malformed_at != rec->malformed_at ||
            r.nfields != rec->nfields)
            mismatch("with the memo: code %d \"%s\" at %llu, %zu fields; without: code %d "
                     "\"%s\" at %llu, %zu fields",
                     (int)c, e.msg, (unsigned long long)r.malformed_at, r.nfields, (int)rc,
                     err->msg, (unsigned long long)rec->malformed_at, rec->nfields);
        for (size_t i = 0; i < r.nfields; i++) {
            const pm_field *x = &r.fields[i], *y = &rec->fields[i];
            if (x->name_len != y->name_len || memcmp(x->name, y->name, x->name_len) != 0 ||
                x->v.kind != y->v.kind || x->v.len != y->v.len || x->v.b != y->v.b ||
                x->nested != y->nested || (x->v.len && memcmp(x->v.s, y->v.s, x->v.len) != 0))
                mismatch("with the memo, field %zu differs", i);
        }
        pm_arena_free(a);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cur_data = data;
    cur_size = size;
    pm_arena *arena = pm_arena_new(0);
    pm_record rec;
    memset(&rec, 0, sizeof rec);
    pm_err err;
    memset(&err, 0, sizeof err);
    jscan_opts opts = {.max_depth = MAX_DEPTH, .flatten_depth = FLATTEN_DEPTH};
    pm_code rc = jscan_record((const char *)data, size, &opts, arena, &rec, &err);
    same_with_memo(data, size, rc, &rec, &err);

    json_error_t je;
    json_t *doc = json_loadb((const char *)data, size, JFLAGS, &je);
    bool ours = rc == PM_OK;
    bool theirs = doc && json_is_object(doc);

    if (!ours) {
        /* Whatever the verdict, a rejection must be well formed. */
        size_t ml = strlen(err.msg);
        if (rc != PM_ERR_PARSE || rec.nfields != 0 || ml == 0 || strchr(err.msg, '\n') ||
            err.msg[ml - 1] == '.' || rec.malformed_at > size || !rec.malformed ||
            strcmp(rec.malformed, err.msg) != 0)
            mismatch("ill-formed rejection: code %d, msg \"%s\"", (int)rc, err.msg);
        size_t at = (size_t)rec.malformed_at;
        if (theirs && at > 0 && at < size && data[at] == 0 && isalnum(data[at - 1])) {
            /* jansson's dropped NUL (see top): compare without it */
            uint8_t *c = malloc(size - 1);
            memcpy(c, data, at);
            memcpy(c + at, data + at + 1, size - at - 1);
            json_decref(doc);
            pm_arena_free(arena);
            LLVMFuzzerTestOneInput(c, size - 1);
            free(c);
            return 0;
        }
        if (theirs) {
            flatlist l = {0};
            flatten(doc, NULL, 0, 0, &l);
            bool collide = has_duplicate_name(&l);
            flat_free(&l);
            if (depth_of(doc) > MAX_DEPTH && strncmp(err.msg, "nesting deeper", 14) == 0) {
                /* jansson's limit is 2048: legitimate */
            } else if (collide && strncmp(err.msg, "duplicate field", 15) == 0) {
                /* flattened names collide: legitimate */
            } else {
                mismatch("jscan rejected (%s), jansson accepted an object", err.msg);
            }
        }
        json_decref(doc);
        pm_arena_free(arena);
        return 0;
    }

    if (!theirs) {
        if (doc)
            mismatch("jscan accepted, jansson parsed a non-object");
        if (!number_error(&je))
            mismatch("jscan accepted (%zu fields), jansson rejected: %s at line %d column %d",
                     rec.nfields, je.text, je.line, je.column);
        char *c = neutralise((const char *)data, size);
        doc = json_loadb(c, size, JFLAGS, &je);
        free(c);
        if (!doc)
            mismatch("jscan accepted, jansson rejected after neutralising numbers: %s", je.text);
    }
    compare(&rec, doc);
    json_decref(doc);
    pm_arena_free(arena);
    return 0;
}
