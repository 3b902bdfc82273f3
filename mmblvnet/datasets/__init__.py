"""Data sets: a wrapper that names unreadable samples and seeds each one
(``CheckedDataset``), annotation-list checks, frame sampling, the
torchcodec decoding transforms (``TorchCodecInit``, ``TorchCodecDecode``)
and the synthetic temporal video generator."""
from .annotation import AnnotationError
from .checked import BadSampleError, CheckedDataset
from .transforms import TorchCodecDecode, TorchCodecInit

__all__ = [
    'AnnotationError', 'BadSampleError', 'CheckedDataset', 'TorchCodecDecode',
    'TorchCodecInit'
]
