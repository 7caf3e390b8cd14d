#!/usr/bin/env bash
# Benchmark: the queue backend (Redis Streams).
#
# 1. The broker path on its own (build/bench_queue): N trivial attempts
#    through a real redis-server on 127.0.0.1 with W workers x S slots, no
#    processes run: tasks/s, queue latency p50/p99, Redis commands and
#    round trips per task. Targets: >= 2,000 tasks/s, p50 < 2 ms, <= 6
#    round trips per task.
# 2. End to end, real processes: the same N `true` tasks with
#    `porch run --backend queue` and W `porch worker --slots S` processes,
#    against `porch run -j W*S` on the local backend, in one go; the ratio
#    (queue / local wall time). On 2 cores both are bound by fork/exec.
#
# The redis-server runs with AOF on (appendfsync everysec, Redis's default
# for AOF), its data in a temporary directory, and is stopped at the end.
#
#   bench/queue_bench.sh [N=10000] [W=4] [S=4] [build dir=build]
set -euo pipefail
n="${1:-10000}"
w="${2:-4}"
s="${3:-4}"
build="$(realpath "${4:-build}")"
m=$((w * s))
porch="$build/porch"
cd "$(dirname "$0")/.."
redis_server="$(scripts/install-redis.sh | tail -n 1)"
[ -x "$build/bench_queue" ] || ninja -C "$build" bench_queue >/dev/null
work="$(mktemp -d "${TMPDIR:-/tmp}/porch-queue-bench-XXXXXX")"
port="$(scripts/free-port.sh)"
cleanup() {
  [ -f "$work/redis.pid" ] && kill "$(cat "$work/redis.pid")" 2>/dev/null
  for p in "${workers[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null; done
  sleep 0.5
  rm -rf "$work"
}
workers=()
trap cleanup EXIT
"$redis_server" --bind 127.0.0.1 --port "$port" --protected-mode yes --daemonize yes \
  --pidfile "$work/redis.pid" --dir "$work" --logfile "$work/redis.log" --save '' \
  --appendonly yes --appendfsync everysec
url="redis://127.0.0.1:$port/0"
for _ in $(seq 1 100); do
  "$porch" worker --queue "$url" --once --name probe >/dev/null 2>&1 && break
  sleep 0.1
done

echo "== 1. broker path"
"$build/bench_queue" "$url" "$n" "$w" "$s" "$m" 2>/dev/null

echo "== 2. end to end: $n \`true\` tasks, queue ($w workers x $s slots) against local (-j $m)"
mkdir -p "$work/e2e"
awk -v n="$n" 'BEGIN { print "{\"tasks\": ["; for (i = 0; i < n; i++) printf "%s{\"id\": \"t%d\", \"command\": \"true\"}\n", (i ? "," : ""), i; print "]}" }' \
  > "$work/e2e/plan.json"
cd "$work/e2e"
start=$(date +%s.%N)
"$porch" run --plan plan.json -j "$m" -q --run-id local --output-dir "$work/e2e/runs" >/dev/null
local_s=$(echo "$(date +%s.%N) - $start" | bc)
for i in $(seq 1 "$w"); do
  "$porch" worker --queue "$url" --slots "$s" --name "w$i" --set queue.prefix=bench 2>/dev/null &
  workers+=($!)
done
start=$(date +%s.%N)
"$porch" run --plan plan.json -j "$m" -q --run-id queue --backend queue --output-dir "$work/e2e/runs" \
  --set queue.url="$url" --set queue.prefix=bench >/dev/null
queue_s=$(echo "$(date +%s.%N) - $start" | bc)
printf "  local -j %d: %.2f s (%.0f tasks/s)\n" "$m" "$local_s" "$(echo "$n / $local_s" | bc -l)"
printf "  queue %dx%d: %.2f s (%.0f tasks/s)\n" "$w" "$s" "$queue_s" "$(echo "$n / $queue_s" | bc -l)"
printf "  ratio queue/local: %.2f\n" "$(echo "$queue_s / $local_s" | bc -l)"
