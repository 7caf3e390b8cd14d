#!/usr/bin/env python3
"""Benchmark 4: AI tasks in parallel.

The project's fake LLM server answers every model call after a fixed delay;
porch's API agent runs each task in two calls (write a file, then finish).
Runs 12 independent tasks and a 24-task DAG at M = 1, 3, 6 and prints the
makespan, the speedup over M = 1, and the efficiency against the lower bound
max(critical path, total work / M) computed from the run's own metrics.

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
    script = {"rules": [{"match": "wrote ", "responses": [{"text": "Done.", "delay": delay}]},
                        {"responses": [{"tool_use": {"name": "write_file",
                                                     "input": {"path": "f.txt", "content": "x"}},
                                        "delay": delay}]}]}
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
            tasks.append({"id": "t%d" % i, "prompt": "TASK %d" % i, "depends_on": deps,
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
    server.terminate()
    server.wait()
finally:
    shutil.rmtree(work, ignore_errors=True)
