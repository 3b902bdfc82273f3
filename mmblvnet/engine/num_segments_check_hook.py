"""Fail fast when the data pipeline and the model disagree on frames.

:class:`NumSegmentsCheckHook` checks the frame samplers of every data
loader config against the model's frames per clip before anything runs,
then the tensor that actually reaches the model at the first batch of each
loop, which also covers samplers :mod:`mmblvnet.datasets.sampling` does
not know. The sampler rules live there.
"""
from mmaction.registry import HOOKS
from mmengine.hooks import Hook

from ..datasets.sampling import (
    batch_mismatch,
    dataset_pipelines,
    find_num_segments_mismatch,
    frames_per_sample,
    model_num_segments,
)
from .runner_model import runner_model


@HOOKS.register_module()
class NumSegmentsCheckHook(Hook):
    """Check that every data pipeline samples as many frames per view as
    the model's ``num_segments`` (its backbone's, else its neck's): in the
    config before anything runs,
    then on the first batch of each loop (train, val, test).

    A mismatch would otherwise pass silently whenever one count divides the
    other (e.g. 16 sampled frames read as two 8-frame clips). The error
    names the config key and the value that fixes it.
    """
    priority = 'VERY_HIGH'

    def __init__(self) -> None:
        self._checked = set()

    def before_run(self, runner) -> None:
        """Check the samplers of every data loader config."""
        clip = model_num_segments(runner_model(runner))
        if clip is None:
            return
        message = find_num_segments_mismatch(runner.cfg, *clip)
        if message is not None:
            raise ValueError(message)

    def _check_batch(self, runner, loader: str, data_batch) -> None:
        if loader in self._checked:
            return
        self._checked.add(loader)
        clip = model_num_segments(runner_model(runner))
        frames = frames_per_sample(data_batch)
        if clip is None or frames is None:
            return
        dataset = (runner.cfg.get(loader) or {}).get('dataset')
        message = batch_mismatch(
            frames, list(dataset_pipelines(dataset, f'{loader}.dataset')),
            clip.num_segments, loader, clip.key)
        if message is not None:
            raise ValueError(message)

    def before_train_iter(self, runner, batch_idx: int,
                          data_batch=None) -> None:
        """Check the frames of the first training batch."""
        self._check_batch(runner, 'train_dataloader', data_batch)

    def before_val_iter(self, runner, batch_idx: int,
                        data_batch=None) -> None:
        """Check the frames of the first validation batch."""
        self._check_batch(runner, 'val_dataloader', data_batch)

    def before_test_iter(self, runner, batch_idx: int,
                         data_batch=None) -> None:
        """Check the frames of the first test batch."""
        self._check_batch(runner, 'test_dataloader', data_batch)
