/* jscan.c - the data plane's JSON record scanner (contract in jscan.h).
 *
 * One pass over the record, iterative rather than recursive: open containers
 * live on an explicit frame stack, so nesting depth costs memory bounded by
 * max_depth, never C stack, and a line of 100,000 '[' fails at the first one
 * past the limit. Strings are scanned sixteen bytes at a time (SSE2; eight
 * elsewhere) for the only bytes that need attention (quote, backslash,
 * control, non-ASCII). The record is copied once into the arena, and
 * values, top-level names and numbers (as their literal text) are cut out
 * of that copy in place; nested names are built in a bump area. Keys that
 * repeat the last record's (the memo, jscan.h) are not validated again.
 * Members of objects up to flatten_depth become fields
 * named by their key path joined with "__"; anything else (arrays, deeper
 * objects) is validated in full and kept as its exact JSON text.
 *
 * Duplicate keys are caught per object (a short list scanned linearly, a
 * hash index once an object has many keys). Flattening can also make two
 * different paths produce one name ({"a__b":1,"a":{"b":2}}); that is just as
 * ambiguous for a loader, so it is rejected too. It can only happen when
 * some key is empty, begins or ends with '_' or contains "__" (otherwise the
 * separators are exactly the runs of two underscores), so the record-wide
 * name check runs only for records that have such a key and a nested field. */
#include "source/jscan.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/bytes.h"
#include "core/utf8.h"

/* SSE2 is part of x86-64 itself, so no run-time dispatch is needed; other
 * machines use the portable eight-bytes-at-a-time scan. */
#if defined(__SSE2__) && !defined(JSCAN_NO_SSE2)
#include <emmintrin.h>
#define JSCAN_SSE2 1
#else
#define JSCAN_SSE2 0
#endif

#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

enum {
    DEFAULT_MAX_DEPTH = 64,
    DEFAULT_FLATTEN_DEPTH = 8,
    LOCAL_FRAMES = 32, /* frames on the C stack before spilling to the arena */
    LOCAL_KEYS = 64,   /* likewise for the stack of object keys */
    LINEAR_KEYS = 16,  /* an object with more keys than this gets a hash index */
};

/* String flags from scan_string. */
enum { STR_ESCAPED = 1, STR_NUL = 2 };

typedef struct keyent {
    const char *s; /* unescaped key: into the record, or into the arena */
    size_t len;
    uint64_t h; /* key_tag while its set is a list, key_hash once hashed */
} keyent;

/* Open-addressing index over a run of keyent: slot holds index + 1, 0 is
 * empty. Kept at most half full. */
typedef struct keyidx {
    size_t *slot;
    size_t mask;
} keyidx;

typedef struct frame {
    const char *prefix; /* flat objects: the path that names this object */
    size_t prefix_len;
    size_t key_base; /* this object's keys are keys[key_base..nkeys) */
    keyidx ix;       /* over those keys, once there are more than LINEAR_KEYS */
    uint64_t seen;   /* while the keys are a list: a bit per key, from its tag */
    bool is_array;
    bool flat; /* members become fields; otherwise inside a value kept as text */
} frame;

/* The memo (jscan.h): the keys of the last record in their order, their
 * bytes one after another in bytes[]. */
#define MEMO_KEYS 64
#define MEMO_BYTES 2048
struct jscan_memo {
    size_t n; /* entries [0, n) hold */
    uint16_t off[MEMO_KEYS], len[MEMO_KEYS];
    uint64_t tag[MEMO_KEYS]; /* key_tag */
    bool risky[MEMO_KEYS];   /* key_risky */
    char bytes[MEMO_BYTES];
};

#define NAME_MAX_BYTES 4096
#define NAME_BUDGET(n) (4 * (n) + 65536)

typedef struct scan {
    const char *s; /* the record, s[0..n) */
    size_t n;
    pm_arena *arena;
    size_t max_depth;
    size_t flatten_depth;
    const jscan_opts *opts; /* for keep_whole; may be NULL */
    uint64_t seed;          /* for key hashes (see hash_seed); 0 until first needed */

    pm_field *fields; /* the result, grown geometrically in the arena */
    size_t nfields, fcap;

    /* A copy of the record in the arena: values, top-level names and text
     * kept as JSON are cut out of it in place, a NUL written over the
     * byte that follows each (a quote, a separator, or w[n]); escaped
     * strings are decoded in place, since decoding never lengthens. */
    char *w;
    char *tp, *tend; /* bump area for nested names and other keys, in the arena */
    size_t tsize;    /* size of the bump area's last block */

    frame *frames; /* open containers, frames[depth - 1] innermost */
    size_t depth, frame_cap;
    keyent *keys; /* keys of the open objects, as a stack */
    size_t nkeys, kcap;

    const char *name; /* flat member being read: its full path */
    size_t name_len;
    size_t name_bytes; /* all flattened names so far (see NAME_BUDGET) */
    size_t key_at;     /* offset of its key */

    /* The value kept as text that is being read, if any: its field, where
     * it starts, and the depth of its frame (0 when none). */
    size_t text_field, text_start, text_depth;

    bool risky;    /* some key could make two paths join into one name */
    bool nested;   /* some field came from a nested object */
    keyent *names; /* every field name, once risky && nested */
    size_t nnames, names_cap;
    keyidx names_ix;

    jscan_memo *memo; /* may be NULL */
    size_t memo_at;   /* the memo's entry for the next key; SIZE_MAX: stop */

    size_t err_at;
    char *msg; /* MSG_CAP bytes, on the caller's stack */
} scan;

#define MSG_CAP sizeof(((pm_err *)0)->msg)

static const char LIT_TRUE[] = "true", LIT_FALSE[] = "false", LIT_NULL[] = "null";

/* ---- errors ---------------------------------------------------------- */

__attribute__((format(printf, 3, 4))) static bool fail(scan *st, size_t at, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(st->msg, MSG_CAP, fmt, ap);
    va_end(ap);
    st->err_at = at;
    return false;
}

static bool syntax(scan *st, const char *p, const char *what)
{
    size_t at = (size_t)(p - st->s);
    return fail(st, at, "invalid JSON at byte %zu: %s", at, what);
}

/* "expected X, got Y" where Y is what the record actually has at p. A byte
 * that is not valid UTF-8 is reported as such: that is the real problem. */
static bool expected(scan *st, const char *p, const char *what)
{
    size_t at = (size_t)(p - st->s);
    if (at >= st->n)
        return fail(st, at, "invalid JSON at byte %zu: expected %s, got end of input", at, what);
    unsigned char c = (unsigned char)*p;
    if (c >= 0x80) {
        size_t k = pm_utf8_seq_len(p, st->n - at);
        if (k == 0)
            return fail(st, at, "invalid UTF-8 at byte %zu", at);
        /* A code point, not the character: it may be invisible (a BOM). */
        uint32_t cp = c & (0x7F >> k);
        for (size_t i = 1; i < k; i++)
            cp = cp << 6 | ((unsigned char)p[i] & 0x3F);
        return fail(st, at, "invalid JSON at byte %zu: expected %s, got U+%04X", at, what,
                    (unsigned)cp);
    }
    if (c > 0x20 && c < 0x7f)
        return fail(st, at, "invalid JSON at byte %zu: expected %s, got '%c'", at, what, c);
    return fail(st, at, "invalid JSON at byte %zu: expected %s, got byte 0x%02X", at, what, c);
}

/* Writes key k as a short JSON string body for a message: escaped so the
 * message stays one line, cut at a character boundary if long. */
static void quote_key(char *out, size_t cap, const char *k, size_t len)
{
    size_t keep = pm_utf8_truncate(k, len, 48), o = 0;
    for (size_t i = 0; i < keep && o + 8 < cap; i++) {
        unsigned char c = (unsigned char)k[i];
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c < 0x20 || c == 0x7f) {
            o += (size_t)snprintf(out + o, cap - o, "\\u%04X", c);
        } else {
            out[o++] = (char)c;
        }
    }
    if (keep < len && o + 4 < cap) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
}

/* ---- arena helpers ---------------------------------------------------- */

/* Makes room for need bytes at st->tp; the caller writes them and moves
 * st->tp past what it used (it may use less). Only nested names (and keys
 * of objects kept as text that have escapes) live here, so the first area
 * is small; each next one doubles. */
static char *text_refill(scan *st, size_t need)
{
    size_t size = st->tsize ? st->tsize * 2 : 64;
    if (size < need)
        size = need;
    st->tsize = size;
    st->tp = pm_arena_alloc(st->arena, size);
    st->tend = st->tp + size;
    return st->tp;
}

static inline char *text_reserve(scan *st, size_t need)
{
    if (!st->tp || (size_t)(st->tend - st->tp) < need)
        return text_refill(st, need);
    return st->tp;
}

/* memcpy for the short strings of a record: one 16-byte move when both
 * sides have room to spare (the bytes past len are overwritten later, or
 * unused), rather than a libc call per key. */
static inline void copy_short(char *d, const char *p, size_t len, const char *dlimit,
                              const char *plimit)
{
    if (len <= 16 && dlimit - d >= 16 && plimit - p >= 16)
        memcpy(d, p, 16);
    else
        memcpy(d, p, len);
}

/* The bytes s[at, at + len) as a NUL-terminated string: the record's copy,
 * cut there in place. */
static inline char *text_cut(scan *st, size_t at, size_t len)
{
    char *d = st->w + at;
    d[len] = '\0';
    return d;
}

/* Grows an array that lives in the arena (or, at first, on the C stack) by
 * doubling; the old copy is left to the arena's lifetime. */
static void *grow(scan *st, void *old, size_t *cap, size_t used, size_t elem, size_t first)
{
    size_t ncap = *cap ? *cap * 2 : first;
    void *p = pm_arena_alloc(st->arena, ncap * elem);
    if (used)
        memcpy(p, old, used * elem);
    *cap = ncap;
    return p;
}

/* ---- keys and names --------------------------------------------------- */

static uint64_t key_hash(uint64_t seed, const char *s, size_t n)
{
    uint64_t h = seed ^ (n * 0x9E3779B97F4A7C15ULL);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = (h ^ w) * 0xBF58476D1CE4E5B9ULL;
        h ^= h >> 31;
        s += 8;
        n -= 8;
    }
    uint64_t w = 0;
    memcpy(&w, s, n);
    h = (h ^ w) * 0x94D049BB133111EBULL;
    return h ^ (h >> 29);
}

/* The key's length and a few of its bytes: enough to tell apart most keys
 * with one comparison and no memcmp call while an object's keys are a
 * plain list. Keys that differ in length always differ here. */
static inline uint64_t key_tag(const char *k, size_t len)
{
    if (len == 0)
        return 0;
    return (unsigned char)k[0] | (uint64_t)(unsigned char)k[len - 1] << 8 |
           (uint64_t)(unsigned char)k[len / 2] << 16 | (uint64_t)len << 24;
}

/* Keys are hashed with a per-call seed so that a feed cannot be prepared
 * offline to make every key collide. Addresses vary per run under ASLR,
 * which is enough for that without global state; computed only for the
 * rare record with an object of many keys. */
static uint64_t hash_seed(scan *st)
{
    if (!st->seed)
        st->seed =
            key_hash((uintptr_t)st ^ ((uint64_t)(uintptr_t)st->arena << 17), "pipemend", 8) | 1;
    return st->seed;
}

static bool idx_has(const keyidx *ix, const keyent *ents, const char *k, size_t len, uint64_t h)
{
    for (size_t i = h & ix->mask;; i = (i + 1) & ix->mask) {
        size_t v = ix->slot[i];
        if (v == 0)
            return false;
        const keyent *e = &ents[v - 1];
        if (e->h == h && e->len == len && memcmp(e->s, k, len) == 0)
            return true;
    }
}

static void idx_put(keyidx *ix, const keyent *ents, size_t i)
{
    size_t j = ents[i].h & ix->mask;
    while (ix->slot[j])
        j = (j + 1) & ix->mask;
    ix->slot[j] = i + 1;
}

/* (Re)builds the index over ents[0..count) with room for twice as many. */
static void idx_build(scan *st, keyidx *ix, const keyent *ents, size_t count)
{
    size_t size = 64;
    while (size < count * 4)
        size *= 2;
    ix->slot = pm_arena_calloc(st->arena, size * sizeof *ix->slot);
    ix->mask = size - 1;
    for (size_t i = 0; i < count; i++)
        idx_put(ix, ents, i);
}

static inline void key_push(scan *st, const char *k, size_t len, uint64_t h)
{
    if (st->nkeys == st->kcap)
        st->keys = grow(st, st->keys, &st->kcap, st->nkeys, sizeof *st->keys, 0);
    st->keys[st->nkeys++] = (keyent){k, len, h};
}

/* Adds a key (whose key_tag is tag) to the innermost object; false if the
 * object already has it.
 * While the keys are a list, a 64-bit filter of their tags (one bit each)
 * answers "certainly new" for most keys without walking the list. */
static bool key_add(scan *st, frame *f, const char *k, size_t len, uint64_t tag)
{
    size_t count = st->nkeys - f->key_base;
    if (count < LINEAR_KEYS) {
        const keyent *e = st->keys + f->key_base;
        uint64_t bit = (uint64_t)1 << ((tag * 0x9E3779B97F4A7C15ULL) >> 58);
        if (f->seen & bit)
            for (size_t i = 0; i < count; i++)
                if (e[i].h == tag && memcmp(e[i].s, k, len) == 0)
                    return false;
        f->seen |= bit;
        key_push(st, k, len, tag);
        return true;
    }
    if (!f->ix.slot) {
        keyent *e = st->keys + f->key_base;
        for (size_t i = 0; i < count; i++)
            e[i].h = key_hash(hash_seed(st), e[i].s, e[i].len);
        idx_build(st, &f->ix, e, count);
    }
    uint64_t h = key_hash(hash_seed(st), k, len);
    if (idx_has(&f->ix, st->keys + f->key_base, k, len, h))
        return false;
    key_push(st, k, len, h);
    if ((count + 1) * 2 > f->ix.mask + 1)
        idx_build(st, &f->ix, st->keys + f->key_base, count + 1);
    else
        idx_put(&f->ix, st->keys + f->key_base, count);
    return true;
}

/* Could this key make two different paths join into the same name? It
 * may read up to limit (past the key, never past the record) to look at a
 * short key in one SSE2 compare, or eight pairs of neighbours at a time: a
 * byte of z is zero where both bytes of a pair are '_', and pairs past the
 * key are masked out. */
static bool key_risky(const char *k, size_t n, const char *limit)
{
    if (n == 0)
        return true;
#if JSCAN_SSE2
    if (n <= 16 && limit - k >= 16) {
        /* one bit per '_' of the key: at either end, or two side by side */
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)k);
        unsigned u = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8('_')));
        u &= (1u << n) - 1;
        return ((u & 1) | (u >> (n - 1) & 1) | (u & (u >> 1))) != 0;
    }
#endif
    if (k[0] == '_' || k[n - 1] == '_')
        return true;
    size_t i = 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    for (; i + 1 < n && limit - (k + i) >= 9; i += 8) {
        uint64_t a, b;
        memcpy(&a, k + i, 8);
        memcpy(&b, k + i + 1, 8);
        uint64_t z = (a ^ ONES * '_') | (b ^ ONES * '_');
        size_t pairs = n - 1 - i;
        if (pairs < 8)
            z |= ~(uint64_t)0 << (8 * pairs);
        if ((z - ONES) & ~z & HIGHS)
            return true;
    }
#endif
    for (; i + 1 < n; i++)
        if (k[i] == '_' && k[i + 1] == '_')
            return true;
    return false;
}

/* Records a field name in the record-wide set; false if another field has
 * it. Only called once collisions have become possible; the first call
 * takes in every earlier field, which are distinct until then (see the
 * comment at the top). */
static bool name_add(scan *st, const char *name, size_t len)
{
    if (!st->names_ix.slot) {
        for (size_t i = 0; i + 1 < st->nfields; i++) {
            const pm_field *f = &st->fields[i];
            if (st->nnames == st->names_cap)
                st->names = grow(st, st->names, &st->names_cap, st->nnames, sizeof *st->names, 32);
            st->names[st->nnames++] =
                (keyent){f->name, f->name_len, key_hash(hash_seed(st), f->name, f->name_len)};
        }
        idx_build(st, &st->names_ix, st->names, st->nnames);
    }
    uint64_t h = key_hash(hash_seed(st), name, len);
    if (idx_has(&st->names_ix, st->names, name, len, h))
        return false;
    if (st->nnames == st->names_cap)
        st->names = grow(st, st->names, &st->names_cap, st->nnames, sizeof *st->names, 32);
    st->names[st->nnames] = (keyent){name, len, h};
    if ((st->nnames + 1) * 2 > st->names_ix.mask + 1)
        idx_build(st, &st->names_ix, st->names, st->nnames + 1);
    else
        idx_put(&st->names_ix, st->names, st->nnames);
    st->nnames++;
    return true;
}

static bool name_collision(scan *st)
{
    char q[128];
    quote_key(q, sizeof q, st->name, st->name_len);
    return fail(st, st->key_at,
                "duplicate field \"%s\" at byte %zu after flattening nested objects", q,
                st->key_at);
}

/* Appends a field named by the current member; NULL if flattening made
 * its name collide with another field's. */
static inline pm_field *add_field(scan *st, pm_vkind kind, const char *s, size_t len)
{
    if (st->nfields == st->fcap)
        st->fields = grow(st, st->fields, &st->fcap, st->nfields, sizeof *st->fields,
                          8 + (st->n < 8192 ? st->n / 32 : 256));
    pm_field *f = &st->fields[st->nfields++];
    f->name = st->name;
    f->name_len = st->name_len;
    f->v = (pm_value){.kind = kind, .b = false, .s = s, .len = len};
    f->nested = st->depth > 1;
    if (st->depth > 1)
        st->nested = true;
    if (st->risky && st->nested && !name_add(st, st->name, st->name_len))
        return name_collision(st), NULL;
    return f;
}

/* ---- lexing ----------------------------------------------------------- */

static inline const char *skip_ws(const char *p, const char *end)
{
    if (p < end && (unsigned char)*p > ' ')
        return p; /* the usual case: no whitespace at all */
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    return p;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The four hex digits at p as a code unit, or -1. */
static long hex4(const char *p)
{
    long v = 0;
    for (int i = 0; i < 4; i++) {
        int d = hexval(p[i]);
        if (d < 0)
            return -1;
        v = v << 4 | d;
    }
    return v;
}

/* Offset in p[0..8) of the first byte that needs attention in a string
 * body (a quote, a backslash, a control character or non-ASCII), or 8:
 * the usual "has zero byte" trick, whose lowest flagged byte is exact,
 * which is the one wanted (on a big-endian machine that is the highest, so
 * there it only says whether to look closer). */
static inline unsigned attention8(const char *p)
{
    uint64_t w, q, b;
    memcpy(&w, p, 8);
    q = w ^ (ONES * '"');
    b = w ^ (ONES * '\\');
    uint64_t m = (((w - ONES * 0x20) & ~w) | ((q - ONES) & ~q) | ((b - ONES) & ~b) | w) & HIGHS;
    if (!m)
        return 8;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    return (unsigned)__builtin_ctzll(m) / 8;
#else
    return 0; /* flags above a true hit may be false here: look byte by byte */
#endif
}

#if JSCAN_SSE2
/* The same over 16 bytes. A signed compare below 0x20 takes in both the
 * control characters and every byte from 0x80 (negative as int8). */
static inline unsigned attention16(const char *p)
{
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
    __m128i m = _mm_or_si128(
        _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')), _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))),
        _mm_cmplt_epi8(v, _mm_set1_epi8(0x20)));
    unsigned bits = (unsigned)_mm_movemask_epi8(m);
    return bits ? (unsigned)__builtin_ctz(bits) : 16;
}
#endif

/* Validates the string whose opening quote is at p and returns a pointer
 * past its closing quote, or NULL. Sets STR_ESCAPED if it has escapes and
 * STR_NUL if one of them is \u0000. */
static const char *scan_string(scan *st, const char *p, unsigned *flags)
{
    const char *end = st->s + st->n;
    p++;
    for (;;) {
        /* Skip to the next byte that needs a look: sixteen bytes at a time
         * where SSE2 is there (every x86-64), then eight, then one by one
         * in the last bytes of the record. */
        for (;;) {
#if JSCAN_SSE2
            if (end - p >= 16) {
                unsigned k = attention16(p);
                p += k;
                if (k < 16)
                    break;
                continue;
            }
#endif
            if (end - p >= 8) {
                unsigned k = attention8(p);
                p += k;
                if (k < 8)
                    break;
                continue;
            }
            while (p < end && (unsigned char)*p >= 0x20 && (unsigned char)*p < 0x80 && *p != '"' &&
                   *p != '\\')
                p++;
            break;
        }
        if (p >= end)
            return syntax(st, p, "unterminated string"), NULL;
        unsigned char c = (unsigned char)*p;
        if (c == '"')
            return p + 1;
        if (c == '\\') {
            if (end - p < 2)
                return syntax(st, p + 1, "unterminated string"), NULL;
            *flags |= STR_ESCAPED;
            switch (p[1]) {
            case '"':
            case '\\':
            case '/':
            case 'b':
            case 'f':
            case 'n':
            case 'r':
            case 't':
                p += 2;
                continue;
            case 'u':
                break;
            default:
                return syntax(st, p, "invalid escape sequence in string"), NULL;
            }
            long cp = end - p >= 6 ? hex4(p + 2) : -1;
            if (cp < 0)
                return syntax(st, p, "invalid \\u escape in string (needs four hex digits)"), NULL;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                long lo = end - p >= 12 && p[6] == '\\' && p[7] == 'u' ? hex4(p + 8) : -1;
                if (lo < 0xDC00 || lo > 0xDFFF) {
                    fail(st, (size_t)(p - st->s),
                         "invalid JSON at byte %zu: unpaired surrogate \\u%04lX in string",
                         (size_t)(p - st->s), cp);
                    return NULL;
                }
                p += 12;
                continue;
            }
            if (cp >= 0xDC00 && cp <= 0xDFFF) {
                fail(st, (size_t)(p - st->s),
                     "invalid JSON at byte %zu: unpaired surrogate \\u%04lX in string",
                     (size_t)(p - st->s), cp);
                return NULL;
            }
            if (cp == 0)
                *flags |= STR_NUL;
            p += 6;
            continue;
        }
        if (c < 0x20) {
            fail(st, (size_t)(p - st->s),
                 "invalid JSON at byte %zu: control character 0x%02X in string (must be escaped)",
                 (size_t)(p - st->s), c);
            return NULL;
        }
        if (c >= 0x80) {
            /* Two-byte sequences (Latin, Greek, Cyrillic...) inline; the
             * rest, and every invalid byte, through the full check. */
            if (c >= 0xC2 && c <= 0xDF && end - p >= 2 && ((unsigned char)p[1] & 0xC0) == 0x80) {
                p += 2;
                continue;
            }
            size_t k = pm_utf8_seq_len(p, (size_t)(end - p));
            if (k == 0)
                return fail(st, (size_t)(p - st->s), "invalid UTF-8 at byte %zu",
                            (size_t)(p - st->s)),
                       NULL;
            p += k;
            continue;
        }
        p++;
    }
}

/* Decodes the body p..q of a string that scan_string accepted into dst
 * (which has room for q - p bytes: decoding never lengthens). */
static size_t unescape(char *dst, const char *p, const char *q)
{
    char *o = dst;
    while (p < q) {
        const char *bs = memchr(p, '\\', (size_t)(q - p));
        size_t run = (size_t)((bs ? bs : q) - p);
        memcpy(o, p, run);
        o += run;
        if (!bs)
            break;
        p = bs;
        switch (p[1]) {
        case 'b':
            *o++ = '\b';
            break;
        case 'f':
            *o++ = '\f';
            break;
        case 'n':
            *o++ = '\n';
            break;
        case 'r':
            *o++ = '\r';
            break;
        case 't':
            *o++ = '\t';
            break;
        case 'u': {
            uint32_t cp = (uint32_t)hex4(p + 2);
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                cp = 0x10000 + ((cp - 0xD800) << 10) + ((uint32_t)hex4(p + 8) - 0xDC00);
                p += 6;
            }
            o += pm_utf8_encode(cp, o);
            p += 6;
            continue;
        }
        default: /* '"', '\\', '/' stand for themselves */
            *o++ = p[1];
            break;
        }
        p += 2;
    }
    return (size_t)(o - dst);
}

static inline bool is_digit(const char *p, const char *end)
{
    return p < end && *p >= '0' && *p <= '9';
}

/* Past the run of ASCII digits at p: eight bytes at a time where there are
 * eight (a byte is flagged when it is 0x3A or more, or below 0x30; carries
 * and borrows only run upwards, so the lowest flag is exact). */
static inline const char *skip_digits(const char *p, const char *end)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    while (end - p >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        uint64_t m = (w | (w + ONES * 0x46) | (w - ONES * 0x30)) & HIGHS;
        if (m)
            return p + __builtin_ctzll(m) / 8;
        p += 8;
    }
#endif
    while (is_digit(p, end))
        p++;
    return p;
}

/* Validates the number starting at p; returns a pointer past it or NULL. */
static const char *scan_number(scan *st, const char *p)
{
    const char *end = st->s + st->n;
    if (*p == '-')
        p++;
    if (!is_digit(p, end))
        return expected(st, p, "a digit in number"), NULL;
    if (*p == '0') {
        p++;
        if (is_digit(p, end))
            return syntax(st, p - 1, "leading zero in number"), NULL;
    } else {
        p = skip_digits(p, end);
    }
    if (p < end && *p == '.') {
        p++;
        if (!is_digit(p, end))
            return expected(st, p, "a digit after '.' in number"), NULL;
        p = skip_digits(p, end);
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        if (!is_digit(p, end))
            return expected(st, p, "a digit in the exponent of number"), NULL;
        p = skip_digits(p, end);
    }
    return p;
}

/* ---- structure -------------------------------------------------------- */

static bool open_frame(scan *st, const char *p, bool is_array, bool flat, const char *prefix,
                       size_t prefix_len)
{
    if (st->depth >= st->max_depth)
        return fail(st, (size_t)(p - st->s), "nesting deeper than %zu levels at byte %zu",
                    st->max_depth, (size_t)(p - st->s));
    if (st->depth == st->frame_cap)
        st->frames = grow(st, st->frames, &st->frame_cap, st->depth, sizeof *st->frames, 0);
    st->frames[st->depth++] = (frame){.prefix = prefix,
                                      .prefix_len = prefix_len,
                                      .key_base = st->nkeys,
                                      .is_array = is_array,
                                      .flat = flat};
    return true;
}

/* Is the key whose quote is at p the memo's next one? Its bytes and the
 * closing quote right after them make it the same valid string. */
static inline bool memo_hit(const scan *st, const char *p, size_t *len)
{
    const jscan_memo *m = st->memo;
    size_t i = st->memo_at;
    if (!m || i >= m->n)
        return false;
    size_t n = m->len[i];
    if ((size_t)(st->s + st->n - p) < n + 2 || p[n + 1] != '"' ||
        !pm_bytes_same(p + 1, m->bytes + m->off[i], n))
        return false;
    *len = n;
    return true;
}

/* Writes the key just read (raw bytes k[0..n), no escapes) as the memo's
 * entry at its place; the entries after it are dropped. A key that does
 * not fit, or one with escapes (n == SIZE_MAX), ends the memo there. */
static void memo_put(scan *st, const char *k, size_t n, uint64_t tag, bool risky)
{
    jscan_memo *m = st->memo;
    size_t i = st->memo_at;
    if (!m || i == SIZE_MAX)
        return;
    size_t off = i ? (size_t)m->off[i - 1] + m->len[i - 1] : 0;
    if (i >= MEMO_KEYS || n > MEMO_BYTES - off) {
        m->n = i < m->n ? i : m->n;
        st->memo_at = SIZE_MAX;
        return;
    }
    memcpy(m->bytes + off, k, n);
    m->off[i] = (uint16_t)off;
    m->len[i] = (uint16_t)n;
    m->tag[i] = tag;
    m->risky[i] = risky;
    m->n = i + 1;
}

/* Reads the key whose quote is at p in the innermost object; in a flat
 * object it also builds the member's full name. Returns a pointer past the
 * closing quote or NULL. */
static const char *read_key(scan *st, const char *p)
{
    unsigned fl = 0;
    size_t mlen = 0;
    bool hit = memo_hit(st, p, &mlen);
    const char *q;
    if (hit) {
        q = p + mlen + 2;
    } else {
        q = scan_string(st, p, &fl);
        if (!q)
            return NULL;
        if (fl & STR_NUL)
            return syntax(st, p, "\\u0000 in object key"), NULL;
    }
    frame *f = &st->frames[st->depth - 1];
    size_t raw = (size_t)(q - p) - 2, klen;
    const char *k;
    uint64_t tag = 0;
    bool risky = false;
    if (hit) {
        tag = st->memo->tag[st->memo_at];
        risky = st->memo->risky[st->memo_at];
        st->memo_at++;
    } else if (fl & STR_ESCAPED) {
        memo_put(st, NULL, SIZE_MAX, 0, false);
    } else {
        tag = key_tag(p + 1, raw);
        risky = key_risky(p + 1, raw, st->s + st->n);
        memo_put(st, p + 1, raw, tag, risky);
        if (st->memo_at != SIZE_MAX)
            st->memo_at++;
    }
    if (f->flat) {
        size_t pl = f->prefix_len, sep = pl ? 2 : 0;
        /* Every member of a flattened object repeats its parent's path, so
         * a long key over many members could make a small line cost a lot
         * of memory: bound each name and all of them together. */
        if (pl + sep + raw > NAME_MAX_BYTES)
            return syntax(st, p, "field name (with its nested path) longer than 4096 bytes"), NULL;
        st->name_bytes += pl + sep + raw;
        if (st->name_bytes > NAME_BUDGET(st->n))
            return syntax(st, p,
                          "nested field names of this record are far longer than the "
                          "record itself"),
                   NULL;
        /* A top-level name is the key itself, cut out of the record's
         * copy; a nested one is its path and the key, in the bump area. */
        char *name = pl ? text_reserve(st, pl + sep + raw + 1) : st->w + (p + 1 - st->s);
        if (pl) {
            memcpy(name, f->prefix, pl);
            memcpy(name + pl, "__", 2);
        }
        char *kd = name + pl + sep;
        if (fl & STR_ESCAPED) {
            klen = unescape(kd, p + 1, q - 1);
            st->risky = st->risky || key_risky(kd, klen, kd + klen);
            tag = key_tag(kd, klen);
        } else {
            klen = raw;
            if (pl)
                copy_short(kd, p + 1, raw, st->tend, st->s + st->n);
            /* Checked on the input (above): the copy was just written, and
             * reading it back stalls on store forwarding. */
            st->risky = st->risky || risky;
        }
        kd[klen] = '\0';
        if (pl)
            st->tp = kd + klen + 1;
        st->name = name;
        st->name_len = pl + sep + klen;
        st->key_at = (size_t)(p - st->s);
        k = fl & STR_ESCAPED ? kd : p + 1; /* same bytes; the input is not a fresh store */
    } else if (fl & STR_ESCAPED) {
        char *kd = text_reserve(st, raw);
        klen = unescape(kd, p + 1, q - 1);
        st->tp = kd + klen;
        k = kd;
        tag = key_tag(kd, klen);
    } else {
        k = p + 1;
        klen = raw;
    }
    if (!key_add(st, f, k, klen, tag)) {
        char qk[128];
        quote_key(qk, sizeof qk, k, klen);
        fail(st, (size_t)(p - st->s), "duplicate key \"%s\" at byte %zu", qk, (size_t)(p - st->s));
        return NULL;
    }
    return q;
}

/* Opens a value kept as its JSON text (an array, or an object too deep to
 * flatten) as the current member's field; close_frame fills in the text. */
static bool open_text_field(scan *st, const char *p, pm_vkind kind)
{
    st->text_field = st->nfields;
    if (!add_field(st, kind, NULL, 0))
        return false;
    st->text_start = (size_t)(p - st->s);
    st->text_depth = st->depth + 1;
    return true;
}

static void close_frame(scan *st, const char *past)
{
    if (st->depth == st->text_depth) {
        size_t len = (size_t)(past - st->s) - st->text_start;
        pm_field *f = &st->fields[st->text_field];
        f->v.s = text_cut(st, st->text_start, len);
        f->v.len = len;
        st->text_depth = 0;
    }
    st->nkeys = st->frames[st->depth - 1].key_base;
    st->depth--;
}

static bool parse(scan *st)
{
    const char *const end = st->s + st->n;
    const char *p = skip_ws(st->s, end);
    frame *top;
    if (p == end || *p != '{')
        return expected(st, p, "'{' (a record must be a JSON object)");
    if (!open_frame(st, p, false, true, "", 0))
        return false;
    p++;

object_open: /* just after '{' */
    p = skip_ws(p, end);
    if (p < end && *p == '}') {
        p++;
        goto close;
    }
    if (p == end || *p != '"')
        return expected(st, p, "a string key or '}'");

member: /* at the key's opening quote */
    p = read_key(st, p);
    if (!p)
        return false;
    p = skip_ws(p, end);
    if (p == end || *p != ':')
        return expected(st, p, "':' after object key");
    p = skip_ws(p + 1, end);

value:
    if (p == end)
        return expected(st, p, "a value");
    top = &st->frames[st->depth - 1];
    switch (*p) {
    case '"': {
        unsigned fl = 0;
        const char *q = scan_string(st, p, &fl);
        if (!q)
            return false;
        if (top->flat) {
            size_t at = (size_t)(p + 1 - st->s), len = (size_t)(q - p) - 2;
            if (fl & STR_ESCAPED)
                len = unescape(st->w + at, p + 1, q - 1);
            if (!add_field(st, PM_V_STRING, text_cut(st, at, len), len))
                return false;
        }
        p = q;
        goto after_value;
    }
    case '{':
        if (top->flat && st->depth <= st->flatten_depth &&
            !(st->name_len && st->opts && st->opts->keep_whole &&
              st->opts->keep_whole(st->opts->keep_arg, st->name, st->name_len))) {
            if (!open_frame(st, p, false, true, st->name, st->name_len))
                return false;
        } else {
            if (top->flat && !open_text_field(st, p, PM_V_OBJECT))
                return false;
            if (!open_frame(st, p, false, false, NULL, 0))
                return false;
        }
        p++;
        goto object_open;
    case '[':
        if (top->flat && !open_text_field(st, p, PM_V_ARRAY))
            return false;
        if (!open_frame(st, p, true, false, NULL, 0))
            return false;
        p = skip_ws(p + 1, end);
        if (p < end && *p == ']') {
            p++;
            goto close;
        }
        goto value;
    case 't':
        if (end - p < 4 || memcmp(p, "true", 4) != 0)
            return syntax(st, p, "invalid literal (expected true, false or null)");
        if (top->flat) {
            pm_field *f = add_field(st, PM_V_BOOL, LIT_TRUE, 4);
            if (!f)
                return false;
            f->v.b = true;
        }
        p += 4;
        goto after_value;
    case 'f':
        if (end - p < 5 || memcmp(p, "false", 5) != 0)
            return syntax(st, p, "invalid literal (expected true, false or null)");
        if (top->flat && !add_field(st, PM_V_BOOL, LIT_FALSE, 5))
            return false;
        p += 5;
        goto after_value;
    case 'n':
        if (end - p < 4 || memcmp(p, "null", 4) != 0)
            return syntax(st, p, "invalid literal (expected true, false or null)");
        if (top->flat && !add_field(st, PM_V_NULL, LIT_NULL, 4))
            return false;
        p += 4;
        goto after_value;
    default: {
        if (*p != '-' && (*p < '0' || *p > '9'))
            return expected(st, p, "a value");
        const char *q = scan_number(st, p);
        if (!q)
            return false;
        if (top->flat &&
            !add_field(st, PM_V_NUMBER, text_cut(st, (size_t)(p - st->s), (size_t)(q - p)),
                       (size_t)(q - p)))
            return false;
        p = q;
        goto after_value;
    }
    }

after_value:
    p = skip_ws(p, end);
    top = &st->frames[st->depth - 1];
    if (!top->is_array) {
        if (p < end && *p == ',') {
            p = skip_ws(p + 1, end);
            if (p < end && *p == '}')
                return syntax(st, p, "trailing comma before '}'");
            if (p == end || *p != '"')
                return expected(st, p, "a string key after ','");
            goto member;
        }
        if (p < end && *p == '}') {
            p++;
            goto close;
        }
        return expected(st, p, "',' or '}' after object member");
    }
    if (p < end && *p == ',') {
        p = skip_ws(p + 1, end);
        if (p < end && *p == ']')
            return syntax(st, p, "trailing comma before ']'");
        goto value;
    }
    if (p < end && *p == ']') {
        p++;
        goto close;
    }
    return expected(st, p, "',' or ']' after array element");

close: /* just past a '}' or ']' */
    close_frame(st, p);
    if (st->depth > 0)
        goto after_value;
    p = skip_ws(p, end);
    if (p != end)
        return expected(st, p, "end of record after the closing '}'");
    return true;
}

jscan_memo *jscan_memo_new(void)
{
    return pm_xcalloc(1, sizeof(jscan_memo));
}

void jscan_memo_free(jscan_memo *m)
{
    free(m);
}

pm_code jscan_record(const char *s, size_t n, const jscan_opts *opts, pm_arena *arena,
                     pm_record *rec, pm_err *err)
{
    frame local_frames[LOCAL_FRAMES];
    keyent local_keys[LOCAL_KEYS];
    char msg[MSG_CAP];
    msg[0] = '\0';
    scan st = {.s = s, .n = n, .arena = arena, .msg = msg, .opts = opts};
    st.memo = opts ? opts->memo : NULL;
    st.max_depth = opts && opts->max_depth > 0 ? (size_t)opts->max_depth : DEFAULT_MAX_DEPTH;
    st.flatten_depth = DEFAULT_FLATTEN_DEPTH;
    if (opts && opts->flatten_depth > 0)
        st.flatten_depth = (size_t)opts->flatten_depth;
    else if (opts && opts->flatten_depth < 0)
        st.flatten_depth = 0; /* negative: keep every nested object whole */
    st.frames = local_frames;
    st.frame_cap = LOCAL_FRAMES;
    st.keys = local_keys;
    st.kcap = LOCAL_KEYS;

    /* the record's copy (see scan.w) */
    st.w = pm_arena_alloc(arena, n + 1);
    memcpy(st.w, s, n);
    st.w[n] = '\0';

    if (parse(&st)) {
        rec->fields = st.fields;
        rec->nfields = st.nfields;
        rec->malformed = NULL;
        rec->malformed_at = 0;
        return PM_OK;
    }
    /* The record carries its own diagnosis, so that it can be quarantined
     * as it is even by a caller that passed no err. */
    rec->fields = NULL;
    rec->nfields = 0;
    rec->malformed = pm_arena_strdup(arena, msg);
    rec->malformed_at = st.err_at;
    return pm_err_set(err, PM_ERR_PARSE, "%s", msg);
}
