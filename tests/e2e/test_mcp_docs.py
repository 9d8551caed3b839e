"""`pipemend mcp docs` against what `pipemend mcp` serves: the committed
docs/MCP.md is exactly what the binary generates, and it documents the tools
tools/list returns (the same names in the same order, every argument, the
required ones marked), the resources, URI templates and prompts."""
import difflib
import json
import os
import re
import subprocess
import threading

import e2e_util
from e2e_util import REPO, SANITIZER_RE, E2E, clean_env, sqlite_only

DOCS = os.path.join(REPO, "docs", "MCP.md")
REGENERATE = "run `./build/release/pipemend mcp docs > docs/MCP.md`"


def rpc(id_, method, params=None):
    m = {"jsonrpc": "2.0", "id": id_, "method": method}
    if params is not None:
        m["params"] = params
    return m


INIT = rpc(1, "initialize", {"protocolVersion": "2025-11-25", "capabilities": {},
                             "clientInfo": {"name": "e2e", "version": "1"}})
INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}


def section(text, heading):
    """The body of a `## heading` section, up to the next `## `."""
    m = re.search(r"^## %s\n(.*?)(?=^## |\Z)" % re.escape(heading), text, re.M | re.S)
    return m.group(1) if m else None


def subsections(text):
    """[(name, body)] of the `### name` headings in text, in order."""
    parts = re.split(r"^### (.*)\n", text, flags=re.M)
    return list(zip(parts[1::2], parts[2::2]))


def table_rows(body):
    """{first cell without backticks: [cells]} of the Markdown table rows in
    body (cells split on the `|` that are not escaped)."""
    rows = {}
    for line in body.splitlines():
        if not line.startswith("| `"):
            continue
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        rows[cells[0].strip("`").replace("\\|", "|")] = cells
    return rows


@sqlite_only("the reference comes from the server's static tables; the warehouse plays no part")
class TestMcpDocs(E2E):
    def serve(self):
        """One `pipemend mcp` over pipes, asked request by request (a page's
        nextCursor decides the next request): {"tools": every page's tools,
        "resources", "templates", "prompts": the lists}."""
        p = subprocess.Popen([e2e_util.BIN, "mcp"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, cwd=self.tmp, env=clean_env())
        watchdog = threading.Timer(60, p.kill)
        watchdog.start()
        ids = iter(range(2, 10**6))

        def ask(msg):
            p.stdin.write((json.dumps(msg) + "\n").encode())
            p.stdin.flush()
            if "id" not in msg:
                return None
            line = p.stdout.readline()
            self.assertTrue(line, "pipemend mcp answered nothing to %r" % msg)
            resp = json.loads(line)
            self.assertEqual(resp.get("id"), msg["id"], resp)
            self.assertIn("result", resp, resp)
            return resp["result"]

        try:
            ask(INIT)
            ask(INITIALIZED)
            tools, cursor, pages = [], None, 0
            while True:
                page = ask(rpc(next(ids), "tools/list", {"cursor": cursor} if cursor else None))
                tools += page["tools"]
                pages += 1
                cursor = page.get("nextCursor")
                if not cursor:
                    break
                self.assertLess(pages, 1000, "tools/list never ends")
            got = {
                "tools": tools,
                "resources": ask(rpc(next(ids), "resources/list"))["resources"],
                "templates": ask(rpc(next(ids), "resources/templates/list"))["resourceTemplates"],
                "prompts": ask(rpc(next(ids), "prompts/list"))["prompts"],
            }
            p.stdin.close()
            self.assertEqual(p.wait(), 0)
            err = p.stderr.read().decode("utf-8", "replace")
        finally:
            watchdog.cancel()
            if p.poll() is None:
                p.kill()
                p.wait()
            for f in (p.stdout, p.stderr):
                f.close()
        m = SANITIZER_RE.search(err)
        self.assertIsNone(m, "sanitizer report from pipemend mcp:\n%s" % err[-6000:])
        return got

    def docs(self):
        r = self.pm("mcp", "docs")
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(r.err, b"", r)
        return r.out

    def test_committed_docs_are_current(self):
        out = self.docs()
        self.assertTrue(os.path.exists(DOCS), "docs/MCP.md is missing: %s" % REGENERATE)
        with open(DOCS, "rb") as f:
            committed = f.read()
        if out != committed:
            diff = difflib.unified_diff(
                committed.decode("utf-8", "replace").splitlines(),
                out.decode("utf-8", "replace").splitlines(),
                "docs/MCP.md", "pipemend mcp docs", lineterm="")
            self.fail("docs/MCP.md is not what `pipemend mcp docs` generates; %s\n%s"
                      % (REGENERATE, "\n".join(list(diff)[:60])))
        self.assertEqual(self.docs(), out, "two runs of `pipemend mcp docs` differ")

    def test_docs_match_what_is_served(self):
        text = self.docs().decode("utf-8")
        served = self.serve()
        self.assertIn("`pipemend mcp docs`", text.split("## ")[0])
        self.assertIn("do not edit by hand", text.split("## ")[0])

        tools_md = section(text, "Tools")
        self.assertIsNotNone(tools_md, "no `## Tools` section")
        sections = subsections(tools_md)
        self.assertEqual([name for name, _ in sections], [t["name"] for t in served["tools"]],
                         "the docs' tools are not tools/list's, in its order")

        for (name, body), tool in zip(sections, served["tools"]):
            if tool.get("title"):
                self.assertIn(tool["title"], body, name)
            if tool.get("description"):
                self.assertIn(tool["description"], body, name)
            a = tool["annotations"]
            yn = {True: "yes", False: "no"}
            self.assertIn("read-only %s, destructive %s, idempotent %s, open-world %s"
                          % (yn[a["readOnlyHint"]], yn[a["destructiveHint"]],
                             yn[a["idempotentHint"]], yn[a["openWorldHint"]]), body, name)
            schema = tool["inputSchema"]
            props = schema.get("properties", {})
            required = set(schema.get("required", []))
            rows = table_rows(body.split("Result:")[0])
            self.assertEqual(sorted(rows), sorted(props),
                             "tool %s: the Arguments table is not its inputSchema's properties" % name)
            for prop in props:
                self.assertEqual(rows[prop][2], "yes" if prop in required else "no",
                                 "tool %s: argument %s is %srequired" % (
                                     name, prop, "" if prop in required else "not "))
            for prop in tool.get("outputSchema", {}).get("properties", {}):
                self.assertIn("- `%s` (" % prop, body.split("Result:")[-1],
                              "tool %s: result property %s" % (name, prop))

        resources_md = section(text, "Resources")
        self.assertIsNotNone(resources_md, "no `## Resources` section")
        rows = table_rows(resources_md)
        for r in served["resources"]:
            self.assertIn(r["uri"], rows, "resource %s" % r["name"])
            self.assertEqual(rows[r["uri"]][1], "`%s`" % r["name"])
        for t in served["templates"]:
            self.assertIn(t["uriTemplate"], rows, "template %s" % t["name"])
            self.assertEqual(rows[t["uriTemplate"]][1], "`%s`" % t["name"])
        self.assertGreater(len(served["resources"]) + len(served["templates"]), 0)

        prompts_md = section(text, "Prompts")
        self.assertIsNotNone(prompts_md, "no `## Prompts` section")
        prompts = dict(subsections(prompts_md))
        self.assertEqual(list(prompts), [p["name"] for p in served["prompts"]])
        for p in served["prompts"]:
            args = table_rows(prompts[p["name"]])
            for a in p.get("arguments", []):
                self.assertIn(a["name"], args, "prompt %s" % p["name"])
                self.assertEqual(args[a["name"]][1], "yes" if a.get("required") else "no",
                                 "prompt %s, argument %s" % (p["name"], a["name"]))
