"""Frames in, labels out: sliding windows over a video or a live stream,
and labelled output videos drawn with MMAction2's ``ActionVisualizer``.

A source is read with OpenCV, frame by frame (a file, a camera index such
as ``0``, or a stream URL OpenCV can open). Each window of frames goes
through the config's own test pipeline: its frame sampler runs on the
window (``total_frames`` = the window's length), the decode step takes the
sampled frames from memory, and the resizing, cropping and formatting
stay the config's.
"""
from collections import deque
from typing import (
    Iterable,
    Iterator,
    List,
    NamedTuple,
    Optional,
    Sequence,
    Tuple,
)

import cv2
import numpy as np
import torch
from mmengine.dataset import Compose, pseudo_collate
from torch import nn

from ..datasets.sampling import is_video_decode, is_video_init, type_name
from .recognize import VideoError, check_video, video_test_pipeline


class VideoSource:
    """RGB frames from a file, a camera index or a stream URL (OpenCV).

    Args:
        source (str): A video file, a camera index (``'0'``) or a URL.
        fps (float, optional): Frame rate to assume when the source does
            not report one (some cameras and streams); 25 if None.

    Raises:
        VideoError: If the file is missing or empty, or OpenCV cannot open
            the source.
    """

    def __init__(self, source: str, fps: Optional[float] = None) -> None:
        self.name = source
        is_camera = source.isdigit()
        if not is_camera and '://' not in source:
            check_video(source)
        self.capture = cv2.VideoCapture(int(source) if is_camera else source)
        if not self.capture.isOpened():
            raise VideoError(f'{source}: OpenCV cannot open it (not a '
                             'video, a camera index or a stream URL it can '
                             'read)')
        reported = self.capture.get(cv2.CAP_PROP_FPS)
        self.fps = reported if reported and reported > 0 else (fps or 25.0)
        count = int(self.capture.get(cv2.CAP_PROP_FRAME_COUNT))
        # Cameras and streams report no (or a negative) count.
        self.num_frames = count if count > 0 and not is_camera else None

    def __iter__(self) -> Iterator[np.ndarray]:
        try:
            while True:
                ok, frame = self.capture.read()
                if not ok:
                    return
                yield cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        finally:
            self.capture.release()


class VideoSink:
    """An mp4 file written frame by frame (OpenCV ``mp4v``).

    Args:
        path (str): Output file.
        fps (float): Frame rate.
    """

    def __init__(self, path: str, fps: float) -> None:
        self.path, self.fps, self.writer = path, fps, None

    def write(self, frames: Iterable[np.ndarray]) -> None:
        """Append RGB frames of shape (H, W, 3), uint8."""
        for frame in frames:
            if self.writer is None:
                height, width = frame.shape[:2]
                self.writer = cv2.VideoWriter(
                    self.path, cv2.VideoWriter_fourcc(*'mp4v'), self.fps,
                    (width, height))
                if not self.writer.isOpened():
                    raise OSError(f'{self.path}: OpenCV cannot write an mp4 '
                                  'file there (does the folder exist?)')
            self.writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))

    def close(self) -> None:
        if self.writer is not None:
            self.writer.release()


class FramePipeline:
    """The config's test pipeline applied to frames held in memory.

    Args:
        test_pipeline (Sequence[dict]): The config's ``test_pipeline``
            (video or frame-folder form).
    """

    def __init__(self, test_pipeline: Sequence[dict]) -> None:
        steps = [step for step in video_test_pipeline(test_pipeline)
                 if not is_video_init(type_name(step))]
        decode = next((i for i, step in enumerate(steps)
                       if is_video_decode(type_name(step))), None)
        if decode is None:
            raise ValueError(
                f'test_pipeline {[type_name(step) for step in steps]} has '
                'no decode step (e.g. DecordDecode) to take the frames '
                'from')
        self.sample = Compose(steps[:decode])
        self.rest = Compose(steps[decode + 1:])

    def __call__(self, frames: Sequence[np.ndarray]) -> dict:
        """Sample, transform and pack ``frames`` (RGB, each (H, W, 3))."""
        data = self.sample(dict(total_frames=len(frames), start_index=0,
                                label=-1, modality='RGB',
                                filename='<frames>'))
        indices = np.mod(data['frame_inds'], len(frames)).reshape(-1)
        return self.transform([frames[i] for i in indices], data)

    def transform(self, frames: Sequence[np.ndarray],
                  sampled: Optional[dict] = None) -> dict:
        """Transform and pack ``frames`` as they are, without sampling.

        Args:
            frames (Sequence[np.ndarray]): RGB frames, each (H, W, 3).
            sampled (dict, optional): The sampler's results, if any (else
                the frames form one clip of ``len(frames)`` segments).

        Returns:
            dict: The packed sample; ``inputs`` holds (len(frames), 3,
            H', W') for one view.
        """
        data = dict(sampled or dict(
            num_clips=len(frames), clip_len=1, label=-1, modality='RGB',
            filename='<frames>'))
        data['imgs'] = list(frames)
        data['original_shape'] = data['img_shape'] = frames[0].shape[:2]
        return self.rest(data)


def clip_scores(model: nn.Module, pipeline: FramePipeline,
                frames: Sequence[np.ndarray]) -> torch.Tensor:
    """Class scores of one window of frames, as ``inference_recognizer``
    computes them.

    Returns:
        torch.Tensor: Scores of shape (num_classes, ).
    """
    batch = pseudo_collate([pipeline(frames)])
    with torch.no_grad():
        return model.test_step(batch)[0].pred_score.cpu()


class Window(NamedTuple):
    """A window's first frame, its frames and the frames not yet drawn."""
    start: int
    frames: List[np.ndarray]
    new_frames: List[np.ndarray]


def sliding_windows(frames: Iterable[np.ndarray], window: int,
                    stride: int) -> Iterator[Window]:
    """Windows of ``window`` frames every ``stride`` frames.

    A source shorter than one window gives one window of all its frames.
    ``new_frames`` of successive windows cover every frame once, in order
    (the frames after the last window come with an empty window:
    ``frames`` is ``[]``).

    Args:
        frames (Iterable[np.ndarray]): The source's frames.
        window (int): Frames per window (>= 1).
        stride (int): Frames between window starts (>= 1).
    """
    if window < 1 or stride < 1:
        raise ValueError(f'window and stride must be at least one frame, '
                         f'got {window} and {stride}')
    buffer: deque = deque(maxlen=window)
    pending: List[np.ndarray] = []
    count = emitted = 0
    for count, frame in enumerate(frames, start=1):
        buffer.append(frame)
        pending.append(frame)
        start = count - window
        if start >= 0 and start % stride == 0:
            yield Window(start, list(buffer), pending)
            pending, emitted = [], emitted + 1
    if not emitted and buffer:
        yield Window(0, list(buffer), pending)
    elif pending:
        yield Window(count, [], pending)


class LabelPainter:
    """Draws top-k labels on frames with MMAction2's ``ActionVisualizer``.

    Frames whose short side is below ``MIN_SIDE`` pixels are enlarged to it
    first, so that the labels stay legible.

    Args:
        names (Sequence[str]): Class names in class order.
        top_k (int): Labels drawn per frame.
    """

    def __init__(self, names: Sequence[str], top_k: int) -> None:
        from mmaction.visualization import ActionVisualizer
        self.visualizer = ActionVisualizer.get_instance('mmblvnet_demo')
        self.visualizer.dataset_meta = dict(classes=list(names))
        self.top_k = top_k

    MIN_SIDE = 256

    def _resolution(self, frame: np.ndarray) -> Optional[Tuple[int, int]]:
        height, width = frame.shape[:2]
        if min(height, width) >= self.MIN_SIDE:
            return None
        return (-1, self.MIN_SIDE) if height <= width else (self.MIN_SIDE,
                                                            -1)

    def __call__(self, frames: Sequence[np.ndarray],
                 scores: torch.Tensor) -> np.ndarray:
        """Frames (RGB, each (H, W, 3)) with the top-k labels of
        ``scores`` (num_classes, ) drawn; returns (T, H, W, 3) uint8."""
        from mmaction.structures import ActionDataSample
        from mmengine.structures import LabelData
        top = scores.topk(min(self.top_k, scores.numel())).indices
        sample = ActionDataSample()
        # MMAction2 1.2.0's visualizer draws ``pred_labels.item`` with
        # ``pred_labels.score[class]``.
        sample.pred_labels = LabelData(item=top, score=scores)
        return self.visualizer.add_datasample(
            'demo', list(frames), sample, draw_gt=False, out_type='video',
            target_resolution=self._resolution(frames[0]))


def frame_pairs(frames: Iterable[np.ndarray],
                interval: int) -> Iterator[Tuple[int, List[np.ndarray]]]:
    """Every ``interval``-th frame, two at a time: the pairs an online
    recognizer takes.

    Args:
        frames (Iterable[np.ndarray]): The source's frames.
        interval (int): Source frames from one taken frame to the next
            (>= 1); a pair spans ``2 * interval`` of them.

    Yields:
        tuple: The number of source frames read so far and the pair.
    """
    if interval < 1:
        raise ValueError(f'--frame-interval must be at least 1, got '
                         f'{interval}')
    taken: List[np.ndarray] = []
    for count, frame in enumerate(frames, start=1):
        if (count - 1) % interval == 0:
            taken.append(frame)
        if len(taken) == 2:
            yield count, taken
            taken = []


def real_time_factor(seconds: float, num_frames: int, fps: float) -> str:
    """``real-time factor: R (...)`` with R = processing time / duration;
    below 1 the model keeps up with a live source."""
    duration = num_frames / fps
    factor = seconds / duration if duration else float('inf')
    return (f'real-time factor: {factor:.2f} ({seconds:.2f} s of processing '
            f'for {duration:.1f} s of video at {fps:g} fps)')

