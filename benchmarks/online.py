"""Cost of one online step against recomputing the window, per runtime.

    python -m benchmarks.online [--threads 2] [--frames 16] [--size 224]
        [--batch-sizes 1 8] [--repeats 5] [--warmup 1] [--calib-clips 2]
        [--video-seconds 24] [--quick] [--out FILE]

bLVNet-TAM-50 with causal TAMs (``configs/blvnet_tam_r50_8x.py`` with
``tam_cfg=dict(blending_frames=3, causal=True)``) gets random,
input-dependent weights. Two ways to label a stream after each new frame
pair, in PyTorch eager, ONNX Runtime and OpenVINO, fp32 and int8:

- window: recompute the whole clip of ``--frames`` frames (the recognizer
  that ``export_onnx.py`` writes, run by
  :class:`~mmblvnet.apis.runtime.RuntimeRecognizer`);
- step: one online step (:class:`~mmblvnet.apis.online.OnlineRecognizer`,
  or the step file of ``export_onnx.py --online`` run by
  :class:`~mmblvnet.apis.online.RuntimeOnlineRecognizer`), scores over
  the last ``frames / 2`` pairs included.

int8 files are quantized on ``--calib-clips`` random clips (the step file
on the buffers those clips reach,
:func:`~mmblvnet.apis.online.calibration_feeds`).
Each (runtime, precision, way) is timed alone, one after another (its
warm-up, then its timed runs), with only its own runtime session alive
beside the one of the other way: a deployment runs one of them, and
another session's idle threads, still spinning after its run, would slow
the short step far more than the window (ONNX Runtime fp32: 2x), so the
machine must be quiet. The PyTorch window runs the model with its
BatchNorms folded (MMCV's ``fuse_conv_bn``), as the online recognizer's
copy has them. The
table gives the medians of one stream (the first of ``--batch-sizes``),
the step / window ratio (1 / ``frames / 2`` is the ideal), and the pairs
per second one process sustains with each number of streams in
``--batch-sizes`` stepped together.

Then ``tools/demo.py --online`` reads a webcam-like video (640 x 480,
25 fps, H.264, ``--video-seconds`` long) with every runtime and
precision: its real-time factor (processing time, decoding included, over
the video's duration) taking every 6th and every 16th frame (the
``--frame-interval`` of SSv2's and Kinetics' clip spans, docs/online.md),
and the pairs per second one stream sustains taking every frame. The
streams one process serves with its steps batched as the largest of
``--batch-sizes`` are computed from measured parts: each stream's decoding
and pipeline (timed without a model) and its pairs at that batch's rate.
"""
import argparse
import copy
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Dict, Iterator, Optional, Sequence, Tuple

import torch
from mmaction.registry import MODELS
from mmcv.cnn import fuse_conv_bn
from mmengine.config import Config
from mmengine.registry import init_default_scope

from benchmarks.compared_models import BLVNET_CONFIG
from benchmarks.machine import cpu_name
from benchmarks.options import parse_int8_timing_args
from benchmarks.profiling import interleaved_medians
from benchmarks.report import run_in_folder
from benchmarks.video_styles import VideoStyle, encode_video, render_frames
from mmblvnet.apis.export import export_onnx, onnx_metadata, random_weights_
from mmblvnet.apis.online import (
    OnlineRecognizer,
    RuntimeOnlineRecognizer,
    calibration_feeds,
    export_step_onnx,
)
from mmblvnet.apis.quantize import quantize_int8
from mmblvnet.apis.runtime import RuntimeRecognizer
from mmblvnet.apis.stream import FramePipeline, VideoSource, frame_pairs
from mmblvnet.utils.cli import run_main
from mmblvnet.utils.complexity import RecognizerForward

REPO = Path(__file__).resolve().parents[1]
RUNTIMES = ('onnxruntime', 'openvino')
CAMERA_FPS = 25
# Frames from one taken frame to the next in docs/online.md: SSv2's clip
# span (16 frames over about 4 s) and Kinetics' (16 over 10 s) at 25 fps.
FRAME_INTERVALS = (6, 16)
# Frames per clip and crop size of the config the demo runs.
DEMO_CLIP = (16, 224)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    args = parse_int8_timing_args(
        'online step against window recomputation',
        'streams stepped together', argv,
        (('--video-seconds', 24, 'length of the camera video that '
          'tools/demo.py --online reads (0: no demo runs)'), ))
    if args.video_seconds > 0 and (args.frames, args.size) != DEMO_CLIP:
        raise ValueError(
            f'tools/demo.py runs {BLVNET_CONFIG} as it is ({DEMO_CLIP[0]} '
            f'frames of {DEMO_CLIP[1]} px): give --frames {DEMO_CLIP[0]} '
            f'--size {DEMO_CLIP[1]}, or --video-seconds 0')
    return args


def causal_model(args: argparse.Namespace) -> torch.nn.Module:
    """bLVNet-TAM-50 with causal TAMs and random weights, eval mode."""
    init_default_scope('mmaction')
    cfg = Config.fromfile(str(REPO / BLVNET_CONFIG)).model
    cfg.backbone.update(num_segments=args.frames,
                        tam_cfg=dict(blending_frames=3, causal=True))
    cfg.cls_head.num_classes = args.num_classes
    model = MODELS.build(cfg)
    return random_weights_(model,
                           (args.frames, 3, args.size, args.size)).eval()


def write_files(model: torch.nn.Module, args: argparse.Namespace,
                folder: str) -> Dict[tuple, str]:
    """fp32 and int8 files of the window (clip) and of the step."""
    clip_shape = (args.frames, 3, args.size, args.size)
    files = {(way, precision): f'{folder}/{way}.{precision}.onnx'
             for way in ('window', 'step') for precision in ('fp32', 'int8')}
    export_onnx(model, clip_shape, files['window', 'fp32'],
                onnx_metadata(model, args.frames))
    online = OnlineRecognizer(model)
    export_step_onnx(online, clip_shape[1:], files['step', 'fp32'])
    calibration = torch.randn(args.calib_clips, 1, *clip_shape,
                              generator=torch.Generator().manual_seed(1))
    quantize_int8(files['window', 'fp32'], files['window', 'int8'],
                  iter(calibration.numpy()))
    quantize_int8(files['step', 'fp32'], files['step', 'int8'],
                  calibration_feeds(online, iter(calibration.numpy())))
    return files


def groups(model: torch.nn.Module, files: Dict[tuple, str],
           args: argparse.Namespace, streams: int
           ) -> Iterator[Tuple[tuple, Dict[str, Callable[[], object]]]]:
    """``(runtime, precision)`` and its two timed ways for ``streams``
    streams: ``'window'`` (a window of every stream) and ``'step'`` (a
    step of every stream). One group is alive at a time, so a runtime's
    idle threads never compete with another's, as in a deployment."""
    clips = torch.randn(streams, args.frames, 3, args.size, args.size)
    pair = clips[:, :2]
    online = OnlineRecognizer(model)
    forward = RecognizerForward(fuse_conv_bn(copy.deepcopy(model)))

    def window() -> None:
        with torch.no_grad():
            forward(clips)

    yield ('pytorch', 'fp32'), dict(window=window,
                                    step=lambda: online.step(pair))
    for runtime in RUNTIMES:
        for precision in ('fp32', 'int8'):
            recognizer = RuntimeRecognizer(files['window', precision],
                                           runtime, args.threads)
            stepper = RuntimeOnlineRecognizer(files['step', precision],
                                              None, runtime, args.threads)
            yield (runtime, precision), dict(
                window=lambda r=recognizer, c=clips.numpy(): r.logits(c),
                step=lambda s=stepper, p=pair.numpy(): s.step(p))


def format_table(medians: Dict[int, Dict[tuple, float]]) -> str:
    """Markdown: a row per (runtime, precision); ``medians`` by number of
    streams, the first one's window and step in ms."""
    streams = list(medians)
    first = medians[streams[0]]
    lines = [
        f'| runtime | precision | window ({streams[0]}) | step '
        f'({streams[0]}) | step / window | ' +
        ' | '.join(f'pairs/s, {count} streams' for count in streams) + ' |',
        '|---|---|---|---|---|' + '---|' * len(streams)
    ]
    for runtime, precision, way in first:
        if way != 'step':
            continue
        window = first[runtime, precision, 'window']
        step = first[runtime, precision, 'step']
        rates = [f'{count / medians[count][runtime, precision, "step"]:.1f}'
                 for count in streams]
        lines.append(
            f'| {runtime} | {precision} | {1000 * window:.1f} ms | '
            f'{1000 * step:.1f} ms | {step / window:.3f}x | ' +
            ' | '.join(rates) + ' |')
    return '\n'.join(lines)


def measure(args: argparse.Namespace, folder: str) -> str:
    """Build, export, quantize and time; return the report."""
    model = causal_model(args)
    files = write_files(model, args, folder)
    medians = {
        streams: {(*key, way): interleaved_medians(
            {way: run}, args.repeats, args.warmup, torch.device('cpu'))[way]
                  for key, ways in groups(model, files, args, streams)
                  for way, run in ways.items()}
        for streams in args.batch_sizes
    }
    report = (f'{cpu_name()}, {args.threads} threads, {args.size}x'
              f'{args.size}, bLVNet-TAM-50 with causal TAMs, windows of '
              f'{args.frames} frames, median of {args.repeats}\n\n' +
              format_table(medians))
    if args.video_seconds <= 0:
        return report
    most = max(args.batch_sizes)
    step_rates = {(runtime, precision): most / seconds
                  for (runtime, precision, way), seconds in
                  medians[most].items() if way == 'step'}
    return (report + f'\n\ntools/demo.py --online on a {args.video_seconds} '
            f's camera video (640x480, {CAMERA_FPS} fps, H.264); streams at '
            f'batch {most}: decoding measured, steps at the rate of '
            f'{most} streams\n\n' +
            demo_table(model, files, args, folder, step_rates))


def camera_video(folder: str, seconds: float) -> str:
    """A webcam-like H.264 file (640 x 480, 25 fps) of a textured scene
    with camera motion (:mod:`benchmarks.scenes`)."""
    style = VideoStyle(640, 480, CAMERA_FPS, seconds, '.mp4',
                       ('-c:v', 'libx264', '-g', '50', '-pix_fmt',
                        'yuv420p'))
    path = f'{folder}/camera.mp4'
    encode_video(render_frames(0, 0, style), path, style.fps,
                 style.codec_args)
    return path


def decoding_seconds(video: str, interval: int) -> float:
    """What the demo's loop costs without a model: decoding every frame
    and the test pipeline of every taken pair."""
    pipeline = FramePipeline(Config.fromfile(str(REPO /
                                                 BLVNET_CONFIG)).test_pipeline)
    started = time.perf_counter()
    for _, pair in frame_pairs(VideoSource(video), interval):
        pipeline.transform(pair)
    return time.perf_counter() - started


def demo_seconds(video: str, model_file: str, backend: str,
                 args: argparse.Namespace, interval: int) -> float:
    """Processing seconds that ``tools/demo.py --online`` reports for
    ``video`` (decoding included, model load excluded)."""
    command = [
        sys.executable, str(REPO / 'tools/demo.py'), video,
        str(REPO / BLVNET_CONFIG), model_file, '--online',
        '--frame-interval', str(interval), '--backend', backend,
        '--threads', str(args.threads), '--cfg-options',
        'model.backbone.tam_cfg.causal=True',
        f'model.cls_head.num_classes={args.num_classes}'
    ]
    output = subprocess.run(command, check=True, capture_output=True,
                            text=True, cwd=REPO).stdout
    found = re.search(r'real-time factor: [\d.]+ \(([\d.]+) s of '
                      r'processing', output)
    if found is None:
        raise RuntimeError(f'tools/demo.py printed no real-time factor: '
                           f'{output[-500:]}')
    return float(found.group(1))


def demo_table(model: torch.nn.Module, files: Dict[tuple, str],
               args: argparse.Namespace, folder: str,
               step_rates: Dict[tuple, float]) -> str:
    """Markdown: the demo's real-time factor at every
    :data:`FRAME_INTERVALS`, the streams one process serves with the
    steps batched as the largest of ``--batch-sizes`` (``step_rates``:
    pairs/s there) and the pair rate of one stream with decoding (every
    frame taken)."""
    batch = max(args.batch_sizes)
    video = camera_video(folder, args.video_seconds)
    checkpoint = f'{folder}/causal.pth'
    torch.save(dict(state_dict=model.state_dict()), checkpoint)
    num_frames = CAMERA_FPS * args.video_seconds
    decoding = {interval: decoding_seconds(video, interval) /
                args.video_seconds for interval in FRAME_INTERVALS}
    lines = [
        'Decoding and test pipeline without a model, fraction of real '
        'time: ' + ', '.join(f'{decoding[interval]:.3f} every {interval}th '
                             'frame' for interval in FRAME_INTERVALS), '',
        '| runtime | precision | ' + ' | '.join(
            f'real-time factor, every {interval}th frame'
            for interval in FRAME_INTERVALS) + ' | ' + ' | '.join(
                f'streams at batch {batch}, every {interval}th frame'
                for interval in FRAME_INTERVALS) +
        ' | pairs/s of one stream, every frame |',
        '|---|---|' + '---|' * (2 * len(FRAME_INTERVALS) + 1)
    ]
    for (runtime, precision), rate8 in step_rates.items():
        model_file = (checkpoint if runtime == 'pytorch' else
                      files['step', precision])
        factors = [demo_seconds(video, model_file, runtime, args, interval) /
                   args.video_seconds for interval in FRAME_INTERVALS]
        # A stream costs its decoding and its pairs at the batch-8 rate.
        streams = [
            int(1 / (decoding[interval] +
                     CAMERA_FPS / (2 * interval) / rate8))
            for interval in FRAME_INTERVALS
        ]
        pair_rate = num_frames / 2 / demo_seconds(video, model_file, runtime,
                                                args, 1)
        lines.append(f'| {runtime} | {precision} | ' +
                     ' | '.join(f'{factor:.3f}' for factor in factors) +
                     ' | ' + ' | '.join(map(str, streams)) +
                     f' | {pair_rate:.1f} |')
    return '\n'.join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the benchmark; user errors are one ``error:`` line."""

    return run_main(
        lambda rest: run_in_folder(measure, parse_args(rest), 'online-'),
        argv)


if __name__ == '__main__':
    sys.exit(main())
