"""Run a data pipeline's transforms one by one, naming the one that fails.

MMEngine's ``Compose`` lets a transform's error through without saying
which transform raised, on which sample. :func:`run_transforms` raises
:class:`TransformFailure` with the transform's name instead; the data
sets (:mod:`.checked`) and the video recognizer
(:mod:`mmblvnet.apis.recognize`) word it for their users. A decoder's
native stderr output is cut to a few lines (:mod:`.decoding`).
"""
import time
from typing import List, Optional, Sequence

from .decoding import native_stderr_limited
from .sampling import is_decoder

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
