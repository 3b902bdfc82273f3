"""What a video decoder leaves behind: its native stderr and frame size.

decord (through FFmpeg) writes to file descriptor 2 directly; given a
text file named ``.mp4`` it prints the whole file there (3 MB of text for
a 3 MB file) before raising. :func:`native_stderr_limited` captures that
output around one decode and lets at most a few lines through.

decord also fails on some valid videos with tiny frames (2x2 up to 17x17
px, depending on the size) with an internal size check rather than a
reason; :func:`frame_size` asks OpenCV for the frame size so that such a
failure can be reported as what it is.
"""
import os
import sys
import tempfile
from contextlib import contextmanager
from typing import Iterator, Optional, Tuple

# Decoder output let through to stderr after a decode, in bytes.
STDERR_LIMIT = 2000
# Frames with a side below this are reported as too small to decode.
MIN_DECODABLE_SIDE = 32


class CapturedOutput:
    """The size of what a decode wrote to stderr (filled on exit)."""
    size: int = 0


def _flush_python_stderr() -> None:
    try:
        sys.stderr.flush()
    except (AttributeError, ValueError):  # closed or replaced stream
        pass


@contextmanager
def native_stderr_limited(
        limit: int = STDERR_LIMIT) -> Iterator[CapturedOutput]:
    """Capture file descriptor 2; pass on at most ``limit`` bytes of it.

    Native libraries write to the descriptor, not to ``sys.stderr``, so
    the descriptor itself is redirected to a temporary file for the
    duration of the block. On exit the first ``limit`` bytes go to the
    real stderr, followed by a one-line note of how much was cut.

    Yields:
        CapturedOutput: ``size`` holds the bytes written once the block
        has ended.
    """
    captured = CapturedOutput()
    _flush_python_stderr()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield captured
        finally:
            _flush_python_stderr()
            os.dup2(saved, 2)
            os.close(saved)
            captured.size = sink.tell()
            sink.seek(0)
            head = sink.read(limit)
            cut = captured.size - len(head)
            if head or cut:
                note = (f'\n[{cut} more bytes of decoder output cut]\n'
                        if cut > 0 else '')
                os.write(2, head + note.encode())


def frame_size(path: str) -> Optional[Tuple[int, int]]:
    """``(width, height)`` of a video's frames as OpenCV reads them.

    Returns:
        tuple[int, int], optional: None when OpenCV cannot open the file
        or reads no frame size.
    """
    import cv2

    capture = cv2.VideoCapture(path)
    try:
        if not capture.isOpened():
            return None
        width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
        height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
    finally:
        capture.release()
    return (width, height) if width > 0 and height > 0 else None


def too_small_reason(path: str) -> Optional[str]:
    """Why decoding ``path`` failed if its frames are tiny, else None."""
    size = frame_size(path) if '://' not in path else None
    if size is None or min(size) >= MIN_DECODABLE_SIDE:
        return None
    return (f'frames of {size[0]}x{size[1]} px are too small to decode '
            '(decord fails on many videos with a side under '
            f'{MIN_DECODABLE_SIDE} px); resize the video to at least '
            f'{MIN_DECODABLE_SIDE} px a side')
