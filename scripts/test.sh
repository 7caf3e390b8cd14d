#!/usr/bin/env bash
# Runs porch's whole test suite, in four phases:
#   plain  the normal build (warnings are errors), every test
#   asan   AddressSanitizer + UndefinedBehaviorSanitizer build, every test
#   tsan   ThreadSanitizer build, the tests that exercise threads
#   fuzz   each libFuzzer target (fuzz/) for PORCH_FUZZ_SECONDS (60) with
#          clang, from its seed corpus (scripts/fuzz.sh)
# Every phase runs even when an earlier one failed; the script ends with one
# line per phase and a total, and exits non-zero if anything failed.
#
# Daemons (a Docker engine, two S3-protocol servers, a one-node SLURM
# cluster) are started for this run only, on state created under a fresh
# temporary directory and on free ports, and are stopped and removed at the
# end, so a developer's machine sees what a new machine sees. With CI=true a
# daemon that cannot be started fails the run (and every test that needs it
# fails instead of skipping); otherwise those tests skip with the reason.
#
#   scripts/test.sh                  # all four phases
#   scripts/test.sh plain            # one phase (or several: plain tsan)
#   PORCH_TEST_FILTER='Docker' scripts/test.sh plain   # a ctest -R filter
#   PORCH_KEEP_TEST_STATE=1 scripts/test.sh            # keep daemon state and logs
set -uo pipefail
cd "$(dirname "$0")/.."

phases=("$@")
((${#phases[@]})) || phases=(plain asan tsan fuzz)
for p in "${phases[@]}"; do
  case "$p" in plain|asan|tsan|fuzz) ;; *) echo "test: unknown phase '$p' (plain, asan, tsan, fuzz)" >&2; exit 2 ;; esac
done
ci=false
case "${CI:-}" in true|1) ci=true ;; esac
jobs="$(nproc 2>/dev/null || echo 2)"
failures=()   # what failed outside the phases (daemons, tools)

scripts/setup.sh || exit 1
# The real Claude Code CLI, for the tests that run it against the fake API.
if claude="$(scripts/install-claude-code.sh | tail -n 1)"; then
  export PORCH_CLAUDE_BIN="$PWD/$claude"
else
  failures+=("the Claude Code CLI could not be installed")
fi
# Chromium and playwright-core, for the dashboard's real-browser test.
if deps="$(scripts/install-browser-test.sh | tail -n 1)"; then
  export PORCH_BROWSER_DEPS="$deps"
else
  failures+=("Chromium / playwright-core could not be installed")
fi

# Fresh daemon state for this run.
state="$(mktemp -d "${TMPDIR:-/tmp}/porch-test.XXXXXX")"
export PORCH_DOCKER_DIR="$state/docker" PORCH_SLURM_DIR="$state/slurm" PORCH_S3_DIR="$state/s3"
# Everything the tests and porch put in a temporary directory (scratch run
# directories, engine lock files) goes in this run's state, removed with it.
mkdir -p "$state/tmp" && export TMPDIR="$state/tmp"
PORCH_SLURM_PORT="$(scripts/free-port.sh 2)" && export PORCH_SLURM_PORT
PORCH_S3_SIGV4_PORT="$(scripts/free-port.sh)" && export PORCH_S3_SIGV4_PORT
PORCH_S3_FAUXQS_PORT="$(scripts/free-port.sh)" && export PORCH_S3_FAUXQS_PORT
images=()
cleanup() {
  # redis-servers the queue tests started and could not stop (a crashed test).
  find "$state" -name redis.pid 2>/dev/null | while read -r f; do kill "$(cat "$f")" 2>/dev/null; done
  scripts/s3-down.sh >/dev/null 2>&1
  scripts/slurm-down.sh >/dev/null 2>&1
  scripts/docker-down.sh >/dev/null 2>&1
  if [ "${PORCH_KEEP_TEST_STATE:-0}" = 1 ]; then
    echo "test: daemon state and logs kept in $state" >&2
  else
    rm -rf "$state" 2>/dev/null || echo "test: could not remove $state" >&2
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

daemon_failed() {  # NAME REASON
  echo "test: $1 could not be started: $2" >&2
  if $ci; then failures+=("$1 could not be started (CI=true: its tests fail)"); fi
}
if PORCH_DOCKER_SOCKET="$(scripts/docker-up.sh)"; then
  export PORCH_DOCKER_SOCKET
else
  daemon_failed "the Docker engine" "see $PORCH_DOCKER_DIR/dockerd.log; the Docker* tests skip"
fi
if s3_env="$(scripts/s3-up.sh | tail -n 2)"; then
  export ${s3_env?}
else
  daemon_failed "the S3 servers" "see $PORCH_S3_DIR; the S3Server* tests skip"
fi
if PORCH_REDIS_SERVER="$(scripts/install-redis.sh | tail -n 1)"; then
  export PORCH_REDIS_SERVER
else
  daemon_failed "the Redis server" "redis-server could not be installed; the Queue* tests skip"
fi
if SLURM_CONF="$(scripts/slurm-up.sh | tail -n 1)"; then
  export SLURM_CONF
else
  daemon_failed "the SLURM cluster" "logs in $PORCH_SLURM_DIR/log; the SlurmCluster* tests skip"
fi

# Imports the phase's porch binary as the Docker tests' image, once, before
# ctest runs (tests running in parallel would otherwise race on it).
import_test_image() {  # BUILD_DIR PHASE
  unset PORCH_TEST_IMAGE
  [ -n "${PORCH_DOCKER_SOCKET:-}" ] || return 0
  local tar="$state/image-$2.tar" repo="porch-test-$2" tag="run$$"
  scripts/make-test-rootfs.sh "$tar" "$1/porch" || return 1
  curl -sf --unix-socket "$PORCH_DOCKER_SOCKET" -X POST -H 'Content-Type: application/x-tar' \
    --data-binary "@$tar" "http://localhost/v1.41/images/create?fromSrc=-&repo=$repo&tag=$tag" >/dev/null ||
    return 1
  rm -f "$tar"
  export PORCH_TEST_IMAGE="$repo:$tag"
}

declare -A result
total_passed=0
total_failed=0
total_skipped=0
# Runs one phase: configure, build, import the image, ctest. Never exits.
run_phase() {  # PHASE BUILD_DIR TIMEOUT FILTER CMAKE_ARGS...
  local phase="$1" dir="$2" timeout="$3" filter="$4"
  shift 4
  echo "== phase $phase: build ($dir)"
  if [ ! -f "$dir/build.ninja" ]; then
    cmake -S . -B "$dir" -G Ninja -DPORCH_WERROR=ON "$@" >/dev/null || {
      result[$phase]="FAILED (cmake)"; return; }
  fi
  if ! ninja -C "$dir"; then result[$phase]="FAILED (build)"; return; fi
  if ! import_test_image "$dir" "$phase"; then
    echo "test: the Docker test image could not be imported" >&2
    $ci && failures+=("the Docker test image for phase $phase could not be imported")
  fi
  [ -n "${PORCH_TEST_FILTER:-}" ] && filter="$PORCH_TEST_FILTER"
  echo "== phase $phase: tests${filter:+ matching '$filter'}"
  local log="$state/ctest-$phase.log"
  (cd "$dir" && ctest --output-on-failure -j "$jobs" --timeout "$timeout" ${filter:+-R "$filter"}) 2>&1 |
    tee "$log"
  local rc="${PIPESTATUS[0]}"
  local line total failed skipped
  line="$(grep -E 'tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -n 1)"
  total="$(sed -E 's/.*out of ([0-9]+).*/\1/' <<<"$line")"
  failed="$(sed -E 's/.*passed, ([0-9]+) tests? failed.*/\1/' <<<"$line")"
  skipped="$(grep -cE '\*\*\*Skipped|Not Run' "$log")"
  if [ -z "$line" ]; then
    result[$phase]="FAILED (ctest ran no test, exit $rc)"
    return
  fi
  total_passed=$((total_passed + total - failed - skipped))
  total_failed=$((total_failed + failed))
  total_skipped=$((total_skipped + skipped))
  if [ "$rc" = 0 ] && [ "$failed" = 0 ]; then
    result[$phase]="passed: $((total - failed - skipped)) passed, 0 failed, $skipped skipped"
  else
    result[$phase]="FAILED: $((total - failed - skipped)) passed, $failed failed, $skipped skipped"
  fi
  if $ci && [ "$skipped" != 0 ]; then
    result[$phase]="${result[$phase]} (CI=true: skipped tests count as failures)"
    failures+=("phase $phase skipped $skipped tests in CI")
  fi
}

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}"
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:${TSAN_OPTIONS:-}"
# The tests that exercise threads: the dashboard and its HTTP server, the
# LLM clients' streaming and retries, the planner and agents, and the
# scheduler driving real backends (the CLI runs, --dashboard among them).
tsan_filter='Dashboard|Browser|Stream|Llm|Planner|Executor|Agent|Scheduler|LocalBackend|Cli|Http'
for phase in "${phases[@]}"; do
  case "$phase" in
    plain) run_phase plain build 300 "" -DCMAKE_BUILD_TYPE=RelWithDebInfo ;;
    asan) run_phase asan build-asan 600 "" -DCMAKE_BUILD_TYPE=Debug -DPORCH_SANITIZE=ON \
            -DPORCH_BENCH=OFF ;;
    tsan) run_phase tsan build-tsan 600 "$tsan_filter" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
            -DPORCH_TSAN=ON -DPORCH_BENCH=OFF ;;
    fuzz)
      echo "== phase fuzz: ${PORCH_FUZZ_SECONDS:-60}s per target"
      fuzz_log="$state/fuzz.log"
      scripts/fuzz.sh "${PORCH_FUZZ_SECONDS:-60}" 2>&1 | tee "$fuzz_log"
      if [ "${PIPESTATUS[0]}" = 0 ]; then
        result[fuzz]="passed: $(grep -c '^fuzz .*: passed' "$fuzz_log") targets without a crash"
      else
        result[fuzz]="FAILED: $(grep -c '^fuzz .*: FAILED' "$fuzz_log") targets crashed or failed to build (inputs in build-fuzz/crashes)"
      fi ;;
  esac
done

echo
echo "== summary"
status=0
for phase in "${phases[@]}"; do
  echo "phase $phase: ${result[$phase]:-did not run}"
  case "${result[$phase]:-}" in passed*) ;; *) status=1 ;; esac
done
for f in "${failures[@]}"; do
  echo "failed: $f"
  status=1
done
echo "total: $total_passed passed, $total_failed failed, $total_skipped skipped"
exit "$status"
