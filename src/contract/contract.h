/* contract.h - declared rules per table (Great Expectations / Soda style):
 * not_null, min, max, regex (PCRE2, with match, depth and heap limits),
 * allowed values, max_length and a unique key. Rules come from pipemend.yaml; a row that breaks one
 * is quarantined with the rule's name.
 *
 * Rules are checked on typed cells (after the schema module has converted
 * the value), so `min: 0` compares numbers, not text. A rule on a column
 * the row does not have sees NULL. The unique key cannot be checked row by
 * row in memory for a table of any size: the store enforces it with a
 * unique index and reports violations as this contract's rule. */
#ifndef PM_CONTRACT_CONTRACT_H
#define PM_CONTRACT_CONTRACT_H

#include <stdbool.h>
#include <stddef.h>

#include "core/value.h"

typedef enum contract_rule_kind {
    RULE_NOT_NULL,
    RULE_MIN,
    RULE_MAX,
    RULE_REGEX,
    RULE_ALLOWED,
    RULE_MAX_LENGTH,
    RULE_UNIQUE,
} contract_rule_kind;

/* A compiled regex with its limits (contract.c); owned by its rule. */
typedef struct contract_regex contract_regex;

/* The longest value a regex is matched against, in bytes; a longer value
 * breaks the rule (it is quarantined with that reason, not let through). */
#define CONTRACT_REGEX_MAX_SUBJECT 65536

typedef struct contract_rule {
    contract_rule_kind kind;
    const char *name;     /* "<column>.<kind>" (e.g. "amount.min"), or "unique" */
    const char *column;   /* normalised column name; NULL for RULE_UNIQUE */
    const char *text;     /* min/max literal as written; regex source */
    double num;           /* min/max as a number; NAN when the literal is not one
                           * (a date): then cells compare with text as text */
    contract_regex *re;   /* RULE_REGEX: from contract_regex_compile, owned;
                           * contract_release frees it */
    const char **allowed; /* as written; a number cell also matches the same
                           * number written differently (1.0 for 1) */
    size_t nallowed;
    size_t max_length; /* characters */
    const char **key;  /* RULE_UNIQUE: key columns */
    size_t nkey;
} contract_rule;

typedef struct pm_contract {
    const char *table;
    contract_rule *rules;
    size_t nrules;
} pm_contract;

/* Does the rule hold for this cell (NULL cell when the row lacks the
 * column)? On failure writes a one-line reason naming the rule to msg
 * (which may be NULL): "amount -5 is below min 0 (rule amount.min)"; text
 * values are quoted and cut to 64 bytes. RULE_UNIQUE always holds here (see
 * above). Null passes every rule but not_null, as in SQL. min/max compare
 * numbers when the cell and the literal both are one (a text cell that
 * reads as a decimal number counts), otherwise bytes. max_length counts
 * UTF-8 characters; a value containing a NUL byte never matches a regex,
 * nor does one over CONTRACT_REGEX_MAX_SUBJECT bytes or one whose match
 * runs into the engine's limits (each says so in msg): a value the rule
 * could not be checked on is not let through. */
bool contract_rule_holds(const contract_rule *r, const pm_cell *cell, char *msg, size_t msgsz);

/* Compiles the regex source src for r->re (PCRE2 with UTF, DOTALL and
 * DOLLAR_ENDONLY, so that `.` and `$` read as in POSIX: see the README for
 * the dialect). False with a one-line reason in why ("missing closing
 * parenthesis at offset 3") when it does not compile; r->re is then NULL. */
bool contract_regex_compile(contract_rule *r, const char *src, char *why, size_t whysz);

/* The unique rule of the contract, or NULL. */
const contract_rule *contract_unique(const pm_contract *c);

/* Frees compiled regexes (memory itself belongs to the config arena) and
 * sets nrules to 0, so a second call does nothing. A rule whose regex is
 * NULL (never compiled) is skipped. */
void contract_release(pm_contract *c);

#endif
