#!/usr/bin/env bash
# Installs what porch needs to build and test (Debian 12), then builds it.
# Idempotent: when nothing is missing it installs nothing and only runs an
# incremental build.
#
#   scripts/setup.sh            # install missing packages, build into build/
#   PORCH_BUILD_DIR=out scripts/setup.sh
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  g++ make cmake ninja-build pkg-config git ca-certificates
  nlohmann-json3-dev libcli11-dev libyaml-cpp-dev libgtest-dev
  libcurl4-openssl-dev libssl-dev libhiredis-dev python3
)

scripts/apt-install-missing.sh "${packages[@]}"

build_dir="${PORCH_BUILD_DIR:-build}"
if [ ! -f "$build_dir/build.ninja" ]; then
  cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPORCH_WERROR=ON >/dev/null
fi
ninja -C "$build_dir" porch
echo "setup: built $build_dir/porch"
# The Claude Code CLI (pinned), used by agent tasks and their tests.
if ! scripts/install-claude-code.sh >/dev/null; then
  echo "setup: could not install the Claude Code CLI (npm); AI tasks and its tests need it" >&2
fi
