"""One run per work dir, with real processes: a second run into a busy
work dir is refused with one line under ``tools/train.py`` and under
``mim train`` alike (``RobustRunner`` takes the lock); a killed run leaves
no lock behind."""
import os
import signal
import subprocess
import time

import pytest
from helpers import REPO, data_options, environment, output, run, train_command

from mmblvnet.engine.work_dir_lock import LOCK_NAME, lock_work_dir

TOOLS = {
    'tools/train.py': ('tools/train.py', ),
    'mim train': ('-m', 'mim', 'train', 'mmaction'),
}


def _wait_for_holder(lock, process, timeout=120):
    deadline = time.time() + timeout
    while not (lock.exists() and lock.read_text()):
        assert process.poll() is None, 'the first run ended early'
        assert time.time() < deadline, 'the first run never took the lock'
        time.sleep(0.2)
    return lock.read_text()


@pytest.mark.parametrize('tool', TOOLS)
def test_second_run_is_refused_and_a_killed_run_leaves_no_lock(
        tool, synthetic_root, tmp_path):
    work = tmp_path / 'work'
    options = data_options(synthetic_root, tmp_path, epochs=50,
                           validate=False)
    command = train_command(work, *options, tool=TOOLS[tool])
    first = subprocess.Popen(command, cwd=REPO, env=environment(),
                             stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL,
                             start_new_session=True)
    try:
        holder = _wait_for_holder(work / LOCK_NAME, first)
        assert holder.startswith('PID ')
        second = run(command)
        assert first.poll() is None
    finally:
        os.killpg(first.pid, signal.SIGKILL)  # mim's training child too
        first.wait(timeout=30)
    assert second.returncode != 0, output(second)
    refusal = (
        f'error: {work}: another training run ({holder}) is using this '
        f'work dir (it holds {work / LOCK_NAME}); wait for it to end or '
        'stop it, or give this run another --work-dir')
    assert refusal in second.stderr.strip().splitlines()
    # The training process prints the one line; mim then shows its own
    # traceback of the failed child (CalledProcessError), as for any error.
    tracebacks = output(second).split('Traceback')[1:]
    assert len(tracebacks) == (tool == 'mim train')
    assert all('CalledProcessError' in text for text in tracebacks)
    # The kernel released the killed run's lock; its description is left.
    time.sleep(1)
    assert lock_work_dir(str(work)) == holder
