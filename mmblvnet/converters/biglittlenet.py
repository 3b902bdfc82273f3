"""ImageNet bLResNet checkpoints of IBM/BigLittleNet: conversion and loading.

A file is ``{'state_dict': {'module.conv1.weight', ...}, ...}``: the
bLResNet backbone under the reference names that bLVNet-TAM keeps (stem
modules ``b_conv0`` ... ``bn_bl_init``, stages ``layer1`` ... ``layer4``),
no TAM, and the ImageNet classifier ``fc``. The classifier is dropped on
purpose; every other key maps onto :class:`bLResNet` or is reported.

:func:`load_imagenet_blresnet` initialises a ``bLResNet`` (TAMs and any
``in_channels`` included) from such a file, raw or converted by
``tools/convert_ibm_checkpoint.py``, and logs every key it leaves out.
:class:`ImageNetbLResNetInit` registers it as a weight initializer, which
``bLResNet(init_cfg=dict(type='Pretrained', checkpoint=...))`` looks up by
name (the models import nothing from the converters).
"""
import logging
import re
from typing import Dict, List, NamedTuple, Optional, Tuple, Union

from mmaction.registry import WEIGHT_INITIALIZERS
from mmengine.logging import MMLogger
from mmengine.runner import CheckpointLoader
from torch import nn

from ..models.backbones.blresnet import IMAGENET_INIT, bLResNet
from ..models.common.tam import TAM
from . import key_rules
from .blvnet_tam import BACKBONE_RULES, blresnet_architecture
from .key_rules import CheckpointKeyError, StateDict

# The bLVNet-TAM backbone rules without their drop rules (whose keys are
# reported instead), plus converted stem keys, which map onto themselves.
IMAGENET_RULES: List[key_rules.Rule] = [
    *(rule for rule in BACKBONE_RULES if rule[1] is not None),
    (r'(layer0\..+)', r'\1'),
]
_DROPPED = [re.compile(pattern) for pattern, repl in BACKBONE_RULES
            if repl is None]
STEM_WEIGHT = 'conv1.weight'


class ImageNetKeys(NamedTuple):
    """An ImageNet bLResNet state dict mapped onto ``bLResNet`` names."""
    state_dict: StateDict
    dropped: List[str]
    unknown: List[str]


class LoadReport(NamedTuple):
    """What :func:`load_imagenet_blresnet` left out, by name."""
    unused: List[str]
    kept_init: List[str]


def map_imagenet_keys(source: StateDict) -> ImageNetKeys:
    """Rename a BigLittleNet (or already converted) state dict.

    Args:
        source (dict): The checkpoint's ``state_dict``, with or without the
            ``module.`` prefix.

    Returns:
        ImageNetKeys: The tensors under ``bLResNet`` names, the source keys
        dropped on purpose (the ImageNet ``fc``) and the source keys no
        rule maps.
    """
    mapped, unmapped = key_rules.apply_rules(
        key_rules.strip_prefix(source, 'module.'), IMAGENET_RULES)
    dropped = [key for key in unmapped
               if any(pattern.fullmatch(key) for pattern in _DROPPED)]
    unknown = [key for key in unmapped if key not in dropped]
    return ImageNetKeys(mapped, dropped, unknown)


def convert_biglittlenet(source: StateDict) -> Tuple[StateDict, Dict]:
    """Convert a BigLittleNet ImageNet bLResNet into ``bLResNet`` weights.

    Args:
        source (dict): The checkpoint's ``state_dict``.

    Returns:
        tuple: The backbone state dict (``bLResNet`` names, no prefix, no
        TAM: use it as ``init_cfg=dict(type='Pretrained', checkpoint=...)``)
        and the architecture: ``depth``, ``alpha``, ``in_channels`` and the
        ``dropped`` source keys.

    Raises:
        CheckpointKeyError: Listing unknown, missing or misshapen keys.
    """
    keys = map_imagenet_keys(source)
    fc_weight = key_rules.strip_prefix(source, 'module.').get('fc.weight')
    if fc_weight is None:
        raise CheckpointKeyError(
            'a BigLittleNet ImageNet checkpoint holds its classifier '
            "'fc.weight', this file does not; first keys:",
            list(source)[:20])
    arch = blresnet_architecture(keys.state_dict,
                                 {'fc_cls.weight': fc_weight})
    arch = dict(
        depth=arch['depth'],
        alpha=arch['alpha'],
        in_channels=arch['in_channels'],
        dropped=keys.dropped)
    expected = key_rules.model_state(
        bLResNet, arch, ('depth', 'alpha', 'in_channels'), num_segments=2,
        tam_cfg=None)
    key_rules.check_against_model(
        keys.state_dict, expected,
        f'the ImageNet bLResNet-{arch["depth"]} checkpoint', keys.unknown)
    return keys.state_dict, arch


def _adapt_stem(state: StateDict, in_channels: int,
                logger: logging.Logger) -> None:
    """Average the RGB stem filters and repeat them ``in_channels`` times."""
    stem = state.get(STEM_WEIGHT)
    if stem is None or stem.dim() != 4 or stem.shape[1] == in_channels:
        return
    state[STEM_WEIGHT] = stem.mean(1, keepdim=True).expand(
        -1, in_channels, -1, -1).contiguous()
    logger.info(f'{STEM_WEIGHT}: ImageNet filters of shape '
                f'{tuple(stem.shape)} averaged over their input channels '
                f'and repeated for in_channels={in_channels}')


def load_imagenet_blresnet(
        backbone: nn.Module,
        checkpoint: Union[str, dict],
        logger: Optional[logging.Logger] = None) -> LoadReport:
    """Initialise a ``bLResNet`` from ImageNet bLResNet weights.

    Every checkpoint key is loaded or reported, and so is every model key:
    the ImageNet classifier is logged as unused, the TAM weights (absent
    from an image model) as kept at their initialisation. For
    ``in_channels != 3`` (e.g. optical flow) the 7x7 stem filters are
    averaged over the RGB channels and repeated.

    Args:
        backbone (bLResNet): The model to initialise in place.
        checkpoint (str or dict): Path or URL of a BigLittleNet file or of
            one converted by ``tools/convert_ibm_checkpoint.py``, or such a
            file already loaded (with or without ``state_dict`` level).
        logger (logging.Logger, optional): Defaults to the current
            ``MMLogger``.

    Returns:
        LoadReport: ``unused`` checkpoint keys and model keys left at
        their initialisation (``kept_init``).

    Raises:
        CheckpointKeyError: Listing checkpoint keys with no counterpart in
            the model, misshapen tensors, or model weights other than TAM
            that the checkpoint lacks (e.g. a different ``depth`` or
            ``alpha``).
    """
    logger = logger or MMLogger.get_current_instance()
    name = checkpoint if isinstance(checkpoint, str) else 'checkpoint'
    if isinstance(checkpoint, str):
        checkpoint = CheckpointLoader.load_checkpoint(
            checkpoint, map_location='cpu')
    keys = map_imagenet_keys(checkpoint.get('state_dict', checkpoint))
    state = dict(keys.state_dict)
    _adapt_stem(state, backbone.conv1.weight.shape[1], logger)

    expected = backbone.state_dict()
    tam_weights = {
        f'{module_name}.weight'
        for module_name, module in backbone.named_modules()
        if isinstance(module, TAM)
    }
    kept_init = [key for key in expected
                 if key in tam_weights and key not in state]
    key_rules.check_against_model(
        state, {k: v for k, v in expected.items() if k not in kept_init},
        f'ImageNet bLResNet {name} (do depth and alpha of the model match '
        'the checkpoint?)', keys.unknown)
    backbone.load_state_dict(state, strict=False)
    logger.info(f'ImageNet bLResNet {name}: loaded {len(state)} tensors; '
                'not used (ImageNet classifier): '
                f'{", ".join(keys.dropped) or "none"}; kept at their '
                f'initialisation (TAM): {", ".join(kept_init) or "none"}')
    return LoadReport(keys.dropped, kept_init)


@WEIGHT_INITIALIZERS.register_module(name=IMAGENET_INIT)
class ImageNetbLResNetInit:
    """Weight initializer running :func:`load_imagenet_blresnet`.

    ``bLResNet.init_weights`` uses it for ``init_cfg=dict(type='Pretrained',
    checkpoint=...)``.

    Args:
        checkpoint (str or dict): As for :func:`load_imagenet_blresnet`.
    """

    def __init__(self, checkpoint: Union[str, dict]) -> None:
        self.checkpoint = checkpoint

    def __call__(self, backbone: nn.Module) -> None:
        load_imagenet_blresnet(backbone, self.checkpoint)
