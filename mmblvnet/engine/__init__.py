from .num_segments_check_hook import NumSegmentsCheckHook

__all__ = ['NumSegmentsCheckHook']
