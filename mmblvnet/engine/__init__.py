"""Runtime extension points, all switched on by a config:
``RobustRunner`` (``runner_type``) and the hooks and loop it adds, which
fail fast on config, data and checkpoint problems, stop on a non-finite
loss, save checkpoints that a kill cannot corrupt, resume exactly
mid-epoch and save on SIGTERM; ``LeanMallocHook`` keeps a CPU run's
resident memory near its live tensors.
"""
from .atomic_checkpoint_hook import AtomicCheckpointHook
from .check_hooks import (
    LabelRangeCheckHook,
    NonFiniteLossHook,
    NumSegmentsCheckHook,
)
from .checkpoint_integrity import (
    CheckpointFileError,
    check_state_dict,
    load_checked,
)
from .lean_malloc_hook import LeanMallocHook
from .resumable_loop import (
    ResumableEpochBasedTrainLoop,
    ResumableSampler,
    ResumeStateHook,
)
from .robust_runner import RobustRunner
from .strict_load_hook import StrictLoadHook

__all__ = [
    'AtomicCheckpointHook', 'CheckpointFileError', 'check_state_dict',
    'load_checked', 'LabelRangeCheckHook', 'LeanMallocHook',
    'NonFiniteLossHook', 'NumSegmentsCheckHook',
    'ResumableEpochBasedTrainLoop', 'ResumableSampler', 'ResumeStateHook',
    'RobustRunner', 'StrictLoadHook'
]
