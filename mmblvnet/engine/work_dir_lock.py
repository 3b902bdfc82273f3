"""One training run per work dir: an OS-level lock on a file in it.

Two runs in one work dir would interleave their logs and overwrite each
other's checkpoints. ``RobustRunner.train`` therefore holds an exclusive
POSIX record lock (``fcntl.lockf``) on ``<work_dir>/.train.lock`` while it
runs. The kernel releases it when the process ends in any way (also
``kill -9``), so a lock is never left behind. Unlike ``flock``, the lock
belongs to the process and not to the open file, so data-loader workers
(forked, and outliving a killed parent by a few seconds) do not hold it.
The file keeps the holder's description; a description found without a
holder is reported as the lock of a run that did not end cleanly.
"""
import atexit
import fcntl
import os
import os.path as osp
import socket
import time
from typing import Optional

LOCK_NAME = '.train.lock'
# Environment variables naming a process's rank under torchrun, Slurm and
# MPI: only the first process of a run takes the lock.
RANK_VARIABLES = ('RANK', 'SLURM_PROCID', 'OMPI_COMM_WORLD_RANK')


class WorkDirLockedError(OSError):
    """Another run holds the work dir."""


def _first_process() -> bool:
    return all(os.environ.get(name, '0') == '0' for name in RANK_VARIABLES)


def lock_work_dir(work_dir: str) -> Optional[str]:
    """Hold the work dir's lock until this process ends.

    Args:
        work_dir (str): The run's work dir (created if missing).

    Returns:
        str, optional: The description left by a run that held the lock
        and did not end cleanly (killed), else None.

    Raises:
        WorkDirLockedError: If another process holds the lock; the message
            names the work dir and that process.
    """
    if not _first_process():
        return None
    os.makedirs(work_dir, exist_ok=True)
    path = osp.join(work_dir, LOCK_NAME)
    handle = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.lockf(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:  # EACCES or EAGAIN: another process holds it
        holder = os.pread(handle, 500, 0).decode(errors='replace').strip()
        os.close(handle)
        raise WorkDirLockedError(
            f'{work_dir}: another training run ({holder or "unknown"}) is '
            f'using this work dir (it holds {path}); wait for it to end or '
            'stop it, or give this run another --work-dir') from None
    stale = os.pread(handle, 500, 0).decode(errors='replace').strip()
    os.ftruncate(handle, 0)
    os.pwrite(handle, (f'PID {os.getpid()} on {socket.gethostname()}, '
                       f'started {time.strftime("%Y-%m-%d %H:%M:%S")}'
                       ).encode(), 0)
    atexit.register(_release, handle)
    return stale or None


def _release(handle: int) -> None:
    """Empty the lock file (a clean end) and release the lock."""
    os.ftruncate(handle, 0)
    os.close(handle)
