"""Exact resume and preemption, provoked for real: signals sent to the
training process (in process for the fast test, to ``tools/train.py``
commands for the slow ones), checkpoints written and resumed."""
import functools
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch
from helpers import (
    REPO,
    assert_ok,
    data_options,
    environment,
    free_port,
    logged_warnings,
    output,
    run,
    tiny_config,
    train_command,
    write_list,
)
from mmaction.registry import HOOKS
from mmengine.dataset import pseudo_collate
from mmengine.hooks import Hook
from torch.utils.data import DataLoader

from mmblvnet.engine import ResumableEpochBasedTrainLoop, RobustRunner

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


def _config(root, work_dir, epochs, validate=False):
    work_dir.mkdir(exist_ok=True)
    train_list = write_list(root, 'train', work_dir / 'train.txt', CLIPS)
    cfg = tiny_config(root, work_dir, epochs=epochs, train_list=train_list,
                      validate=validate)
    cfg.default_hooks.checkpoint.save_best = None
    # Random augmentation, so that a resume drawing other numbers shows.
    pipeline = cfg.train_dataloader.dataset.pipeline
    pipeline.insert(-2, dict(type='RandomResizedCrop'))
    pipeline.insert(-2, dict(type='Resize', scale=(32, 32),
                             keep_ratio=False))
    pipeline.insert(-2, dict(type='Flip', flip_ratio=0.5))
    return cfg


def _weights(path):
    return torch.load(path, weights_only=False)['state_dict']


def assert_same_weights(expected, actual):
    assert expected.keys() == actual.keys()
    for key in expected:
        torch.testing.assert_close(actual[key], expected[key], rtol=1e-5,
                                   atol=1e-6, msg=key)


def _stopped_and_resumed(root, work, epochs, stops, validate=False,
                         workers=0):
    """Train in ``work`` with ``workers`` data-loader workers, stopped by
    SIGTERM during each iteration of ``stops`` and resumed after each;
    returns the last runner."""
    for stop_at, resume in zip(stops, (False, *[True] * len(stops))):
        cfg = _config(root, work, epochs, validate)
        cfg.train_dataloader.num_workers = workers
        cfg.resume = resume
        cfg.custom_hooks = [dict(type='SignalAt', at=stop_at)]
        with pytest.raises(SystemExit) as stopped:
            RobustRunner.from_cfg(cfg).train()
        assert stopped.value.code == 128 + signal.SIGTERM
        saved = work / f'iter_{stop_at}_on_request.pth'
        assert (work / 'last_checkpoint').read_text() == str(saved)
        assert list(work.glob('*_on_request.pth')) == [saved]
        assert torch.load(saved, weights_only=False)['meta']['iter'] == (
            stop_at)
    cfg = _config(root, work, epochs, validate)
    cfg.train_dataloader.num_workers = workers
    cfg.resume = True
    runner = RobustRunner.from_cfg(cfg)
    runner.train()
    return runner


@pytest.mark.parametrize('workers', [0, 2])
def test_sigterm_twice_mid_epoch_resumes_to_the_same_weights(
        synthetic_root, tmp_path, workers):
    # One epoch of 3 iterations, stopped after the first and the second;
    # the reference runs without workers. Each sample's augmentation is
    # seeded by (seed, epoch, index): which worker loads it, and whether
    # the epoch was resumed, does not matter.
    whole = tmp_path / 'whole'
    RobustRunner.from_cfg(_config(synthetic_root, whole, epochs=1)).train()
    runner = _stopped_and_resumed(synthetic_root, tmp_path / 'stopped', 1,
                                  stops=(1, 2), workers=workers)
    assert runner.iter == CLIPS // 2
    assert_same_weights(_weights(whole / 'epoch_1.pth'),
                        _weights(tmp_path / 'stopped' / 'epoch_1.pth'))
    # epoch_1.pth, complete, replaces the checkpoints saved on request.
    assert not list((tmp_path / 'stopped').glob('*_on_request.pth'))


@pytest.mark.slow
def test_resumes_at_an_epoch_end_and_after_validation_are_exact(
        synthetic_root, tmp_path):
    # Resumed from epoch_1.pth, saved before epoch 1's validation (which
    # the resumed run skips), and stopped after the last batch of epoch 1
    # and in epoch 2: validation does not move the generators.
    whole = tmp_path / 'whole'
    RobustRunner.from_cfg(_config(synthetic_root, whole, EPOCHS,
                            validate=True)).train()
    expected = _weights(whole / f'epoch_{EPOCHS}.pth')
    cfg = _config(synthetic_root, tmp_path / 'from_epoch_1', EPOCHS,
                  validate=True)
    cfg.load_from, cfg.resume = str(whole / 'epoch_1.pth'), True
    RobustRunner.from_cfg(cfg).train()
    assert_same_weights(
        expected, _weights(tmp_path / 'from_epoch_1' / f'epoch_{EPOCHS}.pth'))
    runner = _stopped_and_resumed(synthetic_root, tmp_path / 'stopped',
                                  EPOCHS, stops=(3, 4), validate=True)
    assert runner.iter == EPOCHS * CLIPS // 2
    assert_same_weights(
        expected, _weights(tmp_path / 'stopped' / f'epoch_{EPOCHS}.pth'))


@pytest.mark.parametrize('seed_samples', [True, False])
def test_mid_epoch_resume_with_workers_skips_and_warns_if_unseeded(
        synthetic_root, tmp_path, seed_samples):
    cfg = _config(synthetic_root, tmp_path, epochs=1)
    cfg.train_dataloader.num_workers = 1
    cfg.train_dataloader.sampler = dict(type='ResumableSampler',
                                        sampler=cfg.train_dataloader.sampler,
                                        seed_samples=seed_samples)
    loop = RobustRunner.from_cfg(cfg).train_loop
    loop._iter = 1  # as Runner.resume sets it from a checkpoint
    assert logged_warnings(loop._skip_trained_batches) == ([] if seed_samples
                                                            else [
        'Resuming at batch 2 of epoch 1 with 1 data-loader workers and '
        'ResumableSampler has seed_samples=False: the workers seed their '
        'random streams when they start, so random augmentation of the rest '
        'of this epoch differs from an uninterrupted run '
        '(train_dataloader.num_workers=0 resumes bit-exactly)'])
    assert loop.dataloader.batch_sampler.sampler.skip == 2
    assert len(list(loop.dataloader)) == 2  # the epoch's other 2 batches
    assert len(list(loop.dataloader)) == 3  # the next epoch: all 3


def test_mid_epoch_resume_without_a_sampler_config_is_refused(
        synthetic_root, tmp_path):
    runner = RobustRunner.from_cfg(_config(synthetic_root, tmp_path, epochs=1))
    built = DataLoader(runner.train_dataloader.dataset, batch_size=2,
                       collate_fn=pseudo_collate)
    loop = ResumableEpochBasedTrainLoop(runner, built, max_epochs=1)
    loop._iter = 1
    with pytest.raises(ValueError) as error:
        loop._skip_trained_batches()
    assert str(error.value) == (
        'cannot resume at iteration 1, batch 1 of epoch 1: '
        'ResumableEpochBasedTrainLoop skips trained batches through a '
        'ResumableSampler in a plain BatchSampler, and train_dataloader '
        'has BatchSampler of SequentialSampler; give train_dataloader a '
        'sampler config (not a built sampler) and no batch_sampler, or '
        'resume from an end-of-epoch checkpoint')


# --- tools/train.py processes: kill -9 and SIGTERM (slow) -----------------

def _tool_options(root, tmp_path, *extra):
    six = write_list(root, 'train', tmp_path / 'six.txt', CLIPS)
    return [*data_options(root, tmp_path, epochs=EPOCHS, validate=False),
            f'train_dataloader.dataset.ann_file={six}',
            'train_dataloader.num_workers=0',
            'train_dataloader.persistent_workers=False', *extra]


def _logged(work, text):
    return any(text in log.read_text() for log in work.glob('*/*.log'))


def _last_is(checkpoint):
    pointer = checkpoint.parent / 'last_checkpoint'
    return pointer.exists() and pointer.read_text() == str(checkpoint)


def _stop_when(command, work, ready, signum, timeout=240):
    """Run ``command``; send ``signum`` once ``ready()`` holds."""
    process = subprocess.Popen(command, cwd=REPO, env=environment(),
                               stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + timeout
        while not ready():
            assert process.poll() is None, process.stdout.read()[-3000:]
            assert time.time() < deadline, 'never ready for the signal'
            time.sleep(0.1)
        process.send_signal(signum)
        text = process.stdout.read()
        process.wait(timeout=120)
    finally:
        process.kill()
    return process.returncode, text


@pytest.mark.slow
def test_train_tool_killed_twice_mid_epoch_resumes_to_the_same_weights(
        synthetic_root, tmp_path):
    options = _tool_options(synthetic_root, tmp_path,
                            'default_hooks.checkpoint.interval=2',
                            'default_hooks.checkpoint.by_epoch=False')
    whole = tmp_path / 'whole'
    assert_ok(run(train_command(whole, *options)))
    work = tmp_path / 'killed'
    for step, resume in ((2, []), (4, ['--resume'])):
        code, _ = _stop_when(
            train_command(work, *options) + resume, work,
            functools.partial(_last_is, work / f'iter_{step}.pth'),
            signal.SIGKILL)
        assert code == -signal.SIGKILL
    result = run(train_command(work, *options) + ['--resume'])
    assert_ok(result)
    assert 'resumed epoch: 1, iter: 4' in output(result)
    assert sorted(p.name for p in work.glob('iter_*.pth')) == [
        'iter_4.pth', 'iter_6.pth']  # ends at 2 epochs x 3 iterations
    assert_same_weights(_weights(whole / 'iter_6.pth'),
                        _weights(work / 'iter_6.pth'))


@pytest.mark.slow
@pytest.mark.parametrize('signum', [signal.SIGTERM, signal.SIGUSR1])
def test_train_tool_stopped_by_a_signal_saves_and_resumes_exactly(
        synthetic_root, tmp_path, signum):
    options = _tool_options(synthetic_root, tmp_path)
    whole = tmp_path / 'whole'
    assert_ok(run(train_command(whole, *options)))
    work = tmp_path / 'stopped'
    code, text = _stop_when(train_command(work, *options), work,
                            lambda: _logged(work, '[1][1/3]'), signum)
    assert code == 128 + signum, text[-3000:]
    assert (work / 'last_checkpoint').is_file(), text[-3000:]
    saved = Path((work / 'last_checkpoint').read_text())
    assert saved.name in ('iter_1_on_request.pth', 'iter_2_on_request.pth')
    name = signal.Signals(signum).name
    assert [line for line in text.splitlines()
            if f'Stopped by {name}' in line] == [
        line for line in text.splitlines()
        if line.endswith(f'saved {saved}; --resume continues from it')]
    assert not list(work.glob('*.part-*'))
    result = run(train_command(work, *options) + ['--resume'])
    assert_ok(result)
    assert_same_weights(_weights(whole / f'epoch_{EPOCHS}.pth'),
                        _weights(work / f'epoch_{EPOCHS}.pth'))


def _ranks(launcher_pid):
    """The pids of the training processes torchrun started."""
    agent = Path(f'/proc/{launcher_pid}/task/{launcher_pid}/children')
    return [int(pid) for pid in agent.read_text().split()]


@pytest.mark.slow
def test_ddp_rank_stopped_by_sigterm_stops_all_ranks_and_resumes_exactly(
        synthetic_root, tmp_path):
    # Two gloo ranks; the signal reaches rank 1 only (as a preemption of
    # one task would): both stop after the same iteration.
    twelve = write_list(synthetic_root, 'train', tmp_path / 'twelve.txt',
                        2 * CLIPS)
    options = _tool_options(synthetic_root, tmp_path,
                            f'train_dataloader.dataset.ann_file={twelve}')

    def ddp(work):
        return train_command(
            work, *options, '--launcher', 'pytorch',
            tool=('-m', 'torch.distributed.run', '--nproc_per_node', '2',
                  '--master_port', str(free_port()), 'tools/train.py'))

    whole = tmp_path / 'whole'
    assert_ok(run(ddp(whole), timeout=600))
    work = tmp_path / 'stopped'
    process = subprocess.Popen(ddp(work), cwd=REPO,
                               env=environment(), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 300
        while not _logged(work, '[1][1/3]'):
            assert process.poll() is None, process.stdout.read()[-3000:]
            assert time.time() < deadline, 'never ready for the signal'
            time.sleep(0.1)
        ranks = sorted(_ranks(process.pid))
        assert len(ranks) == 2
        os.kill(ranks[1], signal.SIGTERM)
        text = process.stdout.read()
        process.wait(timeout=120)
    finally:
        process.kill()
    assert process.returncode != 0, text[-3000:]
    assert (work / 'last_checkpoint').is_file(), text[-3000:]
    saved = Path((work / 'last_checkpoint').read_text())
    assert saved.name.endswith('_on_request.pth')
    assert [line for line in text.splitlines()
            if 'Stopped by SIGTERM' in line] == [
        line for line in text.splitlines()
        if line.endswith(f'saved {saved}; --resume continues from it')]
    result = run(ddp(work) + ['--resume'], timeout=600)
    assert_ok(result)
    # Weights and BatchNorm statistics are the uninterrupted run's: each
    # rank resumes its own statistics (broadcast_buffers=False keeps them
    # apart until SyncBuffersHook averages them at the epoch's end).
    assert_same_weights(*(_weights(path / f'epoch_{EPOCHS}.pth')
                          for path in (whole, work)))


def test_each_rank_resumes_its_own_batchnorm_statistics(monkeypatch):
    from mmblvnet.engine import atomic_checkpoint_hook as module
    model = torch.nn.Sequential(torch.nn.BatchNorm1d(2))
    checkpoint = dict(state_dict=model.state_dict(), meta=dict(
        rank_buffers=[torch.tensor([0., 0., 1., 1.]),
                      torch.tensor([5., 6., 7., 8.])]))
    monkeypatch.setattr(module, 'get_world_size', lambda: 2)
    monkeypatch.setattr(module, 'get_rank', lambda: 1)
    module.use_own_rank_buffers(model, checkpoint)
    assert checkpoint['state_dict']['0.running_mean'].tolist() == [5., 6.]
    assert checkpoint['state_dict']['0.running_var'].tolist() == [7., 8.]
    assert checkpoint['state_dict']['0.num_batches_tracked'] == 0
