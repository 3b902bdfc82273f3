"""Average pooling that ONNX export writes as a depthwise convolution."""
import torch
import torch.nn.functional as F
from torch import Tensor, nn


class DepthwiseAvgPool2d(nn.AvgPool2d):
    """``nn.AvgPool2d`` (zero padding counted); a depthwise conv in ONNX.

    A depthwise convolution whose kernel is ``1 / (kh * kw)`` everywhere
    gives the same averages. ONNX export writes it, part of bLResNet's
    export form (ONNX Runtime's int8 depthwise convolution runs several
    times faster than its int8 average pool; see
    docs/bench/forward_paths.md); eager PyTorch runs ``avg_pool2d`` (the
    convolution was no faster there: batch-1 inference 1.03x, the
    quickstart's training step 0.90x), the op that FLOP counters count as
    the pooling it is. No parameters: state dicts are those of
    ``nn.AvgPool2d``.

    Args:
        kernel_size (int): Side of the square window.
        stride (int): Stride of the window.
        padding (int): Zero padding on each side, counted in the average.
    """

    def __init__(self, kernel_size: int, stride: int, padding: int) -> None:
        super().__init__(kernel_size, stride=stride, padding=padding)

    def forward(self, x: Tensor) -> Tensor:
        """Args:
            x (torch.Tensor): Maps of shape (B, C, H, W).

        Returns:
            torch.Tensor: Averages of shape (B, C, H', W') as
            ``nn.AvgPool2d`` computes them.
        """
        if not torch.onnx.is_in_onnx_export():
            return super().forward(x)
        channels = x.shape[1]
        kernel = torch.full(
            (channels, 1, self.kernel_size, self.kernel_size),
            1.0 / self.kernel_size**2,
            dtype=x.dtype,
            device=x.device)
        return F.conv2d(x, kernel, None, self.stride, self.padding, 1,
                        channels)
