"""The frames a decoder must decode to return sampled frames of a video,
from its keyframes (what ``python -m benchmarks.pipeline`` reports)."""
import subprocess
from typing import Sequence

import numpy as np


def keyframe_indices(path: str) -> np.ndarray:
    """Display-order indices of the keyframes of ``path``'s video stream.

    Read from the packets' timestamps and keyframe flags (ffprobe; no
    decoding). Packets without a timestamp (B-frames of an AVI) keep
    their file order.

    Returns:
        np.ndarray: Sorted frame indices of shape (K, ).
    """
    done = subprocess.run(
        ['ffprobe', '-v', 'error', '-select_streams', 'v:0', '-show_entries',
         'packet=pts,flags', '-of', 'csv=p=0', path],
        capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f'ffprobe cannot read the packets of {path}: '
                           f'{done.stderr.strip()[-300:]}')
    rows = [line.split(',') for line in done.stdout.split()]
    order = np.arange(len(rows))
    if all(pts.lstrip('-').isdigit() for pts, _ in rows):
        order = np.argsort(np.argsort([int(pts) for pts, _ in rows],
                                      kind='stable'), kind='stable')
    return np.sort(order[[flags.startswith('K') for _, flags in rows]])


def frames_to_decode(keyframes: np.ndarray,
                     frame_inds: Sequence[int]) -> int:
    """The fewest frames a decoder decodes to return ``frame_inds``.

    Each sampled frame is reached by decoding from the keyframe before it
    (in display order) up to the frame; the count is the union of those
    runs. B-frames also need the later frame they refer to, so for a file
    with B-frames this is a lower bound.

    Args:
        keyframes (np.ndarray): Sorted keyframe indices of shape (K, )
            (:func:`keyframe_indices`).
        frame_inds (Sequence[int]): Sampled frame indices.

    Returns:
        int: Distinct frames decoded.
    """
    needed = set()
    for index in np.unique(np.asarray(frame_inds)):
        before = np.searchsorted(keyframes, index, side='right') - 1
        start = int(keyframes[before]) if before >= 0 else 0
        needed.update(range(start, int(index) + 1))
    return len(needed)
