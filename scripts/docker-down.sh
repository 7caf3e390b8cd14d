#!/usr/bin/env bash
# Stops the engine scripts/docker-up.sh started, and removes the bridges and
# iptables chains it leaves behind when no other dockerd runs.
set -uo pipefail
dir="${PORCH_DOCKER_DIR:-/tmp/porch-docker}"
sudo=""
if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
if [ -f "$dir/dockerd.pid" ]; then
  pid="$(cat "$dir/dockerd.pid")"
  $sudo kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
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
exit 0
