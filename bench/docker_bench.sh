#!/usr/bin/env bash
# Benchmark 5: the Docker backend against the local backend.
#
# 50 trivial tasks (`true`), independent, at M = 1, 4, 8 through the Docker
# backend (a registry-free test image from scripts/make-test-rootfs.sh) and
# through the local backend. Prints makespans and the per-container overhead
# (create, start, wait, collect, remove) estimated from the M = 1 runs, and
# porch's time per container at M = 1 beside `docker run --rm` of the same
# image and command through the Docker CLI, as a ratio.
#
#   bench/docker_bench.sh [porch binary=build/porch]
# Needs an engine: scripts/docker-up.sh (DOCKER_HOST is taken from it).
set -euo pipefail
cd "$(dirname "$0")/.."
porch="$(realpath "${1:-build/porch}")"
sock="$(scripts/docker-up.sh)"
export DOCKER_HOST="unix://$sock"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
scripts/make-test-rootfs.sh "$work/image.tar" "$porch"
curl -sf --unix-socket "$sock" -X POST -H "content-type: application/x-tar" --data-binary @"$work/image.tar" \
  "http://localhost/v1.41/images/create?fromSrc=-&repo=porch-bench&tag=latest" >/dev/null
{
  echo "tasks:"
  for i in $(seq 1 50); do echo "  - {id: t$i, command: 'true'}"; done
} > "$work/plan.yaml"
makespan() { python3 -c "import json,sys; print('%.3f' % json.load(open(sys.argv[1]))['run']['makespan_s'])" "$1"; }
echo "docker vs local: 50 trivial tasks"
printf "%-8s %3s %10s\n" backend M makespan
declare -A m1
for backend in local docker; do
  for m in 1 4 8; do
    id="$backend-m$m"
    (cd "$work" && "$porch" run --plan plan.yaml -j "$m" --run-id "$id" -q \
      --backend "$([ $backend = local ] && echo threading || echo docker)" \
      --set docker.image=porch-bench:latest --set docker.network= >/dev/null 2>&1)
    t="$(makespan "$work/porch-runs/runs/$id/metrics.json")"
    [ "$m" = 1 ] && m1[$backend]="$t"
    printf "%-8s %3s %9ss\n" "$backend" "$m" "$t"
  done
done
python3 -c "import sys; d, l = float(sys.argv[1]), float(sys.argv[2]); print('per-container overhead: %.1f ms (M=1: %.3fs docker - %.3fs local, / 50)' % ((d - l) / 50 * 1000, d, l))" "${m1[docker]}" "${m1[local]}"
# The peer: the same image and command through the Docker CLI, one
# `docker run --rm` after the other (create, start, attach, wait, remove).
if command -v docker >/dev/null; then
  t0=$(date +%s.%N)
  for i in $(seq 1 50); do docker run --rm --network none porch-bench:latest true >/dev/null; done
  t1=$(date +%s.%N)
  python3 -c "import sys; d, c = float(sys.argv[1]) / 50, (float(sys.argv[3]) - float(sys.argv[2])) / 50; print('per container at M=1: porch %.1f ms, docker run --rm %.1f ms, ratio %.2f (target <= 1.0)' % (d * 1000, c * 1000, d / c))" "${m1[docker]}" "$t0" "$t1"
else
  echo "no docker CLI: the docker run --rm comparison is skipped"
fi
