"""What the benchmarks run on: the CPU's name and the device asked for."""
import platform
from pathlib import Path

import torch

_CPUINFO = Path('/proc/cpuinfo')


def cpu_name() -> str:
    """The CPU model (Linux ``/proc/cpuinfo``), else what
    :mod:`platform` knows of it."""
    if _CPUINFO.exists():
        for line in _CPUINFO.read_text().splitlines():
            if line.startswith('model name'):
                return line.split(':', 1)[1].strip()
    return platform.processor() or platform.machine()


def check_device(name: str) -> torch.device:
    """The device ``name`` (``'cpu'`` or ``'cuda'``).

    Raises:
        ValueError: CUDA is asked for but torch sees no CUDA GPU.
    """
    if name == 'cuda' and not torch.cuda.is_available():
        raise ValueError(
            '--device cuda needs a CUDA GPU, but torch.cuda.is_available() '
            f'is False (torch {torch.__version__}, CUDA build '
            f'{torch.version.cuda}); run with --device cpu')
    return torch.device(name)
