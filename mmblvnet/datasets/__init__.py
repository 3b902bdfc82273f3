"""Data sets: MMAction2's video and frame-folder data sets with named
failures (registered under MMAction2's names ``VideoDataset`` and
``RawframeDataset``), the torchcodec decoding transforms
(``TorchCodecInit``, ``TorchCodecDecode``), the synthetic temporal video
generator and the re-encoding of videos for fast seeking."""
from .annotation import AnnotationError
from .checked import (
    BadSampleError,
    CheckedRawframeDataset,
    CheckedVideoDataset,
)
from .transforms import TorchCodecDecode, TorchCodecInit

__all__ = [
    'AnnotationError', 'BadSampleError', 'CheckedRawframeDataset',
    'CheckedVideoDataset', 'TorchCodecDecode', 'TorchCodecInit'
]
