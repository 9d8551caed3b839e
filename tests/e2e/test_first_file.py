"""The first file heals under the policy like any later one, and the NOT
NULLs pipemend inferred from a sample are its own guesses (issue 13)."""
import json

from e2e_util import E2E, EXIT_LOADED, EXIT_QUARANTINED

COUNTRIES = ["France", "Germany", "Italy", "Spain", "Poland", "Chile", "Peru", "Japan"]


def orders(n, start=0):
    """Realistic order events: the first 1000 look alike; later ones bring
    what the sample never saw."""
    out = []
    for i in range(start, start + n):
        rec = {"order_id": 1000 + i, "country": COUNTRIES[i % len(COUNTRIES)],
               "qty": 1 + i % 7, "amount": round(9.5 + i % 50 * 1.25, 2)}
        if i >= 1200:
            rec["coupon"] = "SAVE%d" % (i % 30)          # a field first seen at row 1200
        if i == 1500:
            rec["country"] = "United Kingdom of Great Britain and Northern Ireland"
        if i == 2000:
            rec["qty"] = 4000000000                      # outgrows int32
        out.append(rec)
    return out


class TestFirstFileHeals(E2E):
    def audit_ok(self):
        r = self.pm("audit", "verify", "--db", self.db)
        self.assertEqual(r.rc, 0, r)

    def test_drift_after_the_sample_heals_in_the_first_run(self):
        recs = orders(3000)
        self.ingest("orders", self.write("orders.ndjson", recs), expect=EXIT_LOADED)
        s = self.schema("orders")
        self.assertEqual(s["coupon"], ("varchar(16)", True), s)
        self.assertEqual(s["qty"][0], "int64")
        self.assertEqual(s["country"], ("varchar(128)", False))
        self.assertEqual(self.count("orders"), 3000)
        self.assertEqual(self.quarantine(), [])
        rows = self.sql("SELECT order_id, country, qty, coupon FROM orders WHERE order_id IN "
                        "(1999, 2500, 3000) ORDER BY order_id")
        self.assertEqual(rows, [(1999, "Japan", 6, None),
                                (2500, "United Kingdom of Great Britain and Northern Ireland", 3,
                                 "SAVE0"),
                                (3000, "France", 4000000000, "SAVE20")])
        self.assertEqual(self.sql("SELECT count(*) FROM orders WHERE coupon IS NOT NULL")[0][0], 1800)
        # the heals are proposals applied by the rules, like any later run's
        r = self.pm("proposals", "list", "--db", self.db, "--json")
        self.assertEqual(r.rc, 0, r)
        applied = [p for p in r.json() if p["state"] == "applied"]
        ops = sorted(o["op"] for p in applied for o in p["ops"])
        self.assertEqual(ops, ["add_column", "widen_column", "widen_column"], r.json())
        run = self.last_run()
        self.assertEqual((run["status"], run["rows_read"], run["rows_loaded"]), ("succeeded", 3000, 3000))
        self.audit_ok()

    def test_first_file_under_review_gets_proposals_not_bare_incidents(self):
        recs = orders(3000)
        self.ingest("orders", self.write("orders.ndjson", recs), expect=EXIT_QUARANTINED,
                    extra=("--policy", "review"))
        self.assertEqual(self.count("orders"), 3000 - 1800)
        q = self.quarantine()
        self.assertEqual(len(q), 1800)
        r = self.pm("incidents", "list", "--db", self.db, "--json")
        incs = r.json()
        self.assertTrue(incs)
        for inc in incs:
            self.assertEqual(inc["state"], "awaiting_approval", inc)
        r = self.pm("proposals", "list", "--db", self.db, "--json")
        kinds = sorted(o["op"] for p in r.json() if p["state"] == "pending" for o in p["ops"])
        self.assertEqual(kinds, ["add_column", "widen_column", "widen_column"], r.json())
        self.assert_invariants("orders", 3000)
        self.audit_ok()


class TestInferredNotNull(E2E):
    def test_a_guessed_not_null_relaxes_by_itself_and_is_audited(self):
        first = [{"station": "Seattle", "date": "2015-01-%02d" % (i % 28 + 1), "wind": 3.1 + i % 5,
                  "weather": "rain"} for i in range(50)]
        self.ingest("weather", self.write("a.ndjson", first), expect=EXIT_LOADED)
        self.assertEqual(self.schema("weather")["weather"], ("varchar(16)", False))
        later = [{"station": "Seattle", "date": "2015-02-01", "wind": 2.0},
                 {"station": "Seattle", "date": "2015-02-02", "wind": 4.5, "weather": None}]
        self.ingest("weather", self.write("b.ndjson", later), expect=EXIT_LOADED)
        self.assertEqual(self.schema("weather")["weather"], ("varchar(16)", True))
        self.assertEqual(self.count("weather"), 52)
        self.assertEqual(self.sql("SELECT count(*) FROM weather WHERE weather IS NULL")[0][0], 2)
        r = self.pm("proposals", "list", "--db", self.db, "--json")
        p = [p for p in r.json() if p["ops"][0]["op"] == "drop_not_null"]
        self.assertEqual(len(p), 1, r.json())
        self.assertEqual(p[0]["state"], "applied")
        self.assertEqual(p[0]["decided_by"], "rules")
        r = self.pm("audit", "log", "--db", self.db, "--json", "--limit", "1000")
        actions = [e["action"] for e in r.json()]
        self.assertIn("schema.healed", actions)
        self.assertEqual(self.pm("audit", "verify", "--db", self.db).rc, 0)

    def test_a_declared_not_null_still_holds_rows_for_review(self):
        self.write_config("tables:\n  weather:\n    contract:\n      columns:\n"
                          "        weather: {not_null: true}\n")
        first = [{"station": "Seattle", "wind": 3.1, "weather": "rain"} for _ in range(20)]
        self.ingest("weather", self.write("a.ndjson", first), expect=EXIT_LOADED)
        self.ingest("weather", self.write("b.ndjson", [{"station": "Seattle", "wind": 2.0}]),
                    expect=EXIT_QUARANTINED)
        self.assertEqual(self.schema("weather")["weather"], ("varchar(16)", False))
        q = self.quarantine()
        self.assertEqual(len(q), 1)
        self.assertIn("null_violation", q[0]["kinds"])
        r = self.pm("proposals", "list", "--db", self.db, "--json")
        self.assertEqual([(p["state"], p["ops"][0]["op"]) for p in r.json()],
                         [("pending", "drop_not_null")])

    def test_a_hand_made_not_null_still_holds_rows_for_review(self):
        self.sql_script("CREATE TABLE weather (station varchar(40) NOT NULL, wind double precision)")
        self.ingest("weather", self.write("a.ndjson", [{"station": "Seattle", "wind": 1.0}]),
                    expect=EXIT_LOADED)
        self.ingest("weather", self.write("b.ndjson", [{"wind": 2.0}]), expect=EXIT_QUARANTINED)
        self.assertFalse(self.schema("weather")["station"][1])
        r = self.pm("proposals", "list", "--db", self.db, "--json")
        self.assertEqual([(p["state"], p["ops"][0]["op"]) for p in r.json()],
                         [("pending", "drop_not_null")])


def rpc(id_, method, params=None):
    m = {"jsonrpc": "2.0", "id": id_, "method": method}
    if params is not None:
        m["params"] = params
    return m


INIT = rpc(0, "initialize", {"protocolVersion": "2025-11-25", "capabilities": {},
                             "clientInfo": {"name": "plan-e2e", "version": "1"}})
INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}
FORBID_ADD = "tables:\n  orders:\n    policy:\n      overrides:\n        add_column: forbidden\n"


class TestPlanIncidents(E2E):
    def leftover(self):
        """An incident that waits without a plan, as one left from before:
        the configuration forbade new columns when it opened, and no
        longer does."""
        self.write_config(FORBID_ADD)
        recs = orders(1300)
        self.ingest("orders", self.write("a.ndjson", recs[:1100]), expect=EXIT_LOADED)
        self.ingest("orders", self.write("b.ndjson", recs[1100:]), expect=EXIT_QUARANTINED)
        inc = self.pm("incidents", "list", "--db", self.db, "--json").json()
        self.assertEqual([(i["column"], i["kind"], i["state"], i["rows"]) for i in inc],
                         [("coupon", "new_field", "open", 100)])
        self.assertEqual(self.pm("proposals", "list", "--db", self.db, "--json").json(), [])
        self.write_config("")
        return inc[0]["id"]

    def test_plan_open_heals_what_the_rules_may_apply(self):
        iid = self.leftover()
        r = self.pm("incidents", "plan", "--open", "--db", self.db, "--json")
        self.assertEqual(r.rc, 0, r)
        out = r.json()
        self.assertEqual(len(out), 1)
        self.assertEqual((out[0]["incident"], out[0]["planned"], out[0]["applied"],
                          out[0]["replayed"]), (iid, True, True, 100))
        self.assertEqual(out[0]["ops"], ["add column coupon varchar(16) to orders"])
        self.assertEqual(self.count("orders"), 1300)
        self.assertEqual(self.quarantine(), [])
        self.assertEqual(self.sql("SELECT coupon FROM orders WHERE order_id = 2299")[0][0], "SAVE9")
        inc = self.pm("incidents", "list", "--db", self.db, "--json").json()
        self.assertEqual(inc[0]["state"], "resolved")
        # nothing left to plan
        r = self.pm("incidents", "plan", "--open", "--db", self.db)
        self.assertEqual((r.rc, r.stdout), (0, "no open incident waits for a plan\n"))
        r = self.pm("incidents", "plan", str(iid), "--db", self.db)
        self.assertEqual(r.rc, 2, r)
        self.assertIn("incident %d is resolved" % iid, r.stderr)
        self.assertEqual(self.pm("audit", "verify", "--db", self.db).rc, 0)

    def test_plan_under_review_proposes_for_a_person(self):
        iid = self.leftover()
        self.write_config("tables:\n  orders:\n    policy:\n      mode: review\n")
        r = self.pm("incidents", "plan", str(iid), "--db", self.db)
        self.assertEqual(r.rc, 0, r)
        self.assertIn("waits for a person", r.stdout)
        ps = self.pm("proposals", "list", "--db", self.db, "--json").json()
        self.assertEqual([(p["state"], p["ops"][0]["op"], p["ops"][0]["column"]) for p in ps],
                         [("pending", "add_column", "coupon")])
        self.assertEqual(len(self.quarantine()), 100)
        inc = self.pm("incidents", "list", "--db", self.db, "--json").json()
        self.assertEqual(inc[0]["state"], "awaiting_approval")

    def test_plan_usage_and_unknown_incident(self):
        self.ingest("orders", self.write("a.ndjson", orders(5)), expect=EXIT_LOADED)
        self.assertEqual(self.pm("incidents", "plan", "--db", self.db).rc, 2)
        self.assertEqual(self.pm("incidents", "plan", "1", "--open", "--db", self.db).rc, 2)
        r = self.pm("incidents", "plan", "42", "--db", self.db)
        self.assertEqual(r.rc, 1, r)
        self.assertIn("no incident 42", r.stderr)

    def test_mcp_plan_incident_returns_the_rule_planners_proposal(self):
        iid = self.leftover()
        lines = [json.dumps(m) for m in (INIT, INITIALIZED, rpc(1, "tools/call", {
            "name": "plan_incident", "arguments": {"incident": iid}}), rpc(2, "tools/list"))]
        r = self.pm("mcp", "--db", self.db, input="\n".join(lines) + "\n", timeout=120)
        self.assertEqual(r.rc, 0, r)
        resp = {m["id"]: m for m in map(json.loads, r.stdout.splitlines()) if "id" in m}
        res = resp[1]["result"]
        self.assertFalse(res["isError"], res)
        sc = res["structuredContent"]
        self.assertTrue(sc["planned"])
        self.assertEqual(sc["ops"], [{"op": "add_column", "table": "orders", "column": "coupon",
                                      "type": "varchar(16)"}])
        self.assertEqual(sc["why"], ["field coupon is new in the feed"])
        self.assertEqual(sc["state"], "pending")
        self.assertTrue(sc["dry_run"]["ok"], sc)
        self.assertEqual(sc["rows"], 100)
        tools = {t["name"]: t for t in resp[2]["result"]["tools"]}
        self.assertFalse(tools["plan_incident"]["annotations"]["readOnlyHint"])
        # the agent applies the planner's proposal; the rows load
        lines = [json.dumps(m) for m in (INIT, INITIALIZED, rpc(1, "tools/call", {
            "name": "apply_fix", "arguments": {"proposal": sc["proposal"]}}))]
        r = self.pm("mcp", "--db", self.db, input="\n".join(lines) + "\n", timeout=120)
        resp = {m["id"]: m for m in map(json.loads, r.stdout.splitlines()) if "id" in m}
        self.assertTrue(resp[1]["result"]["structuredContent"]["applied"], resp[1])
        self.assertEqual(self.count("orders"), 1300)
        self.assertEqual(self.pm("audit", "verify", "--db", self.db).rc, 0)


class TestInferDateFormats(E2E):
    def test_non_iso_timestamps_and_dates_infer_as_such(self):
        # seattle-weather as some exports write it, and US dates
        lines = ["date,precipitation,temp_max,weather"]
        for d in range(1, 29):
            lines.append("2015/01/%02d 01:00:00,%.1f,%.1f,%s" % (d, d * 0.3, 10 + d * 0.1,
                                                                 "rain" if d % 2 else "sun"))
        self.ingest("weather", self.write("weather.csv", "\n".join(lines) + "\n"),
                    expect=EXIT_LOADED)
        r = self.pm("schema", "show", "--table", "weather", "--db", self.db, "--json")
        cols = {c["name"]: c for c in r.json()["columns"]}
        self.assertEqual((cols["date"]["type"], cols["date"]["format"]),
                         ("timestamp", "%Y/%m/%d %H:%M:%S"))
        self.assertEqual(self.count("weather"), 28)
        rows = self.sql("SELECT date FROM weather ORDER BY date LIMIT 2")
        self.assertEqual([x[0] for x in rows], ["2015-01-01T01:00:00", "2015-01-02T01:00:00"])

        recs = [{"id": i, "hired": "%02d/%02d/2015" % (1 + i % 12, 1 + i % 28)} for i in range(40)]
        recs.append({"id": 99, "hired": "2016-03-01"})  # ISO fits a date column too
        self.ingest("staff", self.write("staff.ndjson", recs), expect=EXIT_LOADED)
        r = self.pm("schema", "show", "--table", "staff", "--db", self.db, "--json")
        col = [c for c in r.json()["columns"] if c["name"] == "hired"][0]
        self.assertEqual((col["type"], col["format"]), ("date", "%m/%d/%Y"))
        got = self.sql("SELECT hired FROM staff WHERE id IN (13, 99) ORDER BY id")
        self.assertEqual([str(x[0]) for x in got], ["2015-02-14", "2016-03-01"])
        # a later run in the same layout loads through the coercion
        self.ingest("staff", self.write("more.ndjson", [{"id": 100, "hired": "12/31/2016"}]),
                    expect=EXIT_LOADED)
        self.assertEqual(str(self.sql("SELECT hired FROM staff WHERE id = 100")[0][0]), "2016-12-31")
        self.assertEqual(self.pm("audit", "verify", "--db", self.db).rc, 0)

    def test_two_layouts_or_free_text_stay_text(self):
        recs = [{"id": 1, "d": "01/31/2015"}, {"id": 2, "d": "31/01/2015"},
                {"id": 3, "note": "tomorrow"}]
        recs += [{"id": 4 + i, "note": "01/02/2015" if i else "soon"} for i in range(3)]
        self.ingest("t", self.write("a.ndjson", recs), expect=EXIT_LOADED)
        s = self.schema("t")
        self.assertEqual(s["d"][0], "varchar(32)")
        self.assertEqual(s["note"][0], "varchar(32)")
        self.assertEqual(self.sql("SELECT d FROM t WHERE id = 2")[0][0], "31/01/2015")


class TestAlso(E2E):
    def test_flattening_stops_at_a_hand_made_json_column(self):
        # GitHub-style events: the payload object goes whole into the
        # column its owner made for it
        decl = "jsonb" if self.backend == "pg" else "JSON"
        self.sql_script("CREATE TABLE events (id bigint NOT NULL, type varchar(40), payload %s)" % decl)
        recs = [{"id": 1, "type": "PushEvent", "payload": {"size": 2, "ref": "refs/heads/main",
                                                            "commits": [{"sha": "a1"}]}},
                {"id": 2, "type": "WatchEvent", "payload": {"action": "started"}},
                {"id": 3, "type": "ForkEvent", "payload": None}]
        self.ingest("events", self.write("events.ndjson", recs), expect=EXIT_LOADED)
        self.assertEqual(sorted(self.sql_columns("events")), ["id", "payload", "type"])
        rows = self.sql("SELECT id, payload FROM events ORDER BY id")
        self.assertEqual([(i, json.loads(p) if isinstance(p, str) else p) for i, p in rows],
                         [(1, recs[0]["payload"]), (2, recs[1]["payload"]), (3, None)])
        self.assertEqual(self.quarantine(), [])
        self.assertEqual(self.pm("audit", "verify", "--db", self.db).rc, 0)

    def test_replay_keeps_objects_whole_for_a_json_column(self):
        decl = "jsonb" if self.backend == "pg" else "JSON"
        self.sql_script("CREATE TABLE events (id bigint NOT NULL, payload %s)" % decl)
        self.write_config("tables:\n  events:\n    policy:\n      mode: review\n")
        recs = [{"id": 1, "payload": {"action": "started"}},
                {"id": 2, "payload": {"action": "opened", "number": 7}, "actor": "octocat"}]
        self.ingest("events", self.write("events.ndjson", recs), expect=EXIT_QUARANTINED)
        ps = self.pm("proposals", "list", "--db", self.db, "--json").json()
        self.assertEqual([(p["state"], p["ops"][0]["column"]) for p in ps], [("pending", "actor")])
        r = self.pm("proposals", "approve", str(ps[0]["id"]), "--db", self.db, "--actor", "ann")
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(self.quarantine(), [])
        rows = self.sql("SELECT id, payload, actor FROM events ORDER BY id")
        self.assertEqual([(i, json.loads(p) if isinstance(p, str) else p, a) for i, p, a in rows],
                         [(1, {"action": "started"}, None),
                          (2, {"action": "opened", "number": 7}, "octocat")])

    def test_ingests_that_create_one_table_at_once_all_succeed(self):
        import subprocess
        from e2e_util import BIN, clean_env
        files = []
        for k in range(4):
            files.append(self.write("part%d.ndjson" % k,
                                    [{"id": k * 1000 + i, "country": COUNTRIES[i % 8],
                                      "qty": i % 9} for i in range(500)]))
        procs = [subprocess.Popen([BIN, "ingest", "--db", self.db, "--table", "orders", f],
                                  cwd=self.tmp, env=clean_env(), stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE) for f in files]
        outs = [(p.wait(timeout=120), p.stderr.read().decode()) for p in procs]
        for rc, err in outs:
            self.assertEqual(rc, 0, err)
        self.assertEqual(self.count("orders"), 2000)
        self.assertEqual(len(self.sql("SELECT DISTINCT id FROM orders")), 2000)
        r = self.pm("schema", "show", "--table", "orders", "--db", self.db, "--json")
        self.assertEqual(r.json()["version"], 1)
        created = [e for e in self.pm("audit", "log", "--db", self.db, "--json", "--limit",
                                      "1000").json() if e["action"] == "table.created"]
        self.assertEqual(len(created), 1)
        self.assertEqual(self.pm("audit", "verify", "--db", self.db).rc, 0)

    def test_replay_parses_with_the_configured_limits(self):
        # a feed whose records nest deeper than the default 64 levels, which
        # the configuration allows
        self.write_config("defaults:\n  max_depth: 100\ntables:\n  deep:\n    policy:\n"
                          "      mode: review\n")

        def deep(i, **more):
            v = i
            for _ in range(80):
                v = [v]
            r = {"id": i, "tree": v}
            r.update(more)
            return r
        self.ingest("deep", self.write("a.ndjson", [deep(i) for i in range(5)]), expect=EXIT_LOADED)
        self.ingest("deep", self.write("b.ndjson", [deep(5, label="new"), deep(6)]),
                    expect=EXIT_QUARANTINED)
        ps = self.pm("proposals", "list", "--db", self.db, "--json").json()
        self.assertEqual([(p["state"], p["ops"][0]["op"]) for p in ps], [("pending", "add_column")])
        r = self.pm("proposals", "approve", str(ps[0]["id"]), "--db", self.db, "--actor", "ann")
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(self.quarantine(), [])
        self.assertEqual(self.count("deep"), 7)
        self.assertEqual(self.sql("SELECT label FROM deep WHERE id = 5")[0][0], "new")
        self.assertEqual(self.pm("audit", "verify", "--db", self.db).rc, 0)


def penguin(i, **over):
    r = {"Species": ["Adelie", "Gentoo", "Chinstrap"][i % 3], "Island": "Biscoe",
         "Beak Length (mm)": 39.1 + i % 10, "Beak Depth (mm)": 18.7, "Flipper Length (mm)": 181 + i % 9,
         "Body Mass (g)": 3750 + i, "Sex": "MALE"}
    r.update(over)
    return {k: v for k, v in r.items() if v is not DROP}


DROP = object()


class TestWhatSplitsData(E2E):
    def test_a_nested_field_does_not_merge_into_a_flat_fields_column(self):
        self.ingest("penguins", self.write("a.ndjson", [penguin(i) for i in range(20)]),
                    expect=EXIT_LOADED)
        s = self.pm("schema", "show", "--table", "penguins", "--db", self.db, "--json").json()
        col = [c for c in s["columns"] if c["name"] == "beak_length__mm"][0]
        self.assertEqual(col["origin"], "flat")
        nested = penguin(20, **{"Beak Length (mm)": DROP, "beak_length": {"mm": 52.5}})
        self.ingest("penguins", self.write("b.ndjson", [nested, penguin(21)]),
                    expect=EXIT_QUARANTINED)
        self.assertEqual(self.count("penguins"), 21)
        q = self.quarantine()
        self.assertEqual(len(q), 1)
        self.assertIn("nested", q[0]["kinds"])
        self.assertIn("member of a nested object beak_length__mm becomes column beak_length__mm, "
                      "which was made from a field of the record itself", q[0]["message"])
        self.assertEqual(self.sql("SELECT count(*) FROM penguins WHERE beak_length__mm = 52.5")[0][0], 0)
        self.assert_invariants("penguins", 22)

    def test_true_does_not_load_as_one_into_a_number_column(self):
        self.ingest("penguins", self.write("a.ndjson", [penguin(i) for i in range(20)]),
                    expect=EXIT_LOADED)
        bad = penguin(20, **{"Body Mass (g)": True})
        self.ingest("penguins", self.write("b.ndjson", [bad, penguin(21)]), expect=EXIT_QUARANTINED)
        q = self.quarantine()
        self.assertEqual(len(q), 1)
        self.assertEqual(q[0]["kinds"], ["type_conflict"])
        self.assertIn("value true for Body Mass (g) is a boolean but column body_mass__g is int32; "
                      "it is not loaded as 1", q[0]["message"])
        self.assertEqual(self.sql("SELECT count(*) FROM penguins WHERE body_mass__g = 1")[0][0], 0)
        # the same from a CSV
        self.ingest("counts", self.write("c.csv", "site,count\na,3\nb,4\n"), expect=EXIT_LOADED)
        self.ingest("counts", self.write("d.csv", "site,count\nc,true\nd,5\n"),
                    expect=EXIT_QUARANTINED)
        self.assertEqual(self.sql("SELECT site, count FROM counts ORDER BY site"),
                         [("a", 3), ("b", 4), ("d", 5)])
        self.assertEqual(self.pm("audit", "verify", "--db", self.db).rc, 0)
