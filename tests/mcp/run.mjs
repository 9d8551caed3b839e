// Runs the MCP client tests with node's own test runner (`node --test`, TAP
// output, one file at a time) and closes with one line
// `mcp-test: N passed, N failed, N skipped`; exits non-zero on any failure
// or when no test ran. Works on Node 18 (Debian 12's) and later.
// Usage: node run.mjs [FILE.test.mjs ...]   (PIPEMEND_BIN picks the binary)
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const files = process.argv.slice(2).length
  ? process.argv.slice(2).map((f) => path.resolve(f))
  : fs.readdirSync(here).filter((f) => f.endsWith(".test.mjs")).sort().map((f) => path.join(here, f));

const child = spawn(process.execPath, ["--test", "--test-reporter=tap", "--test-concurrency=1", ...files], {
  cwd: here,
  stdio: ["ignore", "pipe", "inherit"],
});
let tap = "";
child.stdout.on("data", (b) => {
  tap += b;
  process.stdout.write(b);
});
// Counts the tests from the TAP lines (node's own "# pass" counts suites too):
// a suite counts only when it fails by itself (say, in its before hook).
function count(text) {
  const c = { passed: 0, failed: 0, skipped: 0 };
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const m = lines[i].match(/^\s*(not ok|ok) \d+ - .*?(# SKIP\b.*)?$/);
    if (!m) continue;
    let yaml = "";
    for (let j = i + 1; j < lines.length && !/^\s*\.\.\.$/.test(lines[j]) && !/^\s*(not )?ok \d+/.test(lines[j]); j++) yaml += lines[j] + "\n";
    const suite = /type: 'suite'/.test(yaml);
    if (m[1] === "not ok") {
      if (!(suite && /failureType: 'subtestsFailed'/.test(yaml))) c.failed++;
    } else if (!suite) {
      if (m[2]) c.skipped++;
      else c.passed++;
    }
  }
  return c;
}

child.on("close", (code) => {
  const { passed, failed, skipped } = count(tap);
  console.log(`mcp-test: ${passed} passed, ${failed} failed, ${skipped} skipped`);
  process.exitCode = code !== 0 || failed > 0 || passed === 0 ? 1 : 0;
});
