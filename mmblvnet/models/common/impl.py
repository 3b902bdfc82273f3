"""Which implementation a module runs: per-clip loops or batched ops.

Two implementations of the same numbers:

- ``'loop'``: tuned for eager CPU inference. Without autograd, TAM works
  clip by clip (and frame by frame in place in the stem) so that its passes
  reuse the CPU cache, every Conv2d + BatchNorm pair with frozen statistics
  runs as one convolution whose weights are folded on each call, and the
  strided shortcut pools run as depthwise convolutions. The number of ops
  grows with the batch; each is cheap on a CPU.
- ``'batched'``: every op covers the whole batch (TAM is a few scaled,
  shifted sums per call, BatchNorm runs as BatchNorm, pools as
  ``avg_pool2d``), so the op count of a forward does not depend on the
  batch. This is what a GPU (one kernel launch per op), ``torch.compile``,
  tracing and ONNX export want.
- ``'auto'`` (default): ``'batched'`` on any device other than the CPU and
  while a graph is captured (``torch.compile``, ``torch.export``,
  ``torch.jit`` tracing or scripting, ONNX export); otherwise ``'loop'``,
  whose loops and folding apply only with autograd off (with autograd on
  it already runs TAM batched and BatchNorm unfolded).

Modules that have two implementations declare a class attribute ``impl``;
:func:`set_impl` sets it on every such module of a model. It is a plain
attribute, not a parameter or buffer: state dicts do not change.
"""
import torch
from torch import Tensor, nn

IMPLS = ('auto', 'batched', 'loop')


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


def set_impl(model: nn.Module, impl: str) -> None:
    """Set ``impl`` on every module of ``model`` that has two
    implementations (those declaring an ``impl`` attribute)."""
    check_impl(impl)
    for module in model.modules():
        if hasattr(module, 'impl'):
            module.impl = impl
