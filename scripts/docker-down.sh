#!/usr/bin/env bash
# Stops the engine scripts/docker-up.sh started in $PORCH_DOCKER_DIR (default
# /tmp/porch-docker), unmounts what it leaves mounted there (the data root's
# bind mount, exec/netns/default), and removes the bridges and iptables
# chains it leaves behind when no other dockerd runs.
#   PORCH_DOCKER_REMOVE=1   also remove the directory (fresh state next time)
set -uo pipefail
dir="${PORCH_DOCKER_DIR:-/tmp/porch-docker}"
sudo=""
if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
if [ -f "$dir/dockerd.pid" ]; then
  pid="$(cat "$dir/dockerd.pid")"
  $sudo kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && $sudo kill -KILL "$pid" 2>/dev/null
  # containerd-shims of containers that were still running
  pkill -f "containerd-shim.*$dir" 2>/dev/null
fi
# Deepest first: a stopped dockerd leaves exec/netns/default and the data
# root mounted, and removing a mounted directory fails "Device or resource busy".
if [ -d "$dir" ]; then
  real="$(realpath "$dir")"
  findmnt -rn -o TARGET 2>/dev/null | awk -v d="$real/" 'index($0, d) == 1 || $0 == substr(d, 1, length(d) - 1)' |
    sort -r | while read -r m; do $sudo umount -l "$m" 2>/dev/null; done
fi
if ! pgrep -x dockerd >/dev/null; then
  for br in $(ip -o link show type bridge 2>/dev/null | awk -F': ' '{print $2}' | grep -E '^(docker0|br-)'); do
    $sudo ip link delete "$br" 2>/dev/null
  done
  for chain in DOCKER DOCKER-USER DOCKER-ISOLATION-STAGE-1 DOCKER-ISOLATION-STAGE-2; do
    $sudo iptables -t filter -F "$chain" 2>/dev/null; $sudo iptables -t filter -X "$chain" 2>/dev/null
  done
  $sudo iptables -t nat -F DOCKER 2>/dev/null; $sudo iptables -t nat -X DOCKER 2>/dev/null
  $sudo iptables -P FORWARD ACCEPT 2>/dev/null
fi
if [ "${PORCH_DOCKER_REMOVE:-0}" = 1 ] && [ -d "$dir" ]; then
  $sudo rm -rf "$dir" || { echo "docker-down: could not remove $dir" >&2; exit 1; }
fi
exit 0
