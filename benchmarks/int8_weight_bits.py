"""int8 latency with 7-bit weights (what ``quantize.py`` writes) against
8-bit ones, fp32 and TSM-R50, in ONNX Runtime and OpenVINO, in one process.

    python -m benchmarks.int8_weight_bits [--threads 2] [--batch-sizes 1 8]
        [--frames 16] [--size 224] [--repeats 5] [--warmup 1]
        [--calib-clips 2] [--quick] [--out FILE]

bLVNet-TAM-50 8x2 and MMAction2's TSM-R50 at the same frames get random,
input-dependent weights and are exported as ``export_onnx.py`` does. Each
fp32 file is quantized twice on the same random calibration clips: by
:func:`~mmblvnet.apis.quantize.quantize_int8` (7-bit weights) and by the
same ``quantize_static`` call with 8-bit weights, a file ``quantize.py``
refuses to write since x86 CPUs without VNNI saturate it (measurement
only; it is deleted at the end). Every (model, runtime, file) is timed
taking turns with the others; a cell is the median latency and its ratio
to the same model's 7-bit int8 file, its fp32 file, and (bLVNet rows)
TSM-R50 in the same runtime and setting.
"""
import argparse
import sys
from pathlib import Path
from typing import Dict, Iterator, Optional, Sequence

import numpy as np
import torch
from mmengine.registry import init_default_scope

from benchmarks.compared_models import build_models, model_labels
from benchmarks.machine import cpu_name
from benchmarks.options import parse_int8_timing_args
from benchmarks.profiling import interleaved_medians
from benchmarks.report import run_in_folder
from mmblvnet.apis.export import (
    INPUT_NAME,
    export_onnx,
    onnx_metadata,
    random_weights_,
)
from mmblvnet.apis.quantize import quantize_int8
from mmblvnet.apis.runtime import RuntimeRecognizer
from mmblvnet.utils.cli import run_main

REPO = Path(__file__).resolve().parents[1]
MODELS = ('blvnet', 'tsm')
FILES = ('fp32', 'int8-7bit', 'int8-8bit')
BACKENDS = {'ort': 'onnxruntime', 'openvino': 'openvino'}


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    return parse_int8_timing_args(
        'int8 latency with 7-bit against 8-bit weights', 'clips per batch',
        argv)


def quantize_8bit(fp32: str, out: str, clips: Iterator[np.ndarray]) -> None:
    """``quantize_int8``'s settings with 8-bit weights (no check)."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):

        def get_next(self):
            clip = next(clips, None)
            return None if clip is None else {INPUT_NAME: clip}

    prepared = f'{out}.prepared.onnx'
    quant_pre_process(fp32, prepared, skip_symbolic_shape=True)
    quantize_static(prepared, out, Reader(), quant_format=QuantFormat.QDQ,
                    activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8, per_channel=True,
                    calibrate_method=CalibrationMethod.MinMax)


def write_files(model: torch.nn.Module, name: str, args: argparse.Namespace,
                folder: str) -> Dict[str, str]:
    """The fp32, 7-bit and 8-bit int8 files of ``model``."""
    clip_shape = (args.frames, 3, args.size, args.size)
    files = {file: f'{folder}/{name}.{file}.onnx' for file in FILES}
    export_onnx(model, clip_shape, files['fp32'],
                onnx_metadata(model, args.frames))
    calibration = torch.randn(args.calib_clips, 1, *clip_shape,
                              generator=torch.Generator().manual_seed(1))
    quantize_int8(files['fp32'], files['int8-7bit'],
                  iter(calibration.numpy()))
    quantize_8bit(files['fp32'], files['int8-8bit'],
                  iter(calibration.numpy()))
    return files


def format_table(latency: Dict[tuple, float], args: argparse.Namespace,
                 labels: Dict[str, str]) -> str:
    """Markdown: a row per (model, runtime, batch), a column per file."""
    lines = ['| model | runtime | batch | ' + ' | '.join(FILES) + ' |',
             '|---|---|---|' + '---|' * len(FILES)]
    for name in MODELS:
        for backend in BACKENDS:
            for batch in args.batch_sizes:
                cells = []
                for file in FILES:
                    value = latency[name, backend, file, batch]
                    ratios = [
                        f'{value / latency[name, backend, other, batch]:.2f}'
                        f'x {other}' for other in ('fp32', 'int8-7bit')
                        if other != file
                    ]
                    if name != 'tsm':
                        tsm = latency['tsm', backend, file, batch]
                        ratios.append(f'{value / tsm:.2f}x TSM')
                    cells.append(f'{1000 * value:.0f} ms '
                                 f'({", ".join(ratios)})')
                lines.append(f'| {labels[name]} | {backend} | {batch} | ' +
                             ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def measure(args: argparse.Namespace, folder: str) -> str:
    """Build, export, quantize both ways and time; return the report."""
    init_default_scope('mmaction')
    clip_shape = (args.frames, 3, args.size, args.size)
    built = build_models(REPO, MODELS, frames=args.frames,
                         num_classes=args.num_classes)
    files = {
        name: write_files(random_weights_(model, clip_shape).eval(), name,
                          args, folder)
        for name, model in built.items()
    }
    runners = {
        (name, backend, file): RuntimeRecognizer(
            files[name][file], BACKENDS[backend], args.threads)
        for name in MODELS for backend in BACKENDS for file in FILES
    }
    latency = {}
    for batch in args.batch_sizes:
        clips = torch.randn(batch, *clip_shape).numpy()
        medians = interleaved_medians(
            {key: (lambda r=runner, c=clips: r.logits(c))
             for key, runner in runners.items()},
            args.repeats, args.warmup, torch.device('cpu'))
        latency.update({(*key, batch): value
                        for key, value in medians.items()})
    return (f'{cpu_name()}, {args.threads} threads, {args.size}x{args.size}, '
            f'{args.frames} frames, median of {args.repeats}\n\n' +
            format_table(latency, args, model_labels(args.frames)))


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the benchmark; user errors are one ``error:`` line."""

    return run_main(
        lambda rest: run_in_folder(measure, parse_args(rest), 'int8-bits-'),
        argv)


if __name__ == '__main__':
    sys.exit(main())
