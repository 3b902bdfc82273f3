"""One run per work dir, with real processes: a second ``tools/train.py``
into a busy work dir is refused; a killed run leaves no lock behind."""
import signal
import subprocess
import time

from helpers import REPO, data_options, environment, output, run, train_command

from mmblvnet.utils.work_dir_lock import LOCK_NAME, lock_work_dir


def _wait_for_holder(lock, process, timeout=120):
    deadline = time.time() + timeout
    while not (lock.exists() and lock.read_text()):
        assert process.poll() is None, 'the first run ended early'
        assert time.time() < deadline, 'the first run never took the lock'
        time.sleep(0.2)
    return lock.read_text()


def test_second_run_is_refused_and_a_killed_run_leaves_no_lock(
        synthetic_root, tmp_path):
    work = tmp_path / 'work'
    options = data_options(synthetic_root, tmp_path, epochs=50,
                           validate=False)
    first = subprocess.Popen(train_command(work, *options), cwd=REPO,
                             env=environment(), stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        holder = _wait_for_holder(work / LOCK_NAME, first)
        assert holder.startswith(f'PID {first.pid} on ')
        second = run(train_command(work, *options))
        assert first.poll() is None
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    assert second.returncode == 1, output(second)
    lines = second.stderr.strip().splitlines()
    assert lines[-1] == (
        f'error: {work}: another training run ({holder}) is using this '
        f'work dir (it holds {work / LOCK_NAME}); wait for it to end or '
        'stop it, or give this run another --work-dir')
    assert 'Traceback' not in output(second)
    # The kernel released the killed run's lock; its description is left.
    assert lock_work_dir(str(work)) == holder
