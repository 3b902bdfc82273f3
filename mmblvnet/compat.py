"""Workarounds that make MMAction2 1.2.0 run on torch >= 2.6 and numpy 2.

Every patch here is small, idempotent, only active when the breakage it
covers is present, and names the upstream problem it works around. Each is
an entry of :mod:`mmblvnet.process_changes`, applied once when
:mod:`mmblvnet` is imported, before MMAction2's model package is imported
(configs load the plugin through ``custom_imports``).
"""
import codecs
import pickle

import numpy as np
import torch

import mmblvnet_drn_stub


def stub_missing_drn_localizer() -> None:
    """Let ``import mmaction.models`` succeed without the DRN sub-package
    the mmaction2 1.2.0 wheel lacks (open-mmlab/mmaction2#2714).

    The installed package already installs :mod:`mmblvnet_drn_stub`'s
    finder at interpreter start (a ``.pth`` file); this call covers a
    source checkout used without installing.
    """
    mmblvnet_drn_stub.install()


def alias_removed_numpy_names() -> None:
    """Restore names numpy 2 removed but MMAction2 1.2.0 still uses.

    ``np.Inf`` (``utils/misc.py``, pose transforms), ``np.NAN`` (AVA
    metrics), ``np.trapz`` (proposal AUC) and ``np.in1d`` (retrieval
    metric); see numpy/numpy#24300 (NEP 52 clean-up).
    """
    aliases = {
        'Inf': np.inf,
        'NAN': np.nan,
        'trapz': getattr(np, 'trapezoid', None),
        'in1d': np.isin,
    }
    for name, value in aliases.items():
        if value is not None and name not in np.__dict__:
            setattr(np, name, value)


# The statistics methods HistoryBuffer.__init__ registers.
_HISTORY_BUFFER_STATISTICS = ('min', 'max', 'current', 'mean')


def _history_buffer_method(owner, name: str):
    """The only ``getattr`` a runner checkpoint needs, and nothing more.

    The message hub pickles ``HistoryBuffer._statistics_methods``, whose
    values (``HistoryBuffer.min`` ...) pickle as ``getattr(HistoryBuffer,
    'min')``. Allowing the builtin ``getattr`` would let a pickle reach
    any attribute; this stand-in only returns the built-in statistics
    methods of ``HistoryBuffer``.
    """
    from mmengine.logging import HistoryBuffer

    if owner is HistoryBuffer and name in _HISTORY_BUFFER_STATISTICS:
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'refused getattr({owner!r}, {name!r}) in a weights_only load: '
        'only HistoryBuffer statistics methods are allowed')


def allow_mmengine_checkpoint_types() -> None:
    """Allow exactly MMEngine's checkpoint types in ``weights_only`` loads.

    torch >= 2.6 loads with ``weights_only=True`` by default
    (pytorch/pytorch#101935), which rejects the message hub's
    ``HistoryBuffer`` (with its statistics methods, pickled through
    ``getattr``, served here by a stand-in limited to ``HistoryBuffer``)
    and the numpy scalars and arrays the runner stores in ``meta`` and
    ``message_hub`` (open-mmlab/mmengine#1603). These are exactly the extra
    globals a runner checkpoint holds; the check itself stays on: a pickle
    with any other global is refused.
    """
    add_safe_globals = getattr(torch.serialization, 'add_safe_globals', None)
    if add_safe_globals is None:  # torch < 2.4: weights_only off by default
        return
    from mmengine.logging import HistoryBuffer

    numpy_scalars = [np.dtype(code).type for code in '?bhilqBHILQefdgFDG']
    dtype_classes = [type(np.dtype(code)) for code in '?bhilqBHILQefdgFDGOU']
    add_safe_globals([
        HistoryBuffer,
        (_history_buffer_method, 'builtins.getattr'),
        codecs.encode,
        np.ndarray,
        np.dtype,
        np._core.multiarray._reconstruct,
        np._core.multiarray.scalar,
        *numpy_scalars,
        *dtype_classes,
    ])


def init_dist_without_cuda() -> None:
    """Let MMEngine's ``pytorch`` launcher start CPU-only processes.

    ``mmengine.dist.utils._init_dist_pytorch`` always calls
    ``torch.cuda.set_device(local_rank)`` (mmengine 0.10.7,
    ``mmengine/dist/utils.py``), which fails on a CPU-only torch; no
    upstream issue tracks it. Without CUDA the process group is created
    directly; ``nccl`` is refused with the config key that selects
    ``gloo``.
    """
    if torch.cuda.is_available():
        return
    from mmengine.dist import utils as dist_utils

    if getattr(dist_utils._init_dist_pytorch, 'without_cuda', False):
        return
    cuda_init = dist_utils._init_dist_pytorch

    def init_dist_pytorch(backend, init_backend='torch', **kwargs):
        if (dist_utils.is_mlu_available() or dist_utils.is_npu_available()
                or dist_utils.is_musa_available()):
            return cuda_init(backend, init_backend, **kwargs)
        if backend == 'nccl':
            raise ValueError(
                "backend 'nccl' needs CUDA, which this machine lacks; set "
                "env_cfg.dist_cfg.backend='gloo' (tools/train.py does so "
                'when CUDA is absent)')
        torch.distributed.init_process_group(backend=backend, **kwargs)

    init_dist_pytorch.without_cuda = True
    dist_utils._init_dist_pytorch = init_dist_pytorch

