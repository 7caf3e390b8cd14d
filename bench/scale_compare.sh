#!/usr/bin/env bash
# Benchmark 6: porch against Ninja at scale, in one go.
#
# A DAG of N `true` commands, each depending on up to 2 of the 100 before
# it, run by `ninja -j M` and by `porch run -j M -q` (local backend). Prints
# the wall-time ratio, porch's peak RSS (the scheduler process and the
# spawner, each), the bytes of run directory per task (disk usage, du), and
# porch's completion rate in the first and the last 10% of the run (from the
# journal's `finished` records), so a run that slows down as it grows shows.
#
#   bench/scale_compare.sh [N=100000] [M=8] [porch binary=build/porch]
# Targets (issue 17): ratio <= 1.5, peak RSS <= 256 MB, <= 2 KB per task,
# last-10% rate within 20% of the first-10% rate.
set -euo pipefail
n="${1:-100000}"
m="${2:-8}"
porch="$(realpath "${3:-build/porch}")"
command -v ninja >/dev/null || { echo "ninja is not installed (apt-get install ninja-build)"; exit 2; }
work="$(mktemp -d "${TMPDIR:-/tmp}/porch-scale-XXXXXX")"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/ninja" "$work/porch"

awk -v n="$n" -v plan="$work/porch/plan.json" -v nin="$work/ninja/build.ninja" 'BEGIN {
  srand(17);
  print "rule run\n  command = true\n" > nin;
  print "{\"tasks\": [" > plan;
  for (i = 0; i < n; i++) {
    deps = ""; ndeps = ""; k = 0; delete seen;
    if (i > 0) for (j = 0; j < 2; j++) {
      w = (i < 100) ? i : 100;
      d = i - 1 - int(rand() * w);
      if (d in seen) continue;
      seen[d] = 1;
      deps = deps (k ? ", " : "") "\"t" d "\"";
      ndeps = ndeps " t" d;
      k++;
    }
    printf "  {\"id\": \"t%d\", \"command\": \"true\"%s}%s\n", i,
      (k ? ", \"depends_on\": [" deps "]" : ""), (i + 1 < n ? "," : "") > plan;
    printf "build t%d: run%s\n", i, (k ? " |" ndeps : "") > nin;
  }
  print "]}" > plan;
}'

now() { date +%s.%N; }
t0=$(now)
(cd "$work/ninja" && ninja -j "$m" >/dev/null)
t1=$(now)
# Peak RSS of the scheduler process (time -f %M), and of the spawner (its
# VmHWM, sampled while it runs).
(cd "$work/porch" && /usr/bin/time -f "%M" -o "$work/rss" "$porch" run --plan plan.json -j "$m" \
   --run-id scale -q >/dev/null 2>"$work/err") &
runner=$!
spawner_kb=0
while kill -0 "$runner" 2>/dev/null; do
  for pid in $(pgrep -f "spawner --run-dir $work/porch" || true); do
    hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
    [ "${hwm:-0}" -gt "$spawner_kb" ] && spawner_kb=$hwm
  done
  sleep 0.5
done
wait "$runner" || { echo "porch run failed:"; cat "$work/err"; exit 1; }
t2=$(now)
run="$work/porch/porch-runs/runs/scale"
python3 - "$run" "$n" "$m" "$(echo "$t1 - $t0" | bc -l)" "$(echo "$t2 - $t1" | bc -l)" \
  "$(tail -1 "$work/rss")" "$spawner_kb" "$(du -sk "$run" | cut -f1)" <<'EOF'
import json, sys
run, n, m, ninja_s, porch_s, rss_kb, spawner_kb, du_kb = sys.argv[1:]
n, m = int(n), int(m)
ninja_s, porch_s = float(ninja_s), float(porch_s)
ends = []
with open(run + "/journal.log") as f:
    for line in f:
        try:
            rec = json.loads(line.split(" ", 1)[1])
        except (IndexError, ValueError):
            continue
        if rec.get("type") == "finished":
            ends.append(rec["time"])
ends.sort()
tenth = max(1, len(ends) // 10)
def rate(a, b):
    return (b - a) and tenth / (ends[b] - ends[a]) or float("inf")
first = rate(0, tenth - 1)
last = rate(len(ends) - tenth, len(ends) - 1)
print(f"porch vs ninja at scale: {n} tasks, M={m}")
print(f"  ninja -j {m}: {ninja_s:8.2f} s ({n / ninja_s:6.0f}/s)   porch -j {m}: {porch_s:8.2f} s "
      f"({n / porch_s:6.0f}/s)   ratio {porch_s / ninja_s:.2f}   (target <= 1.5)")
print(f"  peak RSS: porch {int(rss_kb) / 1024:.0f} MB, its spawner {int(spawner_kb) / 1024:.0f} MB   (target <= 256 MB)")
print(f"  run directory: {int(du_kb) / 1024:.1f} MB, {int(du_kb) * 1024 / n:.0f} bytes per task   (target <= 2048)")
print(f"  rate: first 10% {first:.0f}/s, last 10% {last:.0f}/s, last/first {last / first:.2f}   (target >= 0.8)")
EOF
