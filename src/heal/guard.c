/* guard.c - the checks every proposal passes before anything is tried or
 * applied: SQL from an agent is parsed by the real PostgreSQL parser
 * (libpg_query) and mapped to typed ops, and typed ops, whatever their
 * origin, are checked against the live schemas.
 *
 * The SQL side is an allow-list over the parse tree, not a deny-list over
 * the text. libpg_query hands back the raw parse tree as JSON, in which a
 * node is {"NodeType": {field: value, ...}} and fields at their default
 * value (false, 0, empty) are left out. So every node the guard accepts is
 * read with the set of fields it may carry, and a field outside that set -
 * a DEFAULT, a COLLATE, ONLY, IF EXISTS, a clause a later PostgreSQL adds -
 * rejects the proposal. Whatever the parser learns in future releases is
 * refused until this file is taught it.
 *
 * Decisions the header leaves open, taken here:
 *   - IF EXISTS / IF NOT EXISTS are refused: they make a statement mean
 *     "maybe nothing", and the ops have no such meaning; the check stage
 *     tells the proposer whether the table or column exists.
 *   - ALTER TABLE ONLY is refused (the ops always mean the whole table).
 *   - CREATE TABLE columns may say NULL or NOT NULL (a new table has no
 *     rows to violate it); ADD COLUMN may say NULL but not NOT NULL, since
 *     add_column is always nullable.
 *   - Types map one to one: bool, int2, int4, int8, float8, numeric, text,
 *     varchar(n), date, timestamp, timestamptz, json; jsonb is json. real
 *     (float4), numeric(p,s), timestamp(p), char(n), varchar without n,
 *     serial, arrays and every other type are refused: each would make the
 *     op say something other than the proposal did.
 *   - Identifiers must be pipemend's normal form (colname.h): a name that
 *     normalises to something else ("Orders", "or\u200Dders") is refused
 *     with the normal form as a suggestion. A normal name can still be a
 *     look-alike (Cyrillic 'о' is a letter, so "оrders" is normal): tables
 *     are compared exactly with the allowed list, and a new column that
 *     looks like (confusable.h) an existing column, or another new column
 *     of the same proposal, is refused, whoever proposes it: no table
 *     ever holds two columns that read the same, not even by a person's
 *     approval. A person who wants the field loaded maps it to the column
 *     it looks like (add_field_mapping), which is what the rule planner
 *     proposes for such a field.
 *   - A proposal is at most GUARD_SQL_MAX bytes of valid UTF-8 without NUL
 *     (checked before the parser sees a byte), and at most GUARD_OPS_MAX
 *     ops.
 *   - In one proposal, a column added or a table created by one op may not
 *     be named by a later op, and no op repeats another: each op is then
 *     checked against the live schema alone, and the policy, which classes
 *     ops against the live schema too, sees what the guard saw.
 *   - No new column may take a system column's name (PostgreSQL's ctid,
 *     xmin, ..., SQLite's rowid, ...): PostgreSQL would refuse it at apply
 *     time, SQLite would shadow the row id with it.
 *   - A widening must be an AUTO or REVIEW edge of type.h; the same type is
 *     refused too ("nothing to widen"), as is dropping a NOT NULL that is
 *     not there: a no-op is not a change.
 *   - A field mapping names any valid UTF-8 field up to FIELD_MAX bytes,
 *     but not one whose normal form is already a column or a mapped field
 *     (an alias): mapping it would divert values from the column they land
 *     in today (or change nothing). Two mappings of one proposal may not
 *     map the same field. A new column may not take a mapped field's name.
 *   - A coercion is for date, timestamp and timestamptz columns, with a
 *     format of printable ASCII whose conversions are in SAFE_CONVERSIONS,
 *     other than the one the column has. Whether the format can make a
 *     value of the column's type (a zone for timestamptz, none for
 *     timestamp) is not checked here: one that cannot parses nothing, and
 *     the rows stay in quarantine (type_coerce_datetime).
 *   - A retype is op_retype_allowed's (a number column to text, a text
 *     column to date/time), with a format only for a date/time target,
 *     checked as a coercion's. It has no SQL form: ALTER COLUMN ... TYPE
 *     ... USING stays refused, so only the typed op proposes one. */
#include "heal/guard.h"

#include <jansson.h>
#include <pg_query.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/utf8.h"
#include "schema/colname.h"
#include "schema/confusable.h"

#define GUARD_SQL_MAX 65536
#define GUARD_OPS_MAX 256
#define TABLE_COLS_MAX 1600 /* PostgreSQL's MaxHeapAttributeNumber */
#define FIELD_MAX 1024
#define FORMAT_MAX 64

static const char ONLY_ACCEPTED[] = "only ALTER TABLE ... ADD COLUMN / ALTER COLUMN ... TYPE / "
                                    "ALTER COLUMN ... DROP NOT NULL and CREATE TABLE";
static const char ONE_STATEMENT[] = "send exactly one ALTER TABLE or CREATE TABLE";
static const char TYPES_ACCEPTED[] = "boolean, smallint, integer, bigint, double precision, "
                                     "numeric, varchar(n), text, date, timestamp, timestamptz, "
                                     "json, jsonb";

/* ---- messages ----------------------------------------------------------- */

/* Every refusal reads "rejected: <reason>", one line. */
__attribute__((format(printf, 3, 4))) static pm_code reject(pm_err *err, pm_code code,
                                                            const char *fmt, ...)
{
    char msg[sizeof err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return pm_err_set(err, code, "rejected: %s", msg);
}

/* A name from a proposal as it goes into a message: control characters,
 * quotes, backslashes and invalid bytes escaped (a quoted identifier may
 * hold a newline), cut at SHOWN_MAX bytes. */
#define SHOWN_MAX 80
typedef struct shown {
    char s[SHOWN_MAX + 16];
} shown;

static const char *show(shown *b, const char *s)
{
    size_t o = 0;
    if (!s)
        s = "";
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        if (o >= SHOWN_MAX) {
            memcpy(b->s + o, "...", 3);
            o += 3;
            break;
        }
        unsigned char c = (unsigned char)s[i];
        size_t k = c < 0x80 ? 1 : pm_utf8_seq_len(s + i, n - i);
        if (c == '"' || c == '\\') {
            b->s[o++] = '\\';
            b->s[o++] = (char)c;
        } else if (c < 0x20 || c == 0x7F || k == 0) {
            o += (size_t)snprintf(b->s + o, 5, "\\x%02x", c);
        } else {
            memcpy(b->s + o, s + i, k);
            o += k;
            i += k;
            continue;
        }
        i++;
    }
    b->s[o] = '\0';
    return b->s;
}

static uint32_t decode(const char *s, size_t k)
{
    const unsigned char *u = (const unsigned char *)s;
    switch (k) {
    case 1:
        return u[0];
    case 2:
        return (uint32_t)(u[0] & 0x1F) << 6 | (u[1] & 0x3F);
    case 3:
        return (uint32_t)(u[0] & 0x0F) << 12 | (uint32_t)(u[1] & 0x3F) << 6 | (u[2] & 0x3F);
    default:
        return (uint32_t)(u[0] & 0x07) << 18 | (uint32_t)(u[1] & 0x3F) << 12 |
               (uint32_t)(u[2] & 0x3F) << 6 | (u[3] & 0x3F);
    }
}

/* " (it contains U+043E)" for a name with non-ASCII characters, which may
 * look the same as the name the reader expects; "" otherwise. */
typedef struct note {
    char s[96];
} note;

static const char *non_ascii_note(note *b, const char *s)
{
    size_t o = 0, listed = 0, n = strlen(s);
    b->s[0] = '\0';
    for (size_t i = 0; i < n;) {
        size_t k = pm_utf8_seq_len(s + i, n - i);
        if (k == 0)
            break;
        if (k > 1) {
            if (listed == 4) {
                o += (size_t)snprintf(b->s + o, sizeof b->s - o, ", ...");
                break;
            }
            o += (size_t)snprintf(b->s + o, sizeof b->s - o, "%s U+%04X",
                                  listed ? "," : " (it contains", (unsigned)decode(s + i, k));
            listed++;
        }
        i += k;
    }
    if (listed)
        snprintf(b->s + o, sizeof b->s - o, ")");
    return b->s;
}

/* ---- names -------------------------------------------------------------- */

/* Is s a name pipemend could have produced: valid UTF-8 that colname.h's
 * rule leaves unchanged? norm receives the normal form either way. */
static bool is_normal_name(const char *s, char norm[COLNAME_MAX + 1])
{
    size_t n = strlen(s);
    if (!pm_utf8_valid(s, n)) {
        strcpy(norm, "c_");
        return false;
    }
    size_t m = colname_normalise(s, n, norm);
    return n == m && memcmp(s, norm, n) == 0;
}

static bool table_allowed(const guard_ctx *g, const char *name)
{
    for (size_t i = 0; i < g->nallowed; i++)
        if (g->allowed_tables[i] && strcmp(g->allowed_tables[i], name) == 0)
            return true;
    return false;
}

static const char *allowed_list(const guard_ctx *g, char *buf, size_t cap)
{
    size_t o = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < g->nallowed && o + 1 < cap; i++) {
        int w = snprintf(buf + o, cap - o, "%s%s", i ? ", " : "",
                         g->allowed_tables[i] ? g->allowed_tables[i] : "");
        if (w < 0 || (size_t)w >= cap - o) {
            snprintf(buf + (cap > 5 ? cap - 5 : 0), cap > 5 ? 5 : cap, " ...");
            return buf;
        }
        o += (size_t)w;
    }
    return o ? buf : "none";
}

/* The table rule shared by both stages: a normal name, and one the caller
 * allows, compared byte for byte. */
static pm_code check_table_name(const guard_ctx *g, const char *name, pm_code code, pm_err *err)
{
    char norm[COLNAME_MAX + 1], list[200];
    shown a, b;
    note nt;
    if (!name || !*name)
        return reject(err, code, "no table named");
    if (!is_normal_name(name, norm)) {
        if (table_allowed(g, norm))
            return reject(err, code,
                          "table name \"%s\" is not in normal form (lowercase, no quotes or "
                          "spaces); write %s",
                          show(&a, name), show(&b, norm));
        return reject(err, code,
                      "table name \"%s\" is not in normal form and is not one this pipeline "
                      "may change (allowed: %s)",
                      show(&a, name), allowed_list(g, list, sizeof list));
    }
    if (!table_allowed(g, name))
        return reject(err, code, "table \"%s\" is not one this pipeline may change (allowed: %s)%s",
                      show(&a, name), allowed_list(g, list, sizeof list),
                      non_ascii_note(&nt, name));
    return PM_OK;
}

/* System columns (colname.h's step 6): a user column of that name is an
 * error on PostgreSQL and shadows the row id on SQLite, so no op may
 * create one. Whose it is, or NULL. */
static const char *system_column(const char *name)
{
    if (!colname_system(name))
        return NULL;
    return strcmp(name, "rowid") == 0 || strcmp(name, "_rowid_") == 0 ? "SQLite" : "PostgreSQL";
}

static pm_code check_column_name(const char *name, pm_code code, pm_err *err)
{
    char norm[COLNAME_MAX + 1];
    shown a, b;
    if (!name || !*name)
        return reject(err, code, "no column named");
    const char *sys = system_column(name);
    if (sys)
        return reject(err, code,
                      "column name \"%s\" is a %s system column; choose another name (a field "
                      "of that name loads as c_%s)",
                      show(&a, name), sys, show(&b, name));
    if (!is_normal_name(name, norm))
        return reject(err, code,
                      "column name \"%s\" is not in normal form (lowercase letters, digits and "
                      "_); pipemend would name it %s",
                      show(&a, name), show(&b, norm));
    return PM_OK;
}

/* An existing column of t that name looks like without being it
 * (confusable.h), or NULL. */
static const char *look_alike(const pm_table *t, const char *name)
{
    int i = confusable_find_column(t, name);
    return i >= 0 ? t->cols[i].name : NULL;
}

/* ---- SQL: node helpers -------------------------------------------------- */

/* {"Tag": {...}} -> "Tag", with *body the inner object; NULL if node has
 * any other shape. */
static const char *node_tag(json_t *node, json_t **body)
{
    *body = NULL;
    if (!json_is_object(node) || json_object_size(node) != 1)
        return NULL;
    const char *tag;
    json_t *v;
    json_object_foreach(node, tag, v)
    {
        *body = v;
        return json_is_object(v) ? tag : NULL;
    }
    return NULL;
}

static const char *jstr(json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

static bool jtrue(json_t *obj, const char *key)
{
    return json_is_true(json_object_get(obj, key));
}

/* The first field of obj that is not in allowed (a NULL-terminated list),
 * or NULL when there is none. */
static const char *extra_field(json_t *obj, const char *const *allowed)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        (void)v;
        size_t i = 0;
        while (allowed[i] && strcmp(allowed[i], key) != 0)
            i++;
        if (!allowed[i])
            return key;
    }
    return NULL;
}

typedef struct word {
    const char *from, *to;
} word;

static const char *lookup_word(const word *w, size_t n, const char *from)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(w[i].from, from) == 0)
            return w[i].to;
    return NULL;
}
#define LOOKUP(table, key) lookup_word(table, sizeof table / sizeof table[0], key)

/* "CreateExtension" -> "CREATE EXTENSION": a space before each capital
 * that follows a lowercase letter, then upper case. */
static const char *camel_words(const char *s, size_t n, char *buf, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 2 < cap; i++) {
        char c = s[i];
        if (i > 0 && c >= 'A' && c <= 'Z' && s[i - 1] >= 'a' && s[i - 1] <= 'z')
            buf[o++] = ' ';
        buf[o++] = (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : (c == '_' ? ' ' : c);
    }
    buf[o] = '\0';
    return buf;
}

static const word object_words[] = {
    {"OBJECT_MATVIEW", "MATERIALIZED VIEW"},
    {"OBJECT_FDW", "FOREIGN DATA WRAPPER"},
    {"OBJECT_FOREIGN_SERVER", "SERVER"},
    {"OBJECT_STATISTIC_EXT", "STATISTICS"},
    {"OBJECT_TABCONSTRAINT", "CONSTRAINT"},
    {"OBJECT_DOMCONSTRAINT", "CONSTRAINT"},
    {"OBJECT_LARGEOBJECT", "LARGE OBJECT"},
    {"OBJECT_OPCLASS", "OPERATOR CLASS"},
    {"OBJECT_OPFAMILY", "OPERATOR FAMILY"},
    {"OBJECT_TSCONFIGURATION", "TEXT SEARCH CONFIGURATION"},
    {"OBJECT_TSDICTIONARY", "TEXT SEARCH DICTIONARY"},
    {"OBJECT_TSPARSER", "TEXT SEARCH PARSER"},
    {"OBJECT_TSTEMPLATE", "TEXT SEARCH TEMPLATE"},
    {"OBJECT_USER_MAPPING", "USER MAPPING"},
};

/* "OBJECT_FOREIGN_TABLE" -> "FOREIGN TABLE". */
static const char *object_word(const char *objtype, char *buf, size_t cap)
{
    if (!objtype)
        return "OBJECT";
    const char *w = LOOKUP(object_words, objtype);
    if (w)
        return w;
    if (strncmp(objtype, "OBJECT_", 7) == 0)
        objtype += 7;
    return camel_words(objtype, strlen(objtype), buf, cap);
}

static const word stmt_words[] = {
    {"CreateTrigStmt", "CREATE TRIGGER"},
    {"CreateEventTrigStmt", "CREATE EVENT TRIGGER"},
    {"AlterEventTrigStmt", "ALTER EVENT TRIGGER"},
    {"RuleStmt", "CREATE RULE"},
    {"IndexStmt", "CREATE INDEX"},
    {"ViewStmt", "CREATE VIEW"},
    {"CreateSeqStmt", "CREATE SEQUENCE"},
    {"AlterSeqStmt", "ALTER SEQUENCE"},
    {"CreatedbStmt", "CREATE DATABASE"},
    {"DropdbStmt", "DROP DATABASE"},
    {"CompositeTypeStmt", "CREATE TYPE"},
    {"CreateEnumStmt", "CREATE TYPE ... AS ENUM"},
    {"CreateRangeStmt", "CREATE TYPE ... AS RANGE"},
    {"AlterEnumStmt", "ALTER TYPE"},
    {"VariableShowStmt", "SHOW"},
    {"CheckPointStmt", "CHECKPOINT"},
    {"SecLabelStmt", "SECURITY LABEL"},
    {"CreatePLangStmt", "CREATE LANGUAGE"},
    {"DeclareCursorStmt", "DECLARE CURSOR"},
    {"ClosePortalStmt", "CLOSE"},
    {"FetchStmt", "FETCH"},
    {"ConstraintsSetStmt", "SET CONSTRAINTS"},
    {"CreateStatsStmt", "CREATE STATISTICS"},
    {"AlterStatsStmt", "ALTER STATISTICS"},
    {"CreateFdwStmt", "CREATE FOREIGN DATA WRAPPER"},
    {"AlterFdwStmt", "ALTER FOREIGN DATA WRAPPER"},
    {"CreateForeignServerStmt", "CREATE SERVER"},
    {"AlterForeignServerStmt", "ALTER SERVER"},
    {"CreateAmStmt", "CREATE ACCESS METHOD"},
    {"CreateOpClassStmt", "CREATE OPERATOR CLASS"},
    {"CreateOpFamilyStmt", "CREATE OPERATOR FAMILY"},
    {"AlterOpFamilyStmt", "ALTER OPERATOR FAMILY"},
    {"AlterDatabaseSetStmt", "ALTER DATABASE ... SET"},
    {"AlterRoleSetStmt", "ALTER ROLE ... SET"},
    {"AlterTSDictionaryStmt", "ALTER TEXT SEARCH DICTIONARY"},
    {"AlterTSConfigurationStmt", "ALTER TEXT SEARCH CONFIGURATION"},
    {"RefreshMatViewStmt", "REFRESH MATERIALIZED VIEW"},
    {"CreateForeignTableStmt", "CREATE FOREIGN TABLE"},
    {"PLAssignStmt", "assignment"},
};

/* What the statement is called in SQL, for the message that refuses it:
 * "DROP TABLE", "COMMIT", "COPY ... PROGRAM". */
static const char *stmt_name(const char *tag, json_t *body, char *buf, size_t cap)
{
    char obj[64];
    const char *w = LOOKUP(stmt_words, tag);
    if (w)
        return w;
    if (strcmp(tag, "DropStmt") == 0) {
        snprintf(buf, cap, "DROP %s", object_word(jstr(body, "removeType"), obj, sizeof obj));
        return buf;
    }
    if (strcmp(tag, "TransactionStmt") == 0) {
        static const word kinds[] = {
            {"TRANS_STMT_BEGIN", "BEGIN"},
            {"TRANS_STMT_START", "START TRANSACTION"},
            {"TRANS_STMT_COMMIT", "COMMIT"},
            {"TRANS_STMT_ROLLBACK", "ROLLBACK"},
            {"TRANS_STMT_SAVEPOINT", "SAVEPOINT"},
            {"TRANS_STMT_RELEASE", "RELEASE SAVEPOINT"},
            {"TRANS_STMT_ROLLBACK_TO", "ROLLBACK TO SAVEPOINT"},
            {"TRANS_STMT_PREPARE", "PREPARE TRANSACTION"},
            {"TRANS_STMT_COMMIT_PREPARED", "COMMIT PREPARED"},
            {"TRANS_STMT_ROLLBACK_PREPARED", "ROLLBACK PREPARED"},
        };
        const char *k = jstr(body, "kind");
        w = k ? LOOKUP(kinds, k) : NULL;
        return w ? w : "a transaction command";
    }
    if (strcmp(tag, "VariableSetStmt") == 0) {
        const char *k = jstr(body, "kind");
        if (k && strcmp(k, "VAR_RESET_ALL") == 0)
            return "RESET ALL";
        return k && strcmp(k, "VAR_RESET") == 0 ? "RESET" : "SET";
    }
    if (strcmp(tag, "GrantStmt") == 0 || strcmp(tag, "GrantRoleStmt") == 0)
        return jtrue(body, "is_grant") ? "GRANT" : "REVOKE";
    if (strcmp(tag, "VacuumStmt") == 0)
        return jtrue(body, "is_vacuumcmd") ? "VACUUM" : "ANALYZE";
    if (strcmp(tag, "CopyStmt") == 0)
        return jtrue(body, "is_program") ? "COPY ... PROGRAM" : "COPY";
    if (strcmp(tag, "CreateFunctionStmt") == 0)
        return jtrue(body, "is_procedure") ? "CREATE PROCEDURE" : "CREATE FUNCTION";
    if (strcmp(tag, "CreateTableAsStmt") == 0) {
        const char *o = jstr(body, "objtype");
        return o && strcmp(o, "OBJECT_MATVIEW") == 0 ? "CREATE MATERIALIZED VIEW"
                                                     : "CREATE TABLE AS";
    }
    if (strcmp(tag, "SelectStmt") == 0) {
        if (json_object_get(body, "intoClause"))
            return "SELECT INTO";
        return json_object_get(body, "valuesLists") ? "VALUES" : "SELECT";
    }
    if (strcmp(tag, "AlterTableStmt") == 0) {
        snprintf(buf, cap, "ALTER %s", object_word(jstr(body, "objtype"), obj, sizeof obj));
        return buf;
    }
    if (strcmp(tag, "AlterTableMoveAllStmt") == 0) {
        snprintf(buf, cap, "ALTER %s ALL IN TABLESPACE",
                 object_word(jstr(body, "objtype"), obj, sizeof obj));
        return buf;
    }
    if (strcmp(tag, "RenameStmt") == 0) {
        const char *rt = jstr(body, "renameType");
        if (rt && strcmp(rt, "OBJECT_TABLE") == 0)
            return "ALTER TABLE ... RENAME TO";
        if (rt && strcmp(rt, "OBJECT_TABCONSTRAINT") == 0)
            return "ALTER TABLE ... RENAME CONSTRAINT";
        if (rt && strcmp(rt, "OBJECT_COLUMN") == 0) {
            snprintf(buf, cap, "ALTER %s ... RENAME COLUMN",
                     object_word(jstr(body, "relationType"), obj, sizeof obj));
            return buf;
        }
        snprintf(buf, cap, "ALTER %s ... RENAME", object_word(rt, obj, sizeof obj));
        return buf;
    }
    if (strcmp(tag, "AlterObjectSchemaStmt") == 0 || strcmp(tag, "AlterOwnerStmt") == 0) {
        snprintf(buf, cap, "ALTER %s ... %s",
                 object_word(jstr(body, "objectType"), obj, sizeof obj),
                 tag[5] == 'O' && tag[6] == 'b' ? "SET SCHEMA" : "OWNER TO");
        return buf;
    }
    if (strcmp(tag, "DefineStmt") == 0) {
        snprintf(buf, cap, "CREATE %s", object_word(jstr(body, "kind"), obj, sizeof obj));
        return buf;
    }
    size_t n = strlen(tag);
    if (n > 4 && strcmp(tag + n - 4, "Stmt") == 0)
        n -= 4;
    return camel_words(tag, n, buf, cap);
}

static const word subcommand_words[] = {
    {"AT_SetNotNull", "ALTER COLUMN ... SET NOT NULL"},
    {"AT_SetStatistics", "ALTER COLUMN ... SET STATISTICS"},
    {"AT_SetOptions", "ALTER COLUMN ... SET (...)"},
    {"AT_ResetOptions", "ALTER COLUMN ... RESET (...)"},
    {"AT_SetStorage", "ALTER COLUMN ... SET STORAGE"},
    {"AT_SetCompression", "ALTER COLUMN ... SET COMPRESSION"},
    {"AT_DropExpression", "ALTER COLUMN ... DROP EXPRESSION"},
    {"AT_AddIdentity", "ALTER COLUMN ... ADD GENERATED AS IDENTITY"},
    {"AT_SetIdentity", "ALTER COLUMN ... SET GENERATED"},
    {"AT_DropIdentity", "ALTER COLUMN ... DROP IDENTITY"},
    {"AT_AlterColumnGenericOptions", "ALTER COLUMN ... OPTIONS"},
    {"AT_ChangeOwner", "OWNER TO"},
    {"AT_SetLogged", "SET LOGGED"},
    {"AT_SetUnLogged", "SET UNLOGGED"},
    {"AT_SetRelOptions", "SET (...)"},
    {"AT_ResetRelOptions", "RESET (...)"},
    {"AT_ReplaceRelOptions", "SET (...)"},
    {"AT_EnableTrig", "ENABLE TRIGGER"},
    {"AT_EnableAlwaysTrig", "ENABLE ALWAYS TRIGGER"},
    {"AT_EnableReplicaTrig", "ENABLE REPLICA TRIGGER"},
    {"AT_DisableTrig", "DISABLE TRIGGER"},
    {"AT_EnableTrigAll", "ENABLE TRIGGER ALL"},
    {"AT_DisableTrigAll", "DISABLE TRIGGER ALL"},
    {"AT_EnableTrigUser", "ENABLE TRIGGER USER"},
    {"AT_DisableTrigUser", "DISABLE TRIGGER USER"},
    {"AT_EnableRule", "ENABLE RULE"},
    {"AT_EnableAlwaysRule", "ENABLE ALWAYS RULE"},
    {"AT_EnableReplicaRule", "ENABLE REPLICA RULE"},
    {"AT_DisableRule", "DISABLE RULE"},
    {"AT_AddInherit", "INHERIT"},
    {"AT_DropInherit", "NO INHERIT"},
    {"AT_AddOf", "OF"},
    {"AT_DropOf", "NOT OF"},
    {"AT_EnableRowSecurity", "ENABLE ROW LEVEL SECURITY"},
    {"AT_DisableRowSecurity", "DISABLE ROW LEVEL SECURITY"},
    {"AT_ForceRowSecurity", "FORCE ROW LEVEL SECURITY"},
    {"AT_NoForceRowSecurity", "NO FORCE ROW LEVEL SECURITY"},
    {"AT_GenericOptions", "OPTIONS (...)"},
    {"AT_ClusterOn", "CLUSTER ON"},
    {"AT_DropCluster", "SET WITHOUT CLUSTER"},
    {"AT_DropOids", "SET WITHOUT OIDS"},
    {"AT_SetAccessMethod", "SET ACCESS METHOD"},
    {"AT_SetTableSpace", "SET TABLESPACE"},
    {"AT_DetachPartitionFinalize", "DETACH PARTITION ... FINALIZE"},
};

static const char *subcommand_name(const char *subtype, json_t *cmd, char *buf, size_t cap)
{
    if (!subtype)
        return "an unnamed sub-command";
    const char *w = LOOKUP(subcommand_words, subtype);
    if (w)
        return w;
    if (strcmp(subtype, "AT_ColumnDefault") == 0 || strcmp(subtype, "AT_CookedColumnDefault") == 0)
        return json_object_get(cmd, "def") ? "ALTER COLUMN ... SET DEFAULT"
                                           : "ALTER COLUMN ... DROP DEFAULT";
    if (strncmp(subtype, "AT_", 3) == 0)
        subtype += 3;
    return camel_words(subtype, strlen(subtype), buf, cap);
}

static const word constraint_words[] = {
    {"CONSTR_DEFAULT", "DEFAULT"},
    {"CONSTR_IDENTITY", "GENERATED ... AS IDENTITY"},
    {"CONSTR_GENERATED", "GENERATED ALWAYS AS"},
    {"CONSTR_CHECK", "CHECK"},
    {"CONSTR_PRIMARY", "PRIMARY KEY"},
    {"CONSTR_UNIQUE", "UNIQUE"},
    {"CONSTR_EXCLUSION", "EXCLUDE"},
    {"CONSTR_FOREIGN", "REFERENCES"},
    {"CONSTR_ATTR_DEFERRABLE", "DEFERRABLE"},
    {"CONSTR_ATTR_NOT_DEFERRABLE", "NOT DEFERRABLE"},
    {"CONSTR_ATTR_DEFERRED", "INITIALLY DEFERRED"},
    {"CONSTR_ATTR_IMMEDIATE", "INITIALLY IMMEDIATE"},
    {"CONSTR_NOTNULL", "NOT NULL"},
    {"CONSTR_NULL", "NULL"},
};

static const char *constraint_name(const char *contype)
{
    const char *w = contype ? LOOKUP(constraint_words, contype) : NULL;
    return w ? w : "a constraint";
}

/* Clauses of a column definition other than its name and type. */
static const word column_clause_words[] = {
    {"raw_default", "DEFAULT"},     {"cooked_default", "DEFAULT"}, {"collClause", "COLLATE"},
    {"compression", "COMPRESSION"}, {"storage", "STORAGE"},        {"fdwoptions", "OPTIONS (...)"},
    {"identity", "IDENTITY"},       {"generated", "GENERATED"},    {"identitySequence", "IDENTITY"},
    {"is_from_type", "OF type"},
};

/* ---- SQL: the statement walk -------------------------------------------- */

typedef struct walk {
    const guard_ctx *g;
    pm_arena *arena;
    pm_err *err;
} walk;

typedef enum coldef_ctx { IN_ADD_COLUMN, IN_CREATE_TABLE } coldef_ctx;

static bool typmod_int(json_t *node, long long *out)
{
    json_t *body;
    const char *tag = node_tag(node, &body);
    if (!tag || strcmp(tag, "A_Const") != 0)
        return false;
    json_t *ival = json_object_get(body, "ival");
    if (!json_is_object(ival))
        return false;
    json_t *v = json_object_get(ival, "ival"); /* absent when 0 */
    *out = v ? json_integer_value(v) : 0;
    return v == NULL || json_is_integer(v);
}

static const struct {
    const char *name;
    pm_tkind kind;
} pg_types[] = {
    {"bool", PM_T_BOOL},
    {"int2", PM_T_INT16},
    {"int4", PM_T_INT32},
    {"int8", PM_T_INT64},
    {"float8", PM_T_FLOAT64},
    {"numeric", PM_T_NUMERIC},
    {"varchar", PM_T_VARCHAR},
    {"text", PM_T_TEXT},
    {"date", PM_T_DATE},
    {"timestamp", PM_T_TIMESTAMP},
    {"timestamptz", PM_T_TIMESTAMPTZ},
    {"json", PM_T_JSON},
    {"jsonb", PM_T_JSON},
};

/* Types a proposer may reach for, with why each is refused. */
static const word refused_types[] = {
    {"float4", "real (float4) is not a pipemend type; use double precision"},
    {"bpchar", "char(n) pads values with blanks; use varchar(n)"},
    {"serial", "serial creates a sequence and a default; use integer"},
    {"serial4", "serial creates a sequence and a default; use integer"},
    {"bigserial", "bigserial creates a sequence and a default; use bigint"},
    {"serial8", "bigserial creates a sequence and a default; use bigint"},
    {"smallserial", "smallserial creates a sequence and a default; use smallint"},
    {"serial2", "smallserial creates a sequence and a default; use smallint"},
};

/* TypeName -> pm_type. Built-in names only: either as the parser
 * normalises keywords (pg_catalog.int4 for "integer") or as written
 * ("text", "int4", "jsonb"). */
static pm_code parse_type(walk *w, json_t *tn, const char *col, pm_type *out)
{
    static const char *const fields[] = {"names", "typmods", "typemod", "location", NULL};
    shown a, b;
    const char *extra = extra_field(tn, fields);
    if (extra) {
        if (strcmp(extra, "arrayBounds") == 0)
            return reject(w->err, PM_ERR_USAGE,
                          "array type for column \"%s\" is not accepted; arrays go in a json "
                          "column",
                          show(&a, col));
        if (strcmp(extra, "setof") == 0)
            return reject(w->err, PM_ERR_USAGE, "SETOF type for column \"%s\" is not accepted",
                          show(&a, col));
        if (strcmp(extra, "pct_type") == 0)
            return reject(w->err, PM_ERR_USAGE, "%%TYPE for column \"%s\" is not accepted",
                          show(&a, col));
        return reject(w->err, PM_ERR_USAGE, "type of column \"%s\" has an unexpected part (%s)",
                      show(&a, col), extra);
    }
    json_t *typemod = json_object_get(tn, "typemod");
    if (typemod && json_integer_value(typemod) != -1)
        return reject(w->err, PM_ERR_USAGE, "type of column \"%s\" has an unexpected modifier",
                      show(&a, col));

    json_t *names = json_object_get(tn, "names");
    size_t nn = json_array_size(names);
    const char *parts[3] = {NULL, NULL, NULL};
    for (size_t i = 0; i < nn && i < 3; i++) {
        json_t *body;
        const char *tag = node_tag(json_array_get(names, i), &body);
        parts[i] = tag && strcmp(tag, "String") == 0 ? jstr(body, "sval") : NULL;
        if (!parts[i])
            parts[i] = "";
    }
    if (nn == 0 || nn > 2 || (nn == 2 && strcmp(parts[0], "pg_catalog") != 0)) {
        char full[200];
        snprintf(full, sizeof full, "%s%s%s%s%s", parts[0] ? parts[0] : "", nn > 1 ? "." : "",
                 nn > 1 ? parts[1] : "", nn > 2 ? "." : "", nn > 2 ? parts[2] : "");
        return reject(w->err, PM_ERR_USAGE,
                      "type \"%s\" for column \"%s\" is not accepted: only built-in types are; "
                      "use one of %s",
                      show(&a, full), show(&b, col), TYPES_ACCEPTED);
    }
    const char *base = parts[nn - 1];

    const char *why = LOOKUP(refused_types, base);
    if (why)
        return reject(w->err, PM_ERR_USAGE, "type of column \"%s\": %s", show(&a, col), why);
    size_t k = 0, nt = sizeof pg_types / sizeof pg_types[0];
    while (k < nt && strcmp(pg_types[k].name, base) != 0)
        k++;
    if (k == nt)
        return reject(w->err, PM_ERR_USAGE,
                      "type \"%s\" for column \"%s\" is not accepted; use one of %s",
                      show(&a, base), show(&b, col), TYPES_ACCEPTED);

    *out = (pm_type){.kind = pg_types[k].kind, .len = 0};
    json_t *typmods = json_object_get(tn, "typmods");
    size_t nm = json_array_size(typmods);
    if (out->kind == PM_T_VARCHAR) {
        long long n;
        if (nm == 0)
            return reject(w->err, PM_ERR_USAGE,
                          "varchar without a length for column \"%s\" is not accepted; use "
                          "varchar(n) or text",
                          show(&a, col));
        if (nm != 1 || !typmod_int(json_array_get(typmods, 0), &n))
            return reject(w->err, PM_ERR_USAGE,
                          "varchar length for column \"%s\" must be one integer", show(&a, col));
        if (n < 1 || n > (long long)TYPE_VARCHAR_MAX)
            return reject(w->err, PM_ERR_USAGE,
                          "varchar(%lld) for column \"%s\" is out of range; the length is 1 to "
                          "%u",
                          n, show(&a, col), TYPE_VARCHAR_MAX);
        out->len = (uint32_t)n;
        return PM_OK;
    }
    if (nm > 0) {
        if (out->kind == PM_T_NUMERIC)
            return reject(w->err, PM_ERR_USAGE,
                          "numeric(p,s) for column \"%s\" is not accepted: it rounds values; "
                          "use numeric",
                          show(&a, col));
        if (out->kind == PM_T_TIMESTAMP || out->kind == PM_T_TIMESTAMPTZ)
            return reject(w->err, PM_ERR_USAGE,
                          "%s(p) for column \"%s\" is not accepted: it rounds fractional "
                          "seconds; use %s",
                          base, show(&a, col), base);
        return reject(w->err, PM_ERR_USAGE,
                      "type modifiers on %s for column \"%s\" are not accepted", base,
                      show(&a, col));
    }
    return PM_OK;
}

/* A ColumnDef of ADD COLUMN or CREATE TABLE: name, type and, in CREATE
 * TABLE, NULL or NOT NULL. */
static pm_code parse_coldef(walk *w, json_t *cd, coldef_ctx ctx, pm_column *col)
{
    static const char *const fields[] = {"colname",     "typeName", "is_local",
                                         "constraints", "location", NULL};
    shown a;
    const char *name = jstr(cd, "colname");
    pm_code rc = check_column_name(name, PM_ERR_USAGE, w->err);
    if (rc != PM_OK)
        return rc;

    const char *extra = extra_field(cd, fields);
    if (extra) {
        const char *clause = LOOKUP(column_clause_words, extra);
        return reject(w->err, PM_ERR_USAGE,
                      "%s on column \"%s\" is not accepted: a column takes only a name and a "
                      "type%s",
                      clause ? clause : extra, show(&a, name),
                      ctx == IN_CREATE_TABLE ? " (and NULL or NOT NULL)" : "");
    }
    json_t *tn = json_object_get(cd, "typeName");
    if (!tn)
        return reject(w->err, PM_ERR_USAGE, "column \"%s\" has no type", show(&a, name));
    rc = parse_type(w, tn, name, &col->type);
    if (rc != PM_OK)
        return rc;
    col->name = pm_arena_strdup(w->arena, name);
    col->nullable = true;

    json_t *cons = json_object_get(cd, "constraints");
    bool said_null = false;
    for (size_t i = 0; i < json_array_size(cons); i++) {
        static const char *const cfields[] = {"contype", "location", NULL};
        json_t *body;
        const char *tag = node_tag(json_array_get(cons, i), &body);
        const char *contype = tag && strcmp(tag, "Constraint") == 0 ? jstr(body, "contype") : NULL;
        bool is_null = contype && strcmp(contype, "CONSTR_NULL") == 0;
        bool is_notnull = contype && strcmp(contype, "CONSTR_NOTNULL") == 0;
        if (contype && strcmp(contype, "CONSTR_DEFAULT") == 0)
            return reject(w->err, PM_ERR_USAGE,
                          "DEFAULT on column \"%s\" is not accepted: columns are added without "
                          "defaults, and no expression from a proposal is ever run",
                          show(&a, name));
        if (is_notnull && ctx == IN_ADD_COLUMN)
            return reject(w->err, PM_ERR_USAGE,
                          "NOT NULL on new column \"%s\" is not accepted: ADD COLUMN adds a "
                          "nullable column (existing rows have no value for it)",
                          show(&a, name));
        if (!is_null && !is_notnull)
            return reject(w->err, PM_ERR_USAGE,
                          "%s on column \"%s\" is not accepted: a column takes only a name and a "
                          "type%s",
                          constraint_name(contype), show(&a, name),
                          ctx == IN_CREATE_TABLE ? " (and NULL or NOT NULL)" : "");
        if (extra_field(body, cfields))
            return reject(w->err, PM_ERR_USAGE,
                          "named or qualified constraint on column \"%s\" is not accepted; write "
                          "plain %s",
                          show(&a, name), constraint_name(contype));
        if ((is_null && !col->nullable) || (is_notnull && said_null))
            return reject(w->err, PM_ERR_USAGE, "column \"%s\" says both NULL and NOT NULL",
                          show(&a, name));
        said_null |= is_null;
        if (is_notnull)
            col->nullable = false;
    }
    return PM_OK;
}

/* The RangeVar of ALTER TABLE or CREATE TABLE: an unqualified, permanent,
 * allowed table. */
static pm_code parse_relation(walk *w, json_t *rv, const char **table)
{
    static const char *const fields[] = {"relname", "inh", "relpersistence", "location", NULL};
    shown a, b;
    const char *name = jstr(rv, "relname");
    if (!name)
        return reject(w->err, PM_ERR_USAGE, "statement names no table");
    const char *schema = jstr(rv, "schemaname"), *catalog = jstr(rv, "catalogname");
    if (schema || catalog) {
        return reject(w->err, PM_ERR_USAGE,
                      "schema-qualified table \"%s%s%s.%s\" is not accepted; write the table "
                      "name alone",
                      catalog ? show(&b, catalog) : "", catalog ? "." : "",
                      schema ? show(&a, schema) : "", name);
    }
    const char *extra = extra_field(rv, fields);
    if (extra)
        return reject(w->err, PM_ERR_USAGE, "unexpected %s on table \"%s\"", extra, show(&a, name));
    if (!jtrue(rv, "inh"))
        return reject(w->err, PM_ERR_USAGE,
                      "ALTER TABLE ONLY is not accepted: an op changes the whole table; write "
                      "ALTER TABLE %s",
                      show(&a, name));
    const char *pers = jstr(rv, "relpersistence");
    if (!pers || strcmp(pers, "p") != 0)
        return reject(w->err, PM_ERR_USAGE,
                      "%s is not accepted: pipemend's tables are permanent; write CREATE TABLE",
                      pers && strcmp(pers, "u") == 0 ? "CREATE UNLOGGED TABLE"
                                                     : "CREATE TEMP TABLE");
    pm_code rc = check_table_name(w->g, name, PM_ERR_USAGE, w->err);
    if (rc != PM_OK)
        return rc;
    *table = pm_arena_strdup(w->arena, name);
    return PM_OK;
}

static pm_code parse_alter_cmd(walk *w, json_t *node, const char *table, pm_op *op)
{
    char buf[96];
    json_t *cmd;
    const char *tag = node_tag(node, &cmd);
    if (!tag || strcmp(tag, "AlterTableCmd") != 0)
        return reject(w->err, PM_ERR_USAGE, "unexpected part in ALTER TABLE");
    const char *subtype = jstr(cmd, "subtype");
    const char *behavior = jstr(cmd, "behavior");
    bool mapped = subtype && (strcmp(subtype, "AT_AddColumn") == 0 ||
                              strcmp(subtype, "AT_AlterColumnType") == 0 ||
                              strcmp(subtype, "AT_DropNotNull") == 0);
    if (mapped && behavior && strcmp(behavior, "DROP_RESTRICT") != 0)
        return reject(w->err, PM_ERR_USAGE, "CASCADE is not accepted");
    *op = (pm_op){.table = table};

    if (subtype && strcmp(subtype, "AT_AddColumn") == 0) {
        static const char *const fields[] = {"subtype", "def", "behavior", NULL};
        if (jtrue(cmd, "missing_ok"))
            return reject(w->err, PM_ERR_USAGE,
                          "ADD COLUMN IF NOT EXISTS is not accepted: the guard checks that the "
                          "column is new; write ADD COLUMN");
        const char *extra = extra_field(cmd, fields);
        if (extra)
            return reject(w->err, PM_ERR_USAGE, "unexpected %s in ADD COLUMN", extra);
        json_t *cd;
        tag = node_tag(json_object_get(cmd, "def"), &cd);
        if (!tag || strcmp(tag, "ColumnDef") != 0)
            return reject(w->err, PM_ERR_USAGE, "ADD COLUMN without a column definition");
        pm_column col;
        pm_code rc = parse_coldef(w, cd, IN_ADD_COLUMN, &col);
        if (rc != PM_OK)
            return rc;
        op->kind = OP_ADD_COLUMN;
        op->column = col.name;
        op->type = col.type;
        return PM_OK;
    }

    if (subtype && strcmp(subtype, "AT_AlterColumnType") == 0) {
        static const char *const fields[] = {"subtype", "name", "def", "behavior", NULL};
        static const char *const cdfields[] = {"typeName", "location", NULL};
        const char *name = jstr(cmd, "name");
        const char *extra = extra_field(cmd, fields);
        if (extra || !name)
            return reject(w->err, PM_ERR_USAGE,
                          "ALTER COLUMN ... TYPE must name its column and give only a type");
        pm_code rc = check_column_name(name, PM_ERR_USAGE, w->err);
        if (rc != PM_OK)
            return rc;
        json_t *cd;
        tag = node_tag(json_object_get(cmd, "def"), &cd);
        if (!tag || strcmp(tag, "ColumnDef") != 0)
            return reject(w->err, PM_ERR_USAGE, "ALTER COLUMN ... TYPE without a type");
        if (json_object_get(cd, "raw_default"))
            return reject(w->err, PM_ERR_USAGE,
                          "ALTER COLUMN ... TYPE ... USING is not accepted: widening never "
                          "rewrites values");
        if (json_object_get(cd, "collClause"))
            return reject(w->err, PM_ERR_USAGE,
                          "ALTER COLUMN ... TYPE ... COLLATE is not accepted: a collation changes "
                          "how existing values compare");
        extra = extra_field(cd, cdfields);
        if (extra)
            return reject(w->err, PM_ERR_USAGE, "unexpected %s in ALTER COLUMN ... TYPE", extra);
        rc = parse_type(w, json_object_get(cd, "typeName"), name, &op->type);
        if (rc != PM_OK)
            return rc;
        op->kind = OP_WIDEN_COLUMN;
        op->column = pm_arena_strdup(w->arena, name);
        return PM_OK;
    }

    if (subtype && strcmp(subtype, "AT_DropNotNull") == 0) {
        static const char *const fields[] = {"subtype", "name", "behavior", NULL};
        const char *name = jstr(cmd, "name");
        if (extra_field(cmd, fields) || !name)
            return reject(w->err, PM_ERR_USAGE,
                          "ALTER COLUMN ... DROP NOT NULL must name its column");
        pm_code rc = check_column_name(name, PM_ERR_USAGE, w->err);
        if (rc != PM_OK)
            return rc;
        op->kind = OP_DROP_NOT_NULL;
        op->column = pm_arena_strdup(w->arena, name);
        return PM_OK;
    }

    return reject(w->err, PM_ERR_USAGE,
                  "%s is not accepted in ALTER TABLE; only ADD COLUMN, ALTER COLUMN ... TYPE and "
                  "ALTER COLUMN ... DROP NOT NULL are",
                  subcommand_name(subtype, cmd, buf, sizeof buf));
}

static pm_code parse_alter(walk *w, json_t *stmt, pm_op **ops, size_t *nops)
{
    static const char *const fields[] = {"relation", "cmds", "objtype", NULL};
    const char *table;
    if (jtrue(stmt, "missing_ok")) {
        shown a;
        return reject(w->err, PM_ERR_USAGE,
                      "ALTER TABLE IF EXISTS is not accepted: the guard checks that the table "
                      "exists; write ALTER TABLE %s",
                      show(&a, jstr(json_object_get(stmt, "relation"), "relname")));
    }
    const char *extra = extra_field(stmt, fields);
    if (extra)
        return reject(w->err, PM_ERR_USAGE, "unexpected %s in ALTER TABLE", extra);
    pm_code rc = parse_relation(w, json_object_get(stmt, "relation"), &table);
    if (rc != PM_OK)
        return rc;
    json_t *cmds = json_object_get(stmt, "cmds");
    size_t n = json_array_size(cmds);
    if (n == 0)
        return reject(w->err, PM_ERR_USAGE, "ALTER TABLE without a sub-command");
    pm_op *out = pm_arena_calloc(w->arena, n * sizeof *out);
    for (size_t i = 0; i < n; i++) {
        rc = parse_alter_cmd(w, json_array_get(cmds, i), table, &out[i]);
        if (rc != PM_OK)
            return rc;
    }
    *ops = out;
    *nops = n;
    return PM_OK;
}

/* Clauses of CREATE TABLE beyond its name and column list, in the order
 * they are reported (PARTITION OF brings INHERITS along; name it first). */
static const word create_clause_words[] = {
    {"partbound", "CREATE TABLE ... PARTITION OF"},
    {"partspec", "CREATE TABLE ... PARTITION BY"},
    {"inhRelations", "CREATE TABLE ... INHERITS"},
    {"ofTypename", "CREATE TABLE ... OF type"},
    {"constraints", "CREATE TABLE with table constraints"},
    {"options", "CREATE TABLE ... WITH (...)"},
    {"tablespacename", "CREATE TABLE ... TABLESPACE"},
    {"accessMethod", "CREATE TABLE ... USING"},
};

static pm_code parse_create(walk *w, json_t *stmt, pm_op **ops, size_t *nops)
{
    static const char *const fields[] = {"relation", "tableElts", "oncommit", NULL};
    shown a;
    char buf[64];
    if (jtrue(stmt, "if_not_exists"))
        return reject(w->err, PM_ERR_USAGE,
                      "CREATE TABLE IF NOT EXISTS is not accepted: the guard checks that the "
                      "table is new; write CREATE TABLE");
    for (size_t i = 0; i < sizeof create_clause_words / sizeof create_clause_words[0]; i++)
        if (json_object_get(stmt, create_clause_words[i].from))
            return reject(w->err, PM_ERR_USAGE,
                          "%s is not accepted; write CREATE TABLE name (column type, ...)",
                          create_clause_words[i].to);
    const char *extra = extra_field(stmt, fields);
    if (extra)
        return reject(w->err, PM_ERR_USAGE, "unexpected %s in CREATE TABLE", extra);
    pm_op *op = pm_arena_calloc(w->arena, sizeof *op);
    op->kind = OP_CREATE_TABLE;
    pm_code rc = parse_relation(w, json_object_get(stmt, "relation"), &op->table);
    if (rc != PM_OK)
        return rc;
    const char *oncommit = jstr(stmt, "oncommit");
    if (oncommit && strcmp(oncommit, "ONCOMMIT_NOOP") != 0)
        return reject(w->err, PM_ERR_USAGE, "ON COMMIT is not accepted");
    json_t *elts = json_object_get(stmt, "tableElts");
    size_t n = json_array_size(elts);
    op->cols = pm_arena_calloc(w->arena, (n ? n : 1) * sizeof *op->cols);
    for (size_t i = 0; i < n; i++) {
        json_t *body;
        const char *tag = node_tag(json_array_get(elts, i), &body);
        if (tag && strcmp(tag, "ColumnDef") == 0) {
            rc = parse_coldef(w, body, IN_CREATE_TABLE, &op->cols[op->ncols]);
            if (rc != PM_OK)
                return rc;
            op->ncols++;
        } else if (tag && strcmp(tag, "TableLikeClause") == 0) {
            return reject(w->err, PM_ERR_USAGE,
                          "CREATE TABLE ... (LIKE ...) is not accepted; list the columns");
        } else if (tag && strcmp(tag, "Constraint") == 0) {
            return reject(w->err, PM_ERR_USAGE,
                          "table constraint %s in CREATE TABLE %s is not accepted; a table takes "
                          "only columns",
                          constraint_name(jstr(body, "contype")), show(&a, op->table));
        } else {
            return reject(w->err, PM_ERR_USAGE, "unexpected %s in CREATE TABLE",
                          tag ? camel_words(tag, strlen(tag), buf, sizeof buf) : "element");
        }
    }
    *ops = op;
    *nops = 1;
    return PM_OK;
}

/* The parser's message for a syntax error, made one bounded line: a
 * message like 'unterminated quoted string at or near "...' quotes the
 * rest of the input, newlines and all. */
static void one_line(const char *in, char *out, size_t cap)
{
    size_t n = strlen(in), o = 0;
    size_t keep = pm_utf8_truncate(in, n, cap > 160 ? 160 : cap - 4);
    for (size_t i = 0; i < keep; i++) {
        unsigned char c = (unsigned char)in[i];
        out[o++] = c < 0x20 || c == 0x7F ? ' ' : (char)c;
    }
    if (keep < n) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
}

pm_code guard_parse_sql_n(const guard_ctx *g, const char *sql, size_t len, pm_arena *arena,
                          pm_op **ops, size_t *nops, pm_err *err)
{
    *ops = NULL;
    *nops = 0;
    if (!sql)
        return reject(err, PM_ERR_USAGE, "no SQL given; %s", ONE_STATEMENT);
    if (len > GUARD_SQL_MAX)
        return reject(err, PM_ERR_LIMIT, "proposal is %zu bytes; the limit is %d; %s", len,
                      GUARD_SQL_MAX, ONE_STATEMENT);
    const char *nul = memchr(sql, '\0', len);
    if (nul)
        return reject(err, PM_ERR_PARSE, "NUL byte at offset %zu; send plain SQL text",
                      (size_t)(nul - sql));
    size_t bad = pm_utf8_check(sql, len);
    if (bad != len)
        return reject(err, PM_ERR_PARSE, "invalid UTF-8 at byte %zu; send UTF-8 SQL text", bad);

    /* The parser wants a C string; sql may be a slice of a larger buffer. */
    char *text = pm_arena_strndup(arena, sql, len);
    PgQueryParseResult r = pg_query_parse(text);
    if (r.error) {
        char line[200];
        one_line(r.error->message ? r.error->message : "syntax error", line, sizeof line);
        pm_code rc = reject(err, PM_ERR_PARSE, "%s at character %d; %s", line, r.error->cursorpos,
                            ONE_STATEMENT);
        pg_query_free_parse_result(r);
        return rc;
    }
    json_error_t jerr;
    json_t *root = json_loads(r.parse_tree, 0, &jerr);
    pg_query_free_parse_result(r);
    if (!root)
        return reject(err, PM_ERR_INTERNAL, "parse tree unreadable (%s)", jerr.text);

    walk w = {.g = g, .arena = arena, .err = err};
    pm_code rc;
    json_t *stmts = json_object_get(root, "stmts");
    size_t n = json_array_size(stmts);
    if (n == 0) {
        rc = reject(err, PM_ERR_PARSE, "no statement (the proposal is empty or only comments); %s",
                    ONE_STATEMENT);
        goto out;
    }
    if (n > 1) {
        rc = reject(err, PM_ERR_USAGE, "%zu statements; %s", n, ONE_STATEMENT);
        goto out;
    }
    json_t *body;
    const char *tag = node_tag(json_object_get(json_array_get(stmts, 0), "stmt"), &body);
    if (!tag) {
        rc = reject(err, PM_ERR_INTERNAL, "parse tree has an unexpected shape");
        goto out;
    }
    const char *objtype = jstr(body, "objtype");
    if (strcmp(tag, "AlterTableStmt") == 0 && objtype && strcmp(objtype, "OBJECT_TABLE") == 0) {
        rc = parse_alter(&w, body, ops, nops);
    } else if (strcmp(tag, "CreateStmt") == 0) {
        rc = parse_create(&w, body, ops, nops);
    } else {
        char buf[96];
        rc = reject(err, PM_ERR_USAGE, "%s is not accepted; %s",
                    stmt_name(tag, body, buf, sizeof buf), ONLY_ACCEPTED);
    }
out:
    json_decref(root);
    if (rc != PM_OK) {
        *ops = NULL;
        *nops = 0;
    }
    return rc;
}

pm_code guard_parse_sql(const guard_ctx *g, const char *sql, pm_arena *arena, pm_op **ops,
                        size_t *nops, pm_err *err)
{
    return guard_parse_sql_n(g, sql, sql ? strlen(sql) : 0, arena, ops, nops, err);
}

/* ---- typed ops ---------------------------------------------------------- */

static const pm_table *lookup(const guard_ctx *g, const char *table)
{
    return g->lookup ? g->lookup(g->lookup_arg, table) : NULL;
}

static pm_code check_type(pm_type t, const char *table, const char *col, pm_err *err)
{
    shown a, b;
    char tn[TYPE_NAME_MAX];
    if (type_valid(t))
        return PM_OK;
    if (t.kind == PM_T_VARCHAR)
        return reject(err, PM_ERR_SCHEMA, "varchar(%u) for %s.%s is out of range (1 to %u)",
                      (unsigned)t.len, show(&a, table), show(&b, col), TYPE_VARCHAR_MAX);
    return reject(err, PM_ERR_SCHEMA, "%s is not a column type (%s.%s)", type_name(t, tn),
                  show(&a, table), show(&b, col));
}

/* A column the op needs to exist. */
static pm_code need_column(const pm_table *t, const pm_op *op, const pm_column **col, pm_err *err)
{
    shown a, b, c;
    note nt;
    int i = t ? table_find(t, op->column, strlen(op->column)) : -1;
    if (i >= 0) {
        *col = &t->cols[i];
        return PM_OK;
    }
    if (!t)
        return reject(err, PM_ERR_SCHEMA, "table \"%s\" does not exist", show(&a, op->table));
    const char *like = look_alike(t, op->column);
    if (like)
        return reject(err, PM_ERR_SCHEMA,
                      "column %s.%s does not exist; it looks like %s but is spelt with other "
                      "characters%s",
                      show(&a, op->table), show(&b, op->column), show(&c, like),
                      non_ascii_note(&nt, op->column));
    return reject(err, PM_ERR_SCHEMA, "column %s.%s does not exist", show(&a, op->table),
                  show(&b, op->column));
}

/* A name a new column may take in t (t may be NULL for a new table). */
static pm_code check_new_column(const pm_table *t, const char *table, const char *name, pm_err *err)
{
    shown a, b, c;
    note nt;
    pm_code rc = check_column_name(name, PM_ERR_SCHEMA, err);
    if (rc != PM_OK)
        return rc;
    const char *like = look_alike(t, name);
    if (like)
        return reject(err, PM_ERR_SCHEMA,
                      "new column %s.%s looks like existing column %s but is spelt with other "
                      "characters%s; use %s or a plainly different name",
                      show(&a, table), show(&b, name), show(&c, like), non_ascii_note(&nt, name),
                      c.s);
    return PM_OK;
}

/* strptime conversions a coercion may use: fields of a date, a time and a
 * numeric zone, and the composites made of them. Not %n/%t (whitespace
 * games), %s (epoch), %c/%x/%X (locale layouts), %E/%O modifiers. */
static const char SAFE_CONVERSIONS[] = "YmdHMSybBaAIpzejTDFR%";

static pm_code check_format(const pm_op *op, pm_err *err)
{
    shown a, b;
    const char *f = op->format;
    if (!f || !*f)
        return reject(err, PM_ERR_SCHEMA, "coercion for %s.%s has no format", show(&a, op->table),
                      show(&b, op->column));
    size_t n = strlen(f), conversions = 0;
    if (n > FORMAT_MAX)
        return reject(err, PM_ERR_SCHEMA, "coercion format is %zu bytes; the limit is %d", n,
                      FORMAT_MAX);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)f[i];
        if (c < 0x20 || c > 0x7E)
            return reject(err, PM_ERR_SCHEMA,
                          "coercion format has a byte outside printable ASCII at offset %zu", i);
        if (c != '%')
            continue;
        if (i + 1 == n)
            return reject(err, PM_ERR_SCHEMA, "coercion format ends with a lone %%");
        char conv = f[++i];
        if (!strchr(SAFE_CONVERSIONS, conv))
            return reject(err, PM_ERR_SCHEMA,
                          "coercion format conversion %%%c is not accepted; use %%Y %%m %%d %%H "
                          "%%M %%S %%y %%b %%B %%a %%A %%I %%p %%z %%e %%j %%T %%D %%F %%R and "
                          "literal characters",
                          conv);
        if (conv != '%')
            conversions++;
    }
    if (conversions == 0)
        return reject(err, PM_ERR_SCHEMA, "coercion format \"%s\" has no conversion", show(&a, f));
    return PM_OK;
}

static pm_code check_field(const pm_table *t, const pm_op *op, pm_err *err)
{
    shown a, b, c;
    const char *f = op->field;
    if (!f || !*f)
        return reject(err, PM_ERR_SCHEMA, "field mapping to %s.%s has no field name",
                      show(&a, op->table), show(&b, op->column));
    size_t n = strlen(f);
    if (n > FIELD_MAX)
        return reject(err, PM_ERR_SCHEMA, "field name is %zu bytes; the limit is %d", n, FIELD_MAX);
    if (!pm_utf8_valid(f, n))
        return reject(err, PM_ERR_SCHEMA, "field name is not valid UTF-8 (byte %zu)",
                      pm_utf8_check(f, n));
    /* The field already has a column by the naming rule: mapping it to
     * the same one changes nothing, to another one would divert values
     * from the column they land in today. */
    char norm[COLNAME_MAX + 1];
    colname_normalise(f, n, norm);
    if (strcmp(norm, op->column) == 0)
        return reject(err, PM_ERR_SCHEMA, "field \"%s\" already lands in %s.%s; nothing to map",
                      show(&a, f), show(&b, op->table), show(&c, op->column));
    if (table_find(t, norm, strlen(norm)) >= 0)
        return reject(err, PM_ERR_SCHEMA,
                      "field \"%s\" already lands in column %s.%s; mapping it to %s would divert "
                      "that column's values (if %s is %s split in two, merge it: op "
                      "merge_column, pipemend proposals merge %s %s %s)",
                      show(&a, f), show(&b, op->table), norm, show(&c, op->column), norm,
                      op->column, op->table, norm, op->column);
    int k = table_find_alias(t, norm, strlen(norm));
    if (k >= 0 && strcmp(t->cols[k].name, op->column) == 0)
        return reject(err, PM_ERR_SCHEMA, "field \"%s\" is already mapped to %s.%s; nothing to map",
                      show(&a, f), show(&b, op->table), show(&c, op->column));
    if (k >= 0)
        return reject(err, PM_ERR_SCHEMA,
                      "field \"%s\" is already mapped to %s.%s; mapping it to %s would divert "
                      "that column's values",
                      show(&a, f), show(&b, op->table), t->cols[k].name, show(&c, op->column));
    return PM_OK;
}

/* merge_column: the column merged (op->field) is another live column of
 * the table, of a type whose every value the target holds as it is (the
 * same type or a lossless step of the lattice): the move is an UPDATE with
 * no cast that could fail or round, and the drop loses nothing the target
 * did not take. Where both have a value, the target's stays. */
static pm_code check_merge(const pm_table *t, const pm_op *op, const pm_column *into, pm_err *err)
{
    shown a, b, c;
    char fn[TYPE_NAME_MAX], tn[TYPE_NAME_MAX];
    if (!op->field || !*op->field)
        return reject(err, PM_ERR_SCHEMA, "merge into %s.%s names no column to merge",
                      show(&a, op->table), show(&b, op->column));
    int from = table_find(t, op->field, strlen(op->field));
    if (from < 0)
        return reject(err, PM_ERR_SCHEMA, "column %s.%s does not exist; there is nothing to merge",
                      show(&a, op->table), show(&b, op->field));
    if (&t->cols[from] == into)
        return reject(err, PM_ERR_SCHEMA, "%s.%s cannot be merged into itself", show(&a, op->table),
                      show(&b, op->column));
    pm_widen_class w = type_widen_class(t->cols[from].type, into->type);
    if (w != PM_WIDEN_SAME && w != PM_WIDEN_AUTO)
        return reject(err, PM_ERR_SCHEMA,
                      "%s.%s is %s and %s is %s; its values would not all fit (widen %s first)",
                      show(&a, op->table), show(&b, op->field), type_name(t->cols[from].type, fn),
                      show(&c, op->column), type_name(into->type, tn), op->column);
    return PM_OK;
}

static pm_code check_create(const guard_ctx *g, const pm_op *op, pm_err *err)
{
    shown a, b;
    if (lookup(g, op->table))
        return reject(err, PM_ERR_SCHEMA,
                      "table \"%s\" already exists; change it with ALTER TABLE (add_column, "
                      "widen_column, drop_not_null)",
                      show(&a, op->table));
    if (op->ncols == 0 || !op->cols)
        return reject(err, PM_ERR_SCHEMA, "table \"%s\" would have no columns; give at least one",
                      show(&a, op->table));
    if (op->ncols > TABLE_COLS_MAX)
        return reject(err, PM_ERR_SCHEMA, "table \"%s\" would have %zu columns; the limit is %d",
                      show(&a, op->table), op->ncols, TABLE_COLS_MAX);
    /* The columns seen so far, as a table, so that look-alikes among the
     * new columns are caught the way they are against a live table. */
    pm_arena *scratch = pm_arena_new(0);
    pm_table *seen = table_new(scratch, op->table);
    pm_code rc = PM_OK;
    for (size_t i = 0; i < op->ncols && rc == PM_OK; i++) {
        const pm_column *c = &op->cols[i];
        rc = check_new_column(seen, op->table, c->name, err);
        if (rc == PM_OK && table_find(seen, c->name, strlen(c->name)) >= 0)
            rc = reject(err, PM_ERR_SCHEMA, "column \"%s\" appears twice in table \"%s\"",
                        show(&a, c->name), show(&b, op->table));
        if (rc == PM_OK)
            rc = check_type(c->type, op->table, c->name, err);
        if (rc == PM_OK)
            table_add(seen, scratch, c->name, c->type, c->nullable);
    }
    pm_arena_free(scratch);
    return rc;
}

static pm_code check_widen(const pm_op *op, const pm_column *col, pm_err *err)
{
    shown a, b;
    char from[TYPE_NAME_MAX], to[TYPE_NAME_MAX];
    type_name(col->type, from);
    type_name(op->type, to);
    switch (type_widen_class(col->type, op->type)) {
    case PM_WIDEN_AUTO:
    case PM_WIDEN_REVIEW:
        return PM_OK;
    case PM_WIDEN_SAME:
        return reject(err, PM_ERR_SCHEMA, "%s.%s is already %s; nothing to widen",
                      show(&a, op->table), show(&b, op->column), from);
    default:
        break;
    }
    pm_widen_class back = type_widen_class(op->type, col->type);
    if (back == PM_WIDEN_AUTO || back == PM_WIDEN_REVIEW)
        return reject(err, PM_ERR_SCHEMA, "narrowing %s.%s from %s to %s is forbidden",
                      show(&a, op->table), show(&b, op->column), from, to);
    return reject(err, PM_ERR_SCHEMA,
                  "%s.%s cannot change from %s to %s: there is no widening path between them",
                  show(&a, op->table), show(&b, op->column), from, to);
}

/* One op against the live schema. */
static pm_code check_op(const guard_ctx *g, const pm_op *op, pm_err *err)
{
    shown a, b;
    char tn[TYPE_NAME_MAX];
    if ((unsigned)op->kind >= OP_KIND_COUNT)
        return reject(err, PM_ERR_SCHEMA, "unknown op kind %d", (int)op->kind);
    pm_code rc = check_table_name(g, op->table, PM_ERR_SCHEMA, err);
    if (rc != PM_OK)
        return rc;
    if (op->kind == OP_CREATE_TABLE)
        return check_create(g, op, err);

    rc = check_column_name(op->column, PM_ERR_SCHEMA, err);
    if (rc != PM_OK)
        return rc;
    const pm_table *t = lookup(g, op->table);
    if (!t)
        return reject(err, PM_ERR_SCHEMA,
                      "table \"%s\" does not exist yet; create it first (CREATE TABLE %s ...)",
                      show(&a, op->table), a.s);
    const pm_column *col = NULL;
    switch (op->kind) {
    case OP_ADD_COLUMN: {
        int i = table_find(t, op->column, strlen(op->column));
        if (i >= 0)
            return reject(err, PM_ERR_SCHEMA, "column %s.%s already exists as %s",
                          show(&a, op->table), show(&b, op->column),
                          type_name(t->cols[i].type, tn));
        i = table_find_alias(t, op->column, strlen(op->column));
        if (i >= 0)
            return reject(err, PM_ERR_SCHEMA,
                          "\"%s\" is a field mapped to %s.%s; a column of that name would take "
                          "its values",
                          show(&a, op->column), show(&b, op->table), t->cols[i].name);
        rc = check_new_column(t, op->table, op->column, err);
        return rc != PM_OK ? rc : check_type(op->type, op->table, op->column, err);
    }
    case OP_WIDEN_COLUMN:
        rc = need_column(t, op, &col, err);
        if (rc == PM_OK)
            rc = check_type(op->type, op->table, op->column, err);
        return rc != PM_OK ? rc : check_widen(op, col, err);
    case OP_DROP_NOT_NULL:
        rc = need_column(t, op, &col, err);
        if (rc == PM_OK && col->nullable)
            rc = reject(err, PM_ERR_SCHEMA, "%s.%s is already nullable; nothing to drop",
                        show(&a, op->table), show(&b, op->column));
        return rc;
    case OP_ADD_FIELD_MAPPING:
        rc = need_column(t, op, &col, err);
        return rc != PM_OK ? rc : check_field(t, op, err);
    case OP_MERGE_COLUMN:
        rc = need_column(t, op, &col, err);
        return rc != PM_OK ? rc : check_merge(t, op, col, err);
    case OP_ADD_COERCION:
        rc = need_column(t, op, &col, err);
        if (rc != PM_OK)
            return rc;
        if (col->type.kind != PM_T_DATE && col->type.kind != PM_T_TIMESTAMP &&
            col->type.kind != PM_T_TIMESTAMPTZ)
            return reject(err, PM_ERR_SCHEMA,
                          "%s.%s is %s; a coercion parses dates and times for a date, timestamp "
                          "or timestamptz column",
                          show(&a, op->table), show(&b, op->column), type_name(col->type, tn));
        rc = check_format(op, err); /* printable ASCII from here on */
        if (rc != PM_OK || !col->format || strcmp(col->format, op->format) != 0)
            return rc;
        return reject(err, PM_ERR_SCHEMA,
                      "%s.%s already parses with format \"%s\"; nothing to change",
                      show(&a, op->table), show(&b, op->column), op->format);
    case OP_RETYPE_COLUMN:
        rc = need_column(t, op, &col, err);
        if (rc == PM_OK)
            rc = check_type(op->type, op->table, op->column, err);
        if (rc != PM_OK)
            return rc;
        if (!op_retype_allowed(col->type, op->type))
            return reject(err, PM_ERR_SCHEMA,
                          "%s.%s cannot be retyped from %s to %s: a retype is for a number "
                          "column to text, or a text column to date, timestamp or timestamptz",
                          show(&a, op->table), show(&b, op->column), type_name(col->type, tn),
                          type_name(op->type, (char[TYPE_NAME_MAX]){0}));
        if (op->format && !(op->type.kind == PM_T_DATE || op->type.kind == PM_T_TIMESTAMP ||
                            op->type.kind == PM_T_TIMESTAMPTZ))
            return reject(err, PM_ERR_SCHEMA, "a retype of %s.%s to %s takes no format",
                          show(&a, op->table), show(&b, op->column), type_name(op->type, tn));
        return op->format ? check_format(op, err) : PM_OK;
    default:
        return reject(err, PM_ERR_SCHEMA, "unknown op kind %d", (int)op->kind);
    }
}

static bool same_str(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

/* Op i against the ops before it in the same proposal (see the top of
 * this file: no op builds on or repeats another). */
static pm_code check_against_earlier(const pm_op *ops, size_t i, pm_err *err)
{
    shown a, b;
    const pm_op *op = &ops[i];
    for (size_t j = 0; j < i; j++) {
        const pm_op *p = &ops[j];
        if (!same_str(p->table, op->table))
            continue;
        if (p->kind == OP_CREATE_TABLE)
            return reject(err, PM_ERR_SCHEMA,
                          "table \"%s\" is created by op %zu of this proposal; put its columns "
                          "there",
                          show(&a, op->table), j + 1);
        if (!same_str(p->column, op->column))
            continue;
        if (p->kind == OP_ADD_COLUMN)
            return reject(err, PM_ERR_SCHEMA,
                          "column %s.%s is added by op %zu of this proposal; give it its final "
                          "type there",
                          show(&a, op->table), show(&b, op->column), j + 1);
        if (p->kind == op->kind)
            return reject(err, PM_ERR_SCHEMA, "%s on %s.%s repeats op %zu of this proposal",
                          op_kind_name(op->kind), show(&a, op->table), show(&b, op->column), j + 1);
    }
    return PM_OK;
}

/* New column op i (through check_op, so its name is normal) against the
 * columns the ops before it add: two that look alike are refused like a
 * look-alike of a live column, since once applied they would be one. */
static pm_code check_look_alike_earlier(const pm_op *ops, size_t i, pm_err *err)
{
    shown a, b, c;
    note nt;
    const pm_op *op = &ops[i];
    if (op->kind != OP_ADD_COLUMN)
        return PM_OK;
    for (size_t j = 0; j < i; j++) {
        const pm_op *p = &ops[j];
        if (p->kind != OP_ADD_COLUMN || !same_str(p->table, op->table) ||
            !confusable_pair(p->column, op->column))
            continue;
        return reject(err, PM_ERR_SCHEMA,
                      "new column %s.%s looks like new column %s of op %zu of this proposal but "
                      "is spelt with other characters%s; add one of them, or give them plainly "
                      "different names",
                      show(&a, op->table), show(&b, op->column), show(&c, p->column), j + 1,
                      non_ascii_note(&nt, op->column));
    }
    return PM_OK;
}

/* Mapping op i (through check_op, so its field is valid) against the
 * mappings before it: one field cannot load into two columns. */
static pm_code check_mapping_twice(const pm_op *ops, size_t i, pm_err *err)
{
    shown a, b;
    const pm_op *op = &ops[i];
    if (op->kind != OP_ADD_FIELD_MAPPING)
        return PM_OK;
    char norm[COLNAME_MAX + 1], other[COLNAME_MAX + 1];
    colname_normalise(op->field, strlen(op->field), norm);
    for (size_t j = 0; j < i; j++) {
        const pm_op *p = &ops[j];
        if (p->kind != OP_ADD_FIELD_MAPPING || !same_str(p->table, op->table))
            continue;
        colname_normalise(p->field, strlen(p->field), other);
        if (strcmp(norm, other) == 0)
            return reject(err, PM_ERR_SCHEMA,
                          "field \"%s\" is mapped to %s.%s by op %zu of this proposal; a field "
                          "loads into one column",
                          show(&a, op->field), show(&b, op->table), p->column, j + 1);
    }
    return PM_OK;
}

/* Op i against the ops before it: a merge and a retype of the same column
 * go in separate proposals (the apply converts a retyped column's values
 * before it moves a merge's, which would then arrive unconverted). */
static pm_code check_merge_and_retype(const pm_op *ops, size_t i, pm_err *err)
{
    shown a, b;
    for (size_t j = 0; j < i; j++) {
        const pm_op *m = ops[i].kind == OP_MERGE_COLUMN ? &ops[i] : &ops[j];
        const pm_op *r = ops[i].kind == OP_MERGE_COLUMN ? &ops[j] : &ops[i];
        if (m->kind != OP_MERGE_COLUMN || r->kind != OP_RETYPE_COLUMN ||
            !same_str(m->table, r->table) || !r->column)
            continue;
        if (same_str(r->column, m->column) || same_str(r->column, m->field))
            return reject(err, PM_ERR_SCHEMA,
                          "%s.%s is merged and retyped by this proposal; propose the merge "
                          "first, and the retype once it is applied",
                          show(&a, r->table), show(&b, r->column));
    }
    return PM_OK;
}

/* "rejected: <reason>" -> "rejected: op 2 of 3: <reason>", so that the
 * proposer of several ops reads which one failed. */
static void name_op(pm_err *err, size_t i, size_t nops)
{
    static const char head[] = "rejected: ";
    const size_t off = sizeof head - 1;
    if (strncmp(err->msg, head, off) != 0)
        return;
    char prefix[64];
    size_t pn = (size_t)snprintf(prefix, sizeof prefix, "op %zu of %zu: ", i + 1, nops);
    size_t room = sizeof err->msg - 1 - off - pn;
    size_t n = strlen(err->msg + off);
    if (n > room)
        n = pm_utf8_truncate(err->msg + off, n, room);
    memmove(err->msg + off + pn, err->msg + off, n);
    memcpy(err->msg + off, prefix, pn);
    err->msg[off + pn + n] = '\0';
}

pm_code guard_check_ops(const guard_ctx *g, const pm_op *ops, size_t nops, size_t *bad, pm_err *err)
{
    if (bad)
        *bad = 0;
    if (!ops || nops == 0)
        return reject(err, PM_ERR_SCHEMA, "proposal has no ops; nothing to change");
    if (nops > GUARD_OPS_MAX)
        return reject(err, PM_ERR_SCHEMA, "proposal has %zu ops; the limit is %d", nops,
                      GUARD_OPS_MAX);
    for (size_t i = 0; i < nops; i++) {
        pm_code rc = check_against_earlier(ops, i, err);
        if (rc == PM_OK)
            rc = check_op(g, &ops[i], err);
        if (rc == PM_OK)
            rc = check_mapping_twice(ops, i, err);
        if (rc == PM_OK)
            rc = check_look_alike_earlier(ops, i, err);
        if (rc == PM_OK)
            rc = check_merge_and_retype(ops, i, err);
        if (rc != PM_OK) {
            if (bad)
                *bad = i;
            if (nops > 1 && err)
                name_op(err, i, nops);
            return rc;
        }
    }
    return PM_OK;
}
