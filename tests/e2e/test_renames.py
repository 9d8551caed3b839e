"""Renames of optional fields and restructures (issue 13, "Catch what splits
data"): a nullable column that stops arriving while a new field of its
shape arrives is a suspected rename, judged across the batch; its rows wait
in quarantine for a person, approving the mapping loads them into the old
column, rejecting it gives the field a column of its own. A flat field that
becomes a member of a nested object (and the reverse) is caught the same
way. Records are movies-like (vega-datasets' movies.json)."""
import json

from e2e_util import E2E, EXIT_LOADED, EXIT_QUARANTINED

GENRES = ["Drama", "Comedy", "Action", "Thriller", "Documentary"]


def movie(i, rating_key="IMDB Rating", rating=True, votes=False):
    r = {"Title": "Movie %03d" % i, "Release Year": 1980 + i % 40,
         "Major Genre": GENRES[i % len(GENRES)], "US Gross": 1000000 + 7919 * i}
    if rating:
        value = round(2.0 + (i * 37 % 70) / 10.0, 1)  # 2.0 .. 8.9, exact in a double
        if rating_key == "IMDB.rating":
            r["IMDB"] = {"rating": value, "votes": 100 + i} if votes else {"rating": value}
        else:
            r[rating_key] = value
    return r


def rating_of(i):
    return round(2.0 + (i * 37 % 70) / 10.0, 1)


class TestRenamedOptionalField(E2E):
    def proposals(self, state=None):
        r = self.pm("proposals", "list", "--db", self.db, "--json")
        self.assertEqual(r.rc, 0, r)
        return [p for p in r.json() if state is None or p["state"] == state]

    def made_nullable_then_renamed(self):
        """imdb_rating inferred NOT NULL, made nullable by a heal, then the
        producer renames it: the situation that used to split the data."""
        self.ingest("movies", self.write("a.ndjson", [movie(i) for i in range(60)]),
                    expect=EXIT_LOADED)
        self.assertFalse(self.schema("movies")["imdb_rating"][1])
        # some films have no rating yet: the guessed NOT NULL is relaxed
        self.ingest("movies", self.write("b.ndjson", [movie(i, rating=i % 3 != 0)
                                                      for i in range(60, 90)]),
                    expect=EXIT_LOADED)
        self.assertTrue(self.schema("movies")["imdb_rating"][1])
        renamed = [movie(i, rating_key="IMDB Score") for i in range(90, 130)]
        r = self.ingest("movies", self.write("c.ndjson", renamed), expect=EXIT_QUARANTINED)
        return r

    def test_suspected_rename_holds_rows_then_approval_maps_them(self):
        self.made_nullable_then_renamed()
        s = self.schema("movies")
        self.assertNotIn("imdb_score", s, "the new name was added beside the old column")
        q = self.quarantine("--table", "movies")
        self.assertEqual(len(q), 40)
        for e in q:
            self.assertEqual(sorted(e["kinds"]), ["new_field", "rename"], e)
        self.assertIn("imdb_rating may have been renamed to IMDB Score", q[0]["message"])
        self.assertIn("missing in 40 of the 40 rows", q[0]["message"])
        pending = self.proposals("pending")
        self.assertEqual(len(pending), 1, pending)
        self.assertEqual(pending[0]["ops"], [{"op": "add_field_mapping", "table": "movies",
                                              "column": "imdb_rating", "field": "IMDB Score"}])
        # planning the new field's incident by hand does not add the column
        # behind the pending decision (the rules would apply an add_column)
        incs = self.pm("incidents", "list", "--db", self.db, "--json").json()
        nf = [i for i in incs if i["kind"] == "new_field" and i["column"] == "imdb_score"]
        self.assertEqual(len(nf), 1, incs)
        r = self.pm("incidents", "plan", str(nf[0]["id"]), "--db", self.db)
        self.assertEqual(r.rc, 0, r)
        self.assertIn("waits for the decision on mapping it to imdb_rating", r.stdout)
        self.assertNotIn("imdb_score", self.schema("movies"))
        r = self.pm("proposals", "approve", str(pending[0]["id"]), "--db", self.db,
                    "--actor", "alice")
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(self.quarantine("--table", "movies"), [])
        self.assertNotIn("imdb_score", self.schema("movies"))
        got = dict(self.sql("SELECT title, imdb_rating FROM movies WHERE title >= 'Movie 090'"))
        self.assertEqual(got, {"Movie %03d" % i: rating_of(i) for i in range(90, 130)})
        # nothing split: every renamed row has its value in the old column
        self.assertEqual(self.sql("SELECT COUNT(*) FROM movies WHERE imdb_rating IS NULL"),
                         [(10,)])  # the films of b.ndjson without a rating
        # the producer keeps the new name: it loads through the mapping
        self.ingest("movies", self.write("d.ndjson", [movie(i, rating_key="IMDB Score")
                                                      for i in range(130, 140)]),
                    expect=EXIT_LOADED)
        self.assertEqual(self.sql("SELECT imdb_rating FROM movies WHERE title = 'Movie 135'"),
                         [(rating_of(135),)])
        self.assert_invariants("movies", 140)
        self.assertEqual(self.pm("audit", "verify", "--db", self.db).rc, 0)

    def test_rejected_rename_gives_the_field_its_own_column(self):
        self.made_nullable_then_renamed()
        pid = self.proposals("pending")[0]["id"]
        r = self.pm("proposals", "reject", str(pid), "--db", self.db, "--actor", "bob")
        self.assertEqual(r.rc, 0, r)
        self.assertIn("gets a column of its own", r.stderr)
        s = self.schema("movies")
        self.assertEqual(s["imdb_score"], ("float64", True))
        self.assertEqual(self.quarantine("--table", "movies"), [])
        got = dict(self.sql("SELECT title, imdb_score FROM movies WHERE imdb_score IS NOT NULL"))
        self.assertEqual(got, {"Movie %03d" % i: rating_of(i) for i in range(90, 130)})
        # a person said no: the same pair is not suspected again
        self.ingest("movies", self.write("d.ndjson", [movie(i, rating_key="IMDB Score")
                                                      for i in range(130, 135)]),
                    expect=EXIT_LOADED)
        self.assertEqual(self.count("movies"), 135)
        self.assertEqual([p["state"] for p in self.proposals()
                          if p["ops"][0]["op"] == "add_field_mapping"], ["rejected"])
        self.assertEqual(self.pm("audit", "verify", "--db", self.db).rc, 0)

    def test_new_optional_field_beside_a_sparse_column_is_no_rename(self):
        # director is sparse from the start; a new budget field is not its
        # new name (other name, other kind of value): it is added by itself
        first = [dict(movie(i), **({"Director": "Director %d" % i} if i % 4 == 0 else {}))
                 for i in range(40)]
        self.ingest("movies", self.write("a.ndjson", first), expect=EXIT_LOADED)
        self.assertTrue(self.schema("movies")["director"][1])
        later = [dict(movie(i), **{"Production Budget": 5000000 + i}) for i in range(40, 60)]
        self.ingest("movies", self.write("b.ndjson", later), expect=EXIT_LOADED)
        self.assertIn("production_budget", self.schema("movies"))
        self.assertEqual(self.proposals("pending"), [])


class TestRestructure(E2E):
    def proposals(self, state=None):
        r = self.pm("proposals", "list", "--db", self.db, "--json")
        self.assertEqual(r.rc, 0, r)
        return [p for p in r.json() if state is None or p["state"] == state]

    def approve_only_pending(self):
        pending = self.proposals("pending")
        self.assertEqual(len(pending), 1, pending)
        r = self.pm("proposals", "approve", str(pending[0]["id"]), "--db", self.db)
        self.assertEqual(r.rc, 0, r)
        return pending[0]

    def test_flat_field_becomes_nested(self):
        # a film without a rating in the first file: imdb_rating is nullable
        first = [movie(i, rating=i != 3) for i in range(50)]
        self.ingest("movies", self.write("a.ndjson", first), expect=EXIT_LOADED)
        self.assertTrue(self.schema("movies")["imdb_rating"][1])
        nested = [movie(i, rating_key="IMDB.rating", votes=True) for i in range(50, 80)]
        self.ingest("movies", self.write("b.ndjson", nested), expect=EXIT_QUARANTINED)
        s = self.schema("movies")
        self.assertNotIn("imdb__rating", s, "the nested member was added beside the flat column")
        self.assertIn("imdb__votes", s)  # a member that is new indeed heals by itself
        q = self.quarantine("--table", "movies")
        self.assertEqual(len(q), 30)
        self.assertIn("restructured", q[0]["message"])
        p = self.approve_only_pending()
        self.assertEqual(p["ops"][0]["op"], "add_field_mapping")
        self.assertEqual((p["ops"][0]["field"], p["ops"][0]["column"]),
                         ("IMDB__rating", "imdb_rating"))
        self.assertEqual(self.quarantine("--table", "movies"), [])
        got = dict(self.sql("SELECT title, imdb_rating FROM movies WHERE title >= 'Movie 050'"))
        self.assertEqual(got, {"Movie %03d" % i: rating_of(i) for i in range(50, 80)})
        self.assertEqual(self.sql("SELECT imdb__votes FROM movies WHERE title = 'Movie 060'"),
                         [(160,)])
        self.assertNotIn("imdb__rating", self.schema("movies"))
        self.assert_invariants("movies", 80)
        self.assertEqual(self.pm("audit", "verify", "--db", self.db).rc, 0)

    def test_nested_field_becomes_flat(self):
        first = [movie(i, rating_key="IMDB.rating", votes=True, rating=i != 5) for i in range(40)]
        first[5]["IMDB"] = {"votes": 105}
        self.ingest("movies", self.write("a.ndjson", first), expect=EXIT_LOADED)
        s = self.schema("movies")
        self.assertTrue(s["imdb__rating"][1])
        self.assertFalse(s["imdb__votes"][1])
        # the producer flattens the object and drops the vote count
        flat = [movie(i) for i in range(40, 60)]
        self.ingest("movies", self.write("b.ndjson", flat), expect=EXIT_QUARANTINED)
        s = self.schema("movies")
        self.assertNotIn("imdb_rating", s, "the flat field was added beside the nested column")
        p = self.approve_only_pending()
        self.assertEqual((p["ops"][0]["field"], p["ops"][0]["column"]),
                         ("IMDB Rating", "imdb__rating"))
        self.assertEqual(self.quarantine("--table", "movies"), [])
        got = dict(self.sql("SELECT title, imdb__rating FROM movies WHERE title >= 'Movie 040'"))
        self.assertEqual(got, {"Movie %03d" % i: rating_of(i) for i in range(40, 60)})
        self.assertNotIn("imdb_rating", self.schema("movies"))
        self.assert_invariants("movies", 60)
        self.assertEqual(self.pm("audit", "verify", "--db", self.db).rc, 0)


class TestMergeSplitColumn(E2E):
    """A split that did happen (here: a person rejected the suspected
    rename, so the new name got its own column) is mended by merge_column:
    values moved where the old column is NULL, the mapping recorded, the
    emptied column dropped only on approval."""
    proposals = TestRenamedOptionalField.proposals
    made_nullable_then_renamed = TestRenamedOptionalField.made_nullable_then_renamed

    def split(self):
        self.made_nullable_then_renamed()
        pid = self.proposals("pending")[0]["id"]
        self.assertEqual(self.pm("proposals", "reject", str(pid), "--db", self.db).rc, 0)
        self.assertIn("imdb_score", self.schema("movies"))
        self.assertEqual(self.sql("SELECT COUNT(*) FROM movies WHERE imdb_rating IS NULL"),
                         [(50,)])  # 10 without a rating, 40 split off

    def assert_mended(self):
        s = self.schema("movies")
        self.assertNotIn("imdb_score", s)
        self.assertNotIn("imdb_score", self.sql_columns("movies"))
        got = dict(self.sql("SELECT title, imdb_rating FROM movies WHERE title >= 'Movie 090'"))
        self.assertEqual(got, {"Movie %03d" % i: rating_of(i) for i in range(90, 130)})
        self.assertEqual(self.sql("SELECT COUNT(*) FROM movies WHERE imdb_rating IS NULL"),
                         [(10,)])
        # the producer's new name now loads into the old column
        self.ingest("movies", self.write("d.ndjson", [movie(i, rating_key="IMDB Score")
                                                      for i in range(130, 135)]),
                    expect=EXIT_LOADED)
        self.assertEqual(self.sql("SELECT imdb_rating FROM movies WHERE title = 'Movie 131'"),
                         [(rating_of(131),)])
        self.assert_invariants("movies", 135)
        self.assertEqual(self.pm("audit", "verify", "--db", self.db).rc, 0)

    def test_merge_from_the_cli_waits_for_approval_then_mends(self):
        self.split()
        r = self.pm("proposals", "merge", "movies", "imdb_score", "imdb_rating", "--db", self.db,
                    "--actor", "carol")
        self.assertEqual(r.rc, 0, r)
        self.assertIn("waits for a person", r.stdout)
        p = self.proposals("pending")
        self.assertEqual(len(p), 1, p)
        self.assertEqual(p[0]["ops"], [{"op": "merge_column", "table": "movies",
                                        "column": "imdb_rating", "field": "imdb_score"}])
        # nothing moved or dropped before the approval
        self.assertIn("imdb_score", self.schema("movies"))
        self.assertEqual(self.sql("SELECT COUNT(*) FROM movies WHERE imdb_score IS NOT NULL"),
                         [(40,)])
        r = self.pm("proposals", "approve", str(p[0]["id"]), "--db", self.db, "--actor", "carol")
        self.assertEqual(r.rc, 0, r)
        self.assert_mended()
        acts = [(e["actor"], e["action"]) for e in
                self.pm("audit", "log", "--db", self.db, "--json").json()]
        self.assertIn(("human:carol", "proposal.approved"), acts)

    def test_merge_of_a_bool_column_into_an_integer_column(self):
        # PostgreSQL has no assignment cast from boolean to integer: true
        # and false go in as 1 and 0, as SQLite stores them
        self.ingest("m", self.write("m1.ndjson", [{"id": 1, "active": 1}, {"id": 2, "active": 0},
                                                  {"id": 3, "active": None}]),
                    expect=EXIT_LOADED)
        self.ingest("m", self.write("m2.ndjson", [{"id": 4, "flag": True},
                                                  {"id": 5, "flag": False}]),
                    expect=EXIT_LOADED)
        self.assertEqual(self.schema("m")["flag"][0], "bool")
        r = self.pm("proposals", "merge", "m", "flag", "active", "--db", self.db)
        self.assertEqual(r.rc, 0, r)
        p = self.proposals("pending")
        self.assertEqual(len(p), 1, p)
        r = self.pm("proposals", "approve", str(p[0]["id"]), "--db", self.db)
        self.assertEqual(r.rc, 0, r)
        self.assertNotIn("flag", self.schema("m"))
        self.assertEqual(self.sql("SELECT id, active FROM m ORDER BY id"),
                         [(1, 1), (2, 0), (3, None), (4, 1), (5, 0)])
        self.assert_invariants("m", 5)

    def test_merge_refused_where_values_would_not_fit(self):
        self.split()
        r = self.pm("proposals", "merge", "movies", "title", "imdb_rating", "--db", self.db)
        self.assertNotEqual(r.rc, 0, r)
        self.assertIn("would not all fit", r.stderr)
        r = self.pm("proposals", "merge", "movies", "nope", "imdb_rating", "--db", self.db)
        self.assertNotEqual(r.rc, 0, r)
        self.assertIn("does not exist", r.stderr)
        self.assertEqual(self.proposals("pending"), [])

    def test_merge_refused_while_an_index_or_view_uses_the_dropped_column(self):
        """The merge drops its column: an index over it (which PostgreSQL
        would drop without a word) or a view on it refuses the merge by
        name, in the dry run and at approval; nothing moves or is lost."""
        self.split()
        self.sql_script("CREATE INDEX movies_score ON movies (imdb_score)",
                        "CREATE VIEW scores AS SELECT title, imdb_score FROM movies")
        r = self.pm("proposals", "merge", "movies", "imdb_score", "imdb_rating", "--db", self.db)
        p = self.proposals("pending")
        self.assertEqual(len(p), 1, (r, p))
        r = self.pm("proposals", "approve", str(p[0]["id"]), "--db", self.db)
        self.assertNotEqual(r.rc, 0, r)
        self.assertIn("cannot merge movies.imdb_score: the merge drops the column", r.stderr)
        self.assertIn("movies_score", r.stderr)
        self.assertIn("scores", r.stderr)
        self.assertIn("imdb_score", self.sql_columns("movies"))
        self.assertEqual(self.sql("SELECT COUNT(*) FROM movies WHERE imdb_score IS NOT NULL"),
                         [(40,)])
        self.assertEqual(self.sql("SELECT COUNT(*) FROM scores"), [(self.count("movies"),)])
        # once they are gone, the same merge applies
        self.sql_script("DROP VIEW scores", "DROP INDEX movies_score")
        r = self.pm("proposals", "approve", str(p[0]["id"]), "--db", self.db)
        self.assertEqual(r.rc, 0, r)
        self.assert_mended()

    def test_merge_through_mcp_is_proposed_not_applied(self):
        self.split()
        msgs = [{"jsonrpc": "2.0", "id": 0, "method": "initialize",
                 "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                            "clientInfo": {"name": "merge-e2e", "version": "1"}}},
                {"jsonrpc": "2.0", "method": "notifications/initialized"},
                {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                 "params": {"name": "propose_fix",
                            "arguments": {"table": "movies", "ops": [
                                {"op": "merge_column", "column": "imdb_rating",
                                 "field": "imdb_score"}]}}}]
        r = self.pm("mcp", "--db", self.db,
                    input="\n".join(json.dumps(m) for m in msgs) + "\n", timeout=120)
        self.assertEqual(r.rc, 0, r)
        resp = {m["id"]: m for m in map(json.loads, r.stdout.splitlines()) if "id" in m}
        res = resp[1]["result"]
        self.assertFalse(res["isError"], res)
        pid = res["structuredContent"]["proposal"]
        self.assertEqual(res["structuredContent"]["state"], "pending")
        # an agent cannot apply it: it is review class
        msgs[2] = {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                   "params": {"name": "apply_fix", "arguments": {"proposal": pid}}}
        r = self.pm("mcp", "--db", self.db,
                    input="\n".join(json.dumps(m) for m in msgs) + "\n", timeout=120)
        self.assertIn("imdb_score", self.schema("movies"))
        r = self.pm("proposals", "approve", str(pid), "--db", self.db)
        self.assertEqual(r.rc, 0, r)
        self.assert_mended()
