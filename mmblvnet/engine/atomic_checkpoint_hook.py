"""A checkpoint hook that a kill at any moment cannot make lose data, and
that deletes nothing but its own checkpoints (:class:`AtomicCheckpointHook`).
"""
import logging
import os
import os.path as osp
import re
import stat
import string
from contextlib import contextmanager
from typing import Iterator, List, Optional

import torch
from mmaction.registry import HOOKS
from mmengine.dist import (
    all_gather,
    get_rank,
    get_world_size,
    is_main_process,
)
from mmengine.hooks import CheckpointHook
from mmengine.logging import print_log
from torch import nn

from .atomic_io import ATOMIC_BACKEND, atomic_write_bytes, remove_stale_parts
from .check_hooks import runner_model
from .checkpoint_integrity import load_checked

# The name of a checkpoint saved on request (a preemption signal), outside
# the interval and the max_keep_ckpts rotation.
ON_REQUEST_TMPL = 'iter_{}_on_request.pth'


def _is_local(path: Optional[str]) -> bool:
    return path is None or '://' not in str(path)


def checkpoint_name_pattern(filename_tmpl: str) -> 're.Pattern[str]':
    """Names of the checkpoints a hook with ``filename_tmpl`` writes.

    Args:
        filename_tmpl (str): E.g. ``'epoch_{}.pth'``; every replacement
            field stands for a step number.

    Returns:
        re.Pattern: Matches ``epoch_12.pth`` and ``best_<key>_epoch_12.pth``
        (MMEngine's best checkpoints), nothing else; the groups ``key``
        (None but for a best one) and ``step`` (the first field's number).
    """
    parts, step = [], r'(?P<step>\d+)'
    for literal, field, _, _ in string.Formatter().parse(filename_tmpl):
        parts.append(re.escape(literal))
        if field is not None:
            parts.append(step)
            step = r'\d+'  # later fields: any number, not captured
    return re.compile(rf'(?:best_(?P<key>[^/]+)_)?{"".join(parts)}')


def owned_checkpoints(folder: str, filename_tmpl: str) -> List[tuple]:
    """The checkpoints of ``filename_tmpl`` (see
    :func:`checkpoint_name_pattern`) among the regular files (no folders,
    no links) directly in the local ``folder``.

    Returns:
        list[tuple]: ``(key, step, path)`` sorted by step; ``key`` is as in
        a best checkpoint's name (``acc_top1`` for
        ``best_acc_top1_epoch_3.pth``), None for the others.
    """
    pattern = checkpoint_name_pattern(filename_tmpl)
    found = []
    for entry in os.scandir(folder) if osp.isdir(folder) else ():
        match = pattern.fullmatch(entry.name)
        if match is not None and entry.is_file(follow_symlinks=False):
            found.append((match['key'], int(match['step']), entry.path))
    return sorted(found, key=lambda item: item[1])


def _same_folder(path: str, folder: str) -> bool:
    if '://' in folder:
        return path.rsplit('/', 1)[0] == folder.rstrip('/')
    return osp.realpath(osp.dirname(osp.abspath(path))) == osp.realpath(
        folder)


def refusal(path: str, folder: str, pattern: 're.Pattern[str]',
            backend=None) -> Optional[str]:
    """Why ``path`` is not a checkpoint of ``folder`` that may be deleted:
    one must be a regular file (not a folder, not a link) directly in the
    folder, named by ``pattern``.

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

    def remove(self, path: str) -> None:
        """Delete ``path`` if it is one of the hook's checkpoints."""
        if self._pending is not None:
            self._pending.append(path)
            return
        reason = refusal(path, str(self._hook.out_dir),
                         checkpoint_name_pattern(self._hook.filename_tmpl),
                         self.backend)
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


def _float_buffers(model: nn.Module) -> dict:
    """The model's floating-point buffers by state-dict name."""
    buffers = dict(model.named_buffers())
    return {name: value for name, value in model.state_dict().items()
            if name in buffers and value.is_floating_point()}


def gather_rank_buffers(model: nn.Module) -> Optional[List[torch.Tensor]]:
    """Every rank's floating-point buffers, one flat tensor per rank (a
    collective call: all ranks must make it); None outside a distributed
    run."""
    if get_world_size() == 1:
        return None
    buffers = _float_buffers(model)
    if not buffers:
        return None
    flat = torch.cat([value.detach().flatten() for value in buffers.values()])
    return [tensor.cpu() for tensor in all_gather(flat)]


def use_own_rank_buffers(model: nn.Module, checkpoint: dict) -> None:
    """Put this rank's buffers (saved by :func:`gather_rank_buffers` in
    ``meta.rank_buffers``) into the checkpoint's state dict before it is
    loaded; nothing changes for another world size or model."""
    saved = checkpoint.get('meta', {}).get('rank_buffers')
    state_dict = checkpoint.get('state_dict')
    if saved is None or state_dict is None or len(saved) != get_world_size():
        return
    buffers = _float_buffers(model)
    mine = saved[get_rank()]
    if mine.numel() != sum(value.numel() for value in buffers.values()):
        return
    for (name, value), part in zip(
            buffers.items(), mine.split([v.numel() for v in
                                         buffers.values()])):
        if name in state_dict:
            state_dict[name] = part.view_as(value).to(state_dict[name])


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """``CheckpointHook`` that never loses or truncates a checkpoint.

    MMEngine's ``CheckpointHook`` (0.10.7) writes a checkpoint under its
    final name, deletes the outdated (``max_keep_ckpts``) and the previous
    best checkpoints BEFORE writing the new one and rewrites
    ``last_checkpoint`` in place: a ``kill -9`` while saving can leave
    nothing to ``--resume`` from. It also deletes any path a resumed
    checkpoint names (``best_ckpt``, ``keep_ckpt_ids``), folders included.
    Same arguments and files, but:

    * every checkpoint is written to ``NAME.part-PID`` in the same folder,
      flushed to disk and renamed over ``NAME`` (local folders; a remote
      ``out_dir`` or explicit ``backend_args`` keep MMEngine's writes);
      leftover ``.part-PID`` files of killed runs go before training;
    * ``last_checkpoint`` is replaced atomically, after the checkpoint it
      names is complete; outdated and previous best checkpoints are
      deleted after that;
    * it deletes nothing but its own checkpoints (:func:`refusal`); a
      resumed ``best_ckpt`` that is not one is ignored with a warning;
    * in a distributed run a checkpoint holds every rank's BatchNorm
      statistics (``broadcast_buffers=False`` keeps them apart until
      ``SyncBuffersHook`` averages them), and each rank resumes its own.
    """

    def __init__(self,
                 interval: int = -1,
                 *,
                 out_dir: Optional[str] = None,
                 backend_args: Optional[dict] = None,
                 file_client_args: Optional[dict] = None,
                 **kwargs) -> None:
        if (backend_args is None and file_client_args is None
                and _is_local(out_dir)):
            backend_args = dict(backend=ATOMIC_BACKEND)
        super().__init__(
            interval,
            out_dir=out_dir,
            backend_args=backend_args,
            file_client_args=file_client_args,
            **kwargs)

    @property
    def _atomic(self) -> bool:
        return (self.backend_args or {}).get('backend') == ATOMIC_BACKEND

    @property
    def file_backend(self):
        """MMEngine's file backend, whose removals are checked."""
        return self._file_backend

    @file_backend.setter
    def file_backend(self, backend) -> None:
        # MMEngine assigns this attribute in before_train; every deletion
        # of CheckpointHook goes through it.
        if not isinstance(backend, OwnedRemoval):
            backend = OwnedRemoval(backend, self)
        self._file_backend = backend

    def _owned_name(self, name: str) -> bool:
        return name == 'last_checkpoint' or any(
            checkpoint_name_pattern(tmpl).fullmatch(name) is not None
            for tmpl in (self.filename_tmpl, ON_REQUEST_TMPL))

    def _forget_foreign_best(self, runner) -> None:
        """Ignore ``best_ckpt`` paths of a resumed checkpoint that are not
        this hook's checkpoints (they would be deleted at the next best)."""
        pattern = checkpoint_name_pattern(self.filename_tmpl)
        paths = dict(getattr(self, 'best_ckpt_path_dict', None) or {})
        if getattr(self, 'best_ckpt_path', None):
            paths[None] = self.best_ckpt_path
        for key, path in paths.items():
            reason = refusal(path, self.out_dir, pattern,
                             self.file_backend.backend)
            if reason is None or reason == 'it does not exist':
                continue
            runner.logger.warning(
                f'Ignoring the best checkpoint {path} named by the resumed '
                f'checkpoint: {reason}; it will not be deleted')
            if key is None:
                self.best_ckpt_path = None
            else:
                self.best_ckpt_path_dict[key] = None

    def _best_entries(self):
        """``(indicator, name key, score key, checkpoint key)`` of each
        best kept, as MMEngine names them; indicator and name key are None
        for a single indicator (its name may still be 'auto')."""
        if len(self.key_indicators) == 1:
            return [(None, None, 'best_score', 'best_ckpt')]
        return [(key, key.replace('/', '_'), f'best_score_{key}',
                 f'best_ckpt_{key}') for key in self.key_indicators]

    def _adopt_newest_best(self, runner) -> None:
        """After a resume, take the newest best checkpoint on disk as the
        best, and delete the older ones.

        A best checkpoint is written before the epoch's checkpoint is saved
        again naming it; a kill, or a full disk, in between leaves a
        resumed checkpoint naming the previous best (or none), and that
        best file, never deleted, would stay beside the next one. Best
        checkpoints after the resumed step (of a later, abandoned part of
        the run) are left alone.
        """
        if (not self.save_best or runner.iter == 0
                or not _is_local(self.out_dir) or not is_main_process()):
            return
        done = runner.epoch if self.by_epoch else runner.iter
        found = [(key, path) for key, step, path in owned_checkpoints(
            self.out_dir, self.filename_tmpl) if key and step <= done]
        for indicator, name_key, score_key, ckpt_key in self._best_entries():
            mine = [path for key, path in found
                    if name_key is None or key == name_key]
            if not mine:
                continue
            newest = mine[-1]
            hub = load_checked(newest, map_location='cpu')['message_hub']
            score = hub['runtime_info'].get(score_key)
            if score is None:
                continue
            named = runner.message_hub.runtime_info.get(ckpt_key)
            if named is None or osp.abspath(named) != osp.abspath(newest):
                runner.logger.info(
                    f'Resumed checkpoint names {named} as the best; '
                    f'{newest} ({score_key} {score:.4f}) was saved after '
                    'it and is the best')
                runner.message_hub.update_info(score_key, score)
                runner.message_hub.update_info(ckpt_key, newest)
                if indicator is None:
                    self.best_ckpt_path = newest
                else:
                    self.best_ckpt_path_dict[indicator] = newest
            for path in mine[:-1]:
                self.file_backend.remove(path)
                runner.logger.info(
                    f'Removed {path}, a best checkpoint replaced by '
                    f'{newest} before the run stopped')

    def before_train(self, runner) -> None:
        """Resolve the folder (as MMEngine), ignore foreign best paths,
        take the newest best checkpoint after a resume and delete stale
        part files."""
        super().before_train(runner)
        self._forget_foreign_best(runner)
        self._adopt_newest_best(runner)
        if self._atomic and is_main_process():
            for path in remove_stale_parts(self.out_dir, self._owned_name):
                runner.logger.info(
                    f'Removed {path}, a checkpoint left half-written by a '
                    'killed run')

    def _write(self, runner, filename: str, meta: dict,
               by_epoch: bool) -> str:
        """Save ``filename`` in ``out_dir`` (with every rank's BatchNorm
        statistics in ``meta.rank_buffers`` in a distributed run), then
        point ``last_checkpoint`` at it; returns its path."""
        rank_buffers = gather_rank_buffers(runner_model(runner))
        if rank_buffers is not None:
            meta = dict(meta, rank_buffers=rank_buffers)
        self.last_ckpt = self.file_backend.join_path(self.out_dir, filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        runner.save_checkpoint(
            self.out_dir,
            filename,
            self.file_client_args,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler,
            meta=meta,
            by_epoch=by_epoch,
            backend_args=self.backend_args,
            **self.args)
        if is_main_process():
            atomic_write_bytes(osp.join(runner.work_dir, 'last_checkpoint'),
                               str(self.last_ckpt).encode())
            self._remove_older_on_request(meta.get('iter', runner.iter + 1))
        return self.last_ckpt

    def _remove_older_on_request(self, done: int) -> None:
        """Delete the checkpoints saved on request before iteration
        ``done``: a complete later checkpoint replaces them (a run
        preempted many times keeps one, not one per preemption)."""
        if not _is_local(self.out_dir):
            return
        for key, step, path in owned_checkpoints(self.out_dir,
                                                 ON_REQUEST_TMPL):
            if key is None and step < done:
                os.remove(path)

    # The one private override: MMEngine has no public point between
    # writing a checkpoint, rotating old ones and writing last_checkpoint
    # (a test pins the method's name, arguments and callers).
    def _save_checkpoint_with_step(self, runner, step: int,
                                   meta: dict) -> None:
        """Book ``step`` as kept (MMEngine's bookkeeping, also saved in
        the message hub), save, point ``last_checkpoint`` at it, and only
        then delete the checkpoints it made outdated."""
        outdated = None
        if self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids and
                                            self.keep_ckpt_ids[-1] == step):
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                outdated = self.file_backend.join_path(
                    self.out_dir,
                    self.filename_tmpl.format(self.keep_ckpt_ids.popleft()))
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info('keep_ckpt_ids',
                                           list(self.keep_ckpt_ids))
        self._write(runner, self.filename_tmpl.format(step), meta,
                    self.by_epoch)
        if outdated is not None and is_main_process():
            self.file_backend.remove(outdated)

    def save_on_request(self, runner) -> str:
        """Save the state after the current iteration now.

        Written as ``iter_<N>_on_request.pth`` (N counts the iterations
        done) with this hook's writer (atomic in a local folder) and
        named by ``last_checkpoint``, so that ``--resume`` continues from
        it; it is not counted by ``max_keep_ckpts``.

        Returns:
            str: The checkpoint's path.
        """
        return self._write(runner, ON_REQUEST_TMPL.format(runner.iter + 1),
                           {}, by_epoch=False)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Each rank resumes its own BatchNorm statistics."""
        use_own_rank_buffers(runner_model(runner), checkpoint)

    def after_val_epoch(self, runner, metrics: dict) -> None:
        """MMEngine's best-score save, deleting the old best file last."""
        with self.file_backend.deferred():
            super().after_val_epoch(runner, metrics)
