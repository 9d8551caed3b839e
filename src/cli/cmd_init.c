/* cmd_init.c - `pipemend init --print-grants`: the SQL that sets up the
 * PostgreSQL roles a least-privilege deployment runs pipemend under. It
 * prints and connects to nothing: a person reads the SQL and applies it as
 * a superuser (README, "PostgreSQL: roles and least privilege").
 *
 * Three roles, and the login:
 *   - pipemend_owner owns the schema `pipemend`, pipemend's catalog in it and
 *     the audit log's append-only trigger. Nobody logs in as it or is a
 *     member of it: the roles pipemend runs as read and write the catalog
 *     but cannot replace, alter or drop any of it, nor create objects beside
 *     it, nor change or remove an audit event;
 *   - pipemend_migrator owns the data tables pipemend creates in `public`
 *     (only a table's owner may ALTER or index it: a heal, a contract's key);
 *   - pipemend_loader reads and writes the catalog (the audit log: read and
 *     append only) and loads into the data tables;
 *   - the login has no privileges of its own (NOINHERIT), and each of its
 *     sessions starts as pipemend_migrator (ALTER ROLE ... SET role), so what
 *     pipemend creates belongs to that group role, not to one login.
 *
 * The superuser who applies this must never be led to run code or touch
 * tables chosen by those roles (an attack that did both, through a view
 * the app role put in place of a catalog table, is replayed by the
 * test_attack_* tests of tests/e2e/test_grants.py). So the SQL runs with search_path pg_catalog,
 * reads only pg_catalog, checks each catalog object's kind, refuses one with rules, and changes the
 * owner only of pipemend's known catalog tables and of the data tables the operator names (--adopt)
 * -- never of tables named by data the app can write. The catalog's statements come from the store
 * (store_pg_catalog_object), so what this creates is what pipemend uses. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/arena.h"

#define LOGIN_DEFAULT "pipemend_app"
#define LOGIN_MAX 63 /* PostgreSQL's NAMEDATALEN - 1 */
#define LOGIN_MARK "@LOGIN@"
#define ADOPT_MAX 256 /* tables one --adopt may name */
#define CAT STORE_PG_CATALOG_SCHEMA

/* The grants, with LOGIN_MARK where the login's name goes (a plain
 * lowercase identifier, checked by login_ok: it needs no escaping in a
 * string literal, and is double-quoted where it is an identifier so that
 * a keyword such as "user" works too). The catalog's objects and the
 * adopted tables are printed between grants_head and grants_tail. */
static const char grants_head[] =
    "-- pipemend: roles and grants for a least-privilege PostgreSQL deployment.\n"
    "-- Printed by `pipemend init --print-grants`; nothing has been run. Read it,\n"
    "-- then apply it as a superuser, connected to the database pipemend loads into:\n"
    "--\n"
    "--   pipemend init --print-grants | psql -v ON_ERROR_STOP=1 -d DBNAME\n"
    "--\n"
    "-- It names no database: what it grants applies to the one it runs in (roles\n"
    "-- are the server's, shared by all its databases). Apply it again after an\n"
    "-- upgrade of pipemend (it creates pipemend's catalog), for a second database,\n"
    "-- or for another login (--role NAME). It reads nothing the roles below can\n"
    "-- write, and takes over only the tables you name with --adopt.\n"
    "--\n"
    "-- pipemend_owner owns pipemend's catalog (schema " CAT "). No one logs in\n"
    "-- as it or is a member of it: pipemend reads and writes the catalog, but\n"
    "-- cannot replace or alter it, and may only append to its audit log.\n"
    "--\n"
    "-- pipemend_loader loads rows and keeps the catalog: SELECT and INSERT on\n"
    "-- pipemend's data tables in schema public (nothing on other tables), read and\n"
    "-- write on the catalog (read and append on the audit log), temporary tables\n"
    "-- for the dry runs. It cannot change a table's structure.\n"
    "--\n"
    "-- pipemend_migrator owns the data tables pipemend creates. PostgreSQL has no\n"
    "-- ALTER privilege: only a table's owner may ALTER it (a heal) or index it (a\n"
    "-- contract's unique key). The migrator may do that to these tables and to no\n"
    "-- other, and create tables in public (a new feed). It is a member of\n"
    "-- pipemend_loader.\n"
    "--\n"
    "-- " LOGIN_MARK " is the login pipemend connects as. It has no privileges of its\n"
    "-- own (NOINHERIT): each session it opens in this database starts as\n"
    "-- pipemend_migrator (SET role, step 2), so whatever pipemend creates belongs\n"
    "-- to the migrator, whichever login created it, and every login of the\n"
    "-- deployment can heal it. pipemend itself never runs SET ROLE.\n"
    "--\n"
    "-- No role here is a superuser, or may create roles or databases, or bypass\n"
    "-- row-level security. The login gets no password here: set one\n"
    "-- (psql: \\password " LOGIN_MARK ") or use your server's other authentication.\n"
    "\n"
    "BEGIN;\n"
    "-- Names resolve in pg_catalog only: nothing below can reach a function or\n"
    "-- an operator that a role of pipemend's made.\n"
    "SET LOCAL search_path = pg_catalog, pg_temp;\n"
    "\n"
    "-- 1. The roles. One that exists already with more power than pipemend needs\n"
    "--    is refused rather than stripped of it: it may be someone else's.\n"
    "DO $$\n"
    "DECLARE\n"
    "    r text;\n"
    "BEGIN\n"
    "    FOREACH r IN ARRAY ARRAY['pipemend_owner', 'pipemend_loader', 'pipemend_migrator',\n"
    "                             '" LOGIN_MARK "'] LOOP\n"
    "        IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = r AND (rolsuper\n"
    "                   OR rolcreaterole OR rolcreatedb OR rolreplication OR rolbypassrls)) THEN\n"
    "            RAISE EXCEPTION 'role % exists with more power than pipemend needs (superuser, '\n"
    "                'CREATEROLE, CREATEDB, REPLICATION or BYPASSRLS): take it away, or choose '\n"
    "                'another login with --role NAME', r;\n"
    "        END IF;\n"
    "    END LOOP;\n"
    "    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'pipemend_owner') THEN\n"
    "        CREATE ROLE pipemend_owner NOLOGIN;\n"
    "    END IF;\n"
    "    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'pipemend_loader') THEN\n"
    "        CREATE ROLE pipemend_loader NOLOGIN;\n"
    "    END IF;\n"
    "    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'pipemend_migrator') THEN\n"
    "        CREATE ROLE pipemend_migrator NOLOGIN;\n"
    "    END IF;\n"
    "    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = '" LOGIN_MARK "') THEN\n"
    "        CREATE ROLE \"" LOGIN_MARK "\" LOGIN NOINHERIT;\n"
    "    END IF;\n"
    "    -- no one is a member of the owner: whoever could become it could\n"
    "    -- rewrite the catalog and the audit log\n"
    "    FOR r IN SELECT m.member::regrole::text FROM pg_catalog.pg_auth_members m\n"
    "             WHERE m.roleid = 'pipemend_owner'::regrole LOOP\n"
    "        EXECUTE format('REVOKE pipemend_owner FROM %s', r);\n"
    "        RAISE NOTICE 'pipemend: % is no longer a member of pipemend_owner', r;\n"
    "    END LOOP;\n"
    "END\n"
    "$$;\n"
    "ALTER ROLE pipemend_owner NOLOGIN;\n"
    "ALTER ROLE pipemend_loader NOLOGIN;\n"
    "ALTER ROLE pipemend_migrator NOLOGIN INHERIT;\n"
    "ALTER ROLE \"" LOGIN_MARK "\" LOGIN NOINHERIT;\n"
    "GRANT pipemend_loader TO pipemend_migrator;\n"
    "GRANT pipemend_loader, pipemend_migrator TO \"" LOGIN_MARK "\";\n"
    "\n"
    "-- 2. This database. CONNECT and TEMPORARY (the dry run clones a table into a\n"
    "--    temporary one) are PUBLIC's by default; granted in case they were revoked.\n"
    "--    CREATE on the database is taken back from the migrator (earlier versions\n"
    "--    of this SQL granted it). Last, the login's sessions here start as\n"
    "--    pipemend_migrator.\n"
    "DO $$\n"
    "BEGIN\n"
    "    EXECUTE format('GRANT CONNECT, TEMPORARY ON DATABASE %I TO pipemend_loader',\n"
    "                   current_database());\n"
    "    EXECUTE format('REVOKE CREATE ON DATABASE %I FROM pipemend_migrator', "
    "current_database());\n"
    "    EXECUTE format('ALTER ROLE %I IN DATABASE %I SET role = %L', '" LOGIN_MARK "',\n"
    "                   current_database(), 'pipemend_migrator');\n"
    "END\n"
    "$$;\n"
    "\n"
    "-- 3. The catalog (schema " CAT "): pipemend_owner owns the schema and what is\n"
    "--    in it; no one else may create objects there. A catalog object that is\n"
    "--    not of its kind (a view where a table belongs), or a table with rules,\n"
    "--    stops this SQL: someone replaced it, and it is for a person to look.\n"
    "--    A catalog table that belonged to another role (pipemend ran before\n"
    "--    these roles, or under earlier versions of this SQL) moves to the owner\n"
    "--    (a NOTICE each). Other objects in the schema are listed, never touched.\n"
    "CREATE SCHEMA IF NOT EXISTS " CAT " AUTHORIZATION pipemend_owner;\n"
    "ALTER SCHEMA " CAT " OWNER TO pipemend_owner;\n"
    "REVOKE ALL ON SCHEMA " CAT " FROM PUBLIC, pipemend_loader, pipemend_migrator,\n"
    "    \"" LOGIN_MARK "\";\n"
    "GRANT USAGE ON SCHEMA " CAT " TO pipemend_loader;\n"
    "DO $$\n"
    "DECLARE\n"
    "    o record;\n"
    "    tables text[] := ARRAY[@TABLES@];\n"
    "    indexes text[] := ARRAY[@INDEXES@];\n"
    "BEGIN\n"
    "    FOR o IN SELECT c.oid::regclass AS rel, c.relname, c.relkind,\n"
    "                    c.relowner::regrole AS owner,\n"
    "                    c.relrowsecurity\n"
    "                    OR EXISTS (SELECT FROM pg_catalog.pg_rewrite w WHERE w.ev_class = c.oid)\n"
    "                    OR EXISTS (\n"
    "                        SELECT FROM pg_catalog.pg_trigger g WHERE g.tgrelid = c.oid\n"
    "                        AND NOT g.tgisinternal AND g.tgname NOT IN\n"
    "                        ('_pipemend_audit_append_only', '_pipemend_audit_no_truncate'))\n"
    "                    AS extras\n"
    "             FROM pg_catalog.pg_class c\n"
    "             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace\n"
    "             WHERE n.nspname = '" CAT "' AND c.relkind NOT IN ('S', 't')\n"
    "             ORDER BY c.relname\n"
    "    LOOP\n"
    "        IF o.relname = ANY (tables) THEN\n"
    "            IF o.relkind <> 'r' OR o.extras THEN\n"
    "                RAISE EXCEPTION 'pipemend''s catalog table % is not a plain table any more '\n"
    "                    '(relkind %, with rules, row security or triggers: %): someone '\n"
    "                    'replaced or changed it; look at it, and drop it or put the table '\n"
    "                    'back before applying this again', o.rel, o.relkind, o.extras;\n"
    "            END IF;\n"
    "            IF o.owner <> 'pipemend_owner'::regrole THEN\n"
    "                EXECUTE format('ALTER TABLE %s OWNER TO pipemend_owner', o.rel);\n"
    "                RAISE NOTICE 'pipemend: % now belongs to pipemend_owner (was %)', o.rel,\n"
    "                    o.owner;\n"
    "            END IF;\n"
    "        ELSIF o.relname = ANY (indexes) THEN\n"
    "            IF o.relkind <> 'i' THEN\n"
    "                RAISE EXCEPTION 'pipemend''s catalog index % is not an index (relkind %)',\n"
    "                    o.rel, o.relkind;\n"
    "            END IF;\n"
    "        ELSIF o.relkind <> 'i' THEN -- an index follows its table\n"
    "            RAISE NOTICE 'pipemend: % (relkind %, owner %) is not pipemend''s; left alone',\n"
    "                o.rel, o.relkind, o.owner;\n"
    "        END IF;\n"
    "    END LOOP;\n"
    "END\n"
    "$$;\n"
    "SET LOCAL ROLE pipemend_owner;\n";

/* After the catalog's CREATE statements, still as pipemend_owner. */
static const char grants_audit[] =
    "-- The audit log is append-only for everyone but its owner: privileges\n"
    "-- give the loader SELECT and INSERT only, and this trigger refuses an\n"
    "-- UPDATE, DELETE or TRUNCATE by anyone who got more.\n"
    "CREATE OR REPLACE FUNCTION " CAT "._pipemend_audit_append_only() RETURNS trigger\n"
    "    LANGUAGE plpgsql SET search_path = pg_catalog AS $$\n"
    "BEGIN\n"
    "    RAISE EXCEPTION 'pipemend''s audit log is append-only: % refused', TG_OP\n"
    "        USING ERRCODE = 'insufficient_privilege';\n"
    "END\n"
    "$$;\n"
    "DROP TRIGGER IF EXISTS _pipemend_audit_append_only ON " CAT "._pipemend_audit;\n"
    "CREATE TRIGGER _pipemend_audit_append_only BEFORE UPDATE OR DELETE ON " CAT
    "._pipemend_audit\n"
    "    FOR EACH ROW EXECUTE FUNCTION " CAT "._pipemend_audit_append_only();\n"
    "DROP TRIGGER IF EXISTS _pipemend_audit_no_truncate ON " CAT "._pipemend_audit;\n"
    "CREATE TRIGGER _pipemend_audit_no_truncate BEFORE TRUNCATE ON " CAT "._pipemend_audit\n"
    "    FOR EACH STATEMENT EXECUTE FUNCTION " CAT "._pipemend_audit_append_only();\n"
    "REVOKE ALL ON FUNCTION " CAT "._pipemend_audit_append_only() FROM PUBLIC;\n"
    "RESET ROLE;\n"
    "\n";

/* The data tables, then the adopted ones. */
static const char grants_data[] =
    "-- 4. The data (schema public): the migrator creates a new feed's table; the\n"
    "--    loader may load into it (COPY needs INSERT) and read it (status counts\n"
    "--    its rows, the dry run samples them). Tables of other applications in\n"
    "--    public get nothing; the migrator's tables get SELECT and INSERT again.\n"
    "GRANT USAGE ON SCHEMA public TO pipemend_loader;\n"
    "GRANT CREATE ON SCHEMA public TO pipemend_migrator;\n"
    "ALTER DEFAULT PRIVILEGES FOR ROLE pipemend_migrator IN SCHEMA public\n"
    "    GRANT SELECT, INSERT ON TABLES TO pipemend_loader;\n"
    "DO $$\n"
    "DECLARE\n"
    "    t record;\n"
    "BEGIN\n"
    "    FOR t IN SELECT c.oid::regclass AS rel FROM pg_catalog.pg_class c\n"
    "             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace\n"
    "             WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')\n"
    "               AND c.relowner = 'pipemend_migrator'::regrole\n"
    "    LOOP\n"
    "        EXECUTE format('GRANT SELECT, INSERT ON TABLE %s TO pipemend_loader', t.rel);\n"
    "    END LOOP;\n"
    "END\n"
    "$$;\n"
    "\n";

/* A login name pipemend can print without quoting trouble: lowercase ASCII
 * letters, digits and _, not starting with a digit, at most LOGIN_MAX
 * bytes; not pg_* (PostgreSQL reserves those) nor one of the group roles. */
static bool login_ok(const char *name, pm_err *err)
{
    size_t n = strlen(name);
    bool ok = n > 0 && n <= LOGIN_MAX && !(name[0] >= '0' && name[0] <= '9');
    for (size_t i = 0; ok && i < n; i++)
        ok = (name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9') ||
             name[i] == '_';
    if (!ok) {
        pm_err_set(err, PM_ERR_USAGE, "--role needs a plain role name, got \"%s\"", name);
        pm_err_hint(err,
                    "lowercase letters, digits and _, at most %d of them, not starting with a "
                    "digit (default " LOGIN_DEFAULT ")",
                    LOGIN_MAX);
        return false;
    }
    if (strncmp(name, "pg_", 3) == 0 || strcmp(name, "pipemend_loader") == 0 ||
        strcmp(name, "pipemend_migrator") == 0 || strcmp(name, "pipemend_owner") == 0) {
        pm_err_set(err, PM_ERR_USAGE, "--role cannot be \"%s\"", name);
        pm_err_hint(err, "it names the login pipemend connects as; pg_* roles are PostgreSQL's, "
                         "pipemend_loader and pipemend_migrator are the group roles it joins, "
                         "pipemend_owner owns the catalog");
        return false;
    }
    return true;
}

/* s with every LOGIN_MARK replaced by login, to out. */
static void put_with_login(FILE *out, const char *s, const char *login)
{
    const char *mark;
    while ((mark = strstr(s, LOGIN_MARK)) != NULL) {
        fwrite(s, 1, (size_t)(mark - s), out);
        fputs(login, out);
        s = mark + strlen(LOGIN_MARK);
    }
    fputs(s, out);
}

/* The catalog's table (tables true) or index names as SQL string literals,
 * comma-separated (they are pipemend's own: plain identifiers). */
static void put_catalog_names(FILE *out, bool tables)
{
    const char *name, *sql;
    bool table;
    int n = 0;
    for (size_t i = 0; store_pg_catalog_object(i, &name, &table, &sql); i++)
        if (table == tables)
            fprintf(out, "%s'%s'", n++ ? ", " : "", name);
}

/* grants_head with its name lists filled in. */
static void put_head(FILE *out, const char *login)
{
    static const char *const marks[] = {"@TABLES@", "@INDEXES@"};
    const char *at = grants_head;
    for (int m = 0; m < 2; m++) {
        const char *mark = strstr(at, marks[m]);
        size_t n = (size_t)(mark - at);
        char *part = pm_xmalloc(n + 1);
        memcpy(part, at, n);
        part[n] = '\0';
        put_with_login(out, part, login);
        free(part);
        put_catalog_names(out, m == 0);
        at = mark + strlen(marks[m]);
    }
    put_with_login(out, at, login);
}

/* The SQL that hands table (a plain identifier, store_table_name_ok) to
 * the migrator: named by the operator, so a superuser may act on it. */
static void put_adopt(FILE *out, const char *table)
{
    fprintf(
        out,
        "DO $$\n"
        "DECLARE\n"
        "    t record;\n"
        "BEGIN\n"
        "    SELECT c.oid::regclass AS rel, c.relkind, r.rolname, r.rolsuper INTO t\n"
        "    FROM pg_catalog.pg_class c\n"
        "    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace\n"
        "    JOIN pg_catalog.pg_roles r ON r.oid = c.relowner\n"
        "    WHERE n.nspname = 'public' AND c.relname = '%s';\n"
        "    IF NOT FOUND THEN\n"
        "        RAISE EXCEPTION '--adopt %s: there is no table public.%s';\n"
        "    ELSIF t.relkind NOT IN ('r', 'p') THEN\n"
        "        RAISE EXCEPTION '--adopt %s: public.%s is not a table (relkind %%)', "
        "t.relkind;\n"
        "    ELSIF t.rolname <> 'pipemend_migrator' THEN\n"
        "        EXECUTE format('ALTER TABLE %%s OWNER TO pipemend_migrator', t.rel);\n"
        "        IF NOT t.rolsuper THEN\n"
        "            EXECUTE format('GRANT ALL ON TABLE %%s TO %%I', t.rel, t.rolname);\n"
        "        END IF;\n"
        "        RAISE NOTICE 'pipemend: %% now belongs to pipemend_migrator (was %%)', t.rel,\n"
        "            t.rolname;\n"
        "    END IF;\n"
        "    EXECUTE format('GRANT SELECT, INSERT ON TABLE %%s TO pipemend_loader', t.rel);\n"
        "END\n"
        "$$;\n",
        table, table, table, table, table);
}

/* The whole SQL, to out. */
static void print_grants(FILE *out, const char *login, char **adopt, size_t nadopt)
{
    put_head(out, login);
    const char *name, *sql;
    bool table;
    for (size_t i = 0; store_pg_catalog_object(i, &name, &table, &sql); i++)
        fprintf(out, "%s;\n", sql);
    for (size_t i = 0; (sql = store_pg_catalog_upgrade(i)) != NULL; i++)
        fprintf(out, "%s;\n", sql);
    fputs(grants_audit, out);
    fputs("-- The loader reads and writes the catalog, and only reads and appends to\n"
          "-- the audit log.\n",
          out);
    for (size_t i = 0; store_pg_catalog_object(i, &name, &table, &sql); i++) {
        if (!table)
            continue;
        fprintf(out,
                "REVOKE ALL ON TABLE " CAT ".%s FROM PUBLIC, pipemend_loader, "
                "pipemend_migrator, \"%s\";\n",
                name, login);
        fprintf(out, "GRANT SELECT, INSERT%s ON TABLE " CAT ".%s TO pipemend_loader;\n",
                strcmp(name, "_pipemend_audit") == 0 ? "" : ", UPDATE, DELETE", name);
    }
    fputs("GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA " CAT " TO pipemend_loader;\n"
          "\n",
          out);
    fputs(grants_data, out);
    if (nadopt > 0)
        fputs("-- 5. The tables you named (--adopt): the migrator takes them over, so that\n"
              "--    pipemend can heal them (indexes and id sequences follow their table). A\n"
              "--    previous owner that is not a superuser keeps every privilege but\n"
              "--    ownership. Each change is a NOTICE.\n",
              out);
    for (size_t i = 0; i < nadopt; i++)
        put_adopt(out, adopt[i]);
    fputs(nadopt > 0 ? "\nCOMMIT;\n" : "COMMIT;\n", out);
}

/* Splits --adopt's comma-separated table names into names (in place in
 * list); each must be a name pipemend may load. */
static bool adopt_parse(char *list, char **names, size_t *n, pm_err *err)
{
    *n = 0;
    for (char *save = NULL, *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (!store_table_name_ok(t, err)) {
            pm_err_hint(err, "--adopt names tables in schema public by their plain names, "
                             "separated by commas");
            return false;
        }
        if (*n == ADOPT_MAX) {
            pm_err_set(err, PM_ERR_USAGE, "--adopt names more than %d tables", ADOPT_MAX);
            return false;
        }
        names[(*n)++] = t;
    }
    if (*n == 0) {
        pm_err_set(err, PM_ERR_USAGE, "--adopt needs table names, separated by commas");
        return false;
    }
    return true;
}

int cmd_init(cli_ctx *ctx)
{
    pm_err err = {0};
    if (ctx->argc > 0)
        pm_err_set(&err, PM_ERR_USAGE, "init takes no arguments, got \"%s\"", ctx->argv[0]);
    else if (!ctx->print_grants)
        pm_err_set(&err, PM_ERR_USAGE, "init needs --print-grants");
    if (err.code) {
        pm_err_hint(&err, "pipemend init --print-grants [--role NAME] [--adopt TABLE,...] prints "
                          "the SQL that sets up pipemend's PostgreSQL roles and grants, to read "
                          "and then apply as a superuser; init itself changes nothing");
        return cli_fail(&err);
    }
    const char *login = ctx->role ? ctx->role : LOGIN_DEFAULT;
    if (!login_ok(login, &err))
        return cli_fail(&err);
    char *adopt[ADOPT_MAX], *list = NULL;
    size_t nadopt = 0;
    if (ctx->adopt) {
        list = pm_xstrdup(ctx->adopt);
        if (!adopt_parse(list, adopt, &nadopt, &err)) {
            free(list);
            return cli_fail(&err);
        }
    }
    /* --db and PIPEMEND_DB are not read: the SQL names no database, and is
     * applied in the one it is meant for (it uses current_database()). */
    print_grants(stdout, login, adopt, nadopt);
    free(list);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        pm_err_set(&err, PM_ERR_IO, "cannot write the grants to standard output: %s",
                   strerror(errno));
        return cli_fail(&err);
    }
    return 0;
}
