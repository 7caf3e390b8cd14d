#!/usr/bin/env bash
# Stops the S3 servers scripts/s3-up.sh started and removes their data.
set -uo pipefail
dir="${PORCH_S3_DIR:-/tmp/porch-s3}"
for name in s3rver fauxqs; do
  pidfile="$dir/$name.pid"
  [ -f "$pidfile" ] || continue
  pid="$(cat "$pidfile")"
  kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null
  rm -f "$pidfile"
done
rm -rf "$dir/s3rver-data" "$dir/fauxqs-data"
exit 0
