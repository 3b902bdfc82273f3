"""The random number generators of a process, saved and restored.

MMEngine's checkpoints do not hold the states of Python's ``random``,
NumPy's global generator or torch's CPU (and CUDA) generators, so dropout
and random augmentation in the main process draw other numbers after a
resume. :func:`capture` returns them in a form that a ``weights_only``
load accepts (tensors, ints, tuples), :func:`restore` sets them back.
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
