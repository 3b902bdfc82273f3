"""The benchmark's acceptance targets, as data, and their check.

A target names one measured value (:func:`gpu_target_values`), how it must
compare with a threshold, and where the target comes from; ``--gpu-targets``
prints :data:`GPU_TARGETS` with "yes"/"no" (:mod:`.report`).
"""
import dataclasses
import operator
from typing import Dict, List, Sequence, Tuple

COMPARISONS = {'>=': operator.ge, '<=': operator.le}


@dataclasses.dataclass(frozen=True)
class Target:
    """``value(metric) <comparison> threshold``.

    Args:
        name (str): The row's title.
        metric (str): Key of the value in :func:`gpu_target_values`.
        comparison (str): ``'>='`` or ``'<='``.
        threshold (float): The bound.
        source (str): Where the target is set.
        unit (str): ``'x'`` (a ratio) or ``'%'`` (a share, printed in
            percent).
    """
    name: str
    metric: str
    comparison: str
    threshold: float
    source: str
    unit: str = 'x'

    def __post_init__(self) -> None:
        if self.comparison not in COMPARISONS:
            raise ValueError(f'target {self.name!r}: comparison must be one '
                             f'of {sorted(COMPARISONS)}, got '
                             f'{self.comparison!r}')
        if self.unit not in ('x', '%'):
            raise ValueError(f"target {self.name!r}: unit must be 'x' or "
                             f"'%', got {self.unit!r}")

    def holds(self, value: float) -> bool:
        """Whether ``value`` meets the target."""
        return COMPARISONS[self.comparison](value, self.threshold)

    def format(self, value: float) -> str:
        """``value`` as the table prints it (``3.000x``, ``4.0%``)."""
        return (f'{100 * value:.1f}%' if self.unit == '%'
                else f'{value:.3f}x')


_GPU_SETTING = 'one GPU, AMP, channels-last, 16 frames at 224'

# bLVNet-TAM-50 8x2 against TSM-R50 16f in the same process.
GPU_TARGETS: Tuple[Target, ...] = (
    Target('Training throughput b8 >= 2.0x TSM-R50',
           'train_clips_per_s blvnet/tsm', '>=', 2.0, _GPU_SETTING),
    Target('Inference b8 >= 2.5x TSM-R50 (clips/s)', 'latency_b8 tsm/blvnet',
           '>=', 2.5, _GPU_SETTING),
    Target('Batch-1 latency <= 0.6x TSM-R50', 'latency_b1 blvnet/tsm', '<=',
           0.6, _GPU_SETTING),
    Target('TAM <= 5% of GPU time (b1)', 'tam_share_b1', '<=', 0.05,
           _GPU_SETTING, unit='%'),
    Target('TAM <= 5% of GPU time (b8)', 'tam_share_b8', '<=', 0.05,
           _GPU_SETTING, unit='%'),
)


def gpu_target_values(results: Dict[str, Dict[str, float]],
                      tam_shares: Dict[int, float]) -> Dict[str, float]:
    """The values the GPU targets read.

    Args:
        results (dict): Metrics by model key (``'blvnet'``, ``'tsm'``;
            see :func:`~.runs.measure`).
        tam_shares (dict[int, float]): bLVNet's TAM share of backbone time
            per batch size.

    Returns:
        dict[str, float]: ``'<metric> blvnet/tsm'`` and
        ``'<metric> tsm/blvnet'`` for every metric of both models (a time
        of TSM-R50 over bLVNet's is a ratio of rates), and
        ``'tam_share_b<N>'``.
    """
    blvnet, tsm = results['blvnet'], results['tsm']
    values = {}
    for key in blvnet.keys() & tsm.keys():
        values[f'{key} blvnet/tsm'] = blvnet[key] / tsm[key]
        values[f'{key} tsm/blvnet'] = tsm[key] / blvnet[key]
    values.update(
        {f'tam_share_b{batch}': share for batch, share in tam_shares.items()})
    return values


def evaluate(targets: Sequence[Target],
             values: Dict[str, float]) -> List[Tuple[Target, float, bool]]:
    """``(target, value, holds)`` of each target whose value was measured
    (a TAM share is not timed under ``--compile``, a batch not run has no
    latency)."""
    return [(target, values[target.metric], target.holds(
        values[target.metric])) for target in targets
            if target.metric in values]
