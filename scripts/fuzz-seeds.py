#!/usr/bin/env python3
"""Writes the seed corpus of each fuzz target into tests/data/fuzz/<target>/.

Seeds are small valid inputs (and a few near misses) the fuzzer mutates
from. Files named crash-* in those folders are inputs that once crashed a
target: they are kept, never rewritten, and replayed by the FuzzCorpus tests.

  scripts/fuzz-seeds.py [JOURNAL]   # JOURNAL: a real journal.log to include
"""
import base64
import json
import os
import struct
import sys
import zlib

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT = os.path.join(ROOT, "tests", "data", "fuzz")


def put(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def plans():
    # The first byte picks the format: 0 JSON, 1 YAML, 2 by content.
    with open(os.path.join(ROOT, "examples", "quickstart.yaml"), "rb") as f:
        put("plan", "quickstart", b"\x01" + f.read())
    put("plan", "small-json", b"\x00" + json.dumps({"name": "p", "tasks": [
        {"id": "a", "command": "true", "outputs": ["a.txt"], "time_limit": "00:01:00"},
        {"id": "b", "prompt": "write b", "depends_on": ["a"], "retries": 2,
         "resources": {"cpus": 2, "memory": "1G", "gpus": 1}}]}).encode())
    put("plan", "anchors", b"\x01tasks:\n  - &t {id: a, command: 'true'}\n"
        b"  - {<<: *t, id: b, depends_on: [a]}\n")
    hostile = os.path.join(ROOT, "tests", "data", "hostile-plans")
    for name in sorted(os.listdir(hostile)):
        if name == "EXPECTED":
            continue
        with open(os.path.join(hostile, name), "rb") as f:
            data = f.read()
        if len(data) <= 4096:
            put("plan", "hostile-" + name, b"\x02" + data)


def configs():
    put("config", "readme", "max_executors: 8\noutput_dir: runs\nretry:\n  max_retries: 3\n"
        "  retry_delay_seconds: 2\n  backoff_multiplier: 2\n  max_delay_seconds: 60\n")
    put("config", "backends", "backend: slurm\nslurm:\n  partition: gpu\n  account: lab\n"
        "docker:\n  image: parallel-orchestrator:latest\n  network: porch\nllm:\n"
        "  provider: bedrock\n  model: claude\n  base_url: http://127.0.0.1:1\n"
        "limits:\n  max_plan_bytes: 1M\n  max_output_bytes: 64M\n")
    put("config", "json", json.dumps({"max_executors": 2, "retry": {"max_retries": 0}}))
    put("config", "bad-type", "max_executors: [1, 2]\n")



def journals(extra):
    if extra:
        with open(extra, "rb") as f:
            put("journal", "real-run", f.read())
    put("journal", "empty", b"")
    put("journal", "not-a-journal", b"{\"type\": \"launching\"}\n")


def sse():
    events = [
        ("message_start", {"type": "message_start", "message": {"id": "m", "type": "message",
         "role": "assistant", "model": "claude", "content": [], "stop_reason": None,
         "usage": {"input_tokens": 10, "output_tokens": 1}}}),
        ("content_block_start", {"type": "content_block_start", "index": 0,
         "content_block": {"type": "text", "text": ""}}),
        ("ping", {"type": "ping"}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0,
         "delta": {"type": "text_delta", "text": "Hello"}}),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("content_block_start", {"type": "content_block_start", "index": 1,
         "content_block": {"type": "tool_use", "id": "t1", "name": "write_file", "input": {}}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 1,
         "delta": {"type": "input_json_delta", "partial_json": "{\"path\": \"a"}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 1,
         "delta": {"type": "input_json_delta", "partial_json": ".txt\"}"}}),
        ("content_block_stop", {"type": "content_block_stop", "index": 1}),
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "tool_use"},
         "usage": {"output_tokens": 20}}),
        ("message_stop", {"type": "message_stop"}),
    ]
    text = "".join(f"event: {e}\ndata: {json.dumps(d)}\n\n" for e, d in events)
    put("sse", "tool-use", b"\x07" + text.encode())
    put("sse", "crlf", b"\x00" + text.replace("\n", "\r\n").encode())
    put("sse", "error", b"\x10event: error\ndata: {\"type\": \"error\", \"error\": "
        b"{\"type\": \"overloaded_error\", \"message\": \"busy\"}}\n\n")
    return events


def event_message(headers, payload):
    h = b""
    for k, v in headers.items():
        kb, vb = k.encode(), v.encode()
        h += bytes([len(kb)]) + kb + b"\x07" + struct.pack(">H", len(vb)) + vb
    total = 12 + len(h) + len(payload) + 4
    prelude = struct.pack(">II", total, len(h))
    prelude += struct.pack(">I", zlib.crc32(prelude) & 0xffffffff)
    msg = prelude + h + payload
    return msg + struct.pack(">I", zlib.crc32(msg) & 0xffffffff)


def event_streams(events):
    stream = b""
    for _, d in events:
        chunk = json.dumps({"bytes": base64.b64encode(json.dumps(d).encode()).decode()}).encode()
        stream += event_message({":event-type": "chunk", ":content-type": "application/json",
                                 ":message-type": "event"}, chunk)
    put("event_stream", "chunks", b"\x11" + stream)
    put("event_stream", "exception", b"\x05" + event_message(
        {":exception-type": "throttlingException", ":message-type": "exception"},
        b"{\"message\": \"slow down\"}"))


def requests():
    put("http_request", "get", "GET /api/runs/r1?offset=0&limit=500 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Authorization: Bearer t\r\nConnection: keep-alive")
    put("http_request", "events", "GET /api/runs/r%201/events?token=a%2Bb HTTP/1.1\r\nAccept: text/event-stream")
    put("http_request", "http10", "GET / HTTP/1.0\r\nConnection: keep-alive")
    put("http_request", "nul", "GET /api/runs/canary.txt%00 HTTP/1.1")
    put("http_request", "body", "POST /x HTTP/1.1\r\nContent-Length: 5")


def main():
    plans()
    configs()
    journals(sys.argv[1] if len(sys.argv) > 1 else None)
    event_streams(sse())
    requests()


if __name__ == "__main__":
    main()
