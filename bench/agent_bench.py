#!/usr/bin/env python3
"""Benchmark 4: AI tasks in parallel.

The project's fake LLM server answers every model call after a fixed delay;
porch's API agent runs each task in two calls (write a file, then finish).
Runs 12 independent tasks and a 24-task DAG at M = 1, 3, 6 and prints the
makespan, the speedup over M = 1, and the efficiency against the lower bound
max(critical path, total work / M) computed from the run's own metrics.
Then runs eleven tasks that edit one shared file (eight on lines of their
own, two on a line another task edits too) and prints how many merges were
clean, three-way and conflicts.

  bench/agent_bench.py [porch binary=build/porch] [delay seconds=0.25]
"""
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

here = os.path.dirname(os.path.abspath(__file__))
porch = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "build", "porch"))
delay = float(sys.argv[2]) if len(sys.argv) > 2 else 0.25
work = tempfile.mkdtemp(prefix="porch-agent-bench-")
try:
    def lines(changed=None, text=""):
        # lines.txt as the shared plan's base task writes it; line `changed` replaced.
        out = []
        for k in range(8):
            out.append("line %d: %s\n" % (k, text if k == changed else "original"))
            out.append("# --\n# --\n# --\n")
        return "".join(out)

    def write(path, content):
        return {"name": "write_file", "input": {"path": path, "content": content}}

    rules = [{"match": "wrote ", "responses": [{"text": "Done.", "delay": delay}]}]
    for i in range(24):
        rules.append({"match": "TASK-%03d." % i,
                      "responses": [{"tool_use": write("out/t%d.txt" % i, "x"), "delay": delay}]})
    rules.append({"match": "SHARED-BASE.", "responses": [{"tool_use": write("lines.txt", lines()), "delay": delay}]})
    for k in range(8):  # each edits its own line: merged three ways
        rules.append({"match": "SHARED-%d." % k,
                      "responses": [{"tool_use": write("lines.txt", lines(k, "edited by s%d" % k)),
                                     "delay": delay * (1 + k % 3)}]})
    for k in (8, 9):  # both edit line 0, as s0 does: conflicts
        rules.append({"match": "SHARED-%d." % k,
                      "responses": [{"tool_use": write("lines.txt", lines(0, "also edited by s%d" % k)),
                                     "delay": delay * 2}]})
    script = {"rules": rules}
    with open(os.path.join(work, "script.json"), "w") as f:
        json.dump(script, f)
    port_file = os.path.join(work, "port")
    server = subprocess.Popen([sys.executable, os.path.join(here, "..", "tests", "fake_llm", "fake_llm_server.py"),
                               "--script", os.path.join(work, "script.json"), "--port-file", port_file])
    for _ in range(500):
        if os.path.exists(port_file):
            break
        time.sleep(0.01)
    url = "http://127.0.0.1:" + open(port_file).read().strip()

    def plan(n, dag):
        rng = random.Random(5)
        tasks = []
        for i in range(n):
            deps = []
            if dag and i > 0:
                deps = sorted({"t%d" % rng.randrange(max(0, i - 6), i) for _ in range(2)})
            tasks.append({"id": "t%d" % i, "prompt": "TASK-%03d." % i, "depends_on": deps,
                          "outputs": ["out/t%d.txt" % i]})
        return {"tasks": tasks}

    env = dict(os.environ, ANTHROPIC_API_KEY="bench", ANTHROPIC_BASE_URL=url,
               PORCH_AGENT_EXECUTOR="api", PORCH_MERGE_CONFLICT_POLICY="keep-later",
               PORCH_MERGE_GIT="false")
    print("agent benchmark: %.2fs per model call, 2 calls per task (porch's API agent)" % delay)
    print("%-16s %3s %10s %8s %11s %11s" % ("plan", "M", "makespan", "speedup", "lower bound", "efficiency"))
    for name, n, dag in (("12 independent", 12, False), ("24-task DAG", 24, True)):
        path = os.path.join(work, name.replace(" ", "-") + ".json")
        with open(path, "w") as f:
            json.dump(plan(n, dag), f)
        base = None
        for m in (1, 3, 6):
            run_id = "%s-m%d" % (name.replace(" ", "-"), m)
            subprocess.run([porch, "run", "--plan", path, "-j", str(m), "--run-id", run_id, "-q"],
                           cwd=work, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            metrics = json.load(open(os.path.join(work, "porch-runs", "runs", run_id, "metrics.json")))["run"]
            makespan = metrics["makespan_s"]
            bound = max(metrics["critical_path_s"], metrics["total_task_time_s"] / m)
            base = base or makespan
            print("%-16s %3d %9.2fs %7.2fx %10.2fs %10.1f%%" % (name, m, makespan, base / makespan, bound,
                                                              100.0 * bound / makespan))
    # Tasks that share a file: eight edit one line each of lines.txt, two
    # more edit a line s0 edits too. Merge outcomes are counted from the
    # run's conflicts.json.
    shared = {"tasks": [{"id": "base", "prompt": "SHARED-BASE.", "outputs": ["lines.txt"]}] +
              [{"id": "s%d" % k, "prompt": "SHARED-%d." % k, "depends_on": ["base"], "outputs": [],
                "retries": 0} for k in range(10)]}
    path = os.path.join(work, "shared.json")
    with open(path, "w") as f:
        json.dump(shared, f)
    shared_env = dict(env, PORCH_MERGE_CONFLICT_POLICY="fail")
    subprocess.run([porch, "run", "--plan", path, "-j", "6", "--run-id", "shared", "-q"],
                   cwd=work, env=shared_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    run_dir = os.path.join(work, "porch-runs", "runs", "shared")
    metrics = json.load(open(os.path.join(run_dir, "metrics.json")))["run"]
    cases = []
    if os.path.exists(os.path.join(run_dir, "conflicts.json")):
        cases = json.load(open(os.path.join(run_dir, "conflicts.json")))
    three_way = sum(1 for c in cases if c.get("resolution") == "three-way")
    conflicts = sum(1 for c in cases if c.get("resolution") in ("failed", "kept-later"))
    merged = metrics["succeeded"]
    print("shared file (11 AI tasks, M=6): makespan %.2fs; merges: %d clean, %d three-way, %d conflicts"
          % (metrics["makespan_s"], merged - three_way, three_way, conflicts))
    server.terminate()
    server.wait()
finally:
    shutil.rmtree(work, ignore_errors=True)
