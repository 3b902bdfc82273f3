"""Recognize a video file with MMAction2's inference API, checked.

``mmaction.apis.init_recognizer`` and ``inference_recognizer`` do the
work. This module fits our configs to them and adds what they leave out:

* the config's ``test_pipeline`` made to read a video file: configs of
  frame data sets (``RawFrameDecode``, e.g. Something-Something v1) get
  ``DecordInit`` / ``DecordDecode`` in its place, since
  ``inference_recognizer`` feeds ``dict(filename=VIDEO, label=-1,
  start_index=0, modality='RGB')``;
* errors that name the file and the reason for a missing, empty or
  undecodable video (``inference_recognizer`` says "type not supported"
  for a missing file and lets a bare ``DECORDError`` through for a
  corrupt one);
* the checkpoint check of :class:`~mmblvnet.engine.StrictLoadHook`
  (``init_recognizer`` loads non-strictly and only logs mismatches);
* a check that the pipeline samples the model's ``num_segments`` frames;
* label maps checked against the head's number of classes.
"""
import copy
import os.path as osp
from typing import List, Optional, Sequence, Tuple

import torch
from mmengine.config import Config
from mmengine.dataset import Compose
from mmengine.runner import CheckpointLoader
from torch import nn

from ..datasets.pipeline import (
    TransformFailure,
    failure_reason,
    run_transforms,
)
from ..datasets.sampling import (
    FRAME_DECODE,
    ClipFrames,
    find_pipeline_mismatch,
    is_video_init,
    model_num_segments,
    type_name,
)
from ..engine.checkpoint_integrity import CheckpointFileError, load_checked
from ..engine.strict_load_hook import fitting_state_dict
from ..utils.cli import checkpoint_errors


class VideoError(ValueError):
    """A video that cannot be recognized, with the file and the reason."""


def check_video(path: str) -> None:
    """Raise :class:`VideoError` unless ``path`` is a non-empty file.

    Whether it decodes is found out by the test pipeline (see
    :class:`NamedErrorPipeline`), which reads only the sampled frames.

    Args:
        path (str): Video file.
    """
    if not osp.exists(path):
        raise VideoError(f'{path}: no such video file')
    if not osp.isfile(path):
        raise VideoError(f'{path}: not a file')
    if osp.getsize(path) == 0:
        raise VideoError(f'{path}: the file is empty')


def video_test_pipeline(pipeline: Sequence[dict]) -> List[dict]:
    """A copy of a test pipeline that reads a video file.

    A pipeline that opens videos (``DecordInit``, ``OpenCVInit``,
    ``PyAVInit``) is kept; one that reads frame folders gets ``DecordInit``
    in front and ``DecordDecode`` in place of ``RawFrameDecode``, the
    sampling, resizing and cropping stay the same.

    Args:
        pipeline (Sequence[dict]): The config's ``test_pipeline``.

    Returns:
        list[dict]: Transforms for ``inference_recognizer``.
    """
    names = [type_name(transform) for transform in pipeline]
    if any(is_video_init(name) for name in names):
        return copy.deepcopy(list(pipeline))
    if FRAME_DECODE not in names:
        raise ValueError(
            f'test_pipeline {names} reads neither videos (a transform that '
            f'opens one, e.g. DecordInit) nor frames ({FRAME_DECODE}); give '
            'a config whose test_pipeline opens a video file')
    converted = [dict(type='DecordInit')]
    for name, transform in zip(names, pipeline):
        converted.append(
            dict(type='DecordDecode') if name == FRAME_DECODE else
            copy.deepcopy(transform))
    return converted


def check_sampled_frames(pipeline: Sequence[dict],
                         clip: Optional[ClipFrames]) -> None:
    """Raise a ValueError when the pipeline samples other than T frames
    per view, with any of MMAction2's frame samplers.

    Args:
        pipeline (Sequence[dict]): The config's ``test_pipeline``.
        clip (ClipFrames, optional): T of the model and its config key
            (:func:`~mmblvnet.datasets.sampling.model_num_segments`); None
            skips the check.
    """
    if clip is None:
        return
    message = find_pipeline_mismatch(list(pipeline), clip.num_segments,
                                     key=clip.key)
    if message:
        raise ValueError(message)


class NamedErrorPipeline(Compose):
    """MMAction2's ``Compose`` whose failures name the file and transform.

    Raises:
        VideoError: ``'<file>: <reason>'`` with the data sets' wording of
            the reason (:func:`~mmblvnet.datasets.pipeline.failure_reason`,
            e.g. ``'DecordInit failed (truncated, corrupt or not a video):
            ...'``) when a transform raises, drops the sample or finds no
            frames.
    """

    def __call__(self, data: dict) -> dict:
        filename = data.get('filename', '<input>')
        try:
            return run_transforms(self.transforms, data)
        except TransformFailure as failure:
            raise VideoError(
                f'{filename}: {failure_reason(failure, filename)}') from (
                    failure.__cause__)


def load_label_map(path: Optional[str], num_classes: int) -> List[str]:
    """Class names, one per line of ``path``; class indices without it.

    Args:
        path (str, optional): Text file with one class name per line, in
            class-index order (trailing blank lines are ignored).
        num_classes (int): Classes of the model's head.

    Returns:
        list[str]: ``num_classes`` names.

    Raises:
        ValueError: If the file has a blank line inside or its number of
            names is not ``num_classes``.
    """
    if path is None:
        return [str(index) for index in range(num_classes)]
    with open(path, encoding='utf-8') as f:
        names = [line.strip() for line in f.read().splitlines()]
    while names and not names[-1]:
        names.pop()
    if '' in names:
        raise ValueError(f'{path}, line {names.index("") + 1}: blank line; '
                         'a label map has one class name per line')
    if len(names) != num_classes:
        raise ValueError(
            f'{path} names {len(names)} classes but the model has '
            f'num_classes={num_classes}; give the label map of the data set '
            'the checkpoint was trained on')
    return names


def load_checked_checkpoint(model: nn.Module, path: str) -> None:
    """Load a checkpoint into ``model`` only if it fits strictly.

    Runs the check of :class:`~mmblvnet.engine.StrictLoadHook` (the one
    training and ``tools/test.py`` run), so the message lists the keys
    and gives the same hints (``num_classes``, IBM files to convert).

    Args:
        model (nn.Module): The recognizer.
        path (str): An MMEngine checkpoint or a plain state dict.

    Raises:
        CheckpointFileError: If ``path`` is missing, cannot be read (empty,
            truncated, refused by torch's ``weights_only`` loader), is not
            a dict, or its keys do not fit the model; the message starts
            with the file.
    """
    with checkpoint_errors(path):
        checkpoint = (load_checked(path, map_location='cpu')
                      if '://' not in str(path) else
                      CheckpointLoader.load_checkpoint(path,
                                                       map_location='cpu'))
        if not isinstance(checkpoint, dict):
            raise CheckpointFileError(
                path, f'holds a {type(checkpoint).__name__}, not a '
                "checkpoint (a dict with a 'state_dict', or a state dict)")
        model.load_state_dict(fitting_state_dict(model, checkpoint, path))


def _check_device(device: str) -> None:
    if device.startswith('cuda') and not torch.cuda.is_available():
        raise ValueError(f'--device {device}: CUDA is not available on '
                         'this machine; use --device cpu')


def init_checked_recognizer(config: str,
                            checkpoint: Optional[str],
                            device: str = 'cpu',
                            cfg_options: Optional[dict] = None) -> nn.Module:
    """``init_recognizer`` with a strict check of the checkpoint's keys.

    Args:
        config (str): Config file.
        checkpoint (str, optional): Checkpoint file; None keeps the
            initialisation of the built model.
        device (str): Device of the model.
        cfg_options (dict, optional): Config keys to override.

    Returns:
        nn.Module: The recognizer in eval mode, with ``cfg`` attached.
    """
    from mmaction.apis import init_recognizer
    _check_device(device)
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    model = init_recognizer(cfg, None, device='cpu')
    if checkpoint is not None:
        load_checked_checkpoint(model, checkpoint)
    return model.to(device).eval()


def video_scores(model: nn.Module, video: str) -> torch.Tensor:
    """Class scores of a video file through the config's test pipeline.

    Args:
        model (nn.Module): A recognizer from
            :func:`init_checked_recognizer`.
        video (str): Video file.

    Returns:
        torch.Tensor: Scores of shape (num_classes, ), as the head's
        ``average_clips`` gives them.
    """
    from mmaction.apis import inference_recognizer
    check_video(video)
    test_pipeline = model.cfg.get('test_pipeline')
    if not test_pipeline:
        raise ValueError('the config has no test_pipeline; inheriting a '
                         'configs/_base_/datasets/*.py file gives one')
    check_sampled_frames(test_pipeline, model_num_segments(model))
    pipeline = NamedErrorPipeline(video_test_pipeline(test_pipeline))
    return inference_recognizer(model, video,
                                test_pipeline=pipeline).pred_score


def top_k(scores: torch.Tensor, k: int) -> List[Tuple[int, float]]:
    """The ``k`` best ``(class index, score)`` pairs of (num_classes, )
    scores, best first."""
    if k < 1:
        raise ValueError(f'--top-k must be at least 1, got {k}')
    values, indices = scores.topk(min(k, scores.numel()))
    return [(int(i), float(v)) for i, v in zip(indices, values)]


def recognize(model: nn.Module, video: str,
              top_k_classes: int = 5) -> List[Tuple[int, float]]:
    """Top-k classes of a video file, best first.

    Args:
        model (nn.Module): A recognizer from
            :func:`init_checked_recognizer`.
        video (str): Video file.
        top_k_classes (int): How many classes (at most ``num_classes``).

    Returns:
        list[tuple[int, float]]: ``(class index, score)`` pairs.
    """
    if top_k_classes < 1:
        raise ValueError(f'--top-k must be at least 1, got {top_k_classes}')
    return top_k(video_scores(model, video), top_k_classes)


def format_predictions(predictions: Sequence[Tuple[int, float]],
                       names: Sequence[str]) -> str:
    """One ``label: score`` line per prediction."""
    return '\n'.join(f'{names[index]}: {score:.4f}'
                     for index, score in predictions)
