"""Convolutions on maps smaller than the kernel's reach.

The last stage of a ResNet runs on maps of one or two pixels a side for
frames of 32 to 63 pixels. There, :class:`SmallMapConv2d` computes a
convolution in two exact ways that the CPU runs much faster than oneDNN's
convolution kernels for such shapes (a 3x3 weight gradient on a 1x1 map is
slow out of all proportion to its FLOPs):

- Taps of a zero-padded kernel that read only padding, for every output,
  are dropped: a 3x3 convolution with padding 1 on a 1x1 map is the 1x1
  convolution of the kernel's centre tap; with stride 2 on a 2x2 map it
  is the 2x2 convolution of the kernel's lower-right taps.
- A convolution whose one output reads the whole map (no padding left,
  kernel as large as the map) is a matrix product, run as ``F.linear``.

Outputs are those of the full convolution, and so are the gradients (the
dropped taps get a zero gradient either way). Case: the quickstart's CPU
training step (bLVNet-TAM-50, 32 x 32, T=8, 8 clips, 2 threads) took
0.83 s with ``nn.Conv2d`` and 0.48 s with :class:`SmallMapConv2d` on a quiet
AVX2 AMD EPYC (1.7x); on an Intel Xeon with AMX, whose oneDNN kernels
handle these shapes well, the two are even (1.03x). See
docs/bench/forward_paths.md for the A/B runs.
"""
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def _live_taps(size: int, kernel: int, stride: int, padding: int,
               dilation: int) -> Optional[Tuple[int, int, int]]:
    """Along one axis, the first and last tap that read the map for some
    output, and the padding that gives the same outputs with only those
    taps; None when every tap reads the map or when no symmetric padding
    gives the same outputs.

    Args:
        size (int): Length of the map along the axis.
        kernel, stride, padding, dilation (int): The convolution's
            settings along the axis.

    Returns:
        tuple[int, int, int] | None: ``(first, last, padding)``.
    """
    if size > dilation * (kernel - 1):
        return None  # a map this large: nothing to gain
    outputs = (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1
    # Tap j reads position o * stride - padding + j * dilation of output o.
    live = [
        tap for tap in range(kernel)
        if any(0 <= out * stride - padding + tap * dilation < size
               for out in range(outputs))
    ]
    if not live or (live[0] == 0 and live[-1] == kernel - 1):
        return None
    first, last = live[0], live[-1]
    new_padding = padding - first * dilation
    new_outputs = (size + 2 * new_padding - dilation *
                   (last - first) - 1) // stride + 1
    if new_padding < 0 or new_outputs != outputs:
        return None
    return first, last, new_padding


class SmallMapConv2d(nn.Conv2d):
    """``nn.Conv2d`` (zero padding given as integers) that computes its
    convolution on the kernel taps that can read the input, and as a matrix
    product when its one output reads the whole input.

    Same parameters, state-dict keys, outputs and gradients as
    ``nn.Conv2d``; on maps at least as large as the kernel's reach it runs
    the plain convolution. So do ONNX export (an exported graph does not
    depend on the frame size it was traced at) and ``torch.jit`` tracing
    (FLOP counters count the convolution the architecture has).
    """

    def _conv_forward(self, x: Tensor, weight: Tensor,
                      bias: Optional[Tensor]) -> Tensor:
        """Args:
            x (torch.Tensor): Input of shape (B, C_in, H, W).
            weight (torch.Tensor): (C_out, C_in / groups, kh, kw).
            bias (torch.Tensor, optional): (C_out, ).

        Returns:
            torch.Tensor: Output of shape (B, C_out, H', W'), equal to
            ``F.conv2d`` with the full kernel.
        """
        if torch.onnx.is_in_onnx_export() or torch.jit.is_tracing():
            return super()._conv_forward(x, weight, bias)
        padding = self.padding
        axes = [
            _live_taps(size, kernel, stride, pad, dil)
            for size, kernel, stride, pad, dil in zip(
                x.shape[-2:], weight.shape[-2:], self.stride, padding,
                self.dilation)
        ]
        if not any(axes):
            return super()._conv_forward(x, weight, bias)
        rows, cols = (axis or (0, kernel - 1, pad) for axis, kernel, pad in
                      zip(axes, weight.shape[-2:], padding))
        weight = weight[:, :, rows[0]:rows[1] + 1, cols[0]:cols[1] + 1]
        padding = (rows[2], cols[2])
        if self.groups == 1 and padding == (0, 0) and all(
                kernel == size and (kernel == 1 or dil == 1)
                for kernel, size, dil in zip(weight.shape[-2:],
                                             x.shape[-2:], self.dilation)):
            return F.linear(x.flatten(1), weight.flatten(1),
                            bias)[..., None, None]
        return F.conv2d(x, weight, bias, self.stride, padding, self.dilation,
                        self.groups)
