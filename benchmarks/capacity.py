"""The largest training batch that fits in CUDA memory.

Doubling, then bisection, until a training step raises
``torch.cuda.OutOfMemoryError``; one model on the GPU at a time.
"""
import argparse
import functools
from pathlib import Path
from typing import Callable, Dict

import torch
from torch import nn

from .compared_models import compile_backbones, random_clips
from .profiling import TrainStep, synchronize
from .runs import models_of


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
                          repo: Path,
                          limit: int = 4096) -> Dict[str, int]:
    """Largest training batch of bLVNet-TAM-101 32x2 and TSM-R50 32f.

    Args:
        args (argparse.Namespace): Benchmark arguments.
        repo (Path): The repository holding the bLVNet config.
        limit (int): The largest batch tried.

    Returns:
        dict[str, int]: Clips per key ``'blvnet'`` and ``'tsm'``.
    """
    batches = {}
    for name in ('blvnet', 'tsm'):
        models = models_of(args, repo, (name, ), frames=32, depth=101)
        if args.compile:
            compile_backbones(models)
        model = models.pop(name)
        batches[name] = largest_batch(
            functools.partial(train_step_fits, model, args=args, frames=32),
            limit)
        del model
        torch.cuda.empty_cache()
    return batches
