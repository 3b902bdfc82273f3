"""An epoch-based training loop that resumes exactly and saves on SIGTERM.

MMEngine's ``EpochBasedTrainLoop`` (0.10.7), resumed from a checkpoint
saved mid-epoch, restarts that epoch at its first batch while keeping the
iteration count (more batches than configured), and its checkpoints hold
no random generator states (dropout and augmentation draw other numbers
after a resume). Here the sampler starts a resumed epoch after the
batches already trained, in the same order, and the main process's
generator states travel in every checkpoint; creating a data-loader
iterator and validating do not move them. Data-loader workers seed
themselves once when they start, so each index carries its
:class:`~mmblvnet.datasets.randomness.SeededIndex` and
:class:`~mmblvnet.datasets.CheckedDataset` draws each sample's
augmentation from (seed, epoch, index): a resumed run ends with the
uninterrupted run's weights with any number of workers.

On SIGTERM or SIGUSR1 the current iteration finishes, a checkpoint is
written (``iter_<N>_on_request.pth``, by ``AtomicCheckpointHook``), one
line names it and the process exits with status 128 + the signal; all
ranks of a distributed run stop after the same iteration. A second signal
stops at once.
"""
import itertools
import logging
import signal
from typing import Dict, Iterator, Optional, Sized, Union

import torch
from mmaction.registry import DATA_SAMPLERS, HOOKS, LOOPS
from mmengine.dist import all_reduce, barrier, is_distributed
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.runner import EpochBasedTrainLoop
from torch.utils.data import BatchSampler, DataLoader, Sampler

from ..datasets.randomness import SeededIndex, capture, preserved, restore
from .atomic_checkpoint_hook import AtomicCheckpointHook

STOP_SIGNALS = ('SIGTERM', 'SIGUSR1')


@DATA_SAMPLERS.register_module()
class ResumableSampler(Sampler):
    """The configured sampler, able to start an epoch after ``skip``
    indices.

    Args:
        dataset (Sized): The data set (given by the runner).
        sampler (dict): The wrapped sampler's config, e.g.
            ``dict(type='DefaultSampler', shuffle=True)``.
        seed (int, optional): Given by the runner to the wrapped sampler.
        seed_samples (bool): Yield :class:`SeededIndex` indices, so that
            each sample's random augmentation depends on (seed, epoch,
            index) only. Defaults to True.
    """

    def __init__(self, dataset: Sized, sampler: dict,
                 seed: Optional[int] = None,
                 seed_samples: bool = True) -> None:
        self.sampler = DATA_SAMPLERS.build(
            sampler, default_args=dict(dataset=dataset, seed=seed))
        self.seed = getattr(self.sampler, 'seed', seed)
        self.seed_samples = seed_samples and self.seed is not None
        self.epoch = 0
        self.skip = 0

    def __iter__(self) -> Iterator[int]:
        skip, self.skip = self.skip, 0
        indices = itertools.islice(iter(self.sampler), skip, None)
        if not self.seed_samples:
            return indices
        return (SeededIndex(index, self.seed, self.epoch)
                for index in indices)

    def __len__(self) -> int:
        return len(self.sampler)

    def set_epoch(self, epoch: int) -> None:
        """Pass the epoch on (it seeds the wrapped sampler's order and the
        samples' streams)."""
        self.epoch = epoch
        if hasattr(self.sampler, 'set_epoch'):
            self.sampler.set_epoch(epoch)


@HOOKS.register_module()
class ResumeStateHook(Hook):
    """Generator states in checkpoints (``meta.rng_state``); a checkpoint
    on SIGTERM/SIGUSR1. Registered by
    :class:`ResumableEpochBasedTrainLoop`."""

    priority = 'LOWEST'  # after the checkpoint hook's own save

    def __init__(self) -> None:
        self.loaded_rng_state: Optional[dict] = None
        self._val_rng_state: Optional[dict] = None
        self._signal: Optional[int] = None
        self._previous: Dict[int, object] = {}

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint['meta']['rng_state'] = capture()

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        self.loaded_rng_state = checkpoint.get('meta', {}).get('rng_state')

    def _request_stop(self, signum: int, frame) -> None:
        if self._signal is not None:  # the second signal: stop now
            signal.signal(signum, signal.SIG_DFL)
            signal.raise_signal(signum)
        self._signal = signum

    def before_train(self, runner) -> None:
        """Keep the loaded generator states of a resume (for the loop to
        restore); catch the stop signals (in the main thread only)."""
        if runner.iter == 0:  # load_from, not a resume
            self.loaded_rng_state = None
        elif self.loaded_rng_state is None:
            print_log(
                'The resumed checkpoint holds no random generator states '
                '(saved without ResumeStateHook): dropout and random '
                'augmentation will differ from an uninterrupted run',
                logger='current', level=logging.WARNING)
        try:
            for name in STOP_SIGNALS:
                number = getattr(signal, name)
                self._previous[number] = signal.signal(
                    number, self._request_stop)
        except ValueError:  # not the main thread: signals stay as they are
            self._previous.clear()

    def after_train(self, runner) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)
        self._previous.clear()

    def before_val(self, runner) -> None:
        self._val_rng_state = capture()

    def after_val(self, runner) -> None:
        """Validating leaves the generators as it found them."""
        restore(self._val_rng_state)

    def _caught_by_any_rank(self) -> Optional[int]:
        """The stop signal caught by this or any other process of a
        distributed run (the highest number), so that all stop after the
        same iteration; None if none was."""
        if not is_distributed():
            return self._signal
        caught = torch.tensor([self._signal or 0])
        all_reduce(caught, op='max')
        return int(caught) or None

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs=None) -> None:
        """After a stop signal (to any rank): save, say where, exit."""
        self._signal = self._caught_by_any_rank()
        if self._signal is None:
            return
        name = signal.Signals(self._signal).name
        writers = [hook for hook in runner.hooks
                   if isinstance(hook, AtomicCheckpointHook)]
        where = 'no AtomicCheckpointHook is configured, nothing was saved'
        if writers:
            path = writers[0].save_on_request(runner)
            where = f'saved {path}; --resume continues from it'
        if is_distributed():  # no rank ends before rank 0 has saved
            barrier()
        batches = len(runner.train_loop.dataloader)
        print_log(
            f'Stopped by {name} after iteration {runner.iter + 1} (epoch '
            f'{runner.epoch + 1}, batch {batch_idx + 1} of {batches}): '
            f'{where}', logger='current', level=logging.WARNING)
        self.after_train(runner)
        raise SystemExit(128 + self._signal)


@LOOPS.register_module()
class ResumableEpochBasedTrainLoop(EpochBasedTrainLoop):
    """``EpochBasedTrainLoop`` that resumes exactly mid-epoch.

    Same arguments as MMEngine's loop. A ``dataloader`` config gets its
    ``sampler`` wrapped in :class:`ResumableSampler`; the loop registers a
    :class:`ResumeStateHook` unless the config has one.
    """

    def __init__(self, runner, dataloader: Union[DataLoader, Dict],
                 *args, **kwargs) -> None:
        if isinstance(dataloader, dict):
            dataloader = dict(dataloader)
            if dataloader['sampler'].get('type') != 'ResumableSampler':
                dataloader['sampler'] = dict(type='ResumableSampler',
                                             sampler=dataloader['sampler'])
        super().__init__(runner, dataloader, *args, **kwargs)
        hooks = [hook for hook in runner.hooks
                 if isinstance(hook, ResumeStateHook)]
        if not hooks:
            hooks = [ResumeStateHook()]
            runner.register_hook(hooks[0])
        self._state_hook = hooks[0]

    def _skip_trained_batches(self) -> int:
        """Make the sampler skip the batches of this epoch trained before
        the resume; returns their number."""
        done = self._iter - self._epoch * len(self.dataloader)
        if done <= 0:
            return 0
        batch_sampler = self.dataloader.batch_sampler
        sampler = getattr(batch_sampler, 'sampler', None)
        if (type(batch_sampler) is not BatchSampler
                or not isinstance(sampler, ResumableSampler)):
            raise ValueError(
                f'cannot resume at iteration {self._iter}, batch {done} of '
                f'epoch {self._epoch + 1}: {type(self).__name__} skips '
                'trained batches through a ResumableSampler in a plain '
                'BatchSampler, and train_dataloader has '
                f'{type(batch_sampler).__name__} of '
                f'{type(sampler).__name__}; give train_dataloader a sampler '
                'config (not a built sampler) and no batch_sampler, or '
                'resume from an end-of-epoch checkpoint')
        sampler.skip = done * batch_sampler.batch_size
        dataset = self.dataloader.dataset
        seeded = sampler.seed_samples and getattr(
            dataset, 'seeds_samples', False)
        if self.dataloader.num_workers > 0 and not seeded:
            why = (f'{type(dataset).__name__} does not seed each sample'
                   if sampler.seed_samples else
                   'ResumableSampler has seed_samples=False')
            print_log(
                f'Resuming at batch {done + 1} of epoch {self._epoch + 1} '
                f'with {self.dataloader.num_workers} data-loader workers '
                f'and {why}: the workers seed their random streams when '
                'they start, so random augmentation of the rest of this '
                'epoch differs from an uninterrupted run '
                '(train_dataloader.num_workers=0 resumes bit-exactly)',
                logger='current', level=logging.WARNING)
        return done

    def run_epoch(self) -> None:
        """Iterate over the rest of one epoch."""
        self.runner.call_hook('before_train_epoch')
        self.runner.model.train()
        done = self._skip_trained_batches()
        with preserved():
            batches = iter(self.dataloader)
        if self._state_hook.loaded_rng_state is not None:  # resumed
            restore(self._state_hook.loaded_rng_state)
            self._state_hook.loaded_rng_state = None
        for idx, data_batch in enumerate(batches, start=done):
            self.run_iter(idx, data_batch)
        self.runner.call_hook('after_train_epoch')
        self._epoch += 1
