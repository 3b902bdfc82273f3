from types import SimpleNamespace

import pytest
import torch
from mmaction.registry import HOOKS, MODELS
from mmengine.config import Config

from mmblvnet.datasets.sampling import find_num_segments_mismatch
from mmblvnet.engine.robust_runner import CHECK_HOOKS

CONFIG = 'configs/blvnet_tam_r50_8x.py'


def fake_runner(cfg):
    with torch.device('meta'):
        model = MODELS.build(cfg.model)
    return SimpleNamespace(model=model, cfg=cfg)


def test_paper_config_passes_and_registers_the_hook():
    cfg = Config.fromfile(CONFIG)
    assert cfg.runner_type == 'RobustRunner'
    assert 'NumSegmentsCheckHook' in CHECK_HOOKS
    assert find_num_segments_mismatch(cfg, 16) is None
    HOOKS.build(dict(type='NumSegmentsCheckHook')).before_run(
        fake_runner(cfg))


@pytest.mark.parametrize('num_clips', [8, 32])
def test_pipeline_with_other_frame_count_fails_naming_both_keys(num_clips):
    cfg = Config.fromfile(CONFIG)
    cfg.val_dataloader.dataset.pipeline[1]['num_clips'] = num_clips
    hook = HOOKS.build(dict(type='NumSegmentsCheckHook'))
    with pytest.raises(ValueError) as error:
        hook.before_run(fake_runner(cfg))
    message = str(error.value)
    assert 'model.backbone.num_segments=16' in message
    assert 'val_dataloader.dataset.pipeline[1]' in message
    assert f'num_clips={num_clips}' in message


def test_wrapped_datasets_are_checked():
    cfg = dict(train_dataloader=dict(dataset=dict(
        type='RepeatDataset', times=2, dataset=dict(pipeline=[
            dict(type='SampleFrames', clip_len=2, num_clips=4)]))))
    message = find_num_segments_mismatch(cfg, 16)
    assert 'train_dataloader.dataset.dataset.pipeline[0]' in message
    assert find_num_segments_mismatch(cfg, 8) is None


def test_a_tam_neck_on_a_stock_resnet_is_checked_by_its_num_segments():
    # 16 sampled frames would be read as two 8-frame clips by the neck.
    cfg = Config.fromfile(
        'configs/demo/tsn-tamneck_r50_1xb8-1x1x8-8e_synthetic-rgb.py')
    assert 'num_segments' not in cfg.model.backbone
    hook = HOOKS.build(dict(type='NumSegmentsCheckHook'))
    hook.before_run(fake_runner(cfg))
    cfg.train_dataloader.dataset.pipeline[1]['num_clips'] = 16
    with pytest.raises(ValueError) as error:
        hook.before_run(fake_runner(cfg))
    message = str(error.value)
    assert 'model.neck.num_segments=8' in message
    assert 'train_dataloader.dataset.pipeline[1]' in message
