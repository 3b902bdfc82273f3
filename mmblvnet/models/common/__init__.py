from .bottleneck import Bottleneck, make_shortcut, make_stage
from .tam import TAM

__all__ = ['TAM', 'Bottleneck', 'make_shortcut', 'make_stage']
