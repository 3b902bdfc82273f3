"""Run a data pipeline's transforms one by one, naming the one that fails.

MMEngine's ``Compose`` lets a transform's error through without saying
which transform raised, on which sample. :func:`run_transforms` raises
:class:`TransformFailure` with the transform's name instead, and
:func:`failure_reason` words it, once for the data sets (:mod:`.checked`)
and the video recognizer (:mod:`mmblvnet.apis.recognize`).

What a video decoder leaves behind is cut down too. decord (through
FFmpeg) writes to file descriptor 2 directly; given a text file named
``.mp4`` it prints the whole file there (3 MB of text for a 3 MB file)
before raising: :func:`native_stderr_limited` lets at most a few lines of
it through. decord also fails on some valid videos with tiny frames (2x2
up to 17x17 px, depending on the size) with an internal size check rather
than a reason: :func:`too_small_reason` reports such a failure as what it
is.
"""
import os
import sys
import tempfile
import time
from contextlib import contextmanager
from typing import Iterator, List, Optional, Sequence

from .sampling import is_decoder, is_video_init

# Decoder output let through to stderr after a decode, in bytes.
STDERR_LIMIT = 2000
# Frames with a side below this are reported as too small to decode.
MIN_DECODABLE_SIDE = 32
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


def _flush_python_stderr() -> None:
    try:
        sys.stderr.flush()
    except (AttributeError, ValueError):  # closed or replaced stream
        pass


@contextmanager
def native_stderr_limited(limit: int = STDERR_LIMIT) -> Iterator[None]:
    """Capture file descriptor 2; pass on at most ``limit`` bytes of it.

    Native libraries write to the descriptor, not to ``sys.stderr``, so
    the descriptor itself is redirected to a temporary file for the
    duration of the block. On exit the first ``limit`` bytes go to the
    real stderr, followed by a one-line note of how much was cut.
    """
    _flush_python_stderr()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            _flush_python_stderr()
            os.dup2(saved, 2)
            os.close(saved)
            size = sink.tell()
            sink.seek(0)
            head = sink.read(limit)
            cut = size - len(head)
            if head or cut:
                note = (f'\n[{cut} more bytes of decoder output cut]\n'
                        if cut > 0 else '')
                os.write(2, head + note.encode())


def too_small_reason(path: str) -> Optional[str]:
    """Why decoding ``path`` failed if OpenCV reads frames with a side
    under :data:`MIN_DECODABLE_SIDE`, else None."""
    if '://' in path:
        return None
    import cv2

    capture = cv2.VideoCapture(path)
    try:
        size = (int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
                int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    finally:
        capture.release()
    if min(size) <= 0 or min(size) >= MIN_DECODABLE_SIDE:
        return None
    return (f'frames of {size[0]}x{size[1]} px are too small to decode '
            '(decord fails on many videos with a side under '
            f'{MIN_DECODABLE_SIDE} px); resize the video to at least '
            f'{MIN_DECODABLE_SIDE} px a side')


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
      (:func:`too_small_reason`) followed by
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
