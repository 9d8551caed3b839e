"""Migrations for review: `proposals export` writes a numbered .sql with
the DDL exactly as pipemend runs it on this backend and a Markdown
description; `serve` with a pipeline's review: export_dir and
git_branch_prefix commits each waiting proposal on a branch of its own in a
real git repository, leaving the checked-out tree alone. Both backends."""
import json
import os
import signal
import subprocess
import time

from e2e_util import BIN, E2E, EXIT_LOADED, EXIT_QUARANTINED, clean_env

TOKEN = "review-token-" + "0123456789abcdef" * 3


class TestReview(E2E):
    def feeds(self):
        rows = [{"id": i, "name": "n%d" % i} for i in range(10)]
        self.write("d1.ndjson", "".join(json.dumps(r) + "\n" for r in rows))
        more = [{"id": 100 + i, "name": "m", "coupon": "C%d" % i} for i in range(5)]
        self.write("d2.ndjson", "".join(json.dumps(r) + "\n" for r in more))

    def pending(self):
        ps = self.pm("proposals", "list", "--db", self.db, "--json").json()
        return [p for p in ps if p["state"] == "pending"]

    def test_export_writes_the_ddl_that_approval_runs(self):
        self.feeds()
        self.ingest("t", self.path("d1.ndjson"), expect=EXIT_LOADED)
        self.ingest("t", self.path("d2.ndjson"), expect=EXIT_QUARANTINED,
                    extra=("--policy", "review"))
        [p] = self.pending()
        os.mkdir(self.path("mig"))
        r = self.pm("proposals", "export", str(p["id"]), "--dir", self.path("mig"),
                    "--db", self.db)
        self.assertEqual(r.rc, 0, r)
        base = "0001_pipemend_t_proposal_%d" % p["id"]
        self.assertEqual(sorted(os.listdir(self.path("mig"))), [base + ".md", base + ".sql"])
        sql = open(self.path("mig/%s.sql" % base)).read()
        self.assertRegex(sql, r'ALTER TABLE "(main|public)"\."t" ADD COLUMN "coupon"')
        md = open(self.path("mig/%s.md" % base)).read()
        self.assertIn("# Proposal %d: add column coupon" % p["id"], md)
        self.assertIn("class **auto**, waits for a person", md)  # made under --policy review
        self.assertIn('    {"id": 100', md)  # the feed's text, indented, never markup
        # again: the same number, rewritten
        self.assertEqual(self.pm("proposals", "export", str(p["id"]), "--dir",
                                 self.path("mig"), "--db", self.db).rc, 0)
        self.assertEqual(len(os.listdir(self.path("mig"))), 2)
        # the DDL of the file is what approving runs
        self.assertEqual(self.pm("proposals", "approve", str(p["id"]), "--db", self.db).rc, 0)
        self.assertIn("coupon", self.schema("t"))
        # errors say what to do
        r = self.pm("proposals", "export", "999", "--dir", self.path("mig"), "--db", self.db)
        self.assertEqual(r.rc, 1)
        self.assertIn("no proposal 999", r.stderr)
        r = self.pm("proposals", "export", str(p["id"]), "--db", self.db)
        self.assertEqual(r.rc, 2)
        self.assertIn("--dir", r.stderr)

    def git(self, *args, cwd=None):
        p = subprocess.run(["git", *args], cwd=cwd or self.path("repo"), capture_output=True,
                           text=True, env=clean_env({"HOME": self.path("home")}))
        self.assertEqual(p.returncode, 0, p.stderr)
        return p.stdout

    def test_serve_commits_each_waiting_proposal_on_its_own_branch(self):
        self.feeds()
        os.makedirs(self.path("repo"))
        os.makedirs(self.path("home"), exist_ok=True)
        self.git("init", "-q", "-b", "main")
        self.write("repo/README", "our schema changes\n")
        self.git("add", "README")
        self.git("-c", "user.name=t", "-c", "user.email=t@x", "commit", "-q", "-m", "start")
        self.write_config("pipelines:\n"
                          "  - name: p\n    source: d2.ndjson\n    table: t\n"
                          "    policy: review\n"
                          "    review:\n      export_dir: repo/migrations\n"
                          "      git_branch_prefix: pipemend/\n")
        self.ingest("t", self.path("d1.ndjson"), expect=EXIT_LOADED)
        self.assertEqual(self.pm("run", "p", "--db", self.db).rc, EXIT_QUARANTINED)
        [p] = self.pending()
        env = clean_env({"PIPEMEND_MCP_TOKEN": TOKEN, "HOME": self.path("home")})
        env.pop("XDG_CONFIG_HOME", None)
        proc = subprocess.Popen([BIN, "serve", "--db", self.db, "--listen", "127.0.0.1:0"],
                                cwd=self.tmp, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        try:
            branch = "pipemend/proposal-%d" % p["id"]
            deadline = time.time() + 40
            while time.time() < deadline:
                if subprocess.run(["git", "rev-parse", "--verify", "--quiet",
                                   "refs/heads/" + branch], cwd=self.path("repo"),
                                  capture_output=True).returncode == 0:
                    break
                time.sleep(0.3)
            else:
                self.fail("no branch %s" % branch)
        finally:
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=60)
        files = self.git("show", "--name-only", "--format=%s", branch).split()
        base = "migrations/0001_pipemend_t_proposal_%d" % p["id"]
        self.assertIn(base + ".sql", files)
        self.assertIn(base + ".md", files)
        self.assertIn("proposal %d on t for review" % p["id"],
                      self.git("log", "-1", "--format=%s", branch))
        sql = self.git("show", "%s:%s.sql" % (branch, base))
        self.assertIn('ADD COLUMN "coupon"', sql)
        # the checked-out tree and branch are as they were; no worktree left
        self.assertEqual(self.git("rev-parse", "--abbrev-ref", "HEAD").strip(), "main")
        self.assertFalse(os.path.exists(self.path("repo/migrations")))
        self.assertEqual(len(self.git("worktree", "list").splitlines()), 1)
        self.assertIn("for review", err)
