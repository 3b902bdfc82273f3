"""Hooks: fail fast on config, data and checkpoint problems, stop on a
non-finite loss, and save checkpoints that a kill cannot corrupt."""
from .atomic_checkpoint_hook import AtomicCheckpointHook
from .label_range_check_hook import LabelRangeCheckHook
from .non_finite_loss_hook import NonFiniteLossHook
from .num_segments_check_hook import NumSegmentsCheckHook
from .strict_load_hook import StrictLoadHook

__all__ = [
    'AtomicCheckpointHook', 'LabelRangeCheckHook', 'NonFiniteLossHook',
    'NumSegmentsCheckHook', 'StrictLoadHook'
]
