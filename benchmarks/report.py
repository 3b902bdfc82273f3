"""The Markdown report of ``python -m benchmarks.model``.

A settings line, the table of every model with ratios to TSM-R50 (memory
also to TSN-R50), bLVNet's TAM share, the ATen op counts, the largest
training batch and, with ``--gpu-targets``, the targets with "yes"/"no".
"""
import argparse
import tempfile
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch

from .compared_models import model_labels
from .machine import cpu_name
from .targets import GPU_TARGETS, Target, evaluate, gpu_target_values

# (title, metric key, format, models the ratios are to)
Column = Tuple[str, str, str, Tuple[str, ...]]


def table_columns(args: argparse.Namespace,
                  device: torch.device) -> List[Column]:
    """Columns of the table: (title, metric key, format, ratio models)."""
    where = 'GPU' if device.type == 'cuda' else 'CPU'
    columns = [('GFLOPs', 'gflops', '.2f', ('tsm', )),
               ('Params (M)', 'params_m', '.2f', ('tsm', ))]
    columns += [(f'{where} b{batch} (ms)', f'latency_b{batch}', '.1f',
                 ('tsm', )) for batch in args.batch_sizes]
    if device.type == 'cuda':
        batch = max(args.batch_sizes)
        columns += [(f'b{batch} fp32 (clips/s)', 'clips_per_s', '.1f',
                     ('tsm', )),
                    (f'b{batch} AMP (clips/s)', 'amp_clips_per_s', '.1f',
                     ('tsm', ))]
    columns.append((f'Train step b{args.train_batch} (ms)', 'train_ms', '.1f',
                    ('tsm', )))
    if device.type == 'cuda':
        columns.append((f'Train b{args.train_batch} (clips/s)',
                        'train_clips_per_s', '.1f', ('tsm', )))
    columns.append((f'Train peak b{args.train_batch} (MiB)',
                    'train_peak_mib', '.0f', ('tsm', 'tsn')))
    if not args.no_os_memory:
        title = ('reserved' if device.type == 'cuda' else 'RSS rise')
        columns.append((f'OS peak b{args.train_batch}, {title} (MiB)',
                        'os_peak_mib', '.0f', ('tsm', 'tsn')))
    return columns


def format_table(results: Dict[str, Dict[str, float]],
                 columns: Sequence[Column], frames: int) -> str:
    """Markdown table: each cell is ``value (ratio x reference, ...)``.

    Args:
        results (dict): Metrics of each model key (see
            :func:`~.runs.measure`).
        columns (Sequence[Column]): What to show (:func:`table_columns`).
        frames (int): Frames per clip (the model labels).

    Returns:
        str: The table, one line per model, ratios to TSM (and TSN).
    """
    labels = model_labels(frames)
    header = ['Model'] + [
        f'{title} (x {", x ".join(labels[r].split()[0] for r in refs)})'
        for title, _, _, refs in columns
    ]
    lines = ['| ' + ' | '.join(header) + ' |',
             '|' + '---|' * len(header)]
    for name, metrics in results.items():
        cells = [labels[name]]
        for _, key, fmt, refs in columns:
            ratios = ', '.join(
                f'{metrics[key] / results[ref][key]:.3f}x' for ref in refs)
            cells.append(f'{metrics[key]:{fmt}} ({ratios})')
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def format_targets(results: Dict[str, Dict[str, float]],
                   tam_shares: Dict[int, float],
                   largest: Optional[Dict[str, int]],
                   targets: Sequence[Target] = GPU_TARGETS) -> str:
    """Markdown table of the targets that were measured, then the largest
    training batch ratio (reported, not a target)."""
    lines = ['| Target | Measured | Holds? |', '|---|---|---|']
    for target, value, holds in evaluate(
            targets, gpu_target_values(results, tam_shares)):
        lines.append(f'| {target.name} | {target.format(value)} | '
                     f'{"yes" if holds else "no"} |')
    if largest:
        ratio = largest['blvnet'] / max(1, largest['tsm'])
        lines.append(
            f'| Largest training batch, bLVNet-TAM-101 32x2 / TSM-R50 32f '
            f'| {largest["blvnet"]} / {largest["tsm"]} clips = '
            f'{ratio:.2f}x | (ratio reported) |')
    return '\n'.join(lines)


def format_op_counts(counts: Dict[str, Dict[int, int]],
                     frames: int) -> str:
    """Markdown table of :func:`~.runs.backbone_op_counts`, ratios to
    TSM-R50."""
    labels = model_labels(frames)
    batches = list(next(iter(counts.values())))
    lines = [
        '| ATen ops per backbone forward | ' +
        ' | '.join(f'b{batch}' for batch in batches) + ' |',
        '|---|' + '---|' * len(batches)
    ]
    for name, per_batch in counts.items():
        lines.append(f'| {labels[name]} | ' + ' | '.join(
            f'{ops} ({ops / counts["tsm"][batch]:.2f}x)'
            for batch, ops in per_batch.items()) + ' |')
    return '\n'.join(lines)


def settings_line(args: argparse.Namespace, device: torch.device) -> str:
    """The machine, torch and the options the numbers were taken with."""
    where = (torch.cuda.get_device_name(device) if device.type == 'cuda'
             else f'{cpu_name()} CPU, {args.threads} threads')
    options = [
        name for name, on in (('AMP', args.amp),
                              ('channels_last', args.channels_last),
                              ('torch.compile', args.compile)) if on
    ]
    return (f'{where}; torch {torch.__version__}; clips of '
            f'{args.frames} frames at {args.size}x{args.size}; '
            f'{args.num_classes} classes; median of {args.repeats} '
            f'runs after {args.warmup} warm-up'
            + (f'; {", ".join(options)}' if options else ''))


def format_report(results: Dict[str, Dict[str, float]],
                  tam_shares: Dict[int, float],
                  args: argparse.Namespace,
                  device: torch.device,
                  largest: Optional[Dict[str, int]] = None,
                  op_counts: Optional[Dict[str, Dict[int, int]]] = None
                  ) -> str:
    """The settings line, the table, the TAM time shares, the op counts
    and, with ``--gpu-targets``, the targets."""
    table = format_table(results, table_columns(args, device), args.frames)
    shares = (', '.join(f'b{batch} {100 * share:.1f}%'
                        for batch, share in tam_shares.items())
              or 'not measured (TAM calls are not timed under --compile)')
    report = (f'{settings_line(args, device)}\n\n{table}\n\n'
              f'TAM share of bLVNet backbone inference time: {shares}\n')
    if op_counts:
        report += f'\n{format_op_counts(op_counts, args.frames)}\n'
    if largest:
        report += ('\nLargest training batch (32 frames): bLVNet-TAM-101 '
                   f'32x2 {largest["blvnet"]} clips, TSM-R50 32f '
                   f'{largest["tsm"]} clips\n')
    if args.gpu_targets:
        report += f'\n{format_targets(results, tam_shares, largest)}\n'
    return report


def emit(report: str, out: Optional[str]) -> None:
    """Print ``report`` and, with ``out`` (a tool's ``--out``), write it
    there too."""
    print(report)
    if out:
        Path(out).write_text(report)


def run_in_folder(measure: Callable[[argparse.Namespace, str], str],
                  args: argparse.Namespace, prefix: str) -> int:
    """``measure(args, folder)`` with a temporary folder for the files it
    writes, on ``args.threads`` threads; its report is emitted."""
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix=prefix) as folder:
        emit(measure(args, folder), args.out)
    return 0
