"""Every process-wide change that ``import mmblvnet`` makes, in one list.

Registering new types (``bLResNet``, ``TAMNeck``, the hooks ...) into
MMAction2's registries is the plugin's ordinary extension point and is
not listed. What is listed changes something that code unaware of
mmblvnet can see: a stock name that now resolves to another class, a
loader every local checkpoint goes through, a library attribute added or
replaced. :func:`apply_all`, called once by ``mmblvnet/__init__.py``
before the layers are imported, applies the entries in order; each is
idempotent. ``tests/test_process_changes.py`` holds one test per entry
that fails when upstream fixes or changes what the entry works around,
and the README's "What importing mmblvnet changes" table lists them.
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
        'through mmblvnet_drn_stub.pth',
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
        'checked_data_sets',
        "DATASETS' VideoDataset and RawframeDataset resolve to subclasses "
        'that read the same lists and return the same samples but name '
        'the file, list line and reason of a bad sample; every config of '
        'the process gets them',
        "MMAction2's tools compare dataset.type with the stock names "
        '(check_videos, clip_feature_extraction), so the checked data '
        'sets must carry them',
        'mmblvnet.datasets.checked:use_checked_data_sets'),
    Change(
        'checked_checkpoint_loader',
        "MMEngine's CheckpointLoader loads every local path through "
        'load_checked: CRC-32 of every record, non-finite weights and '
        'wrong file types are named errors; the loaded dict is unchanged',
        'a damaged checkpoint otherwise fails deep inside torch.load or '
        'loads NaN weights silently; the empty prefix is the only scheme '
        'that reaches load_from, --resume, init_cfg and tools/test.py',
        'mmblvnet.engine.checkpoint_integrity:register_checked_local_loader'
    ),
    Change(
        'atomic_file_backend',
        "MMEngine's file backends gain 'atomic_local' (a new name; the "
        'stock backends stay)',
        'AtomicCheckpointHook writes checkpoints through it so that a '
        'kill never leaves a half-written file under a checkpoint name',
        'mmblvnet.engine.atomic_io:register_atomic_backend'),
    Change(
        'head_channel_check',
        'a global nn.Module registration hook (torch public API) checks '
        'in_channels of a neck or cls_head assigned to a model whose '
        'backbone is a bLResNet; any other assignment returns at once',
        "MMAction2 builds backbone, neck and head from separate configs, "
        'so a wrong in_channels would only fail at the first forward with '
        'a matrix shape error',
        'mmblvnet.models.channel_check:register'),
)


def _function(target: str):
    module, name = target.split(':')
    return getattr(importlib.import_module(module), name)


def apply_all() -> None:
    """Apply every entry of :data:`CHANGES`, in order (idempotent)."""
    for change in CHANGES:
        _function(change.apply)()
