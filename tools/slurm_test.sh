#!/usr/bin/env bash
# Testing on a Slurm cluster (MMAction2's slurm_test.sh arguments):
#   [GPUS=8] [GPUS_PER_NODE=8] [CPUS_PER_TASK=5] [SRUN_ARGS=...] \
#       bash tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT [ARGS...]
# ARGS go to tools/test.py (e.g. --dump predictions.pkl).
set -euo pipefail
exec bash "$(dirname "$0")/slurm_run.sh" "$1" "$2" test.py "$3" "$4" \
    --launcher slurm "${@:5}"
