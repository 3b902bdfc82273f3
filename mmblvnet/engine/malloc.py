"""glibc malloc settings that give freed activations back to the OS.

A training step frees and reallocates thousands of mid-sized tensors
(hundreds of KiB to tens of MiB). With glibc's defaults, malloc raises its
mmap threshold to the size of the largest block freed so far (up to
32 MiB), so after the first step most activations come from the heap,
where freed blocks stay mapped and fragment: the process's resident set
grows well beyond the bytes that are live at once. Serving every block of
64 KiB or more with its own ``mmap`` (and trimming the heap top) returns
each freed activation to the OS, so the resident set follows the live
tensors.

:func:`tune_malloc` applies this with ``mallopt`` through ``ctypes``.
Importing :mod:`mmblvnet` does not call it: a run asks for it with
:class:`~mmblvnet.engine.LeanMallocHook` in its config (the bLVNet-TAM
configs do, so this project's tools, ``mim train`` and MMAction2's tools
all get it). It changes nothing where it cannot apply:

- ``MMBLVNET_MALLOC=default`` in the environment keeps glibc's defaults;
- a ``MALLOC_MMAP_THRESHOLD_`` or ``MALLOC_TRIM_THRESHOLD_`` set by the
  user wins (glibc reads them at start-up; they are left alone);
- other C libraries (musl, macOS, Windows) are left alone.

The cost and the effect, measured on this project's benchmark, are in
``docs/benchmarks.md``.
"""
import ctypes
import ctypes.util
import os
import platform

ENV_VAR = 'MMBLVNET_MALLOC'
# mallopt parameters of glibc's <malloc.h>.
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 64 * 1024
TRIM_THRESHOLD_BYTES = 64 * 1024 * 1024
_USER_SETTINGS = ('MALLOC_MMAP_THRESHOLD_', 'MALLOC_TRIM_THRESHOLD_')


def tune_malloc() -> bool:
    """Set glibc's mmap threshold to 64 KiB and its trim threshold to 64
    MiB, unless opted out (see the module docstring).

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
