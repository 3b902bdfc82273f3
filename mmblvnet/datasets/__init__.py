"""Data sets: MMAction2's video and frame-folder data sets with named
failures (registered under MMAction2's names ``VideoDataset`` and
``RawframeDataset``), and the synthetic temporal video generator."""
from .annotation import AnnotationError
from .checked import (
    BadSampleError,
    CheckedRawframeDataset,
    CheckedVideoDataset,
)

__all__ = [
    'AnnotationError', 'BadSampleError', 'CheckedRawframeDataset',
    'CheckedVideoDataset'
]
