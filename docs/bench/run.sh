#!/usr/bin/env bash
# Quiet-machine measurements of issues 26 and 28 (2026-12-02, second
# session), run one after another from the repository root; outputs in
# docs/bench/ (pipeline_*.md were rendered again from their .json by the
# tool's format_report after it gained the "vs first row (1 thread)"
# column; no re-measurement).
# runtime_b1.md, runtime_b1_busy.md, runtime_b8_ort.md and
# runtime_b8_openvino.md were measured again on 2026-12-02 (third
# session, Intel Xeon VM, quiet, 18:51-19:01 UTC) after the export and
# int8 changes of that session, with the four bench_runtime.py commands
# of docs/benchmarks.md ("CPU runtimes"), --out docs/bench/...
# They were measured again on 2026-12-03 (Intel Xeon VM without AMX,
# quiet, 08:16-08:39 UTC) after that morning's export change (TAM rotates
# frames, shortcut pools as depthwise convolutions), and once more the
# same day (Intel Xeon VM with AMX, quiet, 13:57-14:12 UTC) after every
# TAM term became a depthwise convolution; that runtime_b1.md was written
# by the b1 command below with --profile added (ONNX Runtime's kernel
# time per op type, both models), which replaces the separate profiled
# run of the morning (runtime_b1_ort_profile.md).
set -x
. .venv/bin/activate
B=/work/artifacts/bench
date
# Data (not timed): generated videos and their prepared copies.
for s in kinetics sthv2 sthv1; do python -m mmblvnet.datasets.video_styles data/bench/$s --style $s --videos 16; done
python tools/data/make_seekable.py data/bench/kinetics/list_videos.txt data/bench/kinetics/videos data/bench/kinetics_intra --jobs 2
python tools/data/make_seekable.py data/bench/kinetics/list_videos.txt data/bench/kinetics/videos data/bench/kinetics_gop16 --gop 16 --jobs 2
python tools/data/make_seekable.py data/bench/sthv2/list_videos.txt data/bench/sthv2/videos data/bench/sthv2_intra --jobs 2
python tools/data/make_seekable.py data/bench/kinetics/list_videos.txt data/bench/kinetics/videos data/bench/kinetics_frames --frames --jobs 2
date
# Timed, nothing else running (about 10 minutes in all).
python tools/analysis/bench_pipeline.py configs/zoo/blvnet-tam_r50_8xb8-1x1x16-50e_kinetics400-rgb.py \
    --videos data/bench/kinetics/list_videos.txt:data/bench/kinetics/videos \
             data/bench/kinetics/list_videos.txt:data/bench/kinetics_gop16 \
             data/bench/kinetics/list_videos.txt:data/bench/kinetics_intra \
    --out-dir $B/kinetics
python tools/deployment/bench_runtime.py --threads 2 --batch-sizes 1 --repeats 5 --calib-clips 2 --profile --out $B/runtime_b1.md
python tools/analysis/bench_pipeline.py configs/blvnet_tam_r50_8x.py \
    --videos data/bench/sthv2/list_videos.txt:data/bench/sthv2/videos \
             data/bench/sthv2/list_videos.txt:data/bench/sthv2_intra \
    --out-dir $B/sthv2
python tools/deployment/bench_runtime.py --threads 2 --batch-sizes 1 --repeats 5 --calib-clips 2 --busy-processes 1 --out $B/runtime_b1_busy.md
python tools/analysis/bench_pipeline.py configs/zoo/blvnet-tam_r50_8xb8-1x1x16-50e_sthv1-rgb.py \
    --videos data/bench/sthv1/list_rawframes.txt:data/bench/sthv1/rawframes \
    --out-dir $B/sthv1
date
