"""Give freed activations back to the OS during a CPU run (glibc malloc).

A training step frees and reallocates thousands of mid-sized tensors.
With glibc's defaults malloc raises its mmap threshold to the largest
block freed so far (up to 32 MiB), so most activations come from the
heap, where freed blocks stay mapped and fragment: the resident set grows
well beyond the live tensors. :func:`tune_malloc` serves every block of
64 KiB or more with its own ``mmap`` (and trims the heap top), so the
resident set follows the live tensors, at the price of page faults (more
system time per step; docs/benchmarks.md). Importing :mod:`mmblvnet`
leaves the allocator alone: a run asks for the setting with
:class:`LeanMallocHook` in its ``custom_hooks`` (no shipped config does).
"""
import ctypes
import ctypes.util
import os
import platform

import torch
from mmaction.registry import HOOKS
from mmengine.hooks import Hook

ENV_VAR = 'MMBLVNET_MALLOC'
# mallopt parameters of glibc's <malloc.h>.
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 64 * 1024
TRIM_THRESHOLD_BYTES = 64 * 1024 * 1024
_USER_SETTINGS = ('MALLOC_MMAP_THRESHOLD_', 'MALLOC_TRIM_THRESHOLD_')


def tune_malloc() -> bool:
    """Set glibc's mmap threshold to 64 KiB and its trim threshold to 64
    MiB, with ``mallopt`` through ``ctypes``.

    Nothing changes with ``MMBLVNET_MALLOC=default`` in the environment,
    with the user's own ``MALLOC_MMAP_THRESHOLD_`` or
    ``MALLOC_TRIM_THRESHOLD_`` (glibc read them at start-up), or off glibc
    (musl, macOS, Windows).

    Returns:
        bool: Whether the settings were applied.
    """
    if os.environ.get(ENV_VAR, '').lower() == 'default':
        return False
    if any(name in os.environ for name in _USER_SETTINGS):
        return False
    if platform.system() != 'Linux' or platform.libc_ver()[0] != 'glibc':
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6')
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(
        mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
        and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES))


@HOOKS.register_module()
class LeanMallocHook(Hook):
    """Apply :func:`tune_malloc` before the run, unless CUDA is available
    (the activations live in GPU memory there).

    Data loader workers forked later inherit the setting.
    """
    priority = 'VERY_HIGH'

    def before_run(self, runner) -> None:
        if torch.cuda.is_available():
            runner.logger.info('LeanMallocHook: off (CUDA is available)')
        elif tune_malloc():
            runner.logger.info(
                'LeanMallocHook: glibc malloc returns freed blocks of 64 KiB '
                f'or more to the OS (set {ENV_VAR}=default to keep glibc\'s '
                'defaults)')
