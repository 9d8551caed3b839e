#!/usr/bin/env python3
"""A scripted model server on loopback, for testing pipemend's agent without
a network: it speaks the Anthropic Messages API (POST /v1/messages) and the
OpenAI chat-completions API (POST /v1/chat/completions, also
/chat/completions), and answers each request with the next step of a
script, in the dialect of the request's path.

From a test (standard library only; the server runs in a thread):

    srv = ModelServer([
        {"tool_calls": [{"name": "get_incident", "input": {"id": 1}}]},
        lambda req: {"tool_calls": [{"name": "dry_run_fix",
                                     "input": {"proposal": req.tool_result_json()["proposal"]}}]},
        {"text": "done", "stop_reason": "end_turn"},
    ])
    ... point base_url at srv.url (anthropic) or srv.url + "/v1" (openai) ...
    srv.requests        # every request: .path, .headers, .body (parsed), .raw, .dialect
    srv.overrun         # requests that came after the script ran out
    srv.close()

Standalone (serves until SIGINT / SIGTERM):

    python3 tests/agent/model_server.py --script FILE.json [--port N] \
        [--port-file F] [--log REQUESTS.jsonl] [--repeat-last]

A step (a dict, or a callable taking the Request and returning one):

  {"tool_calls": [{"name": N, "input": {...}}, ...], "text": "optional"}
      anthropic: a text block (when text) and one tool_use block per call
      (ids generated), stop_reason tool_use; openai: message.tool_calls with
      function.arguments as a JSON string, finish_reason tool_calls.
      "id" in a call fixes its id; "arguments" (a string) in a call is sent
      as given (openai: function.arguments; anthropic: input stays as given).
  {"text": "...", "stop_reason": "end_turn"}
      any stop_reason: end_turn, tool_use, max_tokens, stop_sequence,
      pause_turn, refusal, model_context_window_exceeded. openai's
      finish_reason is mapped (STOP_TO_FINISH below) or given as
      "finish_reason". A max_tokens step may carry tool_calls: the call is
      cut (anthropic: the input given, which the test makes partial;
      openai: function.arguments cut in the middle of its JSON).
  {"status": 429, "headers": {"retry-after": "1"}, "body": {...}}
      a raw answer; without "body", an error body in the dialect's shape
      (overloaded() and rate_limited() below build the common ones).
  {"delay": SECONDS, ...}   sleep first (the rest of the step then answers)
  {"raw": "not json"}       this body as given, status 200 unless "status"
  {"close": true}           drop the connection without answering
  "usage": {"input_tokens": N, "output_tokens": M}   per step (default
      100 / 50), sent as usage.input_tokens/output_tokens (anthropic) or
      usage.prompt_tokens/completion_tokens (openai).

A request beyond the script is answered 500 with an error body saying that
the script ran out (counted in .overrun), so a test sees it.
"""
import argparse
import itertools
import json
import os
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ANTHROPIC_PATHS = ("/v1/messages",)
OPENAI_PATHS = ("/v1/chat/completions", "/chat/completions")

DEFAULT_USAGE = {"input_tokens": 100, "output_tokens": 50}

# anthropic stop_reason -> openai finish_reason, where openai has one
STOP_TO_FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "tool_use": "tool_calls",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "refusal": "content_filter",
    "pause_turn": "stop",  # openai has no pause; the nearest is a plain stop
}

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


def overloaded(**extra):
    """Anthropic's 529 overloaded answer."""
    s = {"status": 529, "body": {"type": "error",
                                 "error": {"type": "overloaded_error", "message": "Overloaded"}}}
    s.update(extra)
    return s


def rate_limited(retry_after=1, **extra):
    """A 429 with a retry-after header (seconds)."""
    s = {"status": 429, "headers": {"retry-after": str(retry_after)}}
    s.update(extra)
    return s


def tool_call(name, **input):
    return {"name": name, "input": input}


def call(*calls, text=None, **extra):
    """A step that calls tools: call(tool_call("get_incident", id=1), ...)."""
    s = {"tool_calls": list(calls)}
    if text is not None:
        s["text"] = text
    s.update(extra)
    return s


def finish(outcome, rationale="", confidence=0.5, proposal=None, **extra):
    """A step that calls pipemend's finish tool."""
    inp = {"outcome": outcome, "rationale": rationale, "confidence": confidence}
    if proposal is not None:
        inp["proposal"] = proposal
    s = {"tool_calls": [{"name": "finish", "input": inp}]}
    s.update(extra)
    return s


def _text_of(content):
    """The text of a message's content: a string, or content blocks."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        out = []
        for b in content:
            if isinstance(b, dict):
                if b.get("type") == "text" or "text" in b:
                    out.append(str(b.get("text", "")))
                elif b.get("type") == "tool_result":
                    out.append(_text_of(b.get("content")))
            elif isinstance(b, str):
                out.append(b)
        return "\n".join(out)
    return json.dumps(content)


def loose_json(text):
    """The first JSON object in text (the whole text when it is one): a tool
    result may come with a note around it."""
    try:
        return json.loads(text)
    except (ValueError, TypeError):
        pass
    dec = json.JSONDecoder()
    i = text.find("{")
    while i >= 0:
        try:
            return dec.raw_decode(text, i)[0]
        except ValueError:
            i = text.find("{", i + 1)
    return None


class Request:
    """One request the server received."""

    def __init__(self, n, method, path, headers, raw):
        self.n = n                      # 0-based arrival order
        self.at = time.monotonic()
        self.method = method
        self.path = path
        self.headers = headers          # {lowercased name: value}
        self.raw = raw                  # the body's bytes
        try:
            self.body = json.loads(raw.decode("utf-8")) if raw else None
        except (ValueError, UnicodeDecodeError):
            self.body = None
        if path in ANTHROPIC_PATHS:
            self.dialect = "anthropic"
        elif path in OPENAI_PATHS:
            self.dialect = "openai"
        else:
            self.dialect = None

    @property
    def messages(self):
        b = self.body if isinstance(self.body, dict) else {}
        return b.get("messages") or []

    def system_text(self):
        """anthropic: the system parameter; openai: the system message(s)."""
        b = self.body if isinstance(self.body, dict) else {}
        if self.dialect == "anthropic":
            return _text_of(b.get("system"))
        return "\n".join(_text_of(m.get("content")) for m in self.messages
                         if m.get("role") in ("system", "developer"))

    def first_user_text(self):
        for m in self.messages:
            if m.get("role") == "user":
                return _text_of(m.get("content"))
        return ""

    def tool_names(self):
        b = self.body if isinstance(self.body, dict) else {}
        out = []
        for t in b.get("tools") or []:
            if self.dialect == "openai":
                out.append((t.get("function") or {}).get("name"))
            else:
                out.append(t.get("name"))
        return out

    def tool_schema(self, name):
        b = self.body if isinstance(self.body, dict) else {}
        for t in b.get("tools") or []:
            if self.dialect == "openai":
                f = t.get("function") or {}
                if f.get("name") == name:
                    return f.get("parameters")
            elif t.get("name") == name:
                return t.get("input_schema")
        return None

    def tool_results(self):
        """The tool results this request carries back to the model (the last
        turn's): [{"id", "content" (text), "is_error"}], in order."""
        msgs = self.messages
        if self.dialect == "openai":
            out = []
            for m in reversed(msgs):
                if m.get("role") != "tool":
                    break
                out.append({"id": m.get("tool_call_id"), "content": _text_of(m.get("content")),
                            "is_error": None})
            return list(reversed(out))
        for m in reversed(msgs):
            if m.get("role") != "user":
                continue
            c = m.get("content")
            if not isinstance(c, list):
                return []
            return [{"id": b.get("tool_use_id"), "content": _text_of(b.get("content")),
                     "is_error": bool(b.get("is_error", False))}
                    for b in c if isinstance(b, dict) and b.get("type") == "tool_result"]
        return []

    def tool_result_json(self, i=-1):
        """Tool result i of this request, parsed (loosely) as JSON."""
        rs = self.tool_results()
        if not rs:
            raise AssertionError("request %d carries no tool result" % self.n)
        return loose_json(rs[i]["content"])

    def as_json(self):
        return {"n": self.n, "method": self.method, "path": self.path, "headers": self.headers,
                "body": self.body if self.body is not None else self.raw.decode("utf-8", "replace")}


class ModelServer:
    """The server: ModelServer(script).url ... .close(). Also a context
    manager."""

    def __init__(self, script=(), host="127.0.0.1", port=0, repeat_last=False, log=None):
        self.script = list(script)
        self.repeat_last = repeat_last
        self.requests = []
        self.overrun = 0
        self.errors = []                 # exceptions raised by callable steps
        self._lock = threading.Lock()
        self._next = 0
        self._ids = itertools.count(1)
        self._closing = threading.Event()
        self._log = log
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, fmt, *args):
                pass

            def do_GET(self):
                server._handle(self, "GET")

            def do_POST(self):
                server._handle(self, "POST")

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = "http://%s:%d" % (host, self.port)
        self._thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), name="model-server",
                                        daemon=True)
        self._thread.start()

    # ---- the script -------------------------------------------------------

    def extend(self, steps):
        with self._lock:
            self.script.extend(steps)

    def remaining(self):
        with self._lock:
            return len(self.script) - self._next

    def _take(self):
        with self._lock:
            if self._next < len(self.script):
                s = self.script[self._next]
                self._next += 1
                return s, self._next - 1
            if self.repeat_last and self.script:
                return self.script[-1], len(self.script) - 1
            self.overrun += 1
            return None, self._next

    # ---- serving -----------------------------------------------------------

    def _handle(self, h, method):
        path = h.path.split("?", 1)[0]
        n = int(h.headers.get("content-length") or 0)
        raw = h.rfile.read(n) if n > 0 else b""
        headers = {k.lower(): v for k, v in h.headers.items()}
        with self._lock:
            req = Request(len(self.requests), method, path, headers, raw)
            self.requests.append(req)
        if self._log:
            with self._lock, open(self._log, "a") as f:
                f.write(json.dumps(req.as_json()) + "\n")
        if method != "POST" or req.dialect is None:
            return self._send(h, 404, {"type": "error", "error": {
                "type": "not_found_error",
                "message": "model_server: no such endpoint %s %s (POST /v1/messages or "
                           "/v1/chat/completions)" % (method, path)}}, req.dialect)
        step, idx = self._take()
        if step is None:
            msg = ("model_server: the script ran out: request %d (%s %s) has no step; the script "
                   "has %d" % (req.n + 1, method, path, len(self.script)))
            return self._send(h, 500, self._error_body(req.dialect, 500, msg), req.dialect)
        if callable(step):
            try:
                step = step(req)
            except Exception as e:  # a test's callable failed: say so to both sides
                self.errors.append("step %d: %r" % (idx, e))
                msg = "model_server: step %d raised %r" % (idx, e)
                return self._send(h, 500, self._error_body(req.dialect, 500, msg), req.dialect)
        req.step = step
        delay = step.get("delay")
        if delay:
            if self._closing.wait(float(delay)):
                return self._drop(h)
        if step.get("close"):
            return self._drop(h)
        if "raw" in step:
            body = step["raw"]
            if isinstance(body, str):
                body = body.encode("utf-8")
            return self._send_bytes(h, step.get("status", 200), body, step.get("headers"),
                                    "application/json")
        if "status" in step:
            body = step.get("body")
            if body is None:
                body = self._error_body(req.dialect, step["status"],
                                        "model_server: scripted HTTP %d" % step["status"])
            return self._send(h, step["status"], body, req.dialect, step.get("headers"))
        if req.dialect == "anthropic":
            body = self._anthropic(req, step)
        else:
            body = self._openai(req, step)
        return self._send(h, 200, body, req.dialect, step.get("headers"))

    def _error_body(self, dialect, status, message):
        if dialect == "openai":
            return {"error": {"message": message, "type": ERROR_TYPES.get(status, "api_error"),
                              "code": None}}
        return {"type": "error", "error": {"type": ERROR_TYPES.get(status, "api_error"),
                                           "message": message}}

    def _usage(self, step):
        u = dict(DEFAULT_USAGE)
        u.update(step.get("usage") or {})
        return u

    def _new_id(self, prefix):
        return "%s%06d" % (prefix, next(self._ids))

    def _anthropic(self, req, step):
        content = []
        if step.get("text") is not None:
            content.append({"type": "text", "text": step["text"]})
        calls = step.get("tool_calls") or []
        for c in calls:
            inp = c.get("input", {})
            content.append({"type": "tool_use", "id": c.get("id") or self._new_id("toolu_"),
                            "name": c["name"], "input": inp})
        stop = step.get("stop_reason") or ("tool_use" if calls else "end_turn")
        if "content" in step:  # content blocks as given
            content = step["content"]
        u = self._usage(step)
        model = (req.body or {}).get("model") if isinstance(req.body, dict) else None
        return {"id": self._new_id("msg_"), "type": "message", "role": "assistant",
                "model": model or "scripted", "content": content, "stop_reason": stop,
                "stop_sequence": step.get("stop_sequence"),
                "usage": {"input_tokens": u["input_tokens"], "output_tokens": u["output_tokens"]}}

    def _openai(self, req, step):
        calls = step.get("tool_calls") or []
        stop = step.get("stop_reason") or ("tool_use" if calls else "end_turn")
        finish = step.get("finish_reason") or STOP_TO_FINISH.get(stop, "stop")
        msg = {"role": "assistant", "content": step.get("text")}
        if calls:
            tcs = []
            for c in calls:
                args = c["arguments"] if "arguments" in c else json.dumps(c.get("input", {}))
                if stop == "max_tokens" and "arguments" not in c:
                    args = args[: max(1, len(args) // 2)]  # cut in the middle
                tcs.append({"id": c.get("id") or self._new_id("call_"), "type": "function",
                            "function": {"name": c["name"], "arguments": args}})
            msg["tool_calls"] = tcs
        if stop == "refusal":
            msg["refusal"] = step.get("text") or "I can't help with that."
        u = self._usage(step)
        model = (req.body or {}).get("model") if isinstance(req.body, dict) else None
        return {"id": self._new_id("chatcmpl-"), "object": "chat.completion",
                "created": int(time.time()), "model": model or "scripted",
                "choices": [{"index": 0, "message": msg, "finish_reason": finish,
                             "logprobs": None}],
                "usage": {"prompt_tokens": u["input_tokens"],
                          "completion_tokens": u["output_tokens"],
                          "total_tokens": u["input_tokens"] + u["output_tokens"]}}

    def _send(self, h, status, body, dialect, headers=None):
        data = json.dumps(body).encode("utf-8")
        return self._send_bytes(h, status, data, headers, "application/json")

    def _send_bytes(self, h, status, data, headers, ctype):
        try:
            h.send_response(status)
            h.send_header("content-type", ctype)
            h.send_header("content-length", str(len(data)))
            for k, v in (headers or {}).items():
                h.send_header(k, str(v))
            h.end_headers()
            h.wfile.write(data)
            h.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (its timeout): nothing to answer

    def _drop(self, h):
        h.close_connection = True
        try:
            h.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    # ---- the end -----------------------------------------------------------

    def close(self):
        self._closing.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def main(argv=None):
    ap = argparse.ArgumentParser(description="a scripted model server on loopback "
                                             "(Anthropic Messages and OpenAI chat completions)")
    ap.add_argument("--script", required=True, help="a JSON file: a list of steps")
    ap.add_argument("--port", type=int, default=0, help="the port (default: a free one)")
    ap.add_argument("--port-file", help="write the port here once listening")
    ap.add_argument("--log", help="append every request as one JSON line to this file")
    ap.add_argument("--repeat-last", action="store_true",
                    help="answer every request after the script with its last step")
    a = ap.parse_args(argv)
    with open(a.script) as f:
        script = json.load(f)
    if not isinstance(script, list):
        sys.stderr.write("model_server: %s must hold a JSON list of steps\n" % a.script)
        return 2
    srv = ModelServer(script, port=a.port, repeat_last=a.repeat_last, log=a.log)
    if a.port_file:
        tmp = a.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % srv.port)
        os.replace(tmp, a.port_file)
    sys.stderr.write("model_server: listening on %s (%d steps)\n" % (srv.url, len(script)))
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    done.wait()
    srv.close()
    sys.stderr.write("model_server: %d requests, %d beyond the script\n"
                     % (len(srv.requests), srv.overrun))
    return 0


if __name__ == "__main__":
    sys.exit(main())
