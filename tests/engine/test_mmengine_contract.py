"""The MMEngine (and torch) internals this plugin relies on, pinned.

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


def test_resume_and_the_epoch_loop_are_as_the_resumable_loop_expects():
    # ResumableEpochBasedTrainLoop reads the iteration Runner.resume sets
    # and replaces run_epoch's single pass over the data loader;
    # ResumeStateHook keeps the generators across validation from
    # before_val to after_val, the first and last steps of ValLoop.run.
    from mmengine.runner import EpochBasedTrainLoop, Runner, ValLoop
    resume = inspect.getsource(Runner.resume)
    assert "self.train_loop._iter = checkpoint['meta']['iter']" in resume, (
        'MMEngine\'s Runner.resume no longer sets train_loop._iter')
    assert 'enumerate(self.dataloader)' in inspect.getsource(
        EpochBasedTrainLoop.run_epoch), (
            'MMEngine\'s EpochBasedTrainLoop.run_epoch changed')
    steps = [line.strip() for line in
             inspect.getsource(ValLoop.run).splitlines()
             if 'self.' in line]
    assert steps[0] == "self.runner.call_hook('before_val')", (
        'MMEngine\'s ValLoop.run no longer starts with before_val')
    assert steps[-1] == "self.runner.call_hook('after_val')", (
        'MMEngine\'s ValLoop.run no longer ends with after_val')


def test_torch_reraises_a_worker_error_with_the_traceback_last():
    # error_line keeps the last line of a worker's traceback.
    from torch._utils import ExceptionWrapper

    from mmblvnet.utils.cli import WORKER_TRACEBACK, error_line
    try:
        raise ValueError('a.mp4: unreadable')
    except ValueError:
        wrapped = ExceptionWrapper(where='in DataLoader worker process 0')
    with_traceback = None
    try:
        wrapped.reraise()
    except ValueError as error:
        with_traceback = error
    assert WORKER_TRACEBACK in str(with_traceback)
    assert error_line(with_traceback) == 'error: a.mp4: unreadable'
