"""An exported recognizer run by ONNX Runtime or OpenVINO, no model built.

The ONNX file of :func:`~mmblvnet.apis.export.export_onnx` holds the
whole recognizer (backbone, head, consensus) and, in its metadata, what a
caller needs to feed it: ``mean``, ``std``, ``num_segments`` and
``num_classes``. :class:`RuntimeRecognizer` reads those, normalises the
frames of the config's test pipeline as the data preprocessor would and
merges the test views as MMAction2's ``Recognizer2D`` does: the head sees
the frames of all views of a sample as one sequence, so the merged logits
are the mean of the per-view logits (the head is linear), and the head's
``average_clips`` then takes their softmax (``'prob'``) or keeps them
(``'score'``, None). Only the test pipeline runs in Python; no MMAction2
model is built.
"""
import ast
import functools
import os.path as osp
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from ..datasets.sampling import ClipFrames
from .export import INPUT_NAME
from .recognize import (
    NamedErrorPipeline,
    check_sampled_frames,
    check_video,
    video_test_pipeline,
)

BACKENDS = ('onnxruntime', 'openvino')
Runner = Callable[[Dict[str, np.ndarray]], List[np.ndarray]]
_REQUIRED_METADATA = ('mean', 'std', 'num_segments', 'num_classes')


def read_metadata(path: str) -> Dict[str, str]:
    """The ``metadata_props`` of an ONNX file, as a dict of strings.

    Raises:
        ValueError: If the file lacks a key :class:`RuntimeRecognizer`
            needs (it was not written by ``export_onnx.py``).
    """
    import onnx
    if not osp.isfile(path):
        raise FileNotFoundError(2, 'no such ONNX file', path)
    try:
        model = onnx.load(path, load_external_data=False)
    except Exception as error:  # protobuf's DecodeError and kin
        raise ValueError(f'{path}: not an ONNX model ({type(error).__name__}'
                         f': {error})') from error
    metadata = {prop.key: prop.value for prop in model.metadata_props}
    missing = [key for key in _REQUIRED_METADATA if key not in metadata]
    if missing:
        raise ValueError(
            f'{path}: the ONNX metadata lacks {missing}; export the model '
            'with tools/deployment/export_onnx.py, which stores them')
    return metadata


def read_normalisation(
        metadata: Dict[str, str]) -> Tuple[np.ndarray, np.ndarray]:
    """The ``mean`` and ``std`` of an exported file's metadata, each
    (3, 1, 1) float32: frames are fed as ``(frame - mean) / std``."""
    return tuple(
        np.asarray(ast.literal_eval(metadata[key]),
                   np.float32).reshape(-1, 1, 1) for key in ('mean', 'std'))


def _onnxruntime_runner(path: str, threads: Optional[int]) -> Runner:
    import onnxruntime
    options = onnxruntime.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(
        path, options, providers=['CPUExecutionProvider'])
    return lambda feeds: session.run(None, feeds)


def _openvino_runner(path: str, threads: Optional[int]) -> Runner:
    import openvino
    # f32: without the hint OpenVINO may run bf16 on CPUs that have it.
    config = {'INFERENCE_PRECISION_HINT': 'f32',
              'PERFORMANCE_HINT': 'LATENCY'}
    if threads:
        config['INFERENCE_NUM_THREADS'] = threads
    compiled = openvino.Core().compile_model(path, 'CPU', config)
    request = compiled.create_infer_request()

    def run(feeds: Dict[str, np.ndarray]) -> List[np.ndarray]:
        results = request.infer(feeds)
        return [results[output] for output in compiled.outputs]

    return run


_RUNNERS = dict(onnxruntime=_onnxruntime_runner, openvino=_openvino_runner)


def make_runner(path: str, backend: str,
                threads: Optional[int] = None) -> Runner:
    """A function running the ONNX file ``path`` in ``backend`` (CPU):
    inputs by name in, every output in the file's order out."""
    return _RUNNERS[check_backend(backend)](path, threads)


def check_backend(backend: str) -> str:
    """Return ``backend`` if it is one of :data:`BACKENDS`, else raise a
    ValueError naming it."""
    if backend not in BACKENDS:
        raise ValueError(f'backend must be one of {BACKENDS}, but got '
                         f'{backend!r}')
    return backend


class RuntimeRecognizer:
    """Class scores from an exported ONNX recognizer.

    Args:
        path (str): ONNX file written by ``export_onnx.py`` (fp32) or
            ``quantize.py`` (int8).
        backend (str): ``'onnxruntime'`` or ``'openvino'`` (CPU).
        threads (int, optional): Intra-op threads; the runtime's default
            (all cores) if None.
        average_clips (str, optional): The head's ``average_clips``:
            ``'prob'`` (softmax of the merged logits), ``'score'`` or None
            (the merged logits).
    """

    def __init__(self,
                 path: str,
                 backend: str = 'onnxruntime',
                 threads: Optional[int] = None,
                 average_clips: Optional[str] = 'prob') -> None:
        metadata = read_metadata(path)
        self.path = path
        self.backend = check_backend(backend)
        self.num_segments = int(metadata['num_segments'])
        self.num_classes = int(metadata['num_classes'])
        self.mean, self.std = read_normalisation(metadata)
        if average_clips not in ('prob', 'score', None):
            raise ValueError(f"average_clips must be 'prob', 'score' or "
                             f'None, but got {average_clips!r}')
        self.average_clips = average_clips
        self.threads = threads

    @functools.cached_property
    def _run(self) -> Runner:
        """The runtime's session, opened by the first :meth:`logits`."""
        return make_runner(self.path, self.backend, self.threads)

    @property
    def clip_frames(self) -> ClipFrames:
        """``num_segments`` of the file, named for error messages."""
        return ClipFrames(self.num_segments, f"{self.path}'s num_segments")

    def logits(self, clips: np.ndarray) -> np.ndarray:
        """Run the graph.

        Args:
            clips (np.ndarray): Normalised clips of shape (N, T, 3, H, W).

        Returns:
            np.ndarray: Logits of shape (N, num_classes).
        """
        clips = np.ascontiguousarray(clips, np.float32)
        return np.asarray(self._run({INPUT_NAME: clips})[0])

    def clips(self, inputs) -> np.ndarray:
        """Normalised views of one sample.

        Args:
            inputs (torch.Tensor | np.ndarray): The ``inputs`` that the
                test pipeline packs, frames of shape (V * T, 3, H, W)
                (uint8 or float, RGB) for V views of T frames.

        Returns:
            np.ndarray: Clips of shape (V, T, 3, H, W), float32.
        """
        if isinstance(inputs, torch.Tensor):
            inputs = inputs.numpy()
        frames = inputs.shape[0]
        if inputs.ndim != 4 or frames % self.num_segments:
            raise ValueError(
                f'{self.path}: expected frames of shape (V * T, 3, H, W) '
                f'with T = num_segments = {self.num_segments}, but got '
                f'{tuple(inputs.shape)}')
        normalised = (inputs.astype(np.float32) - self.mean) / self.std
        return normalised.reshape(frames // self.num_segments,
                                  self.num_segments, *inputs.shape[1:])

    def merge_views(self, logits: np.ndarray) -> np.ndarray:
        """Scores (num_classes, ) of one sample from its views' logits
        (V, num_classes), as ``Recognizer2D`` and ``average_clips``
        merge them."""
        return average_clip(logits.mean(0), self.average_clips)

    def scores(self, inputs) -> torch.Tensor:
        """Class scores of one sample.

        Args:
            inputs (torch.Tensor | np.ndarray): Frames of shape
                (V * T, 3, H, W) as the test pipeline packs them.

        Returns:
            torch.Tensor: Scores of shape (num_classes, ).
        """
        return torch.from_numpy(
            self.merge_views(self.logits(self.clips(inputs))))


def average_clip(logits: np.ndarray,
                 average_clips: Optional[str]) -> np.ndarray:
    """A head's ``average_clips`` applied to merged logits
    (..., num_classes): their softmax for ``'prob'``, else unchanged."""
    if average_clips != 'prob':
        return logits
    exp = np.exp(logits - logits.max(-1, keepdims=True))
    return exp / exp.sum(-1, keepdims=True)


def runtime_video_scores(recognizer: RuntimeRecognizer,
                         test_pipeline: Sequence[dict],
                         video: str) -> torch.Tensor:
    """Class scores of a video file, as :func:`.recognize.video_scores`
    gives them, from an exported model: the config's test pipeline (read
    as ``inference_recognizer`` reads a file) and the ONNX graph.

    Args:
        recognizer (RuntimeRecognizer): The exported model.
        test_pipeline (Sequence[dict]): The config's ``test_pipeline``.
        video (str): Video file.

    Returns:
        torch.Tensor: Scores of shape (num_classes, ).
    """
    check_video(video)
    check_sampled_frames(test_pipeline, recognizer.clip_frames)
    pipeline = NamedErrorPipeline(video_test_pipeline(test_pipeline))
    data = pipeline(dict(filename=video, label=-1, start_index=0,
                         modality='RGB'))
    return recognizer.scores(data['inputs'])
