"""Data sets: a wrapper that names unreadable samples and seeds each one
(``CheckedDataset``), annotation-list checks, the torchcodec decoding
transforms (``TorchCodecInit``, ``TorchCodecDecode``), the synthetic
temporal video generator and the re-encoding of videos for fast seeking."""
from .annotation import AnnotationError
from .checked import BadSampleError, CheckedDataset
from .transforms import TorchCodecDecode, TorchCodecInit

__all__ = [
    'AnnotationError', 'BadSampleError', 'CheckedDataset', 'TorchCodecDecode',
    'TorchCodecInit'
]
