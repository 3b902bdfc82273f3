#!/usr/bin/env bash
# Distributed training: bash tools/dist_train.sh CONFIG NPROC [ARGS...]
# NPROC processes on this node (GPUs, or CPU processes with gloo when CUDA
# is absent); ARGS go to tools/train.py. Several nodes: run it on each node
# with NNODES (number of nodes), NODE_RANK (0 .. NNODES-1), MASTER_ADDR
# (address of node 0) and PORT (a free port on node 0, default 29500).
set -euo pipefail
CONFIG=$1
NPROC=$2
torchrun --nnodes="${NNODES:-1}" --node_rank="${NODE_RANK:-0}" \
    --master_addr="${MASTER_ADDR:-127.0.0.1}" \
    --master_port="${PORT:-29500}" --nproc_per_node="$NPROC" \
    "$(dirname "$0")/train.py" "$CONFIG" --launcher pytorch "${@:3}"
