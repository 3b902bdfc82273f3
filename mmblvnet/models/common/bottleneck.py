"""Bottleneck block and stage builder of the Big-Little ResNet."""
from typing import Callable, Optional

from torch import Tensor, nn

from .avg_pool import DepthwiseAvgPool2d
from .checkpoint import checkpoint
from .small_maps import SmallMapConv2d
from .tam import TAM

# Builds the TAM of a block from its input channels, or None for no TAM.
TAMFactory = Callable[[int], Optional[TAM]]


def _no_tam(channels: int) -> None:
    return None


def make_shortcut(in_channels: int, out_channels: int,
                  stride: int) -> Optional[nn.Sequential]:
    """Projection shortcut: AvgPool(3, 2, 1) if strided, 1x1 conv + BN if
    the width changes, nothing if neither.

    Module indices follow the reference layout (pool first, then conv, BN),
    so checkpoints keep their key names.
    """
    layers = []
    if stride != 1:
        layers.append(DepthwiseAvgPool2d(3, stride=2, padding=1))
    if in_channels != out_channels:
        layers += [
            SmallMapConv2d(in_channels, out_channels, 1, bias=False),
            nn.BatchNorm2d(out_channels)
        ]
    return nn.Sequential(*layers) if layers else None


class Bottleneck(nn.Module):
    """Bottleneck whose ``out_channels`` is its OUTPUT width.

    conv1x1-BN-ReLU, conv3x3(stride)-BN-ReLU, conv1x1-BN, plus the shortcut,
    then ReLU unless ``last_relu=False``. With a TAM, the TAM is applied to
    the block input; the identity shortcut reads the input before TAM while
    a projection shortcut reads the TAM output (as the reference does).

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels; the inner width is a quarter.
        stride (int): Stride of the 3x3 conv. Defaults to 1.
        downsample (nn.Module, optional): Projection shortcut.
        last_relu (bool): Whether to end with ReLU. Defaults to True.
        tam (TAM, optional): Temporal aggregation applied to the input.
        with_cp (bool): Use gradient checkpointing. Defaults to False.
    """
    expansion = 4

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 stride: int = 1,
                 downsample: Optional[nn.Module] = None,
                 last_relu: bool = True,
                 tam: Optional[TAM] = None,
                 with_cp: bool = False) -> None:
        super().__init__()
        width = out_channels // self.expansion
        self.conv1 = SmallMapConv2d(in_channels, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = SmallMapConv2d(
            width, width, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = SmallMapConv2d(width, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.last_relu = last_relu
        self.tam = tam
        self.with_cp = with_cp

    def _inner_forward(self, x: Tensor) -> Tensor:
        identity = x
        if self.tam is not None:
            x = self.tam(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.relu(out) if self.last_relu else out

    def forward(self, x: Tensor) -> Tensor:
        """Args:
            x (torch.Tensor): Maps of shape (B, C_in, H, W).

        Returns:
            torch.Tensor: Maps of shape (B, C_out, H / stride, W / stride).
        """
        if self.with_cp and x.requires_grad:
            return checkpoint(self._inner_forward, (self, ), x)
        return self._inner_forward(x)


def make_stage(in_channels: int,
               out_channels: int,
               num_blocks: int,
               stride: int = 1,
               last_relu: bool = True,
               tam_factory: TAMFactory = _no_tam,
               with_cp: bool = False) -> nn.Sequential:
    """A stack of Bottlenecks; only the first is strided and projects.

    Args:
        in_channels (int): Input channels of the first block.
        out_channels (int): Output channels of every block.
        num_blocks (int): Number of blocks.
        stride (int): Stride of the first block. Defaults to 1.
        last_relu (bool): Whether the last block ends with ReLU (a single
            block always does, as in the reference). Defaults to True.
        tam_factory (callable): Builds each block's TAM from its input
            channels (None: no TAM). Defaults to no TAM.
        with_cp (bool): Gradient checkpointing per block.

    Returns:
        nn.Sequential: The blocks.
    """
    blocks = [
        Bottleneck(
            in_channels,
            out_channels,
            stride,
            make_shortcut(in_channels, out_channels, stride),
            tam=tam_factory(in_channels),
            with_cp=with_cp)
    ]
    for index in range(1, num_blocks):
        is_last = index == num_blocks - 1
        blocks.append(
            Bottleneck(
                out_channels,
                out_channels,
                last_relu=last_relu or not is_last,
                tam=tam_factory(out_channels),
                with_cp=with_cp))
    return nn.Sequential(*blocks)
