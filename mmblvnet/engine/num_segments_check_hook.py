"""Fail fast when the data pipeline and the backbone disagree on frames."""
from typing import Iterator, Optional, Tuple

from mmaction.registry import HOOKS
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


def _frame_samplers(dataset_cfg: dict,
                    path: str) -> Iterator[Tuple[str, dict]]:
    """``(config path, transform)`` of every frame sampler of a data set,
    following wrapped data sets (``dataset``, ``datasets``)."""
    if not isinstance(dataset_cfg, dict):
        return
    for index, transform in enumerate(dataset_cfg.get('pipeline') or []):
        if isinstance(transform, dict) and 'num_clips' in transform:
            yield f'{path}.pipeline[{index}]', transform
    inner = dataset_cfg.get('dataset')
    if inner is not None:
        yield from _frame_samplers(inner, f'{path}.dataset')
    for index, dataset in enumerate(dataset_cfg.get('datasets') or []):
        yield from _frame_samplers(dataset, f'{path}.datasets[{index}]')


def find_num_segments_mismatch(cfg: dict,
                               num_segments: int) -> Optional[str]:
    """Describe the first sampler whose frames per view differ from T.

    Args:
        cfg (dict): A full MMEngine config.
        num_segments (int): ``model.backbone.num_segments``.

    Returns:
        str, optional: The error message, None if every sampler agrees.
    """
    for loader in LOADERS:
        dataset = (cfg.get(loader) or {}).get('dataset')
        for path, sampler in _frame_samplers(dataset,
                                             f'{loader}.dataset'):
            frames = sampler['num_clips'] * sampler.get('clip_len', 1)
            if frames != num_segments:
                return (
                    f'model.backbone.num_segments={num_segments}, but '
                    f"{path} ({sampler.get('type')}) samples num_clips="
                    f"{sampler['num_clips']} x clip_len="
                    f"{sampler.get('clip_len', 1)} = {frames} frames per "
                    'view; set both to the same number of frames')
    return None


@HOOKS.register_module()
class NumSegmentsCheckHook(Hook):
    """Check, before anything runs, that every data pipeline samples as
    many frames per view as the backbone's ``num_segments``.

    A mismatch would otherwise pass silently whenever one count divides the
    other (e.g. 32 sampled frames read as two 16-frame clips).
    """
    priority = 'VERY_HIGH'

    def before_run(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        num_segments = getattr(
            getattr(model, 'backbone', None), 'num_segments', None)
        if num_segments is None:
            return
        message = find_num_segments_mismatch(runner.cfg, num_segments)
        if message is not None:
            raise ValueError(message)
