#!/usr/bin/env bash
# Stops the cluster scripts/slurm-up.sh started (slurmd, slurmctld, munged,
# by their pid files) and removes its state, so the next start is fresh.
set -uo pipefail
dir="${PORCH_SLURM_DIR:-/tmp/porch-slurm}"
sudo=""
if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
stop() {
  local pidfile="$1"
  [ -f "$pidfile" ] || return 0
  local pid
  pid="$(cat "$pidfile" 2>/dev/null)"
  [ -n "$pid" ] || return 0
  $sudo kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  $sudo kill -KILL "$pid" 2>/dev/null
}
stop "$dir/slurmd.pid"
stop "$dir/slurmctld.pid"
stop "$dir/munge/munged.pid"
$sudo rm -rf "$dir/state" "$dir/spool" "$dir/slurmd.pid" "$dir/slurmctld.pid"
exit 0
