"""Big-Little ResNet with Temporal Aggregation (bLVNet-TAM backbone).

Fan et al., "More Is Less: Learning Efficient Video Representations by
Big-Little Network and Depthwise Temporal Aggregation", NeurIPS 2019.

A clip of ``T`` frames is processed as ``T / 2`` pairs: the little branch
(narrow, full resolution) sees the even frame of each pair, the big branch
(wide, half resolution) the odd frame, and their fused output stands for
both frames. The network therefore holds one map per pair after each fused
stage; TAM over the duplicated frames is computed exactly from those maps
(see :meth:`TAM.forward_pairs`), and the output is expanded back to one map
per frame only at the end.
"""
from typing import Dict, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmaction.registry import MODELS, WEIGHT_INITIALIZERS
from mmengine.logging import MMLogger
from mmengine.model import BaseModule
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

from ..common.bottleneck import Bottleneck, make_stage
from ..common.checkpoint import checkpoint
from ..common.small_maps import SmallMapConv2d
from ..common.tam import TAM, check_num_segments, clips_in_batch

# depth -> Bottlenecks per stage (layer1, layer2, layer3, layer4).
ARCH_SETTINGS: Dict[int, Tuple[int, int, int, int]] = {
    50: (3, 4, 6, 3),
    101: (4, 8, 18, 3),
    152: (5, 12, 30, 3),
}
STEM_CHANNELS = 64
# (output channels, fusion stride) of the big-little stages layer1..layer3.
BIG_LITTLE_STAGES = ((256, 2), (512, 2), (1024, 1))
LAYER4_CHANNELS = 2048
# Registered name of the initializer that loads ImageNet bLResNet files
# (mmblvnet.converters.biglittlenet); ``init_cfg=dict(type='Pretrained')``
# uses it.
IMAGENET_INIT = 'ImageNetbLResNetInit'


def _conv_bn_layers(in_channels: int,
                    out_channels: int,
                    kernel_size: int,
                    stride: int = 1,
                    relu: bool = False) -> Sequence[nn.Module]:
    layers = [
        SmallMapConv2d(
            in_channels,
            out_channels,
            kernel_size,
            stride=stride,
            padding=kernel_size // 2,
            bias=False),
        nn.BatchNorm2d(out_channels)
    ]
    return layers + [nn.ReLU(inplace=True)] if relu else layers


def _blend_pairs(tam: Optional[TAM], even: Tensor,
                 odd: Tensor) -> Tuple[Tensor, Tensor]:
    """Inputs of the little (even frames) and big (odd frames) branches."""
    if tam is None:
        return even, odd
    return tam.forward_pairs(even, odd)


def _add_upsampled_(target: Tensor, source: Tensor) -> None:
    """``target += nearest_upsample(source, target size)``, in place.

    Args:
        target (torch.Tensor): Little-branch maps, (B, C, H, W).
        source (torch.Tensor): Big-branch maps, (B, C, H', W'), usually
            with ``H = 2 * H'`` and ``W = 2 * W'``.

    In eager PyTorch each source pixel is added onto its 2 x 2 block of a
    contiguous target through a broadcast view; ``F.interpolate`` there
    made eager inference of bLVNet-TAM-50 8x2 (224 x 224, 2 threads) 1.16x
    slower at batch 1 and 1.32x at batch 8 (its copies of the upsampled
    map; docs/bench/forward_paths.md). ONNX export writes the
    interpolation (a ``Resize``, which runtimes run in their own layout,
    where a 6-D broadcast ``Add`` is not).
    """
    batch, channels, height, width = source.shape
    if (torch.onnx.is_in_onnx_export() or not target.is_contiguous()
            or target.shape[-2:] != (2 * height, 2 * width)):
        target += F.interpolate(source, size=target.shape[-2:])
    else:
        target.view(batch, channels, height, 2, width, 2).add_(
            source.view(batch, channels, height, 1, width, 1))


class BigLittleStem(nn.Module):
    """Layer 0: first big-little fusion, on the stem's frames.

    Args:
        tam (TAM, optional): TAM over all ``T`` frames of the stem.
        alpha (int): Width ratio big / little.
    """

    def __init__(self, tam: Optional[TAM], alpha: int) -> None:
        super().__init__()
        width = STEM_CHANNELS
        self.tam = tam
        narrow = width // alpha
        self.big = nn.Sequential(
            *_conv_bn_layers(width, width, 3, stride=2))
        self.little = nn.Sequential(
            *_conv_bn_layers(width, narrow, 3, relu=True),
            *_conv_bn_layers(narrow, narrow, 3, stride=2, relu=True),
            *_conv_bn_layers(narrow, width, 1))
        self.relu = nn.ReLU(inplace=True)
        self.fusion = nn.Sequential(
            *_conv_bn_layers(width, width, 1, relu=True))

    def forward(self, even: Tensor, odd: Tensor) -> Tensor:
        """Args:
            even (torch.Tensor): Stem maps of the even frames,
                (N * T / 2, 64, H, W).
            odd (torch.Tensor): Stem maps of the odd frames, same shape.

        Returns:
            torch.Tensor: One fused map per pair, (N * T / 2, 64, H/2, W/2).
        """
        little_in, big_in = _blend_pairs(self.tam, even, odd)
        fused = self.little(little_in)
        fused += self.big(big_in)
        return self.fusion(self.relu(fused))


class BigLittleModule(nn.Module):
    """A big-little stage (layer1..layer3) on one map per frame pair.

    Big: ``num_blocks - 1`` Bottlenecks, the first with stride 2, the last
    without its final ReLU. Little: ``max(1, num_blocks // beta - 1)``
    Bottlenecks of width ``out_channels / alpha``, then ``little_e``
    (1x1 conv + BN) back to ``out_channels``. The big output is
    nearest-upsampled to the little size, summed, ReLU, then ``fusion``
    (one Bottleneck with ``fusion_stride``).

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        num_blocks (int): Bottlenecks of the stage in the reference count.
        alpha (int): Width ratio big / little.
        beta (int): Depth ratio big / little.
        fusion_stride (int): Stride of the fusion block.
        tam (TAM, optional): TAM over the ``T`` (duplicated) frames.
        with_cp (bool): Gradient checkpointing per block.
    """

    def __init__(self, in_channels: int, out_channels: int, num_blocks: int,
                 alpha: int, beta: int, fusion_stride: int,
                 tam: Optional[TAM], with_cp: bool) -> None:
        super().__init__()
        little_channels = out_channels // alpha
        self.tam = tam
        self.big = make_stage(
            in_channels,
            out_channels,
            num_blocks - 1,
            stride=2,
            last_relu=False,
            with_cp=with_cp)
        self.little = make_stage(
            in_channels,
            little_channels,
            max(1, num_blocks // beta - 1),
            with_cp=with_cp)
        self.little_e = nn.Sequential(
            *_conv_bn_layers(little_channels, out_channels, 1))
        self.relu = nn.ReLU(inplace=True)
        self.fusion = make_stage(
            out_channels,
            out_channels,
            1,
            stride=fusion_stride,
            with_cp=with_cp)

    def forward(self, x: Tensor) -> Tensor:
        """Args:
            x (torch.Tensor): One map per pair, (N * T / 2, C_in, H, W).

        Returns:
            torch.Tensor: One map per pair, (N * T / 2, C_out, H', W').
        """
        little_in, big_in = _blend_pairs(self.tam, x, x)
        little = self.little_e(self.little(little_in))
        _add_upsampled_(little, self.big(big_in))
        return self.fusion(self.relu(little))


def _check_ratios(alpha: int, beta: int) -> None:
    """Raise a ValueError unless ``alpha`` and ``beta`` can build a net.

    ``alpha`` divides the width of every little branch (the narrowest is
    the stem's, ``64 / alpha``); ``beta`` divides the depth of the little
    stages.
    """
    for name, value, top in (('alpha', alpha, STEM_CHANNELS),
                             ('beta', beta, None)):
        if (isinstance(value, bool) or not isinstance(value, int)
                or value < 1 or (top is not None and value > top)):
            limit = f' and at most {top}' if top is not None else ''
            raise ValueError(
                f'bLResNet: {name} must be an integer >= 1{limit}, but got '
                f'{name}={value!r}; the paper uses alpha=2, beta=4 (leave '
                'them out of the config for those)')


def _folded(conv: nn.Conv2d, bn: nn.Module) -> Tuple[Tensor, Tensor]:
    """Weight (shape of ``conv.weight``) and bias (C_out, ) of the one
    convolution equal to ``bn(conv(x))`` with ``bn``'s frozen statistics
    (``conv``'s own where MMCV's ``fuse_conv_bn`` has folded ``bn`` into
    it already, leaving an ``nn.Identity``)."""
    if isinstance(bn, nn.Identity):
        return conv.weight, conv.bias
    scale = torch.rsqrt(bn.running_var + bn.eps) * bn.weight
    return (conv.weight * scale.view(-1, 1, 1, 1),
            bn.bias - bn.running_mean * scale)


def _even_then_odd(frames: Tensor) -> Tensor:
    """Reorder (N * T, C, H, W) frames: all even frames, then all odd ones.

    The stem then yields the even and odd halves as contiguous tensors.
    """
    pairs = frames.view(-1, 2, *frames.shape[1:])
    reordered = pairs.transpose(0, 1).reshape(frames.shape)
    if frames.is_contiguous(memory_format=torch.channels_last):
        reordered = reordered.contiguous(memory_format=torch.channels_last)
    return reordered


@MODELS.register_module()
class bLResNet(BaseModule):
    """Big-Little ResNet with TAM for video (bLVNet-TAM backbone).

    Args:
        depth (int): 50, 101 or 152.
        num_segments (int): Frames ``T`` per clip, a positive even number
            (the paper's "8x2" is ``num_segments=16``).
        alpha (int): Width ratio of the big to the little branch.
            Defaults to 2.
        beta (int): Depth ratio of the big to the little branch.
            Defaults to 4.
        tam_cfg (dict, optional): ``blending_frames``,
            ``blending_method`` and ``causal`` of every TAM (see
            :class:`~mmblvnet.models.common.tam.TAM`); ``None`` builds
            bLVNet without TAM. Defaults to ``dict(blending_frames=3,
            blending_method='sum')``.
        in_channels (int): Input channels (3 for RGB, e.g. 2 for flow).
        pretrained (str, optional): ImageNet bLResNet checkpoint; same as
            ``init_cfg=dict(type='Pretrained', checkpoint=pretrained)``.
        norm_eval (bool): Keep BatchNorm in eval mode when training.
        frozen_stages (int): Stages to freeze (-1: none; 0: stem and
            layer0; i: also layer1..layer i).
        partial_bn (bool): Freeze every BatchNorm but the first.
        with_cp (bool): Gradient checkpointing per Bottleneck.
        stem_with_cp (bool): Recompute the stem and layer0 in backward
            instead of storing their maps. They run at a quarter of the
            input resolution on every frame and hold about a third of
            the activations a training step keeps, for a fifth of the
            forward FLOPs (its CPU time is measured in
            docs/benchmarks.md). Outputs, gradients and BatchNorm
            statistics are unchanged. Defaults to True.
        init_cfg (dict or list[dict], optional): MMEngine init config.

    Input ``(N * T, C, H, W)`` with each clip's frames contiguous; output
    ``(N * T, 2048, H / 32, W / 32)`` in which both frames of a pair carry
    the same map, so any 2D head with segment consensus applies.

    One forward path for training and inference on any device, with a
    number of ops that does not grow with the batch. Its convolutions are
    :class:`~mmblvnet.models.common.small_maps.SmallMapConv2d`, exact and
    faster on the 1x1 and 2x2 maps of frames under 64 px (the quickstart).
    ``torch.onnx.export`` forces the export form: TAM's masked shifts,
    shortcut pools as depthwise convolutions and the stem convolution per
    parity with BatchNorm folded, which ONNX Runtime and OpenVINO run
    1.2x (fp32) to 3.0x (int8) faster than the eager form exported
    (bLVNet-TAM-50 8x2, batch 1, 224 x 224; docs/bench/forward_paths.md).
    """

    def __init__(self,
                 depth: int,
                 num_segments: int,
                 alpha: int = 2,
                 beta: int = 4,
                 tam_cfg: Optional[dict] = dict(
                     blending_frames=3, blending_method='sum'),
                 in_channels: int = 3,
                 pretrained: Optional[str] = None,
                 norm_eval: bool = False,
                 frozen_stages: int = -1,
                 partial_bn: bool = False,
                 with_cp: bool = False,
                 stem_with_cp: bool = True,
                 init_cfg: Optional[dict] = None) -> None:
        if pretrained is not None:
            if init_cfg is not None:
                raise ValueError('set either pretrained or init_cfg, '
                                 'not both')
            init_cfg = dict(type='Pretrained', checkpoint=pretrained)
        super().__init__(init_cfg=init_cfg)
        if depth not in ARCH_SETTINGS:
            raise KeyError(f'invalid depth {depth} for bLResNet; choose one '
                           f'of {sorted(ARCH_SETTINGS)}')
        check_num_segments(num_segments)
        if num_segments % 2:
            raise ValueError('bLResNet pairs frames, so num_segments must be '
                             f'even, but got num_segments={num_segments}')
        _check_ratios(alpha, beta)
        self.depth = depth
        self.num_segments = num_segments
        self.alpha = alpha
        self.beta = beta
        self.tam_cfg = None if tam_cfg is None else dict(tam_cfg)
        self.in_channels = in_channels
        self.norm_eval = norm_eval
        self.frozen_stages = frozen_stages
        self.partial_bn = partial_bn
        self.with_cp = with_cp
        self.stem_with_cp = stem_with_cp
        stage_blocks = ARCH_SETTINGS[depth]

        self.conv1 = SmallMapConv2d(
            in_channels, STEM_CHANNELS, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(STEM_CHANNELS)
        self.relu = nn.ReLU(inplace=True)
        self.layer0 = BigLittleStem(
            self._make_tam(STEM_CHANNELS, num_segments), alpha)
        channels = STEM_CHANNELS
        for index, ((out_channels, fusion_stride),
                    num_blocks) in enumerate(
                        zip(BIG_LITTLE_STAGES, stage_blocks), 1):
            stage = BigLittleModule(channels, out_channels, num_blocks, alpha,
                                    beta, fusion_stride,
                                    self._make_tam(channels, num_segments),
                                    with_cp)
            self.add_module(f'layer{index}', stage)
            channels = out_channels
        self.layer4 = make_stage(
            channels,
            LAYER4_CHANNELS,
            stage_blocks[3],
            stride=2,
            tam_factory=lambda width: self._make_tam(width,
                                                     num_segments // 2),
            with_cp=with_cp)
        self.feat_dim = LAYER4_CHANNELS
        # The output, one map per frame, as a module that hooks can reach
        # (vis_cam --target-layer-name backbone/per_frame); holds nothing.
        self.per_frame = nn.Identity()
        self._init_from_scratch()

    def _make_tam(self, channels: int, num_segments: int) -> Optional[TAM]:
        if self.tam_cfg is None:
            return None
        return TAM(channels, num_segments, **self.tam_cfg)

    def _init_from_scratch(self) -> None:
        """Kaiming fan_out convs, unit BN, zero last BN of each block."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(
                    m.weight, mode='fan_out', nonlinearity='relu')
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)
        for m in self.modules():
            if isinstance(m, Bottleneck):
                nn.init.constant_(m.bn3.weight, 0)

    def init_weights(self) -> None:
        """Load ImageNet bLResNet weights if ``init_cfg`` is Pretrained.

        Raw BigLittleNet files and converted ones both load; every key left
        out (the ImageNet classifier, the TAM weights an image model lacks)
        is logged by name, and a flow model gets the stem filters averaged
        over RGB and repeated.
        """
        if self.init_cfg is not None and self.init_cfg.get(
                'type') == 'Pretrained':
            # Looked up by name: the key mapping lives in the converters,
            # which import the models (never the other way round).
            initializer = WEIGHT_INITIALIZERS.get(IMAGENET_INIT)
            if initializer is None:
                raise KeyError(
                    f'{IMAGENET_INIT!r} is not registered in '
                    'mmaction.registry.WEIGHT_INITIALIZERS; import '
                    'mmblvnet (or mmblvnet.converters) before calling '
                    'init_weights')
            initializer(checkpoint=self.init_cfg['checkpoint'])(self)
            self._is_init = True
        else:
            super().init_weights()

    def forward(self, x: Tensor) -> Tensor:
        """Args:
            x (torch.Tensor): Frames of shape (N * T, C, H, W).

        Returns:
            torch.Tensor: Features of shape (N * T, 2048, H / 32, W / 32);
            frames ``2j`` and ``2j + 1`` of a clip share one map.
        """
        num_clips = clips_in_batch(x, self.num_segments, 'bLResNet')
        num_pairs = num_clips * self.num_segments // 2
        if self.layer4[-1].bn3.training:
            self._check_batchnorm_batch(num_pairs, x.shape[-2:])
        x = self.pair_maps(x)
        pairs = x.unsqueeze(1).expand(-1, 2, *x.shape[1:])
        return self.per_frame(pairs.reshape(-1, *x.shape[1:]))

    def pair_maps(self, x: Tensor) -> Tensor:
        """The network up to one map per pair (``forward`` without the
        expansion to frames and without its batch checks).

        Args:
            x (torch.Tensor): Frames of shape (P * 2, C, H, W), the two
                frames of each pair adjacent; each TAM takes its own
                ``num_segments`` steps as a clip (a streaming TAM one
                step per stream, :mod:`mmblvnet.apis.online`).

        Returns:
            torch.Tensor: One map per pair, (P, 2048, H / 32, W / 32).
        """
        x = _even_then_odd(x)
        if self.stem_with_cp and torch.is_grad_enabled():
            x = checkpoint(self._stem, self.stages()[0], x)
        else:
            x = self._stem(x)
        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        return self.layer4(x)

    def _stem(self, x: Tensor) -> Tensor:
        """Args:
            x (torch.Tensor): Frames of shape (N * T, C, H, W), all even
                frames first, then all odd ones.

        Returns:
            torch.Tensor: One map per pair, (N * T / 2, 64, H / 4, W / 4).
        """
        num_pairs = x.shape[0] // 2
        if torch.onnx.is_in_onnx_export() and not self.bn1.training:
            # The even and the odd frames convolved apart (no exported
            # Slice copying the stem's maps), with one folded weight for
            # both: an exporter folds a BatchNorm into a convolution only
            # if the convolution owns its weight.
            weight, bias = _folded(self.conv1, self.bn1)
            even, odd = (
                F.conv2d(half, weight, bias, self.conv1.stride,
                         self.conv1.padding).relu()
                for half in (x[:num_pairs], x[num_pairs:]))
            return self.layer0(even, odd)
        x = self.relu(self.bn1(self.conv1(x)))
        return self.layer0(x[:num_pairs], x[num_pairs:])

    @staticmethod
    def _check_batchnorm_batch(num_pairs: int, size: Sequence[int]) -> None:
        """Training BatchNorm needs 2+ values per channel in layer4."""
        height, width = (-(-side // 32) for side in size)
        if num_pairs * height * width < 2:
            raise ValueError(
                f'cannot train bLResNet on {num_pairs} frame pair(s) of '
                f'{size[0]}x{size[1]} px: layer4 would hold one value per '
                'channel, which BatchNorm cannot normalise; use frames '
                'larger than 32 px on one side or at least 2 pairs per '
                'batch')

    def stages(self) -> Tuple[Tuple[nn.Module, ...], ...]:
        """Modules of each freezable stage, stage 0 first."""
        return ((self.conv1, self.bn1, self.layer0), (self.layer1, ),
                (self.layer2, ), (self.layer3, ), (self.layer4, ))

    def _freeze_stages(self) -> None:
        for stage in self.stages()[:self.frozen_stages + 1]:
            for module in stage:
                module.eval()
                for param in module.parameters():
                    param.requires_grad = False

    def _partial_bn(self) -> None:
        MMLogger.get_current_instance().info(
            'Freezing BatchNorm2d except the first one.')
        batch_norms = [m for m in self.modules() if isinstance(m, _BatchNorm)]
        for m in batch_norms[1:]:
            m.eval()
            m.weight.requires_grad = False
            m.bias.requires_grad = False

    def train(self, mode: bool = True) -> 'bLResNet':
        """Set train mode, then re-apply freezing and BN options."""
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        if mode and self.partial_bn:
            self._partial_bn()
        return self
