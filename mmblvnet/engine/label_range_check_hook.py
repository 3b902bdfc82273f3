"""Fail before a loop runs when a list's labels exceed the model's classes.

A label >= ``num_classes`` otherwise surfaces as an index error deep in
the loss on CPU, a device-side assert on CUDA, or a silently wrong metric
in testing. A line without a label gets MMAction2's label -1, which a
metric scores as a wrong answer: it is refused wherever labels are used.
"""
from mmaction.registry import HOOKS
from mmengine.evaluator import DumpResults
from mmengine.hooks import Hook

from ..datasets.annotation import (
    check_label_range,
    dataset_configs,
    label_rows,
    read_dataset_list,
)
from .runner_model import runner_model


def _scores_labels(loop) -> bool:
    """Whether a val/test loop computes a metric (anything but dumping)."""
    evaluator = getattr(loop, 'evaluator', None)
    metrics = getattr(evaluator, 'metrics', None) or []
    return any(not isinstance(metric, DumpResults) for metric in metrics)


@HOOKS.register_module()
class LabelRangeCheckHook(Hook):
    """Check every list label against ``model.cls_head.num_classes``.

    Before training, validation and testing, the list of each
    ``VideoDataset`` and ``RawframeDataset`` of the loop's data loader
    config (also inside data-set wrappers) is read and an error names the
    list file and lines of any label outside ``[0, num_classes)``, and of
    any line without a label in training and in a val/test loop with a
    metric. A test loop whose only metric is MMEngine's ``DumpResults``
    is inference without metrics: unlabelled lists are allowed there.
    """
    priority = 'VERY_HIGH'

    def __init__(self) -> None:
        self._checked = set()

    def _check(self, runner, loader: str, require_labels: bool) -> None:
        model = runner_model(runner)
        num_classes = getattr(getattr(model, 'cls_head', None),
                              'num_classes', None)
        if num_classes is None or loader in self._checked:
            return
        self._checked.add(loader)
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
