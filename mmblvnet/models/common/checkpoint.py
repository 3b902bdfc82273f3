"""Activation checkpointing that updates BatchNorm statistics once.

``torch.utils.checkpoint`` runs the checkpointed function a second time in
backward. A BatchNorm layer in training mode inside it would then update
its running statistics twice per step (and count the step twice), so a
model trained with checkpointing would end with different statistics than
the same model trained without. :func:`checkpoint` restores them after the
recomputation, so outputs, gradients and statistics all equal those of the
plain forward.
"""
import contextlib
from typing import Callable, Iterator, Sequence

import torch
import torch.utils.checkpoint as cp
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm


@contextlib.contextmanager
def restored_batchnorm_stats(*modules: nn.Module) -> Iterator[None]:
    """Undo, on exit, the running-statistics updates of the BatchNorm
    layers (in training mode) found in ``modules``."""
    buffers = [
        buffer for module in modules for layer in module.modules()
        if isinstance(layer, _BatchNorm) and layer.training
        for buffer in (layer.running_mean, layer.running_var,
                       layer.num_batches_tracked) if buffer is not None
    ]
    saved = [buffer.clone() for buffer in buffers]
    try:
        yield
    finally:
        with torch.no_grad():
            for buffer, value in zip(buffers, saved):
                buffer.copy_(value)


def checkpoint(function: Callable[..., Tensor],
               modules: Sequence[nn.Module], *args) -> Tensor:
    """``function(*args)``, its activations recomputed in backward.

    Args:
        function (callable): The computation to checkpoint.
        modules (Sequence[nn.Module]): Modules holding every BatchNorm
            that ``function`` runs; their statistics are updated only by
            the forward pass, not again by the recomputation.
        *args: Inputs of ``function``.

    Returns:
        torch.Tensor: ``function(*args)``.
    """
    if torch.compiler.is_compiling():
        # The compiled graph recomputes functionally: no second update.
        return cp.checkpoint(function, *args, use_reentrant=False)
    return cp.checkpoint(
        function,
        *args,
        use_reentrant=False,
        context_fn=lambda: (contextlib.nullcontext(),
                            restored_batchnorm_stats(*modules)))
