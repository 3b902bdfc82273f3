"""The MMEngine internals this plugin relies on, pinned.

Each test fails loudly, naming what changed, if an MMEngine upgrade
renames or stops calling something the plugin hooks into where MMEngine
has no public extension point.
"""
import inspect

from mmengine.hooks import CheckpointHook
from mmengine.model import BaseModel


def test_checkpoint_hook_saves_through_save_checkpoint_with_step():
    # AtomicCheckpointHook overrides it to write, then point
    # last_checkpoint at the file, then rotate.
    method = CheckpointHook._save_checkpoint_with_step
    assert list(inspect.signature(method).parameters) == [
        'self', 'runner', 'step', 'meta'
    ], 'MMEngine changed CheckpointHook._save_checkpoint_with_step'
    for caller in (CheckpointHook._save_checkpoint,
                   CheckpointHook._save_best_checkpoint):
        assert '_save_checkpoint_with_step(' in inspect.getsource(caller), (
            f'MMEngine\'s {caller.__name__} no longer saves through '
            '_save_checkpoint_with_step: AtomicCheckpointHook would not run')


def test_train_step_updates_through_optim_wrapper_update_params():
    # NonFiniteLossHook checks the loss in front of update_params.
    assert 'optim_wrapper.update_params(' in inspect.getsource(
        BaseModel.train_step), (
            'MMEngine\'s BaseModel.train_step no longer calls '
            'optim_wrapper.update_params: NonFiniteLossHook would not run')
