#!/usr/bin/env bash
# What slurm_train.sh and slurm_test.sh submit:
#   bash tools/slurm_run.sh PARTITION JOB_NAME TOOL [ARGS...]
# runs `python -u tools/TOOL ARGS` as GPUS tasks, GPUS_PER_NODE per node
# (defaults 8 and 8), CPUS_PER_TASK cores each (default 5), with SRUN_ARGS
# added to srun; MASTER_PORT is a random port unless set.
set -euo pipefail
PARTITION=$1
JOB_NAME=$2
TOOL=$3
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-""}
export MASTER_PORT=${MASTER_PORT:-$((12000 + RANDOM % 20000))}
# shellcheck disable=SC2086  # SRUN_ARGS holds several words
srun -p "$PARTITION" --job-name="$JOB_NAME" \
    --gres=gpu:"$GPUS_PER_NODE" --ntasks="$GPUS" \
    --ntasks-per-node="$GPUS_PER_NODE" --cpus-per-task="$CPUS_PER_TASK" \
    --kill-on-bad-exit=1 $SRUN_ARGS \
    python -u "$(dirname "$0")/$TOOL" "${@:4}"
