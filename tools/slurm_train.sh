#!/usr/bin/env bash
# Training on a Slurm cluster (MMAction2's slurm_train.sh arguments):
#   [GPUS=16] [GPUS_PER_NODE=8] [CPUS_PER_TASK=5] [SRUN_ARGS=...] \
#       bash tools/slurm_train.sh PARTITION JOB_NAME CONFIG [ARGS...]
# One task per GPU on GPUS / GPUS_PER_NODE nodes (srun sets the ranks);
# ARGS go to tools/train.py (e.g. --work-dir DIR --resume).
set -euo pipefail
exec bash "$(dirname "$0")/slurm_run.sh" "$1" "$2" train.py "$3" \
    --launcher slurm "${@:4}"
