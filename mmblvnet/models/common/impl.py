"""Which implementation a module runs: per-clip loops or batched ops.

Two implementations of the same numbers:

- ``'loop'``: tuned for eager CPU. Convolutions run through
  :func:`.small_maps.conv2d` (exact, faster on maps smaller than the
  kernel's reach) and the strided shortcut pools as depthwise
  convolutions; with autograd off, TAM also works clip by clip (in place
  where the caller hands over its input) so that its passes reuse the CPU
  cache, and every Conv2d + BatchNorm pair with frozen statistics runs as
  one convolution with folded weights. The number of ops grows with the
  batch; each is cheap on a CPU.
- ``'batched'``: every op covers the whole batch (TAM is a few scaled,
  shifted sums per call, BatchNorm runs as BatchNorm, pools as
  ``avg_pool2d``), so the op count of a forward does not depend on the
  batch. This is what a GPU (one kernel launch per op), ``torch.compile``,
  tracing and ONNX export want.
- ``'auto'`` (default): ``'batched'`` on any device other than the CPU and
  while a graph is captured (``torch.compile``, ``torch.export``,
  ``torch.jit`` tracing or scripting, ONNX export); otherwise ``'loop'``.

ONNX export takes the batched path with four changes (:data:`EXPORT`),
each choosing, of two equal computations, the one a graph runtime runs
in its own layout (e.g. NCHWc for float32 or NHWC around int8
convolutions) and kernels instead of converting to plain NCHW and back:

- a ``'sum'`` TAM works on the ``(N * T, C, H, W)`` frames as they are,
  rotating whole frames along the batch (two slices and a concatenation)
  and zeroing, in its weights, the terms that would cross a clip boundary
  or wrap around; its unshifted terms are depthwise 1x1 convolutions. It
  writes no slices (an exported slice write is a ``ScatterND`` between
  transposes), builds no 5-D clips and pads nothing (ONNX Runtime runs a
  quantized ``Pad`` in float32, between a dequantize and a quantize);
- the strided shortcut pools run as depthwise convolutions (ONNX Runtime's
  int8 average pool is several times slower than its int8 depthwise
  convolution);
- bLResNet upsamples the big branch with an interpolation op (ONNX
  ``Resize``) before adding it to the little one, where eager code adds
  each big pixel onto its 2 x 2 block through a 6-D broadcast view (an
  exported 6-D ``Add`` with broadcasting);
- bLResNet's first convolution runs on the even and on the odd frames
  separately, where eager code slices its output (a free view in PyTorch,
  an exported ``Slice`` that copies the largest maps of the network).

:func:`plan` is the one place where ``impl``, the input's device, graph
capture and autograd decide what a forward call may do; it returns one
of the :class:`Plan` rows below, and each module only asks the row
(its own conditions, such as forward hooks that must see both calls of a
Conv2d + BatchNorm pair, stay with the module). Modules that have two
implementations declare a class attribute ``impl``; :func:`set_impl` sets
it on every such module of a model. It is a plain attribute, not a
parameter or buffer: state dicts do not change.
"""
from typing import NamedTuple

import torch
from torch import Tensor, nn

IMPLS = ('auto', 'batched', 'loop')


class Plan(NamedTuple):
    """What a forward call may do on the path it takes.

    Attributes:
        cpu_kernels (bool): Convolutions through
            :func:`.small_maps.conv2d`.
        fold_conv_bn (bool): A Conv2d + BatchNorm pair with frozen
            statistics runs as one convolution with folded weights.
        per_clip (bool): TAM runs clip by clip and may overwrite an input
            its caller hands over.
        depthwise_pools (bool): Average pools run as depthwise
            convolutions.
        masked_shifts (bool): A ``'sum'`` TAM convolves whole frames,
            rotated and masked at clip boundaries for its shifted terms
            (4-D ops only, no slice writes, no padding: what an exported
            graph wants).
        resize_upsample (bool): bLResNet upsamples the big branch with
            ``F.interpolate`` before the addition (no 6-D broadcast).
        stem_per_parity (bool): bLResNet's first convolution (BatchNorm
            folded in, with frozen statistics) runs on the even and the odd
            frames separately (no slice of its output).
    """
    cpu_kernels: bool
    fold_conv_bn: bool
    per_clip: bool
    depthwise_pools: bool = False
    masked_shifts: bool = False
    resize_upsample: bool = False
    stem_per_parity: bool = False


BATCHED = Plan(cpu_kernels=False, fold_conv_bn=False, per_clip=False)
EXPORT = BATCHED._replace(
    depthwise_pools=True,
    masked_shifts=True,
    resize_upsample=True,
    stem_per_parity=True)
LOOP_WITH_AUTOGRAD = Plan(
    cpu_kernels=True, fold_conv_bn=False, per_clip=False,
    depthwise_pools=True)
LOOP_INFERENCE = LOOP_WITH_AUTOGRAD._replace(fold_conv_bn=True,
                                             per_clip=True)


def check_impl(impl: str) -> str:
    """Return ``impl`` if valid, else raise a ValueError naming it."""
    if impl not in IMPLS:
        raise ValueError(f'impl must be one of {IMPLS}, but got '
                         f'impl={impl!r}')
    return impl


def capturing_graph() -> bool:
    """Whether a graph is being captured (compile, export, trace, ONNX)."""
    return (torch.compiler.is_compiling() or torch.jit.is_tracing()
            or torch.jit.is_scripting() or torch.onnx.is_in_onnx_export())


def runs_batched(impl: str, x: Tensor) -> bool:
    """Whether a module set to ``impl`` takes the batched path on ``x``.

    Args:
        impl (str): ``'auto'``, ``'batched'`` or ``'loop'``.
        x (torch.Tensor): The module's input (its device decides
            ``'auto'``).

    Returns:
        bool: True for the batched path, False for the loop path.
    """
    if impl != 'auto':
        return impl == 'batched'
    return x.device.type != 'cpu' or capturing_graph()


def plan(impl: str, x: Tensor) -> Plan:
    """What a module set to ``impl`` may do in a forward call on ``x``.

    Args:
        impl (str): ``'auto'``, ``'batched'`` or ``'loop'``.
        x (torch.Tensor): The module's input.

    Returns:
        Plan: On the batched path :data:`EXPORT` during ONNX export, else
        :data:`BATCHED`; on the loop path :data:`LOOP_WITH_AUTOGRAD` /
        :data:`LOOP_INFERENCE` as autograd is on or off.
    """
    if runs_batched(impl, x):
        return EXPORT if torch.onnx.is_in_onnx_export() else BATCHED
    return LOOP_WITH_AUTOGRAD if torch.is_grad_enabled() else LOOP_INFERENCE


def set_impl(model: nn.Module, impl: str) -> None:
    """Set ``impl`` on every module of ``model`` that has two
    implementations (those declaring an ``impl`` attribute)."""
    check_impl(impl)
    for module in model.modules():
        if hasattr(module, 'impl'):
            module.impl = impl
