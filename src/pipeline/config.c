/* config.c - loads pipemend.yaml (its shape is in config.h) with libyaml's
 * document API.
 *
 * The whole file is loaded into a node tree first and then walked section by
 * section, in the order the file is written, so the first error a person
 * reads is the first one in the file. Every node carries its line and
 * column, so every error names them, and a pipeline can be named in an
 * error even when its `name:` comes after the bad key. Nothing is guessed:
 * an unknown key, a repeated key, a value of the wrong type or a missing
 * field stops the load, because a typo in a contract must not silently
 * switch a check off.
 *
 * The file is read whole (at most CONFIG_MAX_BYTES) and scanned as events
 * before libyaml builds its tree: nesting depth and aliases are bounded
 * there (see the limits below), so a hostile file fails on its first bytes
 * past a bound instead of after it has cost memory or time.
 *
 * Everything the config holds lives in its own arena; the only resources
 * that are not memory are the compiled regexes of the contracts, which
 * config_free releases. */
#include "pipeline/config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

#include "core/log.h"
#include "core/utf8.h"
#include "drift/drift.h"
#include "pipeline/notify.h"
#include "schema/colname.h"
#include "source/compress.h"
#include "store/store.h"

#define CONFIG_DEFAULT_PATH "pipemend.yaml"
/* A config file is written by a person; anything this big is a mistake
 * (or an attack on the YAML loader), not a config. A thousand pipelines
 * with contracts fit in a tenth of it. Enforced on the bytes read, so a
 * pipe or a device is held to it too. */
#define CONFIG_MAX_BYTES ((size_t)1 << 20)
/* pipemend.yaml nests seven deep at most (pipelines, a pipeline, its
 * contract, columns, a column, allowed, a value); deeper is not a config. */
#define CONFIG_MAX_DEPTH 32
/* Anchors and aliases are allowed (a policy or a column's rules written
 * once and named again), within a budget: a YAML alias is a pointer, but
 * the loader walks what it points at each time, so "billion laughs" nests
 * aliases of aliases to make a small file walk as a huge one. At most this
 * many aliases, adding at most this many nodes to the tree they expand to. */
#define CONFIG_MAX_ALIASES 100
#define CONFIG_MAX_ALIAS_NODES 10000
/* Longest value quoted back in an error message. */
#define SHOW_MAX 64

/* A set of byte strings, each with the index it was added under, for the
 * "seen before?" checks of the loader (repeated keys, columns, pipeline
 * names) in linear time. Open addressing; memory from the config arena;
 * keys are borrowed. */
typedef struct strset {
    const char **key;
    size_t *len;
    size_t *idx;
    size_t cap; /* a power of two, over twice the entries */
} strset;

typedef struct loader {
    yaml_document_t doc;
    const char *file; /* as the user named it, for messages */
    pm_config *cfg;
    pm_err *err;
    const yaml_node_t **table_contracts; /* node of cfg->contracts[i], for messages */
    /* dup_first[i], for the mapping node i (NULL when none of its keys
     * repeats): for each pair, the index of an earlier pair with the same
     * key, or -1. Built once for the document (config arena), so that
     * checking every key of a mapping costs linear time, not quadratic. */
    int **dup_first;
    strset pipeline_names;    /* name -> index of its pipeline */
    strset contracted_tables; /* table -> index of the pipeline with its contract */
} loader;

/* What the walk remembers about each pipeline for the checks that span
 * pipelines (duplicate names, two contracts for one table). */
typedef struct pipeline_marks {
    const yaml_node_t *name;
    const yaml_node_t *contract;
} pipeline_marks;

/* ---- messages ---------------------------------------------------------- */

static pm_code fail_at(loader *ld, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Every error goes through here so that each one starts with file:line:col
 * (1-based; libyaml counts from 0). */
static pm_code fail_at(loader *ld, const yaml_node_t *n, const char *fmt, ...)
{
    char msg[448];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return pm_err_set(ld->err, PM_ERR_CONFIG, "%s:%lu:%lu: %s", ld->file,
                      (unsigned long)n->start_mark.line + 1,
                      (unsigned long)n->start_mark.column + 1, msg);
}

/* Writes s as a double-quoted one-line string, cut at SHOW_MAX bytes, so a
 * value with quotes or newlines cannot break the message it appears in. */
static void quote(char *out, size_t outsz, const char *s, size_t n)
{
    size_t cut = n > SHOW_MAX ? pm_utf8_truncate(s, n, SHOW_MAX) : n;
    size_t o = 0;
    if (outsz < 8)
        return;
    out[o++] = '"';
    for (size_t i = 0; i < cut && o + 8 < outsz; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c == '\n') {
            out[o++] = '\\';
            out[o++] = 'n';
        } else if (c < 0x20 || c == 0x7f) {
            o += (size_t)snprintf(out + o, outsz - o, "\\x%02x", c);
        } else {
            out[o++] = (char)c;
        }
    }
    if (cut < n && o + 5 < outsz) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o++] = '"';
    out[o] = '\0';
}

static const char *sval(const yaml_node_t *n)
{
    return (const char *)n->data.scalar.value;
}

static size_t slen(const yaml_node_t *n)
{
    return n->data.scalar.length;
}

static void strset_init(strset *set, pm_arena *a, size_t n)
{
    size_t cap = 16;
    while (cap < 2 * n + 2)
        cap *= 2;
    set->cap = cap;
    set->key = pm_arena_calloc(a, cap * sizeof *set->key);
    set->len = pm_arena_calloc(a, cap * sizeof *set->len);
    set->idx = pm_arena_calloc(a, cap * sizeof *set->idx);
}

/* Adds s[0..n) under idx; if it is already there returns false and its
 * first index in *first. At most cap / 2 entries (strset_init's n). */
static bool strset_add(strset *set, const char *s, size_t n, size_t idx, size_t *first)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    for (size_t i = (size_t)h & (set->cap - 1);; i = (i + 1) & (set->cap - 1)) {
        if (!set->key[i]) {
            set->key[i] = s;
            set->len[i] = n;
            set->idx[i] = idx;
            return true;
        }
        if (set->len[i] == n && memcmp(set->key[i], s, n) == 0) {
            *first = set->idx[i];
            return false;
        }
    }
}

/* Whether s[0..n) is in the set, with its index in *idx. */
static bool strset_find(const strset *set, const char *s, size_t n, size_t *idx)
{
    if (!set->cap)
        return false;
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    for (size_t i = (size_t)h & (set->cap - 1); set->key[i]; i = (i + 1) & (set->cap - 1)) {
        if (set->len[i] == n && memcmp(set->key[i], s, n) == 0) {
            *idx = set->idx[i];
            return true;
        }
    }
    return false;
}

/* Only a plain (unquoted) scalar can be null: `key:`, `key: ~`, `key: null`. */
static bool is_null(const yaml_node_t *n)
{
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    const char *s = sval(n);
    return slen(n) == 0 || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
           strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0;
}

/* "a list", "a mapping", "nothing" or the quoted scalar: what a type error
 * says it got. */
static const char *describe(const yaml_node_t *n, char *buf, size_t sz)
{
    if (n->type == YAML_MAPPING_NODE)
        return "a mapping";
    if (n->type == YAML_SEQUENCE_NODE)
        return "a list";
    if (is_null(n))
        return "nothing";
    quote(buf, sz, sval(n), slen(n));
    return buf;
}

/* The type errors all read "<key> <where> must be <what>, got <value>". */
static pm_code bad_value(loader *ld, const yaml_node_t *n, const char *key, const char *where,
                         const char *what)
{
    char buf[SHOW_MAX * 4 + 16];
    return fail_at(ld, n, "%s%s%s must be %s, got %s", key, *where ? " " : "", where, what,
                   describe(n, buf, sizeof buf));
}

static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 32 || lb > 32)
        return SIZE_MAX;
    size_t row[33];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* The hint for an unknown name: the closest valid one if it is a likely
 * typo, and the full list either way, after label ("valid keys"). */
static void hint_names(loader *ld, const char *key, const char *const *valid, size_t nvalid,
                       const char *label)
{
    char list[256] = "";
    size_t o = 0;
    const char *best = NULL;
    size_t best_d = 3; /* more than two edits away is not a typo */
    for (size_t i = 0; i < nvalid; i++) {
        o += (size_t)snprintf(list + o, o < sizeof list ? sizeof list - o : 0, "%s%s",
                              i ? ", " : "", valid[i]);
        if (o >= sizeof list)
            o = sizeof list - 1;
        size_t d = edit_distance(key, valid[i]);
        if (d < best_d && d < strlen(valid[i]) / 2 + 1) {
            best_d = d;
            best = valid[i];
        }
    }
    if (best)
        pm_err_hint(ld->err, "did you mean \"%s\"? %s: %s", best, label, list);
    else
        pm_err_hint(ld->err, "%s: %s", label, list);
}

/* ---- mappings and scalars ---------------------------------------------- */

static yaml_node_t *node(loader *ld, int id)
{
    return yaml_document_get_node(&ld->doc, id);
}

/* Checks one key of a mapping: a string, not a repeat of an earlier key of
 * the same mapping (libyaml keeps both; we would silently use one), and,
 * when valid is given, one of the valid keys. Returns its index in valid (0
 * when valid is NULL) or -1 with the error set. where is "in defaults" or
 * similar, "" at the top level. */
static int check_key(loader *ld, const yaml_node_t *map, const yaml_node_pair_t *pair,
                     const char *const *valid, size_t nvalid, const char *where)
{
    const yaml_node_t *k = node(ld, pair->key);
    const char *at = *where ? where : "at the top level";
    if (k->type != YAML_SCALAR_NODE || is_null(k)) {
        char buf[SHOW_MAX * 4 + 16];
        fail_at(ld, k, "keys %s must be strings, got %s", at, describe(k, buf, sizeof buf));
        return -1;
    }
    const int *first = ld->dup_first[map - ld->doc.nodes.start];
    int f = first ? first[pair - map->data.mapping.pairs.start] : -1;
    if (f >= 0) {
        const yaml_node_t *pk = node(ld, map->data.mapping.pairs.start[f].key);
        char buf[SHOW_MAX * 4 + 16];
        quote(buf, sizeof buf, sval(k), slen(k));
        fail_at(ld, k, "duplicate key %s %s (first at line %lu)", buf, at,
                (unsigned long)pk->start_mark.line + 1);
        return -1;
    }
    if (!valid)
        return 0;
    for (size_t i = 0; i < nvalid; i++)
        if (strlen(valid[i]) == slen(k) && strcmp(valid[i], sval(k)) == 0)
            return (int)i;
    char buf[SHOW_MAX * 4 + 16];
    quote(buf, sizeof buf, sval(k), slen(k));
    fail_at(ld, k, "unknown key %s %s", buf, at);
    hint_names(ld, sval(k), valid, nvalid, "valid keys");
    return -1;
}

/* The value of key in map, or NULL; used only to look ahead (the walk
 * itself reports duplicates and unknown keys). */
static yaml_node_t *map_get(loader *ld, const yaml_node_t *map, const char *key)
{
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = node(ld, p->key);
        if (k->type == YAML_SCALAR_NODE && strlen(key) == slen(k) && strcmp(key, sval(k)) == 0)
            return node(ld, p->value);
    }
    return NULL;
}

/* A non-empty string without NUL bytes, copied into the config arena. */
static pm_code get_string(loader *ld, const yaml_node_t *n, const char *key, const char *where,
                          const char **out)
{
    if (n->type != YAML_SCALAR_NODE || is_null(n) || slen(n) == 0)
        return bad_value(ld, n, key, where, "a non-empty string");
    if (strlen(sval(n)) != slen(n))
        return bad_value(ld, n, key, where, "a string without NUL characters");
    *out = pm_arena_strndup(ld->cfg->arena, sval(n), slen(n));
    return PM_OK;
}

/* Digits only: no sign, no spaces, no hex, no exponent. Quoted or not; a
 * person who writes batch_size: "5000" means 5000. */
static bool parse_count(const yaml_node_t *n, unsigned long long max, unsigned long long *out)
{
    if (n->type != YAML_SCALAR_NODE || slen(n) == 0 || slen(n) > 20)
        return false;
    const char *s = sval(n);
    for (size_t i = 0; i < slen(n); i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    errno = 0;
    unsigned long long v = strtoull(s, NULL, 10);
    if (errno == ERANGE || v == 0 || v > max)
        return false;
    *out = v;
    return true;
}

static pm_code get_count(loader *ld, const yaml_node_t *n, const char *key, const char *where,
                         unsigned long long max, unsigned long long *out)
{
    if (parse_count(n, max, out))
        return PM_OK;
    char what[64];
    if (max < 0xffffffffULL)
        snprintf(what, sizeof what, "a positive integer up to %llu", max);
    else
        snprintf(what, sizeof what, "a positive integer");
    return bad_value(ld, n, key, where, what);
}

/* YAML 1.2's core schema booleans; YAML 1.1's yes/no/on/off are refused
 * because `not_null: no` reads as a trap. */
static pm_code get_bool(loader *ld, const yaml_node_t *n, const char *key, const char *where,
                        bool *out)
{
    static const char *const yes[] = {"true", "True", "TRUE"};
    static const char *const no[] = {"false", "False", "FALSE"};
    if (n->type == YAML_SCALAR_NODE) {
        for (size_t i = 0; i < 3; i++) {
            if (strcmp(sval(n), yes[i]) == 0) {
                *out = true;
                return PM_OK;
            }
            if (strcmp(sval(n), no[i]) == 0) {
                *out = false;
                return PM_OK;
            }
        }
    }
    return bad_value(ld, n, key, where, "true or false");
}

/* A decimal number as JSON writes it (sign, digits, fraction, exponent):
 * strtod alone would also take hex, "inf", "nan" and leading spaces. */
static bool parse_number(const char *s, size_t n, double *out)
{
    size_t i = 0, digits = 0;
    if (i < n && (s[i] == '-' || s[i] == '+'))
        i++;
    while (i < n && s[i] >= '0' && s[i] <= '9')
        i++, digits++;
    if (i < n && s[i] == '.') {
        i++;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++, digits++;
    }
    if (digits == 0)
        return false;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '-' || s[i] == '+'))
            i++;
        size_t exp_digits = 0;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++, exp_digits++;
        if (exp_digits == 0)
            return false;
    }
    if (i != n || n > 64)
        return false;
    char buf[72];
    memcpy(buf, s, n);
    buf[n] = '\0';
    double d = strtod(buf, NULL);
    if (!isfinite(d))
        return false;
    *out = d;
    return true;
}

/* ---- contracts ---------------------------------------------------------- */

static const char *const contract_keys[] = {"unique", "columns"};
enum { CK_UNIQUE, CK_COLUMNS };

static const char *const rule_keys[] = {"not_null", "min", "max", "regex", "allowed", "max_length"};
enum { RK_NOT_NULL, RK_MIN, RK_MAX, RK_REGEX, RK_ALLOWED, RK_MAX_LENGTH };

/* Normalises a column name from the config with the rule data goes through,
 * so `Order ID:` in a contract finds the column the feed's "Order ID" made. */
static pm_code column_name(loader *ld, const yaml_node_t *n, const char *what, const char *where,
                           const char **out)
{
    if (n->type != YAML_SCALAR_NODE || is_null(n) || slen(n) == 0 || strlen(sval(n)) != slen(n))
        return bad_value(ld, n, what, where, "a column name");
    char norm[COLNAME_MAX + 1];
    size_t len = colname_normalise(sval(n), slen(n), norm);
    *out = pm_arena_strndup(ld->cfg->arena, norm, len);
    return PM_OK;
}

static pm_code load_unique(loader *ld, const yaml_node_t *n, const char *where, pm_contract *c)
{
    contract_rule *r = &c->rules[c->nrules];
    size_t count = 1;
    if (n->type == YAML_SEQUENCE_NODE) {
        count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
        if (count == 0)
            return bad_value(ld, n, "unique", where, "a column or a list of columns");
    } else if (n->type != YAML_SCALAR_NODE || is_null(n)) {
        return bad_value(ld, n, "unique", where, "a column or a list of columns");
    }
    const char **key = pm_arena_calloc(ld->cfg->arena, count * sizeof *key);
    strset seen;
    strset_init(&seen, ld->cfg->arena, count);
    for (size_t i = 0; i < count; i++) {
        const yaml_node_t *item =
            n->type == YAML_SEQUENCE_NODE ? node(ld, n->data.sequence.items.start[i]) : n;
        if (column_name(ld, item, "unique", where, &key[i]) != PM_OK)
            return PM_ERR_CONFIG;
        size_t j;
        if (!strset_add(&seen, key[i], strlen(key[i]), i, &j))
            return fail_at(ld, item, "column \"%s\" appears twice in unique %s", key[i], where);
    }
    r->kind = RULE_UNIQUE;
    r->name = "unique";
    r->key = key;
    r->nkey = count;
    c->nrules++;
    return PM_OK;
}

static pm_code load_allowed(loader *ld, const yaml_node_t *n, const char *where, contract_rule *r)
{
    size_t count = n->type == YAML_SEQUENCE_NODE
                       ? (size_t)(n->data.sequence.items.top - n->data.sequence.items.start)
                       : 0;
    /* A bare scalar is refused rather than taken as a list of one:
     * `allowed: new, paid` would otherwise allow only "new, paid". */
    if (count == 0) {
        pm_code rc = bad_value(ld, n, "allowed", where, "a non-empty list of values");
        pm_err_hint(ld->err, "write allowed: [value, value, ...]");
        return rc;
    }
    r->allowed = pm_arena_calloc(ld->cfg->arena, count * sizeof *r->allowed);
    for (size_t i = 0; i < count; i++) {
        const yaml_node_t *item = node(ld, n->data.sequence.items.start[i]);
        if (item->type != YAML_SCALAR_NODE || is_null(item) || strlen(sval(item)) != slen(item)) {
            pm_code rc = bad_value(ld, item, "allowed values", where, "strings or numbers");
            if (is_null(item))
                pm_err_hint(ld->err, "null always passes allowed; use not_null: true to refuse it");
            return rc;
        }
        r->allowed[i] = pm_arena_strndup(ld->cfg->arena, sval(item), slen(item));
    }
    r->nallowed = count;
    return PM_OK;
}

/* The rules of one column, added to c in the order they are written. */
static pm_code load_column(loader *ld, const yaml_node_t *rules, const char *col, const char *where,
                           pm_contract *c)
{
    const contract_rule *min = NULL, *max = NULL;
    const yaml_node_t *max_node = NULL;
    for (yaml_node_pair_t *p = rules->data.mapping.pairs.start; p < rules->data.mapping.pairs.top;
         p++) {
        int k = check_key(ld, rules, p, rule_keys, sizeof rule_keys / sizeof *rule_keys, where);
        if (k < 0)
            return PM_ERR_CONFIG;
        const yaml_node_t *v = node(ld, p->value);
        contract_rule *r = &c->rules[c->nrules];
        memset(r, 0, sizeof *r);
        r->column = col;
        r->name = pm_arena_sprintf(ld->cfg->arena, "%s.%s", col, rule_keys[k]);
        switch (k) {
        case RK_NOT_NULL: {
            bool on = false;
            if (get_bool(ld, v, "not_null", where, &on) != PM_OK)
                return PM_ERR_CONFIG;
            if (!on)
                continue; /* not_null: false is the default, not a rule */
            r->kind = RULE_NOT_NULL;
            break;
        }
        case RK_MIN:
        case RK_MAX:
            /* Either a number or a literal compared as text (an ISO date):
             * any scalar but null will do. */
            if (v->type != YAML_SCALAR_NODE || is_null(v) || slen(v) == 0 ||
                strlen(sval(v)) != slen(v))
                return bad_value(ld, v, rule_keys[k], where, "a number or a date");
            r->kind = k == RK_MIN ? RULE_MIN : RULE_MAX;
            r->text = pm_arena_strndup(ld->cfg->arena, sval(v), slen(v));
            if (!parse_number(sval(v), slen(v), &r->num))
                r->num = NAN;
            if (k == RK_MIN) {
                min = r;
            } else {
                max = r;
                max_node = v;
            }
            break;
        case RK_REGEX: {
            const char *src;
            if (get_string(ld, v, "regex", where, &src) != PM_OK)
                return PM_ERR_CONFIG;
            char why[300];
            if (!contract_regex_compile(r, src, why, sizeof why)) {
                char buf[SHOW_MAX * 4 + 16];
                quote(buf, sizeof buf, src, strlen(src));
                return fail_at(ld, v, "regex %s %s does not compile: %s", buf, where, why);
            }
            r->kind = RULE_REGEX;
            r->text = src;
            break;
        }
        case RK_ALLOWED:
            if (load_allowed(ld, v, where, r) != PM_OK)
                return PM_ERR_CONFIG;
            r->kind = RULE_ALLOWED;
            break;
        case RK_MAX_LENGTH: {
            unsigned long long n;
            if (get_count(ld, v, "max_length", where, SIZE_MAX, &n) != PM_OK)
                return PM_ERR_CONFIG;
            r->kind = RULE_MAX_LENGTH;
            r->max_length = (size_t)n;
            break;
        }
        }
        /* Counted only once complete, so that contract_release never frees
         * a regex that did not compile. */
        c->nrules++;
    }
    /* Pointers into c->rules stay valid: the array was sized up front. A
     * range no value can satisfy would quarantine every row. */
    if (min && max) {
        bool numeric = !isnan(min->num) && !isnan(max->num);
        bool textual = isnan(min->num) && isnan(max->num);
        if ((numeric && min->num > max->num) || (textual && strcmp(min->text, max->text) > 0))
            return fail_at(ld, max_node, "max %s is below min %s %s: no value could pass",
                           max->text, min->text, where);
    }
    return PM_OK;
}

/* Fills c (zeroed, already reachable from the config so that a failure
 * half-way still has its regexes released) from a `contract:` mapping.
 * owner is "pipeline \"orders\"" or "table \"events\"", for messages. */
static pm_code load_contract(loader *ld, const yaml_node_t *n, const char *owner, const char *table,
                             pm_contract *c)
{
    char where[320];
    snprintf(where, sizeof where, "in contract of %s", owner);
    c->table = table;
    if (n->type != YAML_MAPPING_NODE) {
        char what[300];
        snprintf(what, sizeof what, "of %s", owner);
        return bad_value(ld, n, "contract", what, "a mapping with unique and/or columns");
    }

    /* Size the rule array once: at most one rule per key written, plus the
     * unique key. */
    size_t max_rules = 1;
    const yaml_node_t *cols = map_get(ld, n, "columns");
    if (cols && cols->type == YAML_MAPPING_NODE) {
        for (yaml_node_pair_t *p = cols->data.mapping.pairs.start; p < cols->data.mapping.pairs.top;
             p++) {
            const yaml_node_t *v = node(ld, p->value);
            if (v->type == YAML_MAPPING_NODE)
                max_rules += (size_t)(v->data.mapping.pairs.top - v->data.mapping.pairs.start);
        }
    }
    c->rules = pm_arena_calloc(ld->cfg->arena, max_rules * sizeof *c->rules);

    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        int k = check_key(ld, n, p, contract_keys, 2, where);
        if (k < 0)
            return PM_ERR_CONFIG;
        const yaml_node_t *v = node(ld, p->value);
        if (k == CK_UNIQUE) {
            if (load_unique(ld, v, where, c) != PM_OK)
                return PM_ERR_CONFIG;
            continue;
        }
        if (is_null(v))
            continue;
        if (v->type != YAML_MAPPING_NODE)
            return bad_value(ld, v, "columns", where, "a mapping of column names to rules");
        size_t ncols = (size_t)(v->data.mapping.pairs.top - v->data.mapping.pairs.start);
        const char **names = pm_arena_calloc(ld->cfg->arena, (ncols ? ncols : 1) * sizeof *names);
        strset seen;
        strset_init(&seen, ld->cfg->arena, ncols);
        for (size_t i = 0; i < ncols; i++) {
            yaml_node_pair_t *cp = &v->data.mapping.pairs.start[i];
            if (check_key(ld, v, cp, NULL, 0, where) < 0)
                return PM_ERR_CONFIG;
            const yaml_node_t *kn = node(ld, cp->key);
            if (column_name(ld, kn, "column names", where, &names[i]) != PM_OK)
                return PM_ERR_CONFIG;
            size_t j;
            if (!strset_add(&seen, names[i], strlen(names[i]), i, &j)) {
                const yaml_node_t *first = node(ld, v->data.mapping.pairs.start[j].key);
                char a[SHOW_MAX * 4 + 16], b[SHOW_MAX * 4 + 16];
                quote(a, sizeof a, sval(first), slen(first));
                quote(b, sizeof b, sval(kn), slen(kn));
                return fail_at(ld, kn,
                               "columns %s and %s %s are the same column \"%s\" once "
                               "normalised",
                               a, b, where, names[i]);
            }
            char col_where[640];
            char shown[SHOW_MAX * 4 + 16];
            quote(shown, sizeof shown, sval(kn), slen(kn));
            snprintf(col_where, sizeof col_where, "in column %s of contract of %s", shown, owner);
            const yaml_node_t *rules = node(ld, cp->value);
            if (is_null(rules))
                continue;
            if (rules->type != YAML_MAPPING_NODE) {
                pm_code rc = bad_value(ld, rules, "rules", col_where, "a mapping");
                pm_err_hint(ld->err, "for example: %s: {not_null: true, min: 0}", names[i]);
                return rc;
            }
            if (load_column(ld, rules, names[i], col_where, c) != PM_OK)
                return PM_ERR_CONFIG;
        }
    }
    return PM_OK;
}

/* ---- policies ----------------------------------------------------------- */

static const char *const policy_keys[] = {"mode", "on_incident", "overrides",
                                          "auto_columns_per_day"};
enum { POK_MODE, POK_ON_INCIDENT, POK_OVERRIDES, POK_AUTO_COLUMNS };

/* The scalar as a C string, or NULL for anything else (null, a list, a
 * value with a NUL inside, which would otherwise match by its prefix). */
static const char *scalar_string(const yaml_node_t *n)
{
    if (n->type != YAML_SCALAR_NODE || is_null(n) || strlen(sval(n)) != slen(n))
        return NULL;
    return sval(n);
}

static pm_code load_mode(loader *ld, const yaml_node_t *n, const char *key, const char *where,
                         pm_policy_mode *out)
{
    if (policy_mode_parse(scalar_string(n), out))
        return PM_OK;
    pm_code rc = bad_value(ld, n, key, where, "auto, review or frozen");
    pm_err_hint(ld->err, "auto applies safe changes, review waits for a person for all of them, "
                         "frozen changes nothing");
    return rc;
}

/* `overrides:` maps op kinds (op.h's names) to classes. Whether an
 * override may apply to a given op is policy_class_with's business, not
 * the loader's: forbidden is accepted for every kind, and auto for every
 * kind too, since it never lifts an inherently forbidden op. */
static pm_code load_overrides(loader *ld, const yaml_node_t *n, const char *owner, pm_policy *p)
{
    char where[400], ov_where[400];
    snprintf(where, sizeof where, "in policy of %s", owner);
    snprintf(ov_where, sizeof ov_where, "in overrides of policy of %s", owner);
    if (is_null(n))
        return PM_OK;
    if (n->type != YAML_MAPPING_NODE) {
        pm_code rc = bad_value(ld, n, "overrides", where, "a mapping of op kinds to classes");
        pm_err_hint(ld->err, "for example: overrides: {add_column: review, drop_not_null: auto}");
        return rc;
    }
    const char *kinds[OP_KIND_COUNT];
    for (int k = 0; k < OP_KIND_COUNT; k++)
        kinds[k] = op_kind_name((pm_op_kind)k);
    for (yaml_node_pair_t *op = n->data.mapping.pairs.start; op < n->data.mapping.pairs.top; op++) {
        if (check_key(ld, n, op, NULL, 0, ov_where) < 0)
            return PM_ERR_CONFIG;
        const yaml_node_t *kn = node(ld, op->key);
        pm_op_kind kind;
        if (!op_kind_parse(scalar_string(kn), &kind)) {
            char buf[SHOW_MAX * 4 + 16];
            quote(buf, sizeof buf, sval(kn), slen(kn));
            pm_code rc = fail_at(ld, kn, "unknown op kind %s %s", buf, ov_where);
            hint_names(ld, sval(kn), kinds, OP_KIND_COUNT, "op kinds");
            return rc;
        }
        const yaml_node_t *v = node(ld, op->value);
        pm_op_class c;
        if (!policy_class_parse(scalar_string(v), &c))
            return bad_value(ld, v, kinds[kind], ov_where, "auto, review or forbidden");
        p->override[kind] = (signed char)c;
    }
    return PM_OK;
}

/* Fills p (set to the default first) from a `policy:` value: a mode alone,
 * as policy: was before it had settings, or a mapping. owner is
 * "pipeline \"orders\"" or "table \"events\"", for messages. */
static pm_code load_policy(loader *ld, const yaml_node_t *n, const char *owner, pm_policy *p)
{
    char where[320], pol_where[400];
    snprintf(where, sizeof where, "in %s", owner);
    snprintf(pol_where, sizeof pol_where, "in policy of %s", owner);
    policy_default(p);
    if (n->type != YAML_MAPPING_NODE) {
        if (n->type == YAML_SCALAR_NODE)
            return load_mode(ld, n, "policy", where, &p->mode);
        pm_code rc = bad_value(ld, n, "policy", where, "auto, review, frozen or a mapping");
        pm_err_hint(ld->err, "for example: policy: {mode: review, on_incident: halt}");
        return rc;
    }
    for (yaml_node_pair_t *pp = n->data.mapping.pairs.start; pp < n->data.mapping.pairs.top; pp++) {
        int k =
            check_key(ld, n, pp, policy_keys, sizeof policy_keys / sizeof *policy_keys, pol_where);
        if (k < 0)
            return PM_ERR_CONFIG;
        const yaml_node_t *v = node(ld, pp->value);
        pm_code rc = PM_OK;
        switch (k) {
        case POK_MODE:
            rc = load_mode(ld, v, "mode", pol_where, &p->mode);
            break;
        case POK_ON_INCIDENT:
            if (!on_incident_parse(scalar_string(v), &p->on_incident)) {
                rc = bad_value(ld, v, "on_incident", pol_where, "continue or halt");
                pm_err_hint(ld->err, "continue keeps clean rows flowing; halt holds back every "
                                     "later row of the source until the incident is resolved");
            }
            break;
        case POK_OVERRIDES:
            rc = load_overrides(ld, v, owner, p);
            break;
        case POK_AUTO_COLUMNS: {
            unsigned long long u;
            rc = get_count(ld, v, "auto_columns_per_day", pol_where, POLICY_AUTO_COLUMNS_MAX, &u);
            if (rc == PM_OK && u == 0)
                rc = bad_value(ld, v, "auto_columns_per_day", pol_where,
                               "a count from 1 (use add_column: review in overrides to add no "
                               "column without a person)");
            if (rc == PM_OK)
                p->auto_columns_per_day = (int)u;
            break;
        }
        }
        if (rc != PM_OK)
            return rc;
    }
    return PM_OK;
}

/* ---- sections ----------------------------------------------------------- */

static const char *const default_keys[] = {"batch_size",    "sample_size",   "max_line_bytes",
                                           "max_depth",     "volume_window", "volume_ratio",
                                           "promote_after", "last_line_wait"};
enum { DK_BATCH, DK_SAMPLE, DK_LINE, DK_DEPTH, DK_WINDOW, DK_RATIO, DK_PROMOTE, DK_LAST_LINE };

static pm_code load_defaults(loader *ld, const yaml_node_t *n)
{
    pm_config *cfg = ld->cfg;
    if (is_null(n))
        return PM_OK;
    if (n->type != YAML_MAPPING_NODE)
        return bad_value(ld, n, "defaults", "", "a mapping");
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        int k = check_key(ld, n, p, default_keys, sizeof default_keys / sizeof *default_keys,
                          "in defaults");
        if (k < 0)
            return PM_ERR_CONFIG;
        const yaml_node_t *v = node(ld, p->value);
        unsigned long long u = 0;
        if (k == DK_RATIO) {
            double d;
            if (v->type != YAML_SCALAR_NODE || !parse_number(sval(v), slen(v), &d) || d < 0 ||
                d > 1)
                return bad_value(ld, v, "volume_ratio", "in defaults", "a number between 0 and 1");
            cfg->volume_ratio = d;
            continue;
        }
        if (k == DK_LAST_LINE && v->type == YAML_SCALAR_NODE && strcmp(sval(v), "0") == 0) {
            cfg->last_line_wait = 0; /* at once */
            continue;
        }
        if (k == DK_PROMOTE && v->type == YAML_SCALAR_NODE && strcmp(sval(v), "0") == 0) {
            cfg->promote_after = 0; /* never */
            continue;
        }
        /* Maxima keep one setting from costing unbounded memory: a batch
         * (and the first one holds the whole sample) lives in memory. */
        static const unsigned long long maxima[] = {
            [DK_BATCH] = 1000000,        [DK_SAMPLE] = 1000000, [DK_LINE] = 1ULL << 30,
            [DK_DEPTH] = 10000,          [DK_WINDOW] = 1000,    [DK_PROMOTE] = 1000,
            [DK_LAST_LINE] = 30 * 86400,
        };
        unsigned long long max = maxima[k];
        if (get_count(ld, v, default_keys[k], "in defaults", max, &u) != PM_OK)
            return PM_ERR_CONFIG;
        switch (k) {
        case DK_BATCH:
            cfg->batch_size = (size_t)u;
            cfg->batch_size_set = true;
            break;
        case DK_SAMPLE:
            cfg->sample_size = (size_t)u;
            break;
        case DK_LINE:
            cfg->max_line_bytes = (size_t)u;
            break;
        case DK_DEPTH:
            cfg->max_depth = (int)u;
            break;
        case DK_WINDOW:
            cfg->volume_window = (int)u;
            break;
        case DK_PROMOTE:
            cfg->promote_after = (int)u;
            break;
        case DK_LAST_LINE:
            cfg->last_line_wait = (int64_t)u;
            break;
        }
    }
    return PM_OK;
}

static const char *const pipeline_keys[] = {
    "name",     "source",   "format", "table", "owner",  "policy",    "contract", "agent",
    "schedule", "timezone", "every",  "watch", "review", "delimiter", "encoding", "on_rewrite"};
enum {
    PK_NAME,
    PK_SOURCE,
    PK_FORMAT,
    PK_TABLE,
    PK_OWNER,
    PK_POLICY,
    PK_CONTRACT,
    PK_AGENT,
    PK_SCHEDULE,
    PK_TIMEZONE,
    PK_EVERY,
    PK_WATCH,
    PK_REVIEW,
    PK_DELIMITER,
    PK_ENCODING,
    PK_ON_REWRITE
};

static pm_code load_pipeline(loader *ld, const yaml_node_t *n, size_t index, pipeline_marks *marks,
                             pm_pipeline_cfg *pc)
{
    /* Name the pipeline in every message, even for keys above `name:`. */
    char owner[300];
    const yaml_node_t *name_node = n->type == YAML_MAPPING_NODE ? map_get(ld, n, "name") : NULL;
    if (name_node && name_node->type == YAML_SCALAR_NODE && !is_null(name_node)) {
        char shown[SHOW_MAX * 4 + 16];
        quote(shown, sizeof shown, sval(name_node), slen(name_node));
        snprintf(owner, sizeof owner, "pipeline %s", shown);
    } else {
        snprintf(owner, sizeof owner, "pipeline #%zu", index + 1);
    }
    char where[320];
    snprintf(where, sizeof where, "in %s", owner);
    if (n->type != YAML_MAPPING_NODE) {
        pm_code rc = bad_value(ld, n, owner, "", "a mapping");
        pm_err_hint(ld->err, "each pipeline needs name, source and table");
        return rc;
    }

    policy_default(&pc->policy);
    const yaml_node_t *contract = NULL, *schedule = NULL;
    const char *tz = NULL;
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        int k =
            check_key(ld, n, p, pipeline_keys, sizeof pipeline_keys / sizeof *pipeline_keys, where);
        if (k < 0)
            return PM_ERR_CONFIG;
        const yaml_node_t *v = node(ld, p->value);
        pm_code rc = PM_OK;
        switch (k) {
        case PK_NAME:
            rc = get_string(ld, v, "name", where, &pc->name);
            break;
        case PK_SOURCE:
            rc = get_string(ld, v, "source", where, &pc->source);
            break;
        case PK_TABLE:
            rc = get_string(ld, v, "table", where, &pc->table);
            break;
        case PK_OWNER:
            if (!is_null(v))
                rc = get_string(ld, v, "owner", where, &pc->owner);
            break;
        case PK_POLICY:
            rc = load_policy(ld, v, owner, &pc->policy);
            pc->has_policy = rc == PM_OK;
            break;
        case PK_FORMAT:
            if (is_null(v))
                break;
            if (v->type != YAML_SCALAR_NODE || !source_format_parse(sval(v), &pc->format)) {
                rc = bad_value(ld, v, "format", where, "ndjson, jsonl, json, csv or tsv");
                pm_err_hint(ld->err, "leave format out to decide from each file's extension");
                break;
            }
            pc->has_format = true;
            break;
        case PK_DELIMITER:
            if (is_null(v))
                break;
            if (v->type != YAML_SCALAR_NODE || !source_delimiter_parse(sval(v), &pc->delimiter)) {
                rc = bad_value(ld, v, "delimiter", where, "',', ';', '|' or tab");
                pm_err_hint(ld->err, "leave delimiter out to tell it from the CSV header");
            }
            break;
        case PK_ENCODING:
            if (is_null(v))
                break;
            if (v->type != YAML_SCALAR_NODE || !compress_charset_known(sval(v))) {
                rc = bad_value(ld, v, "encoding", where,
                               "a character set: latin1, windows-1252 ...");
                pm_err_hint(ld->err, "iconv -l lists the names; leave encoding out for UTF-8");
                break;
            }
            rc = get_string(ld, v, "encoding", where, &pc->encoding);
            break;
        case PK_CONTRACT:
            /* Loaded once the table is known (it may be written below). */
            contract = v;
            break;
        case PK_AGENT:
            if (is_null(v))
                break;
            if (v->type != YAML_SCALAR_NODE || strcmp(sval(v), "on_incident") != 0) {
                rc = bad_value(ld, v, "agent", where, "on_incident");
                pm_err_hint(ld->err, "the agent itself is configured in the top-level agent: "
                                     "section");
                break;
            }
            pc->agent_on_incident = true;
            break;
        case PK_SCHEDULE:
            schedule = v; /* parsed once the time zone is known */
            break;
        case PK_TIMEZONE:
            rc = get_string(ld, v, "timezone", where, &tz);
            if (!rc && !cron_tz_valid(tz)) {
                rc = bad_value(ld, v, "timezone", where, "an IANA time zone");
                pm_err_hint(ld->err, "for example UTC, Europe/Paris or America/New_York");
            }
            break;
        case PK_EVERY:
            if (v->type != YAML_SCALAR_NODE || !cron_duration(sval(v), &pc->every)) {
                rc = bad_value(ld, v, "every", where, "a duration such as 90s, 5m, 2h or 1d");
            }
            break;
        case PK_WATCH:
            rc = get_bool(ld, v, "watch", where, &pc->watch);
            break;
        case PK_ON_REWRITE:
            if (v->type != YAML_SCALAR_NODE || !ingest_on_rewrite_parse(sval(v), &pc->on_rewrite))
                rc = bad_value(ld, v, "on_rewrite", where, "stop, skip or reload");
            break;
        case PK_REVIEW: {
            static const char *const rk[] = {"export_dir", "git_branch_prefix"};
            if (v->type != YAML_MAPPING_NODE) {
                rc = bad_value(ld, v, "review", where, "a mapping with export_dir");
                break;
            }
            for (yaml_node_pair_t *q = v->data.mapping.pairs.start;
                 !rc && q < v->data.mapping.pairs.top; q++) {
                int rkey = check_key(ld, v, q, rk, 2, where);
                if (rkey < 0)
                    return PM_ERR_CONFIG;
                rc = get_string(ld, node(ld, q->value), rk[rkey], where,
                                rkey == 0 ? &pc->review_dir : &pc->review_branch);
            }
            if (!rc && !pc->review_dir) {
                rc = fail_at(ld, v, "review needs export_dir %s", where);
                pm_err_hint(ld->err, "the directory (in a git repository when git_branch_prefix "
                                     "is set) where serve writes each waiting proposal");
            }
            break;
        }
        }
        if (rc != PM_OK)
            return rc;
    }

    static const char *const required[] = {"name", "source", "table"};
    const char *have[] = {pc->name, pc->source, pc->table};
    for (size_t i = 0; i < 3; i++) {
        if (!have[i]) {
            pm_code rc = fail_at(ld, n, "missing key \"%s\" %s", required[i], where);
            pm_err_hint(ld->err, "every pipeline needs name, source and table");
            return rc;
        }
    }
    if (schedule && !is_null(schedule)) {
        const char *expr = NULL;
        if (get_string(ld, schedule, "schedule", where, &expr) != PM_OK)
            return PM_ERR_CONFIG;
        pm_err cerr = {0};
        if (cron_parse(expr, tz, &pc->cron, &cerr) != PM_OK) {
            pm_code rc = fail_at(ld, schedule, "%s %s", cerr.msg, where);
            pm_err_hint(ld->err, "%s", cerr.hint);
            return rc;
        }
        pc->has_cron = true;
    } else if (tz) {
        pm_code rc = fail_at(ld, n, "timezone without schedule %s", where);
        pm_err_hint(ld->err, "timezone says in which zone schedule: is read");
        return rc;
    }
    marks[index].name = name_node;
    size_t i;
    if (!strset_add(&ld->pipeline_names, pc->name, strlen(pc->name), index, &i))
        return fail_at(ld, name_node, "duplicate pipeline name \"%s\" (first at line %lu)",
                       pc->name, (unsigned long)marks[i].name->start_mark.line + 1);

    if (contract && !is_null(contract)) {
        pc->contract = pm_arena_calloc(ld->cfg->arena, sizeof *pc->contract);
        if (load_contract(ld, contract, owner, pc->table, pc->contract) != PM_OK)
            return PM_ERR_CONFIG;
        marks[index].contract = contract;
        /* Two pipelines may feed one table, but only one may say what its
         * contract is; otherwise which one holds would depend on order. */
        if (!strset_add(&ld->contracted_tables, pc->table, strlen(pc->table), index, &i)) {
            const pm_pipeline_cfg *o = &ld->cfg->pipelines[i];
            return fail_at(ld, contract,
                           "table \"%s\" already has a contract in pipeline \"%s\" (line "
                           "%lu)",
                           pc->table, o->name,
                           (unsigned long)marks[i].contract->start_mark.line + 1);
        }
    }
    return PM_OK;
}

static pm_code load_pipelines(loader *ld, const yaml_node_t *n)
{
    pm_config *cfg = ld->cfg;
    if (is_null(n))
        return PM_OK;
    if (n->type != YAML_SEQUENCE_NODE) {
        pm_code rc = bad_value(ld, n, "pipelines", "", "a list");
        pm_err_hint(ld->err, "start each pipeline with \"- name: ...\"");
        return rc;
    }
    size_t count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    cfg->pipelines = pm_arena_calloc(cfg->arena, (count ? count : 1) * sizeof *cfg->pipelines);
    pipeline_marks *marks = pm_arena_calloc(cfg->arena, (count ? count : 1) * sizeof *marks);
    strset_init(&ld->pipeline_names, cfg->arena, count);
    strset_init(&ld->contracted_tables, cfg->arena, count);
    for (size_t i = 0; i < count; i++) {
        /* Counted before it is filled, so config_free sees its contract. */
        pm_pipeline_cfg *pc = &cfg->pipelines[cfg->npipelines++];
        if (load_pipeline(ld, node(ld, n->data.sequence.items.start[i]), i, marks, pc) != PM_OK)
            return PM_ERR_CONFIG;
    }
    return PM_OK;
}

static pm_code load_tables(loader *ld, const yaml_node_t *n)
{
    pm_config *cfg = ld->cfg;
    static const char *const table_keys[] = {"contract", "policy"};
    enum { TBK_CONTRACT, TBK_POLICY };
    if (is_null(n))
        return PM_OK;
    if (n->type != YAML_MAPPING_NODE) {
        pm_code rc = bad_value(ld, n, "tables", "", "a mapping of table names");
        pm_err_hint(ld->err, "for example: tables: {events: {contract: {unique: [id]}}}");
        return rc;
    }
    size_t count = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
    cfg->contracts = pm_arena_calloc(cfg->arena, (count ? count : 1) * sizeof *cfg->contracts);
    ld->table_contracts = pm_arena_calloc(cfg->arena, (count ? count : 1) * sizeof(yaml_node_t *));
    cfg->table_policies =
        pm_arena_calloc(cfg->arena, (count ? count : 1) * sizeof *cfg->table_policies);
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        if (check_key(ld, n, p, NULL, 0, "in tables") < 0)
            return PM_ERR_CONFIG;
        const yaml_node_t *kn = node(ld, p->key);
        const yaml_node_t *v = node(ld, p->value);
        const char *table;
        if (get_string(ld, kn, "table names", "in tables", &table) != PM_OK)
            return PM_ERR_CONFIG;
        char owner[300], where[320];
        snprintf(owner, sizeof owner, "table \"%s\"", table);
        snprintf(where, sizeof where, "in %s", owner);
        if (is_null(v))
            continue;
        if (v->type != YAML_MAPPING_NODE)
            return bad_value(ld, v, owner, "in tables",
                             "a mapping with a contract and/or a policy");
        for (yaml_node_pair_t *tp = v->data.mapping.pairs.start; tp < v->data.mapping.pairs.top;
             tp++) {
            int k = check_key(ld, v, tp, table_keys, 2, where);
            if (k < 0)
                return PM_ERR_CONFIG;
            const yaml_node_t *cn = node(ld, tp->value);
            if (k == TBK_POLICY) {
                pm_table_policy *tpol = &cfg->table_policies[cfg->ntable_policies];
                tpol->table = table;
                if (load_policy(ld, cn, owner, &tpol->policy) != PM_OK)
                    return PM_ERR_CONFIG;
                cfg->ntable_policies++;
                continue;
            }
            if (is_null(cn))
                continue;
            ld->table_contracts[cfg->ncontracts] = cn;
            pm_contract *c = &cfg->contracts[cfg->ncontracts++];
            if (load_contract(ld, cn, owner, table, c) != PM_OK)
                return PM_ERR_CONFIG;
        }
    }
    return PM_OK;
}

static const char *const agent_keys[] = {
    "provider",   "model",          "base_url",        "api_key_env",  "max_turns",
    "max_tokens", "session_tokens", "session_seconds", "call_timeout", "daily_tokens",
    "retries",    "result_cap",     "kinds",           "price_input",  "price_output"};
enum {
    AK_PROVIDER,
    AK_MODEL,
    AK_BASE_URL,
    AK_KEY_ENV,
    AK_MAX_TURNS,
    AK_MAX_TOKENS,
    AK_SESSION_TOKENS,
    AK_SESSION_SECONDS,
    AK_CALL_TIMEOUT,
    AK_DAILY_TOKENS,
    AK_RETRIES,
    AK_RESULT_CAP,
    AK_KINDS,
    AK_PRICE_IN,
    AK_PRICE_OUT
};

/* An environment variable's name: what a shell accepts. */
static bool env_name_ok(const char *s)
{
    if (!*s || (*s >= '0' && *s <= '9'))
        return false;
    for (; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
              *s == '_'))
            return false;
    return true;
}

static pm_code load_agent(loader *ld, const yaml_node_t *n)
{
    pm_agent_cfg *ac = &ld->cfg->agent;
    const char *where = "in agent";
    if (is_null(n))
        return PM_OK;
    if (n->type != YAML_MAPPING_NODE) {
        pm_code rc = bad_value(ld, n, "agent", "", "a mapping");
        pm_err_hint(ld->err, "for example: agent: {provider: anthropic, model: claude-sonnet-4-5}");
        return rc;
    }
    ac->set = true;
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        int k = check_key(ld, n, p, agent_keys, sizeof agent_keys / sizeof *agent_keys, where);
        if (k < 0)
            return PM_ERR_CONFIG;
        const yaml_node_t *v = node(ld, p->value);
        pm_code rc = PM_OK;
        unsigned long long u = 0;
        /* maxima: a setting must not cost unbounded time, tokens or memory */
        static const unsigned long long maxima[] = {
            [AK_MAX_TURNS] = 1000,
            [AK_MAX_TOKENS] = 1000000,
            [AK_SESSION_TOKENS] = 100000000,
            [AK_SESSION_SECONDS] = 86400,
            [AK_CALL_TIMEOUT] = 3600,
            [AK_DAILY_TOKENS] = 10000000000ULL,
            [AK_RETRIES] = 20,
            [AK_RESULT_CAP] = 1 << 20,
        };
        long *counts[] = {
            [AK_MAX_TURNS] = &ac->max_turns,
            [AK_MAX_TOKENS] = &ac->max_tokens,
            [AK_SESSION_TOKENS] = &ac->session_tokens,
            [AK_SESSION_SECONDS] = &ac->session_seconds,
            [AK_CALL_TIMEOUT] = &ac->call_timeout,
            [AK_DAILY_TOKENS] = &ac->daily_tokens,
            [AK_RETRIES] = &ac->retries,
            [AK_RESULT_CAP] = &ac->result_cap,
        };
        switch (k) {
        case AK_PROVIDER:
            if (v->type != YAML_SCALAR_NODE ||
                (strcmp(sval(v), "anthropic") != 0 && strcmp(sval(v), "openai") != 0)) {
                rc = bad_value(ld, v, "provider", where, "anthropic or openai");
                pm_err_hint(ld->err, "openai covers every OpenAI-compatible chat-completions "
                                     "server (llama.cpp, vLLM, Ollama)");
                break;
            }
            ac->provider = pm_arena_strdup(ld->cfg->arena, sval(v));
            break;
        case AK_MODEL:
            rc = get_string(ld, v, "model", where, &ac->model);
            break;
        case AK_BASE_URL:
            rc = get_string(ld, v, "base_url", where, &ac->base_url);
            if (!rc && strncmp(ac->base_url, "http://", 7) != 0 &&
                strncmp(ac->base_url, "https://", 8) != 0)
                rc = bad_value(ld, v, "base_url", where, "an http:// or https:// URL");
            break;
        case AK_KEY_ENV:
            rc = get_string(ld, v, "api_key_env", where, &ac->api_key_env);
            if (!rc && !env_name_ok(ac->api_key_env)) {
                rc = bad_value(ld, v, "api_key_env", where,
                               "the name of an environment variable (letters, digits, _)");
                pm_err_hint(ld->err, "name the variable that holds the key; never write the key "
                                     "itself in pipemend.yaml");
            }
            break;
        case AK_KINDS: {
            if (v->type != YAML_SEQUENCE_NODE) {
                rc = bad_value(ld, v, "kinds", where, "a list of incident kinds");
                break;
            }
            ac->nkinds = 0;
            for (yaml_node_item_t *it = v->data.sequence.items.start;
                 !rc && it < v->data.sequence.items.top; it++) {
                const yaml_node_t *kn = node(ld, *it);
                pm_finding_kind fk;
                if (kn->type != YAML_SCALAR_NODE || !drift_kind_parse(sval(kn), &fk)) {
                    rc = bad_value(ld, kn, "kinds", where, "an incident kind");
                    pm_err_hint(ld->err, "kinds: rename, format, type_conflict, null_violation, "
                                         "out_of_band, new_field, widen, nested, contract");
                } else if (ac->nkinds == AGENT_KINDS_MAX) {
                    rc = bad_value(ld, kn, "kinds", where, "at most 16 kinds");
                } else {
                    ac->kinds[ac->nkinds++] = drift_kind_name(fk);
                }
            }
            break;
        }
        case AK_PRICE_IN:
        case AK_PRICE_OUT: {
            double d;
            if (v->type != YAML_SCALAR_NODE || !parse_number(sval(v), slen(v), &d) || d < 0 ||
                d > 1e6) {
                rc = bad_value(ld, v, agent_keys[k], where,
                               "a price in USD per million tokens (0 or more)");
                break;
            }
            *(k == AK_PRICE_IN ? &ac->price_input : &ac->price_output) = d;
            break;
        }
        default:
            if (k == AK_RETRIES && v->type == YAML_SCALAR_NODE && strcmp(sval(v), "0") == 0) {
                ac->retries = 0; /* none: the only count that may be 0 */
                break;
            }
            rc = get_count(ld, v, agent_keys[k], where, maxima[k], &u);
            if (!rc)
                *counts[k] = (long)u;
            break;
        }
        if (rc != PM_OK)
            return rc;
    }
    return PM_OK;
}

static pm_code load_notify(loader *ld, const yaml_node_t *n)
{
    static const char *const keys[] = {"name",       "url",     "format",   "events",
                                       "secret_env", "timeout", "link_base"};
    pm_config *cfg = ld->cfg;
    if (is_null(n))
        return PM_OK;
    if (n->type != YAML_SEQUENCE_NODE) {
        pm_code rc = bad_value(ld, n, "notify", "", "a list of sinks");
        pm_err_hint(ld->err, "start each sink with \"- name: ...\" and give its url");
        return rc;
    }
    size_t count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    cfg->sinks = pm_arena_calloc(cfg->arena, (count ? count : 1) * sizeof *cfg->sinks);
    for (size_t i = 0; i < count; i++) {
        const yaml_node_t *m = node(ld, n->data.sequence.items.start[i]);
        pm_notify_sink *k = &cfg->sinks[cfg->nsinks++];
        k->events = (1u << NE_COUNT) - 1;
        k->timeout = 10;
        char where[64];
        snprintf(where, sizeof where, "in notify sink #%zu", i + 1);
        if (m->type != YAML_MAPPING_NODE)
            return bad_value(ld, m, "notify sink", "", "a mapping with name and url");
        for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top;
             p++) {
            int key = check_key(ld, m, p, keys, sizeof keys / sizeof *keys, where);
            if (key < 0)
                return PM_ERR_CONFIG;
            const yaml_node_t *v = node(ld, p->value);
            pm_code rc = PM_OK;
            unsigned long long u;
            switch (key) {
            case 0:
                rc = get_string(ld, v, "name", where, &k->name);
                break;
            case 1:
                rc = get_string(ld, v, "url", where, &k->url);
                if (!rc && strncmp(k->url, "http://", 7) != 0 &&
                    strncmp(k->url, "https://", 8) != 0)
                    rc = bad_value(ld, v, "url", where, "an http:// or https:// URL");
                break;
            case 2:
                if (v->type != YAML_SCALAR_NODE ||
                    (strcmp(sval(v), "json") != 0 && strcmp(sval(v), "slack") != 0))
                    rc = bad_value(ld, v, "format", where, "json or slack");
                else
                    k->slack = strcmp(sval(v), "slack") == 0;
                break;
            case 3:
                if (v->type != YAML_SEQUENCE_NODE) {
                    rc = bad_value(ld, v, "events", where, "a list of events");
                    break;
                }
                k->events = 0;
                for (yaml_node_item_t *it = v->data.sequence.items.start;
                     !rc && it < v->data.sequence.items.top; it++) {
                    const yaml_node_t *en = node(ld, *it);
                    notify_event ev;
                    if (en->type != YAML_SCALAR_NODE || !notify_event_parse(sval(en), &ev)) {
                        rc = bad_value(ld, en, "events", where, "an event pipemend sends");
                        pm_err_hint(ld->err, "events: incident.opened, proposal.awaiting, "
                                             "proposal.applied, proposal.rejected, run.failed, "
                                             "volume.anomaly, audit.verify_failed");
                    } else {
                        k->events |= 1u << ev;
                    }
                }
                break;
            case 4:
                rc = get_string(ld, v, "secret_env", where, &k->secret_env);
                if (!rc && !env_name_ok(k->secret_env)) {
                    rc = bad_value(ld, v, "secret_env", where,
                                   "the name of an environment variable");
                    pm_err_hint(ld->err, "name the variable that holds the secret; never write "
                                         "the secret itself in pipemend.yaml");
                }
                break;
            case 5:
                rc = get_count(ld, v, "timeout", where, 300, &u);
                k->timeout = (long)u;
                break;
            case 6:
                rc = get_string(ld, v, "link_base", where, &k->link_base);
                break;
            }
            if (rc)
                return rc;
        }
        if (!k->name || !k->url) {
            pm_code rc = fail_at(ld, m, "a notify sink needs name and url %s", where);
            pm_err_hint(ld->err, "for example: notify: [{name: oncall, url: https://..., format: "
                                 "slack}]");
            return rc;
        }
        for (size_t j = 0; j + 1 < cfg->nsinks; j++)
            if (strcmp(cfg->sinks[j].name, k->name) == 0)
                return fail_at(ld, m, "two notify sinks are called \"%s\"", k->name);
    }
    return PM_OK;
}

/* trusted_proxies: addresses and ranges ("10.0.0.5", "10.0.0.0/8"). */
static pm_code load_proxies(loader *ld, const yaml_node_t *n)
{
    size_t count = n->type == YAML_SEQUENCE_NODE
                       ? (size_t)(n->data.sequence.items.top - n->data.sequence.items.start)
                       : 0;
    if (count == 0) {
        pm_code rc =
            bad_value(ld, n, "trusted_proxies", "in serve", "a non-empty list of addresses");
        pm_err_hint(ld->err, "write trusted_proxies: [127.0.0.1, 10.0.0.0/8]");
        return rc;
    }
    pm_serve_cfg *sv = &ld->cfg->serve;
    sv->proxies = pm_arena_calloc(ld->cfg->arena, count * sizeof *sv->proxies);
    for (size_t i = 0; i < count; i++) {
        const yaml_node_t *item = node(ld, n->data.sequence.items.start[i]);
        const char *v;
        if (get_string(ld, item, "trusted_proxies", "in serve", &v) != PM_OK)
            return PM_ERR_CONFIG;
        if (!pm_netrange_parse(v, &sv->proxies[i]))
            return bad_value(ld, item, "trusted_proxies", "in serve",
                             "an IP address or a range such as 10.0.0.0/8");
    }
    sv->nproxies = count;
    return PM_OK;
}

/* An HTTP header name: RFC 9110's token characters. */
static bool header_name_ok(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!(isalnum((unsigned char)*s) || strchr("!#$%&'*+-.^_`|~", *s)))
            return false;
    return true;
}

static pm_code load_serve(loader *ld, const yaml_node_t *n)
{
    static const char *const keys[] = {"max_concurrent",    "lease_seconds",
                                       "max_connections",   "max_connections_per_peer",
                                       "proxy_user_header", "trusted_proxies"};
    enum { K_CONCURRENT, K_LEASE, K_CONNS, K_PER_PEER, K_HEADER, K_PROXIES };
    static const unsigned long long max[] = {64, 3600, 4096, 4096};
    if (is_null(n))
        return PM_OK;
    if (n->type != YAML_MAPPING_NODE)
        return bad_value(ld, n, "serve", "", "a mapping");
    pm_serve_cfg *sv = &ld->cfg->serve;
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        int k = check_key(ld, n, p, keys, 6, "in serve");
        if (k < 0)
            return PM_ERR_CONFIG;
        const yaml_node_t *v = node(ld, p->value);
        unsigned long long u = 0;
        if (k == K_HEADER) {
            if (get_string(ld, v, keys[k], "in serve", &sv->proxy_user_header) != PM_OK)
                return PM_ERR_CONFIG;
            if (!header_name_ok(sv->proxy_user_header))
                return bad_value(ld, v, keys[k], "in serve", "an HTTP header name");
            continue;
        }
        if (k == K_PROXIES) {
            if (load_proxies(ld, v) != PM_OK)
                return PM_ERR_CONFIG;
            continue;
        }
        if (get_count(ld, v, keys[k], "in serve", max[k], &u))
            return PM_ERR_CONFIG;
        if (k == K_CONCURRENT)
            sv->max_concurrent = (int)u;
        else if (k == K_LEASE)
            sv->lease_seconds = (int)u;
        else if (k == K_CONNS)
            sv->max_connections = (int)u;
        else
            sv->max_connections_per_peer = (int)u;
    }
    if (sv->max_connections_per_peer > sv->max_connections)
        return fail_at(ld, n,
                       "serve's max_connections_per_peer (%d) is more than its max_connections "
                       "(%d)",
                       sv->max_connections_per_peer, sv->max_connections);
    if (!sv->proxy_user_header != !sv->nproxies)
        return fail_at(ld, n,
                       "serve's proxy_user_header and trusted_proxies go together: the header "
                       "names the user only on connections from those addresses");
    return PM_OK;
}

static pm_code load_postgres(loader *ld, const yaml_node_t *n)
{
    static const char *const keys[] = {"reconnect_seconds"};
    if (is_null(n))
        return PM_OK;
    if (n->type != YAML_MAPPING_NODE)
        return bad_value(ld, n, "postgres", "", "a mapping");
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        unsigned long long u;
        if (check_key(ld, n, p, keys, 1, "in postgres") < 0 ||
            get_count(ld, node(ld, p->value), keys[0], "in postgres", 86400, &u))
            return PM_ERR_CONFIG;
        ld->cfg->pg_reconnect_seconds = (int)u;
    }
    return PM_OK;
}

static const char *const top_keys[] = {
    "db",    "defaults", "pipelines",     "tables",     "audit_anchor", "agent",
    "serve", "notify",   "audit_key_env", "users_file", "postgres"};
enum {
    TK_DB,
    TK_DEFAULTS,
    TK_PIPELINES,
    TK_TABLES,
    TK_AUDIT_ANCHOR,
    TK_AGENT,
    TK_SERVE,
    TK_NOTIFY,
    TK_AUDIT_KEY_ENV,
    TK_USERS_FILE,
    TK_POSTGRES
};

static pm_code load_root(loader *ld, const yaml_node_t *root)
{
    if (root->type != YAML_MAPPING_NODE) {
        pm_code rc = bad_value(ld, root, "the file", "", "a mapping");
        pm_err_hint(ld->err, "valid top-level keys: db, defaults, pipelines, tables, audit_anchor, "
                             "agent, serve, notify, audit_key_env, users_file, postgres");
        return rc;
    }
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
         p++) {
        int k = check_key(ld, root, p, top_keys, sizeof top_keys / sizeof *top_keys, "");
        if (k < 0)
            return PM_ERR_CONFIG;
        const yaml_node_t *v = node(ld, p->value);
        pm_code rc = PM_OK;
        switch (k) {
        case TK_DB:
            if (!is_null(v))
                rc = get_string(ld, v, "db", "", &ld->cfg->db);
            break;
        case TK_DEFAULTS:
            rc = load_defaults(ld, v);
            break;
        case TK_PIPELINES:
            rc = load_pipelines(ld, v);
            break;
        case TK_TABLES:
            rc = load_tables(ld, v);
            break;
        case TK_AUDIT_ANCHOR:
            if (!is_null(v))
                rc = get_string(ld, v, "audit_anchor", "", &ld->cfg->audit_anchor);
            break;
        case TK_AGENT:
            rc = load_agent(ld, v);
            break;
        case TK_SERVE:
            rc = load_serve(ld, v);
            break;
        case TK_NOTIFY:
            rc = load_notify(ld, v);
            break;
        case TK_POSTGRES:
            rc = load_postgres(ld, v);
            break;
        case TK_USERS_FILE:
            if (!is_null(v))
                rc = get_string(ld, v, "users_file", "", &ld->cfg->users_file);
            break;
        case TK_AUDIT_KEY_ENV:
            if (!is_null(v))
                rc = get_string(ld, v, "audit_key_env", "", &ld->cfg->audit_key_env);
            if (rc == PM_OK && ld->cfg->audit_key_env && !env_name_ok(ld->cfg->audit_key_env))
                rc = bad_value(ld, v, "audit_key_env", "",
                               "the name of an environment variable (letters, digits, _)");
            break;
        }
        if (rc != PM_OK)
            return rc;
    }

    /* config_contract prefers a pipeline's contract; say so when that hides
     * one written under tables:, since it will never be checked. */
    for (size_t i = 0; i < ld->cfg->ncontracts; i++) {
        const pm_contract *c = &ld->cfg->contracts[i];
        size_t j;
        if (strset_find(&ld->contracted_tables, c->table, strlen(c->table), &j)) {
            const yaml_mark_t *m = &ld->table_contracts[i]->start_mark;
            pm_warn("%s:%lu:%lu: the contract for table \"%s\" under tables: is ignored: "
                    "pipeline \"%s\" declares its own",
                    ld->file, (unsigned long)m->line + 1, (unsigned long)m->column + 1, c->table,
                    ld->cfg->pipelines[j].name);
        }
    }
    return PM_OK;
}

/* ---- public API --------------------------------------------------------- */

static pm_config *config_new(void)
{
    pm_arena *a = pm_arena_new(0);
    pm_config *cfg = pm_arena_calloc(a, sizeof *cfg);
    cfg->arena = a;
    cfg->batch_size = 5000;
    cfg->sample_size = 1000;
    cfg->max_line_bytes = (size_t)16 << 20;
    cfg->max_depth = 64;
    cfg->volume_window = 10;
    cfg->volume_ratio = 0.2;
    cfg->promote_after = 3; /* PROMOTE_AFTER_DEFAULT (heal/promote.h) */
    cfg->serve.max_concurrent = 2;
    cfg->serve.lease_seconds = 30;
    cfg->serve.max_connections = 256;
    cfg->serve.max_connections_per_peer = 32;
    cfg->pg_reconnect_seconds = STORE_RECONNECT_SECONDS;
    cfg->last_line_wait = 3600;
    pm_agent_cfg *ac = &cfg->agent;
    ac->provider = "anthropic";
    ac->max_turns = 12;
    ac->max_tokens = 2048;
    ac->session_tokens = 200000;
    ac->session_seconds = 300;
    ac->call_timeout = 60;
    ac->daily_tokens = 2000000;
    ac->retries = 4;
    ac->result_cap = 16384;
    static const char *const kinds[] = {"rename", "format", "type_conflict", "null_violation",
                                        "out_of_band"};
    for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++)
        ac->kinds[ac->nkinds++] = kinds[i];
    return cfg;
}

/* libyaml's reader (bad UTF-8, control characters) reports a byte offset
 * rather than a mark; count lines up to it so that every error still reads
 * file:line:col. */
static void offset_to_mark(const char *text, size_t len, size_t offset, yaml_mark_t *mark)
{
    mark->line = 0;
    mark->column = 0;
    for (size_t i = 0; i < offset && i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c == '\n') {
            mark->line++;
            mark->column = 0;
        } else if ((c & 0xC0) != 0x80) {
            mark->column++;
        }
    }
}

static pm_code parser_error(loader *ld, yaml_parser_t *parser, const char *text, size_t len)
{
    const char *problem = parser->problem ? parser->problem : "cannot read YAML";
    yaml_mark_t mark = parser->problem_mark;
    char value[16] = "";
    if (parser->error == YAML_MEMORY_ERROR)
        problem = "out of memory";
    if (parser->error == YAML_READER_ERROR) {
        offset_to_mark(text, len, parser->problem_offset, &mark);
        if (parser->problem_value >= 0)
            snprintf(value, sizeof value, " (0x%02x)", (unsigned)parser->problem_value);
    }
    pm_code rc =
        pm_err_set(ld->err, PM_ERR_CONFIG, "%s:%lu:%lu: %s%s", ld->file,
                   (unsigned long)mark.line + 1, (unsigned long)mark.column + 1, problem, value);
    if (parser->context)
        pm_err_detail(ld->err, "%s (line %lu, column %lu)", parser->context,
                      (unsigned long)parser->context_mark.line + 1,
                      (unsigned long)parser->context_mark.column + 1);
    return rc;
}

static pm_code fail_at_mark(loader *ld, const yaml_mark_t *m, const char *msg)
{
    return pm_err_set(ld->err, PM_ERR_CONFIG, "%s:%lu:%lu: %s", ld->file,
                      (unsigned long)m->line + 1, (unsigned long)m->column + 1, msg);
}

/* An anchor seen by the pre-scan: its name and how many nodes the tree
 * under it holds with the aliases in it expanded. */
typedef struct anchor_size {
    const char *name; /* copied into the config arena */
    size_t nodes;
} anchor_size;

/* The pre-scan: reads the text as events, before libyaml builds a tree of
 * it, and stops at the first one past a bound: nesting deeper than
 * CONFIG_MAX_DEPTH, more than CONFIG_MAX_ALIASES aliases, or aliases that
 * would make the loader walk more than CONFIG_MAX_ALIAS_NODES extra nodes.
 * Its cost is linear in the text and its memory the depth and the anchors. */
static pm_code prescan(loader *ld, const char *text, size_t len)
{
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser))
        pm_oom(sizeof parser);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    pm_arena *a = ld->cfg->arena;
    size_t open_start[CONFIG_MAX_DEPTH + 1]; /* expanded count when each open node began */
    const char *open_anchor[CONFIG_MAX_DEPTH + 1];
    size_t depth = 0, aliases = 0, expanded = 0, alias_nodes = 0;
    anchor_size *anchors = NULL;
    size_t nanchors = 0, cap = 0;
    pm_code rc = PM_OK;
    for (bool done = false; !done && rc == PM_OK;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev)) {
            rc = parser_error(ld, &parser, text, len);
            break;
        }
        const char *anchor = NULL;
        bool opens = false, closes = false;
        switch (ev.type) {
        case YAML_STREAM_END_EVENT:
            done = true;
            break;
        case YAML_SCALAR_EVENT:
            anchor = (const char *)ev.data.scalar.anchor;
            expanded++;
            break;
        case YAML_SEQUENCE_START_EVENT:
            anchor = (const char *)ev.data.sequence_start.anchor;
            opens = true;
            break;
        case YAML_MAPPING_START_EVENT:
            anchor = (const char *)ev.data.mapping_start.anchor;
            opens = true;
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            closes = true;
            break;
        case YAML_ALIAS_EVENT: {
            const char *name = (const char *)ev.data.alias.anchor;
            size_t nodes = 1;
            for (size_t i = nanchors; i-- > 0;) {
                if (strcmp(anchors[i].name, name) == 0) {
                    nodes = anchors[i].nodes;
                    break;
                }
            }
            char msg[200];
            if (++aliases > CONFIG_MAX_ALIASES) {
                snprintf(msg, sizeof msg,
                         "more than %d aliases (*name); a config may name an anchor that often "
                         "at most",
                         CONFIG_MAX_ALIASES);
                rc = fail_at_mark(ld, &ev.start_mark, msg);
            } else if ((alias_nodes += nodes) > CONFIG_MAX_ALIAS_NODES) {
                snprintf(msg, sizeof msg,
                         "the aliases up to here expand to more than %d nodes (an alias "
                         "repeats what its anchor names); write that part out instead",
                         CONFIG_MAX_ALIAS_NODES);
                rc = fail_at_mark(ld, &ev.start_mark, msg);
            }
            expanded += nodes;
            break;
        }
        default:
            break;
        }
        if (rc == PM_OK && opens) {
            if (depth == CONFIG_MAX_DEPTH) {
                char msg[120];
                snprintf(msg, sizeof msg, "nested more than %d levels deep", CONFIG_MAX_DEPTH);
                rc = fail_at_mark(ld, &ev.start_mark, msg);
            } else {
                expanded++;
                open_start[depth] = expanded;
                open_anchor[depth] = anchor ? pm_arena_strdup(a, anchor) : NULL;
                depth++;
            }
            anchor = NULL; /* recorded when it closes, with its size */
        }
        if (rc == PM_OK && closes && depth > 0) {
            depth--;
            anchor = open_anchor[depth];
        }
        if (rc == PM_OK && anchor) {
            if (nanchors == cap) {
                size_t ncap = cap ? 2 * cap : 16;
                anchor_size *grown = pm_arena_alloc(a, ncap * sizeof *grown);
                if (nanchors)
                    memcpy(grown, anchors, nanchors * sizeof *anchors);
                anchors = grown;
                cap = ncap;
            }
            anchors[nanchors].name = closes ? anchor : pm_arena_strdup(a, anchor);
            anchors[nanchors].nodes = closes ? expanded - open_start[depth] + 1 : 1;
            nanchors++;
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&parser);
    return rc;
}

/* For every mapping of the document, which of its keys repeat an earlier
 * one (ld->dup_first); one hash set per mapping, so linear overall. */
static void index_duplicate_keys(loader *ld)
{
    pm_arena *a = ld->cfg->arena;
    size_t nnodes = (size_t)(ld->doc.nodes.top - ld->doc.nodes.start);
    ld->dup_first = pm_arena_calloc(a, (nnodes ? nnodes : 1) * sizeof *ld->dup_first);
    for (size_t i = 0; i < nnodes; i++) {
        const yaml_node_t *map = &ld->doc.nodes.start[i];
        if (map->type != YAML_MAPPING_NODE)
            continue;
        size_t n = (size_t)(map->data.mapping.pairs.top - map->data.mapping.pairs.start);
        if (n < 2)
            continue;
        strset seen;
        strset_init(&seen, a, n);
        int *first = NULL;
        for (size_t p = 0; p < n; p++) {
            const yaml_node_t *k = node(ld, map->data.mapping.pairs.start[p].key);
            size_t f;
            if (k->type != YAML_SCALAR_NODE || strset_add(&seen, sval(k), slen(k), p, &f))
                continue;
            if (!first) {
                first = pm_arena_alloc(a, n * sizeof *first);
                for (size_t q = 0; q < n; q++)
                    first[q] = -1;
            }
            first[p] = (int)f;
        }
        ld->dup_first[i] = first;
    }
}

/* Parses text (the whole file) into cfg: first the pre-scan of its
 * bounds, then libyaml's tree and the walk. libyaml's own errors (bad
 * indentation, a tab, an unclosed quote) come back with its problem text
 * and position. */
static pm_code load_text(loader *ld, const char *text, size_t len)
{
    pm_code rc = prescan(ld, text, len);
    if (rc != PM_OK)
        return rc;
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser))
        pm_oom(sizeof parser);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &ld->doc)) {
        rc = parser_error(ld, &parser, text, len);
        yaml_parser_delete(&parser);
        return rc;
    }
    yaml_node_t *root = yaml_document_get_root_node(&ld->doc);
    if (root) {
        index_duplicate_keys(ld);
        rc = load_root(ld, root);
        if (rc == PM_OK) {
            /* A second document would be ignored; refuse it instead. */
            yaml_document_t next;
            if (!yaml_parser_load(&parser, &next)) {
                rc = parser_error(ld, &parser, text, len);
            } else {
                yaml_node_t *second = yaml_document_get_root_node(&next);
                if (second)
                    rc = fail_at(ld, second, "only one YAML document is allowed");
                yaml_document_delete(&next);
            }
        }
    }
    yaml_document_delete(&ld->doc);
    yaml_parser_delete(&parser);
    return rc;
}

/* Reads the whole file, refusing it past CONFIG_MAX_BYTES whatever it is
 * (a regular file, a pipe, a device). The text is NUL-terminated; caller
 * frees it. */
static pm_code read_config(FILE *fp, const char *path, char **out, size_t *len, pm_err *err)
{
    size_t cap = 8192, n = 0;
    char *buf = pm_xmalloc(cap + 1);
    for (;;) {
        if (n == cap) {
            if (cap > CONFIG_MAX_BYTES) {
                free(buf);
                return pm_err_set(err, PM_ERR_CONFIG,
                                  "%s: is over %zu bytes; a config file is at most %zu", path,
                                  CONFIG_MAX_BYTES, CONFIG_MAX_BYTES);
            }
            cap *= 2;
            char *grown = realloc(buf, cap + 1);
            if (!grown) {
                free(buf);
                pm_oom(cap + 1);
            }
            buf = grown;
        }
        size_t got = fread(buf + n, 1, cap - n, fp);
        n += got;
        if (got == 0)
            break;
    }
    if (ferror(fp)) {
        free(buf);
        return pm_err_set(err, PM_ERR_CONFIG, "%s: cannot read: %s", path, strerror(errno));
    }
    if (n > CONFIG_MAX_BYTES) {
        free(buf);
        return pm_err_set(err, PM_ERR_CONFIG, "%s: is over %zu bytes; a config file is at most %zu",
                          path, CONFIG_MAX_BYTES, CONFIG_MAX_BYTES);
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return PM_OK;
}

pm_config *config_defaults(void)
{
    return config_new();
}

pm_code config_load(const char *path, pm_config **out, pm_err *err)
{
    *out = NULL;
    bool named = path != NULL;
    if (!named)
        path = CONFIG_DEFAULT_PATH;
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        if (!named && errno == ENOENT) {
            *out = config_new();
            return PM_OK;
        }
        return pm_err_set(err, PM_ERR_CONFIG, "%s: cannot open: %s", path, strerror(errno));
    }
    struct stat st;
    if (fstat(fileno(fp), &st) == 0) {
        if (S_ISDIR(st.st_mode)) {
            fclose(fp);
            return pm_err_set(err, PM_ERR_CONFIG, "%s: is a directory, not a config file", path);
        }
        if (S_ISREG(st.st_mode) && st.st_size > (off_t)CONFIG_MAX_BYTES) {
            fclose(fp);
            return pm_err_set(err, PM_ERR_CONFIG, "%s: is %lld bytes; a config file is at most %zu",
                              path, (long long)st.st_size, CONFIG_MAX_BYTES);
        }
    }
    char *text = NULL; /* set by read_config; gcc -O2 cannot see it */
    size_t len = 0;
    pm_code rc = read_config(fp, path, &text, &len, err);
    fclose(fp);
    if (rc != PM_OK)
        return rc;

    pm_config *cfg = config_new();
    cfg->path = pm_arena_strdup(cfg->arena, path);
    loader ld = {.file = cfg->path, .cfg = cfg, .err = err};
    rc = load_text(&ld, text, len);
    free(text);
    if (rc != PM_OK) {
        config_free(cfg);
        return rc;
    }
    *out = cfg;
    return PM_OK;
}

void config_policy(const pm_config *cfg, const char *pipeline, const char *table, pm_policy *out)
{
    policy_default(out);
    if (!cfg)
        return;
    const pm_pipeline_cfg *p = pipeline ? config_pipeline(cfg, pipeline) : NULL;
    if (p && !table)
        table = p->table;
    if (p && p->has_policy && table && strcmp(p->table, table) == 0) {
        *out = p->policy;
        return;
    }
    for (size_t i = 0; table && i < cfg->ntable_policies; i++) {
        if (strcmp(cfg->table_policies[i].table, table) == 0) {
            *out = cfg->table_policies[i].policy;
            return;
        }
    }
}

void config_table_policy(const pm_config *cfg, const char *table, pm_policy *out)
{
    config_policy(cfg, NULL, table, out);
    if (!cfg || !table)
        return;
    bool first = true, unowned = true;
    for (size_t i = 0; i < cfg->npipelines; i++) {
        const pm_pipeline_cfg *p = &cfg->pipelines[i];
        if (strcmp(p->table, table) != 0)
            continue;
        unowned = false;
        pm_policy pp;
        config_policy(cfg, p->name, table, &pp);
        if (first)
            *out = pp;
        else
            policy_merge(out, &pp);
        first = false;
    }
    if (!unowned) { /* a run without a pipeline may load the table too */
        pm_policy plain;
        config_policy(cfg, NULL, table, &plain);
        policy_merge(out, &plain);
    }
}

const char *config_policy_source(const pm_config *cfg)
{
    return cfg && cfg->path ? cfg->path : "the default (no pipemend.yaml)";
}

void config_free(pm_config *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < cfg->npipelines; i++)
        if (cfg->pipelines[i].contract)
            contract_release(cfg->pipelines[i].contract);
    for (size_t i = 0; i < cfg->ncontracts; i++)
        contract_release(&cfg->contracts[i]);
    pm_arena_free(cfg->arena);
}

const pm_pipeline_cfg *config_pipeline(const pm_config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->npipelines; i++)
        if (strcmp(cfg->pipelines[i].name, name) == 0)
            return &cfg->pipelines[i];
    return NULL;
}

void config_source_opts(const pm_config *cfg, pm_source_opts *out)
{
    source_opts_default(out);
    if (!cfg)
        return;
    if (cfg->max_line_bytes)
        out->max_line = cfg->max_line_bytes;
    out->json.max_depth = cfg->max_depth;
}

const pm_contract *config_contract(const pm_config *cfg, const char *table)
{
    for (size_t i = 0; i < cfg->npipelines; i++)
        if (cfg->pipelines[i].contract && strcmp(cfg->pipelines[i].table, table) == 0)
            return cfg->pipelines[i].contract;
    for (size_t i = 0; i < cfg->ncontracts; i++)
        if (strcmp(cfg->contracts[i].table, table) == 0)
            return &cfg->contracts[i];
    return NULL;
}

/* A relative path in the file is relative to the file, as a person reading
 * it would expect; so is the default. */
const char *config_audit_anchor(const pm_config *cfg, char *buf, size_t size, bool *is_default)
{
    const char *env = getenv("PIPEMEND_AUDIT_ANCHOR");
    *is_default = false;
    if (env && *env) {
        snprintf(buf, size, "%s", env);
        return buf;
    }
    const char *name = cfg ? cfg->audit_anchor : NULL;
    if (!name || !*name) {
        name = CONFIG_AUDIT_ANCHOR_DEFAULT;
        *is_default = true;
    }
    const char *slash = cfg && cfg->path ? strrchr(cfg->path, '/') : NULL;
    if (name[0] == '/' || !slash)
        snprintf(buf, size, "%s", name);
    else
        snprintf(buf, size, "%.*s/%s", (int)(slash - cfg->path), cfg->path, name);
    return buf;
}

const char *config_users_file(const pm_config *cfg, char *buf, size_t size)
{
    const char *env = getenv("PIPEMEND_USERS_FILE");
    if (env && *env) {
        snprintf(buf, size, "%s", env);
        return buf;
    }
    const char *name = cfg ? cfg->users_file : NULL;
    if (name && *name) {
        const char *slash = cfg->path ? strrchr(cfg->path, '/') : NULL;
        if (name[0] == '/' || !slash)
            snprintf(buf, size, "%s", name);
        else
            snprintf(buf, size, "%.*s/%s", (int)(slash - cfg->path), cfg->path, name);
        return buf;
    }
    const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
    if (xdg && *xdg)
        snprintf(buf, size, "%s/pipemend/users.yaml", xdg);
    else if (home && *home)
        snprintf(buf, size, "%s/.config/pipemend/users.yaml", home);
    else
        return NULL;
    return buf;
}

const char *config_audit_anchor_to_verify(const pm_config *cfg, char *buf, size_t size)
{
    bool is_default;
    const char *path = config_audit_anchor(cfg, buf, size, &is_default);
    struct stat st;
    if (is_default && stat(path, &st) != 0)
        return NULL;
    return path;
}

static void unmatched_add(pm_arena *a, const char ***msgs, size_t *n, size_t *cap, const char *m)
{
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 8;
        const char **grown = pm_arena_alloc(a, *cap * sizeof *grown);
        if (*n)
            memcpy(grown, *msgs, *n * sizeof *grown);
        *msgs = grown;
    }
    (*msgs)[(*n)++] = m;
}

static const pm_table *unmatched_table(pm_table **ts, size_t nt, const char *name)
{
    for (size_t i = 0; i < nt; i++)
        if (strcmp(ts[i]->name, name) == 0)
            return ts[i];
    return NULL;
}

/* The columns of c's rules that t has not (nor as an alias). */
static void unmatched_columns(const pm_contract *c, const pm_table *t, const char *where,
                              pm_arena *a, const char ***msgs, size_t *n, size_t *cap)
{
    for (size_t r = 0; r < c->nrules; r++) {
        const contract_rule *rule = &c->rules[r];
        const char *const *cols = rule->column ? &rule->column : rule->key;
        size_t ncols = rule->column ? 1 : rule->nkey;
        for (size_t k = 0; k < ncols; k++) {
            size_t len = strlen(cols[k]);
            if (table_find(t, cols[k], len) >= 0 || table_find_alias(t, cols[k], len) >= 0)
                continue;
            unmatched_add(a, msgs, n, cap,
                          pm_arena_sprintf(a,
                                           "%s: the contract of %s names column %s, which the "
                                           "table does not have (rule %s never applies)",
                                           where, t->name, cols[k], rule->name));
        }
    }
}

pm_code config_unmatched(const pm_config *cfg, pm_store *s, const char *loading, pm_arena *a,
                         const char ***msgs, size_t *n, pm_err *err)
{
    *msgs = NULL;
    *n = 0;
    size_t cap = 0;
    pm_table **ts;
    size_t nt;
    pm_code rc = store_tables_list(s, a, &ts, &nt, err);
    if (rc)
        return rc;
    const char *where = cfg->path ? cfg->path : "the configuration";
    /* the tables: section: a table that is there, or that a pipeline loads */
    for (size_t i = 0; i < cfg->ncontracts + cfg->ntable_policies; i++) {
        const char *name = i < cfg->ncontracts ? cfg->contracts[i].table
                                               : cfg->table_policies[i - cfg->ncontracts].table;
        bool seen = false; /* said once for a table with both */
        for (size_t k = 0; k < i && !seen; k++)
            seen = strcmp(name, k < cfg->ncontracts
                                    ? cfg->contracts[k].table
                                    : cfg->table_policies[k - cfg->ncontracts].table) == 0;
        bool known = seen || unmatched_table(ts, nt, name) || (loading && !strcmp(loading, name));
        for (size_t p = 0; p < cfg->npipelines && !known; p++)
            known = strcmp(cfg->pipelines[p].table, name) == 0;
        if (!known)
            unmatched_add(a, msgs, n, &cap,
                          pm_arena_sprintf(a,
                                           "%s: tables: %s is neither a table of the warehouse "
                                           "nor one a pipeline loads into (a typo?); its "
                                           "%s applies to nothing",
                                           where, name,
                                           i < cfg->ncontracts ? "contract" : "policy"));
    }
    for (size_t i = 0; i < cfg->ncontracts; i++) {
        const pm_table *t = unmatched_table(ts, nt, cfg->contracts[i].table);
        if (t)
            unmatched_columns(&cfg->contracts[i], t, where, a, msgs, n, &cap);
    }
    for (size_t p = 0; p < cfg->npipelines; p++) {
        const pm_table *t = unmatched_table(ts, nt, cfg->pipelines[p].table);
        if (t && cfg->pipelines[p].contract)
            unmatched_columns(cfg->pipelines[p].contract, t, where, a, msgs, n, &cap);
    }
    return PM_OK;
}
