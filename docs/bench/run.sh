#!/usr/bin/env bash
# The quiet-machine measurements of docs/benchmarks.md, one after another
# from the repository's root; raw outputs in docs/bench/. The data
# pipeline runs on videos generated in the public data sets' styles.
set -euxo pipefail
B=docs/bench
date
# Data (not timed): generated videos and their prepared copies.
for s in kinetics sthv2 sthv1; do python -m benchmarks.video_styles data/bench/$s --style $s --videos 16; done
python tools/data/make_seekable.py data/bench/kinetics/list_videos.txt data/bench/kinetics/videos data/bench/kinetics_intra --jobs 2
python tools/data/make_seekable.py data/bench/kinetics/list_videos.txt data/bench/kinetics/videos data/bench/kinetics_gop16 --gop 16 --jobs 2
python tools/data/make_seekable.py data/bench/sthv2/list_videos.txt data/bench/sthv2/videos data/bench/sthv2_intra --jobs 2
date
# Timed, nothing else running.
python -m benchmarks.model --threads 2 --out $B/benchmark_table.md
python -m benchmarks.pipeline configs/zoo/blvnet-tam_r50_8xb8-1x1x16-50e_kinetics400-rgb.py \
    --videos data/bench/kinetics/list_videos.txt:data/bench/kinetics/videos \
             data/bench/kinetics/list_videos.txt:data/bench/kinetics_gop16 \
             data/bench/kinetics/list_videos.txt:data/bench/kinetics_intra \
    --out-dir work_dirs/bench_pipeline/kinetics
python -m benchmarks.pipeline configs/blvnet_tam_r50_8x.py \
    --videos data/bench/sthv2/list_videos.txt:data/bench/sthv2/videos \
             data/bench/sthv2/list_videos.txt:data/bench/sthv2_intra \
    --out-dir work_dirs/bench_pipeline/sthv2
python -m benchmarks.pipeline configs/zoo/blvnet-tam_r50_8xb8-1x1x16-50e_sthv1-rgb.py \
    --videos data/bench/sthv1/list_rawframes.txt:data/bench/sthv1/rawframes \
    --out-dir work_dirs/bench_pipeline/sthv1
for s in kinetics sthv2 sthv1; do
    cp work_dirs/bench_pipeline/$s/bench_pipeline.md $B/pipeline_$s.md
    cp work_dirs/bench_pipeline/$s/bench_pipeline.json $B/pipeline_$s.json
done
python -m benchmarks.runtime --threads 2 --batch-sizes 1 --repeats 5 --calib-clips 2 --profile --out $B/runtime_b1.md
python -m benchmarks.runtime --threads 2 --batch-sizes 1 --repeats 5 --calib-clips 2 --busy-processes 1 --out $B/runtime_b1_busy.md
python -m benchmarks.runtime --threads 2 --batch-sizes 8 --repeats 3 --calib-clips 2 --runtimes pytorch ort-fp32 ort-int8 --out $B/runtime_b8_ort.md
python -m benchmarks.runtime --threads 2 --batch-sizes 8 --repeats 3 --calib-clips 2 --runtimes pytorch openvino-fp32 openvino-int8 --out $B/runtime_b8_openvino.md
date
