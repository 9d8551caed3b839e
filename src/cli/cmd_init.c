/* cmd_init.c - `pipemend init --print-grants`: the SQL that sets up the
 * PostgreSQL roles a least-privilege deployment runs pipemend under. It
 * prints and connects to nothing: a person reads the SQL and applies it as
 * a superuser (README, "PostgreSQL: roles and least privilege").
 *
 * The SQL follows what the PostgreSQL backend does in the database
 * (src/store/pg.c, pg_table.c): its catalog in the schema `pipemend`
 * (read, insert, update, delete; bigserial ids), data tables in `public`
 * (CREATE TABLE on a first load, ALTER TABLE for a heal, CREATE and DROP
 * UNIQUE INDEX for a contract's key, COPY and count(*)), temporary tables
 * for the dry run, advisory locks (which need no privilege). The two schema
 * names are restated here from pg_int.h, which is the store's own; the
 * PostgreSQL end-to-end test (tests/e2e/test_grants.py) applies this SQL
 * and runs pipemend under it, so a move of either would fail there.
 *
 * Only a table's owner may ALTER it in PostgreSQL, and a table belongs to
 * the role that was current when it was created. So the login pipemend
 * connects as has no privileges of its own (NOINHERIT) and each of its
 * sessions starts as pipemend_migrator (ALTER ROLE ... SET role): what
 * pipemend creates belongs to that group role, not to one login, and any
 * login of the deployment can heal it. pipemend itself never runs SET ROLE. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

#define LOGIN_DEFAULT "pipemend_app"
#define LOGIN_MAX 63 /* PostgreSQL's NAMEDATALEN - 1 */
#define LOGIN_MARK "@LOGIN@"

/* The grants, with LOGIN_MARK where the login's name goes (a plain
 * lowercase identifier, checked by login_ok: it needs no escaping in a
 * string literal, and is double-quoted where it is an identifier so that
 * a keyword such as "user" works too). */
static const char grants_sql[] =
    "-- pipemend: roles and grants for a least-privilege PostgreSQL deployment.\n"
    "-- Printed by `pipemend init --print-grants`; nothing has been run. Read it,\n"
    "-- then apply it as a superuser, connected to the database pipemend loads into:\n"
    "--\n"
    "--   pipemend init --print-grants | psql -v ON_ERROR_STOP=1 -d DBNAME\n"
    "--\n"
    "-- It names no database: what it grants applies to the one it runs in (roles\n"
    "-- are the server's, shared by all its databases). Running it again is\n"
    "-- harmless: for a second database, for another login (--role NAME), or after\n"
    "-- pipemend has created tables.\n"
    "--\n"
    "-- pipemend_loader loads rows and keeps the catalog: SELECT and INSERT on\n"
    "-- pipemend's data tables in schema public (nothing on other tables), read and\n"
    "-- write on its catalog (schema pipemend), temporary tables for the dry runs.\n"
    "-- It cannot change a table's structure.\n"
    "--\n"
    "-- pipemend_migrator owns the catalog and the data tables pipemend creates.\n"
    "-- PostgreSQL has no ALTER privilege: only a table's owner may ALTER it (a\n"
    "-- heal) or index it (a contract's unique key). The migrator may do that to\n"
    "-- these tables and to no other, and create tables in public (a new feed). It\n"
    "-- is a member of pipemend_loader.\n"
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
    "\n"
    "-- 1. The roles. One that exists already with more power than pipemend needs\n"
    "--    is refused rather than stripped of it: it may be someone else's.\n"
    "DO $$\n"
    "DECLARE\n"
    "    r text;\n"
    "BEGIN\n"
    "    FOREACH r IN ARRAY ARRAY['pipemend_loader', 'pipemend_migrator', '" LOGIN_MARK "'] LOOP\n"
    "        IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = r AND (rolsuper\n"
    "                   OR rolcreaterole OR rolcreatedb OR rolreplication OR rolbypassrls)) THEN\n"
    "            RAISE EXCEPTION 'role % exists with more power than pipemend needs (superuser, '\n"
    "                'CREATEROLE, CREATEDB, REPLICATION or BYPASSRLS): take it away, or choose '\n"
    "                'another login with --role NAME', r;\n"
    "        END IF;\n"
    "    END LOOP;\n"
    "    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'pipemend_loader') THEN\n"
    "        CREATE ROLE pipemend_loader NOLOGIN;\n"
    "    END IF;\n"
    "    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'pipemend_migrator') THEN\n"
    "        CREATE ROLE pipemend_migrator NOLOGIN;\n"
    "    END IF;\n"
    "    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = '" LOGIN_MARK "') THEN\n"
    "        CREATE ROLE \"" LOGIN_MARK "\" LOGIN NOINHERIT;\n"
    "    END IF;\n"
    "END\n"
    "$$;\n"
    "ALTER ROLE pipemend_loader NOLOGIN;\n"
    "ALTER ROLE pipemend_migrator NOLOGIN INHERIT;\n"
    "ALTER ROLE \"" LOGIN_MARK "\" LOGIN NOINHERIT;\n"
    "GRANT pipemend_loader TO pipemend_migrator;\n"
    "GRANT pipemend_loader, pipemend_migrator TO \"" LOGIN_MARK "\";\n"
    "\n"
    "-- 2. This database. CONNECT and TEMPORARY (the dry run clones a table into a\n"
    "--    temporary one) are PUBLIC's by default; granted in case they were revoked.\n"
    "--    CREATE on the database: pipemend creates its catalog tables on first use\n"
    "--    with CREATE SCHEMA IF NOT EXISTS pipemend, and PostgreSQL checks that\n"
    "--    against CREATE on the database even though the schema exists (step 3).\n"
    "--    It lets the migrator create schemas (and trusted extensions) in this\n"
    "--    database; not roles, not databases. Once pipemend has run, you may\n"
    "--    revoke it:\n"
    "--      REVOKE CREATE ON DATABASE DBNAME FROM pipemend_migrator;\n"
    "--    a later pipemend that adds a catalog table then needs it for one run.\n"
    "--    Last, the login's sessions here start as pipemend_migrator.\n"
    "DO $$\n"
    "BEGIN\n"
    "    EXECUTE format('GRANT CONNECT, TEMPORARY ON DATABASE %I TO pipemend_loader',\n"
    "                   current_database());\n"
    "    EXECUTE format('GRANT CREATE ON DATABASE %I TO pipemend_migrator', current_database());\n"
    "    EXECUTE format('ALTER ROLE %I IN DATABASE %I SET role = %L', '" LOGIN_MARK "',\n"
    "                   current_database(), 'pipemend_migrator');\n"
    "END\n"
    "$$;\n"
    "\n"
    "-- 3. The catalog (schema pipemend): the migrator owns it and the tables\n"
    "--    pipemend creates in it; the loader reads and writes them and draws ids\n"
    "--    from their sequences.\n"
    "CREATE SCHEMA IF NOT EXISTS pipemend AUTHORIZATION pipemend_migrator;\n"
    "ALTER SCHEMA pipemend OWNER TO pipemend_migrator;\n"
    "GRANT USAGE ON SCHEMA pipemend TO pipemend_loader;\n"
    "ALTER DEFAULT PRIVILEGES FOR ROLE pipemend_migrator IN SCHEMA pipemend\n"
    "    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO pipemend_loader;\n"
    "ALTER DEFAULT PRIVILEGES FOR ROLE pipemend_migrator IN SCHEMA pipemend\n"
    "    GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO pipemend_loader;\n"
    "\n"
    "-- 4. The data (schema public): the migrator creates a new feed's table; the\n"
    "--    loader may load into it (COPY needs INSERT) and read it (status counts\n"
    "--    its rows, the dry run samples them). Tables of other applications in\n"
    "--    public get nothing.\n"
    "GRANT USAGE ON SCHEMA public TO pipemend_loader;\n"
    "GRANT CREATE ON SCHEMA public TO pipemend_migrator;\n"
    "ALTER DEFAULT PRIVILEGES FOR ROLE pipemend_migrator IN SCHEMA public\n"
    "    GRANT SELECT, INSERT ON TABLES TO pipemend_loader;\n"
    "\n"
    "-- 5. What exists already (a warehouse pipemend used before these roles, or a\n"
    "--    table made by hand that pipemend loads): the migrator takes over the\n"
    "--    catalog's tables and the data tables the catalog names, since pipemend\n"
    "--    can heal only what the migrator owns (indexes and id sequences follow\n"
    "--    their table). A previous owner that is not a superuser keeps every\n"
    "--    privilege but ownership. Each change is a NOTICE.\n"
    "DO $$\n"
    "DECLARE\n"
    "    t record;\n"
    "    have_catalog boolean := to_regclass('pipemend._pipemend_schema_versions') IS NOT NULL;\n"
    "BEGIN\n"
    "    FOR t IN SELECT c.oid::regclass AS rel, n.nspname, c.relname, r.rolname, r.rolsuper\n"
    "             FROM pg_catalog.pg_class c\n"
    "             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace\n"
    "             JOIN pg_catalog.pg_roles r ON r.oid = c.relowner\n"
    "             WHERE n.nspname IN ('pipemend', 'public') AND c.relkind IN ('r', 'p')\n"
    "               AND r.rolname <> 'pipemend_migrator'\n"
    "             ORDER BY n.nspname, c.relname\n"
    "    LOOP\n"
    "        -- in public, only the tables pipemend loads (asked only when its\n"
    "        -- catalog exists: PL/pgSQL plans a statement when it first runs it)\n"
    "        IF t.nspname = 'public' THEN\n"
    "            CONTINUE WHEN NOT have_catalog;\n"
    "            CONTINUE WHEN NOT EXISTS (SELECT FROM pipemend._pipemend_schema_versions\n"
    "                                      WHERE table_name = t.relname);\n"
    "        END IF;\n"
    "        EXECUTE format('ALTER TABLE %s OWNER TO pipemend_migrator', t.rel);\n"
    "        IF NOT t.rolsuper THEN\n"
    "            EXECUTE format('GRANT ALL ON TABLE %s TO %I', t.rel, t.rolname);\n"
    "        END IF;\n"
    "        RAISE NOTICE 'pipemend: %.% now belongs to pipemend_migrator (was %)',\n"
    "            t.nspname, t.relname, t.rolname;\n"
    "    END LOOP;\n"
    "    IF have_catalog THEN\n"
    "        FOR t IN SELECT c.oid::regclass AS rel\n"
    "                 FROM pg_catalog.pg_class c\n"
    "                 JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace\n"
    "                 WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')\n"
    "                   AND c.relname IN (SELECT table_name\n"
    "                                     FROM pipemend._pipemend_schema_versions)\n"
    "        LOOP\n"
    "            EXECUTE format('GRANT SELECT, INSERT ON TABLE %s TO pipemend_loader', t.rel);\n"
    "        END LOOP;\n"
    "    END IF;\n"
    "END\n"
    "$$;\n"
    "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA pipemend TO pipemend_loader;\n"
    "GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA pipemend TO pipemend_loader;\n"
    "\n"
    "COMMIT;\n";

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
        strcmp(name, "pipemend_migrator") == 0) {
        pm_err_set(err, PM_ERR_USAGE, "--role cannot be \"%s\"", name);
        pm_err_hint(err, "it names the login pipemend connects as; pg_* roles are PostgreSQL's, "
                         "pipemend_loader and pipemend_migrator are the group roles it joins");
        return false;
    }
    return true;
}

/* grants_sql with every LOGIN_MARK replaced by login, to out. */
static void print_grants(FILE *out, const char *login)
{
    const char *at = grants_sql, *mark;
    while ((mark = strstr(at, LOGIN_MARK)) != NULL) {
        fwrite(at, 1, (size_t)(mark - at), out);
        fputs(login, out);
        at = mark + strlen(LOGIN_MARK);
    }
    fputs(at, out);
}

int cmd_init(cli_ctx *ctx)
{
    pm_err err = {0};
    if (ctx->argc > 0)
        pm_err_set(&err, PM_ERR_USAGE, "init takes no arguments, got \"%s\"", ctx->argv[0]);
    else if (!ctx->print_grants)
        pm_err_set(&err, PM_ERR_USAGE, "init needs --print-grants");
    if (err.code) {
        pm_err_hint(&err, "pipemend init --print-grants [--role NAME] prints the SQL that sets up "
                          "pipemend's PostgreSQL roles and grants, to read and then apply as a "
                          "superuser; init itself changes nothing");
        return cli_fail(&err);
    }
    const char *login = ctx->role ? ctx->role : LOGIN_DEFAULT;
    if (!login_ok(login, &err))
        return cli_fail(&err);
    /* --db and PIPEMEND_DB are not read: the SQL names no database, and is
     * applied in the one it is meant for (it uses current_database()). */
    print_grants(stdout, login);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        pm_err_set(&err, PM_ERR_IO, "cannot write the grants to standard output: %s",
                   strerror(errno));
        return cli_fail(&err);
    }
    return 0;
}
