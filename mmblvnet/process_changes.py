"""Every process-wide change that ``import mmblvnet`` makes, in one list.

Registering new types (``bLResNet``, ``TAMNeck``, ``RobustRunner``, the
hooks ...) under new names into MMAction2's registries is the plugin's
ordinary extension point and is not listed. What is listed changes
something that code unaware of mmblvnet can see: a library attribute
added or replaced, a module finder, a new file-backend name. Each entry
is a fix MMAction2 1.2.0 needs on the supported torch and numpy, except
``atomic_file_backend``, which only adds a name. No stock name is
re-bound, no stock loader replaced and no global hook installed.
:func:`apply_all`, called once by ``mmblvnet/__init__.py`` before the
layers are imported, applies the entries in order; each is idempotent.
``tests/test_process_changes.py`` holds one test per entry that fails
when upstream fixes or changes what the entry works around, and the
table at the top of docs/robustness.md lists them.
"""
import importlib
from typing import NamedTuple, Tuple


class Change(NamedTuple):
    """One process-wide change.

    Attributes:
        name (str): Short name (the README table and the tests use it).
        reach (str): What changes for other code in the process.
        reason (str): The upstream issue, or why the plugin needs it.
        apply (str): ``'module:function'`` that applies it (idempotent).
    """
    name: str
    reach: str
    reason: str
    apply: str


CHANGES: Tuple[Change, ...] = (
    Change(
        'drn_stub',
        'a finder at the end of sys.meta_path serves a stub for '
        'mmaction.models.localizers.drn (only where no real package '
        'exists); the installed wheel also runs it at interpreter start '
        'through mmblvnet_drn_stub.pth, because MMAction2\'s own '
        'confusion_matrix and vis_cam tools import mmaction.models before '
        'they read a config (so before custom_imports can load mmblvnet)',
        'the mmaction2 1.2.0 wheel lacks the drn folder its localizers '
        'import, so `import mmaction.models` fails '
        '(open-mmlab/mmaction2#2714)',
        'mmblvnet.compat:stub_missing_drn_localizer'),
    Change(
        'numpy_aliases',
        'np.Inf, np.NAN, np.trapz and np.in1d exist again (aliases of '
        'np.inf, np.nan, np.trapezoid, np.isin)',
        'numpy 2 removed them (numpy/numpy#24300) and MMAction2 1.2.0 '
        'still uses them',
        'mmblvnet.compat:alias_removed_numpy_names'),
    Change(
        'checkpoint_safe_globals',
        'torch.load(weights_only=True) also accepts the types MMEngine '
        'writes into runner checkpoints (HistoryBuffer, numpy scalars and '
        'arrays; getattr limited to HistoryBuffer statistics)',
        'torch >= 2.6 loads with weights_only=True by default and refuses '
        "MMEngine's runner checkpoints (pytorch/pytorch#101935, "
        'open-mmlab/mmengine#1603)',
        'mmblvnet.compat:allow_mmengine_checkpoint_types'),
    Change(
        'dist_without_cuda',
        "mmengine.dist.utils._init_dist_pytorch is replaced when torch "
        'has no CUDA: it creates the process group without '
        'torch.cuda.set_device (nccl is refused with the config key)',
        'MMEngine 0.10.7 always calls torch.cuda.set_device in its '
        "'pytorch' launcher, so CPU-only DDP cannot start",
        'mmblvnet.compat:init_dist_without_cuda'),
    Change(
        'atomic_file_backend',
        "MMEngine's file backends gain 'atomic_local' (a new name; the "
        'stock backends stay)',
        'AtomicCheckpointHook writes checkpoints through it so that a '
        'kill never leaves a half-written file under a checkpoint name',
        'mmblvnet.engine.atomic_io:register_atomic_backend'),
)


def _function(target: str):
    module, name = target.split(':')
    return getattr(importlib.import_module(module), name)


def apply_all() -> None:
    """Apply every entry of :data:`CHANGES`, in order (idempotent)."""
    for change in CHANGES:
        _function(change.apply)()
