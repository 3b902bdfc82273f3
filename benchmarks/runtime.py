"""CPU latency of bLVNet-TAM-50 and TSM-R50 in PyTorch, ONNX Runtime and
OpenVINO, fp32 and int8, in one process.

    python -m benchmarks.runtime [--threads 2]
        [--batch-sizes 1 8] [--frames 16] [--size 224] [--repeats 5]
        [--warmup 1] [--runtimes ...] [--busy-processes 0] [--profile]
        [--quick] [--out FILE]

bLVNet-TAM-50 8x2 (``configs/blvnet_tam_r50_8x.py``) and MMAction2's
TSM-R50 at the same number of frames (its own config, read offline;
:mod:`benchmarks.compared_models`) get random weights whose
logits depend on the input (:func:`~mmblvnet.apis.export.random_weights_`)
and are exported the same way (:func:`~mmblvnet.apis.export.export_onnx`,
dynamic batch). Each export is checked against PyTorch at batch 1 in
ONNX Runtime and OpenVINO (max abs difference / logit scale, printed),
then quantized to static int8 QDQ as ``tools/deployment/quantize.py``
writes it (:func:`~mmblvnet.apis.quantize.quantize_int8`, every op),
calibrated on random clips (the ranges barely change the speed;
``quantize.py`` checks accuracy on real clips).

Runtimes: ``pytorch`` (eager, ``torch.inference_mode``), ``ort-fp32``,
``ort-int8``, ``openvino-fp32``, ``openvino-int8`` (OpenVINO running the
same QDQ file with its int8 kernels). All use ``--threads`` threads. For
each batch size every (model, runtime) pair is timed, all pairs taking
turns (:func:`~benchmarks.profiling.interleaved_medians`), so a change
in the machine's load hits all of them alike; the cell is the median
latency, its ratio to the same model in PyTorch eager and (bLVNet rows)
to TSM-R50 in the same runtime. ``--busy-processes N`` keeps N processes
spinning on the CPU while timing (the "one other busy process" load).
``--profile`` adds, for each ONNX Runtime precision timed, both models'
kernel time per op type at the smallest batch (ONNX Runtime's profiler,
``--repeats`` runs under the same load;
:mod:`benchmarks.ort_profile`): what the convolutions and
what everything else cost, each against TSM-R50. ``--quick`` is one
warm-up and one timed run (smoke test; use small ``--size``). A user
error is one ``error:`` line and exit status 1 (``--debug`` shows the
traceback).
"""
import argparse
import functools
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

import torch
from mmengine.registry import init_default_scope

from benchmarks.compared_models import build_models, model_labels
from benchmarks.machine import cpu_name
from benchmarks.options import (
    CLIP_OPTIONS,
    TIMING_OPTIONS,
    add_batch_and_output_options,
    add_int_options,
    check_timing_args,
)
from benchmarks.ort_profile import format_profile, kernel_times
from benchmarks.profiling import inference, interleaved_medians
from benchmarks.report import emit
from mmblvnet.apis.export import (
    INPUT_NAME,
    export_onnx,
    onnx_metadata,
    random_weights_,
    relative_diff,
)
from mmblvnet.apis.quantize import quantize_int8
from mmblvnet.apis.runtime import RuntimeRecognizer
from mmblvnet.utils.cli import run_main

REPO = Path(__file__).resolve().parents[1]
RUNTIMES = ('pytorch', 'ort-fp32', 'ort-int8', 'openvino-fp32',
            'openvino-int8')
MODELS = ('blvnet', 'tsm')


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='bLVNet-TAM-50 vs TSM-R50 latency in PyTorch, ONNX '
        'Runtime and OpenVINO, fp32 and int8')
    add_int_options(parser, (
        ('--threads', 2, 'threads of every runtime'),
        *CLIP_OPTIONS,
        *TIMING_OPTIONS,
        ('--calib-clips', 4, 'random clips calibrating int8'),
        ('--busy-processes', 0, 'processes spinning on the CPU while '
         'timing (load)'),
    ))
    add_batch_and_output_options(parser, 'clips per batch',
                                 'also write the report here')
    parser.add_argument('--runtimes', nargs='+', choices=RUNTIMES,
                        default=list(RUNTIMES), help='runtimes to time')
    parser.add_argument('--profile', action='store_true',
                        help="also ONNX Runtime's kernel time per op type "
                        'of both models (smallest batch)')
    args = parser.parse_args(argv)
    check_timing_args(parser, args)
    if 'pytorch' not in args.runtimes:
        parser.error('--runtimes must include pytorch (every ratio is to '
                     'PyTorch eager)')
    return args


def export_models(models: Dict[str, torch.nn.Module],
                  args: argparse.Namespace,
                  folder: str) -> Dict[str, Dict[str, str]]:
    """fp32 ONNX files of each model in ``folder``, and int8 ones when
    an int8 runtime is timed.

    Returns:
        dict: ``{model: {'fp32': path[, 'int8': path]}}``.
    """
    int8_timed = any(r.endswith('-int8') for r in args.runtimes)
    clip_shape = (args.frames, 3, args.size, args.size)
    generator = torch.Generator().manual_seed(1)
    files = {}
    for name, model in models.items():
        fp32, int8 = f'{folder}/{name}.onnx', f'{folder}/{name}.int8.onnx'
        export_onnx(model, clip_shape, fp32,
                    onnx_metadata(model, args.frames))
        files[name] = dict(fp32=fp32)
        if int8_timed:
            clips = (torch.randn(1, *clip_shape, generator=generator).numpy()
                     for _ in range(args.calib_clips))
            quantize_int8(fp32, int8, clips)
            files[name]['int8'] = int8
    return files


def runner(runtime: str, model: torch.nn.Module, files: Dict[str, str],
           threads: int) -> Callable:
    """A function of clips (N, T, 3, H, W) -> logits for ``runtime``."""
    if runtime == 'pytorch':
        return lambda clips: inference(model, clips)
    backend, precision = runtime.split('-')
    backend = 'onnxruntime' if backend == 'ort' else backend
    recognizer = RuntimeRecognizer(files[precision], backend, threads)
    return lambda clips: recognizer.logits(clips.numpy())


def parity(runners: Dict[str, Callable], clips: torch.Tensor) -> str:
    """Each runtime's max abs difference to PyTorch, relative to the
    logit scale, on ``clips``."""
    expected = runners['pytorch'](clips).numpy()
    parts = []
    for runtime, run in runners.items():
        if runtime == 'pytorch':
            continue
        diff = abs(run(clips) - expected).max()
        relative = relative_diff(dict(max_abs_diff=float(diff),
                                      logit_scale=float(abs(expected).max())))
        parts.append(f'{runtime} {relative:.2g}')
    return ', '.join(parts)


def busy_processes(count: int) -> list:
    """``count`` processes spinning on the CPU (stopped by the caller)."""
    return [
        subprocess.Popen([sys.executable, '-c', 'while True: pass'])
        for _ in range(count)
    ]


def format_table(latency: Dict[tuple, float], args: argparse.Namespace,
                 labels: Dict[str, str]) -> str:
    """Markdown: a row per (model, batch), a column per runtime; cells
    ``ms (x eager[, x TSM])``."""
    lines = ['| model | batch | ' + ' | '.join(args.runtimes) + ' |',
             '|---|---|' + '---|' * len(args.runtimes)]
    for name in MODELS:
        for batch in args.batch_sizes:
            eager = latency[name, 'pytorch', batch]
            cells = []
            for runtime in args.runtimes:
                value = latency[name, runtime, batch]
                ratios = [f'{value / eager:.2f}x eager']
                if name != 'tsm':
                    ratios.append(
                        f'{value / latency["tsm", runtime, batch]:.2f}x TSM')
                cells.append(f'{1000 * value:.0f} ms ({", ".join(ratios)})')
            lines.append(f'| {labels[name]} | {batch} | ' +
                         ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def format_targets(latency: Dict[tuple, float],
                   args: argparse.Namespace) -> str:
    """The issue's CPU targets at the smallest batch, measured here."""
    batch = min(args.batch_sizes)
    blvnet = {r: latency['blvnet', r, batch] for r in args.runtimes}
    tsm = {r: latency['tsm', r, batch] for r in args.runtimes}
    rows = []
    if 'ort-int8' in blvnet:
        rows += [
            (f'ORT int8 bLVNet b{batch} <= 0.5x its PyTorch eager',
             blvnet['ort-int8'] / blvnet['pytorch'], 0.5),
            (f'ORT int8 bLVNet b{batch} <= 0.2x PyTorch eager TSM',
             blvnet['ort-int8'] / tsm['pytorch'], 0.2),
        ]
    bound = 0.45 if args.busy_processes else 0.40
    rows += [(f'{runtime} bLVNet/TSM b{batch} <= {bound}',
              blvnet[runtime] / tsm[runtime], bound)
             for runtime in args.runtimes]
    lines = ['| target | measured | holds? |', '|---|---|---|']
    lines += [f'| {title} | {ratio:.3f}x | {"yes" if ratio <= limit else "no"}'
              ' |' for title, ratio, limit in rows]
    return '\n'.join(lines)


def profile_tables(files: Dict[str, Dict[str, str]],
                   args: argparse.Namespace, labels: Dict[str, str]) -> str:
    """Markdown: both models' ONNX Runtime kernel time per op type, for
    each ONNX Runtime precision timed, at the smallest batch."""
    batch = min(args.batch_sizes)
    clips = torch.randn(batch, args.frames, 3, args.size, args.size,
                        generator=torch.Generator().manual_seed(3)).numpy()
    tables = []
    for runtime in args.runtimes:
        if not runtime.startswith('ort-'):
            continue
        precision = runtime.split('-')[1]
        times = {
            labels[name]: kernel_times(files[name][precision],
                                       {INPUT_NAME: clips}, args.threads,
                                       args.repeats)
            for name in MODELS
        }
        tables.append(f'ONNX Runtime {precision} kernel time per run by '
                      f'op type, b{batch} (x: of TSM):\n\n' +
                      format_profile(times, labels['tsm']))
    return '\n\n'.join(tables)


def measure(args: argparse.Namespace, folder: str) -> str:
    """Build, export, check and time; return the report."""
    init_default_scope('mmaction')
    clip_shape = (args.frames, 3, args.size, args.size)
    built = build_models(REPO, MODELS, frames=args.frames,
                         num_classes=args.num_classes)
    models = {name: random_weights_(model, clip_shape).eval()
              for name, model in built.items()}
    files = export_models(models, args, folder)
    runners = {
        (name, runtime): runner(runtime, models[name], files[name],
                                args.threads)
        for name in MODELS for runtime in args.runtimes
    }
    check = torch.randn(1, *clip_shape,
                        generator=torch.Generator().manual_seed(2))
    labels = model_labels(args.frames)
    lines = [
        f'{labels[name]} vs PyTorch (max abs diff / logit scale, b1): ' +
        parity({r: runners[name, r] for r in args.runtimes}, check)
        for name in MODELS
    ]
    latency = {}
    spinners = busy_processes(args.busy_processes)
    try:
        for batch in args.batch_sizes:
            clips = torch.randn(batch, *clip_shape)
            medians = interleaved_medians(
                {key: functools.partial(run, clips)
                 for key, run in runners.items()}, args.repeats,
                args.warmup, torch.device('cpu'))
            latency.update({(*key, batch): value
                            for key, value in medians.items()})
        profiles = profile_tables(files, args, labels) if args.profile else ''
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()
    settings = (f'{cpu_name()} CPU, {args.threads} threads, '
                f'{args.busy_processes} busy processes; torch '
                f'{torch.__version__}; clips of {args.frames} frames at '
                f'{args.size}x{args.size}; {args.num_classes} classes; '
                f'median of {args.repeats} runs after {args.warmup} '
                'warm-up, all taking turns')
    return '\n\n'.join(part for part in [
        settings, '\n'.join(lines),
        format_table(latency, args, labels),
        format_targets(latency, args), profiles
    ] if part) + '\n'


def run(argv: List[str]) -> int:
    """Run the benchmark, print the report (and write ``--out``)."""
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory(prefix='bench_runtime-') as folder:
        report = measure(args, folder)
    emit(report, args.out)
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the tool; user errors are one ``error:`` line, status 1."""
    return run_main(run, argv)


if __name__ == '__main__':
    sys.exit(main())
