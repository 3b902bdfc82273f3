"""bLVNet-TAM for MMAction2.

Importing the package applies the stack workarounds of :mod:`.compat` and
registers ``bLResNet``, ``TAMNeck`` and ``SegmentHead`` into
``mmaction.registry.MODELS``.
"""
from . import compat

compat.apply_all()

from . import models  # noqa: E402,F401

__version__ = '0.1.0'
