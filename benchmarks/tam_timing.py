"""The share of a bLResNet's time spent in its TAM modules.

``TAM.forward`` and ``TAM.forward_pairs`` (which bLResNet calls directly,
so module hooks would miss it) are wrapped on each instance while
:func:`timed_tam_calls` is active; nothing outside the context changes.
"""
import contextlib
import functools
import time
from typing import Callable, Iterator, List

import torch
from torch import Tensor, nn

from mmblvnet.models.common.tam import TAM

from .profiling import seconds, synchronize


@contextlib.contextmanager
def timed_tam_calls(model: nn.Module,
                    device: torch.device) -> Iterator[List[float]]:
    """Accumulate the wall time of every TAM call in ``model``.

    Args:
        model (nn.Module): Any module holding :class:`TAM` modules.
        device (torch.device): Synchronized around each call.

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
