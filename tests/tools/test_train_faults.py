"""Faults during a ``tools/train.py`` run, provoked for real in a command:
each is one ``error:`` line naming the file, status 1, no traceback."""
import resource
import signal
import subprocess
import sys

import pytest
from helpers import REPO, data_options, environment, train_command

# Larger than a log or a list, smaller than a checkpoint of the demo model.
FILE_SIZE_LIMIT = 8 * 2**20


def _limit_file_size():
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG, not a kill
    resource.setrlimit(resource.RLIMIT_FSIZE,
                       (FILE_SIZE_LIMIT, FILE_SIZE_LIMIT))


def _error_lines(result):
    assert result.returncode == 1, result.stdout[-2000:] + result.stderr
    assert 'Traceback' not in result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines()
             if line.startswith('error: ')]
    assert len(lines) == 1, result.stderr[-3000:]
    return lines[0]


@pytest.mark.skipif(sys.platform != 'linux', reason='RLIMIT_FSIZE and '
                    'SIGXFSZ are those of Linux')
def test_checkpoint_write_beyond_the_space_names_the_file(synthetic_root,
                                                          tmp_path):
    # A file size limit stands for a full disk (a tmpfs needs root): both
    # fail the write of the checkpoint's part file with an errno and no
    # file name.
    work = tmp_path / 'work'
    result = subprocess.run(
        train_command(work, *data_options(synthetic_root, tmp_path,
                                          validate=False)),
        cwd=REPO, env=environment(), capture_output=True, text=True,
        timeout=300, preexec_fn=_limit_file_size)
    assert _error_lines(result).startswith(
        f'error: {work / "epoch_1.pth"}: File too large (writing ')
    assert result.stderr.rstrip().endswith(
        'bytes; the file is left as it was)')
    assert not (work / 'epoch_1.pth').exists()
    assert not list(work.glob('*.part-*'))


@pytest.mark.parametrize('workers', [0, 2])
def test_unreadable_video_in_training_is_one_error_line(
        synthetic_root, tmp_path, workers):
    work = tmp_path / 'work'
    listed = tmp_path / 'train.txt'
    options = data_options(synthetic_root, tmp_path, validate=False)
    lines = listed.read_text().splitlines()
    lines[3] = 'train/gone.mp4 ' + lines[3].split()[-1]
    listed.write_text('\n'.join(lines) + '\n')
    result = subprocess.run(
        train_command(work, *options,
                      f'train_dataloader.num_workers={workers}',
                      f'train_dataloader.persistent_workers={workers > 0}',
                      'train_dataloader.sampler.shuffle=False'),
        cwd=REPO, env=environment(), capture_output=True, text=True,
        timeout=300)
    assert _error_lines(result).startswith(
        f'error: cannot read {synthetic_root}/videos/train/gone.mp4 '
        f'({listed}, line 4): file not found')
