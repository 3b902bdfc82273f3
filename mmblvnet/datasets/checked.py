"""MMAction2's ``VideoDataset`` and ``RawframeDataset``, with named failures.

Importing :mod:`mmblvnet` (configs do so through ``custom_imports``)
registers the two classes here under MMAction2's own type names,
``VideoDataset`` and ``RawframeDataset``, in ``mmaction.registry.DATASETS``
(:func:`use_checked_data_sets`, one entry of
:mod:`mmblvnet.process_changes`).
They are subclasses that read the same lists and configs and return the
same samples, so configs keep the stock types and MMAction2's tools, which
test ``dataset.type == 'VideoDataset'`` (``check_videos``,
``clip_feature_extraction --video-root``), work on them unchanged. On top
of the stock behaviour they add:

* annotation errors naming the file and line (:mod:`.annotation`); an
  empty list is named too, and a UTF-8 byte order mark is ignored;
* a sample that cannot be read (missing, empty, truncated or corrupt
  file, frames too small to decode, a frame folder with fewer frames than
  listed) raises :class:`BadSampleError` naming the file, its list line
  and the reason, or, with ``on_bad_sample='skip'`` in training, is
  skipped with a logged warning naming the file (MMEngine then draws
  another index); what the decoder prints to stderr is cut to a few lines;
* :meth:`check_label_range`, called by ``LabelRangeCheckHook`` with the
  model's number of classes (and whether the loop scores the labels).

Their own names ``CheckedVideoDataset`` / ``CheckedRawframeDataset`` stay
registered too, for configs saved before the rename.

Short videos are sampled as MMAction2 samples them (``SampleFrames``
repeats frames when a video has fewer than asked).
"""
import logging
import os.path as osp
from typing import List, Optional, Tuple, Union

from mmaction.datasets import RawframeDataset, VideoDataset
from mmaction.registry import DATASETS
from mmengine.logging import print_log

from .annotation import (
    check_label_range,
    label_rows,
    read_rawframe_list,
    read_video_list,
    require_entries,
)
from .pipeline import (
    DROPPED,
    TransformFailure,
    failure_reason,
    run_transforms,
)
from .randomness import sample_randomness

BAD_SAMPLE_ACTIONS = ('error', 'skip')


class BadSampleError(RuntimeError):
    """A sample that cannot be read; the message names file and reason."""


class _Unreadable(Exception):
    """Why a transform could not read a sample (internal)."""


def _is_local(path: str) -> bool:
    return '://' not in path


class _SampleChecks:
    """Named, optionally skipped failures of a data set's samples.

    Mixed into a subclass of an MMAction2 data set; ``_sample_path`` and
    ``_precheck`` say what the sample's file is and what can be told about
    it without decoding.
    """

    seeds_samples = True  # see prepare_data

    def __init__(self,
                 *args,
                 on_bad_sample: str = 'error',
                 max_bad_in_a_row: int = 20,
                 **kwargs) -> None:
        """See the data sets below; ``*args, **kwargs`` go to MMAction2's
        data set, which loads the list (so the checks are set first)."""
        if on_bad_sample not in BAD_SAMPLE_ACTIONS:
            raise ValueError(
                f'on_bad_sample={on_bad_sample!r}; choose one of '
                f'{BAD_SAMPLE_ACTIONS}')
        self.on_bad_sample = on_bad_sample
        self.max_bad_in_a_row = max_bad_in_a_row
        self._bad_in_a_row = 0
        self._label_rows = None
        super().__init__(*args, **kwargs)

    def check_label_range(self,
                          num_classes: int,
                          source: str = 'num_classes',
                          require_labels: Optional[bool] = None) -> None:
        """Raise naming the list lines whose labels fall outside
        ``[0, num_classes)`` (and lines without a label where labels are
        required).

        Args:
            num_classes (int): The number of classes of the model.
            source (str): The config key ``num_classes`` comes from.
            require_labels (bool, optional): Refuse lines without a label
                (MMAction2 gives them label -1, which a metric counts as
                wrong). Defaults to ``not test_mode``: training needs
                labels, inference on an unlabelled list does not.
        """
        if require_labels is None:
            require_labels = not self.test_mode
        check_label_range(self.ann_file, self._label_rows, num_classes,
                          source, require_labels=require_labels)

    def _labels_of(self, labels: Tuple[int, ...]) -> Union[int, List[int]]:
        if self.multi_class:
            return list(labels)
        return labels[0] if labels else -1

    def _check_listed_labels(self, entries) -> None:
        require_entries(self.ann_file, entries)
        self._label_rows = label_rows(entries)
        if self.num_classes is not None:
            self.check_label_range(self.num_classes)

    def prepare_data(self, idx: int) -> Optional[dict]:
        """Run the pipeline on sample ``idx``, naming the file on failure.

        A :class:`~.randomness.SeededIndex` ``idx`` draws the sample's
        random augmentation from its own stream (:func:`~.randomness.
        sample_randomness`).

        Returns:
            dict, optional: The pipeline's output; None for a skipped bad
            sample (MMEngine's data set then draws another index).
        """
        info = self.get_data_info(idx)
        reason = self._precheck(info)
        if reason is not None:
            return self._bad_sample(info, reason)
        try:
            with sample_randomness(idx):
                results = self._run_pipeline(info)
        except _Unreadable as error:
            return self._bad_sample(info, str(error), error.__cause__)
        self._bad_in_a_row = 0
        return results

    def _run_pipeline(self, results: dict) -> Optional[dict]:
        """The pipeline's output (None if a transform dropped the sample);
        raises :class:`_Unreadable` with the
        :func:`~.pipeline.failure_reason` (chained to the transform's
        error)."""
        path = self._sample_path(results)
        try:
            return run_transforms(self.pipeline.transforms, results)
        except TransformFailure as failure:
            if failure.why == DROPPED:
                return None
            raise _Unreadable(failure_reason(failure, path)) from (
                failure.__cause__)

    def _bad_sample(self,
                    info: dict,
                    reason: str,
                    cause: Optional[BaseException] = None) -> None:
        """Raise, or log and return None (skip), for an unreadable sample."""
        where = (f"{self._sample_path(info)} ({self.ann_file}, line "
                 f"{info.get('ann_line', '?')})")
        if self.on_bad_sample == 'error':
            raise BadSampleError(
                f'cannot read {where}: {reason}. Fix or remove that line, '
                "or set on_bad_sample='skip' in the data set config to skip "
                'such samples in training') from cause
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


@DATASETS.register_module()
class CheckedVideoDataset(_SampleChecks, VideoDataset):
    """``VideoDataset`` whose bad lines and samples are named errors.

    Registered as ``VideoDataset``: configs name the stock type.

    Args:
        on_bad_sample (str): ``'error'`` (default) raises
            :class:`BadSampleError` naming the file, its line and why it
            cannot be read; ``'skip'`` logs that as a warning and skips the
            sample in training (a test set still raises).
        max_bad_in_a_row (int): With ``'skip'``, raise after this many
            unreadable samples in a row. Defaults to 20.
        **kwargs: ``VideoDataset``'s arguments (``ann_file``, ``pipeline``,
            ``data_prefix``, ``num_classes`` (also checks the label
            range), ``multi_class``, ``delimiter``, ``test_mode`` ...).
    """

    def load_data_list(self) -> List[dict]:
        """Read the list (``<video> [<label> ...]`` per line)."""
        entries = read_video_list(self.ann_file, self.delimiter,
                                  self.multi_class)
        self._check_listed_labels(entries)
        prefix = self.data_prefix['video']
        return [
            dict(filename=(entry.fields[0] if prefix is None else osp.join(
                prefix, entry.fields[0])),
                 label=self._labels_of(entry.labels),
                 ann_line=entry.line) for entry in entries
        ]

    @staticmethod
    def _sample_path(info: dict) -> str:
        return info['filename']

    @staticmethod
    def _precheck(info: dict) -> Optional[str]:
        path = info['filename']
        if not _is_local(path):
            return None
        if not osp.exists(path):
            return 'file not found'
        if osp.isdir(path):
            return 'a folder, not a video file'
        if osp.getsize(path) == 0:
            return 'empty file (0 bytes)'
        return None


@DATASETS.register_module()
class CheckedRawframeDataset(_SampleChecks, RawframeDataset):
    """``RawframeDataset`` whose bad lines and samples are named errors.

    Registered as ``RawframeDataset``: configs name the stock type.

    A folder with fewer frames than its line lists fails on the first
    missing frame file, naming it.

    Args:
        on_bad_sample (str): ``'error'`` (default) or ``'skip'`` (training
            only), as for :class:`CheckedVideoDataset`.
        max_bad_in_a_row (int): With ``'skip'``, raise after this many
            unreadable samples in a row. Defaults to 20.
        **kwargs: ``RawframeDataset``'s arguments (``ann_file``,
            ``pipeline``, ``data_prefix``, ``filename_tmpl``,
            ``with_offset``, ``num_classes``, ``test_mode`` ...).
    """

    def load_data_list(self) -> List[dict]:
        """Read the list (``<folder> [<offset>] <frames> <label>``)."""
        entries = read_rawframe_list(self.ann_file, self.with_offset,
                                     self.multi_class)
        self._check_listed_labels(entries)
        prefix = self.data_prefix['img']
        data_list = []
        for entry in entries:
            folder, *counts = entry.fields
            info = dict(
                frame_dir=folder if prefix is None else osp.join(
                    prefix, folder),
                total_frames=int(counts[-1]),
                label=self._labels_of(entry.labels),
                ann_line=entry.line)
            if self.with_offset:
                info['offset'] = int(counts[0])
            data_list.append(info)
        return data_list

    @staticmethod
    def _sample_path(info: dict) -> str:
        return info['frame_dir']

    @staticmethod
    def _precheck(info: dict) -> Optional[str]:
        if info['total_frames'] < 1:
            return f"the list gives total_frames={info['total_frames']}"
        folder = info['frame_dir']
        if _is_local(folder) and not osp.isdir(folder):
            return 'frame folder not found'
        return None


__all__ = ['BadSampleError', 'CheckedRawframeDataset', 'CheckedVideoDataset']


def use_checked_data_sets() -> None:
    """Register the checked classes under MMAction2's type names
    ``VideoDataset`` and ``RawframeDataset`` (replacing the stock entries
    of ``mmaction.registry.DATASETS`` for the whole process)."""
    for stock_name, checked in (('VideoDataset', CheckedVideoDataset),
                                ('RawframeDataset', CheckedRawframeDataset)):
        DATASETS.register_module(
            name=stock_name, module=checked, force=True)
