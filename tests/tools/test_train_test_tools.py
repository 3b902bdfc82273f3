"""Training and testing through MMEngine's runner with the tools.

Every test runs on the tiny synthetic data set of ``conftest.py`` and the
demo config (bLVNet-TAM-50, 8 frames at 64x64), as a user would: the
tools' command lines, ``mim``, ``torchrun`` and a real SIGKILL.
"""
import os
import pickle
import signal
import subprocess
import sys

import pytest
import torch
from helpers import (
    DEMO,
    REPO,
    assert_ok,
    free_port,
    load_tool,
    run,
    wait_for,
)
from helpers import data_options as few_clip_options
from mmengine.config import Config

from mmblvnet import quickstart
from mmblvnet.engine.robust_runner import fit_to_machine

mmaction_tool = load_tool('tools/mmaction_tool.py')


def data_options(root, epochs=1, batch_size=4, validate=True):
    """``--cfg-options`` pointing the demo config at ``root``."""
    options = [f'train_cfg.max_epochs={epochs}',
               f'train_dataloader.batch_size={batch_size}',
               'default_hooks.logger.interval=1']
    loaders = [('train_dataloader', 'train'), ('test_dataloader', 'val')]
    if validate:
        loaders.append(('val_dataloader', 'val'))
    for loader, split in loaders:
        options += [
            f'{loader}.dataset.ann_file={root}/{split}_list_videos.txt',
            f'{loader}.dataset.data_prefix.video={root}/videos']
    return options


def test_quickstart_generates_trains_tests_and_reports(tmp_path, capsys):
    metrics = quickstart.run([
        '--data-root', str(tmp_path / 'data'), '--work-dir',
        str(tmp_path / 'work'), '--clips-per-class', '3', '--epochs', '1'])
    assert 0 <= metrics['acc/top1'] <= 1
    out = capsys.readouterr().out
    assert 'held-out top-1' in out and 'checkpoint:' in out
    assert (tmp_path / 'work' / 'epoch_1.pth').is_file()
    assert (tmp_path / 'data' / 'meta.json').is_file()


def test_train_then_test_tools_with_dump(tmp_path, synthetic_root):
    work = tmp_path / 'work'
    options = data_options(synthetic_root)
    assert_ok(run([sys.executable, 'tools/train.py', str(DEMO),
                   '--work-dir', str(work), '--cfg-options', *options]))
    checkpoint = work / 'epoch_1.pth'
    assert checkpoint.is_file()
    dump = tmp_path / 'predictions.pkl'
    result = run([sys.executable, 'tools/test.py', str(DEMO),
                  str(checkpoint), '--work-dir', str(work), '--dump',
                  str(dump), '--cfg-options', *options])
    assert_ok(result)
    assert 'acc/top1' in result.stdout + result.stderr
    with open(dump, 'rb') as f:
        predictions = pickle.load(f)
    assert len(predictions) == 6  # one val clip per class


def test_mim_train_and_test(tmp_path, synthetic_root):
    work = tmp_path / 'work'
    options = data_options(synthetic_root)
    assert_ok(run(['mim', 'train', 'mmaction', str(DEMO), '--work-dir',
                   str(work), '--cfg-options', *options]))
    result = run(['mim', 'test', 'mmaction', str(DEMO), '--checkpoint',
                  str(work / 'epoch_1.pth'), '--work-dir', str(work),
                  '--cfg-options', *options])
    assert_ok(result)
    assert 'acc/top1' in result.stdout + result.stderr


def test_ddp_with_gloo_on_two_cpu_processes(tmp_path, synthetic_root):
    work = tmp_path / 'work'
    options = data_options(synthetic_root, batch_size=2)
    assert_ok(run(['bash', 'tools/dist_train.sh', str(DEMO), '2',
                   '--work-dir', str(work), '--cfg-options', *options],
                  PORT=str(free_port())))
    log = next(work.glob('*/*.log')).read_text()
    assert 'Distributed training: True' in log
    result = run(['bash', 'tools/dist_test.sh', str(DEMO),
                  str(work / 'epoch_1.pth'), '2', '--work-dir', str(work),
                  '--cfg-options', *options],
                 PORT=str(free_port()))
    assert_ok(result)
    assert 'acc/top1' in result.stdout + result.stderr


def test_killed_run_resumes_from_its_last_checkpoint(tmp_path,
                                                     synthetic_root):
    work = tmp_path / 'work'
    command = [sys.executable, 'tools/train.py', str(DEMO), '--work-dir',
               str(work), '--no-validate', '--cfg-options',
               *data_options(synthetic_root, epochs=3, batch_size=2,
                             validate=False)]
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONWARNINGS='ignore')
    process = subprocess.Popen(command, cwd=REPO, env=env,
                               stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        wait_for(work / 'epoch_1.pth', process)
        wait_for(work / 'last_checkpoint', process)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        process.kill()
    assert not (work / 'epoch_3.pth').exists()
    result = run(command + ['--resume'])
    assert_ok(result)
    assert 'resumed' in (result.stdout + result.stderr).lower()
    assert (work / 'epoch_3.pth').is_file()
    checkpoint = torch.load(work / 'epoch_3.pth', weights_only=True)
    assert checkpoint['meta']['epoch'] == 3


def test_runner_checkpoint_loads_with_weights_only(tmp_path,
                                                   synthetic_root):
    work = tmp_path / 'work'
    assert_ok(run([sys.executable, 'tools/train.py', str(DEMO),
                   '--work-dir', str(work), '--cfg-options',
                   *data_options(synthetic_root)]))
    checkpoint = torch.load(work / 'epoch_1.pth', weights_only=True)
    assert {'meta', 'state_dict', 'message_hub', 'optimizer'} <= set(
        checkpoint)


def test_cpu_distributed_launch_uses_gloo_and_device_less_ddp(
        monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    cfg = Config.fromfile(str(DEMO))
    cfg.launcher = 'pytorch'
    fit_to_machine(cfg)
    assert cfg.env_cfg.dist_cfg.backend == 'gloo'
    assert cfg.model_wrapper_cfg.device_ids is None


def test_tools_are_mmaction2s_with_every_flag():
    """The tools run MMAction2's own scripts: same flags, e.g. the
    visualisation flags of tools/test.py."""
    for name in mmaction_tool.TOOLS:
        tool = mmaction_tool.load_mmaction_tool(name)
        assert tool.Runner is tool.RUNNERS is mmaction_tool._Runners
        assert 'mmaction' in tool.__file__
    result = run([sys.executable, 'tools/test.py', '--help'])
    assert_ok(result)
    for flag in ('--dump', '--show', '--show-dir', '--interval',
                 '--wait-time', '--launcher', '--cfg-options'):
        assert flag in result.stdout


def test_amp_on_cpu_is_one_error_line(monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    assert mmaction_tool.train([str(DEMO), '--amp']) == 1
    err = capsys.readouterr().err
    assert err.startswith('error: --amp needs CUDA')
    assert len(err.splitlines()) == 1


def bad_checkpoint(tmp_path, kind, good=None):
    """A checkpoint file that is missing, empty, cut short or not a dict."""
    path = tmp_path / f'{kind}.pth'
    if kind == 'empty':
        path.write_bytes(b'')
    elif kind == 'truncated':
        data = good.read_bytes()
        path.write_bytes(data[:len(data) // 2])
    elif kind == 'tensor':
        torch.save(torch.zeros(3), path)
    return path


@pytest.fixture(scope='module')
def trained(synthetic_root, tmp_path_factory):
    """A checkpoint of one tiny training epoch, and the options used."""
    root = tmp_path_factory.mktemp('tools')
    options = few_clip_options(synthetic_root, root, validate=False)
    work = root / 'work'
    assert_ok(run([sys.executable, 'tools/train.py', str(DEMO), '--work-dir',
                   str(work), '--no-validate', '--cfg-options', *options]))
    return work / 'epoch_1.pth', options


@pytest.mark.parametrize('kind,reason', [
    ('missing', 'no such checkpoint file'),
    ('empty', 'the file is empty (0 bytes)'),
    ('truncated', 'not a PyTorch checkpoint or truncated'),
    ('tensor', 'holds a Tensor, not a checkpoint'),
])
def test_bad_checkpoint_to_test_tool_is_one_error_line(
        trained, tmp_path, capsys, kind, reason):
    checkpoint = bad_checkpoint(tmp_path, kind, good=trained[0])
    status = mmaction_tool.test([
        str(DEMO), str(checkpoint), '--work-dir', str(tmp_path / 'work'),
        '--cfg-options', *trained[1]])
    err = capsys.readouterr().err
    assert status == 1
    line = [text for text in err.splitlines() if text.startswith('error:')]
    assert len(line) == 1 and line[0].startswith(f'error: {checkpoint}: ')
    assert reason in line[0]
    assert 'Traceback' not in err


def test_bad_checkpoint_command_exits_1_and_debug_shows_traceback(
        trained, tmp_path):
    checkpoint = bad_checkpoint(tmp_path, 'empty')
    command = [sys.executable, 'tools/test.py', str(DEMO), str(checkpoint),
               '--work-dir', str(tmp_path / 'work'), '--cfg-options',
               *trained[1]]
    result = run(command)
    assert result.returncode == 1
    assert f'error: {checkpoint}: ' in result.stderr
    assert 'Traceback' not in result.stderr
    result = run(command + ['--debug'])
    assert result.returncode == 1
    assert 'Traceback' in result.stderr
    assert 'CheckpointFileError' in result.stderr


def test_slurm_scripts_run_the_tools_with_the_slurm_launcher(tmp_path):
    """A stand-in ``srun`` records the command the scripts submit."""
    record = tmp_path / 'srun_args'
    srun = tmp_path / 'bin' / 'srun'
    srun.parent.mkdir()
    srun.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {record}\n')
    srun.chmod(0o755)
    path = f'{srun.parent}:{os.environ["PATH"]}'
    result = run(['bash', 'tools/slurm_train.sh', 'gpu', 'job', str(DEMO),
                  '--work-dir', 'w'], PATH=path, GPUS='16')
    assert_ok(result)
    args = record.read_text().splitlines()
    assert args[:4] == ['-p', 'gpu', '--job-name=job', '--gres=gpu:8']
    assert '--ntasks=16' in args and '--ntasks-per-node=8' in args
    assert args[-6:] == ['tools/train.py', str(DEMO), '--launcher', 'slurm',
                         '--work-dir', 'w']
    assert_ok(run(['bash', 'tools/slurm_test.sh', 'gpu', 'job', str(DEMO),
                   'w.pth', '--dump', 'p.pkl'], PATH=path))
    args = record.read_text().splitlines()
    assert args[-6:] == [str(DEMO), 'w.pth', '--launcher', 'slurm',
                         '--dump', 'p.pkl']
