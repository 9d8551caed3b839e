"""`pipemend init --print-grants`: the SQL of a least-privilege PostgreSQL
deployment, printed (on every backend: it needs no warehouse) and, on the
PostgreSQL backend, applied as the test server's superuser and lived under:
pipemend runs as the login the SQL sets up, creates, heals and indexes its
tables, and that login cannot reach anything else.

The roles pipemend_loader and pipemend_migrator belong to the server, not
to a test's database; each test makes its own login (--role) and drops it
once its database is gone. The group roles stay on the server (the run's
own server is thrown away at the end)."""
import itertools
import json
import os
import re
import shutil
import subprocess
import urllib.parse

import e2e_util
from e2e_util import (REPO, E2E, EXIT_FAILED, EXIT_LOADED, EXIT_QUARANTINED, EXIT_USAGE,
                      LINKS, clean_env, import_psycopg2, pg_only)

LOGINS = itertools.count(1)


def init_usage_from_def():
    """(usage, summary) of init in src/cli/commands.def."""
    with open(os.path.join(REPO, "src", "cli", "commands.def")) as f:
        text = f.read()
    m = re.search(r'^CMD\(init,\s*cmd_init,\s*"((?:[^"\\]|\\.)*)",\s*"((?:[^"\\]|\\.)*)"\)',
                  text, re.M)
    return m.group(1), m.group(2)


class TestInitPrintsGrants(E2E):
    """The command itself: what it prints, its usage errors, its help."""

    def grants(self, *extra, env=None):
        r = self.pm("init", "--print-grants", *extra, env=env)
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(r.stderr, "", r)
        return r.stdout

    def test_prints_the_roles_and_grants(self):
        sql = self.grants()
        statements = [l for l in sql.splitlines() if l and not l.startswith("--")]
        self.assertEqual(statements[0], "BEGIN;")
        self.assertEqual(statements[-1], "COMMIT;")
        for want in ("SET LOCAL search_path = pg_catalog, pg_temp;",
                     "CREATE ROLE pipemend_owner NOLOGIN;",
                     "CREATE ROLE pipemend_loader NOLOGIN;",
                     "CREATE ROLE pipemend_migrator NOLOGIN;",
                     'CREATE ROLE "pipemend_app" LOGIN NOINHERIT;',
                     'GRANT pipemend_loader, pipemend_migrator TO "pipemend_app";',
                     "CREATE SCHEMA IF NOT EXISTS pipemend AUTHORIZATION pipemend_owner;",
                     "GRANT CREATE ON SCHEMA public TO pipemend_migrator;",
                     "GRANT SELECT, INSERT ON TABLES TO pipemend_loader;",
                     "GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE pipemend._pipemend_runs TO "
                     "pipemend_loader;",
                     "GRANT SELECT, INSERT ON TABLE pipemend._pipemend_audit TO pipemend_loader;",
                     "GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA pipemend TO "
                     "pipemend_loader;",
                     "SET role = %L"):
            self.assertIn(want, sql)
        # no power beyond pipemend's needs, to anyone
        for line in sql.splitlines():
            if re.match(r"\s*(CREATE|ALTER) ROLE", line):
                self.assertNotRegex(line, r"(?<!NO)(SUPERUSER|CREATEROLE|CREATEDB|REPLICATION|"
                                          r"BYPASSRLS)", line)
        self.assertNotIn("GRANT ALL ON SCHEMA", sql)
        self.assertNotIn("@LOGIN@", sql)
        self.assertNotIn("@TABLES@", sql)
        # what a superuser runs never reads pipemend's catalog (app-writable
        # data) and hands no table over unless told to (--adopt)
        self.assertNotRegex(sql, r"(FROM|JOIN|IN \(SELECT[^)]*FROM)\s+pipemend\.")
        self.assertNotIn("OWNER TO pipemend_migrator", sql)

    def test_adopt_names_the_tables_to_take_over(self):
        sql = self.grants("--adopt", "orders,hand_made")
        self.assertEqual(sql.count("OWNER TO pipemend_migrator"), 2)
        self.assertIn("c.relname = 'orders'", sql)
        self.assertIn("c.relname = 'hand_made'", sql)
        for bad, msg in (("Orders", 'table name "Orders" is not a plain identifier'),
                         ("a'b", 'table name "a\'b" is not a plain identifier'),
                         ("pipemend_runs", 'table name "pipemend_runs" is reserved'),
                         (",", "--adopt needs table names")):
            r = self.pm("init", "--print-grants", "--adopt", bad)
            self.assertEqual(r.rc, EXIT_USAGE, r)
            self.assertIn(msg, r.stderr)
            self.assertEqual(r.stdout, "")
        r = self.pm("init", "--print-grants", "--adopt", "a", "--adopt", "b")
        self.assertEqual(r.rc, EXIT_USAGE, r)
        self.assertIn("--adopt given twice", r.stderr)

    def test_role_names_the_login(self):
        sql = self.grants("--role", "etl_worker_2")
        self.assertIn('CREATE ROLE "etl_worker_2" LOGIN NOINHERIT;', sql)
        self.assertIn("'etl_worker_2'", sql)
        self.assertNotIn("pipemend_app", sql)

    def test_bad_role_names(self):
        for bad in ("Bad-Name", "1abc", "a b", "x'; DROP TABLE t; --", 'q"q', "", "a" * 64):
            r = self.pm("init", "--print-grants", "--role", bad)
            self.assertEqual(r.rc, EXIT_USAGE, r)
            self.assertTrue(r.stderr.startswith(
                'pipemend: error: --role needs a plain role name, got "%s"\n' % bad), r)
            self.assertEqual(r.stdout, "")
        for taken in ("pg_monitor", "pipemend_loader", "pipemend_migrator", "pipemend_owner"):
            r = self.pm("init", "--print-grants", "--role", taken)
            self.assertEqual(r.rc, EXIT_USAGE, r)
            self.assertTrue(r.stderr.startswith('pipemend: error: --role cannot be "%s"\n' % taken), r)
        self.assertEqual(self.pm("init", "--print-grants", "--role", "a" * 63).rc, 0)

    def test_init_alone_says_what_it_does(self):
        r = self.pm("init")
        self.assertEqual(r.rc, EXIT_USAGE, r)
        self.assertEqual(r.stdout, "")
        self.assertEqual(
            r.stderr,
            "pipemend: error: init needs --print-grants\n"
            "  hint: pipemend init --print-grants [--role NAME] [--adopt TABLE,...] prints the "
            "SQL that sets up "
            "pipemend's PostgreSQL roles and grants, to read and then apply as a superuser; "
            "init itself changes nothing\n")
        r = self.pm("init", "--print-grants", "now")
        self.assertEqual(r.rc, EXIT_USAGE, r)
        self.assertTrue(r.stderr.startswith('pipemend: error: init takes no arguments, got "now"\n'), r)

    def test_needs_no_warehouse_and_reads_no_configuration(self):
        sql = self.grants()
        # a broken pipemend.yaml, a warehouse URL nobody answers at: neither is read
        self.write_config("pipelines: [this is not\n")
        self.assertEqual(self.grants(env={"PIPEMEND_DB": "postgresql://nobody@127.0.0.1:1/x"}), sql)
        # and --db, which init does not take, is refused rather than ignored
        r = self.pm("init", "--print-grants", "--db", "sqlite:" + self.path("never.db"))
        self.assertEqual(r.rc, EXIT_USAGE, r)
        self.assertTrue(r.stderr.startswith("pipemend: error: init takes no option --db\n"), r)
        self.assertFalse(os.path.exists(self.path("never.db")))

    def test_help_comes_from_commands_def(self):
        usage, summary = init_usage_from_def()
        self.assertIn("--print-grants", usage)
        for args in (("help", "init"), ("init", "--help")):
            r = self.pm(*args)
            self.assertEqual(r.rc, 0, r)
            self.assertTrue(r.stdout.startswith("Usage: pipemend %s\n\n%s\n" % (usage, summary)), r)
            self.assertIn("--role NAME", r.stdout)
        r = self.pm("--help")
        self.assertRegex(r.stdout, r"(?m)^  init\s+%s$" % re.escape(summary))
        with open(os.path.join(REPO, "README.md"), encoding="utf-8") as f:
            readme = f.read()
        self.assertTrue("pipemend init --print-grants" in readme,
                        "README.md does not show pipemend init --print-grants")


# ---- on PostgreSQL ----------------------------------------------------------------


def rec(i, **over):
    r = {"id": i, "email": "u%d@example.com" % i, "amount": 10 + i}
    r.update(over)
    return r


@pg_only("roles and grants are PostgreSQL's")
class TestGrantsOnPostgres(E2E):
    """The printed SQL applied by the superuser, then pipemend as the login."""

    def setUp(self):
        self.login = "pm_e2e_app_%d_%d" % (os.getpid(), next(LOGINS))
        self.extra_logins = []
        # registered before the database's own cleanup, so it runs after the
        # database is dropped (a role with privileges in it cannot be dropped)
        self.addCleanup(self.drop_logins)
        super().setUp()
        self.psql = shutil.which("psql")
        if not self.psql:
            self.skipTest("psql is not installed (Debian: postgresql-client)")
        if not self.sql("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")[0][0]:
            self.skipTest("the test server's admin role is not a superuser")
        self.grants_sql = self.pm("init", "--print-grants", "--role", self.login).stdout
        self.apply_grants()
        self.app = self.login_url(self.login)

    # ---- helpers ----------------------------------------------------------------

    def drop_logins(self):
        if os.environ.get("PIPEMEND_E2E_KEEP") or e2e_util.PG is None:
            return
        with e2e_util.PG.admin().cursor() as c:
            for name in [self.login] + self.extra_logins:
                c.execute('DROP ROLE IF EXISTS "%s"' % name)

    def apply_grants(self, sql=None, ok=True):
        """Applies the printed SQL the way the README says (psql as the
        superuser, stopping at the first error); returns psql's stderr."""
        p = subprocess.run([self.psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", self.db],
                           input=(sql or self.grants_sql).encode(), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, env=clean_env(), timeout=120)
        if ok:
            self.assertEqual(p.returncode, 0, "psql failed:\n%s" % p.stderr.decode())
        else:
            self.assertNotEqual(p.returncode, 0, "psql applied it:\n%s" % p.stderr.decode())
        return p.stderr.decode()

    def login_url(self, role):
        """self.db's URL, logging in as role. The run's server trusts 127.0.0.1;
        the password is for a server that does not."""
        self.sql_exec("ALTER ROLE \"%s\" PASSWORD 'e2e-%s'" % (role, role))
        u = urllib.parse.urlsplit(self.db)
        host = u.hostname + (":%d" % u.port if u.port else "")
        return urllib.parse.urlunsplit((u.scheme, "%s:e2e-%s@%s" % (role, role, host), u.path, "", ""))

    def as_role(self, url, stmt):
        """None when stmt succeeds as the role of url, else its SQLSTATE."""
        psycopg2 = import_psycopg2()
        con = psycopg2.connect(url)
        con.autocommit = True
        try:
            with con.cursor() as c:
                c.execute(stmt)
            return None
        except psycopg2.Error as e:
            return e.pgcode
        finally:
            con.close()

    def owner(self, schema, table):
        rows = self.sql("SELECT c.relowner::regrole::text FROM pg_class c JOIN pg_namespace n ON "
                        "n.oid = c.relnamespace WHERE n.nspname = ? AND c.relname = ?",
                        (schema, table))
        return rows[0][0] if rows else None

    def pm_as(self, url, *args, expect=None):
        """pipemend *args, connected to the test's database as url's role."""
        r = self.pm(*args, "--db", url)
        if expect is not None:
            self.assertEqual(r.rc, expect, r)
        return r

    def unique_indexes(self, table):
        """The definitions of pipemend's unique-key indexes on table."""
        return [r[0] for r in self.sql(
            "SELECT pg_get_indexdef(i.oid) FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
            "WHERE x.indrelid = ?::regclass AND i.relname LIKE '\\_pipemend\\_unique\\_%' "
            "ORDER BY 1", ("public.%s" % table,))]

    # ---- the deployment works ----------------------------------------------------------

    def test_pipemend_creates_heals_and_indexes_as_the_login(self):
        self.pm_as(self.app, "status", expect=EXIT_LOADED)  # the SQL made the catalog
        self.assertEqual(self.sql("SELECT nspowner::regrole::text FROM pg_namespace "
                                  "WHERE nspname = 'pipemend'"), [("pipemend_owner",)])
        catalog = self.sql("SELECT c.relname, c.relowner::regrole::text FROM pg_class c JOIN "
                           "pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'pipemend' "
                           "AND c.relkind = 'r'")
        self.assertGreaterEqual(len(catalog), 9, catalog)
        self.assertEqual({o for _, o in catalog}, {"pipemend_owner"}, catalog)

        # first load: CREATE TABLE, and the contract's unique index
        # (a NOT NULL pipemend inferred relaxes by itself; here it waits for
        # a person, whose approval the login then applies)
        self.write_config("tables:\n  orders:\n    contract:\n      unique: [id]\n"
                          "    policy: {overrides: {drop_not_null: review}}\n")
        self.pm_as(self.app, "ingest", "--table", "orders",
                   self.write("d1.ndjson", [rec(1), rec(2)]), expect=EXIT_LOADED)
        self.assertEqual(self.owner("public", "orders"), "pipemend_migrator")
        idx = self.unique_indexes("orders")
        self.assertEqual(len(idx), 1, idx)
        self.assertTrue(idx[0].startswith("CREATE UNIQUE INDEX") and idx[0].endswith("(id)"), idx)
        for priv, want in (("SELECT", True), ("INSERT", True), ("UPDATE", False),
                           ("DELETE", False), ("TRUNCATE", False)):
            self.assertEqual(self.sql("SELECT has_table_privilege('pipemend_loader', "
                                      "'public.orders', ?)", (priv,))[0][0], want, priv)

        # drift: a new field and a wider id heal by themselves (ALTER TABLE);
        # a missing email waits as a proposal; a repeated id breaks the key
        day2 = [rec(3, coupon="X"), rec(3000000000), {"id": 5, "amount": 1}, rec(2)]
        self.pm_as(self.app, "ingest", "--table", "orders", self.write("d2.ndjson", day2),
                   expect=EXIT_QUARANTINED)
        types = self.column_types("orders")
        self.assertEqual(types["id"], "bigint")
        self.assertIn("coupon", types)
        self.assertEqual(self.sql("SELECT count(*) FROM orders WHERE id = 2")[0][0], 1)

        r = self.pm_as(self.app, "proposals", "list", "--json", expect=EXIT_LOADED)
        pending = [p for p in r.json() if p["state"] == "pending"]
        self.assertEqual(len(pending), 1, r.json())
        self.pm_as(self.app, "proposals", "approve", str(pending[0]["id"]), "--actor", "ops",
                   expect=EXIT_LOADED)
        self.assertEqual(self.sql("SELECT count(*) FROM orders WHERE id = 5")[0][0], 1)
        self.assertEqual(self.sql("SELECT is_nullable FROM information_schema.columns WHERE "
                                  "table_name = 'orders' AND column_name = 'email'"), [("YES",)])

        # the contract's key moves: the old index is dropped, a new one made
        self.write_config("tables:\n  orders:\n    contract:\n      unique: [email]\n")
        self.pm_as(self.app, "ingest", "--table", "orders",
                   self.write("d3.ndjson", [rec(6)]), expect=EXIT_LOADED)
        idx = self.unique_indexes("orders")
        self.assertEqual(len(idx), 1, idx)
        self.assertTrue(idx[0].endswith("(email)"), idx)

        r = self.pm_as(self.app, "status", "--json", expect=EXIT_LOADED)
        self.assertIn("orders", json.dumps(r.json()))
        self.pm_as(self.app, "audit", "verify", expect=EXIT_LOADED)
        # every table pipemend made belongs to the migrator, nothing to the login
        self.assertEqual(self.owner("public", "orders"), "pipemend_migrator")
        self.assertEqual(self.sql("SELECT count(*) FROM pg_class WHERE relowner = ?::regrole",
                                  ('"%s"' % self.login,))[0][0], 0)

    def test_a_view_the_login_cannot_drop_fails_the_dry_run_not_the_apply(self):
        # an analyst's view over a column pipemend would widen: the login
        # cannot drop and re-create it, and the dry run (a rehearsal on the
        # real table, rolled back) says so before anyone approves
        self.pm_as(self.app, "ingest", "--table", "orders",
                   self.write("d1.ndjson", [rec(1), rec(2)]), expect=EXIT_LOADED)
        analyst = "pm_e2e_analyst_%d_%d" % (os.getpid(), next(LOGINS))
        self.extra_logins.append(analyst)
        self.sql_script('CREATE ROLE "%s"' % analyst,
                        'GRANT SELECT ON public.orders TO "%s"' % analyst,
                        "CREATE VIEW public.v_amounts AS SELECT id, amount FROM public.orders",
                        'ALTER VIEW public.v_amounts OWNER TO "%s"' % analyst)
        self.pm_as(self.app, "ingest", "--table", "orders", "--policy", "review",
                   self.write("d2.ndjson", [rec(3, amount=3000000000)]), expect=EXIT_QUARANTINED)
        r = self.pm_as(self.app, "proposals", "list", "--json", expect=EXIT_LOADED)
        (p,) = r.json()
        self.assertFalse(p["dry_run"]["ok"], p["dry_run"])
        self.assertIn("must be owner of view v_amounts", p["dry_run"]["error"])
        self.assertEqual([(d["name"], d["action"]) for d in p["dry_run"]["dependents"]],
                         [("view public.v_amounts", "re-created")])
        r = self.pm_as(self.app, "incidents", "list", "--json", expect=EXIT_LOADED)
        self.assertEqual([i["state"] for i in r.json()], ["dry_run_failed"])
        self.assertEqual(self.column_types("orders")["amount"], "integer")
        self.assertEqual(self.owner("public", "v_amounts"), analyst)
        self.pm_as(self.app, "audit", "verify", expect=EXIT_LOADED)

    def test_the_sql_can_be_applied_again(self):
        self.pm_as(self.app, "ingest", "--table", "orders",
                   self.write("d1.ndjson", [rec(1)]), expect=EXIT_LOADED)
        err = self.apply_grants()
        self.assertNotIn("now belongs", err)  # nothing to take over: it was the migrator's
        self.pm_as(self.app, "ingest", "--table", "orders",
                   self.write("d2.ndjson", [rec(2, coupon="Y")]), expect=EXIT_LOADED)
        self.assertIn("coupon", self.column_types("orders"))

    def test_refuses_a_login_with_more_power(self):
        boss = self.login + "_boss"
        self.extra_logins.append(boss)
        self.sql_exec('CREATE ROLE "%s" LOGIN CREATEDB' % boss)
        err = self.apply_grants(self.pm("init", "--print-grants", "--role", boss).stdout, ok=False)
        self.assertIn("role %s exists with more power than pipemend needs" % boss, err)
        self.assertEqual(self.sql("SELECT rolcreatedb, rolinherit FROM pg_roles WHERE rolname = ?",
                                  (boss,)), [(True, True)])
        self.assertEqual(self.sql("SELECT count(*) FROM pg_auth_members WHERE member = ?::regrole",
                                  ('"%s"' % boss,))[0][0], 0)

    def test_takes_over_a_warehouse_loaded_before_the_roles(self):
        # pipemend ran as the superuser before the grants, and a person made a
        # table by hand that pipemend then loaded: the migrator owns neither,
        # so the login could not heal them
        self.sql_exec("CREATE ROLE \"%s_alice\" LOGIN" % self.login)
        self.extra_logins.append(self.login + "_alice")
        self.sql_exec("CREATE TABLE public.hand (id integer NOT NULL, email varchar(32))")
        self.sql_exec("ALTER TABLE public.hand OWNER TO \"%s_alice\"" % self.login)
        self.sql_exec("DROP SCHEMA pipemend CASCADE")  # as before the roles: no catalog yet
        self.ingest("orders", self.write("d1.ndjson", [rec(1)]), expect=EXIT_LOADED)
        self.ingest("hand", self.write("h1.ndjson", [rec(1)]), expect=EXIT_LOADED)
        self.assertNotEqual(self.owner("public", "orders"), "pipemend_migrator")
        self.sql_exec("CREATE TABLE public.other_app (id integer)")
        # the catalog moves to its owner by itself; the data tables only when named
        err = self.apply_grants()
        self.assertIn("NOTICE:  pipemend: pipemend._pipemend_runs now belongs to pipemend_owner",
                      err)
        self.assertNotIn("pipemend_migrator (was", err)
        self.assertNotEqual(self.owner("public", "hand"), "pipemend_migrator")
        r = self.pm_as(self.app, "ingest", "--table", "hand",
                       self.write("h0.ndjson", [{"id": 3, "email": "c@x", "note": "n"}]),
                       expect=EXIT_QUARANTINED)
        self.assertIn("permission denied for table hand", r.stderr)
        err = self.apply_grants(self.pm("init", "--print-grants", "--role", self.login,
                                        "--adopt", "orders,hand").stdout)
        for t in ("public.orders", "public.hand"):
            self.assertIn("NOTICE:  pipemend: %s now belongs to pipemend_migrator" % t, err)
        self.assertNotIn("other_app", err)  # not named: left alone
        err = self.apply_grants(self.pm("init", "--print-grants", "--role", self.login,
                                        "--adopt", "no_such").stdout, ok=False)
        self.assertIn("--adopt no_such: there is no table public.no_such", err)
        self.assertEqual(self.owner("public", "hand"), "pipemend_migrator")
        self.assertEqual(self.owner("public", "other_app"), self.sql("SELECT current_user")[0][0])
        # the previous owner keeps its rows
        self.assertIsNone(self.as_role(self.login_url(self.login + "_alice"),
                                       "SELECT count(*) FROM public.hand"))
        # and the login heals both
        self.pm_as(self.app, "ingest", "--table", "orders",
                   self.write("d2.ndjson", [rec(2, coupon="Z")]), expect=EXIT_LOADED)
        self.assertIn("coupon", self.column_types("orders"))
        self.pm_as(self.app, "ingest", "--table", "hand",
                   self.write("h2.ndjson", [{"id": 2, "email": "b@x", "note": "n"}]),
                   expect=EXIT_LOADED)
        self.assertIn("note", self.column_types("hand"))

    # ---- and reaches nothing else -------------------------------------------------------

    def test_the_login_cannot_reach_beyond_pipemend(self):
        self.sql_script("CREATE TABLE public.other_app (id integer)",
                        "INSERT INTO public.other_app VALUES (1)",
                        "CREATE SCHEMA payroll",
                        "CREATE TABLE payroll.salaries (name text, amount numeric)",
                        "INSERT INTO payroll.salaries VALUES ('a', 1)")
        self.pm_as(self.app, "ingest", "--table", "orders",
                   self.write("d1.ndjson", [rec(1)]), expect=EXIT_LOADED)
        self.assertEqual(self.sql("SELECT rolsuper, rolcreaterole, rolcreatedb, rolinherit "
                                  "FROM pg_roles WHERE rolname = ?", (self.login,)),
                         [(False, False, False, False)])
        for group in ("pipemend_loader", "pipemend_migrator"):
            self.assertEqual(self.sql("SELECT rolsuper, rolcreaterole, rolcreatedb, rolcanlogin, "
                                      "rolbypassrls FROM pg_roles WHERE rolname = ?", (group,)),
                             [(False, False, False, False, False)])
        # who a session of the login is
        psycopg2 = import_psycopg2()
        con = psycopg2.connect(self.app)
        try:
            with con.cursor() as c:
                c.execute("SELECT current_user, session_user")
                self.assertEqual(c.fetchone(), ("pipemend_migrator", self.login))
        finally:
            con.close()
        superuser = self.sql("SELECT current_user")[0][0]
        denied = [
            "DROP TABLE public.other_app",
            "ALTER TABLE public.other_app ADD COLUMN x integer",
            "CREATE INDEX ON public.other_app (id)",
            "SELECT * FROM public.other_app",
            "INSERT INTO public.other_app VALUES (2)",
            "DELETE FROM public.other_app",
            "SELECT * FROM payroll.salaries",
            "CREATE TABLE payroll.more (a integer)",
            "CREATE ROLE pm_e2e_evil",
            "CREATE DATABASE pm_e2e_evil",
            'ALTER ROLE "%s" CREATEROLE' % self.login,
            'GRANT pipemend_loader TO "%s"' % superuser,
            'SET ROLE "%s"' % superuser,
            "COPY public.orders TO '/tmp/pm_e2e_orders.csv'",
            "ALTER SYSTEM SET work_mem = '1GB'",
        ]
        for stmt in denied:
            self.assertEqual(self.as_role(self.app, stmt), "42501",
                             "the login could run: %s" % stmt)
        self.assertEqual(self.sql("SELECT count(*) FROM public.other_app")[0][0], 1)
        # no CREATE on the database any more: the SQL makes the catalog itself
        self.assertEqual(self.as_role(self.app, "CREATE SCHEMA pm_e2e_own"), "42501")
        # the loader, on its own, cannot change pipemend's own tables either
        self.assertEqual(self.as_role(self.app, "SET ROLE pipemend_loader; "
                                      "ALTER TABLE public.orders ADD COLUMN x integer"), "42501")

        # through pipemend: a table it was not given
        r = self.pm_as(self.app, "ingest", "--table", "other_app",
                       self.write("o.ndjson", [{"id": 7}]), expect=EXIT_FAILED)
        self.assertIn("permission denied for table other_app", r.stderr)
        self.assertIn("have a superuser apply `pipemend init --print-grants --adopt TABLE`",
                      r.stderr)
        self.assertEqual(self.sql("SELECT count(*) FROM public.other_app")[0][0], 1)
        # and one it may load but not alter (someone else's, INSERT granted):
        # the new field's heal is refused by the server, the row waits
        self.sql_script("CREATE TABLE public.partner (id integer NOT NULL, email text)",
                        "GRANT SELECT, INSERT ON public.partner TO pipemend_loader")
        r = self.pm_as(self.app, "ingest", "--table", "partner",
                       self.write("p.ndjson", [{"id": 1, "email": "a@x"},
                                               {"id": 2, "email": "b@x", "extra": "e"}]),
                       expect=EXIT_QUARANTINED)
        self.assertIn("must be owner of table partner", r.stderr)
        self.assertEqual(list(self.column_types("partner")), ["id", "email"])
        self.assertEqual(self.sql("SELECT count(*) FROM public.partner")[0][0], 1)
        self.assertEqual(len(self.quarantine("--table", "partner")), 1)

    # ---- the attacks of a compromised app login on the superuser who re-applies the SQL ----

    def attack_setup(self):
        """Another application's table, pipemend's own, and a function of the
        app's that, run by a superuser, makes the app able to run programs on
        the server (pg_execute_server_program) and hands it that table."""
        crm = self.login + "_crm"
        self.extra_logins.append(crm)
        self.sql_script('CREATE ROLE "%s" LOGIN' % crm,
                        "CREATE TABLE public.customers (id integer, card text)",
                        "INSERT INTO public.customers VALUES (1, '4111-1111')",
                        'ALTER TABLE public.customers OWNER TO "%s"' % crm)
        self.pm_as(self.app, "ingest", "--table", "orders",
                   self.write("d1.ndjson", [rec(1), rec(2)]), expect=EXIT_LOADED)
        self.assertIsNone(self.as_role(self.app, """
            CREATE FUNCTION public.pm_evil() RETURNS boolean LANGUAGE plpgsql AS $f$
            BEGIN
                EXECUTE format('GRANT pg_execute_server_program TO %I', session_user);
                EXECUTE 'ALTER TABLE public.customers OWNER TO pipemend_migrator';
                RETURN true;
            END $f$"""))
        return crm

    def assert_no_harm(self, crm):
        for role in (self.login, "pipemend_migrator", "pipemend_loader"):
            self.assertEqual(self.sql("SELECT pg_has_role(?, 'pg_execute_server_program', "
                                      "'MEMBER')", (role,))[0][0], False, role)
        self.assertEqual(self.owner("public", "customers"), crm)
        self.assertEqual(self.as_role(self.app, "SELECT * FROM public.customers"), "42501")
        self.assertEqual(self.as_role(self.app, "COPY (SELECT 1) TO PROGRAM 'true'"), "42501")
        self.assertEqual(self.sql("SELECT card FROM public.customers"), [("4111-1111",)])

    def test_attack_the_app_cannot_replace_the_catalog(self):
        crm = self.attack_setup()
        # the published attack: rename the catalog table, put a view in its
        # place that calls the app's function, name another application's table
        refused = [
            "ALTER TABLE pipemend._pipemend_schema_versions RENAME TO sv_old",
            "DROP TABLE pipemend._pipemend_schema_versions",
            "CREATE VIEW pipemend.sv AS SELECT public.pm_evil()",
            "CREATE TABLE pipemend._pipemend_new (a integer)",
            "CREATE RULE r AS ON INSERT TO pipemend._pipemend_runs DO ALSO SELECT 1",
            "CREATE TRIGGER t BEFORE INSERT ON pipemend._pipemend_audit FOR EACH ROW "
            "EXECUTE FUNCTION public.pm_evil()",
            "ALTER TABLE pipemend._pipemend_audit ENABLE ROW LEVEL SECURITY",
            "ALTER TABLE pipemend._pipemend_audit DISABLE TRIGGER ALL",
            "ALTER SCHEMA pipemend RENAME TO pm_old",
            "GRANT pipemend_owner TO \"%s\"" % self.login,
            "SET ROLE pipemend_owner",
            # the audit log: appended to only
            "UPDATE pipemend._pipemend_audit SET actor = 'human:nobody'",
            "DELETE FROM pipemend._pipemend_audit",
            "TRUNCATE pipemend._pipemend_audit",
        ]
        for stmt in refused:
            self.assertEqual(self.as_role(self.app, stmt), "42501", "the login could run: %s" % stmt)
        # what the app may still do to its catalog (read and write rows) names
        # another application's table, as in the attack
        self.assertIsNone(self.as_role(self.app,
            "INSERT INTO pipemend._pipemend_schema_versions VALUES "
            "('customers', 1, '[]', 'x', '2026-01-01T00:00:00.000Z')"))
        # even the owner of the catalog cannot rewrite history: the trigger
        self.assertEqual(self.as_role(self.db, "SET ROLE pipemend_owner; "
                                      "DELETE FROM pipemend._pipemend_audit"), "42501")
        # the DBA re-applies the SQL, as the README says is safe
        self.apply_grants()
        self.assert_no_harm(crm)
        # and pipemend works on, with its audit chain intact
        self.pm_as(self.app, "ingest", "--table", "orders",
                   self.write("d2.ndjson", [rec(3, coupon="C")]), expect=EXIT_LOADED)
        self.assertIn("coupon", self.column_types("orders"))
        self.pm_as(self.app, "audit", "verify", expect=EXIT_LOADED)

    def test_attack_a_catalog_replaced_before_the_upgrade_stops_the_sql(self):
        # A warehouse set up by the earlier SQL, where the app's role owned the
        # catalog and did replace it: the view calls the app's function. The
        # new SQL must refuse to go on, and never run that function.
        crm = self.attack_setup()
        self.sql_script(
            "ALTER TABLE pipemend._pipemend_schema_versions RENAME TO sv_old",
            "CREATE VIEW pipemend._pipemend_schema_versions AS SELECT * FROM pipemend.sv_old "
            "WHERE public.pm_evil()",
            "ALTER VIEW pipemend._pipemend_schema_versions OWNER TO pipemend_migrator",
            "ALTER TABLE pipemend.sv_old OWNER TO pipemend_migrator")
        err = self.apply_grants(ok=False)
        self.assertIn("pipemend's catalog table pipemend._pipemend_schema_versions is not a "
                      "plain table any more (relkind v", err)
        self.assert_no_harm(crm)
        # a table with a rule is refused the same way
        self.sql_script("DROP VIEW pipemend._pipemend_schema_versions",
                        "ALTER TABLE pipemend.sv_old RENAME TO _pipemend_schema_versions",
                        "CREATE RULE pm_evil_rule AS ON INSERT TO pipemend._pipemend_runs "
                        "DO ALSO SELECT public.pm_evil()")
        err = self.apply_grants(ok=False)
        self.assertIn("pipemend._pipemend_runs is not a plain table any more (relkind r, with "
                      "rules, row security or triggers: t)", err)
        self.assert_no_harm(crm)
        self.sql_exec("DROP RULE pm_evil_rule ON pipemend._pipemend_runs")
        err = self.apply_grants()
        self.assertIn("pipemend._pipemend_schema_versions now belongs to pipemend_owner", err)
        self.assert_no_harm(crm)
        self.pm_as(self.app, "audit", "verify", expect=EXIT_LOADED)

    def test_incident_links_of_an_earlier_pipemend_become_ranges_as_the_login(self):
        # an earlier pipemend kept a link per row, in a table the owner owns:
        # the login moves them into ranges and, not owning it, empties it
        self.pm_as(self.app, "ingest", "--table", "orders", self.write("d1.ndjson", [rec(1)]),
                   expect=EXIT_LOADED)
        self.pm_as(self.app, "ingest", "--table", "orders", "--policy", "review",
                   self.write("d2.ndjson", [rec(i, coupon="C") for i in range(2, 42)]),
                   expect=EXIT_QUARANTINED)
        self.sql_script(
            "SET ROLE pipemend_owner",
            "CREATE TABLE pipemend._pipemend_incident_rows (incident bigint NOT NULL, qrow bigint "
            "NOT NULL, PRIMARY KEY (incident, qrow))",
            "INSERT INTO pipemend._pipemend_incident_rows SELECT incident, qrow FROM " + LINKS +
            " r",
            "GRANT SELECT, INSERT, UPDATE, DELETE ON pipemend._pipemend_incident_rows TO "
            "pipemend_loader",
            "DELETE FROM pipemend._pipemend_incident_ranges",
            "RESET ROLE")
        self.assertEqual(self.sql("SELECT count(*) FROM _pipemend_incident_rows"), [(40,)])
        r = self.pm_as(self.app, "incidents", "list", "--json", expect=EXIT_LOADED)
        self.assertEqual([i["rows"] for i in r.json()], [40])
        self.assertEqual(self.sql("SELECT count(*), CAST(sum(nrows) AS bigint) FROM "
                                  "_pipemend_incident_ranges"),
                         [(1, 40)])
        self.assertEqual(self.sql("SELECT count(*) FROM _pipemend_incident_rows"), [(0,)])
        self.assertEqual(self.owner("pipemend", "_pipemend_incident_rows"), "pipemend_owner")
        # the printed SQL applies again over it, and the rows replay
        self.apply_grants()
        pid = [p["id"] for p in self.pm_as(self.app, "proposals", "list", "--json").json()
               if p["state"] == "pending"][0]
        self.pm_as(self.app, "proposals", "approve", str(pid), "--actor", "ops",
                   expect=EXIT_LOADED)
        self.assertEqual(self.count("orders"), 41)
        self.assertEqual(self.sql("SELECT count(*) FROM _pipemend_incident_ranges"), [(0,)])

    def test_a_loader_only_login_loads_and_the_migrator_heals(self):
        # the stricter split: workers log in as members of pipemend_loader
        # alone (they cannot change a table), a person approves as the login
        worker = self.login + "_worker"
        self.extra_logins.append(worker)
        self.sql_script('CREATE ROLE "%s" LOGIN' % worker,
                        'GRANT pipemend_loader TO "%s"' % worker)
        w = self.login_url(worker)
        self.pm_as(self.app, "ingest", "--table", "orders",
                   self.write("d1.ndjson", [rec(1), rec(2)]), expect=EXIT_LOADED)
        self.pm_as(w, "ingest", "--table", "orders", self.write("d2.ndjson", [rec(3)]),
                   expect=EXIT_LOADED)
        self.pm_as(w, "ingest", "--table", "orders", "--policy", "review",
                       self.write("d3.ndjson", [rec(4, coupon="C")]), expect=EXIT_QUARANTINED)
        r = self.pm_as(w, "proposals", "list", "--json", expect=EXIT_LOADED)
        pending = [p for p in r.json() if p["state"] == "pending"]
        self.assertEqual(len(pending), 1, r.json())
        pid = str(pending[0]["id"])
        r = self.pm_as(w, "proposals", "approve", pid, "--actor", "ops", expect=EXIT_FAILED)
        self.assertIn("must be owner of table orders", r.stderr)
        self.assertNotIn("coupon", self.column_types("orders"))
        self.pm_as(self.app, "proposals", "approve", pid, "--actor", "ops", expect=EXIT_LOADED)
        self.assertIn("coupon", self.column_types("orders"))
        self.assertEqual(self.count("orders"), 4)
        # a new feed needs the migrator too
        r = self.pm_as(w, "ingest", "--table", "fresh", self.write("f.ndjson", [rec(1)]),
                       expect=EXIT_FAILED)
        self.assertIn("permission denied for schema public", r.stderr)
        self.pm_as(w, "status", expect=EXIT_LOADED)
        self.pm_as(w, "audit", "verify", expect=EXIT_LOADED)
