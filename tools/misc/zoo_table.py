"""Print the README's model-zoo table with measured GFLOPs and parameters.

Builds every variant of ``mmblvnet/zoo.py`` from its Something-Something v2
config and counts FLOPs and parameters of the whole recognizer on one clip
at 224x224 (:mod:`mmblvnet.utils.complexity`, as
``tools/analysis/get_flops.py``)::

    python tools/misc/zoo_table.py > /tmp/zoo.md

A progress bar on stderr counts the variants measured.
"""
import os.path as osp
import sys

from mmaction.registry import MODELS
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.utils import track_iter_progress

from mmblvnet.utils.complexity import recognizer_complexity
from mmblvnet.zoo import (
    DATASETS,
    PAPER_TOP1,
    VARIANTS,
    config_name,
    released_file,
)

ZOO_DIR = osp.join('configs', 'zoo')


def measure(depth: int, pairs: int) -> dict:
    """GFLOPs and parameters (M) of a variant with 174 classes."""
    cfg = Config.fromfile(osp.join(ZOO_DIR,
                                   config_name('sthv2', depth, pairs)))
    init_default_scope('mmaction')
    model = MODELS.build(cfg.model)
    info = recognizer_complexity(model, (1, 2 * pairs, 3, 224, 224))
    return dict(gflops=info['flops'] / 1e9, params=info['params'] / 1e6)


def table() -> str:
    """Markdown table: one row per variant, paper top-1 per data set."""
    sets = [name for name in DATASETS if any(
        (name, d, p) in PAPER_TOP1 for d, p in VARIANTS)]
    header = ('| model | frames | GFLOPs | params (M) | ' +
              ' | '.join(f'{DATASETS[s].title} top-1 (paper)'
                         for s in sets) + ' | IBM checkpoint (SSv2) |')
    lines = [header, '|' + '---|' * (5 + len(sets))]
    for depth, pairs in track_iter_progress(list(VARIANTS),
                                            file=sys.stderr):
        cost = measure(depth, pairs)
        top1 = ' | '.join(
            f'{PAPER_TOP1[(s, depth, pairs)]:.1f}'
            if (s, depth, pairs) in PAPER_TOP1 else '-' for s in sets)
        released = released_file('sthv2', depth, pairs) or '-'
        lines.append(
            f'| bLVNet-TAM-{depth} | {pairs}x2 | {cost["gflops"]:.1f} | '
            f'{cost["params"]:.1f} | {top1} | `{released}` |')
    return '\n'.join(lines)


if __name__ == '__main__':
    print(table())
