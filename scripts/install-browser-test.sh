#!/usr/bin/env bash
# Installs what the dashboard's real-browser test needs: Debian's chromium and
# playwright-core from npm (into .deps/browser, ignored by git). Idempotent.
# Prints the directory holding node_modules/playwright-core.
set -euo pipefail
cd "$(dirname "$0")/.."
version="1.64.1"
prefix=".deps/browser"
scripts/apt-install-missing.sh chromium
# Node.js may come from elsewhere than Debian: install Debian's only when none.
command -v npm >/dev/null || scripts/apt-install-missing.sh nodejs npm
if [ ! -f "$prefix/node_modules/playwright-core/package.json" ]; then
  mkdir -p "$prefix"
  npm install --prefix "$prefix" --no-audit --no-fund --loglevel=error "playwright-core@$version" >&2
fi
echo "$PWD/$prefix"
