"""The random number generators of a process: saved, restored, and
seeded for each sample.

MMEngine's checkpoints do not hold the states of Python's ``random``,
NumPy's global generator or torch's CPU (and CUDA) generators, so dropout
and random augmentation in the main process draw other numbers after a
resume. :func:`capture` returns them in a form that a ``weights_only``
load accepts (tensors, ints, tuples), :func:`restore` sets them back.

Data-loader workers draw the random augmentation of a sample from their
own streams, seeded once when the worker starts, so what a sample gets
depends on which worker loads it and on what that worker loaded before:
a run resumed in the middle of an epoch, or one with another number of
workers, augments differently. A :class:`SeededIndex` (an ``int`` that
also holds the seed and the epoch, yielded by
:class:`~mmblvnet.engine.ResumableSampler`) lets a data set draw each
sample's randomness from a stream of its own, seeded by (seed, epoch,
index) alone (:func:`sample_randomness`; :class:`~.checked.CheckedDataset`
enters it around each sample).
"""
import random
from contextlib import contextmanager
from typing import Iterator

import numpy as np
import torch


def capture() -> dict:
    """The current states of ``random``, NumPy and torch.

    Returns:
        dict: ``python`` (``random.getstate()``), ``numpy`` (the MT19937
        keys as an int64 tensor of shape (624,) and the position and
        Gaussian cache), ``torch`` (a uint8 tensor) and, where CUDA is
        initialised, ``cuda`` (one tensor per device).
    """
    name, keys, pos, has_gauss, gauss = np.random.get_state()
    state = dict(
        python=random.getstate(),
        numpy=dict(name=name, keys=torch.from_numpy(keys.astype(np.int64)),
                   pos=int(pos), has_gauss=int(has_gauss),
                   gauss=float(gauss)),
        torch=torch.get_rng_state())
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = torch.cuda.get_rng_state_all()
    return state


def restore(state: dict) -> None:
    """Set the generators to a :func:`capture` result."""
    numpy_state = state['numpy']
    random.setstate(state['python'])
    np.random.set_state(
        (numpy_state['name'], numpy_state['keys'].numpy().astype(np.uint32),
         numpy_state['pos'], numpy_state['has_gauss'],
         numpy_state['gauss']))
    torch.set_rng_state(state['torch'])
    if 'cuda' in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state['cuda'])


@contextmanager
def preserved() -> Iterator[None]:
    """Run a block without changing the generators' states (what it
    draws is drawn again after it)."""
    state = capture()
    try:
        yield
    finally:
        restore(state)


class SeededIndex(int):
    """A sample index that also names the random stream of the sample.

    Used as a plain ``int`` everywhere (list and array indexing,
    arithmetic); pickles with its stream, so it reaches data-loader
    workers.

    Args:
        index (int): The index into the data set.
        seed (int): The run's data seed.
        epoch (int): The epoch the index is drawn for.
    """

    def __new__(cls, index: int, seed: int, epoch: int) -> 'SeededIndex':
        value = super().__new__(cls, index)
        value.seed, value.epoch = int(seed), int(epoch)
        return value

    def __getnewargs__(self):
        return int(self), self.seed, self.epoch

    def stream_seed(self) -> int:
        """The 32-bit seed of this sample's stream, a function of (seed,
        epoch, index) only."""
        sequence = np.random.SeedSequence(
            (self.seed % 2**32, self.epoch, int(self)))
        return int(sequence.generate_state(1)[0])


@contextmanager
def sample_randomness(index: int) -> Iterator[None]:
    """The context to load sample ``index`` in.

    For a :class:`SeededIndex`, Python's, NumPy's and torch's generators
    are seeded with :meth:`SeededIndex.stream_seed` inside the block and
    set back to their states after it (the process's own streams, e.g. for
    dropout, do not move); for a plain ``int`` nothing changes.
    """
    if not isinstance(index, SeededIndex):
        yield
        return
    seed = index.stream_seed()
    with preserved():
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)
        yield
