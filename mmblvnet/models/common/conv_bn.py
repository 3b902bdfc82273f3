"""Convolution + BatchNorm, folded into one convolution for inference.

With its statistics frozen (eval mode) a BatchNorm is a per-channel affine
map, so ``bn(conv(x))`` equals one convolution with scaled weights and a
bias. Running that convolution skips a full pass over every map and the
allocation of its output (the CPU time saved is measured in
docs/benchmarks.md). The folded weights are computed once and reused
(:func:`folded_weights`) until a source tensor changes: an in-place update
(optimizer step, ``load_state_dict``) bumps its version counter, a
training step of the BatchNorm its ``num_batches_tracked``, and ``.to()``
or a new parameter replaces it. The cache costs one copy of the
convolution weights. The parameters and state-dict keys stay those of the
two modules; training, and anything that needs autograd, runs them as
they are; so does the batched implementation (:mod:`.impl`), which keeps
the op count of a forward small for GPUs, ``torch.compile`` and export.
"""
import weakref
from typing import List, Tuple

import torch
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

from .impl import plan
from .small_maps import conv2d


def _has_hooks(module: nn.Module) -> bool:
    return bool(module._forward_hooks or module._forward_pre_hooks)


def _can_fold(conv: nn.Conv2d, bn: _BatchNorm) -> bool:
    """Whether ``bn(conv(x))`` may run as one folded convolution on a path
    that folds (:attr:`.impl.Plan.fold_conv_bn`).

    Only with frozen BatchNorm statistics, for a plain zero-padded 2D
    convolution, and when neither module has forward hooks (so that hooks,
    e.g. of a feature extractor, still see both calls).
    """
    return (not bn.training and bn.track_running_stats
            and conv.padding_mode == 'zeros' and not _has_hooks(conv)
            and not _has_hooks(bn))


def conv_bn(conv: nn.Conv2d,
            bn: _BatchNorm,
            x: Tensor,
            impl: str = 'auto') -> Tensor:
    """``bn(conv(x))``; on the loop path (see :mod:`.impl`) one folded
    convolution when autograd is off, the statistics are frozen, the
    padding is zeros and neither module has forward hooks; the convolution
    of a zero-padded ``conv`` without hooks runs as
    :func:`.small_maps.conv2d` (faster on maps smaller than the kernel's
    reach).

    Args:
        conv (nn.Conv2d): The convolution.
        bn (_BatchNorm): The BatchNorm on its output.
        x (torch.Tensor): Input of shape (B, C_in, H, W).
        impl (str): ``'auto'``, ``'batched'`` (never fold) or ``'loop'``.

    Returns:
        torch.Tensor: Output of shape (B, C_out, H', W').
    """
    path = plan(impl, x)
    if path.fold_conv_bn and _can_fold(conv, bn):
        return conv2d(conv, x, *folded_weights(conv, bn))
    if (not path.cpu_kernels or _has_hooks(conv)
            or conv.padding_mode != 'zeros'):
        return bn(conv(x))
    return bn(conv2d(conv, x))


# BatchNorm -> (source tensors, their (data_ptr, version), folded weights).
_FOLDED: 'weakref.WeakKeyDictionary[nn.Module, tuple]' = (
    weakref.WeakKeyDictionary())


def fold(conv: nn.Conv2d, bn: _BatchNorm) -> Tuple[Tensor, Tensor]:
    """Weight (shape of ``conv.weight``) and bias (C_out, ) of the one
    convolution equal to ``bn(conv(x))`` with ``bn``'s frozen statistics;
    computed with plain ops on every call (see :func:`folded_weights` for
    the cached form)."""
    scale = torch.rsqrt(bn.running_var + bn.eps)
    if bn.affine:
        scale = scale * bn.weight
    shift = -bn.running_mean * scale
    if bn.affine:
        shift += bn.bias
    if conv.bias is not None:
        shift = shift + conv.bias * scale
    return conv.weight * scale.view(-1, 1, 1, 1), shift


def _sources(conv: nn.Conv2d, bn: _BatchNorm) -> List[Tensor]:
    # BatchNorm's kernel updates the running statistics in place without
    # bumping their version counters; num_batches_tracked, incremented
    # with every update, marks the change.
    return [
        t for t in (conv.weight, conv.bias, bn.weight, bn.bias,
                    bn.running_mean, bn.running_var, bn.num_batches_tracked)
        if t is not None
    ]


def folded_weights(conv: nn.Conv2d,
                   bn: _BatchNorm) -> Tuple[Tensor, Tensor]:
    """Weight and bias of the one convolution equal to ``bn(conv(x))``
    with ``bn``'s frozen statistics; cached until a source tensor changes.

    Call without autograd (the result is cached, not differentiated).

    Args:
        conv (nn.Conv2d): The convolution, weight (C_out, C_in / g, kh, kw).
        bn (_BatchNorm): The BatchNorm on its output.

    Returns:
        tuple[torch.Tensor, torch.Tensor]: Weight of the shape of
        ``conv.weight`` and bias of shape (C_out, ).
    """
    sources = _sources(conv, bn)
    # A tensor's version counter (torch's own, also read by autograd)
    # grows with every in-place change of its values.
    key = [(t.data_ptr(), t._version) for t in sources] + [bn.eps]
    cached = _FOLDED.get(bn)
    if (cached is not None and cached[1] == key
            and all(a is b for a, b in zip(cached[0], sources))):
        return cached[2]
    folded = fold(conv, bn)
    _FOLDED[bn] = (sources, key, folded)
    return folded


class ConvBNSequential(nn.Sequential):
    """``nn.Sequential`` that runs each Conv2d-BatchNorm pair through
    :func:`conv_bn` (folded at inference).

    Holds the same modules, under the same keys, as ``nn.Sequential``.
    ``impl`` is passed to :func:`conv_bn` (set by :func:`.impl.set_impl`).
    """
    impl = 'auto'

    def forward(self, x: Tensor) -> Tensor:
        """Args:
            x (torch.Tensor): Input of shape (B, C_in, H, W).

        Returns:
            torch.Tensor: Output of the modules in order.
        """
        modules = list(self)
        index = 0
        while index < len(modules):
            module = modules[index]
            follower = modules[index + 1] if index + 1 < len(modules) else None
            if (isinstance(module, nn.Conv2d)
                    and isinstance(follower, _BatchNorm)):
                x = conv_bn(module, follower, x, self.impl)
                index += 2
            else:
                x = module(x)
                index += 1
        return x
