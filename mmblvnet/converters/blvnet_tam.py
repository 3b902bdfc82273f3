"""Conversion of IBM's released bLVNet-TAM checkpoints (IBM/bLVNet-TAM).

A released file is a plain state dict, sometimes behind a ``module.``
prefix: the backbone under ``baseline_model.`` (its ``fc`` is a Dropout
without weights) and the classifier ``new_fc``. The result is an MMEngine
checkpoint for ``Recognizer2D(backbone=bLResNet, cls_head=SegmentHead)``.
"""
from collections import OrderedDict
from typing import Dict, List, Tuple

from ..models.backbones.blresnet import ARCH_SETTINGS, STEM_CHANNELS, bLResNet
from . import key_rules
from .key_rules import CheckpointKeyError, StateDict

# Reference names of the three depthwise kernels of a TAM with k == 3.
TAM_ROWS = (('prev', 0), ('curr', 1), ('next', 2))

# Reference layer-0 module -> bLResNet.layer0 module.
LAYER0_NAMES = (
    ('b_conv0', 'big.0'),
    ('bn_b0', 'big.1'),
    ('l_conv0', 'little.0'),
    ('bn_l0', 'little.1'),
    ('l_conv1', 'little.3'),
    ('bn_l1', 'little.4'),
    ('l_conv2', 'little.6'),
    ('bn_l2', 'little.7'),
    ('bl_init', 'fusion.0'),
    ('bn_bl_init', 'fusion.1'),
)


def tam_rules(source_kernel: str,
              source_list: str,
              name_suffix: str = '') -> List[key_rules.Rule]:
    """Rules mapping a reference TAM's kernels onto ``TAM.weight`` rows.

    Args:
        source_kernel (str): Suffix after a kernel's name, e.g.
            ``'weight'`` or ``'fc1.weight'``.
        source_list (str): Name of the kernel list used when k != 3, e.g.
            ``'blending_layers'``.
        name_suffix (str): Suffix of the k == 3 kernel names, e.g.
            ``'_se'`` for TAM-ResNet's ``prev_se``.

    Returns:
        list[tuple]: Rules for the stem TAM (moved into ``layer0``) first,
        then for TAMs inside stages and blocks.
    """
    kernel = source_kernel.replace('.', r'\.')
    rules = []
    for scope, target in ((r'', 'layer0.'), (r'(.+\.)', r'\1')):
        for name, row in TAM_ROWS:
            rules.append((rf'{scope}tam\.{name}{name_suffix}\.{kernel}',
                          rf'{target}tam.weight#{row}'))
        slot = r'\2' if scope else r'\1'
        rules.append((rf'{scope}tam\.{source_list}\.(\d+)\.{kernel}',
                      rf'{target}tam.weight#{slot}'))
    return rules


BACKBONE_RULES: List[key_rules.Rule] = [
    *tam_rules('weight', 'blending_layers'),
    *[(rf'{old}\.(.+)', rf'layer0.{new}.\1') for old, new in LAYER0_NAMES],
    (r'((?:conv1|bn1|layer[1-4])\..+)', r'\1'),
    (r'fc\.(weight|bias)', None),
]

HEAD_RULES: List[key_rules.Rule] = [
    (r'new_fc\.(weight|bias)', r'fc_cls.\1'),
    (r'baseline_model\.fc\.(weight|bias)', r'fc_cls.\1'),
]


def _count_blocks(state_dict: StateDict, stage: str) -> int:
    prefix = f'{stage}.'
    indices = {
        int(key[len(prefix):].split('.')[0])
        for key in state_dict if key.startswith(prefix)
    }
    return len(indices)


def blresnet_architecture(backbone: StateDict,
                          head: StateDict) -> Dict:
    """Backbone and head arguments of the model a checkpoint belongs to.

    Args:
        backbone (dict): Backbone tensors with bLResNet key names.
        head (dict): Head tensors with ``SegmentHead`` key names.

    Returns:
        dict: ``depth``, ``alpha``, ``tam_cfg``, ``in_channels`` and
        ``num_classes``.
    """
    stage_blocks = tuple(
        _count_blocks(backbone, f'layer{index}.big') + 1
        for index in (1, 2, 3)) + (_count_blocks(backbone, 'layer4'), )
    depths = [d for d, blocks in ARCH_SETTINGS.items()
              if blocks == stage_blocks]
    if not depths:
        raise CheckpointKeyError(
            f'blocks per stage {stage_blocks} match no bLResNet depth '
            f'({ARCH_SETTINGS}); keys seen for layer1..layer4:',
            [key for key in backbone if key.startswith('layer')][:20])
    if 'layer0.tam.weight' in backbone:
        tam_cfg = dict(
            blending_frames=backbone['layer0.tam.weight'].shape[0],
            blending_method='sum')
    else:
        tam_cfg = None
    if 'fc_cls.weight' not in head:
        raise CheckpointKeyError('no classifier found (new_fc.weight or '
                                 'baseline_model.fc.weight); head keys:',
                                 list(head))
    return dict(
        depth=depths[0],
        alpha=STEM_CHANNELS // backbone['layer0.little.0.weight'].shape[0],
        tam_cfg=tam_cfg,
        in_channels=backbone['conv1.weight'].shape[1],
        num_classes=head['fc_cls.weight'].shape[0])


def convert_blvnet_tam(source: StateDict) -> Tuple[StateDict, Dict]:
    """Convert a released bLVNet-TAM state dict.

    Args:
        source (dict): The released state dict.

    Returns:
        tuple: The recognizer state dict (``backbone.*``,
        ``cls_head.fc_cls.*``) and the inferred architecture.

    Raises:
        CheckpointKeyError: Listing unknown, missing or misshapen keys.
    """
    source = key_rules.strip_prefix(source, 'module.')
    backbone_src = OrderedDict(
        (key[len('baseline_model.'):], value)
        for key, value in source.items()
        if key.startswith('baseline_model.')
        and not key.startswith('baseline_model.fc.'))
    head_src = OrderedDict((key, value) for key, value in source.items()
                           if key not in {f'baseline_model.{k}'
                                          for k in backbone_src})
    backbone, unknown = key_rules.apply_rules(backbone_src, BACKBONE_RULES)
    head, unknown_head = key_rules.apply_rules(head_src, HEAD_RULES)
    arch = blresnet_architecture(backbone, head)
    converted = OrderedDict(
        (f'backbone.{k}', v) for k, v in backbone.items())
    converted.update((f'cls_head.{k}', v) for k, v in head.items())
    expected = key_rules.model_state(
        bLResNet, arch, ('depth', 'alpha', 'tam_cfg', 'in_channels'),
        with_head=True, num_segments=2)
    key_rules.check_against_model(
        converted, expected, f'the bLVNet-TAM-{arch["depth"]} checkpoint',
        unknown + unknown_head)
    return converted, arch
