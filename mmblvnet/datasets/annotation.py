"""Annotation lists checked line by line, every error naming file and line.

MMAction2's ``VideoDataset`` and ``RawframeDataset`` parse their lists
with bare ``int()`` / ``assert``: a malformed line fails with no file or
line number, a blank line becomes a sample whose path is the data folder
itself, an empty list fails in MMEngine with ``need at least one array to
concatenate`` and a UTF-8 byte order mark (as some Windows editors write)
becomes part of the first path. :func:`check_annotation_list` reads a
list exactly as those data sets split it and raises
:class:`AnnotationError` naming ``file, line N`` and the expected format;
``RobustRunner`` runs it on every list before a data set is built.
"""
import os.path as osp
from typing import (
    Iterator,
    List,
    Mapping,
    NamedTuple,
    Optional,
    Sequence,
    Tuple,
)

import numpy as np
from mmengine.fileio import list_from_file


class AnnotationError(ValueError):
    """A line of an annotation list that cannot be used."""


class Entry(NamedTuple):
    """One parsed line: where it is, the sample's fields and labels."""
    line: int  # 1-based line number in the annotation file
    fields: Tuple[str, ...]  # path (and, for frames, offset / count)
    labels: Tuple[int, ...]  # empty when the line has no label


class _Line(NamedTuple):
    """A line being parsed, and the errors that name it."""
    ann_file: str
    number: int
    text: str
    expected: str  # the format of a line, e.g. '<video> <label>'

    def error(self, reason: str) -> AnnotationError:
        return AnnotationError(
            f'{self.ann_file}, line {self.number}: {reason} in '
            f"{self.text!r}; expected '{self.expected}'")

    def integers(self, values: Sequence[str], what: str) -> Tuple[int, ...]:
        numbers = []
        for value in values:
            try:
                numbers.append(int(value))
            except ValueError:
                raise self.error(
                    f'{what} {value!r} is not an integer') from None
        return tuple(numbers)

    def labels(self, values: Sequence[str],
               multi_class: bool) -> Tuple[int, ...]:
        labels = self.integers(values, 'label')
        if len(labels) > 1 and not multi_class:
            raise self.error(f'{len(labels)} labels but multi_class=False')
        return labels


_BYTE_ORDER_MARK = '\ufeff'


def _lines(ann_file: str, delimiter: Optional[str],
           expected: str) -> Iterator[Tuple[_Line, List[str]]]:
    """Every line and its fields, split as MMAction2's data sets split it
    (each line is one sample there)."""
    for number, text in enumerate(list_from_file(ann_file), 1):
        if number == 1 and text.startswith(_BYTE_ORDER_MARK):
            raise AnnotationError(
                f'{ann_file}, line 1: the file starts with a UTF-8 byte '
                "order mark, which MMAction2 reads as part of the first "
                'path; save the list as UTF-8 without it')
        if not text.strip():
            raise AnnotationError(
                f'{ann_file}, line {number}: blank line (MMAction2 reads it '
                'as a sample whose path is the data folder); remove it')
        yield (_Line(ann_file, number, text, expected),
               text.strip().split(delimiter))


def read_video_list(ann_file: str,
                    delimiter: str = ' ',
                    multi_class: bool = False) -> List[Entry]:
    """Parse a video list: ``<video> [<label> ...]`` per line.

    Args:
        ann_file (str): The annotation file.
        delimiter (str): Field separator, as MMAction2 splits: ``' '``
            is one space. Defaults to ``' '``.
        multi_class (bool): Whether a line may carry several labels.

    Returns:
        list[Entry]: One entry per line, in file order.
    """
    expected = '<video> <label>' + (' [<label> ...]' if multi_class else '')
    return [
        Entry(line.number, (fields[0], ),
              line.labels(fields[1:], multi_class))
        for line, fields in _lines(ann_file, delimiter, expected)
    ]


def read_rawframe_list(ann_file: str,
                       with_offset: bool = False,
                       multi_class: bool = False) -> List[Entry]:
    """Parse a frame-folder list: ``<folder> [<offset>] <frames> <label>``.

    Args:
        ann_file (str): The annotation file.
        with_offset (bool): Whether lines carry a start offset.
        multi_class (bool): Whether a line may carry several labels.

    Returns:
        list[Entry]: One entry per line; ``fields`` holds the
        folder, then the offset (if any) and the frame count as text.
    """
    counts = 2 if with_offset else 1
    expected = ('<folder> ' + ('<offset> ' if with_offset else '') +
                '<total_frames> <label>')
    entries = []
    for line, fields in _lines(ann_file, None, expected):
        if len(fields) < 1 + counts:
            raise line.error(f'{len(fields)} field(s)')
        if min(line.integers(fields[1:1 + counts], 'frame count')) < 0:
            raise line.error('a negative frame count')
        labels = line.labels(fields[1 + counts:], multi_class)
        entries.append(Entry(line.number, tuple(fields[:1 + counts]),
                             labels))
    return entries


def dataset_configs(dataset) -> Iterator[Mapping]:
    """A data set config and the configs it wraps (``dataset``,
    ``datasets``)."""
    if isinstance(dataset, Mapping):
        yield dataset
        yield from dataset_configs(dataset.get('dataset'))
        for child in dataset.get('datasets') or []:
            yield from dataset_configs(child)


def read_dataset_list(
        dataset: Mapping) -> Optional[Tuple[str, List[Entry]]]:
    """Check and parse the list of a ``VideoDataset`` or
    ``RawframeDataset`` config, as that data set reads it.

    Args:
        dataset (Mapping): The data set config (``ann_file`` is joined to
            ``data_root`` as MMEngine does when it builds the data set).

    Returns:
        tuple, optional: The list's path and one :class:`Entry` per line;
        None for another type.

    Raises:
        AnnotationError: Naming the file (and line) of a missing or empty
            list, a byte order mark, a blank or malformed line.
    """
    kind = dataset.get('type')
    if kind not in ('VideoDataset', 'RawframeDataset'):
        return None
    ann_file = str(dataset.get('ann_file', ''))
    data_root = dataset.get('data_root')
    if data_root and not osp.isabs(ann_file) and '://' not in ann_file:
        ann_file = osp.join(data_root, ann_file)
    if '://' not in ann_file and not osp.isfile(ann_file):
        raise AnnotationError(
            f'{ann_file}: no such annotation list (ann_file of a {kind})')
    multi_class = bool(dataset.get('multi_class', False))
    if kind == 'VideoDataset':
        entries = read_video_list(ann_file, dataset.get('delimiter', ' '),
                                  multi_class)
    else:
        entries = read_rawframe_list(
            ann_file, bool(dataset.get('with_offset', False)), multi_class)
    if not entries:
        raise AnnotationError(
            f'{ann_file}: the list is empty (no line names a sample); check '
            'that ann_file points at the list that the data preparation '
            'wrote (docs/data.md)')
    return ann_file, entries


def label_rows(entries: Sequence[Entry]) -> np.ndarray:
    """A compact table of the labels of ``entries`` for range checks.

    Returns:
        np.ndarray: int64 rows ``(line, lowest label, highest label,
        has a label)``, one per entry (small enough to keep per data set,
        unlike the entries themselves).
    """
    rows = [(entry.line, min(entry.labels, default=-1),
             max(entry.labels, default=-1), bool(entry.labels))
            for entry in entries]
    return np.array(rows, dtype=np.int64).reshape(-1, 4)


def check_label_range(ann_file: str,
                      rows: np.ndarray,
                      num_classes: int,
                      source: str,
                      require_labels: bool = False) -> None:
    """Raise naming every line whose label is outside ``[0, num_classes)``.

    Args:
        ann_file (str): The annotation file, for the message.
        rows (np.ndarray): Its :func:`label_rows`.
        num_classes (int): The number of classes.
        source (str): Where ``num_classes`` comes from, for the message
            (e.g. ``'model.cls_head.num_classes'``).
        require_labels (bool): Also refuse lines without a label (they
            get label -1, which only inference without metrics may use).
    """
    line, lowest, highest, labelled = rows.T.astype(np.int64)
    labelled = labelled.astype(bool)
    if require_labels and not labelled.all():
        unlabelled = line[~labelled]
        raise AnnotationError(
            f'{ann_file}: line(s) {_listed(unlabelled)} have no label, but '
            'this loop trains on or scores the labels (an unlabelled line '
            'would count as a wrong answer): give every line a label, or '
            'run inference without metrics (predictions only): '
            '--cfg-options test_evaluator.type=DumpResults '
            'test_evaluator.out_file_path=preds.pkl')
    outside = labelled & ((lowest < 0) | (highest >= num_classes))
    bad = np.flatnonzero(outside)
    if bad.size == 0:
        return
    problems = [
        f'line {line[i]}: label {lowest[i] if lowest[i] < 0 else highest[i]}'
        for i in bad[:5]
    ]
    raise AnnotationError(
        f'{ann_file}: {_listed(problems, bad.size)}; labels must be '
        f'0..{num_classes - 1} ({source}={num_classes}): fix the list, or '
        f'set {source} to the number of classes')


def _listed(items: Sequence, total: Optional[int] = None) -> str:
    """The first 5 of ``items``, and how many of ``total`` (default: all
    items) are left out."""
    more = (len(items) if total is None else total) - 5
    return ', '.join(map(str, items[:5])) + (f' and {more} more'
                                             if more > 0 else '')
