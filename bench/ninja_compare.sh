#!/usr/bin/env bash
# Benchmark 2: porch against Ninja on the same DAG of trivial commands.
#
# Generates N tasks (each touches one file and depends on up to 3 earlier
# tasks) as a porch plan and as a build.ninja, runs both with M parallel jobs
# in one go, and prints both wall times and the ratio. porch runs on its local
# backend with everything it does in a real run: the fsynced journal, one
# supervisor process per attempt, per-attempt stdout/stderr and result files.
#
# Two variants: plain commands (`touch tK`), which porch, like GNU make,
# executes without a shell while Ninja always uses /bin/sh -c; and shell
# commands (`touch tK && :`), where both go through /bin/sh.
#
# Each row is the median of REPS (default 3) alternating runs of the two, in
# a fresh directory and in a heavily used one (100,000 files made and
# removed there first).
#
#   bench/ninja_compare.sh [N=2000] [M=5] [porch binary=build/porch]
# Set TMPDIR to choose the filesystem both run on, REPS the repetitions.
set -euo pipefail
n="${1:-2000}"
m="${2:-5}"
porch="$(realpath "${3:-build/porch}")"
reps="${REPS:-3}"
command -v ninja >/dev/null || { echo "ninja is not installed (apt-get install ninja-build)"; exit 2; }
work="$(mktemp -d "${TMPDIR:-/tmp}/porch-ninja-XXXXXX")"
trap 'rm -rf "$work"' EXIT

generate() {  # $1: directory, $2: command suffix
  mkdir -p "$1/ninja/out" "$1/porch"
  awk -v n="$n" -v suffix="$2" -v plan="$1/porch/plan.json" -v nin="$1/ninja/build.ninja" 'BEGIN {
    srand(11);
    print "rule touch\n  command = touch $out" suffix "\n" > nin;
    print "{\"tasks\": [" > plan;
    for (i = 0; i < n; i++) {
      deps = ""; ndeps = ""; k = 0; delete seen;
      if (i > 0) for (j = 0; j < 3; j++) {
        w = (i < 200) ? i : 200;
        d = i - 1 - int(rand() * w);
        if (d in seen) continue;
        seen[d] = 1;
        deps = deps (k ? ", " : "") "\"t" d "\"";
        ndeps = ndeps " out/t" d;
        k++;
      }
      printf "  {\"id\": \"t%d\", \"command\": \"touch t%d%s\"%s}%s\n", i, i, suffix,
        (k ? ", \"depends_on\": [" deps "]" : ""), (i + 1 < n ? "," : "") > plan;
      printf "build out/t%d: touch%s\n", i, (k ? " |" ndeps : "") > nin;
    }
    print "]}" > plan;
  }'
}

now() { date +%s.%N; }
# One timed run of each tool on a fresh copy of the generated DAG in $dir;
# prints "ninja_s porch_s".
once() {  # $1: directory holding ninja/ and porch/ as generated
  local dir="$1" t0 t1 t2
  rm -rf "$dir/ninja/out" "$dir/ninja/.ninja_log" "$dir/ninja/.ninja_deps" "$dir/porch/porch-runs"
  mkdir -p "$dir/ninja/out"
  sync
  t0=$(now)
  (cd "$dir/ninja" && ninja -j "$m" >/dev/null)
  t1=$(now)
  (cd "$dir/porch" && "$porch" run --plan plan.json -j "$m" --run-id bench -q >/dev/null 2>&1) || {
    echo "porch run failed" >&2; exit 1; }
  t2=$(now)
  echo "$(echo "$t1 - $t0" | bc -l) $(echo "$t2 - $t1" | bc -l)"
}

median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

compare() {  # $1: label, $2: command suffix, $3: "used" to fill the directory first
  local dir="$work/$1-$3"
  generate "$dir" "$2"
  if [ "$3" = used ]; then
    # A heavily used directory: 100,000 files made and removed before the
    # runs, as earlier runs and builds leave it.
    mkdir -p "$dir/old"
    (cd "$dir/old" && seq 1 100000 | xargs touch && cd .. && rm -rf old)
  fi
  local ninjas=() porches=() ratios=()
  for ((r = 0; r < reps; r++)); do
    read -r ns ps < <(once "$dir")
    ninjas+=("$ns"); porches+=("$ps"); ratios+=("$(echo "$ps / $ns" | bc -l)")
  done
  local ninja_s porch_s ratio
  ninja_s=$(printf '%s\n' "${ninjas[@]}" | median)
  porch_s=$(printf '%s\n' "${porches[@]}" | median)
  ratio=$(printf '%s\n' "${ratios[@]}" | median)
  printf "%-6s %-5s -j %d   ninja %7.3f s (%5.0f/s)   porch %7.3f s (%5.0f/s)   ratio %.2f\n" \
    "$1" "$3" "$m" "$ninja_s" "$(echo "$n / $ninja_s" | bc -l)" "$porch_s" \
    "$(echo "$n / $porch_s" | bc -l)" "$ratio"
}

printf "porch vs ninja: %d commands, M=%d, in %s, median of %d runs each (target: ratio <= 1.3)\n" \
  "$n" "$m" "${TMPDIR:-/tmp}" "$reps"
for where in fresh used; do
  compare plain "" "$where"
  compare shell " && :" "$where"
done
