import glob

import pytest
import torch
from helpers import load_tool
from mmaction.registry import MODELS
from mmengine.config import Config

from mmblvnet.zoo import DATASETS, VARIANTS, config_name

generate_zoo_configs = load_tool('tools/misc/generate_zoo_configs.py')

ZOO_CONFIGS = sorted(glob.glob('configs/zoo/*.py'))
SHORT_NAME = 'configs/blvnet_tam_r50_8x.py'


def test_committed_zoo_files_match_the_tables():
    assert generate_zoo_configs.main(['--check']) == 0
    assert len(ZOO_CONFIGS) == 2 * len(DATASETS) * len(VARIANTS)


@pytest.mark.parametrize('path', ZOO_CONFIGS + [SHORT_NAME])
def test_config_frames_match_backbone_and_model_builds(path):
    cfg = Config.fromfile(path)
    num_segments = cfg.model.backbone.num_segments
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        pipeline = cfg[loader].dataset.pipeline
        sample = next(t for t in pipeline if t['type'] == 'SampleFrames')
        assert sample['num_clips'] == num_segments, loader
    dataset = 'sthv2' if path == SHORT_NAME else next(
        k for k in DATASETS if f'_{k}-rgb' in path)
    assert cfg.model.cls_head.num_classes == DATASETS[dataset].num_classes
    with torch.device('meta'):
        model = MODELS.build(cfg.model)
    assert model.backbone.depth == cfg.model.backbone.depth


def test_variant_names_follow_mmaction_convention():
    assert config_name('sthv2', 101, 24) == (
        'blvnet-tam_r101_8xb8-1x1x48-50e_sthv2-rgb.py')
    cfg = Config.fromfile('configs/zoo/' + config_name('sthv1', 101, 32))
    assert cfg.model.backbone.depth == 101
    assert cfg.model.backbone.num_segments == 64
    assert cfg.train_dataloader.dataset.type == 'RawframeDataset'


def test_multiview_config_tests_two_clips_of_three_crops():
    cfg = Config.fromfile('configs/zoo/' +
                          config_name('kinetics400', 50, 8, multiview=True))
    steps = {t['type']: t for t in cfg.test_dataloader.dataset.pipeline}
    assert steps['SampleFrames']['twice_sample'] is True
    assert 'ThreeCrop' in steps
    # Training stays as in the base variant.
    assert any(t['type'] == 'Flip'
               for t in cfg.train_dataloader.dataset.pipeline)
