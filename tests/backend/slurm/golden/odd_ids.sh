#!/bin/bash
#SBATCH --job-name=porch-r1-it_s_a___task___x_-980f900d-1
#SBATCH --time=00:02:05
#SBATCH --mem=4G
#SBATCH --cpus-per-task=2
#SBATCH --array=0-1
#SBATCH --output="/shared/run dir/slurm/x-%a.out"
#SBATCH --error="/shared/run dir/slurm/x-%a.out"
#SBATCH --export=ALL
#SBATCH --comment="porch run r1"
#SBATCH --no-requeue
# Written by porch: 2 attempts as a job array. Credentials are not in this file: they come
# from the environment exported at submission. See docs/slurm.md.
set -u
cd '/shared/run dir' || { echo "porch: cannot enter the run directory "'/shared/run dir'" on $(hostname)" >&2; exit 90; }
case "${SLURM_ARRAY_TASK_ID:-}" in
  0) task='it'\''s a $(task) "x"' attempt=1 limit=0 ;;
  1) task='semi;colon `tick`' attempt=3 limit=0 ;;
  *) echo "porch: array element '${SLURM_ARRAY_TASK_ID:-}' is not in this script" >&2; exit 91 ;;
esac
dir='/shared/run dir/tasks/'"$task/attempt-$attempt"
mkdir -p "$dir" && exec >>"$dir/slurm.out" 2>>"$dir/slurm.err"
exec '/opt/porch/bin/porch' exec-task --run-dir '/shared/run dir' --task-id "$task" --attempt "$attempt" --time-limit "$limit" --grace 5
