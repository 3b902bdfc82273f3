"""Average pooling computed as a depthwise convolution."""
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .impl import plan


class DepthwiseAvgPool2d(nn.AvgPool2d):
    """``nn.AvgPool2d`` (zero padding counted) run as a depthwise conv.

    A depthwise convolution whose kernel is ``1 / (kh * kw)`` everywhere
    gives the same averages; oneDNN runs it faster on CPU than
    ``avg_pool2d`` for the shortcut pools of bLResNet (3x3, stride 2,
    padding 1; see docs/benchmarks.md), and so does ONNX Runtime's int8
    kernel (its quantized average pool is the slow one): the loop
    implementation and ONNX export (:attr:`.impl.Plan.depthwise_pools`)
    take the convolution. The batched implementation otherwise (GPUs,
    ``torch.compile``, tracing for FLOP counting) stays ``avg_pool2d``, one
    op that is counted as the pooling it is. No parameters: state dicts
    are those of ``nn.AvgPool2d``.

    Args:
        kernel_size (int): Side of the square window.
        stride (int): Stride of the window.
        padding (int): Zero padding on each side, counted in the average.
    """

    impl = 'auto'

    def __init__(self, kernel_size: int, stride: int, padding: int) -> None:
        super().__init__(kernel_size, stride=stride, padding=padding)

    def forward(self, x: Tensor) -> Tensor:
        """Args:
            x (torch.Tensor): Maps of shape (B, C, H, W).

        Returns:
            torch.Tensor: Averages of shape (B, C, H', W') as
            ``nn.AvgPool2d`` computes them.
        """
        if not plan(self.impl, x).depthwise_pools:
            return super().forward(x)
        channels = x.shape[1]
        kernel = torch.full(
            (channels, 1, self.kernel_size, self.kernel_size),
            1.0 / self.kernel_size**2,
            dtype=x.dtype,
            device=x.device)
        return F.conv2d(x, kernel, None, self.stride, self.padding, 1,
                        channels)
