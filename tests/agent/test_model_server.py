#!/usr/bin/env python3
"""The scripted model server's own check (python3 tests/agent/test_model_server.py,
or `make agent-server-test`): urllib as the client, both dialects, every kind
of step, the record of requests and the script running out."""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model_server import ModelServer, call, finish, overloaded, rate_limited, tool_call  # noqa: E402

ANTHROPIC = "/v1/messages"
OPENAI = "/v1/chat/completions"


def post(url, body, headers=None, timeout=10):
    """(status, headers, parsed body or raw bytes)."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method="POST",
                                 headers=dict({"content-type": "application/json"}, **(headers or {})))
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            status, hdrs, raw = r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        status, hdrs, raw = e.code, dict(e.headers), e.read()
    try:
        return status, {k.lower(): v for k, v in hdrs.items()}, json.loads(raw)
    except ValueError:
        return status, {k.lower(): v for k, v in hdrs.items()}, raw


ASK = {"model": "m", "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}]}


class TestModelServer(unittest.TestCase):
    def server(self, script, **kw):
        s = ModelServer(script, **kw)
        self.addCleanup(s.close)
        return s

    def test_tool_calls_in_both_dialects(self):
        steps = [call(tool_call("get_incident", id=1), tool_call("list_tables"), text="looking")] * 2
        s = self.server(steps)
        st, _, a = post(s.url + ANTHROPIC, ASK, {"x-api-key": "k1"})
        self.assertEqual(st, 200)
        self.assertEqual(a["type"], "message")
        self.assertEqual(a["stop_reason"], "tool_use")
        self.assertEqual([b["type"] for b in a["content"]], ["text", "tool_use", "tool_use"])
        self.assertEqual(a["content"][0]["text"], "looking")
        self.assertEqual((a["content"][1]["name"], a["content"][1]["input"]), ("get_incident", {"id": 1}))
        self.assertNotEqual(a["content"][1]["id"], a["content"][2]["id"])
        self.assertEqual(a["usage"], {"input_tokens": 100, "output_tokens": 50})
        st, _, o = post(s.url + OPENAI, ASK, {"authorization": "Bearer k2"})
        self.assertEqual(st, 200)
        ch = o["choices"][0]
        self.assertEqual(ch["finish_reason"], "tool_calls")
        tc = ch["message"]["tool_calls"]
        self.assertEqual([t["function"]["name"] for t in tc], ["get_incident", "list_tables"])
        self.assertIsInstance(tc[0]["function"]["arguments"], str)
        self.assertEqual(json.loads(tc[0]["function"]["arguments"]), {"id": 1})
        self.assertEqual(tc[0]["type"], "function")
        self.assertEqual(o["usage"]["prompt_tokens"], 100)
        self.assertEqual(o["usage"]["completion_tokens"], 50)
        # the record
        self.assertEqual([(r.path, r.dialect) for r in s.requests],
                         [(ANTHROPIC, "anthropic"), (OPENAI, "openai")])
        self.assertEqual(s.requests[0].headers["x-api-key"], "k1")
        self.assertEqual(s.requests[1].headers["authorization"], "Bearer k2")
        self.assertEqual(s.requests[0].body, ASK)
        self.assertEqual(s.overrun, 0)

    def test_openai_path_without_v1(self):
        s = self.server([{"text": "ok"}])
        st, _, o = post(s.url + "/chat/completions", ASK)
        self.assertEqual((st, o["choices"][0]["message"]["content"]), (200, "ok"))
        self.assertEqual(o["choices"][0]["finish_reason"], "stop")

    def test_stop_reasons_and_their_finish_reasons(self):
        expect = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length",
                  "refusal": "content_filter", "model_context_window_exceeded": "length",
                  "pause_turn": "stop"}
        steps = []
        for stop in expect:
            steps += [{"text": "t", "stop_reason": stop}] * 2
        s = self.server(steps)
        for stop, fin in expect.items():
            _, _, a = post(s.url + ANTHROPIC, ASK)
            self.assertEqual(a["stop_reason"], stop)
            _, _, o = post(s.url + OPENAI, ASK)
            self.assertEqual(o["choices"][0]["finish_reason"], fin, stop)

    def test_max_tokens_cuts_the_tool_call(self):
        inp = {"table": "t", "ops": [{"op": "add_field_mapping", "column": "email"}]}
        cut = {"tool_calls": [{"name": "propose_fix", "input": {"table": "t"}}],
               "stop_reason": "max_tokens"}
        s = self.server([cut, {"tool_calls": [{"name": "propose_fix", "input": inp}],
                               "stop_reason": "max_tokens"}])
        _, _, a = post(s.url + ANTHROPIC, ASK)
        self.assertEqual(a["stop_reason"], "max_tokens")
        self.assertEqual(a["content"][-1]["type"], "tool_use")
        _, _, o = post(s.url + OPENAI, ASK)
        self.assertEqual(o["choices"][0]["finish_reason"], "length")
        args = o["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"]
        self.assertRaises(ValueError, json.loads, args)
        self.assertTrue(json.dumps(inp).startswith(args))

    def test_raw_answers(self):
        s = self.server([rate_limited(2), overloaded(), {"status": 500}, {"status": 400},
                         {"raw": "not json"}, {"close": True}, {"text": "after"}])
        st, h, b = post(s.url + ANTHROPIC, ASK)
        self.assertEqual((st, h["retry-after"], b["error"]["type"]), (429, "2", "rate_limit_error"))
        st, _, b = post(s.url + ANTHROPIC, ASK)
        self.assertEqual((st, b), (529, {"type": "error", "error": {"type": "overloaded_error",
                                                                    "message": "Overloaded"}}))
        st, _, b = post(s.url + ANTHROPIC, ASK)
        self.assertEqual((st, b["type"], b["error"]["type"]), (500, "error", "api_error"))
        st, _, b = post(s.url + OPENAI, ASK)
        self.assertEqual((st, b["error"]["type"]), (400, "invalid_request_error"))
        st, _, b = post(s.url + ANTHROPIC, ASK)
        self.assertEqual((st, b), (200, b"not json"))
        with self.assertRaises((urllib.error.URLError, ConnectionError, socket.error)):
            post(s.url + ANTHROPIC, ASK)
        st, _, b = post(s.url + ANTHROPIC, ASK)
        self.assertEqual((st, b["content"][0]["text"]), (200, "after"))
        self.assertEqual(len(s.requests), 7)

    def test_delay_makes_a_client_time_out(self):
        s = self.server([{"delay": 2, "text": "late"}, {"text": "on time"}])
        t0 = time.monotonic()
        with self.assertRaises((socket.timeout, urllib.error.URLError, TimeoutError)):
            post(s.url + ANTHROPIC, ASK, timeout=0.5)
        self.assertLess(time.monotonic() - t0, 1.5)
        st, _, b = post(s.url + ANTHROPIC, ASK)
        self.assertEqual(b["content"][0]["text"], "on time")

    def test_callable_step_reads_the_tool_results(self):
        def next_step(req):
            return call(tool_call("dry_run_fix", proposal=req.tool_result_json()["proposal"]))

        s = self.server([next_step, next_step])
        ask = dict(ASK, messages=[
            {"role": "user", "content": "packet"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1",
                                               "name": "propose_fix", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1",
                                          "content": [{"type": "text",
                                                       "text": '{"proposal": 7, "created": true}'}]}]}])
        _, _, a = post(s.url + ANTHROPIC, ask)
        self.assertEqual(a["content"][0]["input"], {"proposal": 7})
        self.assertEqual(s.requests[0].tool_results()[0]["id"], "toolu_1")
        ask = dict(ASK, messages=[
            {"role": "user", "content": "packet"},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "call_1", "type": "function",
                 "function": {"name": "propose_fix", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": 'cut note {"proposal": 9}'}])
        _, _, o = post(s.url + OPENAI, ask)
        args = json.loads(o["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"])
        self.assertEqual(args, {"proposal": 9})
        self.assertEqual(s.requests[1].first_user_text(), "packet")

    def test_usage_per_step(self):
        s = self.server([finish("no_action", usage={"input_tokens": 7, "output_tokens": 3})] * 2)
        _, _, a = post(s.url + ANTHROPIC, ASK)
        self.assertEqual(a["usage"], {"input_tokens": 7, "output_tokens": 3})
        self.assertEqual(a["content"][0]["name"], "finish")
        _, _, o = post(s.url + OPENAI, ASK)
        self.assertEqual((o["usage"]["prompt_tokens"], o["usage"]["completion_tokens"]), (7, 3))

    def test_the_script_running_out_is_a_clear_500(self):
        s = self.server([{"text": "one"}])
        post(s.url + ANTHROPIC, ASK)
        st, _, b = post(s.url + ANTHROPIC, ASK)
        self.assertEqual(st, 500)
        self.assertIn("the script ran out", b["error"]["message"])
        st, _, b = post(s.url + OPENAI, ASK)
        self.assertIn("the script ran out", b["error"]["message"])
        self.assertEqual(s.overrun, 2)

    def test_unknown_path_is_404(self):
        s = self.server([{"text": "kept"}])
        st, _, b = post(s.url + "/v1/complete", ASK)
        self.assertEqual(st, 404)
        self.assertEqual(s.remaining(), 1, "a wrong path does not use a step")

    def test_standalone(self):
        d = tempfile.mkdtemp(prefix="pm-ms-")
        self.addCleanup(shutil.rmtree, d, True)
        script = os.path.join(d, "s.json")
        with open(script, "w") as f:
            json.dump([{"text": "from a file"}], f)
        pf, log = os.path.join(d, "port"), os.path.join(d, "log.jsonl")
        p = subprocess.Popen([sys.executable, os.path.join(os.path.dirname(__file__), "model_server.py"),
                              "--script", script, "--port-file", pf, "--log", log],
                             stderr=subprocess.PIPE)
        try:
            for _ in range(100):
                if os.path.exists(pf):
                    break
                time.sleep(0.05)
            with open(pf) as f:
                port = int(f.read())
            st, _, b = post("http://127.0.0.1:%d%s" % (port, ANTHROPIC), ASK)
            self.assertEqual(b["content"][0]["text"], "from a file")
        finally:
            p.terminate()
            err = p.communicate(timeout=10)[1].decode()
        self.assertEqual(p.returncode, 0, err)
        self.assertIn("1 requests, 0 beyond the script", err)
        with open(log) as f:
            self.assertEqual(json.loads(f.readline())["body"], ASK)


if __name__ == "__main__":
    unittest.main(verbosity=2)
