#!/bin/bash
#SBATCH --job-name=porch-r1-a-1-array3
#SBATCH --time=00:02:05
#SBATCH --mem=4G
#SBATCH --cpus-per-task=2
#SBATCH --array=0-2%5
#SBATCH --output=/shared/runs/r1/slurm/porch-r1-a-1-array3-%a.out
#SBATCH --error=/shared/runs/r1/slurm/porch-r1-a-1-array3-%a.out
#SBATCH --export=ALL
#SBATCH --comment="porch run r1"
#SBATCH --no-requeue
# Written by porch: 3 attempts as a job array. Credentials are not in this file: they come
# from the environment exported at submission. See docs/slurm.md.
set -u
cd '/shared/runs/r1' || { echo "porch: cannot enter the run directory "'/shared/runs/r1'" on $(hostname)" >&2; exit 90; }
case "${SLURM_ARRAY_TASK_ID:-}" in
  0) task='a' attempt=1 limit=60 ;;
  1) task='b' attempt=2 limit=120 ;;
  2) task='c' attempt=1 limit=60 ;;
  *) echo "porch: array element '${SLURM_ARRAY_TASK_ID:-}' is not in this script" >&2; exit 91 ;;
esac
dir='/shared/runs/r1/tasks/'"$task/attempt-$attempt"
mkdir -p "$dir" && exec >>"$dir/slurm.out" 2>>"$dir/slurm.err"
exec '/opt/porch/bin/porch' exec-task --run-dir '/shared/runs/r1' --task-id "$task" --attempt "$attempt" --time-limit "$limit" --grace 5
