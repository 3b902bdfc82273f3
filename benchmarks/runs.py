"""The measurements of ``python -m benchmarks.model``.

Each function takes the tool's parsed arguments (``args``: frames, size,
classes, batches, repeats, warm-up, AMP, channels-last, compile; see
the tool's ``--help``) and returns plain numbers for :mod:`.report`.
"""
import argparse
import functools
import json
import subprocess
from pathlib import Path
from typing import Callable, Dict, Optional, Sequence

import torch
from torch import Tensor, nn

from mmblvnet.engine.lean_malloc_hook import tune_malloc
from mmblvnet.utils.complexity import recognizer_complexity

from .compared_models import (
    MODEL_KEYS,
    build_models,
    compile_backbones,
    random_clips,
)
from .profiling import (
    OpCounter,
    TrainStep,
    inference,
    interleaved_medians,
    os_peak_bytes,
    resident_bytes,
    step_times,
    train_peak_bytes,
)
from .tam_timing import tam_time_share

MIB = 2**20


def models_of(args: argparse.Namespace,
              repo: Path,
              names: Sequence[str] = MODEL_KEYS,
              frames: Optional[int] = None,
              depth: int = 50) -> Dict[str, nn.Module]:
    """:func:`~.compared_models.build_models` as the arguments say
    (``frames`` defaults to ``args.frames``); not compiled."""
    return build_models(
        repo, names, frames=frames or args.frames,
        num_classes=args.num_classes, device=args.device,
        channels_last=args.channels_last, depth=depth)


def measure(models: Dict[str, nn.Module], args: argparse.Namespace,
            device: torch.device,
            probe_command: Sequence[str]) -> Dict[str, Dict[str, float]]:
    """All table metrics of each recognizer (see the tool's docstring).

    Args:
        models (dict[str, nn.Module]): Recognizers by key, on ``device``;
            their backbones are compiled here under ``--compile``.
        args (argparse.Namespace): Benchmark arguments.
        device (torch.device): Where to time them.
        probe_command (Sequence[str]): The command that runs the tool
            again with the same arguments (see
            :func:`probe_in_subprocess`).

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
    if args.compile:
        compile_backbones(models)

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
            probe = probe_in_subprocess(probe_command, name)
            results[name]['os_peak_mib'] = probe['os_peak_bytes'] / MIB
    return results


def probe_os_memory(args: argparse.Namespace,
                    repo: Path) -> Dict[str, float]:
    """Build model ``args.probe_os_memory``, warm up, and measure its
    training step, with the malloc setting of a training run
    (``LeanMallocHook``, set before the model is built).

    Returns:
        dict: ``os_peak_bytes`` (see
        :func:`~benchmarks.profiling.os_peak_bytes`), ``step_s``, the
        median wall time of ``--repeats`` steps, and on CPU the median
        process CPU time of a step (``cpu_s``, ``user_s``, ``sys_s``; see
        :func:`~benchmarks.profiling.step_times`).
    """
    tune_malloc()  # as LeanMallocHook does in a training run
    device = torch.device(args.device)
    models = models_of(args, repo, (args.probe_os_memory, ))
    if args.compile:
        compile_backbones(models)
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


def probe_in_subprocess(command: Sequence[str],
                        name: str) -> Dict[str, float]:
    """:func:`probe_os_memory` of model ``name`` in a fresh process (its
    own allocator state, nothing else resident).

    Args:
        command (Sequence[str]): The benchmark command with its arguments
            (``[python, '-m', 'benchmarks.model', *argv]``, run in the
            repository); ``--probe-os-memory name`` is added.
        name (str): Model key.

    Returns:
        dict: The JSON the tool prints last.

    Raises:
        RuntimeError: The subprocess failed (its stderr's tail is in the
            message).
    """
    command = [*command, '--probe-os-memory', name]
    result = subprocess.run(command, capture_output=True, text=True,
                            check=False, cwd=Path(__file__).parents[1])
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
