#!/usr/bin/env bash
# Runs porch's libFuzzer targets (fuzz/*_fuzz.cc), each for a bounded time.
#
#   scripts/fuzz.sh [SECONDS=60] [TARGET...]
#
# Builds build-fuzz with clang (-fsanitize=fuzzer,address,undefined), then
# runs each target on its seed corpus (tests/data/fuzz/<target>); what the
# fuzzer learns goes to a scratch corpus, never into the repository. A
# crash, leak, timeout (10 s) or out-of-memory (2 GB) fails the script, and
# the input is saved under build-fuzz/crashes/: copy it to
# tests/data/fuzz/<target>/crash-<name> and it becomes a regression test
# (the FuzzCorpus.<target> tests replay every file there in every build).
# Prints one line per target: runs, coverage, corpus size.
set -uo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
shift || true
targets=("$@")
((${#targets[@]})) || targets=(plan config journal sse event_stream http_request)

# clang and its libFuzzer runtime (Debian 12: clang 14).
scripts/apt-install-missing.sh clang libclang-rt-14-dev ||
  { echo "fuzz: clang and libclang-rt-14-dev could not be installed" >&2; exit 1; }
dir=build-fuzz
if [ ! -f "$dir/build.ninja" ]; then
  CC=clang CXX=clang++ cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DPORCH_FUZZ=ON -DPORCH_BENCH=OFF >/dev/null || { echo "fuzz: cmake failed" >&2; exit 1; }
fi
ninja -C "$dir" "${targets[@]/#/fuzz_}" || { echo "fuzz: build failed" >&2; exit 1; }

work="$(mktemp -d "${TMPDIR:-/tmp}/porch-fuzz.XXXXXX")"
trap 'rm -rf "$work"' EXIT
mkdir -p "$dir/crashes"
status=0
summary=()
for t in "${targets[@]}"; do
  mkdir -p "$work/$t"
  log="$work/$t.log"
  echo "== fuzz $t: ${seconds}s"
  "$dir/fuzz_$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
    -print_final_stats=1 -artifact_prefix="$dir/crashes/$t-" "$work/$t" "tests/data/fuzz/$t" \
    >"$log" 2>&1
  rc=$?
  runs="$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$')"
  cov="$(grep -oE 'cov: [0-9]+' "$log" | tail -n 1 | grep -oE '[0-9]+')"
  corpus="$(find "$work/$t" -type f | wc -l)"
  if [ "$rc" = 0 ]; then
    summary+=("fuzz $t: passed: ${runs:-?} runs in ${seconds}s, coverage ${cov:-?} edges, ${corpus} new corpus inputs")
  else
    status=1
    tail -n 40 "$log" >&2
    summary+=("fuzz $t: FAILED (exit $rc): input saved as $(ls -t "$dir/crashes/$t-"* 2>/dev/null | head -n 1)")
  fi
done
printf '%s\n' "${summary[@]}"
exit "$status"
