"""bLVNet-TAM for MMAction2.

Importing the package applies the process-wide changes listed in
:mod:`.process_changes` (the stack workarounds of :mod:`.compat` among
them) and registers ``bLResNet``, ``ResNetTAM``, ``TAMNeck`` and
``SegmentHead`` into ``mmaction.registry.MODELS``, data sets with named
errors under MMAction2's own names (``VideoDataset``, ``RawframeDataset``) into
``mmaction.registry.DATASETS`` and the hooks of :mod:`.engine` into
``mmaction.registry.HOOKS`` and the ImageNet bLResNet initializer of
:mod:`.converters` into ``mmaction.registry.WEIGHT_INITIALIZERS``.
"""
from . import process_changes

process_changes.apply_all()

from . import converters, datasets, engine, models  # noqa: E402,F401

__version__ = '0.1.0'
