"""Cost of one online step against recomputing the window, per runtime.

    python -m benchmarks.online [--threads 2] [--frames 16] [--size 224]
        [--batch-sizes 1 8] [--repeats 5] [--warmup 1] [--calib-clips 2]
        [--quick] [--out FILE]

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
The window and the step of one runtime and precision take turns; the
runtimes and precisions run one after another, each alone in the process
(another runtime's threads, idle but spinning, would slow the short step
more than the window). The
table gives the medians of one stream (the first of ``--batch-sizes``),
the step / window ratio (1 / ``frames / 2`` is the ideal), and the pairs
per second one process sustains with each number of streams in
``--batch-sizes`` stepped together.
"""
import argparse
import sys
from pathlib import Path
from typing import Callable, Dict, Iterator, Optional, Sequence, Tuple

import torch
from mmaction.registry import MODELS
from mmengine.config import Config
from mmengine.registry import init_default_scope

from benchmarks.compared_models import BLVNET_CONFIG
from benchmarks.machine import cpu_name
from benchmarks.options import parse_int8_timing_args
from benchmarks.profiling import interleaved_medians
from benchmarks.report import run_in_folder
from mmblvnet.apis.export import export_onnx, onnx_metadata, random_weights_
from mmblvnet.apis.online import (
    OnlineRecognizer,
    RuntimeOnlineRecognizer,
    calibration_feeds,
    export_step_onnx,
)
from mmblvnet.apis.quantize import quantize_int8
from mmblvnet.apis.runtime import RuntimeRecognizer
from mmblvnet.utils.cli import run_main
from mmblvnet.utils.complexity import RecognizerForward

REPO = Path(__file__).resolve().parents[1]
RUNTIMES = ('onnxruntime', 'openvino')


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    return parse_int8_timing_args('online step against window recomputation',
                                  'streams stepped together', argv)


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
    forward = RecognizerForward(model)

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
        streams: {(*key, way): seconds
                  for key, ways in groups(model, files, args, streams)
                  for way, seconds in interleaved_medians(
                      ways, args.repeats, args.warmup,
                      torch.device('cpu')).items()}
        for streams in args.batch_sizes
    }
    return (f'{cpu_name()}, {args.threads} threads, {args.size}x{args.size}, '
            f'bLVNet-TAM-50 with causal TAMs, windows of {args.frames} '
            f'frames, median of {args.repeats}\n\n' +
            format_table(medians))


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the benchmark; user errors are one ``error:`` line."""

    return run_main(
        lambda rest: run_in_folder(measure, parse_args(rest), 'online-'),
        argv)


if __name__ == '__main__':
    sys.exit(main())
