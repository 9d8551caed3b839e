"""Objects that depend on a column pipemend changes (the blast radius of a
repair): views, views on views, materialized views with their indexes,
grants, comments, rules, policies. On PostgreSQL a change of type cannot
pass a view, so pipemend carries views through it in the apply's
transaction, refuses what it cannot carry with the objects' names, and
does not let one refused column hold back another. On SQLite a view is
bound by name when it is read, and the table rebuild keeps views, indexes
and triggers."""
import glob
import json
import os

from e2e_util import E2E, EXIT_FAILED, EXIT_LOADED, EXIT_QUARANTINED, pg_only, sqlite_only


def order(i, **over):
    r = {"id": i, "name": "n%d" % i, "code": i * 10}
    r.update(over)
    return r


class DepsBase(E2E):
    def audit_ok(self):
        r = self.pm("audit", "verify", "--db", self.db)
        self.assertEqual(r.rc, 0, r)

    def proposals(self):
        r = self.pm("proposals", "list", "--db", self.db, "--json")
        self.assertEqual(r.rc, 0, r)
        return {p["id"]: p for p in r.json()}

    def incidents(self):
        r = self.pm("incidents", "list", "--db", self.db, "--json")
        self.assertEqual(r.rc, 0, r)
        return {i["column"]: i for i in r.json()}


@pg_only("PostgreSQL refuses ALTER COLUMN TYPE under a view; SQLite has its own test below")
class TestPgDependents(DepsBase):
    def setUp(self):
        super().setUp()
        # roles are the server's, shared by the tests' databases
        self.reader = "reader_" + self.dbname
        self.owner = "owner_" + self.dbname
        self.sql_script("CREATE ROLE %s" % self.reader, "CREATE ROLE %s" % self.owner)
        self.addCleanup(self.drop_roles)
        self.sql_script("CREATE TABLE public.orders (id integer NOT NULL, name varchar(8), "
                        "code integer)")
        self.ingest("orders", self.write("a.ndjson", [order(i) for i in range(1, 6)]),
                    expect=EXIT_LOADED)

    def drop_roles(self):
        con = self._pg()
        with con.cursor() as c:
            for role in (self.reader, self.owner):
                c.execute("DROP OWNED BY %s" % role)
                c.execute("DROP ROLE %s" % role)

    def saved(self):
        """What a person would check of every view and materialized view:
        definition, owner, grants, comments, options, indexes, populated."""
        rows = self.sql(
            "SELECT c.relname, c.relkind::text, pg_get_viewdef(c.oid), pg_get_userbyid(c.relowner), "
            "coalesce((SELECT string_agg(x::text, ' ' ORDER BY x::text) FROM unnest(c.relacl) x), ''), "
            "obj_description(c.oid, 'pg_class'), coalesce(array_to_string(c.reloptions, ','), ''), "
            "c.relispopulated, "
            "coalesce((SELECT string_agg(pg_get_indexdef(i.indexrelid), '; ' ORDER BY 1) "
            "FROM pg_index i WHERE i.indrelid = c.oid), ''), "
            "coalesce((SELECT string_agg(a.attname || '=' || col_description(c.oid, a.attnum), ',' "
            "ORDER BY a.attnum) FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 "
            "AND col_description(c.oid, a.attnum) IS NOT NULL), '') "
            "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind IN ('v', 'm') ORDER BY c.relname")
        return {r[0]: r[1:] for r in rows}

    def test_widening_carries_views_on_views_matviews_grants_and_comments(self):
        self.sql_script(
            "CREATE VIEW public.v_orders AS SELECT id, name, code FROM public.orders "
            "WHERE code > 0",
            "CREATE VIEW public.v_big WITH (security_barrier) AS SELECT name, code "
            "FROM public.v_orders WHERE code > 20",
            "CREATE VIEW public.v_checked AS SELECT id, code FROM public.orders WHERE code > 0 "
            "WITH LOCAL CHECK OPTION",
            "CREATE MATERIALIZED VIEW public.mv_totals AS SELECT name, sum(code) AS total "
            "FROM public.orders GROUP BY name",
            "CREATE UNIQUE INDEX mv_totals_name ON public.mv_totals (name)",
            "CREATE MATERIALIZED VIEW public.mv_later AS SELECT id, code FROM public.v_orders "
            "WITH NO DATA",
            # a view that uses only a column the change does not touch
            "CREATE VIEW public.v_ids AS SELECT id FROM public.orders",
            "GRANT SELECT ON public.v_big, public.mv_totals TO %s" % self.reader,
            "GRANT SELECT ON public.v_orders TO %s" % self.owner,
            "ALTER VIEW public.v_big OWNER TO %s" % self.owner,
            "COMMENT ON VIEW public.v_orders IS 'orders that have a code'",
            "COMMENT ON COLUMN public.v_orders.name IS 'who ordered'",
            "COMMENT ON MATERIALIZED VIEW public.mv_totals IS 'totals by name'",
            "COMMENT ON INDEX public.mv_totals_name IS 'one row a name'")
        before = self.saved()
        ids_oid = self.sql("SELECT 'public.v_ids'::regclass::oid")[0][0]
        long_name = "Bartholomew Featherstonehaugh"
        r = self.ingest("orders", self.write("b.ndjson", [
            order(6, name=long_name), order(7, code=3000000000), order(8)]), expect=EXIT_LOADED)
        self.assertIn("healed orders", r.stderr)
        # the table changed under its views
        types = self.column_types("orders")
        self.assertEqual(types["code"], "bigint")
        self.assertTrue(types["name"].startswith("character varying("), types)
        self.assertEqual(self.count("orders"), 8)
        self.assertEqual(self.quarantine(), [])
        # the views are back exactly as they were, and show the new values
        after = self.saved()
        self.assertEqual(sorted(after), sorted(before))
        for name in before:
            self.assertEqual(after[name], before[name], name)
        self.assertEqual(after["mv_totals"][6], True)   # populated, as before
        self.assertEqual(after["mv_later"][6], False)   # not populated, as before
        self.assertEqual(self.sql("SELECT name FROM v_orders WHERE id = 6"), [(long_name,)])
        self.assertEqual(self.sql("SELECT code FROM v_big WHERE code > 2000000000"),
                         [(3000000000,)])
        # a materialized view is a snapshot: refreshed at the change, it
        # holds the rows loaded before it; the next refresh sees the rest
        self.assertEqual(self.sql("SELECT count(*) FROM mv_totals"), [(5,)])
        self.sql_exec("REFRESH MATERIALIZED VIEW public.mv_totals")
        self.assertEqual(self.sql("SELECT total::bigint FROM mv_totals WHERE name = 'n7'"),
                         [(3000000000,)])
        self.assertEqual(self.sql("SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                                  "WHERE attrelid = 'public.v_orders'::regclass AND "
                                  "attname = 'code'"), [("bigint",)])
        # the grant works for the role it was made to
        self.assertEqual(self.sql("SELECT has_table_privilege(%s, 'public.v_big', 'SELECT'), "
                                  "has_table_privilege(%s, 'public.mv_totals', 'SELECT')"
                                  % ("'%s'" % self.reader, "'%s'" % self.reader)), [(True, True)])
        # a view on a column the change does not touch was left alone
        self.assertEqual(self.sql("SELECT 'public.v_ids'::regclass::oid")[0][0], ids_oid)
        # the proposal lists what it touched
        (p,) = [p for p in self.proposals().values() if p["state"] == "applied"]
        deps = {(d["kind"], d["name"]): d for d in p["dry_run"]["dependents"]}
        for kind, name in (("view", "view public.v_orders"), ("view", "view public.v_big"),
                           ("view", "view public.v_checked"),
                           ("materialized view", "materialized view public.mv_totals"),
                           ("materialized view", "materialized view public.mv_later"),
                           ("index", "index public.mv_totals_name")):
            self.assertIn((kind, name), deps)
            self.assertEqual(deps[(kind, name)]["action"], "re-created", name)
        self.assertEqual(deps[("view", "view public.v_big")]["note"], "on view public.v_orders")
        self.assertIn(("grant", "SELECT on view public.v_big to %s" % self.reader), deps)
        self.assertNotIn(("view", "view public.v_ids"), deps)
        self.assertTrue(p["dry_run"]["ok"], p["dry_run"])
        self.audit_ok()

    def test_review_lists_dependents_and_a_rule_refuses_with_its_name(self):
        self.sql_script(
            "CREATE VIEW public.v_codes AS SELECT id, code FROM public.orders",
            "CREATE RULE no_negative AS ON UPDATE TO public.orders WHERE NEW.code < 0 "
            "DO INSTEAD NOTHING")
        self.ingest("orders", self.write("b.ndjson", [order(6, code=3000000000)]),
                    extra=("--policy", "review"), expect=EXIT_QUARANTINED)
        (p,) = self.proposals().values()
        self.assertEqual(p["state"], "pending")
        dry = p["dry_run"]
        self.assertFalse(dry["ok"])
        self.assertIn("rule no_negative on table public.orders on column code", dry["error"])
        self.assertIn("reject the proposal", dry["error"])
        deps = {d["name"]: d for d in dry["dependents"]}
        self.assertEqual(deps["rule no_negative on table public.orders"]["action"], "refused")
        self.assertEqual(deps["view public.v_codes"]["action"], "re-created")
        self.assertEqual(self.incidents()["code"]["state"], "dry_run_failed")
        # proposals show says it in words
        r = self.pm("proposals", "show", str(p["id"]), "--db", self.db)
        self.assertEqual(r.rc, 0, r)
        self.assertIn("dependent rule no_negative on table public.orders: refused, on column code",
                      r.stdout)
        self.assertIn("view public.v_codes: re-created, on column code", r.stdout)
        # the exported migration says what the ALTER alone would meet
        os.makedirs(self.path("mig"))
        r = self.pm("proposals", "export", str(p["id"]), "--dir", self.path("mig"),
                    "--db", self.db)
        self.assertEqual(r.rc, 0, r)
        (sql_file,) = glob.glob(self.path("mig/*.sql"))
        with open(sql_file) as f:
            sql = f.read()
        self.assertIn("-- rule no_negative on table public.orders (column code): refused: ", sql)
        self.assertIn("-- view public.v_codes (column code): pipemend's apply drops it and "
                      "creates it again exactly, in the same transaction\n", sql)
        self.assertIn("ALTER TABLE", sql)
        # a person's approval meets the same refusal, and nothing changes
        r = self.pm("proposals", "approve", str(p["id"]), "--db", self.db)
        self.assertEqual(r.rc, EXIT_FAILED, r)
        self.assertIn("rule no_negative on table public.orders", r.stderr)
        self.assertEqual(self.column_types("orders")["code"], "integer")
        self.assertEqual(len(self.quarantine()), 1)
        # with the rule gone, the same proposal applies and the view comes back
        self.sql_script("DROP RULE no_negative ON public.orders")
        r = self.pm("proposals", "approve", str(p["id"]), "--db", self.db)
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(self.column_types("orders")["code"], "bigint")
        self.assertEqual(self.sql("SELECT code FROM v_codes WHERE id = 6"), [(3000000000,)])
        self.assertEqual(self.quarantine(), [])
        self.audit_ok()

    def test_a_refused_column_does_not_hold_back_another(self):
        self.sql_script(
            "CREATE VIEW public.v_names AS SELECT id, name FROM public.orders",
            "ALTER TABLE public.orders ENABLE ROW LEVEL SECURITY",
            "CREATE POLICY positive_codes ON public.orders USING (code > 0)")
        long_name = "Bartholomew Featherstonehaugh"
        r = self.ingest("orders", self.write("b.ndjson", [
            order(6, name=long_name), order(7, code=3000000000)]), expect=EXIT_QUARANTINED)
        self.assertIn("policy positive_codes on table public.orders", r.stderr)
        # the name widened (its view carried through); the code waits
        types = self.column_types("orders")
        self.assertEqual(types["code"], "integer")
        self.assertNotEqual(types["name"], "character varying(8)")
        self.assertEqual(self.sql("SELECT name FROM v_names WHERE id = 6"), [(long_name,)])
        self.assertEqual(self.count("orders"), 6)
        (q,) = self.quarantine()
        self.assertEqual(json.loads(q["raw"])["id"], 7)
        ps = self.proposals()
        states = sorted(p["state"] for p in ps.values())
        self.assertEqual(states, ["applied", "pending", "superseded"])
        (applied,) = [p for p in ps.values() if p["state"] == "applied"]
        (waiting,) = [p for p in ps.values() if p["state"] == "pending"]
        self.assertEqual([o["column"] for o in applied["ops"]], ["name"])
        self.assertEqual([o["column"] for o in waiting["ops"]], ["code"])
        self.assertIn("policy positive_codes on table public.orders on column code",
                      waiting["dry_run"]["error"])
        inc = self.incidents()
        self.assertEqual(inc["code"]["state"], "dry_run_failed")
        self.assertEqual(inc["code"]["proposal"], waiting["id"])
        self.assertEqual(inc["name"]["state"], "resolved")
        events = [e for e in self.pm("audit", "log", "--db", self.db, "--json").json()
                  if e["action"] == "proposal.split"]
        self.assertEqual(len(events), 1)
        # the person moves the policy out of the way and approves the rest
        self.sql_script("DROP POLICY positive_codes ON public.orders")
        r = self.pm("proposals", "approve", str(waiting["id"]), "--db", self.db)
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(self.column_types("orders")["code"], "bigint")
        self.assertEqual(self.count("orders"), 7)
        self.assertEqual(self.quarantine(), [])
        self.audit_ok()


    def mcp_call(self, name, args):
        msgs = [{"jsonrpc": "2.0", "id": 1, "method": "initialize",
                 "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                            "clientInfo": {"name": "e2e-deps", "version": "1"}}},
                {"jsonrpc": "2.0", "method": "notifications/initialized"},
                {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                 "params": {"name": name, "arguments": args}}]
        r = self.pm("mcp", "--db", self.db,
                    input="\n".join(json.dumps(m) for m in msgs) + "\n", timeout=120)
        self.assertEqual(r.rc, 0, r)
        (res,) = [m for m in map(json.loads, r.stdout.splitlines()) if m.get("id") == 2]
        self.assertFalse(res["result"]["isError"], res)
        return res["result"]["structuredContent"]

    def test_a_persons_approval_applies_the_columns_nothing_refuses(self):
        self.sql_script(
            "CREATE VIEW public.v_names AS SELECT id, name FROM public.orders",
            "CREATE TRIGGER code_watch BEFORE UPDATE OF code ON public.orders FOR EACH ROW "
            "EXECUTE FUNCTION suppress_redundant_updates_trigger()")
        long_name = "Bartholomew Featherstonehaugh"
        self.ingest("orders", self.write("b.ndjson", [
            order(6, name=long_name, code=3000000000), order(7, name=long_name)]),
            extra=("--policy", "review"), expect=EXIT_QUARANTINED)
        # review proposes one op at a time; an agent proposes both at once
        by_col = {p["ops"][0]["column"]: p for p in self.proposals().values()}
        self.assertFalse(by_col["code"]["dry_run"]["ok"])
        self.assertIn("trigger code_watch on table public.orders on column code",
                      by_col["code"]["dry_run"]["error"])
        self.assertTrue(by_col["name"]["dry_run"]["ok"], by_col["name"]["dry_run"])
        ops = [by_col["name"]["ops"][0], by_col["code"]["ops"][0]]
        made = self.mcp_call("propose_fix", {"table": "orders", "ops": ops})
        pid = made["proposal"]
        # an agent sees the blast radius over MCP
        listed = self.mcp_call("list_proposals", {})
        (mp,) = [x for x in listed["proposals"] if x["id"] == pid]
        got = {(d["name"], d["action"]) for d in mp["dry_run"]["dependents"]}
        self.assertIn(("view public.v_names", "re-created"), got)
        self.assertIn(("trigger code_watch on table public.orders", "refused"), got)
        # a person approves it: the name applies, the code waits
        r = self.pm("proposals", "approve", str(pid), "--db", self.db)
        self.assertEqual(r.rc, 0, r)
        self.assertIn("proposal %d was split" % pid, r.stdout)
        types = self.column_types("orders")
        self.assertEqual(types["code"], "integer")
        self.assertNotEqual(types["name"], "character varying(8)")
        self.assertEqual(self.sql("SELECT name FROM v_names WHERE id = 7"), [(long_name,)])
        (q,) = self.quarantine()
        self.assertEqual(json.loads(q["raw"])["id"], 6)
        self.assertEqual(self.count("orders"), 6)
        ps = self.proposals()
        self.assertEqual(ps[pid]["state"], "superseded")
        self.assertEqual(ps[by_col["name"]["id"]]["state"], "applied")
        self.assertEqual(ps[by_col["code"]["id"]]["state"], "pending")
        self.assertEqual(self.incidents()["code"]["state"], "dry_run_failed")
        self.assertEqual(self.incidents()["code"]["proposal"], by_col["code"]["id"])
        self.audit_ok()


class TestViewsOverHealedTables(DepsBase):
    """Both backends: a view, an index and a trigger over a table pipemend
    widens, adds to and relaxes keep working."""

    def test_views_indexes_and_triggers_survive_widen_add_and_relax(self):
        self.ingest("orders", self.write("a.ndjson", [order(i, email="e%d@x" % i)
                                                       for i in range(1, 6)]),
                    expect=EXIT_LOADED)
        if self.backend == "pg":
            self.sql_script(
                "CREATE TABLE public.audit_trail (id integer)",
                "CREATE VIEW public.v_orders AS SELECT id, name, code, email FROM public.orders",
                "CREATE VIEW public.v_all AS SELECT * FROM public.orders",
                "CREATE INDEX orders_code ON public.orders (code)",
                "CREATE FUNCTION public.trail() RETURNS trigger LANGUAGE plpgsql AS $$ "
                "BEGIN INSERT INTO public.audit_trail VALUES (NEW.id); RETURN NEW; END $$",
                "CREATE TRIGGER trail AFTER INSERT ON public.orders FOR EACH ROW "
                "EXECUTE FUNCTION public.trail()")
        else:
            self.sql_script("CREATE TABLE audit_trail (id integer)",
                            "CREATE VIEW v_orders AS SELECT id, name, code, email FROM orders",
                            "CREATE VIEW v_all AS SELECT * FROM orders",
                            "CREATE INDEX orders_code ON orders (code)",
                            "CREATE TRIGGER trail AFTER INSERT ON orders BEGIN "
                            "INSERT INTO audit_trail VALUES (NEW.id); END")
        long_name = "N" * 300
        self.ingest("orders", self.write("b.ndjson", [
            order(6, name=long_name, email="e6@x"),   # wider text
            order(7, code=2.5, email="e7@x"),         # int -> float
            order(8, email=None),                     # a null where none was seen
            order(9, email="e9@x", coupon="C9")]),    # a new field
            expect=EXIT_LOADED)
        self.assertEqual(self.count("orders"), 9)
        self.assertEqual(self.quarantine(), [])
        self.assertEqual(self.sql("SELECT name FROM v_orders WHERE id = 6"), [(long_name,)])
        self.assertEqual(self.sql("SELECT code FROM v_orders WHERE id = 7"), [(2.5,)])
        self.assertEqual(self.sql("SELECT count(*) FROM v_orders WHERE email IS NULL"), [(1,)])
        # a view made with SELECT *: PostgreSQL fixed its columns when it
        # was made (the new column is not in it); SQLite expands * on read
        self.assertEqual(self.sql("SELECT name, code FROM v_all WHERE id = 7"), [("n7", 2.5)])
        if self.backend == "pg":
            self.assertNotIn("coupon", [r[0] for r in self.sql(
                "SELECT attname FROM pg_attribute WHERE attrelid = 'public.v_all'::regclass")])
        else:
            self.assertEqual(self.sql("SELECT coupon FROM v_all WHERE id = 9"), [("C9",)])
        # the trigger still fires: rows 6..9 came after it was made
        self.assertEqual(self.sql("SELECT id FROM audit_trail ORDER BY id"),
                         [(6,), (7,), (8,), (9,)])
        if self.backend == "pg":
            idx = self.sql("SELECT indexname FROM pg_indexes WHERE tablename = 'orders'")
        else:
            idx = self.sql("SELECT name FROM sqlite_master WHERE type = 'index' AND "
                           "tbl_name = 'orders'")
        self.assertIn(("orders_code",), idx)
        self.audit_ok()
