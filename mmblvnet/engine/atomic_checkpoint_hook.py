"""A checkpoint hook that a kill at any moment cannot make lose data.

MMEngine's ``CheckpointHook`` (0.10.7) writes a checkpoint straight under
its final name, deletes the oldest kept checkpoint (``max_keep_ckpts``)
and the previous best one BEFORE writing the new one, and rewrites
``last_checkpoint`` in place. A ``kill -9`` while saving can therefore
leave a truncated ``epoch_N.pth`` (also when a best-score save rewrites an
existing one), no complete checkpoint at all, or an empty
``last_checkpoint``, and ``--resume`` fails.
"""
import os.path as osp
from typing import List, Optional

from mmaction.registry import HOOKS
from mmengine.dist import is_main_process
from mmengine.hooks import CheckpointHook

from .atomic_io import ATOMIC_BACKEND, atomic_write_bytes, remove_stale_parts


def _is_local(path: Optional[str]) -> bool:
    return path is None or '://' not in str(path)


class _DeferredRemoval:
    """A file backend whose ``remove`` / ``rmtree`` wait for ``flush``."""

    def __init__(self, backend) -> None:
        self._backend = backend
        self.pending: List[str] = []

    def remove(self, path: str) -> None:
        self.pending.append(path)

    def rmtree(self, path: str) -> None:
        self.pending.append(path)

    def flush(self) -> None:
        for path in self.pending:
            if self._backend.isfile(path):
                self._backend.remove(path)
            elif self._backend.isdir(path):
                self._backend.rmtree(path)
        self.pending.clear()

    def __getattr__(self, name: str):
        return getattr(self._backend, name)


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """``CheckpointHook`` that never loses or truncates a checkpoint.

    Same arguments and files as MMEngine's ``CheckpointHook``, but:

    * every checkpoint is written to ``NAME.part-PID`` in the same folder,
      flushed to disk and renamed over ``NAME``: a half-written file never
      takes a checkpoint's name (local folders; a remote ``out_dir`` or
      explicit ``backend_args`` keep MMEngine's writes);
    * ``last_checkpoint`` is replaced atomically, and only after the
      checkpoint it names is complete;
    * outdated checkpoints (``max_keep_ckpts``) and the previous best one
      are deleted only after the new one is complete;
    * leftover ``.part-PID`` files of killed runs are deleted before
      training.

    So after a ``kill -9`` at any moment, ``--resume`` continues from the
    last complete checkpoint.
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

    def before_train(self, runner) -> None:
        """Resolve the folder (as MMEngine) and delete stale part files."""
        super().before_train(runner)
        if self._atomic and is_main_process():
            for path in remove_stale_parts(self.out_dir):
                runner.logger.info(
                    f'Removed {path}, a checkpoint left half-written by a '
                    'killed run')

    def _outdated(self, runner, step: int) -> List[str]:
        """Book ``step`` as kept; return the checkpoints it makes outdated.

        The bookkeeping (also saved in the checkpoint's message hub) is
        MMEngine's; the files are deleted by the caller after the save.
        """
        if self.max_keep_ckpts <= 0 or (self.keep_ckpt_ids
                                        and self.keep_ckpt_ids[-1] == step):
            return []
        outdated = []
        if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
            outdated.append(
                self.file_backend.join_path(
                    self.out_dir,
                    self.filename_tmpl.format(self.keep_ckpt_ids.popleft())))
        self.keep_ckpt_ids.append(step)
        runner.message_hub.update_info('keep_ckpt_ids',
                                       list(self.keep_ckpt_ids))
        return outdated

    def _save_checkpoint_with_step(self, runner, step: int,
                                   meta: dict) -> None:
        """Save, then point ``last_checkpoint`` at it, then rotate."""
        outdated = self._outdated(runner, step)
        filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir, filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        runner.save_checkpoint(
            self.out_dir,
            filename,
            self.file_client_args,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler,
            meta=meta,
            by_epoch=self.by_epoch,
            backend_args=self.backend_args,
            **self.args)
        if not is_main_process():
            return
        atomic_write_bytes(osp.join(runner.work_dir, 'last_checkpoint'),
                           str(self.last_ckpt).encode())
        for path in outdated:
            if self.file_backend.isfile(path):
                self.file_backend.remove(path)
            elif self.file_backend.isdir(path):
                self.file_backend.rmtree(path)

    def _save_best_checkpoint(self, runner, metrics: dict) -> None:
        """MMEngine's best-score save, deleting the old best file last."""
        backend = self.file_backend
        deferred = _DeferredRemoval(backend)
        self.file_backend = deferred
        try:
            super()._save_best_checkpoint(runner, metrics)
        finally:
            self.file_backend = backend
        deferred.flush()
