"""Convolution + BatchNorm, folded into one convolution for inference.

With its statistics frozen (eval mode) a BatchNorm is a per-channel affine
map, so ``bn(conv(x))`` equals one convolution with scaled weights and a
bias. Folding on the fly skips a full pass over every map and the
allocation of its output: about 7% of bLResNet's CPU inference time. The
parameters and state-dict keys stay those of the two modules; training,
and anything that needs autograd, runs them as they are; so does the
batched implementation (:mod:`.impl`), which keeps the op count of a
forward small for GPUs, ``torch.compile`` and export.
"""
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

from .impl import runs_batched


def _has_hooks(module: nn.Module) -> bool:
    return bool(module._forward_hooks or module._forward_pre_hooks)


def _can_fold(conv: nn.Conv2d, bn: _BatchNorm) -> bool:
    """Whether ``bn(conv(x))`` may run as one folded convolution now.

    Only without autograd, with frozen BatchNorm statistics, for a plain
    zero-padded 2D convolution, and when neither module has forward hooks
    (so that hooks, e.g. of a feature extractor, still see both calls).
    """
    return (not torch.is_grad_enabled() and not bn.training
            and bn.track_running_stats and conv.padding_mode == 'zeros'
            and not _has_hooks(conv) and not _has_hooks(bn))


def conv_bn(conv: nn.Conv2d,
            bn: _BatchNorm,
            x: Tensor,
            impl: str = 'auto') -> Tensor:
    """``bn(conv(x))``; on the loop path (see :mod:`.impl`) one folded
    convolution when autograd is off, the statistics are frozen, the
    padding is zeros and neither module has forward hooks.

    Args:
        conv (nn.Conv2d): The convolution.
        bn (_BatchNorm): The BatchNorm on its output.
        x (torch.Tensor): Input of shape (B, C_in, H, W).
        impl (str): ``'auto'``, ``'batched'`` (never fold) or ``'loop'``.

    Returns:
        torch.Tensor: Output of shape (B, C_out, H', W').
    """
    if runs_batched(impl, x) or not _can_fold(conv, bn):
        return bn(conv(x))
    scale = torch.rsqrt(bn.running_var + bn.eps)
    if bn.affine:
        scale = scale * bn.weight
    shift = -bn.running_mean * scale
    if bn.affine:
        shift += bn.bias
    if conv.bias is not None:
        shift = shift + conv.bias * scale
    weight = conv.weight * scale.view(-1, 1, 1, 1)
    return F.conv2d(x, weight, shift, conv.stride, conv.padding,
                    conv.dilation, conv.groups)


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
