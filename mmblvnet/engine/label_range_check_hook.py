"""Fail before a loop runs when a list's labels exceed the model's classes.

A label >= ``num_classes`` otherwise surfaces as an index error deep in
the loss on CPU, a device-side assert on CUDA, or a silently wrong metric
in testing.
"""
from typing import Iterator

from mmaction.registry import HOOKS
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper


def _checked_datasets(dataset) -> Iterator:
    """Data sets with ``check_label_range``, inside wrappers too."""
    if hasattr(dataset, 'check_label_range'):
        yield dataset
    inner = getattr(dataset, 'dataset', None)
    if inner is not None:
        yield from _checked_datasets(inner)
    for child in getattr(dataset, 'datasets', None) or []:
        yield from _checked_datasets(child)


@HOOKS.register_module()
class LabelRangeCheckHook(Hook):
    """Check every list label against ``model.cls_head.num_classes``.

    Before training, validation and testing, each data set of the
    loop that can check its labels (``CheckedVideoDataset``,
    ``CheckedRawframeDataset``) raises naming the list file and lines of
    any label outside ``[0, num_classes)``, and in training of any line
    without a label.
    """
    priority = 'VERY_HIGH'

    def __init__(self) -> None:
        self._checked = set()

    def _check(self, runner, loop) -> None:
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        num_classes = getattr(getattr(model, 'cls_head', None),
                              'num_classes', None)
        if num_classes is None:
            return
        for dataset in _checked_datasets(loop.dataloader.dataset):
            if id(dataset) not in self._checked:
                dataset.check_label_range(num_classes,
                                          'model.cls_head.num_classes')
                self._checked.add(id(dataset))

    def before_train(self, runner) -> None:
        """Check the training data set."""
        self._check(runner, runner.train_loop)

    def before_val(self, runner) -> None:
        """Check the validation data set (once)."""
        self._check(runner, runner.val_loop)

    def before_test(self, runner) -> None:
        """Check the test data set."""
        self._check(runner, runner.test_loop)
