/* pg_table.c - the PostgreSQL backend's data tables: creation, typed ops
 * rendered as ALTER TABLE under the table's migration lock, unique keys,
 * introspection of the live table, the fast load and the sandbox.
 *
 * Loading: a batch goes to the server as one COPY ... FROM STDIN in binary
 * format (the client converts every value on its own core; the server only
 * copies), inside a savepoint of the caller's transaction. When the server
 * refuses the batch (a constraint pipemend does not know, a trigger, a
 * duplicate key), the savepoint is rolled back and the rows are loaded again
 * by bisection: each half in its own savepoint, down to the rows that fail
 * alone, which are marked refused with the server's message and SQLSTATE.
 * k bad rows in n cost about 2k log2(n) COPYs; a clean batch costs one.
 *
 * The sandbox is PostgreSQL's transactional DDL: a temporary clone (CREATE
 * TEMP TABLE ... (LIKE ... INCLUDING ALL)) in a transaction that is always
 * rolled back; when the changed columns have dependents, the ops are first
 * rehearsed on the real table in a savepoint (pg_deps.c). Changes of type
 * carry the views over them through (pg_deps.c). */
#include "store/pg_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"

#define SANDBOX_NAME "pm_sandbox"

pm_code pg_table_create(pm_store *s, const pm_table *t, pm_err *err)
{
    pg *p = pg_of(s);
    pm_buf b;
    pm_buf_init(&b, 1 << 22);
    pm_code rc = pm_buf_puts(&b, "CREATE TABLE ", err);
    if (!rc)
        rc = store_quote_qualified(&b, PG_DATA_SCHEMA, t->name, err);
    if (!rc)
        rc = pm_buf_puts(&b, " (", err);
    for (size_t i = 0; !rc && i < t->ncols; i++) {
        char decl[32];
        if (i)
            rc = pm_buf_puts(&b, ", ", err);
        if (!rc)
            rc = pg_quote_ident(&b, t->cols[i].name, err);
        if (!rc)
            rc = pm_buf_printf(&b, err, " %s%s", pg_type_decl(t->cols[i].type, decl),
                               t->cols[i].nullable ? "" : " NOT NULL");
    }
    if (!rc)
        rc = pm_buf_putc(&b, ')', err);
    if (!rc)
        rc = pg_exec(p, b.data, "cannot create the table", err);
    pm_buf_free(&b);
    return rc;
}

pm_code pg_table_live(pm_store *s, const pm_table *t, pm_arena *a, pm_table **live, bool *exists,
                      pm_err *err)
{
    pg *p = pg_of(s);
    *live = NULL;
    *exists = false;
    const char *params[] = {PG_DATA_SCHEMA, t->name};
    PGresult *res;
    pm_code rc = pg_query(p,
                          "SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull "
                          "FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN "
                          "pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND "
                          "c.relname = $2 AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT "
                          "a.attisdropped ORDER BY a.attnum",
                          2, params, &res, "cannot read the table's columns", err);
    if (rc)
        return rc;
    pm_table *l = table_new(a, t->name);
    for (int i = 0; i < PQntuples(res); i++) {
        const char *name = PQgetvalue(res, i, 0);
        int j = table_find(t, name, strlen(name));
        pm_type cat = j >= 0 ? t->cols[j].type : (pm_type){PM_T_UNKNOWN, 0};
        int k = table_add(l, a, name, pg_type_from_decl(PQgetvalue(res, i, 1), cat),
                          strcmp(PQgetvalue(res, i, 2), "t") != 0);
        *exists = true;
        if (k < 0 || j < 0)
            continue;
        for (size_t m = 0; m < t->cols[j].naliases; m++)
            table_add_alias(l, a, k, t->cols[j].aliases[m]);
        if (t->cols[j].format)
            table_set_format(l, a, k, t->cols[j].format);
        /* still NOT NULL: still pipemend's guess, if it was one */
        l->cols[k].guessed = t->cols[j].guessed && !t->cols[j].nullable && !l->cols[k].nullable;
        l->cols[k].origin = t->cols[j].origin;
    }
    PQclear(res);
    for (size_t i = 0; i < t->ndropped; i++)
        table_add_dropped(l, a, t->dropped[i]);
    l->version = t->version + 1;
    if (*exists)
        *live = l;
    return PM_OK;
}

/* s as an escape string literal (E'...': the same whatever the server's
 * standard_conforming_strings). */
static pm_code quote_literal(pm_buf *b, const char *s, pm_err *err)
{
    pm_code rc = pm_buf_puts(b, "E'", err);
    for (; !rc && *s; s++)
        rc = *s == '\''   ? pm_buf_puts(b, "''", err)
             : *s == '\\' ? pm_buf_puts(b, "\\\\", err)
                          : pm_buf_putc(b, *s, err);
    return rc ? rc : pm_buf_putc(b, '\'', err);
}

/* The ALTER COLUMN of a retype (op.h): a number column to text takes
 * each value's own text (numeric's as stored, float8's shortest exact
 * digits: the session's extra_float_digits is 1, pg_apply_ddl sees to
 * it); a text column to date/time casts values that store_retype_prepare
 * has made ISO already, or, from a varchar(n) when mapped, maps each one
 * through its pairs here (the ISO text need not fit varchar(n)). One
 * function, so that whatever must happen around an ALTER COLUMN TYPE
 * (dependent views) can wrap it. */
static pm_code render_retype(pm_buf *b, const pm_table *from, const pm_op *op, bool mapped,
                             pm_err *err)
{
    char decl[32];
    int j = table_find(from, op->column, strlen(op->column));
    mapped = mapped && j >= 0 && store_retype_in_alter(true, from->cols[j].type);
    pm_code rc = pm_buf_puts(b, "ALTER COLUMN ", err);
    if (!rc)
        rc = pg_quote_ident(b, op->column, err);
    if (!rc)
        rc = pm_buf_printf(b, err, " TYPE %s USING ", pg_type_decl(op->type, decl));
    if (!rc && mapped) {
        rc = pm_buf_puts(b, "pg_temp._pipemend_retype_iso(", err);
        if (!rc)
            rc = quote_literal(b, op->column, err);
        if (!rc)
            rc = pm_buf_puts(b, ", CAST(", err);
    }
    if (!rc)
        rc = pg_quote_ident(b, op->column, err);
    if (!rc && mapped)
        rc = pm_buf_puts(b, " AS text))", err);
    return rc ? rc : pm_buf_printf(b, err, "::%s", decl);
}

/* ALTER TABLE target <the ops> into b, one sub-command per op (mappings
 * and coercions change the catalog only); *any says whether there was one. */
static pm_code render_alter(pm_buf *b, const char *schema, const char *name, const pm_table *from,
                            const pm_op *ops, size_t n, bool mapped, bool *any, pm_err *err)
{
    pm_code rc = pm_buf_puts(b, "ALTER TABLE ", err);
    if (!rc)
        rc = store_quote_qualified(b, schema, name, err);
    *any = false;
    for (size_t i = 0; !rc && i < n; i++) {
        const pm_op *op = &ops[i];
        char decl[32];
        if (op->kind != OP_ADD_COLUMN && op->kind != OP_WIDEN_COLUMN &&
            op->kind != OP_DROP_NOT_NULL && op->kind != OP_RETYPE_COLUMN &&
            op->kind != OP_MERGE_COLUMN)
            continue;
        rc = pm_buf_puts(b, *any ? ", " : " ", err);
        *any = true;
        if (!rc && op->kind == OP_ADD_COLUMN) {
            rc = pm_buf_puts(b, "ADD COLUMN ", err);
            if (!rc)
                rc = pg_quote_ident(b, op->column, err);
            if (!rc)
                rc = pm_buf_printf(b, err, " %s", pg_type_decl(op->type, decl));
        } else if (!rc && op->kind == OP_RETYPE_COLUMN) {
            rc = render_retype(b, from, op, mapped, err);
        } else if (!rc && op->kind == OP_WIDEN_COLUMN) {
            /* The lattice widens only where every old value converts: the
             * cast is the one PostgreSQL itself would apply. */
            rc = pm_buf_puts(b, "ALTER COLUMN ", err);
            if (!rc)
                rc = pg_quote_ident(b, op->column, err);
            if (!rc)
                rc = pm_buf_printf(b, err, " TYPE %s USING ", pg_type_decl(op->type, decl));
            if (!rc)
                rc = pg_quote_ident(b, op->column, err);
            if (!rc)
                rc = pm_buf_printf(b, err, "::%s", decl);
        } else if (!rc && op->kind == OP_MERGE_COLUMN) {
            /* its values moved before (render_merges) */
            rc = pm_buf_puts(b, "DROP COLUMN ", err);
            if (!rc)
                rc = pg_quote_ident(b, op->field, err);
        } else if (!rc) {
            rc = pm_buf_puts(b, "ALTER COLUMN ", err);
            if (!rc)
                rc = pg_quote_ident(b, op->column, err);
            if (!rc)
                rc = pm_buf_puts(b, " DROP NOT NULL", err);
        }
    }
    return rc;
}

/* merge_column's move, before the ALTER TABLE that drops the column:
 * UPDATE t SET into = from WHERE into IS NULL AND from IS NOT NULL, one
 * statement per merge, each ending in ";\n" when sep. The guard checked
 * that from's values fit into, so no cast is written. */
static pm_code render_merge(pm_buf *b, const char *schema, const char *name, const pm_table *from,
                            const pm_op *op, pm_err *err)
{
    /* PostgreSQL has no assignment cast from boolean to a number: true and
     * false go in as 1 and 0 (as SQLite stores them), through integer,
     * the one number boolean casts to */
    int f = table_find(from, op->field, strlen(op->field));
    int c = table_find(from, op->column, strlen(op->column));
    pm_tkind into = c >= 0 ? from->cols[c].type.kind : PM_T_UNKNOWN;
    bool bool_number = f >= 0 && from->cols[f].type.kind == PM_T_BOOL &&
                       (into == PM_T_INT16 || into == PM_T_INT32 || into == PM_T_INT64 ||
                        into == PM_T_FLOAT64 || into == PM_T_NUMERIC);
    char decl[32];
    pm_code rc = pm_buf_puts(b, "UPDATE ", err);
    if (!rc)
        rc = store_quote_qualified(b, schema, name, err);
    if (!rc)
        rc = pm_buf_puts(b, " SET ", err);
    if (!rc)
        rc = pg_quote_ident(b, op->column, err);
    if (!rc)
        rc = pm_buf_puts(b, bool_number ? " = CAST(CAST(" : " = ", err);
    if (!rc)
        rc = pg_quote_ident(b, op->field, err);
    if (!rc && bool_number)
        rc = pm_buf_printf(b, err, " AS integer) AS %s)", pg_type_decl(from->cols[c].type, decl));
    if (!rc)
        rc = pm_buf_puts(b, " WHERE ", err);
    if (!rc)
        rc = pg_quote_ident(b, op->column, err);
    if (!rc)
        rc = pm_buf_puts(b, " IS NULL AND ", err);
    if (!rc)
        rc = pg_quote_ident(b, op->field, err);
    return rc ? rc : pm_buf_puts(b, " IS NOT NULL", err);
}

/* A merge drops its field's column: PostgreSQL would drop the indexes and
 * constraints over it without a word, and refuses while a view uses it.
 * So the merge is refused naming what depends on the column (in the dry
 * run as in the apply); its default goes with it. */
static pm_code merge_blockers(pm_store *s, const char *table, const char *column, pm_err *err)
{
    pg *p = pg_of(s);
    pm_buf q;
    pm_buf_init(&q, 4096);
    pm_code rc = store_quote_qualified(&q, PG_DATA_SCHEMA, table, err);
    PGresult *res = NULL;
    const char *params[] = {q.data, column};
    if (!rc)
        rc = pg_query(p,
                      "SELECT DISTINCT pg_catalog.pg_describe_object(d.classid, d.objid, 0) "
                      "FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_attribute a ON "
                      "a.attrelid = d.refobjid AND a.attnum = d.refobjsubid "
                      "WHERE d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass "
                      "AND d.refobjid = pg_catalog.to_regclass($1) AND a.attname = $2 "
                      "AND d.classid <> 'pg_catalog.pg_attrdef'::pg_catalog.regclass "
                      "AND d.deptype IN ('n', 'a') ORDER BY 1",
                      2, params, &res, "cannot read what depends on the merged column", err);
    pm_buf_free(&q);
    if (rc)
        return rc;
    int k = PQntuples(res);
    if (k) {
        pm_buf names;
        pm_buf_init(&names, 1 << 16);
        for (int i = 0; i < k; i++)
            pm_buf_printf(&names, NULL, "%s%s", i ? ", " : "", PQgetvalue(res, i, 0));
        rc = store_merge_refused(err, table, column, names.data, (size_t)k);
        pm_buf_free(&names);
    }
    PQclear(res);
    return rc;
}

/* The ALTER TABLE of ops (the catalog checked the version and holds the
 * table's migration lock). */
pm_code pg_apply_ddl(pm_store *s, const pm_table *from, const pm_op *ops, size_t n,
                     const pm_table *to, pm_err *err)
{
    pm_buf b;
    pm_buf_init(&b, 1 << 20);
    bool any = false;
    pm_code rc = PM_OK;
    for (size_t i = 0; !rc && i < n; i++) {
        if (ops[i].kind != OP_MERGE_COLUMN)
            continue;
        pm_buf_reset(&b);
        rc = merge_blockers(s, from->name, ops[i].field, err);
        if (!rc)
            rc = render_merge(&b, PG_DATA_SCHEMA, from->name, from, &ops[i], err);
        if (!rc)
            rc = pg_exec(pg_of(s), b.data, "cannot move the merged column's values", err);
    }
    pm_buf_reset(&b);
    if (!rc)
        rc = render_alter(&b, PG_DATA_SCHEMA, from->name, from, ops, n, true, &any, err);
    /* float8 -> text: the shortest exact digits whatever the server's
     * default (type_float_text writes the same on SQLite) */
    for (size_t i = 0; !rc && any && i < n; i++)
        if (ops[i].kind == OP_RETYPE_COLUMN || ops[i].kind == OP_WIDEN_COLUMN) {
            rc = pg_exec(pg_of(s), "SET LOCAL extra_float_digits = 1",
                         "cannot set the float output for the change", err);
            break;
        }
    if (!rc)
        rc = pg_alter_carrying(s, from, ops, n, any ? b.data : NULL, err);
    pm_buf_free(&b);
    (void)to;
    return rc;
}

pm_code pg_render_ddl(pm_store *s, const pm_table *from, const pm_op *ops, size_t n,
                      const pm_table *to, pm_buf *out, pm_err *err)
{
    bool any = false;
    pm_code rc = PM_OK;
    for (size_t i = 0; !rc && i < n; i++) {
        if (ops[i].kind != OP_MERGE_COLUMN)
            continue;
        rc = render_merge(out, PG_DATA_SCHEMA, from->name, from, &ops[i], err);
        if (!rc)
            rc = pm_buf_puts(out, ";\n", err);
    }
    size_t start = out->len;
    /* What the apply carries through or refuses is said in comments: run
     * by hand, the ALTER alone meets the views pipemend would re-create.
     * Names are the database's: a control character in one could end the
     * comment, so it is shown as '?'. */
    pm_arena *da = pm_arena_new(0);
    pm_dependent *d = NULL;
    size_t nd = 0;
    if (!rc)
        rc = pg_dependents(s, from, ops, n, da, &d, &nd, err);
    for (size_t i = 0; !rc && i < nd; i++) {
        bool carried = strcmp(d[i].action, "re-created") == 0;
        if (!carried && strcmp(d[i].action, "refused") != 0)
            continue;
        char *line = pm_arena_sprintf(
            da, "-- %s (column %s): %s%s", d[i].name, d[i].column ? d[i].column : "?",
            carried ? "pipemend's apply drops it and creates it again exactly, in the same "
                      "transaction"
                    : "refused: ",
            carried ? "" : (d[i].note ? d[i].note : ""));
        for (char *c = line; *c; c++)
            if ((unsigned char)*c < 0x20 || *c == 0x7f)
                *c = '?';
        rc = pm_buf_printf(out, err, "%s\n", line);
    }
    pm_arena_free(da);
    for (size_t i = 0; !rc && i < n; i++) {
        if (ops[i].kind != OP_RETYPE_COLUMN || !ops[i].format)
            continue;
        /* the names come from the proposal: shown, they must not end the
         * comment */
        char line[512];
        snprintf(line, sizeof line,
                 "-- the values of %s written as %s are made ISO 8601 by pipemend's apply "
                 "before this ALTER; run by hand, convert them first",
                 ops[i].column ? ops[i].column : "?", ops[i].format);
        for (char *c = line; *c; c++)
            if ((unsigned char)*c < 0x20 || *c == 0x7f)
                *c = '?';
        rc = pm_buf_printf(out, err, "%s\n", line);
    }
    if (!rc)
        rc = render_alter(out, PG_DATA_SCHEMA, from->name, from, ops, n, false, &any, err);
    if (!rc && !any)
        out->len = start; /* mappings and coercions change the catalog only */
    else if (!rc)
        rc = pm_buf_puts(out, ";\n", err);
    (void)to;
    return rc;
}

/* A load prepared for the old columns would not fit. */
void pg_table_changed(pm_store *s)
{
    pg_of(s)->load_table = NULL;
}

pm_code pg_unique_ensure(pm_store *s, const pm_table *t, const contract_rule *u, int *changed,
                         pm_err *err)
{
    pg *p = pg_of(s);
    char want[64] = "";
    *changed = 0;
    if (u)
        store_unique_index_name(t, u, want);
    /* Indexes of keys the contract no longer declares go: pipemend made
     * them, and a stale key would quarantine rows for the wrong reason. */
    const char *params[] = {PG_DATA_SCHEMA, t->name, want};
    PGresult *res;
    pm_code rc = pg_query(p,
                          "SELECT i.relname, i.relname = $3 FROM pg_index x JOIN pg_class i ON "
                          "i.oid = x.indexrelid JOIN pg_class c ON c.oid = x.indrelid JOIN "
                          "pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND "
                          "c.relname = $2 AND left(i.relname, 17) = '_pipemend_unique_'",
                          3, params, &res, "cannot read the table's indexes", err);
    if (rc)
        return rc;
    pm_buf b;
    pm_buf_init(&b, 1 << 20);
    bool have = false;
    for (int i = 0; !rc && i < PQntuples(res); i++) {
        if (strcmp(PQgetvalue(res, i, 1), "t") == 0) {
            have = true;
            continue;
        }
        pm_buf_reset(&b);
        rc = pm_buf_puts(&b, "DROP INDEX ", err);
        if (!rc)
            rc = store_quote_qualified(&b, PG_DATA_SCHEMA, PQgetvalue(res, i, 0), err);
        if (!rc)
            rc = pg_exec(p, b.data, "cannot drop an old unique key index", err);
        (*changed)++;
    }
    PQclear(res);
    if (!rc && u && !have) {
        pm_buf_reset(&b);
        rc = pm_buf_puts(&b, "CREATE UNIQUE INDEX ", err);
        if (!rc)
            rc = pg_quote_ident(&b, want, err);
        if (!rc)
            rc = pm_buf_puts(&b, " ON ", err);
        if (!rc)
            rc = store_quote_qualified(&b, PG_DATA_SCHEMA, t->name, err);
        if (!rc)
            rc = pm_buf_puts(&b, " (", err);
        for (size_t i = 0; !rc && i < u->nkey; i++) {
            if (i)
                rc = pm_buf_puts(&b, ", ", err);
            if (!rc)
                rc = pg_quote_ident(&b, u->key[i], err);
        }
        if (!rc)
            rc = pm_buf_putc(&b, ')', err);
        if (!rc) {
            rc = pg_exec(p, b.data, "cannot create the unique key index", err);
            if (rc == PM_ERR_CONSTRAINT) {
                rc = pm_err_set(err, PM_ERR_CONFIG,
                                "cannot enforce the unique key of %s: rows already loaded "
                                "repeat it",
                                t->name);
                pm_err_hint(err,
                            "remove the duplicates from %s, or drop the unique rule from the "
                            "contract",
                            t->name);
            }
        }
        (*changed)++;
    }
    pm_buf_free(&b);
    return rc;
}

pm_code pg_table_count(pm_store *s, const char *name, int64_t *rows, pm_err *err)
{
    pg *p = pg_of(s);
    pm_buf b;
    pm_buf_init(&b, 4096);
    PGresult *res = NULL;
    pm_code rc = pm_buf_puts(&b, "SELECT count(*) FROM ", err);
    if (!rc)
        rc = store_quote_qualified(&b, PG_DATA_SCHEMA, name, err);
    if (!rc)
        rc = pg_query(p, b.data, 0, NULL, &res, "cannot count the table's rows", err);
    if (rc && err && strcmp(err->sqlstate, "42P01") == 0)       /* undefined_table */
        rc = pm_err_set(err, PM_ERR_NOTFOUND, "no such table"); /* store.c words it */
    if (!rc) {
        *rows = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        PQclear(res);
    }
    pm_buf_free(&b);
    return rc;
}

pm_code pg_table_exists(pm_store *s, const char *name, bool *exists, pm_err *err)
{
    pm_buf b;
    pm_buf_init(&b, 4096);
    PGresult *res = NULL;
    *exists = false;
    pm_code rc = store_quote_qualified(&b, PG_DATA_SCHEMA, name, err);
    const char *params[] = {b.data};
    if (!rc)
        rc = pg_query(pg_of(s), "SELECT to_regclass($1::text) IS NOT NULL", 1, params, &res,
                      "cannot look the table up", err);
    if (!rc) {
        *exists = PQgetvalue(res, 0, 0)[0] == 't';
        PQclear(res);
    }
    pm_buf_free(&b);
    return rc;
}

pm_code pg_table_remove(pm_store *s, const char *name, bool drop, int64_t *rows, pm_err *err)
{
    pg *p = pg_of(s);
    pm_buf b;
    pm_buf_init(&b, 4096);
    PGresult *res = NULL;
    *rows = 0;
    pm_code rc = pm_buf_puts(&b, drop ? "DROP TABLE IF EXISTS " : "DELETE FROM ", err);
    if (!rc)
        rc = store_quote_qualified(&b, PG_DATA_SCHEMA, name, err);
    if (!rc)
        rc = pg_query(p, b.data, 0, NULL, &res,
                      drop ? "cannot drop the table" : "cannot delete the table's rows", err);
    if (!rc) {
        if (!drop)
            *rows = strtoll(PQcmdTuples(res), NULL, 10);
        PQclear(res);
    }
    pm_buf_free(&b);
    return rc;
}

/* ---- loading -------------------------------------------------------------- */

/* Does binary COPY's encoding for logical type t (pg_copy.c) fit a live
 * column declared decl (format_type)? Lengths and precisions do not matter
 * (the server applies them); other types do (a hand-made `real` takes 4
 * bytes, `json` no version byte, a `uuid` 16 bytes). */
static bool binary_fits(pm_type t, const char *decl)
{
    size_t n = strcspn(decl, "(");
    const char *const *ok;
    static const char *const b[] = {"boolean", NULL}, *const i16[] = {"smallint", NULL},
                             *const i32[] = {"integer", NULL}, *const i64[] = {"bigint", NULL},
                             *const f64[] = {"double precision", NULL},
                             *const num[] = {"numeric", NULL},
                             *const txt[] = {"text", "character varying", "character", NULL},
                             *const dt[] = {"date", NULL},
                             *const ts[] = {"timestamp without time zone", "timestamp", NULL},
                             *const tz[] = {"timestamp with time zone", NULL},
                             *const js[] = {"jsonb", NULL};
    switch (t.kind) {
    case PM_T_BOOL:
        ok = b;
        break;
    case PM_T_INT16:
        ok = i16;
        break;
    case PM_T_INT32:
        ok = i32;
        break;
    case PM_T_INT64:
        ok = i64;
        break;
    case PM_T_FLOAT64:
        ok = f64;
        break;
    case PM_T_NUMERIC:
        ok = num;
        break;
    case PM_T_DATE:
        ok = dt;
        break;
    case PM_T_TIMESTAMP:
        ok = ts;
        break;
    case PM_T_TIMESTAMPTZ:
        ok = tz;
        break;
    case PM_T_JSON:
        ok = js;
        break;
    default:
        ok = txt;
    }
    /* "timestamp(3) without time zone": the precision sits inside */
    char base[64];
    const char *paren = strchr(decl, '(');
    if (paren) {
        const char *close = strchr(paren, ')');
        snprintf(base, sizeof base, "%.*s%s", (int)n, decl, close ? close + 1 : "");
    } else {
        snprintf(base, sizeof base, "%s", decl);
    }
    for (size_t i = 0; ok[i]; i++)
        if (strcmp(base, ok[i]) == 0)
            return true;
    return false;
}

pm_code pg_insert_prepare(pm_store *s, const pm_table *t, pm_err *err)
{
    pg *p = pg_of(s);
    /* the live types decide the COPY format */
    const char *params[] = {PG_DATA_SCHEMA, t->name};
    PGresult *res;
    pm_code rc = pg_query(p,
                          "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM "
                          "pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace "
                          "n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2 "
                          "AND a.attnum > 0 AND NOT a.attisdropped",
                          2, params, &res, "cannot read the table's columns", err);
    if (rc)
        return rc;
    p->load_text = false;
    for (int i = 0; i < PQntuples(res); i++) {
        const char *name = PQgetvalue(res, i, 0);
        int j = table_find(t, name, strlen(name));
        if (j >= 0 && !binary_fits(t->cols[j].type, PQgetvalue(res, i, 1)))
            p->load_text = true;
    }
    PQclear(res);
    if (!p->load_arena)
        p->load_arena = pm_arena_new(0);
    else if (!p->sandbox_open)
        pm_arena_reset(p->load_arena);
    p->load_table = table_copy(t, p->load_arena);
    if (!p->copy.max) /* a batch of rows, each at most a line's limit */
        pm_buf_init(&p->copy, (size_t)1 << 31);
    (void)err;
    return PM_OK;
}

/* The SQLSTATE classes that mean "this row", not "this batch": integrity
 * (23: unique, not null, check, foreign key), data (22: a value too long,
 * a byte sequence the server's encoding refuses), raised by a trigger
 * (P0001). Anything else (a lost connection, a full disk) fails the batch. */
static bool row_refusal(const char *sqlstate)
{
    return strncmp(sqlstate, "23", 2) == 0 || strncmp(sqlstate, "22", 2) == 0 ||
           strcmp(sqlstate, "P0001") == 0 || strcmp(sqlstate, "54000") == 0;
}

/* One row in COPY's text format, for tables whose hand-made column types
 * binary COPY cannot encode for: the server converts each value from its
 * text as it would from an INSERT. A NUL byte cannot be sent (PostgreSQL
 * text cannot hold it): PM_ERR_PARSE. */
static pm_code copy_text_row(pm_buf *b, const pm_table *t, const pm_cell *cells, pm_err *err)
{
    size_t start = b->len;
    pm_code rc = PM_OK;
    for (size_t i = 0; !rc && i < t->ncols; i++) {
        const pm_cell *c = &cells[i];
        if (i)
            rc = pm_buf_putc(b, '\t', err);
        if (rc)
            break;
        switch (c->kind) {
        case PM_CELL_NULL:
            rc = pm_buf_puts(b, "\\N", err);
            break;
        case PM_CELL_INT:
            rc = pm_buf_printf(b, err, "%lld", (long long)c->i);
            break;
        case PM_CELL_REAL:
            rc = pm_buf_printf(b, err, "%.17g", c->d);
            break;
        case PM_CELL_TEXT:
            for (size_t k = 0; !rc && k < c->len; k++) {
                char ch = c->s[k];
                if (ch == '\0')
                    rc = pm_err_set(err, PM_ERR_PARSE,
                                    "column %s holds a NUL byte, which PostgreSQL text cannot "
                                    "store",
                                    t->cols[i].name);
                else if (ch == '\\')
                    rc = pm_buf_append(b, "\\\\", 2, err);
                else if (ch == '\t')
                    rc = pm_buf_append(b, "\\t", 2, err);
                else if (ch == '\n')
                    rc = pm_buf_append(b, "\\n", 2, err);
                else if (ch == '\r')
                    rc = pm_buf_append(b, "\\r", 2, err);
                else
                    rc = pm_buf_putc(b, ch, err);
            }
            break;
        }
    }
    if (!rc)
        rc = pm_buf_putc(b, '\n', err);
    if (rc)
        b->len = start;
    return rc;
}

/* One COPY of rows[0..n) into target (schema.name of t). */
/* Rows are sent in chunks of this many bytes while the next ones are
 * encoded, so the server stores while the client converts. */
#define COPY_CHUNK (256u * 1024)

static pm_code send_chunk(pg *p, pm_err *err)
{
    if (p->copy.len && PQputCopyData(p->conn, p->copy.data, (int)p->copy.len) != 1)
        return pg_error(p, NULL, "cannot send rows to the server", err);
    pm_buf_reset(&p->copy);
    return PM_OK;
}

/* Starts COPY ... FROM STDIN into target (schema.name of t); *text_out
 * says whether it is in text format. */
static pm_code copy_start(pg *p, const char *schema, const char *name, const pm_table *t,
                          bool *text_out, pm_err *err)
{
    pm_buf sql;
    pm_buf_init(&sql, 1 << 22);
    pm_code rc = pm_buf_puts(&sql, "COPY ", err);
    if (!rc)
        rc = store_quote_qualified(&sql, schema, name, err);
    if (!rc)
        rc = pm_buf_puts(&sql, " (", err);
    for (size_t i = 0; !rc && i < t->ncols; i++) {
        if (i)
            rc = pm_buf_puts(&sql, ", ", err);
        if (!rc)
            rc = pg_quote_ident(&sql, t->cols[i].name, err);
    }
    /* the data table's load and its stage (load_staged) share the columns'
     * types; the sandbox's clone is always pipemend's own */
    bool text = p->load_text && t == p->load_table;
    if (!rc)
        rc = pm_buf_puts(&sql, text ? ") FROM STDIN" : ") FROM STDIN (FORMAT binary)", err);
    if (rc) {
        pm_buf_free(&sql);
        return rc;
    }
    PGresult *res;
    rc = pg_exec_start(p, sql.data, &res, "cannot start the load", err);
    pm_buf_free(&sql);
    if (rc)
        return rc;
    if (PQresultStatus(res) != PGRES_COPY_IN) {
        rc = pg_error(p, res, "cannot start the load", err);
        PQclear(res);
        return rc;
    }
    PQclear(res);
    pm_buf_reset(&p->copy);
    if (!text)
        pg_copy_begin(&p->copy);
    *text_out = text;
    return PM_OK;
}

/* Encodes rows[0..n) of t into the open COPY and sends them in chunks.
 * A row that cannot be encoded stops it: *erc and *ee say why. */
static pm_code copy_send(pg *p, const pm_table *t, bool text, const pm_load_row *rows, size_t n,
                         pm_code *erc, pm_err *ee, pm_err *err)
{
    pm_code rc = PM_OK;
    *erc = PM_OK;
    for (size_t i = 0; !rc && !*erc && i < n; i++) {
        /* The reader thread wrote these cells on the other core, a batch
         * ago: reading them was most of the encoding's time, a cache miss
         * each. Asking for them two rows ahead overlaps the misses. */
        if (i + 2 < n)
            for (size_t k = 0; k < t->ncols * sizeof *rows[i].cells; k += 64)
                __builtin_prefetch((const char *)rows[i + 2].cells + k);
        /* and the text they point to, one row ahead (its cells are here) */
        if (!text && i + 1 < n)
            pg_copy_prefetch(t, rows[i + 1].cells);
        *erc = text ? copy_text_row(&p->copy, t, rows[i].cells, ee)
                    : pg_copy_row(&p->copy, t, rows[i].cells, ee);
        if (!*erc && p->copy.len >= COPY_CHUNK)
            rc = send_chunk(p, err);
    }
    return rc;
}

/* Ends the open COPY and reads its outcome: the rows sent are in (PM_OK)
 * or the server's refusal. With abort_why the COPY is abandoned instead
 * (nothing of it is kept) and only a failure to say so is an error. */
static pm_code copy_finish(pg *p, bool text, const char *abort_why, pm_err *err)
{
    pm_code rc = PM_OK;
    if (!abort_why) {
        if (!text)
            pg_copy_end(&p->copy);
        rc = send_chunk(p, err);
    }
    if (!rc && PQputCopyEnd(p->conn, abort_why) != 1)
        rc = pg_error(p, NULL, "cannot send rows to the server", err);
    PGresult *res;
    while ((res = PQgetResult(p->conn)) != NULL) {
        if (!rc && !abort_why && PQresultStatus(res) != PGRES_COMMAND_OK)
            rc = pg_error(p, res, "the server refused the rows", err);
        PQclear(res);
    }
    return rc;
}

/* One COPY of rows[0..n) into target (schema.name of t). */
static pm_code copy_rows(pg *p, const char *schema, const char *name, const pm_table *t,
                         const pm_load_row *rows, size_t n, pm_err *err)
{
    bool text;
    pm_code rc = copy_start(p, schema, name, t, &text, err);
    if (rc)
        return rc;
    pm_err ee = {0};
    pm_code erc;
    rc = copy_send(p, t, text, rows, n, &erc, &ee, err);
    /* A value PostgreSQL cannot store (a NUL byte in text) or a row too
     * large for one stream ends the COPY; bisection narrows it down like a
     * refusal from the server. */
    if (!rc)
        rc = copy_finish(p, text, erc ? "pipemend: a row cannot be encoded" : NULL, err);
    else
        copy_finish(p, text, "pipemend: the rows could not be sent", NULL);
    if (!rc && erc) {
        *err = ee;
        snprintf(err->sqlstate, sizeof err->sqlstate, "%s",
                 erc == PM_ERR_LIMIT ? "54000" : "22000");
        rc = erc;
    }
    return rc;
}

static pm_code savepoint(pg *p, const char *verb, int level, pm_err *err)
{
    char sql[64];
    snprintf(sql, sizeof sql, "%s pm_load_%d", verb, level);
    /* taking and releasing go with the next statement (the COPY, the
     * batch's bookkeeping); a rollback to it is sent at once */
    if (strncmp(verb, "ROLLBACK", 8) != 0)
        return pg_defer(p, sql, "cannot manage the load's savepoint", err);
    return pg_exec(p, sql, "cannot manage the load's savepoint", err);
}

/* ---- refused batches: one pass on the server ------------------------------ */

#define STAGE_NAME "pm_stage"
#define REFUSED_NAME "pm_refused"
#define STAGE_ROW "_pipemend_row"

/* Bisection costs about 2k log2(n) COPYs for k refused rows, each with its
 * savepoint round trips: 40,000 rows that all repeat a unique key took
 * 29 s. So a refused batch first goes to a stage (a temporary table with
 * the data table's columns and no constraint, numbered in COPY's order),
 * and one DO block on the server inserts its rows in order, each in its
 * own subtransaction: a row the table refuses (the classes of
 * row_refusal) is written down with the server's SQLSTATE and message and
 * the next row goes on. The round trips are a handful whatever n and k.
 * Rows are inserted in batch order, so of two rows with the same key the
 * first wins, as with bisection. When the stage itself refuses the rows
 * (a data error in a column's type: the stage has the same types), or a
 * column name could end the DO block's quoting, the caller bisects.
 * Returns PM_OK with rows[].refused set, PM_ERR_CONSTRAINT when the caller
 * should bisect, or the error that fails the batch. */
static pm_code load_staged(pg *p, const pm_table *t, pm_load_row *rows, size_t n, pm_arena *a,
                           pm_err *err)
{
    for (size_t i = 0; i < t->ncols; i++)
        if (strchr(t->cols[i].name, '$'))
            return PM_ERR_CONSTRAINT;
    pm_buf b;
    pm_buf_init(&b, 1 << 24);
    pm_buf cols, vals;
    pm_buf_init(&cols, 1 << 22);
    pm_buf_init(&vals, 1 << 22);
    pm_code rc = PM_OK;
    for (size_t i = 0; !rc && i < t->ncols; i++) {
        rc = pm_buf_puts(&cols, i ? ", " : "", err);
        if (!rc)
            rc = pg_quote_ident(&cols, t->cols[i].name, err);
        if (!rc)
            rc = pm_buf_puts(&vals, i ? ", r." : "r.", err);
        if (!rc)
            rc = pg_quote_ident(&vals, t->cols[i].name, err);
    }
    /* the stage: the columns as the table has them (CREATE TABLE AS keeps
     * types and modifiers, not constraints), numbered by a default that
     * COPY evaluates row by row, in order */
    if (!rc)
        rc = pm_buf_printf(&b, err,
                           "DROP TABLE IF EXISTS pg_temp." STAGE_NAME ", pg_temp." REFUSED_NAME
                           "; CREATE TEMP TABLE " STAGE_NAME " ON COMMIT DROP AS SELECT %s FROM ",
                           cols.data);
    if (!rc)
        rc = store_quote_qualified(&b, PG_DATA_SCHEMA, t->name, err);
    if (!rc)
        rc = pm_buf_puts(&b,
                         " WITH NO DATA; ALTER TABLE pg_temp." STAGE_NAME " ADD COLUMN " STAGE_ROW
                         " serial; CREATE TEMP TABLE " REFUSED_NAME " (" STAGE_ROW
                         " integer, state text, message text) ON COMMIT DROP",
                         err);
    bool staged = false;
    if (!rc) {
        rc = pg_exec(p, "SAVEPOINT pm_stage", "cannot stage the refused rows", err);
        staged = !rc;
    }
    if (!rc)
        rc = pg_exec(p, b.data, "cannot stage the refused rows", err);
    pm_err ce;
    if (!rc && copy_rows(p, "pg_temp", STAGE_NAME, t, rows, n, &ce) != PM_OK) {
        if (!row_refusal(ce.sqlstate))
            *err = ce, rc = ce.code;
        else
            rc = PM_ERR_CONSTRAINT; /* the stage refused them too: bisect */
    }
    if (!rc) {
        pm_buf_reset(&b);
        rc =
            pm_buf_puts(&b,
                        "DO $pm$ DECLARE r record; BEGIN FOR r IN SELECT * FROM pg_temp." STAGE_NAME
                        " ORDER BY " STAGE_ROW " LOOP BEGIN INSERT INTO ",
                        err);
        if (!rc)
            rc = store_quote_qualified(&b, PG_DATA_SCHEMA, t->name, err);
        if (!rc)
            rc = pm_buf_printf(&b, err,
                               " (%s) VALUES (%s); EXCEPTION WHEN integrity_constraint_violation "
                               "OR data_exception OR raise_exception OR program_limit_exceeded "
                               "THEN INSERT INTO pg_temp." REFUSED_NAME " VALUES (r." STAGE_ROW
                               ", SQLSTATE, SQLERRM); END; END LOOP; END $pm$",
                               cols.data, vals.data);
        if (!rc)
            rc = pg_exec(p, b.data, "cannot load the rows", err);
    }
    PGresult *res = NULL;
    if (!rc)
        rc = pg_query(
            p, "SELECT " STAGE_ROW ", state, message FROM pg_temp." REFUSED_NAME " ORDER BY 1", 0,
            NULL, &res, "cannot read the refused rows", err);
    for (int i = 0; !rc && i < PQntuples(res); i++) {
        long k = strtol(PQgetvalue(res, i, 0), NULL, 10) - 1;
        if (k < 0 || (size_t)k >= n) {
            rc = pm_err_set(err, PM_ERR_INTERNAL, "the stage numbered a row %ld of %zu", k + 1, n);
            break;
        }
        const char *state = PQgetvalue(res, i, 1);
        rows[k].refused = true;
        rows[k].unique = strcmp(state, "23505") == 0;
        rows[k].why = pm_arena_sprintf(a, "%s (SQLSTATE %s)", PQgetvalue(res, i, 2), state);
    }
    PQclear(res);
    if (staged && rc) {
        /* Nothing of the stage stays, and the caller bisects: the stage
         * is a shortcut, and a role without TEMP or plpgsql, or a type
         * the stage refuses, only loses the shortcut. A lost connection or
         * a deadlock fails the batch (it is written again). */
        pm_err back;
        if (pg_exec(p, "ROLLBACK TO SAVEPOINT pm_stage", "cannot roll back the stage", &back)) {
            *err = back;
            rc = back.code;
        } else if (rc != PM_ERR_IO && rc != PM_ERR_BUSY) {
            rc = PM_ERR_CONSTRAINT;
        }
        for (size_t i = 0; i < n; i++) {
            rows[i].refused = rows[i].unique = false;
            rows[i].why = NULL;
        }
    }
    if (staged && rc != PM_ERR_IO)
        pg_exec(p, "RELEASE SAVEPOINT pm_stage", "cannot release the stage", NULL);
    pm_buf_free(&b);
    pm_buf_free(&cols);
    pm_buf_free(&vals);
    return rc;
}

/* Loads rows[0..n) in a savepoint; when the server refuses them, halves
 * them until the refused rows stand alone (see the top of this file). */
static pm_code load_bisect(pg *p, const char *schema, const char *name, const pm_table *t,
                           pm_load_row *rows, size_t n, pm_arena *a, int level, pm_err *err)
{
    pm_code rc = savepoint(p, "SAVEPOINT", level, err);
    if (rc)
        return rc;
    pm_err ce;
    rc = copy_rows(p, schema, name, t, rows, n, &ce);
    if (!rc)
        return savepoint(p, "RELEASE SAVEPOINT", level, err);
    pm_code back = savepoint(p, "ROLLBACK TO SAVEPOINT", level, err);
    if (back)
        return back;
    savepoint(p, "RELEASE SAVEPOINT", level, NULL);
    if (!row_refusal(ce.sqlstate)) {
        *err = ce;
        return rc;
    }
    if (n > 1 && level == 0 && t == p->load_table) {
        rc = load_staged(p, t, rows, n, a, err);
        if (rc != PM_ERR_CONSTRAINT)
            return rc;
    }
    if (n == 1) {
        rows[0].refused = true;
        rows[0].unique = strcmp(ce.sqlstate, "23505") == 0;
        /* the server's own words, without what pipemend was doing */
        const char *words = strstr(ce.msg, "refused the rows: ");
        words = words ? words + strlen("refused the rows: ") : ce.msg;
        rows[0].why = pm_arena_sprintf(a, "%s (SQLSTATE %s)", words, ce.sqlstate);
        return PM_OK;
    }
    size_t half = n / 2;
    rc = load_bisect(p, schema, name, t, rows, half, a, level + 1, err);
    if (!rc)
        rc = load_bisect(p, schema, name, t, rows + half, n - half, a, level + 1, err);
    return rc;
}

/* ---- a load over several batches ----------------------------------------- */

/* A COPY's first 16 MiB of table pages each take a buffer from
 * PostgreSQL's clock sweep over shared_buffers, writing out another
 * table page first when it is dirty; after that a bulk write reuses its
 * own ring of buffers. A COPY per batch of 5,000 rows (12 MiB of parsed
 * rows, about 1 MiB of table) never reached its ring: the server spent
 * about 2.4 ms more per COPY (measured: 200 COPYs of 5,000 rows cost
 * 0.47 s more server CPU than one COPY of the same 1,000,000 rows, within
 * one transaction or not). So clean batches share one COPY
 * (store_load_stream), up to the run's batch size in rows. */

bool pg_load_streams(pm_store *s)
{
    pg *p = pg_of(s);
    return p->load_table && !p->load_text;
}

pm_code pg_load_stream(pm_store *s, const pm_load_row *rows, size_t n, pm_err *err)
{
    pg *p = pg_of(s);
    pm_code rc = PM_OK;
    if (!p->load_table || p->load_text)
        return pm_err_set(err, PM_ERR_INTERNAL, "no binary load was prepared");
    if (!p->streaming) {
        bool text;
        rc = copy_start(p, PG_DATA_SCHEMA, p->load_table->name, p->load_table, &text, err);
        if (rc)
            return rc;
        p->streaming = true;
    }
    pm_err ee = {0};
    pm_code erc;
    rc = copy_send(p, p->load_table, false, rows, n, &erc, &ee, err);
    if (!rc && !erc)
        return PM_OK;
    /* the stream is over: the caller rolls back and loads these rows the
     * ordinary way, which finds the one that cannot be stored */
    pg_load_stream_abort(p);
    if (!rc)
        *err = ee;
    return rc ? rc : erc;
}

void pg_load_stream_abort(pg *p)
{
    if (!p->streaming)
        return;
    p->streaming = false;
    copy_finish(p, false, "pipemend: the load was abandoned", NULL);
}

pm_code pg_load_stream_end(pm_store *s, pm_err *err)
{
    pg *p = pg_of(s);
    if (!p->streaming)
        return PM_OK;
    p->streaming = false;
    return copy_finish(p, false, NULL, err);
}

pm_code pg_load(pm_store *s, pm_load_row *rows, size_t n, pm_arena *a, pm_err *err)
{
    pg *p = pg_of(s);
    if (!p->load_table)
        return pm_err_set(err, PM_ERR_INTERNAL, "no load was prepared");
    for (size_t i = 0; i < n; i++) {
        rows[i].refused = rows[i].unique = false;
        rows[i].why = NULL;
    }
    if (!n)
        return PM_OK;
    return load_bisect(p, PG_DATA_SCHEMA, p->load_table->name, p->load_table, rows, n, a, 0, err);
}

pm_code pg_insert(pm_store *s, const pm_cell *cells, pm_err *err)
{
    pm_arena *a = pm_arena_new(0);
    pm_load_row row = {.cells = cells};
    pm_code rc = pg_load(s, &row, 1, a, err);
    if (!rc && row.refused) {
        rc = pm_err_set(err, PM_ERR_CONSTRAINT, "%s", row.why);
        if (row.unique)
            pm_err_detail(err, "unique");
    }
    pm_arena_free(a);
    return rc;
}

/* ---- the sandbox ------------------------------------------------------------ */

pm_code pg_sandbox_begin(pm_store *s, const pm_table *from, const pm_op *ops, size_t n,
                         const pm_table *to, int sample, int64_t *copied, pm_err *err)
{
    pg *p = pg_of(s);
    *copied = 0;
    pg_sandbox_end(s);
    pm_code rc = pg_exec(p, "BEGIN", "cannot begin the dry run", err);
    if (rc)
        return rc;
    p->sandbox_open = true;
    pm_buf b;
    pm_buf_init(&b, 1 << 22);
    /* The clone has no views, rules, policies or publications, and is
     * pipemend's own: when the columns the ops change have dependents, the
     * ops are rehearsed on the real table first, carrying them as the
     * apply would, and rolled back. (Only then: a rehearsal of int32 ->
     * int64 rewrites the table, which the clone's sample does not.) */
    for (size_t i = 0; !rc && i < n; i++)
        if (ops[i].kind == OP_MERGE_COLUMN)
            rc = merge_blockers(s, from->name, ops[i].field, err);
    pm_arena *da = pm_arena_new(0);
    pm_dependent *deps;
    size_t ndeps = 0;
    if (!rc)
        rc = pg_dependents(s, from, ops, n, da, &deps, &ndeps, err);
    pm_arena_free(da);
    if (!rc && ndeps) {
        bool any = false;
        rc = render_alter(&b, PG_DATA_SCHEMA, from->name, from, ops, n, true, &any, err);
        if (!rc)
            rc = pg_exec(p, "SAVEPOINT pm_rehearsal", "cannot begin the rehearsal", err);
        if (!rc) {
            /* as the apply: a text column's values made ISO before its
             * retype to date/time (store_retype_prepare) */
            pm_buf real;
            pm_buf_init(&real, 4096);
            rc = store_quote_qualified(&real, PG_DATA_SCHEMA, from->name, err);
            if (!rc)
                rc = store_retype_prepare(s, real.data, from, ops, n, err);
            pm_buf_free(&real);
            if (!rc)
                rc = pg_alter_carrying(s, from, ops, n, any ? b.data : NULL, err);
            pm_err ignore;
            if (pg_exec(p, "ROLLBACK TO SAVEPOINT pm_rehearsal", "cannot end the rehearsal",
                        &ignore) == PM_OK)
                pg_exec(p, "RELEASE SAVEPOINT pm_rehearsal", "cannot end the rehearsal", NULL);
        }
        pm_buf_reset(&b);
    }
    if (!rc)
        rc = pm_buf_puts(&b, "CREATE TEMP TABLE " SANDBOX_NAME " (LIKE ", err);
    if (!rc)
        rc = store_quote_qualified(&b, PG_DATA_SCHEMA, from->name, err);
    if (!rc)
        rc = pm_buf_puts(&b, " INCLUDING ALL) ON COMMIT DROP", err);
    if (!rc)
        rc = pg_exec(p, b.data, "cannot create the sandbox clone", err);
    /* a sample of the rows the table holds now: the ops must carry them */
    pm_buf_reset(&b);
    if (!rc)
        rc = pm_buf_puts(&b, "INSERT INTO pg_temp." SANDBOX_NAME " SELECT * FROM ", err);
    if (!rc)
        rc = store_quote_qualified(&b, PG_DATA_SCHEMA, from->name, err);
    if (!rc)
        rc = pm_buf_printf(&b, err, " LIMIT %d", sample > 0 ? sample : 0);
    PGresult *res = NULL;
    if (!rc)
        rc = pg_query(p, b.data, 0, NULL, &res, "cannot copy sample rows into the sandbox", err);
    if (!rc) {
        *copied = strtoll(PQcmdTuples(res), NULL, 10);
        PQclear(res);
    }
    /* a merge's values move in the clone too, as the apply moves them
     * (a pair PostgreSQL cannot assign fails here, not at approval) */
    for (size_t i = 0; !rc && i < n; i++) {
        if (ops[i].kind != OP_MERGE_COLUMN)
            continue;
        pm_buf_reset(&b);
        rc = render_merge(&b, "pg_temp", SANDBOX_NAME, from, &ops[i], err);
        if (!rc)
            rc = pg_exec(p, b.data, "the merge's values do not move in the clone", err);
    }
    if (!rc)
        rc = store_retype_prepare(s, "pg_temp." SANDBOX_NAME, from, ops, n, err);
    pm_buf_reset(&b);
    bool any = false;
    if (!rc)
        rc = render_alter(&b, "pg_temp", SANDBOX_NAME, from, ops, n, true, &any, err);
    if (!rc && any)
        rc = pg_exec(p, b.data, "the ops do not apply to the clone", err);
    pm_buf_free(&b);
    if (!rc) {
        if (!p->load_arena)
            p->load_arena = pm_arena_new(0);
        p->sandbox_table = table_copy(to, p->load_arena);
        if (!p->copy.max)
            pm_buf_init(&p->copy, (size_t)1 << 31);
    }
    if (rc)
        pg_sandbox_end(s);
    return rc;
}

/* The sample in one COPY, halved around the rows the clone refuses (a
 * COPY and its savepoint per row was 1,000 round trips a dry run). */
pm_code pg_sandbox_load(pm_store *s, pm_load_row *rows, size_t n, pm_arena *a, pm_err *err)
{
    pg *p = pg_of(s);
    if (!p->sandbox_open || !p->sandbox_table)
        return pm_err_set(err, PM_ERR_INTERNAL, "no sandbox is open");
    for (size_t i = 0; i < n; i++) {
        rows[i].refused = rows[i].unique = false;
        rows[i].why = NULL;
    }
    return n ? load_bisect(p, "pg_temp", SANDBOX_NAME, p->sandbox_table, rows, n, a, 0, err)
             : PM_OK;
}

void pg_sandbox_end(pm_store *s)
{
    pg *p = pg_of(s);
    if (!p->sandbox_open)
        return;
    pg_exec(p, "ROLLBACK", "cannot end the dry run", NULL);
    p->sandbox_open = false;
    p->sandbox_table = NULL;
}

void pg_table_close(pg *p)
{
    if (p->load_arena)
        pm_arena_free(p->load_arena);
    p->load_arena = NULL;
    p->load_table = p->sandbox_table = NULL;
    pm_buf_free(&p->copy);
}
