#!/usr/bin/env bash
# Makes sure Debian's redis-server (7.0) is installed, for the queue
# backend's tests, and prints its path. Starts nothing: each QueueTest
# starts its own redis-server on 127.0.0.1 and a free port, with its own
# data directory (some restart it mid-run), and stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v redis-server >/dev/null; then
  scripts/apt-install-missing.sh redis-server >&2
  # The package may start a system-wide server (as a service); porch's tests
  # do not use it, and it is not theirs to stop.
fi
command -v redis-server
