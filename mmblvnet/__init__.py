"""bLVNet-TAM for MMAction2.

Importing the package applies the stack fixes listed in
:mod:`.process_changes` (nothing else that code unaware of mmblvnet can
see) and registers new types under their own names: ``bLResNet``,
``ResNetTAM``, ``TAMNeck`` and ``SegmentHead`` into
``mmaction.registry.MODELS``, ``CheckedDataset`` and the torchcodec
transforms, the runner ``RobustRunner`` with its hooks and loop
(:mod:`.engine`) and the ImageNet bLResNet initializer of
:mod:`.converters`. A config switches the runtime features on with
``configs/_base_/robust_runtime.py``.
"""
from . import process_changes

process_changes.apply_all()

from . import converters, datasets, engine, models  # noqa: E402,F401

__version__ = '0.1.0'
