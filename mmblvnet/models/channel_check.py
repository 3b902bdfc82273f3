"""Build-time check that a recognizer's head fits bLResNet's features.

MMAction2's recognizers build the backbone, then the neck, then the head,
each from its own config, so a head whose ``in_channels`` differs from
the backbone's output width would only fail at the first forward, with a
matrix shape error. bLResNet's width is fixed (2048), so the mismatch is
known when the recognizer is built.

:func:`register` installs a global ``nn.Module`` registration hook (public
PyTorch API, :func:`torch.nn.modules.module.
register_module_module_registration_hook`): whenever a module is assigned
as ``neck`` or ``cls_head`` of a model whose ``backbone`` is a bLResNet,
the first of them to read the backbone's maps (the neck if there is one,
else the head) must declare ``in_channels`` equal to the backbone's
``feat_dim``. Any other assignment returns at once.
"""
from typing import Optional

from torch import nn
from torch.nn.modules.module import register_module_module_registration_hook
from torch.utils.hooks import RemovableHandle

from .backbones.blresnet import bLResNet

_handle: Optional[RemovableHandle] = None


def check_feature_channels(parent: nn.Module, name: str,
                           child: nn.Module) -> None:
    """Raise a ValueError if ``child``, about to become ``parent.<name>``,
    reads bLResNet features with the wrong ``in_channels``.

    Args:
        parent (nn.Module): The module being built (e.g. a recognizer).
        name (str): Attribute name of the new submodule.
        child (nn.Module): The new submodule.
    """
    if name not in ('neck', 'cls_head'):
        return
    backbone = getattr(parent, 'backbone', None)
    if not isinstance(backbone, bLResNet):
        return
    if name == 'cls_head' and getattr(parent, 'neck', None) is not None:
        return
    in_channels = getattr(child, 'in_channels', None)
    if isinstance(in_channels, int) and in_channels != backbone.feat_dim:
        raise ValueError(
            f'{name}.in_channels={in_channels} but the backbone bLResNet '
            f'outputs {backbone.feat_dim} channels; set {name}.in_channels='
            f'{backbone.feat_dim} in the model config')


def register() -> None:
    """Install the check once per process (idempotent)."""
    global _handle
    if _handle is None:
        _handle = register_module_module_registration_hook(
            check_feature_channels)
