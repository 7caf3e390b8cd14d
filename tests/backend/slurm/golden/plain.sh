#!/bin/bash
#SBATCH --job-name=porch-20261124-000000-ab12-build-1
#SBATCH --time=00:02:05
#SBATCH --mem=4G
#SBATCH --cpus-per-task=2
#SBATCH --output=/shared/runs/r1/tasks/build/attempt-1/slurm.out
#SBATCH --error=/shared/runs/r1/tasks/build/attempt-1/slurm.err
#SBATCH --export=ALL
#SBATCH --comment="porch run r1"
#SBATCH --no-requeue
# Written by porch: one task attempt. Credentials are not in this file: they come
# from the environment exported at submission. See docs/slurm.md.
set -u
cd '/shared/runs/r1' || { echo "porch: cannot enter the run directory "'/shared/runs/r1'" on $(hostname)" >&2; exit 90; }
task='build' attempt=1 limit=60
exec '/opt/porch/bin/porch' exec-task --run-dir '/shared/runs/r1' --task-id "$task" --attempt "$attempt" --time-limit "$limit" --grace 5
