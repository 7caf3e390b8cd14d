#!/usr/bin/env bash
# SLURM benchmark: porch on a real one-node cluster of its own (started here
# with scripts/slurm-up.sh in a separate directory and port, stopped at the
# end), then Debian's Snakemake 7.21 (`--slurm`) on the same 200-task DAG.
#
#   bench/slurm_bench.sh [porch-binary] [M]
#
# Prints, for each case, the makespan and how many times sbatch, squeue,
# sacct, scontrol and scancel were called (counted by wrapper scripts put
# first on PATH for both tools). Cases: 500 independent trivial tasks and a
# 200-task DAG (10 layers of 20, each task after two of the layer before),
# with job arrays on and off; Snakemake on the same DAG.
#
# The cluster keeps finished jobs for an hour (MinJobAge=3600) and has no
# accounting: Snakemake 7.21 asks sacct, then scontrol, about each job, and
# gives up on jobs SLURM has forgotten (porch resolves those from its result
# files; see docs/slurm.md). Snakemake runs with --max-status-checks-per-second
# 1, the most its SLURM executor accepts: any value above 1 is replaced by
# 0.03 (one status check per job every 33 s).
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
porch="$(realpath "${1:-build/porch}")"
M="${2:-50}"
poll="${PORCH_BENCH_POLL:-1}"
work="$(mktemp -d /tmp/porch-slurm-bench.XXXXXX)"
export PORCH_SLURM_DIR="$work/cluster" PORCH_SLURM_PORT=16837 PORCH_SLURM_MIN_JOB_AGE=3600
export PORCH_SLURM_CPUS="${PORCH_BENCH_CPUS:-64}"
cleanup() { scripts/slurm-down.sh >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
SLURM_CONF="$(scripts/slurm-up.sh | tail -n 1)"
export SLURM_CONF
export USER="${USER:-$(id -un)}"

# Counting wrappers, first on PATH.
mkdir -p "$work/bin"
for p in sbatch squeue sacct scontrol scancel; do
  real="$(command -v "$p")"
  printf '#!/bin/sh\necho %s >> "%s/calls.log"\nexec %s "$@"\n' "$p" "$work" "$real" > "$work/bin/$p"
  chmod +x "$work/bin/$p"
done
export PATH="$work/bin:$PATH"
counts() {
  for p in sbatch squeue sacct scontrol scancel; do
    printf '%s=%s ' "$p" "$(grep -cx "$p" "$work/calls.log" 2>/dev/null || true)"
  done
}

python3 - "$work" <<'PY'
import sys
work = sys.argv[1]
with open(f"{work}/independent.yaml", "w") as f:
    f.write("name: 500 independent tasks\ntasks:\n")
    for i in range(500):
        f.write(f"  - {{id: t{i}, command: 'true'}}\n")
L, W = 10, 20
with open(f"{work}/dag.yaml", "w") as f:
    f.write("name: 200-task DAG\ntasks:\n")
    for l in range(L):
        for k in range(W):
            deps = "" if l == 0 else f", depends_on: [n{l-1}_{k}, n{l-1}_{(k+1)%W}]"
            f.write(f"  - {{id: n{l}_{k}, command: 'touch n{l}_{k}.done'{deps}}}\n")
with open(f"{work}/Snakefile", "w") as f:
    f.write("rule all:\n    input: [" + ", ".join(f'"out/n{L-1}_{k}.done"' for k in range(W)) + "]\n")
    for l in range(L):
        for k in range(W):
            f.write(f"rule n{l}_{k}:\n")
            if l:
                f.write(f'    input: "out/n{l-1}_{k}.done", "out/n{l-1}_{(k+1)%W}.done"\n')
            f.write(f'    output: "out/n{l}_{k}.done"\n    shell: "touch {{output}}"\n')
PY

run_porch() {  # name plan arrays [dependencies]
  local name="$1" plan="$2" arrays="$3" deps="${4:-porch}"
  rm -f "$work/calls.log"
  local start end
  start=$(date +%s.%N)
  (cd "$work" && PORCH_BACKEND=slurm PORCH_SLURM_ARRAYS="$arrays" PORCH_SLURM_BIN_DIR="$work/bin" \
     PORCH_SLURM_POLL_INTERVAL_SECONDS="$poll" PORCH_SLURM_MEMORY=64M \
     PORCH_SLURM_DEPENDENCIES="$deps" \
     "$porch" run --plan "$plan" -j "$M" -q --run-id "$name" >>"$work/porch.log" 2>&1) ||
    { echo "porch $name failed:"; tail -n 20 "$work/porch.log"; exit 1; }
  end=$(date +%s.%N)
  printf '%-34s makespan %7.1f s   %s\n' "porch $name" "$(echo "$end - $start" | bc)" "$(counts)"
}

echo "SLURM benchmark: M=$M, porch poll ${poll}s, cluster of $PORCH_SLURM_CPUS CPUs on $(nproc) cores"
run_porch independent-arrays "$work/independent.yaml" true
run_porch independent-no-arrays "$work/independent.yaml" false
run_porch dag-arrays "$work/dag.yaml" true
run_porch dag-no-arrays "$work/dag.yaml" false
run_porch dag-arrays-afterok "$work/dag.yaml" true slurm

if command -v snakemake >/dev/null; then
  rm -f "$work/calls.log"
  start=$(date +%s.%N)
  if (cd "$work" && snakemake --slurm -j "$M" --max-status-checks-per-second 1 \
        --default-resources runtime=10 mem_mb=64 --latency-wait 5 -q >"$work/snakemake.log" 2>&1); then
    end=$(date +%s.%N)
    printf '%-34s makespan %7.1f s   %s\n' "snakemake 7.21 --slurm dag" "$(echo "$end - $start" | bc)" "$(counts)"
  else
    echo "snakemake failed; last lines of its log:"; tail -n 15 "$work/snakemake.log"
  fi
else
  echo "snakemake is not installed (apt-get install snakemake) - skipped"
fi
