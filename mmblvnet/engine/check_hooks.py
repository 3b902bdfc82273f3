"""Hooks that fail fast on a config, data or loss problem, naming the fix.

``RobustRunner`` adds each of them unless ``custom_hooks`` names it
(:data:`~mmblvnet.engine.robust_runner.CHECK_HOOKS`); any runner can
list them in ``custom_hooks``.
"""
import torch
from mmaction.registry import HOOKS
from mmengine.dist import all_reduce, is_distributed
from mmengine.evaluator import DumpResults
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.optim import OptimWrapperDict
from torch import nn

from ..datasets.annotation import (
    check_label_range,
    dataset_configs,
    label_rows,
    read_dataset_list,
)
from ..datasets.sampling import (
    batch_mismatch,
    dataset_pipelines,
    find_num_segments_mismatch,
    frames_per_sample,
    model_num_segments,
)
from .checkpoint_integrity import list_names, non_finite_names

NON_FINITE_ACTIONS = ('error', 'skip')


def runner_model(runner) -> nn.Module:
    """``runner.model``, unwrapped if MMEngine wrapped it for distributed
    training (the wrapper's ``module``)."""
    model = runner.model
    return model.module if is_model_wrapper(model) else model


class _OncePerLoaderHook(Hook):
    """A check made once per data loader (train, val, test)."""
    priority = 'VERY_HIGH'

    def __init__(self) -> None:
        self._checked = set()

    def _first_time(self, loader: str) -> bool:
        first = loader not in self._checked
        self._checked.add(loader)
        return first


def _scores_labels(loop) -> bool:
    """Whether a val/test loop computes a metric (anything but dumping)."""
    evaluator = getattr(loop, 'evaluator', None)
    metrics = getattr(evaluator, 'metrics', None) or []
    return any(not isinstance(metric, DumpResults) for metric in metrics)


@HOOKS.register_module()
class LabelRangeCheckHook(_OncePerLoaderHook):
    """Check every list label against ``model.cls_head.num_classes``.

    A label >= ``num_classes`` otherwise surfaces as an index error deep in
    the loss on CPU, a device-side assert on CUDA, or a silently wrong
    metric in testing. Before training, validation and testing, the list
    of each ``VideoDataset`` and ``RawframeDataset`` of the loop's data
    loader config (also inside data-set wrappers) is read and an error
    names the list file and lines of any label outside
    ``[0, num_classes)``, and of any line without a label (MMAction2's -1,
    scored as a wrong answer) in training and in a val/test loop with a
    metric. A test loop whose only metric is MMEngine's ``DumpResults`` is
    inference without metrics: unlabelled lists are allowed there.
    """

    def _check(self, runner, loader: str, require_labels: bool) -> None:
        num_classes = getattr(getattr(runner_model(runner), 'cls_head', None),
                              'num_classes', None)
        if num_classes is None or not self._first_time(loader):
            return
        for dataset in dataset_configs(
                (runner.cfg.get(loader) or {}).get('dataset')):
            listed = read_dataset_list(dataset)
            if listed is not None:
                check_label_range(listed[0], label_rows(listed[1]),
                                  num_classes, 'model.cls_head.num_classes',
                                  require_labels=require_labels)

    def before_train(self, runner) -> None:
        """Check the training data set."""
        self._check(runner, 'train_dataloader', require_labels=True)

    def before_val(self, runner) -> None:
        """Check the validation data set (once)."""
        self._check(runner, 'val_dataloader',
                    require_labels=_scores_labels(runner.val_loop))

    def before_test(self, runner) -> None:
        """Check the test data set."""
        self._check(runner, 'test_dataloader',
                    require_labels=_scores_labels(runner.test_loop))


@HOOKS.register_module()
class NumSegmentsCheckHook(_OncePerLoaderHook):
    """Check that every data pipeline samples as many frames per view as
    the model's ``num_segments`` (its backbone's, else its neck's).

    The frame samplers of every data loader config are checked before
    anything runs, then the tensor that reaches the model at the first
    batch of each loop, which also covers samplers
    :mod:`mmblvnet.datasets.sampling` (where the sampler rules live) does
    not know. A mismatch would otherwise pass silently whenever one count
    divides the other (e.g. 16 sampled frames read as two 8-frame clips).
    The error names the config key and the value that fixes it.
    """

    def before_run(self, runner) -> None:
        """Check the samplers of every data loader config."""
        clip = model_num_segments(runner_model(runner))
        if clip is None:
            return
        message = find_num_segments_mismatch(runner.cfg, *clip)
        if message is not None:
            raise ValueError(message)

    def _check_batch(self, runner, loader: str, data_batch) -> None:
        if not self._first_time(loader):
            return
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


def _all_finite(loss: torch.Tensor) -> bool:
    """Whether ``loss`` is finite on every process (so all act alike)."""
    bad = (~torch.isfinite(loss.detach())).any().float().reshape(1)
    if is_distributed():
        all_reduce(bad)
    return bad.item() == 0


def _describe(loss: torch.Tensor) -> str:
    value = loss.detach().float().reshape(-1)
    return str(value[0].item()) if value.numel() == 1 else 'non-finite'


@HOOKS.register_module()
class NonFiniteLossHook(Hook):
    """Check the loss of every iteration before its parameter update.

    Without it a diverged run goes on stepping with NaN gradients and
    saves checkpoints full of NaN. The check wraps ``update_params`` of
    the optimizer wrapper(s), so a NaN/Inf loss never reaches the weights:
    with ``on_non_finite='error'`` training stops with a
    ``FloatingPointError`` naming the iteration and the last checkpoint,
    which holds finite weights; with ``'skip'`` the update is skipped with
    a warning naming the iteration, and the buffers (BatchNorm statistics)
    its forward pass changed are restored. As a second guard, a checkpoint
    whose weights are not finite is never written.

    Args:
        on_non_finite (str): ``'error'`` (default) or ``'skip'``.
        max_skips_in_a_row (int): With ``'skip'``, stop after this many
            non-finite iterations in a row. Defaults to 10.
    """
    priority = 'VERY_HIGH'

    def __init__(self,
                 on_non_finite: str = 'error',
                 max_skips_in_a_row: int = 10) -> None:
        if on_non_finite not in NON_FINITE_ACTIONS:
            raise ValueError(f'on_non_finite={on_non_finite!r}; choose one '
                             f'of {NON_FINITE_ACTIONS}')
        self.on_non_finite = on_non_finite
        self.max_skips_in_a_row = max_skips_in_a_row
        self._skips_in_a_row = 0
        self._buffers = []

    def before_train_iter(self, runner, batch_idx: int,
                          data_batch=None) -> None:
        """With ``'skip'``, keep the buffers (BatchNorm statistics) that a
        forward pass on a poisoned batch would spoil."""
        if self.on_non_finite == 'skip':
            self._buffers = [
                buffer.detach().clone()
                for buffer in runner_model(runner).buffers()
            ]

    def before_train(self, runner) -> None:
        """Put the loss check in front of every optimizer wrapper."""
        wrappers = runner.optim_wrapper
        for wrapper in (wrappers.values() if isinstance(
                wrappers, OptimWrapperDict) else [wrappers]):
            self._guard(runner, wrapper)

    def _guard(self, runner, wrapper) -> None:
        update_params = wrapper.update_params
        if getattr(update_params, 'checks_finite_loss', False):
            return

        def checked_update_params(loss, *args, **kwargs):
            if _all_finite(loss):
                self._skips_in_a_row = 0
                return update_params(loss, *args, **kwargs)
            self._non_finite(runner, loss)
            wrapper.zero_grad()

        checked_update_params.checks_finite_loss = True
        wrapper.update_params = checked_update_params

    def _non_finite(self, runner, loss: torch.Tensor) -> None:
        where = (f'loss = {_describe(loss)} at iteration {runner.iter + 1} '
                 f'(epoch {runner.epoch + 1})')
        last = runner.message_hub.get_info('last_ckpt')
        kept = (f'the last checkpoint, {last}, is kept'
                if last else 'no checkpoint was written yet')
        advice = ('lower the learning rate, clip gradients '
                  '(optim_wrapper.clip_grad) or check the data')
        if self.on_non_finite == 'error':
            raise FloatingPointError(
                f'{where}; training stopped before this update and {kept}. '
                f"Fix: {advice}, or set NonFiniteLossHook's "
                "on_non_finite='skip' to skip such iterations")
        self._skips_in_a_row += 1
        if self._skips_in_a_row > self.max_skips_in_a_row:
            raise FloatingPointError(
                f'{where}: {self._skips_in_a_row} non-finite losses in a '
                f'row, training stopped and {kept}. Fix: {advice}')
        with torch.no_grad():
            for buffer, kept in zip(runner_model(runner).buffers(),
                                    self._buffers):
                buffer.copy_(kept)
        runner.logger.warning(f'{where}: update skipped '
                              "(NonFiniteLossHook on_non_finite='skip')")

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        """Refuse to write a checkpoint whose weights are not finite."""
        bad = non_finite_names(checkpoint.get('state_dict', {}))
        if bad:
            raise FloatingPointError(
                f'non-finite weights in {list_names(bad)} after '
                f'{runner.iter} iterations (epoch {runner.epoch + 1}); this '
                'checkpoint was not written and the previous ones are kept')
