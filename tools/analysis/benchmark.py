"""Compare bLVNet-TAM-50 with MMAction2's TSM-R50 and TSN-R50.

    python tools/analysis/benchmark.py [--threads 2] [--repeats 5]
        [--frames 16] [--size 224] [--device {cpu,cuda}] [--out FILE]
        [--amp] [--channels-last] [--compile] [--impl {auto,batched,loop}]
    python tools/analysis/benchmark.py --gpu-targets   # one GPU, all targets

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

- OS peak: the same training step's memory as the machine sees it,
  measured for each model in a fresh subprocess that holds only that
  model, with the malloc setting of a training run (``LeanMallocHook``
  of the bLVNet-TAM configs, applied to all three models alike)
  (:func:`~mmblvnet.utils.profiling.os_peak_bytes`: on CPU the peak
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
alike (see :func:`interleaved_medians`).

``--amp`` (CUDA) autocasts inference and training to float16 (training
with a gradient scaler), ``--channels-last`` stores weights and frames
channels-last, ``--compile`` compiles every backbone with
``torch.compile`` (inductor) before timing, ``--impl`` forces bLResNet's
implementation (see :mod:`mmblvnet.models.common.impl`).
``--gpu-targets`` is the GPU measurement of the targets in one command:
``--device cuda --amp --channels-last --train-batch 8 --largest-batch``,
16 frames at 224, then a table of the targets (training throughput,
inference batch 8, batch-1 latency and TAM share against TSM-R50, and the
largest training batch of bLVNet-TAM-101 32x2 against TSM-R50 32f, found
by doubling and bisection until CUDA runs out of memory).

Below the table it prints the share of bLVNet's backbone inference time
spent in its TAM modules (:func:`tam_time_share`) and the ATen ops of one
backbone forward per batch size (:func:`backbone_op_counts`). With
``--device cuda`` the table adds throughput in clips/s at the largest
batch, in float32 and with autocast float16 (AMP), and the training
throughput; timings there synchronize the device.
"""
import argparse
import contextlib
import functools
import json
import platform
import resource
import statistics
import subprocess
import sys
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

from mmblvnet.engine.malloc import tune_malloc
from mmblvnet.models.common.impl import IMPLS, set_impl
from mmblvnet.models.common.tam import TAM
from mmblvnet.utils.complexity import recognizer_complexity
from mmblvnet.utils.profiling import (
    OpCounter,
    TrainStep,
    inference,
    interleaved_medians,
    os_peak_bytes,
    resident_bytes,
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
    # (flag, default, help) of the integer options
    for flag, default, text in (
        ('--threads', 2, 'torch CPU threads (fixed for all runs)'),
        ('--frames', 16, 'frames per clip, even (16 = bLVNet 8x2)'),
        ('--size', 224, 'square crop size'),
        ('--num-classes', 174, 'classes of every head'),
        ('--train-batch', 2, 'clips per training step'),
        ('--repeats', 5, 'timed runs per measurement (median)'),
        ('--warmup', 1, 'untimed runs before each measurement'),
    ):
        parser.add_argument(flag, type=int, default=default, help=text)
    parser.add_argument('--batch-sizes', type=int, nargs='+',
                        default=[1, 8], help='clips per inference batch')
    parser.add_argument('--quick', action='store_true',
                        help='one warm-up and one timed run (smoke test)')
    parser.add_argument('--out', help='also write the markdown here')
    parser.add_argument('--amp', action='store_true',
                        help='autocast float16 (CUDA; training with a '
                        'gradient scaler)')
    parser.add_argument('--channels-last', action='store_true',
                        help='channels-last weights and frames')
    parser.add_argument('--compile', action='store_true',
                        help='torch.compile every backbone before timing')
    parser.add_argument('--impl', choices=IMPLS, default='auto',
                        help='bLResNet implementation')
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
    if args.quick:
        args.repeats, args.warmup = 1, 1
    if args.gpu_targets:
        args.device, args.amp, args.channels_last = 'cuda', True, True
        args.train_batch, args.largest_batch = 8, True
    if args.frames < 2 or args.frames % 2:
        parser.error(f'--frames must be even and >= 2, got {args.frames}')
    if args.amp and args.device != 'cuda':
        parser.error('--amp needs --device cuda (float16 autocast)')
    if args.largest_batch and args.device != 'cuda':
        parser.error('--largest-batch needs --device cuda (it grows the '
                     'batch until CUDA runs out of memory)')
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


def random_clips(batch: int,
                 frames: int,
                 size: int,
                 device: torch.device,
                 channels_last: bool = False) -> Tensor:
    """Normalized-looking clips of shape (batch, frames, 3, size, size);
    each frame channels-last in memory if asked (the recognizer's
    ``(N * T, 3, H, W)`` view of them then is)."""
    clips = torch.randn(batch * frames, 3, size, size, device=device)
    if channels_last:
        clips = clips.contiguous(memory_format=torch.channels_last)
    return clips.view(batch, frames, 3, size, size)


def build_models(args: argparse.Namespace,
                 names: Sequence[str] = ('blvnet', 'tsm', 'tsn'),
                 frames: Optional[int] = None,
                 depth: int = 50) -> Dict[str, nn.Module]:
    """The recognizers, on ``args.device``, prepared as the options say.

    Args:
        args (argparse.Namespace): Benchmark arguments.
        names (Sequence[str]): Model keys to build.
        frames (int, optional): Frames per clip; ``args.frames`` if None.
        depth (int): bLResNet depth.

    Returns:
        dict[str, nn.Module]: Recognizers by key.
    """
    configs = model_configs(frames or args.frames, args.num_classes)
    configs['blvnet'].backbone.depth = depth
    models = {}
    for name in names:
        model = MODELS.build(configs[name]).to(args.device)
        if name == 'blvnet':
            set_impl(model.backbone, args.impl)
        if args.channels_last:
            model.to(memory_format=torch.channels_last)
        models[name] = model
    return models


def compile_backbones(models: Dict[str, nn.Module],
                      args: argparse.Namespace) -> None:
    """``Module.compile`` each backbone in place under ``--compile``
    (state-dict keys unchanged)."""
    if args.compile:
        for model in models.values():
            model.backbone.compile()


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


def tam_time_share(backbone: nn.Module,
                   frames: Tensor,
                   repeats: int,
                   warmup: int,
                   amp: bool = False) -> float:
    """Fraction of the backbone's inference time spent in TAM.

    Args:
        backbone (nn.Module): bLResNet in eval mode.
        frames (torch.Tensor): Frames of shape (N * T, 3, H, W).
        repeats (int): Timed forwards.
        warmup (int): Untimed forwards first.
        amp (bool): Autocast to float16.

    Returns:
        float: TAM seconds over backbone seconds, summed over the repeats.
    """
    device = frames.device
    with torch.inference_mode(), torch.autocast(
            device.type, dtype=torch.float16,
            enabled=amp), timed_tam_calls(backbone, device) as tam:
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
        models (dict[str, nn.Module]): Recognizers by key, on ``device``.
        args (argparse.Namespace): Benchmark arguments.
        device (torch.device): Where to time them.

    Returns:
        dict[str, dict[str, float]]: Per model ``gflops``, ``params_m``,
        ``latency_b{N}`` and ``train_ms`` (ms), ``train_peak_mib``,
        ``os_peak_mib`` (unless ``--no-os-memory``) and on CUDA
        ``clips_per_s``, ``amp_clips_per_s`` and ``train_clips_per_s``.
    """
    shape = (1, args.frames, 3, args.size, args.size)
    results = {}
    for name, model in models.items():
        info = recognizer_complexity(model, shape)
        results[name] = dict(
            gflops=info['flops'] / 1e9, params_m=info['params'] / 1e6)
        model.eval()
    compile_backbones(models, args)

    def record(key: str, runs: Dict[str, Callable],
               scale: Callable[[float], float]) -> None:
        medians = interleaved_medians(runs, args.repeats, args.warmup,
                                      device)
        for name, median_s in medians.items():
            results[name][key] = scale(median_s)

    def clips_of(batch: int) -> Tensor:
        return random_clips(batch, args.frames, args.size, device,
                            args.channels_last)

    for batch in args.batch_sizes:
        clips = clips_of(batch)
        record(f'latency_b{batch}', {
            name: functools.partial(inference, model, clips, args.amp)
            for name, model in models.items()
        }, lambda seconds: 1e3 * seconds)
    if device.type == 'cuda':
        batch = max(args.batch_sizes)
        clips = clips_of(batch)
        for key, amp in (('clips_per_s', False), ('amp_clips_per_s', True)):
            record(key, {
                name: functools.partial(inference, model, clips, amp)
                for name, model in models.items()
            }, lambda seconds: batch / seconds)
    clips = clips_of(args.train_batch)
    steps = {
        name: TrainStep(model, clips, args.num_classes, args.amp)
        for name, model in models.items()
    }
    record('train_ms', steps, lambda seconds: 1e3 * seconds)
    for name, step in steps.items():
        results[name]['train_peak_mib'] = train_peak_bytes(step) / MIB
        if device.type == 'cuda':
            results[name]['train_clips_per_s'] = (
                1e3 * args.train_batch / results[name]['train_ms'])
    if not args.no_os_memory:
        for name in models:
            probe = probe_in_subprocess(name, args)
            results[name]['os_peak_mib'] = probe['os_peak_bytes'] / MIB
    return results


def step_times(step: Callable[[], object], repeats: int,
               device: torch.device) -> Dict[str, float]:
    """Median wall time of ``repeats`` calls of ``step`` (``step_s``) and,
    on CPU, the median process CPU time of the same calls, split into user
    and system (kernel) time (``cpu_s``, ``user_s``, ``sys_s``;
    ``getrusage``).

    System time is where page faults show: a malloc that returns memory to
    the OS faults it in again on the next step.
    """
    walls, cpu_samples = [], []
    for _ in range(repeats):
        before = resource.getrusage(resource.RUSAGE_SELF)
        walls.append(seconds(step, device))
        after = resource.getrusage(resource.RUSAGE_SELF)
        cpu_samples.append((after.ru_utime - before.ru_utime,
                            after.ru_stime - before.ru_stime))
    result = dict(step_s=statistics.median(walls))
    if device.type == 'cpu':
        user, system = sorted(cpu_samples, key=sum)[len(cpu_samples) // 2]
        result.update(cpu_s=user + system, user_s=user, sys_s=system)
    return result


def probe_os_memory(args: argparse.Namespace) -> Dict[str, float]:
    """Build one model, warm up, and measure its training step, with the
    malloc setting of a training run (``LeanMallocHook``).

    Returns:
        dict: ``os_peak_bytes`` (see
        :func:`~mmblvnet.utils.profiling.os_peak_bytes`), ``step_s``, the
        median wall time of ``--repeats`` steps, and on CPU the median
        process CPU time of a step (``cpu_s``, ``user_s``, ``sys_s``; see
        :func:`step_times`).
    """
    tune_malloc()  # as LeanMallocHook does in a training run
    device = torch.device(args.device)
    models = build_models(args, (args.probe_os_memory, ))
    compile_backbones(models, args)
    model = models[args.probe_os_memory]
    clips = random_clips(args.train_batch, args.frames, args.size, device,
                         args.channels_last)
    step = TrainStep(model, clips, args.num_classes, args.amp)
    before_training = resident_bytes()
    for _ in range(max(1, args.warmup)):
        step()
    times = step_times(step, args.repeats, device)
    return dict(os_peak_bytes=os_peak_bytes(step, device, before_training),
                **times)


def probe_in_subprocess(name: str,
                        args: argparse.Namespace) -> Dict[str, float]:
    """:func:`probe_os_memory` of model ``name`` in a fresh process (its
    own allocator state, nothing else resident)."""
    command = [
        sys.executable, __file__, *args.argv, '--probe-os-memory', name
    ]
    result = subprocess.run(
        command, capture_output=True, text=True, check=False)
    if result.returncode:
        raise RuntimeError(f'memory probe of {name} failed: '
                           f'{" ".join(command)}\n{result.stderr[-2000:]}')
    return json.loads(result.stdout.strip().splitlines()[-1])


def measure_tam_share(model: nn.Module, args: argparse.Namespace,
                      device: torch.device) -> Dict[int, float]:
    """TAM share of bLVNet's backbone inference time per batch size
    (empty under ``--compile``: a compiled graph has no TAM calls)."""
    if args.compile:
        return {}
    model.eval()
    shares = {}
    for batch in args.batch_sizes:
        frames = random_clips(batch, args.frames, args.size, device,
                              args.channels_last).flatten(0, 1)
        shares[batch] = tam_time_share(model.backbone, frames, args.repeats,
                                       args.warmup, args.amp)
    return shares


def backbone_op_counts(models: Dict[str, nn.Module],
                       args: argparse.Namespace,
                       device: torch.device) -> Dict[str, Dict[int, int]]:
    """ATen ops of one backbone forward without autograd, per model and
    inference batch size (counted on 64 x 64 frames: the count does not
    depend on the resolution; on a GPU each op is at least one kernel
    launch). Empty under ``--compile``."""
    if args.compile:
        return {}
    counts = {}
    for name, model in models.items():
        model.eval()
        counts[name] = {}
        for batch in args.batch_sizes:
            frames = random_clips(batch, args.frames, 64, device,
                                  args.channels_last).flatten(0, 1)
            with torch.no_grad(), OpCounter() as ops:
                model.backbone(frames)
            counts[name][batch] = ops.total
    return counts


def largest_batch(fits: Callable[[int], bool], limit: int) -> int:
    """Largest batch ``b <= limit`` with ``fits(b)``, for a ``fits`` that
    holds up to some batch and fails above it (doubling, then bisection).

    Returns:
        int: The batch, 0 if even 1 does not fit.
    """
    low, high = 0, 1
    while high <= limit and fits(high):
        low, high = high, 2 * high
    high = min(high, limit + 1)
    while high - low > 1:
        middle = (low + high) // 2
        if fits(middle):
            low = middle
        else:
            high = middle
    return low


def train_step_fits(model: nn.Module, batch: int, *,
                    args: argparse.Namespace, frames: int) -> bool:
    """Whether one training step of ``batch`` clips fits in CUDA memory."""
    device = torch.device(args.device)
    try:
        clips = random_clips(batch, frames, args.size, device,
                             args.channels_last)
        TrainStep(model, clips, args.num_classes, args.amp)()
        synchronize(device)
        return True
    except torch.cuda.OutOfMemoryError:
        return False
    finally:
        model.zero_grad(set_to_none=True)
        torch.cuda.empty_cache()


def measure_largest_batch(args: argparse.Namespace,
                          limit: int = 4096) -> Dict[str, int]:
    """Largest training batch of bLVNet-TAM-101 32x2 and TSM-R50 32f, one
    model on the GPU at a time."""
    batches = {}
    for name in ('blvnet', 'tsm'):
        models = build_models(args, (name, ), frames=32, depth=101)
        compile_backbones(models, args)
        model = models.pop(name)
        batches[name] = largest_batch(
            functools.partial(train_step_fits, model, args=args, frames=32),
            limit)
        del model
        torch.cuda.empty_cache()
    return batches


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
    ]
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


def format_targets(results: Dict[str, Dict[str, float]],
                   tam_shares: Dict[int, float],
                   largest: Dict[str, int]) -> str:
    """Markdown table of the GPU targets (``--gpu-targets``)."""
    blvnet, tsm = results['blvnet'], results['tsm']
    rows = [
        ('Training throughput b8 >= 2.0x TSM-R50',
         blvnet['train_clips_per_s'] / tsm['train_clips_per_s'], 2.0, 1),
        ('Inference b8 >= 2.5x TSM-R50 (clips/s)',
         tsm['latency_b8'] / blvnet['latency_b8'], 2.5, 1),
        ('Batch-1 latency <= 0.6x TSM-R50',
         blvnet['latency_b1'] / tsm['latency_b1'], 0.6, -1),
    ]
    lines = ['| Target | Measured | Holds? |', '|---|---|---|']
    for title, ratio, bound, sign in rows:
        holds = ratio >= bound if sign > 0 else ratio <= bound
        lines.append(f'| {title} | {ratio:.3f}x | '
                     f'{"yes" if holds else "no"} |')
    for batch, share in tam_shares.items():
        lines.append(f'| TAM <= 5% of GPU time (b{batch}) | '
                     f'{100 * share:.1f}% | '
                     f'{"yes" if share <= 0.05 else "no"} |')
    if largest:
        ratio = largest['blvnet'] / max(1, largest['tsm'])
        lines.append(
            f'| Largest training batch, bLVNet-TAM-101 32x2 / TSM-R50 32f '
            f'| {largest["blvnet"]} / {largest["tsm"]} clips = '
            f'{ratio:.2f}x | (ratio reported) |')
    return '\n'.join(lines)


def format_op_counts(counts: Dict[str, Dict[int, int]],
                     frames: int) -> str:
    """Markdown table of :func:`backbone_op_counts`."""
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


def format_report(results: Dict[str, Dict[str, float]],
                  tam_shares: Dict[int, float],
                  args: argparse.Namespace,
                  device: torch.device,
                  largest: Optional[Dict[str, int]] = None,
                  op_counts: Optional[Dict[str, Dict[int, int]]] = None
                  ) -> str:
    """The settings line, the table, the TAM time shares, the op counts
    and, with ``--gpu-targets``, the targets."""
    where = (torch.cuda.get_device_name(device) if device.type == 'cuda'
             else f'{_cpu_name()} CPU, {args.threads} threads')
    options = [
        name for name, on in (('AMP', args.amp),
                              ('channels_last', args.channels_last),
                              ('torch.compile', args.compile)) if on
    ]
    settings = (f'{where}; torch {torch.__version__}; clips of '
                f'{args.frames} frames at {args.size}x{args.size}; '
                f'{args.num_classes} classes; median of {args.repeats} '
                f'runs after {args.warmup} warm-up; bLResNet '
                f'impl={args.impl!r}'
                + (f'; {", ".join(options)}' if options else ''))
    shares = (', '.join(f'b{batch} {100 * share:.1f}%'
                        for batch, share in tam_shares.items())
              or 'not measured (TAM calls are not timed under --compile)')
    report = (f'{settings}\n\n{format_table(results, args, device)}\n\n'
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


def main(argv: Optional[Sequence[str]] = None) -> str:
    """Run the benchmark, print the report and return it."""
    args = parse_args(argv)
    device = check_device(args.device)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    init_default_scope('mmaction')
    if args.probe_os_memory:
        report = json.dumps(probe_os_memory(args))
        print(report)
        return report
    models = build_models(args)
    op_counts = backbone_op_counts(models, args, device)
    tam_shares = measure_tam_share(models['blvnet'], args, device)
    results = measure(models, args, device)
    largest = None
    if args.largest_batch:
        models.clear()
        torch.cuda.empty_cache()
        largest = measure_largest_batch(args)
    report = format_report(results, tam_shares, args, device, largest,
                           op_counts)
    print(report)
    if args.out:
        Path(args.out).write_text(report)
    return report


if __name__ == '__main__':
    main()
