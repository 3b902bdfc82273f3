"""Compare bLVNet-TAM-50 with MMAction2's TSM-R50 and TSN-R50.

    python tools/analysis/benchmark.py [--threads 2] [--repeats 5]
        [--frames 16] [--size 224] [--device {cpu,cuda}] [--out FILE]

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
  :class:`~mmblvnet.utils.profiling.LiveStorageTracker` follows every
  tensor storage (see its docstring); on CUDA, the rise of
  ``torch.cuda.max_memory_allocated`` during the step plus the step's own
  state (the other models stay resident).

Timed runs of the three models take turns, so a change in the load of a
shared machine hits all of them alike (see :func:`interleaved_medians`).

Below the table it prints the share of bLVNet's backbone inference time
spent in its TAM modules (:func:`tam_time_share`). With ``--device cuda``
the table adds throughput in clips/s at the largest batch, in float32 and
with autocast float16 (AMP); timings there synchronize the device.
"""
import argparse
import contextlib
import functools
import platform
import time
from pathlib import Path
from typing import (
    Callable,
    Dict,
    Iterator,
    List,
    Optional,
    Sequence,
    Tuple,
)

import torch
from mmaction.registry import MODELS
from mmengine.config import Config, ConfigDict
from mmengine.hub import get_config
from mmengine.registry import init_default_scope
from torch import Tensor, nn

from mmblvnet.models.common.tam import TAM
from mmblvnet.utils.complexity import recognizer_complexity
from mmblvnet.utils.profiling import (
    TrainStep,
    inference,
    interleaved_medians,
    seconds,
    synchronize,
    train_peak_bytes,
)

REPO = Path(__file__).resolve().parents[2]
BLVNET_CONFIG = REPO / 'configs' / 'blvnet_tam_r50_8x.py'
MMACTION_CONFIGS = {
    'tsm': 'mmaction::recognition/tsm/'
    'tsm_imagenet-pretrained-r50_8xb16-1x1x16-50e_kinetics400-rgb.py',
    'tsn': 'mmaction::recognition/tsn/'
    'tsn_imagenet-pretrained-r50_8xb32-1x1x16-50e_sthv2-rgb.py',
}
MIB = 2**20


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Command-line arguments (``argv`` defaults to ``sys.argv[1:]``)."""
    parser = argparse.ArgumentParser(
        description='Compare bLVNet-TAM-50 with TSM-R50 and TSN-R50')
    parser.add_argument('--device', choices=('cpu', 'cuda'), default='cpu')
    parser.add_argument('--threads', type=int, default=2,
                        help='torch CPU threads (fixed for all runs)')
    parser.add_argument('--frames', type=int, default=16,
                        help='frames per clip, even (16 = bLVNet 8x2)')
    parser.add_argument('--size', type=int, default=224,
                        help='square crop size')
    parser.add_argument('--num-classes', type=int, default=174)
    parser.add_argument('--batch-sizes', type=int, nargs='+',
                        default=[1, 8], help='clips per inference batch')
    parser.add_argument('--train-batch', type=int, default=2,
                        help='clips per training step')
    parser.add_argument('--repeats', type=int, default=5,
                        help='timed runs per measurement (median)')
    parser.add_argument('--warmup', type=int, default=1,
                        help='untimed runs before each measurement')
    parser.add_argument('--quick', action='store_true',
                        help='one warm-up and one timed run (smoke test)')
    parser.add_argument('--out', help='also write the markdown here')
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats, args.warmup = 1, 1
    if args.frames < 2 or args.frames % 2:
        parser.error(f'--frames must be even and >= 2, got {args.frames}')
    return args


def model_configs(frames: int, num_classes: int) -> Dict[str, ConfigDict]:
    """Model configs of bLVNet-TAM-50, TSM-R50 and TSN-R50.

    Args:
        frames (int): Frames per clip (``num_segments``).
        num_classes (int): Classes of every head.

    Returns:
        dict[str, ConfigDict]: Configs keyed ``'blvnet'``, ``'tsm'`` and
        ``'tsn'``; no pretrained weights.
    """
    configs = {'blvnet': Config.fromfile(str(BLVNET_CONFIG)).model}
    for key, name in MMACTION_CONFIGS.items():
        configs[key] = get_config(name).model
    for cfg in configs.values():
        cfg.backbone.pop('init_cfg', None)
        if 'pretrained' in cfg.backbone:
            cfg.backbone.pretrained = None
        for part in (cfg.backbone, cfg.cls_head):
            if 'num_segments' in part:
                part.num_segments = frames
        cfg.cls_head.num_classes = num_classes
    return configs


def model_labels(frames: int) -> Dict[str, str]:
    """Table labels of the models for clips of ``frames`` frames."""
    return {
        'blvnet': f'bLVNet-TAM-50 {frames // 2}x2',
        'tsm': f'TSM-R50 {frames}f',
        'tsn': f'TSN-R50 {frames}f',
    }


def check_device(name: str) -> torch.device:
    """The device to run on; a clear error when CUDA is asked but absent."""
    if name == 'cuda' and not torch.cuda.is_available():
        raise SystemExit(
            '--device cuda needs a CUDA GPU, but torch.cuda.is_available() '
            f'is False (torch {torch.__version__}, CUDA build '
            f'{torch.version.cuda}); run with --device cpu')
    return torch.device(name)


def random_clips(batch: int, frames: int, size: int,
                 device: torch.device) -> Tensor:
    """Normalized-looking clips of shape (batch, frames, 3, size, size)."""
    return torch.randn(batch, frames, 3, size, size, device=device)


@contextlib.contextmanager
def timed_tam_calls(model: nn.Module,
                    device: torch.device) -> Iterator[List[float]]:
    """Accumulate the wall time of every TAM call in ``model``.

    ``TAM.forward`` and ``TAM.forward_pairs`` (which bLResNet calls
    directly, so module hooks would miss it) are wrapped on each instance
    for the duration of the context.

    Yields:
        list[float]: One element, the seconds spent in TAM so far.
    """
    elapsed = [0.0]

    def timed(method: Callable) -> Callable:

        @functools.wraps(method)
        def wrapper(*args, **kwargs):
            synchronize(device)
            start = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                synchronize(device)
                elapsed[0] += time.perf_counter() - start

        return wrapper

    tams = [m for m in model.modules() if isinstance(m, TAM)]
    for tam in tams:
        tam.forward = timed(tam.forward)
        tam.forward_pairs = timed(tam.forward_pairs)
    try:
        yield elapsed
    finally:
        for tam in tams:
            del tam.forward, tam.forward_pairs


def tam_time_share(backbone: nn.Module, frames: Tensor, repeats: int,
                   warmup: int) -> float:
    """Fraction of the backbone's inference time spent in TAM.

    Args:
        backbone (nn.Module): bLResNet in eval mode.
        frames (torch.Tensor): Frames of shape (N * T, 3, H, W).
        repeats (int): Timed forwards.
        warmup (int): Untimed forwards first.

    Returns:
        float: TAM seconds over backbone seconds, summed over the repeats.
    """
    device = frames.device
    with torch.inference_mode(), timed_tam_calls(backbone, device) as tam:
        for _ in range(warmup):
            backbone(frames)
        tam[0] = 0.0
        total = sum(
            seconds(lambda: backbone(frames), device)
            for _ in range(repeats))
    return tam[0] / total


def measure(models: Dict[str, nn.Module], args: argparse.Namespace,
            device: torch.device) -> Dict[str, Dict[str, float]]:
    """All table metrics of each recognizer (see the module docstring).

    Args:
        models (dict[str, nn.Module]): Recognizers by key, on the CPU.
        args (argparse.Namespace): Benchmark arguments.
        device (torch.device): Where to time them.

    Returns:
        dict[str, dict[str, float]]: Per model ``gflops``, ``params_m``,
        ``latency_b{N}`` and ``train_ms`` (ms), ``train_peak_mib`` and on CUDA
        ``clips_per_s`` and ``amp_clips_per_s``.
    """
    shape = (1, args.frames, 3, args.size, args.size)
    results = {}
    for name, model in models.items():
        info = recognizer_complexity(model, shape)
        results[name] = dict(
            gflops=info['flops'] / 1e9, params_m=info['params'] / 1e6)
        model.to(device).eval()

    def record(key: str, runs: Dict[str, Callable],
               scale: Callable[[float], float]) -> None:
        medians = interleaved_medians(runs, args.repeats, args.warmup,
                                      device)
        for name, median_s in medians.items():
            results[name][key] = scale(median_s)

    for batch in args.batch_sizes:
        clips = random_clips(batch, args.frames, args.size, device)
        record(f'latency_b{batch}', {
            name: functools.partial(inference, model, clips)
            for name, model in models.items()
        }, lambda seconds: 1e3 * seconds)
    if device.type == 'cuda':
        batch = max(args.batch_sizes)
        clips = random_clips(batch, args.frames, args.size, device)
        for key, amp in (('clips_per_s', False), ('amp_clips_per_s', True)):
            record(key, {
                name: functools.partial(inference, model, clips, amp)
                for name, model in models.items()
            }, lambda seconds: batch / seconds)
    clips = random_clips(args.train_batch, args.frames, args.size, device)
    steps = {
        name: TrainStep(model, clips, args.num_classes)
        for name, model in models.items()
    }
    record('train_ms', steps, lambda seconds: 1e3 * seconds)
    for name, step in steps.items():
        results[name]['train_peak_mib'] = train_peak_bytes(step) / MIB
    return results


def measure_tam_share(model: nn.Module, args: argparse.Namespace,
                      device: torch.device) -> Dict[int, float]:
    """TAM share of bLVNet's backbone inference time per batch size."""
    model.to(device).eval()
    shares = {}
    for batch in args.batch_sizes:
        frames = random_clips(batch, args.frames, args.size,
                              device).flatten(0, 1)
        shares[batch] = tam_time_share(model.backbone, frames, args.repeats,
                                       args.warmup)
    return shares


def table_columns(args: argparse.Namespace,
                  device: torch.device) -> List[Tuple[str, str, str, tuple]]:
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
    columns += [
        (f'Train step b{args.train_batch} (ms)', 'train_ms', '.1f',
         ('tsm', )),
        (f'Train peak b{args.train_batch} (MiB)', 'train_peak_mib', '.0f',
         ('tsm', 'tsn')),
    ]
    return columns


def format_table(results: Dict[str, Dict[str, float]],
                 args: argparse.Namespace, device: torch.device) -> str:
    """Markdown table: each cell is ``value (ratio x reference, ...)``.

    Args:
        results (dict): Metrics of each model key (see :func:`measure`).
        args (argparse.Namespace): Benchmark arguments.
        device (torch.device): Where the timings ran.

    Returns:
        str: The table, one line per model, ratios to TSM (and TSN).
    """
    labels = model_labels(args.frames)
    columns = table_columns(args, device)
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


def _cpu_name() -> str:
    cpuinfo = Path('/proc/cpuinfo')
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith('model name'):
                return line.split(':', 1)[1].strip()
    return platform.processor() or platform.machine()


def format_report(results: Dict[str, Dict[str, float]],
                  tam_shares: Dict[int, float], args: argparse.Namespace,
                  device: torch.device) -> str:
    """The settings line, the table and the TAM time shares."""
    where = (torch.cuda.get_device_name(device) if device.type == 'cuda'
             else f'{_cpu_name()} CPU, {args.threads} threads')
    settings = (f'{where}; torch {torch.__version__}; clips of '
                f'{args.frames} frames at {args.size}x{args.size}; '
                f'{args.num_classes} classes; median of {args.repeats} '
                f'runs after {args.warmup} warm-up')
    shares = ', '.join(f'b{batch} {100 * share:.1f}%'
                       for batch, share in tam_shares.items())
    return (f'{settings}\n\n{format_table(results, args, device)}\n\n'
            f'TAM share of bLVNet backbone inference time: {shares}\n')


def main(argv: Optional[Sequence[str]] = None) -> str:
    """Run the benchmark, print the report and return it."""
    args = parse_args(argv)
    device = check_device(args.device)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    init_default_scope('mmaction')
    models = {
        name: MODELS.build(cfg)
        for name, cfg in model_configs(args.frames,
                                       args.num_classes).items()
    }
    tam_shares = measure_tam_share(models['blvnet'], args, device)
    results = measure(models, args, device)
    report = format_report(results, tam_shares, args, device)
    print(report)
    if args.out:
        Path(args.out).write_text(report)
    return report


if __name__ == '__main__':
    main()
