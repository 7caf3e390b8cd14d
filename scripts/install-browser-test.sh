#!/usr/bin/env bash
# Installs what the dashboard's real-browser test needs: Debian's chromium and
# playwright-core from npm (into .deps/browser, ignored by git). Idempotent.
# Prints the directory holding node_modules/playwright-core.
set -euo pipefail
cd "$(dirname "$0")/.."
version="1.64.1"
prefix=".deps/browser"
sudo=""
if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
missing=()
command -v chromium >/dev/null || missing+=(chromium)
command -v npm >/dev/null || missing+=(nodejs npm)
if ((${#missing[@]})); then
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if [ ! -f "$prefix/node_modules/playwright-core/package.json" ]; then
  mkdir -p "$prefix"
  npm install --prefix "$prefix" --no-audit --no-fund --loglevel=error "playwright-core@$version" >&2
fi
echo "$PWD/$prefix"
