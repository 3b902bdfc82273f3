"""Every recognizer config kind trains and tests through MMEngine's runner.

The kinds: bLVNet-TAM with our head (video and rawframe data, offline and
causal TAMs), bLResNet with
MMAction2's TSNHead, MMAction2's ResNet + TAMNeck + TSNHead, ResNetTAM +
TSNHead, and the multi-view (2 clips x 3 crops) test.
"""
from pathlib import Path

import pytest
import torch
from helpers import REPO
from mmengine.config import Config

from mmblvnet.engine import RobustRunner

DEMO_DIR = REPO / 'configs' / 'demo'
DEMO = 'blvnet-tam_r50_1xb8-1x1x8-8e_synthetic-rgb.py'


def tiny_run_config(name, root, work_dir):
    """A demo config on the tiny data set: 1 epoch, batch 4, no val."""
    cfg = Config.fromfile(str(DEMO_DIR / name))
    cfg.work_dir = str(work_dir)
    cfg.train_cfg.max_epochs = 1
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=1)
    for loader in (cfg.train_dataloader, cfg.test_dataloader):
        loader.batch_size = 4 if loader is cfg.train_dataloader else 2
        loader.num_workers = 0
        loader.persistent_workers = False
        dataset = loader.dataset
        split = Path(dataset.ann_file).name.split('_', 1)
        dataset.ann_file = str(root / f'{split[0]}_{split[1]}')
        key = 'video' if 'video' in dataset.data_prefix else 'img'
        folder = Path(dataset.data_prefix[key]).name
        dataset.data_prefix = {key: str(root / folder)}
    return cfg


@pytest.mark.parametrize('name', [
    'blvnet-tam_r50_1xb8-1x1x8-8e_synthetic-rawframes.py',
    'blvnet-tam_r50-tsnhead_1xb8-1x1x8-8e_synthetic-rgb.py',
    'tsn-tamneck_r50_1xb8-1x1x8-8e_synthetic-rgb.py',
    'tam_r50_1xb8-1x1x8-8e_synthetic-rgb.py',
    'blvnet-tam-causal_r50_1xb8-1x1x8-16e_synthetic-rgb.py',
])
def test_config_kind_trains_and_tests(name, synthetic_root, tmp_path):
    runner = RobustRunner.from_cfg(
        tiny_run_config(name, synthetic_root, tmp_path))
    before = {k: v.clone() for k, v in runner.model.state_dict().items()}
    runner.train()
    changed = [k for k, v in runner.model.state_dict().items()
               if v.is_floating_point() and not torch.equal(v, before[k])]
    assert any('tam' in k for k in changed), 'TAM weights did not train'
    assert any(k.startswith('cls_head') for k in changed)
    metrics = runner.test()
    assert 0 <= metrics['acc/top1'] <= 1
    assert (tmp_path / 'epoch_1.pth').is_file()


def test_multiview_test_feeds_six_views_per_video(synthetic_root,
                                                  tmp_path):
    """2 clips x 3 crops reach the head as 6 x T frames per video.

    How the head merges them (the mean over all views' frames, as TSN) is
    pinned in test_recognizer.py.
    """
    cfg = tiny_run_config(
        'blvnet-tam_r50_1xb8-1x1x8-8e_synthetic-rgb_multiview-test.py',
        synthetic_root, tmp_path)
    runner = RobustRunner.from_cfg(cfg)
    head = runner.model.cls_head
    seen = []
    forward = head.forward

    def recording_forward(x, num_segs=None, **kwargs):
        seen.append((x.shape[0], num_segs))
        return forward(x, num_segs=num_segs, **kwargs)

    head.forward = recording_forward
    metrics = runner.test()
    assert 0 <= metrics['acc/top1'] <= 1
    # Batches of 2 videos, each 2 clips x 3 crops x 8 frames.
    assert seen and all(num_segs == 6 * 8 for _, num_segs in seen)
    assert seen[0][0] == 2 * 6 * 8
