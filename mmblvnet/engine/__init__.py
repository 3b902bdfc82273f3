"""Hooks: fail fast on config, data and checkpoint problems, stop on a
non-finite loss, save checkpoints that a kill cannot corrupt and keep a
CPU run's resident memory near its live tensors; a training loop that
resumes exactly mid-epoch and saves on SIGTERM; every
local checkpoint MMEngine loads is verified (:mod:`.checkpoint_integrity`).
"""
from .atomic_checkpoint_hook import AtomicCheckpointHook
from .checkpoint_integrity import (
    CheckpointFileError,
    check_state_dict,
    load_checked,
)
from .label_range_check_hook import LabelRangeCheckHook
from .lean_malloc_hook import LeanMallocHook
from .non_finite_loss_hook import NonFiniteLossHook
from .num_segments_check_hook import NumSegmentsCheckHook
from .resumable_loop import (
    ResumableEpochBasedTrainLoop,
    ResumableSampler,
    ResumeStateHook,
)
from .strict_load_hook import StrictLoadHook

__all__ = [
    'AtomicCheckpointHook', 'CheckpointFileError', 'check_state_dict',
    'load_checked', 'LabelRangeCheckHook', 'LeanMallocHook',
    'NonFiniteLossHook', 'NumSegmentsCheckHook',
    'ResumableEpochBasedTrainLoop', 'ResumableSampler', 'ResumeStateHook',
    'StrictLoadHook'
]
