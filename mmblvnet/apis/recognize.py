"""Recognize a video file with MMAction2's inference API, checked.

``mmaction.apis.init_recognizer`` and ``inference_recognizer`` do the work;
this module adds what they leave out: a clear error for a missing, empty
or undecodable video, a strict check that the checkpoint fits the model
(``init_recognizer`` loads non-strictly and only logs mismatches), and
label maps checked against the head's number of classes.
"""
import os.path as osp
from typing import List, Optional, Sequence, Tuple

import torch
from mmengine.config import Config
from mmengine.runner import CheckpointLoader
from torch import nn

from ..converters.key_rules import check_against_model


class VideoError(ValueError):
    """A video that cannot be recognized, with the file and the reason."""


def check_video(path: str) -> int:
    """Return the frame count of a readable video, else raise VideoError.

    Args:
        path (str): Video file.

    Returns:
        int: Number of frames decord finds.
    """
    if not osp.isfile(path):
        raise VideoError(f'{path}: no such video file')
    if osp.getsize(path) == 0:
        raise VideoError(f'{path}: the file is empty')
    import decord
    try:
        num_frames = len(decord.VideoReader(path))
    except Exception as error:  # decord raises bare DECORDErrors
        raise VideoError(f'{path}: cannot be decoded ({error})') from None
    if num_frames == 0:
        raise VideoError(f'{path}: the video has no frames')
    return num_frames


def load_label_map(path: Optional[str], num_classes: int) -> List[str]:
    """Class names, one per line of ``path`` (class indices without it).

    Raises:
        ValueError: If the file's line count is not ``num_classes``.
    """
    if path is None:
        return [str(index) for index in range(num_classes)]
    with open(path) as f:
        names = [line.strip() for line in f if line.strip()]
    if len(names) != num_classes:
        raise ValueError(
            f'{path} names {len(names)} classes but the model has '
            f'num_classes={num_classes}')
    return names


def init_checked_recognizer(config: str, checkpoint: Optional[str],
                            device: str = 'cpu',
                            cfg_options: Optional[dict] = None) -> nn.Module:
    """``init_recognizer`` with a strict check of the checkpoint's keys.

    Args:
        config (str): Config file.
        checkpoint (str, optional): Checkpoint file; None keeps the
            random initialisation.
        device (str): Device of the model.
        cfg_options (dict, optional): Config keys to override.

    Returns:
        nn.Module: The recognizer in eval mode, with ``cfg`` attached.
    """
    from mmaction.apis import init_recognizer
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    model = init_recognizer(cfg, None, device=device)
    if checkpoint is not None:
        if not osp.isfile(checkpoint):
            raise FileNotFoundError(f'checkpoint not found: {checkpoint}')
        loaded = CheckpointLoader.load_checkpoint(checkpoint, 'cpu')
        state_dict = loaded.get('state_dict', loaded)
        check_against_model(state_dict, model.state_dict(), checkpoint)
        model.load_state_dict(state_dict)
    return model.eval()


def recognize(model: nn.Module, video: str,
              top_k: int = 5) -> List[Tuple[int, float]]:
    """Top-k (class index, score) of a video, best first."""
    from mmaction.apis import inference_recognizer
    check_video(video)
    with torch.no_grad():
        result = inference_recognizer(model, video)
    scores = result.pred_score
    top_k = min(top_k, scores.numel())
    values, indices = scores.topk(top_k)
    return [(int(i), float(v)) for i, v in zip(indices, values)]


def format_predictions(predictions: Sequence[Tuple[int, float]],
                       names: Sequence[str]) -> str:
    """One ``label: score`` line per prediction."""
    return '\n'.join(f'{names[index]}: {score:.4f}'
                     for index, score in predictions)
