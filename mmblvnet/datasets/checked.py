"""A data-set wrapper whose unreadable samples are named errors.

MMEngine's ``BaseDataset.__getitem__`` meets a pipeline that returns None
in training by fetching random other samples (with the worker's global
NumPy generator, naming nothing, then a bare ``Exception``), and a
transform's error names neither transform nor file. ``CheckedDataset``
(``RobustRunner`` wraps each data set it builds in it) runs the wrapped
data set's own pipeline so that an unreadable sample raises
:class:`BadSampleError` naming the file, its list line (MMAction2's
``VideoDataset`` and ``RawframeDataset`` keep one sample per line: line =
``sample_idx + 1``), the transform and the reason, or with
``on_bad_sample='skip'`` is replaced in training, and a
:class:`~.randomness.SeededIndex` seeds each sample's augmentation.
"""
import logging
import os.path as osp
from typing import Optional, Union

import numpy as np
from mmaction.datasets import RawframeDataset, VideoDataset
from mmaction.registry import DATASETS
from mmengine.dataset import BaseDataset
from mmengine.logging import print_log

from .pipeline import TransformFailure, failure_reason, run_transforms
from .randomness import SeededIndex, sample_randomness

BAD_SAMPLE_ACTIONS = ('error', 'skip')


class BadSampleError(RuntimeError):
    """A sample that cannot be read; the message names file and reason."""


def sample_path(info: dict) -> Optional[str]:
    """The video file or frame folder of a sample's data info."""
    return info.get('filename', info.get('frame_dir'))


def precheck(info: dict) -> Optional[str]:
    """Why a sample cannot be read, as far as is known without decoding
    (None if nothing is known against it)."""
    if 'frame_dir' in info and info.get('total_frames', 1) < 1:
        return f"the list gives total_frames={info['total_frames']}"
    path = sample_path(info)
    if path is None or '://' in path:
        return None
    if 'frame_dir' in info:
        return None if osp.isdir(path) else 'frame folder not found'
    if not osp.exists(path):
        return 'file not found'
    if osp.isdir(path):
        return 'a folder, not a video file'
    if osp.getsize(path) == 0:
        return 'empty file (0 bytes)'
    return None


@DATASETS.register_module()
class CheckedDataset:
    """Run a data set's pipeline naming each unreadable sample.

    Args:
        dataset (BaseDataset | dict): The wrapped data set or its config,
            e.g. MMAction2's ``VideoDataset``.
        on_bad_sample (str): ``'error'`` (default) raises
            :class:`BadSampleError` naming the file, its line and why it
            cannot be read; ``'skip'`` logs that as a warning and loads
            another sample in training (a test set still raises).
        max_bad_in_a_row (int): With ``'skip'``, raise after this many
            unreadable samples in a row. Defaults to 20.
        lazy_init (bool): Leave loading the list to :meth:`full_init`.
    """

    seeds_samples = True  # ResumableEpochBasedTrainLoop reads it

    def __init__(self,
                 dataset: Union[BaseDataset, dict],
                 on_bad_sample: str = 'error',
                 max_bad_in_a_row: int = 20,
                 lazy_init: bool = False) -> None:
        if on_bad_sample not in BAD_SAMPLE_ACTIONS:
            raise ValueError(
                f'on_bad_sample={on_bad_sample!r}; choose one of '
                f'{BAD_SAMPLE_ACTIONS}')
        self.dataset = (DATASETS.build(dataset)
                        if isinstance(dataset, dict) else dataset)
        self.on_bad_sample = on_bad_sample
        self.max_bad_in_a_row = max_bad_in_a_row
        self._bad_in_a_row = 0
        if not lazy_init:
            self.full_init()

    @property
    def metainfo(self) -> dict:
        """The wrapped data set's meta information."""
        return self.dataset.metainfo

    @property
    def test_mode(self) -> bool:
        return self.dataset.test_mode

    def full_init(self) -> None:
        """Load the wrapped data set's list."""
        self.dataset.full_init()

    def get_data_info(self, idx: int) -> dict:
        return self.dataset.get_data_info(idx)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, idx: int) -> dict:
        """Sample ``idx`` through the wrapped pipeline.

        With ``on_bad_sample='skip'`` in training, an unreadable sample is
        replaced by another index drawn in its random stream.
        """
        while True:
            with sample_randomness(idx):
                results = self._prepare(idx)
                if results is not None:
                    self._bad_in_a_row = 0
                    return results
                other = int(np.random.randint(len(self)))
            idx = (SeededIndex(other, idx.seed, idx.epoch)
                   if isinstance(idx, SeededIndex) else other)

    def _prepare(self, idx: int) -> Optional[dict]:
        """The pipeline's output, None for a skipped sample."""
        info = self.get_data_info(idx)
        reason = precheck(info)
        if reason is not None:
            return self._bad_sample(info, reason)
        try:
            return run_transforms(self.dataset.pipeline.transforms, info)
        except TransformFailure as failure:
            return self._bad_sample(
                info, failure_reason(failure, sample_path(info) or ''),
                failure.__cause__)

    def _where(self, info: dict) -> str:
        """``'<file> (<list>, line N)'`` of a sample."""
        path = sample_path(info) or f"sample {info.get('sample_idx')}"
        if not isinstance(self.dataset, (VideoDataset, RawframeDataset)):
            return path
        return (f'{path} ({self.dataset.ann_file}, line '
                f"{int(info['sample_idx']) + 1})")

    def _bad_sample(self,
                    info: dict,
                    reason: str,
                    cause: Optional[BaseException] = None) -> None:
        """Raise, or log and return None (skip), for an unreadable sample."""
        where = self._where(info)
        if self.on_bad_sample == 'error':
            raise BadSampleError(
                f'cannot read {where}: {reason}. Fix or remove that line, '
                "or set robust_cfg.on_bad_sample='skip' in the config to "
                'skip such samples in training') from cause
        if self.test_mode:
            raise BadSampleError(
                f'cannot read {where}: {reason}. Fix or remove that line: '
                "on_bad_sample='skip' only skips in training (a test set "
                'that silently shrank would change the metric)') from cause
        self._bad_in_a_row += 1
        if self._bad_in_a_row > self.max_bad_in_a_row:
            raise BadSampleError(
                f'{self._bad_in_a_row} samples in a row could not be read, '
                f'the last one {where}: {reason}. This points at the '
                'pipeline or the data root rather than at single files'
            ) from cause
        print_log(f"skipped {where}: {reason} (on_bad_sample='skip')",
                  logger='current', level=logging.WARNING)
        return None
