from .segment_head import SegmentHead

__all__ = ['SegmentHead']
