"""The model zoo as data: variants, data sets and the paper's results.

``tools/misc/generate_zoo_configs.py`` writes every config under
``configs/zoo/``, ``metafile.yml`` and ``model-index.yml`` (what
``mim search mmblvnet`` reads) from these tables; a test checks that the
committed files are up to date.
"""
from typing import Dict, NamedTuple, Optional, Tuple

# (depth, pairs): bLVNet-TAM-{depth} at {pairs}x2 frames.
VARIANTS: Tuple[Tuple[int, int], ...] = ((50, 8), (50, 16), (101, 8),
                                         (101, 16), (101, 24), (101, 32))


class DatasetSpec(NamedTuple):
    """How a data set is stored and trained on."""
    title: str
    num_classes: int
    storage: str  # 'videos' or 'rawframes'
    flip: bool  # False where labels name directions (Something-Something)
    ibm_prefix: Optional[str]  # prefix of IBM's released file names


DATASETS: Dict[str, DatasetSpec] = {
    'sthv1': DatasetSpec('Something-Something v1', 174, 'rawframes', False,
                         'st2stv1'),
    'sthv2': DatasetSpec('Something-Something v2', 174, 'videos', False,
                         'st2stv2'),
    'kinetics400': DatasetSpec('Kinetics-400', 400, 'videos', True,
                               'kinetics400'),
    'mit': DatasetSpec('Moments in Time', 339, 'videos', True, None),
}

# Top-1 (%) reported by the paper / IBM's README, 1 clip x 1 centre crop:
# one row per data set, one column per (depth, frame pairs).
_PAPER_COLUMNS = ((50, 8), (50, 16), (101, 8), (101, 16), (101, 24),
                  (101, 32))
PAPER_TOP1: Dict[Tuple[str, int, int], float] = {
    (dataset, depth, pairs): top1
    for dataset, row in (
        ('sthv1', (46.4, 48.4, 47.8, 49.6, 52.2, 53.1)),
        ('sthv2', (59.1, 61.7, 60.2, 61.9, 64.0, 65.2)),
    )
    for (depth, pairs), top1 in zip(_PAPER_COLUMNS, row)
}

# IBM released these (IBM/bLVNet-TAM core/models/_model_urls.py).
RELEASED: Tuple[Tuple[str, int, int], ...] = tuple(PAPER_TOP1) + (
    ('kinetics400', 50, 8), ('kinetics400', 50, 16))

# Measured by `python tools/misc/zoo_table.py` (MMEngine's FLOP counter on
# the whole recognizer, one clip at 224x224, 174 classes; the head adds
# 2048 * 174 multiply-adds, 0.0004 G). tests/models/test_recognizer.py
# re-measures bLVNet-TAM-50 8x2.
GFLOPS: Dict[Tuple[int, int], float] = {
    (50, 8): 23.9,
    (50, 16): 47.9,
    (101, 8): 32.3,
    (101, 16): 64.5,
    (101, 24): 96.8,
    (101, 32): 129.1,
}
BACKBONE_PARAMS = {50: 24_663_616, 101: 39_820_608}


def params_m(depth: int, num_classes: int) -> float:
    """Parameters (M) of a recognizer: backbone plus linear head."""
    return (BACKBONE_PARAMS[depth] + 2049 * num_classes) / 1e6


GPUS = 8
BATCH_PER_GPU = 8  # 8 x 8 = 64 clips, the batch of the paper's lr 0.01
EPOCHS = 50


def config_name(dataset: str,
                depth: int,
                pairs: int,
                multiview: bool = False) -> str:
    """MMAction2-style config file name of a variant.

    ``{algo}_{backbone}_{gpus}xb{batch}-{clip_len}x{interval}x{clips}-
    {epochs}e_{dataset}-{modality}``, with ``_multiview-test`` appended for
    the 2-clip x 3-crop test setting.
    """
    name = (f'blvnet-tam_r{depth}_{GPUS}xb{BATCH_PER_GPU}-1x1x{2 * pairs}-'
            f'{EPOCHS}e_{dataset}-rgb')
    return name + ('_multiview-test' if multiview else '') + '.py'


def released_file(dataset: str, depth: int, pairs: int) -> Optional[str]:
    """File name of IBM's released checkpoint of a variant, if any."""
    if (dataset, depth, pairs) not in RELEASED:
        return None
    prefix = DATASETS[dataset].ibm_prefix
    return f'{prefix}-bLVNet-TAM-{depth}-a2-b4-f{pairs}x2.pth.tar'
