"""Conversion of IBM's TAM-ResNet checkpoints (IBM/action-recognition-pytorch).

A training checkpoint there is ``{'state_dict': ..., 'arch': ..., ...}``;
its state dict, behind the ``module.`` of (Distributed)DataParallel, holds
a torchvision-style ResNet (``conv1``, ``bn1``, ``layer{i}.{j}.conv{n}`` /
``bn{n}`` / ``downsample.{0,1}``) with one TAM per block
(``layer{i}.{j}.tam.{prev,curr,next}_se.fc1.weight`` for k == 3,
``layer{i}.{j}.tam.blending_layers.{n}.fc1.weight`` otherwise, each of
shape (C, 1, 1, 1)) and the classifier ``fc``. Its head is dropout, ``fc``
on every frame, mean over the frames: the result is an MMEngine checkpoint
for ``Recognizer2D(backbone=ResNetTAM, cls_head=SegmentHead)``, which
computes exactly that (``TSNHead`` has the same keys and, the head being
linear, the same test scores).

The weights do not record ``blending_method`` (the checkpoint's ``arch``
string does, e.g. ``...-TAM-b3-max-resnet-50-f32``) nor ``num_segments``:
both come from the model config.
"""
import re
from typing import Dict, List, Tuple

from ..models.backbones.resnet_tam import ResNetTAM
from . import key_rules
from .blvnet_tam import tam_rules
from .key_rules import CheckpointKeyError, StateDict

_BLOCK = r'(layer[1-4]\.\d+)'

# torchvision-style ResNet names -> MMAction2 ``ResNet`` (ConvModule) names.
BACKBONE_RULES: List[key_rules.Rule] = [
    *tam_rules('fc1.weight', 'blending_layers', name_suffix='_se'),
    (r'conv1\.weight', 'conv1.conv.weight'),
    (r'bn1\.(.+)', r'conv1.bn.\1'),
    (rf'{_BLOCK}\.conv([1-3])\.weight', r'\1.conv\2.conv.weight'),
    (rf'{_BLOCK}\.bn([1-3])\.(.+)', r'\1.conv\2.bn.\3'),
    (rf'{_BLOCK}\.downsample\.0\.weight', r'\1.downsample.conv.weight'),
    (rf'{_BLOCK}\.downsample\.1\.(.+)', r'\1.downsample.bn.\2'),
]

RULES: List[key_rules.Rule] = [
    *[(pattern, f'backbone.{target}') for pattern, target in BACKBONE_RULES],
    (r'fc\.(weight|bias)', r'cls_head.fc_cls.\1'),
]

_TAM_KERNEL = re.compile(r'layer[1-4]\.\d+\.tam\..+\.fc1\.weight')
_BLOCK_CONV1 = re.compile(r'backbone\.layer(\d)\.(\d+)\.conv1\.conv\.weight')


def is_tam_resnet(state_dict: StateDict) -> bool:
    """Whether ``state_dict`` is a TAM-ResNet: ResNet keys and TAM kernels."""
    keys = key_rules.strip_prefix(state_dict, 'module.')
    return 'layer1.0.conv1.weight' in keys and any(
        _TAM_KERNEL.fullmatch(key) for key in keys)


def _check_depthwise(source: StateDict) -> None:
    dense = [
        f'{key}: {tuple(value.shape)}' for key, value in source.items()
        if _TAM_KERNEL.fullmatch(key) and value.dim() == 4
        and value.shape[1] != 1
    ]
    if dense:
        raise CheckpointKeyError(
            'these TAM kernels are dense (a model trained with '
            '--no_dw_conv); ResNetTAM supports the depthwise TAM only '
            '(kernels of shape (C, 1, 1, 1)):', dense)


def resnet_tam_architecture(converted: StateDict) -> Dict:
    """``ResNetTAM`` and head arguments a converted state dict belongs to.

    Args:
        converted (dict): Tensors with ``backbone.*`` / ``cls_head.*`` keys.

    Returns:
        dict: ``depth``, ``in_channels``, ``blending_frames``,
        ``blending_method`` (``'sum'``: not recorded in the weights) and
        ``num_classes``.

    Raises:
        CheckpointKeyError: If the blocks per stage match no ResNet depth,
            or the stem, TAM or classifier is missing.
    """
    blocks: Dict[int, int] = {}
    block_keys = []
    for key in converted:
        match = _BLOCK_CONV1.fullmatch(key)
        if match:
            stage, index = int(match.group(1)), int(match.group(2))
            blocks[stage] = max(blocks.get(stage, 0), index + 1)
            block_keys.append(key)
    stage_blocks = tuple(blocks.get(stage, 0) for stage in (1, 2, 3, 4))
    bottleneck = 'backbone.layer1.0.conv3.conv.weight' in converted
    depths = [
        depth for depth, (block, settings) in ResNetTAM.arch_settings.items()
        if settings == stage_blocks and (block.expansion == 4) == bottleneck
    ]
    if not depths:
        known = {
            depth: settings
            for depth, (_, settings) in ResNetTAM.arch_settings.items()
        }
        raise CheckpointKeyError(
            f'blocks per stage {stage_blocks} '
            f'({"Bottleneck" if bottleneck else "BasicBlock"}) match no '
            f'ResNet depth {known}; the first conv of each block found:',
            block_keys)
    required = ('backbone.conv1.conv.weight', 'backbone.layer1.0.tam.weight',
                'cls_head.fc_cls.weight')
    absent = [key for key in required if key not in converted]
    if absent:
        raise CheckpointKeyError(
            'not a complete TAM-ResNet: the converted checkpoint lacks',
            absent)
    return dict(
        depth=depths[0],
        in_channels=converted['backbone.conv1.conv.weight'].shape[1],
        blending_frames=converted['backbone.layer1.0.tam.weight'].shape[0],
        blending_method='sum',
        num_classes=converted['cls_head.fc_cls.weight'].shape[0])


def convert_tam_resnet(source: StateDict) -> Tuple[StateDict, Dict]:
    """Convert a TAM-ResNet state dict of IBM/action-recognition-pytorch.

    Args:
        source (dict): The checkpoint's ``state_dict``.

    Returns:
        tuple: The recognizer state dict (``backbone.*``,
        ``cls_head.fc_cls.*``) and the inferred architecture (see
        :func:`resnet_tam_architecture`).

    Raises:
        CheckpointKeyError: Listing unknown, missing or misshapen keys, or
            the TAM kernels of a non-depthwise TAM.
    """
    source = key_rules.strip_prefix(source, 'module.')
    _check_depthwise(source)
    converted, unknown = key_rules.apply_rules(source, RULES)
    arch = resnet_tam_architecture(converted)
    expected = key_rules.model_state(
        ResNetTAM, arch, ('depth', 'blending_frames', 'in_channels'),
        with_head=True, num_segments=1)
    key_rules.check_against_model(
        converted, expected, f'the TAM-ResNet-{arch["depth"]} checkpoint',
        unknown)
    return converted, arch
