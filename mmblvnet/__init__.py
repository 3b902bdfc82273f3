"""bLVNet-TAM for MMAction2.

Importing the package tunes glibc's malloc so that freed activations go
back to the OS (:mod:`.utils.malloc`; ``MMBLVNET_MALLOC=default`` opts
out): done here so that every way of launching a run gets it, this
project's tools as well as ``mim train`` and MMAction2's tools, which load
the plugin through ``custom_imports``. It also applies the stack
workarounds of :mod:`.compat` and
registers ``bLResNet``, ``ResNetTAM``, ``TAMNeck`` and ``SegmentHead``
into ``mmaction.registry.MODELS``, data sets with named errors under
MMAction2's own names (``VideoDataset``, ``RawframeDataset``) into
``mmaction.registry.DATASETS`` and the hooks of :mod:`.engine` into
``mmaction.registry.HOOKS`` and the ImageNet bLResNet initializer of
:mod:`.converters` into ``mmaction.registry.WEIGHT_INITIALIZERS``.
"""
from .utils.malloc import tune_malloc

tune_malloc()

from . import compat  # noqa: E402

compat.apply_all()

from . import converters, datasets, engine, models  # noqa: E402,F401

__version__ = '0.1.0'
