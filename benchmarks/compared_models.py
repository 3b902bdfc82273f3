"""bLVNet-TAM-50 and MMAction2's TSM-R50 and TSN-R50, built offline with
random weights.

bLVNet-TAM-50 "8x2" comes from the repository's
``configs/blvnet_tam_r50_8x.py``, TSM-R50 and TSN-R50 from MMAction2's own
1x1x16 configs, read offline with :func:`mmengine.hub.get_config`; every
head gets the same number of classes, every backbone the same number of
frames, and no checkpoint is downloaded. The benchmark tools compare these
three models (keys ``'blvnet'``, ``'tsm'``, ``'tsn'``).
"""
from pathlib import Path
from typing import Dict, Sequence, Union

import torch
from mmaction.registry import MODELS
from mmengine.config import Config, ConfigDict
from mmengine.hub import get_config
from torch import Tensor, nn

# bLVNet-TAM-50 8x2, relative to the repository.
BLVNET_CONFIG = 'configs/blvnet_tam_r50_8x.py'
MMACTION_CONFIGS = {
    'tsm': 'mmaction::recognition/tsm/'
    'tsm_imagenet-pretrained-r50_8xb16-1x1x16-50e_kinetics400-rgb.py',
    'tsn': 'mmaction::recognition/tsn/'
    'tsn_imagenet-pretrained-r50_8xb32-1x1x16-50e_sthv2-rgb.py',
}
MODEL_KEYS = ('blvnet', 'tsm', 'tsn')


def model_configs(repo: Path, frames: int,
                  num_classes: int) -> Dict[str, ConfigDict]:
    """Model configs of bLVNet-TAM-50, TSM-R50 and TSN-R50.

    Args:
        repo (Path): The repository holding :data:`BLVNET_CONFIG`.
        frames (int): Frames per clip (``num_segments``).
        num_classes (int): Classes of every head.

    Returns:
        dict[str, ConfigDict]: Configs keyed ``'blvnet'``, ``'tsm'`` and
        ``'tsn'``; no pretrained weights.
    """
    configs = {'blvnet': Config.fromfile(str(repo / BLVNET_CONFIG)).model}
    for key, name in MMACTION_CONFIGS.items():
        configs[key] = get_config(name).model
    for cfg in configs.values():
        cfg.backbone.pop('init_cfg', None)
        if 'pretrained' in cfg.backbone:
            cfg.backbone.pretrained = None
        for part in (cfg.backbone, cfg.cls_head):
            if 'num_segments' in part:
                part.num_segments = frames
        cfg.cls_head.num_classes = num_classes
    return configs


def model_labels(frames: int) -> Dict[str, str]:
    """Table labels of the models for clips of ``frames`` frames."""
    return {
        'blvnet': f'bLVNet-TAM-50 {frames // 2}x2',
        'tsm': f'TSM-R50 {frames}f',
        'tsn': f'TSN-R50 {frames}f',
    }


def random_clips(batch: int,
                 frames: int,
                 size: int,
                 device: Union[str, torch.device],
                 channels_last: bool = False) -> Tensor:
    """Normalized-looking clips of shape (batch, frames, 3, size, size);
    each frame channels-last in memory if asked (the recognizer's
    ``(N * T, 3, H, W)`` view of them then is)."""
    clips = torch.randn(batch * frames, 3, size, size, device=device)
    if channels_last:
        clips = clips.contiguous(memory_format=torch.channels_last)
    return clips.view(batch, frames, 3, size, size)


def build_models(repo: Path,
                 names: Sequence[str] = MODEL_KEYS,
                 *,
                 frames: int,
                 num_classes: int,
                 device: Union[str, torch.device] = 'cpu',
                 channels_last: bool = False,
                 depth: int = 50) -> Dict[str, nn.Module]:
    """The recognizers, with random weights, on ``device``.

    Args:
        repo (Path): The repository holding :data:`BLVNET_CONFIG`.
        names (Sequence[str]): Model keys to build.
        frames (int): Frames per clip.
        num_classes (int): Classes of every head.
        device (str | torch.device): Where to put them.
        channels_last (bool): Channels-last weights.
        depth (int): bLResNet depth.

    Returns:
        dict[str, nn.Module]: Recognizers by key.
    """
    configs = model_configs(repo, frames, num_classes)
    configs['blvnet'].backbone.depth = depth
    models = {}
    for name in names:
        model = MODELS.build(configs[name]).to(device)
        if channels_last:
            model.to(memory_format=torch.channels_last)
        models[name] = model
    return models


def compile_backbones(models: Dict[str, nn.Module]) -> None:
    """``Module.compile`` each backbone in place (state-dict keys
    unchanged)."""
    for model in models.values():
        model.backbone.compile()
