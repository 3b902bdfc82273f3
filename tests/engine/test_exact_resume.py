"""Exact resume and preemption, provoked for real: signals sent to the
training process (in process for the fast test, to ``tools/train.py``
commands for the slow ones), checkpoints written and resumed."""
import os
import signal

import pytest
import torch
from mmaction.registry import HOOKS
from mmengine.hooks import Hook
from mmengine.runner import Runner

from helpers import tiny_config, write_list

EPOCHS = 2
CLIPS = 6  # 3 batches of 2 per epoch


@HOOKS.register_module(force=True)
class SignalAt(Hook):
    """Sends ``signum`` to this process during iteration ``at`` (counted
    from 1), as Slurm or Kubernetes would."""

    def __init__(self, at: int, signum=signal.SIGTERM):
        self.at, self.signum = at, signum

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if runner.iter + 1 == self.at:
            os.kill(os.getpid(), self.signum)


def _config(root, work_dir):
    work_dir.mkdir(exist_ok=True)
    train_list = write_list(root, 'train', work_dir / 'train.txt', CLIPS)
    cfg = tiny_config(root, work_dir, epochs=EPOCHS, train_list=train_list)
    cfg.default_hooks.checkpoint.save_best = None
    return cfg


def _weights(path):
    return torch.load(path, weights_only=False)['state_dict']


def assert_same_weights(expected, actual):
    assert expected.keys() == actual.keys()
    for key in expected:
        torch.testing.assert_close(actual[key], expected[key], rtol=1e-5,
                                   atol=1e-6, msg=key)


def test_sigterm_twice_mid_epoch_resumes_to_the_same_weights(
        synthetic_root, tmp_path):
    whole = tmp_path / 'whole'
    Runner.from_cfg(_config(synthetic_root, whole)).train()
    expected = _weights(whole / f'epoch_{EPOCHS}.pth')

    work = tmp_path / 'stopped'
    for stop_at, resume in ((2, False), (5, True)):
        cfg = _config(synthetic_root, work)
        cfg.resume = resume
        cfg.custom_hooks.append(dict(type='SignalAt', at=stop_at))
        with pytest.raises(SystemExit) as stopped:
            Runner.from_cfg(cfg).train()
        assert stopped.value.code == 128 + signal.SIGTERM
        saved = work / f'iter_{stop_at}_on_request.pth'
        assert (work / 'last_checkpoint').read_text() == str(saved)
        assert torch.load(saved, weights_only=False)['meta']['iter'] == (
            stop_at)
    cfg = _config(synthetic_root, work)
    cfg.resume = True
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == EPOCHS * CLIPS // 2
    assert_same_weights(expected, _weights(work / f'epoch_{EPOCHS}.pth'))
