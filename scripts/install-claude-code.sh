#!/usr/bin/env bash
# Installs the pinned Claude Code CLI into .deps/claude-code (ignored by git),
# from the npm registry, for the executor and fake-server tests. Idempotent.
# The real program is a native binary from an optional dependency that the
# package's install script links into place, so scripts must run.
#
#   scripts/install-claude-code.sh        # prints the path of the claude binary
set -euo pipefail
cd "$(dirname "$0")/.."
version="2.1.197"   # later versions need Node >= 22
prefix=".deps/claude-code"
bin="$prefix/node_modules/.bin/claude"
if [ -x "$bin" ] && "$bin" --version 2>/dev/null | grep -q "$version"; then
  echo "$bin"
  exit 0
fi
command -v npm >/dev/null || scripts/apt-install-missing.sh nodejs npm
mkdir -p "$prefix"
npm install --prefix "$prefix" --no-audit --no-fund --loglevel=error \
  "@anthropic-ai/claude-code@$version" >&2
"$bin" --version >&2
echo "$bin"
