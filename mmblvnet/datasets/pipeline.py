"""Run a data pipeline's transforms one by one, naming the one that fails.

MMEngine's ``Compose`` lets a transform's error through without saying
which transform raised, on which sample. :func:`run_transforms` raises
:class:`TransformFailure` with the transform's name instead, and
:func:`failure_reason` words it, once for the data sets (:mod:`.checked`)
and the video recognizer (:mod:`mmblvnet.apis.recognize`). A decoder's
native stderr output is cut to a few lines (:mod:`.decoding`).
"""
import time
from typing import List, Optional, Sequence

from .decoding import native_stderr_limited, too_small_reason
from .sampling import is_decoder, is_video_init

# Why a pipeline stopped (TransformFailure.why).
RAISED, DROPPED, NO_FRAMES = 'raised', 'dropped', 'no frames'


class TransformFailure(Exception):
    """A transform that raised, dropped the sample or found no frames.

    Attributes:
        name (str): The transform's class name, e.g. ``'DecordInit'``.
        why (str): ``RAISED`` (``__cause__`` is its error), ``DROPPED``
            (it returned None) or ``NO_FRAMES`` (``total_frames`` < 1).
    """

    def __init__(self, name: str, why: str) -> None:
        super().__init__(f'{name} {why}')
        self.name = name
        self.why = why


def _run_transform(transform, results: dict) -> Optional[dict]:
    """One transform; a decoder's stderr output is cut to a few lines."""
    if not is_decoder(type(transform).__name__):
        return transform(results)
    with native_stderr_limited():
        return transform(results)


def run_transforms(transforms: Sequence,
                   results: dict,
                   seconds: Optional[List[float]] = None) -> dict:
    """Apply ``transforms`` in order.

    Args:
        transforms (Sequence[callable]): Built transforms (a ``Compose``'s
            ``transforms``).
        results (dict): The sample's data.
        seconds (list[float], optional): If given, the wall time of each
            transform is appended to it, in pipeline order.

    Returns:
        dict: The last transform's output.

    Raises:
        TransformFailure: Naming the transform that raised (chained to its
            error), returned None or left ``total_frames`` below 1.
    """
    for transform in transforms:
        name = type(transform).__name__
        start = time.perf_counter()
        try:
            results = _run_transform(transform, results)
        except Exception as error:  # any transform: named, re-raised
            raise TransformFailure(name, RAISED) from error
        if seconds is not None:
            seconds.append(time.perf_counter() - start)
        if results is None:
            raise TransformFailure(name, DROPPED)
        if results.get('total_frames', 1) < 1:
            raise TransformFailure(name, NO_FRAMES)
    return results


def describe_error(error: BaseException, limit: int = 300) -> str:
    """``'<type>: <message>'`` on one line, the message cut to ``limit``
    characters."""
    text = ' '.join(str(error).split())
    if len(text) > limit:
        text = text[:limit] + '...'
    return f'{type(error).__name__}: {text}'


def failure_reason(failure: TransformFailure, path: str) -> str:
    """Why the pipeline stopped on the sample read from ``path``.

    One wording for every user of :func:`run_transforms`; the caller puts
    the file (and a data set its list line) in front:

    * ``'<Transform> dropped the sample'``;
    * ``'<Transform> found no frames (total_frames=0)'``;
    * a decoder on frames too small to decode: that reason
      (:func:`~.decoding.too_small_reason`) followed by
      ``'(<Transform> failed: <error>)'``;
    * a transform that opens a video (``DecordInit``, ``TorchCodecInit``
      ...): ``'<Transform> failed (truncated, corrupt or not a video):
      <error>'``;
    * any other: ``'<Transform> failed: <error>'``;

    where ``<error>`` is :func:`describe_error` of the transform's error.

    Args:
        failure (TransformFailure): What :func:`run_transforms` raised.
        path (str): The sample's video file or frame folder.

    Returns:
        str: The reason, one line.
    """
    name = failure.name
    if failure.why == DROPPED:
        return f'{name} dropped the sample'
    if failure.why == NO_FRAMES:
        return f'{name} found no frames (total_frames=0)'
    error = describe_error(failure.__cause__)
    small = too_small_reason(path) if is_decoder(name) else None
    if small is not None:
        return f'{small} ({name} failed: {error})'
    if is_video_init(name):
        return f'{name} failed (truncated, corrupt or not a video): {error}'
    return f'{name} failed: {error}'
