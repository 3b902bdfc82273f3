"""Issue 17: checkpoint clean-up deletes only the run's own checkpoints.

MMEngine's CheckpointHook deletes paths read back from a resumed
checkpoint (``best_ckpt``, ``keep_ckpt_ids``), folders included; the
part-file clean-up deleted any ``*.part-PID`` file. Each test provokes
the case for real and checks that nothing else is gone.
"""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers import tiny_config

from mmblvnet.engine import AtomicCheckpointHook, RobustRunner
from mmblvnet.engine.atomic_checkpoint_hook import (
    OwnedRemoval,
    checkpoint_name_pattern,
    refusal,
)
from mmblvnet.engine.atomic_io import remove_stale_parts


def dead_pid():
    process = subprocess.Popen([sys.executable, '-c', 'pass'])
    process.wait()
    return process.pid


def victim_folder(tmp_path):
    victim = tmp_path / 'precious'
    victim.mkdir()
    (victim / 'thesis.tex').write_text('years of work')
    return victim


def edit_runtime_info(path, **info):
    checkpoint = torch.load(path)
    checkpoint['message_hub']['runtime_info'].update(info)
    torch.save(checkpoint, path)


@pytest.fixture(scope='module')
def first_epoch(synthetic_root, tmp_path_factory):
    """``epoch_1.pth`` of a one-epoch run (its message hub to edit)."""
    work = tmp_path_factory.mktemp('first_epoch')
    RobustRunner.from_cfg(tiny_config(synthetic_root, work)).train()
    return work / 'epoch_1.pth'


def resuming_runner(root, work, checkpoint, **kwargs):
    cfg = tiny_config(root, work, epochs=2, **kwargs)
    cfg.load_from = str(checkpoint)
    cfg.resume = True
    return RobustRunner.from_cfg(cfg)


def log_of(runner):
    return (Path(runner.log_dir) / f'{runner.timestamp}.log').read_text()


def test_resumed_best_ckpt_outside_the_work_dir_is_never_deleted(
        synthetic_root, first_epoch, tmp_path):
    work = tmp_path / 'work'
    work.mkdir()
    shutil.copy(first_epoch, work)
    victim = victim_folder(tmp_path)
    # A score every epoch beats, and a best checkpoint that is a folder
    # outside the run.
    edit_runtime_info(work / 'epoch_1.pth', best_ckpt=str(victim),
                      best_score=-1.0)
    runner = resuming_runner(synthetic_root, work, work / 'epoch_1.pth',
                             validate=True)
    runner.train()
    assert (victim / 'thesis.tex').read_text() == 'years of work'
    assert list(work.glob('best_*epoch_2.pth'))
    log = log_of(runner)
    assert f'Ignoring the best checkpoint {victim}' in log
    assert 'is not directly inside the checkpoint folder' in log


def test_resume_takes_the_newest_best_on_disk_and_removes_older_ones(
        synthetic_root, first_epoch, tmp_path):
    # Killed (or out of disk) after best_..._epoch_1.pth was written but
    # before epoch_1.pth was saved again naming it: the resumed checkpoint
    # still names the previous best.
    work = tmp_path / 'work'
    work.mkdir()
    shutil.copy(first_epoch, work)
    best = {step: work / f'best_acc_top1_epoch_{step}.pth'
            for step in (0, 1, 5)}
    for step, score in ((0, 0.25), (1, 2.0), (5, 3.0)):
        shutil.copy(first_epoch, best[step])
        edit_runtime_info(best[step], best_ckpt=str(best[step]),
                          best_score=score)
    edit_runtime_info(work / 'epoch_1.pth', best_ckpt=str(best[0]),
                      best_score=0.25)
    runner = resuming_runner(synthetic_root, work, work / 'epoch_1.pth',
                             validate=True)
    runner.train()
    # Epoch 2 cannot beat 2.0 (an accuracy): no new best; the older one is
    # gone, the one after the resumed epoch (an abandoned future) stays.
    assert sorted(path.name for path in work.glob('best_*')) == [
        best[1].name, best[5].name]
    assert runner.message_hub.get_info('best_score') == 2.0
    log = log_of(runner)
    assert (f'Resumed checkpoint names {best[0]} as the best; {best[1]} '
            '(best_score 2.0000) was saved after it and is the best') in log
    assert f'Removed {best[0]}, a best checkpoint replaced by' in log


def test_resumed_keep_ckpt_ids_delete_only_checkpoint_files(
        synthetic_root, first_epoch, tmp_path):
    work = tmp_path / 'work'
    work.mkdir()
    shutil.copy(first_epoch, work)
    # A folder and a link named like checkpoints, and a real old one.
    (work / 'epoch_7.pth').mkdir()
    (work / 'epoch_7.pth' / 'data').write_text('kept')
    victim = victim_folder(tmp_path)
    (work / 'epoch_8.pth').symlink_to(victim / 'thesis.tex')
    shutil.copy(first_epoch, work / 'epoch_9.pth')
    edit_runtime_info(work / 'epoch_1.pth', keep_ckpt_ids=[7, 8, 9, 1])
    runner = resuming_runner(synthetic_root, work, work / 'epoch_1.pth')
    runner.load_or_resume()
    hook = next(hook for hook in runner.hooks
                if isinstance(hook, AtomicCheckpointHook))
    hook.max_keep_ckpts = 1
    hook.before_train(runner)  # MMEngine deletes beyond max_keep_ckpts
    # Fails loudly if MMEngine stops assigning CheckpointHook.file_backend
    # (through which every deletion of the hook is checked).
    assert isinstance(hook.file_backend, OwnedRemoval)
    assert (work / 'epoch_7.pth' / 'data').read_text() == 'kept'
    assert (work / 'epoch_8.pth').is_symlink()
    assert (victim / 'thesis.tex').read_text() == 'years of work'
    assert not (work / 'epoch_9.pth').exists()  # the run's own, outdated
    assert (work / 'epoch_1.pth').exists()
    log = log_of(runner)
    assert f'Not deleting the folder {work}/epoch_7.pth' in log
    assert f'Not deleting {work}/epoch_8.pth: it is not a regular file' in log


def test_user_files_named_like_part_files_are_kept(tmp_path):
    pid = dead_pid()
    notes = tmp_path / f'notes.txt.part-{pid}'
    notes.write_text('mine')
    folder = tmp_path / f'epoch_2.pth.part-{pid}'
    folder.mkdir()
    stale = tmp_path / f'epoch_3.pth.part-{pid}'
    stale.write_bytes(b'half a checkpoint')
    owned = checkpoint_name_pattern('epoch_{}.pth').fullmatch
    assert remove_stale_parts(str(tmp_path), owned) == [str(stale)]
    assert notes.read_text() == 'mine'
    assert folder.is_dir()


def test_part_files_of_a_user_are_kept_by_a_training_run(
        synthetic_root, tmp_path):
    pid = dead_pid()
    notes = tmp_path / f'notes.txt.part-{pid}'
    notes.write_text('mine')
    stale = tmp_path / f'last_checkpoint.part-{pid}'
    stale.write_text('half')
    runner = RobustRunner.from_cfg(tiny_config(synthetic_root, tmp_path))
    runner.load_or_resume()
    next(hook for hook in runner.hooks
         if isinstance(hook, AtomicCheckpointHook)).before_train(runner)
    assert notes.read_text() == 'mine'
    assert not stale.exists()


def test_names_and_places_a_hook_may_delete(tmp_path):
    pattern = checkpoint_name_pattern('iter_{:06d}.pth')
    for name in ('iter_000010.pth', 'best_acc_top1_iter_000010.pth'):
        assert pattern.fullmatch(name)
        (tmp_path / name).write_bytes(b'x')
        assert refusal(str(tmp_path / name), str(tmp_path), pattern) is None
    for name in ('iter_x.pth', 'notes.pth', 'iter_10.pth.bak'):
        assert not pattern.fullmatch(name)
    (tmp_path / 'sub').mkdir()
    (tmp_path / 'sub' / 'iter_000010.pth').write_bytes(b'x')
    assert 'not directly inside' in refusal(
        str(tmp_path / 'sub' / 'iter_000010.pth'), str(tmp_path), pattern)
    assert 'not directly inside' in refusal(
        str(tmp_path / 'sub' / '..' / '..' / 'iter_000010.pth'),
        str(tmp_path), pattern)
