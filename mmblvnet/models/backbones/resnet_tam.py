"""ResNet with a Temporal Aggregation Module in every residual block.

TAM-ResNet is the temporal 2D model of IBM/action-recognition-pytorch
(``models/twod_models/resnet.py``; Fan et al., NeurIPS 2019; Chen et al.,
CVPR 2021): a plain ResNet whose every block, BasicBlock or Bottleneck,
first blends its input over time with a TAM. Only the residual branch reads
the blended input; the shortcut, identity or projection, reads the block
input before TAM. Its released models have no temporal pooling (they were
trained with ``--without_t_stride``), so every TAM sees all ``T`` frames.
"""
from typing import Dict, Optional, Tuple, Type

from mmaction.models.backbones.resnet import BasicBlock, Bottleneck, ResNet
from mmaction.registry import MODELS
from mmengine.logging import MMLogger
from torch import Tensor, nn

from ..common.checkpoint import checkpoint
from ..common.tam import TAM


def _blended(tam: Optional[TAM], x: Tensor) -> Tensor:
    return x if tam is None else tam(x)


class _TAMResidual:
    """Mixin for an MMAction2 block whose residual branch reads ``tam(x)``.

    ``tam`` is None when built and set by
    :meth:`ResNetTAM.make_temporal_aggregation`; the shortcut reads ``x``.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.tam: Optional[TAM] = None


class TAMBasicBlock(_TAMResidual, BasicBlock):
    """MMAction2 ``BasicBlock`` whose residual branch reads ``tam(x)``."""

    def forward(self, x: Tensor) -> Tensor:
        """Args:
            x (torch.Tensor): Frames of shape (N * T, C_in, H, W).

        Returns:
            torch.Tensor: Frames of shape (N * T, C_out, H', W').
        """
        out = self.conv2(self.conv1(_blended(self.tam, x)))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class TAMBottleneck(_TAMResidual, Bottleneck):
    """MMAction2 ``Bottleneck`` whose residual branch reads ``tam(x)``."""

    def _inner_forward(self, x: Tensor) -> Tensor:
        out = self.conv3(self.conv2(self.conv1(_blended(self.tam, x))))
        identity = x if self.downsample is None else self.downsample(x)
        return out + identity

    def forward(self, x: Tensor) -> Tensor:
        """Args:
            x (torch.Tensor): Frames of shape (N * T, C_in, H, W).

        Returns:
            torch.Tensor: Frames of shape (N * T, C_out, H', W').
        """
        if self.with_cp and x.requires_grad:
            out = checkpoint(self._inner_forward, (self, ), x)
        else:
            out = self._inner_forward(x)
        return self.relu(out)


_TAM_BLOCKS: Dict[Type[nn.Module], Type[nn.Module]] = {
    BasicBlock: TAMBasicBlock,
    Bottleneck: TAMBottleneck,
}


@MODELS.register_module()
class ResNetTAM(ResNet):
    """TAM-ResNet: MMAction2's ``ResNet`` with a TAM in every block.

    Every block of every stage gets ``TAM(C_in, num_segments,
    blending_frames, blending_method, causal)`` on its input; the key
    names of the ResNet layers are those of MMAction2's ``ResNet``, so
    torchvision ImageNet weights load through ``pretrained`` as for
    ``ResNet`` (the TAMs keep their initialisation) and each TAM adds one
    key ``layer{i}.{j}.tam.weight`` of shape (k, C_in).

    Args:
        depth (int): 18, 34, 50, 101 or 152.
        num_segments (int): Frames ``T`` per clip.
        blending_frames (int): Odd number ``k`` of frames each TAM blends.
            Defaults to 3.
        blending_method (str): ``'sum'`` or ``'max'``. Defaults to ``'sum'``.
        causal (bool): Causal TAMs (frames ``t - k + 1 .. t``, see
            :class:`~mmblvnet.models.common.tam.TAM`). Defaults to False.
        **kwargs: Passed to MMAction2's ``ResNet``: ``pretrained``,
            ``torchvision_pretrain``, ``in_channels``, ``num_stages``,
            ``out_indices``, ``strides``, ``dilations``, ``style``,
            ``frozen_stages``, ``conv_cfg``, ``norm_cfg``, ``act_cfg``,
            ``norm_eval``, ``partial_bn``, ``with_cp`` (Bottleneck only)
            and ``init_cfg``.

    Input ``(N * T, C, H, W)`` with each clip's ``T`` frames contiguous;
    output as ``ResNet``'s, e.g. ``(N * T, 2048, H / 32, W / 32)`` for
    depth 50 and ``out_indices=(3, )``.
    """

    arch_settings: Dict[int, Tuple[Type[nn.Module], Tuple[int, ...]]] = {
        depth: (_TAM_BLOCKS[block], stage_blocks)
        for depth, (block, stage_blocks) in ResNet.arch_settings.items()
    }

    def __init__(self,
                 depth: int,
                 num_segments: int,
                 blending_frames: int = 3,
                 blending_method: str = 'sum',
                 causal: bool = False,
                 **kwargs) -> None:
        super().__init__(depth, **kwargs)
        self.num_segments = num_segments
        self.blending_frames = blending_frames
        self.blending_method = blending_method
        self.causal = causal
        self.make_temporal_aggregation()

    def make_temporal_aggregation(self) -> None:
        """Give every block of every stage a TAM on its input."""
        for layer_name in self.res_layers:
            for block in getattr(self, layer_name):
                block.tam = TAM(block.conv1.conv.in_channels,
                                self.num_segments, self.blending_frames,
                                self.blending_method, self.causal)

    def init_weights(self) -> None:
        """Initialise as ``ResNet`` does; TAMs keep their own init.

        With a torchvision checkpoint in ``pretrained``, ``ResNet`` loads
        every conv and BN by name and logs the checkpoint keys it did not
        use; the TAM weights, which a 2D checkpoint cannot hold, are
        logged here by name.
        """
        super().init_weights()
        if isinstance(self.pretrained, str) and self.torchvision_pretrain:
            kept = [
                f'{name}.weight' for name, module in self.named_modules()
                if isinstance(module, TAM)
            ]
            MMLogger.get_current_instance().info(
                f'{len(kept)} TAM weights are not in the 2D checkpoint '
                f'and keep their initialisation: {", ".join(kept)}')

    def train(self, mode: bool = True) -> 'ResNetTAM':
        """``ResNet.train`` (freezing, ``norm_eval``, ``partial_bn``) that
        returns ``self`` as ``nn.Module.train`` does (``ResNet``'s returns
        None, which breaks ``model.eval()`` chains)."""
        super().train(mode)
        return self
