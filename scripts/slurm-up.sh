#!/usr/bin/env bash
# Brings up a one-node SLURM cluster of porch's own on 127.0.0.1 for tests:
# Debian's munge and slurm-wlm, a munged, a slurmctld and a slurmd, all with
# their config, state, sockets and logs under $PORCH_SLURM_DIR (default
# /tmp/porch-slurm), nothing in /etc. Partitions: `debug` (default) and
# `gpu`; the node declares 2 GPUs through gres (stand-in device files), so
# `--gres=gpu:N` is accepted and jobs see CUDA_VISIBLE_DEVICES. No accounting
# daemon: sacct is not available on this cluster (porch works without it).
# Memory is enforced (CR_CPU_Memory, jobacct_gather/linux with OverMemoryKill).
#
# Waits until the node is idle, then prints the path of slurm.conf on the
# last line: export it as SLURM_CONF for sbatch, squeue and porch.
# Idempotent: a cluster of ours that already answers is reused.
# Stop it with scripts/slurm-down.sh.
#
#   PORCH_SLURM_CPUS     CPUs the node declares (default 16: more jobs at
#                        once than cores; tasks are mostly waiting)
#   PORCH_SLURM_MIN_JOB_AGE  seconds a finished job stays in squeue (default 10;
#                        short on purpose: porch must cope with jobs that vanish)
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${PORCH_SLURM_DIR:-/tmp/porch-slurm}"
conf="$dir/slurm.conf"
cpus="${PORCH_SLURM_CPUS:-16}"
min_job_age="${PORCH_SLURM_MIN_JOB_AGE:-10}"
ctld_port="${PORCH_SLURM_PORT:-16817}"
sudo=""
if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
scripts/apt-install-missing.sh munge slurm-wlm slurm-client

export SLURM_CONF="$conf"
node_idle() {
  [ -f "$conf" ] || return 1
  state="$(timeout 5 sinfo -h -N -o '%T' 2>/dev/null | head -n 1)" || return 1
  case "$state" in idle|mixed|allocated|completing) return 0 ;; *) return 1 ;; esac
}
if node_idle; then echo "$conf"; exit 0; fi

# Anything of ours left from an earlier run goes first.
scripts/slurm-down.sh >/dev/null 2>&1 || true
$sudo mkdir -p "$dir"/{munge,state,spool,log,dev}
$sudo chmod 700 "$dir/munge"
user="$(id -un)"
mem_mb="$(awk '/MemTotal/ {print int($2/1024*0.8)}' /proc/meminfo)"

# Munge: a key of our own and a socket in our directory.
if [ ! -f "$dir/munge/munge.key" ]; then
  $sudo dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
  $sudo chmod 400 "$dir/munge/munge.key"
fi
$sudo munged --force --key-file="$dir/munge/munge.key" --socket="$dir/munge/munge.socket" \
  --pid-file="$dir/munge/munged.pid" --log-file="$dir/log/munged.log" \
  --seed-file="$dir/munge/munged.seed"

# Stand-in GPU devices: gres wants character devices to count; nothing
# opens them. Links to /dev/null and /dev/zero need no mknod.
$sudo ln -sfn /dev/null "$dir/dev/gpu0"
$sudo ln -sfn /dev/zero "$dir/dev/gpu1"

cat > /tmp/porch-slurm.conf.$$ <<EOF
# Written by porch's scripts/slurm-up.sh: a one-node test cluster.
ClusterName=porchtest
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$((ctld_port + 1))
SlurmUser=$user
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.socket
CredType=cred/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
# Memory is enforced, as on production clusters: jobacct_gather samples every
# second and OverMemoryKill ends a job over its --mem ("exceeded memory
# limit" in its stderr, state FAILED 0:9). DefMemPerCPU keeps jobs without
# --mem from reserving the whole node.
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherParams=OverMemoryKill
JobAcctGatherFrequency=task=1
DefMemPerCPU=256
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=1,bf_interval=1
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
GresTypes=gpu
ReturnToService=2
SlurmdParameters=config_overrides
MinJobAge=$min_job_age
KillWait=5
InactiveLimit=0
MaxArraySize=10001
MaxJobCount=100000
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb Gres=gpu:2 State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=localhost MaxTime=INFINITE State=UP
EOF
$sudo mv /tmp/porch-slurm.conf.$$ "$conf"
cat > /tmp/porch-gres.conf.$$ <<EOF
NodeName=localhost Name=gpu File=$dir/dev/gpu[0-1]
EOF
$sudo mv /tmp/porch-gres.conf.$$ "$dir/gres.conf"
$sudo chmod 644 "$conf" "$dir/gres.conf"
echo "# empty: no cgroup plugins are used" | $sudo tee "$dir/cgroup.conf" >/dev/null

$sudo env SLURM_CONF="$conf" setsid slurmctld -f "$conf" -i </dev/null >"$dir/log/slurmctld.out" 2>&1
$sudo env SLURM_CONF="$conf" setsid slurmd -f "$conf" -N localhost </dev/null >"$dir/log/slurmd.out" 2>&1

for _ in $(seq 1 150); do
  if node_idle; then echo "$conf"; exit 0; fi
  state="$(timeout 5 sinfo -h -N -o '%T' 2>/dev/null | head -n 1 || true)"
  case "$state" in
    down*|drain*) $sudo env SLURM_CONF="$conf" scontrol update nodename=localhost state=resume >/dev/null 2>&1 || true ;;
  esac
  sleep 0.2
done
echo "slurm-up: the node did not become idle (state: ${state:-none}); logs in $dir/log" >&2
tail -n 5 "$dir/log/slurmctld.log" "$dir/log/slurmd.log" >&2 2>/dev/null || true
exit 1
