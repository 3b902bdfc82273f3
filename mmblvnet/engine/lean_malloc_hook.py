"""Give freed activations back to the OS during a run (glibc malloc).

With glibc's default malloc the resident set of a CPU training process
grows far beyond the tensors that are live at once (freed activations
stay in a fragmented heap). :func:`~mmblvnet.engine.malloc.tune_malloc`
serves every block of 64 KiB or more with its own ``mmap``, so the
resident set follows the live tensors, at the price of page faults (more
system time per step). A run pays that price only when its config asks
for it with this hook (no shipped config does: at the demo's 32x32 frames
it cost about a third more time per step), so that importing
:mod:`mmblvnet` leaves the process's allocator alone. On a machine with
CUDA it does nothing: the activations live in GPU memory there.
"""
import torch
from mmaction.registry import HOOKS
from mmengine.hooks import Hook

from .malloc import ENV_VAR, tune_malloc


@HOOKS.register_module()
class LeanMallocHook(Hook):
    """Apply :func:`~mmblvnet.engine.malloc.tune_malloc` before the run.

    Nothing changes with ``MMBLVNET_MALLOC=default`` in the environment,
    with the user's own ``MALLOC_MMAP_THRESHOLD_`` or
    ``MALLOC_TRIM_THRESHOLD_``, off glibc, or where CUDA is available.
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
