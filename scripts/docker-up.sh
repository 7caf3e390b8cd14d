#!/usr/bin/env bash
# Starts a Docker engine of porch's own for tests: Debian's docker.io (and
# busybox-static, used to build test images without a registry), a dockerd
# with its own data root, exec root and unix socket under $PORCH_DOCKER_DIR
# (default /tmp/porch-docker). Idempotent: an engine already answering on
# that socket is reused. Prints the socket path. Stop it with
# scripts/docker-down.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${PORCH_DOCKER_DIR:-/tmp/porch-docker}"
sock="$dir/docker.sock"
sudo=""
if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
scripts/apt-install-missing.sh docker.io busybox-static curl
ping() { curl -sf --unix-socket "$sock" http://localhost/_ping >/dev/null 2>&1; }
if ping; then echo "$sock"; exit 0; fi
mkdir -p "$dir"
# PORCH_DOCKERD_FLAGS: more flags, e.g. "--bridge=none --iptables=false" for
# a second engine beside the first (a test that restarts an engine of its own).
# shellcheck disable=SC2086
$sudo setsid dockerd --data-root "$dir/data" --exec-root "$dir/exec" --pidfile "$dir/dockerd.pid" \
  -H "unix://$sock" ${PORCH_DOCKERD_FLAGS:-} >>"$dir/dockerd.log" 2>&1 < /dev/null &
for _ in $(seq 1 100); do
  if ping; then echo "$sock"; exit 0; fi
  sleep 0.1
done
echo "docker-up: dockerd did not answer on $sock; see $dir/dockerd.log" >&2
tail -5 "$dir/dockerd.log" >&2 || true
exit 1
