#!/usr/bin/env python3
"""A scripted, strict fake of the Anthropic Messages API and AWS Bedrock's
InvokeModel / InvokeModelWithResponseStream, for porch's tests.

It speaks the public wire formats: Messages API JSON and SSE (with `event:`
lines), Bedrock's Anthropic body and its binary event stream (CRC-checked
frames whose payload is {"bytes": base64(event JSON)}). Faithful enough for
the real Claude Code CLI to complete sessions against it.

Usage:
  fake_llm_server.py --script S.json --port-file F [--log L.jsonl]
                     [--api-key KEY] [--bedrock-skip-auth] [--imds-role ROLE]

Binds 127.0.0.1 on a free port and writes the port to --port-file. Every
request is appended to --log as one JSON line {method, path, headers, body}.

Script: {"rules": [{"match": "text", "responses": [R, ...]}, ...]}
A request is answered by the first rule whose "match" (absent: matches all)
is a substring of the request's last user turn (its text and tool results)
and that has responses left; a rule's responses are used in order, the last
one repeating unless the rule says "once": true. Responses R:
  {"text": "..."}                                  a text answer
  {"tool_use": {"name": N, "input": {...}}}        one tool call (optional "text" before it)
  {"tool_uses": [{"name": N, "input": {...}}, ...]}
  {"status": 429, "retry_after": 1}                an HTTP error (429, 500, 529, 400...)
  {"malformed": true}                              200 with a body that is not JSON
  {"broken_stream": true}                          a stream cut off mid-message
  {"hang": SECONDS}                                wait, then close without answering
A response may wait for something first (at most GATE_SECONDS, then it
answers anyway): "after_request": S until a request whose last user turn
holds S has arrived; "after_file": P until the file P exists, and with
"after_text": S until it holds S. Tests order concurrent agents with these
rather than with delays a loaded machine may not keep.
Any response may carry "delay": SECONDS to answer late, "stop_reason": R to
answer with that stop reason (refusal, pause_turn, max_tokens...), and
"truncate_below": N: when the request's max_tokens is below N the answer is
cut off as the real API cuts it: stop_reason max_tokens and the last tool
call's input JSON ending halfway (streams only).

Strict like the real API: 401 without x-api-key (Messages API), 400 for a
missing anthropic-version, missing model or max_tokens, empty messages,
roles that do not alternate starting with "user", and tool_result blocks
whose tool_use_id is not among the previous assistant turn's tool_use ids.
"""

import argparse
import base64
import binascii
import http.server
import json
import os
import re
import signal
import socketserver
import struct
import sys
import threading
import time


def crc32(data):
    return binascii.crc32(data) & 0xFFFFFFFF


def event_stream_frame(headers, payload):
    hbytes = b""
    for name, value in headers.items():
        n = name.encode()
        v = value.encode()
        hbytes += struct.pack(">B", len(n)) + n + b"\x07" + struct.pack(">H", len(v)) + v
    total = 12 + len(hbytes) + len(payload) + 4
    prelude = struct.pack(">II", total, len(hbytes))
    prelude += struct.pack(">I", crc32(prelude))
    msg = prelude + hbytes + payload
    return msg + struct.pack(">I", crc32(msg))


class Script:
    def __init__(self, path):
        with open(path) as f:
            self.rules = json.load(f).get("rules", [])
        for r in self.rules:
            r["_next"] = 0
        self.lock = threading.Lock()
        self.seen_prefixes = set()
        self.texts = []  # the last user turn of every request so far
        self.arrived = threading.Condition(self.lock)

    def wait_for_request(self, needle, seconds):
        """Waits until a request whose last user turn holds `needle` arrived."""
        deadline = time.monotonic() + seconds
        with self.arrived:
            while not any(needle in t for t in self.texts):
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                self.arrived.wait(left)

    def pick(self, text):
        with self.lock:
            self.texts.append(text)
            self.arrived.notify_all()
            for r in self.rules:
                m = r.get("match")
                if m is not None and m not in text:
                    continue
                responses = r.get("responses", [])
                if not responses:
                    continue
                i = r["_next"]
                if i >= len(responses):
                    if r.get("once"):
                        continue
                    i = len(responses) - 1
                r["_next"] = i + 1
                return responses[i]
        return {"text": "(fake server: no rule matched)"}


GATE_SECONDS = 120


def wait_for_gates(script, r):
    if "after_request" in r:
        script.wait_for_request(r["after_request"], GATE_SECONDS)
    if "after_file" in r:
        deadline = time.monotonic() + GATE_SECONDS
        while time.monotonic() < deadline:
            try:
                with open(r["after_file"], encoding="utf-8", errors="replace") as f:
                    if r.get("after_text", "") in f.read():
                        return
            except OSError:
                pass
            time.sleep(0.02)


def last_user_text(messages):
    for m in reversed(messages):
        if m.get("role") != "user":
            continue
        c = m.get("content")
        if isinstance(c, str):
            return c
        parts = []
        for b in c or []:
            if b.get("type") == "text":
                parts.append(b.get("text", ""))
            elif b.get("type") == "tool_result":
                rc = b.get("content")
                if isinstance(rc, str):
                    parts.append(rc)
                elif isinstance(rc, list):
                    parts.extend(x.get("text", "") for x in rc if isinstance(x, dict))
        return "\n".join(parts)
    return ""


def validate(body, bedrock, betas=""):
    """Returns an error message, or None when the request is acceptable.

    With the beta "mid-conversation-system" (sent by Claude Code), messages
    may also have the role "system"; they are left out of the turn checks."""
    if not bedrock and not body.get("model"):
        return "model: field required"
    if "max_tokens" not in body:
        return "max_tokens: field required"
    if bedrock:
        if body.get("anthropic_version") != "bedrock-2023-05-31":
            return "anthropic_version must be bedrock-2023-05-31"
        for key in ("model", "stream"):
            if key in body:
                return "extraneous key [%s] is not permitted" % key
    msgs = body.get("messages")
    if not isinstance(msgs, list) or not msgs:
        return "messages: at least one message is required"
    expected = "user"
    prev_tool_ids = set()
    for i, m in enumerate(msgs):
        role = m.get("role")
        if role == "system" and "mid-conversation-system" in betas:
            if not m.get("content"):
                return "messages.%d.content: must not be empty" % i
            continue
        if role not in ("user", "assistant"):
            return "messages.%d.role: must be user or assistant" % i
        if role != expected:
            return "messages: roles must alternate between user and assistant, starting with user"
        content = m.get("content")
        if content is None or content == [] or content == "":
            return "messages.%d.content: must not be empty" % i
        blocks = content if isinstance(content, list) else []
        if role == "user":
            for b in blocks:
                if b.get("type") == "tool_result" and b.get("tool_use_id") not in prev_tool_ids:
                    return ("messages.%d: tool_result block(s) provided when previous message does "
                            "not contain matching tool_use ids" % i)
            prev_tool_ids = set()
        else:
            prev_tool_ids = {b.get("id") for b in blocks if b.get("type") == "tool_use"}
        expected = "assistant" if role == "user" else "user"
    return None


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-llm/1"
    counter = 0
    counter_lock = threading.Lock()

    def log_message(self, fmt, *args):
        pass

    def _log(self, body_text):
        if not self.server.log_path:
            return
        entry = {
            "method": self.command,
            "path": self.path,
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "body": body_text,
        }
        with self.server.log_lock, open(self.server.log_path, "a") as f:
            f.write(json.dumps(entry) + "\n")

    def _send(self, status, body, ctype="application/json", extra=None):
        data = body if isinstance(body, bytes) else body.encode()
        self.send_response(status)
        self.send_header("content-type", ctype)
        self.send_header("content-length", str(len(data)))
        self.send_header("request-id", "req_fake")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status, etype, message, extra=None):
        self._send(status, json.dumps({"type": "error", "error": {"type": etype, "message": message}}),
                   extra=extra)

    def do_HEAD(self):
        self._log("")
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    # The EC2 instance metadata service (with --imds-role): IMDSv2 only, as
    # instances configured to require tokens answer.
    IMDS_TOKEN = "fake-imds-token"

    def do_PUT(self):
        length = int(self.headers.get("content-length", "0"))
        self.rfile.read(length)
        self._log("")
        if self.server.imds_role is None or self.path != "/latest/api/token":
            return self._send(404, "not found", "text/plain")
        if not self.headers.get("x-aws-ec2-metadata-token-ttl-seconds"):
            return self._send(400, "missing ttl", "text/plain")
        self._send(200, self.IMDS_TOKEN, "text/plain")

    def do_GET(self):
        self._log("")
        base = "/latest/meta-data/iam/security-credentials/"
        if self.server.imds_role is not None and self.path.startswith(base):
            if self.headers.get("x-aws-ec2-metadata-token") != self.IMDS_TOKEN:
                return self._send(401, "", "text/plain")
            rest = self.path[len(base):]
            if rest == "":
                return self._send(200, self.server.imds_role, "text/plain")
            if rest != self.server.imds_role:
                return self._send(404, "not found", "text/plain")
            ends = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 6 * 3600))
            return self._send(200, json.dumps({
                "Code": "Success", "Type": "AWS-HMAC", "AccessKeyId": "ASIAFAKEIMDS",
                "SecretAccessKey": "imds-secret", "Token": "imds-session-token", "Expiration": ends}))
        self._send(404, json.dumps({"message": "not found"}))

    def do_POST(self):
        length = int(self.headers.get("content-length", "0"))
        raw = self.rfile.read(length).decode("utf-8", "replace")
        self._log(raw)
        path = self.path.split("?")[0]
        bedrock = path.startswith("/model/")
        try:
            body = json.loads(raw)
        except ValueError:
            return self._error(400, "invalid_request_error", "body is not JSON")
        if bedrock:
            auth = self.headers.get("authorization", "")
            if not self.server.bedrock_skip_auth and not auth.startswith("AWS4-HMAC-SHA256 Credential="):
                return self._send(403, json.dumps({"message": "Missing Authentication Token"}))
            if not self.server.bedrock_skip_auth and not self.headers.get("x-amz-date"):
                return self._send(403, json.dumps({"message": "missing x-amz-date"}))
            m = re.match(r"^/model/([^/]+)/(invoke|invoke-with-response-stream)$", path)
            if not m:
                return self._send(404, json.dumps({"message": "unknown operation"}))
            stream = m.group(2) == "invoke-with-response-stream"
            model = m.group(1)
        elif path == "/v1/messages":
            key = self.headers.get("x-api-key")
            if not key or (self.server.api_key is not None and key != self.server.api_key):
                return self._error(401, "authentication_error", "invalid x-api-key")
            if not self.headers.get("anthropic-version"):
                return self._error(400, "invalid_request_error", "anthropic-version: header is required")
            stream = bool(body.get("stream"))
            model = body.get("model", "")
        else:
            return self._error(404, "not_found_error", "unknown path " + path)
        problem = validate(body, bedrock, self.headers.get("anthropic-beta", ""))
        if problem:
            return self._error(400, "invalid_request_error", problem) if not bedrock else \
                self._send(400, json.dumps({"message": problem}))

        r = self.server.script.pick(last_user_text(body.get("messages", [])))
        wait_for_gates(self.server.script, r)
        if "delay" in r:
            time.sleep(float(r["delay"]))
        if "hang" in r:
            time.sleep(float(r["hang"]))
            self.close_connection = True
            return
        if "status" in r:
            extra = {}
            if "retry_after" in r:
                extra["retry-after"] = str(r["retry_after"])
            st = int(r["status"])
            etype = {429: "rate_limit_error", 529: "overloaded_error", 400: "invalid_request_error",
                     401: "authentication_error"}.get(st, "api_error")
            if bedrock:
                return self._send(st, json.dumps({"message": r.get("message", etype)}), extra=extra)
            return self._error(st, etype, r.get("message", "fake " + etype), extra)
        if r.get("malformed"):
            if stream and not bedrock:
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.end_headers()
                self.wfile.write(b"event: message_start\ndata: {not json\n\n")
                self.close_connection = True
                return
            return self._send(200, "this is not json {", "application/json")

        message = self._message(r, model, body)
        truncated = "truncate_below" in r and int(body.get("max_tokens", 0)) < int(r["truncate_below"])
        if truncated:
            message["stop_reason"] = "max_tokens"
        if not stream:
            return self._send(200, json.dumps(message))
        events = self._events(message, truncated)
        if r.get("broken_stream"):
            events = events[:3]
        if bedrock:
            self.send_response(200)
            self.send_header("content-type", "application/vnd.amazon.eventstream")
            self.send_header("transfer-encoding", "chunked")
            self.end_headers()
            for ev in events:
                payload = json.dumps({"bytes": base64.b64encode(json.dumps(ev).encode()).decode()})
                frame = event_stream_frame({":event-type": "chunk", ":content-type": "application/json",
                                            ":message-type": "event"}, payload.encode())
                self._chunk(frame)
            if r.get("broken_stream"):
                self.close_connection = True
                return
            self._chunk(b"")
            return
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        for ev in events:
            self._chunk(("event: %s\ndata: %s\n\n" % (ev["type"], json.dumps(ev))).encode())
        if r.get("broken_stream"):
            self.close_connection = True
            return
        self._chunk(b"")

    def _chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _message(self, r, model, body):
        with Handler.counter_lock:
            Handler.counter += 1
            n = Handler.counter
        content = []
        if r.get("text"):
            content.append({"type": "text", "text": r["text"]})
        uses = r.get("tool_uses") or ([r["tool_use"]] if "tool_use" in r else [])
        for k, u in enumerate(uses):
            content.append({"type": "tool_use", "id": "toolu_fake_%d_%d" % (n, k), "name": u["name"],
                            "input": u.get("input", {})})
        if not content:
            content.append({"type": "text", "text": ""})
        system = body.get("system")
        system_text = json.dumps(system) if system else ""
        cached = isinstance(system, list) and any("cache_control" in b for b in system if isinstance(b, dict))
        prefix_tokens = len(system_text) // 4
        usage = {"input_tokens": max(1, (len(json.dumps(body.get("messages", []))) // 4)),
                 "output_tokens": max(1, len(json.dumps(content)) // 4),
                 "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
        if cached:
            key = hash(system_text)
            with self.server.script.lock:
                seen = key in self.server.script.seen_prefixes
                self.server.script.seen_prefixes.add(key)
            usage["cache_read_input_tokens" if seen else "cache_creation_input_tokens"] = prefix_tokens
        else:
            usage["input_tokens"] += prefix_tokens
        return {"id": "msg_fake_%d" % n, "type": "message", "role": "assistant",
                "model": model or "claude-sonnet-4-5", "content": content,
                "stop_reason": r.get("stop_reason") or ("tool_use" if uses else "end_turn"),
                "stop_sequence": None,
                "usage": usage}

    def _events(self, message, truncated=False):
        start = dict(message)
        start["content"] = []
        start["stop_reason"] = None
        start["usage"] = dict(message["usage"], output_tokens=1)
        events = [{"type": "message_start", "message": start}]
        for i, block in enumerate(message["content"]):
            if block["type"] == "text":
                events.append({"type": "content_block_start", "index": i,
                               "content_block": {"type": "text", "text": ""}})
                text = block["text"]
                for j in range(0, max(1, len(text)), 40):
                    events.append({"type": "content_block_delta", "index": i,
                                   "delta": {"type": "text_delta", "text": text[j:j + 40]}})
            else:
                events.append({"type": "content_block_start", "index": i,
                               "content_block": {"type": "tool_use", "id": block["id"],
                                                 "name": block["name"], "input": {}}})
                js = json.dumps(block["input"])
                half = len(js) // 2
                last = i == len(message["content"]) - 1
                for piece in ((js[:half],) if truncated and last else (js[:half], js[half:])):
                    events.append({"type": "content_block_delta", "index": i,
                                   "delta": {"type": "input_json_delta", "partial_json": piece}})
            events.append({"type": "content_block_stop", "index": i})
        events.append({"type": "message_delta",
                       "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
                       "usage": {"output_tokens": message["usage"]["output_tokens"]}})
        events.append({"type": "message_stop"})
        return events


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--script", required=True)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", default="")
    ap.add_argument("--api-key", default=None, help="require this x-api-key (default: any non-empty)")
    ap.add_argument("--bedrock-skip-auth", action="store_true")
    ap.add_argument("--imds-role", default=None,
                    help="also answer as the EC2 instance metadata service (IMDSv2) with this role")
    args = ap.parse_args()
    server = Server(("127.0.0.1", 0), Handler)
    server.script = Script(args.script)
    server.log_path = args.log
    server.log_lock = threading.Lock()
    server.api_key = args.api_key
    server.bedrock_skip_auth = args.bedrock_skip_auth
    server.imds_role = args.imds_role
    signal.signal(signal.SIGTERM, lambda *a: (server.server_close(), os._exit(0)))
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(tmp, args.port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
