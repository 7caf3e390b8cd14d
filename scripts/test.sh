#!/usr/bin/env bash
# Runs porch's whole test suite: sets up and builds (warnings are errors),
# runs every test with ctest, then rebuilds with AddressSanitizer +
# UndefinedBehaviorSanitizer and runs the tests again under them.
#
#   scripts/test.sh                 # everything
#   PORCH_SKIP_SANITIZERS=1 scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
# The real Claude Code CLI, for the tests that run it against the fake API.
PORCH_CLAUDE_BIN="$PWD/$(scripts/install-claude-code.sh | tail -n 1)"
export PORCH_CLAUDE_BIN
# Chromium and playwright-core, for the dashboard's real-browser test.
PORCH_BROWSER_DEPS="$(scripts/install-browser-test.sh | tail -n 1)"
export PORCH_BROWSER_DEPS
# Daemons of the project's own, stopped on exit: a Docker engine for the
# Docker* tests, S3 servers for the S3Server* tests and a one-node SLURM
# cluster for the SlurmCluster* tests.
cleanup() {
  scripts/s3-down.sh || true
  scripts/slurm-down.sh || true
  scripts/docker-down.sh || true
}
trap cleanup EXIT
if PORCH_DOCKER_SOCKET="$(scripts/docker-up.sh)"; then
  export PORCH_DOCKER_SOCKET
else
  echo "test: no Docker engine could be started; the Docker* tests will skip" >&2
fi
# Two S3-protocol servers (one checks signatures, one is faithful on
# multipart) for the S3* tests.
if s3_env="$(scripts/s3-up.sh | tail -n 2)"; then
  export ${s3_env?}
else
  echo "test: the S3 servers could not be started; the S3Server* tests will skip" >&2
fi
if SLURM_CONF="$(scripts/slurm-up.sh | tail -n 1)"; then
  export SLURM_CONF
else
  echo "test: no SLURM cluster could be started; the SlurmCluster* tests will skip" >&2
fi
jobs="$(nproc 2>/dev/null || echo 2)"

echo "== build (warnings as errors)"
ninja -C build
echo "== tests"
(cd build && ctest --output-on-failure -j "$jobs" --timeout 300)

if [ "${PORCH_SKIP_SANITIZERS:-0}" != 1 ]; then
  echo "== build with AddressSanitizer + UndefinedBehaviorSanitizer"
  if [ ! -f build-asan/build.ninja ]; then
    cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DPORCH_WERROR=ON \
      -DPORCH_SANITIZE=ON -DPORCH_BENCH=OFF >/dev/null
  fi
  ninja -C build-asan
  echo "== tests under sanitizers"
  export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:${ASAN_OPTIONS:-}"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}"
  (cd build-asan && ctest --output-on-failure -j "$jobs" --timeout 600)
fi
echo "== all tests passed"
