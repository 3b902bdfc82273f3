"""Compare bLVNet-TAM-50 with MMAction2's TSM-R50 and TSN-R50.

    python -m benchmarks.model [--threads 2] [--repeats 5]
        [--frames 16] [--size 224] [--device {cpu,cuda}] [--out FILE]
        [--amp] [--channels-last] [--compile]
    python -m benchmarks.model --gpu-targets   # one GPU, all targets

One process builds the three recognizers on clips of ``--frames`` frames
(default 16: bLVNet-TAM-50 "8x2" from ``configs/blvnet_tam_r50_8x.py``,
TSM-R50 and TSN-R50 from MMAction2's own 1x1x16 configs, read offline
with :func:`mmengine.hub.get_config`), all with ``--num-classes`` classes
and random weights (no checkpoint is downloaded), and prints a markdown
table with, for each model and as a ratio to TSM-R50 (memory also to
TSN-R50):

- GFLOPs and parameters of one clip's inference, counted as MMAction2's
  ``get_flops`` does (:mod:`mmblvnet.utils.complexity`).
- Inference latency: median wall time of ``--repeats`` forwards (after
  ``--warmup`` ones) under ``torch.inference_mode``, for batches of 1 and
  8 clips, from frames to class scores.
- Training step: median wall time of forward, backward and an SGD step
  (momentum 0.9) on ``--train-batch`` clips.
- Training peak memory: the most bytes held at once during one training
  step (after the warm-up steps, so the momentum buffers exist), counting
  parameters, buffers, optimizer state, inputs, activations and
  gradients. On CPU,
  :class:`~benchmarks.profiling.LiveStorageTracker` follows every
  tensor storage (see its docstring); on CUDA, the rise of
  ``torch.cuda.max_memory_allocated`` during the step plus the step's own
  state (the other models stay resident).

- OS peak: the same training step's memory as the machine sees it,
  measured for each model in a fresh subprocess that holds only that
  model, with the malloc setting of a training run (``LeanMallocHook``
  of the bLVNet-TAM configs, applied to all three models alike)
  (:func:`~benchmarks.profiling.os_peak_bytes`: on CPU the peak
  resident set during the step after the warm-up steps, minus the
  resident set before the first step, so momentum buffers and whatever
  malloc kept from earlier steps count, the weights and input do not;
  ``torch.cuda.max_memory_reserved`` on CUDA);
  ``--no-os-memory`` skips it. ``--probe-os-memory MODEL`` runs one such
  subprocess by hand and prints its JSON (peak bytes and the median step
  time), e.g. to compare malloc settings (``MMBLVNET_MALLOC=default``).

Everything else runs with glibc's default malloc (importing
:mod:`mmblvnet` does not tune it). Timed runs of the three models take
turns, so a change in the load of a shared machine hits all of them
alike (see :func:`~benchmarks.profiling.interleaved_medians`).

``--amp`` (CUDA) autocasts inference and training to float16 (training
with a gradient scaler), ``--channels-last`` stores weights and frames
channels-last, ``--compile`` compiles every backbone with
``torch.compile`` (inductor) before timing.
``--gpu-targets`` is the GPU measurement of the targets in one command:
``--device cuda --amp --channels-last --train-batch 8 --largest-batch``,
16 frames at 224, then a table of the targets (training throughput,
inference batch 8, batch-1 latency and TAM share against TSM-R50, and the
largest training batch of bLVNet-TAM-101 32x2 against TSM-R50 32f, found
by doubling and bisection until CUDA runs out of memory).

Below the table it prints the share of bLVNet's backbone inference time
spent in its TAM modules (:func:`~benchmarks.tam_timing.tam_time_share`)
and the ATen ops of one backbone forward per batch size
(:func:`~benchmarks.runs.backbone_op_counts`). With
``--device cuda`` the table adds throughput in clips/s at the largest
batch, in float32 and with autocast float16 (AMP), and the training
throughput; timings there synchronize the device.

This script is only the command line: the models, measurements, targets
and report are :mod:`benchmarks`. It reports a user error
(``--device cuda`` on a machine without a GPU, say) as one ``error:``
line with exit status 1; ``--debug`` shows the traceback.
"""
import argparse
import json
import sys
from pathlib import Path
from typing import List, Optional, Sequence

import torch
from mmengine.registry import init_default_scope

from benchmarks.capacity import measure_largest_batch
from benchmarks.machine import check_device
from benchmarks.options import (
    CLIP_OPTIONS,
    DEVICES,
    TIMING_OPTIONS,
    add_batch_and_output_options,
    add_int_options,
    check_timing_args,
)
from benchmarks.report import emit, format_report
from benchmarks.runs import (
    backbone_op_counts,
    measure,
    measure_tam_share,
    models_of,
    probe_os_memory,
)
from mmblvnet.utils.cli import run_main

REPO = Path(__file__).resolve().parents[1]


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Command-line arguments (``argv`` defaults to ``sys.argv[1:]``)."""
    parser = argparse.ArgumentParser(
        description='Compare bLVNet-TAM-50 with TSM-R50 and TSN-R50')
    parser.add_argument('--device', choices=DEVICES, default='cpu')
    add_int_options(parser, (
        ('--threads', 2, 'torch CPU threads (fixed for all runs)'),
        *CLIP_OPTIONS,
        ('--train-batch', 2, 'clips per training step'),
        *TIMING_OPTIONS,
    ))
    add_batch_and_output_options(parser, 'clips per inference batch',
                                 'also write the markdown here')
    parser.add_argument('--amp', action='store_true',
                        help='autocast float16 (CUDA; training with a '
                        'gradient scaler)')
    parser.add_argument('--channels-last', action='store_true',
                        help='channels-last weights and frames')
    parser.add_argument('--compile', action='store_true',
                        help='torch.compile every backbone before timing')
    parser.add_argument('--no-os-memory', action='store_true',
                        help='skip the OS-visible training memory '
                        '(one subprocess per model)')
    parser.add_argument('--largest-batch', action='store_true',
                        help='CUDA: largest training batch of '
                        'bLVNet-TAM-101 32x2 and TSM-R50 32f')
    parser.add_argument('--gpu-targets', action='store_true',
                        help='--device cuda --amp --channels-last '
                        '--train-batch 8 --largest-batch, then the targets')
    parser.add_argument('--probe-os-memory', metavar='MODEL',
                        choices=('blvnet', 'tsm', 'tsn'),
                        help='print the OS-visible peak of one model\'s '
                        'training step as JSON (what the table runs in a '
                        'subprocess)')
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    if args.gpu_targets:
        args.device, args.amp, args.channels_last = 'cuda', True, True
        args.train_batch, args.largest_batch = 8, True
    check_timing_args(parser, args)
    if args.amp and args.device != 'cuda':
        parser.error('--amp needs --device cuda (float16 autocast)')
    if args.largest_batch and args.device != 'cuda':
        parser.error('--largest-batch needs --device cuda (it grows the '
                     'batch until CUDA runs out of memory)')
    return args


def run(argv: List[str]) -> int:
    """Run the benchmark, print the report (and write ``--out``).

    With ``--probe-os-memory MODEL``, print that model's probe as JSON
    instead.
    """
    args = parse_args(argv)
    device = check_device(args.device)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    init_default_scope('mmaction')
    if args.probe_os_memory:
        print(json.dumps(probe_os_memory(args, REPO)))
        return 0
    models = models_of(args, REPO)
    op_counts = backbone_op_counts(models, args, device)
    tam_shares = measure_tam_share(models['blvnet'], args, device)
    results = measure(models, args, device,
                      [sys.executable, '-m', 'benchmarks.model', *args.argv])
    largest = None
    if args.largest_batch:
        models.clear()
        torch.cuda.empty_cache()
        largest = measure_largest_batch(args, REPO)
    report = format_report(results, tam_shares, args, device, largest,
                           op_counts)
    emit(report, args.out)
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the tool; user errors are one ``error:`` line, status 1."""
    return run_main(run, argv)


if __name__ == '__main__':
    sys.exit(main())
