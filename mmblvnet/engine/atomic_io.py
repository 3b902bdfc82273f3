"""Writes that a crash cannot leave half done.

A file is written next to its destination as ``NAME.part-PID``, flushed to
disk, then renamed over ``NAME`` (a rename within one folder is atomic on
POSIX and Windows). A process killed at any point leaves either the old
``NAME`` or the new one, plus at worst a ``.part-PID`` file, which
:func:`remove_stale_parts` deletes once its process is gone. A file that
another library wrote to a draft path (an ONNX export) is moved into
place by :func:`publish`, which can also refuse to replace a file.
"""
import contextlib
import os
import os.path as osp
import stat
from typing import Callable, List, Union

from mmengine.fileio import LocalBackend, register_backend

PART_MARK = '.part-'
ATOMIC_BACKEND = 'atomic_local'


def _fsync_folder(folder: str) -> None:
    """Make a rename in ``folder`` durable (a no-op where unsupported)."""
    with contextlib.suppress(OSError):
        handle = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(handle)
        finally:
            os.close(handle)


def publish(draft: str, path: str, overwrite: bool) -> None:
    """Move the finished ``draft`` to ``path`` in one atomic step.

    Without ``overwrite`` a hard link creates ``path`` only if it does not
    exist (no window in which another writer's file could be replaced);
    with it, ``os.replace`` swaps the file. ``draft`` must be in the same
    folder as ``path``.

    Raises:
        FileExistsError: If ``path`` exists and ``overwrite`` is False.
    """
    if overwrite:
        os.replace(draft, path)
        return
    try:
        os.link(draft, path)
    except FileExistsError:
        raise FileExistsError(
            f'{path} exists; pass --overwrite to replace it') from None
    os.unlink(draft)


def check_destination(path: str, overwrite: bool) -> None:
    """Fail before any work if ``path`` cannot or must not be written."""
    if osp.exists(path) and not overwrite:
        raise FileExistsError(f'{path} exists; pass --overwrite to replace '
                              'it')
    folder = osp.dirname(osp.abspath(path))
    if not osp.isdir(folder):
        raise FileNotFoundError(f'{path}: folder {folder} does not exist')


def atomic_write_bytes(path: str, data: bytes) -> None:
    """Replace ``path`` by ``data`` all at once.

    Args:
        path (str): The destination; its folder must exist.
        data (bytes): The new content.

    Raises:
        OSError: If writing fails (a full disk, a file size limit); it
            names ``path`` (a failed ``write`` names no file), which is
            left as it was.
    """
    part = f'{path}{PART_MARK}{os.getpid()}'
    try:
        with open(part, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        publish(part, path, overwrite=True)
    except BaseException as error:
        if osp.exists(part):
            os.remove(part)
        if isinstance(error, OSError) and error.filename is None:
            raise OSError(
                error.errno, f'{error.strerror} (writing {len(data)} bytes; '
                'the file is left as it was)', path) from error
        raise
    _fsync_folder(osp.dirname(osp.abspath(path)))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):  # none of that id
        return False
    except PermissionError:  # another user's process
        pass
    return True


def remove_stale_parts(folder: str,
                       owned: Callable[[str], bool]) -> List[str]:
    """Delete the ``NAME.part-PID`` files of processes that no longer run.

    Only regular files whose ``NAME`` is one this program writes are
    deleted: a user's ``notes.txt.part-4000000`` or a folder stays.

    Args:
        folder (str): The folder to clean.
        owned (Callable[[str], bool]): Whether a ``NAME`` (without the
            ``.part-PID``) is one of the files written atomically there.

    Returns:
        list[str]: The paths removed.
    """
    removed = []
    if not osp.isdir(folder):
        return removed
    for name in sorted(os.listdir(folder)):
        target, mark, pid = name.rpartition(PART_MARK)
        path = osp.join(folder, name)
        if (mark and pid.isdigit() and owned(target)
                and stat.S_ISREG(os.lstat(path).st_mode)
                and not _alive(int(pid))):
            os.remove(path)
            removed.append(path)
    return removed


class AtomicLocalBackend(LocalBackend):
    """MMEngine's local file backend with an atomic ``put``, the writer of
    ``Runner.save_checkpoint``.

    Selected with ``backend_args=dict(backend='atomic_local')``, e.g. by
    ``AtomicCheckpointHook`` for the checkpoints it writes.
    """

    def put(self, obj: bytes, filepath: Union[str, os.PathLike]) -> None:
        """Write ``obj`` to ``filepath`` atomically."""
        filepath = str(filepath)
        os.makedirs(osp.dirname(osp.abspath(filepath)), exist_ok=True)
        atomic_write_bytes(filepath, obj)


def register_atomic_backend() -> None:
    """Add :class:`AtomicLocalBackend` to MMEngine's file backends as
    ``ATOMIC_BACKEND`` (a new name; the stock backends stay)."""
    register_backend(ATOMIC_BACKEND, AtomicLocalBackend, force=True)
