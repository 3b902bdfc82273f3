"""Which files a checkpoint hook may delete: only its own checkpoints.

MMEngine's ``CheckpointHook`` deletes paths it reads back from a resumed
checkpoint (``message_hub.runtime_info.best_ckpt``, ``keep_ckpt_ids``),
directories included. A checkpoint edited by someone else, or copied
from another run, could thus make a run delete any file or folder. Here a
path is deleted only when it is a regular file (not a folder, not a
symbolic link) directly inside the checkpoint folder and its name is one
the hook gives its checkpoints: ``filename_tmpl`` with a step number
(``epoch_3.pth``) or a best checkpoint of it (``best_acc_top1_epoch_3.pth``).
"""
import logging
import os
import os.path as osp
import re
import stat
import string
from contextlib import contextmanager
from typing import Iterator, List, Optional

from mmengine.logging import print_log


def checkpoint_name_pattern(filename_tmpl: str) -> 're.Pattern[str]':
    """Names of the checkpoints a hook with ``filename_tmpl`` writes.

    Args:
        filename_tmpl (str): E.g. ``'epoch_{}.pth'``; every replacement
            field stands for a step number.

    Returns:
        re.Pattern: Matches ``epoch_12.pth`` and ``best_<key>_epoch_12.pth``
        (the name of MMEngine's best checkpoints), nothing else.
    """
    return re.compile(rf'(?:best_[^/]+_)?{_step_name(filename_tmpl)}')


def _step_name(filename_tmpl: str) -> str:
    """The regular expression of ``filename_tmpl``'s names, the step
    number of the first field in the group ``step``."""
    parts, step = [], r'(?P<step>\d+)'
    for literal, field, _, _ in string.Formatter().parse(filename_tmpl):
        parts.append(re.escape(literal))
        if field is not None:
            parts.append(step)
            step = r'\d+'  # later fields: any number, not captured
    return ''.join(parts)


def _regular_files(folder: str, pattern: 're.Pattern[str]'):
    """``(match, path)`` of the regular files (no folders, no links)
    directly in the local ``folder`` whose names match ``pattern``."""
    for entry in os.scandir(folder) if osp.isdir(folder) else ():
        match = pattern.fullmatch(entry.name)
        if match is not None and entry.is_file(follow_symlinks=False):
            yield match, entry.path


def step_checkpoints(folder: str, filename_tmpl: str) -> List[tuple]:
    """The checkpoints named by ``filename_tmpl`` in the local ``folder``.

    Returns:
        list[tuple]: ``(step, path)`` sorted by step.
    """
    pattern = re.compile(_step_name(filename_tmpl))
    return sorted((int(match['step']), path)
                  for match, path in _regular_files(folder, pattern))


def best_checkpoints(folder: str, filename_tmpl: str) -> List[tuple]:
    """The best checkpoints a hook with ``filename_tmpl`` left in the
    local ``folder``.

    Returns:
        list[tuple]: ``(key, step, path)`` sorted by step, ``key`` as in
        the name (``acc_top1`` for ``best_acc_top1_epoch_3.pth``).
    """
    pattern = re.compile(rf'best_(?P<key>[^/]+)_{_step_name(filename_tmpl)}')
    return sorted(((match['key'], int(match['step']), path)
                   for match, path in _regular_files(folder, pattern)),
                  key=lambda item: item[1])


def _same_folder(path: str, folder: str) -> bool:
    if '://' in folder:
        return path.rsplit('/', 1)[0] == folder.rstrip('/')
    return osp.realpath(osp.dirname(osp.abspath(path))) == osp.realpath(
        folder)


def refusal(path: str, folder: str, pattern: 're.Pattern[str]',
            backend=None) -> Optional[str]:
    """Why ``path`` is not a checkpoint of ``folder`` that may be deleted.

    Args:
        path (str): The path to delete.
        folder (str): The hook's checkpoint folder (``out_dir``).
        pattern (re.Pattern): Names of its checkpoints.
        backend (optional): MMEngine file backend, for a remote ``folder``.

    Returns:
        str, optional: The reason, None when ``path`` may be deleted.
    """
    path = str(path)
    name = path.replace('\\', '/').rsplit('/', 1)[-1]
    if not _same_folder(path, folder):
        return f'it is not directly inside the checkpoint folder {folder}'
    if pattern.fullmatch(name) is None:
        return (f'its name is not one of this run\'s checkpoints '
                f'({pattern.pattern})')
    if '://' in folder:
        return None if backend.isfile(path) else 'it is not a file'
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return 'it does not exist'
    if not stat.S_ISREG(mode):
        return 'it is not a regular file (a folder or a link)'
    return None


class OwnedRemoval:
    """A file backend whose ``remove`` only deletes the hook's own files.

    Wraps MMEngine's file backend of a checkpoint hook: ``remove`` deletes
    a path only when :func:`refusal` finds nothing against it, otherwise
    it logs a warning naming the path and the reason; ``rmtree`` never
    deletes (a checkpoint is a file). Inside :meth:`deferred` removals
    wait until the block ends without an error. Everything else is the
    wrapped backend's.

    Args:
        backend: The wrapped MMEngine file backend.
        hook: The checkpoint hook; its ``out_dir`` and ``filename_tmpl``
            are read at each removal.
    """

    def __init__(self, backend, hook) -> None:
        self.backend = backend
        self._hook = hook
        self._pending: Optional[List[str]] = None

    def _refusal(self, path: str) -> Optional[str]:
        return refusal(path, str(self._hook.out_dir),
                       checkpoint_name_pattern(self._hook.filename_tmpl),
                       self.backend)

    def remove(self, path: str) -> None:
        """Delete ``path`` if it is one of the hook's checkpoints."""
        if self._pending is not None:
            self._pending.append(path)
            return
        reason = self._refusal(path)
        if reason is None:
            self.backend.remove(path)
        elif reason != 'it does not exist':
            print_log(f'Not deleting {path}: {reason}', logger='current',
                      level=logging.WARNING)

    def rmtree(self, path: str) -> None:
        """Never delete a folder; log a warning naming it."""
        print_log(f'Not deleting the folder {path}: a checkpoint hook '
                  'deletes only its own checkpoint files', logger='current',
                  level=logging.WARNING)

    @contextmanager
    def deferred(self) -> Iterator[None]:
        """Hold back removals until the block ends without an error."""
        self._pending = []
        try:
            yield
            pending = self._pending
        finally:
            self._pending = None
        for path in pending:
            self.remove(path)

    def __getattr__(self, name: str):
        return getattr(self.backend, name)
